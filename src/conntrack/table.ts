/**
 * The connection table: connection records as struct-of-arrays, and one
 * open-addressed hash index over both directions' tuples.
 *
 * Invariants:
 * - Every live connection c has two index entries: (c, ORIG) under the hash
 *   of its original tuple and (c, REPLY) under the hash of its reply tuple
 *   (after NAT, the reply tuple is not the mirror of the original one, which
 *   is why both are stored, as OVS stores a conn and its nat_conn).
 * - The index is at most half full, so a probe always ends at an empty slot.
 * - A record index is either live, or on the free list.
 *
 * Design: records live in typed arrays indexed by connection number; tuples
 * are TUPLE_WORDS u32 words each, original then reply (TUPLES_PER_CONN x
 * TUPLE_WORDS words per record). The index is linear probing with
 * backward-shift deletion (no tombstones): slot i holds `conn << 1 | dir`
 * (-1 when empty) and the entry's full 32-bit hash, compared before the
 * tuple. Lookups allocate nothing. Arrays grow by doubling, which only a
 * commit (a new connection) can trigger.
 * Limits: `capacityMax` records (the engine's connection limit rounds it).
 */
import * as Tuple from "./tuple.js";
import { hashTuple } from "./tuple.js";

// A module-local copy: V8 folds it into the code (see conntrack.ts).
const { TUPLE_WORDS } = Tuple;

export const DIR_ORIG = 0;
export const DIR_REPLY = 1;
/** Words of both tuples of one record. */
export const CONN_TUPLE_WORDS = 2 * TUPLE_WORDS;

const INITIAL_CAPACITY = 1024;
const EMPTY = -1;

export class ConnTable {
  /** Records allocated (live or free). */
  capacity = 0;
  /** Live records. */
  count = 0;

  // --- Per-record arrays (index = connection number). ---
  tuples = new Uint32Array(0);
  expiresMs = new Float64Array(0);
  mark = new Uint32Array(0);
  /** ct_label, 4 words per record, most significant first. */
  label = new Uint32Array(0);
  /** Protocol state (tcp.ts / other / icmp states). */
  l4state = new Uint8Array(0);
  /** NAT_* bits of the connection's nat action; 0 when not NATed. */
  natAction = new Uint8Array(0);
  /** The helper named at commit (ct(alg=...)): 0, 21 (ftp) or 69 (tftp); it is recorded, not run. */
  alg = new Uint8Array(0);
  /** Zone whose limit admitted the connection, or -1 (admit_zone). */
  admitZone = new Int32Array(0);
  /** 1 when live, 2 when retired (unindexed, waiting for the timer wheel), 0 when free. */
  live = new Uint8Array(0);
  /** Next record in a timer-wheel slot or the free list; -1 ends. */
  next = new Int32Array(0);
  /** Previous record in a timer-wheel slot; -1 for the first. */
  prev = new Int32Array(0);
  /** The wheel tick whose slot holds the record. */
  wheelTick = new Float64Array(0);
  /** TCP peers [orig, reply]: seqlo, seqhi (u32), max_win (u16), wscale, state (u8). */
  seqLo = new Uint32Array(0);
  seqHi = new Uint32Array(0);
  maxWin = new Uint16Array(0);
  wscale = new Uint8Array(0);
  tcpState = new Uint8Array(0);

  /** Head of the free list of record indexes. */
  private freeHead = EMPTY;

  // --- The index. ---
  private slots = new Int32Array(0);
  private hashes = new Uint32Array(0);
  private slotMask = 0;

  /** `capacityInitial` records are allocated at once (more grow by doubling, up to capacityMax). */
  constructor(readonly capacityMax: number, capacityInitial = INITIAL_CAPACITY) {
    this.grow(Math.max(1, Math.min(capacityInitial, capacityMax)));
  }

  /** Bytes held by the typed arrays (for the memory figure). */
  byteSize(): number {
    let n = 0;
    for (const a of [this.tuples, this.expiresMs, this.mark, this.label, this.l4state, this.natAction, this.alg, this.admitZone,
      this.live, this.next, this.prev, this.wheelTick, this.seqLo, this.seqHi, this.maxWin, this.wscale, this.tcpState, this.slots, this.hashes]) {
      n += a.byteLength;
    }
    return n;
  }

