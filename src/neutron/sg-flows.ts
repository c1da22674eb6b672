/**
 * Security groups compiled to br-int flows in the layout of Neutron's
 * openvswitch firewall driver (neutron/agent/linux/openvswitch_firewall/
 * firewall.py and rules.py; doc/source/contributor/internals/
 * openvswitch_firewall.rst shows complete tables):
 *
 *   0   LOCAL_SWITCHING   drop VID 4095, everything else to 60
 *   60  TRANSIENT         in_port=VM: reg5=ofport, reg6=local VLAN -> 71 (egress)
 *                         dl_vlan+dl_dst=VM MAC: same, strip_vlan -> 81 (ingress)
 *                         anything else NORMAL
 *   71  BASE_EGRESS       ARP/RARP/ND with the port's own MAC and IPs -> 94,
 *                         DHCP client -> 73, DHCP server and RA -> 93,
 *                         IP with the port's MAC and IP -> ct(table=72,zone=reg6)
 *   72  RULES_EGRESS      +est-rel+rpl and related accepted, +inv and ct_mark=1
 *                         dropped, egress rules -> 73, other established
 *                         connections marked ct_mark=1 (rule removed)
 *   73  ACCEPT_OR_INGRESS dl_dst of a local port -> 81 with reg5 = that port;
 *                         +new-est committed -> 91; the rest -> 94
 *   81  BASE_INGRESS      ARP, ND, DHCP replies straight out; IP -> ct(table=82)
 *   82  RULES_INGRESS     as 72, accepting by output:port (+new: commit, 92)
 *   91/94                 accepted egress: NORMAL;  92/93: accepted ingress / dropped
 *
 * Rules with remote_group_id become conjunctive flows (dimension 1: the
 * remote group's member addresses on the network; dimension 2: the rest of
 * the rule on the port), conj_ids allocated as ConjIdMap does (blocks of 8
 * from 16, base + 2 x priority offset) and accepted by conj_id flows that
 * also load the conj_id into reg7. Port ranges become masked matches with
 * Neutron's algorithm (port-range.ts), and overlapping remote-group rules
 * are merged as merge_port_ranges / merge_common_rules do.
 *
 * Differences from the agent, on purpose: table 0 goes straight to 60 (the
 * agent passes 0 -> 58 -> 59 -> 60 through its rate-limit tables, which
 * hold nothing the firewall needs); cookies are 0; no permitted_ethertypes
 * and no explicitly_egress_direct (their defaults); networks are
 * tunnelled, so there are no physical-VLAN direct flows.
 */
import type { Direction, Ethertype, SecurityGroup, SgInput, SgPort, SgRule } from "./sg-model.js";
import { portRuleMasking } from "./port-range.js";
import { checkPrefix, prefixText } from "./addr.js";
import { FlowSet, type RawFlow } from "./flow-text.js";

export const TABLE = {
  LOCAL_SWITCHING: 0,
  TRANSIENT: 60,
  BASE_EGRESS: 71,
  RULES_EGRESS: 72,
  ACCEPT_OR_INGRESS: 73,
  BASE_INGRESS: 81,
  RULES_INGRESS: 82,
  ACCEPTED_EGRESS_TRAFFIC: 91,
  ACCEPTED_INGRESS_TRAFFIC: 92,
  DROPPED_TRAFFIC: 93,
  ACCEPTED_EGRESS_TRAFFIC_NORMAL: 94,
} as const;

const REG_PORT = 5;
const REG_NET = 6;
const REG_REMOTE_GROUP = 7;
const ZONE = `zone=NXM_NX_REG${REG_NET}[0..15]`;

// ovsfw_consts: the conntrack states the driver matches.
const EST_NOT_REPLY = "+est-rel-rpl";
const NEW_NOT_EST = "+new-est";
const EST_REPLY = "+est-rel+rpl";
const RELATED = "-new-est+rel-inv";
const INVALID = "+trk+inv";
const CT_MARK_INVALID = "0x1";

