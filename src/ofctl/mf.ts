/**
 * Fields as ovs-ofctl's text sees them (Open vSwitch's lib/meta-flow.c):
 * for every field of src/flow/fields.ts, the facts the syntax needs that the
 * shared table does not carry — OVS's byte width (it decides "too large for
 * N-byte field"), its bit width for subfields, how values are written
 * (decimal, hex, MAC, port, flags...), whether OVS lets it be masked or
 * written, its preferred NXM/OXM name (printed in `FIELD[]` subfields), and
 * the prerequisite OVS checks when an action reads or writes it.
 *
 * It also holds the value grammar (mf_parse), the value printer (mf_format),
 * how setting a field changes a Match (mf_set: e.g. dl_vlan also sets the
 * CFI bit, nw_tos keeps only the DSCP bits) and subfield syntax.
 *
 * Values and masks here are in OVS's encoding of the field, as bigints:
 * in_port is the 16-bit OpenFlow 1.0 number, in_port_oxm the 32-bit
 * OpenFlow 1.1 one, nw_tos the TOS byte, ip_dscp the 6-bit DSCP, vlan_vid the
 * 13-bit VID|CFI value.
 */
import { FIELDS, findField, type FieldDef } from "../flow/fields.js";
import { fieldMax, type Match } from "../flow/match.js";
import * as L from "../flow/layout.js";
import {
  formatMac,
  formatIPv4Masked,
  formatIPv6Masked,
  formatFlags,
  formatFlagsMasked,
  ctStateBitName,
  tcpFlagBitName,
  OFPP_IN_PORT,
  OFPP_TABLE,
  OFPP_NORMAL,
  OFPP_FLOOD,
  OFPP_ALL,
  OFPP_CONTROLLER,
  OFPP_LOCAL,
  OFPP_NONE,
} from "../flow/text.js";
import type { SubField } from "../openflow/actions.js";
import { formatPortName } from "../flow/format.js";
import { TextError } from "./errors.js";
import { parseIntString, parseIPv4, parseIPv4Range, parseIPv6, parseMac, parseMacRange, plainNumberRange, plainWideRange, strToUintDecimal, wide } from "./lex.js";

/** How OVS writes a field's values (its enum mf_string). */
export type MfString =
  | "decimal"
  | "hex"
  | "ethernet"
  | "ipv4"
  | "ipv6"
  | "port"
  | "port_oxm"
  | "frag"
  | "tun_flags"
  | "tcp_flags"
  | "ct_state";

/** OVS's prerequisite kinds (enum mf_prereqs), for actions and learn. */
export type MfPrereq =
  | "none"
  | "arp"
  | "ipv4"
  | "ipv6"
  | "ip_any"
  | "vlan_vid"
  | "mpls"
  | "ct_valid"
  | "tcp"
  | "udp"
  | "sctp"
  | "icmpv4"
  | "icmpv6"
  | "nd"
  | "nd_solicit"
  | "nd_advert";

export interface OvsField {
  /** The shared field this one reads and writes. */
  readonly def: FieldDef;
  /** OVS's name (printed by set_field and learn). */
  readonly name: string;
  /** Names OVS accepts in a match: the name and its "aka". */
  readonly names: readonly string[];
  readonly nBytes: number;
  readonly nBits: number;
  readonly string: MfString;
  readonly maskable: boolean;
  readonly writable: boolean;
  readonly prereq: MfPrereq;
  /** First NXM/OXM name, printed in subfields; null when the field has none (cannot be encoded). */
  readonly nxmName: string | null;
  /** All NXM/OXM names (accepted in subfields). */
  readonly nxmNames: readonly string[];
}

interface Spec {
  nBytes: number;
  nBits: number;
  string: MfString;
  maskable: boolean;
  writable: boolean;
  prereq: MfPrereq;
  names?: string[];
  /** OVS's name when it differs from the shared table's. */
  ovsName?: string;
  nxm?: string[];
}

const s = (
  nBytes: number,
  nBits: number,
  string: MfString,
  maskable: boolean,
  writable: boolean,
  prereq: MfPrereq = "none",
  extra: Partial<Spec> = {},
): Spec => ({ nBytes, nBits, string, maskable, writable, prereq, ...extra });

