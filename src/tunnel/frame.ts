/**
 * Encapsulation and decapsulation on frame bytes: what the datapath's
 * `tnl_push` and `tnl_pop` actions do to a packet (lib/netdev-native-tnl.c).
 *
 * pushTunnelHeader writes a template in front of a frame that has headroom,
 * then fills what depends on the packet: IP total length (with the header
 * checksum patched, recalc_csum16), UDP length and source port (from the
 * inner flow hash), and the UDP or GRE checksum when the template asks.
 *
 * popTunnelHeader checks an outer header the way netdev_vxlan_pop_header /
 * netdev_gre_pop_header do (valid IPv4 checksum, no IP options, length not
 * beyond the frame, a valid UDP checksum when non-zero, VXLAN flags exactly
 * 0x08000000 with the VNI's low byte zero, GRE flags among C/K/S and a valid
 * GRE checksum when present, GRE protocol 0x6558) and reports the tunnel
 * metadata and the inner frame's offset in module fields (no allocation).
 *
 * Hot path: integer work on a Uint8Array, no allocation, no exceptions.
 */
import { csumAdd, csumFinish, csumUpdate16, pseudoSum4 } from "../packet/checksum.js";
import * as H from "./header.js";
import { udpSourcePort } from "./hash.js";
import * as L from "../flow/layout.js";

// Module-local copies of the header constants: V8 folds these into the
// checks, where each use of an imported binding costs a load and a hole check.
const ETH_HEADER_SIZE = H.ETH_HEADER_SIZE;
const IPV4_HEADER_SIZE = H.IPV4_HEADER_SIZE;
const UDP_HEADER_SIZE = H.UDP_HEADER_SIZE;
const VXLAN_HEADER_SIZE = H.VXLAN_HEADER_SIZE;
const TNL_L4_OFFSET = H.TNL_L4_OFFSET;
const VXLAN_FLAGS = H.VXLAN_FLAGS;
const GRE_CSUM = H.GRE_CSUM;
const GRE_KEY = H.GRE_KEY;
const GRE_SEQ = H.GRE_SEQ;
const ETH_TYPE_TEB = H.ETH_TYPE_TEB;

/** OVS's FLOW_TNL_F_* bits, as the key's tun_flags holds them. */
export const TNL_F_DONT_FRAGMENT = 1 << 1;
export const TNL_F_CSUM = 1 << 2;
export const TNL_F_KEY = 1 << 3;
// What popTunnelToKey reads: non-exported copies (an exported binding is read through its module cell).
const F_CSUM = TNL_F_CSUM;
const F_KEY = TNL_F_KEY;

const get16 = (b: Uint8Array, at: number): number => (b[at] << 8) | b[at + 1];
const put16 = (b: Uint8Array, at: number, v: number): void => {
  b[at] = (v >>> 8) & 0xff;
  b[at + 1] = v & 0xff;
};

/**
 * Puts header `hdr` (size `hdrSize`, a VXLAN template when `udp`) in front
 * of the frame at b[start, start + length), which must have hdrSize bytes
 * of headroom; `hash` is the inner flow's hash. Returns the new start.
 */
export function pushTunnelHeader(b: Uint8Array, start: number, length: number, hdr: Uint8Array, hdrSize: number, udp: boolean, hash: number): number {
  const at = start - hdrSize;
  for (let i = 0; i < hdrSize; i++) b[at + i] = hdr[i];
  fillTunnelHeader(b, at, length, hdr, hdrSize, udp, hash);
  return at;
}

/**
 * The per-packet part of a push, on a header already copied to b[at..]:
 * lengths, the IP checksum (from the template's, so a header left in place
 * by an earlier packet may be reused), the UDP source port and checksum,
 * the GRE checksum. `length` is the inner frame's.
 */
