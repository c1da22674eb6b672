/**
 * Translation: runs a packet's flow through the OpenFlow pipeline of its
 * bridge once and returns what the datapath should do with every packet of
 * the same megaflow: datapath actions, and the wildcard mask of every key bit
 * the walk consulted (OVS's ofproto-dpif-xlate.c, xlate_actions()).
 *
 * Semantics follow Open vSwitch 3.1: tables 0-254 from table 0, resubmit and
 * goto_table, the OpenFlow 1.1+ action set (write_actions, clear_actions)
 * executed at the end, NORMAL with per-VLAN MAC learning, patch ports that
 * continue in the peer bridge with registers and metadata cleared, learn(),
 * groups (all, select, indirect, fast failover), a resubmit depth of 64
 * (only a lookup in the same or an earlier table deepens it) and 4096
 * resubmits in all. Header changes are committed as datapath set, push and
 * pop actions just before each output (commit.ts).
 *
 * Limits: a select group picks its bucket by flowplane's own hash (OVS hashes
 * in the datapath and recirculates); controller actions and dec_ttl's
 * invalid_ttl report emit nothing (there is no controller channel).
 *
 * Invariant: the result depends only on the key bits in `wc` (the megaflow
 * property); side effects (MAC learning, learn(), rule statistics) happen
 * only when `sideEffects` is set.
 *
 * Control plane: called on a cache miss (upcall) and by trace; it allocates,
 * but little on an upcall: the datapath's Translator reuses one context, so
 * a translation allocates its few result lists and no key-sized arrays.
 */
import * as L from "../flow/layout.js";
import { type FieldDef, findField, readFieldBig, writeFieldBig, fieldWords } from "../flow/fields.js";
import { fieldMax } from "../flow/match.js";
import { formatMatch, formatPortName } from "../flow/format.js";
import { formatMac, OFPP_IN_PORT, OFPP_TABLE, OFPP_NORMAL, OFPP_FLOOD, OFPP_ALL, OFPP_CONTROLLER, OFPP_LOCAL, OFPP_NONE } from "../flow/text.js";
import type { Action, SubField, LearnAction, NatAction } from "../openflow/actions.js";
import { type Group, type Bucket, WATCH_PORT_NONE, OFPG_ANY } from "../openflow/group.js";
import { TABLE_NONE } from "../openflow/actions.js";
import type { Bridge, Port, Switch } from "../ofproto/bridge.js";
import type { OfRule } from "../ofproto/table.js";
import { dpMeterIdOf } from "../ofproto/meter-table.js";
import type { OdpAction } from "../datapath/actions.js";
import { commitActions } from "./commit.js";
import type { TraceNode, TraceKind } from "./trace.js";
import { planTunnelOutput, receivePort, terminateTunnel, tunnelEcn, unclonedLastPush, TUNNEL_NESTING_MAX, TUN_FLAGS_WC } from "./tunnel.js";
import { composeCt, composeCtClear, clearConntrack, tupleSwap, type RecircTrace } from "./ct.js";
import { recircIdsOf, thawMetadata, type FrozenState } from "./recirc.js";
import { CS_TRACKED } from "../conntrack/api.js";

/** OVS's MAX_DEPTH: resubmits nested deeper than this are an error. */
export const RESUBMIT_DEPTH_MAX = 64;
/** OVS's MAX_RESUBMITS: total resubmits in one translation. */
export const RESUBMITS_MAX = 4096;

export interface XlateInput {
  sw: Switch;
  /** The packet's key; in_port holds the datapath port the packet arrived on. */
  key: Uint32Array;
  keyBase: number;
  nowMs: number;
  /** Learn MACs, run learn(), credit rules: true for real packets, false for trace. */
  sideEffects: boolean;
  /** Bytes of the packet, for rule statistics. */
  packetSize: number;
  /** Collect a trace report. */
  trace: boolean;
  /**
   * With `trace`: name ports in the report's table and action lines, as
   * ofproto/trace does only with --names (otherwise it prints numbers).
   */
  traceNames?: boolean;
  /** Called for each learn() the translation performs (with sideEffects). */
  /** Adds a learned flow; false when learn(limit=N) refused it (anything else: learned). */
  onLearn?: (bridge: Bridge, flow: LearnedFlow) => boolean | void;
}

/** A flow that learn() asks to add. */
export interface LearnedFlow {
  table: number;
  priority: number;
  idleTimeout: number;
  hardTimeout: number;
  cookie: bigint;
  match: { value: Uint32Array; mask: Uint32Array };
  actions: Action[];
  /** learn(limit=N): at most N rules with this cookie in the table (0: no limit). */
  limit: number;
}

export interface XlateOutput {
  actions: OdpAction[];
  /** Megaflow mask over the key layout; only datapath words are meaningful. */
  wc: Uint32Array;
  /** The flow as the actions left it. */
  finalFlow: Uint32Array;
  /** Rules the packet hit, to credit statistics to (also when the cache serves later packets). */
  rules: { bridge: Bridge; table: number; rule: OfRule }[];
  trace: TraceNode[];
  error: string | null;
  /** Whether NORMAL consulted a MAC table (the result then depends on MAC learning). */
  usesMacs: boolean;
  /** Source MACs NORMAL learned or refreshed, to keep fresh while the megaflow is used. */
  macRefs: MacRef[];
  /**
   * Recirculation ids the actions name, one reference each, owned by the
   * caller: whoever keeps the actions keeps the references, the rest are
   * dropped with releaseRecircs().
   */
  recircs: number[];
  /** With `trace`: the recirculated passes to follow, in order (ofproto/trace's recirc queue). */
  recircTraces: RecircTrace[];
}

export interface MacRef {
  bridge: Bridge;
  mac: bigint;
  vlan: number;
  port: number;
}

const W = L.KEY_WORDS;

/**
 * Tracks one translation. A context is reused from one translation to the
 * next (reset()): its key-sized buffers are allocated once. Its lists are
 * new for each translation (a few small arrays, cheap to allocate), so the
 * lists of an output are the caller's to keep.
 */
class Ctx {
  input: XlateInput = NO_INPUT;
  /** The packet's key as the datapath handed it up (in_port a datapath port). */
  readonly orig = new Uint32Array(W);
  /** The flow the actions work on (in_port an OpenFlow port). */
  readonly flow = new Uint32Array(W);
  /** The packet as the datapath actions so far leave it (commit.ts). */
  readonly base = new Uint32Array(W);
  readonly wc = new Uint32Array(W);
  odp: OdpAction[] = [];
  bridge: Bridge = NO_BRIDGE;
  tableId = 0;
  depth = 0;
  resubmits = 0;
  exit = false;
  /**
   * OVS's is_last_action: nothing follows the action running now (in its
   * list, the lists that resubmitted to it, or an action set). A meter
   * reached through a patch port or clone() when more follows is emitted in
   * a datapath clone (cloneActions).
   */
  isLast = true;
  /** Accumulated write_actions (OpenFlow action set), by action-set slot. */
  actionSet: Action[] = [];
  stack: bigint[] = [];
  rules: XlateOutput["rules"] = [];
  error: string | null = null;
  usesMacs = false;
  macRefs: MacRef[] = [];
  /** Where reports go now (null when not tracing). */
  trace: TraceNode[] | null = null;
  root: TraceNode[] = [];
  // Connection tracking (ct.ts).
  conntracked = false;
  thawed = false;
  ctNat: NatAction | null = null;
  recircs: number[] = [];
  recircTraces: RecircTrace[] = [];

  /**
   * Readies the context for a translation of input's packet: every field as
   * a new context has it. The lists an output hands out are replaced; the
   * action set and the stack, which only a frozen or saved state may still
   * hold, when not empty.
   */
  reset(input: XlateInput): void {
    this.input = input;
    const key = input.key;
    const kb = input.keyBase;
    const orig = this.orig;
    for (let w = 0; w < W; w++) orig[w] = key[kb + w];
    this.flow.set(orig);
    // base is set from the flow when translation starts.
    this.wc.fill(0);
    this.odp = [];
    this.bridge = NO_BRIDGE;
    this.tableId = 0;
    this.depth = 0;
    this.resubmits = 0;
    this.exit = false;
    this.isLast = true;
    if (this.actionSet.length !== 0) this.actionSet = [];
    if (this.stack.length !== 0) this.stack = [];
    this.rules = [];
    this.error = null;
    this.usesMacs = false;
    this.macRefs = [];
    this.root = [];
    this.trace = input.trace ? this.root : null;
    this.conntracked = false;
    this.thawed = false;
    this.ctNat = null;
    this.recircs = [];
    this.recircTraces = [];
  }

  report(kind: TraceKind, text: string): TraceNode | null {
    if (!this.trace) return null;
    const node: TraceNode = { kind, text, subs: [] };
    this.trace.push(node);
    return node;
  }
}

/** Placeholders of a context between translations (never read then). */
const NO_INPUT: XlateInput = { sw: null as unknown as Switch, key: new Uint32Array(0), keyBase: 0, nowMs: 0, sideEffects: false, packetSize: 0, trace: false };
const NO_BRIDGE = null as unknown as Bridge;

/**
 * Translates packets with one reused context: what the datapath's upcalls
 * use. The output object run() returns and its key-sized arrays (wc,
 * finalFlow) belong to the translator and are valid until its next run();
 * the lists in it (actions, rules, macRefs, recircs, traces) are the
 * caller's to keep. A translation does not start another on the same
 * translator (a tunnel output translates its outer packet with a fresh one).
 */
