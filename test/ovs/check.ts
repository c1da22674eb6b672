/**
 * The differential check every pipeline-*.test.ts file shares: one Scenario
 * through Open vSwitch 3.1 and flowplane. Each input's trace must give the
 * same datapath actions (each output with the headers it carries, compared
 * as a set, since OVS's flood order is unspecified; see normalizeOutputs),
 * and every port must transmit the same frames byte for byte, with the
 * datapath caches and without them.
 *
 * `runBatch` puts many independent scenarios into one sandbox as separate
 * bridges (names prefixed), so a few hundred small cases cost a few OVS
 * starts rather than hundreds; it talks to ovs-vswitchd over one control
 * connection, sends each frame through OVS's slow path (see
 * injectOvsPurging) and compares what each input made each port send.
 */
import { expect } from "vitest";
import { createConnection, type Socket } from "node:net";
import { join } from "node:path";
import { existsSync, readFileSync } from "node:fs";
import { OvsSandbox, mapLimit, parseTrace, countPcapRecords } from "./harness.js";
import { parseCapture } from "../../src/io/pcap.js";
import { type Scenario, setupOvs, injectOvs, runFlowplane, traceBoth, buildScenarioSwitch, replayScenario, TS0 } from "./scenario.js";
import * as L from "../../src/flow/layout.js";
import { Parser, HDR_WORDS } from "../../src/packet/parse.js";
import { formatSet, formatOdpActions, SET_ATTR_FIELDS, type SetAttr } from "../../src/datapath/actions.js";
import { traceKey, traceText } from "../../src/cli/trace.js";
import { addLearnedFlow, singleBridge } from "../../src/ofproto/load.js";
import type { Bridge, Switch } from "../../src/ofproto/bridge.js";

export const haveOvs = OvsSandbox.available();

/** The OpenFlow error code a message names (OFPBAC_, OFPFMFC_, OFPGMFC_, OFPMMFC_...), or null. */
export const openflowErrorOf = (message: string): string | null => /OFP(BAC|FMFC|GMFC|MMFC)_[A-Z_0-9]+/.exec(message)?.[0] ?? null;

/**
 * For table-change differentials: a flowplane switch with one OpenFlow 1.3
 * bridge br0 and ports p1..pN (ofport n), and an OVS sandbox with the same
 * bridge and ports and no flows. The caller stops `ovs`.
 */
export async function twinBridges(ports = 4): Promise<{ sw: Switch; br: Bridge; ovs: OvsSandbox }> {
  const list = Array.from({ length: ports }, (_, i) => ({ name: `p${i + 1}`, ofport: i + 1 }));
  const sw = singleBridge("flows", list, "br0", () => "");
  const br = sw.byName.get("br0")!;
  br.protocol = "OpenFlow13";
  const ovs = await OvsSandbox.start();
  try {
    await ovs.addBridge("br0", { protocols: ["OpenFlow13"] });
    await ovs.addPorts("br0", list);
    await ovs.delFlows("br0", undefined, { protocol: "OpenFlow13" });
  } catch (e) {
    await ovs.stop();
    throw e;
  }
  return { sw, br, ovs };
}
if (!haveOvs && process.env.CI === "true") throw new Error("Open vSwitch is not installed (scripts/install-test-deps.sh installs it)");

/** fa:16:3e:00:00:NN, Neutron's MAC prefix. */
export const M = (n: number): string => `fa:16:3e:00:00:${n.toString(16).padStart(2, "0")}`;
export const BCAST = "ff:ff:ff:ff:ff:ff";

/**
 * OVS's datapath actions as flowplane can produce them: OVS turns a
 * controller action (an explicit one, or dec_ttl at TTL 1 reporting
 * invalid_ttl) into userspace(pid=0,controller(...)) even when no controller
 * is connected, so the packet-in goes nowhere; flowplane has no controller
 * channel and emits nothing for it. Both transmit the same frames (the
 * comparison of transmitted frames covers that); the trace comparison leaves
 * the userspace action out.
 */
