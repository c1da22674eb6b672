/**
 * Parses flows in ovs-ofctl syntax (`ovs-ofctl add-flow` arguments and
 * `add-flows` files, including lines copied from `dump-flows`) into
 * FlowSpecs, following Open vSwitch's parse_ofp_str (lib/ofp-flow.c).
 *
 * Invariants: a returned FlowSpec passed every check below; a file either
 * parses whole or throws for its first bad line (nothing is half-loaded).
 *
 * Differences from OVS, on purpose:
 * - A match field whose prerequisites are missing (tp_dst without tcp, udp
 *   or sctp; nw_src without ip or arp; ...) is an error. OVS accepts the
 *   line and silently drops the field ("normalization changed ofp_match"),
 *   which turns the flow into a wider one than written.
 * - ct_nw_src and the other conntrack tuple fields need a ct_state that
 *   implies a tracked, valid connection: OVS's switch rejects them
 *   otherwise (OFPBMC_BAD_PREREQ).
 * - ipv6_label and mpls_label values wider than 20 bits are errors (the
 *   switch rejects them with OFPBMC_BAD_VALUE).
 */
import { Match } from "../flow/match.js";
import { KEY_WORDS } from "../flow/layout.js";
import { SharedMasks } from "./masks.js";
import * as L from "../flow/layout.js";
import { newFlowSpec, noFlags, type FlowFlags, type FlowSpec } from "../openflow/flow-spec.js";
import type { Action } from "../openflow/actions.js";
import { ContentLineCursor, FlowSyntaxError, TextError, withPlace } from "./errors.js";
import { ItemCursor, strToU16, strToU64, strToUintDecimal } from "./lex.js";
import { isValueValid, ovsFieldByName, parseFieldValue, setMatchField, setMatchFieldFast, type OvsField } from "./mf.js";
import { checkActions, ctValid, parseActionList } from "./parse-actions.js";

export interface ParseFlowOptions {
  /** Line number for error messages (1 by default). */
  lineNumber?: number;
  /** File name for error messages ("" by default). */
  fileName?: string;
  /** Port names usable wherever a port number is (in_port=, output:, ...). */
  portNames?: ReadonlyMap<string, number>;
  /** Table of a line that names none (0 by default). */
  defaultTable?: number;
  /**
   * The OpenFlow version of the switch the flows are for. Unless it is
   * OpenFlow10, a flow whose actions are inconsistent with its match is an
   * error, as it is for `ovs-ofctl -O OpenFlow13 add-flow` (see checkActions).
   * Unset: no such check, as for ovs-ofctl's default, which falls back to 1.0.
   */
  protocol?: string;
  /** The groups of the switch the flows are for: a group action naming another is an error (OFPBAC_BAD_OUT_GROUP). Unset: not checked. */
  groupExists?: (groupId: number) => boolean;
  /** The meters of the switch: a meter instruction naming another is an error (OFPMMFC_INVALID_METER). Unset: not checked. */
  meterExists?: (meterId: number) => boolean;
  /** The switch speaks only OpenFlow 1.0: what ovs-ofctl cannot send in it is an error (see SwitchChecks). */
  of10Only?: boolean;
  /** The flows are for flowplane's switch: actions its datapath does not run (MPLS) are an error (see SwitchChecks). */
  forDatapath?: boolean;
}

/** ovs-ofctl's protocol keywords: dl_type and optional nw_proto. */
const PROTOCOLS = new Map<string, readonly [number, number]>(Object.entries({
  ip: [L.ETH_TYPE_IP, 0],
  ipv4: [L.ETH_TYPE_IP, 0],
  ip4: [L.ETH_TYPE_IP, 0],
  arp: [L.ETH_TYPE_ARP, 0],
  icmp: [L.ETH_TYPE_IP, L.IPPROTO_ICMP],
  tcp: [L.ETH_TYPE_IP, L.IPPROTO_TCP],
  udp: [L.ETH_TYPE_IP, L.IPPROTO_UDP],
  sctp: [L.ETH_TYPE_IP, L.IPPROTO_SCTP],
  igmp: [L.ETH_TYPE_IP, L.IPPROTO_IGMP],
  ipv6: [L.ETH_TYPE_IPV6, 0],
  ip6: [L.ETH_TYPE_IPV6, 0],
  icmp6: [L.ETH_TYPE_IPV6, L.IPPROTO_ICMPV6],
  tcp6: [L.ETH_TYPE_IPV6, L.IPPROTO_TCP],
  udp6: [L.ETH_TYPE_IPV6, L.IPPROTO_UDP],
  sctp6: [L.ETH_TYPE_IPV6, L.IPPROTO_SCTP],
  rarp: [L.ETH_TYPE_RARP, 0],
  mpls: [L.ETH_TYPE_MPLS, 0],
  mplsm: [L.ETH_TYPE_MPLS_MCAST, 0],
}));

