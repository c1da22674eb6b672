/**
 * A bridge's group table and how it changes: what `ovs-ofctl add-group(s)`,
 * `mod-group` and `del-groups` do, after OVS's ofproto.c (add_group_start,
 * modify_group_start, delete_groups_start).
 *
 * Semantics, as Open vSwitch 3.1 answers them:
 * - add: a group id the bridge holds already is refused with
 *   OFPGMFC_GROUP_EXISTS; a batch (an add-groups file, a topology's groups
 *   file) adds every group or none. A bucket may name a group that does not
 *   exist (OVS accepts `bucket=group:9` with no group 9); translation then
 *   drops there.
 * - modify: replaces the type, selection method and buckets of an existing
 *   group; flows that name it stay and use the new buckets. An unknown
 *   group is refused with OFPGMFC_UNKNOWN_GROUP unless mayCreate
 *   (`--may-create`), which adds it.
 * - delete: one group id or all of them. A group that is not there is no
 *   error. Every flow whose actions name a deleted group, nested ones
 *   included (clone, write_actions: OVS's OFPACT_FOR_EACH_FLATTENED), is
 *   deleted with it (reason OFPRR_GROUP_DELETE); groups whose buckets name
 *   it stay.
 * Invariant: every change that alters the table ends with bridge.touch(),
 * so the datapath revalidates megaflows built on the old groups.
 */
import type { Bridge } from "./bridge.js";
import type { Group } from "../openflow/group.js";
import type { Action } from "../openflow/actions.js";
import { FlowModError } from "../classifier/flow-table.js";
import { GROUPS_ALL } from "../ofctl/parse-group.js";
// Type only: load.ts loads topology groups through addGroups.
import type { OpenFlowTable } from "./load.js";
import { flushLearnedCookies } from "./learned-cookies.js";

export class GroupModError extends FlowModError {}

/** Adds groups, all or none: a group id the bridge has, or one repeated in the batch, refuses the batch. */
export function addGroups(bridge: Bridge, groups: readonly Group[]): number {
  const seen = new Set<number>();
  for (const g of groups) {
    if (bridge.groups.has(g.groupId) || seen.has(g.groupId)) {
      throw new GroupModError("FP_ERR_GROUP_EXISTS", "OFPGMFC_GROUP_EXISTS", `group ${g.groupId} exists already`);
    }
    seen.add(g.groupId);
  }
  for (const g of groups) bridge.groups.set(g.groupId, g);
  if (groups.length > 0) bridge.touch();
  return groups.length;
}

/** Replaces an existing group (or adds it, with mayCreate); see the module comment. */
export function modifyGroup(bridge: Bridge, group: Group, mayCreate: boolean): void {
  if (!bridge.groups.has(group.groupId) && !mayCreate) {
    throw new GroupModError("FP_ERR_UNKNOWN_GROUP", "OFPGMFC_UNKNOWN_GROUP", `group ${group.groupId} does not exist`);
  }
  bridge.groups.set(group.groupId, group);
  bridge.touch();
}

/** What a delete removed. */
export interface GroupsDeleted {
  groups: number;
  /** Flows deleted because their actions named a deleted group. */
  flows: number;
}

/** Deletes one group or all, with every flow whose actions name a deleted one. */
export function deleteGroups(bridge: Bridge, which: number | typeof GROUPS_ALL): GroupsDeleted {
  const ids = which === GROUPS_ALL ? [...bridge.groups.keys()] : bridge.groups.has(which) ? [which] : [];
  if (ids.length === 0) return { groups: 0, flows: 0 };
  const gone = new Set(ids);
  for (const id of ids) bridge.groups.delete(id);
  let flows = 0;
  for (const table of bridge.tables as OpenFlowTable[]) {
    if (table.count === 0) continue;
    for (const r of table.rules()) {
      if (!namesGroup(r.actions, gone)) continue;
      flows += table.flows.delete({ match: r.match, strict: true, priority: r.priority }).length;
    }
  }
  bridge.touch();
  if (flows > 0) flushLearnedCookies(bridge, false);
  return { groups: ids.length, flows };
}

/** Whether an action list names one of the groups, looking inside nested lists as OVS's flattened walk does. */
function namesGroup(actions: readonly Action[], groups: ReadonlySet<number>): boolean {
  for (const a of actions) {
    if (a.type === "group" && groups.has(a.groupId)) return true;
    if ((a.type === "clone" || a.type === "ct" || a.type === "write_actions") && namesGroup(a.actions, groups)) return true;
  }
  return false;
}
