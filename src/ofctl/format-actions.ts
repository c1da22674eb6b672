/**
 * Prints actions and instructions exactly as Open vSwitch does
 * (ofpacts_format in lib/ofp-actions.c), and models what a trip through an
 * OpenFlow version does to them first.
 *
 * Why the trip matters: `ovs-ofctl dump-flows` does not print what was
 * written; the flow went to the switch encoded in one OpenFlow version and
 * came back in another, and some actions change on the way — mod_vlan_vid
 * becomes push_vlan + set_field:4097->vlan_vid in OpenFlow 1.2+,
 * mod_dl_src becomes set_field:...->eth_src, set_field becomes load: or
 * mod_*: in OpenFlow 1.0, goto_table becomes resubmit(,N) in OpenFlow 1.0,
 * enqueue becomes set_queue,output,pop_queue in 1.1+, notes are padded.
 * `roundTrip(actions, version)` returns the actions as the receiver decodes
 * them; formatActions applies it for the add and the dump protocol.
 *
 * Invariants: roundTrip is pure (returns new objects) and idempotent for a
 * given version in the cases OVS is.
 */
import type { Action, SetFieldAction, SubField } from "../openflow/actions.js";
import { TABLE_NONE, CONTROLLER_NO_METER, CONTROLLER_MAX_LEN_DEFAULT } from "../openflow/actions.js";
import type { Match } from "../flow/match.js";
import * as L from "../flow/layout.js";
import { formatIPv4, formatIPv6, formatMac, OFPP_CONTROLLER, OFPP_IN_PORT, OFPP_NONE } from "../flow/text.js";
import { formatPortName } from "../flow/format.js";
import { OFPP_MAX, formatFieldValue, formatSubfield, ones, ovsFieldByName, ovsFieldOf, putHex } from "./mf.js";

export type OfProtocol = "OpenFlow10" | "OpenFlow11" | "OpenFlow12" | "OpenFlow13" | "OpenFlow14" | "OpenFlow15";

/** The wire version number of a protocol name. */
export function protocolVersion(p: OfProtocol): number {
  switch (p) {
    case "OpenFlow10":
      return 1;
    case "OpenFlow11":
      return 2;
    case "OpenFlow12":
      return 3;
    case "OpenFlow13":
      return 4;
    case "OpenFlow14":
      return 5;
    case "OpenFlow15":
      return 6;
  }
}

const OF10 = 1;
const OF11 = 2;
const OF12 = 3;
const OF13 = 4;
const OF14 = 5;
const OF15 = 6;

export interface FormatActionsOptions {
  /** Print as `dump-flows -O PROTOCOL` would; absent: print the actions as they are. */
  protocol?: OfProtocol;
  /** Protocol the flow was added with (defaults to `protocol`). */
  addProtocol?: OfProtocol;
  /** The flow's match: decides push_vlan for mod_vlan_vid and the field of mod_tp_src in 1.2+. */
  match?: Match;
  /** Port names (dump-flows --names). */
  portName?: (port: number) => string | undefined;
}

/** Actions as text: "output:1,resubmit(,2)"; "drop" for none. */
export function formatActions(actions: readonly Action[], opts: FormatActionsOptions = {}): string {
  let list: readonly Action[] = actions;
  let version = 0;
  if (opts.protocol !== undefined) {
    const add = protocolVersion(opts.addProtocol ?? opts.protocol);
    version = protocolVersion(opts.protocol);
    list = roundTrip(list, add, opts.match);
    list = roundTrip(list, version, opts.match);
  }
  return formatList(list, { version, portName: opts.portName });
}

interface PrintCtx {
  /** 0 when printing without a protocol trip. */
  version: number;
  portName?: (port: number) => string | undefined;
}

function formatList(list: readonly Action[], ctx: PrintCtx): string {
  if (list.length === 0) return "drop";
  return list.map((a) => formatAction(a, ctx)).join(",");
}

/** ofpacts_format for a nested list: empty prints as nothing (not "drop"). */
function formatNested(list: readonly Action[], ctx: PrintCtx): string {
  return list.map((a) => formatAction(a, ctx)).join(",");
}

