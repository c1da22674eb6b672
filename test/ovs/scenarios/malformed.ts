/**
 * Scenarios of pipeline-malformed.test.ts: truncated and malformed frames
 * (pcaps/malformed.pcap, and more cut from well-formed frames with the
 * builder's truncate) through a table that matches and rewrites L3/L4
 * fields, so each layer's parse decides the bytes that leave.
 */
import { readFileSync } from "node:fs";
import type { Scenario } from "../scenario.js";
import { portsOn } from "./ports.js";
import { M } from "../check.js";
import { parseCapture } from "../../../src/io/pcap.js";
import { eth, ipv4, ipv6, tcp, udp, sctp, arp, icmpEcho, icmp6Echo, ndpNs, ndpNa, truncate, ipv4Fragments, type VlanTag } from "../../../src/packet/build.js";

const VM_A = { mac: "fa:16:3e:8b:7c:11", ip: "10.0.0.8", ip6: "fd00:10::f816:3eff:fe8b:7c11" };
const VM_B = { mac: "fa:16:3e:25:4a:c2", ip: "10.0.0.4", ip6: "fd00:10::f816:3eff:fe25:4ac2" };

/** Every rule rewrites something, so each layer's parse decides the bytes that leave. */
const FLOWS = `
priority=200,tcp,tp_dst=22 actions=mod_tp_dst:2222,mod_nw_tos:32,output:2
priority=190,tcp,tcp_flags=+syn+ack actions=mod_tp_src:8080,output:3
priority=180,tcp actions=mod_nw_src:10.9.9.9,output:3
priority=170,udp,tp_dst=53 actions=mod_tp_dst:5353,mod_nw_ttl:9,output:2
priority=160,udp actions=mod_nw_dst:10.8.8.8,output:3
priority=150,icmp,icmp_type=8 actions=mod_nw_dst:10.0.0.99,dec_ttl,output:2
priority=145,sctp actions=mod_tp_dst:7777,output:2
priority=140,ip,nw_frag=later actions=mod_nw_src:10.7.7.7,output:4
priority=135,ip,nw_frag=first actions=mod_nw_ecn:1,output:2
priority=130,ip,nw_proto=1 actions=mod_dl_src:${M(0xee)},output:3
priority=120,icmp6,icmp_type=135,nd_target=${VM_B.ip6} actions=mod_dl_dst:${M(0xdd)},output:2
priority=115,icmp6,icmp_type=128 actions=set_field:fd00:99::1->ipv6_dst,output:2
priority=110,ipv6,nw_proto=17 actions=set_field:fd00:99::2->ipv6_src,output:3
priority=100,ipv6 actions=mod_nw_tos:64,output:4
priority=90,ip actions=mod_nw_tos:4,output:4
priority=80,arp,arp_op=1 actions=mod_dl_src:${M(0xaa)},output:2
priority=70,arp actions=output:3
priority=60,dl_vlan=10 actions=strip_vlan,output:3
priority=50,vlan_tci=0x1000/0x1000 actions=mod_vlan_vid:20,output:2
priority=1 actions=output:4
`;

const ports: Scenario["ports"] = portsOn("br0", ["p1", "p2", "p3", "p4"]);

function malformedPcapFrames(): Uint8Array[] {
  const buf = readFileSync(new URL("../../../pcaps/malformed.pcap", import.meta.url));
  const cap = parseCapture(buf, "malformed.pcap");
  const out: Uint8Array[] = [];
  for (let i = 0; i < cap.count; i++) out.push(new Uint8Array(buf.subarray(cap.offsets[i], cap.offsets[i] + cap.lengths[i])));
  return out;
}