/** OVS's facts per shared field name (include/openvswitch/meta-flow.h). */
const SPECS: Record<string, Spec> = {
  dp_hash: s(4, 32, "hex", true, false),
  recirc_id: s(4, 32, "decimal", false, false),
  conj_id: s(4, 32, "decimal", false, false),
  tun_id: s(8, 64, "hex", true, true, "none", { names: ["tun_id", "tunnel_id"] }),
  tun_src: s(4, 32, "ipv4", true, true),
  tun_dst: s(4, 32, "ipv4", true, true),
  tun_ipv6_src: s(16, 128, "ipv6", true, true),
  tun_ipv6_dst: s(16, 128, "ipv6", true, true),
  tun_flags: s(2, 1, "tun_flags", true, true),
  tun_ttl: s(1, 8, "decimal", false, false, "none", { nxm: [] }),
  tun_tos: s(1, 8, "decimal", false, false, "none", { nxm: [] }),
  metadata: s(8, 64, "hex", true, true),
  in_port: s(2, 16, "port", false, true),
  in_port_oxm: s(4, 32, "port_oxm", false, true),
  actset_output: s(4, 32, "port_oxm", false, false),
  skb_priority: s(4, 32, "hex", false, false, "none", { nxm: [] }),
  pkt_mark: s(4, 32, "hex", true, true),
  ct_state: s(4, 32, "ct_state", true, false),
  ct_zone: s(2, 16, "hex", false, false),
  ct_mark: s(4, 32, "hex", true, true),
  ct_label: s(16, 128, "hex", true, true),
  ct_nw_proto: s(1, 8, "decimal", false, false, "ct_valid"),
  ct_nw_src: s(4, 32, "ipv4", true, false, "ct_valid"),
  ct_nw_dst: s(4, 32, "ipv4", true, false, "ct_valid"),
  ct_ipv6_src: s(16, 128, "ipv6", true, false, "ct_valid"),
  ct_ipv6_dst: s(16, 128, "ipv6", true, false, "ct_valid"),
  ct_tp_src: s(2, 16, "decimal", true, false, "ct_valid"),
  ct_tp_dst: s(2, 16, "decimal", true, false, "ct_valid"),
  eth_src: s(6, 48, "ethernet", true, true, "none", { names: ["eth_src", "dl_src"] }),
  eth_dst: s(6, 48, "ethernet", true, true, "none", { names: ["eth_dst", "dl_dst"] }),
  eth_type: s(2, 16, "hex", false, false, "none", { names: ["eth_type", "dl_type"] }),
  vlan_tci: s(2, 16, "hex", true, true),
  dl_vlan: s(2, 12, "decimal", false, true, "none", { nxm: [] }),
  vlan_vid: s(2, 12, "decimal", true, true),
  dl_vlan_pcp: s(1, 3, "decimal", false, true, "none", { nxm: [] }),
  vlan_pcp: s(1, 3, "decimal", false, true, "vlan_vid"),
  mpls_label: s(4, 20, "decimal", false, true, "mpls"),
  mpls_tc: s(1, 3, "decimal", false, true, "mpls"),
  mpls_bos: s(1, 1, "decimal", false, false, "mpls"),
  mpls_ttl: s(1, 8, "decimal", false, true, "mpls"),
  ip_src: s(4, 32, "ipv4", true, true, "ipv4", { names: ["ip_src", "nw_src"] }),
  ip_dst: s(4, 32, "ipv4", true, true, "ipv4", { names: ["ip_dst", "nw_dst"] }),
  ipv6_src: s(16, 128, "ipv6", true, true, "ipv6"),
  ipv6_dst: s(16, 128, "ipv6", true, true, "ipv6"),
  ipv6_label: s(4, 20, "hex", true, true, "ipv6"),
  nw_proto: s(1, 8, "decimal", false, false, "ip_any", { names: ["nw_proto", "ip_proto"] }),
  nw_tos: s(1, 8, "decimal", false, true, "ip_any"),
  ip_dscp: s(1, 6, "decimal", false, true, "ip_any"),
  nw_ecn: s(1, 2, "decimal", false, true, "ip_any", { names: ["nw_ecn", "ip_ecn"] }),
  nw_ttl: s(1, 8, "decimal", false, true, "ip_any"),
  ip_frag: s(1, 2, "frag", true, false, "ip_any", { names: ["ip_frag", "nw_frag"] }),
  arp_op: s(2, 16, "decimal", false, true, "arp"),
  arp_spa: s(4, 32, "ipv4", true, true, "arp"),
  arp_tpa: s(4, 32, "ipv4", true, true, "arp"),
  arp_sha: s(6, 48, "ethernet", true, true, "arp"),
  arp_tha: s(6, 48, "ethernet", true, true, "arp"),
  tcp_src: s(2, 16, "decimal", true, true, "tcp", { names: ["tcp_src", "tp_src"] }),
  tcp_dst: s(2, 16, "decimal", true, true, "tcp", { names: ["tcp_dst", "tp_dst"] }),
  tcp_flags: s(2, 12, "tcp_flags", true, false, "tcp"),
  udp_src: s(2, 16, "decimal", true, true, "udp"),
  udp_dst: s(2, 16, "decimal", true, true, "udp"),
  sctp_src: s(2, 16, "decimal", true, true, "sctp"),
  sctp_dst: s(2, 16, "decimal", true, true, "sctp"),
  icmp_type: s(1, 8, "decimal", false, true, "icmpv4", { names: ["icmp_type"] }),
  icmp_code: s(1, 8, "decimal", false, true, "icmpv4", { names: ["icmp_code"] }),
  icmpv6_type: s(1, 8, "decimal", false, true, "icmpv6"),
  icmpv6_code: s(1, 8, "decimal", false, true, "icmpv6"),
  nd_target: s(16, 128, "ipv6", true, true, "nd"),
  nd_sll: s(6, 48, "ethernet", true, true, "nd_solicit"),
  nd_tll: s(6, 48, "ethernet", true, true, "nd_advert"),
  nd_reserved: s(4, 32, "decimal", false, true, "nd"),
  nd_options_type: s(1, 8, "decimal", false, true, "nd"),
};
for (let i = 0; i < L.REGS_COUNT; i++) SPECS[`reg${i}`] = s(4, 32, "hex", true, true);
for (let i = 0; i < L.REGS_COUNT / 2; i++) SPECS[`xreg${i}`] = s(8, 64, "hex", true, true);
for (let i = 0; i < L.REGS_COUNT / 4; i++) SPECS[`xxreg${i}`] = s(16, 128, "hex", true, true);

const NXM_NAME = /^(NXM|OXM|ONFOXM|ERICOXM|NXOXM)_/;

const byName = new Map<string, OvsField>();
const byNxm = new Map<string, OvsField>();
const byDef = new Map<FieldDef, OvsField>();
export const OVS_FIELDS: OvsField[] = [];

for (const def of FIELDS) {
  const spec = SPECS[def.name];
  if (spec === undefined) continue;
  const nxmNames = spec.nxm ?? def.aliases.filter((a) => NXM_NAME.test(a));
  const f: OvsField = {
    def,
    name: spec.ovsName ?? def.name,
    names: spec.names ?? [def.name],
    nBytes: spec.nBytes,
    nBits: spec.nBits,
    string: spec.string,
    maskable: spec.maskable,
    writable: spec.writable,
    prereq: spec.prereq,
    nxmName: nxmNames.length > 0 ? nxmNames[0] : null,
    nxmNames,
  };
  OVS_FIELDS.push(f);
  byDef.set(def, f);
  for (const n of f.names) byName.set(n, f);
  for (const n of nxmNames) byNxm.set(n, f);
}

