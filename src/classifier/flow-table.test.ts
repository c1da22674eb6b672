import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FlowplaneError } from "../errors.js";
import { findField } from "../flow/fields.js";
import * as L from "../flow/layout.js";
import { Match } from "../flow/match.js";
import {
  COOKIE_MASK_EXACT,
  COOKIE_NONE,
  FF_CHECK_OVERLAP,
  FF_RESET_COUNTS,
  FF_SEND_FLOW_REM,
  FlowModError,
  type FlowRule,
  FlowTable,
  PRIORITY_DEFAULT,
} from "./flow-table.js";

/** Actions in these tests: output ports (what out_port filters on) and a label. */
interface Acts {
  out: number[];
  label: string;
}
const acts = (label: string, ...out: number[]): Acts => ({ out, label });

function match(pairs: Record<string, bigint | [bigint, bigint]>): Match {
  const m = new Match();
  for (const [name, v] of Object.entries(pairs)) {
    const f = findField(name);
    if (!f) throw new Error(`no field ${name}`);
    if (Array.isArray(v)) m.setField(f, v[0], v[1]);
    else m.setField(f, v);
  }
  return m;
}

const ip = (s: string): bigint => BigInt(s.split(".").reduce((a, b) => a * 256 + Number(b), 0));

function key(pairs: Record<string, bigint>): Uint32Array {
  const k = new Uint32Array(L.KEY_WORDS);
  k.set(match(pairs).value);
  return k;
}

const labels = (rules: FlowRule<Acts>[]): string[] => rules.map((r) => r.actions.label);

