/**
 * The datapath side of native tunnels: the queue `tnl_pop` fills and the
 * datapath recirculates, the fast path for megaflows that are a lone
 * tnl_push to ports or a lone tnl_pop (TunnelFastPath), and the fixed
 * header offsets of an outer frame.
 *
 * tnl_push on the fast path: the inner frame is copied (four bytes at a
 * time) behind the header in one shared buffer, where the header template
 * stays while consecutive packets use the same one; only the per-packet
 * fields are rewritten (src/tunnel/frame.ts fillTunnelHeader). Emitted
 * frames point into that buffer until the next packet, as the executor's
 * scratch frames do.
 *
 * tnl_pop (dpif-netdev's OVS_ACTION_ATTR_TUNNEL_POP): the outer header is
 * checked and stripped (src/tunnel/frame.ts) and the inner frame, with its
 * tunnel metadata and in_port = the vport, is queued; after the batch the
 * datapath processes the queue as a new batch (OVS recirculates the popped
 * packets the same way, with recirc_id 0). The inner frame is parsed when
 * it is queued, where the outer header said it starts, into the queue's own
 * key slot, and its tunnel words are written there too: the recirculated
 * batch goes straight to the caches, with no second walk over its frames.
 *
 *   buf:    | inner frame 0 | inner frame 1 | ...            (bump allocated)
 *   or, while every popped frame came through the fast path from one received
 *   batch, no copy: the inner frames stay where they lie in that batch's buffer.
 *   per i:  offsets, lengths, inPorts; keys (KEY_WORDS), hdrs (HDR_WORDS), results
 *   keys are all zeroes beyond what the parse and the tunnel metadata wrote:
 *   reset() zeroes the slots the batch used, in one fill.
 *
 * Limits: BATCH_MAX packets and TUNNEL_POP_BYTES bytes per queue; beyond,
 * packets are dropped and counted (`full`). Outer headers OVS would refuse
 * are dropped and counted (`invalid`). TUNNEL_POP_DEPTH_MAX levels of
 * tunnel in tunnel. Nothing is allocated per packet (a DataView is made
 * when a copy's source buffer differs from the last one's).
 */
import * as L from "../flow/layout.js";
import { BATCH_MAX } from "../limits.js";
import { HDR_L3, HDR_NONE, HDR_REGIONS, HDR_WORDS, Parser, REGION_TUNNEL } from "../packet/parse.js";
import { fillTunnelHeader, popTunnelToKey } from "../tunnel/frame.js";
import { hash5Tuple } from "../tunnel/hash.js";
import { TNL_HEADER_SIZE_MAX } from "../tunnel/header.js";
import type { OdpAction } from "./actions.js";
import type { EmitFn } from "./execute.js";

/** Bytes of inner frames one queue holds: a batch of 9000-byte jumbo frames fits. */
export const TUNNEL_POP_BYTES = BATCH_MAX * 9216;
/** Queues, one per level of tunnel in tunnel (OVS bounds recirculation at 6). */
export const TUNNEL_POP_DEPTH_MAX = 3;

/** Header offsets of an outer IPv4 frame built by tnl_push: L3 at 14, L4 at 34, no extra regions. */
export const OUTER_HDRS = Uint16Array.from([14, 34, 0]);

// Module-local copies of imported constants the per-packet code reads (V8 folds
// these; an imported binding costs a load and a hole check at each use).
const KEY_WORDS = L.KEY_WORDS;
const QUEUE_MAX = BATCH_MAX;
const H_WORDS = HDR_WORDS;
const H_REGIONS = HDR_REGIONS;
const H_L3 = HDR_L3;
const H_NONE = HDR_NONE;
const R_TUNNEL = REGION_TUNNEL;
const W_TUN_FIRST = L.W_TUN_ID;
const W_TUN_LAST = L.W_TUN_TP;
/** Where pushFrom checks a header it has no room to queue. */
const spareKey = new Uint32Array(L.KEY_WORDS);

/** Zeroes the tunnel words popTunnelToKey wrote into keys[kb..] (a pop that found no room). */
function clearTunnelWords(keys: Uint32Array, kb: number): void {
  for (let w = W_TUN_FIRST; w <= W_TUN_LAST; w++) keys[kb + w] = 0;
}

/** Where the fast path puts an inner frame, leaving room for the largest header before it. */
const FRAME_AT = TNL_HEADER_SIZE_MAX + 18;

