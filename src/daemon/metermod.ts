/**
 * Meter-table changes on a running switch, from ovs-ofctl text: what
 * `add-meter`, `mod-meter`, `del-meters` and `dump-meters` do to a bridge.
 * The semantics live in src/ofproto/meter-table.ts; this file parses the
 * text, as groupmod.ts does for groups.
 */
import type { Bridge } from "../ofproto/bridge.js";
import { addMeter, modifyMeter, deleteMeters, MeterModError, type MetersDeleted } from "../ofproto/meter-table.js";
import { parseMeter, parseMeterSelection, formatMeter } from "../ofctl/parse-meter.js";
import { OFPM13_ALL } from "../openflow/meter.js";

/** Parses one add-meter argument and adds the meter. */
export function addMeterText(bridge: Bridge, text: string): void {
  addMeter(bridge, parseMeter(text, "add", { fileName: "meter" }));
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
  const which = parseMeterSelection(selection, "dump", { fileName: "meter" });
  if (which !== OFPM13_ALL && !bridge.meters.has(which)) {
    throw new MeterModError("FP_ERR_UNKNOWN_METER", "OFPMMFC_UNKNOWN_METER", `meter ${which} does not exist`);
  }
  const ids = [...bridge.meters.keys()].filter((id) => which === OFPM13_ALL || id === which).sort((a, b) => a - b);
  return ids.map((id) => formatMeter(bridge.meters.get(id)!.meter));
}
