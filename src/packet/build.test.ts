import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  AddressSyntaxError,
  type Layer,
  build,
  concat,
  dhcpOpt,
  fromHex,
  ipv4Opt,
  ipv6MulticastMac,
  ipv6Opt,
  linkLocalFromMac,
  ndOption,
  parseIPv4,
  parseIPv6,
  parseMac,
  sctpInit,
  solicitedNode,
  tcpFlags,
  tcpOpt,
  toHex,
  truncate,
} from "./build.js";
import {
  crc32c,
  csumAdd,
  csumFold,
  csumReplace16,
  csumReplace32,
  csumUpdate16,
  csumUpdate32,
  internetChecksum,
  pseudoSum4,
  pseudoSum6,
} from "./checksum.js";

const MAC_A = "fa:16:3e:8b:7c:11";
const MAC_B = "fa:16:3e:25:4a:c2";

/** Reference RFC 1071 sum written the slow, obvious way (a second opinion on
 * checksum.ts): add every big-endian word, fold once at the end. */
function refChecksum(...parts: Uint8Array[]): number {
  const b = concat(...parts);
  let sum = 0;
  for (let i = 0; i < b.length; i += 2) sum += b[i] * 256 + (i + 1 < b.length ? b[i + 1] : 0);
  while (sum > 0xffff) sum = (sum % 65536) + Math.floor(sum / 65536);
  return 0xffff - sum;
}

function pseudo4(src: string, dst: string, proto: number, size: number): Uint8Array {
  return concat(parseIPv4(src), parseIPv4(dst), Uint8Array.of(0, proto, size >>> 8, size & 0xff));
}

function pseudo6(src: string, dst: string, proto: number, size: number): Uint8Array {
  return concat(parseIPv6(src), parseIPv6(dst), Uint8Array.of(size >>> 24, size >>> 16, size >>> 8, size, 0, 0, 0, proto));
}

const word = (b: Uint8Array, at: number): number => (b[at] << 8) | b[at + 1];

describe("checksum", () => {
  it("gives RFC 1071's worked example", () => {
    // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
    const b = fromHex("0001 f203 f4f5 f6f7");
    expect(csumAdd(b, 0, b.length)).toBe(0x2ddf0);
    expect(csumFold(csumAdd(b, 0, b.length))).toBe(0xddf2);
    expect(internetChecksum(b, 0, b.length)).toBe(0x220d);
  });

  it("pads an odd last byte with zero", () => {
    const b = fromHex("0001 f203 f4");
    expect(internetChecksum(b, 0, 5)).toBe(refChecksum(b));
    expect(internetChecksum(b, 0, 5)).toBe(internetChecksum(fromHex("0001 f203 f400"), 0, 6));
  });

  it("gives the textbook IPv4 header checksum b861", () => {
    const h = fromHex("4500 0073 0000 4000 4011 0000 c0a8 0001 c0a8 00c7");
    expect(internetChecksum(h, 0, 20)).toBe(0xb861);
    h[10] = 0xb8;
    h[11] = 0x61;
    expect(internetChecksum(h, 0, 20)).toBe(0);
  });

  it("sums the IPv4 and IPv6 pseudo-headers as laid out on the wire", () => {
    const a4 = concat(parseIPv4("10.0.0.8"), parseIPv4("10.0.0.4"));
    expect(pseudoSum4(a4, 0, 4, 6, 44)).toBe(csumAdd(pseudo4("10.0.0.8", "10.0.0.4", 6, 44), 0, 12));
    const a6 = concat(parseIPv6("fd00:10::8"), parseIPv6("fd00:10::4"));
    const size = 70000;
    expect(pseudoSum6(a6, 0, 16, 17, size)).toBe(csumAdd(pseudo6("fd00:10::8", "fd00:10::4", 17, size), 0, 40));
  });

  it("updates a checksum for a changed 16-bit word as a full recompute would (RFC 1624)", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 24, maxLength: 64 }),
        fc.nat(),
        fc.integer({ min: 0, max: 0xffff }),
        (data, pick, newWord) => {
          const b = data.slice(0, data.length & ~1);
          b[0] = 0x45; // a real header is never all zero (see csumUpdate16)
          b[10] = 0;
          b[11] = 0;
          const csum = internetChecksum(b, 0, b.length);
          b[10] = csum >>> 8;
          b[11] = csum & 0xff;
          // Any word but the first (kept non-zero) and the checksum itself.
          const words = b.length / 2;
          let at = 2 * (1 + (pick % (words - 1)));
          if (at === 10) at = 12;
          const oldWord = word(b, at);
          const incremental = csumUpdate16(csum, oldWord, newWord);
          b[at] = newWord >>> 8;
          b[at + 1] = newWord & 0xff;
          b[10] = 0;
          b[11] = 0;
          expect(incremental).toBe(internetChecksum(b, 0, b.length));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("updates a checksum for a changed 32-bit field, and patches in place, as a full recompute would", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 40, maxLength: 40 }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.constantFrom(12, 16, 20, 24, 28, 32, 36),
        (data, newValue, newWord, at) => {
          const b = data.slice();
          b[0] = 0x45;
          b[10] = 0;
          b[11] = 0;
          const csum = internetChecksum(b, 0, 40);
          b[10] = csum >>> 8;
          b[11] = csum & 0xff;
          const oldValue = ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
          const incremental = csumUpdate32(csum, oldValue, newValue);
          csumReplace32(b, 10, at, newValue);
          expect(word(b, 10)).toBe(incremental);
          expect(internetChecksum(b, 0, 40)).toBe(0);
          csumReplace16(b, 10, 2, newWord);
          expect(word(b, 2)).toBe(newWord);
          expect(internetChecksum(b, 0, 40)).toBe(0);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("patches a TCP checksum when NAT rewrites the source address and port", () => {
    const frame = build.eth(
      { src: MAC_A, dst: MAC_B },
      build.ipv4({ src: "10.0.0.8", dst: "172.24.4.1", id: 7 }, build.tcp({ src: 51022, dst: 80, seq: 1, flags: "S" })),
    );
    const ip = 14;
    const l4 = 34;
    const newSrc = 0xac18040a; // 172.24.4.10, the floating IP
    const oldSrc = ((frame[ip + 12] << 24) | (frame[ip + 13] << 16) | (frame[ip + 14] << 8) | frame[ip + 15]) >>> 0;
    // The TCP checksum covers the address through the pseudo-header.
    const tcpCsum = csumUpdate32(word(frame, l4 + 16), oldSrc, newSrc);
    frame[l4 + 16] = tcpCsum >>> 8;
    frame[l4 + 17] = tcpCsum & 0xff;
    csumReplace32(frame, ip + 10, ip + 12, newSrc);
    csumReplace16(frame, l4 + 16, l4, 40000);
    const expected = build.eth(
      { src: MAC_A, dst: MAC_B },
      build.ipv4({ src: "172.24.4.10", dst: "172.24.4.1", id: 7 }, build.tcp({ src: 40000, dst: 80, seq: 1, flags: "S" })),
    );
    expect(toHex(frame)).toBe(toHex(expected));
  });

  it("computes CRC32c check values (RFC 3720 B.4 and the catalogue's 123456789)", () => {
    const ascii = new TextEncoder().encode("123456789");
    expect(crc32c(ascii, 0, ascii.length)).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(32), 0, 32)).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff), 0, 32)).toBe(0x62a8ab43);
    const inc = Uint8Array.from({ length: 32 }, (_, i) => i);
    expect(crc32c(inc, 0, 32)).toBe(0x46dd794e);
    const dec = Uint8Array.from({ length: 32 }, (_, i) => 31 - i);
    expect(crc32c(dec, 0, 32)).toBe(0x113fdb5c);
  });

  it("continues a CRC32c over consecutive ranges", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), fc.nat(), (b, cut) => {
        const k = b.length === 0 ? 0 : cut % (b.length + 1);
        expect(crc32c(b, k, b.length - k, crc32c(b, 0, k))).toBe(crc32c(b, 0, b.length));
      }),
    );
  });
});

