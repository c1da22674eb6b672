/**
 * Translation of ct(...) and ct_clear (ovs-actions(7) "The ct action", "The
 * ct_clear action"), after OVS's compose_conntrack_action,
 * compose_recirculate_and_fork and compose_ct_clear_action
 * (ofproto/ofproto-dpif-xlate.c):
 *
 * - The zone is immediate or read from a register subfield; a subfield's
 *   bits join the megaflow, except, after a thaw, bits of frozen metadata
 *   (registers, metadata, in_port, tunnel), which the recirculation id
 *   already pins.
 * - Pending header changes are committed first, so conntrack sees the packet
 *   as the actions before it left it.
 * - The nested exec(...) actions run first: set_field to ct_mark/ct_label
 *   leaves the value and mask the datapath action carries (the ct_mark and
 *   ct_label megaflow masks are saved around them, as OVS does), and nat
 *   names the NAT request.
 * - With table=N the translation state is frozen under a recirculation id
 *   (recirc.ts) and `recirc(id)` follows: a copy of the packet resumes at
 *   table N with ct_state filled, while the rest of the current action list
 *   continues here ("fork": nothing after the ct is frozen).
 * - Afterwards the ct_* fields of the flow are cleared and the packet counts
 *   as untracked: later matches in this translation see ct_state=0, as in
 *   OVS ("The ct_* fields are only available in the scope of the
 *   'recirc_table' call chain").
 * - ct_clear does something only on a tracked packet (ctx.conntracked): it
 *   clears the fields and emits the datapath ct_clear action.
 *
 * Control plane: runs during translation and may allocate.
 */
import * as L from "../flow/layout.js";
import { type FieldDef, readFieldBig, fieldWords } from "../flow/fields.js";
import type { Action, CtAction, NatAction, SubField } from "../openflow/actions.js";
import { TABLE_NONE } from "../openflow/actions.js";
import type { Bridge, Switch } from "../ofproto/bridge.js";
import type { OdpAction } from "../datapath/actions.js";
import type { CtRequest } from "../conntrack/api.js";
import { formatCtAction } from "../datapath/ct-text.js";
import { commitActions } from "./commit.js";
import { recircIdsOf, freezeMetadata } from "./recirc.js";
import type { TraceKind, TraceNode } from "./trace.js";

/** A recirculation a trace follows: the flow as it was frozen, for the next pass. */
export interface RecircTrace {
  id: number;
  /** The translation's flow at the ct action (OpenFlow in_port), before the ct fields were cleared. */
  flow: Uint32Array;
  zone: number;
  nat: NatAction | null;
}

/** What the ct translation needs of a translation context (xlate.ts's Ctx). */
export interface CtContext {
  readonly input: { readonly sw: Switch; readonly trace: boolean };
  flow: Uint32Array;
  base: Uint32Array;
  wc: Uint32Array;
  odp: OdpAction[];
  bridge: Bridge;
  stack: bigint[];
  actionSet: Action[];
  /** The packet went through conntrack in this pipeline (OVS's ctx->conntracked). */
  conntracked: boolean;
  /** This translation resumed a frozen state (OVS's xin->frozen_state != NULL). */
  thawed: boolean;
  /** The nat(...) of the ct action being composed (OVS's ctx->ct_nat_action). */
  ctNat: NatAction | null;
  /** Recirculation ids this translation allocated, one reference each. */
  recircs: number[];
  recircTraces: RecircTrace[];
  error: string | null;
  report(kind: TraceKind, text: string): TraceNode | null;
}

