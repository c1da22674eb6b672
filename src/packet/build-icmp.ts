/**
 * ICMP builders: ICMPv4 (RFC 792) and ICMPv6 (RFC 4443) messages, including
 * errors that quote an offending packet, and IPv6 Neighbour Discovery
 * (RFC 4861: RS, RA, NS, NA with their link-layer address options).
 * Invariant: every message shares one shape, an 8-byte header (type, code,
 * checksum, 4 message-specific bytes) followed by a body; ICMPv4 sums itself
 * alone, ICMPv6 adds the IPv6 pseudo-header of the enclosing layer.
 * Limits: an error quotes whatever it is given; the caller trims the quote
 * (RFC 792 asks for the IP header plus 8 bytes, RFC 4443 for as much as fits
 * in 1280 bytes).
 */
import { assert } from "../errors.js";
import { type Addr, ipv4Bytes, ipv6Bytes, macBytes } from "./build-addr.js";
import {
  type Layer,
  type Payload,
  assertUint,
  concat,
  encodePayload,
  finishChecksum,
  finishL4Checksum,
  put32,
} from "./build-layer.js";
import { IP_PROTO_ICMP, IP_PROTO_ICMPV6 } from "./build-ip.js";

export interface IcmpOptions {
  type: number;
  code?: number;
  /** The 4 bytes after the checksum (id and sequence, MTU, pointer...). */
  rest?: number;
  /** Written as given instead of the computed checksum. */
  checksum?: number;
}

function icmpHeader(opts: IcmpOptions): Uint8Array {
  assertUint(opts.type, 0xff, "icmp type");
  assertUint(opts.code ?? 0, 0xff, "icmp code");
  const head = new Uint8Array(8);
  head[0] = opts.type;
  head[1] = opts.code ?? 0;
  put32(head, 4, opts.rest ?? 0);
  return head;
}

/** Any ICMPv4 message: header plus `payload`, checksum over both. */
export function icmp(opts: IcmpOptions, payload?: Payload): Layer {
  return {
    kind: "icmp",
    ethertype: -1,
    ipProto: IP_PROTO_ICMP,
    encode: () => {
      const msg = concat(icmpHeader(opts), encodePayload(payload, null));
      finishChecksum(msg, 2, opts.checksum);
      return msg;
    },
  };
}

export interface EchoOptions {
  /** Echo reply instead of request. */
  reply?: boolean;
  id: number;
  seq: number;
  payload?: Uint8Array;
  checksum?: number;
}

function echoRest(o: EchoOptions): number {
  assertUint(o.id, 0xffff, "echo id");
  assertUint(o.seq, 0xffff, "echo seq");
  return ((o.id << 16) | o.seq) >>> 0;
}

/** ICMPv4 echo request (type 8) or reply (type 0). */
export function icmpEcho(opts: EchoOptions): Layer {
  return icmp(
    { type: opts.reply ? 0 : 8, code: 0, rest: echoRest(opts), checksum: opts.checksum },
    opts.payload,
  );
}

const ICMP_ERROR_TYPES = {
  "dest-unreachable": 3,
  "source-quench": 4,
  redirect: 5,
  "time-exceeded": 11,
  "param-problem": 12,
} as const;

export interface IcmpErrorOptions {
  type: keyof typeof ICMP_ERROR_TYPES | number;
  code?: number;
  /** Next-hop MTU for "fragmentation needed" (type 3 code 4, RFC 1191). */
  mtu?: number;
  /** Byte that is wrong, for parameter problems. */
  pointer?: number;
  /** Better first hop, for redirects. */
  gateway?: Addr;
  checksum?: number;
}

/** An ICMPv4 error quoting `quote` (an ipv4 layer or its bytes). */
export function icmpError(opts: IcmpErrorOptions, quote: Payload): Layer {
  const type = typeof opts.type === "number" ? opts.type : ICMP_ERROR_TYPES[opts.type];
  let rest = 0;
  if (opts.gateway !== undefined) {
    const g = ipv4Bytes(opts.gateway);
    rest = ((g[0] << 24) | (g[1] << 16) | (g[2] << 8) | g[3]) >>> 0;
  } else if (opts.pointer !== undefined) {
    rest = (opts.pointer << 24) >>> 0;
  } else if (opts.mtu !== undefined) {
    rest = opts.mtu & 0xffff;
  }
  return icmp({ type, code: opts.code ?? 0, rest, checksum: opts.checksum }, quote);
}

/** Any ICMPv6 message; the checksum covers the IPv6 pseudo-header. */
export function icmp6(opts: IcmpOptions, payload?: Payload): Layer {
  return {
    kind: "icmp6",
    ethertype: -1,
    ipProto: IP_PROTO_ICMPV6,
    encode: (pseudo) => {
      const msg = concat(icmpHeader(opts), encodePayload(payload, null));
      finishL4Checksum(msg, 2, IP_PROTO_ICMPV6, pseudo, opts.checksum, false);
      return msg;
    },
  };
}

/** ICMPv6 echo request (type 128) or reply (type 129). */
export function icmp6Echo(opts: EchoOptions): Layer {
  return icmp6(
    { type: opts.reply ? 129 : 128, code: 0, rest: echoRest(opts), checksum: opts.checksum },
    opts.payload,
  );
}

const ICMP6_ERROR_TYPES = {
  "dest-unreachable": 1,
  "packet-too-big": 2,
  "time-exceeded": 3,
  "param-problem": 4,
} as const;

