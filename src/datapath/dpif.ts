/**
 * The datapath: batches of frames in, actions executed, frames out (OVS's
 * dpif-netdev). For each packet: parse -> exact-match cache -> megaflow
 * cache -> on a miss, an upcall that translates the packet (xlate) and
 * installs a megaflow with the mask translation reports -> execute.
 *
 * Invariants:
 * - A cached result always equals what translation would do now: every
 *   megaflow records the switch generation (flow tables, groups, ports) and
 *   the MAC-table versions it depended on; a hit on a megaflow validated
 *   under older state re-translates that packet, keeps the megaflow only when
 *   the actions are the same and the new mask is covered by the old one, and
 *   otherwise replaces it (lazy revalidation: the cost falls on the first
 *   packet after a change, and only for megaflows the change may affect).
 * - Packets of a batch are handled in order, each completely before the
 *   next (a miss is translated before the following packet is looked up), so
 *   MAC learning and learn() by one packet are seen by the next, as a replay
 *   of a capture requires. The caches are looked up for the whole batch
 *   first (EMC, then the megaflow cache subtable by subtable, as OVS's
 *   dfc_processing and dpcls_lookup do); those answers are used only while
 *   the megaflow cache is unchanged (megaflows.version): once a miss or a
 *   revalidation installs or removes a megaflow, the rest of the batch is
 *   looked up again packet by packet.
 * - Statistics reach OpenFlow rules and MAC entries through pushStats(), so
 *   dump-flows counters are exact even for packets that never left the
 *   fast path.
 *
 * Limits: megaflowsMax megaflows (LRU eviction beyond), idle expiry after
 * idleMs without a hit (OVS's max-idle, 10 s).
 */
import * as L from "../flow/layout.js";
import { Parser, PARSE_RUNT, HDR_WORDS, HDR_REGIONS, HDR_L3, HDR_NONE } from "../packet/parse.js";
import { BATCH_MAX } from "../limits.js";
import type { Switch } from "../ofproto/bridge.js";
import type { OdpAction } from "./actions.js";
import { Emc } from "./emc.js";
import { MegaflowCache, MEGAFLOWS_MAX_DEFAULT } from "./megaflow.js";
import { Executor, type EmitFn } from "./execute.js";
import { formatOdpActions } from "./actions.js";
import { emcHash } from "./hash.js";
import { Translator, releaseRecircs, datapathWildcards, type XlateInput, type XlateOutput, type LearnedFlow, type MacRef } from "../xlate/xlate.js";
import type { Bridge } from "../ofproto/bridge.js";
import { TunnelFastPath, TunnelPopQueue, TUNNEL_POP_DEPTH_MAX } from "./tunnel.js";
import { recircIdsOf } from "../xlate/recirc.js";
import { EXEC_DONE, type ConntrackEngine, type CtRequest, type ReleasedPacket } from "../conntrack/api.js";
import { Conntrack } from "../conntrack/conntrack.js";
import type { RecircHost } from "./recirculate.js";
import { RECIRC_DEPTH_MAX } from "../limits.js";
import { REGION_IPV6, REGION_META, REGION_TUNNEL, REGION_TUNNEL_IPV6 } from "../packet/parse.js";

/** singleOutOf values that are not a port: the result drops the packet, needs the executor, or is a lone tnl_pop (tnlPopOf). */
const OUT_DROP = -1;
const OUT_GENERAL = -2;
const OUT_TNL_POP = -3;

/** batchFrom values: which cache answered for a packet of the batch. */
const FROM_NONE = 0;
const FROM_EMC = 1;
const FROM_MEGAFLOW = 2;

// Module-local copies of layout constants the batch loops use (as parse.ts: a
// read through an imported binding costs a load in optimised code).
const KEY_WORDS = L.KEY_WORDS;
const HDR_STRIDE = HDR_WORDS;
const HDR_REGIONS_AT = HDR_REGIONS;
const HDR_L3_AT = HDR_L3;
const RUNT = PARSE_RUNT;
const L3_NONE = HDR_NONE;

/** OVS's default other_config:max-idle: 10 s. */
export const MEGAFLOW_IDLE_MS_DEFAULT = 10_000;

export interface DatapathOptions {
  /** Disable both caches: every packet is translated (replay --no-cache). */
  noCache?: boolean;
  /** OVS's emc-insert-inv-prob (default 100; 0 disables the EMC, 1 inserts always). */
  emcInsertInvProb?: number;
  megaflowsMax?: number;
  idleMs?: number;
  vlanLimit?: number;
  /** Adds a learned flow to a bridge (from learn()); supplied by the switch owner. */
  /** Adds a learned flow; false when learn(limit=N) refused it. */
  onLearn?: (bridge: Bridge, flow: LearnedFlow, nowMs: number) => boolean | void;
  /** Called for every megaflow installed (replay --megaflows). */
  onInstall?: (id: number) => void;
  /** Removes OpenFlow rules whose idle or hard timeout passed; run by maintain(). */
  expireRules?: (nowMs: number) => void;
  /** The connection tracker every bridge of the switch shares (OVS: one per datapath); a new Conntrack by default. */
  conntrack?: ConntrackEngine;
}

/**
 * A translation's datapath actions, shared by every megaflow with the same
 * actions (interned: most megaflows of a busy table share a handful, often
 * one `output`), so installing a megaflow builds no object. What differs
 * from megaflow to megaflow (the rules hit, the MACs NORMAL learned) is kept
 * per megaflow id (rulesOf, macRefsOf, usesMacsOf).
 */