describe("addresses", () => {
  it("parses MAC, IPv4 and IPv6 text", () => {
    expect(toHex(parseMac("fa:16:3e:8b:7c:11"))).toBe("fa163e8b7c11");
    expect(toHex(parseMac("FA-16-3E-0-7C-1"))).toBe("fa163e007c01");
    expect(toHex(parseIPv4("169.254.169.254"))).toBe("a9fea9fe");
    expect(toHex(parseIPv6("::"))).toBe("0".repeat(32));
    expect(toHex(parseIPv6("::1"))).toBe("0".repeat(31) + "1");
    expect(toHex(parseIPv6("fe80::f816:3eff:fe8b:7c11"))).toBe("fe80000000000000f8163efffe8b7c11");
    expect(toHex(parseIPv6("2001:db8:0:0:1:0:0:1"))).toBe("20010db8000000000001000000000001");
    expect(toHex(parseIPv6("fd00:10::"))).toBe("fd000010" + "0".repeat(24));
    expect(toHex(parseIPv6("::ffff:10.0.0.8"))).toBe("00000000000000000000ffff0a000008");
  });

  it.each([
    ["mac", "fa:16:3e:8b:7c", parseMac],
    ["mac", "fa:16:3e:8b:7c:1g", parseMac],
    ["mac", "fa:16:3e:8b:7c:111", parseMac],
    ["ipv4", "10.0.0", parseIPv4],
    ["ipv4", "10.0.0.256", parseIPv4],
    ["ipv4", "10.0.0.08", parseIPv4],
    ["ipv4", "10.0.0.-1", parseIPv4],
    ["ipv6", "1::2::3", parseIPv6],
    ["ipv6", "1:2:3:4:5:6:7", parseIPv6],
    ["ipv6", "1:2:3:4:5:6:7:8:9", parseIPv6],
    ["ipv6", "1:2:3:4::5:6:7:8", parseIPv6],
    ["ipv6", "12345::", parseIPv6],
    ["ipv6", ":1::", parseIPv6],
    ["ipv6", "fe80::1%eth0", parseIPv6],
    ["ipv6", "1.2.3.4::", parseIPv6],
  ])("rejects bad %s text %s", (_kind, text, parse) => {
    expect(() => parse(text)).toThrow(AddressSyntaxError);
    try {
      parse(text);
    } catch (e) {
      expect((e as AddressSyntaxError).code).toBe("FP_ERR_ADDRESS_SYNTAX");
    }
  });

  it("derives link-local, solicited-node and multicast MAC addresses", () => {
    expect(toHex(linkLocalFromMac(MAC_A))).toBe("fe80000000000000f8163efffe8b7c11");
    expect(toHex(solicitedNode("fd00:10::f816:3eff:fe25:4ac2"))).toBe("ff0200000000000000000001ff254ac2");
    expect(toHex(ipv6MulticastMac("ff02::1:ff25:4ac2"))).toBe("3333ff254ac2");
  });

  it("dumps, reads and truncates bytes", () => {
    expect(toHex(Uint8Array.of(0, 1, 0xab))).toBe("0001ab");
    expect(toHex(fromHex("00 01:ab"))).toBe("0001ab");
    expect(() => fromHex("abc")).toThrow();
    expect(toHex(truncate(Uint8Array.of(1, 2, 3), 2))).toBe("0102");
    expect(truncate(Uint8Array.of(1, 2, 3), 10).length).toBe(3);
    expect(truncate(Uint8Array.of(1, 2, 3), -1).length).toBe(0);
  });
});

