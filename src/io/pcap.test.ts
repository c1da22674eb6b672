import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { PcapFormatError } from "../errors.js";
import { type Capture, parseCapture, PcapWriter, readCapture, WRITE_CHUNK_SIZE, writeCapture } from "./pcap.js";

const tmp = mkdtempSync(join(tmpdir(), "flowplane-pcap-test-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// ---------------------------------------------------------------------------
// Builders for hand-made files. Each returns bytes exactly as a capture tool
// would lay them out, in either byte order.
// ---------------------------------------------------------------------------

/** Concatenates byte arrays into one Buffer. */
const cat = (...parts: Uint8Array[]): Buffer => Buffer.concat(parts);

function u16(le: boolean, v: number): Buffer {
  const b = Buffer.alloc(2);
  if (le) b.writeUInt16LE(v);
  else b.writeUInt16BE(v);
  return b;
}

function u32(le: boolean, v: number): Buffer {
  const b = Buffer.alloc(4);
  if (le) b.writeUInt32LE(v >>> 0);
  else b.writeUInt32BE(v >>> 0);
  return b;
}

/** A recognisable frame: byte i is (seed + i) & 0xff. */
function frame(size: number, seed = 0): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (seed + i) & 0xff;
  return b;
}

interface ClassicOptions {
  le?: boolean;
  ns?: boolean;
  snaplen?: number;
  linkType?: number;
  major?: number;
  minor?: number;
}

function classicHeader(o: ClassicOptions = {}): Buffer {
  const le = o.le ?? true;
  return cat(
    u32(le, o.ns ? 0xa1b23c4d : 0xa1b2c3d4),
    u16(le, o.major ?? 2),
    u16(le, o.minor ?? 4),
    u32(le, 0),
    u32(le, 0),
    u32(le, o.snaplen ?? 65535),
    u32(le, o.linkType ?? 1),
  );
}

function classicRecord(le: boolean, sec: number, frac: number, data: Uint8Array, orig = data.length, incl = data.length): Buffer {
  return cat(u32(le, sec), u32(le, frac), u32(le, incl), u32(le, orig), data);
}

/** pcapng block: type, total length, body padded to 4, total length. */
function block(le: boolean, type: number, body: Uint8Array): Buffer {
  const padded = cat(body, Buffer.alloc((4 - (body.length % 4)) % 4));
  const total = 12 + padded.length;
  return cat(u32(le, type), u32(le, total), padded, u32(le, total));
}

function option(le: boolean, code: number, value: Uint8Array): Buffer {
  return cat(u16(le, code), u16(le, value.length), value, Buffer.alloc((4 - (value.length % 4)) % 4));
}

const endOfOptions = (le: boolean): Buffer => cat(u16(le, 0), u16(le, 0));

function shb(le: boolean, sectionLength = -1, major = 1, minor = 0): Buffer {
  const length = Buffer.alloc(8);
  if (le) length.writeBigInt64LE(BigInt(sectionLength));
  else length.writeBigInt64BE(BigInt(sectionLength));
  return block(le, 0x0a0d0d0a, cat(u32(le, 0x1a2b3c4d), u16(le, major), u16(le, minor), length));
}

function idb(le: boolean, linkType = 1, snaplen = 0, options: Buffer[] = []): Buffer {
  const opts = options.length > 0 ? cat(...options, endOfOptions(le)) : Buffer.alloc(0);
  return block(le, 1, cat(u16(le, linkType), u16(le, 0), u32(le, snaplen), opts));
}

function epb(le: boolean, iface: number, tsHigh: number, tsLow: number, data: Uint8Array, orig = data.length): Buffer {
  const comment = option(le, 1, Buffer.from("hello"));
  return block(le, 6, cat(u32(le, iface), u32(le, tsHigh), u32(le, tsLow), u32(le, data.length), u32(le, orig), pad4(data), comment, endOfOptions(le)));
}

/** Obsolete Packet Block (type 2). */
function pb(le: boolean, iface: number, tsHigh: number, tsLow: number, data: Uint8Array): Buffer {
  return block(le, 2, cat(u16(le, iface), u16(le, 0), u32(le, tsHigh), u32(le, tsLow), u32(le, data.length), u32(le, data.length), pad4(data)));
}

function spb(le: boolean, orig: number, data: Uint8Array): Buffer {
  return block(le, 3, cat(u32(le, orig), data));
}

/** Name Resolution Block with one IPv4 record, then end of records. */
function nrb(le: boolean): Buffer {
  const name = Buffer.from("host.example\0");
  const value = cat(Buffer.from([192, 0, 2, 1]), name);
  return block(le, 4, cat(u16(le, 1), u16(le, value.length), pad4(value), u16(le, 0), u16(le, 0)));
}

/** Interface Statistics Block. */
function isb(le: boolean, iface: number): Buffer {
  return block(le, 5, cat(u32(le, iface), u32(le, 0), u32(le, 0)));
}

/** Custom block (type 0x00000BAD) with a private enterprise number. */
function custom(le: boolean): Buffer {
  return block(le, 0x00000bad, cat(u32(le, 32473), Buffer.from("opaque")));
}

function pad4(data: Uint8Array): Buffer {
  return cat(data, Buffer.alloc((4 - (data.length % 4)) % 4));
}

/** Packet i's bytes, as a copy for comparison. */
const packet = (c: Capture, i: number): Buffer => Buffer.from(c.buffer.subarray(c.offsets[i], c.offsets[i] + c.lengths[i]));

/** Runs `fn`, expecting one PcapFormatError at `offset` whose reason matches. */
function expectFormatError(fn: () => unknown, offset: number, reason: string | RegExp): PcapFormatError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(PcapFormatError);
  const err = caught as PcapFormatError;
  expect(err.code).toBe("FP_ERR_PCAP_FORMAT");
  expect(err.offset).toBe(offset);
  const prefix = `${err.file}: offset ${offset}: `;
  expect(err.message.startsWith(prefix)).toBe(true);
  const text = err.message.slice(prefix.length);
  if (typeof reason === "string") expect(text).toBe(reason);
  else expect(text).toMatch(reason);
  return err;
}

