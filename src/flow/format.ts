/**
 * Text of a match (value + mask keys) in Open vSwitch's own order and
 * spelling (lib/match.c match_format), and of a packet's flow as
 * `ofproto/trace` prints it on its "Flow:" line (lib/flow.c flow_format).
 *
 * One formatter serves the trace Flow line, `flowplane flows`, dump-flows
 * and megaflow dumps: they differ only in the mask they pass. Control plane
 * only (builds strings).
 */
import * as L from "./layout.js";
import {
  formatMac,
  formatIPv4Masked,
  formatIPv6Masked,
  formatPort,
  formatFlags,
  formatFlagsMasked,
  ctStateBitName,
  tcpFlagBitName,
} from "./text.js";

export interface FormatOptions {
  /** Names for port numbers (dump-flows --names); numbers when absent. */
  portName?: (port: number) => string | undefined;
  /** Printed first as "priority=N," when given and not the default 32768. */
  priority?: number;
  /** Print the packet type ("eth") as OVS does for megaflows (after recirc_id and ct fields). */
  packetTypeEth?: boolean;
}

/** One printed item: `name=value`, or a bare keyword such as "tcp" when value is null. */
export interface MatchItem {
  name: string;
  value: string | null;
}

const hex = (n: number): string => (n >>> 0).toString(16);

/**
 * ofputil_format_port with OVS's quoting of names (namemap_put_name): a name
 * is printed bare only when it is a letter followed by letters and digits,
 * otherwise as a JSON string ("qvoebeae637-5c"). Reserved ports keep their
 * names.
 */
export function formatPortName(port: number, portName?: (port: number) => string | undefined): string {
  const plain = formatPort(port);
  if (!/^\d+$/.test(plain)) return plain;
  const name = portName?.(port);
  if (name === undefined) return plain;
  return /^[A-Za-z][A-Za-z0-9]*$/.test(name) ? name : JSON.stringify(name);
}

/** The match as OVS prints it: "tcp,in_port=1,...". */
export function formatMatch(v: Uint32Array, vb: number, m: Uint32Array, mb: number, opts: FormatOptions = {}): string {
  return matchItems(v, vb, m, mb, opts)
    .map((it) => (it.value === null ? it.name : `${it.name}=${it.value}`))
    .join(",");
}

