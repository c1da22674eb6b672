import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { findField } from "../flow/fields.js";
import * as L from "../flow/layout.js";
import { Match } from "../flow/match.js";
import { Classifier, type ClsRule, type Conjunction } from "./classifier.js";
import { PrefixTrie, prefixLength } from "./prefix-trie.js";
import { stageOfWord } from "./subtable.js";
import { mulberry32 } from "../util/prng.js";

// ---------------------------------------------------------------------------
// Helpers: rules, keys and a brute-force model of the classifier.
// ---------------------------------------------------------------------------

class Rule implements ClsRule {
  constructor(
    readonly match: Match,
    readonly priority: number,
    readonly name: string,
  ) {}
}

const field = (name: string) => {
  const f = findField(name);
  if (!f) throw new Error(`no field ${name}`);
  return f;
};

/** Builds a match from `name=value[/mask]` pairs given as bigints. */
function match(pairs: Record<string, bigint | [bigint, bigint]>): Match {
  const m = new Match();
  for (const [name, v] of Object.entries(pairs)) {
    if (Array.isArray(v)) m.setField(field(name), v[0], v[1]);
    else m.setField(field(name), v);
  }
  return m;
}

const ip = (s: string): bigint => BigInt(s.split(".").reduce((a, b) => a * 256 + Number(b), 0));
const prefix32 = (n: number): bigint => (n === 0 ? 0n : ((1n << 32n) - 1n) ^ ((1n << BigInt(32 - n)) - 1n));

/** A key with the given fields set (others zero). */
function key(pairs: Record<string, bigint>): Uint32Array {
  const k = new Uint32Array(L.KEY_WORDS);
  const m = match(pairs);
  k.set(m.value);
  return k;
}

const newWc = (): Uint32Array => new Uint32Array(L.KEY_WORDS);


/** The classifier's contract, by linear scan: highest priority, ties to the newest slot. */
class Model {
  slots: { rule: Rule; seq: number }[] = [];
  private seq = 0;
  replace(rule: Rule): void {
    const same = this.slots.find((s) => s.rule.priority === rule.priority && s.rule.match.equals(rule.match));
    if (same) same.rule = rule;
    else this.slots.push({ rule, seq: this.seq++ });
  }
  remove(rule: Rule): void {
    this.slots = this.slots.filter((s) => s.rule !== rule);
  }
  lookup(k: Uint32Array): Rule | null {
    let best: { rule: Rule; seq: number } | null = null;
    for (const s of this.slots) {
      if (!s.rule.match.matchesKey(k, 0)) continue;
      if (!best || s.rule.priority > best.rule.priority || (s.rule.priority === best.rule.priority && s.seq > best.seq)) best = s;
    }
    return best ? best.rule : null;
  }
}

/**
 * A random world: a pool of masks (realistic shapes plus random ones), and
 * per word a few values that share long prefixes, so that rules overlap,
 * keys hit, and tries branch deep.
 */
class World {
  readonly masks: Uint32Array[] = [];
  private readonly values: Uint32Array[] = [];
  constructor(
    private readonly rnd: () => number,
    nMasks: number,
  ) {
    for (let w = 0; w < L.KEY_WORDS; w++) {
      const b = rnd();
      this.values.push(
        new Uint32Array([b, b ^ (1 << (rnd() % 32)), b ^ (1 << (rnd() % 8)), b ^ (1 << (16 + (rnd() % 16))), rnd(), 0]),
      );
    }
    const shapes = templateMasks();
    for (let i = 0; i < nMasks; i++) {
      this.masks.push(rnd() % 3 === 0 ? this.randomMask() : shapes[rnd() % shapes.length]);
    }
  }

  private randomMask(): Uint32Array {
    const m = new Uint32Array(L.KEY_WORDS);
    const n = this.rnd() % 5;
    for (let i = 0; i < n; i++) {
      const w = this.rnd() % L.KEY_WORDS;
      const kind = this.rnd() % 4;
      m[w] = kind === 0 ? 0xffffffff : kind === 1 ? Number(prefix32(1 + (this.rnd() % 32))) : kind === 2 ? this.rnd() : 0xffff;
    }
    return m;
  }

  private pick(w: number): number {
    const vs = this.values[w];
    return vs[this.rnd() % vs.length];
  }

  rule(priorities: number, name: string): Rule {
    const mask = this.masks[this.rnd() % this.masks.length];
    const value = new Uint32Array(L.KEY_WORDS);
    for (let w = 0; w < L.KEY_WORDS; w++) value[w] = (this.pick(w) & mask[w]) >>> 0;
    return new Rule(new Match(value, mask.slice()), this.rnd() % priorities, name);
  }

  /** A key: from the value pools with the odd bit flipped, or built to hit `aim`. */
  key(aim: Rule | null): Uint32Array {
    const k = new Uint32Array(L.KEY_WORDS);
    for (let w = 0; w < L.KEY_WORDS; w++) {
      let v = this.pick(w);
      if (this.rnd() % 4 === 0) v ^= 1 << (this.rnd() % 32);
      k[w] = v >>> 0;
    }
    if (aim) for (let w = 0; w < L.KEY_WORDS; w++) k[w] = ((k[w] & ~aim.match.mask[w]) | aim.match.value[w]) >>> 0;
    return k;
  }

  /** A key that agrees with `k` on every bit of `wc` and is otherwise another random key. */
  agreeing(k: Uint32Array, wc: Uint32Array, aim: Rule | null): Uint32Array {
    const other = this.key(aim);
    for (let w = 0; w < L.KEY_WORDS; w++) other[w] = ((k[w] & wc[w]) | (other[w] & ~wc[w])) >>> 0;
    return other;
  }

  /** A key that differs from `k` in one random bit outside `wc`, or null when wc covers everything. */
  flipped(k: Uint32Array, wc: Uint32Array): Uint32Array | null {
    const free: [number, number][] = [];
    for (let w = 0; w < L.KEY_WORDS; w++) for (let b = 0; b < 32; b++) if (((wc[w] >>> b) & 1) === 0) free.push([w, b]);
    if (free.length === 0) return null;
    const [w, b] = free[this.rnd() % free.length];
    const out = k.slice();
    out[w] = (out[w] ^ (1 << b)) >>> 0;
    return out;
  }
}

