/**
 * Group-table changes on a running bridge (src/ofproto/group-table.ts,
 * src/daemon/groupmod.ts): what OVS answers to add-group, mod-group and
 * del-groups (checked step by step against OVS in
 * test/ovs/group-mods.test.ts), the errors a user sees, and a cached
 * datapath that never forwards by a group that changed or went.
 */
import { describe, expect, it } from "vitest";
import { singleBridge } from "../../src/ofproto/load.js";
import type { Switch } from "../../src/ofproto/bridge.js";
import { addFlowsText } from "../../src/daemon/flowmod.js";
import { addGroupsText, deleteGroupsText, dumpGroups, modifyGroupText } from "../../src/daemon/groupmod.js";
import { dumpBridgeFlows } from "../../src/cli/dump-flows.js";
import { Datapath } from "../../src/datapath/dpif.js";
import { eth, ipv4, udp } from "../../src/packet/build.js";

function switchWith(flows: string, groups = ""): Switch {
  const sw = singleBridge("flows.txt", [1, 2, 3, 4].map((n) => ({ name: `p${n}`, ofport: n })), "br0", () => "");
  const br = sw.byName.get("br0")!;
  // OpenFlow 1.3, as the differential runs: dump-groups then prints no bucket ids.
  br.protocol = "OpenFlow13";
  if (groups) addGroupsText(br, groups, "groups.txt");
  if (flows) addFlowsText(br, flows, "flows.txt", 0);
  return sw;
}
const flows = (sw: Switch): string[] => dumpBridgeFlows(sw.byName.get("br0")!, { stats: false }).map((l) => l.trim());
const groups = (sw: Switch): string[] => dumpGroups(sw.byName.get("br0")!).map((l) => l.trim());

describe("group changes on a running bridge", () => {
  it("adds groups all or nothing: an id it has, or one given twice, refuses the batch", () => {
    const sw = switchWith("", "group_id=1,type=all,bucket=output:2");
    const br = sw.byName.get("br0")!;
    const v = br.version;
    expect(() => addGroupsText(br, "group_id=5,type=all,bucket=output:2\ngroup_id=1,type=all,bucket=output:3", "g.txt")).toThrow(/OFPGMFC_GROUP_EXISTS: group 1 exists already/);
    expect(() => addGroupsText(br, "group_id=6,type=all,bucket=output:2\ngroup_id=6,type=all,bucket=output:3", "g.txt")).toThrow(/OFPGMFC_GROUP_EXISTS/);
    expect(() => addGroupsText(br, "group_id=7,type=all,bucket=output:2\ngroup_id=8,type=alll,bucket=output:3", "g.txt")).toThrow(/g\.txt:2:.*invalid group type alll/);
    expect(groups(sw)).toEqual(["group_id=1,type=all,bucket=actions=output:2"]);
    expect(br.version).toBe(v);
    expect(addGroupsText(br, "group_id=3,type=indirect,bucket=output:4\ngroup_id=2,type=all,bucket=output:3", "g.txt")).toBe(2);
    expect(br.version).toBeGreaterThan(v);
    // dump-groups lists by group id.
    expect(groups(sw).map((l) => l.split(",")[0])).toEqual(["group_id=1", "group_id=2", "group_id=3"]);
  });

  it("modifies a group in place, refuses an unknown one unless may-create", () => {
    const sw = switchWith("in_port=1,actions=group:1", "group_id=1,type=all,bucket=output:2");
    const br = sw.byName.get("br0")!;
    expect(() => modifyGroupText(br, "group_id=9,type=all,bucket=output:2", false)).toThrow(/OFPGMFC_UNKNOWN_GROUP: group 9 does not exist/);
    modifyGroupText(br, "group_id=9,type=all,bucket=output:2", true);
    modifyGroupText(br, "group_id=1,type=select,bucket=output:3,bucket=output:4", false);
    expect(groups(sw)).toEqual(["group_id=1,type=select,bucket=actions=output:3,bucket=actions=output:4", "group_id=9,type=all,bucket=actions=output:2"]);
    expect(flows(sw)).toEqual(["in_port=1 actions=group:1"]);
  });

  it("deletes a group with the flows that name it, nested ones included; groups naming it stay", () => {
    const sw = switchWith(
      ["priority=10,in_port=1,actions=group:1", "priority=9,in_port=1,actions=clone(group:1),output:3", "priority=8,in_port=2,actions=group:2", "priority=7,actions=output:4"].join("\n"),
      "group_id=1,type=all,bucket=output:2\ngroup_id=2,type=indirect,bucket=group:1",
    );
    const br = sw.byName.get("br0")!;
    expect(deleteGroupsText(br, "group_id=1")).toEqual({ groups: 1, flows: 2 });
    expect(flows(sw)).toEqual(["priority=8,in_port=2 actions=group:2", "priority=7 actions=output:4"]);
    expect(groups(sw)).toEqual(["group_id=2,type=indirect,bucket=actions=group:1"]);
    const v = br.version;
    expect(deleteGroupsText(br, "group_id=1")).toEqual({ groups: 0, flows: 0 });
    expect(br.version).toBe(v);
    expect(() => deleteGroupsText(br, "group_id=2,type=all")).toThrow(/type is not needed/);
    expect(() => deleteGroupsText(br, "group_id=x")).toThrow(/group/);
    expect(deleteGroupsText(br, "")).toEqual({ groups: 1, flows: 1 });
    expect(flows(sw)).toEqual(["priority=7 actions=output:4"]);
    expect(groups(sw)).toEqual([]);
  });

  it("refuses a flow naming a deleted group", () => {
    const sw = switchWith("", "group_id=1,type=all,bucket=output:2");
    const br = sw.byName.get("br0")!;
    deleteGroupsText(br, "group_id=all");
    expect(() => addFlowsText(br, "in_port=1,actions=group:1", "flow", 0)).toThrow(/OFPBAC_BAD_OUT_GROUP/);
  });

  it("never forwards a cached packet by a group that changed or was deleted", () => {
    const sw = switchWith("priority=10,in_port=1,actions=group:1\npriority=5,in_port=1,actions=output:4", "group_id=1,type=all,bucket=output:2");
    const br = sw.byName.get("br0")!;
    const dp = new Datapath(sw, { emcInsertInvProb: 1 });
    const frame = eth({ src: "fa:16:3e:00:00:01", dst: "fa:16:3e:00:00:02" }, ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }, udp({ src: 1, dst: 2 })));
    const inPort = new Uint32Array([sw.portsByName.get("p1")!.dpPort]);
    const send = (): string[] => {
      const out: string[] = [];
      dp.processBatch(frame, new Uint32Array([0]), new Uint32Array([frame.length]), inPort, 1, 0, (port) => out.push(sw.dpPortName(port) ?? `#${port}`));
      return out;
    };
    expect(send()).toEqual(["p2"]);
    expect(send()).toEqual(["p2"]);
    expect(dp.stats.emcHits + dp.stats.megaflowHits).toBeGreaterThan(0);
    modifyGroupText(br, "group_id=1,type=all,bucket=output:3,bucket=output:2", false);
    expect(send()).toEqual(["p3", "p2"]);
    deleteGroupsText(br, "group_id=1");
    expect(send()).toEqual(["p4"]);
  });
});
