/**
 * The OVS side of the tunnel differentials: a sandbox per describe block, and
 * injecting frames and collecting what OVS sent out of its ports (tx_pcap).
 * Kept apart from fixture.ts, which the benchmarks import without vitest.
 */
import { beforeAll, afterAll } from "vitest";
import { existsSync, readFileSync } from "node:fs";
import { OvsSandbox } from "../ovs/harness.js";
import { parseCapture } from "../../src/io/pcap.js";
import type { PortFrame } from "./fixture.js";

/**
 * For a describe block: starts an OVS sandbox before its tests (dummy ports at
 * "system" level, which native tunnels need), sets it up, stops it after them.
 * Returns the sandbox's getter, valid inside the tests.
 */
export function tunnelSandbox(setup: (ovs: OvsSandbox) => Promise<void>): () => OvsSandbox {
  let ovs: OvsSandbox | undefined;
  beforeAll(async () => {
    ovs = await OvsSandbox.start({ dummyLevel: "system" });
    await setup(ovs);
  }, 60_000);
  afterAll(async () => {
    await ovs?.stop();
  });
  return () => ovs!;
}

/** The frames OVS has sent out of a port so far (its tx_pcap), hex. */
export function ovsTxFrames(ovs: OvsSandbox, port: string): string[] {
  const path = ovs.readTxPcap(port);
  if (!existsSync(path)) return [];
  const buf = readFileSync(path);
  const cap = parseCapture(buf, path);
  const out: string[] = [];
  for (let i = 0; i < cap.count; i++) out.push(buf.subarray(cap.offsets[i], cap.offsets[i] + cap.lengths[i]).toString("hex"));
  return out;
}

const txCounts = (ovs: OvsSandbox, ports: string[]): string => ports.map((p) => ovsTxFrames(ovs, p).length).join(",");
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Injects the frames one at a time, each after the previous one's outputs
 * appeared (or 1 s passed), so learn() and MAC learning see them in order;
 * returns everything sent out of the ports, hex.
 */
export async function ovsReceiveInOrder(ovs: OvsSandbox, inputs: PortFrame[], ports: string[]): Promise<Record<string, string[]>> {
  for (const i of inputs) {
    const before = txCounts(ovs, ports);
    await ovs.receive(i.port, Buffer.from(i.frame).toString("hex"));
    for (let n = 0; n < 20; n++) {
      await sleep(50);
      if (txCounts(ovs, ports) !== before) break;
    }
    await sleep(100);
  }
  return Object.fromEntries(ports.map((p) => [p, ovsTxFrames(ovs, p)]));
}

/** Injects all the frames, waits until the ports' outputs stop growing; returns what was sent since, hex. */
export async function ovsReceiveAll(ovs: OvsSandbox, inputs: PortFrame[], ports: string[]): Promise<Record<string, string[]>> {
  const before = Object.fromEntries(ports.map((p) => [p, ovsTxFrames(ovs, p).length]));
  for (const i of inputs) await ovs.receive(i.port, Buffer.from(i.frame).toString("hex"));
  let last = "";
  for (let n = 0; n < 50; n++) {
    await sleep(100);
    const sizes = txCounts(ovs, ports);
    if (sizes === last && n > 2) break;
    last = sizes;
  }
  return Object.fromEntries(ports.map((p) => [p, ovsTxFrames(ovs, p).slice(before[p])]));
}
