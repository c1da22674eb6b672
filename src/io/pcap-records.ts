/**
 * The classic pcap record loop, shared by the whole-file reader
 * (pcap-read.ts) and the windowed stream (pcap-stream.ts), so both accept
 * and reject exactly the same files with the same messages.
 *
 * Invariant: after walk(), records [first count, count) of the columns are
 * whole records of view[.., pos) in order, and `pos` is the start of the
 * first record not walked (a partial one, a bad one, or the one that did
 * not fit the columns). A record whose captured length is above the limit
 * ends the walk; the walk that starts at it throws. A partial record is
 * left for the caller, who knows whether more bytes may follow (the stream)
 * or the file ended (throwTruncated).
 * Design: the reading state (byte order, timestamp unit, limit) is fixed
 * per file and kept in fields; pos and count live in locals during the
 * loop and are stored back once.
 */
import { PcapFormatError } from "../errors.js";
import { PCAP_RECORD_HEADER_SIZE as RECORD_HEADER_SIZE } from "./pcap-write.js";

// A module-local copy: an imported binding read in the loop is a getter
// call when tsx loads this file as CommonJS.
const PCAP_RECORD_HEADER_SIZE = RECORD_HEADER_SIZE;

/** Per-record columns a walk fills (a Capture, or a reader's growing scratch). */
export interface RecordColumns {
  offsets: Uint32Array;
  lengths: Uint32Array;
  origLengths: Uint32Array;
  tsSec: Float64Array;
  tsNsec: Uint32Array;
}

export class ClassicRecordWalker {
  /** Start of the first record not walked yet, in the walked view. */
  pos = 0;
  /** Records in the columns. */
  count = 0;
  /** Records whose timestamp fraction was out of range (carried into the seconds), counted by walk(). */
  carries = 0;
  private readonly le: boolean;
  private readonly fracPerSec: number;
  private readonly nsecPerFrac: number;

  /**
   * `inclLimit`: the largest captured length accepted (max(snaplen,
   * 262144), see pcap-read.ts); `path` and the view's file offset name
   * faults in errors.
   */
  constructor(
    littleEndian: boolean,
    nanosecond: boolean,
    private readonly inclLimit: number,
    private readonly path: string,
  ) {
    this.le = littleEndian;
    this.fracPerSec = nanosecond ? 1e9 : 1e6;
    this.nsecPerFrac = nanosecond ? 1 : 1000;
  }

  /**
   * Walks the whole records of view[pos, end) into cols[count..capacity).
   * `fileBase` is the file offset of view byte 0 (for error offsets).
   */
  walk(view: DataView, end: number, cols: RecordColumns, capacity: number, fileBase: number): void {
    const le = this.le;
    const inclLimit = this.inclLimit;
    const fracPerSec = this.fracPerSec;
    const nsecPerFrac = this.nsecPerFrac;
    const offsets = cols.offsets;
    const lengths = cols.lengths;
    const origLengths = cols.origLengths;
    const tsSec = cols.tsSec;
    const tsNsec = cols.tsNsec;
    let pos = this.pos;
    let count = this.count;
    const first = count;
    while (count < capacity && end - pos >= PCAP_RECORD_HEADER_SIZE) {
      const incl = view.getUint32(pos + 8, le);
      if (incl > inclLimit) {
        // Return the records before it first; the walk that starts at it throws.
        if (count > first) break;
        throw new PcapFormatError(this.path, fileBase + pos, `captured length ${incl} exceeds snaplen ${inclLimit}`);
      }
      if (incl > end - pos - PCAP_RECORD_HEADER_SIZE) break;
      let sec = view.getUint32(pos, le);
      let frac = view.getUint32(pos + 4, le);
      if (frac >= fracPerSec) {
        // Out-of-range fractions exist in damaged files; carry them into the
        // seconds so tsNsec stays below 1e9 (and inside 32 bits).
        const carry = Math.floor(frac / fracPerSec);
        sec += carry;
        frac -= carry * fracPerSec;
        this.carries++;
      }
      offsets[count] = pos + PCAP_RECORD_HEADER_SIZE;
      lengths[count] = incl;
      origLengths[count] = view.getUint32(pos + 12, le);
      tsSec[count] = sec;
      tsNsec[count] = frac * nsecPerFrac;
      count++;
      pos += PCAP_RECORD_HEADER_SIZE + incl;
    }
    this.pos = pos;
    this.count = count;
  }

  /** The file ends at `end` inside the record at pos: throws the error that names it. */
  throwTruncated(view: DataView, end: number, fileBase: number): never {
    const pos = this.pos;
    const left = end - pos;
    if (left < PCAP_RECORD_HEADER_SIZE) {
      throw new PcapFormatError(this.path, fileBase + pos, `truncated record header: ${left} bytes left in file, need ${PCAP_RECORD_HEADER_SIZE}`);
    }
    const incl = view.getUint32(pos + 8, this.le);
    throw new PcapFormatError(this.path, fileBase + pos, `truncated record: ${incl} bytes captured, ${left - PCAP_RECORD_HEADER_SIZE} left in file`);
  }
}
