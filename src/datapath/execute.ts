/**
 * Executes datapath actions on one frame: header rewrites with incremental
 * checksum updates (RFC 1624), VLAN push/pop, and outputs.
 *
 * Invariant: the frame an output emits is exactly the input frame with every
 * action before it applied, as dpif-netdev's odp_execute_actions() produces.
 * The input frame is never written: the first action that changes bytes
 * copies it once into a scratch buffer (copy on write), and outputs of an
 * unchanged frame hand out the original bytes.
 *
 * Header rewrites follow lib/odp-execute.c and lib/packets.c byte for
 * byte, including their length checks (a set is skipped when the header it
 * needs is shorter than OVS requires) and their checksum quirks (the L4
 * checksum of an IPv4 later fragment is patched as if the fragment began
 * with the L4 header; an SCTP checksum that was wrong stays wrong).
 *
 * meter(ID) asks the RecircHost's meters whether the packet passes (a drop
 * band ends its actions there). ct, ct_clear and recirc go to the executor's RecircHost (the datapath,
 * recirculate.ts): conntrack runs on the frame as the actions before it left
 * it (a NAT rewrites the copy, never the input), on a private copy of the
 * key re-parsed when earlier actions changed headers; recirc hands the frame
 * and that key's metadata back to the datapath, which runs the next pass on
 * the next depth's executor, so this executor's scratch stays intact for
 * the actions after the recirc (OVS's fork: `ct(...),recirc(1),2`).
 *
 * Limits: frames up to SCRATCH_SIZE bytes plus VLAN_HEADERS_MAX pushes.
 */
import * as L from "../flow/layout.js";
import type { OdpAction } from "./actions.js";
import { csumReplace16, csumUpdate16, csumUpdate32, crc32c } from "../packet/checksum.js";
import { HDR_L3, HDR_L4, HDR_NONE, HDR_REGIONS, HDR_WORDS, REGION_META, REGION_TUNNEL, REGION_TUNNEL_IPV6, type Parser } from "../packet/parse.js";
import { RX_HASH_FROM_KEY, type RecircHost } from "./recirculate.js";
import { EXEC_HELD, type CtRequest, type ReleasedPacket } from "../conntrack/api.js";
import { OUTER_HDRS, type TunnelPopQueue } from "./tunnel.js";
import { pushTunnelHeader } from "../tunnel/frame.js";
import { hash5Tuple } from "../tunnel/hash.js";

// Module-local copies of the layout constants the per-packet code reads: V8
// folds a module const, where each use of an imported binding costs a load and a check.
const {
  DP_WORDS,
  ETH_TYPE_ARP,
  ETH_TYPE_IP,
  ETH_TYPE_IPV6,
  ETH_TYPE_VLAN_8021AD,
  ETH_TYPE_VLAN_8021Q,
  FRAG_LATER,
  IPPROTO_AH,
  IPPROTO_DSTOPTS,
  IPPROTO_FRAGMENT,
  IPPROTO_HOPOPTS,
  IPPROTO_ICMPV6,
  IPPROTO_ROUTING,
  IPPROTO_TCP,
  IPPROTO_UDP,
  KEY_WORDS,
  NW_FRAG_SHIFT,
  NW_PROTO_SHIFT,
  NW_TOS_SHIFT,
  NW_TTL_SHIFT,
  VLAN_CFI,
  W_ARP_SHA,
  W_ARP_THA,
  W_CT,
  W_CT_TP,
  W_DL_DST,
  W_DL_SRC,
  W_DL_TYPE,
  W_IN_PORT,
  W_IPV6_DST,
  W_IPV6_LABEL,
  W_IPV6_SRC,
  W_ND_TARGET,
  W_NW,
  W_NW_DST,
  W_NW_SRC,
  W_PKT_MARK,
  W_SKB_PRIORITY,
  W_TP,
  W_TUN_TP,
} = L;
const HEADROOM = 64;
/** The shortest a trunc cuts a packet to: its Ethernet header (dp_packet_set_cutlen). */
const ETH_HEADER_SIZE = 14;
/** Key words that are packet metadata, not headers: in_port through the tunnel (layout.ts). */
const META_WORDS = W_TUN_TP + 1;
const SCRATCH_SIZE = 65536 + HEADROOM;

/** Receives each output: the datapath port and the frame's bytes. */
export type EmitFn = (dpPort: number, buf: Uint8Array, offset: number, length: number) => void;

