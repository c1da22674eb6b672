/**
 * Packet checksums: the internet checksum (RFC 1071) with the IPv4 and IPv6
 * pseudo-header sums, incremental updates (RFC 1624) for NAT and set-field,
 * and CRC32c (RFC 9260 appendix A) for SCTP.
 * Invariant: nothing here allocates after module load; every function takes a
 * (Uint8Array, offset) pair or plain numbers, so the fast path may call it
 * per packet.
 * Design: a checksum is built in three steps, as Linux's csum_partial() /
 * csum_fold() do: `csumAdd` accumulates 16-bit big-endian words into an
 * unfolded sum (a plain number, exact up to 2^53), `csumFold` folds it to 16
 * bits with end-around carry, and `csumFinish` complements it. Sums of separate
 * ranges add up as long as every range but the last has an even size (a range
 * starting at an odd offset relative to the checksummed data would need its
 * bytes swapped; no header we checksum has one).
 * Limits: `csumFold` folds with 32-bit shifts, so a sum must stay below 2^32,
 * which holds for anything up to 64 KiB of data plus a pseudo-header
 * (32768 words of at most 0xffff each).
 */

/** Adds the 16-bit big-endian words of `b[at, at + size)` to `sum` without
 * folding; an odd last byte counts as the high byte of a word padded with 0. */
export function csumAdd(b: Uint8Array, at: number, size: number, sum = 0): number {
  const end = at + size;
  const evenEnd = end - (size & 1);
  let i = at;
  for (; i < evenEnd; i += 2) sum += (b[i] << 8) | b[i + 1];
  if (i < end) sum += b[i] << 8;
  return sum;
}

/** Folds an unfolded sum (below 2^32) to 16 bits with end-around carry. */
export function csumFold(sum: number): number {
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** The checksum field's value for an unfolded sum: the complement of its fold. */
export function csumFinish(sum: number): number {
  return ~csumFold(sum) & 0xffff;
}

/** RFC 1071 checksum of `b[at, at + size)` with `initial` (e.g. a pseudo-header
 * sum) added in. The checksum field itself must be zero in the range, or the
 * result is 0 when verifying a correct packet. */
export function internetChecksum(b: Uint8Array, at: number, size: number, initial = 0): number {
  return csumFinish(csumAdd(b, at, size, initial));
}

/** Unfolded sum of the IPv4 pseudo-header (RFC 793 section 3.1): the 4-byte
 * addresses at `b[srcAt]` and `b[dstAt]`, a zero byte, the protocol and the
 * 16-bit upper-layer size. */
export function pseudoSum4(
  b: Uint8Array,
  srcAt: number,
  dstAt: number,
  proto: number,
  l4Size: number,
): number {
  let sum = csumAdd(b, srcAt, 4, 0);
  sum = csumAdd(b, dstAt, 4, sum);
  return sum + (proto & 0xff) + (l4Size & 0xffff);
}

/** Unfolded sum of the IPv6 pseudo-header (RFC 8200 section 8.1): the 16-byte
 * addresses at `b[srcAt]` and `b[dstAt]` (the final destination when a routing
 * header is present), the 32-bit upper-layer size, three zero bytes and the
 * next header. */
export function pseudoSum6(
  b: Uint8Array,
  srcAt: number,
  dstAt: number,
  proto: number,
  l4Size: number,
): number {
  let sum = csumAdd(b, srcAt, 16, 0);
  sum = csumAdd(b, dstAt, 16, sum);
  return sum + (l4Size >>> 16) + (l4Size & 0xffff) + (proto & 0xff);
}

/**
 * RFC 1624 equation 3: the checksum after one 16-bit word of the covered data
 * changes from `oldWord` to `newWord`, as HC' = ~(~HC + ~m + m').
 * It equals a full recompute whenever the covered data is not all zero after
 * the change, which real headers never are (the IPv4 version nibble, the
 * pseudo-header's protocol). For UDP the caller keeps the two special cases:
 * an old checksum of 0 means "none" and stays 0, and a computed 0 is sent as
 * 0xffff (RFC 768).
 */
export function csumUpdate16(oldCsum: number, oldWord: number, newWord: number): number {
  let sum = (~oldCsum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** RFC 1624 for a 32-bit field (an IPv4 address, a TCP sequence number): both
 * of its 16-bit halves change at once. */
export function csumUpdate32(oldCsum: number, oldValue: number, newValue: number): number {
  let sum =
    (~oldCsum & 0xffff) +
    (~(oldValue >>> 16) & 0xffff) +
    (~oldValue & 0xffff) +
    ((newValue >>> 16) & 0xffff) +
    (newValue & 0xffff);
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** Writes the 16-bit word `newWord` at `b[valueAt]` and patches the checksum
 * stored at `b[csumAt]` to match (set-field on a port, an IPv4 TTL+proto word). */
export function csumReplace16(b: Uint8Array, csumAt: number, valueAt: number, newWord: number): void {
  const oldWord = (b[valueAt] << 8) | b[valueAt + 1];
  const oldCsum = (b[csumAt] << 8) | b[csumAt + 1];
  const csum = csumUpdate16(oldCsum, oldWord, newWord);
  b[valueAt] = (newWord >>> 8) & 0xff;
  b[valueAt + 1] = newWord & 0xff;
  b[csumAt] = csum >>> 8;
  b[csumAt + 1] = csum & 0xff;
}

/** Writes the 32-bit `newValue` at `b[valueAt]` and patches the checksum
 * stored at `b[csumAt]` to match (an IPv4 address rewritten by NAT; the L4
 * checksum, which also covers the address through the pseudo-header, is
 * patched separately with `csumUpdate32`). */
export function csumReplace32(b: Uint8Array, csumAt: number, valueAt: number, newValue: number): void {
  const oldValue =
    ((b[valueAt] << 24) | (b[valueAt + 1] << 16) | (b[valueAt + 2] << 8) | b[valueAt + 3]) >>> 0;
  const oldCsum = (b[csumAt] << 8) | b[csumAt + 1];
  const csum = csumUpdate32(oldCsum, oldValue, newValue);
  b[valueAt] = newValue >>> 24;
  b[valueAt + 1] = (newValue >>> 16) & 0xff;
  b[valueAt + 2] = (newValue >>> 8) & 0xff;
  b[valueAt + 3] = newValue & 0xff;
  b[csumAt] = csum >>> 8;
  b[csumAt + 1] = csum & 0xff;
}

/** Reflected CRC32c (Castagnoli) polynomial. */
const CRC32C_POLY = 0x82f63b78;

/** One entry per byte value: the CRC of that byte, built once at load. */
const CRC32C_TABLE = buildCrc32cTable();

function buildCrc32cTable(): Uint32Array {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ CRC32C_POLY : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

/**
 * CRC32c of `b[at, at + size)`, one table lookup per byte. Pass the result of
 * a previous call as `crc` to continue over a following range (zlib's
 * convention: the pre- and post-inversion happen inside). "123456789" gives
 * 0xe3069283. SCTP stores the result least significant byte first
 * (RFC 9260 appendix A), unlike every other field in the header.
 */
export function crc32c(b: Uint8Array, at: number, size: number, crc = 0): number {
  let c = ~crc >>> 0;
  const end = at + size;
  for (let i = at; i < end; i++) c = CRC32C_TABLE[(c ^ b[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}