/** Mask shapes that real tables use. */
function templateMasks(): Uint32Array[] {
  const m = (pairs: Record<string, bigint | [bigint, bigint]>): Uint32Array => match(pairs).mask;
  return [
    new Uint32Array(L.KEY_WORDS),
    m({ in_port: 1n }),
    m({ in_port: 1n, eth_dst: 1n }),
    m({ eth_type: 0x800n, ip_dst: [0n, prefix32(24)] }),
    m({ eth_type: 0x800n, ip_dst: [0n, prefix32(16)] }),
    m({ eth_type: 0x800n, ip_src: [0n, prefix32(8)], ip_dst: [0n, prefix32(32)] }),
    m({ eth_type: 0x800n, nw_proto: 6n, ip_dst: [0n, prefix32(24)], tcp_dst: 0n }),
    m({ eth_type: 0x800n, nw_proto: 6n, tcp_dst: [0n, 0xff00n] }),
    m({ eth_type: 0x800n, nw_proto: 6n, tcp_src: 0n, tcp_flags: [0n, 0x2n] }),
    m({ reg0: 0n, metadata: 0n }),
    m({ reg0: 0n, eth_type: 0x800n, ip_src: [0n, 0x00ff00ffn] }),
    m({ eth_type: 0x86ddn, ipv6_dst: [0n, ((1n << 128n) - 1n) ^ ((1n << 64n) - 1n)] }),
    m({ eth_type: 0x86ddn, ipv6_src: 0n, ipv6_dst: [0n, ((1n << 128n) - 1n) ^ ((1n << 100n) - 1n)] }),
    m({ eth_src: [0n, 0x010000000000n], vlan_tci: [0n, 0x1fffn] }),
    m({ ct_state: [0n, 0x21n], ct_zone: 0n, reg6: 0n }),
  ];
}

interface Scenario {
  seed: number;
  rules: number;
  masks: number;
  priorities: number;
}

const scenario = fc.record({
  seed: fc.integer({ min: 0, max: 0x7fffffff }),
  rules: fc.integer({ min: 0, max: 120 }),
  masks: fc.integer({ min: 1, max: 12 }),
  priorities: fc.integer({ min: 1, max: 6 }),
});

function build(s: Scenario): { world: World; cls: Classifier<Rule>; model: Model; rules: Rule[]; rnd: () => number } {
  const rnd = mulberry32(s.seed);
  const world = new World(rnd, s.masks);
  const cls = new Classifier<Rule>();
  const model = new Model();
  const rules: Rule[] = [];
  for (let i = 0; i < s.rules; i++) {
    const r = world.rule(s.priorities, `r${i}`);
    const displaced = cls.replace(r);
    model.replace(r);
    if (displaced) rules.splice(rules.indexOf(displaced as Rule), 1);
    rules.push(r);
  }
  return { world, cls, model, rules, rnd };
}

/** Checks the two lookup promises for one key; returns the number of agreeing keys tried. */
function checkKey(world: World, cls: Classifier<Rule>, model: Model, k: Uint32Array, rnd: () => number, rules: Rule[]): void {
  const expected = model.lookup(k);
  expect(cls.lookup(k, 0, null, 0)).toBe(expected);
  const wc = newWc();
  expect(cls.lookup(k, 0, wc, 0)).toBe(expected);
  for (let t = 0; t < 6; t++) {
    const aim = rules.length > 0 && t % 2 === 0 ? rules[rnd() % rules.length] : null;
    const k2 = t < 4 ? world.agreeing(k, wc, aim) : world.flipped(k, wc);
    if (!k2) continue;
    // The megaflow promise: same answer for every key that agrees on wc.
    expect(model.lookup(k2)).toBe(expected);
    expect(cls.lookup(k2, 0, newWc(), 0)).toBe(expected);
  }
}

// ---------------------------------------------------------------------------
// Properties.
// ---------------------------------------------------------------------------

