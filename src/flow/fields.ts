/**
 * The field table: every match field flowplane knows, named as in
 * ovs-fields(7), with where it lives in the flow key (layout.ts), its width,
 * whether it takes a mask, and its prerequisites.
 *
 * One table serves the parser's tests, the ovs-ofctl syntax, the classifier
 * and trace: a field is (word, shift, bits). Fields of up to 32 bits sit in
 * one word at `shift`; wider fields span ceil(bits / 32) words, most
 * significant first, with `shift` 0.
 *
 * Prerequisites follow ovs-fields(7) "Field Prerequisites": a match on a
 * field is only meaningful (and only accepted by ovs-ofctl) when the match
 * also pins the fields the prerequisite names.
 */
import * as L from "./layout.js";

export type Prereq =
  | "none"
  | "arp" // dl_type=0x0806 or 0x8035
  | "ip" // dl_type=0x0800 or 0x86dd
  | "ipv4"
  | "ipv6"
  | "vlan" // vlan_tci has CFI set
  | "mpls" // dl_type=0x8847 or 0x8848
  | "tcp" // ip + nw_proto=6
  | "udp"
  | "sctp"
  | "l4" // tcp, udp or sctp (the generic tp_src/tp_dst)
  | "icmpv4"
  | "icmpv6"
  | "nd" // icmpv6, icmp_type 135 or 136, icmp_code 0
  | "nd_solicit"
  | "nd_advert"
  | "ct"; // ct_state has +trk (ct_nw_src and friends)

/** How a field's value is written in ovs-ofctl syntax. */
export type FieldKind = "decimal" | "hex" | "mac" | "ipv4" | "ipv6" | "port" | "ct_state" | "tcp_flags" | "frag";

export interface FieldDef {
  /** ovs-fields(7) name, e.g. "eth_src". */
  readonly name: string;
  /** Other accepted names: ovs-ofctl's older ones ("dl_src"), NXM/OXM names. */
  readonly aliases: readonly string[];
  readonly word: number;
  readonly shift: number;
  readonly bits: number;
  readonly maskable: boolean;
  readonly prereq: Prereq;
  readonly kind: FieldKind;
  /** Whether set_field/load/move may write it (ovs-fields "Read/Write"). */
  readonly writable: boolean;
}

function field(
  name: string,
  aliases: string[],
  word: number,
  shift: number,
  bits: number,
  maskable: boolean,
  prereq: Prereq,
  kind: FieldKind,
  writable = true,
): FieldDef {
  return { name, aliases, word, shift, bits, maskable, prereq, kind, writable };
}

