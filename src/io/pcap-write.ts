/**
 * Classic pcap writer: what a pcap port transmits into, and what tests and
 * capture generators use to build files.
 * Invariant: the file on disk is always a prefix of a valid capture made of
 * whole records once flush() returns; a record is never split across two
 * flushes' worth of bookkeeping (it is copied whole into the chunk, or, when
 * larger than the chunk, written straight through after a flush).
 * Design: little-endian, link type 1 (DLT_EN10MB); microsecond magic
 * a1b2c3d4 by default, nanosecond magic a1b23c4d on request. Records are
 * copied into one WRITE_CHUNK_SIZE buffer allocated at construction and
 * written with fs.writeSync when the next record would not fit, so write()
 * makes one system call per ~1 MiB and, for frames from the same buffer as
 * the previous one, allocates nothing. When the record lands on a 4-byte
 * boundary (always, for frames whose lengths are multiples of 4) the header
 * and a 4-byte-aligned frame are stored a word at a time through
 * Uint32Arrays, the cheapest copy V8 offers for small frames.
 * appendRecord() takes a record the caller already holds encoded as this
 * writer would encode it (a replayed frame sent on unchanged) without
 * copying it: consecutive records of one buffer become one run, written
 * from the caller's memory after the chunk, so the order on disk is the
 * order of the calls.
 * Limits: frames longer than the snaplen are cut to it (the original length
 * keeps the wire length), as a capturing tool does; timestamps must fit the
 * format's unsigned 32-bit seconds field.
 */
import { closeSync, openSync, writeSync } from "node:fs";
import { assert } from "../errors.js";

/** Bytes buffered before a write(2): large enough that the system call cost
 * vanishes next to the copy, small enough to stay in L2/L3 cache. */
export const WRITE_CHUNK_SIZE = 1 << 20;

/** Default snaplen: libpcap's MAXIMUM_SNAPLEN, what tcpdump writes today. */
export const PCAP_SNAPLEN_DEFAULT = 262144;

export const PCAP_MAGIC_USEC = 0xa1b2c3d4;
export const PCAP_MAGIC_NSEC = 0xa1b23c4d;
export const PCAP_GLOBAL_HEADER_SIZE = 24;
export const PCAP_RECORD_HEADER_SIZE = 16;
export const DLT_EN10MB = 1;

const U32_MAX = 0xffffffff;

export interface PcapWriterOptions {
  /** Write the nanosecond magic and nanosecond timestamps (default: microseconds). */
  nanosecond?: boolean;
  /** Snaplen recorded in the header; longer frames are cut to it (default 262144). */
  snaplen?: number;
}

/**
 * Frames up to this size are copied four bytes at a time through DataViews
 * (28 ns for 64 bytes on Node 20); larger ones by Buffer#copy, whose ~50 ns
 * of fixed cost (it makes a view of the source) no longer matters there.
 */
const COPY_BY_WORDS_SIZE_MAX = 512;

/** Whether this host stores Uint32Array words little-endian, as pcap records here are. */
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Stores a 32-bit unsigned value little-endian; `value` must already be in range. */
function put32le(b: Uint8Array, at: number, value: number): void {
  b[at] = value & 0xff;
  b[at + 1] = (value >>> 8) & 0xff;
  b[at + 2] = (value >>> 16) & 0xff;
  b[at + 3] = (value >>> 24) & 0xff;
}

export class PcapWriter {
  readonly path: string;
  readonly nanosecond: boolean;
  readonly snaplen: number;
  private fd: number;
  private readonly chunk: Buffer;
  private readonly chunkView: DataView;
  /** The chunk as words (chunk starts a fresh ArrayBuffer, so word i is bytes 4i..4i+3). */
  private readonly chunkWords: Uint32Array;
  /** A DataView on the last source buffer written from, made once per buffer. */
  private sourceView: DataView<ArrayBufferLike>;
  private sourceOf: Uint8Array;
  /** The last source buffer as words when it starts on a 4-byte boundary of its memory, else null. */
  private sourceWords: Uint32Array | null;
  private sourceWordsOf: Uint8Array;
  /**
   * The caller's encoded records buffered after the chunk (appendRecord):
   * runBuffer[runStart, runEnd); none when runStart === runEnd. An empty run
   * keeps its buffer, so that the next record from it (the first of a
   * capture's next window, read into the same memory) takes appendRecord's
   * first test like the records after it: a way taken once per window only
   * had no type feedback when V8 optimised the replay loop around it, and
   * threw that code away at every window.
   */
  private runBuffer: Uint8Array | null = null;
  private runStart = 0;
  private runEnd = 0;
  private chunkUsed: number;
  private packetCount: number;

