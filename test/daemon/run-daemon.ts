/**
 * `flowplane run` as a child process for the control-socket tests, and the
 * CLI client run to completion against it.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CLI = [process.execPath, "--import", "tsx", join(ROOT, "src/cli/main.ts")];
/** How long `flowplane run` may take to print its "control SOCKET" line. */
const START_TIMEOUT_MS = 15_000;

/** Runs `flowplane ARGS` to completion. */
export function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(CLI[0], [...CLI.slice(1), ...args], { cwd: ROOT, encoding: "utf8", timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export interface RunningDaemon {
  child: ChildProcess;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
}

/** Starts `flowplane run ARGS`; resolves once it says it listens on its control socket. */
export async function startDaemon(args: string[]): Promise<RunningDaemon> {
  const child = spawn(CLI[0], [...CLI.slice(1), "run", ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    let out = "";
    const t = setTimeout(() => reject(new Error("flowplane run did not start")), START_TIMEOUT_MS);
    child.stdout!.on("data", (d) => {
      out += d;
      if (out.includes("control ")) {
        clearTimeout(t);
        resolve();
      }
    });
  });
  return { child, exited };
}

/** Kills the daemon if a test has not stopped it already. */
export async function killDaemon(d: RunningDaemon | undefined): Promise<void> {
  if (d === undefined || d.child.exitCode !== null) return;
  d.child.kill("SIGKILL");
  await d.exited;
}
