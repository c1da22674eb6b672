/**
 * Capture reading: our zero-copy readCapture against the npm pcap-parser.
 *
 * Replay reads captures with readCapture (src/io/pcap-read.ts), not pcap-parser.
 * Measured here (Node 20.20, 2 vCPUs shared with other work, seven runs of
 * this suite): readCapture reads the 1M-packet file at 10-14.8 Mpps, 8-10.7x
 * pcap-parser's 1.2-1.8 Mpps; its walk alone runs at 45-59 Mpps, so most of
 * a read is the kernel faulting in 80 MB of fresh pages. pcap-parser copies
 * the stream's leftover into a new Buffer per chunk, and allocates a header
 * object, a Buffer view and an event per packet; readCapture allocates
 * nothing per packet and gives replay (buffer, offset, length) columns that
 * go into batches without a copy. It also reads pcapng and nanosecond
 * captures, which pcap-parser 0.2.1 rejects.
 *
 * The suite writes a 1,000,000-packet classic pcap of 64-byte frames into a
 * temporary directory with PcapWriter, then times whole-file reads with
 * performance.now() (one call is 20 ms to seconds, far above timer noise;
 * tinybench adds nothing here). Each figure is the median of its runs, after
 * one warm-up run, and the file is in the page cache for all of them.
 * Figures:
 *   pcap/write-1m-64b        pps, PcapWriter generating the file (to disk)
 *   pcap/read-1m-64b         pps, readCapture: read the file + walk
 *   pcap/walk-1m-64b         pps, parseCapture on the file already in memory
 *   pcap/pcap-parser-1m-64b  pps, pcap-parser 0.2.1 streaming the same file
 *   pcap/read-vs-pcap-parser ratio, read-1m-64b / pcap-parser-1m-64b
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pcapParser from "pcap-parser";
import { parseCapture, PcapWriter, readCapture } from "../src/io/pcap.js";
import { runIfMain, type Figure } from "./lib.js";

const PACKETS = 1_000_000;
const FRAME_SIZE = 64;
const RUNS = 5;
const PCAP_PARSER_RUNS = 3;

/** A 64-byte Ethernet/IPv4/UDP frame; the reader never looks inside it. */
function frame(): Uint8Array {
  const f = new Uint8Array(FRAME_SIZE);
  f.set([0xfa, 0x16, 0x3e, 0, 0, 2, 0xfa, 0x16, 0x3e, 0, 0, 1, 0x08, 0x00, 0x45, 0, 0, 50, 0, 0, 0x40, 0, 64, 17], 0);
  return f;
}

/** Writes the capture and returns the writer's rate in packets per second. */
function generate(path: string): number {
  const f = frame();
  const start = performance.now();
  const writer = new PcapWriter(path);
  for (let i = 0; i < PACKETS; i++) {
    // Distinct frames are not needed to read them; distinct timestamps keep
    // the file realistic (1 us apart from a fixed epoch).
    writer.write(f, 0, FRAME_SIZE, 1700000000 + Math.floor(i / 1e6), (i % 1e6) * 1000);
  }
  writer.close();
  return PACKETS / ((performance.now() - start) / 1e3);
}

/** Median packets per second of `runs` timed calls, after one untimed call. */
async function medianRate(runs: number, fn: () => number | Promise<number>): Promise<number> {
  const check = await fn();
  if (check !== PACKETS) throw new Error(`benchmark read ${check} packets, wrote ${PACKETS}`);
  const rates: number[] = [];
  for (let r = 0; r < runs; r++) {
    const start = performance.now();
    const count = await fn();
    const ms = performance.now() - start;
    if (count !== PACKETS) throw new Error(`benchmark read ${count} packets, wrote ${PACKETS}`);
    rates.push(PACKETS / (ms / 1e3));
  }
  rates.sort((a, b) => a - b);
  return rates[Math.floor(rates.length / 2)];
}

/** Streams the file through pcap-parser and resolves with the packets it emitted. */
function countWithPcapParser(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let count = 0;
    const parser = pcapParser.parse(path);
    parser.on("packet", () => {
      count++;
    });
    parser.on("error", reject);
    parser.on("end", () => resolve(count));
  });
}

export default async function run(): Promise<Figure[]> {
  const dir = mkdtempSync(join(tmpdir(), "flowplane-pcap-bench-"));
  try {
    const path = join(dir, "1m-64b.pcap");
    const writeRate = generate(path);
    const readRate = await medianRate(RUNS, () => readCapture(path).count);
    const buffer = readFileSync(path);
    const walkRate = await medianRate(RUNS, () => parseCapture(buffer, path).count);
    const pcapParserRate = await medianRate(PCAP_PARSER_RUNS, () => countWithPcapParser(path));
    return [
      { name: "write-1m-64b", value: writeRate, unit: "pps" },
      { name: "read-1m-64b", value: readRate, unit: "pps" },
      { name: "walk-1m-64b", value: walkRate, unit: "pps" },
      { name: "pcap-parser-1m-64b", value: pcapParserRate, unit: "pps" },
      { name: "read-vs-pcap-parser", value: readRate / pcapParserRate, unit: "ratio" },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await runIfMain("pcap", import.meta.url, run);