/** compose_conntrack_action: `runNested` runs the exec(...) actions in the same context. */
export function composeCt(ctx: CtContext, a: CtAction, runNested: (actions: readonly Action[]) => void): void {
  const flow = ctx.flow;
  const wc = ctx.wc;
  let zone = a.zone;
  if (a.zoneSrc) {
    zone = Number(readSub(flow, a.zoneSrc));
    if (!ctx.thawed || !isFrozenMetadata(a.zoneSrc.field)) maskSub(wc, a.zoneSrc);
  }
  const oldMarkMask = wc[L.W_CT_MARK];
  const oldLabelMask = wc.slice(L.W_CT_LABEL, L.W_CT_LABEL + 4);
  commitActions(flow, ctx.base, wc, ctx.odp);

  ctx.ctNat = null;
  wc[L.W_CT_MARK] = 0;
  wc.fill(0, L.W_CT_LABEL, L.W_CT_LABEL + 4);
  runNested(a.actions);

  const markMask = wc[L.W_CT_MARK] >>> 0;
  let labelMask = 0n;
  let labelValue = 0n;
  for (let i = 0; i < 4; i++) {
    labelMask = (labelMask << 32n) | BigInt(wc[L.W_CT_LABEL + i] >>> 0);
    labelValue = (labelValue << 32n) | BigInt((flow[L.W_CT_LABEL + i] & wc[L.W_CT_LABEL + i]) >>> 0);
  }
  const req: CtRequest = {
    zone,
    commit: a.commit,
    force: a.force,
    mark: markMask ? { value: (flow[L.W_CT_MARK] & markMask) >>> 0, mask: markMask } : null,
    label: labelMask ? { value: labelValue, mask: labelMask } : null,
    nat: ctx.ctNat ? natRequest(ctx.ctNat) : null,
    alg: a.alg,
  };
  ctx.odp.push({ t: "ct", text: formatCtAction(req), req });
  wc[L.W_CT_MARK] = oldMarkMask;
  wc.set(oldLabelMask, L.W_CT_LABEL);

  if (a.recircTable !== TABLE_NONE) {
    ctx.conntracked = true;
    recirculateAndFork(ctx, a.recircTable, zone);
  }
  ctx.ctNat = null;
  clearConntrackFields(flow);
  ctx.report("detail", "Sets the packet to an untracked state, and clears all the conntrack fields.");
  ctx.conntracked = false;
}

/**
 * compose_recirculate_and_fork / finish_freezing__: freezes the state,
 * emits recirc(id); a trace queues the recirculated pass.
 */
function recirculateAndFork(ctx: CtContext, tableId: number, zone: number): void {
  const ids = recircIdsOf(ctx.input.sw);
  const id = ids.alloc({
    bridge: ctx.bridge,
    tableId,
    ...freezeMetadata(ctx.flow),
    stack: ctx.stack.slice(),
    actionSet: ctx.actionSet.slice(),
    conntracked: ctx.conntracked,
  });
  if (id === 0) {
    ctx.error = "Failed to allocate recirculation id";
    ctx.report("error", ctx.error);
    return;
  }
  ctx.recircs.push(id);
  ctx.odp.push({ t: "recirc", id });
  if (ctx.input.trace) {
    const flow = ctx.flow.slice();
    flow[L.W_RECIRC_ID] = id;
    flow[L.W_CT] = ((flow[L.W_CT] & 0x0000ffff) | (zone << 16)) >>> 0;
    ctx.recircTraces.push({ id, flow, zone, nat: ctx.ctNat });
    ctx.report("detail", `A clone of the packet is forked to recirculate. The forked pipeline will be resumed at table ${tableId}.`);
  }
}

/** compose_ct_clear_action: only a tracked packet has anything to clear. */
export function composeCtClear(ctx: CtContext): void {
  if (!ctx.conntracked) return;
  clearConntrack(ctx);
  ctx.odp.push({ t: "ct_clear" });
}

/** clear_conntrack: the packet is untracked from here on. */
export function clearConntrack(ctx: CtContext): void {
  ctx.conntracked = false;
  clearConntrackFields(ctx.flow);
}