export function withoutPacketIns(text: string): string {
  if (!text.includes("userspace(")) return text;
  const kept = splitActions(text)
    .filter((p) => !/^userspace\(pid=\d+,controller\(/.test(p))
    // Inside a datapath clone too (a controller action behind a patch port that is not the last output).
    .map((p) => (p.startsWith("clone(") && p.endsWith(")") ? `clone(${withoutPacketIns(p.slice("clone(".length, -1))})` : p));
  return kept.length ? kept.join(",") : "drop";
}

/** Splits datapath actions at top-level commas ("set(eth(src=a,dst=b)),2" -> two items). */
function splitActions(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (c === "," && depth === 0) {
      out.push(text.slice(start, i));
      start = i + 1;
    }
  }
  out.push(text.slice(start));
  return out;
}

/** "set(eth(src=a,dst=b/m))" -> ["eth", [["src","a"],["dst","b/m"]]]. */
function setFields(item: string): [string, [string, string][]] {
  const inner = item.slice(4, -1);
  const open = inner.indexOf("(");
  const attr = inner.slice(0, open);
  const body = inner.slice(open + 1, -1);
  const fields = body === "" ? [] : splitActions(body).map((f): [string, string] => {
    const eq = f.indexOf("=");
    return eq < 0 ? ["", f] : [f.slice(0, eq), f.slice(eq + 1)];
  });
  return [attr, fields];
}

/** What every settable header of `frame` holds, field by field, in datapath-action text. */
function originalFields(frame: Uint8Array): Map<string, string> {
  const key = new Uint32Array(L.KEY_WORDS);
  const out = new Map<string, string>();
  if (new Parser().parseFrame(frame, 0, frame.length, 0, key, 0, new Uint16Array(HDR_WORDS), 0) !== 0) return out;
  const all = new Uint32Array(L.KEY_WORDS).fill(0xffffffff);
  for (const attr of Object.keys(SET_ATTR_FIELDS) as SetAttr[]) {
    const [, fields] = setFields(`set(${formatSet({ attr, masked: false, value: key, mask: all })})`);
    for (const [f, v] of fields) {
      const n = asNumber(v);
      out.set(`${attr}.${f}`, n === null ? v : String(n));
    }
  }
  return out;
}

const asNumber = (x: string): number | null => (/^(0x[0-9a-f]+|\d+)$/.test(x) ? Number(x) : null);

/**
 * A field's value after a set of `text` ("v" or masked "v/m") on `current`:
 * numeric fields are computed (so "tclass=0/0xfc" on a tclass of 0 is no
 * change, and 0 and 0x0 are the same); other masked values stay as written.
 */
function applySet(current: string | undefined, text: string): string {
  const [v, m] = text.split("/");
  if (m === undefined) return asNumber(v) === null ? v : String(asNumber(v));
  const cur = current === undefined ? null : asNumber(current);
  const nv = asNumber(v);
  const nm = asNumber(m);
  if (cur === null || nv === null || nm === null) return `${v}/${m}`;
  return String(((cur & ~nm) | (nv & nm)) >>> 0);
}

/**
 * Datapath actions as a sorted list of "port|VLAN tags|changed fields", one
 * per output. OVS's flood order is unspecified, and another order changes
 * which set, push and pop actions come between outputs, without changing
 * what each port receives: so each output is described by the headers the
 * packet has when it leaves, fields equal to the input frame's left out (a
 * set that restores a field is no change). Other actions stay as they are;
 * the actions of a clone(...) are walked on a copy of the headers.
 */
export function normalizeOutputs(text: string, frame: Uint8Array): string {
  if (text === "drop" || text.startsWith("ERROR")) return text;
  const original = originalFields(frame);
  const vlans: string[] = [];
  for (let p = 12; p + 4 <= frame.length && vlans.length < 2; p += 4) {
    const tpid = (frame[p] << 8) | frame[p + 1];
    if (tpid !== 0x8100 && tpid !== 0x88a8) break;
    const tci = (frame[p + 2] << 8) | frame[p + 3];
    vlans.push(`push_vlan(${tpid === 0x8100 ? "" : `tpid=0x${tpid.toString(16)},`}vid=${tci & 0xfff},pcp=${tci >> 13})`);
  }
  const outs: string[] = [];
  // A datapath clone(...) runs its actions on a copy of the packet: walked
  // with copies of the headers, so a clone and the same actions inlined at
  // the end of the list (which OVS picks by its flood order: a patch port
  // flooded last needs no clone) describe the same outputs.
  const walk = (items: string[], vlans: string[], fields: Map<string, string>): void => {
    for (const item of items) {
      if (item.startsWith("push_vlan(")) vlans.unshift(item);
      else if (item === "pop_vlan") vlans.shift();
      else if (item.startsWith("set(")) {
        const [attr, list] = setFields(item);
        for (const [f, v] of list) {
          const k = `${attr}.${f}`;
          fields.set(k, applySet(fields.get(k) ?? original.get(k), v));
        }
      } else if (item.startsWith("clone(") && item.endsWith(")")) {
        walk(splitActions(item.slice("clone(".length, -1)), [...vlans], new Map(fields));
      } else if (/^[A-Za-z0-9_.\-"]+$/.test(item)) {
        const changed = [...fields].filter(([k, v]) => original.get(k) !== v).map(([k, v]) => `${k}=${v}`);
        outs.push(`${item}|${vlans.join("+")}|${changed.sort().join("+")}`);
      } else if (item !== "drop") outs.push(item);
    }
  };
  walk(splitActions(text), vlans, new Map<string, string>());
  return outs.length ? outs.sort().join(" ; ") : "drop";
}

export interface CheckOptions {
  /**
   * Inputs (0-based) whose trace is not compared, each with the reason
   * (a deliberate difference such as select-group hashing); their
   * transmitted frames still are, unless `compareTx` says otherwise.
   */
  skipTrace?: Record<number, string>;
  /** Rewrites each side's per-port frame lists before comparing (to compare what is comparable). */
  compareTx?: (tx: Record<string, string[]>) => unknown;
}

export interface CheckResult {
  actions: [string, string][];
  tx: Record<string, string[]>;
}

/** Runs `s` through both sides and asserts they agree; returns OVS's view for extra checks. */
export async function checkScenario(s: Scenario, opts: CheckOptions = {}): Promise<CheckResult> {
  const ovs = await OvsSandbox.start();
  try {
    await setupOvs(s, ovs);
    const actions = await traceBoth(s, ovs);
    if (process.env.FP_SCENARIO_DEBUG) for (const [i, [theirs, ours]] of actions.entries()) console.log(`${s.name} #${i + 1}\n  ovs: ${theirs}\n  fp:  ${ours}`);
    for (const [i, [theirs, ours]] of actions.entries()) {
      if (opts.skipTrace && i in opts.skipTrace) continue;
      const frame = s.inputs[i].frame;
      expect(normalizeOutputs(ours, frame), `${s.name}: trace of input ${i + 1} (ovs: ${theirs}; ours: ${ours})`).toBe(normalizeOutputs(withoutPacketIns(theirs), frame));
    }
    const theirs = await injectOvs(s, ovs);
    const view = opts.compareTx ?? ((tx: Record<string, string[]>) => tx);
    const ours = runFlowplane(s);
    expect(view(ours.tx), `${s.name}: transmitted frames\n${txDiff(ours.tx, theirs.tx)}`).toEqual(view(theirs.tx));
    const noCache = runFlowplane(s, { noCache: true });
    expect(view(noCache.tx), `${s.name}: transmitted frames without caches\n${txDiff(noCache.tx, theirs.tx)}`).toEqual(view(theirs.tx));
    return { actions, tx: theirs.tx };
  } finally {
    await ovs.stop();
  }
}

/** A short account of where two per-port frame lists differ (sizes, first differing byte). */
export function txDiff(ours: Record<string, string[]>, theirs: Record<string, string[]>): string {
  const lines: string[] = [];
  for (const port of new Set([...Object.keys(theirs), ...Object.keys(ours)])) {
    const a = ours[port] ?? [];
    const b = theirs[port] ?? [];
    if (JSON.stringify(a) === JSON.stringify(b)) continue;
    lines.push(`  ${port}: ovs sent ${b.length} frames [${b.map((f) => f.length / 2).join(",")}], flowplane ${a.length} [${a.map((f) => f.length / 2).join(",")}]`);
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      if (a[i] === b[i]) continue;
      let at = 0;
      while (at < a[i].length && a[i][at] === b[i][at]) at++;
      lines.push(`    frame ${i + 1} differs at byte ${at >> 1}: ovs ${b[i].slice(at & ~1, (at & ~1) + 16)}…, flowplane ${a[i].slice(at & ~1, (at & ~1) + 16)}…`);
      break;
    }
  }
  return lines.join("\n");
}

/**
 * Merges independent scenarios into one: scenario k's bridges and ports get
 * the prefix `s<k>-`; its inputs keep their order, after those of scenario
 * k-1. Bridges never share MAC tables or flows, so the merge changes nothing
 * but the number of sandboxes.
 */
export function mergeScenarios(name: string, list: Scenario[]): { merged: Scenario; inputOwner: number[] } {
  const merged: Scenario = { name, bridges: [], ports: [], inputs: [] };
  const inputOwner: number[] = [];
  list.forEach((s, k) => {
    const pre = (n: string): string => `s${k}-${n}`;
    for (const b of s.bridges) merged.bridges.push({ ...b, name: pre(b.name) });
    for (const p of s.ports) merged.ports.push({ ...p, name: pre(p.name), bridge: pre(p.bridge), peer: p.peer === undefined ? undefined : pre(p.peer) });
    for (const i of s.inputs) {
      merged.inputs.push({ port: pre(i.port), frame: i.frame });
      inputOwner.push(k);
    }
  });
  return { merged, inputOwner };
}

/**
 * Traces every input of a merged batch on both sides, in order, as
 * traceBoth does, but through one control connection (see Unixctl).
 */
async function traceBatch(merged: Scenario, ovs: OvsSandbox, ctl: Unixctl): Promise<[string, string][]> {
  const sw = buildScenarioSwitch(merged);
  const theirs: string[] = [];
  for (const inp of merged.inputs) {
    const bridge = sw.portsByName.get(inp.port)!.bridge.name;
    try {
      const raw = await ctl.call("ofproto/trace", ["--names", bridge, `in_port=${inp.port}`, Buffer.from(inp.frame).toString("hex")]);
      theirs.push(parseTrace(raw)[0]?.datapathActions ?? "ERROR: no datapath actions");
    } catch (e) {
      theirs.push(`ERROR: ${(e as Error).message}`);
    }
  }
  // A trace learns (MACs, learn()): forget it before the frames are sent.
  await ctl.call("fdb/flush", []);
  await mapLimit(merged.bridges, 4, (b) => ovs.replaceFlows(b.name, b.flows ?? "priority=0 actions=NORMAL\n"));
  await ctl.call("revalidator/purge", []);
  return merged.inputs.map((inp, i) => {
    const port = sw.portsByName.get(inp.port)!;
    const key = traceKey(sw, port.bridge, `in_port=${port.name}`, Buffer.from(inp.frame).toString("hex"));
    const ours =
      key instanceof Uint32Array
        ? formatOdpActions(traceText(sw, key, i, true, true, (b, f) => addLearnedFlow(b, f, i)).output.actions, (p) => sw.dpPortName(p))
        : `ERROR: ${key.error}`;
    return [theirs[i], ours];
  });
}

/**
 * A JSON-RPC connection to ovs-vswitchd's control socket: what ovs-appctl
 * does, without a process per command (a trace costs 0.1 ms instead of 5).
 * Requests are answered in order; each reply is one JSON object.
 */
export class Unixctl {
  private buffer = "";
  private readonly waiting: { resolve: (s: string) => void; reject: (e: Error) => void }[] = [];
  private nextId = 0;

  private constructor(private readonly socket: Socket) {
    socket.setEncoding("utf8");
    socket.on("data", (d: string) => {
      this.buffer += d;
      for (let end = objectEnd(this.buffer); end > 0; end = objectEnd(this.buffer)) {
        const reply = JSON.parse(this.buffer.slice(0, end)) as { result?: string; error?: string | null };
        this.buffer = this.buffer.slice(end);
        const w = this.waiting.shift()!;
        if (reply.error !== undefined && reply.error !== null) w.reject(new Error(String(reply.error).trim()));
        else w.resolve(reply.result ?? "");
      }
    });
  }

  static async connect(ovs: OvsSandbox): Promise<Unixctl> {
    const socket = createConnection(join(ovs.dir, `ovs-vswitchd.${ovs.vswitchdPid}.ctl`));
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    return new Unixctl(socket);
  }

  call(method: string, params: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.socket.write(JSON.stringify({ method, params, id: this.nextId++ }));
    });
  }

  close(): void {
    this.socket.end();
  }
}

