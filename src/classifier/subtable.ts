/**
 * One subtable of the classifier: every rule whose match has one given mask
 * (tuple space search, as in the NSDI 2015 Open vSwitch paper).
 *
 * Invariant: rules with equal masked values share one slot of the rule
 * table, which holds the best of them; the rest hang from it by `next`, by
 * priority, highest first, with no two of equal priority. A key matches at
 * most one slot.
 *
 * Design:
 * - The mask's nonzero words are listed once, in stage order (metadata, L2,
 *   L3, L4; see stageOfWord), as parallel arrays `words` and `masks`, so a
 *   lookup touches only the words the subtable cares about.
 * - Staged lookup: a key is hashed stage by stage with one
 *   running hash. Every stage but the last has a counting index of the
 *   partial hashes of its rules; the first stage whose partial hash is absent
 *   proves that no rule matches, and only the stages hashed so far are
 *   un-wildcarded. Counts make removal exact; a hash collision only makes a
 *   lookup go one stage further, never answer wrongly.
 * - The last stage is the rule table: open addressing with linear probing
 *   over typed arrays (hashes apart from values, so a miss reads only
 *   hashes), backward-shift deletion, load at most 1/2.
 * - Prefix tracking: before hashing the stage that holds a
 *   tracked address field, the classifier-wide trie may prove that no rule of
 *   this subtable's prefix length matches, and the stage is not hashed.
 * - Ports trie: when the last stage misses and the subtable masks tp_src and
 *   tp_dst (one word), a per-subtable trie of the rules' masked port values
 *   says how many leading port bits prove the miss, so a miss on
 *   `tp_dst=80` need not un-wildcard all 32 port bits; the stage's other
 *   words (tcp_flags) are un-wildcarded whole, as OVS does. When the ports
 *   alone do not rule a match out, the whole stage is un-wildcarded (OVS's
 *   trie then answers every port bit of the mask as well).
 * Limits: tables grow by doubling on insert and shrink on removal (control
 * plane); lookups allocate nothing.
 */
import { DP_WORDS, KEY_WORDS, W_DL_DST, W_NW_SRC, W_TP } from "../flow/layout.js";
import { assert } from "../errors.js";
import { PrefixTrie, PrefixTracker, prefixLength } from "./prefix-trie.js";

/** Lookup stages, in the order a subtable hashes them. */
export const STAGE_COUNT = 4;

/**
 * The stage a key word belongs to: metadata (words 0-35 and the
 * translation-only words from DP_WORDS on), L2 (dl_dst up to nw_src), L3
 * (nw_src up to the ports), L4 (ports, tcp_flags, igmp group).
 */
export function stageOfWord(w: number): number {
  if (w >= DP_WORDS || w < W_DL_DST) return 0;
  if (w < W_NW_SRC) return 1;
  if (w < W_TP) return 2;
  return 3;
}

/** Key words in stage order: the order every subtable lists its words in. */
export const WORDS_IN_STAGE_ORDER: readonly number[] = Array.from({ length: KEY_WORDS }, (_, w) => w).sort(
  (a, b) => stageOfWord(a) - stageOfWord(b) || a - b,
);

// Hashing: one multiply and rotate per key word, then MurmurHash3's
// finalizer, which spreads every input bit over the whole hash.
const HASH_SEED = 0x9747b28c | 0;

export function hashWord(h: number, w: number): number {
  h = Math.imul(h ^ w, 0xcc9e2d51);
  return (h << 15) | (h >>> 17);
}

export function hashFinish(h: number, n: number): number {
  h ^= n;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  // Never 0: hash tables below mark an empty slot with 0.
  return h ^ (h >>> 16) || 1;
}

/**
 * What a classifier keeps per rule. A rule's masked value is read from its
 * match: entries hold no copy of it (a 100k-flow table made one object and
 * one typed array per value, and loading spent a third of its time in GC).
 */
