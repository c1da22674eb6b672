/**
 * Live ports: bindings to the native addon (native/flowplane.node, built
 * from native/src by `npm run build:native`) for TAP devices and AF_PACKET
 * sockets, and the LivePort class the datapath receives from and
 * transmits into.
 * Invariant: nothing here blocks the event loop. Port fds are non-blocking,
 * recv/send return at once (0 when nothing is ready or the queue is full),
 * and the only blocking call, the addon's waitReadable (poll(2)), runs in a
 * Worker. Receive and transmit allocate nothing: frames go straight between
 * the kernel and a SlotBatch's preallocated buffer.
 * Design: the addon is loaded lazily on first use, so flowplane works
 * without it as long as no live port is opened. Readiness without busy
 * waiting: onReadable(cb) starts one watcher Worker per port, which blocks
 * in waitReadable and wakes the main thread with a message; the main thread
 * runs cb (which drains the port with recv) and then re-arms the watcher
 * through one Int32 in a SharedArrayBuffer:
 *
 *   control[0]:  ARMED ──(worker: fd readable, postMessage)──> NOTIFIED
 *                  ^                                             │
 *                  └──(main: cb returned, or rearm() after a cb ─┘
 *                      that returned false; Atomics.notify)
 *                any ──(main: close)──> STOPPED (the worker exits)
 *
 * While NOTIFIED the worker sleeps in Atomics.wait, so a port the callback
 * has not drained yet does not flood the main thread with messages. The
 * worker polls in slices of WATCH_SLICE_MS so that it sees STOPPED soon
 * after close.
 * Limits: Linux only, Linux 4.20 or later for AF_PACKET; one watcher
 * Worker (one thread) per port being watched; frames longer than a slot
 * are dropped and counted (rxTooLongCount).
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { FlowplaneError, assert } from "../errors.js";
import { BATCH_MAX } from "../limits.js";

/** The addon's abiVersion this file speaks; native/src/lib.rs ABI_VERSION. */
export const NATIVE_ABI_VERSION = 1;

/** The `kind` argument of recvBatch/sendBatch. */
export const PORT_KIND_TAP = 0;
export const PORT_KIND_AFPACKET = 1;
export type PortKind = typeof PORT_KIND_TAP | typeof PORT_KIND_AFPACKET;

/** Slot size of a SlotBatch unless told otherwise: a 1500-byte MTU frame
 * plus Ethernet header and two VLAN tags fits, and a power of two keeps
 * slots aligned. Ports with a larger MTU need larger slots. */
export const SLOT_SIZE_DEFAULT = 2048;

/** Longest a watcher Worker blocks in one poll(2): bounds how long it
 * lingers after close, at the cost of 1000 / WATCH_SLICE_MS wake-ups a
 * second in the worker (none on the main thread) while idle. */
export const WATCH_SLICE_MS = 100;

/** Fds one waitReadable call watches (bits of the returned mask). */
export const WAIT_FDS_MAX = 32;

export interface TapOptions {
  /** MTU to set (68..65535); left as is when absent. */
  mtu?: number;
  /** MAC address of the tap's kernel side, "02:00:00:00:00:01". */
  mac?: string;
  /** Set (true) or clear (false) TUNSETPERSIST; left as is when absent. A
   * tap created by tapOpen without persist disappears when closed. */
  persist?: boolean;
}

export interface AfPacketOptions {
  /** Receive through a TPACKET_V2 ring (native/src/ring.rs) rather than
   * recvmmsg(2); true unless told otherwise. Either way frames arrive the
   * same: the ring saves the receiving thread a copy out of each socket
   * buffer, and falls back to recvmmsg by itself if it cannot be set up. */
  ring?: boolean;
}

/** The addon's exports; see native/src/lib.rs for the contract of each. */
export interface NativeBinding {
  readonly abiVersion: number;
  readonly kindTap: number;
  readonly kindAfpacket: number;
  /** Creates or attaches to tap `name`, brings it up; returns its fd. */
  tapOpen(name: string, options?: TapOptions): number;
  /** Removes a tap nobody has open (persistent or not). */
  tapDelete(name: string): void;
  /** An AF_PACKET socket bound to `ifname`, promiscuous; returns its fd. */
  afpacketOpen(ifname: string, options?: AfPacketOptions): number;
  /** Receives up to framesMax frames, frame i at i * slotSize, its length
   * in lengths[i] (above slotSize: it did not fit, drop it). 0 if none. */
  recvBatch(
    fd: number,
    kind: number,
    buffer: ArrayBuffer | Uint8Array,
    slotSize: number,
    framesMax: number,
    lengths: Uint32Array,
  ): number;
  /** Transmits frames i < count (lengths[i] bytes at offsets[i]); returns
   * how many the kernel took; the caller drops the rest. */
  sendBatch(
    fd: number,
    kind: number,
    buffer: ArrayBuffer | Uint8Array,
    offsets: Uint32Array,
    lengths: Uint32Array,
    count: number,
  ): number;
  /** poll(2) for POLLIN: bit i set when fds[i] is readable (or has an error
   * to report); 0 on timeout. BLOCKS: call it from a Worker only. */
  waitReadable(fds: Int32Array, timeoutMs: number): number;
  close(fd: number): void;
}

