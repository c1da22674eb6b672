/**
 * Scenario of pipeline-meters.test.ts: meters in pipelines that cross
 * tables, groups and a patch port into a second bridge, so datapath meter
 * ids (switch-wide, handed out in the order the meters are added) meet in
 * one datapath action list: `meter(0),meter(3),...`. Rates are ample: no
 * packet of the scenario is dropped, since OVS's ofproto/trace runs the
 * meter actions of the packets it traces (execute_actions_except_outputs)
 * and the differential traces every input before sending it; meter drops
 * are compared in meter-rate.test.ts.
 */
import type { Scenario } from "../scenario.js";
import { M } from "../check.js";
import { eth, ipv4, tcp, udp } from "../../../src/packet/build.js";

const AMPLE = "bands=type=drop,rate=100000";

const BR0_METERS = `
meter=1,pktps,${AMPLE}
meter=2,kbps,burst,stats,bands=type=drop,rate=100000,burst_size=100000
# a band the userspace datapath refuses would fail the load: none here
meter=7,pktps,${AMPLE} type=drop,rate=200000
`;
const BR1_METERS = `
meter=1,kbps,${AMPLE}
meter=5,pktps,${AMPLE}
`;

const BR0_FLOWS = `
table=0,priority=10,in_port=1,udp actions=meter:1,goto_table:1
table=0,priority=10,in_port=1,tcp actions=meter:2,mod_nw_tos:8,goto_table:2
table=0,priority=10,in_port=2 actions=meter:7,group:1
table=0,priority=5 actions=output:3
table=1,priority=10,udp,tp_dst=53 actions=meter:7,output:2
table=1,priority=5 actions=output:4
table=2,priority=10 actions=write_actions(output:2),goto_table:3
table=3,priority=10,tcp,tp_dst=80 actions=meter:1,output:9
table=3,priority=5 actions=
`;
const BR1_FLOWS = `
priority=10,in_port=1,tcp actions=meter:5,output:2
priority=10,in_port=1,udp actions=meter:1,output:2
priority=5 actions=drop
`;

export const pipelines: Scenario = {
  name: "meters",
  bridges: [
    { name: "br0", flows: BR0_FLOWS, meters: BR0_METERS, groups: "group_id=1,type=all,bucket=output:3,bucket=output:4\n" },
    { name: "br1", flows: BR1_FLOWS, meters: BR1_METERS },
  ],
  ports: [
    { name: "p1", bridge: "br0", ofport: 1 },
    { name: "p2", bridge: "br0", ofport: 2 },
    { name: "p3", bridge: "br0", ofport: 3 },
    { name: "p4", bridge: "br0", ofport: 4 },
    { name: "patch-br1", bridge: "br0", ofport: 9, type: "patch", peer: "patch-br0" },
    { name: "patch-br0", bridge: "br1", ofport: 1, type: "patch", peer: "patch-br1" },
    { name: "q2", bridge: "br1", ofport: 2 },
  ],
  inputs: [
    // meter:1 then table 1's meter:7: meter(0),meter(2),p2.
    { port: "p1", frame: eth({ src: M(1), dst: M(2) }, ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }, udp({ src: 1000, dst: 53 }))) },
    { port: "p1", frame: eth({ src: M(1), dst: M(2) }, ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }, udp({ src: 1000, dst: 54 }))) },
    // meter:2, table 3's meter:1, across the patch port into br1's meter:5 (id 4), then the action set:
    // the patch port is not the last action, so br1's metered actions go in a datapath clone.
    { port: "p1", frame: eth({ src: M(1), dst: M(2) }, ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }, tcp({ src: 1000, dst: 80, flags: "S" }))) },
    { port: "p1", frame: eth({ src: M(1), dst: M(2) }, ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }, tcp({ src: 1000, dst: 81, flags: "S" }))) },
    // meter:7 before a group of all.
    { port: "p2", frame: eth({ src: M(2), dst: M(1) }, ipv4({ src: "10.0.0.2", dst: "10.0.0.1" }, udp({ src: 5, dst: 6 }))) },
    { port: "p3", frame: eth({ src: M(3), dst: M(1) }, ipv4({ src: "10.0.0.3", dst: "10.0.0.1" }, udp({ src: 5, dst: 6 }))) },
  ],
};
