/**
 * The userspace connection tracker: OVS 3.1's lib/conntrack.c behaviour over
 * typed arrays.
 *
 * Invariants:
 * - execute() leaves in the key what conntrack_execute() leaves in the
 *   packet metadata: ct_state, ct_zone, ct_mark, ct_label and the original
 *   direction tuple (write_ct_md), decided as process_one() decides.
 * - A packet of an existing connection allocates nothing; only a commit that
 *   creates a connection may (when the table grows).
 * - A connection whose expiration has passed is invisible to lookups even
 *   before sweep() frees it (conn_expired()).
 *
 * Design: ConnTable holds the records and the two-direction index; tcp.ts,
 * other.ts and icmp.ts hold each protocol's state machine; nat.ts chooses
 * and applies translations; TimerWheel frees expired records on sweep().
 * A second ct() on a packet already tracked in the same zone takes OVS's
 * cached-connection shortcut (process_one_fast): OVS keeps a pointer to the
 * connection in the packet's metadata, we find it again through the
 * original-direction tuple that the first ct() left in the key.
 * Fragments: as OVS 3.1 (ipf.c, on by default for IPv4 and IPv6), fragments
 * are held and reassembled (ipf.ts); execute() then returns EXEC_HELD and
 * the fragments come back through takeReleased() with the datagram's ct
 * fields. Fragments ipf refuses are +inv.
 * Limits: `connsMax` connections (OVS's ct-maxconns, default 3,000,000);
 * per-zone limits as `ovs-appctl dpctl/ct-set-limits` sets them.
 */
import * as L from "../flow/layout.js";
import { read16, read32 } from "../packet/bytes.js";
import * as Api from "./api.js";
import { type ConntrackEngine, type CtRequest, type ReleasedPacket } from "./api.js";
import * as Ipf from "./ipf.js";
import { FragmentReassembler } from "./ipf.js";
import * as Parse from "../packet/parse.js";
import { Parser } from "../packet/parse.js";
import * as Table from "./table.js";
import { ConnTable } from "./table.js";
import * as Tcp from "./tcp.js";
import { TcpTracker, tcpNewConn, tcpValidNew } from "./tcp.js";
import { TimerWheel } from "./timers.js";
import * as Timeouts from "./timeouts.js";
import { type TimeoutPolicy, timeoutTableMs } from "./timeouts.js";
import * as Tuple from "./tuple.js";
import { TupleExtractor, hashTuple, hashTuple4, reverseIcmp6Type, reverseIcmpType, reverseTuple, tuplesEqual } from "./tuple.js";
import { type DumpFormat, formatConn } from "./dump.js";
import * as Nat from "./nat.js";
import { NatAllocator, NatRewriter, natActionOf } from "./nat.js";

// The constants the packet path reads (layout words, state bits, tuple
// offsets), as this module's own: V8 (Node 20) folds a module's own constants
// into the code, while every use of an imported binding (L.X or a named
// import) is a load with a TDZ check; on an established UDP packet through
// execute() the difference measured ~15% of the engine's CPU time.
const {
  DP_WORDS, ETH_TYPE_IP, ETH_TYPE_IPV6, FRAG_ANY, FRAG_LATER, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_IGMP, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, KEY_WORDS, NW_FRAG_SHIFT, W_CT, W_CT_IPV6_DST, W_CT_IPV6_SRC, W_CT_LABEL, W_CT_MARK, W_CT_NW_DST, W_CT_NW_SRC, W_CT_TP, W_DL_DST, W_DL_TYPE, W_IPV6_DST, W_IPV6_SRC, W_NW, W_NW_DST, W_NW_SRC, W_TP,
} = L;
const { CS_DST_NAT, CS_ESTABLISHED, CS_INVALID, CS_NEW, CS_RELATED, CS_REPLY_DIR, CS_SRC_NAT, CS_TRACKED, EXEC_DONE, EXEC_HELD } = Api;
const { IPF_COMPLETE, IPF_HELD, IPF_INVALID, IPF_MAX_FRAGS, IPF_V4_FRAG_SIZE_MIN, IPF_V6_FRAG_SIZE_MIN } = Ipf;
const { HDR_L3, HDR_L4, HDR_WORDS } = Parse;
const { CONN_TUPLE_WORDS, DIR_ORIG, DIR_REPLY } = Table;
const { UPDATE_INVALID, UPDATE_NEW, UPDATE_VALID, UPDATE_VALID_NEW } = Tcp;
const { TM_ICMP_FIRST, TM_ICMP_REPLY, TM_OTHER_BIDIR, TM_OTHER_FIRST, TM_OTHER_MULTIPLE } = Timeouts;
const { ICMP4_ECHO_REQUEST, ICMP4_INFOREQUEST, ICMP4_TIMESTAMP, ICMP6_ECHO_REQUEST, T_DPORT, T_DST, T_META, T_SPORT, T_SRC, TUPLE_WORDS } = Tuple;
const { NAT_COMMITTED, NAT_DST, NAT_SRC } = Nat;

/** OVS's DEFAULT_N_CONN_LIMIT (`ovs-appctl dpctl/ct-set-maxconns`). */
export const CONNS_MAX_DEFAULT = 3_000_000;
/** The zone of `ct-set-limits default=N`: one shared count for every zone without its own limit (OVS 3.1's DEFAULT_ZONE). */
export const DEFAULT_ZONE = -1;

export interface ConntrackOptions {
  /** Timeout policy in seconds; unspecified attributes keep OVS's defaults. */
  timeouts?: Partial<TimeoutPolicy>;
  /** Global connection limit (ct-maxconns). */
  connsMax?: number;
  /** Connections the table holds before it first grows (default 1024); growing rehashes, so a
   * datapath that expects many connections sizes it up front. */
  connsInitial?: number;
  /** Zone limits: zone (or DEFAULT_ZONE) -> limit, as dpctl/ct-set-limits. */
  zoneLimits?: ReadonlyArray<{ zone: number; limit: number }>;
  /** false: TCP sequence checks off (dpctl/ct-disable-tcp-seq-chk). */
  tcpSeqCheck?: boolean;
  /** Fragment reassembly, as `dpctl/ipf-set-enabled`, `ipf-set-min-frag`, `ipf-set-max-nfrags`: on for both families by default, as in OVS. */
  fragments?: { v4?: boolean; v6?: boolean; minV4?: number; minV6?: number; fragsMax?: number };
}

