/**
 * The running switch behind `flowplane run`: live ports in, the datapath,
 * live ports and captures out, a control socket and optional metrics.
 *
 * Invariant: outputs are sent once per port per received batch. While the
 * datapath works on a batch, every frame it emits is copied into that
 * port's output SlotBatch; when the batch is done, each port with frames
 * gets one send (one sendmmsg/write burst):
 *
 *   rx batch (port A) ──processBatch──> emit(dp, buf, off, len)
 *                                          │ copy into out[dp] slot count++
 *   after the batch:  for dp in dirty: send(out[dp]); out[dp].count = 0
 *
 * An output batch that fills up mid-batch is sent at once, so nothing is
 * dropped for want of slots. Frames above the port's MTU (plus Ethernet and
 * VLAN headers) or its slot size are dropped and counted (txDrops).
 * Design: readiness comes from LivePort.onReadable (one watcher Worker per
 * port). A port reported readable joins the busy set and its watcher stays
 * parked; pump() then takes one batch from each busy port in turn (as
 * dpif-netdev's main thread polls its non-PMD ports one burst each per
 * pass) until a port has nothing left, which leaves the set and re-arms
 * its watcher:
 *
 *   watcher: readable ──> busy[port] = 1 ──> pump: recv/process/send per busy port
 *        ^                                    │ recv() === 0
 *        └──────────── rearm() <──────────────┘
 *
 * After PUMP_ROUNDS_MAX passes pump yields to the event loop with
 * setImmediate (timers and the control socket run, the loop does not
 * sleep) and goes on. So while traffic flows the main thread never waits
 * for a watcher thread: on a loaded machine each such hand-off is a thread
 * wake-up that waits for a CPU, twice per burst. maintain() runs every
 * second of wall-clock time.
 * Limits: one thread does all packet work; ports attach to nothing in this
 * network namespace but what the topology names.
 */
import { Datapath } from "../datapath/dpif.js";
import { FlowplaneError } from "../errors.js";
import { BATCH_MAX } from "../limits.js";
import type { Switch } from "../ofproto/bridge.js";
import { addLearnedFlow, tableOf, expire as expireRules } from "../ofproto/load.js";
import { SlotBatch, loadNative } from "../io/native.js";
import { attachPort, detachPort, rxBatchFor, slotSizeFor, type Attachment } from "./ports.js";

/** Passes over the busy ports (one batch each) before pump yields to the event loop. */
export const PUMP_ROUNDS_MAX = 16;
/** How often the datapath's upkeep runs. */
export const MAINTAIN_INTERVAL_MS = 1000;

/** Counters per datapath port, struct of arrays. */
export class PortCounters {
  readonly rxPackets: Float64Array;
  readonly rxBytes: Float64Array;
  readonly txPackets: Float64Array;
  readonly txBytes: Float64Array;
  /** Frames not transmitted: over MTU, refused by a full queue, failed sends, no device attached. */
  readonly txDrops: Float64Array;
  constructor(length: number) {
    this.rxPackets = new Float64Array(length);
    this.rxBytes = new Float64Array(length);
    this.txPackets = new Float64Array(length);
    this.txBytes = new Float64Array(length);
    this.txDrops = new Float64Array(length);
  }
}

export class Daemon {
  readonly sw: Switch;
  readonly dp: Datapath;
  readonly attachments: Attachment[] = [];
  readonly counters: PortCounters;
  readonly startedMs = Date.now();
  /** Output batches sent, for "avg. packets per output batch". */
  outputBatches = 0;
  outputFrames = 0;
  private readonly outs: (SlotBatch | null)[];
  private readonly outViews: (Buffer | null)[];
  private readonly byDp: (Attachment | null)[];
  private readonly dirty: Int32Array;
  private dirtyCount = 0;
  /** Buffer views of the last two source buffers emit copied from (the receive batch, the executor's scratch). */
  private srcA: Uint8Array | null = null;
  private viewA: Buffer = Buffer.alloc(0);
  private srcB: Uint8Array | null = null;
  private viewB: Buffer = Buffer.alloc(0);
  private maintainTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** The live ports pump() serves, by index: receive batch, in_port column, busy flag. */
  private readonly liveAttachments: Attachment[] = [];
  private readonly rxBatches: SlotBatch[] = [];
  private readonly rxInPorts: Uint32Array[] = [];
  private busy: Uint8Array = new Uint8Array(0);
  private busyCount = 0;
  private pumpScheduled = false;
  private readonly pumpBound = (): void => this.pump();
  private readonly emit: (dpPort: number, buf: Uint8Array, offset: number, length: number) => void;

