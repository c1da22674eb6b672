/**
 * Flow-table changes on a running switch (src/daemon/flowmod.ts): OpenFlow
 * add/modify/delete semantics, counters kept where OVS keeps them, and
 * every change touching the bridge so the datapath revalidates.
 */
import { describe, expect, it } from "vitest";
import { singleBridge, tableOf, expire, addLearnedFlow } from "../../src/ofproto/load.js";
import { FlowModError } from "../../src/classifier/flow-table.js";
import { dumpBridgeFlows } from "../../src/cli/dump-flows.js";
import { addFlowsText, deleteFlowsText, modifyFlowsText } from "../../src/daemon/flowmod.js";
import type { Bridge } from "../../src/ofproto/bridge.js";

function bridgeWith(flows: string): Bridge {
  const sw = singleBridge("flows.txt", [{ name: "p1", ofport: 1 }, { name: "p2", ofport: 2 }], "br0", () => flows);
  return sw.byName.get("br0")!;
}

const dump = (b: Bridge): string[] => dumpBridgeFlows(b).map((l) => l.trim());

describe("flow changes on a running bridge", () => {
  it("adds flows and bumps the bridge version", () => {
    const b = bridgeWith("");
    const v = b.version;
    expect(addFlowsText(b, "priority=10,in_port=1,actions=output:2\ntable=1,actions=drop", "f", 0)).toBe(2);
    expect(b.version).toBeGreaterThan(v);
    expect(dump(b)).toEqual(["priority=10,in_port=1 actions=output:2", "table=1, actions=drop"]);
  });

  it("adds nothing when one line of a batch is bad", () => {
    const b = bridgeWith("");
    expect(() => addFlowsText(b, "in_port=1,actions=output:2\nin_port=1,nw_srcx=1,actions=drop", "f.txt", 0)).toThrow(/f\.txt:2:.*nw_srcx/);
    expect(dump(b)).toEqual([]);
  });

  it("keeps counters when add replaces a flow, unless reset_counts", () => {
    const b = bridgeWith("priority=10,in_port=1,actions=output:2");
    const r = tableOf(b, 0).rules()[0];
    r.nPackets = 5;
    r.nBytes = 500;
    addFlowsText(b, "priority=10,in_port=1,actions=drop", "f", 0);
    expect(tableOf(b, 0).rules()[0].nPackets).toBe(5);
    addFlowsText(b, "priority=10,in_port=1,reset_counts,actions=drop", "f", 0);
    expect(tableOf(b, 0).rules()[0].nPackets).toBe(0);
  });

  it("modifies non-strictly every flow whose match is a subset, keeping counters", () => {
    const b = bridgeWith("priority=10,tcp,tp_dst=22,actions=output:2\npriority=20,tcp,tp_dst=23,actions=output:2\npriority=5,udp,actions=output:2");
    for (const r of tableOf(b, 0).rules()) r.nPackets = 7;
    const v = b.version;
    expect(modifyFlowsText(b, "tcp,actions=drop", false, 0)).toBe(2);
    expect(b.version).toBeGreaterThan(v);
    expect(dump(b)).toEqual(["priority=20,tcp,tp_dst=23 actions=drop", "priority=10,tcp,tp_dst=22 actions=drop", "priority=5,udp actions=output:2"]);
    expect(tableOf(b, 0).rules().map((r) => r.nPackets)).toEqual([7, 7, 7]);
  });

  it("modifies strictly only the flow with the same match and priority", () => {
    const b = bridgeWith("priority=10,tcp,tp_dst=22,actions=output:2\npriority=20,tcp,tp_dst=22,actions=output:2");
    expect(modifyFlowsText(b, "priority=20,tcp,tp_dst=22,actions=drop", true, 0)).toBe(1);
    expect(dump(b)).toEqual(["priority=20,tcp,tp_dst=22 actions=drop", "priority=10,tcp,tp_dst=22 actions=output:2"]);
  });

  it("adds on a modify that matches nothing in OpenFlow 1.0, and not in 1.3", () => {
    const b = bridgeWith("");
    expect(modifyFlowsText(b, "in_port=1,actions=output:2", false, 0)).toBe(1);
    expect(dump(b)).toEqual(["in_port=1 actions=output:2"]);
    const b13 = bridgeWith("");
    b13.protocol = "OpenFlow13";
    expect(modifyFlowsText(b13, "in_port=1,actions=output:2", false, 0)).toBe(0);
    expect(dump(b13)).toEqual([]);
  });

  it("deletes non-strictly across tables, strictly by priority, and everything without a match", () => {
    const b = bridgeWith("priority=10,tcp,tp_dst=22,actions=output:2\ntable=3,priority=10,tcp,actions=drop\npriority=1,actions=drop\npriority=7,tcp,actions=drop");
    expect(deleteFlowsText(b, "tcp,tp_dst=22", false)).toBe(1);
    expect(deleteFlowsText(b, "priority=8,tcp", true)).toBe(0);
    expect(deleteFlowsText(b, "priority=7,tcp", true)).toBe(1);
    expect(deleteFlowsText(b, "table=3,tcp", false)).toBe(1);
    expect(dump(b)).toEqual(["priority=1 actions=drop"]);
    const v = b.version;
    expect(deleteFlowsText(b, "", false)).toBe(1);
    expect(b.version).toBeGreaterThan(v);
    expect(dump(b)).toEqual([]);
  });

  it("selects by cookie under a cookie mask", () => {
    const b = bridgeWith("cookie=0x1,priority=1,in_port=1,actions=drop\ncookie=0x2,priority=1,in_port=2,actions=drop");
    expect(deleteFlowsText(b, "cookie=0x2/0xff", false)).toBe(1);
    expect(dump(b)).toEqual(["cookie=0x1, priority=1,in_port=1 actions=drop"]);
    expect(modifyFlowsText(b, "cookie=0x5/0xff,actions=output:2", false, 0)).toBe(0);
  });

  it("changes nothing and touches nothing when a selection matches nothing", () => {
    const b = bridgeWith("priority=1,in_port=1,actions=drop");
    const v = b.version;
    expect(deleteFlowsText(b, "udp", false)).toBe(0);
    expect(b.version).toBe(v);
  });

  it("keeps creation time and timeouts on modify, and restarts the hard timeout from it", () => {
    const b = bridgeWith("");
    addFlowsText(b, "priority=10,in_port=1,hard_timeout=10,idle_timeout=100,actions=output:2", "f", 1000);
    expect(modifyFlowsText(b, "in_port=1,idle_timeout=5,actions=drop", false, 8000)).toBe(1);
    const r = tableOf(b, 0).rules()[0];
    expect([r.createdMs, r.modifiedMs, r.idleTimeout, r.hardTimeout]).toEqual([1000, 8000, 100, 10]);
    expect(expire(b, 12000)).toEqual([]);
    const v = b.version;
    expect(expire(b, 18001).map((e) => e.reason)).toEqual(["hard_timeout"]);
    expect(b.version).toBeGreaterThan(v);
    expect(dump(b)).toEqual([]);
  });

  it("expires idle flows in every table, touching the bridge only when one went", () => {
    const b = bridgeWith("priority=1,in_port=1,idle_timeout=2,actions=drop\ntable=7,priority=1,in_port=2,idle_timeout=2,actions=drop\npriority=0,actions=drop");
    for (const r of [...tableOf(b, 0).rules(), ...tableOf(b, 7).rules()]) r.lastUsedMs = 0;
    const inPort1 = tableOf(b, 0).rules()[0];
    tableOf(b, 0).credit(inPort1, 1, 60, 1500);
    const v = b.version;
    expect(expire(b, 2000)).toEqual([]);
    expect(b.version).toBe(v);
    expect(expire(b, 2001).map((e) => [e.rule.table, e.reason])).toEqual([[7, "idle_timeout"]]);
    expect(expire(b, 3501).map((e) => [e.rule.table, e.reason])).toEqual([[0, "idle_timeout"]]);
    expect(b.version).toBe(v + 2);
    expect(dump(b)).toEqual(["priority=0 actions=drop"]);
  });

  it("refuses an overlapping flow with check_overlap, keeping the flows added before it", () => {
    const b = bridgeWith("priority=5,tcp,actions=drop");
    const v = b.version;
    expect(() => addFlowsText(b, "priority=6,udp,actions=drop\npriority=5,check_overlap,tcp,tp_dst=80,actions=drop", "f", 0)).toThrow(FlowModError);
    expect(b.version).toBeGreaterThan(v);
    expect(dump(b)).toEqual(["priority=6,udp actions=drop", "priority=5,tcp actions=drop"]);
  });

  it("only refreshes a learned flow learned again, without bumping the bridge version", () => {
    const b = bridgeWith("");
    addFlowsText(b, "table=1,priority=9,in_port=1,actions=output:2", "f", 0);
    const learnedFrom = tableOf(b, 1).rules()[0];
    const flow = { table: 1, priority: 9, idleTimeout: 0, hardTimeout: 0, cookie: 0n, match: learnedFrom.match, actions: learnedFrom.actions, limit: 0 };
    const v = b.version;
    addLearnedFlow(b, flow, 5000);
    expect(b.version).toBe(v);
    expect(tableOf(b, 1).rules()[0].lastUsedMs).toBe(5000);
    addLearnedFlow(b, { ...flow, actions: [] }, 6000);
    expect(b.version).toBeGreaterThan(v);
    expect(tableOf(b, 1).rules()).toHaveLength(1);
    expect(dump(b)).toEqual(["table=1, priority=9,in_port=1 actions=drop"]);
    expect(tableOf(b, 0).count).toBe(0);
  });
});