/** Counters (OVS coverage counters conntrack_full, conntrack_zone_full, ...). */
export interface ConntrackStats {
  /** Connections in the table (OVS n_conn, expired ones until swept). */
  connections: number;
  /** Packets marked +inv. */
  invalid: number;
  /** Commits refused by the global limit (conntrack_full). */
  limitGlobal: number;
  /** Commits refused by a zone limit. */
  limitZone: number;
  /** Commits refused because NAT found no free tuple. */
  natExhausted: number;
  /** Connections created / freed. */
  created: number;
  expired: number;
}

interface ZoneLimit {
  limit: number;
  count: number;
  seq: number;
}

/** lookup(): the reply tuple of an expired NAT connection (see there). */
const MISSING_PARENT = -2;
/** The nat_action bits that translate something. */
const NAT_ACTIONS = NAT_SRC | NAT_DST;

/** Protocol classes, from the tuple's nw_proto (l4_protos[]). */
const P_OTHER = 0;
const P_TCP = 1;
const P_ICMP = 2;

/** Other-protocol (UDP, ...) states (conntrack-other.c). */
const OTHERS_FIRST = 0;
const OTHERS_MULTIPLE = 1;
const OTHERS_BIDIR = 2;
/** ICMP states (conntrack-icmp.c). */
const ICMPS_FIRST = 0;
const ICMPS_REPLY = 1;

export class Conntrack implements ConntrackEngine {
  readonly table: ConnTable;
  private readonly wheel: TimerWheel;
  private readonly timeoutMs: Float64Array;
  private readonly tcp = new TcpTracker();
  private readonly extractor = new TupleExtractor();
  /** Fragment reassembly (OVS's ipf), null when disabled for both families. */
  readonly ipf: FragmentReassembler | null;
  private released: ReleasedPacket[] = [];
  private readonly parser = new Parser();
  private readonly reassKey = new Uint32Array(KEY_WORDS);
  private readonly reassHdrs = new Uint16Array(HDR_WORDS);
  private readonly nat = new NatRewriter();
  /** The time of the packet being processed (NAT's collision checks skip expired connections). */
  private nowMs = 0;
  private readonly natAlloc = new NatAllocator({
    inUse: (t: Uint32Array, at: number): boolean => this.lookup(t, at, this.nowMs) !== -1,
  });
  /** Connections per zone (for stats and `dpctl/ct-get-limits`). */
  readonly zoneCounts = new Uint32Array(65536);
  private readonly zoneLimits = new Map<number, ZoneLimit>();
  private readonly limitsBySeq = new Map<number, ZoneLimit & { zone: number }>();
  private limitSeq = 0;
  readonly connsMax: number;

  // Counters, written back by stats().
  private nInvalid = 0;
  private nLimitGlobal = 0;
  private nLimitZone = 0;
  private nNatExhausted = 0;
  private nCreated = 0;
  private nExpired = 0;

  // Per-packet scratch (never reallocated).
  /** The packet's tuple (ctx->key). */
  private readonly q = new Uint32Array(TUPLE_WORDS);
  private readonly q2 = new Uint32Array(TUPLE_WORDS);
  /** Result of lookup(): the direction the tuple matched. */
  private reply = false;
  /** ct_label value/mask of the last request, as words (most significant first). */
  private labelReq: CtRequest["label"] = null;
  private readonly labelWords = new Uint32Array(8);
  private readonly expireFn = (c: number): void => this.clean(c);

  constructor(opts: ConntrackOptions = {}) {
    this.connsMax = opts.connsMax ?? CONNS_MAX_DEFAULT;
    if (!Number.isInteger(this.connsMax) || this.connsMax < 0) throw new RangeError(`connsMax must be a whole number, got ${this.connsMax}`);
    this.timeoutMs = timeoutTableMs(opts.timeouts);
    this.table = new ConnTable(Math.max(1, this.connsMax), opts.connsInitial);
    this.wheel = new TimerWheel(this.table);
    this.tcp.seqCheck = opts.tcpSeqCheck ?? true;
    for (const zl of opts.zoneLimits ?? []) this.setZoneLimit(zl.zone, zl.limit);
    const f = opts.fragments ?? {};
    this.ipf = f.v4 === false && f.v6 === false ? null
      : new FragmentReassembler(f.v4 ?? true, f.v6 ?? true, f.minV4 ?? IPF_V4_FRAG_SIZE_MIN, f.minV6 ?? IPF_V6_FRAG_SIZE_MIN, f.fragsMax ?? IPF_MAX_FRAGS);
  }

  // ------------------------------------------------------------------
  // Control plane.

  /** `dpctl/ct-set-limits [default=N] [zone=Z,limit=L]` for one zone (DEFAULT_ZONE for default). */
  setZoneLimit(zone: number, limit: number): void {
    if (!Number.isInteger(zone) || zone < DEFAULT_ZONE || zone > 0xffff) throw new RangeError(`invalid conntrack zone ${zone}`);
    if (!Number.isInteger(limit) || limit < 0 || limit > 0xffffffff) throw new RangeError(`invalid conntrack zone limit ${limit}`);
    const zl = this.zoneLimits.get(zone);
    if (zl) {
      zl.limit = limit;
      return;
    }
    const created = { zone, limit, count: 0, seq: this.limitSeq++ };
    this.zoneLimits.set(zone, created);
    this.limitsBySeq.set(created.seq, created);
  }

  /** `dpctl/ct-del-limits zone=Z`. Connections it admitted no longer count anywhere. */
  deleteZoneLimit(zone: number): void {
    const zl = this.zoneLimits.get(zone);
    if (!zl) return;
    this.zoneLimits.delete(zone);
    this.limitsBySeq.delete(zl.seq);
  }

