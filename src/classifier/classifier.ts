/**
 * The classifier: given a packet's key, the highest-priority rule whose match
 * accepts it, and the bits of the key that answer depended on (OVS's
 * lib/classifier, and the NSDI 2015 Open vSwitch paper). One per OpenFlow
 * table.
 *
 * Invariants:
 * - lookup returns the rule a linear scan would: the highest priority among
 *   the rules whose match accepts the key. When several rules of that
 *   priority match, OpenFlow leaves the choice undefined and OVS "returns one
 *   arbitrarily" (the first it meets, in an order among equal subtables that
 *   nothing fixes). Here the rule whose slot was created last wins, so the
 *   answer depends only on the rules and the order they were first inserted;
 *   replacing a rule (same match, same priority) keeps its slot.
 * - Every lookup ORs into `wc` (a mask key) the bits it consulted, and any
 *   key that agrees with the looked-up key on every bit of `wc` gets the same
 *   answer. The megaflow cache installs (key & wc, wc) on that promise.
 *
 * Design:
 * - Tuple space search: one Subtable per distinct mask (subtable.ts), each a
 *   hash table from masked value to rules.
 * - Subtables are kept ordered by the highest priority they hold (then by
 *   creation), so a lookup stops at the first subtable that cannot beat the
 *   best rule found; the skipped subtables un-wildcard nothing. A subtable
 *   whose best priority equals the best found is still probed, for the tie
 *   rule above.
 * - Staged lookup and prefix tracking narrow what each probe un-wildcards:
 *   see subtable.ts and prefix-trie.ts. Tracked fields default to nw_src,
 *   nw_dst, ipv6_src and ipv6_dst (OVS tracks nw_dst and nw_src by default,
 *   configurable per table).
 * Limits: control-plane operations allocate (selection and iteration sort
 *   what they return); lookup allocates nothing. There is no bound on rules:
 *   the owner bounds them (FlowTable's flowsMax).
 *
 * Conjunctive matches (ovs-fields(7) "Conjunctive Match Fields"; OVS's
 * classifier_lookup__): a rule inserted with conjunctions is a clause flow,
 * a "soft" match that is never returned itself. The lookup collects the best
 * hard (ordinary) match and every soft match of higher priority; at the
 * highest soft priority, a conjunction id whose n clauses all have a soft
 * match there is a conjunctive match, and the lookup is repeated (hard rules
 * only) with the key's conj_id set to that id; its answer, if any, is the
 * answer. Otherwise the soft matches fall back to the next-lower rule with
 * the same match, and the next soft priority is tried. Every subtable the
 * walk probes, in either lookup, un-wildcards what it consulted, as in OVS.
 * Limits: lookup allocates nothing except to grow its scratch arrays past
 *   the largest soft set seen so far (the upcall path only).
 */
import type { Match } from "../flow/match.js";
import { KEY_WORDS, W_CONJ_ID } from "../flow/layout.js";
import { type FieldDef, findField } from "../flow/fields.js";
import { assert } from "../errors.js";
import { PrefixTracker } from "./prefix-trie.js";
import { ClsEntry, ConjSet, type Conjunction, Subtable, hashFinish, hashWord } from "./subtable.js";

export type { Conjunction } from "./subtable.js";

/** What the classifier stores: a match and a priority (larger wins); neither may change while the rule is in a classifier. */
export interface ClsRule {
  readonly match: Match;
  readonly priority: number;
}

export interface ClassifierOptions {
  /** Address fields with prefix tracking (32- or 128-bit, word-aligned). */
  prefixFields?: readonly FieldDef[];
}

/** The fields tracked when the options name none. */
export const PREFIX_FIELDS_DEFAULT: readonly string[] = ["nw_src", "nw_dst", "ipv6_src", "ipv6_dst"];

/** Most prefix-tracked fields per classifier: each one is a trie walk per lookup at worst. */
export const PREFIX_FIELDS_MAX = 4;

function defaultPrefixFields(): FieldDef[] {
  return PREFIX_FIELDS_DEFAULT.map((name) => {
    const f = findField(name);
    assert(f !== undefined, `field table has ${name}`);
    return f;
  });
}

/** Hash of a mask, to find its subtable. */
function maskHash(mask: Uint32Array): number {
  let h = 0;
  for (let w = 0; w < KEY_WORDS; w++) h = hashWord(h, mask[w] | 0);
  return hashFinish(h, KEY_WORDS);
}

function sameMask(a: Uint32Array, b: Uint32Array): boolean {
  for (let w = 0; w < KEY_WORDS; w++) if (a[w] !== b[w]) return false;
  return true;
}

