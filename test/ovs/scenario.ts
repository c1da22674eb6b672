/**
 * Runs one pipeline scenario (bridges, ports, flows, groups, input frames)
 * through both Open vSwitch (private sandbox, dummy datapath, frames
 * injected with netdev-dummy/receive, outputs recorded with tx_pcap) and
 * flowplane (replay), and returns what each port transmitted on each side,
 * and the Datapath actions each side's trace gives for every input frame.
 */
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OvsSandbox, type PortSpec as OvsPortSpec } from "./harness.js";
import { parseCapture, writeCapture } from "../../src/io/pcap.js";
import type { TopologySpec } from "../../src/ofproto/topology.js";
import { buildSwitch, validateTopology } from "../../src/ofproto/topology.js";
import { newTable, openflowLoader, addLearnedFlow } from "../../src/ofproto/load.js";
import { replay } from "../../src/cli/replay.js";
import { traceKey, traceText } from "../../src/cli/trace.js";
import { formatOdpActions } from "../../src/datapath/actions.js";
import type { Switch } from "../../src/ofproto/bridge.js";

export interface Scenario {
  name: string;
  /** meters: add-meter texts, one per line (OVS gets them in bridge order, as flowplane loads them). */
  bridges: { name: string; flows?: string; groups?: string; meters?: string }[];
  ports: { name: string; bridge: string; ofport: number; type?: "patch"; peer?: string; tag?: number; trunks?: number[]; vlan_mode?: "access" | "trunk" | "native-tagged" | "native-untagged"; mtu?: number }[];
  /** Frames in the order they arrive, each on a port. */
  inputs: { port: string; frame: Uint8Array }[];
}

export interface SideResult {
  /** Port name -> frames it transmitted, hex, in order. */
  tx: Record<string, string[]>;
}

export interface ScenarioResult {
  ovs: SideResult;
  flowplane: SideResult;
  /** Per input frame: [ovs datapath actions, flowplane datapath actions], traced before any frame was sent. */
  actions: [string, string][];
}


/** Writes the scenario as a topology directory for flowplane and returns the switch builder's input. */
function writeTopology(s: Scenario, dir: string): { file: string; spec: TopologySpec } {
  const spec: TopologySpec = {
    bridges: s.bridges.map((b) => {
      const out: TopologySpec["bridges"][number] = { name: b.name, protocols: "OpenFlow13" };
      if (b.flows !== undefined) {
        writeFileSync(join(dir, `${b.name}.flows`), b.flows);
        out.flows = `${b.name}.flows`;
      }
      if (b.groups !== undefined) {
        writeFileSync(join(dir, `${b.name}.groups`), b.groups);
        out.groups = `${b.name}.groups`;
      }
      if (b.meters !== undefined) {
        writeFileSync(join(dir, `${b.name}.meters`), b.meters);
        out.meters = `${b.name}.meters`;
      }
      return out;
    }),
    ports: s.ports.map((p) => ({ ...p })),
  };
  const file = join(dir, "topology.json");
  writeFileSync(file, JSON.stringify(spec, null, 1));
  return { file, spec: validateTopology(JSON.parse(readFileSync(file, "utf8")), file) };
}

export function buildScenarioSwitch(s: Scenario, dir = mkdtempSync(join(tmpdir(), "fp-scn-"))): Switch {
  const { file, spec } = writeTopology(s, dir);
  return buildSwitch(spec, file, newTable, openflowLoader);
}

/** The first input's timestamp; input i is stamped i ms later, so an output's timestamp names its input. */
export const TS0 = 1_700_000_000;

/**
 * Replays the scenario's inputs (input i at TS0 + i ms) and returns the
 * switch and the output directory; `megaflowsFile` is replay's --megaflows.
 */
export function replayScenario(s: Scenario, opts: { noCache?: boolean; megaflowsFile?: string } = {}): { sw: Switch; outDir: string; portNames: string[] } {
  const dir = mkdtempSync(join(tmpdir(), "fp-scn-"));
  const sw = buildScenarioSwitch(s, dir);
  const byPort = new Map<string, { data: Uint8Array; tsSec: number; tsNsec: number }[]>();
  s.inputs.forEach((inp, i) => {
    const list = byPort.get(inp.port) ?? [];
    list.push({ data: inp.frame, tsSec: TS0 + Math.floor(i / 1000), tsNsec: (i % 1000) * 1_000_000 });
    byPort.set(inp.port, list);
  });
  const inputs = [...byPort.entries()].map(([port, frames]) => {
    const path = join(dir, `in-${port}.pcap`);
    writeCapture(path, frames);
    return { port: sw.portsByName.get(port)!, capture: parseCapture(readFileSync(path), path) };
  });
  const outDir = join(dir, "out");
  replay(sw, inputs, { outDir, noCache: opts.noCache, megaflowsFile: opts.megaflowsFile });
  const portNames = s.ports.filter((p) => p.type !== "patch").map((p) => p.name).concat(s.bridges.map((b) => b.name));
  return { sw, outDir, portNames };
}

/** flowplane side: replay each port's frames (merged by timestamp = arrival order). */
export function runFlowplane(s: Scenario, opts: { noCache?: boolean } = {}): SideResult {
  const { outDir, portNames } = replayScenario(s, opts);
  const tx: Record<string, string[]> = {};
  for (const p of portNames) {
    const path = join(outDir, `${p}.pcap`);
    tx[p] = existsSync(path) ? framesOf(readFileSync(path)) : [];
  }
  return { tx };
}

function framesOf(buf: Buffer): string[] {
  const cap = parseCapture(buf, "tx");
  const out: string[] = [];
  for (let i = 0; i < cap.count; i++) out.push(buf.subarray(cap.offsets[i], cap.offsets[i] + cap.lengths[i]).toString("hex"));
  return out;
}

