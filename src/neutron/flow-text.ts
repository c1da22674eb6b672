/**
 * Flows as the Neutron compilers build them, and their printing: each flow
 * is written in ovs-ofctl syntax, parsed with flowplane's parser and printed
 * back the way `ovs-ofctl dump-flows --no-stats` prints it over OpenFlow 1.0
 * with Nicira extensions (the form of every flow dump in Neutron's
 * documentation: load:...->NXM_NX_REG5[], strip_vlan). Adding a flow whose
 * table, priority and match equal an earlier one's replaces its actions and
 * keeps its place, as `ovs-ofctl add-flow` modifies a flow that exists: the
 * drivers add some flows once per port (table 82's +inv drop), and the result
 * is the bridge's final state.
 */
import { parseFlow } from "../ofctl/parse-flow.js";
import { formatFlow } from "../ofctl/format-flow.js";

/** One flow before printing: match fields in any order, as "key=value" or a keyword ("arp"). */
export interface RawFlow {
  table: number;
  priority: number;
  match: string[];
  actions: string;
}

export const rawFlowText = (f: RawFlow): string =>
  `table=${f.table},priority=${f.priority}${f.match.length ? "," + f.match.join(",") : ""} actions=${f.actions}`;

/** A flow line in dump-flows form (the parser throws a FlowSyntaxError on a compiler bug). */
export function canonicalFlow(text: string): string {
  return formatFlow(parseFlow(text), { protocol: "OpenFlow10" });
}

/** Collects flows in order; a repeated match replaces the earlier flow's actions in place. */
export class FlowSet {
  private readonly byMatch = new Map<string, string>();

  add(f: RawFlow): void {
    const line = canonicalFlow(rawFlowText(f));
    const cut = line.indexOf(" actions=");
    const key = line.slice(0, cut);
    this.byMatch.set(key, line);
  }

  lines(): string[] {
    return [...this.byMatch.values()];
  }
}
