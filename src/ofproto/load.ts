/**
 * Building a switch from files: a topology (topology.ts) or a single bridge
 * from a flows file, with tables filled from ovs-ofctl flow text and groups
 * from add-groups text. Also the OpenFlow table each bridge uses: a thin
 * adapter that makes a FlowTable<Action[]> (classifier/flow-table.ts, which
 * owns every OpenFlow add/modify/delete/timeout/counter rule) an OfTable.
 *
 * Invariants: a bridge table's rules are `Rule`s whose `table` is the index
 * of the bridge table holding them; every change to a bridge's rules ends
 * with bridge.touch(), so the datapath revalidates its megaflows.
 * Limits: timeouts run only when expire() is called; nothing here reads a
 * clock unless the caller leaves nowMs to its default.
 */
import { readFileSync } from "node:fs";
import { findField } from "../flow/fields.js";
import { Match } from "../flow/match.js";
import type { Action } from "../openflow/actions.js";
import { noFlags, type FlowFlags, type FlowSpec } from "../openflow/flow-spec.js";
import {
  FlowRule,
  FlowTable,
  FF_CHECK_OVERLAP,
  FF_NO_BYT_COUNTS,
  FF_NO_PKT_COUNTS,
  FF_RESET_COUNTS,
  FF_SEND_FLOW_REM,
  type FlowSpec as RuleSpec,
  type RemovedRule,
} from "../classifier/flow-table.js";
import { parseFlows, type ParseFlowOptions } from "../ofctl/parse-flow.js";
import { formatActions, roundTrip, protocolVersion, type OfProtocol } from "../ofctl/format-actions.js";
import { setActionFormatter, setSubfieldFormatter } from "../xlate/xlate.js";
import { formatSubfield } from "../ofctl/mf.js";
import { parseGroups } from "../ofctl/parse-group.js";
import { addGroups } from "./group-table.js";
import { flushLearnedCookies, hasDeleteLearned } from "./learned-cookies.js";
import { parseMeters } from "../ofctl/parse-meter.js";
import { addMeter } from "./meter-table.js";
import { Switch, type Bridge, type PortConfig } from "./bridge.js";
import type { OfRule, OfTable } from "./table.js";
import type { Conjunction } from "../classifier/classifier.js";
import { buildSwitch, readTopology, type FlowLoader } from "./topology.js";
import type { LearnedFlow } from "../xlate/xlate.js";

/** Bridge tables 0..254 (OpenFlow's table ids; 255 means "all"). */
export const BRIDGE_TABLES_COUNT = 255;

/**
 * One rule of a bridge table: a FlowRule plus what the bridge needs beside
 * it. OpenFlowTable.add sets both extra fields right after the FlowTable
 * makes the rule (-1 and null only in between).
 */
export class Rule extends FlowRule<Action[]> implements OfRule {
  /** The bridge table holding the rule. */
  table: number;
  /** The flow line the rule came from, for dump-flows to print what was added; null for learned flows. */
  spec: FlowSpec | null;

  constructor(spec: RuleSpec<Action[]>, nowMs: number) {
    super(spec, nowMs);
    this.table = -1;
    this.spec = null;
  }

  /** lastUsedMs under the name the daemon and older callers use. */
  get usedMs(): number {
    return this.lastUsedMs;
  }

  set usedMs(ms: number) {
    this.lastUsedMs = ms;
  }
}

/** OVS tracks prefixes of nw_src and nw_dst by default (Flow_Table prefixes). */
const PREFIX_FIELDS = ["nw_dst", "nw_src"].map((n) => findField(n)!);

const newRule = (spec: RuleSpec<Action[]>, nowMs: number): Rule => new Rule(spec, nowMs);

/**
 * A flow whose actions are conjunction(...) (with at most notes beside them,
 * as ofproto.c's get_conjunctions allows) is a clause flow of a conjunctive
 * match; the action parser already refuses conjunction mixed with others.
 */
function conjunctionsOf(actions: Action[]): Conjunction[] | null {
  let out: Conjunction[] | null = null;
  for (const a of actions) {
    if (a.type === "conjunction") (out ??= []).push({ id: a.id, clause: a.clause, nClauses: a.nClauses });
    else if (a.type !== "note") return null;
  }
  return out;
}

/** The FF_* bits of a parsed flow's flags. */
export function flagBits(f: FlowFlags): number {
  return (
    (f.sendFlowRem ? FF_SEND_FLOW_REM : 0) |
    (f.noPacketCounts ? FF_NO_PKT_COUNTS : 0) |
    (f.noByteCounts ? FF_NO_BYT_COUNTS : 0) |
    (f.checkOverlap ? FF_CHECK_OVERLAP : 0) |
    (f.resetCounts ? FF_RESET_COUNTS : 0)
  );
}

