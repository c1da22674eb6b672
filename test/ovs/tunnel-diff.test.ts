/**
 * Differential: native VXLAN and GRE tunnels through Open vSwitch 3.1 and
 * flowplane, set up the same way (tests/tunnel-push-pop.at's layout: an
 * underlay bridge with an address, a route and static ARP entries; tunnel
 * ports with remote_ip/local_ip/key options on br-int).
 *
 * Encapsulation: the same inner frames leave the underlay port p0 with the
 * same outer bytes, the UDP source port included (flowplane computes OVS's
 * miniflow_hash_5tuple, see src/tunnel/hash.ts). Decapsulation: outer frames
 * injected on p0 reach vm1 as the same inner frames, with tun_id/tun_src
 * matched in br-int's flows.
 */
import { describe, it, expect } from "vitest";
import { haveOvs } from "./check.js";
import { Parser, HDR_WORDS } from "../../src/packet/parse.js";
import { xlate } from "../../src/xlate/xlate.js";
import { formatOdpActions } from "../../src/datapath/actions.js";
import * as L from "../../src/flow/layout.js";
import type { Switch } from "../../src/ofproto/bridge.js";
import { eth, ipv4, ipv6, udp, tcp, arp, icmpEcho, vxlan, gre } from "../../src/packet/build.js";
import { buildTunnelSwitch, runFlowplane, setupOvsTunnels, LOCAL_IP, LOCAL_MAC, REMOTE_A, REMOTE_A_MAC, REMOTE_B, type TunnelSetup } from "../tunnel/fixture.js";
import { tunnelSandbox, ovsReceiveAll } from "../tunnel/ovs-side.js";

const VM_MAC = "fa:16:3e:00:00:01";
const PEER_MAC = "fa:16:3e:00:00:02";

const setup: TunnelSetup = {
  tunnels: [
    { name: "tvx", ofport: 2, type: "vxlan", options: { remote_ip: REMOTE_A, key: "123" } },
    { name: "tgre", ofport: 3, type: "gre", options: { remote_ip: REMOTE_A, key: "456" } },
    { name: "tvxf", ofport: 4, type: "vxlan", options: { remote_ip: REMOTE_B, key: "flow", csum: "true", tos: "inherit", ttl: "inherit" } },
    { name: "tgrec", ofport: 5, type: "gre", options: { remote_ip: "flow", csum: "true" } },
    { name: "tvx2", ofport: 6, type: "vxlan", options: { remote_ip: REMOTE_A, key: "flow" } },
  ],
  intFlows: [
    // Encapsulation, chosen by the inner packet.
    "table=0,priority=10,in_port=1,udp,tp_dst=53 actions=output:2",
    "table=0,priority=10,in_port=1,tcp actions=output:3",
    "table=0,priority=10,in_port=1,icmp actions=set_field:0x5a5a->tun_id,output:4",
    `table=0,priority=10,in_port=1,udp,tp_dst=67 actions=set_field:${REMOTE_B}->tun_dst,set_field:0x77->tun_id,output:5`,
    "table=0,priority=5,in_port=1 actions=output:2,output:3",
    // Decapsulation: tag the frame by the tunnel port (and key) it came in on.
    "table=0,priority=10,in_port=2 actions=mod_vlan_vid:2,output:1",
    "table=0,priority=10,in_port=3 actions=mod_vlan_vid:3,output:1",
    "table=0,priority=10,in_port=6,tun_id=0x99 actions=mod_vlan_vid:6,output:1",
    "table=0,priority=10,in_port=6,tun_id=0x100,tun_src=1.1.2.92 actions=mod_vlan_vid:7,output:1",
    "table=0,priority=10,in_port=5 actions=mod_vlan_vid:5,output:1",
  ].join("\n"),
};

const inner = (n: number, l4: Parameters<typeof ipv4>[1], tos = 0, ttl = 64): Uint8Array =>
  eth({ src: VM_MAC, dst: PEER_MAC }, ipv4({ src: `10.0.0.${n}`, dst: "10.0.0.200", tos, ttl }, l4));

const encapInputs = [
  inner(1, udp({ src: 1000, dst: 53 })),
  inner(2, udp({ src: 40000, dst: 53 })),
  inner(3, tcp({ src: 5555, dst: 80, flags: "S" })),
  inner(4, icmpEcho({ id: 7, seq: 1 }), 0xb9, 17),
  inner(5, icmpEcho({ id: 7, seq: 2 }), 0x03, 200),
  inner(6, udp({ src: 68, dst: 67 })),
  inner(7, udp({ src: 9, dst: 9999 })),
  eth({ src: VM_MAC, dst: "ff:ff:ff:ff:ff:ff", type: 0x88b5 }, new Uint8Array(46)),
  // The hash of other inner flows: IPv6 (addresses as 64-bit halves), ARP, a tagged frame, SCTP-less IP.
  eth({ src: VM_MAC, dst: PEER_MAC }, ipv6({ src: "2001:db8::1", dst: "2001:db8:0:1::2" }, udp({ src: 4444, dst: 53 }))),
  eth({ src: VM_MAC, dst: PEER_MAC }, ipv6({ src: "fe80::1", dst: "2001:db8::99" }, tcp({ src: 1, dst: 2, flags: "S" }))),
  eth({ src: VM_MAC, dst: "ff:ff:ff:ff:ff:ff" }, arp({ op: "request", sha: VM_MAC, spa: "10.0.0.1", tpa: "10.0.0.77" })),
  eth({ src: VM_MAC, dst: PEER_MAC, vlans: [{ vid: 9, pcp: 3 }] }, ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }, udp({ src: 7, dst: 8 }))),
  eth({ src: VM_MAC, dst: PEER_MAC }, ipv4({ src: "10.0.0.1", dst: "10.0.0.2", proto: 89 }, new Uint8Array(20))),
  // The outer frame must fit p0's MTU (1500): 1464 + 50 bytes does, one byte more is dropped on transmit.
  inner(20, udp({ src: 1, dst: 53 }, new Uint8Array(1422))),
  inner(21, udp({ src: 2, dst: 53 }, new Uint8Array(1423))),
].map((frame) => ({ port: "vm1", frame }));

