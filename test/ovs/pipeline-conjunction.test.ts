/**
 * Differential: conjunctive matches (ovs-fields(7) "Conjunctive Match
 * Fields") through Open vSwitch 3.1 and flowplane: every port must transmit
 * the same frames byte for byte, each input's trace must give the same
 * datapath actions, and each frame must install the same megaflow (match,
 * mask and actions), since the classifier un-wildcards every clause flow it
 * consulted as OVS's classifier_lookup__ does. ofproto/trace shows the
 * conj_id flow a conjunctive match led to as the rule that matched, and
 * never the clause flows: the whole trace text is compared too.
 */
import { describe, it, expect } from "vitest";
import { checkScenario, haveOvs, M } from "./check.js";
import { megaflowBatch } from "./megaflow-diff.js";
import { OvsSandbox } from "./harness.js";
import { buildScenarioSwitch, setupOvs, type Scenario } from "./scenario.js";
import { traceKey, traceText } from "../../src/cli/trace.js";
import { eth, ipv4, tcp, udp, icmpEcho } from "../../src/packet/build.js";

const PORTS = [1, 2, 3, 4, 5].map((n) => ({ name: `p${n}`, bridge: "br0", ofport: n }));

const tcpFrame = (src: string, dst: string, dport: number): Uint8Array =>
  eth({ src: M(1), dst: M(2) }, ipv4({ src, dst }, tcp({ src: 40000, dst: dport, flags: "S" })));
const udpFrame = (src: string, dst: string, dport: number): Uint8Array =>
  eth({ src: M(1), dst: M(2) }, ipv4({ src, dst }, udp({ src: 5000, dst: dport }, new Uint8Array(8))));

/** Two-clause conjunctions (sources x ports), and one conjunction with three clauses; conj_id flows in tables 0 and 1. */
export const clauses: Scenario = {
  name: "conj-clauses",
  bridges: [
    {
      name: "br0",
      flows: [
        // conjunction 1: nw_src in {10.0.0.1, 10.0.0.2} and tcp tp_dst in {80, 443}.
        "table=0,priority=10,ip,nw_src=10.0.0.1 actions=conjunction(1,1/2)",
        "table=0,priority=10,ip,nw_src=10.0.0.2 actions=conjunction(1,1/2)",
        "table=0,priority=10,tcp,tp_dst=80 actions=conjunction(1,2/2)",
        "table=0,priority=10,tcp,tp_dst=443 actions=conjunction(1,2/2)",
        "table=0,priority=10,conj_id=1,ip actions=output:2",
        // conjunction 2: in_port=1, nw_dst 10.0.9.0/24, udp: three clauses; its conj_id flow goes on to table 1.
        "table=0,priority=20,in_port=1 actions=conjunction(2,1/3)",
        "table=0,priority=20,ip,nw_dst=10.0.9.0/24 actions=conjunction(2,2/3)",
        "table=0,priority=20,udp actions=conjunction(2,3/3)",
        "table=0,priority=20,conj_id=2,ip actions=mod_nw_tos:32,resubmit(,1)",
        "table=0,priority=1 actions=output:5",
        // Table 1 has conjunction 3 of its own: udp tp_dst 53 and nw_src 10.0.0.0/16.
        "table=1,priority=30,udp,tp_dst=53 actions=conjunction(3,1/2)",
        "table=1,priority=30,ip,nw_src=10.0.0.0/16 actions=conjunction(3,2/2)",
        "table=1,priority=30,conj_id=3,udp actions=output:3",
        "table=1,priority=0 actions=output:4",
      ].join("\n"),
    },
  ],
  ports: PORTS,
  inputs: [
    { port: "p1", frame: tcpFrame("10.0.0.1", "10.0.1.1", 80) },
    { port: "p1", frame: tcpFrame("10.0.0.2", "10.0.1.1", 443) },
    { port: "p1", frame: tcpFrame("10.0.0.3", "10.0.1.1", 80) },
    { port: "p1", frame: tcpFrame("10.0.0.1", "10.0.1.1", 22) },
    { port: "p1", frame: udpFrame("10.0.0.1", "10.0.9.7", 53) },
    { port: "p1", frame: udpFrame("10.1.0.1", "10.0.9.7", 53) },
    { port: "p1", frame: udpFrame("10.0.0.1", "10.0.9.7", 99) },
    { port: "p2", frame: udpFrame("10.0.0.1", "10.0.9.7", 53) },
    { port: "p1", frame: tcpFrame("10.0.0.1", "10.0.9.7", 80) },
    { port: "p1", frame: eth({ src: M(1), dst: M(2) }, ipv4({ src: "10.0.0.2", dst: "10.0.9.1" }, icmpEcho({ id: 1, seq: 1 }))) },
  ],
};