export class ClsEntry<R extends { readonly match: { readonly value: Uint32Array } }> {
  /** Replaced in place when an identical rule takes the entry. */
  rule: R;
  readonly priority: number;
  /** Insertion order of the entry: ties and iteration order use it. */
  readonly seq: number;
  /** The next lower-priority entry with the same masked value, or null. */
  next: ClsEntry<R> | null;
  readonly subtable: Subtable<R>;
  /** The rule's conjunction clauses when it is a clause flow (its actions are only conjunction(...)), else null. */
  conj: ConjSet | null;
  constructor(rule: R, priority: number, seq: number, subtable: Subtable<R>) {
    this.rule = rule;
    this.priority = priority;
    this.seq = seq;
    this.next = null;
    this.subtable = subtable;
    this.conj = null;
  }
}

/** What a subtable needs of a rule: the masked value, in full-key layout. */
type Valued = { readonly match: { readonly value: Uint32Array } };

/** One conjunction(id, k/n) action of a clause flow; clause is k, from 1. */
export interface Conjunction {
  readonly id: number;
  readonly clause: number;
  readonly nClauses: number;
}

/**
 * The conjunction actions of one clause flow, as columns (OVS's
 * cls_conjunction_set): ids[i], clause bit clauseBits[i] (k - 1),
 * nClauses[i]; minClauses is the least nClauses, so a priority level with
 * fewer soft matches than that cannot complete any of them.
 */
export class ConjSet {
  readonly ids: Uint32Array;
  readonly clauseBits: Uint8Array;
  readonly nClauses: Uint8Array;
  readonly minClauses: number;
  constructor(conjs: readonly Conjunction[]) {
    assert(conjs.length > 0, "a conjunction set has at least one conjunction");
    this.ids = new Uint32Array(conjs.length);
    this.clauseBits = new Uint8Array(conjs.length);
    this.nClauses = new Uint8Array(conjs.length);
    let min = 64;
    for (let i = 0; i < conjs.length; i++) {
      const c = conjs[i];
      assert(c.nClauses >= 2 && c.nClauses <= 64, "a conjunction has 2 to 64 clauses");
      assert(c.clause >= 1 && c.clause <= c.nClauses, "a clause index is 1..nClauses");
      this.ids[i] = c.id;
      this.clauseBits[i] = c.clause - 1;
      this.nClauses[i] = c.nClauses;
      if (c.nClauses < min) min = c.nClauses;
    }
    this.minClauses = min;
  }
}

const INDEX_SLOTS_MIN = 8;

/**
 * A multiset of 32-bit hashes (OVS's ccmap): the staged-lookup index of one
 * stage. Open addressing with linear probing; hashes and counts live in
 * separate arrays so that a probe reads only hashes (16 to a cache line).
 * Hashes are never 0 (hashFinish), so 0 marks an empty slot.
 */
class CountIndex {
  private hashes: Int32Array;
  private counts: Int32Array;
  private slotMask: number;
  /** Distinct hashes stored. */
  private used: number;

  constructor() {
    this.hashes = new Int32Array(INDEX_SLOTS_MIN);
    this.counts = new Int32Array(INDEX_SLOTS_MIN);
    this.slotMask = INDEX_SLOTS_MIN - 1;
    this.used = 0;
  }

  has(h: number): boolean {
    const hashes = this.hashes;
    const m = this.slotMask;
    for (let i = h & m; ; i = (i + 1) & m) {
      const x = hashes[i];
      if (x === h) return true;
      if (x === 0) return false;
    }
  }

  increment(h: number): void {
    const hashes = this.hashes;
    const m = this.slotMask;
    let i = h & m;
    for (; hashes[i] !== 0; i = (i + 1) & m) {
      if (hashes[i] === h) {
        this.counts[i]++;
        return;
      }
    }
    hashes[i] = h;
    this.counts[i] = 1;
    this.used++;
    if (this.used * 2 > m + 1) this.resize((m + 1) * 2);
  }