/** Index just past the first complete top-level JSON object in `s`, or 0. */
function objectEnd(s: string): number {
  let depth = 0;
  let inString = false;
  let escaped = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (inString) {
      if (escaped) escaped = false;
      else if (c === "\\") escaped = true;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "{") depth++;
    else if (c === "}" && --depth === 0) return i + 1;
  }
  return 0;
}

/**
 * Sends a batch's frames into OVS (netdev-dummy/receive) and removes every
 * datapath flow after each one, then collects what every port transmitted.
 *
 * Why purge: a packet that hits an installed megaflow does not teach OVS's
 * MAC table at once; the revalidator applies that learning later (the
 * XC_NORMAL entry of the flow's xlate cache) and meanwhile re-translates the
 * megaflow without it. So when a MAC moves back to a port whose flow is
 * cached, OVS forwards by the stale location for a while, depending on
 * revalidator timing; flowplane learns on every packet, as OVS's slow path
 * does. Random tables move MACs all the time. With the flows purged, every
 * frame is an upcall, translated with its side effects, and the comparison
 * is deterministic.
 */
async function injectOvsPurging(s: Scenario, ovs: OvsSandbox, ctl: Unixctl): Promise<Map<string, Sent[]>> {
  const txPorts = s.ports.filter((p) => p.type !== "patch").map((p) => p.name).concat(s.bridges.map((b) => b.name));
  const portsOfScenario = new Map<string, string[]>();
  for (const p of txPorts) {
    const k = /^s\d+-/.exec(p)![0];
    portsOfScenario.set(k, [...(portsOfScenario.get(k) ?? []), p]);
  }
  const seen = new Map<string, number>(txPorts.map((p) => [p, 0]));
  const owner = new Map<string, number[]>(txPorts.map((p) => [p, []]));
  let sent = received(await ctl.call("dpif-netdev/pmd-stats-show", []));
  for (const [i, inp] of s.inputs.entries()) {
    await ctl.call("netdev-dummy/receive", [inp.port, Buffer.from(inp.frame).toString("hex")]);
    sent++;
    // Several requests on one connection can be served in one main-loop pass,
    // before the dummy port's queue is read: wait until this frame was.
    for (let n = 0; received(await ctl.call("dpif-netdev/pmd-stats-show", [])) < sent; n++) {
      if (n > 1000) throw new Error(`ovs-vswitchd did not take frame ${sent}`);
      await new Promise((r) => setTimeout(r, 1));
    }
    await ctl.call("revalidator/purge", []);
    // What each port of this frame's scenario sent since the last frame came from it.
    for (const p of portsOfScenario.get(/^s\d+-/.exec(inp.port)![0])!) {
      const file = ovs.readTxPcap(p);
      const count = existsSync(file) ? countPcapRecords(readFileSync(file)) : 0;
      for (let n = seen.get(p)!; n < count; n++) owner.get(p)!.push(i);
      seen.set(p, count);
    }
  }
  const tx = (await injectOvs({ ...s, inputs: [] }, ovs)).tx;
  const out = new Map<string, Sent[]>();
  for (const p of txPorts) out.set(p, tx[p].map((hex, n) => ({ input: owner.get(p)![n] ?? -1, hex })));
  return out;
}