const fields: FieldDef[] = [
  // Metadata.
  field("in_port", ["NXM_OF_IN_PORT"], L.W_IN_PORT, 0, 16, false, "none", "port"),
  field("in_port_oxm", ["OXM_OF_IN_PORT"], L.W_IN_PORT, 0, 32, false, "none", "port"),
  field("recirc_id", ["NXM_NX_RECIRC_ID"], L.W_RECIRC_ID, 0, 32, false, "none", "decimal", false),
  field("dp_hash", ["NXM_NX_DP_HASH"], L.W_DP_HASH, 0, 32, true, "none", "hex", false),
  field("skb_priority", [], L.W_SKB_PRIORITY, 0, 32, false, "none", "hex", false),
  field("pkt_mark", ["NXM_NX_PKT_MARK"], L.W_PKT_MARK, 0, 32, true, "none", "hex"),
  field("actset_output", ["ONFOXM_ET_ACTSET_OUTPUT"], L.W_ACTSET_OUTPUT, 0, 32, false, "none", "port", false),
  field("metadata", ["OXM_OF_METADATA"], L.W_METADATA, 0, 64, true, "none", "hex"),
  // Connection tracking (read-only except ct_mark/ct_label through ct(exec(...))).
  field("ct_state", ["NXM_NX_CT_STATE"], L.W_CT, 0, 8, true, "none", "ct_state", false),
  field("ct_nw_proto", ["NXM_NX_CT_NW_PROTO"], L.W_CT, 8, 8, false, "ct", "decimal", false),
  field("ct_zone", ["NXM_NX_CT_ZONE"], L.W_CT, 16, 16, false, "none", "hex", false),
  field("ct_mark", ["NXM_NX_CT_MARK"], L.W_CT_MARK, 0, 32, true, "none", "hex"),
  field("ct_label", ["NXM_NX_CT_LABEL"], L.W_CT_LABEL, 0, 128, true, "none", "hex"),
  field("ct_nw_src", ["NXM_NX_CT_NW_SRC"], L.W_CT_NW_SRC, 0, 32, true, "ct", "ipv4", false),
  field("ct_nw_dst", ["NXM_NX_CT_NW_DST"], L.W_CT_NW_DST, 0, 32, true, "ct", "ipv4", false),
  field("ct_ipv6_src", ["NXM_NX_CT_IPV6_SRC"], L.W_CT_IPV6_SRC, 0, 128, true, "ct", "ipv6", false),
  field("ct_ipv6_dst", ["NXM_NX_CT_IPV6_DST"], L.W_CT_IPV6_DST, 0, 128, true, "ct", "ipv6", false),
  field("ct_tp_src", ["NXM_NX_CT_TP_SRC"], L.W_CT_TP, 16, 16, true, "ct", "decimal", false),
  field("ct_tp_dst", ["NXM_NX_CT_TP_DST"], L.W_CT_TP, 0, 16, true, "ct", "decimal", false),
  // Tunnel metadata.
  field("tun_id", ["tunnel_id", "NXM_NX_TUN_ID", "OXM_OF_TUNNEL_ID"], L.W_TUN_ID, 0, 64, true, "none", "hex"),
  field("tun_src", ["NXM_NX_TUN_IPV4_SRC"], L.W_TUN_SRC, 0, 32, true, "none", "ipv4"),
  field("tun_dst", ["NXM_NX_TUN_IPV4_DST"], L.W_TUN_DST, 0, 32, true, "none", "ipv4"),
  field("tun_ipv6_src", ["NXM_NX_TUN_IPV6_SRC"], L.W_TUN_IPV6_SRC, 0, 128, true, "none", "ipv6"),
  field("tun_ipv6_dst", ["NXM_NX_TUN_IPV6_DST"], L.W_TUN_IPV6_DST, 0, 128, true, "none", "ipv6"),
  field("tun_flags", ["NXM_NX_TUN_FLAGS"], L.W_TUN_FLAGS, 16, 16, true, "none", "hex"),
  field("tun_tos", [], L.W_TUN_FLAGS, 8, 8, false, "none", "decimal"),
  field("tun_ttl", [], L.W_TUN_FLAGS, 0, 8, false, "none", "decimal"),
  // Layer 2.
  field("eth_src", ["dl_src", "NXM_OF_ETH_SRC", "OXM_OF_ETH_SRC"], L.W_DL_SRC, 0, 48, true, "none", "mac"),
  field("eth_dst", ["dl_dst", "NXM_OF_ETH_DST", "OXM_OF_ETH_DST"], L.W_DL_DST, 0, 48, true, "none", "mac"),
  field("eth_type", ["dl_type", "NXM_OF_ETH_TYPE", "OXM_OF_ETH_TYPE"], L.W_DL_TYPE, 0, 16, false, "none", "hex", false),
  field("vlan_tci", ["NXM_OF_VLAN_TCI"], L.W_VLAN0, 0, 16, true, "none", "hex"),
  // dl_vlan and dl_vlan_pcp are views of vlan_tci (ovs-fields(7) "VLAN fields").
  field("dl_vlan", [], L.W_VLAN0, 0, 12, false, "none", "decimal"),
  field("dl_vlan_pcp", [], L.W_VLAN0, 13, 3, false, "none", "decimal"),
  // vlan_vid is 13 bits: OFPVID_PRESENT (0x1000) is the CFI bit of the key.
  field("vlan_vid", ["OXM_OF_VLAN_VID"], L.W_VLAN0, 0, 13, true, "none", "decimal"),
  field("vlan_pcp", ["OXM_OF_VLAN_PCP"], L.W_VLAN0, 13, 3, false, "vlan", "decimal"),
  field("mpls_label", ["OXM_OF_MPLS_LABEL"], L.W_MPLS0, 12, 20, false, "mpls", "decimal"),
  field("mpls_tc", ["OXM_OF_MPLS_TC"], L.W_MPLS0, 9, 3, false, "mpls", "decimal"),
  field("mpls_bos", ["OXM_OF_MPLS_BOS"], L.W_MPLS0, 8, 1, false, "mpls", "decimal", false),
  field("mpls_ttl", ["NXM_NX_MPLS_TTL"], L.W_MPLS0, 0, 8, false, "mpls", "decimal"),
  // Layer 3.
  field("ip_src", ["nw_src", "NXM_OF_IP_SRC", "OXM_OF_IPV4_SRC"], L.W_NW_SRC, 0, 32, true, "ipv4", "ipv4"),
  field("ip_dst", ["nw_dst", "NXM_OF_IP_DST", "OXM_OF_IPV4_DST"], L.W_NW_DST, 0, 32, true, "ipv4", "ipv4"),
  field("ipv6_src", ["NXM_NX_IPV6_SRC", "OXM_OF_IPV6_SRC"], L.W_IPV6_SRC, 0, 128, true, "ipv6", "ipv6"),
  field("ipv6_dst", ["NXM_NX_IPV6_DST", "OXM_OF_IPV6_DST"], L.W_IPV6_DST, 0, 128, true, "ipv6", "ipv6"),
  field("ipv6_label", ["NXM_NX_IPV6_LABEL", "OXM_OF_IPV6_FLABEL"], L.W_IPV6_LABEL, 0, 20, true, "ipv6", "hex"),
  field("nw_proto", ["ip_proto", "NXM_OF_IP_PROTO", "OXM_OF_IP_PROTO"], L.W_NW, L.NW_PROTO_SHIFT, 8, false, "ip", "decimal", false),
  field("nw_ttl", ["NXM_NX_IP_TTL"], L.W_NW, L.NW_TTL_SHIFT, 8, false, "ip", "decimal"),
  // nw_tos is the whole TOS byte with the ECN bits zero; ip_dscp is the same 6 bits shifted down.
  field("nw_tos", ["NXM_OF_IP_TOS"], L.W_NW, L.NW_TOS_SHIFT, 8, false, "ip", "decimal"),
  field("ip_dscp", ["OXM_OF_IP_DSCP"], L.W_NW, L.NW_TOS_SHIFT + 2, 6, false, "ip", "decimal"),
  field("nw_ecn", ["ip_ecn", "NXM_NX_IP_ECN", "OXM_OF_IP_ECN"], L.W_NW, L.NW_TOS_SHIFT, 2, false, "ip", "decimal"),
  field("ip_frag", ["nw_frag", "NXM_NX_IP_FRAG"], L.W_NW, L.NW_FRAG_SHIFT, 2, true, "ip", "frag", false),
  field("arp_op", ["NXM_OF_ARP_OP", "OXM_OF_ARP_OP"], L.W_NW, L.NW_PROTO_SHIFT, 16, false, "arp", "decimal"),
  field("arp_spa", ["NXM_OF_ARP_SPA", "OXM_OF_ARP_SPA"], L.W_NW_SRC, 0, 32, true, "arp", "ipv4"),
  field("arp_tpa", ["NXM_OF_ARP_TPA", "OXM_OF_ARP_TPA"], L.W_NW_DST, 0, 32, true, "arp", "ipv4"),
  field("arp_sha", ["NXM_NX_ARP_SHA", "OXM_OF_ARP_SHA"], L.W_ARP_SHA, 0, 48, true, "arp", "mac"),
  field("arp_tha", ["NXM_NX_ARP_THA", "OXM_OF_ARP_THA"], L.W_ARP_THA, 0, 48, true, "arp", "mac"),
  // Layer 4.
  field("tcp_src", ["NXM_OF_TCP_SRC", "OXM_OF_TCP_SRC"], L.W_TP, 16, 16, true, "tcp", "decimal"),
  field("tcp_dst", ["NXM_OF_TCP_DST", "OXM_OF_TCP_DST"], L.W_TP, 0, 16, true, "tcp", "decimal"),
  field("tcp_flags", ["NXM_NX_TCP_FLAGS", "ONFOXM_ET_TCP_FLAGS"], L.W_TCP_FLAGS, 0, 12, true, "tcp", "tcp_flags", false),
  field("udp_src", ["NXM_OF_UDP_SRC", "OXM_OF_UDP_SRC"], L.W_TP, 16, 16, true, "udp", "decimal"),
  field("udp_dst", ["NXM_OF_UDP_DST", "OXM_OF_UDP_DST"], L.W_TP, 0, 16, true, "udp", "decimal"),
  field("sctp_src", ["OXM_OF_SCTP_SRC"], L.W_TP, 16, 16, true, "sctp", "decimal"),
  field("sctp_dst", ["OXM_OF_SCTP_DST"], L.W_TP, 0, 16, true, "sctp", "decimal"),
  // The generic names ovs-ofctl accepts for whichever of TCP/UDP/SCTP the match names.
  field("tp_src", [], L.W_TP, 16, 16, true, "l4", "decimal"),
  field("tp_dst", [], L.W_TP, 0, 16, true, "l4", "decimal"),
  field("icmp_type", ["icmpv4_type", "NXM_OF_ICMP_TYPE", "OXM_OF_ICMPV4_TYPE"], L.W_TP, 16, 8, false, "icmpv4", "decimal"),
  field("icmp_code", ["icmpv4_code", "NXM_OF_ICMP_CODE", "OXM_OF_ICMPV4_CODE"], L.W_TP, 0, 8, false, "icmpv4", "decimal"),
  field("icmpv6_type", ["NXM_NX_ICMPV6_TYPE", "OXM_OF_ICMPV6_TYPE"], L.W_TP, 16, 8, false, "icmpv6", "decimal"),
  field("icmpv6_code", ["NXM_NX_ICMPV6_CODE", "OXM_OF_ICMPV6_CODE"], L.W_TP, 0, 8, false, "icmpv6", "decimal"),
  field("nd_target", ["NXM_NX_ND_TARGET", "OXM_OF_IPV6_ND_TARGET"], L.W_ND_TARGET, 0, 128, true, "nd", "ipv6"),
  field("nd_sll", ["NXM_NX_ND_SLL", "OXM_OF_IPV6_ND_SLL"], L.W_ARP_SHA, 0, 48, true, "nd_solicit", "mac"),
  field("nd_tll", ["NXM_NX_ND_TLL", "OXM_OF_IPV6_ND_TLL"], L.W_ARP_THA, 0, 48, true, "nd_advert", "mac"),
  field("nd_reserved", ["ERICOXM_OF_ICMPV6_ND_RESERVED"], L.W_IGMP_GROUP, 0, 32, false, "nd", "decimal"),
  field("nd_options_type", ["ERICOXM_OF_ICMPV6_ND_OPTIONS_TYPE"], L.W_TCP_FLAGS, 0, 8, false, "nd", "decimal"),
];