  decrement(h: number): void {
    const hashes = this.hashes;
    const counts = this.counts;
    const m = this.slotMask;
    let i = h & m;
    for (;;) {
      assert(hashes[i] !== 0, "decremented hash is in the index");
      if (hashes[i] === h) break;
      i = (i + 1) & m;
    }
    if (--counts[i] !== 0) return;
    // Backward-shift deletion: pull later entries of the probe run into the hole.
    let hole = i;
    for (let j = (i + 1) & m; hashes[j] !== 0; j = (j + 1) & m) {
      const home = hashes[j] & m;
      if (((j - home) & m) >= ((j - hole) & m)) {
        hashes[hole] = hashes[j];
        counts[hole] = counts[j];
        hole = j;
      }
    }
    hashes[hole] = 0;
    counts[hole] = 0;
    this.used--;
    if (m + 1 > INDEX_SLOTS_MIN && this.used * 8 < m + 1) this.resize((m + 1) / 2);
  }

  private resize(slots: number): void {
    const oldHashes = this.hashes;
    const oldCounts = this.counts;
    const hashes = new Int32Array(slots);
    const counts = new Int32Array(slots);
    const m = slots - 1;
    for (let i = 0; i < oldHashes.length; i++) {
      if (oldHashes[i] === 0) continue;
      let j = oldHashes[i] & m;
      while (hashes[j] !== 0) j = (j + 1) & m;
      hashes[j] = oldHashes[i];
      counts[j] = oldCounts[i];
    }
    this.hashes = hashes;
    this.counts = counts;
    this.slotMask = m;
  }
}

const RULE_SLOTS_MIN = 8;

export class Subtable<R extends Valued> {
  /** Creation order: breaks ties between subtables of equal max priority. */
  readonly id: number;
  /** The mask, as a full key (shared by no one else). */
  readonly mask: Uint32Array;
  /** The classifier's hash of the mask. */
  readonly maskHash: number;
  readonly words: Int32Array;
  readonly masks: Int32Array;
  /** End (exclusive, into words) of each nonempty stage; the last is the rule table's. */
  readonly stageEnd: Int32Array;
  readonly stageCount: number;
  /** Index of partial hashes for stages 0 .. stageCount-2. */
  private readonly indices: CountIndex[];

  /**
   * Rule table, parallel arrays indexed by slot: the hash (0 = empty), the
   * masked value (nWords words per slot), the priority and seq of the
   * value's best entry, and that entry. A miss reads only hashes; a hit
   * ranks by priority without touching the entry, which is read only for
   * the lookup's final answer.
   */
  private slotHash: Int32Array;
  private slotValue: Int32Array;
  private slotPriority: Int32Array;
  /** The tie-break, as a double so it never wraps. */
  private slotSeq: Float64Array;
  private slotTop: (ClsEntry<R> | null)[];
  /** slotTop[i].rule, so a lookup's answer is one load away (setRule keeps it when a rule is replaced). */
  private slotRule: (R | null)[];
  private slotMask: number;
  /** Distinct masked values (used slots). */
  valueCount: number;
  ruleCount: number;
  /** Highest priority of any rule, and how many rules have it. */
  maxPriority: number;
  maxCount: number;

  private readonly tracker: PrefixTracker;
  /** Per tracked field: the CIDR prefix length of the mask on it, 0 when none. */
  readonly triePlen: Int32Array;
  /** Per nonempty stage: bit t set when tracked field t lies in it and the mask has a prefix on it. */
  private readonly stageTries: Int32Array;

  /** Mask of the tp_src:tp_dst word, its length up to the last set bit, and the trie. */
  private readonly portsMask: number;
  private readonly portsMaskLength: number;
  private readonly portsTrie: PrefixTrie | null;
  private readonly portsScratch: Uint32Array;
  private readonly portsPlens: Uint32Array;

  /** Scratch for insert/remove: the partial hash of every stage. */
  private readonly stageHashes: Int32Array;

