/**
 * Scenarios of pipeline-random.test.ts: random small pipelines, each from a
 * seed. Each case is a bridge with four ports (random VLAN modes) and tables
 * 0-3 of random rules: unique priorities per table; matches on in_port,
 * dl_type, nw_src/nw_dst prefixes, nw_proto, tp_src/tp_dst, tcp_flags, ICMP
 * type, ARP op, ip_frag, VLAN, dl_dst masks, registers and metadata; actions
 * among output (also by register, to LOCAL, to a missing port, to the
 * controller), queues, packet marks, header rewrites and moves, push/strip
 * VLAN, resubmit and goto_table to later tables, NORMAL, FLOOD, ALL, groups,
 * clone, learn(), exit, write_actions/clear_actions/write_metadata, drop. A
 * third of the cases hang a second bridge (NORMAL or its own random tables)
 * behind a patch port. Each case sends 16-24 frames: random ones, then
 * one-bit variants of them. Every rule is valid OpenFlow 1.3: the generator
 * adds the prerequisites a rewrite needs, as ovs-ofctl requires.
 */
import type { Scenario } from "../scenario.js";
import { eth, ipv4, ipv6, tcp, udp, arp, icmpEcho, icmp6Echo, type VlanTag, type Layer } from "../../../src/packet/build.js";

/** How many cases the differential runs. */
export const CASES = 200;
const SEED = 0x5eed_f10e;
const TABLES = 4;

/** mulberry32: a small seeded PRNG, so every run sees the same cases. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Gen {
  constructor(readonly next: () => number) {}
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)];
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

/**
 * Source MACs: half the frames send from their port's own MAC
 * (fa:16:3e:00:00:0<k> from p<k>, fa:16:3e:00:00:2<k> from q<k>), half from
 * the shared pool below, and rules rewrite sources to the pool too: NORMAL
 * sees MACs move between ports, also back through cached megaflows.
 */
const MACS = ["fa:16:3e:00:00:01", "fa:16:3e:00:00:02", "fa:16:3e:00:00:03", "fa:16:3e:00:00:04"];
const srcMacOf = (port: string): string => `fa:16:3e:00:00:${port.startsWith("q") ? "2" : "0"}${port.slice(1)}`;
const DST_MACS = [...MACS, "ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:01", "33:33:00:00:00:01"];
const IPS = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.1.9", "192.168.1.1"];
const IP6S = ["fd00::1", "fd00::2", "fd00:1::9"];
const TP_PORTS = [22, 53, 80, 443, 1000];

/** The L3/L4 the match pins down, which decides the rewrites a rule may carry. */
type Proto = "" | "ip" | "tcp" | "udp" | "icmp" | "arp" | "ipv6" | "tcp6" | "udp6" | "icmp6";