const outer = (l4: Parameters<typeof ipv4>[1], src = REMOTE_A, proto?: number, tos = 0): Uint8Array =>
  eth({ src: REMOTE_A_MAC, dst: LOCAL_MAC }, ipv4({ src, dst: LOCAL_IP, df: true, proto, tos }, l4));
const payload = (n: number, tos = 0): Uint8Array => eth({ src: PEER_MAC, dst: VM_MAC }, ipv4({ src: "10.0.0.200", dst: `10.0.0.${n}`, tos }, udp({ src: 53, dst: 1000 + n })));

const decapInputs = [
  outer(udp({ src: 50000, dst: 4789 }, vxlan({ vni: 123 }, payload(1)))),
  outer(gre({ key: 456 }, payload(2))),
  outer(udp({ src: 50001, dst: 4789 }, vxlan({ vni: 0x99 }, payload(3)))),
  outer(udp({ src: 50002, dst: 4789 }, vxlan({ vni: 0x100 }, payload(4)))),
  outer(gre({ checksum: true }, payload(5)), REMOTE_B),
  // Refused by both: wrong VNI flags, unknown key, VXLAN to another UDP port, non-tunnel UDP to the host.
  outer(udp({ src: 50003, dst: 4789 }, vxlan({ vni: 123, flags: 0x0c }, payload(6)))),
  outer(gre({ key: 999 }, payload(7))),
  outer(udp({ src: 50004, dst: 4790 }, vxlan({ vni: 123 }, payload(8)))),
  // ECN (RFC 6040, tnl_process_ecn): CE outside marks an ECT inner packet CE, drops a not-ECT one.
  outer(udp({ src: 50005, dst: 4789 }, vxlan({ vni: 123 }, payload(9, 0xb6))), REMOTE_A, undefined, 0x03),
  outer(udp({ src: 50006, dst: 4789 }, vxlan({ vni: 123 }, payload(10, 0xb8))), REMOTE_A, undefined, 0x03),
  outer(udp({ src: 50007, dst: 4789 }, vxlan({ vni: 123 }, payload(11, 0x01))), REMOTE_A, undefined, 0x02),
].map((frame) => ({ port: "p0", frame }));

/** Our datapath actions for one frame, ports by name (as `ofproto/trace --names` prints them). */
function ourActions(sw: Switch, port: string, frame: Uint8Array): string {
  const key = new Uint32Array(L.KEY_WORDS);
  new Parser().parseFrame(frame, 0, frame.length, sw.portsByName.get(port)!.dpPort, key, 0, new Uint16Array(HDR_WORDS), 0);
  const out = xlate({ sw, key, keyBase: 0, nowMs: 0, sideEffects: false, packetSize: frame.length, trace: false });
  return formatOdpActions(out.actions, (p) => sw.dpPortName(p));
}

describe.skipIf(!haveOvs)("tunnels vs. Open vSwitch: VXLAN and GRE encapsulation and decapsulation", () => {
  const sandbox = tunnelSandbox((ovs) => setupOvsTunnels(ovs, setup));

  it("sends the same outer frames out of the underlay port", async () => {
    const ovs = sandbox();
    const theirs = await ovsReceiveAll(ovs, encapInputs, ["p0", "vm1"]);
    const ours = runFlowplane(buildTunnelSwitch(setup), encapInputs);
    expect(theirs.p0.length).toBeGreaterThan(encapInputs.length);
    expect(ours.p0 ?? []).toEqual(theirs.p0);
    expect(ours.vm1 ?? []).toEqual(theirs.vm1);
  }, 60_000);

  it("delivers the same inner frames from outer frames received on the underlay port", async () => {
    const ovs = sandbox();
    const theirs = await ovsReceiveAll(ovs, decapInputs, ["p0", "vm1"]);
    const ours = runFlowplane(buildTunnelSwitch(setup), decapInputs);
    expect(theirs.vm1.length).toBe(7);
    expect(ours.vm1 ?? []).toEqual(theirs.vm1);
    expect(ours.p0 ?? []).toEqual(theirs.p0);
  }, 60_000);

  it("prints the same datapath actions (tnl_push headers, tnl_pop) in traces", async () => {
    const ovs = sandbox();
    const sw = buildTunnelSwitch(setup);
    const pairs: [string, string][] = [];
    for (const inp of [...encapInputs, ...decapInputs]) {
      const bridge = inp.port === "vm1" ? "br-int" : "br-phy";
      const t = await ovs.trace(bridge, inp.port, Buffer.from(inp.frame).toString("hex"), { names: true });
      pairs.push([t.datapathActions ?? `ERROR ${t.error}`, ourActions(sw, inp.port, inp.frame)]);
    }
    expect(pairs.some(([theirs]) => theirs.includes("tnl_push(") && theirs.includes("gre("))).toBe(true);
    expect(pairs.some(([theirs]) => theirs.startsWith("tnl_pop("))).toBe(true);
    expect(pairs.map(([, ours]) => ours)).toEqual(pairs.map(([theirs]) => theirs));
  }, 60_000);
});
