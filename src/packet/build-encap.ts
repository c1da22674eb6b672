/**
 * Tunnel builders: VXLAN (RFC 7348) and GRE (RFC 2784/2890) carrying an
 * inner Ethernet frame, as Neutron's br-tun sends them between hypervisors.
 * Invariant: the inner frame is serialised on its own (its own checksums are
 * already final); the outer layers only wrap it.
 * Limits: no VXLAN-GPE or Geneve options; GRE version 0 only.
 */
import { internetChecksum } from "./checksum.js";
import {
  type Layer,
  type Payload,
  assertUint,
  concat,
  encodePayload,
  ethertypeOf,
  put16,
  put32,
} from "./build-layer.js";
import { ETH_TYPE_TEB } from "./build-l2.js";
import { IP_PROTO_GRE } from "./build-ip.js";

export const VXLAN_PORT = 4789;

export interface VxlanOptions {
  vni: number;
  /** 0x08 (VNI valid) by default. */
  flags?: number;
}

/** The 8-byte VXLAN header and the inner frame; put it in `udp({ dst: 4789 })`. */
export function vxlan(opts: VxlanOptions, inner: Payload): Layer {
  assertUint(opts.vni, 0xffffff, "vni");
  const flags = opts.flags ?? 0x08;
  assertUint(flags, 0xff, "vxlan flags");
  return {
    kind: "vxlan",
    ethertype: -1,
    ipProto: -1,
    encode: () => {
      const head = new Uint8Array(8);
      head[0] = flags;
      put32(head, 4, (opts.vni << 8) >>> 0);
      return concat(head, encodePayload(inner, null));
    },
  };
}

export interface GreOptions {
  /** Protocol type; the payload's EtherType, else 0x6558 (Ethernet), which is
   * what raw frame bytes usually are. */
  proto?: number;
  /** Sets the K bit and the key (Neutron's tunnel id). */
  key?: number;
  /** Sets the S bit and the sequence number. */
  seq?: number;
  /** Sets the C bit and fills in the checksum. */
  checksum?: boolean;
}

/** A GRE header and its payload; put it in an ipv4 or ipv6 layer. */
export function gre(opts: GreOptions, payload: Payload): Layer {
  const declared = ethertypeOf(payload);
  const proto = opts.proto ?? (declared >= 0 ? declared : ETH_TYPE_TEB);
  assertUint(proto, 0xffff, "gre proto");
  return {
    kind: "gre",
    ethertype: -1,
    ipProto: IP_PROTO_GRE,
    encode: () => {
      const hasCsum = opts.checksum === true;
      const hasKey = opts.key !== undefined;
      const hasSeq = opts.seq !== undefined;
      const head = new Uint8Array(4 + (hasCsum ? 4 : 0) + (hasKey ? 4 : 0) + (hasSeq ? 4 : 0));
      put16(head, 0, (hasCsum ? 0x8000 : 0) | (hasKey ? 0x2000 : 0) | (hasSeq ? 0x1000 : 0));
      put16(head, 2, proto);
      let at = hasCsum ? 8 : 4;
      if (opts.key !== undefined) {
        put32(head, at, opts.key);
        at += 4;
      }
      if (opts.seq !== undefined) put32(head, at, opts.seq);
      const pkt = concat(head, encodePayload(payload, null));
      if (hasCsum) put16(pkt, 4, internetChecksum(pkt, 0, pkt.length));
      return pkt;
    },
  };
}
