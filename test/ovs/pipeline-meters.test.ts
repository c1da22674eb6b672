/**
 * Differential: meters in pipelines (scenarios/meters.ts) through Open
 * vSwitch 3.1 and flowplane: the datapath actions each input traces to
 * (meter ids switch-wide across two bridges and a patch port), the frames
 * every port sends, with and without caches, and the megaflows installed
 * for each input (`meter(ID)` in their actions).
 */
import { describe, it, expect } from "vitest";
import { checkScenario, haveOvs } from "./check.js";
import { megaflowBatch } from "./megaflow-diff.js";
import * as meters from "./scenarios/meters.js";

describe.skipIf(!haveOvs)("pipeline vs. Open vSwitch: meters", () => {
  it("traces meter ids and sends the same frames", async () => {
    const { actions } = await checkScenario(meters.pipelines);
    // The scenario means something only if its actions meter.
    expect(actions.filter(([theirs]) => /meter\(\d+\)/.test(theirs)).length).toBe(5);
    expect(actions[2][0]).toMatch(/^meter\(1\),meter\(0\),set\(ipv4\(tos=0x8\/0xfc\)\),clone\(meter\(4\),q2\),p2$/);
  });

  it("installs the same megaflows, meter actions included", async () => {
    const { problems, tally } = await megaflowBatch([{ scenario: meters.pipelines }]);
    expect(tally.frames).toBe(meters.pipelines.inputs.length);
    expect(problems[0].join("\n")).toBe("");
  });
});
