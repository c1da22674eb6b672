/**
 * Scenarios of pipeline-normal.test.ts: the NORMAL action alone (OVS's
 * xlate_normal: access, trunk, native-tagged and native-untagged ports;
 * untagged, tagged and priority-tagged frames; flooding, learning, MAC
 * moves, reserved MACs) and MTU enforcement on transmit.
 */
import type { Scenario } from "../scenario.js";
import { portsOn } from "./ports.js";
import { M, BCAST } from "../check.js";
import { eth, ipv4, ipv6, udp, tcp, arp, icmpEcho, type VlanTag } from "../../../src/packet/build.js";

type Ports = Scenario["ports"];

const normalPorts: Ports = [
  { name: "a10", bridge: "br0", ofport: 1, tag: 10 },
  { name: "b10", bridge: "br0", ofport: 2, tag: 10, vlan_mode: "access" },
  { name: "a20", bridge: "br0", ofport: 3, tag: 20 },
  { name: "trunk", bridge: "br0", ofport: 4 },
  { name: "t1020", bridge: "br0", ofport: 5, trunks: [10, 20] },
  { name: "nt10", bridge: "br0", ofport: 6, tag: 10, vlan_mode: "native-tagged", trunks: [20, 30] },
  { name: "nu20", bridge: "br0", ofport: 7, tag: 20, vlan_mode: "native-untagged", trunks: [10, 20] },
  { name: "nu10", bridge: "br0", ofport: 8, tag: 10, vlan_mode: "native-untagged" },
  { name: "t0", bridge: "br0", ofport: 9, trunks: [0, 30] },
];

const udpFrame = (src: number, dst: string, vlans: VlanTag[] = [], sport = 1000): Uint8Array =>
  eth({ src: M(src), dst, vlans }, ipv4({ src: `10.0.0.${src}`, dst: "10.0.0.255" }, udp({ src: sport, dst: 2000 })));

/** Broadcast from every kind of port, untagged, priority-tagged (VID 0, PCP 5) and tagged 10/20/30/40: floods by VLAN. */
export const normalFlood: Scenario = {
  name: "normal-flood",
  bridges: [{ name: "br0" }],
  ports: normalPorts,
  inputs: normalPorts.flatMap((p, i) =>
    ([[], [{ vid: 0, pcp: 5 }], [{ vid: 10 }], [{ vid: 20, pcp: 3 }], [{ vid: 30 }], [{ vid: 40 }]] as VlanTag[][]).map((vlans, j) => ({
      port: p.name,
      frame: udpFrame(0x10 + i * 6 + j, BCAST, vlans),
    })),
  ),
};