/** Well-formed frames of each kind, cut at every interesting length. */
function cutFrames(): Uint8Array[] {
  const vl: VlanTag[] = [{ vid: 10 }];
  const whole = [
    eth({ src: VM_A.mac, dst: VM_B.mac }, ipv4({ src: VM_A.ip, dst: VM_B.ip }, tcp({ src: 40000, dst: 22, flags: "S" }))),
    eth({ src: VM_A.mac, dst: VM_B.mac }, ipv4({ src: VM_A.ip, dst: VM_B.ip }, udp({ src: 4000, dst: 53 }, new Uint8Array(12)))),
    eth({ src: VM_A.mac, dst: VM_B.mac }, ipv4({ src: VM_A.ip, dst: VM_B.ip, ttl: 1 }, icmpEcho({ id: 9, seq: 9 }))),
    eth({ src: VM_A.mac, dst: VM_B.mac }, ipv6({ src: VM_A.ip6, dst: VM_B.ip6 }, icmp6Echo({ id: 1, seq: 1 }))),
    eth({ src: VM_A.mac, dst: VM_B.mac }, ipv6({ src: VM_A.ip6, dst: VM_B.ip6 }, udp({ src: 1, dst: 2 }, new Uint8Array(8)))),
    eth({ src: VM_A.mac, dst: "33:33:ff:25:4a:c2" }, ipv6({ src: VM_A.ip6, dst: "ff02::1:ff25:4ac2", hopLimit: 255 }, ndpNs({ target: VM_B.ip6, sll: VM_A.mac }))),
    eth({ src: VM_A.mac, dst: VM_B.mac, vlans: vl }, ipv4({ src: VM_A.ip, dst: VM_B.ip }, tcp({ src: 1, dst: 22, flags: "SA" }))),
    eth({ src: VM_A.mac, dst: VM_B.mac }, ipv4({ src: VM_A.ip, dst: VM_B.ip }, sctp({ src: 1, dst: 2, vtag: 5, chunks: [{ type: 0, value: new Uint8Array(8) }] }))),
    eth({ src: VM_A.mac, dst: "ff:ff:ff:ff:ff:ff" }, arp({ op: "request", sha: VM_A.mac, spa: VM_A.ip, tpa: VM_B.ip })),
  ];
  const out: Uint8Array[] = [];
  for (const f of whole) {
    const l3 = (f[12] === 0x81 ? 18 : 14);
    for (const cut of [14, l3 + 1, l3 + 8, l3 + 19, l3 + 20, l3 + 21, l3 + 24, l3 + 39, l3 + 40, l3 + 41, l3 + 44, l3 + 47]) {
      if (cut < f.length) out.push(truncate(f, cut));
    }
  }
  return out;
}

/** Rewrites of every header the datapath can set, on well-formed and on short frames. */
const REWRITES = `
priority=100,icmp,icmp_type=8 actions=set_field:0->icmp_type,set_field:3->icmp_code,output:2
priority=100,icmp6,icmp_type=135 actions=set_field:fd00:99::7->nd_target,set_field:fa:16:3e:00:00:77->nd_sll,output:2
priority=100,icmp6,icmp_type=136 actions=set_field:fa:16:3e:00:00:78->nd_tll,output:2
priority=100,icmp6,icmp_type=128 actions=set_field:129->icmpv6_type,set_field:0x12345->ipv6_label,mod_nw_ttl:3,output:2
priority=100,arp,arp_op=2 actions=set_field:1->arp_op,set_field:10.1.1.1->arp_spa,set_field:fa:16:3e:00:00:79->arp_tha,output:2
priority=100,arp,arp_op=1 actions=load:0x0a0a->NXM_OF_ARP_TPA[0..15],output:2
priority=90,ipv6,nw_proto=6 actions=set_field:fd00:aa::1->ipv6_dst,mod_tp_src:1111,output:2
priority=90,ipv6,nw_proto=17 actions=load:0xffff->NXM_NX_IPV6_SRC[0..15],mod_tp_dst:2222,output:2
priority=90,ip,nw_proto=132 actions=mod_tp_src:3333,mod_nw_dst:10.3.3.3,output:2
priority=90,tcp actions=load:0xab->NXM_OF_IP_DST[0..7],mod_tp_dst:4444,mod_nw_ecn:2,output:2
priority=90,udp actions=mod_nw_src:10.4.4.4,mod_tp_src:0,output:2,mod_tp_src:5555,output:3
priority=1 actions=output:4
`;

/**
 * Every frame of malformed.pcap. netdev-dummy/receive refuses frames shorter
 * than an Ethernet header (the capture's two runts); flowplane drops those on
 * receive (dpif tests).
 */
export const malformedPcap: Scenario = {
  name: "malformed.pcap",
  bridges: [{ name: "br0", flows: FLOWS }],
  ports,
  inputs: malformedPcapFrames()
    .filter((f) => f.length >= 14)
    .map((frame) => ({ port: "p1", frame })),
};

