/**
 * Tunnel port configuration: the Interface options of a `vxlan` or `gre`
 * port, read as ovs-vswitchd.conf.db(5) ("Tunnel Options") defines them and
 * as lib/netdev-vport.c set_tunnel_config() applies their defaults.
 *
 * Supported options: remote_ip (an IPv4 address or "flow", required),
 * local_ip (an IPv4 address or "flow"), key / in_key / out_key (a number or
 * "flow"), dst_port (VXLAN, default 4789), csum, ttl (number or "inherit",
 * default 64), tos (number or "inherit", default 0), df_default (default
 * true). Anything else is an error naming the option, so a typo is not
 * silently ignored.
 *
 * Invariant: a TunnelConfig never changes after parsing; addresses are
 * host-order unsigned 32-bit numbers, keys are at most 32 bits (VXLAN's VNI
 * is 24 bits, GRE's key 32; OVS keeps 64 bits and truncates on the wire).
 */
import { FlowplaneError } from "../errors.js";

export type TunnelKind = "vxlan" | "gre";

/** OVS's enum ovs_vport_type numbers, printed as tnl_push's `type=`. */
export const TNL_TYPE_GRE = 3;
export const TNL_TYPE_VXLAN = 4;

/** IANA's VXLAN port (RFC 7348), OVS's default dst_port. */
export const VXLAN_DST_PORT_DEFAULT = 4789;
/** OVS's default outer TTL (DEFAULT_TTL in netdev-vport.c). */
export const TUNNEL_TTL_DEFAULT = 64;

export class TunnelConfigError extends FlowplaneError {
  /** The message without the port's name (for callers that name it themselves). */
  readonly reason: string;
  constructor(port: string, reason: string) {
    super("FP_ERR_TUNNEL_CONFIG", `port ${port}: ${reason}`);
    this.name = "TunnelConfigError";
    this.reason = reason;
  }
}

export interface TunnelConfig {
  kind: TunnelKind;
  /** Remote endpoint, or 0 when remoteIpFlow (taken from tun_dst). */
  remoteIp: number;
  remoteIpFlow: boolean;
  /** Local endpoint; 0 means "the route's source address". */
  localIp: number;
  localIpFlow: boolean;
  inKey: number;
  inKeyFlow: boolean;
  outKey: number;
  outKeyFlow: boolean;
  /** Whether a key option was given at all (GRE's K bit, FLOW_TNL_F_KEY). */
  outKeyPresent: boolean;
  /** UDP destination port (VXLAN); 0 for GRE. */
  dstPort: number;
  csum: boolean;
  ttl: number;
  ttlInherit: boolean;
  tos: number;
  tosInherit: boolean;
  dontFragment: boolean;
}

const KNOWN = new Set(["remote_ip", "local_ip", "key", "in_key", "out_key", "dst_port", "csum", "ttl", "tos", "df_default"]);

/** Parses dotted-quad IPv4 text to a host-order number, or -1. */
export function parseIPv4(text: string): number {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return -1;
  let v = 0;
  for (let i = 1; i <= 4; i++) {
    const o = Number(m[i]);
    if (o > 255) return -1;
    v = v * 256 + o;
  }
  return v;
}

/** Parses "aa:bb:cc:dd:ee:ff" to [hi16, lo32], or null. */
export function parseMac(text: string): [number, number] | null {
  if (!/^[0-9a-fA-F]{1,2}(:[0-9a-fA-F]{1,2}){5}$/.test(text)) return null;
  const b = text.split(":").map((x) => parseInt(x, 16));
  return [(b[0] << 8) | b[1], ((b[2] << 24) | (b[3] << 16) | (b[4] << 8) | b[5]) >>> 0];
}

function parseKey(port: string, name: string, text: string): number {
  const v = /^0x[0-9a-fA-F]+$/.test(text) ? parseInt(text, 16) : /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new TunnelConfigError(port, `options:${name} must be "flow" or a number from 0 to 4294967295`);
  return v;
}

function parseBool(port: string, name: string, text: string): boolean {
  if (text === "true") return true;
  if (text === "false") return false;
  throw new TunnelConfigError(port, `options:${name} must be "true" or "false"`);
}