const port = (p: number, ctx: PrintCtx): string => formatPortName(p, ctx.portName);

function formatAction(a: Action, ctx: PrintCtx): string {
  switch (a.type) {
    case "output": {
      let s = a.port < OFPP_MAX ? "output:" : "";
      s += port(a.port, ctx);
      if (a.port === OFPP_CONTROLLER) s += `:${a.maxLen}`;
      return s;
    }
    case "output_reg":
      return `output:${formatSubfield(a.src)}`;
    case "output_trunc":
      return `output(port=${port(a.port, ctx)},max_len=${a.maxLen})`;
    case "controller": {
      if (a.reason === "action" && a.controllerId === 0 && a.userdata.length === 0 && !a.pause && a.meterId === CONTROLLER_NO_METER) {
        return `CONTROLLER:${a.maxLen}`;
      }
      const parts: string[] = [];
      if (a.reason !== "action") parts.push(`reason=${a.reason}`);
      if (a.maxLen !== CONTROLLER_MAX_LEN_DEFAULT) parts.push(`max_len=${a.maxLen}`);
      if (a.controllerId !== 0) parts.push(`id=${a.controllerId}`);
      if (a.userdata.length > 0) parts.push(`userdata=${hexArg(a.userdata)}`);
      if (a.pause) parts.push("pause");
      if (a.meterId !== CONTROLLER_NO_METER) parts.push(`meter_id=${a.meterId}`);
      return `controller(${parts.join(",")})`;
    }
    case "enqueue":
      return `enqueue:${port(a.port, ctx)}:${a.queue}`;
    case "group":
      return `group:${a.groupId}`;
    case "set_field":
      return formatSetField(a, ctx);
    case "set_vlan_vid":
      return `${a.pushIfNeeded ? "mod_vlan_vid" : "set_vlan_vid"}:${a.vid}`;
    case "set_vlan_pcp":
      return `${a.pushIfNeeded ? "mod_vlan_pcp" : "set_vlan_pcp"}:${a.pcp}`;
    case "strip_vlan":
      return ctx.version >= OF11 ? "pop_vlan" : "strip_vlan";
    case "push_vlan":
      return `push_vlan:0x${a.ethertype.toString(16)}`;
    case "set_eth_src":
    case "set_eth_dst":
      return `${a.type === "set_eth_src" ? "mod_dl_src" : "mod_dl_dst"}:${mac(a.mac)}`;
    case "set_ipv4_src":
    case "set_ipv4_dst":
      return `${a.type === "set_ipv4_src" ? "mod_nw_src" : "mod_nw_dst"}:${formatIPv4(a.ipv4)}`;
    case "set_ip_dscp":
      return `mod_nw_tos:${a.dscp}`;
    case "set_ip_ecn":
      return `mod_nw_ecn:${a.ecn}`;
    case "set_ip_ttl":
      return `mod_nw_ttl:${a.ttl}`;
    case "set_l4_src_port":
      return `mod_tp_src:${a.port}`;
    case "set_l4_dst_port":
      return `mod_tp_dst:${a.port}`;
    case "reg_move":
      return `move:${formatSubfield(a.src)}->${formatSubfield(a.dst)}`;
    case "stack_push":
      return `push:${formatSubfield(a.subfield)}`;
    case "stack_pop":
      return `pop:${formatSubfield(a.subfield)}`;
    case "dec_ttl":
      return a.withIds ? `dec_ttl(${a.controllerIds.join(",")})` : "dec_ttl";
    case "set_mpls_label":
      return `set_mpls_label(${a.label})`;
    case "set_mpls_tc":
      return `set_mpls_tc(${a.tc})`;
    case "set_mpls_ttl":
      return `set_mpls_ttl(${a.ttl})`;
    case "dec_mpls_ttl":
      return "dec_mpls_ttl";
    case "push_mpls":
    case "pop_mpls":
      return `${a.type}:0x${a.ethertype.toString(16).padStart(4, "0")}`;
    case "set_tunnel":
      return `set_tunnel${a.wide || a.tunId > 0xffffffffn ? "64" : ""}:${hex0x(a.tunId)}`;
    case "set_queue":
      return `set_queue:${a.queueId}`;
    case "pop_queue":
      return "pop_queue";
    case "fin_timeout": {
      const parts: string[] = [];
      if (a.idleTimeout) parts.push(`idle_timeout=${a.idleTimeout}`);
      if (a.hardTimeout) parts.push(`hard_timeout=${a.hardTimeout}`);
      return `fin_timeout(${parts.join(",")})`;
    }
    case "resubmit": {
      if (a.inPort !== OFPP_IN_PORT && a.tableId === TABLE_NONE) return `resubmit:${port(a.inPort, ctx)}`;
      let s = "resubmit(";
      if (a.inPort !== OFPP_IN_PORT) s += port(a.inPort, ctx);
      s += ",";
      if (a.tableId !== TABLE_NONE) s += String(a.tableId);
      if (a.withCt) s += ",ct";
      return s + ")";
    }
    case "learn":
      return formatLearn(a, ctx);
    case "conjunction":
      return `conjunction(${a.id},${a.clause}/${a.nClauses})`;
    case "note":
      return `note:${hexArg(a.data)}`;
    case "exit":
      return "exit";
    case "nat":
      return formatNat(a);
    case "ct": {
      let s = "ct(";
      if (a.commit) s += "commit,";
      if (a.force) s += "force,";
      if (a.recircTable !== TABLE_NONE) s += `table=${a.recircTable},`;
      if (a.zoneSrc !== null) s += `zone=${formatSubfield(a.zoneSrc)},`;
      else if (a.zone) s += `zone=${a.zone},`;
      let rest = a.actions;
      if (rest.length > 0 && rest[0].type === "nat") {
        s += formatNat(rest[0]) + ",";
        rest = rest.slice(1);
      }
      if (rest.length > 0) s += `exec(${formatNested(rest, ctx)}),`;
      if (a.alg === 21) s += "alg=ftp,";
      else if (a.alg === 69) s += "alg=tftp,";
      else if (a.alg !== 0) s += `alg=${a.alg},`;
      if (s.endsWith(",")) s = s.slice(0, -1);
      return s + ")";
    }
    case "ct_clear":
      return "ct_clear";
    case "clone":
      // ofpacts_format prints an empty list as "drop".
      return `clone(${a.actions.length ? formatNested(a.actions, ctx) : "drop"})`;
    case "sample": {
      let s = `sample(probability=${a.probability},collector_set_id=${a.collectorSetId},obs_domain_id=${a.obsDomainId},obs_point_id=${a.obsPointId}`;
      if (a.samplingPort !== OFPP_NONE) s += `,sampling_port=${port(a.samplingPort, ctx)}`;
      if (a.direction === "ingress") s += ",ingress";
      else if (a.direction === "egress") s += ",egress";
      return s + ")";
    }
    case "meter":
      return `meter:${a.meterId}`;
    case "clear_actions":
      return "clear_actions";
    case "write_actions":
      return `write_actions(${a.actions.length ? formatNested(a.actions, ctx) : "drop"})`;
    case "write_metadata":
      return `write_metadata:${hex0x(a.metadata)}` + (a.mask !== 0xffffffffffffffffn ? `/${hex0x(a.mask)}` : "");
    case "goto_table":
      return `goto_table:${a.tableId}`;
  }
}

