/**
 * Open vSwitch 3.1's userspace conntrack as an oracle: the same packets and
 * the same ct() requests through a sandboxed ovs-vswitchd (dummy datapath)
 * and through the engine, then what each left in the packet compared.
 *
 * How OVS's answer is read: each input port runs a chain of ct() actions
 * (recirculating between them, `table=N`), and the last table copies the
 * connection-tracking fields into the Ethernet addresses of two copies of
 * the packet, sent to ports o1 and o2:
 *
 *   o1: eth_src = ct_mark[0..15] | ct_zone | ct_state    (bits 47..0)
 *       eth_dst = ct_tp_dst | ct_tp_src | ct_nw_proto
 *   o2: eth_src = ct_label[0..15] | orig src address[0..31] (ct_nw_src, or the low word of ct_ipv6_src)
 *       eth_dst = ct_mark[16..31] | orig dst address[0..31]
 *
 * The rest of each frame is the packet as conntrack left it (NAT included),
 * compared byte for byte with the engine's rewritten frame.
 */
import { CS_INVALID, EXEC_HELD, type CtRequest } from "../../src/conntrack/api.js";
import type { Conntrack } from "../../src/conntrack/conntrack.js";
import * as L from "../../src/flow/layout.js";
import { formatIPv4, formatIPv6 } from "../../src/flow/text.js";
import { parseCapture } from "../../src/io/pcap.js";
import { OvsSandbox } from "../ovs/harness.js";
import { readFileSync } from "node:fs";
import { Pkt } from "./helpers.js";

export interface OracleResult {
  /** ct fields as text: "state=0x21 zone=0 mark=0 label=0 proto=6 tp=1234>80 orig=10.0.0.1>10.0.0.2". */
  md: string;
  /** The frame after the Ethernet header, hex. */
  l3: string;
}

/** The ovs-ofctl text of a ct() request, recirculating to `table`. */
export function ctText(req: CtRequest, table: number): string {
  const parts: string[] = [];
  if (req.commit) parts.push("commit");
  if (req.force) parts.push("force");
  parts.push(`zone=${req.zone}`);
  const exec: string[] = [];
  if (req.mark) exec.push(`set_field:${req.mark.value}/${req.mark.mask}->ct_mark`);
  if (req.label) exec.push(`set_field:0x${req.label.value.toString(16)}/0x${req.label.mask.toString(16)}->ct_label`);
  if (exec.length > 0) parts.push(`exec(${exec.join(",")})`);
  if (req.alg !== 0) parts.push(`alg=${req.alg === 21 ? "ftp" : "tftp"}`);
  if (req.nat) {
    const n = req.nat;
    let s = "nat";
    if (n.kind !== null) {
      s += `(${n.kind}`;
      if (n.family !== 0) {
        const a = (v: bigint): string => (n.family === 4 ? formatIPv4(Number(v)) : `[${formatIPv6(words(v))}]`);
        s += `=${a(n.addrMin)}`;
        if (n.addrMax !== n.addrMin) s += `-${a(n.addrMax)}`;
        if (n.portMin !== 0) s += `:${n.portMin}` + (n.portMax !== n.portMin ? `-${n.portMax}` : "");
      }
      s += ")";
    }
    parts.push(s);
  }
  parts.push(`table=${table}`);
  return `ct(${parts.join(",")})`;
}

function words(v: bigint): number[] {
  return [96n, 64n, 32n, 0n].map((s) => Number((v >> s) & 0xffffffffn));
}

