/**
 * Differential: OpenStack Neutron pipelines through Open vSwitch 3.1 and
 * flowplane (scenarios/neutron.ts): br-int's anti-spoofing tables
 * 0/24/25/60 with access-port tags, br-tun's unicast/flood split with
 * learn() into table 20, DVR MAC rewrites across resubmit chains, and br-int
 * joined to br-tun by patch ports.
 */
import { describe, it } from "vitest";
import { checkScenario, haveOvs } from "./check.js";
import * as neutron from "./scenarios/neutron.js";

describe.skipIf(!haveOvs)("pipeline vs. Open vSwitch: Neutron", () => {
  it("br-int anti-spoofing tables 0/24/25/60 with access tags", async () => {
    await checkScenario(neutron.brInt);
  });

  it("br-tun: patch-int vs tunnel input, multicast masks, learn() into table 20", async () => {
    await checkScenario(neutron.brTun);
  });

  it("DVR: MAC rewrites across resubmit chains", async () => {
    await checkScenario(neutron.dvr);
  });

  it("br-int (NORMAL) joined to br-tun (flows) by patch ports", async () => {
    await checkScenario(neutron.brIntBrTun);
  });

  it("br-int (flows) joined to br-tun (NORMAL) by patch ports", async () => {
    await checkScenario(neutron.brIntFlowsBrTunNormal);
  });
});
