/**
 * Differential: learn(delete_learned) against Open vSwitch 3.1. A packet
 * makes a learning flow add a flow to table 5; deleting one of the two
 * flows whose learn names cookie 0x5 deletes nothing more, deleting the
 * last deletes every flow of table 5 with that cookie, the learned one and
 * one that was never learned (OVS's learned_cookies_flush), and leaves the
 * flow with another cookie. After each step both switches dump the same
 * flows.
 */
import { describe, it, expect } from "vitest";
import { haveOvs, M, twinBridges } from "./check.js";
import { addFlowsText, deleteFlowsText } from "../../src/daemon/flowmod.js";
import { dumpBridgeFlows } from "../../src/cli/dump-flows.js";
import { Datapath } from "../../src/datapath/dpif.js";
import { addLearnedFlow } from "../../src/ofproto/load.js";
import { eth, ipv4, udp } from "../../src/packet/build.js";

const FLOWS = [
  "table=0,priority=10,in_port=1,actions=learn(table=5,delete_learned,cookie=0x5,NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],output:NXM_OF_IN_PORT[]),output:2",
  "table=0,priority=9,in_port=3,actions=learn(table=5,delete_learned,cookie=0x5,NXM_OF_ETH_SRC[],output:NXM_OF_IN_PORT[]),output:2",
  "table=5,cookie=0x5,priority=1,actions=drop",
  `table=5,cookie=0x6,priority=2,dl_src=${M(9)},actions=drop`,
].join("\n");

const sorted = (lines: string[]): string[] => lines.map((l) => l.trim()).sort();
/** Flows of table 5 (the learning flows of table 0 mention table=5 only inside learn()). */
const inTable5 = (lines: string[]): string[] => lines.filter((l) => /^(cookie=0x[0-9a-f]+, )?table=5,/.test(l));

describe.skipIf(!haveOvs)("learn(delete_learned) vs. Open vSwitch", () => {
  it("deletes the cookie's flows with the last flow whose learn names it, as OVS does", async () => {
    const { sw, br, ovs } = await twinBridges(3);
    try {
      await ovs.addFlows("br0", FLOWS + "\n");
      addFlowsText(br, FLOWS, "flows", 0);
      // One packet on p1: both learn table=5 dl_dst=<its source MAC> actions=output:1.
      const frame = eth({ src: M(1), dst: M(2) }, ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }, udp({ src: 1, dst: 2 })));
      await ovs.receive("p1", Buffer.from(frame).toString("hex"));
      await ovs.waitForTxPackets("p2", 1);
      const dp = new Datapath(sw, { onLearn: (b, f, now) => addLearnedFlow(b, f, now) });
      dp.processBatch(frame, new Uint32Array([0]), new Uint32Array([frame.length]), new Uint32Array([sw.portsByName.get("p1")!.dpPort]), 1, 1000, () => {});
      const compare = async (where: string): Promise<string[]> => {
        const theirs = sorted(await ovs.dumpFlows("br0", { protocol: "OpenFlow13" }));
        expect(sorted(dumpBridgeFlows(br, { stats: false })), where).toEqual(theirs);
        return theirs;
      };
      expect(inTable5(await compare("after learning"))).toHaveLength(3);
      for (const [i, match] of ["table=0,priority=10,in_port=1", "table=0,priority=9,in_port=3"].entries()) {
        await ovs.delFlows("br0", match, { strict: true, protocol: "OpenFlow13" });
        expect(deleteFlowsText(br, match, true), match).toBe(1);
        const table5 = inTable5(await compare(`after deleting ${match}`));
        // The first deletion leaves a flow naming cookie 0x5; the second does not: only cookie 0x6 stays.
        expect(table5.length, match).toBe(i === 0 ? 3 : 1);
      }
    } finally {
      await ovs.stop();
    }
  });
});
