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
 * groups (all, select, indirect, fast failover), a resubmit depth of 64 and
 * 4096 resubmits in all. Header changes are committed as datapath set, push
 * and pop actions just before each output (commit.ts).
 *
 * Invariant: the result depends only on the key bits in `wc` (the megaflow
 * property); side effects (MAC learning, learn(), rule statistics) happen
 * only when `sideEffects` is set.
 *
 * Control plane: called on a cache miss (upcall) and by trace; it allocates.
 */
import * as L from "../flow/layout.js";
import { type FieldDef, findField, readFieldBig, writeFieldBig, fieldWords } from "../flow/fields.js";
import { fieldMax } from "../flow/match.js";
import { formatMatch } from "../flow/format.js";
import { formatMac, OFPP_IN_PORT, OFPP_TABLE, OFPP_NORMAL, OFPP_FLOOD, OFPP_ALL, OFPP_CONTROLLER, OFPP_LOCAL, OFPP_NONE } from "../flow/text.js";
import type { Action, SubField, LearnAction } from "../openflow/actions.js";
import { TABLE_NONE } from "../openflow/actions.js";
import type { Bridge, Port, Switch } from "../ofproto/bridge.js";
import type { OfRule } from "../ofproto/table.js";
import type { OdpAction } from "../datapath/actions.js";
import { commitActions } from "./commit.js";
import type { TraceNode, TraceKind } from "./trace.js";

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
  /** Called for each learn() the translation performs (with sideEffects). */
  onLearn?: (bridge: Bridge, flow: LearnedFlow) => void;
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
}

export interface MacRef {
  bridge: Bridge;
  mac: bigint;
  vlan: number;
  port: number;
}

/** Tracks one translation. */
class Ctx {
  flow: Uint32Array;
  base: Uint32Array;
  wc = new Uint32Array(L.KEY_WORDS);
  odp: OdpAction[] = [];
  bridge: Bridge;
  tableId = 0;
  depth = 0;
  resubmits = 0;
  exit = false;
  /** Accumulated write_actions (OpenFlow action set), by action-set slot. */
  actionSet: Action[] = [];
  stack: bigint[] = [];
  rules: XlateOutput["rules"] = [];
  error: string | null = null;
  usesMacs = false;
  macRefs: MacRef[] = [];
  /** Where reports go now (null when not tracing). */
  trace: TraceNode[] | null;
  readonly root: TraceNode[] = [];

  constructor(
    readonly input: XlateInput,
    bridge: Bridge,
    flow: Uint32Array,
  ) {
    this.bridge = bridge;
    this.flow = flow;
    this.base = flow.slice();
    this.trace = input.trace ? this.root : null;
  }

  report(kind: TraceKind, text: string): TraceNode | null {
    if (!this.trace) return null;
    const node: TraceNode = { kind, text, subs: [] };
    this.trace.push(node);
    return node;
  }
}

const W = L.KEY_WORDS;