/** The parsed-flow flags of FF_* bits (flagBits' inverse). */
export function flowFlagsOf(bits: number): FlowFlags {
  const f = noFlags();
  f.sendFlowRem = (bits & FF_SEND_FLOW_REM) !== 0;
  f.noPacketCounts = (bits & FF_NO_PKT_COUNTS) !== 0;
  f.noByteCounts = (bits & FF_NO_BYT_COUNTS) !== 0;
  f.checkOverlap = (bits & FF_CHECK_OVERLAP) !== 0;
  f.resetCounts = (bits & FF_RESET_COUNTS) !== 0;
  return f;
}

/** A bridge table: OfTable over a FlowTable, which holds the rules and their OpenFlow semantics. */
export class OpenFlowTable implements OfTable {
  readonly flows = new FlowTable<Action[], Rule>({ prefixFields: PREFIX_FIELDS, conjunctionsOf }, newRule);

  lookup(keys: Uint32Array, base: number, wc: Uint32Array | null, wcBase: number): Rule | null {
    return this.flows.lookup(keys, base, wc, wcBase);
  }

  credit(rule: OfRule, packets: number, bytes: number, nowMs: number): void {
    this.flows.credit(rule as Rule, packets, bytes, nowMs);
  }

  /**
   * OpenFlow add (FlowTable.add: a rule with the same match and priority is
   * updated in place) into bridge table `table`; `line` is the flow line it
   * came from, null for a learned flow. Throws FlowModError (check_overlap,
   * table full).
   */
  add(table: number, spec: RuleSpec<Action[]>, line: FlowSpec | null, nowMs: number): Rule {
    const { rule } = this.flows.add(spec, nowMs);
    rule.table = table;
    rule.spec = line;
    return rule;
  }

  rules(): Rule[] {
    return this.flows.rules();
  }

  get count(): number {
    return this.flows.count;
  }
}

export function newTable(): OfTable {
  return new OpenFlowTable();
}

export function tableOf(bridge: Bridge, id: number): OpenFlowTable {
  return bridge.tables[id] as OpenFlowTable;
}

/** Port names of a bridge for flow text (in_port=NAME, output:NAME). */
export function portNamesOf(bridge: Bridge): Map<string, number> {
  return new Map(bridge.ports.map((p) => [p.name, p.ofport]));
}

/**
 * How flow text for a bridge is parsed: its port names, and what the bridge
 * refuses as OVS's does (a group or meter it lacks; actions OpenFlow 1.1+
 * cannot carry for the match when the bridge speaks 1.1+).
 */
export function flowParseOptions(bridge: Bridge): ParseFlowOptions {
  return {
    portNames: portNamesOf(bridge),
    protocol: bridge.protocol,
    groupExists: (groupId) => bridge.groups.has(groupId),
    meterExists: (meterId) => bridge.meters.has(meterId),
    of10Only: bridge.of10Only,
    forDatapath: true,
  };
}

// Trace prints each action in ovs-ofctl's text.
setActionFormatter((a, portName) => formatActions([a], { portName }));
setSubfieldFormatter(formatSubfield);

/**
 * Adds flows to a bridge. Their actions are kept as the switch would hold
 * them after receiving them in the bridge's OpenFlow version (OVS stores
 * what it decoded: mod_vlan_vid sent in OpenFlow 1.3 becomes push_vlan plus
 * set_field), so trace and dump-flows show what OVS shows. Each is an
 * OpenFlow add (see FlowTable.add: a replaced rule keeps its counters unless
 * the flow says reset_counts). A FlowModError (check_overlap, table full)
 * stops the batch; the flows added before it stay, as they do in OVS when
 * flow_mods are sent one by one, and the bridge is touched either way.
 */
export function addFlowSpecs(bridge: Bridge, specs: FlowSpec[], nowMs = Date.now()): void {
  let deleteLearned = false;
  try {
    for (const s of specs) {
      const actions = storedActions(bridge, s.actions, s.match);
      const spec = {
        match: s.match,
        priority: s.priority,
        actions,
        cookie: s.cookie,
        idleTimeout: s.idleTimeout,
        hardTimeout: s.hardTimeout,
        importance: s.importance,
        flags: flagBits(s.flags),
      };
      tableOf(bridge, s.table).add(s.table, spec, s, nowMs);
      if (!deleteLearned && hasDeleteLearned(actions)) deleteLearned = true;
    }
  } finally {
    bridge.touch();
    // A flow added in place of one with learn(delete_learned) may end that learn's flows.
    flushLearnedCookies(bridge, deleteLearned);
  }
}

