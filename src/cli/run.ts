/**
 * `flowplane run`: the switch of a topology file, live. Attaches tap,
 * afpacket, pcap-in and pcap-out ports, forwards between them until SIGINT
 * or SIGTERM, and answers the control socket (src/daemon/protocol.ts) that
 * `flowplane add-flow --target SOCKET` and friends talk to.
 *
 * On SIGINT/SIGTERM it stops reading, flushes the pcap outputs, closes the
 * ports (taps it created disappear), removes the socket and exits 0.
 * FLOWPLANE_NATIVE_ADDON, when set, is the path the native addon is loaded
 * from (for tests and unusual installs).
 */
import type { Command } from "commander";
import { basename } from "node:path";
import type { Server } from "node:http";
import { UsageError } from "../errors.js";
import { setNativeAddonPath } from "../io/native.js";
import { loadTopology } from "../ofproto/load.js";
import { Daemon } from "../daemon/daemon.js";
import { ControlServer } from "../daemon/control-server.js";
import { startMetrics } from "../daemon/metrics.js";
import { parseIntOption } from "./flows.js";

export const CONTROL_DIR_DEFAULT = "/run/flowplane";

/** /run/flowplane/<topology name without .json>.sock */
export function defaultControlPath(topologyFile: string): string {
  return `${CONTROL_DIR_DEFAULT}/${basename(topologyFile).replace(/\.json$/, "")}.sock`;
}

export interface RunOptions {
  topology: string;
  control?: string;
  metricsPort?: number;
  /** Megaflow max-idle in ms (OVS other_config:max-idle). */
  maxIdleMs?: number;
  /** Called once the switch runs (tests, lab). */
  onReady?: (info: { control: string }) => void;
}

/** Runs until SIGINT or SIGTERM; resolves after everything is cleaned up. */
export async function runSwitch(opts: RunOptions): Promise<void> {
  const addon = process.env.FLOWPLANE_NATIVE_ADDON;
  if (addon !== undefined && addon !== "") setNativeAddonPath(addon);
  const sw = loadTopology(opts.topology);
  const controlPath = opts.control ?? defaultControlPath(opts.topology);
  const daemon = new Daemon(sw, { idleMs: opts.maxIdleMs });
  let stopRequested: () => void = () => {};
  const stopped = new Promise<void>((resolve) => {
    stopRequested = resolve;
  });
  const onSignal = (): void => stopRequested();
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const control = new ControlServer(controlPath, { daemon, topologyFile: opts.topology });
  let metrics: Server | null = null;
  try {
    await daemon.attach();
    await control.listen();
    if (opts.metricsPort !== undefined) metrics = await startMetrics(daemon, opts.metricsPort);
    daemon.start((error) => process.stderr.write(`flowplane: ${error.message}\n`));
    const attached = daemon.attachments.filter((a) => a.device !== "").map((a) => `${a.port.name}=${a.port.type}:${a.device}`);
    process.stdout.write(
      `flowplane run: ${opts.topology}: ${attached.length ? attached.join(" ") : "no live ports"}; control ${controlPath}` +
        `${metrics ? `; metrics http://127.0.0.1:${opts.metricsPort}/metrics` : ""}; pid ${process.pid}\n`,
    );
    opts.onReady?.({ control: controlPath });
    await stopped;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    // Cleanup runs whatever failed above; the first error is the one reported.
    let first: unknown = null;
    for (const step of [() => daemon.stop(), () => control.close(), () => closeServer(metrics)]) {
      try {
        await step();
      } catch (error) {
        first ??= error;
      }
    }
    if (first !== null) throw first;
  }
}

function closeServer(server: Server | null): Promise<void> {
  if (server === null) return Promise.resolve();
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

export function registerRun(program: Command): void {
  program
    .command("run")
    .description(
      "run a topology's switch on live ports (tap, afpacket, pcap-in, pcap-out) until SIGINT/SIGTERM\n" +
        "  flowplane run --topology lab.json                        control socket /run/flowplane/lab.sock\n" +
        "  flowplane run --topology lab.json --control /tmp/s.sock --metrics-port 9464",
    )
    .requiredOption("--topology <file>", "topology file (JSON; port types tap, afpacket, pcap-in, pcap-out)")
    .option("--control <socket>", "control socket path (default /run/flowplane/<topology>.sock)")
    .option("--metrics-port <n>", "serve Prometheus metrics on 127.0.0.1:N/metrics")
    .option("--max-idle <ms>", "remove megaflows unused for this long (OVS other_config:max-idle)", "10000")
    .action(async (opts: { topology: string; control?: string; metricsPort?: string; maxIdle: string }) => {
      if (opts.control === "") throw new UsageError("--control needs a path");
      await runSwitch({
        topology: opts.topology,
        control: opts.control,
        metricsPort: opts.metricsPort === undefined ? undefined : parseIntOption("--metrics-port", opts.metricsPort, 1, 65535),
        maxIdleMs: parseIntOption("--max-idle", opts.maxIdle, 100, 2 ** 31 - 1),
      });
    });
}