/**
 * Priorities: overlapping conjunctions at 30 and 20; a normal flow at 40
 * that beats them; a normal flow at 25 between them; a clause flow at 50
 * whose conjunction never completes, falling back to a normal flow with the
 * same match at 15; a conjunction with no conj_id flow; a conj_id flow below
 * a normal flow the repeated lookup prefers; one clause flow in two
 * conjunctions.
 */
export const priorities: Scenario = {
  name: "conj-priorities",
  bridges: [
    {
      name: "br0",
      flows: [
        "table=0,priority=30,ip,nw_src=10.0.0.1 actions=conjunction(10,1/2)",
        "table=0,priority=30,udp actions=conjunction(10,2/2)",
        "table=0,priority=30,conj_id=10 actions=output:2",
        "table=0,priority=20,ip,nw_dst=10.0.0.9 actions=conjunction(11,1/2),conjunction(12,1/2)",
        "table=0,priority=20,udp,tp_dst=53 actions=conjunction(11,2/2)",
        "table=0,priority=20,tcp actions=conjunction(12,2/2)",
        "table=0,priority=20,conj_id=11 actions=output:3",
        "table=0,priority=20,conj_id=12 actions=output:4",
        "table=0,priority=40,ip,nw_dst=10.0.0.66 actions=output:5",
        "table=0,priority=25,udp,tp_dst=4789 actions=output:5,output:4",
        "table=0,priority=50,udp,tp_dst=7 actions=conjunction(13,1/2)",
        "table=0,priority=15,udp,tp_dst=7 actions=output:3,output:2",
        "table=0,priority=35,ip,nw_src=10.0.0.5 actions=conjunction(14,1/2)",
        "table=0,priority=35,icmp actions=conjunction(14,2/2)",
        "table=0,priority=45,ip,nw_src=10.0.0.6 actions=conjunction(15,1/2)",
        "table=0,priority=45,icmp actions=conjunction(15,2/2)",
        "table=0,priority=5,conj_id=15 actions=output:2",
        "table=0,priority=8,ip,nw_src=10.0.0.6 actions=output:4",
        "table=0,priority=1 actions=drop",
      ].join("\n"),
    },
  ],
  ports: PORTS,
  inputs: [
    { port: "p1", frame: udpFrame("10.0.0.1", "10.0.0.9", 53) },
    { port: "p1", frame: udpFrame("10.0.0.2", "10.0.0.9", 53) },
    { port: "p1", frame: tcpFrame("10.0.0.2", "10.0.0.9", 80) },
    { port: "p1", frame: udpFrame("10.0.0.1", "10.0.0.66", 53) },
    { port: "p1", frame: udpFrame("10.0.0.2", "10.0.0.9", 4789) },
    { port: "p1", frame: udpFrame("10.0.0.1", "10.0.0.9", 4789) },
    { port: "p1", frame: udpFrame("10.0.0.2", "10.0.0.3", 7) },
    { port: "p1", frame: udpFrame("10.0.0.1", "10.0.0.9", 7) },
    { port: "p1", frame: eth({ src: M(1), dst: M(2) }, ipv4({ src: "10.0.0.5", dst: "10.0.0.9" }, icmpEcho({ id: 1, seq: 1 }))) },
    { port: "p1", frame: eth({ src: M(1), dst: M(2) }, ipv4({ src: "10.0.0.6", dst: "10.0.0.9" }, icmpEcho({ id: 1, seq: 1 }))) },
    { port: "p1", frame: tcpFrame("10.0.0.6", "10.0.0.8", 80) },
  ],
};

/**
 * The openvswitch firewall driver's remote-group rules (as in
 * pcaps/neutron/br-int.flows): after conntrack, clause 1 is the remote
 * group's addresses per network (reg6), clause 2 the destination port
 * (reg5), one conjunction per conntrack state.
 */