export class Translator {
  private readonly ctx = new Ctx();
  private readonly out: XlateOutput = {
    actions: [],
    wc: this.ctx.wc,
    finalFlow: this.ctx.flow,
    rules: [],
    trace: [],
    error: null,
    usesMacs: false,
    macRefs: [],
    recircs: [],
    recircTraces: [],
  };

  run(input: XlateInput): XlateOutput {
    const ctx = this.ctx;
    ctx.reset(input);
    const failed = translate(ctx);
    if (failed !== null) return failed;
    const out = this.out;
    out.actions = ctx.odp;
    out.wc = ctx.wc;
    out.finalFlow = ctx.flow;
    out.rules = ctx.rules;
    out.trace = ctx.root;
    out.error = ctx.error;
    out.usesMacs = ctx.usesMacs;
    out.macRefs = ctx.macRefs;
    out.recircs = ctx.recircs;
    out.recircTraces = ctx.recircTraces;
    return out;
  }
}

/** Translates the packet whose key is input.key at input.keyBase; the output is the caller's to keep. */
export function xlate(input: XlateInput): XlateOutput {
  const ctx = new Ctx();
  ctx.reset(input);
  const failed = translate(ctx);
  if (failed !== null) return failed;
  return {
    actions: ctx.odp,
    wc: ctx.wc,
    finalFlow: ctx.flow,
    rules: ctx.rules,
    trace: ctx.root,
    error: ctx.error,
    usesMacs: ctx.usesMacs,
    macRefs: ctx.macRefs,
    recircs: ctx.recircs,
    recircTraces: ctx.recircTraces,
  };
}

/** A translation that could not start: no actions, only the error (a new output, it is rare). */
function failedOutput(flow: Uint32Array, error: string, wc: Uint32Array): XlateOutput {
  return { actions: [], wc, finalFlow: flow.slice(), rules: [], trace: [], error, usesMacs: false, macRefs: [], recircs: [], recircTraces: [] };
}

/**
 * xlate_actions on a reset context: the pipeline from the packet's input
 * port (or its frozen state) to the end. Returns null when the translation
 * ran (its output is the context's), or the output of one that could not start.
 */
function translate(ctx: Ctx): XlateOutput | null {
  const input = ctx.input;
  const key = ctx.orig;
  const flow = ctx.flow;
  const inDp = key[L.W_IN_PORT];
  const inPort = receivePort(input.sw, inDp, key, 0);
  if (!inPort) {
    const wc = allMetadataMask();
    // A tunnel packet no tunnel port takes: the drop depends on its tunnel fields.
    if (key[L.W_TUN_DST] !== 0) {
      wc[L.W_TUN_ID] = 0xffffffff;
      wc[L.W_TUN_ID + 1] = 0xffffffff;
      wc[L.W_TUN_SRC] = 0xffffffff;
      wc[L.W_TUN_DST] = 0xffffffff;
      wc[L.W_TUN_FLAGS] = TUN_FLAGS_WC;
    }
    return failedOutput(flow, `no datapath port ${inDp}`, wc);
  }
  // A recirculated packet resumes the translation frozen under its id.
  const recircId = key[L.W_RECIRC_ID];
  let frozen: FrozenState | null = null;
  if (recircId !== 0) {
    frozen = recircIdsOf(input.sw).find(recircId);
    if (!frozen) return failedOutput(flow, `Recirculation context not found for ID ${recircId.toString(16)}`, allMetadataMask());
  }
  flow[L.W_IN_PORT] = inPort.ofport;
  ctx.base.set(flow);
  ctx.bridge = frozen ? frozen.bridge : inPort.bridge;
  initWildcards(ctx);
  const bridgeNode = ctx.trace ? ctx.report("bridge", `bridge("${ctx.bridge.name}")`) : null;
  const saved = ctx.trace;
  if (bridgeNode) ctx.trace = bridgeNode.subs;
  if (frozen) thaw(ctx, frozen);
  else if (flow[L.W_CT] & CS_TRACKED) ctx.conntracked = true;
  // tnl_process_ecn runs on thawed packets too (xlate_actions).
  if (tunnelEcn(flow, ctx.wc)) {
    const tableNode = frozen ? lookupAndRun(ctx, flow[L.W_IN_PORT], frozen.tableId, true) : lookupAndRun(ctx, inPort.ofport, 0, true);
    // xlate_actions reports its first table (xlate_report_table) and leaves
    // the trace inside it: the action set's node hangs under that table.
    if (tableNode) ctx.trace = tableNode.subs;
    if (!ctx.error) executeActionSet(ctx);
  } else {
    ctx.report("warn", "dropping tunnel packet marked ECN CE but is not ECN capable");
  }
  ctx.trace = saved;
  finishWildcards(ctx, key);
  if (ctx.error) {
    ctx.odp.length = 0;
    releaseRecircs(input.sw, ctx.recircs);
    ctx.recircs.length = 0;
  }
  unclonedLastPush(ctx.odp);
  return null;
}

/** Drops the references a translation's output holds on recirculation ids. */
export function releaseRecircs(sw: Switch, ids: readonly number[]): void {
  if (ids.length === 0) return;
  const table = recircIdsOf(sw);
  for (const id of ids) table.unref(id);
}

/**
 * The thaw part of xlate_actions: the frozen bridge, table, pipeline
 * metadata, stack and action set come back; the packet's own headers and
 * ct_* fields are what the datapath hands up.
 */
function thaw(ctx: Ctx, state: FrozenState): void {
  ctx.thawed = true;
  const node = ctx.report("thaw", "thaw");
  const saved = ctx.trace;
  if (node) ctx.trace = node.subs;
  ctx.tableId = state.tableId;
  ctx.report("thaw", `Resuming from table ${state.tableId}`);
  ctx.conntracked = state.conntracked;
  if (!state.conntracked) clearConntrack(ctx);
  thawMetadata(state, ctx.flow);
  ctx.stack = state.stack.slice();
  if (state.actionSet.length) {
    if (ctx.trace) ctx.report("thaw", `Restoring action set ${state.actionSet.map((a) => actionTraceText(ctx, a, true)).join(",")}`);
    ctx.flow[L.W_ACTSET_OUTPUT] = 0;
    ctx.actionSet = state.actionSet.slice();
  }
  ctx.trace = saved;
}

function allMetadataMask(): Uint32Array {
  const m = new Uint32Array(W);
  m[L.W_IN_PORT] = 0xffffffff;
  m[L.W_RECIRC_ID] = 0xffffffff;
  return m;
}

/** Fields every megaflow matches (xlate_wc_init). */
function initWildcards(ctx: Ctx): void {
  const wc = ctx.wc;
  wc[L.W_IN_PORT] = 0xffffffff;
  wc[L.W_RECIRC_ID] = 0xffffffff;
  wc[L.W_DL_TYPE] = 0xffff;
  if (isIp(ctx.flow)) wc[L.W_NW] |= (L.FRAG_ANY | L.FRAG_LATER) << L.NW_FRAG_SHIFT;
  // A tunnel's metadata is always matched exactly (tnl_wc_init), but for the outer TTL
  // and the OAM flag: tun_flags df/csum/key and tun_tos.
  if (ctx.flow[L.W_TUN_DST] !== 0) {
    for (const w of [L.W_TUN_ID, L.W_TUN_ID + 1, L.W_TUN_SRC, L.W_TUN_DST]) wc[w] = 0xffffffff;
    wc[L.W_TUN_FLAGS] = TUN_FLAGS_WC;
  }
}

/** Drops mask bits the datapath key cannot use (xlate_wc_finish). */
function finishWildcards(ctx: Ctx, orig: Uint32Array): void {
  const wc = ctx.wc;
  for (let w = L.DP_WORDS; w < W; w++) wc[w] = 0;
  const dlType = orig[L.W_DL_TYPE] & 0xffff;
  const proto = orig[L.W_NW] & 0xff;
  if ((dlType === L.ETH_TYPE_IP && proto === L.IPPROTO_ICMP) || (dlType === L.ETH_TYPE_IPV6 && proto === L.IPPROTO_ICMPV6)) {
    wc[L.W_TP] &= 0x00ff00ff;
  }
  for (let i = 0; i < 2; i++) if (wc[L.W_VLAN0 + i] & 0xffff) wc[L.W_VLAN0 + i] |= L.VLAN_CFI;
  if ((orig[L.W_NW] >>> L.NW_FRAG_SHIFT) & L.FRAG_LATER) wc[L.W_TP] = 0;
  if (dlType !== L.ETH_TYPE_MPLS && dlType !== L.ETH_TYPE_MPLS_MCAST) for (let i = 0; i < 3; i++) wc[L.W_MPLS0 + i] = 0;
  // No tunnel wildcard bits for a packet that came in on no tunnel: a
  // set_tunnel or a tun_id match consulted only what translation wrote.
  if (!tunnelDstSet(orig)) for (let w = L.W_TUN_ID; w < L.W_DL_DST; w++) wc[w] = 0;
  // No wildcard bits for VLAN headers the original packet does not have.
  // What the datapath adds to match their presence is datapathWildcards'.
  for (let i = 0; i < 2; i++) if (!(orig[L.W_VLAN0 + i] & L.VLAN_CFI)) wc[L.W_VLAN0 + i] = 0;
  wc[L.W_TP] >>>= 0;
}