export class Executor {
  private readonly scratch = new Uint8Array(SCRATCH_SIZE);
  /** Frames dropped because they were too large to rewrite. */
  tooLargeCount = 0;
  /** Where tnl_pop puts decapsulated packets (the datapath recirculates them); null drops them. */
  tunnelPops: TunnelPopQueue | null = null;
  /** Runs a datapath clone's actions (its own scratch, so this frame stays as it is); made on first use. */
  private cloneExecutor: Executor | null = null;
  private readonly cloneHdrs = new Uint16Array(HDR_WORDS);
  private makeCloneExecutor(): Executor {
    const ex = new Executor();
    if (this.host !== null && this.parser !== null) ex.attach(this.host, this.parser, this.depth);
    // Its key may describe the headers before the changes made ahead of the clone.
    ex.keyIsParsed = false;
    this.cloneExecutor = ex;
    return ex;
  }
  /** Runs the actions on an encapsulated frame (tnl_push); made on first use. */
  private outerExecutor: Executor | null = null;
  /** Runs ct and recirc; without one they do nothing. */
  host: RecircHost | null = null;
  /** Recirculation depth of the packets this executor runs (0: as received). */
  depth = 0;
  /**
   * Below depth 0, the receive hash of the packet being run (set by the
   * datapath before each recirculated pass); at depth 0 it is computed from
   * the key the packet was received with.
   */
  rxHash = 0;
  /**
   * The packet's key once conntrack has touched it, at ctKeys[ctBase..] (ct
   * writes its metadata here, not into the caller's key). The datapath
   * points it at the key slot of the next depth's pass, so a recirc finds
   * the key already in place (setCtKeySlot); otherwise a private array.
   */
  private ctKeys: Uint32Array = new Uint32Array(KEY_WORDS);
  private ctBase = 0;
  private readonly ctHdrs = new Uint16Array(HDR_WORDS);
  private parser: Parser | null = null;

  /**
   * Re-reads the headers of the frame at b[start, start + len) into ctKey,
   * keeping its metadata words (in_port through the tunnel: recirc_id,
   * skb_priority, pkt_mark, ct_*), as OVS's packet metadata survives header
   * rewrites. `metaRegions` are the metadata region bits of the key as it
   * was (the parser sets none of them).
   */
  private reparse(b: Uint8Array, start: number, len: number, metaRegions: number): void {
    const k = this.ctKeys;
    const c = this.ctBase;
    const meta = this.metaSave;
    for (let w = 0; w < META_WORDS; w++) meta[w] = k[c + w];
    this.parser!.parseFrame(b, start, len, k[c + W_IN_PORT], k, c, this.ctHdrs, 0);
    for (let w = 0; w < META_WORDS; w++) k[c + w] = meta[w];
    this.ctHdrs[HDR_REGIONS] |= metaRegions;
  }
  private readonly metaSave = new Uint32Array(META_WORDS);

  /**
   * Copies the packet's datapath words into the ct key (a loop: no subarray
   * view per packet); the pipeline's words there stay zero, as the parser
   * left them (datapath keys never carry registers).
   */
  private takeKey(key: Uint32Array, kb: number): void {
    const k = this.ctKeys;
    const c = this.ctBase;
    for (let w = 0; w < DP_WORDS; w++) k[c + w] = key[kb + w];
  }

  /** Makes ctKeys[base, base + KEY_WORDS) this executor's ct key (zeroed here once). */
  setCtKeySlot(keys: Uint32Array, base: number): void {
    keys.fill(0, base, base + KEY_WORDS);
    this.ctKeys = keys;
    this.ctBase = base;
  }

  /** The receive hash of the packet whose (unmodified) key is key[kb..]: OVS's RSS hash, kept across recirculation. */
  private receiveHash(key: Uint32Array, kb: number): number {
    return this.depth === 0 || this.rxHash === RX_HASH_FROM_KEY ? hash5Tuple(key, kb) : this.rxHash;
  }

  /**
   * The actions `ct(req),recirc(id)` (what every ct(table=N) translates to)
   * on a packet that is not a fragment, whose key[kb..] is the parser's
   * output for the frame and is not read after this call (a batch's key):
   * conntrack writes its metadata into that key and the recirculated pass
   * runs in it, so neither a key copy nor the general action loop is paid.
   * Without NAT the key keeps the received headers, so the pass computes
   * the receive hash only if it needs it.
   */
  runCtRecirc(req: CtRequest, id: number, actions: readonly OdpAction[], buf: Uint8Array, offset: number, length: number, key: Uint32Array, kb: number, hdrs: Uint16Array, hb: number, emit: EmitFn): void {
    const host = this.host;
    if (host === null) return;
    let b = buf;
    let start = offset;
    let rxHash = this.depth === 0 ? RX_HASH_FROM_KEY : this.rxHash;
    if (req.nat !== null) {
      // NAT rewrites the key's headers (and the frame: never the input's bytes).
      rxHash = this.receiveHash(key, kb);
      if (!this.copyIn(buf, offset, length)) return;
      b = this.scratch;
      start = HEADROOM;
    }
    const held = host.runConntrack(b, start, length, hdrs[hb + HDR_L3], hdrs[hb + HDR_L4], key, kb, req) === EXEC_HELD;
    const released = host.takeReleased();
    if (released !== null) this.continueReleased(released, actions, 1, emit);
    if (held) return;
    host.recirculateKey(id, b, start, length, key, kb, hdrs, hb, this.depth, rxHash);
  }

