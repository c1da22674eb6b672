/**
 * The security-group description `flowplane neutron sg-flows` reads: the
 * ports of one compute host's br-int and the security groups they use, in
 * the shape of Neutron's API objects (port: fixed_ips, security_groups,
 * port_security_enabled, allowed_address_pairs; rule: direction, ethertype,
 * protocol, port_range_min/max, remote_ip_prefix, remote_group_id).
 *
 * Validation turns the JSON into typed objects and applies what the Neutron
 * server and agent do before the firewall driver sees a rule:
 *  - a port without "security_groups" is in the project's "default" group,
 *    and a "default" group that is used but not described gets Neutron's
 *    default rules (egress anything, ingress from members of "default");
 *  - protocol names become numbers ("icmp" with IPv6 is 58, as
 *    SecurityGroup.update_rules does);
 *  - remote_ip_prefix becomes the source (ingress) or destination (egress)
 *    prefix (securitygroups_rpc_base), normalised to its network;
 *  - a port without "ofport" lives on another host: it adds its addresses
 *    to its groups' members (for remote_group_id) and gets no flows.
 * Every error names the item: `ports[2] (tap-vm3): mac: ...`.
 */
import { NeutronInputError } from "./errors.js";
import { checkIp, checkMac, checkPrefix, linkLocalFromMac, prefixText } from "./addr.js";
import { NEUTRON_GROUPS_MAX, NEUTRON_PORTS_MAX, NEUTRON_RULES_MAX } from "../limits.js";

export type Direction = "ingress" | "egress";
export type Ethertype = "IPv4" | "IPv6";

export interface SgRule {
  direction: Direction;
  ethertype: Ethertype;
  /** IP protocol number; absent: any. */
  protocol?: number;
  portRangeMin?: number;
  portRangeMax?: number;
  /** remote_ip_prefix, as the source (ingress) or destination (egress) prefix; absent: any. */
  remoteIpPrefix?: string;
  remoteGroupId?: string;
}

export interface SecurityGroup {
  id: string;
  rules: SgRule[];
}

export interface AddressPair {
  mac: string;
  /** An address or a prefix, as given. */
  ip: string;
  version: 4 | 6;
}

export interface SgPort {
  name: string;
  /** OpenFlow port on this host's br-int; -1 for a port on another host. */
  ofport: number;
  mac: string;
  fixedIps: { ip: string; version: 4 | 6 }[];
  /** The network's local VLAN on br-int (OVSDB tag): reg6 and the conntrack zone. */
  vlanTag: number;
  securityGroups: string[];
  portSecurity: boolean;
  allowedAddressPairs: AddressPair[];
  /** fe80::/64 EUI-64 address of the MAC. */
  linkLocal: string;
}

export interface SgInput {
  ports: SgPort[];
  groups: Map<string, SecurityGroup>;
}

/** Neutron's IP_PROTOCOL_MAP for the names a rule may use (neutron_lib.constants). */
const PROTOCOL_NUMBERS: Record<string, number> = {
  icmp: 1,
  igmp: 2,
  tcp: 6,
  egp: 8,
  udp: 17,
  gre: 47,
  esp: 50,
  ah: 51,
  icmpv6: 58,
  "ipv6-icmp": 58,
  ospf: 89,
  vrrp: 112,
  sctp: 132,
  udplite: 136,
};

/** The rules Neutron puts in every project's "default" group. */
export function defaultGroupRules(id = "default"): SgRule[] {
  return [
    { direction: "egress", ethertype: "IPv4" },
    { direction: "egress", ethertype: "IPv6" },
    { direction: "ingress", ethertype: "IPv4", remoteGroupId: id },
    { direction: "ingress", ethertype: "IPv6", remoteGroupId: id },
  ];
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);

function checkKeys(o: Record<string, unknown>, allowed: string[], where: string): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) throw new NeutronInputError(`${where}: unknown key "${k}" (known: ${allowed.join(", ")})`);
}

function checkUint(x: unknown, max: number, where: string): number {
  if (typeof x !== "number" || !Number.isInteger(x) || x < 0 || x > max) throw new NeutronInputError(`${where}: must be an integer from 0 to ${max}`);
  return x;
}

function checkString(x: unknown, where: string): string {
  if (typeof x !== "string" || x === "") throw new NeutronInputError(`${where}: must be a non-empty string`);
  return x;
}

function parseProtocol(x: unknown, ethertype: Ethertype, where: string): number | undefined {
  if (x === undefined || x === null || x === "any") return undefined;
  if (typeof x === "number") return checkUint(x, 255, where);
  if (typeof x !== "string") throw new NeutronInputError(`${where}: must be a protocol name or number`);
  if (/^\d+$/.test(x)) return checkUint(Number(x), 255, where);
  if (x === "icmp" && ethertype === "IPv6") return 58;
  const n = PROTOCOL_NUMBERS[x.toLowerCase()];
  if (n === undefined) throw new NeutronInputError(`${where}: unknown protocol "${x}" (use tcp, udp, icmp, icmpv6, sctp, any or a number)`);
  return n;
}

