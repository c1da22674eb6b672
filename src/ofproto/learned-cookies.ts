/**
 * learn(delete_learned): when the last flow whose actions hold such a learn
 * leaves a bridge (deleted, modified to other actions, expired, removed with
 * a group or meter), every flow in the learn's table with the learn's
 * cookie is deleted too (OVS's learned_cookies: ofproto.c
 * learned_cookies_update__ and learned_cookies_flush). OVS counts only the
 * learn actions at the top level of a flow's actions, and so does this.
 *
 * Design: the bridge keeps the set of live (table, cookie) pairs; after a
 * change, the set is computed again from the bridge's rules, and every pair
 * that went is flushed. A change that cannot make a pair go (no pair live,
 * or only additions of flows without such a learn) costs nothing more.
 */
import type { Bridge } from "./bridge.js";
import type { Action } from "../openflow/actions.js";
import type { OpenFlowTable } from "./load.js";

const key = (table: number, cookie: bigint): string => `${table}/${cookie}`;

/** Whether actions hold, at the top level, a learn with delete_learned. */
export function hasDeleteLearned(actions: readonly Action[]): boolean {
  for (const a of actions) if (a.type === "learn" && a.deleteLearned) return true;
  return false;
}

/** The (table, cookie) pairs the bridge's rules name in learn(delete_learned) actions. */
function liveCookies(bridge: Bridge): Map<string, { table: number; cookie: bigint }> {
  const live = new Map<string, { table: number; cookie: bigint }>();
  for (const table of bridge.tables as OpenFlowTable[]) {
    if (table.count === 0) continue;
    for (const r of table.rules()) {
      for (const a of r.actions) {
        if (a.type === "learn" && a.deleteLearned) live.set(key(a.tableId, a.cookie), { table: a.tableId, cookie: a.cookie });
      }
    }
  }
  return live;
}

/**
 * Brings the bridge's learned cookies up to date after a change to its
 * flows, deleting the flows of every cookie no flow names any more.
 * `mayAdd`: the change may have added a flow with such a learn. Returns how
 * many flows were deleted (the bridge is touched when any were).
 */
export function flushLearnedCookies(bridge: Bridge, mayAdd: boolean): number {
  if (!mayAdd && bridge.learnedCookies.size === 0) return 0;
  const live = liveCookies(bridge);
  let deleted = 0;
  for (const [k, c] of bridge.learnedCookies) {
    if (live.has(k)) continue;
    const table = bridge.tables[c.table] as OpenFlowTable | undefined;
    if (table === undefined || table.count === 0) continue;
    for (const r of table.rules()) {
      if (r.cookie !== c.cookie) continue;
      deleted += table.flows.delete({ match: r.match, strict: true, priority: r.priority }).length;
    }
  }
  bridge.learnedCookies = live;
  if (deleted > 0) bridge.touch();
  return deleted;
}
