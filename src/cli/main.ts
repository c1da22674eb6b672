#!/usr/bin/env node
/**
 * The `flowplane` command line: one file per command in this folder; this
 * file wires them into one program (commander) and turns FlowplaneErrors into
 * one line on stderr and a non-zero exit, never a stack trace.
 */
import type { Command } from "commander";
import { FlowplaneError, UsageError } from "../errors.js";
import { registerVersion, packageVersion } from "./version.js";

/** commander, loaded only when a command goes through it (see FAST). */
let commander: typeof import("commander") | null = null;

type Register = (program: Command) => void;

/** Every command's registration; each module is loaded only when asked for. */
async function allCommands(): Promise<Register[]> {
  const [flows, start, trace, replay, dumpFlows, dumpGroups, dumpMeters, run, control, lab, neutron] = await Promise.all([
    import("./flows.js"),
    import("./start.js"),
    import("./trace.js"),
    import("./replay.js"),
    import("./dump-flows.js"),
    import("./dump-groups.js"),
    import("./dump-meters.js"),
    import("./run.js"),
    import("./control.js"),
    import("./lab.js"),
    import("./neutron.js"),
  ]);
  return [
    registerVersion,
    flows.registerFlows,
    start.registerStart,
    trace.registerTrace,
    replay.registerReplay,
    dumpFlows.registerDumpFlows,
    dumpGroups.registerDumpGroups,
    dumpMeters.registerDumpMeters,
    run.registerRun,
    control.registerControl,
    lab.registerLab,
    neutron.registerNeutron,
  ];
}

/**
 * Commands that, named first on the command line, load only their own
 * module: a replay is timed whole against tcpdump, node start-up included,
 * and the other commands' modules (daemon, lab, control) cost it ~15 ms.
 */
const ALONE: Record<string, () => Promise<Register>> = {
  replay: async () => (await import("./replay.js")).registerReplay,
};

/**
 * Commands that, named first, run without commander when their arguments
 * parse cleanly with node's util.parseArgs (loading commander costs a timed
 * replay ~15 ms). The runner returns false when they do not: the command
 * line then goes through commander, which prints help or the usage error.
 */
const FAST: Record<string, () => Promise<(args: string[]) => boolean>> = {
  replay: async () => (await import("./replay.js")).runReplayFast,
};

const SYSTEM_ERRORS: Record<string, string> = {
  ENOENT: "no such file or directory",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EISDIR: "is a directory, not a file",
  ENOTDIR: "a component of the path is not a directory",
  EMFILE: "too many open files",
};

/** The program with every command, or with only the command argv names first when it is one of ALONE. */
export async function buildProgram(argv: readonly string[] = []): Promise<Command> {
  const alone = argv.length > 0 && Object.hasOwn(ALONE, argv[0]) ? ALONE[argv[0]] : null;
  const registers = alone !== null ? [await alone()] : await allCommands();
  commander ??= await import("commander");
  const program = new commander.Command();
  program
    .name("flowplane")
    .description(
      "A userspace packet dataplane in TypeScript: Open vSwitch's userspace datapath for Node.js.\n" +
        "Parses frames into OpenFlow flow keys exactly as Open vSwitch 3.1 does.",
    )
    .version(packageVersion(), "-V, --version", "print the version")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();
  for (const register of registers) register(program);
  listFirstLines(program);
  program.addHelpText(
    "after",
    "\nExamples:\n" +
      "  flowplane flows pcaps/neutron-default.pcap            one flow per packet, as ofproto/trace prints it\n" +
      "  flowplane flows --in-port 5 --json capture.pcapng     the same as JSON\n" +
      "  flowplane start                                        the bundled default: flows and a summary\n",
  );
  return program;
}

/**
 * Command lists (`flowplane --help`, `flowplane dpctl --help`) show each
 * command's first description line; the examples under it stay in the
 * command's own --help.
 */
function listFirstLines(cmd: Command): void {
  for (const sub of cmd.commands) {
    const text = sub.description();
    if (!sub.summary() && text.includes("\n")) sub.summary(text.slice(0, text.indexOf("\n")));
    listFirstLines(sub);
  }
}

export async function main(argv: string[]): Promise<number> {
  const fast = argv.length > 0 && Object.hasOwn(FAST, argv[0]) ? await FAST[argv[0]]() : null;
  const program = fast === null ? await buildProgram(argv) : null;
  try {
    if (fast === null || !fast(argv.slice(1))) await (program ?? (await buildProgram(argv))).parseAsync(argv, { from: "user" });
    return process.exitCode === undefined ? 0 : Number(process.exitCode);
  } catch (err) {
    if (commander !== null && err instanceof commander.CommanderError) {
      // Help and version exit with 0; usage errors were already printed by commander.
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`flowplane: ${err.message}\n`);
      return 2;
    }
    if (err instanceof FlowplaneError) {
      process.stderr.write(`flowplane: ${err.message}\n`);
      return 1;
    }
    const sys = err as NodeJS.ErrnoException;
    if (sys && typeof sys === "object" && typeof sys.code === "string" && sys.syscall !== undefined) {
      if (sys.code === "EPIPE") return 0;
      // A file the user named cannot be opened or read: say which and why, in one line.
      process.stderr.write(`flowplane: ${sys.path ?? sys.syscall}: ${SYSTEM_ERRORS[sys.code] ?? sys.code}\n`);
      return 1;
    }
    throw err;
  }
}

// Run when executed directly (bin or `node dist/cli/main.js`), not when imported by tests.
const invokedDirectly = process.argv[1] !== undefined && import.meta.url === (await import("node:url")).pathToFileURL((await import("node:fs")).realpathSync(process.argv[1])).href;
if (invokedDirectly) {
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(0);
  });
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(`flowplane: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 70;
    },
  );
}
