/**
 * Generates the bundled captures in this folder: `npx tsx pcaps/generate.ts`.
 * Invariant: the output is deterministic, byte for byte: fixed addresses,
 * sequence numbers and ids, and timestamps from 1700000000.000000 one
 * millisecond apart in every file, so regenerating changes nothing unless
 * this file changes.
 * Design: the traffic of a small OpenStack Neutron deployment, as seen on
 * br-int: vm-a (10.0.0.8) and vm-b (10.0.0.4) on net1 with the router's port
 * 10.0.0.1 and the DHCP port 10.0.0.2; vm-c (10.1.0.10) on net2 behind the
 * router (10.1.0.1); the external network 172.24.4.0/24 where vm-a's floating
 * IP is 172.24.4.10; the metadata service at 169.254.169.254; two hypervisors
 * 192.168.100.10 and .20 joined by VXLAN. Each flow is a list of frame specs
 * (Ethernet options plus the L3 layer), so the same traffic can be written
 * untagged, 802.1Q tagged or double tagged.
 * Limits: the traffic is plausible, not captured; MTU 1450 as on a VXLAN
 * tenant network (MSS 1410), except where fragments are the point.
 */
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { type CaptureFrame, writeCapture } from "../src/io/pcap.js";
import {
  type EthOptions,
  type Layer,
  type VlanTag,
  build,
  concat,
  dhcpOpt,
  ipv4Opt,
  ipv6Opt,
  ipv6MulticastMac,
  linkLocalFromMac,
  sctpInit,
  solicitedNode,
  tcpOpt,
  toHex,
} from "../src/packet/build.js";

const OUT_DIR = dirname(fileURLToPath(import.meta.url));
const TS_START_SEC = 1700000000;
const TS_STEP_NS = 1_000_000;

/** One frame before serialisation: Ethernet options and what they carry. */
interface Spec {
  eth: EthOptions;
  l3: Layer | Uint8Array;
}

interface Host {
  name: string;
  mac: string;
  ip: string;
  ip6: string;
  ll6: string;
}

const BCAST_MAC = "ff:ff:ff:ff:ff:ff";

function ip6Text(b: Uint8Array): string {
  const hex = toHex(b);
  const words: string[] = [];
  for (let i = 0; i < 32; i += 4) words.push(parseInt(hex.slice(i, i + 4), 16).toString(16));
  return words.join(":");
}

/** A Neutron port: SLAAC address from the MAC on the subnet's /64. */
function host(name: string, mac: string, ip: string, prefix6: string): Host {
  const ll = linkLocalFromMac(mac);
  const ll6 = ip6Text(ll);
  const iid = ll6.split(":").slice(4).join(":");
  return { name, mac, ip, ip6: `${prefix6}${iid}`, ll6 };
}

const VM_A = host("vm-a", "fa:16:3e:8b:7c:11", "10.0.0.8", "fd00:10::");
const VM_B = host("vm-b", "fa:16:3e:25:4a:c2", "10.0.0.4", "fd00:10::");
const DHCP_PORT = host("dhcp", "fa:16:3e:d4:11:02", "10.0.0.2", "fd00:10::");
const GW1 = host("router-net1", "fa:16:3e:5e:0d:01", "10.0.0.1", "fd00:10::");
const GW2 = host("router-net2", "fa:16:3e:1f:6a:01", "10.1.0.1", "fd00:20::");
const VM_C = host("vm-c", "fa:16:3e:c9:3d:10", "10.1.0.10", "fd00:20::");
const VM_D = host("vm-d", "fa:16:3e:44:9b:20", "10.1.0.20", "fd00:20::");
const GW_EXT = host("router-ext", "fa:16:3e:7a:22:4b", "172.24.4.220", "2001:db8::");
const EXT_HOST = host("br-ex", "3a:2b:9c:00:04:01", "172.24.4.1", "2001:db8::");
const FLOATING_IP_A = "172.24.4.10";
const METADATA_IP = "169.254.169.254";
const HV1 = { mac: "52:54:00:12:34:10", ip: "192.168.100.10" };
const HV2 = { mac: "52:54:00:12:34:20", ip: "192.168.100.20" };
const VNI_NET1 = 0x64;
const VNI_NET2 = 0x65;

/** Per-sender IPv4 ids, incremented per packet as Linux does per socket. */
const ipIds = new Map<string, number>();
function nextId(ip: string): number {
  const id = ipIds.get(ip) ?? 0x1c46 + ipIds.size * 0x0f31;
  ipIds.set(ip, (id + 1) & 0xffff);
  return id;
}

function frame(spec: Spec, vlans?: VlanTag[]): Uint8Array {
  return build.eth({ ...spec.eth, vlans }, spec.l3);
}

function frames(specs: Spec[], vlans?: VlanTag[]): Uint8Array[] {
  return specs.map((s) => frame(s, vlans));
}

function stamp(list: Uint8Array[]): CaptureFrame[] {
  return list.map((data, i) => {
    const ns = i * TS_STEP_NS;
    return { data, tsSec: TS_START_SEC + Math.floor(ns / 1e9), tsNsec: ns % 1e9 };
  });
}

const written: [string, number][] = [];
function write(name: string, list: Uint8Array[]): void {
  writeCapture(join(OUT_DIR, name), stamp(list));
  written.push([name, list.length]);
}

