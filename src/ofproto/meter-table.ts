/**
 * A bridge's meter table and how it changes: what `ovs-ofctl add-meter`,
 * `mod-meter` and `del-meters` do, after OVS's ofproto.c (handle_meter_mod,
 * handle_add_meter, handle_modify_meter, meter_delete) and ofproto-dpif.c
 * (meter_set, meter_del).
 *
 * Semantics, as Open vSwitch 3.1 with the userspace datapath answers them:
 * - add/modify are refused, in this order: kbps with pktps
 *   (OFPMMFC_BAD_FLAGS, OVS's decode), meter=all or an id above
 *   OFPM13_MAX other than slowpath/controller (OFPMMFC_INVALID_METER), more
 *   than METER_BANDS_MAX bands (OFPMMFC_OUT_OF_BANDS).
 * - add: an id the bridge holds is refused with OFPMMFC_METER_EXISTS. The
 *   meter gets the lowest free datapath meter id of the switch (shared by
 *   all bridges: OVS's backer id pool), which translation emits as
 *   `meter(ID)`. A band the datapath cannot run (dscp_remark) is refused
 *   with OFPMMFC_BAD_BAND after the id was taken, and OVS 3.1 never gives
 *   that id back: the next meter gets the id after it. We do the same so
 *   datapath actions stay equal.
 * - modify: an unknown id is refused with OFPMMFC_UNKNOWN_METER; otherwise
 *   the datapath meter is set again in place (same id, full buckets).
 * - delete: one id or all (meter=all, or no argument). An unknown id is no
 *   error. Every flow whose meter instruction names a deleted meter is
 *   deleted with it (reason OFPRR_METER_DELETE), then its datapath id is
 *   freed for the next add.
 * The virtual meters slowpath and controller are kept and dumped like the
 * others; they would rate-limit upcalls to the controller, which flowplane
 * has none of, so they meter nothing here.
 * Invariant: a deletion that removed flows ends with bridge.touch(), so the
 * datapath revalidates megaflows whose actions named the meter; adding or
 * modifying a meter changes no translation (a flow can only name a meter
 * that exists) and touches nothing.
 */
import { flushLearnedCookies } from "./learned-cookies.js";
import type { Bridge } from "./bridge.js";
import type { Meter } from "../openflow/meter.js";
import { OFPMF13_KBPS, OFPMF13_PKTPS, OFPM13_MAX, OFPM13_SLOWPATH, OFPM13_CONTROLLER, OFPM13_ALL } from "../openflow/meter.js";
import { METER_BANDS_MAX } from "../limits.js";
import { FlowModError } from "../classifier/flow-table.js";
// Type only: tables are read through OpenFlowTable.
import type { OpenFlowTable } from "./load.js";

export class MeterModError extends FlowModError {}

/** A meter in a bridge's table: its configuration and the datapath meter id translation emits. */
export interface BridgeMeter {
  readonly meter: Meter;
  readonly dpId: number;
  /** When it was added (meter-stats duration; a modify keeps it, as OVS's meter_update does). */
  readonly createdMs: number;
}

/** handle_meter_mod's checks before add or modify. */
function checkMeter(m: Meter): void {
  if (m.flags & OFPMF13_KBPS && m.flags & OFPMF13_PKTPS) {
    throw new MeterModError("FP_ERR_METER_FLAGS", "OFPMMFC_BAD_FLAGS", `meter ${m.meterId} cannot be both kbps and pktps`);
  }
  if (m.meterId === 0 || (m.meterId > OFPM13_MAX && m.meterId !== OFPM13_SLOWPATH && m.meterId !== OFPM13_CONTROLLER)) {
    throw new MeterModError("FP_ERR_METER_INVALID", "OFPMMFC_INVALID_METER", `meter id ${m.meterId} cannot be configured`);
  }
  if (m.bands.length > METER_BANDS_MAX) {
    throw new MeterModError("FP_ERR_METER_BANDS", "OFPMMFC_OUT_OF_BANDS", `a meter has at most ${METER_BANDS_MAX} bands`);
  }
}