/** Priority descending, then slot creation ascending: iteration and selection order. */
const byPriorityThenSeq = <R extends ClsRule>(a: ClsEntry<R>, b: ClsEntry<R>): number => b.priority - a.priority || a.seq - b.seq;

export class Classifier<R extends ClsRule> {
  private readonly tracker: PrefixTracker;
  /** Subtables by maskHash; masks that collide share a list. */
  private readonly byMask: Map<number, Subtable<R>[]>;
  /** Highest maxPriority first, then older subtables first. */
  private readonly subtables: Subtable<R>[];
  private readonly entries: Map<R, ClsEntry<R>>;
  private seqNext: number;
  private subtableIdNext: number;
  /** Rules inserted with conjunctions: while 0, lookup takes the plain path. */
  private conjCount: number;
  /** Lookup scratch: the soft matches (clause-flow entries) of a walk. */
  private soft: (ClsEntry<R> | null)[];
  /** How many of this.soft the last lookupHard filled. */
  private softCount: number;
  /** Lookup scratch: conjunction ids seen at one soft priority and their clause bits (low, high 32). */
  private cmIds: Uint32Array;
  private cmLo: Int32Array;
  private cmHi: Int32Array;
  /** The subtable findSubtable found last (null when none or removed since). */
  private lastFound: Subtable<R> | null;
  /**
   * Subtables by the identity of mask arrays findSubtable was given: parsed
   * flows share their mask arrays (ofctl's SharedMasks), so most adds find
   * their subtable without hashing the mask. An entry whose subtable has
   * since been removed (no rules), or whose array now holds another mask,
   * is ignored.
   */
  private readonly byMaskObject: WeakMap<Uint32Array, Subtable<R>>;

  constructor(opts: ClassifierOptions = {}) {
    const fields = opts.prefixFields ?? defaultPrefixFields();
    assert(fields.length <= PREFIX_FIELDS_MAX, "at most PREFIX_FIELDS_MAX prefix fields");
    for (const f of fields) {
      assert(f.shift === 0 && (f.bits === 32 || f.bits === 128), `prefix field ${f.name} is a whole 32- or 128-bit field`);
    }
    this.tracker = new PrefixTracker(fields);
    this.byMask = new Map();
    this.subtables = [];
    this.entries = new Map();
    this.seqNext = 0;
    this.subtableIdNext = 0;
    this.conjCount = 0;
    this.soft = [];
    this.softCount = 0;
    this.cmIds = new Uint32Array(16);
    this.cmLo = new Int32Array(16);
    this.cmHi = new Int32Array(16);
    this.lastFound = null;
    this.byMaskObject = new WeakMap();
  }

  /** Rules in the classifier. */
  get count(): number {
    return this.entries.size;
  }

  /** Distinct masks in the classifier. */
  get subtableCount(): number {
    return this.subtables.length;
  }

  contains(rule: R): boolean {
    return this.entries.has(rule);
  }

  /**
   * Adds a rule; there must be no rule with the same match and priority (use
   * replace). With conjunctions (non-empty), the rule is a clause flow.
   */
  insert(rule: R, conjunctions: readonly Conjunction[] | null = null): void {
    this.add(rule, false);
    this.setConjunctions(rule, conjunctions);
  }

  /** Makes a rule in the classifier a clause flow of these conjunctions, or (null or empty) an ordinary rule. */
  setConjunctions(rule: R, conjunctions: readonly Conjunction[] | null): void {
    const entry = this.entries.get(rule);
    assert(entry !== undefined, "rule is in the classifier");
    const conj = conjunctions === null || conjunctions.length === 0 ? null : new ConjSet(conjunctions);
    if (entry.conj !== null) this.conjCount--;
    if (conj !== null) this.conjCount++;
    entry.conj = conj;
  }

  /** The conjunctions a rule was given (empty for an ordinary rule). */
  conjunctionsOf(rule: R): Conjunction[] {
    const conj = this.entries.get(rule)?.conj ?? null;
    if (conj === null) return [];
    const out: Conjunction[] = [];
    for (let i = 0; i < conj.ids.length; i++) out.push({ id: conj.ids[i], clause: conj.clauseBits[i] + 1, nClauses: conj.nClauses[i] });
    return out;
  }

  /**
   * Adds a rule. A rule with the same match and priority leaves the
   * classifier and is returned; the new rule takes its slot (and its place
   * in iteration and tie order). Returns null when nothing was displaced.
   */
  replace(rule: R): R | null {
    return this.add(rule, true);
  }

