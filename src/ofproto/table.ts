/**
 * What translation needs from an OpenFlow table: a lookup that returns the
 * best rule and ORs the key bits it consulted into a wildcard mask (the
 * megaflow mask). src/classifier/ implements it; this file only names the
 * contract so translation does not depend on how tables are built.
 */
import type { Match } from "../flow/match.js";
import type { Action } from "../openflow/actions.js";

export interface OfRule {
  readonly match: Match;
  readonly priority: number;
  readonly cookie: bigint;
  readonly actions: Action[];
  readonly idleTimeout: number;
  readonly hardTimeout: number;
}

export interface OfTable {
  /** The highest-priority rule matching keys[base..], or null; consulted bits are ORed into wc[wcBase..]. */
  lookup(keys: Uint32Array, base: number, wc: Uint32Array | null, wcBase: number): OfRule | null;
  /** Credits a rule with packets/bytes at nowMs (statistics pushed back from the datapath). */
  credit(rule: OfRule, packets: number, bytes: number, nowMs: number): void;
}