  constructor(id: number, mask: Uint32Array, maskHash: number, tracker: PrefixTracker) {
    this.id = id;
    this.mask = mask;
    this.maskHash = maskHash;
    const words: number[] = [];
    const ends: number[] = [];
    let stage = -1;
    for (const w of WORDS_IN_STAGE_ORDER) {
      if (mask[w] === 0) continue;
      const s = stageOfWord(w);
      if (s !== stage && words.length > 0) ends.push(words.length);
      stage = s;
      words.push(w);
    }
    if (words.length > 0) ends.push(words.length);
    this.words = new Int32Array(words);
    this.masks = new Int32Array(words.map((w) => mask[w] | 0));
    this.stageEnd = new Int32Array(ends);
    this.stageCount = ends.length;
    this.indices = [];
    for (let s = 0; s + 1 < this.stageCount; s++) this.indices.push(new CountIndex());

    this.slotHash = new Int32Array(RULE_SLOTS_MIN);
    this.slotValue = new Int32Array(RULE_SLOTS_MIN * words.length);
    this.slotPriority = new Int32Array(RULE_SLOTS_MIN);
    this.slotSeq = new Float64Array(RULE_SLOTS_MIN);
    this.slotTop = new Array<ClsEntry<R> | null>(RULE_SLOTS_MIN).fill(null);
    this.slotRule = new Array<R | null>(RULE_SLOTS_MIN).fill(null);
    this.slotMask = RULE_SLOTS_MIN - 1;
    this.valueCount = 0;
    this.ruleCount = 0;
    this.maxPriority = -Infinity;
    this.maxCount = 0;

    this.tracker = tracker;
    this.triePlen = new Int32Array(tracker.count);
    this.stageTries = new Int32Array(Math.max(1, this.stageCount));
    for (let t = 0; t < tracker.count; t++) {
      const word = tracker.fieldWord[t];
      const plen = prefixLength(mask, word, tracker.fieldBits[t]);
      this.triePlen[t] = plen;
      if (plen === 0) continue;
      const j = words.indexOf(word);
      let s = 0;
      while (ends[s] <= j) s++;
      this.stageTries[s] |= 1 << t;
    }

    this.portsMask = mask[W_TP] | 0;
    this.portsMaskLength = this.portsMask === 0 ? 0 : 32 - ctz32(this.portsMask);
    this.portsTrie = this.portsMask === 0 ? null : new PrefixTrie(32);
    this.portsScratch = new Uint32Array(1);
    this.portsPlens = new Uint32Array(1);
    this.stageHashes = new Int32Array(STAGE_COUNT);
  }

  /**
   * Finds the slot a key matches, recording in wc the bits consulted (OVS's
   * find_match_wc). Returns its slot (see priorityAt, seqAt, entryAt), or -1.
   */
  lookupWc(keys: Uint32Array, base: number, wc: Uint32Array, wcBase: number): number {
    const words = this.words;
    const masks = this.masks;
    const stageEnd = this.stageEnd;
    const last = this.stageCount - 1;
    let h = HASH_SEED;
    let j = 0;
    // Every stage but the last is un-wildcarded as it is hashed: whatever
    // happens next, the answer depends on it.
    for (let s = 0; s < last; s++) {
      if (this.stageTries[s] !== 0 && this.trieSkips(this.stageTries[s], keys, base, wc, wcBase)) return -1;
      const end = stageEnd[s];
      for (; j < end; j++) {
        const w = words[j];
        const m = masks[j];
        h = hashWord(h, keys[base + w] & m);
        wc[wcBase + w] |= m;
      }
      if (!this.indices[s].has(hashFinish(h, j))) return -1;
    }
    if (last >= 0 && this.stageTries[last] !== 0 && this.trieSkips(this.stageTries[last], keys, base, wc, wcBase)) {
      return -1;
    }
    const first = j;
    const n = words.length;
    for (; j < n; j++) h = hashWord(h, keys[base + words[j]] & masks[j]);
    const slot = this.findKey(hashFinish(h, n), keys, base);
    // The ports trie may prove the miss with fewer port bits than the last
    // stage has; the stage's other words were hashed, so they count
    // (OVS 3.1 as installed: find_match_wc un-wildcards them too).
    if (slot < 0 && this.portsTrie !== null && this.portsRuleOut(keys, base, wc, wcBase)) {
      for (j = first; j < n; j++) if (words[j] !== W_TP) wc[wcBase + words[j]] |= masks[j];
      return -1;
    }
    for (j = first; j < n; j++) wc[wcBase + words[j]] |= masks[j];
    return slot;
  }

