/**
 * Committing header changes: before an output, translation turns the
 * differences between the flow as the actions left it and the packet as the
 * datapath currently holds it ("base") into datapath set/push/pop actions,
 * as OVS's commit_odp_actions() (lib/odp-util.c) does, in the same order:
 * Ethernet addresses, IPv4/IPv6 (with ND) or ARP, L4 ports, ICMP, VLAN tags,
 * skb priority and packet mark.
 *
 * A header's set action carries only the fields that changed and that the
 * megaflow mask covers; when that is every field of the header, it is a plain
 * set, else a masked set. The megaflow mask keeps what it had (a header that
 * turned into a plain set becomes fully masked), as in OVS.
 */
import * as L from "../flow/layout.js";
import type { OdpAction, SetAttr } from "../datapath/actions.js";
import { SET_ATTR_FIELDS } from "../datapath/actions.js";

/** Word ranges and bits of one sub-field as (word, bitmask) pairs. */
function subfieldWords(word: number, shift: number, bits: number): [number, number][] {
  if (bits <= 32) return [[word, (bits === 32 ? 0xffffffff : (((1 << bits) - 1) << shift)) >>> 0]];
  if (bits === 48) return [[word, 0xffff], [word + 1, 0xffffffff]];
  const out: [number, number][] = [];
  for (let i = 0; i < bits / 32; i++) out.push([word + i, 0xffffffff]);
  return out;
}

/** The sub-fields the datapath cannot set in an IP header (OVS's commit_set_ipv4_action/ipv6 leave them out). */
const IP_FIXED: readonly string[] = ["proto", "frag"];
const NO_FIXED: readonly string[] = [];

/**
 * Commits one header, as odp-util's commit(): fields equal in flow and base
 * drop out of the mask; if any field differs, the header is a plain set when
 * the remaining mask covers every field of the header (or masked sets are
 * not wanted: `useMasked` false, as for ICMP), else a masked set. A plain set
 * writes the whole header, so the megaflow then matches all of it.
 * `ipFixed` names the IP header's proto and frag, which the datapath cannot
 * set: their mask is forced to zero, so such a set is never "fully masked".
 */
function commitAttr(attr: SetAttr, flow: Uint32Array, base: Uint32Array, wc: Uint32Array, out: OdpAction[], ipFixed = false, useMasked = true): void {
  // Most outputs change nothing in most headers: find out before building anything.
  if (!attrDiffers(attr, flow, base, ipFixed)) return;
  const fixedZero = ipFixed ? IP_FIXED : NO_FIXED;
  const value = new Uint32Array(L.KEY_WORDS);
  const mask = new Uint32Array(L.KEY_WORDS);
  let differ = false;
  let full = true;
  for (const f of SET_ATTR_FIELDS[attr]) {
    const parts = subfieldWords(f.word, f.shift, f.bits);
    const same = parts.every(([w, m]) => ((flow[w] ^ base[w]) & m) === 0);
    const zero = same || fixedZero.includes(f.name);
    if (!same && !fixedZero.includes(f.name)) differ = true;
    for (const [w, m] of parts) {
      value[w] = (value[w] | (flow[w] & m)) >>> 0;
      if (!zero) mask[w] = (mask[w] | (wc[w] & m)) >>> 0;
      if (zero || ((wc[w] & m) >>> 0) !== m) full = false;
    }
  }
  if (!differ) return;
  const plain = full || !useMasked;
  // commit_masked_set_action: the value carries only the masked bits.
  if (!plain) for (let w = 0; w < L.KEY_WORDS; w++) value[w] &= mask[w];
  out.push({ t: "set", attr, masked: !plain, value, mask });
  // The datapath packet now has the new values.
  for (const f of SET_ATTR_FIELDS[attr]) {
    if (fixedZero.includes(f.name)) continue;
    for (const [w, m] of subfieldWords(f.word, f.shift, f.bits)) {
      base[w] = ((base[w] & ~m) | (flow[w] & m)) >>> 0;
      if (plain) wc[w] = (wc[w] | m) >>> 0;
    }
  }
}

/** (word, bits) pairs of the sub-fields of a header a set can change. */
function changeablePairs(attr: SetAttr, fixedZero: readonly string[]): Int32Array {
  const list: number[] = [];
  for (const f of SET_ATTR_FIELDS[attr]) {
    if (fixedZero.includes(f.name)) continue;
    for (const [w, m] of subfieldWords(f.word, f.shift, f.bits)) list.push(w, m | 0);
  }
  return Int32Array.from(list);
}

