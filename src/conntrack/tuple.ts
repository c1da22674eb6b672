/**
 * Connection tuples: what identifies a connection in one direction, read from
 * a packet as lib/conntrack.c conn_key_extract() reads it.
 *
 * A tuple is TUPLE_WORDS consecutive u32 words:
 *
 *   word  contents
 *   ----  ----------------------------------------------------------
 *     0   zone:16 | nw_proto:8 | family:8 (4 or 6)
 *    1-4  source address (IPv4: word 1, words 2-4 zero)
 *    5-8  destination address
 *     9   source endpoint: port << 16, or for ICMP id << 16 | type << 8
 *    10   destination endpoint: same; an ICMP echo's is id << 16 | reply type << 8
 *
 * Reversing a tuple swaps addresses and endpoints (conn_key_reverse), so the
 * reply of an echo request (type 8) is the tuple with type 0 on the source.
 *
 * Invariant: extraction accepts exactly what conn_key_extract() accepts with
 * no checksum offload (the dummy datapath's case): a valid IPv4 header
 * checksum, a valid L4 checksum (UDP over IPv4 may have none), TCP/UDP ports
 * other than 0, ICMP echo/timestamp/info with code 0, and ICMP errors whose
 * quoted packet comes from the error's destination. Anything else is a
 * packet conntrack marks +inv. Fragments are refused (see conntrack.ts on
 * reassembly).
 * Design: reads the frame where it lies into a caller's scratch Uint32Array;
 * no allocation once a frame array has been seen. The common packet (IPv4
 * without options, TCP or UDP) takes extractV4Fast: 32-bit reads through a
 * DataView kept per frame array, checksums summed from the halves of those
 * words; anything it does not accept goes through the general extract().
 * IPv4 tuples hash with hashTuple4 (independent multiplications).
 */
import { read16, read32 } from "../packet/bytes.js";
import { csumFold, pseudoSum6 } from "../packet/checksum.js";
import * as L from "../flow/layout.js";

// Module-local copies of the layout constants: V8 folds them into the code (see conntrack.ts).
const { ETH_TYPE_IP, ETH_TYPE_IPV6, IPPROTO_AH, IPPROTO_DSTOPTS, IPPROTO_FRAGMENT, IPPROTO_HOPOPTS, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_ROUTING, IPPROTO_TCP, IPPROTO_UDP } = L;

export const TUPLE_WORDS = 11;
export const T_META = 0;
export const T_SRC = 1;
export const T_DST = 5;
export const T_SPORT = 9;
export const T_DPORT = 10;

export const ICMP4_ECHO_REPLY = 0;
export const ICMP4_DST_UNREACH = 3;
export const ICMP4_SOURCEQUENCH = 4;
export const ICMP4_REDIRECT = 5;
export const ICMP4_ECHO_REQUEST = 8;
export const ICMP4_TIME_EXCEEDED = 11;
export const ICMP4_PARAM_PROB = 12;
export const ICMP4_TIMESTAMP = 13;
export const ICMP4_TIMESTAMPREPLY = 14;
export const ICMP4_INFOREQUEST = 15;
export const ICMP4_INFOREPLY = 16;
export const ICMP6_DST_UNREACH = 1;
export const ICMP6_PACKET_TOO_BIG = 2;
export const ICMP6_TIME_EXCEEDED = 3;
export const ICMP6_PARAM_PROB = 4;
export const ICMP6_ECHO_REQUEST = 128;
export const ICMP6_ECHO_REPLY = 129;

/** Bytes of a quoted transport header conntrack needs in an ICMPv4 error
 * (OVS's ICMP_ERROR_DATA_L4_LEN: RFC 792 quotes 8 bytes). */
const ICMP_ERROR_DATA_L4_LEN = 8;

export const tupleFamily = (t: Uint32Array, at: number): number => t[at + T_META] & 0xff;
export const tupleProto = (t: Uint32Array, at: number): number => (t[at + T_META] >>> 8) & 0xff;
export const tupleZone = (t: Uint32Array, at: number): number => t[at + T_META] >>> 16;