/** flow_tnl_dst_is_set: the packet arrived through a tunnel (IPv4 or IPv6 outer destination). */
function tunnelDstSet(k: Uint32Array): boolean {
  if (k[L.W_TUN_DST] !== 0) return true;
  for (let w = L.W_TUN_IPV6_DST; w < L.W_TUN_IPV6_DST + 4; w++) if (k[w] !== 0) return true;
  return false;
}

/**
 * The datapath's share of a megaflow's mask, added to translation's `wc`
 * when the megaflow is installed (dpif-netdev handle_packet_upcall; not in
 * trace's Megaflow line, which is translation's). The datapath key cannot
 * wildcard whether a packet has a VLAN header, so an outer TCI translation
 * left wildcarded is matched on VID and CFI. The key also always matches each
 * header's EtherType (eth_type(0x8100), encap(...)), so a tagged and an
 * untagged packet never share a megaflow, nor 802.1Q and 802.1ad ones;
 * flowplane's key has no outer EtherType, so the TPID of every header the
 * packet has and the presence bit (CFI) of the next one stand for it.
 */
export function datapathWildcards(wc: Uint32Array, key: Uint32Array, keyBase: number): void {
  if ((wc[L.W_VLAN0] & 0xffff) === 0) wc[L.W_VLAN0] |= L.VLAN_VID_MASK | L.VLAN_CFI;
  for (let i = 0; i < 2; i++) {
    const present = (key[keyBase + L.W_VLAN0 + i] & L.VLAN_CFI) !== 0;
    const outerPresent = i === 0 || (key[keyBase + L.W_VLAN0] & L.VLAN_CFI) !== 0;
    if (present) wc[L.W_VLAN0 + i] |= 0xffff0000 | L.VLAN_CFI;
    else if (outerPresent) wc[L.W_VLAN0 + i] |= L.VLAN_CFI;
  }
}

const isIp = (f: Uint32Array): boolean => {
  const t = f[L.W_DL_TYPE] & 0xffff;
  return t === L.ETH_TYPE_IP || t === L.ETH_TYPE_IPV6;
};

// ---------------------------------------------------------------- tables

/** xlate_resubmit_resource_check: depth and resubmit limits; false (and an error) when exceeded. */
function resourceCheck(ctx: Ctx): boolean {
  if (ctx.depth >= RESUBMIT_DEPTH_MAX) {
    ctx.error = `over max translation depth ${RESUBMIT_DEPTH_MAX}`;
    ctx.report("error", ctx.error);
    return false;
  }
  if (ctx.resubmits >= RESUBMITS_MAX) {
    ctx.error = `over ${RESUBMITS_MAX} resubmit actions`;
    ctx.report("error", ctx.error);
    return false;
  }
  return true;
}

/**
 * Looks the flow up in `tableId` (with in_port temporarily `inPort`) and runs
 * the rule's actions (xlate_table_action + xlate_recursively). Every rule
 * reached this way counts as a resubmit; only a lookup in the same or an
 * earlier table deepens the recursion. The first lookup (isFirst) is the
 * packet's own and counts as neither.
 */
/** Looks up and runs one table (xlate_table_action); returns the table's trace node (null when not tracing or nothing was looked up). */
function lookupAndRun(ctx: Ctx, inPort: number, tableId: number, isFirst: boolean, withCt = false, cloned = false): TraceNode | null {
  if (!isFirst && !resourceCheck(ctx)) return null;
  const flow = ctx.flow;
  // resubmit(,N,ct): the lookup sees the connection's original-direction tuple.
  if (withCt) {
    if (((flow[L.W_CT] >>> 8) & 0xff) === 0 || !isIp(flow)) {
      // xlate_report_error: reported, not a translation failure.
      ctx.report("error", "resubmit(ct) with non-tracked or non-IP packet!");
      return null;
    }
    tupleSwap(flow, ctx.wc);
  }
  const oldTableId = ctx.tableId;
  ctx.tableId = tableId;
  const oldInPort = flow[L.W_IN_PORT];
  const oldTp = flow[L.W_TP];
  flow[L.W_IN_PORT] = inPort;
  // Fragments are looked up with L4 ports zero (frag_handling "normal").
  if ((flow[L.W_NW] >>> L.NW_FRAG_SHIFT) & L.FRAG_ANY && isIp(flow)) flow[L.W_TP] = 0;
  const table = ctx.bridge.tables[tableId];
  const rule = table ? table.lookup(flow, 0, ctx.wc, 0) : null;
  flow[L.W_IN_PORT] = oldInPort;
  flow[L.W_TP] = oldTp;
  if (withCt) tupleSwap(flow, ctx.wc);

  // Only a trace pays for the rule's text.
  const node = ctx.trace ? ctx.report("table", tableText(ctx, tableId, rule)) : null;
  const savedTrace = ctx.trace;
  if (node) ctx.trace = node.subs;
  // On a miss OVS runs its internal table-miss rule, which has no actions, and
  // do_xlate_actions reports an empty list as "drop" (as for a rule's own).
  if (node && (rule === null || rule.actions.length === 0)) ctx.report("action", "drop");
  if (rule) {
    ctx.rules.push({ bridge: ctx.bridge, table: tableId, rule });
    if (ctx.input.sideEffects) table.credit(rule, 1, ctx.input.packetSize, ctx.input.nowMs);
    const deepens = !isFirst && tableId <= oldTableId ? 1 : 0;
    if (!isFirst) ctx.resubmits++;
    ctx.depth += deepens;
    // A patch port's rule runs as clone_xlate_actions, the others as do_xlate_actions.
    if (cloned) cloneActions(ctx, rule.actions);
    else runActions(ctx, rule.actions);
    ctx.depth -= deepens;
  }
  ctx.trace = savedTrace;
  ctx.tableId = oldTableId;
  return node;
}

function tableText(ctx: Ctx, tableId: number, rule: OfRule | null): string {
  const head = `${String(tableId).padStart(2, " ")}. `;
  if (!rule) return `${head}No match.`;
  const m = formatMatch(rule.match.value, 0, rule.match.mask, 0, { portName: portNamer(ctx) });
  let s = head + (m ? `${m}, ` : "") + `priority ${rule.priority}`;
  if (rule.cookie) s += `, cookie 0x${rule.cookie.toString(16)}`;
  return s;
}

/** Port names for the trace's table and action lines: only with --names, as ofproto/trace. */
function portNamer(ctx: Ctx): (p: number) => string | undefined {
  const bridge = ctx.bridge;
  return ctx.input.traceNames === true ? (p) => bridge.port(p)?.name : () => undefined;
}

// ---------------------------------------------------------------- actions

function runActions(ctx: Ctx, actions: readonly Action[]): void {
  const outerLast = ctx.isLast;
  for (let i = 0; i < actions.length; i++) {
    const a = actions[i];
    if (ctx.error || ctx.exit) break;
    // do_xlate_actions: the last action of a last list, with no action set left to run.
    ctx.isLast = outerLast && i === actions.length - 1 && ctx.actionSet.length === 0;
    if (ctx.trace) ctx.report("action", actionTraceText(ctx, a));
    if (runAction(ctx, a)) break;
  }
  ctx.isLast = outerLast;
}

/**
 * clone_xlate_actions, for the actions of clone() and of the rule a patch
 * port leads to: they run, then the action set, and the caller restores
 * the flow. When they are not reversible (a meter, ct, nat or trunc) and
 * more actions follow, the datapath actions they make go into a datapath
 * clone, so a meter drop, a NAT or a cut stays in that branch (OVS:
 * reversible_actions(), unless is_last_action); header changes so far are
 * committed before it, and the packet after it is the one before it.
 */
function cloneActions(ctx: Ctx, actions: readonly Action[]): void {
  if (ctx.isLast || reversible(actions)) {
    runActions(ctx, actions);
    executeActionSet(ctx);
    return;
  }
  commitActions(ctx.flow, ctx.base, ctx.wc, ctx.odp);
  const outer = ctx.odp;
  const base = ctx.base.slice();
  const conntracked = ctx.conntracked;
  ctx.odp = [];
  ctx.isLast = true;
  runActions(ctx, actions);
  executeActionSet(ctx);
  const inner = ctx.odp;
  ctx.odp = outer;
  ctx.isLast = false;
  ctx.base.set(base);
  ctx.conntracked = conntracked;
  if (inner.length > 0) outer.push({ t: "clone", actions: inner });
}

/**
 * reversible_actions: whether a list (its own actions, not nested or
 * resubmitted ones) leaves the packet so the actions after it can go on
 * with it in the datapath. A meter may drop it, ct and nat change its
 * connection state or headers, and trunc cuts it.
 */
function reversible(actions: readonly Action[]): boolean {
  for (const a of actions) {
    if (a.type === "meter" || a.type === "ct" || a.type === "nat" || a.type === "output_trunc") return false;
  }
  return true;
}

