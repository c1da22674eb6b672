/**
 * `flowplane start` (what `npm start` runs): the main job on the bundled
 * default. Until the pipeline exists it parses the bundled Neutron capture,
 * prints every packet's flow and a summary of what the parser saw.
 */
import type { Command } from "commander";
import { readCapture } from "../io/pcap.js";
import { Parser, PARSE_RUNT, HDR_WORDS } from "../packet/parse.js";
import { KEY_WORDS, W_DL_TYPE } from "../flow/layout.js";
import { formatPacketFlow } from "../flow/format.js";
import { packageRoot } from "./version.js";
import { OutputBuffer } from "./output.js";

export const DEFAULT_CAPTURE = "pcaps/neutron-default.pcap";

export function registerStart(program: Command): void {
  program
    .command("start")
    .description(`run the bundled default: the flows of ${DEFAULT_CAPTURE} and a summary`)
    .option("--capture <file>", "another capture to use instead of the bundled one")
    .option("--json", "print the summary as JSON (flows are not printed)")
    .action((opts: { capture?: string; json?: boolean }) => {
      const path = opts.capture ?? `${packageRoot}${DEFAULT_CAPTURE}`;
      const capture = readCapture(path);
      const parser = new Parser();
      const key = new Uint32Array(KEY_WORDS);
      const hdrs = new Uint16Array(HDR_WORDS);
      const byKind = new Map<string, number>();
      const out = new OutputBuffer(process.stdout.fd);
      let runts = 0;
      for (let i = 0; i < capture.count; i++) {
        const r = parser.parseFrame(capture.buffer, capture.offsets[i], capture.lengths[i], 1, key, 0, hdrs, 0);
        if (r === PARSE_RUNT) {
          runts++;
          if (!opts.json) out.line(`${i + 1} ERROR: Packet data too short for Ethernet`);
          continue;
        }
        const text = formatPacketFlow(key, 0);
        const kind = text.includes("=") && !text.startsWith("in_port") ? text.slice(0, text.indexOf(",")) : `dl_type=0x${key[W_DL_TYPE].toString(16).padStart(4, "0")}`;
        byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
        if (!opts.json) out.line(`${i + 1} ${text}`);
      }
      const summary = {
        capture: path,
        format: capture.format,
        packets: capture.count,
        bytes: Array.from(capture.lengths).reduce((a, b) => a + b, 0),
        byKind: Object.fromEntries([...byKind.entries()].sort((a, b) => b[1] - a[1])),
        runts,
        malformed: parser.counters.toJSON(),
      };
      if (opts.json) {
        out.line(JSON.stringify(summary, null, 2));
      } else {
        out.line("");
        out.line(`summary: ${summary.packets} packets, ${summary.bytes} bytes from ${path} (${summary.format})`);
        out.line(`  by kind: ${Object.entries(summary.byKind).map(([k, n]) => `${k} ${n}`).join(", ")}`);
        const bad = Object.entries(summary.malformed).filter(([, n]) => n > 0);
        out.line(`  malformed: ${bad.length ? bad.map(([k, n]) => `${k} ${n}`).join(", ") : "none"}`);
      }
      out.flush();
    });
}