const DL_TYPE: Record<Ethertype, string> = { IPv4: "0x0800", IPv6: "0x86dd" };
const ICMPV6 = { MLD_QUERY: 130, RS: 133, RA: 134, NS: 135, NA: 136 };
const ICMPV6_ALLOWED_EGRESS = [ICMPV6.MLD_QUERY, ICMPV6.RS, ICMPV6.NS];
const ICMPV6_ALLOWED_INGRESS = [ICMPV6.MLD_QUERY, ICMPV6.NS, ICMPV6.NA, ICMPV6.RA];
const PORT_PROTOCOL_NAME: Record<number, string> = { 6: "tcp", 17: "udp", 132: "sctp" };
const isIcmp = (p: number | undefined): boolean => p === 1 || p === 58;

/** A rule as the driver's flow builders see it: remote prefix split by direction. */
interface DriverRule {
  direction: Direction;
  ethertype: Ethertype;
  protocol?: number;
  portRangeMin?: number;
  portRangeMax?: number;
  sourcePrefix?: string;
  destPrefix?: string;
}

function driverRule(r: SgRule): DriverRule {
  const d: DriverRule = { direction: r.direction, ethertype: r.ethertype };
  if (r.protocol !== undefined) d.protocol = r.protocol;
  if (r.portRangeMin !== undefined) d.portRangeMin = r.portRangeMin;
  if (r.portRangeMax !== undefined) d.portRangeMax = r.portRangeMax;
  if (r.remoteIpPrefix !== undefined) {
    if (r.direction === "ingress") d.sourcePrefix = r.remoteIpPrefix;
    else d.destPrefix = r.remoteIpPrefix;
  }
  return d;
}

/** rules.flow_priority_offset: 8 levels, conjunctive rules below plain ones. */
function priorityOffset(r: DriverRule, conjunction: boolean): number {
  const base = conjunction ? 0 : 4;
  if (r.protocol === undefined) return base;
  if (isIcmp(r.protocol)) {
    if (r.portRangeMin === undefined) return base + 1;
    if (r.portRangeMax === undefined) return base + 2;
  }
  return base + 3;
}

/** rules.is_valid_prefix: 0.0.0.0/0 and ::/0 match anything and are left out. */
const usefulPrefix = (p: string | undefined): p is string => p !== undefined && !/\/0$/.test(p);

/** rules.create_flows_from_rule_and_port: the flows of one rule on one port (before accept/conjunction actions). */
function ruleFlows(r: DriverRule, port: SgPort, conjunction: boolean): RawFlow[] {
  const ingress = r.direction === "ingress";
  const match = [`dl_type=${DL_TYPE[r.ethertype]}`, `reg${REG_PORT}=${port.ofport}`];
  const v6 = r.ethertype === "IPv6";
  if (usefulPrefix(r.destPrefix)) match.push(`${v6 ? "ipv6_dst" : "nw_dst"}=${r.destPrefix}`);
  if (usefulPrefix(r.sourcePrefix)) match.push(`${v6 ? "ipv6_src" : "nw_src"}=${r.sourcePrefix}`);
  if (r.protocol !== undefined) match.push(`nw_proto=${r.protocol}`);
  const template: RawFlow = {
    table: ingress ? TABLE.RULES_INGRESS : TABLE.RULES_EGRESS,
    priority: 70 + priorityOffset(r, conjunction),
    match,
    actions: ingress ? `output:${port.ofport}` : `resubmit(,${TABLE.ACCEPT_OR_INGRESS})`,
  };
  const withMatch = (...extra: string[]): RawFlow => ({ ...template, match: [...template.match, ...extra] });
  if (isIcmp(r.protocol)) {
    if (r.portRangeMin === undefined) return [template];
    const extra = [`icmp_type=${r.portRangeMin}`];
    if (r.portRangeMax !== undefined) extra.push(`icmp_code=${r.portRangeMax}`);
    return [withMatch(...extra)];
  }
  const name = r.protocol === undefined ? undefined : PORT_PROTOCOL_NAME[r.protocol];
  if (name === undefined || r.portRangeMin === undefined || r.portRangeMax === undefined) return [template];
  return portRuleMasking(r.portRangeMin, r.portRangeMax).map((m) => withMatch(`${name}_dst=${m}`));
}

/** rules.create_accept_flows: established (not reply) as is; new connections committed on ingress. */
function acceptFlows(f: RawFlow): RawFlow[] {
  const est: RawFlow = { ...f, match: [`ct_state=${EST_NOT_REPLY}`, ...f.match] };
  const actions = f.table === TABLE.RULES_INGRESS ? `ct(commit,${ZONE}),${f.actions},resubmit(,${TABLE.ACCEPTED_INGRESS_TRAFFIC})` : f.actions;
  return [est, { ...f, match: [`ct_state=${NEW_NOT_EST}`, ...f.match], actions }];
}

