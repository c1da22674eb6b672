/**
 * Differential test of the ovs-ofctl syntax layer against a real Open vSwitch.
 *
 * Good lines (the hand corpus, every flow quoted in the Neutron references,
 * and seeded random lines generated from the field table) are loaded into
 * private bridges with `ovs-ofctl -O OpenFlow13 add-flows`; flowplane's
 * formatFlow of each parsed line must equal OVS's `dump-flows` line (sorted,
 * statistics aside), in OpenFlow 1.3 and, where OVS can print them, in
 * OpenFlow 1.0. Bad lines must be rejected by flowplane with a place (line
 * and column) whenever `ovs-ofctl parse-flow` rejects them.
 *
 * Skipped when Open vSwitch is not installed, except with CI=true, where a
 * missing OVS fails the run. Lines are batched into one add-flows call per
 * bridge, so the whole file takes a few seconds.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OvsSandbox, mapLimit, type PortSpec } from "./ovs/harness.js";
import { parseFlow } from "../src/ofctl/parse-flow.js";
import { formatFlow } from "../src/ofctl/format-flow.js";
import { formatGroup, parseGroup } from "../src/ofctl/parse-group.js";
import { FlowSyntaxError } from "../src/ofctl/errors.js";
import type { FlowSpec } from "../src/openflow/flow-spec.js";
import type { OfProtocol } from "../src/ofctl/format-actions.js";
import { mulberry32Unit } from "../src/util/prng.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const fixture = (name: string): string => readFileSync(path.join(here, "fixtures/ofctl", name), "utf8");
const corpusLines = (text: string): string[] =>
  text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));

const inCi = process.env.CI === "true";
const missing = OvsSandbox.missingTools();
const skip = missing.length > 0 && !inCi;
if (skip) console.warn(`test/ofctl-diff.test.ts skipped: Open vSwitch is not installed (missing: ${missing.join(", ")})`);

/** Ports every bridge gets: p1..p10 as 1..10, and the names the references use. */
const NAMED_PORTS: [string, number][] = [
  ["qvoebeae637-5c", 11],
  ["qvoa95f52ba-a2", 12],
  ["int-br-provider", 13],
  ["int-br-ext", 14],
];
const PORTS: PortSpec[] = [
  ...Array.from({ length: 10 }, (_, i) => ({ name: `p${i + 1}`, ofport: i + 1 })),
  ...NAMED_PORTS.map(([name, ofport]) => ({ name, ofport })),
];
const portNames = new Map<string, number>([...PORTS.map((p): [string, number] => [p.name, p.ofport ?? 0])]);
const nameOfPort = new Map<number, string>([...portNames].map(([n, p]): [number, string] => [p, n]));
const portName = (p: number): string | undefined => nameOfPort.get(p);

// ---------------------------------------------------------------- generator