describe("link layer", () => {
  it("builds an ARP request byte for byte", () => {
    const f = build.eth(
      { src: MAC_A, dst: "ff:ff:ff:ff:ff:ff" },
      build.arp({ op: "request", sha: MAC_A, spa: "10.0.0.8", tpa: "10.0.0.1" }),
    );
    expect(toHex(f)).toBe(
      "ffffffffffff fa163e8b7c11 0806 0001 0800 06 04 0001 fa163e8b7c11 0a000008 000000000000 0a000001".replace(/ /g, ""),
    );
  });

  it("builds an ARP reply with any field set", () => {
    const l = build.arp({ op: 0x1234, sha: MAC_B, spa: "10.0.0.4", tha: MAC_A, tpa: "10.0.0.8", htype: 6, ptype: 0x86dd, hlen: 7, plen: 3 });
    expect(toHex(build.encode(l))).toBe("0006 86dd 07 03 1234 fa163e254ac2 0a000004 fa163e8b7c11 0a000008".replace(/ /g, ""));
    expect(toHex(build.encode(build.arp({ op: "reply", sha: MAC_B, spa: "10.0.0.4", tpa: "10.0.0.8" }))).slice(12, 16)).toBe(
      "0002",
    );
  });

  it("writes 802.1Q, 802.1ad and 0x8100/0x8100 tags outermost first", () => {
    const ip = build.raw(Uint8Array.of(0xaa), { ethertype: 0x0800 });
    const one = build.eth({ src: MAC_A, dst: MAC_B, vlans: [{ vid: 10, pcp: 5 }] }, ip);
    expect(toHex(one.subarray(12))).toBe("8100a00a0800aa");
    const qinq = build.eth({ src: MAC_A, dst: MAC_B, vlans: [{ tpid: 0x88a8, vid: 200, pcp: 2 }, { vid: 10 }] }, ip);
    expect(toHex(qinq.subarray(12))).toBe("88a840c88100000a0800aa");
    const dbl = build.eth({ src: MAC_A, dst: MAC_B, vlans: [{ vid: 300, pcp: 1, dei: 1 }, { vid: 4095, pcp: 7 }] }, ip);
    expect(toHex(dbl.subarray(12))).toBe("8100312c8100efff0800aa");
  });

  it("pads to the Ethernet minimum on request", () => {
    const f = build.eth({ src: MAC_A, dst: MAC_B, padTo: 60 }, build.arp({ op: 1, sha: MAC_A, spa: "10.0.0.8", tpa: "10.0.0.4" }));
    expect(f.length).toBe(60);
    expect(f.subarray(42).every((x) => x === 0)).toBe(true);
  });

  it("writes an 802.3 length and LLC, and SNAP with an EtherType", () => {
    const stp = build.eth({ src: MAC_A, dst: "01:80:c2:00:00:00" }, build.llc({ dsap: 0x42, ssap: 0x42 }, new Uint8Array(35)));
    expect(toHex(stp.subarray(12, 17))).toBe("0026424203");
    const snap = build.eth({ src: MAC_A, dst: MAC_B }, build.llc({ snap: { oui: 0, type: 0x0800 } }, Uint8Array.of(0x45)));
    expect(toHex(snap.subarray(12))).toBe("0009aaaa030000000800" + "45");
  });

  it("needs an explicit EtherType for plain bytes", () => {
    expect(() => build.eth({ src: MAC_A, dst: MAC_B }, Uint8Array.of(1))).toThrow(/type/);
    expect(toHex(build.eth({ src: MAC_A, dst: MAC_B, type: 0x88cc }, Uint8Array.of(1)).subarray(12))).toBe("88cc01");
  });
});

describe("IPv4", () => {
  it("writes the textbook header with checksum b861", () => {
    const l = build.ipv4({ src: "192.168.0.1", dst: "192.168.0.199", df: true, proto: 17 }, new Uint8Array(95));
    expect(toHex(build.encode(l).subarray(0, 20))).toBe("450000730000400040" + "11b861c0a80001c0a800c7");
  });

  it("builds an ICMP echo request byte for byte (checksum 4d5a, as Windows ping sends id 1 seq 1)", () => {
    const payload = new TextEncoder().encode("abcdefghijklmnopqrstuvwabcdefghi");
    const f = build.eth(
      { src: MAC_A, dst: MAC_B },
      build.ipv4({ src: "10.0.0.8", dst: "10.0.0.4", id: 0x1234 }, build.icmpEcho({ id: 1, seq: 1, payload })),
    );
    expect(toHex(f)).toBe(
      "fa163e254ac2 fa163e8b7c11 0800".replace(/ /g, "") +
        "4500003c123400004001 5482 0a000008 0a000004".replace(/ /g, "") +
        "08004d5a00010001" +
        toHex(payload),
    );
  });

  it("writes options padded to 4 bytes, the IHL, flags, offset, TOS and TTL", () => {
    const rr = ipv4Opt.recordRoute(2, ["10.0.0.8"]);
    expect(toHex(rr)).toBe("070b080a00000800000000");
    const l = build.ipv4(
      { src: "10.0.0.8", dst: "10.0.0.4", ttl: 3, dscp: 46, ecn: 3, id: 0xbeef, mf: true, fragOffset: 185, options: concat(ipv4Opt.nop(), rr) },
      build.raw(new Uint8Array(8), { ipProto: 17 }),
    );
    const b = build.encode(l);
    expect(b[0]).toBe(0x48); // 12 bytes of options: IHL 8
    expect(b[1]).toBe(0xbb);
    expect(word(b, 2)).toBe(32 + 8);
    expect(word(b, 4)).toBe(0xbeef);
    expect(word(b, 6)).toBe(0x2000 | 185);
    expect(b[8]).toBe(3);
    expect(b[9]).toBe(17);
    expect(toHex(b.subarray(20, 32))).toBe("01070b080a000008000000" + "00");
    expect(refChecksum(b.subarray(0, 32))).toBe(0);
    const df = build.encode(build.ipv4({ src: "1.2.3.4", dst: "5.6.7.8", df: true, rf: true, tos: 0x02, proto: 6 }));
    expect(word(df, 6)).toBe(0xc000);
    expect(df[1]).toBe(0x02);
  });

  it("writes overrides as given, for malformed packets", () => {
    const b = build.encode(build.ipv4({ src: "1.2.3.4", dst: "5.6.7.8", ihl: 4, totalLength: 1500, checksum: 0xdead, proto: 99 }));
    expect(toHex(b.subarray(0, 12))).toBe("440005dc0000000040" + "63dead");
  });

  it("splits a datagram into fragments that reassemble to it, checksum intact", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4000 }), fc.integer({ min: 8, max: 1500 }), (size, fragSize) => {
        const data = Uint8Array.from({ length: size }, (_, i) => (i * 7) & 0xff);
        const whole = build.encode(
          build.ipv4({ src: "10.0.0.8", dst: "10.0.0.4" }, build.udp({ src: 1, dst: 2 }, data)),
        ).subarray(20);
        const frags = build.ipv4Fragments({ src: "10.0.0.8", dst: "10.0.0.4", id: 9 }, build.udp({ src: 1, dst: 2 }, data), fragSize);
        const got = new Uint8Array(whole.length);
        for (let i = 0; i < frags.length; i++) {
          const f = build.encode(frags[i]);
          const flags = word(f, 6);
          expect(f[9]).toBe(17);
          expect(word(f, 4)).toBe(9);
          expect((flags & 0x2000) !== 0).toBe(i < frags.length - 1);
          expect(f.length - 20).toBeLessThanOrEqual(fragSize & ~7);
          got.set(f.subarray(20), (flags & 0x1fff) * 8);
        }
        expect(toHex(got)).toBe(toHex(whole));
        expect(refChecksum(pseudo4("10.0.0.8", "10.0.0.4", 17, got.length), got)).toBe(0);
      }),
      { numRuns: 200 },
    );
  });
});

