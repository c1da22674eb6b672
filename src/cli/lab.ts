/**
 * `flowplane lab up|down`: a throwaway lab on this host. Two (or three)
 * network namespaces stand for VMs, each with one tap that a `flowplane run`
 * started in the background created and forwards between:
 *
 *   ns fplab-N-vm1 (10.0.0.8/24) ── tap fpN-vm1 ─┐
 *                                                ├── flowplane run (br-lab)
 *   ns fplab-N-vm2 (10.0.0.4/24) ── tap fpN-vm2 ─┘
 *   ns fplab-N-vm3 (10.1.0.10/24, --vm3) ── tap fpN-vm3   (behind a router in
 *                                          the references: reachable only with flows that route)
 *
 * The addresses are those of the OpenStack references. The bridge runs
 * NORMAL unless --flows names a table (in_port/output flows, ports vm1=1,
 * vm2=2, vm3=3). Everything lives under /run/flowplane/lab-N/: the
 * topology, the flows, the daemon's pid file, log and control socket.
 * Invariants: up and down are idempotent; down removes every namespace,
 * interface and file up made, even after a partial up or a killed daemon.
 */
import type { Command } from "commander";
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { FlowplaneError, UsageError } from "../errors.js";
import { request } from "../daemon/protocol.js";
import { CONTROL_DIR_DEFAULT } from "./run.js";
import { TWO_HOSTS, hostFiles, twoHostUp } from "../lab/two-host.js";

export const LAB_NETNS_PREFIX = "fplab-";
/** How long up waits for the daemon to answer on its socket. */
export const LAB_START_TIMEOUT_MS = 10_000;
/** How long down waits for the daemon to exit after SIGTERM before SIGKILL. */
export const LAB_STOP_TIMEOUT_MS = 5_000;

interface Vm {
  name: string;
  ofport: number;
  address: string;
}

const VMS: Vm[] = [
  { name: "vm1", ofport: 1, address: "10.0.0.8/24" },
  { name: "vm2", ofport: 2, address: "10.0.0.4/24" },
  { name: "vm3", ofport: 3, address: "10.1.0.10/24" },
];

export interface LabPaths {
  dir: string;
  topology: string;
  flows: string;
  pidFile: string;
  log: string;
  control: string;
}

export function labPaths(name: string, root = CONTROL_DIR_DEFAULT): LabPaths {
  const dir = join(root, `lab-${name}`);
  return {
    dir,
    topology: join(dir, "topology.json"),
    flows: join(dir, "flows.txt"),
    pidFile: join(dir, "flowplane.pid"),
    log: join(dir, "flowplane.log"),
    control: join(dir, "control.sock"),
  };
}

export const netnsOf = (lab: string, vm: string): string => `${LAB_NETNS_PREFIX}${lab}-${vm}`;
export const tapOf = (lab: string, vm: string): string => `fp${lab}-${vm}`;

export function checkName(name: string): void {
  // fp + name + -vm1 must fit IFNAMSIZ - 1 = 15 bytes.
  if (!/^[a-z0-9]{1,8}$/.test(name)) throw new UsageError(`--name must be 1-8 lowercase letters or digits, not "${name}"`);
}

export function needRoot(): void {
  if (process.getuid?.() !== 0) throw new FlowplaneError("FP_ERR_LAB", "lab needs root (it creates network namespaces and taps): run it with sudo");
}

export function ip(args: string[], allowFail = false): string {
  const r = spawnSync("ip", args, { encoding: "utf8" });
  if (r.error) throw new FlowplaneError("FP_ERR_LAB", `cannot run ip (iproute2): ${(r.error as NodeJS.ErrnoException).code}`);
  if (r.status !== 0 && !allowFail) throw new FlowplaneError("FP_ERR_LAB", `ip ${args.join(" ")}: ${r.stderr.trim().split("\n")[0]}`);
  return r.stdout;
}

export function labNamespaces(lab: string): string[] {
  const prefix = `${LAB_NETNS_PREFIX}${lab}-`;
  return ip(["netns", "list"], true)
    .split("\n")
    .map((l) => l.split(" ")[0])
    .filter((n) => n.startsWith(prefix));
}

