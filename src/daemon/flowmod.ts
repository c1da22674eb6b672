/**
 * OpenFlow flow-table changes on a running switch: what `ovs-ofctl
 * add-flow(s)`, `mod-flows` and `del-flows` do to a bridge (OVS's
 * ofproto.c add_flow_start, modify_flows_start__, delete_flows_start__).
 *
 * Invariants: every call that changes a table ends with bridge.touch(), so
 * the datapath revalidates the megaflows built on the old tables; a batch of
 * flows either parses whole or changes nothing.
 *
 * Semantics, as OVS has them:
 * - add: a rule with the same table, match and priority is replaced; its
 *   counters carry over to the new rule unless the flow says reset_counts
 *   (replace_rule_start's forward_counts), its age starts again.
 * - modify / delete, non-strict: every rule whose match is a subset of the
 *   given one (pins every field the given match pins, to the same value),
 *   whatever its priority; strict: the rule with exactly this match and
 *   priority. Without table=N both act on every table (ovs-ofctl's
 *   table_id 0xff). cookie=V/M selects only rules whose cookie agrees with V
 *   under M.
 * - modify keeps the rule's counters, creation time and timeouts and
 *   replaces its actions; a cookie given without a mask becomes the rule's
 *   new cookie. When nothing matches, OpenFlow 1.0 and 1.1 add the flow
 *   (OVS does, for those versions, when no cookie mask is given); 1.2 and
 *   later change nothing.
 * Limits: out_port/out_group filters are not supported (the parser does not
 * return them).
 */
import type { Bridge } from "../ofproto/bridge.js";
import { UsageError } from "../errors.js";
import { Rule, tableOf, portNamesOf, addFlowSpecs } from "../ofproto/load.js";
import { parseFlow, parseFlows } from "../ofctl/parse-flow.js";
import type { FlowSpec } from "../openflow/flow-spec.js";
import { roundTrip, protocolVersion, type OfProtocol } from "../ofctl/format-actions.js";

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
  const portNames = portNamesOf(bridge);
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
  const spec = parseFlow(body, { fileName: needActions ? "flow" : "match", portNames, defaultTable: 0 });
  const again = parseFlow(body, { fileName: needActions ? "flow" : "match", portNames, defaultTable: 1 });
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

function cookieAgrees(rule: Rule, spec: FlowSpec): boolean {
  if (spec.cookieMask === 0n) return true;
  return (rule.cookie & spec.cookieMask) === (spec.cookie & spec.cookieMask);
}

/** The rules a mod-flows or del-flows selects, with the table of each. */
export function selectRules(bridge: Bridge, sel: FlowSelection, strict: boolean): Rule[] {
  const found: Rule[] = [];
  const first = sel.table === TABLE_ALL ? 0 : sel.table;
  const last = sel.table === TABLE_ALL ? TABLES_COUNT - 1 : sel.table;
  for (let t = first; t <= last; t++) {
    const table = tableOf(bridge, t);
    if (table.count === 0) continue;
    for (const r of table.cls.findMatches(sel.spec.match, strict, sel.spec.priority)) {
      if (cookieAgrees(r, sel.spec)) found.push(r);
    }
  }
  return found;
}

/** Adds flows (ovs-ofctl add-flow / add-flows); returns how many. */
export function addFlows(bridge: Bridge, specs: FlowSpec[], nowMs: number): number {
  // Counters of replaced rules, by rule object, before addFlowSpecs replaces them.
  const carried: { spec: FlowSpec; old: Rule }[] = [];
  for (const s of specs) {
    const old = tableOf(bridge, s.table).cls.findExact(s.match, s.priority);
    if (old !== null && !s.flags.resetCounts) carried.push({ spec: s, old });
  }
  addFlowSpecs(bridge, specs, nowMs);
  for (const { spec, old } of carried) {
    const now = tableOf(bridge, spec.table).cls.findExact(spec.match, spec.priority);
    if (now === null || now === old) continue;
    now.nPackets = old.nPackets;
    now.nBytes = old.nBytes;
  }
  return specs.length;
}

/** Parses and adds a flows file's text; nothing is added when a line is bad. */
export function addFlowsText(bridge: Bridge, text: string, fileName: string, nowMs: number): number {
  return addFlows(bridge, parseFlows(text, fileName, { portNames: portNamesOf(bridge) }), nowMs);
}

/** Deletes the selected rules (ovs-ofctl del-flows); returns how many. */
export function deleteFlows(bridge: Bridge, sel: FlowSelection, strict: boolean): number {
  const rules = selectRules(bridge, sel, strict);
  for (const r of rules) tableOf(bridge, r.table).cls.remove(r);
  if (rules.length) bridge.touch();
  return rules.length;
}

/** Modifies the actions of the selected rules (ovs-ofctl mod-flows); returns how many changed or were added. */
export function modifyFlows(bridge: Bridge, sel: FlowSelection, strict: boolean, nowMs: number): number {
  const spec = sel.spec;
  const rules = selectRules(bridge, sel, strict);
  if (rules.length === 0) {
    const addsWhenNone = bridge.protocol === "OpenFlow10" || bridge.protocol === "OpenFlow11";
    if (!addsWhenNone || spec.cookieMask !== 0n) return 0;
    const add = { ...spec, table: sel.table === TABLE_ALL ? 0 : sel.table };
    addFlowSpecs(bridge, [add], nowMs);
    return 1;
  }
  const version = protocolVersion(bridge.protocol as OfProtocol);
  const setsCookie = spec.cookieMask === 0n && spec.cookie !== 0n;
  for (const old of rules) {
    const actions = bridge.protocol === "OpenFlow10" ? spec.actions : roundTrip(spec.actions, version, old.match);
    const cookie = setsCookie ? spec.cookie : old.cookie;
    const newSpec: FlowSpec = {
      ...spec,
      table: old.table,
      priority: old.priority,
      match: old.match,
      cookie,
      cookieMask: 0n,
      idleTimeout: old.idleTimeout,
      hardTimeout: old.hardTimeout,
      stats: null,
    };
    const rule = new Rule(old.table, old.match, old.priority, cookie, actions, old.idleTimeout, old.hardTimeout, old.createdMs, newSpec);
    if (!spec.flags.resetCounts) {
      rule.nPackets = old.nPackets;
      rule.nBytes = old.nBytes;
    }
    rule.usedMs = old.usedMs;
    tableOf(bridge, old.table).cls.replace(rule);
  }
  bridge.touch();
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