  /**
   * Fragments that conntrack held and now releases (their datagram was
   * reassembled and tracked, or its list expired) continue after the ct
   * action that released them, as OVS's ipf adds them to the batch being
   * executed (ipf_postprocess_conntrack). Rare, so it may allocate.
   */
  private continueReleased(released: ReleasedPacket[], actions: readonly OdpAction[], from: number, emit: EmitFn): void {
    // Its own executor: this one's scratch and ct key may still hold the packet being run.
    let ex = this.releasedExecutor;
    if (ex === null) {
      ex = new Executor();
      if (this.host !== null && this.parser !== null) ex.attach(this.host, this.parser, this.depth);
      ex.keyIsParsed = false;
      this.releasedExecutor = ex;
    }
    // The fragments keep this pass's tunnel queue and receive hash (the datagram's).
    ex.tunnelPops = this.tunnelPops;
    ex.rxHash = this.rxHash;
    const hdrs = new Uint16Array(HDR_WORDS);
    // Their recircs use the key slot that is this executor's ct key: kept aside meanwhile.
    const saved = this.ctKeys.slice(this.ctBase, this.ctBase + KEY_WORDS);
    for (const p of released) {
      hdrs[HDR_L3] = p.l3;
      hdrs[HDR_L4] = p.l4;
      ex.run(p.frame, 0, p.frame.length, p.key, 0, hdrs, 0, actions, emit, from);
    }
    this.ctKeys.set(saved, this.ctBase);
  }
  private releasedExecutor: Executor | null = null;
  /**
   * Whether the keys this executor runs are the parser's output for their
   * frames (false for released fragments, whose key conntrack rebuilt), so
   * that a recirculated pass may copy them rather than parse again.
   */
  private keyIsParsed = true;

  /** Lets this executor run ct/recirc through `host`; `parser` re-reads headers changed before a ct. */
  attach(host: RecircHost, parser: Parser, depth: number): void {
    this.host = host;
    this.parser = parser;
    this.depth = depth;
  }

  /**
   * Runs `actions` on frame buf[offset, offset + length) whose parsed key is
   * key[kb..] and header offsets hdrs[hb..] (parse.ts), calling emit per output.
   */
  /**
   * Copies the frame into the scratch buffer at HEADROOM (copy on write:
   * only when an action must change bytes); false when it is too large.
   * Short frames are copied four bytes at a time through DataViews (a
   * subarray view per packet would allocate; a byte loop is several times
   * slower: every NAT copies); the source's view is made when the source
   * buffer changes, about once per batch.
   */
  private copyIn(buf: Uint8Array, offset: number, length: number): boolean {
    if (length + HEADROOM > SCRATCH_SIZE) {
      this.tooLargeCount++;
      return false;
    }
    const dst = this.scratch;
    if (length > 256) {
      dst.set(buf.subarray(offset, offset + length), HEADROOM);
      return true;
    }
    if (buf !== this.sourceBuf) {
      this.sourceBuf = buf;
      this.sourceView = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    }
    const sv = this.sourceView!;
    const dv = this.scratchView;
    let i = 0;
    for (; i + 4 <= length; i += 4) dv.setUint32(HEADROOM + i, sv.getUint32(offset + i));
    for (; i < length; i++) dst[HEADROOM + i] = buf[offset + i];
    return true;
  }
  private readonly scratchView = new DataView(this.scratch.buffer);
  /** The buffer copyIn last copied from, and a DataView over it. */
  private sourceBuf: Uint8Array | null = null;
  private sourceView: DataView | null = null;