describe("FlowTable add", () => {
  it("adds rules, counts them and lists them by priority, then insertion", () => {
    const t = new FlowTable<Acts>();
    t.add({ match: match({ in_port: 1n }), priority: 10, actions: acts("a") }, 0);
    t.add({ match: match({ in_port: 2n }), priority: 20, actions: acts("b") }, 0);
    t.add({ match: match({ in_port: 3n }), priority: 10, actions: acts("c") }, 0);
    t.add({ match: match({ in_port: 4n }), actions: acts("d") }, 0);
    expect(t.count).toBe(4);
    expect(labels(t.rules())).toEqual(["d", "b", "a", "c"]);
    expect(t.rules()[0].priority).toBe(PRIORITY_DEFAULT);
  });

  it("keeps the added match as the rule's and finds the rule by an equal one", () => {
    const t = new FlowTable<Acts>();
    const m = match({ in_port: 1n });
    const { rule } = t.add({ match: m, actions: acts("a") }, 0);
    expect(rule.match).toBe(m);
    expect(t.find(match({ in_port: 1n }))).toBe(rule);
    expect(t.find(match({ in_port: 1n }), 1)).toBe(null);
  });

  it("replaces a rule with the same match and priority in place, keeping counters and last use", () => {
    const t = new FlowTable<Acts>();
    const first = t.add(
      { match: match({ in_port: 1n }), priority: 5, actions: acts("a"), cookie: 7n, idleTimeout: 10, flags: FF_SEND_FLOW_REM },
      1000,
    );
    expect(first.replaced).toBe(false);
    t.credit(first.rule, 3, 300, 2000);
    const v = t.version;
    const second = t.add({ match: match({ in_port: 1n }), priority: 5, actions: acts("b"), hardTimeout: 30 }, 5000);
    expect(second.replaced).toBe(true);
    expect(second.rule).toBe(first.rule);
    expect(t.count).toBe(1);
    expect(t.version).toBeGreaterThan(v);
    const r = second.rule;
    expect(r.actions.label).toBe("b");
    expect(r.cookie).toBe(0n); // an add without a cookie sets cookie 0
    expect([r.idleTimeout, r.hardTimeout, r.flags]).toEqual([0, 30, 0]);
    expect([r.nPackets, r.nBytes]).toEqual([3, 300]);
    expect([r.createdMs, r.modifiedMs, r.lastUsedMs]).toEqual([5000, 5000, 2000]);
  });

  it("resets counters on a replacing add with reset_counts, and keeps the cookie for COOKIE_NONE", () => {
    const t = new FlowTable<Acts>();
    const { rule } = t.add({ match: match({ in_port: 1n }), actions: acts("a"), cookie: 0x99n }, 0);
    t.credit(rule, 1, 64, 10);
    t.add({ match: match({ in_port: 1n }), actions: acts("b"), cookie: COOKIE_NONE, flags: FF_RESET_COUNTS }, 20);
    expect([rule.nPackets, rule.nBytes, rule.cookie]).toEqual([0, 0, 0x99n]);
    expect(rule.flags).toBe(FF_RESET_COUNTS);
  });

  it("refuses with check_overlap a rule that overlaps one of the same priority, and changes nothing", () => {
    const t = new FlowTable<Acts>();
    t.add({ match: match({ in_port: 1n }), priority: 5, actions: acts("a") }, 0);
    const v = t.version;
    const overlapping = { match: match({ eth_type: 0x800n }), priority: 5, actions: acts("b"), flags: FF_CHECK_OVERLAP };
    expect(() => t.add(overlapping, 0)).toThrow(FlowModError);
    try {
      t.add(overlapping, 0);
    } catch (e) {
      expect(e).toBeInstanceOf(FlowplaneError);
      expect((e as FlowModError).code).toBe("FP_ERR_FLOW_OVERLAP");
      expect((e as FlowModError).ofpError).toBe("OFPFMFC_OVERLAP");
    }
    expect(t.count).toBe(1);
    expect(t.version).toBe(v);
    // A different priority, a disjoint match, or no flag: accepted.
    t.add({ ...overlapping, priority: 6 }, 0);
    t.add({ match: match({ in_port: 2n }), priority: 5, actions: acts("c"), flags: FF_CHECK_OVERLAP }, 0);
    t.add({ ...overlapping, flags: 0 }, 0);
    // An identical rule is replaced, not refused.
    expect(t.add({ match: match({ in_port: 1n }), priority: 5, actions: acts("a2"), flags: FF_CHECK_OVERLAP }, 0).replaced).toBe(true);
    expect(t.count).toBe(4);
  });

  it("refuses a new rule when full but still replaces", () => {
    const t = new FlowTable<Acts>({ flowsMax: 2 });
    t.add({ match: match({ in_port: 1n }), actions: acts("a") }, 0);
    t.add({ match: match({ in_port: 2n }), actions: acts("b") }, 0);
    expect(() => t.add({ match: match({ in_port: 3n }), actions: acts("c") }, 0)).toThrow(/OFPFMFC_TABLE_FULL/);
    expect(t.add({ match: match({ in_port: 2n }), actions: acts("b2") }, 0).replaced).toBe(true);
    t.delete({ match: match({ in_port: 1n }), strict: true });
    t.add({ match: match({ in_port: 3n }), actions: acts("c") }, 0);
    expect(labels(t.rules())).toEqual(["b2", "c"]);
  });

  it("rejects out-of-range priorities, timeouts and cookies as bugs", () => {
    const t = new FlowTable<Acts>();
    expect(() => t.add({ match: new Match(), priority: 65536, actions: acts("a") }, 0)).toThrow(/priority/);
    expect(() => t.add({ match: new Match(), idleTimeout: -1, actions: acts("a") }, 0)).toThrow(/idle_timeout/);
    expect(() => t.add({ match: new Match(), cookie: 1n << 64n, actions: acts("a") }, 0)).toThrow(/cookie/);
    expect(() => t.add({ match: new Match(), flags: 1 << 9, actions: acts("a") }, 0)).toThrow(/flags/);
    expect(t.count).toBe(0);
  });
});