/** Adds a meter; see the module comment for what is refused. */
export function addMeter(bridge: Bridge, m: Meter, nowMs = Date.now()): void {
  checkMeter(m);
  if (bridge.meters.has(m.meterId)) {
    throw new MeterModError("FP_ERR_METER_EXISTS", "OFPMMFC_METER_EXISTS", `meter ${m.meterId} exists already`);
  }
  const dpId = bridge.dpMeters.allocId();
  if (dpId < 0) throw new MeterModError("FP_ERR_METER_FULL", "OFPMMFC_OUT_OF_METERS", "the datapath has no free meter");
  const err = bridge.dpMeters.set(dpId, m);
  // OVS 3.1 keeps the id it took when the datapath refuses the meter (see the module comment).
  if (err !== null) throw new MeterModError("FP_ERR_METER_REFUSED", err, `the datapath cannot run meter ${m.meterId}`);
  bridge.meters.set(m.meterId, { meter: m, dpId, createdMs: nowMs });
}

/** Replaces an existing meter's flags and bands, its datapath meter starting over. */
export function modifyMeter(bridge: Bridge, m: Meter): void {
  checkMeter(m);
  const old = bridge.meters.get(m.meterId);
  if (old === undefined) throw new MeterModError("FP_ERR_UNKNOWN_METER", "OFPMMFC_UNKNOWN_METER", `meter ${m.meterId} does not exist`);
  const err = bridge.dpMeters.set(old.dpId, m);
  if (err !== null) throw new MeterModError("FP_ERR_METER_REFUSED", err, `the datapath cannot run meter ${m.meterId}`);
  bridge.meters.set(m.meterId, { meter: m, dpId: old.dpId, createdMs: old.createdMs });
}

/** What a delete removed. */
export interface MetersDeleted {
  meters: number;
  /** Flows deleted because their meter instruction named a deleted meter. */
  flows: number;
}

/** Deletes one meter or all (OFPM13_ALL), with every flow that names a deleted one. */
export function deleteMeters(bridge: Bridge, which: number): MetersDeleted {
  const ids = which === OFPM13_ALL ? [...bridge.meters.keys()] : bridge.meters.has(which) ? [which] : [];
  if (ids.length === 0) return { meters: 0, flows: 0 };
  const gone = new Set(ids);
  let flows = 0;
  for (const table of bridge.tables as OpenFlowTable[]) {
    if (table.count === 0) continue;
    for (const r of table.rules()) {
      // The meter instruction is never nested (OVS refuses meter inside clone or write_actions).
      if (!r.actions.some((a) => a.type === "meter" && gone.has(a.meterId))) continue;
      flows += table.flows.delete({ match: r.match, strict: true, priority: r.priority }).length;
    }
  }
  for (const id of ids) {
    bridge.dpMeters.freeId(bridge.meters.get(id)!.dpId);
    bridge.meters.delete(id);
  }
  if (flows > 0) {
    bridge.touch();
    flushLearnedCookies(bridge, false);
  }
  return { meters: ids.length, flows };
}

/** How many of the bridge's flows name the meter (meter-stats flow_count). */
export function meterFlowCount(bridge: Bridge, meterId: number): number {
  let n = 0;
  for (const table of bridge.tables as OpenFlowTable[]) {
    if (table.count === 0) continue;
    for (const r of table.rules()) if (r.actions.some((a) => a.type === "meter" && a.meterId === meterId)) n++;
  }
  return n;
}

/** The datapath meter id of a bridge's meter, or -1 when it has none (xlate_meter_action emits nothing then). */
export function dpMeterIdOf(bridge: Bridge, meterId: number): number {
  return bridge.meters.get(meterId)?.dpId ?? -1;
}