/** The field OVS's mf_from_name finds for `name` (its name or "aka", case-sensitive), or undefined. */
export function ovsFieldByName(name: string): OvsField | undefined {
  return byName.get(name);
}

/** The OVS view of a shared field; throws for fields the syntax does not know (our bug). */
export function ovsFieldOf(def: FieldDef): OvsField {
  const f = byDef.get(def);
  if (f === undefined) throw new Error(`assertion failed: no OVS syntax for field ${def.name}`);
  return f;
}

/** Field by NXM/OXM name (e.g. NXM_NX_REG0), or by OVS name. */
export function fieldForSubfieldName(name: string): OvsField | undefined {
  return byNxm.get(name) ?? byName.get(name);
}

const fieldOf = (name: string): FieldDef => {
  const d = findField(name);
  if (d === undefined) throw new Error(`assertion failed: field ${name} missing from the field table`);
  return d;
};
const F_TP_SRC = fieldOf("tp_src");
const F_TP_DST = fieldOf("tp_dst");
const F_IN_PORT = fieldOf("in_port");
const F_VLAN_TCI = fieldOf("vlan_tci");
const F_ACTSET = fieldOf("actset_output");

/** All ones in n bits. */
export const ones = (bits: number): bigint => fieldMax(bits);

/** OVS's OF1.1 port number for an OF1.0 one (ofputil_port_to_ofp11). */
export function portToOfp11(port: number): number {
  return port < 0xff00 ? port : (port + 0xffff0000) >>> 0;
}

/** OVS's OF1.0 port number for an OF1.1 one, or null when out of range (ofputil_port_from_ofp11). */
export function portFromOfp11(port: number): number | null {
  if (port < 0xff00) return port;
  if (port >= 0xffffff00) return (port - 0xffff0000) & 0xffff;
  return null;
}

const RESERVED_PORTS: readonly [string, number][] = [
  ["IN_PORT", OFPP_IN_PORT],
  ["TABLE", OFPP_TABLE],
  ["NORMAL", OFPP_NORMAL],
  ["FLOOD", OFPP_FLOOD],
  ["ALL", OFPP_ALL],
  ["CONTROLLER", OFPP_CONTROLLER],
  ["LOCAL", OFPP_LOCAL],
  ["NONE", OFPP_NONE],
];

/** OVS's OFPP_MAX: ports from here to 0xfff7 are reserved and not usable. */
export const OFPP_MAX = 0xff00;

/**
 * ofputil_port_from_string: a number (decimal, OF1.0 or OF1.1 form), a
 * reserved name (any case), a port name from `portNames`, or a quoted name.
 * Returns null when it is none of these.
 */
export function portFromString(s: string, portNames?: ReadonlyMap<string, number>): number | null {
  if (s.startsWith("-")) return null;
  const n = strToUintDecimal(s);
  if (n !== null) {
    if (n < 0xffff + 1) return n;
    if (n < 0xffffff00) return null;
    return (n - 0xffff0000) & 0xffff;
  }
  const upper = s.toUpperCase();
  for (const [name, port] of RESERVED_PORTS) if (upper === name) return port;
  if (portNames === undefined) return null;
  let name = s;
  if (s.startsWith('"')) {
    if (s.length < 2 || !s.endsWith('"')) return null;
    name = unquote(s.slice(1, -1));
  }
  return portNames.get(name) ?? null;
}

/** Undoes namemap_put_name's quoting (a JSON string body). */
function unquote(s: string): string {
  try {
    const v: unknown = JSON.parse(`"${s}"`);
    return typeof v === "string" ? v : s;
  } catch {
    return s;
  }
}

/**
 * A parsed value and mask in OVS's encoding of `f`, each nBytes wide.
 * `exact` is true when the text had no mask (mask is all ones).
 */
export interface FieldValue {
  value: bigint;
  mask: bigint;
}

const flagsSyntax = (
  text: string,
  bitName: (bit: number) => string | undefined,
  allowed: number,
  fieldName: string,
  at: number,
): FieldValue => {
  const unknown = (): TextError => new TextError(at, text, `${text}: unknown ${fieldName} flag(s)`);
  // Numeric "V/M".
  const numMasked = /^\s*([+-]?(?:0[xX][0-9a-fA-F]+|0[0-7]*|[1-9]\d*))\s*\/\s*([+-]?(?:0[xX][0-9a-fA-F]+|0[0-7]*|[1-9]\d*))/.exec(text);
  if (numMasked !== null) {
    const v = Number(BigInt.asUintN(32, BigInt(cNumber(numMasked[1]))));
    const m = Number(BigInt.asUintN(32, BigInt(cNumber(numMasked[2]))));
    if ((v & ~allowed) !== 0 || (m & ~allowed) !== 0) throw unknown();
    // OVS stops at what it scanned; trailing text is left to the caller's checks (none).
    return { value: BigInt(v), mask: BigInt(m) };
  }
  if (text.startsWith("+") || text.startsWith("-")) {
    let flags = 0;
    let mask = 0;
    let i = 0;
    while (i < text.length) {
      const set = text[i] === "+";
      if (text[i] !== "+" && text[i] !== "-") {
        throw new TextError(at + i, text, `${text.slice(i)}: ${fieldName} must be preceded by '+' (for SET) or '-' (NOT SET)`);
      }
      i++;
      let found = 0;
      let len = 0;
      for (let bit = 1; bit !== 0 && bit <= 0x80000000; bit = bit * 2) {
        const name = bitName(bit);
        if (name === undefined) continue;
        const after = text[i + name.length];
        if (text.startsWith(name, i) && (after === "+" || after === "-" || after === undefined)) {
          found = bit;
          len = name.length;
          break;
        }
      }
      if (found === 0) throw unknown();
      if ((mask & found) !== 0) {
        throw new TextError(at + i, text, `${text.slice(i - 1)}: Each ${fieldName} flag can be specified only once`);
      }
      if ((found & allowed) === 0) throw unknown();
      if (set) flags |= found;
      mask |= found;
      i += len;
    }
    return { value: BigInt(flags >>> 0), mask: BigInt(mask >>> 0) };
  }
  let result = 0;
  let i = 0;
  while (i < text.length) {
    const num = /^[+-]?(?:0[xX][0-9a-fA-F]+|0[0-7]*|[1-9]\d*)/.exec(text.slice(i));
    if (num !== null) {
      const v = cNumber(num[0]);
      if ((BigInt.asUintN(64, BigInt(v)) & ~BigInt(allowed)) !== 0n) throw unknown();
      result |= Number(v);
      i += num[0].length;
      if (text[i] === "|") i++;
      continue;
    }
    let matched = false;
    for (let bit = 1; bit !== 0 && bit <= 0x80000000; bit = bit * 2) {
      const name = bitName(bit);
      if (name === undefined) continue;
      const after = text[i + name.length];
      if (text.startsWith(name, i) && (after === "|" || after === undefined)) {
        if ((bit & allowed) === 0) throw unknown();
        result |= bit;
        i += name.length + (after === "|" ? 1 : 0);
        matched = true;
        break;
      }
    }
    if (!matched) throw unknown();
  }
  return { value: BigInt(result >>> 0), mask: 0xffffffffn };
};