describe("FlowTable selection, modify and delete", () => {
  /** Four rules: two IPv4 ones under 10.0.0.0/8, an ARP one and a catch-all. */
  function table(): FlowTable<Acts> {
    const t = new FlowTable<Acts>();
    t.add({ match: match({ eth_type: 0x800n, ip_dst: ip("10.1.0.0") }), priority: 100, actions: acts("ip1", 1), cookie: 0x11n }, 0);
    t.add(
      { match: match({ eth_type: 0x800n, ip_dst: [ip("10.0.0.0"), 0xff000000n] }), priority: 50, actions: acts("net", 2), cookie: 0x12n },
      0,
    );
    t.add({ match: match({ eth_type: 0x806n }), priority: 100, actions: acts("arp", 1, 3), cookie: 0x21n }, 0);
    t.add({ match: new Match(), priority: 0, actions: acts("miss"), cookie: 0x22n }, 0);
    return t;
  }

  it("selects non-strictly every rule at least as specific, whatever its priority", () => {
    const t = table();
    expect(labels(t.select({ match: match({ eth_type: 0x800n }), strict: false }))).toEqual(["ip1", "net"]);
    expect(labels(t.select({ match: new Match(), strict: false }))).toEqual(["ip1", "arp", "net", "miss"]);
    expect(labels(t.select({ match: match({ eth_type: 0x800n, ip_dst: ip("10.1.0.0") }), strict: false }))).toEqual(["ip1"]);
  });

  it("selects strictly the rule with the same match and priority", () => {
    const t = table();
    expect(labels(t.select({ match: match({ eth_type: 0x806n }), strict: true, priority: 100 }))).toEqual(["arp"]);
    expect(labels(t.select({ match: match({ eth_type: 0x806n }), strict: true, priority: 99 }))).toEqual([]);
    expect(labels(t.select({ match: match({ eth_type: 0x806n }), strict: true }))).toEqual([]);
    expect(labels(t.select({ match: match({ eth_type: 0x800n }), strict: true, priority: 100 }))).toEqual([]);
  });

  it("filters on the cookie under its mask", () => {
    const t = table();
    const all = new Match();
    expect(labels(t.select({ match: all, strict: false, cookie: 0x10n, cookieMask: 0xf0n }))).toEqual(["ip1", "net"]);
    expect(labels(t.select({ match: all, strict: false, cookie: 0x22n, cookieMask: COOKIE_MASK_EXACT }))).toEqual(["miss"]);
    expect(labels(t.select({ match: all, strict: false, cookie: 0x22n }))).toEqual(["ip1", "arp", "net", "miss"]);
  });

  it("modifies the selected rules' actions and keeps their timeouts, flags, creation time and counters", () => {
    const t = new FlowTable<Acts>();
    const { rule } = t.add(
      { match: match({ in_port: 1n, eth_type: 0x800n }), priority: 7, actions: acts("a"), idleTimeout: 5, hardTimeout: 9, flags: FF_SEND_FLOW_REM, cookie: 3n },
      100,
    );
    t.credit(rule, 2, 120, 150);
    const v = t.version;
    const changed = t.modify({ match: match({ in_port: 1n }), strict: false }, { actions: acts("b") }, 400);
    expect(changed).toEqual([rule]);
    expect(t.version).toBeGreaterThan(v);
    expect(rule.actions.label).toBe("b");
    expect([rule.idleTimeout, rule.hardTimeout, rule.flags, rule.cookie]).toEqual([5, 9, FF_SEND_FLOW_REM, 3n]);
    expect([rule.nPackets, rule.nBytes, rule.createdMs, rule.modifiedMs, rule.lastUsedMs]).toEqual([2, 120, 100, 400, 150]);
    t.modify({ match: new Match(), strict: false }, { actions: acts("c"), cookie: 0xaan, flags: FF_RESET_COUNTS }, 500);
    expect([rule.actions.label, rule.cookie, rule.nPackets, rule.nBytes, rule.flags]).toEqual(["c", 0xaan, 0, 0, FF_SEND_FLOW_REM]);
  });

  it("modifies nothing, and adds nothing, when nothing is selected", () => {
    const t = table();
    const v = t.version;
    expect(t.modify({ match: match({ in_port: 9n }), strict: false }, { actions: acts("x") }, 1)).toEqual([]);
    expect(t.modify({ match: match({ eth_type: 0x806n }), strict: true, priority: 1 }, { actions: acts("x") }, 1)).toEqual([]);
    expect(t.version).toBe(v);
    expect(t.count).toBe(4);
  });

  it("modifies strictly and with a cookie filter", () => {
    const t = table();
    t.modify({ match: match({ eth_type: 0x806n }), strict: true, priority: 100 }, { actions: acts("arp2") }, 1);
    t.modify({ match: new Match(), strict: false, cookie: 0x12n, cookieMask: COOKIE_MASK_EXACT }, { actions: acts("net2") }, 1);
    expect(labels(t.rules())).toEqual(["ip1", "arp2", "net2", "miss"]);
  });

  it("deletes non-strictly, strictly, by cookie and by out_port / out_group", () => {
    let t = table();
    expect(labels(t.delete({ match: match({ eth_type: 0x800n }), strict: false }))).toEqual(["ip1", "net"]);
    expect(labels(t.rules())).toEqual(["arp", "miss"]);

    t = table();
    expect(labels(t.delete({ match: new Match(), strict: true, priority: 0 }))).toEqual(["miss"]);
    expect(labels(t.delete({ match: new Match(), strict: true, priority: 1 }))).toEqual([]);

    t = table();
    expect(labels(t.delete({ match: new Match(), strict: false, cookie: 0x20n, cookieMask: 0xf0n }))).toEqual(["arp", "miss"]);

    t = table();
    const outputs = (port: number) => (a: Acts) => a.out.includes(port);
    expect(labels(t.delete({ match: new Match(), strict: false, outPort: outputs(1) }))).toEqual(["ip1", "arp"]);
    expect(labels(t.delete({ match: new Match(), strict: false, outGroup: () => false }))).toEqual([]);
    expect(labels(t.rules())).toEqual(["net", "miss"]);
  });

  it("changes what lookup answers, and bumps the version, on every change", () => {
    const t = table();
    const k = key({ eth_type: 0x800n, ip_dst: ip("10.1.0.0") });
    expect(t.lookup(k, 0, null, 0)?.actions.label).toBe("ip1");
    const v0 = t.version;
    t.delete({ match: match({ eth_type: 0x800n, ip_dst: ip("10.1.0.0") }), strict: true, priority: 100 });
    expect(t.version).toBe(v0 + 1);
    const wc = new Uint32Array(L.KEY_WORDS);
    expect(t.lookup(k, 0, wc, 0)?.actions.label).toBe("net");
    expect(wc[L.W_NW_DST]).not.toBe(0);
    t.delete({ match: new Match(), strict: false });
    expect(t.lookup(k, 0, null, 0)).toBe(null);
    expect(t.count).toBe(0);
    expect(t.version).toBe(v0 + 2);
  });

  it("does not modify with an out_port filter", () => {
    const t = table();
    expect(() => t.modify({ match: new Match(), strict: false, outPort: () => true }, { actions: acts("x") }, 0)).toThrow(/out_port/);
  });
});

