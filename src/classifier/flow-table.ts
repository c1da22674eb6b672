/**
 * An OpenFlow flow table: the rules of one table with their OpenFlow state
 * (cookie, timeouts, flags, counters) over a Classifier, and the flow_mod
 * commands as Open vSwitch implements them (ofproto/ofproto.c; ovs-ofctl(8)).
 *
 * Invariants:
 * - At most one rule per (match, priority); the table's classifier holds
 *   exactly the rules whose `inTable` is true.
 * - `version` grows on every change that can alter a lookup's answer or a
 *   rule's actions (add, modify, delete, expiry); the megaflow cache
 *   revalidates when it moves. Counter updates (credit) do not move it.
 * - Time is always passed in (nowMs), never read here, so behaviour is
 *   reproducible.
 *
 * Semantics, following OVS 3.1:
 * - add: a rule with the same match and priority is replaced in place: the
 *   new actions, timeouts, importance and flags apply, creation time and
 *   modification time become now, the cookie becomes the new one (unless it
 *   is COOKIE_NONE, all ones, which keeps the old), and the counters carry
 *   over unless the add has FF_RESET_COUNTS (OpenFlow 1.0 and 1.1 always
 *   reset on add: a front end speaking them sets the flag, as OVS's decoder
 *   does). The last-used time always carries over. Otherwise FF_CHECK_OVERLAP
 *   refuses a rule that a packet could match together with another rule of
 *   the same priority (OFPFMFC_OVERLAP), and a full table refuses the add
 *   (OFPFMFC_TABLE_FULL; OVS's optional eviction is not implemented).
 * - modify: the selected rules get the new actions; timeouts, importance,
 *   flags and creation time stay; the cookie changes only when a new one is
 *   given; counters carry over unless FF_RESET_COUNTS is given; the
 *   modification time becomes now, which restarts the hard timeout as it
 *   does in OVS (it times from the last modification). Selecting nothing
 *   changes nothing: like OVS for OpenFlow 1.2+, modify does not add (an
 *   OpenFlow 1.0 front end adds when this returns no rule).
 * - delete: removes the selected rules; an out_port / out_group filter is a
 *   predicate over the actions, since A is opaque here. remove() takes out
 *   one rule by identity (what a front end holding the rule object wants).
 * - Selection: strict is the same match and priority; non-strict is every
 *   rule whose match is at least as specific as the given one (OVS's
 *   cls_rule_is_loose_match), any priority. Both filter on
 *   (rule.cookie ^ cookie) & cookieMask == 0.
 * - Expiry: a rule with hard_timeout T expires once now > modified + T s;
 *   with idle_timeout T, once now > last used + T s (ofproto-dpif's
 *   rule_expire), hard first.
 * - Conjunctive matches: a rule whose actions the table's conjunctionsOf
 *   maps to conjunction(id, k/n) clauses is a clause flow in the classifier
 *   (see classifier.ts), decided again whenever add or modify sets actions.
 * - Counters: credit() adds packets and bytes whatever the
 *   no_packet_counts / no_byte_counts flags say (OVS keeps them too).
 * - Rules are FlowRule<A> unless the table is given a newRule factory for a
 *   subclass R (a front end's rule carrying its own fields, e.g. the bridge
 *   table id and the parsed flow line); the table creates every rule itself.
 * Limits: flowsMax rules (FLOWS_MAX_DEFAULT unless configured); counters are
 * doubles, exact up to 2^53.
 */
import type { Match } from "../flow/match.js";
import { FlowplaneError, assert } from "../errors.js";
import { Classifier, type ClassifierOptions, type ClsRule, type Conjunction } from "./classifier.js";

/** flow_mod flags (OVS's enum ofputil_flow_mod_flags, same bits). */
export const FF_SEND_FLOW_REM = 1 << 0;
export const FF_NO_PKT_COUNTS = 1 << 1;
export const FF_NO_BYT_COUNTS = 1 << 2;
export const FF_CHECK_OVERLAP = 1 << 3;
export const FF_RESET_COUNTS = 1 << 4;
const FF_ALL = FF_SEND_FLOW_REM | FF_NO_PKT_COUNTS | FF_NO_BYT_COUNTS | FF_CHECK_OVERLAP | FF_RESET_COUNTS;

/** OpenFlow's default priority (OFP_DEFAULT_PRIORITY): what ovs-ofctl uses when a flow names none. */
export const PRIORITY_DEFAULT = 0x8000;
/** "No new cookie" (OVS's OVS_BE64_MAX as new_cookie): an add or modify carrying it keeps the rule's cookie. */
export const COOKIE_NONE = 0xffff_ffff_ffff_ffffn;
/** A cookie mask that compares every bit (ovs-ofctl's cookie=X/-1). */
export const COOKIE_MASK_EXACT = 0xffff_ffff_ffff_ffffn;

