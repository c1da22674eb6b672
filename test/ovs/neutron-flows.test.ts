/**
 * Differential: the Neutron compilers' output against Open vSwitch 3.1.
 * Every line `flowplane neutron sg-flows` and `router-flows` print for the
 * bundled scenario (pcaps/neutron/sg.json, router.json) and for a security
 * group description that exercises every rule shape (port ranges, ICMP type
 * and code, IPv6, remote groups with overlapping port ranges, allowed
 * address pairs, a port on another host) is added to a sandbox bridge with
 * `ovs-ofctl -O OpenFlow10 add-flows`, and OVS's `dump-flows` must print
 * exactly the lines flowplane printed (as a set: OVS dumps in its own order),
 * none lost, none merged, none rewritten.
 */
import { describe, it, expect } from "vitest";
import { join } from "node:path";
import { OvsSandbox } from "./harness.js";
import { haveOvs } from "./check.js";
import { loadSgInput, loadRouterInput } from "../../src/neutron/load.js";
import { parseSgInput } from "../../src/neutron/sg-model.js";
import { compileSecurityGroups } from "../../src/neutron/sg-flows.js";
import { compileRouter } from "../../src/neutron/router-flows.js";
import { WIDE_SG } from "../neutron/fixtures.js";

const ROOT = join(import.meta.dirname, "../..");

async function ovsDump(lines: string[]): Promise<string[]> {
  const ovs = await OvsSandbox.start();
  try {
    await ovs.addBridge("br0", { protocols: ["OpenFlow10", "OpenFlow13"] });
    await ovs.addFlows("br0", lines.join("\n") + "\n", { protocol: "OpenFlow10" });
    return await ovs.dumpFlows("br0", { protocol: "OpenFlow10" });
  } finally {
    await ovs.stop();
  }
}

const sorted = (xs: string[]): string[] => [...xs].sort();

describe.skipIf(!haveOvs)("Neutron compilers vs. Open vSwitch add-flows/dump-flows", () => {
  it("sg-flows of the bundled scenario", async () => {
    const lines = compileSecurityGroups(loadSgInput(join(ROOT, "pcaps/neutron/sg.json")));
    expect(sorted(await ovsDump(lines))).toEqual(sorted(lines));
  });

  it("sg-flows with port ranges, ICMP types, IPv6, remote groups and address pairs", async () => {
    const lines = compileSecurityGroups(parseSgInput(WIDE_SG));
    expect(lines.some((l) => l.includes("conj_id="))).toBe(true);
    expect(lines.some((l) => /tp_dst=0x[0-9a-f]+\/0x[0-9a-f]+/.test(l))).toBe(true);
    expect(sorted(await ovsDump(lines))).toEqual(sorted(lines));
  });

  it("router-flows of the bundled scenario", async () => {
    const lines = compileRouter(loadRouterInput(join(ROOT, "pcaps/neutron/router.json")));
    expect(sorted(await ovsDump(lines))).toEqual(sorted(lines));
  });
});
