/**
 * Conntrack engine throughput and memory, single thread, frames from memory
 * in batches of 32, straight into Conntrack.execute (no datapath, no
 * recirculation: the datapath-level figures conntrack/established and
 * conntrack/nat belong to the integration). Figures:
 *   conntrack/new-conn                conn/s, every packet a new TCP SYN, ct(commit), table pre-sized (connsInitial)
 *   conntrack/engine-established      pps, ACKs of 1000 established TCP connections, both directions, ct()
 *   conntrack/engine-nat              pps, the same connections SNATed, ct(nat) both ways (each packet rewritten)
 *   conntrack/bytes-per-conn          B, (heap + ArrayBuffer growth) / connections with 1,000,000 UDP connections
 * Each batch starts from the same frames and keys (copied in before the
 * batch, included in the time), as a datapath hands fresh packets over.
 * Rates are per CPU-second of the process (process.cpuUsage, user + system,
 * GC included) rather than per wall-clock second: the machine is shared, and
 * other load would otherwise lower them by an unknown factor.
 */
import { Conntrack } from "../src/conntrack/conntrack.js";
import type { CtRequest, NatRequest } from "../src/conntrack/api.js";
import { BATCH_MAX } from "../src/limits.js";
import { HDR_L3, HDR_L4, HDR_WORDS, Parser } from "../src/packet/parse.js";
import { KEY_WORDS, W_NW_SRC } from "../src/flow/layout.js";
import { csumReplace32 } from "../src/packet/checksum.js";
import { eth, ipv4, tcp, udp } from "../src/packet/build.js";
import { gcFunction, runIfMain, type Figure } from "./lib.js";

const SLOT = 128;
const parser = new Parser();

function req(opts: Partial<CtRequest>): CtRequest {
  return { zone: 1, commit: false, force: false, mark: null, label: null, nat: null, alg: 0, ...opts };
}

/** Frames laid out SLOT bytes apart, parsed once into template keys. */
class Frames {
  readonly count: number;
  readonly template: Uint8Array;
  readonly buf: Uint8Array;
  readonly lengths: Uint32Array;
  readonly keysTemplate: Uint32Array;
  readonly keys: Uint32Array;
  readonly l3: Uint16Array;
  readonly l4: Uint16Array;

  constructor(frames: Uint8Array[]) {
    this.count = frames.length;
    this.template = new Uint8Array(SLOT * frames.length);
    this.lengths = new Uint32Array(frames.length);
    this.keysTemplate = new Uint32Array(KEY_WORDS * frames.length);
    this.l3 = new Uint16Array(frames.length);
    this.l4 = new Uint16Array(frames.length);
    const hdrs = new Uint16Array(HDR_WORDS);
    frames.forEach((f, i) => {
      this.template.set(f, i * SLOT);
      this.lengths[i] = f.length;
      parser.parseFrame(f, 0, f.length, 1, this.keysTemplate, i * KEY_WORDS, hdrs, 0);
      this.l3[i] = hdrs[HDR_L3];
      this.l4[i] = hdrs[HDR_L4];
    });
    this.buf = this.template.slice();
    this.keys = this.keysTemplate.slice();
  }

  /** Runs frames [first, first + n) through the engine, from fresh copies. */
  run(ct: Conntrack, first: number, n: number, request: CtRequest, nowMs: number): void {
    this.buf.set(this.template.subarray(first * SLOT, (first + n) * SLOT), first * SLOT);
    this.keys.set(this.keysTemplate.subarray(first * KEY_WORDS, (first + n) * KEY_WORDS), first * KEY_WORDS);
    for (let i = first; i < first + n; i++) {
      ct.execute(this.buf, i * SLOT, this.lengths[i], this.l3[i], this.l4[i], this.keys, i * KEY_WORDS, request, nowMs);
    }
  }
}

