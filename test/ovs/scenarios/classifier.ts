/**
 * A scenario for the classifier's share of megaflow masks: prefixes (the
 * nw_dst tries), staged lookup (an L4 stage consulted or not) and misses.
 */
import type { Scenario } from "../scenario.js";
import { portsOn } from "./ports.js";
import { M } from "../check.js";
import { eth, ipv4, tcp, udp } from "../../../src/packet/build.js";

const pkt = (dst: string, dport: number, proto: "tcp" | "udp" = "tcp"): Uint8Array =>
  eth({ src: M(1), dst: M(2) }, ipv4({ src: "10.0.0.1", dst }, proto === "tcp" ? tcp({ src: 1234, dst: dport, flags: "A" }) : udp({ src: 1234, dst: dport })));

export const classifierMasks: Scenario = {
  name: "classifier-masks",
  bridges: [
    {
      name: "br0",
      flows: [
        "priority=30,ip,nw_dst=10.0.0.0/24,actions=output:2",
        "priority=20,tcp,nw_dst=192.168.1.0/24,tp_dst=80,actions=output:3",
        "priority=10,udp,tp_dst=53,actions=output:3",
        "priority=1,actions=drop",
      ].join("\n"),
    },
  ],
  ports: portsOn("br0", ["p1", "p2", "p3"]),
  inputs: [
    { port: "p1", frame: pkt("10.0.0.7", 22) },
    { port: "p1", frame: pkt("192.168.1.5", 80) },
    { port: "p1", frame: pkt("192.168.1.5", 81) },
    { port: "p1", frame: pkt("172.16.0.1", 80) },
    { port: "p1", frame: pkt("172.16.0.1", 53, "udp") },
    { port: "p1", frame: pkt("8.8.8.8", 54, "udp") },
  ],
};
