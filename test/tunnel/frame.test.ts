/**
 * Outer headers on frame bytes, checked against the test frame builders
 * (src/packet/build-encap.ts), an independent encoder: pushing a template
 * must give exactly the frame the builder makes from the same fields, and
 * popping must refuse what OVS's netdev_*_pop_header refuses.
 */
import { describe, it, expect } from "vitest";
import { buildTunnelHeader, formatTunnelHeader, type TunnelHeaderParams } from "../../src/tunnel/header.js";
import { pushTunnelHeader, popTunnelHeader, popped, TNL_F_CSUM, TNL_F_KEY } from "../../src/tunnel/frame.js";
import { hash5Tuple, udpSourcePort, TNL_UDP_PORT_MIN, TNL_UDP_PORT_MAX } from "../../src/tunnel/hash.js";
import { eth, ipv4, udp, tcp, vxlan, gre, arp } from "../../src/packet/build.js";
import { Parser, HDR_WORDS } from "../../src/packet/parse.js";
import * as L from "../../src/flow/layout.js";

const inner = eth({ src: "fa:16:3e:00:00:01", dst: "fa:16:3e:00:00:02" }, ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }, udp({ src: 1000, dst: 53 }, new Uint8Array(7).fill(0xab))));

const params = (over: Partial<TunnelHeaderParams>): TunnelHeaderParams => ({
  kind: "vxlan",
  dmacHi: 0xf8bc,
  dmacLo: 0x124434b6,
  smacHi: 0xaa55,
  smacLo: 0xaa550000,
  src: 0x01010258,
  dst: 0x0101025c,
  tos: 0,
  ttl: 64,
  dontFragment: true,
  dstPort: 4789,
  csum: false,
  key: 123,
  keyPresent: true,
  ...over,
});

function pushed(p: TunnelHeaderParams, frame: Uint8Array, hash: number): Uint8Array {
  const h = buildTunnelHeader(p);
  const buf = new Uint8Array(64 + frame.length);
  buf.set(frame, 64);
  const at = pushTunnelHeader(buf, 64, frame.length, h.bytes, h.size, p.kind === "vxlan", hash);
  expect(at).toBe(64 - h.size);
  return buf.subarray(at);
}

const outerIp = { src: "1.1.2.88", dst: "1.1.2.92", df: true, ttl: 64 };
const outerEth = { src: "aa:55:aa:55:00:00", dst: "f8:bc:12:44:34:b6" };

describe("tnl_push on bytes", () => {
  it("builds the VXLAN frame the builder builds: lengths, IP checksum, source port from the hash, no UDP checksum", () => {
    const sport = udpSourcePort(0x12345678);
    const want = eth(outerEth, ipv4(outerIp, udp({ src: sport, dst: 4789, checksum: 0 }, vxlan({ vni: 123 }, inner))));
    expect(Buffer.from(pushed(params({}), inner, 0x12345678)).toString("hex")).toBe(Buffer.from(want).toString("hex"));
  });

  it("computes the UDP checksum over the whole datagram when csum=true, TOS and TTL as given, no DF", () => {
    const p = params({ csum: true, tos: 0xb8, ttl: 9, dontFragment: false, dstPort: 8472, key: 0xabcdef });
    const want = eth(outerEth, ipv4({ ...outerIp, df: false, tos: 0xb8, ttl: 9 }, udp({ src: udpSourcePort(7), dst: 8472 }, vxlan({ vni: 0xabcdef }, inner))));
    expect(Buffer.from(pushed(p, inner, 7)).toString("hex")).toBe(Buffer.from(want).toString("hex"));
  });

  it("builds GRE with key, with checksum and key, and with neither", () => {
    for (const [csum, keyPresent] of [[false, true], [true, true], [true, false], [false, false]] as const) {
      const p = params({ kind: "gre", csum, keyPresent, key: 0x1c8 });
      const want = eth(outerEth, ipv4({ ...outerIp, proto: 47 }, gre({ key: keyPresent ? 0x1c8 : undefined, checksum: csum, proto: 0x6558 }, inner)));
      expect(Buffer.from(pushed(p, inner, 99)).toString("hex")).toBe(Buffer.from(want).toString("hex"));
    }
  });

  it("prints templates as ofproto/trace does", () => {
    expect(formatTunnelHeader(buildTunnelHeader(params({})))).toBe(
      "header(size=50,type=4,eth(dst=f8:bc:12:44:34:b6,src=aa:55:aa:55:00:00,dl_type=0x0800),ipv4(src=1.1.2.88,dst=1.1.2.92,proto=17,tos=0,ttl=64,frag=0x4000),udp(src=0,dst=4789,csum=0x0),vxlan(flags=0x8000000,vni=0x7b))",
    );
    expect(formatTunnelHeader(buildTunnelHeader(params({ kind: "gre", csum: true, key: 0x1c8 })))).toBe(
      "header(size=46,type=3,eth(dst=f8:bc:12:44:34:b6,src=aa:55:aa:55:00:00,dl_type=0x0800),ipv4(src=1.1.2.88,dst=1.1.2.92,proto=47,tos=0,ttl=64,frag=0x4000),gre((flags=0xa000,proto=0x6558),csum=0x0,key=0x1c8))",
    );
  });
});

