/**
 * The router description `flowplane neutron router-flows` reads: what
 * Neutron's L3 agent knows about one router (its qr- interfaces with their
 * subnets and the ports on them, its qg- gateway on the external network,
 * the floating IPs, SNAT on or off, the metadata proxy), plus the OpenFlow
 * ports of the router bridge that stand for those interfaces.
 *
 *   { "name": "router1", "ct_zone": 1000,
 *     "internal": [ { "port": "rq-a", "ofport": 1, "cidr": "10.0.0.0/24",
 *                     "gateway_ip": "10.0.0.1", "gateway_mac": "fa:16:3e:00:00:01",
 *                     "hosts": [ { "ip": "10.0.0.11", "mac": "fa:16:3e:00:00:11" } ] } ],
 *     "external": { "port": "qg", "ofport": 3, "cidr": "172.24.4.0/24", "ip": "172.24.4.2",
 *                   "mac": "fa:16:3e:00:04:02", "next_hop_ip": "172.24.4.1",
 *                   "next_hop_mac": "fa:16:3e:00:04:01", "enable_snat": true },
 *     "floating_ips": [ { "floating_ip": "172.24.4.11", "fixed_ip": "10.0.0.11" } ],
 *     "metadata": { "port": 9697 } }
 *
 * Every error names the item (`internal[1] (rq-b): gateway_ip: ...`).
 */
import { NeutronInputError } from "./errors.js";
import { checkMac, checkPrefix, ipv4ToInt, prefixContains, type Prefix } from "./addr.js";
import { NEUTRON_PORTS_MAX } from "../limits.js";

export interface RouterHost {
  ip: string;
  mac: string;
}

export interface RouterSubnet {
  port: string;
  ofport: number;
  cidr: Prefix;
  gatewayIp: string;
  gatewayMac: string;
  hosts: RouterHost[];
}

export interface RouterGateway {
  port: string;
  ofport: number;
  cidr: Prefix;
  ip: string;
  mac: string;
  nextHopIp: string;
  nextHopMac: string;
  enableSnat: boolean;
}

export interface FloatingIp {
  floatingIp: string;
  fixedIp: string;
}

export interface RouterInput {
  name: string;
  /** The conntrack zone of the router's NAT (the namespace's conntrack table). */
  ctZone: number;
  internal: RouterSubnet[];
  external: RouterGateway | null;
  floatingIps: FloatingIp[];
  /** TCP port of the metadata proxy behind the bridge's LOCAL port; -1: no metadata redirect. */
  metadataPort: number;
}

export const ROUTER_CT_ZONE_DEFAULT = 1000;
export const METADATA_PORT_DEFAULT = 9697;

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);

function checkKeys(o: Record<string, unknown>, allowed: string[], where: string): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) throw new NeutronInputError(`${where}: unknown key "${k}" (known: ${allowed.join(", ")})`);
}

function ipv4(x: unknown, where: string): string {
  if (typeof x !== "string" || ipv4ToInt(x) === null) throw new NeutronInputError(`${where}: "${String(x)}" is not an IPv4 address (the router compiler handles IPv4)`);
  return x;
}

function cidr4(x: unknown, where: string): Prefix {
  const p = checkPrefix(x, where);
  if (p.version !== 4) throw new NeutronInputError(`${where}: "${String(x)}" is not an IPv4 prefix`);
  return p;
}

function ofport(x: unknown, where: string): number {
  if (typeof x !== "number" || !Number.isInteger(x) || x < 1 || x > 0xfeff) throw new NeutronInputError(`${where}: must be an OpenFlow port number from 1 to 65279`);
  return x;
}

function portName(x: unknown, where: string): string {
  if (typeof x !== "string" || x === "") throw new NeutronInputError(`${where}: must be a port name`);
  return x;
}

function inSubnet(ip: string, p: Prefix, where: string): void {
  if (!prefixContains(p, ip)) throw new NeutronInputError(`${where}: ${ip} is not in ${p.network}/${p.length}`);
}

