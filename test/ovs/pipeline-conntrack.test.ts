/**
 * Differential: pipelines with ct(), recirculation and ct_* matches through
 * Open vSwitch 3.1's userspace conntrack (dummy datapath) and flowplane.
 * Every port must transmit the same frames byte for byte, with the caches
 * and without them, and each input's first pass must give the same datapath
 * actions in trace (ct(...) and recirc(...) included).
 *
 * The scenarios are written by hand, packet by packet, so each one shows a
 * behaviour: a stateful firewall (handshakes both ways, data, FIN, a port
 * that is not allowed, an out-of-window segment, RST, replies without a
 * connection), zones from registers, ct_mark/ct_label set by exec() and
 * matched after recirculation, SNAT and DNAT with replies, ICMP echo and
 * errors, UDP.
 */
import { describe, it, expect } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { checkScenario, haveOvs, M } from "./check.js";
import { type Scenario, setupOvs, injectOvs, runFlowplane, buildScenarioSwitch, replayScenario, ovsMegaflows, flowplaneMegaflows } from "./scenario.js";
import { selectConnLines, type ConntrackDump } from "../../src/cli/conntrack.js";
import { traceKey, traceText, parseCtState } from "../../src/cli/trace.js";
import { OvsSandbox } from "./harness.js";
import { internetChecksum, pseudoSum4 } from "../../src/packet/checksum.js";
import { eth, ipv4, ipv4Fragments, tcp, udp, icmpEcho, icmpError, arp } from "../../src/packet/build.js";

const A = { mac: M(1), ip: "10.0.0.1" };
const B = { mac: M(2), ip: "10.0.0.2" };

type Host = { mac: string; ip: string };

function tcpFrame(from: Host, to: Host, sport: number, dport: number, flags: string, seq: number, ack: number, payload = 0): Uint8Array {
  return eth({ src: from.mac, dst: to.mac }, ipv4({ src: from.ip, dst: to.ip }, tcp({ src: sport, dst: dport, flags, seq, ack, window: 29200, payload: new Uint8Array(payload).fill(0x61) })));
}

const twoPorts: Scenario["ports"] = [
  { name: "pa", bridge: "br0", ofport: 1 },
  { name: "pb", bridge: "br0", ofport: 2 },
];

/** A stateful firewall in the style of Neutron's: new TCP to port 80 from A only, established and related both ways. */
const FIREWALL = [
  "table=0,priority=100,ip,ct_state=-trk,actions=ct(table=1)",
  "table=0,priority=10,arp,actions=NORMAL",
  "table=0,priority=0,actions=drop",
  "table=1,priority=100,ct_state=+trk+inv,actions=drop",
  "table=1,priority=90,ip,ct_state=+trk+est-rel-inv,actions=resubmit(,2)",
  "table=1,priority=90,ip,ct_state=+trk+rel-inv,actions=resubmit(,2)",
  "table=1,priority=80,tcp,ct_state=+trk+new,in_port=1,tp_dst=80,actions=ct(commit),resubmit(,2)",
  "table=1,priority=80,icmp,ct_state=+trk+new,in_port=1,actions=ct(commit),resubmit(,2)",
  "table=1,priority=80,udp,ct_state=+trk+new,in_port=1,actions=ct(commit),resubmit(,2)",
  "table=1,priority=70,ct_state=+trk+new,in_port=2,actions=drop",
  "table=1,priority=0,actions=drop",
  "table=2,priority=10,in_port=1,actions=output:2",
  "table=2,priority=10,in_port=2,actions=output:1",
].join("\n");

/**
 * An IPv4 frame SNATed into [addr range]:[port range], with the chosen
 * source address, the TCP/UDP source port and the checksums zeroed after
 * checking that the address and port are in range and the checksums right;
 * "OUT OF RANGE" or "BAD CHECKSUM" otherwise.
 */
function blankSnat(hex: string, addrs: [number, number], ports: [number, number]): string {
  const f = Buffer.from(hex, "hex");
  const ip = 14;
  const ihl = (f[ip] & 0xf) * 4;
  const src = f.readUInt32BE(ip + 12);
  if (src < addrs[0] || src > addrs[1]) return "OUT OF RANGE";
  if (internetChecksum(f, ip, ihl) !== 0) return "BAD CHECKSUM";
  const proto = f[ip + 9];
  const l4 = ip + ihl;
  const l4Size = f.readUInt16BE(ip + 2) - ihl;
  if (proto === 6 || proto === 17) {
    const sport = f.readUInt16BE(l4);
    if (sport < ports[0] || sport > ports[1]) return "OUT OF RANGE";
    if (internetChecksum(f, l4, l4Size, pseudoSum4(f, ip + 12, ip + 16, proto, l4Size)) !== 0) return "BAD CHECKSUM";
    f.writeUInt16BE(0, l4);
    f.writeUInt16BE(0, l4 + (proto === 6 ? 16 : 6));
  } else if (internetChecksum(f, l4, l4Size) !== 0) return "BAD CHECKSUM";
  f.writeUInt32BE(0, ip + 12);
  f.writeUInt16BE(0, ip + 10);
  return f.toString("hex");
}