/** printf "%#x": "0" for zero, else "0x..." */
const hex0x = (v: bigint): string => (v === 0n ? "0" : `0x${v.toString(16)}`);

const mac = (v: bigint): string => formatMac(Number(v >> 32n), Number(v & 0xffffffffn));

/** format_hex_arg: bytes as "xx.xx.xx". */
function hexArg(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(".");
}

/**
 * The contiguous runs of one bits in `mask`, each at most 64 bits (a
 * NXAST_REG_LOAD carries a 64-bit value), as OVS's next_load_segment.
 */
function loadSegments(mask: bigint): { ofs: number; nBits: number }[] {
  const out: { ofs: number; nBits: number }[] = [];
  let ofs = 0;
  while (mask >> BigInt(ofs) !== 0n) {
    while (((mask >> BigInt(ofs)) & 1n) === 0n) ofs++;
    let n = 0;
    while (n < 64 && ((mask >> BigInt(ofs + n)) & 1n) === 1n) n++;
    out.push({ ofs, nBits: n });
    ofs += n;
  }
  return out;
}

function formatSetField(a: SetFieldAction, ctx: PrintCtx): string {
  const f = ovsFieldOf(a.field);
  if (a.viaLoad) {
    // OVS walks the mask only within the field's bits (next_load_segment).
    return loadSegments(a.mask & ones(f.nBits))
      .map((seg) => {
        const v = (a.value >> BigInt(seg.ofs)) & ones(seg.nBits);
        const sub: SubField = { field: a.field, ofs: seg.ofs, nBits: seg.nBits };
        return `load:${hex0x(v)}->${formatSubfield(sub)}`;
      })
      .join(",");
  }
  return `set_field:${formatFieldValue(f, a.value, a.mask, ctx.portName)}->${f.name}`;
}