  /** `dpctl/ct-get-limits`: the limit and count that apply to a zone (zone_limit_get). */
  zoneLimit(zone: number): { limit: number; count: number } | null {
    const zl = this.zoneLimits.get(zone) ?? this.zoneLimits.get(DEFAULT_ZONE);
    return zl ? { limit: zl.limit, count: zl.count } : null;
  }

  stats(): ConntrackStats {
    return {
      connections: this.table.count,
      invalid: this.nInvalid,
      limitGlobal: this.nLimitGlobal,
      limitZone: this.nLimitZone,
      natExhausted: this.nNatExhausted,
      created: this.nCreated,
      expired: this.nExpired,
    };
  }

  sweep(nowMs: number): void {
    this.wheel.sweep(nowMs, this.expireFn);
    if (this.ipf !== null) this.ipf.purge(nowMs);
  }

  flush(zone?: number): void {
    if (zone === undefined) {
      this.table.clear();
      this.wheel.clear();
      this.zoneCounts.fill(0);
      for (const zl of this.zoneLimits.values()) zl.count = 0;
      return;
    }
    const t = this.table;
    for (let c = 0; c < t.capacity; c++) {
      if (t.live[c] === 1 && t.tuples[c * CONN_TUPLE_WORDS + T_META] >>> 16 === zone) {
        this.unaccount(c);
        t.retire(c);
      }
    }
  }

  /** dpctl/dump-conntrack [-m] [-s] [zone=N]: `verbose` is -m, `stats` -s (needs nowMs). */
  dump(opts: { zone?: number; nowMs?: number } & DumpFormat = {}): string[] {
    const out: string[] = [];
    const t = this.table;
    for (let c = 0; c < t.capacity; c++) {
      if (t.live[c] !== 1) continue;
      if (opts.nowMs !== undefined && t.expiresMs[c] <= opts.nowMs) continue;
      if (opts.zone !== undefined && t.tuples[c * CONN_TUPLE_WORDS + T_META] >>> 16 !== opts.zone) continue;
      out.push(formatConn(t, c, opts.nowMs, opts));
    }
    return out;
  }

  // ------------------------------------------------------------------
  // The packet path.

  /**
   * Runs one packet through conntrack (see ConntrackEngine). Returns
   * EXEC_HELD when fragment reassembly kept the packet (the caller drops its
   * copy and later continues what takeReleased() returns), else EXEC_DONE.
   */
  execute(frame: Uint8Array, off: number, len: number, l3: number, l4: number, key: Uint32Array, kb: number, req: CtRequest, nowMs: number): number {
    let result = EXEC_DONE;
    if (this.ipf !== null && (key[kb + W_NW] >>> NW_FRAG_SHIFT) & FRAG_ANY) {
      const r = this.ipf.handle(frame, off, len, l3, key, kb, req.zone, nowMs);
      if (r === IPF_INVALID) {
        this.writeInvalidNoConn(key, kb, req.zone);
      } else if (r === IPF_HELD) {
        result = EXEC_HELD;
      } else if (r === IPF_COMPLETE) {
        this.runReassembled(req, nowMs);
        result = EXEC_HELD;
      } else {
        this.executeOne(frame, off, len, l3, l4, key, kb, req, nowMs);
      }
    } else {
      this.executeOne(frame, off, len, l3, l4, key, kb, req, nowMs);
    }
    if (this.ipf !== null && this.ipf.lists.size !== 0) this.releaseExpired(nowMs);
    return result;
  }

  releasedCount(): number {
    return this.released.length;
  }

  takeReleased(): ReleasedPacket[] {
    const out = this.released;
    this.released = [];
    return out;
  }

  /** The reassembled datagram goes through conntrack, then its fragments leave with its ct fields. */
  private runReassembled(req: CtRequest, nowMs: number): void {
    const ipf = this.ipf!;
    const r = ipf.reassembled!;
    const rk = this.reassKey;
    const hdrs = this.reassHdrs;
    this.parser.parseFrame(r.frame, 0, r.frame.length, 0, rk, 0, hdrs, 0);
    // A clone of the first fragment: its metadata (in_port, recirc_id, ct fields, tunnel).
    rk.set(r.list.frags[0].key.subarray(0, W_DL_DST), 0);
    this.executeOne(r.frame, 0, r.frame.length, hdrs[HDR_L3], hdrs[HDR_L4], rk, 0, req, nowMs);
    ipf.postExecute(r);
    for (const f of r.list.frags) {
      const key = new Uint32Array(KEY_WORDS);
      this.parser.parseFrame(f.frame, 0, f.frame.length, 0, key, 0, hdrs, 0);
      key.set(f.key.subarray(0, W_DL_DST), 0);
      key.set(f.key.subarray(DP_WORDS), DP_WORDS);
      key.set(rk.subarray(W_CT, W_CT_TP + 1), W_CT);
      const fl4 = hdrs[HDR_L4];
      if (fl4 === 0xffff || !flowHasL4(f.frame, fl4, f.frame.length - fl4, key[W_NW])) key[W_CT_TP] = 0;
      this.released.push({ frame: f.frame, l3: hdrs[HDR_L3], l4: hdrs[HDR_L4], key });
    }
  }

  /** ipf_send_expired_frags(): at most one expired list per call, its fragments with ct_state exactly +inv. */
  private releaseExpired(nowMs: number): void {
    const list = this.ipf!.takeExpired(nowMs);
    if (list === null) return;
    const hdrs = this.reassHdrs;
    for (const f of list.frags) {
      const key = f.key;
      key[W_CT] = ((key[W_CT] & 0xffffff00) | CS_INVALID) >>> 0;
      this.parser.parseFrame(f.frame, 0, f.frame.length, 0, this.reassKey, 0, hdrs, 0);
      this.released.push({ frame: f.frame, l3: hdrs[HDR_L3], l4: hdrs[HDR_L4], key });
    }
  }

