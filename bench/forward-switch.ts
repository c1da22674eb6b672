/**
 * The two switches the forwarding benchmark compares, started the same way
 * in ns sw with the same four ports and the same two flows:
 *
 *   ofport 1 sw-vsrc (veth, AF_PACKET)   in_port=1,actions=output:2
 *   ofport 2 sw-vdst (veth, AF_PACKET)
 *   ofport 3 sw-tsrc (tap)               in_port=3,actions=output:4
 *   ofport 4 sw-tdst (tap)
 *
 * - flowplane: `flowplane run --topology` (this checkout's source, under
 *   tsx), afpacket ports for the veths and tap ports it creates.
 * - Open vSwitch 3.1: a private ovsdb-server and ovs-vswitchd (every path in
 *   one temporary directory; the machine's own OVS is never touched), a
 *   bridge with datapath_type=netdev (the userspace datapath, dpif-netdev),
 *   the veths as system interfaces (netdev-linux reads them with AF_PACKET,
 *   recvmmsg and sendmmsg, in batches of NETDEV_MAX_BURST = 32) and
 *   type=tap interfaces it creates. Neither are DPDK ports, so dpif-netdev
 *   polls them from the main thread, woken by poll(2), as flowplane is.
 * Invariant: every process started here is registered with the Cleanup
 * before anything can fail after it, and stop() (or the Cleanup) ends it.
 */
