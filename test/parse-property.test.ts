/**
 * Property tests of the flow-key parser (src/packet/parse.ts) against the
 * reference decoder (test/reference-decoder.ts), which reads Open vSwitch
 * 3.1's miniflow_extract() independently.
 *
 * Invariant checked: for any frame, valid or not, the parser never throws, its
 * key equals the reference's word for word (and field by field through the
 * field table), the words a packet cannot set stay zero, and parseBatch
 * agrees with parseFrame whatever the slots held before.
 *
 * Design: fast-check arbitraries build frames layer by layer (Ethernet, 0-3
 * VLAN tags, 802.3 LLC/SNAP, ARP, IPv4 with options and fragments, IPv6 with
 * extension header chains, MPLS, then TCP/UDP/SCTP/ICMP/IGMP/ICMPv6 with ND
 * options) with lengths that are right most of the time and wrong some of the
 * time; a mutation step then truncates the frame or overwrites bytes. Every
 * property runs with a fixed seed so CI sees the same frames every time.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import * as L from "../src/flow/layout.js";
import { HDR_WORDS, PARSE_OK, PARSE_RUNT, Parser } from "../src/packet/parse.js";
import { BATCH_MAX } from "../src/limits.js";
import { REFERENCE_FIELD_NAMES, decodeReference, readKeyField, referenceKey } from "./reference-decoder.js";

// ---------------------------------------------------------------------------
// Bytes.

function cat(...parts: (Uint8Array | number[])[]): Uint8Array {
  let size = 0;
  for (const p of parts) size += p.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const be16 = (v: number): number[] => [(v >>> 8) & 0xff, v & 0xff];
const be32 = (v: number): number[] => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

// ---------------------------------------------------------------------------
// Arbitraries: each builds the bytes of one layer, given what it carries.

const byte = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const blob = (maxLength: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ maxLength });
const fixed = (length: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength: length, maxLength: length });
/** null most of the time, a value of `arb` one time in `oneIn`. */
const sometimes = <T>(arb: fc.Arbitrary<T>, oneIn: number): fc.Arbitrary<T | null> =>
  fc.oneof({ arbitrary: fc.constant(null), weight: oneIn - 1 }, { arbitrary: arb, weight: 1 });
/** Mostly `usual`, sometimes anything of `any`. */
const mostly = <T>(usual: fc.Arbitrary<T>, any: fc.Arbitrary<T>): fc.Arbitrary<T> =>
  fc.oneof({ arbitrary: usual, weight: 4 }, { arbitrary: any, weight: 1 });

/** A transport header (or any bytes) with the IP protocol number that names it. */
interface Transport {
  proto: number;
  bytes: Uint8Array;
}

const tcpArb: fc.Arbitrary<Transport> = fc
  .record({
    src: u16,
    dst: u16,
    seqAck: fixed(8),
    optionWords: fc.integer({ min: 0, max: 10 }),
    dataOffset: sometimes(fc.integer({ min: 0, max: 15 }), 6),
    flags: fc.integer({ min: 0, max: 0xfff }),
    rest: fixed(4),
    payload: blob(24),
  })
  .chain((t) =>
    fixed(t.optionWords * 4).map((options) => {
      const offset = t.dataOffset ?? 5 + t.optionWords;
      const bytes = cat(
        be16(t.src),
        be16(t.dst),
        t.seqAck,
        [(offset << 4) | (t.flags >>> 8), t.flags & 0xff],
        t.rest,
        options,
        t.payload,
      );
      return { proto: L.IPPROTO_TCP, bytes };
    }),
  );

const portsArb = (proto: number, headerSize: number): fc.Arbitrary<Transport> =>
  fc.record({ src: u16, dst: u16, rest: fixed(headerSize - 4), payload: blob(16) }).map((u) => ({
    proto,
    bytes: cat(be16(u.src), be16(u.dst), u.rest, u.payload),
  }));

const icmpArb: fc.Arbitrary<Transport> = fc
  .record({ type: byte, code: byte, rest: blob(24) })
  .map((i) => ({ proto: L.IPPROTO_ICMP, bytes: cat([i.type, i.code], i.rest) }));

