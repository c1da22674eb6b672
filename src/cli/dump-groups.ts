/**
 * `flowplane dump-groups`: a bridge's groups as `ovs-ofctl dump-groups`
 * prints them, from a topology (offline) or, with --target, from a running
 * switch (src/cli/control.ts adds that).
 */
import type { Command } from "commander";
import { UsageError } from "../errors.js";
import { GROUP_ID_MAX } from "../openflow/group.js";
import type { OfProtocol } from "../ofctl/format-actions.js";
import { dumpGroups } from "../daemon/groupmod.js";
import { addSwitchOptions, loadSwitchFromOptions, type SwitchOptions } from "./switch-options.js";

/** The GROUP argument: a group id, or ALL / absent for every group. */
export function parseGroupArg(group: string | undefined): number | undefined {
  if (group === undefined || group.toLowerCase() === "all") return undefined;
  if (!/^\d{1,10}$/.test(group) || Number(group) > GROUP_ID_MAX) throw new UsageError(`${group}: not a group id (0..${GROUP_ID_MAX}, or ALL)`);
  return Number(group);
}

/** Checks -O's value. */
export function checkProtocol(protocol: string | undefined): OfProtocol | undefined {
  if (protocol !== undefined && !/^OpenFlow1[0-5]$/.test(protocol)) throw new UsageError(`-O must be OpenFlow10..OpenFlow15, not "${protocol}"`);
  return protocol as OfProtocol | undefined;
}

export function registerDumpGroups(program: Command): void {
  const cmd = program
    .command("dump-groups")
    .description("print a bridge's groups as `ovs-ofctl dump-groups` does (by group id)\n  flowplane dump-groups --topology T.json br-int [GROUP]")
    .argument("<bridge>", "bridge name")
    .argument("[group]", "only this group id (ALL or absent: every group)")
    .option("-O, --protocol <version>", "OpenFlow version whose syntax to print (OpenFlow10..OpenFlow15); default: the bridge's")
    .option("--names", "show port names instead of numbers");
  addSwitchOptions(cmd);
  cmd.action((bridgeName: string, group: string | undefined, opts: SwitchOptions & { protocol?: string; names?: boolean }) => {
    const protocol = checkProtocol(opts.protocol);
    const groupId = parseGroupArg(group);
    const bridge = loadSwitchFromOptions(opts).byName.get(bridgeName);
    if (!bridge) throw new UsageError(`${bridgeName}: unknown bridge`);
    const lines = dumpGroups(bridge, { protocol, names: opts.names, groupId });
    process.stdout.write(lines.join("\n") + (lines.length ? "\n" : ""));
  });
}