/** The daemon's pid when it is still running (and is the lab's daemon). */
export function daemonPid(paths: LabPaths): number {
  if (!existsSync(paths.pidFile)) return -1;
  const pid = Number(readFileSync(paths.pidFile, "utf8").trim());
  if (!Number.isInteger(pid) || pid <= 0) return -1;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return cmdline.includes(paths.topology) ? pid : -1;
  } catch {
    return -1;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The command that runs this CLI again (dist/cli/main.js, or src/cli/main.ts under tsx). */
export function selfCommand(): string[] {
  const here = fileURLToPath(import.meta.url);
  const main = fileURLToPath(new URL(`./main${extname(here)}`, import.meta.url));
  return [...process.execArgv, main];
}

function topologyText(lab: string, vms: Vm[], withFlows: boolean): string {
  const spec = {
    bridges: [withFlows ? { name: "br-lab", flows: "flows.txt" } : { name: "br-lab" }],
    ports: vms.map((v) => ({ name: v.name, bridge: "br-lab", ofport: v.ofport, type: "tap", options: { device: tapOf(lab, v.name) } })),
  };
  return JSON.stringify(spec, null, 2) + "\n";
}

export interface LabUpOptions {
  name: string;
  flows?: string;
  vm3?: boolean;
  /** 2: the two-host lab over VXLAN (src/lab/two-host.ts). */
  hosts?: number;
}

/** Brings the lab up; returns what it did, one line each. */
export async function labUp(opts: LabUpOptions): Promise<string[]> {
  checkName(opts.name);
  needRoot();
  const paths = labPaths(opts.name);
  const done: string[] = [];
  const pid = Math.max(daemonPid(paths), ...TWO_HOSTS.map((h) => daemonPid(hostFiles(opts.name, h.name))));
  if (pid > 0 && labNamespaces(opts.name).length > 0) return [`lab ${opts.name} is already up (flowplane run pid ${pid}, control ${paths.control})`];
  if (pid > 0 || existsSync(paths.dir) || labNamespaces(opts.name).length > 0) {
    done.push(...(await labDown(opts.name)).map((l) => `cleaned up a partial lab first: ${l}`));
  }
  if (opts.hosts !== undefined && opts.hosts !== 1 && opts.hosts !== 2) throw new UsageError(`--hosts must be 1 or 2, not ${opts.hosts}`);
  if (opts.hosts === 2) {
    if (opts.flows !== undefined || opts.vm3) throw new UsageError("--hosts 2 builds Neutron's bridges itself: --flows and --vm3 do not apply");
    try {
      done.push(...(await twoHostUp(opts.name)));
    } catch (error) {
      await labDown(opts.name);
      throw error;
    }
    return done;
  }
  if (opts.flows !== undefined && !existsSync(opts.flows)) throw new UsageError(`--flows ${opts.flows}: no such file`);
  const vms = VMS.slice(0, opts.vm3 ? 3 : 2);
  mkdirSync(paths.dir, { recursive: true, mode: 0o755 });
  try {
    if (opts.flows !== undefined) copyFileSync(opts.flows, paths.flows);
    writeFileSync(paths.topology, topologyText(opts.name, vms, opts.flows !== undefined));
    done.push(`wrote ${paths.topology} (${opts.flows !== undefined ? `flows from ${opts.flows}` : "NORMAL"})`);
    const logFd = openSync(paths.log, "a");
    const child = spawn(process.execPath, [...selfCommand(), "run", "--topology", paths.topology, "--control", paths.control], {
      detached: true,
      stdio: ["ignore", logFd, logFd],
    });
    closeSync(logFd);
    child.unref();
    if (child.pid === undefined) throw new FlowplaneError("FP_ERR_LAB", "cannot start flowplane run");
    writeFileSync(paths.pidFile, `${child.pid}\n`);
    await waitReady(paths, child.pid);
    done.push(`started flowplane run (pid ${child.pid}, log ${paths.log}, control ${paths.control})`);
    for (const vm of vms) {
      const ns = netnsOf(opts.name, vm.name);
      const dev = tapOf(opts.name, vm.name);
      ip(["netns", "add", ns]);
      ip(["link", "set", dev, "netns", ns]);
      // No IPv6 in the lab: router solicitations and MLD would only add noise to counters.
      spawnSync("ip", ["netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
      ip(["-n", ns, "link", "set", "lo", "up"]);
      ip(["-n", ns, "addr", "add", vm.address, "dev", dev]);
      ip(["-n", ns, "link", "set", dev, "up"]);
      done.push(`namespace ${ns}: ${dev} ${vm.address} (port ${vm.name}, ofport ${vm.ofport})`);
    }
  } catch (error) {
    await labDown(opts.name);
    throw error;
  }
  return done;
}

export async function waitReady(paths: LabPaths, pid: number): Promise<void> {
  const deadline = Date.now() + LAB_START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (!alive(pid)) {
      const log = existsSync(paths.log) ? readFileSync(paths.log, "utf8").trim().split("\n") : [];
      throw new FlowplaneError("FP_ERR_LAB", `flowplane run exited at start: ${log.at(-1) ?? "(no log)"}`);
    }
    try {
      await request(paths.control, { cmd: "ping" });
      return;
    } catch {
      await sleep(100);
    }
  }
  throw new FlowplaneError("FP_ERR_LAB", `flowplane run did not answer on ${paths.control} within ${LAB_START_TIMEOUT_MS / 1000} s (see ${paths.log})`);
}

/** Takes the lab down; returns what it removed, one line each. */
export async function labDown(name: string): Promise<string[]> {
  checkName(name);
  needRoot();
  const paths = labPaths(name);
  const done: string[] = [];
  for (const daemon of [paths, ...TWO_HOSTS.map((h) => hostFiles(name, h.name))]) {
    const pid = daemonPid(daemon);
    if (pid <= 0) continue;
    process.kill(pid, "SIGTERM");
    const deadline = Date.now() + LAB_STOP_TIMEOUT_MS;
    while (alive(pid) && Date.now() < deadline) await sleep(50);
    if (alive(pid)) {
      process.kill(pid, "SIGKILL");
      done.push(`killed flowplane run (pid ${pid}) with SIGKILL: it did not stop on SIGTERM`);
    } else {
      done.push(`stopped flowplane run (pid ${pid})`);
    }
  }
  for (const ns of labNamespaces(name)) {
    ip(["netns", "del", ns], true);
    done.push(`removed namespace ${ns}`);
  }
  for (const vm of VMS) {
    const dev = tapOf(name, vm.name);
    if (existsSync(`/sys/class/net/${dev}`)) {
      ip(["link", "del", dev], true);
      done.push(`removed interface ${dev}`);
    }
  }
  if (existsSync(paths.dir)) {
    rmSync(paths.dir, { recursive: true, force: true });
    done.push(`removed ${paths.dir}`);
  }
  if (done.length === 0) done.push(`lab ${name} is not up: nothing to remove`);
  return done;
}

export function registerLab(program: Command): void {
  const lab = program
    .command("lab")
    .description("a local lab: namespaces vm1 (10.0.0.8) and vm2 (10.0.0.4) joined by a background flowplane run");
  lab
    .command("up")
    .description("create the namespaces and taps and start flowplane run (NORMAL, or --flows FILE)")
    .option("--name <n>", "lab name (1-8 lowercase letters or digits)", "lab")
    .option("--flows <file>", "flows for the bridge instead of NORMAL (ports vm1=1, vm2=2, vm3=3)")
    .option("--vm3", "add namespace vm3 with 10.1.0.10/24")
    .option("--hosts <n>", "2: two compute hosts and a network node (namespaces host1, host2, net, each with its own flowplane run) joined by VXLAN, with a distributed router whose SNAT and floating IP the network node's flowplane does")
    .action(async (opts: { name: string; flows?: string; vm3?: boolean; hosts?: string }) => {
      const hosts = opts.hosts === undefined ? undefined : Number(opts.hosts);
      for (const line of await labUp({ name: opts.name, flows: opts.flows, vm3: opts.vm3, hosts })) process.stdout.write(`${line}\n`);
    });
  lab
    .command("down")
    .description("stop the lab's flowplane run and remove its namespaces, interfaces and files")
    .option("--name <n>", "lab name", "lab")
    .action(async (opts: { name: string }) => {
      for (const line of await labDown(opts.name)) process.stdout.write(`${line}\n`);
    });
}