/** A transmitted frame and the input (index) that caused it. */
interface Sent {
  input: number;
  hex: string;
}

/** flowplane's side of a batch: replay, each output frame tagged with its input by its timestamp (runFlowplane's stamps). */
function runFlowplaneSent(s: Scenario, opts: { noCache?: boolean }): Map<string, Sent[]> {
  const { outDir, portNames } = replayScenario(s, opts);
  const out = new Map<string, Sent[]>();
  for (const p of portNames) {
    const path = join(outDir, `${p}.pcap`);
    const list: Sent[] = [];
    if (existsSync(path)) {
      const buf = readFileSync(path);
      const cap = parseCapture(buf, path);
      for (let n = 0; n < cap.count; n++) {
        const input = (cap.tsSec[n] - TS0) * 1000 + Math.round(cap.tsNsec[n] / 1_000_000);
        list.push({ input, hex: buf.subarray(cap.offsets[n], cap.offsets[n] + cap.lengths[n]).toString("hex") });
      }
    }
    out.set(p, list);
  }
  return out;
}


/**
 * Where two sides' frames of one port differ: the same inputs must cause
 * frames in the same order, and each input the same frames; the frames one
 * input sends out of one port are compared as a set, since OVS's flood order
 * decides the order of two copies that leave by the same port.
 */