/** Frames cut inside every header. */
export const truncated: Scenario = { name: "truncated", bridges: [{ name: "br0", flows: FLOWS }], ports, inputs: cutFrames().map((frame) => ({ port: "p1", frame })) };

/** ICMP, ND, ARP, IPv6, SCTP, TCP and UDP header rewrites, on whole and cut frames. */
function rewriteFrames(): Uint8Array[] {
  const ll6 = "fe80::f816:3eff:fe8b:7c11";
  const whole = [
    eth({ src: VM_A.mac, dst: VM_B.mac }, ipv4({ src: VM_A.ip, dst: VM_B.ip }, icmpEcho({ id: 5, seq: 5 }))),
    eth({ src: VM_A.mac, dst: "33:33:ff:25:4a:c2" }, ipv6({ src: ll6, dst: "ff02::1:ff25:4ac2", hopLimit: 255 }, ndpNs({ target: VM_B.ip6, sll: VM_A.mac }))),
    eth({ src: VM_A.mac, dst: "33:33:ff:25:4a:c2" }, ipv6({ src: ll6, dst: "ff02::1:ff25:4ac2", hopLimit: 255 }, ndpNs({ target: VM_B.ip6 }))),
    eth({ src: VM_A.mac, dst: "33:33:00:00:00:01" }, ipv6({ src: ll6, dst: "ff02::1", hopLimit: 255 }, ndpNa({ target: VM_A.ip6, tll: VM_A.mac, override: true }))),
    eth({ src: VM_A.mac, dst: VM_B.mac }, ipv6({ src: VM_A.ip6, dst: VM_B.ip6, flowLabel: 7 }, icmp6Echo({ id: 1, seq: 2 }))),
    eth({ src: VM_A.mac, dst: VM_B.mac }, arp({ op: "reply", sha: VM_A.mac, spa: VM_A.ip, tha: VM_B.mac, tpa: VM_B.ip })),
    eth({ src: VM_A.mac, dst: "ff:ff:ff:ff:ff:ff" }, arp({ op: "request", sha: VM_A.mac, spa: VM_A.ip, tpa: VM_B.ip })),
    eth({ src: VM_A.mac, dst: VM_B.mac }, ipv6({ src: VM_A.ip6, dst: VM_B.ip6 }, tcp({ src: 7, dst: 80, flags: "S" }))),
    eth({ src: VM_A.mac, dst: VM_B.mac }, ipv6({ src: VM_A.ip6, dst: VM_B.ip6 }, udp({ src: 7, dst: 53 }, new Uint8Array(5)))),
    eth({ src: VM_A.mac, dst: VM_B.mac }, ipv6({ src: VM_A.ip6, dst: VM_B.ip6, extHeaders: [{ type: "fragment", offset: 0, m: true, id: 9 }] }, udp({ src: 7, dst: 53 }, new Uint8Array(5)))),
    eth({ src: VM_A.mac, dst: VM_B.mac }, ipv6({ src: VM_A.ip6, dst: VM_B.ip6, extHeaders: [{ type: "fragment", offset: 0, m: false, id: 9 }] }, udp({ src: 7, dst: 53 }, new Uint8Array(5)))),
    eth({ src: VM_A.mac, dst: VM_B.mac }, ipv4({ src: VM_A.ip, dst: VM_B.ip }, sctp({ src: 1, dst: 2, vtag: 5, chunks: [{ type: 0, value: new Uint8Array(8) }] }))),
    eth({ src: VM_A.mac, dst: VM_B.mac }, ipv4({ src: VM_A.ip, dst: VM_B.ip }, sctp({ src: 1, dst: 2, vtag: 5, checksum: 0x12345678, chunks: [{ type: 0, value: new Uint8Array(8) }] }))),
    eth({ src: VM_A.mac, dst: VM_B.mac }, ipv4({ src: VM_A.ip, dst: VM_B.ip, tos: 1 }, tcp({ src: 7, dst: 80, flags: "S" }))),
    eth({ src: VM_A.mac, dst: VM_B.mac, padTo: 64 }, ipv4({ src: VM_A.ip, dst: VM_B.ip }, udp({ src: 7, dst: 53 }))),
    eth({ src: VM_A.mac, dst: VM_B.mac }, ipv4({ src: VM_A.ip, dst: VM_B.ip }, udp({ src: 7, dst: 53, checksum: 0 }, new Uint8Array(4)))),
    eth({ src: VM_A.mac, dst: VM_B.mac }, ipv4({ src: VM_A.ip, dst: VM_B.ip }, udp({ src: 0xaaaa, dst: 53, checksum: 0xffff }, new Uint8Array(4)))),
  ];
  const inputs: Uint8Array[] = [];
  for (const f of whole) {
    inputs.push(f);
    for (const cut of [f.length - 1, f.length - 8, 14 + 40 + 20, 14 + 40 + 8, 14 + 20 + 8, 14 + 20 + 4, 14 + 28]) {
      if (cut > 14 && cut < f.length) inputs.push(truncate(f, cut));
    }
  }
  return inputs;
}

