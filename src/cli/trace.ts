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
import { xlate, type XlateOutput, type XlateInput } from "../xlate/xlate.js";
import { formatTraceNodes } from "../xlate/trace.js";
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

/** The trace text for a key whose in_port is a datapath port. */
/**
 * The trace text for a key whose in_port is a datapath port. With a real
 * packet OVS's trace has side effects (MAC learning, learn()); pass
 * `sideEffects` to do the same.
 */
export function traceText(sw: Switch, key: Uint32Array, nowMs: number, names: boolean, sideEffects = false, onLearn?: XlateInput["onLearn"]): TraceResult {
  // A tunnel vport stands for the tunnel port the key's tunnel fields name.
  const inPort = receivePort(sw, key[L.W_IN_PORT], key, 0) ?? sw.dpPorts[key[L.W_IN_PORT]];
  const bridge = inPort.bridge;
  const out = xlate({ sw, key, keyBase: 0, nowMs, sideEffects, packetSize: 0, trace: true, onLearn });
  const portName = names ? (p: number) => bridge.port(p)?.name : undefined;
  const ofKey = key.slice();
  ofKey[L.W_IN_PORT] = inPort.ofport;
  const flowText = formatPacketFlow(ofKey, 0, { portName });
  let text = `Flow: ${flowText}\n`;
  text += formatTraceNodes(out.trace);
  const finalKey = out.finalFlow.slice();
  for (let w = L.DP_WORDS; w < L.KEY_WORDS; w++) finalKey[w] = 0;
  finalKey[L.W_IN_PORT] = inPort.ofport;
  const finalText = formatPacketFlow(finalKey, 0, { portName });
  text += `\nFinal flow: ${finalText === flowText ? "unchanged" : finalText}\n`;
  const mkey = new Uint32Array(L.KEY_WORDS);
  for (let w = 0; w < L.KEY_WORDS; w++) mkey[w] = (ofKey[w] & out.wc[w]) >>> 0;
  text += `Megaflow: ${formatMatch(mkey, 0, out.wc, 0, { portName, packetTypeEth: true })}\n`;
  const dpName = names ? (p: number) => sw.dpPortName(p) : undefined;
  if (out.error) text += `Translation failed (${out.error}), packet is dropped.\n`;
  text += `Datapath actions: ${formatOdpActions(out.actions, dpName)}\n`;
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
    .option("--json", "print {trace, datapathActions, megaflow} as JSON");
  addSwitchOptions(cmd);
  cmd.action((bridgeName: string, flow: string, packet: string | undefined, opts: SwitchOptions & { names?: boolean; json?: boolean }) => {
    const sw = loadSwitchFromOptions(opts);
    const bridge = sw.byName.get(bridgeName);
    if (!bridge) throw new UsageError(`${bridgeName}: unknown bridge`);
    const key = traceKey(sw, bridge, flow, packet);
    if (!(key instanceof Uint32Array)) {
      process.stderr.write(`${key.error}\n`);
      process.exitCode = 2;
      return;
    }
    const r = traceText(sw, key, Date.now(), opts.names === true, packet !== undefined);
    if (opts.json) {
      const dpName = opts.names ? (p: number) => sw.dpPortName(p) : undefined;
      process.stdout.write(JSON.stringify({ trace: r.text, datapathActions: formatOdpActions(r.output.actions, dpName), error: r.output.error }) + "\n");
    } else {
      process.stdout.write(r.text);
    }
  });
}
