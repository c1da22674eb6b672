/**
 * Zero-copy capture reader: classic pcap and pcapng into one struct of arrays.
 * Invariant: for every i < count, buffer[offsets[i], offsets[i] + lengths[i])
 * lies inside the file and inside its record or block; a file either parses
 * whole or throws exactly one PcapFormatError naming the offset of the
 * offending header or block. Nothing is skipped silently and no frame is copied.
 * Design: the file is read into one Buffer and walked once. Per-packet fields
 * go into scratch typed arrays that double when full (the first record's size
 * gives the starting estimate, which is exact for fixed-size captures) and
 * are trimmed to `count` at the end, so a million-packet file costs a handful
 * of allocations, not a million.
 * Limits: files up to 2 GiB (Node's largest single read, and offsets then
 * fit in 32 bits). Only Ethernet packets are accepted (see isEthernetLinkField).
 *
 * Choices where the test captures decide (see /work/shared/pcaps/SOURCES.md):
 * - A classic record whose captured length exceeds the header's snaplen is
 *   kept whole, as stored: fuzzed and old Solaris files do this (two of the
 *   shared captures), Wireshark and Open vSwitch's reader keep such records
 *   whole, and libpcap reads them too (cut to the snaplen). Only a captured
 *   length above max(snaplen, 262144), libpcap's MAXIMUM_SNAPLEN, is an error,
 *   because no capturing tool writes one and it is how corruption shows.
 * - The classic link-type field carries FCS information in its upper bits. The
 *   FCS-length nibble (bits 28-31) means nothing unless the P bit (26) is set,
 *   so it is ignored; a set P bit (frames end in an FCS we would parse as
 *   payload) or any reserved bit makes the file non-Ethernet.
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { PcapFormatError } from "../errors.js";
// The on-disk constants live with the writer, which defines what we produce.
import * as wire from "./pcap-write.js";
import { ClassicRecordWalker } from "./pcap-records.js";

// Module-local copies of the format constants: when this file is loaded as
// CommonJS (tsx does that for a CJS entry point), every read of an imported
// binding in the walk loop becomes a getter call, which made it 3x slower.
const DLT_EN10MB = wire.DLT_EN10MB;
const PCAP_GLOBAL_HEADER_SIZE = wire.PCAP_GLOBAL_HEADER_SIZE;
const PCAP_MAGIC_NSEC = wire.PCAP_MAGIC_NSEC;
const PCAP_MAGIC_USEC = wire.PCAP_MAGIC_USEC;
const PCAP_RECORD_HEADER_SIZE = wire.PCAP_RECORD_HEADER_SIZE;

export interface Capture {
  path: string;
  format: "pcap" | "pcapng";
  /** The link type, always DLT_EN10MB (1) since only Ethernet is accepted.
   * Classic: the low 16 bits of the header's field, as libpcap's
   * pcap_datalink() gives (the upper bits are FCS information). pcapng: the
   * link type of every interface that carries a packet. */
  linkType: number;
  /** The whole file; frames are NOT copied. */
  buffer: Buffer;
  /** Number of packets. */
  count: number;
  /** Byte offset of packet i's data in buffer. */
  offsets: Uint32Array;
  /** Captured length of packet i. */
  lengths: Uint32Array;
  /** Original (wire) length of packet i. */
  origLengths: Uint32Array;
  /** Timestamp seconds. */
  tsSec: Float64Array;
  /** Timestamp nanoseconds part, always < 1e9. */
  tsNsec: Uint32Array;
}

/** Largest file readCapture accepts: Node 20's largest read (kIoMaxLength). */
export const CAPTURE_FILE_SIZE_MAX = 0x7fffffff;

/** libpcap's MAXIMUM_SNAPLEN: the largest captured length it accepts. */
export const PCAP_SNAPLEN_MAX = wire.PCAP_SNAPLEN_DEFAULT;

/** Interfaces per pcapng section: bounds the per-section tables. Real files
 * have a handful; 65536 is what a 16-bit interface id in the obsolete Packet
 * Block can name. */
export const PCAPNG_INTERFACES_MAX = 65536;