  /** The same answer as lookupWc without recording wildcards: one hash, no stages. */
  lookup(keys: Uint32Array, base: number): number {
    const words = this.words;
    const masks = this.masks;
    const n = words.length;
    let h = HASH_SEED;
    for (let j = 0; j < n; j++) h = hashWord(h, keys[base + words[j]] & masks[j]);
    return this.findKey(hashFinish(h, n), keys, base);
  }

  /** Priority of the best entry of the slot a lookup returned. */
  priorityAt(slot: number): number {
    return this.slotPriority[slot];
  }

  /** Seq of the best entry of the slot a lookup returned. */
  seqAt(slot: number): number {
    return this.slotSeq[slot];
  }

  /** The best entry of a slot a lookup returned (see topAt for any slot). */
  entryAt(slot: number): ClsEntry<R> {
    return this.slotTop[slot]!;
  }

  /** The rule of the best entry of a slot a lookup returned. */
  ruleAt(slot: number): R {
    return this.slotRule[slot]!;
  }

  /** Puts `rule` in place of an entry's rule (same match and priority). */
  setRule(entry: ClsEntry<R>, rule: R): void {
    entry.rule = rule;
    const i = this.slotOfValue(this.hashValue(rule.match.value), rule.match.value);
    if (this.slotTop[i] === entry) this.slotRule[i] = rule;
  }

  /** Slots of the rule table, used or not: topAt(0 .. slotsLength-1) visits every value. */
  get slotsLength(): number {
    return this.slotTop.length;
  }

  /** The best entry of a slot, or null when the slot is empty. */
  topAt(slot: number): ClsEntry<R> | null {
    return this.slotTop[slot];
  }

  /** Word j (of `words`) of a used slot's masked value. */
  valueWordAt(slot: number, j: number): number {
    return this.slotValue[slot * this.words.length + j];
  }

  /** The entry with this masked value (match.value words) and priority, or null. */
  find(value: Uint32Array, priority: number): ClsEntry<R> | null {
    const i = this.slotOfValue(this.hashValue(value), value);
    if (i < 0) return null;
    let e = this.slotTop[i];
    while (e !== null && e.priority > priority) e = e.next;
    return e !== null && e.priority === priority ? e : null;
  }

  /** The best entry with this masked value (match.value words), or null. */
  findTop(value: Uint32Array): ClsEntry<R> | null {
    const i = this.slotOfValue(this.hashValue(value), value);
    return i < 0 ? null : this.slotTop[i];
  }

  /**
   * Adds an entry for its rule's masked value, in priority order among the
   * entries of that value (a new value takes a new slot). No entry of that
   * value may have its priority. Returns whether it became the value's best.
   */
  link(entry: ClsEntry<R>): boolean {
    const value = entry.rule.match.value;
    const hash = this.hashValue(value);
    const i = this.slotOfValue(hash, value);
    if (i < 0) {
      for (let s = 0; s + 1 < this.stageCount; s++) this.indices[s].increment(this.stageHashes[s]);
      for (let t = 0; t < this.tracker.count; t++) {
        if (this.triePlen[t] !== 0) this.tracker.tries[t].insert(value, this.tracker.fieldWord[t], this.triePlen[t]);
      }
      if (this.portsTrie !== null) {
        this.portsScratch[0] = value[W_TP];
        this.portsTrie.insert(this.portsScratch, 0, this.portsMaskLength);
      }
      if ((this.valueCount + 1) * 2 > this.slotTop.length) this.resize(this.slotTop.length * 2);
      this.place(hash, value, entry);
      this.valueCount++;
      return true;
    }
    let prev: ClsEntry<R> | null = null;
    let e = this.slotTop[i];
    while (e !== null && e.priority > entry.priority) {
      prev = e;
      e = e.next;
    }
    assert(e === null || e.priority !== entry.priority, "insert of a rule identical to one in the classifier");
    entry.next = e;
    if (prev !== null) {
      prev.next = entry;
      return false;
    }
    this.slotTop[i] = entry;
    this.slotRule[i] = entry.rule;
    this.slotPriority[i] = entry.priority;
    this.slotSeq[i] = entry.seq;
    return true;
  }

