/**
 * `flowplane dpctl dump-conntrack` and `flush-conntrack` (ovs-appctl
 * dpctl/dump-conntrack [-m] [-s] [zone=N], dpctl/flush-conntrack [zone=N]),
 * against a running switch (--target SOCKET) or offline, after a replay
 * (--from DIR): replay leaves the connection table as it was after the last
 * packet in DIR/conntrack.json, each connection in the four texts the dump
 * options give; flush-conntrack --from DIR removes connections from that
 * file, as it would from a running switch.
 */
import type { Command } from "commander";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { UsageError } from "../errors.js";
import { request } from "../daemon/protocol.js";
import type { ConntrackEngine } from "../conntrack/api.js";
import { parseIntOption } from "./flows.js";

export const CONNTRACK_DUMP_FILE = "conntrack.json";

/** One connection in the texts of dump-conntrack, plain, -m, -s and -m -s. */
export interface ConnText {
  zone: number;
  plain: string;
  verbose: string;
  stats: string;
  verboseStats: string;
}

export interface ConntrackDump {
  /** The switch's clock when the dump was taken (the last packet's time). */
  nowMs: number;
  connections: ConnText[];
}

/** Each connection of `engine` in every dump format (the engine lists them in one order for all). */
export function conntrackTexts(engine: ConntrackEngine, nowMs: number): ConnText[] {
  const dump = engine.dump as (o: { zone?: number; nowMs?: number; verbose?: boolean; stats?: boolean }) => string[];
  const plain = dump.call(engine, { nowMs });
  const verbose = dump.call(engine, { nowMs, verbose: true });
  const stats = dump.call(engine, { nowMs, stats: true });
  const verboseStats = dump.call(engine, { nowMs, verbose: true, stats: true });
  return plain.map((line, i) => ({ zone: zoneOf(line), plain: line, verbose: verbose[i], stats: stats[i], verboseStats: verboseStats[i] }));
}

/** The zone a dump line names (",zone=N"; none for zone 0). */
function zoneOf(line: string): number {
  const m = /,zone=(\d+)/.exec(line);
  return m ? Number(m[1]) : 0;
}

export function writeConntrackDump(file: string, engine: ConntrackEngine, nowMs: number): void {
  const dump: ConntrackDump = { nowMs, connections: conntrackTexts(engine, nowMs) };
  writeFileSync(file, JSON.stringify(dump, null, 1) + "\n");
}

function readDump(dir: string): { file: string; dump: ConntrackDump } {
  const file = join(dir, CONNTRACK_DUMP_FILE);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    throw new UsageError(`${file}: no connection table here (replay --out ${dir} writes one)`);
  }
  return { file, dump: JSON.parse(text) as ConntrackDump };
}

/** The lines of one connection list, as the options ask. */
export function selectConnLines(conns: readonly ConnText[], opts: { zone?: number; verbose?: boolean; stats?: boolean }): string[] {
  return conns
    .filter((c) => opts.zone === undefined || c.zone === opts.zone)
    .map((c) => (opts.verbose ? (opts.stats ? c.verboseStats : c.verbose) : opts.stats ? c.stats : c.plain));
}

const write = (lines: string[]): void => {
  process.stdout.write(lines.join("\n") + (lines.length ? "\n" : ""));
};

function zoneOption(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  return parseIntOption("zone", v.replace(/^zone=/, ""), 0, 0xffff);
}

/** Adds dump-conntrack and flush-conntrack under `dpctl`. */
export function registerConntrack(dpctl: Command): void {
  dpctl
    .command("dump-conntrack")
    .description(
      "print the connection table (ovs-appctl dpctl/dump-conntrack), of a running switch or left by a replay\n" +
        "  flowplane dpctl dump-conntrack --target /run/flowplane/lab.sock -m\n" +
        "  flowplane dpctl dump-conntrack --from out/ --zone 5",
    )
    .option("--target <socket>", "control socket of flowplane run")
    .option("--from <dir>", "the --out directory of a replay")
    .option("--zone <n>", "only connections of this zone (zone=N also accepted)")
    .option("-m, --more", "verbose: id, status and TCP details")
    .option("-s, --statistics", "with the seconds each connection has left")
    .argument("[zone]", "zone=N, as ovs-appctl takes it")
    .action(async (zoneArg: string | undefined, opts: { target?: string; from?: string; zone?: string; more?: boolean; statistics?: boolean }) => {
      const zone = zoneOption(opts.zone ?? zoneArg);
      const fmt = { zone, verbose: opts.more === true, stats: opts.statistics === true };
      if (opts.target !== undefined) {
        const r = (await request(opts.target, { cmd: "dpctl/dump-conntrack", ...fmt })) as { lines: string[] };
        write(r.lines);
      } else if (opts.from !== undefined) {
        write(selectConnLines(readDump(opts.from).dump.connections, fmt));
      } else throw new UsageError("dump-conntrack needs --target SOCKET or --from DIR");
    });

  dpctl
    .command("flush-conntrack")
    .description("remove every connection, or those of one zone (ovs-appctl dpctl/flush-conntrack [zone=N])")
    .option("--target <socket>", "control socket of flowplane run")
    .option("--from <dir>", "the --out directory of a replay (its conntrack.json is rewritten)")
    .argument("[zone]", "N or zone=N")
    .action(async (zoneArg: string | undefined, opts: { target?: string; from?: string }) => {
      const zone = zoneOption(zoneArg);
      if (opts.target !== undefined) {
        await request(opts.target, { cmd: "dpctl/flush-conntrack", zone });
      } else if (opts.from !== undefined) {
        const { file, dump } = readDump(opts.from);
        dump.connections = zone === undefined ? [] : dump.connections.filter((c) => c.zone !== zone);
        writeFileSync(file, JSON.stringify(dump, null, 1) + "\n");
      } else throw new UsageError("flush-conntrack needs --target SOCKET or --from DIR");
    });
}
