/**
 * Scenario of pipeline-clones.test.ts: actions that are not reversible (ct,
 * ct with nat, output_trunc, a ct that recirculates) reached through a
 * patch port or an OpenFlow clone() with more actions after them, which
 * OVS's clone_xlate_actions puts into a datapath clone(...) so the actions
 * after it see the packet as it was; the same at the end of the list,
 * where no clone is needed; and output_trunc on its own: cut to max_len for
 * the next output only, refused for IN_PORT and a patch port, skipped
 * for the input port; an empty clone(), which traces as "drop".
 */
import type { Scenario } from "../scenario.js";
import { M } from "../check.js";
import { eth, ipv4, udp } from "../../../src/packet/build.js";

const BR0_FLOWS = `
priority=10,in_port=1,udp,tp_dst=1 actions=output:9,output:3
priority=10,in_port=1,udp,tp_dst=2 actions=output:9,mod_dl_dst:${M(9)},output:3
priority=10,in_port=1,udp,tp_dst=3 actions=clone(ct(commit,zone=3),output:4),output:3
priority=10,in_port=1,udp,tp_dst=4 actions=output:9,output:3
priority=10,in_port=1,udp,tp_dst=5 actions=output:9,output:3
priority=10,in_port=1,udp,tp_dst=6 actions=clone(ct(commit,zone=4,nat(src=10.8.8.8)),output:4),output:3
priority=10,in_port=1,udp,tp_dst=7 actions=output:3,output:9
priority=10,in_port=1,udp,tp_dst=8 actions=output(port=3,max_len=40),output:4,output(port=4,max_len=200)
priority=10,in_port=1,udp,tp_dst=9 actions=output(port=LOCAL,max_len=40),output(port=IN_PORT,max_len=40),output(port=9,max_len=40),output(port=1,max_len=40),output:3
priority=10,in_port=1,udp,tp_dst=10 actions=mod_nw_tos:16,output(port=4,max_len=30),clone(output(port=3,max_len=20)),output:3
priority=10,in_port=1,udp,tp_dst=11 actions=clone(),output:3
priority=5 actions=drop
`;

const BR1_FLOWS = `
priority=10,in_port=1,udp,tp_dst=1 actions=ct(commit,zone=1),output:2
priority=10,in_port=1,udp,tp_dst=2 actions=ct(commit,zone=1,nat(src=10.9.9.9)),output:2
priority=10,in_port=1,udp,tp_dst=4 actions=output(port=2,max_len=30)
priority=10,in_port=1,udp,tp_dst=5 actions=ct(zone=2,table=1)
priority=10,in_port=1,udp,tp_dst=7 actions=ct(commit,zone=1,nat(src=10.9.9.7)),output:2
table=1,priority=10 actions=output:2
priority=5 actions=drop
`;

/** A UDP frame to port `dst` with 60 bytes of payload (102 bytes): long enough to be cut. */
const toPort = (dst: number): Uint8Array => eth({ src: M(1), dst: M(2) }, ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }, udp({ src: 1000, dst }, new Uint8Array(60).fill(0xab))));

export const pipelines: Scenario = {
  name: "clones",
  bridges: [
    { name: "br0", flows: BR0_FLOWS },
    { name: "br1", flows: BR1_FLOWS },
  ],
  ports: [
    { name: "p1", bridge: "br0", ofport: 1 },
    { name: "p3", bridge: "br0", ofport: 3 },
    { name: "p4", bridge: "br0", ofport: 4 },
    { name: "patch-br1", bridge: "br0", ofport: 9, type: "patch", peer: "patch-br0" },
    { name: "patch-br0", bridge: "br1", ofport: 1, type: "patch", peer: "patch-br1" },
    { name: "q2", bridge: "br1", ofport: 2 },
  ],
  inputs: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11].map((d) => ({ port: "p1", frame: toPort(d) })),
};
