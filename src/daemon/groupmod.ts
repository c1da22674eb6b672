/**
 * Group-table changes on a running switch, from ovs-ofctl text: what
 * `add-group(s)`, `mod-group`, `del-groups` and `dump-groups` do to a
 * bridge. The semantics live in src/ofproto/group-table.ts; this file
 * parses the text, as flowmod.ts does for flows.
 */
import type { Bridge } from "../ofproto/bridge.js";
import type { Group } from "../openflow/group.js";
import { addGroups, modifyGroup, deleteGroups, type GroupsDeleted } from "../ofproto/group-table.js";
import { parseGroups, parseGroup, parseGroupDelete, formatGroup } from "../ofctl/parse-group.js";
import type { OfProtocol } from "../ofctl/format-actions.js";
import { portNamesOf } from "../ofproto/load.js";

/** Parses and adds add-groups text (one group per line, `#` comments); nothing is added when a line is bad or a group exists. */
export function addGroupsText(bridge: Bridge, text: string, file: string): number {
  const groups: Group[] = parseGroups(text, file, { portNames: portNamesOf(bridge) });
  return addGroups(bridge, groups);
}

/** Parses one group (mod-group's argument) and modifies; see modifyGroup. */
export function modifyGroupText(bridge: Bridge, text: string, mayCreate: boolean): void {
  modifyGroup(bridge, parseGroup(text, { fileName: "group", portNames: portNamesOf(bridge) }), mayCreate);
}

/** Parses a del-groups argument (empty, `group_id=N` or `group_id=all`) and deletes. */
export function deleteGroupsText(bridge: Bridge, text: string): GroupsDeleted {
  return deleteGroups(bridge, parseGroupDelete(text, { fileName: "group" }));
}

export interface DumpGroupsOptions {
  /** The syntax to print (default: the bridge's version). */
  protocol?: OfProtocol;
  names?: boolean;
  /** Only this group (dump-groups BRIDGE GROUP). */
  groupId?: number;
}

/**
 * dump-groups lines (ofp_print_group, with OVS's leading space), by group
 * id: OVS prints its hash order, which has no meaning to keep.
 */
export function dumpGroups(bridge: Bridge, opts: DumpGroupsOptions = {}): string[] {
  const portName = opts.names ? (p: number): string | undefined => bridge.port(p)?.name : undefined;
  const protocol = opts.protocol ?? (bridge.protocol as OfProtocol);
  const ids = [...bridge.groups.keys()].filter((id) => opts.groupId === undefined || id === opts.groupId).sort((a, b) => a - b);
  return ids.map((id) => " " + formatGroup(bridge.groups.get(id)!, { protocol, portName }));
}
