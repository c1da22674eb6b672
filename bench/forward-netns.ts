/**
 * The forwarding benchmark's little network: three namespaces it creates,
 * removes afterwards, and never lets traffic out of.
 *
 *   ns <tag>-src                 ns <tag>-sw                     ns <tag>-dst
 *   src0 ══════════ veth ═══════ sw-vsrc ┐            ┌ sw-vdst ═══ veth ═══ dst0
 *                                        ├─ switch ───┤
 *   sw-tsrc (tap, kernel side) ─ tap fd ─┘            └─ tap fd ── sw-tdst (tap)
 *
 * The switch under test (flowplane run, or ovs-vswitchd) runs in ns sw and
 * opens the veth ends with AF_PACKET and creates the two taps; the taps'
 * kernel sides are then moved into ns src and ns dst, so each end of a test
 * sits in a namespace of its own, like a VM's interface.
 *
 * Invariant: everything this file creates is registered with a Cleanup
 * before it exists, and Cleanup runs on return, on an exception, on SIGINT
 * and SIGTERM, and at process exit; removing a namespace removes its veths
 * and taps with it. Namespaces are named after the benchmark's pid, so a
 * later run removes those of a run that was SIGKILLed (staleCleanup).
 * Limits: needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN for `ip netns`) and
 * iproute2 with JSON output (`ip -j`).
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";

/** Namespace names start with this, then the benchmark's pid. */
export const NETNS_PREFIX = "fpfw";

/** Interface names, the same in every run: each lives in a namespace of this run. */
export const IF_SRC_VETH = "src0";
export const IF_DST_VETH = "dst0";
export const IF_SW_VSRC = "sw-vsrc";
export const IF_SW_VDST = "sw-vdst";
export const IF_TAP_SRC = "sw-tsrc";
export const IF_TAP_DST = "sw-tdst";

/** MAC addresses the frames carry: neither is an interface's own, so the
 * receiving kernel counts the frame and drops it at once as "other host"
 * instead of spending the shared CPUs on a UDP lookup and ICMP errors. */
export const MAC_SRC = "02:00:00:00:00:01";
export const MAC_DST = "02:00:00:00:00:02";

export class BenchSetupError extends Error {
  readonly code = "FP_ERR_BENCH_SETUP";
}

/** Runs a command to completion; throws with its stderr when it fails. */
export function run(command: string, args: string[], allowFail = false): string {
  const r = spawnSync(command, args, { encoding: "utf8" });
  if (r.error) throw new BenchSetupError(`cannot run ${command}: ${(r.error as NodeJS.ErrnoException).code ?? r.error.message}`);
  if (r.status !== 0 && !allowFail) {
    throw new BenchSetupError(`${command} ${args.join(" ")}: exit ${r.status}: ${r.stderr.trim().split("\n").slice(-3).join(" / ")}`);
  }
  return r.stdout;
}

const SLEEP_WORD = new Int32Array(new SharedArrayBuffer(4));

/** Blocks the thread: only for cleanup, which must finish before exit. */
export function sleepSync(ms: number): void {
  Atomics.wait(SLEEP_WORD, 0, 0, ms);
}

/** Whether pid runs. A zombie does not: a child of ours stays one until the
 * event loop reaps it, which a synchronous wait here would never let happen. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // /proc/PID/stat: "pid (comm) S ...", comm may hold spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat[stat.lastIndexOf(")") + 2] !== "Z";
  } catch {
    return false;
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; synchronous so Cleanup can use it. */
export function killAndWait(pid: number, graceMs = 3000): void {
  if (pid <= 0 || !alive(pid)) return;
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (alive(pid) && Date.now() < deadline) sleepSync(20);
  if (alive(pid)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Exited between the check and the kill.
    }
    while (alive(pid)) sleepSync(10);
  }
}

/**
 * Undo steps, run last-registered first, each at most once, whatever way
 * the benchmark ends. Steps are synchronous: a signal handler cannot await.
 */
export class Cleanup {
  private readonly steps: { what: string; step: () => void }[] = [];
  private readonly onSignal: (signal: NodeJS.Signals) => void;
  private readonly onExit: () => void;

  constructor() {
    this.onSignal = (signal) => {
      process.stderr.write(`forward: ${signal}: removing the benchmark's namespaces and processes\n`);
      this.runAll();
      process.exit(signal === "SIGINT" ? 130 : 143);
    };
    this.onExit = () => this.runAll();
    process.on("SIGINT", this.onSignal);
    process.on("SIGTERM", this.onSignal);
    process.on("exit", this.onExit);
  }