/** changeablePairs of every header, all sub-fields and without IP_FIXED, computed once: upcalls consult them on every output. */
const PAIRS_ALL = new Map<SetAttr, Int32Array>();
const PAIRS_IP_FIXED = new Map<SetAttr, Int32Array>();
for (const attr of Object.keys(SET_ATTR_FIELDS) as SetAttr[]) {
  PAIRS_ALL.set(attr, changeablePairs(attr, NO_FIXED));
  PAIRS_IP_FIXED.set(attr, changeablePairs(attr, IP_FIXED));
}

function attrDiffers(attr: SetAttr, flow: Uint32Array, base: Uint32Array, ipFixed: boolean): boolean {
  const pairs = (ipFixed ? PAIRS_IP_FIXED : PAIRS_ALL).get(attr)!;
  for (let i = 0; i < pairs.length; i += 2) if (((flow[pairs[i]] ^ base[pairs[i]]) & pairs[i + 1]) !== 0) return true;
  return false;
}

const vlanCount = (k: Uint32Array): number => {
  let n = 0;
  while (n < 2 && k[L.W_VLAN0 + n] & L.VLAN_CFI) n++;
  return n;
};

/** Pops the base's tags that differ from the flow's and pushes the flow's (commit_vlan_action). */
function commitVlans(flow: Uint32Array, base: Uint32Array, wc: Uint32Array, out: OdpAction[]): void {
  let baseN = vlanCount(base) - 1;
  let flowN = vlanCount(flow) - 1;
  // Skip the common inner tags (flow_skip_common_vlan_headers).
  while (baseN >= 0 && flowN >= 0 && base[L.W_VLAN0 + baseN] === flow[L.W_VLAN0 + flowN]) {
    baseN--;
    flowN--;
  }
  for (; baseN >= 0; baseN--) {
    out.push({ t: "pop_vlan" });
    wc[L.W_VLAN0 + baseN] = 0xffffffff;
  }
  for (; flowN >= 0; flowN--) {
    const v = flow[L.W_VLAN0 + flowN];
    out.push({ t: "push_vlan", tpid: v >>> 16 || L.ETH_TYPE_VLAN_8021Q, tci: v & 0xffff });
  }
  base[L.W_VLAN0] = flow[L.W_VLAN0];
  base[L.W_VLAN1] = flow[L.W_VLAN1];
}

/**
 * Appends to `out` the actions that make the datapath packet (base) look
 * like `flow` (commit_odp_actions). L3 and L4 headers are committed only
 * when the flow has an L3 protocol (nw_proto, or the ARP opcode, non-zero),
 * as commit_set_nw_action and commit_set_port_action require: a packet whose
 * IP header could not be parsed is never rewritten.
 */
export function commitActions(flow: Uint32Array, base: Uint32Array, wc: Uint32Array, out: OdpAction[]): void {
  commitAttr("eth", flow, base, wc, out);
  const dlType = base[L.W_DL_TYPE] & 0xffff;
  const nwProto = flow[L.W_NW] & 0xff;
  const isIp = dlType === L.ETH_TYPE_IP || dlType === L.ETH_TYPE_IPV6;
  if (nwProto !== 0) {
    if (dlType === L.ETH_TYPE_IP) commitAttr("ipv4", flow, base, wc, out, true);
    else if (dlType === L.ETH_TYPE_IPV6) {
      commitAttr("ipv6", flow, base, wc, out, true);
      if ((base[L.W_NW] & 0xff) === L.IPPROTO_ICMPV6) commitAttr("nd", flow, base, wc, out);
    } else if (dlType === L.ETH_TYPE_ARP) commitAttr("arp", flow, base, wc, out);
    const later = ((flow[L.W_NW] >>> L.NW_FRAG_SHIFT) & L.FRAG_LATER) !== 0;
    if (isIp && !later) {
      if (nwProto === L.IPPROTO_TCP) commitAttr("tcp", flow, base, wc, out);
      else if (nwProto === L.IPPROTO_UDP) commitAttr("udp", flow, base, wc, out);
      else if (nwProto === L.IPPROTO_SCTP) commitAttr("sctp", flow, base, wc, out);
    }
  }
  // commit_set_icmp_action: never a masked set.
  const fDlType = flow[L.W_DL_TYPE] & 0xffff;
  if (nwProto === L.IPPROTO_ICMP && fDlType === L.ETH_TYPE_IP) commitAttr("icmp", flow, base, wc, out, false, false);
  else if (nwProto === L.IPPROTO_ICMPV6 && fDlType === L.ETH_TYPE_IPV6) commitAttr("icmpv6", flow, base, wc, out, false, false);
  commitVlans(flow, base, wc, out);
  if (flow[L.W_SKB_PRIORITY] !== base[L.W_SKB_PRIORITY]) commitAttr("skb_priority", flow, base, wc, out);
  if (flow[L.W_PKT_MARK] !== base[L.W_PKT_MARK]) commitAttr("skb_mark", flow, base, wc, out);
}