  private executeOne(frame: Uint8Array, off: number, len: number, l3: number, l4: number, key: Uint32Array, kb: number, req: CtRequest, nowMs: number): void {
    const zone = req.zone;
    this.nowMs = nowMs;
    const ctWord = key[kb + W_CT];
    let state = ctWord & 0xff;
    const keyZone = ctWord >>> 16;

    // Reset ct_state whenever entering a new zone.
    if (state !== 0 && keyZone !== zone) state = 0;

    const dlType = key[kb + W_DL_TYPE] & 0xffff;
    if (l3 === 0xffff || l4 === 0xffff) {
      this.writeInvalidNoConn(key, kb, zone);
      return;
    }
    const l3At = off + l3;
    let l3Size: number;
    if (dlType === ETH_TYPE_IP) {
      l3Size = Math.min(len - l3, read16(frame, l3At + 2));
    } else {
      l3Size = Math.min(len - l3, read16(frame, l3At + 4) + 40);
    }
    const q = this.q;
    // fast: an IPv4 TCP/UDP packet whose transport header the shortcut checked whole.
    const fast = dlType === ETH_TYPE_IP && this.extractor.extractV4Fast(frame, l3At, l3Size, off + l4, zone, q, 0);
    if (!fast && !this.extractor.extract(frame, l3At, l3Size, off + l4, dlType, zone, q, 0)) {
      this.writeInvalidNoConn(key, kb, zone);
      return;
    }
    const related = this.extractor.icmpRelated;
    this.ctl = this.algCtl(key, kb, req.alg);
    const l4At = off + l4;
    const l3End = l3At + l3Size;
    const l4Size = l3End - l4At;

    // process_one_fast(): the packet still carries the connection a previous
    // ct() in this zone found, unless that ct() did NAT or the packet is an
    // FTP/TFTP control packet.
    if (state & CS_TRACKED && keyZone === zone && !req.force && ((ctWord >>> 8) & 0xff) !== 0 && this.ctl === 0) {
      const c = this.cachedConn(key, kb, zone, state);
      if (c >= 0) {
        if (req.nat !== null && this.table.natAction[c] & NAT_ACTIONS && !(state & (CS_SRC_NAT | CS_DST_NAT))) {
          // handle_nat() with the direction the first ct() found.
          state |= this.nat.natPacket(frame, dlType === ETH_TYPE_IPV6, l3At, l4At, l3End, related, this.extractor.innerL3, this.extractor.innerL4,
            this.table.tuples, c, this.table.natAction[c], (state & CS_REPLY_DIR) !== 0);
          key[kb + W_CT] = ((key[kb + W_CT] & 0xffffff00) | state) >>> 0;
          this.natKeyWords(frame, l3At, l4At, key, kb, dlType, related);
        }
        this.applyMarkLabel(c, req, key, kb, true);
        return;
      }
    }

    // initial_conn_lookup(): a packet NAT already rewrote is found by its reverse.
    let c: number;
    let reply: boolean;
    if (state & (CS_SRC_NAT | CS_DST_NAT)) {
      reverseTuple(q, 0, this.q2, 0);
      c = this.lookup(this.q2, 0, nowMs);
      reply = !this.reply;
      if (c >= 0) q.set(this.table.tuples.subarray(c * CONN_TUPLE_WORDS + (reply ? TUPLE_WORDS : 0), c * CONN_TUPLE_WORDS + (reply ? 2 : 1) * TUPLE_WORDS));
      else reply = false;
    } else {
      c = this.lookup(q, 0, nowMs);
      reply = this.reply;
    }
    if (c === MISSING_PARENT) {
      // The translated half of a NAT connection whose original half expired:
      // OVS adds +inv to the state the packet had (`ct_state |= CS_INVALID`).
      this.writeInvalidNoConn(key, kb, zone, state);
      return;
    }
    if (req.force && reply && c >= 0) {
      // ct(force): a connection seen in the reply direction ends, the packet starts a new one.
      this.table.expiresMs[c] = 0;
      this.wheel.refresh(c);
      c = -1;
    }

    let createNew = false;
    if (c >= 0) {
      state = this.updateState(c, state, related, reply, frame, l4At, l4Size, nowMs);
      createNew = this.createNew;
      if (req.nat !== null && !createNew) state = this.handleNat(c, state, frame, dlType, l3At, l4At, l3End, related, reply, key, kb);
    } else if (req.nat === null && state & (CS_SRC_NAT | CS_DST_NAT) && (c = this.origTupleConn(key, kb, q, nowMs)) >= 0) {
      // check_orig_tuple(): found through the original tuple the key carries.
      state = this.updateState(c, state, related, false, frame, l4At, l4Size, nowMs);
      createNew = this.createNew;
    } else if (related) {
      // An ICMP error only relates to a connection; it never creates one.
      state = CS_INVALID;
    } else {
      createNew = true;
    }

    if (createNew && this.lookup(q, 0, nowMs) < 0) {
      // conn_not_found().
      c = -1;
      if (!this.validNew(frame, l4At, q)) {
        state = CS_INVALID;
      } else {
        state = CS_NEW;
        if (req.commit) {
          c = this.commit(frame, l4At, l4Size, q, req, nowMs);
          if (c >= 0 && req.nat !== null) {
            state |= this.nat.natPacket(frame, dlType === ETH_TYPE_IPV6, l3At, l4At, l3End, false, -1, -1,
              this.table.tuples, c, this.table.natAction[c], false);
            this.natKeyWords(frame, l3At, l4At, key, kb, dlType, false);
          }
        }
      }
    }
    if (state & CS_INVALID) this.nInvalid++;
    this.writeMd(key, kb, zone, state, c);
    // flowHasL4() of a packet the shortcut took: its TCP/UDP header is whole.
    if (fast ? (key[kb + W_NW] >>> NW_FRAG_SHIFT) & FRAG_LATER : !flowHasL4(frame, l4At, l4Size, key[kb + W_NW])) key[kb + W_CT_TP] = 0;
    if (c >= 0 && (req.mark !== null || req.label !== null)) this.applyMarkLabel(c, req, key, kb, false);
  }

