/**
 * Transport builders: TCP, UDP and SCTP.
 * Invariant: TCP and UDP checksums cover the pseudo-header of whichever IP
 * layer encloses them (v4 or v6, told by the address size); SCTP's CRC32c
 * covers the SCTP packet alone.
 * Limits: a checksum is left 0 when no IP layer encloses the segment (encoded
 * on its own), unless `checksum` forces a value.
 */
import { assert } from "../errors.js";
import { crc32c } from "./checksum.js";
import {
  type Layer,
  type Payload,
  assertUint,
  concat,
  encodePayload,
  finishL4Checksum,
  put16,
  put32,
} from "./build-layer.js";
import { IP_PROTO_SCTP, IP_PROTO_TCP, IP_PROTO_UDP } from "./build-ip.js";

/** TCP flag bits in the 9-bit flags field (NS is the low bit of byte 12). */
export const TCP_FIN = 0x001;
export const TCP_SYN = 0x002;
export const TCP_RST = 0x004;
export const TCP_PSH = 0x008;
export const TCP_ACK = 0x010;
export const TCP_URG = 0x020;
export const TCP_ECE = 0x040;
export const TCP_CWR = 0x080;
export const TCP_NS = 0x100;

const FLAG_LETTERS: Record<string, number> = {
  F: TCP_FIN,
  S: TCP_SYN,
  R: TCP_RST,
  P: TCP_PSH,
  A: TCP_ACK,
  U: TCP_URG,
  E: TCP_ECE,
  C: TCP_CWR,
  N: TCP_NS,
};

/** "SA" to SYN|ACK: one letter per flag, as scapy writes them
 * (F S R P A U E C N); a number is taken as the bits. */
export function tcpFlags(flags: string | number): number {
  if (typeof flags === "number") {
    assertUint(flags, 0x1ff, "tcp flags");
    return flags;
  }
  let bits = 0;
  for (const letter of flags) {
    const bit = FLAG_LETTERS[letter];
    assert(bit !== undefined, `unknown TCP flag letter "${letter}" (use F S R P A U E C N)`);
    bits |= bit;
  }
  return bits;
}

export interface TcpOptions {
  src: number;
  dst: number;
  seq?: number;
  ack?: number;
  /** Letters ("S", "SA", "PA", "FA", "R") or the bits. */
  flags?: string | number;
  window?: number;
  urgent?: number;
  /** Option bytes; padded with zeros (End of Option List) to a multiple of 4. */
  options?: Uint8Array;
  payload?: Uint8Array;
  /** Overrides for crafting malformed segments: written as given. */
  dataOffset?: number;
  checksum?: number;
}

/** A TCP segment (RFC 9293). */
export function tcp(opts: TcpOptions): Layer {
  const flags = tcpFlags(opts.flags ?? 0);
  assertUint(opts.src, 0xffff, "tcp src");
  assertUint(opts.dst, 0xffff, "tcp dst");
  return {
    kind: "tcp",
    ethertype: -1,
    ipProto: IP_PROTO_TCP,
    encode: (pseudo) => {
      const opt = opts.options ?? new Uint8Array(0);
      const optSize = (opt.length + 3) & ~3;
      assert(optSize <= 40, "TCP options are at most 40 bytes");
      const payload = opts.payload ?? new Uint8Array(0);
      const seg = new Uint8Array(20 + optSize + payload.length);
      const dataOffset = opts.dataOffset ?? (20 + optSize) / 4;
      assertUint(dataOffset, 15, "dataOffset");
      put16(seg, 0, opts.src);
      put16(seg, 2, opts.dst);
      put32(seg, 4, opts.seq ?? 0);
      put32(seg, 8, opts.ack ?? 0);
      seg[12] = (dataOffset << 4) | (flags >>> 8);
      seg[13] = flags & 0xff;
      put16(seg, 14, opts.window ?? 65535);
      put16(seg, 18, opts.urgent ?? 0);
      seg.set(opt, 20);
      seg.set(payload, 20 + optSize);
      finishL4Checksum(seg, 16, IP_PROTO_TCP, pseudo, opts.checksum, false);
      return seg;
    },
  };
}

/** TCP option bytes for `tcp({ options })`, e.g.
 * `concat(tcpOpt.mss(1460), tcpOpt.sackPermitted(), tcpOpt.timestamps(1, 0), tcpOpt.nop(), tcpOpt.wscale(7))`. */
