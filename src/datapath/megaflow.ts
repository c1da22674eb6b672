/**
 * The megaflow cache (OVS's dpcls, lib/dpif-netdev-lookup*.c): megaflows are
 * (mask, masked key) -> datapath actions, found by tuple-space search over
 * one hash subtable per distinct mask.
 *
 * Invariants:
 * - A megaflow's key has no bits outside its mask; a packet key k matches
 *   when (k & mask) == key on every word the mask covers.
 * - Megaflow ids are reused; `gens[id]` changes when an id is reused, so
 *   holders of an id (the EMC) can tell a live megaflow from a new one.
 * - Megaflows installed by translation never overlap for a packet whose
 *   translation they record (each one's mask covers every bit that decided
 *   it), so the first match found is the answer.
 *
 * Design: each subtable keeps only the words its mask covers (`words`,
 * `maskVals`) and stores its entries' masked words compactly; its hash
 * table is open-addressed over Int32Arrays. Subtables are searched in order
 * of recent hits (re-ranked by `rank()`, as dpcls_sort_subtable_vector).
 * Each subtable counts its entries by a hash bucket of their first masked
 * word (`filter`). That word is in_port in every megaflow translation
 * installs (always exact, as in OVS's xlate_wc_init), so the cache keeps,
 * per in_port bucket, the subtables that may hold a packet from such a port
 * (`byPort`, in rank order): a packet probes only subtables holding
 * megaflows of its port, and on a switch whose ports each have their own
 * rules that is one or two subtables, not all of them.
 * Everything a lookup touches is a typed array; nothing is allocated per
 * lookup.
 *
 * Limits: `flowsMax` megaflows (OVS's flow-limit default 200000); at the
 * limit the least recently used is evicted by the datapath.
 */
import { DP_WORDS, W_IN_PORT } from "../flow/layout.js";
import { FIELDS, fieldWords } from "../flow/fields.js";
import { stepWord, finishHash } from "./hash.js";

/**
 * For each datapath word, the first word and word count of the field wider
 * than 32 bits it belongs to (MACs, IPv6 addresses, ct_label, tun_id), or
 * [w, 1]. A dump shows such a field whole, from the creating packet, when
 * its mask covers any part of it (dpif-netdev keeps the packet's full flow).
 */
const WIDE_FIELD_OF: readonly (readonly [number, number])[] = (() => {
  const out: [number, number][] = [];
  for (let w = 0; w < DP_WORDS; w++) out.push([w, 1]);
  for (const f of FIELDS) {
    const n = fieldWords(f);
    if (n < 2 || f.word + n > DP_WORDS) continue;
    for (let i = 0; i < n; i++) out[f.word + i] = [f.word, n];
  }
  return out;
})();

/** OVS's default other_config:flow-limit. */
export const MEGAFLOWS_MAX_DEFAULT = 200_000;

/** Buckets of a subtable's first-word filter: in_port values of a switch spread over 64 with few collisions. */
const FILTER_BITS = 6;
const FILTER_BUCKETS = 1 << FILTER_BITS;

/** The filter bucket of a masked first word (Fibonacci hashing: the top bits of a golden-ratio product). */
function filterBucket(maskedWord: number): number {
  return Math.imul(maskedWord, 0x9e3779b1) >>> (32 - FILTER_BITS);
}

class Subtable {
  readonly words: Int32Array;
  readonly maskVals: Uint32Array;
  readonly n: number;
  /** The mask over every datapath word (zero where not masked): what sameMask compares in one plain loop. */
  readonly fullMask = new Uint32Array(DP_WORDS);
  /** The first masked word and its mask (0 and 0 for an empty mask): what the filter counts. */
  readonly firstWord: number;
  readonly firstMask: number;
  /** Live entries per filterBucket() of their masked first word. */
  readonly filter = new Uint32Array(FILTER_BUCKETS);
  /** The first word is in_port, matched exactly: `filter` counts entries by in_port. */
  readonly inPortExact: boolean;
  /** A filter bucket went from or to zero since the cache last looked (its byPort lists are stale). */
  filterChanged = false;
  /** Masked words of local entry e at e * n. */
  keys: Uint32Array;
  /** Masked words plus the rest of any wide field they are part of (WIDE_FIELD_OF). */
  readonly origWords: Int32Array;
  readonly nOrig: number;
  /** origWords of local entry e at e * nOrig, unmasked, as the packet that created it had them (what dumps show, as OVS's do). */
  origKeys: Uint32Array;
  /** Global megaflow id of local entry e (-1: free). */
  entryFlow: Int32Array;
  entryHash: Uint32Array;
  entryCount = 0;
  freeEntries: number[] = [];
  /** Open-addressed slots: local entry index, -1 empty, -2 deleted. */
  slots: Int32Array;
  slotMask: number;
  live = 0;
  used = 0;
  hits = 0;