/** A C integer literal (decimal, 0x hex, 0 octal, with sign) as a number. */
function cNumber(t: string): number {
  let neg = false;
  if (t.startsWith("+") || t.startsWith("-")) {
    neg = t[0] === "-";
    t = t.slice(1);
  }
  let v: number;
  if (/^0[xX]/.test(t)) v = parseInt(t.slice(2), 16);
  else if (t.length > 1 && t.startsWith("0")) v = parseInt(t, 8);
  else v = parseInt(t, 10);
  return neg ? -v : v;
}

const FRAGS: readonly { name: string; mask: number; value: number }[] = [
  { name: "no", mask: 3, value: 0 },
  { name: "first", mask: 3, value: 1 },
  { name: "later", mask: 3, value: 3 },
  { name: "no", mask: 1, value: 0 },
  { name: "yes", mask: 1, value: 1 },
  { name: "not_later", mask: 2, value: 0 },
  { name: "later", mask: 2, value: 2 },
];

const ipv6Mask = (prefix: number): bigint => (prefix === 0 ? 0n : ones(128) ^ ones(128 - prefix));

/** mf_parse's error for an integer value or mask it cannot read. */
function badInteger(f: OvsField, text: string, at: number, what: "value" | "mask", res: "range" | "syntax"): TextError {
  return new TextError(
    at,
    text,
    res === "range" ? `${text}: ${what} too large for ${f.nBytes}-byte field ${f.name}` : `${text}: bad syntax for ${f.name} ${what}`,
  );
}

/**
 * mf_parse: the text of a value for `f`, with optional "/mask" (or "*" for
 * any). Errors use OVS's wording. `at` is the text's offset for errors.
 */
export function parseFieldValue(f: OvsField, text: string, at: number, portNames?: ReadonlyMap<string, number>): FieldValue {
  const full = ones(f.nBytes * 8);
  if (text === "*") return { value: 0n, mask: 0n };
  let r: FieldValue;
  switch (f.string) {
    case "decimal":
    case "hex": {
      const v = parseIntString(text, f.nBytes);
      if (typeof v === "string") throw badInteger(f, text, at, "value", v);
      if (v.tail !== text.length && text[v.tail] !== "/") throw badInteger(f, text, at, "value", "syntax");
      if (text[v.tail] === "/") {
        const maskText = text.slice(v.tail + 1);
        const m = parseIntString(maskText, f.nBytes);
        if (typeof m === "string") throw badInteger(f, text, at, "mask", m);
        if (m.tail !== maskText.length) throw badInteger(f, text, at, "mask", "syntax");
        r = { value: v.value, mask: m.value };
      } else {
        r = { value: v.value, mask: full };
      }
      break;
    }
    case "ct_state":
      r = flagsSyntax(text, ctStateBitName, 0xff, "ct_state", at);
      break;
    case "tcp_flags": {
      const fv = flagsSyntax(text, tcpFlagBitName, 0x0fff, "TCP", at);
      r = { value: fv.value & 0xffffn, mask: fv.mask & 0xffffn };
      break;
    }
    case "tun_flags": {
      const fv = flagsSyntax(text, (b) => (b === 1 ? "oam" : undefined), 1, "tunnel", at);
      r = { value: fv.value & 0xffffn, mask: fv.mask & 0xffffn };
      break;
    }
    case "ethernet": {
      const slash = text.indexOf("/");
      const v = parseMac(slash < 0 ? text : text.slice(0, slash));
      const m = slash < 0 ? full : parseMac(text.slice(slash + 1));
      if (v === null || m === null) throw new TextError(at, text, `${text}: invalid Ethernet address`);
      r = { value: v, mask: m };
      break;
    }
    case "ipv4": {
      const slash = text.indexOf("/");
      const v = parseIPv4(slash < 0 ? text : text.slice(0, slash));
      if (v === null) throw new TextError(at, text, `${text}: invalid IP address`);
      let m = 0xffffffff;
      if (slash >= 0) {
        const mt = text.slice(slash + 1);
        const dotted = parseIPv4(mt);
        if (dotted !== null) m = dotted;
        else if (/^\d+$/.test(mt)) {
          const p = Number(mt);
          if (p > 32) throw new TextError(at, text, `${text}: IPv4 network prefix bits not between 0 and 32, inclusive`);
          m = p === 0 ? 0 : (0xffffffff << (32 - p)) >>> 0;
        } else throw new TextError(at, text, `${text}: invalid IP address`);
      }
      r = { value: BigInt(v), mask: BigInt(m >>> 0) };
      break;
    }
    case "ipv6": {
      const slash = text.indexOf("/");
      const v = parseIPv6(slash < 0 ? text : text.slice(0, slash));
      if (v === null) throw new TextError(at, text, `${text}: invalid IPv6 address`);
      let m = full;
      if (slash >= 0) {
        const mt = text.slice(slash + 1);
        if (/^\d+$/.test(mt)) {
          const p = Number(mt);
          if (p > 128) throw new TextError(at, text, `${text}: IPv6 network prefix bits not between 0 and 128, inclusive`);
          m = ipv6Mask(p);
        } else {
          const mv = parseIPv6(mt);
          if (mv === null) throw new TextError(at, text, `${text}: Invalid IPv6 mask`);
          m = mv;
        }
      }
      r = { value: v, mask: m };
      break;
    }
    case "port": {
      const p = portFromString(text, portNames);
      if (p === null) throw new TextError(at, text, `${text}: invalid or unknown port for ${f.name}`);
      r = { value: BigInt(p), mask: full };
      break;
    }
    case "port_oxm": {
      const p = portFromString(text, portNames);
      if (p === null) throw new TextError(at, text, `${text}: port value out of range for ${f.name}`);
      r = { value: BigInt(portToOfp11(p)), mask: full };
      break;
    }
    case "frag": {
      const h = FRAGS.find((x) => x.name === text.toLowerCase());
      if (h === undefined) {
        throw new TextError(
          at,
          text,
          `${text}: unknown fragment type (valid types are "no", "yes", "first", "later", "not_later"`,
        );
      }
      r = { value: BigInt(h.value), mask: BigInt(h.mask | 0xfc) };
      break;
    }
  }
  r.mask &= full;
  if (!f.maskable && r.mask !== 0n && r.mask !== full) {
    throw new TextError(at, text, `${text}: invalid mask for field ${f.name}`);
  }
  return r;
}