  constructor(path: string, options?: PcapWriterOptions) {
    const nanosecond = options?.nanosecond === true;
    const snaplen = options?.snaplen ?? PCAP_SNAPLEN_DEFAULT;
    assert(Number.isInteger(snaplen), "snaplen must be an integer");
    assert(snaplen > 0, "snaplen must be positive");
    assert(snaplen <= 0x7fffffff, "snaplen must fit a signed 32-bit field");
    this.path = path;
    this.nanosecond = nanosecond;
    this.snaplen = snaplen;
    this.chunk = Buffer.allocUnsafeSlow(WRITE_CHUNK_SIZE);
    this.chunkView = new DataView(this.chunk.buffer, this.chunk.byteOffset, this.chunk.byteLength);
    this.chunkWords = new Uint32Array(this.chunk.buffer, this.chunk.byteOffset, WRITE_CHUNK_SIZE >>> 2);
    this.sourceOf = new Uint8Array(0);
    this.sourceView = new DataView(this.sourceOf.buffer);
    this.sourceWords = null;
    this.sourceWordsOf = this.sourceOf;
    this.chunkUsed = 0;
    this.packetCount = 0;
    // Open last: if an assertion above fails, no descriptor leaks.
    this.fd = openSync(path, "w");

    const b = this.chunk;
    put32le(b, 0, nanosecond ? PCAP_MAGIC_NSEC : PCAP_MAGIC_USEC);
    b[4] = 2; // version_major 2, little-endian 16-bit
    b[5] = 0;
    b[6] = 4; // version_minor 4
    b[7] = 0;
    put32le(b, 8, 0); // thiszone: timestamps are UTC
    put32le(b, 12, 0); // sigfigs: always 0 in practice
    put32le(b, 16, snaplen);
    put32le(b, 20, DLT_EN10MB);
    this.chunkUsed = PCAP_GLOBAL_HEADER_SIZE;
  }

  /** Packets written so far (including those still buffered). */
  get count(): number {
    return this.packetCount;
  }

  /**
   * Appends one record holding buf[offset, offset + length). The frame is
   * copied, so the caller may reuse `buf` as soon as this returns.
   * `origLength` is the wire length (default: `length`).
   */
  write(
    buf: Uint8Array,
    offset: number,
    length: number,
    tsSec: number,
    tsNsec: number,
    origLength: number = length,
  ): void {
    // The common case in one test, kept small so V8 inlines it into the
    // caller: an aligned record that fits the chunk, from a valid call
    // (x >>> 0 === x: an integer in u32 range). Everything else, including
    // every bad argument, goes the checked way.
    const at = this.chunkUsed;
    if (
      HOST_LITTLE_ENDIAN &&
      this.runStart === this.runEnd &&
      (at & 3) === 0 &&
      length <= COPY_BY_WORDS_SIZE_MAX &&
      length <= this.snaplen &&
      at + PCAP_RECORD_HEADER_SIZE + length <= WRITE_CHUNK_SIZE &&
      this.fd >= 0 &&
      offset >= 0 &&
      length >= 0 &&
      offset + length <= buf.length &&
      tsSec >>> 0 === tsSec &&
      tsNsec >>> 0 === tsNsec &&
      tsNsec < 1e9 &&
      origLength >>> 0 === origLength
    ) {
      // Microsecond files keep the floor of the microsecond, as libpcap does
      // when it converts a nanosecond clock.
      this.writeAligned(buf, offset, length, at, tsSec, this.nanosecond ? tsNsec : (tsNsec / 1000) | 0, origLength);
      this.packetCount++;
      return;
    }
    this.writeChecked(buf, offset, length, tsSec, tsNsec, origLength);
  }

