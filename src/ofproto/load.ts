/**
 * Building a switch from files: a topology (topology.ts) or a single bridge
 * from a flows file, with tables filled from ovs-ofctl flow text and groups
 * from add-groups text. Also the OpenFlow table each bridge uses, joining
 * the classifier to OpenFlow rule bookkeeping (statistics, learn()).
 */
import { readFileSync } from "node:fs";
import { Classifier } from "../classifier/classifier.js";
import { findField } from "../flow/fields.js";
import { Match } from "../flow/match.js";
import type { Action } from "../openflow/actions.js";
import type { FlowSpec } from "../openflow/flow-spec.js";
import { parseFlows } from "../ofctl/parse-flow.js";
import { formatActions, roundTrip, protocolVersion, type OfProtocol } from "../ofctl/format-actions.js";
import { setActionFormatter } from "../xlate/xlate.js";
import { parseGroups } from "../ofctl/parse-group.js";
import { Switch, type Bridge, type PortConfig } from "./bridge.js";
import type { OfRule, OfTable } from "./table.js";
import { buildSwitch, readTopology, type FlowLoader } from "./topology.js";
import type { LearnedFlow } from "../xlate/xlate.js";

/** One OpenFlow rule with its counters. */
export class Rule implements OfRule {
  nPackets = 0;
  nBytes = 0;
  usedMs: number;
  constructor(
    readonly table: number,
    readonly match: Match,
    readonly priority: number,
    readonly cookie: bigint,
    readonly actions: Action[],
    readonly idleTimeout: number,
    readonly hardTimeout: number,
    public createdMs: number,
    readonly spec: FlowSpec | null,
  ) {
    this.usedMs = createdMs;
  }
}

/** OVS tracks prefixes of nw_src and nw_dst by default (Flow_Table prefixes). */
const PREFIX_FIELDS = ["nw_src", "nw_dst"].map((n) => findField(n)!);

export class OpenFlowTable implements OfTable {
  readonly cls = new Classifier<Rule>({ prefixFields: PREFIX_FIELDS });

  lookup(keys: Uint32Array, base: number, wc: Uint32Array | null, wcBase: number): Rule | null {
    return this.cls.lookup(keys, base, wc, wcBase);
  }

  credit(rule: OfRule, packets: number, bytes: number, nowMs: number): void {
    const r = rule as Rule;
    r.nPackets += packets;
    r.nBytes += bytes;
    if (nowMs > r.usedMs) r.usedMs = nowMs;
  }

  /** Adds a rule; one with the same match and priority is replaced (OpenFlow add). */
  add(rule: Rule): void {
    this.cls.replace(rule);
  }

  rules(): Rule[] {
    return this.cls.rules();
  }

  get count(): number {
    return this.cls.count;
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

// Trace prints each action in ovs-ofctl's text.
setActionFormatter((a, portName) => formatActions([a], { portName }));

/**
 * Adds flows to a bridge. Their actions are kept as the switch would hold
 * them after receiving them in the bridge's OpenFlow version (OVS stores
 * what it decoded: mod_vlan_vid sent in OpenFlow 1.3 becomes push_vlan plus
 * set_field), so trace and dump-flows show what OVS shows.
 */
export function addFlowSpecs(bridge: Bridge, specs: FlowSpec[], nowMs = Date.now()): void {
  const version = protocolVersion(bridge.protocol as OfProtocol);
  for (const s of specs) {
    const actions = bridge.protocol === "OpenFlow10" ? s.actions : roundTrip(s.actions, version, s.match);
    tableOf(bridge, s.table).add(new Rule(s.table, s.match, s.priority, s.cookie, actions, s.idleTimeout, s.hardTimeout, nowMs, s));
  }
  bridge.touch();
}

export const openflowLoader: FlowLoader = {
  loadGroups(bridge, text, file) {
    for (const g of parseGroups(text, file, { portNames: portNamesOf(bridge) })) bridge.groups.set(g.groupId, g);
    bridge.touch();
  },
  loadFlows(bridge, text, file) {
    addFlowSpecs(bridge, parseFlows(text, file, { portNames: portNamesOf(bridge) }));
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

/** Adds the flow a learn() action asks for (replacing one with the same match and priority). */
export function addLearnedFlow(bridge: Bridge, f: LearnedFlow, nowMs: number): void {
  const match = new Match(f.match.value.slice(), f.match.mask.slice());
  const table = tableOf(bridge, f.table);
  const existing = table.cls.findExact(match, f.priority);
  if (existing && existing.cookie === f.cookie && formatActions(existing.actions) === formatActions(f.actions)) {
    // The same flow again: only its age is refreshed, nothing a megaflow depends on changes.
    existing.usedMs = nowMs;
    return;
  }
  table.add(new Rule(f.table, match, f.priority, f.cookie, f.actions, f.idleTimeout, f.hardTimeout, nowMs, null));
  bridge.touch();
}