const igmpArb: fc.Arbitrary<Transport> = fc
  .record({ type: byte, code: byte, checksum: u16, group: u32, payload: blob(8) })
  .map((g) => ({ proto: L.IPPROTO_IGMP, bytes: cat([g.type, g.code], be16(g.checksum), be32(g.group), g.payload) }));

/** An ND option: link-layer ones (types 1 and 2, one unit) most of the time. */
const ndOptionArb: fc.Arbitrary<Uint8Array> = fc
  .record({
    type: fc.oneof({ arbitrary: fc.constantFrom(1, 2), weight: 4 }, { arbitrary: byte, weight: 1 }),
    units: fc.oneof({ arbitrary: fc.constant(1), weight: 4 }, { arbitrary: fc.integer({ min: 0, max: 3 }), weight: 1 }),
    mac: fc.oneof({ arbitrary: fixed(6), weight: 5 }, { arbitrary: fc.constant(new Uint8Array(6)), weight: 1 }),
    filler: fixed(24),
  })
  .map((o) => {
    const size = Math.max(o.units, 1) * 8;
    return cat([o.type, o.units], o.mac, o.filler).subarray(0, size);
  });

const icmpv6Arb: fc.Arbitrary<Transport> = fc
  .record({
    type: fc.oneof(fc.constant(135), fc.constant(136), byte),
    code: mostly(fc.constant(0), byte),
    checksum: u16,
    reserved: u32,
    target: mostly(fixed(16), blob(15)),
    options: fc.array(ndOptionArb, { maxLength: 4, size: "max" }),
  })
  .map((i) => ({
    proto: L.IPPROTO_ICMPV6,
    bytes: cat([i.type, i.code], be16(i.checksum), be32(i.reserved), i.target, ...i.options),
  }));

const otherTransportArb: fc.Arbitrary<Transport> = fc
  .record({ proto: byte, bytes: blob(24) })
  .map((o) => ({ proto: o.proto, bytes: o.bytes }));

const transportArb: fc.Arbitrary<Transport> = fc.oneof(
  { arbitrary: tcpArb, weight: 2 },
  { arbitrary: portsArb(L.IPPROTO_UDP, 8), weight: 1 },
  { arbitrary: portsArb(L.IPPROTO_SCTP, 12), weight: 1 },
  { arbitrary: icmpArb, weight: 1 },
  { arbitrary: igmpArb, weight: 1 },
  { arbitrary: icmpv6Arb, weight: 3 },
  { arbitrary: otherTransportArb, weight: 1 },
);

/** What follows the Ethernet addresses and tags: an ethertype and its payload. */
interface Network {
  ethType: number;
  bytes: Uint8Array;
}

/** The first `size % (length + 1)` bytes, or all of them when `size` is null. */
const cutTo = (b: Uint8Array, size: number | null): Uint8Array => (size === null ? b : b.subarray(0, size % (b.length + 1)));

const fragmentField = fc.oneof(
  { arbitrary: fc.constant(0), weight: 4 },
  { arbitrary: fc.constant(0x4000), weight: 4 }, // DF
  { arbitrary: fc.constant(0x2000), weight: 2 }, // MF, first fragment
  { arbitrary: fc.integer({ min: 1, max: 0x1fff }), weight: 1 }, // later (last) fragment
  { arbitrary: fc.integer({ min: 1, max: 0x1fff }).map((o) => 0x2000 | o), weight: 1 }, // later, more to come
  { arbitrary: fc.constant(0x8000), weight: 1 }, // the reserved bit alone is no fragment
  { arbitrary: u16, weight: 1 },
);

