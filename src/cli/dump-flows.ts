/**
 * `flowplane dump-flows`: a bridge's OpenFlow tables as `ovs-ofctl dump-flows`
 * prints them, in the bridge's OpenFlow version (or -O). Offline the tables
 * are the topology's; `--stats-from DIR` prints the tables a replay into DIR
 * ended with (learned flows included) with their counters.
 */
import type { Command } from "commander";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { UsageError, FlowplaneError } from "../errors.js";
import type { Bridge } from "../ofproto/bridge.js";
import { BRIDGE_TABLES_COUNT, flowFlagsOf, tableOf, type Rule } from "../ofproto/load.js";
import { newFlowSpec, type FlowSpec } from "../openflow/flow-spec.js";
import { formatFlow } from "../ofctl/format-flow.js";
import type { OfProtocol } from "../ofctl/format-actions.js";
import { addSwitchOptions, loadSwitchFromOptions, type SwitchOptions } from "./switch-options.js";

export interface DumpOptions {
  protocol?: OfProtocol;
  names?: boolean;
  /** Prints ports through this instead (overrides `names`). */
  portName?: (port: number) => string | undefined;
  stats?: boolean;
  /** Time "now" for durations, in ms. */
  nowMs?: number;
}

/**
 * The flow line of a rule: the table's state (cookie, timeouts, flags,
 * importance) over the line it was added with, whose actions are printed as
 * given so the add protocol's decoding shows as OVS shows it.
 */
function specOf(rule: Rule): FlowSpec {
  const spec = rule.spec ? { ...rule.spec } : newFlowSpec();
  spec.table = rule.table;
  spec.priority = rule.priority;
  spec.cookie = rule.cookie;
  spec.cookieMask = 0n;
  spec.match = rule.match;
  spec.idleTimeout = rule.idleTimeout;
  spec.hardTimeout = rule.hardTimeout;
  spec.importance = rule.importance;
  spec.flags = flowFlagsOf(rule.flags);
  spec.stats = null;
  if (!rule.spec) spec.actions = rule.actions;
  return spec;
}

/** The dump-flows lines of a bridge: tables in order, then priority (highest first). */
export function dumpBridgeFlows(bridge: Bridge, opts: DumpOptions = {}): string[] {
  const protocol = opts.protocol ?? (bridge.protocol as OfProtocol);
  const portName = opts.portName ?? (opts.names ? (p: number) => bridge.port(p)?.name : undefined);
  const lines: string[] = [];
  for (let t = 0; t < BRIDGE_TABLES_COUNT; t++) {
    for (const r of tableOf(bridge, t).rules()) {
      const nowMs = opts.nowMs ?? r.lastUsedMs;
      const stats = opts.stats
        ? {
            durationSec: Math.max(0, (nowMs - r.createdMs) / 1000),
            nPackets: BigInt(r.nPackets),
            nBytes: BigInt(r.nBytes),
            idleAgeSec: Math.max(0, Math.floor(r.idleAgeMs(nowMs) / 1000)),
            hardAgeSec: -1,
          }
        : undefined;
      lines.push(" " + formatFlow(specOf(r), { protocol, addProtocol: r.spec ? (bridge.protocol as OfProtocol) : protocol, portName, stats }));
    }
  }
  return lines;
}

export function registerDumpFlows(program: Command): void {
  const cmd = program
    .command("dump-flows")
    .description(
      "print a bridge's flows as `ovs-ofctl dump-flows` does\n" +
        "  flowplane dump-flows --topology T.json br-int\n" +
        "  flowplane dump-flows --stats-from out/ br-int     (the tables a replay into out/ ended with, with counters)",
    )
    .argument("<bridge>", "bridge name")
    .option("-O, --protocol <version>", "OpenFlow version whose syntax to print (OpenFlow10..OpenFlow15); default: the bridge's")
    .option("--names", "show port names instead of numbers")
    .option("--stats-from <dir>", "print the flows and counters a `flowplane replay --out DIR` left");
  addSwitchOptions(cmd);
  cmd.action((bridgeName: string, opts: SwitchOptions & { protocol?: string; names?: boolean; statsFrom?: string }) => {
    if (opts.protocol && !/^OpenFlow1[0-5]$/.test(opts.protocol)) throw new UsageError(`-O must be OpenFlow10..OpenFlow15, not "${opts.protocol}"`);
    if (opts.statsFrom) {
      let saved: { dumps?: Record<string, { names: string[]; numbers: string[] }> };
      const file = join(opts.statsFrom, "stats.json");
      try {
        saved = JSON.parse(readFileSync(file, "utf8"));
      } catch {
        throw new FlowplaneError("FP_ERR_STATS", `${file}: no replay statistics here (run flowplane replay --out ${opts.statsFrom} first)`);
      }
      const dump = saved.dumps?.[bridgeName];
      if (!dump) throw new UsageError(`${bridgeName}: unknown bridge in ${file}`);
      process.stdout.write((opts.names ? dump.names : dump.numbers).join("\n") + "\n");
      return;
    }
    const sw = loadSwitchFromOptions(opts);
    const bridge = sw.byName.get(bridgeName);
    if (!bridge) throw new UsageError(`${bridgeName}: unknown bridge`);
    const lines = dumpBridgeFlows(bridge, { protocol: opts.protocol as OfProtocol | undefined, names: opts.names });
    process.stdout.write(lines.join("\n") + (lines.length ? "\n" : ""));
  });
}