interface FlowResult {
  actions: OdpAction[];
  /** Output-only actions as datapath ports (the fast path), or null. */
  outputs: Int32Array | null;
  /** A lone tnl_push to ports or a lone tnl_pop, compiled (tunnel.ts), or null. */
  tunnelFast: TunnelFastPath | null;
  /** For actions that are exactly `ct(...),recirc(id)` (what ct(table=N) translates to): the ct request, else null. */
  ctRecircReq: CtRequest | null;
  /** The recirc id of those actions (0 otherwise). */
  ctRecircId: number;
  /** Recirculation ids the actions name; the result holds one reference on each while interned. */
  recircs: number[];
  /** Megaflows referring to it; dropped from the intern table at zero. */
  refs: number;
  internKey: string;
}

/** The rules a translation hit, in order (their statistics are pushed from the megaflow). */
type RuleRefs = XlateOutput["rules"];
const NO_RULES: RuleRefs = [];
const NO_MAC_REFS: MacRef[] = [];

export class DatapathStats {
  packets = 0;
  emcHits = 0;
  megaflowHits = 0;
  misses = 0;
  lost = 0;
  revalidations = 0;
  runts = 0;
  dropped = 0;
  outputs = 0;
  /** Passes of packets that re-entered the datapath (recirc). */
  recirculations = 0;
  /** Packets dropped for recirculating deeper than RECIRC_DEPTH_MAX. */
  recircDropped = 0;
}

export class Datapath implements RecircHost {
  readonly parser: Parser;
  readonly emc: Emc;
  readonly megaflows: MegaflowCache;
  readonly executor = new Executor();
  readonly stats = new DatapathStats();
  /**
   * Per megaflow id: its result, grown as ids are first used (a JS array of
   * flowsMax entries made at construction is a large old-space object whose
   * allocation started a full garbage collection, ~70 ms at CLI start-up).
   * The spare id for uncached results keeps its result in tempResult.
   */
  private results: (FlowResult | null)[] = [];
  private tempResult: FlowResult | null = null;
  /**
   * Per megaflow id (grown as results): the rules its translation hit and
   * the source MACs NORMAL learned for it. A list equal to the previous
   * megaflow's is shared with it (lastRules, lastMacRefs), so a burst of
   * megaflows from one rule holds one list. Not kept for the spare id: its
   * packet's rules were credited by translation.
   */
  private rulesOf: RuleRefs[] = [];
  private macRefsOf: MacRef[][] = [];
  private lastRules: RuleRefs = NO_RULES;
  private lastMacRefs: MacRef[] = NO_MAC_REFS;
  private readonly interned = new Map<string, FlowResult>();
  private lastInterned: FlowResult | null = null;
  private packetsOf: Float64Array;
  private bytesOf: Float64Array;
  private pushedPacketsOf: Float64Array;
  private pushedBytesOf: Float64Array;
  private usedMsOf: Float64Array;
  private createdMsOf: Float64Array;
  private swGenOf: Uint32Array;
  private macGenOf: Uint32Array;
  readonly noCache: boolean;
  idleMs: number;
  /** Index in the batch of the packet being processed (for emit callbacks that need its metadata). */
  current = -1;

  // Per-batch scratch, allocated once.
  private readonly keys = new Uint32Array(BATCH_MAX * L.KEY_WORDS);
  private readonly hdrs = new Uint16Array(BATCH_MAX * HDR_WORDS);
  private readonly parseResults = new Uint8Array(BATCH_MAX);
  private readonly hashes = new Uint32Array(BATCH_MAX);
  /** Decapsulated packets waiting to be recirculated, one queue per tunnel depth (tunnel.ts). */
  private readonly tunnelQueues: TunnelPopQueue[] = [];
  /** Per packet of the batch: its megaflow from the batch lookup (-1: none), and which cache answered. */
  private readonly batchFlows = new Int32Array(BATCH_MAX);
  private readonly batchFrom = new Uint8Array(BATCH_MAX);
  /**
   * Per megaflow id, copied from its result so the fast path reads typed
   * arrays only: the datapath port of a result that is one output and
   * nothing else, or OUT_DROP (no actions), or OUT_GENERAL (anything else:
   * run the executor), or OUT_TNL_POP (a lone tnl_pop: tnlPopOf says
   * which); and 1 when the result depends on MAC learning.
   */
  private singleOutOf: Int32Array;
  /** Per megaflow id whose singleOutOf is OUT_TNL_POP: TunnelFastPath.popCode, (vport << 1) | udp. */
  private tnlPopOf: Uint32Array;
  private usesMacsOf: Uint8Array;

  constructor(
    readonly sw: Switch,
    private readonly opts: DatapathOptions = {},
  ) {
    this.parser = new Parser(opts.vlanLimit);
    this.emc = new Emc(opts.emcInsertInvProb);
    this.megaflows = new MegaflowCache(opts.megaflowsMax ?? MEGAFLOWS_MAX_DEFAULT);
    const n = this.megaflows.flowsMax + 1; // the last id holds uncached results
    this.tempId = this.megaflows.flowsMax;
    this.packetsOf = new Float64Array(n);
    this.bytesOf = new Float64Array(n);
    this.pushedPacketsOf = new Float64Array(n);
    this.pushedBytesOf = new Float64Array(n);
    this.usedMsOf = new Float64Array(n);
    this.createdMsOf = new Float64Array(n);
    this.swGenOf = new Uint32Array(n);
    this.macGenOf = new Uint32Array(n);
    this.singleOutOf = new Int32Array(n).fill(OUT_GENERAL);
    this.tnlPopOf = new Uint32Array(n);
    this.usesMacsOf = new Uint8Array(n);
    this.noCache = opts.noCache === true;
    const onLearn = opts.onLearn;
    this.input = {
      sw,
      key: this.keys,
      keyBase: 0,
      nowMs: 0,
      sideEffects: false,
      packetSize: 0,
      trace: false,
      onLearn: onLearn ? (b, f) => onLearn(b, f, this.learnNowMs) : undefined,
    };
    this.idleMs = opts.idleMs ?? MEGAFLOW_IDLE_MS_DEFAULT;
    this.conntrack = opts.conntrack ?? new Conntrack();
    this.recircParser = new Parser(opts.vlanLimit);
    this.executor.attach(this, this.recircParser, 0);
    // Each executor's ct key is the key slot of the pass it recirculates to.
    this.executor.setCtKeySlot(this.recircKeys, L.KEY_WORDS);
    for (let d = 1; d <= RECIRC_DEPTH_MAX; d++) {
      const ex = new Executor();
      ex.attach(this, this.recircParser, d);
      ex.setCtKeySlot(this.recircKeys, (d + 1) * L.KEY_WORDS);
      this.executors.push(ex);
    }
    if (sw.tunnelPorts.size > 0) {
      for (let d = 0; d < TUNNEL_POP_DEPTH_MAX; d++) this.tunnelQueues.push(new TunnelPopQueue(this.parser));
      this.setTunnelPops(this.tunnelQueues[0]);
    }
  }

