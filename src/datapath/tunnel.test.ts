/**
 * The tnl_pop queue: inner frames left where they lie while they all come
 * from one received buffer, copied (with the ones already queued) as soon as
 * a frame from another buffer arrives; their metadata as the outer headers
 * said; the inner bytes unchanged in every case.
 */
import { describe, it, expect } from "vitest";
import { TunnelPopQueue } from "./tunnel.js";
import { eth, ipv4, udp, vxlan } from "../packet/build.js";
import * as L from "../flow/layout.js";
import { Parser, HDR_WORDS, HDR_REGIONS, HDR_L3, REGION_TUNNEL } from "../packet/parse.js";

const inner = (sport: number): Uint8Array =>
  eth({ src: "fa:16:3e:00:00:02", dst: "fa:16:3e:00:00:01", padTo: 64 }, ipv4({ src: "10.0.0.2", dst: "10.0.0.1" }, udp({ src: sport, dst: 53 }, new Uint8Array(18))));
const outer = (vni: number, payload: Uint8Array): Uint8Array =>
  eth({ src: "aa:55:aa:55:00:01", dst: "aa:55:aa:55:00:02" }, ipv4({ src: "1.1.2.92", dst: "1.1.2.88", df: true }, udp({ src: 50000, dst: 4789, checksum: 0 }, vxlan({ vni }, payload))));

/** Two outer frames side by side in one buffer, as a received batch holds them. */
function received(vnis: number[], sports: number[]): { buf: Uint8Array; offs: number[]; lens: number[] } {
  const frames = vnis.map((v, i) => outer(v, inner(sports[i])));
  const buf = new Uint8Array(frames.reduce((n, f) => n + f.length + 8, 0));
  const offs: number[] = [];
  let at = 4;
  for (const f of frames) {
    buf.set(f, at);
    offs.push(at);
    at += f.length + 8;
  }
  return { buf, offs, lens: frames.map((f) => f.length) };
}

const queued = (q: TunnelPopQueue, i: number): number[] => Array.from(q.frames.subarray(q.offsets[i], q.offsets[i] + q.lengths[i]));

describe("the tnl_pop queue", () => {
  it("leaves inner frames of one received buffer in place", () => {
    const q = new TunnelPopQueue();
    const r = received([5, 6], [1000, 1001]);
    for (let i = 0; i < 2; i++) q.pushInPlace(7, true, r.buf, r.offs[i], r.lens[i], r.offs[i] + 14);
    expect(q.count).toBe(2);
    expect(q.frames).toBe(r.buf);
    expect(queued(q, 0)).toEqual(Array.from(inner(1000)));
    expect(queued(q, 1)).toEqual(Array.from(inner(1001)));
    expect(q.keys[L.W_TUN_ID + 1]).toBe(5);
    expect(q.keys[L.KEY_WORDS + L.W_TUN_ID + 1]).toBe(6);
  });

  it("parses each inner frame into its key as it queues it, with the tunnel words", () => {
    const q = new TunnelPopQueue();
    const r = received([5, 6], [1000, 1001]);
    for (let i = 0; i < 2; i++) q.pushInPlace(7, true, r.buf, r.offs[i], r.lens[i], r.offs[i] + 14);
    // What a parse of the inner frame alone gives, plus the tunnel metadata the outer header said.
    for (let i = 0; i < 2; i++) {
      const want = new Uint32Array(L.KEY_WORDS);
      const hdrs = new Uint16Array(HDR_WORDS);
      new Parser().parseFrame(inner(1000 + i), 0, 64, 7, want, 0, hdrs, 0);
      want[L.W_TUN_ID + 1] = 5 + i;
      want[L.W_TUN_SRC] = 0x0101025c;
      want[L.W_TUN_DST] = 0x01010258;
      // tun_flags: key (8) << 16 (a pop does not report DF: netdev_tnl_ip_extract_tnl_md), tos 0, ttl 64.
      want[L.W_TUN_FLAGS] = (0x08 << 16) | 64;
      want[L.W_TUN_TP] = (50000 << 16) | 4789;
      expect(Array.from(q.keys.subarray(i * L.KEY_WORDS, (i + 1) * L.KEY_WORDS))).toEqual(Array.from(want));
      expect(q.hdrs[i * HDR_WORDS + HDR_REGIONS]).toBe(hdrs[HDR_REGIONS] | REGION_TUNNEL);
      expect(q.hdrs[i * HDR_WORDS + HDR_L3]).toBe(14);
    }
    // reset() leaves every key slot zero for the next batch.
    q.reset();
    expect(q.keys.every((w) => w === 0)).toBe(true);
  });

  it("moves the frames left in place into its own buffer when a frame from another buffer comes", () => {
    const q = new TunnelPopQueue();
    const a = received([5], [1000]);
    const b = received([6], [1001]);
    q.pushInPlace(7, true, a.buf, a.offs[0], a.lens[0], a.offs[0] + 14);
    q.pushInPlace(7, true, b.buf, b.offs[0], b.lens[0], b.offs[0] + 14);
    expect(q.frames).not.toBe(a.buf);
    expect(q.frames).not.toBe(b.buf);
    // The received buffers may change now: the queue holds its own copies.
    a.buf.fill(0);
    b.buf.fill(0);
    expect(queued(q, 0)).toEqual(Array.from(inner(1000)));
    expect(queued(q, 1)).toEqual(Array.from(inner(1001)));
  });

  it("copies a frame from a buffer that may change (push), and those left in place before it", () => {
    const q = new TunnelPopQueue();
    const r = received([5, 6], [1000, 1001]);
    q.pushInPlace(7, true, r.buf, r.offs[0], r.lens[0], r.offs[0] + 14);
    q.push(7, true, r.buf, r.offs[1], r.lens[1], r.offs[1] + 14);
    r.buf.fill(0);
    expect(queued(q, 0)).toEqual(Array.from(inner(1000)));
    expect(queued(q, 1)).toEqual(Array.from(inner(1001)));
    q.reset();
    expect(q.count).toBe(0);
    q.pushInPlace(7, true, r.buf, 0, 10, -1);
    expect(q.invalid).toBe(1);
  });

  it("counts a frame with no room as full and leaves its key slot zero for the next", () => {
    const q = new TunnelPopQueue();
    // Four 64 KB frames fill most of the queue's bytes; a fifth does not fit.
    const big = eth({ src: "fa:16:3e:00:00:02", dst: "fa:16:3e:00:00:01" }, ipv4({ src: "10.0.0.2", dst: "10.0.0.1" }, udp({ src: 1, dst: 2 }, new Uint8Array(64_000))));
    const f = outer(9, big);
    for (let i = 0; i < 5; i++) q.push(7, true, f, 0, f.length, 14);
    expect(q.count).toBe(4);
    expect(q.full).toBe(1);
    expect(q.keys.subarray(4 * L.KEY_WORDS, 5 * L.KEY_WORDS).every((w) => w === 0)).toBe(true);
    // A header OVS refuses is invalid, not full, even with no room.
    const r = received([5], [1000]);
    r.buf[r.offs[0] + 14 + 10] ^= 0xff; // IPv4 checksum
    q.push(7, true, r.buf, r.offs[0], r.lens[0], r.offs[0] + 14);
    expect(q.invalid).toBe(1);
    expect(q.keys.subarray(4 * L.KEY_WORDS, 5 * L.KEY_WORDS).every((w) => w === 0)).toBe(true);
  });
});
