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
import { VLAN_LIMIT_DEFAULT } from "../limits.js";

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
export function formatOdpKey(key: Uint32Array, mask: Uint32Array, portName: (dp: number) => string | undefined, vlanLimit = VLAN_LIMIT_DEFAULT): string {
  const parts: string[] = [];
  const k = (w: number): number => key[w] >>> 0;
  const m = (w: number): number => mask[w] >>> 0;
  if (m(L.W_SKB_PRIORITY)) parts.push(`skb_priority(${u32Masked(k(L.W_SKB_PRIORITY), m(L.W_SKB_PRIORITY), 0xffffffff)})`);
  if (m(L.W_TUN_DST) || m(L.W_TUN_ID) || m(L.W_TUN_ID + 1)) {
    const id = (BigInt(k(L.W_TUN_ID)) << 32n) | BigInt(k(L.W_TUN_ID + 1));
    const t: string[] = [];
    if (m(L.W_TUN_ID) || m(L.W_TUN_ID + 1)) t.push(`tun_id=0x${id.toString(16)}`);
    if (m(L.W_TUN_SRC)) t.push(`src=${formatIPv4(k(L.W_TUN_SRC))}`);
    if (m(L.W_TUN_DST)) t.push(`dst=${formatIPv4(k(L.W_TUN_DST))}`);
    parts.push(`tunnel(${t.join(",")})`);
  }
  if (m(L.W_PKT_MARK)) parts.push(`skb_mark(${u32Masked(k(L.W_PKT_MARK), m(L.W_PKT_MARK), 0xffffffff)})`);
  const ctM = m(L.W_CT) & 0xff;
  if (ctM) parts.push(`ct_state(${formatFlagsMasked(k(L.W_CT) & 0xff, ctM, -1, ctStateBitName).replace(/^([a-z])/, "+$1")})`);
  if (m(L.W_CT) >>> 16) parts.push(`ct_zone(${u32Masked(k(L.W_CT) >>> 16, m(L.W_CT) >>> 16, 0xffff)})`);
  if (m(L.W_CT_MARK)) parts.push(`ct_mark(${u32Masked(k(L.W_CT_MARK), m(L.W_CT_MARK), 0xffffffff)})`);
  const labelMask = big128(mask, L.W_CT_LABEL);
  if (labelMask) {
    const all = (1n << 128n) - 1n;
    parts.push(`ct_label(0x${big128(key, L.W_CT_LABEL).toString(16)}${labelMask !== all ? `/0x${labelMask.toString(16)}` : ""})`);
  }
  const tuple = ctTuple4(key, mask);
  if (tuple) parts.push(tuple);
  parts.push(`recirc_id(${hexC(k(L.W_RECIRC_ID))})`);
  if (m(L.W_DP_HASH)) parts.push(`dp_hash(${u32Masked(k(L.W_DP_HASH), m(L.W_DP_HASH), 0xffffffff)})`);
  parts.push(`in_port(${portName(k(L.W_IN_PORT)) ?? k(L.W_IN_PORT)})`);
  parts.push("packet_type(ns=0,id=0)");
  const eth = attr("eth", key, mask);
  if (eth) parts.push(eth);
  const dlType = k(L.W_DL_TYPE) & 0xffff;
  // The key's shape follows the packet (odp_flow_key_from_flow): eth_type,
  // vlan and encap( for each VLAN header up to the VLAN limit; a header cut
  // short (TCI 0 while the EtherType is still a TPID) ends the key there.
  let close = "";
  for (let i = 0; i < vlanLimit; i++) {
    const v = k(L.W_VLAN0 + i);
    const tci = v & 0xffff;
    if (tci === 0 && !isVlanType(dlType)) break;
    parts.push(`eth_type(0x${hex4(tci === 0 ? dlType : v >>> 16)})`);
    const tm = m(L.W_VLAN0 + i) & 0xffff;
    if (tm) parts.push(`vlan(${formatVlanTci(tci, tm)})`);
    parts.push("encap(");
    close += ")";
    if (tci === 0) return finish(parts, close);
  }
  // An 802.3 frame's key has no EtherType; nor do L3 attributes follow an
  // EtherType that is still a TPID (more tags than the VLAN limit).
  if (dlType < L.ETH_TYPE_MIN) {
    // The mask still has the EtherType; odp_flow_format shows it on its own.
    const typeM = m(L.W_DL_TYPE) & 0xffff;
    if (close === "" && typeM) parts.push(`eth_type(0/0x${hex4(typeM)})`);
    return finish(parts, close);
  }
  if (m(L.W_DL_TYPE) & 0xffff) parts.push(`eth_type(0x${hex4(dlType)})`);
  const isIp4 = dlType === L.ETH_TYPE_IP;
  const isIp6 = dlType === L.ETH_TYPE_IPV6;
  if (isIp4 || isIp6) {
    const ip = attr(isIp4 ? "ipv4" : "ipv6", key, mask);
    if (ip) parts.push(ip);
    // A later fragment's key ends at L3 (odp_flow_key_from_flow).
    if ((k(L.W_NW) >>> L.NW_FRAG_SHIFT) & L.FRAG_LATER) return finish(parts, close);
    const proto = k(L.W_NW) & 0xff;
    const l4: SetAttr | null =
      proto === L.IPPROTO_TCP ? "tcp" : proto === L.IPPROTO_UDP ? "udp" : proto === L.IPPROTO_SCTP ? "sctp" : proto === L.IPPROTO_ICMP && isIp4 ? "icmp" : proto === L.IPPROTO_ICMPV6 && isIp6 ? "icmpv6" : null;
    if (l4) {
      const t = attr(l4, key, mask);
      if (t) parts.push(t);
      if (l4 === "tcp" && m(L.W_TCP_FLAGS) & 0xfff) parts.push(`tcp_flags(${formatFlagsMasked(k(L.W_TCP_FLAGS) & 0xfff, m(L.W_TCP_FLAGS) & 0xfff, 0xfff, tcpFlagBitName)})`);
      // ND fields are part of the mask only when the ICMPv6 type and code
      // both are (odp_flow_key_from_flow: an exact match of both).
      const tp = k(L.W_TP);
      const isNd = (tp >>> 16 === 135 || tp >>> 16 === 136) && (tp & 0xffff) === 0;
      if (l4 === "icmpv6" && isNd && (m(L.W_TP) & 0x00ff00ff) === 0x00ff00ff) {
        const nd = attr("nd", key, mask);
        if (nd) parts.push(nd);
      }
    }
  } else if (dlType === L.ETH_TYPE_ARP || dlType === L.ETH_TYPE_RARP) {
    const a = attr("arp", key, mask);
    if (a) parts.push(a);
  }
  return finish(parts, close);
}

