/**
 * `flowplane start` (what `npm start` runs): the bundled default, a small
 * OpenStack Neutron deployment (pcaps/neutron/). br-int carries the flows of
 * Neutron's openvswitch firewall driver compiled from sg.json, br-router a
 * router compiled from router.json; each scenario's capture is replayed on a
 * fresh switch and every step is judged: delivered to exactly the ports it
 * should reach (with the NATed addresses and routed TTL it should carry), or
 * dropped. Prints one line per step and a summary, or JSON with --json.
 *
 * Exit status: 0 when every step goes as expected, or when the only steps
 * that do not are in scenarios needing a feature flowplane lacks (they are
 * reported as such); 1 when a scenario whose needs are all met goes wrong.
 */
import type { Command } from "commander";
import { packageRoot } from "./version.js";
import { OutputBuffer } from "./output.js";
import { UsageError } from "../errors.js";
import { bundledScenarioDir, judgeStep, loadScenarioBundle, runScenario, type Capability } from "../neutron/scenario.js";
import { missingCapabilities, CAPABILITY_SOURCE } from "../neutron/capabilities.js";

interface StepReport {
  step: number;
  port: string;
  note: string;
  expected: string[];
  got: string[];
  ok: boolean;
  problems: string[];
}

interface ScenarioReport {
  name: string;
  title: string;
  needs: Capability[];
  missing: Capability[];
  steps: StepReport[];
}

export function registerStart(program: Command): void {
  program
    .command("start")
    .description("run the bundled default: the Neutron scenarios of pcaps/neutron (security groups, router, NAT) and a summary")
    .option("--dir <dir>", "another scenario directory (scenarios.json, topology, captures) instead of the bundled one")
    .option("--scenario <name>", "run only this scenario")
    .option("--json", "print the result as JSON")
    .action((opts: { dir?: string; scenario?: string; json?: boolean }) => {
      const dir = opts.dir ?? bundledScenarioDir(packageRoot);
      const bundle = loadScenarioBundle(dir);
      const chosen = opts.scenario === undefined ? bundle.scenarios : bundle.scenarios.filter((s) => s.name === opts.scenario);
      if (chosen.length === 0) throw new UsageError(`no scenario "${opts.scenario}" (have: ${bundle.scenarios.map((s) => s.name).join(", ")})`);
      const reports: ScenarioReport[] = chosen.map((s) => {
        const outputs = runScenario(bundle, s);
        return {
          name: s.name,
          title: s.title,
          needs: s.needs,
          missing: missingCapabilities(s.needs),
          steps: s.steps.map((st, i) => {
            const v = judgeStep(st, outputs[i]);
            return { step: i + 1, port: st.port, note: st.note, expected: [...st.to].sort(), got: v.got, ok: v.ok, problems: v.problems };
          }),
        };
      });
      const all = reports.flatMap((r) => r.steps);
      const good = all.filter((s) => s.ok).length;
      const broken = reports.filter((r) => r.missing.length === 0 && r.steps.some((s) => !s.ok));
      const missing = [...new Set(reports.flatMap((r) => r.missing))];
      const out = new OutputBuffer(process.stdout.fd);
      if (opts.json) {
        out.line(JSON.stringify({ dir, scenarios: reports, steps: all.length, asExpected: good, missing: Object.fromEntries(missing.map((c) => [c, CAPABILITY_SOURCE[c]])) }, null, 2));
      } else {
        out.line(`flowplane start: the Neutron scenarios of ${dir}`);
        out.line("  br-int: the openvswitch firewall driver's flows (sg.json); br-router: routing, SNAT, floating IPs, metadata (router.json)");
        for (const r of reports) {
          out.line("");
          out.line(`${r.name}: ${r.title}${r.missing.length ? `  [flowplane lacks ${r.missing.join(", ")}]` : ""}`);
          for (const s of r.steps) {
            const where = s.got.length ? s.got.join(", ") : "dropped";
            out.line(`  ${String(s.step).padStart(2)} ${s.ok ? "ok  " : "FAIL"} ${s.note} -> ${where}`);
            if (!s.ok) for (const p of s.problems) out.line(`          ${p}`);
          }
        }
        out.line("");
        out.line(`summary: ${reports.length} scenarios, ${all.length} steps, ${good} as expected, ${all.length - good} not`);
        for (const c of missing) out.line(`  flowplane lacks ${c}: ${CAPABILITY_SOURCE[c]}`);
        if (broken.length) out.line(`  wrong although nothing is missing: ${broken.map((r) => r.name).join(", ")}`);
      }
      out.flush();
      if (broken.length) process.exitCode = 1;
    });
}
