/**
 * Hand-checked cases for the flow-key parser (src/packet/parse.ts): one frame
 * per rule of Open vSwitch 3.1's miniflow_extract() that is easy to get wrong.
 *
 * Each frame is written out in hex, header by header, and every expected
 * value was worked out by hand from those bytes (the comments show how). A
 * case checks three things: the parser's key, field by field and word by word
 * (every field not listed must be zero); the reference decoder's opinion on
 * the same frame (so the property tests' oracle is itself checked against
 * hand-made answers); and the parser's malformed-input counters.
 */
import { describe, expect, it } from "vitest";
import * as L from "../src/flow/layout.js";
import { COUNTER_NAMES, type CounterName, HDR_WORDS, PARSE_OK, PARSE_RUNT, Parser } from "../src/packet/parse.js";
import {
  REFERENCE_FIELD_NAMES,
  type ReferenceFieldName,
  decodeReference,
  readKeyField,
  referenceKey,
} from "./reference-decoder.js";

const IN_PORT = 3;

/** Hex with spaces, newlines and `#` comments allowed, to bytes. */
function hex(text: string): Uint8Array {
  const digits = text.replace(/#[^\n]*/g, "").replace(/\s+/g, "");
  if (digits.length % 2 !== 0 || /[^0-9a-f]/i.test(digits)) throw new Error(`bad hex: ${digits}`);
  return Uint8Array.from(Buffer.from(digits, "hex"));
}

/** The Ethernet addresses every case uses: dst 02:00:00:00:00:02, src 02:00:00:00:00:01. */
const MACS = "020000000002 020000000001";
const ETH_DST = 0x020000000002n;
const ETH_SRC = 0x020000000001n;

type Expected = Partial<Record<ReferenceFieldName, bigint | number>>;

/**
 * Fills in what a case does not list: zero for absent fields, and the same
 * value under every name of a shared slot (as in OVS's struct flow).
 */
function complete(expected: Expected): Map<string, bigint> {
  const m = new Map<string, bigint>();
  for (const name of REFERENCE_FIELD_NAMES) m.set(name, 0n);
  for (const [name, value] of Object.entries(expected)) m.set(name, BigInt(value));
  const share = (a: ReferenceFieldName, b: ReferenceFieldName): void => {
    if (a in expected && !(b in expected)) m.set(b, m.get(a)!);
    if (b in expected && !(a in expected)) m.set(a, m.get(b)!);
  };
  share("ip_src", "arp_spa");
  share("ip_dst", "arp_tpa");
  share("arp_sha", "nd_sll");
  share("arp_tha", "nd_tll");
  share("nw_proto", "arp_op");
  share("nd_reserved", "igmp_group_ip4");
  if ("nd_options_type" in expected && !("tcp_flags" in expected)) m.set("tcp_flags", m.get("nd_options_type")!);
  if (!("nd_options_type" in expected)) m.set("nd_options_type", m.get("tcp_flags")! & 0xffn);
  if (!("in_port" in expected)) m.set("in_port", BigInt(IN_PORT));
  if (!("eth_dst" in expected)) m.set("eth_dst", ETH_DST);
  if (!("eth_src" in expected)) m.set("eth_src", ETH_SRC);
  return m;
}

/**
 * Parses `frame` with a fresh parser into a dirty key; returns the key and the
 * parser (for its counters). The frame lies inside a larger buffer with bytes
 * that look like headers on both sides, so a read past its end shows.
 */
function parse(frame: Uint8Array, vlanLimit = 1) {
  const parser = new Parser(vlanLimit);
  const buf = new Uint8Array(7 + frame.length + 64).fill(0x08);
  buf.set(frame, 7);
  const key = new Uint32Array(L.KEY_WORDS).fill(0xffffffff);
  const hdrs = new Uint16Array(HDR_WORDS);
  const result = parser.parseFrame(buf, 7, frame.length, IN_PORT, key, 0, hdrs, 0);
  return { parser, key, hdrs, result };
}

/** Checks the parser and the reference against the hand-made expectation. */
function expectFlow(frame: Uint8Array, expected: Expected, vlanLimit = 1): Parser {
  const want = complete(expected);
  const { parser, key, result } = parse(frame, vlanLimit);
  expect(result).toBe(PARSE_OK);
  const isArp = want.get("eth_type") === 0x0806n || want.get("eth_type") === 0x8035n;
  for (const name of REFERENCE_FIELD_NAMES) {
    // flowplane's arp_op spans nw_ttl:nw_proto, so it reads as OVS's only on ARP.
    if (name === "arp_op" && !isArp) continue;
    expect(readKeyField(key, 0, name), `parser ${name}`).toBe(want.get(name));
  }
  expect(Array.from(key), "parser key words").toEqual(Array.from(referenceKey(want)));
  expect(decodeReference(frame, IN_PORT, vlanLimit), "reference decoder").toEqual(want);
  return parser;
}

/** The parser's counters: the listed ones at their values, every other one 0. */
function expectCounters(parser: Parser, nonZero: Partial<Record<CounterName, number>>): void {
  const want: Record<string, number> = {};
  for (const name of COUNTER_NAMES) want[name] = nonZero[name] ?? 0;
  expect(parser.counters.toJSON()).toEqual(want);
}

describe("IPv4", () => {
  it("skips options to reach TCP, and keeps the whole TOS byte and 12 flag bits", () => {
    const frame = hex(`
      ${MACS} 0800
      47 b9 0030 1234 4000 40 06 0000   # IHL 7 (28 bytes), TOS 0xb9, total 48, DF, TTL 64, TCP
      0a000001 0a000002                 # 10.0.0.1 -> 10.0.0.2
      01010101 94040000                 # 8 bytes of options: 4 NOPs, router alert
      1f90 0050 00000001 00000000       # TCP 8080 -> 80
      51 12 ffff 0000 0000              # data offset 5; NS (0x100) + ACK (0x010) + SYN (0x002)
    `);
    const parser = expectFlow(frame, {
      eth_type: 0x0800,
      ip_src: 0x0a000001,
      ip_dst: 0x0a000002,
      nw_tos: 0xb9, // DSCP 46 and ECN 1: the whole byte
      nw_ttl: 64,
      nw_proto: 6,
      ip_frag: 0, // DF alone is not a fragment
      tp_src: 8080,
      tp_dst: 80,
      tcp_flags: 0x112,
    });
    expectCounters(parser, {});
  });

  it("marks a first fragment (MF, offset 0) and still reads its ports", () => {
    const frame = hex(`
      ${MACS} 0800
      45 00 001c abcd 2000 40 11 0000   # total 28, MF set, offset 0, UDP
      c0a80001 c0a80002                 # 192.168.0.1 -> 192.168.0.2
      0035 d431 0008 0000               # UDP 53 -> 54321
    `);
    expectFlow(frame, {
      eth_type: 0x0800,
      ip_src: 0xc0a80001,
      ip_dst: 0xc0a80002,
      nw_ttl: 64,
      nw_proto: 17,
      ip_frag: 1, // any
      tp_src: 53,
      tp_dst: 0xd431,
    });
  });

  it("marks a later fragment and reads no ports from it", () => {
    const frame = hex(`
      ${MACS} 0800
      45 00 001c abcd 00b9 40 11 0000   # MF clear, offset 185 (1480 bytes): the last fragment
      c0a80001 c0a80002
      0035 d431 0008 0000               # looks like a UDP header, but is payload
    `);
    const parser = expectFlow(frame, {
      eth_type: 0x0800,
      ip_src: 0xc0a80001,
      ip_dst: 0xc0a80002,
      nw_ttl: 64,
      nw_proto: 17, // still the fragment's protocol for IPv4
      ip_frag: 3, // any | later
    });
    expectCounters(parser, {});
  });

  it("treats the reserved flag bit alone as no fragment", () => {
    const frame = hex(`
      ${MACS} 0800
      45 00 001c 0001 8000 01 11 0000   # only the reserved (evil) bit, TTL 1
      0a000001 0a000002
      0044 0043 0008 0000               # UDP 68 -> 67
    `);
    expectFlow(frame, {
      eth_type: 0x0800,
      ip_src: 0x0a000001,
      ip_dst: 0x0a000002,
      nw_ttl: 1,
      nw_proto: 17,
      tp_src: 68,
      tp_dst: 67,
    });
  });

  // Refused by the IPv4 length checks (miniflow_extract's ipv4_sanity_check):
  // nothing past the ethertype is kept.
  it.each([
    [
      "an IHL of 4: nothing past the ethertype",
      `${MACS} 0800
      44 00 0028 0000 0000 40 06 0000   # IHL 4 (16 bytes) is below the minimum
      0a000001 0a000002
      0050 0050 00000000 00000000 5002 0000 0000 0000`,
    ],
    [
      "an IHL longer than the frame",
      `${MACS} 0800
      4f 00 0018 0000 0000 40 11 0000   # IHL 15 (60 bytes) but only 24 bytes follow
      0a000001 0a000002 00350035`,
    ],
    [
      "a total length beyond the frame",
      `${MACS} 0800
      45 00 0064 0000 0000 40 11 0000   # total length 100, but 28 bytes are there
      0a000001 0a000002
      0035 0035 0008 0000`,
    ],
    [
      "a total length shorter than the header",
      `${MACS} 0800
      46 00 0014 0000 0000 40 11 0000   # IHL 6 (24 bytes) but total length 20
      0a000001 0a000002 00000000
      0035 0035 0008 0000`,
    ],
  ])("rejects %s", (_, text) => {
    const parser = expectFlow(hex(text), { eth_type: 0x0800 });
    expectCounters(parser, { ipv4LenError: 1 });
  });

  it("counts a header shorter than 20 bytes as too short", () => {
    const frame = hex(`${MACS} 0800 45 00 0014 0000 0000 40 11 0000 0a000001 0a0000`); // 19 bytes of IPv4
    const parser = expectFlow(frame, { eth_type: 0x0800 });
    expectCounters(parser, { ipv4TooShort: 1 });
  });

  it("never parses the Ethernet padding after a short packet", () => {
    const frame = hex(`
      ${MACS} 0800
      45 00 0018 0000 0000 40 11 0000   # total length 24: the IP header and 4 bytes of UDP
      0a000001 0a000002
      0035 0035                         # UDP ports, but the UDP header is cut at 4 bytes
      0008 0000                         # padding (to 60 bytes) that would complete it
      00000000 00000000 00000000 00000000 0000
    `);
    expect(frame.length).toBe(60);
    const parser = expectFlow(frame, {
      eth_type: 0x0800,
      ip_src: 0x0a000001,
      ip_dst: 0x0a000002,
      nw_ttl: 64,
      nw_proto: 17,
      // tp_src/tp_dst stay 0: UDP needs 8 bytes within the total length.
    });
    expectCounters(parser, { l4Truncated: 1 });
  });

  // A TCP header that is not all there: tp_src, tp_dst and tcp_flags stay 0.
  it.each([
    [
      "with a data offset of 4",
      `${MACS} 0800
      45 00 0028 0000 0000 40 06 0000   # total 40: 20 + 20 bytes of TCP
      0a000001 0a000002
      1f90 0050 00000001 00000000 4002 ffff 0000 0000   # data offset 4 (16 bytes): invalid`,
    ],
    [
      "whose options run past the packet",
      `${MACS} 0800
      45 00 0028 0000 0000 40 06 0000
      0a000001 0a000002
      1f90 0050 00000001 00000000 6002 ffff 0000 0000   # data offset 6 (24 bytes), 20 present`,
    ],
  ])("reads no ports from TCP %s", (_, text) => {
    const parser = expectFlow(hex(text), {
      eth_type: 0x0800,
      ip_src: 0x0a000001,
      ip_dst: 0x0a000002,
      nw_ttl: 64,
      nw_proto: 6,
    });
    expectCounters(parser, { l4Truncated: 1 });
  });

  it("reads no ICMP type or code from fewer than 8 bytes", () => {
    const frame = hex(`
      ${MACS} 0800
      45 00 0018 0000 0000 40 01 0000   # total 24: 4 bytes of ICMP
      0a000001 0a000002
      08 00 f7ff                        # echo request (8), code 0, checksum; no id/seq
    `);
    // lib/flow.c tests size >= ICMP_HEADER_LEN, and lib/packets.h has
    // ICMP_HEADER_LEN 8 (sizeof struct icmp_header): tp_src/tp_dst stay 0.
    const parser = expectFlow(frame, { eth_type: 0x0800, ip_src: 0x0a000001, ip_dst: 0x0a000002, nw_ttl: 64, nw_proto: 1 });
    expectCounters(parser, { l4Truncated: 1 });
  });

  it("puts ICMP type and code in the ports and the IGMP group in its own word", () => {
    const icmp = hex(`
      ${MACS} 0800
      45 00 001c 0000 0000 40 01 0000   # ICMP
      0a000001 0a000002
      03 0d 0000 00000000               # destination unreachable (3), code 13
    `);
    expectFlow(icmp, { eth_type: 0x0800, ip_src: 0x0a000001, ip_dst: 0x0a000002, nw_ttl: 64, nw_proto: 1, tp_src: 3, tp_dst: 13 });
    const igmp = hex(`
      ${MACS} 0800
      45 c0 001c 0000 0000 01 02 0000   # TOS 0xc0, TTL 1, IGMP
      0a000001 e0000016                 # to 224.0.0.22
      16 00 0000 efc00001               # v2 report (0x16) for 239.192.0.1
    `);
    expectFlow(igmp, {
      eth_type: 0x0800,
      ip_src: 0x0a000001,
      ip_dst: 0xe0000016,
      nw_tos: 0xc0,
      nw_ttl: 1,
      nw_proto: 2,
      tp_src: 0x16,
      tp_dst: 0,
      igmp_group_ip4: 0xefc00001,
    });
  });
});

describe("IPv6", () => {
  /** 2001:db8::1 and 2001:db8::2. */
  const SRC = "20010db8 00000000 00000000 00000001";
  const DST = "20010db8 00000000 00000000 00000002";
  const SRC_N = 0x20010db8000000000000000000000001n;
  const DST_N = 0x20010db8000000000000000000000002n;

  it("walks hop-by-hop, routing and destination options to TCP", () => {
    const frame = hex(`
      ${MACS} 86dd
      6b812345 0044 00 40               # TC 0xb8, label 0x12345; payload 68; next hop-by-hop; hop limit 64
      ${SRC} ${DST}
      2b 00 0104 00000000               # hop-by-hop, next routing (43), (0+1)*8 = 8 bytes, PadN
      3c 02 0001 00000000               # routing, next dstopts (60), (2+1)*8 = 24 bytes
      20010db8 00000000 00000000 00000003
      06 01 010c 00000000 00000000 00000000   # dstopts, next TCP, (1+1)*8 = 16 bytes, PadN 12
      0016 c350 00000000 00000000 5010 0100 0000 0000   # TCP 22 -> 50000, ACK
    `);
    const parser = expectFlow(frame, {
      eth_type: 0x86dd,
      ipv6_src: SRC_N,
      ipv6_dst: DST_N,
      ipv6_label: 0x12345,
      nw_tos: 0xb8,
      nw_ttl: 64,
      nw_proto: 6,
      tp_src: 22,
      tp_dst: 50000,
      tcp_flags: 0x010,
    });
    expectCounters(parser, {});
  });

  it("steps over AH by (len + 2) * 4 bytes", () => {
    const frame = hex(`
      ${MACS} 86dd
      60000000 0024 33 40               # payload 36; next AH (51)
      ${SRC} ${DST}
      11 04 0000 00000100 00000001 00000000 00000000 00000000   # AH, next UDP, (4+2)*4 = 24 bytes
      1388 1389 000c 0000               # UDP 5000 -> 5001
      00000000                          # 4 bytes of data
    `);
    expectFlow(frame, {
      eth_type: 0x86dd,
      ipv6_src: SRC_N,
      ipv6_dst: DST_N,
      nw_ttl: 64,
      nw_proto: 17,
      tp_src: 5000,
      tp_dst: 5001,
    });
  });

  it("reads a first fragment's ports and stops at a later fragment with nw_proto 44", () => {
    const first = hex(`
      ${MACS} 86dd
      60000000 0010 2c 40               # payload 16; next fragment (44)
      ${SRC} ${DST}
      11 00 0001 deadbeef               # fragment: next UDP, offset 0, M=1
      0035 0035 0010 0000               # UDP 53 -> 53
    `);
    expectFlow(first, {
      eth_type: 0x86dd,
      ipv6_src: SRC_N,
      ipv6_dst: DST_N,
      nw_ttl: 64,
      nw_proto: 17,
      ip_frag: 1,
      tp_src: 53,
      tp_dst: 53,
    });
    const later = hex(`
      ${MACS} 86dd
      60054321 0010 2c 40               # label 0x54321
      ${SRC} ${DST}
      11 00 0009 deadbeef               # fragment: next UDP, offset 1 (8 bytes), M=1
      0035 0035 0010 0000               # payload, not a UDP header
    `);
    const parser = expectFlow(later, {
      eth_type: 0x86dd,
      ipv6_src: SRC_N,
      ipv6_dst: DST_N,
      ipv6_label: 0x54321,
      nw_ttl: 64,
      nw_proto: 44, // the fragment header, not UDP
      ip_frag: 3,
    });
    expectCounters(parser, {});
  });

  // OVS has pushed ipv6_src/ipv6_dst before walking the extension headers
  // and pushes ipv6_label and the nw word only after: a failed walk leaves
  // them 0.
  it.each([
    [
      "keeps the addresses but not the label or nw fields when an extension header is cut",
      `${MACS} 86dd
      6ab12345 0008 00 40               # TC 0xab, label 0x12345; payload 8; hop-by-hop
      ${SRC} ${DST}
      06 01 0000 00000000               # hop-by-hop of (1+1)*8 = 16 bytes, 8 present`,
    ],
    [
      "needs 8 bytes before reading an extension header's length",
      `${MACS} 86dd
      60000001 0004 3c 40               # payload 4; dstopts
      ${SRC} ${DST}
      06 00 0000                        # 4 of the 8 bytes`,
    ],
  ])("%s", (_, text) => {
    const parser = expectFlow(hex(text), { eth_type: 0x86dd, ipv6_src: SRC_N, ipv6_dst: DST_N });
    expectCounters(parser, { ipv6ExtHdrError: 1 });
  });

  it("rejects a payload length beyond the frame", () => {
    const frame = hex(`
      ${MACS} 86dd
      60000000 0020 11 40               # payload 32, 8 present
      ${SRC} ${DST}
      0035 0035 0008 0000
    `);
    const parser = expectFlow(frame, { eth_type: 0x86dd });
    expectCounters(parser, { ipv6LenError: 1 });
  });

  it("counts a header shorter than 40 bytes as too short", () => {
    const frame = hex(`${MACS} 86dd 60000000 0000 3b 40 ${SRC} 20010db8 00000000 00000000 000000`); // 39 of 40 bytes
    const parser = expectFlow(frame, { eth_type: 0x86dd });
    expectCounters(parser, { ipv6TooShort: 1 });
  });

  it("never parses the padding after the payload length", () => {
    const frame = hex(`
      ${MACS} 86dd
      60000000 0004 11 40               # payload 4: half a UDP header
      ${SRC} ${DST}
      0035 0035 0008 0000               # the last 4 bytes are padding
    `);
    const parser = expectFlow(frame, { eth_type: 0x86dd, ipv6_src: SRC_N, ipv6_dst: DST_N, nw_ttl: 64, nw_proto: 17 });
    expectCounters(parser, { l4Truncated: 1 });
  });
});

describe("ICMPv6 neighbour discovery", () => {
  const LINK_LOCAL_1 = "fe800000 00000000 00000000 00000001";
  const LINK_LOCAL_2 = "fe800000 00000000 00000000 00000002";
  const SOLICITED = "ff020000 00000000 00000001 ff000002"; // ff02::1:ff00:2
  const LL1 = 0xfe800000000000000000000000000001n;
  const LL2 = 0xfe800000000000000000000000000002n;
  const SOLICITED_N = 0xff0200000000000000000001ff000002n;
  const ip6 = (payloadSize: number, dst: string): string =>
    `${MACS} 86dd 60000000 ${payloadSize.toString(16).padStart(4, "0")} 3a ff ${LINK_LOCAL_1} ${dst}`;

  it("reads the target and a source link-layer option from a solicitation", () => {
    const frame = hex(`
      ${ip6(32, SOLICITED)}             # payload 8 + 16 + 8 = 32, ICMPv6, hop limit 255
      87 00 0000 00000000               # NS (135), code 0, reserved 0
      ${LINK_LOCAL_2}                   # target fe80::2
      01 01 00163e000001                # SLL 00:16:3e:00:00:01
    `);
    const parser = expectFlow(frame, {
      eth_type: 0x86dd,
      ipv6_src: LL1,
      ipv6_dst: SOLICITED_N,
      nw_ttl: 255,
      nw_proto: 58,
      tp_src: 135,
      tp_dst: 0,
      nd_target: LL2,
      nd_sll: 0x00163e000001,
      nd_options_type: 1,
    });
    expectCounters(parser, {});
  });

  it("reads the target, the flags word and a target link-layer option from an advertisement", () => {
    const frame = hex(`
      ${ip6(32, LINK_LOCAL_1)}
      88 00 0000 60000000               # NA (136), solicited + override: nd_reserved 0x60000000
      ${LINK_LOCAL_2}
      02 01 00163e000002                # TLL 00:16:3e:00:00:02
    `);
    expectFlow(frame, {
      eth_type: 0x86dd,
      ipv6_src: LL1,
      ipv6_dst: LL1,
      nw_ttl: 255,
      nw_proto: 58,
      tp_src: 136,
      nd_target: LL2,
      nd_tll: 0x00163e000002,
      nd_reserved: 0x60000000,
      nd_options_type: 2,
    });
  });

  it("voids the target and addresses on a repeated source option, keeping the option type", () => {
    const frame = hex(`
      ${ip6(40, SOLICITED)}
      87 00 0000 00000000
      ${LINK_LOCAL_2}
      01 01 00163e000001                # SLL
      01 01 00163e000003                # SLL again: the ND part is invalid
    `);
    // OVS's parse_icmpv6 clears nd_target, SLL and TLL on the repeat but
    // has already set opt_type to 1, and still stores type and code.
    const parser = expectFlow(frame, {
      eth_type: 0x86dd,
      ipv6_src: LL1,
      ipv6_dst: SOLICITED_N,
      nw_ttl: 255,
      nw_proto: 58,
      tp_src: 135,
      nd_options_type: 1,
    });
    expectCounters(parser, { ndOptionInvalid: 1 });
  });

  it("accepts a second source option when the first carried an all-zero address", () => {
    const frame = hex(`
      ${ip6(40, SOLICITED)}
      87 00 0000 00000000
      ${LINK_LOCAL_2}
      01 01 000000000000                # SLL 00:00:00:00:00:00 counts as "none yet"
      01 01 00163e000003                # so this one is taken
    `);
    expectFlow(frame, {
      eth_type: 0x86dd,
      ipv6_src: LL1,
      ipv6_dst: SOLICITED_N,
      nw_ttl: 255,
      nw_proto: 58,
      tp_src: 135,
      nd_target: LL2,
      nd_sll: 0x00163e000003,
      nd_options_type: 1,
    });
  });

  it("stops at an option of length 0, keeping what came before", () => {
    const frame = hex(`
      ${ip6(48, SOLICITED)}
      87 00 0000 00000000
      ${LINK_LOCAL_2}
      01 01 00163e000001                # SLL, kept
      02 00 00163e000002                # length 0: the walk ends here
      02 01 00163e000003                # never read
    `);
    const parser = expectFlow(frame, {
      eth_type: 0x86dd,
      ipv6_src: LL1,
      ipv6_dst: SOLICITED_N,
      nw_ttl: 255,
      nw_proto: 58,
      tp_src: 135,
      nd_target: LL2,
      nd_sll: 0x00163e000001,
      nd_options_type: 1,
    });
    expectCounters(parser, {});
  });

  it("stops at an option longer than what is left, and skips link-layer options of other sizes", () => {
    const frame = hex(`
      ${ip6(48, SOLICITED)}
      87 00 0000 00000000
      ${LINK_LOCAL_2}
      01 02 00163e000001 0000000000000000   # SLL of 16 bytes: not an Ethernet address, skipped
      02 02 00163e000002                # claims 16 bytes, 8 are left: the walk ends
    `);
    expectFlow(frame, {
      eth_type: 0x86dd,
      ipv6_src: LL1,
      ipv6_dst: SOLICITED_N,
      nw_ttl: 255,
      nw_proto: 58,
      tp_src: 135,
      nd_target: LL2,
    });
  });

  it("keeps type, code and the reserved word of a solicitation too short for a target", () => {
    const frame = hex(`
      ${ip6(16, SOLICITED)}
      87 00 0000 12345678               # reserved 0x12345678
      fe800000 00000000                 # 8 of the 16 target bytes
    `);
    expectFlow(frame, {
      eth_type: 0x86dd,
      ipv6_src: LL1,
      ipv6_dst: SOLICITED_N,
      nw_ttl: 255,
      nw_proto: 58,
      tp_src: 135,
      nd_reserved: 0x12345678,
    });
  });

  it("does not read ND from a solicitation with a non-zero code", () => {
    const frame = hex(`
      ${ip6(32, SOLICITED)}
      87 01 0000 12345678               # code 1: plain ICMPv6
      ${LINK_LOCAL_2}
      01 01 00163e000001
    `);
    expectFlow(frame, {
      eth_type: 0x86dd,
      ipv6_src: LL1,
      ipv6_dst: SOLICITED_N,
      nw_ttl: 255,
      nw_proto: 58,
      tp_src: 135,
      tp_dst: 1,
    });
  });
});

describe("ARP", () => {
  it("reads a request", () => {
    const frame = hex(`
      ${MACS} 0806
      0001 0800 06 04 0001              # Ethernet, IPv4, 6, 4, request
      00163e000001 0a000001             # sender 00:16:3e:00:00:01 10.0.0.1
      000000000000 0a000002             # target ?, 10.0.0.2
    `);
    const parser = expectFlow(frame, {
      eth_type: 0x0806,
      arp_op: 1,
      arp_sha: 0x00163e000001,
      arp_spa: 0x0a000001,
      arp_tpa: 0x0a000002,
    });
    expectCounters(parser, {});
  });

  it("reads an opcode above 255 as 0 but keeps the addresses", () => {
    const frame = hex(`
      ${MACS} 0806
      0001 0800 06 04 0101              # opcode 0x0101 (257)
      00163e000001 0a000001
      00163e000002 0a000002
    `);
    expectFlow(frame, {
      eth_type: 0x0806,
      arp_op: 0,
      arp_sha: 0x00163e000001,
      arp_spa: 0x0a000001,
      arp_tha: 0x00163e000002,
      arp_tpa: 0x0a000002,
    });
  });

  it("reads opcode 255, the largest it keeps", () => {
    const frame = hex(`
      ${MACS} 8035                      # RARP is decoded the same way
      0001 0800 06 04 00ff
      00163e000001 0a000001 00163e000002 0a000002
    `);
    expectFlow(frame, {
      eth_type: 0x8035,
      arp_op: 255,
      arp_sha: 0x00163e000001,
      arp_spa: 0x0a000001,
      arp_tha: 0x00163e000002,
      arp_tpa: 0x0a000002,
    });
  });

  it("ignores an ARP packet one byte short", () => {
    const frame = hex(`
      ${MACS} 0806
      0001 0800 06 04 0001
      00163e000001 0a000001 00163e000002 0a0000   # 27 of 28 bytes
    `);
    const parser = expectFlow(frame, { eth_type: 0x0806 });
    expectCounters(parser, { arpInvalid: 1 });
  });

  it("ignores ARP for other hardware", () => {
    const frame = hex(`
      ${MACS} 0806
      0006 0800 06 04 0001              # hardware type 6 (IEEE 802)
      00163e000001 0a000001 000000000000 0a000002
    `);
    const parser = expectFlow(frame, { eth_type: 0x0806 });
    expectCounters(parser, { arpInvalid: 1 });
  });
});

describe("VLAN tags", () => {
  const frame = hex(`
    ${MACS}
    88a8 2064                           # S-tag: PCP 1, VID 100
    8100 a00a                           # C-tag: PCP 5, VID 10
    0800
    45 00 001c 0000 0000 40 11 0000 0a000001 0a000002
    0035 0035 0008 0000                 # UDP 53 -> 53
  `);

  it("decodes only the outer tag with vlan-limit 1", () => {
    expectFlow(frame, {
      vlan_tpid: 0x88a8,
      vlan_tci: 0x3064, // 0x2064 with CFI (0x1000) set
      eth_type: 0x8100, // the inner tag's TPID
    });
  });

  it("decodes both tags with vlan-limit 2", () => {
    expectFlow(
      frame,
      {
        vlan_tpid: 0x88a8,
        vlan_tci: 0x3064,
        vlan_tpid1: 0x8100,
        vlan_tci1: 0xb00a, // 0xa00a | 0x1000
        eth_type: 0x0800,
        ip_src: 0x0a000001,
        ip_dst: 0x0a000002,
        nw_ttl: 64,
        nw_proto: 17,
        tp_src: 53,
        tp_dst: 53,
      },
      2,
    );
  });

  it("needs six bytes from the TPID on to take a tag", () => {
    const cut = hex(`${MACS} 8100 0005 08`); // 5 bytes from the TPID: no tag
    expectFlow(cut, { eth_type: 0x8100 });
    const exact = hex(`${MACS} 8100 0005 0800`); // 6 bytes: a tag, ethertype IPv4 with no header
    const parser = expectFlow(exact, { vlan_tpid: 0x8100, vlan_tci: 0x1005, eth_type: 0x0800 });
    expectCounters(parser, { ipv4TooShort: 1 });
  });
});

describe("802.3 frames", () => {
  it("takes the ethertype from LLC/SNAP", () => {
    const frame = hex(`
      ${MACS} 0024                      # length 36 = 8 (LLC/SNAP) + 28 (ARP)
      aa aa 03 000000 0806              # LLC SNAP, OUI 00-00-00, type ARP
      0001 0800 06 04 0002              # ARP reply
      00163e000001 0a000001 00163e000002 0a000002
    `);
    expectFlow(frame, {
      eth_type: 0x0806,
      arp_op: 2,
      arp_sha: 0x00163e000001,
      arp_spa: 0x0a000001,
      arp_tha: 0x00163e000002,
      arp_tpa: 0x0a000002,
    });
  });

  it("gives 0x05ff to 802.3 without SNAP, with another OUI, or with a SNAP type below 0x0600", () => {
    expectFlow(hex(`${MACS} 0026 42 42 03 0000 00 00 00 0000 00`), { eth_type: 0x05ff }); // STP's LLC
    expectFlow(hex(`${MACS} 0026 aa aa 03 00000c 2000 0000`), { eth_type: 0x05ff }); // Cisco OUI (CDP)
    expectFlow(hex(`${MACS} 0026 aa aa 03 000000 0100 0000`), { eth_type: 0x05ff }); // SNAP type 0x0100
    expectFlow(hex(`${MACS} 0026 aa aa 03 000000`), { eth_type: 0x05ff }); // LLC/SNAP cut before its type
    expectFlow(hex(`${MACS} 0026 aa aa 03 000000 08`), { eth_type: 0x05ff }); // 7 of its 8 bytes
  });
});

describe("MPLS", () => {
  it("keeps the first three of four label stack entries and nothing past them", () => {
    const frame = hex(`
      ${MACS} 8847
      00064040                          # label 100, TC 0, S 0, TTL 64
      000c8040                          # label 200
      0012c040                          # label 300
      00190140                          # label 400, bottom of stack
      45 00 001c 0000 0000 40 11 0000 0a000001 0a000002 0035 0035 0008 0000   # IPv4, not parsed
    `);
    const parser = expectFlow(frame, {
      eth_type: 0x8847,
      mpls_lse0: 0x00064040,
      mpls_lse1: 0x000c8040,
      mpls_lse2: 0x0012c040,
    });
    expectCounters(parser, {});
  });

  it("stops at the bottom of the stack", () => {
    const frame = hex(`${MACS} 8848 00064140 000c8040`); // label 100 with S set, then payload
    expectFlow(frame, { eth_type: 0x8848, mpls_lse0: 0x00064140 });
  });
});

describe("runts", () => {
  it("returns PARSE_RUNT for 13 bytes, keeps only in_port, and counts it", () => {
    const frame = hex(`020000000002 020000000001 08`);
    expect(frame.length).toBe(13);
    const { parser, key, result } = parse(frame);
    expect(result).toBe(PARSE_RUNT);
    const want = new Uint32Array(L.KEY_WORDS);
    want[L.W_IN_PORT] = IN_PORT;
    expect(Array.from(key)).toEqual(Array.from(want));
    expectCounters(parser, { runt: 1 });
    expect(decodeReference(frame, IN_PORT)).toBe("runt");
  });

  it("parses 14 bytes as an Ethernet header with nothing after it", () => {
    const parser = expectFlow(hex(`${MACS} 0800`), { eth_type: 0x0800 });
    expectCounters(parser, { ipv4TooShort: 1 });
  });

  it("counts every runt of a batch", () => {
    const parser = new Parser();
    const buf = new Uint8Array(64);
    const offsets = Uint32Array.from([0, 10, 20]);
    const lengths = Uint32Array.from([0, 1, 13]);
    const inPorts = Uint32Array.from([1, 2, 3]);
    const keys = new Uint32Array(3 * L.KEY_WORDS);
    const hdrs = new Uint16Array(3 * HDR_WORDS);
    const results = new Uint8Array(3);
    parser.parseBatch(buf, offsets, lengths, 3, inPorts, keys, hdrs, results);
    expect(Array.from(results)).toEqual([PARSE_RUNT, PARSE_RUNT, PARSE_RUNT]);
    expect(parser.counters.get("runt")).toBe(3);
  });
});