/** rules.substitute_conjunction_actions: one flow per conntrack state, acting conjunction(id+i, dim/2). */
function conjunctionFlows(flows: RawFlow[], dimension: 1 | 2, conjIds: number[]): RawFlow[] {
  const out: RawFlow[] = [];
  for (const f of flows) {
    [EST_NOT_REPLY, NEW_NOT_EST].forEach((state, i) => {
      out.push({ ...f, match: [`ct_state=${state}`, ...f.match], actions: conjIds.map((id) => `conjunction(${id + i},${dimension}/2)`).join(",") });
    });
  }
  return out;
}

type ConjRule = { rule: DriverRule; conjIds: number[] };

/** rules.merge_port_ranges: rules that differ only in port range become non-overlapping ranges, each with the conj_ids covering it. */
function mergePortRanges(list: { rule: DriverRule; conjId: number }[]): ConjRule[] {
  if (list.length === 1) return [{ rule: list[0].rule, conjIds: [list[0].conjId] }];
  const edges: { port: number; min: boolean; conjId: number }[] = [];
  for (const { rule, conjId } of list) {
    edges.push({ port: rule.portRangeMin ?? 1, min: true, conjId });
    edges.push({ port: rule.portRangeMax ?? 65535, min: false, conjId });
  }
  // Stable sort by port, a range's start before any end at the same port (Python's sorted is stable too).
  edges.sort((a, b) => a.port * 2 + (a.min ? 0 : 1) - (b.port * 2 + (b.min ? 0 : 1)));
  const tmpl = list[0].rule;
  const result: ConjRule[] = [];
  const active = new Map<number, number>();
  let curMin = -1;
  const emit = (min: number, max: number): void => {
    result.push({ rule: { ...tmpl, portRangeMin: min, portRangeMax: max }, conjIds: [...active.keys()] });
  };
  for (const e of edges) {
    if (e.min) {
      const n = active.get(e.conjId);
      if (n !== undefined) {
        active.set(e.conjId, n + 1);
        continue;
      }
      if (active.size > 0 && curMin !== e.port) emit(curMin, e.port - 1);
      curMin = e.port;
      active.set(e.conjId, 1);
    } else {
      const n = active.get(e.conjId)!;
      if (n > 1) {
        active.set(e.conjId, n - 1);
        continue;
      }
      if (curMin <= e.port) {
        emit(curMin, e.port);
        curMin = e.port + 1;
      }
      active.delete(e.conjId);
    }
  }
  if (result.length === 1 && result[0].rule.portRangeMin === 1 && result[0].rule.portRangeMax === 65535) {
    delete result[0].rule.portRangeMin;
    delete result[0].rule.portRangeMax;
  }
  return result;
}

/** rules.merge_common_rules: rules equal but for their port range, grouped by range. */
function mergeCommonRules(list: { rule: DriverRule; conjId: number }[]): ConjRule[] {
  const byRange = new Map<string, ConjRule>();
  for (const { rule, conjId } of list) {
    const k = `${rule.portRangeMin}/${rule.portRangeMax}`;
    const e = byRange.get(k);
    if (e) e.conjIds.push(conjId);
    else byRange.set(k, { rule, conjIds: [conjId] });
  }
  return [...byRange.values()];
}

/** The driver's state while ports are added: conj_id allocation and remote-group bookkeeping. */
class ConjState {
  /** ConjIdMap: (sg, remote, direction, ethertype) -> a base divisible by 8; the first is 16. */
  private readonly ids = new Map<string, number>();
  private maxId = 8;
  /** ConjIPFlowManager.conj_ids: vlan -> "direction|ethertype" -> remote group -> conj_ids. */
  readonly byVlan = new Map<number, Map<string, Map<string, Set<number>>>>();

  add(vlan: number, sgId: string, remoteId: string, direction: Direction, ethertype: Ethertype, offset: number): number {
    const key = JSON.stringify([sgId, remoteId, direction, ethertype]);
    let base = this.ids.get(key);
    if (base === undefined) {
      this.maxId += 8;
      base = this.maxId;
      this.ids.set(key, base);
    }
    const conjId = base + offset * 2;
    let perVlan = this.byVlan.get(vlan);
    if (!perVlan) this.byVlan.set(vlan, (perVlan = new Map()));
    const de = `${direction}|${ethertype}`;
    let perDe = perVlan.get(de);
    if (!perDe) perVlan.set(de, (perDe = new Map()));
    let set = perDe.get(remoteId);
    if (!set) perDe.set(remoteId, (set = new Set()));
    set.add(conjId);
    return conjId;
  }
}

