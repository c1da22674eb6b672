/**
 * Differential: truncated and malformed frames (scenarios/malformed.ts:
 * pcaps/malformed.pcap, and more cut from well-formed frames with the
 * builder's truncate) through a table that matches and rewrites L3/L4
 * fields, in Open vSwitch 3.1 and flowplane. Both sides must classify a
 * broken header the same way (parsing stops at the broken layer) and rewrite
 * or pass the bytes identically.
 */
import { describe, it } from "vitest";
import { checkScenario, haveOvs } from "./check.js";
import * as malformed from "./scenarios/malformed.js";

describe.skipIf(!haveOvs)("pipeline vs. Open vSwitch: truncated and malformed frames", () => {
  it("classifies and rewrites every frame of malformed.pcap as OVS does", async () => {
    await checkScenario(malformed.malformedPcap);
  });

  it("classifies and rewrites frames cut inside every header as OVS does", async () => {
    await checkScenario(malformed.truncated);
  });

  it("rewrites ICMP, ND, ARP, IPv6, SCTP, TCP and UDP headers as OVS does, whole or cut", async () => {
    await checkScenario(malformed.rewrites);
  });

  it("handles fragments, odd IHL and lengths the same way", async () => {
    await checkScenario(malformed.odd);
  });
});