  /** Takes a free record (growing when none is free); -1 at capacityMax. */
  alloc(): number {
    if (this.freeHead === EMPTY) {
      if (this.capacity >= this.capacityMax) return -1;
      this.grow(Math.min(this.capacity * 2, this.capacityMax));
    }
    const c = this.freeHead;
    this.freeHead = this.next[c];
    this.next[c] = EMPTY;
    this.live[c] = 1;
    this.count++;
    return c;
  }

  /** Unindexes record c but keeps it allocated (live = 2) until the timer
   * wheel, which still links it, reaches it and calls `release`. */
  retire(c: number): void {
    this.unindex(c, DIR_ORIG);
    this.unindex(c, DIR_REPLY);
    this.live[c] = 2;
    this.count--;
  }

  /** Frees record c (unindexing it when still live). */
  release(c: number): void {
    if (this.live[c] === 1) {
      this.unindex(c, DIR_ORIG);
      this.unindex(c, DIR_REPLY);
      this.count--;
    }
    this.live[c] = 0;
    this.mark[c] = 0;
    this.label.fill(0, c * 4, c * 4 + 4);
    this.natAction[c] = 0;
    this.alg[c] = 0;
    this.admitZone[c] = -1;
    this.next[c] = this.freeHead;
    this.freeHead = c;
  }

  /** Frees every record at once (flush of all zones). */
  clear(): void {
    this.count = 0;
    this.freeHead = EMPTY;
    this.live.fill(0);
    this.mark.fill(0);
    this.label.fill(0);
    this.natAction.fill(0);
    this.alg.fill(0);
    this.admitZone.fill(-1);
    for (let c = this.capacity - 1; c >= 0; c--) {
      this.next[c] = this.freeHead;
      this.freeHead = c;
    }
    this.slots.fill(EMPTY);
  }

  /** Adds the index entry of record c's tuple in direction dir. */
  index(c: number, dir: number): void {
    const t = c * CONN_TUPLE_WORDS + dir * TUPLE_WORDS;
    const h = hashTuple(this.tuples, t);
    let i = h & this.slotMask;
    while (this.slots[i] !== EMPTY) i = (i + 1) & this.slotMask;
    this.slots[i] = (c << 1) | dir;
    this.hashes[i] = h;
  }

  /** Removes the index entry of record c in direction dir (backward-shift deletion). */
  private unindex(c: number, dir: number): void {
    const entry = (c << 1) | dir;
    const t = c * CONN_TUPLE_WORDS + dir * TUPLE_WORDS;
    const mask = this.slotMask;
    let i = hashTuple(this.tuples, t) & mask;
    while (this.slots[i] !== entry) {
      if (this.slots[i] === EMPTY) return;
      i = (i + 1) & mask;
    }
    // Shift later entries of the probe run back into the hole.
    let hole = i;
    let j = (i + 1) & mask;
    while (this.slots[j] !== EMPTY) {
      const home = this.hashes[j] & mask;
      // Entry j may move to the hole when its home is not in (hole, j].
      const dist = (j - home) & mask;
      const holeDist = (j - hole) & mask;
      if (dist >= holeDist) {
        this.slots[hole] = this.slots[j];
        this.hashes[hole] = this.hashes[j];
        hole = j;
      }
      j = (j + 1) & mask;
    }
    this.slots[hole] = EMPTY;
  }

  /**
   * Finds the first entry whose tuple equals q[qa..] and whose connection
   * `accept` would take, starting the probe from slot `from` (pass -1 to
   * start at the tuple's home). Returns the slot index or -1; the entry is
   * `entryAt(slot)`. Used as an iterator: the caller skips expired entries
   * by calling again with `from = slot + 1`.
   */
  find(q: Uint32Array, qa: number, h: number, from: number): number {
    const mask = this.slotMask;
    let i = from < 0 ? h & mask : from & mask;
    const tuples = this.tuples;
    for (;;) {
      const e = this.slots[i];
      if (e === EMPTY) return -1;
      if (this.hashes[i] === h) {
        const t = (e >> 1) * CONN_TUPLE_WORDS + (e & 1) * TUPLE_WORDS;
        let same = true;
        for (let w = 0; w < TUPLE_WORDS; w++) {
          if (tuples[t + w] !== q[qa + w]) {
            same = false;
            break;
          }
        }
        if (same) return i;
      }
      i = (i + 1) & mask;
    }
  }