/** A group's member addresses of one ethertype: fixed IPs and allowed address pairs of every port in it. */
function groupMembers(input: SgInput, groupId: string, ethertype: Ethertype): { addr: string; mac: string }[] {
  const version = ethertype === "IPv4" ? 4 : 6;
  const out: { addr: string; mac: string }[] = [];
  for (const p of input.ports) {
    if (!p.securityGroups.includes(groupId)) continue;
    for (const ip of p.fixedIps) if (ip.version === version) out.push({ addr: ip.ip, mac: p.mac });
    for (const a of p.allowedAddressPairs) if (a.version === version) out.push({ addr: a.ip, mac: a.mac });
  }
  return out;
}

/** Compiles the description to br-int flow lines, in the order the driver installs them. */
export function compileSecurityGroups(input: SgInput): string[] {
  const flows = new FlowSet();
  const add = (table: number, priority: number, match: string[], actions: string): void => flows.add({ table, priority, match, actions });
  const conj = new ConjState();

  // ovs_neutron_agent's br-int defaults and the driver's common and third-party tables.
  add(TABLE.LOCAL_SWITCHING, 65535, ["vlan_tci=0x0fff/0x1fff"], "drop");
  add(TABLE.LOCAL_SWITCHING, 0, [], `resubmit(,${TABLE.TRANSIENT})`);
  add(TABLE.TRANSIENT, 3, [], "NORMAL");
  add(TABLE.BASE_EGRESS, 110, ["ct_state=+trk"], `ct_clear,resubmit(,${TABLE.BASE_EGRESS})`);
  add(TABLE.ACCEPTED_EGRESS_TRAFFIC_NORMAL, 1, [], "NORMAL");
  add(TABLE.ACCEPTED_EGRESS_TRAFFIC, 1, [], `resubmit(,${TABLE.ACCEPTED_EGRESS_TRAFFIC_NORMAL})`);
  add(TABLE.ACCEPTED_INGRESS_TRAFFIC, 0, [], "drop");
  add(TABLE.DROPPED_TRAFFIC, 0, [], "drop");
  for (const t of [TABLE.BASE_EGRESS, TABLE.RULES_EGRESS, TABLE.ACCEPT_OR_INGRESS, TABLE.BASE_INGRESS, TABLE.RULES_INGRESS]) add(t, 0, [], "drop");

  for (const port of input.ports) {
    if (port.ofport < 0) continue;
    if (!port.portSecurity) {
      unfilteredPortFlows(port, add);
      continue;
    }
    portBaseFlows(port, add);
    trackedFlows(port, add);
    const groups = port.securityGroups.map((g) => input.groups.get(g)!);
    for (const g of groups) for (const r of g.rules) if (r.remoteGroupId === undefined) for (const f of ruleFlows(driverRule(r), port, false)) for (const a of acceptFlows(f)) flows.add(a);
    remoteRuleFlows(port, groups, conj, flows);
    memberFlows(input, conj, port.vlanTag, flows);
  }
  return flows.lines();
}

type Add = (table: number, priority: number, match: string[], actions: string) => void;

const loadRegs = (port: SgPort): string => `set_field:${port.ofport}->reg${REG_PORT},set_field:${port.vlanTag}->reg${REG_NET}`;

/** _initialize_egress_no_port_security: identified, then accepted without filtering. */
function unfilteredPortFlows(port: SgPort, add: Add): void {
  add(TABLE.TRANSIENT, 100, [`in_port=${port.ofport}`], `${loadRegs(port)},resubmit(,${TABLE.ACCEPT_OR_INGRESS})`);
  add(TABLE.ACCEPT_OR_INGRESS, 80, [`reg${REG_PORT}=${port.ofport}`], `resubmit(,${TABLE.ACCEPTED_EGRESS_TRAFFIC_NORMAL})`);
}

