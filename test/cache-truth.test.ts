/**
 * Truth of the caches: for random flow tables, random packets and random
 * interleavings of flow-table changes, every packet's output through the
 * datapath with its caches equals its output with every packet translated
 * (--no-cache). Two datapaths run side by side on identical switches; after
 * every change both switches get the same change.
 */
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { singleBridge } from "../src/ofproto/load.js";
import type { Switch } from "../src/ofproto/bridge.js";
import { eth, ipv4, udp, tcp, arp } from "../src/packet/build.js";
import { runTruthSteps, type TruthStep } from "./cache-truth-driver.js";

const PORTS = [
  { name: "p1", ofport: 1 },
  { name: "p2", ofport: 2 },
  { name: "p3", ofport: 3, tag: 5 },
  { name: "p4", ofport: 4 },
];

const MACS = ["fa:16:3e:00:00:01", "fa:16:3e:00:00:02", "fa:16:3e:00:00:03", "ff:ff:ff:ff:ff:ff"];
const IPS = ["10.0.0.1", "10.0.0.2", "10.0.1.1", "192.168.0.9"];

const arbMatch = fc.record({
  inPort: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
  proto: fc.constantFrom("", "ip,", "udp,", "tcp,", "arp,"),
  dst: fc.option(fc.constantFrom("10.0.0.0/24", "10.0.0.2", "10.0.1.0/24", "0.0.0.0/1"), { nil: undefined }),
  dlDst: fc.option(fc.constantFrom(...MACS.slice(0, 3), "01:00:00:00:00:00/01:00:00:00:00:00"), { nil: undefined }),
  tpDst: fc.option(fc.constantFrom(53, 80, 1000), { nil: undefined }),
});

const arbAction = fc.constantFrom(
  "output:1",
  "output:2",
  "output:3",
  "output:4",
  "NORMAL",
  "drop",
  "mod_vlan_vid:9",
  "strip_vlan",
  "mod_dl_src:fa:16:3e:00:00:99",
  "mod_nw_dst:10.9.9.9",
  "dec_ttl",
  "resubmit(,1)",
  "output(port=3,max_len=20)",
  "clone(mod_nw_dst:10.8.8.8,output(port=4,max_len=30))",
  "learn(table=2,priority=7,NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],output:NXM_OF_IN_PORT[])",
);

const arbFlow = fc.record({
  table: fc.constantFrom(0, 0, 1, 2),
  priority: fc.integer({ min: 1, max: 50 }),
  match: arbMatch,
  actions: fc.array(arbAction, { minLength: 1, maxLength: 3 }),
});

type FlowArb = { table: number; priority: number; match: { inPort?: number; proto: string; dst?: string; dlDst?: string; tpDst?: number }; actions: string[] };

function flowText(f: FlowArb): string {
  const m = f.match;
  let s = `table=${f.table},priority=${f.priority},${m.proto}`;
  if (m.inPort !== undefined) s += `in_port=${m.inPort},`;
  if (m.dlDst !== undefined) s += `dl_dst=${m.dlDst},`;
  if (m.dst !== undefined && (m.proto === "ip," || m.proto === "udp," || m.proto === "tcp,")) s += `nw_dst=${m.dst},`;
  if (m.tpDst !== undefined && (m.proto === "udp," || m.proto === "tcp,")) s += `tp_dst=${m.tpDst},`;
  const acts = f.actions.includes("drop") ? ["drop"] : f.actions.filter((a) => !(a.startsWith("resubmit") && f.table >= 1));
  return `${s}actions=${acts.length ? acts.join(",") : "drop"}`;
}

const arbPacket = fc.record({
  port: fc.integer({ min: 1, max: 4 }),
  kind: fc.constantFrom("udp", "tcp", "arp"),
  src: fc.integer({ min: 0, max: 2 }),
  dst: fc.integer({ min: 0, max: 3 }),
  ip: fc.integer({ min: 0, max: 3 }),
  tp: fc.constantFrom(53, 80, 1000, 7),
  vlan: fc.constantFrom(0, 0, 5, 9),
});

type PacketArb = { port: number; kind: string; src: number; dst: number; ip: number; tp: number; vlan: number };

function frameOf(p: PacketArb): Uint8Array {
  const vlans = p.vlan ? [{ vid: p.vlan }] : undefined;
  if (p.kind === "arp") return eth({ src: MACS[p.src], dst: MACS[p.dst], vlans }, arp({ op: "request", sha: MACS[p.src], spa: IPS[p.src], tpa: IPS[p.ip] }));
  const l4 = p.kind === "udp" ? udp({ src: 4000, dst: p.tp }, new Uint8Array(8)) : tcp({ src: 4000, dst: p.tp, flags: "S" });
  return eth({ src: MACS[p.src], dst: MACS[p.dst], vlans }, ipv4({ src: IPS[p.src], dst: IPS[p.ip], ttl: 3 }, l4));
}

type Step = TruthStep<PacketArb, FlowArb>;

const arbStep: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("packets" as const), packets: fc.array(arbPacket, { minLength: 1, maxLength: 40 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("add" as const), flow: arbFlow }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("del" as const), index: fc.nat() }) },
);

function makeSwitch(flows: FlowArb[]): Switch {
  return singleBridge("t.flows", PORTS, "br0", () => flows.map(flowText).join("\n") + "\n");
}

function run(flows: FlowArb[], steps: Step[], noCache: boolean): string[] {
  return runTruthSteps({ sw: makeSwitch(flows), noCache, learn: true, frameOf, flowText }, steps);
}

describe("megaflow and exact-match caches never change a packet's fate", () => {
  it("cached outputs equal translated outputs for random tables, packets and table changes", () => {
    fc.assert(
      fc.property(fc.array(arbFlow, { minLength: 1, maxLength: 12 }), fc.array(arbStep, { minLength: 1, maxLength: 8 }), (flows, steps) => {
        expect(run(flows, steps, false)).toEqual(run(flows, steps, true));
      }),
      { seed: 20261125, numRuns: 150 },
    );
  });
});

describe("MAC learning revalidates cached NORMAL decisions", () => {
  it("a flood cached before the destination was learned is not served after it was", () => {
    const normal: FlowArb = { table: 0, priority: 1, match: { proto: "" }, actions: ["NORMAL"] };
    const a2b: PacketArb = { port: 1, kind: "udp", src: 0, dst: 1, ip: 1, tp: 53, vlan: 0 };
    const b2a: PacketArb = { port: 2, kind: "udp", src: 1, dst: 0, ip: 0, tp: 53, vlan: 0 };
    const steps: Step[] = [
      { kind: "packets", packets: [a2b] },
      { kind: "packets", packets: [b2a] },
      { kind: "packets", packets: [a2b] },
    ];
    const cached = run([normal], steps, false);
    expect(cached).toEqual(run([normal], steps, true));
    // The third packet goes to p2 alone, where B was learned.
    expect(cached.filter((o) => o.startsWith("2:")).map((o) => o.split(":")[1])).toEqual(["p2"]);
  });
});
