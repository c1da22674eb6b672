/**
 * NAT for conntrack: choosing a connection's translated tuple
 * (lib/conntrack.c nat_get_unique_tuple) and rewriting packets
 * (nat_packet, pat_packet, nat_inner_packet).
 *
 * Invariants:
 * - A committed NAT connection's reply tuple is unique among live
 *   connections: no two connections of a zone and protocol share a
 *   translated (address, port) toward the same peer.
 * - Packet rewrites update checksums as OVS does: IPv4 header, TCP/UDP
 *   pseudo-header and ports incrementally (RFC 1624; a UDP checksum of 0
 *   stays 0, and a computed 0 becomes 0xffff), the ICMP checksum of an error
 *   recomputed whole after its quoted packet was translated.
 *
 * Design: the reply tuple is built in place in the table's tuple words, then
 * tried against the index (collision check) before the connection is
 * indexed. Rewriting reads and writes the frame in place and allocates
 * nothing.
 *
 * Where OVS is not deterministic: OVS starts an address or port search at
 * `hash(range, tuple) % range` with a hash basis drawn at random when
 * ovs-vswitchd starts, and restarts an exhausted port search at random
 * points. We use a fixed hash basis and a fixed-seed generator, so our
 * choice is repeatable but may differ from a given OVS process. Whenever
 * OVS's choice does not depend on the hash, ours is the same: the original
 * address when no range is given, the original source port when it is free
 * (SNAT without a port range, DNAT), then the next free port up from it in
 * its class (1-511, 600-1023, 1024-65535), a one-address or one-port range.
 */
import type { NatRequest } from "./api.js";
import { csumAdd, csumFinish, csumUpdate16, csumUpdate32, pseudoSum6 } from "../packet/checksum.js";
import * as L from "../flow/layout.js";
import * as Table from "./table.js";
import * as Tuple from "./tuple.js";

// Module-local copies of the constants the packet path reads: V8 folds them into the code (see conntrack.ts).
const { IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } = L;
const { CONN_TUPLE_WORDS } = Table;
const { T_DPORT, T_DST, T_META, T_SPORT, T_SRC, TUPLE_WORDS } = Tuple;

/** nat_action bits (lib/conntrack.h). */
export const NAT_SRC = 0x01;
export const NAT_SRC_PORT = 0x02;
export const NAT_DST = 0x04;
export const NAT_DST_PORT = 0x08;
const NAT_SNAT_ALL = NAT_SRC | NAT_SRC_PORT;
/** Not an OVS bit: the connection was committed with a nat request, so its
 * reply tuple is the translated one (OVS inserted a nat_conn). */
export const NAT_COMMITTED = 0x80;

/** The nat_action dpif-netdev derives from a datapath nat attribute. */
export function natActionOf(n: NatRequest): number {
  let a = n.kind === "src" ? NAT_SRC : n.kind === "dst" ? NAT_DST : 0;
  if (n.portMin !== 0) {
    if (a & NAT_SRC) a |= NAT_SRC_PORT;
    else if (a & NAT_DST) a |= NAT_DST_PORT;
  }
  return a;
}

/** nat_action_reverse(): a translation as seen from the other direction. */
export function natActionReverse(a: number): number {
  if (a & NAT_SRC) return (a ^ NAT_SRC) | NAT_DST;
  if (a & NAT_DST) return (a ^ NAT_DST) | NAT_SRC;
  return a;
}

/** Answers "is this tuple in use by a live connection?" for the port search. */
export interface TupleProbe {
  inUse(t: Uint32Array, at: number): boolean;
}

const HASH_BASIS = 0x5bd1e995;
const MAX_ATTEMPTS = 128;
const MIN_NAT_EPHEMERAL_PORT = 1024;
const MAX_NAT_EPHEMERAL_PORT = 65535;

