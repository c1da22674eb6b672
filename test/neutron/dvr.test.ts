/**
 * The DVR compiler (src/neutron/dvr.ts): its flows against the lines
 * reference 003 dumps from a live devstack, its input checks, and a
 * differential against Open vSwitch 3.1 of one compute host (br-int, br-tun
 * with DVR, br-phy) on native VXLAN ports: routed frames leave with the
 * host's DVR MAC, routed frames from another host's DVR MAC reach the
 * instance with the gateway MAC put back, and the gateway's ARP and MAC
 * never enter the tunnels.
 */
import { describe, it, expect } from "vitest";
import { haveOvs } from "../ovs/check.js";
import { eth, ipv4, udp, vxlan, arp, icmpEcho } from "../../src/packet/build.js";
import { parseFlow } from "../../src/ofctl/index.js";
import { compileDvrIntFlows, compileDvrTunFlows, DvrInputError, type DvrInput } from "../../src/neutron/dvr.js";
import { runFlowplane, LOCAL_IP, LOCAL_MAC, REMOTE_A, REMOTE_A_MAC, REMOTE_A_HOST, type PortFrame } from "../tunnel/fixture.js";
import { tunnelSandbox, ovsReceiveInOrder } from "../tunnel/ovs-side.js";
import { buildBrTunSwitch, setupOvsBrTun, type BrTunHost } from "../tunnel/br-tun-fixture.js";

// Reference 003's node3: private2 (0x5) on local VLAN 1, private (0x42) on VLAN 2.
const GW1_MAC = "fa:16:3e:9c:cf:de";
const GW2_MAC = "fa:16:3e:5c:3d:f9";
const MY_DVR = "fa:16:3f:59:35:b1";
const REMOTE_DVR = "fa:16:3f:73:c3:04";
const VM3 = "fa:16:3e:23:c5:28"; // 10.1.0.10 here, ofport 3
const VM2 = "fa:16:3e:96:e2:a4"; // 10.0.0.4 here, ofport 5
const VM1 = "fa:16:3e:76:47:75"; // 10.0.0.8 on host A

const input = (ofports = { vm3: 3, vm2: 5 }): DvrInput => ({
  tun: {
    patchIntOfport: 1,
    arpResponder: true,
    l2Population: true,
    cookie: null,
    tunnels: [{ ofport: 2, type: "vxlan", remoteIp: REMOTE_A }],
    networks: [
      { type: "vxlan", segmentationId: 0x42, localVlan: 2 },
      { type: "vxlan", segmentationId: 0x5, localVlan: 1 },
    ],
    fdb: [{ segmentationId: 0x42, mac: VM1, ip: "10.0.0.8", remoteIp: REMOTE_A }],
  },
  patchTunOfport: 10,
  dvrMac: MY_DVR,
  remoteDvrMacs: [REMOTE_DVR],
  subnets: [
    { segmentationId: 0x42, gatewayIp: "10.0.0.1", gatewayMac: GW1_MAC },
    { segmentationId: 0x5, gatewayIp: "10.1.0.1", gatewayMac: GW2_MAC },
  ],
  localPorts: [
    { segmentationId: 0x5, mac: VM3, ofport: ofports.vm3 },
    { segmentationId: 0x42, mac: VM2, ofport: ofports.vm2 },
  ],
});

