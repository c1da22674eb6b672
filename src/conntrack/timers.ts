/**
 * Expiry of connections: a lazy hashed timer wheel.
 *
 * Invariant: every live connection is on exactly one wheel slot, at or
 * before the slot of its current expiration time, so a sweep that has
 * passed a connection's expiration has seen it.
 * Design: WHEEL_SLOTS slots of WHEEL_TICK_MS each, doubly linked through the
 * table's `next`/`prev` arrays. A packet that pushes a connection's
 * expiration later only writes its `expiresMs` (nothing moves); when a sweep
 * reaches the connection's slot and it has not expired, it is relinked to
 * the slot of its new expiration (or one wheel turn ahead, for times beyond
 * the wheel). An expiration brought earlier than the connection's slot (a
 * UDP reply, a TCP close, a forced expiry) relinks it at once (`refresh`).
 * Exactness does not depend on the wheel: lookups compare `expiresMs` with
 * the packet's time, as OVS's conn_expired() does, so a connection is gone
 * at its expiration millisecond even before a sweep frees it.
 * Limits: a sweep visits the slots between the last sweep and now (at most
 * one turn) plus each connection once per wheel turn (WHEEL_SLOTS *
 * WHEEL_TICK_MS = 262 s) for long timeouts such as tcp_established.
 */
import type { ConnTable } from "./table.js";

export const WHEEL_SLOTS = 1024;
export const WHEEL_TICK_MS = 256;
const WHEEL_MASK = WHEEL_SLOTS - 1;

export class TimerWheel {
  private readonly heads = new Int32Array(WHEEL_SLOTS).fill(-1);
  /** The tick the last sweep reached (every tick before it has been swept). */
  private tick = -1;

  constructor(private readonly table: ConnTable) {}

  /** Puts connection c on the slot of its expiration time. */
  schedule(c: number): void {
    let tick = Math.floor(this.table.expiresMs[c] / WHEEL_TICK_MS);
    if (this.tick >= 0 && tick < this.tick) tick = this.tick;
    // Beyond one turn: park on the last slot of this turn, to be relinked.
    if (this.tick >= 0 && tick - this.tick >= WHEEL_SLOTS) tick = this.tick + WHEEL_SLOTS - 1;
    this.link(c, tick);
  }

  /** After c's expiration changed: relinks it if it now falls before its slot. */
  refresh(c: number): void {
    const t = this.table;
    if (Math.floor(t.expiresMs[c] / WHEEL_TICK_MS) >= t.wheelTick[c] || t.wheelTick[c] === this.tick) return;
    this.unlink(c);
    this.schedule(c);
  }

  private link(c: number, tick: number): void {
    const t = this.table;
    const slot = tick & WHEEL_MASK;
    const head = this.heads[slot];
    t.next[c] = head;
    t.prev[c] = -1;
    if (head !== -1) t.prev[head] = c;
    this.heads[slot] = c;
    t.wheelTick[c] = tick;
  }

  private unlink(c: number): void {
    const t = this.table;
    const p = t.prev[c];
    const n = t.next[c];
    if (p === -1) this.heads[t.wheelTick[c] & WHEEL_MASK] = n;
    else t.next[p] = n;
    if (n !== -1) t.prev[n] = p;
  }

  /** Empties the wheel (after the table was cleared). */
  clear(): void {
    this.heads.fill(-1);
  }

  /**
   * Visits the slots up to `nowMs`: calls `expire(c)` for each connection
   * whose expiration has passed, or that is no longer live (`expire` frees
   * it), and relinks the others.
   */
  sweep(nowMs: number, expire: (c: number) => void): void {
    const nowTick = Math.floor(nowMs / WHEEL_TICK_MS);
    if (this.tick < 0) this.tick = nowTick - WHEEL_SLOTS + 1;
    const first = Math.max(this.tick, nowTick - WHEEL_SLOTS + 1);
    const t = this.table;
    for (let tick = first; tick <= nowTick; tick++) {
      const slot = tick & WHEEL_MASK;
      let c = this.heads[slot];
      this.heads[slot] = -1;
      this.tick = tick;
      // Connections due later in this very tick go back on its slot after
      // the walk (the next sweep starts at this tick again).
      let later = -1;
      while (c !== -1) {
        const next = t.next[c];
        if (t.live[c] !== 1 || t.expiresMs[c] <= nowMs) {
          expire(c);
        } else {
          let at = Math.floor(t.expiresMs[c] / WHEEL_TICK_MS);
          if (at - tick >= WHEEL_SLOTS) at = tick + WHEEL_SLOTS - 1;
          if (at <= tick) {
            t.next[c] = later;
            later = c;
          } else {
            this.link(c, at);
          }
        }
        c = next;
      }
      while (later !== -1) {
        const next = t.next[later];
        this.link(later, tick);
        later = next;
      }
    }
    this.tick = nowTick;
  }
}
