/**
 * TCP connection tracking, as lib/conntrack-tcp.c does it (itself from pf):
 * per-peer sequence windows (Guido van Rooij's "Real Stateful TCP Packet
 * Filtering"), window scaling, a per-peer state machine and the state's
 * timeout.
 *
 * Invariant: for the same packets, the same peer fields (seqlo, seqhi,
 * max_win, wscale, state) and the same verdict as conntrack-tcp.c.
 * Design: the peers live in the table's arrays at 2 * conn + dir (dir 0 is
 * the original direction's sender); sequence arithmetic is modulo 2^32 with
 * `>>> 0`, comparisons through a signed 32-bit difference (SEQ_GEQ).
 * The common segment (an ACK without SYN/FIN/RST between two ESTABLISHED
 * peers, in window) takes a shortcut with the same checks and writes
 * (TcpTracker.established, ~10 ns against ~25 ns for the whole state
 * machine); src/conntrack/tcp-established.test.ts holds it to updateGeneral.
 */
import { read16, read32 } from "../packet/bytes.js";
import type { ConnTable } from "./table.js";
import * as Timeouts from "./timeouts.js";

// Module-local copies: V8 folds them into the code (see conntrack.ts).
const { TM_TCP_CLOSED, TM_TCP_CLOSING, TM_TCP_ESTABLISHED, TM_TCP_FIN_WAIT, TM_TCP_FIRST_PACKET, TM_TCP_OPENING } = Timeouts;

/** Verdicts of a protocol's update (enum ct_update_res). */
export const UPDATE_INVALID = 0;
export const UPDATE_VALID = 1;
/** The packet starts a new connection over this one (a SYN after both closed). */
export const UPDATE_NEW = 2;
/** Valid, and the connection is still not established (+new). */
export const UPDATE_VALID_NEW = 3;

/** Peer states (ct-dpif.h CT_DPIF_TCP_STATES), in order. */
export const TCPS_CLOSED = 0;
export const TCPS_LISTEN = 1;
export const TCPS_SYN_SENT = 2;
export const TCPS_SYN_RECV = 3;
export const TCPS_ESTABLISHED = 4;
export const TCPS_CLOSE_WAIT = 5;
export const TCPS_FIN_WAIT_1 = 6;
export const TCPS_CLOSING = 7;
export const TCPS_LAST_ACK = 8;
export const TCPS_FIN_WAIT_2 = 9;
export const TCPS_TIME_WAIT = 10;
export const TCP_STATE_NAMES = [
  "CLOSED", "LISTEN", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "CLOSE_WAIT",
  "FIN_WAIT_1", "CLOSING", "LAST_ACK", "FIN_WAIT_2", "TIME_WAIT",
] as const;

const TCP_FIN = 0x01;
const TCP_SYN = 0x02;
const TCP_RST = 0x04;
const TCP_PSH = 0x08;
const TCP_ACK = 0x10;
const TCP_URG = 0x20;

const TCP_MAX_WSCALE = 14;
/** wscale bits: the peer sent a window-scale option / its scale is unknown
 * (the connection was picked up without a SYN). */
export const WSCALE_FLAG = 0x80;
export const WSCALE_UNKNOWN = 0x40;
export const WSCALE_MASK = 0x0f;
/** How far an ACK may lag or lead (pf's MAXACKWINDOW: a window plus a 1500-byte fudge). */
const MAXACKWINDOW = 0xffff + 1500;
// Module-local copies of the exported wscale bits for the established path.
const WSCALE_FLAG_ = 0x80;
const WSCALE_UNKNOWN_ = 0x40;
const WSCALE_MASK_ = 0x0f;
const rd16 = read16;
const rd32 = read32;

const seqGeq = (a: number, b: number): boolean => ((a - b) | 0) >= 0;
const seqGt = (a: number, b: number): boolean => ((a - b) | 0) > 0;

export const tcpFlags = (b: Uint8Array, l4: number): number => read16(b, l4 + 12) & 0x0fff;

/** Flag combinations conntrack-tcp.c refuses (tcp_invalid_flags). */
export function tcpInvalidFlags(flags: number): boolean {
  if (flags & TCP_SYN) {
    if (flags & (TCP_RST | TCP_FIN)) return true;
  } else if (!(flags & (TCP_ACK | TCP_RST))) {
    return true;
  }
  if (!(flags & TCP_ACK) && flags & (TCP_FIN | TCP_PSH | TCP_URG)) return true;
  return false;
}

/** A packet may create a connection: valid flags, and not a SYN+ACK (tcp_valid_new). */
export function tcpValidNew(b: Uint8Array, l4: number): boolean {
  const flags = tcpFlags(b, l4);
  if (tcpInvalidFlags(flags)) return false;
  return (flags & (TCP_SYN | TCP_ACK)) !== (TCP_SYN | TCP_ACK);
}

