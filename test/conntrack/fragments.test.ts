/**
 * Fragment reassembly (OVS's ipf): holding, release with the datagram's ct
 * fields, expiry of incomplete lists (+inv after 15 s, purged 10 s later),
 * the fragment limit. The byte-for-byte comparison with OVS is in
 * ovs-diff.test.ts; these cover what needs time to pass.
 */
import { describe, expect, it } from "vitest";
import { Conntrack } from "../../src/conntrack/conntrack.js";
import { EXEC_DONE, EXEC_HELD } from "../../src/conntrack/api.js";
import * as L from "../../src/flow/layout.js";
import { build } from "../../src/packet/build.js";
import { MAC_A, MAC_B, Pkt, ct, stateText, udp4 } from "./helpers.js";

const commit = ct({ commit: true });

function fragments(id: number, size = 3000, sport = 4000): Pkt[] {
  return build
    .ipv4Fragments({ src: "10.0.0.1", dst: "10.0.0.2", id }, build.udp({ src: sport, dst: 53 }, new Uint8Array(size).fill(id)), 1400)
    .map((f) => new Pkt(build.eth({ src: MAC_A, dst: MAC_B }, f)));
}

const exec = (e: Conntrack, p: Pkt, now = 0): number => e.execute(p.frame, 0, p.frame.length, p.l3, p.l4, p.key, 0, commit, now);

describe("fragment reassembly", () => {
  it("holds every fragment and releases them all, in order, with the datagram's state", () => {
    const e = new Conntrack();
    const frags = fragments(1);
    expect(frags).toHaveLength(3);
    const copies = frags.map((p) => p.frame.slice());
    expect(exec(e, frags[2])).toBe(EXEC_HELD);
    expect(exec(e, frags[0])).toBe(EXEC_HELD);
    expect(e.takeReleased()).toEqual([]);
    expect(exec(e, frags[1])).toBe(EXEC_HELD);
    const out = e.takeReleased();
    expect(out.map((r) => Array.from(r.frame))).toEqual(copies.map((c) => Array.from(c)));
    for (const [i, r] of out.entries()) {
      expect(stateText(r.key[L.W_CT] & 0xff)).toBe("+new+trk");
      expect(r.key[L.W_CT_NW_SRC]).toBe(0x0a000001);
      // Only the first fragment has the UDP header, so only its flow has ct_tp_src/dst.
      expect(r.key[L.W_CT_TP]).toBe(i === 0 ? ((4000 << 16) | 53) >>> 0 : 0);
      expect(r.key[L.W_IN_PORT]).toBe(1);
    }
    expect(out[0].l4).not.toBe(0xffff);
    expect(out[1].l4).toBe(0xffff);
    expect(e.stats().connections).toBe(1);
    expect(e.ipf!.held).toBe(0);
    // The reply datagram is +est+rpl.
    const reply = build
      .ipv4Fragments({ src: "10.0.0.2", dst: "10.0.0.1", id: 2 }, build.udp({ src: 53, dst: 4000 }, new Uint8Array(2000)), 1400)
      .map((f) => new Pkt(build.eth({ src: MAC_B, dst: MAC_A }, f)));
    reply.forEach((p) => exec(e, p));
    expect(e.takeReleased().map((r) => stateText(r.key[L.W_CT] & 0xff))).toEqual(["+est+rpl+trk", "+est+rpl+trk"]);
  });

  it("releases an incomplete list as ct_state exactly +inv on the first ct() after 15 s, one list per call", () => {
    const e = new Conntrack();
    exec(e, fragments(1)[0], 0);
    exec(e, fragments(2, 3000, 4001)[0], 5);
    const other = (): Pkt => udp4("10.0.0.9:1", "10.0.0.8:2");
    expect(exec(e, other(), 15_000)).toBe(EXEC_DONE);
    expect(e.takeReleased()).toEqual([]);
    exec(e, other(), 15_001);
    const first = e.takeReleased();
    expect(first).toHaveLength(1);
    expect(first[0].key[L.W_CT] & 0xff).toBe(0x10);
    expect(first[0].frame[first[0].l3 + 5]).toBe(1); // IP id 1.
    exec(e, other(), 15_006);
    expect(e.takeReleased()).toHaveLength(1);
    expect(e.ipf!.counts.expiredSent).toBe(2);
  });

  it("purges a list 10 s after it expired, from a sweep or a ct()", () => {
    const e = new Conntrack();
    exec(e, fragments(1)[0], 0);
    exec(e, fragments(2, 3000, 4001)[0], 0);
    e.sweep(24_999);
    expect(e.ipf!.held).toBe(2);
    e.sweep(25_000);
    expect(e.ipf!.held).toBe(0);
    expect(e.ipf!.counts.purged).toBe(2);
    exec(e, fragments(3)[0], 100_000);
    exec(e, udp4("10.0.0.9:1", "10.0.0.8:2"), 125_000);
    expect(e.takeReleased()).toEqual([]);
    expect(e.ipf!.counts.purged).toBe(3);
  });

  it("stops holding at the fragment limit: conntrack then marks fragments +inv", () => {
    const e = new Conntrack({ fragments: { fragsMax: 2 } });
    exec(e, fragments(1)[0]);
    exec(e, fragments(2, 3000, 4001)[0]);
    const third = fragments(3, 3000, 4002)[0];
    expect(exec(e, third)).toBe(EXEC_DONE);
    expect(stateText(third.ctState)).toBe("+inv+trk");
  });

  it("treats an overlapping fragment as +inv and keeps the list", () => {
    const e = new Conntrack();
    const frags = fragments(1);
    exec(e, frags[0]);
    const dup = new Pkt(frags[0].frame.slice());
    expect(exec(e, dup)).toBe(EXEC_DONE);
    expect(stateText(dup.ctState)).toBe("+inv+trk");
    exec(e, frags[1]);
    exec(e, frags[2]);
    expect(e.takeReleased()).toHaveLength(3);
    expect(e.ipf!.counts.overlap).toBe(1);
  });
});