/** The items of formatMatch in order (for --json output). */
export function matchItems(v: Uint32Array, vb: number, m: Uint32Array, mb: number, opts: FormatOptions = {}): MatchItem[] {
  const out: MatchItem[] = [];
  const put = (name: string, value: string | null): void => {
    out.push({ name, value });
  };
  const val = (w: number): number => v[vb + w] >>> 0;
  const msk = (w: number): number => m[mb + w] >>> 0;
  const bits = (x: number, shift: number, width: number): number => (x >>> shift) & ((1 << width) - 1);

  // format_uint32_masked: "%#x" value, "/%#x" mask when partial.
  const u32 = (name: string, w: number): void => {
    const mv = msk(w);
    if (!mv) return;
    const x = val(w);
    put(name, (x ? `0x${hex(x)}` : "0") + (mv !== 0xffffffff ? `/0x${hex(mv)}` : ""));
  };
  const be16 = (name: string, x: number, mask: number): void => {
    if (!mask) return;
    put(name, mask === 0xffff ? String(x) : `0x${hex(x)}/0x${hex(mask)}`);
  };
  const be64 = (name: string, w: number): void => {
    const mh = msk(w);
    const ml = msk(w + 1);
    if (!mh && !ml) return;
    const x = (BigInt(val(w)) << 32n) | BigInt(val(w + 1));
    const mk = (BigInt(mh) << 32n) | BigInt(ml);
    const xs = x ? `0x${x.toString(16)}` : "0";
    put(name, xs + (mk !== 0xffffffffffffffffn ? `/0x${mk.toString(16)}` : ""));
  };
  const ip = (name: string, w: number): void => {
    if (msk(w)) put(name, formatIPv4Masked(val(w), msk(w)));
  };
  const ipv6 = (name: string, w: number): void => {
    if (msk(w) | msk(w + 1) | msk(w + 2) | msk(w + 3)) put(name, formatIPv6Masked(v, vb + w, m, mb + w));
  };
  const eth = (name: string, w: number): void => {
    const mh = msk(w) & 0xffff;
    const ml = msk(w + 1);
    if (!mh && !ml) return;
    let s = formatMac(val(w), val(w + 1));
    if (mh !== 0xffff || ml !== 0xffffffff) s += `/${formatMac(mh, ml)}`;
    put(name, s);
  };

  if (opts.priority !== undefined && opts.priority !== 32768) put("priority", String(opts.priority));
  u32("pkt_mark", L.W_PKT_MARK);
  u32("recirc_id", L.W_RECIRC_ID);
  u32("dp_hash", L.W_DP_HASH);
  if (msk(L.W_CONJ_ID)) put("conj_id", String(val(L.W_CONJ_ID)));
  if (msk(L.W_SKB_PRIORITY)) put("skb_priority", `0x${hex(val(L.W_SKB_PRIORITY))}`.replace(/^0x0$/, "0"));
  if (msk(L.W_ACTSET_OUTPUT)) put("actset_output", formatPortName(val(L.W_ACTSET_OUTPUT), opts.portName));

  const ctWord = val(L.W_CT);
  const ctMaskWord = msk(L.W_CT);
  const ctStateMask = bits(ctMaskWord, 0, 8);
  if (ctStateMask) {
    const st = bits(ctWord, 0, 8);
    put("ct_state", ctStateMask === 0xff ? formatFlags(st, ctStateBitName) : formatFlagsMasked(st, ctStateMask, 0xff, ctStateBitName));
  }
  const ctZoneMask = bits(ctMaskWord, 16, 16);
  if (ctZoneMask) {
    const z = bits(ctWord, 16, 16);
    put("ct_zone", ctZoneMask === 0xffff ? String(z) : `0x${hex(z)}/0x${hex(ctZoneMask)}`);
  }
  u32("ct_mark", L.W_CT_MARK);
  if (msk(L.W_CT_LABEL) | msk(L.W_CT_LABEL + 1) | msk(L.W_CT_LABEL + 2) | msk(L.W_CT_LABEL + 3)) {
    const words = (arr: Uint32Array, b: number): string =>
      [0, 1, 2, 3].map((i) => (arr[b + L.W_CT_LABEL + i] >>> 0).toString(16).padStart(8, "0")).join("");
    const full = [0, 1, 2, 3].every((i) => msk(L.W_CT_LABEL + i) === 0xffffffff);
    // ds_put_hex prints the 128-bit value without leading zero bytes.
    const trim = (s: string): string => {
      const t = s.replace(/^0+/, "");
      return t === "" ? "0" : "0x" + t;
    };
    put("ct_label", trim(words(v, vb)) + (full ? "" : "/" + trim(words(m, mb))));
  }
  ip("ct_nw_src", L.W_CT_NW_SRC);
  ipv6("ct_ipv6_src", L.W_CT_IPV6_SRC);
  ip("ct_nw_dst", L.W_CT_NW_DST);
  ipv6("ct_ipv6_dst", L.W_CT_IPV6_DST);
  if (bits(ctMaskWord, 8, 8)) {
    put("ct_nw_proto", String(bits(ctWord, 8, 8)));
    be16("ct_tp_src", bits(val(L.W_CT_TP), 16, 16), bits(msk(L.W_CT_TP), 16, 16));
    be16("ct_tp_dst", bits(val(L.W_CT_TP), 0, 16), bits(msk(L.W_CT_TP), 0, 16));
  }

  if (opts.packetTypeEth) put("eth", null);

  // dl_type and nw_proto shortcuts ("tcp", "icmp6", "arp", ...).
  const dlType = val(L.W_DL_TYPE) & 0xffff;
  const nw = val(L.W_NW);
  const nwMask = msk(L.W_NW);
  const nwProto = bits(nw, L.NW_PROTO_SHIFT, 8);
  const nwProtoMasked = bits(nwMask, L.NW_PROTO_SHIFT, 8) !== 0;
  let skipType = false;
  let skipProto = false;
  if (msk(L.W_DL_TYPE) & 0xffff) {
    skipType = true;
    if (dlType === L.ETH_TYPE_IP || dlType === L.ETH_TYPE_IPV6) {
      const v6 = dlType === L.ETH_TYPE_IPV6;
      let name = v6 ? "ipv6" : "ip";
      if (nwProtoMasked) {
        skipProto = true;
        if (nwProto === (v6 ? L.IPPROTO_ICMPV6 : L.IPPROTO_ICMP)) name = v6 ? "icmp6" : "icmp";
        else if (nwProto === L.IPPROTO_TCP) name = v6 ? "tcp6" : "tcp";
        else if (nwProto === L.IPPROTO_UDP) name = v6 ? "udp6" : "udp";
        else if (nwProto === L.IPPROTO_SCTP) name = v6 ? "sctp6" : "sctp";
        else skipProto = false;
      }
      put(name, null);
    } else if (dlType === L.ETH_TYPE_ARP) put("arp", null);
    else if (dlType === L.ETH_TYPE_RARP) put("rarp", null);
    else if (dlType === L.ETH_TYPE_MPLS) put("mpls", null);
    else if (dlType === L.ETH_TYPE_MPLS_MCAST) put("mplsm", null);
    else skipType = false;
  }

  for (let i = 0; i < L.REGS_COUNT; i++) u32(`reg${i}`, L.W_REGS + i);

  // Tunnel (format_flow_tunnel).
  be64("tun_id", L.W_TUN_ID);
  ip("tun_src", L.W_TUN_SRC);
  ip("tun_dst", L.W_TUN_DST);
  ipv6("tun_ipv6_src", L.W_TUN_IPV6_SRC);
  ipv6("tun_ipv6_dst", L.W_TUN_IPV6_DST);
  const tf = val(L.W_TUN_FLAGS);
  const tfm = msk(L.W_TUN_FLAGS);
  if (bits(tfm, 8, 8)) put("tun_tos", hex(bits(tf, 8, 8)));
  if (bits(tfm, 0, 8)) put("tun_ttl", String(bits(tf, 0, 8)));
  // match_format prints the tunnel flags under FLOW_TNL_F_MASK (oam, df, csum, key), so a
  // match on oam alone (the only flag a flow may match) prints as "+oam" or "-oam".
  if (bits(tfm, 16, 16) & 0xf) {
    const tunFlagName = (b: number): string | undefined => ["oam", "df", "csum", "key"][31 - Math.clz32(b)];
    put("tun_flags", formatFlagsMasked(bits(tf, 16, 16) & 0xf, bits(tfm, 16, 16) & 0xf, 0xf, tunFlagName));
  }

  be64("metadata", L.W_METADATA);
  if (msk(L.W_IN_PORT)) put("in_port", formatPortName(val(L.W_IN_PORT), opts.portName));

  // VLAN tags as dl_vlan/dl_vlan_pcp when exact and present, else vlan_tci.
  for (let i = 0; i < 2; i++) {
    const tciMask = msk(L.W_VLAN0 + i) & 0xffff;
    if (!tciMask) break;
    // In a megaflow, "no tag here" is matched on the tag-present bit (OVS gets the same from its exact outer
    // ethertype) and OVS's text shows nothing for it.
    if (opts.packetTypeEth && tciMask === L.VLAN_CFI && !(val(L.W_VLAN0 + i) & L.VLAN_CFI)) break;
    const tci = val(L.W_VLAN0 + i) & 0xffff;
    const suffix = i === 0 ? "" : String(i);
    const vidMask = tciMask & L.VLAN_VID_MASK;
    const pcpMask = tciMask & L.VLAN_PCP_MASK;
    if (
      tciMask & L.VLAN_CFI &&
      tci & L.VLAN_CFI &&
      (!vidMask || vidMask === L.VLAN_VID_MASK) &&
      (!pcpMask || pcpMask === L.VLAN_PCP_MASK) &&
      (vidMask || pcpMask)
    ) {
      if (vidMask) put(`dl_vlan${suffix}`, String(tci & L.VLAN_VID_MASK));
      if (pcpMask) put(`dl_vlan_pcp${suffix}`, String(tci >>> 13));
    } else if (tciMask === 0xffff) {
      put(`vlan_tci${suffix}`, `0x${tci.toString(16).padStart(4, "0")}`);
    } else {
      put(`vlan_tci${suffix}`, `0x${tci.toString(16).padStart(4, "0")}/0x${tciMask.toString(16).padStart(4, "0")}`);
    }
  }

  eth("dl_src", L.W_DL_SRC);
  eth("dl_dst", L.W_DL_DST);
  if (!skipType && msk(L.W_DL_TYPE) & 0xffff) put("dl_type", `0x${dlType.toString(16).padStart(4, "0")}`);

  const isArp = dlType === L.ETH_TYPE_ARP || dlType === L.ETH_TYPE_RARP;
  if (dlType === L.ETH_TYPE_IPV6) {
    ipv6("ipv6_src", L.W_IPV6_SRC);
    ipv6("ipv6_dst", L.W_IPV6_DST);
    const lm = msk(L.W_IPV6_LABEL);
    if (lm) {
      const lv = val(L.W_IPV6_LABEL);
      put("ipv6_label", `0x${hex(lv).padStart(5, "0")}` + ((lm & 0xfffff) === 0xfffff ? "" : `/0x${hex(lm).padStart(5, "0")}`));
    }
  } else if (isArp) {
    ip("arp_spa", L.W_NW_SRC);
    ip("arp_tpa", L.W_NW_DST);
  } else {
    ip("nw_src", L.W_NW_SRC);
    ip("nw_dst", L.W_NW_DST);
  }
  if (!skipProto && nwProtoMasked) put(isArp ? "arp_op" : "nw_proto", String(nwProto));
  if (isArp) {
    eth("arp_sha", L.W_ARP_SHA);
    eth("arp_tha", L.W_ARP_THA);
  }
  const tos = bits(nw, L.NW_TOS_SHIFT, 8);
  const tosMask = bits(nwMask, L.NW_TOS_SHIFT, 8);
  if (tosMask & 0xfc) put("nw_tos", String(tos & 0xfc));
  if (tosMask & 0x03) put("nw_ecn", String(tos & 0x03));
  if (bits(nwMask, L.NW_TTL_SHIFT, 8)) put("nw_ttl", String(bits(nw, L.NW_TTL_SHIFT, 8)));

  const lse = val(L.W_MPLS0);
  const lseMask = msk(L.W_MPLS0);
  if (lseMask & 0xfffff000) put("mpls_label", String(lse >>> 12));
  if (lseMask & 0x00000e00) put("mpls_tc", String((lse >>> 9) & 7));
  if (lseMask & 0x000000ff) put("mpls_ttl", String(lse & 0xff));
  if (lseMask & 0x00000100) put("mpls_bos", String((lse >>> 8) & 1));
  for (let i = 1; i < 3; i++) {
    const mv = msk(L.W_MPLS0 + i);
    if (mv) put(`mpls_lse${i}`, mv === 0xffffffff ? String(val(L.W_MPLS0 + i)) : `0x${hex(val(L.W_MPLS0 + i)).padStart(8, "0")}/0x${hex(mv).padStart(8, "0")}`);
  }

  const frag = bits(nw, L.NW_FRAG_SHIFT, 8);
  const fragMask = bits(nwMask, L.NW_FRAG_SHIFT, 8) & (L.FRAG_ANY | L.FRAG_LATER);
  if (fragMask === (L.FRAG_ANY | L.FRAG_LATER)) {
    put("nw_frag", frag & L.FRAG_ANY ? (frag & L.FRAG_LATER ? "later" : "first") : frag & L.FRAG_LATER ? "<error>" : "no");
  } else if (fragMask === L.FRAG_ANY) {
    put("nw_frag", frag & L.FRAG_ANY ? "yes" : "no");
  } else if (fragMask === L.FRAG_LATER) {
    put("nw_frag", frag & L.FRAG_LATER ? "later" : "not_later");
  }

  const tp = val(L.W_TP);
  const tpMask = msk(L.W_TP);
  const tpSrc = tp >>> 16;
  const tpDst = tp & 0xffff;
  if (dlType === L.ETH_TYPE_IP && nwProto === L.IPPROTO_ICMP) {
    be16("icmp_type", tpSrc, tpMask >>> 16);
    be16("icmp_code", tpDst, tpMask & 0xffff);
  } else if (dlType === L.ETH_TYPE_IPV6 && nwProto === L.IPPROTO_ICMPV6) {
    be16("icmp_type", tpSrc, tpMask >>> 16);
    be16("icmp_code", tpDst, tpMask & 0xffff);
    ipv6("nd_target", L.W_ND_TARGET);
    eth("nd_sll", L.W_ARP_SHA);
    eth("nd_tll", L.W_ARP_THA);
    const rm = msk(L.W_IGMP_GROUP);
    if (rm) put("nd_reserved", rm === 0xffffffff ? String(val(L.W_IGMP_GROUP)) : `0x${hex(val(L.W_IGMP_GROUP)).padStart(8, "0")}/0x${hex(rm).padStart(8, "0")}`);
    be16("nd_options_type", val(L.W_TCP_FLAGS) & 0xffff, msk(L.W_TCP_FLAGS) & 0xffff);
  } else {
    be16("tp_src", tpSrc, tpMask >>> 16);
    be16("tp_dst", tpDst, tpMask & 0xffff);
  }
  const isIp = dlType === L.ETH_TYPE_IP || dlType === L.ETH_TYPE_IPV6;
  const flagsMask = msk(L.W_TCP_FLAGS) & 0x0fff;
  if (isIp && nwProto === L.IPPROTO_TCP && flagsMask) {
    put("tcp_flags", formatFlagsMasked(val(L.W_TCP_FLAGS) & 0x0fff, flagsMask, 0x0fff, tcpFlagBitName));
  }
  return out;
}