  private add(rule: R, replacing: boolean): R | null {
    assert(!this.entries.has(rule), "rule object is not in the classifier already");
    assert(rule.priority === (rule.priority | 0), "priority is a 32-bit integer");
    const { value, mask } = rule.match;
    for (let w = 0; w < KEY_WORDS; w++) assert((value[w] & ~mask[w]) === 0, "match value has no bits outside its mask");
    let st = this.findSubtable(mask);
    if (st === null) {
      const hash = maskHash(mask);
      st = new Subtable<R>(this.subtableIdNext++, mask.slice(), hash, this.tracker);
      const list = this.byMask.get(hash);
      if (list === undefined) this.byMask.set(hash, [st]);
      else list.push(st);
      this.subtables.push(st);
      this.lastFound = st;
      this.byMaskObject.set(mask, st);
    }
    // An insert has no rule to displace (link asserts it), so it skips this probe.
    const same = replacing ? st.find(value, rule.priority) : null;
    if (same !== null) {
      const old = same.rule;
      this.entries.delete(old);
      if (same.conj !== null) this.conjCount--;
      same.conj = null;
      st.setRule(same, rule);
      this.entries.set(rule, same);
      return old;
    }
    const entry = new ClsEntry<R>(rule, rule.priority, this.seqNext++, st);
    st.link(entry);
    this.entries.set(rule, entry);
    st.ruleCount++;
    if (rule.priority > st.maxPriority) {
      st.maxPriority = rule.priority;
      st.maxCount = 1;
      this.reposition(st);
    } else if (rule.priority === st.maxPriority) {
      st.maxCount++;
    }
    return null;
  }

  /** Removes a rule; false when it is not in the classifier. */
  remove(rule: R): boolean {
    const entry = this.entries.get(rule);
    if (entry === undefined) return false;
    this.entries.delete(rule);
    if (entry.conj !== null) this.conjCount--;
    const st = entry.subtable;
    st.unlink(entry);
    st.ruleCount--;
    if (st.ruleCount === 0) {
      const list = this.byMask.get(st.maskHash)!;
      if (list.length === 1) this.byMask.delete(st.maskHash);
      else list.splice(list.indexOf(st), 1);
      this.subtables.splice(this.subtables.indexOf(st), 1);
      if (this.lastFound === st) this.lastFound = null;
    } else if (entry.priority === st.maxPriority && --st.maxCount === 0) {
      st.recomputeMax();
      this.reposition(st);
    }
    return true;
  }

  /** The rule with exactly this match and priority, or null. */
  findExact(match: Match, priority: number): R | null {
    const st = this.findSubtable(match.mask);
    if (st === null) return null;
    const e = st.find(match.value, priority);
    return e === null ? null : e.rule;
  }

  /**
   * OpenFlow rule selection, in iteration order. Strict: the rule with the
   * same match and priority. Non-strict: every rule whose match is a subset
   * of `match` (pins every bit `match` pins, to the same value), whatever
   * its priority (OVS's cls_rule_is_loose_match).
   */
  findMatches(match: Match, strict: boolean, priority?: number): R[] {
    if (strict) {
      assert(priority !== undefined, "strict selection names a priority");
      const r = this.findExact(match, priority);
      return r === null ? [] : [r];
    }
    const found: ClsEntry<R>[] = [];
    for (const st of this.subtables) {
      let covers = true;
      let same = true;
      for (let w = 0; w < KEY_WORDS; w++) {
        if ((match.mask[w] & ~st.mask[w]) !== 0) covers = false;
        if (match.mask[w] !== st.mask[w]) same = false;
      }
      if (!covers) continue;
      if (same) {
        for (let e = st.findTop(match.value); e !== null; e = e.next) found.push(e);
        continue;
      }
      for (let i = 0; i < st.slotsLength; i++) {
        const top = st.topAt(i);
        if (top === null) continue;
        let agrees = true;
        for (let j = 0; j < st.words.length && agrees; j++) {
          const w = st.words[j];
          agrees = ((st.valueWordAt(i, j) & match.mask[w]) >>> 0) === match.value[w];
        }
        if (agrees) for (let e: ClsEntry<R> | null = top; e !== null; e = e.next) found.push(e);
      }
    }
    return found.sort(byPriorityThenSeq).map((e) => e.rule);
  }

  /**
   * Whether some packet could match both `match` and a rule of the same
   * priority (OVS's classifier_rule_overlaps, used for check_overlap). A rule
   * identical to `match` counts as overlapping.
   */
  overlaps(match: Match, priority: number): boolean {
    for (const st of this.subtables) {
      if (st.maxPriority < priority) break;
      for (let i = 0; i < st.slotsLength; i++) {
        let e = st.topAt(i);
        while (e !== null && e.priority > priority) e = e.next;
        if (e === null || e.priority !== priority) continue;
        let agree = true;
        for (let j = 0; j < st.words.length && agree; j++) {
          const w = st.words[j];
          agree = ((st.valueWordAt(i, j) ^ match.value[w]) & st.masks[j] & match.mask[w]) === 0;
        }
        if (agree) return true;
      }
    }
    return false;
  }

