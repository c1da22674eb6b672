/**
 * Reference decoder: a second, deliberately slow opinion on what Open vSwitch
 * 3.1's miniflow_extract() (lib/flow.c) puts in a flow, for the parser's
 * property and case tests.
 *
 * Invariant: for every frame, decodeReference() returns the value of every
 * field OVS would store, by ovs-fields(7) name, with 0 for what the frame does
 * not carry. Names that share one slot of OVS's `struct flow` share one value
 * here too, whatever the packet is: arp_spa/arp_tpa are ip_src/ip_dst,
 * arp_sha/arp_tha are nd_sll/nd_tll, arp_op is the nw_proto byte,
 * nd_options_type is the low byte of tcp_flags, and nd_reserved is the IGMP
 * group (igmp_group_ip4). A frame shorter than an Ethernet header is "runt".
 *
 * Design: written apart from src/packet/parse.ts and in another shape on
 * purpose, so that the two only agree when both read OVS the same way. A
 * DataView cursor consumes the frame header by header, one function per
 * protocol, and every read is checked against the cursor's end first (a read
 * past it is a bug in this file and throws). Values are bigints in a record
 * that mirrors `struct flow`; the field names are views of that record.
 *
 * Beyond ovs-fields(7) the map carries vlan_tci1 (the second tag's TCI),
 * vlan_tpid/vlan_tpid1 (each tag's TPID, kept in the key beside the TCI),
 * mpls_lse0..2 (whole label stack entries) and igmp_group_ip4.
 *
 * Limits: Ethernet frames only (no packet_type other than PT_ETH), no
 * tunnel or conntrack metadata, and NSH is not decoded (as in flowplane).
 */
import * as L from "../src/flow/layout.js";
import { findField, readFieldBig } from "../src/flow/fields.js";

const ETHERTYPE_MIN = 0x0600;
const ETHERTYPE_NONE = 0x05ff; // OVS's FLOW_DL_TYPE_NONE
const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_ARP = 0x0806;
const ETHERTYPE_RARP = 0x8035;
const ETHERTYPE_CTAG = 0x8100;
const ETHERTYPE_STAG = 0x88a8;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_MPLS_UNICAST = 0x8847;
const ETHERTYPE_MPLS_MULTICAST = 0x8848;

const PROTO_HOPOPTS = 0;
const PROTO_ICMP = 1;
const PROTO_IGMP = 2;
const PROTO_TCP = 6;
const PROTO_UDP = 17;
const PROTO_ROUTING = 43;
const PROTO_FRAGMENT = 44;
const PROTO_AH = 51;
const PROTO_ICMPV6 = 58;
const PROTO_DSTOPTS = 60;
const PROTO_SCTP = 132;

const ND_NEIGHBOR_SOLICIT = 135;
const ND_NEIGHBOR_ADVERT = 136;
const ND_OPT_SOURCE_LINKADDR = 1;
const ND_OPT_TARGET_LINKADDR = 2;

/** Tags OVS can hold in a flow (FLOW_MAX_VLAN_HEADERS). */
const VLAN_SLOTS = 2;
/** Label stack entries OVS keeps (FLOW_MAX_MPLS_LABELS). */
const MPLS_SLOTS = 3;

const FRAG_ANY = 1n;
const FRAG_LATER = 2n;

/** Every name decodeReference() returns, in a stable order. */
export const REFERENCE_FIELD_NAMES = [
  "in_port",
  "eth_src",
  "eth_dst",
  "eth_type",
  "vlan_tci",
  "vlan_tci1",
  "vlan_tpid",
  "vlan_tpid1",
  "mpls_lse0",
  "mpls_lse1",
  "mpls_lse2",
  "ip_src",
  "ip_dst",
  "ipv6_src",
  "ipv6_dst",
  "ipv6_label",
  "nw_proto",
  "nw_ttl",
  "nw_tos",
  "ip_frag",
  "arp_op",
  "arp_spa",
  "arp_tpa",
  "arp_sha",
  "arp_tha",
  "tp_src",
  "tp_dst",
  "tcp_flags",
  "nd_target",
  "nd_sll",
  "nd_tll",
  "nd_reserved",
  "nd_options_type",
  "igmp_group_ip4",
] as const;
export type ReferenceFieldName = (typeof REFERENCE_FIELD_NAMES)[number];