function formatNat(a: Extract<Action, { type: "nat" }>): string {
  if (a.kind === null) return "nat";
  let s = `nat(${a.kind}`;
  if (a.family !== 0) {
    s += "=";
    if (a.family === 4) {
      s += formatIPv4(Number(a.addrMin));
      if (a.addrMax !== 0n && a.addrMax !== a.addrMin) s += `-${formatIPv4(Number(a.addrMax))}`;
    } else {
      const v6 = (x: bigint): string => {
        const t = formatIPv6([Number((x >> 96n) & 0xffffffffn), Number((x >> 64n) & 0xffffffffn), Number((x >> 32n) & 0xffffffffn), Number(x & 0xffffffffn)]);
        return a.portMin ? `[${t}]` : t;
      };
      s += v6(a.addrMin);
      if (a.addrMax !== 0n && a.addrMax !== a.addrMin) s += `-${v6(a.addrMax)}`;
    }
    if (a.portMin) {
      s += `:${a.portMin}`;
      if (a.portMax && a.portMax !== a.portMin) s += `-${a.portMax}`;
    }
    s += ",";
    if (a.persistent) s += "persistent,";
    if (a.hash) s += "hash,";
    if (a.random) s += "random,";
  }
  if (s.endsWith(",")) s = s.slice(0, -1);
  return s + ")";
}

function formatLearn(a: Extract<Action, { type: "learn" }>, ctx: PrintCtx): string {
  let s = `learn(table=${a.tableId}`;
  if (a.idleTimeout !== 0) s += `,idle_timeout=${a.idleTimeout}`;
  if (a.hardTimeout !== 0) s += `,hard_timeout=${a.hardTimeout}`;
  if (a.finIdleTimeout) s += `,fin_idle_timeout=${a.finIdleTimeout}`;
  if (a.finHardTimeout) s += `,fin_hard_timeout=${a.finHardTimeout}`;
  if (a.priority !== 32768) s += `,priority=${a.priority}`;
  if (a.sendFlowRem) s += ",send_flow_rem";
  if (a.deleteLearned) s += ",delete_learned";
  if (a.cookie !== 0n) s += `,cookie=${hex0x(a.cookie)}`;
  if (a.limit !== 0) s += `,limit=${a.limit}`;
  if (a.resultDst !== null) s += `,result_dst=${formatSubfield(a.resultDst)}`;
  for (const spec of a.specs) {
    s += ",";
    const nBytes = Math.ceil(spec.nBits / 8);
    if (spec.kind === "match" && spec.dst !== null) {
      const df = ovsFieldOf(spec.dst.field);
      if (spec.src.kind === "immediate") {
        if (spec.dst.ofs === 0 && spec.dst.nBits === df.nBits) {
          s += `${df.name}=${formatFieldValue(df, spec.src.value, null, ctx.portName)}`;
        } else {
          s += `${formatSubfield(spec.dst)}=${putHex(spec.src.value, nBytes)}`;
        }
      } else {
        s += formatSubfield(spec.dst);
        const src = spec.src.subfield;
        if (src.field !== spec.dst.field || src.ofs !== spec.dst.ofs) s += `=${formatSubfield(src)}`;
      }
    } else if (spec.kind === "load" && spec.dst !== null) {
      const src = spec.src.kind === "immediate" ? putHex(spec.src.value, nBytes) : formatSubfield(spec.src.subfield);
      s += `load:${src}->${formatSubfield(spec.dst)}`;
    } else if (spec.kind === "output" && spec.src.kind === "field") {
      s += `output:${formatSubfield(spec.src.subfield)}`;
    }
  }
  return s + ")";
}

