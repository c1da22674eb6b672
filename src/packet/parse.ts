/**
 * Flow extraction: frame bytes -> flow key, for a whole batch, in place.
 *
 * Invariant: for every frame the key holds exactly what Open vSwitch 3.1's
 * miniflow_extract() (lib/flow.c) would put in `struct flow`: the same
 * fields, the same zeroes for what is absent, the same choices on malformed
 * input. Tests compare the text of both for every packet of every capture.
 *
 * Design: frames are read where they lie, `(buffer, offset, length)`, never
 * copied or sliced; keys are words in one Uint32Array (layout.ts). Nothing is
 * allocated per frame. A broken header never throws: parsing stops at that
 * layer and the packet is classified on what was parsed, as OVS does; each
 * reason bumps a named counter (ParseCounters).
 *
 * Header offsets of each frame (L3 and L4 start, relative to the frame) go to
 * `hdrs` (HDR_WORDS per frame) so actions can rewrite fields without parsing
 * again. HDR_NONE marks a missing layer.
 *
 * Limits: at most `vlanLimit` VLAN tags are decoded (OVS's other_config
 * vlan-limit, default 1; at most VLAN_HEADERS_MAX); MPLS keeps three label
 * stack entries; NSH is not decoded (its frames are classified on L2 only).
 */
import { VLAN_HEADERS_MAX, VLAN_LIMIT_DEFAULT, MPLS_LABELS_MAX } from "../limits.js";
import * as L from "../flow/layout.js";

// Module-local copies of the layout constants: V8 folds these into the
// parse code, where each read through the imported namespace cost a load.
const ETH_TYPE_ARP = L.ETH_TYPE_ARP;
const ETH_TYPE_IP = L.ETH_TYPE_IP;
const ETH_TYPE_IPV6 = L.ETH_TYPE_IPV6;
const ETH_TYPE_MIN = L.ETH_TYPE_MIN;
const ETH_TYPE_MPLS = L.ETH_TYPE_MPLS;
const ETH_TYPE_MPLS_MCAST = L.ETH_TYPE_MPLS_MCAST;
const ETH_TYPE_NONE = L.ETH_TYPE_NONE;
const ETH_TYPE_RARP = L.ETH_TYPE_RARP;
const ETH_TYPE_VLAN_8021AD = L.ETH_TYPE_VLAN_8021AD;
const ETH_TYPE_VLAN_8021Q = L.ETH_TYPE_VLAN_8021Q;
const FRAG_ANY = L.FRAG_ANY;
const FRAG_LATER = L.FRAG_LATER;
const IPPROTO_AH = L.IPPROTO_AH;
const IPPROTO_DSTOPTS = L.IPPROTO_DSTOPTS;
const IPPROTO_FRAGMENT = L.IPPROTO_FRAGMENT;
const IPPROTO_HOPOPTS = L.IPPROTO_HOPOPTS;
const IPPROTO_ICMP = L.IPPROTO_ICMP;
const IPPROTO_ICMPV6 = L.IPPROTO_ICMPV6;
const IPPROTO_IGMP = L.IPPROTO_IGMP;
const IPPROTO_ROUTING = L.IPPROTO_ROUTING;
const IPPROTO_SCTP = L.IPPROTO_SCTP;
const IPPROTO_TCP = L.IPPROTO_TCP;
const IPPROTO_UDP = L.IPPROTO_UDP;
const KEY_WORDS = L.KEY_WORDS;
const VLAN_CFI = L.VLAN_CFI;
const W_ARP_SHA = L.W_ARP_SHA;
const W_ARP_THA = L.W_ARP_THA;
const W_DL_DST = L.W_DL_DST;
const W_DL_SRC = L.W_DL_SRC;
const W_DL_TYPE = L.W_DL_TYPE;
const W_IGMP_GROUP = L.W_IGMP_GROUP;
const W_IN_PORT = L.W_IN_PORT;
const W_IPV6_DST = L.W_IPV6_DST;
const W_IPV6_LABEL = L.W_IPV6_LABEL;
const W_IPV6_SRC = L.W_IPV6_SRC;
const W_MPLS0 = L.W_MPLS0;
const W_ND_TARGET = L.W_ND_TARGET;
const W_NW = L.W_NW;
const W_NW_DST = L.W_NW_DST;
const W_NW_SRC = L.W_NW_SRC;
const W_TCP_FLAGS = L.W_TCP_FLAGS;
const W_TP = L.W_TP;
const W_VLAN0 = L.W_VLAN0;

