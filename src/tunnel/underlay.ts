/**
 * The underlay a native tunnel needs to build an outer header: which bridge
 * owns which IPv4 address and MAC (OVS: `netdev-dummy/ip4addr BR IP/LEN` and
 * the bridge's hwaddr), a route table (OVS: `ovs/route/add PREFIX/LEN BR`)
 * and a neighbour table (OVS: `tnl/arp/set BR IP MAC`).
 *
 * A route names the bridge whose LOCAL port the encapsulated packet leaves
 * through (translation continues in that bridge as if the packet came from
 * LOCAL, ofproto-dpif-xlate.c native_tunnel_output); its source address is
 * the bridge's own address unless the route gives one
 * (ovs_router_get_netdev_source_address).
 *
 * Limits: IPv4 only; neighbours are static (OVS also learns them by
 * snooping ARP replies and sends ARP requests on a miss: flowplane drops the
 * packet and counts it instead). Control plane only: lookups allocate
 * nothing but are linear in the number of routes, done once per upcall.
 */
import { FlowplaneError } from "../errors.js";
import { parseIPv4, parseMac } from "./config.js";

export class UnderlayError extends FlowplaneError {
  constructor(item: string, reason: string) {
    super("FP_ERR_UNDERLAY", `${item}: ${reason}`);
    this.name = "UnderlayError";
  }
}

export interface UnderlayAddress {
  bridge: string;
  ip: number;
  prefixLen: number;
  macHi: number;
  macLo: number;
}

export interface UnderlayRoute {
  prefix: number;
  prefixLen: number;
  bridge: string;
  /** Source address; 0 means the bridge's own. */
  src: number;
}

/** What a route lookup answers (tnl_route_lookup_flow). */
export interface RouteResult {
  bridge: string;
  src: number;
}

const maskOf = (len: number): number => (len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0);

/** Parses "a.b.c.d/len" (or a bare address, /32). */
export function parseCidr(text: string, item: string): { ip: number; prefixLen: number } {
  const [ipText, lenText] = text.split("/");
  const ip = parseIPv4(ipText);
  const prefixLen = lenText === undefined ? 32 : Number(lenText);
  if (ip < 0 || !Number.isInteger(prefixLen) || prefixLen < 0 || prefixLen > 32) throw new UnderlayError(item, `"${text}" is not an IPv4 address with an optional /0-32 prefix length`);
  return { ip, prefixLen };
}

export class Underlay {
  readonly addresses: UnderlayAddress[] = [];
  readonly routes: UnderlayRoute[] = [];
  private readonly neighbours = new Map<string, [number, number]>();
  /** Called on every change; the Switch bumps its generation so megaflows holding a header built from the old state are revalidated. */
  onChange: () => void = () => {};

  /** netdev-dummy/ip4addr plus the bridge's MAC. */
  addAddress(bridge: string, cidr: string, mac: string): void {
    const item = `address of ${bridge}`;
    const { ip, prefixLen } = parseCidr(cidr, item);
    const m = parseMac(mac);
    if (!m) throw new UnderlayError(item, `"${mac}" is not a MAC address`);
    this.addresses.push({ bridge, ip, prefixLen, macHi: m[0], macLo: m[1] });
    this.onChange();
  }

  /** ovs/route/add PREFIX/LEN BRIDGE [SRC]. */
  addRoute(prefixText: string, bridge: string, srcText?: string): void {
    const item = `route ${prefixText}`;
    const { ip, prefixLen } = parseCidr(prefixText, item);
    let src = 0;
    if (srcText !== undefined && (src = parseIPv4(srcText)) <= 0) throw new UnderlayError(item, `source "${srcText}" is not an IPv4 address`);
    this.routes.push({ prefix: (ip & maskOf(prefixLen)) >>> 0, prefixLen, bridge, src });
    this.onChange();
  }

  /** tnl/arp/set BRIDGE IP MAC. */
  setNeighbour(bridge: string, ipText: string, mac: string): void {
    const ip = parseIPv4(ipText);
    const m = parseMac(mac);
    if (ip < 0) throw new UnderlayError(`neighbour on ${bridge}`, `"${ipText}" is not an IPv4 address`);
    if (!m) throw new UnderlayError(`neighbour ${ipText}`, `"${mac}" is not a MAC address`);
    this.neighbours.set(`${bridge}/${ip}`, m);
    this.onChange();
  }

  /** The neighbour's MAC as [hi16, lo32], or null (OVS: a neighbour cache miss). */
  neighbour(bridge: string, ip: number): [number, number] | null {
    return this.neighbours.get(`${bridge}/${ip >>> 0}`) ?? null;
  }

  /** Longest-prefix route to `dst`, with its source address; null without one. */
  route(dst: number): RouteResult | null {
    let best: UnderlayRoute | null = null;
    for (const r of this.routes) {
      if (((dst & maskOf(r.prefixLen)) >>> 0) !== r.prefix) continue;
      if (!best || r.prefixLen > best.prefixLen) best = r;
    }
    if (!best) return null;
    let src = best.src;
    if (src === 0) src = this.addressOf(best.bridge, dst)?.ip ?? 0;
    return { bridge: best.bridge, src };
  }

  /** The bridge's address, preferring one on the same subnet as `toward`. */
  addressOf(bridge: string, toward = 0): UnderlayAddress | null {
    let any: UnderlayAddress | null = null;
    for (const a of this.addresses) {
      if (a.bridge !== bridge) continue;
      if (((a.ip ^ toward) & maskOf(a.prefixLen)) === 0) return a;
      any ??= a;
    }
    return any;
  }

  /** The address record whose IP is `ip` on `bridge`, or null: a local tunnel endpoint. */
  localAddress(bridge: string, ip: number): UnderlayAddress | null {
    for (const a of this.addresses) if (a.bridge === bridge && a.ip === ip >>> 0) return a;
    return null;
  }

  hasAddress(bridge: string): boolean {
    return this.addresses.some((a) => a.bridge === bridge);
  }
}