  /** Takes an entry out; its value leaves every structure with its last entry. Returns whether it was the value's best. */
  unlink(entry: ClsEntry<R>): boolean {
    const value = entry.rule.match.value;
    const i = this.slotOfValue(this.hashValue(value), value);
    assert(i >= 0, "unlinked entry's value is in the table");
    let prev: ClsEntry<R> | null = null;
    let e = this.slotTop[i];
    while (e !== entry) {
      assert(e !== null, "unlinked entry is in its value's list");
      prev = e;
      e = e.next;
    }
    const next = entry.next;
    entry.next = null;
    if (prev !== null) {
      prev.next = next;
      return false;
    }
    if (next !== null) {
      this.slotTop[i] = next;
      this.slotRule[i] = next.rule;
      this.slotPriority[i] = next.priority;
      this.slotSeq[i] = next.seq;
      return true;
    }
    this.removeSlot(i, value);
    return true;
  }

  /** Removes a slot whose last entry left, from every structure (stageHashes hold the value's). */
  private removeSlot(i: number, value: Uint32Array): void {
    for (let s = 0; s + 1 < this.stageCount; s++) this.indices[s].decrement(this.stageHashes[s]);
    for (let t = 0; t < this.tracker.count; t++) {
      if (this.triePlen[t] !== 0) this.tracker.tries[t].remove(value, this.tracker.fieldWord[t], this.triePlen[t]);
    }
    if (this.portsTrie !== null) {
      this.portsScratch[0] = value[W_TP];
      this.portsTrie.remove(this.portsScratch, 0, this.portsMaskLength);
    }
    const hashes = this.slotHash;
    const n = this.words.length;
    const m = this.slotMask;
    // Backward-shift deletion, as in CountIndex.
    let hole = i;
    for (let j = (i + 1) & m; hashes[j] !== 0; j = (j + 1) & m) {
      const home = hashes[j] & m;
      if (((j - home) & m) >= ((j - hole) & m)) {
        hashes[hole] = hashes[j];
        this.slotValue.copyWithin(hole * n, j * n, (j + 1) * n);
        this.slotPriority[hole] = this.slotPriority[j];
        this.slotSeq[hole] = this.slotSeq[j];
        this.slotTop[hole] = this.slotTop[j];
        this.slotRule[hole] = this.slotRule[j];
        hole = j;
      }
    }
    hashes[hole] = 0;
    this.slotTop[hole] = null;
    this.slotRule[hole] = null;
    this.valueCount--;
    if (this.slotTop.length > RULE_SLOTS_MIN && this.valueCount * 8 < this.slotTop.length) {
      this.resize(this.slotTop.length / 2);
    }
  }

  /** Recomputes maxPriority and maxCount from the slots' best entries (after the last top rule left). */
  recomputeMax(): void {
    let max = -Infinity;
    let count = 0;
    for (const top of this.slotTop) {
      if (top === null) continue;
      const p = top.priority;
      if (p > max) {
        max = p;
        count = 1;
      } else if (p === max) {
        count++;
      }
    }
    this.maxPriority = max;
    this.maxCount = count;
  }

  /** Hash of a masked value in full-key layout; leaves each stage's partial hash in stageHashes. */
  private hashValue(value: Uint32Array): number {
    const words = this.words;
    let h = HASH_SEED;
    let j = 0;
    for (let s = 0; s < this.stageCount; s++) {
      const end = this.stageEnd[s];
      for (; j < end; j++) h = hashWord(h, value[words[j]] | 0);
      this.stageHashes[s] = hashFinish(h, j);
    }
    return hashFinish(h, words.length);
  }

  /** The slot holding a masked value in full-key layout, or -1. */
  private slotOfValue(hash: number, value: Uint32Array): number {
    const hashes = this.slotHash;
    const values = this.slotValue;
    const words = this.words;
    const n = words.length;
    const m = this.slotMask;
    for (let i = hash & m; ; i = (i + 1) & m) {
      const x = hashes[i];
      if (x === 0) return -1;
      if (x !== hash) continue;
      let j = 0;
      while (j < n && values[i * n + j] === (value[words[j]] | 0)) j++;
      if (j === n) return i;
    }
  }

