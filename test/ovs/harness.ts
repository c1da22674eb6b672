/**
 * A private Open vSwitch for differential tests: the reference that flowplane's
 * answers are compared against.
 * Invariant: a sandbox never touches the machine's own Open vSwitch. Every child
 * process gets OVS_RUNDIR, OVS_LOGDIR, OVS_DBDIR and OVS_SYSCONFDIR pointing at
 * one fresh directory (mkdtemp under os.tmpdir()), and the daemons are given
 * explicit socket and database paths inside it as well.
 * Design: `ovsdb-server` and `ovs-vswitchd --enable-dummy=override
 * --disable-system` run detached with pidfiles, the way Open vSwitch's own test
 * suite runs them, so no kernel module, no root-owned path and no real NIC is
 * needed. Bridges use the userspace datapath (datapath-type=dummy) and ports
 * are netdev-dummy devices whose transmitted frames are appended to
 * `<dir>/<port>.pcap` (options:tx_pcap). Every OVS tool is a child process;
 * many traces run with bounded concurrency (traceMany).
 * Limits: one ovs-appctl process per trace (about 5-10 ms each); stop() must be
 * awaited to be sure the daemons are gone, and a process-exit hook sends them
 * SIGTERM when a test run ends without stop(). A SIGKILLed test runner leaves
 * them running: each daemon's command line names its sandbox directory.
 *
 * Observed with Open vSwitch 3.1 (they shape the parsing below):
 * - `ovs-appctl ofproto/trace` prints its report on stdout and exits 0. When
 *   vswitchd refuses the request it prints vswitchd's message on stderr,
 *   followed by the line "ovs-appctl: ovs-vswitchd: server returned an error",
 *   and exits 2: "Packet data too short for Ethernet" (fewer than 14 bytes,
 *   including an empty packet), "Trailing garbage in packet data" (odd length
 *   or a non-hex character), "br9: unknown bridge". A failure to reach the
 *   daemon exits 1 instead ("ovs-appctl: cannot connect to ...").
 * - The report's "Datapath actions: " line reads like `2`, `drop`, or
 *   `ct(zone=1),recirc(0x1)`; a trace that recirculates repeats the
 *   Flow/Megaflow/Datapath actions lines once per pass. Its port numbers are
 *   datapath (odp) port numbers: all bridges share one dummy datapath, which
 *   numbers ports in the order they are added (internal bridge ports from
 *   100), so they equal the OpenFlow numbers only by luck. `--names` prints
 *   names instead, e.g. `push_vlan(vid=5,pcp=0),br2,trunk`, and also turns
 *   the Flow line's `in_port=1` into `in_port=p1`.
 * - tx_pcap files are classic little-endian pcap (magic a1b2c3d4, version 2.4,
 *   snaplen 1518, linktype 1 Ethernet), one 16-byte record header per frame
 *   with incl_len == orig_len == the whole frame (not cut at the snaplen),
 *   flushed after every frame. The 24-byte header is written when the port is
 *   configured. Frames are written as vswitchd transmits them, after
 *   netdev-dummy/receive has returned: poll (waitForTxPackets).
 * - ovs-vsctl exits 0 even when an interface fails to configure (it prints
 *   "Error detected while setting up ..." on stderr); addBridge therefore
 *   reads each interface's `ofport` and `error` columns back.
 * - netdev-dummy rejects options it does not know, and a patch port takes only
 *   `peer`: tx_pcap is added to dummy ports only.
 */
import { spawn } from "node:child_process";
import { accessSync, constants as fsConstants, readFileSync, rmSync } from "node:fs";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { FlowplaneError, assert } from "../../src/errors.js";

/** The schema the Debian package installs; the database is created from it. */
export const VSWITCH_SCHEMA_PATH = "/usr/share/openvswitch/vswitch.ovsschema";

/** The OVS programs a sandbox runs. */
export const OVS_TOOLS = [
  "ovsdb-tool",
  "ovsdb-server",
  "ovs-vswitchd",
  "ovs-vsctl",
  "ovs-ofctl",
  "ovs-appctl",
] as const;
export type OvsTool = (typeof OVS_TOOLS)[number];

/** OpenFlow versions every sandbox bridge accepts unless told otherwise, so a
 * test may speak any of them with ovs-ofctl -O. */
