/**
 * A classic pcap file read one window at a time, for `replay` of captures
 * larger than it wants in memory at once.
 *
 * Invariant: the windows, in order, hold exactly the records readCapture
 * would return for the file (same offsets within their record, lengths and
 * timestamps); a window's Capture is valid until the next call of next().
 * Design: one reusable buffer of WINDOW_SIZE bytes (grown only for a record
 * larger than it). Each next() moves the unread tail to the front, fills the
 * rest with one read, and walks the whole records it now holds into columns
 * allocated once. Reading into the same memory every time costs the kernel a
 * copy from the page cache, where reading a whole file into a fresh buffer
 * also costs a page fault and a zeroed page per 4 KiB; nothing is allocated
 * per window.
 * Limits: classic pcap only, and only files that readCapture accepts:
 * openCaptureStream() walks the file once first and returns null for
 * pcapng or for any file it finds a fault in, so the caller reads that one
 * with readCapture, which accepts it or throws the precise PcapFormatError
 * before anything was replayed.
 */
import { closeSync, openSync, readSync } from "node:fs";
import { PcapFormatError } from "../errors.js";
import type { Capture } from "./pcap-read.js";
import { isEthernetLinkField, PCAP_SNAPLEN_MAX } from "./pcap-read.js";
import * as wire from "./pcap-write.js";

const PCAP_GLOBAL_HEADER_SIZE = wire.PCAP_GLOBAL_HEADER_SIZE;
const PCAP_RECORD_HEADER_SIZE = wire.PCAP_RECORD_HEADER_SIZE;
const PCAP_MAGIC_USEC = wire.PCAP_MAGIC_USEC;
const PCAP_MAGIC_NSEC = wire.PCAP_MAGIC_NSEC;
const NSEC_PER_SEC = 1e9;

/** Bytes read per window: large enough that a read(2) per window costs nothing, small enough to stay in cache. */
export const WINDOW_SIZE = 1 << 20;

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
  private readonly le: boolean;
  private readonly fracPerSec: number;
  private readonly nsecPerFrac: number;
  private readonly inclLimit: number;
  private readonly linkType: number;
  private readonly window: Capture;
  /** Records in the file (counted by open()'s pass). */
  recordCount = 0;

  private constructor(path: string, fd: number, header: Buffer) {
    this.path = path;
    this.fd = fd;
    const magicLe = header.readUInt32LE(0);
    this.le = magicLe === PCAP_MAGIC_USEC || magicLe === PCAP_MAGIC_NSEC;
    const magic = this.le ? magicLe : header.readUInt32BE(0);
    this.fracPerSec = magic === PCAP_MAGIC_NSEC ? NSEC_PER_SEC : 1e6;
    this.nsecPerFrac = magic === PCAP_MAGIC_NSEC ? 1 : 1000;
    const snaplen = this.le ? header.readUInt32LE(16) : header.readUInt32BE(16);
    this.inclLimit = snaplen > PCAP_SNAPLEN_MAX ? snaplen : PCAP_SNAPLEN_MAX;
    this.linkType = (this.le ? header.readUInt32LE(20) : header.readUInt32BE(20)) & 0xffff;
    this.buffer = Buffer.allocUnsafeSlow(WINDOW_SIZE);
    this.view = new DataView(this.buffer.buffer, this.buffer.byteOffset, this.buffer.byteLength);
    const records = Math.ceil(WINDOW_SIZE / PCAP_RECORD_HEADER_SIZE);
    this.window = {
      path,
      format: "pcap",
      linkType: this.linkType,
      buffer: this.buffer,
      count: 0,
      offsets: new Uint32Array(records),
      lengths: new Uint32Array(records),
      origLengths: new Uint32Array(records),
      tsSec: new Float64Array(records),
      tsNsec: new Uint32Array(records),
    };
    this.rewind();
  }

  /**
   * Opens `path` as a stream when it is a classic pcap file that reads
   * cleanly to the end (checked by one pass over it); null otherwise (see
   * the module comment). The stream is positioned at the first record.
   */
  static open(path: string): CaptureStream | null {
    const fd = openSync(path, "r");
    let keep = false;
    try {
      const header = Buffer.alloc(PCAP_GLOBAL_HEADER_SIZE);
      if (readSync(fd, header, 0, PCAP_GLOBAL_HEADER_SIZE, 0) !== PCAP_GLOBAL_HEADER_SIZE) return null;
      if (!isCleanGlobalHeader(header)) return null;
      const stream = new CaptureStream(path, fd, header);
      let count = 0;
      for (let w = stream.next(); w !== null; w = stream.next()) count += w.count;
      stream.recordCount = count;
      stream.rewind();
      keep = true;
      return stream;
    } catch (err) {
      if (err instanceof PcapFormatError) return null;
      throw err;
    } finally {
      if (!keep) closeSync(fd);
    }
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
      const count = this.walk();
      if (count > 0) {
        w.count = count;
        return w;
      }
      if (this.filled === 0 && this.eof) return null;
      if (this.eof) throw new PcapFormatError(this.path, this.fileBase, "truncated record at the end of the file");
      this.growFor();
    }
  }

  /** Walks the whole records in buffer[walked, filled) into the window's columns; returns how many. */
  private walk(): number {
    const view = this.view;
    const le = this.le;
    const w = this.window;
    const offsets = w.offsets;
    const lengths = w.lengths;
    const origLengths = w.origLengths;
    const tsSec = w.tsSec;
    const tsNsec = w.tsNsec;
    const fracPerSec = this.fracPerSec;
    const nsecPerFrac = this.nsecPerFrac;
    const end = this.filled;
    let pos = this.walked;
    let count = 0;
    while (end - pos >= PCAP_RECORD_HEADER_SIZE) {
      const incl = view.getUint32(pos + 8, le);
      if (incl > this.inclLimit) throw new PcapFormatError(this.path, this.fileBase + pos, `captured length ${incl} exceeds snaplen ${this.inclLimit}`);
      if (incl > end - pos - PCAP_RECORD_HEADER_SIZE) break;
      let sec = view.getUint32(pos, le);
      let frac = view.getUint32(pos + 4, le);
      if (frac >= fracPerSec) {
        // As readCapture: an out-of-range fraction is carried into the seconds.
        const carry = Math.floor(frac / fracPerSec);
        sec += carry;
        frac -= carry * fracPerSec;
      }
      offsets[count] = pos + PCAP_RECORD_HEADER_SIZE;
      lengths[count] = incl;
      origLengths[count] = view.getUint32(pos + 12, le);
      tsSec[count] = sec;
      tsNsec[count] = frac * nsecPerFrac;
      count++;
      pos += PCAP_RECORD_HEADER_SIZE + incl;
    }
    this.walked = pos;
    return count;
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
