/**
 * Datapath actions: what translation hands the datapath for a megaflow, in
 * the vocabulary of Open vSwitch's datapath interface (lib/odp-util.c), and
 * their text as `ofproto/trace` and `dpctl/dump-flows` print it
 * ("push_vlan(vid=5,pcp=0),set(eth(dst=...)),2").
 *
 * A set action carries a value key and a mask key in the flow-key layout,
 * limited to the words of one header (its `attr`); masked sets write only
 * the masked bits, as dpif-netdev's OVS_ACTION_ATTR_SET_MASKED does.
 *
 * These objects are the control plane's form; execute.ts applies them to a
 * frame, and the datapath compiles them once per megaflow.
 */
import * as L from "../flow/layout.js";
import { formatIPv4, formatIPv6, formatMac } from "../flow/text.js";
import { formatTunnelHeader, type TunnelHeader } from "../tunnel/header.js";
import type { CtRequest } from "../conntrack/api.js";

export type SetAttr = "eth" | "ipv4" | "ipv6" | "tcp" | "udp" | "sctp" | "icmp" | "icmpv6" | "arp" | "nd" | "skb_priority" | "skb_mark";

export type OdpAction =
  | { t: "output"; port: number }
  | { t: "push_vlan"; tpid: number; tci: number }
  | { t: "pop_vlan" }
  | { t: "set"; attr: SetAttr; masked: boolean; value: Uint32Array; mask: Uint32Array }
  /** A ct(...) action: its text (ct-text.ts) and the request the conntrack engine runs. */
  | { t: "ct"; text: string; req: CtRequest }
  | { t: "ct_clear" }
  | { t: "recirc"; id: number }
  | { t: "userspace"; text: string }
  | { t: "clone"; actions: OdpAction[] }
  | { t: "drop" }
  /** Runs the packet through datapath meter `id` (src/datapath/meter.ts); a band may drop it there. */
  | { t: "meter"; id: number }
  /** Cuts the packet the next output sends to maxLen bytes (OVS_ACTION_ATTR_TRUNC); the packet itself stays whole. */
  | { t: "trunc"; maxLen: number }
  // Native tunnels (src/datapath/tunnel.ts): push `header`, then run `actions` on the outer frame,
  // whose key is `outerKey`; inside a clone unless it is the last action.
  | { t: "tnl_push"; tnlPort: number; header: TunnelHeader; outPort: number; clone: boolean; actions: OdpAction[]; outerKey: Uint32Array }
  | { t: "tnl_pop"; port: number; udp: boolean };

/** A header field inside a set action: its name in odp-util's text and where it lives in the key. */
interface SubField {
  name: string;
  word: number;
  shift: number;
  bits: number;
  kind: "mac" | "ipv4" | "ipv6" | "u" | "x" | "frag" | "label";
}

const sf = (name: string, word: number, shift: number, bits: number, kind: SubField["kind"]): SubField => ({ name, word, shift, bits, kind });

/** Sub-fields of each settable header, in odp-util's print order. */
export const SET_ATTR_FIELDS: Record<SetAttr, SubField[]> = {
  eth: [sf("src", L.W_DL_SRC, 0, 48, "mac"), sf("dst", L.W_DL_DST, 0, 48, "mac")],
  ipv4: [
    sf("src", L.W_NW_SRC, 0, 32, "ipv4"),
    sf("dst", L.W_NW_DST, 0, 32, "ipv4"),
    sf("proto", L.W_NW, L.NW_PROTO_SHIFT, 8, "u"),
    sf("tos", L.W_NW, L.NW_TOS_SHIFT, 8, "x"),
    sf("ttl", L.W_NW, L.NW_TTL_SHIFT, 8, "u"),
    sf("frag", L.W_NW, L.NW_FRAG_SHIFT, 8, "frag"),
  ],
  ipv6: [
    sf("src", L.W_IPV6_SRC, 0, 128, "ipv6"),
    sf("dst", L.W_IPV6_DST, 0, 128, "ipv6"),
    sf("label", L.W_IPV6_LABEL, 0, 20, "label"),
    sf("proto", L.W_NW, L.NW_PROTO_SHIFT, 8, "u"),
    sf("tclass", L.W_NW, L.NW_TOS_SHIFT, 8, "x"),
    sf("hlimit", L.W_NW, L.NW_TTL_SHIFT, 8, "u"),
    sf("frag", L.W_NW, L.NW_FRAG_SHIFT, 8, "frag"),
  ],
  tcp: [sf("src", L.W_TP, 16, 16, "u"), sf("dst", L.W_TP, 0, 16, "u")],
  udp: [sf("src", L.W_TP, 16, 16, "u"), sf("dst", L.W_TP, 0, 16, "u")],
  sctp: [sf("src", L.W_TP, 16, 16, "u"), sf("dst", L.W_TP, 0, 16, "u")],
  icmp: [sf("type", L.W_TP, 16, 8, "u"), sf("code", L.W_TP, 0, 8, "u")],
  icmpv6: [sf("type", L.W_TP, 16, 8, "u"), sf("code", L.W_TP, 0, 8, "u")],
  arp: [
    sf("sip", L.W_NW_SRC, 0, 32, "ipv4"),
    sf("tip", L.W_NW_DST, 0, 32, "ipv4"),
    sf("op", L.W_NW, L.NW_PROTO_SHIFT, 8, "u"),
    sf("sha", L.W_ARP_SHA, 0, 48, "mac"),
    sf("tha", L.W_ARP_THA, 0, 48, "mac"),
  ],
  nd: [sf("target", L.W_ND_TARGET, 0, 128, "ipv6"), sf("sll", L.W_ARP_SHA, 0, 48, "mac"), sf("tll", L.W_ARP_THA, 0, 48, "mac")],
  skb_priority: [sf("", L.W_SKB_PRIORITY, 0, 32, "x")],
  skb_mark: [sf("", L.W_PKT_MARK, 0, 32, "x")],
};