  run(
    buf: Uint8Array,
    offset: number,
    length: number,
    key: Uint32Array,
    kb: number,
    hdrs: Uint16Array,
    hb: number,
    actions: readonly OdpAction[],
    emit: EmitFn,
    /** The first action to run (a fragment released by conntrack resumes after its ct). */
    from = 0,
  ): void {
    let b = buf;
    let start = offset;
    let len = length;
    let copied = false;
    let l3 = hdrs[hb + HDR_L3];
    let l4 = hdrs[hb + HDR_L4];
    // The key ct and recirc see: the caller's until ct needs its own copy;
    // `stale` once an action changed headers the key describes.
    let k = key;
    let kk = kb;
    let own = false;
    let stale = false;
    // Header offsets that describe k's headers: while not `stale`, a
    // recirculated pass copies k instead of parsing the frame (a NAT keeps k
    // true to the bytes: conntrack/api.ts updates its header words).
    let kh = hdrs;
    let khb = hb;
    const dlType = key[kb + W_DL_TYPE] & 0xffff;
    const nw = key[kb + W_NW];
    const laterFrag = ((nw >>> NW_FRAG_SHIFT) & FRAG_LATER) !== 0;
    // Bytes after the IP packet (Ethernet padding): OVS's l2_pad_size, which
    // L4 sizes leave out. VLAN pushes and pops never change it.
    let pad = 0;
    if (l3 !== HDR_NONE && dlType === ETH_TYPE_IP && l3 + 20 <= length) {
      const p = offset + l3;
      pad = Math.max(0, length - (l3 + ((buf[p + 2] << 8) | buf[p + 3])));
      // miniflow_extract sets the L4 offset of a later fragment too, just past the IP header.
      if (l4 === HDR_NONE && laterFrag) l4 = l3 + (buf[p] & 0x0f) * 4;
    } else if (l3 !== HDR_NONE && dlType === ETH_TYPE_IPV6 && l3 + 40 <= length) {
      const p = offset + l3;
      pad = Math.max(0, length - (l3 + 40 + ((buf[p + 4] << 8) | buf[p + 5])));
    }

    // Bytes a trunc takes off the next output (OVS's cutlen): counted when
    // the trunc runs, so a VLAN pushed after it is sent on top of max_len.
    let cut = 0;
    for (let ai = from; ai < actions.length; ai++) {
      const a = actions[ai];
      switch (a.t) {
        case "output":
          emit(a.port, b, start, len - cut);
          cut = 0;
          break;
        case "trunc": {
          // dp_packet_set_cutlen: never below an Ethernet header.
          const maxLen = a.maxLen < ETH_HEADER_SIZE ? ETH_HEADER_SIZE : a.maxLen;
          cut = len > maxLen ? len - maxLen : 0;
          break;
        }
        case "push_vlan": {
          if (!copied) {
            if (!this.copyIn(buf, offset, length)) return;
            b = this.scratch;
            start = HEADROOM;
            copied = true;
          }
          if (start < 4) return;
          b.copyWithin(start - 4, start, start + 12);
          start -= 4;
          len += 4;
          b[start + 12] = a.tpid >>> 8;
          b[start + 13] = a.tpid & 0xff;
          // The CFI bit in the key means "present"; on the wire it is DEI, which OVS clears.
          const tci = a.tci & ~VLAN_CFI;
          b[start + 14] = tci >>> 8;
          b[start + 15] = tci & 0xff;
          if (l3 !== HDR_NONE) l3 += 4;
          if (l4 !== HDR_NONE) l4 += 4;
          stale = true;
          break;
        }
        case "pop_vlan": {
          const t = (b[start + 12] << 8) | b[start + 13];
          if (len < 18 || (t !== ETH_TYPE_VLAN_8021Q && t !== ETH_TYPE_VLAN_8021AD)) break;
          if (!copied) {
            if (!this.copyIn(buf, offset, length)) return;
            b = this.scratch;
            start = HEADROOM;
            copied = true;
          }
          b.copyWithin(start + 4, start, start + 12);
          start += 4;
          len -= 4;
          if (l3 !== HDR_NONE) l3 -= 4;
          if (l4 !== HDR_NONE) l4 -= 4;
          stale = true;
          break;
        }
        case "set": {
          if (a.attr === "skb_mark" || a.attr === "skb_priority") {
            // Packet metadata, no bytes: it lives in the key ct and recirc see, and a
            // recirculated pass matches it (dp_netdev_recirculate keeps the metadata).
            if (!own) {
              this.takeKey(key, kb);
              k = this.ctKeys;
              kk = this.ctBase;
              own = true;
            }
            const w = a.attr === "skb_mark" ? W_PKT_MARK : W_SKB_PRIORITY;
            const m = a.masked ? a.mask[w] : 0xffffffff;
            k[kk + w] = ((k[kk + w] & ~m) | (a.value[w] & m)) >>> 0;
            break;
          }
          if (!copied) {
            if (!this.copyIn(buf, offset, length)) return;
            b = this.scratch;
            start = HEADROOM;
            copied = true;
          }
          stale = true;
          const v = a.value;
          const m = a.masked ? a.mask : null;
          const mk = (w: number): number => (m ? m[w] : 0xffffffff);
          // dp_packet_l4_size: from the L4 header to the end of the IP packet.
          const l4Size = l4 === HDR_NONE ? 0 : Math.max(0, len - pad - l4);
          switch (a.attr) {
            case "eth":
              writeMac(b, start, v[W_DL_DST], v[W_DL_DST + 1], mk(W_DL_DST), mk(W_DL_DST + 1));
              writeMac(b, start + 6, v[W_DL_SRC], v[W_DL_SRC + 1], mk(W_DL_SRC), mk(W_DL_SRC + 1));
              break;
            case "ipv4":
              if (l3 === HDR_NONE || dlType !== ETH_TYPE_IP) break;
              setIpv4(b, start + l3, l4 === HDR_NONE ? -1 : start + l4, l4Size, v, m);
              break;
            case "ipv6":
              if (l3 === HDR_NONE || dlType !== ETH_TYPE_IPV6) break;
              setIpv6(b, start + l3, l4 === HDR_NONE ? start + len - pad : start + l4, l4Size, v, m);
              break;
            case "tcp":
              // odp_set_tcp: only with a whole TCP header (dp_packet_get_tcp_payload).
              if (l4 === HDR_NONE || l4Size < 20) break;
              {
                const doff = (b[start + l4 + 12] >>> 4) * 4;
                if (doff < 20 || doff > l4Size) break;
              }
              setPorts(b, start + l4, l4Size, "tcp", v[W_TP], mk(W_TP));
              break;
            case "udp":
              if (l4 === HDR_NONE || l4Size < 8) break;
              setPorts(b, start + l4, l4Size, "udp", v[W_TP], mk(W_TP));
              break;
            case "sctp":
              if (l4 === HDR_NONE || l4Size < 12) break;
              setPorts(b, start + l4, l4Size, "sctp", v[W_TP], mk(W_TP));
              break;
            case "icmp":
            case "icmpv6":
              // packet_set_icmp needs the 8-byte ICMP header (dp_packet_get_icmp_payload).
              if (l4 === HDR_NONE || l4Size < 8) break;
              {
                const p = start + l4;
                const old = (b[p] << 8) | b[p + 1];
                const want = (((v[W_TP] >>> 16) & 0xff) << 8) | (v[W_TP] & 0xff);
                const wm = (((mk(W_TP) >>> 16) & 0xff) << 8) | (mk(W_TP) & 0xff);
                const nv = (old & ~wm) | (want & wm);
                if (nv !== old) csumReplace16(b, p + 2, p, nv);
              }
              break;
            case "arp":
              if (l3 === HDR_NONE || dlType !== ETH_TYPE_ARP) break;
              setArp(b, start + l3, v, m);
              break;
            case "nd":
              // odp_set_nd: needs the ND message (24 bytes).
              if (l4 === HDR_NONE || l4Size < 24) break;
              setNd(b, start + l4, l4Size, v, m);
              break;
            default:
              break;
          }
          break;
        }
        case "ct": {
          const host = this.host;
          if (host === null) break;
          // NAT rewrites the frame: never the input's bytes.
          if (a.req.nat !== null && !copied) {
            if (!this.copyIn(buf, offset, length)) return;
            b = this.scratch;
            start = HEADROOM;
            copied = true;
          }
          if (!own) {
            this.takeKey(key, kb);
            k = this.ctKeys;
            kk = this.ctBase;
            own = true;
          }
          if (stale) {
            this.reparse(b, start, len, hdrs[hb + HDR_REGIONS] & (REGION_META | REGION_TUNNEL | REGION_TUNNEL_IPV6));
            l3 = this.ctHdrs[HDR_L3];
            l4 = this.ctHdrs[HDR_L4];
            kh = this.ctHdrs;
            khb = 0;
            stale = false;
          }
          const held = host.runConntrack(b, start, len, l3, l4, k, kk, a.req) === EXEC_HELD;
          const released = host.takeReleased();
          if (released !== null) this.continueReleased(released, actions, ai + 1, emit);
          // A held fragment stops here; it leaves with its datagram (above, now or later).
          if (held) return;
          break;
        }
        case "ct_clear":
          // The packet's ct metadata is cleared (OVS_ACTION_ATTR_CT_CLEAR).
          if (!own) {
            this.takeKey(key, kb);
            k = this.ctKeys;
            kk = this.ctBase;
            own = true;
          }
          k.fill(0, kk + W_CT, kk + W_CT_TP + 1);
          break;
        case "recirc":
          if (this.host === null) break;
          // The frame's headers are still the ones k holds: the next pass copies them (no re-parse).
          if (!stale && this.keyIsParsed) this.host.recirculate(a.id, b, start, len, k, kk, kh, khb, this.depth, this.receiveHash(key, kb));
          else this.host.recirculate(a.id, b, start, len, k, kk, null, 0, this.depth, this.receiveHash(key, kb));
          break;
        case "tnl_push": {
          if (!copied) {
            if (!this.copyIn(buf, offset, length)) return;
            b = this.scratch;
            start = HEADROOM;
            copied = true;
          }
          if (start < a.header.size) return;
          // The UDP source port comes from the packet's receive hash (its key before any rewrite or NAT).
          const at = pushTunnelHeader(b, start, len, a.header.bytes, a.header.size, a.header.kind === "vxlan", this.receiveHash(key, kb));
          this.outerExecutor ??= new Executor();
          this.outerExecutor.run(b, at, len + a.header.size, a.outerKey, 0, OUTER_HDRS, 0, a.actions, emit);
          break;
        }
        case "clone": {
          // The nested actions get the packet as it is now and change only their copy
          // (OVS_ACTION_ATTR_CLONE); this list goes on with the packet as it was.
          const ex = this.cloneExecutor ?? this.makeCloneExecutor();
          const ch = this.cloneHdrs;
          for (let w = 0; w < HDR_WORDS; w++) ch[w] = kh[khb + w];
          ch[HDR_L3] = l3;
          ch[HDR_L4] = l4;
          ex.tunnelPops = this.tunnelPops;
          ex.rxHash = this.rxHash;
          ex.run(b, start, len, k, kk, ch, 0, a.actions, emit);
          break;
        }
        case "meter":
          // dp_netdev_run_meter: a band that fires drops the packet here, before the actions after it.
          if (this.host !== null && !this.host.runMeter(a.id, len)) return;
          break;
        case "tnl_pop":
          if (this.tunnelPops !== null) this.tunnelPops.push(a.port, a.udp, b, start, len, l3 === HDR_NONE ? -1 : start + l3);
          break;
        default:
          break;
      }
    }
  }
}