describe("Classifier lookup", () => {
  it("returns what a linear scan returns, and the same for every key that agrees on wc", () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const { world, cls, model, rules, rnd } = build(s);
        expect(cls.count).toBe(model.slots.length);
        for (let i = 0; i < 40; i++) {
          const aim = rules.length > 0 && i % 2 === 0 ? rules[rnd() % rules.length] : null;
          checkKey(world, cls, model, world.key(aim), rnd, rules);
        }
      }),
      { seed: 20240611, numRuns: 300 },
    );
  });

  it("keeps both promises while rules are removed and re-added", () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const { world, cls, model, rules, rnd } = build(s);
        for (let round = 0; round < 4; round++) {
          for (let i = 0; i < rules.length; ) {
            if (rnd() % 2 === 0) {
              expect(cls.remove(rules[i])).toBe(true);
              expect(cls.remove(rules[i])).toBe(false);
              model.remove(rules[i]);
              rules.splice(i, 1);
            } else i++;
          }
          for (let i = 0; i < s.rules / 4; i++) {
            const r = world.rule(s.priorities, `a${round}.${i}`);
            const displaced = cls.replace(r);
            model.replace(r);
            if (displaced) rules.splice(rules.indexOf(displaced as Rule), 1);
            rules.push(r);
          }
          expect(cls.count).toBe(model.slots.length);
          for (let i = 0; i < 15; i++) {
            const aim = rules.length > 0 && i % 2 === 0 ? rules[rnd() % rules.length] : null;
            checkKey(world, cls, model, world.key(aim), rnd, rules);
          }
        }
        for (const r of [...rules]) cls.remove(r);
        expect(cls.count).toBe(0);
        expect(cls.subtableCount).toBe(0);
        expect(cls.lookup(world.key(null), 0, newWc(), 0)).toBe(null);
      }),
      { seed: 777, numRuns: 150 },
    );
  });

  it("holds at scale: 5000 rules over 40 masks", () => {
    const s: Scenario = { seed: 99, rules: 5000, masks: 40, priorities: 1000 };
    const { world, cls, model, rules, rnd } = build(s);
    for (let i = 0; i < 150; i++) checkKey(world, cls, model, world.key(i % 2 ? rules[rnd() % rules.length] : null), rnd, rules);
  });

  it("answers and un-wildcards exactly the same once its IPv4 tries resume walks from their jump tables", () => {
    const rnd = mulberry32(31337);
    const cls = new Classifier<Rule>();
    // Routes and ACLs of every prefix length under a few networks, plus
    // non-IP and exact rules, so tries are big, deep and straddle bit 16.
    const nets = [0x0a000000, 0xac100000, 0xc0a80000];
    const net = (): number => (nets[rnd() % nets.length] ^ (rnd() >>> (4 + (rnd() % 28)))) >>> 0;
    const pfx = (v: number, len: number): [bigint, bigint] => [BigInt(v) & prefix32(len), prefix32(len)];
    for (let i = 0; i < 3000; i++) {
      const m =
        i % 3 === 0
          ? match({ eth_type: 0x0800n, ip_dst: pfx(net(), 1 + (rnd() % 32)) })
          : i % 3 === 1
            ? match({ eth_type: 0x0800n, ip_src: pfx(net(), 8 + (rnd() % 25)), ip_dst: pfx(net(), 16 + (rnd() % 17)), nw_proto: 6n })
            : match({ in_port: BigInt(1 + (rnd() % 8)), eth_type: 0x0800n, ip_dst: pfx(net(), 24 + (rnd() % 9)) });
      cls.replace(new Rule(m, rnd() % 500, `r${i}`));
    }
    const keys: Uint32Array[] = [];
    for (let i = 0; i < 3000; i++) {
      keys.push(
        key({ in_port: BigInt(1 + (rnd() % 8)), eth_type: i % 50 === 0 ? 0x0806n : 0x0800n, ip_src: BigInt(net()), ip_dst: BigInt(i % 4 === 0 ? rnd() >>> 0 : net()), nw_proto: i % 2 ? 6n : 17n }),
      );
    }
    const answer = (k: Uint32Array): string => {
      const wc = newWc();
      const r = cls.lookup(k, 0, wc, 0);
      return `${r === null ? "-" : r.name} ${wc.join(",")}`;
    };
    const tries = (cls as unknown as { tracker: { tries: PrefixTrie[] } }).tracker.tries;
    const walked = keys.map(answer);
    expect(tries[1].jumping).toBe(false);
    for (let i = 0; i < 70_000; i++) cls.lookup(keys[i % keys.length], 0, newWc(), 0);
    // nw_src and nw_dst (ipv6 tries hold nothing).
    expect(tries[0].jumping && tries[1].jumping).toBe(true);
    expect(keys.map(answer)).toEqual(walked);
  });

  it("agrees with the model on iteration, exact finds, selection and overlap", () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const { world, cls, model, rules, rnd } = build(s);
        const order = [...model.slots].sort((a, b) => b.rule.priority - a.rule.priority || a.seq - b.seq).map((x) => x.rule);
        expect(cls.rules()).toEqual(order);
        for (let i = 0; i < 10; i++) {
          // Criteria: a rule's own match, or a looser one (some of its mask words dropped).
          const base = rules.length > 0 && i % 3 !== 0 ? rules[rnd() % rules.length] : world.rule(s.priorities, "q");
          const m = base.match.clone();
          if (i % 2 === 1) for (let w = 0; w < L.KEY_WORDS; w++) if (rnd() % 3 === 0) m.mask[w] = m.value[w] = 0;
          const p = base.priority;
          const exact = model.slots.find((x) => x.rule.priority === p && x.rule.match.equals(m));
          expect(cls.findExact(m, p)).toBe(exact ? exact.rule : null);
          expect(cls.findMatches(m, true, p)).toEqual(exact ? [exact.rule] : []);
          expect(cls.findMatches(m, false)).toEqual(order.filter((r) => r.match.isSubsetOf(m)));
          const overlapping = model.slots.some((x) => {
            if (x.rule.priority !== p) return false;
            for (let w = 0; w < L.KEY_WORDS; w++) {
              if (((x.rule.match.value[w] ^ m.value[w]) & x.rule.match.mask[w] & m.mask[w]) !== 0) return false;
            }
            return true;
          });
          expect(cls.overlaps(m, p)).toBe(overlapping);
        }
      }),
      { seed: 5150, numRuns: 200 },
    );
  });

  it("answers the same for keys passed at an offset in a batch, with wc at an offset", () => {
    const cls = new Classifier<Rule>();
    const r = new Rule(match({ eth_type: 0x800n, ip_dst: [ip("10.0.0.0"), prefix32(8)] }), 5, "r");
    cls.insert(r);
    const keys = new Uint32Array(3 * L.KEY_WORDS);
    keys.set(key({ eth_type: 0x800n, ip_dst: ip("10.1.2.3") }), 2 * L.KEY_WORDS);
    const wc = new Uint32Array(2 * L.KEY_WORDS);
    expect(cls.lookup(keys, 2 * L.KEY_WORDS, wc, L.KEY_WORDS)).toBe(r);
    expect(wc.subarray(0, L.KEY_WORDS).every((w) => w === 0)).toBe(true);
    expect(wc[L.KEY_WORDS + L.W_NW_DST]).toBe(0xff000000);
  });
});

// ---------------------------------------------------------------------------
// Conjunctive matches against a linear scan of their definition.
// ---------------------------------------------------------------------------

/** A rule with the conjunctions that make it a clause flow (empty: an ordinary rule). */
interface ConjRule {
  rule: Rule;
  conj: Conjunction[];
  seq: number;
}

/**
 * ovs-fields(7)'s definition, by linear scan: the best ordinary rule H;
 * then, from the highest priority p above H down, the conjunctions every
 * clause of which a clause flow of priority p matches; a lookup of the
 * ordinary rules with conj_id set to such an id answers (when several ids
 * complete at one priority, OVS leaves the choice open, so the model
 * returns every acceptable answer).
 */
function conjModel(all: ConjRule[], k: Uint32Array): Set<Rule | null> {
  const hard = (key: Uint32Array): Rule | null => {
    let best: ConjRule | null = null;
    for (const r of all) {
      if (r.conj.length > 0 || !r.rule.match.matchesKey(key, 0)) continue;
      if (!best || r.rule.priority > best.rule.priority || (r.rule.priority === best.rule.priority && r.seq > best.seq)) best = r;
    }
    return best ? best.rule : null;
  };
  const h = hard(k);
  const hPriority = h ? h.priority : -Infinity;
  const soft = all.filter((r) => r.conj.length > 0 && r.rule.priority > hPriority && r.rule.match.matchesKey(k, 0));
  const priorities = [...new Set(soft.map((r) => r.rule.priority))].sort((a, b) => b - a);
  for (const p of priorities) {
    const clauses = new Map<number, { n: number; seen: Set<number> }>();
    for (const r of soft) {
      if (r.rule.priority !== p) continue;
      for (const c of r.conj) {
        const e = clauses.get(c.id) ?? { n: c.nClauses, seen: new Set<number>() };
        e.seen.add(c.clause);
        clauses.set(c.id, e);
      }
    }
    const answers = new Set<Rule | null>();
    for (const [id, e] of clauses) {
      if (e.seen.size !== e.n) continue;
      const k2 = k.slice();
      k2[L.W_CONJ_ID] = id;
      const r = hard(k2);
      if (r) answers.add(r);
    }
    if (answers.size > 0) return answers;
  }
  return new Set([h]);
}