/** initialize_port_flows: tables 60, 71, 73 and 81 for one filtered port. */
function portBaseFlows(port: SgPort, add: Add): void {
  const P = port.ofport;
  const inPort = [`in_port=${P}`, `reg${REG_PORT}=${P}`];
  const macs = [port.mac, ...port.allowedAddressPairs.map((a) => a.mac)].filter((m, i, all) => all.indexOf(m) === i);
  add(TABLE.TRANSIENT, 100, [`in_port=${P}`], `${loadRegs(port)},resubmit(,${TABLE.BASE_EGRESS})`);
  for (const mac of macs) {
    add(TABLE.TRANSIENT, 90, [`dl_vlan=${port.vlanTag}`, `dl_dst=${mac}`], `${loadRegs(port)},strip_vlan,resubmit(,${TABLE.BASE_INGRESS})`);
  }

  // _initialize_egress: anti-spoofing of ARP, RARP and IP for each (MAC, IPv4) pair.
  const pairs4 = [...port.allowedAddressPairs.filter((a) => a.version === 4).map((a) => [a.mac, a.ip]), ...port.fixedIps.filter((i) => i.version === 4).map((i) => [port.mac, i.ip])];
  for (const [mac, ip] of pairs4) {
    add(TABLE.BASE_EGRESS, 95, ["arp", ...inPort, `dl_src=${mac}`, `arp_spa=${ip}`], `resubmit(,${TABLE.ACCEPTED_EGRESS_TRAFFIC_NORMAL})`);
    add(TABLE.BASE_EGRESS, 95, ["rarp", ...inPort, `dl_src=${mac}`], `resubmit(,${TABLE.ACCEPTED_EGRESS_TRAFFIC_NORMAL})`);
    add(TABLE.BASE_EGRESS, 65, ["ip", ...inPort, `dl_src=${mac}`, `nw_src=${ip}`], `ct(table=${TABLE.RULES_EGRESS},${ZONE})`);
  }
  // IPv6: the link-local address always, then allowed pairs and fixed IPs (OFPort.update adds the LLA).
  const pairs6 = [[port.mac, port.linkLocal], ...port.allowedAddressPairs.filter((a) => a.version === 6).map((a) => [a.mac, a.ip]), ...port.fixedIps.filter((i) => i.version === 6).map((i) => [port.mac, i.ip])];
  for (const [mac, ip] of pairs6) {
    for (const type of ICMPV6_ALLOWED_EGRESS) add(TABLE.BASE_EGRESS, 95, ["icmp6", ...inPort, `icmp_type=${type}`, `dl_src=${mac}`, `ipv6_src=${ip}`], `resubmit(,${TABLE.ACCEPTED_EGRESS_TRAFFIC_NORMAL})`);
    add(TABLE.BASE_EGRESS, 95, ["icmp6", ...inPort, `icmp_type=${ICMPV6.NA}`, `nd_target=${ip}`], `resubmit(,${TABLE.ACCEPTED_EGRESS_TRAFFIC_NORMAL})`);
  }
  for (const [mac, ip] of pairs6) add(TABLE.BASE_EGRESS, 65, ["ipv6", ...inPort, `dl_src=${mac}`, `ipv6_src=${ip}`], `ct(table=${TABLE.RULES_EGRESS},${ZONE})`);
  // DHCP discovery (also from 0.0.0.0), and no DHCP server or router advertisement from a VM.
  for (const [mac, ip] of [...pairs4, [port.mac, "0.0.0.0"]]) add(TABLE.BASE_EGRESS, 80, ["udp", ...inPort, `dl_src=${mac}`, `nw_src=${ip}`, "tp_src=68", "tp_dst=67"], `resubmit(,${TABLE.ACCEPT_OR_INGRESS})`);
  for (const [mac, ip] of pairs6) add(TABLE.BASE_EGRESS, 80, ["udp6", ...inPort, `dl_src=${mac}`, `ipv6_src=${ip}`, "tp_src=546", "tp_dst=547"], `resubmit(,${TABLE.ACCEPT_OR_INGRESS})`);
  add(TABLE.BASE_EGRESS, 70, ["udp", ...inPort, "tp_src=67", "tp_dst=68"], `resubmit(,${TABLE.DROPPED_TRAFFIC})`);
  add(TABLE.BASE_EGRESS, 70, ["udp6", ...inPort, "tp_src=547", "tp_dst=546"], `resubmit(,${TABLE.DROPPED_TRAFFIC})`);
  add(TABLE.BASE_EGRESS, 70, ["icmp6", ...inPort, `icmp_type=${ICMPV6.RA}`], `resubmit(,${TABLE.DROPPED_TRAFFIC})`);
  add(TABLE.BASE_EGRESS, 10, inPort, `ct_clear,resubmit(,${TABLE.DROPPED_TRAFFIC})`);

  // Table 73: traffic for a local port goes to its ingress pipeline; new egress connections are committed.
  for (const mac of macs) add(TABLE.ACCEPT_OR_INGRESS, 100, [`reg${REG_NET}=${port.vlanTag}`, `dl_dst=${mac}`], `set_field:${P}->reg${REG_PORT},resubmit(,${TABLE.BASE_INGRESS})`);
  for (const t of ["ip", "ipv6"]) add(TABLE.ACCEPT_OR_INGRESS, 90, [t, `reg${REG_PORT}=${P}`, `ct_state=${NEW_NOT_EST}`], `ct(commit,${ZONE}),resubmit(,${TABLE.ACCEPTED_EGRESS_TRAFFIC})`);
  add(TABLE.ACCEPT_OR_INGRESS, 80, [`reg${REG_PORT}=${P}`], `resubmit(,${TABLE.ACCEPTED_EGRESS_TRAFFIC_NORMAL})`);

  // _initialize_ingress: ARP, ND and DHCP replies straight to the port; IP through conntrack.
  const out = `output:${P}`;
  add(TABLE.BASE_INGRESS, 100, ["arp", `reg${REG_PORT}=${P}`], out);
  for (const type of ICMPV6_ALLOWED_INGRESS) add(TABLE.BASE_INGRESS, 100, ["icmp6", `reg${REG_PORT}=${P}`, `icmp_type=${type}`], out);
  add(TABLE.BASE_INGRESS, 95, ["udp", `reg${REG_PORT}=${P}`, "tp_src=67", "tp_dst=68"], out);
  add(TABLE.BASE_INGRESS, 95, ["udp6", `reg${REG_PORT}=${P}`, "tp_src=547", "tp_dst=546"], out);
  for (const t of ["ip", "ipv6"]) add(TABLE.BASE_INGRESS, 90, [t, `reg${REG_PORT}=${P}`, "ct_state=-trk"], `ct(table=${TABLE.RULES_INGRESS},${ZONE})`);
  add(TABLE.BASE_INGRESS, 80, [`reg${REG_PORT}=${P}`, "ct_state=+trk"], `resubmit(,${TABLE.RULES_INGRESS})`);
}