describe("FlowTable timeouts and statistics", () => {
  it("expires a rule idle for longer than its idle_timeout, counting from its last use", () => {
    const t = new FlowTable<Acts>();
    const { rule } = t.add({ match: match({ in_port: 1n }), actions: acts("a"), idleTimeout: 10 }, 0);
    expect(t.expire(10_000)).toEqual([]);
    t.credit(rule, 1, 60, 8_000);
    expect(t.expire(18_000)).toEqual([]);
    const v = t.version;
    expect(t.expire(18_001)).toEqual([{ rule, reason: "idle_timeout" }]);
    expect(t.version).toBe(v + 1);
    expect(rule.inTable).toBe(false);
    expect(t.count).toBe(0);
    expect(t.expire(100_000)).toEqual([]);
  });

  it("expires on hard_timeout whatever the traffic, timed from the last add or modify", () => {
    const t = new FlowTable<Acts>();
    const { rule } = t.add({ match: match({ in_port: 1n }), actions: acts("a"), hardTimeout: 5, idleTimeout: 3 }, 0);
    t.credit(rule, 1, 60, 2_900);
    t.modify({ match: match({ in_port: 1n }), strict: true }, { actions: acts("b") }, 4_000);
    t.credit(rule, 1, 60, 5_000);
    t.credit(rule, 1, 60, 8_000);
    expect(t.expire(9_000)).toEqual([]);
    expect(t.expire(9_001)).toEqual([{ rule, reason: "hard_timeout" }]);
  });

  it("stops tracking a rule whose replacing add has no timeouts", () => {
    const t = new FlowTable<Acts>();
    t.add({ match: match({ in_port: 1n }), actions: acts("a"), idleTimeout: 1 }, 0);
    t.add({ match: match({ in_port: 1n }), actions: acts("b") }, 0);
    expect(t.expire(1_000_000)).toEqual([]);
    expect(t.count).toBe(1);
  });

  it("expires several rules at once, in the order they got their timeouts", () => {
    const t = new FlowTable<Acts>();
    const a = t.add({ match: match({ in_port: 1n }), actions: acts("a"), idleTimeout: 1 }, 0).rule;
    t.add({ match: match({ in_port: 2n }), actions: acts("b"), idleTimeout: 100 }, 0);
    const c = t.add({ match: match({ in_port: 3n }), actions: acts("c"), hardTimeout: 1 }, 0).rule;
    t.add({ match: match({ in_port: 4n }), actions: acts("d") }, 0);
    expect(t.expire(1_001)).toEqual([
      { rule: a, reason: "idle_timeout" },
      { rule: c, reason: "hard_timeout" },
    ]);
    expect(labels(t.rules())).toEqual(["b", "d"]);
  });

  it("credits packets and bytes, keeps the last use monotonic, and ignores removed rules", () => {
    const t = new FlowTable<Acts>();
    const { rule } = t.add({ match: match({ in_port: 1n }), actions: acts("a") }, 1_000);
    const v = t.version;
    t.credit(rule, 2, 128, 3_000);
    t.credit(rule, 1, 64, 2_000);
    t.credit(rule, 0, 0, 9_000);
    expect([rule.nPackets, rule.nBytes, rule.lastUsedMs]).toEqual([3, 192, 3_000]);
    expect(t.version).toBe(v);
    expect([rule.durationMs(4_000), rule.idleAgeMs(4_000), rule.hardAgeMs(4_000)]).toEqual([3_000, 1_000, 3_000]);
    t.delete({ match: new Match(), strict: false });
    t.credit(rule, 5, 500, 10_000);
    expect(rule.nPackets).toBe(3);
  });
});