  /** idleMs: megaflow max-idle (OVS other_config:max-idle), default 10 s. */
  constructor(sw: Switch, opts: { idleMs?: number } = {}) {
    this.sw = sw;
    this.dp = new Datapath(sw, {
      idleMs: opts.idleMs,
      onLearn: (bridge, flow, nowMs) => addLearnedFlow(bridge, flow, nowMs),
      expireRules: (nowMs) => {
        for (const b of sw.bridges) expireRules(b, nowMs);
      },
    });
    const n = sw.dpPorts.length;
    this.counters = new PortCounters(n);
    this.outs = new Array<SlotBatch | null>(n).fill(null);
    this.outViews = new Array<Buffer | null>(n).fill(null);
    this.byDp = new Array<Attachment | null>(n).fill(null);
    this.dirty = new Int32Array(n);
    this.emit = (dpPort, buf, offset, length) => this.stage(dpPort, buf, offset, length);
    // The topology's flows were loaded with no clock: they come to life now.
    for (const b of sw.bridges) {
      for (let t = 0; t < b.tables.length; t++) {
        for (const r of tableOf(b, t).rules()) {
          r.createdMs = this.startedMs;
          r.usedMs = this.startedMs;
        }
      }
    }
  }

  /** Opens every port of the topology; on a failure closes those opened and throws. */
  async attach(): Promise<void> {
    const needsNative = this.sw.dpPorts.some((p) => p.type === "tap" || p.type === "afpacket");
    if (needsNative) loadNative();
    try {
      for (const port of this.sw.dpPorts) {
        const a = attachPort(port);
        this.attachments.push(a);
        this.byDp[port.dpPort] = a;
        if (a.live !== null || a.writer !== null) {
          const out = new SlotBatch(slotSizeFor(port.mtu));
          this.outs[port.dpPort] = out;
          this.outViews[port.dpPort] = Buffer.from(out.buffer.buffer, out.buffer.byteOffset, out.buffer.byteLength);
        }
      }
    } catch (error) {
      await this.detachAll();
      throw error;
    }
  }

  /** Replays pcap-in captures, starts receiving and the upkeep timer. */
  start(onPortError: (error: Error) => void): void {
    for (const a of this.attachments) if (a.capture !== null) this.replayCapture(a);
    for (const a of this.attachments) {
      if (a.live === null) continue;
      const rx = rxBatchFor(a.port);
      this.liveAttachments.push(a);
      this.rxBatches.push(rx);
      this.rxInPorts.push(new Uint32Array(rx.length).fill(a.port.dpPort));
    }
    this.busy = new Uint8Array(this.liveAttachments.length);
    for (let index = 0; index < this.liveAttachments.length; index++) {
      this.liveAttachments[index].live!.onReadable(() => this.onReadable(index), onPortError);
    }
    this.maintainTimer = setInterval(() => this.maintain(), MAINTAIN_INTERVAL_MS);
  }

  /** A watcher saw the port readable: it joins the busy set, and its
   * watcher stays parked (false) until pump has drained it. */
  private onReadable(index: number): boolean {
    if (this.busy[index] === 0) {
      this.busy[index] = 1;
      this.busyCount++;
    }
    if (!this.pumpScheduled) this.pump();
    return false;
  }

  /** One batch from each busy port per pass; see the header. */
  private pump(): void {
    this.pumpScheduled = false;
    const busy = this.busy;
    for (let round = 0; round < PUMP_ROUNDS_MAX && this.busyCount > 0; round++) {
      for (let index = 0; index < busy.length; index++) {
        if (busy[index] === 0) continue;
        if (this.stopped || this.receiveOne(index) === 0) {
          busy[index] = 0;
          this.busyCount--;
          if (!this.stopped) this.liveAttachments[index].live!.rearm();
        }
      }
    }
    if (this.busyCount > 0 && !this.stopped) {
      this.pumpScheduled = true;
      setImmediate(this.pumpBound);
    }
  }

  /** Receives one batch from live port `index`, forwards it and sends what
   * it produced; returns the frames taken from the port (0: it is empty). */
  private receiveOne(index: number): number {
    const a = this.liveAttachments[index];
    const rx = this.rxBatches[index];
    const taken = a.live!.recv(rx);
    const count = rx.count;
    if (count === 0) return taken;
    const dpPort = a.port.dpPort;
    const lengths = rx.lengths;
    let bytes = 0;
    for (let i = 0; i < count; i++) bytes += lengths[i];
    this.counters.rxPackets[dpPort] += count;
    this.counters.rxBytes[dpPort] += bytes;
    this.dp.processBatch(rx.buffer, rx.offsets, lengths, this.rxInPorts[index], count, Date.now(), this.emit);
    this.flush();
    return taken;
  }

