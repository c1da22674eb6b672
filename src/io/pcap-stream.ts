/**
 * A classic pcap file read one window at a time, for `replay` of captures
 * larger than it wants in memory at once.
 *
 * Invariant: the windows, in order, hold exactly the records readCapture
 * would return for the file (same offsets within their record, lengths and
 * timestamps); a window's Capture is valid until the next call of next().
 * A file readCapture rejects makes next() throw the same PcapFormatError
 * (same offset, same message) when the stream reaches the fault, after the
 * windows before it, as tcpdump -r reports a damaged file after the packets
 * before the damage.
 * Design: one reusable buffer of WINDOW_SIZE bytes (grown only for a record
 * larger than it). Each next() moves the unread tail to the front, fills the
 * rest with one read, and walks the whole records it now holds (the record
 * loop readCapture uses, pcap-records.ts) into columns allocated once.
 * Reading into the same memory every time costs the kernel a copy from the
 * page cache, where reading a whole file into a fresh buffer also costs a
 * page fault and a zeroed page per 4 KiB; nothing is allocated per window,
 * and the file is read once.
 * Limits: classic pcap only: open() returns null for pcapng or for a global
 * header readCapture would reject, so the caller reads that file with
 * readCapture, which accepts it or throws the precise PcapFormatError.
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import type { Capture } from "./pcap-read.js";
import { isEthernetLinkField, PCAP_SNAPLEN_MAX } from "./pcap-read.js";
import { ClassicRecordWalker } from "./pcap-records.js";
import * as wire from "./pcap-write.js";

const PCAP_GLOBAL_HEADER_SIZE = wire.PCAP_GLOBAL_HEADER_SIZE;
const PCAP_RECORD_HEADER_SIZE = wire.PCAP_RECORD_HEADER_SIZE;
const PCAP_MAGIC_USEC = wire.PCAP_MAGIC_USEC;
const PCAP_MAGIC_NSEC = wire.PCAP_MAGIC_NSEC;

/** Bytes read per window: large enough that a read(2) per window costs nothing, small enough to stay in cache. */
export const WINDOW_SIZE = 1 << 20;

/** Records a window holds at most: every record of a full WINDOW_SIZE buffer of empty frames. */
const WINDOW_RECORDS_MAX = Math.ceil(WINDOW_SIZE / PCAP_RECORD_HEADER_SIZE);

export class CaptureStream {
  readonly path: string;
  private fd: number;
  private buffer: Buffer;
  private view: DataView;
  /** Bytes of `buffer` holding file data, and where the next unwalked record starts. */
  private filled = 0;
  private walked = 0;
  /** File offset of buffer[0], and of the end of what was read. */
  private fileBase = 0;
  private fileRead = 0;
  private eof = false;
  private readonly walker: ClassicRecordWalker;
  private readonly window: Capture;
  /** Size of the file when opened, in bytes. */
  readonly fileSize: number;
  /** Little-endian with the microsecond magic: record headers as a default PcapWriter encodes them. */
  private readonly writerByteOrderAndUnit: boolean;
  /**
   * True when every record header of the current window is encoded as a
   * default PcapWriter encodes one (little-endian, microseconds, fraction
   * in range): a record whose original length equals its captured length is
   * then, header and frame, exactly what that writer writes for its frame
   * and timestamp, and may be passed on with PcapWriter.appendRecord.
   */
  windowAsWritten = false;

  private constructor(path: string, fd: number, header: Buffer, fileSize: number) {
    this.path = path;
    this.fd = fd;
    this.fileSize = fileSize;
    const magicLe = header.readUInt32LE(0);
    const le = magicLe === PCAP_MAGIC_USEC || magicLe === PCAP_MAGIC_NSEC;
    const magic = le ? magicLe : header.readUInt32BE(0);
    const snaplen = le ? header.readUInt32LE(16) : header.readUInt32BE(16);
    const inclLimit = snaplen > PCAP_SNAPLEN_MAX ? snaplen : PCAP_SNAPLEN_MAX;
    this.walker = new ClassicRecordWalker(le, magic === PCAP_MAGIC_NSEC, inclLimit, path);
    this.writerByteOrderAndUnit = le && magic === PCAP_MAGIC_USEC;
    this.buffer = Buffer.allocUnsafeSlow(WINDOW_SIZE);
    this.view = new DataView(this.buffer.buffer, this.buffer.byteOffset, this.buffer.byteLength);
    this.window = {
      path,
      format: "pcap",
      linkType: (le ? header.readUInt32LE(20) : header.readUInt32BE(20)) & 0xffff,
      buffer: this.buffer,
      count: 0,
      offsets: new Uint32Array(WINDOW_RECORDS_MAX),
      lengths: new Uint32Array(WINDOW_RECORDS_MAX),
      origLengths: new Uint32Array(WINDOW_RECORDS_MAX),
      tsSec: new Float64Array(WINDOW_RECORDS_MAX),
      tsNsec: new Uint32Array(WINDOW_RECORDS_MAX),
    };
    this.rewind();
  }