/** What OVS keeps of a frame: the parts of `struct flow` the parser fills. */
interface FlowRecord {
  inPort: bigint;
  dlDst: bigint;
  dlSrc: bigint;
  dlType: bigint;
  vlanTpid: bigint[];
  vlanTci: bigint[];
  mplsLse: bigint[];
  nwSrc: bigint;
  nwDst: bigint;
  ipv6Src: bigint;
  ipv6Dst: bigint;
  ipv6Label: bigint;
  nwFrag: bigint;
  nwTos: bigint;
  nwTtl: bigint;
  nwProto: bigint;
  arpSha: bigint;
  arpTha: bigint;
  ndTarget: bigint;
  tpSrc: bigint;
  tpDst: bigint;
  tcpFlags: bigint;
  igmpGroup: bigint;
}

function emptyFlow(inPort: number): FlowRecord {
  return {
    inPort: BigInt(inPort),
    dlDst: 0n,
    dlSrc: 0n,
    dlType: 0n,
    vlanTpid: [0n, 0n],
    vlanTci: [0n, 0n],
    mplsLse: [0n, 0n, 0n],
    nwSrc: 0n,
    nwDst: 0n,
    ipv6Src: 0n,
    ipv6Dst: 0n,
    ipv6Label: 0n,
    nwFrag: 0n,
    nwTos: 0n,
    nwTtl: 0n,
    nwProto: 0n,
    arpSha: 0n,
    arpTha: 0n,
    ndTarget: 0n,
    tpSrc: 0n,
    tpDst: 0n,
    tcpFlags: 0n,
    igmpGroup: 0n,
  };
}

/**
 * A read position in a frame that only moves forward. `end` starts at the
 * frame's end and can only shrink (an IP length that excludes padding).
 * Reads are relative to the position and must lie before `end`.
 */
class Cursor {
  private readonly view: DataView;
  private pos = 0;
  private end: number;

  constructor(frame: Uint8Array) {
    this.view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    this.end = frame.byteLength;
  }

  /** Bytes left between the position and the end. */
  remaining(): number {
    return this.end - this.pos;
  }

  private check(rel: number, size: number): number {
    if (rel < 0 || rel + size > this.remaining()) {
      throw new Error(`reference decoder bug: read of ${size} at +${rel} with ${this.remaining()} left`);
    }
    return this.pos + rel;
  }

  u8(rel: number): number {
    return this.view.getUint8(this.check(rel, 1));
  }

  u16(rel: number): number {
    return this.view.getUint16(this.check(rel, 2), false);
  }

  u32(rel: number): number {
    return this.view.getUint32(this.check(rel, 4), false);
  }

  /** `size` bytes at `rel` as one big-endian number (MACs, IPv6 addresses). */
  big(rel: number, size: number): bigint {
    const at = this.check(rel, size);
    let v = 0n;
    for (let i = 0; i < size; i++) v = (v << 8n) | BigInt(this.view.getUint8(at + i));
    return v;
  }

  /** Steps over `size` bytes; false (and no move) when fewer are left. */
  skip(size: number): boolean {
    if (size > this.remaining()) return false;
    this.pos += size;
    return true;
  }

  /** Forgets everything after the next `size` bytes (never grows). */
  limit(size: number): void {
    if (size > this.remaining()) throw new Error("reference decoder bug: limit past the end");
    this.end = this.pos + size;
  }
}

/**
 * Decodes `frame` as OVS 3.1 would on a port with other_config:vlan-limit
 * `vlanLimit` (0 meaning as many tags as a flow holds).
 */
export function decodeReference(frame: Uint8Array, inPort: number, vlanLimit = 1): Map<string, bigint> | "runt" {
  if (frame.byteLength < 14) return "runt";
  const flow = emptyFlow(inPort);
  const cur = new Cursor(frame);
  decodeEthernet(cur, flow, vlanLimit <= 0 ? VLAN_SLOTS : Math.min(vlanLimit, VLAN_SLOTS));
  const dlType = Number(flow.dlType);
  if (dlType === ETHERTYPE_MPLS_UNICAST || dlType === ETHERTYPE_MPLS_MULTICAST) {
    decodeMpls(cur, flow);
  } else if (dlType === ETHERTYPE_IPV4) {
    decodeIpv4(cur, flow);
  } else if (dlType === ETHERTYPE_IPV6) {
    decodeIpv6(cur, flow);
  } else if (dlType === ETHERTYPE_ARP || dlType === ETHERTYPE_RARP) {
    decodeArp(cur, flow);
  }
  return fieldView(flow);
}