/** The window-scale option of a SYN, with WSCALE_FLAG when present (tcp_get_wscale). */
function tcpWscale(b: Uint8Array, l4: number): number {
  let len = (b[l4 + 12] >>> 4) * 4 - 20;
  let opt = l4 + 20;
  let wscale = 0;
  while (len >= 3) {
    const kind = b[opt];
    if (kind === 0) return wscale;
    if (kind === 1) {
      opt++;
      len--;
      continue;
    }
    if (kind === 3) wscale = Math.min(b[opt + 2], TCP_MAX_WSCALE) | WSCALE_FLAG;
    let optlen = b[opt + 1];
    if (optlen < 2) optlen = 2;
    len -= optlen;
    opt += optlen;
  }
  return wscale;
}

/** Initialises connection c's peers from its first packet (tcp_new_conn);
 * returns the timeout class. */
export function tcpNewConn(t: ConnTable, c: number, b: Uint8Array, l4: number, l4Size: number): number {
  const flags = tcpFlags(b, l4);
  const src = 2 * c;
  const dst = src + 1;
  const payload = Math.max(0, l4Size - (b[l4 + 12] >>> 4) * 4);
  t.seqLo[src] = read32(b, l4 + 4);
  t.seqHi[src] = (t.seqLo[src] + payload + 1) >>> 0;
  t.wscale[dst] = 0;
  if (flags & TCP_SYN) {
    t.seqHi[src] = (t.seqHi[src] + 1) >>> 0;
    t.wscale[src] = tcpWscale(b, l4);
  } else {
    t.wscale[src] = WSCALE_UNKNOWN;
    t.wscale[dst] = WSCALE_UNKNOWN;
  }
  let maxWin = Math.max(read16(b, l4 + 14), 1);
  if (t.wscale[src] & WSCALE_MASK) {
    const sws = t.wscale[src] & WSCALE_MASK;
    maxWin = Math.ceil(maxWin / (1 << sws));
  }
  t.maxWin[src] = maxWin;
  if (flags & TCP_FIN) t.seqHi[src] = (t.seqHi[src] + 1) >>> 0;
  t.seqLo[dst] = 0;
  t.seqHi[dst] = 1;
  t.maxWin[dst] = 1;
  t.tcpState[src] = TCPS_SYN_SENT;
  t.tcpState[dst] = TCPS_CLOSED;
  return TM_TCP_FIRST_PACKET;
}

/**
 * Updates connection c with a packet sent by the original side (reply false)
 * or the reply side (tcp_conn_update). Returns an UPDATE_* verdict; the new
 * timeout class goes to `tm`, or -1 when the expiration does not change.
 */
export class TcpTracker {
  tm = -1;
  /** When false, sequence checks are skipped (dpctl/ct-disable-tcp-seq-chk). */
  seqCheck = true;

  /**
   * tcp_conn_update(). The common segment (both peers ESTABLISHED, ACK
   * without SYN/FIN/RST, in window) takes `established`; anything else, or
   * a segment it finds out of window, goes to updateGeneral.
   */
  update(t: ConnTable, c: number, b: Uint8Array, l4: number, l4Size: number, reply: boolean): number {
    const src = 2 * c + (reply ? 1 : 0);
    const dst = src ^ 1;
    const flags = rd16(b, l4 + 12) & 0x0fff;
    const state = t.tcpState;
    if ((flags & (TCP_SYN | TCP_FIN | TCP_RST | TCP_ACK)) === TCP_ACK && state[src] === TCPS_ESTABLISHED && state[dst] === TCPS_ESTABLISHED &&
      this.established(t, src, dst, b, l4, l4Size)) {
      this.tm = TM_TCP_ESTABLISHED;
      return UPDATE_VALID;
    }
    return this.updateGeneral(t, src, dst, flags, b, l4, l4Size);
  }

