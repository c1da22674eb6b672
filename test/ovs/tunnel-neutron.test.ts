/**
 * Differential: Neutron's br-tun (compiled by src/neutron/tun-flows.ts) on
 * real native VXLAN and GRE tunnel ports, through Open vSwitch 3.1 and
 * flowplane. br-int (NORMAL, VM ports tagged with local VLANs) is patched to
 * br-tun; br-tun's tunnels (key=flow, as the agent creates them) leave
 * through br-phy's p0. Frames from the VMs must leave p0 with the same outer
 * bytes (VNI from set_tunnel, flooding per network, l2pop unicast, learned
 * unicast), outer frames arriving on p0 must reach the same VM ports, and
 * ARP requests for known addresses are answered locally.
 */
import { describe, it, expect } from "vitest";
import { haveOvs } from "./check.js";
import { eth, ipv4, udp, vxlan, gre, arp, icmpEcho } from "../../src/packet/build.js";
import { compileTunFlows, parseTunInput } from "../../src/neutron/tun-flows.js";
import { runFlowplane, LOCAL_IP, LOCAL_MAC, REMOTE_A, REMOTE_A_MAC, REMOTE_A_HOST, REMOTE_B, REMOTE_B_MAC, REMOTE_B_HOST, type PortFrame } from "../tunnel/fixture.js";
import { tunnelSandbox, ovsReceiveInOrder } from "../tunnel/ovs-side.js";
import { buildBrTunSwitch, setupOvsBrTun, type BrTunHost } from "../tunnel/br-tun-fixture.js";

const VM1 = "fa:16:3e:00:00:01"; // net 0x42 (VXLAN), local VLAN 1
const VM2 = "fa:16:3e:00:00:02"; // net 0x77 (GRE), local VLAN 2
const REMOTE_VM = "fa:16:3e:76:47:75"; // on host A, net 0x42 (l2pop entry)
const STRANGER = "fa:16:3e:99:99:99"; // on host B, learned from traffic

const tunFlows = compileTunFlows(
  parseTunInput({
    patch_int_ofport: 1,
    arp_responder: true,
    l2_population: true,
    tunnels: [
      { ofport: 2, type: "vxlan", remote_ip: REMOTE_A },
      { ofport: 3, type: "vxlan", remote_ip: REMOTE_B },
      { ofport: 4, type: "gre", remote_ip: REMOTE_A },
    ],
    networks: [
      { network_type: "vxlan", segmentation_id: 0x42, local_vlan: 1 },
      { network_type: "gre", segmentation_id: 0x77, local_vlan: 2 },
    ],
    fdb: [
      { segmentation_id: 0x42, mac: REMOTE_VM, ip: "10.0.0.8", remote_ip: REMOTE_A },
      { segmentation_id: 0x42, mac: "fa:16:3e:00:00:0b", ip: "10.0.0.11", remote_ip: REMOTE_B },
      { segmentation_id: 0x77, mac: "fa:16:3e:00:00:0c", ip: "10.1.0.12", remote_ip: REMOTE_A },
    ],
  }),
).join("\n");

const TUNNEL_OPTIONS = (remote: string): Record<string, string> => ({ remote_ip: remote, key: "flow" });

const host: BrTunHost = {
  intPorts: [
    { name: "vm1", ofport: 1, tag: 1 },
    { name: "vm2", ofport: 2, tag: 2 },
  ],
  patchTunOfport: 3,
  tunnels: [
    { name: "vxlan-a", ofport: 2, type: "vxlan", options: TUNNEL_OPTIONS(REMOTE_A) },
    { name: "vxlan-b", ofport: 3, type: "vxlan", options: TUNNEL_OPTIONS(REMOTE_B) },
    { name: "gre-a", ofport: 4, type: "gre", options: TUNNEL_OPTIONS(REMOTE_A) },
  ],
  remotes: [REMOTE_A_HOST, REMOTE_B_HOST],
  intFlows: "priority=0 actions=NORMAL\n",
  tunFlows,
};