function randomRule(g: Gen, table: number, priority: number, tables = TABLES): string {
  const m: string[] = [`table=${table}`, `priority=${priority}`];
  const inPort = g.chance(0.4) ? g.int(1, 4) : 0;
  if (inPort) m.push(`in_port=${inPort}`);
  const proto: Proto = g.pick(["", "", "ip", "tcp", "udp", "icmp", "arp", "ipv6", "tcp6", "udp6", "icmp6"] as const);
  if (proto) m.push(proto);
  const v4 = proto === "ip" || proto === "tcp" || proto === "udp" || proto === "icmp";
  const v6 = proto === "ipv6" || proto === "tcp6" || proto === "udp6" || proto === "icmp6";
  const l4 = proto === "tcp" || proto === "udp" || proto === "tcp6" || proto === "udp6";
  const isTcp = proto === "tcp" || proto === "tcp6";
  if ((v4 || proto === "arp") && g.chance(0.4)) m.push(`nw_src=${g.pick(["10.0.0.0/24", "10.0.0.1", "10.0.0.0/16", "192.168.0.0/16", "10.0.1.8/29"])}`);
  if ((v4 || proto === "arp") && g.chance(0.3)) m.push(`nw_dst=${g.pick(["10.0.0.2", "10.0.0.0/30", "10.0.0.0/8"])}`);
  if (proto === "ip" && g.chance(0.3)) m.push(`nw_proto=${g.pick([1, 6, 17])}`);
  // ip_frag=later with L4 fields is inconsistent (OFPBAC_MATCH_INCONSISTENT): plain IP only.
  if ((proto === "ip" || proto === "ipv6") && g.chance(0.15)) m.push(g.pick(["nw_ttl=1", "nw_tos=32", "ip_frag=no", "ip_frag=later", "ip_frag=first", "nw_ecn=3"]));
  if (l4 && g.chance(0.5)) m.push(`tp_dst=${g.pick(TP_PORTS)}`);
  if (l4 && g.chance(0.15)) m.push(`tp_src=0x0${g.pick(["010/0xff0", "000/0xf00"])}`);
  if (isTcp && g.chance(0.2)) m.push(`tcp_flags=${g.pick(["+syn", "+syn-ack", "+fin", "-ack"])}`);
  if (proto === "icmp" && g.chance(0.3)) m.push(`icmp_type=${g.pick([0, 8])}`);
  if (proto === "arp" && g.chance(0.3)) m.push(`arp_op=${g.pick([1, 2])}`);
  if (proto === "ipv6" && g.chance(0.3)) m.push(`ipv6_src=${g.pick(["fd00::/64", "fd00::1", "fd00:1::/32"])}`);
  if (table > 0 && g.chance(0.2)) m.push(g.pick(["reg0=5", "reg0=0", "reg1=0x10/0xf0", "metadata=0x1/0x1"]));
  let vlan: "any" | "tagged" | "untagged" = "any";
  const vr = g.next();
  if (vr < 0.15) {
    m.push(`dl_vlan=${g.pick([10, 20])}`);
    vlan = "tagged";
  } else if (vr < 0.25) {
    m.push("vlan_tci=0x1000/0x1000");
    vlan = "tagged";
  } else if (vr < 0.35) {
    m.push("vlan_tci=0x0000/0x1fff");
    vlan = "untagged";
  } else if (vr < 0.38) {
    m.push(`dl_vlan_pcp=${g.pick([0, 3, 5])}`);
    vlan = "tagged";
  }
  if (g.chance(0.25)) m.push(`dl_dst=${g.pick(["01:00:00:00:00:00/01:00:00:00:00:00", "00:00:00:00:00:00/01:00:00:00:00:00", MACS[1], "fa:16:3e:00:00:00/ff:ff:ff:00:00:00"])}`);
  if (g.chance(0.1)) m.push(`dl_src=${g.pick(MACS)}`);

  // Apply-actions; then the other OpenFlow 1.3 instructions in their required order.
  const acts: string[] = [];
  const n = g.int(0, 4);
  // VLAN headers ovs-ofctl's check sees (ofpacts_check): a pop needs one, a
  // push may not make a third; mod_vlan_vid without one pushes it.
  let tags = vlan === "tagged" ? 1 : 0;
  const later = table < tables - 1;
  for (let i = 0; i < n; i++) {
    const r = g.next();
    if (r < 0.2) acts.push(g.pick(["output:1", "output:2", "output:3", "output:4", "in_port", "output(port=3,max_len=30)"]));
    else if (r < 0.25) acts.push(g.pick(["LOCAL", "output:9", "controller", "set_queue:1", "pop_queue", "enqueue:2:5", "set_field:0x10->pkt_mark", "load:0x3->NXM_NX_PKT_MARK[]"]));
    else if (r < 0.31) acts.push(`mod_dl_src:${g.pick(MACS)}`);
    else if (r < 0.35) acts.push(`mod_dl_dst:${g.pick(DST_MACS)}`);
    else if (r < 0.37) acts.push("move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[]");
    else if (r < 0.43 && v4) acts.push(g.pick([`mod_nw_src:${g.pick(IPS)}`, `mod_nw_dst:${g.pick(IPS)}`, `mod_nw_tos:${g.pick([0, 32, 184])}`, `mod_nw_ttl:${g.int(0, 3)}`, "dec_ttl", `mod_nw_ecn:${g.int(0, 3)}`, "load:0x7->NXM_OF_IP_DST[0..7]"]));
    else if (r < 0.46 && v6) acts.push(g.pick([`set_field:${g.pick(IP6S)}->ipv6_dst`, "dec_ttl", "mod_nw_tos:64", "set_field:0x5->ipv6_label"]));
    else if (r < 0.5 && l4) acts.push(g.pick([`mod_tp_${g.pick(["src", "dst"])}:${g.pick(TP_PORTS)}`, `set_field:${g.pick(TP_PORTS)}->${isTcp ? "tcp" : "udp"}_dst`]));
    else if (r < 0.52 && proto === "icmp") acts.push(`set_field:${g.pick([0, 8])}->icmp_type`);
    else if (r < 0.54 && proto === "arp") acts.push(g.pick(["set_field:2->arp_op", `set_field:${g.pick(IPS)}->arp_tpa`, "move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[]"]));
    else if (r < 0.59) {
      acts.push(`mod_vlan_vid:${g.pick([10, 20, 30])}`);
      tags = Math.max(tags, 1);
    } else if (r < 0.61 && tags < 2) {
      acts.push(`push_vlan:0x8100,set_field:${4096 | g.pick([10, 20, 30])}->vlan_vid`);
      tags++;
    } else if (r < 0.65 && tags > 0) {
      acts.push("strip_vlan");
      tags--;
    } else if (r < 0.67 && tags > 0) acts.push(`mod_vlan_pcp:${g.int(0, 7)}`);
    else if (r < 0.71) acts.push(g.pick(["load:0x5->NXM_NX_REG0[]", "load:0x1->NXM_NX_REG1[4..7]", "move:NXM_OF_IN_PORT[]->NXM_NX_REG0[0..15]", "output:NXM_NX_REG0[0..15]"]));
    else if (r < 0.73) acts.push(`clone(${g.pick(["mod_dl_src:fa:16:3e:00:00:0c,output:1", "strip_vlan,output:2", "output:3"]).replace("strip_vlan,", tags > 0 ? "strip_vlan," : "")})`);
    else if (r < 0.82 && later) acts.push(`resubmit(,${g.int(table + 1, tables - 1)})`);
    else if (r < 0.84) acts.push(g.pick(["group:1", "group:2", "group:3"]));
    else if (r < 0.845 && later) acts.push(`learn(table=${g.int(table + 1, tables - 1)},priority=${g.int(1, 250)},hard_timeout=60,${g.pick(v4 ? LEARN_SPECS : LEARN_SPECS.slice(0, 2))})`);
    else if (r < 0.85) acts.push("exit");
    else if (r < 0.93) acts.push("NORMAL");
    else acts.push(g.pick(["FLOOD", "ALL", "output:2"]));
  }
  if (g.chance(0.08)) acts.push("clear_actions");
  if (g.chance(0.15)) acts.push(`write_actions(${g.pick(["output:3", "mod_dl_src:fa:16:3e:00:00:0b,output:4", "group:1", "mod_dl_dst:fa:16:3e:00:00:0d"])})`);
  if (later && g.chance(0.1)) acts.push("write_metadata:0x1/0x1");
  if (later && g.chance(0.15)) acts.push(`goto_table:${g.int(table + 1, tables - 1)}`);
  return `${m.join(",")} actions=${acts.length ? acts.join(",") : "drop"}`;
}