/** What `ping` sends: 8 bytes of timeval then 0x10, 0x11, ... */
function pingData(size: number, seq: number): Uint8Array {
  const d = new Uint8Array(size);
  const sec = TS_START_SEC + seq;
  d[0] = sec & 0xff;
  d[1] = (sec >>> 8) & 0xff;
  d[2] = (sec >>> 16) & 0xff;
  d[3] = sec >>> 24;
  for (let i = 8; i < size; i++) d[i] = (0x10 + i - 8) & 0xff;
  return d;
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

// ---------------------------------------------------------------- ARP

function arpRequest(from: { mac: string; ip: string }, targetIp: string): Spec {
  return {
    eth: { src: from.mac, dst: BCAST_MAC },
    l3: build.arp({ op: "request", sha: from.mac, spa: from.ip, tpa: targetIp }),
  };
}

function arpReply(from: { mac: string; ip: string }, to: { mac: string; ip: string }): Spec {
  return {
    eth: { src: from.mac, dst: to.mac },
    l3: build.arp({ op: "reply", sha: from.mac, spa: from.ip, tha: to.mac, tpa: to.ip }),
  };
}

function arpFlows(): Spec[] {
  return [
    arpRequest(VM_A, GW1.ip),
    arpReply(GW1, VM_A),
    arpRequest(VM_A, VM_B.ip),
    arpReply(VM_B, VM_A),
    // Gratuitous ARP, as a VM sends when its port comes up.
    {
      eth: { src: VM_B.mac, dst: BCAST_MAC },
      l3: build.arp({ op: "request", sha: VM_B.mac, spa: VM_B.ip, tpa: VM_B.ip }),
    },
    arpRequest(VM_C, GW2.ip),
    arpReply(GW2, VM_C),
    arpRequest(GW1, VM_B.ip),
    arpReply(VM_B, GW1),
  ];
}

// ---------------------------------------------------------------- ICMP

interface PingOptions {
  id: number;
  seq: number;
  size?: number;
  tos?: number;
  options?: Uint8Array;
  replyOptions?: Uint8Array;
}

/** One echo request and its reply between two hosts on the same network. */
function ping(a: Host, b: Host, o: PingOptions): Spec[] {
  const data = pingData(o.size ?? 56, o.seq);
  const tos = o.tos ?? 0;
  return [
    {
      eth: { src: a.mac, dst: b.mac },
      l3: build.ipv4(
        { src: a.ip, dst: b.ip, id: nextId(a.ip), df: true, tos, options: o.options },
        build.icmpEcho({ id: o.id, seq: o.seq, payload: data }),
      ),
    },
    {
      eth: { src: b.mac, dst: a.mac },
      l3: build.ipv4(
        { src: b.ip, dst: a.ip, id: nextId(b.ip), tos, options: o.replyOptions },
        build.icmpEcho({ reply: true, id: o.id, seq: o.seq, payload: data }),
      ),
    },
  ];
}

/** vm-a pings vm-c through the router: each direction seen on both networks. */
function routedPing(seq: number): Spec[] {
  const data = pingData(56, seq);
  const id = 0x0b7e;
  const reqId = nextId(VM_A.ip);
  const repId = nextId(VM_C.ip);
  const req = (ttl: number): Layer =>
    build.ipv4({ src: VM_A.ip, dst: VM_C.ip, id: reqId, df: true, ttl }, build.icmpEcho({ id, seq, payload: data }));
  const rep = (ttl: number): Layer =>
    build.ipv4(
      { src: VM_C.ip, dst: VM_A.ip, id: repId, ttl },
      build.icmpEcho({ reply: true, id, seq, payload: data }),
    );
  return [
    { eth: { src: VM_A.mac, dst: GW1.mac }, l3: req(64) },
    { eth: { src: GW2.mac, dst: VM_C.mac }, l3: req(63) },
    { eth: { src: VM_C.mac, dst: GW2.mac }, l3: rep(64) },
    { eth: { src: GW1.mac, dst: VM_A.mac }, l3: rep(63) },
  ];
}

/** An external host pings vm-a's floating IP: seen on br-ex, then DNATed on net1. */
function floatingPing(seq: number): Spec[] {
  const data = pingData(56, seq);
  const id = 0x4d21;
  const reqId = nextId(EXT_HOST.ip);
  const repId = nextId(VM_A.ip);
  return [
    {
      eth: { src: EXT_HOST.mac, dst: GW_EXT.mac },
      l3: build.ipv4({ src: EXT_HOST.ip, dst: FLOATING_IP_A, id: reqId, df: true }, build.icmpEcho({ id, seq, payload: data })),
    },
    {
      eth: { src: GW1.mac, dst: VM_A.mac },
      l3: build.ipv4({ src: EXT_HOST.ip, dst: VM_A.ip, id: reqId, df: true, ttl: 63 }, build.icmpEcho({ id, seq, payload: data })),
    },
    {
      eth: { src: VM_A.mac, dst: GW1.mac },
      l3: build.ipv4({ src: VM_A.ip, dst: EXT_HOST.ip, id: repId }, build.icmpEcho({ reply: true, id, seq, payload: data })),
    },
    {
      eth: { src: GW_EXT.mac, dst: EXT_HOST.mac },
      l3: build.ipv4(
        { src: FLOATING_IP_A, dst: EXT_HOST.ip, id: repId, ttl: 63 },
        build.icmpEcho({ reply: true, id, seq, payload: data }),
      ),
    },
  ];
}

/** A traceroute probe with TTL 1 and the router's time-exceeded answer. */
function traceroute(): Spec[] {
  const probe = build.ipv4(
    { src: VM_A.ip, dst: VM_C.ip, id: nextId(VM_A.ip), ttl: 1 },
    build.udp({ src: 45123, dst: 33434 }, pingData(32, 0)),
  );
  return [
    { eth: { src: VM_A.mac, dst: GW1.mac }, l3: probe },
    {
      eth: { src: GW1.mac, dst: VM_A.mac },
      l3: build.ipv4(
        { src: GW1.ip, dst: VM_A.ip, id: nextId(GW1.ip), tos: 0xc0 },
        build.icmpError({ type: "time-exceeded", code: 0 }, probe),
      ),
    },
  ];
}

function icmpFlows(): Spec[] {
  return [
    ...ping(VM_A, VM_B, { id: 0x0b7d, seq: 1 }),
    ...ping(VM_A, VM_B, { id: 0x0b7d, seq: 2 }),
    ...ping(VM_B, VM_A, { id: 0x1a2f, seq: 1, size: 8 }),
    ...routedPing(1),
    ...routedPing(2),
    ...traceroute(),
  ];
}

// ---------------------------------------------------------------- TCP

interface Endpoint {
  mac: string;
  ip: string;
  port: number;
  /** MAC the endpoint sends to: the peer's, or the router's when routed. */
  nextHopMac: string;
  isn: number;
}

/** A TCP conversation that keeps sequence numbers, timestamps and ids. */
class TcpFlow {
  private readonly ends: [Endpoint, Endpoint];
  private readonly seq: [number, number];
  private readonly tsVal: [number, number];
  private readonly v6: boolean;
  private readonly mss: number;
  tos = 0;

  constructor(client: Endpoint, server: Endpoint, v6 = false) {
    this.ends = [client, server];
    this.seq = [client.isn, server.isn];
    this.tsVal = [0x2a3b4c00 + client.port, 0x7e000000 + server.port];
    this.v6 = v6;
    this.mss = v6 ? 1390 : 1410;
  }

  private spec(dir: 0 | 1, flags: string, options: Uint8Array, payload?: Uint8Array, window = 502): Spec {
    const from = this.ends[dir];
    const to = this.ends[1 - dir];
    const peerSeq = this.seq[1 - dir];
    const seg = build.tcp({
      src: from.port,
      dst: to.port,
      seq: this.seq[dir],
      ack: flags.includes("A") ? peerSeq : 0,
      flags,
      window,
      options,
      payload,
    });
    const l3 = this.v6
      ? build.ipv6({ src: from.ip, dst: to.ip, flowLabel: 0x5d3a1 + dir, trafficClass: this.tos }, seg)
      : build.ipv4({ src: from.ip, dst: to.ip, id: nextId(from.ip), df: true, tos: this.tos }, seg);
    return { eth: { src: from.mac, dst: from.nextHopMac }, l3 };
  }

  private tsOpt(dir: 0 | 1): Uint8Array {
    const echo = this.tsVal[1 - dir];
    this.tsVal[dir] += 4;
    return concat(tcpOpt.nop(), tcpOpt.nop(), tcpOpt.timestamps(this.tsVal[dir], echo));
  }

  private synOptions(dir: 0 | 1, echo: number): Uint8Array {
    this.tsVal[dir] += 1;
    return concat(
      tcpOpt.mss(this.mss),
      tcpOpt.sackPermitted(),
      tcpOpt.timestamps(this.tsVal[dir], echo),
      tcpOpt.nop(),
      tcpOpt.wscale(7),
    );
  }

  syn(flags = "S"): Spec {
    const s = this.spec(0, flags, this.synOptions(0, 0), undefined, 64240);
    this.seq[0] += 1;
    return s;
  }

  synAck(flags = "SA"): Spec {
    const s = this.spec(1, flags, this.synOptions(1, this.tsVal[0]), undefined, 65160);
    this.seq[1] += 1;
    return s;
  }

  /** The server refuses the connection (closed port). */
  rst(): Spec {
    const s = this.spec(1, "RA", new Uint8Array(0), undefined, 0);
    return s;
  }

  ack(dir: 0 | 1, flags = "A"): Spec {
    return this.spec(dir, flags, this.tsOpt(dir));
  }

  send(dir: 0 | 1, data: Uint8Array, flags = "PA"): Spec {
    const s = this.spec(dir, flags, this.tsOpt(dir), data);
    this.seq[dir] += data.length;
    return s;
  }

  fin(dir: 0 | 1): Spec {
    const s = this.spec(dir, "FA", this.tsOpt(dir));
    this.seq[dir] += 1;
    return s;
  }

  handshake(): Spec[] {
    return [this.syn(), this.synAck(), this.ack(0)];
  }

  teardown(): Spec[] {
    return [this.fin(0), this.fin(1), this.ack(0)];
  }
}

function endpoint(h: { mac: string; ip: string }, port: number, nextHopMac: string, isn: number): Endpoint {
  return { mac: h.mac, ip: h.ip, port, nextHopMac, isn };
}

function sshSession(): Spec[] {
  const f = new TcpFlow(endpoint(VM_A, 51022, VM_B.mac, 0x3c0ffee1), endpoint(VM_B, 22, VM_A.mac, 0x9b2d4e10));
  return [
    ...f.handshake(),
    f.send(1, text("SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6\r\n")),
    f.ack(0),
    f.send(0, text("SSH-2.0-OpenSSH_9.6\r\n")),
    f.ack(1),
    ...f.teardown(),
  ];
}

function httpSession(): Spec[] {
  const f = new TcpFlow(endpoint(VM_B, 40312, VM_A.mac, 0x11223344), endpoint(VM_A, 80, VM_B.mac, 0x55667788));
  return [
    ...f.handshake(),
    f.send(0, text("GET / HTTP/1.1\r\nHost: 10.0.0.8\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n")),
    f.ack(1),
    f.send(1, text("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nhello vm-a\r\n")),
    f.ack(0),
    ...f.teardown(),
  ];
}

/** vm-a asks the metadata service, which answers from the router's namespace. */
function metadataSession(): Spec[] {
  const f = new TcpFlow(
    endpoint(VM_A, 47590, GW1.mac, 0x6e0a1b2c),
    endpoint({ mac: GW1.mac, ip: METADATA_IP }, 80, VM_A.mac, 0x0d15ea5e),
  );
  return [
    ...f.handshake(),
    f.send(0, text("GET /openstack/latest/meta_data.json HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n")),
    f.send(
      1,
      text('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 30\r\n\r\n{"uuid": "vm-a", "name": "a"}\n'),
    ),
    ...f.teardown(),
  ];
}

function telnetRefused(): Spec[] {
  const f = new TcpFlow(endpoint(VM_A, 36004, VM_B.mac, 0x7a7a0001), endpoint(VM_B, 23, VM_A.mac, 0));
  return [f.syn(), f.rst()];
}

/** vm-a opens SSH to vm-c across the router. */
function routedSsh(): Spec[] {
  const f = new TcpFlow(endpoint(VM_A, 51388, GW1.mac, 0x01020304), endpoint(VM_C, 22, GW2.mac, 0x0a0b0c0d));
  return f.handshake();
}

// ---------------------------------------------------------------- DHCP and DNS

function dhcpExchange(client: Host, xid: number): Spec[] {
  const serverOptions = [
    dhcpOpt.addrs(54, DHCP_PORT.ip),
    dhcpOpt.u32(51, 86400),
    dhcpOpt.u32(58, 43200),
    dhcpOpt.u32(59, 75600),
    dhcpOpt.addrs(1, "255.255.255.0"),
    dhcpOpt.addrs(28, "10.0.0.255"),
    dhcpOpt.text(15, "openstacklocal"),
    dhcpOpt.text(12, `host-${client.ip.replaceAll(".", "-")}`),
    dhcpOpt.classlessRoutes([
      [METADATA_IP, 32, DHCP_PORT.ip],
      ["0.0.0.0", 0, GW1.ip],
    ]),
    dhcpOpt.addrs(3, GW1.ip),
    dhcpOpt.addrs(6, DHCP_PORT.ip),
    dhcpOpt.u16(26, 1450),
  ];
  const paramList = { code: 55, data: [1, 28, 2, 3, 15, 6, 119, 12, 44, 47, 26, 121, 42] };
  const fromClient = (messageType: "discover" | "request", extra: { code: number; data: Uint8Array | number[] }[]): Spec => ({
    eth: { src: client.mac, dst: BCAST_MAC },
    l3: build.ipv4(
      { src: "0.0.0.0", dst: "255.255.255.255", tos: 0x10, ttl: 64, id: 0 },
      build.udp(
        { src: 68, dst: 67 },
        build.dhcp({
          op: "request",
          xid,
          chaddr: client.mac,
          broadcast: true,
          messageType,
          options: [...extra, dhcpOpt.u16(57, 576), paramList],
        }),
      ),
    ),
  });
  const fromServer = (messageType: "offer" | "ack"): Spec => ({
    eth: { src: DHCP_PORT.mac, dst: BCAST_MAC },
    l3: build.ipv4(
      { src: DHCP_PORT.ip, dst: "255.255.255.255", tos: 0xc0, id: nextId(DHCP_PORT.ip) },
      build.udp(
        { src: 67, dst: 68 },
        build.dhcp({
          op: "reply",
          xid,
          chaddr: client.mac,
          broadcast: true,
          yiaddr: client.ip,
          siaddr: DHCP_PORT.ip,
          messageType,
          options: serverOptions,
        }),
      ),
    ),
  });
  return [
    fromClient("discover", []),
    fromServer("offer"),
    fromClient("request", [dhcpOpt.addrs(50, client.ip), dhcpOpt.addrs(54, DHCP_PORT.ip)]),
    fromServer("ack"),
  ];
}

function dnsLookup(): Spec[] {
  const id = 0x6b1f;
  const name = "vm-b.openstacklocal";
  return [
    {
      eth: { src: VM_A.mac, dst: DHCP_PORT.mac },
      l3: build.ipv4(
        { src: VM_A.ip, dst: DHCP_PORT.ip, id: nextId(VM_A.ip) },
        build.udp({ src: 53127, dst: 53 }, build.dns({ id, name })),
      ),
    },
    {
      eth: { src: DHCP_PORT.mac, dst: VM_A.mac },
      l3: build.ipv4(
        { src: DHCP_PORT.ip, dst: VM_A.ip, id: nextId(DHCP_PORT.ip) },
        build.udp({ src: 53, dst: 53127 }, build.dns({ id, name, answers: [VM_B.ip], ttl: 0 })),
      ),
    },
  ];
}

// ---------------------------------------------------------------- IPv6

const ALL_NODES = "ff02::1";
const ALL_ROUTERS = "ff02::2";

function icmp6Spec(srcMac: string, dstMac: string | Uint8Array, src: string, dst: string, l4: Layer, hopLimit = 255): Spec {
  return { eth: { src: srcMac, dst: dstMac }, l3: build.ipv6({ src, dst, hopLimit }, l4) };
}

function routerSolicitation(h: Host): Spec {
  return icmp6Spec(h.mac, ipv6MulticastMac(ALL_ROUTERS), h.ll6, ALL_ROUTERS, build.ndpRs({ sll: h.mac }));
}

function routerAdvertisement(): Spec {
  return icmp6Spec(
    GW1.mac,
    ipv6MulticastMac(ALL_NODES),
    GW1.ll6,
    ALL_NODES,
    build.ndpRa({
      curHopLimit: 64,
      routerLifetime: 1800,
      sll: GW1.mac,
      mtu: 1450,
      prefixes: [{ prefix: "fd00:10::", prefixLength: 64, validLifetime: 86400, preferredLifetime: 14400 }],
    }),
  );
}

/** `a` resolves `b`'s global address: NS to the solicited-node group, NA back. */
function neighbourExchange(a: Host, b: Host): Spec[] {
  const group = solicitedNode(b.ip6);
  return [
    icmp6Spec(a.mac, ipv6MulticastMac(group), a.ip6, ip6Text(group), build.ndpNs({ target: b.ip6, sll: a.mac })),
    icmp6Spec(b.mac, a.mac, b.ip6, a.ip6, build.ndpNa({ target: b.ip6, solicited: true, override: true, tll: b.mac })),
  ];
}

/** Duplicate address detection: NS from :: with no SLL option. */
function dadProbe(h: Host): Spec {
  const group = solicitedNode(h.ip6);
  return icmp6Spec(h.mac, ipv6MulticastMac(group), "::", ip6Text(group), build.ndpNs({ target: h.ip6 }));
}

function ping6(a: Host, b: Host, seq: number): Spec[] {
  const data = pingData(56, seq);
  return [
    icmp6Spec(a.mac, b.mac, a.ip6, b.ip6, build.icmp6Echo({ id: 0x2c01, seq, payload: data }), 64),
    icmp6Spec(b.mac, a.mac, b.ip6, a.ip6, build.icmp6Echo({ reply: true, id: 0x2c01, seq, payload: data }), 64),
  ];
}

function tcp6Syn(): Spec[] {
  const f = new TcpFlow(
    endpoint({ mac: VM_A.mac, ip: VM_A.ip6 }, 50112, VM_B.mac, 0x13572468),
    endpoint({ mac: VM_B.mac, ip: VM_B.ip6 }, 22, VM_A.mac, 0x24681357),
    true,
  );
  return [f.syn(), f.synAck()];
}

/** A 2400-byte UDP datagram sent with a hop-by-hop header, in fragments. */
function ipv6Fragmented(): Spec[] {
  const payload = new Uint8Array(2400);
  for (let i = 0; i < payload.length; i++) payload[i] = i & 0xff;
  const parts = build.ipv6Fragments(
    {
      src: VM_A.ip6,
      dst: VM_B.ip6,
      extHeaders: [{ type: "hop", options: ipv6Opt.padN(6) }],
    },
    build.udp({ src: 41000, dst: 5001 }, payload),
    1232,
    0x5eed0001,
  );
  return parts.map((l3) => ({ eth: { src: VM_A.mac, dst: VM_B.mac }, l3 }));
}

/** An echo request carrying a destination options header. */
function ping6DstOpts(): Spec {
  return {
    eth: { src: VM_A.mac, dst: VM_B.mac },
    l3: build.ipv6(
      { src: VM_A.ip6, dst: VM_B.ip6, extHeaders: [{ type: "dstopts", options: ipv6Opt.padN(6) }] },
      build.icmp6Echo({ id: 0x2c01, seq: 9, payload: pingData(16, 9) }),
    ),
  };
}

function ipv6Flows(): Spec[] {
  return [
    dadProbe(VM_A),
    routerSolicitation(VM_A),
    routerAdvertisement(),
    ...neighbourExchange(VM_A, VM_B),
    ...neighbourExchange(VM_B, VM_A),
    ...ping6(VM_A, VM_B, 1),
    ...tcp6Syn(),
    ...ipv6Fragmented(),
    ping6DstOpts(),
  ];
}

// ---------------------------------------------------------------- tunnels

/** An inner frame from one hypervisor to the other, in VXLAN over UDP 4789.
 * The source port is a hash of the inner flow, as Linux picks it. */
function vxlanSpec(fromHv: 1 | 2, vni: number, inner: Uint8Array, srcPort: number): Spec {
  const [a, b] = fromHv === 1 ? [HV1, HV2] : [HV2, HV1];
  return {
    eth: { src: a.mac, dst: b.mac },
    l3: build.ipv4(
      { src: a.ip, dst: b.ip, id: nextId(a.ip), df: true },
      build.udp({ src: srcPort, dst: 4789, checksum: 0 }, build.vxlan({ vni }, inner)),
    ),
  };
}

function vxlanFlows(): Spec[] {
  const out: Spec[] = [];
  // net1 (VNI 0x64): vm-a on hv1 resolves and pings vm-b on hv2.
  const arpReq = frame(arpRequest(VM_A, VM_B.ip));
  const arpRep = frame(arpReply(VM_B, VM_A));
  out.push(vxlanSpec(1, VNI_NET1, arpReq, 49320), vxlanSpec(2, VNI_NET1, arpRep, 58211));
  const [echoReq, echoRep] = frames(ping(VM_A, VM_B, { id: 0x0c01, seq: 1 }));
  out.push(vxlanSpec(1, VNI_NET1, echoReq, 51873), vxlanSpec(2, VNI_NET1, echoRep, 60412));
  // net2 (VNI 0x65): vm-c on hv1 opens SSH to vm-d on hv2.
  const f = new TcpFlow(endpoint(VM_C, 55012, VM_D.mac, 0x2b2b0000), endpoint(VM_D, 22, VM_C.mac, 0x3c3c0000));
  const [syn, synAck, ack] = frames(f.handshake());
  out.push(
    vxlanSpec(1, VNI_NET2, syn, 53790),
    vxlanSpec(2, VNI_NET2, synAck, 62215),
    vxlanSpec(1, VNI_NET2, ack, 53790),
  );
  const data = frame(f.send(1, text("SSH-2.0-OpenSSH_9.6\r\n")));
  out.push(vxlanSpec(2, VNI_NET2, data, 62215));
  return out;
}

/** The same echo request over a GRE tunnel with key 0x64 (proto 0x6558). */
function greFrame(): Spec {
  const [inner] = frames(ping(VM_A, VM_B, { id: 0x0c02, seq: 1 }));
  return {
    eth: { src: HV1.mac, dst: HV2.mac },
    l3: build.ipv4({ src: HV1.ip, dst: HV2.ip, id: nextId(HV1.ip), df: true }, build.gre({ key: VNI_NET1 }, inner)),
  };
}

// ---------------------------------------------------------------- IPv4 fragments, options, TOS

function ipv4FragFlows(): Spec[] {
  const out: Spec[] = [];
  // A 3000-byte echo (ping -s 2972) split at MTU 1500 both ways.
  const data = pingData(2972, 1);
  const reqFrags = build.ipv4Fragments(
    { src: VM_A.ip, dst: VM_B.ip, id: nextId(VM_A.ip) },
    build.icmpEcho({ id: 0x0d01, seq: 1, payload: data }),
    1480,
  );
  const repFrags = build.ipv4Fragments(
    { src: VM_B.ip, dst: VM_A.ip, id: nextId(VM_B.ip) },
    build.icmpEcho({ reply: true, id: 0x0d01, seq: 1, payload: data }),
    1480,
  );
  for (const l3 of reqFrags) out.push({ eth: { src: VM_A.mac, dst: VM_B.mac }, l3 });
  for (const l3 of repFrags) out.push({ eth: { src: VM_B.mac, dst: VM_A.mac }, l3 });
  // A 2000-byte UDP datagram whose fragments arrive last first.
  const big = new Uint8Array(2000).fill(0x5a);
  const udpFrags = build.ipv4Fragments(
    { src: VM_A.ip, dst: VM_B.ip, id: nextId(VM_A.ip) },
    build.udp({ src: 43001, dst: 5001 }, big),
    1480,
  );
  for (const l3 of udpFrags.reverse()) out.push({ eth: { src: VM_A.mac, dst: VM_B.mac }, l3 });
  // Record route (ping -R): NOP, then RR with 9 slots.
  const rrReq = concat(ipv4Opt.nop(), ipv4Opt.recordRoute(9, [VM_A.ip]));
  const rrRep = concat(ipv4Opt.nop(), ipv4Opt.recordRoute(9, [VM_A.ip, VM_B.ip]));
  out.push(...ping(VM_A, VM_B, { id: 0x0d02, seq: 1, options: rrReq, replyOptions: rrRep }));
  // DSCP EF (voice), AF21, CS1; then every ECN codepoint.
  out.push(...ping(VM_A, VM_B, { id: 0x0d03, seq: 1, tos: 46 << 2 }));
  out.push(...ping(VM_A, VM_B, { id: 0x0d03, seq: 2, tos: 18 << 2 }));
  out.push(...ping(VM_A, VM_B, { id: 0x0d03, seq: 3, tos: 8 << 2 }));
  // An ECN-capable TCP connection: ECE+CWR on the SYN, ECT(0) data, a CE mark,
  // the receiver's ECE, the sender's CWR.
  const f = new TcpFlow(endpoint(VM_A, 52011, VM_B.mac, 0x00ec0001), endpoint(VM_B, 80, VM_A.mac, 0x00ec1001));
  out.push(f.syn("SEC"), f.synAck("SAE"), f.ack(0));
  f.tos = 0x02;
  out.push(f.send(0, text("GET /ect0 HTTP/1.1\r\n\r\n")));
  f.tos = 0x03;
  out.push(f.send(0, text("GET /ce HTTP/1.1\r\n\r\n")));
  f.tos = 0x00;
  out.push(f.ack(1, "AE"));
  f.tos = 0x01;
  out.push(f.send(0, text("GET /ect1 HTTP/1.1\r\n\r\n"), "PAC"));
  return out;
}

// ---------------------------------------------------------------- other link layers

/** An 802.1D configuration BPDU in an 802.3 frame with LLC 0x42/0x42. */
function stpBpdu(): Spec {
  const bpdu = new Uint8Array(35);
  // Protocol id 0, version 0, type 0 (configuration), flags 0.
  const bridge = Uint8Array.of(0x80, 0x00, 0x52, 0x54, 0x00, 0x12, 0x34, 0x10);
  bpdu.set(bridge, 5); // root id
  bpdu.set(bridge, 17); // bridge id
  bpdu[25] = 0x80; // port id 0x8001
  bpdu[26] = 0x01;
  bpdu[29] = 20; // max age 20 s (units of 1/256 s)
  bpdu[31] = 2; // hello 2 s
  bpdu[33] = 15; // forward delay 15 s
  return { eth: { src: HV1.mac, dst: "01:80:c2:00:00:00", padTo: 60 }, l3: build.llc({ dsap: 0x42, ssap: 0x42 }, bpdu) };
}

/** An IPv4 echo in an RFC 1042 SNAP frame (LLC AA-AA-03, OUI 0, type 0x0800). */
function snapFrame(): Spec {
  const [req] = ping(VM_A, VM_B, { id: 0x0e01, seq: 1, size: 24 });
  return { eth: { src: VM_A.mac, dst: VM_B.mac }, l3: build.llc({ snap: { oui: 0, type: 0x0800 } }, req.l3) };
}

function sctpInitFrame(): Spec {
  return {
    eth: { src: VM_A.mac, dst: VM_B.mac },
    l3: build.ipv4(
      { src: VM_A.ip, dst: VM_B.ip, id: nextId(VM_A.ip), df: true, ttl: 64 },
      build.sctp({ src: 38412, dst: 5000, vtag: 0, chunks: [sctpInit({ initiateTag: 0x1f2e3d4c, initialTsn: 0x10000001 })] }),
    ),
  };
}

// ---------------------------------------------------------------- the files

function arpFile(): Uint8Array[] {
  return frames(arpFlows());
}

function icmpFile(): Uint8Array[] {
  return frames(icmpFlows());
}

function tcpFile(): Uint8Array[] {
  return frames([...sshSession(), ...httpSession(), ...telnetRefused()]);
}

function dhcpFile(): Uint8Array[] {
  return frames([...dhcpExchange(VM_A, 0x3903f326), ...dhcpExchange(VM_B, 0x7c1d22a9)]);
}

function ipv6File(): Uint8Array[] {
  return frames(ipv6Flows());
}

function vlanFile(): Uint8Array[] {
  const out: Uint8Array[] = [];
  const tag = (vid: number, pcp: number): VlanTag[] => [{ vid, pcp }];
  out.push(...frames([arpRequest(VM_A, GW1.ip), arpReply(GW1, VM_A)], tag(10, 0)));
  out.push(...frames(ping(VM_A, VM_B, { id: 0x0f01, seq: 1 }), tag(100, 5)));
  out.push(...frames(ping(VM_A, VM_B, { id: 0x0f01, seq: 2 }), tag(1, 0)));
  const f = new TcpFlow(endpoint(VM_A, 51999, VM_B.mac, 0x0f0f0001), endpoint(VM_B, 22, VM_A.mac, 0x0f0f1001));
  out.push(...frames(f.handshake(), tag(10, 3)));
  out.push(...frames(neighbourExchange(VM_A, VM_B), tag(100, 6)));
  out.push(...frames(dhcpExchange(VM_C, 0x0badcafe).slice(0, 2), tag(1, 7)));
  // 802.1ad service tag 200 around customer tag 10, and the older 0x8100/0x8100 QinQ.
  const qinq: VlanTag[] = [{ tpid: 0x88a8, vid: 200, pcp: 2 }, { vid: 10, pcp: 0 }];
  out.push(...frames([arpRequest(VM_A, VM_B.ip), arpReply(VM_B, VM_A)], qinq));
  out.push(...frames(ping(VM_A, VM_B, { id: 0x0f02, seq: 1 }), qinq));
  const dot1qDouble: VlanTag[] = [{ vid: 300, pcp: 1, dei: 1 }, { vid: 100, pcp: 5 }];
  out.push(...frames(ping(VM_A, VM_B, { id: 0x0f03, seq: 1 }), dot1qDouble));
  return out;
}

function vxlanFile(): Uint8Array[] {
  return frames([...vxlanFlows(), greFrame()]);
}

function ipv4FragFile(): Uint8Array[] {
  return frames(ipv4FragFlows());
}

function neutronDefaultFile(): Uint8Array[] {
  const specs: Spec[] = [
    // vm-a boots: DHCP, IPv6 autoconfiguration, the gateway's MAC.
    ...dhcpExchange(VM_A, 0x5a5a0001),
    dadProbe(VM_A),
    routerSolicitation(VM_A),
    routerAdvertisement(),
    arpRequest(VM_A, GW1.ip),
    arpReply(GW1, VM_A),
    // cloud-init reads the metadata service.
    ...metadataSession(),
    ...dnsLookup(),
    // East-west on net1.
    arpRequest(VM_A, VM_B.ip),
    arpReply(VM_B, VM_A),
    ...ping(VM_A, VM_B, { id: 0x0b7d, seq: 1 }),
    ...ping(VM_A, VM_B, { id: 0x0b7d, seq: 2 }),
    ...sshSession(),
    ...telnetRefused(),
    // Routed to net2, and a traceroute that stops at the router.
    ...routedPing(1),
    ...routedSsh(),
    ...traceroute(),
    // North-south through the floating IP.
    ...floatingPing(1),
    // IPv6 between the VMs.
    ...neighbourExchange(VM_A, VM_B),
    ...ping6(VM_A, VM_B, 1),
    // Less common traffic the pipeline must still classify.
    sctpInitFrame(),
    ...ipv4FragFlows().slice(6, 8),
    stpBpdu(),
    snapFrame(),
  ];
  const out = frames(specs);
  out.push(frame(ping(VM_A, VM_B, { id: 0x0b7d, seq: 3 })[0], [{ vid: 10, pcp: 0 }]));
  out.push(frame(vxlanFlows()[2]));
  return out;
}

/** Broken frames the parser must classify as far as it can, without throwing. */
function malformedFile(): Uint8Array[] {
  const out: Uint8Array[] = [];
  const [okPing] = frames(ping(VM_A, VM_B, { id: 0x0a01, seq: 1, size: 16 }));
  const tcpSyn = (tcpOverrides: { dataOffset?: number; checksum?: number } = {}): Uint8Array =>
    frame({
      eth: { src: VM_A.mac, dst: VM_B.mac },
      l3: build.ipv4(
        { src: VM_A.ip, dst: VM_B.ip, id: 0x0a02, df: true },
        build.tcp({ src: 51000, dst: 22, seq: 1, flags: "S", window: 64240, ...tcpOverrides }),
      ),
    });
  const v4 = (o: { ihl?: number; totalLength?: number; checksum?: number }): Uint8Array =>
    frame({
      eth: { src: VM_A.mac, dst: VM_B.mac },
      l3: build.ipv4({ src: VM_A.ip, dst: VM_B.ip, id: 0x0a03, ...o }, build.icmpEcho({ id: 0x0a01, seq: 2 })),
    });
  // 1-2. Runts: shorter than an Ethernet header; and an empty frame.
  out.push(build.truncate(okPing, 10), new Uint8Array(0));
  // 3. An 802.1Q tag and nothing after it.
  out.push(build.truncate(frame(ping(VM_A, VM_B, { id: 0x0a01, seq: 3 })[0], [{ vid: 10 }]), 16));
  // 4. IPv4 header cut after 12 bytes.
  out.push(build.truncate(okPing, 14 + 12));
  // 5. IHL 4 (16 bytes), below the minimum 5.
  out.push(v4({ ihl: 4 }));
  // 6. IHL 15 (60 bytes) with no options: the header runs past the packet.
  out.push(v4({ ihl: 15 }));
  // 7. Total length 1500 in a 42-byte packet.
  out.push(v4({ totalLength: 1500 }));
  // 8. Total length 10, shorter than the header.
  out.push(v4({ totalLength: 10 }));
  // 9. Bad IPv4 header checksum.
  out.push(v4({ checksum: 0xdead }));
  // 10. TCP header cut after 10 bytes.
  out.push(build.truncate(tcpSyn(), 14 + 20 + 10));
  // 11. TCP data offset 15 (60 bytes) in a 20-byte segment.
  out.push(tcpSyn({ dataOffset: 15 }));
  // 12. TCP data offset 3, below the minimum 5.
  out.push(tcpSyn({ dataOffset: 3 }));
  // 13. Bad TCP checksum.
  out.push(tcpSyn({ checksum: 0x1234 }));
  // 14. UDP length 200 in a 12-byte datagram.
  out.push(
    frame({
      eth: { src: VM_A.mac, dst: DHCP_PORT.mac },
      l3: build.ipv4({ src: VM_A.ip, dst: DHCP_PORT.ip, id: 0x0a04 }, build.udp({ src: 53127, dst: 53, length: 200 }, text("abcd"))),
    }),
  );
  // 15. IPv6 hop-by-hop header claiming 24 bytes, cut after 8 (payload length says 8).
  out.push(
    build.truncate(
      frame({
        eth: { src: VM_A.mac, dst: VM_B.mac },
        l3: build.ipv6(
          { src: VM_A.ip6, dst: VM_B.ip6, payloadLength: 8, extHeaders: [{ type: "hop", options: ipv6Opt.padN(20) }] },
          build.icmp6Echo({ id: 1, seq: 1 }),
        ),
      }),
      14 + 40 + 8,
    ),
  );
  // 16. IPv6 fragment header cut after 4 bytes, payload length as sent.
  out.push(
    build.truncate(
      frame({
        eth: { src: VM_A.mac, dst: VM_B.mac },
        l3: build.ipv6(
          { src: VM_A.ip6, dst: VM_B.ip6, extHeaders: [{ type: "fragment", offset: 0, m: true, id: 7 }] },
          build.udp({ src: 1, dst: 2 }, new Uint8Array(16)),
        ),
      }),
      14 + 40 + 4,
    ),
  );
  // 17. IPv6 header cut after 20 bytes.
  out.push(build.truncate(frame(ping6(VM_A, VM_B, 5)[0]), 14 + 20));
  // 18. IPv6 payload length 1000 in a short packet.
  out.push(
    frame({
      eth: { src: VM_A.mac, dst: VM_B.mac },
      l3: build.ipv6({ src: VM_A.ip6, dst: VM_B.ip6, payloadLength: 1000 }, build.icmp6Echo({ id: 1, seq: 2 })),
    }),
  );
  // 19. ICMPv6 NS whose option has length 0 (RFC 4861 says: discard).
  const group = solicitedNode(VM_B.ip6);
  out.push(
    frame(
      icmp6Spec(
        VM_A.mac,
        ipv6MulticastMac(group),
        VM_A.ip6,
        ip6Text(group),
        build.ndpNs({ target: VM_B.ip6, options: Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0) }),
      ),
    ),
  );
  // 20. ARP cut after 20 bytes.
  out.push(build.truncate(frame(arpRequest(VM_A, GW1.ip)), 14 + 20));
  // 21. VXLAN whose inner frame is a runt.
  out.push(frame(vxlanSpec(1, VNI_NET1, build.truncate(okPing, 8), 49320)));
  return out;
}

write("arp.pcap", arpFile());
write("icmp-echo.pcap", icmpFile());
write("tcp-handshake.pcap", tcpFile());
write("dhcp.pcap", dhcpFile());
write("ipv6-nd.pcap", ipv6File());
write("vlan.pcap", vlanFile());
write("vxlan.pcap", vxlanFile());
write("ipv4-frag.pcap", ipv4FragFile());
write("neutron-default.pcap", neutronDefaultFile());
write("malformed.pcap", malformedFile());
for (const [name, count] of written) console.log(`${name}: ${count} packets`);