export const PROTOCOLS_DEFAULT = [
  "OpenFlow10",
  "OpenFlow11",
  "OpenFlow12",
  "OpenFlow13",
  "OpenFlow14",
  "OpenFlow15",
];

/** Parallel ovs-appctl processes in traceMany: vswitchd answers unixctl
 * requests one at a time, so more only adds process start-up contention. */
export const TRACE_CONCURRENCY_DEFAULT = 8;

/** Longest any single OVS command may take before it is killed: generous, so
 * a slow CI machine does not fail, bounded, so a wedged daemon cannot hang a
 * test run. */
export const COMMAND_TIMEOUT_MS_DEFAULT = 30_000;

/** How long stop() waits for a daemon to exit before it sends SIGKILL. */
const DAEMON_EXIT_TIMEOUT_MS = 5_000;

/** Poll interval while waiting for a daemon to exit or a pcap to grow. */
const POLL_INTERVAL_MS = 10;

const PCAP_HEADER_SIZE = 24;
const PCAP_RECORD_HEADER_SIZE = 16;

/** Directories searched after PATH: daemons live in sbin, which a non-root
 * PATH often lacks. */
const SBIN_DIRS = ["/usr/local/sbin", "/usr/sbin", "/sbin"];

/** An OVS command that failed: names the command and carries its output, so a
 * test can show (or compare) OVS's own wording. */
export class OvsCommandError extends FlowplaneError {
  readonly command: string[];
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
  constructor(command: string[], exitCode: number | null, stdout: string, stderr: string, reason = "") {
    const why = reason !== "" ? reason : `exit code ${exitCode}`;
    super("FP_ERR_OVS_COMMAND", `${command.join(" ")}: ${why}\n${stderr.trim()}`);
    this.name = "OvsCommandError";
    this.command = command;
    this.exitCode = exitCode;
    this.stdout = stdout;
    this.stderr = stderr;
  }
}

export interface CommandResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface SandboxOptions {
  /** Parent of the sandbox directory; os.tmpdir() by default. */
  tmpRoot?: string;
  /** Leave the directory (database, logs, pcaps) after stop(), for debugging. */
  keepDir?: boolean;
  /** Extra ovs-vswitchd arguments, e.g. ["-vofproto_dpif_xlate:dbg"]. */
  vswitchdArgs?: string[];
  /** Per-command timeout; COMMAND_TIMEOUT_MS_DEFAULT by default. */
  commandTimeoutMs?: number;
  /** ovs-vswitchd --enable-dummy level: "override" (default) makes every
   * netdev type a dummy; "system" keeps tunnel types (vxlan, gre) real, as
   * OVS's own tunnel tests need. */
  dummyLevel?: "override" | "system";
}

/** One port of a bridge. Column names are OVS's, as users see them. */
export interface PortSpec {
  name: string;
  /** Interface ofport_request; OVS picks a number when absent. */
  ofport?: number;
  /** Interface type: "dummy" by default; "patch" needs options.peer. */
  type?: string;
  /** Interface options, e.g. { peer: "patch-br1" } for a patch port. */
  options?: Record<string, string>;
  /** Port columns. */
  tag?: number;
  trunks?: number[];
  vlan_mode?: "trunk" | "access" | "native-tagged" | "native-untagged" | "dot1q-tunnel";
  /** Interface column. */
  mtu_request?: number;
  /** Any other Port columns, as ovs-vsctl `column[:key]=value` text. */
  portColumns?: Record<string, string>;
  /** Any other Interface columns, as ovs-vsctl `column[:key]=value` text. */
  interfaceColumns?: Record<string, string>;
}

export interface BridgeOptions {
  ports?: PortSpec[];
  /** OpenFlow versions the bridge accepts; PROTOCOLS_DEFAULT when absent. */
  protocols?: string[];
  /** "secure" by default: no flows but the test's own, no NORMAL fallback. */
  fail_mode?: "secure" | "standalone";
  /** Any other Bridge columns, e.g. { "other_config:datapath-id": "0000000000000001" }. */
  columns?: Record<string, string>;
}

export interface OfctlOptions {
  /** ovs-ofctl -O value; "OpenFlow13" by default. */
  protocol?: string;
}

export interface DumpFlowsOptions extends OfctlOptions {
  /** Only flows matching this (e.g. "table=1" or "ip,in_port=1"). */
  match?: string;
  /** Print port names instead of numbers (--names). */
  names?: boolean;
  /** Sort by ascending priority (--sort); OVS's order is otherwise a hash order. */
  sort?: boolean;
}

