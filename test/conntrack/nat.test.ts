/**
 * NAT: rewritten packets carry checksums equal to ones computed from scratch,
 * port allocation never collides under many connections, exhaustion leaves
 * established connections working, and the key follows the new headers.
 */
import { describe, expect, it } from "vitest";
import { Conntrack } from "../../src/conntrack/conntrack.js";
import type { NatRequest } from "../../src/conntrack/api.js";
import * as L from "../../src/flow/layout.js";
import { build } from "../../src/packet/build.js";
import { csumAdd, csumFold, pseudoSum4, pseudoSum6 } from "../../src/packet/checksum.js";
import { Pkt, ct, run, tcp4, udp4, v4, v6 } from "./helpers.js";

const ip4 = (s: string): bigint => s.split(".").reduce((a, o) => (a << 8n) | BigInt(o), 0n);

function snat(addrMin: string, addrMax = addrMin, portMin = 0, portMax = portMin): NatRequest {
  return { kind: "src", family: 4, addrMin: ip4(addrMin), addrMax: ip4(addrMax), portMin, portMax, persistent: false, hash: false, random: false };
}
function dnat(addr: string, port = 0): NatRequest {
  return { kind: "dst", family: 4, addrMin: ip4(addr), addrMax: ip4(addr), portMin: port, portMax: port, persistent: false, hash: false, random: false };
}
const unnat: NatRequest = { kind: null, family: 0, addrMin: 0n, addrMax: 0n, portMin: 0, portMax: 0, persistent: false, hash: false, random: false };

/** Every checksum of the frame, verified from scratch (IPv4 header, TCP/UDP/ICMP, inner IPv4 header of an ICMP error). */
function checksumsValid(p: Pkt): boolean {
  const b = p.frame;
  const l3 = p.l3;
  const l4 = p.l4;
  const v4frame = (p.key[L.W_DL_TYPE] & 0xffff) === L.ETH_TYPE_IP;
  const proto = p.key[L.W_NW] & 0xff;
  if (v4frame) {
    const ihl = (b[l3] & 15) * 4;
    if (csumFold(csumAdd(b, l3, ihl, 0)) !== 0xffff) return false;
    const end = l3 + ((b[l3 + 2] << 8) | b[l3 + 3]);
    const size = end - l4;
    if (proto === 6 || (proto === 17 && (b[l4 + 6] | b[l4 + 7]) !== 0)) {
      return csumFold(csumAdd(b, l4, size, pseudoSum4(b, l3 + 12, l3 + 16, proto, size))) === 0xffff;
    }
    if (proto === 1) {
      if (csumFold(csumAdd(b, l4, size, 0)) !== 0xffff) return false;
      if (b[l4] === 3 || b[l4] === 11) {
        const inner = l4 + 8;
        return csumFold(csumAdd(b, inner, (b[inner] & 15) * 4, 0)) === 0xffff;
      }
    }
    return true;
  }
  const end = l3 + 40 + ((b[l3 + 4] << 8) | b[l3 + 5]);
  const size = end - l4;
  return csumFold(csumAdd(b, l4, size, pseudoSum6(b, l3 + 8, l3 + 24, proto, size))) === 0xffff;
}

const hex32 = (w: number): string => `${w >>> 24}.${(w >>> 16) & 255}.${(w >>> 8) & 255}.${w & 255}`;

