/**
 * The scenario judge and the bundle: a step passes only when exactly the
 * expected ports transmitted and the checked headers hold; the bundled
 * captures match their steps; flowplane already gets right every step that
 * needs no connection tracking (ARP through the router's responder and the
 * patch ports, anti-spoofing drops).
 */
import { describe, it, expect } from "vitest";
import { join } from "node:path";
import { judgeStep, loadScenarioBundle, runScenario, scenarioCapture } from "../../src/neutron/scenario.js";
import { eth, ipv4, tcp } from "../../src/packet/build.js";

const BUNDLE = loadScenarioBundle(join(import.meta.dirname, "../../pcaps/neutron"));
const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

describe("judgeStep", () => {
  const frame = hex(eth({ src: "fa:16:3e:00:04:02", dst: "fa:16:3e:00:04:01" }, ipv4({ src: "172.24.4.2", dst: "203.0.113.5", ttl: 63 }, tcp({ src: 43080, dst: 80, flags: "S" }))));
  const step = { port: "tap-vm2", note: "", to: ["qg"], check: { ip_src: "172.24.4.2", tp_src: 43080, ttl: 63 } };

  it("passes exactly the expected ports with the expected headers", () => {
    expect(judgeStep(step, { qg: [frame] })).toEqual({ ok: true, got: ["qg"], problems: [] });
  });

  it("fails on a missing, an extra port, or a header that differs", () => {
    expect(judgeStep(step, {}).problems).toEqual(["expected qg, got no port (dropped)"]);
    expect(judgeStep(step, { qg: [frame], "tap-vm1": [frame] }).ok).toBe(false);
    expect(judgeStep({ ...step, check: { ip_src: "10.0.0.12" } }, { qg: [frame] }).problems).toEqual(["qg: ip_src is 172.24.4.2, expected 10.0.0.12"]);
    expect(judgeStep({ ...step, to: [] }, { qg: [frame] }).problems).toEqual(["expected no port (dropped), got qg"]);
  });
});

describe("the bundled scenarios", () => {
  it("have one frame per step, on known ports", () => {
    for (const s of BUNDLE.scenarios) expect(scenarioCapture(BUNDLE, s).count).toBe(s.steps.length);
  });

  it("flowplane gets ARP and anti-spoofing steps right already", () => {
    const byName = new Map(BUNDLE.scenarios.map((s) => [s.name, s]));
    const cross = byName.get("cross-subnet")!;
    const out = runScenario(BUNDLE, cross);
    for (const i of [0, 1, 2, 3]) expect(judgeStep(cross.steps[i], out[i]), cross.steps[i].note).toMatchObject({ ok: true });
    const invalid = byName.get("invalid")!;
    const inv = runScenario(BUNDLE, invalid);
    for (const i of [3, 4, 5, 6, 7]) expect(judgeStep(invalid.steps[i], inv[i]), invalid.steps[i].note).toMatchObject({ ok: true });
  });
});