describe("the source-port hash (miniflow_hash_5tuple)", () => {
  const keyOf = (frame: Uint8Array): Uint32Array => {
    const k = new Uint32Array(L.KEY_WORDS);
    new Parser().parseFrame(frame, 0, frame.length, 3, k, 0, new Uint16Array(HDR_WORDS), 0);
    return k;
  };
  const f = (o: { smac?: string; ttl?: number; sport?: number; dst?: string }): Uint8Array =>
    eth({ src: o.smac ?? "fa:16:3e:00:00:01", dst: "fa:16:3e:00:00:02" }, ipv4({ src: "10.0.0.1", dst: o.dst ?? "10.0.0.2", ttl: o.ttl ?? 64 }, tcp({ src: o.sport ?? 1, dst: 80 })));

  it("depends on addresses, protocol and ports only", () => {
    const h = hash5Tuple(keyOf(f({})), 0);
    expect(hash5Tuple(keyOf(f({ smac: "fa:16:3e:00:00:09", ttl: 3 })), 0)).toBe(h);
    expect(hash5Tuple(keyOf(f({ sport: 2 })), 0)).not.toBe(h);
    expect(hash5Tuple(keyOf(f({ dst: "10.0.0.3" })), 0)).not.toBe(h);
    // Non-IP frames hash to one constant; ARP hashes its addresses.
    const arpA = keyOf(eth({ src: "fa:16:3e:00:00:01", dst: "ff:ff:ff:ff:ff:ff" }, arp({ op: "request", sha: "fa:16:3e:00:00:01", spa: "10.0.0.1", tpa: "10.0.0.2" })));
    const arpB = keyOf(eth({ src: "fa:16:3e:00:00:01", dst: "ff:ff:ff:ff:ff:ff" }, arp({ op: "request", sha: "fa:16:3e:00:00:01", spa: "10.0.0.1", tpa: "10.0.0.3" })));
    expect(hash5Tuple(arpA, 0)).not.toBe(hash5Tuple(arpB, 0));
  });

  it("maps every hash into OVS's egress port range", () => {
    for (const h of [0, 1, 0x7fffffff, 0x80000000, 0xffffffff]) {
      const p = udpSourcePort(h);
      expect(p).toBeGreaterThanOrEqual(TNL_UDP_PORT_MIN);
      expect(p).toBeLessThan(TNL_UDP_PORT_MAX);
    }
    expect(udpSourcePort(0)).toBe(32768);
    expect(udpSourcePort(0xffffffff)).toBe(60999);
  });
});

describe("tnl_pop on bytes", () => {
  const vx = (o: { vni?: number; flags?: number; csum?: number; ipOptions?: Uint8Array; ipCsum?: number; totalLength?: number } = {}): Uint8Array =>
    eth(outerEth, ipv4({ ...outerIp, options: o.ipOptions, checksum: o.ipCsum, totalLength: o.totalLength }, udp({ src: 40000, dst: 4789, checksum: o.csum }, vxlan({ vni: o.vni ?? 0x7b, flags: o.flags }, inner))));
  const pop = (f: Uint8Array, udpTunnel = true): boolean => popTunnelHeader(f, 0, f.length, 14, udpTunnel);

  it("strips VXLAN and reports VNI, addresses, TOS/TTL, ports and the checksum flag", () => {
    const f = vx();
    expect(pop(f)).toBe(true);
    expect(Buffer.from(f.subarray(popped.start, popped.start + popped.length)).equals(Buffer.from(inner))).toBe(true);
    expect(popped).toMatchObject({ tunId: 0x7b, src: 0x01010258, dst: 0x0101025c, ttl: 64, tos: 0, tpSrc: 40000, tpDst: 4789, flags: TNL_F_KEY | TNL_F_CSUM });
    expect(pop(vx({ csum: 0 }))).toBe(true);
    expect(popped.flags).toBe(TNL_F_KEY);
  });

  it("strips GRE with key and checksum; a GRE without key has tun_id 0", () => {
    const f = eth(outerEth, ipv4({ ...outerIp, proto: 47 }, gre({ key: 0x1c8, checksum: true, seq: 5, proto: 0x6558 }, inner)));
    expect(pop(f, false)).toBe(true);
    expect(popped).toMatchObject({ tunId: 0x1c8, flags: TNL_F_CSUM | TNL_F_KEY, tpSrc: 0, tpDst: 0 });
    expect(popped.length).toBe(inner.length);
    const g = eth(outerEth, ipv4({ ...outerIp, proto: 47 }, gre({ proto: 0x6558 }, inner)));
    expect(pop(g, false)).toBe(true);
    expect(popped).toMatchObject({ tunId: 0, flags: 0 });
  });

  it.each([
    ["a wrong IP header checksum", vx({ ipCsum: 0x1234 })],
    ["IP options", vx({ ipOptions: new Uint8Array([1, 1, 1, 1]) })],
    ["an IP total length beyond the frame", vx({ totalLength: 500 })],
    ["a wrong UDP checksum", vx({ csum: 0x1234 })],
    ["VXLAN flags other than I", vx({ flags: 0x0c })],
    ["a truncated VXLAN header", vx().subarray(0, 14 + 20 + 8 + 4)],
  ])("refuses %s", (_why, f) => {
    expect(pop(f)).toBe(false);
  });

  it("refuses a VNI word with its low byte set, unknown GRE flags, a wrong GRE checksum, non-Ethernet GRE", () => {
    const f = vx();
    f[14 + 20 + 8 + 7] = 1;
    expect(pop(f)).toBe(false);
    const routing = eth(outerEth, ipv4({ ...outerIp, proto: 47 }, gre({ proto: 0x6558 }, inner)));
    routing[34] |= 0x40;
    // The IP checksum does not cover GRE, so only the GRE flags are wrong.
    expect(pop(routing, false)).toBe(false);
    const badSum = eth(outerEth, ipv4({ ...outerIp, proto: 47 }, gre({ checksum: true, proto: 0x6558 }, inner)));
    badSum[38] ^= 0xff;
    expect(pop(badSum, false)).toBe(false);
    const l3gre = eth(outerEth, ipv4({ ...outerIp, proto: 47 }, gre({ proto: 0x0800 }, inner)));
    expect(pop(l3gre, false)).toBe(false);
  });
});