describe("NAT rewrites", () => {
  it("SNATs a TCP connection both ways with valid checksums and the key following the bytes", () => {
    const e = new Conntrack();
    const req = ct({ commit: true, nat: snat("192.0.2.1") });
    const syn = run(e, tcp4("10.0.0.1:40000", "10.0.0.2:80", "S", 1, 0, { payload: new Uint8Array([1, 2, 3]) }), req);
    expect(syn.states).toBe("+new+trk+snat");
    expect(checksumsValid(syn)).toBe(true);
    // The key now describes the rewritten packet: parse it again to compare.
    const again = syn.reparse();
    for (const w of [L.W_NW_SRC, L.W_NW_DST, L.W_TP]) expect(syn.key[w], `word ${w}`).toBe(again.key[w]);
    expect(hex32(syn.key[L.W_NW_SRC])).toBe("192.0.2.1");
    const synAck = run(e, tcp4("10.0.0.2:80", "192.0.2.1:40000", "SA", 9, 5), ct({ nat: unnat }));
    expect(synAck.states).toBe("+est+rpl+trk+dnat");
    expect(hex32(synAck.key[L.W_NW_DST])).toBe("10.0.0.1");
    expect(checksumsValid(synAck)).toBe(true);
    // Without nat in the request the reply is tracked but not translated.
    const plain = run(e, tcp4("10.0.0.2:80", "192.0.2.1:40000", "A", 10, 5), ct());
    expect(plain.states).toBe("+est+rpl+trk");
    expect(hex32(plain.key[L.W_NW_DST])).toBe("192.0.2.1");
  });

  it("DNATs UDP to an address and port, keeps a zero UDP checksum zero", () => {
    const e = new Conntrack();
    const req = ct({ commit: true, nat: dnat("10.0.0.80", 8080) });
    const p = run(e, udp4("10.0.0.1:5000", "203.0.113.9:53"), req);
    expect(p.states).toBe("+new+trk+dnat");
    expect(p.key[L.W_TP]).toBe(((5000 << 16) | 8080) >>> 0);
    expect(checksumsValid(p)).toBe(true);
    const nock = run(e, v4("10.0.0.1", "203.0.113.9", build.udp({ src: 5001, dst: 53, checksum: 0 }, new Uint8Array(8))), req);
    expect(nock.frame[nock.l4 + 6] | nock.frame[nock.l4 + 7]).toBe(0);
    const reply = run(e, udp4("10.0.0.80:8080", "10.0.0.1:5000"), ct({ nat: unnat }));
    expect(reply.states).toBe("+est+rpl+trk+snat");
    expect(reply.key[L.W_TP]).toBe(((53 << 16) | 5000) >>> 0);
    expect(hex32(reply.key[L.W_NW_SRC])).toBe("203.0.113.9");
    expect(checksumsValid(reply)).toBe(true);
  });

  it("translates the packet an ICMP error quotes and recomputes the ICMP checksum", () => {
    const e = new Conntrack();
    const out = run(e, udp4("10.0.0.1:5000", "10.0.0.2:53"), ct({ commit: true, nat: snat("192.0.2.1", "192.0.2.1", 7000) }));
    // The server answers port unreachable, quoting the translated datagram.
    const quoted = out.frame.subarray(out.l3, out.l3 + 28);
    const err = run(e, v4("10.0.0.2", "192.0.2.1", build.icmpError({ type: "dest-unreachable", code: 3 }, quoted)), ct({ nat: unnat }));
    expect(err.states).toBe("+rel+rpl+trk+dnat");
    expect(hex32(err.key[L.W_NW_DST])).toBe("10.0.0.1");
    expect(checksumsValid(err)).toBe(true);
    const inner = err.l4 + 8;
    const b = err.frame;
    expect(hex32(((b[inner + 12] << 24) | (b[inner + 13] << 16) | (b[inner + 14] << 8) | b[inner + 15]) >>> 0)).toBe("10.0.0.1");
    expect((b[inner + 20] << 8) | b[inner + 21]).toBe(5000);
  });

  it("SNATs IPv6 with valid checksums", () => {
    const e = new Conntrack();
    const nat6: NatRequest = { kind: "src", family: 6, addrMin: 0xfd000000000000000000000000000100n, addrMax: 0xfd000000000000000000000000000100n, portMin: 0, portMax: 0, persistent: false, hash: false, random: false };
    const p = run(e, v6("fd00::1", "fd00::2", build.tcp({ src: 1234, dst: 80, flags: "S", seq: 5 })), ct({ commit: true, nat: nat6 }));
    expect(p.states).toBe("+new+trk+snat");
    expect(p.key[L.W_IPV6_SRC + 3]).toBe(0x100);
    expect(checksumsValid(p)).toBe(true);
    const echo = run(e, v6("fd00::1", "fd00::2", build.icmp6Echo({ id: 1, seq: 1 })), ct({ commit: true, nat: nat6 }));
    expect(checksumsValid(echo)).toBe(true);
  });
});

describe("expired NAT connections", () => {
  it("marks a reply to an expired, unswept NAT connection +inv, and treats it as new once swept", () => {
    const e = new Conntrack();
    run(e, udp4("10.0.0.1:5000", "10.0.0.2:53"), ct({ commit: true, nat: snat("192.0.2.1") }), 0);
    const late = run(e, udp4("10.0.0.2:53", "192.0.2.1:5000"), ct({ nat: unnat }), 60_000);
    expect(late.states).toBe("+inv+trk");
    expect(late.ctNwProto).toBe(0);
    // The original direction is simply gone.
    expect(run(e, udp4("10.0.0.1:5000", "10.0.0.2:53"), ct(), 60_000).states).toBe("+new+trk");
    e.sweep(60_000);
    expect(run(e, udp4("10.0.0.2:53", "192.0.2.1:5000"), ct({ nat: unnat }), 60_001).states).toBe("+new+trk");
  });
});

