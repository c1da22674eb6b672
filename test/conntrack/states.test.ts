/**
 * ct_state for TCP, UDP, ICMP and malformed packets, step by step, as OVS
 * 3.1's userspace conntrack sets it (lib/conntrack.c process_one,
 * conn_update_state; conntrack-tcp.c, conntrack-other.c, conntrack-icmp.c).
 */
import { describe, expect, it } from "vitest";
import { Conntrack } from "../../src/conntrack/conntrack.js";
import { build } from "../../src/packet/build.js";
import { ct, run, tcp4, udp4, v4, v6, Pkt, MAC_A, MAC_B } from "./helpers.js";

const A = "10.0.0.1:40000";
const B = "10.0.0.2:80";
const commit = ct({ commit: true });

describe("TCP", () => {
  it("tracks a handshake, data and a FIN teardown, committed on every packet", () => {
    const e = new Conntrack();
    expect(run(e, tcp4(A, B, "S", 1000), commit).states).toBe("+new+trk");
    expect(run(e, tcp4(B, A, "SA", 5000, 1001), commit).states).toBe("+est+rpl+trk");
    expect(run(e, tcp4(A, B, "A", 1001, 5001), commit).states).toBe("+est+trk");
    expect(run(e, tcp4(A, B, "PA", 1001, 5001, { payload: new Uint8Array(100) }), commit).states).toBe("+est+trk");
    expect(run(e, tcp4(B, A, "A", 5001, 1101), commit).states).toBe("+est+rpl+trk");
    expect(e.dump()).toEqual([
      "tcp,orig=(src=10.0.0.1,dst=10.0.0.2,sport=40000,dport=80),reply=(src=10.0.0.2,dst=10.0.0.1,sport=80,dport=40000),protoinfo=(state=ESTABLISHED)",
    ]);
    expect(run(e, tcp4(A, B, "FA", 1101, 5001), commit).states).toBe("+est+trk");
    expect(run(e, tcp4(B, A, "FA", 5001, 1102), commit).states).toBe("+est+rpl+trk");
    expect(run(e, tcp4(A, B, "A", 1102, 5002), commit).states).toBe("+est+trk");
    // Both peers past FIN_WAIT_2: the dump coalesces it to TIME_WAIT.
    expect(e.dump()[0]).toMatch(/protoinfo=\(state=TIME_WAIT\)$/);
  });

  it("gives +new to a retransmitted SYN and +inv to a SYN+ACK that would start a connection", () => {
    const e = new Conntrack();
    expect(run(e, tcp4(A, B, "S", 1000), commit).states).toBe("+new+trk");
    expect(run(e, tcp4(A, B, "S", 1000), commit).states).toBe("+new+trk");
    expect(run(e, tcp4("10.0.0.9:1", "10.0.0.8:2", "SA", 1, 1), commit).states).toBe("+inv+trk");
    expect(e.stats().connections).toBe(1);
  });

  it("creates nothing without commit: the reply of an uncommitted SYN is +inv", () => {
    const e = new Conntrack();
    const syn = run(e, tcp4(A, B, "S", 1000), ct());
    expect(syn.states).toBe("+new+trk");
    // write_ct_md with no connection: the packet's own tuple, no mark.
    expect(syn.ctTuple).toBe("10.0.0.1:40000>10.0.0.2:80/6");
    expect(run(e, tcp4(B, A, "SA", 5000, 1001), ct()).states).toBe("+inv+trk");
    expect(e.stats().connections).toBe(0);
  });

  it("marks invalid flag combinations +inv, with or without a connection", () => {
    const e = new Conntrack();
    for (const flags of ["", "F", "P", "U", "SF", "SR", "FP"]) {
      expect(run(e, tcp4(A, B, flags, 1), commit).states, flags).toBe("+inv+trk");
    }
    expect(e.stats().connections).toBe(0);
    run(e, tcp4(A, B, "S", 1000), commit);
    run(e, tcp4(B, A, "SA", 5000, 1001), commit);
    expect(run(e, tcp4(A, B, "SF", 1001, 5001), commit).states).toBe("+inv+trk");
    expect(run(e, tcp4(A, B, "F", 1001, 5001), commit).states).toBe("+inv+trk");
  });

  it("marks segments outside the window +inv and keeps the connection", () => {
    const e = new Conntrack();
    run(e, tcp4(A, B, "S", 1000, 0, { window: 1000 }), commit);
    run(e, tcp4(B, A, "SA", 5000, 1001, { window: 1000 }), commit);
    run(e, tcp4(A, B, "A", 1001, 5001, { window: 1000 }), commit);
    // Beyond what B allowed A to send (seqhi = ack + window).
    const ahead = run(e, tcp4(A, B, "PA", 1001 + 5000, 5001, { payload: new Uint8Array(10) }), commit);
    expect(ahead.states).toBe("+inv+trk");
    expect(ahead.ctTuple).toBe("10.0.0.1:40000>10.0.0.2:80/6");
    // More than a window back.
    expect(run(e, tcp4(A, B, "PA", 1001 - 70000, 5001, { payload: new Uint8Array(10) }), commit).states).toBe("+inv+trk");
    // Acknowledging data B never sent.
    expect(run(e, tcp4(A, B, "A", 1001, 5001 + 200000), commit).states).toBe("+inv+trk");
    expect(run(e, tcp4(A, B, "PA", 1001, 5001, { payload: new Uint8Array(10) }), commit).states).toBe("+est+trk");
    expect(e.stats().invalid).toBe(3);
  });

  it("accepts a RST only at the expected sequence number, then a new SYN starts over", () => {
    const e = new Conntrack();
    run(e, tcp4(A, B, "S", 1000), commit);
    run(e, tcp4(B, A, "SA", 5000, 1001), commit);
    run(e, tcp4(A, B, "A", 1001, 5001), commit);
    expect(run(e, tcp4(B, A, "R", 5001 + 30000), commit).states).toBe("+inv+trk");
    expect(run(e, tcp4(B, A, "R", 5001), commit).states).toBe("+est+rpl+trk");
    expect(e.dump()[0]).toMatch(/state=TIME_WAIT/);
    // A SYN on a connection both of whose peers are closed replaces it.
    expect(run(e, tcp4(A, B, "S", 9000), commit).states).toBe("+new+trk");
    // The replaced connection lingers, expired, until a sweep frees it.
    expect(e.dump()).toHaveLength(2);
    expect(e.dump({ nowMs: 0 })).toHaveLength(1);
    expect(e.dump({ nowMs: 0 })[0]).toMatch(/state=SYN_SENT/);
    e.sweep(0);
    expect(e.stats().connections).toBe(1);
  });

  it("picks up an established stream from a mid-connection ACK", () => {
    const e = new Conntrack();
    expect(run(e, tcp4(A, B, "A", 777, 888), commit).states).toBe("+new+trk");
    expect(run(e, tcp4(B, A, "A", 888, 777), commit).states).toBe("+est+rpl+trk");
    expect(e.dump({ verbose: true })[0]).toBe(
      "tcp,orig=(src=10.0.0.1,dst=10.0.0.2,sport=40000,dport=80),reply=(src=10.0.0.2,dst=10.0.0.1,sport=80,dport=40000),id=0,status=0,protoinfo=(state_orig=ESTABLISHED,state_reply=SYN_SENT,flags_orig=BE_LIBERAL,flags_reply=BE_LIBERAL)",
    );
  });
});