  /** get_alg_ctl_type() of the packet being processed. */
  private ctl = 0;

  /** Set by updateState: the protocol asked for a new connection (CT_UPDATE_NEW). */
  private createNew = false;

  /** conn_update_state(): the new ct_state for a packet of connection c. */
  private updateState(c: number, state: number, related: boolean, reply: boolean, frame: Uint8Array, l4At: number, l4Size: number, nowMs: number): number {
    this.createNew = false;
    if (related) {
      state |= CS_RELATED;
      if (reply) state |= CS_REPLY_DIR;
      return state;
    }
    const res = this.update(c, frame, l4At, l4Size, reply, nowMs);
    if (res === UPDATE_VALID) {
      state = (state | CS_ESTABLISHED) & ~CS_NEW;
      if (reply) state |= CS_REPLY_DIR;
    } else if (res === UPDATE_INVALID) {
      state = CS_INVALID;
    } else if (res === UPDATE_NEW) {
      this.table.expiresMs[c] = 0;
      this.wheel.refresh(c);
      this.createNew = true;
    } else {
      state |= CS_NEW;
    }
    return state;
  }

  /** handle_nat(): translates a packet of an existing NAT connection unless
   * a ct() in this zone already did. */
  private handleNat(c: number, state: number, frame: Uint8Array, dlType: number, l3At: number, l4At: number, l3End: number, related: boolean, reply: boolean, key: Uint32Array, kb: number): number {
    const t = this.table;
    if ((t.natAction[c] & NAT_ACTIONS) === 0 || state & (CS_SRC_NAT | CS_DST_NAT)) return state;
    state |= this.nat.natPacket(frame, dlType === ETH_TYPE_IPV6, l3At, l4At, l3End, related, this.extractor.innerL3, this.extractor.innerL4,
      t.tuples, c, t.natAction[c], reply);
    this.natKeyWords(frame, l3At, l4At, key, kb, dlType, related);
    return state;
  }

  /** After NAT: the key's addresses and ports are read again from the rewritten headers. */
  private natKeyWords(frame: Uint8Array, l3At: number, l4At: number, key: Uint32Array, kb: number, dlType: number, related: boolean): void {
    if (dlType === ETH_TYPE_IP) {
      key[kb + W_NW_SRC] = read32(frame, l3At + 12);
      key[kb + W_NW_DST] = read32(frame, l3At + 16);
    } else {
      for (let i = 0; i < 4; i++) {
        key[kb + W_IPV6_SRC + i] = read32(frame, l3At + 8 + 4 * i);
        key[kb + W_IPV6_DST + i] = read32(frame, l3At + 24 + 4 * i);
      }
    }
    const proto = key[kb + W_NW] & 0xff;
    if (!related && (proto === IPPROTO_TCP || proto === IPPROTO_UDP)) key[kb + W_TP] = read32(frame, l4At);
  }

  /** check_orig_tuple(): the connection named by the original tuple the key carries, or -1. */
  private origTupleConn(key: Uint32Array, kb: number, q: Uint32Array, nowMs: number): number {
    if (((key[kb + W_CT] >>> 8) & 0xff) === 0) return -1;
    this.origTupleFromKey(key, kb, key[kb + W_CT] >>> 16, q[T_SPORT] >>> 16, this.q2);
    const c = this.lookup(this.q2, 0, nowMs);
    return c >= 0 ? c : -1;
  }

  /**
   * get_alg_ctl_type(): 21 for an FTP control packet (TCP port 21 either way,
   * or any TCP packet when the ct() names the ftp helper, whose port is then
   * the flow's), 69 for TFTP (UDP to port 69, or any UDP packet with the
   * tftp helper), else 0. Such packets skip the cached-connection shortcut.
   */
  private algCtl(key: Uint32Array, kb: number, helper: number): number {
    const proto = key[kb + W_NW] & 0xff;
    const tp = key[kb + W_TP];
    if (proto === IPPROTO_UDP && (helper === 69 || (tp & 0xffff) === 69)) return 69;
    if (proto === IPPROTO_TCP && (helper === 21 || tp >>> 16 === 21 || (tp & 0xffff) === 21)) return 21;
    return 0;
  }

  /**
   * The original tuple a previous ct() left in the key, for zone `zone`,
   * into out[0..]. The key keeps an ICMP tuple's type only; its id is
   * `icmpId`, taken from the packet's own tuple (an echo's id is the same in
   * both directions), as check_orig_tuple() takes it.
   */
  private origTupleFromKey(key: Uint32Array, kb: number, zone: number, icmpId: number, out: Uint32Array): void {
    const proto = (key[kb + W_CT] >>> 8) & 0xff;
    const v6 = (key[kb + W_DL_TYPE] & 0xffff) === ETH_TYPE_IPV6;
    out[T_META] = ((zone << 16) | (proto << 8) | (v6 ? 6 : 4)) >>> 0;
    for (let i = 0; i < 4; i++) {
      out[T_SRC + i] = v6 ? key[kb + W_CT_IPV6_SRC + i] : i === 0 ? key[kb + W_CT_NW_SRC] : 0;
      out[T_DST + i] = v6 ? key[kb + W_CT_IPV6_DST + i] : i === 0 ? key[kb + W_CT_NW_DST] : 0;
    }
    const tp = key[kb + W_CT_TP];
    if (proto === (v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP)) {
      const type = tp >>> 16;
      const rtype = v6 ? reverseIcmp6Type(type) : reverseIcmpType(type);
      out[T_SPORT] = ((icmpId << 16) | (type << 8)) >>> 0;
      out[T_DPORT] = ((icmpId << 16) | (rtype << 8)) >>> 0;
    } else {
      out[T_SPORT] = (tp >>> 16) << 16;
      out[T_DPORT] = (tp & 0xffff) << 16;
    }
  }

