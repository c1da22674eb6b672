/**
 * `flowplane trace`: one packet's walk through the pipeline, in the layout
 * of `ovs-appctl ofproto/trace` (Flow, each bridge, table and rule, actions,
 * Final flow, Megaflow, Datapath actions). Nothing is learned or counted.
 */
import type { Command } from "commander";
import * as L from "../flow/layout.js";
import { Parser, PARSE_RUNT, HDR_WORDS } from "../packet/parse.js";
import { formatPacketFlow, formatMatch } from "../flow/format.js";
import { formatOdpActions } from "../datapath/actions.js";
import { xlate, releaseRecircs, type XlateOutput, type XlateInput } from "../xlate/xlate.js";
import { recircIdsOf } from "../xlate/recirc.js";
import { CS_NEW, CS_TRACKED } from "../conntrack/api.js";
import type { NatAction } from "../openflow/actions.js";
import { ctStateBitName, formatIPv4, formatIPv6 } from "../flow/text.js";
import { formatTraceNodes, xlateErrorName } from "../xlate/trace.js";
import type { Switch, Bridge } from "../ofproto/bridge.js";
import { parseFlow } from "../ofctl/parse-flow.js";
import { UsageError } from "../errors.js";
import { loadSwitchFromOptions, portNamesOf, type SwitchOptions, addSwitchOptions } from "./switch-options.js";
import { portFromName } from "./ports.js";
import { receivePort } from "../xlate/tunnel.js";

export interface TraceResult {
  text: string;
  output: XlateOutput;
}

/** Builds the key of the packet to trace: from a flow description or from packet bytes in hex. */
export function traceKey(sw: Switch, bridge: Bridge, flowText: string, packetHex: string | undefined): Uint32Array | { error: string } {
  const key = new Uint32Array(L.KEY_WORDS);
  if (packetHex !== undefined) {
    const inPort = portFromName(bridge, flowText.replace(/^in_port=/, ""));
    if (!/^([0-9a-fA-F]{2})*$/.test(packetHex)) return { error: "Trailing garbage in packet data" };
    const bytes = Buffer.from(packetHex, "hex");
    const parser = new Parser();
    const r = parser.parseFrame(bytes, 0, bytes.length, inPort.dpPort, key, 0, new Uint16Array(HDR_WORDS), 0);
    if (r === PARSE_RUNT) return { error: "Packet data too short for Ethernet" };
    return key;
  }
  const spec = parseFlow(`${flowText},actions=drop`, { fileName: "flow", portNames: portNamesOf(bridge) });
  key.set(spec.match.value);
  const ofport = key[L.W_IN_PORT];
  const port = bridge.port(ofport);
  if (!port) throw new UsageError(`${bridge.name} has no port ${ofport}`);
  key[L.W_IN_PORT] = port.dpPort;
  void sw;
  return key;
}

/**
 * The trace text for a key whose in_port is a datapath port. With a real
 * packet OVS's trace has side effects (MAC learning, learn()); pass
 * `sideEffects` to do the same.
 *
 * A ct(table=N) queues its recirculated pass, which is traced after the
 * first as ofproto/trace does (ofproto_trace_recirc_node): with ct_state
 * taken in turn from `ctNext` (--ct-next), else trk|new, and a NAT simulated
 * by moving to the first address and port of its range. `output` is the
 * first pass's translation.
 */