export class TunnelPopQueue {
  readonly buf = new Uint8Array(TUNNEL_POP_BYTES);
  readonly offsets = new Uint32Array(BATCH_MAX);
  readonly lengths = new Uint32Array(BATCH_MAX);
  readonly inPorts = new Uint32Array(BATCH_MAX);
  /** The queued packets' keys (packet i's at i * KEY_WORDS), header offsets and parse results, as Parser.parseBatch gives them. */
  readonly keys = new Uint32Array(BATCH_MAX * L.KEY_WORDS);
  readonly hdrs = new Uint16Array(BATCH_MAX * HDR_WORDS);
  readonly results = new Uint8Array(BATCH_MAX);
  count = 0;
  private used = 0;
  /**
   * The buffer every queued frame lies in when none was copied (pushInPlace
   * from one received batch: the common case), else null (frames in buf).
   */
  private source: Uint8Array | null = null;
  /** Outer headers OVS would refuse (bad checksum, VXLAN flags, IP options, ...). */
  invalid = 0;
  /** Packets dropped because the queue was full. */
  full = 0;

  /** `parser` parses the inner frames (the datapath's, so its counters count them). */
  constructor(private readonly parser: Parser = new Parser()) {}

  /**
   * Decapsulates the frame b[start, start + length) whose IPv4 header is at
   * absolute offset l3 (-1: none) into the queue, for vport `vport`.
   * `udp` says whether the vport is VXLAN (else GRE).
   */
  push(vport: number, udp: boolean, b: Uint8Array, start: number, length: number, l3: number): void {
    this.pushFrom(vport, udp, b, start, length, l3, false);
  }

  /**
   * push() of a frame whose buffer stays unchanged until the queue is
   * processed (the received batch's): the inner frame is not copied while
   * every frame queued so far lies in that same buffer.
   */
  pushInPlace(vport: number, udp: boolean, b: Uint8Array, start: number, length: number, l3: number): void {
    this.pushFrom(vport, udp, b, start, length, l3, true);
  }

  /** The buffer the queued frames lie in (at offsets[i], lengths[i]). */
  get frames(): Uint8Array {
    return this.source ?? this.buf;
  }

  private pushFrom(vport: number, udp: boolean, b: Uint8Array, start: number, length: number, l3: number, stable: boolean): void {
    const i = this.count;
    if (i === QUEUE_MAX) {
      // Told apart from an invalid header as before: the header is checked on a spare key.
      if (l3 < 0 || popTunnelToKey(b, start, length, l3, udp, spareKey, 0) < 0) this.invalid++;
      else this.full++;
      return;
    }
    const keys = this.keys;
    const kb = i * KEY_WORDS;
    // The tunnel words go straight into packet i's key (tunnel/frame.ts); the rest of it is zero.
    const inner = l3 < 0 ? -1 : popTunnelToKey(b, start, length, l3, udp, keys, kb);
    if (inner < 0) {
      this.invalid++;
      return;
    }
    const n = Math.min(start + length, b.length) - inner;
    let at = inner;
    if (stable && (i === 0 || this.source === b)) {
      this.source = b;
    } else if ((this.source !== null && !this.copySource()) || this.used + n > this.buf.length) {
      // Frames from two buffers: those left in place move into the queue's own, unless they do not fit.
      clearTunnelWords(keys, kb);
      this.full++;
      return;
    } else {
      at = this.used;
      copyBytes(b, inner, this.buf, at, n);
      this.used += n;
    }
    this.count = i + 1;
    this.offsets[i] = at;
    this.lengths[i] = n;
    this.inPorts[i] = vport;
    // Parsed from where the frame lies in b: the key does not depend on where it is copied.
    // Only the tunnel words besides: recirc_id, ct_* and the marks stay zero after a pop.
    const hb = i * H_WORDS;
    this.results[i] = this.parser.parseZeroed(b, inner, n, vport, keys, kb, this.hdrs, hb);
    this.hdrs[hb + H_REGIONS] |= R_TUNNEL;
  }

  /** Copies the frames left in place into the queue's own buffer (false when they do not fit: then nothing moves). */
  private copySource(): boolean {
    const src = this.source!;
    let bytes = 0;
    for (let i = 0; i < this.count; i++) bytes += this.lengths[i];
    if (this.used + bytes > this.buf.length) return false;
    for (let i = 0; i < this.count; i++) {
      copyBytes(src, this.offsets[i], this.buf, this.used, this.lengths[i]);
      this.offsets[i] = this.used;
      this.used += this.lengths[i];
    }
    this.source = null;
    return true;
  }

  /** Empties the queue; the keys its packets used (and their processing may have written) are zeroed for the next. */
  reset(): void {
    this.keys.fill(0, 0, this.count * KEY_WORDS);
    this.count = 0;
    this.used = 0;
    this.source = null;
  }
}

