/**
 * Truth of the caches with conntrack and recirculation: random traffic
 * between a few hosts (TCP with random flags and sequence numbers, UDP,
 * ICMP echo, both directions) through stateful pipelines (firewall, zones
 * from registers, SNAT, DNAT), with flow-table changes between batches.
 * Every output with the exact-match and megaflow caches (recirculated passes
 * cached too) equals the output with every pass translated (--no-cache).
 * Each side has its own connection tracker, fed the same packets.
 */
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { singleBridge } from "../src/ofproto/load.js";
import { eth, ipv4, tcp, udp, icmpEcho } from "../src/packet/build.js";
import { runTruthSteps, type TruthStep } from "./cache-truth-driver.js";

const PORTS = [
  { name: "p1", ofport: 1 },
  { name: "p2", ofport: 2 },
  { name: "p3", ofport: 3 },
];

const PIPELINES = [
  [
    "table=0,priority=100,ip,ct_state=-trk,actions=ct(table=1,zone=1)",
    "table=0,priority=0,actions=drop",
    "table=1,priority=100,ct_state=+trk+inv,actions=drop",
    "table=1,priority=90,ip,ct_state=+trk+est,actions=resubmit(,2)",
    "table=1,priority=90,ip,ct_state=+trk+rel,actions=resubmit(,2)",
    "table=1,priority=80,ip,ct_state=+trk+new,in_port=1,actions=ct(commit,zone=1,exec(set_field:0x5->ct_mark)),resubmit(,2)",
    "table=1,priority=0,actions=drop",
    "table=2,priority=10,in_port=1,actions=output:2",
    "table=2,priority=10,in_port=2,actions=output:1",
    "table=2,priority=10,in_port=3,actions=output:1",
  ],
  [
    "table=0,priority=100,ip,ct_state=-trk,actions=move:NXM_OF_IN_PORT[]->NXM_NX_REG6[0..15],ct(table=1,zone=NXM_NX_REG6[0..15])",
    "table=1,priority=100,ip,ct_state=+trk+new,actions=ct(commit,zone=NXM_NX_REG6[0..15],exec(set_field:0x1/0x1->ct_label)),output:2",
    "table=1,priority=90,ip,ct_state=+trk+est,ct_label=0x1/0x1,actions=mod_nw_tos:8,output:3",
    "table=1,priority=80,ip,ct_state=+trk,actions=output:1",
  ],
  [
    "table=0,priority=100,ip,ct_state=-trk,actions=ct(table=1,zone=7,nat)",
    "table=1,priority=100,ip,ct_state=+trk+new,in_port=1,actions=ct(commit,zone=7,nat(src=172.16.0.1)),output:2",
    "table=1,priority=100,ip,ct_state=+trk+new,in_port=2,nw_dst=172.16.0.9,actions=ct(commit,zone=7,nat(dst=10.0.0.1)),output:1",
    "table=1,priority=90,ip,ct_state=+trk+est,in_port=1,actions=output:2",
    "table=1,priority=90,ip,ct_state=+trk+est,in_port=2,actions=output:1",
    "table=1,priority=90,ip,ct_state=+trk+rel,actions=output:3",
    "table=1,priority=0,actions=output:3",
  ],
];

/** Rules a change may add (in any pipeline). */
const EXTRA = [
  "table=1,priority=95,tcp,ct_state=+trk+est,tp_dst=80,actions=output:3",
  "table=1,priority=95,ip,ct_state=+trk+new,in_port=2,actions=ct(commit,zone=1),output:1",
  "table=0,priority=200,udp,actions=output:3",
  "table=1,priority=99,ip,ct_mark=0x5,actions=output:3",
];

const IPS = ["10.0.0.1", "10.0.0.2", "172.16.0.1", "172.16.0.9"];

interface PacketArb {
  port: number;
  kind: "tcp" | "udp" | "icmp";
  src: number;
  dst: number;
  sport: number;
  dport: number;
  flags: string;
  seq: number;
  ack: number;
}

