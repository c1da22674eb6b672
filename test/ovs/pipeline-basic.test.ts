/**
 * Differential: small pipelines through Open vSwitch 3.1 and flowplane;
 * every port must transmit the same frames byte for byte, and each input's
 * trace must give the same datapath actions (outputs as sets where OVS's
 * flood order is unspecified). The scenarios live in scenarios/basic.ts.
 */
import { describe, it } from "vitest";
import { checkScenario, haveOvs } from "./check.js";
import * as basic from "./scenarios/basic.js";

describe.skipIf(!haveOvs)("pipeline vs. Open vSwitch: basics", () => {
  it("in_port/output table with header rewrites", async () => {
    await checkScenario(basic.rewrite);
  });

  it("NORMAL with access and trunk ports", async () => {
    await checkScenario(basic.normal);
  });
});
