/**
 * Differential: groups whose buckets output to other groups, against OVS.
 * OVS (ofproto.c add_group_start) does not check the groups a bucket names:
 * a bucket may name a group added later, a group that never exists, or
 * form a loop. Translation (xlate_group_action) then reports "output to
 * nonexistent group N" and ends that bucket's actions only, and each bucket
 * counts one level against the depth limit of 64 (MAX_DEPTH), so a loop or
 * a chain too long fails with "Recursion too deep" and the packet is
 * dropped. A flow naming a missing group is refused (OFPBAC_BAD_OUT_GROUP).
 */
import { describe, it, expect } from "vitest";
import { checkScenario, haveOvs, M } from "./check.js";
import type { Scenario } from "./scenario.js";
import { buildScenarioSwitch } from "./scenario.js";
import { OvsSandbox } from "./harness.js";
import { setupOvs } from "./scenario.js";
import { traceKey, traceText } from "../../src/cli/trace.js";
import { eth, ipv4, udp } from "../../src/packet/build.js";

/** Groups first..last, each one bucket on to the next; the last outputs to port 2. */
const chain = (first: number, last: number): string[] =>
  Array.from({ length: last - first + 1 }, (_, i) =>
    first + i === last ? `group_id=${last},type=all,bucket=output:2` : `group_id=${first + i},type=all,bucket=group:${first + i + 1}`,
  );

const GROUPS = [
  // Named before it is defined: 10 -> 11 -> 12.
  `group_id=10,type=all,bucket=output:2,bucket=mod_dl_src:${M(0xaa)},group:11`,
  `group_id=11,type=all,bucket=mod_nw_tos:8,group:12,bucket=output:3`,
  "group_id=12,type=indirect,bucket=output:4",
  // A bucket naming a group that never exists: only that bucket ends.
  "group_id=20,type=all,bucket=group:21,bucket=output:4",
  "group_id=22,type=indirect,bucket=output:3,group:21",
  // A loop.
  "group_id=30,type=all,bucket=output:3,group:31",
  "group_id=31,type=all,bucket=group:30",
  // Chains of 65 groups (one too many) and of 64 (deep enough from table 0, not after a resubmit to an earlier table).
  ...chain(100, 164),
  ...chain(200, 263),
].join("\n") + "\n";

const FLOWS = [
  "table=0,priority=10,in_port=1,udp,tp_dst=1 actions=group:10,output:4",
  "table=0,priority=10,in_port=1,udp,tp_dst=2 actions=group:20,output:3",
  "table=0,priority=10,in_port=1,udp,tp_dst=3 actions=group:22,output:2",
  "table=0,priority=10,in_port=1,udp,tp_dst=4 actions=output:2,group:30",
  "table=0,priority=10,in_port=1,udp,tp_dst=5 actions=group:100",
  "table=0,priority=10,in_port=1,udp,tp_dst=6 actions=group:200,output:3",
  "table=0,priority=10,in_port=1,udp,tp_dst=7 actions=output:4,resubmit(,3)",
  "table=3,priority=10 actions=resubmit(,2)",
  "table=2,priority=10 actions=group:200",
  "table=0,priority=0 actions=drop",
].join("\n") + "\n";

const toUdpPort = (dst: number): Uint8Array =>
  eth({ src: M(1), dst: M(2) }, ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }, udp({ src: 5000, dst })));

const s: Scenario = {
  name: "group-chains",
  bridges: [{ name: "br0", flows: FLOWS, groups: GROUPS }],
  ports: [1, 2, 3, 4].map((n) => ({ name: `p${n}`, bridge: "br0", ofport: n })),
  inputs: [1, 2, 3, 4, 5, 6, 7].map((d) => ({ port: "p1", frame: toUdpPort(d) })),
};

describe.skipIf(!haveOvs)("group chains vs. Open vSwitch", () => {
  it("follows groups named in buckets: defined later, missing, looping, and chains at the depth limit", async () => {
    const { actions } = await checkScenario(s);
    // The loop and the chains too deep fail translation in OVS: nothing is sent, not even earlier outputs.
    expect(actions.map(([theirs]) => theirs === "drop")).toEqual([false, false, false, true, true, false, true]);
  });

  it("loads the groups as OVS does: a bucket may name a missing group, a flow may not", async () => {
    const sw = buildScenarioSwitch(s);
    expect([...sw.byName.get("br0")!.groups.keys()].sort((a, b) => a - b)).toHaveLength(7 + 65 + 64);
    const bad: Scenario = { ...s, bridges: [{ name: "br0", flows: "in_port=1 actions=group:21\n", groups: GROUPS }] };
    expect(() => buildScenarioSwitch(bad)).toThrow(/group 21|OFPBAC_BAD_OUT_GROUP/);
    const ovs = await OvsSandbox.start();
    try {
      await ovs.addBridge("br0", { ports: [], protocols: ["OpenFlow13"] });
      await ovs.ofctl(["-O", "OpenFlow13", "add-groups", "br0", "-"], GROUPS);
      await expect(ovs.ofctl(["-O", "OpenFlow13", "add-flow", "br0", "in_port=1,actions=group:21"])).rejects.toThrow(/OFPBAC_BAD_OUT_GROUP/);
    } finally {
      await ovs.stop();
    }
  });

  it("traces a missing group in a bucket and a loop as ofproto/trace does", async () => {
    const ovs = await OvsSandbox.start();
    const sw = buildScenarioSwitch(s);
    const br = sw.byName.get("br0")!;
    try {
      await setupOvs(s, ovs);
      for (const i of [1, 2, 3]) {
        const hex = Buffer.from(s.inputs[i].frame).toString("hex");
        const theirs = (await ovs.trace("br0", "p1", hex)).raw;
        const key = traceKey(sw, br, "in_port=p1", hex);
        if (!(key instanceof Uint32Array)) throw new Error(key.error);
        const ours = traceText(sw, key, 0, false).text;
        const body = (t: string): string => t.slice(t.indexOf('bridge("'));
        expect(body(ours), `input ${i + 1}`).toBe(body(theirs));
      }
    } finally {
      await ovs.stop();
    }
  });
});