export const rewrites: Scenario = { name: "rewrites", bridges: [{ name: "br0", flows: REWRITES }], ports, inputs: rewriteFrames().map((frame) => ({ port: "p1", frame })) };

/** Fragments, odd IHL and lengths, double tags, 802.3 lengths and unknown EtherTypes. */
function oddFrames(): Uint8Array[] {
  const frags = ipv4Fragments({ src: VM_A.ip, dst: VM_B.ip, id: 77 }, udp({ src: 1000, dst: 53 }, new Uint8Array(100)), 48);
  return [
    ...frags.map((l) => eth({ src: VM_A.mac, dst: VM_B.mac }, l)),
    eth({ src: VM_A.mac, dst: VM_B.mac }, ipv4({ src: VM_A.ip, dst: VM_B.ip, options: Uint8Array.of(1, 1, 1, 0) }, tcp({ src: 5, dst: 22, flags: "S" }))),
    eth({ src: VM_A.mac, dst: VM_B.mac }, ipv4({ src: VM_A.ip, dst: VM_B.ip, totalLength: 30 }, udp({ src: 5, dst: 53 }, new Uint8Array(30)))),
    eth({ src: VM_A.mac, dst: VM_B.mac, padTo: 60 }, ipv4({ src: VM_A.ip, dst: VM_B.ip }, udp({ src: 5, dst: 53 }))),
    eth({ src: VM_A.mac, dst: VM_B.mac }, ipv4({ src: VM_A.ip, dst: VM_B.ip, fragOffset: 3, mf: false }, tcp({ src: 5, dst: 22, flags: "S" }))),
    eth({ src: VM_A.mac, dst: VM_B.mac }, ipv4({ src: VM_A.ip, dst: VM_B.ip }, udp({ src: 5, dst: 53, checksum: 0 }))),
    // Double-tagged and 802.1ad frames: OVS parses one VLAN header (vlan-limit 1).
    eth({ src: VM_A.mac, dst: VM_B.mac, vlans: [{ vid: 10 }, { vid: 30 }] }, ipv4({ src: VM_A.ip, dst: VM_B.ip }, tcp({ src: 5, dst: 22, flags: "S" }))),
    eth({ src: VM_A.mac, dst: VM_B.mac, vlans: [{ tpid: 0x88a8, vid: 10 }, { vid: 30 }] }, ipv4({ src: VM_A.ip, dst: VM_B.ip }, udp({ src: 5, dst: 53 }))),
    eth({ src: VM_A.mac, dst: VM_B.mac, vlans: [{ tpid: 0x88a8, vid: 11 }] }, ipv4({ src: VM_A.ip, dst: VM_B.ip }, udp({ src: 5, dst: 53 }))),
    eth({ src: VM_A.mac, dst: VM_B.mac, vlans: [{ vid: 12, dei: 1 }] }, ipv4({ src: VM_A.ip, dst: VM_B.ip }, udp({ src: 5, dst: 53 }))),
    // An 802.3 length frame and an unknown EtherType.
    eth({ src: VM_A.mac, dst: VM_B.mac, type: 0x0040 }, new Uint8Array(64)),
    eth({ src: VM_A.mac, dst: VM_B.mac, type: 0x88b5 }, new Uint8Array(46)),
  ];
}

export const odd: Scenario = { name: "odd", bridges: [{ name: "br0", flows: FLOWS }], ports, inputs: oddFrames().map((frame) => ({ port: "p1", frame })) };