const RULE_KEYS = ["direction", "ethertype", "protocol", "port_range_min", "port_range_max", "remote_ip_prefix", "remote_group_id", "description", "id"];

function parseRule(raw: unknown, where: string): SgRule {
  if (!isObj(raw)) throw new NeutronInputError(`${where}: must be an object`);
  checkKeys(raw, RULE_KEYS, where);
  if (raw.direction !== "ingress" && raw.direction !== "egress") throw new NeutronInputError(`${where}: direction must be "ingress" or "egress"`);
  const ethertype = raw.ethertype ?? "IPv4";
  if (ethertype !== "IPv4" && ethertype !== "IPv6") throw new NeutronInputError(`${where}: ethertype must be "IPv4" or "IPv6"`);
  const rule: SgRule = { direction: raw.direction, ethertype };
  const protocol = parseProtocol(raw.protocol, ethertype, `${where}: protocol`);
  if (protocol !== undefined) rule.protocol = protocol;
  const isIcmp = protocol === 1 || protocol === 58;
  for (const [key, prop] of [["port_range_min", "portRangeMin"], ["port_range_max", "portRangeMax"]] as const) {
    const v = raw[key];
    if (v === undefined || v === null) continue;
    if (protocol === undefined || (!isIcmp && protocol !== 6 && protocol !== 17 && protocol !== 132)) {
      throw new NeutronInputError(`${where}: ${key} needs protocol tcp, udp, sctp, icmp or icmpv6`);
    }
    rule[prop] = checkUint(v, isIcmp ? 255 : 65535, `${where}: ${key}`);
  }
  if (!isIcmp && (rule.portRangeMin === undefined) !== (rule.portRangeMax === undefined)) {
    throw new NeutronInputError(`${where}: give both port_range_min and port_range_max, or neither`);
  }
  if (!isIcmp && rule.portRangeMin !== undefined && rule.portRangeMin > rule.portRangeMax!) {
    throw new NeutronInputError(`${where}: port_range_min ${rule.portRangeMin} is above port_range_max ${rule.portRangeMax}`);
  }
  if (!isIcmp && rule.portRangeMin === 0) throw new NeutronInputError(`${where}: port 0 is not a valid port_range_min`);
  if (isIcmp && rule.portRangeMin === undefined && rule.portRangeMax !== undefined) {
    throw new NeutronInputError(`${where}: an ICMP code (port_range_max) needs a type (port_range_min)`);
  }
  if (raw.remote_ip_prefix !== undefined && raw.remote_ip_prefix !== null) {
    const p = checkPrefix(raw.remote_ip_prefix, `${where}: remote_ip_prefix`);
    if ((p.version === 4) !== (ethertype === "IPv4")) throw new NeutronInputError(`${where}: remote_ip_prefix ${String(raw.remote_ip_prefix)} is not ${ethertype}`);
    rule.remoteIpPrefix = prefixText(p);
  }
  if (raw.remote_group_id !== undefined && raw.remote_group_id !== null) {
    if (rule.remoteIpPrefix !== undefined) throw new NeutronInputError(`${where}: remote_ip_prefix and remote_group_id are mutually exclusive`);
    rule.remoteGroupId = checkString(raw.remote_group_id, `${where}: remote_group_id`);
  }
  return rule;
}

const PORT_KEYS = ["name", "ofport", "mac", "mac_address", "fixed_ips", "vlan_tag", "security_groups", "port_security_enabled", "allowed_address_pairs", "id", "device_owner"];