export function traceText(
  sw: Switch,
  key: Uint32Array,
  nowMs: number,
  names: boolean,
  sideEffects = false,
  onLearn?: XlateInput["onLearn"],
  ctNext: number[] = [],
): TraceResult {
  const inDp = key[L.W_IN_PORT];
  // A tunnel vport stands for the tunnel port the key's tunnel fields name.
  const firstPort = receivePort(sw, inDp, key, 0) ?? sw.dpPorts[inDp];
  const first = tracePass(sw, key, firstPort.ofport, nowMs, names, sideEffects, onLearn);
  let text = first.text;
  // The trace holds its passes' recirculation ids until it is done, as OVS's recirc queue does.
  const held = [...first.output.recircs];
  const queue = [...first.output.recircTraces];
  const states = [...ctNext];
  for (let n = 0; queue.length > 0 && n < RECIRC_TRACES_MAX; n++) {
    const node = queue.shift()!;
    const flow = node.flow.slice();
    // OVS ends a pass's Datapath actions without a newline and starts the next with two.
    text += `\n${"=".repeat(79)}\nrecirc(0x${node.id.toString(16)})`;
    let ctState = CS_TRACKED | CS_NEW;
    if (states.length === 0) text += " - resume conntrack with default ct_state=trk|new (use --ct-next to customize)";
    else {
      ctState = states.shift()!;
      text += ` - resume conntrack with ct_state=${formatFlagsPipe(ctState)}`;
    }
    flow[L.W_CT] = ((flow[L.W_CT] & ~0xff) | ctState) >>> 0;
    text += "\n";
    if (node.nat) text += simulateNat(flow, node.nat);
    text += `${"=".repeat(79)}\n\n`;
    const ofport = flow[L.W_IN_PORT];
    flow[L.W_IN_PORT] = inDp;
    const pass = tracePass(sw, flow, ofport, nowMs, names, sideEffects, onLearn);
    text += pass.text;
    held.push(...pass.output.recircs);
    queue.push(...pass.output.recircTraces);
  }
  releaseRecircs(sw, held);
  return { text, output: first.output };
}

/** Passes a trace follows at most (a pipeline that recirculates without end stops here). */
const RECIRC_TRACES_MAX = 64;

/** ct_state flags joined by "|", as format_flags prints them for --ct-next. */
function formatFlagsPipe(state: number): string {
  const names: string[] = [];
  for (let bit = 1; bit <= 0x80; bit <<= 1) if (state & bit) names.push(ctStateBitName(bit) ?? `0x${bit.toString(16)}`);
  return names.join("|");
}

/** ofproto_trace_recirc_node's NAT simulation: the first address and port of the range. */
function simulateNat(flow: Uint32Array, nat: NatAction): string {
  const show = (): string => {
    const tp = flow[L.W_TP];
    if (nat.family === 4) return `nw_src=${formatIPv4(flow[L.W_NW_SRC])},tp_src=${tp >>> 16},nw_dst=${formatIPv4(flow[L.W_NW_DST])},tp_dst=${tp & 0xffff}\n`;
    if (nat.family === 6) return `ipv6_src=[${formatIPv6(flow, L.W_IPV6_SRC)}],tp_src=${tp >>> 16},ipv6_dst=[${formatIPv6(flow, L.W_IPV6_DST)}],tp_dst=${tp & 0xffff}\n`;
    return "\n";
  };
  let text = `Replacing src/dst IP/ports to simulate NAT:\n Initial flow: ${show()}`;
  const setAddr = (w4: number, w6: number): void => {
    if (nat.family === 4) flow[w4] = Number(nat.addrMin & 0xffffffffn);
    else if (nat.family === 6) for (let i = 0; i < 4; i++) flow[w6 + i] = Number((nat.addrMin >> BigInt(96 - 32 * i)) & 0xffffffffn);
  };
  if (nat.kind === "src") {
    setAddr(L.W_NW_SRC, L.W_IPV6_SRC);
    if (nat.family !== 0 && nat.portMin) flow[L.W_TP] = ((flow[L.W_TP] & 0xffff) | (nat.portMin << 16)) >>> 0;
  } else if (nat.kind === "dst") {
    setAddr(L.W_NW_DST, L.W_IPV6_DST);
    if (nat.family !== 0 && nat.portMin) flow[L.W_TP] = ((flow[L.W_TP] & 0xffff0000) | nat.portMin) >>> 0;
  }
  text += ` Modified flow: ${show()}`;
  return text;
}

