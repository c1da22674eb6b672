/**
 * Scenarios of pipeline-neutron.test.ts: OpenStack Neutron pipelines. The
 * flow tables follow real deployments (/work/shared/reference/001_*, 002_*,
 * 003_*): br-int's anti-spoofing tables 0/24/25/60 with access-port tags,
 * br-tun's unicast/flood split with learn() into table 20, DVR MAC rewrites
 * across resubmit chains, and br-int joined to br-tun by patch ports. Tunnel
 * ports are plain ports here (the sandbox has no tunnels): table 0 sets
 * tun_id on their traffic as the VXLAN port would.
 */
import type { Scenario } from "../scenario.js";
import { portsOn } from "./ports.js";
import { M, BCAST } from "../check.js";
import { eth, ipv4, ipv6, udp, tcp, arp, icmpEcho, icmp6Echo, ndpNa, ndpNs, dhcp, ipv6MulticastMac, solicitedNode } from "../../../src/packet/build.js";

// The two VMs of reference 002 (same subnet 200.0.0.0/24, one host).
const VM1 = { port: "qvoebeae637-5c", ofport: 5, mac: "fa:16:3e:17:60:c2", ip: "200.0.0.16", ll: "fe80::f816:3eff:fe17:60c2" };
const VM2 = { port: "qvoa95f52ba-a2", ofport: 6, mac: "fa:16:3e:53:d5:50", ip: "200.0.0.224", ll: "fe80::f816:3eff:fe53:d550" };
const DHCP = { port: "tap8c7c4e1b-0d", ofport: 7, mac: "fa:16:3e:8c:7c:4e", ip: "200.0.0.2" };
const VM3 = { port: "qvo0b2c9d8e-11", ofport: 8, mac: "fa:16:3e:0b:2c:9d", ip: "10.9.0.5" };

/** br-int of reference 002, as `ovs-ofctl dump-flows br-int` shows it, with port names. */
const BR_INT_FLOWS = `
table=0,priority=65535,vlan_tci=0x0fff/0x1fff actions=drop
table=0,priority=10,icmp6,in_port="${VM1.port}",icmp_type=136 actions=resubmit(,24)
table=0,priority=10,icmp6,in_port="${VM2.port}",icmp_type=136 actions=resubmit(,24)
table=0,priority=10,arp,in_port="${VM1.port}" actions=resubmit(,24)
table=0,priority=10,arp,in_port="${VM2.port}" actions=resubmit(,24)
table=0,priority=2,in_port="int-br-provider" actions=drop
table=0,priority=2,in_port="int-br-ext" actions=drop
table=0,priority=9,in_port="${VM1.port}" actions=resubmit(,25)
table=0,priority=9,in_port="${VM2.port}" actions=resubmit(,25)
table=0,priority=3,in_port="int-br-ext",vlan_tci=0x0000/0x1fff actions=mod_vlan_vid:2,resubmit(,60)
table=0,priority=0 actions=resubmit(,60)
table=23,priority=0 actions=drop
table=24,priority=2,icmp6,in_port="${VM1.port}",icmp_type=136,nd_target=${VM1.ll} actions=resubmit(,60)
table=24,priority=2,icmp6,in_port="${VM2.port}",icmp_type=136,nd_target=${VM2.ll} actions=resubmit(,60)
table=24,priority=2,arp,in_port="${VM1.port}",arp_spa=${VM1.ip} actions=resubmit(,25)
table=24,priority=2,arp,in_port="${VM2.port}",arp_spa=${VM2.ip} actions=resubmit(,25)
table=24,priority=0 actions=drop
table=25,priority=2,in_port="${VM1.port}",dl_src=${VM1.mac} actions=resubmit(,60)
table=25,priority=2,in_port="${VM2.port}",dl_src=${VM2.mac} actions=resubmit(,60)
table=60,priority=3 actions=NORMAL
`;

const brIntPorts = (): Scenario["ports"] => [
  { name: "int-br-ext", bridge: "br-int", ofport: 2 },
  { name: "int-br-provider", bridge: "br-int", ofport: 3 },
  { name: VM1.port, bridge: "br-int", ofport: VM1.ofport, tag: 1 },
  { name: VM2.port, bridge: "br-int", ofport: VM2.ofport, tag: 1 },
  { name: DHCP.port, bridge: "br-int", ofport: DHCP.ofport, tag: 1 },
  { name: VM3.port, bridge: "br-int", ofport: VM3.ofport, tag: 2 },
];

