/**
 * Meter-table changes on a running switch, from ovs-ofctl text: what
 * `add-meter`, `mod-meter`, `del-meters` and `dump-meters` do to a bridge.
 * The semantics live in src/ofproto/meter-table.ts; this file parses the
 * text, as groupmod.ts does for groups.
 */
import type { Bridge } from "../ofproto/bridge.js";
import { addMeter, modifyMeter, deleteMeters, meterFlowCount, MeterModError, type MetersDeleted } from "../ofproto/meter-table.js";
import { parseMeter, parseMeterSelection, formatMeter, formatMeterId } from "../ofctl/parse-meter.js";
import { formatDuration } from "../ofctl/format-flow.js";
import { OFPM13_ALL } from "../openflow/meter.js";

/** Parses one add-meter argument and adds the meter. */
export function addMeterText(bridge: Bridge, text: string, nowMs = Date.now()): void {
  addMeter(bridge, parseMeter(text, "add", { fileName: "meter" }), nowMs);
}

/** Parses one mod-meter argument and modifies the meter; see modifyMeter. */
export function modifyMeterText(bridge: Bridge, text: string): void {
  modifyMeter(bridge, parseMeter(text, "modify", { fileName: "meter" }));
}

/** Parses a del-meters argument (empty or `meter=all`: every meter; `meter=N`: one) and deletes. */
export function deleteMetersText(bridge: Bridge, text: string): MetersDeleted {
  return deleteMeters(bridge, parseMeterSelection(text, "delete", { fileName: "meter" }));
}

/**
 * dump-meters text, one string per meter as ofputil_format_meter_config
 * prints it (head line, then a line per band), by meter id: OVS prints its
 * hash order, which has no meaning to keep. `selection` is a dump-meters
 * argument; a meter the bridge lacks is OFPMMFC_UNKNOWN_METER, as OVS answers.
 */
export function dumpMeters(bridge: Bridge, selection = ""): string[] {
  return selectedIds(bridge, selection).map((id) => formatMeter(bridge.meters.get(id)!.meter));
}

/** The meters a dump-meters / meter-stats argument selects, by id; an unknown one is OFPMMFC_UNKNOWN_METER. */
function selectedIds(bridge: Bridge, selection: string): number[] {
  const which = parseMeterSelection(selection, "dump", { fileName: "meter" });
  if (which !== OFPM13_ALL && !bridge.meters.has(which)) {
    throw new MeterModError("FP_ERR_UNKNOWN_METER", "OFPMMFC_UNKNOWN_METER", `meter ${which} does not exist`);
  }
  return [...bridge.meters.keys()].filter((id) => which === OFPM13_ALL || id === which).sort((a, b) => a - b);
}

/**
 * meter-stats text, one string per meter as ofputil_format_meter_stats
 * prints it: the flows naming it, the packets and bytes its datapath meter
 * saw and, per band, those the band dropped (a mod-meter starts them over,
 * as OVS sets a new datapath meter); by meter id.
 */
export function meterStats(bridge: Bridge, selection = "", nowMs = Date.now()): string[] {
  return selectedIds(bridge, selection).map((id) => {
    const bm = bridge.meters.get(id)!;
    const st = bridge.dpMeters.stats(bm.dpId);
    const bands = bm.meter.bands.map((_, i) => st?.bands[i] ?? { packets: 0, bytes: 0 });
    let s = `${formatMeterId(id, ":")} flow_count:${meterFlowCount(bridge, id)} packet_in_count:${st?.packets ?? 0} byte_in_count:${st?.bytes ?? 0} `;
    s += `duration:${formatDuration(Math.max(0, nowMs - bm.createdMs) / 1000)} bands:`;
    bands.forEach((b, i) => (s += `\n${i}: packet_count:${b.packets} byte_count:${b.bytes}`));
    return s;
  });
}