  /**
   * The highest-priority rule matching the key at keys[base..], or null.
   * When wc is given, ORs into wc[wcBase..] every bit the answer depended
   * on (wc is a mask key; the caller clears it before the first lookup of a
   * translation).
   */
  lookup(keys: Uint32Array, base: number, wc: Uint32Array | null, wcBase: number): R | null {
    if (this.conjCount !== 0) return this.lookupConjunctive(keys, base, wc, wcBase);
    return this.lookupPlain(keys, base, wc, wcBase);
  }

  /**
   * lookupHard when no rule is a clause flow: the winner is tracked as
   * (subtable, slot), so a hit reads only the slot's priority (and its seq
   * on a tie); the entry is read once, for the answer.
   */
  private lookupPlain(keys: Uint32Array, base: number, wc: Uint32Array | null, wcBase: number): R | null {
    const subtables = this.subtables;
    const n = subtables.length;
    let bestSt: Subtable<R> | null = null;
    let bestSlot = -1;
    let bestPriority = -Infinity;
    if (wc !== null) this.tracker.begin();
    for (let i = 0; i < n; i++) {
      const st = subtables[i];
      if (st.maxPriority < bestPriority) break;
      const slot = wc === null ? st.lookup(keys, base) : st.lookupWc(keys, base, wc, wcBase);
      if (slot < 0) continue;
      const p = st.priorityAt(slot);
      if (p < bestPriority) continue;
      if (p === bestPriority && st.seqAt(slot) < bestSt!.seqAt(bestSlot)) continue;
      bestSt = st;
      bestSlot = slot;
      bestPriority = p;
    }
    return bestSt === null ? null : bestSt.ruleAt(bestSlot);
  }

  /**
   * The best hard match (one subtable probe each, best priority first). With
   * collectSoft, clause-flow entries of higher priority than the hard match
   * found so far go to this.soft (count in this.softCount) instead.
   */
  private lookupHard(keys: Uint32Array, base: number, wc: Uint32Array | null, wcBase: number, collectSoft: boolean): ClsEntry<R> | null {
    const subtables = this.subtables;
    const n = subtables.length;
    let best: ClsEntry<R> | null = null;
    let bestPriority = -Infinity;
    let bestSeq = -1;
    let nSoft = 0;
    if (wc !== null) this.tracker.begin();
    for (let i = 0; i < n; i++) {
      const st = subtables[i];
      if (st.maxPriority < bestPriority) break;
      const slot = wc === null ? st.lookup(keys, base) : st.lookupWc(keys, base, wc, wcBase);
      if (slot < 0) continue;
      const p = st.priorityAt(slot);
      if (p < bestPriority) continue;
      const seq = st.seqAt(slot);
      if (p === bestPriority && seq < bestSeq) continue;
      const entry = st.entryAt(slot);
      if (entry.conj === null) {
        best = entry;
        bestPriority = p;
        bestSeq = seq;
      } else if (collectSoft && p > bestPriority) {
        if (nSoft === this.soft.length) this.soft.push(entry);
        else this.soft[nSoft] = entry;
        nSoft++;
      }
    }
    this.softCount = nSoft;
    return best;
  }