/** mf_is_value_valid: whether OVS accepts `value` for `f` where it checks (set_field, the switch's decoder). */
export function isValueValid(f: OvsField, value: bigint): boolean {
  switch (f.name) {
    case "in_port_oxm":
    case "actset_output":
      return portFromOfp11(Number(value)) !== null;
    case "nw_tos":
      return (value & ~0xfcn) === 0n;
    case "ip_dscp":
      return (value & ~0x3fn) === 0n;
    case "nw_ecn":
      return (value & ~3n) === 0n;
    case "ip_frag":
      return (value & ~3n) === 0n;
    case "tcp_flags":
      return (value & ~0xfffn) === 0n;
    case "arp_op":
      return (value & 0xff00n) === 0n;
    case "dl_vlan":
      return (value & 0xf000n) === 0n;
    case "vlan_vid":
      return (value & 0xe000n) === 0n;
    case "dl_vlan_pcp":
    case "vlan_pcp":
      return (value & ~7n) === 0n;
    case "ipv6_label":
    case "mpls_label":
      return (value & ~0xfffffn) === 0n;
    case "mpls_tc":
      return (value & ~7n) === 0n;
    case "mpls_bos":
      return (value & ~1n) === 0n;
    case "tun_flags":
      return (value & ~1n) === 0n;
    case "ct_state":
      return (value & ~0xffn) === 0n;
    default:
      return true;
  }
}

// ---- Writing into a Match (OVS's mf_set / mf_set_value / mf_set_wild).

const getW = (m: Match, w: number): [number, number] => [m.value[w] >>> 0, m.mask[w] >>> 0];
const setBits = (m: Match, w: number, shift: number, width: number, value: number, mask: number): void => {
  const fm = (width === 32 ? 0xffffffff : ((1 << width) - 1) << shift) >>> 0;
  const v = ((value << shift) & fm) >>> 0;
  const k = ((mask << shift) & fm) >>> 0;
  m.mask[w] = ((m.mask[w] & ~fm) | k) >>> 0;
  m.value[w] = ((m.value[w] & ~fm) | (v & k)) >>> 0;
};
/** Sets some bits of the value and ORs bits into the mask (OVS's "|=" setters). */
const orBits = (m: Match, w: number, valueBits: number, valueMask: number, maskOr: number): void => {
  m.value[w] = ((m.value[w] & ~valueMask) | (valueBits & valueMask)) >>> 0;
  m.mask[w] = (m.mask[w] | maskOr) >>> 0;
  m.value[w] = (m.value[w] & m.mask[w]) >>> 0;
};

const TOS_SHIFT = L.NW_TOS_SHIFT;