/** The ct fields of a key, in the oracle's text. */
export function mdText(key: Uint32Array, v6: boolean): string {
  const ct = key[L.W_CT];
  if (ct & CS_INVALID) {
    return `state=0x${(ct & 0xff).toString(16)} zone=${ct >>> 16} mark=${key[L.W_CT_MARK]} label=${key[L.W_CT_LABEL + 3] & 0xffff} proto=0 tp=0>0 orig=0.0.0.0>0.0.0.0`;
  }
  const src = v6 ? key[L.W_CT_IPV6_SRC + 3] : key[L.W_CT_NW_SRC];
  const dst = v6 ? key[L.W_CT_IPV6_DST + 3] : key[L.W_CT_NW_DST];
  const tp = key[L.W_CT_TP];
  return (
    `state=0x${(ct & 0xff).toString(16)} zone=${ct >>> 16} mark=${key[L.W_CT_MARK]} label=${key[L.W_CT_LABEL + 3] & 0xffff} ` +
    `proto=${(ct >>> 8) & 0xff} tp=${tp >>> 16}>${tp & 0xffff} orig=${formatIPv4(src)}>${formatIPv4(dst)}`
  );
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

/**
 * A sandboxed OVS with one input port per request chain. `chains[i]` runs on
 * port p{i+1}; each frame given to `send` comes back with OVS's ct fields.
 */
export class CtOracle {
  private sent = 0;
  private constructor(private readonly ovs: OvsSandbox, readonly chains: CtRequest[][]) {}

  static async start(chains: CtRequest[][]): Promise<CtOracle> {
    const ovs = await OvsSandbox.start();
    const ports = chains.map((_, i) => ({ name: `p${i + 1}`, ofport: i + 1 }));
    ports.push({ name: "o1", ofport: 90 }, { name: "o2", ofport: 91 });
    await ovs.addBridge("br0", { ports });
    const flows: string[] = [];
    chains.forEach((chain, i) => {
      const base = 4 * i + 1; // Tables base+1 .. base+chain.length (chains of at most 3).
      const family = chain.find((r) => r.nat !== null && r.nat.family !== 0)?.nat?.family ?? 0;
      // A helper needs its protocol in the match (alg=ftp: tcp, alg=tftp: udp).
      const alg = chain.find((r) => r.alg !== 0)?.alg ?? 0;
      const l4 = alg === 21 ? ["tcp", "tcp6"] : alg === 69 ? ["udp", "udp6"] : ["ip", "ipv6"];
      for (const proto of family === 4 ? [l4[0]] : family === 6 ? [l4[1]] : l4) {
        flows.push(`table=0,in_port=${i + 1},${proto} actions=${ctText(chain[0], base + 1)}`);
        for (let j = 1; j < chain.length; j++) flows.push(`table=${base + j},${proto} actions=${ctText(chain[j], base + j + 1)}`);
        flows.push(`table=${base + chain.length},${proto} actions=resubmit(,200)`);
      }
    });
    const common =
      "move:NXM_NX_CT_STATE[0..7]->NXM_OF_ETH_SRC[0..7],move:NXM_NX_CT_ZONE[]->NXM_OF_ETH_SRC[8..23],move:NXM_NX_CT_MARK[0..15]->NXM_OF_ETH_SRC[24..39]," +
      "move:NXM_NX_CT_NW_PROTO[]->NXM_OF_ETH_DST[0..7],move:NXM_NX_CT_TP_SRC[]->NXM_OF_ETH_DST[8..23],move:NXM_NX_CT_TP_DST[]->NXM_OF_ETH_DST[24..39],output:90,";
    const commonNoTuple =
      "move:NXM_NX_CT_STATE[0..7]->NXM_OF_ETH_SRC[0..7],move:NXM_NX_CT_ZONE[]->NXM_OF_ETH_SRC[8..23],move:NXM_NX_CT_MARK[0..15]->NXM_OF_ETH_SRC[24..39],output:90,";
    const label = "move:NXM_NX_CT_LABEL[0..15]->NXM_OF_ETH_SRC[32..47],move:NXM_NX_CT_MARK[16..31]->NXM_OF_ETH_DST[32..47],";
    // OVS accepts moves from the original-direction tuple only in flows that
    // match a valid connection (prerequisite "CT"): an invalid packet's tuple
    // is not observed (mdText leaves it out too).
    const zero = "mod_dl_src:00:00:00:00:00:00,mod_dl_dst:00:00:00:00:00:00,";
    flows.push(
      `table=200,priority=10,ct_state=+trk-inv,ip actions=${common}${label}move:NXM_NX_CT_NW_SRC[]->NXM_OF_ETH_SRC[0..31],move:NXM_NX_CT_NW_DST[]->NXM_OF_ETH_DST[0..31],output:91`,
      `table=200,priority=10,ct_state=+trk-inv,ipv6 actions=${common}${label}move:NXM_NX_CT_IPV6_SRC[0..31]->NXM_OF_ETH_SRC[0..31],move:NXM_NX_CT_IPV6_DST[0..31]->NXM_OF_ETH_DST[0..31],output:91`,
      `table=200,priority=5 actions=${zero}${commonNoTuple}${zero}${label}output:91`,
    );
    try {
      await ovs.addFlows("br0", flows.join("\n") + "\n");
    } catch (e) {
      await ovs.stop();
      throw e;
    }
    return new CtOracle(ovs, chains);
  }

  async stop(): Promise<void> {
    await this.ovs.stop();
  }

  async appctl(args: string[]): Promise<string> {
    return this.ovs.appctl(args);
  }

  async vsctl(args: string[]): Promise<string> {
    return this.ovs.vsctl(args);
  }

  /**
   * Sends `frame` through chain `chain` in OVS; returns what came out: one
   * result per frame OVS transmitted in answer (none when it held or dropped
   * the packet, several when a held packet's fragments all left at once).
   */
  async send(chain: number, frame: Uint8Array, expected = 1): Promise<OracleResult[]> {
    await this.ovs.receive(`p${chain + 1}`, hex(frame));
    // `expected` frames (what the engine produced) are waited for patiently, on
    // a loaded machine too; when none is expected (a held fragment), a short
    // look catches anything OVS sends that the engine did not.
    const want = Math.max(expected, 1);
    try {
      await this.ovs.waitForTxPackets("o2", this.sent + want, expected === 0 ? 300 : 20_000);
      await this.ovs.waitForTxPackets("o1", this.sent + want, 20_000);
    } catch {
      // Fewer frames than expected: compare what there is.
    }
    // Fragments released together arrive one after another: wait until the counts settle.
    let n1 = this.count("o1");
    let n2 = this.count("o2");
    for (;;) {
      await new Promise((r) => setTimeout(r, 30));
      const m1 = this.count("o1");
      const m2 = this.count("o2");
      if (m1 === n1 && m2 === n2 && n1 === n2) break;
      n1 = m1;
      n2 = m2;
    }
    const out: OracleResult[] = [];
    for (let i = this.sent; i < Math.min(n1, n2); i++) out.push(this.decode(this.frame("o1", i), this.frame("o2", i)));
    this.sent = Math.min(n1, n2);
    return out;
  }

  private count(port: string): number {
    const buf = readFileSync(this.ovs.readTxPcap(port));
    return parseCapture(buf, port).count;
  }

  private decode(f1: Uint8Array, f2: Uint8Array): OracleResult {
    // A 48-bit MAC address as a number (exact below 2^53).
    const e = (f: Uint8Array, at: number): number =>
      f[at] * 2 ** 40 + f[at + 1] * 2 ** 32 + f[at + 2] * 2 ** 24 + f[at + 3] * 2 ** 16 + f[at + 4] * 2 ** 8 + f[at + 5];
    const src1 = e(f1, 6);
    const dst1 = e(f1, 0);
    const src2 = e(f2, 6);
    const dst2 = e(f2, 0);
    const state = src1 % 256;
    const zone = Math.floor(src1 / 256) % 65536;
    const markLo = Math.floor(src1 / 2 ** 24) % 65536;
    const proto = dst1 % 256;
    const tpSrc = Math.floor(dst1 / 256) % 65536;
    const tpDst = Math.floor(dst1 / 2 ** 24) % 65536;
    const label = Math.floor(src2 / 2 ** 32) % 65536;
    const markHi = Math.floor(dst2 / 2 ** 32) % 65536;
    const origSrc = src2 % 2 ** 32;
    const origDst = dst2 % 2 ** 32;
    const md =
      `state=0x${state.toString(16)} zone=${zone} mark=${markHi * 65536 + markLo} label=${label} ` +
      `proto=${proto} tp=${tpSrc}>${tpDst} orig=${formatIPv4(origSrc)}>${formatIPv4(origDst)}`;
    return { md, l3: hex(f1.subarray(14)) };
  }

  private frame(port: string, index: number): Uint8Array {
    const buf = readFileSync(this.ovs.readTxPcap(port));
    const cap = parseCapture(buf, port);
    return new Uint8Array(buf.subarray(cap.offsets[index], cap.offsets[index] + cap.lengths[index]));
  }
}

/**
 * The engine's answers for the same frame and chain (recirculation keeps the
 * ct fields, as OVS's metadata does): none when the engine held the packet
 * (a fragment), one per released packet when a held datagram completed.
 */
export function engineSend(engine: Conntrack, chain: CtRequest[], frame: Uint8Array, nowMs = 0): OracleResult[] {
  const out: OracleResult[] = [];
  const p = new Pkt(new Uint8Array(frame));
  runChain(engine, chain, 0, p.frame, p.l3, p.l4, p.key, nowMs, out);
  return out;
}

function runChain(engine: Conntrack, chain: CtRequest[], from: number, frame: Uint8Array, l3: number, l4: number, key: Uint32Array, nowMs: number, out: OracleResult[]): void {
  for (let i = from; i < chain.length; i++) {
    if (engine.execute(frame, 0, frame.length, l3, l4, key, 0, chain[i], nowMs) === EXEC_HELD) {
      for (const r of engine.takeReleased()) runChain(engine, chain, i + 1, r.frame, r.l3, r.l4, r.key, nowMs, out);
      return;
    }
  }
  const v6 = (key[L.W_DL_TYPE] & 0xffff) === L.ETH_TYPE_IPV6;
  out.push({ md: mdText(key, v6), l3: hex(frame.subarray(14)) });
}
