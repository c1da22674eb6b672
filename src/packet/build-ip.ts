/**
 * Network-layer builders: IPv4 (options, flags, fragments, header checksum)
 * and IPv6 (traffic class, flow label, extension header chains), plus
 * helpers that split an upper-layer packet into fragments.
 * Invariant: an IP layer hands its addresses to its payload as the
 * pseudo-header, so the upper layer's checksum always matches the addresses
 * actually written (for IPv6, the final destination of a routing header).
 * Limits: `ipv4Fragments` copies the given options into every fragment (real
 * stacks copy only options whose copied bit is set); a routing header's final
 * destination is found for types 0 and 2 (a list of addresses), not for SRH.
 */
import { assert } from "../errors.js";
import { type Addr, ipv4Bytes, ipv6Bytes } from "./build-addr.js";
import {
  type Layer,
  type Payload,
  type PseudoHeader,
  assertUint,
  concat,
  encodePayload,
  finishChecksum,
  ipProtoOf,
  put16,
  put32,
  raw,
} from "./build-layer.js";
import { ETH_TYPE_IPV4, ETH_TYPE_IPV6 } from "./build-l2.js";

export const IP_PROTO_HOPOPTS = 0;
export const IP_PROTO_ICMP = 1;
export const IP_PROTO_TCP = 6;
export const IP_PROTO_UDP = 17;
export const IP_PROTO_ROUTING = 43;
export const IP_PROTO_FRAGMENT = 44;
export const IP_PROTO_GRE = 47;
export const IP_PROTO_AH = 51;
export const IP_PROTO_ICMPV6 = 58;
export const IP_PROTO_NONE = 59;
export const IP_PROTO_DSTOPTS = 60;
export const IP_PROTO_SCTP = 132;

export interface IPv4Options {
  src: Addr;
  dst: Addr;
  ttl?: number;
  /** The whole TOS byte; or give `dscp` and `ecn` separately. */
  tos?: number;
  dscp?: number;
  ecn?: number;
  id?: number;
  df?: boolean;
  mf?: boolean;
  /** The reserved ("evil") flag bit, for tests of odd input. */
  rf?: boolean;
  /** Fragment offset in 8-byte units, as on the wire. */
  fragOffset?: number;
  /** Option bytes; padded with zeros (End of Options) to a multiple of 4. */
  options?: Uint8Array;
  /** Protocol; defaults to the payload's (6 for a tcp layer). */
  proto?: number;
  /** Overrides for crafting malformed headers: written as given. */
  ihl?: number;
  totalLength?: number;
  checksum?: number;
}

/** An IPv4 packet (RFC 791) around `payload`, header checksum filled in. */
export function ipv4(opts: IPv4Options, payload?: Payload): Layer {
  const proto = opts.proto ?? ipProtoOf(payload);
  assert(proto >= 0, "ipv4 needs `proto` when the payload does not declare one");
  assertUint(proto, 0xff, "proto");
  return {
    kind: "ipv4",
    ethertype: ETH_TYPE_IPV4,
    ipProto: 4,
    encode: () => {
      const src = ipv4Bytes(opts.src);
      const dst = ipv4Bytes(opts.dst);
      const body = encodePayload(payload, { src, dst });
      const opt = opts.options ?? new Uint8Array(0);
      const optSize = (opt.length + 3) & ~3;
      assert(optSize <= 40, "IPv4 options are at most 40 bytes");
      const head = new Uint8Array(20 + optSize);
      const ihl = opts.ihl ?? head.length / 4;
      const tos = opts.tos ?? (((opts.dscp ?? 0) << 2) | (opts.ecn ?? 0));
      const fragOffset = opts.fragOffset ?? 0;
      const totalLength = opts.totalLength ?? head.length + body.length;
      assertUint(ihl, 15, "ihl");
      assertUint(tos, 0xff, "tos");
      assertUint(fragOffset, 0x1fff, "fragOffset");
      assertUint(totalLength, 0xffff, "totalLength");
      head[0] = 0x40 | ihl;
      head[1] = tos;
      put16(head, 2, totalLength);
      put16(head, 4, opts.id ?? 0);
      const flags = (opts.rf ? 0x8000 : 0) | (opts.df ? 0x4000 : 0) | (opts.mf ? 0x2000 : 0);
      put16(head, 6, flags | fragOffset);
      head[8] = opts.ttl ?? 64;
      head[9] = proto;
      head.set(src, 12);
      head.set(dst, 16);
      head.set(opt, 20);
      finishChecksum(head, 10, opts.checksum);
      return concat(head, body);
    },
  };
}