/** A dpctl/dump-flows line without its statistics. */
export const megaflowWithoutStats = (line: string): string => line.replace(/, packets:\d+, bytes:\d+, used:[^,]+, actions:/, " actions:");

/** flowplane's `replay --megaflows` for the scenario: per input frame, the megaflows it installed (no statistics, sorted). */
export function flowplaneMegaflows(s: Scenario): string[][] {
  const file = join(mkdtempSync(join(tmpdir(), "fp-mf-")), "mf.txt");
  replayScenario(s, { megaflowsFile: file });
  const blocks = readFileSync(file, "utf8").split(/^## packet .*$/m).slice(1);
  return blocks.map((b) => b.trim().split("\n").filter((l) => l).map(megaflowWithoutStats).sort());
}

/**
 * Open vSwitch side of `flowplaneMegaflows`: each input injected after
 * `revalidator/purge`, then its megaflows (no statistics, sorted) once the
 * dump shows any. `setupOvs` must have run.
 */
export async function ovsMegaflows(s: Scenario, ovs: OvsSandbox): Promise<string[][]> {
  const theirs: string[][] = [];
  for (const inp of s.inputs) {
    await ovs.revalidatorPurge();
    await ovs.receive(inp.port, Buffer.from(inp.frame).toString("hex"));
    let lines: string[] = [];
    for (let i = 0; i < 40 && lines.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 25));
      lines = await ovs.dpctlDumpFlows({ names: true });
    }
    theirs.push(lines.map(megaflowWithoutStats).sort());
  }
  return theirs;
}

/** Open vSwitch side: bridges, ports, meters, groups, flows. */
export async function setupOvs(s: Scenario, ovs: OvsSandbox): Promise<void> {
  for (const b of s.bridges) {
    const ports: OvsPortSpec[] = s.ports
      .filter((p) => p.bridge === b.name)
      .map((p) => ({
        name: p.name,
        ofport: p.ofport,
        type: p.type,
        options: p.type === "patch" ? { peer: p.peer! } : undefined,
        tag: p.tag,
        trunks: p.trunks,
        vlan_mode: p.vlan_mode,
        mtu_request: p.mtu,
      }));
    await ovs.addBridge(b.name, { ports, protocols: ["OpenFlow10", "OpenFlow13"] });
    // The bridge's LOCAL (internal) port is a dummy too under --enable-dummy=override: record it.
    await ovs.vsctl(["set", "Interface", b.name, `options:tx_pcap=${ovs.readTxPcap(b.name)}`]);
  }
  for (const b of s.bridges) {
    for (const line of (b.meters ?? "").split("\n")) {
      if (line.trim() !== "" && !line.trim().startsWith("#")) await ovs.ofctl(["-O", "OpenFlow13", "add-meter", b.name, line]);
    }
    if (b.groups) await ovs.ofctl(["-O", "OpenFlow13", "add-groups", b.name, "-"], b.groups);
    await ovs.replaceFlows(b.name, b.flows ?? "priority=0 actions=NORMAL\n");
  }
}

/** Open vSwitch side: sends the frames and collects what every port transmitted. */
export async function injectOvs(s: Scenario, ovs: OvsSandbox): Promise<SideResult> {
  for (const inp of s.inputs) await ovs.receive(inp.port, Buffer.from(inp.frame).toString("hex"));
  // Wait until every tx_pcap stops growing.
  const names = s.ports.filter((p) => p.type !== "patch").map((p) => p.name).concat(s.bridges.map((b) => b.name));
  let last = "";
  for (let i = 0; i < 50; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const sizes = names.map((n) => (existsSync(ovs.readTxPcap(n)) ? readFileSync(ovs.readTxPcap(n)).length : 0)).join(",");
    if (sizes === last && i > 2) break;
    last = sizes;
  }
  const tx: Record<string, string[]> = {};
  for (const n of names) tx[n] = existsSync(ovs.readTxPcap(n)) ? framesOf(readFileSync(ovs.readTxPcap(n))) : [];
  return { tx };
}

/** Datapath actions of each input frame traced on a fresh switch (no learning), both sides, with port names. */
export async function traceBoth(s: Scenario, ovs: OvsSandbox): Promise<[string, string][]> {
  const sw = buildScenarioSwitch(s);
  const out: [string, string][] = [];
  // A trace with a packet learns (MACs, learn()) in OVS: trace in order, on both sides, then forget.
  const results: Awaited<ReturnType<OvsSandbox["trace"]>>[] = [];
  for (const i of s.inputs) results.push(await ovs.trace(sw.portsByName.get(i.port)!.bridge.name, i.port, Buffer.from(i.frame).toString("hex"), { names: true }));
  await ovs.appctl(["fdb/flush"]);
  // A traced packet also goes through conntrack (execute_actions_except_outputs commits its connections).
  await ovs.appctl(["dpctl/flush-conntrack"]);
  for (const b of s.bridges) await ovs.replaceFlows(b.name, b.flows ?? "priority=0 actions=NORMAL\n");
  await ovs.revalidatorPurge();
  s.inputs.forEach((inp, i) => {
    const port = sw.portsByName.get(inp.port)!;
    const key = traceKey(sw, port.bridge, `in_port=${port.name}`, Buffer.from(inp.frame).toString("hex"));
    const ours =
      key instanceof Uint32Array
        ? formatOdpActions(traceText(sw, key, i, true, true, (b, f) => addLearnedFlow(b, f, i)).output.actions, (p) => sw.dpPortName(p))
        : `ERROR: ${key.error}`;
    const theirs = results[i].datapathActions ?? `ERROR: ${results[i].error}`;
    out.push([theirs, ours]);
  });
  return out;
}
