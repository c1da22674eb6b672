/**
 * Parses the action and instruction text of ovs-ofctl (`actions=...`) into
 * the Action list of src/openflow/actions.ts, with Open vSwitch's grammar,
 * defaults and error wording (lib/ofp-actions.c, lib/learn.c), then checks
 * the list against the flow's match the way OVS's ofpacts_check does.
 *
 * Invariants: the result follows the one-list instruction order; every
 * subfield lies inside its field; every error is a TextError carrying the
 * offset of the offending text.
 *
 * Limits: bundle, bundle_load, multipath, encap, decap, check_pkt_larger,
 * delete_field, dec_nsh_ttl and the debug actions are rejected as
 * unsupported. Checks that OVS only uses to narrow the usable OpenFlow
 * versions (e.g. strip_vlan on a flow without a VLAN match is OpenFlow 1.0
 * only) are errors only when checkActions is told the switch speaks
 * OpenFlow 1.1 or later, as they are for `ovs-ofctl -O OpenFlow13 add-flow`
 * and not for plain `ovs-ofctl add-flow` (which falls back to 1.0).
 */
import type {
  Action,
  CtAction,
  LearnAction,
  LearnSource,
  LearnSpec,
  NatAction,
  PacketInReason,
  SubField,
} from "../openflow/actions.js";
import { TABLE_NONE, CONTROLLER_NO_METER, CONTROLLER_MAX_LEN_DEFAULT } from "../openflow/actions.js";
import { Match } from "../flow/match.js";
import * as L from "../flow/layout.js";
import { OFPP_CONTROLLER, OFPP_IN_PORT, OFPP_LOCAL, OFPP_NONE } from "../flow/text.js";
import { FlowSyntaxError, TextError } from "./errors.js";
import {
  atoi,
  parseHexBytes,
  parseIntString,
  parseIPv4,
  parseIPv6,
  parseMac,
  splitItems,
  ItemCursor,
  strToU16,
  strToU32,
  strToU64,
  strToU8,
  strToInt,
  strToUintDecimal,
  strtoullLoose,
} from "./lex.js";
import {
  OFPP_MAX,
  formatFieldValue,
  getMatchField,
  isValueValid,
  ones,
  ovsFieldByName,
  ovsFieldOf,
  parseFieldValue,
  parseSubfield,
  parseSubfieldPrefix,
  portFromString,
  setMatchField,
  type MfPrereq,
  type OvsField,
} from "./mf.js";

export interface ActionParseContext {
  portNames?: ReadonlyMap<string, number>;
}

/**
 * Where each action of the latest top-level list parsed began, for errors
 * found by the checks that follow (verify, checkActions). Emptied when the
 * next top-level list starts, so it never holds more than one line's actions
 * (a WeakMap over every action ever parsed cost more garbage collection than
 * the rest of loading a large flows file).
 */
const actionAt = new Map<Action, number>();

/** The offset recorded for an action of the latest top-level list (0 when unknown). */
export function actionOffset(a: Action): number {
  return actionAt.get(a) ?? 0;
}

const UNSUPPORTED = new Set([
  "bundle",
  "bundle_load",
  "multipath",
  "encap",
  "decap",
  "check_pkt_larger",
  "delete_field",
  "dec_nsh_ttl",
  "debug_recirc",
  "debug_slow",
  "unroll_xlate",
]);

type Outer = "" | "write_actions" | "ct" | "clone";

/** OVS's instruction ordinal for ordering checks (ovs_instruction_type). */
const INST_ORDER: Record<string, number> = { meter: 0, apply_actions: 1, clear_actions: 2, write_actions: 3, write_metadata: 4, goto_table: 5 };
const instOf = (a: Action): string =>
  a.type === "meter" || a.type === "clear_actions" || a.type === "write_actions" || a.type === "write_metadata" || a.type === "goto_table"
    ? a.type
    : "apply_actions";

const PACKET_IN_REASONS: readonly PacketInReason[] = ["no_match", "action", "invalid_ttl", "action_set", "group", "packet_out"];

/** Parses `text` (which starts at offset `base` of the line) as actions, or as instructions when allowed. */
export function parseActionList(
  text: string,
  base: number,
  ctx: ActionParseContext,
  allowInstructions: boolean,
  outer: Outer = "",
  depth = 0,
): Action[] {
  if (depth >= 100) throw new TextError(base, text, "Action nested too deeply");
  if (depth === 0) actionAt.clear();
  const out: Action[] = [];
  let drop = false;
  const item = new ItemCursor(text, base, text.length);
  while (item.next()) {
    const name = item.key.toLowerCase();
    const before = out.length;
    if (name === "drop") {
      drop = true;
      continue;
    }
    if (name === "apply_actions") throw new TextError(item.keyAt, item.key, "apply_actions is the default instruction");
    parseOne(name, item.key, item.value, item.keyAt, item.valueAt, ctx, out, depth);
    for (let i = before; i < out.length; i++) if (!actionAt.has(out[i])) actionAt.set(out[i], item.keyAt);
  }
  if (drop && out.length > 0) {
    throw new TextError(base, text, '"drop" must not be accompanied by any other action or instruction');
  }
  verify(out, allowInstructions, outer, base);
  // A list grown by push keeps room for 16 actions; flows live long, so keep an exact copy.
  return out.slice();
}