const icmpReq = (src: typeof VM1, dst: { mac: string; ip: string }, seq = 1): Uint8Array =>
  eth({ src: src.mac, dst: dst.mac }, ipv4({ src: src.ip, dst: dst.ip, ttl: 64, id: seq }, icmpEcho({ id: 0x6b01, seq })));

/** br-int anti-spoofing tables 0/24/25/60 with access tags. */
export const brInt: Scenario = {
  name: "br-int",
  bridges: [{ name: "br-int", flows: BR_INT_FLOWS }],
  ports: brIntPorts(),
  inputs: [
    // vm-1 asks for vm-2: a valid ARP passes 0 -> 24 -> 25 -> 60 and floods VLAN 1.
    { port: VM1.port, frame: eth({ src: VM1.mac, dst: BCAST }, arp({ op: "request", sha: VM1.mac, spa: VM1.ip, tpa: VM2.ip })) },
    { port: VM2.port, frame: eth({ src: VM2.mac, dst: VM1.mac }, arp({ op: "reply", sha: VM2.mac, spa: VM2.ip, tha: VM1.mac, tpa: VM1.ip })) },
    { port: VM1.port, frame: icmpReq(VM1, VM2) },
    { port: VM2.port, frame: eth({ src: VM2.mac, dst: VM1.mac }, ipv4({ src: VM2.ip, dst: VM1.ip }, icmpEcho({ id: 0x6b01, seq: 1, reply: true }))) },
    // ARP with a spoofed sender IP: dropped in table 24.
    { port: VM1.port, frame: eth({ src: VM1.mac, dst: BCAST }, arp({ op: "request", sha: VM1.mac, spa: "200.0.0.99", tpa: VM2.ip })) },
    // ARP whose sender IP is right but whose Ethernet source is spoofed: no match in table 25.
    { port: VM1.port, frame: eth({ src: M(0x99), dst: BCAST }, arp({ op: "request", sha: M(0x99), spa: VM1.ip, tpa: VM2.ip })) },
    // IPv4 with a spoofed source MAC: table 25 misses.
    { port: VM2.port, frame: icmpReq({ ...VM2, mac: M(0x98) }, VM1) },
    // Neighbour advertisement for the port's own link-local address, then a spoofed one.
    { port: VM1.port, frame: eth({ src: VM1.mac, dst: "33:33:00:00:00:01" }, ipv6({ src: VM1.ll, dst: "ff02::1", hopLimit: 255 }, ndpNa({ target: VM1.ll, override: true, tll: VM1.mac }))) },
    { port: VM1.port, frame: eth({ src: VM1.mac, dst: "33:33:00:00:00:01" }, ipv6({ src: VM1.ll, dst: "ff02::1", hopLimit: 255 }, ndpNa({ target: VM2.ll, override: true, tll: VM1.mac }))) },
    // Neighbour solicitation: not type 136, so the in_port rule sends it to table 25.
    { port: VM2.port, frame: eth({ src: VM2.mac, dst: ipv6MulticastMac(solicitedNode(VM1.ll)) }, ipv6({ src: VM2.ll, dst: solicitedNode(VM1.ll), hopLimit: 255 }, ndpNs({ target: VM1.ll, sll: VM2.mac }))) },
    { port: VM1.port, frame: eth({ src: VM1.mac, dst: VM2.mac }, ipv6({ src: VM1.ll, dst: VM2.ll }, icmp6Echo({ id: 7, seq: 1 }))) },
    // Untagged traffic from the external bridge gets local VLAN 2.
    { port: "int-br-ext", frame: eth({ src: M(0x40), dst: BCAST }, arp({ op: "request", sha: M(0x40), spa: "10.9.0.1", tpa: VM3.ip })) },
    { port: VM3.port, frame: eth({ src: VM3.mac, dst: M(0x40) }, arp({ op: "reply", sha: VM3.mac, spa: VM3.ip, tha: M(0x40), tpa: "10.9.0.1" })) },
    { port: "int-br-ext", frame: eth({ src: M(0x40), dst: VM3.mac }, ipv4({ src: "10.9.0.1", dst: VM3.ip }, tcp({ src: 40000, dst: 22, flags: "S" }))) },
    // Tagged traffic from the external bridge, and anything from the provider bridge: dropped.
    { port: "int-br-ext", frame: eth({ src: M(0x40), dst: BCAST, vlans: [{ vid: 5 }] }, ipv4({ src: "10.9.0.1", dst: "10.9.0.255" }, udp({ src: 1, dst: 2 }))) },
    { port: "int-br-provider", frame: eth({ src: M(0x41), dst: BCAST }, ipv4({ src: "10.8.0.1", dst: "10.8.0.255" }, udp({ src: 1, dst: 2 }))) },
    // VID 4095 (0x0fff): the priority 65535 drop.
    { port: "int-br-provider", frame: eth({ src: M(0x41), dst: BCAST, vlans: [{ vid: 4095 }] }, ipv4({ src: "10.8.0.1", dst: "10.8.0.255" }, udp({ src: 1, dst: 2 }))) },
    // The DHCP port is not anti-spoofed: table 0's default sends it straight to NORMAL.
    { port: DHCP.port, frame: eth({ src: DHCP.mac, dst: VM1.mac }, ipv4({ src: DHCP.ip, dst: VM1.ip }, udp({ src: 67, dst: 68 }, dhcp({ op: "reply", xid: 0x1234, chaddr: VM1.mac, yiaddr: VM1.ip, messageType: "offer" })))) },
    // vm-1 to vm-3's MAC: not known in VLAN 1, so it floods VLAN 1 only.
    { port: VM1.port, frame: icmpReq(VM1, { mac: VM3.mac, ip: VM3.ip }, 2) },
    // The external side learned where vm-3 is; a tagged frame from a VM port is refused by NORMAL.
    { port: VM1.port, frame: eth({ src: VM1.mac, dst: VM2.mac, vlans: [{ vid: 1 }] }, ipv4({ src: VM1.ip, dst: VM2.ip }, udp({ src: 1, dst: 2 }))) },
  ],
};