export function fillTunnelHeader(b: Uint8Array, at: number, length: number, hdr: Uint8Array, hdrSize: number, udp: boolean, hash: number): void {
  const ip = at + ETH_HEADER_SIZE;
  const ipTotal = length + hdrSize - ETH_HEADER_SIZE;
  put16(b, ip + 2, ipTotal);
  put16(b, ip + 10, csumUpdate16(get16(hdr, ETH_HEADER_SIZE + 10), 0, ipTotal));
  const l4 = at + TNL_L4_OFFSET;
  const l4Size = ipTotal - IPV4_HEADER_SIZE;
  if (udp) {
    put16(b, l4, udpSourcePort(hash));
    put16(b, l4 + 4, l4Size);
    if (get16(hdr, TNL_L4_OFFSET + 6) !== 0) {
      // netdev_tnl_calc_udp_csum: the 0xffff marker counts as nothing.
      put16(b, l4 + 6, 0);
      let c = csumFinish(csumAdd(b, l4, l4Size, pseudoSum4(b, ip + 12, ip + 16, 17, l4Size)));
      if (c === 0) c = 0xffff;
      put16(b, l4 + 6, c);
    }
  } else if (get16(hdr, TNL_L4_OFFSET) & GRE_CSUM) {
    put16(b, l4 + 4, 0);
    put16(b, l4 + 4, csumFinish(csumAdd(b, l4, l4Size, 0)));
  }
}

/**
 * A DataView on the buffer popTunnelHeader reads, made when the buffer
 * changes (once per received batch): its big-endian 16- and 32-bit reads are
 * one load each in optimised code, against two or four byte loads.
 */
let viewBuf: Uint8Array | null = null;
let view: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));

function viewOf(b: Uint8Array): DataView<ArrayBufferLike> {
  if (b !== viewBuf) {
    viewBuf = b;
    view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }
  return view;
}

/** The unfolded sum of a 20-byte IPv4 header's ten 16-bit words (the common case of every decapsulation). */
function sum20(v: DataView<ArrayBufferLike>, p: number): number {
  return (
    v.getUint16(p) + v.getUint16(p + 2) + v.getUint16(p + 4) + v.getUint16(p + 6) + v.getUint16(p + 8) +
    v.getUint16(p + 10) + v.getUint16(p + 12) + v.getUint16(p + 14) + v.getUint16(p + 16) + v.getUint16(p + 18)
  );
}

/** What the last successful popTunnelHeader found. */
export const popped = {
  /** Offset of the inner frame in the buffer, and its length. */
  start: 0,
  length: 0,
  tunId: 0,
  src: 0,
  dst: 0,
  tos: 0,
  ttl: 0,
  flags: 0,
  tpSrc: 0,
  tpDst: 0,
};

/** popTunnelHeader's key: popTunnelToKey writes into it. */
const poppedKey = new Uint32Array(L.KEY_WORDS);

/**
 * Checks and strips the outer header of the frame b[start, start + length)
 * whose IPv4 header is at `l3` (absolute); `udp` for VXLAN, else GRE.
 * Returns false when OVS would drop the packet; else `popped` says what it found.
 */
export function popTunnelHeader(b: Uint8Array, start: number, length: number, l3: number, udp: boolean): boolean {
  const at = popTunnelToKey(b, start, length, l3, udp, poppedKey, 0);
  if (at < 0) return false;
  const k = poppedKey;
  popped.start = at;
  popped.length = Math.min(start + length, b.length) - at;
  popped.tunId = k[L.W_TUN_ID + 1];
  popped.src = k[L.W_TUN_SRC];
  popped.dst = k[L.W_TUN_DST];
  popped.flags = k[L.W_TUN_FLAGS] >>> 16;
  popped.tos = (k[L.W_TUN_FLAGS] >>> 8) & 0xff;
  popped.ttl = k[L.W_TUN_FLAGS] & 0xff;
  popped.tpSrc = k[L.W_TUN_TP] >>> 16;
  popped.tpDst = k[L.W_TUN_TP] & 0xffff;
  return true;
}

// Module-local copies of the tunnel words popTunnelToKey writes (a read through
// an imported binding costs a load in optimised code).
const K_TUN_ID_LOW = L.W_TUN_ID + 1;
const K_TUN_SRC = L.W_TUN_SRC;
const K_TUN_DST = L.W_TUN_DST;
const K_TUN_FLAGS = L.W_TUN_FLAGS;
const K_TUN_TP = L.W_TUN_TP;

