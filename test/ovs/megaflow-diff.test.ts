/**
 * Megaflow differential (issue #6) on every named pipeline scenario
 * (scenarios/*.ts): for each input frame, the megaflows flowplane installs
 * (`replay --megaflows`, both caches empty before each frame) equal those
 * Open vSwitch installs for the same frame with its datapath flows purged
 * first: match fields, masks and datapath actions, statistics aside (see
 * megaflow-diff.ts for how flood order is compared). The random tables are
 * in megaflow-diff-random.test.ts.
 */
import { describe, it, expect } from "vitest";
import { haveOvs } from "./check.js";
import { megaflowBatch, maskedValues, splitMegaflow, type MegaflowCase } from "./megaflow-diff.js";
import { classifierMasks } from "./scenarios/classifier.js";
import * as basic from "./scenarios/basic.js";
import * as neutron from "./scenarios/neutron.js";
import * as of13 from "./scenarios/of13.js";
import * as normal from "./scenarios/normal.js";
import * as malformed from "./scenarios/malformed.js";

/** Each case in its own sandbox (flow text names ports, so cases cannot share one). */
async function expectSameMegaflows(cases: MegaflowCase[]): Promise<void> {
  const report: string[] = [];
  let frames = 0;
  for (const c of cases) {
    const { problems, tally } = await megaflowBatch([c]);
    if (process.env.FP_MEGAFLOW_DEBUG) console.log(c.scenario.name, JSON.stringify(tally));
    frames += tally.frames;
    if (problems[0].length) report.push(`${c.scenario.name}:\n  ${problems[0].join("\n  ")}`);
  }
  expect(frames, "frames compared").toBeGreaterThan(0);
  expect(report.join("\n\n"), `${report.length} of ${cases.length} scenarios install other megaflows than OVS`).toBe("");
}

/** One sandbox per scenario, several scenarios per test: generous on a loaded machine. */
const TEST_TIMEOUT_MS = 300_000;

describe.skipIf(!haveOvs)("megaflows vs. Open vSwitch", () => {
  it("un-wildcards what the classifier consulted: prefixes, stages, misses", async () => {
    await expectSameMegaflows([{ scenario: classifierMasks }]);
  }, TEST_TIMEOUT_MS);

  it("basics: header rewrites, resubmit, NORMAL with access and trunk ports", async () => {
    await expectSameMegaflows([{ scenario: basic.rewrite }, { scenario: basic.normal }]);
  }, TEST_TIMEOUT_MS);

  it("Neutron: br-int, br-tun with learn(), DVR, patch ports", async () => {
    await expectSameMegaflows([neutron.brInt, neutron.brTun, neutron.dvr, neutron.brIntBrTun, neutron.brIntFlowsBrTunNormal].map((scenario) => ({ scenario })));
  }, TEST_TIMEOUT_MS);

  it("OpenFlow 1.3 instructions and groups", async () => {
    await expectSameMegaflows([
      { scenario: of13.instructions },
      { scenario: of13.groups },
      // OVS picks a select bucket in the datapath (hash, recirc): README, deliberate differences.
      { scenario: of13.select, skip: of13.selectRecirculates },
      { scenario: of13.zeroHex },
    ]);
  }, TEST_TIMEOUT_MS);

  it("NORMAL: access, trunk and native ports, learning, MAC moves, MTU", async () => {
    await expectSameMegaflows([normal.normalFlood, normal.normalLearn, normal.tagAndTrunks, normal.nativeVlan0, normal.macMoveBack, normal.mtu, normal.mtuLocal, normal.mtuQinq].map((scenario) => ({ scenario })));
  }, TEST_TIMEOUT_MS);

  it("truncated and malformed frames", async () => {
    await expectSameMegaflows([malformed.malformedPcap, malformed.truncated, malformed.rewrites, malformed.odd].map((scenario) => ({ scenario })));
  }, TEST_TIMEOUT_MS);
});

describe("megaflow comparison", () => {
  it("reads a dump line's match and actions, statistics and flags aside", () => {
    const line = "recirc_id(0),in_port(p1),packet_type(ns=0,id=0),eth_type(0x0800),ipv4(frag=no), packets:1, bytes:60, used:0.001s, flags:S, actions:set(ipv4(ttl=9)),p2";
    expect(splitMegaflow(line)).toEqual({ match: "recirc_id(0),in_port(p1),packet_type(ns=0,id=0),eth_type(0x0800),ipv4(frag=no)", actions: "set(ipv4(ttl=9)),p2" });
  });

  it("compares partly masked addresses on their masked bits only", () => {
    const ovs = "ipv6(src=fd00:10::f816:3eff:fe8b:7c11/::ffff,proto=17),eth(dst=33:33:00:00:00:02/01:00:00:00:00:00)";
    const ours = "ipv6(src=::254.139.124.17/::ffff,proto=17),eth(dst=33:33:00:00:00:00/01:00:00:00:00:00)";
    expect(maskedValues(ours)).toBe(maskedValues(ovs));
    // A difference under the mask still shows.
    expect(maskedValues("ipv6(src=::254.139.124.18/::ffff)")).not.toBe(maskedValues("ipv6(src=::254.139.124.17/::ffff)"));
    expect(maskedValues("eth(dst=32:33:00:00:00:00/01:00:00:00:00:00)")).not.toBe(maskedValues("eth(dst=33:33:00:00:00:00/01:00:00:00:00:00)"));
    // Exact values and IPv4 (printed whole on both sides) are left as they are.
    expect(maskedValues("ipv4(dst=10.0.0.7/255.255.255.0),eth(src=fa:16:3e:00:00:01)")).toBe("ipv4(dst=10.0.0.7/255.255.255.0),eth(src=fa:16:3e:00:00:01)");
  });
});
