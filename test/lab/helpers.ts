/**
 * What the lab tests share: their prerequisites, the CLI, and traffic between
 * network namespaces (ping, and TCP transfers checked by sha256 with small
 * node programs run inside the namespaces).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";

export const IN_CI = process.env.CI === "true";
export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const CLI = [process.execPath, "--import", "tsx", join(ROOT, "src/cli/main.ts")];

/** Whether `cmd arg` runs and exits 0. */
export const has = (cmd: string, arg: string): boolean => spawnSync(cmd, [arg], { stdio: "ignore" }).status === 0;

/** The first missing prerequisite of the lab (root, tun, iproute2, the addon, then `tools`), or "". */
export function missingPrerequisites(tools: string[] = []): string {
  if (process.platform !== "linux") return `not Linux (${process.platform})`;
  if (process.getuid?.() !== 0) return "not running as root";
  if (!existsSync("/dev/net/tun")) return "/dev/net/tun is missing";
  if (!has("ip", "-V")) return "iproute2's `ip` command is missing";
  for (const tool of tools) if (!has(tool, "--version")) return `${tool} is missing`;
  if (!existsSync(join(ROOT, "native/flowplane.node"))) return "the native addon is not built (npm run build:native)";
  return "";
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `flowplane ARGS` to completion. */
export function cli(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): CliResult {
  const r = spawnSync(CLI[0], [...CLI.slice(1), ...args], { cwd: ROOT, encoding: "utf8", env: { ...process.env, ...opts.env }, timeout: opts.timeoutMs ?? 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Three pings from a namespace; true if any was answered (ping exits 0). */
export function ping(ns: string, to: string): boolean {
  return spawnSync("ip", ["netns", "exec", ns, "ping", "-c", "3", "-i", "0.2", "-W", "1", to], { stdio: "ignore" }).status === 0;
}

/** The namespaces named fplab-ID-... that exist now. */
export function namespacesOf(id: string): string[] {
  return spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout.split("\n").map((l) => l.split(" ")[0]).filter((n) => n.includes(`-${id}-`));
}

/** Collects a child's stdout; returns its reader. */
export function stdoutOf(child: ChildProcess): () => string {
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  return () => out;
}

/** A node program run inside a namespace; resolves with its stdout when it exits. */
export function nodeIn(ns: string, source: string, args: string[] = []): { child: ChildProcess; done: Promise<string>; output: () => string } {
  const child = spawn("ip", ["netns", "exec", ns, process.execPath, "-e", source, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  const output = stdoutOf(child);
  let err = "";
  child.stderr!.on("data", (d) => (err += d));
  const done = new Promise<string>((resolve, reject) => child.on("exit", (code) => (code === 0 ? resolve(output()) : reject(new Error(`exit ${code}: ${err}`)))));
  // Servers are killed at the end of a test: that rejection is expected and nobody awaits it.
  done.catch(() => {});
  return { child, done, output };
}

/** Waits until `read()` contains `text`; throws after timeoutMs with what it saw. */
export async function waitText(read: () => string, text: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!read().includes(text)) {
    if (Date.now() > deadline) throw new Error(`no "${text}" within ${timeoutMs} ms; saw: ${read()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** What SINK prints per connection. */
export interface Received {
  /** The port it was received on. */
  port: number;
  sha256: string;
  size: number;
  /** The peer's address and port. */
  from: string;
  fromPort: number;
}

/**
 * A TCP server on argv[1] and the ports after it: prints "listening" once all
 * are bound, then per connection one Received as JSON.
 */
export const SINK = `
const net = require("node:net"), crypto = require("node:crypto");
const [host, ...ports] = process.argv.slice(1);
let up = 0;
for (const port of ports) net.createServer((s) => {
  const h = crypto.createHash("sha256"); let n = 0;
  s.on("data", (d) => { h.update(d); n += d.length; });
  s.on("end", () => { console.log(JSON.stringify({ port: Number(port), sha256: h.digest("hex"), size: n, from: s.remoteAddress, fromPort: s.remotePort })); s.end(); });
}).listen(Number(port), host, () => { if (++up === ports.length) console.log("listening"); });
`;

/**
 * Connects to argv[1]:argv[2] and sends argv[3] random bytes (0: just
 * connects); prints their sha256, or "timeout" after argv[4] ms, or "error CODE".
 */
export const SOURCE = `
const net = require("node:net"), crypto = require("node:crypto");
const [host, port, size, timeoutMs] = process.argv.slice(1);
const data = crypto.randomBytes(Number(size));
const s = net.connect({ host, port: Number(port) });
const t = setTimeout(() => { console.log("timeout"); process.exit(0); }, Number(timeoutMs));
s.on("connect", () => { s.end(data); });
s.on("error", (e) => { console.log("error " + e.code); process.exit(0); });
s.on("close", () => { clearTimeout(t); console.log(crypto.createHash("sha256").update(data).digest("hex")); });
`;

/** The last connection SINK reported. */
export function lastReceived(output: string): Received {
  return JSON.parse(output.trim().split("\n").at(-1)!) as Received;
}

/**
 * Sends `size` random bytes from namespace `from` to `to`:`port`, where
 * namespace `sinkNs` listens on `bind`; returns the sha256 sent and what the
 * sink saw. The sender gives up after 10 s.
 */
export async function transfer(sinkNs: string, bind: string, from: string, to: string, port: number, size: number): Promise<{ sent: string; got: Received }> {
  const procs: ChildProcess[] = [];
  try {
    const sink = nodeIn(sinkNs, SINK, [bind, String(port)]);
    procs.push(sink.child);
    await waitText(sink.output, "listening", 5000);
    const source = nodeIn(from, SOURCE, [to, String(port), String(size), "10000"]);
    procs.push(source.child);
    const sent = (await source.done).trim();
    expect(sent).toMatch(/^[0-9a-f]{64}$/);
    await waitText(sink.output, "sha256", 5000);
    return { sent, got: lastReceived(sink.output()) };
  } finally {
    for (const p of procs) p.kill("SIGKILL");
  }
}
