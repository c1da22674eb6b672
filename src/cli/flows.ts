/**
 * `flowplane flows FILE`: the flow of every packet in a capture, one line
 * each, in the exact text of the "Flow:" line that
 * `ovs-appctl ofproto/trace br0 in_port=N <packet>` prints in Open vSwitch 3.1
 * (without the "Flow: " prefix). A frame OVS refuses to trace prints
 * "ERROR: <OVS's message>" in its place.
 */
import type { Command } from "commander";
import { readCapture, type Capture } from "../io/pcap.js";
import { Parser, PARSE_RUNT, HDR_WORDS } from "../packet/parse.js";
import { KEY_WORDS } from "../flow/layout.js";
import { formatPacketFlow, packetFlowItems } from "../flow/format.js";
import { UsageError } from "../errors.js";
import { OutputBuffer } from "./output.js";

/** OVS's text for a frame shorter than an Ethernet header (ofproto/trace). */
export const RUNT_ERROR = "Packet data too short for Ethernet";

export interface FlowsOptions {
  inPort: number;
  vlanLimit: number;
  json: boolean;
}

/** Parses a decimal option value within [min, max] or throws a UsageError. */
export function parseIntOption(name: string, text: string, min: number, max: number): number {
  if (!/^\d+$/.test(text)) throw new UsageError(`${name} must be a whole number, not "${text}"`);
  const n = Number(text);
  if (n < min || n > max) throw new UsageError(`${name} must be between ${min} and ${max}, not ${n}`);
  return n;
}

/** Yields one output line per packet of the capture. */
export function* flowLines(capture: Capture, opts: FlowsOptions, parser = new Parser(opts.vlanLimit)): Generator<string> {
  const key = new Uint32Array(KEY_WORDS);
  const hdrs = new Uint16Array(HDR_WORDS);
  for (let i = 0; i < capture.count; i++) {
    const result = parser.parseFrame(capture.buffer, capture.offsets[i], capture.lengths[i], opts.inPort, key, 0, hdrs, 0);
    if (opts.json) {
      const record: Record<string, unknown> = { packet: i + 1, length: capture.lengths[i] };
      if (result === PARSE_RUNT) record.error = RUNT_ERROR;
      else record.flow = Object.fromEntries(packetFlowItems(key, 0).map((it) => [it.name, jsonValue(it.value)]));
      yield JSON.stringify(record);
    } else {
      yield result === PARSE_RUNT ? `ERROR: ${RUNT_ERROR}` : formatPacketFlow(key, 0);
    }
  }
}

/** A bare keyword ("tcp") becomes true; decimal text becomes a number; the rest stays text. */
function jsonValue(text: string | null): unknown {
  if (text === null) return true;
  return /^(0|[1-9]\d{0,14})$/.test(text) ? Number(text) : text;
}

export function registerFlows(program: Command): void {
  program
    .command("flows")
    .description(
      "print each packet's flow as Open vSwitch's `ofproto/trace` prints it on its Flow: line\n" +
        "(classic pcap or pcapng, Ethernet link type)",
    )
    .argument("<file>", "capture file (.pcap or .pcapng)")
    .option("--in-port <n>", "OpenFlow port the packets arrive on", "1")
    .option("--vlan-limit <n>", "VLAN tags to decode, as OVS's other_config:vlan-limit (0 = all the key holds)", "1")
    .option("--json", "one JSON object per packet (JSON Lines): {packet, length, flow:{field:value}} or {packet, length, error}")
    .action((file: string, raw: { inPort: string; vlanLimit: string; json?: boolean }) => {
      const opts: FlowsOptions = {
        inPort: parseIntOption("--in-port", raw.inPort, 0, 0xffff),
        vlanLimit: parseIntOption("--vlan-limit", raw.vlanLimit, 0, 2),
        json: raw.json === true,
      };
      const capture = readCapture(file);
      const out = new OutputBuffer(process.stdout.fd);
      for (const line of flowLines(capture, opts)) out.line(line);
      out.flush();
    });
}
