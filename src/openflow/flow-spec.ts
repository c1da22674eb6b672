/**
 * A parsed OpenFlow flow: what one `ovs-ofctl add-flow` line (or one
 * `dump-flows` line) says — OVS's ofputil_flow_mod plus, for dump lines,
 * the statistics of ofputil_flow_stats.
 *
 * Invariants: `match` satisfies every prerequisite of the fields it pins
 * (the parser rejects the rest), `actions` follows actions.ts's one-list
 * instruction order, and numbers are in range for their OpenFlow fields
 * (priority and timeouts 16 bits, table 0..254).
 */
import { Match } from "../flow/match.js";
import type { Action } from "./actions.js";

/** OFP_DEFAULT_PRIORITY: a flow's priority when the line gives none. */
export const PRIORITY_DEFAULT = 32768;

/** Flow-mod flags (ovs-ofctl keywords send_flow_rem, check_overlap, reset_counts, no_packet_counts, no_byte_counts). */
export interface FlowFlags {
  sendFlowRem: boolean;
  checkOverlap: boolean;
  resetCounts: boolean;
  noPacketCounts: boolean;
  noByteCounts: boolean;
}

/** Statistics of a dump-flows line (all optional there except the counters). */
export interface FlowStats {
  /** duration=S.MMMs, in seconds. */
  durationSec: number;
  nPackets: bigint;
  nBytes: bigint;
  /** idle_age=N / hard_age=N (seconds), -1 when absent. */
  idleAgeSec: number;
  hardAgeSec: number;
}

export interface FlowSpec {
  table: number;
  priority: number;
  cookie: bigint;
  /** 0 unless the line said cookie=V/M (a match on cookies, for del-flows and friends). */
  cookieMask: bigint;
  idleTimeout: number;
  hardTimeout: number;
  importance: number;
  flags: FlowFlags;
  match: Match;
  /** Actions and instructions in OVS's one-list order; [] is drop. */
  actions: Action[];
  /** Present when the line carried dump-flows statistics. */
  stats: FlowStats | null;
}

export function noFlags(): FlowFlags {
  return { sendFlowRem: false, checkOverlap: false, resetCounts: false, noPacketCounts: false, noByteCounts: false };
}

/** An empty flow: table 0, default priority, catch-all match (or `match`), no flags (or `flags`), drop (or `actions`). */
export function newFlowSpec(match: Match = new Match(), flags: FlowFlags = noFlags(), actions: Action[] = []): FlowSpec {
  return {
    table: 0,
    priority: PRIORITY_DEFAULT,
    cookie: 0n,
    cookieMask: 0n,
    idleTimeout: 0,
    hardTimeout: 0,
    importance: 0,
    flags,
    match,
    actions,
    stats: null,
  };
}
