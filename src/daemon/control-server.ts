/**
 * The daemon's side of the control protocol (protocol.ts): a unix socket,
 * mode 0600, one JSON request per line, one answer per line, and the
 * handlers that read and change the running switch.
 *
 * Invariants: the socket file exists only while the server listens (it is
 * removed on close); a stale socket left by a killed daemon is replaced, a
 * live one is never taken over. Every table change goes through flowmod.ts,
 * which calls bridge.touch().
 */
import { createServer, connect, type Server, type Socket } from "node:net";
import { chmodSync, existsSync, mkdirSync, unlinkSync } from "node:fs";
import { dirname } from "node:path";
import { FlowplaneError, UsageError } from "../errors.js";
import type { Bridge } from "../ofproto/bridge.js";
import { addLearnedFlow } from "../ofproto/load.js";
import * as L from "../flow/layout.js";
import { formatMegaflow } from "../datapath/dump.js";
import { dumpBridgeFlows } from "../cli/dump-flows.js";
import { conntrackTexts, selectConnLines } from "../cli/conntrack.js";
import { traceKey, traceText } from "../cli/trace.js";
import type { OfProtocol } from "../ofctl/format-actions.js";
import { addFlowsText, deleteFlowsText, modifyFlowsText } from "./flowmod.js";
import { addGroupsText, deleteGroupsText, dumpGroups, modifyGroupText } from "./groupmod.js";
import { addMeterText, deleteMetersText, dumpMeters, meterStats, modifyMeterText } from "./metermod.js";
import type { Daemon } from "./daemon.js";
import { REQUEST_SIZE_MAX, type Reply, type Request, type StatsResult } from "./protocol.js";

export interface ControlContext {
  daemon: Daemon;
  topologyFile: string;
}

function bridgeOf(ctx: ControlContext, req: Request): Bridge {
  const name = req.bridge;
  if (typeof name !== "string") throw new UsageError("the request names no bridge");
  const b = ctx.daemon.sw.byName.get(name);
  if (!b) throw new UsageError(`${name}: unknown bridge (bridges: ${ctx.daemon.sw.bridges.map((x) => x.name).join(", ")})`);
  return b;
}

const str = (v: unknown, what: string): string => {
  if (typeof v !== "string") throw new UsageError(`the request has no ${what}`);
  return v;
};

export function megaflowLines(daemon: Daemon, names: boolean): string[] {
  const dp = daemon.dp;
  const nowMs = Date.now();
  const key = new Uint32Array(L.KEY_WORDS);
  const mask = new Uint32Array(L.KEY_WORDS);
  const lines: string[] = [];
  for (const id of dp.megaflows.ids()) {
    const info = dp.flowInfo(id);
    if (info === null) continue;
    dp.megaflows.keyOf(id, key, 0);
    dp.megaflows.maskOf(id, mask, 0);
    lines.push(
      formatMegaflow(
        // As in OVS, the packet whose upcall installed a megaflow is not counted in it.
        { key, mask, actions: info.actions, packets: info.packets, bytes: info.bytes, usedAgoMs: info.packets ? nowMs - info.usedMs : -1 },
        (p) => (names ? daemon.sw.dpPortName(p) : String(p)),
      ),
    );
  }
  return lines;
}

export function statsOf(daemon: Daemon): StatsResult {
  const s = daemon.dp.stats;
  const mf = daemon.dp.megaflows;
  const c = daemon.counters;
  return {
    packets: s.packets,
    emcHits: s.emcHits,
    megaflowHits: s.megaflowHits,
    avgSubtableLookupsPerHit: mf.hitCount ? mf.probedOnHits / mf.hitCount : 0,
    misses: s.misses,
    lost: s.lost,
    runts: s.runts,
    dropped: s.dropped,
    revalidations: s.revalidations,
    megaflows: mf.count,
    avgPacketsPerOutputBatch: daemon.outputBatches ? daemon.outputFrames / daemon.outputBatches : 0,
    ports: daemon.attachments.map((a) => ({
      name: a.port.name,
      type: a.port.type,
      device: a.device,
      rxPackets: c.rxPackets[a.port.dpPort],
      rxBytes: c.rxBytes[a.port.dpPort],
      txPackets: c.txPackets[a.port.dpPort],
      txBytes: c.txBytes[a.port.dpPort],
      txDrops: c.txDrops[a.port.dpPort],
    })),
  };
}