/** What learn() actions in random rules learn: a MAC, a VLAN and MAC, an IP source. */
const LEARN_SPECS = [
  "NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],output:NXM_OF_IN_PORT[]",
  "NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],output:NXM_OF_IN_PORT[]",
  "eth_type=0x800,NXM_OF_IP_DST[]=NXM_OF_IP_SRC[],load:NXM_OF_IN_PORT[]->NXM_NX_REG0[0..15],output:NXM_NX_REG0[0..15]",
];

/** Groups every case has: all, indirect and fast failover (port 9 never exists). */
const GROUPS = `group_id=1,type=all,bucket=output:1,bucket=mod_dl_src:fa:16:3e:00:00:0a,output:2
group_id=2,type=indirect,bucket=mod_dl_dst:fa:16:3e:00:00:0e,output:4
group_id=3,type=ff,bucket=watch_port:9,output:1,bucket=watch_port:3,output:3
`;

function randomFrame(g: Gen, src: string): Uint8Array {
  const vlans: VlanTag[] = g.pick([[], [], [], [{ vid: 10 }], [{ vid: 20, pcp: 3 }], [{ vid: 0, pcp: 5 }], [{ vid: 30 }]]);
  const dst = g.pick([...DST_MACS, "fa:16:3e:00:00:22", "fa:16:3e:00:00:23"]);
  const ttl = g.pick([64, 64, 2, 1]);
  const tp = (): Layer => (g.chance(0.5) ? tcp({ src: g.pick(TP_PORTS), dst: g.pick(TP_PORTS), flags: g.pick(["S", "SA", "A", "F"]) }) : udp({ src: g.pick(TP_PORTS), dst: g.pick(TP_PORTS) }, new Uint8Array(g.int(0, 12))));
  const kind = g.int(0, 10);
  let l3: Layer;
  if (kind <= 4) l3 = ipv4({ src: g.pick(IPS), dst: g.pick(IPS), ttl, tos: g.pick([0, 0, 32, 3]) }, kind === 4 ? icmpEcho({ id: 1, seq: g.int(1, 9) }) : tp());
  else if (kind === 5) l3 = ipv4({ src: g.pick(IPS), dst: g.pick(IPS), ttl, mf: g.chance(0.5), fragOffset: g.pick([0, 0, 8]), id: 7 }, tp());
  else if (kind <= 7) l3 = ipv6({ src: g.pick(IP6S), dst: g.pick(IP6S), hopLimit: ttl }, kind === 7 ? icmp6Echo({ id: 1, seq: 1 }) : tp());
  else l3 = arp({ op: g.pick(["request", "reply"] as const), sha: src, spa: g.pick(IPS), tpa: g.pick(IPS) });
  return eth({ src, dst, vlans }, l3);
}

