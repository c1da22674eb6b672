/**
 * Outer header templates for native tunnels: the bytes `tnl_push` puts in
 * front of a frame, built once per megaflow by translation, and their text
 * as `ofproto/trace` prints them (lib/odp-util.c format_odp_tnl_push_header).
 *
 *   VXLAN (50 bytes)                       GRE (38 + 4 per option)
 *   0   eth dst, src, type 0x0800          0   eth dst, src, type 0x0800
 *   14  IPv4, proto 17, id 0               14  IPv4, proto 47, id 0
 *   34  UDP src 0, dst 4789, len 0         34  GRE flags (C, K), proto 0x6558
 *   42  VXLAN flags 0x08000000, VNI << 8   38  [checksum + reserved] [key]
 *
 * As lib/netdev-native-tnl.c builds them: IP total length and UDP length
 * are zero in the template and filled per packet, the IP checksum covers
 * the template (patched for the length per packet, recalc_csum16), the UDP
 * checksum is 0xffff when it is to be computed per packet and 0 otherwise,
 * the UDP source port is 0 (filled per packet from the flow hash).
 */
import { formatIPv4, formatMac } from "../flow/text.js";
import { internetChecksum } from "../packet/checksum.js";
import { TNL_TYPE_GRE, TNL_TYPE_VXLAN, type TunnelKind } from "./config.js";

export const ETH_HEADER_SIZE = 14;
export const IPV4_HEADER_SIZE = 20;
export const UDP_HEADER_SIZE = 8;
export const VXLAN_HEADER_SIZE = 8;
/** Offset of the tunnel's L4 header (UDP or GRE) in every IPv4 template. */
export const TNL_L4_OFFSET = ETH_HEADER_SIZE + IPV4_HEADER_SIZE;
/** The largest template (GRE with checksum and key). */
export const TNL_HEADER_SIZE_MAX = 46;

/** RFC 7348: the I flag (valid VNI) in the first word. */
export const VXLAN_FLAGS = 0x08000000;
/** RFC 2890 GRE flag bits. */
export const GRE_CSUM = 0x8000;
export const GRE_KEY = 0x2000;
export const GRE_SEQ = 0x1000;
/** Transparent Ethernet Bridging: GRE carries whole Ethernet frames. */
export const ETH_TYPE_TEB = 0x6558;
export const IP_DF = 0x4000;

/** Everything an outer header depends on. */
export interface TunnelHeaderParams {
  kind: TunnelKind;
  dmacHi: number;
  dmacLo: number;
  smacHi: number;
  smacLo: number;
  src: number;
  dst: number;
  tos: number;
  ttl: number;
  dontFragment: boolean;
  /** VXLAN's UDP destination port. */
  dstPort: number;
  /** UDP checksum (VXLAN) or GRE checksum option. */
  csum: boolean;
  key: number;
  /** GRE: whether the key option is present. */
  keyPresent: boolean;
}

/** A built template: the bytes and the facts tnl_push needs about them. */
export interface TunnelHeader {
  kind: TunnelKind;
  /** OVS's tnl_type (ovs_vport_type): 4 for VXLAN, 3 for GRE. */
  type: number;
  bytes: Uint8Array;
  size: number;
}

const put16 = (b: Uint8Array, at: number, v: number): void => {
  b[at] = (v >>> 8) & 0xff;
  b[at + 1] = v & 0xff;
};
const put32 = (b: Uint8Array, at: number, v: number): void => {
  b[at] = v >>> 24;
  b[at + 1] = (v >>> 16) & 0xff;
  b[at + 2] = (v >>> 8) & 0xff;
  b[at + 3] = v & 0xff;
};
const get16 = (b: Uint8Array, at: number): number => (b[at] << 8) | b[at + 1];
const get32 = (b: Uint8Array, at: number): number => ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;

