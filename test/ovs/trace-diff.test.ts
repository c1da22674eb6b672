/**
 * Differential: the text of `flowplane trace` against `ovs-appctl
 * ofproto/trace`, with and without --names (without it, table and action
 * lines name ports by number, as the Flow and Megaflow lines do), for table misses (the first table, goto_table,
 * resubmit) and rules without actions, where OVS runs its internal
 * table-miss rule and reports the empty action list as "drop". The bridge
 * section (tables and actions) and the datapath actions must be identical.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OvsSandbox } from "./harness.js";
import { haveOvs, M } from "./check.js";
import { buildSwitch, validateTopology } from "../../src/ofproto/topology.js";
import { newTable, openflowLoader } from "../../src/ofproto/load.js";
import { traceKey, traceText } from "../../src/cli/trace.js";
import { eth, ipv4, udp } from "../../src/packet/build.js";
import type { Switch } from "../../src/ofproto/bridge.js";

const FLOWS = [
  "table=0,in_port=1,actions=goto_table:3",
  "table=0,in_port=2,actions=resubmit(,4),output:1",
  "table=0,in_port=3,actions=drop",
  "table=0,in_port=4,ip,actions=goto_table:3",
  "table=3,priority=5,udp,actions=output:2",
  "table=3,priority=6,udp,tp_dst=53,actions=resubmit(,5),goto_table:6",
  "table=5,priority=1,actions=drop",
].join("\n") + "\n";
const PORTS = [1, 2, 3, 4, 5].map((n) => ({ name: `tp${n}`, ofport: n }));

/** The bridge section of a trace (from `bridge("` up to "Final flow:") and its datapath actions line. */
function essentials(text: string): string {
  const start = text.indexOf('bridge("');
  const end = text.indexOf("Final flow:");
  const dp = /^Datapath actions: .*$/m.exec(text);
  return `${text.slice(start, end).trimEnd()}\n${dp === null ? "(no datapath actions)" : dp[0]}`;
}

const frame = (src: number, ports: [number, number] | null): Uint8Array =>
  ports === null
    ? eth({ src: M(src), dst: M(0x99), type: 0x88b5 }, new Uint8Array(46))
    : eth({ src: M(src), dst: M(0x99) }, ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }, udp({ src: ports[0], dst: ports[1] })));

describe.skipIf(!haveOvs)("trace text vs. Open vSwitch", () => {
  let sb: OvsSandbox;
  let sw: Switch;

  beforeAll(async () => {
    sb = await OvsSandbox.start();
    await sb.addBridge("brt", { ports: PORTS, protocols: ["OpenFlow13"] });
    await sb.addFlows("brt", FLOWS);
    const spec = validateTopology(
      { bridges: [{ name: "brt", protocols: "OpenFlow13", flows: "brt.flows" }], ports: PORTS.map((p) => ({ ...p, bridge: "brt" })) },
      "/t/topology.json",
    );
    sw = buildSwitch(spec, "/t/topology.json", newTable, openflowLoader, () => FLOWS);
  });

  afterAll(async () => {
    await sb?.stop();
  });

  it.each([
    ["a goto_table miss", "tp1", frame(1, null)],
    ["a resubmit miss inside a rule", "tp2", frame(2, [1, 2])],
    ["a rule whose actions are drop", "tp3", frame(3, [1, 2])],
    ["a first-table miss", "tp5", frame(5, [1, 2])],
    ["a goto_table hit", "tp4", frame(4, [7, 8])],
    ["a hit that resubmits to a drop rule, then misses after goto_table", "tp4", frame(4, [7, 53])],
  ].flatMap(([what, port, bytes]) => [
    [what, "--names", port, bytes, true],
    [what, "port numbers", port, bytes, false],
  ]))("prints %s as OVS does (%s)", async (_what, _how, port, bytes, names) => {
    const hex = Buffer.from(bytes as Uint8Array).toString("hex");
    const theirs = await sb.trace("brt", port as string, hex, { names: names as boolean });
    const br = sw.byName.get("brt")!;
    const key = traceKey(sw, br, `in_port=${port as string}`, hex);
    if (!(key instanceof Uint32Array)) throw new Error(key.error);
    const ours = traceText(sw, key, 0, names as boolean).text;
    expect(essentials(ours)).toBe(essentials(theirs.raw));
  });
});