import { spawn, spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { request } from "../src/daemon/protocol.js";
import {
  BenchSetupError,
  IF_SW_VDST,
  IF_SW_VSRC,
  IF_TAP_DST,
  IF_TAP_SRC,
  alive,
  interfaceExists,
  killAndWait,
  type Cleanup,
  type Namespaces,
} from "./forward-netns.js";

export const OFPORT_VSRC = 1;
export const OFPORT_VDST = 2;
export const OFPORT_TSRC = 3;
export const OFPORT_TDST = 4;

export const FLOWS = `in_port=${OFPORT_VSRC},actions=output:${OFPORT_VDST}\nin_port=${OFPORT_TSRC},actions=output:${OFPORT_TDST}\n`;

/** How long a switch may take to come up before the benchmark gives up. */
export const SWITCH_START_TIMEOUT_MS = 20_000;

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

export interface SwitchUnderTest {
  /** "flowplane" or "ovs". */
  readonly name: string;
  /** Starts the switch in ns.sw; its taps exist in ns.sw when this resolves. */
  start(ns: Namespaces, cleanup: Cleanup): Promise<void>;
  /** Stops it and removes its files. */
  stop(): void;
  /** The tail of its log, for an error message. */
  logTail(): string;
  /** The process that forwards (for its CPU time); -1 when not running. */
  forwardingPid(): number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function tail(file: string, lines = 5): string {
  if (!existsSync(file)) return "(no log)";
  return readFileSync(file, "utf8").trim().split("\n").slice(-lines).join("\n");
}

async function waitFor(what: string, ready: () => Promise<boolean> | boolean, failed: () => string | null): Promise<void> {
  const deadline = Date.now() + SWITCH_START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const why = failed();
    if (why !== null) throw new BenchSetupError(`${what}: ${why}`);
    if (await ready()) return;
    await sleep(100);
  }
  throw new BenchSetupError(`${what}: not ready within ${SWITCH_START_TIMEOUT_MS / 1000} s`);
}

export class FlowplaneSwitch implements SwitchUnderTest {
  readonly name = "flowplane";
  private dir = "";
  private pid = -1;

  async start(ns: Namespaces, cleanup: Cleanup): Promise<void> {
    this.dir = mkdtempSync(join(tmpdir(), "fpfw-flowplane-"));
    const dir = this.dir;
    cleanup.add(`remove ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
    const topology = {
      bridges: [{ name: "br0", flows: "flows.txt" }],
      ports: [
        { name: "vsrc", bridge: "br0", ofport: OFPORT_VSRC, type: "afpacket", options: { device: IF_SW_VSRC } },
        { name: "vdst", bridge: "br0", ofport: OFPORT_VDST, type: "afpacket", options: { device: IF_SW_VDST } },
        { name: "tsrc", bridge: "br0", ofport: OFPORT_TSRC, type: "tap", options: { device: IF_TAP_SRC } },
        { name: "tdst", bridge: "br0", ofport: OFPORT_TDST, type: "tap", options: { device: IF_TAP_DST } },
      ],
    };
    writeFileSync(join(dir, "topology.json"), JSON.stringify(topology, null, 2) + "\n");
    writeFileSync(join(dir, "flows.txt"), FLOWS);
    const control = join(dir, "control.sock");
    const log = openSync(join(dir, "flowplane.log"), "a");
    const child = spawn(
      "ip",
      ["netns", "exec", ns.sw, process.execPath, "--import", "tsx", join(REPO_ROOT, "src/cli/main.ts"), "run", "--topology", join(dir, "topology.json"), "--control", control],
      { cwd: REPO_ROOT, stdio: ["ignore", log, log] },
    );
    closeSync(log);
    if (child.pid === undefined) throw new BenchSetupError("cannot start flowplane run");
    // `ip netns exec` execs the command, so this is the daemon's pid.
    const pid = child.pid;
    this.pid = pid;
    cleanup.add(`stop flowplane run (pid ${pid})`, () => killAndWait(pid));
    await waitFor(
      "flowplane run",
      async () => {
        try {
          await request(control, { cmd: "ping" });
          return true;
        } catch {
          return false;
        }
      },
      () => (alive(pid) ? null : `exited at start: ${this.logTail()}`),
    );
  }

  stop(): void {
    killAndWait(this.pid);
    this.pid = -1;
  }

  logTail(): string {
    return tail(join(this.dir, "flowplane.log"));
  }

  forwardingPid(): number {
    return this.pid;
  }
}

export class OvsSwitch implements SwitchUnderTest {
  readonly name = "ovs";
  private dir = "";
  private env: NodeJS.ProcessEnv = {};

  /** True when the OVS programs the benchmark needs are installed. */
  static available(): boolean {
    return ["ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovs-ofctl"].every(
      (tool) => spawnSync(tool, ["--version"], { stdio: "ignore", env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` } }).status === 0,
    );
  }

  private ovs(command: string, args: string[]): string {
    const r = spawnSync(command, args, { encoding: "utf8", env: this.env, timeout: 30_000 });
    if (r.error || r.status !== 0) {
      throw new BenchSetupError(`${command} ${args.join(" ")}: ${r.error?.message ?? `exit ${r.status}`}: ${(r.stderr ?? "").trim()}`);
    }
    return r.stdout;
  }

  private pidOf(daemon: string): number {
    const file = join(this.dir, `${daemon}.pid`);
    return existsSync(file) ? Number(readFileSync(file, "utf8").trim()) : -1;
  }

  async start(ns: Namespaces, cleanup: Cleanup): Promise<void> {
    this.dir = mkdtempSync(join(tmpdir(), "fpfw-ovs-"));
    const dir = this.dir;
    cleanup.add(`remove ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
    // Every OVS path under dir: the machine's own OVS is never touched.
    this.env = { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin`, OVS_RUNDIR: dir, OVS_LOGDIR: dir, OVS_DBDIR: dir, OVS_SYSCONFDIR: dir };
    const db = join(dir, "conf.db");
    const dbSocket = `unix:${join(dir, "db.sock")}`;
    this.ovs("ovsdb-tool", ["create", db, "/usr/share/openvswitch/vswitch.ovsschema"]);
    cleanup.add("stop ovsdb-server", () => killAndWait(this.pidOf("ovsdb-server")));
    this.ovs("ovsdb-server", [db, `--remote=punix:${join(dir, "db.sock")}`, `--pidfile=${join(dir, "ovsdb-server.pid")}`, `--log-file=${join(dir, "ovsdb-server.log")}`, "--detach", "--no-chdir"]);
    cleanup.add("stop ovs-vswitchd", () => killAndWait(this.pidOf("ovs-vswitchd")));
    this.ovs("ip", ["netns", "exec", ns.sw, "ovs-vswitchd", dbSocket, `--pidfile=${join(dir, "ovs-vswitchd.pid")}`, `--log-file=${join(dir, "ovs-vswitchd.log")}`, "--detach", "--no-chdir", "--disable-system"]);
    const vsctl = (...args: string[]): string => this.ovs("ovs-vsctl", [`--db=${dbSocket}`, "--timeout=20", ...args]);
    vsctl("--no-wait", "init");
    vsctl(
      "add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=netdev", "fail-mode=secure",
      "--", "add-port", "br0", IF_SW_VSRC, "--", "set", "interface", IF_SW_VSRC, `ofport_request=${OFPORT_VSRC}`,
      "--", "add-port", "br0", IF_SW_VDST, "--", "set", "interface", IF_SW_VDST, `ofport_request=${OFPORT_VDST}`,
      "--", "add-port", "br0", IF_TAP_SRC, "--", "set", "interface", IF_TAP_SRC, "type=tap", `ofport_request=${OFPORT_TSRC}`,
      "--", "add-port", "br0", IF_TAP_DST, "--", "set", "interface", IF_TAP_DST, "type=tap", `ofport_request=${OFPORT_TDST}`,
    );
    // ovs-vsctl succeeds even when an interface fails to configure: read it back.
    for (const [ifname, ofport] of [[IF_SW_VSRC, OFPORT_VSRC], [IF_SW_VDST, OFPORT_VDST], [IF_TAP_SRC, OFPORT_TSRC], [IF_TAP_DST, OFPORT_TDST]] as const) {
      const got = vsctl("get", "interface", ifname, "ofport").trim();
      const error = vsctl("get", "interface", ifname, "error").trim();
      if (got !== String(ofport) || error !== "[]") throw new BenchSetupError(`ovs-vswitchd: interface ${ifname}: ofport ${got}, error ${error}`);
    }
    const flowsFile = join(dir, "flows.txt");
    writeFileSync(flowsFile, FLOWS);
    this.ovs("ovs-ofctl", ["del-flows", "br0"]);
    this.ovs("ovs-ofctl", ["add-flows", "br0", flowsFile]);
    await waitFor("ovs-vswitchd taps", () => interfaceExists(ns.sw, IF_TAP_SRC) && interfaceExists(ns.sw, IF_TAP_DST), () => null);
  }

  stop(): void {
    killAndWait(this.pidOf("ovs-vswitchd"));
    killAndWait(this.pidOf("ovsdb-server"));
  }

  logTail(): string {
    return tail(join(this.dir, "ovs-vswitchd.log"));
  }

  forwardingPid(): number {
    return this.pidOf("ovs-vswitchd");
  }
}
