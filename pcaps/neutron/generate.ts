/**
 * Generates the bundled Neutron scenario: `npx tsx pcaps/neutron/generate.ts`.
 *
 * Writes, next to this file:
 *  - br-int.flows     `flowplane neutron sg-flows sg.json` (the firewall driver's tables)
 *  - br-router.flows  `flowplane neutron router-flows router.json`
 *  - topology.json    br-int (three VMs, two router ports patched to br-router)
 *                     and br-router (two subnet ports, the external port qg)
 *  - <scenario>.pcap  one capture per scenario, frame i = step i, stamped
 *                     1700000000 + i ms
 *  - scenarios.json   the steps: on which port each frame arrives, what it is,
 *                     and where it must come out (no port at all = dropped)
 *
 * Invariant: deterministic, byte for byte (fixed addresses, ids, sequence
 * numbers); regenerating changes nothing unless this file or the
 * descriptions change.
 *
 * The deployment (addresses as in the references: fa:16:3e MACs, a
 * 172.24.4.0/24 external network, the metadata service):
 *
 *   vm1 10.0.0.11 (group "web": TCP 22, 80, ICMP in)  ┐ net A, VLAN 1 ┌ qr-a ═ rq-a ┐
 *   vm2 10.0.0.12 (group "default")                   ┘ 10.0.0.0/24   │             │ br-router ── qg ── 172.24.4.1 (next hop)
 *   vm3 10.0.1.13 (group "default")     net B, VLAN 2, 10.0.1.0/24    └ qr-b ═ rq-b ┘  gateway 172.24.4.2,
 *                                                                                     vm1's floating IP 172.24.4.11
 */
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { readFileSync, writeFileSync } from "node:fs";
import { writeCapture } from "../../src/io/pcap.js";
import { eth, ipv4, tcp, udp, arp, icmpEcho } from "../../src/packet/build.js";
import { parseSgInput } from "../../src/neutron/sg-model.js";
import { compileSecurityGroups } from "../../src/neutron/sg-flows.js";
import { parseRouterInput } from "../../src/neutron/router-model.js";
import { compileRouter } from "../../src/neutron/router-flows.js";
import type { Capability, ScenarioFile, ScenarioStep } from "../../src/neutron/scenario.js";

const DIR = dirname(fileURLToPath(import.meta.url));
const TS_START_SEC = 1700000000;
const BCAST = "ff:ff:ff:ff:ff:ff";

const VM1 = { port: "tap-vm1", mac: "fa:16:3e:00:00:11", ip: "10.0.0.11" };
const VM2 = { port: "tap-vm2", mac: "fa:16:3e:00:00:12", ip: "10.0.0.12" };
const VM3 = { port: "tap-vm3", mac: "fa:16:3e:00:01:13", ip: "10.0.1.13" };
const GW_A = { mac: "fa:16:3e:00:00:01", ip: "10.0.0.1" };
const GW_B = { mac: "fa:16:3e:00:01:01", ip: "10.0.1.1" };
const QG = { port: "qg", mac: "fa:16:3e:00:04:02", ip: "172.24.4.2" };
const UPSTREAM = { mac: "fa:16:3e:00:04:01", ip: "172.24.4.1" };
const FIP = "172.24.4.11";
const INTERNET = "203.0.113.5";
const METADATA = "169.254.169.254";

interface Step extends ScenarioStep {
  frame: Uint8Array;
}

const step = (port: string, note: string, frame: Uint8Array, to: string[], check?: ScenarioStep["check"]): Step => (check ? { port, note, frame, to, check } : { port, note, frame, to });

/** A frame from a VM (or the outside) to a MAC, carrying IPv4. */
const ip4 = (src: { mac: string }, dstMac: string, ipSrc: string, ipDst: string, l4: Parameters<typeof ipv4>[1], ttl = 64) => eth({ src: src.mac, dst: dstMac }, ipv4({ src: ipSrc, dst: ipDst, ttl }, l4));