export const remoteGroup: Scenario = {
  name: "conj-remote-group",
  bridges: [
    {
      name: "br0",
      flows: [
        "table=0,priority=10,ip,in_port=1 actions=load:0x2->NXM_NX_REG5[],load:0x1->NXM_NX_REG6[],ct(table=82,zone=1)",
        "table=0,priority=10,ip,in_port=4 actions=load:0x3->NXM_NX_REG5[],load:0x1->NXM_NX_REG6[],ct(table=82,zone=1)",
        "table=0,priority=0 actions=drop",
        "table=82,priority=70,ct_state=+est-rel-rpl,ip,reg5=0x2 actions=conjunction(16,2/2)",
        "table=82,priority=70,ct_state=+new-est,ip,reg5=0x2 actions=conjunction(17,2/2)",
        "table=82,priority=70,conj_id=16,ct_state=+est-rel-rpl,ip,reg5=0x2 actions=load:0x10->NXM_NX_REG7[],output:2",
        "table=82,priority=70,conj_id=17,ct_state=+new-est,ip,reg5=0x2 actions=load:0x11->NXM_NX_REG7[],ct(commit,zone=NXM_NX_REG6[0..15]),output:2",
        "table=82,priority=70,ct_state=+est-rel-rpl,ip,reg6=0x1,nw_src=10.0.0.12 actions=conjunction(16,1/2)",
        "table=82,priority=70,ct_state=+new-est,ip,reg6=0x1,nw_src=10.0.0.12 actions=conjunction(17,1/2)",
        "table=82,priority=70,ct_state=+est-rel-rpl,ip,reg6=0x1,nw_src=10.0.1.13 actions=conjunction(16,1/2)",
        "table=82,priority=70,ct_state=+new-est,ip,reg6=0x1,nw_src=10.0.1.13 actions=conjunction(17,1/2)",
        "table=82,priority=50,ct_state=+inv+trk actions=drop",
        "table=82,priority=0 actions=output:3",
      ].join("\n"),
    },
  ],
  ports: PORTS,
  inputs: [
    { port: "p1", frame: tcpFrame("10.0.0.12", "10.0.0.20", 22) },
    { port: "p1", frame: tcpFrame("10.0.1.13", "10.0.0.20", 22) },
    { port: "p1", frame: tcpFrame("10.0.0.14", "10.0.0.20", 22) },
    { port: "p4", frame: tcpFrame("10.0.0.12", "10.0.0.20", 22) },
    { port: "p1", frame: eth({ src: M(1), dst: M(2) }, ipv4({ src: "10.0.0.12", dst: "10.0.0.20" }, tcp({ src: 40000, dst: 22, flags: "A" }))) },
  ],
};

describe.skipIf(!haveOvs)("pipeline vs. Open vSwitch: conjunctive matches", () => {
  it("two- and three-clause conjunctions, conj_id flows in two tables", async () => {
    const { tx } = await checkScenario(clauses);
    // The scenario exercises both conjunctions: OVS sends frames out of p2 (conjunction 1) and p3 (conjunction 3 after 2).
    expect(tx.p2.length).toBeGreaterThan(0);
    expect(tx.p3.length).toBeGreaterThan(0);
  });

  it("overlapping priorities, a higher normal flow, fall-back to an identical match, conj_id below a normal flow", async () => {
    await checkScenario(priorities);
  });

  it("Neutron remote-group rules after conntrack", async () => {
    const { tx } = await checkScenario(remoteGroup);
    expect(tx.p2.length).toBeGreaterThan(0);
  });

  it("traces as ofproto/trace does, line for line", async () => {
    for (const s of [clauses, priorities]) {
      const ovs = await OvsSandbox.start();
      try {
        await setupOvs(s, ovs);
        const sw = buildScenarioSwitch(s);
        for (const [i, input] of s.inputs.entries()) {
          const hex = Buffer.from(input.frame).toString("hex");
          const theirs = await ovs.trace("br0", input.port, hex, { names: true });
          const key = traceKey(sw, sw.bridges[0], `in_port=${input.port}`, hex);
          expect(key).toBeInstanceOf(Uint32Array);
          const ours = traceText(sw, key as Uint32Array, 0, true).text;
          expect(ours.trim(), `${s.name}: trace of input ${i + 1}`).toBe(theirs.raw.trim());
        }
      } finally {
        await ovs.stop();
      }
    }
  });

  it("installs the megaflows OVS installs", async () => {
    const { problems, tally } = await megaflowBatch([{ scenario: clauses }, { scenario: priorities }]);
    expect(tally.frames).toBe(clauses.inputs.length + priorities.inputs.length);
    expect(problems.flat().join("\n")).toBe("");
    // Each conntrack frame in a sandbox of its own: which recirculation id OVS
    // hands the next frame depends on whether the previous frame's id has left
    // its grace period yet, a matter of wall-clock time.
    for (const input of remoteGroup.inputs) {
      const one = await megaflowBatch([{ scenario: { ...remoteGroup, inputs: [input] } }]);
      expect(one.tally.frames).toBe(1);
      expect(one.problems.flat().join("\n")).toBe("");
    }
  });
});
