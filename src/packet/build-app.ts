/**
 * Application payload builders for the traffic a Neutron network always
 * carries: DHCP (RFC 2131/2132) and DNS queries and answers (RFC 1035).
 * Invariant: the bytes decode cleanly in Wireshark; lengths and counts are
 * derived from what is given.
 * Limits: DNS answers are A records for the question's name only.
 */
import { assert } from "../errors.js";
import { type Addr, ipv4Bytes, macBytes } from "./build-addr.js";
import { type Layer, assertUint, concat, put16, put32 } from "./build-layer.js";

export const DHCP_SERVER_PORT = 67;
export const DHCP_CLIENT_PORT = 68;

const DHCP_MESSAGE_TYPES = {
  discover: 1,
  offer: 2,
  request: 3,
  decline: 4,
  ack: 5,
  nak: 6,
  release: 7,
  inform: 8,
} as const;

/** One DHCP option: code and data (the length byte is filled in). */
export interface DhcpOption {
  code: number;
  data: Uint8Array | number[];
}

export interface DhcpOptions {
  /** BOOTREQUEST (client) or BOOTREPLY (server). */
  op: "request" | "reply";
  xid: number;
  chaddr: Addr;
  /** Option 53; written first. */
  messageType: keyof typeof DHCP_MESSAGE_TYPES | number;
  secs?: number;
  /** Asks the server to answer by broadcast. */
  broadcast?: boolean;
  ciaddr?: Addr;
  yiaddr?: Addr;
  siaddr?: Addr;
  giaddr?: Addr;
  /** Further options in order; the End option (255) is appended. */
  options?: DhcpOption[];
}

/** A DHCP message, to carry in `udp({ src: 68, dst: 67 })` or the reverse. */
export function dhcp(opts: DhcpOptions): Layer {
  const type = typeof opts.messageType === "number" ? opts.messageType : DHCP_MESSAGE_TYPES[opts.messageType];
  return {
    kind: "dhcp",
    ethertype: -1,
    ipProto: -1,
    encode: () => {
      const fixed = new Uint8Array(240);
      fixed[0] = opts.op === "request" ? 1 : 2;
      fixed[1] = 1;
      fixed[2] = 6;
      put32(fixed, 4, opts.xid);
      put16(fixed, 8, opts.secs ?? 0);
      put16(fixed, 10, opts.broadcast ? 0x8000 : 0);
      const zero = "0.0.0.0";
      fixed.set(ipv4Bytes(opts.ciaddr ?? zero), 12);
      fixed.set(ipv4Bytes(opts.yiaddr ?? zero), 16);
      fixed.set(ipv4Bytes(opts.siaddr ?? zero), 20);
      fixed.set(ipv4Bytes(opts.giaddr ?? zero), 24);
      fixed.set(macBytes(opts.chaddr), 28);
      put32(fixed, 236, 0x63825363);
      const parts: Uint8Array[] = [fixed, Uint8Array.of(53, 1, type)];
      for (const o of opts.options ?? []) {
        assertUint(o.code, 254, "dhcp option code");
        assert(o.data.length <= 255, "a DHCP option holds at most 255 bytes");
        parts.push(Uint8Array.of(o.code, o.data.length), Uint8Array.from(o.data));
      }
      parts.push(Uint8Array.of(255));
      return concat(...parts);
    },
  };
}

/** DHCP option helpers: addresses, 32-bit seconds, text. */
export const dhcpOpt = {
  addrs: (code: number, ...addrs: Addr[]): DhcpOption => ({
    code,
    data: concat(...addrs.map((a) => ipv4Bytes(a))),
  }),
  u32: (code: number, value: number): DhcpOption => {
    const d = new Uint8Array(4);
    put32(d, 0, value);
    return { code, data: d };
  },
  u16: (code: number, value: number): DhcpOption => ({ code, data: [value >>> 8, value & 0xff] }),
  text: (code: number, text: string): DhcpOption => ({ code, data: new TextEncoder().encode(text) }),
  /** Option 121 (RFC 3442): classless static routes, [prefix, length, router]. */
  classlessRoutes: (routes: [Addr, number, Addr][]): DhcpOption => {
    const parts: Uint8Array[] = [];
    for (const [prefix, length, router] of routes) {
      const p = ipv4Bytes(prefix);
      parts.push(Uint8Array.of(length), p.subarray(0, (length + 7) >>> 3), ipv4Bytes(router));
    }
    return { code: 121, data: concat(...parts) };
  },
};

function dnsName(name: string): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const label of name.split(".")) {
    const b = new TextEncoder().encode(label);
    assert(b.length >= 1 && b.length <= 63, "a DNS label is 1..63 bytes");
    parts.push(Uint8Array.of(b.length), b);
  }
  parts.push(Uint8Array.of(0));
  return concat(...parts);
}

export interface DnsOptions {
  id: number;
  name: string;
  /** 1 (A) by default. */
  qtype?: number;
  /** When given, the message is a response with these A records. */
  answers?: Addr[];
  ttl?: number;
}

/** A DNS query (recursion desired), or its answer when `answers` is given. */
export function dns(opts: DnsOptions): Layer {
  return {
    kind: "dns",
    ethertype: -1,
    ipProto: -1,
    encode: () => {
      const answers = opts.answers;
      const head = new Uint8Array(12);
      put16(head, 0, opts.id);
      put16(head, 2, answers === undefined ? 0x0100 : 0x8180);
      put16(head, 4, 1);
      put16(head, 6, answers?.length ?? 0);
      const q = concat(dnsName(opts.name), Uint8Array.of(0, opts.qtype ?? 1, 0, 1));
      const parts: Uint8Array[] = [head, q];
      for (const a of answers ?? []) {
        const rr = new Uint8Array(16);
        put16(rr, 0, 0xc00c);
        put16(rr, 2, 1);
        put16(rr, 4, 1);
        put32(rr, 6, opts.ttl ?? 300);
        put16(rr, 10, 4);
        rr.set(ipv4Bytes(a), 12);
        parts.push(rr);
      }
      return concat(...parts);
    },
  };
}
