/**
 * Text forms of addresses, ports and flag sets, as Open vSwitch prints them
 * (lib/packets.c, lib/ofp-port.c). Control plane only: these allocate strings.
 */

/** "xx:xx:xx:xx:xx:xx" from the two key words of a MAC (hi 16 bits, lo 32 bits). */
export function formatMac(hi: number, lo: number): string {
  const h = (n: number): string => (n & 0xff).toString(16).padStart(2, "0");
  return `${h(hi >>> 8)}:${h(hi)}:${h(lo >>> 24)}:${h(lo >>> 16)}:${h(lo >>> 8)}:${h(lo)}`;
}

export function formatIPv4(w: number): string {
  return `${w >>> 24}.${(w >>> 16) & 0xff}.${(w >>> 8) & 0xff}.${w & 0xff}`;
}

/** Number of leading one bits if `mask` is a CIDR mask, else -1. */
export function cidrBits32(mask: number): number {
  mask >>>= 0;
  const inv = ~mask >>> 0;
  if ((inv & (inv + 1)) !== 0) return -1;
  return Math.clz32(inv); // clz32(0) is 32: the all-ones mask
}

/** ip_format_masked(): "a.b.c.d", then "/N" for a CIDR mask or "/m.m.m.m". */
export function formatIPv4Masked(value: number, mask: number): string {
  let s = formatIPv4(value);
  if (mask >>> 0 !== 0xffffffff) {
    const bits = cidrBits32(mask);
    s += bits >= 0 ? `/${bits}` : `/${formatIPv4(mask)}`;
  }
  return s;
}

/**
 * IPv6 text as glibc's inet_ntop prints it: lower-case hex, the first longest
 * run of two or more zero groups as "::", and the last 32 bits dotted for
 * IPv4-compatible (::a.b.c.d) and IPv4-mapped (::ffff:a.b.c.d) addresses.
 */
export function formatIPv6(w: ArrayLike<number>, at = 0): string {
  const g: number[] = [];
  for (let i = 0; i < 4; i++) {
    const v = w[at + i] >>> 0;
    g.push(v >>> 16, v & 0xffff);
  }
  let bestBase = -1;
  let bestLen = 0;
  let curBase = -1;
  let curLen = 0;
  for (let i = 0; i < 8; i++) {
    if (g[i] === 0) {
      if (curBase === -1) {
        curBase = i;
        curLen = 1;
      } else {
        curLen++;
      }
    } else if (curBase !== -1) {
      if (curLen > bestLen) {
        bestBase = curBase;
        bestLen = curLen;
      }
      curBase = -1;
    }
  }
  if (curBase !== -1 && curLen > bestLen) {
    bestBase = curBase;
    bestLen = curLen;
  }
  if (bestLen < 2) bestBase = -1;
  let s = "";
  for (let i = 0; i < 8; i++) {
    if (bestBase !== -1 && i >= bestBase && i < bestBase + bestLen) {
      if (i === bestBase) s += ":";
      continue;
    }
    if (i !== 0) s += ":";
    if (i === 6 && bestBase === 0 && (bestLen === 6 || (bestLen === 5 && g[5] === 0xffff))) {
      s += formatIPv4(w[at + 3] >>> 0);
      return s;
    }
    s += g[i].toString(16);
  }
  if (bestBase !== -1 && bestBase + bestLen === 8) s += ":";
  return s;
}

/** Leading one bits if the 128-bit mask is a CIDR mask, else -1. */
export function cidrBits128(m: ArrayLike<number>, at = 0): number {
  let bits = 0;
  let i = 0;
  for (; i < 4 && m[at + i] >>> 0 === 0xffffffff; i++) bits += 32;
  if (i === 4) return 128;
  const b = cidrBits32(m[at + i]);
  if (b < 0) return -1;
  bits += b;
  for (i++; i < 4; i++) if (m[at + i] >>> 0 !== 0) return -1;
  return bits;
}

/** ipv6_format_masked(). */
export function formatIPv6Masked(v: ArrayLike<number>, vAt: number, m: ArrayLike<number>, mAt: number): string {
  let s = formatIPv6(v, vAt);
  const bits = cidrBits128(m, mAt);
  if (bits !== 128) s += bits >= 0 ? `/${bits}` : `/${formatIPv6(m, mAt)}`;
  return s;
}

/** OpenFlow's reserved port numbers (OpenFlow 1.0 16-bit space) and their names. */
export const OFPP_IN_PORT = 0xfff8;
export const OFPP_TABLE = 0xfff9;
export const OFPP_NORMAL = 0xfffa;
export const OFPP_FLOOD = 0xfffb;
export const OFPP_ALL = 0xfffc;
export const OFPP_CONTROLLER = 0xfffd;
export const OFPP_LOCAL = 0xfffe;
export const OFPP_NONE = 0xffff;

const RESERVED_PORT_NAMES: ReadonlyMap<number, string> = new Map([
  [OFPP_IN_PORT, "IN_PORT"],
  [OFPP_TABLE, "TABLE"],
  [OFPP_NORMAL, "NORMAL"],
  [OFPP_FLOOD, "FLOOD"],
  [OFPP_ALL, "ALL"],
  [OFPP_CONTROLLER, "CONTROLLER"],
  [OFPP_LOCAL, "LOCAL"],
  [OFPP_NONE, "ANY"],
]);

/** ofputil_format_port(): a reserved name, the port's name when known, or its number. */
export function formatPort(port: number, portName?: (port: number) => string | undefined): string {
  const reserved = RESERVED_PORT_NAMES.get(port);
  if (reserved !== undefined) return reserved;
  const name = portName?.(port);
  // OVS prints a name bare only when it is a letter followed by letters and digits; else quoted.
  if (name !== undefined) return /^[A-Za-z][A-Za-z0-9]*$/.test(name) ? name : JSON.stringify(name);
  return String(port);
}

const CT_STATE_NAMES = ["new", "est", "rel", "rpl", "inv", "trk", "snat", "dnat"];
const TCP_FLAG_NAMES = ["fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr", "ns", "[200]", "[400]", "[800]"];

export function ctStateBitName(bit: number): string | undefined {
  return CT_STATE_NAMES[31 - Math.clz32(bit)];
}

export function tcpFlagBitName(bit: number): string | undefined {
  return TCP_FLAG_NAMES[31 - Math.clz32(bit)];
}

/** format_flags(): names of set bits, lowest first, joined by '|'; "0" for none. */
export function formatFlags(flags: number, bitName: (bit: number) => string | undefined): string {
  if (flags === 0) return "0";
  const parts: string[] = [];
  let bad = 0;
  while (flags) {
    const bit = flags & -flags;
    const name = bitName(bit);
    if (name !== undefined) parts.push(name);
    else bad |= bit;
    flags &= ~bit;
  }
  if (bad) parts.push(`0x${(bad >>> 0).toString(16)}`);
  return parts.join("|");
}

/** format_flags_masked(): all names when the mask is full, else "+a-b" per masked bit. */
export function formatFlagsMasked(
  flags: number,
  mask: number,
  maxMask: number,
  bitName: (bit: number) => string | undefined,
): string {
  if (mask === maxMask) return formatFlags(flags, bitName);
  if (mask === 0) return "0/0";
  let s = "";
  while (mask) {
    const bit = mask & -mask;
    s += (flags & bit ? "+" : "-") + (bitName(bit) ?? "[Unknown]");
    mask &= ~bit;
  }
  return s;
}