  /**
   * Processes `count` frames lying in `buf` at offsets/lengths, received on
   * datapath ports inPorts[i], at time nowMs; outputs go to `emit`.
   * packetTimesMs[i], when given, is frame i's own time, which meters use
   * (a replay's capture timestamps); otherwise they meter at nowMs.
   */
  processBatch(buf: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, inPorts: Uint32Array, count: number, nowMs: number, emit: EmitFn, packetTimesMs: Float64Array | null = null): void {
    this.parser.parseBatch(buf, offsets, lengths, count, inPorts, this.keys, this.hdrs, this.parseResults);
    // The time and the emit function reach runBatch through fields: a fractional
    // time passed as an argument to a call V8 does not inline is a new heap number.
    this.nowMs = nowMs;
    this.emit = emit;
    this.packetTimesMs = packetTimesMs;
    this.runBatch(this.keys, this.hdrs, this.parseResults, buf, offsets, lengths, count);
    this.packetTimesMs = null;
  }

  /**
   * processBatch after the parse: frame i's key is keys[i * KEY_WORDS..],
   * its header offsets hdrs[i * HDR_WORDS..], its parse result parseResults[i];
   * the batch's time is this.nowMs, its outputs go to this.emit.
   */
  private runBatch(keys: Uint32Array, hdrs: Uint16Array, parseResults: Uint8Array, buf: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number): void {
    const nowMs = this.nowMs;
    const emit = this.emit;
    this.releaseTempGarbage();
    const megaflows = this.megaflows;
    const flows = this.batchFlows;
    const from = this.batchFrom;
    const useCaches = !this.noCache;
    if (useCaches) this.lookupBatch(keys, hdrs, parseResults, count);
    const batchVersion = megaflows.version;
    const singleOutOf = this.singleOutOf;
    const packetsOf = this.packetsOf;
    const bytesOf = this.bytesOf;
    const usedMsOf = this.usedMsOf;
    let nRunts = 0;
    let nEmcHits = 0;
    let nMegaflowHits = 0;
    let nOutputs = 0;
    let nDropped = 0;
    // The queue tnl_pop fills: only recirculateTunnelPops (after this loop) changes it.
    const pops = this.executor.tunnelPops;
    const tnlPopOf = this.tnlPopOf;
    for (let i = 0; i < count; i++) {
      this.current = i;
      if (parseResults[i] === RUNT) {
        nRunts++;
        continue;
      }
      const kb = i * KEY_WORDS;
      const len = lengths[i];
      let flow = -1;
      if (useCaches) {
        // A miss or revalidation earlier in the batch changed the cache: look this packet up again.
        if (megaflows.version !== batchVersion) this.lookupOne(keys, hdrs, i);
        flow = flows[i];
        if (from[i] === FROM_EMC) nEmcHits++;
        else if (from[i] === FROM_MEGAFLOW) nMegaflowHits++;
        if (flow >= 0 && !this.isCurrent(flow)) flow = this.revalidate(flow, keys, kb, len, nowMs);
      }
      if (flow < 0) {
        flow = this.upcall(keys, kb, len, nowMs);
        if (flow < 0) continue; // lost (no room) or translated without caching: already executed
      }
      packetsOf[flow]++;
      bytesOf[flow] += len;
      usedMsOf[flow] = nowMs;
      const port = singleOutOf[flow];
      if (port >= 0) {
        nOutputs++;
        emit(port, buf, offsets[i], len);
      } else if (port === OUT_DROP) {
        nDropped++;
      } else if (port === OUT_TNL_POP) {
        // A lone tnl_pop (most megaflows of a tunnel endpoint's underlay): no result object to read.
        // buf stays unchanged until the pops are processed, after this loop: the inner frames stay in it.
        const code = tnlPopOf[flow];
        const l3 = hdrs[i * HDR_STRIDE + HDR_L3_AT];
        if (pops !== null) pops.pushInPlace(code >>> 1, (code & 1) === 1, buf, offsets[i], len, l3 === L3_NONE ? -1 : offsets[i] + l3);
      } else {
        this.execute(this.resultOf(flow)!, buf, offsets[i], len, keys, kb, hdrs, i * HDR_STRIDE, emit);
      }
    }
    const stats = this.stats;
    stats.packets += count;
    stats.runts += nRunts;
    stats.emcHits += nEmcHits;
    stats.megaflowHits += nMegaflowHits;
    stats.outputs += nOutputs;
    stats.dropped += nDropped;
    // After the batch's counters: the popped packets are counted as their own batch.
    if (pops !== null && pops.count > 0) this.recirculateTunnelPops(pops);
  }

