import { describe, expect, it } from "vitest";
import { buildSwitch, validateTopology } from "./topology.js";
import { newTable, openflowLoader, tableOf } from "./load.js";
import { addFlowsText, modifyFlowsText } from "../daemon/flowmod.js";
import { FlowSyntaxError } from "../ofctl/errors.js";

/** A switch from a topology whose files are the given texts (paths under /t). */
function build(bridge: Record<string, string>, files: Record<string, string>) {
  const spec = validateTopology({ bridges: [{ name: "br0", ...bridge }], ports: [{ name: "p1", bridge: "br0", ofport: 1 }] }, "/t/topo.json");
  return buildSwitch(spec, "/t/topo.json", newTable, openflowLoader, (p) => {
    const text = files[p];
    if (text === undefined) throw Object.assign(new Error("no file"), { code: "ENOENT" });
    return text;
  });
}

function syntaxError(fn: () => unknown): FlowSyntaxError {
  try {
    fn();
  } catch (e) {
    if (e instanceof FlowSyntaxError) return e;
    throw e;
  }
  throw new Error("expected a FlowSyntaxError");
}

describe("loading flows as the bridge would take them", () => {
  const groups = "group_id=1,type=all,bucket=output:1\n";

  it("refuses a flows file line naming a group the bridge lacks, naming file, line and column", () => {
    const flows = "priority=1,actions=group:1\n# comment\npriority=2,actions=output:1,group:9\n";
    const e = syntaxError(() => build({ flows: "br0.flows", groups: "br0.groups" }, { "/t/br0.flows": flows, "/t/br0.groups": groups }));
    expect(e.message).toBe("/t/br0.flows:3:29: group 9 does not exist (OFPBAC_BAD_OUT_GROUP)");
  });

  it("loads group actions naming the bridge's groups", () => {
    const sw = build({ flows: "br0.flows", groups: "br0.groups" }, { "/t/br0.flows": "actions=group:1\n", "/t/br0.groups": groups });
    expect(tableOf(sw.byName.get("br0")!, 0).count).toBe(1);
  });

  it("refuses for an OpenFlow 1.3 bridge what OVS sends only as OpenFlow 1.0, and takes it for an OpenFlow 1.0 one", () => {
    const flows = "tcp,ip_frag=later actions=mod_tp_src:1\n";
    const e = syntaxError(() => build({ protocols: "OpenFlow10,OpenFlow13", flows: "f" }, { "/t/f": flows }));
    expect(e.message).toMatch(/^\/t\/f:1:27: mod_tp_src needs tcp, udp or sctp, and not ip_frag=later in the match for OpenFlow13/);
    const sw = build({ protocols: "OpenFlow10", flows: "f" }, { "/t/f": flows });
    expect(tableOf(sw.byName.get("br0")!, 0).count).toBe(1);
  });

  it("refuses add-flows and mod-flows on a running bridge naming a missing group, changing nothing", () => {
    const sw = build({ protocols: "OpenFlow13", flows: "f", groups: "g" }, { "/t/f": "priority=5,ip,actions=drop\n", "/t/g": groups });
    const br = sw.byName.get("br0")!;
    expect(syntaxError(() => addFlowsText(br, "actions=group:1\nactions=group:2\n", "flow", 0)).message).toBe(
      "flow:2:9: group 2 does not exist (OFPBAC_BAD_OUT_GROUP)",
    );
    expect(tableOf(br, 0).count).toBe(1);
    expect(syntaxError(() => modifyFlowsText(br, "ip actions=clone(group:3)", false, 0)).reason).toBe(
      "group 3 does not exist (OFPBAC_BAD_OUT_GROUP)",
    );
    expect(tableOf(br, 0).rules()[0].actions).toEqual([]);
    expect(addFlowsText(br, "actions=group:1", "flow", 0)).toBe(1);
  });
});