  /**
   * classifier_lookup__ with conjunctive matches allowed: see the file
   * comment. The repeated lookup sets keys[base + W_CONJ_ID] for its
   * duration and restores it.
   */
  private lookupConjunctive(keys: Uint32Array, base: number, wc: Uint32Array | null, wcBase: number): R | null {
    let hard = this.lookupHard(keys, base, wc, wcBase, true);
    let hardPriority = hard === null ? -Infinity : hard.priority;
    const soft = this.soft;
    let nSoft = this.softCount;
    for (;;) {
      // Drop soft matches that are gone or cannot beat the hard match.
      let softPriority = -Infinity;
      let nAtPriority = 0;
      for (let i = 0; i < nSoft; ) {
        const e = soft[i];
        if (e === null || e.priority <= hardPriority) {
          soft[i] = soft[--nSoft];
          continue;
        }
        if (e.priority > softPriority) {
          softPriority = e.priority;
          nAtPriority = 1;
        } else if (e.priority === softPriority) {
          nAtPriority++;
        }
        i++;
      }
      if (nSoft === 0) break;

      // find_conjunctive_match over the soft matches at softPriority, in order.
      let nIds = 0;
      for (let i = 0; i < nSoft; i++) {
        const e = soft[i]!;
        if (e.priority !== softPriority) continue;
        const conj = e.conj!;
        if (nAtPriority < conj.minClauses) continue;
        for (let c = 0; c < conj.ids.length; c++) {
          const nClauses = conj.nClauses[c];
          if (nClauses > nAtPriority) continue;
          const id = conj.ids[c];
          let m = 0;
          while (m < nIds && this.cmIds[m] !== id) m++;
          if (m === nIds) {
            if (nIds === this.cmIds.length) this.growMatches();
            this.cmIds[m] = id;
            // The clauses not in the conjunction start set (OVS's
            // UINT64_MAX << (n_clauses & 63): for 64 clauses that is every
            // bit, so OVS completes such a conjunction on its first clause).
            const n = nClauses & 63;
            this.cmLo[m] = n === 0 ? -1 : n >= 32 ? 0 : -1 << n;
            this.cmHi[m] = n === 0 ? -1 : n >= 32 ? -1 << (n - 32) : -1;
            nIds++;
          }
          const bit = conj.clauseBits[c];
          if (bit < 32) this.cmLo[m] |= 1 << bit;
          else this.cmHi[m] |= 1 << (bit - 32);
          if (this.cmLo[m] === -1 && this.cmHi[m] === -1) {
            // Like OVS, the first conjunction a set completes is the one
            // tried; the set's later conjunctions are not counted.
            const saved = keys[base + W_CONJ_ID];
            keys[base + W_CONJ_ID] = id;
            const found = this.lookupHard(keys, base, wc, wcBase, false);
            keys[base + W_CONJ_ID] = saved;
            if (found !== null) {
              for (let j = 0; j < soft.length; j++) soft[j] = null;
              return found.rule;
            }
            break;
          }
        }
      }

      // No conjunctive match at softPriority: each of its soft matches falls
      // back to the next rule with the same match (next_visible_rule_in_list),
      // a hard match if it is ordinary.
      for (let i = 0; i < nSoft; i++) {
        const e = soft[i]!;
        if (e.priority !== softPriority) continue;
        const lower = e.next;
        if (lower === null) {
          soft[i] = null;
          continue;
        }
        if (lower.conj !== null) {
          soft[i] = lower;
          continue;
        }
        soft[i] = null;
        if (lower.priority > hardPriority) {
          hard = lower;
          hardPriority = lower.priority;
        }
      }
    }
    for (let i = 0; i < soft.length; i++) soft[i] = null;
    return hard === null ? null : hard.rule;
  }

  private growMatches(): void {
    const n = this.cmIds.length * 2;
    const ids = new Uint32Array(n);
    ids.set(this.cmIds);
    const lo = new Int32Array(n);
    lo.set(this.cmLo);
    const hi = new Int32Array(n);
    hi.set(this.cmHi);
    this.cmIds = ids;
    this.cmLo = lo;
    this.cmHi = hi;
  }

  /** Every rule: priority descending, then in the order their slots were created. */
  rules(): R[] {
    return [...this.entries.values()].sort(byPriorityThenSeq).map((e) => e.rule);
  }

  [Symbol.iterator](): Iterator<R> {
    return this.rules()[Symbol.iterator]();
  }

  private findSubtable(mask: Uint32Array): Subtable<R> | null {
    // Compared all the same: a caller may reuse a mask array for other masks.
    const known = this.byMaskObject.get(mask);
    if (known !== undefined && known.ruleCount > 0 && sameMask(known.mask, mask)) return known;
    // An add looks the mask up twice (the same-rule check, then the insert),
    // and flows files group rules of one shape: try the last answer first.
    const last = this.lastFound;
    if (last !== null && sameMask(last.mask, mask)) {
      this.byMaskObject.set(mask, last);
      return last;
    }
    const list = this.byMask.get(maskHash(mask));
    if (list !== undefined) {
      for (const st of list) {
        if (sameMask(st.mask, mask)) {
          this.lastFound = st;
          this.byMaskObject.set(mask, st);
          return st;
        }
      }
    }
    return null;
  }

  /** Moves a subtable to its place after its maxPriority changed. */
  private reposition(st: Subtable<R>): void {
    const list = this.subtables;
    list.splice(list.indexOf(st), 1);
    let i = 0;
    while (i < list.length && (list[i].maxPriority > st.maxPriority || (list[i].maxPriority === st.maxPriority && list[i].id < st.id))) {
      i++;
    }
    list.splice(i, 0, st);
  }
}
