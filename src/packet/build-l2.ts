/**
 * Link-layer builders: Ethernet II with up to any number of VLAN tags, IEEE
 * 802.3 length frames with LLC (and SNAP), and ARP.
 * Invariant: `eth` is always the outermost layer, so it returns the finished
 * frame; the others return Layer descriptors (build-layer.ts).
 * Limits: no FCS is appended (captures and TAP devices carry none); frames
 * are padded only when `padTo` asks.
 */
import { assert } from "../errors.js";
import { type Addr, ipv4Bytes, macBytes } from "./build-addr.js";
import {
  type Layer,
  type Payload,
  assertUint,
  concat,
  encodePayload,
  ethertypeOf,
  put16,
} from "./build-layer.js";

export const ETH_TYPE_IPV4 = 0x0800;
export const ETH_TYPE_ARP = 0x0806;
export const ETH_TYPE_VLAN = 0x8100;
export const ETH_TYPE_QINQ = 0x88a8;
export const ETH_TYPE_IPV6 = 0x86dd;
export const ETH_TYPE_TEB = 0x6558;

/** Largest value of an 802.3 length field; 0x0600 and up are EtherTypes. */
const ETH_LENGTH_MAX = 1500;

/** One 802.1Q tag. `tpid` defaults to 0x8100; pass 0x88a8 for an 802.1ad
 * service tag. */
export interface VlanTag {
  tpid?: number;
  vid: number;
  pcp?: number;
  dei?: number;
}

export interface EthOptions {
  src: Addr;
  dst: Addr;
  /** Tags, outermost first. */
  vlans?: VlanTag[];
  /** EtherType; defaults to the payload's (0x0800 for an ipv4 layer). An llc
   * payload gets its size as an 802.3 length field instead. */
  type?: number;
  /** Pads the frame with zeros to at least this many bytes (60 is the
   * Ethernet minimum without FCS). */
  padTo?: number;
}

/** An Ethernet frame: dst, src, tags, EtherType (or 802.3 length), payload. */
export function eth(opts: EthOptions, payload?: Payload): Uint8Array {
  const body = encodePayload(payload, null);
  let type: number;
  if (opts.type !== undefined) {
    type = opts.type;
  } else if (payload !== undefined && !(payload instanceof Uint8Array) && payload.kind === "llc") {
    assert(body.length <= ETH_LENGTH_MAX, "an 802.3 frame carries at most 1500 bytes");
    type = body.length;
  } else {
    type = ethertypeOf(payload);
    assert(type >= 0, "eth needs `type` when the payload does not declare an EtherType");
  }
  assertUint(type, 0xffff, "eth type");
  const tags = opts.vlans ?? [];
  const head = new Uint8Array(14 + 4 * tags.length);
  head.set(macBytes(opts.dst), 0);
  head.set(macBytes(opts.src), 6);
  for (let i = 0; i < tags.length; i++) {
    const t = tags[i];
    const pcp = t.pcp ?? 0;
    const dei = t.dei ?? 0;
    assertUint(t.vid, 0xfff, "vid");
    assertUint(pcp, 7, "pcp");
    assertUint(dei, 1, "dei");
    put16(head, 12 + 4 * i, t.tpid ?? ETH_TYPE_VLAN);
    put16(head, 14 + 4 * i, (pcp << 13) | (dei << 12) | t.vid);
  }
  put16(head, 12 + 4 * tags.length, type);
  const frame = concat(head, body);
  if (opts.padTo !== undefined && frame.length < opts.padTo) {
    const padded = new Uint8Array(opts.padTo);
    padded.set(frame, 0);
    return padded;
  }
  return frame;
}

/** SNAP extension: organisation code and protocol (an EtherType when the OUI
 * is 00:00:00, RFC 1042). */
export interface SnapOptions {
  oui: number;
  type: number;
}

export interface LlcOptions {
  /** Defaults to 0xaa (SNAP) when `snap` is given, else required. */
  dsap?: number;
  ssap?: number;
  /** Control field; defaults to 0x03 (unnumbered information). */
  control?: number;
  snap?: SnapOptions;
}

/** IEEE 802.2 LLC header (plus SNAP), carried in an 802.3 length frame. */
export function llc(opts: LlcOptions, payload?: Payload): Layer {
  const snap = opts.snap;
  const dsap = opts.dsap ?? (snap !== undefined ? 0xaa : -1);
  const ssap = opts.ssap ?? dsap;
  const control = opts.control ?? 0x03;
  assertUint(dsap, 0xff, "dsap");
  assertUint(ssap, 0xff, "ssap");
  assertUint(control, 0xff, "control");
  return {
    kind: "llc",
    ethertype: -1,
    ipProto: -1,
    encode: () => {
      const head = new Uint8Array(snap !== undefined ? 8 : 3);
      head[0] = dsap;
      head[1] = ssap;
      head[2] = control;
      if (snap !== undefined) {
        assertUint(snap.oui, 0xffffff, "snap oui");
        assertUint(snap.type, 0xffff, "snap type");
        head[3] = snap.oui >>> 16;
        head[4] = (snap.oui >>> 8) & 0xff;
        head[5] = snap.oui & 0xff;
        put16(head, 6, snap.type);
      }
      return concat(head, encodePayload(payload, null));
    },
  };
}

export interface ArpOptions {
  /** 1 request, 2 reply, or any opcode. */
  op: "request" | "reply" | number;
  sha: Addr;
  spa: Addr;
  /** Defaults to 00:00:00:00:00:00, as in a request. */
  tha?: Addr;
  tpa: Addr;
  /** Defaults to 1 (Ethernet). */
  htype?: number;
  /** Defaults to 0x0800 (IPv4). */
  ptype?: number;
  /** Default to the address sizes given. */
  hlen?: number;
  plen?: number;
}

/** An ARP packet (RFC 826); any field can be set, sizes follow the addresses. */
export function arp(opts: ArpOptions): Layer {
  const op = opts.op === "request" ? 1 : opts.op === "reply" ? 2 : opts.op;
  assertUint(op, 0xffff, "arp op");
  return {
    kind: "arp",
    ethertype: ETH_TYPE_ARP,
    ipProto: -1,
    encode: () => {
      const sha = macBytes(opts.sha);
      const tha = macBytes(opts.tha ?? new Uint8Array(6));
      const spa = ipv4Bytes(opts.spa);
      const tpa = ipv4Bytes(opts.tpa);
      const head = new Uint8Array(8);
      put16(head, 0, opts.htype ?? 1);
      put16(head, 2, opts.ptype ?? ETH_TYPE_IPV4);
      head[4] = opts.hlen ?? sha.length;
      head[5] = opts.plen ?? spa.length;
      put16(head, 6, op);
      return concat(head, sha, spa, tha, tpa);
    },
  };
}