const arbPacket: fc.Arbitrary<PacketArb> = fc.record({
  port: fc.integer({ min: 1, max: 3 }),
  kind: fc.constantFrom("tcp", "tcp", "udp", "icmp"),
  src: fc.integer({ min: 0, max: 3 }),
  dst: fc.integer({ min: 0, max: 3 }),
  sport: fc.constantFrom(80, 1000, 1001),
  dport: fc.constantFrom(80, 1000, 1001),
  flags: fc.constantFrom("S", "SA", "A", "PA", "FA", "R"),
  seq: fc.constantFrom(0, 1, 1000, 1001, 5000),
  ack: fc.constantFrom(0, 1, 1001, 5001),
});

/** An "add" step carries an index into EXTRA. */
type Step = TruthStep<PacketArb, number>;

const arbStep: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: fc.array(arbPacket, { minLength: 1, maxLength: 32 }).map((packets): Step => ({ kind: "packets", packets })) },
  { weight: 1, arbitrary: fc.nat().map((index): Step => ({ kind: "add", flow: index })) },
  { weight: 1, arbitrary: fc.nat().map((index): Step => ({ kind: "del", index })) },
);

function frameOf(p: PacketArb): Uint8Array {
  const l2 = { src: `fa:16:3e:00:00:0${p.src + 1}`, dst: `fa:16:3e:00:00:0${p.dst + 1}` };
  const l3 = { src: IPS[p.src], dst: IPS[p.dst] };
  if (p.kind === "tcp") return eth(l2, ipv4(l3, tcp({ src: p.sport, dst: p.dport, flags: p.flags, seq: p.seq, ack: p.ack, window: 1000 })));
  if (p.kind === "udp") return eth(l2, ipv4(l3, udp({ src: p.sport, dst: p.dport }, new Uint8Array(4))));
  return eth(l2, ipv4(l3, icmpEcho({ id: p.sport, seq: 1, reply: p.flags === "SA" })));
}

function run(pipeline: number, steps: Step[], noCache: boolean): string[] {
  const sw = singleBridge("t.flows", PORTS, "br0", () => PIPELINES[pipeline].join("\n") + "\n");
  return runTruthSteps({ sw, noCache, learn: false, frameOf, flowText: (index) => EXTRA[index % EXTRA.length] }, steps);
}

describe("caches with conntrack never change a packet's fate", () => {
  it("cached outputs equal translated outputs for random traffic, stateful pipelines and table changes", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: PIPELINES.length - 1 }), fc.array(arbStep, { minLength: 1, maxLength: 10 }), (pipeline, steps) => {
        expect(run(pipeline, steps, false)).toEqual(run(pipeline, steps, true));
      }),
      { seed: 20261125, numRuns: 120 },
    );
  });

  it("the random traffic reaches established, NATed and recirculated-cache paths", () => {
    // A fixed exchange through the SNAT pipeline: SYN out, SYN-ACK back to the NAT address, ACK out.
    const out: PacketArb = { port: 1, kind: "tcp", src: 0, dst: 1, sport: 1000, dport: 80, flags: "S", seq: 1000, ack: 0 };
    const back: PacketArb = { port: 2, kind: "tcp", src: 1, dst: 2, sport: 80, dport: 1000, flags: "SA", seq: 5000, ack: 1001 };
    const steps: Step[] = [{ kind: "packets", packets: [out, back, { ...out, flags: "A", seq: 1001, ack: 5001 }, { ...out, flags: "A", seq: 1001, ack: 5001 }] }];
    const lines = run(2, steps, false);
    expect(lines.map((l) => l.split(":").slice(0, 2).join(":"))).toEqual(["0:p2", "1:p1", "2:p2", "3:p2"]);
    // The SYN leaves from 172.16.0.1; the SYN-ACK reaches 10.0.0.1.
    expect(lines[0].split(":")[2].slice(52, 60)).toBe("ac100001");
    expect(lines[1].split(":")[2].slice(60, 68)).toBe("0a000001");
    expect(lines).toEqual(run(2, steps, true));
  });
});