describe("IPv6", () => {
  it("writes the fixed header: traffic class, flow label, hop limit", () => {
    const b = build.encode(
      build.ipv6({ src: "fd00:10::8", dst: "fd00:10::4", trafficClass: 0xb8, flowLabel: 0xabcde, hopLimit: 7, proto: 59 }),
    );
    expect(toHex(b.subarray(0, 8))).toBe("6b8abcde00003b07");
    expect(toHex(b.subarray(8, 24))).toBe(toHex(parseIPv6("fd00:10::8")));
    expect(toHex(b.subarray(24, 40))).toBe(toHex(parseIPv6("fd00:10::4")));
  });

  it("builds a neighbour solicitation with SLL byte for byte (checksum 4b50)", () => {
    const f = build.eth(
      { src: MAC_A, dst: ipv6MulticastMac("ff02::1:ff25:4ac2") },
      build.ipv6(
        { src: "fe80::f816:3eff:fe8b:7c11", dst: "ff02::1:ff25:4ac2", hopLimit: 255 },
        build.ndpNs({ target: "fe80::f816:3eff:fe25:4ac2", sll: MAC_A }),
      ),
    );
    expect(toHex(f)).toBe(
      "3333ff254ac2fa163e8b7c1186dd" +
        "6000000000203aff" +
        "fe80000000000000f8163efffe8b7c11" +
        "ff0200000000000000000001ff254ac2" +
        "87004b5000000000" +
        "fe80000000000000f8163efffe254ac2" +
        "0101fa163e8b7c11",
    );
  });

  it("chains hop-by-hop, routing, fragment, destination options and AH to TCP", () => {
    const l = build.ipv6(
      {
        src: "fd00:10::8",
        dst: "fd00:10::1",
        extHeaders: [
          { type: "hop", options: ipv6Opt.routerAlert(0) },
          { type: "routing", segmentsLeft: 1, addresses: ["fd00:20::10"] },
          { type: "fragment", offset: 0, m: false, id: 0xdeadbeef },
          { type: "dstopts" },
          { type: "ah", spi: 0x100, seq: 1 },
        ],
      },
      build.tcp({ src: 1000, dst: 22, flags: "S" }),
    );
    const b = build.encode(l);
    expect(b[6]).toBe(0); // hop-by-hop
    let at = 40;
    // Hop-by-hop: next routing, 8 bytes, router alert then PadN(0).
    expect(toHex(b.subarray(at, at + 8))).toBe("2b00050200000100");
    at += 8;
    // Routing type 0, one address: 24 bytes, next fragment.
    expect(toHex(b.subarray(at, at + 4))).toBe("2c020001");
    expect(toHex(b.subarray(at + 8, at + 24))).toBe(toHex(parseIPv6("fd00:20::10")));
    at += 24;
    expect(toHex(b.subarray(at, at + 8))).toBe("3c000000deadbeef");
    at += 8;
    // Destination options with only padding: PadN of 4.
    expect(toHex(b.subarray(at, at + 8))).toBe("3300010400000000");
    at += 8;
    // AH: next TCP, length (24 / 4) - 2 = 4.
    expect(toHex(b.subarray(at, at + 12))).toBe("0604000000000100" + "00000001");
    at += 24;
    expect(word(b, 4)).toBe(b.length - 40);
    // The TCP checksum uses the routing header's final destination.
    const seg = b.subarray(at);
    expect(seg.length).toBe(20);
    expect(refChecksum(pseudo6("fd00:10::8", "fd00:20::10", 6, 20), seg)).toBe(0);
  });

  it("writes a fragment header with offset and M flag, and next-header overrides", () => {
    const b = build.encode(
      build.ipv6(
        { src: "::1", dst: "::2", extHeaders: [{ type: "fragment", offset: 0x1fff, m: true, id: 5, nextHeader: 250 }], proto: 17 },
        new Uint8Array(0),
      ),
    );
    expect(b[6]).toBe(44);
    expect(toHex(b.subarray(40))).toBe("fa00fff900000005");
    const bad = build.encode(build.ipv6({ src: "::1", dst: "::2", nextHeader: 6, payloadLength: 999, proto: 59 }));
    expect(b.length).toBe(48);
    expect(bad[6]).toBe(6);
    expect(word(bad, 4)).toBe(999);
  });

  it("splits a datagram into fragments after the unfragmentable headers", () => {
    const data = Uint8Array.from({ length: 3000 }, (_, i) => i & 0xff);
    const udp = build.udp({ src: 41000, dst: 5001 }, data);
    const frags = build.ipv6Fragments({ src: "fd00:10::8", dst: "fd00:10::4", extHeaders: [{ type: "hop" }] }, udp, 1232, 77);
    expect(frags.length).toBe(3);
    const got: Uint8Array[] = [];
    for (let i = 0; i < frags.length; i++) {
      const b = build.encode(frags[i]);
      expect(b[6]).toBe(0);
      expect(b[40]).toBe(44);
      expect(b[48]).toBe(17);
      expect(word(b, 50) >> 3).toBe((i * 1232) / 8);
      expect(word(b, 50) & 1).toBe(i < 2 ? 1 : 0);
      expect(word(b, 52) * 65536 + word(b, 54)).toBe(77);
      got.push(b.subarray(56));
    }
    const whole = concat(...got);
    expect(whole.length).toBe(3008);
    expect(refChecksum(pseudo6("fd00:10::8", "fd00:10::4", 17, whole.length), whole)).toBe(0);
  });
});