describe("FlowTable against a list model", () => {
  /**
   * The same commands on a plain list, written from the OpenFlow rules
   * rather than from the implementation.
   */
  interface ModelRule {
    match: Match;
    priority: number;
    label: string;
    cookie: bigint;
  }

  it("agrees on the rules after random adds, modifies and deletes", () => {
    const fieldPool: Record<string, bigint | [bigint, bigint]>[] = [
      {},
      { in_port: 1n },
      { in_port: 2n },
      { eth_type: 0x800n },
      { eth_type: 0x800n, ip_dst: [ip("10.0.0.0"), 0xff000000n] },
      { eth_type: 0x800n, ip_dst: ip("10.1.2.3") },
      { in_port: 1n, eth_type: 0x800n },
      { in_port: 1n, eth_type: 0x800n, ip_dst: ip("10.1.2.3") },
    ];
    const command = fc.record({
      kind: fc.constantFrom("add", "modify", "delete"),
      match: fc.integer({ min: 0, max: fieldPool.length - 1 }),
      priority: fc.integer({ min: 0, max: 3 }),
      strict: fc.boolean(),
      cookie: fc.bigInt({ min: 0n, max: 7n }),
      cookieMask: fc.constantFrom(0n, 1n, 7n),
    });
    fc.assert(
      fc.property(fc.array(command, { maxLength: 40 }), (cmds) => {
        const t = new FlowTable<Acts>();
        let model: ModelRule[] = [];
        cmds.forEach((c, i) => {
          const m = match(fieldPool[c.match]);
          const label = `l${i}`;
          const selected = (r: ModelRule): boolean =>
            (c.strict ? r.match.equals(m) && r.priority === c.priority : r.match.isSubsetOf(m)) &&
            ((r.cookie ^ c.cookie) & c.cookieMask) === 0n;
          const sel = { match: m, strict: c.strict, priority: c.priority, cookie: c.cookie, cookieMask: c.cookieMask };
          if (c.kind === "add") {
            t.add({ match: m, priority: c.priority, actions: acts(label), cookie: c.cookie }, i);
            const same = model.find((r) => r.match.equals(m) && r.priority === c.priority);
            if (same) Object.assign(same, { label, cookie: c.cookie });
            else model.push({ match: m, priority: c.priority, label, cookie: c.cookie });
          } else if (c.kind === "modify") {
            t.modify(sel, { actions: acts(label) }, i);
            for (const r of model) if (selected(r)) r.label = label;
          } else {
            t.delete(sel);
            model = model.filter((r) => !selected(r));
          }
          const expected = [...model].sort((a, b) => b.priority - a.priority).map((r) => `${r.priority}:${r.match.format()}:${r.label}:${r.cookie}`);
          const actual = t.rules().map((r) => `${r.priority}:${r.match.format()}:${r.actions.label}:${r.cookie}`);
          expect(actual).toEqual(expected);
        });
      }),
      { seed: 31337, numRuns: 300 },
    );
  });
});

