/**
 * OpenFlow flow-table changes on a running switch: what `ovs-ofctl
 * add-flow(s)`, `mod-flows` and `del-flows` do to a bridge. The semantics
 * live in FlowTable (src/classifier/flow-table.ts, after OVS's ofproto.c
 * add_flow_start, modify_flows_start__, delete_flows_start__); this file
 * parses the text, spans tables and adds what OVS's front end adds.
 *
 * Invariants: every call that changes a table ends with bridge.touch(), so
 * the datapath revalidates the megaflows built on the old tables; a batch of
 * flows either parses whole or changes nothing.
 *
 * Semantics (FlowTable's, see there), and what is layered on top:
 * - add: FlowTable.add per flow; a rule with the same table, match and
 *   priority is updated in place, its counters carry over unless the flow
 *   says reset_counts.
 * - modify / delete select with FlowTable.select, non-strict (every rule
 *   whose match is at least as specific as the given one, any priority) or
 *   strict (same match and priority); cookie=V/M selects only rules whose
 *   cookie agrees with V under M. Without table=N both act on every table
 *   (ovs-ofctl's table_id 0xff).
 * - modify: FlowTable.modify, one rule at a time, because the actions are
 *   stored as the bridge's OpenFlow version decodes them, which depends on
 *   each rule's match. A cookie given without a mask becomes the rule's new
 *   cookie. When nothing matches, OpenFlow 1.0 and 1.1 add the flow (OVS
 *   does, for those versions, when no cookie mask is given); 1.2 and later
 *   change nothing.
 * Limits: out_port/out_group filters are not supported (the parser does not
 * return them, though FlowSelector takes them).
 */
import type { Bridge } from "../ofproto/bridge.js";
import { flushLearnedCookies, hasDeleteLearned } from "../ofproto/learned-cookies.js";
import { UsageError, assert } from "../errors.js";
import { tableOf, portNamesOf, addFlowSpecs, flowParseOptions, storedActions, type Rule } from "../ofproto/load.js";
import { FF_RESET_COUNTS, type FlowSelector } from "../classifier/flow-table.js";
import type { Action } from "../openflow/actions.js";
import { parseFlow, parseFlows } from "../ofctl/parse-flow.js";
import type { FlowSpec } from "../openflow/flow-spec.js";

/** Tables of a bridge (0..254); TABLE_ALL selects every one. */
export const TABLES_COUNT = 255;
export const TABLE_ALL = -1;

/** A parsed selection for mod-flows and del-flows. */
export interface FlowSelection {
  spec: FlowSpec;
  /** The table the text named, or TABLE_ALL. */
  table: number;
}

/**
 * Parses the text of a mod-flows or del-flows argument. Whether the text
 * named a table is told by parsing with two different default tables:
 * the parser offers no other way to say "absent".
 */
export function parseSelection(bridge: Bridge, text: string, needActions: boolean): FlowSelection {
  // A modify's actions are checked as an add's are (OVS's ofproto_check_ofpacts runs for both); a delete has none.
  const opts = needActions ? flowParseOptions(bridge) : { portNames: portNamesOf(bridge) };
  // The parser knows only additions, which may not mask cookies: take cookie=V/M out first.
  let cookie = 0n;
  let cookieMask = 0n;
  const m = /(^|[,\s])cookie=([0-9a-fA-Fx]+)\/([0-9a-fA-Fx]+)(?=$|[,\s])/.exec(text);
  if (m !== null) {
    cookie = parseCookie(m[2]);
    cookieMask = parseCookie(m[3]);
    text = (text.slice(0, m.index) + text.slice(m.index + m[0].length)).replace(/^[,\s]+/, "");
  }
  // del-flows takes a bare match; the parser wants actions, which delete ignores.
  const body = needActions ? text : text.trim() === "" ? "actions=drop" : `${text},actions=drop`;
  const spec = parseFlow(body, { ...opts, fileName: needActions ? "flow" : "match", defaultTable: 0 });
  const again = parseFlow(body, { ...opts, fileName: needActions ? "flow" : "match", defaultTable: 1 });
  if (m !== null) {
    spec.cookie = cookie & cookieMask;
    spec.cookieMask = cookieMask;
  }
  return { spec, table: spec.table === again.table ? spec.table : TABLE_ALL };
}

function parseCookie(text: string): bigint {
  if (!/^(0x[0-9a-fA-F]{1,16}|\d{1,20})$/.test(text)) throw new UsageError(`cookie: "${text}" is not a 64-bit number`);
  const v = BigInt(text);
  if (v > 0xffffffffffffffffn) throw new UsageError(`cookie: "${text}" is not a 64-bit number`);
  return v;
}

