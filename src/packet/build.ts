/**
 * Packet builder: crafts any frame the dataplane handles, with correct
 * lengths and checksums, for tests, benchmarks and the capture generator.
 * Invariant: a frame built without overrides is valid on the wire: every
 * length, next-header chain and checksum agrees with the bytes around it.
 * Overrides (`checksum`, `ihl`, `totalLength`, `dataOffset`, `nextHeader`,
 * `payloadLength`, raw `options`) are written exactly as given, to craft the
 * malformed input the parser must survive.
 * Design: every builder but `eth` returns a Layer descriptor; nesting them
 * describes the frame inside out, and `eth` (always outermost) serialises it.
 * IP layers hand their addresses down as the pseudo-header, so TCP, UDP and
 * ICMPv6 finish their own checksums whichever IP version carries them:
 *
 *   const syn = build.eth({ src: "fa:16:3e:00:00:08", dst: "fa:16:3e:00:00:04" },
 *     build.ipv4({ src: "10.0.0.8", dst: "10.0.0.4", df: true },
 *       build.tcp({ src: 51022, dst: 22, seq: 1, flags: "S" })));
 *
 * A payload is a Layer or plain bytes (taken as they are; give `type` or
 * `proto` then). `encode(layer)` serialises a layer with no enclosing IP
 * (an IP packet an ICMP error quotes, an inner frame).
 * Limits: control plane only; every call allocates. No FCS, no IPv4/IPv6
 * jumbograms, no TCP/UDP over fragments except through the *Fragments helpers.
 */
import * as addr from "./build-addr.js";
import * as app from "./build-app.js";
import * as encap from "./build-encap.js";
import * as icmpMod from "./build-icmp.js";
import * as ip from "./build-ip.js";
import * as l2 from "./build-l2.js";
import * as l4 from "./build-l4.js";
import * as layer from "./build-layer.js";

export * from "./build-addr.js";
export * from "./build-app.js";
export * from "./build-encap.js";
export * from "./build-icmp.js";
export * from "./build-ip.js";
export * from "./build-l2.js";
export * from "./build-l4.js";
export { type Layer, type Payload, type PseudoHeader, concat, encode, raw } from "./build-layer.js";

/** All builders under one name, so tests read `build.ipv4(...)`. */
export const build = {
  // Layer 2.
  eth: l2.eth,
  llc: l2.llc,
  arp: l2.arp,
  // Layer 3.
  ipv4: ip.ipv4,
  ipv6: ip.ipv6,
  ipv4Fragments: ip.ipv4Fragments,
  ipv6Fragments: ip.ipv6Fragments,
  // ICMP and Neighbour Discovery.
  icmp: icmpMod.icmp,
  icmpEcho: icmpMod.icmpEcho,
  icmpError: icmpMod.icmpError,
  icmp6: icmpMod.icmp6,
  icmp6Echo: icmpMod.icmp6Echo,
  icmp6Error: icmpMod.icmp6Error,
  ndpNs: icmpMod.ndpNs,
  ndpNa: icmpMod.ndpNa,
  ndpRs: icmpMod.ndpRs,
  ndpRa: icmpMod.ndpRa,
  // Layer 4.
  tcp: l4.tcp,
  udp: l4.udp,
  sctp: l4.sctp,
  // Tunnels and applications.
  vxlan: encap.vxlan,
  gre: encap.gre,
  dhcp: app.dhcp,
  dns: app.dns,
  // Plain bytes and serialising.
  raw: layer.raw,
  encode: layer.encode,
  concat: layer.concat,
  // Addresses and dumps.
  toHex: addr.toHex,
  fromHex: addr.fromHex,
  truncate: addr.truncate,
  parseMac: addr.parseMac,
  parseIPv4: addr.parseIPv4,
  parseIPv6: addr.parseIPv6,
} as const;