/** Addresses, VLAN tags and the ethertype (or 802.3 LLC/SNAP). */
function decodeEthernet(cur: Cursor, flow: FlowRecord, tagsMax: number): void {
  flow.dlDst = cur.big(0, 6);
  flow.dlSrc = cur.big(6, 6);
  cur.skip(12);
  decodeVlanTags(cur, flow, tagsMax);
  flow.dlType = BigInt(decodeEthertype(cur));
}

/**
 * Up to `tagsMax` tags, each kept only when the tag and the two bytes after
 * it (the next TPID or ethertype) are all present: six bytes from its TPID.
 * The stored TCI has the CFI bit set to say "a tag is here".
 */
function decodeVlanTags(cur: Cursor, flow: FlowRecord, tagsMax: number): void {
  let tags = 0;
  while (tags < tagsMax) {
    const tpid = cur.u16(0);
    if (tpid !== ETHERTYPE_CTAG && tpid !== ETHERTYPE_STAG) return;
    if (cur.remaining() < 6) return;
    flow.vlanTpid[tags] = BigInt(tpid);
    flow.vlanTci[tags] = BigInt(cur.u16(2) | 0x1000);
    cur.skip(4);
    tags++;
  }
}

/**
 * The two bytes after the addresses and tags: an ethertype, or an 802.3
 * length, in which case only an LLC/SNAP header with the Ethernet OUI names
 * the protocol, and then only when its type is itself an ethertype.
 */
function decodeEthertype(cur: Cursor): number {
  const typeOrLength = cur.u16(0);
  cur.skip(2);
  if (typeOrLength >= ETHERTYPE_MIN) return typeOrLength;
  if (cur.remaining() < 8) return ETHERTYPE_NONE;
  const isSnap =
    cur.u8(0) === 0xaa && cur.u8(1) === 0xaa && cur.u8(2) === 0x03 && cur.u8(3) === 0 && cur.u8(4) === 0 && cur.u8(5) === 0;
  if (!isSnap) return ETHERTYPE_NONE;
  const snapType = cur.u16(6);
  cur.skip(8);
  return snapType >= ETHERTYPE_MIN ? snapType : ETHERTYPE_NONE;
}

/** The label stack up to the bottom-of-stack bit; the first three entries stay. */
function decodeMpls(cur: Cursor, flow: FlowRecord): void {
  let depth = 0;
  while (cur.remaining() >= 4) {
    const lse = cur.u32(0);
    cur.skip(4);
    if (depth < MPLS_SLOTS) flow.mplsLse[depth] = BigInt(lse);
    depth++;
    if ((lse & 0x100) !== 0) return;
  }
}

/** Ethernet/IPv4 ARP (and RARP) only; an opcode above 255 is not kept. */
function decodeArp(cur: Cursor, flow: FlowRecord): void {
  if (cur.remaining() < 28) return;
  const hardware = cur.u16(0);
  const protocol = cur.u16(2);
  const hardwareSize = cur.u8(4);
  const protocolSize = cur.u8(5);
  if (hardware !== 1 || protocol !== ETHERTYPE_IPV4 || hardwareSize !== 6 || protocolSize !== 4) return;
  const opcode = cur.u16(6);
  flow.arpSha = cur.big(8, 6);
  flow.nwSrc = cur.big(14, 4);
  flow.arpTha = cur.big(18, 6);
  flow.nwDst = cur.big(24, 4);
  if (opcode <= 0xff) flow.nwProto = BigInt(opcode);
}

/**
 * IPv4 after OVS's sanity checks: a 20-byte header, an IHL of at least 5 that
 * fits, and a total length that fits and covers the header. Bytes past the
 * total length are Ethernet padding and are never looked at.
 */
function decodeIpv4(cur: Cursor, flow: FlowRecord): void {
  const available = cur.remaining();
  if (available < 20) return;
  const headerSize = (cur.u8(0) & 0x0f) * 4;
  if (headerSize < 20 || headerSize > available) return;
  const totalSize = cur.u16(2);
  if (totalSize > available || totalSize < headerSize || available - totalSize > 0xffff) return;

  flow.nwSrc = cur.big(12, 4);
  flow.nwDst = cur.big(16, 4);
  flow.nwTos = BigInt(cur.u8(1));
  flow.nwTtl = BigInt(cur.u8(8));
  flow.nwProto = BigInt(cur.u8(9));
  const flagsAndOffset = cur.u16(6);
  const moreFragments = (flagsAndOffset & 0x2000) !== 0;
  const offset = flagsAndOffset & 0x1fff;
  if (moreFragments || offset !== 0) flow.nwFrag = offset !== 0 ? FRAG_ANY | FRAG_LATER : FRAG_ANY;

  cur.limit(totalSize);
  cur.skip(headerSize);
  if ((flow.nwFrag & FRAG_LATER) === 0n) decodeTransport(cur, flow);
}