  /** The connection a previous ct() in this zone left with the packet (OVS's md.conn), or -1. */
  private cachedConn(key: Uint32Array, kb: number, zone: number, state: number): number {
    const q = this.q2;
    this.origTupleFromKey(key, kb, zone, this.q[T_SPORT] >>> 16, q);
    const h = hashTuple(q, 0);
    const t = this.table;
    let slot = t.find(q, 0, h, -1);
    while (slot >= 0) {
      const e = t.entryAt(slot);
      const c = e >> 1;
      if ((e & 1) === DIR_ORIG) {
        // A NAT connection whose NAT bits the packet carries came through
        // ct(nat): OVS then keeps no connection with the packet.
        if (t.natAction[c] & NAT_COMMITTED && state & (CS_SRC_NAT | CS_DST_NAT)) return -1;
        return c;
      }
      slot = t.find(q, 0, h, slot + 1);
    }
    return -1;
  }

  /**
   * Finds the live connection with tuple q[qa..] (conn_key_lookup): returns
   * its index and sets `this.reply`, or -1, or MISSING_PARENT when the
   * tuple is the translated reply tuple of an expired NAT connection (OVS
   * finds its nat_conn, which does not expire, but not its parent).
   */
  private lookup(q: Uint32Array, qa: number, nowMs: number): number {
    if ((q[qa + T_META] & 0xff) === 4) return this.lookupV4(q[qa + T_META], q[qa + T_SRC], q[qa + T_DST], q[qa + T_SPORT], q[qa + T_DPORT], nowMs);
    const t = this.table;
    const h = hashTuple(q, qa);
    let slot = t.find(q, qa, h, -1);
    this.reply = false;
    while (slot >= 0) {
      const e = t.entryAt(slot);
      const c = e >> 1;
      if (t.expiresMs[c] > nowMs) {
        // A tuple equal to its own reverse matches both entries: OVS compares the original first.
        this.reply = (e & 1) === DIR_REPLY && !tuplesEqual(t.tuples, c * CONN_TUPLE_WORDS, q, qa);
        return c;
      }
      if ((e & 1) === DIR_REPLY && t.natAction[c] & NAT_COMMITTED) return MISSING_PARENT;
      slot = t.find(q, qa, h, slot + 1);
    }
    return -1;
  }

  /** lookup() of the IPv4 tuple (meta, src, dst, sport, dport), from its words. */
  private lookupV4(meta: number, src: number, dst: number, sport: number, dport: number, nowMs: number): number {
    const t = this.table;
    const h = hashTuple4(meta, src, dst, sport, dport);
    let slot = t.findV4(meta, src, dst, sport, dport, h, -1);
    this.reply = false;
    while (slot >= 0) {
      const e = t.entryAt(slot);
      const c = e >> 1;
      if (t.expiresMs[c] > nowMs) {
        if ((e & 1) === DIR_REPLY) {
          // A tuple equal to its own reverse matches both entries: OVS compares the original first.
          const o = c * CONN_TUPLE_WORDS;
          const tu = t.tuples;
          this.reply = !(tu[o + T_META] === meta && tu[o + T_SRC] === src && tu[o + T_DST] === dst && tu[o + T_SPORT] === sport && tu[o + T_DPORT] === dport);
        }
        return c;
      }
      if ((e & 1) === DIR_REPLY && t.natAction[c] & NAT_COMMITTED) return MISSING_PARENT;
      slot = t.findV4(meta, src, dst, sport, dport, h, slot + 1);
    }
    return -1;
  }

  /** valid_new(): whether a packet may start a connection of its protocol. */
  private validNew(b: Uint8Array, l4At: number, q: Uint32Array): boolean {
    const proto = (q[T_META] >>> 8) & 0xff;
    const v6 = (q[T_META] & 0xff) === 6;
    if (proto === IPPROTO_TCP) return tcpValidNew(b, l4At);
    if (proto === IPPROTO_ICMP && !v6) {
      const type = b[l4At];
      return type === ICMP4_ECHO_REQUEST || type === ICMP4_INFOREQUEST || type === ICMP4_TIMESTAMP;
    }
    if (proto === IPPROTO_ICMPV6 && v6) return b[l4At] === ICMP6_ECHO_REQUEST;
    return true;
  }

  private protoClass(c: number): number {
    const meta = this.table.tuples[c * CONN_TUPLE_WORDS + T_META];
    const proto = (meta >>> 8) & 0xff;
    if (proto === IPPROTO_TCP) return P_TCP;
    const v6 = (meta & 0xff) === 6;
    if ((proto === IPPROTO_ICMP && !v6) || (proto === IPPROTO_ICMPV6 && v6)) return P_ICMP;
    return P_OTHER;
  }

  /** conn_update(): the protocol's verdict on a packet of connection c. */
  private update(c: number, b: Uint8Array, l4At: number, l4Size: number, reply: boolean, nowMs: number): number {
    const t = this.table;
    const oldExpiresMs = t.expiresMs[c];
    const res = this.updateProto(c, b, l4At, l4Size, reply, nowMs);
    // The wheel only relinks an expiration brought earlier (a later one stays
    // on its slot, which is still at or before it: see timers.ts).
    if (t.expiresMs[c] < oldExpiresMs) this.wheel.refresh(c);
    return res;
  }