/** Runs one action; returns true when the rest of the list must be skipped. */
function runAction(ctx: Ctx, a: Action): boolean {
  const flow = ctx.flow;
  const wc = ctx.wc;
  switch (a.type) {
    case "output":
      output(ctx, a.port);
      break;
    case "output_trunc":
      outputTrunc(ctx, a.port, a.maxLen);
      break;
    case "enqueue":
      output(ctx, a.port);
      break;
    case "output_reg": {
      const port = readSub(flow, a.src);
      maskSub(wc, a.src);
      if (port <= 0xffffn) {
        ctx.report("detail", `output port is ${port}`);
        output(ctx, Number(port));
      } else {
        ctx.report("warn", `output port ${port} is out of range`);
      }
      break;
    }
    case "controller":
      // No controller connection exists; OVS would emit a userspace action.
      ctx.report("detail", "controller action: no controller connected, packet not sent");
      break;
    case "group":
      return group(ctx, a.groupId);
    case "set_vlan_vid":
      wc[L.W_VLAN0] |= L.VLAN_VID_MASK | L.VLAN_CFI;
      if (flow[L.W_VLAN0] & L.VLAN_CFI || a.pushIfNeeded) {
        const tpid = flow[L.W_VLAN0] >>> 16 || L.ETH_TYPE_VLAN_8021Q;
        const tci = (flow[L.W_VLAN0] & ~L.VLAN_VID_MASK & 0xffff) | a.vid | L.VLAN_CFI;
        flow[L.W_VLAN0] = ((tpid << 16) | tci) >>> 0;
      }
      break;
    case "set_vlan_pcp":
      wc[L.W_VLAN0] |= L.VLAN_PCP_MASK | L.VLAN_CFI;
      if (flow[L.W_VLAN0] & L.VLAN_CFI || a.pushIfNeeded) {
        const tpid = flow[L.W_VLAN0] >>> 16 || L.ETH_TYPE_VLAN_8021Q;
        const tci = (flow[L.W_VLAN0] & ~L.VLAN_PCP_MASK & 0xffff) | (a.pcp << 13) | L.VLAN_CFI;
        flow[L.W_VLAN0] = ((tpid << 16) | tci) >>> 0;
      }
      break;
    case "strip_vlan":
      // flow_pop_vlan: the inner tag moves out; its bits become consulted.
      wc[L.W_VLAN0] = (wc[L.W_VLAN0] | wc[L.W_VLAN1] | L.VLAN_CFI) >>> 0;
      flow[L.W_VLAN0] = flow[L.W_VLAN1];
      flow[L.W_VLAN1] = 0;
      wc[L.W_VLAN1] = 0;
      break;
    case "push_vlan":
      // flow_push_vlan_uninit: the outer tag moves in.
      wc[L.W_VLAN1] = wc[L.W_VLAN0];
      flow[L.W_VLAN1] = flow[L.W_VLAN0];
      flow[L.W_VLAN0] = ((a.ethertype << 16) | L.VLAN_CFI) >>> 0;
      wc[L.W_VLAN0] = 0xffffffff;
      break;
    case "set_eth_src":
      setMac(flow, L.W_DL_SRC, a.mac);
      wc[L.W_DL_SRC] = 0xffff;
      wc[L.W_DL_SRC + 1] = 0xffffffff;
      break;
    case "set_eth_dst":
      setMac(flow, L.W_DL_DST, a.mac);
      wc[L.W_DL_DST] = 0xffff;
      wc[L.W_DL_DST + 1] = 0xffffffff;
      break;
    case "set_ipv4_src":
      if ((flow[L.W_DL_TYPE] & 0xffff) === L.ETH_TYPE_IP) {
        wc[L.W_NW_SRC] = 0xffffffff;
        maskNwProto(wc);
        flow[L.W_NW_SRC] = a.ipv4 >>> 0;
      }
      break;
    case "set_ipv4_dst":
      if ((flow[L.W_DL_TYPE] & 0xffff) === L.ETH_TYPE_IP) {
        wc[L.W_NW_DST] = 0xffffffff;
        maskNwProto(wc);
        flow[L.W_NW_DST] = a.ipv4 >>> 0;
      }
      break;
    case "set_ip_dscp":
      if (isIp(flow)) setNwBits(ctx, L.NW_TOS_SHIFT, 0xfc, a.dscp);
      break;
    case "set_ip_ecn":
      if (isIp(flow)) {
        setNwBits(ctx, L.NW_TOS_SHIFT, 0x03, a.ecn);
        maskNwProto(wc);
      }
      break;
    case "set_ip_ttl":
      if (isIp(flow)) {
        setNwBits(ctx, L.NW_TTL_SHIFT, 0xff, a.ttl);
        maskNwProto(wc);
      }
      break;
    case "set_l4_src_port":
    case "set_l4_dst_port":
      if (isIp(flow) && !((flow[L.W_NW] >>> L.NW_FRAG_SHIFT) & L.FRAG_LATER)) {
        wc[L.W_NW] |= 0xff;
        const shift = a.type === "set_l4_src_port" ? 16 : 0;
        wc[L.W_TP] = (wc[L.W_TP] | (0xffff << shift)) >>> 0;
        flow[L.W_TP] = ((flow[L.W_TP] & ~(0xffff << shift)) | (a.port << shift)) >>> 0;
      }
      break;
    case "resubmit": {
      const inPort = a.inPort === OFPP_IN_PORT ? flow[L.W_IN_PORT] : a.inPort;
      const table = a.tableId === TABLE_NONE ? ctx.tableId : a.tableId;
      lookupAndRun(ctx, inPort, table, false, a.withCt);
      break;
    }
    case "goto_table":
      lookupAndRun(ctx, flow[L.W_IN_PORT], a.tableId, false);
      break;
    case "set_tunnel":
      writeFieldBig(flow, 0, FIELD("tun_id"), a.tunId);
      break;
    case "set_queue":
      wc[L.W_SKB_PRIORITY] = 0xffffffff;
      flow[L.W_SKB_PRIORITY] = a.queueId;
      break;
    case "pop_queue":
      wc[L.W_SKB_PRIORITY] = 0xffffffff;
      flow[L.W_SKB_PRIORITY] = ctx.input.key[ctx.input.keyBase + L.W_SKB_PRIORITY];
      break;
    case "reg_move": {
      const v = readSub(flow, a.src);
      maskSub(wc, a.src);
      maskSub(wc, a.dst);
      writeSub(flow, a.dst, v);
      break;
    }
    case "set_field":
      if (prereqsOk(ctx, a.field)) {
        maskField(wc, a.field, a.mask);
        if (a.field.prereq !== "none" && a.field.prereq !== "vlan" && a.field.prereq !== "mpls" && a.field.name !== "ip_dscp") maskNwProto(wc);
        const cur = readFieldBig(flow, 0, a.field);
        writeFieldBig(flow, 0, a.field, (cur & ~a.mask) | (a.value & a.mask));
      } else {
        ctx.report("warn", `unmet prerequisites for ${a.field.name}, set_field ignored`);
      }
      break;
    case "stack_push":
      ctx.stack.push(readSub(flow, a.subfield));
      maskSub(wc, a.subfield);
      break;
    case "stack_pop": {
      const v = ctx.stack.pop();
      if (v === undefined) ctx.report("warn", "stack underflow");
      else {
        maskSub(wc, a.subfield);
        writeSub(flow, a.subfield, v);
      }
      break;
    }
    case "dec_ttl":
      wc[L.W_NW] |= 0xff << L.NW_TTL_SHIFT;
      if (isIp(flow)) maskNwProto(wc);
      return decTtl(ctx);
    case "note":
    case "conjunction":
    case "fin_timeout":
    case "sample":
      break;
    case "meter": {
      // xlate_meter_action: the datapath's id for the meter, when the bridge has it.
      const dpId = dpMeterIdOf(ctx.bridge, a.meterId);
      if (dpId >= 0) ctx.odp.push({ t: "meter", id: dpId });
      break;
    }
    case "exit":
      ctx.exit = true;
      break;
    case "learn":
      learn(ctx, a);
      break;
    case "clone": {
      // clone_xlate_actions: the clone works on copies of the flow, stack and
      // action set, and executes its copy of the action set at its end; an
      // exit inside it still ends the actions after it.
      const oldFlow = flow.slice();
      const oldStack = ctx.stack;
      const oldSet = ctx.actionSet;
      const oldConntracked = ctx.conntracked;
      ctx.stack = oldStack.slice();
      ctx.actionSet = oldSet.slice();
      // do_xlate_actions reports an empty list as "drop".
      if (a.actions.length === 0) ctx.report("action", "drop");
      cloneActions(ctx, a.actions);
      flow.set(oldFlow);
      ctx.stack = oldStack;
      ctx.actionSet = oldSet;
      ctx.conntracked = oldConntracked;
      break;
    }
    case "write_actions":
      writeActions(ctx, a.actions);
      break;
    case "clear_actions":
      ctx.actionSet = [];
      break;
    case "write_metadata": {
      const md = readFieldBig(flow, 0, FIELD("metadata"));
      writeFieldBig(flow, 0, FIELD("metadata"), (md & ~a.mask) | (a.metadata & a.mask));
      break;
    }
    case "ct":
      // compose_conntrack_action runs the nested actions through do_xlate_actions, which reports an empty list as "drop".
      composeCt(ctx, a, (nested) => (nested.length === 0 ? void ctx.report("action", "drop") : runActions(ctx, nested)));
      break;
    case "ct_clear":
      composeCtClear(ctx);
      break;
    case "nat":
      // Only inside ct(...): names the NAT the ct action requests (ctx->ct_nat_action).
      ctx.ctNat = a;
      break;
    default:
      ctx.report("warn", `action ${a.type} is not supported; ignored`);
  }
  return false;
}