function parseOne(
  name: string,
  key: string,
  value: string,
  keyAt: number,
  at: number,
  ctx: ActionParseContext,
  out: Action[],
  depth: number,
): void {
  switch (name) {
    case "output":
    case "output_reg":
      parseOutput(value, at, ctx, out);
      return;
    case "controller":
      parseController(value, at, out);
      return;
    case "group":
      out.push({ type: "group", groupId: strToU32(value, at) });
      return;
    case "enqueue": {
      const parts = value.split(/[:q,]+/).filter((p) => p !== "");
      const firstSep = value.search(/[:q,]/);
      if (parts.length < 2 || firstSep < 0) {
        throw new TextError(at, value, '"enqueue" syntax is "enqueue:PORT:QUEUE" or "enqueue(PORT,QUEUE)"');
      }
      const portText = value.slice(0, firstSep);
      let rest = value.slice(firstSep);
      rest = rest.replace(/^[:q,]+/, "");
      const p = portFromString(portText, ctx.portNames);
      if (p === null) throw new TextError(at, portText, `${portText}: enqueue to unknown port`);
      out.push({ type: "enqueue", port: p, queue: strToU32(rest, at + value.length - rest.length) });
      return;
    }
    case "set_field":
      parseSetField(value, at, ctx, out);
      return;
    case "load":
      parseLoad(value, at, out);
      return;
    case "move": {
      const { src, dst } = parseMove(value, at);
      out.push({ type: "reg_move", src, dst });
      return;
    }
    case "push":
    case "pop": {
      const r = parseSubfieldPrefix(value, at);
      if (r.used !== value.length) {
        throw new TextError(at + r.used, value, `${value.slice(r.used)}: trailing garbage following push or pop`);
      }
      out.push({ type: name === "push" ? "stack_push" : "stack_pop", subfield: r.sub });
      return;
    }
    case "set_vlan_vid":
    case "mod_vlan_vid": {
      const vid = strToU16(value, "VLAN VID", at);
      if (vid & ~0xfff) throw new TextError(at, value, `${value}: not a valid VLAN VID`);
      out.push({ type: "set_vlan_vid", vid, pushIfNeeded: name === "mod_vlan_vid" });
      return;
    }
    case "set_vlan_pcp":
    case "mod_vlan_pcp": {
      const pcp = strToU8(value, "VLAN PCP", at);
      if (pcp & ~7) throw new TextError(at, value, `${value}: not a valid VLAN PCP`);
      out.push({ type: "set_vlan_pcp", pcp, pushIfNeeded: name === "mod_vlan_pcp" });
      return;
    }
    case "strip_vlan":
    case "pop_vlan":
      out.push({ type: "strip_vlan" });
      return;
    case "push_vlan": {
      const et = strToU16(value, "ethertype", at);
      if (et !== L.ETH_TYPE_VLAN_8021Q && et !== L.ETH_TYPE_VLAN_8021AD) {
        throw new TextError(at, value, `${value}: not a valid VLAN ethertype`);
      }
      out.push({ type: "push_vlan", ethertype: et });
      return;
    }
    case "mod_dl_src":
    case "mod_dl_dst": {
      const mac = parseMac(value);
      if (mac === null) throw new TextError(at, value, `invalid mac address ${value}`);
      out.push({ type: name === "mod_dl_src" ? "set_eth_src" : "set_eth_dst", mac });
      return;
    }
    case "mod_nw_src":
    case "mod_nw_dst": {
      const ip = parseIPv4(value);
      if (ip === null) throw new TextError(at, value, `${value}: could not convert to IP address`);
      out.push({ type: name === "mod_nw_src" ? "set_ipv4_src" : "set_ipv4_dst", ipv4: ip });
      return;
    }
    case "mod_nw_tos": {
      const tos = strToU8(value, "TOS", at);
      if (tos & ~0xfc) throw new TextError(at, value, `${value}: not a valid TOS`);
      out.push({ type: "set_ip_dscp", dscp: tos });
      return;
    }
    case "mod_nw_ecn": {
      const ecn = strToU8(value, "ECN", at);
      if (ecn & ~3) throw new TextError(at, value, `${value}: not a valid ECN`);
      out.push({ type: "set_ip_ecn", ecn });
      return;
    }
    case "mod_nw_ttl":
    case "set_nw_ttl":
      out.push({ type: "set_ip_ttl", ttl: strToU8(value, "TTL", at) });
      return;
    case "mod_tp_src":
      out.push({ type: "set_l4_src_port", port: strToU16(value, "source port", at) });
      return;
    case "mod_tp_dst":
      out.push({ type: "set_l4_dst_port", port: strToU16(value, "destination port", at) });
      return;
    case "dec_ttl": {
      if (value === "") {
        out.push({ type: "dec_ttl", controllerIds: [0], withIds: false });
        return;
      }
      const ids = value
        .split(/[, ]+/)
        .filter((t) => t !== "")
        .map((t) => atoi(t) & 0xffff);
      if (ids.length === 0) throw new TextError(at, value, "dec_ttl_cnt_ids: expected at least one controller id.");
      out.push({ type: "dec_ttl", controllerIds: ids, withIds: true });
      return;
    }
    case "set_mpls_label": {
      if (value === "") throw new TextError(at, value, "set_mpls_label: expected label.");
      const label = strToU32(value, at);
      if (label & ~0xfffff) throw new TextError(at, value, `${value}: not a valid MPLS label`);
      out.push({ type: "set_mpls_label", label });
      return;
    }
    case "set_mpls_tc": {
      const tc = strToU8(value, "MPLS TC", at);
      if (tc & ~7) throw new TextError(at, value, `${value}: not a valid MPLS TC`);
      out.push({ type: "set_mpls_tc", tc });
      return;
    }
    case "set_mpls_ttl":
      out.push({ type: "set_mpls_ttl", ttl: strToU8(value, "mpls_ttl", at) });
      return;
    case "dec_mpls_ttl":
      out.push({ type: "dec_mpls_ttl" });
      return;
    case "push_mpls":
    case "pop_mpls": {
      const et = strToU16(value, name, at);
      if (name === "push_mpls" && et !== L.ETH_TYPE_MPLS && et !== L.ETH_TYPE_MPLS_MCAST) {
        throw new TextError(at, value, `${value}: not a valid MPLS ethertype`);
      }
      out.push({ type: name, ethertype: et });
      return;
    }
    case "set_tunnel":
    case "set_tunnel64":
      out.push({ type: "set_tunnel", tunId: strToU64(value, at), wide: name === "set_tunnel64" });
      return;
    case "set_queue":
      out.push({ type: "set_queue", queueId: strToU32(value, at) });
      return;
    case "pop_queue":
      out.push({ type: "pop_queue" });
      return;
    case "fin_timeout": {
      let idle = 0;
      let hard = 0;
      for (const kv of splitItems(value, at)) {
        if (kv.key === "idle_timeout") idle = strToU16(kv.value, kv.key, kv.valueAt);
        else if (kv.key === "hard_timeout") hard = strToU16(kv.value, kv.key, kv.valueAt);
        else throw new TextError(kv.keyAt, kv.key, `invalid key '${kv.key}' in 'fin_timeout' argument`);
      }
      out.push({ type: "fin_timeout", idleTimeout: idle, hardTimeout: hard });
      return;
    }
    case "resubmit":
      out.push(parseResubmit(value, at, ctx));
      return;
    case "learn":
      out.push(parseLearn(value, at, ctx));
      return;
    case "conjunction": {
      const m = /^\s*([+-]?(?:0[xX][0-9a-fA-F]+|0[0-7]*|[1-9]\d*))\s*,\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(value);
      if (m === null) throw new TextError(at, value, '"conjunction" syntax is "conjunction(id,i/n)"');
      const id = Number(BigInt.asUintN(32, BigInt(strToInt(m[1]) ?? 0)));
      const clause = Number(m[2]);
      const nClauses = Number(m[3]);
      if (clause > 255 || nClauses > 255) throw new TextError(at, value, '"conjunction" syntax is "conjunction(id,i/n)"');
      if (nClauses < 2) throw new TextError(at, value, "conjunction must have at least 2 clauses");
      if (nClauses > 64) throw new TextError(at, value, "conjunction must have at most 64 clauses");
      if (clause < 1) throw new TextError(at, value, "clause index must be positive");
      if (clause > nClauses) {
        throw new TextError(at, value, "clause index must be less than or equal to number of clauses");
      }
      out.push({ type: "conjunction", id, clause, nClauses });
      return;
    }
    case "note": {
      const data = parseHexBytes(value);
      if (data === null) throw new TextError(at, value, "bad hex digit in `note' argument");
      out.push({ type: "note", data });
      return;
    }
    case "exit":
      out.push({ type: "exit" });
      return;
    case "sample":
      parseSample(value, at, ctx, out);
      return;
    case "ct":
      out.push(parseCt(value, at, ctx, depth));
      return;
    case "ct_clear":
      out.push({ type: "ct_clear" });
      return;
    case "nat":
      out.push(parseNat(value, at));
      return;
    case "clone":
      out.push({ type: "clone", actions: parseActionList(value, at, ctx, false, "clone", depth + 1) });
      return;
    case "meter": {
      const id = strToU32(value, at);
      out.push({ type: "meter", meterId: id });
      return;
    }
    case "clear_actions":
      out.push({ type: "clear_actions" });
      return;
    case "write_actions":
      out.push({ type: "write_actions", actions: parseActionList(value, at, ctx, false, "write_actions", depth + 1) });
      return;
    case "write_metadata": {
      const slash = value.indexOf("/");
      const metadata = strToU64(slash < 0 ? value : value.slice(0, slash), at);
      const mask = slash < 0 ? 0xffffffffffffffffn : strToU64(value.slice(slash + 1), at + slash + 1);
      out.push({ type: "write_metadata", metadata, mask });
      return;
    }
    case "goto_table": {
      const t = strToUintDecimal(value);
      if (t === null || t > 255 || value.startsWith("-")) throw new TextError(at, value, `unknown table "${value}"`);
      out.push({ type: "goto_table", tableId: t });
      return;
    }
    default: {
      if (UNSUPPORTED.has(name) || name === "output_trunc") {
        throw new TextError(keyAt, key, `${key}: action not supported by flowplane`);
      }
      // A bare port: "1", "NORMAL", "LOCAL", a port name.
      const p = portFromString(key, ctx.portNames);
      if (p !== null) {
        out.push({ type: "output", port: p, maxLen: p === OFPP_CONTROLLER ? CONTROLLER_MAX_LEN_DEFAULT : 0 });
        return;
      }
      throw new TextError(keyAt, key, `unknown action ${key}`);
    }
  }
}