const udpFrame = (src: string, dst: string, ipSrc: string, ipDst: string, sport: number): Uint8Array => eth({ src, dst }, ipv4({ src: ipSrc, dst: ipDst }, udp({ src: sport, dst: 7 })));
const outerFrom = (remote: string, remoteMac: string, l4: Parameters<typeof ipv4>[1], proto?: number): Uint8Array =>
  eth({ src: remoteMac, dst: LOCAL_MAC }, ipv4({ src: remote, dst: LOCAL_IP, df: true, proto }, l4));

const inputs: PortFrame[] = [
  // Broadcast ARP for an address the responder knows: answered on br-tun, back to vm1.
  { port: "vm1", frame: eth({ src: VM1, dst: "ff:ff:ff:ff:ff:ff" }, arp({ op: "request", sha: VM1, spa: "10.0.0.1", tpa: "10.0.0.8" })) },
  // Broadcast ARP for an unknown address: flooded to the network's tunnels (l2pop: A and B).
  { port: "vm1", frame: eth({ src: VM1, dst: "ff:ff:ff:ff:ff:ff" }, arp({ op: "request", sha: VM1, spa: "10.0.0.1", tpa: "10.0.0.99" })) },
  // Unicast to the l2pop entry: one VXLAN frame to A with VNI 0x42.
  { port: "vm1", frame: udpFrame(VM1, REMOTE_VM, "10.0.0.1", "10.0.0.8", 1000) },
  // Unicast to an unknown MAC: flooded like a broadcast.
  { port: "vm1", frame: udpFrame(VM1, STRANGER, "10.0.0.1", "10.0.0.9", 1001) },
  // From the GRE network: to its l2pop entry over GRE with key 0x77.
  { port: "vm2", frame: eth({ src: VM2, dst: "fa:16:3e:00:00:0c" }, ipv4({ src: "10.1.0.2", dst: "10.1.0.12" }, icmpEcho({ id: 1, seq: 1 }))) },
  // The stranger answers from host B over VXLAN: learned in table 20, delivered to vm1 untagged.
  { port: "p0", frame: outerFrom(REMOTE_B, REMOTE_B_MAC, udp({ src: 40000, dst: 4789 }, vxlan({ vni: 0x42 }, udpFrame(STRANGER, VM1, "10.0.0.9", "10.0.0.1", 7)))) },
  // Now unicast to the stranger follows the learned flow: only to B.
  { port: "vm1", frame: udpFrame(VM1, STRANGER, "10.0.0.1", "10.0.0.9", 1002) },
  // GRE from A for net 0x77 reaches vm2; an unknown VNI is dropped by table 4.
  { port: "p0", frame: outerFrom(REMOTE_A, REMOTE_A_MAC, gre({ key: 0x77, proto: 0x6558 }, udpFrame("fa:16:3e:00:00:0c", VM2, "10.1.0.12", "10.1.0.2", 9)), 47) },
  { port: "p0", frame: outerFrom(REMOTE_A, REMOTE_A_MAC, udp({ src: 40001, dst: 4789 }, vxlan({ vni: 0x99 }, udpFrame(REMOTE_VM, VM1, "10.0.0.8", "10.0.0.1", 9)))) },
];

describe.skipIf(!haveOvs)("Neutron br-tun on native tunnels vs. Open vSwitch", () => {
  const sandbox = tunnelSandbox((ovs) => setupOvsBrTun(ovs, host));

  it("carries VM traffic over the tunnels and back as OVS does, byte for byte", async () => {
    const ovs = sandbox();
    const ports = ["p0", "vm1", "vm2"];
    // One frame at a time: learn() and MAC learning must see the frames in order on both sides.
    const theirs = await ovsReceiveInOrder(ovs, inputs, ports);
    const ours = runFlowplane(buildBrTunSwitch(host), inputs);
    // Sanity: the scenario exercises tunnels both ways and the ARP responder.
    expect(theirs.p0.length).toBeGreaterThanOrEqual(6);
    expect(theirs.vm1.length).toBeGreaterThanOrEqual(2);
    expect(theirs.vm2.length).toBe(1);
    for (const p of ports) expect(ours[p] ?? [], p).toEqual(theirs[p]);
  }, 60_000);
});