/** What the addon throws when a system call fails. */
export interface NativeSystemError extends Error {
  /** The errno name: "EBUSY", "ENODEV", ... */
  code: string;
  errno: number;
  /** The step that failed: "TUNSETIFF", "bind", "recvmmsg", ... */
  syscall: string;
}

export function isNativeSystemError(error: unknown): error is NativeSystemError {
  return error instanceof Error && typeof (error as Partial<NativeSystemError>).errno === "number";
}

/** src/io/native.ts and dist/io/native.js are both two levels below the
 * package root, so the same relative URL finds native/ from either. */
const ADDON_PATH_DEFAULT = fileURLToPath(new URL("../../native/flowplane.node", import.meta.url));

let addonPath = ADDON_PATH_DEFAULT;
let binding: NativeBinding | null = null;
/** The path `binding` was loaded from, for the watcher Workers. */
let bindingPath = "";

/** Where loadNative looks for the addon. */
export function nativeAddonPath(): string {
  return addonPath;
}

/** Test hook: load the addon from `path` from now on (undefined restores the
 * default). Forgets the binding already loaded, if any. */
export function setNativeAddonPath(path: string | undefined): void {
  addonPath = path ?? ADDON_PATH_DEFAULT;
  binding = null;
}

/** The addon, loaded on first call. Throws FP_ERR_NATIVE_MISSING when it was
 * not built, FP_ERR_NATIVE_LOAD when it does not load or is stale. */
export function loadNative(): NativeBinding {
  if (binding !== null) return binding;
  if (!existsSync(addonPath)) {
    throw new FlowplaneError(
      "FP_ERR_NATIVE_MISSING",
      `the native addon is missing (${addonPath}): tap and afpacket ports need it. ` +
        `Build it with "npm run build:native" (requires cargo, the Rust toolchain); everything else works without it`,
    );
  }
  let loaded: NativeBinding;
  try {
    loaded = createRequire(import.meta.url)(addonPath) as NativeBinding;
  } catch (error) {
    throw new FlowplaneError(
      "FP_ERR_NATIVE_LOAD",
      `the native addon ${addonPath} does not load (${(error as Error).message}): rebuild it with "npm run build:native"`,
    );
  }
  if (loaded.abiVersion !== NATIVE_ABI_VERSION) {
    throw new FlowplaneError(
      "FP_ERR_NATIVE_LOAD",
      `the native addon ${addonPath} speaks ABI ${String(loaded.abiVersion)}, this flowplane needs ` +
        `${NATIVE_ABI_VERSION}: rebuild it with "npm run build:native"`,
    );
  }
  binding = loaded;
  bindingPath = addonPath;
  return loaded;
}

export const tapOpen = (name: string, options?: TapOptions): number => loadNative().tapOpen(name, options);
export const tapDelete = (name: string): void => loadNative().tapDelete(name);
export const afpacketOpen = (ifname: string, options?: AfPacketOptions): number => loadNative().afpacketOpen(ifname, options);
export const closeFd = (fd: number): void => loadNative().close(fd);

/**
 * Frames in fixed slots of one buffer, as the addon receives them:
 *
 *   buffer:  | slot 0 ......... | slot 1 ......... | ... | slot length-1 |
 *            ^ offsets[0] = 0   ^ offsets[1] = slotSize
 *            frame i: lengths[i] bytes at offsets[i]; i < count
 *
 * recv fills the first `count` slots and sets offsets[i] = i * slotSize;
 * code that rewrites a frame may move offsets[i] within its slot (and send
 * honours it). Allocated once; never grows.
 */
export class SlotBatch {
  readonly slotSize: number;
  /** Slots in the batch. */
  readonly length: number;
  readonly buffer: Uint8Array;
  readonly offsets: Uint32Array;
  readonly lengths: Uint32Array;
  /** Frames in use: slots 0 .. count-1. */
  count: number;