describe("FlowTable conjunctive matches", () => {
  /** Labels "conj:ID,K/N" stand for conjunction actions here. */
  const conjunctionsOf = (a: Acts) => {
    const m = /^conj:(\d+),(\d+)\/(\d+)$/.exec(a.label);
    return m === null ? null : [{ id: Number(m[1]), clause: Number(m[2]), nClauses: Number(m[3]) }];
  };

  it("makes a rule a clause flow on add, on a replacing add and on modify, from its actions", () => {
    const t = new FlowTable<Acts>({ conjunctionsOf });
    const src = match({ eth_type: 0x800n, ip_src: ip("10.0.0.1") });
    const udp = match({ eth_type: 0x800n, nw_proto: 17n });
    t.add({ match: src, priority: 10, actions: acts("conj:3,1/2") }, 0);
    t.add({ match: udp, priority: 10, actions: acts("conj:3,2/2") }, 0);
    const target = t.add({ match: match({ conj_id: 3n }), priority: 10, actions: acts("target", 2) }, 0).rule;
    const low = t.add({ match: new Match(), priority: 1, actions: acts("low", 3) }, 0).rule;
    const k = key({ eth_type: 0x800n, ip_src: ip("10.0.0.1"), nw_proto: 17n });
    expect(t.lookup(k, 0, null, 0)).toBe(target);
    // A replacing add with ordinary actions makes the udp flow an ordinary rule.
    const { rule: udpRule } = t.add({ match: udp, priority: 10, actions: acts("udp", 4) }, 0);
    expect(t.lookup(k, 0, null, 0)).toBe(udpRule);
    // Modify back to a clause.
    expect(t.modify({ match: udp, strict: true, priority: 10 }, { actions: acts("conj:3,2/2") }, 0)).toEqual([udpRule]);
    expect(t.lookup(k, 0, null, 0)).toBe(target);
    t.delete({ match: src, strict: true, priority: 10 });
    expect(t.lookup(k, 0, null, 0)).toBe(low);
  });
});