const ipv4Arb: fc.Arbitrary<Network> = fc
  .record({
    optionWords: fc.integer({ min: 0, max: 10 }),
    ihl: sometimes(fc.integer({ min: 0, max: 15 }), 10),
    version: mostly(fc.constant(4), fc.integer({ min: 0, max: 15 })),
    tos: byte,
    totalLength: sometimes(fc.oneof(u16, fc.integer({ min: -8, max: 8 })), 8),
    id: u16,
    fragment: fragmentField,
    ttl: byte,
    protoOverride: sometimes(byte, 12),
    src: u32,
    dst: u32,
    transport: transportArb,
    transportCut: sometimes(fc.nat(), 6),
    padding: mostly(fc.constant(new Uint8Array(0)), blob(24)),
  })
  .chain((ip) =>
    fixed(ip.optionWords * 4).map((options) => {
      const ihl = ip.ihl ?? 5 + ip.optionWords;
      // A cut transport header whose total length still agrees with the bytes.
      const transport = cutTo(ip.transport.bytes, ip.transportCut);
      const rightLength = 20 + options.length + transport.length;
      // A small number is a correction to the right length; a large one replaces it.
      const tl = ip.totalLength === null ? rightLength : ip.totalLength <= 8 ? rightLength + ip.totalLength : ip.totalLength;
      const header = cat(
        [(ip.version << 4) | ihl, ip.tos],
        be16(tl & 0xffff),
        be16(ip.id),
        be16(ip.fragment),
        [ip.ttl, ip.protoOverride ?? ip.transport.proto],
        [0, 0],
        be32(ip.src),
        be32(ip.dst),
        options,
      );
      return { ethType: L.ETH_TYPE_IP, bytes: cat(header, transport, ip.padding) };
    }),
  );

/** One IPv6 extension header, by the protocol number that announces it. */
interface Extension {
  kind: number;
  lengthField: number;
  fragmentWord: number;
  filler: Uint8Array;
}

const extensionArb: fc.Arbitrary<Extension> = fc.record({
  kind: fc.constantFrom(L.IPPROTO_HOPOPTS, L.IPPROTO_ROUTING, L.IPPROTO_DSTOPTS, L.IPPROTO_AH, L.IPPROTO_FRAGMENT),
  lengthField: mostly(fc.integer({ min: 0, max: 3 }), byte),
  fragmentWord: fc.oneof(
    fc.constant(0), // atomic fragment header: not a fragment
    fc.constant(1), // M: first fragment
    fc.constant(6), // reserved bits only: still "a fragment"
    fc.integer({ min: 1, max: 0x1fff }).map((o) => o << 3), // later fragment
    u16,
  ),
  filler: fixed(64),
});

function encodeExtension(e: Extension, next: number): Uint8Array {
  if (e.kind === L.IPPROTO_FRAGMENT) return cat([next, e.filler[0]], be16(e.fragmentWord), e.filler.subarray(1, 5));
  const size = e.kind === L.IPPROTO_AH ? (e.lengthField + 2) * 4 : (e.lengthField + 1) * 8;
  // A huge length field is kept but the header is cut short, to test the bound.
  return cat([next, e.lengthField], e.filler).subarray(0, Math.min(size, 40));
}

const ipv6Arb: fc.Arbitrary<Network> = fc
  .record({
    versionClassLabel: u32,
    payloadLength: sometimes(fc.oneof(u16, fc.integer({ min: -8, max: 8 })), 8),
    hopLimit: byte,
    src: fixed(16),
    dst: fixed(16),
    extensions: fc.array(extensionArb, { maxLength: 4 }),
    protoOverride: sometimes(byte, 12),
    transport: transportArb,
    payloadCut: sometimes(fc.nat(), 5),
    padding: mostly(fc.constant(new Uint8Array(0)), blob(24)),
  })
  .map((ip) => {
    const last = ip.protoOverride ?? ip.transport.proto;
    const chain: Uint8Array[] = [];
    for (let i = 0; i < ip.extensions.length; i++) {
      const next = i + 1 < ip.extensions.length ? ip.extensions[i + 1].kind : last;
      chain.push(encodeExtension(ip.extensions[i], next));
    }
    const first = ip.extensions.length > 0 ? ip.extensions[0].kind : last;
    // A cut extension chain or transport header whose payload length still agrees.
    const payload = cutTo(cat(...chain, ip.transport.bytes), ip.payloadCut);
    const pl =
      ip.payloadLength === null
        ? payload.length
        : ip.payloadLength <= 8
          ? payload.length + ip.payloadLength
          : ip.payloadLength;
    const header = cat(be32(ip.versionClassLabel), be16(pl & 0xffff), [first, ip.hopLimit], ip.src, ip.dst);
    return { ethType: L.ETH_TYPE_IPV6, bytes: cat(header, payload, ip.padding) };
  });

