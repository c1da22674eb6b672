/**
 * Forwarding between network namespaces, flowplane against Open vSwitch 3.1's
 * userspace datapath, in the same run on the same network (issue #8).
 *
 * bench/forward-netns.ts builds three namespaces joined by veth pairs and
 * taps; bench/forward-switch.ts starts the switch under test in the middle
 * one with flows `in_port=1,actions=output:2` (veth to veth) and
 * `in_port=3,actions=output:4` (tap to tap); bench/forward-trafgen.ts
 * offers trafgen's fastest single-process stream of one UDP frame and
 * counts what the receiving interface saw. Each switch gets a network of
 * the same shape, made for this run and removed at its end (also on an
 * error, SIGINT or SIGTERM).
 *
 * Both switches stay up, each on a network of its own, and the cases
 * alternate between them (see measureAll). Figures, each the median of
 * FORWARD_ROUNDS (default 3) trafgen windows; FCS excluded, so "64" is a
 * 60-byte frame:
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
 * What limits the figures: trafgen and the switch share the machine's CPUs
 * (and, where this was written, two vCPUs with other work), so a figure is
 * how much CPU the switch got times how many frames it moves per
 * CPU-second; stderr shows both for every window. Most of a switch's time
 * is the kernel's: copying each frame in and out of the sockets and
 * delivering it to the receiving namespace, which runs on the switch's CPU.
 * The I/O differs on one point: flowplane receives from a veth through a
 * TPACKET_V2 ring (native/src/ring.rs), where OVS's netdev-linux calls
 * recvmmsg(2); both send with sendmmsg(2), and both read and write taps one
 * frame per system call.
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
  type Namespaces,
} from "./forward-netns.js";
import { FlowplaneSwitch, OvsSwitch, type SwitchUnderTest } from "./forward-switch.js";
import { FRAME_SIZES, measure, type Endpoint } from "./forward-trafgen.js";
import { runIfMain, type Figure } from "./lib.js";

const WINDOW_MS = Number(process.env.FORWARD_WINDOW_MS ?? 3000);
const WARMUP_MS = Number(process.env.FORWARD_WARMUP_MS ?? 1000);
const ROUNDS = Number(process.env.FORWARD_ROUNDS ?? 3);

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

interface Case {
  /** "veth-64" etc. */
  name: string;
  kind: "veth" | "tap";
  size: number;
}

const CASES: Case[] = FRAME_SIZES.flatMap(({ label, size }) =>
  (["veth", "tap"] as const).map((kind) => ({ name: `${kind}-${label}`, kind, size })),
);

function endpoints(ns: Namespaces, kind: Case["kind"]): { from: Endpoint; to: Endpoint } {
  return kind === "veth"
    ? { from: { netns: ns.src, ifname: IF_SRC_VETH }, to: { netns: ns.dst, ifname: IF_DST_VETH } }
    : { from: { netns: ns.src, ifname: IF_TAP_SRC }, to: { netns: ns.dst, ifname: IF_TAP_DST } };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Every switch runs on a network of its own for the whole benchmark, idle
 * but for the case being measured; the cases alternate between them, and
 * so do the rounds (flowplane first in even rounds, OVS first in odd ones),
 * so that a change in the machine's load weighs on both alike. A figure is
 * the median of its rounds.
 */
async function measureAll(switches: SwitchUnderTest[], cleanup: Cleanup): Promise<Map<string, Map<string, number>>> {
  const dir = mkdtempSync(join(tmpdir(), "fpfw-trafgen-"));
  cleanup.add(`remove ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  const networks: Namespaces[] = [];
  for (let i = 0; i < switches.length; i++) {
    const sw = switches[i];
    const ns = namespacesFor(`${NETNS_PREFIX}${process.pid}${"abcdefgh"[i]}`);
    createNetwork(ns, cleanup);
    cleanup.add(`stop ${sw.name}`, () => sw.stop());
    try {
      await sw.start(ns, cleanup);
    } catch (error) {
      throw new Error(`${sw.name}: ${(error as Error).message}\n${sw.logTail()}`);
    }
    moveTaps(ns);
    networks.push(ns);
  }
  const samples = new Map<string, Map<string, number[]>>();
  for (const sw of switches) samples.set(sw.name, new Map(CASES.map((c) => [c.name, [] as number[]])));
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of CASES) {
      for (let k = 0; k < switches.length; k++) {
        const i = round % 2 === 0 ? k : switches.length - 1 - k;
        const sw = switches[i];
        const { from, to } = endpoints(networks[i], c.kind);
        const m = await measure(from, to, join(dir, `frame-${c.size}.cfg`), c.size, WARMUP_MS, WINDOW_MS, sw.forwardingPid(), cleanup);
        note(
          `round ${round + 1}/${ROUNDS} ${sw.name} ${c.name}: offered ${m.offeredPps.toFixed(0)} pps, delivered ${m.deliveredPps.toFixed(0)} pps ` +
            `over ${m.windowS.toFixed(2)} s; switch CPU ${m.switchCpu.toFixed(2)}, ` +
            `${m.switchCpu > 0 ? (m.deliveredPps / m.switchCpu).toFixed(0) : "-"} delivered per CPU-second`,
        );
        samples.get(sw.name)!.get(c.name)!.push(m.deliveredPps);
      }
    }
  }
  const rates = new Map<string, Map<string, number>>();
  for (const [name, byCase] of samples) rates.set(name, new Map([...byCase].map(([c, values]) => [c, median(values)])));
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
  note(`${switches.map((s) => s.name).join(" and ")}: ${ROUNDS} rounds of ${CASES.length} cases, ${WARMUP_MS} ms warm-up and ${WINDOW_MS} ms window each`);
  const cleanup = new Cleanup();
  let results: Map<string, Map<string, number>>;
  try {
    results = await measureAll(switches, cleanup);
  } finally {
    cleanup.dispose();
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