/** br-tun: patch-int vs tunnel input, multicast masks, learn() into table 20. */
const BR_TUN_FLOWS = `
table=0,priority=1,in_port=1 actions=resubmit(,2)
table=0,priority=1,in_port=2 actions=set_tunnel:0x42,resubmit(,4)
table=0,priority=1,in_port=3 actions=load:0x5->NXM_NX_TUN_ID[],resubmit(,4)
table=0,priority=0 actions=drop
table=2,priority=0,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00 actions=resubmit(,20)
table=2,priority=0,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=resubmit(,22)
table=2,priority=1,arp,dl_dst=ff:ff:ff:ff:ff:ff actions=resubmit(,21)
table=3,priority=0 actions=drop
table=21,priority=1,arp,dl_vlan=1,arp_op=1,arp_tpa=10.0.0.8 actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],mod_dl_src:fa:16:3e:76:47:75,load:0x2->NXM_OF_ARP_OP[],move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],load:0xfa163e764775->NXM_NX_ARP_SHA[],load:0xa000008->NXM_OF_ARP_SPA[],IN_PORT
table=21,priority=0 actions=resubmit(,22)
table=4,priority=1,tun_id=0x42 actions=mod_vlan_vid:2,resubmit(,10)
table=4,priority=1,tun_id=0x5 actions=mod_vlan_vid:1,resubmit(,10)
table=4,priority=0 actions=drop
table=10,priority=1 actions=learn(table=20,hard_timeout=300,priority=1,cookie=0xc87c8aa025742883,NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:OXM_OF_IN_PORT[]),output:1
table=20,priority=2,dl_vlan=2,dl_dst=fa:16:3e:76:47:75 actions=strip_vlan,load:0x42->NXM_NX_TUN_ID[],output:2
table=20,priority=0 actions=resubmit(,22)
table=22,priority=1,dl_vlan=1 actions=strip_vlan,set_tunnel:0x5,output:2,output:3
table=22,priority=1,dl_vlan=2 actions=strip_vlan,set_tunnel:0x42,output:2,output:3
table=22,priority=0 actions=drop
`;
const TUN_REMOTE_MAC = "fa:16:3e:76:47:75";
const TUN_LOCAL_MAC = "fa:16:3e:96:e2:a4";
export const brTun: Scenario = {
  name: "br-tun",
  bridges: [{ name: "br-tun", flows: BR_TUN_FLOWS }],
  ports: portsOn("br-tun", ["patch-int", "vxlan-c0a8010c", "vxlan-c0a8010d"]),
  inputs: [
    // Local VM asks for 10.0.0.8: table 21's ARP responder answers on the input port.
    { port: "patch-int", frame: eth({ src: TUN_LOCAL_MAC, dst: BCAST, vlans: [{ vid: 1 }] }, arp({ op: "request", sha: TUN_LOCAL_MAC, spa: "10.0.0.4", tpa: "10.0.0.8" })) },
    // Any other ARP broadcast (VLAN 1 from br-int): flooded to both tunnels untagged.
    { port: "patch-int", frame: eth({ src: TUN_LOCAL_MAC, dst: BCAST, vlans: [{ vid: 1 }] }, arp({ op: "request", sha: TUN_LOCAL_MAC, spa: "10.0.0.4", tpa: "10.0.0.9" })) },
    // IPv6 multicast (33:33:..): the multicast mask sends it to table 22 too.
    { port: "patch-int", frame: eth({ src: TUN_LOCAL_MAC, dst: "33:33:00:00:00:02", vlans: [{ vid: 2, pcp: 5 }] }, ipv6({ src: "fe80::1", dst: "ff02::2" }, udp({ src: 546, dst: 547 }))) },
    // Unicast to the statically known remote MAC in VLAN 2.
    { port: "patch-int", frame: eth({ src: TUN_LOCAL_MAC, dst: TUN_REMOTE_MAC, vlans: [{ vid: 2 }] }, ipv4({ src: "10.0.0.4", dst: "10.0.0.8" }, icmpEcho({ id: 1, seq: 1 }))) },
    // From tunnel 3 (tun_id 5 -> VLAN 1): learned into table 20, sent to br-int tagged.
    { port: "vxlan-c0a8010d", frame: eth({ src: M(0x31), dst: TUN_LOCAL_MAC }, ipv4({ src: "10.0.0.31", dst: "10.0.0.4" }, icmpEcho({ id: 2, seq: 1 }))) },
    // From tunnel 2 (tun_id 0x42 -> VLAN 2).
    { port: "vxlan-c0a8010c", frame: eth({ src: M(0x32), dst: TUN_LOCAL_MAC }, ipv4({ src: "10.0.0.32", dst: "10.0.0.4" }, udp({ src: 5000, dst: 53 }))) },
    // Replies from br-int now hit the learned flows: VLAN cleared, tunnel id loaded, out the learned port.
    { port: "patch-int", frame: eth({ src: TUN_LOCAL_MAC, dst: M(0x31), vlans: [{ vid: 1 }] }, ipv4({ src: "10.0.0.4", dst: "10.0.0.31" }, icmpEcho({ id: 2, seq: 1, reply: true }))) },
    { port: "patch-int", frame: eth({ src: TUN_LOCAL_MAC, dst: M(0x32), vlans: [{ vid: 2, pcp: 3 }] }, ipv4({ src: "10.0.0.4", dst: "10.0.0.32" }, udp({ src: 53, dst: 5000 }))) },
    // Same MAC in the other VLAN: the learned flow matches VLAN 1 only, so VLAN 2 floods.
    { port: "patch-int", frame: eth({ src: TUN_LOCAL_MAC, dst: M(0x31), vlans: [{ vid: 2 }] }, ipv4({ src: "10.0.0.4", dst: "10.0.0.31" }, udp({ src: 1, dst: 2 }))) },
    // Untagged from patch-int: no table 22 rule for it, dropped.
    { port: "patch-int", frame: eth({ src: TUN_LOCAL_MAC, dst: BCAST }, arp({ op: "request", sha: TUN_LOCAL_MAC, spa: "10.0.0.4", tpa: "10.0.0.9" })) },
    // The remote MAC moves to tunnel 2: the learned flow is replaced (same match and priority).
    { port: "vxlan-c0a8010c", frame: eth({ src: M(0x31), dst: TUN_LOCAL_MAC }, ipv4({ src: "10.0.0.31", dst: "10.0.0.4" }, udp({ src: 7, dst: 7 }))) },
    { port: "patch-int", frame: eth({ src: TUN_LOCAL_MAC, dst: M(0x31), vlans: [{ vid: 2 }] }, ipv4({ src: "10.0.0.4", dst: "10.0.0.31" }, udp({ src: 7, dst: 7 }))) },
  ],
};