describe("Classifier conjunctive matches", () => {
  const conjScenario = fc.record({
    seed: fc.integer({ min: 0, max: 0x7fffffff }),
    rules: fc.integer({ min: 0, max: 40 }),
    conjs: fc.integer({ min: 1, max: 6 }),
    masks: fc.integer({ min: 1, max: 10 }),
    priorities: fc.integer({ min: 1, max: 5 }),
  });

  it("returns what the definition's linear scan returns, and the same for every key that agrees on wc", () => {
    fc.assert(
      fc.property(conjScenario, (s) => {
        const rnd = mulberry32(s.seed);
        const world = new World(rnd, s.masks);
        const cls = new Classifier<Rule>();
        const all: ConjRule[] = [];
        // Rules with identical matches at other priorities are left out: OVS
        // then sees only the best of them at first (next_visible_rule_in_list),
        // which the definition does not describe; the pipeline differential
        // covers that case against OVS itself.
        const add = (rule: Rule, conj: Conjunction[]): ConjRule | null => {
          if (all.some((r) => r.rule.match.equals(rule.match))) return null;
          const r = { rule, conj, seq: all.length };
          cls.insert(rule, conj.length ? conj : null);
          all.push(r);
          return r;
        };
        const lift = (r: Rule): Rule => new Rule(r.match, r.priority + 1, r.name);
        // A catch-all at priority 0, so a repeated lookup always finds a rule.
        add(new Rule(new Match(), 0, "catch-all"), []);
        for (let i = 0; i < s.rules; i++) add(lift(world.rule(s.priorities, `r${i}`)), []);
        const clauseFlows: ConjRule[][] = [];
        for (let id = 1; id <= s.conjs; id++) {
          const n = 2 + (rnd() % 3);
          const priority = 1 + (rnd() % s.priorities);
          const flows: ConjRule[] = [];
          for (let k = 1; k <= n; k++) {
            for (let j = 0, m = 1 + (rnd() % 2); j < m; j++) {
              const base = world.rule(1, `c${id}.${k}.${j}`);
              // Now and then one clause flow serves two conjunctions of its priority.
              const other = clauseFlows.find((f) => f.length > 0 && f[0].rule.priority === priority && rnd() % 3 === 0);
              const conj: Conjunction[] = [{ id, clause: k, nClauses: n }];
              if (other) conj.push(other[0].conj[0]);
              const r = add(new Rule(base.match, priority, base.name), conj);
              if (r) flows.push(r);
            }
          }
          clauseFlows.push(flows);
          for (let j = 0, m = rnd() % 3; j < m; j++) {
            const base = lift(world.rule(s.priorities, `id${id}.${j}`));
            const match = base.match.clone();
            match.mask[L.W_CONJ_ID] = 0xffffffff;
            match.value[L.W_CONJ_ID] = id;
            add(new Rule(match, base.priority, base.name), []);
          }
        }
        for (let i = 0; i < 40; i++) {
          // Keys built to hit one conjunction's clause flows (one per clause, the last written winning where they disagree).
          const flows = clauseFlows[rnd() % clauseFlows.length];
          let k = world.key(null);
          if (i % 4 !== 0) for (const f of flows) if (rnd() % 3 !== 0) k = world.agreeing(f.rule.match.value, f.rule.match.mask, null).map((v, w) => (w === L.W_CONJ_ID ? v : (k[w] & ~f.rule.match.mask[w]) | (v & f.rule.match.mask[w])));
          k[L.W_CONJ_ID] = 0;
          const expected = conjModel(all, k);
          const got = cls.lookup(k, 0, null, 0);
          expect(expected.has(got)).toBe(true);
          const wc = newWc();
          expect(cls.lookup(k, 0, wc, 0)).toBe(got);
          expect(k[L.W_CONJ_ID]).toBe(0);
          for (let t = 0; t < 4; t++) {
            const k2 = t < 3 ? world.agreeing(k, wc, null) : world.flipped(k, wc);
            if (!k2) continue;
            k2[L.W_CONJ_ID] = 0;
            expect(conjModel(all, k2).has(got)).toBe(true);
            expect(cls.lookup(k2, 0, newWc(), 0)).toBe(got);
          }
        }
      }),
      { seed: 31337, numRuns: 300 },
    );
  });

  it("stops treating a rule as a clause flow when its conjunctions are taken away, and on replace or remove", () => {
    const cls = new Classifier<Rule>();
    const a = new Rule(match({ eth_type: 0x800n, ip_src: ip("10.0.0.1") }), 10, "a");
    const b = new Rule(match({ eth_type: 0x800n, nw_proto: 17n }), 10, "b");
    const target = new Rule(match({ conj_id: 7n }), 10, "target");
    const low = new Rule(new Match(), 1, "low");
    cls.insert(a, [{ id: 7, clause: 1, nClauses: 2 }]);
    cls.insert(b, [{ id: 7, clause: 2, nClauses: 2 }]);
    cls.insert(target);
    cls.insert(low);
    const k = key({ eth_type: 0x800n, ip_src: ip("10.0.0.1"), nw_proto: 17n });
    expect(cls.lookup(k, 0, newWc(), 0)).toBe(target);
    expect(cls.conjunctionsOf(b)).toEqual([{ id: 7, clause: 2, nClauses: 2 }]);
    // b's other clause is missing: the conjunction cannot complete.
    const k2 = key({ eth_type: 0x800n, ip_src: ip("10.0.0.2"), nw_proto: 17n });
    expect(cls.lookup(k2, 0, newWc(), 0)).toBe(low);
    cls.setConjunctions(b, null);
    expect(cls.lookup(k, 0, newWc(), 0)).toBe(b);
    const b2 = new Rule(b.match, 10, "b2");
    cls.setConjunctions(b, [{ id: 7, clause: 2, nClauses: 2 }]);
    expect(cls.replace(b2)).toBe(b);
    expect(cls.lookup(k, 0, newWc(), 0)).toBe(b2);
    cls.remove(b2);
    expect(cls.lookup(k, 0, newWc(), 0)).toBe(low);
  });
});

