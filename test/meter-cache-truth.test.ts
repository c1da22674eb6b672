/**
 * Truth of the caches with meters: a meter's decision is made per packet by
 * the datapath, never cached as a fixed drop or forward. For random tables
 * whose flows meter (pktps and kbps meters with small buckets, so packets
 * both pass and drop), random packet batches and table changes, the outputs
 * with the caches equal the outputs with every packet translated
 * (--no-cache), and some packets of a metered flow are dropped while others
 * of the same flow pass.
 */
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { singleBridge } from "../src/ofproto/load.js";
import type { Switch } from "../src/ofproto/bridge.js";
import { addMeterText } from "../src/daemon/metermod.js";
import { addFlowsText } from "../src/daemon/flowmod.js";
import { eth, ipv4, udp } from "../src/packet/build.js";
import { runTruthSteps, type TruthStep } from "./cache-truth-driver.js";

const PORTS = [1, 2, 3, 4].map((n) => ({ name: `p${n}`, ofport: n }));
const METERS = ["meter=1,pktps,burst,bands=type=drop,rate=100,burst_size=3", "meter=2,kbps,bands=type=drop,rate=64 type=drop,rate=8"];

type FlowArb = { table: number; priority: number; inPort?: number; tpDst?: number; meter: number; actions: string[] };
type PacketArb = { port: number; tp: number; size: number };

const arbFlow: fc.Arbitrary<FlowArb> = fc.record({
  table: fc.constantFrom(0, 0, 1),
  priority: fc.integer({ min: 1, max: 50 }),
  inPort: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
  tpDst: fc.option(fc.constantFrom(53, 80), { nil: undefined }),
  meter: fc.constantFrom(0, 1, 2),
  actions: fc.array(fc.constantFrom("output:1", "output:2", "output:3", "mod_nw_tos:8", "goto_table:1"), { minLength: 1, maxLength: 3 }),
});

function flowText(f: FlowArb): string {
  let s = `table=${f.table},priority=${f.priority},udp,`;
  if (f.inPort !== undefined) s += `in_port=${f.inPort},`;
  if (f.tpDst !== undefined) s += `tp_dst=${f.tpDst},`;
  // goto_table only forward, and last (an instruction after the apply actions).
  const acts = f.actions.filter((a) => a !== "goto_table:1");
  if (f.table === 0 && f.actions.includes("goto_table:1")) acts.push("goto_table:1");
  if (f.meter) acts.unshift(`meter:${f.meter}`);
  return `${s}actions=${acts.length ? acts.join(",") : "drop"}`;
}

const arbPacket: fc.Arbitrary<PacketArb> = fc.record({ port: fc.integer({ min: 1, max: 4 }), tp: fc.constantFrom(53, 80, 7), size: fc.constantFrom(60, 100, 120) });

const frameOf = (p: PacketArb): Uint8Array =>
  eth({ src: "fa:16:3e:00:00:01", dst: "fa:16:3e:00:00:02" }, ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }, udp({ src: 4000, dst: p.tp }, new Uint8Array(p.size - 42))));

type Step = TruthStep<PacketArb, FlowArb>;
const arbStep: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("packets" as const), packets: fc.array(arbPacket, { minLength: 1, maxLength: 32 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("add" as const), flow: arbFlow }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("del" as const), index: fc.nat() }) },
);

function makeSwitch(flows: FlowArb[]): Switch {
  const sw = singleBridge("t.flows", PORTS, "br0", () => "");
  const br = sw.byName.get("br0")!;
  br.protocol = "OpenFlow13";
  for (const m of METERS) addMeterText(br, m);
  if (flows.length) addFlowsText(br, flows.map(flowText).join("\n"), "t.flows", 0);
  return sw;
}

/** Packets meters dropped over all runs: the property must see drops to mean anything. */
let meterDrops = 0;

function run(flows: FlowArb[], steps: Step[], noCache: boolean): string[] {
  const sw = makeSwitch(flows);
  const out = runTruthSteps({ sw, noCache, learn: false, frameOf, flowText }, steps);
  meterDrops += sw.dpMeters.dropCount;
  return out;
}

describe("meters and the caches", () => {
  it("cached outputs equal translated outputs when flows meter", () => {
    fc.assert(
      fc.property(fc.array(arbFlow, { minLength: 1, maxLength: 10 }), fc.array(arbStep, { minLength: 1, maxLength: 8 }), (flows, steps) => {
        expect(run(flows, steps, false)).toEqual(run(flows, steps, true));
      }),
      { seed: 20261125, numRuns: 150 },
    );
    expect(meterDrops).toBeGreaterThan(100);
  });

  it("a cached metered flow still drops what its meter refuses and passes what it allows", () => {
    const flow: FlowArb = { table: 0, priority: 1, meter: 1, actions: ["output:2"] };
    const p: PacketArb = { port: 1, tp: 53, size: 60 };
    // Batches 10 ms apart: meter 1 (100/s, burst 3) passes 3, then 1 per 10 ms.
    const steps: Step[] = [
      { kind: "packets", packets: [p, p, p, p, p] },
      { kind: "packets", packets: [p, p, p] },
      { kind: "packets", packets: [p, p, p] },
    ];
    const cached = run([flow], steps, false);
    expect(cached).toEqual(run([flow], steps, true));
    expect(cached.map((o) => Number(o.split(":")[0]))).toEqual([0, 1, 2, 5, 8]);
  });
});