// The L3 agent's gratuitous ARPs for the gateway addresses (send_ip_addr_adv_notif), sent by the router's stack: they teach br-int's NORMAL where the router is.
const garp = (gw: { mac: string; ip: string }): Uint8Array => eth({ src: gw.mac, dst: BCAST }, arp({ op: "request", sha: gw.mac, spa: gw.ip, tpa: gw.ip }));
const garpA = (): Step => step("br-router", "router announces 10.0.0.1 (gratuitous ARP from the L3 agent)", garp(GW_A), ["tap-vm1", "tap-vm2", "br-int"]);
const garpB = (): Step => step("br-router", "router announces 10.0.1.1 (gratuitous ARP)", garp(GW_B), ["tap-vm3", "br-int"]);
const vm2ArpsGw = (): Step =>
  step("tap-vm2", "vm2 asks for its gateway 10.0.0.1: the router answers", eth({ src: VM2.mac, dst: BCAST }, arp({ op: "request", sha: VM2.mac, spa: VM2.ip, tpa: GW_A.ip })), ["tap-vm1", "tap-vm2", "br-int"]);

function sameSubnet(): Step[] {
  const syn = (port: number, seq: number) => ip4(VM2, VM1.mac, VM2.ip, VM1.ip, tcp({ src: 40000 + port, dst: port, seq, flags: "S" }));
  const synAck = (port: number, seq: number, ack: number) => ip4(VM1, VM2.mac, VM1.ip, VM2.ip, tcp({ src: port, dst: 40000 + port, seq, ack, flags: "SA" }));
  const ackOf = (port: number, seq: number, ack: number) => ip4(VM2, VM1.mac, VM2.ip, VM1.ip, tcp({ src: 40000 + port, dst: port, seq, ack, flags: "A" }));
  return [
    garpA(),
    step("tap-vm1", "vm1 asks for vm2 (ARP is allowed with the port's own MAC and IP)", eth({ src: VM1.mac, dst: BCAST }, arp({ op: "request", sha: VM1.mac, spa: VM1.ip, tpa: VM2.ip })), ["tap-vm2", "br-int"]),
    step("tap-vm2", "vm2 answers", eth({ src: VM2.mac, dst: VM1.mac }, arp({ op: "reply", sha: VM2.mac, spa: VM2.ip, tha: VM1.mac, tpa: VM1.ip })), ["tap-vm1"]),
    step("tap-vm2", "vm2 pings vm1: group web allows ICMP in", ip4(VM2, VM1.mac, VM2.ip, VM1.ip, icmpEcho({ id: 0x2101, seq: 1 })), ["tap-vm1"]),
    step("tap-vm1", "vm1 replies (established)", ip4(VM1, VM2.mac, VM1.ip, VM2.ip, icmpEcho({ id: 0x2101, seq: 1, reply: true })), ["tap-vm2"]),
    step("tap-vm2", "SSH: vm2 -> vm1:22 SYN (allowed by web)", syn(22, 1000), ["tap-vm1"]),
    step("tap-vm1", "SSH: vm1 -> vm2 SYN-ACK (reply of a tracked connection)", synAck(22, 5000, 1001), ["tap-vm2"]),
    step("tap-vm2", "SSH: vm2 -> vm1 ACK (established)", ackOf(22, 1001, 5001), ["tap-vm1"]),
    step("tap-vm2", "HTTP: vm2 -> vm1:80 SYN (allowed by web)", syn(80, 2000), ["tap-vm1"]),
    step("tap-vm1", "HTTP: vm1 -> vm2 SYN-ACK", synAck(80, 6000, 2001), ["tap-vm2"]),
    step("tap-vm2", "HTTP: vm2 -> vm1 ACK", ackOf(80, 2001, 6001), ["tap-vm1"]),
    step("tap-vm2", "telnet: vm2 -> vm1:23 SYN (no rule allows 23: dropped)", syn(23, 3000), []),
    step("tap-vm1", "telnet the other way: vm1 -> vm2:23 SYN (vm1 is not in vm2's default group: dropped)", ip4(VM1, VM2.mac, VM1.ip, VM2.ip, tcp({ src: 40023, dst: 23, seq: 7000, flags: "S" })), []),
  ];
}