  /**
   * Opens `path` as a stream when it is a classic pcap file whose global
   * header readCapture accepts; null otherwise (see the module comment).
   * The stream is positioned at the first record.
   */
  static open(path: string): CaptureStream | null {
    const fd = openSync(path, "r");
    let keep = false;
    try {
      const header = Buffer.alloc(PCAP_GLOBAL_HEADER_SIZE);
      if (readSync(fd, header, 0, PCAP_GLOBAL_HEADER_SIZE, 0) !== PCAP_GLOBAL_HEADER_SIZE) return null;
      if (!isCleanGlobalHeader(header)) return null;
      const stream = new CaptureStream(path, fd, header, fstatSync(fd).size);
      keep = true;
      return stream;
    } finally {
      if (!keep) closeSync(fd);
    }
  }

  /** File offset of the first record not yet returned in a window (for progress). */
  get position(): number {
    return this.fileBase + this.walked;
  }

  /** Back to the first record. */
  rewind(): void {
    this.filled = 0;
    this.walked = 0;
    this.fileBase = PCAP_GLOBAL_HEADER_SIZE;
    this.fileRead = PCAP_GLOBAL_HEADER_SIZE;
    this.eof = false;
  }

  /** The next window of records (at least one), or null at the end of the file. */
  next(): Capture | null {
    const w = this.window;
    for (;;) {
      // Move the unwalked tail (a partial record) to the front and read behind it.
      if (this.walked > 0) {
        this.buffer.copyWithin(0, this.walked, this.filled);
        this.filled -= this.walked;
        this.fileBase += this.walked;
        this.walked = 0;
      }
      while (!this.eof && this.filled < this.buffer.length) {
        const n = readSync(this.fd, this.buffer, this.filled, this.buffer.length - this.filled, this.fileRead);
        if (n === 0) this.eof = true;
        this.filled += n;
        this.fileRead += n;
      }
      const walker = this.walker;
      walker.pos = this.walked;
      walker.count = 0;
      walker.carries = 0;
      walker.walk(this.view, this.filled, w, WINDOW_RECORDS_MAX, this.fileBase);
      this.walked = walker.pos;
      if (walker.count > 0) {
        w.count = walker.count;
        this.windowAsWritten = this.writerByteOrderAndUnit && walker.carries === 0;
        return w;
      }
      if (this.filled === 0 && this.eof) return null;
      if (this.eof) walker.throwTruncated(this.view, this.filled, this.fileBase);
      this.growFor();
    }
  }

  /** The record at the front does not fit the buffer: double it (only for frames near or above WINDOW_SIZE). */
  private growFor(): void {
    const bigger = Buffer.allocUnsafeSlow(this.buffer.length * 2);
    this.buffer.copy(bigger, 0, 0, this.filled);
    this.buffer = bigger;
    this.view = new DataView(bigger.buffer, bigger.byteOffset, bigger.byteLength);
    this.window.buffer = bigger;
  }

  close(): void {
    if (this.fd < 0) return;
    closeSync(this.fd);
    this.fd = -1;
  }
}

/** A classic pcap global header readCapture accepts, in either byte order. */
function isCleanGlobalHeader(h: Buffer): boolean {
  const magicLe = h.readUInt32LE(0);
  const magicBe = h.readUInt32BE(0);
  const le = magicLe === PCAP_MAGIC_USEC || magicLe === PCAP_MAGIC_NSEC;
  if (!le && magicBe !== PCAP_MAGIC_USEC && magicBe !== PCAP_MAGIC_NSEC) return false;
  const major = le ? h.readUInt16LE(4) : h.readUInt16BE(4);
  const minor = le ? h.readUInt16LE(6) : h.readUInt16BE(6);
  if (major !== 2 || minor > 4) return false;
  return isEthernetLinkField(le ? h.readUInt32LE(20) : h.readUInt32BE(20));
}
