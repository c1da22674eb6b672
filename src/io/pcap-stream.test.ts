import { describe, it, expect } from "vitest";
import { mkdtempSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CaptureStream, WINDOW_SIZE } from "./pcap-stream.js";
import { readCapture, writeCapture, type CaptureFrame } from "./pcap.js";
import { PcapFormatError } from "../errors.js";

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
    expect(s.fileSize).toBe(readFileSync(path).length);
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

  it("declines pcapng and bad global headers, so readCapture reads them or names the fault", () => {
    const good = join(dir, "good.pcap");
    writeCapture(good, [{ data: new Uint8Array(60) }, { data: new Uint8Array(60) }]);
    const bytes = readFileSync(good);
    const ng = join(dir, "x.pcapng");
    writeFileSync(ng, Buffer.from("0a0d0d0a1c0000004d3c2b1a01000000ffffffffffffffff1c000000", "hex"));
    expect(CaptureStream.open(ng)).toBeNull();
    const short = join(dir, "short.pcap");
    writeFileSync(short, bytes.subarray(0, 10));
    expect(CaptureStream.open(short)).toBeNull();
    const radiotap = Buffer.from(bytes);
    radiotap.writeUInt32LE(127, 20);
    const rt = join(dir, "radiotap.pcap");
    writeFileSync(rt, radiotap);
    expect(CaptureStream.open(rt)).toBeNull();
  });

  /** The records a stream yields before it throws, and the error (null when it reads to the end). */
  function streamUntilFault(path: string): { records: number; error: string | null } {
    const s = CaptureStream.open(path)!;
    let records = 0;
    try {
      for (let w = s.next(); w !== null; w = s.next()) records += w.count;
      return { records, error: null };
    } catch (err) {
      expect(err).toBeInstanceOf(PcapFormatError);
      return { records, error: (err as Error).message };
    } finally {
      s.close();
    }
  }

  it("yields the records before a damaged one, then throws readCapture's error for it", () => {
    // 40000 records of 60-byte frames: about 3 windows.
    const frames: CaptureFrame[] = Array.from({ length: 40000 }, (_, i) => ({ data: new Uint8Array(60).fill(i & 0xff), tsSec: i }));
    const good = join(dir, "faults.pcap");
    writeCapture(good, frames);
    const bytes = readFileSync(good);
    const recordAt = (i: number): number => 24 + i * (16 + 60);
    const cases: { name: string; bytes: Buffer; before: number }[] = [
      { name: "cut inside the last record's data", bytes: bytes.subarray(0, bytes.length - 5), before: 39999 },
      { name: "cut inside the last record's header", bytes: bytes.subarray(0, recordAt(39999) + 7), before: 39999 },
      { name: "cut at a window boundary", bytes: bytes.subarray(0, WINDOW_SIZE + 3), before: Math.floor((WINDOW_SIZE + 3 - 24) / 76) },
      { name: "a huge captured length in the middle", bytes: Buffer.from(bytes), before: 20000 },
    ];
    cases[3].bytes.writeUInt32LE(0x7fffffff, recordAt(20000) + 8);
    for (const c of cases) {
      const path = join(dir, "fault.pcap");
      writeFileSync(path, c.bytes);
      let want = "";
      try {
        readCapture(path);
      } catch (err) {
        want = (err as Error).message;
      }
      expect(want, c.name).toMatch(/truncated record|exceeds snaplen/);
      expect(streamUntilFault(path), c.name).toEqual({ records: c.before, error: want });
    }
  });
});