export function randomScenario(seed: number): Scenario {
  const g = new Gen(prng(seed));
  const lines: string[] = [];
  for (let t = 0; t < TABLES; t++) {
    const count = t === 0 ? g.int(2, 7) : g.int(0, 5);
    const prios = new Set<number>();
    while (prios.size < count) prios.add(g.int(1, 200));
    for (const p of prios) lines.push(randomRule(g, t, p));
  }
  const ports: Scenario["ports"] = [
    { name: "p1", bridge: "br", ofport: 1 },
    { name: "p2", bridge: "br", ofport: 2 },
    { name: "p3", bridge: "br", ofport: 3, ...g.pick([{}, { tag: 10 }, { tag: 20, vlan_mode: "native-untagged" as const }]) },
    { name: "p4", bridge: "br", ofport: 4, ...g.pick([{}, { trunks: [10, 20] }, { tag: 10, vlan_mode: "native-tagged" as const, trunks: [10, 30] }]) },
  ];
  const bridges: Scenario["bridges"] = [{ name: "br", flows: lines.join("\n") + "\n", groups: GROUPS }];
  // A third of the cases put a second bridge behind port 4 of br, a patch
  // port, with NORMAL or a random table of its own.
  if (g.chance(0.33)) {
    ports[3] = { name: "p4", bridge: "br", ofport: 4, type: "patch", peer: "q1" };
    ports.push(
      { name: "q1", bridge: "br2", ofport: 1, type: "patch", peer: "p4", ...g.pick([{}, { tag: 10 }, { trunks: [10, 30] }]) },
      { name: "q2", bridge: "br2", ofport: 2, ...g.pick([{}, { tag: 10 }, { tag: 20 }]) },
      { name: "q3", bridge: "br2", ofport: 3 },
    );
    const other: string[] = [];
    if (g.chance(0.5)) {
      for (let t = 0; t < 2; t++) {
        const prios = new Set<number>();
        const count = g.int(1, 4);
        while (prios.size < count) prios.add(g.int(1, 200));
        for (const p of prios) other.push(randomRule(g, t, p, 2));
      }
    }
    bridges.push({ name: "br2", flows: other.length ? other.join("\n") + "\n" : "priority=0 actions=NORMAL\n", groups: GROUPS });
  }
  // A few frames, then one-bit variants of them, mostly from the same port
  // (so caches answer for some and megaflows must tell the others apart).
  const inputs: Scenario["inputs"] = [];
  const n = g.int(8, 12);
  const inPorts = ports.filter((p) => p.type !== "patch").map((p) => p.name);
  for (let i = 0; i < n; i++) {
    const port = g.pick(inPorts);
    inputs.push({ port, frame: randomFrame(g, g.chance(0.5) ? g.pick(MACS) : srcMacOf(port)) });
  }
  for (let i = 0; i < n; i++) {
    const base = inputs[g.int(0, n - 1)];
    const frame = base.frame.slice();
    const at = g.pick([5, 11, 13, 14, 15, 22, 23, 26, 30, 33, 34, 37, frame.length - 1]);
    // Never the DEI bit of a tag (bit 4 of byte 14): OVS keys cannot see it, and
    // whether it survives depends on OVS's flood order (a pop and push before an
    // output clears it), which is unspecified.
    if (g.chance(0.7) && at < frame.length) frame[at] ^= 1 << (at === 14 ? g.pick([0, 1, 2, 3, 5, 6, 7]) : g.int(0, 7));
    inputs.push({ port: g.chance(0.8) ? base.port : g.pick(inPorts), frame });
  }
  return { name: `random-${seed.toString(16)}`, bridges, ports, inputs };
}

/** The seed of every case, in order. */
export const seeds = Array.from({ length: CASES }, (_, i) => (SEED + i * 0x9e3779b1) >>> 0);
