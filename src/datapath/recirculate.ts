/**
 * Recirculation in the datapath (OVS's dp_netdev_recirculate and the
 * OVS_ACTION_ATTR_CT / _RECIRC cases of dp_execute_cb, lib/dpif-netdev.c).
 *
 * After `ct(...)` the packet carries the connection-tracking metadata the
 * engine left in its key; `recirc(id)` makes it re-enter the datapath at
 * once (before the actions after it run), with recirc_id = id, the same
 * in_port and metadata (skb_priority, pkt_mark, ct_*, tunnel), its receive
 * hash (the 5-tuple hash of the packet as received, before any NAT: OVS
 * keeps the packet's RSS hash across recirculation, and a tnl_push takes its
 * UDP source port from it), and a key
 * re-extracted from its bytes as they are now (after a NAT). That pass is
 * looked up in the exact-match and megaflow caches like any packet (the
 * recirc_id and ct_* words are part of every megaflow key); a miss is
 * translated by thawing the state frozen under the id (xlate/recirc.ts).
 *
 * Invariants:
 * - Each depth has its own executor, key and header slots, so a pass never
 *   overwrites the frame or key of the pass that recirculated it, with one
 *   exception that cannot be seen: a received packet whose actions are
 *   exactly ct(...),recirc(id) (every ct(table=N)) is tracked in its batch
 *   key and its next pass runs in that key (recirculateKey), as nothing reads
 *   it afterwards; this spares a key copy per tracked packet.
 * - Nothing is allocated for a packet that hits the caches.
 *
 * Limits: RECIRC_DEPTH_MAX passes (OVS's MAX_RECIRC_DEPTH); a deeper recirc
 * drops the packet and counts it (stats.recircDropped).
 */
import type { CtRequest, ReleasedPacket } from "../conntrack/api.js";

/** What the executor needs from its datapath for ct and recirc. */
export interface RecircHost {
  /** Runs one packet through conntrack (the frame may be rewritten: NAT); fills key[kb..]'s ct words. */
  runConntrack(frame: Uint8Array, off: number, len: number, l3: number, l4: number, key: Uint32Array, kb: number, req: CtRequest): number;
  /** Runs a packet of `size` bytes through datapath meter `id` at its time; false when a band drops it. */
  runMeter(id: number, size: number): boolean;
  /** Packets conntrack handed back (fragments of a reassembled or expired datagram), or null when none. */
  takeReleased(): ReleasedPacket[] | null;
  /**
   * The packet at frame[off, off + len), whose metadata is key[kb..], re-enters
   * the datapath with recirc_id = id. `hdrs` (header offsets at hdrs[hb..])
   * when key[kb..]'s headers still describe the frame exactly (no header
   * action or NAT since it was parsed): the pass copies them; null: it parses.
   * rxHash is its receive hash (src/tunnel/hash.ts hash5Tuple of the key it
   * was received with), kept across recirculation as OVS keeps the RSS hash.
   */
  recirculate(id: number, frame: Uint8Array, off: number, len: number, key: Uint32Array, kb: number, hdrs: Uint16Array | null, hb: number, depth: number, rxHash: number): void;
  /**
   * recirculate() for a packet whose key[kb..] (its parsed key with the ct
   * metadata) and hdrs[hb..] describe the frame exactly and belong to no
   * one after this call: the pass runs in them, without a copy. rxHash may
   * be RX_HASH_FROM_KEY when the key's headers are still the received ones.
   */
  recirculateKey(id: number, frame: Uint8Array, off: number, len: number, key: Uint32Array, kb: number, hdrs: Uint16Array, hb: number, depth: number, rxHash: number): void;
}

/**
 * A receive hash still to be computed, from the key of the pass it is
 * needed in (its header words are the packet's as received): most passes
 * never need it (only tnl_push takes its UDP source port from it).
 */
export const RX_HASH_FROM_KEY = -1;