function parseOutput(value: string, at: number, ctx: ActionParseContext, out: Action[]): void {
  if (value.includes("port") && value.includes("max_len")) {
    let port = 0;
    let maxLen = 0;
    for (const kv of splitItems(value, at)) {
      if (kv.key === "port") {
        const p = portFromString(kv.value, ctx.portNames);
        if (p === null) throw new TextError(kv.valueAt, kv.value, `output to unknown truncate port: ${kv.value}`);
        if (p > OFPP_MAX && p !== OFPP_LOCAL && p !== OFPP_IN_PORT) {
          throw new TextError(kv.valueAt, kv.value, `output to unsupported truncate port: ${kv.value}`);
        }
        port = p;
      } else if (kv.key === "max_len") {
        maxLen = strToU32(kv.value, kv.valueAt);
        if (maxLen < 14) throw new TextError(kv.valueAt, kv.value, `max_len ${maxLen} is less than the minimum value 14`);
      } else {
        throw new TextError(kv.keyAt, kv.key, `invalid key '${kv.key}' in output_trunc argument`);
      }
    }
    out.push({ type: "output_trunc", port, maxLen });
    return;
  }
  const p = portFromString(value, ctx.portNames);
  if (p !== null) {
    out.push({ type: "output", port: p, maxLen: p === OFPP_CONTROLLER ? CONTROLLER_MAX_LEN_DEFAULT : 0 });
    return;
  }
  try {
    const { sub } = parseSubfield(value, at);
    out.push({ type: "output_reg", src: sub, maxLen: CONTROLLER_MAX_LEN_DEFAULT });
  } catch (e) {
    if (!(e instanceof TextError)) throw e;
    throw new TextError(at, value, `${value}: output to unknown port`);
  }
}

function parseController(value: string, at: number, out: Action[]): void {
  let reason: PacketInReason = "action";
  let controllerId = 0;
  let maxLen = CONTROLLER_MAX_LEN_DEFAULT;
  let meterId = CONTROLLER_NO_METER;
  let userdata: Uint8Array | null = null;
  let pause = false;
  if (value === "") {
    // Defaults.
  } else if (/^[0-9]+$/.test(value)) {
    maxLen = strToU16(value, "max_len", at);
  } else {
    for (const kv of splitItems(value, at)) {
      if (kv.key === "reason") {
        const r = PACKET_IN_REASONS.find((x) => x === kv.value);
        if (r === undefined) throw new TextError(kv.valueAt, kv.value, `unknown reason "${kv.value}"`);
        reason = r;
      } else if (kv.key === "max_len") maxLen = strToU16(kv.value, "max_len", kv.valueAt);
      else if (kv.key === "id") controllerId = strToU16(kv.value, "id", kv.valueAt);
      else if (kv.key === "userdata") {
        userdata = parseHexBytes(kv.value);
        if (userdata === null) throw new TextError(kv.valueAt, kv.value, "bad hex digit in `controller' action `userdata'");
      } else if (kv.key === "pause") pause = true;
      else if (kv.key === "meter_id") meterId = strToU32(kv.value, kv.valueAt);
      else throw new TextError(kv.keyAt, kv.key, `unknown key "${kv.key}" parsing controller action`);
    }
  }
  if (reason === "action" && controllerId === 0 && userdata === null && !pause && meterId === CONTROLLER_NO_METER) {
    out.push({ type: "output", port: OFPP_CONTROLLER, maxLen });
  } else {
    out.push({ type: "controller", maxLen, controllerId, reason, pause, userdata: userdata ?? new Uint8Array(0), meterId });
  }
}

/** "VALUE->DST": splits at the first "->" (set_field_split_str). */
function splitArrow(value: string, at: number): { left: string; right: string; rightAt: number } {
  const i = value.indexOf("->");
  if (i < 0) throw new TextError(at, value, `${value}: missing \`->'`);
  if (value.length - i <= 2) throw new TextError(at, value, `${value}: missing field name following \`->'`);
  return { left: value.slice(0, i), right: value.slice(i + 2), rightAt: at + i + 2 };
}

function parseSetField(value: string, at: number, ctx: ActionParseContext, out: Action[]): void {
  const { left, right, rightAt } = splitArrow(value, at);
  const f = ovsFieldByName(right);
  if (f === undefined) throw new TextError(rightAt, right, `${right} is not a valid OXM field name`);
  if (!f.writable) throw new TextError(rightAt, right, `${right} is read-only`);
  const fv = parseFieldValue(f, left, at, ctx.portNames);
  if (!isValueValid(f, fv.value)) throw new TextError(at, left, `${left} is not a valid value for field ${right}`);
  const full = ones(f.nBytes * 8);
  out.push({ type: "set_field", field: f.def, value: fv.value & fv.mask & full, mask: fv.mask & full, viaLoad: false });
}

function parseLoad(value: string, at: number, out: Action[]): void {
  const { left, right, rightAt } = splitArrow(value, at);
  const { sub, f } = parseSubfield(right, rightAt);
  if (!f.writable) throw new TextError(rightAt, right, `${right}: destination field ${f.name} is not writable`);
  const v = parseIntString(left, f.nBytes);
  if (typeof v === "string") throw new TextError(at, left, `${value}: cannot parse integer value`);
  if (v.value >> BigInt(sub.nBits) !== 0n) {
    throw new TextError(
      at,
      left,
      `${value}: value ${formatFieldValue(f, v.value, null)} does not fit into ${sub.nBits} bits`,
    );
  }
  const mask = ones(sub.nBits) << BigInt(sub.ofs);
  out.push({ type: "set_field", field: f.def, value: v.value << BigInt(sub.ofs), mask, viaLoad: true });
}

function parseMove(value: string, at: number): { src: SubField; dst: SubField } {
  const r = parseSubfieldPrefix(value, at);
  if (!value.startsWith("->", r.used)) throw new TextError(at + r.used, value, `${value}: missing \`->' following source`);
  const { sub: dst, f: df } = parseSubfield(value.slice(r.used + 2), at + r.used + 2);
  if (r.sub.nBits !== dst.nBits) {
    throw new TextError(
      at,
      value,
      `${value}: source field is ${r.sub.nBits} bits wide but destination is ${dst.nBits} bits wide`,
    );
  }
  if (!df.writable) throw new TextError(at + r.used + 2, value, `${value}: destination field ${df.name} is not writable`);
  return { src: r.sub, dst };
}

function parseResubmit(value: string, at: number, ctx: ActionParseContext): Action {
  if (!/[,]/.test(value) && value !== "" && !value.includes("(")) {
    // resubmit:PORT
    const p = portFromString(value, ctx.portNames);
    if (p === null) throw new TextError(at, value, `${value}: resubmit to unknown port`);
    if (p === OFPP_IN_PORT) {
      throw new TextError(at, value, 'at least one "in_port" or "table" must be specified on resubmit');
    }
    return { type: "resubmit", inPort: p, tableId: TABLE_NONE, withCt: false };
  }
  const parts = value.split(",");
  let inPort = OFPP_IN_PORT;
  let tableId = TABLE_NONE;
  let withCt = false;
  let off = at;
  if (parts[0] !== undefined && parts[0] !== "") {
    const p = portFromString(parts[0], ctx.portNames);
    if (p === null) throw new TextError(off, parts[0], `${parts[0]}: resubmit to unknown port`);
    inPort = p;
  }
  off += (parts[0]?.length ?? 0) + 1;
  if (parts[1] !== undefined && parts[1] !== "") {
    const t = parts[1].startsWith("-") ? null : strToUintDecimal(parts[1]);
    if (t === null || t > 255) throw new TextError(off, parts[1], `${parts[1]}: resubmit to unknown table`);
    tableId = t;
  }
  off += (parts[1]?.length ?? 0) + 1;
  const rest = parts.slice(2).join(",");
  if (parts.length > 2 && parts[2] !== "") {
    if (parts[2] !== "ct") throw new TextError(off, rest, `${rest}: unknown parameter`);
    withCt = true;
  }
  if (inPort === OFPP_IN_PORT && tableId === TABLE_NONE) {
    throw new TextError(at, value, 'at least one "in_port" or "table" must be specified on resubmit');
  }
  return { type: "resubmit", inPort, tableId, withCt };
}