  /** write() for every record: checks the arguments, flushes when the chunk is full, cuts to the snaplen. */
  private writeChecked(buf: Uint8Array, offset: number, length: number, tsSec: number, tsNsec: number, origLength: number): void {
    // One combined test; the named asserts run only to say which argument was wrong.
    const argsValid =
      this.fd >= 0 &&
      offset >= 0 &&
      length >= 0 &&
      offset + length <= buf.length &&
      tsSec >= 0 &&
      tsSec <= U32_MAX &&
      Math.floor(tsSec) === tsSec &&
      tsNsec >= 0 &&
      tsNsec < 1e9 &&
      Math.floor(tsNsec) === tsNsec &&
      origLength >= 0 &&
      origLength <= U32_MAX &&
      Math.floor(origLength) === origLength;
    if (!argsValid) this.explainBadWrite(buf, offset, length, tsSec, tsNsec, origLength);
    // Records copied into the chunk go after the run of the caller's records.
    if (this.runStart !== this.runEnd) this.flush();

    const inclLength = length < this.snaplen ? length : this.snaplen;
    const recordSize = PCAP_RECORD_HEADER_SIZE + inclLength;
    if (this.chunkUsed + recordSize > WRITE_CHUNK_SIZE) this.flush();

    let at = this.chunkUsed;
    const frac = this.nanosecond ? tsNsec : (tsNsec / 1000) | 0;
    if (HOST_LITTLE_ENDIAN && (at & 3) === 0 && inclLength <= COPY_BY_WORDS_SIZE_MAX) {
      this.writeAligned(buf, offset, inclLength, at, tsSec, frac, origLength);
      this.packetCount++;
      return;
    }
    const b = this.chunk;
    const view = this.chunkView;
    view.setUint32(at, tsSec, true);
    view.setUint32(at + 4, frac, true);
    view.setUint32(at + 8, inclLength, true);
    view.setUint32(at + 12, origLength, true);
    at += PCAP_RECORD_HEADER_SIZE;

    if (recordSize > WRITE_CHUNK_SIZE) {
      // Only with a snaplen near 1 MiB or more: the header is buffered and
      // flushed, then the frame goes straight from the caller's memory.
      this.chunkUsed = at;
      this.flush();
      this.writeAll(buf, offset, inclLength);
    } else {
      if (offset === 0 && inclLength === buf.length) b.set(buf, at);
      else if (inclLength <= COPY_BY_WORDS_SIZE_MAX) this.copyByWords(buf, offset, at, inclLength);
      else Buffer.prototype.copy.call(buf, b, at, offset, offset + inclLength);
      this.chunkUsed = at + inclLength;
    }
    this.packetCount++;
  }

  /**
   * The record at chunk[at..] (at a multiple of 4, frame at most
   * COPY_BY_WORDS_SIZE_MAX bytes, little-endian host): header words, then
   * the frame by words when it too is 4-byte aligned in its memory.
   */
  private writeAligned(buf: Uint8Array, offset: number, length: number, at: number, tsSec: number, frac: number, origLength: number): void {
    const to = this.chunkWords;
    let w = at >>> 2;
    to[w] = tsSec;
    to[w + 1] = frac;
    to[w + 2] = length;
    to[w + 3] = origLength;
    w += 4;
    at += PCAP_RECORD_HEADER_SIZE;
    if (buf !== this.sourceWordsOf) {
      this.sourceWords = (buf.byteOffset & 3) === 0 ? new Uint32Array(buf.buffer, buf.byteOffset, buf.byteLength >>> 2) : null;
      this.sourceWordsOf = buf;
    }
    const from = this.sourceWords;
    if (from !== null && (offset & 3) === 0) {
      const words = length >>> 2;
      const s = offset >>> 2;
      for (let j = 0; j < words; j++) to[w + j] = from[s + j];
      const b = this.chunk;
      for (let j = words << 2; j < length; j++) b[at + j] = buf[offset + j];
    } else {
      this.copyByWords(buf, offset, at, length);
    }
    this.chunkUsed = at + length;
  }