// Registers: reg0-15 (32 bits), xreg0-7 (64 bits: reg2n:reg2n+1), xxreg0-3 (128 bits).
for (let i = 0; i < L.REGS_COUNT; i++) {
  fields.push(field(`reg${i}`, [`NXM_NX_REG${i}`], L.W_REGS + i, 0, 32, true, "none", "hex"));
}
for (let i = 0; i < L.REGS_COUNT / 2; i++) {
  fields.push(field(`xreg${i}`, [`OXM_OF_PKT_REG${i}`], L.W_REGS + 2 * i, 0, 64, true, "none", "hex"));
}
for (let i = 0; i < L.REGS_COUNT / 4; i++) {
  fields.push(field(`xxreg${i}`, [`NXM_NX_XXREG${i}`], L.W_REGS + 4 * i, 0, 128, true, "none", "hex"));
}

// Appended for the ovs-ofctl syntax: conj_id (the conjunction id a conjunctive flow matched).
fields.push(field("conj_id", ["NXM_NX_CONJ_ID"], L.W_CONJ_ID, 0, 32, false, "none", "decimal", false));

export const FIELDS: readonly FieldDef[] = fields;

const byName = new Map<string, FieldDef>();
for (const f of FIELDS) {
  byName.set(f.name.toLowerCase(), f);
  for (const a of f.aliases) byName.set(a.toLowerCase(), f);
}