function parseSample(value: string, at: number, ctx: ActionParseContext, out: Action[]): void {
  let probability = 0;
  let collectorSetId = 0;
  let obsDomainId = 0;
  let obsPointId = 0;
  let samplingPort = OFPP_NONE;
  let direction: "default" | "ingress" | "egress" = "default";
  for (const kv of splitItems(value, at)) {
    if (kv.key === "probability") {
      probability = strToU16(kv.value, "probability", kv.valueAt);
      if (probability === 0) throw new TextError(kv.valueAt, kv.value, `invalid probability value "${kv.value}"`);
    } else if (kv.key === "collector_set_id") collectorSetId = strToU32(kv.value, kv.valueAt);
    else if (kv.key === "obs_domain_id") obsDomainId = strToU32(kv.value, kv.valueAt);
    else if (kv.key === "obs_point_id") obsPointId = strToU32(kv.value, kv.valueAt);
    else if (kv.key === "sampling_port") {
      const p = portFromString(kv.value, ctx.portNames);
      if (p === null) throw new TextError(kv.valueAt, kv.value, `${kv.value}: unknown port`);
      samplingPort = p;
    } else if (kv.key === "ingress") direction = "ingress";
    else if (kv.key === "egress") direction = "egress";
    else throw new TextError(kv.keyAt, kv.key, `invalid key "${kv.key}" in "sample" argument`);
  }
  if (probability === 0) throw new TextError(at, value, 'non-zero "probability" must be specified on sample');
  out.push({ type: "sample", probability, collectorSetId, obsDomainId, obsPointId, samplingPort, direction });
}

function parseCt(value: string, at: number, ctx: ActionParseContext, depth: number): CtAction {
  let commit = false;
  let force = false;
  let zone = 0;
  let zoneSrc: SubField | null = null;
  let recircTable = TABLE_NONE;
  let alg = 0;
  const actions: Action[] = [];
  for (const kv of splitItems(value, at)) {
    if (kv.key === "commit") commit = true;
    else if (kv.key === "force") force = true;
    else if (kv.key === "table") {
      const t = kv.value.startsWith("-") ? null : strToUintDecimal(kv.value);
      if (t === null || t > 255) throw new TextError(kv.valueAt, kv.value, `unknown table ${kv.value}`);
      if (t === TABLE_NONE) throw new TextError(kv.valueAt, kv.value, "invalid table 0xff");
      recircTable = t;
    } else if (kv.key === "zone") {
      const n = strToInt(kv.value);
      if (n !== null && n >= 0 && n <= 65535) {
        zone = n;
        zoneSrc = null;
      } else {
        const { sub } = parseSubfield(kv.value, kv.valueAt);
        if (sub.nBits !== 16) {
          throw new TextError(kv.valueAt, kv.value, `${kv.value}: ct zone must be a 16-bit field (OFPBAC_BAD_SET_LEN)`);
        }
        zoneSrc = sub;
      }
    } else if (kv.key === "alg") {
      if (kv.value === "ftp") alg = 21;
      else if (kv.value === "tftp") alg = 69;
      else throw new TextError(kv.valueAt, kv.value, `invalid value for alg: ${kv.value}`);
    } else if (kv.key === "nat") {
      actions.push(parseNat(kv.value, kv.valueAt));
    } else if (kv.key === "exec") {
      actions.push(...parseActionList(kv.value, kv.valueAt, ctx, false, "ct", depth + 1));
    } else {
      throw new TextError(kv.keyAt, kv.key, `invalid argument to "ct" action: \`${kv.key}'`);
    }
  }
  if (force && !commit) throw new TextError(at, value, '"force" flag requires "commit" flag.');
  // OVS's switch refuses anything but a bare "nat" inside an uncommitted ct.
  if (!commit && actions.some((a) => a.type !== "nat" || a.kind !== null || a.family !== 0)) {
    throw new TextError(
      at,
      value,
      "CT action requires commit flag if actions other than NAT without arguments are specified.",
    );
  }
  // OVS keeps nat first only when it was written first; it prints a leading nat outside exec().
  return { type: "ct", commit, force, zone, zoneSrc, recircTable, alg, actions };
}

function parseNatRange(s: string, at: number): Pick<NatAction, "family" | "addrMin" | "addrMax" | "portMin" | "portMax"> {
  const bad = (): TextError => new TextError(at, s, `invalid nat range "${s}"`);
  let family: 0 | 4 | 6 = 0;
  let addrMin = 0n;
  let addrMax = 0n;
  let portMin = 0;
  let portMax = 0;
  let n = 0;
  const v4 = /^(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})/.exec(s);
  // An IPv6 address, bare or in brackets (brackets let a ":PORT" follow).
  const readV6 = (from: number): { v: bigint; len: number } | null => {
    const m = s[from] === "[" ? /^\[([0-9a-fA-F:.]+)\]/.exec(s.slice(from)) : /^([0-9a-fA-F:.]+)/.exec(s.slice(from));
    if (m === null) return null;
    const v = parseIPv6(m[1]);
    return v === null ? null : { v, len: m[0].length };
  };
  if (v4 !== null && parseIPv4(v4[1]) !== null) {
    family = 4;
    addrMin = BigInt(parseIPv4(v4[1]) ?? 0);
    n = v4[0].length;
    if (s[n] === "-") {
      n++;
      const m = /^(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})/.exec(s.slice(n));
      const v = m === null ? null : parseIPv4(m[1]);
      if (m === null || v === null || BigInt(v) < addrMin) throw bad();
      addrMax = BigInt(v);
      n += m[0].length;
    }
  } else {
    const a = readV6(0);
    if (a !== null) {
      family = 6;
      addrMin = a.v;
      n = a.len;
      if (s[n] === "-") {
        n++;
        const b = readV6(n);
        if (b === null || b.v < addrMin) throw bad();
        addrMax = b.v;
        n += b.len;
      }
    }
  }
  if (family !== 0 && s[n] === ":") {
    n++;
    const m = /^\d+/.exec(s.slice(n));
    if (m === null || Number(m[0]) > 65535) throw bad();
    portMin = Number(m[0]);
    n += m[0].length;
    if (s[n] === "-") {
      n++;
      const m2 = /^\d+/.exec(s.slice(n));
      if (m2 === null || Number(m2[0]) > 65535 || Number(m2[0]) < portMin) throw bad();
      portMax = Number(m2[0]);
      n += m2[0].length;
    }
  }
  if (n !== s.length) throw new TextError(at + n, s, `garbage (${s.slice(n)}) after nat range "${s}" (pos: ${n})`);
  return { family, addrMin, addrMax, portMin, portMax };
}

function parseNat(value: string, at: number): NatAction {
  let kind: "src" | "dst" | null = null;
  let seenSrc = false;
  let seenDst = false;
  let range: Pick<NatAction, "family" | "addrMin" | "addrMax" | "portMin" | "portMax"> = {
    family: 0,
    addrMin: 0n,
    addrMax: 0n,
    portMin: 0,
    portMax: 0,
  };
  let persistent = false;
  let hash = false;
  let random = false;
  for (const kv of splitItems(value, at)) {
    if (kv.key === "src" || kv.key === "dst") {
      if (kv.key === "src") seenSrc = true;
      else seenDst = true;
      kind = kv.key;
      range = parseNatRange(kv.value, kv.valueAt);
    } else if (kv.key === "persistent") persistent = true;
    else if (kv.key === "hash") hash = true;
    else if (kv.key === "random") random = true;
    else throw new TextError(kv.keyAt, kv.key, `invalid key "${kv.key}" in "nat" argument`);
  }
  if (seenSrc && seenDst) throw new TextError(at, value, 'May only specify one of "src" or "dst".');
  if (kind === null) {
    if (persistent || hash || random) throw new TextError(at, value, 'Flags allowed only with "src" or "dst".');
  }
  if (hash && random) throw new TextError(at, value, 'Both "hash" and "random" are not allowed.');
  return { type: "nat", kind, ...range, persistent, hash, random };
}