const fieldCache = new Map<string, FieldDef>();
function FIELD(name: string): FieldDef {
  let f = fieldCache.get(name);
  if (!f) {
    f = findField(name);
    if (!f) throw new Error(`field ${name} missing from the field table`);
    fieldCache.set(name, f);
  }
  return f;
}

function setMac(flow: Uint32Array, w: number, mac: bigint): void {
  flow[w] = Number((mac >> 32n) & 0xffffn);
  flow[w + 1] = Number(mac & 0xffffffffn);
}

/**
 * OVS 3.1 (the release the differential runs) matches nw_proto (the ARP
 * opcode for ARP) in every megaflow whose translation writes an L3 or L4
 * field: set_field and load to such fields, mod_nw_src/dst/ecn/ttl and
 * dec_ttl; not reg_move, and not a write to ip_dscp (mod_nw_tos). Observed
 * with ofproto/trace's Megaflow line; the datapath needs the protocol to
 * rewrite a packet's checksums.
 */
function maskNwProto(wc: Uint32Array): void {
  wc[L.W_NW] |= 0xff;
}

function setNwBits(ctx: Ctx, shift: number, mask: number, value: number): void {
  ctx.wc[L.W_NW] = (ctx.wc[L.W_NW] | (mask << shift)) >>> 0;
  ctx.flow[L.W_NW] = ((ctx.flow[L.W_NW] & ~(mask << shift)) | ((value & mask) << shift)) >>> 0;
}

// Sub-fields: bits ofs..ofs+nBits of a field.
function subMask(s: SubField): bigint {
  return ((1n << BigInt(s.nBits)) - 1n) << BigInt(s.ofs);
}
function readSub(flow: Uint32Array, s: SubField): bigint {
  return (readFieldBig(flow, 0, s.field) >> BigInt(s.ofs)) & ((1n << BigInt(s.nBits)) - 1n);
}
function writeSub(flow: Uint32Array, s: SubField, v: bigint): void {
  const m = subMask(s);
  const cur = readFieldBig(flow, 0, s.field);
  writeFieldBig(flow, 0, s.field, (cur & ~m) | ((v << BigInt(s.ofs)) & m));
}
function maskSub(wc: Uint32Array, s: SubField): void {
  maskField(wc, s.field, subMask(s));
}
/** ORs `mask` (in the field's own bits) into the wildcard words of `f`. */
export function maskField(wc: Uint32Array, f: FieldDef, mask: bigint = fieldMax(f.bits)): void {
  if (f.bits <= 32) {
    wc[f.word] = (wc[f.word] | (Number(mask & fieldMax(f.bits)) << f.shift)) >>> 0;
    return;
  }
  const n = fieldWords(f);
  for (let i = n - 1; i >= 0; i--) {
    wc[f.word + i] = (wc[f.word + i] | Number(mask & 0xffffffffn)) >>> 0;
    mask >>= 32n;
  }
}

/** mf_are_prereqs_ok with wildcarding: the prerequisite fields become consulted. */
function prereqsOk(ctx: Ctx, f: FieldDef): boolean {
  const flow = ctx.flow;
  const wc = ctx.wc;
  const dlType = flow[L.W_DL_TYPE] & 0xffff;
  const proto = (): number => {
    wc[L.W_NW] |= 0xff;
    return flow[L.W_NW] & 0xff;
  };
  switch (f.prereq) {
    case "none":
      return true;
    case "arp":
      return dlType === L.ETH_TYPE_ARP || dlType === L.ETH_TYPE_RARP;
    case "ip":
      return dlType === L.ETH_TYPE_IP || dlType === L.ETH_TYPE_IPV6;
    case "ipv4":
      return dlType === L.ETH_TYPE_IP;
    case "ipv6":
      return dlType === L.ETH_TYPE_IPV6;
    case "vlan":
      wc[L.W_VLAN0] |= L.VLAN_CFI;
      return (flow[L.W_VLAN0] & L.VLAN_CFI) !== 0;
    case "mpls":
      return dlType === L.ETH_TYPE_MPLS || dlType === L.ETH_TYPE_MPLS_MCAST;
    case "tcp":
      return isIp(flow) && proto() === L.IPPROTO_TCP;
    case "udp":
      return isIp(flow) && proto() === L.IPPROTO_UDP;
    case "sctp":
      return isIp(flow) && proto() === L.IPPROTO_SCTP;
    case "l4": {
      if (!isIp(flow)) return false;
      const p = proto();
      return p === L.IPPROTO_TCP || p === L.IPPROTO_UDP || p === L.IPPROTO_SCTP;
    }
    case "icmpv4":
      return dlType === L.ETH_TYPE_IP && proto() === L.IPPROTO_ICMP;
    case "icmpv6":
      return dlType === L.ETH_TYPE_IPV6 && proto() === L.IPPROTO_ICMPV6;
    case "nd":
    case "nd_solicit":
    case "nd_advert": {
      if (!(dlType === L.ETH_TYPE_IPV6 && proto() === L.IPPROTO_ICMPV6)) return false;
      wc[L.W_TP] = (wc[L.W_TP] | 0x00ff00ff) >>> 0;
      const type = flow[L.W_TP] >>> 16;
      const code = flow[L.W_TP] & 0xffff;
      if (code !== 0) return false;
      if (f.prereq === "nd_solicit") return type === 135;
      if (f.prereq === "nd_advert") return type === 136;
      return type === 135 || type === 136;
    }
    case "ct":
      return (flow[L.W_CT] & 0x20) !== 0;
  }
}

/** dec_ttl: decrements the IP TTL / hop limit; at 1 or 0 the packet stops here. */
function decTtl(ctx: Ctx): boolean {
  const flow = ctx.flow;
  if (!isIp(flow)) return false;
  const ttl = (flow[L.W_NW] >>> L.NW_TTL_SHIFT) & 0xff;
  if (ttl > 1) {
    flow[L.W_NW] = ((flow[L.W_NW] & ~(0xff << L.NW_TTL_SHIFT)) | ((ttl - 1) << L.NW_TTL_SHIFT)) >>> 0;
    return false;
  }
  // OVS sends an invalid_ttl packet-in to the listed controllers; there is none.
  ctx.report("detail", "TTL exceeded; packet dropped (no controller for invalid_ttl)");
  return true;
}

// ---------------------------------------------------------------- output

/** xlate_output_action: reserved ports and plain ones. */
function output(ctx: Ctx, port: number): void {
  const flow = ctx.flow;
  switch (port) {
    case OFPP_IN_PORT:
      composeOutput(ctx, flow[L.W_IN_PORT]);
      break;
    case OFPP_TABLE:
      lookupAndRun(ctx, flow[L.W_IN_PORT], 0, false);
      break;
    case OFPP_NORMAL:
      normal(ctx);
      break;
    case OFPP_FLOOD:
    case OFPP_ALL: {
      // flood_packets: only the last port's output may be the last action.
      const outerLast = ctx.isLast;
      const ports = ctx.bridge.portsInOrder().filter((p) => p.ofport !== flow[L.W_IN_PORT]);
      for (let i = 0; i < ports.length; i++) {
        ctx.isLast = outerLast && i === ports.length - 1;
        composeOutput(ctx, ports[i].ofport);
      }
      ctx.isLast = outerLast;
      break;
    }
    case OFPP_CONTROLLER:
      ctx.report("detail", "controller: no controller connected, packet not sent");
      break;
    case OFPP_NONE:
      break;
    default:
      if (port !== flow[L.W_IN_PORT]) composeOutput(ctx, port);
      else ctx.report("warn", "skipping output to input port");
  }
}

/**
 * xlate_output_trunc_action: `trunc(max_len)` before the output, which the
 * datapath sends cut to max_len bytes. Reserved ports that flood or look up
 * are refused with a warning, a patch port (or a port the bridge lacks)
 * with an error, as OVS reports them; neither fails the translation.
 * Limits: to a tunnel port, OVS emits the tunnel push without translating
 * the outer packet's route; flowplane translates it as for a plain output.
 */
function outputTrunc(ctx: Ctx, port: number, maxLen: number): void {
  switch (port) {
    case OFPP_TABLE:
    case OFPP_NORMAL:
    case OFPP_FLOOD:
    case OFPP_ALL:
    case OFPP_CONTROLLER:
    case OFPP_NONE:
      ctx.report("warn", `output_trunc does not support port: ${formatPortName(port)}`);
      return;
  }
  if (port === ctx.flow[L.W_IN_PORT]) {
    ctx.report("warn", "skipping output to input port");
    return;
  }
  const target = ctx.bridge.port(port);
  if (target === undefined || target.peer) {
    ctx.report("error", `output_trunc does not support patch port ${formatPortName(port)}`);
    return;
  }
  ctx.odp.push({ t: "trunc", maxLen });
  output(ctx, port);
}

/** compose_output_action__: commit header changes, then output (or cross a patch port). */
function composeOutput(ctx: Ctx, ofport: number): void {
  const port = ctx.bridge.port(ofport);
  if (!port) {
    ctx.report("warn", "Nonexistent output port");
    return;
  }
  if (port.peer) {
    patchOutput(ctx, port, port.peer);
    return;
  }
  if (port.tunnel) {
    tunnelOutput(ctx, port);
    return;
  }
  commitActions(ctx.flow, ctx.base, ctx.wc, ctx.odp);
  const vport = terminateTunnel(ctx.input.sw, port, ctx.flow, ctx.wc);
  if (vport >= 0) {
    ctx.odp.push({ t: "tnl_pop", port: vport, udp: ctx.input.sw.tunnelPorts.get(vport)![0].tunnel!.kind === "vxlan" });
    return;
  }
  ctx.odp.push({ t: "output", port: port.dpPort });
}