const STAT_KEYS = new Set(["duration", "n_packets", "n_bytes", "idle_age", "hard_age"]);

/** Parses one flow. Throws FlowSyntaxError naming file, line and column. */
export function parseFlow(text: string, opts: ParseFlowOptions = {}): FlowSpec {
  return withPlace(opts.fileName ?? "", opts.lineNumber ?? 1, () => parseFlowText(text, opts, null));
}

/**
 * Most distinct action texts parseFlows remembers at once (then it starts
 * over): a flows file repeats a few action lists (resubmit(,1), output:N,
 * drop) across thousands of lines.
 */
const ACTION_TEXTS_CACHED_MAX = 65_536;

/**
 * Parses a flows file: one flow per line, `#` starts a comment, blank lines
 * are skipped. The first bad line throws and nothing is returned.
 * Flows whose action text is the same share one (read-only) action list:
 * actions are never changed in place, and parsing and keeping one list per
 * line made a third of a large file's load time. Flows with equal masks
 * share one mask array (SharedMasks): the returned matches are read-only.
 */
export function parseFlows(fileText: string, fileName = "", opts: ParseFlowOptions = {}): FlowSpec[] {
  const out: FlowSpec[] = [];
  const lines = new ContentLineCursor(fileText);
  const shared: FileShared = { actionsByText: new Map(), masks: new SharedMasks() };
  for (let line = lines.next(); line !== null; line = lines.next()) {
    try {
      if (shared.actionsByText.size >= ACTION_TEXTS_CACHED_MAX) shared.actionsByText.clear();
      out.push(parseFlowText(line, opts, shared));
    } catch (e) {
      if (e instanceof TextError) throw new FlowSyntaxError(fileName, lines.number, e.at + 1, e.token, e.message);
      throw e;
    }
  }
  return out;
}

/**
 * The match fields a line named, for checkPrereqs: field, offset and name
 * as written, in three columns reused line after line (the parser is not
 * reentrant: it never calls itself).
 */
class FieldUses {
  count = 0;
  readonly fields: OvsField[] = [];
  readonly at: number[] = [];
  readonly tokens: string[] = [];
  add(f: OvsField, at: number, token: string): void {
    this.fields[this.count] = f;
    this.at[this.count] = at;
    this.tokens[this.count] = token;
    this.count++;
  }
}
const fieldUses = new FieldUses();

/** The flags of a line with no flag keyword, shared (and frozen: a flag keyword gets the line its own). */
const NO_FLAGS: FlowFlags = Object.freeze(noFlags());
/** A placeholder until the line's actions are parsed (never returned). */
const NO_ACTIONS: Action[] = [];

/**
 * The match a line is parsed into, reused line after line; parseFlowText
 * copies it out at the end (the value into a new Match, the mask shared
 * when parseFlows gives SharedMasks).
 */
const lineMatch = new Match(new Uint32Array(KEY_WORDS), new Uint32Array(KEY_WORDS));

/** What parseFlows shares among its lines (see parseFlows); parseFlow shares nothing. */
interface FileShared {
  actionsByText: Map<string, Action[]>;
  masks: SharedMasks;
}

