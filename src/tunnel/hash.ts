/**
 * The flow hash a VXLAN source port comes from: OVS's miniflow_hash_5tuple()
 * (lib/flow.c) with the mhash (murmur3 step) functions of lib/hash.h, which
 * dpif-netdev stores as the packet's RSS hash on receive and
 * netdev_tnl_get_src_port() maps to a port in [32768, 61000).
 *
 * OVS hashes the fields as they lie in memory (network byte order) read as
 * native 32-bit words on a little-endian host, so each key word is byte
 * swapped before it is added. The result depends only on the inner flow's
 * addresses, protocol and ports, as RFC 7348 section 5 asks.
 *
 * Hot path: pure integer arithmetic, no allocation.
 */
import * as L from "../flow/layout.js";

/** OVS's tnl_udp_port_min / tnl_udp_port_max (ovs-appctl tnl/egress_port_range). */
export const TNL_UDP_PORT_MIN = 32768;
export const TNL_UDP_PORT_MAX = 61000;

const bswap32 = (v: number): number => ((v << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;
const rot = (v: number, r: number): number => ((v << r) | (v >>> (32 - r))) >>> 0;

function mhashAdd(hash: number, data: number): number {
  if (data !== 0) {
    let d = Math.imul(data, 0xcc9e2d51);
    d = rot(d >>> 0, 15);
    d = Math.imul(d, 0x1b873593);
    hash = (hash ^ d) >>> 0;
  }
  hash = rot(hash, 13);
  return (Math.imul(hash, 5) + 0xe6546b64) >>> 0;
}

function mhashFinish(hash: number): number {
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}

/** miniflow_hash_5tuple(flow, 0) of the key at keys[kb..]. */
export function hash5Tuple(keys: Uint32Array, kb: number): number {
  const dlType = keys[kb + L.W_DL_TYPE] & 0xffff;
  let hash = 0;
  if (dlType === L.ETH_TYPE_IPV6) {
    // hash_add64 of each 64-bit half in memory order: low then high 32 bits of the LE u64.
    for (let w = 0; w < 8; w += 2) {
      hash = mhashAdd(hash, bswap32(keys[kb + L.W_IPV6_SRC + w]));
      hash = mhashAdd(hash, bswap32(keys[kb + L.W_IPV6_SRC + w + 1]));
    }
  } else if (dlType === L.ETH_TYPE_IP || dlType === L.ETH_TYPE_ARP) {
    hash = mhashAdd(hash, bswap32(keys[kb + L.W_NW_SRC]));
    hash = mhashAdd(hash, bswap32(keys[kb + L.W_NW_DST]));
  } else {
    return mhashFinish(hash ^ 42);
  }
  const proto = (keys[kb + L.W_NW] >>> L.NW_PROTO_SHIFT) & 0xff;
  hash = mhashAdd(hash, proto);
  if (proto === L.IPPROTO_TCP || proto === L.IPPROTO_UDP || proto === L.IPPROTO_SCTP || proto === L.IPPROTO_ICMP || proto === L.IPPROTO_ICMPV6) {
    // tp_src and tp_dst as one native word: bytes src_hi src_lo dst_hi dst_lo.
    hash = mhashAdd(hash, bswap32(keys[kb + L.W_TP]));
  }
  return mhashFinish(hash ^ 42);
}

/** netdev_tnl_get_src_port: the hash scaled into the egress port range. */
export function udpSourcePort(hash: number): number {
  return Math.floor(((hash >>> 0) * (TNL_UDP_PORT_MAX - TNL_UDP_PORT_MIN)) / 4294967296) + TNL_UDP_PORT_MIN;
}
