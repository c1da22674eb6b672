/**
 * The megaflow differential (issue #6): for each input frame of a scenario,
 * the megaflows flowplane installs (`replay --megaflows`: both caches empty
 * before each frame) against those Open vSwitch 3.1 installs for the same
 * frame when its datapath flows are purged first (`revalidator/purge`, the
 * frame, then `dpctl/dump-flows --names`): match fields, masks and datapath
 * actions, statistics aside.
 *
 * Many scenarios share one sandbox (check.ts's mergeScenarios: bridges and
 * ports prefixed `s<k>-`, so megaflow text names `s<k>-p1` on both sides),
 * and OVS is driven over one control connection (check.ts's Unixctl).
 *
 * Actions are compared as text (packet-ins and slow-path rewrites aside,
 * see canonical), except for frames whose translation runs NORMAL, FLOOD or
 * ALL (floodingInputs): OVS's flood order is unspecified (README,
 * deliberate differences), and another order changes where push/pop/set
 * actions fall between the outputs; there the actions are compared as the
 * set of outputs with the headers each carries (check.ts's
 * normalizeOutputs). Matches are compared exactly.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OvsSandbox } from "./harness.js";
import { type Scenario, setupOvs, replayScenario, buildScenarioSwitch } from "./scenario.js";
import { traceKey, traceText } from "../../src/cli/trace.js";
import { addLearnedFlow } from "../../src/ofproto/load.js";
import { Unixctl, received, mergeScenarios, normalizeOutputs, withoutPacketIns } from "./check.js";

/** A scenario and the inputs (0-based) whose megaflows are not compared, each with the reason. */
export interface MegaflowCase {
  scenario: Scenario;
  skip?: Record<number, string>;
}

/** One megaflow line without its statistics. */
export interface Megaflow {
  match: string;
  actions: string;
}

/** What a batch compared. */
export interface MegaflowTally {
  /** Input frames whose megaflows were compared. */
  frames: number;
  /** Megaflows compared (OVS's count). */
  megaflows: number;
  /** Frames whose megaflows agree only with outputs compared as a set (flood order). */
  floodOrder: number;
  /** Frames left out by a case's `skip`. */
  skipped: number;
  /** OVS megaflow lines left out as the previous frame's, shown again after the purge. */
  stale: number;
}

/**
 * "recirc_id(0),...,ipv4(...), packets:0, bytes:0, used:never, actions:2"
 * -> match and actions (statistics, flags and `dp:` columns dropped).
 */
export function splitMegaflow(line: string): Megaflow {
  const stats = line.indexOf(", packets:");
  const acts = line.indexOf("actions:", stats < 0 ? 0 : stats);
  if (stats < 0 || acts < 0) throw new Error(`not a dump-flows line: ${line}`);
  return { match: line.slice(0, stats), actions: line.slice(acts + "actions:".length) };
}

/**
 * Per input of `s`, whether its translation runs NORMAL, FLOOD or ALL (in
 * any bridge it reaches, also as a bridge's default NORMAL table): only
 * those frames' outputs may come in OVS's flood order. Traced in order on
 * one switch, learning MACs and learn() flows as the replay does.
 */
export function floodingInputs(s: Scenario): boolean[] {
  const sw = buildScenarioSwitch(s);
  return s.inputs.map((inp, i) => {
    const port = sw.portsByName.get(inp.port)!;
    const key = traceKey(sw, port.bridge, `in_port=${port.name}`, Buffer.from(inp.frame).toString("hex"));
    if (!(key instanceof Uint32Array)) return false;
    const { text } = traceText(sw, key, i, true, true, (b, f) => addLearnedFlow(b, f, i));
    return /^\s*(NORMAL|FLOOD|ALL)$/m.test(text);
  });
}

/**
 * OVS's megaflows for each input: purge, send the frame, wait until the
 * main thread (which polls dummy ports, and handles the upcall in line)
 * took it, dump.
 */
async function ovsMegaflows(merged: Scenario, ctl: Unixctl): Promise<string[][]> {
  const out: string[][] = [];
  let sent = received(await ctl.call("dpif-netdev/pmd-stats-show", []));
  for (const inp of merged.inputs) {
    await ctl.call("revalidator/purge", []);
    await ctl.call("netdev-dummy/receive", [inp.port, Buffer.from(inp.frame).toString("hex")]);
    sent++;
    for (let n = 0; !settled(await ctl.call("dpif-netdev/pmd-stats-show", []), sent); n++) {
      if (n > 1000) throw new Error(`ovs-vswitchd did not take frame ${sent}`);
      await new Promise((r) => setTimeout(r, 1));
    }
    const dump = await ctl.call("dpctl/dump-flows", ["--names"]);
    out.push(dump.split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("flow-dump from")));
  }
  return out;
}

/**
 * Whether the main thread has received `sent` frames and finished every
 * datapath pass of them: "packets received" counts a frame when it arrives,
 * but its upcall (and the megaflow it installs) completes later, when the
 * hit and miss counters move (dp_netdev_input__ updates them after
 * handle_packet_upcall). Dumping earlier could miss the frame's megaflow and
 * show it with the next frame instead.
 */
