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

/** Hash of keys[base, base + count). */
export function hashWords(keys: Uint32Array, base: number, count: number): number {
  let h = 0;
  for (let i = 0; i < count; i++) h = mixWord(h, keys[base + i]);
  return finishHash(h, count);
}

/**
 * Words of the key the exact-match cache hashes: the ones that tell flows
 * apart in practice (ports, metadata, addresses, L4). Equality is still
 * checked on every datapath word; this only picks the slot, and hashing 17
 * words instead of 69 is most of an EMC hit's cost.
 */
export const EMC_HASH_WORDS = Int32Array.from([0, 1, 5, 22, 23, 25, 36, 37, 38, 39, 41, 46, 47, 51, 55, 57, 66]);

/** The EMC's hash of keys[base..]. */
export function emcHash(keys: Uint32Array, base: number): number {
  let h = 0x5bd1e995;
  const words = EMC_HASH_WORDS;
  for (let i = 0; i < words.length; i++) {
    h = Math.imul(h ^ keys[base + words[i]], 0x9e3779b1);
    h ^= h >>> 15;
  }
  return finishHash(h, words.length);
}