let tunnelNesting = 0;

/**
 * native_tunnel_output: the outer header from ./tunnel.ts, then the outer
 * packet translated in the underlay bridge as from its LOCAL port, with no
 * side effects and a mask of its own (the megaflow matches the inner packet).
 */
function tunnelOutput(ctx: Ctx, port: Port): void {
  const plan = planTunnelOutput(ctx.input.sw, port, ctx.flow, ctx.wc, (k, t) => ctx.report(k, t));
  if (!plan || tunnelNesting >= TUNNEL_NESTING_MAX) return;
  commitActions(ctx.flow, ctx.base, ctx.wc, ctx.odp);
  tunnelNesting++;
  let outer: XlateOutput;
  try {
    outer = xlate({ ...ctx.input, key: plan.outerKey, keyBase: 0, sideEffects: false, trace: ctx.trace !== null, onLearn: undefined });
  } finally {
    tunnelNesting--;
  }
  for (const r of outer.rules) {
    ctx.rules.push(r);
    if (ctx.input.sideEffects) r.bridge.tables[r.table].credit(r.rule, 1, ctx.input.packetSize, ctx.input.nowMs);
  }
  if (outer.usesMacs) ctx.usesMacs = true;
  if (ctx.trace) ctx.trace.push(...outer.trace);
  // Nothing to send the outer packet to: OVS cancels the push altogether.
  if (outer.actions.length === 0) return;
  ctx.odp.push({ t: "tnl_push", tnlPort: plan.vport, header: plan.header, outPort: plan.bridge.local.dpPort, clone: true, actions: outer.actions, outerKey: plan.outerKey });
}

interface SavedState {
  flow: Uint32Array;
  bridge: Bridge;
  actionSet: Action[];
  stack: bigint[];
  tableId: number;
  exit: boolean;
  conntracked: boolean;
}

function saveState(ctx: Ctx): SavedState {
  return { flow: ctx.flow.slice(), bridge: ctx.bridge, actionSet: ctx.actionSet, stack: ctx.stack, tableId: ctx.tableId, exit: ctx.exit, conntracked: ctx.conntracked };
}
function restoreState(ctx: Ctx, s: SavedState): void {
  ctx.flow.set(s.flow);
  ctx.bridge = s.bridge;
  ctx.actionSet = s.actionSet;
  ctx.stack = s.stack;
  ctx.tableId = s.tableId;
  ctx.exit = s.exit;
  // The peer bridge's conntrack execution has no effect on this bridge (patch_port_output).
  ctx.conntracked = s.conntracked;
}

/** patch_port_output: translation continues in the peer bridge from table 0. */
function patchOutput(ctx: Ctx, from: Port, to: Port): void {
  const saved = saveState(ctx);
  const savedTunWc = ctx.wc.slice(L.W_TUN_ID, L.W_TUN_TP + 1);
  const flow = ctx.flow;
  flow[L.W_IN_PORT] = to.ofport;
  flow[L.W_METADATA] = 0;
  flow[L.W_METADATA + 1] = 0;
  for (let w = L.W_TUN_ID; w <= L.W_TUN_TP; w++) {
    flow[w] = 0;
    ctx.wc[w] = 0;
  }
  for (let i = 0; i < L.REGS_COUNT; i++) flow[L.W_REGS + i] = 0;
  flow[L.W_ACTSET_OUTPUT] = 0;
  ctx.actionSet = [];
  ctx.stack = [];
  ctx.exit = false;
  clearConntrack(ctx);
  ctx.bridge = to.bridge;
  const node = ctx.report("bridge", `bridge("${to.bridge.name}")`);
  const savedTrace = ctx.trace;
  if (node) ctx.trace = node.subs;
  lookupAndRun(ctx, to.ofport, 0, false, false, true);
  executeActionSet(ctx);
  ctx.trace = savedTrace;
  restoreState(ctx, saved);
  ctx.wc.set(savedTunWc, L.W_TUN_ID);
  // Errors in the peer bridge do not propagate back (patch_port_output).
  ctx.error = null;
  void from;
}

// ---------------------------------------------------------------- NORMAL

/** One VLAN header as NORMAL sees it (OVS's struct xvlan_single); pcp keeps its TCI bit position. */
interface XVlan {
  tpid: number;
  vid: number;
  pcp: number;
}

/** The packet's VLAN headers, outermost first (OVS's struct xvlan); absent ones are all zero. */
type Vlans = [XVlan, XVlan];

const NO_VLAN: XVlan = { tpid: 0, vid: 0, pcp: 0 };

const isBroadcast = (hi: number, lo: number): boolean => hi === 0xffff && lo >>> 0 === 0xffffffff;

/**
 * eth_addr_is_reserved(): 802.1D/802.1Q link-local (01:80:c2:00:00:00-0f),
 * Extreme (EDP, EAPS) and Cisco (ISL, CDP/VTP/DTP/PAgP, PVST+, STP uplink
 * fast, CFM) protocol MACs, which NORMAL never forwards.
 */
function isReservedMac(hi: number, lo: number): boolean {
  lo >>>= 0;
  if (hi === 0x0180) return lo >>> 4 === 0xc200000;
  if (hi === 0x00e0) return lo === 0x2b000000 || lo === 0x2b000004 || lo === 0x2b000006;
  if (hi === 0x0100) {
    if (lo === 0x0c000000 || lo === 0x0ccccccc || lo === 0x0ccccccd || lo === 0x0ccdcdcd) return true;
    return lo >>> 4 === 0x0cccccc && (lo & 0xf) <= 7;
  }
  return false;
}

/**
 * xbundle_trunks_vlan with the trunk set bundle_set() gives a port: a
 * native-tagged or native-untagged port always trunks its native VLAN and
 * never VLAN 0 (when the native VLAN is not 0); an access port trunks none.
 */
function trunksVlan(port: Port, vid: number): boolean {
  switch (port.vlanMode) {
    case "access":
      return false;
    case "trunk":
      return port.trunksVlan(vid);
    case "native-tagged":
    case "native-untagged": {
      const native = port.tag > 0 ? port.tag : 0;
      if (native === 0) return port.trunksVlan(vid);
      if (vid === native) return true;
      return vid !== 0 && port.trunksVlan(vid);
    }
  }
}

/** xlate_normal: an L2 learning switch with VLANs (OVS Port tag/trunks/vlan_mode). */
function normal(ctx: Ctx): void {
  const flow = ctx.flow;
  const wc = ctx.wc;
  wc[L.W_DL_SRC] = 0xffff;
  wc[L.W_DL_SRC + 1] = 0xffffffff;
  wc[L.W_DL_DST] = 0xffff;
  wc[L.W_DL_DST + 1] = 0xffffffff;
  wc[L.W_VLAN0] |= L.VLAN_VID_MASK | L.VLAN_CFI;
  const inPort = ctx.bridge.port(flow[L.W_IN_PORT]);
  if (!inPort) {
    ctx.report("warn", "no input bundle, dropping");
    return;
  }
  const dlType = flow[L.W_DL_TYPE] & 0xffff;
  if ((dlType === L.ETH_TYPE_VLAN_8021Q || dlType === L.ETH_TYPE_VLAN_8021AD) && !(flow[L.W_VLAN0] & L.VLAN_CFI)) {
    ctx.report("warn", "partial VLAN tag, dropping");
    return;
  }
  const inVlans = extractVlans(flow);
  if (!inputVidIsValid(ctx, inVlans[0].vid, inPort)) {
    ctx.report("warn", "disallowed VLAN VID for this input port, dropping");
    return;
  }
  const vlans = inputTranslate(inPort, inVlans);
  const vlan = vlans[0].vid;
  const dstHi = flow[L.W_DL_DST];
  const dstLo = flow[L.W_DL_DST + 1];
  if (isReservedMac(dstHi, dstLo)) {
    ctx.report("detail", "packet has reserved destination MAC, dropping");
    return;
  }
  ctx.usesMacs = true;
  const src = (BigInt(flow[L.W_DL_SRC]) << 32n) | BigInt(flow[L.W_DL_SRC + 1]);
  // is_gratuitous_arp() is consulted (its fields join the megaflow), but the
  // gratuitous-ARP lock only stops learning on bond ports, and flowplane has
  // no bonds: every port learns every source (update_learning_table__).
  isGratuitousArp(ctx);
  ctx.macRefs.push({ bridge: ctx.bridge, mac: src, vlan, port: inPort.ofport });
  if (ctx.input.sideEffects) {
    if (ctx.bridge.macs.learn(src, vlan, inPort.ofport, ctx.input.nowMs, false) && ctx.trace) {
      ctx.report("detail", `learned that ${formatMac(flow[L.W_DL_SRC], flow[L.W_DL_SRC + 1])} is on port ${inPort.name} in VLAN ${vlan}`);
    }
  } else if (ctx.trace) {
    // A trace does not learn, but says what a packet would teach.
    const known = ctx.bridge.macs.lookup(src, vlan, ctx.input.nowMs);
    if (known !== inPort.ofport) {
      ctx.report("detail", `learned that ${formatMac(flow[L.W_DL_SRC], flow[L.W_DL_SRC + 1])} is on port ${inPort.name} in VLAN ${vlan}`);
    }
  }
  const dst = (BigInt(dstHi) << 32n) | BigInt(dstLo);
  const learned = ctx.bridge.macs.lookup(dst, vlan, ctx.input.nowMs);
  if (learned >= 0) {
    const outPort = ctx.bridge.port(learned);
    if (!outPort) {
      ctx.report("warn", "learned port is unknown, dropping");
    } else if (outPort !== inPort) {
      ctx.report("detail", "forwarding to learned port");
      outputNormal(ctx, outPort, vlans);
    } else {
      ctx.report("detail", "learned port is input port, dropping");
    }
  } else {
    if (!isBroadcast(dstHi, dstLo) && ((dstHi >>> 8) & 1) === 1 && isIp(flow)) {
      // Multicast without snooping: flood (xlate_normal's unregistered multicast path).
    }
    ctx.report("detail", "no learned MAC for destination, flooding");
    for (const p of ctx.bridge.portsInOrder()) {
      if (p === inPort || !includesVlan(p, vlans)) continue;
      outputNormal(ctx, p, vlans);
    }
  }
}

