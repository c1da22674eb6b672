/**
 * Prints a flow the way `ovs-ofctl dump-flows` does (ofputil_flow_stats_format
 * in lib/ofp-flow.c): cookie, duration, table, counters, timeouts, flags,
 * importance and ages as the dump protocol carries them, then the match in
 * match_format order (src/flow/format.ts) and the actions after what the
 * add and dump protocols did to them (format-actions.ts).
 *
 * Without `stats` the line is what `dump-flows --no-stats` prints.
 * What each protocol carries: flow-mod flags only from OpenFlow 1.3 on
 * (OVS reports send_flow_rem, check_overlap, reset_counts, no_packet_counts
 * and no_byte_counts as stored), importance only when both the add and the
 * dump use OpenFlow 1.4+, idle_age/hard_age only in OpenFlow 1.0 (NXM)
 * replies.
 */
import { Match } from "../flow/match.js";
import * as L from "../flow/layout.js";
import { formatMatch } from "../flow/format.js";
import type { FlowSpec, FlowStats } from "../openflow/flow-spec.js";
import { formatActions, protocolVersion, type OfProtocol } from "./format-actions.js";

export interface FormatFlowOptions {
  /** The dump protocol (ovs-ofctl -O); absent: print the flow as parsed, with every attribute. */
  protocol?: OfProtocol;
  /** The protocol the flow was added with; defaults to `protocol`. */
  addProtocol?: OfProtocol;
  /** Port names (dump-flows --names). */
  portName?: (port: number) => string | undefined;
  /** Statistics to print; absent prints like --no-stats. `true` uses spec.stats. */
  stats?: FlowStats | true;
}

/** One dump-flows line for `spec` (without the leading space OVS indents with). */
export function formatFlow(spec: FlowSpec, opts: FormatFlowOptions = {}): string {
  const version = opts.protocol === undefined ? 0 : protocolVersion(opts.protocol);
  const addVersion = opts.addProtocol === undefined ? version : protocolVersion(opts.addProtocol);
  const stats = opts.stats === true ? spec.stats : opts.stats ?? null;
  const showStats = stats !== null;
  let s = "";
  if (showStats || spec.cookie !== 0n) s += `cookie=0x${spec.cookie.toString(16)}, `;
  if (stats !== null) s += `duration=${formatDuration(stats.durationSec)}, `;
  if (showStats || spec.table !== 0) s += `table=${spec.table}, `;
  if (stats !== null) s += `n_packets=${stats.nPackets}, n_bytes=${stats.nBytes}, `;
  if (spec.idleTimeout !== 0) s += `idle_timeout=${spec.idleTimeout}, `;
  if (spec.hardTimeout !== 0) s += `hard_timeout=${spec.hardTimeout}, `;
  if (version === 0 || version >= 4) {
    const f = spec.flags;
    if (f.sendFlowRem) s += "send_flow_rem ";
    if (f.checkOverlap) s += "check_overlap ";
    if (f.resetCounts) s += "reset_counts ";
    if (f.noPacketCounts) s += "no_packet_counts ";
    if (f.noByteCounts) s += "no_byte_counts ";
  }
  if (spec.importance !== 0 && (version === 0 || (version >= 5 && addVersion >= 5))) s += `importance=${spec.importance}, `;
  if (stats !== null && (version === 0 || version === 1)) {
    if (stats.idleAgeSec >= 0) s += `idle_age=${stats.idleAgeSec}, `;
    if (stats.hardAgeSec >= 0 && stats.hardAgeSec !== Math.floor(stats.durationSec)) s += `hard_age=${stats.hardAgeSec}, `;
  }
  let match = spec.match;
  if (addVersion >= 3) match = oxmTrip(match);
  if (version >= 3) match = oxmTrip(match);
  const m = formatMatch(match.value, 0, match.mask, 0, { portName: opts.portName, priority: spec.priority });
  if (m !== "") s += m + " ";
  s += "actions=" + formatActions(spec.actions, { protocol: opts.protocol, addProtocol: opts.addProtocol, match: spec.match, portName: opts.portName });
  return s;
}

/**
 * ofp_print_duration: whole seconds, then ".mmm" when there is a fraction.
 * OVS keeps a rule's age in whole milliseconds, so the fraction is the
 * milliseconds cut (not rounded) from the age: 0.9996 s prints "0.999s".
 */
export function formatDuration(sec: number): string {
  // The 1e-6 absorbs binary error in ages computed as ms / 1000 (e.g. 0.29 * 1000 = 289.99…).
  const totalMs = Math.floor(sec * 1000 + 1e-6);
  const whole = Math.floor(totalMs / 1000);
  const ms = totalMs - whole * 1000;
  return ms > 0 ? `${whole}.${String(ms).padStart(3, "0")}s` : `${whole}s`;
}

/**
 * What an OXM (OpenFlow 1.2+) encoding keeps of a match: VLANs travel as
 * vlan_vid (VID and CFI bits, maskable) plus an exact vlan_pcp that is only
 * sent when the VID part is non-zero and some PCP bit is matched.
 */
export function oxmTrip(match: Match): Match {
  const tci = match.value[L.W_VLAN0] & 0xffff;
  const tciMask = match.mask[L.W_VLAN0] & 0xffff;
  if (tciMask === 0) return match;
  const vid = tci & 0x1fff;
  const vidMask = tciMask & 0x1fff;
  let nt = vid & vidMask;
  let nm = vidMask;
  if (vid !== 0 && (tciMask & L.VLAN_PCP_MASK) !== 0) {
    nt = (nt & ~L.VLAN_PCP_MASK) | (tci & L.VLAN_PCP_MASK) | L.VLAN_CFI;
    nm |= L.VLAN_CFI | L.VLAN_PCP_MASK;
  }
  if (nt === tci && nm === tciMask) return match;
  const out = match.clone();
  out.value[L.W_VLAN0] = ((out.value[L.W_VLAN0] & 0xffff0000) | nt) >>> 0;
  out.mask[L.W_VLAN0] = ((out.mask[L.W_VLAN0] & 0xffff0000) | nm) >>> 0;
  return out;
}