  /** The protocol's conn_update(): the verdict, and c's new expiration written. */
  private updateProto(c: number, b: Uint8Array, l4At: number, l4Size: number, reply: boolean, nowMs: number): number {
    const t = this.table;
    const cls = this.protoClass(c);
    if (cls === P_TCP) {
      const tcp = this.tcp;
      const res = tcp.update(t, c, b, l4At, l4Size, reply);
      const tm = tcp.tm;
      if (tm >= 0) t.expiresMs[c] = nowMs + this.timeoutMs[tm];
      return res;
    }
    if (cls === P_ICMP) {
      // icmp_conn_update().
      let res = UPDATE_VALID;
      if (reply && t.l4state[c] === ICMPS_FIRST) t.l4state[c] = ICMPS_REPLY;
      else if (t.l4state[c] === ICMPS_FIRST) res = UPDATE_VALID_NEW;
      t.expiresMs[c] = nowMs + this.timeoutMs[t.l4state[c] === ICMPS_FIRST ? TM_ICMP_FIRST : TM_ICMP_REPLY];
      return res;
    }
    // other_conn_update().
    if (reply && t.l4state[c] !== OTHERS_BIDIR) t.l4state[c] = OTHERS_BIDIR;
    else if (t.l4state[c] === OTHERS_FIRST) t.l4state[c] = OTHERS_MULTIPLE;
    const s = t.l4state[c];
    t.expiresMs[c] = nowMs + this.timeoutMs[s === OTHERS_FIRST ? TM_OTHER_FIRST : s === OTHERS_MULTIPLE ? TM_OTHER_MULTIPLE : TM_OTHER_BIDIR];
    return s === OTHERS_BIDIR ? UPDATE_VALID : UPDATE_VALID_NEW;
  }

  /**
   * conn_not_found() with commit: creates the connection for tuple q unless
   * a limit refuses it. Returns its index or -1.
   */
  private commit(b: Uint8Array, l4At: number, l4Size: number, q: Uint32Array, req: CtRequest, nowMs: number): number {
    const zone = q[T_META] >>> 16;
    const zl = this.zoneLimits.size === 0 ? undefined : this.zoneLimits.get(zone) ?? this.zoneLimits.get(DEFAULT_ZONE);
    if (zl !== undefined && zl.count >= zl.limit) {
      this.nLimitZone++;
      return -1;
    }
    const t = this.table;
    if (t.count >= this.connsMax) {
      this.nLimitGlobal++;
      return -1;
    }
    const c = t.alloc();
    if (c < 0) {
      this.nLimitGlobal++;
      return -1;
    }
    const base = c * CONN_TUPLE_WORDS;
    for (let i = 0; i < TUPLE_WORDS; i++) t.tuples[base + i] = q[i];
    reverseTuple(q, 0, t.tuples, base + TUPLE_WORDS);
    t.natAction[c] = 0;
    t.mark[c] = 0;
    t.l4state[c] = 0;
    // ct_verify_helper(): the helper is recorded unless the packet is the other helper's control traffic.
    t.alg[c] = req.alg !== 0 && (this.ctl === 0 || this.ctl === req.alg) ? req.alg : 0;
    if (req.nat !== null) {
      // conn_not_found(): the reply tuple becomes the translated one.
      const action = natActionOf(req.nat);
      if (!this.natAlloc.uniqueTuple(t.tuples, c, req.nat, action)) {
        this.nNatExhausted++;
        t.release(c);
        return -1;
      }
      t.natAction[c] = action | NAT_COMMITTED;
    }
    const cls = this.protoClass(c);
    let tm: number;
    if (cls === P_TCP) tm = tcpNewConn(t, c, b, l4At, l4Size);
    else if (cls === P_ICMP) tm = TM_ICMP_FIRST;
    else tm = TM_OTHER_FIRST;
    t.expiresMs[c] = nowMs + this.timeoutMs[tm];
    t.index(c, DIR_ORIG);
    t.index(c, DIR_REPLY);
    this.wheel.schedule(c);
    this.zoneCounts[zone]++;
    if (zl !== undefined) {
      zl.count++;
      t.admitZone[c] = zl.seq;
    } else {
      t.admitZone[c] = -1;
    }
    this.nCreated++;
    return c;
  }

  /** Takes connection c off the per-zone counts (conn_clean's accounting). */
  private unaccount(c: number): void {
    const t = this.table;
    this.zoneCounts[t.tuples[c * CONN_TUPLE_WORDS + T_META] >>> 16]--;
    if (t.admitZone[c] >= 0) {
      const zl = this.limitsBySeq.get(t.admitZone[c]);
      if (zl !== undefined) zl.count--;
      t.admitZone[c] = -1;
    }
  }

  /** Frees a connection the timer wheel found expired (or retired). */
  private clean(c: number): void {
    const t = this.table;
    if (t.live[c] === 1) {
      this.unaccount(c);
      this.nExpired++;
    }
    t.release(c);
  }

  /** write_ct_md(): state, zone, mark, label and the original tuple into the key. */
  private writeMd(key: Uint32Array, kb: number, zone: number, state: number, c: number): void {
    const t = this.table;
    if (c >= 0) {
      const meta = t.tuples[c * CONN_TUPLE_WORDS + T_META];
      if ((meta & 0xff) === 4 && ((meta >>> 8) & 0xff) !== IPPROTO_ICMP) {
        this.writeMdConn4(key, kb, zone, state, c);
        return;
      }
    }
    // The original tuple: the connection's, else the packet's own.
    const src = c >= 0 ? t.tuples : this.q;
    const at = c >= 0 ? c * CONN_TUPLE_WORDS : 0;
    const meta = src[at + T_META];
    const proto = (meta >>> 8) & 0xff;
    key[kb + W_CT] = ((zone << 16) | (proto << 8) | ((state | CS_TRACKED) & 0xff)) >>> 0;
    if (c >= 0) {
      key[kb + W_CT_MARK] = t.mark[c];
      for (let i = 0; i < 4; i++) key[kb + W_CT_LABEL + i] = t.label[c * 4 + i];
    } else {
      key[kb + W_CT_MARK] = 0;
      for (let i = 0; i < 4; i++) key[kb + W_CT_LABEL + i] = 0;
    }
    const v6 = (meta & 0xff) === 6;
    const icmp = proto === (v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP);
    if (v6) {
      key[kb + W_CT_NW_SRC] = 0;
      key[kb + W_CT_NW_DST] = 0;
      for (let i = 0; i < 4; i++) {
        key[kb + W_CT_IPV6_SRC + i] = src[at + T_SRC + i];
        key[kb + W_CT_IPV6_DST + i] = src[at + T_DST + i];
      }
    } else {
      key[kb + W_CT_NW_SRC] = src[at + T_SRC];
      key[kb + W_CT_NW_DST] = src[at + T_DST];
      for (let i = 0; i < 4; i++) {
        key[kb + W_CT_IPV6_SRC + i] = 0;
        key[kb + W_CT_IPV6_DST + i] = 0;
      }
    }
    // ICMP: ct_tp_src is the type, ct_tp_dst the (always zero) code.
    key[kb + W_CT_TP] = icmp
      ? ((src[at + T_SPORT] >>> 8) & 0xff) << 16
      : ((src[at + T_SPORT] & 0xffff0000) | (src[at + T_DPORT] >>> 16)) >>> 0;
  }