/** Rules one table holds unless configured otherwise: about 1 GB of rules
 * at the classifier's per-rule cost, far above what one OpenFlow table of a
 * software switch holds in practice (OVS's own default is unlimited). */
export const FLOWS_MAX_DEFAULT = 1_000_000;

const UINT16_MAX = 0xffff;

/** Why a rule left the table (OpenFlow's ofp_flow_removed_reason). */
export type RemovedReason = "idle_timeout" | "hard_timeout" | "delete";

/** One OpenFlow rule. The table updates it in place on add-replace, modify and credit. */
export class FlowRule<A> implements ClsRule {
  readonly match: Match;
  readonly priority: number;
  cookie: bigint;
  /** Seconds, as in OpenFlow; 0 = none. */
  idleTimeout: number;
  hardTimeout: number;
  importance: number;
  /** FF_* bits. */
  flags: number;
  actions: A;
  nPackets: number;
  nBytes: number;
  createdMs: number;
  /** Last add or modify: the hard timeout counts from here. */
  modifiedMs: number;
  /** Last time a packet was credited (creation time until then): the idle timeout counts from here. */
  lastUsedMs: number;
  /** False once deleted or expired. */
  inTable: boolean;

  constructor(spec: FlowSpec<A>, nowMs: number) {
    this.match = spec.match;
    this.priority = spec.priority ?? PRIORITY_DEFAULT;
    this.cookie = spec.cookie === undefined || spec.cookie === COOKIE_NONE ? 0n : spec.cookie;
    this.idleTimeout = spec.idleTimeout ?? 0;
    this.hardTimeout = spec.hardTimeout ?? 0;
    this.importance = spec.importance ?? 0;
    this.flags = spec.flags ?? 0;
    this.actions = spec.actions;
    this.nPackets = 0;
    this.nBytes = 0;
    this.createdMs = nowMs;
    this.modifiedMs = nowMs;
    this.lastUsedMs = nowMs;
    this.inTable = false;
  }

  /** Time since the rule was added (dump-flows "duration"). */
  durationMs(nowMs: number): number {
    return nowMs - this.createdMs;
  }

  /** Time since a packet last hit the rule (dump-flows "idle_age"). */
  idleAgeMs(nowMs: number): number {
    return nowMs - this.lastUsedMs;
  }

  /** Time since the rule was last added or modified (dump-flows "hard_age"). */
  hardAgeMs(nowMs: number): number {
    return nowMs - this.modifiedMs;
  }
}

/** What an add (or a front end's flow line) specifies. */
export interface FlowSpec<A> {
  /** The table keeps this Match as the rule's: it must not change afterwards. */
  match: Match;
  /** PRIORITY_DEFAULT when absent. */
  priority?: number;
  actions: A;
  /** 0 when absent; COOKIE_NONE keeps a replaced rule's cookie. */
  cookie?: bigint;
  idleTimeout?: number;
  hardTimeout?: number;
  importance?: number;
  flags?: number;
}

/** Which rules a modify, delete or dump applies to. */
export interface FlowSelector<A> {
  match: Match;
  strict: boolean;
  /** Strict selection only; PRIORITY_DEFAULT when absent (as in ovs-ofctl). */
  priority?: number;
  /** With cookieMask: only rules whose cookie agrees on the mask's bits. */
  cookie?: bigint;
  /** 0 (any cookie) when absent. */
  cookieMask?: bigint;
  /** out_port: only rules whose actions this accepts (delete and select only). */
  outPort?: (actions: A) => boolean;
  /** out_group: likewise. */
  outGroup?: (actions: A) => boolean;
}

/** What a modify changes. */
export interface FlowChange<A> {
  actions: A;
  /** The new cookie; the rules keep theirs when absent or COOKIE_NONE. */
  cookie?: bigint;
  /** Only FF_RESET_COUNTS has an effect: the rules keep their own flags. */
  flags?: number;
}

export interface AddResult<A, R extends FlowRule<A> = FlowRule<A>> {
  rule: R;
  /** Whether a rule with the same match and priority was there (and was updated in place). */
  replaced: boolean;
}

export interface RemovedRule<A, R extends FlowRule<A> = FlowRule<A>> {
  rule: R;
  reason: RemovedReason;
}

/** A flow_mod the table refuses: `ofpError` is OpenFlow's name for it. */
export class FlowModError extends FlowplaneError {
  readonly ofpError: string;
  constructor(code: string, ofpError: string, message: string) {
    super(code, `${ofpError}: ${message}`);
    this.name = "FlowModError";
    this.ofpError = ofpError;
  }
}

