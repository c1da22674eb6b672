/**
 * The client side of `flowplane run`'s control socket: commands that read
 * and change a running switch, in ovs-ofctl's and ovs-appctl's syntax.
 *
 *   flowplane add-flow   --target S BRIDGE 'FLOW'
 *   flowplane add-flows  --target S BRIDGE FILE          (FILE "-" is stdin)
 *   flowplane mod-flows  --target S BRIDGE 'FLOW' [--strict]
 *   flowplane del-flows  --target S BRIDGE ['MATCH'] [--strict]
 *   flowplane dump-flows --target S BRIDGE [--names] [-O VERSION]
 *   flowplane add-group  --target S BRIDGE 'GROUP'       (add-groups BRIDGE FILE)
 *   flowplane mod-group  --target S BRIDGE 'GROUP' [--may-create]
 *   flowplane del-groups --target S BRIDGE [group_id=N|group_id=all]
 *   flowplane dump-groups --target S BRIDGE [GROUP] [--names] [-O VERSION]
 *   flowplane add-meter  --target S BRIDGE 'METER'
 *   flowplane mod-meter  --target S BRIDGE 'METER'
 *   flowplane del-meters --target S BRIDGE [meter=N|meter=all]
 *   flowplane dump-meters --target S BRIDGE [meter=N]
 *   flowplane meter-stats --target S BRIDGE [meter=N]
 *   flowplane dpctl dump-flows --target S [--names]
 *   flowplane dpctl dump-conntrack --target S [-m] [-s] [--zone N]   (also --from DIR after a replay)
 *   flowplane dpctl flush-conntrack --target S [zone]                (also --from DIR)
 *   flowplane stats      --target S [--json]              (dpif-netdev/pmd-stats-show)
 *   flowplane trace      --target S BRIDGE FLOW [PACKET] [--names]
 *
 * dump-flows, dump-groups, dump-meters and trace also work offline (their own files): this file adds
 * --target to them without touching those files, through a preAction hook
 * that, when --target is given, answers from the daemon and replaces the
 * offline action for this one invocation (commander reads the action after
 * the hooks ran).
 * Errors are one line and exit 1; an absent daemon reads "cannot connect to
 * SOCKET: is flowplane run running?".
 */
import type { Command } from "commander";
import { readFileSync } from "node:fs";
import { UsageError } from "../errors.js";
import { request, type StatsResult } from "../daemon/protocol.js";
import { registerConntrack } from "./conntrack.js";
import { checkProtocol, parseGroupArg } from "./dump-groups.js";
import { writeMeters } from "./dump-meters.js";