/** xvlan_extract: the headers present, up to the first absent one. */
function extractVlans(flow: Uint32Array): Vlans {
  const out: Vlans = [NO_VLAN, NO_VLAN];
  for (let i = 0; i < 2; i++) {
    const v = flow[L.W_VLAN0 + i];
    const tpid = v >>> 16;
    if ((tpid !== L.ETH_TYPE_VLAN_8021Q && tpid !== L.ETH_TYPE_VLAN_8021AD) || !(v & L.VLAN_CFI)) break;
    out[i] = { tpid, vid: v & L.VLAN_VID_MASK, pcp: v & L.VLAN_PCP_MASK };
  }
  return out;
}

function inputVidIsValid(ctx: Ctx, vid: number, port: Port): boolean {
  switch (port.vlanMode) {
    case "access":
      if (vid) {
        ctx.report("error", `dropping VLAN ${vid} tagged packet received on port ${port.name} configured as VLAN ${port.tag} access port`);
        return false;
      }
      return true;
    case "native-tagged":
    case "native-untagged":
    case "trunk":
      if (port.vlanMode !== "trunk" && !vid) return true;
      if (!trunksVlan(port, vid)) {
        ctx.report("error", `dropping VLAN ${vid} packet received on port ${port.name} not configured for trunking VLAN ${vid}`);
        return false;
      }
      return true;
  }
}

/** xvlan_input_translate: the VLANs of the packet inside the bridge. */
function inputTranslate(port: Port, v: Vlans): Vlans {
  const native = (): XVlan => ({ tpid: v[0].tpid || L.ETH_TYPE_VLAN_8021Q, vid: port.tag, pcp: v[0].pcp });
  switch (port.vlanMode) {
    case "access":
      return [native(), NO_VLAN];
    case "trunk":
      return [v[0], v[1]];
    case "native-tagged":
    case "native-untagged":
      return v[0].vid ? [v[0], v[1]] : [native(), v[1]];
  }
}

/** xbundle_includes_vlan. */
function includesVlan(port: Port, v: Vlans): boolean {
  if (port.vlanMode === "access") return v[0].vid === port.tag && v[1].vid === 0;
  return trunksVlan(port, v[0].vid);
}

/**
 * output_normal: the VLAN headers the output port wants
 * (xvlan_output_translate: none on an access port, the native VLAN's header
 * popped on a native-untagged one), written into the flow (xvlan_put: a
 * header exists when its VID or PCP is not zero), then a plain output.
 */
function outputNormal(ctx: Ctx, port: Port, v: Vlans): void {
  let out: Vlans;
  switch (port.vlanMode) {
    case "access":
      out = [NO_VLAN, NO_VLAN];
      break;
    case "native-untagged":
      out = v[0].vid === port.tag ? [v[1], NO_VLAN] : [v[0], v[1]];
      break;
    default:
      out = [v[0], v[1]];
  }
  const flow = ctx.flow;
  const old0 = flow[L.W_VLAN0];
  const old1 = flow[L.W_VLAN1];
  for (let i = 0; i < 2; i++) {
    const tci = out[i].vid | out[i].pcp;
    flow[L.W_VLAN0 + i] = tci ? (((out[i].tpid || L.ETH_TYPE_VLAN_8021Q) << 16) | tci | L.VLAN_CFI) >>> 0 : 0;
  }
  // output_normal composes every output as not the last action.
  const outerLast = ctx.isLast;
  ctx.isLast = false;
  composeOutput(ctx, port.ofport);
  ctx.isLast = outerLast;
  flow[L.W_VLAN0] = old0;
  flow[L.W_VLAN1] = old1;
}

function isGratuitousArp(ctx: Ctx): boolean {
  const flow = ctx.flow;
  const wc = ctx.wc;
  if ((flow[L.W_DL_TYPE] & 0xffff) !== L.ETH_TYPE_ARP) return false;
  wc[L.W_DL_DST] = 0xffff;
  wc[L.W_DL_DST + 1] = 0xffffffff;
  if (!isBroadcast(flow[L.W_DL_DST], flow[L.W_DL_DST + 1])) return false;
  wc[L.W_NW] |= 0xff;
  const op = flow[L.W_NW] & 0xff;
  if (op === 2) return true;
  if (op === 1) {
    wc[L.W_NW_SRC] = 0xffffffff;
    wc[L.W_NW_DST] = 0xffffffff;
    return flow[L.W_NW_SRC] === flow[L.W_NW_DST];
  }
  return false;
}

// ---------------------------------------------------------------- action set

/**
 * write_actions: appends to the action set, keeping every action in order
 * (xlate_write_actions__); which of them run is decided when the set is
 * executed (actionSetToList).
 */
function writeActions(ctx: Ctx, actions: readonly Action[]): void {
  for (const a of actions) ctx.actionSet.push(a);
  if (ctx.trace) ctx.report("detail", `action set is: ${ctx.actionSet.map((a) => actionTraceText(ctx, a, true)).join(",")}`);
}

/**
 * The action-set classes of OVS's ofpacts_execute_action_set(): actions that
 * count once (the last written), in this execution order ...
 */
const ACTION_SET_SLOTS = ["strip_vlan", "pop_mpls", "push_mpls", "push_vlan", "dec_ttl", "dec_mpls_ttl"];
/** ... "final" actions, of which only the highest class (the last written among equals) runs ... */
const ACTION_SET_FINALS = ["ct", "ct_clear", "resubmit", "output", "group"];
/** ... and header sets and moves, which all run, in the order written. */
const ACTION_SET_SETS: ReadonlySet<string> = new Set([
  "set_field",
  "reg_move",
  "set_eth_src",
  "set_eth_dst",
  "set_ip_dscp",
  "set_ip_ecn",
  "set_ip_ttl",
  "set_ipv4_src",
  "set_ipv4_dst",
  "set_l4_src_port",
  "set_l4_dst_port",
  "set_mpls_label",
  "set_mpls_tc",
  "set_mpls_ttl",
  "set_queue",
  "set_tunnel",
  "set_vlan_pcp",
  "set_vlan_vid",
]);

/**
 * The action list an action set (or a group bucket, which OVS treats as one)
 * executes, as ofpacts_execute_action_set() builds it: the slot actions in
 * their fixed order, then every set and move as written, then the one final
 * action. Without a final action (output, group, resubmit, ct) nothing runs.
 */
function actionSetToList(set: readonly Action[]): Action[] {
  const slots: (Action | null)[] = ACTION_SET_SLOTS.map(() => null);
  const sets: Action[] = [];
  let final: Action | null = null;
  let finalClass = -1;
  for (const a of set) {
    const slot = ACTION_SET_SLOTS.indexOf(a.type);
    if (slot >= 0) {
      slots[slot] = a;
      continue;
    }
    const cls = ACTION_SET_FINALS.indexOf(a.type);
    if (cls >= 0) {
      if (cls >= finalClass) {
        final = a;
        finalClass = cls;
      }
    } else if (ACTION_SET_SETS.has(a.type)) {
      sets.push(a);
    }
  }
  if (!final) return [];
  const out: Action[] = [];
  for (const a of slots) if (a) out.push(a);
  for (const a of sets) out.push(a);
  out.push(final);
  return out;
}

/** xlate_action_set: runs the accumulated action set and empties it; nothing runs after `exit`. */
function executeActionSet(ctx: Ctx): void {
  if (ctx.actionSet.length === 0) return;
  const list = actionSetToList(ctx.actionSet);
  ctx.actionSet = [];
  if (list.length === 0 || ctx.exit) return;
  const node = ctx.report("table", "--. Executing action set:");
  const saved = ctx.trace;
  if (node) ctx.trace = node.subs;
  // xlate_action_set runs it as the last actions.
  const outerLast = ctx.isLast;
  ctx.isLast = true;
  runActions(ctx, list);
  ctx.isLast = outerLast;
  ctx.trace = saved;
}

// ---------------------------------------------------------------- groups

/** OVS's MAX_LIVENESS_RECURSION: watch_group chains longer than this count as dead. */
const LIVENESS_DEPTH_MAX = 128;

