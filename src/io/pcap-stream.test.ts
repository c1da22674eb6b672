import { describe, it, expect } from "vitest";
import { mkdtempSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CaptureStream, WINDOW_SIZE } from "./pcap-stream.js";
import { readCapture, writeCapture, type CaptureFrame } from "./pcap.js";

const dir = mkdtempSync(join(tmpdir(), "fp-pcap-stream-"));

/** Every record of the stream's windows, as (bytes, lengths, timestamps), in order. */
function streamRecords(path: string): string[] {
  const s = CaptureStream.open(path);
  expect(s).not.toBeNull();
  const out: string[] = [];
  for (let w = s!.next(); w !== null; w = s!.next()) {
    for (let i = 0; i < w.count; i++) {
      const data = Buffer.from(w.buffer.subarray(w.offsets[i], w.offsets[i] + w.lengths[i])).toString("hex");
      out.push(`${w.tsSec[i]}.${w.tsNsec[i]}:${w.origLengths[i]}:${data}`);
    }
  }
  s!.close();
  return out;
}

function wholeRecords(path: string): string[] {
  const c = readCapture(path);
  const out: string[] = [];
  for (let i = 0; i < c.count; i++) {
    const data = Buffer.from(c.buffer.subarray(c.offsets[i], c.offsets[i] + c.lengths[i])).toString("hex");
    out.push(`${c.tsSec[i]}.${c.tsNsec[i]}:${c.origLengths[i]}:${data}`);
  }
  return out;
}

describe("CaptureStream", () => {
  it("yields the records readCapture reads, across window boundaries and for a record larger than a window", () => {
    const frames: CaptureFrame[] = [];
    for (let i = 0; i < 30000; i++) {
      const data = new Uint8Array(14 + ((i * 37) % 200));
      for (let j = 0; j < data.length; j++) data[j] = (i + j * 13) & 0xff;
      frames.push({ data, tsSec: 1_700_000_000 + (i >> 10), tsNsec: (i * 1000) % 1e9, origLength: data.length + (i % 3) });
    }
    const big = new Uint8Array(WINDOW_SIZE + 1000).map((_, j) => j & 0xff);
    frames.splice(12345, 0, { data: big, tsSec: 1_700_000_100 });
    const path = join(dir, "many.pcap");
    writeCapture(path, frames, { snaplen: 4 * WINDOW_SIZE, nanosecond: true });
    expect(readFileSync(path).length).toBeGreaterThan(3 * WINDOW_SIZE);
    const want = wholeRecords(path);
    expect(want.length).toBe(30001);
    const s = CaptureStream.open(path)!;
    expect(s.recordCount).toBe(30001);
    s.close();
    expect(streamRecords(path)).toEqual(want);
  });

  it("reads a big-endian microsecond file as readCapture does", () => {
    // Global header and two records written big-endian by hand.
    const h = Buffer.alloc(24 + 2 * (16 + 20));
    h.writeUInt32BE(0xa1b2c3d4, 0);
    h.writeUInt16BE(2, 4);
    h.writeUInt16BE(4, 6);
    h.writeUInt32BE(65535, 16);
    h.writeUInt32BE(1, 20);
    for (let r = 0; r < 2; r++) {
      const at = 24 + r * 36;
      h.writeUInt32BE(1000 + r, at);
      h.writeUInt32BE(1_500_000 + r, at + 4); // an out-of-range fraction: carried into the seconds
      h.writeUInt32BE(20, at + 8);
      h.writeUInt32BE(60, at + 12);
      h.fill(r + 1, at + 16, at + 36);
    }
    const path = join(dir, "be.pcap");
    writeFileSync(path, h);
    expect(streamRecords(path)).toEqual(wholeRecords(path));
    expect(streamRecords(path)[0].startsWith("1001.500000000:60:")).toBe(true);
  });

  it("declines files it does not stream, so readCapture reads them or names the fault", () => {
    const good = join(dir, "good.pcap");
    writeCapture(good, [{ data: new Uint8Array(60) }, { data: new Uint8Array(60) }]);
    const bytes = readFileSync(good);
    const truncated = join(dir, "truncated.pcap");
    writeFileSync(truncated, bytes.subarray(0, bytes.length - 5));
    expect(CaptureStream.open(truncated)).toBeNull();
    expect(() => readCapture(truncated)).toThrow(/truncated record/);
    const ng = join(dir, "x.pcapng");
    writeFileSync(ng, Buffer.from("0a0d0d0a1c0000004d3c2b1a01000000ffffffffffffffff1c000000", "hex"));
    expect(CaptureStream.open(ng)).toBeNull();
    const short = join(dir, "short.pcap");
    writeFileSync(short, bytes.subarray(0, 10));
    expect(CaptureStream.open(short)).toBeNull();
  });
});
