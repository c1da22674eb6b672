/**
 * Differential: group-table changes on a running bridge (add-group,
 * mod-group with and without --may-create, del-groups one and all, and the
 * flows that go with a deleted group), step by step against Open vSwitch
 * 3.1 driven with ovs-ofctl: after every step both switches must agree on
 * the error (or its absence), on dump-groups and on dump-flows; at the end
 * a packet must trace the same way through the groups that are left.
 */
import { describe, it, expect } from "vitest";
import { haveOvs, M, openflowErrorOf, twinBridges } from "./check.js";
import { addFlowsText } from "../../src/daemon/flowmod.js";
import { addGroupsText, deleteGroupsText, dumpGroups, modifyGroupText } from "../../src/daemon/groupmod.js";
import { dumpBridgeFlows } from "../../src/cli/dump-flows.js";
import { traceKey, traceText } from "../../src/cli/trace.js";
import { eth, ipv4, udp } from "../../src/packet/build.js";

type Step = { cmd: "add-group" | "mod-group" | "del-groups" | "add-flow"; arg: string; mayCreate?: boolean };

const STEPS: Step[] = [
  { cmd: "add-group", arg: "group_id=1,type=all,bucket=output:2,bucket=output:3" },
  // The same id again: OFPGMFC_GROUP_EXISTS, and group 1 keeps its buckets.
  { cmd: "add-group", arg: "group_id=1,type=all,bucket=output:4" },
  // Buckets naming a group that exists, and one that never does: both accepted.
  { cmd: "add-group", arg: "group_id=2,type=indirect,bucket=group:1" },
  { cmd: "add-group", arg: "group_id=3,type=indirect,bucket=group:9" },
  { cmd: "add-flow", arg: "priority=10,in_port=1,udp,tp_dst=1,actions=group:1" },
  { cmd: "add-flow", arg: "priority=9,in_port=1,udp,tp_dst=1,actions=clone(group:1),output:3" },
  { cmd: "add-flow", arg: "priority=8,in_port=1,udp,tp_dst=1,actions=write_actions(group:2)" },
  { cmd: "add-flow", arg: "priority=7,in_port=1,udp,actions=output:4" },
  { cmd: "add-flow", arg: "priority=6,in_port=1,actions=group:3" },
  // A flow naming a group the switch lacks: OFPBAC_BAD_OUT_GROUP.
  { cmd: "add-flow", arg: "priority=5,in_port=1,actions=group:7" },
  // mod-group of an unknown group: OFPGMFC_UNKNOWN_GROUP; with --may-create it adds it.
  { cmd: "mod-group", arg: "group_id=7,type=all,bucket=output:2" },
  { cmd: "mod-group", arg: "group_id=7,type=all,bucket=output:2", mayCreate: true },
  { cmd: "add-flow", arg: "priority=5,in_port=1,actions=group:7" },
  // A new type and buckets for group 1; the flows naming it stay.
  { cmd: "mod-group", arg: "group_id=1,type=indirect,bucket=mod_nw_tos:8,output:4" },
  // Deleting group 1 deletes the flows that name it directly or inside clone(); group 2 (whose bucket names it) stays.
  { cmd: "del-groups", arg: "group_id=1" },
  // A group that is not there: no error, nothing changes.
  { cmd: "del-groups", arg: "group_id=55" },
  // A bad selection.
  { cmd: "del-groups", arg: "group_id=2,type=all" },
  { cmd: "del-groups", arg: "group_id=3" },
];

const flowLines = (lines: string[]): string[] => lines.map((l) => l.trim()).sort();
const groupLines = (lines: string[]): string[] => lines.map((l) => l.trim()).sort();
/** The OpenFlow error an answer names, or "ok". */
const errorOf = (message: string): string => openflowErrorOf(message) ?? `other: ${message.split("\n")[0]}`;

const frame = (dst: number): Uint8Array => eth({ src: M(1), dst: M(2) }, ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }, udp({ src: 5000, dst })));

describe.skipIf(!haveOvs)("group-table changes vs. Open vSwitch", () => {
  it("agrees after every add-group, mod-group, del-groups and add-flow, and traces the same at the end", async () => {
    const { sw, br, ovs } = await twinBridges();
    try {
      const O = ["-O", "OpenFlow13"];
      for (const [i, step] of STEPS.entries()) {
        const where = `step ${i + 1}: ${step.cmd} ${step.arg}`;
        let theirs = "ok";
        try {
          await ovs.ofctl([...O, ...(step.mayCreate ? ["--may-create"] : []), step.cmd, "br0", step.arg]);
        } catch (e) {
          theirs = errorOf((e as Error).message);
        }
        let ours = "ok";
        try {
          if (step.cmd === "add-group") addGroupsText(br, step.arg, "group");
          else if (step.cmd === "mod-group") modifyGroupText(br, step.arg, step.mayCreate === true);
          else if (step.cmd === "del-groups") deleteGroupsText(br, step.arg);
          else addFlowsText(br, step.arg, "flow", 0);
        } catch (e) {
          ours = errorOf((e as Error).message);
        }
        // OVS refuses the bad del-groups selection in ovs-ofctl itself, with a message and no OpenFlow error.
        expect(ours === "ok", where).toBe(theirs === "ok");
        if (theirs.startsWith("OF")) expect(ours, where).toBe(theirs);
        const theirGroups = (await ovs.ofctl([...O, "dump-groups", "br0"])).split("\n").filter((l) => l.startsWith(" "));
        expect(groupLines(dumpGroups(br)), where).toEqual(groupLines(theirGroups));
        expect(flowLines(dumpBridgeFlows(br, { stats: false })), where).toEqual(flowLines(await ovs.dumpFlows("br0", { protocol: "OpenFlow13" })));
      }
      for (const dst of [1, 2]) {
        const hex = Buffer.from(frame(dst)).toString("hex");
        const theirs = (await ovs.trace("br0", "p1", hex)).raw;
        const key = traceKey(sw, br, "in_port=p1", hex);
        if (!(key instanceof Uint32Array)) throw new Error(key.error);
        const body = (t: string): string => t.slice(t.indexOf('bridge("'));
        expect(body(traceText(sw, key, 0, false).text), `udp dst ${dst}`).toBe(body(theirs));
      }
    } finally {
      await ovs.stop();
    }
  });
});