/**
 * The common tunnel megaflows, compiled so the fast path skips the general
 * executor (as dpif.ts does for output-only actions): a lone tnl_push whose
 * outer packet only goes to ports, and a lone tnl_pop.
 */
export class TunnelFastPath {
  private constructor(
    private readonly header: Uint8Array,
    private readonly headerSize: number,
    private readonly udp: boolean,
    /** Output ports of the outer packet, or null for a tnl_pop. */
    private readonly outs: Int32Array | null,
    private readonly popPort: number,
  ) {}

  /**
   * For a lone tnl_pop, its vport and protocol packed as (vport << 1) | udp,
   * which the datapath keeps per megaflow to pop without this object; else -1.
   */
  get popCode(): number {
    return this.outs === null ? ((this.popPort << 1) | (this.udp ? 1 : 0)) >>> 0 : -1;
  }

  /** The fast form of `actions`, or null when they need the general executor. */
  static compile(actions: readonly OdpAction[]): TunnelFastPath | null {
    if (actions.length !== 1) return null;
    const a = actions[0];
    if (a.t === "tnl_pop") return new TunnelFastPath(new Uint8Array(0), 0, a.udp, null, a.port);
    if (a.t !== "tnl_push" || a.actions.length === 0 || !a.actions.every((x) => x.t === "output")) return null;
    const outs = Int32Array.from(a.actions.map((x) => (x.t === "output" ? x.port : -1)));
    return new TunnelFastPath(a.header.bytes, a.header.size, a.header.kind === "vxlan", outs, -1);
  }

  /**
   * Runs on the frame buf[off, off + len) with key keys[kb..] and header
   * offsets hdrs[hb..]; pops go to `pops` (null drops them). Returns how many
   * outputs it made.
   */
  run(buf: Uint8Array, off: number, len: number, keys: Uint32Array, kb: number, hdrs: Uint16Array, hb: number, pops: TunnelPopQueue | null, emit: EmitFn): number {
    const outs = this.outs;
    if (outs === null) {
      const l3 = hdrs[hb + H_L3];
      // buf is the received batch, unchanged until its pops are processed: no copy.
      if (pops !== null) pops.pushInPlace(this.popPort, this.udp, buf, off, len, l3 === H_NONE ? -1 : off + l3);
      return 0;
    }
    if (len > FRAME_SIZE_MAX) return 0;
    const f = sharedFrame;
    copyBytes(buf, off, f, FRAME_AT, len);
    const at = FRAME_AT - this.headerSize;
    // The header stays in the shared buffer between packets of the same megaflow.
    if (headerOwner !== this) {
      for (let i = 0; i < this.headerSize; i++) f[at + i] = this.header[i];
      headerOwner = this;
    }
    fillTunnelHeader(f, at, len, this.header, this.headerSize, this.udp, hash5Tuple(keys, kb));
    const size = len + this.headerSize;
    for (let j = 0; j < outs.length; j++) emit(outs[j], f, at, size);
    return outs.length;
  }
}

const FRAME_SIZE_MAX = 65536;
/** Encapsulated frames are built here: the header right before FRAME_AT, the inner frame from it. */
const sharedFrame = new Uint8Array(FRAME_AT + FRAME_SIZE_MAX);
const sharedView = new DataView(sharedFrame.buffer);
/** The fast path whose header bytes sharedFrame holds. */
let headerOwner: TunnelFastPath | null = null;

let lastSource: Uint8Array | null = null;
let lastSourceView: DataView | null = null;

/**
 * Copies len bytes from src[from..] to dst[to..] where dst is sharedFrame
 * or a queue buffer: four bytes at a time through DataViews (several times
 * faster than a byte loop for short frames); one DataView per source
 * buffer, made when the source changes (once per batch buffer).
 */
export function copyBytes(src: Uint8Array, from: number, dst: Uint8Array, to: number, len: number): void {
  if (len > 512) {
    dst.set(src.subarray(from, from + len), to);
    return;
  }
  if (src !== lastSource) {
    lastSource = src;
    lastSourceView = new DataView(src.buffer, src.byteOffset, src.byteLength);
  }
  const sv = lastSourceView!;
  const dv = dst === sharedFrame ? sharedView : viewOf(dst);
  let i = 0;
  for (; i + 4 <= len; i += 4) dv.setUint32(to + i, sv.getUint32(from + i));
  for (; i < len; i++) dst[to + i] = src[from + i];
}

let lastDest: Uint8Array | null = null;
let lastDestView: DataView | null = null;
function viewOf(dst: Uint8Array): DataView {
  if (dst !== lastDest) {
    lastDest = dst;
    lastDestView = new DataView(dst.buffer, dst.byteOffset, dst.byteLength);
  }
  return lastDestView!;
}
