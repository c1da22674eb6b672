/**
 * `flowplane dump-meters`: a bridge's meters as `ovs-ofctl dump-meters`
 * prints them, from a topology (offline) or, with --target, from a running
 * switch (src/cli/control.ts adds that).
 */
import type { Command } from "commander";
import { UsageError } from "../errors.js";
import { dumpMeters } from "../daemon/metermod.js";
import { addSwitchOptions, loadSwitchFromOptions, type SwitchOptions } from "./switch-options.js";

/** dump-meters' output: each meter followed by a blank line, as ovs-ofctl prints them. */
export function writeMeters(meters: readonly string[]): void {
  process.stdout.write(meters.map((m) => m + "\n\n").join(""));
}

export function registerDumpMeters(program: Command): void {
  const cmd = program
    .command("dump-meters")
    .description("print a bridge's meters as `ovs-ofctl dump-meters` does (by meter id), each followed by a blank line\n  flowplane dump-meters --topology T.json br0 [meter=N]")
    .argument("<bridge>", "bridge name")
    .argument("[meter]", "meter=N (absent or meter=all: every meter)");
  addSwitchOptions(cmd);
  cmd.action((bridgeName: string, meter: string | undefined, opts: SwitchOptions) => {
    const bridge = loadSwitchFromOptions(opts).byName.get(bridgeName);
    if (!bridge) throw new UsageError(`${bridgeName}: unknown bridge`);
    writeMeters(dumpMeters(bridge, meter ?? ""));
  });
}
