/**
 * Offered load and delivered count for one forwarding figure: trafgen
 * (netsniff-ng) sends one UDP frame over and over, as fast as it can, into
 * the source interface; the figure is how many frames the destination
 * interface's kernel counters saw arrive per second, over a window that
 * starts after a warm-up (so the switch's first upcall and queue filling
 * are not in it).
 *
 * Frame sizes are without the 4-byte FCS, which neither a veth nor a tap
 * carries: "64" is a 60-byte frame (64 on an Ethernet wire), "1500" is a
 * 1514-byte frame, a 1500-byte IPv4 packet (1518 on a wire).
 * trafgen runs as one process (-P 1), with its TX_RING on the interface;
 * it does not touch the machine's socket memory sysctls or IRQ affinity.
 */
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { build } from "../src/packet/build.js";
import { BenchSetupError, MAC_DST, MAC_SRC, cpuSeconds, linkCounters, type Cleanup, type LinkCounters } from "./forward-netns.js";

/** Frame sizes the figures are named after, and their size without FCS. */
export const FRAME_SIZES = [
  { label: "64", size: 60 },
  { label: "1500", size: 1514 },
] as const;

const ETH_IPV4_UDP_HEADERS_SIZE = 14 + 20 + 8;

/** trafgen's packet configuration: the frame as a byte list. */
export function trafgenConfig(size: number): string {
  const payload = new Uint8Array(size - ETH_IPV4_UDP_HEADERS_SIZE);
  const frame = build.eth(
    { src: MAC_SRC, dst: MAC_DST },
    build.ipv4({ src: "10.99.0.1", dst: "10.99.0.2" }, build.udp({ src: 1024, dst: 9 }, payload)),
  );
  if (frame.length !== size) throw new BenchSetupError(`built a ${frame.length}-byte frame, wanted ${size}`);
  return `{ ${Array.from(frame, (b) => `0x${b.toString(16).padStart(2, "0")}`).join(", ")} }\n`;
}

export interface Endpoint {
  netns: string;
  ifname: string;
}

export interface Measurement {
  /** Frames per second the destination received. */
  deliveredPps: number;
  /** Frames per second the source sent (what the switch was offered). */
  offeredPps: number;
  windowS: number;
  /** CPU seconds per second the switch process used over the window (1 = one CPU). */
  switchCpu: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function sample(from: Endpoint, to: Endpoint, switchPid: number): { atS: number; src: LinkCounters; dst: LinkCounters; cpuS: number } {
  // Each read is one `ip` process (a few ms): time it from its middle.
  const before = performance.now();
  const dst = linkCounters(to.netns, to.ifname);
  const src = linkCounters(from.netns, from.ifname);
  return { atS: (before + performance.now()) / 2000, src, dst, cpuS: cpuSeconds(switchPid) };
}

/**
 * Runs trafgen on `from` for warmupMs + windowMs and returns the rates over
 * the window. trafgen is stopped (SIGINT, as its "Hang up with ^C" expects)
 * before this returns, also when it throws.
 */
export async function measure(
  from: Endpoint,
  to: Endpoint,
  configFile: string,
  frameSize: number,
  warmupMs: number,
  windowMs: number,
  switchPid: number,
  cleanup: Cleanup,
): Promise<Measurement> {
  writeFileSync(configFile, trafgenConfig(frameSize));
  // trafgen forks its sender, and a SIGINT reaches the sender only when sent
  // to both (as ^C in a terminal does): so it gets a process group of its
  // own, and the signal goes to the group.
  const child = spawn("ip", ["netns", "exec", from.netns, "trafgen", "--dev", from.ifname, "--conf", configFile, "--cpus", "1", "--no-sock-mem", "--notouch-irq", "--no-cpu-stats"], {
    stdio: ["ignore", "ignore", "pipe"],
    detached: true,
  });
  const group = child.pid ?? -1;
  const stop = (): void => {
    if (group > 0) {
      try {
        process.kill(-group, "SIGINT");
      } catch {
        // The group is gone already.
      }
    }
  };
  cleanup.add(`stop trafgen (process group ${group})`, stop);
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  let exited = false;
  const done = new Promise<void>((resolve) => child.on("close", () => {
    exited = true;
    resolve();
  }));
  try {
    await sleep(warmupMs);
    if (exited) throw new BenchSetupError(`trafgen on ${from.ifname} exited early: ${stderr.trim()}`);
    const first = sample(from, to, switchPid);
    await sleep(windowMs);
    const last = sample(from, to, switchPid);
    if (exited) throw new BenchSetupError(`trafgen on ${from.ifname} exited during the window: ${stderr.trim()}`);
    const windowS = last.atS - first.atS;
    return {
      deliveredPps: (last.dst.rxPackets - first.dst.rxPackets) / windowS,
      offeredPps: (last.src.txPackets - first.src.txPackets) / windowS,
      windowS,
      switchCpu: (last.cpuS - first.cpuS) / windowS,
    };
  } finally {
    if (!exited) stop();
    await done;
  }
}