  /** Processes the packets tnl_pop decapsulated as a new batch (OVS's recirculation after tnl_pop). */
  private recirculateTunnelPops(q: TunnelPopQueue): void {
    // Their indexes are the queue's, not the received batch's: meters use the batch time.
    this.packetTimesMs = null;
    const depth = this.tunnelQueues.indexOf(q);
    this.setTunnelPops(depth + 1 < this.tunnelQueues.length ? this.tunnelQueues[depth + 1] : null);
    // The queue parsed its frames as they came (tunnel.ts): straight to the caches.
    this.runBatch(q.keys, q.hdrs, q.results, q.frames, q.offsets, q.lengths, q.count);
    this.setTunnelPops(q);
    q.reset();
  }

  /** Where tnl_pop queues decapsulated packets, for the executor of every recirculation depth. */
  private setTunnelPops(q: TunnelPopQueue | null): void {
    this.executor.tunnelPops = q;
    for (const ex of this.executors) ex.tunnelPops = q;
  }

  /**
   * The caches' answers for the whole batch into batchFlows/batchFrom: the
   * EMC for every packet, then the megaflow cache for the EMC's misses
   * (inserting those hits into the EMC, 1 in emcInsertInvProb).
   */
  private lookupBatch(keys: Uint32Array, hdrs: Uint16Array, parseResults: Uint8Array, count: number): void {
    const flows = this.batchFlows;
    const from = this.batchFrom;
    const emc = this.emc;
    const megaflows = this.megaflows;
    let misses = 0;
    if (emc.enabled) {
      const emcFlows = emc.flows;
      const emcGens = emc.gens;
      const hashes = this.hashes;
      for (let i = 0; i < count; i++) {
        if (parseResults[i] === RUNT) {
          // Runts have no key worth looking up; they are skipped in runBatch.
          flows[i] = -2;
          from[i] = FROM_NONE;
          continue;
        }
        const kb = i * KEY_WORDS;
        const regions = hdrs[i * HDR_STRIDE + HDR_REGIONS_AT];
        const h = emcHash(keys, kb, regions);
        hashes[i] = h;
        const slot = emc.lookup(keys, kb, h, regions);
        if (slot >= 0 && megaflows.isAlive(emcFlows[slot], emcGens[slot])) {
          flows[i] = emcFlows[slot];
          from[i] = FROM_EMC;
        } else {
          flows[i] = -1;
          from[i] = FROM_NONE;
          misses++;
        }
      }
    } else {
      flows.fill(-1, 0, count);
      from.fill(FROM_NONE, 0, count);
      misses = count;
      for (let i = 0; i < count; i++) if (parseResults[i] === RUNT) flows[i] = -2;
    }
    if (misses === 0 || megaflows.lookupBatch(keys, KEY_WORDS, flows, count) === 0) return;
    for (let i = 0; i < count; i++) {
      if (from[i] !== FROM_NONE || flows[i] < 0) continue;
      from[i] = FROM_MEGAFLOW;
      if (emc.enabled && emc.sampleInsert()) emc.insert(keys, i * KEY_WORDS, this.hashes[i], hdrs[i * HDR_STRIDE + HDR_REGIONS_AT], flows[i], megaflows.gens[flows[i]], this.aliveFn);
    }
  }

  /** lookupBatch for packet i alone, after the megaflow cache changed under the batch. */
  private lookupOne(keys: Uint32Array, hdrs: Uint16Array, i: number): void {
    const kb = i * KEY_WORDS;
    const emc = this.emc;
    const megaflows = this.megaflows;
    const regions = hdrs[i * HDR_STRIDE + HDR_REGIONS_AT];
    if (emc.enabled) {
      const slot = emc.lookup(keys, kb, this.hashes[i], regions);
      if (slot >= 0 && megaflows.isAlive(emc.flows[slot], emc.gens[slot])) {
        this.batchFlows[i] = emc.flows[slot];
        this.batchFrom[i] = FROM_EMC;
        return;
      }
    }
    const flow = megaflows.lookup(keys, kb);
    this.batchFlows[i] = flow;
    this.batchFrom[i] = flow >= 0 ? FROM_MEGAFLOW : FROM_NONE;
    if (flow >= 0 && emc.enabled && emc.sampleInsert()) emc.insert(keys, kb, this.hashes[i], regions, flow, megaflows.gens[flow], this.aliveFn);
  }

  private readonly aliveFn = (flow: number, gen: number): boolean => this.megaflows.isAlive(flow, gen);

  private execute(info: FlowResult, buf: Uint8Array, off: number, len: number, keys: Uint32Array, kb: number, hdrs: Uint16Array, hb: number, emit: EmitFn): void {
    const outs = info.outputs;
    if (outs !== null) {
      if (outs.length === 0) this.stats.dropped++;
      for (let j = 0; j < outs.length; j++) {
        this.stats.outputs++;
        emit(outs[j], buf, off, len);
      }
      return;
    }
    if (info.tunnelFast !== null) {
      this.stats.outputs += info.tunnelFast.run(buf, off, len, keys, kb, hdrs, hb, this.executor.tunnelPops, emit);
      return;
    }
    // Fragments take the general path (conntrack may hold them, and their L4 offset needs fixing up).
    if (info.ctRecircReq !== null && ((keys[kb + L.W_NW] >>> L.NW_FRAG_SHIFT) & L.FRAG_ANY) === 0) {
      this.executor.runCtRecirc(info.ctRecircReq, info.ctRecircId, info.actions, buf, off, len, keys, kb, hdrs, hb, emit);
      return;
    }
    this.executor.run(buf, off, len, keys, kb, hdrs, hb, info.actions, emit);
  }

  private isCurrent(flow: number): boolean {
    if (this.swGenOf[flow] !== this.sw.version) return false;
    return this.usesMacsOf[flow] === 0 || this.macGenOf[flow] === this.sw.macVersion;
  }