/** DVR: MAC rewrites across resubmit chains. */
const DVR_MAC = "fa:16:3f:73:c3:04";
const QR1 = "fa:16:3e:9c:cf:de"; // router port on net 1 (VLAN 1)
const QR2 = "fa:16:3e:5c:3d:f9"; // router port on net 2 (VLAN 2)
const VMR = "fa:16:3e:23:c5:28"; // a VM on net 2 behind the router, on this host
// br-vlan (reference 001) towards the physical network, and br-int's DVR tables of the receiving host.
const DVR_FLOWS = `
table=0,priority=2,in_port=1 actions=resubmit(,1)
table=0,priority=4,in_port=2,dl_src=${DVR_MAC} actions=resubmit(,3)
table=0,priority=2,in_port=2 actions=resubmit(,60)
table=0,priority=1 actions=drop
table=1,priority=3,dl_vlan=2,arp,arp_tpa=10.1.0.1 actions=drop
table=1,priority=2,dl_vlan=2,dl_dst=${QR2} actions=drop
table=1,priority=1,dl_vlan=2,dl_src=${QR2} actions=mod_dl_src:${DVR_MAC},resubmit(,2)
table=1,priority=1,dl_vlan=1,dl_src=${QR1} actions=mod_dl_src:${DVR_MAC},resubmit(,2)
table=1,priority=0 actions=resubmit(,2)
table=2,priority=4,in_port=1,dl_vlan=2 actions=mod_vlan_vid:148,NORMAL
table=2,priority=4,in_port=1,dl_vlan=1 actions=mod_vlan_vid:196,resubmit(,4)
table=2,priority=2,in_port=1 actions=drop
table=3,priority=4,dl_vlan=148,dl_dst=${VMR} actions=mod_vlan_vid:2,resubmit(,5)
table=3,priority=1 actions=drop
table=4,priority=1,dl_vlan=196 actions=mod_dl_dst:fa:16:3e:aa:bb:cc,output:2,mod_dl_src:${QR1},mod_dl_dst:${VMR},output:3,strip_vlan,output:4
table=5,priority=4,dl_vlan=2,dl_dst=${VMR} actions=mod_dl_src:${QR2},resubmit(,6)
table=6,priority=4,dl_vlan=2,dl_dst=${VMR} actions=strip_vlan,output:4
table=60,priority=3 actions=NORMAL
`;
export const dvr: Scenario = {
  name: "dvr",
  bridges: [{ name: "br-vlan", flows: DVR_FLOWS }],
  ports: portsOn("br-vlan", ["phy-br-vlan", "eth1", "eth2", "qvo23c5"]),
  inputs: [
    // Routed east-west from net 2's router port: source becomes the host's DVR MAC, VLAN 2 -> 148, NORMAL.
    { port: "phy-br-vlan", frame: eth({ src: QR2, dst: M(0x50), vlans: [{ vid: 2 }] }, ipv4({ src: "10.0.0.8", dst: "10.1.0.10", ttl: 63 }, icmpEcho({ id: 1, seq: 1 }))) },
    // From net 1's router port: VLAN 196, then three outputs with rewrites in between.
    { port: "phy-br-vlan", frame: eth({ src: QR1, dst: M(0x51), vlans: [{ vid: 1, pcp: 2 }] }, ipv4({ src: "10.1.0.10", dst: "10.0.0.8", ttl: 63 }, tcp({ src: 22, dst: 40000, flags: "SA" }))) },
    // Traffic to the gateway's own MAC or ARP for the gateway IP stays on the host: dropped.
    { port: "phy-br-vlan", frame: eth({ src: M(0x52), dst: QR2, vlans: [{ vid: 2 }] }, ipv4({ src: "10.1.0.20", dst: "10.1.0.1" }, udp({ src: 1, dst: 2 }))) },
    { port: "phy-br-vlan", frame: eth({ src: M(0x52), dst: BCAST, vlans: [{ vid: 2 }] }, arp({ op: "request", sha: M(0x52), spa: "10.1.0.20", tpa: "10.1.0.1" })) },
    // A VM's own traffic (not from a router port) keeps its MAC: table 1's default.
    { port: "phy-br-vlan", frame: eth({ src: M(0x52), dst: M(0x50), vlans: [{ vid: 2 }] }, ipv4({ src: "10.1.0.20", dst: "10.1.0.30" }, udp({ src: 1, dst: 2 }))) },
    // Arriving from another host with the DVR MAC: local VLAN 2, gateway MAC restored, untagged to the VM.
    { port: "eth1", frame: eth({ src: DVR_MAC, dst: VMR, vlans: [{ vid: 148 }] }, ipv4({ src: "10.0.0.8", dst: "10.1.0.10", ttl: 63 }, icmpEcho({ id: 1, seq: 2 }))) },
    // DVR MAC to an unknown VM: dropped in table 3.
    { port: "eth1", frame: eth({ src: DVR_MAC, dst: M(0x77), vlans: [{ vid: 148 }] }, ipv4({ src: "10.0.0.8", dst: "10.1.0.77" }, icmpEcho({ id: 1, seq: 3 }))) },
    // Ordinary traffic from the physical side goes to NORMAL.
    { port: "eth1", frame: eth({ src: M(0x50), dst: QR2, vlans: [{ vid: 148 }] }, ipv4({ src: "10.1.0.10", dst: "10.0.0.8" }, icmpEcho({ id: 1, seq: 1, reply: true }))) },
    { port: "phy-br-vlan", frame: eth({ src: QR2, dst: M(0x50), vlans: [{ vid: 2 }] }, ipv4({ src: "10.0.0.8", dst: "10.1.0.10", ttl: 63 }, icmpEcho({ id: 1, seq: 4 }))) },
  ],
};