/**
 * The mask OVS uses to print a packet's flow (flow_wildcards_init_for_packet
 * followed by flow_format's unmasking of zero metadata): every field the
 * packet's headers make meaningful, plus non-zero metadata.
 */
export function packetMask(key: Uint32Array, kb: number, mask: Uint32Array, mb: number): void {
  mask.fill(0, mb, mb + L.KEY_WORDS);
  const set = (w: number, m = 0xffffffff): void => {
    mask[mb + w] = (mask[mb + w] | m) >>> 0;
  };
  const k = (w: number): number => key[kb + w] >>> 0;

  // Tunnel: only when a tunnel destination is set (or a bare tun_id).
  const tunnel = k(L.W_TUN_DST) !== 0 || [0, 1, 2, 3].some((i) => k(L.W_TUN_IPV6_DST + i) !== 0);
  if (tunnel) {
    for (const w of [L.W_TUN_ID, L.W_TUN_ID + 1, L.W_TUN_SRC, L.W_TUN_DST, L.W_TUN_FLAGS, L.W_TUN_TP]) set(w);
    for (let i = 0; i < 4; i++) {
      set(L.W_TUN_IPV6_SRC + i);
      set(L.W_TUN_IPV6_DST + i);
    }
  } else if (k(L.W_TUN_ID) || k(L.W_TUN_ID + 1)) {
    set(L.W_TUN_ID);
    set(L.W_TUN_ID + 1);
  }

  // Datapath metadata, shown only when non-zero (flow_format).
  for (const w of [L.W_SKB_PRIORITY, L.W_PKT_MARK, L.W_RECIRC_ID, L.W_DP_HASH, L.W_IN_PORT, L.W_CT_MARK]) if (k(w)) set(w);
  const ct = k(L.W_CT);
  if (ct & 0xff) set(L.W_CT, 0xff);
  if (ct & 0xffff0000) set(L.W_CT, 0xffff0000);
  for (let i = 0; i < 4; i++) if (k(L.W_CT_LABEL + i)) for (let j = 0; j < 4; j++) set(L.W_CT_LABEL + j);
  for (let i = 0; i < L.REGS_COUNT; i++) if (k(L.W_REGS + i)) set(L.W_REGS + i);
  if (k(L.W_METADATA) || k(L.W_METADATA + 1)) {
    set(L.W_METADATA);
    set(L.W_METADATA + 1);
  }

  set(L.W_DL_DST, 0xffff);
  set(L.W_DL_DST + 1);
  set(L.W_DL_SRC, 0xffff);
  set(L.W_DL_SRC + 1);
  set(L.W_DL_TYPE, 0xffff);
  // Always show the first VLAN tag slot, and the next one after a present tag.
  for (let i = 0; i < 2; i++) {
    set(L.W_VLAN0 + i, 0xffff);
    if ((k(L.W_VLAN0 + i) & 0xffff) === 0) break;
  }

  const dlType = k(L.W_DL_TYPE) & 0xffff;
  const nw = k(L.W_NW);
  const nwProto = nw & 0xff;
  if (dlType === L.ETH_TYPE_IP) {
    set(L.W_NW_SRC);
    set(L.W_NW_DST);
  } else if (dlType === L.ETH_TYPE_IPV6) {
    for (let i = 0; i < 4; i++) {
      set(L.W_IPV6_SRC + i);
      set(L.W_IPV6_DST + i);
    }
    set(L.W_IPV6_LABEL, 0xfffff);
    const tp = k(L.W_TP);
    const isNd = nwProto === L.IPPROTO_ICMPV6 && (tp & 0xffff) === 0 && (tp >>> 16 === 135 || tp >>> 16 === 136);
    if (isNd) {
      for (let i = 0; i < 2; i++) {
        set(L.W_ARP_SHA + i, i === 0 ? 0xffff : 0xffffffff);
        set(L.W_ARP_THA + i, i === 0 ? 0xffff : 0xffffffff);
      }
      for (let i = 0; i < 4; i++) set(L.W_ND_TARGET + i);
    }
  } else if (dlType === L.ETH_TYPE_ARP || dlType === L.ETH_TYPE_RARP) {
    set(L.W_NW_SRC);
    set(L.W_NW_DST);
    set(L.W_NW, 0xff << L.NW_PROTO_SHIFT);
    set(L.W_ARP_SHA, 0xffff);
    set(L.W_ARP_SHA + 1);
    set(L.W_ARP_THA, 0xffff);
    set(L.W_ARP_THA + 1);
    return;
  } else if (dlType === L.ETH_TYPE_MPLS || dlType === L.ETH_TYPE_MPLS_MCAST) {
    for (let i = 0; i < 3; i++) {
      set(L.W_MPLS0 + i);
      if (k(L.W_MPLS0 + i) & 0x100) break;
    }
    return;
  } else {
    return;
  }

  // IPv4 or IPv6.
  set(L.W_NW, (((L.FRAG_ANY | L.FRAG_LATER) << L.NW_FRAG_SHIFT) | (0xff << L.NW_TOS_SHIFT) | (0xff << L.NW_TTL_SHIFT) | 0xff) >>> 0);
  const frag = (nw >>> L.NW_FRAG_SHIFT) & 0xff;
  if (
    !(frag & L.FRAG_LATER) &&
    (nwProto === L.IPPROTO_ICMP ||
      nwProto === L.IPPROTO_ICMPV6 ||
      nwProto === L.IPPROTO_TCP ||
      nwProto === L.IPPROTO_UDP ||
      nwProto === L.IPPROTO_SCTP ||
      nwProto === L.IPPROTO_IGMP)
  ) {
    set(L.W_TP);
    if (nwProto === L.IPPROTO_TCP) set(L.W_TCP_FLAGS, 0x0fff);
    else if (nwProto === L.IPPROTO_IGMP) set(L.W_IGMP_GROUP);
  }
}

/** The packet's flow as the "Flow:" line of `ovs-appctl ofproto/trace` prints it. */
export function formatPacketFlow(key: Uint32Array, kb: number, opts: FormatOptions = {}): string {
  const mask = new Uint32Array(L.KEY_WORDS);
  packetMask(key, kb, mask, 0);
  return formatMatch(key, kb, mask, 0, opts);
}

/** The same items as formatPacketFlow, for JSON output. */
export function packetFlowItems(key: Uint32Array, kb: number, opts: FormatOptions = {}): MatchItem[] {
  const mask = new Uint32Array(L.KEY_WORDS);
  packetMask(key, kb, mask, 0);
  return matchItems(key, kb, mask, 0, opts);
}