const arpArb: fc.Arbitrary<Network> = fc
  .record({
    ethType: fc.constantFrom(L.ETH_TYPE_ARP, L.ETH_TYPE_RARP),
    hardware: mostly(fc.constant(1), u16),
    protocol: mostly(fc.constant(L.ETH_TYPE_IP), u16),
    hardwareSize: mostly(fc.constant(6), byte),
    protocolSize: mostly(fc.constant(4), byte),
    op: fc.oneof(fc.constantFrom(1, 2, 0xff, 0x100, 0x0101), u16),
    addresses: fixed(20),
    padding: mostly(fc.constant(new Uint8Array(0)), blob(18)),
  })
  .map((a) => ({
    ethType: a.ethType,
    bytes: cat(be16(a.hardware), be16(a.protocol), [a.hardwareSize, a.protocolSize], be16(a.op), a.addresses, a.padding),
  }));

const mplsArb: fc.Arbitrary<Network> = fc
  .record({
    ethType: fc.constantFrom(L.ETH_TYPE_MPLS, L.ETH_TYPE_MPLS_MCAST),
    entries: fc.array(u32, { minLength: 1, maxLength: 5 }),
    bottomMarked: mostly(fc.constant(true), fc.boolean()),
    payload: blob(40),
  })
  .map((m) => {
    const entries = m.entries.map((e, i) =>
      be32((i === m.entries.length - 1 && m.bottomMarked ? e | 0x100 : e & ~0x100) >>> 0),
    );
    return { ethType: m.ethType, bytes: cat(...entries, m.payload) };
  });

const otherNetworkArb: fc.Arbitrary<Network> = fc
  .record({ ethType: fc.oneof(u16, fc.constantFrom(L.ETH_TYPE_NSH, 0x88cc, 0x0600, 0x05ff)), bytes: blob(48) })
  .map((o) => ({ ethType: o.ethType, bytes: o.bytes }));

const innerNetworkArb: fc.Arbitrary<Network> = fc.oneof(
  { arbitrary: ipv4Arb, weight: 4 },
  { arbitrary: ipv6Arb, weight: 4 },
  { arbitrary: arpArb, weight: 2 },
  { arbitrary: mplsArb, weight: 1 },
  { arbitrary: otherNetworkArb, weight: 1 },
);

/** 802.3: a length, then LLC/SNAP (mostly well-formed) naming an inner protocol. */
const llcSnapArb: fc.Arbitrary<Network> = fc
  .record({
    length: fc.integer({ min: 0, max: 0x05ff }),
    llc: mostly(
      fc.constant(Uint8Array.of(0xaa, 0xaa, 0x03, 0, 0, 0)),
      // One byte of the LLC header or the OUI changed.
      fc.tuple(fc.integer({ min: 0, max: 5 }), byte).map(([at, value]) => {
        const llc = Uint8Array.of(0xaa, 0xaa, 0x03, 0, 0, 0);
        llc[at] = value;
        return llc;
      }),
    ),
    snapTypeOverride: sometimes(u16, 5),
    inner: innerNetworkArb,
  })
  .map((s) => ({
    ethType: s.length,
    bytes: cat(s.llc, be16(s.snapTypeOverride ?? s.inner.ethType), s.inner.bytes),
  }));

const networkArb: fc.Arbitrary<Network> = fc.oneof(
  { arbitrary: innerNetworkArb, weight: 6 },
  { arbitrary: llcSnapArb, weight: 1 },
);

const vlanTagArb = fc.record({ tpid: fc.constantFrom(L.ETH_TYPE_VLAN_8021Q, L.ETH_TYPE_VLAN_8021AD), tci: u16 });

