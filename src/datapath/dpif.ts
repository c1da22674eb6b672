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
 *   of a capture requires.
 * - Statistics reach OpenFlow rules and MAC entries through pushStats(), so
 *   dump-flows counters are exact even for packets that never left the
 *   fast path.
 *
 * Limits: megaflowsMax megaflows (LRU eviction beyond), idle expiry after
 * idleMs without a hit (OVS's max-idle, 10 s).
 */
import * as L from "../flow/layout.js";
import { Parser, PARSE_RUNT, HDR_WORDS } from "../packet/parse.js";
import { BATCH_MAX } from "../limits.js";
import type { Switch } from "../ofproto/bridge.js";
import type { OfRule } from "../ofproto/table.js";
import type { OdpAction } from "./actions.js";
import { Emc } from "./emc.js";
import { MegaflowCache, MEGAFLOWS_MAX_DEFAULT } from "./megaflow.js";
import { Executor, type EmitFn } from "./execute.js";
import { hashWords } from "./hash.js";
import { xlate, type XlateInput, type LearnedFlow, type MacRef } from "../xlate/xlate.js";
import type { Bridge } from "../ofproto/bridge.js";

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
  onLearn?: (bridge: Bridge, flow: LearnedFlow, nowMs: number) => void;
  /** Called for every megaflow installed (replay --megaflows). */
  onInstall?: (id: number) => void;
}

/** What the datapath keeps per megaflow besides the cache's key and mask. */
interface FlowInfo {
  actions: OdpAction[];
  /** Output-only actions as datapath ports (fast path), or null. */
  outputs: Int32Array | null;
  rules: { bridge: Bridge; table: number; rule: OfRule }[];
  bridges: Bridge[];
  usesMacs: boolean;
  macRefs: MacRef[];
  swGen: number;
  macVersions: number[];
  packets: number;
  bytes: number;
  pushedPackets: number;
  pushedBytes: number;
  usedMs: number;
  createdMs: number;
}

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
}

export class Datapath {
  readonly parser: Parser;
  readonly emc: Emc;
  readonly megaflows: MegaflowCache;
  readonly executor = new Executor();
  readonly stats = new DatapathStats();
  readonly flows: (FlowInfo | null)[] = [];
  readonly noCache: boolean;
  idleMs: number;
  /** Index in the batch of the packet being processed (for emit callbacks that need its metadata). */
  current = -1;

  // Per-batch scratch, allocated once.
  private readonly keys = new Uint32Array(BATCH_MAX * L.KEY_WORDS);
  private readonly hdrs = new Uint16Array(BATCH_MAX * HDR_WORDS);
  private readonly results = new Uint8Array(BATCH_MAX);
  private readonly hashes = new Uint32Array(BATCH_MAX);

  constructor(
    readonly sw: Switch,
    private readonly opts: DatapathOptions = {},
  ) {
    this.parser = new Parser(opts.vlanLimit);
    this.emc = new Emc(opts.emcInsertInvProb);
    this.megaflows = new MegaflowCache(opts.megaflowsMax ?? MEGAFLOWS_MAX_DEFAULT);
    this.noCache = opts.noCache === true;
    this.idleMs = opts.idleMs ?? MEGAFLOW_IDLE_MS_DEFAULT;
  }