  /**
   * find() for the IPv4 tuple (meta, src, 0, 0, 0, dst, 0, 0, 0, sport,
   * dport) given as words: compares the five that may differ first.
   */
  findV4(meta: number, src: number, dst: number, sport: number, dport: number, h: number, from: number): number {
    const mask = this.slotMask;
    let i = from < 0 ? h & mask : from & mask;
    const tuples = this.tuples;
    const slots = this.slots;
    const hashes = this.hashes;
    for (;;) {
      const e = slots[i];
      if (e === EMPTY) return -1;
      if (hashes[i] === h) {
        const t = (e >> 1) * CONN_TUPLE_WORDS + (e & 1) * TUPLE_WORDS;
        if (
          tuples[t] === meta && tuples[t + 1] === src && tuples[t + 5] === dst && tuples[t + 9] === sport && tuples[t + 10] === dport &&
          tuples[t + 2] === 0 && tuples[t + 3] === 0 && tuples[t + 4] === 0 && tuples[t + 6] === 0 && tuples[t + 7] === 0 && tuples[t + 8] === 0
        ) return i;
      }
      i = (i + 1) & mask;
    }
  }

  entryAt(slot: number): number {
    return this.slots[slot];
  }

  private grow(newCap: number): void {
    const old = this.capacity;
    const copy = <T extends Uint8Array | Uint16Array | Uint32Array | Int32Array | Float64Array>(a: T, per: number, make: new (n: number) => T): T => {
      const b = new make(newCap * per);
      b.set(a.subarray(0, Math.min(a.length, old * per)));
      return b;
    };
    this.tuples = copy(this.tuples, CONN_TUPLE_WORDS, Uint32Array);
    this.expiresMs = copy(this.expiresMs, 1, Float64Array);
    this.mark = copy(this.mark, 1, Uint32Array);
    this.label = copy(this.label, 4, Uint32Array);
    this.l4state = copy(this.l4state, 1, Uint8Array);
    this.natAction = copy(this.natAction, 1, Uint8Array);
    this.alg = copy(this.alg, 1, Uint8Array);
    this.admitZone = copy(this.admitZone, 1, Int32Array);
    this.live = copy(this.live, 1, Uint8Array);
    this.next = copy(this.next, 1, Int32Array);
    this.prev = copy(this.prev, 1, Int32Array);
    this.wheelTick = copy(this.wheelTick, 1, Float64Array);
    this.seqLo = copy(this.seqLo, 2, Uint32Array);
    this.seqHi = copy(this.seqHi, 2, Uint32Array);
    this.maxWin = copy(this.maxWin, 2, Uint16Array);
    this.wscale = copy(this.wscale, 2, Uint8Array);
    this.tcpState = copy(this.tcpState, 2, Uint8Array);
    // New records go on the free list, lowest index first.
    for (let c = newCap - 1; c >= old; c--) {
      this.next[c] = this.freeHead;
      this.admitZone[c] = -1;
      this.freeHead = c;
    }
    this.capacity = newCap;
    this.rehash(newCap);
  }

  /** Rebuilds the index with at least 4 slots per record (two entries each, half full). */
  private rehash(cap: number): void {
    let size = 1;
    while (size < cap * 4) size *= 2;
    this.slots = new Int32Array(size).fill(EMPTY);
    this.hashes = new Uint32Array(size);
    this.slotMask = size - 1;
    for (let c = 0; c < cap; c++) {
      if (this.live[c] === 1) {
        this.index(c, DIR_ORIG);
        this.index(c, DIR_REPLY);
      }
    }
  }
}