/** The reply type of an ICMP query type (reverse_icmp_type). */
export function reverseIcmpType(type: number): number {
  switch (type) {
    case ICMP4_ECHO_REQUEST: return ICMP4_ECHO_REPLY;
    case ICMP4_ECHO_REPLY: return ICMP4_ECHO_REQUEST;
    case ICMP4_TIMESTAMP: return ICMP4_TIMESTAMPREPLY;
    case ICMP4_TIMESTAMPREPLY: return ICMP4_TIMESTAMP;
    case ICMP4_INFOREQUEST: return ICMP4_INFOREPLY;
    default: return ICMP4_INFOREQUEST; // ICMP4_INFOREPLY
  }
}

export const reverseIcmp6Type = (type: number): number =>
  type === ICMP6_ECHO_REQUEST ? ICMP6_ECHO_REPLY : ICMP6_ECHO_REQUEST;

/** Writes the reverse of tuple src[sa..] to dst[da..] (conn_key_reverse). */
export function reverseTuple(src: Uint32Array, sa: number, dst: Uint32Array, da: number): void {
  dst[da + T_META] = src[sa + T_META];
  for (let i = 0; i < 4; i++) {
    dst[da + T_SRC + i] = src[sa + T_DST + i];
    dst[da + T_DST + i] = src[sa + T_SRC + i];
  }
  dst[da + T_SPORT] = src[sa + T_DPORT];
  dst[da + T_DPORT] = src[sa + T_SPORT];
}

export function tuplesEqual(a: Uint32Array, aa: number, b: Uint32Array, ba: number): boolean {
  for (let i = 0; i < TUPLE_WORDS; i++) if (a[aa + i] !== b[ba + i]) return false;
  return true;
}

/** Drawn once per process, as OVS draws its hash basis (random_uint32(): a
 * PRNG seeded from the clock and entropy), so that no one can aim packets at
 * one index chain. Nothing observable depends on it. Math.random (seeded
 * from the OS per process) rather than crypto.getRandomValues: the first
 * use of globalThis.crypto loads Node's WebCrypto, ~10 ms of every run. */
const HASH_BASIS = (Math.random() * 0x100000000) >>> 0;

/**
 * 32-bit hash of a tuple: hashTuple4 for IPv4; otherwise one
 * rotate-xor-multiply step per word (FxHash's, three operations against
 * murmur3's seven), then murmur3's avalanche, which the weak steps need.
 */
export function hashTuple(t: Uint32Array, at: number): number {
  // An IPv4 tuple's address words 2-4 are zero: hashed from the other five.
  if ((t[at + T_META] & 0xff) === 4) return hashTuple4(t[at + T_META], t[at + T_SRC], t[at + T_DST], t[at + T_SPORT], t[at + T_DPORT]);
  return hashTupleWords(t, at);
}