/** group:N — returns true when the group does not exist (the action list stops, as in OVS). */
function group(ctx: Ctx, groupId: number): boolean {
  if (!resourceCheck(ctx)) return false;
  const g = ctx.bridge.groups.get(groupId);
  if (!g) {
    ctx.report("warn", `output to nonexistent group ${groupId}`);
    return true;
  }
  // xlate_group_action__: all and indirect run every bucket; ff and select one live bucket.
  switch (g.type) {
    case "all":
    case "indirect": {
      // xlate_group_action__: only the last bucket may be the last action.
      const outerLast = ctx.isLast;
      for (let i = 0; i < g.buckets.length; i++) {
        ctx.isLast = outerLast && i === g.buckets.length - 1;
        runBucket(ctx, g.buckets[i]);
      }
      ctx.isLast = outerLast;
      break;
    }
    case "ff": {
      const live = firstLiveBucket(ctx, g, 0);
      if (live) {
        ctx.report("detail", `using bucket ${live.bucketId}`);
        runBucket(ctx, live);
      } else ctx.report("detail", "no live bucket");
      break;
    }
    case "select": {
      const live = g.buckets.filter((b) => bucketIsLive(ctx, g, b, 0));
      if (!live.length) {
        ctx.report("detail", "no live bucket");
        break;
      }
      // Deliberate difference: OVS 3.1 hashes in the datapath (hash(sym_l4), recirc)
      // and maps the hash to a bucket; flowplane picks directly from a hash of
      // the destination MAC, weighted like group_best_live_bucket().
      ctx.wc[L.W_DL_DST] = 0xffff;
      ctx.wc[L.W_DL_DST + 1] = 0xffffffff;
      const h = hashMac(ctx.flow[L.W_DL_DST], ctx.flow[L.W_DL_DST + 1]);
      let best = live[0];
      let bestScore = -1;
      for (const b of live) {
        const score = (((Math.imul(h ^ b.bucketId, 0x9e3779b1) >>> 0) & 0xffff) * b.weight) >>> 0;
        if (score > bestScore) {
          best = b;
          bestScore = score;
        }
      }
      ctx.report("detail", `using bucket ${best.bucketId}`);
      runBucket(ctx, best);
      break;
    }
  }
  return false;
}

/**
 * xlate_group_bucket: a bucket's actions are an action set (only its last
 * output runs, after its sets); the flow is rolled back afterwards, as if
 * each bucket had its own copy of the packet, and an exit inside does not
 * end the actions after the group.
 */
function runBucket(ctx: Ctx, b: Bucket): void {
  const node = ctx.report("bucket", `bucket ${b.bucketId}`);
  const savedTrace = ctx.trace;
  if (node) ctx.trace = node.subs;
  const oldFlow = ctx.flow.slice();
  ctx.depth++;
  runActions(ctx, actionSetToList(b.actions));
  ctx.depth--;
  ctx.flow.set(oldFlow);
  ctx.exit = false;
  ctx.trace = savedTrace;
}

/** group_first_live_bucket. */
function firstLiveBucket(ctx: Ctx, g: Group, depth: number): Bucket | null {
  for (const b of g.buckets) if (bucketIsLive(ctx, g, b, depth)) return b;
  return null;
}

/**
 * bucket_is_alive: a bucket that watches nothing is live; one that watches a
 * port is live while the port exists (flowplane's ports are always up); one
 * that watches a group is live while that group has a live bucket; the
 * controller is never live (there is none). Weight 0 disables a select bucket.
 */
function bucketIsLive(ctx: Ctx, g: Group, b: Bucket, depth: number): boolean {
  if (depth >= LIVENESS_DEPTH_MAX) {
    ctx.report("error", `bucket chaining exceeded ${LIVENESS_DEPTH_MAX} links`);
    return false;
  }
  if (g.type === "select" && b.weight === 0) return false;
  const watchesPort = b.watchPort !== WATCH_PORT_NONE && b.watchPort !== 0xffffffff;
  const watchesGroup = b.watchGroup !== OFPG_ANY;
  if (!watchesPort && !watchesGroup) return true;
  if (watchesPort && b.watchPort !== OFPP_CONTROLLER && ctx.bridge.port(b.watchPort) !== undefined) return true;
  if (watchesGroup) {
    const wg = ctx.bridge.groups.get(b.watchGroup);
    if (wg && firstLiveBucket(ctx, wg, depth + 1)) return true;
  }
  return false;
}

function hashMac(hi: number, lo: number): number {
  return (Math.imul(hi ^ 0x7f4a7c15, 0x85ebca6b) ^ Math.imul(lo, 0xc2b2ae35)) >>> 0;
}

// ---------------------------------------------------------------- learn

/** learn(): builds a flow from the packet and asks the switch to add it. */
function learn(ctx: Ctx, a: LearnAction): void {
  const flow = ctx.flow;
  const value = new Uint32Array(W);
  const mask = new Uint32Array(W);
  const actions: Action[] = [];
  // learn_execute: fin_idle_timeout/fin_hard_timeout become the learned flow's first action.
  if (a.finIdleTimeout !== 0 || a.finHardTimeout !== 0) actions.push({ type: "fin_timeout", idleTimeout: a.finIdleTimeout, hardTimeout: a.finHardTimeout });
  for (const spec of a.specs) {
    const src = spec.src.kind === "field" ? readSub(flow, spec.src.subfield) : spec.src.value;
    if (spec.src.kind === "field") maskSub(ctx.wc, spec.src.subfield);
    if (spec.kind === "match" && spec.dst) {
      const m = subMask(spec.dst);
      const cur = readFieldBig(value, 0, spec.dst.field);
      writeFieldBig(value, 0, spec.dst.field, (cur & ~m) | ((src << BigInt(spec.dst.ofs)) & m));
      const curM = readFieldBig(mask, 0, spec.dst.field);
      writeFieldBig(mask, 0, spec.dst.field, curM | m);
    } else if (spec.kind === "load" && spec.dst) {
      const dst = spec.dst;
      const whole = dst.ofs === 0 && dst.nBits === dst.field.bits;
      actions.push({
        type: "set_field",
        field: dst.field,
        value: src << BigInt(dst.ofs),
        mask: whole ? fieldMax(dst.field.bits) : subMask(dst),
        viaLoad: true,
      });
    } else if (spec.kind === "output") {
      actions.push({ type: "output", port: Number(src), maxLen: 0 });
    }
  }
  const learned: LearnedFlow = {
    table: a.tableId,
    priority: a.priority,
    idleTimeout: a.idleTimeout,
    hardTimeout: a.hardTimeout,
    cookie: a.cookie,
    match: { value, mask },
    actions,
    limit: a.limit,
  };
  if (ctx.trace) {
    // xlate_learn_action's line: the flow mod it makes, actions as ofpacts_format prints them.
    let text = `table=${a.tableId} ${formatMatch(value, 0, mask, 0)} priority=${a.priority}`;
    if (a.cookie !== 0n) text += ` cookie=0x${a.cookie.toString(16)}`;
    if (a.idleTimeout !== 0) text += ` idle=${a.idleTimeout}`;
    if (a.hardTimeout !== 0) text += ` hard=${a.hardTimeout}`;
    if (a.sendFlowRem) text += " send_flow_rem";
    text += ` actions=${actions.length ? actions.map((x) => actionTraceText(ctx, x, true)).join(",") : "drop"}`;
    ctx.report("detail", text);
  }
  // Without side effects (a trace without a packet, revalidation) learning counts as done, as in OVS.
  const learnedOk = ctx.input.sideEffects && ctx.input.onLearn ? ctx.input.onLearn(ctx.bridge, learned) !== false : true;
  if (a.resultDst !== null) {
    // NX_LEARN_F_WRITE_RESULT: 1 when learned, 0 when the limit refused it.
    writeSub(flow, a.resultDst, learnedOk ? 1n : 0n);
    maskSub(ctx.wc, a.resultDst);
    if (ctx.trace) ctx.report("detail", `${subfieldTraceText(a.resultDst)} is now 0x${learnedOk ? 1 : 0}`);
  }
}

// ---------------------------------------------------------------- trace text

/** An action as the trace prints it; replaced by the ovs-ofctl formatter when present. */
let actionFormatter: ((a: Action, portName: (p: number) => string | undefined) => string) | null = null;

/** Lets the syntax layer supply OVS's action text without translation depending on it. */
export function setActionFormatter(f: (a: Action, portName: (p: number) => string | undefined) => string): void {
  actionFormatter = f;
}

/** A subfield as the trace prints it (mf_format_subfield); replaced by the ovs-ofctl formatter when present. */
let subfieldFormatter: ((s: SubField) => string) | null = null;

/** Lets the syntax layer supply OVS's subfield text ("NXM_NX_REG3[5]"). */
export function setSubfieldFormatter(f: (s: SubField) => string): void {
  subfieldFormatter = f;
}

function subfieldTraceText(sf: SubField): string {
  return subfieldFormatter ? subfieldFormatter(sf) : `${sf.field.name}[${sf.ofs}..${sf.ofs + sf.nBits - 1}]`;
}

function actionTraceText(ctx: Ctx, a: Action, numericPorts = false): string {
  if (actionFormatter) return actionFormatter(a, numericPorts ? () => undefined : portNamer(ctx));
  return a.type;
}

/** Port numbers as local-port constants, for other modules. */
export const RESERVED_PORTS = { OFPP_IN_PORT, OFPP_TABLE, OFPP_NORMAL, OFPP_FLOOD, OFPP_ALL, OFPP_CONTROLLER, OFPP_LOCAL, OFPP_NONE };
