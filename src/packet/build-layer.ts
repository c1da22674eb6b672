/**
 * The layer descriptor shared by every packet builder (see build.ts).
 * Invariant: a Layer is immutable; `encode` may be called any number of times
 * and returns fresh bytes each time, so one layer can sit in several frames.
 * Design: builders return descriptors and serialise from the inside out when
 * the outermost layer asks: an IP layer passes its addresses down as a
 * PseudoHeader, so TCP, UDP, ICMPv6 and the like can finish their checksums
 * without knowing which IP version carries them.
 * Limits: control plane only (tests, generators, the CLI): every call allocates.
 */
import { assert } from "../errors.js";
import { csumAdd, csumFinish, pseudoSum4, pseudoSum6 } from "./checksum.js";

/** The enclosing IP layer's addresses for an upper-layer checksum: 4 bytes
 * each for IPv4, 16 for IPv6 (`dst` is the final destination when a routing
 * header is present). */
export interface PseudoHeader {
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
}

/** One protocol layer, ready to serialise with everything inside it. */
export interface Layer {
  /** What the layer is, e.g. "ipv4", "tcp", "vxlan"; "raw" for plain bytes. */
  readonly kind: string;
  /** EtherType that carries this layer (0x0800 for IPv4), or -1 for none. */
  readonly ethertype: number;
  /** IP protocol number that carries this layer (6 for TCP), or -1 for none. */
  readonly ipProto: number;
  /** The layer's bytes. `pseudo` is null when no IP layer encloses it, in which
   * case a checksum that needs a pseudo-header is left 0. */
  encode(pseudo: PseudoHeader | null): Uint8Array;
}

/** What a layer may carry: another layer, or bytes taken as they are. */
export type Payload = Layer | Uint8Array;

/** Wraps bytes as a layer, optionally saying what carries them, so an IP or
 * Ethernet builder can fill in its protocol field (e.g. a fragment's data). */
export function raw(bytes: Uint8Array, carriedBy: { ethertype?: number; ipProto?: number } = {}): Layer {
  const copy = bytes.slice();
  return {
    kind: "raw",
    ethertype: carriedBy.ethertype ?? -1,
    ipProto: carriedBy.ipProto ?? -1,
    encode: () => copy.slice(),
  };
}

/** Serialises a payload: a layer with the given pseudo-header, bytes as a copy. */
export function encodePayload(payload: Payload | undefined, pseudo: PseudoHeader | null): Uint8Array {
  if (payload === undefined) return new Uint8Array(0);
  if (payload instanceof Uint8Array) return payload.slice();
  return payload.encode(pseudo);
}

/** Serialises a layer on its own, with no enclosing IP layer (e.g. the IP
 * packet quoted by an ICMP error, or an Ethernet frame for VXLAN). */
export function encode(payload: Payload): Uint8Array {
  return encodePayload(payload, null);
}

/** The EtherType a payload declares, or -1. */
export function ethertypeOf(payload: Payload | undefined): number {
  if (payload === undefined || payload instanceof Uint8Array) return -1;
  return payload.ethertype;
}

/** The IP protocol a payload declares, or -1. */
export function ipProtoOf(payload: Payload | undefined): number {
  if (payload === undefined || payload instanceof Uint8Array) return -1;
  return payload.ipProto;
}

/** Joins byte arrays into one new array. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  let size = 0;
  for (const p of parts) size += p.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function put16(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 8) & 0xff;
  b[at + 1] = v & 0xff;
}

export function put32(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 24) & 0xff;
  b[at + 1] = (v >>> 16) & 0xff;
  b[at + 2] = (v >>> 8) & 0xff;
  b[at + 3] = v & 0xff;
}

/** Checks that `v` is an integer in [0, max]: a builder argument out of range
 * is a bug in the caller (a test or a generator), not bad input. */
export function assertUint(v: number, max: number, name: string): void {
  assert(Number.isInteger(v), `${name} must be an integer`);
  assert(v >= 0 && v <= max, `${name} must be within 0..${max}`);
}

/**
 * Fills in the upper-layer checksum of `l4` at `csumAt` from the pseudo-header
 * (v4 or v6, chosen by the address size) unless `forced` is given, in which
 * case that value is written as it is (to craft a bad or absent checksum).
 * With no pseudo-header the field stays 0. `zeroAsOnes` sends a computed 0 as
 * 0xffff, as UDP must (RFC 768), since 0 there means "no checksum".
 */
export function finishL4Checksum(
  l4: Uint8Array,
  csumAt: number,
  proto: number,
  pseudo: PseudoHeader | null,
  forced: number | undefined,
  zeroAsOnes: boolean,
): void {
  if (forced !== undefined) {
    assertUint(forced, 0xffff, "checksum");
    put16(l4, csumAt, forced);
    return;
  }
  put16(l4, csumAt, 0);
  if (pseudo === null) return;
  const addrSize = pseudo.src.length;
  assert(addrSize === 4 || addrSize === 16, "pseudo-header addresses must be 4 or 16 bytes");
  assert(pseudo.dst.length === addrSize, "pseudo-header addresses must be the same size");
  const addrs = concat(pseudo.src, pseudo.dst);
  const sum =
    addrSize === 4
      ? pseudoSum4(addrs, 0, 4, proto, l4.length)
      : pseudoSum6(addrs, 0, 16, proto, l4.length);
  let csum = csumFinish(csumAdd(l4, 0, l4.length, sum));
  if (csum === 0 && zeroAsOnes) csum = 0xffff;
  put16(l4, csumAt, csum);
}

/** Fills in a checksum over `b` alone (IPv4 header, ICMPv4, GRE), or writes
 * `forced` as it is. */
export function finishChecksum(b: Uint8Array, csumAt: number, forced: number | undefined): void {
  if (forced !== undefined) {
    assertUint(forced, 0xffff, "checksum");
    put16(b, csumAt, forced);
    return;
  }
  put16(b, csumAt, 0);
  put16(b, csumAt, csumFinish(csumAdd(b, 0, b.length, 0)));
}