  /** `shared` puts the frames in a SharedArrayBuffer, for batches that
   * travel between Workers. */
  constructor(slotSize: number = SLOT_SIZE_DEFAULT, length: number = BATCH_MAX, shared = false) {
    assert(Number.isInteger(slotSize) && slotSize > 0, "slotSize must be a positive integer");
    assert(Number.isInteger(length) && length > 0, "length must be a positive integer");
    const size = slotSize * length;
    this.slotSize = slotSize;
    this.length = length;
    this.buffer = new Uint8Array(shared ? new SharedArrayBuffer(size) : new ArrayBuffer(size));
    this.offsets = new Uint32Array(length);
    this.lengths = new Uint32Array(length);
    this.count = 0;
    for (let i = 0; i < length; i++) this.offsets[i] = i * slotSize;
  }
}

const WATCH_ARMED = 0;
const WATCH_NOTIFIED = 1;
const WATCH_STOPPED = 2;
const WATCH_READABLE = 1;

/** The watcher Worker's code, plain CommonJS (eval'd, without the parent's
 * execArgv), so it runs the same under tsx/vitest and from dist/. See the state diagram in the header. */
const WATCHER_SOURCE = `"use strict";
const { parentPort, workerData } = require("node:worker_threads");
const native = require(workerData.addonPath);
const fds = new Int32Array([workerData.fd]);
const control = new Int32Array(workerData.control);
for (;;) {
  if (Atomics.load(control, 0) === ${WATCH_STOPPED}) break;
  let mask = 0;
  try {
    mask = native.waitReadable(fds, workerData.sliceMs);
  } catch (error) {
    parentPort.postMessage({ code: String(error.code), message: String(error.message) });
    break;
  }
  if (mask === 0) continue;
  if (Atomics.compareExchange(control, 0, ${WATCH_ARMED}, ${WATCH_NOTIFIED}) !== ${WATCH_ARMED}) break;
  parentPort.postMessage(${WATCH_READABLE});
  Atomics.wait(control, 0, ${WATCH_NOTIFIED});
}
`;

interface WatcherFailure {
  code: string;
  message: string;
}

/**
 * A port on a live interface: a tap (frames to and from the local kernel)
 * or an AF_PACKET socket on an existing interface (frames to and from its
 * wire). I/O errors never throw from recv/send: they are counted, and the
 * last one is kept in lastError; a full transmit queue drops and counts.
 */
export class LivePort {
  readonly name: string;
  readonly kind: PortKind;
  /** Frames received into batches, and dropped for not fitting a slot. */
  rxCount: number;
  rxTooLongCount: number;
  /** recv calls that failed (the port went down, ...). */
  rxErrorCount: number;
  /** Frames the kernel took, dropped because its queue was full (or it
   * refused them: too short, too long), and lost to a failed send. */
  txCount: number;
  txDropCount: number;
  txErrorCount: number;
  lastError: Error | null;
  private fdValue: number;
  private readonly native: NativeBinding;
  private readonly addonPathLoaded: string;
  private watcher: Worker | null;
  private readonly control: Int32Array;