function mix(h: number, w: number): number {
  let k = Math.imul(w, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  h ^= Math.imul(k, 0x1b873593);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/**
 * Chooses the translated reply tuple of connection c for request n
 * (nat_get_unique_tuple), writing it over the connection's reply tuple.
 * Returns false when every candidate is taken (tuple space exhaustion).
 */
export class NatAllocator {
  /** A fixed-seed xorshift generator for OVS's random restarts. */
  private seed = 0x2545f491;
  private readonly addr = new Uint32Array(4);

  constructor(private readonly probe: TupleProbe) {}

  uniqueTuple(tuples: Uint32Array, c: number, n: NatRequest, action: number): boolean {
    const o = c * CONN_TUPLE_WORDS;
    const r = o + TUPLE_WORDS;
    const meta = tuples[o + T_META];
    const proto = (meta >>> 8) & 0xff;
    const v6 = (meta & 0xff) === 6;
    const portMax = n.portMax < n.portMin ? n.portMin : n.portMax;

    // nat_range_hash(): range and original tuple.
    let h = HASH_BASIS;
    h = mix(h, Number((n.addrMin >> 96n) & 0xffffffffn) ^ Number(n.addrMin & 0xffffffffn));
    h = mix(h, Number((n.addrMax >> 96n) & 0xffffffffn) ^ Number(n.addrMax & 0xffffffffn));
    h = mix(h, ((portMax << 16) | n.portMin) >>> 0);
    for (let i = 0; i < TUPLE_WORDS; i++) h = mix(h, tuples[o + i]);
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    const hash = h >>> 0;

    // find_addr(): no range keeps the original address.
    const addr = this.addr;
    if (n.family === 0 || (n.addrMin === 0n && n.addrMax === 0n)) {
      const from = action & NAT_SRC ? o + T_SRC : action & NAT_DST ? o + T_DST : -1;
      for (let i = 0; i < 4; i++) addr[i] = from < 0 ? 0 : tuples[from + i];
    } else if (!v6) {
      const min = Number(n.addrMin & 0xffffffffn);
      const range = Number(n.addrMax & 0xffffffffn) - min + 1;
      addr[0] = (min + (hash % range)) >>> 0;
      addr[1] = addr[2] = addr[3] = 0;
    } else {
      let delta = n.addrMax - n.addrMin;
      if (delta > 0xffffffffn) delta = 0xffffffffn; // OVS covers at most 2^32 addresses.
      const a = n.addrMin + BigInt(hash % (Number(delta) + 1));
      for (let i = 0; i < 4; i++) addr[i] = Number((a >> BigInt(96 - 32 * i)) & 0xffffffffn);
    }

    // set_sport_range(): SNAT without ports and DNAT keep the source port's class.
    let sMin: number, sMax: number, sCurr: number;
    if ((action & NAT_SNAT_ALL) === NAT_SRC || action & NAT_DST) {
      sCurr = tuples[o + T_SPORT] >>> 16;
      if (sCurr < 512) {
        sMin = 1;
        sMax = 511;
      } else if (sCurr < 1024) {
        sMin = 600;
        sMax = 1023;
      } else {
        sMin = MIN_NAT_EPHEMERAL_PORT;
        sMax = MAX_NAT_EPHEMERAL_PORT;
      }
    } else {
      sMin = n.portMin;
      sMax = portMax;
      sCurr = sMin + (hash % (sMax - sMin + 1));
    }
    // set_dport_range().
    let dMin: number, dMax: number, dCurr: number;
    if (action & NAT_DST_PORT) {
      dMin = n.portMin;
      dMax = portMax;
      dCurr = dMin + (hash % (dMax - dMin + 1));
    } else {
      dCurr = dMin = dMax = tuples[o + T_DPORT] >>> 16;
    }

    const pat = proto === IPPROTO_TCP || proto === IPPROTO_UDP;
    if (pat) {
      tuples[r + T_SPORT] = (dCurr << 16) >>> 0;
      tuples[r + T_DPORT] = (sCurr << 16) >>> 0;
    }
    // store_addr_to_key(): SNAT changes where replies go, otherwise where they come from.
    const at = action & NAT_SRC ? r + T_DST : r + T_SRC;
    for (let i = 0; i < 4; i++) tuples[at + i] = addr[i];

    if (!pat) return !this.probe.inUse(tuples, r);
    let found = false;
    if (action & NAT_DST_PORT) found = this.uniqueL4(tuples, r, r + T_SPORT, dCurr, dMin, dMax);
    if (!found) found = this.uniqueL4(tuples, r, r + T_DPORT, sCurr, sMin, sMax);
    return found;
  }

  /** nat_get_unique_l4(): the first free port from `curr`, wrapping within [min, max]. */
  private uniqueL4(tuples: Uint32Array, r: number, portAt: number, curr: number, min: number, max: number): boolean {
    const range = (max - min + 1) & 0xffff;
    let attempts = Math.min(range, MAX_ATTEMPTS);
    const orig = curr;
    for (;;) {
      // FOR_EACH_PORT_IN_RANGE: an out-of-range first port gets one more try.
      let n = (curr < min || curr > max ? max - min + 2 : max - min + 1) & 0xffff;
      let i = 0;
      while (n > 0) {
        if (i++ >= attempts) break;
        tuples[portAt] = (curr << 16) >>> 0;
        if (!this.probe.inUse(tuples, r)) return true;
        curr = curr < min || curr > max || curr === max ? min : curr + 1;
        n--;
      }
      if (attempts < range && attempts >= 16) {
        attempts = attempts >>> 1;
        curr = min + (this.random() % range);
        continue;
      }
      break;
    }
    tuples[portAt] = (orig << 16) >>> 0;
    return false;
  }

  private random(): number {
    let x = this.seed;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.seed = x;
    return x >>> 0;
  }
}

// ---------------------------------------------------------------------------
// Packet rewriting.

const rd16 = (b: Uint8Array, at: number): number => (b[at] << 8) | b[at + 1];
const rd32 = (b: Uint8Array, at: number): number => ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;

/** Writes a 16-bit checksum, skipping bytes past `end` (OVS may patch a
 * checksum field that lies beyond a quoted header's end, in tailroom). */
function put16(b: Uint8Array, at: number, v: number, end: number): void {
  if (at < end) b[at] = v >>> 8;
  if (at + 1 < end) b[at + 1] = v & 0xff;
}

function get16(b: Uint8Array, at: number, end: number): number {
  return ((at < end ? b[at] : 0) << 8) | (at + 1 < end ? b[at + 1] : 0);
}

/** packet_set_ipv4_addr(): the address at `addrAt` of the IPv4 header at
 * l3 (its L4 header at l4, l4Size bytes) becomes `addr`. */
function setIpv4Addr(b: Uint8Array, l3: number, l4: number, l4Size: number, end: number, addrAt: number, addr: number): void {
  const old = rd32(b, addrAt);
  const proto = b[l3 + 9];
  if (proto === IPPROTO_TCP && l4Size >= 20) {
    put16(b, l4 + 16, csumUpdate32(get16(b, l4 + 16, end), old, addr), end);
  } else if (proto === IPPROTO_UDP && l4Size >= 8) {
    const c = rd16(b, l4 + 6);
    if (c !== 0) {
      const n = csumUpdate32(c, old, addr);
      put16(b, l4 + 6, n === 0 ? 0xffff : n, end);
    }
  }
  put16(b, l3 + 10, csumUpdate32(rd16(b, l3 + 10), old, addr), end);
  b[addrAt] = addr >>> 24;
  b[addrAt + 1] = (addr >>> 16) & 0xff;
  b[addrAt + 2] = (addr >>> 8) & 0xff;
  b[addrAt + 3] = addr & 0xff;
}

/** packet_set_ipv6_addr() with packet_update_csum128(): `proto` is the one
 * OVS passes (the tuple's protocol, which for an ICMPv6 error is the quoted
 * packet's, not ICMPv6: OVS then patches a "TCP checksum" inside the ICMPv6
 * message, and so do we). */
function setIpv6Addr(b: Uint8Array, proto: number, l4: number, l4Size: number, end: number, addrAt: number, t: Uint32Array, ta: number): void {
  let csumAt = -1;
  let udp = false;
  if (proto === IPPROTO_TCP && l4Size >= 20) csumAt = l4 + 16;
  else if (proto === IPPROTO_UDP && l4Size >= 8) {
    csumAt = l4 + 6;
    udp = true;
  } else if (proto === IPPROTO_ICMPV6 && l4Size >= 4) csumAt = l4 + 2;
  if (csumAt >= 0) {
    let c = get16(b, csumAt, end);
    if (!udp || c !== 0) {
      for (let i = 0; i < 4; i++) c = csumUpdate32(c, rd32(b, addrAt + 4 * i), t[ta + i]);
      if (udp && c === 0) c = 0xffff;
      put16(b, csumAt, c, end);
    }
  }
  for (let i = 0; i < 4; i++) {
    const w = t[ta + i];
    b[addrAt + 4 * i] = w >>> 24;
    b[addrAt + 4 * i + 1] = (w >>> 16) & 0xff;
    b[addrAt + 4 * i + 2] = (w >>> 8) & 0xff;
    b[addrAt + 4 * i + 3] = w & 0xff;
  }
}

/** packet_set_port(). */
function setPort(b: Uint8Array, portAt: number, port: number, csumAt: number, end: number): void {
  const old = rd16(b, portAt);
  if (old !== port) {
    put16(b, csumAt, csumUpdate16(get16(b, csumAt, end), old, port), end);
    b[portAt] = port >>> 8;
    b[portAt + 1] = port & 0xff;
  }
}

/** pat_packet(): TCP/UDP ports from tuple t (source = its destination port). */
function patPacket(b: Uint8Array, l4: number, end: number, t: Uint32Array, ta: number): void {
  const proto = (t[ta + T_META] >>> 8) & 0xff;
  const src = t[ta + T_DPORT] >>> 16;
  const dst = t[ta + T_SPORT] >>> 16;
  if (proto === IPPROTO_TCP) {
    setPort(b, l4, src, l4 + 16, end);
    setPort(b, l4 + 2, dst, l4 + 16, end);
  } else if (proto === IPPROTO_UDP) {
    if (rd16(b, l4 + 6) !== 0) {
      setPort(b, l4, src, l4 + 6, end);
      setPort(b, l4 + 2, dst, l4 + 6, end);
      if (rd16(b, l4 + 6) === 0) put16(b, l4 + 6, 0xffff, end);
    } else {
      b[l4] = src >>> 8;
      b[l4 + 1] = src & 0xff;
      b[l4 + 2] = dst >>> 8;
      b[l4 + 3] = dst & 0xff;
    }
  }
}

/** nat_packet_ipv4/ipv6(): rewrites the source (SNAT) or destination (DNAT)
 * address of the IP header at l3 from tuple t. */
function natAddresses(b: Uint8Array, v6: boolean, l3: number, l4: number, l4Size: number, end: number, t: Uint32Array, ta: number, action: number): void {
  if (!v6) {
    if (action & NAT_SRC) setIpv4Addr(b, l3, l4, l4Size, end, l3 + 12, t[ta + T_DST]);
    else if (action & NAT_DST) setIpv4Addr(b, l3, l4, l4Size, end, l3 + 16, t[ta + T_SRC]);
  } else {
    const proto = (t[ta + T_META] >>> 8) & 0xff;
    if (action & NAT_SRC) setIpv6Addr(b, proto, l4, l4Size, end, l3 + 8, t, ta + T_DST);
    else if (action & NAT_DST) setIpv6Addr(b, proto, l4, l4Size, end, l3 + 24, t, ta + T_SRC);
  }
}

/**
 * Rewrites packets of NAT connections (nat_packet). `tuples`/`c` name the
 * connection; the packet's IP header is at l3, its L4 header at l4, and its
 * data (Ethernet padding excluded) ends at `end`. For an ICMP error
 * (`related`), `innerL3`/`innerL4` locate the quoted packet. Returns the
 * ct_state NAT bit to add (CS_SRC_NAT/CS_DST_NAT as 0x40/0x80) or 0.
 */
export class NatRewriter {
  private readonly rev = new Uint32Array(TUPLE_WORDS);

  natPacket(
    b: Uint8Array, v6: boolean, l3: number, l4: number, end: number, related: boolean, innerL3: number, innerL4: number,
    tuples: Uint32Array, c: number, natAction: number, reply: boolean,
  ): number {
    // The tuple whose addresses the packet must carry afterwards.
    const ta = c * CONN_TUPLE_WORDS + (reply ? 0 : TUPLE_WORDS);
    const action = reply ? natActionReverse(natAction) : natAction;
    const bit = action & NAT_SRC ? 0x40 : action & NAT_DST ? 0x80 : 0;
    natAddresses(b, v6, l3, l4, end - l4, end, tuples, ta, action);
    if (action & (NAT_SRC | NAT_DST)) {
      if (related) this.natInner(b, v6, l3, l4, end, innerL3, innerL4, tuples, ta, natActionReverse(action));
      else patPacket(b, l4, end, tuples, ta);
    }
    return bit;
  }

  /** nat_inner_packet(): the quoted packet gets the reverse translation,
   * then the ICMP checksum is computed again over the whole message. */
  private natInner(b: Uint8Array, v6: boolean, l3: number, l4: number, end: number, innerL3: number, innerL4: number, tuples: Uint32Array, ta: number, action: number): void {
    const rev = this.rev;
    rev[T_META] = tuples[ta + T_META];
    for (let i = 0; i < 4; i++) {
      rev[T_SRC + i] = tuples[ta + T_DST + i];
      rev[T_DST + i] = tuples[ta + T_SRC + i];
    }
    rev[T_SPORT] = tuples[ta + T_DPORT];
    rev[T_DPORT] = tuples[ta + T_SPORT];
    patPacket(b, innerL4, end, rev, 0);
    natAddresses(b, v6, innerL3, innerL4, end - innerL4, end, rev, 0, action);
    b[l4 + 2] = 0;
    b[l4 + 3] = 0;
    const size = end - l4;
    const sum = v6 ? csumAdd(b, l4, size, pseudoSum6(b, l3 + 8, l3 + 24, IPPROTO_ICMPV6, size)) : csumAdd(b, l4, size, 0);
    const csum = csumFinish(sum);
    b[l4 + 2] = csum >>> 8;
    b[l4 + 3] = csum & 0xff;
  }
}