/** One pass: Flow, the walk, Final flow, Megaflow, Datapath actions. `ofport` is the in_port the Flow line shows. */
function tracePass(sw: Switch, key: Uint32Array, ofport: number, nowMs: number, names: boolean, sideEffects: boolean, onLearn?: XlateInput["onLearn"]): TraceResult {
  const inPort = receivePort(sw, key[L.W_IN_PORT], key, 0) ?? sw.dpPorts[key[L.W_IN_PORT]];
  const out = xlate({ sw, key, keyBase: 0, nowMs, sideEffects, packetSize: 0, trace: true, traceNames: names, onLearn });
  const bridge = key[L.W_RECIRC_ID] !== 0 ? (recircIdsOf(sw).find(key[L.W_RECIRC_ID])?.bridge ?? inPort.bridge) : inPort.bridge;
  const portName = names ? (p: number) => bridge.port(p)?.name : undefined;
  const ofKey = key.slice();
  ofKey[L.W_IN_PORT] = ofport;
  // A recirculated flow prints its packet type, as match_format does once recirc_id is matched.
  const flowText = formatPacketFlow(ofKey, 0, { portName, packetTypeEth: ofKey[L.W_RECIRC_ID] !== 0 });
  let text = `Flow: ${flowText}\n`;
  text += formatTraceNodes(out.trace);
  const finalKey = out.finalFlow.slice();
  // Registers and metadata print as OVS's flow_format prints them; the action-set output does not.
  for (let w = L.W_ACTSET_OUTPUT; w < L.KEY_WORDS; w++) finalKey[w] = 0;
  finalKey[L.W_IN_PORT] = ofport;
  const finalText = formatPacketFlow(finalKey, 0, { portName, packetTypeEth: finalKey[L.W_RECIRC_ID] !== 0 });
  text += `\nFinal flow: ${finalText === flowText ? "unchanged" : finalText}\n`;
  const mkey = new Uint32Array(L.KEY_WORDS);
  for (let w = 0; w < L.KEY_WORDS; w++) mkey[w] = (ofKey[w] & out.wc[w]) >>> 0;
  text += `Megaflow: ${formatMatch(mkey, 0, out.wc, 0, { portName, packetTypeEth: true })}\n`;
  const dpName = names ? (p: number) => sw.dpPortName(p) : undefined;
  text += `Datapath actions: ${formatOdpActions(out.actions, dpName)}\n`;
  // ofproto_trace__ names the failure after the datapath actions, in xlate_strerror's words.
  if (out.error) text += `Translation failed (${xlateErrorName(out.error)}), packet is dropped.\n`;
  return { text, output: out };
}

export function registerTrace(program: Command): void {
  const cmd = program
    .command("trace")
    .description(
      "trace one packet through the pipeline, as `ovs-appctl ofproto/trace` prints it\n" +
        "  flowplane trace --topology T.json BRIDGE 'in_port=1,icmp,nw_src=10.0.0.8,nw_dst=10.0.0.4'\n" +
        "  flowplane trace --topology T.json BRIDGE in_port=1 <packet-hex>",
    )
    .argument("<bridge>", "bridge the packet enters")
    .argument("<flow>", "a flow (fields as in ovs-ofctl, unspecified ones zero), or in_port=N when a packet follows")
    .argument("[packet]", "the packet's bytes in hex")
    .option("--names", "show port names instead of numbers")
    .option("--ct-next <flags>", "ct_state for the next recirculated pass after ct(table=N), e.g. trk,est (repeatable; default trk,new)", collectCtState, [])
    .option("--json", "print {trace, datapathActions, megaflow} as JSON");
  addSwitchOptions(cmd);
  cmd.action((bridgeName: string, flow: string, packet: string | undefined, opts: SwitchOptions & { names?: boolean; json?: boolean; ctNext?: number[] }) => {
    const sw = loadSwitchFromOptions(opts);
    const bridge = sw.byName.get(bridgeName);
    if (!bridge) throw new UsageError(`${bridgeName}: unknown bridge`);
    const key = traceKey(sw, bridge, flow, packet);
    if (!(key instanceof Uint32Array)) {
      process.stderr.write(`${key.error}\n`);
      process.exitCode = 2;
      return;
    }
    const r = traceText(sw, key, Date.now(), opts.names === true, packet !== undefined, undefined, opts.ctNext ?? []);
    if (opts.json) {
      const dpName = opts.names ? (p: number) => sw.dpPortName(p) : undefined;
      process.stdout.write(JSON.stringify({ trace: r.text, datapathActions: formatOdpActions(r.output.actions, dpName), error: r.output.error }) + "\n");
    } else {
      process.stdout.write(r.text);
    }
  });
}

/** --ct-next FLAGS: ct_state names separated by ",", "|" or "+" (OVS's parse_ct_state). */
export function parseCtState(text: string): number {
  let state = 0;
  for (const name of text.split(/[,|+]/)) {
    if (name === "") continue;
    let bit = 0;
    for (let b = 1; b <= 0x80; b <<= 1) if (ctStateBitName(b) === name) bit = b;
    if (!bit) throw new UsageError(`${name}: unknown connection tracking state flag`);
    state |= bit;
  }
  return state;
}

function collectCtState(text: string, prev: number[]): number[] {
  return [...prev, parseCtState(text)];
}