/** NORMAL learns, forwards unicast, follows MAC moves and drops reserved MACs. */
export const normalLearn: Scenario = {
  name: "normal-learn",
  bridges: [{ name: "br0" }],
  ports: normalPorts,
  inputs: [
  // M(1) in VLAN 10 on a10, M(2) in VLAN 10 on the trunk, M(3) untagged on nu10 (native VLAN 10).
  { port: "a10", frame: eth({ src: M(1), dst: BCAST }, arp({ op: "request", sha: M(1), spa: "10.0.0.1", tpa: "10.0.0.2" })) },
  { port: "trunk", frame: eth({ src: M(2), dst: M(1), vlans: [{ vid: 10, pcp: 6 }] }, arp({ op: "reply", sha: M(2), spa: "10.0.0.2", tha: M(1), tpa: "10.0.0.1" })) },
  { port: "nu10", frame: eth({ src: M(3), dst: M(1) }, ipv4({ src: "10.0.0.3", dst: "10.0.0.1" }, icmpEcho({ id: 3, seq: 1 }))) },
  // Unicast to known MACs: the tag each output port wants.
  { port: "a10", frame: eth({ src: M(1), dst: M(2) }, ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }, tcp({ src: 1, dst: 2, flags: "S" }))) },
  { port: "a10", frame: eth({ src: M(1), dst: M(3) }, ipv4({ src: "10.0.0.1", dst: "10.0.0.3" }, icmpEcho({ id: 3, seq: 1, reply: true }))) },
  { port: "nt10", frame: eth({ src: M(4), dst: M(3), vlans: [{ vid: 0, pcp: 2 }] }, ipv4({ src: "10.0.0.4", dst: "10.0.0.3" }, udp({ src: 1, dst: 2 }))) },
  { port: "nu10", frame: eth({ src: M(3), dst: M(4) }, ipv4({ src: "10.0.0.3", dst: "10.0.0.4" }, udp({ src: 2, dst: 1 }))) },
  // The same MAC in another VLAN is another entry: M(1) in VLAN 20 is unknown.
  { port: "a20", frame: eth({ src: M(5), dst: M(1) }, ipv4({ src: "10.0.1.5", dst: "10.0.1.1" }, udp({ src: 1, dst: 2 }))) },
  // Destination learned on the input port: dropped.
  { port: "trunk", frame: eth({ src: M(6), dst: M(2), vlans: [{ vid: 10 }] }, ipv4({ src: "10.0.0.6", dst: "10.0.0.2" }, udp({ src: 1, dst: 2 }))) },
  // M(1) moves from a10 to b10; traffic to it follows.
  { port: "b10", frame: eth({ src: M(1), dst: M(2) }, ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }, udp({ src: 5, dst: 6 }))) },
  { port: "trunk", frame: eth({ src: M(2), dst: M(1), vlans: [{ vid: 10 }] }, ipv4({ src: "10.0.0.2", dst: "10.0.0.1" }, udp({ src: 6, dst: 5 }))) },
  // A gratuitous ARP moves M(2) to a10; a later ordinary frame moves it back (no bonds: no lock).
  { port: "a10", frame: eth({ src: M(2), dst: BCAST }, arp({ op: "request", sha: M(2), spa: "10.0.0.2", tpa: "10.0.0.2" })) },
  { port: "b10", frame: eth({ src: M(1), dst: M(2) }, ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }, udp({ src: 5, dst: 6 }))) },
  { port: "t1020", frame: eth({ src: M(2), dst: M(9), vlans: [{ vid: 10 }] }, ipv4({ src: "10.0.0.2", dst: "10.0.0.9" }, udp({ src: 6, dst: 5 }))) },
  { port: "b10", frame: eth({ src: M(1), dst: M(2) }, ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }, udp({ src: 5, dst: 7 }))) },
  // Reserved destinations (STP, LLDP, CDP, CFM) are never forwarded; 01:80:c2:00:00:10 and multicast are flooded.
  { port: "a10", frame: eth({ src: M(1), dst: "01:80:c2:00:00:00", type: 0x0800 }, ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }, udp({ src: 1, dst: 2 }))) },
  { port: "a10", frame: eth({ src: M(1), dst: "01:80:c2:00:00:0e", type: 0x0800 }, ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }, udp({ src: 1, dst: 2 }))) },
  { port: "trunk", frame: eth({ src: M(2), dst: "01:00:0c:cc:cc:cc", vlans: [{ vid: 10 }], type: 0x0800 }, ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }, udp({ src: 1, dst: 2 }))) },
  { port: "trunk", frame: eth({ src: M(2), dst: "01:00:0c:cc:cc:c3", vlans: [{ vid: 10 }], type: 0x0800 }, ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }, udp({ src: 1, dst: 2 }))) },
  { port: "trunk", frame: eth({ src: M(2), dst: "01:00:0c:cd:cd:ce", vlans: [{ vid: 10 }], type: 0x0800 }, ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }, udp({ src: 1, dst: 2 }))) },
  { port: "a10", frame: eth({ src: M(1), dst: "01:80:c2:00:00:10", type: 0x0800 }, ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }, udp({ src: 1, dst: 2 }))) },
  { port: "a10", frame: eth({ src: M(1), dst: "01:00:5e:00:00:fb" }, ipv4({ src: "10.0.0.1", dst: "224.0.0.251" }, udp({ src: 5353, dst: 5353 }))) },
  { port: "nu20", frame: eth({ src: M(7), dst: "33:33:00:00:00:01" }, ipv6({ src: "fe80::7", dst: "ff02::1" }, udp({ src: 1, dst: 2 }))) },
  // A multicast source is never learned; frames to it flood.
  { port: "a10", frame: eth({ src: "01:00:5e:00:00:01", dst: M(8) }, ipv4({ src: "10.0.0.1", dst: "10.0.0.8" }, udp({ src: 1, dst: 2 }))) },
  { port: "a20", frame: eth({ src: M(5), dst: "01:00:5e:00:00:01", vlans: [] }, ipv4({ src: "10.0.1.5", dst: "224.0.0.1" }, udp({ src: 1, dst: 2 }))) },
  ],
};