/** br-int (NORMAL) joined to br-tun (flows) by patch ports. */
const PATCHED_TUN_FLOWS = `
table=0,priority=1,in_port="patch-int" actions=resubmit(,2)
table=0,priority=1,in_port="vxlan-a" actions=set_tunnel:0x64,resubmit(,4)
table=0,priority=1,in_port="vxlan-b" actions=set_tunnel:0x65,resubmit(,4)
table=0,priority=0 actions=drop
table=2,priority=0,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00 actions=resubmit(,20)
table=2,priority=0,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=resubmit(,22)
table=4,priority=1,tun_id=0x64 actions=mod_vlan_vid:1,resubmit(,10)
table=4,priority=1,tun_id=0x65 actions=mod_vlan_vid:2,resubmit(,10)
table=4,priority=0 actions=drop
table=10,priority=1 actions=learn(table=20,hard_timeout=300,priority=1,NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:OXM_OF_IN_PORT[]),output:"patch-int"
table=20,priority=0 actions=resubmit(,22)
table=22,priority=1,dl_vlan=1 actions=strip_vlan,set_tunnel:0x64,output:"vxlan-a",output:"vxlan-b"
table=22,priority=1,dl_vlan=2 actions=strip_vlan,set_tunnel:0x65,output:"vxlan-a"
table=22,priority=0 actions=drop
`;
export const brIntBrTun: Scenario = {
  name: "br-int+br-tun",
  bridges: [
    { name: "br-int", flows: "table=0,priority=65535,vlan_tci=0x0fff/0x1fff actions=drop\ntable=0,priority=0 actions=NORMAL\n" },
    { name: "br-tun", flows: PATCHED_TUN_FLOWS },
  ],
  ports: [
    { name: "patch-tun", bridge: "br-int", ofport: 1, type: "patch", peer: "patch-int" },
    { name: "vm-a", bridge: "br-int", ofport: 5, tag: 1 },
    { name: "vm-b", bridge: "br-int", ofport: 6, tag: 2 },
    { name: "vm-c", bridge: "br-int", ofport: 7, tag: 1 },
    { name: "patch-int", bridge: "br-tun", ofport: 1, type: "patch", peer: "patch-tun" },
    { name: "vxlan-a", bridge: "br-tun", ofport: 2 },
    { name: "vxlan-b", bridge: "br-tun", ofport: 3 },
  ],
  inputs: [
    // Broadcast from vm-a: vm-c locally, and through the patch to both tunnels, untagged.
    { port: "vm-a", frame: eth({ src: M(0xa), dst: BCAST }, arp({ op: "request", sha: M(0xa), spa: "10.0.0.10", tpa: "10.0.0.20" })) },
    // Reply from a remote VM via vxlan-a (VNI 0x64): learned in br-tun table 20 and in br-int's MAC table.
    { port: "vxlan-a", frame: eth({ src: M(0x20), dst: M(0xa) }, arp({ op: "reply", sha: M(0x20), spa: "10.0.0.20", tha: M(0xa), tpa: "10.0.0.10" })) },
    // Unicast to the remote VM: br-int forwards to patch-tun (VLAN 1), br-tun's learned flow to vxlan-a.
    { port: "vm-a", frame: icmpReq({ ...VM1, mac: M(0xa), ip: "10.0.0.10" }, { mac: M(0x20), ip: "10.0.0.20" }) },
    // VLAN 2's broadcast goes to vxlan-a only.
    { port: "vm-b", frame: eth({ src: M(0xb), dst: BCAST }, ipv4({ src: "10.2.0.11", dst: "255.255.255.255" }, udp({ src: 68, dst: 67 }))) },
    // From vxlan-b (VNI 0x65 -> VLAN 2) to vm-b.
    { port: "vxlan-b", frame: eth({ src: M(0x21), dst: M(0xb) }, ipv4({ src: "10.2.0.21", dst: "10.2.0.11" }, udp({ src: 67, dst: 68 }))) },
    // A remote broadcast on VNI 0x64 floods br-int's VLAN 1 (and teaches both bridges M(0x22)).
    { port: "vxlan-a", frame: eth({ src: M(0x22), dst: BCAST }, arp({ op: "request", sha: M(0x22), spa: "10.0.0.22", tpa: "10.0.0.10" })) },
    { port: "vm-c", frame: eth({ src: M(0xc), dst: M(0x20) }, ipv4({ src: "10.0.0.12", dst: "10.0.0.20" }, tcp({ src: 33000, dst: 80, flags: "S" }))) },
  ],
};