/**
 * tuple_swap: exchanges the packet's 5-tuple with the connection's
 * original-direction tuple (ct_nw_proto, ct_nw_src/dst or ct_ipv6_src/dst,
 * ct_tp_src/dst), in the flow and in the megaflow mask alike, so a lookup
 * between two swaps consults the ct_* bits it read. Its own inverse.
 */
export function tupleSwap(flow: Uint32Array, wc: Uint32Array): void {
  const ipv4 = (flow[L.W_DL_TYPE] & 0xffff) === L.ETH_TYPE_IP;
  for (const k of [flow, wc]) {
    const proto = k[L.W_NW] & 0xff;
    k[L.W_NW] = ((k[L.W_NW] & ~0xff) | ((k[L.W_CT] >>> 8) & 0xff)) >>> 0;
    k[L.W_CT] = ((k[L.W_CT] & ~0xff00) | (proto << 8)) >>> 0;
    if (ipv4) {
      swapWords(k, L.W_NW_SRC, L.W_CT_NW_SRC, 1);
      swapWords(k, L.W_NW_DST, L.W_CT_NW_DST, 1);
    } else {
      swapWords(k, L.W_IPV6_SRC, L.W_CT_IPV6_SRC, 4);
      swapWords(k, L.W_IPV6_DST, L.W_CT_IPV6_DST, 4);
    }
    swapWords(k, L.W_TP, L.W_CT_TP, 1);
  }
}

function swapWords(k: Uint32Array, a: number, b: number, n: number): void {
  for (let i = 0; i < n; i++) {
    const t = k[a + i];
    k[a + i] = k[b + i];
    k[b + i] = t;
  }
}

/** flow_clear_conntrack: ct_state, ct_zone, ct_mark, ct_label and the original-direction tuple. */
export function clearConntrackFields(flow: Uint32Array): void {
  flow.fill(0, L.W_CT, L.W_CT_TP + 1);
}

/**
 * The NAT request as the datapath receives it: put_ct_nat only sends a range
 * maximum above its minimum and a port range with an address range, and
 * dp_execute_cb makes a missing maximum equal to its minimum.
 */
function natRequest(n: NatAction): CtRequest["nat"] {
  const hasAddr = n.family !== 0;
  const portMin = hasAddr ? n.portMin : 0;
  return {
    kind: n.kind,
    family: hasAddr ? n.family : 0,
    addrMin: hasAddr ? n.addrMin : 0n,
    addrMax: hasAddr ? (n.addrMax > n.addrMin ? n.addrMax : n.addrMin) : 0n,
    portMin,
    portMax: portMin ? (n.portMax > portMin ? n.portMax : portMin) : 0,
    persistent: n.persistent,
    hash: n.hash,
    random: n.hash ? false : n.random,
  };
}

/** mf_is_frozen_metadata: fields a recirculation id pins (tunnel, metadata, registers, in_port). */
function isFrozenMetadata(f: FieldDef): boolean {
  const w = f.word;
  return w === L.W_IN_PORT || (w >= L.W_TUN_ID && w <= L.W_TUN_TP) || (w >= L.W_REGS && w < L.W_METADATA + 2);
}

function readSub(flow: Uint32Array, s: SubField): bigint {
  return (readFieldBig(flow, 0, s.field) >> BigInt(s.ofs)) & ((1n << BigInt(s.nBits)) - 1n);
}

/** ORs a subfield's bits into the megaflow mask. */
function maskSub(wc: Uint32Array, s: SubField): void {
  const f = s.field;
  let mask = ((1n << BigInt(s.nBits)) - 1n) << BigInt(s.ofs);
  if (f.bits <= 32) {
    wc[f.word] = (wc[f.word] | (Number(mask) << f.shift)) >>> 0;
    return;
  }
  for (let i = fieldWords(f) - 1; i >= 0; i--) {
    wc[f.word + i] = (wc[f.word + i] | Number(mask & 0xffffffffn)) >>> 0;
    mask >>= 32n;
  }
}
