/**
 * Scenarios of pipeline-basic.test.ts: a small in_port/output table with
 * header rewrites, and NORMAL with access and trunk ports.
 */
import type { Scenario } from "../scenario.js";
import { portsOn } from "./ports.js";
import { M } from "../check.js";
import { eth, ipv4, tcp, udp, arp, icmpEcho } from "../../../src/packet/build.js";

export const rewrite: Scenario = {
  name: "rewrite",
  bridges: [
    {
      name: "br0",
      flows: [
        "table=0,priority=10,in_port=1,tcp,actions=mod_vlan_vid:7,mod_nw_dst:10.0.0.9,mod_tp_dst:99,output:2",
        "table=0,priority=10,in_port=1,udp,actions=mod_dl_src:fa:16:3e:00:00:99,dec_ttl,resubmit(,1)",
        "table=1,udp,actions=mod_tp_src:5353,output:3",
        "table=0,priority=5,in_port=1,actions=output:2,output:3",
        "table=0,priority=1,actions=drop",
      ].join("\n"),
    },
  ],
  ports: portsOn("br0", ["p1", "p2", "p3"]),
  inputs: [
    { port: "p1", frame: eth({ src: M(1), dst: M(2) }, ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }, tcp({ src: 1234, dst: 80, flags: "S" }))) },
    { port: "p1", frame: eth({ src: M(1), dst: M(2) }, ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }, udp({ src: 1000, dst: 53 }, new Uint8Array(20)))) },
    { port: "p1", frame: eth({ src: M(1), dst: M(2) }, arp({ op: "request", sha: M(1), spa: "10.0.0.1", tpa: "10.0.0.2" })) },
    { port: "p2", frame: eth({ src: M(2), dst: M(1) }, ipv4({ src: "10.0.0.2", dst: "10.0.0.1" }, icmpEcho({ id: 1, seq: 1 }))) },
  ],
};

export const normal: Scenario = {
  name: "normal",
  bridges: [{ name: "br0" }],
  ports: [
    { name: "a1", bridge: "br0", ofport: 1, tag: 10 },
    { name: "a2", bridge: "br0", ofport: 2, tag: 10 },
    { name: "a3", bridge: "br0", ofport: 3, tag: 20 },
    { name: "t1", bridge: "br0", ofport: 4 },
    { name: "t2", bridge: "br0", ofport: 5, trunks: [20, 30] },
  ],
  inputs: [
    { port: "a1", frame: eth({ src: M(1), dst: "ff:ff:ff:ff:ff:ff" }, arp({ op: "request", sha: M(1), spa: "10.0.0.1", tpa: "10.0.0.2" })) },
    { port: "a2", frame: eth({ src: M(2), dst: M(1) }, arp({ op: "reply", sha: M(2), spa: "10.0.0.2", tha: M(1), tpa: "10.0.0.1" })) },
    { port: "a1", frame: eth({ src: M(1), dst: M(2) }, ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }, icmpEcho({ id: 1, seq: 1 }))) },
    { port: "t1", frame: eth({ src: M(5), dst: "ff:ff:ff:ff:ff:ff", vlans: [{ vid: 20 }] }, ipv4({ src: "10.0.1.5", dst: "10.0.1.255" }, udp({ src: 1, dst: 2 }))) },
    { port: "t2", frame: eth({ src: M(6), dst: M(5), vlans: [{ vid: 20, pcp: 3 }] }, ipv4({ src: "10.0.1.6", dst: "10.0.1.5" }, udp({ src: 1, dst: 2 }))) },
    { port: "t2", frame: eth({ src: M(6), dst: M(5), vlans: [{ vid: 10 }] }, ipv4({ src: "10.0.1.6", dst: "10.0.1.5" }, udp({ src: 1, dst: 2 }))) },
    { port: "a3", frame: eth({ src: M(7), dst: M(6) }, ipv4({ src: "10.0.1.7", dst: "10.0.1.6" }, udp({ src: 1, dst: 2 }))) },
  ],
};
