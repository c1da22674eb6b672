/**
 * Scenarios of pipeline-of13.test.ts: OpenFlow 1.3 instruction chains and
 * groups: write_actions / clear_actions / write_metadata with goto_table and
 * metadata matches (the action set executed at the end of the pipeline, in
 * OVS's order), and groups of type all, indirect, select and fast failover
 * (live and dead watch ports, watch groups).
 */
import type { Scenario } from "../scenario.js";
import { M, BCAST } from "../check.js";
import { eth, ipv4, ipv6, tcp, udp, arp, icmpEcho } from "../../../src/packet/build.js";

const ports = (n: number): { name: string; bridge: string; ofport: number }[] =>
  Array.from({ length: n }, (_, i) => ({ name: `p${i + 1}`, bridge: "br0", ofport: i + 1 }));

const ip4 = (src: number, dst: number, l4: ReturnType<typeof udp>, opts: { tos?: number; ttl?: number } = {}): ReturnType<typeof ipv4> =>
  ipv4({ src: `10.0.0.${src}`, dst: `10.0.0.${dst}`, ttl: opts.ttl ?? 64, tos: opts.tos }, l4);

/** write_actions, clear_actions, write_metadata, goto_table and metadata matches. */
const INSTRUCTION_FLOWS = `
table=0,priority=10,in_port=1,ip actions=write_actions(mod_dl_src:${M(0xee)},output:3),write_metadata:0x10/0xff,goto_table:1
table=0,priority=10,in_port=2 actions=write_metadata:0x20/0xf0,goto_table:1
table=0,priority=10,in_port=3,ip actions=mod_nw_tos:16,write_actions(mod_nw_ttl:9,output:4),goto_table:3
table=0,priority=10,in_port=4 actions=write_actions(strip_vlan,mod_dl_dst:${M(0xdd)},output:1),goto_table:4
table=0,priority=20,in_port=2,udp,tp_dst=9 actions=write_actions(output:4),goto_table:6
table=0,priority=20,in_port=2,udp,tp_dst=10 actions=write_actions(output:4),goto_table:8
table=0,priority=20,in_port=2,udp,tp_dst=11 actions=write_actions(output:4),goto_table:7
table=0,priority=0 actions=drop
table=1,priority=10,metadata=0x10/0xff,tcp actions=clear_actions,write_actions(output:4),goto_table:2
table=1,priority=10,metadata=0x10/0xff,udp actions=write_actions(mod_tp_dst:5353),write_metadata:0x1100/0xff00,goto_table:2
table=1,priority=5,metadata=0x10/0xff actions=goto_table:2
table=1,priority=5,metadata=0x20/0xf0 actions=output:3,write_actions(output:4),goto_table:2
table=2,priority=20,metadata=0x1110 actions=write_actions(output:2)
table=2,priority=10,metadata=0x20 actions=mod_dl_dst:${M(0xcc)}
table=2,priority=1 actions=
table=3,priority=10,ip,nw_tos=16 actions=write_actions(mod_nw_ttl:7),goto_table:5
table=3,priority=5 actions=clear_actions
table=4,priority=10,dl_vlan=10 actions=write_actions(push_vlan:0x8100,mod_vlan_vid:30),goto_table:5
table=4,priority=5 actions=goto_table:5
table=5,priority=1 actions=write_metadata:0x1/0x1
table=6,priority=1 actions=clone(mod_dl_src:${M(0xc1)},output:3),mod_dl_dst:${M(0xc2)},output:1
table=7,priority=1 actions=resubmit(,8),output:3
table=8,priority=1 actions=output:1,exit
`;
export const instructions: Scenario = {
  name: "instructions",
  bridges: [{ name: "br0", flows: INSTRUCTION_FLOWS }],
  ports: ports(4),
  inputs: [
    // tcp: table 1 clears the set from table 0 and writes output:4 only.
    { port: "p1", frame: eth({ src: M(1), dst: M(2) }, ip4(1, 2, tcp({ src: 1000, dst: 80, flags: "S" }))) },
    // udp: table 0's set (mod_dl_src, output:3) plus table 1's mod_tp_dst, then table 2 replaces output with 2.
    { port: "p1", frame: eth({ src: M(1), dst: M(2) }, ip4(1, 2, udp({ src: 1000, dst: 53 }))) },
    // icmp: the set from table 0 as written.
    { port: "p1", frame: eth({ src: M(1), dst: M(2) }, ip4(1, 2, icmpEcho({ id: 1, seq: 1 }))) },
    // metadata written under a mask: apply-actions output before the action set's output.
    { port: "p2", frame: eth({ src: M(2), dst: M(1) }, ip4(2, 1, udp({ src: 7, dst: 7 }))) },
    { port: "p2", frame: eth({ src: M(2), dst: M(1) }, arp({ op: "request", sha: M(2), spa: "10.0.0.2", tpa: "10.0.0.1" })) },
    // Apply-actions change the TOS now; the TTL set by the action set, the later write wins.
    { port: "p3", frame: eth({ src: M(3), dst: M(4) }, ip4(3, 4, udp({ src: 1, dst: 2 }))) },
    { port: "p3", frame: eth({ src: M(3), dst: M(4) }, arp({ op: "request", sha: M(3), spa: "10.0.0.3", tpa: "10.0.0.4" })) },
    // Action set with strip_vlan, push_vlan and a VID set: pops and pushes before the sets.
    { port: "p4", frame: eth({ src: M(4), dst: M(1), vlans: [{ vid: 10, pcp: 4 }] }, ip4(4, 1, udp({ src: 1, dst: 2 }))) },
    { port: "p4", frame: eth({ src: M(4), dst: M(1), vlans: [{ vid: 11 }] }, ip4(4, 1, udp({ src: 1, dst: 2 }))) },
    { port: "p4", frame: eth({ src: M(4), dst: M(1) }, ip4(4, 1, udp({ src: 1, dst: 2 }))) },
    // clone() executes its copy of the action set at its end; the original set runs again at the end.
    { port: "p2", frame: eth({ src: M(2), dst: M(1) }, ip4(2, 1, udp({ src: 7, dst: 9 }))) },
    // exit ends the pipeline without executing the action set, also from a resubmitted table.
    { port: "p2", frame: eth({ src: M(2), dst: M(1) }, ip4(2, 1, udp({ src: 7, dst: 10 }))) },
    { port: "p2", frame: eth({ src: M(2), dst: M(1) }, ip4(2, 1, udp({ src: 7, dst: 11 }))) },
  ],
};