/** Reads a tunnel port's options (netdev-vport.c set_tunnel_config). */
export function parseTunnelConfig(port: string, kind: TunnelKind, options: Readonly<Record<string, string>>): TunnelConfig {
  for (const k of Object.keys(options)) if (!KNOWN.has(k)) throw new TunnelConfigError(port, `unknown tunnel option "${k}" (supported: ${[...KNOWN].join(", ")})`);
  const cfg: TunnelConfig = {
    kind,
    remoteIp: 0,
    remoteIpFlow: false,
    localIp: 0,
    localIpFlow: false,
    inKey: 0,
    inKeyFlow: false,
    outKey: 0,
    outKeyFlow: false,
    outKeyPresent: false,
    dstPort: kind === "vxlan" ? VXLAN_DST_PORT_DEFAULT : 0,
    csum: false,
    ttl: TUNNEL_TTL_DEFAULT,
    ttlInherit: false,
    tos: 0,
    tosInherit: false,
    dontFragment: true,
  };
  const remote = options.remote_ip;
  if (remote === undefined) throw new TunnelConfigError(port, `a ${kind} port needs options:remote_ip`);
  if (remote === "flow") cfg.remoteIpFlow = true;
  else if ((cfg.remoteIp = parseIPv4(remote)) <= 0) throw new TunnelConfigError(port, `options:remote_ip must be "flow" or an IPv4 address, not "${remote}"`);
  const local = options.local_ip;
  if (local === "flow") cfg.localIpFlow = true;
  else if (local !== undefined && (cfg.localIp = parseIPv4(local)) <= 0) throw new TunnelConfigError(port, `options:local_ip must be "flow" or an IPv4 address, not "${local}"`);
  // "key" sets both directions; in_key and out_key override one each.
  for (const [name, dir] of [["key", "both"], ["in_key", "in"], ["out_key", "out"]] as const) {
    const text = options[name];
    if (text === undefined) continue;
    const flow = text === "flow";
    const value = flow ? 0 : parseKey(port, name, text);
    if (dir !== "out") {
      cfg.inKeyFlow = flow;
      cfg.inKey = value;
    }
    if (dir !== "in") {
      cfg.outKeyFlow = flow;
      cfg.outKey = value;
      cfg.outKeyPresent = true;
    }
  }
  if (kind === "vxlan" && (cfg.inKey > 0xffffff || cfg.outKey > 0xffffff)) throw new TunnelConfigError(port, "a VXLAN key (VNI) is at most 24 bits (16777215)");
  if (options.dst_port !== undefined) {
    const p = Number(options.dst_port);
    if (kind !== "vxlan") throw new TunnelConfigError(port, "options:dst_port is only for UDP tunnels (vxlan)");
    if (!Number.isInteger(p) || p < 1 || p > 65535) throw new TunnelConfigError(port, "options:dst_port must be a UDP port 1-65535");
    cfg.dstPort = p;
  }
  if (options.csum !== undefined) cfg.csum = parseBool(port, "csum", options.csum);
  if (options.df_default !== undefined) cfg.dontFragment = parseBool(port, "df_default", options.df_default);
  if (options.ttl !== undefined) {
    if (options.ttl === "inherit") cfg.ttlInherit = true;
    else {
      const t = Number(options.ttl);
      if (!Number.isInteger(t) || t < 1 || t > 255) throw new TunnelConfigError(port, "options:ttl must be \"inherit\" or 1-255");
      cfg.ttl = t;
    }
  }
  if (options.tos !== undefined) {
    if (options.tos === "inherit") cfg.tosInherit = true;
    else {
      const t = Number(options.tos);
      // Only the DSCP bits are configurable; ECN is always inherited (tnl_port_send).
      if (!Number.isInteger(t) || t < 0 || t > 255 || (t & 3) !== 0) throw new TunnelConfigError(port, "options:tos must be \"inherit\" or a DSCP value shifted left by 2 (0-252, a multiple of 4)");
      cfg.tos = t;
    }
  }
  return cfg;
}

/** The datapath port every tunnel port of this kind and UDP port shares (OVS's vport names). */
export function vportName(cfg: TunnelConfig): string {
  return cfg.kind === "vxlan" ? `vxlan_sys_${cfg.dstPort}` : "gre_sys";
}