export interface FlowTableOptions<A = unknown> extends ClassifierOptions {
  flowsMax?: number;
  /**
   * The conjunction(id, k/n) actions of a rule's actions when they make it a
   * clause flow of a conjunctive match (ovs-fields(7)), else null. Asked on
   * every add and modify; without it no rule is a clause flow.
   */
  conjunctionsOf?: (actions: A) => readonly Conjunction[] | null;
}

/** Makes the rule an add inserts: a subclass's constructor, called as FlowRule's is. */
export type NewFlowRule<A, R extends FlowRule<A>> = (spec: FlowSpec<A>, nowMs: number) => R;

const assertUint16 = (v: number, what: string): void =>
  assert(Number.isInteger(v) && v >= 0 && v <= UINT16_MAX, `${what} is a 16-bit unsigned integer`);
const assertCookie = (v: bigint, what: string): void => assert(v >= 0n && v <= COOKIE_NONE, `${what} is a 64-bit unsigned integer`);

/**
 * R is the class of the table's rules; a table whose R is a subclass of
 * FlowRule<A> must be given newRule (the default makes plain FlowRules).
 */
export class FlowTable<A, R extends FlowRule<A> = FlowRule<A>> {
  readonly flowsMax: number;
  private readonly cls: Classifier<R>;
  private readonly newRule: NewFlowRule<A, R>;
  private readonly conjunctionsOf: (actions: A) => readonly Conjunction[] | null;
  /** Rules with an idle or hard timeout, in the order they got one. */
  private readonly expirable: Set<R>;
  private versionNow: number;

  constructor(opts: FlowTableOptions<A> = {}, newRule?: NewFlowRule<A, R>) {
    this.flowsMax = opts.flowsMax ?? FLOWS_MAX_DEFAULT;
    assert(Number.isInteger(this.flowsMax) && this.flowsMax > 0, "flowsMax is a positive integer");
    this.cls = new Classifier<R>(opts);
    this.newRule = newRule ?? ((spec, nowMs) => new FlowRule<A>(spec, nowMs) as R);
    this.conjunctionsOf = opts.conjunctionsOf ?? (() => null);
    this.expirable = new Set();
    this.versionNow = 0;
  }

  /** Grows on every change to the rules' matches or actions. */
  get version(): number {
    return this.versionNow;
  }

  get count(): number {
    return this.cls.count;
  }

  /** OFPFC_ADD. Throws FlowModError for check_overlap and a full table. */
  add(spec: FlowSpec<A>, nowMs: number): AddResult<A, R> {
    const priority = spec.priority ?? PRIORITY_DEFAULT;
    assertUint16(priority, "priority");
    assertUint16(spec.idleTimeout ?? 0, "idle_timeout");
    assertUint16(spec.hardTimeout ?? 0, "hard_timeout");
    assertUint16(spec.importance ?? 0, "importance");
    assert(((spec.flags ?? 0) & ~FF_ALL) === 0, "flags are FF_* bits");
    if (spec.cookie !== undefined) assertCookie(spec.cookie, "cookie");

    const old = this.cls.findExact(spec.match, priority);
    if (old !== null) {
      if (spec.cookie !== COOKIE_NONE) old.cookie = spec.cookie ?? 0n;
      old.idleTimeout = spec.idleTimeout ?? 0;
      old.hardTimeout = spec.hardTimeout ?? 0;
      old.importance = spec.importance ?? 0;
      old.flags = spec.flags ?? 0;
      old.actions = spec.actions;
      this.cls.setConjunctions(old, this.conjunctionsOf(spec.actions));
      old.createdMs = nowMs;
      old.modifiedMs = nowMs;
      if ((old.flags & FF_RESET_COUNTS) !== 0) {
        old.nPackets = 0;
        old.nBytes = 0;
      }
      this.trackTimeouts(old);
      this.versionNow++;
      return { rule: old, replaced: true };
    }
    if (((spec.flags ?? 0) & FF_CHECK_OVERLAP) !== 0 && this.cls.overlaps(spec.match, priority)) {
      throw new FlowModError(
        "FP_ERR_FLOW_OVERLAP",
        "OFPFMFC_OVERLAP",
        `a rule of priority ${priority} overlaps ${spec.match.format()}`,
      );
    }
    if (this.cls.count >= this.flowsMax) {
      throw new FlowModError("FP_ERR_TABLE_FULL", "OFPFMFC_TABLE_FULL", `the table holds its maximum of ${this.flowsMax} rules`);
    }
    const rule = this.newRule(spec.priority === priority ? spec : { ...spec, priority }, nowMs);
    this.cls.insert(rule, this.conjunctionsOf(spec.actions));
    rule.inTable = true;
    this.trackTimeouts(rule);
    this.versionNow++;
    return { rule, replaced: false };
  }