  add(what: string, step: () => void): void {
    this.steps.push({ what, step });
  }

  /** Runs every step (a failing one is reported, the others still run). */
  runAll(): void {
    while (this.steps.length > 0) {
      const { what, step } = this.steps.pop()!;
      try {
        step();
      } catch (error) {
        process.stderr.write(`forward: cleanup: ${what}: ${(error as Error).message}\n`);
      }
    }
  }

  /** Runs the steps and stops watching for signals. */
  dispose(): void {
    this.runAll();
    process.off("SIGINT", this.onSignal);
    process.off("SIGTERM", this.onSignal);
    process.off("exit", this.onExit);
  }
}

export interface Namespaces {
  src: string;
  sw: string;
  dst: string;
}

export function namespacesFor(tag: string): Namespaces {
  return { src: `${tag}-src`, sw: `${tag}-sw`, dst: `${tag}-dst` };
}

function listNamespaces(): string[] {
  return run("ip", ["netns", "list"], true)
    .split("\n")
    .map((line) => line.split(" ")[0])
    .filter((name) => name !== "");
}

/** Removes namespaces left by an earlier run that was killed outright. */
export function staleCleanup(): string[] {
  const removed: string[] = [];
  for (const ns of listNamespaces()) {
    const m = new RegExp(`^${NETNS_PREFIX}(\\d+)[a-z]*-(src|sw|dst)$`).exec(ns);
    if (m === null || alive(Number(m[1]))) continue;
    run("ip", ["netns", "del", ns], true);
    removed.push(ns);
  }
  return removed;
}

/** Creates the three namespaces and the two veth pairs, all up, no IPv6 chatter. */
export function createNetwork(ns: Namespaces, cleanup: Cleanup): void {
  for (const name of [ns.src, ns.sw, ns.dst]) {
    cleanup.add(`remove namespace ${name}`, () => {
      if (listNamespaces().includes(name)) run("ip", ["netns", "del", name]);
    });
    run("ip", ["netns", "add", name]);
    // Router solicitations and MLD reports would only add noise to the counters.
    run("ip", ["netns", "exec", name, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"]);
    run("ip", ["-n", name, "link", "set", "lo", "up"]);
  }
  run("ip", ["-n", ns.src, "link", "add", IF_SRC_VETH, "type", "veth", "peer", "name", IF_SW_VSRC, "netns", ns.sw]);
  run("ip", ["-n", ns.dst, "link", "add", IF_DST_VETH, "type", "veth", "peer", "name", IF_SW_VDST, "netns", ns.sw]);
  setUp(ns.src, IF_SRC_VETH);
  setUp(ns.dst, IF_DST_VETH);
  setUp(ns.sw, IF_SW_VSRC);
  setUp(ns.sw, IF_SW_VDST);
}

export function setUp(netns: string, ifname: string): void {
  run("ip", ["-n", netns, "link", "set", ifname, "up"]);
}

/** Moves the switch's taps out of ns sw to the ends of the test and brings them up. */
export function moveTaps(ns: Namespaces): void {
  run("ip", ["-n", ns.sw, "link", "set", IF_TAP_SRC, "netns", ns.src]);
  run("ip", ["-n", ns.sw, "link", "set", IF_TAP_DST, "netns", ns.dst]);
  setUp(ns.src, IF_TAP_SRC);
  setUp(ns.dst, IF_TAP_DST);
}

export function interfaceExists(netns: string, ifname: string): boolean {
  return spawnSync("ip", ["-n", netns, "link", "show", "dev", ifname], { stdio: "ignore" }).status === 0;
}

export interface LinkCounters {
  rxPackets: number;
  txPackets: number;
  rxDropped: number;
  txDropped: number;
}

/** The interface's kernel counters (`ip -s link`, 64-bit). */
export function linkCounters(netns: string, ifname: string): LinkCounters {
  const text = run("ip", ["-n", netns, "-j", "-s", "link", "show", "dev", ifname]);
  const parsed = JSON.parse(text) as { stats64: { rx: { packets: number; dropped: number }; tx: { packets: number; dropped: number } } }[];
  const s = parsed[0]?.stats64;
  if (s === undefined) throw new BenchSetupError(`ip -n ${netns} -s link show ${ifname}: no stats64 in its JSON output`);
  return { rxPackets: s.rx.packets, txPackets: s.tx.packets, rxDropped: s.rx.dropped, txDropped: s.tx.dropped };
}

const CLOCK_TICKS_PER_S = 100;

/** CPU seconds (user + system, all threads) process `pid` has used; 0 when it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after "(comm)": state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S;
  } catch {
    return 0;
  }
}