  /** Translates the packet, installs its megaflow; returns the megaflow id (or the spare id when not cached). */
  private upcall(keys: Uint32Array, kb: number, size: number, nowMs: number): number {
    this.stats.misses++;
    const out = this.translator.run(this.xlateInput(keys, kb, size, nowMs, true));
    let id = this.tempId;
    if (!this.noCache) {
      if (this.megaflows.count >= this.megaflows.flowsMax) this.evictLru();
      datapathWildcards(out.wc, keys, kb);
      const got = this.megaflows.insert(keys, kb, out.wc, 0);
      if (got < 0) this.stats.lost++;
      else id = got;
    }
    // An uncached result may still be running (a recirculation's upcall happens inside
    // the pass that recirculated): it is released with the next batch, not now.
    if (id === this.tempId && this.resultOf(id)) this.tempGarbage.push(this.resultOf(id)!);
    this.setResult(id, this.intern(out));
    this.keepRefs(id, out);
    // The result holds its own references now.
    releaseRecircs(this.sw, out.recircs);
    // The translation credited this first packet to its rules already.
    this.packetsOf[id] = 0;
    this.bytesOf[id] = 0;
    this.pushedPacketsOf[id] = 1;
    this.pushedBytesOf[id] = size;
    this.usedMsOf[id] = nowMs;
    this.createdMsOf[id] = nowMs;
    this.swGenOf[id] = this.sw.version;
    this.macGenOf[id] = this.sw.macVersion;
    if (id !== this.tempId) this.opts.onInstall?.(id);
    return id;
  }

  private readonly tempId: number;
  /** Translates every upcall and revalidation, reusing one context (its output is read before the next). */
  private readonly translator = new Translator();
  private readonly input: XlateInput;
  /** The time of the translation running, for learn() (onLearn). */
  private learnNowMs = 0;
  /** A megaflow's mask during revalidation. */
  private readonly revalidateMask = new Uint32Array(L.KEY_WORDS);
  /** Uncached results replaced during the current batch (see upcall). */
  private tempGarbage: FlowResult[] = [];

  private releaseTempGarbage(): void {
    if (this.tempGarbage.length === 0) return;
    for (const res of this.tempGarbage) this.release(res);
    this.tempGarbage = [];
  }

  private revalidate(flow: number, keys: Uint32Array, kb: number, size: number, nowMs: number): number {
    this.stats.revalidations++;
    const old = this.resultOf(flow)!;
    const out = this.translator.run(this.xlateInput(keys, kb, size, nowMs, false));
    const mask = this.revalidateMask;
    this.megaflows.maskOf(flow, mask, 0);
    let covered = true;
    for (let w = 0; w < L.DP_WORDS; w++) if ((out.wc[w] & ~mask[w]) !== 0) covered = false;
    if (covered && sameActions(out.actions, old.actions)) {
      // The packet's source MAC is learned as on a miss (OVS's revalidator applies the
      // flow's NORMAL xlate-cache entry the same way), so a MAC that moved back is seen.
      for (const r of out.macRefs) r.bridge.macs.learn(r.mac, r.vlan, r.port, nowMs, false);
      this.pushFlowStats(flow);
      // Intern before releasing the old result, and drop the translation's own
      // recirculation references last: an id both name must not die in between.
      const res = this.intern(out);
      this.release(old);
      this.setResult(flow, res);
      this.keepRefs(flow, out);
      releaseRecircs(this.sw, out.recircs);
      this.swGenOf[flow] = this.sw.version;
      this.macGenOf[flow] = this.sw.macVersion;
      return flow;
    }
    this.removeFlow(flow);
    releaseRecircs(this.sw, out.recircs);
    return -1;
  }

  /**
   * The shared result for a translation's actions. Consecutive upcalls
   * mostly produce the same actions (one output), so an output-only list
   * equal to the last result interned reuses it without building the key.
   */
  private intern(out: XlateOutput): FlowResult {
    const last = this.lastInterned;
    if (last !== null && last.refs > 0 && last.outputs !== null && sameOutputOnlyResult(last, out)) {
      last.refs++;
      return last;
    }
    // Output-only action lists (most) are keyed by their ports, without the text formatter.
    let key = "";
    for (const a of out.actions) {
      if (a.t !== "output") {
        key = formatOdpActions(out.actions);
        break;
      }
      key += `>${a.port}`;
    }
    let res = this.interned.get(key);
    if (!res) {
      const outputsOnly = out.actions.every((a) => a.t === "output");
      res = {
        actions: out.actions,
        outputs: outputsOnly ? Int32Array.from(out.actions.map((a) => (a.t === "output" ? a.port : -1))) : null,
        tunnelFast: TunnelFastPath.compile(out.actions),
        ctRecircReq: ctRecircOf(out.actions),
        ctRecircId: ctRecircOf(out.actions) !== null ? (out.actions[1] as { id: number }).id : 0,
        recircs: out.recircs.slice(),
        refs: 0,
        internKey: key,
      };
      const ids = recircIdsOf(this.sw);
      for (const id of res.recircs) ids.ref(id);
      this.interned.set(key, res);
    }
    res.refs++;
    this.lastInterned = res;
    return res;
  }

