/**
 * Megaflow differential (issue #6) on the random tables of
 * pipeline-random.test.ts (scenarios/random.ts): every case, in batches
 * that share one OVS sandbox, each frame's megaflows compared with those
 * OVS installs for it after `revalidator/purge` (see megaflow-diff.ts).
 * FP_MEGAFLOW_CASES=N runs the first N cases only (all 200 by default).
 */
import { describe, it, expect } from "vitest";
import { haveOvs } from "./check.js";
import { megaflowBatch } from "./megaflow-diff.js";
import { CASES, seeds, randomScenario } from "./scenarios/random.js";

/** Cases per OVS sandbox. */
const BATCH = 25;
/** A batch sends about 500 frames, each a purge, an upcall and a dump: 30 s on an idle 2-core machine, several times that under load. */
const BATCH_TIMEOUT_MS = 600_000;
const cases = Math.min(CASES, Number(process.env.FP_MEGAFLOW_CASES ?? CASES));

describe.skipIf(!haveOvs)("megaflows vs. Open vSwitch: random tables", () => {
  for (let b = 0; b * BATCH < cases; b++) {
    const batch = seeds.slice(b * BATCH, Math.min((b + 1) * BATCH, cases));
    it(`cases ${b * BATCH + 1}-${b * BATCH + batch.length}`, async () => {
      const scenarios = batch.map(randomScenario);
      const { problems, tally } = await megaflowBatch(scenarios.map((scenario) => ({ scenario })));
      if (process.env.FP_MEGAFLOW_DEBUG) console.log(JSON.stringify(tally));
      const report: string[] = [];
      problems.forEach((list, k) => {
        if (list.length === 0) return;
        const s = scenarios[k];
        const tables = s.bridges.map((br) => `${br.name}:\n${br.flows}`).join("");
        report.push(`${s.name} (ports ${JSON.stringify(s.ports.slice(2))}):\n${tables}  ${list.join("\n  ")}`);
      });
      expect(tally.frames, "frames compared").toBeGreaterThan(0);
      expect(report.join("\n\n"), `${report.length} of ${batch.length} random cases install other megaflows than OVS`).toBe("");
    }, BATCH_TIMEOUT_MS);
  }
});