  /**
   * updateGeneral's branches for an ACK without SYN/FIN/RST between two
   * ESTABLISHED peers: the same window checks and, when the segment is in
   * window, the same writes (the states stay ESTABLISHED); false, with
   * nothing written, when it is not. Written small (under V8's 460-byte
   * bytecode limit for inlining).
   */
  private established(t: ConnTable, src: number, dst: number, b: Uint8Array, l4: number, l4Size: number): boolean {
    const ws = t.wscale[src] & t.wscale[dst];
    // Both scaled: each its own shift; both unknown (picked up midstream): the maximum.
    const sws = ws & WSCALE_FLAG_ ? t.wscale[src] & WSCALE_MASK_ : ws & WSCALE_UNKNOWN_ ? TCP_MAX_WSCALE : 0;
    const dws = ws & WSCALE_FLAG_ ? t.wscale[dst] & WSCALE_MASK_ : ws & WSCALE_UNKNOWN_ ? TCP_MAX_WSCALE : 0;
    const seqLo = t.seqLo;
    const srcLo = seqLo[src];
    const payload = l4Size - (b[l4 + 12] >>> 4) * 4;
    // A no-data segment is eased to seq = end = seqlo (updateGeneral's seq === end).
    const seq = payload > 0 ? rd32(b, l4 + 4) : srcLo;
    const end = payload > 0 ? (seq + payload) >>> 0 : srcLo;
    const ack = rd32(b, l4 + 8);
    const ackskew = (seqLo[dst] - ack) | 0;
    if (((t.seqHi[src] - end) | 0) < 0 || ((seq - srcLo + (t.maxWin[dst] << dws)) | 0) < 0 || ackskew < -MAXACKWINDOW || ackskew > MAXACKWINDOW << sws) {
      return false;
    }
    const win = rd16(b, l4 + 14);
    if (t.maxWin[src] < win) t.maxWin[src] = win;
    if (((end - srcLo) | 0) > 0) seqLo[src] = end;
    const winS = win << sws;
    if (((ack + winS - t.seqHi[dst]) | 0) >= 0) t.seqHi[dst] = (ack + (winS > 1 ? winS : 1)) >>> 0;
    return true;
  }