describe("UDP", () => {
  it("is +new until the reply, then +est both ways", () => {
    const e = new Conntrack();
    expect(run(e, udp4("10.0.0.1:5000", "10.0.0.2:53"), commit).states).toBe("+new+trk");
    expect(run(e, udp4("10.0.0.1:5000", "10.0.0.2:53"), commit).states).toBe("+new+trk");
    expect(run(e, udp4("10.0.0.2:53", "10.0.0.1:5000"), commit).states).toBe("+est+rpl+trk");
    expect(run(e, udp4("10.0.0.1:5000", "10.0.0.2:53"), ct()).states).toBe("+est+trk");
    expect(e.dump()).toEqual(["udp,orig=(src=10.0.0.1,dst=10.0.0.2,sport=5000,dport=53),reply=(src=10.0.0.2,dst=10.0.0.1,sport=53,dport=5000)"]);
  });

  it("marks port 0, a bad checksum and a short length +inv with no tuple", () => {
    const e = new Conntrack();
    const p0 = run(e, udp4("10.0.0.1:0", "10.0.0.2:53"), commit);
    expect(p0.states).toBe("+inv+trk");
    const bad = v4("10.0.0.1", "10.0.0.2", build.udp({ src: 1, dst: 2, checksum: 0x1234 }, new Uint8Array(4)));
    run(e, bad, commit);
    expect(bad.states).toBe("+inv+trk");
    expect(bad.ctNwProto).toBe(0);
    const none = v4("10.0.0.1", "10.0.0.2", build.udp({ src: 1, dst: 2, checksum: 0 }, new Uint8Array(4)));
    expect(run(e, none, commit).states).toBe("+new+trk");
    const short = v4("10.0.0.1", "10.0.0.2", build.udp({ src: 1, dst: 3, length: 40 }, new Uint8Array(4)));
    expect(run(e, short, commit).states).toBe("+inv+trk");
    expect(e.stats().connections).toBe(1);
  });
});