  /**
   * Processes `count` frames lying in `buf` at offsets/lengths, received on
   * datapath ports inPorts[i], at time nowMs; outputs go to `emit`.
   */
  processBatch(buf: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, inPorts: Uint32Array, count: number, nowMs: number, emit: EmitFn): void {
    const keys = this.keys;
    const hdrs = this.hdrs;
    this.parser.parseBatch(buf, offsets, lengths, count, inPorts, keys, hdrs, this.results);
    const stats = this.stats;
    const emc = this.emc;
    const useEmc = emc.enabled && !this.noCache;
    for (let i = 0; i < count; i++) {
      this.current = i;
      stats.packets++;
      if (this.results[i] === PARSE_RUNT) {
        stats.runts++;
        continue;
      }
      const kb = i * L.KEY_WORDS;
      let flow = -1;
      if (!this.noCache) {
        if (useEmc) {
          const h = hashWords(keys, kb, L.DP_WORDS);
          this.hashes[i] = h;
          const slot = emc.lookup(keys, kb, h);
          if (slot >= 0 && this.megaflows.isAlive(emc.flows[slot], emc.gens[slot])) {
            flow = emc.flows[slot];
            stats.emcHits++;
          }
        }
        if (flow < 0) {
          flow = this.megaflows.lookup(keys, kb);
          if (flow >= 0) {
            stats.megaflowHits++;
            if (useEmc) emc.maybeInsert(keys, kb, this.hashes[i], flow, this.megaflows.gens[flow], this.aliveFn);
          }
        }
        if (flow >= 0 && !this.isCurrent(flow)) flow = this.revalidate(flow, keys, kb, lengths[i], nowMs);
      }
      if (flow < 0) {
        flow = this.upcall(keys, kb, lengths[i], nowMs);
        if (flow < 0) continue; // lost (no room) or translated without caching: already executed
      }
      const info = this.flows[flow]!;
      info.packets++;
      info.bytes += lengths[i];
      info.usedMs = nowMs;
      this.execute(info, buf, offsets[i], lengths[i], keys, kb, hdrs, i * HDR_WORDS, emit);
    }
  }

  private readonly aliveFn = (flow: number, gen: number): boolean => this.megaflows.isAlive(flow, gen);

  private execute(info: FlowInfo, buf: Uint8Array, off: number, len: number, keys: Uint32Array, kb: number, hdrs: Uint16Array, hb: number, emit: EmitFn): void {
    const outs = info.outputs;
    if (outs !== null) {
      if (outs.length === 0) this.stats.dropped++;
      for (let j = 0; j < outs.length; j++) {
        this.stats.outputs++;
        emit(outs[j], buf, off, len);
      }
      return;
    }
    this.executor.run(buf, off, len, keys, kb, hdrs, hb, info.actions, emit);
  }

  private isCurrent(flow: number): boolean {
    const info = this.flows[flow]!;
    if (info.swGen !== this.sw.version) return false;
    if (info.usesMacs) {
      for (let b = 0; b < info.bridges.length; b++) if (info.bridges[b].macs.version !== info.macVersions[b]) return false;
    }
    return true;
  }

  /** Translates the packet, installs its megaflow; returns the megaflow id or -1 (executed here when not cached). */
  private upcall(keys: Uint32Array, kb: number, size: number, nowMs: number): number {
    this.stats.misses++;
    const out = xlate(this.xlateInput(keys, kb, size, nowMs, true));
    const info = this.infoFrom(out, nowMs);
    // The translation credited this first packet to its rules already.
    info.pushedPackets = 1;
    info.pushedBytes = size;
    if (this.noCache) {
      // Reference path: nothing is cached; the result serves this packet only.
      return this.installTemp(info);
    }
    if (this.megaflows.count >= this.megaflows.flowsMax) this.evictLru();
    const id = this.megaflows.insert(keys, kb, out.wc, 0);
    if (id < 0) {
      this.stats.lost++;
      return this.installTemp(info);
    }
    this.flows[id] = info;
    this.opts.onInstall?.(id);
    return id;
  }

  private tempId = -1;
  /** A result used for this packet only (no cache, or the cache is full). */
  private installTemp(info: FlowInfo): number {
    if (this.tempId < 0) this.tempId = this.megaflows.flowsMax; // an id no megaflow ever has
    this.flows[this.tempId] = info;
    return this.tempId;
  }