/** Smallest first scratch capacity. */
const SCRATCH_LENGTH_MIN = 64;

/** Largest first scratch capacity (24 MiB of columns): a misleading first
 * record (say, an empty one in a file of jumbo frames) must not make the
 * estimate reserve more than this; doubling handles larger files. */
const SCRATCH_ESTIMATE_MAX = 1 << 20;

/** pcapng block types this reader interprets; every other type is skipped by length. */
const BLOCK_SHB = 0x0a0d0d0a;
const BLOCK_IDB = 0x00000001;
const BLOCK_PB = 0x00000002; // obsolete Packet Block: still a packet, never skipped
const BLOCK_SPB = 0x00000003;
const BLOCK_EPB = 0x00000006;

/** A pcapng file starts with a section header block, whose type is a palindrome. */
const PCAPNG_MAGIC = BLOCK_SHB;
/** The section header's byte-order magic, read big-endian, in each byte order. */
const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const PCAPNG_BYTE_ORDER_MAGIC_SWAPPED = 0x4d3c2b1a;

/** Smallest total length of each block type (header, fixed fields, trailer). */
const SHB_SIZE_MIN = 28;
const IDB_SIZE_MIN = 20;
const EPB_SIZE_MIN = 32;
const PB_SIZE_MIN = 32;
const SPB_SIZE_MIN = 16;
const BLOCK_SIZE_MIN = 12;

const OPT_ENDOFOPT = 0;
const OPT_IF_TSRESOL = 9;
const OPT_IF_TSOFFSET = 14;

const NSEC_PER_SEC = 1e9;
const TWO_POW_32 = 4294967296;

/**
 * True when a classic pcap link-type field means plain Ethernet: type 1,
 * no reserved bits, no FCS announced (P bit clear). The FCS-length nibble is
 * ignored because without P it carries no meaning (tcpdump's fuzzed test
 * files set it).
 */
export function isEthernetLinkField(field: number): boolean {
  return (field & 0x0fffffff) === DLT_EN10MB;
}

/** Reads and walks a capture file. Throws PcapFormatError on any format problem. */
export function readCapture(path: string): Capture {
  return parseCapture(readWhole(path), path);
}

/**
 * The file's bytes in one Buffer: one open, one fstat, reads straight into a
 * buffer of the final size (what readFileSync does, minus its generality).
 * Most of the cost is the kernel faulting in the fresh pages, not the copy.
 */
function readWhole(path: string): Buffer {
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    if (size > CAPTURE_FILE_SIZE_MAX) {
      throw new PcapFormatError(path, 0, `file is ${size} bytes; captures above ${CAPTURE_FILE_SIZE_MAX} bytes are not supported`);
    }
    const buffer = Buffer.allocUnsafeSlow(size);
    let done = 0;
    while (done < size) {
      const n = readSync(fd, buffer, done, size - done, done);
      if (n === 0) break; // the file shrank while we read it: walk what is there
      done += n;
    }
    return done === size ? buffer : buffer.subarray(0, done);
  } finally {
    closeSync(fd);
  }
}

/** Walks a capture already in memory; `path` only names it in errors. */
export function parseCapture(buffer: Buffer, path: string): Capture {
  if (buffer.length < 4) {
    throw new PcapFormatError(path, 0, `truncated global header: ${buffer.length} bytes, need ${PCAP_GLOBAL_HEADER_SIZE}`);
  }
  const magic = buffer.readUInt32BE(0);
  if (magic === PCAPNG_MAGIC) return parsePcapng(buffer, path);
  if (magic === PCAP_MAGIC_USEC || magic === PCAP_MAGIC_NSEC) return parseClassic(buffer, path, false, magic === PCAP_MAGIC_NSEC);
  const swapped = buffer.readUInt32LE(0);
  if (swapped === PCAP_MAGIC_USEC || swapped === PCAP_MAGIC_NSEC) return parseClassic(buffer, path, true, swapped === PCAP_MAGIC_NSEC);
  throw new PcapFormatError(path, 0, `not a pcap or pcapng file (magic 0x${magic.toString(16).padStart(8, "0")})`);
}

