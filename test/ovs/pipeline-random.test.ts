/**
 * Differential: 200 random small pipelines (seeded) through Open vSwitch 3.1
 * and flowplane. Each case is a bridge with four ports (random VLAN modes)
 * and tables 0-3 of random rules: unique priorities per table; matches on
 * in_port, dl_type, nw_src/nw_dst prefixes, nw_proto, tp_src/tp_dst,
 * tcp_flags, ICMP type, ARP op, ip_frag, VLAN, dl_dst masks, registers and
 * metadata; actions among output (also by register, to LOCAL, to a missing
 * port, to the controller), queues, packet marks, header rewrites and
 * moves, push/strip VLAN, resubmit and goto_table to later tables, NORMAL,
 * FLOOD, ALL, groups, clone, learn(), exit, write_actions/clear_actions/
 * write_metadata, drop. A third of the cases hang a second bridge (NORMAL
 * or its own random tables) behind a patch port. Each case sends 16-24
 * frames: random ones, then one-bit variants of them. Every rule is valid
 * OpenFlow 1.3: the generator adds the prerequisites a rewrite needs, as
 * ovs-ofctl requires.
 *
 * The cases are built in scenarios/random.ts. Cases run 25 to a sandbox
 * (each with its own bridges; see check.ts's runBatch, which takes OVS's
 * slow path for every frame); a failure names the case's seed and prints its
 * flows and every difference.
 */
import { describe, it, expect } from "vitest";
import { runBatch, haveOvs } from "./check.js";
import { CASES, seeds, randomScenario } from "./scenarios/random.js";

/** Cases per OVS sandbox. */
const BATCH = 25;

describe.skipIf(!haveOvs)("pipeline vs. Open vSwitch: random tables", () => {
  for (let b = 0; b < CASES / BATCH; b++) {
    const batch = seeds.slice(b * BATCH, (b + 1) * BATCH);
    it(`cases ${b * BATCH + 1}-${(b + 1) * BATCH}`, async () => {
      const scenarios = batch.map(randomScenario);
      const problems = await runBatch(scenarios);
      const report: string[] = [];
      problems.forEach((list, k) => {
        if (list.length === 0) return;
        const s = scenarios[k];
        const tables = s.bridges.map((br) => `${br.name}:\n${br.flows}`).join("");
        report.push(`${s.name} (ports ${JSON.stringify(s.ports.slice(2))}):\n${tables}${list.join("\n")}`);
      });
      expect(report.join("\n\n"), `${report.length} of ${batch.length} random cases differ`).toBe("");
    });
  }
});