describe("Classifier wildcards", () => {
  it("un-wildcards only the prefix bits a miss needs (nw_dst=10.0.0.0/24, key 192.168.1.1)", () => {
    const cls = new Classifier<Rule>();
    cls.insert(new Rule(match({ ip_dst: [ip("10.0.0.0"), prefix32(24)] }), 10, "r"));
    const wc = newWc();
    expect(cls.lookup(key({ eth_type: 0x800n, ip_dst: ip("192.168.1.1") }), 0, wc, 0)).toBe(null);
    // 10.x and 192.x differ in the first bit: that bit alone proves the miss.
    expect(wc[L.W_NW_DST]).toBe(0x80000000);
    expect(wc.reduce((n, w, i) => (i === L.W_NW_DST ? n : n + w), 0)).toBe(0);
  });

  it("does not use the nw_dst trie for an ARP key, whose nw_dst is arp_tpa (trie_lookup prerequisites)", () => {
    const cls = new Classifier<Rule>();
    cls.insert(new Rule(match({ eth_type: 0x806n, arp_op: 1n, arp_tpa: ip("10.0.0.8") }), 10, "r"));
    const wc = newWc();
    expect(cls.lookup(key({ eth_type: 0x806n, arp_op: 1n, arp_tpa: ip("10.0.0.9") }), 0, wc, 0)).toBe(null);
    // The staged lookup's L3 stage decided the miss: arp_op and all of arp_tpa.
    expect(wc[L.W_NW_DST]).toBe(0xffffffff);
    expect(wc[L.W_NW] & 0xff).toBe(0xff);
  });

  it("un-wildcards the bits down to where the key leaves the trie", () => {
    const cls = new Classifier<Rule>();
    cls.insert(new Rule(match({ eth_type: 0x800n, ip_dst: [ip("10.0.0.0"), prefix32(24)] }), 10, "r"));
    const wc = newWc();
    expect(cls.lookup(key({ eth_type: 0x800n, ip_dst: ip("10.0.128.1") }), 0, wc, 0)).toBe(null);
    expect(wc[L.W_NW_DST]).toBe(Number(prefix32(17)));
    expect(wc[L.W_DL_TYPE]).toBe(0xffff);
  });

  it("un-wildcards the whole prefix on a hit", () => {
    const cls = new Classifier<Rule>();
    const r = new Rule(match({ ip_dst: [ip("10.0.0.0"), prefix32(24)] }), 10, "r");
    cls.insert(r);
    const wc = newWc();
    expect(cls.lookup(key({ ip_dst: ip("10.0.0.7") }), 0, wc, 0)).toBe(r);
    expect(wc[L.W_NW_DST]).toBe(0xffffff00);
  });

  it("tracks IPv6 prefixes across words", () => {
    const cls = new Classifier<Rule>();
    const v6 = (hi: bigint): bigint => hi << 96n;
    cls.insert(new Rule(match({ ipv6_dst: [v6(0x20010db8n), ((1n << 128n) - 1n) ^ ((1n << 80n) - 1n)] }), 1, "r"));
    const wc = newWc();
    expect(cls.lookup(key({ eth_type: 0x86ddn, ipv6_dst: v6(0xfe800000n) }), 0, wc, 0)).toBe(null);
    expect([...wc.subarray(L.W_IPV6_DST, L.W_IPV6_DST + 4)]).toEqual([0x80000000, 0, 0, 0]);
  });

  it("does not un-wildcard L3 or L4 when L2 already misses", () => {
    const cls = new Classifier<Rule>();
    cls.insert(
      new Rule(match({ eth_dst: 0x0a0000000001n, eth_type: 0x800n, nw_proto: 6n, ip_dst: ip("10.0.0.1"), tcp_dst: 80n }), 1, "r"),
    );
    const wc = newWc();
    const k = key({ eth_dst: 0x0a0000000002n, eth_type: 0x800n, nw_proto: 6n, ip_dst: ip("10.0.0.1"), tcp_dst: 80n });
    expect(cls.lookup(k, 0, wc, 0)).toBe(null);
    for (let w = 0; w < L.KEY_WORDS; w++) {
      const stage = stageOfWord(w);
      if (stage === 1) expect(wc[w]).toBe(w === L.W_DL_DST ? 0xffff : w === L.W_DL_DST + 1 ? 0xffffffff : w === L.W_DL_TYPE ? 0xffff : 0);
      else expect(wc[w]).toBe(0);
    }
  });

  it("un-wildcards nothing past metadata when metadata misses", () => {
    const cls = new Classifier<Rule>();
    cls.insert(new Rule(match({ in_port: 1n, reg3: 7n, eth_type: 0x800n, ip_src: ip("1.2.3.4") }), 1, "r"));
    const wc = newWc();
    expect(cls.lookup(key({ in_port: 2n, reg3: 7n, eth_type: 0x800n, ip_src: ip("1.2.3.4") }), 0, wc, 0)).toBe(null);
    const set = [...wc.keys()].filter((w) => wc[w] !== 0);
    expect(set).toEqual([L.W_IN_PORT, L.W_REGS + 3]);
  });

  it("un-wildcards only the port bits a miss needs", () => {
    const cls = new Classifier<Rule>();
    cls.insert(new Rule(match({ eth_type: 0x800n, nw_proto: 6n, tcp_dst: 80n }), 1, "r"));
    const wc = newWc();
    expect(cls.lookup(key({ eth_type: 0x800n, nw_proto: 6n, tcp_dst: 443n }), 0, wc, 0)).toBe(null);
    // 80 = 0x0050 and 443 = 0x01bb first differ at 0x0100: the high byte decides.
    expect(wc[L.W_TP]).toBe(0x0000ff00);
    expect(wc[L.W_DL_TYPE]).toBe(0xffff);
  });

  it("un-wildcards tcp_flags when the ports match but the flags do not", () => {
    const cls = new Classifier<Rule>();
    const r = new Rule(match({ eth_type: 0x800n, nw_proto: 6n, tcp_dst: 80n, tcp_flags: [2n, 2n] }), 1, "syn");
    cls.insert(r);
    const wc = newWc();
    const ack = key({ eth_type: 0x800n, nw_proto: 6n, tcp_dst: 80n, tcp_flags: 0x10n });
    expect(cls.lookup(ack, 0, wc, 0)).toBe(null);
    expect(wc[L.W_TCP_FLAGS] & 2).toBe(2);
    const syn = ack.slice();
    syn[L.W_TCP_FLAGS] = 0x12;
    expect(cls.lookup(syn, 0, null, 0)).toBe(r);
  });

  it("un-wildcards the port bits the ports trie needs and the rest of the L4 stage whole when both miss", () => {
    // OVS 3.1 (tcp,tp_dst=1000,tcp_flags=+fin; SYN+ACK to port 53): Megaflow tp_dst=0x0/0xfe00,tcp_flags=-fin.
    const cls = new Classifier<Rule>();
    cls.insert(new Rule(match({ eth_type: 0x800n, nw_proto: 6n, tcp_dst: 1000n, tcp_flags: [1n, 1n] }), 1, "fin"));
    const wc = newWc();
    expect(cls.lookup(key({ eth_type: 0x800n, nw_proto: 6n, tcp_dst: 53n, tcp_flags: 0x12n }), 0, wc, 0)).toBe(null);
    expect(wc[L.W_TP]).toBe(0x0000fe00);
    expect(wc[L.W_TCP_FLAGS] & 0xfff).toBe(1);
  });

  it("stops at the first subtable that cannot beat the best rule, un-wildcarding nothing of the rest", () => {
    const cls = new Classifier<Rule>();
    const hi = new Rule(match({ in_port: 1n }), 100, "hi");
    cls.insert(hi);
    cls.insert(new Rule(match({ eth_type: 0x800n, ip_src: ip("1.1.1.1") }), 50, "lo"));
    const wc = newWc();
    expect(cls.lookup(key({ in_port: 1n, eth_type: 0x800n, ip_src: ip("1.1.1.1") }), 0, wc, 0)).toBe(hi);
    expect(wc[L.W_IN_PORT]).toBe(0xffff);
    expect(wc[L.W_DL_TYPE]).toBe(0);
    expect(wc[L.W_NW_SRC]).toBe(0);
  });
});