/** The FlowTable selector of a mod-flows / del-flows selection. */
function selectorOf(sel: FlowSelection, strict: boolean): FlowSelector<Action[]> {
  const spec = sel.spec;
  return { match: spec.match, strict, priority: spec.priority, cookie: spec.cookie, cookieMask: spec.cookieMask };
}

/** The rules a mod-flows or del-flows selects, tables in order (each rule knows its table). */
export function selectRules(bridge: Bridge, sel: FlowSelection, strict: boolean): Rule[] {
  const found: Rule[] = [];
  const selector = selectorOf(sel, strict);
  const first = sel.table === TABLE_ALL ? 0 : sel.table;
  const last = sel.table === TABLE_ALL ? TABLES_COUNT - 1 : sel.table;
  for (let t = first; t <= last; t++) {
    const table = tableOf(bridge, t);
    if (table.count === 0) continue;
    for (const r of table.flows.select(selector)) found.push(r);
  }
  return found;
}

/** Adds flows (ovs-ofctl add-flow / add-flows); returns how many. */
export function addFlows(bridge: Bridge, specs: FlowSpec[], nowMs: number): number {
  addFlowSpecs(bridge, specs, nowMs);
  return specs.length;
}

/** Parses and adds a flows file's text; nothing is added when a line is bad. */
export function addFlowsText(bridge: Bridge, text: string, fileName: string, nowMs: number): number {
  return addFlows(bridge, parseFlows(text, fileName, flowParseOptions(bridge)), nowMs);
}

/** Deletes the selected rules (ovs-ofctl del-flows); returns how many. */
export function deleteFlows(bridge: Bridge, sel: FlowSelection, strict: boolean): number {
  const selector = selectorOf(sel, strict);
  const first = sel.table === TABLE_ALL ? 0 : sel.table;
  const last = sel.table === TABLE_ALL ? TABLES_COUNT - 1 : sel.table;
  let count = 0;
  for (let t = first; t <= last; t++) {
    const table = tableOf(bridge, t);
    if (table.count !== 0) count += table.flows.delete(selector).length;
  }
  if (count > 0) {
    bridge.touch();
    flushLearnedCookies(bridge, false);
  }
  return count;
}

/** Modifies the actions of the selected rules (ovs-ofctl mod-flows); returns how many changed or were added. */
export function modifyFlows(bridge: Bridge, sel: FlowSelection, strict: boolean, nowMs: number): number {
  const spec = sel.spec;
  const rules = selectRules(bridge, sel, strict);
  if (rules.length === 0) {
    const addsWhenNone = bridge.protocol === "OpenFlow10" || bridge.protocol === "OpenFlow11";
    if (!addsWhenNone || spec.cookieMask !== 0n) return 0;
    addFlowSpecs(bridge, [{ ...spec, table: sel.table === TABLE_ALL ? 0 : sel.table }], nowMs);
    return 1;
  }
  // The parser cannot tell cookie=0 from no cookie: only a non-zero unmasked cookie is a new one.
  const cookie = spec.cookieMask === 0n && spec.cookie !== 0n ? spec.cookie : undefined;
  const flags = spec.flags.resetCounts ? FF_RESET_COUNTS : 0;
  try {
    for (const r of rules) {
      const actions = storedActions(bridge, spec.actions, r.match);
      const changed = tableOf(bridge, r.table).flows.modify({ match: r.match, strict: true, priority: r.priority }, { actions, cookie, flags }, nowMs);
      assert(changed.length === 1, "a strict modify of a selected rule changes one rule");
      assert(changed[0] === r, "a strict modify of a selected rule changes that rule");
      // dump-flows prints the actions as given (and decodes them as the bridge did); the rule's own fields override the rest.
      r.spec = { ...spec, table: r.table, priority: r.priority, match: r.match, cookie: r.cookie, cookieMask: 0n, stats: null };
    }
  } finally {
    bridge.touch();
    flushLearnedCookies(bridge, hasDeleteLearned(spec.actions));
  }
  return rules.length;
}

/** Parses `text` (one flow with actions) and modifies; see modifyFlows. */
export function modifyFlowsText(bridge: Bridge, text: string, strict: boolean, nowMs: number): number {
  return modifyFlows(bridge, parseSelection(bridge, text, true), strict, nowMs);
}

/** Parses `text` (a match, possibly empty) and deletes; see deleteFlows. */
export function deleteFlowsText(bridge: Bridge, text: string, strict: boolean): number {
  return deleteFlows(bridge, parseSelection(bridge, text, false), strict);
}