function settled(stats: string, sent: number): boolean {
  const main = stats.slice(stats.indexOf("main thread:"));
  const num = (label: string): number => Number(new RegExp(`${label}: (\\d+)`).exec(main)?.[1] ?? 0);
  const passes = num("packets received") + num("packet recirculations");
  const done = num("phwol hits") + num("simple match hits") + num("emc hits") + num("smc hits") + num("megaflow hits") + num("miss with success upcall") + num("miss with failed upcall");
  return received(stats) >= sent && done >= passes;
}

/** flowplane's megaflows for each input, from `replay --megaflows`. */
function ourMegaflows(merged: Scenario): string[][] {
  const file = join(mkdtempSync(join(tmpdir(), "fp-mf-")), "megaflows.txt");
  replayScenario(merged, { megaflowsFile: file });
  const blocks = readFileSync(file, "utf8").split(/^## packet .*$/m).slice(1);
  return blocks.map((b) => b.split("\n").filter((l) => l.trim() !== ""));
}

/** OVS's slow-path megaflow for a rewrite its datapath cannot do (commit_set_arp/icmp/nd_action). */
const SLOW_PATH_ACTION = "userspace(pid=0,slow_path(action))";
const slowPathSet = (actions: string): boolean => /set\((arp|icmp|icmpv6|nd)\(/.test(actions);

/**
 * The megaflows of one frame as sorted text; actions as the set of outputs
 * when `frame` is given.
 * Actions OVS sends through its slow path become OVS's slow-path action;
 * OVS's packet-ins (userspace(...controller...)) are left out, as flowplane
 * has no controller (README, deliberate differences; check.ts's
 * withoutPacketIns).
 */
function canonical(lines: string[], frame?: Uint8Array): string[] {
  return lines
    .map(splitMegaflow)
    .map(({ match, actions }) => {
      const kept = withoutPacketIns(actions);
      const acts = slowPathSet(kept) ? SLOW_PATH_ACTION : frame ? normalizeOutputs(kept, frame) : kept;
      return `${match} actions:${acts}`;
    })
    .sort();
}

/**
 * Runs the cases through one sandbox; returns, per case, the frames whose
 * megaflows differ (empty when all agree), and what was compared.
 */
export async function megaflowBatch(list: MegaflowCase[]): Promise<{ problems: string[][]; tally: MegaflowTally }> {
  // One scenario runs as it is: flow text may name its ports, which merging would rename.
  const { merged, inputOwner } =
    list.length === 1 ? { merged: list[0].scenario, inputOwner: list[0].scenario.inputs.map(() => 0) } : mergeScenarios("megaflows", list.map((c) => c.scenario));
  const problems: string[][] = list.map(() => []);
  const tally: MegaflowTally = { frames: 0, megaflows: 0, floodOrder: 0, skipped: 0, stale: 0 };
  const ovs = await OvsSandbox.start();
  const ctl = await Unixctl.connect(ovs);
  let theirs: string[][];
  try {
    await setupOvs(merged, ovs);
    theirs = await ovsMegaflows(merged, ctl);
  } finally {
    ctl.close();
    await ovs.stop();
  }
  const ours = ourMegaflows(merged);
  const flooding = floodingInputs(merged);
  const firstInput = list.map(() => -1);
  for (const [i, inp] of merged.inputs.entries()) {
    const k = inputOwner[i];
    if (firstInput[k] < 0) firstInput[k] = i;
    const local = i - firstInput[k];
    if (list[k].skip && local in list[k].skip!) {
      tally.skipped++;
      continue;
    }
    tally.frames++;
    tally.megaflows += theirs[i].length;
    // Under load OVS sometimes shows the previous frame's megaflow again after the purge
    // (installed by that frame's late upcall): a line of the previous frame's dump that
    // this frame's flowplane list lacks is that artefact, not this frame's megaflow.
    const view = (frame?: Uint8Array): { a: string[]; b: string[]; same: boolean } => {
      const a = canonical(ours[i] ?? [], frame);
      const previous = new Set(i > 0 ? canonical(theirs[i - 1], frame) : []);
      const b = canonical(theirs[i], frame).filter((l) => !(previous.has(l) && !a.includes(l)));
      return { a, b, same: JSON.stringify(a) === JSON.stringify(b) };
    };
    const { a, b, same } = view();
    tally.stale += theirs[i].length - b.length;
    if (process.env.FP_MEGAFLOW_DEBUG) console.log(`${inp.port} #${local + 1}\n  ovs: ${b.join("\n       ")}\n  fp:  ${a.join("\n       ")}`);
    if (same) continue;
    // Output order is compared loosely (outputs as a set, with the headers each one gets) only
    // for a frame that floods (see the README's flood-order note); elsewhere it is checked.
    if (flooding[i] && view(inp.frame).same) {
      tally.floodOrder++;
      continue;
    }
    const strip = (l: string): string => l.replace(/s\d+-/g, "");
    const hex = Buffer.from(inp.frame.subarray(0, 64)).toString("hex") + (inp.frame.length > 64 ? "…" : "");
    problems[k].push(`input ${local + 1} (${strip(inp.port)}, ${inp.frame.length} bytes, ${hex}):\n    ovs:       ${b.map(strip).join("\n               ") || "(none)"}\n    flowplane: ${a.map(strip).join("\n               ") || "(none)"}`);
  }
  return { problems, tally };
}