function parseLearn(value: string, at: number, ctx: ActionParseContext): LearnAction {
  let tableId = 1;
  let priority = 32768;
  let idleTimeout = 0;
  let hardTimeout = 0;
  let finIdleTimeout = 0;
  let finHardTimeout = 0;
  let cookie = 0n;
  let sendFlowRem = false;
  let deleteLearned = false;
  let limit = 0;
  let resultDst: SubField | null = null;
  const specs: LearnSpec[] = [];
  const orig = value;
  for (const kv of splitItems(value, at)) {
    const k = kv.key;
    const v = kv.value;
    if (k === "table") {
      const t = v.startsWith("-") ? null : strToUintDecimal(v);
      if (t === null || t > 255) throw new TextError(kv.valueAt, v, `unknown table "${v}"`);
      if (t === 255) throw new TextError(kv.valueAt, v, `${orig}: table id 255 not valid for \`learn' action`);
      tableId = t;
    } else if (k === "priority") priority = atoi(v) & 0xffff;
    else if (k === "idle_timeout") idleTimeout = atoi(v) & 0xffff;
    else if (k === "hard_timeout") hardTimeout = atoi(v) & 0xffff;
    else if (k === "fin_idle_timeout") finIdleTimeout = atoi(v) & 0xffff;
    else if (k === "fin_hard_timeout") finHardTimeout = atoi(v) & 0xffff;
    else if (k === "cookie") cookie = strtoullLoose(v);
    else if (k === "send_flow_rem") sendFlowRem = true;
    else if (k === "delete_learned") deleteLearned = true;
    else if (k === "limit") limit = atoi(v) >>> 0;
    else if (k === "result_dst") {
      const { sub, f } = parseSubfield(v, kv.valueAt);
      if (!f.writable) throw new TextError(kv.valueAt, v, `${v} is read-only`);
      if (sub.nBits !== 1) throw new TextError(kv.valueAt, v, "result_dst in 'learn' action must be a single bit");
      resultDst = sub;
    } else {
      specs.push(parseLearnSpec(orig, k, v, kv.keyAt, kv.valueAt, ctx));
    }
  }
  // OVS's learn() uses 0 for "permanent" timeouts; the parser's defaults are OFP_FLOW_PERMANENT (0).
  return {
    type: "learn",
    tableId,
    priority,
    idleTimeout,
    hardTimeout,
    finIdleTimeout,
    finHardTimeout,
    cookie,
    sendFlowRem,
    deleteLearned,
    limit,
    resultDst,
    specs,
  };
}

function parseLearnSpec(
  orig: string,
  name: string,
  value: string,
  nameAt: number,
  valueAt: number,
  ctx: ActionParseContext,
): LearnSpec {
  let dstParsed: { sub: SubField; f: OvsField } | null = null;
  try {
    dstParsed = parseSubfield(name, nameAt);
  } catch (e) {
    if (!(e instanceof TextError)) throw e;
  }
  if (dstParsed !== null) {
    const { sub: dst, f } = dstParsed;
    if (f.nxmName === null) throw new TextError(nameAt, name, `${orig}: experimenter OXM field '${name}' not supported`);
    if (value === "") {
      return { kind: "match", src: { kind: "field", subfield: dst }, dst, nBits: dst.nBits };
    }
    let srcErr: string;
    try {
      const { sub: src } = parseSubfield(value, valueAt);
      if (src.nBits !== dst.nBits) {
        throw new TextError(
          valueAt,
          value,
          `${orig}: bit widths of ${name} (${src.nBits}) and ${value} (${dst.nBits}) differ`,
        );
      }
      return { kind: "match", src: { kind: "field", subfield: src }, dst, nBits: dst.nBits };
    } catch (e) {
      if (!(e instanceof TextError)) throw e;
      if (e.message.includes("bit widths")) throw e;
      srcErr = e.message;
    }
    // An immediate value.
    let imm: bigint;
    let immErr: string | null = null;
    if (dst.ofs === 0 && dst.nBits === f.nBits) {
      try {
        const fv = parseFieldValue(f, value, valueAt, ctx.portNames);
        if (fv.mask !== ones(f.nBytes * 8)) immErr = `${value}: wildcards not allowed here`;
        imm = fv.value;
      } catch (e) {
        if (!(e instanceof TextError)) throw e;
        immErr = e.message;
        imm = 0n;
      }
    } else {
      const r = parseIntString(value, f.nBytes);
      if (typeof r === "string" || r.tail !== value.length) {
        immErr = `${orig}: cannot parse integer value`;
        imm = 0n;
      } else {
        imm = r.value;
        if (imm >> BigInt(dst.nBits) !== 0n) {
          immErr = `${orig}: value ${formatFieldValue(f, imm, null)} does not fit into ${dst.nBits} bits`;
        }
      }
    }
    if (immErr !== null) {
      throw new TextError(
        valueAt,
        value,
        `${orig}: ${name} value ${value} cannot be parsed as a subfield (${srcErr}) or an immediate value (${immErr})`,
      );
    }
    // The immediate is kept in the width of dst's bits (OVS stores n_bits worth of bytes).
    const src: LearnSource = { kind: "immediate", value: imm & ones(dst.nBits) };
    return { kind: "match", src, dst, nBits: dst.nBits };
  }
  if (name === "load") {
    const arrow = value.indexOf("->");
    if (arrow === 0) throw new TextError(valueAt, value, `load: missing source before \`->' in \`${value}'`);
    if (arrow < 0) throw new TextError(valueAt, value, `load: missing \`->' in \`${value}'`);
    const r = parseIntString(value, 16);
    if (typeof r !== "string" && r.tail > 0) {
      if (r.tail !== arrow) throw new TextError(valueAt, value, `load: garbage before \`->' in \`${value}'`);
      const { sub: dst, f } = parseSubfield(value.slice(arrow + 2), valueAt + arrow + 2);
      if (f.nxmName === null) {
        throw new TextError(valueAt, value, `${value}: experimenter OXM field '${value.slice(arrow + 2)}' not supported`);
      }
      if (r.value >> BigInt(dst.nBits) !== 0n) {
        throw new TextError(valueAt, value, `${value}: value does not fit into ${dst.nBits} bits`);
      }
      return { kind: "load", src: { kind: "immediate", value: r.value }, dst, nBits: dst.nBits };
    }
    const { src, dst } = parseMove(value, valueAt);
    return { kind: "load", src: { kind: "field", subfield: src }, dst, nBits: src.nBits };
  }
  if (name === "output") {
    const { sub } = parseSubfield(value, valueAt);
    return { kind: "output", src: { kind: "field", subfield: sub }, dst: null, nBits: sub.nBits };
  }
  throw new TextError(nameAt, name, `${orig}: unknown keyword ${name}`);
}