/** Truncation (one frame in five) and byte overwrites (one in six) applied to a built frame. */
const mutationArb = fc.record({
  cut: sometimes(
    fc.oneof(
      fc.integer({ min: 1, max: 16 }).map((k) => ({ fromEnd: true, size: k })),
      fc.nat().map((k) => ({ fromEnd: false, size: k })),
    ),
    5,
  ),
  writes: fc.oneof(
    { arbitrary: fc.constant([] as [number, number][]), weight: 5 },
    { arbitrary: fc.array(fc.tuple(fc.nat(), byte), { minLength: 1, maxLength: 3 }), weight: 1 },
  ),
});

/** Mostly untagged; one, two and (past any vlan-limit) three tags less often. */
const tagsArb = fc.oneof(
  { arbitrary: fc.array(vlanTagArb, { maxLength: 0 }), weight: 5 },
  { arbitrary: fc.array(vlanTagArb, { minLength: 1, maxLength: 1 }), weight: 3 },
  { arbitrary: fc.array(vlanTagArb, { minLength: 2, maxLength: 2 }), weight: 2 },
  { arbitrary: fc.array(vlanTagArb, { minLength: 3, maxLength: 3 }), weight: 1 },
);

const frameArb: fc.Arbitrary<Uint8Array> = fc
  .record({
    dst: fixed(6),
    src: fixed(6),
    tags: tagsArb,
    network: networkArb,
    mutation: mutationArb,
  })
  .map((f) => {
    const tags = f.tags.map((t) => cat(be16(t.tpid), be16(t.tci)));
    const frame = cat(f.dst, f.src, ...tags, be16(f.network.ethType), f.network.bytes);
    for (const [at, value] of f.mutation.writes) frame[at % frame.length] = value;
    const cut = f.mutation.cut;
    if (cut === null) return frame;
    const size = cut.fromEnd ? Math.max(frame.length - cut.size, 0) : cut.size % (frame.length + 1);
    return frame.subarray(0, size);
  });

/**
 * Random bytes; half the time with an interesting ethertype at 12 and, for
 * 802.3 lengths, often an LLC/SNAP header after it, so short random frames
 * end inside those headers.
 */
const randomBytesArb: fc.Arbitrary<Uint8Array> = fc
  .record({
    bytes: fc.uint8Array({ maxLength: 200 }),
    ethType: sometimes(
      fc.constantFrom(0x0800, 0x86dd, 0x0806, 0x8035, 0x8100, 0x88a8, 0x8847, 0x8848, 0x0020, 0x05ff),
      2,
    ),
    snap: fc.boolean(),
  })
  .map((r) => {
    const b = r.bytes.slice();
    if (r.ethType !== null && b.length >= 14) b.set(be16(r.ethType), 12);
    if (r.ethType !== null && r.ethType < L.ETH_TYPE_MIN && r.snap && b.length > 14) {
      b.set([0xaa, 0xaa, 0x03, 0, 0, 0].slice(0, b.length - 14), 14);
    }
    return b;
  });

const inPortArb = fc.integer({ min: 0, max: 0xfffe });

// ---------------------------------------------------------------------------
// Checks.

const KEYS_SLOTS = 4;

/** Parses `frame` at `frameAt` of a larger buffer into key slot `slot` of a dirty key array. */
function parseOne(parser: Parser, frame: Uint8Array, inPort: number, frameAt: number, slot: number) {
  const buf = new Uint8Array(frameAt + frame.length + 16).fill(0xa5);
  buf.set(frame, frameAt);
  const keys = new Uint32Array(KEYS_SLOTS * L.KEY_WORDS).fill(0xdeadbeef);
  const hdrs = new Uint16Array(KEYS_SLOTS * HDR_WORDS).fill(0x7777);
  const result = parser.parseFrame(buf, frameAt, frame.length, inPort, keys, slot * L.KEY_WORDS, hdrs, slot * HDR_WORDS);
  return { result, key: keys.slice(slot * L.KEY_WORDS, (slot + 1) * L.KEY_WORDS), keys, hdrs };
}