describe("port allocation", () => {
  it("gives clients behind one address distinct ports until the range is full, then reports exhaustion", () => {
    // 100 ports: OVS's search (nat_get_unique_l4) tries up to 128 ports from
    // its starting point, so it finds the last free one of a range this size.
    const e = new Conntrack();
    const req = ct({ zone: 3, commit: true, nat: snat("192.0.2.1", "192.0.2.1", 10000, 10099) });
    const seen = new Set<number>();
    for (let i = 0; i < 100; i++) {
      const p = run(e, udp4(`10.1.${i >> 8}.${i & 255}:4000`, "198.51.100.7:443"), req);
      expect(p.states).toBe("+new+trk+snat");
      expect(checksumsValid(p)).toBe(true);
      const port = p.key[L.W_TP] >>> 16;
      expect(port).toBeGreaterThanOrEqual(10000);
      expect(port).toBeLessThanOrEqual(10099);
      seen.add(port);
    }
    expect(seen.size).toBe(100);
    const refused = run(e, udp4("10.2.0.1:4000", "198.51.100.7:443"), req);
    expect(refused.states).toBe("+new+trk");
    expect(hex32(refused.key[L.W_NW_SRC])).toBe("10.2.0.1");
    expect(e.stats()).toMatchObject({ natExhausted: 1, connections: 100 });
    // Established connections keep translating.
    const again = run(e, udp4("10.1.0.7:4000", "198.51.100.7:443"), req);
    expect(again.states).toBe("+new+trk+snat");
    expect(hex32(again.key[L.W_NW_SRC])).toBe("192.0.2.1");
    // Another destination reuses the same ports: a reply tuple includes the peer.
    expect(run(e, udp4("10.2.0.1:4000", "198.51.100.8:443"), req).states).toBe("+new+trk+snat");
  });

  it("never collides in a large range; OVS's bounded search may refuse before the range is full", () => {
    const e = new Conntrack();
    const req = ct({ commit: true, nat: snat("192.0.2.1", "192.0.2.4", 20000, 21999) });
    const seen = new Set<string>();
    let refused = 0;
    for (let i = 0; i < 8000; i++) {
      const p = run(e, tcp4(`10.${1 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}:5555`, "198.51.100.7:443", "S", i), req);
      if (!(p.ctState & 0x40)) {
        refused++;
        continue;
      }
      const t = `${hex32(p.key[L.W_NW_SRC])}:${p.key[L.W_TP] >>> 16}`;
      expect(seen.has(t), t).toBe(false);
      seen.add(t);
    }
    expect(seen.size + refused).toBe(8000);
    expect(seen.size).toBeGreaterThan(7000);
    expect(e.stats().natExhausted).toBe(refused);
  });

  it("keeps the source port when free, else takes the next one up in its class (as OVS does)", () => {
    const e = new Conntrack();
    const req = ct({ commit: true, nat: snat("192.0.2.1") });
    const ports = [];
    for (let i = 0; i < 5; i++) ports.push(run(e, tcp4(`10.0.0.${i + 1}:33000`, "10.0.0.99:80", "S", 1), req).key[L.W_TP] >>> 16);
    expect(ports).toEqual([33000, 33001, 33002, 33003, 33004]);
    const low = [];
    for (let i = 0; i < 3; i++) low.push(run(e, tcp4(`10.0.0.${i + 1}:511`, "10.0.0.99:80", "S", 1), req).key[L.W_TP] >>> 16);
    expect(low).toEqual([511, 1, 2]);
    const mid = [];
    for (let i = 0; i < 2; i++) mid.push(run(e, tcp4(`10.0.0.${i + 1}:1023`, "10.0.0.99:80", "S", 1), req).key[L.W_TP] >>> 16);
    expect(mid).toEqual([1023, 600]);
  });

  it("never hands out a translated tuple in use, under random traffic with expiry", () => {
    const e = new Conntrack({ timeouts: { udp_first: 2, udp_single: 2 } });
    const req = ct({ commit: true, nat: snat("192.0.2.1", "192.0.2.2", 2000, 2099) });
    let seed = 7;
    const rand = (n: number): number => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return (seed >>> 8) % n; // An LCG's low bits repeat quickly.
    };
    const live = new Map<string, { until: number; client: string }>();
    let now = 0;
    for (let i = 0; i < 5000; i++) {
      now += 5 + rand(10);
      const client = `10.3.${rand(4)}.${rand(250)}:${1024 + rand(50)}`;
      if (rand(100) === 0) e.sweep(now);
      const p = run(e, udp4(client, "198.51.100.1:53"), req, now);
      for (const [k, v] of live) if (v.until <= now) live.delete(k);
      if (!(p.ctState & 0x40)) continue; // Exhausted: no translation.
      const tuple = `${hex32(p.key[L.W_NW_SRC])}:${p.key[L.W_TP] >>> 16}`;
      const holder = live.get(tuple);
      if (holder !== undefined) expect(holder.client, tuple).toBe(client);
      live.set(tuple, { until: now + 2000, client });
    }
    expect(e.stats().created).toBeGreaterThan(2000);
    expect(e.stats().natExhausted).toBeGreaterThan(0);
  });
});