/** Random flow lines consistent with prerequisites, over the fields and actions OVS accepts in OpenFlow 1.3. */
export function generateLines(count: number, seed: number): string[] {
  const r = mulberry32Unit(seed);
  const int = (n: number): number => Math.floor(r() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  const chance = (p: number): boolean => r() < p;
  const hex = (bits: number): string => {
    let v = 0n;
    for (let i = 0; i < bits; i += 16) v = (v << 16n) | BigInt(int(0x10000));
    v &= (1n << BigInt(bits)) - 1n;
    return "0x" + v.toString(16);
  };
  const mac = (): string => Array.from({ length: 6 }, () => int(256).toString(16).padStart(2, "0")).join(":");
  const ip4 = (): string => `${int(224)}.${int(256)}.${int(256)}.${int(256)}`;
  const ip6 = (): string => `2001:db8:${int(0x10000).toString(16)}::${int(0x10000).toString(16)}`;
  const maskedIp4 = (): string => (chance(0.5) ? ip4() : chance(0.7) ? `${ip4()}/${int(33)}` : `${ip4()}/255.${int(256)}.0.255`);
  const maskedIp6 = (): string => (chance(0.6) ? ip6() : `${ip6()}/${int(129)}`);
  const maskedMac = (): string => (chance(0.6) ? mac() : `${mac()}/${pick(["ff:ff:ff:00:00:00", "01:00:00:00:00:00", "fe:ff:ff:ff:ff:ff"])}`);
  const maskedU = (bits: number): string => {
    const max = 2 ** bits;
    return chance(0.7) ? String(int(max)) : `0x${int(max).toString(16)}/0x${int(max).toString(16)}`;
  };
  const ctState = (): string =>
    pick(["+trk", "-trk", "+trk+new", "+trk+est", "+trk+est-rel", "+trk+inv", "trk|est", "+trk+rpl", "+trk-new+est-inv", "+trk+snat", "0x22/0x22"]);
  type Base = { kw: string; kind: "none" | "ip4" | "ip6" | "arp"; l4: "" | "tcp" | "udp" | "sctp" | "icmp" | "icmp6" };
  const bases: Base[] = [
    { kw: "", kind: "none", l4: "" },
    { kw: "ip", kind: "ip4", l4: "" },
    { kw: "tcp", kind: "ip4", l4: "tcp" },
    { kw: "udp", kind: "ip4", l4: "udp" },
    { kw: "sctp", kind: "ip4", l4: "sctp" },
    { kw: "icmp", kind: "ip4", l4: "icmp" },
    { kw: "arp", kind: "arp", l4: "" },
    { kw: "rarp", kind: "arp", l4: "" },
    { kw: "ipv6", kind: "ip6", l4: "" },
    { kw: "tcp6", kind: "ip6", l4: "tcp" },
    { kw: "udp6", kind: "ip6", l4: "udp" },
    { kw: "icmp6", kind: "ip6", l4: "icmp6" },
  ];
  const out: string[] = [];
  for (let n = 0; n < count; n++) {
    const base = pick(bases);
    const table = int(8);
    const head: string[] = [`table=${table}`, `priority=${1000 + n}`];
    if (chance(0.2)) head.push(`cookie=${hex(chance(0.5) ? 64 : 16)}`);
    if (chance(0.1)) head.push(`idle_timeout=${300 + int(1000)}`);
    if (chance(0.1)) head.push(`hard_timeout=${300 + int(1000)}`);
    if (chance(0.05)) head.push(pick(["send_flow_rem", "reset_counts", "no_packet_counts", "no_byte_counts"]));
    const fields: string[] = [];
    if (base.kw !== "") fields.push(base.kw);
    const generic: (() => string)[] = [
      () => `in_port=${chance(0.9) ? int(10) + 1 : "LOCAL"}`,
      () => `dl_src=${maskedMac()}`,
      () => `dl_dst=${maskedMac()}`,
      () => `dl_vlan=${int(4095)}`,
      () => `dl_vlan_pcp=${int(8)}`,
      () => `vlan_tci=${pick(["0x1000/0x1000", "0x0000/0x1fff", `0x${(0x1000 | int(4096)).toString(16)}/0x1fff`, "0x0000"])}`,
      () => `reg${int(16)}=${maskedU(32)}`,
      () => `metadata=${hex(64)}${chance(0.4) ? `/${hex(64)}` : ""}`,
      () => `tun_id=${hex(chance(0.5) ? 32 : 64)}${chance(0.3) ? `/${hex(32)}` : ""}`,
      () => `tun_src=${maskedIp4()}`,
      () => `tun_dst=${ip4()}`,
      () => `pkt_mark=${maskedU(32)}`,
      () => `ct_state=${ctState()}`,
      () => `ct_zone=${int(65536)}`,
      () => `ct_mark=${maskedU(32)}`,
      () => `ct_label=${hex(128)}${chance(0.5) ? `/${hex(64)}` : ""}`,
      () => `vlan_vid=${pick(["0x1000/0x1000", `0x${(0x1000 | int(4096)).toString(16)}`, `${4096 + int(4096)}`, "0/0x1000"])}`,
      () => `dl_vlan=${pick(["0xffff", String(int(4096))])}`,
      () => `in_port_oxm=${int(10) + 1}`,
      () => `xreg${int(8)}=${hex(64)}${chance(0.5) ? `/${hex(64)}` : ""}`,
      () => `xxreg${int(4)}=${hex(128)}`,
    ];
    if (base.kw === "") generic.push(() => `dl_type=0x${pick([0x88cc, 0x8809, 0x0842, 0x88e5]).toString(16)}`, () => "dl_type=0x0800");
    const ipish: (() => string)[] = [
      () => `nw_tos=${int(64) * 4}`,
      () => `nw_ecn=${int(4)}`,
      () => `nw_ttl=${int(256)}`,
      // Later fragments have no L4 header: OVS refuses ports and flags with nw_frag=later.
      () => `nw_frag=${pick(base.l4 === "" || base.l4 === "icmp" || base.l4 === "icmp6" ? ["no", "yes", "first", "later", "not_later"] : ["no", "yes", "first", "not_later"])}`,
      () => `ip_dscp=${int(64)}`,
    ];
    const specific: (() => string)[] = [];
    if (base.kind === "ip4") specific.push(() => `nw_src=${maskedIp4()}`, () => `nw_dst=${maskedIp4()}`, ...ipish);
    if (base.kind === "ip6") {
      specific.push(() => `ipv6_src=${maskedIp6()}`, () => `ipv6_dst=${maskedIp6()}`, () => `ipv6_label=0x${int(0x100000).toString(16)}`, ...ipish);
    }
    if (base.kind === "arp") {
      specific.push(
        () => `arp_op=${int(4)}`,
        () => `arp_spa=${maskedIp4()}`,
        () => `arp_tpa=${maskedIp4()}`,
        () => `arp_sha=${maskedMac()}`,
        () => `arp_tha=${maskedMac()}`,
      );
    }
    if (base.kind !== "none" && base.kind !== "arp" && base.l4 === "") specific.push(() => `nw_proto=${pick([47, 50, 51, 89, 112])}`);
    if (base.l4 === "tcp" || base.l4 === "udp" || base.l4 === "sctp") {
      specific.push(() => `tp_src=${maskedU(16)}`, () => `tp_dst=${maskedU(16)}`, () => `${base.l4}_dst=${int(65536)}`);
    }
    if (base.l4 === "tcp") specific.push(() => `tcp_flags=${pick(["+syn", "+syn-ack", "syn|ack", "-rst+fin", "0x2/0x12", "ack"])}`);
    if (base.l4 === "icmp") specific.push(() => `icmp_type=${int(256)}`, () => `icmp_code=${int(256)}`);
    if (base.l4 === "icmp6") {
      const nd = pick([0, 135, 136]);
      if (nd !== 0) {
        fields.push(`icmp_type=${nd}`);
        specific.push(() => `nd_target=${ip6()}`, () => (nd === 135 ? `nd_sll=${mac()}` : `nd_tll=${mac()}`));
      } else {
        specific.push(() => `icmp_type=${int(256)}`, () => `icmp_code=${int(256)}`);
      }
    }
    const gens = [...generic, ...specific, ...specific];
    const used = new Set<string>();
    const nFields = int(4) + (base.kw === "" ? 1 : 0);
    for (let i = 0; i < nFields; i++) {
      const f = pick(gens)();
      // One VLAN field per line: a later one would override the earlier's bits.
      const key = /^(dl_vlan|vlan_)/.test(f) ? "vlan" : f.split("=")[0];
      if (used.has(key)) continue;
      if (key === "ip_dscp" && used.has("nw_tos")) continue;
      if (key === "nw_tos" && used.has("ip_dscp")) continue;
      used.add(key);
      fields.push(f);
    }
    const isCtValid = fields.some((f) => /^ct_state=(\+trk\+(new|est|rpl|snat)|trk\|est|\+trk-new\+est|0x22)/.test(f));
    if (isCtValid && base.kind === "ip4" && chance(0.4)) fields.push(`ct_nw_src=${maskedIp4()}`);
    const ip = base.kind === "ip4" || base.kind === "ip6";
    const hasInv = fields.some((f) => f.startsWith("ct_state=+trk+inv"));
    const acts: (() => string)[] = [
      () => `output:${int(10) + 1}`,
      () => pick(["NORMAL", "LOCAL", "IN_PORT", "FLOOD", "ALL"]),
      () => `CONTROLLER:${int(65536)}`,
      () => `controller(reason=${pick(["no_match", "invalid_ttl"])},max_len=${int(1000)})`,
      () => `resubmit(,${int(254) + 1})`,
      () => `resubmit(${int(10) + 1})`,
      () => `resubmit(${int(10) + 1},${int(254)})`,
      () => `mod_vlan_vid:${int(4096)}`,
      () => `mod_vlan_pcp:${int(8)}`,
      () => "push_vlan:0x8100",
      () => `mod_dl_src:${mac()}`,
      () => `mod_dl_dst:${mac()}`,
      () => `set_field:${mac()}->eth_dst`,
      () => {
        const a = int(32);
        const b = a + int(32 - a);
        const width = b - a + 1;
        return `load:0x${Math.floor(r() * 2 ** width).toString(16)}->NXM_NX_REG${int(16)}[${a}..${b}]`;
      },
      () => `load:0x${int(2 ** 31).toString(16)}->NXM_NX_REG${int(16)}[]`,
      () => `move:NXM_NX_REG${int(16)}[0..15]->NXM_NX_REG${int(16)}[16..31]`,
      () => `move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[]`,
      () => `set_field:${int(2 ** 31)}->reg${int(16)}`,
      () => `set_field:0x${int(256).toString(16)}/0xff->reg${int(16)}`,
      () => `set_tunnel:0x${int(2 ** 24).toString(16)}`,
      () => `set_tunnel64:0x${int(2 ** 31).toString(16)}${int(2 ** 16).toString(16)}`,
      () => `set_field:${hex(64)}->tun_id`,
      () => `set_queue:${int(10)}`,
      () => `note:${Array.from({ length: int(9) + 1 }, () => int(256).toString(16).padStart(2, "0")).join(".")}`,
      () => `output:NXM_NX_REG${int(16)}[0..15]`,
      () => `push:NXM_NX_REG${int(16)}[]`,
      () => `pop:NXM_NX_REG${int(16)}[0..7]`,
      () => `learn(table=${int(254) + 1},hard_timeout=${int(600)},priority=${int(65536)},NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:OXM_OF_IN_PORT[])`,
      () => `clone(output:${int(10) + 1})`,
      () => "ct_clear",
      () => `sample(probability=${int(65535) + 1},collector_set_id=${int(10)},obs_domain_id=${int(10)},obs_point_id=${int(10)})`,
    ];
    if (ip) {
      acts.push(
        () => "dec_ttl",
        () => `dec_ttl(${int(5)},${int(5) + 5})`,
        () => `mod_nw_tos:${int(64) * 4}`,
        () => `mod_nw_ecn:${int(4)}`,
        () => `mod_nw_ttl:${int(256)}`,
      );
      if (!hasInv) {
        acts.push(
          () => `ct(${chance(0.5) ? "commit," : ""}zone=${int(65536)}${chance(0.5) ? `,table=${int(254)}` : ""})`,
          () => `ct(commit,zone=NXM_NX_REG${int(16)}[0..15],exec(set_field:0x${int(256).toString(16)}->ct_mark))`,
          () => `ct(commit,exec(load:0x1->NXM_NX_CT_LABEL[${int(100)}]))`,
        );
      }
    }
    if (base.kind === "ip4") {
      acts.push(() => `mod_nw_src:${ip4()}`, () => `mod_nw_dst:${ip4()}`, () => `set_field:${ip4()}->ip_dst`);
      if (!hasInv) acts.push(() => `ct(commit,nat(src=${ip4()}${chance(0.5) ? `:${int(30000) + 1}-${int(30000) + 30001}` : ""}))`);
    }
    if (base.l4 === "tcp" || base.l4 === "udp" || base.l4 === "sctp") {
      acts.push(
        () => `mod_tp_src:${int(65536)}`,
        () => `mod_tp_dst:${int(65536)}`,
        () => `set_field:${int(65536)}->${base.l4}_src`,
        () => `load:0x${int(256).toString(16)}->${base.l4 === "sctp" ? "OXM_OF_SCTP" : base.l4 === "tcp" ? "NXM_OF_TCP" : "NXM_OF_UDP"}_DST[0..7]`,
      );
    }
    // fin_timeout is OpenFlow 1.0-only unless the flow is TCP.
    if (base.l4 === "tcp") acts.push(() => `fin_timeout(${pick(["idle_timeout", "hard_timeout"])}=${int(100) + 1})`);
    if (ip) acts.push(() => `set_field:${int(64)}->ip_dscp`, () => `set_field:${int(4)}->nw_ecn`, () => `set_field:${int(256)}->nw_ttl`, () => `load:${int(64)}->NXM_OF_IP_TOS[2..7]`);
    if (base.kind === "ip6") {
      acts.push(() => `set_field:${ip6()}->ipv6_src`, () => `set_field:0x${int(0x100000).toString(16)}->ipv6_label`);
      if (!hasInv) acts.push(() => `ct(commit,nat(${pick(["src", "dst"])}=[${ip6()}]${chance(0.5) ? `:${int(1000) + 1}` : ""}))`, () => "ct(nat)");
    }
    if (base.kind === "arp") acts.push(() => `set_field:${ip4()}->arp_tpa`, () => `set_field:${mac()}->arp_sha`, () => `load:2->NXM_OF_ARP_OP[]`);
    const vlanMatched = fields.some((f) => /^(dl_vlan=\d+$|dl_vlan_pcp|vlan_vid=(0x1|[4-9]\d{3}))/.test(f) || f === "vlan_tci=0x1000/0x1000");
    if (vlanMatched) {
      acts.push(
        () => `set_field:${4096 + int(4096)}->vlan_vid`,
        () => `set_vlan_vid:${int(4096)}`,
        () => `set_field:${int(8)}->vlan_pcp`,
      );
    } else {
      acts.push(
        () => `set_field:0x${(0x1000 | int(0x10000)).toString(16)}->vlan_tci`,
        () => `set_field:0x${int(0x1000).toString(16)}->vlan_tci`,
        () => `load:0x${int(4096).toString(16)}->NXM_OF_VLAN_TCI[0..11]`,
      );
    }
    acts.push(
      () => `set_field:${int(11) + 1}->in_port`,
      () => `set_field:${hex(64)}/${hex(64)}->metadata`,
      () => `set_field:${hex(32)}->pkt_mark`,
      () => `set_field:${ip4()}->tun_src`,
      () => `set_field:${hex(64)}->xreg${int(8)}`,
      () => `move:OXM_OF_PKT_REG${int(8)}[0..31]->NXM_NX_REG${int(16)}[]`,
      () => `move:NXM_OF_IN_PORT[]->NXM_NX_REG${int(16)}[0..15]`,
      () => `move:NXM_NX_TUN_ID[0..31]->NXM_NX_REG${int(16)}[]`,
      () => `load:0x${int(256).toString(16)}->NXM_NX_TUN_ID[${int(40)}..${40 + int(24)}]`,
      () => `enqueue:${int(10) + 1}:${int(8)}`,
      () => `output(port=${int(10) + 1},max_len=${14 + int(1000)})`,
      () => `controller(${pick(["userdata=01.02", "pause", "meter_id=3", "id=5", "reason=action,max_len=100"])})`,
      () => `note:${Array.from({ length: int(20) }, () => int(256).toString(16).padStart(2, "0")).join("")}`,
      () => "exit",
      () => "group:1",
      () => `sample(probability=${int(65535) + 1},collector_set_id=1,obs_domain_id=2,obs_point_id=3,sampling_port=${int(10) + 1},${pick(["ingress", "egress"])})`,
      () => `learn(table=${int(254)},${pick(["idle_timeout=10,", "fin_idle_timeout=3,", "send_flow_rem,", "delete_learned,", "limit=5,", "result_dst=NXM_NX_REG0[3],", ""])}NXM_NX_REG${int(16)}[0..7]=0x${int(256).toString(16)},NXM_OF_ETH_SRC[]=NXM_OF_ETH_DST[],eth_type=0x800,load:0x${int(4096).toString(16)}->NXM_NX_REG${int(16)}[0..15],output:NXM_NX_REG${int(16)}[0..15])`,
      () => `learn(table=${int(254)},dl_vlan=${int(4096)},in_port=${int(10) + 1},eth_dst=${mac()},NXM_NX_TUN_ID[0..31]=NXM_NX_REG${int(16)}[])`,
      () => `clone(${pick(["output:1", "mod_vlan_vid:5,output:2", "set_field:1->reg0,resubmit(,3)", "exit"])})`,
      () => `push:NXM_OF_ETH_SRC[],pop:NXM_OF_ETH_DST[]`,
    );
    if (ip && !hasInv) {
      acts.push(
        () => `ct(commit,exec(set_field:${hex(32)}/${hex(32)}->ct_mark,set_field:${hex(128)}->ct_label))`,
        () => `ct(commit,exec(move:NXM_NX_REG${int(16)}[]->NXM_NX_CT_MARK[]))`,
        () => `ct(${pick(["commit,force", "commit", "commit,table=9", "commit,zone=9,table=3"])}${chance(0.5) ? `,nat(src=${base.kind === "ip4" ? ip4() : `[${ip6()}]`})` : ""})`,
        () => `ct(${pick(["table=9", "zone=9,table=3"])},nat)`,
      );
    }
    const nActs = int(4);
    const list: string[] = [];
    for (let i = 0; i < nActs; i++) list.push(pick(acts)());
    // At most one pop, last: OpenFlow 1.3 refuses VLAN actions on a packet that may have no tag.
    if (vlanMatched && chance(0.3)) list.push(pick(["strip_vlan", "pop_vlan"]));
    if (chance(0.05)) list.unshift(`meter:1`);
    if (chance(0.05)) list.push("clear_actions");
    if (chance(0.08)) list.push(`write_actions(output:${int(10) + 1}${chance(0.5) ? ",set_field:5->reg1" : ""})`);
    if (chance(0.15)) list.push(`write_metadata:${hex(16)}${chance(0.5) ? `/${hex(16)}` : ""}`);
    if (table < 253 && chance(0.25)) list.push(`goto_table:${table + 1 + int(5)}`);
    out.push(`${head.join(",")},${fields.join(",")}${fields.length > 0 ? "," : ""}actions=${list.length === 0 ? "drop" : list.join(",")}`);
  }
  return out;
}

// ---------------------------------------------------------------- harness use

interface Loaded {
  bridge: string;
  line: string;
  spec: FlowSpec;
  /** Whether OVS can print the line's flow in OpenFlow 1.0. */
  of10: boolean;
}

const OF10_UNPRINTABLE = /write_metadata|write_actions|clear_actions|meter:/;

const referenceLines = corpusLines(fixture("reference-lines.txt"));
const handLines = corpusLines(fixture("good-lines.txt"));
// OFCTL_DIFF_RANDOM=N,SEED runs a bigger random corpus locally (a stress run); the default keeps CI quick.
const [randomCount, randomSeed] = (process.env.OFCTL_DIFF_RANDOM ?? "420,20261125").split(",").map(Number);
const randomLines = generateLines(randomCount, randomSeed);
const goodLines = [...handLines, ...referenceLines, ...randomLines];
const badLines = corpusLines(fixture("bad-lines.txt"));

/** Sorted multiset difference, for readable failures. */
function diffLines(expected: string[], actual: string[]): { missing: string[]; extra: string[] } {
  const count = new Map<string, number>();
  for (const l of actual) count.set(l, (count.get(l) ?? 0) + 1);
  const missingLines: string[] = [];
  for (const l of expected) {
    const c = count.get(l) ?? 0;
    if (c === 0) missingLines.push(l);
    else count.set(l, c - 1);
  }
  const extra: string[] = [];
  for (const [l, c] of count) for (let i = 0; i < c; i++) extra.push(l);
  return { missing: missingLines.sort(), extra: extra.sort() };
}

describe.skipIf(skip)("ovs-ofctl syntax against Open vSwitch", () => {
  let sb: OvsSandbox;
  const loaded: Loaded[] = [];
  const bridges: string[] = [];
  const refused: string[] = [];
  const wronglyRejected: string[] = [];

  beforeAll(async () => {
    sb = await OvsSandbox.start();
    // Put lines on bridges so that no bridge holds two flows with the same table, priority and match
    // (the second would replace the first), then load each bridge with one add-flows call.
    // OpenFlow 1.0 cannot carry write_metadata, clear_actions or write_actions (OVS then fails the
    // whole dump), so those lines get bridges of their own.
    const keysOf: Set<string>[] = [];
    const linesOf: string[][] = [];
    const familyOf: boolean[] = [];
    const newBridge = (of10: boolean): number => {
      keysOf.push(new Set());
      linesOf.push([]);
      familyOf.push(of10);
      return keysOf.length - 1;
    };
    newBridge(true); // br0: the only bridge whose ports carry the reference names
    for (const line of goodLines) {
      let spec: FlowSpec;
      try {
        spec = parseFlow(line, { portNames });
      } catch (e) {
        // A random line both reject is the generator's slip; any other rejection is a flowplane bug.
        const r = await sb.exec("ovs-ofctl", ["-O", "OpenFlow13", "parse-flow", line], { allowFailure: true });
        if (r.exitCode !== 0 && randomLines.includes(line)) continue;
        wronglyRejected.push(`${line}\n  flowplane: ${(e as Error).message}\n  ovs: ${r.exitCode === 0 ? "accepts" : r.stderr.trim()}`);
        continue;
      }
      const key = `${spec.table}/${spec.priority}/${spec.match.format()}`;
      const of10 = !OF10_UNPRINTABLE.test(line);
      let b: number;
      if (line.includes('"')) {
        if (keysOf[0].has(key) || !of10) throw new Error(`corpus line naming ports cannot go on br0: ${line}`);
        b = 0;
      } else {
        b = keysOf.findIndex((k, i) => familyOf[i] === of10 && !k.has(key));
        if (b < 0) b = newBridge(of10);
      }
      keysOf[b].add(key);
      linesOf[b].push(line);
      loaded.push({ bridge: `br${b}`, line, spec, of10 });
    }
    for (let b = 0; b < linesOf.length; b++) {
      bridges.push(`br${b}`);
      await sb.addBridge(`br${b}`, { ports: PORTS.map((p) => ({ ...p, name: b === 0 ? p.name : `b${b}p${p.ofport}` })) });
      // group:1 and meter:1 in the corpus need a group 1 and a meter 1.
      await sb.ofctl(["-O", "OpenFlow13", "add-group", `br${b}`, "group_id=1,type=all,bucket=output:1"]);
      await sb.ofctl(["-O", "OpenFlow13", "add-meter", `br${b}`, "meter=1,kbps,band=type=drop,rate=1000"]);
    }
    // Port names differ per bridge (interfaces are global), so lines naming ports go on br0 only; the
    // others are written with numbers by construction.
    for (let b = 0; b < linesOf.length; b++) {
      try {
        await sb.addFlows(`br${b}`, linesOf[b].join("\n") + "\n");
      } catch {
        // Find the lines OVS refuses, load the others one by one, and report the refused ones below.
        for (const line of linesOf[b]) {
          const r = await sb.exec("ovs-ofctl", ["-O", "OpenFlow13", "add-flow", `br${b}`, line], { allowFailure: true });
          if (r.exitCode !== 0) refused.push(`${line}\n  ${r.stderr.trim()}`);
        }
      }
    }
    const refusedLines = new Set(refused.map((r) => r.split("\n")[0]));
    for (let i = loaded.length - 1; i >= 0; i--) if (refusedLines.has(loaded[i].line)) loaded.splice(i, 1);
  });

  afterAll(async () => {
    await sb?.stop();
  });

  it("accepts every good line", () => {
    if (wronglyRejected.length > 0) console.error(wronglyRejected.join("\n"));
    expect(wronglyRejected).toEqual([]);
  });

  it("loads every good line into Open vSwitch", () => {
    if (refused.length > 0) console.error(refused.join("\n"));
    expect(refused).toEqual([]);
  });

  it("has a corpus of at least 500 good lines and 100 bad lines", () => {
    expect(goodLines.length).toBeGreaterThanOrEqual(500);
    expect(badLines.length).toBeGreaterThanOrEqual(100);
  });

  /** Compares the dump of every bridge whose lines are all eligible; returns how many flows were compared. */
  const compare = async (protocol: OfProtocol, eligible: (l: Loaded) => boolean, names = false): Promise<number> => {
    const problems: string[] = [];
    let compared = 0;
    for (const br of bridges) {
      const mine = loaded.filter((l) => l.bridge === br);
      if (!mine.every(eligible)) continue;
      const actual = await sb.dumpFlows(br, { protocol, names });
      const expected = mine.map((l) =>
        formatFlow(l.spec, { protocol, addProtocol: "OpenFlow13", portName: names ? portName : undefined }),
      );
      compared += expected.length;
      const d = diffLines(expected, actual);
      for (const m of d.missing) {
        const src = mine.find((l) => formatFlow(l.spec, { protocol, addProtocol: "OpenFlow13", portName: names ? portName : undefined }) === m);
        problems.push(`${br} ${protocol}\n  line:      ${src?.line}\n  flowplane: ${m}`);
      }
      for (const e of d.extra) problems.push(`${br} ${protocol}\n  ovs:       ${e}`);
    }
    if (problems.length > 0) console.error(problems.join("\n"));
    expect(problems).toEqual([]);
    return compared;
  };

  it("prints every good line as dump-flows -O OpenFlow13 does", async () => {
    expect(await compare("OpenFlow13", () => true)).toBeGreaterThanOrEqual(500);
  });

  it("prints every good line as dump-flows -O OpenFlow10 does (flows added with OpenFlow 1.3)", async () => {
    // OVS cannot print write_metadata or clear/write_actions before a goto_table in OpenFlow 1.0.
    expect(await compare("OpenFlow10", (l) => l.of10)).toBeGreaterThanOrEqual(400);
  });

  it("prints port names as dump-flows --names does", async () => {
    expect(await compare("OpenFlow13", (l) => l.bridge === "br0", true)).toBeGreaterThan(100);
  });

  it("rejects every bad line OVS rejects, naming line and column", async () => {
    const results = await mapLimit(badLines, 8, async (line) => {
      const r = await sb.exec("ovs-ofctl", ["parse-flow", line], { allowFailure: true });
      return { line, ovsRejects: r.exitCode !== 0, ovsError: r.stderr.trim() };
    });
    const problems: string[] = [];
    let ovsRejected = 0;
    for (const r of results) {
      if (r.ovsRejects) ovsRejected++;
      try {
        parseFlow(r.line, { fileName: "bad-lines.txt", lineNumber: 7 });
        if (r.ovsRejects) problems.push(`accepted: ${r.line}\n  ovs: ${r.ovsError}`);
      } catch (e) {
        if (!(e instanceof FlowSyntaxError)) throw e;
        if (e.line !== 7 || e.column < 1 || e.column > r.line.length + 1 || !e.message.startsWith("bad-lines.txt:7:")) {
          problems.push(`bad place: ${r.line}\n  ${e.message}`);
        }
      }
    }
    expect(problems).toEqual([]);
    expect(ovsRejected).toBeGreaterThanOrEqual(100);
  });

  // What a switch refuses beyond the syntax: OVS's ofproto_check_ofpacts (groups the switch lacks) and
  // ovs-ofctl's choice of OpenFlow version (actions that inconsistent_match marks OpenFlow 1.0-only).
  it("refuses the flows an OpenFlow 1.0 or 1.3 switch refuses", async () => {
    const lines = [
      "tcp,ip_frag=later actions=mod_tp_src:1",
      "udp,ip_frag=later actions=mod_tp_dst:1",
      "sctp,ip_frag=later actions=mod_tp_src:1",
      "tcp6,ip_frag=later actions=mod_tp_src:1",
      "tcp,ip_frag=first actions=mod_tp_src:1",
      "tcp,ip_frag=not_later actions=mod_tp_dst:1",
      "tcp actions=mod_tp_src:1",
      "ip actions=mod_tp_src:1",
      "icmp actions=mod_tp_dst:1",
      "actions=mod_nw_src:1.2.3.4",
      "ipv6 actions=mod_nw_dst:1.2.3.4",
      "ip actions=mod_nw_src:1.2.3.4",
      "arp actions=mod_nw_tos:4",
      "ip actions=mod_nw_tos:4",
      "ipv6 actions=mod_nw_ecn:1",
      "actions=mod_nw_ttl:3",
      "ipv6 actions=mod_nw_ttl:3",
      "arp actions=mod_nw_ecn:2",
      "actions=clone(mod_nw_ttl:3)",
      "actions=dec_ttl",
      "arp actions=dec_ttl",
      "ip actions=dec_ttl",
      "actions=strip_vlan",
      "dl_vlan=5 actions=strip_vlan",
      "vlan_tci=0x1000/0x1000 actions=strip_vlan,output:1",
      "dl_vlan=5 actions=strip_vlan,strip_vlan",
      "ip actions=strip_vlan,mod_vlan_pcp:1",
      "actions=set_vlan_vid:5",
      "dl_vlan=5 actions=set_vlan_vid:6",
      "actions=mod_vlan_vid:5",
      "actions=set_vlan_pcp:2",
      "actions=set_mpls_ttl:1",
      "mpls actions=set_mpls_ttl:1",
      "actions=dec_mpls_ttl",
      "mplsm actions=dec_mpls_ttl",
      "actions=set_mpls_label:1",
      "actions=set_mpls_tc:1",
      "actions=pop_mpls:0x0800",
      "mpls actions=pop_mpls:0x0800",
      "actions=push_mpls:0x8847,set_mpls_ttl:3",
      "actions=fin_timeout(idle_timeout=5)",
      "tcp actions=fin_timeout(idle_timeout=5)",
      "arp actions=output:1,clone(dec_ttl)",
      "ip actions=clone(strip_vlan)",
      "actions=group:1",
      "actions=group:2",
      "ip actions=output:1,clone(group:7)",
      "ip actions=ct(commit,zone=1),group:5",
      "ip actions=dec_ttl,group:2",
    ];
    // OpenFlow 1.0 has no instructions and no push_vlan: those lines are for 1.3 only.
    const of13Only = ["actions=push_vlan:0x8100,strip_vlan", "arp actions=write_actions(dec_ttl)", "actions=write_actions(group:3)", "actions=write_actions(group:1)"];
    const groupExists = (id: number): boolean => id === 1;
    const disagreements: string[] = [];
    for (const protocol of ["OpenFlow10", "OpenFlow13"]) {
      const br = `bsw${protocol.slice(-2)}`;
      await sb.addBridge(br, { ports: [{ name: `${br}p1`, ofport: 1 }], protocols: ["OpenFlow10", "OpenFlow13"] });
      await sb.ofctl(["-O", "OpenFlow13", "add-group", br, "group_id=1,type=all,bucket=output:1"]);
      for (const line of protocol === "OpenFlow13" ? [...lines, ...of13Only] : lines) {
        const r = await sb.exec("ovs-ofctl", ["-O", protocol, "add-flow", br, line], { allowFailure: true });
        let ours = "accepts";
        try {
          parseFlow(line, { protocol, groupExists });
        } catch (e) {
          ours = (e as Error).message;
        }
        const ovs = r.exitCode === 0 ? "accepts" : r.stdout.trim() + r.stderr.trim();
        const agree =
          ovs === "accepts"
            ? ours === "accepts"
            : ours !== "accepts" && (!ovs.includes("OFPBAC_BAD_OUT_GROUP") || ours.includes("OFPBAC_BAD_OUT_GROUP"));
        if (!agree) disagreements.push(`${protocol} ${line}\n  flowplane: ${ours}\n  ovs: ${ovs}`);
      }
    }
    expect(disagreements).toEqual([]);
  });

  it("prints groups as dump-groups -O OpenFlow13 does", async () => {
    const groups = [
      "group_id=1,type=select,bucket=weight:100,watch_port:1,actions=output:1,bucket=weight:50,actions=output:2",
      "group_id=2,type=all,bucket=output:1,bucket=actions=mod_dl_src:00:00:00:00:00:01,output:2",
      "group_id=3,type=ff,bucket=watch_port:1,output:1,bucket=watch_group:2,output:2",
      "group_id=4,type=indirect,bucket=actions=set_field:5->reg0,resubmit(,3)",
      "group_id=5,type=select,bucket=output:1,bucket=output:2,bucket=weight:7,output:3",
      "group_id=6,type=all,bucket=actions=mod_vlan_vid:5,output:3,bucket=actions=strip_vlan,output:4",
      "group_id=7,type=all,bucket=actions=ct(commit,zone=5),bucket=actions=learn(table=3,NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[])",
    ];
    await sb.addBridge("brg", { ports: [{ name: "g1", ofport: 1 }] });
    await sb.ofctl(["-O", "OpenFlow13", "add-groups", "brg", "-"], groups.join("\n") + "\n");
    const out = (await sb.ofctl(["-O", "OpenFlow13", "dump-groups", "brg"]))
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l.startsWith("group_id="));
    const expected = groups.map((g) => formatGroup(parseGroup(g), { protocol: "OpenFlow13" }));
    expect(out.sort()).toEqual(expected.sort());
  });
});
