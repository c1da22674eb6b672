/**
 * Flow-key extraction throughput: 64-byte TCP frames (Ethernet + IPv4 + TCP,
 * 32 different flows) in batches of 32 over one preallocated buffer, single
 * thread. Figures:
 *   parse/tcp64-batch32   pps, the target (>= 10 Mpps, aim 20)
 *   parse/udp64-batch32   pps
 *   parse/vlan-tcp64-batch32  pps, an 802.1Q-tagged TCP frame
 *   parse/ipv6-tcp86-batch32  pps, IPv6 TCP (86-byte frames)
 */
import { Parser, HDR_WORDS } from "../src/packet/parse.js";
import { KEY_WORDS } from "../src/flow/layout.js";
import { BATCH_MAX } from "../src/limits.js";
import { ratePerSecond, runIfMain, type Figure } from "./lib.js";

const BATCHES_PER_CALL = 64;

/** A 64-byte Ethernet/IPv4/TCP frame (checksums are irrelevant to parsing). */
function frame(kind: "tcp" | "udp" | "vlan" | "ipv6", i: number): Uint8Array {
  const f = new Uint8Array(kind === "ipv6" ? 86 : 64);
  f.set([0xfa, 0x16, 0x3e, 0, 0, 2, 0xfa, 0x16, 0x3e, 0, 0, 1], 0);
  let p = 12;
  if (kind === "vlan") {
    f.set([0x81, 0x00, 0x00, 0x0a], p);
    p += 4;
  }
  if (kind === "ipv6") {
    f.set([0x86, 0xdd, 0x60, 0, 0, 0, 0, 32, 6, 64], p);
    f.set([0x20, 0x01, 0x0d, 0xb8], p + 10);
    f[p + 25] = 8;
    f.set([0x20, 0x01, 0x0d, 0xb8], p + 26);
    f[p + 41] = 4;
    p += 42;
  } else {
    const totLen = f.length - p - 2;
    f.set([0x08, 0x00, 0x45, 0, totLen >> 8, totLen & 0xff, 0, 0, 0x40, 0, 64, kind === "udp" ? 17 : 6, 0, 0, 10, 0, 0, 8, 10, 0, 0, 4], p);
    p += 22;
  }
  f.set([(1024 + i) >> 8, (1024 + i) & 0xff, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 0xff, 0xff], p);
  return f;
}

async function measure(kind: "tcp" | "udp" | "vlan" | "ipv6"): Promise<number> {
  const slot = 128;
  const buf = new Uint8Array(slot * BATCH_MAX);
  const offsets = new Uint32Array(BATCH_MAX);
  const lengths = new Uint32Array(BATCH_MAX);
  const inPorts = new Uint32Array(BATCH_MAX).fill(1);
  for (let i = 0; i < BATCH_MAX; i++) {
    const f = frame(kind, i);
    buf.set(f, i * slot);
    offsets[i] = i * slot;
    lengths[i] = f.length;
  }
  const keys = new Uint32Array(BATCH_MAX * KEY_WORDS);
  const hdrs = new Uint16Array(BATCH_MAX * HDR_WORDS);
  const results = new Uint8Array(BATCH_MAX);
  const parser = new Parser();
  const fn = (): void => {
    for (let b = 0; b < BATCHES_PER_CALL; b++) parser.parseBatch(buf, offsets, lengths, BATCH_MAX, inPorts, keys, hdrs, results);
  };
  return ratePerSecond(fn, BATCHES_PER_CALL * BATCH_MAX);
}

export default async function run(): Promise<Figure[]> {
  return [
    { name: "tcp64-batch32", value: Math.round(await measure("tcp")), unit: "pps" },
    { name: "udp64-batch32", value: Math.round(await measure("udp")), unit: "pps" },
    { name: "vlan-tcp64-batch32", value: Math.round(await measure("vlan")), unit: "pps" },
    { name: "ipv6-tcp86-batch32", value: Math.round(await measure("ipv6")), unit: "pps" },
  ];
}

await runIfMain("parse", import.meta.url, run);
