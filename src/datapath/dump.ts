/**
 * Megaflows in the text of `ovs-appctl dpctl/dump-flows` (lib/odp-util.c
 * odp_flow_format, the userspace datapath's key order): only the fields the
 * mask covers, "/mask" after a partially masked one, then statistics and
 * actions:
 *
 *   recirc_id(0),in_port(p1),packet_type(ns=0,id=0),eth_type(0x0800),
 *   ipv4(dst=10.0.0.2,proto=6,frag=no),tcp(dst=80), packets:0, bytes:0,
 *   used:never, actions:set(tcp(dst=99)),p2
 */
import * as L from "../flow/layout.js";
import { formatSet, formatOdpActions, type OdpAction, type SetAttr } from "./actions.js";
import { formatFlagsMasked, ctStateBitName, tcpFlagBitName, formatIPv4 } from "../flow/text.js";

export interface MegaflowText {
  key: Uint32Array;
  mask: Uint32Array;
  actions: readonly OdpAction[];
  packets: number;
  bytes: number;
  /** Milliseconds since last use, or -1 for never. */
  usedAgoMs: number;
}

/** Only the fields with a mask; frag's full mask is its two bits. */
function attr(attr: SetAttr, key: Uint32Array, mask: Uint32Array): string | null {
  const m = mask.slice();
  // ODP's frag mask is "all of it" when both flag bits are masked.
  const fragM = (m[L.W_NW] >>> L.NW_FRAG_SHIFT) & 0xff;
  if (fragM === (L.FRAG_ANY | L.FRAG_LATER)) m[L.W_NW] = (m[L.W_NW] | (0xff << L.NW_FRAG_SHIFT)) >>> 0;
  const text = formatSet({ attr, masked: true, value: key, mask: m });
  return text.endsWith("()") ? null : text;
}