/** OVS's ofpacts_verify: instruction order, nesting rules, conjunction alone. */
function verify(list: Action[], allowInstructions: boolean, outer: Outer, base: number): void {
  let inst = INST_ORDER.meter;
  let first = true;
  for (const a of list) {
    const at = actionAt.get(a) ?? base;
    if (a.type === "conjunction") {
      for (const b of list) {
        if (b.type !== "conjunction" && b.type !== "note") {
          throw new TextError(
            actionAt.get(b) ?? base,
            b.type,
            `"conjunction" actions may be used along with "note" but not any other kind of action (such as the "${ofpactName(b)}" action used here)`,
          );
        }
      }
      return;
    }
    const dstField = a.type === "set_field" ? a.field : a.type === "reg_move" ? a.dst.field : null;
    const requiresCt = dstField !== null && (dstField.name === "ct_mark" || dstField.name === "ct_label");
    if (requiresCt && outer !== "ct") throw new TextError(at, a.type, "cannot set CT fields outside of ct action");
    if (a.type === "nat") {
      if (outer !== "ct") throw new TextError(at, "nat", 'Cannot have NAT action outside of "ct" action');
    } else if (outer !== "") {
      if (outer === "ct") {
        if (dstField === null) throw new TextError(at, a.type, `ct action doesn't support nested action ${ofpactName(a)}`);
        if (!requiresCt) {
          throw new TextError(at, a.type, `ct action doesn't support nested modification of ${ovsFieldOf(dstField).name}`);
        }
      }
      if (a.type === "meter") throw new TextError(at, a.type, `${outer} action doesn't support nested action meter`);
    }
    const nextName = instOf(a);
    const next = INST_ORDER[nextName];
    if (!first && (inst === INST_ORDER.apply_actions ? next < inst : next <= inst)) {
      const curName = Object.keys(INST_ORDER).find((k) => INST_ORDER[k] === inst) ?? "";
      if (next === inst) {
        throw new TextError(at, nextName, `duplicate ${curName} instruction not allowed, for OpenFlow 1.1+ compatibility`);
      }
      throw new TextError(
        at,
        nextName,
        `invalid instruction ordering: ${nextName} must appear before ${curName}, for OpenFlow 1.1+ compatibility`,
      );
    }
    if (!allowInstructions && nextName !== "apply_actions" && nextName !== "meter") {
      throw new TextError(at, nextName, `${nextName} instruction not allowed here`);
    }
    inst = next;
    first = false;
  }
}

/** OVS's ofpact_name for messages. */
export function ofpactName(a: Action): string {
  switch (a.type) {
    case "set_eth_src":
      return "mod_dl_src";
    case "set_eth_dst":
      return "mod_dl_dst";
    case "set_ipv4_src":
      return "mod_nw_src";
    case "set_ipv4_dst":
      return "mod_nw_dst";
    case "set_ip_dscp":
      return "mod_nw_tos";
    case "set_ip_ecn":
      return "mod_nw_ecn";
    case "set_ip_ttl":
      return "mod_nw_ttl";
    case "set_l4_src_port":
      return "mod_tp_src";
    case "set_l4_dst_port":
      return "mod_tp_dst";
    case "reg_move":
      return "move";
    case "stack_push":
      return "push";
    case "stack_pop":
      return "pop";
    default:
      return a.type;
  }
}

// ---- ofpacts_check: actions against the match.

interface CheckFindings {
  of10: boolean;
  inconsistent: Action | null;
  needs: string;
}

/** The flow view used by the checks: the match's value words, changed by actions as OVS's check does. */
class CheckFlow {
  /** The match the checks read: the given one until some action changes the flow, then a private copy. */
  private view: Match;
  private copied: boolean;
  /**
   * Shared with nested lists' flows: whether the flow goes to the switch as
   * OpenFlow 1.0, and the first action OVS would send only as OpenFlow 1.0
   * (inconsistent_match) with what the match lacks for it.
   */
  readonly found: CheckFindings;
  constructor(match: Match, found: CheckFindings = { of10: false, inconsistent: null, needs: "" }) {
    this.view = match;
    this.copied = false;
    this.found = found;
  }
  /** A flow for a nested list: the same match and findings, changes kept apart. */
  nested(): CheckFlow {
    return new CheckFlow(this.view, this.found);
  }
  /** The flow to read. */
  get match(): Match {
    return this.view;
  }
  /** The flow to change: copied on the first change, so checking never alters the caller's match. */
  get writable(): Match {
    if (!this.copied) {
      this.view = this.view.clone();
      this.copied = true;
    }
    return this.view;
  }
  get dlType(): number {
    return this.match.value[L.W_DL_TYPE] & 0xffff;
  }
  get nwProto(): number {
    return this.match.value[L.W_NW] & 0xff;
  }
  get tpSrc(): number {
    return this.match.value[L.W_TP] >>> 16;
  }
  get tpDst(): number {
    return this.match.value[L.W_TP] & 0xffff;
  }
  get frag(): number {
    return (this.match.value[L.W_NW] >>> L.NW_FRAG_SHIFT) & 0xff;
  }
  get tci(): number {
    return this.match.value[L.W_VLAN0] & 0xffff;
  }
  set tci(v: number) {
    const m = this.writable;
    m.value[L.W_VLAN0] = (m.value[L.W_VLAN0] & 0xffff0000) | (v & 0xffff);
  }
  get isIpAny(): boolean {
    return this.dlType === L.ETH_TYPE_IP || this.dlType === L.ETH_TYPE_IPV6;
  }
}

/** mf_are_prereqs_ok on the check flow (values only; OVS passes no mask here except for ct). */
function prereqOk(p: MfPrereq, fl: CheckFlow, withMask: boolean): boolean {
  const dl = fl.dlType;
  const later = (fl.frag & L.FRAG_LATER) !== 0;
  switch (p) {
    case "none":
      return true;
    case "arp":
      return dl === L.ETH_TYPE_ARP || dl === L.ETH_TYPE_RARP;
    case "ipv4":
      return dl === L.ETH_TYPE_IP;
    case "ipv6":
      return dl === L.ETH_TYPE_IPV6;
    case "ip_any":
      return fl.isIpAny;
    case "vlan_vid":
      return (fl.tci & L.VLAN_CFI) !== 0;
    case "mpls":
      return dl === L.ETH_TYPE_MPLS || dl === L.ETH_TYPE_MPLS_MCAST;
    case "ct_valid":
      return ctValid(fl.match, withMask);
    case "tcp":
      return fl.isIpAny && fl.nwProto === L.IPPROTO_TCP && !later;
    case "udp":
      return fl.isIpAny && fl.nwProto === L.IPPROTO_UDP && !later;
    case "sctp":
      return fl.isIpAny && fl.nwProto === L.IPPROTO_SCTP && !later;
    case "icmpv4":
      return dl === L.ETH_TYPE_IP && fl.nwProto === L.IPPROTO_ICMP;
    case "icmpv6":
      return dl === L.ETH_TYPE_IPV6 && fl.nwProto === L.IPPROTO_ICMPV6;
    case "nd":
    case "nd_solicit":
    case "nd_advert": {
      const nd =
        dl === L.ETH_TYPE_IPV6 && fl.nwProto === L.IPPROTO_ICMPV6 && fl.tpDst === 0 && (fl.tpSrc === 135 || fl.tpSrc === 136);
      if (!nd) return false;
      if (p === "nd_solicit") return fl.tpSrc === 135;
      if (p === "nd_advert") return fl.tpSrc === 136;
      return true;
    }
  }
}

/** is_ct_valid with a mask: some state bit implying a valid entry is set, or +trk-inv. */
export function ctValid(m: Match, withMask = true): boolean {
  const st = m.value[L.W_CT] & 0xff;
  const sm = m.mask[L.W_CT] & 0xff;
  const CS_NEW = 1;
  const CS_EST = 2;
  const CS_REL = 4;
  const CS_RPL = 8;
  const CS_INV = 16;
  const CS_TRK = 32;
  const CS_SNAT = 64;
  const CS_DNAT = 128;
  if (st & (CS_NEW | CS_EST | CS_REL | CS_RPL | CS_SNAT | CS_DNAT)) return true;
  if (!withMask) return (st & CS_TRK) !== 0 && (st & CS_INV) === 0;
  return (st & CS_TRK) !== 0 && (sm & CS_INV) !== 0 && (st & CS_INV) === 0;
}

class CheckError extends Error {
  readonly code: string;
  readonly action: Action;
  constructor(code: string, action: Action) {
    super(code);
    this.code = code;
    this.action = action;
  }
}

function checkSubfieldSrc(sub: SubField, fl: CheckFlow, a: Action): void {
  const f = ovsFieldOf(sub.field);
  if (!prereqOk(f.prereq, fl, true)) throw new CheckError("OFPBAC_MATCH_INCONSISTENT", a);
}

function checkSubfieldDst(sub: SubField, fl: CheckFlow, a: Action): void {
  const f = ovsFieldOf(sub.field);
  if (!f.writable) throw new CheckError("OFPBAC_BAD_SET_ARGUMENT", a);
  checkSubfieldSrc(sub, fl, a);
}