/** Translates the packet whose key is input.key at input.keyBase. */
export function xlate(input: XlateInput): XlateOutput {
  const key = input.key.subarray(input.keyBase, input.keyBase + W);
  const inDp = key[L.W_IN_PORT];
  const inPort = input.sw.dpPorts[inDp];
  const flow = key.slice();
  if (!inPort) {
    return { actions: [], wc: allMetadataMask(), finalFlow: flow, rules: [], trace: [], error: `no datapath port ${inDp}`, usesMacs: false, macRefs: [] };
  }
  flow[L.W_IN_PORT] = inPort.ofport;
  const ctx = new Ctx(input, inPort.bridge, flow);
  initWildcards(ctx);
  const bridgeNode = ctx.report("bridge", `bridge("${inPort.bridge.name}")`);
  const saved = ctx.trace;
  if (bridgeNode) ctx.trace = bridgeNode.subs;
  lookupAndRun(ctx, inPort.ofport, 0, true);
  if (!ctx.error) executeActionSet(ctx);
  ctx.trace = saved;
  finishWildcards(ctx, key);
  if (ctx.error) ctx.odp.length = 0;
  return { actions: ctx.odp, wc: ctx.wc, finalFlow: ctx.flow, rules: ctx.rules, trace: ctx.root, error: ctx.error, usesMacs: ctx.usesMacs, macRefs: ctx.macRefs };
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
  // A tunnel's metadata is always matched exactly (tnl_wc_init).
  if (ctx.flow[L.W_TUN_DST] !== 0) {
    for (const w of [L.W_TUN_ID, L.W_TUN_ID + 1, L.W_TUN_SRC, L.W_TUN_DST, L.W_TUN_FLAGS]) wc[w] = 0xffffffff;
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
  // No wildcard bits for VLAN headers the original packet does not have.
  for (let i = 0; i < 2; i++) if (!(orig[L.W_VLAN0 + i] & L.VLAN_CFI)) wc[L.W_VLAN0 + i] = 0;
  wc[L.W_TP] >>>= 0;
}

const isIp = (f: Uint32Array): boolean => {
  const t = f[L.W_DL_TYPE] & 0xffff;
  return t === L.ETH_TYPE_IP || t === L.ETH_TYPE_IPV6;
};

// ---------------------------------------------------------------- tables

/**
 * Looks the flow up in `tableId` (with in_port temporarily `inPort`) and runs
 * the rule's actions (rule_dpif_lookup_from_table + xlate_recursively).
 */
function lookupAndRun(ctx: Ctx, inPort: number, tableId: number, isFirst: boolean): void {
  if (ctx.depth >= RESUBMIT_DEPTH_MAX) {
    ctx.error = `over max translation depth ${RESUBMIT_DEPTH_MAX}`;
    ctx.report("error", ctx.error);
    return;
  }
  if (ctx.resubmits >= RESUBMITS_MAX) {
    ctx.error = `over ${RESUBMITS_MAX} resubmit actions`;
    ctx.report("error", ctx.error);
    return;
  }
  if (!isFirst) ctx.resubmits++;
  const flow = ctx.flow;
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

  const node = ctx.report("table", tableText(ctx, tableId, rule));
  const savedTrace = ctx.trace;
  if (node) ctx.trace = node.subs;
  if (rule) {
    ctx.rules.push({ bridge: ctx.bridge, table: tableId, rule });
    if (ctx.input.sideEffects) table.credit(rule, 1, ctx.input.packetSize, ctx.input.nowMs);
    ctx.depth++;
    runActions(ctx, rule.actions);
    ctx.depth--;
  }
  ctx.trace = savedTrace;
  ctx.tableId = oldTableId;
}

function tableText(ctx: Ctx, tableId: number, rule: OfRule | null): string {
  const head = `${String(tableId).padStart(2, " ")}. `;
  if (!rule) return `${head}No match.`;
  const m = formatMatch(rule.match.value, 0, rule.match.mask, 0, { portName: portNamer(ctx.bridge) });
  let s = head + (m ? `${m}, ` : "") + `priority ${rule.priority}`;
  if (rule.cookie) s += `, cookie 0x${rule.cookie.toString(16)}`;
  return s;
}

function portNamer(bridge: Bridge): (p: number) => string | undefined {
  return (p) => bridge.port(p)?.name;
}

// ---------------------------------------------------------------- actions

function runActions(ctx: Ctx, actions: readonly Action[]): void {
  for (const a of actions) {
    if (ctx.error || ctx.exit) break;
    if (ctx.trace) ctx.report("action", actionTraceText(ctx, a));
    if (runAction(ctx, a)) break;
  }
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
      output(ctx, a.port);
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
        flow[L.W_NW_SRC] = a.ipv4 >>> 0;
      }
      break;
    case "set_ipv4_dst":
      if ((flow[L.W_DL_TYPE] & 0xffff) === L.ETH_TYPE_IP) {
        wc[L.W_NW_DST] = 0xffffffff;
        flow[L.W_NW_DST] = a.ipv4 >>> 0;
      }
      break;
    case "set_ip_dscp":
      if (isIp(flow)) setNwBits(ctx, L.NW_TOS_SHIFT, 0xfc, a.dscp);
      break;
    case "set_ip_ecn":
      if (isIp(flow)) setNwBits(ctx, L.NW_TOS_SHIFT, 0x03, a.ecn);
      break;
    case "set_ip_ttl":
      if (isIp(flow)) setNwBits(ctx, L.NW_TTL_SHIFT, 0xff, a.ttl);
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
      lookupAndRun(ctx, inPort, table, false);
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
      return decTtl(ctx);
    case "note":
    case "conjunction":
    case "fin_timeout":
    case "sample":
    case "meter":
      break;
    case "exit":
      ctx.exit = true;
      break;
    case "learn":
      learn(ctx, a);
      break;
    case "clone": {
      const saved = saveState(ctx);
      runActions(ctx, a.actions);
      restoreState(ctx, saved);
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
    case "ct_clear":
    case "nat":
      ctx.report("warn", `${a.type} is not executed yet (connection tracking is not built)`);
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
    case OFPP_ALL:
      for (const p of ctx.bridge.portsInOrder()) {
        if (p.ofport === flow[L.W_IN_PORT]) continue;
        composeOutput(ctx, p.ofport);
      }
      break;
    case OFPP_CONTROLLER:
      ctx.report("detail", "controller: no controller connected, packet not sent");
      break;
    case OFPP_NONE:
      break;
    default:
      if (port !== flow[L.W_IN_PORT]) composeOutput(ctx, port);
      else ctx.report("detail", "skipping output to input port");
  }
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
  commitActions(ctx.flow, ctx.base, ctx.wc, ctx.odp);
  ctx.odp.push({ t: "output", port: port.dpPort });
}