/** Every column is exactly `count` long and every frame lies inside the buffer. */
function expectWellFormed(c: Capture): void {
  for (const column of [c.offsets, c.lengths, c.origLengths, c.tsSec, c.tsNsec]) expect(column.length).toBe(c.count);
  for (let i = 0; i < c.count; i++) {
    expect(c.offsets[i] + c.lengths[i]).toBeLessThanOrEqual(c.buffer.length);
    expect(c.tsNsec[i]).toBeLessThan(1e9);
  }
}

// ---------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------

describe("PcapWriter", () => {
  it("writes a little-endian microsecond header with link type 1 and snaplen 262144", () => {
    const path = join(tmp, "header.pcap");
    writeCapture(path, []);
    expect(readFileSync(path)).toEqual(classicHeader({ le: true, snaplen: 262144 }));
  });

  it("round-trips frames and microsecond timestamps through the reader", () => {
    const path = join(tmp, "us.pcap");
    const frames = [
      { data: frame(60, 1), tsSec: 1700000000, tsNsec: 123456789 },
      { data: frame(0), tsSec: 1, tsNsec: 999 },
      { data: frame(1514, 7) },
      { data: frame(9000, 3), tsSec: 4294967295, tsNsec: 999999999 },
    ];
    writeCapture(path, frames);
    const c = readCapture(path);
    expect(c.format).toBe("pcap");
    expect(c.linkType).toBe(1);
    expect(c.count).toBe(4);
    expectWellFormed(c);
    for (let i = 0; i < frames.length; i++) {
      expect(packet(c, i)).toEqual(frames[i].data);
      expect(c.origLengths[i]).toBe(frames[i].data.length);
      expect(c.tsSec[i]).toBe(frames[i].tsSec ?? 0);
      // Microsecond files keep the floor of the microsecond.
      expect(c.tsNsec[i]).toBe(Math.floor((frames[i].tsNsec ?? 0) / 1000) * 1000);
    }
  });

  it("round-trips nanosecond timestamps with the a1b23c4d magic", () => {
    const path = join(tmp, "ns.pcap");
    writeCapture(path, [{ data: frame(64), tsSec: 1700000000, tsNsec: 123456789 }, { data: frame(70), tsSec: 2, tsNsec: 1 }], { nanosecond: true });
    expect(readFileSync(path).readUInt32LE(0)).toBe(0xa1b23c4d);
    const c = readCapture(path);
    expect(c.count).toBe(2);
    expect([c.tsSec[0], c.tsNsec[0], c.tsSec[1], c.tsNsec[1]]).toEqual([1700000000, 123456789, 2, 1]);
  });

  it("writes a sub-range of a larger buffer and records the given original length", () => {
    const path = join(tmp, "range.pcap");
    const big = frame(200);
    const w = new PcapWriter(path);
    w.write(big, 50, 60, 10, 20, 1500);
    w.close();
    const c = readCapture(path);
    expect(packet(c, 0)).toEqual(big.subarray(50, 110));
    expect(c.origLengths[0]).toBe(1500);
  });

  it("cuts frames longer than the snaplen and keeps the wire length", () => {
    const path = join(tmp, "snap.pcap");
    writeCapture(path, [{ data: frame(100) }], { snaplen: 64 });
    const c = readCapture(path);
    expect(c.lengths[0]).toBe(64);
    expect(c.origLengths[0]).toBe(100);
    expect(packet(c, 0)).toEqual(frame(64));
  });

  it("keeps records whole across 1 MiB chunk flushes", () => {
    const path = join(tmp, "flush.pcap");
    const w = new PcapWriter(path);
    const total = 30000; // 30000 * (16 + 97) bytes is over 3 chunks
    for (let i = 0; i < total; i++) {
      const f = frame(97, i);
      w.write(f, 0, f.length, i, i * 1000);
    }
    expect(w.count).toBe(total);
    w.close();
    const c = readCapture(path);
    expect(c.count).toBe(total);
    for (const i of [0, 1, 10809, 10810, 21000, total - 1]) {
      expect(packet(c, i)).toEqual(frame(97, i));
      expect(c.tsSec[i]).toBe(i);
    }
  });

  it("writes a frame larger than its chunk straight through", () => {
    const path = join(tmp, "jumbo.pcap");
    const huge = frame(WRITE_CHUNK_SIZE + 1000, 5);
    const w = new PcapWriter(path, { snaplen: 4 * WRITE_CHUNK_SIZE });
    w.write(frame(10), 0, 10, 0, 0);
    w.write(huge, 0, huge.length, 1, 0);
    w.write(frame(20), 0, 20, 2, 0);
    w.close();
    const c = readCapture(path);
    expect(c.count).toBe(3);
    expect(packet(c, 1)).toEqual(huge);
    expect(packet(c, 2)).toEqual(frame(20));
  });

  it("passes records on as they are with appendRecord, in call order with write()'s, across flushes and releases", () => {
    // Source records, encoded by a writer: a file read whole, whose records appendRecord passes on.
    const frames = Array.from({ length: 20000 }, (_, i) => ({ data: frame(60 + (i % 7), i), tsSec: i, tsNsec: (i % 1000) * 1000 }));
    const srcPath = join(tmp, "append-src.pcap");
    writeCapture(srcPath, frames);
    const src = readCapture(srcPath);
    // Every third record copied by write() (breaking runs), the rest appended; a release every 1000.
    const path = join(tmp, "append.pcap");
    const w = new PcapWriter(path);
    for (let i = 0; i < src.count; i++) {
      if (i % 3 === 0) w.write(src.buffer, src.offsets[i], src.lengths[i], src.tsSec[i], src.tsNsec[i]);
      else w.appendRecord(src.buffer, src.offsets[i] - 16, 16 + src.lengths[i]);
      if (i % 1000 === 999) w.release();
    }
    expect(w.count).toBe(20000);
    w.close();
    expect(readFileSync(path).equals(readFileSync(srcPath))).toBe(true);
    expect(() => new PcapWriter(join(tmp, "append-bad.pcap")).appendRecord(src.buffer, src.buffer.length - 10, 16)).toThrow(/record must lie inside buf/);
  });

  it("after a release, starts the next run of the same buffer at any record, and passes a record appended twice on twice", () => {
    const frames = Array.from({ length: 3000 }, (_, i) => ({ data: frame(60 + (i % 5), i), tsSec: i, tsNsec: 0 }));
    const srcPath = join(tmp, "append-gaps-src.pcap");
    writeCapture(srcPath, frames);
    const src = readCapture(srcPath);
    const rec = (i: number): [number, number] => [src.offsets[i] - 16, 16 + src.lengths[i]];
    // Which records to pass on, in order: gaps right after releases, a record twice, a step back.
    const order: number[] = [];
    for (let i = 0; i < src.count; i++) {
      if (i % 100 === 1) continue;
      order.push(i);
      if (i % 250 === 7) order.push(i);
      if (i % 400 === 9) order.push(i - 5);
    }
    const path = join(tmp, "append-gaps.pcap");
    const w = new PcapWriter(path);
    for (let k = 0; k < order.length; k++) {
      w.appendRecord(src.buffer, ...rec(order[k]));
      if (order[k] % 100 === 0) w.release();
    }
    w.close();
    const out = readCapture(path);
    expect(out.count).toBe(order.length);
    for (let k = 0; k < order.length; k++) expect(packet(out, k)).toEqual(frames[order[k]].data);
    expect(() => w.appendRecord(src.buffer, ...rec(order[order.length - 1] + 1))).toThrow(/write after close/);
  });

  it("closes idempotently and refuses writes after close", () => {
    const w = new PcapWriter(join(tmp, "closed.pcap"));
    w.close();
    w.close();
    expect(() => w.write(frame(60), 0, 60, 0, 0)).toThrow(/write after close/);
  });

  it("asserts on arguments that are our bugs", () => {
    const w = new PcapWriter(join(tmp, "bad-args.pcap"));
    expect(() => w.write(frame(60), 10, 60, 0, 0)).toThrow(/inside buf/);
    expect(() => w.write(frame(60), 0, 60, -1, 0)).toThrow(/tsSec/);
    expect(() => w.write(frame(60), 0, 60, 0, 1e9)).toThrow(/tsNsec/);
    w.close();
  });
});