describe("ICMP", () => {
  it("quotes the offending packet in a time-exceeded error", () => {
    const probe = build.ipv4({ src: "10.0.0.8", dst: "10.1.0.10", ttl: 1 }, build.udp({ src: 45123, dst: 33434 }, new Uint8Array(4)));
    const err = build.encode(build.icmpError({ type: "time-exceeded", code: 0 }, probe));
    expect(toHex(err.subarray(0, 2))).toBe("0b00");
    expect(toHex(err.subarray(8))).toBe(toHex(build.encode(probe)));
    expect(refChecksum(err)).toBe(0);
  });

  it("writes the MTU of fragmentation-needed, a parameter-problem pointer and a redirect gateway", () => {
    const q = new Uint8Array(28);
    expect(toHex(build.encode(build.icmpError({ type: "dest-unreachable", code: 4, mtu: 1450 }, q)).subarray(0, 8).subarray(4))).toBe(
      "000005aa",
    );
    expect(toHex(build.encode(build.icmpError({ type: "param-problem", pointer: 9 }, q)).subarray(4, 8))).toBe("09000000");
    expect(toHex(build.encode(build.icmpError({ type: "redirect", code: 1, gateway: "10.0.0.1" }, q)).subarray(0, 8))).toMatch(
      /^0501....0a000001$/,
    );
  });

  it("builds ICMPv6 echo and errors with the pseudo-header checksum", () => {
    const echo = build.icmp6Echo({ id: 0x2c01, seq: 3, payload: Uint8Array.of(1, 2, 3) });
    const b = build.encode(build.ipv6({ src: "fd00:10::8", dst: "fd00:10::4" }, echo));
    expect(b[6]).toBe(58);
    expect(toHex(b.subarray(40, 42))).toBe("8000");
    expect(toHex(b.subarray(44, 48))).toBe("2c010003");
    expect(refChecksum(pseudo6("fd00:10::8", "fd00:10::4", 58, 11), b.subarray(40))).toBe(0);
    const reply = build.encode(build.icmp6Echo({ reply: true, id: 1, seq: 1 }));
    expect(reply[0]).toBe(129);
    const ptb = build.icmp6Error({ type: "packet-too-big", mtu: 1280 }, b);
    const p = build.encode(build.ipv6({ src: "fd00:10::1", dst: "fd00:10::8" }, ptb));
    expect(toHex(p.subarray(40, 42))).toBe("0200");
    expect(toHex(p.subarray(44, 48))).toBe("00000500");
    expect(refChecksum(pseudo6("fd00:10::1", "fd00:10::8", 58, p.length - 40), p.subarray(40))).toBe(0);
  });

  it("builds neighbour advertisements and router solicitation and advertisement", () => {
    const na = build.encode(build.ndpNa({ target: "fd00:10::4", router: true, solicited: true, override: true, tll: MAC_B }));
    expect(toHex(na.subarray(0, 2))).toBe("8800");
    expect(toHex(na.subarray(4, 8))).toBe("e0000000");
    expect(toHex(na.subarray(24))).toBe("0201fa163e254ac2");
    const rs = build.encode(build.ndpRs({ sll: MAC_A }));
    expect(toHex(rs)).toBe("8500000000000000" + "0101fa163e8b7c11");
    const ra = build.encode(
      build.ndpRa({
        curHopLimit: 64,
        managed: true,
        routerLifetime: 1800,
        reachableTimeMs: 30000,
        retransTimerMs: 1000,
        sll: MAC_A,
        mtu: 1450,
        prefixes: [{ prefix: "fd00:10::", prefixLength: 64 }],
      }),
    );
    expect(toHex(ra.subarray(0, 16))).toBe("8600000040800708" + "00007530000003e8");
    expect(toHex(ra.subarray(16, 24))).toBe("0101fa163e8b7c11");
    expect(toHex(ra.subarray(24, 32))).toBe("05010000000005aa");
    expect(toHex(ra.subarray(32, 48))).toBe("030440c0000151800000384000000000");
    expect(toHex(ra.subarray(48, 64))).toBe(toHex(parseIPv6("fd00:10::")));
    expect(ra.length).toBe(64);
  });

  it("pads ND options to 8 bytes and passes raw options through", () => {
    expect(toHex(ndOption(1, parseMac(MAC_A)))).toBe("0101fa163e8b7c11");
    expect(ndOption(99, new Uint8Array(7)).length).toBe(16);
    const ns = build.encode(build.ndpNs({ target: "::1", options: Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0) }));
    expect(toHex(ns.subarray(24))).toBe("0100000000000000");
  });
});