  constructor(mask: Uint32Array, mb: number) {
    const idx: number[] = [];
    for (let w = 0; w < DP_WORDS; w++) if (mask[mb + w] !== 0) idx.push(w);
    this.words = Int32Array.from(idx);
    this.n = idx.length;
    this.maskVals = Uint32Array.from(idx.map((w) => mask[mb + w]));
    for (const w of idx) this.fullMask[w] = mask[mb + w];
    this.firstWord = this.n > 0 ? idx[0] : 0;
    this.firstMask = this.n > 0 ? this.maskVals[0] : 0;
    this.inPortExact = this.n > 0 && this.firstWord === W_IN_PORT && this.firstMask === 0xffffffff;
    const orig = new Set<number>();
    for (const w of idx) {
      const [first, count] = WIDE_FIELD_OF[w];
      for (let i = 0; i < count; i++) orig.add(first + i);
    }
    this.origWords = Int32Array.from([...orig].sort((a, b) => a - b));
    this.nOrig = this.origWords.length;
    this.keys = new Uint32Array(16 * Math.max(this.n, 1));
    this.origKeys = new Uint32Array(16 * Math.max(this.nOrig, 1));
    this.entryFlow = new Int32Array(16).fill(-1);
    this.entryHash = new Uint32Array(16);
    this.slots = new Int32Array(32).fill(-1);
    this.slotMask = 31;
  }

  sameMask(mask: Uint32Array, mb: number): boolean {
    const full = this.fullMask;
    for (let w = 0; w < DP_WORDS; w++) if (mask[mb + w] !== full[w]) return false;
    return true;
  }

  /** Hash of a packet key's masked words. */
  hashKey(keys: Uint32Array, base: number): number {
    let h = 0;
    const words = this.words;
    const mv = this.maskVals;
    for (let j = 0; j < this.n; j++) h = stepWord(h, keys[base + words[j]] & mv[j]);
    return finishHash(h, this.n);
  }

  /** False when no entry can match the packet key (its masked first word has no entry in the filter). */
  mayHold(keys: Uint32Array, base: number): boolean {
    return this.filter[filterBucket(keys[base + this.firstWord] & this.firstMask)] !== 0;
  }

  /** The megaflow matching the packet key, or -1. */
  find(keys: Uint32Array, base: number, h: number): number {
    const n = this.n;
    const words = this.words;
    const mv = this.maskVals;
    const slots = this.slots;
    let i = h & this.slotMask;
    for (;;) {
      const e = slots[i];
      if (e === -1) return -1;
      if (e >= 0 && this.entryHash[e] === h) {
        const o = e * n;
        let j = 0;
        for (; j < n; j++) if (((keys[base + words[j]] & mv[j]) >>> 0) !== this.keys[o + j]) break;
        if (j === n) return this.entryFlow[e];
      }
      i = (i + 1) & this.slotMask;
    }
  }

  insert(keys: Uint32Array, base: number, flow: number): number {
    const h = this.hashKey(keys, base);
    let e = this.freeEntries.pop();
    if (e === undefined) {
      e = this.entryCount++;
      if (e >= this.entryFlow.length) this.growEntries();
    }
    const o = e * this.n;
    for (let j = 0; j < this.n; j++) this.keys[o + j] = (keys[base + this.words[j]] & this.maskVals[j]) >>> 0;
    const oo = e * this.nOrig;
    for (let j = 0; j < this.nOrig; j++) this.origKeys[oo + j] = keys[base + this.origWords[j]];
    this.entryFlow[e] = flow;
    this.entryHash[e] = h;
    if (this.filter[filterBucket(this.n > 0 ? this.keys[o] : 0)]++ === 0) this.filterChanged = true;
    if ((this.used + 1) * 2 > this.slots.length) this.rehash(this.slots.length * (this.live * 4 > this.slots.length ? 2 : 1));
    let i = h & this.slotMask;
    while (this.slots[i] >= 0) i = (i + 1) & this.slotMask;
    if (this.slots[i] === -1) this.used++;
    this.slots[i] = e;
    this.live++;
    return e;
  }