/**
 * Splits `payload` (encoded with the full datagram's pseudo-header, so its
 * checksum is the one the receiver checks after reassembly) into IPv4
 * fragments carrying at most `fragSize` bytes each (rounded down to a
 * multiple of 8). Every fragment gets `opts`, with MF and the offset set.
 */
export function ipv4Fragments(opts: IPv4Options, payload: Payload, fragSize: number): Layer[] {
  const proto = opts.proto ?? ipProtoOf(payload);
  assert(proto >= 0, "ipv4Fragments needs `proto` when the payload does not declare one");
  const step = fragSize & ~7;
  assert(step >= 8, "fragSize must be at least 8");
  const whole = encodePayload(payload, { src: ipv4Bytes(opts.src), dst: ipv4Bytes(opts.dst) });
  const base = opts.fragOffset ?? 0;
  const out: Layer[] = [];
  for (let at = 0; at < whole.length || at === 0; at += step) {
    const last = at + step >= whole.length;
    const chunk = whole.subarray(at, Math.min(whole.length, at + step));
    out.push(
      ipv4({ ...opts, proto, mf: !last || opts.mf === true, fragOffset: base + at / 8 }, raw(chunk)),
    );
    if (last) break;
  }
  return out;
}

/** IPv4 Record Route option (RFC 791): room for `slots` addresses, the
 * `recorded` ones filled in and the pointer just past them. */
function recordRoute(slots: number, recorded: Addr[] = []): Uint8Array {
  assert(slots >= 1 && slots <= 9, "record route holds 1..9 addresses");
  assert(recorded.length <= slots, "more recorded addresses than slots");
  const out = new Uint8Array(3 + 4 * slots);
  out[0] = 7;
  out[1] = out.length;
  out[2] = 4 + 4 * recorded.length;
  for (let i = 0; i < recorded.length; i++) out.set(ipv4Bytes(recorded[i]), 3 + 4 * i);
  return out;
}

/** IPv4 option bytes for `ipv4({ options })`. */
export const ipv4Opt = {
  eol: (): Uint8Array => Uint8Array.of(0),
  nop: (): Uint8Array => Uint8Array.of(1),
  recordRoute,
  /** Router Alert (RFC 2113), value 0: "examine this packet". */
  routerAlert: (value = 0): Uint8Array => Uint8Array.of(0x94, 4, value >>> 8, value & 0xff),
};

/** One IPv6 extension header. `nextHeader` overrides the value the chain
 * would give (for crafting broken chains). */
export type IPv6ExtHeader =
  | { type: "hop"; options?: Uint8Array; nextHeader?: number }
  | { type: "dstopts"; options?: Uint8Array; nextHeader?: number }
  | {
      type: "routing";
      /** 0 (deprecated source route) by default; 2 for Mobile IPv6. */
      routingType?: number;
      segmentsLeft: number;
      /** Type 0/2 layout: 4 reserved bytes, then these addresses. */
      addresses?: Addr[];
      /** Or the type-specific data as it is (4 + size a multiple of 8). */
      data?: Uint8Array;
      nextHeader?: number;
    }
  | {
      type: "fragment";
      /** Offset in 8-byte units. */
      offset?: number;
      /** More fragments. */
      m?: boolean;
      id: number;
      nextHeader?: number;
    }
  | {
      type: "ah";
      spi: number;
      seq: number;
      /** Integrity check value; 12 zero bytes (HMAC-96 size) by default. */
      icv?: Uint8Array;
      nextHeader?: number;
    };

