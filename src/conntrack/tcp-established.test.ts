/**
 * TcpTracker.update's established shortcut against the general
 * tcp_conn_update path (updateGeneral): two tables see the same random
 * segments after the same handshake, one through update(), one through
 * updateGeneral() only; after every segment the verdict, the timeout class
 * and every peer field (seqlo, seqhi, max_win, wscale, state) must agree.
 * The segments sit around the window edges (in and out of window), carry
 * payloads, windows and ACK/PSH/URG mostly, and sometimes SYN/FIN/RST so
 * that connections leave ESTABLISHED; handshakes vary window scaling (both,
 * one side, none, picked up midstream).
 */
import { describe, expect, it } from "vitest";
import { ConnTable } from "./table.js";
import { TCPS_ESTABLISHED, TcpTracker, UPDATE_INVALID, UPDATE_VALID, tcpNewConn } from "./tcp.js";

/** xorshift32: the same segments on every run. */
function rng(seed: number): () => number {
  let x = seed >>> 0;
  return (): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

const FIN = 0x01;
const SYN = 0x02;
const RST = 0x04;
const PSH = 0x08;
const ACK = 0x10;
const URG = 0x20;

/** A TCP header at offset 0 of `b` (options: a window-scale option when wscale >= 0); returns the segment size. */
function segment(b: Uint8Array, seq: number, ack: number, flags: number, win: number, payload: number, wscale = -1): number {
  b.fill(0);
  const hlen = wscale >= 0 ? 24 : 20;
  b[4] = seq >>> 24;
  b[5] = seq >>> 16;
  b[6] = seq >>> 8;
  b[7] = seq;
  b[8] = ack >>> 24;
  b[9] = ack >>> 16;
  b[10] = ack >>> 8;
  b[11] = ack;
  b[12] = (hlen / 4) << 4;
  b[13] = flags;
  b[14] = win >>> 8;
  b[15] = win;
  if (wscale >= 0) {
    b[20] = 3;
    b[21] = 3;
    b[22] = wscale;
    b[23] = 1;
  }
  return hlen + payload;
}

function peers(t: ConnTable, c: number): number[] {
  const out: number[] = [];
  for (const i of [2 * c, 2 * c + 1]) out.push(t.seqLo[i], t.seqHi[i], t.maxWin[i], t.wscale[i], t.tcpState[i]);
  return out;
}

describe("TCP established shortcut", () => {
  it("gives the general path's verdict, timeout class and peer fields on random segments", () => {
    const rand = rng(0x7c9a11);
    const int = (n: number): number => Math.floor(rand() * n);
    const b = new Uint8Array(64);
    let fastTaken = 0;
    let fastRefused = 0;
    for (let conn = 0; conn < 300; conn++) {
      const fast = new ConnTable(4, 4);
      const ref = new ConnTable(4, 4);
      const c = fast.alloc();
      expect(ref.alloc()).toBe(c);
      const tf = new TcpTracker();
      const tr = new TcpTracker();
      const isn = [(rand() * 0x100000000) >>> 0, (rand() * 0x100000000) >>> 0];
      const scaling = int(4); // 0: both scale, 1: only the client, 2: none, 3: picked up midstream
      const ws = [int(15), int(15)];
      const both = (reply: boolean, size: number): void => {
        const flags = ((b[12] << 8) | b[13]) & 0x0fff;
        const src = 2 * c + (reply ? 1 : 0);
        const dst = 2 * c + (reply ? 0 : 1);
        const r = tr.updateGeneral(ref, src, dst, flags, b, 0, size);
        const f = tf.update(fast, c, b, 0, size, reply);
        const wasEst = ref.tcpState[src] === TCPS_ESTABLISHED && ref.tcpState[dst] === TCPS_ESTABLISHED;
        expect(f).toBe(r);
        expect(tf.tm).toBe(tr.tm);
        expect(peers(fast, c)).toEqual(peers(ref, c));
        if (wasEst && (flags & (SYN | FIN | RST | ACK)) === ACK) {
          if (r === UPDATE_VALID) fastTaken++;
          if (r === UPDATE_INVALID) fastRefused++;
        }
      };
      // Handshake (or a midstream pickup).
      if (scaling === 3) {
        const size = segment(b, isn[0], isn[1], ACK, 1 + int(0xffff), int(1400));
        tcpNewConn(fast, c, b, 0, size);
        tcpNewConn(ref, c, b, 0, size);
      } else {
        let size = segment(b, isn[0], 0, SYN, 1 + int(0xffff), 0, scaling <= 1 ? ws[0] : -1);
        tcpNewConn(fast, c, b, 0, size);
        tcpNewConn(ref, c, b, 0, size);
        size = segment(b, isn[1], (isn[0] + 1) >>> 0, SYN | ACK, 1 + int(0xffff), 0, scaling === 0 ? ws[1] : -1);
        both(true, size);
        size = segment(b, (isn[0] + 1) >>> 0, (isn[1] + 1) >>> 0, ACK, 1 + int(0xffff), 0);
        both(false, size);
      }
      // Each side's next sequence number, as a well-behaved sender keeps it.
      const next = [(isn[0] + 1) >>> 0, (isn[1] + 1) >>> 0];
      for (let i = 0; i < 200; i++) {
        const reply = rand() < 0.5;
        const s = reply ? 1 : 0;
        const payload = rand() < 0.4 ? 0 : int(3000);
        // Mostly near what the peer expects; sometimes around the window edges or far off.
        const far = rand();
        const seqOff = far < 0.7 ? int(64) - 32 : far < 0.9 ? int(0x40000) - 0x20000 : int(0x7fffffff) * (rand() < 0.5 ? 1 : -1);
        const ackOff = rand() < 0.8 ? int(64) - 32 : int(0x40000) - 0x20000;
        const seq = (next[s] + seqOff) >>> 0;
        const ack = (next[1 - s] + ackOff) >>> 0;
        const pick = rand();
        let flags = ACK | (rand() < 0.3 ? PSH : 0) | (rand() < 0.05 ? URG : 0);
        if (pick < 0.01) flags |= FIN;
        else if (pick < 0.015) flags = RST | (rand() < 0.5 ? ACK : 0);
        else if (pick < 0.02) flags = SYN;
        else if (pick < 0.025) flags = PSH; // invalid without ACK
        const win = rand() < 0.05 ? 0 : int(0x10000);
        const size = segment(b, seq, ack, flags, win, payload);
        both(reply, size);
        if (seqOff > -32 && seqOff < 32) next[s] = Math.max(next[s], (seq + payload) >>> 0) >>> 0;
      }
    }
    // Both outcomes of the shortcut were exercised, many times.
    expect(fastTaken).toBeGreaterThan(10_000);
    expect(fastRefused).toBeGreaterThan(1_000);
  });
});