function invalid(): Step[] {
  return [
    garpA(),
    step("tap-vm2", "vm2 -> vm1:22 SYN+FIN (invalid TCP flags: conntrack says +inv, dropped)", ip4(VM2, VM1.mac, VM2.ip, VM1.ip, tcp({ src: 41022, dst: 22, seq: 1000, flags: "SF" })), []),
    step("tap-vm1", "vm1 -> vm2 SYN-ACK with no connection (a reply to nothing: +inv, dropped)", ip4(VM1, VM2.mac, VM1.ip, VM2.ip, tcp({ src: 22, dst: 41023, seq: 5000, ack: 1001, flags: "SA" })), []),
    step("tap-vm2", "vm2 sends from a spoofed IP 10.0.0.99 (anti-spoofing: dropped)", ip4(VM2, VM1.mac, "10.0.0.99", VM1.ip, icmpEcho({ id: 0x2201, seq: 1 })), []),
    step("tap-vm2", "vm2 sends from a spoofed MAC (dropped)", eth({ src: "fa:16:3e:00:00:99", dst: VM1.mac }, ipv4({ src: VM2.ip, dst: VM1.ip }, icmpEcho({ id: 0x2202, seq: 1 }))), []),
    step("tap-vm2", "vm2 ARPs with another VM's IP (ARP spoofing: dropped)", eth({ src: VM2.mac, dst: BCAST }, arp({ op: "request", sha: VM2.mac, spa: VM1.ip, tpa: GW_A.ip })), []),
    step("tap-vm2", "vm2 acts as a DHCP server (UDP 67 -> 68: dropped)", ip4(VM2, BCAST, VM2.ip, "255.255.255.255", udp({ src: 67, dst: 68 })), []),
    step("tap-vm2", "vm2's DHCP discover (UDP 68 -> 67 from 0.0.0.0: allowed, flooded)", ip4(VM2, BCAST, "0.0.0.0", "255.255.255.255", udp({ src: 68, dst: 67 })), ["tap-vm1", "br-int"]),
  ];
}

function crossSubnet(): Step[] {
  return [
    garpA(),
    garpB(),
    vm2ArpsGw(),
    step("tap-vm3", "vm3 asks for its gateway 10.0.1.1: the router answers", eth({ src: VM3.mac, dst: BCAST }, arp({ op: "request", sha: VM3.mac, spa: VM3.ip, tpa: GW_B.ip })), ["tap-vm3", "br-int"]),
    step("tap-vm2", "vm2 pings vm3 through the router (routed, TTL 63, source MAC the net B gateway)", ip4(VM2, GW_A.mac, VM2.ip, VM3.ip, icmpEcho({ id: 0x2301, seq: 1 })), ["tap-vm3"], { src_mac: GW_B.mac, ttl: 63, ip_src: VM2.ip, ip_dst: VM3.ip }),
    step("tap-vm3", "vm3 replies through the router", ip4(VM3, GW_B.mac, VM3.ip, VM2.ip, icmpEcho({ id: 0x2301, seq: 1, reply: true })), ["tap-vm2"], { src_mac: GW_A.mac, ttl: 63 }),
    step("tap-vm2", "vm2 -> vm3:22 SYN (vm3's default group admits members of default)", ip4(VM2, GW_A.mac, VM2.ip, VM3.ip, tcp({ src: 42022, dst: 22, seq: 1000, flags: "S" })), ["tap-vm3"], { ip_src: VM2.ip }),
    step("tap-vm3", "vm3 -> vm2 SYN-ACK", ip4(VM3, GW_B.mac, VM3.ip, VM2.ip, tcp({ src: 22, dst: 42022, seq: 9000, ack: 1001, flags: "SA" })), ["tap-vm2"]),
    step("tap-vm1", "vm1 -> vm3:22 SYN (vm1 is in web, not default: vm3 drops it)", ip4(VM1, GW_A.mac, VM1.ip, VM3.ip, tcp({ src: 42122, dst: 22, seq: 1000, flags: "S" })), []),
    step("tap-vm2", "vm2 -> vm3 with TTL 1: the router's dec_ttl drops it", ip4(VM2, GW_A.mac, VM2.ip, VM3.ip, icmpEcho({ id: 0x2302, seq: 1 }), 1), []),
  ];
}