  /** writeMd() for connection c of IPv4 other than ICMP (most packets): straight stores. */
  private writeMdConn4(key: Uint32Array, kb: number, zone: number, state: number, c: number): void {
    const t = this.table;
    const tuples = t.tuples;
    const at = c * CONN_TUPLE_WORDS;
    const label = t.label;
    const lb = c * 4;
    key[kb + W_CT] = ((zone << 16) | (tuples[at + T_META] & 0xff00) | ((state | CS_TRACKED) & 0xff)) >>> 0;
    key[kb + W_CT_MARK] = t.mark[c];
    key[kb + W_CT_LABEL] = label[lb];
    key[kb + W_CT_LABEL + 1] = label[lb + 1];
    key[kb + W_CT_LABEL + 2] = label[lb + 2];
    key[kb + W_CT_LABEL + 3] = label[lb + 3];
    key[kb + W_CT_NW_SRC] = tuples[at + T_SRC];
    key[kb + W_CT_NW_DST] = tuples[at + T_DST];
    key[kb + W_CT_IPV6_SRC] = 0;
    key[kb + W_CT_IPV6_SRC + 1] = 0;
    key[kb + W_CT_IPV6_SRC + 2] = 0;
    key[kb + W_CT_IPV6_SRC + 3] = 0;
    key[kb + W_CT_IPV6_DST] = 0;
    key[kb + W_CT_IPV6_DST + 1] = 0;
    key[kb + W_CT_IPV6_DST + 2] = 0;
    key[kb + W_CT_IPV6_DST + 3] = 0;
    key[kb + W_CT_TP] = ((tuples[at + T_SPORT] & 0xffff0000) | (tuples[at + T_DPORT] >>> 16)) >>> 0;
  }

  /** A packet conntrack could not parse: +trk+inv, no tuple (write_ct_md with no key). */
  private writeInvalidNoConn(key: Uint32Array, kb: number, zone: number, state = 0): void {
    this.nInvalid++;
    key[kb + W_CT] = ((zone << 16) | ((state | CS_INVALID | CS_TRACKED) & 0xff)) >>> 0;
    key[kb + W_CT_MARK] = 0;
    key.fill(0, kb + W_CT_LABEL, kb + W_CT_TP + 1);
  }

  /**
   * set_mark()/set_label(): exec(set_field) of a ct() applied to connection
   * c and the packet, with masks. `fast` is process_one_fast(), which also
   * copies the zone, mark and label into the key first.
   */
  private applyMarkLabel(c: number, req: CtRequest, key: Uint32Array, kb: number, fast: boolean): void {
    const t = this.table;
    if (fast) {
      key[kb + W_CT] = ((req.zone << 16) | (key[kb + W_CT] & 0xffff)) >>> 0;
      key[kb + W_CT_MARK] = t.mark[c];
      for (let i = 0; i < 4; i++) key[kb + W_CT_LABEL + i] = t.label[c * 4 + i];
    }
    if (req.mark !== null) {
      const m = (req.mark.value | (key[kb + W_CT_MARK] & ~req.mark.mask)) >>> 0;
      key[kb + W_CT_MARK] = m;
      t.mark[c] = m;
    }
    if (req.label !== null) {
      const w = this.labelOf(req);
      for (let i = 0; i < 4; i++) {
        const v = (w[i] | (key[kb + W_CT_LABEL + i] & ~w[4 + i])) >>> 0;
        key[kb + W_CT_LABEL + i] = v;
        t.label[c * 4 + i] = v;
      }
    }
  }

  /** The request's label value (words 0-3) and mask (4-7), converted once per request object. */
  private labelOf(req: CtRequest): Uint32Array {
    if (this.labelReq !== req.label && req.label !== null) {
      const { value, mask } = req.label;
      for (let i = 0; i < 4; i++) {
        const shift = BigInt(96 - 32 * i);
        this.labelWords[i] = Number((value >> shift) & 0xffffffffn);
        this.labelWords[4 + i] = Number((mask >> shift) & 0xffffffffn);
      }
      this.labelReq = req.label;
    }
    return this.labelWords;
  }
}

/**
 * Whether OVS's flow extraction (miniflow_extract) carries ct_tp_src/dst into
 * the flow: only with a transport header it parses (TCP, UDP, SCTP, ICMP,
 * IGMP, ICMPv6 other than neighbour discovery) and not in a later fragment.
 * Without one the recirculated flow has ct_tp_src = ct_tp_dst = 0 whatever
 * conntrack recorded. `nw` is the key's W_NW word.
 */
function flowHasL4(b: Uint8Array, l4At: number, size: number, nw: number): boolean {
  if ((nw >>> NW_FRAG_SHIFT) & FRAG_LATER) return false;
  switch (nw & 0xff) {
    case IPPROTO_TCP: {
      if (size < 20) return false;
      const hlen = (b[l4At + 12] >>> 4) * 4;
      return hlen >= 20 && hlen <= size;
    }
    case IPPROTO_UDP:
    case IPPROTO_ICMP:
    case IPPROTO_IGMP:
      return size >= 8;
    case IPPROTO_SCTP:
      return size >= 12;
    case IPPROTO_ICMPV6:
      return size >= 8 && !((b[l4At] === 135 || b[l4At] === 136) && b[l4At + 1] === 0);
    default:
      return false;
  }
}