/** groups: all, indirect, fast failover with live and dead watch ports. */
const GROUPS = `
group_id=1,type=all,bucket=output:2,bucket=mod_dl_src:${M(0xaa)},output:3,bucket=mod_nw_src:192.168.0.1,mod_vlan_vid:5,output:4
group_id=2,type=indirect,bucket=mod_dl_dst:${M(0xbb)},output:2
group_id=3,type=ff,bucket=watch_port:9,output:9,bucket=watch_port:3,mod_tp_dst:99,output:3,bucket=watch_port:4,output:4
group_id=4,type=ff,bucket=watch_port:9,output:2,bucket=watch_port:8,output:3
group_id=5,type=ff,bucket=watch_group:4,group:4,bucket=watch_group:2,group:2
group_id=6,type=all,bucket=output:4,mod_dl_src:${M(0xab)},bucket=output:2,output:3
group_id=7,type=all,bucket=resubmit(,1),bucket=group:2
`;
const GROUP_FLOWS = `
table=0,priority=10,in_port=1,udp,tp_dst=1 actions=group:1
table=0,priority=10,in_port=1,udp,tp_dst=2 actions=mod_nw_tos:8,group:2,output:4
table=0,priority=10,in_port=1,udp,tp_dst=3 actions=group:3
table=0,priority=10,in_port=1,udp,tp_dst=4 actions=group:4,output:2
table=0,priority=10,in_port=1,udp,tp_dst=5 actions=group:5
table=0,priority=10,in_port=1,udp,tp_dst=6 actions=group:6
table=0,priority=10,in_port=1,udp,tp_dst=7 actions=group:7,output:4
table=0,priority=10,in_port=1,udp,tp_dst=8 actions=write_actions(group:2,output:3)
table=0,priority=10,in_port=1,udp,tp_dst=9 actions=group:1,mod_dl_dst:${M(0x99)},output:2
table=1,priority=1 actions=mod_dl_src:${M(0x77)},output:3
`;
const toUdpPort = (dst: number): Uint8Array => eth({ src: M(1), dst: M(2) }, ip4(1, 2, udp({ src: 5000, dst })));
export const groups: Scenario = {
  name: "groups",
  bridges: [{ name: "br0", flows: GROUP_FLOWS, groups: GROUPS }],
  ports: ports(4),
  inputs: [1, 2, 3, 4, 5, 6, 7, 8, 9].map((d) => ({ port: "p1", frame: toUdpPort(d) })),
};