// ---------------------------------------------------------------------------
// Classic pcap reader
// ---------------------------------------------------------------------------

describe("readCapture: classic pcap", () => {
  for (const le of [true, false]) {
    for (const ns of [false, true]) {
      it(`reads a ${le ? "little" : "big"}-endian ${ns ? "nanosecond" : "microsecond"} file`, () => {
        const buf = cat(
          classicHeader({ le, ns }),
          classicRecord(le, 1000, ns ? 5 : 5, frame(60, 1), 60),
          classicRecord(le, 1001, ns ? 999999999 : 999999, frame(42, 2), 1514),
        );
        const c = parseCapture(buf, "hand.pcap");
        expect(c.count).toBe(2);
        expectWellFormed(c);
        expect(c.buffer).toBe(buf);
        expect(c.offsets[0]).toBe(24 + 16);
        expect(c.offsets[1]).toBe(24 + 16 + 60 + 16);
        expect(packet(c, 0)).toEqual(frame(60, 1));
        expect(packet(c, 1)).toEqual(frame(42, 2));
        expect([...c.lengths]).toEqual([60, 42]);
        expect([...c.origLengths]).toEqual([60, 1514]);
        expect([...c.tsSec]).toEqual([1000, 1001]);
        expect([...c.tsNsec]).toEqual(ns ? [5, 999999999] : [5000, 999999000]);
      });
    }
  }

  it("reads a header-only file as an empty capture", () => {
    const c = parseCapture(classicHeader(), "empty.pcap");
    expect(c.count).toBe(0);
    expectWellFormed(c);
  });

  it("sizes the columns exactly even after growing past its first estimate", () => {
    // One large first record makes the estimate small; 500 empty records follow.
    const records = [classicRecord(true, 0, 0, frame(4000))];
    for (let i = 0; i < 500; i++) records.push(classicRecord(true, i, 0, frame(0)));
    const c = parseCapture(cat(classicHeader(), ...records), "grow.pcap");
    expect(c.count).toBe(501);
    expectWellFormed(c);
    expect(c.tsSec[500]).toBe(499);
    expect(c.lengths[0]).toBe(4000);
  });

  it("carries an out-of-range fraction into the seconds", () => {
    const c = parseCapture(cat(classicHeader(), classicRecord(true, 10, 2500000, frame(14))), "frac.pcap");
    expect([c.tsSec[0], c.tsNsec[0]]).toEqual([12, 500000000]);
  });

  it("accepts a captured length above the original length", () => {
    const c = parseCapture(cat(classicHeader(), classicRecord(true, 0, 0, frame(60), 20)), "x.pcap");
    expect([c.lengths[0], c.origLengths[0]]).toEqual([60, 20]);
  });

  it("keeps a record longer than the header's snaplen whole, as stored (fuzzed tcpdump files do this)", () => {
    const c = parseCapture(cat(classicHeader({ snaplen: 41 }), classicRecord(true, 0, 0, frame(54))), "x.pcap");
    expect(c.lengths[0]).toBe(54);
    expect(packet(c, 0)).toEqual(frame(54));
  });

  it("accepts versions 2.0 to 2.4", () => {
    for (const minor of [0, 2, 3, 4]) expect(parseCapture(classicHeader({ minor }), "v.pcap").count).toBe(0);
  });

  it("accepts an FCS-length nibble without the P bit (tcpdump's 0x30000001 files)", () => {
    const c = parseCapture(cat(classicHeader({ linkType: 0x30000001 }), classicRecord(true, 0, 0, frame(14))), "fcs.pcap");
    expect(c.linkType).toBe(1);
    expect(c.count).toBe(1);
  });

  describe("errors", () => {
    it("rejects a wrong magic at offset 0", () => {
      expectFormatError(() => parseCapture(Buffer.from("GIF89a........................"), "x"), 0, "not a pcap or pcapng file (magic 0x47494638)");
    });

    it("rejects a file too short for a magic", () => {
      expectFormatError(() => parseCapture(Buffer.from([0xd4, 0xc3]), "x"), 0, "truncated global header: 2 bytes, need 24");
      expectFormatError(() => parseCapture(Buffer.alloc(0), "x"), 0, "truncated global header: 0 bytes, need 24");
    });

    it("rejects a truncated global header", () => {
      expectFormatError(() => parseCapture(classicHeader().subarray(0, 23), "x"), 0, "truncated global header: 23 bytes, need 24");
    });

    it("rejects an unsupported version at offset 4", () => {
      expectFormatError(() => parseCapture(classicHeader({ major: 3 }), "x"), 4, "unsupported pcap version 3.4");
      expectFormatError(() => parseCapture(classicHeader({ le: false, minor: 5 }), "x"), 4, "unsupported pcap version 2.5");
    });

    it("rejects a non-Ethernet link type at offset 20, naming the whole 32-bit field", () => {
      expectFormatError(() => parseCapture(classicHeader({ linkType: 113 }), "x"), 20, "link type 113 is not Ethernet");
      expectFormatError(() => parseCapture(classicHeader({ linkType: 67108865 }), "x"), 20, "link type 67108865 is not Ethernet");
      expectFormatError(() => parseCapture(classicHeader({ le: false, linkType: 0x00010001 }), "x"), 20, "link type 65537 is not Ethernet");
    });

    it("rejects a truncated record header at its offset", () => {
      const buf = cat(classicHeader(), classicRecord(true, 0, 0, frame(60)), Buffer.alloc(7));
      expectFormatError(() => parseCapture(buf, "x"), 100, "truncated record header: 7 bytes left in file, need 16");
    });

    it("rejects record data running past the end of the file", () => {
      const buf = cat(classicHeader(), classicRecord(true, 0, 0, frame(60)), classicRecord(true, 0, 0, frame(100)).subarray(0, 16 + 30));
      expectFormatError(() => parseCapture(buf, "x"), 100, "truncated record: 100 bytes captured, 30 left in file");
    });

    it("rejects a captured length above max(snaplen, 262144)", () => {
      const buf = cat(classicHeader({ snaplen: 65535 }), classicRecord(true, 0, 0, frame(300000)));
      expectFormatError(() => parseCapture(buf, "x"), 24, "captured length 300000 exceeds snaplen 262144");
      const big = cat(classicHeader({ le: false, snaplen: 300000 }), classicRecord(false, 0, 0, frame(300001)));
      expectFormatError(() => parseCapture(big, "x"), 24, "captured length 300001 exceeds snaplen 300000");
    });

    it("names the file in the message and carries the code", () => {
      const err = expectFormatError(() => parseCapture(Buffer.alloc(30), "dir/f.pcap"), 0, /^not a pcap/);
      expect(err.file).toBe("dir/f.pcap");
      expect(err.message).toBe("dir/f.pcap: offset 0: not a pcap or pcapng file (magic 0x00000000)");
    });

    it("reports a missing file as the system error", () => {
      expect(() => readCapture(join(tmp, "does-not-exist.pcap"))).toThrow(/ENOENT/);
    });
  });
});