/** A transmitted TCP segment as "sport>dport:seq", anything else by its length. */
function segment(hex: string): string {
  const f = Buffer.from(hex, "hex");
  if (f.length < 54 || f.readUInt16BE(12) !== 0x0800 || f[23] !== 6) return `${f.length} bytes`;
  return `${f.readUInt16BE(34)}>${f.readUInt16BE(36)}:${f.readUInt32BE(38)}`;
}

describe.skipIf(!haveOvs)("pipeline vs. Open vSwitch: conntrack", () => {
  it("stateful firewall: handshakes, data, FIN, blocked port, out of window, RST, replies without a connection", async () => {
    const c = 40000;
    const r = await checkScenario({
      name: "firewall",
      bridges: [{ name: "br0", flows: FIREWALL }],
      ports: twoPorts,
      inputs: [
        // A opens a connection to B:80; B answers; data both ways.
        { port: "pa", frame: tcpFrame(A, B, c, 80, "S", 1000, 0) },
        { port: "pb", frame: tcpFrame(B, A, 80, c, "SA", 5000, 1001) },
        { port: "pa", frame: tcpFrame(A, B, c, 80, "A", 1001, 5001) },
        { port: "pa", frame: tcpFrame(A, B, c, 80, "PA", 1001, 5001, 10) },
        { port: "pb", frame: tcpFrame(B, A, 80, c, "PA", 5001, 1011, 20) },
        // A to a port that is not allowed; B opening towards A.
        { port: "pa", frame: tcpFrame(A, B, c + 1, 22, "S", 7000, 0) },
        { port: "pb", frame: tcpFrame(B, A, c + 2, 80, "S", 9000, 0) },
        // Outside the window (an ACK of data never sent, old data, data far ahead): +inv.
        { port: "pa", frame: tcpFrame(A, B, c, 80, "A", 1011, 5021 + 3_000_000) },
        { port: "pa", frame: tcpFrame(A, B, c, 80, "PA", 1011 - 3_000_000, 5021, 5) },
        { port: "pa", frame: tcpFrame(A, B, c, 80, "PA", 1011 + 100_000, 5021, 6) },
        // A reply for which there is no connection.
        { port: "pb", frame: tcpFrame(B, A, 80, c + 7, "A", 1234, 5678) },
        { port: "pb", frame: tcpFrame(B, A, 80, c + 8, "SA", 1234, 5678) },
        // Orderly close.
        { port: "pa", frame: tcpFrame(A, B, c, 80, "FA", 1011, 5021) },
        { port: "pb", frame: tcpFrame(B, A, 80, c, "FA", 5021, 1012) },
        { port: "pa", frame: tcpFrame(A, B, c, 80, "A", 1012, 5022) },
        // A second connection, reset by B.
        { port: "pa", frame: tcpFrame(A, B, c + 3, 80, "S", 3000, 0) },
        { port: "pb", frame: tcpFrame(B, A, 80, c + 3, "RA", 0, 3001) },
        { port: "pa", frame: tcpFrame(A, B, c + 3, 80, "A", 3001, 1) },
        // ARP goes through untracked.
        { port: "pa", frame: eth({ src: A.mac, dst: "ff:ff:ff:ff:ff:ff" }, arp({ op: "request", sha: A.mac, spa: A.ip, tpa: B.ip })) },
      ],
    });
    // Hand-checked: what got through, as "sport>dport:seq" (ARP by its length).
    expect(r.tx.pb.map(segment)).toEqual([`${c}>80:1000`, `${c}>80:1001`, `${c}>80:1001`, `${c}>80:1011`, `${c}>80:1012`, `${c + 3}>80:3000`, `${c + 3}>80:3001`, "42 bytes"]);
    expect(r.tx.pa.map(segment)).toEqual([`80>${c}:5000`, `80>${c}:5001`, `80>${c}:5021`, `80>${c + 3}:0`]);
  });

  it("UDP and ICMP: echo with reply, an error related to a UDP flow, unsolicited replies", async () => {
    const dgram = udp({ src: 5353, dst: 53 }, new Uint8Array(12).fill(7));
    const r = await checkScenario({
      name: "udp-icmp",
      bridges: [{ name: "br0", flows: FIREWALL }],
      ports: twoPorts,
      inputs: [
        { port: "pa", frame: eth({ src: A.mac, dst: B.mac }, ipv4({ src: A.ip, dst: B.ip }, udp({ src: 5353, dst: 53 }, new Uint8Array(12).fill(7)))) },
        { port: "pb", frame: eth({ src: B.mac, dst: A.mac }, ipv4({ src: B.ip, dst: A.ip }, udp({ src: 53, dst: 5353 }, new Uint8Array(30).fill(8)))) },
        { port: "pa", frame: eth({ src: A.mac, dst: B.mac }, ipv4({ src: A.ip, dst: B.ip }, udp({ src: 5353, dst: 53 }, new Uint8Array(12).fill(9)))) },
        // B has no socket on another port: its port-unreachable quotes A's datagram (related).
        { port: "pa", frame: eth({ src: A.mac, dst: B.mac }, ipv4({ src: A.ip, dst: B.ip }, udp({ src: 5354, dst: 54 }, new Uint8Array(4)))) },
        { port: "pb", frame: eth({ src: B.mac, dst: A.mac }, ipv4({ src: B.ip, dst: A.ip }, icmpError({ type: "dest-unreachable", code: 3 }, ipv4({ src: A.ip, dst: B.ip }, udp({ src: 5354, dst: 54 }, new Uint8Array(4)))))) },
        // An error quoting a datagram of no connection: dropped.
        { port: "pb", frame: eth({ src: B.mac, dst: A.mac }, ipv4({ src: B.ip, dst: A.ip }, icmpError({ type: "dest-unreachable", code: 3 }, ipv4({ src: A.ip, dst: B.ip }, udp({ src: 6000, dst: 60 }, new Uint8Array(4)))))) },
        // Echo both ways: B's request is new from B (dropped), A's is allowed and answered.
        { port: "pa", frame: eth({ src: A.mac, dst: B.mac }, ipv4({ src: A.ip, dst: B.ip }, icmpEcho({ id: 7, seq: 1 }))) },
        { port: "pb", frame: eth({ src: B.mac, dst: A.mac }, ipv4({ src: B.ip, dst: A.ip }, icmpEcho({ id: 7, seq: 1, reply: true }))) },
        { port: "pb", frame: eth({ src: B.mac, dst: A.mac }, ipv4({ src: B.ip, dst: A.ip }, icmpEcho({ id: 9, seq: 1 }))) },
        { port: "pb", frame: eth({ src: B.mac, dst: A.mac }, ipv4({ src: B.ip, dst: A.ip }, icmpEcho({ id: 8, seq: 1, reply: true }))) },
        { port: "pb", frame: eth({ src: B.mac, dst: A.mac }, ipv4({ src: B.ip, dst: A.ip }, dgram)) },
      ],
    });
    // Hand-checked by length: B's reply (72), the related error (74), the echo reply (42) reach A;
    // A's three datagrams (54, 54, 46) and its echo request (42) reach B; nothing unsolicited passes.
    expect(r.tx.pa.map((f) => f.length / 2)).toEqual([72, 74, 42]);
    expect(r.tx.pb.map((f) => f.length / 2)).toEqual([54, 54, 46, 42]);
  });

  it("pkt_mark set before ct() is matched after each recirculation, whole and masked", async () => {
    // A pass that lost the mark would send the packet with TOS 8 (or drop it): the outputs show which.
    const flows = [
      "table=0,priority=100,tcp,ct_state=-trk,actions=set_field:5->pkt_mark,ct(table=1,zone=1)",
      "table=0,priority=100,udp,ct_state=-trk,actions=set_field:0x50/0xf0->pkt_mark,ct(table=1,zone=1)",
      "table=0,priority=0,actions=drop",
      "table=1,priority=100,tcp,pkt_mark=5,actions=ct(table=2,zone=2)",
      "table=1,priority=100,udp,pkt_mark=0x50/0xf0,actions=mod_nw_tos:4,output:2",
      "table=1,priority=90,ip,actions=mod_nw_tos:8,output:2",
      "table=2,priority=100,tcp,pkt_mark=5,ct_zone=2,actions=output:2",
      "table=2,priority=90,ip,actions=mod_nw_tos:8,output:2",
    ].join("\n");
    const r = await checkScenario({
      name: "pkt-mark-recirc",
      bridges: [{ name: "br0", flows }],
      ports: twoPorts,
      inputs: [
        { port: "pa", frame: tcpFrame(A, B, 1000, 80, "S", 1, 0) },
        { port: "pa", frame: tcpFrame(A, B, 1000, 80, "S", 1, 0) },
        { port: "pa", frame: eth({ src: A.mac, dst: B.mac }, ipv4({ src: A.ip, dst: B.ip }, udp({ src: 5353, dst: 53 }, new Uint8Array(12)))) },
        { port: "pa", frame: eth({ src: A.mac, dst: B.mac }, ipv4({ src: A.ip, dst: B.ip }, udp({ src: 5353, dst: 53 }, new Uint8Array(12)))) },
      ],
    });
    // Hand-checked: both SYNs leave unchanged (TOS 0), both datagrams with TOS 4.
    expect(r.tx.pb.map((f) => Buffer.from(f, "hex")[15])).toEqual([0, 0, 4, 4]);
  });

  it("IPv4 fragments: held until their datagram is whole, then tracked and sent on, in any order", async () => {
    const frags = (from: Host, to: Host, id: number, sport: number, dport: number, size: number): Uint8Array[] =>
      ipv4Fragments({ src: from.ip, dst: to.ip, id }, udp({ src: sport, dst: dport }, new Uint8Array(size).fill(id & 0xff)), 1400).map((l) =>
        eth({ src: from.mac, dst: to.mac }, l),
      );
    // OVS's ipf refuses fragments below 1200 bytes (min-frag), so each non-last one is 1400.
    const out = frags(A, B, 0x101, 4000, 53, 3500); // allowed: new UDP from A
    const back = frags(B, A, 0x202, 53, 4000, 3000); // its reply, fragments arriving in reverse
    const intruder = frags(B, A, 0x303, 53, 4001, 2000); // new from B: dropped whole
    const r = await checkScenario({
      name: "ct-fragments",
      bridges: [{ name: "br0", flows: FIREWALL }],
      ports: twoPorts,
      inputs: [
        ...out.map((frame) => ({ port: "pa", frame })),
        ...back.reverse().map((frame) => ({ port: "pb", frame })),
        ...intruder.map((frame) => ({ port: "pb", frame })),
      ],
    });
    // Hand-checked: all of A's fragments reach B and all of the reply's reach A; none of the intruder's.
    expect(r.tx.pb.length).toBe(out.length);
    expect(r.tx.pa.length).toBe(back.length);
  });

  it("zones from registers, and ct_mark/ct_label set with exec and matched after recirculation", async () => {
    const C = { mac: M(3), ip: A.ip };
    const seg = (from: Host, to: Host, flags: string, seq: number, ack: number) =>
      eth({ src: from.mac, dst: to.mac }, ipv4({ src: from.ip, dst: to.ip }, tcp({ src: 3000, dst: 4000, flags, seq, ack })));
    const dgram = (from: Host, to: Host, sport: number, dport: number, size: number) =>
      eth({ src: from.mac, dst: to.mac }, ipv4({ src: from.ip, dst: to.ip }, udp({ src: sport, dst: dport }, new Uint8Array(size))));
    const r = await checkScenario({
      name: "zones-marks",
      bridges: [
        {
          name: "br0",
          flows: [
            // Ports 1 and 2 share zone 5; port 3 is tracked in zone 3 (its port number), both through reg6.
            "table=0,priority=100,ip,ct_state=-trk,in_port=1,actions=load:5->NXM_NX_REG6[0..15],ct(table=1,zone=NXM_NX_REG6[0..15])",
            "table=0,priority=100,ip,ct_state=-trk,in_port=2,actions=load:5->NXM_NX_REG6[0..15],ct(table=1,zone=NXM_NX_REG6[0..15])",
            "table=0,priority=100,ip,ct_state=-trk,in_port=3,actions=move:NXM_OF_IN_PORT[]->NXM_NX_REG6[0..15],ct(table=1,zone=NXM_NX_REG6[0..15])",
            "table=0,priority=0,actions=drop",
            "table=1,priority=100,ip,ct_state=+trk+new,in_port=1,actions=ct(commit,zone=NXM_NX_REG6[0..15],exec(set_field:0x2a->ct_mark,set_field:0x1234/0xffff->ct_label)),output:2",
            "table=1,priority=100,ip,ct_state=+trk+new,in_port=3,actions=ct(commit,zone=NXM_NX_REG6[0..15],exec(set_field:0x7/0xf->ct_mark)),output:2",
            "table=1,priority=100,ip,ct_state=+trk+new,in_port=2,actions=drop",
            "table=1,priority=90,ip,ct_state=+trk+est,ct_mark=0x2a,ct_label=0x1234/0xffff,actions=set_field:0x2a->reg1,resubmit(,2)",
            "table=1,priority=90,ip,ct_state=+trk+est,ct_mark=0x7,actions=mod_nw_tos:16,output:2",
            "table=1,priority=80,ip,ct_state=+trk+est,actions=output:3",
            "table=1,priority=0,actions=drop",
            "table=2,priority=20,reg1=0x2a,in_port=1,actions=output:2",
            "table=2,priority=10,in_port=2,actions=output:1",
            "table=2,priority=10,in_port=1,actions=output:3",
          ].join("\n"),
        },
      ],
      ports: [...twoPorts, { name: "pc", bridge: "br0", ofport: 3 }],
      inputs: [
        // A and B in zone 5: committed with mark 0x2a and label 0x1234, then established both ways.
        { port: "pa", frame: dgram(A, B, 1000, 2000, 8) },
        { port: "pb", frame: dgram(B, A, 2000, 1000, 9) },
        { port: "pa", frame: dgram(A, B, 1000, 2000, 10) },
        // C sends with A's address in zone 3: a connection of its own, marked 0x7.
        { port: "pc", frame: seg(C, B, "S", 100, 0) },
        { port: "pc", frame: seg(C, B, "A", 101, 1) },
        // The same tuple from A is new in zone 5.
        { port: "pa", frame: seg(A, B, "S", 500, 0) },
        { port: "pa", frame: seg(A, B, "A", 501, 1) },
      ],
    });
    // Hand-checked: B's reply reaches A; A's packets reach B through the mark-and-label rule
    // (reg1), C's second through the ct_mark=0x7 rule (TOS 16); nothing leaves by port 3.
    expect(r.tx.pa.length).toBe(1);
    expect(r.tx.pb.map((f) => Buffer.from(f, "hex")[15])).toEqual([0, 0, 0, 16, 0, 0]);
    expect(r.tx.pc).toEqual([]);
  });

  it("SNAT to one address and to a range, with replies, ICMP echo and an ICMP error quoting a NATed segment", async () => {
    const X = { mac: M(9), ip: "192.168.1.2" };
    const snat = (range: string) => [
      // Replies and established packets are un-NATed by the first ct (ct(nat) with no range).
      "table=0,priority=100,ip,ct_state=-trk,actions=ct(table=1,zone=1,nat)",
      "table=0,priority=0,actions=drop",
      `table=1,priority=100,ip,ct_state=+trk+new,in_port=1,actions=ct(commit,zone=1,nat(src=${range})),output:2`,
      "table=1,priority=90,ip,ct_state=+trk+est,in_port=1,actions=output:2",
      "table=1,priority=90,ip,ct_state=+trk+est,in_port=2,actions=output:1",
      "table=1,priority=90,ip,ct_state=+trk+rel,in_port=2,actions=output:1",
      "table=1,priority=0,actions=drop",
    ].join("\n");
    const nated = "172.16.0.100";
    const quoted = ipv4({ src: nated, dst: X.ip }, tcp({ src: 40000, dst: 80, flags: "S", seq: 1000, window: 29200 }));
    const inputs: Scenario["inputs"] = [
      { port: "pa", frame: tcpFrame(A, X, 40000, 80, "S", 1000, 0) },
      { port: "pb", frame: tcpFrame(X, { mac: A.mac, ip: nated }, 80, 40000, "SA", 5000, 1001) },
      { port: "pa", frame: tcpFrame(A, X, 40000, 80, "PA", 1001, 5001, 12) },
      { port: "pb", frame: tcpFrame(X, { mac: A.mac, ip: nated }, 80, 40000, "A", 5001, 1013) },
      // X's router reports the NATed segment unreachable: un-NATed, inner header too, +rel.
      { port: "pb", frame: eth({ src: X.mac, dst: A.mac }, ipv4({ src: X.ip, dst: nated }, icmpError({ type: "dest-unreachable", code: 1 }, quoted))) },
      // Echo through the NAT, and an unsolicited one from outside.
      { port: "pa", frame: eth({ src: A.mac, dst: X.mac }, ipv4({ src: A.ip, dst: X.ip }, icmpEcho({ id: 77, seq: 1 }))) },
      { port: "pb", frame: eth({ src: X.mac, dst: A.mac }, ipv4({ src: X.ip, dst: nated }, icmpEcho({ id: 77, seq: 1, reply: true }))) },
      { port: "pb", frame: eth({ src: X.mac, dst: A.mac }, ipv4({ src: X.ip, dst: nated }, icmpEcho({ id: 78, seq: 1 }))) },
      // A second host behind the NAT with the same source port.
      { port: "pa", frame: tcpFrame({ mac: M(5), ip: "10.0.0.5" }, X, 40000, 80, "S", 2000, 0) },
      { port: "pa", frame: eth({ src: A.mac, dst: X.mac }, ipv4({ src: A.ip, dst: X.ip }, udp({ src: 5000, dst: 53 }, new Uint8Array(20)))) },
    ];
    const one = await checkScenario({ name: "snat", bridges: [{ name: "br0", flows: snat(nated) }], ports: twoPorts, inputs });
    // Hand-checked: A's packets leave from 172.16.0.100 and replies reach A's own address.
    const src = (hex: string): string => Buffer.from(hex, "hex").subarray(26, 30).join(".");
    const dst = (hex: string): string => Buffer.from(hex, "hex").subarray(30, 34).join(".");
    expect(one.tx.pb.slice(0, 2).map(src)).toEqual([nated, nated]);
    expect(one.tx.pa.map(dst)).toEqual([A.ip, A.ip, A.ip, A.ip]);
    // With a range, OVS picks the address and port by a hash seeded at random when
    // ovs-vswitchd starts (conntrack's hash_basis): no run picks like another, so
    // each side's frames are compared with the chosen address and port blanked,
    // once both are checked to be in the range and every checksum to be right.
    const outbound = inputs.filter((i) => i.port === "pa");
    await checkScenario(
      { name: "snat-range", bridges: [{ name: "br0", flows: snat("172.16.0.100-172.16.0.103:2000-2100") }], ports: twoPorts, inputs: outbound },
      { compareTx: (tx) => ({ ...tx, pb: tx.pb.map((hex) => blankSnat(hex, [0xac100064, 0xac100067], [2000, 2100])) }) },
    );
  });

  it("DNAT of a floating IP to an internal address, with replies both ways", async () => {
    const X = { mac: M(9), ip: "192.168.1.2" };
    const fip = "172.16.0.50";
    const flows = [
      "table=0,priority=100,ip,ct_state=-trk,actions=ct(table=1,zone=2,nat)",
      "table=0,priority=0,actions=drop",
      // From outside to the floating IP: DNAT to A; from A outwards: SNAT to the floating IP.
      `table=1,priority=100,ip,ct_state=+trk+new,in_port=2,nw_dst=${fip},actions=ct(commit,zone=2,nat(dst=${A.ip})),mod_dl_dst:${A.mac},output:1`,
      `table=1,priority=100,ip,ct_state=+trk+new,in_port=1,nw_src=${A.ip},actions=ct(commit,zone=2,nat(src=${fip})),output:2`,
      "table=1,priority=90,ip,ct_state=+trk+est,in_port=1,actions=output:2",
      "table=1,priority=90,ip,ct_state=+trk+est,in_port=2,actions=output:1",
      "table=1,priority=0,actions=drop",
    ].join("\n");
    const r = await checkScenario({
      name: "dnat",
      bridges: [{ name: "br0", flows }],
      ports: twoPorts,
      inputs: [
        // Outside opens to the floating IP; A answers from its own address.
        { port: "pb", frame: tcpFrame(X, { mac: M(50), ip: fip }, 33000, 22, "S", 100, 0) },
        { port: "pa", frame: tcpFrame(A, X, 22, 33000, "SA", 900, 101) },
        { port: "pb", frame: tcpFrame(X, { mac: M(50), ip: fip }, 33000, 22, "A", 101, 901) },
        { port: "pa", frame: tcpFrame(A, X, 22, 33000, "PA", 901, 101, 30) },
        // A opens outwards: leaves as the floating IP; the reply comes back to A.
        { port: "pa", frame: eth({ src: A.mac, dst: X.mac }, ipv4({ src: A.ip, dst: X.ip }, udp({ src: 6000, dst: 123 }, new Uint8Array(48)))) },
        { port: "pb", frame: eth({ src: X.mac, dst: M(50) }, ipv4({ src: X.ip, dst: fip }, udp({ src: 123, dst: 6000 }, new Uint8Array(48)))) },
        // Outside to an address that is not floating: no rule, dropped.
        { port: "pb", frame: tcpFrame(X, { mac: M(51), ip: "172.16.0.51" }, 33001, 22, "S", 100, 0) },
      ],
    });
    // Hand-checked: what reaches A is addressed to A; what leaves comes from the floating IP.
    expect(r.tx.pa.map((hex) => Buffer.from(hex, "hex").subarray(30, 34).join("."))).toEqual([A.ip, A.ip, A.ip]);
    expect(r.tx.pb.map((hex) => Buffer.from(hex, "hex").subarray(26, 30).join("."))).toEqual([fip, fip, fip]);
  });

  it("resubmit(,N,ct) looks up with the connection's original tuple", async () => {
    const X = { mac: M(9), ip: "192.168.1.2" };
    const fip = "172.16.0.50";
    const flows = [
      "table=0,priority=100,ip,ct_state=-trk,actions=ct(table=1,zone=2,nat)",
      "table=0,priority=0,actions=drop",
      `table=1,priority=100,tcp,ct_state=+trk+new,in_port=2,nw_dst=${fip},actions=ct(commit,zone=2,nat(dst=${A.ip})),output:1`,
      "table=1,priority=95,udp,ct_state=+trk-inv,actions=ct_clear,resubmit(,2,ct),output:3",
      "table=1,priority=90,ip,ct_state=+trk+est,actions=resubmit(,2,ct)",
      // The original tuple is X -> floating IP:22 in both directions.
      `table=2,priority=10,tcp,in_port=2,nw_dst=${fip},tp_dst=22,actions=output:1`,
      `table=2,priority=10,tcp,in_port=1,nw_src=${X.ip},nw_dst=${fip},tp_src=33000,actions=output:2`,
      "table=2,priority=5,actions=output:3",
    ].join("\n");
    const r = await checkScenario({
      name: "resubmit-ct",
      bridges: [{ name: "br0", flows }],
      ports: [...twoPorts, { name: "pc", bridge: "br0", ofport: 3 }],
      inputs: [
        { port: "pb", frame: tcpFrame(X, { mac: M(50), ip: fip }, 33000, 22, "S", 100, 0) },
        { port: "pa", frame: tcpFrame(A, X, 22, 33000, "SA", 900, 101) },
        { port: "pb", frame: tcpFrame(X, { mac: M(50), ip: fip }, 33000, 22, "A", 101, 901) },
        // Untracked again after ct_clear: the resubmit reports an error and does nothing; the output after it runs.
        { port: "pb", frame: eth({ src: X.mac, dst: M(50) }, ipv4({ src: X.ip, dst: fip }, udp({ src: 1, dst: 2 }, new Uint8Array(4)))) },
      ],
    });
    expect([r.tx.pa.length, r.tx.pb.length, r.tx.pc.length]).toEqual([2, 1, 1]);
  });

  it("trace follows the recirculated passes as ofproto/trace does, with --ct-next and simulated NAT", async () => {
    const flows = [
      "table=0,priority=10,ip,ct_state=-trk,actions=load:5->NXM_NX_REG0[0..15],ct(commit,zone=NXM_NX_REG0[0..15],exec(set_field:0x1/0xff->ct_mark,set_field:0x3->ct_label),nat(src=10.0.0.9-10.0.0.12:1000-2000,random),table=1),output:2",
      "table=1,priority=10,ip,ct_state=+trk+new,actions=ct(commit,nat(dst=10.1.1.1),table=2)",
      "table=1,priority=9,ip,ct_state=+trk+est,actions=output:1",
      "table=2,priority=10,actions=ct_clear,output:2",
    ].join("\n");
    const s: Scenario = { name: "trace", bridges: [{ name: "br0", flows }], ports: twoPorts, inputs: [] };
    const traces: [string, string[]][] = [
      ["in_port=1,tcp,nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_src=1234,tp_dst=80", []],
      ["in_port=1,tcp,nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_src=53,tp_dst=53", ["trk,est"]],
      ["in_port=1,tcp,nw_src=10.0.0.1", ["trk,new", "trk,est,rpl"]],
    ];
    const ovs = await OvsSandbox.start();
    const theirs: string[] = [];
    try {
      await setupOvs(s, ovs);
      for (const [flow, next] of traces) {
        theirs.push(await ovs.appctl(["ofproto/trace", "--names", "br0", flow, ...next.flatMap((n) => ["--ct-next", n])]));
      }
    } finally {
      await ovs.stop();
    }
    const sw = buildScenarioSwitch(s);
    const bridge = sw.byName.get("br0")!;
    traces.forEach(([flow, next], i) => {
      const key = traceKey(sw, bridge, flow, undefined) as Uint32Array;
      const ours = traceText(sw, key, 0, true, false, undefined, next.map(parseCtState)).text;
      expect(ours.trim()).toBe(theirs[i].trim());
    });
  });

  it("recirculation stops at OVS's depth limit", async () => {
    // Every pass recirculates again before sending a copy to port 2: the
    // copies show how many passes ran before the datapath dropped the packet.
    // (No trace here: ofproto/trace in OVS 3.1 follows such a loop forever.)
    const s: Scenario = {
      name: "recirc-depth",
      bridges: [{ name: "br0", flows: "table=0,priority=10,ip,actions=ct(table=0,zone=9),mod_nw_tos:4,output:2\ntable=0,priority=0,actions=drop" }],
      ports: twoPorts,
      inputs: [{ port: "pa", frame: tcpFrame(A, B, 1, 2, "S", 1, 0) }, { port: "pa", frame: tcpFrame(A, B, 1, 2, "A", 2, 1) }],
    };
    const ovs = await OvsSandbox.start();
    let theirs: Record<string, string[]>;
    try {
      await setupOvs(s, ovs);
      theirs = (await injectOvs(s, ovs)).tx;
    } finally {
      await ovs.stop();
    }
    expect(theirs.pb.length).toBe(14);
    expect(runFlowplane(s).tx).toEqual(theirs);
    expect(runFlowplane(s, { noCache: true }).tx).toEqual(theirs);
  });

  it("megaflows of every pass, as dpctl/dump-flows prints them", async () => {
    const s: Scenario = {
      name: "megaflows",
      bridges: [{ name: "br0", flows: FIREWALL }],
      ports: twoPorts,
      inputs: [
        { port: "pa", frame: tcpFrame(A, B, 41000, 80, "S", 1000, 0) },
        { port: "pb", frame: tcpFrame(B, A, 80, 41000, "SA", 5000, 1001) },
        { port: "pa", frame: tcpFrame(A, B, 41000, 80, "A", 1001, 5001) },
        { port: "pa", frame: tcpFrame(A, B, 41001, 22, "S", 7000, 0) },
        { port: "pb", frame: tcpFrame(B, A, 80, 41000, "A", 1, 1) },
      ],
    };
    const ovs = await OvsSandbox.start();
    let theirs: string[][];
    try {
      await setupOvs(s, ovs);
      theirs = await ovsMegaflows(s, ovs);
    } finally {
      await ovs.stop();
    }
    const ours = flowplaneMegaflows(s);
    // Every frame has a first pass and a recirculated one, each with ct_state in its key.
    expect(theirs.every((l) => l.length === 2 && l.some((x) => x.includes("recirc_id(0x")))).toBe(true);
    expect(ours).toEqual(theirs);
  });

  it("dump-conntrack after a replay lists what OVS's dpctl/dump-conntrack lists, by zone too", async () => {
    const X = { mac: M(9), ip: "192.168.1.2" };
    const s: Scenario = {
      name: "dump-conntrack",
      bridges: [
        {
          name: "br0",
          flows: [
            "table=0,priority=100,ip,ct_state=-trk,in_port=1,actions=load:5->NXM_NX_REG6[0..15],ct(table=1,zone=NXM_NX_REG6[0..15],nat)",
            "table=0,priority=100,ip,ct_state=-trk,in_port=2,actions=ct(table=1,nat)",
            "table=0,priority=0,actions=drop",
            "table=1,priority=100,ip,ct_state=+trk+new,in_port=1,actions=ct(commit,zone=NXM_NX_REG6[0..15],exec(set_field:0x11->ct_mark),nat(src=172.16.0.100)),output:2",
            "table=1,priority=100,ip,ct_state=+trk+new,in_port=2,actions=ct(commit),output:1",
            "table=1,priority=90,ip,ct_state=+trk+est,actions=drop",
          ].join("\n"),
        },
      ],
      ports: twoPorts,
      inputs: [
        { port: "pa", frame: tcpFrame(A, X, 40000, 80, "S", 1000, 0) },
        { port: "pa", frame: eth({ src: A.mac, dst: X.mac }, ipv4({ src: A.ip, dst: X.ip }, udp({ src: 5000, dst: 53 }, new Uint8Array(8)))) },
        { port: "pa", frame: eth({ src: A.mac, dst: X.mac }, ipv4({ src: A.ip, dst: X.ip }, icmpEcho({ id: 3, seq: 1 }))) },
        { port: "pb", frame: tcpFrame(X, A, 33000, 22, "S", 1, 0) },
      ],
    };
    const ovs = await OvsSandbox.start();
    const theirs: Record<string, string[]> = {};
    try {
      await setupOvs(s, ovs);
      for (const inp of s.inputs) await ovs.receive(inp.port, Buffer.from(inp.frame).toString("hex"));
      await new Promise((r) => setTimeout(r, 300));
      for (const [k, args] of Object.entries({ plain: [], more: ["-m"], zone5: ["zone=5"] })) {
        theirs[k] = (await ovs.appctl(["dpctl/dump-conntrack", ...args])).split("\n").filter((l) => l).sort();
      }
    } finally {
      await ovs.stop();
    }
    const { outDir } = replayScenario(s);
    const dump = JSON.parse(readFileSync(join(outDir, "conntrack.json"), "utf8")) as ConntrackDump;
    expect(theirs.plain.length).toBe(4);
    expect(selectConnLines(dump.connections, {}).sort()).toEqual(theirs.plain);
    expect(selectConnLines(dump.connections, { verbose: true }).sort()).toEqual(theirs.more);
    expect(selectConnLines(dump.connections, { zone: 5 }).sort()).toEqual(theirs.zone5);
  });
});