/**
 * IPv6 after OVS's sanity checks (a 40-byte header and a payload length that
 * fits). The addresses are kept as soon as the header passes; the flow label
 * and the TOS/TTL/protocol/fragment word only once the extension headers
 * have been walked without error.
 */
function decodeIpv6(cur: Cursor, flow: FlowRecord): void {
  const available = cur.remaining();
  if (available < 40) return;
  const payloadSize = cur.u16(4);
  if (payloadSize + 40 > available || available - (payloadSize + 40) > 0xffff) return;

  const versionClassLabel = cur.u32(0);
  const hopLimit = cur.u8(7);
  const firstNext = cur.u8(6);
  flow.ipv6Src = cur.big(8, 16);
  flow.ipv6Dst = cur.big(24, 16);
  cur.skip(40);
  cur.limit(payloadSize);

  const chain = walkIpv6Extensions(cur, firstNext);
  if (chain === "broken") return;

  flow.ipv6Label = BigInt(versionClassLabel & 0xfffff);
  flow.nwTos = BigInt((versionClassLabel >>> 20) & 0xff);
  flow.nwTtl = BigInt(hopLimit);
  flow.nwProto = BigInt(chain.proto);
  flow.nwFrag = chain.frag;
  if ((chain.frag & FRAG_LATER) === 0n) decodeTransport(cur, flow);
}

/**
 * Steps over hop-by-hop, routing, destination options ((len + 1) * 8 bytes),
 * AH ((len + 2) * 4 bytes) and fragment (8 bytes) headers. Each needs 8 bytes
 * to be present before its length is even read. A fragment header with any
 * bit of its offset/flags word set makes the packet a fragment; a non-zero
 * offset makes it a later fragment, whose protocol is reported as the
 * fragment header itself (44) and whose payload is not decoded.
 */
function walkIpv6Extensions(cur: Cursor, firstNext: number): { proto: number; frag: bigint } | "broken" {
  let next = firstNext;
  let frag = 0n;
  for (;;) {
    const isExtension =
      next === PROTO_HOPOPTS ||
      next === PROTO_ROUTING ||
      next === PROTO_DSTOPTS ||
      next === PROTO_AH ||
      next === PROTO_FRAGMENT;
    if (!isExtension) return { proto: next, frag };
    if (cur.remaining() < 8) return "broken";

    const following = cur.u8(0);
    if (next === PROTO_FRAGMENT) {
      const offsetAndFlags = cur.u16(2);
      cur.skip(8);
      next = following;
      if (offsetAndFlags !== 0) {
        frag |= FRAG_ANY;
        if ((offsetAndFlags & 0xfff8) !== 0) return { proto: PROTO_FRAGMENT, frag: frag | FRAG_LATER };
      }
      continue;
    }
    const lengthField = cur.u8(1);
    const size = next === PROTO_AH ? (lengthField + 2) * 4 : (lengthField + 1) * 8;
    if (!cur.skip(size)) return "broken";
    next = following;
  }
}

/** The transport header named by nw_proto, whichever IP version carries it. */
function decodeTransport(cur: Cursor, flow: FlowRecord): void {
  switch (Number(flow.nwProto)) {
    case PROTO_TCP:
      decodeTcp(cur, flow);
      return;
    case PROTO_UDP:
      decodePorts(cur, flow, 8);
      return;
    case PROTO_SCTP:
      decodePorts(cur, flow, 12);
      return;
    case PROTO_ICMP:
      decodeIcmp(cur, flow);
      return;
    case PROTO_IGMP:
      decodeIgmp(cur, flow);
      return;
    case PROTO_ICMPV6:
      decodeIcmpv6(cur, flow);
      return;
    default:
      return;
  }
}

/** TCP counts only with its whole header: data offset >= 5 and present. */
function decodeTcp(cur: Cursor, flow: FlowRecord): void {
  if (cur.remaining() < 20) return;
  const headerSize = (cur.u8(12) >> 4) * 4;
  if (headerSize < 20 || headerSize > cur.remaining()) return;
  flow.tpSrc = BigInt(cur.u16(0));
  flow.tpDst = BigInt(cur.u16(2));
  flow.tcpFlags = BigInt(cur.u16(12) & 0x0fff);
}