export interface DelFlowsOptions extends OfctlOptions {
  strict?: boolean;
}

/** The lines of one pass of a trace; a recirculating trace has several. */
export interface TracePass {
  flowLine: string;
  megaflow: string | null;
  datapathActions: string | null;
}

export interface TraceResult {
  /** ovs-appctl's stdout when the trace ran, "" when it was refused. */
  raw: string;
  /** The text after "Flow: " on the first such line. */
  flowLine: string | null;
  /** vswitchd's refusal (stderr, without ovs-appctl's own closing line), or null. */
  error: string | null;
  /** The first pass's "Datapath actions: " text, e.g. "2" or "drop". */
  datapathActions: string | null;
  /** The first pass's "Megaflow: " text. */
  megaflow: string | null;
  /** Every pass, in order (one unless the packet recirculates). */
  passes: TracePass[];
}

export interface TraceOptions {
  /** More flow fields for the trace, e.g. "tun_id=5,pkt_mark=1". */
  flowExtra?: string;
  /** Port names instead of numbers in the report (ofproto/trace --names). */
  names?: boolean;
}

export interface TraceInput {
  inPort: number | string;
  packetHex: string;
  /** More flow fields for the trace, e.g. "tun_id=5,pkt_mark=1". */
  flowExtra?: string;
}

/** The program's absolute path, or null when it is not installed. */
export function findTool(tool: string): string | null {
  const dirs = (process.env.PATH ?? "").split(path.delimiter).filter((d) => d !== "");
  for (const dir of [...dirs, ...SBIN_DIRS]) {
    const candidate = path.join(dir, tool);
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // Not in this directory: try the next.
    }
  }
  return null;
}

/** Whether `pid` is a running process. A zombie counts as gone: a daemon that
 * has exited waits there until whoever adopted it reaps it. */