  /** OFPFC_MODIFY / OFPFC_MODIFY_STRICT. Returns the modified rules (none: nothing changed). */
  modify(sel: FlowSelector<A>, change: FlowChange<A>, nowMs: number): R[] {
    assert(sel.outPort === undefined && sel.outGroup === undefined, "modify takes no out_port or out_group");
    if (change.cookie !== undefined) assertCookie(change.cookie, "cookie");
    const rules = this.select(sel);
    const conjunctions = rules.length === 0 ? null : this.conjunctionsOf(change.actions);
    for (const rule of rules) {
      rule.actions = change.actions;
      this.cls.setConjunctions(rule, conjunctions);
      if (change.cookie !== undefined && change.cookie !== COOKIE_NONE) rule.cookie = change.cookie;
      if (((change.flags ?? 0) & FF_RESET_COUNTS) !== 0) {
        rule.nPackets = 0;
        rule.nBytes = 0;
      }
      rule.modifiedMs = nowMs;
    }
    if (rules.length > 0) this.versionNow++;
    return rules;
  }

  /** OFPFC_DELETE / OFPFC_DELETE_STRICT. Returns the removed rules. */
  delete(sel: FlowSelector<A>): R[] {
    const rules = this.select(sel);
    for (const rule of rules) this.removeRule(rule);
    if (rules.length > 0) this.versionNow++;
    return rules;
  }

  /** Deletes one rule; false (and no change) when it is not in this table. */
  remove(rule: R): boolean {
    if (!rule.inTable || this.cls.findExact(rule.match, rule.priority) !== rule) return false;
    this.removeRule(rule);
    this.versionNow++;
    return true;
  }

  /** The rules a selector names, in iteration order (dump-flows with a filter). */
  select(sel: FlowSelector<A>): R[] {
    const cookieMask = sel.cookieMask ?? 0n;
    const cookie = sel.cookie ?? 0n;
    assertCookie(cookieMask, "cookie mask");
    assertCookie(cookie, "cookie");
    const found = sel.strict
      ? this.cls.findMatches(sel.match, true, sel.priority ?? PRIORITY_DEFAULT)
      : this.cls.findMatches(sel.match, false);
    return found.filter(
      (r) =>
        ((r.cookie ^ cookie) & cookieMask) === 0n &&
        (sel.outPort === undefined || sel.outPort(r.actions)) &&
        (sel.outGroup === undefined || sel.outGroup(r.actions)),
    );
  }

  /** The rule with exactly this match and priority, or null. */
  find(match: Match, priority: number = PRIORITY_DEFAULT): R | null {
    return this.cls.findExact(match, priority);
  }

  /** The classifier's lookup (see Classifier.lookup): the rule for a key, and the bits that decided it. */
  lookup(keys: Uint32Array, base: number, wc: Uint32Array | null, wcBase: number): R | null {
    return this.cls.lookup(keys, base, wc, wcBase);
  }

  /** Removes and returns every rule whose hard or idle timeout has passed at nowMs. */
  expire(nowMs: number): RemovedRule<A, R>[] {
    const out: RemovedRule<A, R>[] = [];
    for (const rule of this.expirable) {
      if (rule.hardTimeout !== 0 && nowMs > rule.modifiedMs + rule.hardTimeout * 1000) {
        out.push({ rule, reason: "hard_timeout" });
      } else if (rule.idleTimeout !== 0 && nowMs > rule.lastUsedMs + rule.idleTimeout * 1000) {
        out.push({ rule, reason: "idle_timeout" });
      }
    }
    for (const { rule } of out) this.removeRule(rule);
    if (out.length > 0) this.versionNow++;
    return out;
  }

  /**
   * Adds packets and bytes that hit the rule (pushed from the datapath's
   * caches); packets > 0 also marks it used at nowMs. A rule that has left
   * the table is not credited.
   */
  credit(rule: R, packets: number, bytes: number, nowMs: number): void {
    assert(packets >= 0 && bytes >= 0, "credited counts are not negative");
    if (!rule.inTable) return;
    rule.nPackets += packets;
    rule.nBytes += bytes;
    if (packets > 0 && nowMs > rule.lastUsedMs) rule.lastUsedMs = nowMs;
  }

  /** Every rule: priority descending, then in the order they were first added. */
  rules(): R[] {
    return this.cls.rules();
  }

  private removeRule(rule: R): void {
    const removed = this.cls.remove(rule);
    assert(removed, "removed rule is in the table");
    rule.inTable = false;
    this.expirable.delete(rule);
  }

  private trackTimeouts(rule: R): void {
    if (rule.idleTimeout !== 0 || rule.hardTimeout !== 0) this.expirable.add(rule);
    else this.expirable.delete(rule);
  }
}