/** br-int (flows) joined to br-tun (NORMAL) by patch ports. */
const PATCHED_INT_FLOWS = `
table=0,priority=10,in_port="patch-tun",dl_vlan=100 actions=mod_vlan_vid:1,resubmit(,60)
table=0,priority=9,in_port="patch-tun" actions=drop
table=0,priority=5,in_port="vm-a" actions=resubmit(,25)
table=0,priority=0 actions=resubmit(,60)
table=25,priority=2,in_port="vm-a",dl_src=${M(0xa)} actions=resubmit(,60)
table=60,priority=5,dl_vlan=1,dl_dst=${M(0x20)} actions=mod_vlan_vid:100,output:"patch-tun"
table=60,priority=3 actions=NORMAL
`;
export const brIntFlowsBrTunNormal: Scenario = {
  name: "br-int-flows+br-tun-normal",
  bridges: [
    { name: "br-int", flows: PATCHED_INT_FLOWS },
    { name: "br-tun", flows: "priority=0 actions=NORMAL\n" },
  ],
  ports: [
    { name: "patch-tun", bridge: "br-int", ofport: 1, type: "patch", peer: "patch-int" },
    { name: "vm-a", bridge: "br-int", ofport: 5, tag: 1 },
    { name: "vm-c", bridge: "br-int", ofport: 7, tag: 1 },
    { name: "patch-int", bridge: "br-tun", ofport: 1, type: "patch", peer: "patch-tun" },
    { name: "trunk-a", bridge: "br-tun", ofport: 2, trunks: [100] },
    { name: "access-b", bridge: "br-tun", ofport: 3, tag: 100 },
  ],
  inputs: [
    { port: "vm-a", frame: eth({ src: M(0xa), dst: BCAST }, arp({ op: "request", sha: M(0xa), spa: "10.0.0.10", tpa: "10.0.0.20" })) },
    { port: "access-b", frame: eth({ src: M(0x20), dst: M(0xa) }, arp({ op: "reply", sha: M(0x20), spa: "10.0.0.20", tha: M(0xa), tpa: "10.0.0.10" })) },
    { port: "vm-a", frame: icmpReq({ ...VM1, mac: M(0xa), ip: "10.0.0.10" }, { mac: M(0x20), ip: "10.0.0.20" }) },
    { port: "trunk-a", frame: eth({ src: M(0x21), dst: M(0xc), vlans: [{ vid: 100 }] }, ipv4({ src: "10.0.0.21", dst: "10.0.0.12" }, udp({ src: 1, dst: 2 }))) },
    { port: "vm-a", frame: icmpReq({ ...VM1, mac: M(0x9a), ip: "10.0.0.10" }, { mac: M(0x20), ip: "10.0.0.20" }) },
    { port: "vm-c", frame: eth({ src: M(0xc), dst: M(0x21) }, ipv4({ src: "10.0.0.12", dst: "10.0.0.21" }, udp({ src: 2, dst: 1 }))) },
  ],
};