/** UDP (8-byte header) and SCTP (12-byte common header): the two ports. */
function decodePorts(cur: Cursor, flow: FlowRecord, headerSize: number): void {
  if (cur.remaining() < headerSize) return;
  flow.tpSrc = BigInt(cur.u16(0));
  flow.tpDst = BigInt(cur.u16(2));
}

/**
 * ICMPv4: type in tp_src, code in tp_dst. OVS wants its whole 8-byte
 * `struct icmp_header` (ICMP_HEADER_LEN is 8 in lib/packets.h), not just the
 * 4 bytes the two fields sit in.
 */
function decodeIcmp(cur: Cursor, flow: FlowRecord): void {
  if (cur.remaining() < 8) return;
  flow.tpSrc = BigInt(cur.u8(0));
  flow.tpDst = BigInt(cur.u8(1));
}

/** IGMP: type, code and the group address, once all 8 bytes are there. */
function decodeIgmp(cur: Cursor, flow: FlowRecord): void {
  if (cur.remaining() < 8) return;
  flow.tpSrc = BigInt(cur.u8(0));
  flow.tpDst = BigInt(cur.u8(1));
  flow.igmpGroup = cur.big(4, 4);
}

/** ICMPv6: type and code once 8 bytes are there; then ND for NS/NA code 0. */
function decodeIcmpv6(cur: Cursor, flow: FlowRecord): void {
  if (cur.remaining() < 8) return;
  const type = cur.u8(0);
  const code = cur.u8(1);
  flow.tpSrc = BigInt(type);
  flow.tpDst = BigInt(code);
  if (code !== 0 || (type !== ND_NEIGHBOR_SOLICIT && type !== ND_NEIGHBOR_ADVERT)) return;
  flow.igmpGroup = cur.big(4, 4); // nd_reserved: the RSO flags word
  cur.skip(8);
  decodeNeighborDiscovery(cur, flow);
}

/**
 * Neighbour solicitation/advertisement body: the 16-byte target, then
 * options. The first source and target link-layer options (8 bytes each) are
 * kept, and the first kept one's type becomes nd_options_type. A second one of
 * a kind whose first held a non-zero address voids the target and both
 * addresses but not the option type. A zero-length option, or one longer than
 * what is left, ends the walk keeping what was found.
 */
function decodeNeighborDiscovery(cur: Cursor, flow: FlowRecord): void {
  if (cur.remaining() < 16) return;
  const target = cur.big(0, 16);
  cur.skip(16);
  let source = 0n;
  let targetLink = 0n;
  let optionType = 0n;
  let valid = true;
  while (valid && cur.remaining() >= 8) {
    const type = cur.u8(0);
    const size = cur.u8(1) * 8;
    if (size === 0 || size > cur.remaining()) break;
    if (size === 8 && type === ND_OPT_SOURCE_LINKADDR) {
      if (source !== 0n) valid = false;
      else {
        source = cur.big(2, 6);
        if (optionType === 0n) optionType = BigInt(type);
      }
    } else if (size === 8 && type === ND_OPT_TARGET_LINKADDR) {
      if (targetLink !== 0n) valid = false;
      else {
        targetLink = cur.big(2, 6);
        if (optionType === 0n) optionType = BigInt(type);
      }
    }
    cur.skip(size);
  }
  flow.tcpFlags = optionType;
  if (!valid) return;
  flow.ndTarget = target;
  flow.arpSha = source;
  flow.arpTha = targetLink;
}

/** The ovs-fields names as views of the record (shared slots share values). */
function fieldView(flow: FlowRecord): Map<string, bigint> {
  const m = new Map<string, bigint>();
  const put = (name: ReferenceFieldName, value: bigint): void => {
    m.set(name, value);
  };
  put("in_port", flow.inPort);
  put("eth_src", flow.dlSrc);
  put("eth_dst", flow.dlDst);
  put("eth_type", flow.dlType);
  put("vlan_tci", flow.vlanTci[0]);
  put("vlan_tci1", flow.vlanTci[1]);
  put("vlan_tpid", flow.vlanTpid[0]);
  put("vlan_tpid1", flow.vlanTpid[1]);
  put("mpls_lse0", flow.mplsLse[0]);
  put("mpls_lse1", flow.mplsLse[1]);
  put("mpls_lse2", flow.mplsLse[2]);
  put("ip_src", flow.nwSrc);
  put("ip_dst", flow.nwDst);
  put("ipv6_src", flow.ipv6Src);
  put("ipv6_dst", flow.ipv6Dst);
  put("ipv6_label", flow.ipv6Label);
  put("nw_proto", flow.nwProto);
  put("nw_ttl", flow.nwTtl);
  put("nw_tos", flow.nwTos);
  put("ip_frag", flow.nwFrag);
  put("arp_op", flow.nwProto);
  put("arp_spa", flow.nwSrc);
  put("arp_tpa", flow.nwDst);
  put("arp_sha", flow.arpSha);
  put("arp_tha", flow.arpTha);
  put("tp_src", flow.tpSrc);
  put("tp_dst", flow.tpDst);
  put("tcp_flags", flow.tcpFlags);
  put("nd_target", flow.ndTarget);
  put("nd_sll", flow.arpSha);
  put("nd_tll", flow.arpTha);
  put("nd_reserved", flow.igmpGroup);
  put("nd_options_type", flow.tcpFlags & 0xffn);
  put("igmp_group_ip4", flow.igmpGroup);
  return m;
}

