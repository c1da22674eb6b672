/**
 * Address helpers for the Neutron compilers (control plane only): checks on
 * the MACs, IPs and prefixes a description holds, the EUI-64 link-local
 * address Neutron derives from a port's MAC, and the forms flows need
 * (0x-prefixed integers for load:, network/prefix text).
 */
import { NeutronInputError } from "./errors.js";

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

export function checkMac(mac: unknown, where: string): string {
  if (typeof mac !== "string" || !MAC_RE.test(mac.toLowerCase())) throw new NeutronInputError(`${where}: "${String(mac)}" is not a MAC address (xx:xx:xx:xx:xx:xx)`);
  return mac.toLowerCase();
}

/** An IPv4 address as a 32-bit unsigned integer, or null when `s` is not one. */
export function ipv4ToInt(s: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (m === null) return null;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return null;
  return ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0;
}

export const intToIpv4 = (n: number): string => `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;

/** The 8 groups of an IPv6 address, or null when `s` is not one (no embedded IPv4 form). */
export function ipv6Groups(s: string): number[] | null {
  if (!/^[0-9a-fA-F:]+$/.test(s) || s.split("::").length > 2) return null;
  const [head, tail] = s.includes("::") ? s.split("::") : [s, null];
  const parse = (part: string): number[] | null => {
    if (part === "") return [];
    const g = part.split(":");
    if (g.some((x) => x.length < 1 || x.length > 4)) return null;
    return g.map((x) => parseInt(x, 16));
  };
  const h = parse(head);
  const t = tail === null ? [] : parse(tail);
  if (h === null || t === null) return null;
  if (tail === null) return h.length === 8 ? h : null;
  if (h.length + t.length > 7) return null;
  return [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
}

export const ipVersion = (s: string): 4 | 6 | null => (ipv4ToInt(s) !== null ? 4 : ipv6Groups(s) !== null ? 6 : null);

export function checkIp(ip: unknown, where: string): { ip: string; version: 4 | 6 } {
  const v = typeof ip === "string" ? ipVersion(ip) : null;
  if (v === null) throw new NeutronInputError(`${where}: "${String(ip)}" is not an IPv4 or IPv6 address`);
  return { ip: ip as string, version: v };
}

export interface Prefix {
  /** Network address with the host bits cleared, as text. */
  network: string;
  length: number;
  version: 4 | 6;
}

/** "10.0.0.5/24" -> 10.0.0.0/24 (netaddr's .cidr); a bare address is a host prefix. */
export function checkPrefix(text: unknown, where: string): Prefix {
  if (typeof text !== "string") throw new NeutronInputError(`${where}: "${String(text)}" is not an IP prefix`);
  const [addr, lenText] = text.split("/");
  const { version } = checkIp(addr, where);
  const max = version === 4 ? 32 : 128;
  const length = lenText === undefined ? max : Number(lenText);
  if (!Number.isInteger(length) || length < 0 || length > max || (lenText !== undefined && !/^\d+$/.test(lenText))) {
    throw new NeutronInputError(`${where}: "${text}" has a bad prefix length`);
  }
  if (version === 4) {
    const mask = length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0;
    return { network: intToIpv4((ipv4ToInt(addr)! & mask) >>> 0), length, version };
  }
  const groups = ipv6Groups(addr)!;
  const net = groups.map((g, i) => {
    const bits = Math.min(16, Math.max(0, length - i * 16));
    return bits === 0 ? 0 : g & ((0xffff << (16 - bits)) & 0xffff);
  });
  return { network: formatIpv6(net), length, version };
}

/** RFC 5952 text of 8 groups: lower case, the longest run of two or more zero groups as "::". */
export function formatIpv6(groups: number[]): string {
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestAt < 0) return hex.join(":");
  return `${hex.slice(0, bestAt).join(":")}::${hex.slice(bestAt + bestLen).join(":")}`;
}

export const prefixText = (p: Prefix): string => `${p.network}/${p.length}`;

/** True when `ip` (same family) lies in `p`. */
export function prefixContains(p: Prefix, ip: string): boolean {
  const q = checkPrefix(`${ip}/${p.length}`, "address");
  return q.version === p.version && q.network === p.network;
}

/** The EUI-64 link-local address of a MAC (netutils.get_ipv6_addr_by_EUI64("fe80::/64", mac)). */
export function linkLocalFromMac(mac: string): string {
  const b = mac.split(":").map((x) => parseInt(x, 16));
  const groups = [0xfe80, 0, 0, 0, ((b[0] ^ 0x02) << 8) | b[1], (b[2] << 8) | 0xff, 0xfe00 | b[3], (b[4] << 8) | b[5]];
  return formatIpv6(groups);
}

/** A MAC as the 0x integer `load:` takes. */
export const macHex = (mac: string): string => `0x${mac.replace(/:/g, "").replace(/^0+(?=.)/, "")}`;

/** An IPv4 address as the 0x integer `load:` takes. */
export const ipv4Hex = (ip: string): string => `0x${ipv4ToInt(ip)!.toString(16)}`;