/** The words of a sub-field as numbers (1 word for <= 32 bits, else 2 or 4). */
function subWords(key: Uint32Array, f: SubField): number[] {
  if (f.bits <= 32) return [(f.bits === 32 ? key[f.word] : (key[f.word] >>> f.shift) & ((1 << f.bits) - 1)) >>> 0];
  const n = f.bits === 48 ? 2 : 4;
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(key[f.word + i] >>> 0);
  if (f.bits === 48) out[0] &= 0xffff;
  return out;
}

const allOnes = (f: SubField, w: number[]): boolean => {
  if (f.bits <= 32) return w[0] === (f.bits === 32 ? 0xffffffff : (1 << f.bits) - 1);
  return w.every((x, i) => x === (f.bits === 48 && i === 0 ? 0xffff : 0xffffffff));
};
const allZero = (w: number[]): boolean => w.every((x) => x === 0);

function formatSubValue(f: SubField, w: number[]): string {
  switch (f.kind) {
    case "mac":
      return formatMac(w[0], w[1]);
    case "ipv4":
      return formatIPv4(w[0]);
    case "ipv6":
      return formatIPv6(w, 0);
    case "x":
    case "label":
      return hexC(w[0]);
    case "frag":
      return ["no", "first", "<error>", "later"][w[0] & 3] ?? String(w[0]);
    default:
      return String(w[0]);
  }
}

/** A mask prints like its field's value for addresses, and in hex otherwise. */
function formatSubMask(f: SubField, w: number[]): string {
  return f.kind === "mac" || f.kind === "ipv4" || f.kind === "ipv6" ? formatSubValue(f, w) : hexC(w[0]);
}

/** C's "%#x": zero is "0", anything else 0x-prefixed (odp-util prints hex fields so). */
const hexC = (n: number): string => (n === 0 ? "0" : `0x${(n >>> 0).toString(16)}`);

/** Text of a set action's header, e.g. "eth(src=...,dst=...)", masked fields only for masked sets. */
export function formatSet(a: { attr: SetAttr; masked: boolean; value: Uint32Array; mask: Uint32Array }): string {
  const fields = SET_ATTR_FIELDS[a.attr];
  if (a.attr === "skb_priority" || a.attr === "skb_mark") {
    const v = subWords(a.value, fields[0])[0];
    const m = subWords(a.mask, fields[0])[0];
    return `${a.attr}(${hexC(v)}${a.masked && m !== 0xffffffff ? `/${hexC(m)}` : ""})`;
  }
  const parts: string[] = [];
  for (const f of fields) {
    const v = subWords(a.value, f);
    if (!a.masked) {
      parts.push(`${f.name}=${formatSubValue(f, v)}`);
      continue;
    }
    const m = subWords(a.mask, f);
    if (allZero(m)) continue;
    parts.push(`${f.name}=${formatSubValue(f, v)}${allOnes(f, m) ? "" : `/${formatSubMask(f, m)}`}`);
  }
  return `${a.attr}(${parts.join(",")})`;
}

/** Datapath actions as OVS prints them; "drop" for none. `portName` maps datapath ports to names. */
export function formatOdpActions(actions: readonly OdpAction[], portName?: (port: number) => string | undefined): string {
  if (actions.length === 0) return "drop";
  return actions.map((a) => formatOdpAction(a, portName)).join(",");
}

function formatOdpAction(a: OdpAction, portName?: (port: number) => string | undefined): string {
  switch (a.t) {
    case "output":
      return portName?.(a.port) ?? String(a.port);
    case "push_vlan": {
      const tpid = a.tpid !== L.ETH_TYPE_VLAN_8021Q ? `tpid=0x${a.tpid.toString(16).padStart(4, "0")},` : "";
      const cfi = a.tci & L.VLAN_CFI ? "" : ",cfi=0";
      return `push_vlan(${tpid}vid=${a.tci & L.VLAN_VID_MASK},pcp=${a.tci >>> 13}${cfi})`;
    }
    case "pop_vlan":
      return "pop_vlan";
    case "set":
      return `set(${formatSet(a)})`;
    case "ct":
      return a.text;
    case "ct_clear":
      return "ct_clear";
    case "recirc":
      return `recirc(0x${a.id.toString(16)})`;
    case "userspace":
      return a.text;
    case "clone":
      return `clone(${formatOdpActions(a.actions, portName)})`;
    case "drop":
      return "drop";
    case "meter":
      return `meter(${a.id})`;
    case "trunc":
      return `trunc(${a.maxLen})`;
    case "tnl_push": {
      const name = (p: number): string => portName?.(p) ?? String(p);
      const push = `tnl_push(tnl_port(${name(a.tnlPort)}),${formatTunnelHeader(a.header)},out_port(${name(a.outPort)}))`;
      const inner = `${push}${a.actions.length ? `,${formatOdpActions(a.actions, portName)}` : ""}`;
      return a.clone ? `clone(${inner})` : inner;
    }
    case "tnl_pop":
      return `tnl_pop(${portName?.(a.port) ?? a.port})`;
  }
}
