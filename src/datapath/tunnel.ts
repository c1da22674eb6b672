/**
 * The datapath side of native tunnels: the queue `tnl_pop` fills and the
 * datapath recirculates, and the fixed header offsets of an outer frame.
 *
 * tnl_pop (dpif-netdev's OVS_ACTION_ATTR_TUNNEL_POP): the outer header is
 * checked and stripped (src/tunnel/frame.ts) and the inner frame, with its
 * tunnel metadata and in_port = the vport, is queued; after the batch the
 * datapath processes the queue as a new batch (OVS recirculates the popped
 * packets the same way, with recirc_id 0), and applyTo() writes each
 * packet's tunnel fields into its freshly parsed key.
 *
 *   buf:    | inner frame 0 | inner frame 1 | ...            (bump allocated)
 *   per i:  offsets, lengths, inPorts, tunId, tunSrc, tunDst, tunFlags, tunTp
 *
 * Limits: BATCH_MAX packets and TUNNEL_POP_BYTES bytes per queue; beyond,
 * packets are dropped and counted (`full`). Outer headers OVS would refuse
 * are dropped and counted (`invalid`). Nothing is allocated per packet.
 */
import * as L from "../flow/layout.js";
import { BATCH_MAX } from "../limits.js";
import { HDR_REGIONS, HDR_WORDS, REGION_META } from "../packet/parse.js";
import { popTunnelHeader, popped } from "../tunnel/frame.js";

/** Bytes of inner frames one queue holds: a batch of 9000-byte jumbo frames fits. */
export const TUNNEL_POP_BYTES = BATCH_MAX * 9216;
/** Queues, one per level of tunnel in tunnel (OVS bounds recirculation at 6). */
export const TUNNEL_POP_DEPTH_MAX = 3;

/** Header offsets of an outer IPv4 frame built by tnl_push: L3 at 14, L4 at 34, no extra regions. */
export const OUTER_HDRS = Uint16Array.from([14, 34, 0]);

export class TunnelPopQueue {
  readonly buf = new Uint8Array(TUNNEL_POP_BYTES);
  readonly offsets = new Uint32Array(BATCH_MAX);
  readonly lengths = new Uint32Array(BATCH_MAX);
  readonly inPorts = new Uint32Array(BATCH_MAX);
  private readonly tunId = new Uint32Array(BATCH_MAX);
  private readonly tunSrc = new Uint32Array(BATCH_MAX);
  private readonly tunDst = new Uint32Array(BATCH_MAX);
  private readonly tunFlags = new Uint32Array(BATCH_MAX);
  private readonly tunTp = new Uint32Array(BATCH_MAX);
  count = 0;
  private used = 0;
  /** Outer headers OVS would refuse (bad checksum, VXLAN flags, IP options, ...). */
  invalid = 0;
  /** Packets dropped because the queue was full. */
  full = 0;

  /**
   * Decapsulates the frame b[start, start + length) whose IPv4 header is at
   * absolute offset l3 (-1: none) into the queue, for vport `vport`.
   * `udp` says whether the vport is VXLAN (else GRE).
   */
  push(vport: number, udp: boolean, b: Uint8Array, start: number, length: number, l3: number): void {
    if (l3 < 0 || !popTunnelHeader(b, start, length, l3, udp)) {
      this.invalid++;
      return;
    }
    const n = popped.length;
    if (this.count === BATCH_MAX || this.used + n > this.buf.length) {
      this.full++;
      return;
    }
    const i = this.count++;
    const at = this.used;
    const src = popped.start;
    const dst = this.buf;
    if (n <= 256) for (let k = 0; k < n; k++) dst[at + k] = b[src + k];
    else dst.set(b.subarray(src, src + n), at);
    this.used += n;
    this.offsets[i] = at;
    this.lengths[i] = n;
    this.inPorts[i] = vport;
    this.tunId[i] = popped.tunId;
    this.tunSrc[i] = popped.src;
    this.tunDst[i] = popped.dst;
    this.tunFlags[i] = ((popped.flags << 16) | (popped.tos << 8) | popped.ttl) >>> 0;
    this.tunTp[i] = ((popped.tpSrc << 16) | popped.tpDst) >>> 0;
  }

  /** Writes packet i's tunnel metadata into keys parsed from this queue (i's key at i * KEY_WORDS). */
  applyTo(keys: Uint32Array, hdrs: Uint16Array, count: number): void {
    for (let i = 0; i < count; i++) {
      const kb = i * L.KEY_WORDS;
      keys[kb + L.W_TUN_ID] = 0;
      keys[kb + L.W_TUN_ID + 1] = this.tunId[i];
      keys[kb + L.W_TUN_SRC] = this.tunSrc[i];
      keys[kb + L.W_TUN_DST] = this.tunDst[i];
      keys[kb + L.W_TUN_FLAGS] = this.tunFlags[i];
      keys[kb + L.W_TUN_TP] = this.tunTp[i];
      hdrs[i * HDR_WORDS + HDR_REGIONS] |= REGION_META;
    }
  }

  reset(): void {
    this.count = 0;
    this.used = 0;
  }
}