function checkOutputPort(port: number, a: Action): void {
  if (port === OFPP_NONE) throw new CheckError("OFPBAC_BAD_OUT_PORT", a);
  if (port >= 0xfff8) return;
  if (port >= OFPP_MAX) throw new CheckError("OFPBAC_BAD_OUT_PORT", a);
}

function checkList(list: readonly Action[], fl: CheckFlow, tableId: number): void {
  for (const a of list) {
    if (fl.found.inconsistent === null) {
      const needs = of10OnlyBecause(a, fl);
      if (needs !== "") {
        fl.found.inconsistent = a;
        fl.found.needs = needs;
      }
    }
    checkAction(a, fl, tableId);
  }
}

/**
 * What the flow lacks for `a`, when OVS's check calls inconsistent_match
 * (lib/ofp-actions.c check_SET_VLAN_VID, check_STRIP_VLAN, check_set_ipv4,
 * check_set_ip, check_set_l4_port, check_set_mpls, check_POP_MPLS,
 * check_FIN_TIMEOUT): OVS then encodes the flow only in OpenFlow 1.0 (and
 * NXM), so an OpenFlow 1.1+ switch never receives it. "" when consistent.
 * Reads the flow as the actions before `a` left it.
 */
function of10OnlyBecause(a: Action, fl: CheckFlow): string {
  switch (a.type) {
    case "set_vlan_vid":
    case "set_vlan_pcp":
      return a.pushIfNeeded || (fl.tci & L.VLAN_CFI) !== 0 ? "" : "a VLAN header in the match";
    case "strip_vlan":
      return (fl.tci & L.VLAN_CFI) !== 0 ? "" : "a VLAN header in the match";
    case "set_ipv4_src":
    case "set_ipv4_dst":
      return fl.dlType === L.ETH_TYPE_IP ? "" : "ip";
    case "set_ip_dscp":
    case "set_ip_ecn":
    case "set_ip_ttl":
    case "dec_ttl":
      return fl.isIpAny ? "" : "ip or ipv6";
    case "set_l4_src_port":
    case "set_l4_dst_port": {
      const p = fl.nwProto;
      const ports = p === L.IPPROTO_TCP || p === L.IPPROTO_UDP || p === L.IPPROTO_SCTP;
      return fl.isIpAny && ports && (fl.frag & L.FRAG_LATER) === 0 ? "" : "tcp, udp or sctp, and not ip_frag=later";
    }
    case "set_mpls_label":
    case "set_mpls_tc":
    case "set_mpls_ttl":
    case "dec_mpls_ttl":
    case "pop_mpls":
      return fl.dlType === L.ETH_TYPE_MPLS || fl.dlType === L.ETH_TYPE_MPLS_MCAST ? "" : "mpls or mplsm";
    case "fin_timeout":
      return fl.nwProto === L.IPPROTO_TCP ? "" : "tcp";
    default:
      return "";
  }
}

/** The first group action, here or nested (OVS's OFPACT_FOR_EACH_FLATTENED), whose group `exists` denies. */
function missingGroup(list: readonly Action[], exists: (groupId: number) => boolean): Action | null {
  for (const a of list) {
    if (a.type === "group" && !exists(a.groupId)) return a;
    if (a.type === "clone" || a.type === "ct" || a.type === "write_actions") {
      const inner = missingGroup(a.actions, exists);
      if (inner !== null) return inner;
    }
  }
  return null;
}

function checkAction(a: Action, fl: CheckFlow, tableId: number): void {
  switch (a.type) {
    case "output":
    case "output_trunc":
      checkOutputPort(a.port, a);
      return;
    case "enqueue":
      if (a.port >= OFPP_MAX && a.port !== OFPP_IN_PORT && a.port !== OFPP_LOCAL) {
        throw new CheckError("OFPBAC_BAD_OUT_PORT", a);
      }
      return;
    case "output_reg":
      checkSubfieldSrc(a.src, fl, a);
      return;
    case "set_field": {
      const f = ovsFieldOf(a.field);
      if (!prereqOk(f.prereq, fl, false) || (f.name === "vlan_vid" && (fl.tci & L.VLAN_CFI) === 0)) {
        throw new CheckError("OFPBAC_MATCH_INCONSISTENT", a);
      }
      if (f.name === "vlan_tci") fl.tci = Number(a.value & 0xffffn);
      return;
    }
    case "set_vlan_vid":
    case "set_vlan_pcp":
      fl.tci = fl.tci | L.VLAN_CFI;
      return;
    case "set_ip_ttl":
    case "set_ip_ecn":
      // OpenFlow 1.0 has no such action: OVS sends a load to the field, whose prerequisites the switch checks.
      if (fl.found.of10 && !fl.isIpAny) throw new CheckError("OFPBAC_MATCH_INCONSISTENT", a);
      return;
    case "strip_vlan":
      // flow_pop_vlan: the inner tag (none tracked here) moves out.
      fl.tci = fl.match.value[L.W_VLAN1] & 0xffff;
      fl.writable.value[L.W_VLAN1] = 0;
      return;
    case "push_vlan":
      if (fl.match.value[L.W_VLAN1] & L.VLAN_CFI) throw new CheckError("OFPBAC_BAD_TAG", a);
      fl.writable.value[L.W_VLAN1] = fl.match.value[L.W_VLAN0];
      fl.tci = fl.tci | L.VLAN_CFI;
      return;
    case "reg_move":
      checkSubfieldSrc(a.src, fl, a);
      checkSubfieldDst(a.dst, fl, a);
      return;
    case "stack_push":
      checkSubfieldSrc(a.subfield, fl, a);
      return;
    case "stack_pop":
      checkSubfieldDst(a.subfield, fl, a);
      return;
    case "resubmit":
      if (a.withCt && !ctValid(fl.match)) throw new CheckError("OFPBAC_MATCH_INCONSISTENT", a);
      return;
    case "ct": {
      const st = fl.match.value[L.W_CT] & 0xff;
      if (
        !fl.isIpAny ||
        (st & 16 && a.commit) ||
        (a.alg === 21 && fl.nwProto !== L.IPPROTO_TCP) ||
        (a.alg === 69 && fl.nwProto !== L.IPPROTO_UDP)
      ) {
        throw new CheckError("OFPBAC_MATCH_INCONSISTENT", a);
      }
      if (a.zoneSrc !== null) {
        checkSubfieldSrc(a.zoneSrc, fl, a);
        return;
      }
      checkList(a.actions, fl.nested(), tableId);
      return;
    }
    case "nat":
      if (!fl.isIpAny || (a.family === 4 && fl.dlType !== L.ETH_TYPE_IP) || (a.family === 6 && fl.dlType !== L.ETH_TYPE_IPV6)) {
        throw new CheckError("OFPBAC_MATCH_INCONSISTENT", a);
      }
      return;
    case "clone":
      // Nested lists start from the flow as it is here; their changes do not leak out (as in OVS).
      checkList(a.actions, fl.nested(), tableId);
      return;
    case "write_actions":
      // An action set's consistency cannot be judged: its findings are dropped (OVS's check_WRITE_ACTIONS).
      checkList(a.actions, new CheckFlow(fl.match, { of10: fl.found.of10, inconsistent: null, needs: "" }), tableId);
      return;
    case "goto_table":
      if (tableId !== TABLE_NONE && a.tableId <= tableId) throw new CheckError("OFPBIC_BAD_TABLE_ID", a);
      return;
    case "learn":
      checkLearn(a, fl);
      return;
    case "meter":
      if (a.meterId === 0 || a.meterId > 0xffff0000) throw new CheckError("OFPMMFC_INVALID_METER", a);
      return;
    case "push_mpls":
      fl.writable.value[L.W_DL_TYPE] = a.ethertype;
      fl.writable.value[L.W_NW] = fl.match.value[L.W_NW] & ~0xff;
      return;
    case "pop_mpls":
      fl.writable.value[L.W_DL_TYPE] = a.ethertype;
      return;
    default:
      return;
  }
}

