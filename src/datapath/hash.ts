/**
 * 32-bit hashing of flow-key words for the caches (murmur3's mixing steps,
 * as OVS's lib/hash.h uses them). Small and allocation-free so V8 inlines
 * them into the lookup loops.
 */

export function mixWord(h: number, w: number): number {
  w = Math.imul(w, 0xcc9e2d51);
  w = (w << 15) | (w >>> 17);
  w = Math.imul(w, 0x1b873593);
  h ^= w;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

export function finishHash(h: number, n: number): number {
  h ^= n;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * One step of the megaflow hash: FxHash's rotate-xor-multiply (three
 * operations, against murmur3's seven in mixWord). Weak alone, which is why
 * every hash built from it ends with finishHash's avalanche.
 */
export function stepWord(h: number, w: number): number {
  return Math.imul(((h << 5) | (h >>> 27)) ^ w, 0x9e3779b9);
}

/** Hash of keys[base, base + count). */
export function hashWords(keys: Uint32Array, base: number, count: number): number {
  let h = 0;
  for (let i = 0; i < count; i++) h = mixWord(h, keys[base + i]);
  return finishHash(h, count);
}

/**
 * The exact-match cache's hash of keys[base..]: the words that tell flows
 * apart in practice (in_port, MACs, VLAN, IPv4 addresses, the nw word, L4),
 * plus the low words of IPv6 addresses when the key has them. Equality is
 * still checked on the whole key (emc.ts); this only picks the slot.
 */
export function emcHash(keys: Uint32Array, base: number, regions: number): number {
  let h = Math.imul(keys[base] ^ 0x5bd1e995, 0x9e3779b1);
  h = Math.imul(h ^ keys[base + 37] ^ (keys[base + 36] << 16), 0x85ebca6b);
  h = Math.imul(h ^ keys[base + 39] ^ (keys[base + 38] << 16), 0xc2b2ae35);
  h = Math.imul(h ^ keys[base + 41], 0x9e3779b1);
  h = Math.imul(h ^ keys[base + 46], 0x85ebca6b);
  h = Math.imul(h ^ keys[base + 47], 0xc2b2ae35);
  h = Math.imul(h ^ keys[base + 57], 0x9e3779b1);
  h = Math.imul(h ^ keys[base + 66], 0x85ebca6b);
  if (regions !== 0) h = Math.imul(h ^ keys[base + 51] ^ keys[base + 55] ^ keys[base + 1] ^ regions, 0xc2b2ae35);
  return finishHash(h, 9);
}