  /** The slot whose masked value the key has, or -1. */
  private findKey(hash: number, keys: Uint32Array, base: number): number {
    const hashes = this.slotHash;
    const m = this.slotMask;
    for (let i = hash & m; ; i = (i + 1) & m) {
      const x = hashes[i];
      if (x === 0) return -1;
      if (x !== hash) continue;
      const values = this.slotValue;
      const words = this.words;
      const masks = this.masks;
      const n = words.length;
      const o = i * n;
      let j = 0;
      while (j < n && (keys[base + words[j]] & masks[j]) === values[o + j]) j++;
      if (j === n) return i;
    }
  }

  /** Whether a tracked prefix (bit t of `tries`) proves that no rule matches, before its stage is hashed. */
  private trieSkips(tries: number, keys: Uint32Array, base: number, wc: Uint32Array, wcBase: number): boolean {
    const tracker = this.tracker;
    for (let t = 0; t < tracker.count; t++) {
      if (((tries >>> t) & 1) !== 0 && tracker.skip(t, this.triePlen[t], keys, base, wc, wcBase)) return true;
    }
    return false;
  }

  /**
   * After a miss in the rule table: whether the ports alone rule out every
   * rule. If so, sets in wc only the port bits that prove it.
   */
  private portsRuleOut(keys: Uint32Array, base: number, wc: Uint32Array, wcBase: number): boolean {
    const mask = this.portsMask;
    this.portsScratch[0] = keys[base + W_TP] & mask;
    this.portsPlens[0] = 0;
    const bits = this.portsTrie!.lookup(this.portsScratch, 0, this.portsPlens, 0);
    const l = this.portsMaskLength - 1;
    if (((this.portsPlens[0] >>> (31 - l)) & 1) !== 0) return false;
    wc[wcBase + W_TP] |= mask & (bits === 0 ? 0 : ~0 << (32 - bits));
    return true;
  }

  private place(hash: number, value: Uint32Array, top: ClsEntry<R>): void {
    const m = this.slotMask;
    const words = this.words;
    const n = words.length;
    let i = hash & m;
    while (this.slotHash[i] !== 0) i = (i + 1) & m;
    this.slotHash[i] = hash;
    for (let j = 0; j < n; j++) this.slotValue[i * n + j] = value[words[j]] | 0;
    this.slotPriority[i] = top.priority;
    this.slotSeq[i] = top.seq;
    this.slotTop[i] = top;
    this.slotRule[i] = top.rule;
  }

  /** Rehashes into `slots` slots, moving each slot's columns as they are (the entries are not read). */
  private resize(slots: number): void {
    const oldHash = this.slotHash;
    const oldValue = this.slotValue;
    const oldPriority = this.slotPriority;
    const oldSeq = this.slotSeq;
    const oldTop = this.slotTop;
    const oldRule = this.slotRule;
    const n = this.words.length;
    const hashes = new Int32Array(slots);
    const values = new Int32Array(slots * n);
    this.slotPriority = new Int32Array(slots);
    this.slotSeq = new Float64Array(slots);
    this.slotTop = new Array<ClsEntry<R> | null>(slots).fill(null);
    this.slotRule = new Array<R | null>(slots).fill(null);
    const m = slots - 1;
    for (let o = 0; o < oldHash.length; o++) {
      const hash = oldHash[o];
      if (hash === 0) continue;
      let i = hash & m;
      while (hashes[i] !== 0) i = (i + 1) & m;
      hashes[i] = hash;
      for (let j = 0; j < n; j++) values[i * n + j] = oldValue[o * n + j];
      this.slotPriority[i] = oldPriority[o];
      this.slotSeq[i] = oldSeq[o];
      this.slotTop[i] = oldTop[o];
      this.slotRule[i] = oldRule[o];
    }
    this.slotHash = hashes;
    this.slotValue = values;
    this.slotMask = m;
  }
}

/** Count of trailing zero bits of a nonzero 32-bit value. */
function ctz32(x: number): number {
  return 31 - Math.clz32(x & -x);
}