/** One flow; with `shared`, parts equal to another line's are shared with it (see parseFlows). */
function parseFlowText(text: string, opts: ParseFlowOptions, shared: FileShared | null): FlowSpec {
  const match = lineMatch;
  match.value.fill(0);
  match.mask.fill(0);
  const spec = newFlowSpec(match, NO_FLAGS, NO_ACTIONS);
  spec.table = opts.defaultTable ?? 0;
  // OVS finds the actions at the first "action" in the line, then its '='.
  const actIdx = text.indexOf("action");
  if (actIdx < 0) throw new TextError(0, text, "must specify an action");
  const eq = text.indexOf("=", actIdx + 1);
  if (eq < 0) throw new TextError(actIdx, "action", "must specify an action");
  const actText = text.slice(eq + 1);

  const uses = fieldUses;
  uses.count = 0;
  let durationSec = -1;
  let nPackets = -1n;
  let nBytes = -1n;
  let idleAge = -1;
  let hardAge = -1;
  const kv = new ItemCursor(text, 0, actIdx);
  while (kv.next()) {
    const name = kv.key;
    const value = kv.value;
    const proto = PROTOCOLS.get(name);
    if (proto !== undefined) {
      match.setFieldBits(F_ETH_TYPE.def, proto[0], 0xffff);
      if (proto[1] !== 0) match.setFieldBits(F_NW_PROTO.def, proto[1], 0xff);
      continue;
    }
    if (name === "eth") continue;
    if (name === "send_flow_rem") {
      if (spec.flags === NO_FLAGS) spec.flags = noFlags();
      spec.flags.sendFlowRem = true;
      continue;
    }
    if (name === "check_overlap") {
      if (spec.flags === NO_FLAGS) spec.flags = noFlags();
      spec.flags.checkOverlap = true;
      continue;
    }
    if (name === "reset_counts") {
      if (spec.flags === NO_FLAGS) spec.flags = noFlags();
      spec.flags.resetCounts = true;
      continue;
    }
    if (name === "no_packet_counts") {
      if (spec.flags === NO_FLAGS) spec.flags = noFlags();
      spec.flags.noPacketCounts = true;
      continue;
    }
    if (name === "no_byte_counts") {
      if (spec.flags === NO_FLAGS) spec.flags = noFlags();
      spec.flags.noByteCounts = true;
      continue;
    }
    if (name === "no_readonly_table" || name === "allow_hidden_fields") continue;
    const f = ovsFieldByName(name);
    if (f !== undefined) {
      if (value !== "" && setMatchFieldFast(match, f, value, opts.portNames)) {
        uses.add(f, kv.keyAt, name);
        continue;
      }
      const fv = parseFieldValue(f, value === "" ? "0/0" : value, kv.valueAt, opts.portNames);
      if ((f.name === "ipv6_label" || f.name === "mpls_label") && !isValueValid(f, fv.value)) {
        throw new TextError(kv.valueAt, value, `${value}: value out of range for ${f.name} (OFPBMC_BAD_VALUE)`);
      }
      setMatchField(match, f, fv.value, fv.mask);
      uses.add(f, kv.keyAt, name);
      continue;
    }
    if (name.includes("[")) {
      throw new TextError(kv.keyAt, name, `${name}: matching on subfields is not supported by flowplane`);
    }
    if (value === "") throw new TextError(kv.keyAt, name, `field ${name} missing value`);
    switch (name) {
      case "table": {
        const t = value.startsWith("-") ? null : strToUintDecimal(value);
        if (t === null || t > 255) throw new TextError(kv.valueAt, value, `unknown table "${value}"`);
        // table=255 means "any table"; for an added flow OVS uses table 0.
        spec.table = t === 255 ? 0 : t;
        break;
      }
      case "priority":
        spec.priority = strToU16(value, name, kv.valueAt);
        break;
      case "idle_timeout":
        spec.idleTimeout = strToU16(value, name, kv.valueAt);
        break;
      case "hard_timeout":
        spec.hardTimeout = strToU16(value, name, kv.valueAt);
        break;
      case "importance":
        spec.importance = strToU16(value, name, kv.valueAt);
        break;
      case "cookie": {
        const slash = value.indexOf("/");
        if (slash >= 0) throw new TextError(kv.valueAt, value, "flow additions cannot use a cookie mask");
        spec.cookie = strToU64(value, kv.valueAt);
        break;
      }
      case "out_port":
      case "out_group":
        throw new TextError(kv.keyAt, name, `unknown keyword ${name}`);
      default:
        if (STAT_KEYS.has(name)) {
          if (name === "duration") durationSec = Number.parseFloat(value);
          else if (name === "n_packets") nPackets = parseCount(value);
          else if (name === "n_bytes") nBytes = parseCount(value);
          else if (name === "idle_age") idleAge = Number.parseInt(value, 10);
          else hardAge = Number.parseInt(value, 10);
          break;
        }
        throw new TextError(kv.keyAt, name, `unknown keyword ${name}`);
    }
  }
  checkPrereqs(match, uses);
  const kept = shared === null ? new Match() : new Match(undefined, shared.masks.intern(match.mask));
  kept.value.set(match.value);
  if (shared === null) kept.mask.set(match.mask);
  spec.match = kept;
  spec.actions = actionsFor(actText, eq + 1, kept, spec.table, opts, shared === null ? null : shared.actionsByText);
  if (nPackets >= 0n || nBytes >= 0n || durationSec >= 0) {
    spec.stats = {
      durationSec: Number.isFinite(durationSec) && durationSec >= 0 ? durationSec : 0,
      nPackets: nPackets >= 0n ? nPackets : 0n,
      nBytes: nBytes >= 0n ? nBytes : 0n,
      idleAgeSec: Number.isFinite(idleAge) ? idleAge : -1,
      hardAgeSec: Number.isFinite(hardAge) ? hardAge : -1,
    };
  }
  return spec;
}