/** Per-frame header offsets written by the parser, and which key regions it wrote. */
export const HDR_WORDS = 3;
export const HDR_L3 = 0;
export const HDR_L4 = 1;
/** Bit set of the key regions beyond the always-present words that may be non-zero (REGION_*). */
export const HDR_REGIONS = 2;
export const HDR_NONE = 0xffff;

/** Key regions a frame may fill: the exact-match cache compares only the regions a key has. */
export const REGION_IPV6 = 1; // words W_IPV6_SRC .. W_IPV6_LABEL
export const REGION_ARP_ND = 2; // words W_ARP_SHA .. W_ND_TARGET + 3
export const REGION_MPLS = 4; // words W_MPLS0 .. W_MPLS0 + 2
/** Metadata beyond in_port, recirc_id through ct_tp (W_RECIRC_ID .. W_CT_TP): set by the datapath, never by the parser. */
export const REGION_META = 8;
/** Tunnel metadata (W_TUN_ID .. W_TUN_DST, W_TUN_FLAGS, W_TUN_TP): set by the datapath for decapsulated packets, never by the parser. */
export const REGION_TUNNEL = 16;
/** The tunnel's IPv6 addresses (W_TUN_IPV6_SRC .. W_TUN_IPV6_DST + 3): set by the datapath, never by the parser. */
export const REGION_TUNNEL_IPV6 = 32;

/** Result of parsing one frame. */
export const PARSE_OK = 0;
/** Shorter than an Ethernet header: OVS drops these on receive. */
export const PARSE_RUNT = 1;

/** Named counters, one slot each in ParseCounters.counts. */
export const COUNTER_NAMES = [
  "runt",
  "ipv4TooShort",
  "ipv4LenError",
  "ipv6TooShort",
  "ipv6LenError",
  "ipv6ExtHdrError",
  "arpInvalid",
  "l4Truncated",
  "ndOptionInvalid",
] as const;
export type CounterName = (typeof COUNTER_NAMES)[number];

// Non-exported copies of this module's own exported constants for extract:
// an exported binding is read through its module cell, a local const is folded.
const H_WORDS = HDR_WORDS;
const H_L3 = HDR_L3;
const H_L4 = HDR_L4;
const H_NONE = HDR_NONE;
const H_REGIONS = HDR_REGIONS;
const P_OK = PARSE_OK;
const P_RUNT = PARSE_RUNT;
const R_IPV6 = REGION_IPV6;
const R_ARP_ND = REGION_ARP_ND;
const R_MPLS = REGION_MPLS;
const LABELS_MAX = MPLS_LABELS_MAX;

/** 1 for the IP protocols parseL4 reads transport fields of (TCP, UDP, SCTP, ICMP, IGMP, ICMPv6); the key has none for others. */
const L4_PARSED = new Uint8Array(256);
for (const proto of [IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP, IPPROTO_ICMP, IPPROTO_IGMP, IPPROTO_ICMPV6]) L4_PARSED[proto] = 1;

const C_RUNT = 0;
const C_IPV4_TOO_SHORT = 1;
const C_IPV4_LEN_ERROR = 2;
const C_IPV6_TOO_SHORT = 3;
const C_IPV6_LEN_ERROR = 4;
const C_IPV6_EXT_ERROR = 5;
const C_ARP_INVALID = 6;
const C_L4_TRUNCATED = 7;
const C_ND_INVALID = 8;

/** Counters of malformed input, like OVS's miniflow_extract_* coverage counters. */
export class ParseCounters {
  readonly counts = new Float64Array(COUNTER_NAMES.length);
  get(name: CounterName): number {
    return this.counts[COUNTER_NAMES.indexOf(name)];
  }
  toJSON(): Record<string, number> {
    const out: Record<string, number> = {};
    for (let i = 0; i < COUNTER_NAMES.length; i++) out[COUNTER_NAMES[i]] = this.counts[i];
    return out;
  }
}