/** Applies `field=value/mask` to the match as OVS's mf_set does. */
export function setMatchField(m: Match, f: OvsField, value: bigint, mask: bigint): void {
  const full = ones(f.nBytes * 8);
  mask &= full;
  value &= full;
  const v = Number(value & 0xffffffffn);
  const k = Number(mask & 0xffffffffn);
  const exact = mask === full;
  const wild = mask === 0n;
  switch (f.name) {
    case "in_port":
      if (wild) m.clearField(F_IN_PORT);
      else m.setField(F_IN_PORT, value);
      return;
    case "in_port_oxm":
      if (wild) m.clearField(F_IN_PORT);
      else m.setField(F_IN_PORT, BigInt(portFromOfp11(v) ?? OFPP_NONE));
      return;
    case "actset_output":
      if (wild) m.clearField(F_ACTSET);
      else m.setField(F_ACTSET, BigInt(portFromOfp11(v) ?? OFPP_NONE), 0xffffn);
      return;
    case "dl_vlan":
    case "vlan_vid": {
      const [tci, tciMask] = getW(m, L.W_VLAN0);
      if (wild) {
        // match_set_any_vid
        if (tciMask & L.VLAN_PCP_MASK) {
          m.mask[L.W_VLAN0] = ((tciMask & ~L.VLAN_VID_MASK) & 0xffff) | (tciMask & 0xffff0000);
          m.value[L.W_VLAN0] = (tci & ~L.VLAN_VID_MASK) >>> 0;
        } else {
          m.setField(F_VLAN_TCI, 0n, 0n);
        }
        return;
      }
      if (f.name === "dl_vlan") {
        if (v === 0xffff) {
          m.setField(F_VLAN_TCI, 0n);
        } else {
          const nt = (tci & ~L.VLAN_VID_MASK & 0xffff) | L.VLAN_CFI | (v & L.VLAN_VID_MASK);
          m.mask[L.W_VLAN0] = (tciMask | L.VLAN_VID_MASK | L.VLAN_CFI) >>> 0;
          m.value[L.W_VLAN0] = nt & m.mask[L.W_VLAN0];
        }
        return;
      }
      const vm = (exact ? 0x1fff : k) & 0x1fff;
      const nt = ((tci & ~0x1fff) | (v & vm)) & 0xffff;
      m.mask[L.W_VLAN0] = vm | (tciMask & L.VLAN_PCP_MASK);
      m.value[L.W_VLAN0] = nt & m.mask[L.W_VLAN0];
      return;
    }
    case "dl_vlan_pcp":
    case "vlan_pcp": {
      const [tci, tciMask] = getW(m, L.W_VLAN0);
      if (wild) {
        // match_set_any_pcp
        if (tciMask & L.VLAN_VID_MASK) {
          m.mask[L.W_VLAN0] = tciMask & ~L.VLAN_PCP_MASK & 0xffff;
          m.value[L.W_VLAN0] = tci & ~L.VLAN_PCP_MASK & 0xffff;
        } else {
          m.setField(F_VLAN_TCI, 0n, 0n);
        }
        return;
      }
      const nt = (tci & ~L.VLAN_PCP_MASK & 0xffff) | ((v & 7) << 13) | L.VLAN_CFI;
      m.mask[L.W_VLAN0] = (tciMask | L.VLAN_CFI | L.VLAN_PCP_MASK) >>> 0;
      m.value[L.W_VLAN0] = nt & m.mask[L.W_VLAN0];
      return;
    }
    case "vlan_tci":
      m.setField(F_VLAN_TCI, value, mask);
      return;
    case "nw_tos":
    case "ip_dscp": {
      const tos = f.name === "ip_dscp" ? (v << 2) & 0xff : v;
      const bits = 0xfc << TOS_SHIFT;
      if (wild) {
        m.mask[L.W_NW] = (m.mask[L.W_NW] & ~bits) >>> 0;
        m.value[L.W_NW] = (m.value[L.W_NW] & ~bits) >>> 0;
      } else orBits(m, L.W_NW, (tos & 0xfc) << TOS_SHIFT, bits, bits);
      return;
    }
    case "nw_ecn": {
      const bits = 0x03 << TOS_SHIFT;
      if (wild) {
        m.mask[L.W_NW] = (m.mask[L.W_NW] & ~bits) >>> 0;
        m.value[L.W_NW] = (m.value[L.W_NW] & ~bits) >>> 0;
      } else orBits(m, L.W_NW, (v & 3) << TOS_SHIFT, bits, bits);
      return;
    }
    case "ip_frag": {
      // Only the two defined bits are kept; OVS's extra mask bits never match anything.
      const fk = exact ? 3 : k & 3;
      setBits(m, L.W_NW, L.NW_FRAG_SHIFT, 8, v & fk, fk);
      return;
    }
    case "arp_op":
      if (wild) setBits(m, L.W_NW, L.NW_PROTO_SHIFT, 8, 0, 0);
      else setBits(m, L.W_NW, L.NW_PROTO_SHIFT, 8, v & 0xff, 0xff);
      return;
    case "icmp_type":
    case "icmpv6_type":
      if (wild) m.clearField(F_TP_SRC);
      else m.setField(F_TP_SRC, value & 0xffn);
      return;
    case "icmp_code":
    case "icmpv6_code":
      if (wild) m.clearField(F_TP_DST);
      else m.setField(F_TP_DST, value & 0xffn);
      return;
    case "tcp_src":
    case "udp_src":
    case "sctp_src":
      m.setFieldBits(F_TP_SRC, v, k);
      return;
    case "tcp_dst":
    case "udp_dst":
    case "sctp_dst":
      m.setFieldBits(F_TP_DST, v, k);
      return;
    case "tcp_flags":
      m.setField(f.def, value & 0xfffn, mask & 0xfffn);
      return;
    case "ct_state":
      m.setField(f.def, value & 0xffn, mask & 0xffn);
      return;
    case "tun_flags":
      m.setField(f.def, value & 1n, mask & 1n);
      return;
    case "ipv6_label":
      m.setField(f.def, value & 0xfffffn, mask & 0xfffffn);
      return;
    case "mpls_label":
    case "mpls_tc":
    case "mpls_bos":
    case "mpls_ttl":
      m.setField(f.def, value & ones(f.def.bits), wild ? 0n : ones(f.def.bits));
      return;
    default:
      // Fields of up to 32 bits go in as numbers: loading a large file sets millions of them.
      if (f.def.bits <= 32) m.setFieldBits(f.def, v, k);
      else m.setField(f.def, value & ones(f.def.bits), mask & ones(f.def.bits));
  }
}

/**
 * The fields setMatchField writes in a way of their own (its switch): the
 * fast path below leaves them to it, apart from the transport ports.
 */
const SET_BY_NAME = new Set([
  "in_port", "in_port_oxm", "actset_output", "dl_vlan", "vlan_vid", "dl_vlan_pcp", "vlan_pcp", "vlan_tci",
  "nw_tos", "ip_dscp", "nw_ecn", "ip_frag", "arp_op", "icmp_type", "icmpv6_type", "icmp_code", "icmpv6_code",
  "tcp_src", "udp_src", "sctp_src", "tcp_dst", "udp_dst", "sctp_dst", "tcp_flags", "ct_state", "tun_flags",
  "ipv6_label", "mpls_label", "mpls_tc", "mpls_bos", "mpls_ttl",
]);
const TP_SRC_NAMES = new Set(["tcp_src", "udp_src", "sctp_src"]);
const TP_DST_NAMES = new Set(["tcp_dst", "udp_dst", "sctp_dst"]);