/** _initialize_tracked_ingress / _initialize_tracked_egress: conntrack verdicts common to every rule. */
function trackedFlows(port: SgPort, add: Add): void {
  const P = port.ofport;
  for (const [table, accept] of [
    [TABLE.RULES_INGRESS, `output:${P}`],
    [TABLE.RULES_EGRESS, `resubmit(,${TABLE.ACCEPTED_EGRESS_TRAFFIC_NORMAL})`],
  ] as const) {
    add(table, 50, [`ct_state=${INVALID}`], `resubmit(,${TABLE.DROPPED_TRAFFIC})`);
    add(table, 50, [`reg${REG_PORT}=${P}`, `ct_mark=${CT_MARK_INVALID}`], `resubmit(,${TABLE.DROPPED_TRAFFIC})`);
    for (const state of [EST_REPLY, RELATED]) add(table, 50, [`ct_state=${state}`, "ct_mark=0x0", `reg${REG_PORT}=${P}`, `ct_zone=${port.vlanTag}`], accept);
    add(table, 40, [`reg${REG_PORT}=${P}`, "ct_state=-est"], `resubmit(,${TABLE.DROPPED_TRAFFIC})`);
    for (const t of ["ip", "ipv6"]) add(table, 40, [t, `reg${REG_PORT}=${P}`, "ct_state=+est"], `ct(commit,${ZONE},exec(set_field:${CT_MARK_INVALID}->ct_mark))`);
  }
}

