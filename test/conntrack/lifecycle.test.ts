/**
 * Connection lifetime: timeouts (OVS's defaults and configured ones), expiry
 * at the exact millisecond, sweeping, limits, flush, mark and label on
 * later commits, zones kept apart.
 */
import { describe, expect, it } from "vitest";
import { Conntrack, DEFAULT_ZONE } from "../../src/conntrack/conntrack.js";
import { ct, run, tcp4, udp4 } from "./helpers.js";

const commit = ct({ commit: true });
const C = "10.0.0.1:5000";
const S = "10.0.0.2:53";

describe("timeouts", () => {
  it("expires a UDP connection udp_first (60 s) after its only packet, to the millisecond", () => {
    const e = new Conntrack();
    run(e, udp4(C, S), commit, 0);
    expect(run(e, udp4(S, C), ct(), 59_999).states).toBe("+est+rpl+trk");
    const e2 = new Conntrack();
    run(e2, udp4(C, S), commit, 0);
    // Gone at its expiration, before any sweep: the reply is a packet of no connection.
    expect(run(e2, udp4(S, C), ct(), 60_000).states).toBe("+new+trk");
    expect(e2.stats().connections).toBe(1);
    expect(e2.dump({ nowMs: 60_000 })).toEqual([]);
  });

  it("refreshes with the state's timeout: udp_multiple (30 s) once both sides spoke", () => {
    const e = new Conntrack();
    run(e, udp4(C, S), commit, 0);
    run(e, udp4(S, C), ct(), 1_000);
    expect(run(e, udp4(C, S), ct(), 30_999).states).toBe("+est+trk");
    expect(e.dump({ nowMs: 30_999, stats: true })[0]).toMatch(/,timeout=30$/);
    expect(run(e, udp4(C, S), ct(), 60_999).states).toBe("+new+trk");
  });

  it("gives a SYN tcp_syn_sent (30 s) and an established connection tcp_established (24 h)", () => {
    const e = new Conntrack();
    run(e, tcp4("10.0.0.1:1000", "10.0.0.2:80", "S", 1), commit, 0);
    expect(run(e, tcp4("10.0.0.2:80", "10.0.0.1:1000", "SA", 100, 2), ct(), 30_000).states).toBe("+inv+trk");
    const e2 = new Conntrack();
    run(e2, tcp4("10.0.0.1:1000", "10.0.0.2:80", "S", 1), commit, 0);
    expect(run(e2, tcp4("10.0.0.2:80", "10.0.0.1:1000", "SA", 100, 2), ct(), 29_999).states).toBe("+est+rpl+trk");
    run(e2, tcp4("10.0.0.1:1000", "10.0.0.2:80", "A", 2, 101), ct(), 30_000);
    const day = 24 * 3600 * 1000;
    expect(e2.dump({ nowMs: 30_000, stats: true })[0]).toMatch(/,timeout=86400,protoinfo=\(state=ESTABLISHED\)$/);
    for (let t = 30_000; t < 30_000 + day; t += 977_000) e2.sweep(t);
    e2.sweep(30_000 + day - 1);
    expect(e2.stats().connections).toBe(1);
    e2.sweep(30_000 + day);
    expect(e2.stats().connections).toBe(0);
    expect(e2.stats().expired).toBe(1);
  });

  it("sweeps a connection whose expiration came earlier (a reply, a forced expiry) on time", () => {
    const e = new Conntrack();
    run(e, udp4(C, S), commit, 0); // udp_first: 60 s
    run(e, udp4(S, C), ct(), 1_000); // udp_multiple: 30 s from here
    e.sweep(30_999);
    expect(e.stats().connections).toBe(1);
    e.sweep(31_000);
    expect(e.stats().connections).toBe(0);
    // ct(force) from the reply side ends the old connection at once.
    run(e, tcp4("10.0.0.1:1000", "10.0.0.2:80", "S", 1), commit, 50_000);
    expect(run(e, tcp4("10.0.0.2:80", "10.0.0.1:1000", "A", 100, 2), ct({ commit: true, force: true }), 50_001).states).toBe("+new+trk");
    e.sweep(50_001);
    expect(e.stats().connections).toBe(1);
    expect(e.dump({ nowMs: 50_001 })[0]).toMatch(/^tcp,orig=\(src=10.0.0.2,dst=10.0.0.1,sport=80,dport=1000\)/);
  });

  it("takes timeouts from the constructor, by OVS's attribute names", () => {
    const e = new Conntrack({ timeouts: { udp_first: 5, icmp_first: 1 } });
    run(e, udp4(C, S), commit, 0);
    expect(run(e, udp4(S, C), ct(), 4_999).states).toBe("+est+rpl+trk");
    expect(() => new Conntrack({ timeouts: { udp_frist: 5 } as never })).toThrow(/unknown conntrack timeout udp_frist/);
    expect(() => new Conntrack({ timeouts: { tcp_close: -1 } })).toThrow(/whole number of seconds/);
  });

  it("sweeps exactly the connections whose time has come (random times)", () => {
    const e = new Conntrack({ timeouts: { udp_first: 7 } });
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    const expiries: number[] = [];
    let now = 0;
    for (let i = 0; i < 3000; i++) {
      now += rand(20);
      run(e, udp4(`10.1.${i >> 8}.${i & 0xff}:1000`, S), commit, now);
      expiries.push(now + 7000);
      if (rand(50) === 0) {
        e.sweep(now);
        expect(e.stats().connections, `at ${now}`).toBe(expiries.filter((x) => x > now).length);
      }
    }
    for (const t of [now + 1, now + 3500, now + 6999, now + 7000, now + 100_000]) {
      e.sweep(t);
      expect(e.stats().connections, `at ${t}`).toBe(expiries.filter((x) => x > t).length);
    }
  });
});