/**
 * select groups whose live buckets all do the same (weight 0, dead watch
 * port, equal buckets).
 *
 * OVS 3.1 picks a select bucket in two passes: the first ends in
 * hash(sym_l4(0)),recirc(N) and the recirculated packet takes the bucket
 * its datapath hash maps to (selection_method=hash is an OpenFlow 1.5
 * property that add-groups -O OpenFlow13 drops). flowplane picks the
 * bucket in one pass from its own hash. The datapath actions of those
 * traces cannot be compared; the transmitted frames can, because every
 * group here has one live bucket: bucket 0 of group 2 has weight 0 and
 * the port group 3's first bucket watches does not exist.
 */
const SELECT_GROUPS = `
group_id=1,type=select,selection_method=hash,fields(ip_src,ip_dst),bucket=output:2
group_id=2,type=select,selection_method=hash,fields(eth_dst),bucket=bucket_id:0,weight:0,output:3,bucket=bucket_id:1,weight:10,mod_dl_src:${M(0xaa)},output:4
group_id=3,type=select,selection_method=hash,fields(tcp_dst),bucket=weight:100,watch_port:9,output:2,bucket=weight:100,watch_port:3,output:3
group_id=4,type=select,bucket=weight:50,mod_nw_tos:32,output:2,bucket=weight:100,mod_nw_tos:32,output:2,bucket=weight:70,mod_nw_tos:32,output:2
`;
const SELECT_FLOWS = `
table=0,priority=10,in_port=1,dl_dst=${M(2)} actions=group:1
table=0,priority=10,in_port=1,dl_dst=${M(3)} actions=group:2
table=0,priority=10,in_port=1,dl_dst=${M(4)} actions=group:3
table=0,priority=10,in_port=1,dl_dst=${M(5)},ip actions=group:4,output:3
`;
export const select: Scenario = {
  name: "select",
  bridges: [{ name: "br0", flows: SELECT_FLOWS, groups: SELECT_GROUPS }],
  ports: ports(4),
  inputs: [
    { port: "p1", frame: eth({ src: M(1), dst: M(2) }, ip4(1, 2, udp({ src: 1, dst: 2 }))) },
    { port: "p1", frame: eth({ src: M(1), dst: M(2) }, ip4(1, 9, udp({ src: 1, dst: 2 }))) },
    { port: "p1", frame: eth({ src: M(1), dst: M(2) }, arp({ op: "request", sha: M(1), spa: "10.0.0.1", tpa: "10.0.0.2" })) },
    { port: "p1", frame: eth({ src: M(1), dst: M(3) }, ip4(1, 3, tcp({ src: 1, dst: 2, flags: "S" }))) },
    { port: "p1", frame: eth({ src: M(1), dst: M(4) }, ip4(1, 4, tcp({ src: 1, dst: 22, flags: "S" }))) },
    { port: "p1", frame: eth({ src: M(1), dst: M(4) }, ipv6({ src: "fd00::1", dst: "fd00::4" }, tcp({ src: 1, dst: 80, flags: "S" }))) },
    { port: "p1", frame: eth({ src: M(1), dst: BCAST }, ip4(1, 255, udp({ src: 1, dst: 2 }))) },
    // Actions after the group run after the bucket (OVS: in the recirculated pass).
    { port: "p1", frame: eth({ src: M(1), dst: M(5) }, ip4(1, 5, udp({ src: 3, dst: 4 }))) },
    { port: "p1", frame: eth({ src: M(1), dst: M(5) }, ip4(1, 5, tcp({ src: 3, dst: 4, flags: "A" }))) },
  ],
};

/** The inputs of `select` whose OVS translation recirculates, so whose datapath actions cannot be compared. */
const recirculates = "OVS: hash(sym_l4(0)),recirc(); flowplane: the bucket's actions";
export const selectRecirculates: Record<number, string> = { 0: recirculates, 1: recirculates, 2: recirculates, 3: recirculates, 4: recirculates, 5: recirculates, 7: recirculates, 8: recirculates };

/** A TOS rewrite to zero: OVS prints the zero of a hex field as "0" (C's "%#x"). */
export const zeroHex: Scenario = {
  name: "zero-hex",
  bridges: [{ name: "br0", flows: "in_port=1,ip actions=mod_nw_tos:0,output:2\n" }],
  ports: ports(2),
  inputs: [{ port: "p1", frame: eth({ src: M(1), dst: M(2) }, ip4(1, 2, udp({ src: 1, dst: 2 }), { tos: 32 })) }],
};