function writeMac(b: Uint8Array, at: number, hi: number, lo: number, mhi: number, mlo: number): void {
  const bytes = [hi >>> 8, hi, lo >>> 24, lo >>> 16, lo >>> 8, lo];
  const masks = [mhi >>> 8, mhi, mlo >>> 24, mlo >>> 16, mlo >>> 8, mlo];
  for (let i = 0; i < 6; i++) {
    const mm = masks[i] & 0xff;
    b[at + i] = (b[at + i] & ~mm) | (bytes[i] & mm);
  }
}

const read16 = (b: Uint8Array, at: number): number => (b[at] << 8) | b[at + 1];
const read32 = (b: Uint8Array, at: number): number => ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
const write16 = (b: Uint8Array, at: number, v: number): void => {
  b[at] = (v >>> 8) & 0xff;
  b[at + 1] = v & 0xff;
};
const write32 = (b: Uint8Array, at: number, v: number): void => {
  b[at] = v >>> 24;
  b[at + 1] = v >>> 16;
  b[at + 2] = v >>> 8;
  b[at + 3] = v;
};

/**
 * The checksum an address change in the pseudo-header must patch
 * (packet_set_ipv4_addr, packet_update_csum128): TCP with a 20-byte header,
 * UDP with a non-zero checksum, ICMPv6 (IPv6 only); else -1.
 */