/** Words and bits no frame can set (metadata, tunnel, registers, unused high bits). */
function structuralProblems(key: Uint32Array, inPort: number): string[] {
  const problems: string[] = [];
  if (key[L.W_IN_PORT] !== inPort) problems.push(`in_port word ${key[L.W_IN_PORT]}`);
  for (let w = L.W_RECIRC_ID; w < L.W_DL_DST; w++) if (key[w] !== 0) problems.push(`metadata word ${w} = ${key[w]}`);
  for (let w = L.DP_WORDS; w < L.KEY_WORDS; w++) if (key[w] !== 0) problems.push(`register word ${w} = ${key[w]}`);
  const narrow: [string, number, number][] = [
    ["dl_dst high word", L.W_DL_DST, 0xffff],
    ["dl_src high word", L.W_DL_SRC, 0xffff],
    ["arp_sha high word", L.W_ARP_SHA, 0xffff],
    ["arp_tha high word", L.W_ARP_THA, 0xffff],
    ["dl_type", L.W_DL_TYPE, 0xffff],
    ["ipv6_label", L.W_IPV6_LABEL, 0xfffff],
    ["nw word", L.W_NW, 0x03ffffff],
    ["tcp_flags", L.W_TCP_FLAGS, 0xfff],
  ];
  for (const [what, w, max] of narrow) if (key[w] > max) problems.push(`${what} = 0x${key[w].toString(16)}`);
  return problems;
}

/** Every difference between the parser's key and the reference's opinion. */
function differences(parser: Parser, frame: Uint8Array, inPort: number, vlanLimit: number, frameAt = 0, slot = 0): string[] {
  const { result, key } = parseOne(parser, frame, inPort, frameAt, slot);
  const ref = decodeReference(frame, inPort, vlanLimit);
  const out = structuralProblems(key, inPort);
  if (ref === "runt") {
    if (result !== PARSE_RUNT) out.push(`result ${result}, reference says runt`);
    const expected = new Uint32Array(L.KEY_WORDS);
    expected[L.W_IN_PORT] = inPort;
    for (let w = 0; w < L.KEY_WORDS; w++) if (key[w] !== expected[w]) out.push(`runt key word ${w} = ${key[w]}`);
    return out;
  }
  if (result !== PARSE_OK) out.push(`result ${result}, reference parsed it`);
  const ethType = ref.get("eth_type");
  const isArp = ethType === BigInt(L.ETH_TYPE_ARP) || ethType === BigInt(L.ETH_TYPE_RARP);
  for (const name of REFERENCE_FIELD_NAMES) {
    // flowplane's arp_op is 16 bits over nw_ttl:nw_proto; OVS's is nw_proto.
    // They agree only where the field is defined: on ARP frames.
    if (name === "arp_op" && !isArp) continue;
    const got = readKeyField(key, 0, name);
    const want = ref.get(name);
    if (got !== want) out.push(`${name}: parser 0x${got.toString(16)}, reference 0x${want?.toString(16)}`);
  }
  const expected = referenceKey(ref);
  for (let w = 0; w < L.KEY_WORDS; w++) {
    if (key[w] !== expected[w]) {
      out.push(`word ${w}: parser 0x${key[w].toString(16)}, reference 0x${expected[w].toString(16)}`);
    }
  }
  return out;
}

function agreeWithReference(parser: Parser, vlanLimit: number) {
  return (frame: Uint8Array, inPort: number, frameAt: number, slot: number): void => {
    const diffs = differences(parser, frame, inPort, vlanLimit, frameAt, slot);
    if (diffs.length > 0) throw new Error(`frame ${hex(frame)} (vlan-limit ${vlanLimit}):\n  ${diffs.join("\n  ")}`);
  };
}

const placementArb = fc.tuple(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 0, max: KEYS_SLOTS - 1 }));

// ---------------------------------------------------------------------------