/** The actions of a flow, parsed and checked against its match, from the cache when the text was seen. */
function actionsFor(
  actText: string,
  at: number,
  match: Match,
  table: number,
  opts: ParseFlowOptions,
  actionsByText: Map<string, Action[]> | null,
): Action[] {
  const cached = actionsByText === null ? undefined : actionsByText.get(actText);
  if (cached !== undefined) {
    try {
      checkActions(cached, match, table, opts);
      return cached;
    } catch (e) {
      // Parsed afresh below, so the error points at the action's column in this line.
      if (!(e instanceof TextError)) throw e;
    }
  }
  const actions = parseActionList(actText, at, { portNames: opts.portNames }, true);
  checkActions(actions, match, table, opts);
  if (actionsByText !== null) actionsByText.set(actText, actions);
  return actions;
}

function parseCount(s: string): bigint {
  return /^\d+$/.test(s) ? BigInt(s) : -1n;
}

function field(name: string): OvsField {
  const f = ovsFieldByName(name);
  if (f === undefined) throw new Error(`assertion failed: no field ${name}`);
  return f;
}
const F_ETH_TYPE = field("eth_type");
const F_NW_PROTO = field("nw_proto");

/**
 * Rejects fields whose prerequisites the final match lacks. The groups are
 * those of OVS's match normalization (what it would silently drop), plus the
 * conntrack tuple fields, which its switch refuses.
 */
