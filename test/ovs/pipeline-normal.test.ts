/**
 * Differential: the NORMAL action alone (OVS's xlate_normal: access, trunk,
 * native-tagged and native-untagged ports; untagged, tagged and
 * priority-tagged frames; flooding, learning, MAC moves, reserved MACs) and
 * MTU enforcement on transmit, through Open vSwitch 3.1 and flowplane
 * (scenarios/normal.ts).
 */
import { describe, it, expect } from "vitest";
import { checkScenario, runBatch, haveOvs } from "./check.js";
import * as normal from "./scenarios/normal.js";

describe.skipIf(!haveOvs)("pipeline vs. Open vSwitch: NORMAL", () => {
  it("floods by VLAN from every kind of port, untagged, tagged and priority-tagged", async () => {
    await checkScenario(normal.normalFlood);
  });

  it("learns, forwards unicast, follows MAC moves and drops reserved MACs", async () => {
    await checkScenario(normal.normalLearn);
  });

  // Regression test, once a bug in src/ofproto/bridge.ts (Port constructor, default vlanMode): a port
  // with a tag and trunks but no vlan_mode is an access port in OVS
  // (vswitchd/bridge.c port_configure: "ignoring trunks in favor of implicit
  // vlan"); flowplane makes it a trunk port, so it accepts tagged frames and
  // floods VLAN 20 to it.
  it("treats a port with tag and trunks but no vlan_mode as an access port", async () => {
    await checkScenario(normal.tagAndTrunks);
  });

  // ovs-vswitchd.conf.db(5) lets `tag` be empty on any port; ofproto-dpif.c's
  // bundle_set then gives an access or native port VLAN 0. A native port of
  // VLAN 0 trunks what `trunks` says (VLAN 0 included) and takes untagged and
  // priority-tagged frames into VLAN 0; native-untagged sends VLAN 0 untagged.
  it("gives native-tagged, native-untagged and access ports without a tag native VLAN 0", async () => {
    await checkScenario(normal.nativeVlan0);
  });

  // Regression test, once a bug in src/datapath/dpif.ts: when the MAC table changes, a cached
  // megaflow that used it is revalidated by a translation without side
  // effects, and kept when its actions did not change; so the source MAC of
  // a packet that hits it is not learned, and maintain() only refreshes MACs
  // still on the same port (MacTable.refresh). Here frame 3 brings MAC 1 back
  // to p1 through the megaflow of frame 1: OVS's slow path learns it (and
  // OVS's datapath does too, when the revalidator applies the flow's
  // XC_NORMAL xlate-cache entry), so frame 4 goes to p1; flowplane's cached
  // datapath still sends it to p2 (without caches it sends it to p1). runBatch
  // takes OVS's slow path for every frame.
  it("learns a MAC that moves back through a cached megaflow", async () => {
    const [problems] = await runBatch([normal.macMoveBack]);
    expect(problems.join("\n")).toBe("");
  });
});

describe.skipIf(!haveOvs)("pipeline vs. Open vSwitch: MTU on transmit", () => {
  it("drops frames longer than MTU + Ethernet (+ one 802.1Q) header", async () => {
    await checkScenario(normal.mtu);
  });

  // Regression test, once a bug in src/ofproto/bridge.ts (Port MTU of the LOCAL port) / src/cli/replay.ts:
  // OVS sets an internal port's MTU to the smallest MTU of the bridge's other
  // ports (ofproto.c, update_mtu_ofproto); flowplane keeps 1500 for the
  // bridge's LOCAL port, so a 1419-byte tagged frame flooded to br0 is sent
  // by flowplane and dropped by OVS.
  it("gives the LOCAL port the smallest MTU of the bridge's ports", async () => {
    await checkScenario(normal.mtuLocal);
  });

  // Regression test, once a bug in src/cli/replay.ts (the MTU check in `emit`): OVS's dummy netdev
  // (netdev_dummy_send) allows one extra 4-byte header only when the outer
  // EtherType is 0x8100; flowplane also allows 0x88a8 and a second tag, so an
  // 802.1ad frame of MTU + 18 bytes and a double-tagged frame of MTU + 22
  // bytes leave flowplane but not OVS.
  it("allows only one 802.1Q header over the MTU", async () => {
    await checkScenario(normal.mtuQinq);
  });
});