interface SavedState {
  flow: Uint32Array;
  bridge: Bridge;
  actionSet: Action[];
  stack: bigint[];
  tableId: number;
  exit: boolean;
}

function saveState(ctx: Ctx): SavedState {
  return { flow: ctx.flow.slice(), bridge: ctx.bridge, actionSet: ctx.actionSet, stack: ctx.stack, tableId: ctx.tableId, exit: ctx.exit };
}
function restoreState(ctx: Ctx, s: SavedState): void {
  ctx.flow.set(s.flow);
  ctx.bridge = s.bridge;
  ctx.actionSet = s.actionSet;
  ctx.stack = s.stack;
  ctx.tableId = s.tableId;
  ctx.exit = s.exit;
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
  ctx.bridge = to.bridge;
  const node = ctx.report("bridge", `bridge("${to.bridge.name}")`);
  const savedTrace = ctx.trace;
  if (node) ctx.trace = node.subs;
  lookupAndRun(ctx, to.ofport, 0, false);
  executeActionSet(ctx);
  ctx.trace = savedTrace;
  restoreState(ctx, saved);
  ctx.wc.set(savedTunWc, L.W_TUN_ID);
  void from;
}

// ---------------------------------------------------------------- NORMAL

interface Vlans {
  vid0: number;
  pcp0: number;
  tpid0: number;
  vid1: number;
}

const isBroadcast = (hi: number, lo: number): boolean => hi === 0xffff && lo >>> 0 === 0xffffffff;