  /** Keeps what megaflow `id` needs of its translation besides the actions: rules, MAC references, whether it uses MACs. */
  private keepRefs(id: number, out: XlateOutput): void {
    this.usesMacsOf[id] = out.usesMacs ? 1 : 0;
    if (id === this.tempId) return;
    const rulesOf = this.rulesOf;
    while (rulesOf.length <= id) {
      rulesOf.push(NO_RULES);
      this.macRefsOf.push(NO_MAC_REFS);
    }
    if (out.rules.length === 0) rulesOf[id] = NO_RULES;
    else if (sameRules(out.rules, this.lastRules)) rulesOf[id] = this.lastRules;
    else rulesOf[id] = this.lastRules = out.rules;
    if (out.macRefs.length === 0) this.macRefsOf[id] = NO_MAC_REFS;
    else if (sameMacRefs(out.macRefs, this.lastMacRefs)) this.macRefsOf[id] = this.lastMacRefs;
    else this.macRefsOf[id] = this.lastMacRefs = out.macRefs;
  }

  /** Drops what keepRefs kept for megaflow `id`. */
  private dropRefs(id: number): void {
    this.usesMacsOf[id] = 0;
    if (id >= this.rulesOf.length) return;
    this.rulesOf[id] = NO_RULES;
    this.macRefsOf[id] = NO_MAC_REFS;
  }

  private resultOf(id: number): FlowResult | null {
    if (id === this.tempId) return this.tempResult;
    return id < this.results.length ? this.results[id] : null;
  }

  /** Gives megaflow `id` its result, and the fast path its copies (singleOutOf, usesMacsOf). */
  private setResult(id: number, res: FlowResult | null): void {
    if (id === this.tempId) {
      this.tempResult = res;
    } else {
      while (this.results.length <= id) this.results.push(null);
      this.results[id] = res;
    }
    let single = OUT_GENERAL;
    if (res !== null && res.outputs !== null && res.outputs.length === 0) single = OUT_DROP;
    if (res !== null && res.outputs !== null && res.outputs.length === 1) single = res.outputs[0];
    if (res !== null && res.tunnelFast !== null && res.tunnelFast.popCode >= 0) {
      single = OUT_TNL_POP;
      this.tnlPopOf[id] = res.tunnelFast.popCode;
    }
    this.singleOutOf[id] = single;
  }

  private release(res: FlowResult): void {
    if (--res.refs !== 0) return;
    this.interned.delete(res.internKey);
    releaseRecircs(this.sw, res.recircs);
  }

  /** The translation input of an upcall or revalidation: one object, rewritten for each. */
  private xlateInput(keys: Uint32Array, kb: number, size: number, nowMs: number, sideEffects: boolean): XlateInput {
    const input = this.input;
    input.key = keys;
    input.keyBase = kb;
    input.nowMs = nowMs;
    input.sideEffects = sideEffects;
    input.packetSize = size;
    this.learnNowMs = nowMs;
    return input;
  }

  removeFlow(id: number): void {
    this.pushFlowStats(id);
    this.megaflows.remove(id);
    const res = this.resultOf(id);
    if (res) this.release(res);
    this.setResult(id, null);
    this.dropRefs(id);
  }

  /** At the flow limit: removes the least recently used tenth, so eviction costs little per upcall. */
  private evictLru(): void {
    const ids = this.megaflows.ids();
    ids.sort((a, b) => this.usedMsOf[a] - this.usedMsOf[b]);
    const n = Math.max(1, Math.floor(ids.length / 10));
    for (let k = 0; k < n; k++) this.removeFlow(ids[k]);
  }

  /** Removes megaflows idle for idleMs (the revalidator's max-idle sweep); returns how many. */
  expire(nowMs: number): number {
    let n = 0;
    for (const id of this.megaflows.ids()) {
      if (nowMs - this.usedMsOf[id] >= this.idleMs) {
        this.removeFlow(id);
        n++;
      }
    }
    this.megaflows.rank();
    return n;
  }

  /** Credits megaflow `id`'s rules with the packets it handled since the last push. */
  private pushFlowStats(id: number): void {
    const res = this.resultOf(id);
    if (!res || id === this.tempId) return;
    const dp = this.packetsOf[id] - this.pushedPacketsOf[id];
    const db = this.bytesOf[id] - this.pushedBytesOf[id];
    if (dp <= 0) return;
    const used = this.usedMsOf[id];
    for (const r of this.rulesOf[id]) r.bridge.tables[r.table].credit(r.rule, dp, db, used);
    this.pushedPacketsOf[id] = this.packetsOf[id];
    this.pushedBytesOf[id] = this.bytesOf[id];
  }

  /** Credits every rule with the packets its megaflows handled since the last push. */
  pushStats(): void {
    for (const id of this.megaflows.ids()) this.pushFlowStats(id);
  }

  /**
   * Periodic upkeep, as OVS's revalidator threads do: statistics to rules,
   * source MACs of used megaflows kept fresh, MAC aging, idle megaflows
   * removed, subtables re-ranked. Call about every second of packet time.
   */
  maintain(nowMs: number): void {
    this.pushStats();
    // Statistics first, so idle timeouts see the packets the fast path handled.
    this.opts.expireRules?.(nowMs);
    for (const id of this.megaflows.ids()) {
      for (const r of this.macRefsOf[id]) r.bridge.macs.refresh(r.mac, r.vlan, r.port, this.usedMsOf[id]);
    }
    for (const b of this.sw.bridges) b.macs.expire(nowMs);
    this.expire(nowMs);
    this.conntrack.sweep(nowMs);
  }

  /** Empties both caches (statistics are pushed first). */
  flushCaches(): void {
    for (const id of this.megaflows.ids()) this.removeFlow(id);
    this.emc.clear();
  }

  /** A megaflow's actions and counters, for dumps. */
  flowInfo(id: number): { actions: readonly OdpAction[]; packets: number; bytes: number; usedMs: number; createdMs: number } | null {
    const res = this.resultOf(id);
    if (!res) return null;
    return { actions: res.actions, packets: this.packetsOf[id], bytes: this.bytesOf[id], usedMs: this.usedMsOf[id], createdMs: this.createdMsOf[id] };
  }