const EXT_PROTO: Record<IPv6ExtHeader["type"], number> = {
  hop: IP_PROTO_HOPOPTS,
  routing: IP_PROTO_ROUTING,
  fragment: IP_PROTO_FRAGMENT,
  dstopts: IP_PROTO_DSTOPTS,
  ah: IP_PROTO_AH,
};

export interface IPv6Options {
  src: Addr;
  dst: Addr;
  hopLimit?: number;
  trafficClass?: number;
  flowLabel?: number;
  /** In order, first after the fixed header. */
  extHeaders?: IPv6ExtHeader[];
  /** The upper-layer protocol; defaults to the payload's. */
  proto?: number;
  /** Overrides for crafting malformed packets: written as given. */
  nextHeader?: number;
  payloadLength?: number;
}

/** Pads Hop-by-Hop / Destination Options so the header is a multiple of 8
 * bytes (RFC 8200 section 4.2: Pad1 for one byte, PadN for more). */
function padOptions(options: Uint8Array): Uint8Array {
  const need = (8 - ((2 + options.length) % 8)) % 8;
  if (need === 0) return options;
  const pad = new Uint8Array(need);
  if (need >= 2) {
    pad[0] = 1;
    pad[1] = need - 2;
  }
  return concat(options, pad);
}

function encodeExt(ext: IPv6ExtHeader, next: number): Uint8Array {
  switch (ext.type) {
    case "hop":
    case "dstopts": {
      const opts = padOptions(ext.options ?? new Uint8Array(0));
      const out = new Uint8Array(2 + opts.length);
      out[0] = next;
      out[1] = out.length / 8 - 1;
      out.set(opts, 2);
      return out;
    }
    case "routing": {
      let data: Uint8Array;
      if (ext.data !== undefined) {
        data = ext.data;
      } else {
        const addrs = ext.addresses ?? [];
        data = new Uint8Array(4 + 16 * addrs.length);
        for (let i = 0; i < addrs.length; i++) data.set(ipv6Bytes(addrs[i]), 4 + 16 * i);
      }
      assert((4 + data.length) % 8 === 0, "a routing header is a multiple of 8 bytes");
      const out = new Uint8Array(4 + data.length);
      out[0] = next;
      out[1] = out.length / 8 - 1;
      out[2] = ext.routingType ?? 0;
      out[3] = ext.segmentsLeft;
      out.set(data, 4);
      return out;
    }
    case "fragment": {
      const offset = ext.offset ?? 0;
      assertUint(offset, 0x1fff, "fragment offset");
      const out = new Uint8Array(8);
      out[0] = next;
      put16(out, 2, (offset << 3) | (ext.m ? 1 : 0));
      put32(out, 4, ext.id);
      return out;
    }
    case "ah": {
      const icv = ext.icv ?? new Uint8Array(12);
      const out = new Uint8Array(12 + icv.length);
      assert(out.length % 8 === 0, "an IPv6 AH is a multiple of 8 bytes");
      out[0] = next;
      out[1] = out.length / 4 - 2;
      put32(out, 4, ext.spi);
      put32(out, 8, ext.seq);
      out.set(icv, 12);
      return out;
    }
  }
}

/** The destination the upper-layer checksum uses: the last address of a
 * type 0/2 routing header that still has segments left, else `dst`. */
function finalDestination(dst: Uint8Array, exts: IPv6ExtHeader[]): Uint8Array {
  for (const ext of exts) {
    if (ext.type === "routing" && ext.segmentsLeft > 0 && ext.addresses !== undefined) {
      const addrs = ext.addresses;
      if (addrs.length > 0) return ipv6Bytes(addrs[addrs.length - 1]);
    }
  }
  return dst;
}