// ---------------------------------------------------------------------------
// The reference's fields in flowplane's key layout (src/flow/layout.ts), for
// comparing whole keys word by word. Only where things live comes from src/;
// what they hold is decided above.

/** The key flowplane must produce for a frame the reference decoded to `fields`. */
export function referenceKey(fields: Map<string, bigint>): Uint32Array {
  const key = new Uint32Array(L.KEY_WORDS);
  const get = (name: ReferenceFieldName): bigint => fields.get(name) ?? 0n;
  const put = (word: number, value: bigint, words: number): void => {
    let v = value;
    for (let i = words - 1; i >= 0; i--) {
      key[word + i] = Number(v & 0xffffffffn);
      v >>= 32n;
    }
  };
  put(L.W_IN_PORT, get("in_port"), 1);
  put(L.W_DL_DST, get("eth_dst"), 2);
  put(L.W_DL_SRC, get("eth_src"), 2);
  put(L.W_DL_TYPE, get("eth_type"), 1);
  put(L.W_VLAN0, (get("vlan_tpid") << 16n) | get("vlan_tci"), 1);
  put(L.W_VLAN1, (get("vlan_tpid1") << 16n) | get("vlan_tci1"), 1);
  put(L.W_MPLS0, get("mpls_lse0"), 1);
  put(L.W_MPLS0 + 1, get("mpls_lse1"), 1);
  put(L.W_MPLS0 + 2, get("mpls_lse2"), 1);
  put(L.W_NW_SRC, get("ip_src"), 1);
  put(L.W_NW_DST, get("ip_dst"), 1);
  put(L.W_IPV6_SRC, get("ipv6_src"), 4);
  put(L.W_IPV6_DST, get("ipv6_dst"), 4);
  put(L.W_IPV6_LABEL, get("ipv6_label"), 1);
  put(L.W_NW, (get("ip_frag") << 24n) | (get("nw_tos") << 16n) | (get("nw_ttl") << 8n) | get("nw_proto"), 1);
  put(L.W_ARP_SHA, get("arp_sha"), 2);
  put(L.W_ARP_THA, get("arp_tha"), 2);
  put(L.W_ND_TARGET, get("nd_target"), 4);
  put(L.W_TP, (get("tp_src") << 16n) | get("tp_dst"), 1);
  put(L.W_TCP_FLAGS, get("tcp_flags"), 1);
  put(L.W_IGMP_GROUP, get("igmp_group_ip4"), 1);
  return key;
}

/**
 * Reads one of the reference's names from a flowplane key: through the field
 * table (findField + readFieldBig) for ovs-fields names, from the raw word for
 * the extras the table does not name.
 */
export function readKeyField(key: Uint32Array, base: number, name: ReferenceFieldName): bigint {
  switch (name) {
    case "vlan_tci1":
      return BigInt(key[base + L.W_VLAN1] & 0xffff);
    case "vlan_tpid":
      return BigInt(key[base + L.W_VLAN0] >>> 16);
    case "vlan_tpid1":
      return BigInt(key[base + L.W_VLAN1] >>> 16);
    case "mpls_lse0":
    case "mpls_lse1":
    case "mpls_lse2":
      return BigInt(key[base + L.W_MPLS0 + Number(name.slice(-1))]);
    case "igmp_group_ip4":
      return BigInt(key[base + L.W_IGMP_GROUP]);
    default: {
      const field = findField(name);
      if (field === undefined) throw new Error(`no field ${name} in src/flow/fields.ts`);
      return readFieldBig(key, base, field);
    }
  }
}
