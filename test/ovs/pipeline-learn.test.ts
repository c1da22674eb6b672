/**
 * Differential: learn() beyond a plain match-and-output, through Open
 * vSwitch 3.1 and flowplane: fin_idle_timeout/fin_hard_timeout (the learned
 * flow's first action is fin_timeout), cookie, idle timeout, delete_learned,
 * limit=N with result_dst (1 while the table holds fewer than N flows with
 * the learn's cookie, 0 once the limit refuses one: the second source port
 * below), plus conjunctions, write_metadata/goto_table and outputs to LOCAL
 * and IN_PORT in the same table. Overlapping rules have distinct
 * priorities: OpenFlow leaves ties undefined. Compared: the datapath actions each input
 * traces to, the frames every port sends with and without caches, the
 * trace text of the learning inputs line for line, and the megaflows.
 */
import { describe, it, expect } from "vitest";
import { checkScenario, haveOvs, M } from "./check.js";
import { megaflowBatch } from "./megaflow-diff.js";
import { OvsSandbox } from "./harness.js";
import { buildScenarioSwitch, setupOvs, type Scenario } from "./scenario.js";
import { traceKey, traceText } from "../../src/cli/trace.js";
import { eth, ipv4, udp } from "../../src/packet/build.js";

const FLOWS = `
table=0,priority=10,in_port=1,udp,tp_dst=1 actions=learn(table=5,idle_timeout=30,fin_idle_timeout=5,fin_hard_timeout=9,cookie=0x77,NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],output:NXM_OF_IN_PORT[]),output:3
table=0,priority=10,in_port=1,udp,tp_dst=2 actions=learn(table=5,delete_learned,eth_type=0x800,NXM_OF_IP_SRC[]=NXM_OF_IP_DST[],load:0x5->NXM_NX_REG0[]),resubmit(,5),output:3
table=0,priority=10,in_port=1,udp,tp_dst=3 actions=learn(table=6,limit=1,result_dst=NXM_NX_REG3[5],eth_type=0x800,nw_proto=17,NXM_OF_UDP_SRC[]),resubmit(,7)
table=0,priority=10,in_port=1,udp,tp_dst=5 actions=output:LOCAL,output:IN_PORT
table=0,priority=20,in_port=1,udp,tp_dst=7 actions=conjunction(9,1/2)
table=0,priority=20,in_port=1,udp,tp_src=1000 actions=conjunction(9,2/2)
table=0,priority=20,conj_id=9 actions=output:4
table=0,priority=10,in_port=1,udp,tp_dst=8 actions=write_metadata:0xff00/0xff00,goto_table:2
table=2,priority=10,metadata=0xff00/0xff00 actions=output:3
table=5,priority=1 actions=output:4
table=7,priority=10,reg3=0x20/0x20 actions=output:3
table=7,priority=5 actions=output:4
priority=1 actions=drop
`;

const frame = (srcMac: number, sport: number, dport: number): Uint8Array =>
  eth({ src: M(srcMac), dst: M(2) }, ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }, udp({ src: sport, dst: dport })));

const s: Scenario = {
  name: "learn",
  bridges: [{ name: "br0", flows: FLOWS }],
  ports: [1, 3, 4].map((n) => ({ name: `p${n}`, bridge: "br0", ofport: n })),
  inputs: [
    { port: "p1", frame: frame(1, 1000, 1) },
    { port: "p1", frame: frame(2, 1000, 2) },
    // limit=1: the first source port is learned (reg3 bit 5 set: p3), the second is refused (p4).
    { port: "p1", frame: frame(1, 1000, 3) },
    { port: "p1", frame: frame(2, 1001, 3) },
    { port: "p1", frame: frame(1, 1000, 5) },
    { port: "p1", frame: frame(2, 1000, 7) },
    { port: "p1", frame: frame(1, 1000, 8) },
  ],
};

describe.skipIf(!haveOvs)("pipeline vs. Open vSwitch: learn options", () => {
  it("traces and sends what OVS does, the learn limit included", async () => {
    const { tx } = await checkScenario(s);
    // The limit case means something only if OVS refused the second flow: its packet went to p4.
    expect(tx.p4.length).toBeGreaterThan(0);
  });

  it("traces the learned flow mod and result_dst as ofproto/trace does", async () => {
    const sw = buildScenarioSwitch(s);
    const ovs = await OvsSandbox.start();
    try {
      await setupOvs(s, ovs);
      for (const i of [0, 1, 2]) {
        const hex = Buffer.from(s.inputs[i].frame).toString("hex");
        const theirs = (await ovs.trace("br0", "p1", hex)).raw;
        const key = traceKey(sw, sw.byName.get("br0")!, "in_port=p1", hex);
        if (!(key instanceof Uint32Array)) throw new Error(key.error);
        const body = (t: string): string => t.slice(t.indexOf('bridge("'), t.indexOf("Final flow"));
        expect(body(traceText(sw, key, 0, false).text), `input ${i + 1}`).toBe(body(theirs));
      }
    } finally {
      await ovs.stop();
    }
  });

  it("installs the same megaflows", async () => {
    const { problems, tally } = await megaflowBatch([{ scenario: s }]);
    expect(tally.frames).toBe(s.inputs.length);
    expect(problems[0].join("\n")).toBe("");
  });
});