function checkPrereqs(m: Match, uses: FieldUses): void {
  const dl = m.mask[L.W_DL_TYPE] & 0xffff ? m.value[L.W_DL_TYPE] & 0xffff : 0;
  const nwProto = m.mask[L.W_NW] & 0xff ? m.value[L.W_NW] & 0xff : 0;
  const tpSrc = m.value[L.W_TP] >>> 16;
  const tpDst = m.value[L.W_TP] & 0xffff;
  const isIp4 = dl === L.ETH_TYPE_IP;
  const isIp6 = dl === L.ETH_TYPE_IPV6;
  const isArp = dl === L.ETH_TYPE_ARP || dl === L.ETH_TYPE_RARP;
  const isMpls = dl === L.ETH_TYPE_MPLS || dl === L.ETH_TYPE_MPLS_MCAST;
  const ports = nwProto === L.IPPROTO_TCP || nwProto === L.IPPROTO_UDP || nwProto === L.IPPROTO_SCTP;
  const l4 = (isIp4 && (ports || nwProto === L.IPPROTO_ICMP)) || (isIp6 && (ports || nwProto === L.IPPROTO_ICMPV6));
  const later = ((m.value[L.W_NW] >>> L.NW_FRAG_SHIFT) & L.FRAG_LATER) !== 0;
  const icmp6 = isIp6 && nwProto === L.IPPROTO_ICMPV6;
  const nd = icmp6 && (tpSrc === 135 || tpSrc === 136);
  for (let i = 0; i < uses.count; i++) {
    const f = uses.fields[i];
    let ok = true;
    let needs = "";
    switch (f.name) {
      case "ip_src":
      case "ip_dst":
      case "arp_spa":
      case "arp_tpa":
        ok = isIp4 || isArp;
        needs = "ip or arp";
        break;
      case "nw_proto":
      case "arp_op":
        ok = isIp4 || isIp6 || isArp;
        needs = "ip, ipv6 or arp";
        break;
      case "nw_tos":
      case "ip_dscp":
      case "nw_ecn":
      case "nw_ttl":
      case "ip_frag":
        ok = isIp4 || isIp6;
        needs = "ip or ipv6";
        break;
      case "tcp_src":
      case "tcp_dst":
      case "udp_src":
      case "udp_dst":
      case "sctp_src":
      case "sctp_dst":
      case "icmp_type":
      case "icmp_code":
      case "icmpv6_type":
      case "icmpv6_code":
        ok = l4;
        needs = "tcp, udp, sctp, icmp or icmp6";
        break;
      case "tcp_flags":
        ok = (isIp4 || isIp6) && nwProto === L.IPPROTO_TCP;
        needs = "tcp or tcp6";
        break;
      case "arp_sha":
      case "nd_sll":
        ok = isArp || (icmp6 && tpSrc === 135);
        needs = "arp, or icmp6 with icmp_type=135";
        break;
      case "arp_tha":
      case "nd_tll":
        ok = isArp || (icmp6 && tpSrc === 136);
        needs = "arp, or icmp6 with icmp_type=136";
        break;
      case "ipv6_src":
      case "ipv6_dst":
      case "ipv6_label":
        ok = isIp6;
        needs = "ipv6";
        break;
      case "nd_target":
        ok = nd;
        needs = "icmp6 with icmp_type=135 or 136";
        break;
      case "nd_reserved":
      case "nd_options_type":
        ok = nd && tpDst === 0;
        needs = "icmp6 with icmp_type=135 or 136 and icmp_code=0";
        break;
      case "mpls_label":
      case "mpls_tc":
      case "mpls_bos":
      case "mpls_ttl":
        ok = isMpls;
        needs = "mpls or mplsm";
        break;
      case "ct_nw_proto":
      case "ct_nw_src":
      case "ct_nw_dst":
      case "ct_ipv6_src":
      case "ct_ipv6_dst":
      case "ct_tp_src":
      case "ct_tp_dst":
        ok = ctValid(m);
        needs = "a ct_state of a tracked, valid connection (e.g. +trk+est)";
        break;
      default:
        break;
    }
    // OVS's switch also refuses TCP, UDP and SCTP fields on fragments other than the first.
    if (ok && later && (f.prereq === "tcp" || f.prereq === "udp" || f.prereq === "sctp")) {
      ok = false;
      needs = "a first or unfragmented packet: not with nw_frag=later";
    }
    if (!ok && fieldIsSet(m, f)) {
      const token = uses.tokens[i];
      throw new TextError(uses.at[i], token, `prerequisites not met for matching ${token} (needs ${needs})`);
    }
  }
}

/** Whether the match still pins any bit of the field (a "*" or "/0" value does not). */
function fieldIsSet(m: Match, f: OvsField): boolean {
  switch (f.name) {
    case "icmp_type":
    case "icmpv6_type":
      return (m.mask[L.W_TP] >>> 16) !== 0;
    case "icmp_code":
    case "icmpv6_code":
      return (m.mask[L.W_TP] & 0xffff) !== 0;
    case "arp_op":
      return (m.mask[L.W_NW] & 0xff) !== 0;
    case "nw_tos":
    case "ip_dscp":
      return ((m.mask[L.W_NW] >>> L.NW_TOS_SHIFT) & 0xfc) !== 0;
    case "nw_ecn":
      return ((m.mask[L.W_NW] >>> L.NW_TOS_SHIFT) & 3) !== 0;
    default:
      return m.hasField(f.def);
  }
}