  private constructor(native: NativeBinding, name: string, kind: PortKind, fd: number) {
    this.name = name;
    this.kind = kind;
    this.rxCount = 0;
    this.rxTooLongCount = 0;
    this.rxErrorCount = 0;
    this.txCount = 0;
    this.txDropCount = 0;
    this.txErrorCount = 0;
    this.lastError = null;
    this.fdValue = fd;
    this.native = native;
    this.addonPathLoaded = bindingPath;
    this.watcher = null;
    this.control = new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT));
  }

  /** Creates (or attaches to an idle) tap `name` and brings it up. */
  static openTap(name: string, options?: TapOptions): LivePort {
    const native = loadNative();
    return new LivePort(native, name, PORT_KIND_TAP, native.tapOpen(name, options));
  }

  /** Opens an AF_PACKET socket on the existing interface `ifname`. */
  static openAfPacket(ifname: string, options?: AfPacketOptions): LivePort {
    const native = loadNative();
    return new LivePort(native, ifname, PORT_KIND_AFPACKET, native.afpacketOpen(ifname, options));
  }

  /** The port's fd; -1 once closed. */
  get fd(): number {
    return this.fdValue;
  }

  /**
   * Receives into `batch` (replacing what it held). Returns the number of
   * frames taken from the port, 0 when nothing was ready: loop while it is
   * positive to drain. batch.count says how many frames the batch holds;
   * it is smaller when frames too long for a slot were dropped.
   */
  recv(batch: SlotBatch): number {
    assert(this.fdValue !== -1, "recv on a closed port");
    let taken = 0;
    try {
      taken = this.native.recvBatch(this.fdValue, this.kind, batch.buffer, batch.slotSize, batch.length, batch.lengths);
    } catch (error) {
      this.countError(error);
      this.rxErrorCount++;
      batch.count = 0;
      return 0;
    }
    const slotSize = batch.slotSize;
    const lengths = batch.lengths;
    const offsets = batch.offsets;
    let kept = 0;
    for (let i = 0; i < taken; i++) {
      const size = lengths[i];
      if (size > slotSize) {
        this.rxTooLongCount++;
        continue;
      }
      // Only after a dropped frame: close the gap so frames stay in slots 0..count-1.
      if (kept !== i) {
        batch.buffer.copyWithin(kept * slotSize, i * slotSize, i * slotSize + size);
        lengths[kept] = size;
      }
      offsets[kept] = kept * slotSize;
      kept++;
    }
    batch.count = kept;
    this.rxCount += kept;
    return taken;
  }

  /** Transmits the batch's frames; returns how many the kernel took. */
  send(batch: SlotBatch): number {
    return this.sendFrames(batch.buffer, batch.offsets, batch.lengths, batch.count);
  }

  /** Transmits frames i < count: lengths[i] bytes at offsets[i] of buffer.
   * Returns how many the kernel took; the rest are dropped and counted. */
  sendFrames(buffer: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number): number {
    assert(this.fdValue !== -1, "send on a closed port");
    let sent = 0;
    try {
      sent = this.native.sendBatch(this.fdValue, this.kind, buffer, offsets, lengths, count);
    } catch (error) {
      this.countError(error);
      this.txErrorCount += count;
      return 0;
    }
    this.txCount += sent;
    this.txDropCount += count - sent;
    return sent;
  }

  /**
   * Calls `callback` on the main thread whenever the port has frames to
   * receive; the callback should recv until it returns 0 (or until its own
   * budget is spent: it is called again while frames remain). Starts the
   * watcher Worker; at most once per port. A watcher failure goes to
   * `onError`, or is thrown from the event loop when there is none.
   *
   * A callback that returns `false` keeps the port for itself: the watcher
   * stays parked (NOTIFIED) and posts nothing until `rearm()`. A busy
   * caller thus keeps receiving on the main thread without a round trip
   * through the watcher thread per burst, which on a loaded machine costs
   * two thread wake-ups, each a wait for a CPU.
   */
  onReadable(callback: () => boolean | void, onError?: (error: Error) => void): void {
    assert(this.fdValue !== -1, "onReadable on a closed port");
    assert(this.watcher === null, "onReadable is already set on this port");
    const control = this.control;
    Atomics.store(control, 0, WATCH_ARMED);
    const fail = (error: Error): void => {
      this.lastError = error;
      if (onError === undefined) throw error;
      onError(error);
    };
    const worker = new Worker(WATCHER_SOURCE, {
      eval: true,
      // Not the parent's flags: --input-type=module would make the eval'd
      // source ESM, and loaders (tsx) are not needed for plain JS.
      execArgv: [],
      workerData: { addonPath: this.addonPathLoaded, fd: this.fdValue, control: control.buffer, sliceMs: WATCH_SLICE_MS },
    });
    worker.on("message", (message: number | WatcherFailure) => {
      if (this.watcher !== worker) return; // a late message after close
      if (message !== WATCH_READABLE) {
        const failure = message as WatcherFailure;
        fail(new FlowplaneError("FP_ERR_PORT_WATCH", `port ${this.name}: ${failure.message} (${failure.code})`));
        return;
      }
      let kept = false;
      try {
        kept = callback() === false;
      } finally {
        if (!kept) this.rearm();
      }
    });
    worker.on("error", (error: Error) => {
      if (this.watcher !== worker) return;
      fail(new FlowplaneError("FP_ERR_PORT_WATCH", `port ${this.name}: watcher failed: ${error.message}`));
    });
    this.watcher = worker;
  }

  /** Lets the watcher report readiness again, after a callback that
   * returned false has drained the port. Does nothing when it is armed. */
  rearm(): void {
    const control = this.control;
    if (Atomics.compareExchange(control, 0, WATCH_NOTIFIED, WATCH_ARMED) === WATCH_NOTIFIED) {
      Atomics.notify(control, 0);
    }
  }

  /**
   * Closes the port at once (a tap created without persist disappears).
   * The returned promise settles when the watcher Worker, if any, has
   * exited, at most WATCH_SLICE_MS later; awaiting it is optional.
   */
  close(): Promise<void> {
    if (this.fdValue === -1) return Promise.resolve();
    const fd = this.fdValue;
    this.fdValue = -1;
    const worker = this.watcher;
    this.watcher = null;
    // Stop the watcher before the fd goes: once STOPPED it posts nothing
    // more, even if its poll(2) wakes on a reused fd number.
    Atomics.store(this.control, 0, WATCH_STOPPED);
    Atomics.notify(this.control, 0);
    this.native.close(fd);
    if (worker === null) return Promise.resolve();
    return worker.terminate().then(() => undefined);
  }

  /** Counts an I/O error; anything else (a bad argument) is our bug. */
  private countError(error: unknown): void {
    if (!isNativeSystemError(error)) throw error;
    this.lastError = error;
  }
}