function checkLearn(a: LearnAction, fl: CheckFlow): void {
  const dstMatch = new Match();
  const dstFlow = new CheckFlow(dstMatch);
  for (const spec of a.specs) {
    if (spec.src.kind === "field") checkSubfieldSrc(spec.src.subfield, fl, a);
    if (spec.kind === "match" && spec.dst !== null) {
      checkSubfieldSrc(spec.dst, dstFlow, a);
      if (spec.src.kind === "immediate") {
        const f = ovsFieldOf(spec.dst.field);
        const cur = getMatchField(dstFlow.match, f);
        const bits = ones(spec.dst.nBits) << BigInt(spec.dst.ofs);
        const value = (cur.value & ~bits) | ((spec.src.value << BigInt(spec.dst.ofs)) & bits);
        const mask = cur.mask | bits;
        setMatchField(dstFlow.writable, f, value, mask);
      }
    } else if (spec.kind === "load" && spec.dst !== null) {
      checkSubfieldDst(spec.dst, dstFlow, a);
    }
  }
}

/** What the switch a flow is for refuses beyond the syntax. */
export interface SwitchChecks {
  /**
   * The OpenFlow version the switch speaks, when not OpenFlow10: actions
   * that OVS encodes only in OpenFlow 1.0 given the match are refused.
   */
  protocol?: string;
  /** Whether the switch has a group: group actions naming others are refused (OFPBAC_BAD_OUT_GROUP). */
  groupExists?: (groupId: number) => boolean;
  /** Whether the switch has a meter: a meter instruction naming another is refused (OFPMMFC_INVALID_METER). */
  meterExists?: (meterId: number) => boolean;
  /**
   * The switch speaks only OpenFlow 1.0, so ovs-ofctl must send the flow in
   * it: a meter cannot be sent at all, and goto_table goes as resubmit(,N),
   * which the switch refuses after write_metadata (ofpacts_verify).
   */
  of10Only?: boolean;
  /**
   * The flow is for flowplane's switch, whose datapath does not run MPLS
   * actions (push_mpls, pop_mpls, set_mpls_label/tc/ttl, dec_mpls_ttl):
   * they are refused rather than skipped, so no packet leaves unchanged
   * where OVS would have changed it. Matching MPLS packets is fine.
   */
  forDatapath?: boolean;
}

const MPLS_ACTIONS: ReadonlySet<string> = new Set(["push_mpls", "pop_mpls", "set_mpls_label", "set_mpls_tc", "set_mpls_ttl", "dec_mpls_ttl"]);

/** The first MPLS action of a list, nested lists included (clone, write_actions). */
function firstMplsAction(list: readonly Action[]): Action | null {
  for (const a of list) {
    if (MPLS_ACTIONS.has(a.type)) return a;
    if (a.type === "clone" || a.type === "write_actions" || a.type === "ct") {
      const inner = firstMplsAction(a.actions);
      if (inner !== null) return inner;
    }
  }
  return null;
}

/**
 * Checks actions against the match (OVS's ofpacts_check) for a flow in
 * `tableId`; throws a TextError at the offending action with OVS's message
 * "actions are invalid with specified match (OFPBAC_...)". With `checks`,
 * also what the switch refuses, in the order OVS finds it: ovs-ofctl's
 * choice of OpenFlow version, then the switch's ofproto_check_ofpacts.
 */
export function checkActions(actions: readonly Action[], match: Match, tableId: number, checks: SwitchChecks = {}): void {
  const fl = new CheckFlow(match, { of10: checks.protocol === "OpenFlow10", inconsistent: null, needs: "" });
  try {
    checkList(actions, fl, tableId);
  } catch (e) {
    if (!(e instanceof CheckError)) throw e;
    throw new TextError(actionAt.get(e.action) ?? 0, e.action.type, `actions are invalid with specified match (${e.code})`);
  }
  const bad = fl.found.inconsistent;
  if (bad !== null && checks.protocol !== undefined && checks.protocol !== "OpenFlow10") {
    // ovs-ofctl: "none of the usable flow formats (OpenFlow10,NXM) is among the allowed flow formats (OXM-OpenFlow13)".
    throw new TextError(
      actionAt.get(bad) ?? 0,
      bad.type,
      `${ofpactName(bad)} needs ${fl.found.needs} in the match for ${checks.protocol}: OVS sends this flow only as OpenFlow 1.0 ` +
        `(none of the usable flow formats is among the allowed flow formats)`,
    );
  }
  if (checks.of10Only === true) checkOf10Encoding(actions);
  if (checks.forDatapath === true) {
    const m = firstMplsAction(actions);
    if (m !== null) throw new TextError(actionAt.get(m) ?? 0, m.type, `${m.type}: MPLS actions are not supported by flowplane's datapath`);
  }
  // ofproto_check_ofpacts: the meter instruction, which comes first, then the groups.
  const meter = actions.find((a) => a.type === "meter");
  if (checks.meterExists !== undefined && meter !== undefined && meter.type === "meter" && !checks.meterExists(meter.meterId)) {
    throw new TextError(actionAt.get(meter) ?? 0, "meter", `meter ${meter.meterId} does not exist (OFPMMFC_INVALID_METER)`);
  }
  if (checks.groupExists !== undefined) {
    const g = missingGroup(actions, checks.groupExists);
    if (g !== null && g.type === "group") {
      throw new TextError(actionAt.get(g) ?? 0, "group", `group ${g.groupId} does not exist (OFPBAC_BAD_OUT_GROUP)`);
    }
  }
}

/** What ovs-ofctl -O OpenFlow10 cannot send, or sends in a form the switch refuses. */
function checkOf10Encoding(actions: readonly Action[]): void {
  const meter = actions.find((a) => a.type === "meter");
  if (meter !== undefined) {
    // ovs-ofctl: "none of the usable flow formats (OXM-OpenFlow13,...) is among the allowed flow formats (OpenFlow10,NXM)".
    throw new TextError(
      actionAt.get(meter) ?? 0,
      "meter",
      "meter needs OpenFlow 1.3 or later and the bridge speaks only OpenFlow10 (none of the usable flow formats is among the allowed flow formats)",
    );
  }
  const goto = actions.find((a) => a.type === "goto_table");
  if (goto !== undefined && goto.type === "goto_table" && actions.some((a) => a.type === "write_metadata")) {
    // encode_GOTO_TABLE sends NXAST_RESUBMIT_TABLE in OpenFlow 1.0; the switch's ofpacts_verify then sees an apply action after write_metadata.
    throw new TextError(
      actionAt.get(goto) ?? 0,
      "goto_table",
      `goto_table:${goto.tableId} goes as resubmit(,${goto.tableId}) in OpenFlow10, after write_metadata: ` +
        "invalid instruction ordering: apply_actions must appear before write_metadata (OFPBAC_UNSUPPORTED_ORDER)",
    );
  }
}

export interface ParseActionsOptions {
  portNames?: ReadonlyMap<string, number>;
  fileName?: string;
  lineNumber?: number;
  /** Check the actions against this match (as a flow's actions are); unchecked when absent. */
  match?: Match;
  /** The flow's table, for goto_table checks (TABLE_NONE by default). */
  tableId?: number;
}

/**
 * Parses an `actions=` value on its own (instructions allowed), e.g.
 * "resubmit(,25),output:1". Throws FlowSyntaxError with the column in `text`.
 */
export function parseActions(text: string, opts: ParseActionsOptions = {}): Action[] {
  try {
    const list = parseActionList(text, 0, { portNames: opts.portNames }, true);
    if (opts.match !== undefined) checkActions(list, opts.match, opts.tableId ?? TABLE_NONE);
    return list;
  } catch (e) {
    if (e instanceof TextError) {
      throw new FlowSyntaxError(opts.fileName ?? "", opts.lineNumber ?? 1, e.at + 1, e.token, e.message);
    }
    throw e;
  }
}