/**
 * Per-packet columns that grow by doubling during a walk. Only the walkers
 * use it; they keep the arrays in locals and call grow() when count reaches
 * the capacity.
 */
class Scratch {
  offsets: Uint32Array;
  lengths: Uint32Array;
  origLengths: Uint32Array;
  tsSec: Float64Array;
  tsNsec: Uint32Array;
  capacity: number;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.offsets = new Uint32Array(capacity);
    this.lengths = new Uint32Array(capacity);
    this.origLengths = new Uint32Array(capacity);
    this.tsSec = new Float64Array(capacity);
    this.tsNsec = new Uint32Array(capacity);
  }

  /** Doubles the capacity, keeping the first `count` entries. */
  grow(count: number): void {
    const capacity = this.capacity * 2;
    this.offsets = growU32(this.offsets, capacity, count);
    this.lengths = growU32(this.lengths, capacity, count);
    this.origLengths = growU32(this.origLengths, capacity, count);
    const tsSec = new Float64Array(capacity);
    tsSec.set(this.tsSec.subarray(0, count));
    this.tsSec = tsSec;
    this.tsNsec = growU32(this.tsNsec, capacity, count);
    this.capacity = capacity;
  }

  /** The finished capture, arrays exactly `count` long (no copy when the estimate was exact). */
  finish(path: string, format: "pcap" | "pcapng", linkType: number, buffer: Buffer, count: number): Capture {
    const exact = count === this.capacity;
    return {
      path,
      format,
      linkType,
      buffer,
      count,
      offsets: exact ? this.offsets : this.offsets.slice(0, count),
      lengths: exact ? this.lengths : this.lengths.slice(0, count),
      origLengths: exact ? this.origLengths : this.origLengths.slice(0, count),
      tsSec: exact ? this.tsSec : this.tsSec.slice(0, count),
      tsNsec: exact ? this.tsNsec : this.tsNsec.slice(0, count),
    };
  }
}

function growU32(old: Uint32Array, capacity: number, count: number): Uint32Array {
  const next = new Uint32Array(capacity);
  next.set(old.subarray(0, count));
  return next;
}

/** Packets of `recordSize` bytes that fit in `bodySize`, at least the minimum. */
function estimateCount(bodySize: number, recordSize: number): number {
  const estimate = Math.ceil(bodySize / recordSize);
  if (estimate < SCRATCH_LENGTH_MIN) return SCRATCH_LENGTH_MIN;
  return estimate < SCRATCH_ESTIMATE_MAX ? estimate : SCRATCH_ESTIMATE_MAX;
}

// ---------------------------------------------------------------------------
// Classic pcap
//
//   0      4      6      8         12        16        20        24
//   +------+------+------+---------+---------+---------+---------+
//   | magic|major |minor | thiszone| sigfigs | snaplen | linktype|  global header
//   +------+------+------+---------+---------+---------+---------+
//   | ts_sec | ts_frac | incl_len | orig_len | incl_len bytes ... |  record, repeated
//   +--------+---------+----------+----------+--------------------+
// ---------------------------------------------------------------------------

