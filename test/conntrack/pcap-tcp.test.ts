/**
 * The TCP state machine on real captures (../shared/pcaps): every TCP
 * conversation is replayed through the engine, every packet committed in
 * zone 1. A well-formed conversation (it starts with a SYN) must be +new
 * for the SYN and its retransmissions before the responder answers, and
 * +est for every other segment (+rpl from the responder), never +inv, except for segments whose checksum is wrong in the capture
 * (taken on a host with checksum offload), which conntrack must refuse.
 * Copies of established segments moved out of the window (sequence and
 * acknowledgement numbers 2^30 ahead) must be +inv and leave the
 * conversation intact.
 */
import { describe, expect, it } from "vitest";
import { existsSync, readdirSync } from "node:fs";
import { Conntrack } from "../../src/conntrack/conntrack.js";
import { readCapture } from "../../src/io/pcap.js";
import * as L from "../../src/flow/layout.js";
import { csumAdd, csumFold, pseudoSum4, pseudoSum6 } from "../../src/packet/checksum.js";
import { Pkt, ct, run, stateText } from "./helpers.js";

const DIR = "../shared/pcaps";
const commit = ct({ zone: 1, commit: true });

interface Segment {
  file: string;
  index: number;
  frame: Uint8Array;
  pkt: Pkt;
  /** Canonical conversation key and whether this packet goes from the lower endpoint. */
  conv: string;
  from: string;
  flags: number;
  checksumOk: boolean;
}

/** Recomputes the TCP checksum from scratch over the segment as captured. */
function tcpChecksumOk(p: Pkt): boolean {
  const b = p.frame;
  const v4 = (p.key[L.W_DL_TYPE] & 0xffff) === L.ETH_TYPE_IP;
  const l3 = p.l3;
  const end = v4 ? l3 + ((b[l3 + 2] << 8) | b[l3 + 3]) : l3 + 40 + ((b[l3 + 4] << 8) | b[l3 + 5]);
  if (end > b.length) return false;
  const size = end - p.l4;
  const pseudo = v4 ? pseudoSum4(b, l3 + 12, l3 + 16, 6, size) : pseudoSum6(b, l3 + 8, l3 + 24, 6, size);
  return csumFold(csumAdd(b, p.l4, size, pseudo)) === 0xffff;
}

function endpoint(p: Pkt, src: boolean): string {
  const k = p.key;
  const v4 = (k[L.W_DL_TYPE] & 0xffff) === L.ETH_TYPE_IP;
  const addr = v4 ? String(k[src ? L.W_NW_SRC : L.W_NW_DST]) : Array.from(k.subarray(src ? L.W_IPV6_SRC : L.W_IPV6_DST, (src ? L.W_IPV6_SRC : L.W_IPV6_DST) + 4)).join(".");
  const port = src ? k[L.W_TP] >>> 16 : k[L.W_TP] & 0xffff;
  return `${addr}:${port}`;
}

function tcpSegments(): Segment[] {
  const out: Segment[] = [];
  for (const file of readdirSync(DIR).filter((f) => /\.pcap(ng)?$/.test(f)).sort()) {
    let cap;
    try {
      cap = readCapture(`${DIR}/${file}`);
    } catch {
      continue; // Not Ethernet: the capture tests cover these.
    }
    for (let i = 0; i < cap.count; i++) {
      const frame = new Uint8Array(cap.buffer.subarray(cap.offsets[i], cap.offsets[i] + cap.lengths[i]));
      if (frame.length < 14) continue;
      const pkt = new Pkt(frame);
      if ((pkt.key[L.W_NW] & 0xff) !== L.IPPROTO_TCP || pkt.l4 === 0xffff || pkt.key[L.W_TP] === 0) continue;
      // Only whole TCP headers (truncated ones are +inv, covered elsewhere).
      if (frame.length - pkt.l4 < 20) continue;
      const a = endpoint(pkt, true);
      const b = endpoint(pkt, false);
      out.push({ file, index: i, frame, pkt, conv: `${file}|${[a, b].sort().join("|")}`, from: a, flags: pkt.key[L.W_TCP_FLAGS], checksumOk: tcpChecksumOk(pkt) });
    }
  }
  return out;
}

