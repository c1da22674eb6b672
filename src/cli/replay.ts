/**
 * `flowplane replay`: pushes captures through the switch and writes what
 * every port transmitted to DIR/<port>.pcap (a bridge's LOCAL port under the
 * bridge's name), each output packet with its input packet's timestamp.
 *
 * Inputs are merged into one sequence by timestamp, ties broken by the order
 * of the ports in the topology, then by position in the file; each packet is
 * handled completely (all tables, bridges, learning) before the next, so the
 * result is deterministic. Time inside the switch (MAC aging, idle expiry)
 * is the packets' own time.
 */
import type { Command } from "commander";
import { lstatSync, mkdirSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { readCapture, PcapWriter, PCAP_RECORD_HEADER_SIZE, PCAP_SNAPLEN_DEFAULT, type Capture } from "../io/pcap.js";
import { CaptureStream } from "../io/pcap-stream.js";
import { UsageError } from "../errors.js";
import { Datapath, type DatapathOptions } from "../datapath/dpif.js";
import { formatMegaflow } from "../datapath/dump.js";
import * as L from "../flow/layout.js";
import { BATCH_MAX } from "../limits.js";
import type { Bridge, Switch, Port } from "../ofproto/bridge.js";
import { formatPortName } from "../flow/format.js";
import { BRIDGE_TABLES_COUNT, addLearnedFlow, tableOf, expire as expireRules } from "../ofproto/load.js";
import { addSwitchOptions, loadSwitchFromOptions, type SwitchOptions } from "./switch-options.js";
import { portOfSwitch } from "./ports.js";
import { parseIntOption } from "./flows.js";
import { Progress } from "./progress.js";
import { dumpBridgeFlows } from "./dump-flows.js";
import { writeConntrackDump, CONNTRACK_DUMP_FILE } from "./conntrack.js";

export interface ReplayInput {
  port: Port;
  /**
   * The capture read whole, or a stream over a classic pcap file (read a
   * window at a time when it is the only input; read whole otherwise).
   */
  capture: Capture | CaptureStream;
}

export interface ReplayOptions {
  outDir: string;
  noCache?: boolean;
  emcInsertInvProb?: number;
  megaflowsFile?: string;
  progress?: boolean;
}

export interface PortTx {
  packets: number;
  bytes: number;
  mtuDrops: number;
}

export interface ReplaySummary {
  packetsIn: number;
  packetsOut: number;
  /** Packets whose actions sent them nowhere. */
  dropped: number;
  runts: number;
  mtuDrops: number;
  seconds: number;
  pps: number;
  emcHits: number;
  megaflowHits: number;
  misses: number;
  lost: number;
  revalidations: number;
  megaflows: number;
  ports: Record<string, PortTx>;
}

/** Order of the merged input: by timestamp, then port order, then position. */
function mergeOrder(caps: Capture[], inputs: ReplayInput[], portRank: (p: Port) => number): Int32Array[] {
  const total = caps.reduce((n, c) => n + c.count, 0);
  const which = new Int32Array(total);
  const index = new Int32Array(total);
  let n = 0;
  for (let k = 0; k < caps.length; k++) {
    for (let i = 0; i < caps[k].count; i++) {
      which[n] = k;
      index[n] = i;
      n++;
    }
  }
  if (caps.length > 1) {
    const order = Array.from({ length: total }, (_, j) => j);
    const ts = (j: number): number => caps[which[j]].tsSec[index[j]] * 1e9 + caps[which[j]].tsNsec[index[j]];
    order.sort((a, b) => ts(a) - ts(b) || portRank(inputs[which[a]].port) - portRank(inputs[which[b]].port) || index[a] - index[b]);
    return [Int32Array.from(order, (j) => which[j]), Int32Array.from(order, (j) => index[j])];
  }
  return [which, index];
}

/** Captures of PROGRESS_FILE_SIZE_MIN bytes (~100000 small packets) or more show a progress bar on a terminal. */
const PROGRESS_FILE_SIZE_MIN = 8 << 20;
/** Merged inputs of PROGRESS_PACKETS_MIN packets or more show a progress bar on a terminal. */
const PROGRESS_PACKETS_MIN = 100_000;
/** Packets of merged inputs replayed between two updates of the progress bar. */
const PROGRESS_SLICE = 65536;

/**
 * Removes a capture an earlier replay left at `path` (a regular file only),
 * and returns `path`. Truncating it instead costs the open, and on ext4 the
 * close of the rewritten file starts its writeback (auto_da_alloc).
 */
function removeOldCapture(path: string): string {
  if (lstatSync(path, { throwIfNoEntry: false })?.isFile()) unlinkSync(path);
  return path;
}

/** What a replay writes for one datapath port: its capture, opened at its first packet, and counters. */
class PortOutput {
  private writer: PcapWriter | null = null;
  /** Set by the first packet sent to the port (even one dropped over MTU): the port is in the summary. */
  used = false;
  packets = 0;
  bytes = 0;
  mtuDrops = 0;

  constructor(
    readonly port: Port,
    private readonly path: string,
  ) {}

  write(buf: Uint8Array, offset: number, length: number, tsSec: number, tsNsec: number): void {
    if (this.writer === null) this.writer = new PcapWriter(removeOldCapture(this.path));
    this.writer.write(buf, offset, length, tsSec, tsNsec);
    this.packets++;
    this.bytes += length;
  }

  /** Passes on the record (header and frame) at buf[recordOffset..], already encoded as the writer would encode it: see replay's emit. */
  writeRecord(buf: Uint8Array, recordOffset: number, length: number): void {
    if (this.writer === null) this.writer = new PcapWriter(removeOldCapture(this.path));
    this.writer.appendRecord(buf, recordOffset, PCAP_RECORD_HEADER_SIZE + length);
    this.packets++;
    this.bytes += length;
  }

  /** The input buffer is about to be reused: write what refers to it. */
  release(): void {
    this.writer?.release();
  }

  close(): void {
    this.writer?.close();
  }
}

export function replay(sw: Switch, inputs: ReplayInput[], opts: ReplayOptions, portRank: (p: Port) => number = (p) => sw.dpPorts.indexOf(p)): ReplaySummary {
  const dpOpts: DatapathOptions = {
    noCache: opts.noCache,
    emcInsertInvProb: opts.emcInsertInvProb,
    onLearn: (bridge, flow, nowMs) => addLearnedFlow(bridge, flow, nowMs),
    expireRules: (nowMs) => {
      for (const b of sw.bridges) expireRules(b, nowMs);
    },
  };
  const installed: number[] = [];
  if (opts.megaflowsFile) dpOpts.onInstall = (id) => installed.push(id);
  const dp = new Datapath(sw, dpOpts);
  mkdirSync(opts.outDir, { recursive: true });
  const outputs = sw.dpPorts.map((port) => new PortOutput(port, join(opts.outDir, `${port.name}.pcap`)));
  const megaflowLines: string[] = [];

  // The batch being processed: emit finds the input timestamp of the packet the datapath is on.
  const batchIndex = new Int32Array(BATCH_MAX);
  // Each packet's capture time, for meters (their token buckets run at the
  // packet's own time): filled only when a bridge has meters, which a
  // replay cannot add.
  const metered = sw.bridges.some((b) => b.meters.size > 0);
  const timesMs = new Float64Array(BATCH_MAX);
  let batchCap: Capture | null = null;
  // Whether batchCap's records are encoded as the output writers encode theirs (CaptureStream.windowAsWritten).
  let batchAsWritten = false;
  const emit = (dpPort: number, buf: Uint8Array, offset: number, length: number): void => {
    const out = outputs[dpPort];
    out.used = true;
    if (!out.port.fitsMtu(buf, offset, length)) {
      out.mtuDrops++;
      return;
    }
    const cap = batchCap!;
    const i = batchIndex[dp.current];
    // The received frame sent on unchanged (the executor copies before it
    // rewrites: execute.ts), whose input record is what the writer would
    // write: passed on as it is, not copied.
    if (batchAsWritten && buf === cap.buffer && offset === cap.offsets[i] && length === cap.lengths[i] && length === cap.origLengths[i] && length <= PCAP_SNAPLEN_DEFAULT) {
      out.writeRecord(buf, offset - PCAP_RECORD_HEADER_SIZE, length);
    } else {
      out.write(buf, offset, length, cap.tsSec[i], cap.tsNsec[i]);
    }
  };

  const offsets = new Uint32Array(BATCH_MAX);
  const lengths = new Uint32Array(BATCH_MAX);
  const inPorts = new Uint32Array(BATCH_MAX);
  const started = performance.now();
  let lastMaintainMs = -1;
  let nowMs = 0;
  let done = 0;

  /**
   * Replays `total` packets: packet j is record index[j] of caps[which[j]]
   * (null arrays: record j of caps[0]), from inputs[inputOf[which[j]]].
   */
  const run = (caps: Capture[], inputOf: number[], which: Int32Array | null, index: Int32Array | null, total: number): void => {
    // One packet at a time when timestamps matter per packet (megaflow dumps); else runs from one capture.
    const limit = opts.megaflowsFile ? 1 : BATCH_MAX;
    // The batch's time, kept in a local: a fractional number stored into a
    // variable the closure shares (nowMs) is a new heap number each time.
    let batchNowMs = nowMs;
    for (let j = 0; j < total; ) {
      const k = which === null ? 0 : which[j];
      const cap = caps[k];
      const tsSec = cap.tsSec;
      const tsNsec = cap.tsNsec;
      const inPort = inputs[inputOf[k]].port.dpPort;
      const firstIndex = index === null ? j : index[j];
      const batchStartMs = tsSec[firstIndex] * 1000 + tsNsec[firstIndex] / 1e6;
      if (lastMaintainMs < 0) {
        // The switch's clock is the capture's: its flows come to life with the first packet.
        lastMaintainMs = batchStartMs;
        for (const b of sw.bridges) {
          for (let t = 0; t < BRIDGE_TABLES_COUNT; t++) {
            for (const r of tableOf(b, t).rules()) {
              r.createdMs = batchStartMs;
              r.modifiedMs = batchStartMs;
              r.lastUsedMs = batchStartMs;
            }
          }
        }
      }
      // A batch never spans a maintenance tick (1 s of capture time): timeouts and aging stay exact.
      // A packet in a second before tickSecMin is before the tick: the exact test runs only near it.
      const tickMs = lastMaintainMs + 1000;
      const tickSecMin = Math.floor(tickMs / 1000);
      const capOffsets = cap.offsets;
      const capLengths = cap.lengths;
      let n = 0;
      if (which === null) {
        // Records j, j + 1, ... of the one capture.
        const batchEnd = total - j < limit ? total - j : limit;
        for (; n < batchEnd; n++) {
          const i = j + n;
          if (n > 0 && tsSec[i] >= tickSecMin && tsSec[i] * 1000 + tsNsec[i] / 1e6 >= tickMs) break;
          offsets[n] = capOffsets[i];
          lengths[n] = capLengths[i];
          inPorts[n] = inPort;
          batchIndex[n] = i;
          if (metered) timesMs[n] = tsSec[i] * 1000 + tsNsec[i] / 1e6;
        }
      } else {
        while (n < limit && j + n < total && which[j + n] === k) {
          const i = index![j + n];
          if (n > 0 && tsSec[i] >= tickSecMin && tsSec[i] * 1000 + tsNsec[i] / 1e6 >= tickMs) break;
          offsets[n] = capOffsets[i];
          lengths[n] = capLengths[i];
          inPorts[n] = inPort;
          batchIndex[n] = i;
          if (metered) timesMs[n] = tsSec[i] * 1000 + tsNsec[i] / 1e6;
          n++;
        }
      }
      batchNowMs = batchStartMs;
      if (batchNowMs - lastMaintainMs >= 1000) {
        dp.maintain(batchNowMs);
        lastMaintainMs = batchNowMs;
      }
      if (opts.megaflowsFile) {
        dp.flushCaches();
        installed.length = 0;
      }
      batchCap = cap;
      dp.processBatch(cap.buffer, offsets, lengths, inPorts, n, batchNowMs, emit, metered ? timesMs : null);
      if (opts.megaflowsFile) {
        megaflowLines.push(`## packet ${done + j + 1} in_port=${sw.dpPorts[inPort].name} len=${lengths[0]}`);
        for (const id of installed) megaflowLines.push(megaflowLine(dp, id, batchNowMs));
      }
      j += n;
    }
    nowMs = batchNowMs;
    done += total;
  };

  try {
    const stream = inputs.length === 1 && inputs[0].capture instanceof CaptureStream ? inputs[0].capture : null;
    if (stream !== null) {
      // One input: its windows in file order, each replayed as it is read; progress in bytes of the file.
      const progress = opts.progress && stream.fileSize >= PROGRESS_FILE_SIZE_MIN ? new Progress(stream.fileSize, "replay") : null;
      try {
        for (let w = stream.next(); w !== null; w = stream.next()) {
          batchAsWritten = stream.windowAsWritten;
          run([w], [0], null, null, w.count);
          batchAsWritten = false;
          // The next window is read into the same buffer.
          for (const out of outputs) out.release();
          progress?.update(stream.position, done);
        }
      } finally {
        stream.close();
      }
      progress?.done(done);
    } else {
      const caps = inputs.map((input) => {
        const c = input.capture;
        if (!(c instanceof CaptureStream)) return c;
        c.close();
        return readCapture(c.path);
      });
      const [which, index] = mergeOrder(caps, inputs, portRank);
      const progress = opts.progress && which.length >= PROGRESS_PACKETS_MIN ? new Progress(which.length, "replay") : null;
      // Slices of PROGRESS_SLICE packets, so the bar moves.
      for (let from = 0; from < which.length; from += PROGRESS_SLICE) {
        const to = Math.min(which.length, from + PROGRESS_SLICE);
        run(caps, caps.map((_, k) => k), which.subarray(from, to), index.subarray(from, to), to - from);
        progress?.update(done);
      }
      progress?.done(done);
    }
  } finally {
    // After a fault in an input too: the outputs keep every packet sent before it.
    for (const out of outputs) out.close();
  }
  dp.pushStats();
  if (opts.megaflowsFile) writeFileSync(opts.megaflowsFile, megaflowLines.join("\n") + (megaflowLines.length ? "\n" : ""));
  // stats.json holds what its readers use (dump-flows --stats-from: the dump lines; the datapath counters).
  const dumps: Record<string, { names: string[]; numbers: string[] }> = {};
  for (const b of sw.bridges) dumps[b.name] = dumpWithAndWithoutNames(b, nowMs);
  writeFileSync(join(opts.outDir, "stats.json"), JSON.stringify({ dumps, datapath: dp.stats }, null, 1) + "\n");
  writeConntrackDump(join(opts.outDir, CONNTRACK_DUMP_FILE), dp.conntrack, nowMs);
  const seconds = (performance.now() - started) / 1000;
  const ports: Record<string, PortTx> = {};
  let out = 0;
  let mtuDrops = 0;
  for (const o of outputs) {
    if (!o.used) continue;
    ports[o.port.name] = { packets: o.packets, bytes: o.bytes, mtuDrops: o.mtuDrops };
    out += o.packets;
    mtuDrops += o.mtuDrops;
  }
  const s = dp.stats;
  return {
    packetsIn: done,
    packetsOut: out,
    dropped: s.dropped,
    runts: s.runts,
    mtuDrops,
    seconds,
    pps: seconds > 0 ? done / seconds : 0,
    emcHits: s.emcHits,
    megaflowHits: s.megaflowHits,
    misses: s.misses,
    lost: s.lost,
    revalidations: s.revalidations,
    megaflows: dp.megaflows.count,
    ports,
  };
}

/** Stands for a port in a dump line (letters and digits: printed bare), until replaced by its name or number. */
const PORT_TOKEN = "FlowplanePortZ";
const PORT_TOKEN_END = "Zq";
const PORT_TOKEN_PATTERN = new RegExp(`${PORT_TOKEN}(\\d+)${PORT_TOKEN_END}`, "g");

/**
 * `dump-flows --names` and `dump-flows` lines of a bridge with counters,
 * formatting each rule once: ports are printed as tokens, then replaced by
 * what formatPortName prints with names and without. The lines differ in
 * nothing else, and formatting is most of what stats.json costs.
 */
function dumpWithAndWithoutNames(b: Bridge, nowMs: number): { names: string[]; numbers: string[] } {
  const lines = dumpBridgeFlows(b, { stats: true, portName: (p) => (b.port(p) === undefined ? undefined : `${PORT_TOKEN}${p}${PORT_TOKEN_END}`), nowMs });
  const nameOf = (p: number): string | undefined => b.port(p)?.name;
  const names = lines.map((l) => (l.includes(PORT_TOKEN) ? l.replace(PORT_TOKEN_PATTERN, (_, p: string) => formatPortName(Number(p), nameOf)) : l));
  const numbers = lines.map((l) => (l.includes(PORT_TOKEN) ? l.replace(PORT_TOKEN_PATTERN, (_, p: string) => formatPortName(Number(p))) : l));
  return { names, numbers };
}

function megaflowLine(dp: Datapath, id: number, nowMs: number): string {
  const key = new Uint32Array(L.KEY_WORDS);
  const mask = new Uint32Array(L.KEY_WORDS);
  dp.megaflows.keyOf(id, key, 0);
  dp.megaflows.maskOf(id, mask, 0);
  const info = dp.flowInfo(id)!;
  return formatMegaflow(
    { key, mask, actions: info.actions, packets: info.packets, bytes: info.bytes, usedAgoMs: info.packets ? nowMs - info.usedMs : -1 },
    (p) => dp.sw.dpPortName(p),
  );
}

export function formatSummary(s: ReplaySummary): string {
  const pct = (x: number): string => (s.packetsIn ? ((100 * x) / s.packetsIn).toFixed(1) : "0.0") + "%";
  const lines = [
    `replay: ${s.packetsIn} packets in, ${s.packetsOut} out, ${s.dropped} dropped by actions, ${s.runts} runts, ${s.mtuDrops} over MTU`,
    `  ${s.seconds.toFixed(3)} s, ${Math.round(s.pps)} packets/s`,
    `  caches: EMC hits ${s.emcHits} (${pct(s.emcHits)}), megaflow hits ${s.megaflowHits} (${pct(s.megaflowHits)}), misses ${s.misses} (${pct(s.misses)}), lost ${s.lost}; ${s.megaflows} megaflows`,
  ];
  for (const [name, t] of Object.entries(s.ports)) lines.push(`  port ${name}: ${t.packets} packets, ${t.bytes} bytes${t.mtuDrops ? `, ${t.mtuDrops} dropped over MTU` : ""}`);
  return lines.join("\n") + "\n";
}

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

/** --emc-insert-inv-prob when not given: OVS's default. */
const EMC_INSERT_INV_PROB_OPTION_DEFAULT = "100";

export function registerReplay(program: Command): void {
  const cmd = program
    .command("replay")
    .description(
      "push captures through the switch and write what every port transmitted\n" +
        "It writes DIR/<port>.pcap for every port that transmitted, DIR/stats.json,\n" +
        "and DIR/conntrack.json (the connections at the end, for `dpctl dump-conntrack --from DIR`).\n" +
        "  flowplane replay --topology T.json --in tap-vm1=vm1.pcap --out out/\n" +
        "  flowplane replay --flows flows.txt --port in:1 --port out:2 --in in=in.pcap --out out/",
    )
    .option("--in <port=file>", "a capture received on a port (repeatable)", collect)
    .option("--out <dir>", "directory for the output captures and stats.json")
    .option("--no-cache", "translate every packet (no exact-match or megaflow cache): the reference path")
    .option("--emc-insert-inv-prob <n>", "insert into the exact-match cache 1 in N times (OVS default 100; 0 disables it)", EMC_INSERT_INV_PROB_OPTION_DEFAULT)
    .option("--megaflows <file>", "write, per input packet, the megaflows its processing installed (caches emptied before each packet)")
    .option("--json", "print the summary as JSON");
  addSwitchOptions(cmd);
  cmd.action((opts: ReplayCliOptions) => replayCommand(opts));
}

/** The options of `flowplane replay`, as commander names them. */
interface ReplayCliOptions extends SwitchOptions {
  in?: string[];
  out?: string;
  cache: boolean;
  emcInsertInvProb: string;
  megaflows?: string;
  json?: boolean;
}

function replayCommand(opts: ReplayCliOptions): void {
  if (!opts.out) throw new UsageError("--out DIR is required");
  if (!opts.in?.length) throw new UsageError("at least one --in PORT=FILE is required");
  const sw = loadSwitchFromOptions(opts);
  const inputs: ReplayInput[] = opts.in.map((arg) => {
    const eq = arg.indexOf("=");
    if (eq <= 0) throw new UsageError(`--in must be PORT=FILE, not "${arg}"`);
    const port = portOfSwitch(sw, arg.slice(0, eq));
    if (port.type === "patch") throw new UsageError(`--in ${port.name}: a patch port receives nothing from outside`);
    return { port, file: arg.slice(eq + 1) };
  }).map(({ port, file }, _, all) => ({
    port,
    // A single input is streamed (read a window at a time) when it is a classic pcap.
    capture: (all.length === 1 ? CaptureStream.open(file) : null) ?? readCapture(file),
  }));
  const summary = replay(sw, inputs, {
    outDir: opts.out,
    noCache: opts.cache === false,
    emcInsertInvProb: parseIntOption("--emc-insert-inv-prob", opts.emcInsertInvProb, 0, 1 << 30),
    megaflowsFile: opts.megaflows,
    progress: process.stderr.isTTY === true && !opts.json,
  });
  process.stdout.write(opts.json ? JSON.stringify(summary) + "\n" : formatSummary(summary));
}

/**
 * Runs `replay ARGS` without commander (main.ts) when ARGS parse cleanly
 * with util.parseArgs under the options registerReplay declares; returns
 * false, having done nothing, when they do not (help, an unknown option, a
 * missing value, a value that looks like an option, a stray argument), so
 * commander handles and reports that command line.
 */
export function runReplayFast(args: string[]): boolean {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        in: { type: "string", multiple: true },
        out: { type: "string" },
        "no-cache": { type: "boolean" },
        "emc-insert-inv-prob": { type: "string" },
        megaflows: { type: "string" },
        json: { type: "boolean" },
        topology: { type: "string" },
        flows: { type: "string" },
        port: { type: "string", multiple: true },
      },
    }));
  } catch {
    return false;
  }
  replayCommand({
    in: values.in,
    out: values.out,
    cache: values["no-cache"] !== true,
    emcInsertInvProb: values["emc-insert-inv-prob"] ?? EMC_INSERT_INV_PROB_OPTION_DEFAULT,
    megaflows: values.megaflows,
    json: values.json,
    topology: values.topology,
    flows: values.flows,
    port: values.port,
  });
  return true;
}