function snat(): Step[] {
  const toNet = (l4: Parameters<typeof ipv4>[1]) => ip4(VM2, GW_A.mac, VM2.ip, INTERNET, l4);
  const fromNet = (dst: string, l4: Parameters<typeof ipv4>[1]) => ip4(UPSTREAM, QG.mac, INTERNET, dst, l4, 50);
  return [
    garpA(),
    step("qg", "the next hop asks for the router's gateway 172.24.4.2: the router answers", eth({ src: UPSTREAM.mac, dst: BCAST }, arp({ op: "request", sha: UPSTREAM.mac, spa: UPSTREAM.ip, tpa: QG.ip })), ["qg"]),
    step("tap-vm2", "vm2 pings 203.0.113.5: SNAT to the gateway address", toNet(icmpEcho({ id: 0x2401, seq: 1 })), ["qg"], { ip_src: QG.ip, ip_dst: INTERNET, src_mac: QG.mac, dst_mac: UPSTREAM.mac, ttl: 63 }),
    step("qg", "the echo reply comes back to 172.24.4.2 and is un-NATed to vm2", fromNet(QG.ip, icmpEcho({ id: 0x2401, seq: 1, reply: true })), ["tap-vm2"], { ip_src: INTERNET, ip_dst: VM2.ip, ttl: 49 }),
    step("tap-vm2", "vm2 -> 203.0.113.5:80 SYN: SNAT, source port kept", toNet(tcp({ src: 43080, dst: 80, seq: 1000, flags: "S" })), ["qg"], { ip_src: QG.ip, tp_src: 43080 }),
    step("qg", "SYN-ACK back to 172.24.4.2:43080: to vm2", fromNet(QG.ip, tcp({ src: 80, dst: 43080, seq: 8000, ack: 1001, flags: "SA" })), ["tap-vm2"], { ip_dst: VM2.ip, tp_dst: 43080 }),
    step("tap-vm2", "vm2 ACK (established, still NATed)", toNet(tcp({ src: 43080, dst: 80, seq: 1001, ack: 8001, flags: "A" })), ["qg"], { ip_src: QG.ip }),
    step("qg", "a new connection from outside to the gateway address (no floating IP: dropped)", fromNet(QG.ip, tcp({ src: 51000, dst: 22, seq: 1, flags: "S" })), []),
    step("qg", "a SYN-ACK from outside for a connection nobody opened (+inv: dropped)", fromNet(QG.ip, tcp({ src: 80, dst: 43999, seq: 1, ack: 77, flags: "SA" })), []),
  ];
}

function floatingIp(): Step[] {
  const fromNet = (l4: Parameters<typeof ipv4>[1]) => ip4(UPSTREAM, QG.mac, INTERNET, FIP, l4, 50);
  return [
    garpA(),
    step("qg", "the next hop asks for the floating IP 172.24.4.11: the router answers", eth({ src: UPSTREAM.mac, dst: BCAST }, arp({ op: "request", sha: UPSTREAM.mac, spa: UPSTREAM.ip, tpa: FIP })), ["qg"]),
    step("qg", "SSH from outside to the floating IP: DNAT to vm1, web allows 22", fromNet(tcp({ src: 52022, dst: 22, seq: 1000, flags: "S" })), ["tap-vm1"], { ip_src: INTERNET, ip_dst: VM1.ip, dst_mac: VM1.mac, src_mac: GW_A.mac, ttl: 49 }),
    step("tap-vm1", "vm1's SYN-ACK leaves from the floating IP", ip4(VM1, GW_A.mac, VM1.ip, INTERNET, tcp({ src: 22, dst: 52022, seq: 4000, ack: 1001, flags: "SA" })), ["qg"], { ip_src: FIP, ip_dst: INTERNET, ttl: 63 }),
    step("qg", "ACK from outside (established)", fromNet(tcp({ src: 52022, dst: 22, seq: 1001, ack: 4001, flags: "A" })), ["tap-vm1"], { ip_dst: VM1.ip }),
    step("qg", "telnet from outside to the floating IP: DNAT, then vm1's group drops 23", fromNet(tcp({ src: 52023, dst: 23, seq: 1000, flags: "S" })), []),
    step("qg", "ping from outside to the floating IP", fromNet(icmpEcho({ id: 0x2501, seq: 1 })), ["tap-vm1"], { ip_dst: VM1.ip }),
    step("tap-vm1", "vm1's echo reply leaves from the floating IP", ip4(VM1, GW_A.mac, VM1.ip, INTERNET, icmpEcho({ id: 0x2501, seq: 1, reply: true })), ["qg"], { ip_src: FIP }),
    step("tap-vm1", "vm1 opens a connection out: SNAT to its floating IP, not the gateway", ip4(VM1, GW_A.mac, VM1.ip, INTERNET, tcp({ src: 44443, dst: 443, seq: 1000, flags: "S" })), ["qg"], { ip_src: FIP, tp_src: 44443 }),
  ];
}

