/**
 * The driver shared by the cache-truth property tests: it runs one sequence of
 * steps (batches of packets, flow additions, flow deletions) through one
 * datapath and records every output. A test runs the same steps twice, once
 * with the caches and once with every packet translated (--no-cache), on two
 * identical switches, and compares the records.
 */
import { expect } from "vitest";
import { Datapath } from "../src/datapath/dpif.js";
import { addFlowSpecs, tableOf, addLearnedFlow } from "../src/ofproto/load.js";
import { parseFlows } from "../src/ofctl/parse-flow.js";
import type { Switch } from "../src/ofproto/bridge.js";

/** One step: a batch of packets, a flow to add, or the index of a rule to delete. */
export type TruthStep<P, A> = { kind: "packets"; packets: P[] } | { kind: "add"; flow: A } | { kind: "del"; index: number };

export interface TruthRun<P extends { port: number }, A> {
  /** A fresh switch with one bridge "br0" and ports named "p<port>". */
  sw: Switch;
  noCache: boolean;
  /** Feed learn() actions back into the bridge's tables, as ofproto does. */
  learn: boolean;
  frameOf: (packet: P) => Uint8Array;
  flowText: (flow: A) => string;
}

/** Tables a deletion step picks its rule from. */
const DELETE_TABLES = [0, 1, 2];
const FRAME_SLOT_SIZE = 128;

/** Runs the steps through one datapath; returns every output as "packet#:port:hex". */
export function runTruthSteps<P extends { port: number }, A>(run: TruthRun<P, A>, steps: TruthStep<P, A>[]): string[] {
  const { sw } = run;
  const br = sw.byName.get("br0")!;
  const dp = new Datapath(sw, { noCache: run.noCache, emcInsertInvProb: 1, onLearn: run.learn ? addLearnedFlow : undefined });
  const batchMax = Math.max(1, ...steps.map((s) => (s.kind === "packets" ? s.packets.length : 0)));
  const buf = new Uint8Array(FRAME_SLOT_SIZE * batchMax);
  const offsets = new Uint32Array(batchMax);
  const lengths = new Uint32Array(batchMax);
  const inPorts = new Uint32Array(batchMax);
  const out: string[] = [];
  let packetNo = 0;
  let now = 1000;
  for (const step of steps) {
    if (step.kind === "add") {
      addFlowSpecs(br, parseFlows(run.flowText(step.flow), "step"));
      continue;
    }
    if (step.kind === "del") {
      const all = DELETE_TABLES.flatMap((t) => tableOf(br, t).rules());
      if (all.length) {
        const r = all[step.index % all.length];
        expect(tableOf(br, r.table).flows.remove(r)).toBe(true);
        br.touch();
      }
      continue;
    }
    step.packets.forEach((p, i) => {
      const f = run.frameOf(p);
      buf.set(f, i * FRAME_SLOT_SIZE);
      offsets[i] = i * FRAME_SLOT_SIZE;
      lengths[i] = f.length;
      inPorts[i] = sw.portsByName.get(`p${p.port}`)!.dpPort;
    });
    const base = packetNo;
    dp.processBatch(buf, offsets, lengths, inPorts, step.packets.length, now, (port, b, off, len) => {
      out.push(`${base + dp.current}:${sw.dpPortName(port)}:${Buffer.from(b.subarray(off, off + len)).toString("hex")}`);
    });
    packetNo += step.packets.length;
    now += 10;
  }
  return out;
}