/** A port with a tag and trunks but no vlan_mode is an access port (vswitchd/bridge.c port_configure). */
export const tagAndTrunks: Scenario = {
  name: "tag-and-trunks",
  bridges: [{ name: "br0" }],
  ports: [
    { name: "tt", bridge: "br0", ofport: 1, tag: 10, trunks: [10, 20] },
    { name: "trunk", bridge: "br0", ofport: 2 },
  ],
  inputs: [
    { port: "trunk", frame: udpFrame(1, BCAST, [{ vid: 20 }]) },
    { port: "trunk", frame: udpFrame(2, BCAST, [{ vid: 10 }]) },
    { port: "tt", frame: udpFrame(3, BCAST, [{ vid: 20 }]) },
    { port: "tt", frame: udpFrame(4, BCAST) },
  ],
};


const unicast = (src: number, dst: number): Uint8Array => eth({ src: M(src), dst: M(dst) }, ipv4({ src: `10.0.0.${src}`, dst: `10.0.0.${dst}` }, udp({ src: 1, dst: 2 })));

/** MAC 1 moves to p2 and back to p1 (through the megaflow of frame 1, when caches are on); frame 4 must follow it. */
export const macMoveBack: Scenario = {
  name: "mac-move-back",
  bridges: [{ name: "br0" }],
  ports: portsOn("br0", ["p1", "p2", "p3"]),
  inputs: [
    { port: "p1", frame: unicast(1, 2) },
    { port: "p2", frame: unicast(1, 2) },
    { port: "p1", frame: unicast(1, 2) },
    { port: "p3", frame: unicast(3, 1) },
  ],
};

/** A UDP frame of exactly `size` bytes (the UDP destination port says the size). */
const sized = (size: number, vlans: VlanTag[] = []): Uint8Array => {
  const head = 14 + 4 * vlans.length + 20 + 8;
  return eth({ src: M(1), dst: M(2), vlans }, ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }, udp({ src: 1, dst: size }, new Uint8Array(size - head))));
};

/**
 * Frames longer than MTU + Ethernet (+ one 802.1Q) header are dropped:
 * frames of 1414/1415/1418/1419 bytes (and one 1500) in, each through a
 * flow to 1400-MTU ports: untagged, tagged, and tagged on the way out.
 * The LOCAL port (br0) takes the bridge's smallest MTU, 1400.
 */
export const mtu: Scenario = {
  name: "mtu",
  bridges: [{ name: "br0", flows: `
in_port=1,vlan_tci=0x0000/0x1000 actions=output:2,output:3,mod_vlan_vid:7,output:4
in_port=1,vlan_tci=0x1000/0x1000 actions=output:2,output:3,strip_vlan,output:4
in_port=5 actions=NORMAL
` }],
  ports: [
    { name: "in", bridge: "br0", ofport: 1 },
    { name: "m1400", bridge: "br0", ofport: 2, mtu: 1400 },
    { name: "m1500", bridge: "br0", ofport: 3 },
    { name: "v1400", bridge: "br0", ofport: 4, mtu: 1400 },
    { name: "tr", bridge: "br0", ofport: 5 },
    { name: "acc9", bridge: "br0", ofport: 6, tag: 9, mtu: 1400 },
    { name: "tr9", bridge: "br0", ofport: 7, trunks: [9], mtu: 1400 },
  ],
  inputs: [
    ...[1414, 1415, 1418, 1419, 1500].map((size) => ({ port: "in", frame: sized(size) })),
    ...[1418, 1419, 1422, 1423].map((size) => ({ port: "in", frame: sized(size, [{ vid: 7 }]) })),
    // Through NORMAL from a trunk to an access port (tag removed) and a trunk (tag kept).
    ...[1414, 1415, 1418, 1419].map((size) => ({ port: "tr", frame: sized(size, [{ vid: 9 }]) })),
  ],
};