describe("limits", () => {
  it("refuses commits beyond the global limit: the packet stays +new, nothing is created", () => {
    const e = new Conntrack({ connsMax: 2, timeouts: { udp_first: 10 } });
    run(e, udp4("10.0.0.1:1", S), commit, 0);
    run(e, udp4("10.0.0.1:2", S), commit, 0);
    const third = run(e, udp4("10.0.0.1:3", S), ct({ commit: true, mark: { value: 7, mask: 0xffffffff } }), 0);
    expect(third.states).toBe("+new+trk");
    expect(third.ctMark).toBe(0);
    expect(e.stats()).toMatchObject({ connections: 2, limitGlobal: 1 });
    // Expired connections count until swept (OVS's n_conn).
    expect(run(e, udp4("10.0.0.1:3", S), commit, 10_000).states).toBe("+new+trk");
    expect(e.stats().limitGlobal).toBe(2);
    e.sweep(10_000);
    run(e, udp4("10.0.0.1:3", S), commit, 10_000);
    expect(e.stats().connections).toBe(1);
    expect(run(e, udp4(S, "10.0.0.1:3"), ct(), 10_001).states).toBe("+est+rpl+trk");
  });

  it("counts zone limits per zone, and the default limit once for all zones without their own (OVS 3.1)", () => {
    const e = new Conntrack({ zoneLimits: [{ zone: DEFAULT_ZONE, limit: 2 }, { zone: 5, limit: 1 }] });
    const z = (zone: number): ReturnType<typeof ct> => ct({ zone, commit: true });
    run(e, udp4("10.0.0.1:1", S), z(5), 0);
    expect(run(e, udp4("10.0.0.1:2", S), z(5), 0).states).toBe("+new+trk");
    run(e, udp4("10.0.0.1:1", S), z(1), 0);
    run(e, udp4("10.0.0.1:1", S), z(2), 0);
    run(e, udp4("10.0.0.1:1", S), z(3), 0);
    expect(e.stats()).toMatchObject({ connections: 3, limitZone: 2 });
    expect(e.zoneLimit(5)).toEqual({ limit: 1, count: 1 });
    expect(e.zoneLimit(3)).toEqual({ limit: 2, count: 2 });
    expect(e.zoneCounts[1] + e.zoneCounts[2] + e.zoneCounts[3]).toBe(2);
    e.flush(1);
    expect(e.zoneLimit(7)).toEqual({ limit: 2, count: 1 });
    expect(run(e, udp4("10.0.0.1:1", S), z(3), 0).states).toBe("+new+trk");
    expect(e.zoneCounts[3]).toBe(1);
    expect(() => e.setZoneLimit(70000, 1)).toThrow(/invalid conntrack zone/);
  });
});