/** Parser settings; `vlanLimit` follows OVS's other_config:vlan-limit. */
export class Parser {
  readonly vlanLimit: number;
  readonly counters = new ParseCounters();
  /** Set by parseL4 when it filled the ND words. */
  private lastNd = false;
  /**
   * A DataView on the buffer being parsed, made once per buffer: its 16- and
   * 32-bit big-endian reads are one load and a byte swap in optimised code,
   * against two or four byte loads for read16/read32.
   */
  private view: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));
  private viewOf: Uint8Array = new Uint8Array(0);

  constructor(vlanLimit: number = VLAN_LIMIT_DEFAULT) {
    // vlan-limit 0 means "as many as the flow key holds" in OVS.
    this.vlanLimit = vlanLimit === 0 ? VLAN_HEADERS_MAX : Math.min(vlanLimit, VLAN_HEADERS_MAX);
  }

  /**
   * Parses `count` frames: frame i is buf[offsets[i], offsets[i] + lengths[i]),
   * received on inPorts[i]; its key goes to keys at i * KEY_WORDS, its header
   * offsets to hdrs at i * HDR_WORDS, its result (PARSE_*) to results[i].
   */
  parseBatch(
    buf: Uint8Array,
    offsets: Uint32Array,
    lengths: Uint32Array,
    count: number,
    inPorts: Uint32Array,
    keys: Uint32Array,
    hdrs: Uint16Array,
    results: Uint8Array,
  ): void {
    // One fill for the whole batch costs a third of a fill per key.
    keys.fill(0, 0, count * KEY_WORDS);
    this.viewFor(buf);
    for (let i = 0; i < count; i++) {
      results[i] = this.extract(buf, offsets[i], lengths[i], inPorts[i], keys, i * KEY_WORDS, hdrs, i * H_WORDS);
    }
  }

  /** Parses one frame into keys[k .. k + KEY_WORDS); returns PARSE_OK or PARSE_RUNT. */
  parseFrame(
    b: Uint8Array,
    at: number,
    length: number,
    inPort: number,
    keys: Uint32Array,
    k: number,
    hdrs: Uint16Array,
    h: number,
  ): number {
    keys.fill(0, k, k + KEY_WORDS);
    this.viewFor(b);
    return this.extract(b, at, length, inPort, keys, k, hdrs, h);
  }

  /**
   * parseFrame into a key the caller keeps all zeroes (a tnl_pop queue
   * zeroes its keys once per batch: one fill per key costs more than the
   * parse of a short frame).
   */
  parseZeroed(b: Uint8Array, at: number, length: number, inPort: number, keys: Uint32Array, k: number, hdrs: Uint16Array, h: number): number {
    this.viewFor(b);
    return this.extract(b, at, length, inPort, keys, k, hdrs, h);
  }

  private viewFor(buf: Uint8Array): void {
    if (buf === this.viewOf) return;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.viewOf = buf;
  }

  /** parseFrame on a key that is already all zeroes; this.view is on `b`. */
  private extract(
    b: Uint8Array,
    at: number,
    length: number,
    inPort: number,
    keys: Uint32Array,
    k: number,
    hdrs: Uint16Array,
    h: number,
  ): number {
    keys[k + W_IN_PORT] = inPort;
    hdrs[h + H_L3] = H_NONE;
    hdrs[h + H_L4] = H_NONE;
    hdrs[h + H_REGIONS] = 0;
    const counts = this.counters.counts;
    const v = this.view;

    // A frame said to run past its buffer is cut at the buffer's end, so the
    // DataView reads below stay inside it (no caller of ours does this).
    if (at + length > b.length) length = b.length - at;
    if (length < 14) {
      counts[C_RUNT]++;
      return P_RUNT;
    }
    let end = at + length;

    // Link layer: destination and source MACs, top 16 bits in the first word.
    keys[k + W_DL_DST] = v.getUint16(at);
    keys[k + W_DL_DST + 1] = v.getUint32(at + 2);
    keys[k + W_DL_SRC] = v.getUint16(at + 6);
    keys[k + W_DL_SRC + 1] = v.getUint32(at + 8);
    let p = at + 12;

    // VLAN tags (802.1Q 0x8100 and 802.1ad 0x88a8), up to vlanLimit; each
    // needs the tag and the following ethertype to be present.
    let ethType = v.getUint16(p);
    for (let n = 0; (ethType === ETH_TYPE_VLAN_8021Q || ethType === ETH_TYPE_VLAN_8021AD) && n < this.vlanLimit; n++) {
      if (end - p < 6) break;
      keys[k + W_VLAN0 + n] = ((ethType << 16) | v.getUint16(p + 2) | VLAN_CFI) >>> 0;
      p += 4;
      ethType = v.getUint16(p);
    }

    // Ethertype, or 802.3 length followed by LLC/SNAP (OVS parse_ethertype).
    p += 2;
    let dlType = ethType;
    if (ethType < ETH_TYPE_MIN) {
      dlType = ETH_TYPE_NONE;
      if (
        end - p >= 8 &&
        b[p] === 0xaa &&
        b[p + 1] === 0xaa &&
        b[p + 2] === 0x03 &&
        b[p + 3] === 0 &&
        b[p + 4] === 0 &&
        b[p + 5] === 0
      ) {
        const snapType = v.getUint16(p + 6);
        p += 8;
        if (snapType >= ETH_TYPE_MIN) dlType = snapType;
      }
    }
    keys[k + W_DL_TYPE] = dlType;

    // MPLS: keep the first three label stack entries; never parsed further.
    if (dlType === ETH_TYPE_MPLS || dlType === ETH_TYPE_MPLS_MCAST) {
      hdrs[h + H_REGIONS] = R_MPLS;
      for (let n = 0; end - p >= 4; n++) {
        const lse = v.getUint32(p);
        if (n < LABELS_MAX) keys[k + W_MPLS0 + n] = lse;
        p += 4;
        if (lse & 0x100) break; // bottom of stack
      }
      return P_OK;
    }

    let nwFrag = 0;
    let nwTos = 0;
    let nwTtl = 0;
    let nwProto = 0;
    if (dlType === ETH_TYPE_IP) {
      // IPv4 (OVS ipv4_sanity_check: the version nibble is not checked).
      const size = end - p;
      if (size < 20) {
        counts[C_IPV4_TOO_SHORT]++;
        return P_OK;
      }
      const ihl = (b[p] & 0x0f) * 4;
      const totLen = v.getUint16(p + 2);
      if (ihl < 20 || size < ihl || totLen > size || ihl > totLen || size - totLen > 0xffff) {
        counts[C_IPV4_LEN_ERROR]++;
        return P_OK;
      }
      hdrs[h + H_L3] = p - at;
      keys[k + W_NW_SRC] = v.getUint32(p + 12);
      keys[k + W_NW_DST] = v.getUint32(p + 16);
      nwTos = b[p + 1];
      nwTtl = b[p + 8];
      nwProto = b[p + 9];
      const fragOff = v.getUint16(p + 6);
      if (fragOff & 0x3fff) {
        nwFrag = FRAG_ANY;
        if (fragOff & 0x1fff) nwFrag |= FRAG_LATER;
      }
      end = p + totLen; // Never parse the Ethernet padding.
      p += ihl;
    } else if (dlType === ETH_TYPE_IPV6) {
      const size = end - p;
      if (size < 40) {
        counts[C_IPV6_TOO_SHORT]++;
        return P_OK;
      }
      const plen = v.getUint16(p + 4);
      if (plen + 40 > size || size - (plen + 40) > 0xffff) {
        counts[C_IPV6_LEN_ERROR]++;
        return P_OK;
      }
      hdrs[h + H_L3] = p - at;
      hdrs[h + H_REGIONS] = R_IPV6;
      for (let i = 0; i < 4; i++) {
        keys[k + W_IPV6_SRC + i] = v.getUint32(p + 8 + 4 * i);
        keys[k + W_IPV6_DST + i] = v.getUint32(p + 24 + 4 * i);
      }
      const tcFlow = v.getUint32(p);
      nwTos = (tcFlow >>> 20) & 0xff;
      nwTtl = b[p + 7];
      nwProto = b[p + 6];
      p += 40;
      end = p + plen;
      // Extension headers (OVS parse_ipv6_ext_hdrs__): each needs 8 bytes;
      // a later fragment stops with nw_proto 44 (the fragment header).
      for (;;) {
        if (
          nwProto !== IPPROTO_HOPOPTS &&
          nwProto !== IPPROTO_ROUTING &&
          nwProto !== IPPROTO_DSTOPTS &&
          nwProto !== IPPROTO_AH &&
          nwProto !== IPPROTO_FRAGMENT
        ) {
          break;
        }
        if (end - p < 8) {
          counts[C_IPV6_EXT_ERROR]++;
          return P_OK;
        }
        if (nwProto === IPPROTO_FRAGMENT) {
          nwProto = b[p];
          const offlg = v.getUint16(p + 2);
          p += 8;
          if (offlg !== 0) {
            nwFrag = FRAG_ANY;
            if (offlg & 0xfff8) {
              nwFrag |= FRAG_LATER;
              nwProto = IPPROTO_FRAGMENT;
              break;
            }
          }
        } else {
          const extLen = nwProto === IPPROTO_AH ? (b[p + 1] + 2) * 4 : (b[p + 1] + 1) * 8;
          nwProto = b[p];
          if (end - p < extLen) {
            counts[C_IPV6_EXT_ERROR]++;
            return P_OK;
          }
          p += extLen;
        }
      }
      keys[k + W_IPV6_LABEL] = tcFlow & 0xfffff;
    } else {
      if (dlType === ETH_TYPE_ARP || dlType === ETH_TYPE_RARP) {
        // Only Ethernet/IPv4 ARP is decoded; anything else leaves ARP fields zero.
        if (end - p >= 28 && v.getUint16(p) === 1 && v.getUint16(p + 2) === ETH_TYPE_IP && b[p + 4] === 6 && b[p + 5] === 4) {
          hdrs[h + H_L3] = p - at;
          hdrs[h + H_REGIONS] = R_ARP_ND;
          keys[k + W_NW_SRC] = v.getUint32(p + 14);
          keys[k + W_NW_DST] = v.getUint32(p + 24);
          const op = v.getUint16(p + 6);
          // OVS matches only the low 8 bits of the opcode; larger ones read as 0.
          if (op <= 0xff) keys[k + W_NW] = op;
          keys[k + W_ARP_SHA] = (b[p + 8] << 8) | b[p + 9];
          keys[k + W_ARP_SHA + 1] = v.getUint32(p + 10);
          keys[k + W_ARP_THA] = (b[p + 18] << 8) | b[p + 19];
          keys[k + W_ARP_THA + 1] = v.getUint32(p + 20);
        } else {
          counts[C_ARP_INVALID]++;
        }
      }
      return P_OK;
    }

    keys[k + W_NW] = ((nwFrag << 24) | (nwTos << 16) | (nwTtl << 8) | nwProto) >>> 0;
    if (nwFrag & FRAG_LATER) return P_OK; // No L4 header in later fragments.
    hdrs[h + H_L4] = p - at;
    // The common transports here, without a call (the same as parseL4 does for them);
    // parseL4 handles the rest, and truncated headers with their counters.
    const l4Size = end - p;
    if (nwProto === IPPROTO_UDP && l4Size >= 8) {
      keys[k + W_TP] = v.getUint32(p);
      return P_OK;
    }
    if (nwProto === IPPROTO_TCP && l4Size >= 20) {
      const tcpLen = (b[p + 12] >>> 4) * 4;
      if (tcpLen >= 20 && l4Size >= tcpLen) {
        keys[k + W_TCP_FLAGS] = v.getUint16(p + 12) & 0x0fff;
        keys[k + W_TP] = v.getUint32(p);
        return P_OK;
      }
    }
    // Protocols with no transport fields in the key (GRE: every GRE tunnel's outer packet) need no call.
    if (L4_PARSED[nwProto] === 0) return P_OK;
    this.lastNd = false;
    this.parseL4(b, p, end - p, nwProto, keys, k);
    if (this.lastNd) hdrs[h + H_REGIONS] |= R_ARP_ND;
    return P_OK;
  }

  /** Transport header at b[p, p + size): ports, TCP flags, ICMP type/code, ND. */
  private parseL4(b: Uint8Array, p: number, size: number, nwProto: number, keys: Uint32Array, k: number): void {
    const counts = this.counters.counts;
    const v = this.view;
    if (nwProto === IPPROTO_TCP) {
      if (size >= 20) {
        const hdrLen = (b[p + 12] >>> 4) * 4;
        if (hdrLen >= 20 && size >= hdrLen) {
          keys[k + W_TCP_FLAGS] = v.getUint16(p + 12) & 0x0fff;
          keys[k + W_TP] = v.getUint32(p);
          return;
        }
      }
      counts[C_L4_TRUNCATED]++;
    } else if (nwProto === IPPROTO_UDP) {
      if (size >= 8) keys[k + W_TP] = v.getUint32(p);
      else counts[C_L4_TRUNCATED]++;
    } else if (nwProto === IPPROTO_SCTP) {
      if (size >= 12) keys[k + W_TP] = v.getUint32(p);
      else counts[C_L4_TRUNCATED]++;
    } else if (nwProto === IPPROTO_ICMP) {
      if (size >= 8) keys[k + W_TP] = ((b[p] << 16) | b[p + 1]) >>> 0; // OVS ICMP_HEADER_LEN is 8
      else counts[C_L4_TRUNCATED]++;
    } else if (nwProto === IPPROTO_IGMP) {
      if (size >= 8) {
        keys[k + W_TP] = ((b[p] << 16) | b[p + 1]) >>> 0;
        keys[k + W_IGMP_GROUP] = v.getUint32(p + 4);
      } else {
        counts[C_L4_TRUNCATED]++;
      }
    } else if (nwProto === IPPROTO_ICMPV6) {
      if (size < 8) {
        counts[C_L4_TRUNCATED]++;
        return;
      }
      const type = b[p];
      const code = b[p + 1];
      keys[k + W_TP] = ((type << 16) | code) >>> 0;
      if (code === 0 && (type === 135 || type === 136)) {
        this.parseNd(b, p, size, keys, k);
        this.lastNd = true;
      }
    }
  }

  /**
   * Neighbour solicitation/advertisement (OVS parse_icmpv6): the target, then
   * the first source and target link-layer address options. A repeated
   * link-layer option makes the whole ND part invalid (target and addresses
   * zero); a zero-length or overlong option ends option parsing.
   */
  private parseNd(b: Uint8Array, p: number, size: number, keys: Uint32Array, k: number): void {
    const v = this.view;
    keys[k + W_IGMP_GROUP] = v.getUint32(p + 4); // nd_reserved
    p += 8;
    size -= 8;
    if (size < 16) return;
    const target = p;
    p += 16;
    size -= 16;
    let sllHi = 0;
    let sllLo = 0;
    let tllHi = 0;
    let tllLo = 0;
    let optType = 0;
    while (size >= 8) {
      const type = b[p];
      const optLen = b[p + 1] * 8;
      if (optLen === 0 || optLen > size) break;
      if (optLen === 8 && (type === 1 || type === 2)) {
        const hi = (b[p + 2] << 8) | b[p + 3];
        const lo = v.getUint32(p + 4);
        if (type === 1) {
          if (sllHi !== 0 || sllLo !== 0) {
            this.counters.counts[C_ND_INVALID]++;
            keys[k + W_TCP_FLAGS] = optType;
            return;
          }
          sllHi = hi;
          sllLo = lo;
        } else {
          if (tllHi !== 0 || tllLo !== 0) {
            this.counters.counts[C_ND_INVALID]++;
            keys[k + W_TCP_FLAGS] = optType;
            return;
          }
          tllHi = hi;
          tllLo = lo;
        }
        if (optType === 0) optType = type;
      }
      p += optLen;
      size -= optLen;
    }
    for (let i = 0; i < 4; i++) keys[k + W_ND_TARGET + i] = v.getUint32(target + 4 * i);
    keys[k + W_ARP_SHA] = sllHi;
    keys[k + W_ARP_SHA + 1] = sllLo;
    keys[k + W_ARP_THA] = tllHi;
    keys[k + W_ARP_THA + 1] = tllLo;
    keys[k + W_TCP_FLAGS] = optType;
  }
}
