/**
 * The flow key: one fixed layout of 32-bit words that every stage shares.
 *
 * A packet's key is KEY_WORDS consecutive words in a Uint32Array (a batch's
 * keys are one array, key i at i * KEY_WORDS). A match is a value key plus a
 * mask key of the same layout, so the parser, the classifier, the megaflow
 * cache and the ovs-ofctl syntax all speak one representation (OVS's
 * `struct flow` and `struct flow_wildcards`).
 *
 * Invariants:
 * - Words [0, DP_WORDS) are the datapath key: what a packet carries into the
 *   datapath (metadata, tunnel, L2-L4 headers). The caches hash and compare
 *   only these. Words [DP_WORDS, KEY_WORDS) exist only during translation
 *   (registers, OpenFlow metadata): they are zero when a packet enters.
 * - Fields wider than 32 bits span consecutive words, most significant word
 *   first; a 48-bit MAC keeps its top 16 bits in the low half of its first
 *   word. Narrow fields share a word at a fixed shift (see fields.ts).
 * - A field the packet does not have is zero, as in OVS.
 *
 *   word  contents
 *   ----  ---------------------------------------------------------------
 *     0   in_port
 *     1   recirc_id
 *     2   dp_hash
 *     3   skb_priority
 *     4   pkt_mark
 *     5   ct_zone:16 | ct_nw_proto:8 | ct_state:8
 *     6   ct_mark
 *   7-10  ct_label (128 bits)
 *    11   ct_nw_src        12  ct_nw_dst
 *  13-16  ct_ipv6_src   17-20  ct_ipv6_dst
 *    21   ct_tp_src:16 | ct_tp_dst:16
 *  22-23  tun_id (64 bits)
 *    24   tun_src          25  tun_dst
 *  26-29  tun_ipv6_src  30-33  tun_ipv6_dst
 *    34   tun_flags:16 | tun_tos:8 | tun_ttl:8
 *    35   tun_tp_src:16 | tun_tp_dst:16
 *  36-37  dl_dst        38-39  dl_src
 *    40   dl_type (low 16)
 *    41   vlan 0: tpid:16 | tci:16 (tci has CFI set when a tag is present)
 *    42   vlan 1: tpid:16 | tci:16
 *  43-45  mpls_lse 0..2
 *    46   nw_src / arp_spa  47  nw_dst / arp_tpa
 *  48-51  ipv6_src      52-55  ipv6_dst
 *    56   ipv6_label (low 20)
 *    57   nw_frag:8 | nw_tos:8 | nw_ttl:8 | nw_proto:8 (nw_proto is arp_op for ARP)
 *  58-59  arp_sha / nd_sll  60-61  arp_tha / nd_tll
 *  62-65  nd_target
 *    66   tp_src:16 | tp_dst:16 (ICMP type/code live here too)
 *    67   tcp_flags (low 12 bits) / nd_options_type
 *    68   igmp_group_ip4 / nd_reserved
 *  ---- DP_WORDS = 69 ----
 *  69-84  reg0 .. reg15
 *  85-86  metadata (64 bits)
 *    87   actset_output
 *    88   conj_id
 */
export const W_IN_PORT = 0;
export const W_RECIRC_ID = 1;
export const W_DP_HASH = 2;
export const W_SKB_PRIORITY = 3;
export const W_PKT_MARK = 4;
export const W_CT = 5;
export const W_CT_MARK = 6;
export const W_CT_LABEL = 7;
export const W_CT_NW_SRC = 11;
export const W_CT_NW_DST = 12;
export const W_CT_IPV6_SRC = 13;
export const W_CT_IPV6_DST = 17;
export const W_CT_TP = 21;
export const W_TUN_ID = 22;
export const W_TUN_SRC = 24;
export const W_TUN_DST = 25;
export const W_TUN_IPV6_SRC = 26;
export const W_TUN_IPV6_DST = 30;
export const W_TUN_FLAGS = 34;
export const W_TUN_TP = 35;
export const W_DL_DST = 36;
export const W_DL_SRC = 38;
export const W_DL_TYPE = 40;
export const W_VLAN0 = 41;
export const W_VLAN1 = 42;
export const W_MPLS0 = 43;
export const W_NW_SRC = 46;
export const W_NW_DST = 47;
export const W_IPV6_SRC = 48;
export const W_IPV6_DST = 52;
export const W_IPV6_LABEL = 56;
export const W_NW = 57;
export const W_ARP_SHA = 58;
export const W_ARP_THA = 60;
export const W_ND_TARGET = 62;
export const W_TP = 66;
export const W_TCP_FLAGS = 67;
export const W_IGMP_GROUP = 68;
export const DP_WORDS = 69;
export const W_REGS = 69;
export const REGS_COUNT = 16;
export const W_METADATA = 85;
export const W_ACTSET_OUTPUT = 87;
export const W_CONJ_ID = 88;
export const KEY_WORDS = 89;

/** Bits of word W_NW. */
export const NW_PROTO_SHIFT = 0;
export const NW_TTL_SHIFT = 8;
export const NW_TOS_SHIFT = 16;
export const NW_FRAG_SHIFT = 24;

/** nw_frag bits (ovs-fields(7) "ip_frag"): ANY for every fragment, LATER
 * for fragments other than the first. */
export const FRAG_ANY = 1;
export const FRAG_LATER = 2;

/** VLAN TCI bits (IEEE 802.1Q): PCP:3 | CFI/DEI:1 | VID:12. OVS sets CFI in
 * the key to say "a tag is present", so 0x0000 means no tag. */
export const VLAN_CFI = 0x1000;
export const VLAN_VID_MASK = 0x0fff;
export const VLAN_PCP_MASK = 0xe000;

/** Ethertypes the parser and the formatter care about. */
export const ETH_TYPE_IP = 0x0800;
export const ETH_TYPE_ARP = 0x0806;
export const ETH_TYPE_RARP = 0x8035;
export const ETH_TYPE_VLAN_8021Q = 0x8100;
export const ETH_TYPE_VLAN_8021AD = 0x88a8;
export const ETH_TYPE_IPV6 = 0x86dd;
export const ETH_TYPE_MPLS = 0x8847;
export const ETH_TYPE_MPLS_MCAST = 0x8848;
export const ETH_TYPE_NSH = 0x894f;
/** OVS's FLOW_DL_TYPE_NONE: an 802.3 frame without a SNAP ethertype. */
export const ETH_TYPE_NONE = 0x05ff;
/** Ethertypes below this are 802.3 lengths. */
export const ETH_TYPE_MIN = 0x0600;

export const IPPROTO_HOPOPTS = 0;
export const IPPROTO_ICMP = 1;
export const IPPROTO_IGMP = 2;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ROUTING = 43;
export const IPPROTO_FRAGMENT = 44;
export const IPPROTO_GRE = 47;
export const IPPROTO_AH = 51;
export const IPPROTO_ICMPV6 = 58;
export const IPPROTO_DSTOPTS = 60;
export const IPPROTO_SCTP = 132;

/** Allocates keys for `count` packets (control plane and per-worker setup). */
export function newKeys(count: number): Uint32Array {
  return new Uint32Array(count * KEY_WORDS);
}
