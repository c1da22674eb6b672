/**
 * Forwarding between network namespaces, flowplane against Open vSwitch 3.1's
 * userspace datapath, in the same run on the same network (issue #8).
 *
 * bench/forward-netns.ts builds three namespaces joined by veth pairs and
 * taps; bench/forward-switch.ts starts the switch under test in the middle
 * one with flows `in_port=1,actions=output:2` (veth to veth) and
 * `in_port=3,actions=output:4` (tap to tap); bench/forward-trafgen.ts
 * offers trafgen's fastest single-process stream of one UDP frame and
 * counts what the receiving interface saw. Each switch gets the same
 * freshly made network, and it is removed after each (also on an error,
 * SIGINT or SIGTERM).
 *
 * Figures (one trafgen window each; FCS excluded: "64" is a 60-byte frame):
 *   forward/veth-64, veth-1500, tap-64, tap-1500          pps, flowplane
 *   forward/veth-64-ovs, ... tap-1500-ovs                  pps, OVS netdev datapath
 *   forward/veth-64-ratio-vs-ovs, tap-64-ratio-vs-ovs     ratio, flowplane / OVS
 * Progress and each window's offered load go to stderr.
 *
 * Needs root, trafgen (scripts/install-test-deps.sh installs netsniff-ng)
 * and the native addon (npm run build:native); without OVS only the
 * flowplane figures are printed. FORWARD_WINDOW_MS and FORWARD_WARMUP_MS
 * change the window (default 3000) and warm-up (default 1000).
 *
 * The machine this runs on has two vCPUs shared with other work: trafgen
 * takes one, the switch the other, and the figures move by tens of percent
 * from run to run. The ratios compare runs made minutes apart.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nativeAddonPath } from "../src/io/native.js";
import {
  Cleanup,
  IF_DST_VETH,
  IF_SRC_VETH,
  IF_TAP_DST,
  IF_TAP_SRC,
  NETNS_PREFIX,
  createNetwork,
  moveTaps,
  namespacesFor,
  staleCleanup,
} from "./forward-netns.js";
import { FlowplaneSwitch, OvsSwitch, type SwitchUnderTest } from "./forward-switch.js";
import { FRAME_SIZES, measure, type Endpoint } from "./forward-trafgen.js";
import { runIfMain, type Figure } from "./lib.js";

const WINDOW_MS = Number(process.env.FORWARD_WINDOW_MS ?? 3000);
const WARMUP_MS = Number(process.env.FORWARD_WARMUP_MS ?? 1000);

function note(line: string): void {
  process.stderr.write(`forward: ${line}\n`);
}

/** Why the benchmark cannot run here, or null. */
function missing(): string | null {
  if (process.getuid?.() !== 0) return "needs root (it creates network namespaces, veths and taps)";
  // trafgen --version exits 1: only whether it could be started counts.
  if (spawnSync("trafgen", ["--version"], { stdio: "ignore" }).error !== undefined) return "needs trafgen (netsniff-ng; scripts/install-test-deps.sh installs it)";
  if (!existsSync(nativeAddonPath())) return `needs the native addon ${nativeAddonPath()} (npm run build:native)`;
  return null;
}

/** Runs every case on one switch, on a network made for it; figures keyed "veth-64" etc. */
async function runSwitch(sw: SwitchUnderTest, tag: string): Promise<Map<string, number>> {
  const cleanup = new Cleanup();
  const rates = new Map<string, number>();
  const ns = namespacesFor(tag);
  const dir = mkdtempSync(join(tmpdir(), "fpfw-trafgen-"));
  cleanup.add(`remove ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  try {
    createNetwork(ns, cleanup);
    cleanup.add(`stop ${sw.name}`, () => sw.stop());
    try {
      await sw.start(ns, cleanup);
    } catch (error) {
      throw new Error(`${sw.name}: ${(error as Error).message}\n${sw.logTail()}`);
    }
    moveTaps(ns);
    const pairs: { kind: string; from: Endpoint; to: Endpoint }[] = [
      { kind: "veth", from: { netns: ns.src, ifname: IF_SRC_VETH }, to: { netns: ns.dst, ifname: IF_DST_VETH } },
      { kind: "tap", from: { netns: ns.src, ifname: IF_TAP_SRC }, to: { netns: ns.dst, ifname: IF_TAP_DST } },
    ];
    for (const { label, size } of FRAME_SIZES) {
      for (const { kind, from, to } of pairs) {
        const m = await measure(from, to, join(dir, `frame-${size}.cfg`), size, WARMUP_MS, WINDOW_MS, sw.forwardingPid(), cleanup);
        const name = `${kind}-${label}`;
        note(
          `${sw.name} ${name}: offered ${m.offeredPps.toFixed(0)} pps, delivered ${m.deliveredPps.toFixed(0)} pps over ${m.windowS.toFixed(2)} s; ` +
            `switch CPU ${m.switchCpu.toFixed(2)}, ${m.switchCpu > 0 ? (m.deliveredPps / m.switchCpu).toFixed(0) : "-"} delivered per CPU-second`,
        );
        rates.set(name, m.deliveredPps);
      }
    }
  } finally {
    cleanup.dispose();
  }
  return rates;
}

export default async function run(): Promise<Figure[]> {
  const why = missing();
  if (why !== null) {
    note(`skipped: ${why}`);
    return [];
  }
  for (const ns of staleCleanup()) note(`removed namespace ${ns} left by a killed run`);
  const switches: SwitchUnderTest[] = [new FlowplaneSwitch()];
  if (OvsSwitch.available()) switches.push(new OvsSwitch());
  else note("Open vSwitch is not installed: no -ovs figures");
  const results = new Map<string, Map<string, number>>();
  for (let i = 0; i < switches.length; i++) {
    const sw = switches[i];
    note(`${sw.name}: ${WARMUP_MS} ms warm-up, ${WINDOW_MS} ms window per case`);
    results.set(sw.name, await runSwitch(sw, `${NETNS_PREFIX}${process.pid}${"abcdefgh"[i]}`));
  }
  const figures: Figure[] = [];
  const fp = results.get("flowplane")!;
  const ovs = results.get("ovs");
  for (const [name, pps] of fp) figures.push({ name, value: Math.round(pps), unit: "pps" });
  if (ovs !== undefined) {
    for (const [name, pps] of ovs) figures.push({ name: `${name}-ovs`, value: Math.round(pps), unit: "pps" });
    for (const name of ["veth-64", "tap-64"]) {
      const theirs = ovs.get(name)!;
      figures.push({ name: `${name}-ratio-vs-ovs`, value: theirs > 0 ? fp.get(name)! / theirs : 0, unit: "ratio" });
    }
  }
  return figures;
}

await runIfMain("forward", import.meta.url, run);