// ---- The OpenFlow trip.

/** The flow facts the encoder consults, tracked through the list as OVS's check does. */
interface TripFlow {
  tci: number;
  tci1: number;
  nwProto: number;
  dlType: number;
}

function tripFlow(match: Match | undefined): TripFlow {
  if (match === undefined) return { tci: 0, tci1: 0, nwProto: 0, dlType: 0 };
  return {
    tci: match.value[L.W_VLAN0] & 0xffff,
    tci1: match.value[L.W_VLAN1] & 0xffff,
    nwProto: match.value[L.W_NW] & 0xff,
    dlType: match.value[L.W_DL_TYPE] & 0xffff,
  };
}

const fieldDef = (name: string) => {
  const f = ovsFieldByName(name);
  if (f === undefined) throw new Error(`assertion failed: no field ${name}`);
  return f.def;
};
const sf = (name: string, value: bigint, viaLoad = false): SetFieldAction => {
  const def = fieldDef(name);
  const f = ovsFieldOf(def);
  return { type: "set_field", field: def, value, mask: ones(f.nBytes * 8), viaLoad };
};
const regLoad = (name: string, value: bigint): SetFieldAction => {
  const def = fieldDef(name);
  return { type: "set_field", field: def, value, mask: ones(ovsFieldOf(def).nBits), viaLoad: true };
};

/** Fields whose preferred header is an experimenter OXM: OVS encodes loads to them as NXAST_REG_LOAD2. */
const REG_LOAD2_FIELDS = new Set(["actset_output", "nd_reserved", "nd_options_type"]);

/**
 * The actions as the receiving side decodes them after encoding in
 * `version` (OVS's ofpacts_put_openflow_actions/instructions followed by
 * ofpacts_pull_openflow_*).
 */
export function roundTrip(actions: readonly Action[], version: number, match?: Match): Action[] {
  const fl = tripFlow(match);
  return tripList(actions, version, fl, true);
}

function tripList(actions: readonly Action[], v: number, fl: TripFlow, top: boolean): Action[] {
  const out: Action[] = [];
  for (const a of actions) tripOne(a, v, fl, out, top);
  return out;
}