function parseClassic(buffer: Buffer, path: string, littleEndian: boolean, nanosecond: boolean): Capture {
  const size = buffer.length;
  if (size < PCAP_GLOBAL_HEADER_SIZE) {
    throw new PcapFormatError(path, 0, `truncated global header: ${size} bytes, need ${PCAP_GLOBAL_HEADER_SIZE}`);
  }
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const le = littleEndian;
  const versionMajor = view.getUint16(4, le);
  const versionMinor = view.getUint16(6, le);
  // libpcap reads 2.0 through 2.4; anything else is another format.
  if (versionMajor !== 2 || versionMinor > 4) {
    throw new PcapFormatError(path, 4, `unsupported pcap version ${versionMajor}.${versionMinor}`);
  }
  const snaplen = view.getUint32(16, le);
  const linkType = view.getUint32(20, le);
  if (!isEthernetLinkField(linkType)) {
    throw new PcapFormatError(path, 20, `link type ${linkType} is not Ethernet`);
  }
  // A snaplen of 0 or above the maximum is read by libpcap as "the maximum";
  // a larger header snaplen is honoured for files that really hold bigger frames.
  const inclLimit = snaplen > PCAP_SNAPLEN_MAX ? snaplen : PCAP_SNAPLEN_MAX;

  const firstIncl = size - PCAP_GLOBAL_HEADER_SIZE >= PCAP_RECORD_HEADER_SIZE ? view.getUint32(PCAP_GLOBAL_HEADER_SIZE + 8, le) : 0;
  const scratch = new Scratch(estimateCount(size - PCAP_GLOBAL_HEADER_SIZE, PCAP_RECORD_HEADER_SIZE + Math.min(firstIncl, inclLimit)));
  const walker = new ClassicRecordWalker(le, nanosecond, inclLimit, path);
  walker.pos = PCAP_GLOBAL_HEADER_SIZE;
  for (;;) {
    const before = walker.count;
    walker.walk(view, size, scratch, scratch.capacity, 0);
    if (walker.pos === size) break;
    if (walker.count === scratch.capacity) scratch.grow(walker.count);
    // Stopped before a bad record: walking on from it throws its error; walking nothing, the file ends inside a record.
    else if (walker.count === before) walker.throwTruncated(view, size, 0);
  }
  return scratch.finish(path, "pcap", linkType & 0xffff, buffer, walker.count);
}

// ---------------------------------------------------------------------------
// pcapng
//
//   +------------+--------------+----------- ... --+--------------+
//   | block type | total length | body (padded to 4) | total length |
//   +------------+--------------+----------- ... --+--------------+
//   SHB body: byte-order magic 1a2b3c4d, major 1, minor 0, section length (-1 = unknown), options
//   IDB body: link type u16, reserved u16, snaplen u32, options
//   EPB body: interface u32, ts high u32, ts low u32, captured u32, original u32, data, options
//   SPB body: original u32, data (captured = min(original, snaplen of interface 0, space))
//   PB body (obsolete): interface u16, drops u16, ts high, ts low, captured, original, data, options
// ---------------------------------------------------------------------------

/** Interfaces of the current section, as parallel arrays indexed by interface id. */
class Interfaces {
  count = 0;
  linkTypes: number[] = [];
  snaplens: number[] = [];
  /** Timestamp units per second: 10^n or 2^n. */
  unitsPerSec: number[] = [];
  /** Nanoseconds per unit when unitsPerSec divides 1e9, else 0 (exact BigInt path). */
  nsecPerUnit: number[] = [];
  /** if_tsoffset: seconds added to every timestamp. */
  offsetSec: number[] = [];

  reset(): void {
    this.count = 0;
    this.linkTypes.length = 0;
    this.snaplens.length = 0;
    this.unitsPerSec.length = 0;
    this.nsecPerUnit.length = 0;
    this.offsetSec.length = 0;
  }
}