describe("Classifier rules of equal priority", () => {
  it("answers with the rule whose slot was created last, and replacing keeps the slot", () => {
    const cls = new Classifier<Rule>();
    const a = new Rule(match({ in_port: 1n }), 5, "a");
    const b = new Rule(match({ eth_type: 0x800n }), 5, "b");
    cls.insert(a);
    cls.insert(b);
    const k = key({ in_port: 1n, eth_type: 0x800n });
    expect(cls.lookup(k, 0, newWc(), 0)).toBe(b);
    const a2 = new Rule(match({ in_port: 1n }), 5, "a2");
    expect(cls.replace(a2)).toBe(a);
    expect(cls.lookup(k, 0, newWc(), 0)).toBe(b);
    expect(cls.rules()).toEqual([a2, b]);
    cls.remove(b);
    expect(cls.lookup(k, 0, null, 0)).toBe(a2);
  });
});

describe("Classifier control plane", () => {
  const a = new Rule(match({ eth_type: 0x800n, ip_dst: [ip("10.0.0.0"), prefix32(8)] }), 10, "a");
  const b = new Rule(match({ eth_type: 0x800n, ip_dst: [ip("10.1.0.0"), prefix32(16)] }), 20, "b");
  const c = new Rule(match({ eth_type: 0x800n, ip_dst: ip("10.1.2.3"), nw_proto: 6n }), 20, "c");
  const d = new Rule(match({ eth_type: 0x86ddn }), 30, "d");
  const e = new Rule(match({ eth_type: 0x800n, ip_dst: [ip("10.0.0.0"), prefix32(8)] }), 40, "e");
  const all = (): Classifier<Rule> => {
    const cls = new Classifier<Rule>();
    for (const r of [a, b, c, d, e]) cls.insert(r);
    return cls;
  };

  it("counts rules and iterates by priority, then insertion", () => {
    const cls = all();
    expect(cls.count).toBe(5);
    expect([...cls]).toEqual([e, d, b, c, a]);
    expect(cls.subtableCount).toBe(4);
  });

  it("finds a rule by exact match and priority", () => {
    const cls = all();
    expect(cls.findExact(a.match.clone(), 10)).toBe(a);
    expect(cls.findExact(a.match, 40)).toBe(e);
    expect(cls.findExact(a.match, 11)).toBe(null);
    expect(cls.findExact(match({ eth_type: 0x800n }), 10)).toBe(null);
  });

  it("selects strictly: same match and priority", () => {
    const cls = all();
    expect(cls.findMatches(b.match, true, 20)).toEqual([b]);
    expect(cls.findMatches(b.match, true, 10)).toEqual([]);
  });

  it("selects non-strictly: every rule at least as specific, any priority", () => {
    const cls = all();
    expect(cls.findMatches(match({ eth_type: 0x800n }), false)).toEqual([e, b, c, a]);
    expect(cls.findMatches(match({ eth_type: 0x800n, ip_dst: [ip("10.1.0.0"), prefix32(16)] }), false)).toEqual([b, c]);
    expect(cls.findMatches(match({ eth_type: 0x800n, ip_dst: [ip("10.0.0.0"), prefix32(8)] }), false)).toEqual([e, b, c, a]);
    expect(cls.findMatches(new Match(), false)).toEqual([e, d, b, c, a]);
    expect(cls.findMatches(match({ in_port: 1n }), false)).toEqual([]);
  });

  it("tells overlapping rules of equal priority apart from disjoint ones", () => {
    const cls = all();
    expect(cls.overlaps(match({ nw_proto: 6n }), 20)).toBe(true);
    expect(cls.overlaps(match({ eth_type: 0x800n, ip_dst: ip("10.2.0.0") }), 20)).toBe(false);
    expect(cls.overlaps(match({ eth_type: 0x800n, ip_dst: ip("10.1.9.9") }), 20)).toBe(true);
    expect(cls.overlaps(match({ in_port: 3n }), 21)).toBe(false);
    expect(cls.overlaps(match({ eth_type: 0x800n }), 30)).toBe(false);
  });

  it("refuses a match whose value has bits outside its mask", () => {
    const cls = new Classifier<Rule>();
    const m = new Match();
    m.value[L.W_IN_PORT] = 1;
    expect(() => cls.insert(new Rule(m, 1, "bad"))).toThrow(/outside its mask/);
  });

  it("refuses to insert an identical rule and to insert one object twice", () => {
    const cls = new Classifier<Rule>();
    cls.insert(a);
    expect(() => cls.insert(new Rule(a.match, a.priority, "a'"))).toThrow(/identical/);
    expect(cls.rules()).toEqual([a]);
    expect(() => cls.replace(a)).toThrow(/already/);
  });

  it("can track no prefixes at all and still answer correctly", () => {
    const cls = new Classifier<Rule>({ prefixFields: [] });
    cls.insert(new Rule(match({ ip_dst: [ip("10.0.0.0"), prefix32(24)] }), 10, "r"));
    const wc = newWc();
    expect(cls.lookup(key({ ip_dst: ip("192.168.1.1") }), 0, wc, 0)).toBe(null);
    expect(wc[L.W_NW_DST]).toBe(0xffffff00);
  });
});