const SYN = 0x02;
const ACK = 0x10;

describe.skipIf(!existsSync(DIR))("TCP conversations of real captures", () => {
  const segments = existsSync(DIR) ? tcpSegments() : [];
  const conversations = new Map<string, Segment[]>();
  for (const s of segments) {
    const list = conversations.get(s.conv) ?? [];
    list.push(s);
    conversations.set(s.conv, list);
  }
  const wellFormed = [...conversations.values()].filter((c) => c[0].checksumOk && (c[0].flags & (SYN | ACK)) === SYN);

  it("finds well-formed conversations in several captures", () => {
    expect(new Set(wellFormed.map((c) => c[0].file)).size).toBeGreaterThanOrEqual(4);
    expect(wellFormed.reduce((n, c) => n + c.length, 0)).toBeGreaterThanOrEqual(60);
  });

  it("tracks every packet of a well-formed conversation as +new (SYN) or +est, never +inv", () => {
    const e = new Conntrack();
    let checked = 0;
    for (const conv of wellFormed) {
      const initiator = conv[0].from;
      let answered = false;
      for (const s of conv) {
        const p = run(e, new Pkt(new Uint8Array(s.frame)), commit);
        const where = `${s.file} #${s.index} flags=0x${s.flags.toString(16)}`;
        if (!s.checksumOk) {
          // The capture holds the segment as the sender's NIC was to finish it.
          expect(p.states, where).toBe("+inv+trk");
          continue;
        }
        const fromInitiator = s.from === initiator;
        if (!fromInitiator) answered = true;
        // conntrack-tcp.c: a SYN while its sender is still SYN_SENT is CT_UPDATE_VALID_NEW.
        const pureSyn = (s.flags & (SYN | ACK)) === SYN;
        const want = pureSyn && !answered ? "+new+trk" : fromInitiator ? "+est+trk" : "+est+rpl+trk";
        expect(p.states, where).toBe(want);
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(60);
  });

  it("marks out-of-window copies of established segments +inv and carries on", () => {
    const e = new Conntrack();
    let crafted = 0;
    for (const conv of wellFormed) {
      let answered = false;
      // After a FIN or RST conntrack-tcp.c checks loosely (pf's "funky
      // packets after a close"): craft only while the connection is open.
      let closing = false;
      const initiator = conv[0].from;
      for (const s of conv) {
        if (s.flags & 0x05) closing = true;
        const fresh = (): Pkt => run(e, new Pkt(new Uint8Array(s.frame)), commit);
        if (s.checksumOk && answered && !closing && s.flags & ACK) {
          // The same segment with sequence and acknowledgement 1 GiB further
          // on (a segment without data is checked on its acknowledgement),
          // checksum fixed up: out of any window.
          const copy = new Uint8Array(s.frame);
          const p0 = new Pkt(copy);
          const csAt = p0.l4 + 16;
          let sum = ~((copy[csAt] << 8) | copy[csAt + 1]) & 0xffff;
          for (const at of [p0.l4 + 4, p0.l4 + 8]) {
            const hi = (copy[at] << 8) | copy[at + 1];
            const moved = (hi + 0x4000) & 0xffff;
            copy[at] = moved >>> 8;
            copy[at + 1] = moved & 0xff;
            sum += (~hi & 0xffff) + moved;
          }
          sum = (sum & 0xffff) + (sum >>> 16);
          sum = (sum & 0xffff) + (sum >>> 16);
          const cs = ~sum & 0xffff;
          copy[csAt] = cs >>> 8;
          copy[csAt + 1] = cs & 0xff;
          const bad = new Pkt(copy);
          expect(tcpChecksumOk(bad)).toBe(true);
          expect(run(e, bad, commit).states, `${s.file} #${s.index} moved`).toBe("+inv+trk");
          crafted++;
        }
        const p = fresh();
        if (!s.checksumOk) continue;
        if (s.from !== initiator) answered = true;
        expect(p.states, `${s.file} #${s.index}`).not.toContain("inv");
      }
    }
    expect(crafted).toBeGreaterThanOrEqual(20);
    expect(stateText(0)).toBe("0");
  });
});