export const tcpOpt = {
  eol: (): Uint8Array => Uint8Array.of(0),
  nop: (): Uint8Array => Uint8Array.of(1),
  mss: (size: number): Uint8Array => Uint8Array.of(2, 4, size >>> 8, size & 0xff),
  wscale: (shift: number): Uint8Array => Uint8Array.of(3, 3, shift),
  sackPermitted: (): Uint8Array => Uint8Array.of(4, 2),
  timestamps: (value: number, echo: number): Uint8Array => {
    const out = new Uint8Array(10);
    out[0] = 8;
    out[1] = 10;
    put32(out, 2, value);
    put32(out, 6, echo);
    return out;
  },
};

export interface UdpOptions {
  src: number;
  dst: number;
  /** Overrides for crafting: 0 means "no checksum" over IPv4. */
  checksum?: number;
  length?: number;
}

/** A UDP datagram (RFC 768) around `payload` (e.g. a vxlan or dhcp layer). */
export function udp(opts: UdpOptions, payload?: Payload): Layer {
  assertUint(opts.src, 0xffff, "udp src");
  assertUint(opts.dst, 0xffff, "udp dst");
  return {
    kind: "udp",
    ethertype: -1,
    ipProto: IP_PROTO_UDP,
    encode: (pseudo) => {
      const body = encodePayload(payload, null);
      const dgram = new Uint8Array(8 + body.length);
      const length = opts.length ?? dgram.length;
      assertUint(length, 0xffff, "udp length");
      put16(dgram, 0, opts.src);
      put16(dgram, 2, opts.dst);
      put16(dgram, 4, length);
      dgram.set(body, 8);
      finishL4Checksum(dgram, 6, IP_PROTO_UDP, pseudo, opts.checksum, true);
      return dgram;
    },
  };
}

/** One SCTP chunk: type, flags and value; the length field and the padding
 * to 4 bytes are filled in. */
export interface SctpChunk {
  type: number;
  flags?: number;
  value?: Uint8Array;
}

export interface SctpOptions {
  src: number;
  dst: number;
  /** Verification tag; 0 in an INIT. */
  vtag?: number;
  chunks: SctpChunk[];
  /** Written as given instead of the CRC32c (as a 32-bit number). */
  checksum?: number;
}

/** An SCTP packet (RFC 9260): common header, chunks, CRC32c. */
export function sctp(opts: SctpOptions): Layer {
  assertUint(opts.src, 0xffff, "sctp src");
  assertUint(opts.dst, 0xffff, "sctp dst");
  return {
    kind: "sctp",
    ethertype: -1,
    ipProto: IP_PROTO_SCTP,
    encode: () => {
      const parts: Uint8Array[] = [];
      for (const c of opts.chunks) {
        const value = c.value ?? new Uint8Array(0);
        const chunk = new Uint8Array((4 + value.length + 3) & ~3);
        chunk[0] = c.type;
        chunk[1] = c.flags ?? 0;
        put16(chunk, 2, 4 + value.length);
        chunk.set(value, 4);
        parts.push(chunk);
      }
      const head = new Uint8Array(12);
      put16(head, 0, opts.src);
      put16(head, 2, opts.dst);
      put32(head, 4, opts.vtag ?? 0);
      const pkt = concat(head, ...parts);
      const crc = opts.checksum ?? crc32c(pkt, 0, pkt.length);
      // RFC 9260 appendix A: the CRC goes on the wire least significant byte first.
      pkt[8] = crc & 0xff;
      pkt[9] = (crc >>> 8) & 0xff;
      pkt[10] = (crc >>> 16) & 0xff;
      pkt[11] = crc >>> 24;
      return pkt;
    },
  };
}

/** The value of an SCTP INIT chunk (type 1): tag, window, streams, TSN. */
export function sctpInit(o: {
  initiateTag: number;
  window?: number;
  outStreams?: number;
  inStreams?: number;
  initialTsn: number;
}): SctpChunk {
  const v = new Uint8Array(16);
  put32(v, 0, o.initiateTag);
  put32(v, 4, o.window ?? 106496);
  put16(v, 8, o.outStreams ?? 10);
  put16(v, 10, o.inStreams ?? 65535);
  put32(v, 12, o.initialTsn);
  return { type: 1, value: v };
}