/**
 * parseFieldValue then setMatchField, with numbers instead of bigints, for
 * the texts a large flows file is made of: a plain decimal or hex number
 * (with an optional plain /mask) for a field of up to 32 bits, an IPv4
 * address with an optional prefix length or dotted mask, an in_port number
 * or name. Returns false, having changed nothing, for any other text or
 * field: the caller then takes the general path, which also reports errors.
 * Where it returns true, the match is what the general path makes of it.
 */
export function setMatchFieldFast(m: Match, f: OvsField, text: string, portNames?: ReadonlyMap<string, number>): boolean {
  if (f.nBytes > 4 || f.def.bits > 32) return setWideFieldFast(m, f, text);
  const full = f.nBytes === 4 ? 0xffffffff : (1 << (f.nBytes * 8)) - 1;
  const slash = text.indexOf("/");
  const valueEnd = slash < 0 ? text.length : slash;
  let value: number;
  let mask = full;
  switch (f.string) {
    case "decimal":
    case "hex":
      value = plainNumberRange(text, 0, valueEnd);
      if (value < 0 || value > full) return false;
      if (slash >= 0) {
        mask = plainNumberRange(text, slash + 1, text.length);
        if (mask < 0 || mask > full) return false;
      }
      break;
    case "ipv4":
      value = parseIPv4Range(text, 0, valueEnd);
      if (value < 0) return false;
      if (slash >= 0) {
        const end = text.length;
        mask = parseIPv4Range(text, slash + 1, end);
        if (mask < 0) {
          // A prefix length of one or two digits (never "0x..." here).
          const bits = end - slash - 1 <= 2 ? plainNumberRange(text, slash + 1, end) : -1;
          if (bits < 0 || bits > 32) return false;
          mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
        }
      }
      break;
    case "port": {
      if (f.name !== "in_port" || slash >= 0) return false;
      const p = portFromString(text, portNames);
      if (p === null) return false;
      value = p & full;
      break;
    }
    default:
      return false;
  }
  if (!f.maskable && mask !== 0 && mask !== full) return false;
  if (f.name === "in_port") {
    m.setFieldBits(F_IN_PORT, value, 0xffffffff);
    return true;
  }
  if (TP_SRC_NAMES.has(f.name)) m.setFieldBits(F_TP_SRC, value, mask);
  else if (TP_DST_NAMES.has(f.name)) m.setFieldBits(F_TP_DST, value, mask);
  else if (SET_BY_NAME.has(f.name)) return false;
  else m.setFieldBits(f.def, value, mask);
  return true;
}

/**
 * setMatchFieldFast for fields of 33 to 64 bits (two key words, most
 * significant first, as Match.setField writes them): an Ethernet address
 * with an optional /mask, a plain hex or decimal number with an optional
 * plain /mask.
 */
function setWideFieldFast(m: Match, f: OvsField, text: string): boolean {
  const def = f.def;
  if (f.nBytes > 8 || def.bits <= 32 || def.bits > 64 || def.shift !== 0 || SET_BY_NAME.has(f.name)) return false;
  const fullHi = f.nBytes === 8 ? 0xffffffff : 2 ** (f.nBytes * 8 - 32) - 1;
  const slash = text.indexOf("/");
  const valueEnd = slash < 0 ? text.length : slash;
  let hi: number;
  let lo: number;
  let maskHi = fullHi;
  let maskLo = 0xffffffff;
  if (f.string === "ethernet") {
    const v = parseMacRange(text, 0, valueEnd);
    if (v < 0) return false;
    hi = Math.floor(v / 2 ** 32);
    lo = v >>> 0;
    if (slash >= 0) {
      const k = parseMacRange(text, slash + 1, text.length);
      if (k < 0) return false;
      maskHi = Math.floor(k / 2 ** 32);
      maskLo = k >>> 0;
    }
  } else if (f.string === "hex" || f.string === "decimal") {
    if (!plainWideRange(text, 0, valueEnd) || wide.hi > fullHi) return false;
    hi = wide.hi;
    lo = wide.lo;
    if (slash >= 0) {
      if (!plainWideRange(text, slash + 1, text.length) || wide.hi > fullHi) return false;
      maskHi = wide.hi;
      maskLo = wide.lo;
    }
  } else {
    return false;
  }
  const masked = maskHi !== fullHi || maskLo !== 0xffffffff;
  if (!f.maskable && masked && (maskHi !== 0 || maskLo !== 0)) return false;
  // The field's own width: what setField keeps of the value and mask.
  const bitsHi = def.bits === 64 ? 0xffffffff : 2 ** (def.bits - 32) - 1;
  maskHi = (maskHi & bitsHi) >>> 0;
  m.mask[def.word] = maskHi;
  m.mask[def.word + 1] = maskLo;
  m.value[def.word] = (hi & maskHi) >>> 0;
  m.value[def.word + 1] = (lo & maskLo) >>> 0;
  return true;
}

/** Reads a field back in OVS's encoding (for learn and checks): value and mask. */
export function getMatchField(m: Match, f: OvsField): FieldValue {
  switch (f.name) {
    case "in_port_oxm": {
      const g = m.getField(F_IN_PORT);
      return { value: BigInt(portToOfp11(Number(g.value))), mask: g.mask === 0n ? 0n : 0xffffffffn };
    }
    case "icmp_type":
    case "icmpv6_type":
      return m.getField(F_TP_SRC);
    case "icmp_code":
    case "icmpv6_code":
      return m.getField(F_TP_DST);
    case "arp_op": {
      const [v, k] = getW(m, L.W_NW);
      return { value: BigInt(v & 0xff), mask: BigInt(k & 0xff) };
    }
    case "dl_vlan": {
      const [v, k] = getW(m, L.W_VLAN0);
      return { value: BigInt(v & 0xfff), mask: BigInt(k & 0xfff) };
    }
    case "vlan_pcp":
    case "dl_vlan_pcp": {
      const [v, k] = getW(m, L.W_VLAN0);
      return { value: BigInt((v >>> 13) & 7), mask: BigInt((k >>> 13) & 7) };
    }
    default:
      return m.getField(f.def);
  }
}

// ---- Printing values (mf_format).

