/**
 * Conntrack through the datapath, single thread: 64-byte frames in batches
 * of 32 from memory, each packet of an established connection going through
 * ct(table=1) and its recirculated pass (both cache hits). Part of the
 * `conntrack` suite (the engine-level figures are bench/conntrack.bench.ts):
 *   conntrack/established   pps, ct(zone=1,table=1) then output on +est
 *   conntrack/nat           pps, the same with ct(nat) un/re-NATing every
 *                           packet of an SNATed connection
 *   conntrack/established-tcp  pps, the plain table with 32 TCP connections
 *                           after their handshakes: every packet an in-window
 *                           ACK through the TCP state machine
 * The first two send UDP (a connection is +est once a reply was seen).
 * Each figure counts packets received, not passes.
 */
import { Datapath } from "../src/datapath/dpif.js";
import { singleBridge } from "../src/ofproto/load.js";
import type { Switch } from "../src/ofproto/bridge.js";
import { BATCH_MAX } from "../src/limits.js";
import { eth, ipv4, tcp, udp } from "../src/packet/build.js";
import { ratePerSecond, runIfMain, type Figure } from "./lib.js";

const SLOT = 128;

interface Batch {
  buf: Uint8Array;
  offsets: Uint32Array;
  lengths: Uint32Array;
  inPorts: Uint32Array;
}

/** TCP segment fields of one batch (the same for its 32 connections). */
interface TcpSegment {
  flags: string;
  seq: number;
  ack: number;
}

/** 32 frames of 64 bytes, one per connection (source ports 1000..1031): UDP, or TCP segments as given. */
function batch(src: string, dst: string, inPort: number, reverse: boolean, seg?: TcpSegment): Batch {
  const buf = new Uint8Array(SLOT * BATCH_MAX);
  const offsets = new Uint32Array(BATCH_MAX);
  const lengths = new Uint32Array(BATCH_MAX);
  for (let i = 0; i < BATCH_MAX; i++) {
    const ports = reverse ? { src: 2000, dst: 1000 + i } : { src: 1000 + i, dst: 2000 };
    const l4 = seg === undefined ? udp(ports, new Uint8Array(18)) : tcp({ ...ports, flags: seg.flags, seq: seg.seq, ack: seg.ack, window: 65535 });
    const f = eth({ src: "fa:16:3e:00:00:01", dst: "fa:16:3e:00:00:02", padTo: 64 }, ipv4({ src, dst }, l4));
    buf.set(f, i * SLOT);
    offsets[i] = i * SLOT;
    lengths[i] = f.length;
  }
  return { buf, offsets, lengths, inPorts: new Uint32Array(BATCH_MAX).fill(inPort) };
}

let emitted = 0;
const countEmit = (): void => {
  emitted++;
};

/** Packets/s of `forward` once each connection has seen a reply (UDP is +est only then). */
async function established(flows: string, replySrc: string): Promise<number> {
  const forward = batch("10.0.0.1", "10.0.0.2", 1, false);
  const reply = batch("10.0.0.2", replySrc, 2, true);
  return steadyRate(flows, [forward, reply], forward);
}

/** Packets/s of in-window ACKs of 32 TCP connections whose handshakes went through first. */
async function establishedTcp(flows: string): Promise<number> {
  const syn = batch("10.0.0.1", "10.0.0.2", 1, false, { flags: "S", seq: 1000, ack: 0 });
  const synAck = batch("10.0.0.2", "10.0.0.1", 2, true, { flags: "SA", seq: 5000, ack: 1001 });
  const ack = batch("10.0.0.1", "10.0.0.2", 1, false, { flags: "A", seq: 1001, ack: 5001 });
  return steadyRate(flows, [syn, synAck], ack);
}

/**
 * Runs the `setup` batches, then `steady` ten times (all must go out, the
 * last ones as cache hits), then measures `steady` alone. Ports 1 and 2 of
 * the batches are p1 and p2 (their datapath ports are those numbers here).
 */
async function steadyRate(flows: string, setup: Batch[], steady: Batch): Promise<number> {
  const sw: Switch = singleBridge("bench.flows", [{ name: "p1", ofport: 1 }, { name: "p2", ofport: 2 }], "br0", () => flows);
  const dp = new Datapath(sw, { emcInsertInvProb: 1 });
  for (const b of [...setup, steady]) for (let i = 0; i < BATCH_MAX; i++) b.inPorts[i] = sw.portsByName.get(b.inPorts[i] === 1 ? "p1" : "p2")!.dpPort;
  emitted = 0;
  for (const b of setup) dp.processBatch(b.buf, b.offsets, b.lengths, b.inPorts, BATCH_MAX, 0, countEmit);
  for (let i = 0; i < 10; i++) dp.processBatch(steady.buf, steady.offsets, steady.lengths, steady.inPorts, BATCH_MAX, 0, countEmit);
  // Every packet so far went out, and the steady state is all cache hits.
  const sent = (setup.length + 10) * BATCH_MAX;
  if (emitted !== sent) throw new Error(`conntrack bench: ${emitted} of ${sent} packets went out`);
  const misses = dp.stats.misses;
  const rate = await ratePerSecond(() => {
    for (let i = 0; i < 32; i++) dp.processBatch(steady.buf, steady.offsets, steady.lengths, steady.inPorts, BATCH_MAX, 0, countEmit);
  }, 32 * BATCH_MAX);
  if (dp.stats.misses !== misses) throw new Error("conntrack bench: the established path missed the caches");
  return rate;
}

export default async function run(): Promise<Figure[]> {
  const plain = [
    "table=0,priority=10,ip,ct_state=-trk,actions=ct(table=1,zone=1)",
    "table=1,priority=10,ip,ct_state=+trk+new,actions=ct(commit,zone=1),output:2",
    "table=1,priority=10,ip,ct_state=+trk+est,in_port=1,actions=output:2",
    "table=1,priority=10,ip,ct_state=+trk+est,in_port=2,actions=output:1",
  ].join("\n");
  const nat = [
    "table=0,priority=10,ip,ct_state=-trk,actions=ct(table=1,zone=1,nat)",
    "table=1,priority=10,ip,ct_state=+trk+new,in_port=1,actions=ct(commit,zone=1,nat(src=172.16.0.1)),output:2",
    "table=1,priority=10,ip,ct_state=+trk+est,in_port=1,actions=output:2",
    "table=1,priority=10,ip,ct_state=+trk+est,in_port=2,actions=output:1",
  ].join("\n");
  return [
    { name: "established", value: await established(plain, "10.0.0.1"), unit: "pps" },
    { name: "nat", value: await established(nat, "172.16.0.1"), unit: "pps" },
    { name: "established-tcp", value: await establishedTcp(plain), unit: "pps" },
  ];
}

await runIfMain("conntrack", import.meta.url, run);