export function processAlive(pid: number): boolean {
  assert(Number.isInteger(pid) && pid > 0, "pid must be a positive integer");
  try {
    process.kill(pid, 0);
  } catch {
    // ESRCH: gone. EPERM: someone else's, so not one of our daemons either.
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Field 3, after the parenthesised command name (which may hold spaces).
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/** Runs `fn` over `items`, at most `concurrency` at a time, answers in order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  assert(Number.isInteger(concurrency) && concurrency > 0, "concurrency must be a positive integer");
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next;
      next += 1;
      results[index] = await fn(items[index], index);
    }
  };
  const workers: Promise<void>[] = [];
  for (let i = 0; i < Math.min(concurrency, items.length); i += 1) workers.push(worker());
  await Promise.all(workers);
  return results;
}

/** Splits an ofproto/trace report into its passes. */
export function parseTrace(raw: string): TracePass[] {
  const passes: TracePass[] = [];
  for (const line of raw.split("\n")) {
    if (line.startsWith("Flow: ")) {
      passes.push({ flowLine: line.slice("Flow: ".length), megaflow: null, datapathActions: null });
    } else if (passes.length > 0 && line.startsWith("Megaflow: ")) {
      passes[passes.length - 1].megaflow = line.slice("Megaflow: ".length);
    } else if (passes.length > 0 && line.startsWith("Datapath actions: ")) {
      passes[passes.length - 1].datapathActions = line.slice("Datapath actions: ".length);
    }
  }
  return passes;
}

/** How many whole records a pcap file holds (its header included in `bytes`). */
export function countPcapRecords(bytes: Uint8Array): number {
  if (bytes.length < PCAP_HEADER_SIZE) return 0;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, true);
  assert(magic === 0xa1b2c3d4 || magic === 0xd4c3b2a1, "tx_pcap file must be a classic pcap");
  const littleEndian = magic === 0xa1b2c3d4;
  let count = 0;
  let at = PCAP_HEADER_SIZE;
  while (at + PCAP_RECORD_HEADER_SIZE <= bytes.length) {
    const inclSize = view.getUint32(at + 8, littleEndian);
    if (at + PCAP_RECORD_HEADER_SIZE + inclSize > bytes.length) break;
    at += PCAP_RECORD_HEADER_SIZE + inclSize;
    count += 1;
  }
  return count;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Sandboxes not yet stopped, for the process-exit hook. */
const liveSandboxes = new Set<OvsSandbox>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: signal the daemons and remove the
  // directories without waiting (both daemons exit cleanly on SIGTERM).
  process.on("exit", () => {
    for (const sandbox of liveSandboxes) sandbox.killNow();
  });
}

export class OvsSandbox {
  /** The sandbox directory: database, sockets, pidfiles, logs, pcaps. */
  readonly dir: string;
  /** The environment every OVS child process gets. */
  readonly env: NodeJS.ProcessEnv;
  readonly dbSocketPath: string;
  private readonly tools: Record<OvsTool, string>;
  private readonly commandTimeoutMs: number;
  private readonly keepDir: boolean;
  private readonly portTypes = new Map<string, string>();
  private vswitchdPidValue = -1;
  private ovsdbServerPidValue = -1;
  private stopping: Promise<void> | null = null;

  private constructor(dir: string, tools: Record<OvsTool, string>, opts: SandboxOptions) {
    this.dir = dir;
    this.tools = tools;
    this.commandTimeoutMs = opts.commandTimeoutMs ?? COMMAND_TIMEOUT_MS_DEFAULT;
    this.keepDir = opts.keepDir ?? false;
    this.dbSocketPath = path.join(dir, "db.sock");
    this.env = {
      ...process.env,
      OVS_RUNDIR: dir,
      OVS_LOGDIR: dir,
      OVS_DBDIR: dir,
      OVS_SYSCONFDIR: dir,
    };
  }

  /** The OVS tools that are not installed (empty when a sandbox can start). */
  static missingTools(): string[] {
    const missing: string[] = OVS_TOOLS.filter((tool) => findTool(tool) === null);
    try {
      accessSync(VSWITCH_SCHEMA_PATH, fsConstants.R_OK);
    } catch {
      missing.push(VSWITCH_SCHEMA_PATH);
    }
    return missing;
  }

  /** Whether the OVS binaries (and the vswitch schema) are installed. */
  static available(): boolean {
    return OvsSandbox.missingTools().length === 0;
  }

  /** Creates the directory and database, starts both daemons, returns when
   * ovs-vswitchd answers. On failure everything started is stopped and the
   * error carries the end of the daemon's log. */
  static async start(opts: SandboxOptions = {}): Promise<OvsSandbox> {
    const missing = OvsSandbox.missingTools();
    if (missing.length > 0) {
      throw new FlowplaneError(
        "FP_ERR_OVS_MISSING",
        `Open vSwitch is not installed (missing: ${missing.join(", ")}); run scripts/install-test-deps.sh`,
      );
    }
    const tools = {} as Record<OvsTool, string>;
    for (const tool of OVS_TOOLS) tools[tool] = findTool(tool) as string;

    const dir = await mkdtemp(path.join(opts.tmpRoot ?? os.tmpdir(), "ovs-sandbox-"));
    const sandbox = new OvsSandbox(dir, tools, opts);
    installExitHook();
    liveSandboxes.add(sandbox);
    try {
      await sandbox.startDaemons(opts.vswitchdArgs ?? [], opts.dummyLevel ?? "override");
    } catch (error) {
      const logTail = await sandbox.logTail("ovs-vswitchd.log");
      await sandbox.stop();
      if (error instanceof Error && logTail !== "") {
        error.message += `\n--- ovs-vswitchd.log (end) ---\n${logTail}`;
      }
      throw error;
    }
    return sandbox;
  }

  private async startDaemons(vswitchdArgs: string[], dummyLevel: "override" | "system"): Promise<void> {
    const dbPath = path.join(this.dir, "conf.db");
    await this.exec("ovsdb-tool", ["create", dbPath, VSWITCH_SCHEMA_PATH]);
    // --detach returns only once the daemon is serving (it signals its parent
    // when ready), so no polling is needed after either start.
    await this.exec("ovsdb-server", [
      "--detach",
      "--no-chdir",
      "--pidfile",
      "--log-file",
      "-vconsole:off",
      `--remote=punix:${this.dbSocketPath}`,
      dbPath,
    ]);
    this.ovsdbServerPidValue = await this.readPidfile("ovsdb-server");
    // The Open_vSwitch row must exist before vswitchd reads the database.
    await this.vsctl(["--no-wait", "init"]);
    await this.exec("ovs-vswitchd", [
      `--enable-dummy=${dummyLevel}`,
      "--disable-system",
      "--detach",
      "--no-chdir",
      "--pidfile",
      "--log-file",
      "-vconsole:off",
      ...vswitchdArgs,
      `unix:${this.dbSocketPath}`,
    ]);
    this.vswitchdPidValue = await this.readPidfile("ovs-vswitchd");
    await this.appctl(["version"]);
  }

  /** ovs-vswitchd's pid, -1 before it started. */
  get vswitchdPid(): number {
    return this.vswitchdPidValue;
  }

  /** ovsdb-server's pid, -1 before it started. */
  get ovsdbServerPid(): number {
    return this.ovsdbServerPidValue;
  }

  /** Runs one OVS tool in the sandbox's environment. Rejects with an
   * OvsCommandError on a non-zero exit unless `allowFailure`. */
  exec(
    tool: OvsTool,
    args: string[],
    opts: { input?: string; allowFailure?: boolean } = {},
  ): Promise<CommandResult> {
    const command = [tool, ...args];
    return new Promise((resolve, reject) => {
      const child = spawn(this.tools[tool], args, {
        cwd: this.dir,
        env: this.env,
        stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      });
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill("SIGKILL");
      }, this.commandTimeoutMs);
      child.stdout?.on("data", (chunk: Buffer) => stdout.push(chunk));
      child.stderr?.on("data", (chunk: Buffer) => stderr.push(chunk));
      child.on("error", (error) => {
        clearTimeout(timer);
        reject(error);
      });
      child.on("close", (code) => {
        clearTimeout(timer);
        const out = Buffer.concat(stdout).toString("utf8");
        const err = Buffer.concat(stderr).toString("utf8");
        if (timedOut) {
          reject(new OvsCommandError(command, code, out, err, `timed out after ${this.commandTimeoutMs} ms`));
        } else if (code !== 0 && opts.allowFailure !== true) {
          reject(new OvsCommandError(command, code, out, err));
        } else {
          resolve({ stdout: out, stderr: err, exitCode: code ?? -1 });
        }
      });
      if (opts.input !== undefined) child.stdin?.end(opts.input);
    });
  }

  /** ovs-vsctl with a timeout, so a vswitchd that never reconfigures fails the
   * command instead of hanging it. Returns stdout. */
  async vsctl(args: string[]): Promise<string> {
    const timeoutS = Math.max(1, Math.floor(this.commandTimeoutMs / 1000));
    return (await this.exec("ovs-vsctl", [`--timeout=${timeoutS}`, ...args])).stdout;
  }

  /** ovs-ofctl; `input` is given on stdin. Returns stdout. */
  async ofctl(args: string[], input?: string): Promise<string> {
    return (await this.exec("ovs-ofctl", args, { input })).stdout;
  }

  /** ovs-appctl to ovs-vswitchd. Returns stdout. */
  async appctl(args: string[]): Promise<string> {
    return (await this.exec("ovs-appctl", ["-t", "ovs-vswitchd", ...args])).stdout;
  }

  /** Adds a bridge on the userspace datapath, with its ports, and checks that
   * every port got the ofport it asked for. */
  async addBridge(name: string, opts: BridgeOptions = {}): Promise<void> {
    const protocols = opts.protocols ?? PROTOCOLS_DEFAULT;
    assert(protocols.length > 0, "a bridge needs at least one OpenFlow version");
    const args = [
      "add-br",
      name,
      "--",
      "set",
      "bridge",
      name,
      "datapath-type=dummy",
      `fail-mode=${opts.fail_mode ?? "secure"}`,
      `protocols=${protocols.join(",")}`,
      ...columnArgs(opts.columns),
    ];
    for (const port of opts.ports ?? []) args.push(...this.portArgs(name, port));
    await this.vsctl(args);
    await this.checkPorts(opts.ports ?? []);
  }

  /** Adds ports to an existing bridge (same rules as addBridge's ports). */
  async addPorts(bridge: string, ports: PortSpec[]): Promise<void> {
    const args: string[] = [];
    for (const port of ports) args.push(...this.portArgs(bridge, port));
    if (args.length === 0) return;
    await this.vsctl(args.slice(1)); // Drop the leading "--".
    await this.checkPorts(ports);
  }

  private portArgs(bridge: string, port: PortSpec): string[] {
    assert(port.name !== "", "a port needs a name");
    const type = port.type ?? "dummy";
    if (type === "patch") assert(port.options?.peer !== undefined, "a patch port needs options.peer");
    const portColumns: string[] = [];
    if (port.tag !== undefined) portColumns.push(`tag=${port.tag}`);
    if (port.trunks !== undefined) portColumns.push(`trunks=[${port.trunks.join(",")}]`);
    if (port.vlan_mode !== undefined) portColumns.push(`vlan_mode=${port.vlan_mode}`);
    portColumns.push(...columnArgs(port.portColumns));

    const interfaceColumns = [`type=${type}`];
    if (port.ofport !== undefined) interfaceColumns.push(`ofport_request=${port.ofport}`);
    if (port.mtu_request !== undefined) interfaceColumns.push(`mtu_request=${port.mtu_request}`);
    const options = { ...port.options };
    // Only netdev-dummy records transmitted frames; other types reject the option.
    if (type === "dummy" && options.tx_pcap === undefined) options.tx_pcap = this.txPcapPath(port.name);
    for (const [key, value] of Object.entries(options)) {
      interfaceColumns.push(`options:${key}=${JSON.stringify(value)}`);
    }
    interfaceColumns.push(...columnArgs(port.interfaceColumns));
    this.portTypes.set(port.name, type);
    return [
      "--",
      "add-port",
      bridge,
      port.name,
      ...portColumns,
      "--",
      "set",
      "interface",
      port.name,
      ...interfaceColumns,
    ];
  }

  private async checkPorts(ports: PortSpec[]): Promise<void> {
    if (ports.length === 0) return;
    const out = await this.vsctl([
      "--format=json",
      "--columns=name,ofport,error",
      "list",
      "interface",
      ...ports.map((p) => p.name),
    ]);
    const table = JSON.parse(out) as { data: [string, number, string | [string, unknown[]]][] };
    for (const [name, ofport, error] of table.data) {
      const spec = ports.find((p) => p.name === name);
      assert(spec !== undefined, "ovs-vsctl listed an interface that was not asked for");
      let errorText = typeof error === "string" ? error : "";
      // A patch port whose peer is not added yet reports this until it is.
      if ((spec.type ?? "dummy") === "patch" && errorText.startsWith("No usable peer")) errorText = "";
      if (errorText !== "" || ofport === -1 || (spec.ofport !== undefined && ofport !== spec.ofport)) {
        throw new FlowplaneError(
          "FP_ERR_OVS_PORT",
          `port ${name}: ofport ${ofport} (asked ${spec.ofport ?? "any"}); error: ${errorText || "none"}`,
        );
      }
    }
  }

  /** ovs-ofctl add-flows, the flows given on stdin (one per line). */
  async addFlows(bridge: string, flowsText: string, opts: OfctlOptions = {}): Promise<void> {
    await this.ofctl(["-O", opts.protocol ?? "OpenFlow13", "add-flows", bridge, "-"], flowsText);
  }

  /** ovs-ofctl replace-flows: afterwards the bridge holds exactly `flowsText`. */
  async replaceFlows(bridge: string, flowsText: string, opts: OfctlOptions = {}): Promise<void> {
    await this.ofctl(["-O", opts.protocol ?? "OpenFlow13", "replace-flows", bridge, "-"], flowsText);
  }

  /** ovs-ofctl del-flows: all flows, or those matching `match`. */
  async delFlows(bridge: string, match?: string, opts: DelFlowsOptions = {}): Promise<void> {
    const args = ["-O", opts.protocol ?? "OpenFlow13"];
    if (opts.strict === true) args.push("--strict");
    args.push("del-flows", bridge);
    if (match !== undefined) args.push(match);
    await this.ofctl(args);
  }

  /** ovs-ofctl dump-flows --no-stats: one flow per element, as OVS prints it
   * (e.g. "priority=10,in_port=1 actions=output:2"), without the reply header. */
  async dumpFlows(bridge: string, opts: DumpFlowsOptions = {}): Promise<string[]> {
    const args = ["-O", opts.protocol ?? "OpenFlow13", "dump-flows", "--no-stats"];
    args.push(opts.names === true ? "--names" : "--no-names");
    if (opts.sort === true) args.push("--sort");
    args.push(bridge);
    if (opts.match !== undefined) args.push(opts.match);
    const out = await this.ofctl(args);
    return out
      .split("\n")
      .map((line) => line.trim())
      .filter((line) => line !== "" && !/^(OFPST|NXST)_FLOW reply/.test(line));
  }

  /** ovs-appctl ofproto/trace BRIDGE in_port=N[,flowExtra] PACKET_HEX. A packet
   * vswitchd refuses resolves with `error` set; any other failure rejects.
   * Datapath actions name datapath port numbers, which are not OpenFlow port
   * numbers (`names` prints port names in every line instead). */
  async trace(
    bridge: string,
    inPort: number | string,
    packetHex: string,
    opts: TraceOptions = {},
  ): Promise<TraceResult> {
    let flow = `in_port=${inPort}`;
    if (opts.flowExtra !== undefined && opts.flowExtra !== "") flow += `,${opts.flowExtra}`;
    const args = ["-t", "ovs-vswitchd", "ofproto/trace"];
    if (opts.names === true) args.push("--names");
    args.push(bridge, flow, packetHex);
    const result = await this.exec("ovs-appctl", args, { allowFailure: true });
    if (result.exitCode !== 0) {
      const refusal = serverError(result.stderr);
      if (refusal === null) {
        throw new OvsCommandError(["ovs-appctl", ...args], result.exitCode, result.stdout, result.stderr);
      }
      return { raw: "", flowLine: null, error: refusal, datapathActions: null, megaflow: null, passes: [] };
    }
    const passes = parseTrace(result.stdout);
    const first = passes.length > 0 ? passes[0] : null;
    return {
      raw: result.stdout,
      flowLine: first?.flowLine ?? null,
      error: null,
      datapathActions: first?.datapathActions ?? null,
      megaflow: first?.megaflow ?? null,
      passes,
    };
  }

  /** Traces many packets, `concurrency` ovs-appctl processes at a time;
   * results are in input order. */
  traceMany(
    bridge: string,
    inputs: readonly TraceInput[],
    opts: { concurrency?: number; names?: boolean } = {},
  ): Promise<TraceResult[]> {
    return mapLimit(inputs, opts.concurrency ?? TRACE_CONCURRENCY_DEFAULT, (input) =>
      this.trace(bridge, input.inPort, input.packetHex, { flowExtra: input.flowExtra, names: opts.names }),
    );
  }

  /** Queues frames on a dummy port's receive side (netdev-dummy/receive): they
   * go through the real datapath, EMC and megaflow cache included. Returns
   * before vswitchd has processed them; see waitForTxPackets. */
  async receive(port: string, packetHex: string | string[]): Promise<void> {
    const packets = typeof packetHex === "string" ? [packetHex] : packetHex;
    assert(packets.length > 0, "receive needs at least one packet");
    await this.appctl(["netdev-dummy/receive", port, ...packets]);
  }

  /** Drops every datapath flow (revalidator/purge). */
  async revalidatorPurge(): Promise<void> {
    await this.appctl(["revalidator/purge"]);
  }

  /** ovs-appctl dpctl/dump-flows: one datapath flow per element, without the
   * "flow-dump from ..." thread headers. `names` prints port names (--names),
   * `more` every field with its mask (-m). */
  async dpctlDumpFlows(opts: { names?: boolean; more?: boolean } = {}): Promise<string[]> {
    const args = ["dpctl/dump-flows"];
    if (opts.names === true) args.push("--names");
    if (opts.more === true) args.push("-m");
    const out = await this.appctl(args);
    return out
      .split("\n")
      .map((line) => line.trim())
      .filter((line) => line !== "" && !line.startsWith("flow-dump from"));
  }

  /** Where a dummy port records the frames it transmits. */
  txPcapPath(port: string): string {
    return path.join(this.dir, `${port}.pcap`);
  }

  /** The tx_pcap path of `port` (a dummy port); the caller reads the file. */
  readTxPcap(port: string): string {
    const type = this.portTypes.get(port);
    assert(type === undefined || type === "dummy", "only dummy ports record a tx_pcap");
    return this.txPcapPath(port);
  }

  /** Resolves once `port`'s tx_pcap holds at least `packetCount` whole frames;
   * rejects after `timeoutMs`. */
  async waitForTxPackets(port: string, packetCount: number, timeoutMs = 5_000): Promise<void> {
    const file = this.readTxPcap(port);
    const deadline = Date.now() + timeoutMs;
    let seen = 0;
    for (;;) {
      try {
        seen = countPcapRecords(await readFile(file));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      }
      if (seen >= packetCount) return;
      if (Date.now() > deadline) {
        throw new FlowplaneError(
          "FP_ERR_OVS_TIMEOUT",
          `${file}: ${seen} frames after ${timeoutMs} ms, expected ${packetCount}`,
        );
      }
      await sleep(POLL_INTERVAL_MS);
    }
  }

  /** The end of one of the sandbox's logs, "" when there is none. */
  async logTail(name: string, lineCount = 30): Promise<string> {
    try {
      const lines = (await readFile(path.join(this.dir, name), "utf8")).trimEnd().split("\n");
      return lines.slice(-lineCount).join("\n");
    } catch {
      return "";
    }
  }

  /** Stops ovs-vswitchd (ovs-appctl exit), then ovsdb-server (SIGTERM via its
   * pidfile), waits for both to be gone, removes the directory. Safe to call
   * twice; later calls wait for the first. */
  stop(): Promise<void> {
    if (this.stopping === null) this.stopping = this.stopOnce();
    return this.stopping;
  }

  private async stopOnce(): Promise<void> {
    try {
      let pid = this.vswitchdPidValue > 0 ? this.vswitchdPidValue : this.readPidfileSync("ovs-vswitchd");
      if (this.owns(pid)) {
        await this.exec("ovs-appctl", ["-t", "ovs-vswitchd", "exit"], { allowFailure: true }).catch(() => undefined);
        await this.waitForExit(pid);
      }
      pid = this.ovsdbServerPidValue > 0 ? this.ovsdbServerPidValue : this.readPidfileSync("ovsdb-server");
      if (this.owns(pid)) {
        signal(pid, "SIGTERM");
        await this.waitForExit(pid);
      }
    } finally {
      liveSandboxes.delete(this);
      if (!this.keepDir) await rm(this.dir, { recursive: true, force: true });
    }
  }

  /** Whether `pid` is a live daemon of this sandbox: its command line names the
   * sandbox directory, so a recycled pid is never signalled. */
  private owns(pid: number): boolean {
    if (pid <= 0 || !processAlive(pid)) return false;
    try {
      return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(this.dir);
    } catch {
      return false;
    }
  }

  private async waitForExit(pid: number): Promise<void> {
    const deadline = Date.now() + DAEMON_EXIT_TIMEOUT_MS;
    while (processAlive(pid)) {
      if (Date.now() > deadline) {
        signal(pid, "SIGKILL");
        await sleep(POLL_INTERVAL_MS);
        return;
      }
      await sleep(POLL_INTERVAL_MS);
    }
  }

  /** For the process-exit hook: SIGTERM both daemons and remove the directory,
   * synchronously and without waiting. */
  killNow(): void {
    for (const daemon of ["ovs-vswitchd", "ovsdb-server"]) {
      const known = daemon === "ovs-vswitchd" ? this.vswitchdPidValue : this.ovsdbServerPidValue;
      const pid = known > 0 ? known : this.readPidfileSync(daemon);
      if (this.owns(pid)) signal(pid, "SIGTERM");
    }
    liveSandboxes.delete(this);
    if (!this.keepDir) rmSync(this.dir, { recursive: true, force: true });
  }

  private async readPidfile(daemon: string): Promise<number> {
    const file = path.join(this.dir, `${daemon}.pid`);
    await stat(file);
    const pid = this.readPidfileSync(daemon);
    assert(pid > 0, `${file} must hold a pid once ${daemon} has detached`);
    return pid;
  }

  private readPidfileSync(daemon: string): number {
    try {
      const pid = Number.parseInt(readFileSync(path.join(this.dir, `${daemon}.pid`), "utf8").trim(), 10);
      return Number.isInteger(pid) && pid > 0 ? pid : -1;
    } catch {
      return -1;
    }
  }
}

/** vswitchd's refusal from ovs-appctl's stderr, or null when ovs-appctl
 * failed for another reason (such as not reaching the daemon). */
function serverError(stderr: string): string | null {
  const lines = stderr.trimEnd().split("\n");
  const last = lines[lines.length - 1] ?? "";
  if (!/^ovs-appctl: .*: server returned an error$/.test(last)) return null;
  return lines.slice(0, -1).join("\n").trim();
}

function columnArgs(columns: Record<string, string> | undefined): string[] {
  if (columns === undefined) return [];
  return Object.entries(columns).map(([column, value]) => `${column}=${value}`);
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone between the check and the signal.
  }
}