/** A request's -O version, checked. */
function protocolOf(req: Request): OfProtocol | undefined {
  if (req.protocol !== undefined && (typeof req.protocol !== "string" || !/^OpenFlow1[0-5]$/.test(req.protocol))) {
    throw new UsageError(`-O must be OpenFlow10..OpenFlow15, not "${String(req.protocol)}"`);
  }
  return req.protocol as OfProtocol | undefined;
}

/** Answers one request; throws FlowplaneErrors for the client to print. */
export function handle(ctx: ControlContext, req: Request): unknown {
  const daemon = ctx.daemon;
  const nowMs = Date.now();
  switch (req.cmd) {
    case "ping":
      return { pid: process.pid, topology: ctx.topologyFile, uptimeSec: (nowMs - daemon.startedMs) / 1000 };
    case "add-flows":
      return { count: addFlowsText(bridgeOf(ctx, req), str(req.text, "flow text"), typeof req.file === "string" ? req.file : "flow", nowMs) };
    case "mod-flows":
      return { count: modifyFlowsText(bridgeOf(ctx, req), str(req.flow, "flow"), req.strict === true, nowMs) };
    case "del-flows":
      return { count: deleteFlowsText(bridgeOf(ctx, req), typeof req.match === "string" ? req.match : "", req.strict === true) };
    case "dump-flows": {
      const bridge = bridgeOf(ctx, req);
      const protocol = protocolOf(req);
      daemon.dp.pushStats();
      return { lines: dumpBridgeFlows(bridge, { stats: req.stats !== false, names: req.names === true, nowMs, protocol }) };
    }
    case "add-groups":
      return { count: addGroupsText(bridgeOf(ctx, req), str(req.text, "group text"), typeof req.file === "string" ? req.file : "group") };
    case "mod-group":
      modifyGroupText(bridgeOf(ctx, req), str(req.group, "group"), req.mayCreate === true);
      return {};
    case "del-groups":
      return deleteGroupsText(bridgeOf(ctx, req), typeof req.group === "string" ? req.group : "");
    case "dump-groups": {
      const bridge = bridgeOf(ctx, req);
      const protocol = protocolOf(req);
      const groupId = typeof req.groupId === "number" ? req.groupId : undefined;
      return { lines: dumpGroups(bridge, { names: req.names === true, protocol, groupId }) };
    }
    case "add-meter":
      addMeterText(bridgeOf(ctx, req), str(req.meter, "meter"), nowMs);
      return {};
    case "mod-meter":
      modifyMeterText(bridgeOf(ctx, req), str(req.meter, "meter"));
      return {};
    case "del-meters":
      return deleteMetersText(bridgeOf(ctx, req), typeof req.meter === "string" ? req.meter : "");
    case "dump-meters":
      return { meters: dumpMeters(bridgeOf(ctx, req), typeof req.meter === "string" ? req.meter : "") };
    case "meter-stats":
      return { meters: meterStats(bridgeOf(ctx, req), typeof req.meter === "string" ? req.meter : "", nowMs) };
    case "dpctl/dump-flows":
      return { lines: megaflowLines(daemon, req.names === true) };
    case "dpctl/dump-conntrack": {
      const zone = typeof req.zone === "number" ? req.zone : undefined;
      return { lines: selectConnLines(conntrackTexts(daemon.dp.conntrack, nowMs), { zone, verbose: req.verbose === true, stats: req.stats === true }) };
    }
    case "dpctl/flush-conntrack":
      daemon.dp.conntrack.flush(typeof req.zone === "number" ? req.zone : undefined);
      return {};
    case "stats":
      return statsOf(daemon);
    case "trace": {
      const bridge = bridgeOf(ctx, req);
      const packet = typeof req.packet === "string" ? req.packet : undefined;
      const key = traceKey(daemon.sw, bridge, str(req.flow, "flow"), packet);
      if (!(key instanceof Uint32Array)) throw new FlowplaneError("FP_ERR_TRACE", key.error);
      const onLearn = (b: Bridge, f: Parameters<typeof addLearnedFlow>[1]): boolean => addLearnedFlow(b, f, nowMs);
      return { text: traceText(daemon.sw, key, nowMs, req.names === true, packet !== undefined, onLearn).text };
    }
    default:
      throw new UsageError(`unknown request "${String(req.cmd)}"`);
  }
}