/** The match part of a megaflow line. */
export function formatOdpKey(key: Uint32Array, mask: Uint32Array, portName: (dp: number) => string | undefined): string {
  const parts: string[] = [];
  const k = (w: number): number => key[w] >>> 0;
  const m = (w: number): number => mask[w] >>> 0;
  if (m(L.W_SKB_PRIORITY)) parts.push(`skb_priority(0x${k(L.W_SKB_PRIORITY).toString(16)}${m(L.W_SKB_PRIORITY) !== 0xffffffff ? `/0x${m(L.W_SKB_PRIORITY).toString(16)}` : ""})`);
  if (m(L.W_TUN_DST) || m(L.W_TUN_ID) || m(L.W_TUN_ID + 1)) {
    const id = (BigInt(k(L.W_TUN_ID)) << 32n) | BigInt(k(L.W_TUN_ID + 1));
    const t: string[] = [];
    if (m(L.W_TUN_ID) || m(L.W_TUN_ID + 1)) t.push(`tun_id=0x${id.toString(16)}`);
    if (m(L.W_TUN_SRC)) t.push(`src=${formatIPv4(k(L.W_TUN_SRC))}`);
    if (m(L.W_TUN_DST)) t.push(`dst=${formatIPv4(k(L.W_TUN_DST))}`);
    parts.push(`tunnel(${t.join(",")})`);
  }
  if (m(L.W_PKT_MARK)) parts.push(`skb_mark(0x${k(L.W_PKT_MARK).toString(16)}${m(L.W_PKT_MARK) !== 0xffffffff ? `/0x${m(L.W_PKT_MARK).toString(16)}` : ""})`);
  const ctM = m(L.W_CT) & 0xff;
  if (ctM) parts.push(`ct_state(${formatFlagsMasked(k(L.W_CT) & 0xff, ctM, -1, ctStateBitName).replace(/^([a-z])/, "+$1")})`);
  if (m(L.W_CT) >>> 16) parts.push(`ct_zone(0x${(k(L.W_CT) >>> 16).toString(16)}${m(L.W_CT) >>> 16 !== 0xffff ? `/0x${(m(L.W_CT) >>> 16).toString(16)}` : ""})`);
  if (m(L.W_CT_MARK)) parts.push(`ct_mark(0x${k(L.W_CT_MARK).toString(16)}${m(L.W_CT_MARK) !== 0xffffffff ? `/0x${m(L.W_CT_MARK).toString(16)}` : ""})`);
  const labelMask = big128(mask, L.W_CT_LABEL);
  if (labelMask) {
    const all = (1n << 128n) - 1n;
    parts.push(`ct_label(0x${big128(key, L.W_CT_LABEL).toString(16)}${labelMask !== all ? `/0x${labelMask.toString(16)}` : ""})`);
  }
  const tuple = ctTuple4(key, mask);
  if (tuple) parts.push(tuple);
  parts.push(`recirc_id(${k(L.W_RECIRC_ID) ? `0x${k(L.W_RECIRC_ID).toString(16)}` : "0"})`);
  if (m(L.W_DP_HASH)) parts.push(`dp_hash(0x${k(L.W_DP_HASH).toString(16)}/0x${m(L.W_DP_HASH).toString(16)})`);
  parts.push(`in_port(${portName(k(L.W_IN_PORT)) ?? k(L.W_IN_PORT)})`);
  parts.push("packet_type(ns=0,id=0)");
  const eth = attr("eth", key, mask);
  if (eth) parts.push(eth);
  const dlType = k(L.W_DL_TYPE) & 0xffff;
  let close = "";
  for (let i = 0; i < 2; i++) {
    const v = k(L.W_VLAN0 + i);
    const vm = m(L.W_VLAN0 + i);
    if (!(v & L.VLAN_CFI) || !vm) break;
    parts.push(`eth_type(0x${(v >>> 16).toString(16).padStart(4, "0")})`);
    const tci = v & 0xffff;
    const tm = vm & 0xffff;
    const vidFull = (tm & L.VLAN_VID_MASK) === L.VLAN_VID_MASK;
    const pcpFull = (tm & L.VLAN_PCP_MASK) === L.VLAN_PCP_MASK;
    const vp: string[] = [];
    if (tm & L.VLAN_VID_MASK) vp.push(`vid=${tci & L.VLAN_VID_MASK}${vidFull ? "" : `/0x${(tm & L.VLAN_VID_MASK).toString(16)}`}`);
    if (tm & L.VLAN_PCP_MASK) vp.push(`pcp=${tci >>> 13}${pcpFull ? "" : `/0x${(tm >>> 13).toString(16)}`}`);
    parts.push(`vlan(${vp.join(",")})`);
    parts.push("encap(");
    close += ")";
  }
  if (m(L.W_DL_TYPE) & 0xffff) parts.push(`eth_type(0x${dlType.toString(16).padStart(4, "0")})`);
  const isIp4 = dlType === L.ETH_TYPE_IP;
  const isIp6 = dlType === L.ETH_TYPE_IPV6;
  if (isIp4 || isIp6) {
    const ip = attr(isIp4 ? "ipv4" : "ipv6", key, mask);
    if (ip) parts.push(ip);
    const proto = k(L.W_NW) & 0xff;
    const l4: SetAttr | null =
      proto === L.IPPROTO_TCP ? "tcp" : proto === L.IPPROTO_UDP ? "udp" : proto === L.IPPROTO_SCTP ? "sctp" : proto === L.IPPROTO_ICMP && isIp4 ? "icmp" : proto === L.IPPROTO_ICMPV6 && isIp6 ? "icmpv6" : null;
    if (l4) {
      const t = attr(l4, key, mask);
      if (t) parts.push(t);
      if (l4 === "tcp" && m(L.W_TCP_FLAGS) & 0xfff) parts.push(`tcp_flags(${formatFlagsMasked(k(L.W_TCP_FLAGS) & 0xfff, m(L.W_TCP_FLAGS) & 0xfff, 0xfff, tcpFlagBitName)})`);
      if (l4 === "icmpv6") {
        const nd = attr("nd", key, mask);
        if (nd) parts.push(nd);
      }
    }
  } else if (dlType === L.ETH_TYPE_ARP || dlType === L.ETH_TYPE_RARP) {
    const a = attr("arp", key, mask);
    if (a) parts.push(a);
  }
  // encap( opens a nested list: no comma right after it.
  return parts.join(",").replace(/encap\(,/g, "encap(") + close;
}

/** 128 bits from four words, most significant first. */
function big128(w: Uint32Array, at: number): bigint {
  let v = 0n;
  for (let i = 0; i < 4; i++) v = (v << 32n) | BigInt(w[at + i] >>> 0);
  return v;
}

/** ct_tuple4(...): the original-direction tuple's masked fields (format_odp_ct_tuple4 style). */
function ctTuple4(key: Uint32Array, mask: Uint32Array): string | null {
  const f: string[] = [];
  const ip = (name: string, w: number): void => {
    const mk = mask[w] >>> 0;
    if (mk) f.push(`${name}=${formatIPv4(key[w] >>> 0)}${mk !== 0xffffffff ? `/${formatIPv4(mk)}` : ""}`);
  };
  const num = (name: string, v: number, mk: number, full: number): void => {
    if (mk) f.push(`${name}=${v}${mk !== full ? `/0x${mk.toString(16)}` : ""}`);
  };
  ip("src", L.W_CT_NW_SRC);
  ip("dst", L.W_CT_NW_DST);
  num("proto", (key[L.W_CT] >>> 8) & 0xff, (mask[L.W_CT] >>> 8) & 0xff, 0xff);
  num("tp_src", key[L.W_CT_TP] >>> 16, mask[L.W_CT_TP] >>> 16, 0xffff);
  num("tp_dst", key[L.W_CT_TP] & 0xffff, mask[L.W_CT_TP] & 0xffff, 0xffff);
  return f.length ? `ct_tuple4(${f.join(",")})` : null;
}

/** One line of dpctl/dump-flows. */
export function formatMegaflow(f: MegaflowText, portName: (dp: number) => string | undefined): string {
  const used = f.usedAgoMs < 0 ? "never" : `${(f.usedAgoMs / 1000).toFixed(3)}s`;
  return `${formatOdpKey(f.key, f.mask, portName)}, packets:${f.packets}, bytes:${f.bytes}, used:${used}, actions:${formatOdpActions(f.actions, portName)}`;
}