/**
 * popTunnelHeader for the datapath: the tunnel metadata goes straight into
 * the key keys[kb..] (tun_id, tun_src, tun_dst, tun_flags/tos/ttl, tun_tp: the
 * words layout.ts gives them; the key's other words are left alone, and none
 * is written unless the header is accepted). Returns the inner frame's
 * offset in b, or -1 when OVS would drop the packet.
 */
export function popTunnelToKey(b: Uint8Array, start: number, length: number, l3: number, udp: boolean, keys: Uint32Array, kb: number): number {
  // A frame said to run past its buffer ends at the buffer's end (the reads below stay inside it).
  if (start + length > b.length) length = b.length - start;
  const end = start + length;
  const l3Size = end - l3;
  if (l3 < start || l3Size < IPV4_HEADER_SIZE || b[l3] >>> 4 !== 4) return -1;
  const v = viewOf(b);
  const ihl = (b[l3] & 0x0f) * 4;
  if (ihl < IPV4_HEADER_SIZE || ihl > l3Size) return -1;
  if (csumFinish(ihl === IPV4_HEADER_SIZE ? sum20(v, l3) : csumAdd(b, l3, ihl, 0)) !== 0) return -1;
  if (v.getUint16(l3 + 2) > l3Size) return -1;
  if (ihl > IPV4_HEADER_SIZE) return -1; // no IP options on tunnel packets
  let tunId = 0;
  let flags = 0;
  let tp = 0;
  let inner = 0;
  const l4 = l3 + IPV4_HEADER_SIZE;
  if (udp) {
    if (l4 + UDP_HEADER_SIZE + VXLAN_HEADER_SIZE > end) return -1;
    if (v.getUint16(l4 + 6) !== 0) {
      const size = end - l4;
      if (csumFinish(csumAdd(b, l4, size, pseudoSum4(b, l3 + 12, l3 + 16, b[l3 + 9], size))) !== 0) return -1;
      flags = F_CSUM;
    }
    tp = v.getUint32(l4); // source and destination ports
    const vx = l4 + UDP_HEADER_SIZE;
    if (v.getUint32(vx) !== VXLAN_FLAGS || b[vx + 7] !== 0) return -1;
    tunId = v.getUint32(vx + 4) >>> 8;
    flags |= F_KEY;
    inner = vx + VXLAN_HEADER_SIZE;
  } else {
    if (l4 + 4 > end) return -1;
    const greFlags = v.getUint16(l4);
    if (greFlags & ~(GRE_CSUM | GRE_KEY | GRE_SEQ)) return -1;
    const greSize = 4 + (greFlags & GRE_CSUM ? 4 : 0) + (greFlags & GRE_KEY ? 4 : 0) + (greFlags & GRE_SEQ ? 4 : 0);
    if (l4 + greSize > end) return -1;
    let opt = l4 + 4;
    if (greFlags & GRE_CSUM) {
      if (csumFinish(csumAdd(b, l4, end - l4, 0)) !== 0) return -1;
      flags = F_CSUM;
      opt += 4;
    }
    if (greFlags & GRE_KEY) {
      tunId = v.getUint32(opt);
      flags |= F_KEY;
    }
    // Other GRE payloads (layer 3 tunnels, packet_type) are not supported.
    if (v.getUint16(l4 + 2) !== ETH_TYPE_TEB) return -1;
    inner = l4 + greSize;
  }
  if (end - inner < ETH_HEADER_SIZE) return -1;
  // netdev_tnl_ip_extract_tnl_md: addresses, tos and ttl of the outer header (DF is not reported).
  keys[kb + K_TUN_ID_LOW] = tunId;
  keys[kb + K_TUN_SRC] = v.getUint32(l3 + 12);
  keys[kb + K_TUN_DST] = v.getUint32(l3 + 16);
  keys[kb + K_TUN_FLAGS] = ((flags << 16) | (b[l3 + 1] << 8) | b[l3 + 8]) >>> 0;
  keys[kb + K_TUN_TP] = tp;
  return inner;
}