describe("parseFrame on arbitrary bytes", () => {
  it("never throws and agrees with the reference on random byte arrays", () => {
    const parser = new Parser();
    const check = agreeWithReference(parser, 1);
    fc.assert(
      fc.property(randomBytesArb, inPortArb, placementArb, (frame, inPort, [at, slot]) => check(frame, inPort, at, slot)),
      { seed: 0x5eed0001, numRuns: 5000 },
    );
  });

  it("never throws on random truncations of structured frames, and sets no word it must not", () => {
    const parser = new Parser();
    fc.assert(
      fc.property(frameArb, fc.nat(), inPortArb, (frame, cut, inPort) => {
        const part = frame.subarray(0, cut % (frame.length + 1));
        const { key } = parseOne(parser, part, inPort, 3, 1);
        const problems = structuralProblems(key, inPort);
        if (problems.length > 0) throw new Error(`frame ${hex(part)}: ${problems.join(", ")}`);
      }),
      { seed: 0x5eed0002, numRuns: 3000 },
    );
  });
});

describe("parseFrame on structured frames", () => {
  it("agrees with the reference field by field and word by word (vlan-limit 1)", () => {
    const parser = new Parser();
    const check = agreeWithReference(parser, 1);
    fc.assert(
      fc.property(frameArb, inPortArb, placementArb, (frame, inPort, [at, slot]) => check(frame, inPort, at, slot)),
      { seed: 0x5eed0003, numRuns: 6000 },
    );
  });

  it("agrees with the reference with vlan-limit 2", () => {
    const parser = new Parser(2);
    const check = agreeWithReference(parser, 2);
    fc.assert(
      fc.property(frameArb, inPortArb, placementArb, (frame, inPort, [at, slot]) => check(frame, inPort, at, slot)),
      { seed: 0x5eed0004, numRuns: 4000 },
    );
  });

  it("treats vlan-limit 0 as the most tags a key holds", () => {
    const parser = new Parser(0);
    const check = agreeWithReference(parser, 0);
    fc.assert(
      fc.property(frameArb, inPortArb, (frame, inPort) => check(frame, inPort, 0, 0)),
      { seed: 0x5eed0005, numRuns: 1000 },
    );
  });
});

/** A batch of frames at scattered offsets in one buffer, with junk between them. */
const batchArb = fc
  .record({
    frames: fc.array(fc.oneof(frameArb, randomBytesArb), { minLength: BATCH_MAX, maxLength: BATCH_MAX }),
    gaps: fc.array(fc.integer({ min: 0, max: 40 }), { minLength: BATCH_MAX, maxLength: BATCH_MAX }),
    inPorts: fc.array(inPortArb, { minLength: BATCH_MAX, maxLength: BATCH_MAX }),
    order: fc.shuffledSubarray([...Array(BATCH_MAX).keys()], { minLength: BATCH_MAX, maxLength: BATCH_MAX }),
  })
  .map((b) => {
    // Frames are laid out in a shuffled order, so offsets do not grow with the index.
    let size = 0;
    for (let i = 0; i < BATCH_MAX; i++) size += b.gaps[i] + b.frames[i].length;
    const buf = new Uint8Array(size + 8).fill(0x5a);
    const offsets = new Uint32Array(BATCH_MAX);
    const lengths = new Uint32Array(BATCH_MAX);
    let at = 0;
    for (const i of b.order) {
      at += b.gaps[i];
      buf.set(b.frames[i], at);
      offsets[i] = at;
      lengths[i] = b.frames[i].length;
      at += b.frames[i].length;
    }
    return { buf, offsets, lengths, inPorts: Uint32Array.from(b.inPorts), frames: b.frames };
  });

type Batch = { buf: Uint8Array; offsets: Uint32Array; lengths: Uint32Array; inPorts: Uint32Array };

