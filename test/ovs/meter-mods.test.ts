/**
 * Differential: meter-table changes on a running bridge (add-meter,
 * mod-meter, del-meters one and all, the flows that go with a deleted
 * meter, and the texts ovs-ofctl itself refuses), step by step against
 * Open vSwitch 3.1 driven with ovs-ofctl: after every step both switches
 * must agree on the error (or its absence), on dump-meters and on
 * dump-flows; at marked steps packets must trace the same way, which checks
 * the datapath meter ids translation emits (`Datapath actions: meter(0),2`),
 * including the id OVS keeps for a meter its datapath refused.
 */
import { describe, it, expect } from "vitest";
import { haveOvs, M, openflowErrorOf, twinBridges } from "./check.js";
import { addFlowsText } from "../../src/daemon/flowmod.js";
import { addMeterText, deleteMetersText, dumpMeters, modifyMeterText } from "../../src/daemon/metermod.js";
import { dumpBridgeFlows } from "../../src/cli/dump-flows.js";
import { traceKey, traceText } from "../../src/cli/trace.js";
import { FlowSyntaxError } from "../../src/ofctl/errors.js";
import { eth, ipv4, udp } from "../../src/packet/build.js";

type Step = { cmd: "add-meter" | "mod-meter" | "del-meters" | "add-flow" | "trace"; arg: string };

const NINE_BANDS = "meter=20,pktps,bands=" + Array.from({ length: 9 }, (_, i) => `type=drop,rate=${i + 1}`).join(",");

const STEPS: Step[] = [
  { cmd: "add-meter", arg: "meter=1,pktps,bands=type=drop,rate=10" },
  // The same id again: OFPMMFC_METER_EXISTS.
  { cmd: "add-meter", arg: "meter=1,kbps,bands=type=drop,rate=5" },
  { cmd: "add-meter", arg: "meter=2,kbps,burst,stats,bands=type=drop,rate=100,burst_size=20" },
  // A band the userspace datapath cannot run: OFPMMFC_BAD_BAND, and OVS keeps the datapath id it took (2).
  { cmd: "add-meter", arg: "meter=4,kbps,bands=type=dscp_remark,rate=100,prec_level=1" },
  { cmd: "add-meter", arg: "meter=3 kbps bands=type=drop rate=100 type=drop rate=200" },
  { cmd: "add-meter", arg: "meter=5,kbps,pktps,bands=type=drop,rate=10" },
  { cmd: "add-meter", arg: NINE_BANDS },
  { cmd: "add-meter", arg: "meter=slowpath,pktps,bands=type=drop,rate=10" },
  // Texts ovs-ofctl refuses before sending anything.
  { cmd: "add-meter", arg: "meter=6,pktps,bands=type=drop,rate=10,burst_size=5" },
  { cmd: "add-meter", arg: "meter=7,pktps,bands=type=drop" },
  { cmd: "add-meter", arg: "meter=0,pktps,bands=type=drop,rate=5" },
  { cmd: "add-meter", arg: "meter=7,bands=type=drop,rate=5" },
  { cmd: "add-meter", arg: "meter=7,pktps" },
  { cmd: "add-meter", arg: "meter=7,pktps,bands=rate=5" },
  { cmd: "add-meter", arg: "meter=7,pktps,bands=type=red,rate=5" },
  { cmd: "add-meter", arg: "meter=7,pktps,color=1,bands=type=drop,rate=5" },
  { cmd: "add-meter", arg: "meter=7,pktps,bands=type=dscp_remark,rate=5" },
  { cmd: "add-meter", arg: "meter=x,pktps,bands=type=drop,rate=5" },
  // mod-meter: unknown id, a new rate and unit, and a band the datapath refuses (meter 1 stays).
  { cmd: "mod-meter", arg: "meter=9,pktps,bands=type=drop,rate=5" },
  { cmd: "mod-meter", arg: "meter=1,kbps,bands=type=drop,rate=50" },
  { cmd: "mod-meter", arg: "meter=1,kbps,bands=type=dscp_remark,rate=50,prec_level=2" },
  { cmd: "add-flow", arg: "priority=10,in_port=1,udp,actions=meter:1,output:2" },
  { cmd: "add-flow", arg: "priority=10,in_port=2,udp,actions=meter:2,goto_table:1" },
  { cmd: "add-flow", arg: "table=1,priority=10,udp,actions=meter:3,mod_nw_tos:8,output:4" },
  { cmd: "add-flow", arg: "priority=10,in_port=3,udp,actions=meter:2,output:1" },
  { cmd: "add-flow", arg: "priority=5,in_port=3,actions=output:4" },
  // A flow naming a meter the switch lacks: OFPMMFC_INVALID_METER.
  { cmd: "add-flow", arg: "priority=9,in_port=3,actions=meter:9,output:1" },
  { cmd: "trace", arg: "" },
  // Deleting meter 2 deletes the flows that name it; its datapath id (1) is free again.
  { cmd: "del-meters", arg: "meter=2" },
  { cmd: "add-meter", arg: "meter=8,pktps,bands=type=drop,rate=10" },
  { cmd: "add-flow", arg: "priority=10,in_port=2,udp,actions=meter:8,output:3" },
  // A meter that is not there: no error, nothing changes.
  { cmd: "del-meters", arg: "meter=55" },
  // Bad selections.
  { cmd: "del-meters", arg: "meter=2,pktps" },
  { cmd: "del-meters", arg: "meter=x" },
  { cmd: "trace", arg: "" },
  { cmd: "del-meters", arg: "meter=all" },
  { cmd: "trace", arg: "" },
];