describe("ICMP", () => {
  it("tracks echo request and reply as a pseudo-connection", () => {
    const e = new Conntrack();
    const req = run(e, v4("10.0.0.1", "10.0.0.2", build.icmpEcho({ id: 7, seq: 1 })), commit);
    expect(req.states).toBe("+new+trk");
    expect(req.ctTuple).toBe("10.0.0.1:8>10.0.0.2:0/1");
    expect(run(e, v4("10.0.0.2", "10.0.0.1", build.icmpEcho({ id: 7, seq: 1, reply: true })), commit).states).toBe("+est+rpl+trk");
    expect(run(e, v4("10.0.0.1", "10.0.0.2", build.icmpEcho({ id: 7, seq: 2 })), commit).states).toBe("+est+trk");
    // A reply with another id belongs to no connection and cannot start one.
    expect(run(e, v4("10.0.0.2", "10.0.0.1", build.icmpEcho({ id: 8, seq: 1, reply: true })), commit).states).toBe("+inv+trk");
    expect(e.dump()).toEqual(["icmp,orig=(src=10.0.0.1,dst=10.0.0.2,id=7,type=8,code=0),reply=(src=10.0.0.2,dst=10.0.0.1,id=7,type=0,code=0)"]);
  });

  it("tracks ICMPv6 echo", () => {
    const e = new Conntrack();
    const mk = (s: string, d: string, reply: boolean): Pkt => v6(s, d, build.icmp6Echo({ id: 3, seq: 1, reply }));
    expect(run(e, mk("fd00::1", "fd00::2", false), commit).states).toBe("+new+trk");
    expect(run(e, mk("fd00::2", "fd00::1", true), commit).states).toBe("+est+rpl+trk");
    expect(e.dump()).toEqual(["icmpv6,orig=(src=fd00::1,dst=fd00::2,id=3,type=128,code=0),reply=(src=fd00::2,dst=fd00::1,id=3,type=129,code=0)"]);
  });

  it("relates an ICMP error quoting a connection's packet (+rel, +rpl from the reply side)", () => {
    const e = new Conntrack();
    const syn = tcp4(A, B, "S", 1000);
    run(e, syn, commit);
    const quote = syn.frame.subarray(14, 14 + 28);
    // From the server (reply direction): port unreachable quoting the SYN.
    const err = run(e, v4("10.0.0.2", "10.0.0.1", build.icmpError({ type: "dest-unreachable", code: 3 }, quote)), ct());
    expect(err.states).toBe("+rel+rpl+trk");
    expect(err.ctTuple).toBe("10.0.0.1:40000>10.0.0.2:80/6");
    // From a router on the way: it goes back to the originator, so it is in the reply direction too.
    const fromRouter = run(e, v4("192.168.1.1", "10.0.0.1", build.icmpError({ type: "time-exceeded" }, quote)), ct());
    expect(fromRouter.states).toBe("+rel+rpl+trk");
    // An error about a packet A sent to B, going toward B... (quote from B's side).
    const synAck = tcp4(B, A, "SA", 5000, 1001);
    const toServer = run(e, v4("10.0.0.1", "10.0.0.2", build.icmpError({ type: "dest-unreachable" }, synAck.frame.subarray(14, 42))), ct());
    expect(toServer.states).toBe("+rel+trk");
    // Quoting a packet of no connection: +inv, with the quoted tuple reversed.
    const other = tcp4("10.0.0.1:1", "10.0.0.2:2", "S", 1);
    const stray = run(e, v4("10.0.0.2", "10.0.0.1", build.icmpError({ type: "dest-unreachable" }, other.frame.subarray(14, 42))), ct());
    expect(stray.states).toBe("+inv+trk");
    expect(stray.ctTuple).toBe("10.0.0.2:2>10.0.0.1:1/6");
    // The quoted packet must come from the error's destination.
    const spoof = run(e, v4("10.0.0.2", "10.0.0.3", build.icmpError({ type: "dest-unreachable" }, quote)), ct());
    expect(spoof.states).toBe("+inv+trk");
    expect(spoof.ctNwProto).toBe(0);
  });
});