/** Looks a field up by any of its names (case-insensitive, as OVS does for NXM names). */
export function findField(name: string): FieldDef | undefined {
  return byName.get(name.toLowerCase());
}

/** Number of key words a field spans. */
export function fieldWords(f: FieldDef): number {
  return f.bits <= 32 ? 1 : Math.ceil(f.bits / 32);
}

/** Reads a field of at most 32 bits from the key at `base` (control plane). */
export function readField32(key: Uint32Array, base: number, f: FieldDef): number {
  const w = key[base + f.word];
  return f.bits === 32 ? w : (w >>> f.shift) & ((1 << f.bits) - 1);
}

/** Reads any field as a bigint (control plane: syntax, trace, tests). */
export function readFieldBig(key: Uint32Array, base: number, f: FieldDef): bigint {
  if (f.bits <= 32) return BigInt(readField32(key, base, f));
  let v = 0n;
  const n = fieldWords(f);
  for (let i = 0; i < n; i++) v = (v << 32n) | BigInt(key[base + f.word + i]);
  return v & ((1n << BigInt(f.bits)) - 1n);
}

/** Writes a field from a bigint (control plane). */
export function writeFieldBig(key: Uint32Array, base: number, f: FieldDef, value: bigint): void {
  if (f.bits <= 32) {
    const m = (f.bits === 32 ? 0xffffffff : (1 << f.bits) - 1) >>> 0;
    const w = key[base + f.word];
    key[base + f.word] = ((w & ~(m << f.shift)) | ((Number(value) & m) << f.shift)) >>> 0;
    return;
  }
  const n = fieldWords(f);
  for (let i = n - 1; i >= 0; i--) {
    key[base + f.word + i] = Number(value & 0xffffffffn);
    value >>= 32n;
  }
}