function tripOne(a: Action, v: number, fl: TripFlow, out: Action[], top: boolean): void {
  switch (a.type) {
    case "set_vlan_vid": {
      const hasVlan = (fl.tci & L.VLAN_CFI) !== 0;
      fl.tci |= L.VLAN_CFI;
      if (v > OF10 && a.pushIfNeeded && !hasVlan) out.push({ type: "push_vlan", ethertype: L.ETH_TYPE_VLAN_8021Q });
      if (v === OF10) out.push({ type: "set_vlan_vid", vid: a.vid, pushIfNeeded: true });
      else if (v === OF11) out.push({ type: "set_vlan_vid", vid: a.vid, pushIfNeeded: false });
      else out.push(sf("vlan_vid", BigInt(a.vid | 0x1000)));
      return;
    }
    case "set_vlan_pcp": {
      const hasVlan = (fl.tci & L.VLAN_CFI) !== 0;
      fl.tci |= L.VLAN_CFI;
      if (v > OF10 && a.pushIfNeeded && !hasVlan) out.push({ type: "push_vlan", ethertype: L.ETH_TYPE_VLAN_8021Q });
      if (v === OF10) out.push({ type: "set_vlan_pcp", pcp: a.pcp, pushIfNeeded: true });
      else if (v === OF11) out.push({ type: "set_vlan_pcp", pcp: a.pcp, pushIfNeeded: false });
      else out.push(sf("vlan_pcp", BigInt(a.pcp)));
      return;
    }
    case "strip_vlan":
      fl.tci = fl.tci1;
      fl.tci1 = 0;
      out.push(a);
      return;
    case "push_vlan":
      fl.tci1 = fl.tci;
      fl.tci |= L.VLAN_CFI;
      if (v !== OF10) out.push(a);
      return;
    case "set_eth_src":
    case "set_eth_dst":
      if (v < OF12) out.push(a);
      else out.push(sf(a.type === "set_eth_src" ? "eth_src" : "eth_dst", a.mac));
      return;
    case "set_ipv4_src":
    case "set_ipv4_dst":
      if (v < OF12) out.push(a);
      else out.push(sf(a.type === "set_ipv4_src" ? "ip_src" : "ip_dst", BigInt(a.ipv4)));
      return;
    case "set_ip_dscp":
      if (v < OF12) out.push(a);
      else out.push(sf("ip_dscp", BigInt(a.dscp >> 2)));
      return;
    case "set_ip_ecn":
      if (v === OF10) out.push(regLoad("nw_ecn", BigInt(a.ecn)));
      else if (v === OF11) out.push(a);
      else out.push(sf("nw_ecn", BigInt(a.ecn)));
      return;
    case "set_ip_ttl":
      if (v >= OF11) out.push(a);
      else out.push(regLoad("nw_ttl", BigInt(a.ttl)));
      return;
    case "set_l4_src_port":
    case "set_l4_dst_port": {
      const dir = a.type === "set_l4_src_port" ? "src" : "dst";
      const proto = fl.nwProto === L.IPPROTO_TCP ? "tcp" : fl.nwProto === L.IPPROTO_UDP ? "udp" : fl.nwProto === L.IPPROTO_SCTP ? "sctp" : null;
      if (v >= OF12 && proto !== null) out.push(sf(`${proto}_${dir}`, BigInt(a.port)));
      else out.push(a);
      return;
    }
    case "dec_ttl":
      out.push({ ...a, withIds: a.withIds || a.controllerIds.length !== 1 || a.controllerIds[0] !== 0 });
      return;
    case "set_mpls_label":
      out.push(v < OF12 ? a : sf("mpls_label", BigInt(a.label)));
      return;
    case "set_mpls_tc":
      out.push(v < OF12 ? a : sf("mpls_tc", BigInt(a.tc)));
      return;
    case "push_mpls":
      fl.dlType = a.ethertype;
      fl.nwProto = 0;
      out.push(a);
      return;
    case "pop_mpls":
      fl.dlType = a.ethertype;
      out.push(a);
      return;
    case "set_tunnel":
      if (v < OF12) out.push({ ...a, wide: a.wide || a.tunId > 0xffffffffn });
      else out.push(sf("tun_id", a.tunId));
      return;
    case "enqueue":
      if (v === OF10) out.push(a);
      else {
        out.push({ type: "set_queue", queueId: a.queue });
        out.push({ type: "output", port: a.port, maxLen: 0xffff });
        out.push({ type: "pop_queue" });
      }
      return;
    case "set_field":
      tripSetField(a, v, fl, out);
      return;
    case "note": {
      const padded = Math.max(Math.ceil((10 + a.data.length) / 8) * 8, 16) - 10;
      const data = new Uint8Array(padded);
      data.set(a.data);
      out.push({ type: "note", data });
      return;
    }
    // A nested list sees the flow as it is here, and its changes do not leak out (ofpacts_check restores them).
    case "ct":
      out.push({ ...a, actions: tripList(a.actions, v, { ...fl }, false) });
      return;
    case "clone":
      out.push({ ...a, actions: tripList(a.actions, v, { ...fl }, false) });
      return;
    case "meter":
      if (v === OF13 || v === OF14 || v === OF15) out.push(a);
      return;
    case "clear_actions":
      if (v > OF10) out.push(a);
      return;
    case "write_actions":
      if (v > OF10) {
        const copy = { ...fl };
        const nested = tripList(a.actions, v, copy, false);
        // An instruction left with no actions is not encoded (ofpacts_update_instruction_actions).
        if (nested.length > 0) out.push({ ...a, actions: nested });
      }
      return;
    case "goto_table":
      if (v === OF10) out.push({ type: "resubmit", inPort: OFPP_IN_PORT, tableId: a.tableId, withCt: false });
      else out.push(a);
      return;
    default:
      void top;
      out.push(a);
  }
}