/** hashTuple() of a tuple other than IPv4: over all TUPLE_WORDS words. */
function hashTupleWords(t: Uint32Array, at: number): number {
  let h = HASH_BASIS;
  for (let i = 0; i < TUPLE_WORDS; i++) h = Math.imul(((h << 5) | (h >>> 27)) ^ t[at + i], 0x9e3779b9);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * csumAdd (packet/checksum.ts) four bytes per step: the checksums of every
 * packet conntrack sees are checked with it.
 */
function sumBytes(b: Uint8Array, at: number, size: number, sum: number): number {
  const end = at + size;
  let i = at;
  for (; i + 4 <= end; i += 4) sum += ((b[i] << 8) | b[i + 1]) + ((b[i + 2] << 8) | b[i + 3]);
  if (i + 2 <= end) {
    sum += (b[i] << 8) | b[i + 1];
    i += 2;
  }
  if (i < end) sum += b[i] << 8;
  return sum;
}

/** The unfolded sum of a 20-byte IPv4 header, unrolled. */
function sum20(b: Uint8Array, p: number): number {
  return (
    ((b[p] << 8) | b[p + 1]) + ((b[p + 2] << 8) | b[p + 3]) + ((b[p + 4] << 8) | b[p + 5]) + ((b[p + 6] << 8) | b[p + 7]) + ((b[p + 8] << 8) | b[p + 9]) +
    ((b[p + 10] << 8) | b[p + 11]) + ((b[p + 12] << 8) | b[p + 13]) + ((b[p + 14] << 8) | b[p + 15]) + ((b[p + 16] << 8) | b[p + 17]) + ((b[p + 18] << 8) | b[p + 19])
  );
}

/**
 * The hash of an IPv4 tuple, from its non-zero words (meta, source,
 * destination, source and destination endpoints; words 2-4 and 6-8 are
 * zero). The words are multiplied independently, so the CPU runs the four
 * multiplications side by side instead of the eleven dependent steps of
 * hashTupleWords (every tracked packet hashes its tuple once, a commit
 * hashes two); each word is mixed with the basis before its multiplication,
 * so which tuples collide depends on the basis; then murmur3's avalanche.
 * Endpoints and addresses take different multipliers and rotations, so a
 * tuple and its reverse differ.
 */
export function hashTuple4(meta: number, src: number, dst: number, sport: number, dport: number): number {
  const a = Math.imul(src ^ HASH_BASIS, 0x9e3779b1);
  const b = Math.imul(dst ^ HASH_BASIS, 0x85ebca77);
  const c = Math.imul((sport ^ ((dport << 16) | (dport >>> 16))) ^ HASH_BASIS, 0xc2b2ae3d);
  const d = Math.imul(meta ^ HASH_BASIS, 0x27d4eb2f);
  let h = a ^ ((b << 8) | (b >>> 24)) ^ ((c << 16) | (c >>> 16)) ^ ((d << 24) | (d >>> 8));
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * The unfolded sum of b[at, at + size) as 16-bit big-endian words (csumAdd),
 * read a 32-bit word at a time: both halves of each word are added (an odd
 * last byte is the high byte of a word padded with 0). Below 2^32 for any
 * IP packet, as csumFold needs.
 */
function sumWords(v: DataView, at: number, size: number): number {
  const end = at + size;
  let sum = 0;
  let i = at;
  for (; i + 4 <= end; i += 4) {
    const w = v.getUint32(i);
    sum += (w >>> 16) + (w & 0xffff);
  }
  if (i + 2 <= end) {
    sum += v.getUint16(i);
    i += 2;
  }
  if (i < end) sum += v.getUint8(i) << 8;
  return sum;
}

/** The two 16-bit halves of a 32-bit word, added (a word's share of an unfolded checksum). */
const halves = (w: number): number => (w >>> 16) + (w & 0xffff);

/**
 * Reads packets into tuples. After a successful `extract`, `icmpRelated`
 * says whether the tuple is the one an ICMP error quotes (already reversed,
 * so it names the connection the error belongs to, as seen by the error's
 * direction), and `innerL3`/`innerL4` locate the quoted headers.
 */
export class TupleExtractor {
  icmpRelated = false;
  innerL3 = -1;
  innerL4 = -1;

  /**
   * Fills t[at..] from the packet whose L3 header is at b[l3] (IPv4 when
   * `dlType` is 0x0800, IPv6 when 0x86dd) with `l3Size` bytes of L3 data
   * (Ethernet padding excluded) and the L4 header at b[l4]. Returns false
   * for what conntrack marks +inv.
   */
  /**
   * extract() for the packet conntrack sees most, in fewer reads: IPv4 with a
   * 20-byte header, not a fragment, carrying TCP or UDP. Returns true with
   * t[at..] filled exactly as extract() fills it when extract() would accept
   * the packet; false, having written nothing, for anything else (another
   * protocol, options, a bad checksum or length, a zero port), which
   * extract() then decides. Checksums are summed from 32-bit reads.
   */
  extractV4Fast(b: Uint8Array, l3: number, l3Size: number, l4: number, zone: number, t: Uint32Array, at: number): boolean {
    if (l3Size < 20 || (b[l3] & 0x0f) !== 5) return false;
    const v = this.viewOf(b);
    const w1 = v.getUint32(l3 + 4);
    if (w1 & 0x3fff) return false; // A fragment.
    const w2 = v.getUint32(l3 + 8);
    const src = v.getUint32(l3 + 12);
    const dst = v.getUint32(l3 + 16);
    if (csumFold(halves(v.getUint32(l3)) + halves(w1) + halves(w2) + halves(src) + halves(dst)) !== 0xffff) return false;
    const proto = (w2 >>> 16) & 0xff;
    const size = l3 + l3Size - l4;
    if (proto === IPPROTO_TCP) {
      if (size < 20) return false;
      const hlen = (b[l4 + 12] >>> 4) * 4;
      if (hlen < 20 || hlen > size) return false;
    } else if (proto === IPPROTO_UDP) {
      if (size < 8) return false;
      const ulen = v.getUint16(l4 + 4);
      if (ulen < 8 || ulen > size) return false;
    } else {
      return false;
    }
    const ports = v.getUint32(l4);
    if (ports >>> 16 === 0 || (ports & 0xffff) === 0) return false;
    // The pseudo-header (RFC 768): addresses, protocol, length; UDP over IPv4 may carry no checksum.
    if ((proto === IPPROTO_TCP || v.getUint16(l4 + 6) !== 0) && csumFold(halves(src) + halves(dst) + proto + size + sumWords(v, l4, size)) !== 0xffff) return false;
    this.icmpRelated = false;
    this.innerL3 = -1;
    this.innerL4 = -1;
    t[at + T_META] = ((zone << 16) | (proto << 8) | 4) >>> 0;
    t[at + T_SRC] = src;
    t[at + T_DST] = dst;
    for (let i = 1; i < 4; i++) {
      t[at + T_SRC + i] = 0;
      t[at + T_DST + i] = 0;
    }
    t[at + T_SPORT] = (ports & 0xffff0000) >>> 0;
    t[at + T_DPORT] = (ports << 16) >>> 0;
    return true;
  }

  // DataViews over the last two frame arrays seen (a datapath alternates
  // between its receive buffer and its NAT scratch): made once per array.
  private viewA: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));
  private bytesA: Uint8Array | null = null;
  private viewB: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));
  private bytesB: Uint8Array | null = null;

  private viewOf(b: Uint8Array): DataView<ArrayBufferLike> {
    if (b === this.bytesA) return this.viewA;
    if (b !== this.bytesB) {
      this.bytesB = b;
      this.viewB = new DataView(b.buffer, b.byteOffset, b.byteLength);
    }
    // The most recent first.
    const v = this.viewB;
    this.viewB = this.viewA;
    this.bytesB = this.bytesA;
    this.viewA = v;
    this.bytesA = b;
    return v;
  }

  extract(b: Uint8Array, l3: number, l3Size: number, l4: number, dlType: number, zone: number, t: Uint32Array, at: number): boolean {
    this.icmpRelated = false;
    this.innerL3 = -1;
    this.innerL4 = -1;
    let proto: number;
    if (dlType === ETH_TYPE_IP) {
      proto = this.l3v4(b, l3, l3Size, zone, t, at, true);
    } else if (dlType === ETH_TYPE_IPV6) {
      proto = this.l3v6(b, l3, l3Size, zone, t, at);
    } else {
      return false;
    }
    if (proto < 0) return false;
    const l4Size = l3 + l3Size - l4;
    if (l4Size < 0) return false;
    return this.l4(b, l4, l4Size, l3, dlType, proto, t, at, true, 0);
  }

  /** extract_l3_ipv4: returns nw_proto, or -1. */
  private l3v4(b: Uint8Array, l3: number, size: number, zone: number, t: Uint32Array, at: number, checksum: boolean): number {
    if (size < 20) return -1;
    const ihl = (b[l3] & 0x0f) * 4;
    if (ihl < 20 || size < ihl) return -1;
    if (read16(b, l3 + 6) & 0x3fff) return -1; // A fragment.
    if (checksum && csumFold(ihl === 20 ? sum20(b, l3) : sumBytes(b, l3, ihl, 0)) !== 0xffff) return -1;
    const proto = b[l3 + 9];
    t[at + T_META] = ((zone << 16) | (proto << 8) | 4) >>> 0;
    t[at + T_SRC] = read32(b, l3 + 12);
    t[at + T_DST] = read32(b, l3 + 16);
    for (let i = 1; i < 4; i++) {
      t[at + T_SRC + i] = 0;
      t[at + T_DST + i] = 0;
    }
    t[at + T_SPORT] = 0;
    t[at + T_DPORT] = 0;
    return proto;
  }

  /** extract_l3_ipv6: returns nw_proto after extension headers, or -1;
   * leaves the L4 offset in `v6L4`. */
  private v6L4 = 0;
  private l3v6(b: Uint8Array, l3: number, size: number, zone: number, t: Uint32Array, at: number): number {
    if (size < 40) return -1;
    let p = l3 + 40;
    const end = l3 + size;
    let proto = b[l3 + 6];
    // parse_ipv6_ext_hdrs(): any fragment header with a non-zero offset/MF is refused.
    for (;;) {
      if (
        proto !== IPPROTO_HOPOPTS && proto !== IPPROTO_ROUTING && proto !== IPPROTO_DSTOPTS &&
        proto !== IPPROTO_AH && proto !== IPPROTO_FRAGMENT
      ) break;
      if (end - p < 8) return -1;
      if (proto === IPPROTO_FRAGMENT) {
        if (read16(b, p + 2) !== 0) return -1;
        proto = b[p];
        p += 8;
      } else {
        const extLen = proto === IPPROTO_AH ? (b[p + 1] + 2) * 4 : (b[p + 1] + 1) * 8;
        if (end - p < extLen) return -1;
        proto = b[p];
        p += extLen;
      }
    }
    this.v6L4 = p;
    t[at + T_META] = ((zone << 16) | (proto << 8) | 6) >>> 0;
    for (let i = 0; i < 4; i++) {
      t[at + T_SRC + i] = read32(b, l3 + 8 + 4 * i);
      t[at + T_DST + i] = read32(b, l3 + 24 + 4 * i);
    }
    t[at + T_SPORT] = 0;
    t[at + T_DPORT] = 0;
    return proto;
  }

  /** Upper-layer checksum over b[l4, l4 + size) is valid (checksum_valid). */
  private l4ChecksumValid(b: Uint8Array, l3: number, l4: number, size: number, dlType: number, proto: number): boolean {
    // The IPv4 pseudo-header (RFC 768): both addresses' 16-bit words, the protocol, the length.
    const pseudo = dlType === ETH_TYPE_IP
      ? ((b[l3 + 12] << 8) | b[l3 + 13]) + ((b[l3 + 14] << 8) | b[l3 + 15]) + ((b[l3 + 16] << 8) | b[l3 + 17]) + ((b[l3 + 18] << 8) | b[l3 + 19]) + proto + size
      : pseudoSum6(b, l3 + 8, l3 + 24, proto, size);
    return csumFold(sumBytes(b, l4, size, pseudo)) === 0xffff;
  }

  /**
   * extract_l4: `outer` is true for the packet's own header (checksums and
   * lengths checked, ICMP errors followed), false for a quoted header, where
   * `minSize` is the bytes required (0: the header's full size).
   */
  private l4(b: Uint8Array, l4: number, size: number, l3: number, dlType: number, proto: number, t: Uint32Array, at: number, outer: boolean, minSize: number): boolean {
    if (proto === IPPROTO_TCP) {
      if (outer) {
        if (size < 20) return false;
        const hlen = (b[l4 + 12] >>> 4) * 4;
        if (hlen < 20 || hlen > size) return false;
        if (!this.l4ChecksumValid(b, l3, l4, size, dlType, proto)) return false;
      }
      if (size < (minSize !== 0 ? minSize : 20)) return false;
      return this.ports(b, l4, t, at);
    }
    if (proto === IPPROTO_UDP) {
      if (outer) {
        if (size < 8) return false;
        const ulen = read16(b, l4 + 4);
        if (ulen < 8 || ulen > size) return false;
        const noChecksum = read16(b, l4 + 6) === 0 && dlType === ETH_TYPE_IP;
        if (!noChecksum && !this.l4ChecksumValid(b, l3, l4, size, dlType, proto)) return false;
      }
      if (size < (minSize !== 0 ? minSize : 8)) return false;
      return this.ports(b, l4, t, at);
    }
    if (dlType === ETH_TYPE_IP && proto === IPPROTO_ICMP) {
      if (outer && csumFold(sumBytes(b, l4, size, 0)) !== 0xffff) return false;
      if (size < (minSize !== 0 ? minSize : 8)) return false;
      return this.icmp4(b, l4, size, t, at, outer);
    }
    if (dlType === ETH_TYPE_IPV6 && proto === IPPROTO_ICMPV6) {
      if (outer && !this.l4ChecksumValid(b, l3, l4, size, dlType, proto)) return false;
      return this.icmp6(b, l4, size, t, at, outer);
    }
    // Other protocols have no L4 key: ports stay zero.
    return true;
  }

  private ports(b: Uint8Array, l4: number, t: Uint32Array, at: number): boolean {
    const sport = read16(b, l4);
    const dport = read16(b, l4 + 2);
    t[at + T_SPORT] = sport << 16;
    t[at + T_DPORT] = dport << 16;
    return sport !== 0 && dport !== 0; // Port 0 is invalid.
  }

  private icmp4(b: Uint8Array, l4: number, size: number, t: Uint32Array, at: number, outer: boolean): boolean {
    const type = b[l4];
    switch (type) {
      case ICMP4_ECHO_REQUEST:
      case ICMP4_ECHO_REPLY:
      case ICMP4_TIMESTAMP:
      case ICMP4_TIMESTAMPREPLY:
      case ICMP4_INFOREQUEST:
      case ICMP4_INFOREPLY: {
        if (b[l4 + 1] !== 0) return false;
        const id = read16(b, l4 + 4);
        t[at + T_SPORT] = ((id << 16) | (type << 8)) >>> 0;
        t[at + T_DPORT] = ((id << 16) | (reverseIcmpType(type) << 8)) >>> 0;
        return true;
      }
      case ICMP4_DST_UNREACH:
      case ICMP4_TIME_EXCEEDED:
      case ICMP4_PARAM_PROB:
      case ICMP4_SOURCEQUENCH:
      case ICMP4_REDIRECT: {
        if (!outer) return false;
        const outerDst = t[at + T_DST];
        const zone = tupleZone(t, at);
        const inL3 = l4 + 8;
        const tail = l4 + size;
        const innerProto = this.l3v4(b, inL3, tail - inL3, zone, t, at, false);
        if (innerProto < 0) return false;
        if (t[at + T_SRC] !== outerDst) return false;
        const inL4 = inL3 + (b[inL3] & 0x0f) * 4;
        if (!this.l4(b, inL4, tail - inL4, inL3, ETH_TYPE_IP, innerProto, t, at, false, ICMP_ERROR_DATA_L4_LEN)) return false;
        this.reverseInPlace(t, at);
        this.icmpRelated = true;
        this.innerL3 = inL3;
        this.innerL4 = inL4;
        return true;
      }
      default:
        return false;
    }
  }

  private icmp6(b: Uint8Array, l4: number, size: number, t: Uint32Array, at: number, outer: boolean): boolean {
    if (size < 8) return false; // Every message handled has 4 bytes after the header.
    const type = b[l4];
    switch (type) {
      case ICMP6_ECHO_REQUEST:
      case ICMP6_ECHO_REPLY: {
        if (b[l4 + 1] !== 0) return false;
        const id = read16(b, l4 + 4);
        t[at + T_SPORT] = ((id << 16) | (type << 8)) >>> 0;
        t[at + T_DPORT] = ((id << 16) | (reverseIcmp6Type(type) << 8)) >>> 0;
        return true;
      }
      case ICMP6_DST_UNREACH:
      case ICMP6_PACKET_TOO_BIG:
      case ICMP6_TIME_EXCEEDED:
      case ICMP6_PARAM_PROB: {
        if (!outer) return false;
        const d0 = t[at + T_DST], d1 = t[at + T_DST + 1], d2 = t[at + T_DST + 2], d3 = t[at + T_DST + 3];
        const zone = tupleZone(t, at);
        const inL3 = l4 + 8;
        const tail = l4 + size;
        const innerProto = this.l3v6(b, inL3, tail - inL3, zone, t, at);
        if (innerProto < 0) return false;
        if (t[at + T_SRC] !== d0 || t[at + T_SRC + 1] !== d1 || t[at + T_SRC + 2] !== d2 || t[at + T_SRC + 3] !== d3) return false;
        const inL4 = this.v6L4;
        if (!this.l4(b, inL4, tail - inL4, inL3, ETH_TYPE_IPV6, innerProto, t, at, false, 0)) return false;
        this.reverseInPlace(t, at);
        this.icmpRelated = true;
        this.innerL3 = inL3;
        this.innerL4 = inL4;
        return true;
      }
      default:
        return false;
    }
  }

  private reverseInPlace(t: Uint32Array, at: number): void {
    for (let i = 0; i < 4; i++) {
      const s = t[at + T_SRC + i];
      t[at + T_SRC + i] = t[at + T_DST + i];
      t[at + T_DST + i] = s;
    }
    const sp = t[at + T_SPORT];
    t[at + T_SPORT] = t[at + T_DPORT];
    t[at + T_DPORT] = sp;
  }
}