describe("TCP, UDP and SCTP", () => {
  it("builds a TCP SYN byte for byte (IP checksum 0a7b, TCP checksum 86d4)", () => {
    const f = build.eth(
      { src: MAC_A, dst: MAC_B },
      build.ipv4(
        { src: "10.0.0.8", dst: "10.0.0.4", id: 0x1c46, df: true },
        build.tcp({ src: 51022, dst: 22, seq: 0x3c0ffee1, flags: "S", window: 64240, options: tcpOpt.mss(1460) }),
      ),
    );
    expect(toHex(f)).toBe(
      "fa163e254ac2fa163e8b7c110800" +
        "4500002c1c4640004006 0a7b 0a000008 0a000004".replace(/ /g, "") +
        "c74e00163c0ffee100000000 6002 faf0 86d4 0000 020405b4".replace(/ /g, ""),
    );
  });

  it("maps flag letters to bits, NS included", () => {
    expect(tcpFlags("FSRPAUECN")).toBe(0x1ff);
    expect(tcpFlags("SA")).toBe(0x12);
    expect(tcpFlags(0x101)).toBe(0x101);
    expect(() => tcpFlags("X")).toThrow(/flag/);
    const seg = build.encode(build.tcp({ src: 1, dst: 2, flags: "NCEUAPRSF" }));
    expect(toHex(seg.subarray(12, 14))).toBe("51ff");
  });

  it("pads TCP options to 4 bytes and sets the data offset", () => {
    const options = concat(tcpOpt.mss(1410), tcpOpt.sackPermitted(), tcpOpt.timestamps(1, 0), tcpOpt.nop(), tcpOpt.wscale(7));
    expect(options.length).toBe(20);
    const seg = build.encode(build.tcp({ src: 1, dst: 2, options: tcpOpt.wscale(7), payload: Uint8Array.of(9) }));
    expect(seg[12] >> 4).toBe(6);
    expect(toHex(seg.subarray(20))).toBe("03030700" + "09");
    const bad = build.encode(build.tcp({ src: 1, dst: 2, dataOffset: 15, checksum: 0x1234, urgent: 5, ack: 7 }));
    expect(bad[12] >> 4).toBe(15);
    expect(toHex(bad.subarray(16, 20))).toBe("12340005");
    expect(toHex(bad.subarray(8, 12))).toBe("00000007");
  });

  it("checksums every TCP and UDP segment over the v4 or v6 pseudo-header", () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.boolean(),
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 0x1ff }),
        fc.uint8Array({ maxLength: 300 }),
        (v6, isTcp, port, seq, flags, payload) => {
          const [src, dst] = v6 ? ["fd00:10::8", "fd00:20::10"] : ["10.0.0.8", "10.1.0.10"];
          const l4: Layer = isTcp
            ? build.tcp({ src: port, dst: 80, seq, ack: seq ^ 0xffff, flags, payload })
            : build.udp({ src: port, dst: 53 }, payload);
          const proto = isTcp ? 6 : 17;
          const b = build.encode(v6 ? build.ipv6({ src, dst }, l4) : build.ipv4({ src, dst }, l4));
          const seg = b.subarray(v6 ? 40 : 20);
          const ph = v6 ? pseudo6(src, dst, proto, seg.length) : pseudo4(src, dst, proto, seg.length);
          expect(refChecksum(ph, seg)).toBe(0);
          if (!isTcp) expect(word(seg, 4)).toBe(seg.length);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("builds a UDP datagram over IPv6 byte for byte (checksum 00ce)", () => {
    const b = build.encode(build.ipv6({ src: "fd00:10::8", dst: "fd00:10::4" }, build.udp({ src: 40000, dst: 53 }, Uint8Array.of(0x68, 0x69))));
    expect(toHex(b.subarray(40))).toBe("9c400035000a00ce6869");
  });

  it("sends a UDP checksum that computes to 0 as ffff, and 0 when asked for none", () => {
    const at = (payload: Uint8Array, checksum?: number): Uint8Array =>
      build.encode(build.ipv4({ src: "10.0.0.8", dst: "10.0.0.4" }, build.udp({ src: 1, dst: 2, checksum }, payload))).subarray(20);
    const c0 = word(at(Uint8Array.of(0, 0)), 6);
    // A payload word equal to the checksum brings the sum to ffff: checksum 0.
    const zero = at(Uint8Array.of(c0 >>> 8, c0 & 0xff));
    expect(word(zero, 6)).toBe(0xffff);
    expect(word(at(Uint8Array.of(1), 0), 6)).toBe(0);
    expect(word(build.encode(build.udp({ src: 1, dst: 2, length: 200 })), 4)).toBe(200);
  });

  it("builds an SCTP INIT with the CRC32c stored least significant byte first", () => {
    const l = build.sctp({ src: 38412, dst: 5000, vtag: 0, chunks: [sctpInit({ initiateTag: 0x1f2e3d4c, initialTsn: 0x10000001 })] });
    const b = build.encode(l);
    expect(b.length).toBe(12 + 20);
    expect(toHex(b.subarray(12, 16))).toBe("01000014");
    const stored = (b[8] | (b[9] << 8) | (b[10] << 16) | (b[11] << 24)) >>> 0;
    const zeroed = b.slice();
    zeroed.fill(0, 8, 12);
    expect(stored).toBe(crc32c(zeroed, 0, zeroed.length));
    const odd = build.encode(build.sctp({ src: 1, dst: 2, vtag: 7, chunks: [{ type: 0, flags: 3, value: Uint8Array.of(1, 2, 3, 4, 5) }] }));
    expect(toHex(odd.subarray(12))).toBe("000300090102030405000000");
    expect(toHex(build.encode(build.sctp({ src: 1, dst: 2, chunks: [], checksum: 0x01020304 })).subarray(8))).toBe("04030201");
  });
});