/** Validates a parsed router-flows description (see the module comment). */
export function parseRouterInput(raw: unknown): RouterInput {
  if (!isObj(raw)) throw new NeutronInputError('top level: must be an object with "internal" (and "external", "floating_ips", "metadata")');
  checkKeys(raw, ["name", "ct_zone", "internal", "external", "floating_ips", "metadata"], "top level");
  const name = typeof raw.name === "string" ? raw.name : "router";
  const ctZone = raw.ct_zone === undefined ? ROUTER_CT_ZONE_DEFAULT : raw.ct_zone;
  if (typeof ctZone !== "number" || !Number.isInteger(ctZone) || ctZone < 0 || ctZone > 0xffff) throw new NeutronInputError("ct_zone: must be an integer from 0 to 65535");
  if (!Array.isArray(raw.internal) || raw.internal.length === 0) throw new NeutronInputError("internal: must be a non-empty array of subnets");
  const ports = new Map<number, string>();
  const claim = (n: number, name: string, where: string): void => {
    if (ports.has(n)) throw new NeutronInputError(`${where}: ofport ${n} is already ${ports.get(n)}`);
    ports.set(n, name);
  };
  let hostCount = 0;
  const internal = raw.internal.map((s, i): RouterSubnet => {
    let where = `internal[${i}]`;
    if (!isObj(s)) throw new NeutronInputError(`${where}: must be an object`);
    const port = portName(s.port, `${where}: port`);
    where = `${where} (${port})`;
    checkKeys(s, ["port", "ofport", "cidr", "gateway_ip", "gateway_mac", "hosts", "subnet_id", "network_id"], where);
    const of = ofport(s.ofport, `${where}: ofport`);
    claim(of, port, where);
    const cidr = cidr4(s.cidr, `${where}: cidr`);
    const gatewayIp = ipv4(s.gateway_ip, `${where}: gateway_ip`);
    inSubnet(gatewayIp, cidr, `${where}: gateway_ip`);
    const gatewayMac = checkMac(s.gateway_mac, `${where}: gateway_mac`);
    const hostsRaw = s.hosts ?? [];
    if (!Array.isArray(hostsRaw)) throw new NeutronInputError(`${where}: hosts must be an array of {ip, mac}`);
    hostCount += hostsRaw.length;
    if (hostCount > NEUTRON_PORTS_MAX) throw new NeutronInputError(`internal: more than ${NEUTRON_PORTS_MAX} hosts`);
    const hosts = hostsRaw.map((h, j): RouterHost => {
      const w = `${where}: hosts[${j}]`;
      if (!isObj(h)) throw new NeutronInputError(`${w}: must be an object with ip and mac`);
      checkKeys(h, ["ip", "mac", "name"], w);
      const ip = ipv4(h.ip, `${w}: ip`);
      inSubnet(ip, cidr, `${w}: ip`);
      return { ip, mac: checkMac(h.mac, `${w}: mac`) };
    });
    return { port, ofport: of, cidr, gatewayIp, gatewayMac, hosts };
  });
  for (let i = 0; i < internal.length; i++) {
    for (let j = 0; j < i; j++) {
      const a = internal[i].cidr;
      const b = internal[j].cidr;
      if (prefixContains(a, b.network) || prefixContains(b, a.network)) throw new NeutronInputError(`internal[${i}] (${internal[i].port}): cidr overlaps internal[${j}] (${internal[j].port})`);
    }
  }
  let external: RouterGateway | null = null;
  if (raw.external !== undefined && raw.external !== null) {
    const g = raw.external;
    let where = "external";
    if (!isObj(g)) throw new NeutronInputError(`${where}: must be an object`);
    const port = portName(g.port, `${where}: port`);
    where = `external (${port})`;
    checkKeys(g, ["port", "ofport", "cidr", "ip", "mac", "next_hop_ip", "next_hop_mac", "enable_snat", "network_id"], where);
    const of = ofport(g.ofport, `${where}: ofport`);
    claim(of, port, where);
    const cidr = cidr4(g.cidr, `${where}: cidr`);
    const ip = ipv4(g.ip, `${where}: ip`);
    inSubnet(ip, cidr, `${where}: ip`);
    const nextHopIp = ipv4(g.next_hop_ip, `${where}: next_hop_ip`);
    inSubnet(nextHopIp, cidr, `${where}: next_hop_ip`);
    if (g.enable_snat !== undefined && typeof g.enable_snat !== "boolean") throw new NeutronInputError(`${where}: enable_snat must be true or false`);
    external = { port, ofport: of, cidr, ip, mac: checkMac(g.mac, `${where}: mac`), nextHopIp, nextHopMac: checkMac(g.next_hop_mac, `${where}: next_hop_mac`), enableSnat: g.enable_snat !== false };
    for (const s of internal) if (prefixContains(s.cidr, cidr.network) || prefixContains(cidr, s.cidr.network)) throw new NeutronInputError(`${where}: cidr overlaps internal subnet ${s.port}`);
  }
  const fipsRaw = raw.floating_ips ?? [];
  if (!Array.isArray(fipsRaw)) throw new NeutronInputError("floating_ips: must be an array");
  if (fipsRaw.length > 0 && external === null) throw new NeutronInputError("floating_ips: a router without an external gateway has no floating IPs");
  const seen = new Set<string>();
  const floatingIps = fipsRaw.map((f, i): FloatingIp => {
    const where = `floating_ips[${i}]`;
    if (!isObj(f)) throw new NeutronInputError(`${where}: must be an object with floating_ip and fixed_ip`);
    checkKeys(f, ["floating_ip", "fixed_ip", "id"], where);
    const floatingIp = ipv4(f.floating_ip, `${where}: floating_ip`);
    inSubnet(floatingIp, external!.cidr, `${where}: floating_ip`);
    if (floatingIp === external!.ip) throw new NeutronInputError(`${where}: floating_ip ${floatingIp} is the router's gateway address`);
    const fixedIp = ipv4(f.fixed_ip, `${where}: fixed_ip`);
    if (!internal.some((s) => s.hosts.some((h) => h.ip === fixedIp))) throw new NeutronInputError(`${where}: fixed_ip ${fixedIp} is not a host on an internal subnet`);
    if (seen.has(floatingIp) || seen.has(fixedIp)) throw new NeutronInputError(`${where}: ${seen.has(floatingIp) ? floatingIp : fixedIp} is used by another floating IP`);
    seen.add(floatingIp);
    seen.add(fixedIp);
    return { floatingIp, fixedIp };
  });
  let metadataPort = METADATA_PORT_DEFAULT;
  if (raw.metadata === false || raw.metadata === null) metadataPort = -1;
  else if (raw.metadata !== undefined) {
    if (!isObj(raw.metadata)) throw new NeutronInputError('metadata: must be an object ({"port": 9697}) or false');
    checkKeys(raw.metadata, ["port"], "metadata");
    const p = raw.metadata.port ?? METADATA_PORT_DEFAULT;
    if (typeof p !== "number" || !Number.isInteger(p) || p < 1 || p > 65535) throw new NeutronInputError("metadata: port must be a TCP port");
    metadataPort = p;
  }
  return { name, ctZone, internal, external, floatingIps, metadataPort };
}
