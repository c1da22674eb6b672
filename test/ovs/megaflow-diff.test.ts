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
import { megaflowBatch, splitMegaflow, floodingInputs, type MegaflowCase } from "./megaflow-diff.js";
import { M } from "./check.js";
import { eth } from "../../src/packet/build.js";
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

  it("lets only frames whose translation floods come in another output order", () => {
    const frame = eth({ src: M(1), dst: M(9), type: 0x88b5 }, new Uint8Array(46));
    const flows = ["in_port=1 actions=output:3,output:2", "in_port=2 actions=output:1,NORMAL", "in_port=3 actions=output:4", "in_port=5 actions=write_actions(FLOOD)"].join("\n");
    const s = {
      name: "flood-order",
      bridges: [{ name: "br", flows }, { name: "br2" }],
      ports: [
        ...[1, 2, 3, 5].map((n) => ({ name: `p${n}`, bridge: "br", ofport: n })),
        { name: "p4", bridge: "br", ofport: 4, type: "patch" as const, peer: "q1" },
        { name: "q1", bridge: "br2", ofport: 1, type: "patch" as const, peer: "p4" },
        { name: "q2", bridge: "br2", ofport: 2 },
      ],
      inputs: ["p1", "p2", "p3", "p5"].map((port) => ({ port, frame })),
    };
    // p3's frame floods in br2, behind the patch port, through its default NORMAL table.
    expect(floodingInputs(s)).toEqual([false, true, true, true]);
  });
});