function parsePort(raw: unknown, index: number): SgPort {
  let where = `ports[${index}]`;
  if (!isObj(raw)) throw new NeutronInputError(`${where}: must be an object`);
  const name = checkString(raw.name, `${where}: name`);
  where = `${where} (${name})`;
  checkKeys(raw, PORT_KEYS, where);
  const ofport = raw.ofport === undefined ? -1 : checkUint(raw.ofport, 0xfeff, `${where}: ofport`);
  if (ofport === 0) throw new NeutronInputError(`${where}: ofport: 0 is not an OpenFlow port`);
  const mac = checkMac(raw.mac ?? raw.mac_address, `${where}: mac`);
  if (!Array.isArray(raw.fixed_ips)) throw new NeutronInputError(`${where}: fixed_ips must be an array of addresses`);
  const fixedIps = raw.fixed_ips.map((ip, i) => {
    const text = isObj(ip) ? ip.ip_address : ip;
    return checkIp(text, `${where}: fixed_ips[${i}]`);
  });
  const vlanTag = raw.vlan_tag === undefined && ofport < 0 ? 0 : checkUint(raw.vlan_tag, 4095, `${where}: vlan_tag`);
  if (raw.security_groups !== undefined && (!Array.isArray(raw.security_groups) || raw.security_groups.some((g) => typeof g !== "string"))) {
    throw new NeutronInputError(`${where}: security_groups must be an array of group ids`);
  }
  if (raw.port_security_enabled !== undefined && typeof raw.port_security_enabled !== "boolean") throw new NeutronInputError(`${where}: port_security_enabled must be true or false`);
  const portSecurity = raw.port_security_enabled !== false;
  // Neutron puts a new port in "default" only when port security is on.
  const securityGroups = (raw.security_groups as string[] | undefined) ?? (portSecurity ? ["default"] : []);
  const pairsRaw = raw.allowed_address_pairs ?? [];
  if (!Array.isArray(pairsRaw)) throw new NeutronInputError(`${where}: allowed_address_pairs must be an array`);
  const allowedAddressPairs = pairsRaw.map((p, i): AddressPair => {
    const w = `${where}: allowed_address_pairs[${i}]`;
    if (!isObj(p)) throw new NeutronInputError(`${w}: must be an object with ip_address (and mac_address)`);
    checkKeys(p, ["ip_address", "mac_address"], w);
    const prefix = checkPrefix(p.ip_address, `${w}: ip_address`);
    return { mac: p.mac_address === undefined ? mac : checkMac(p.mac_address, `${w}: mac_address`), ip: p.ip_address as string, version: prefix.version };
  });
  return { name, ofport, mac, fixedIps, vlanTag, securityGroups, portSecurity, allowedAddressPairs, linkLocal: linkLocalFromMac(mac) };
}

/** Validates a parsed sg-flows description (see the module comment). */
export function parseSgInput(raw: unknown): SgInput {
  if (!isObj(raw)) throw new NeutronInputError('top level: must be an object with "ports" and "security_groups"');
  checkKeys(raw, ["ports", "security_groups"], "top level");
  if (!Array.isArray(raw.ports)) throw new NeutronInputError('ports: must be an array');
  if (raw.ports.length > NEUTRON_PORTS_MAX) throw new NeutronInputError(`ports: more than ${NEUTRON_PORTS_MAX}`);
  const groupsRaw = raw.security_groups ?? [];
  if (!Array.isArray(groupsRaw)) throw new NeutronInputError("security_groups: must be an array");
  if (groupsRaw.length > NEUTRON_GROUPS_MAX) throw new NeutronInputError(`security_groups: more than ${NEUTRON_GROUPS_MAX}`);
  const groups = new Map<string, SecurityGroup>();
  let ruleCount = 0;
  groupsRaw.forEach((g, i) => {
    let where = `security_groups[${i}]`;
    if (!isObj(g)) throw new NeutronInputError(`${where}: must be an object with "id" and "rules"`);
    const id = checkString(g.id, `${where}: id`);
    where = `${where} (${id})`;
    checkKeys(g, ["id", "name", "description", "rules"], where);
    if (groups.has(id)) throw new NeutronInputError(`${where}: duplicate id`);
    if (g.rules !== undefined && !Array.isArray(g.rules)) throw new NeutronInputError(`${where}: rules must be an array`);
    const rules = g.rules === undefined ? (id === "default" ? defaultGroupRules(id) : []) : (g.rules as unknown[]).map((r, j) => parseRule(r, `${where}: rules[${j}]`));
    ruleCount += rules.length;
    if (ruleCount > NEUTRON_RULES_MAX) throw new NeutronInputError(`security_groups: more than ${NEUTRON_RULES_MAX} rules in all`);
    groups.set(id, { id, rules });
  });
  const ports = raw.ports.map(parsePort);
  const names = new Set<string>();
  const ofports = new Set<number>();
  for (const p of ports) {
    if (names.has(p.name)) throw new NeutronInputError(`ports (${p.name}): duplicate name`);
    names.add(p.name);
    if (p.ofport > 0 && ofports.has(p.ofport)) throw new NeutronInputError(`ports (${p.name}): ofport ${p.ofport} is used twice`);
    ofports.add(p.ofport);
    for (const g of p.securityGroups) {
      if (groups.has(g)) continue;
      if (g !== "default") throw new NeutronInputError(`ports (${p.name}): security group "${g}" is not described`);
      groups.set(g, { id: g, rules: defaultGroupRules(g) });
    }
  }
  for (const g of groups.values()) {
    for (const r of g.rules) {
      if (r.remoteGroupId !== undefined && !groups.has(r.remoteGroupId)) {
        if (r.remoteGroupId !== "default") throw new NeutronInputError(`security_groups (${g.id}): remote_group_id "${r.remoteGroupId}" is not described`);
        groups.set("default", { id: "default", rules: defaultGroupRules() });
      }
    }
  }
  return { ports, groups };
}