function pseudoCsumAt(b: Uint8Array, l4: number, l4Size: number, proto: number, v6: boolean): number {
  if (l4 < 0) return -1;
  if (proto === IPPROTO_TCP && l4Size >= 20) return l4 + 16;
  if (proto === IPPROTO_UDP && l4Size >= 8) return b[l4 + 6] | b[l4 + 7] ? l4 + 6 : -1;
  if (v6 && proto === IPPROTO_ICMPV6 && l4Size >= 4) return l4 + 2;
  return -1;
}

/**
 * odp_set_ipv4 / packet_set_ipv4: each masked field that changes, with the
 * header checksum and (for addresses) the L4 checksum patched. The protocol
 * is the header's own, and the L4 header is where OVS put it, also in a
 * later fragment.
 */
function setIpv4(b: Uint8Array, p: number, l4: number, l4Size: number, v: Uint32Array, m: Uint32Array | null): void {
  setIpv4Addr(b, p, p + 12, l4, l4Size, v[W_NW_SRC], m ? m[W_NW_SRC] : 0xffffffff);
  setIpv4Addr(b, p, p + 16, l4, l4Size, v[W_NW_DST], m ? m[W_NW_DST] : 0xffffffff);
  const nwMask = m ? m[W_NW] : 0xffffffff;
  const tosMask = (nwMask >>> NW_TOS_SHIFT) & 0xff;
  if (tosMask) {
    const tos = ((b[p + 1] & ~tosMask) | ((v[W_NW] >>> NW_TOS_SHIFT) & tosMask)) & 0xff;
    if (tos !== b[p + 1]) {
      write16(b, p + 10, csumUpdate16(read16(b, p + 10), b[p + 1], tos));
      b[p + 1] = tos;
    }
  }
  const ttlMask = (nwMask >>> NW_TTL_SHIFT) & 0xff;
  if (ttlMask) {
    const ttl = ((b[p + 8] & ~ttlMask) | ((v[W_NW] >>> NW_TTL_SHIFT) & ttlMask)) & 0xff;
    if (ttl !== b[p + 8]) {
      write16(b, p + 10, csumUpdate16(read16(b, p + 10), b[p + 8] << 8, ttl << 8));
      b[p + 8] = ttl;
    }
  }
}

/** packet_set_ipv4_addr: the L4 checksum (TCP, or UDP when it has one), then the header checksum, then the address. */
function setIpv4Addr(b: Uint8Array, p: number, at: number, l4: number, l4Size: number, value: number, mask: number): void {
  if (!mask) return;
  const old = read32(b, at);
  const nv = ((old & ~mask) | (value & mask)) >>> 0;
  if (nv === old) return;
  const proto = b[p + 9];
  const l4c = pseudoCsumAt(b, l4, l4Size, proto, false);
  if (l4c >= 0) {
    let c = csumUpdate32(read16(b, l4c), old, nv);
    if (proto === IPPROTO_UDP && c === 0) c = 0xffff;
    write16(b, l4c, c);
  }
  write16(b, p + 10, csumUpdate32(read16(b, p + 10), old, nv));
  write32(b, at, nv);
}

/** What ipv6Walk found (module scratch, so a walk allocates nothing). */
let walkProto = 0;
let walkRoutingHeader = false;
let walkRecalc = true;