function answer(ctx: ControlContext, line: string): Reply {
  let req: Request;
  try {
    req = JSON.parse(line) as Request;
  } catch {
    return { id: null, ok: false, error: { code: "FP_ERR_CONTROL", message: "the request is not JSON" } };
  }
  const id = typeof req.id === "number" ? req.id : null;
  if (typeof req !== "object" || req === null || typeof req.cmd !== "string") {
    return { id, ok: false, error: { code: "FP_ERR_CONTROL", message: "a request is an object with \"cmd\"" } };
  }
  try {
    return { id, ok: true, result: handle(ctx, req) };
  } catch (error) {
    if (error instanceof FlowplaneError) return { id, ok: false, error: { code: error.code, message: error.message } };
    return { id, ok: false, error: { code: "FP_ERR_INTERNAL", message: `internal error: ${(error as Error).message}` } };
  }
}

/** Whether something answers on the socket (a live daemon). */
function socketAlive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.on("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.on("error", () => resolve(false));
  });
}

export class ControlServer {
  private readonly server: Server;
  private readonly clients = new Set<Socket>();
  private listening = false;

  constructor(
    readonly path: string,
    private readonly ctx: ControlContext,
  ) {
    this.server = createServer((sock) => this.serve(sock));
  }

  async listen(): Promise<void> {
    try {
      mkdirSync(dirname(this.path), { recursive: true, mode: 0o755 });
    } catch (error) {
      throw new FlowplaneError("FP_ERR_CONTROL_SOCKET", `cannot create ${dirname(this.path)} for the control socket: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    if (existsSync(this.path)) {
      if (await socketAlive(this.path)) {
        throw new FlowplaneError("FP_ERR_CONTROL_SOCKET", `${this.path}: another flowplane run is listening there (use --control for a different socket)`);
      }
      try {
        unlinkSync(this.path);
      } catch (error) {
        throw new FlowplaneError("FP_ERR_CONTROL_SOCKET", `${this.path}: cannot remove the stale socket: ${(error as NodeJS.ErrnoException).code}`);
      }
    }
    // The socket is created 0600: only its owner (root) may change the tables.
    const umask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        this.server.once("error", reject);
        this.server.listen(this.path, () => {
          this.server.off("error", reject);
          resolve();
        });
      });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new FlowplaneError("FP_ERR_CONTROL_SOCKET", `cannot listen on ${this.path}: ${code === "EACCES" ? "permission denied" : (code ?? (error as Error).message)}`);
    } finally {
      process.umask(umask);
    }
    chmodSync(this.path, 0o600);
    this.listening = true;
  }

  private serve(sock: Socket): void {
    this.clients.add(sock);
    sock.setEncoding("utf8");
    let buffered = "";
    sock.on("data", (chunk: string) => {
      buffered += chunk;
      if (buffered.length > REQUEST_SIZE_MAX) {
        sock.end(JSON.stringify({ id: null, ok: false, error: { code: "FP_ERR_CONTROL", message: `request longer than ${REQUEST_SIZE_MAX} bytes` } }) + "\n");
        buffered = "";
        return;
      }
      for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line.trim() === "") continue;
        sock.write(JSON.stringify(answer(this.ctx, line)) + "\n");
      }
    });
    sock.on("error", () => sock.destroy());
    sock.on("close", () => this.clients.delete(sock));
  }

  /** Stops listening, drops clients, removes the socket file. */
  async close(): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    for (const c of this.clients) c.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    try {
      unlinkSync(this.path);
    } catch {
      // Already gone (node removes it on close on some versions).
    }
  }
}