  /** The whole of tcp_conn_update(), for any segment (update() tries the established shortcut first). */
  updateGeneral(t: ConnTable, src: number, dst: number, flags: number, b: Uint8Array, l4: number, l4Size: number): number {
    this.tm = -1;
    let win = read16(b, l4 + 14);
    const payload = Math.max(0, l4Size - (b[l4 + 12] >>> 4) * 4);
    let sws = 0;
    let dws = 0;

    if (tcpInvalidFlags(flags)) return UPDATE_INVALID;

    if ((flags & (TCP_SYN | TCP_ACK)) === TCP_SYN) {
      if (t.tcpState[dst] >= TCPS_FIN_WAIT_2 && t.tcpState[src] >= TCPS_FIN_WAIT_2) {
        t.tcpState[src] = TCPS_CLOSED;
        t.tcpState[dst] = TCPS_CLOSED;
        return UPDATE_NEW;
      } else if (t.tcpState[src] <= TCPS_SYN_SENT) {
        t.tcpState[src] = TCPS_SYN_SENT;
        this.tm = TM_TCP_FIRST_PACKET;
        return UPDATE_VALID_NEW;
      }
    }

    if (t.wscale[src] & WSCALE_FLAG && t.wscale[dst] & WSCALE_FLAG && !(flags & TCP_SYN)) {
      sws = t.wscale[src] & WSCALE_MASK;
      dws = t.wscale[dst] & WSCALE_MASK;
    } else if (t.wscale[src] & WSCALE_UNKNOWN && t.wscale[dst] & WSCALE_UNKNOWN && !(flags & TCP_SYN)) {
      sws = TCP_MAX_WSCALE;
      dws = TCP_MAX_WSCALE;
    }

    let seq = read32(b, l4 + 4);
    const origSeq = seq;
    let ack = read32(b, l4 + 8);
    let end: number;
    let checkAckskew = true;
    if (t.tcpState[src] < TCPS_SYN_SENT) {
      // First packet from this end: set its state.
      end = (seq + payload) >>> 0;
      if (flags & TCP_SYN) {
        end = (end + 1) >>> 0;
        if (t.wscale[dst] & WSCALE_FLAG) {
          t.wscale[src] = tcpWscale(b, l4);
          if (t.wscale[src] & WSCALE_FLAG) {
            // Remove the scale factor from the initial window.
            sws = t.wscale[src] & WSCALE_MASK;
            win = Math.ceil(win / (1 << sws));
            dws = t.wscale[dst] & WSCALE_MASK;
          } else {
            // Fix up the other window; in case of a retransmitted SYN|ACK.
            t.maxWin[dst] = (t.maxWin[dst] << (t.wscale[dst] & WSCALE_MASK)) & 0xffff;
            t.wscale[dst] = 0;
          }
        }
      }
      if (flags & TCP_FIN) end = (end + 1) >>> 0;
      t.seqLo[src] = seq;
      t.tcpState[src] = TCPS_SYN_SENT;
      // May need to slide the window (seqhi may have been set by the crappy
      // stack check or if we picked up the connection after establishment).
      const reach = (end + Math.max(1, t.maxWin[dst] << dws)) >>> 0;
      if (t.seqHi[src] === 1 || seqGeq(reach, t.seqHi[src])) {
        t.seqHi[src] = reach;
        // A new connection or one picked up midway: be lenient on ack skew.
        checkAckskew = false;
      }
      if (win > t.maxWin[src]) t.maxWin[src] = win;
    } else {
      end = (seq + payload) >>> 0;
      if (flags & TCP_SYN) end = (end + 1) >>> 0;
      if (flags & TCP_FIN) end = (end + 1) >>> 0;
    }

    if ((flags & TCP_ACK) === 0) {
      // Let it pass through the ack skew check.
      ack = t.seqLo[dst];
    } else if (ack === 0 && (flags & (TCP_ACK | TCP_RST)) === (TCP_ACK | TCP_RST)) {
      // Broken stacks do not set ack on RST|ACK.
      ack = t.seqLo[dst];
    }

    if (seq === end) {
      // Ease sequencing restrictions on no-data packets.
      seq = t.seqLo[src];
      end = seq;
    }

    const ackskew = checkAckskew ? (t.seqLo[dst] - ack) | 0 : 0;
    const srcLo = t.seqLo[src];
    const inWindow =
      seqGeq(t.seqHi[src], end) &&
      seqGeq(seq, (srcLo - (t.maxWin[dst] << dws)) >>> 0) &&
      ackskew >= -MAXACKWINDOW &&
      ackskew <= MAXACKWINDOW << sws &&
      ((flags & TCP_RST) === 0 || origSeq === srcLo || origSeq === ((srcLo + 1) >>> 0) || ((origSeq + 1) >>> 0) === srcLo);

    if (inWindow || !this.seqCheck) {
      if (t.maxWin[src] < win) t.maxWin[src] = win;
      if (seqGt(end, t.seqLo[src])) t.seqLo[src] = end;
      const winS = win << sws;
      if (seqGeq((ack + winS) >>> 0, t.seqHi[dst])) t.seqHi[dst] = (ack + Math.max(winS, 1)) >>> 0;

      if (flags & TCP_SYN && t.tcpState[src] < TCPS_SYN_SENT) t.tcpState[src] = TCPS_SYN_SENT;
      if (flags & TCP_FIN && t.tcpState[src] < TCPS_CLOSING) t.tcpState[src] = TCPS_CLOSING;
      if (flags & TCP_ACK) {
        if (t.tcpState[dst] === TCPS_SYN_SENT) t.tcpState[dst] = TCPS_ESTABLISHED;
        else if (t.tcpState[dst] === TCPS_CLOSING) t.tcpState[dst] = TCPS_FIN_WAIT_2;
      }
      if (flags & TCP_RST) {
        t.tcpState[src] = TCPS_TIME_WAIT;
        t.tcpState[dst] = TCPS_TIME_WAIT;
      }

      const s = t.tcpState[src];
      const d = t.tcpState[dst];
      if (s >= TCPS_FIN_WAIT_2 && d >= TCPS_FIN_WAIT_2) this.tm = TM_TCP_CLOSED;
      else if (s >= TCPS_CLOSING && d >= TCPS_CLOSING) this.tm = TM_TCP_FIN_WAIT;
      else if (s < TCPS_ESTABLISHED || d < TCPS_ESTABLISHED) this.tm = TM_TCP_OPENING;
      else if (s >= TCPS_CLOSING || d >= TCPS_CLOSING) this.tm = TM_TCP_CLOSING;
      else this.tm = TM_TCP_ESTABLISHED;
      return UPDATE_VALID;
    }

    if (
      (t.tcpState[dst] < TCPS_SYN_SENT || t.tcpState[dst] >= TCPS_FIN_WAIT_2 || t.tcpState[src] >= TCPS_FIN_WAIT_2) &&
      seqGeq((t.seqHi[src] + MAXACKWINDOW) >>> 0, end) &&
      seqGeq(seq, (t.seqLo[src] - MAXACKWINDOW) >>> 0)
    ) {
      // Shotgunned SYNs, a stream picked up after establishment, or funky
      // packets right after a close: accepted without refreshing the timeout.
      if (t.maxWin[src] < win) t.maxWin[src] = win;
      if (seqGt(end, t.seqLo[src])) t.seqLo[src] = end;
      const winS = win << sws;
      if (seqGeq((ack + winS) >>> 0, t.seqHi[dst])) t.seqHi[dst] = (ack + Math.max(winS, 1)) >>> 0;
      if (flags & TCP_FIN && t.tcpState[src] < TCPS_CLOSING) t.tcpState[src] = TCPS_CLOSING;
      if (flags & TCP_RST) {
        t.tcpState[src] = TCPS_TIME_WAIT;
        t.tcpState[dst] = TCPS_TIME_WAIT;
      }
      return UPDATE_VALID;
    }
    return UPDATE_INVALID;
  }
}