/** The LOCAL port has the smallest MTU of the bridge's ports (ofproto.c, update_mtu_ofproto). */
export const mtuLocal: Scenario = {
  name: "mtu-local",
  bridges: [{ name: "br0" }],
  ports: [
    { name: "tr", bridge: "br0", ofport: 1 },
    { name: "tr9", bridge: "br0", ofport: 2, mtu: 1400 },
  ],
  inputs: [1418, 1419].map((size) => ({ port: "tr", frame: sized(size, [{ vid: 9 }]) })),
};


/** Only one 802.1Q header (outer EtherType 0x8100) may go over the MTU (netdev_dummy_send). */
export const mtuQinq: Scenario = {
  name: "mtu-qinq",
  bridges: [{ name: "br0", flows: "in_port=1 actions=output:2\n" }],
  ports: [
    { name: "in", bridge: "br0", ofport: 1 },
    { name: "out", bridge: "br0", ofport: 2, mtu: 1400 },
  ],
  inputs: [
    { port: "in", frame: sized(1414, [{ tpid: 0x88a8, vid: 9 }]) },
    { port: "in", frame: sized(1418, [{ tpid: 0x88a8, vid: 9 }]) },
    { port: "in", frame: sized(1418, [{ vid: 9 }, { vid: 10 }]) },
    { port: "in", frame: sized(1422, [{ vid: 9 }, { vid: 10 }]) },
  ],
};

/**
 * ovs-vswitchd.conf.db(5) lets `tag` be empty on any port; ofproto-dpif.c's
 * bundle_set then gives an access or native port VLAN 0. A native port of
 * VLAN 0 trunks what `trunks` says (VLAN 0 included) and takes untagged and
 * priority-tagged frames into VLAN 0; native-untagged sends VLAN 0 untagged.
 */
export const nativeVlan0: Scenario = (() => {
  const ports: Ports = [
    { name: "nt", bridge: "br0", ofport: 1, vlan_mode: "native-tagged" },
    { name: "nu", bridge: "br0", ofport: 2, vlan_mode: "native-untagged", trunks: [0, 10] },
    { name: "nu20", bridge: "br0", ofport: 3, vlan_mode: "native-untagged", trunks: [20] },
    { name: "acc", bridge: "br0", ofport: 4, vlan_mode: "access" },
    { name: "trunk", bridge: "br0", ofport: 5 },
    { name: "a10", bridge: "br0", ofport: 6, tag: 10 },
  ];
  const inputs: Scenario["inputs"] = [];
  let n = 0x40;
  for (const p of ports) {
    for (const vlans of [[], [{ vid: 0, pcp: 5 }], [{ vid: 10 }], [{ vid: 20, pcp: 3 }]] as VlanTag[][]) {
      inputs.push({ port: p.name, frame: udpFrame(n++, BCAST, vlans) });
    }
  }
  // Unicast to a MAC learned untagged on the native-untagged port.
  inputs.push({ port: "nu", frame: eth({ src: M(0x70), dst: BCAST }, arp({ op: "request", sha: M(0x70), spa: "10.0.0.70", tpa: "10.0.0.71" })) });
  inputs.push({ port: "trunk", frame: udpFrame(0x71, M(0x70)) });
  inputs.push({ port: "nt", frame: udpFrame(0x72, M(0x70), [{ vid: 0, pcp: 1 }]) });
  return { name: "normal-native-vlan-0", bridges: [{ name: "br0" }], ports, inputs };
})();
