/**
 * The options every command that needs a switch shares: a topology file, or
 * the one-bridge shortcut (a flows file and NAME:OFPORT ports on "br0").
 */
import type { Command } from "commander";
import { UsageError } from "../errors.js";
import type { Switch } from "../ofproto/bridge.js";
import type { PortConfig } from "../ofproto/bridge.js";
import { loadTopology, singleBridge } from "../ofproto/load.js";
export { portNamesOf } from "../ofproto/load.js";

export interface SwitchOptions {
  topology?: string;
  flows?: string;
  port?: string[];
}

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

export function addSwitchOptions(cmd: Command): Command {
  return cmd
    .option("--topology <file>", "topology file (JSON: bridges, ports, flows; see README)")
    .addOption(cmd.createOption("--flows <file>", "flows file for a one-bridge switch named br0 (instead of --topology)"))
    .option("--port <name:ofport>", "a port of the one-bridge switch (repeatable), e.g. --port in:1", collect);
}

/** Parses "NAME:OFPORT". */
export function parsePortArg(text: string): PortConfig {
  const m = /^([A-Za-z0-9_.\-]{1,15}):(\d{1,5})$/.exec(text);
  if (!m) throw new UsageError(`--port must be NAME:OFPORT (e.g. in:1), not "${text}"`);
  const ofport = Number(m[2]);
  if (ofport < 1 || ofport >= 0xff00) throw new UsageError(`--port ${text}: ofport must be from 1 to 65279`);
  return { name: m[1], ofport };
}

export function loadSwitchFromOptions(opts: SwitchOptions): Switch {
  if (opts.topology && opts.flows) throw new UsageError("give either --topology or --flows, not both");
  if (opts.topology) {
    if (opts.port?.length) throw new UsageError("--port is for the --flows shortcut; a topology file lists its own ports");
    return loadTopology(opts.topology);
  }
  if (opts.flows) {
    const ports = (opts.port ?? []).map(parsePortArg);
    const names = new Set<string>();
    const ofports = new Set<number>();
    for (const p of ports) {
      if (names.has(p.name) || p.name === "br0") throw new UsageError(`--port ${p.name}: duplicate port name`);
      if (ofports.has(p.ofport)) throw new UsageError(`--port ${p.name}: ofport ${p.ofport} is already used`);
      names.add(p.name);
      ofports.add(p.ofport);
    }
    return singleBridge(opts.flows, ports);
  }
  throw new UsageError("a switch is needed: give --topology FILE, or --flows FILE with --port NAME:OFPORT ...");
}
