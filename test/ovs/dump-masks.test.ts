/**
 * Differential: partly masked MAC and IPv6 addresses in `dpctl/dump-flows`
 * (megaflows) and in `ovs-ofctl dump-flows` (rules), against OVS, and the
 * VLAN part of the key of single- and double-tagged frames. A mask
 * that covers only some bytes of an address, or some bits of one of its
 * 32-bit words, must print the masked value and the mask as OVS does
 * (odp-util's format_eth/format_ipv6 and match_format).
 */
import { describe, it, expect } from "vitest";
import { haveOvs, M } from "./check.js";
import { type Scenario, setupOvs, buildScenarioSwitch, ovsMegaflows, flowplaneMegaflows } from "./scenario.js";
import { OvsSandbox } from "./harness.js";
import { dumpBridgeFlows } from "../../src/cli/dump-flows.js";
import { eth, ipv4, ipv6, udp } from "../../src/packet/build.js";

const FLOWS = [
  "priority=10,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00,actions=output:2",
  "priority=9,dl_src=fa:16:3e:00:00:00/ff:ff:ff:00:00:00,actions=output:2",
  "priority=8,ipv6,ipv6_src=2001:db8::/48,actions=output:2",
  "priority=7,ipv6,ipv6_dst=::1/::ff,actions=output:2",
  "priority=6,ipv6,ipv6_src=2001:db8:0:1::/ffff:ffff:0:ffff::,actions=output:2",
  "priority=5,dl_vlan=5,actions=output:2",
  "priority=0,actions=drop",
].join("\n");

const v6 = (src: string, dst: string, srcMac = M(1)): Uint8Array =>
  eth({ src: srcMac, dst: M(2) }, ipv6({ src, dst }, udp({ src: 1, dst: 2 })));

const s: Scenario = {
  name: "dump-masks",
  bridges: [{ name: "br0", flows: FLOWS }],
  ports: [
    { name: "pa", bridge: "br0", ofport: 1 },
    { name: "pb", bridge: "br0", ofport: 2 },
  ],
  inputs: [
    { port: "pa", frame: eth({ src: M(1), dst: "01:00:5e:00:00:fb", type: 0x88b5 }, new Uint8Array(46)) },
    { port: "pa", frame: v6("2001:db8:0:7::5", "2001:db8:1::9", "02:00:00:00:00:01") },
    { port: "pa", frame: v6("2001:db9::5", "fe80::1201", "02:00:00:00:00:01") },
    { port: "pa", frame: v6("2001:db8:77:1:2::3", "fe80::1202", "02:00:00:00:00:01") },
    { port: "pa", frame: v6("2001:db9::5", "fe80::1202", "02:00:00:00:00:01") },
    // Double-tagged: with OVS's default vlan-limit of 1 the key ends at the inner TPID.
    { port: "pa", frame: eth({ src: "02:00:00:00:00:02", dst: M(2), vlans: [{ tpid: 0x88a8, vid: 5 }, { vid: 7 }] }, ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }, udp({ src: 1, dst: 2 }))) },
    { port: "pa", frame: eth({ src: "02:00:00:00:00:02", dst: M(2), vlans: [{ vid: 5, pcp: 3 }] }, ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }, udp({ src: 1, dst: 2 }))) },
  ],
};

describe.skipIf(!haveOvs)("partly masked addresses in dumps vs. Open vSwitch", () => {
  it("dpctl/dump-flows prints each frame's megaflow as OVS does", async () => {
    const ovs = await OvsSandbox.start();
    let theirs: string[][];
    try {
      await setupOvs(s, ovs);
      theirs = await ovsMegaflows(s, ovs);
    } finally {
      await ovs.stop();
    }
    expect(flowplaneMegaflows(s)).toEqual(theirs);
  });

  it("dump-flows prints the rules' masked addresses as ovs-ofctl does", async () => {
    const ovs = await OvsSandbox.start();
    let theirs: string[];
    try {
      await setupOvs(s, ovs);
      theirs = await ovs.dumpFlows("br0", { protocol: "OpenFlow10" });
    } finally {
      await ovs.stop();
    }
    const sw = buildScenarioSwitch(s);
    const ours = dumpBridgeFlows(sw.byName.get("br0")!).map((l) => l.trim());
    expect(ours).toEqual(theirs);
  });
});