  private replayCapture(a: Attachment): void {
    const cap = a.capture!;
    const dpPort = a.port.dpPort;
    const offsets = new Uint32Array(BATCH_MAX);
    const lengths = new Uint32Array(BATCH_MAX);
    const inPorts = new Uint32Array(BATCH_MAX).fill(dpPort);
    for (let j = 0; j < cap.count; j += BATCH_MAX) {
      const n = Math.min(BATCH_MAX, cap.count - j);
      for (let i = 0; i < n; i++) {
        offsets[i] = cap.offsets[j + i];
        lengths[i] = cap.lengths[j + i];
        this.counters.rxBytes[dpPort] += lengths[i];
      }
      this.counters.rxPackets[dpPort] += n;
      this.dp.processBatch(cap.buffer, offsets, lengths, inPorts, n, Date.now(), this.emit);
      this.flush();
    }
  }

  /** emit: copies a frame into its port's output batch. */
  private stage(dpPort: number, buf: Uint8Array, offset: number, length: number): void {
    const out = this.outs[dpPort];
    if (out === null) {
      this.counters.txDrops[dpPort]++;
      return;
    }
    if (length > out.slotSize || !this.sw.dpPorts[dpPort].fitsMtu(buf, offset, length)) {
      this.counters.txDrops[dpPort]++;
      return;
    }
    if (out.count === out.length) this.sendPort(dpPort);
    let view: Buffer;
    if (buf === this.srcA) view = this.viewA;
    else if (buf === this.srcB) view = this.viewB;
    else {
      // A new source buffer: remember it in place of the older of the two.
      this.srcB = this.srcA;
      this.viewB = this.viewA;
      this.srcA = buf;
      this.viewA = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
      view = this.viewA;
    }
    const slot = out.count;
    const at = slot * out.slotSize;
    view.copy(this.outViews[dpPort]!, at, offset, offset + length);
    out.offsets[slot] = at;
    out.lengths[slot] = length;
    if (slot === 0) this.dirty[this.dirtyCount++] = dpPort;
    out.count = slot + 1;
  }

  /** Sends every port's staged frames. */
  private flush(): void {
    for (let i = 0; i < this.dirtyCount; i++) this.sendPort(this.dirty[i]);
    this.dirtyCount = 0;
  }

  private sendPort(dpPort: number): void {
    const out = this.outs[dpPort]!;
    const count = out.count;
    if (count === 0) return;
    const a = this.byDp[dpPort]!;
    const c = this.counters;
    let bytes = 0;
    for (let i = 0; i < count; i++) bytes += out.lengths[i];
    if (a.live !== null) {
      const sent = a.live.send(out);
      c.txPackets[dpPort] += sent;
      c.txDrops[dpPort] += count - sent;
      if (sent !== count) {
        bytes = 0;
        for (let i = 0; i < sent; i++) bytes += out.lengths[i];
      }
      c.txBytes[dpPort] += bytes;
    } else if (a.writer !== null) {
      const nowMs = Date.now();
      const sec = Math.floor(nowMs / 1000);
      const nsec = (nowMs % 1000) * 1e6;
      for (let i = 0; i < count; i++) a.writer.write(out.buffer, out.offsets[i], out.lengths[i], sec, nsec);
      c.txPackets[dpPort] += count;
      c.txBytes[dpPort] += bytes;
    }
    this.outputBatches++;
    this.outputFrames += count;
    out.count = 0;
  }

  maintain(): void {
    this.dp.maintain(Date.now());
    for (const a of this.attachments) a.writer?.flush();
  }

  /** Stops receiving, flushes and closes every port (taps flowplane created disappear). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.maintainTimer !== null) clearInterval(this.maintainTimer);
    this.maintainTimer = null;
    this.dp.pushStats();
    await this.detachAll();
  }

  private async detachAll(): Promise<void> {
    const errors: string[] = [];
    for (const a of this.attachments) {
      try {
        await detachPort(a);
      } catch (error) {
        errors.push(`port ${a.port.name}: ${(error as Error).message}`);
      }
    }
    if (errors.length) throw new FlowplaneError("FP_ERR_PORT_CLOSE", errors.join("; "));
  }
}

/** Bytes of VLAN headers at the front of a frame (0, 4 or 8): allowed beyond the MTU. */