describe("PrefixTrie", () => {
  it("reports every prefix length that matches, and prunes on removal", () => {
    const t = new PrefixTrie(32);
    const v = (s: string) => new Uint32Array([Number(ip(s))]);
    t.insert(v("10.0.0.0"), 0, 8);
    t.insert(v("10.1.0.0"), 0, 16);
    t.insert(v("10.1.2.0"), 0, 24);
    t.insert(v("10.1.2.0"), 0, 24);
    const plens = new Uint32Array(4);
    const bits = t.lookup(v("10.1.2.3"), 0, plens, 0);
    expect(plens[0] >>> 0).toBe((1 << 31 - 7 | 1 << 31 - 15 | 1 << 31 - 23) >>> 0);
    expect(bits).toBe(24);
    plens.fill(0);
    // 10.1.3.0 leaves 10.1.2.0/24 at its last bit, where the trie branches.
    expect(t.lookup(v("10.1.3.0"), 0, plens, 0)).toBe(24);
    plens.fill(0);
    // 10.1.128.0 leaves at bit 16, where 10.1.2.0/24 goes the other way: 17 bits decide.
    expect(t.lookup(v("10.1.128.0"), 0, plens, 0)).toBe(17);
    expect(plens[0] >>> 0).toBe((1 << 31 - 7 | 1 << 31 - 15) >>> 0);
    plens.fill(0);
    t.lookup(v("10.1.3.0"), 0, plens, 0);
    expect(plens[0] >>> 0).toBe((1 << 31 - 7 | 1 << 31 - 15) >>> 0);
    t.remove(v("10.1.2.0"), 0, 24);
    t.remove(v("10.1.2.0"), 0, 24);
    t.remove(v("10.1.0.0"), 0, 16);
    t.remove(v("10.0.0.0"), 0, 8);
    expect(t.nodeCount).toBe(0);
    expect(() => t.remove(v("10.0.0.0"), 0, 8)).toThrow();
  });

  /** Whether some stored (prefix, length) has the key's first `len` bits. */
  const modelHas = (stored: { words: Uint32Array; len: number }[], k: Uint32Array, len: number): boolean =>
    stored.some((p) => {
      if (p.len !== len) return false;
      for (let i = 0; i < len; i++) {
        const bit = (x: Uint32Array) => (x[i >>> 5] >>> (31 - (i & 31))) & 1;
        if (bit(p.words) !== bit(k)) return false;
      }
      return true;
    });

  for (const [bits, chunkBits] of [
    [32, 32],
    [32, 5],
    [128, 32],
    [128, 7],
  ] as const) {
    it(`agrees with a list of prefixes under random inserts and removals (${bits}-bit field, ${chunkBits} bits per node)`, () => {
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 0x7fffffff }), fc.integer({ min: 1, max: 60 }), (seed, n) => {
          const rnd = mulberry32(seed);
          const words = bits >>> 5;
          // Values share long prefixes so that nodes split and merge.
          const base = new Uint32Array(words).map(() => rnd());
          const near = (): Uint32Array => {
            const v = base.slice();
            for (let f = rnd() % 3; f > 0; f--) {
              const b = rnd() % bits;
              v[b >>> 5] ^= 1 << (31 - (b & 31));
            }
            return v;
          };
          const t = new PrefixTrie(bits, chunkBits);
          const stored: { words: Uint32Array; len: number }[] = [];
          const check = (): void => {
            for (let q = 0; q < 8; q++) {
              const k = near();
              const plens = new Uint32Array(4);
              const decided = t.lookup(k, 0, plens, 0);
              for (let len = 1; len <= bits; len++) {
                const set = ((plens[(len - 1) >>> 5] >>> (31 - ((len - 1) & 31))) & 1) === 1;
                expect(set).toBe(modelHas(stored, k, len));
              }
              // Keys that agree on the decided bits see no rule where k saw none.
              const k2 = near();
              for (let i = 0; i < decided; i++) {
                const m = 1 << (31 - (i & 31));
                k2[i >>> 5] = (k2[i >>> 5] & ~m) | (k[i >>> 5] & m);
              }
              for (let len = 1; len <= bits; len++) {
                if (!modelHas(stored, k, len)) expect(modelHas(stored, k2, len)).toBe(false);
              }
            }
          };
          for (let i = 0; i < n; i++) {
            const p = { words: near(), len: 1 + (rnd() % bits) };
            t.insert(p.words, 0, p.len);
            stored.push(p);
          }
          check();
          while (stored.length > 0) {
            const p = stored.splice(rnd() % stored.length, 1)[0];
            t.remove(p.words, 0, p.len);
            if (rnd() % 4 === 0) check();
          }
          expect(t.nodeCount).toBe(0);
        }),
        { seed: 4242, numRuns: bits === 32 ? 60 : 25 },
      );
    });
  }

  it("answers from its jump table exactly as a walk from the root does, and stops using it when changed", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0x7fffffff }), (seed) => {
        const rnd = mulberry32(seed);
        // Prefixes of every length under a few networks (the root holds no
        // bits), all under 10/8 (the table's index starts after the root's 8
        // bits) or all under 172.16.16/20 (after 16 of the root's bits): the
        // index bits hold dense and sparse parts, rules and nodes that
        // straddle its end; enough of them for the table to be built.
        const family = seed % 3;
        const tops = family === 0 ? [0x0a000000, 0xac100000, 0xc0a80000, rnd()] : family === 1 ? [0x0a000000] : [0xac101000];
        const common = family === 0 ? 8 : family === 1 ? 8 : 20;
        const prefixes: { v: Uint32Array; len: number }[] = [];
        for (let i = 0; i < 700; i++) {
          const top = tops[rnd() % tops.length];
          const len = family === 0 ? 1 + (rnd() % 32) : common + (rnd() % (33 - common));
          const v = (top ^ (rnd() >>> (common + (rnd() % (32 - common))))) & (len === 32 ? ~0 : ~(~0 >>> len));
          prefixes.push({ v: new Uint32Array([v]), len });
        }
        const jumping = new PrefixTrie(32, 32, 0);
        const walking = new PrefixTrie(32);
        const add = (p: { v: Uint32Array; len: number }): void => {
          jumping.insert(p.v, 0, p.len);
          walking.insert(p.v, 0, p.len);
        };
        prefixes.forEach(add);
        const compare = (): void => {
          const a = new Uint32Array(4);
          const b = new Uint32Array(4);
          for (let q = 0; q < 300; q++) {
            // Keys near stored prefixes (differing in a few bits) and random ones.
            const k = new Uint32Array([q % 3 === 0 ? rnd() : prefixes[rnd() % prefixes.length].v[0] ^ (1 << rnd() % 32) ^ (rnd() & (rnd() >>> (rnd() % 32)))]);
            a.fill(0);
            b.fill(0);
            expect(jumping.lookup(k, 0, a, 0)).toBe(walking.lookup(k, 0, b, 0));
            expect(a[0] >>> 0).toBe(b[0] >>> 0);
          }
        };
        compare();
        expect(jumping.jumping).toBe(true);
        expect(walking.jumping).toBe(false);
        // A change makes the table stale; the next lookup rebuilds it (jumpAfterLookups 0).
        for (let i = 0; i < 200; i++) {
          const p = prefixes.splice(rnd() % prefixes.length, 1)[0];
          jumping.remove(p.v, 0, p.len);
          walking.remove(p.v, 0, p.len);
          expect(jumping.jumping).toBe(false);
          if (i % 50 === 0) compare();
        }
        compare();
      }),
      { seed: 77, numRuns: 30 },
    );
  });

  it("builds its jump table only after the given number of unchanged lookups, and only when big", () => {
    const t = new PrefixTrie(32, 32, 10);
    const plens = new Uint32Array(4);
    const rnd = mulberry32(5);
    for (let i = 0; i < 400; i++) t.insert(new Uint32Array([rnd() & ~0xff]), 0, 24);
    for (let i = 0; i < 9; i++) t.lookup(new Uint32Array([rnd()]), 0, plens, 0);
    expect(t.jumping).toBe(false);
    t.lookup(new Uint32Array([rnd()]), 0, plens, 0);
    expect(t.jumping).toBe(true);
    const small = new PrefixTrie(32, 32, 0);
    small.insert(new Uint32Array([0x0a000000]), 0, 8);
    small.lookup(new Uint32Array([0x0a010203]), 0, plens, 0);
    expect(small.jumping).toBe(false);
  });

  it("measures CIDR prefix lengths and rejects other masks", () => {
    expect(prefixLength(new Uint32Array([0xffffff00]), 0, 32)).toBe(24);
    expect(prefixLength(new Uint32Array([0xffffffff]), 0, 32)).toBe(32);
    expect(prefixLength(new Uint32Array([0]), 0, 32)).toBe(0);
    expect(prefixLength(new Uint32Array([0x00ffffff]), 0, 32)).toBe(0);
    expect(prefixLength(new Uint32Array([0xffffffff, 0xffff0000, 0, 0]), 0, 128)).toBe(48);
    expect(prefixLength(new Uint32Array([0xffffffff, 0, 1, 0]), 0, 128)).toBe(0);
  });
});