/** The attributes as one list; encap( opens a nested list, so no comma right after it. */
const finish = (parts: string[], close: string): string => parts.join(",").replace(/encap\(,/g, "encap(") + close;

const hex4 = (n: number): string => n.toString(16).padStart(4, "0");

/** C's "%#x", as odp-util prints these integers: zero is "0", anything else 0x-prefixed. */
const hexC = (n: number): string => (n === 0 ? "0" : `0x${(n >>> 0).toString(16)}`);

/** "value" or "value/mask" when the mask is not `full`. */
const u32Masked = (v: number, mask: number, full: number): string => `${hexC(v)}${mask !== full ? `/${hexC(mask)}` : ""}`;

const isVlanType = (t: number): boolean => t === L.ETH_TYPE_VLAN_8021Q || t === L.ETH_TYPE_VLAN_8021AD;

/**
 * A VLAN TCI and its mask as odp-util's format_vlan_tci writes them: VID and
 * PCP each when the key's or the mask's bits are non-zero (so a wildcarded
 * PCP of 3 reads "pcp=3/0x0"), "/mask" when partly masked, and "cfi=0" when
 * the key has no CFI bit.
 */
function formatVlanTci(tci: number, mask: number): string {
  const out: string[] = [];
  const vid = tci & L.VLAN_VID_MASK;
  const vidM = mask & L.VLAN_VID_MASK;
  if (vid || vidM) out.push(`vid=${vid}${vidM === L.VLAN_VID_MASK ? "" : `/0x${vidM.toString(16)}`}`);
  const pcp = tci >>> 13;
  const pcpM = (mask & L.VLAN_PCP_MASK) >>> 13;
  if (pcp || pcpM) out.push(`pcp=${pcp}${pcpM === 7 ? "" : `/0x${pcpM.toString(16)}`}`);
  if (!(tci & L.VLAN_CFI)) out.push("cfi=0");
  return out.join(",");
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

/**
 * One line of dpctl/dump-flows. The key's VLAN shape follows the default
 * vlan-limit, which is the limit the datapath parses with: neither replay
 * nor the daemon sets another (DatapathOptions.vlanLimit), as OVS's
 * other_config:vlan-limit defaults to 1. A datapath given another limit
 * must pass it to formatOdpKey too.
 */
export function formatMegaflow(f: MegaflowText, portName: (dp: number) => string | undefined): string {
  const used = f.usedAgoMs < 0 ? "never" : `${(f.usedAgoMs / 1000).toFixed(3)}s`;
  return `${formatOdpKey(f.key, f.mask, portName)}, packets:${f.packets}, bytes:${f.bytes}, used:${used}, actions:${formatOdpActions(f.actions, portName)}`;
}