  // ------------------------------------------------ conntrack and recirculation (recirculate.ts)

  readonly conntrack: ConntrackEngine;
  /** Executors of recirculated passes: executors[d - 1] runs depth d. */
  private readonly executors: Executor[] = [];
  private readonly recircParser: Parser;
  /**
   * Key and header slots of each depth's pass: slot d is depth d's key and
   * also the ct key of the executor of depth d - 1, so a packet's key after
   * ct is already where its recirculated pass reads it (slot RECIRC_DEPTH_MAX
   * + 1 only serves the deepest executor's ct).
   */
  private readonly recircKeys = new Uint32Array((RECIRC_DEPTH_MAX + 2) * L.KEY_WORDS);
  private readonly recircHdrs = new Uint16Array((RECIRC_DEPTH_MAX + 1) * HDR_WORDS);
  /** The metadata words of a packet being re-parsed (indexed by key word). */
  private readonly recircMeta = new Uint32Array(L.W_TUN_TP + 1);
  /** The batch being processed: its time and where its outputs go. */
  private nowMs = 0;
  private emit: EmitFn = noEmit;

  /** RecircHost: the executor's ct action. */
  runConntrack(frame: Uint8Array, off: number, len: number, l3: number, l4: number, key: Uint32Array, kb: number, req: CtRequest): number {
    return this.conntrack.execute(frame, off, len, l3, l4, key, kb, req, this.nowMs) ?? EXEC_DONE;
  }

  /** RecircHost: the executor's meter action (src/datapath/meter.ts), at the packet's time or the batch's. */
  runMeter(id: number, size: number): boolean {
    const times = this.packetTimesMs;
    return this.sw.dpMeters.run(id, size, times === null ? this.nowMs : times[this.current]);
  }
  /** processBatch's per-frame times, or null. */
  private packetTimesMs: Float64Array | null = null;

  /** RecircHost: fragments conntrack released (rare: allocation is fine here). */
  takeReleased(): ReleasedPacket[] | null {
    const ct = this.conntrack;
    if (ct.releasedCount === undefined || ct.takeReleased === undefined || ct.releasedCount() === 0) return null;
    return ct.takeReleased();
  }

  /**
   * RecircHost: the executor's recirc action. The packet is parsed again
   * into this depth's slot, takes its metadata from `key` and recirc_id =
   * id, and goes through the caches (or an upcall that thaws the frozen
   * state) and its actions, all before the recirculating pass continues.
   */
  recirculate(id: number, frame: Uint8Array, off: number, len: number, key: Uint32Array, kb: number, keyHdrs: Uint16Array | null, khb: number, depth: number, rxHash: number): void {
    const stats = this.stats;
    if (depth >= RECIRC_DEPTH_MAX) {
      stats.recircDropped++;
      return;
    }
    stats.recirculations++;
    const d = depth + 1;
    const keys = this.recircKeys;
    const rb = d * L.KEY_WORDS;
    const hdrs = this.recircHdrs;
    const hb = d * HDR_WORDS;
    if (keyHdrs !== null) {
      // The headers are unchanged since key was parsed: the parse would give them again.
      // Its datapath words, that is (the parser leaves the pipeline's words zero). The
      // executor's ct key is this slot already (setCtKeySlot) unless no ct ran.
      if (key !== keys || kb !== rb) {
        for (let w = 0; w < L.DP_WORDS; w++) keys[rb + w] = key[kb + w];
        for (let w = L.DP_WORDS; w < L.KEY_WORDS; w++) keys[rb + w] = 0;
      }
      for (let w = 0; w < HDR_WORDS; w++) hdrs[hb + w] = keyHdrs[khb + w];
    } else {
      // dp_netdev_recirculate keeps the packet's metadata; only recirc_id changes.
      // Saved first: key may be this very slot (the executor's ct key).
      const meta = this.recircMeta;
      for (let w = L.W_DP_HASH; w <= L.W_TUN_TP; w++) meta[w] = key[kb + w];
      if (this.recircParser.parseFrame(frame, off, len, key[kb + L.W_IN_PORT], keys, rb, hdrs, hb) === PARSE_RUNT) {
        stats.runts++;
        return;
      }
      // The metadata's regions (emc.ts): the parse declared the headers' only.
      let tunnel = 0;
      let tunnelIpv6 = 0;
      let ctIpv6 = 0;
      for (let w = L.W_DP_HASH; w <= L.W_TUN_TP; w++) keys[rb + w] = meta[w];
      for (let w = L.W_TUN_ID; w <= L.W_TUN_TP; w++) tunnel |= meta[w];
      for (let w = L.W_TUN_IPV6_SRC; w < L.W_TUN_FLAGS; w++) tunnelIpv6 |= meta[w];
      for (let w = L.W_CT_IPV6_SRC; w < L.W_CT_TP; w++) ctIpv6 |= meta[w];
      if (tunnel !== 0) hdrs[hb + HDR_REGIONS] |= REGION_TUNNEL;
      if (tunnelIpv6 !== 0) hdrs[hb + HDR_REGIONS] |= REGION_TUNNEL_IPV6;
      if (ctIpv6 !== 0) hdrs[hb + HDR_REGIONS] |= REGION_IPV6;
    }
    this.recirculatePass(id, frame, off, len, keys, rb, hdrs, hb, d, rxHash);
  }

  /**
   * RecircHost: the executor's ct + recirc on a key it may run in: the pass
   * after ct needs nothing the key does not have, so it takes no copy.
   */
  recirculateKey(id: number, frame: Uint8Array, off: number, len: number, key: Uint32Array, kb: number, hdrs: Uint16Array, hb: number, depth: number, rxHash: number): void {
    if (depth >= RECIRC_DEPTH_MAX) {
      this.stats.recircDropped++;
      return;
    }
    this.stats.recirculations++;
    this.recirculatePass(id, frame, off, len, key, kb, hdrs, hb, depth + 1, rxHash);
  }