describe("zones, flush, mark and label", () => {
  it("keeps zones apart and flushes one zone or all", () => {
    const e = new Conntrack();
    run(e, udp4(C, S), ct({ zone: 1, commit: true }));
    run(e, udp4(C, S), ct({ zone: 2, commit: true }));
    expect(run(e, udp4(S, C), ct({ zone: 3 })).states).toBe("+new+trk");
    expect(run(e, udp4(S, C), ct({ zone: 1 })).ctZone).toBe(1);
    expect(e.dump({ zone: 2 })).toEqual(["udp,orig=(src=10.0.0.1,dst=10.0.0.2,sport=5000,dport=53),reply=(src=10.0.0.2,dst=10.0.0.1,sport=53,dport=5000),zone=2"]);
    e.flush(1);
    expect(run(e, udp4(S, C), ct({ zone: 1 })).states).toBe("+new+trk");
    expect(run(e, udp4(S, C), ct({ zone: 2 })).states).toBe("+est+rpl+trk");
    expect(e.stats().connections).toBe(1);
    e.sweep(1); // Frees the flushed record for reuse.
    e.flush();
    expect(e.stats().connections).toBe(0);
    expect(e.dump()).toEqual([]);
    expect(run(e, udp4(S, C), ct({ zone: 2 })).states).toBe("+new+trk");
  });

  it("applies exec mark and label with their masks on every commit of a connection", () => {
    const e = new Conntrack();
    const first = run(e, udp4(C, S), ct({ commit: true, mark: { value: 0x11, mask: 0xff }, label: { value: 1n << 100n, mask: 1n << 100n } }));
    expect(first.ctMark).toBe(0x11);
    expect(first.ctLabel).toBe(1n << 100n);
    const second = run(e, udp4(S, C), ct({ commit: true, mark: { value: 0x2200, mask: 0xff00 }, label: { value: 0xf0n, mask: 0xf0n } }));
    expect(second.ctMark).toBe(0x2211);
    expect(second.ctLabel).toBe((1n << 100n) | 0xf0n);
    const plain = run(e, udp4(C, S), ct());
    expect(plain.ctMark).toBe(0x2211);
    expect(e.dump()[0]).toBe(
      "udp,orig=(src=10.0.0.1,dst=10.0.0.2,sport=5000,dport=53),reply=(src=10.0.0.2,dst=10.0.0.1,sport=53,dport=5000),mark=8721,labels=0x100000000000000000000000f0",
    );
  });

  it("answers a second ct() in the same zone from the connection the first found, without updating it", () => {
    const e = new Conntrack();
    const p = run(e, tcp4("10.0.0.1:1000", "10.0.0.2:80", "S", 1), commit);
    expect(p.states).toBe("+new+trk");
    // Without the cached connection this SYN would now be a retransmission (still +new),
    // and the mark comes from the connection.
    run(e, p, ct({ commit: true, mark: { value: 9, mask: 0xffffffff } }));
    expect(p.states).toBe("+new+trk");
    expect(p.ctMark).toBe(9);
    // A ct() in another zone starts from scratch.
    run(e, p, ct({ zone: 4 }));
    expect(p.states).toBe("+new+trk");
    expect(p.ctZone).toBe(4);
    expect(p.ctMark).toBe(0);
  });
});