describe("tunnels and applications", () => {
  const inner = build.eth({ src: MAC_A, dst: MAC_B }, build.ipv4({ src: "10.0.0.8", dst: "10.0.0.4" }, build.icmpEcho({ id: 1, seq: 1 })));

  it("wraps an inner frame in VXLAN over UDP 4789", () => {
    const f = build.eth(
      { src: "52:54:00:12:34:10", dst: "52:54:00:12:34:20" },
      build.ipv4({ src: "192.168.100.10", dst: "192.168.100.20", df: true }, build.udp({ src: 49320, dst: 4789, checksum: 0 }, build.vxlan({ vni: 0x64 }, inner))),
    );
    expect(toHex(f.subarray(34, 42))).toBe("c0a812b5" + "003a" + "0000");
    expect(toHex(f.subarray(42, 50))).toBe("0800000000006400");
    expect(toHex(f.subarray(50))).toBe(toHex(inner));
    expect(toHex(build.encode(build.vxlan({ vni: 0xabcdef, flags: 0 }, new Uint8Array(0))))).toBe("00000000abcdef00");
  });

  it("wraps an inner frame in GRE with a key, and fills in a GRE checksum", () => {
    const g = build.encode(build.gre({ key: 0x64 }, inner));
    expect(toHex(g.subarray(0, 8))).toBe("2000655800000064");
    expect(toHex(g.subarray(8))).toBe(toHex(inner));
    const all = build.encode(build.gre({ key: 1, seq: 2, checksum: true }, inner));
    expect(toHex(all.subarray(0, 4))).toBe("b0006558");
    expect(toHex(all.subarray(8, 16))).toBe("0000000100000002");
    expect(refChecksum(all)).toBe(0);
    const ip = build.ipv4({ src: "1.1.1.1", dst: "2.2.2.2" }, build.gre({}, build.ipv4({ src: "10.0.0.8", dst: "10.0.0.4", proto: 59 })));
    const b = build.encode(ip);
    expect(b[9]).toBe(47);
    expect(toHex(b.subarray(20, 24))).toBe("00000800");
  });

  it("builds DHCP with the magic cookie, the message type first and End last", () => {
    const d = build.encode(
      build.dhcp({
        op: "request",
        xid: 0x3903f326,
        chaddr: MAC_A,
        broadcast: true,
        messageType: "discover",
        options: [dhcpOpt.addrs(50, "10.0.0.8"), dhcpOpt.u16(57, 576), dhcpOpt.classlessRoutes([["169.254.169.254", 32, "10.0.0.2"], ["0.0.0.0", 0, "10.0.0.1"]])],
      }),
    );
    expect(toHex(d.subarray(0, 12))).toBe("010106003903f32600008000");
    expect(toHex(d.subarray(28, 34))).toBe("fa163e8b7c11");
    expect(toHex(d.subarray(236, 243))).toBe("63825363350101");
    expect(toHex(d.subarray(243))).toBe("32040a000008" + "39020240" + "790e" + "20a9fea9fe0a000002" + "000a000001" + "ff");
  });

  it("builds a DNS query and its answer", () => {
    const q = build.encode(build.dns({ id: 0x6b1f, name: "vm-b.openstacklocal" }));
    expect(toHex(q.subarray(0, 12))).toBe("6b1f01000001000000000000");
    expect(toHex(q.subarray(12, 17))).toBe("04766d2d62");
    const a = build.encode(build.dns({ id: 1, name: "a.b", answers: ["10.0.0.4"], ttl: 60 }));
    expect(toHex(a.subarray(2, 8))).toBe("818000010001");
    expect(toHex(a.subarray(a.length - 16))).toBe("c00c000100010000003c00040a000004");
  });
});