/**
 * packet_rh_present: walks the extension headers between the IPv6 header at
 * `p` and `l4`; sets the final next header, whether a routing header with
 * segments left was found (the destination's checksum is then not patched),
 * and whether checksums are patched at all (only in the first fragment when
 * there is a fragment header).
 */
function ipv6Walk(b: Uint8Array, p: number, l4: number): void {
  walkProto = 0;
  walkRoutingHeader = false;
  walkRecalc = true;
  let remaining = l4 - p;
  if (remaining < 40) return;
  let at = p + 40;
  remaining -= 40;
  walkProto = b[p + 6];
  for (;;) {
    const nh = walkProto;
    if (nh !== IPPROTO_HOPOPTS && nh !== IPPROTO_ROUTING && nh !== IPPROTO_DSTOPTS && nh !== IPPROTO_AH && nh !== IPPROTO_FRAGMENT) return;
    if (remaining < 8) return;
    let extLen: number;
    if (nh === IPPROTO_AH) {
      walkProto = b[at];
      extLen = (b[at + 1] + 2) * 4;
    } else if (nh === IPPROTO_FRAGMENT) {
      const offlg = read16(b, at + 2);
      walkRecalc = (offlg & 0xfff8) === 0 && (offlg & 1) !== 0;
      walkProto = b[at];
      extLen = 8;
    } else if (nh === IPPROTO_ROUTING) {
      if (b[at + 3] > 0) {
        walkRoutingHeader = true;
        return;
      }
      walkProto = b[at];
      extLen = (b[at + 1] + 1) * 8;
    } else {
      walkProto = b[at];
      extLen = (b[at + 1] + 1) * 8;
    }
    if (remaining < extLen) return;
    remaining -= extLen;
    at += extLen;
  }
}

/**
 * packet_set_ipv6_addr: the masked address `v[w..w+3]` at `at`, with the L4
 * checksum patched when `recalc` (packet_update_csum128).
 */
function setIpv6Addr(b: Uint8Array, at: number, v: Uint32Array, w: number, m: Uint32Array | null, l4: number, l4Size: number, recalc: boolean): void {
  let differs = false;
  for (let i = 0; i < 4; i++) {
    const mm = m ? m[w + i] : 0xffffffff;
    const old = read32(b, at + 4 * i);
    if ((((v[w + i] & mm) | (old & ~mm)) >>> 0) !== old) differs = true;
  }
  if (!differs) return;
  const csumAt = recalc ? pseudoCsumAt(b, l4, l4Size, walkProto, true) : -1;
  for (let i = 0; i < 4; i++) {
    const mm = m ? m[w + i] : 0xffffffff;
    const old = read32(b, at + 4 * i);
    const nv = ((v[w + i] & mm) | (old & ~mm)) >>> 0;
    if (csumAt >= 0) write16(b, csumAt, csumUpdate32(read16(b, csumAt), old, nv));
    write32(b, at + 4 * i, nv);
  }
  if (csumAt >= 0 && walkProto === IPPROTO_UDP && read16(b, csumAt) === 0) write16(b, csumAt, 0xffff);
}

/** odp_set_ipv6 / packet_set_ipv6: addresses (checksums as OVS patches them), traffic class, label, hop limit. */
function setIpv6(b: Uint8Array, p: number, l4: number, l4Size: number, v: Uint32Array, m: Uint32Array | null): void {
  ipv6Walk(b, p, l4);
  const recalc = walkRecalc;
  setIpv6Addr(b, p + 8, v, W_IPV6_SRC, m, l4, l4Size, recalc);
  setIpv6Addr(b, p + 24, v, W_IPV6_DST, m, l4, l4Size, !walkRoutingHeader && recalc);
  const first = read32(b, p);
  const labelMask = (m ? m[W_IPV6_LABEL] : 0xfffff) & 0xfffff;
  const tcMask = ((m ? m[W_NW] : 0xffffffff) >>> NW_TOS_SHIFT) & 0xff;
  const want = ((first & ~labelMask & ~(tcMask << 20)) | (v[W_IPV6_LABEL] & labelMask) | ((((v[W_NW] >>> NW_TOS_SHIFT) & tcMask) << 20) >>> 0)) >>> 0;
  write32(b, p, want);
  const hlMask = ((m ? m[W_NW] : 0xffffffff) >>> NW_TTL_SHIFT) & 0xff;
  if (hlMask) b[p + 7] = (b[p + 7] & ~hlMask) | ((v[W_NW] >>> NW_TTL_SHIFT) & hlMask);
}

/**
 * packet_set_{tcp,udp,sctp}_port: TCP patches its checksum per port; UDP
 * only when it has one, and turns a result of 0 into 0xffff after both
 * ports; SCTP keeps a wrong CRC32c wrong (old ^ old correct ^ new correct).
 */
