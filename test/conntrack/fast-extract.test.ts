/**
 * The IPv4 TCP/UDP extraction shortcut (TupleExtractor.extractV4Fast, with
 * checksums summed a 32-bit word at a time) against the general extraction
 * (extract, 16-bit sums): on random frames with mutated lengths, header
 * lengths, fragment bits, ports, checksums and bytes, the shortcut either
 * declines or accepts exactly what extract() accepts, with the same tuple;
 * and the IPv4 tuple hash (four independent multiplications) separates
 * tuples that differ in one word and spreads neighbouring ones.
 */
import { describe, expect, it } from "vitest";
import { TUPLE_WORDS, TupleExtractor, hashTuple, reverseTuple } from "../../src/conntrack/tuple.js";
import { eth, ipv4, tcp, udp } from "../../src/packet/build.js";
import { csumAdd, csumFinish, pseudoSum4 } from "../../src/packet/checksum.js";
import { HDR_L3, HDR_L4, HDR_WORDS, Parser } from "../../src/packet/parse.js";
import * as L from "../../src/flow/layout.js";

/** xorshift32: the same frames on every run. */
function rng(seed: number): () => number {
  let x = seed >>> 0;
  return (): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

/** Recomputes the IPv4 header checksum and, when `l4Too`, the TCP/UDP checksum over what conntrack checksums. */
function fixChecksums(f: Uint8Array, l3: number, l4: number, l4Too: boolean): void {
  const ihl = (f[l3] & 0x0f) * 4;
  if (ihl >= 20 && l3 + ihl <= f.length) {
    f[l3 + 10] = 0;
    f[l3 + 11] = 0;
    const c = csumFinish(csumAdd(f, l3, ihl));
    f[l3 + 10] = c >>> 8;
    f[l3 + 11] = c & 0xff;
  }
  if (!l4Too) return;
  const proto = f[l3 + 9];
  const size = l3 + Math.min(f.length - l3, (f[l3 + 2] << 8) | f[l3 + 3]) - l4;
  const at = proto === L.IPPROTO_TCP ? 16 : 6;
  if (size < at + 2) return;
  f[l4 + at] = 0;
  f[l4 + at + 1] = 0;
  const c = csumFinish(csumAdd(f, l4, size, pseudoSum4(f, l3 + 12, l3 + 16, proto, size)));
  f[l4 + at] = c >>> 8;
  f[l4 + at + 1] = c & 0xff;
}

describe("IPv4 extraction shortcut", () => {
  it("accepts exactly what the general extraction accepts, with the same tuple, on mutated TCP and UDP frames", () => {
    const rand = rng(0x5eed1234);
    const parser = new Parser();
    const key = new Uint32Array(L.KEY_WORDS);
    const hdrs = new Uint16Array(HDR_WORDS);
    const ex = new TupleExtractor();
    const fast = new Uint32Array(TUPLE_WORDS);
    const slow = new Uint32Array(TUPLE_WORDS);
    let accepted = 0;
    let declined = 0;
    for (let n = 0; n < 20000; n++) {
      const payload = Uint8Array.from({ length: Math.floor(rand() * 40) }, () => Math.floor(rand() * 256));
      const sport = rand() < 0.05 ? 0 : 1 + Math.floor(rand() * 65535);
      const dport = rand() < 0.05 ? 0 : 1 + Math.floor(rand() * 65535);
      const src = `10.${n & 255}.0.${1 + Math.floor(rand() * 250)}`;
      const l4 = rand() < 0.5
        ? tcp({ src: sport, dst: dport, flags: "A", seq: Math.floor(rand() * 2 ** 32), ack: 1, window: 1000, payload })
        : udp({ src: sport, dst: dport }, payload);
      const f = eth({ src: "fa:16:3e:00:00:01", dst: "fa:16:3e:00:00:02", padTo: rand() < 0.5 ? 64 : 0 }, ipv4({ src, dst: "192.168.1.9" }, l4));
      parser.parseFrame(f, 0, f.length, 1, key, 0, hdrs, 0);
      const l3 = hdrs[HDR_L3];
      const l4At = hdrs[HDR_L4];
      // Mutations that keep or break validity; checksums are then usually made right again.
      const m = rand();
      if (m < 0.1) f[l3 + 3] = (f[l3 + 3] + Math.floor(rand() * 9) - 4) & 0xff; // IP total length
      else if (m < 0.15) f[l3 + 6] |= rand() < 0.5 ? 0x20 : 0x01; // MF or an offset
      else if (m < 0.2) f[l3] = 0x40 | Math.floor(rand() * 16); // IHL
      else if (m < 0.3 && f[l3 + 9] === L.IPPROTO_UDP) f[l4At + 5] = (f[l4At + 5] + Math.floor(rand() * 9) - 4) & 0xff; // UDP length
      else if (m < 0.3) f[l4At + 12] = Math.floor(rand() * 16) << 4; // TCP data offset
      else if (m < 0.35 && f[l3 + 9] === L.IPPROTO_UDP) { f[l4At + 6] = 0; f[l4At + 7] = 0; } // no UDP checksum
      else if (m < 0.45) f[l3 + Math.floor(rand() * (f.length - l3))] ^= 1 << Math.floor(rand() * 8);
      if (rand() < 0.8) fixChecksums(f, l3, l4At, !(m >= 0.3 && m < 0.35));
      const len = rand() < 0.1 ? Math.max(l3 + 1, f.length - Math.floor(rand() * 20)) : f.length;
      const l3Size = Math.min(len - l3, (f[l3 + 2] << 8) | f[l3 + 3]);
      const zone = Math.floor(rand() * 65536);
      fast.fill(0xdead);
      const okFast = ex.extractV4Fast(f, l3, l3Size, l4At, zone, fast, 0);
      const okSlow = ex.extract(f, l3, l3Size, l4At, L.ETH_TYPE_IP, zone, slow, 0);
      if (okFast) {
        accepted++;
        expect(okSlow, `frame ${n}`).toBe(true);
        expect(Array.from(fast), `frame ${n}`).toEqual(Array.from(slow));
        expect(ex.icmpRelated).toBe(false);
      } else {
        declined++;
        expect(Array.from(fast), `frame ${n} written though declined`).toEqual(new Array(TUPLE_WORDS).fill(0xdead));
        if (okSlow) {
          // Declined though valid: only what the shortcut leaves to extract() (IP options, other protocols).
          const left = (f[l3] & 0x0f) !== 5 || (f[l3 + 9] !== L.IPPROTO_TCP && f[l3 + 9] !== L.IPPROTO_UDP);
          expect(left, `frame ${n} valid but declined: ${Buffer.from(f.subarray(0, len)).toString("hex")}`).toBe(true);
        }
      }
    }
    // Both outcomes were exercised in quantity.
    expect(accepted).toBeGreaterThan(5000);
    expect(declined).toBeGreaterThan(3000);
  });

  it("hashes IPv4 tuples apart: a change of any one word, a tuple and its reverse, and 2^16 neighbouring tuples", () => {
    const rand = rng(77);
    const t = new Uint32Array(TUPLE_WORDS);
    const u = new Uint32Array(TUPLE_WORDS);
    for (let n = 0; n < 1000; n++) {
      t.fill(0);
      t[0] = ((n << 16) | (6 << 8) | 4) >>> 0;
      t[1] = Math.floor(rand() * 2 ** 32);
      t[5] = Math.floor(rand() * 2 ** 32);
      t[9] = Math.floor(rand() * 65536) << 16;
      t[10] = Math.floor(rand() * 65536) << 16;
      const h = hashTuple(t, 0);
      for (const w of [0, 1, 5, 9, 10]) {
        u.set(t);
        u[w] = (u[w] ^ (w === 9 || w === 10 ? 1 << (16 + (n & 15)) : 1 << (n & 31))) >>> 0;
        expect(hashTuple(u, 0), `tuple ${n} word ${w}`).not.toBe(h);
      }
      reverseTuple(t, 0, u, 0);
      if (t[1] !== t[5] || t[9] !== t[10]) expect(hashTuple(u, 0), `tuple ${n} reversed`).not.toBe(h);
    }
    // One client, every source port: the index's slots (low bits) spread as for random keys.
    const slots = new Set<number>();
    t.fill(0);
    t[0] = (6 << 8) | 4;
    t[1] = 0x0a000001;
    t[5] = 0xc0a80001;
    t[10] = 80 << 16;
    for (let port = 0; port < 65536; port++) {
      t[9] = port << 16;
      slots.add(hashTuple(t, 0) & 0xffff);
    }
    // 65536 random values into 65536 slots fill 1 - 1/e of them (63.2%).
    expect(slots.size).toBeGreaterThan(0.6 * 65536);
  });
});