// ---------------------------------------------------------------------------
// pcapng reader
// ---------------------------------------------------------------------------

/** ns since the epoch as the (high, low) words of a 64-bit count. */
function split64(v: bigint): [number, number] {
  return [Number(v >> 32n), Number(v & 0xffffffffn)];
}

describe("readCapture: pcapng", () => {
  for (const le of [true, false]) {
    it(`reads a ${le ? "little" : "big"}-endian section with SHB/IDB/EPB/SPB/PB/NRB/ISB/custom blocks`, () => {
      const [h, l] = split64(1700000000123456n); // microseconds, the default resolution
      const parts = [
        shb(le),
        nrb(le),
        idb(le, 1, 96),
        idb(le, 1, 0),
        epb(le, 0, h, l, frame(60, 1), 60),
        spb(le, 1514, frame(100, 2)), // cut to interface 0's snaplen 96
        custom(le),
        epb(le, 1, 0, 2500001, frame(61, 3), 1000),
        spb(le, 21, frame(24, 4)), // orig 21 < block space 24: the padding is not data
        pb(le, 1, 0, 7, frame(33, 5)),
        isb(le, 0),
        block(le, 0x12345678, Buffer.from("unknown block type")),
      ];
      const buf = cat(...parts);
      const c = parseCapture(buf, "ng.pcapng");
      expect(c.format).toBe("pcapng");
      expect(c.linkType).toBe(1);
      expect(c.count).toBe(5);
      expectWellFormed(c);
      expect([...c.lengths]).toEqual([60, 96, 61, 21, 33]);
      expect([...c.origLengths]).toEqual([60, 1514, 1000, 21, 33]);
      expect(packet(c, 0)).toEqual(frame(60, 1));
      expect(packet(c, 1)).toEqual(frame(96, 2));
      expect(packet(c, 2)).toEqual(frame(61, 3));
      expect(packet(c, 3)).toEqual(frame(21, 4));
      expect(packet(c, 4)).toEqual(frame(33, 5));
      expect([...c.tsSec]).toEqual([1700000000, 0, 2, 0, 0]);
      expect([...c.tsNsec]).toEqual([123456000, 0, 500001000, 0, 7000]);
      let epbOffset = 0;
      for (let i = 0; i < 4; i++) epbOffset += parts[i].length;
      expect(c.offsets[0]).toBe(epbOffset + 28);
    });
  }

  it("reads an empty section (SHB only) as count 0", () => {
    const c = parseCapture(shb(true), "x");
    expect(c.count).toBe(0);
    expectWellFormed(c);
  });

  it("accepts a section length given explicitly, and version 1.2", () => {
    const body = cat(idb(true), epb(true, 0, 0, 0, frame(20)));
    const c = parseCapture(cat(shb(true, body.length, 1, 2), body), "x");
    expect(c.count).toBe(1);
  });

  it("starts a new interface table at each section, in its own byte order", () => {
    const buf = cat(
      shb(true),
      idb(true, 1, 0, [option(true, 9, Buffer.from([9]))]), // ns
      epb(true, 0, ...split64(5_000000007n), frame(14, 1)),
      shb(false),
      idb(false, 1, 0), // back to the default microseconds
      epb(false, 0, ...split64(5_000007n), frame(15, 2)),
    );
    const c = parseCapture(buf, "x");
    expect(c.count).toBe(2);
    expect([...c.tsSec, ...c.tsNsec]).toEqual([5, 5, 7, 7000]);
    expect(packet(c, 1)).toEqual(frame(15, 2));
  });

  describe("if_tsresol and if_tsoffset", () => {
    const cases: [string, number, bigint, number, number][] = [
      ["10^-9, above 2^53", 9, 1700000000_123456789n, 1700000000, 123456789],
      ["10^-3", 3, 1700000000_123n, 1700000000, 123000000],
      ["10^0", 0, 1700000000n, 1700000000, 0],
      ["2^-3", 0x83, 1700000000n * 8n + 5n, 1700000000, 625000000],
      ["2^-10 (exact BigInt path)", 0x8a, 1700000000n * 1024n + 1n, 1700000000, 976562],
      ["2^-32", 0xa0, (1700000000n << 32n) | 0x80000000n, 1700000000, 500000000],
      ["10^-12 (exact BigInt path)", 12, 10_123456789999n, 10, 123456789],
    ];
    for (const [name, resol, ts, sec, nsec] of cases) {
      it(`converts ${name}`, () => {
        const buf = cat(shb(false), idb(false, 1, 0, [option(false, 9, Buffer.from([resol]))]), epb(false, 0, ...split64(ts), frame(14)));
        const c = parseCapture(buf, "x");
        expect([c.tsSec[0], c.tsNsec[0]]).toEqual([sec, nsec]);
      });
    }

    it("adds if_tsoffset seconds", () => {
      const offset = Buffer.alloc(8);
      offset.writeBigInt64LE(1000n);
      const buf = cat(shb(true), idb(true, 1, 0, [option(true, 2, Buffer.from("eth0")), option(true, 14, offset)]), epb(true, 0, 0, 3_000004, frame(14)));
      const c = parseCapture(buf, "x");
      expect([c.tsSec[0], c.tsNsec[0]]).toEqual([1003, 4000]);
    });
  });

  it("accepts a non-Ethernet interface that carries no packet", () => {
    const c = parseCapture(cat(shb(true), idb(true, 1), idb(true, 113), epb(true, 0, 0, 0, frame(14))), "x");
    expect(c.count).toBe(1);
  });

  describe("errors", () => {
    const head = cat(shb(true), idb(true));
    const at = head.length;

    it("rejects a block length that is not a multiple of 4", () => {
      const bad = epb(true, 0, 0, 0, frame(20));
      bad.writeUInt32LE(bad.length - 2, 4);
      expectFormatError(() => parseCapture(cat(head, bad), "x"), at, `bad block length ${bad.length - 2}`);
    });

    it("rejects a block length below 12", () => {
      const bad = cat(u32(true, 6), u32(true, 8), u32(true, 8));
      expectFormatError(() => parseCapture(cat(head, bad), "x"), at, "bad block length 8");
    });

    it("rejects a block running past the end of the file", () => {
      const bad = epb(true, 0, 0, 0, frame(20));
      expectFormatError(() => parseCapture(cat(head, bad.subarray(0, bad.length - 8)), "x"), at, `block length ${bad.length} runs past end of file (${bad.length - 8} bytes left)`);
    });

    it("rejects a truncated block header", () => {
      expectFormatError(() => parseCapture(cat(head, Buffer.alloc(8)), "x"), at, "truncated block header: 8 bytes left in file, need 12");
    });

    it("rejects a trailing length that differs from the leading one", () => {
      const bad = epb(true, 0, 0, 0, frame(20));
      bad.writeUInt32LE(bad.length + 4, bad.length - 4);
      expectFormatError(() => parseCapture(cat(head, bad), "x"), at, `trailing block length ${bad.length + 4} does not match leading length ${bad.length}`);
    });

    it("rejects a bad byte-order magic", () => {
      const bad = shb(true);
      bad.writeUInt32LE(0x11223344, 8);
      expectFormatError(() => parseCapture(cat(shb(false), bad), "x"), 28, "bad byte-order magic 0x44332211 in section header");
    });

    it("rejects an unsupported pcapng version and a short section header", () => {
      expectFormatError(() => parseCapture(shb(false, -1, 2, 0), "x"), 0, "unsupported pcapng version 2.0");
      const short = cat(u32(true, 0x0a0d0d0a), u32(true, 20), u32(true, 0x1a2b3c4d), u16(true, 1), u16(true, 0), u32(true, 20));
      expectFormatError(() => parseCapture(short, "x"), 0, "bad section header block length 20");
    });

    it("rejects a packet on an interface the section does not define", () => {
      expectFormatError(() => parseCapture(cat(head, epb(true, 1, 0, 0, frame(20))), "x"), at, "packet on interface 1, but the section defines 1");
      // A new section forgets the interfaces of the previous one.
      const two = cat(head, shb(true));
      expectFormatError(() => parseCapture(cat(two, epb(true, 0, 0, 0, frame(20))), "x"), two.length, "packet on interface 0, but the section defines 0");
    });

    it("rejects a packet on a non-Ethernet interface with the link-type error", () => {
      const buf = cat(shb(false), idb(false, 1), idb(false, 113));
      expectFormatError(() => parseCapture(cat(buf, epb(false, 1, 0, 0, frame(20))), "x"), buf.length, "link type 113 is not Ethernet");
      const spbOnly = cat(shb(true), idb(true, 101));
      expectFormatError(() => parseCapture(cat(spbOnly, spb(true, 20, frame(20))), "x"), spbOnly.length, "link type 101 is not Ethernet");
    });

    it("rejects a simple packet block before any interface", () => {
      expectFormatError(() => parseCapture(cat(shb(true), spb(true, 20, frame(20))), "x"), 28, "simple packet block before any interface description block");
    });

    it("rejects a captured length larger than the block", () => {
      const bad = epb(true, 0, 0, 0, frame(20));
      bad.writeUInt32LE(5000, 20);
      expectFormatError(() => parseCapture(cat(head, bad), "x"), at, /^captured length 5000 exceeds the block's \d+ bytes of data$/);
    });

    it("rejects blocks too short for their fixed fields", () => {
      const shortEpb = block(true, 6, Buffer.alloc(12));
      expectFormatError(() => parseCapture(cat(head, shortEpb), "x"), at, "bad enhanced packet block length 24");
      const shortIdb = block(true, 1, Buffer.alloc(4));
      expectFormatError(() => parseCapture(cat(shb(true), shortIdb), "x"), 28, "bad interface description block length 16");
    });

    it("rejects an interface option running past its block, and a bad if_tsresol", () => {
      const body = cat(u16(true, 1), u16(true, 0), u32(true, 0), u16(true, 2), u16(true, 40), Buffer.from("eth0"));
      expectFormatError(() => parseCapture(cat(shb(true), block(true, 1, body)), "x"), 28, "option 2 at offset 44 runs past the end of its block");
      const tooFine = idb(true, 1, 0, [option(true, 9, Buffer.from([20]))]);
      expectFormatError(() => parseCapture(cat(shb(true), tooFine), "x"), 28, "if_tsresol 0x14 is finer than a 64-bit timestamp can count");
    });
  });
});

// ---------------------------------------------------------------------------
// Damaged files: parse or PcapFormatError, never anything else
// ---------------------------------------------------------------------------

function validClassic(): Buffer {
  const records = [];
  for (let i = 0; i < 12; i++) records.push(classicRecord(false, i, i * 1000, frame(10 + i * 7, i), 2000));
  return cat(classicHeader({ le: false, snaplen: 200 }), ...records);
}

function validPcapng(): Buffer {
  return cat(
    shb(true),
    idb(true, 1, 128, [option(true, 9, Buffer.from([9]))]),
    nrb(true),
    epb(true, 0, 1, 2, frame(60)),
    spb(true, 200, frame(128)),
    isb(true, 0),
    shb(false),
    idb(false, 1, 0, [option(false, 9, Buffer.from([0x8a]))]),
    epb(false, 0, 3, 4, frame(33)),
    pb(false, 0, 5, 6, frame(17)),
  );
}

/** Parses `buf`; passes when it parses well formed or throws a PcapFormatError. */
function parsesOrRejects(buf: Buffer): boolean {
  let c: Capture;
  try {
    c = parseCapture(buf, "fuzz");
  } catch (e) {
    if (e instanceof PcapFormatError) return true;
    throw e;
  }
  for (let i = 0; i < c.count; i++) {
    if (c.offsets[i] + c.lengths[i] > buf.length) return false;
    if (!(c.tsNsec[i] < 1e9)) return false;
  }
  return c.offsets.length === c.count;
}

describe("damaged files", () => {
  for (const [name, make] of [["classic", validClassic], ["pcapng", validPcapng]] as const) {
    const valid = make();

    it(`parses the intact ${name} file`, () => {
      expect(parseCapture(valid, "x").count).toBeGreaterThan(0);
    });

    it(`${name}: every truncation parses or throws PcapFormatError`, () => {
      for (let size = 0; size <= valid.length; size++) expect(parsesOrRejects(valid.subarray(0, size))).toBe(true);
    });

    it(`${name}: random byte flips parse or throw PcapFormatError`, () => {
      fc.assert(
        fc.property(fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), (flips) => {
          const buf = Buffer.from(valid);
          for (const [index, value] of flips) buf[index] = value;
          return parsesOrRejects(buf);
        }),
        { numRuns: 3000 },
      );
    });

    it(`${name}: truncation plus flips parse or throw PcapFormatError`, () => {
      fc.assert(
        fc.property(fc.nat(valid.length), fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), (size, flips) => {
          const buf = Buffer.from(valid);
          for (const [index, value] of flips) buf[index] = value;
          return parsesOrRejects(buf.subarray(0, size));
        }),
        { numRuns: 2000 },
      );
    });
  }
});

