/**
 * Meter-table changes on a running bridge (src/ofproto/meter-table.ts,
 * src/daemon/metermod.ts): what OVS answers to add-meter, mod-meter and
 * del-meters (checked step by step against OVS in
 * test/ovs/meter-mods.test.ts), a topology's meters file, and a cached
 * datapath that meters by the meter as it is now: a modified meter starts
 * over full, a deleted one takes its flows (and their megaflows) with it.
 */
import { describe, expect, it } from "vitest";
import { singleBridge, newTable, openflowLoader } from "../../src/ofproto/load.js";
import { buildSwitch, validateTopology } from "../../src/ofproto/topology.js";
import type { Switch } from "../../src/ofproto/bridge.js";
import { addFlowsText } from "../../src/daemon/flowmod.js";
import { addMeterText, deleteMetersText, dumpMeters, modifyMeterText } from "../../src/daemon/metermod.js";
import { dumpBridgeFlows } from "../../src/cli/dump-flows.js";
import { Datapath } from "../../src/datapath/dpif.js";
import { eth, ipv4, udp } from "../../src/packet/build.js";

function switchWith(meters: string[], flows: string): Switch {
  const sw = singleBridge("flows.txt", [1, 2, 3, 4].map((n) => ({ name: `p${n}`, ofport: n })), "br0", () => "");
  const br = sw.byName.get("br0")!;
  br.protocol = "OpenFlow13";
  for (const m of meters) addMeterText(br, m);
  if (flows) addFlowsText(br, flows, "flows.txt", 0);
  return sw;
}
const flows = (sw: Switch): string[] => dumpBridgeFlows(sw.byName.get("br0")!, { stats: false }).map((l) => l.trim());

describe("meter changes on a running bridge", () => {
  it("deletes a meter with the flows that name it, in every table; one that is not there is no error", () => {
    const sw = switchWith(
      ["meter=1,pktps,bands=type=drop,rate=1", "meter=2,pktps,bands=type=drop,rate=1"],
      "priority=10,in_port=1,actions=meter:1,output:2\ntable=3,priority=10,actions=meter:1,goto_table:4\npriority=9,in_port=1,actions=meter:2,output:3\npriority=1,actions=output:4",
    );
    const br = sw.byName.get("br0")!;
    const v = br.version;
    expect(deleteMetersText(br, "meter=1")).toEqual({ meters: 1, flows: 2 });
    expect(br.version).toBeGreaterThan(v);
    expect(flows(sw)).toEqual(["priority=9,in_port=1 actions=meter:2,output:3", "priority=1 actions=output:4"]);
    expect(deleteMetersText(br, "meter=1")).toEqual({ meters: 0, flows: 0 });
    expect(() => addFlowsText(br, "in_port=2,actions=meter:1,output:1", "flow", 0)).toThrow(/OFPMMFC_INVALID_METER/);
    expect(deleteMetersText(br, "")).toEqual({ meters: 1, flows: 1 });
    expect(dumpMeters(br)).toEqual([]);
  });

  it("loads a topology's meters file before its flows and refuses a meter id given twice", () => {
    const spec = validateTopology(
      { bridges: [{ name: "br0", protocols: "OpenFlow13", flows: "br0.flows", meters: "br0.meters" }], ports: [{ name: "p1", bridge: "br0", ofport: 1 }] },
      "/t/t.json",
    );
    const files: Record<string, string> = { "/t/br0.flows": "in_port=1,actions=meter:4,output:1\n", "/t/br0.meters": "meter=4,pktps,bands=type=drop,rate=9\n" };
    const sw = buildSwitch(spec, "/t/t.json", newTable, openflowLoader, (p) => files[p]);
    expect(dumpMeters(sw.byName.get("br0")!)).toEqual(["meter=4 pktps bands=\ntype=drop rate=9"]);
    files["/t/br0.meters"] = "meter=4,pktps,bands=type=drop,rate=9\n# again\nmeter=4,kbps,bands=type=drop,rate=9\n";
    expect(() => buildSwitch(spec, "/t/t.json", newTable, openflowLoader, (p) => files[p])).toThrow(/OFPMMFC_METER_EXISTS: meter 4 exists already/);
    files["/t/br0.meters"] = "meter=4,pktps,bands=type=drop,rat=9\n";
    expect(() => buildSwitch(spec, "/t/t.json", newTable, openflowLoader, (p) => files[p])).toThrow(/br0\.meters:1:\d+: unknown keyword rat/);
    expect(() => validateTopology({ bridges: [{ name: "br0", meters: 5 }], ports: [] }, "t.json")).toThrow(/"meters" must be a file path/);
  });

  it("meters cached packets by the meter as it is now: full again after mod-meter, gone with del-meters", () => {
    const sw = switchWith(["meter=1,pktps,burst,bands=type=drop,rate=1,burst_size=2"], "priority=10,in_port=1,actions=meter:1,output:2\npriority=5,in_port=1,actions=output:4");
    const br = sw.byName.get("br0")!;
    const dp = new Datapath(sw, { emcInsertInvProb: 1 });
    const frame = eth({ src: "fa:16:3e:00:00:01", dst: "fa:16:3e:00:00:02" }, ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }, udp({ src: 1, dst: 2 })));
    const inPort = new Uint32Array([sw.portsByName.get("p1")!.dpPort]);
    const send = (nowMs: number): string[] => {
      const out: string[] = [];
      dp.processBatch(frame, new Uint32Array([0]), new Uint32Array([frame.length]), inPort, 1, nowMs, (port) => out.push(sw.dpPortName(port) ?? `#${port}`));
      return out;
    };
    // Burst 2 at 1 packet/s: two pass, then one per second.
    expect([send(0), send(1), send(2), send(1001), send(1002)]).toEqual([["p2"], ["p2"], [], ["p2"], []]);
    expect(dp.stats.emcHits + dp.stats.megaflowHits).toBeGreaterThan(0);
    modifyMeterText(br, "meter=1,pktps,burst,bands=type=drop,rate=1,burst_size=3");
    expect([send(1003), send(1004), send(1005), send(1006)]).toEqual([["p2"], ["p2"], ["p2"], []]);
    deleteMetersText(br, "meter=1");
    expect(send(1007)).toEqual(["p4"]);
  });
});
