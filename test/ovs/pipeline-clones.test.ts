/**
 * Differential: actions that are not reversible behind a patch port or in
 * clone() with more actions after them, and output_trunc
 * (scenarios/clones.ts), through Open vSwitch 3.1 and flowplane: the
 * datapath actions each input traces to, the frames every port sends
 * (with and without caches: a NAT or a cut inside a clone never reaches
 * the outputs after it) and the megaflows each input installs.
 */
import { describe, it, expect } from "vitest";
import { checkScenario, haveOvs } from "./check.js";
import { megaflowBatch } from "./megaflow-diff.js";
import { OvsSandbox } from "./harness.js";
import { buildScenarioSwitch, setupOvs } from "./scenario.js";
import { traceKey, traceText } from "../../src/cli/trace.js";
import * as clones from "./scenarios/clones.js";

describe.skipIf(!haveOvs)("pipeline vs. Open vSwitch: datapath clones and output_trunc", () => {
  it("traces and sends what OVS does", async () => {
    const { actions } = await checkScenario(clones.pipelines);
    const theirs = actions.map(([t]) => t);
    // The scenario means something only if OVS cloned and cut where it says it does.
    expect(theirs[0]).toBe("clone(ct(commit,zone=1),q2),p3");
    expect(theirs[5]).toBe("clone(ct(commit,zone=4,nat(src=10.8.8.8)),p4),p3");
    // Last action: no clone needed.
    expect(theirs[6]).toBe("p3,ct(commit,zone=1,nat(src=10.9.9.7)),q2");
    expect(theirs[7]).toBe("trunc(40),p3,p4,trunc(200),p4");
  });

  it("reports what output_trunc refuses or skips as ofproto/trace does, and prints clones the same", async () => {
    const s = clones.pipelines;
    const sw = buildScenarioSwitch(s);
    const ovs = await OvsSandbox.start();
    try {
      await setupOvs(s, ovs);
      for (const i of [0, 5, 7, 8, 9, 10]) {
        const hex = Buffer.from(s.inputs[i].frame).toString("hex");
        const theirs = (await ovs.trace("br0", "p1", hex)).raw;
        const key = traceKey(sw, sw.byName.get("br0")!, "in_port=p1", hex);
        if (!(key instanceof Uint32Array)) throw new Error(key.error);
        // From the first bridge line to the datapath actions; the packet's own conntrack entries (OVS commits them) aside.
        const body = (t: string): string => t.slice(t.indexOf('bridge("'), t.indexOf("Datapath actions"));
        expect(body(traceText(sw, key, 0, false).text), `input ${i + 1}`).toBe(body(theirs));
      }
    } finally {
      await ovs.stop();
    }
  });

  it("installs the same megaflows", async () => {
    const { problems, tally } = await megaflowBatch([{ scenario: clones.pipelines }]);
    expect(tally.frames).toBe(clones.pipelines.inputs.length);
    expect(problems[0].join("\n")).toBe("");
  });
});