  /** Copies buf[offset, offset + length) to chunk[at..], four bytes a step (byte order kept: read and written little-endian). */
  private copyByWords(buf: Uint8Array, offset: number, at: number, length: number): void {
    if (buf !== this.sourceOf) {
      this.sourceView = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
      this.sourceOf = buf;
    }
    const from = this.sourceView;
    const to = this.chunkView;
    let j = 0;
    for (; j + 4 <= length; j += 4) to.setUint32(at + j, from.getUint32(offset + j, true), true);
    const b = this.chunk;
    for (; j < length; j++) b[at + j] = buf[offset + j];
  }

  /**
   * Appends the record buf[offset, offset + size) as it is: a record header
   * and frame encoded exactly as write() would encode them here
   * (little-endian, this writer's timestamp unit, captured length at most
   * the snaplen). It is not copied: until the next release(), flush(),
   * close() or write(), the writer refers to `buf`, which must not change.
   */
  appendRecord(buf: Uint8Array, offset: number, size: number): void {
    const empty = this.runStart === this.runEnd;
    if (buf === this.runBuffer && (empty || offset === this.runEnd) && size >= PCAP_RECORD_HEADER_SIZE && offset + size <= buf.length && this.fd >= 0) {
      this.runStart = empty ? offset : this.runStart;
      this.runEnd = offset + size;
      this.packetCount++;
      return;
    }
    assert(this.fd >= 0, "write after close");
    assert(offset >= 0 && size >= PCAP_RECORD_HEADER_SIZE && offset + size <= buf.length, "record must lie inside buf");
    if (this.runStart !== this.runEnd) this.flush();
    this.runBuffer = buf;
    this.runStart = offset;
    this.runEnd = offset + size;
    this.packetCount++;
  }

  /** Writes the records appendRecord() referred to, so their buffer may change. */
  release(): void {
    if (this.runStart !== this.runEnd) this.flush();
  }

  /** Writes every buffered byte to the file: the chunk, then the run of appended records. */
  flush(): void {
    assert(this.fd >= 0, "flush after close");
    this.writeAll(this.chunk, 0, this.chunkUsed);
    this.chunkUsed = 0;
    const run = this.runBuffer;
    if (run !== null && this.runStart !== this.runEnd) {
      const start = this.runStart;
      // Emptied first: a failed write is not repeated by the next flush.
      this.runStart = this.runEnd;
      this.writeAll(run, start, this.runEnd - start);
    }
  }

  /** Flushes and closes the file. Calling it again does nothing. */
  close(): void {
    if (this.fd < 0) return;
    try {
      this.flush();
    } finally {
      const fd = this.fd;
      this.fd = -1;
      this.runBuffer = null;
      closeSync(fd);
    }
  }

  /** Throws the assertion that names the first bad argument of write(). */
  private explainBadWrite(buf: Uint8Array, offset: number, length: number, tsSec: number, tsNsec: number, origLength: number): void {
    assert(this.fd >= 0, "write after close");
    assert(offset >= 0 && length >= 0 && offset + length <= buf.length, "frame must lie inside buf");
    assert(tsSec >= 0 && tsSec <= U32_MAX && Math.floor(tsSec) === tsSec, "tsSec must be a u32");
    assert(tsNsec >= 0 && tsNsec < 1e9 && Math.floor(tsNsec) === tsNsec, "tsNsec must be an integer in [0, 1e9)");
    assert(origLength >= 0 && origLength <= U32_MAX && Math.floor(origLength) === origLength, "origLength must be a u32");
  }

  /** writeSync may write less than asked (a signal, a full pipe): loop until done. */
  private writeAll(buf: Uint8Array, offset: number, size: number): void {
    let done = 0;
    while (done < size) done += writeSync(this.fd, buf, offset + done, size - done);
  }
}

/** One frame for writeCapture: timestamps default to 0. */
export interface CaptureFrame {
  data: Uint8Array;
  tsSec?: number;
  tsNsec?: number;
  origLength?: number;
}

/** Writes `frames` as a classic pcap file (for tests and capture generators). */
export function writeCapture(path: string, frames: readonly CaptureFrame[], options?: PcapWriterOptions): void {
  const writer = new PcapWriter(path, options);
  try {
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i];
      writer.write(f.data, 0, f.data.length, f.tsSec ?? 0, f.tsNsec ?? 0, f.origLength ?? f.data.length);
    }
  } finally {
    writer.close();
  }
}
