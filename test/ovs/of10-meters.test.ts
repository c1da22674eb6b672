/**
 * Differential: what OVS makes of OpenFlow 1.1+ instructions on a bridge
 * that speaks only OpenFlow 1.0, and of meter instructions, against OVS.
 *
 * - ovs-ofctl -O OpenFlow10 (the only version such a bridge accepts) sends
 *   goto_table:N as resubmit(,N) and write_metadata as Nicira's extension,
 *   and sends nothing for write_actions and clear_actions (ofp-actions.c
 *   encode_GOTO_TABLE, encode_WRITE_ACTIONS, ...), without a word: the switch
 *   holds, traces and dumps what arrived. The switch refuses write_metadata
 *   with goto_table (its resubmit then follows write_metadata,
 *   OFPBAC_UNSUPPORTED_ORDER), and ovs-ofctl cannot send a meter at all.
 * - OVS refuses a flow whose meter instruction names a meter the switch
 *   lacks (ofproto_check_ofpacts: OFPMMFC_INVALID_METER); flowplane does
 *   too, naming the line and column. With the meter in the bridge's meters
 *   file (loaded before its flows, as add-meter before add-flow) the flow is
 *   taken and traces to OVS's `meter(ID)` datapath action.
 */
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { haveOvs, M } from "./check.js";
import { OvsSandbox } from "./harness.js";
import { buildSwitch, validateTopology } from "../../src/ofproto/topology.js";
import { newTable, openflowLoader } from "../../src/ofproto/load.js";
import { traceKey, traceText } from "../../src/cli/trace.js";
import { dumpBridgeFlows } from "../../src/cli/dump-flows.js";
import { FlowSyntaxError } from "../../src/ofctl/errors.js";
import { eth, ipv4, udp } from "../../src/packet/build.js";
import type { Switch } from "../../src/ofproto/bridge.js";

const FLOWS = [
  "table=0,in_port=1,actions=output:3,write_metadata:0x5",
  "table=0,in_port=2,actions=write_actions(output:3),goto_table:2",
  "table=0,in_port=3,actions=output:2,clear_actions,goto_table:2",
  "table=0,in_port=4,actions=mod_dl_src:fa:16:3e:00:00:ee,clear_actions,write_actions(output:1)",
  "table=2,priority=0,actions=output:4",
].join("\n") + "\n";
const PORTS = [1, 2, 3, 4].map((n) => ({ name: `p${n}`, ofport: n }));

/** The bridge section of a trace and its datapath actions. */
function essentials(text: string): string {
  const dp = /^Datapath actions: .*$/m.exec(text);
  return `${text.slice(text.indexOf('bridge("'), text.indexOf("Final flow:")).trimEnd()}\n${dp === null ? "" : dp[0]}`;
}

const frame = (src: number): Uint8Array => eth({ src: M(src), dst: M(0x99) }, ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }, udp({ src: 1, dst: 2 })));

/** A one-bridge switch "br0" on ports p1..p4 with the given protocols and flows file text. */
function flowplane(protocols: string, flows: string): Switch {
  const spec = validateTopology(
    { bridges: [{ name: "br0", protocols, flows: "br0.flows" }], ports: PORTS.map((p) => ({ ...p, bridge: "br0" })) },
    "/t/topology.json",
  );
  return buildSwitch(spec, "/t/topology.json", newTable, openflowLoader, () => flows);
}

function syntaxError(f: () => unknown): FlowSyntaxError {
  try {
    f();
  } catch (e) {
    if (e instanceof FlowSyntaxError) return e;
    throw e;
  }
  throw new Error("expected a FlowSyntaxError");
}