function metadata(): Step[] {
  return [
    garpA(),
    step("tap-vm2", "vm2 -> 169.254.169.254:80 SYN: redirected to the metadata proxy (gateway:9697 on LOCAL)", ip4(VM2, GW_A.mac, VM2.ip, METADATA, tcp({ src: 45080, dst: 80, seq: 1000, flags: "S" })), ["br-router"], { ip_dst: GW_A.ip, tp_dst: 9697 }),
    step("br-router", "the proxy's SYN-ACK from 10.0.0.1:9697 reaches vm2 as 169.254.169.254:80", ip4(GW_A, GW_A.mac, GW_A.ip, VM2.ip, tcp({ src: 9697, dst: 45080, seq: 3000, ack: 1001, flags: "SA" })), ["tap-vm2"], { ip_src: METADATA, tp_src: 80 }),
    step("tap-vm2", "vm2's ACK follows the redirect", ip4(VM2, GW_A.mac, VM2.ip, METADATA, tcp({ src: 45080, dst: 80, seq: 1001, ack: 3001, flags: "A" })), ["br-router"], { ip_dst: GW_A.ip, tp_dst: 9697 }),
  ];
}

const SCENARIOS: { name: string; title: string; needs: Capability[]; steps: Step[] }[] = [
  { name: "same-subnet", title: "Same subnet, security group web on vm1 (TCP 22, 80, ICMP in; 23 blocked), handshakes both ways", needs: ["ct"], steps: sameSubnet() },
  { name: "invalid", title: "Invalid and spoofed packets, a reply with no connection", needs: ["ct"], steps: invalid() },
  { name: "cross-subnet", title: "Between subnets through the router", needs: ["ct", "conjunction"], steps: crossSubnet() },
  { name: "snat", title: "SNAT to the outside and replies", needs: ["ct", "nat"], steps: snat() },
  { name: "floating-ip", title: "Floating IP in (DNAT) and out (SNAT)", needs: ["ct", "nat"], steps: floatingIp() },
  { name: "metadata", title: "Metadata 169.254.169.254:80 redirected to the proxy on port 9697", needs: ["ct", "nat"], steps: metadata() },
];

function main(): void {
  const sg = compileSecurityGroups(parseSgInput(JSON.parse(readFileSync(join(DIR, "sg.json"), "utf8"))));
  const router = compileRouter(parseRouterInput(JSON.parse(readFileSync(join(DIR, "router.json"), "utf8"))));
  writeFileSync(join(DIR, "br-int.flows"), "# Generated by generate.ts from sg.json (flowplane neutron sg-flows).\n" + sg.join("\n") + "\n");
  writeFileSync(join(DIR, "br-router.flows"), "# Generated by generate.ts from router.json (flowplane neutron router-flows).\n" + router.join("\n") + "\n");
  const topology = {
    bridges: [
      { name: "br-int", protocols: "OpenFlow10,OpenFlow13", flows: "br-int.flows" },
      { name: "br-router", protocols: "OpenFlow10,OpenFlow13", flows: "br-router.flows" },
    ],
    ports: [
      { name: VM1.port, bridge: "br-int", ofport: 1, tag: 1 },
      { name: VM2.port, bridge: "br-int", ofport: 2, tag: 1 },
      { name: VM3.port, bridge: "br-int", ofport: 3, tag: 2 },
      { name: "qr-a", bridge: "br-int", ofport: 10, tag: 1, type: "patch", peer: "rq-a" },
      { name: "qr-b", bridge: "br-int", ofport: 11, tag: 2, type: "patch", peer: "rq-b" },
      { name: "rq-a", bridge: "br-router", ofport: 1, type: "patch", peer: "qr-a" },
      { name: "rq-b", bridge: "br-router", ofport: 2, type: "patch", peer: "qr-b" },
      { name: QG.port, bridge: "br-router", ofport: 3 },
    ],
  };
  writeFileSync(join(DIR, "topology.json"), JSON.stringify(topology, null, 2) + "\n");
  const file: ScenarioFile = { topology: "topology.json", scenarios: [] };
  for (const s of SCENARIOS) {
    const capture = `${s.name}.pcap`;
    writeCapture(join(DIR, capture), s.steps.map((st, i) => ({ data: st.frame, tsSec: TS_START_SEC + Math.floor(i / 1000), tsNsec: (i % 1000) * 1_000_000 })));
    file.scenarios.push({ name: s.name, title: s.title, capture, needs: s.needs, steps: s.steps.map(({ frame: _frame, ...rest }) => rest) });
  }
  writeFileSync(join(DIR, "scenarios.json"), JSON.stringify(file, null, 1) + "\n");
}

main();