function tripSetField(a: SetFieldAction, v: number, fl: TripFlow, out: Action[]): void {
  const f = ovsFieldOf(a.field);
  const full = ones(f.nBytes * 8);
  const hasVlan = (fl.tci & L.VLAN_CFI) !== 0;
  if (f.name === "vlan_tci") fl.tci = Number(a.value & 0xffffn);
  const nxast = (): void => {
    if (REG_LOAD2_FIELDS.has(f.name) || f.nxmName === null) {
      out.push({ ...a, viaLoad: false });
      return;
    }
    // One NXAST_REG_LOAD per contiguous run of mask bits, each decoded on its own.
    for (const seg of loadSegments(a.mask & ones(f.nBits))) {
      const m = ones(seg.nBits) << BigInt(seg.ofs);
      out.push({ type: "set_field", field: a.field, value: a.value & m, mask: m, viaLoad: true });
    }
  };
  if (v >= OF15) {
    out.push({ ...a, viaLoad: false });
    return;
  }
  if (a.viaLoad) {
    nxast();
    return;
  }
  if (v < OF12) {
    const val = a.value;
    switch (f.name) {
      case "vlan_tci": {
        const tci = Number(val & 0xffffn);
        if (tci & L.VLAN_CFI) {
          if (v === OF10) {
            out.push({ type: "set_vlan_vid", vid: tci & 0xfff, pushIfNeeded: true });
            out.push({ type: "set_vlan_pcp", pcp: tci >>> 13, pushIfNeeded: true });
          } else {
            if (!hasVlan) out.push({ type: "push_vlan", ethertype: L.ETH_TYPE_VLAN_8021Q });
            out.push({ type: "set_vlan_vid", vid: tci & 0xfff, pushIfNeeded: false });
            out.push({ type: "set_vlan_pcp", pcp: tci >>> 13, pushIfNeeded: false });
          }
        } else {
          out.push({ type: "strip_vlan" });
        }
        return;
      }
      case "vlan_vid":
        out.push({ type: "set_vlan_vid", vid: Number(val & 0xfffn), pushIfNeeded: v === OF10 });
        return;
      case "vlan_pcp":
        out.push({ type: "set_vlan_pcp", pcp: Number(val & 7n), pushIfNeeded: v === OF10 });
        return;
      case "eth_src":
      case "eth_dst":
        out.push({ type: f.name === "eth_src" ? "set_eth_src" : "set_eth_dst", mac: val & ones(48) });
        return;
      case "ip_src":
      case "ip_dst":
        out.push({ type: f.name === "ip_src" ? "set_ipv4_src" : "set_ipv4_dst", ipv4: Number(val & 0xffffffffn) });
        return;
      case "nw_tos":
        out.push({ type: "set_ip_dscp", dscp: Number(val & 0xffn) });
        return;
      case "ip_dscp":
        out.push({ type: "set_ip_dscp", dscp: Number((val << 2n) & 0xffn) });
        return;
      case "nw_ecn":
        if (v === OF10) out.push(regLoad("nw_ecn", val & 3n));
        else out.push({ type: "set_ip_ecn", ecn: Number(val & 3n) });
        return;
      case "tcp_src":
      case "udp_src":
        out.push({ type: "set_l4_src_port", port: Number(val & 0xffffn) });
        return;
      case "tcp_dst":
      case "udp_dst":
        out.push({ type: "set_l4_dst_port", port: Number(val & 0xffffn) });
        return;
      default:
        nxast();
        return;
    }
  }
  if (a.mask === full) out.push(a);
  else nxast();
}