/** One frame of every kind the builder makes, for tshark to judge. */
function everyKind(): Uint8Array[] {
  const e = { src: MAC_A, dst: MAC_B };
  const v4 = (l4: Layer, extra = {}): Layer => build.ipv4({ src: "10.0.0.8", dst: "10.0.0.4", ...extra }, l4);
  const v6 = (l4: Layer, extra = {}): Layer => build.ipv6({ src: "fd00:10::8", dst: "fd00:10::4", ...extra }, l4);
  const syn = build.tcp({ src: 51022, dst: 22, seq: 1, flags: "S", options: concat(tcpOpt.mss(1460), tcpOpt.sackPermitted(), tcpOpt.timestamps(1, 0), tcpOpt.nop(), tcpOpt.wscale(7)) });
  const data = build.tcp({ src: 22, dst: 51022, seq: 9, ack: 2, flags: "PA", payload: new TextEncoder().encode("SSH-2.0-x\r\n") });
  const echo = build.icmpEcho({ id: 7, seq: 1, payload: new Uint8Array(56).fill(0x42) });
  const inner = build.eth(e, v4(echo));
  const out: Uint8Array[] = [
    build.eth({ ...e, dst: "ff:ff:ff:ff:ff:ff" }, build.arp({ op: "request", sha: MAC_A, spa: "10.0.0.8", tpa: "10.0.0.4" })),
    build.eth(e, build.arp({ op: "reply", sha: MAC_B, spa: "10.0.0.4", tha: MAC_A, tpa: "10.0.0.8" })),
    build.eth({ ...e, vlans: [{ vid: 10, pcp: 3 }] }, v4(echo)),
    build.eth({ ...e, vlans: [{ tpid: 0x88a8, vid: 200 }, { vid: 10 }] }, v4(echo)),
    build.eth({ ...e, vlans: [{ vid: 300 }, { vid: 100, pcp: 5 }] }, v4(syn)),
    build.eth(e, build.llc({ snap: { oui: 0, type: 0x0800 } }, v4(echo))),
    build.eth(e, v4(echo, { tos: 0xb9, ttl: 9, id: 77, df: true, options: concat(ipv4Opt.nop(), ipv4Opt.recordRoute(9, ["10.0.0.8"])) })),
    build.eth(e, v4(build.icmpEcho({ reply: true, id: 7, seq: 1 }))),
    build.eth(e, v4(build.icmpError({ type: "dest-unreachable", code: 3 }, v4(build.udp({ src: 5000, dst: 9999 }, new Uint8Array(8)))))),
    build.eth(e, v4(syn)),
    build.eth(e, v4(data)),
    build.eth(e, v4(build.tcp({ src: 1, dst: 2, seq: 5, ack: 6, flags: "NCEUAPRSF", urgent: 1, payload: Uint8Array.of(1) }))),
    build.eth(e, v4(build.udp({ src: 53127, dst: 53 }, build.dns({ id: 1, name: "vm-b.openstacklocal" })))),
    build.eth(e, v4(build.sctp({ src: 38412, dst: 5000, chunks: [sctpInit({ initiateTag: 1, initialTsn: 2 })] }))),
    build.eth(e, v6(syn, { trafficClass: 0x10, flowLabel: 0x12345 })),
    build.eth(e, v6(data)),
    build.eth(e, v6(build.udp({ src: 40000, dst: 9999 }, Uint8Array.of(1, 2, 3)))),
    build.eth(e, v6(build.icmp6Echo({ id: 1, seq: 1, payload: new Uint8Array(16) }))),
    build.eth(e, v6(build.ndpNs({ target: "fd00:10::4", sll: MAC_A }), { hopLimit: 255, dst: "ff02::1:ff00:4" })),
    build.eth(e, v6(build.ndpNa({ target: "fd00:10::4", solicited: true, override: true, tll: MAC_B }), { hopLimit: 255 })),
    build.eth(e, v6(build.ndpRs({ sll: MAC_A }), { hopLimit: 255, dst: "ff02::2" })),
    build.eth(e, v6(build.ndpRa({ sll: MAC_B, mtu: 1450, prefixes: [{ prefix: "fd00:10::", prefixLength: 64 }] }), { hopLimit: 255, dst: "ff02::1" })),
    build.eth(e, v6(build.icmp6Error({ type: "time-exceeded" }, build.encode(v6(data))))),
    build.eth(
      e,
      v6(syn, {
        extHeaders: [
          { type: "hop", options: ipv6Opt.routerAlert() },
          { type: "dstopts", options: ipv6Opt.padN(4) },
          { type: "routing", routingType: 0, segmentsLeft: 0, addresses: ["fd00:20::10"] },
          { type: "ah", spi: 0x100, seq: 1 },
        ],
      }),
    ),
    build.eth(e, v4(build.udp({ src: 49320, dst: 4789, checksum: 0 }, build.vxlan({ vni: 0x64 }, inner)))),
    build.eth(e, v4(build.udp({ src: 49321, dst: 4789 }, build.vxlan({ vni: 0x65 }, inner)))),
    build.eth(e, v4(build.gre({ key: 0x64, checksum: true }, inner))),
    build.eth(
      { ...e, dst: "ff:ff:ff:ff:ff:ff" },
      build.ipv4(
        { src: "0.0.0.0", dst: "255.255.255.255" },
        build.udp({ src: 68, dst: 67 }, build.dhcp({ op: "request", xid: 1, chaddr: MAC_A, messageType: "discover", options: [dhcpOpt.addrs(50, "10.0.0.8")] })),
      ),
    ),
  ];
  for (const l3 of build.ipv4Fragments({ src: "10.0.0.8", dst: "10.0.0.4", id: 3 }, build.udp({ src: 1, dst: 5001 }, new Uint8Array(3000).fill(7)), 1480)) {
    out.push(build.eth(e, l3));
  }
  for (const l3 of build.ipv6Fragments({ src: "fd00:10::8", dst: "fd00:10::4", extHeaders: [{ type: "hop" }] }, build.icmp6Echo({ id: 2, seq: 2, payload: new Uint8Array(2000).fill(9) }), 1232, 99)) {
    out.push(build.eth(e, l3));
  }
  return out;
}

const TSHARK = "/usr/bin/tshark";
const hasTshark = existsSync(TSHARK);
const withTshark = hasTshark || process.env.CI === "true" ? it : it.skip;
const TSHARK_CHECKS = ["-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-o", "sctp.checksum:crc-32c"];

/** Lines of tshark's verbose output that report a problem. */
const COMPLAINT = /Malformed|\[incorrect|Status: Bad|status: Bad|Unverified|Bogus|Expert Info \(Error/;
function complaints(out: string, re: RegExp = COMPLAINT): string[] {
  return out.split("\n").filter((line) => re.test(line));
}

function tsharkVerbose(path: string): string {
  return execFileSync(TSHARK, ["-n", "-r", path, "-V", ...TSHARK_CHECKS], { encoding: "utf8", maxBuffer: 64 << 20, stdio: ["ignore", "pipe", "ignore"] });
}

describe("tshark", () => {
  withTshark("decodes a frame of every kind with every checksum good", async () => {
    const { writeCapture } = await import("../io/pcap.js");
    const dir = mkdtempSync(join(tmpdir(), "flowplane-build-"));
    try {
      const frames = everyKind();
      const path = join(dir, "every-kind.pcap");
      writeCapture(path, frames.map((data, i) => ({ data, tsSec: 1700000000, tsNsec: i * 1_000_000 })));
      const out = tsharkVerbose(path);
      expect(complaints(out)).toEqual([]);
      const good = out.match(/\[(Header c|C)hecksum [Ss]tatus: Good\]/g) ?? [];
      expect(good.length).toBeGreaterThanOrEqual(frames.length);
      expect(out).toMatch(/Checksum \(CRC32C\): 0x[0-9a-f]+ \[correct\]/);
      expect(out).toMatch(/Virtual eXtensible Local Area Network/);
      expect(out).toMatch(/Generic Routing Encapsulation/);
      expect(out).toMatch(/\[Reassembled IPv4 length: 3008\]/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  withTshark("decodes every bundled capture but malformed.pcap without complaint", () => {
    const dir = join(fileURLToPath(new URL(".", import.meta.url)), "../../pcaps");
    const files = readdirSync(dir).filter((f) => f.endsWith(".pcap"));
    expect(files).toContain("neutron-default.pcap");
    for (const f of files) {
      const out = tsharkVerbose(join(dir, f));
      if (f === "malformed.pcap") {
        expect(complaints(out, /Malformed/).length).toBeGreaterThan(0);
        continue;
      }
      expect(complaints(out).map((line) => `${f}: ${line.trim()}`)).toEqual([]);
    }
  });
});