function setPorts(b: Uint8Array, p: number, l4Size: number, attr: "tcp" | "udp" | "sctp", tp: number, mask: number): void {
  const oldSrc = read16(b, p);
  const oldDst = read16(b, p + 2);
  const src = (oldSrc & ~(mask >>> 16)) | ((tp >>> 16) & (mask >>> 16));
  const dst = (oldDst & ~(mask & 0xffff)) | (tp & mask & 0xffff);
  if (attr === "sctp") {
    const c0 = b[p + 8];
    const c1 = b[p + 9];
    const c2 = b[p + 10];
    const c3 = b[p + 11];
    b.fill(0, p + 8, p + 12);
    const oldCorrect = crc32c(b, p, l4Size);
    write16(b, p, src);
    write16(b, p + 2, dst);
    // Stored least significant byte first; the XOR works byte by byte.
    const x = (oldCorrect ^ crc32c(b, p, l4Size)) >>> 0;
    b[p + 8] = c0 ^ (x & 0xff);
    b[p + 9] = c1 ^ ((x >>> 8) & 0xff);
    b[p + 10] = c2 ^ ((x >>> 16) & 0xff);
    b[p + 11] = c3 ^ (x >>> 24);
    return;
  }
  const csumAt = attr === "tcp" ? p + 16 : p + 6;
  if (attr === "udp" && read16(b, csumAt) === 0) {
    write16(b, p, src);
    write16(b, p + 2, dst);
    return;
  }
  setPort(b, p, src, csumAt);
  setPort(b, p + 2, dst, csumAt);
  if (attr === "udp" && read16(b, csumAt) === 0) write16(b, csumAt, 0xffff);
}

/** packet_set_port: a changed port and its checksum. */
function setPort(b: Uint8Array, at: number, port: number, csumAt: number): void {
  const old = read16(b, at);
  if (old === port) return;
  write16(b, csumAt, csumUpdate16(read16(b, csumAt), old, port));
  write16(b, at, port);
}

/** set_arp: opcode, sender and target addresses (ARP has no checksum). */
function setArp(b: Uint8Array, p: number, v: Uint32Array, m: Uint32Array | null): void {
  // The key holds the opcode's low byte; a plain set writes the whole 16-bit opcode.
  const opMask = m ? (m[W_NW] >>> NW_PROTO_SHIFT) & 0xff : 0xffff;
  const op = (v[W_NW] >>> NW_PROTO_SHIFT) & 0xff;
  write16(b, p + 6, (read16(b, p + 6) & ~opMask) | (op & opMask));
  writeMac(b, p + 8, v[W_ARP_SHA], v[W_ARP_SHA + 1], m ? m[W_ARP_SHA] : 0xffff, m ? m[W_ARP_SHA + 1] : 0xffffffff);
  const spaMask = m ? m[W_NW_SRC] : 0xffffffff;
  write32(b, p + 14, ((v[W_NW_SRC] & spaMask) | (read32(b, p + 14) & ~spaMask)) >>> 0);
  writeMac(b, p + 18, v[W_ARP_THA], v[W_ARP_THA + 1], m ? m[W_ARP_THA] : 0xffff, m ? m[W_ARP_THA + 1] : 0xffffffff);
  const tpaMask = m ? m[W_NW_DST] : 0xffffffff;
  write32(b, p + 24, ((v[W_NW_DST] & tpaMask) | (read32(b, p + 24) & ~tpaMask)) >>> 0);
}

/**
 * odp_set_nd / packet_set_nd: the target (ICMPv6 checksum patched) and the
 * first source or target link-layer option. The option walk is OVS's,
 * including how it counts the bytes left after a step.
 */
function setNd(b: Uint8Array, p: number, l4Size: number, v: Uint32Array, m: Uint32Array | null): void {
  // The target, with the ICMPv6 checksum patched (packet_set_ipv6_addr).
  walkProto = IPPROTO_ICMPV6;
  setIpv6Addr(b, p + 8, v, W_ND_TARGET, m, p, l4Size, true);
  let opt = p + 24;
  let remain = l4Size - 24;
  const end = p + l4Size;
  while (remain >= 8 && opt + 2 <= end && b[opt + 1] !== 0) {
    const type = b[opt];
    if ((type === 1 || type === 2) && b[opt + 1] === 1) {
      const w = type === 1 ? W_ARP_SHA : W_ARP_THA;
      const mhi = m ? m[w] : 0xffff;
      const mlo = m ? m[w + 1] : 0xffffffff;
      const old0 = read16(b, opt + 2);
      const old1 = read16(b, opt + 4);
      const old2 = read16(b, opt + 6);
      writeMac(b, opt + 2, v[w], v[w + 1], mhi, mlo);
      // recalc_csum48: the option's three 16-bit words.
      write16(b, p + 2, csumUpdate16(read16(b, p + 2), old0, read16(b, opt + 2)));
      write16(b, p + 2, csumUpdate16(read16(b, p + 2), old1, read16(b, opt + 4)));
      write16(b, p + 2, csumUpdate16(read16(b, p + 2), old2, read16(b, opt + 6)));
      break;
    }
    opt += b[opt + 1] * 8;
    if (opt + 2 > end) break;
    remain -= b[opt + 1] * 8;
  }
}