// ---------------------------------------------------------------------------
// The shared captures (read in place, never copied into the project)
// ---------------------------------------------------------------------------

const SHARED = "/work/shared/pcaps";

/** The `packets` column of SOURCES.md, by file name. */
function sharedPacketCounts(): Map<string, number> {
  const counts = new Map<string, number>();
  const lines = readFileSync(join(SHARED, "SOURCES.md"), "utf8").split("\n");
  const header = lines.find((l) => l.startsWith("| file |"));
  if (header === undefined) return counts;
  const columns = header.split("|").map((s) => s.trim());
  const fileColumn = columns.indexOf("file");
  const packetsColumn = columns.indexOf("packets");
  for (const line of lines) {
    const cells = line.split("|").map((s) => s.trim());
    if (cells.length !== columns.length || !/\.pcap(ng)?$/.test(cells[fileColumn])) continue;
    counts.set(cells[fileColumn], Number(cells[packetsColumn]));
  }
  return counts;
}

/** Files whose link-type field is not Ethernet: they must throw the link-type error. */
const NON_ETHERNET: Record<string, number> = { "bootp_asan.pcap": 67108865 };

describe.skipIf(!existsSync(SHARED))("shared captures", () => {
  const files = existsSync(SHARED) ? readdirSync(SHARED).filter((f) => /\.pcap(ng)?$/.test(f)) : [];
  const counts = existsSync(SHARED) ? sharedPacketCounts() : new Map<string, number>();

  it("lists every capture in SOURCES.md", () => {
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) expect(counts.has(f), f).toBe(true);
  });

  for (const f of files) {
    const linkType = NON_ETHERNET[f];
    if (linkType !== undefined) {
      it(`${f}: throws the link-type error`, () => {
        const err = expectFormatError(() => readCapture(join(SHARED, f)), 20, `link type ${linkType} is not Ethernet`);
        expect(err.file).toBe(join(SHARED, f));
        // Open vSwitch's reference output refuses the file with the same text.
        const flows = join(SHARED, "expected", `${f}.flows`);
        if (existsSync(flows)) expect(readFileSync(flows, "utf8").trim()).toBe(`ERROR: link type ${linkType} is not Ethernet`);
      });
    } else {
      it(`${f}: reads the packet count SOURCES.md gives`, () => {
        const c = readCapture(join(SHARED, f));
        expectWellFormed(c);
        expect(c.count).toBe(counts.get(f));
        const flows = join(SHARED, "expected", `${f}.flows`);
        if (existsSync(flows)) expect(readFileSync(flows, "utf8").trimEnd().split("\n").length).toBe(c.count);
      });
    }
  }
});