describe.skipIf(!haveOvs)("OpenFlow 1.0 bridges and meters vs. Open vSwitch", () => {
  let sb: OvsSandbox;
  let sw: Switch;

  beforeAll(async () => {
    sb = await OvsSandbox.start();
    await sb.addBridge("br0", { ports: PORTS, protocols: ["OpenFlow10"] });
    await sb.addFlows("br0", FLOWS, { protocol: "OpenFlow10" });
    sw = flowplane("OpenFlow10", FLOWS);
  });

  afterAll(async () => {
    await sb?.stop();
  });

  it("holds OpenFlow 1.1+ instructions as ovs-ofctl -O OpenFlow10 sends them", async () => {
    const theirs = await sb.dumpFlows("br0", { protocol: "OpenFlow10" });
    expect(dumpBridgeFlows(sw.byName.get("br0")!).map((l) => l.trim())).toEqual(theirs);
    // What OVS holds: goto_table became resubmit, write_actions and clear_actions are gone.
    expect(theirs).toContain("in_port=2 actions=resubmit(,2)");
    expect(theirs).toContain("in_port=4 actions=mod_dl_src:fa:16:3e:00:00:ee");
  });

  it.each([1, 2, 3, 4])("forwards and traces a packet from p%i as OVS does", async (n) => {
    const hex = Buffer.from(frame(n)).toString("hex");
    const theirs = await sb.trace("br0", `p${n}`, hex, { names: true });
    const key = traceKey(sw, sw.byName.get("br0")!, `in_port=p${n}`, hex);
    if (!(key instanceof Uint32Array)) throw new Error(key.error);
    expect(essentials(traceText(sw, key, 0, true).text)).toBe(essentials(theirs.raw));
  });

  it("refuses what OVS refuses on an OpenFlow 1.0 bridge, naming line and column", async () => {
    const both = "table=0,in_port=1,actions=write_metadata:0x5,goto_table:2";
    await expect(sb.addFlows("br0", both + "\n", { protocol: "OpenFlow10" })).rejects.toThrow(/OFPBAC_UNSUPPORTED_ORDER/);
    expect(syntaxError(() => flowplane("OpenFlow10", `${both}\n`)).message).toBe(
      "/t/br0.flows:1:46: goto_table:2 goes as resubmit(,2) in OpenFlow10, after write_metadata: " +
        "invalid instruction ordering: apply_actions must appear before write_metadata (OFPBAC_UNSUPPORTED_ORDER)",
    );
    const meter = "in_port=1,actions=meter:1,output:2";
    await expect(sb.ofctl(["-O", "OpenFlow10", "add-flow", "br0", meter])).rejects.toThrow(/none of the usable flow formats/);
    expect(syntaxError(() => flowplane("OpenFlow10", `\n${meter}\n`)).message).toMatch(/^\/t\/br0\.flows:2:19: meter needs OpenFlow 1\.3 or later/);
    // Unchanged: OVS took neither.
    expect(await sb.dumpFlows("br0", { protocol: "OpenFlow10" })).toHaveLength(5);
  });

  it("keeps the instructions on a bridge that also speaks OpenFlow 1.3", () => {
    const both = flowplane("OpenFlow10,OpenFlow13", FLOWS);
    const dump = dumpBridgeFlows(both.byName.get("br0")!).map((l) => l.trim());
    expect(dump).toContain("in_port=2 actions=write_actions(output:3),goto_table:2");
  });

  it("takes a flow naming a meter of the bridge's meters file and traces it as OVS does", async () => {
    await sb.addBridge("brm", { ports: PORTS.map((p) => ({ name: `m${p.name}`, ofport: p.ofport })), protocols: ["OpenFlow13"] });
    const meters = "# one per line, as add-meter takes them\nmeter=7,pktps,bands=type=drop,rate=10\nmeter=3,kbps,burst,bands=type=drop,rate=1000,burst_size=64\n";
    const flows = "in_port=1,actions=meter:7,output:2\nin_port=2,actions=meter:3,output:1\n";
    for (const line of meters.split("\n").filter((l) => l.startsWith("meter"))) await sb.ofctl(["-O", "OpenFlow13", "add-meter", "brm", line]);
    await sb.addFlows("brm", flows, { protocol: "OpenFlow13" });
    const spec = validateTopology(
      { bridges: [{ name: "br0", protocols: "OpenFlow13", flows: "br0.flows", meters: "br0.meters" }], ports: PORTS.map((p) => ({ ...p, bridge: "br0" })) },
      "/t/topology.json",
    );
    const msw = buildSwitch(spec, "/t/topology.json", newTable, openflowLoader, (path) => (path.endsWith(".meters") ? meters : flows));
    for (const n of [1, 2]) {
      const hex = Buffer.from(frame(n)).toString("hex");
      const theirs = await sb.trace("brm", `mp${n}`, hex);
      const key = traceKey(msw, msw.byName.get("br0")!, `in_port=p${n}`, hex);
      if (!(key instanceof Uint32Array)) throw new Error(key.error);
      // The sandbox's other bridges hold datapath ports too: the output port numbers differ, the meter ids may not.
      const outPortless = (t: string): string => t.replace(/^(Datapath actions: meter\(\d+\)),\d+$/m, "$1,PORT");
      expect(outPortless(essentials(traceText(msw, key, 0, false).text).replace('bridge("br0")', 'bridge("brm")'))).toBe(outPortless(essentials(theirs.raw)));
      expect(theirs.raw).toMatch(/Datapath actions: meter\(\d\),/);
    }
  });

  it("refuses a meter the bridge lacks, as OVS does, naming line and column", async () => {
    await sb.addBridge("br13", { ports: [], protocols: ["OpenFlow13"] });
    const line = "in_port=1,actions=meter:7,output:2";
    await expect(sb.ofctl(["-O", "OpenFlow13", "add-flow", "br13", line])).rejects.toThrow(/OFPMMFC_INVALID_METER/);
    const e = syntaxError(() => flowplane("OpenFlow13", `priority=1,actions=drop\n${line}\n`));
    expect(e.message).toBe("/t/br0.flows:2:19: meter 7 does not exist (OFPMMFC_INVALID_METER)");
    // A controller action's meter_id is only logged by OVS when unknown: the flow stays.
    await sb.ofctl(["-O", "OpenFlow13", "add-flow", "br13", "in_port=1,actions=controller(meter_id=7)"]);
    expect(() => flowplane("OpenFlow13", "in_port=1,actions=controller(meter_id=7)\n")).not.toThrow();
  });
});