function parsePcapng(buffer: Buffer, path: string): Capture {
  const size = buffer.length;
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const ifaces = new Interfaces();
  // Without a better guess, assume ~100-byte blocks; doubling corrects it.
  const scratch = new Scratch(estimateCount(size, 128));
  let count = 0;
  let le = true;
  let pos = 0;

  while (pos < size) {
    const left = size - pos;
    if (left < BLOCK_SIZE_MIN) {
      throw new PcapFormatError(path, pos, `truncated block header: ${left} bytes left in file, need ${BLOCK_SIZE_MIN}`);
    }
    // The section header's type is a palindrome, the same in both byte
    // orders; its byte-order magic decides how this and later blocks are read.
    const type = view.getUint32(pos, le);
    if (type === BLOCK_SHB) {
      const bom = view.getUint32(pos + 8, false);
      if (bom === PCAPNG_BYTE_ORDER_MAGIC) le = false;
      else if (bom === PCAPNG_BYTE_ORDER_MAGIC_SWAPPED) le = true;
      else throw new PcapFormatError(path, pos, `bad byte-order magic 0x${bom.toString(16).padStart(8, "0")} in section header`);
    }
    const total = view.getUint32(pos + 4, le);
    if (total < BLOCK_SIZE_MIN || total % 4 !== 0) {
      throw new PcapFormatError(path, pos, `bad block length ${total}`);
    }
    if (total > left) {
      throw new PcapFormatError(path, pos, `block length ${total} runs past end of file (${left} bytes left)`);
    }
    const trailer = view.getUint32(pos + total - 4, le);
    if (trailer !== total) {
      throw new PcapFormatError(path, pos, `trailing block length ${trailer} does not match leading length ${total}`);
    }

    switch (type) {
      case BLOCK_SHB: {
        if (total < SHB_SIZE_MIN) throw new PcapFormatError(path, pos, `bad section header block length ${total}`);
        const major = view.getUint16(pos + 12, le);
        const minor = view.getUint16(pos + 14, le);
        // libpcap reads 1.0 and 1.2 (1.2 was written by some old tools).
        if (major !== 1 || (minor !== 0 && minor !== 2)) {
          throw new PcapFormatError(path, pos, `unsupported pcapng version ${major}.${minor}`);
        }
        // The section length (possibly -1, unknown) is not needed: blocks are
        // walked one by one, and a new SHB simply starts a new section.
        ifaces.reset();
        break;
      }
      case BLOCK_IDB: {
        if (total < IDB_SIZE_MIN) throw new PcapFormatError(path, pos, `bad interface description block length ${total}`);
        if (ifaces.count === PCAPNG_INTERFACES_MAX) {
          throw new PcapFormatError(path, pos, `more than ${PCAPNG_INTERFACES_MAX} interfaces in one section`);
        }
        readInterface(view, path, pos, total, le, ifaces);
        break;
      }
      case BLOCK_EPB:
      case BLOCK_PB: {
        const isEpb = type === BLOCK_EPB;
        if (total < (isEpb ? EPB_SIZE_MIN : PB_SIZE_MIN)) {
          throw new PcapFormatError(path, pos, `bad ${isEpb ? "enhanced " : ""}packet block length ${total}`);
        }
        const iface = isEpb ? view.getUint32(pos + 8, le) : view.getUint16(pos + 8, le);
        if (iface >= ifaces.count) {
          throw new PcapFormatError(path, pos, `packet on interface ${iface}, but the section defines ${ifaces.count}`);
        }
        const linkType = ifaces.linkTypes[iface];
        if (linkType !== DLT_EN10MB) throw new PcapFormatError(path, pos, `link type ${linkType} is not Ethernet`);
        const captured = view.getUint32(pos + 20, le);
        const space = total - (isEpb ? EPB_SIZE_MIN : PB_SIZE_MIN);
        if (captured > space) {
          throw new PcapFormatError(path, pos, `captured length ${captured} exceeds the block's ${space} bytes of data`);
        }
        if (count === scratch.capacity) scratch.grow(count);
        scratch.offsets[count] = pos + 28;
        scratch.lengths[count] = captured;
        scratch.origLengths[count] = view.getUint32(pos + 24, le);
        storeTimestamp(scratch, count, ifaces, iface, view.getUint32(pos + 12, le), view.getUint32(pos + 16, le));
        count++;
        break;
      }
      case BLOCK_SPB: {
        if (total < SPB_SIZE_MIN) throw new PcapFormatError(path, pos, `bad simple packet block length ${total}`);
        if (ifaces.count === 0) {
          throw new PcapFormatError(path, pos, "simple packet block before any interface description block");
        }
        const linkType = ifaces.linkTypes[0];
        if (linkType !== DLT_EN10MB) throw new PcapFormatError(path, pos, `link type ${linkType} is not Ethernet`);
        const orig = view.getUint32(pos + 8, le);
        const snaplen = ifaces.snaplens[0];
        let captured = total - SPB_SIZE_MIN;
        if (snaplen !== 0 && snaplen < captured) captured = snaplen;
        if (orig < captured) captured = orig;
        if (count === scratch.capacity) scratch.grow(count);
        scratch.offsets[count] = pos + 12;
        scratch.lengths[count] = captured;
        scratch.origLengths[count] = orig;
        // A simple packet block has no timestamp.
        scratch.tsSec[count] = 0;
        scratch.tsNsec[count] = 0;
        count++;
        break;
      }
      default:
        // Name resolution, statistics, custom, decryption secrets and unknown
        // blocks carry no packets: their length alone, already checked, is enough.
        break;
    }
    pos += total;
  }
  return scratch.finish(path, "pcapng", DLT_EN10MB, buffer, count);
}