  remove(entry: number): void {
    const h = this.entryHash[entry];
    let i = h & this.slotMask;
    while (this.slots[i] !== entry) {
      if (this.slots[i] === -1) return;
      i = (i + 1) & this.slotMask;
    }
    this.slots[i] = -2;
    if (--this.filter[filterBucket(this.n > 0 ? this.keys[entry * this.n] : 0)] === 0) this.filterChanged = true;
    this.entryFlow[entry] = -1;
    this.freeEntries.push(entry);
    this.live--;
  }

  private growEntries(): void {
    const cap = this.entryFlow.length * 2;
    const keys = new Uint32Array(cap * Math.max(this.n, 1));
    keys.set(this.keys);
    this.keys = keys;
    const orig = new Uint32Array(cap * Math.max(this.nOrig, 1));
    orig.set(this.origKeys);
    this.origKeys = orig;
    const ef = new Int32Array(cap).fill(-1);
    ef.set(this.entryFlow);
    this.entryFlow = ef;
    const eh = new Uint32Array(cap);
    eh.set(this.entryHash);
    this.entryHash = eh;
  }

  private rehash(size: number): void {
    const slots = new Int32Array(size).fill(-1);
    const mask = size - 1;
    let used = 0;
    for (let e = 0; e < this.entryCount; e++) {
      if (this.entryFlow[e] < 0) continue;
      let i = this.entryHash[e] & mask;
      while (slots[i] !== -1) i = (i + 1) & mask;
      slots[i] = e;
      used++;
    }
    this.slots = slots;
    this.slotMask = mask;
    this.used = used;
  }
}

export class MegaflowCache {
  private subtables: Subtable[] = [];
  /** Per megaflow id: its subtable (index into `all`), its local entry, -1 when free. */
  flowSubtable: Int32Array;
  flowEntry: Int32Array;
  readonly gens: Uint32Array;
  private freeIds: number[] = [];
  private nextId = 0;
  count = 0;
  /** Subtables probed in lookups that hit, and those hits (for "avg. subtable lookups per hit"). */
  probedOnHits = 0;
  hitCount = 0;
  /** Bumped by every insert and remove: a batch's lookup results stay valid while it is unchanged. */
  version = 0;
  private readonly all: Subtable[] = [];
  /**
   * Per filter bucket of in_port: the subtables a packet from such a port
   * may match, in the order of `subtables` (those not keyed on in_port are
   * in every list). Rebuilt before a lookup when `byPortStale`.
   */
  private readonly byPort: Subtable[][] = Array.from({ length: FILTER_BUCKETS }, () => []);
  private byPortStale = true;
  /** Index in `all` of the subtable the last insert went to (-1: none yet). */
  private lastInserted = -1;

  constructor(readonly flowsMax = MEGAFLOWS_MAX_DEFAULT) {
    this.flowSubtable = new Int32Array(flowsMax).fill(-1);
    this.flowEntry = new Int32Array(flowsMax).fill(-1);
    this.gens = new Uint32Array(flowsMax);
  }

  get subtableCount(): number {
    return this.subtables.length;
  }

  /** The megaflow id matching keys[base..], or -1. */
  lookup(keys: Uint32Array, base: number): number {
    if (this.byPortStale) this.rebuildByPort();
    return this.find(keys, base);
  }

  /**
   * Looks up every packet i < count whose flows[i] is -1 (its key at
   * keys[i * keyStride]); found ids go to flows[i]. Returns how many were found.
   */
  lookupBatch(keys: Uint32Array, keyStride: number, flows: Int32Array, count: number): number {
    if (this.byPortStale) this.rebuildByPort();
    let found = 0;
    for (let i = 0; i < count; i++) {
      if (flows[i] !== -1) continue;
      const f = this.find(keys, i * keyStride);
      if (f >= 0) {
        flows[i] = f;
        found++;
      }
    }
    return found;
  }

  /** lookup() with byPort up to date. */
  private find(keys: Uint32Array, base: number): number {
    const list = this.byPort[filterBucket(keys[base + W_IN_PORT])];
    for (let s = 0; s < list.length; s++) {
      const st = list[s];
      if (!st.inPortExact && !st.mayHold(keys, base)) continue;
      const f = st.find(keys, base, st.hashKey(keys, base));
      if (f >= 0) {
        st.hits++;
        this.hitCount++;
        this.probedOnHits += s + 1;
        return f;
      }
    }
    return -1;
  }