/**
 * A flow's actions as the bridge holds them: as decoded after the trip in
 * the bridge's OpenFlow version. A bridge with no protocols set (version
 * "OpenFlow10" by default) keeps them as written, as ovs-ofctl picks a
 * version that carries them when the switch speaks them all; one limited
 * to OpenFlow 1.0 gets what ovs-ofctl -O OpenFlow10 sends (ofp-actions.c
 * encode_GOTO_TABLE etc.: goto_table as resubmit(,N), no write_actions or
 * clear_actions).
 */
export function storedActions(bridge: Bridge, actions: FlowSpec["actions"], match: Match): FlowSpec["actions"] {
  if (bridge.protocol === "OpenFlow10" && !bridge.of10Only) return actions;
  return roundTrip(actions, protocolVersion(bridge.protocol as OfProtocol), match);
}

export const openflowLoader: FlowLoader = {
  loadGroups(bridge, text, file) {
    // As add-groups: a group id given twice is refused (OFPGMFC_GROUP_EXISTS).
    addGroups(bridge, parseGroups(text, file, { portNames: portNamesOf(bridge) }));
  },
  loadMeters(bridge, text, file) {
    // As add-meter line by line: an id given twice is refused (OFPMMFC_METER_EXISTS).
    for (const m of parseMeters(text, file)) addMeter(bridge, m);
  },
  loadFlows(bridge, text, file) {
    addFlowSpecs(bridge, parseFlows(text, file, flowParseOptions(bridge)));
  },
  defaultFlows(bridge) {
    addFlowSpecs(bridge, parseFlows("priority=0 actions=NORMAL", "(default)"));
  },
};

/** A switch from a topology file. */
export function loadTopology(file: string): Switch {
  return buildSwitch(readTopology(file), file, newTable, openflowLoader);
}

/** One bridge "br0" with the given ports and the flows of a file (replay --flows shortcut). */
export function singleBridge(flowsFile: string, ports: PortConfig[], bridgeName = "br0", readText = (p: string) => readFileSync(p, "utf8")): Switch {
  const sw = new Switch(newTable);
  const br = sw.addBridge(bridgeName);
  for (const p of ports) sw.addPort(br, p);
  openflowLoader.loadFlows(br, readText(flowsFile), flowsFile);
  return sw;
}

/**
 * Adds the flow a learn() action asks for: an OpenFlow add (FlowTable.add),
 * so a rule it replaces keeps its counters, as OVS forwards them when learn
 * modifies a flow. The same flow again (match, priority, cookie and actions)
 * only marks the rule used: nothing a megaflow depends on changes, so the
 * bridge version stays.
 */
export function addLearnedFlow(bridge: Bridge, f: LearnedFlow, nowMs: number): boolean {
  const match = new Match(f.match.value.slice(), f.match.mask.slice());
  const table = tableOf(bridge, f.table);
  const existing = table.flows.find(match, f.priority);
  if (existing && existing.cookie === f.cookie && formatActions(existing.actions) === formatActions(f.actions)) {
    if (nowMs > existing.lastUsedMs) existing.lastUsedMs = nowMs;
    return true;
  }
  // learn(limit=N): ofproto_flow_mod_learn counts the table's rules with the learned cookie.
  if (f.limit > 0) {
    let withCookie = 0;
    for (const r of table.rules()) if (r.cookie === f.cookie) withCookie++;
    if (withCookie >= f.limit) return false;
  }
  const spec = { match, priority: f.priority, actions: f.actions, cookie: f.cookie, idleTimeout: f.idleTimeout, hardTimeout: f.hardTimeout };
  const rule = table.add(f.table, spec, null, nowMs);
  // Learning is a use: a replaced rule's idle timeout starts again.
  if (nowMs > rule.lastUsedMs) rule.lastUsedMs = nowMs;
  bridge.touch();
  return true;
}

/**
 * Removes every rule of the bridge whose idle or hard timeout has passed at
 * nowMs (FlowTable.expire) and touches the bridge when any went. Call it
 * from the switch's periodic maintenance (where the datapath ages its
 * megaflows), before revalidation, so no megaflow outlives its rule.
 */
export function expire(bridge: Bridge, nowMs: number): RemovedRule<Action[], Rule>[] {
  const removed: RemovedRule<Action[], Rule>[] = [];
  for (let t = 0; t < bridge.tables.length; t++) {
    const table = tableOf(bridge, t);
    if (table.count === 0) continue;
    for (const r of table.flows.expire(nowMs)) removed.push(r);
  }
  if (removed.length > 0) {
    bridge.touch();
    flushLearnedCookies(bridge, false);
  }
  return removed;
}