  /**
   * The pass of depth d over the packet whose key (metadata and headers,
   * recirc_id aside) is keys[rb..] and header offsets hdrs[hb..]: recirc_id
   * = id, the caches or an upcall, then its actions on depth d's executor.
   */
  private recirculatePass(id: number, frame: Uint8Array, off: number, len: number, keys: Uint32Array, rb: number, hdrs: Uint16Array, hb: number, d: number, rxHash: number): void {
    const stats = this.stats;
    keys[rb + L.W_RECIRC_ID] = id;
    const regions = hdrs[hb + HDR_REGIONS] | REGION_META;
    hdrs[hb + HDR_REGIONS] = regions;
    let flow = -1;
    if (!this.noCache) {
      const emc = this.emc;
      const useEmc = emc.enabled;
      let h = 0;
      if (useEmc) {
        h = emcHash(keys, rb, regions);
        const slot = emc.lookup(keys, rb, h, regions);
        if (slot >= 0 && this.megaflows.isAlive(emc.flows[slot], emc.gens[slot])) {
          flow = emc.flows[slot];
          stats.emcHits++;
        }
      }
      if (flow < 0) {
        flow = this.megaflows.lookup(keys, rb);
        if (flow >= 0) {
          stats.megaflowHits++;
          if (useEmc && emc.sampleInsert()) emc.insert(keys, rb, h, regions, flow, this.megaflows.gens[flow], this.aliveFn);
        }
      }
      if (flow >= 0 && !this.isCurrent(flow)) flow = this.revalidate(flow, keys, rb, len, this.nowMs);
    }
    if (flow < 0) {
      flow = this.upcall(keys, rb, len, this.nowMs);
      if (flow < 0) return;
    }
    this.packetsOf[flow]++;
    this.bytesOf[flow] += len;
    this.usedMsOf[flow] = this.nowMs;
    // One output (the common end of a ct(table=N) pipeline) needs no result object, as in processBatch.
    const port = this.singleOutOf[flow];
    if (port >= 0) {
      stats.outputs++;
      this.emit(port, frame, off, len);
      return;
    }
    const info = this.resultOf(flow)!;
    const outs = info.outputs;
    if (outs !== null) {
      if (outs.length === 0) stats.dropped++;
      for (let j = 0; j < outs.length; j++) {
        stats.outputs++;
        this.emit(outs[j], frame, off, len);
      }
      return;
    }
    const ex = this.executors[d - 1];
    ex.rxHash = rxHash;
    ex.run(frame, off, len, keys, rb, hdrs, hb, info.actions, this.emit);
  }

  /** Bytes of memory the caches hold in typed arrays (for the memory figures). */
  storageBytes(): number {
    const per = this.packetsOf.byteLength * 6 + this.swGenOf.byteLength * 2 + this.results.length * 8 * 3;
    return per + this.megaflows.storageBytes() + this.emc.storageBytes();
  }
}

function noEmit(): void {}

/** The ct request of actions that are exactly `ct(...),recirc(id)`, else null. */
function ctRecircOf(actions: readonly OdpAction[]): CtRequest | null {
  if (actions.length !== 2) return null;
  const a = actions[0];
  return a.t === "ct" && actions[1].t === "recirc" ? a.req : null;
}

/** Whether translation output `out` has only output actions and they are `res`'s (an output-only result). */
function sameOutputOnlyResult(res: FlowResult, out: XlateOutput): boolean {
  const outs = res.outputs!;
  const acts = out.actions;
  if (acts.length !== outs.length) return false;
  if (out.recircs.length !== 0 || res.recircs.length !== 0) return false;
  for (let i = 0; i < acts.length; i++) {
    const a = acts[i];
    if (a.t !== "output" || a.port !== outs[i]) return false;
  }
  return true;
}

function sameRules(a: RuleRefs, b: RuleRefs): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (x.rule !== y.rule || x.table !== y.table || x.bridge !== y.bridge) return false;
  }
  return true;
}

function sameMacRefs(a: readonly MacRef[], b: readonly MacRef[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (x.bridge !== y.bridge || x.mac !== y.mac || x.vlan !== y.vlan || x.port !== y.port) return false;
  }
  return true;
}

/** Two datapath action lists are the same when their text is. */
function sameActions(a: readonly OdpAction[], b: readonly OdpAction[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (x.t !== y.t) return false;
    if (x.t === "output" && y.t === "output" && x.port !== y.port) return false;
    if (x.t === "push_vlan" && y.t === "push_vlan" && (x.tpid !== y.tpid || x.tci !== y.tci)) return false;
    if (x.t === "set" && y.t === "set") {
      if (x.attr !== y.attr || x.masked !== y.masked) return false;
      for (let w = 0; w < L.DP_WORDS; w++) if (x.value[w] !== y.value[w] || x.mask[w] !== y.mask[w]) return false;
    }
    if (x.t === "ct" && y.t === "ct" && x.text !== y.text) return false;
    if (x.t === "recirc" && y.t === "recirc" && x.id !== y.id) return false;
    if (x.t === "meter" && y.t === "meter" && x.id !== y.id) return false;
    if (x.t === "trunc" && y.t === "trunc" && x.maxLen !== y.maxLen) return false;
    if (x.t === "userspace" && y.t === "userspace" && x.text !== y.text) return false;
    if (x.t === "clone" && y.t === "clone" && !sameActions(x.actions, y.actions)) return false;
    if ((x.t === "tnl_push" || x.t === "tnl_pop") && formatOdpActions([x]) !== formatOdpActions([y])) return false;
  }
  return true;
}
