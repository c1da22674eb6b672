/**
 * Conntrack through the datapath, single thread: 64-byte frames in batches
 * of 32 from memory, each packet of an established connection going through
 * ct(table=1) and its recirculated pass (both cache hits). Part of the
 * `conntrack` suite (the engine-level figures are bench/conntrack.bench.ts):
 *   conntrack/established   pps, ct(zone=1,table=1) then output on +est
 *   conntrack/nat           pps, the same with ct(nat) un/re-NATing every
 *                           packet of an SNATed connection
 * Each figure counts packets received, not passes.
 */
import { Datapath } from "../src/datapath/dpif.js";
import { singleBridge } from "../src/ofproto/load.js";
import type { Switch } from "../src/ofproto/bridge.js";
import { BATCH_MAX } from "../src/limits.js";
import { eth, ipv4, udp } from "../src/packet/build.js";
import { ratePerSecond, runIfMain, type Figure } from "./lib.js";

const SLOT = 128;

interface Batch {
  buf: Uint8Array;
  offsets: Uint32Array;
  lengths: Uint32Array;
  inPorts: Uint32Array;
}

/** 32 UDP frames of 64 bytes, one per connection (source ports 1000..1031). */
function batch(src: string, dst: string, inPort: number, reverse: boolean): Batch {
  const buf = new Uint8Array(SLOT * BATCH_MAX);
  const offsets = new Uint32Array(BATCH_MAX);
  const lengths = new Uint32Array(BATCH_MAX);
  for (let i = 0; i < BATCH_MAX; i++) {
    const ports = reverse ? { src: 2000, dst: 1000 + i } : { src: 1000 + i, dst: 2000 };
    const f = eth({ src: "fa:16:3e:00:00:01", dst: "fa:16:3e:00:00:02", padTo: 64 }, ipv4({ src, dst }, udp(ports, new Uint8Array(18))));
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
  const sw: Switch = singleBridge("bench.flows", [{ name: "p1", ofport: 1 }, { name: "p2", ofport: 2 }], "br0", () => flows);
  const dp = new Datapath(sw, { emcInsertInvProb: 1 });
  const p1 = sw.portsByName.get("p1")!.dpPort;
  const p2 = sw.portsByName.get("p2")!.dpPort;
  const forward = batch("10.0.0.1", "10.0.0.2", p1, false);
  const reply = batch("10.0.0.2", replySrc, p2, true);
  dp.processBatch(forward.buf, forward.offsets, forward.lengths, forward.inPorts, BATCH_MAX, 0, countEmit);
  dp.processBatch(reply.buf, reply.offsets, reply.lengths, reply.inPorts, BATCH_MAX, 0, countEmit);
  for (let i = 0; i < 10; i++) dp.processBatch(forward.buf, forward.offsets, forward.lengths, forward.inPorts, BATCH_MAX, 0, countEmit);
  // Every packet so far went out, and the steady state is all cache hits.
  if (emitted !== 12 * BATCH_MAX) throw new Error(`conntrack bench: ${emitted} of ${12 * BATCH_MAX} packets went out`);
  const misses = dp.stats.misses;
  const rate = await ratePerSecond(() => {
    for (let i = 0; i < 32; i++) dp.processBatch(forward.buf, forward.offsets, forward.lengths, forward.inPorts, BATCH_MAX, 0, countEmit);
  }, 32 * BATCH_MAX);
  if (dp.stats.misses !== misses) throw new Error("conntrack bench: the established path missed the caches");
  emitted = 0;
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
  ];
}

await runIfMain("conntrack", import.meta.url, run);