  private revalidate(flow: number, keys: Uint32Array, kb: number, size: number, nowMs: number): number {
    this.stats.revalidations++;
    const old = this.flows[flow]!;
    const out = xlate(this.xlateInput(keys, kb, size, nowMs, false));
    const mask = new Uint32Array(L.KEY_WORDS);
    this.megaflows.maskOf(flow, mask, 0);
    let covered = true;
    for (let w = 0; w < L.DP_WORDS; w++) if ((out.wc[w] & ~mask[w]) !== 0) covered = false;
    if (covered && sameActions(out.actions, old.actions)) {
      old.swGen = this.sw.version;
      old.macVersions = old.bridges.map((b) => b.macs.version);
      old.rules = out.rules;
      return flow;
    }
    this.removeFlow(flow);
    return -1;
  }

  private xlateInput(keys: Uint32Array, kb: number, size: number, nowMs: number, sideEffects: boolean): XlateInput {
    return {
      sw: this.sw,
      key: keys,
      keyBase: kb,
      nowMs,
      sideEffects,
      packetSize: size,
      trace: false,
      onLearn: this.opts.onLearn ? (b, f) => this.opts.onLearn!(b, f, nowMs) : undefined,
    };
  }

  private infoFrom(out: ReturnType<typeof xlate>, nowMs: number): FlowInfo {
    const bridges = [...new Set(out.rules.map((r) => r.bridge))];
    const outputsOnly = out.actions.every((a) => a.t === "output");
    return {
      actions: out.actions,
      outputs: outputsOnly ? Int32Array.from(out.actions.map((a) => (a.t === "output" ? a.port : -1))) : null,
      rules: out.rules,
      bridges,
      usesMacs: out.usesMacs,
      macRefs: out.macRefs,
      swGen: this.sw.version,
      macVersions: bridges.map((b) => b.macs.version),
      packets: 0,
      bytes: 0,
      pushedPackets: 0,
      pushedBytes: 0,
      usedMs: nowMs,
      createdMs: nowMs,
    };
  }

  removeFlow(id: number): void {
    this.pushFlowStats(id);
    this.megaflows.remove(id);
    this.flows[id] = null;
  }

  private evictLru(): void {
    let oldest = -1;
    let oldestMs = Infinity;
    for (const id of this.megaflows.ids()) {
      const u = this.flows[id]!.usedMs;
      if (u < oldestMs) {
        oldestMs = u;
        oldest = id;
      }
    }
    if (oldest >= 0) this.removeFlow(oldest);
  }

  /** Removes megaflows idle for idleMs (the revalidator's max-idle sweep); returns how many. */
  expire(nowMs: number): number {
    let n = 0;
    for (const id of this.megaflows.ids()) {
      if (nowMs - this.flows[id]!.usedMs >= this.idleMs) {
        this.removeFlow(id);
        n++;
      }
    }
    this.megaflows.rank();
    return n;
  }

  private pushFlowStats(id: number): void {
    const info = this.flows[id];
    if (!info) return;
    const dp = info.packets - info.pushedPackets;
    const db = info.bytes - info.pushedBytes;
    if (dp === 0) return;
    // The first packet was credited by its upcall's translation.
    for (const r of info.rules) r.bridge.tables[r.table].credit(r.rule, dp, db, info.usedMs);
    info.pushedPackets = info.packets;
    info.pushedBytes = info.bytes;
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
    for (const id of this.megaflows.ids()) {
      const info = this.flows[id]!;
      for (const r of info.macRefs) r.bridge.macs.refresh(r.mac, r.vlan, r.port, info.usedMs);
    }
    for (const b of this.sw.bridges) b.macs.expire(nowMs);
    this.expire(nowMs);
  }

  /** Empties both caches (statistics are pushed first). */
  flushCaches(): void {
    for (const id of this.megaflows.ids()) this.removeFlow(id);
    this.emc.clear();
  }

  /** Actions of a megaflow, for dumps. */
  flowInfo(id: number): Readonly<FlowInfo> | null {
    return this.flows[id] ?? null;
  }
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
  }
  return true;
}