function readFlowsFile(file: string): string {
  try {
    return readFileSync(file === "-" ? 0 : file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(`${file}: cannot read flows (${code === "ENOENT" ? "no such file" : code})`);
  }
}

const write = (lines: string[]): void => {
  process.stdout.write(lines.join("\n") + (lines.length ? "\n" : ""));
};

/** The pmd-stats-show layout, for the one thread flowplane forwards on. */
export function formatStats(s: StatsResult): string {
  const lines = [
    "main thread:",
    `  packets received: ${s.packets}`,
    `  emc hits: ${s.emcHits}`,
    `  megaflow hits: ${s.megaflowHits}`,
    `  avg. subtable lookups per megaflow hit: ${s.avgSubtableLookupsPerHit.toFixed(2)}`,
    `  miss with success upcall: ${s.misses - s.lost}`,
    `  miss with failed upcall: ${s.lost}`,
    `  avg. packets per output batch: ${s.avgPacketsPerOutputBatch.toFixed(2)}`,
    `  megaflows: ${s.megaflows}, revalidations: ${s.revalidations}, runts: ${s.runts}, dropped by actions: ${s.dropped}`,
  ];
  for (const p of s.ports) {
    lines.push(`  port ${p.name} (${p.type}${p.device ? ` ${p.device}` : ""}): rx ${p.rxPackets} packets ${p.rxBytes} bytes, tx ${p.txPackets} packets ${p.txBytes} bytes, ${p.txDrops} dropped`);
  }
  return lines.join("\n") + "\n";
}

/** Adds --target to an offline command and answers from the daemon when it is given. */
function addTarget(cmd: Command, remote: (target: string, args: unknown[], opts: Record<string, unknown>) => Promise<void>): void {
  cmd.option("--target <socket>", "ask a running `flowplane run` at this control socket instead");
  cmd.hook("preAction", async (_this, actionCommand) => {
    const opts = actionCommand.opts<Record<string, unknown>>();
    if (typeof opts.target !== "string") return;
    await remote(opts.target, actionCommand.processedArgs as unknown[], opts);
    actionCommand.action(() => {});
  });
}

export function registerControl(program: Command): void {
  program
    .command("add-flow")
    .description("add a flow to a running switch (ovs-ofctl add-flow)\n  flowplane add-flow --target /run/flowplane/lab.sock br0 'in_port=1,actions=output:2'")
    .requiredOption("--target <socket>", "control socket of flowplane run")
    .argument("<bridge>")
    .argument("<flow>")
    .action(async (bridge: string, flow: string, opts: { target: string }) => {
      await request(opts.target, { cmd: "add-flows", bridge, text: flow, file: "flow" });
    });

  program
    .command("add-flows")
    .description("add the flows of a file to a running switch (ovs-ofctl add-flows); a bad line adds nothing")
    .requiredOption("--target <socket>", "control socket of flowplane run")
    .argument("<bridge>")
    .argument("<file>", 'flows file, "-" for stdin')
    .action(async (bridge: string, file: string, opts: { target: string }) => {
      await request(opts.target, { cmd: "add-flows", bridge, text: readFlowsFile(file), file: file === "-" ? "stdin" : file });
    });

  program
    .command("mod-flows")
    .description("change the actions of a running switch's flows (ovs-ofctl mod-flows); counters are kept")
    .requiredOption("--target <socket>", "control socket of flowplane run")
    .option("--strict", "only the flow with exactly this match and priority")
    .argument("<bridge>")
    .argument("<flow>")
    .action(async (bridge: string, flow: string, opts: { target: string; strict?: boolean }) => {
      await request(opts.target, { cmd: "mod-flows", bridge, flow, strict: opts.strict === true });
    });

  program
    .command("del-flows")
    .description("delete a running switch's flows (ovs-ofctl del-flows); no match deletes all")
    .requiredOption("--target <socket>", "control socket of flowplane run")
    .option("--strict", "only the flow with exactly this match and priority")
    .argument("<bridge>")
    .argument("[match]")
    .action(async (bridge: string, match: string | undefined, opts: { target: string; strict?: boolean }) => {
      await request(opts.target, { cmd: "del-flows", bridge, match: match ?? "", strict: opts.strict === true });
    });

  program
    .command("add-group")
    .description("add a group to a running switch (ovs-ofctl add-group); a group id it has already is refused\n  flowplane add-group --target /run/flowplane/lab.sock br0 'group_id=1,type=all,bucket=output:2,bucket=output:3'")
    .requiredOption("--target <socket>", "control socket of flowplane run")
    .argument("<bridge>")
    .argument("<group>")
    .action(async (bridge: string, group: string, opts: { target: string }) => {
      await request(opts.target, { cmd: "add-groups", bridge, text: group, file: "group" });
    });

  program
    .command("add-groups")
    .description("add the groups of a file to a running switch (ovs-ofctl add-groups); a bad line or an existing group id adds nothing")
    .requiredOption("--target <socket>", "control socket of flowplane run")
    .argument("<bridge>")
    .argument("<file>", 'groups file, "-" for stdin')
    .action(async (bridge: string, file: string, opts: { target: string }) => {
      await request(opts.target, { cmd: "add-groups", bridge, text: readFlowsFile(file), file: file === "-" ? "stdin" : file });
    });

  program
    .command("mod-group")
    .description("replace a running switch's group (ovs-ofctl mod-group); flows that name it keep it")
    .requiredOption("--target <socket>", "control socket of flowplane run")
    .option("--may-create", "add the group when the switch does not have it (else that is an error)")
    .argument("<bridge>")
    .argument("<group>")
    .action(async (bridge: string, group: string, opts: { target: string; mayCreate?: boolean }) => {
      await request(opts.target, { cmd: "mod-group", bridge, group, mayCreate: opts.mayCreate === true });
    });

  program
    .command("del-groups")
    .description("delete a running switch's groups (ovs-ofctl del-groups) and every flow that names a deleted one; no group, or group_id=all, deletes all")
    .requiredOption("--target <socket>", "control socket of flowplane run")
    .argument("<bridge>")
    .argument("[group]", "group_id=N or group_id=all")
    .action(async (bridge: string, group: string | undefined, opts: { target: string }) => {
      await request(opts.target, { cmd: "del-groups", bridge, group: group ?? "" });
    });

  program
    .command("add-meter")
    .description("add a meter to a running switch (ovs-ofctl add-meter); a meter id it has already is refused\n  flowplane add-meter --target /run/flowplane/lab.sock br0 'meter=1,pktps,burst,bands=type=drop,rate=1000,burst_size=100'")
    .requiredOption("--target <socket>", "control socket of flowplane run")
    .argument("<bridge>")
    .argument("<meter>")
    .action(async (bridge: string, meter: string, opts: { target: string }) => {
      await request(opts.target, { cmd: "add-meter", bridge, meter });
    });

  program
    .command("mod-meter")
    .description("replace a running switch's meter (ovs-ofctl mod-meter): new flags and bands, buckets full again; flows that name it keep it")
    .requiredOption("--target <socket>", "control socket of flowplane run")
    .argument("<bridge>")
    .argument("<meter>")
    .action(async (bridge: string, meter: string, opts: { target: string }) => {
      await request(opts.target, { cmd: "mod-meter", bridge, meter });
    });

  program
    .command("del-meters")
    .description("delete a running switch's meters (ovs-ofctl del-meters) and every flow that names a deleted one; no meter, or meter=all, deletes all")
    .requiredOption("--target <socket>", "control socket of flowplane run")
    .argument("<bridge>")
    .argument("[meter]", "meter=N or meter=all")
    .action(async (bridge: string, meter: string | undefined, opts: { target: string }) => {
      await request(opts.target, { cmd: "del-meters", bridge, meter: meter ?? "" });
    });

  program
    .command("meter-stats")
    .description("print a running switch's meter statistics as `ovs-ofctl meter-stats` does (by meter id), each followed by a blank line")
    .requiredOption("--target <socket>", "control socket of flowplane run")
    .argument("<bridge>")
    .argument("[meter]", "meter=N (absent or meter=all: every meter)")
    .action(async (bridge: string, meter: string | undefined, opts: { target: string }) => {
      const r = (await request(opts.target, { cmd: "meter-stats", bridge, meter: meter ?? "" })) as { meters: string[] };
      process.stdout.write(r.meters.map((m) => m + "\n\n").join(""));
    });

  const dpctl = program.command("dpctl").description("datapath commands (ovs-appctl dpctl/...)");
  dpctl
    .command("dump-flows")
    .description("print a running switch's megaflows (ovs-appctl dpctl/dump-flows)")
    .requiredOption("--target <socket>", "control socket of flowplane run")
    .option("--names", "show port names instead of numbers")
    .action(async (opts: { target: string; names?: boolean }) => {
      const r = (await request(opts.target, { cmd: "dpctl/dump-flows", names: opts.names === true })) as { lines: string[] };
      write(r.lines);
    });

  registerConntrack(dpctl);

  program
    .command("stats")
    .description("a running switch's datapath counters (ovs-appctl dpif-netdev/pmd-stats-show)")
    .requiredOption("--target <socket>", "control socket of flowplane run")
    .option("--json", "print them as JSON")
    .action(async (opts: { target: string; json?: boolean }) => {
      const s = (await request(opts.target, { cmd: "stats" })) as StatsResult;
      process.stdout.write(opts.json ? JSON.stringify(s) + "\n" : formatStats(s));
    });

  const dumpFlows = program.commands.find((c) => c.name() === "dump-flows");
  if (dumpFlows) {
    addTarget(dumpFlows, async (target, args, opts) => {
      const r = (await request(target, { cmd: "dump-flows", bridge: args[0], names: opts.names === true, protocol: opts.protocol })) as { lines: string[] };
      write(r.lines);
    });
  }
  const dumpGroupsCmd = program.commands.find((c) => c.name() === "dump-groups");
  if (dumpGroupsCmd) {
    addTarget(dumpGroupsCmd, async (target, args, opts) => {
      const groupId = parseGroupArg(args[1] as string | undefined);
      const protocol = checkProtocol(opts.protocol as string | undefined);
      const r = (await request(target, { cmd: "dump-groups", bridge: args[0], groupId, names: opts.names === true, protocol })) as { lines: string[] };
      write(r.lines);
    });
  }
  const dumpMetersCmd = program.commands.find((c) => c.name() === "dump-meters");
  if (dumpMetersCmd) {
    addTarget(dumpMetersCmd, async (target, args) => {
      const r = (await request(target, { cmd: "dump-meters", bridge: args[0], meter: (args[1] as string | undefined) ?? "" })) as { meters: string[] };
      writeMeters(r.meters);
    });
  }
  const trace = program.commands.find((c) => c.name() === "trace");
  if (trace) {
    addTarget(trace, async (target, args, opts) => {
      const r = (await request(target, { cmd: "trace", bridge: args[0], flow: args[1], packet: args[2], names: opts.names === true })) as { text: string };
      process.stdout.write(r.text);
    });
  }
}
