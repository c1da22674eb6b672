/**
 * Upcalls intern results by their datapath actions alone: megaflows of
 * different rules with the same actions share one result, while the rules
 * each megaflow credits, and the MACs it keeps fresh, stay its own.
 */
import { describe, it, expect } from "vitest";
import { Datapath } from "./dpif.js";
import { singleBridge, tableOf } from "../ofproto/load.js";
import { eth, ipv4, udp } from "../packet/build.js";
import { BATCH_MAX } from "../limits.js";

const PORTS = [
  { name: "p1", ofport: 1 },
  { name: "p2", ofport: 2 },
];
const FLOWS = [
  "priority=30,udp,nw_src=10.0.0.1,actions=output:2",
  "priority=20,udp,nw_src=10.0.0.2,actions=output:2",
  "priority=10,udp,nw_src=10.0.0.3,actions=output:2",
  "priority=0,actions=drop",
].join("\n");

const frameFrom = (src: string): Uint8Array =>
  eth({ src: "fa:16:3e:00:00:01", dst: "fa:16:3e:00:00:02", padTo: 64 }, ipv4({ src, dst: "10.0.0.9" }, udp({ src: 1000, dst: 2000 }, new Uint8Array(18))));

const SLOT = 128;

/** Sends the frames in order as batches of up to BATCH_MAX on p1; returns how many were output. */
function send(dp: Datapath, inPort: number, frames: Uint8Array[], nowMs: number): number {
  let outs = 0;
  const emit = (): void => {
    outs++;
  };
  for (let at = 0; at < frames.length; at += BATCH_MAX) {
    const n = Math.min(BATCH_MAX, frames.length - at);
    const buf = new Uint8Array(SLOT * n);
    const offsets = new Uint32Array(n);
    const lengths = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      buf.set(frames[at + i], i * SLOT);
      offsets[i] = i * SLOT;
      lengths[i] = frames[at + i].length;
    }
    dp.processBatch(buf, offsets, lengths, new Uint32Array(n).fill(inPort), n, nowMs, emit);
  }
  return outs;
}

describe("upcall results", () => {
  it("credits each rule with its own packets when megaflows of several rules share one result", () => {
    const sw = singleBridge("u.flows", PORTS, "br0", () => FLOWS);
    const dp = new Datapath(sw, { emcInsertInvProb: 1 });
    const inPort = sw.portsByName.get("p1")!.dpPort;
    // Interleaved, so no megaflow's rule is the one installed just before it.
    const order = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.2", "10.0.0.9", "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.2", "10.0.0.9", "10.0.0.2"];
    const frames = order.map(frameFrom);
    expect(send(dp, inPort, frames, 0)).toBe(9);
    expect(dp.stats.misses).toBe(4);
    // The three output megaflows hold one shared action list; the drop megaflow its own.
    const actions = dp.megaflows.ids().map((id) => dp.flowInfo(id)!.actions);
    expect(new Set(actions).size).toBe(2);
    // Again through the caches, twice: statistics come back through pushStats.
    expect(send(dp, inPort, frames, 1)).toBe(9);
    expect(send(dp, inPort, frames, 2)).toBe(9);
    expect(dp.stats.misses).toBe(4);
    dp.pushStats();
    const counts = new Map<number, number>();
    const bytes = new Map<number, number>();
    for (const r of tableOf(sw.bridges[0], 0).rules()) {
      counts.set(r.priority, r.nPackets);
      bytes.set(r.priority, r.nBytes);
    }
    const sent = (src: string): number => order.filter((s) => s === src).length * 3;
    expect(Object.fromEntries(counts)).toEqual({ 30: sent("10.0.0.1"), 20: sent("10.0.0.2"), 10: sent("10.0.0.3"), 0: sent("10.0.0.9") });
    expect(bytes.get(20)).toBe(sent("10.0.0.2") * frames[1].length);
  });

  it("keeps crediting the right rules after megaflows are removed and their ids reused", () => {
    const sw = singleBridge("u.flows", PORTS, "br0", () => FLOWS);
    const dp = new Datapath(sw, { emcInsertInvProb: 0 });
    const inPort = sw.portsByName.get("p1")!.dpPort;
    send(dp, inPort, [frameFrom("10.0.0.1"), frameFrom("10.0.0.2")], 0);
    dp.flushCaches();
    // The freed ids now go to other rules' megaflows.
    send(dp, inPort, [frameFrom("10.0.0.3"), frameFrom("10.0.0.3"), frameFrom("10.0.0.1")], 1);
    dp.flushCaches();
    const counts: Record<number, number> = {};
    for (const r of tableOf(sw.bridges[0], 0).rules()) counts[r.priority] = r.nPackets;
    expect(counts).toEqual({ 30: 2, 20: 1, 10: 2, 0: 0 });
  });
});