describe("malformed and unsupported packets", () => {
  it("marks a bad IPv4 header checksum +inv", () => {
    const e = new Conntrack();
    const p = new Pkt(build.eth({ src: MAC_A, dst: MAC_B }, build.ipv4({ src: "10.0.0.1", dst: "10.0.0.2", checksum: 0xbeef }, build.udp({ src: 1, dst: 2 }))));
    expect(run(e, p, commit).states).toBe("+inv+trk");
  });

  it("marks IPv4 fragments smaller than ipf's minimum +inv; holds the last one, which is exempt", () => {
    const e = new Conntrack();
    const frags = build.ipv4Fragments({ src: "10.0.0.1", dst: "10.0.0.2", id: 9 }, build.udp({ src: 1, dst: 2 }, new Uint8Array(64)), 32);
    const pkts = frags.map((f) => new Pkt(build.eth({ src: MAC_A, dst: MAC_B }, f)));
    for (const p of pkts.slice(0, -1)) expect(run(e, p, commit).states).toBe("+inv+trk");
    const last = pkts[pkts.length - 1];
    expect(e.execute(last.frame, 0, last.frame.length, last.l3, last.l4, last.key, 0, commit, 0)).toBe(1);
    expect(e.takeReleased()).toEqual([]);
  });

  it("marks fragments +inv when reassembly is off", () => {
    const e = new Conntrack({ fragments: { v4: false, v6: false } });
    const frags = build.ipv4Fragments({ src: "10.0.0.1", dst: "10.0.0.2", id: 9 }, build.udp({ src: 1, dst: 2 }, new Uint8Array(3000)), 1400);
    for (const f of frags) expect(run(e, new Pkt(build.eth({ src: MAC_A, dst: MAC_B }, f)), commit).states).toBe("+inv+trk");
  });

  it("tracks other IP protocols by addresses alone", () => {
    const e = new Conntrack();
    const gre = (s: string, d: string): Pkt => v4(s, d, build.gre({ proto: 0x6558 }, new Uint8Array(20)));
    expect(run(e, gre("10.0.0.1", "10.0.0.2"), commit).states).toBe("+new+trk");
    expect(run(e, gre("10.0.0.2", "10.0.0.1"), commit).states).toBe("+est+rpl+trk");
    expect(e.dump()).toEqual(["47,orig=(src=10.0.0.1,dst=10.0.0.2,sport=0,dport=0),reply=(src=10.0.0.2,dst=10.0.0.1,sport=0,dport=0)"]);
  });

  it("marks ICMP types that are neither queries nor errors +inv (ND, router advertisements)", () => {
    const e = new Conntrack();
    const ns = v6("fd00::1", "ff02::1:ff00:2", build.ndpNs({ target: "fd00::2" }));
    expect(run(e, ns, commit).states).toBe("+inv+trk");
  });
});

describe("bad input never throws", () => {
  it("tracks truncated and mutated frames (random bytes changed) as +trk, with and without NAT", () => {
    const e = new Conntrack();
    const snat = ct({ commit: true, nat: { kind: "src", family: 4, addrMin: 0xc0000201n, addrMax: 0xc0000201n, portMin: 0, portMax: 0, persistent: false, hash: false, random: false } });
    const unnat = ct({ nat: { kind: null, family: 0, addrMin: 0n, addrMax: 0n, portMin: 0, portMax: 0, persistent: false, hash: false, random: false } });
    const seeds = [
      tcp4(A, B, "S", 1), udp4("10.0.0.1:5", "10.0.0.2:6"),
      v4("10.0.0.2", "10.0.0.1", build.icmpError({ type: "dest-unreachable" }, tcp4(A, B, "S", 1).frame.subarray(14, 54))),
      v6("fd00::1", "fd00::2", build.icmp6Error({ type: "dest-unreachable" }, v6("fd00::2", "fd00::1", build.udp({ src: 1, dst: 2 }, new Uint8Array(4))).frame.subarray(14))),
      v6("fd00::1", "fd00::2", build.tcp({ src: 1, dst: 2, flags: "S", seq: 1 })),
    ];
    let seed = 99;
    const rand = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    for (let i = 0; i < 20000; i++) {
      const base = seeds[i % seeds.length].frame;
      let f = base.slice(0, 14 + rand(base.length - 13));
      if (rand(2) === 0) {
        f = base.slice();
        for (let k = 0; k < 1 + rand(4); k++) f[14 + rand(f.length - 14)] = rand(256);
      }
      const p = new Pkt(f);
      const req = [commit, snat, unnat, ct()][rand(4)];
      // A mutated frame may become a fragment that reassembly holds (EXEC_HELD = 1).
      if (e.execute(p.frame, 0, p.frame.length, p.l3, p.l4, p.key, 0, req, i) === 1) continue;
      expect(p.ctState & 0x20, `frame ${Buffer.from(f).toString("hex")}`).toBe(0x20);
    }
  });
});