/** Adds one interface from the IDB at `pos` (total length already validated). */
function readInterface(view: DataView, path: string, pos: number, total: number, le: boolean, ifaces: Interfaces): void {
  let unitsPerSec = 1e6; // default if_tsresol 6: microseconds
  let offsetSec = 0;
  const end = pos + total - 4;
  let at = pos + 16;
  while (at + 4 <= end) {
    const code = view.getUint16(at, le);
    const length = view.getUint16(at + 2, le);
    if (code === OPT_ENDOFOPT) break;
    const valueAt = at + 4;
    if (valueAt + length > end) {
      throw new PcapFormatError(path, pos, `option ${code} at offset ${at} runs past the end of its block`);
    }
    if (code === OPT_IF_TSRESOL) {
      if (length !== 1) throw new PcapFormatError(path, pos, `if_tsresol option has length ${length}, need 1`);
      const resol = view.getUint8(valueAt);
      const exponent = resol & 0x7f;
      // Finer than 2^-63 or 10^-19, one second no longer fits in 64 bits.
      if ((resol & 0x80) !== 0 ? exponent > 63 : exponent > 19) {
        throw new PcapFormatError(path, pos, `if_tsresol 0x${resol.toString(16)} is finer than a 64-bit timestamp can count`);
      }
      unitsPerSec = (resol & 0x80) !== 0 ? 2 ** exponent : 10 ** exponent;
    } else if (code === OPT_IF_TSOFFSET) {
      if (length !== 8) throw new PcapFormatError(path, pos, `if_tsoffset option has length ${length}, need 8`);
      offsetSec = Number(view.getBigInt64(valueAt, le));
    }
    at = valueAt + ((length + 3) & ~3);
  }
  const i = ifaces.count;
  ifaces.linkTypes[i] = view.getUint16(pos + 8, le);
  ifaces.snaplens[i] = view.getUint32(pos + 12, le);
  ifaces.unitsPerSec[i] = unitsPerSec;
  ifaces.nsecPerUnit[i] = unitsPerSec <= NSEC_PER_SEC && NSEC_PER_SEC % unitsPerSec === 0 ? NSEC_PER_SEC / unitsPerSec : 0;
  ifaces.offsetSec[i] = offsetSec;
  ifaces.count = i + 1;
}

/**
 * Splits a 64-bit count of interface time units into seconds and nanoseconds.
 * For resolutions that divide a nanosecond (10^-0 .. 10^-9, 2^-0 .. 2^-9) it
 * runs a long division in 16-bit digits, exact in doubles and allocation-free;
 * finer or binary resolutions take the exact BigInt path.
 */
function storeTimestamp(scratch: Scratch, index: number, ifaces: Interfaces, iface: number, high: number, low: number): void {
  const units = ifaces.unitsPerSec[iface];
  const nsecPerUnit = ifaces.nsecPerUnit[iface];
  let sec: number;
  let nsec: number;
  if (nsecPerUnit !== 0) {
    // units <= 1e9 < 2^30, so every partial remainder times 2^16 stays below 2^46.
    const q1 = Math.floor(high / units);
    let r = high - q1 * units;
    let x = r * 65536 + (low >>> 16);
    const q2 = Math.floor(x / units);
    r = x - q2 * units;
    x = r * 65536 + (low & 0xffff);
    const q3 = Math.floor(x / units);
    r = x - q3 * units;
    sec = q1 * TWO_POW_32 + q2 * 65536 + q3;
    nsec = r * nsecPerUnit;
  } else {
    const t = (BigInt(high) << 32n) | BigInt(low);
    const u = BigInt(units);
    sec = Number(t / u);
    nsec = Number(((t % u) * 1_000_000_000n) / u);
  }
  scratch.tsSec[index] = sec + ifaces.offsetSec[iface];
  scratch.tsNsec[index] = nsec;
}