/** What 32 separate parseFrame calls produce for a batch. */
function oneByOne(parser: Parser, batch: Batch) {
  const keys = new Uint32Array(BATCH_MAX * L.KEY_WORDS);
  const hdrs = new Uint16Array(BATCH_MAX * HDR_WORDS);
  const results = new Uint8Array(BATCH_MAX);
  for (let i = 0; i < BATCH_MAX; i++) {
    results[i] = parser.parseFrame(
      batch.buf,
      batch.offsets[i],
      batch.lengths[i],
      batch.inPorts[i],
      keys,
      i * L.KEY_WORDS,
      hdrs,
      i * HDR_WORDS,
    );
  }
  return { keys, hdrs, results };
}

function expectSameBatch(
  got: { keys: Uint32Array; hdrs: Uint16Array; results: Uint8Array },
  want: { keys: Uint32Array; hdrs: Uint16Array; results: Uint8Array },
): void {
  expect(Array.from(got.results)).toEqual(Array.from(want.results));
  for (let i = 0; i < BATCH_MAX; i++) {
    const k = i * L.KEY_WORDS;
    expect(Array.from(got.keys.subarray(k, k + L.KEY_WORDS)), `key ${i}`).toEqual(
      Array.from(want.keys.subarray(k, k + L.KEY_WORDS)),
    );
  }
  expect(Array.from(got.hdrs)).toEqual(Array.from(want.hdrs));
}

describe("parseBatch", () => {
  it("gives the same keys, header offsets and results as 32 parseFrame calls", () => {
    const parser = new Parser();
    fc.assert(
      fc.property(batchArb, (batch) => {
        const keys = new Uint32Array(BATCH_MAX * L.KEY_WORDS).fill(0xffffffff);
        const hdrs = new Uint16Array(BATCH_MAX * HDR_WORDS).fill(0x1234);
        const results = new Uint8Array(BATCH_MAX).fill(9);
        parser.parseBatch(batch.buf, batch.offsets, batch.lengths, BATCH_MAX, batch.inPorts, keys, hdrs, results);
        expectSameBatch({ keys, hdrs, results }, oneByOne(parser, batch));
      }),
      { seed: 0x5eed0006, numRuns: 300 },
    );
  });

  it("leaves nothing of the previous batch in reused slots", () => {
    const parser = new Parser(2);
    fc.assert(
      fc.property(batchArb, batchArb, (first, second) => {
        const keys = new Uint32Array(BATCH_MAX * L.KEY_WORDS);
        const hdrs = new Uint16Array(BATCH_MAX * HDR_WORDS);
        const results = new Uint8Array(BATCH_MAX);
        parser.parseBatch(first.buf, first.offsets, first.lengths, BATCH_MAX, first.inPorts, keys, hdrs, results);
        parser.parseBatch(second.buf, second.offsets, second.lengths, BATCH_MAX, second.inPorts, keys, hdrs, results);
        expectSameBatch({ keys, hdrs, results }, oneByOne(parser, second));
      }),
      { seed: 0x5eed0007, numRuns: 200 },
    );
  });
});

describe("a reused key slot", () => {
  it("carries nothing over from a different kind of packet", () => {
    const parser = new Parser(2);
    fc.assert(
      fc.property(frameArb, frameArb, inPortArb, (before, after, inPort) => {
        const keys = new Uint32Array(2 * L.KEY_WORDS);
        const hdrs = new Uint16Array(2 * HDR_WORDS);
        parser.parseFrame(before, 0, before.length, 7, keys, L.KEY_WORDS, hdrs, HDR_WORDS);
        parser.parseFrame(after, 0, after.length, inPort, keys, L.KEY_WORDS, hdrs, HDR_WORDS);
        const fresh = new Uint32Array(L.KEY_WORDS);
        const freshHdrs = new Uint16Array(HDR_WORDS);
        parser.parseFrame(after, 0, after.length, inPort, fresh, 0, freshHdrs, 0);
        expect(Array.from(keys.subarray(L.KEY_WORDS))).toEqual(Array.from(fresh));
        expect(Array.from(hdrs.subarray(HDR_WORDS))).toEqual(Array.from(freshHdrs));
        expect(Array.from(keys.subarray(0, L.KEY_WORDS)).every((w) => w === 0)).toBe(true);
      }),
      { seed: 0x5eed0008, numRuns: 2000 },
    );
  });
});