/** eth_addr_is_reserved(): 802.1D/802.1Q link-local and a few other protocol MACs NORMAL never forwards. */
function isReservedMac(hi: number, lo: number): boolean {
  if (hi === 0x0180 && lo >>> 8 === 0xc20000) return true; // 01:80:c2:00:00:0x
  if (hi === 0x0100 && lo >>> 0 === 0x0ccccccc) return true; // CDP, VTP, DTP, PAgP
  if (hi === 0x0100 && lo >>> 0 === 0x0ccccccd) return true; // PVST+
  if (hi === 0x0100 && (lo >>> 0 === 0x0ccdcdcd || lo >>> 0 === 0x0ccdcdce || lo >>> 0 === 0x0ccdcdcf)) return true;
  return false;
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
  if (!inputVidIsValid(ctx, inVlans.vid0, inPort)) {
    ctx.report("warn", "disallowed VLAN VID for this input port, dropping");
    return;
  }
  const vlans = inputTranslate(inPort, inVlans);
  const vlan = vlans.vid0;
  const dstHi = flow[L.W_DL_DST];
  const dstLo = flow[L.W_DL_DST + 1];
  if (isReservedMac(dstHi, dstLo)) {
    ctx.report("detail", "packet has reserved destination MAC, dropping");
    return;
  }
  ctx.usesMacs = true;
  const src = (BigInt(flow[L.W_DL_SRC]) << 32n) | BigInt(flow[L.W_DL_SRC + 1]);
  const isGratArp = isGratuitousArp(ctx);
  ctx.macRefs.push({ bridge: ctx.bridge, mac: src, vlan, port: inPort.ofport });
  if (ctx.input.sideEffects) {
    if (ctx.bridge.macs.learn(src, vlan, inPort.ofport, ctx.input.nowMs, isGratArp)) {
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

function extractVlans(flow: Uint32Array): Vlans {
  const v0 = flow[L.W_VLAN0];
  const v1 = flow[L.W_VLAN1];
  const has0 = (v0 & L.VLAN_CFI) !== 0;
  const has1 = has0 && (v1 & L.VLAN_CFI) !== 0;
  return {
    tpid0: has0 ? v0 >>> 16 : 0,
    vid0: has0 ? v0 & L.VLAN_VID_MASK : 0,
    pcp0: has0 ? v0 & L.VLAN_PCP_MASK : 0,
    vid1: has1 ? v1 & L.VLAN_VID_MASK : 0,
  };
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
      if (!port.trunksVlan(vid)) {
        ctx.report("error", `dropping VLAN ${vid} packet received on port ${port.name} not configured for trunking VLAN ${vid}`);
        return false;
      }
      return true;
  }
}

function inputTranslate(port: Port, v: Vlans): Vlans {
  switch (port.vlanMode) {
    case "access":
      return { tpid0: v.tpid0 || L.ETH_TYPE_VLAN_8021Q, vid0: port.tag, pcp0: v.pcp0, vid1: 0 };
    case "trunk":
      return { ...v };
    case "native-tagged":
    case "native-untagged":
      if (!v.vid0) return { tpid0: v.tpid0 || L.ETH_TYPE_VLAN_8021Q, vid0: port.tag, pcp0: v.pcp0, vid1: v.vid1 };
      return { ...v };
  }
}

function includesVlan(port: Port, v: Vlans): boolean {
  if (port.vlanMode === "access") return v.vid0 === port.tag && v.vid1 === 0;
  return port.trunksVlan(v.vid0);
}

/** output_normal: the VLAN tags the output port wants, then a plain output. */
function outputNormal(ctx: Ctx, port: Port, v: Vlans): void {
  let out: Vlans;
  switch (port.vlanMode) {
    case "access":
      out = { tpid0: 0, vid0: 0, pcp0: 0, vid1: 0 };
      break;
    case "native-untagged":
      out = v.vid0 === port.tag ? { tpid0: 0, vid0: v.vid1, pcp0: 0, vid1: 0 } : { ...v };
      break;
    default:
      out = { ...v };
  }
  const flow = ctx.flow;
  const old0 = flow[L.W_VLAN0];
  const old1 = flow[L.W_VLAN1];
  // xvlan_put: a tag exists when VID or PCP is non-zero.
  const tci0 = out.vid0 | out.pcp0;
  flow[L.W_VLAN0] = tci0 ? (((out.tpid0 || L.ETH_TYPE_VLAN_8021Q) << 16) | tci0 | L.VLAN_CFI) >>> 0 : 0;
  if (port.vlanMode === "native-untagged" && v.vid0 === port.tag) flow[L.W_VLAN1] = 0;
  else if (port.vlanMode === "access") flow[L.W_VLAN1] = 0;
  composeOutput(ctx, port.ofport);
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

/** write_actions: merges into the action set; one action per kind, later ones replace earlier ones. */
function writeActions(ctx: Ctx, actions: readonly Action[]): void {
  for (const a of actions) {
    const slot = actionSetSlot(a);
    ctx.actionSet = ctx.actionSet.filter((b) => actionSetSlot(b) !== slot);
    ctx.actionSet.push(a);
  }
  if (ctx.trace) ctx.report("detail", `action set is: ${ctx.actionSet.map((a) => actionTraceText(ctx, a, true)).join(",")}`);
}

function actionSetSlot(a: Action): string {
  if (a.type === "set_field") return `set_field:${a.field.name}`;
  if (a.type === "output" || a.type === "output_reg" || a.type === "output_trunc" || a.type === "enqueue") return "output";
  return a.type;
}

/** OpenFlow 1.3 section 5.10 order: pops, pushes, dec_ttl, sets, then group or output. */
const ACTION_SET_ORDER = [
  "strip_vlan",
  "pop_mpls",
  "push_mpls",
  "push_vlan",
  "dec_ttl",
  "dec_mpls_ttl",
  "set_vlan_vid",
  "set_vlan_pcp",
  "set_eth_src",
  "set_eth_dst",
  "set_ipv4_src",
  "set_ipv4_dst",
  "set_ip_dscp",
  "set_ip_ecn",
  "set_ip_ttl",
  "set_l4_src_port",
  "set_l4_dst_port",
  "set_tunnel",
  "set_field",
  "set_queue",
  "group",
  "output",
];

function executeActionSet(ctx: Ctx): void {
  if (ctx.actionSet.length === 0) return;
  const set = ctx.actionSet;
  ctx.actionSet = [];
  const ordered = [...set].sort((a, b) => orderIndex(a) - orderIndex(b));
  const hasGroup = ordered.some((a) => a.type === "group");
  const list = hasGroup ? ordered.filter((a) => actionSetSlot(a) !== "output") : ordered;
  const node = ctx.report("table", "--. Executing action set:");
  const saved = ctx.trace;
  if (node) ctx.trace = node.subs;
  ctx.exit = false;
  runActions(ctx, list);
  ctx.trace = saved;
}

function orderIndex(a: Action): number {
  const i = ACTION_SET_ORDER.indexOf(a.type === "output_reg" || a.type === "output_trunc" || a.type === "enqueue" ? "output" : a.type);
  return i < 0 ? ACTION_SET_ORDER.length : i;
}

// ---------------------------------------------------------------- groups

/** group:N — returns true when the group does not exist (the action list stops, as in OVS). */
function group(ctx: Ctx, groupId: number): boolean {
  const g = ctx.bridge.groups.get(groupId);
  if (!g) {
    ctx.report("warn", `no group ${groupId}`);
    return true;
  }
  const runBucket = (b: (typeof g.buckets)[number]): void => {
    const node = ctx.report("bucket", `bucket ${b.bucketId}`);
    const savedTrace = ctx.trace;
    if (node) ctx.trace = node.subs;
    const saved = saveState(ctx);
    runActions(ctx, b.actions);
    restoreState(ctx, saved);
    ctx.trace = savedTrace;
  };
  switch (g.type) {
    case "all":
      for (const b of g.buckets) runBucket(b);
      break;
    case "indirect":
      if (g.buckets[0]) runBucket(g.buckets[0]);
      break;
    case "ff": {
      const live = g.buckets.find((b) => bucketIsLive(ctx, b.watchPort));
      if (live) runBucket(live);
      else ctx.report("detail", "no live bucket");
      break;
    }
    case "select": {
      const live = g.buckets.filter((b) => bucketIsLive(ctx, b.watchPort) && b.weight > 0);
      if (!live.length) {
        ctx.report("detail", "no live bucket");
        break;
      }
      // OVS's default selection hashes the destination MAC (and VLAN); use the same inputs.
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
      runBucket(best);
      break;
    }
  }
  return false;
}

function bucketIsLive(ctx: Ctx, watchPort: number): boolean {
  if (watchPort === 0xffff || watchPort === 0xffffffff) return true;
  return ctx.bridge.port(watchPort) !== undefined;
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
  };
  if (ctx.trace) {
    ctx.report("detail", `table=${a.tableId} ${formatMatch(value, 0, mask, 0, { priority: a.priority })} actions=${actions.length} action(s)`);
  }
  if (ctx.input.sideEffects && ctx.input.onLearn) ctx.input.onLearn(ctx.bridge, learned);
}

// ---------------------------------------------------------------- trace text

/** An action as the trace prints it; replaced by the ovs-ofctl formatter when present. */
let actionFormatter: ((a: Action, portName: (p: number) => string | undefined) => string) | null = null;

/** Lets the syntax layer supply OVS's action text without translation depending on it. */
export function setActionFormatter(f: (a: Action, portName: (p: number) => string | undefined) => string): void {
  actionFormatter = f;
}

function actionTraceText(ctx: Ctx, a: Action, numericPorts = false): string {
  if (actionFormatter) return actionFormatter(a, numericPorts ? () => undefined : portNamer(ctx.bridge));
  return a.type;
}

/** Port numbers as local-port constants, for other modules. */
export const RESERVED_PORTS = { OFPP_IN_PORT, OFPP_TABLE, OFPP_NORMAL, OFPP_FLOOD, OFPP_ALL, OFPP_CONTROLLER, OFPP_LOCAL, OFPP_NONE };