/** dump-meters output as one string per meter, header and blank lines dropped. */
const ovsMeterBlocks = (out: string): string[] =>
  out
    .split("\n")
    .slice(1)
    .join("\n")
    .split("\n\n")
    .map((b) => b.trim())
    .filter((b) => b !== "")
    .sort();
const flowLines = (lines: string[]): string[] => lines.map((l) => l.trim()).sort();
/** The OpenFlow error an answer names, ovs-ofctl's own complaint, or "ok". */
const ovsErrorOf = (message: string): string => openflowErrorOf(message) ?? /ovs-ofctl: (.*)/.exec(message)?.[1] ?? `other: ${message}`;
const ourErrorOf = (e: unknown): string => openflowErrorOf((e as Error).message) ?? (e instanceof FlowSyntaxError ? e.reason : (e as Error).message);

const frame = (dst: number): string => Buffer.from(eth({ src: M(1), dst: M(2) }, ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }, udp({ src: 5000, dst })))).toString("hex");

describe.skipIf(!haveOvs)("meter-table changes vs. Open vSwitch", () => {
  it("agrees after every add-meter, mod-meter, del-meters and add-flow, and traces the same meter ids", async () => {
    const { sw, br, ovs } = await twinBridges();
    try {
      const O = ["-O", "OpenFlow13"];
      let traces = 0;
      for (const [i, step] of STEPS.entries()) {
        const where = `step ${i + 1}: ${step.cmd} ${step.arg}`;
        if (step.cmd === "trace") {
          for (const inPort of ["p1", "p2", "p3"]) {
            const theirs = (await ovs.trace("br0", inPort, frame(7))).raw;
            const key = traceKey(sw, br, `in_port=${inPort}`, frame(7));
            if (!(key instanceof Uint32Array)) throw new Error(key.error);
            const body = (t: string): string => t.slice(t.indexOf('bridge("'));
            expect(body(traceText(sw, key, 0, false).text), `${where} ${inPort}`).toBe(body(theirs));
            traces++;
          }
          continue;
        }
        let theirs = "ok";
        try {
          await ovs.ofctl([...O, step.cmd, "br0", step.arg]);
        } catch (e) {
          theirs = ovsErrorOf((e as Error).message);
        }
        let ours = "ok";
        try {
          if (step.cmd === "add-meter") addMeterText(br, step.arg);
          else if (step.cmd === "mod-meter") modifyMeterText(br, step.arg);
          else if (step.cmd === "del-meters") deleteMetersText(br, step.arg);
          else addFlowsText(br, step.arg, "flow", 0);
        } catch (e) {
          ours = ourErrorOf(e);
        }
        expect(ours, where).toBe(theirs);
        expect([...dumpMeters(br)].sort(), where).toEqual(ovsMeterBlocks(await ovs.ofctl([...O, "dump-meters", "br0"])));
        expect(flowLines(dumpBridgeFlows(br, { stats: false })), where).toEqual(flowLines(await ovs.dumpFlows("br0", { protocol: "OpenFlow13" })));
      }
      expect(traces).toBe(9);
    } finally {
      await ovs.stop();
    }
  });
});