  private rebuildByPort(): void {
    for (let b = 0; b < FILTER_BUCKETS; b++) {
      const list = this.byPort[b];
      list.length = 0;
      for (const st of this.subtables) if (!st.inPortExact || st.filter[b] !== 0) list.push(st);
    }
    this.byPortStale = false;
  }

  /** Notes a subtable's filter change (after an insert or remove in it). */
  private noteFilter(st: Subtable): void {
    if (!st.filterChanged) return;
    st.filterChanged = false;
    this.byPortStale = true;
  }

  /** Installs a megaflow for the key under mask (DP words); returns its id, or -1 when full. */
  insert(keys: Uint32Array, base: number, mask: Uint32Array, mb: number): number {
    let id = this.freeIds.pop();
    if (id === undefined) {
      if (this.nextId >= this.flowsMax) return -1;
      id = this.nextId++;
    }
    // Masks are unique among subtables; consecutive upcalls mostly give the
    // same mask, so the last insert's subtable is tried before the others.
    let si = this.lastInserted;
    if (si < 0 || !this.all[si].sameMask(mask, mb)) {
      si = -1;
      for (let i = 0; i < this.all.length; i++) {
        if (this.all[i].sameMask(mask, mb)) {
          si = i;
          break;
        }
      }
    }
    if (si < 0) {
      si = this.all.length;
      const st = new Subtable(mask, mb);
      this.all.push(st);
      this.subtables.push(st);
      this.byPortStale = true;
    }
    this.lastInserted = si;
    const st = this.all[si];
    if (st.live === 0 && !this.subtables.includes(st)) {
      this.subtables.push(st);
      this.byPortStale = true;
    }
    this.flowEntry[id] = st.insert(keys, base, id);
    this.noteFilter(st);
    this.flowSubtable[id] = si;
    this.gens[id] = (this.gens[id] + 1) >>> 0;
    this.count++;
    this.version++;
    return id;
  }

  remove(id: number): void {
    const si = this.flowSubtable[id];
    if (si < 0) return;
    const st = this.all[si];
    st.remove(this.flowEntry[id]);
    this.noteFilter(st);
    this.flowSubtable[id] = -1;
    this.flowEntry[id] = -1;
    this.gens[id] = (this.gens[id] + 1) >>> 0;
    this.freeIds.push(id);
    this.count--;
    this.version++;
    if (st.live === 0) {
      this.subtables = this.subtables.filter((x) => x !== st);
      this.byPortStale = true;
    }
  }

  isAlive(id: number, gen: number): boolean {
    return this.flowSubtable[id] >= 0 && this.gens[id] === gen;
  }

  /** Re-orders subtables by hits since the last call (most hit first), then resets the counts. */
  rank(): void {
    this.subtables.sort((a, b) => b.hits - a.hits);
    this.byPortStale = true;
    for (const st of this.subtables) st.hits = 0;
  }

  /** The mask words of megaflow `id` into out[ob..] (DP words; zero elsewhere). */
  maskOf(id: number, out: Uint32Array, ob: number): void {
    out.fill(0, ob, ob + DP_WORDS);
    const st = this.all[this.flowSubtable[id]];
    for (let j = 0; j < st.n; j++) out[ob + st.words[j]] = st.maskVals[j];
  }

  /** The key of megaflow `id` into out[ob..]: the creating packet's values on the masked words and the whole of wide fields they touch. */
  keyOf(id: number, out: Uint32Array, ob: number): void {
    out.fill(0, ob, ob + DP_WORDS);
    const st = this.all[this.flowSubtable[id]];
    const o = this.flowEntry[id] * st.nOrig;
    for (let j = 0; j < st.nOrig; j++) out[ob + st.origWords[j]] = st.origKeys[o + j];
  }

  /** Ids of live megaflows. */
  ids(): number[] {
    const out: number[] = [];
    for (let id = 0; id < this.nextId; id++) if (this.flowSubtable[id] >= 0) out.push(id);
    return out;
  }

  /** Bytes of typed-array storage (for the memory figures). */
  storageBytes(): number {
    let n = this.flowSubtable.byteLength + this.flowEntry.byteLength + this.gens.byteLength;
    for (const st of this.all) n += st.keys.byteLength + st.origKeys.byteLength + st.entryFlow.byteLength + st.entryHash.byteLength + st.slots.byteLength;
    return n;
  }

  clear(): void {
    for (const id of this.ids()) this.remove(id);
  }
}