export interface Icmp6ErrorOptions {
  type: keyof typeof ICMP6_ERROR_TYPES | number;
  code?: number;
  /** For packet-too-big. */
  mtu?: number;
  /** For parameter problems. */
  pointer?: number;
  checksum?: number;
}

/** An ICMPv6 error quoting `quote` (an ipv6 layer or its bytes). */
export function icmp6Error(opts: Icmp6ErrorOptions, quote: Payload): Layer {
  const type = typeof opts.type === "number" ? opts.type : ICMP6_ERROR_TYPES[opts.type];
  const rest = (opts.mtu ?? opts.pointer ?? 0) >>> 0;
  return icmp6({ type, code: opts.code ?? 0, rest, checksum: opts.checksum }, quote);
}

/** One ND option: type, length in units of 8 bytes (filled in), data padded
 * with zeros to that size. */
export function ndOption(type: number, data: Uint8Array): Uint8Array {
  const size = (2 + data.length + 7) & ~7;
  const out = new Uint8Array(size);
  out[0] = type;
  out[1] = size / 8;
  out.set(data, 2);
  return out;
}

export const ND_OPT_SLL = 1;
export const ND_OPT_TLL = 2;
export const ND_OPT_PREFIX = 3;
export const ND_OPT_MTU = 5;

function llOption(type: number, mac: Addr | undefined): Uint8Array {
  return mac === undefined ? new Uint8Array(0) : ndOption(type, macBytes(mac));
}

export interface NsOptions {
  target: Addr;
  /** Source link-layer address option. */
  sll?: Addr;
  /** More option bytes, appended as they are (a zero-length option to test). */
  options?: Uint8Array;
  checksum?: number;
}

/** Neighbour Solicitation (type 135). */
export function ndpNs(opts: NsOptions): Layer {
  const body = concat(ipv6Bytes(opts.target), llOption(ND_OPT_SLL, opts.sll), opts.options ?? new Uint8Array(0));
  return icmp6({ type: 135, code: 0, rest: 0, checksum: opts.checksum }, body);
}

export interface NaOptions {
  target: Addr;
  router?: boolean;
  solicited?: boolean;
  override?: boolean;
  /** Target link-layer address option. */
  tll?: Addr;
  options?: Uint8Array;
  checksum?: number;
}

/** Neighbour Advertisement (type 136) with the R, S and O flags. */
export function ndpNa(opts: NaOptions): Layer {
  const rest =
    ((opts.router ? 0x80000000 : 0) | (opts.solicited ? 0x40000000 : 0) | (opts.override ? 0x20000000 : 0)) >>> 0;
  const body = concat(ipv6Bytes(opts.target), llOption(ND_OPT_TLL, opts.tll), opts.options ?? new Uint8Array(0));
  return icmp6({ type: 136, code: 0, rest, checksum: opts.checksum }, body);
}

/** Router Solicitation (type 133). */
export function ndpRs(opts: { sll?: Addr; options?: Uint8Array; checksum?: number } = {}): Layer {
  const body = concat(llOption(ND_OPT_SLL, opts.sll), opts.options ?? new Uint8Array(0));
  return icmp6({ type: 133, code: 0, rest: 0, checksum: opts.checksum }, body);
}

export interface RaPrefix {
  prefix: Addr;
  prefixLength: number;
  onLink?: boolean;
  autonomous?: boolean;
  validLifetime?: number;
  preferredLifetime?: number;
}

export interface RaOptions {
  curHopLimit?: number;
  managed?: boolean;
  other?: boolean;
  /** Seconds; 1800 by default. */
  routerLifetime?: number;
  reachableTimeMs?: number;
  retransTimerMs?: number;
  sll?: Addr;
  mtu?: number;
  prefixes?: RaPrefix[];
  options?: Uint8Array;
  checksum?: number;
}

/** Router Advertisement (type 134) with SLL, MTU and prefix options. */
export function ndpRa(opts: RaOptions = {}): Layer {
  const lifetime = opts.routerLifetime ?? 1800;
  assertUint(lifetime, 0xffff, "routerLifetime");
  const flags = (opts.managed ? 0x80 : 0) | (opts.other ? 0x40 : 0);
  const rest = (((opts.curHopLimit ?? 64) << 24) | (flags << 16) | lifetime) >>> 0;
  const fixed = new Uint8Array(8);
  put32(fixed, 0, opts.reachableTimeMs ?? 0);
  put32(fixed, 4, opts.retransTimerMs ?? 0);
  const parts: Uint8Array[] = [fixed, llOption(ND_OPT_SLL, opts.sll)];
  if (opts.mtu !== undefined) {
    const m = new Uint8Array(6);
    put32(m, 2, opts.mtu);
    parts.push(ndOption(ND_OPT_MTU, m));
  }
  for (const p of opts.prefixes ?? []) {
    assert(p.prefixLength >= 0 && p.prefixLength <= 128, "prefixLength must be within 0..128");
    const d = new Uint8Array(30);
    d[0] = p.prefixLength;
    d[1] = (p.onLink !== false ? 0x80 : 0) | (p.autonomous !== false ? 0x40 : 0);
    put32(d, 2, p.validLifetime ?? 86400);
    put32(d, 6, p.preferredLifetime ?? 14400);
    d.set(ipv6Bytes(p.prefix), 14);
    parts.push(ndOption(ND_OPT_PREFIX, d));
  }
  parts.push(opts.options ?? new Uint8Array(0));
  return icmp6({ type: 134, code: 0, rest, checksum: opts.checksum }, concat(...parts));
}