/** ds_put_hex: "0x" then the bytes without leading zero bytes, or "0". */
export function putHex(value: bigint, nBytes: number): string {
  value &= ones(nBytes * 8);
  if (value === 0n) return "0";
  return "0x" + value.toString(16);
}

/** mf_format: a value (and mask unless exact) as OVS prints it in set_field and learn. */
export function formatFieldValue(
  f: OvsField,
  value: bigint,
  mask: bigint | null,
  portName?: (port: number) => string | undefined,
): string {
  const full = ones(f.nBytes * 8);
  if (mask !== null) {
    if ((mask & full) === 0n) return "ANY";
    if ((mask & full) === full) mask = null;
  }
  const v = Number(value & 0xffffffffn);
  switch (f.string) {
    case "port_oxm":
      if (mask === null) return formatPortName(portFromOfp11(v) ?? OFPP_NONE, portName);
      return intString(f, value, mask);
    case "port":
      if (mask === null) return formatPortName(v, portName);
      return intString(f, value, mask);
    case "decimal":
    case "hex":
      return intString(f, value, mask);
    case "ct_state":
      return mask === null ? formatFlags(v & 0xff, ctStateBitName) : formatFlagsMasked(v, Number(mask), 0xffff, ctStateBitName);
    case "ethernet": {
      const mac = (x: bigint): string => formatMac(Number(x >> 32n), Number(x & 0xffffffffn));
      return mac(value) + (mask === null ? "" : "/" + mac(mask));
    }
    case "ipv4":
      return formatIPv4Masked(v, mask === null ? 0xffffffff : Number(mask));
    case "ipv6": {
      const w = words128(value);
      const mw = words128(mask ?? full);
      return formatIPv6Masked(w, 0, mw, 0);
    }
    case "frag": {
      const fm = Number(mask ?? 0xffn) & 3;
      const fv = v & fm;
      const h = FRAGS.find((x) => x.value === fv && x.mask === fm);
      return h === undefined ? "<error>" : h.name;
    }
    case "tun_flags":
      return formatFlagsMasked(v, Number(mask ?? 0xffffn) & 1, 1, (b) => (b === 1 ? "oam" : undefined));
    case "tcp_flags":
      return formatFlagsMasked(v, Number(mask ?? 0xffffn) & 0xfff, 0xfff, tcpFlagBitName);
  }
}

function intString(f: OvsField, value: bigint, mask: bigint | null): string {
  let out = f.string === "hex" ? putHex(value, f.nBytes) : String(value & ones(f.nBytes * 8));
  if (mask !== null) out += "/" + putHex(mask, f.nBytes);
  return out;
}

function words128(x: bigint): number[] {
  return [Number((x >> 96n) & 0xffffffffn), Number((x >> 64n) & 0xffffffffn), Number((x >> 32n) & 0xffffffffn), Number(x & 0xffffffffn)];
}

// ---- Subfields.

/**
 * mf_parse_subfield__: "FIELD", "FIELD[]", "FIELD[N]" or "FIELD[A..B]" at
 * the start of `text`. Returns the subfield and how many characters it used.
 */
export function parseSubfieldPrefix(text: string, at: number): { sub: SubField; f: OvsField; used: number } {
  let nameLen = 0;
  while (nameLen < text.length && text[nameLen] !== "[" && text[nameLen] !== "-") nameLen++;
  let name = text.slice(0, nameLen);
  // An NXM name with a "_W" suffix means the same field.
  if (name.length > 2 && name.endsWith("_W") && NXM_NAME.test(name)) name = name.slice(0, -2);
  const f = fieldForSubfieldName(name);
  if (f === undefined) throw new TextError(at, text, `${text}: unknown field \`${text.slice(0, nameLen)}'`);
  let i = nameLen;
  let start = 0;
  let end = f.nBits - 1;
  if (text[i] === "[") {
    const m = /^\[(?:\]|(-?\d+)\.\.(-?\d+)\]|(-?\d+)\])/.exec(text.slice(i));
    if (m === null) throw new TextError(at, text, `${text}: syntax error expecting [] or [<bit>] or [<start>..<end>]`);
    if (m[1] !== undefined) {
      start = Number(m[1]);
      end = Number(m[2]);
    } else if (m[3] !== undefined) {
      start = end = Number(m[3]);
    }
    i += m[0].length;
  }
  if (start > end) throw new TextError(at, text, `${text}: starting bit ${start} is after ending bit ${end}`);
  if (start >= f.nBits) {
    throw new TextError(at, text, `${text}: starting bit ${start} is not valid because field is only ${f.nBits} bits wide`);
  }
  if (end >= f.nBits) {
    throw new TextError(at, text, `${text}: ending bit ${end} is not valid because field is only ${f.nBits} bits wide`);
  }
  return { sub: { field: f.def, ofs: start, nBits: end - start + 1 }, f, used: i };
}

/** mf_parse_subfield: the whole text must be one subfield. */
export function parseSubfield(text: string, at: number): { sub: SubField; f: OvsField } {
  const r = parseSubfieldPrefix(text, at);
  if (r.used !== text.length) throw new TextError(at + r.used, text, "unexpected input following field syntax");
  return { sub: r.sub, f: r.f };
}

/** mf_format_subfield: "NXM_NX_REG0[0..15]", "NXM_OF_ETH_DST[]", "NXM_NX_REG1[3]". */
export function formatSubfield(sub: SubField): string {
  const f = ovsFieldOf(sub.field);
  const name = f.nxmName ?? f.name;
  if (sub.ofs === 0 && sub.nBits === f.nBits) return `${name}[]`;
  if (sub.nBits === 1) return `${name}[${sub.ofs}]`;
  return `${name}[${sub.ofs}..${sub.ofs + sub.nBits - 1}]`;
}

/** The OVS bit width of the field under a subfield (OVS's n_bits, e.g. 12 for vlan_vid). */
export function subfieldFieldBits(sub: SubField): number {
  return ovsFieldOf(sub.field).nBits;
}