const ip = (n: number): string => `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
const mac = { src: "fa:16:3e:00:00:01", dst: "fa:16:3e:00:00:02", padTo: 64 };

function tcpFrame(src: string, sport: number, dst: string, dport: number, flags: string, seq: number, ack: number): Uint8Array {
  return eth(mac, ipv4({ src, dst }, tcp({ src: sport, dst: dport, flags, seq, ack, window: 65535 })));
}

/** 1000 established connections; frames alternate orig/reply ACKs. */
function established(nat: NatRequest | null): { engine: Conntrack; frames: Frames; request: CtRequest } {
  const conns = 1000;
  const engine = new Conntrack();
  const setup = req({ commit: true, nat });
  const natReq = nat === null ? null : ({ ...nat, kind: null, family: 0, addrMin: 0n, addrMax: 0n, portMin: 0, portMax: 0 } as NatRequest);
  const after = req({ nat: natReq });
  const replyDst = (i: number): string => (nat === null ? ip(i + 1) : "192.0.2.1");
  const handshake: Uint8Array[] = [];
  for (let i = 0; i < conns; i++) {
    handshake.push(tcpFrame(ip(i + 1), 20000 + i, "192.168.0.1", 80, "S", 1000, 0));
  }
  new Frames(handshake).run(engine, 0, conns, setup, 0);
  const synAcks = Array.from({ length: conns }, (_, i) => tcpFrame("192.168.0.1", 80, replyDst(i), 20000 + i, "SA", 5000, 1001));
  new Frames(synAcks).run(engine, 0, conns, after, 0);
  const traffic: Uint8Array[] = [];
  for (let i = 0; i < conns; i++) {
    traffic.push(tcpFrame(ip(i + 1), 20000 + i, "192.168.0.1", 80, "A", 1001, 5001));
    traffic.push(tcpFrame("192.168.0.1", 80, replyDst(i), 20000 + i, "A", 5001, 1001));
  }
  const frames = new Frames(traffic);
  return { engine, frames, request: after };
}

function bytesPerConn(): { bytes: number; tableBytes: number } {
  const gc = gcFunction();
  const count = 1_000_000;
  const f = eth(mac, ipv4({ src: "10.0.0.1", dst: "192.168.0.1" }, udp({ src: 5000, dst: 53, checksum: 0 }, new Uint8Array(18))));
  const key = new Uint32Array(KEY_WORDS);
  const hdrs = new Uint16Array(HDR_WORDS);
  parser.parseFrame(f, 0, f.length, 1, key, 0, hdrs, 0);
  const keyTemplate = key.slice();
  const commit = req({ commit: true });
  gc();
  const before = process.memoryUsage();
  const engine = new Conntrack();
  for (let i = 0; i < count; i++) {
    // A new source address each time: patch the IPv4 header and its checksum in place (UDP has no checksum).
    csumReplace32(f, hdrs[HDR_L3] + 10, hdrs[HDR_L3] + 12, (0x0a000000 + i + 1) >>> 0);
    key.set(keyTemplate);
    key[W_NW_SRC] = (0x0a000000 + i + 1) >>> 0;
    engine.execute(f, 0, f.length, hdrs[HDR_L3], hdrs[HDR_L4], key, 0, commit, 0);
  }
  gc();
  const after = process.memoryUsage();
  if (engine.stats().connections !== count) throw new Error(`bench setup: ${engine.stats().connections} connections`);
  // memoryUsage().arrayBuffers lags behind large typed arrays: count the table's own.
  const used = after.heapUsed - before.heapUsed + engine.table.byteSize();
  return { bytes: used / count, tableBytes: engine.table.byteSize() / count };
}

const SNAT: NatRequest = { kind: "src", family: 4, addrMin: 0xc0000201n, addrMax: 0xc0000201n, portMin: 0, portMax: 0, persistent: false, hash: false, random: false };

/** Packets per CPU-second of ACKs through established connections (checked +est, and translated with NAT). */
export function establishedCpuRate(nat: boolean, packets = 4_000_000): number {
  const { engine, frames, request } = established(nat ? SNAT : null);
  frames.run(engine, 0, frames.count, request, 1);
  for (let i = 0; i < frames.count; i++) {
    const state = frames.keys[i * KEY_WORDS + 5] & 0xff;
    if (!(state & 0x02) || (nat && !(state & 0xc0))) throw new Error(`bench setup: packet ${i} has ct_state 0x${state.toString(16)}`);
  }
  let next = 0;
  const t0 = process.cpuUsage();
  for (let n = 0; n < packets; n += BATCH_MAX) {
    if (next + BATCH_MAX > frames.count) next = 0;
    frames.run(engine, next, BATCH_MAX, request, 2);
    next += BATCH_MAX;
  }
  const t = process.cpuUsage(t0);
  return packets / ((t.user + t.system) / 1e6);
}

/** New connections per CPU-second: 4 rounds of 131072 SYNs, flushed between rounds. */
export function newConnCpuRate(): number {
  const total = 1 << 17;
  const frames = new Frames(Array.from({ length: total }, (_, i) => tcpFrame(ip(i + 1), 10000 + (i & 1023), "192.168.0.1", 80, "S", i, 0)));
  const engine = new Conntrack({ connsInitial: total });
  const commit = req({ commit: true });
  const t0 = process.cpuUsage();
  for (let round = 0; round < 4; round++) {
    engine.flush();
    for (let next = 0; next < total; next += BATCH_MAX) frames.run(engine, next, BATCH_MAX, commit, 0);
  }
  const t = process.cpuUsage(t0);
  return (4 * total) / ((t.user + t.system) / 1e6);
}

export default async function run(): Promise<Figure[]> {
  const figures: Figure[] = [];
  // Warm up (JIT) once, then measure.
  establishedCpuRate(false, 400_000);
  figures.push({ name: "new-conn", value: Math.round(newConnCpuRate()), unit: "conn/s" });
  figures.push({ name: "engine-established", value: Math.round(establishedCpuRate(false)), unit: "pps" });
  figures.push({ name: "engine-nat", value: Math.round(establishedCpuRate(true)), unit: "pps" });
  const mem = bytesPerConn();
  figures.push({ name: "bytes-per-conn", value: Math.round(mem.bytes), unit: "B" });
  return figures;
}

await runIfMain("conntrack", import.meta.url, run);