/** Builds the template (eth_build_header, netdev_tnl_ip_build_header, udp_build_header / netdev_gre_build_header). */
export function buildTunnelHeader(p: TunnelHeaderParams): TunnelHeader {
  let size = TNL_L4_OFFSET;
  if (p.kind === "vxlan") size += UDP_HEADER_SIZE + VXLAN_HEADER_SIZE;
  else size += 4 + (p.csum ? 4 : 0) + (p.keyPresent ? 4 : 0);
  const b = new Uint8Array(size);
  put16(b, 0, p.dmacHi);
  put32(b, 2, p.dmacLo);
  put16(b, 6, p.smacHi);
  put32(b, 8, p.smacLo);
  put16(b, 12, 0x0800);
  const ip = ETH_HEADER_SIZE;
  b[ip] = 0x45;
  b[ip + 1] = p.tos & 0xff;
  put16(b, ip + 6, p.dontFragment ? IP_DF : 0);
  b[ip + 8] = p.ttl & 0xff;
  b[ip + 9] = p.kind === "vxlan" ? 17 : 47;
  put32(b, ip + 12, p.src >>> 0);
  put32(b, ip + 16, p.dst >>> 0);
  put16(b, ip + 10, internetChecksum(b, ip, IPV4_HEADER_SIZE));
  const l4 = TNL_L4_OFFSET;
  if (p.kind === "vxlan") {
    put16(b, l4 + 2, p.dstPort);
    // 0xffff marks "compute per packet"; it is transparent to the sum.
    if (p.csum) put16(b, l4 + 6, 0xffff);
    put32(b, l4 + 8, VXLAN_FLAGS);
    put32(b, l4 + 12, ((p.key & 0xffffff) << 8) >>> 0);
  } else {
    let flags = 0;
    let opt = l4 + 4;
    if (p.csum) {
      flags |= GRE_CSUM;
      opt += 4;
    }
    if (p.keyPresent) {
      flags |= GRE_KEY;
      put32(b, opt, p.key >>> 0);
    }
    put16(b, l4, flags);
    put16(b, l4 + 2, ETH_TYPE_TEB);
  }
  return { kind: p.kind, type: p.kind === "vxlan" ? TNL_TYPE_VXLAN : TNL_TYPE_GRE, bytes: b, size };
}

const hexC = (n: number): string => `0x${(n >>> 0).toString(16)}`;
const tosText = (n: number): string => (n === 0 ? "0" : hexC(n));

/** `header(size=..,type=..,eth(..),ipv4(..),udp(..),vxlan(..))` as odp-util prints it. */
export function formatTunnelHeader(h: TunnelHeader): string {
  const b = h.bytes;
  const ip = ETH_HEADER_SIZE;
  const l4 = TNL_L4_OFFSET;
  let s = `header(size=${h.size},type=${h.type},eth(dst=${formatMac(get16(b, 0), get32(b, 2))},src=${formatMac(get16(b, 6), get32(b, 8))},dl_type=0x${get16(b, 12).toString(16).padStart(4, "0")}),`;
  s += `ipv4(src=${formatIPv4(get32(b, ip + 12))},dst=${formatIPv4(get32(b, ip + 16))},proto=${b[ip + 9]},tos=${tosText(b[ip + 1])},ttl=${b[ip + 8]},frag=${hexC(get16(b, ip + 6))}),`;
  if (h.kind === "vxlan") {
    s += `udp(src=${get16(b, l4)},dst=${get16(b, l4 + 2)},csum=${hexC(get16(b, l4 + 6))}),`;
    s += `vxlan(flags=${hexC(get32(b, l4 + 8))},vni=${hexC(get32(b, l4 + 12) >>> 8)})`;
  } else {
    const flags = get16(b, l4);
    s += `gre((flags=${hexC(flags)},proto=${hexC(get16(b, l4 + 2))})`;
    let opt = l4 + 4;
    if (flags & GRE_CSUM) {
      s += `,csum=${hexC(get16(b, opt))}`;
      opt += 4;
    }
    if (flags & GRE_KEY) s += `,key=${hexC(get32(b, opt))}`;
    s += ")";
  }
  return `${s})`;
}