describe("neutron DVR compiler", () => {
  it("writes the flows reference 003 dumps on its compute nodes", () => {
    // node3's br-int: routed frames for test04 get the gateway MAC back (003, "node3 側での当該 Flow").
    expect(compileDvrIntFlows(input())).toContain("table=1,priority=4,dl_vlan=1,dl_dst=fa:16:3e:23:c5:28 actions=strip_vlan,mod_dl_src:fa:16:3e:5c:3d:f9,output:3");
    // node2's br-tun, where private2 is VLAN 2 and the DVR MAC fa:16:3f:73:c3:04 (003's dump-flows br-tun).
    const node2 = input();
    node2.tun.networks = [
      { type: "vxlan", segmentationId: 0x42, localVlan: 1 },
      { type: "vxlan", segmentationId: 0x5, localVlan: 2 },
    ];
    node2.dvrMac = REMOTE_DVR;
    node2.remoteDvrMacs = [MY_DVR];
    const tun = compileDvrTunFlows(node2);
    expect(tun).toContain("table=1,priority=1,dl_vlan=2,dl_src=fa:16:3e:5c:3d:f9 actions=mod_dl_src:fa:16:3f:73:c3:04,resubmit(,2)");
    expect(tun).toContain("table=1,priority=1,dl_vlan=1,dl_src=fa:16:3e:9c:cf:de actions=mod_dl_src:fa:16:3f:73:c3:04,resubmit(,2)");
    expect(tun).toContain("table=1,priority=0 actions=resubmit(,2)");
    // 003's trace on node1: table 4 goes on to table 9, where a DVR MAC is not learned.
    expect(tun).toContain("table=4,priority=1,tun_id=0x5 actions=mod_vlan_vid:2,resubmit(,9)");
    expect(tun).toContain("table=9,priority=1,dl_src=fa:16:3f:59:35:b1 actions=output:1");
    expect(tun).toContain("table=9,priority=0 actions=resubmit(,10)");
  });

  it("replaces tun-flows' patch-int and tunnel-to-VLAN flows instead of adding rivals", () => {
    const tun = compileDvrTunFlows(input());
    expect(tun.filter((l) => l.startsWith("table=0,priority=1,in_port=1 "))).toEqual(["table=0,priority=1,in_port=1 actions=resubmit(,1)"]);
    expect(tun.filter((l) => l.startsWith("table=4,priority=1,tun_id=0x42 "))).toEqual(["table=4,priority=1,tun_id=0x42 actions=mod_vlan_vid:2,resubmit(,9)"]);
    for (const l of [...tun, ...compileDvrIntFlows(input())]) expect(() => parseFlow(l, { fileName: "dvr" })).not.toThrow();
  });

  it.each([
    [(i: DvrInput) => (i.dvrMac = "FA:16:3F:00:00:01"), /dvr_mac: "FA:16:3F:00:00:01" is not a lower-case MAC address/],
    [(i: DvrInput) => (i.remoteDvrMacs = [MY_DVR]), /remote_dvr_macs: fa:16:3f:59:35:b1 is this host's own DVR MAC/],
    [(i: DvrInput) => (i.subnets[0].segmentationId = 9), /subnets\[0\]: no network with segmentation_id 9/],
    [(i: DvrInput) => (i.subnets[1].gatewayIp = "10.1.0"), /subnets\[1\]\.gateway_ip: "10\.1\.0" is not an IPv4 address/],
    [(i: DvrInput) => (i.subnets = i.subnets.slice(0, 1)), /local_ports\[0\]: network 5 has no router interface/],
  ])("rejects bad input (%#)", (spoil, message) => {
    const i = input();
    spoil(i);
    expect(() => compileDvrTunFlows(i)).toThrow(message);
    expect(() => compileDvrIntFlows(i)).toThrow(DvrInputError);
  });
});

// One compute host: vm3 (private2, VLAN 1), vm2 (private, VLAN 2), the router's qr ports.
const dvr = input();
const INT_PORTS = [
  { name: "vm3", ofport: 3, tag: 1 },
  { name: "vm2", ofport: 5, tag: 2 },
  { name: "qra", ofport: 6, tag: 2 },
  { name: "qrb", ofport: 7, tag: 1 },
];
const host: BrTunHost = {
  intPorts: INT_PORTS,
  patchTunOfport: 10,
  tunnels: [{ name: "vxlan-a", ofport: 2, type: "vxlan", options: { remote_ip: REMOTE_A, key: "flow" } }],
  remotes: [REMOTE_A_HOST],
  intFlows: compileDvrIntFlows(dvr).join("\n") + "\n",
  tunFlows: compileDvrTunFlows(dvr).join("\n") + "\n",
};

const ping = (src: string, dst: string, ipSrc: string, ipDst: string, ttl = 64): Uint8Array => eth({ src, dst }, ipv4({ src: ipSrc, dst: ipDst, ttl }, icmpEcho({ id: 7, seq: 1 })));
const fromA = (vni: number, inner: Uint8Array): Uint8Array =>
  eth({ src: REMOTE_A_MAC, dst: LOCAL_MAC }, ipv4({ src: REMOTE_A, dst: LOCAL_IP, df: true }, udp({ src: 40000, dst: 4789 }, vxlan({ vni }, inner))));

const inputs: PortFrame[] = [
  // The router's qr ports speak first, so br-int learns where the gateway MACs live.
  { port: "qrb", frame: eth({ src: GW2_MAC, dst: "ff:ff:ff:ff:ff:ff" }, arp({ op: "request", sha: GW2_MAC, spa: "10.1.0.1", tpa: "10.1.0.1" })) },
  { port: "qra", frame: eth({ src: GW1_MAC, dst: "ff:ff:ff:ff:ff:ff" }, arp({ op: "request", sha: GW1_MAC, spa: "10.0.0.1", tpa: "10.0.0.1" })) },
  // Host A's router sends 10.0.0.8 -> 10.1.0.10 with its DVR MAC: vm3 gets it from the gateway MAC, not learned anywhere.
  { port: "p0", frame: fromA(0x5, ping(REMOTE_DVR, VM3, "10.0.0.8", "10.1.0.10", 63)) },
  // vm3 answers to its gateway: stays on br-int (the local router), nothing on p0.
  { port: "vm3", frame: ping(VM3, GW2_MAC, "10.1.0.10", "10.0.0.8") },
  // The local router routes it into private: out of the tunnel with this host's DVR MAC, VNI 0x42.
  { port: "qra", frame: ping(GW1_MAC, VM1, "10.1.0.10", "10.0.0.8", 63) },
  // vm3's ARP for its gateway: answered by the local router port, never sent to a tunnel.
  { port: "vm3", frame: eth({ src: VM3, dst: "ff:ff:ff:ff:ff:ff" }, arp({ op: "request", sha: VM3, spa: "10.1.0.10", tpa: "10.1.0.1" })) },
  // A plain VM frame from host A on private is learned and delivered by NORMAL.
  { port: "p0", frame: fromA(0x42, ping(VM1, VM2, "10.0.0.8", "10.0.0.4")) },
  // A frame from another host's DVR MAC to an instance not on this host is dropped by br-int table 1.
  { port: "p0", frame: fromA(0x5, ping(REMOTE_DVR, "fa:16:3e:00:00:99", "10.0.0.8", "10.1.0.99", 63)) },
];

describe.skipIf(!haveOvs)("Neutron DVR on a compute host vs. Open vSwitch", () => {
  const sandbox = tunnelSandbox((ovs) => setupOvsBrTun(ovs, host));

  it("rewrites and restores MACs as OVS does, byte for byte", async () => {
    const ovs = sandbox();
    const ports = ["p0", ...INT_PORTS.map((p) => p.name)];
    const theirs = await ovsReceiveInOrder(ovs, inputs, ports);
    const ours = runFlowplane(buildBrTunSwitch(host), inputs);
    // Hand-checked: vm3 got the routed ping with the gateway MAC as source.
    const routed = Buffer.from(ping(GW2_MAC, VM3, "10.0.0.8", "10.1.0.10", 63)).toString("hex");
    expect(theirs.vm3).toContain(routed);
    // The reply left on VNI 0x42 with this host's DVR MAC as inner source (outer 14+20+8+8 bytes).
    const vxlanOut = theirs.p0.map((h) => Buffer.from(h, "hex")).filter((f) => f.length > 50 && f.readUInt16BE(36) === 4789);
    expect(vxlanOut.some((f) => f.readUInt32BE(46) >>> 8 === 0x42 && f.subarray(50, 56).toString("hex") === VM1.replace(/:/g, "") && f.subarray(56, 62).toString("hex") === MY_DVR.replace(/:/g, ""))).toBe(true);
    // Nothing on the wire carries a gateway MAC or ARPs for a gateway.
    for (const f of vxlanOut) {
      expect(f.subarray(50).toString("hex")).not.toContain(GW1_MAC.replace(/:/g, ""));
      expect(f.subarray(50).toString("hex")).not.toContain(GW2_MAC.replace(/:/g, ""));
    }
    for (const p of ports) expect(ours[p] ?? [], p).toEqual(theirs[p]);
  }, 60_000);
});