/** _add_non_ip_conj_flows: dimension 2/2 of remote-group rules on this port, and their accept flows. */
function remoteRuleFlows(port: SgPort, groups: SecurityGroup[], conj: ConjState, flows: FlowSet): void {
  // Rules grouped by (direction, ethertype, protocol), in the order first seen (the driver's port_rules dict).
  const byKey = new Map<string, { direction: Direction; ethertype: Ethertype; protocol?: number; list: { rule: DriverRule; conjId: number }[] }>();
  for (const g of groups) {
    for (const r of g.rules) {
      if (r.remoteGroupId === undefined) continue;
      const rule = driverRule(r);
      const conjId = conj.add(port.vlanTag, g.id, r.remoteGroupId, r.direction, r.ethertype, priorityOffset(rule, true));
      const k = `${r.direction}|${r.ethertype}|${r.protocol}`;
      let entry = byKey.get(k);
      if (!entry) byKey.set(k, (entry = { direction: r.direction, ethertype: r.ethertype, protocol: r.protocol, list: [] }));
      entry.list.push({ rule, conjId });
    }
  }
  for (const key of byKey.values()) {
    const list = key.list;
    const allConjIds = [...new Set(list.map((e) => e.conjId))].sort((a, b) => a - b);
    const merged = key.protocol !== undefined && PORT_PROTOCOL_NAME[key.protocol] !== undefined ? mergePortRanges(list) : mergeCommonRules(list);
    for (const { rule, conjIds } of merged) for (const f of conjunctionFlows(ruleFlows(rule, port, true), 2, conjIds)) flows.add(f);
    for (const conjId of allConjIds) {
      // rules.create_conj_flows, with the conj_id loaded into reg7 for later tables.
      const ingress = key.direction === "ingress";
      const template: RawFlow = {
        table: ingress ? TABLE.RULES_INGRESS : TABLE.RULES_EGRESS,
        priority: 70 + ((conjId % 8) >> 1),
        match: [`conj_id=${conjId}`, `dl_type=${DL_TYPE[key.ethertype]}`, `reg${REG_PORT}=${port.ofport}`],
        actions: ingress ? `output:${port.ofport}` : `resubmit(,${TABLE.ACCEPT_OR_INGRESS})`,
      };
      const [est, fresh] = acceptFlows(template);
      fresh.match = fresh.match.map((m) => (m === `conj_id=${conjId}` ? `conj_id=${conjId + 1}` : m));
      flows.add({ ...est, actions: `set_field:${conjId}->reg${REG_REMOTE_GROUP},${est.actions}` });
      flows.add({ ...fresh, actions: `set_field:${conjId + 1}->reg${REG_REMOTE_GROUP},${fresh.actions}` });
    }
  }
}

/** ConjIPFlowManager.update_flows_for_vlan: dimension 1/2, one pair of flows per member address on the network. */
function memberFlows(input: SgInput, conj: ConjState, vlan: number, flows: FlowSet): void {
  const perVlan = conj.byVlan.get(vlan);
  if (!perVlan) return;
  for (const [de, byRemote] of perVlan) {
    const [direction, ethertype] = de.split("|") as [Direction, Ethertype];
    const addrToConj = new Map<string, { mac: string; conjIds: Set<number> }>();
    for (const [remoteId, ids] of byRemote) {
      for (const m of groupMembers(input, remoteId, ethertype)) {
        const cidr = prefixText(checkPrefix(m.addr, "member"));
        let e = addrToConj.get(cidr);
        if (!e) addrToConj.set(cidr, (e = { mac: m.mac, conjIds: new Set() }));
        for (const id of ids) e.conjIds.add(id);
      }
    }
    const v6 = ethertype === "IPv6";
    const field = direction === "ingress" ? (v6 ? "ipv6_src" : "nw_src") : v6 ? "ipv6_dst" : "nw_dst";
    for (const [cidr, { mac, conjIds }] of addrToConj) {
      const sorted = [...conjIds].sort((a, b) => a - b);
      const match = [`dl_type=${DL_TYPE[ethertype]}`, `reg${REG_NET}=${vlan}`, `${field}=${cidr}`];
      if (/\/0$/.test(cidr)) match.push(`dl_src=${mac}`);
      for (let offset = 0; offset < 4; offset++) {
        const ids = sorted.filter((id) => (id % 8) >> 1 === offset);
        if (ids.length === 0) continue;
        const tmpl: RawFlow = { table: direction === "ingress" ? TABLE.RULES_INGRESS : TABLE.RULES_EGRESS, priority: 70 + offset, match, actions: "" };
        for (const f of conjunctionFlows([tmpl], 1, ids)) flows.add(f);
      }
    }
  }
}