/** An IPv6 packet (RFC 8200) with its extension header chain. */
export function ipv6(opts: IPv6Options, payload?: Payload): Layer {
  const proto = opts.proto ?? ipProtoOf(payload);
  assert(proto >= 0, "ipv6 needs `proto` when the payload does not declare one");
  assertUint(proto, 0xff, "proto");
  return {
    kind: "ipv6",
    ethertype: ETH_TYPE_IPV6,
    ipProto: 41,
    encode: () => {
      const src = ipv6Bytes(opts.src);
      const dst = ipv6Bytes(opts.dst);
      const exts = opts.extHeaders ?? [];
      const pseudo: PseudoHeader = { src, dst: finalDestination(dst, exts) };
      const body = encodePayload(payload, pseudo);
      const extBytes: Uint8Array[] = [];
      for (let i = 0; i < exts.length; i++) {
        const next = exts[i].nextHeader ?? (i + 1 < exts.length ? EXT_PROTO[exts[i + 1].type] : proto);
        extBytes.push(encodeExt(exts[i], next));
      }
      const rest = concat(...extBytes, body);
      const trafficClass = opts.trafficClass ?? 0;
      const flowLabel = opts.flowLabel ?? 0;
      const payloadLength = opts.payloadLength ?? rest.length;
      assertUint(trafficClass, 0xff, "trafficClass");
      assertUint(flowLabel, 0xfffff, "flowLabel");
      assertUint(payloadLength, 0xffff, "payloadLength");
      const head = new Uint8Array(40);
      put32(head, 0, ((6 << 28) | (trafficClass << 20) | flowLabel) >>> 0);
      put16(head, 4, payloadLength);
      head[6] = opts.nextHeader ?? (exts.length > 0 ? EXT_PROTO[exts[0].type] : proto);
      head[7] = opts.hopLimit ?? 64;
      head.set(src, 8);
      head.set(dst, 24);
      return concat(head, rest);
    },
  };
}

/**
 * Splits `payload` into IPv6 fragments of at most `fragSize` bytes of
 * fragmentable part each (rounded down to a multiple of 8). `opts.extHeaders`
 * are the unfragmentable part (hop-by-hop, routing) and come before the
 * Fragment header in every fragment; the upper-layer checksum is computed
 * over the whole payload, as the receiver checks it after reassembly.
 */
export function ipv6Fragments(opts: IPv6Options, payload: Payload, fragSize: number, id: number): Layer[] {
  const proto = opts.proto ?? ipProtoOf(payload);
  assert(proto >= 0, "ipv6Fragments needs `proto` when the payload does not declare one");
  const step = fragSize & ~7;
  assert(step >= 8, "fragSize must be at least 8");
  const exts = opts.extHeaders ?? [];
  const dst = ipv6Bytes(opts.dst);
  const whole = encodePayload(payload, { src: ipv6Bytes(opts.src), dst: finalDestination(dst, exts) });
  const out: Layer[] = [];
  for (let at = 0; at < whole.length || at === 0; at += step) {
    const last = at + step >= whole.length;
    const chunk = whole.subarray(at, Math.min(whole.length, at + step));
    const frag: IPv6ExtHeader = { type: "fragment", offset: at / 8, m: !last, id };
    out.push(ipv6({ ...opts, proto, extHeaders: [...exts, frag] }, raw(chunk)));
    if (last) break;
  }
  return out;
}

/** IPv6 option bytes for hop-by-hop and destination options headers. */
export const ipv6Opt = {
  pad1: (): Uint8Array => Uint8Array.of(0),
  padN: (size: number): Uint8Array => {
    assert(size >= 2, "PadN is at least 2 bytes");
    const out = new Uint8Array(size);
    out[0] = 1;
    out[1] = size - 2;
    return out;
  },
  /** Router Alert (RFC 2711): 0 is MLD. */
  routerAlert: (value = 0): Uint8Array => Uint8Array.of(5, 2, value >>> 8, value & 0xff),
};
