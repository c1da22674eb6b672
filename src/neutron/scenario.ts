/**
 * The bundled Neutron scenarios (pcaps/neutron/): a topology, captures and
 * steps. Each scenario is a capture whose frame i is step i: the port it
 * arrives on, what it is, the ports that must transmit something because of
 * it (none: dropped) and, optionally, header values the frame must carry on
 * the first of those ports (the NATed address, the routed TTL).
 *
 * `runScenario` replays a scenario through flowplane on a fresh switch (the
 * topology file with its flows) and attributes every transmitted frame to
 * the step that caused it by its timestamp (replay stamps each output with
 * its input's time); `judgeStep` compares that with the step's expectation.
 * The Open vSwitch differential tests use the same files and the same judge.
 */
import { mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseCapture, readCapture, writeCapture, type Capture } from "../io/pcap.js";
import { loadTopology } from "../ofproto/load.js";
import { replay } from "../cli/replay.js";
import { NeutronInputError } from "./errors.js";

/** Header values a delivered frame must carry (IPv4 frames, optionally one VLAN tag). */
export interface StepCheck {
  src_mac?: string;
  dst_mac?: string;
  ip_src?: string;
  ip_dst?: string;
  ttl?: number;
  tp_src?: number;
  tp_dst?: number;
}

export interface ScenarioStep {
  /** The port the frame arrives on; a bridge's name is its LOCAL port. */
  port: string;
  note: string;
  /** Ports that must transmit because of this frame, sorted or not; empty: dropped everywhere. */
  to: string[];
  check?: StepCheck;
}

/** What a scenario's pipeline uses beyond plain OpenFlow: connection tracking, NAT, conjunctive matches. */
export type Capability = "ct" | "nat" | "conjunction";

export interface NeutronScenario {
  name: string;
  title: string;
  capture: string;
  needs: Capability[];
  steps: ScenarioStep[];
}

export interface ScenarioFile {
  topology: string;
  scenarios: NeutronScenario[];
}

export interface ScenarioBundle {
  dir: string;
  topologyFile: string;
  scenarios: NeutronScenario[];
}

/** What one step made each port transmit (hex frames), only ports that sent something. */
export type StepOutput = Record<string, string[]>;

export interface StepVerdict {
  ok: boolean;
  /** Ports that transmitted, sorted. */
  got: string[];
  problems: string[];
}

export function loadScenarioBundle(dir: string): ScenarioBundle {
  const file = join(dir, "scenarios.json");
  const raw = JSON.parse(readFileSync(file, "utf8")) as ScenarioFile;
  if (!Array.isArray(raw.scenarios) || typeof raw.topology !== "string") throw new NeutronInputError(`${file}: needs "topology" and "scenarios"`);
  return { dir, topologyFile: join(dir, raw.topology), scenarios: raw.scenarios };
}

/** The scenario's capture, checked against its steps. */
export function scenarioCapture(bundle: ScenarioBundle, s: NeutronScenario): Capture {
  const cap = readCapture(join(bundle.dir, s.capture));
  if (cap.count !== s.steps.length) throw new NeutronInputError(`${s.capture}: ${cap.count} frames for ${s.steps.length} steps`);
  return cap;
}

export const frameHex = (cap: Capture, i: number): string => cap.buffer.subarray(cap.offsets[i], cap.offsets[i] + cap.lengths[i]).toString("hex");

/** Replays the scenario through flowplane; returns each step's transmitted frames. */
export function runScenario(bundle: ScenarioBundle, s: NeutronScenario, opts: { noCache?: boolean } = {}): StepOutput[] {
  const cap = scenarioCapture(bundle, s);
  const sw = loadTopology(bundle.topologyFile);
  const work = mkdtempSync(join(tmpdir(), "fp-neutron-"));
  try {
    // One capture per input port, frames keeping their timestamps (= their step).
    const byPort = new Map<string, number[]>();
    s.steps.forEach((st, i) => byPort.set(st.port, [...(byPort.get(st.port) ?? []), i]));
    const stepOfTime = new Map<string, number>();
    const inputs = [...byPort].map(([name, steps]) => {
      const port = sw.portsByName.get(name);
      if (!port) throw new NeutronInputError(`${s.name}: step on unknown port "${name}"`);
      const path = join(work, `in-${name}.pcap`);
      writeCapture(path, steps.map((i) => ({ data: cap.buffer.subarray(cap.offsets[i], cap.offsets[i] + cap.lengths[i]), tsSec: cap.tsSec[i], tsNsec: cap.tsNsec[i] })));
      for (const i of steps) stepOfTime.set(`${cap.tsSec[i]}.${cap.tsNsec[i]}`, i);
      return { port, capture: parseCapture(readFileSync(path), path) };
    });
    const outDir = join(work, "out");
    replay(sw, inputs, { outDir, noCache: opts.noCache });
    const outputs: StepOutput[] = s.steps.map(() => ({}));
    for (const port of sw.dpPorts) {
      const name = port.name;
      const path = join(outDir, `${name}.pcap`);
      if (!existsSync(path)) continue;
      const out = readCapture(path);
      for (let k = 0; k < out.count; k++) {
        const i = stepOfTime.get(`${out.tsSec[k]}.${out.tsNsec[k]}`);
        if (i === undefined) throw new Error(`assertion failed: ${name} transmitted a frame stamped with no input's time`);
        (outputs[i][name] ??= []).push(frameHex(out, k));
      }
    }
    return outputs;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Header fields of an IPv4 frame for StepCheck (null when not IPv4). */
function decode(hex: string): StepCheck | null {
  const b = Buffer.from(hex, "hex");
  let at = 12;
  if (b.readUInt16BE(at) === 0x8100) at += 4;
  if (b.length < at + 22 || b.readUInt16BE(at) !== 0x0800) return null;
  const ip = at + 2;
  const mac = (o: number): string => [...b.subarray(o, o + 6)].map((x) => x.toString(16).padStart(2, "0")).join(":");
  const addr = (o: number): string => [...b.subarray(o, o + 4)].join(".");
  const l4 = ip + (b[ip] & 0x0f) * 4;
  const proto = b[ip + 9];
  const out: StepCheck = { dst_mac: mac(0), src_mac: mac(6), ttl: b[ip + 8], ip_src: addr(ip + 12), ip_dst: addr(ip + 16) };
  if ((proto === 6 || proto === 17) && b.length >= l4 + 4) {
    out.tp_src = b.readUInt16BE(l4);
    out.tp_dst = b.readUInt16BE(l4 + 2);
  }
  return out;
}

/** Compares what a step made the ports transmit with what the step expects. */
export function judgeStep(step: ScenarioStep, output: StepOutput): StepVerdict {
  const got = Object.keys(output).filter((p) => output[p].length > 0).sort();
  const want = [...step.to].sort();
  const problems: string[] = [];
  if (got.join(",") !== want.join(",")) problems.push(`expected ${want.length ? want.join(", ") : "no port (dropped)"}, got ${got.length ? got.join(", ") : "no port (dropped)"}`);
  if (step.check && want.length > 0 && output[want[0]]?.length) {
    const frame = decode(output[want[0]][0]);
    for (const [k, v] of Object.entries(step.check) as [keyof StepCheck, string | number][]) {
      const actual = frame?.[k];
      if (actual !== v) problems.push(`${want[0]}: ${k} is ${actual ?? "absent"}, expected ${v}`);
    }
  }
  return { ok: problems.length === 0, got, problems };
}

/** The bundle under a package root (pcaps/neutron). */
export const bundledScenarioDir = (packageRoot: string): string => join(packageRoot, "pcaps", "neutron");