function sentDiff(ours: Sent[], theirs: Sent[]): string | null {
  const group = (list: Sent[]): string[] => {
    const byInput = new Map<number, string[]>();
    for (const f of list) byInput.set(f.input, [...(byInput.get(f.input) ?? []), f.hex]);
    return [...byInput].map(([i, frames]) => `input ${i + 1}: ${frames.sort().join(" ")}`);
  };
  const a = group(ours);
  const b = group(theirs);
  for (let n = 0; n < Math.max(a.length, b.length); n++) {
    if (a[n] !== b[n]) return `ovs ${b[n] ?? "(nothing more)"}\n      flowplane ${a[n] ?? "(nothing more)"}`;
  }
  return null;
}

/** "packets received" of the main thread (which polls dummy ports) in dpif-netdev/pmd-stats-show. */
export function received(stats: string): number {
  const m = /main thread:\s*\n\s*packets received: (\d+)/.exec(stats);
  return m ? Number(m[1]) : 0;
}

/**
 * Runs many scenarios in one sandbox and returns, per scenario, the list of
 * disagreements (empty when both sides agree), so a caller can report every
 * failing case at once with its scenario's description.
 */
export async function runBatch(list: Scenario[]): Promise<string[][]> {
  const { merged, inputOwner } = mergeScenarios("batch", list);
  const problems: string[][] = list.map(() => []);
  const ovs = await OvsSandbox.start();
  const ctl = await Unixctl.connect(ovs);
  try {
    await setupOvs(merged, ovs);
    const actions = await traceBatch(merged, ovs, ctl);
    const firstInput = list.map(() => -1);
    for (const [i, [theirs, ours]] of actions.entries()) {
      const k = inputOwner[i];
      if (firstInput[k] < 0) firstInput[k] = i;
      const frame = merged.inputs[i].frame;
      const a = normalizeOutputs(ours, frame);
      const b = normalizeOutputs(withoutPacketIns(theirs), frame);
      if (a !== b) problems[k].push(`trace of input ${i - firstInput[k] + 1}: ovs "${theirs}", flowplane "${ours}"`);
    }
    const theirs = await injectOvsPurging(merged, ovs, ctl);
    for (const [label, ours] of [
      ["", runFlowplaneSent(merged, {})],
      [" (no caches)", runFlowplaneSent(merged, { noCache: true })],
    ] as const) {
      for (const [port, b] of theirs) {
        const k = Number(/^s(\d+)-/.exec(port)![1]);
        const diff = sentDiff(ours.get(port) ?? [], b);
        if (diff !== null) problems[k].push(`port ${port.replace(/^s\d+-/, "")} transmitted${label} (inputs numbered in the batch):\n      ${diff}`);
      }
    }
  } finally {
    ctl.close();
    await ovs.stop();
  }
  return problems;
}