describe("rules that share mask arrays", () => {
  it("finds the right subtable when one mask array serves several rules, and after it is reused for another mask", () => {
    const cls = new Classifier<Rule>();
    const shared = match({ ip_dst: [0n, prefix32(24)], eth_type: 0x0800n }).mask;
    const a = new Rule(new Match(match({ ip_dst: ip("10.0.0.0"), eth_type: 0x0800n }).value, shared), 10, "a");
    const b = new Rule(new Match(match({ ip_dst: ip("10.0.1.0"), eth_type: 0x0800n }).value, shared), 10, "b");
    cls.insert(a);
    cls.insert(b);
    expect(cls.subtableCount).toBe(1);
    expect(cls.lookup(key({ ip_dst: ip("10.0.1.7"), eth_type: 0x0800n }), 0, newWc(), 0)).toBe(b);
    expect(cls.findExact(b.match, 10)).toBe(b);
    // A rule with its own copy of the /24 mask keeps the /24 subtable alive.
    const keep = new Rule(match({ ip_dst: [ip("10.9.9.0"), prefix32(24)], eth_type: 0x0800n }), 1, "keep");
    cls.insert(keep);
    cls.remove(a);
    cls.remove(b);
    // The same array now holds a /16 mask: a rule using it must go to a /16 subtable.
    shared.set(match({ ip_dst: [0n, prefix32(16)], eth_type: 0x0800n }).mask);
    const c = new Rule(new Match(match({ ip_dst: ip("10.1.0.0"), eth_type: 0x0800n }).value, shared), 5, "c");
    cls.insert(c);
    const d = new Rule(match({ ip_dst: [ip("10.2.0.0"), prefix32(24)], eth_type: 0x0800n }), 5, "d");
    cls.insert(d);
    expect(cls.subtableCount).toBe(2);
    expect(cls.lookup(key({ ip_dst: ip("10.1.200.1"), eth_type: 0x0800n }), 0, newWc(), 0)).toBe(c);
    expect(cls.lookup(key({ ip_dst: ip("10.9.9.9"), eth_type: 0x0800n }), 0, newWc(), 0)).toBe(keep);
    expect(cls.lookup(key({ ip_dst: ip("10.2.0.1"), eth_type: 0x0800n }), 0, newWc(), 0)).toBe(d);
    expect(cls.findExact(d.match, 5)).toBe(d);
  });
});
