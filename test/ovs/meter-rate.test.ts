/**
 * Differential: meters metering real packets. Frames injected back to back
 * into OVS 3.1's dummy datapath (one netdev-dummy/receive) through a meter
 * with a tiny rate: only what its bucket holds at the start passes, the
 * rest is dropped, since the refill in the few ms the injection takes
 * (1 packet/s, or 1 bit/ms) cannot pay for another packet. The same frames
 * through flowplane's datapath at one time must leave by the same ports,
 * byte for byte. A frame after them through an unmetered flow marks the
 * end of OVS's processing (one rx queue, in order).
 */
import { describe, it, expect } from "vitest";
import { haveOvs, M } from "./check.js";
import { OvsSandbox } from "./harness.js";
import { singleBridge, newTable, openflowLoader } from "../../src/ofproto/load.js";
import { buildSwitch, validateTopology } from "../../src/ofproto/topology.js";
import { addFlowsText } from "../../src/daemon/flowmod.js";
import { addMeterText, meterStats } from "../../src/daemon/metermod.js";
import { Datapath } from "../../src/datapath/dpif.js";
import { readCapture } from "../../src/io/pcap.js";
import { eth, ipv4, udp } from "../../src/packet/build.js";

const METERS = [
  // pktps, no burst flag: burst = rate = 1 packet.
  "meter=1,pktps,bands=type=drop,rate=1",
  // pktps, burst 4 packets.
  "meter=2,pktps,burst,bands=type=drop,rate=1,burst_size=4",
  // kbps, burst 2 kbit = 2000 bits: two 120-byte frames (960 bits each) leave 80 bits.
  "meter=3,kbps,burst,bands=type=drop,rate=1,burst_size=2",
];
const FLOWS = [
  "priority=10,udp,tp_dst=1,actions=meter:1,output:2",
  "priority=10,udp,tp_dst=2,actions=meter:2,output:3",
  "priority=10,udp,tp_dst=3,actions=meter:3,output:4",
  "priority=5,udp,actions=output:5",
].join("\n");

/** A 120-byte UDP frame to `dport`, numbered by its source port. */
const frame = (dport: number, n: number): Uint8Array =>
  eth({ src: M(1), dst: M(2) }, ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }, udp({ src: 1000 + n, dst: dport }, new Uint8Array(120 - 42))));

const hexOf = (f: Uint8Array): string => Buffer.from(f).toString("hex");

/** The frames a pcap holds, as hex. */
function pcapFrames(path: string): string[] {
  const cap = readCapture(path);
  return Array.from({ length: cap.count }, (_, i) => hexOf(cap.buffer.subarray(cap.offsets[i], cap.offsets[i] + cap.lengths[i])));
}

describe.skipIf(!haveOvs)("meters metering packets vs. Open vSwitch", () => {
  it("passes the same frames of a back-to-back burst, byte for byte", async () => {
    const ports = [1, 2, 3, 4, 5].map((n) => ({ name: `p${n}`, ofport: n }));
    const frames: Uint8Array[] = [];
    for (let n = 0; n < 6; n++) for (const dport of [1, 2, 3]) frames.push(frame(dport, n));

    const sw = singleBridge("flows", ports, "br0", () => "");
    const br = sw.byName.get("br0")!;
    br.protocol = "OpenFlow13";
    for (const m of METERS) addMeterText(br, m);
    addFlowsText(br, FLOWS, "flows", 0);
    const dp = new Datapath(sw);
    const ours = new Map<string, string[]>();
    const buf = new Uint8Array(frames.length * 128);
    frames.forEach((f, i) => buf.set(f, i * 128));
    const offsets = Uint32Array.from(frames.map((_, i) => i * 128));
    const lengths = Uint32Array.from(frames.map((f) => f.length));
    const inPorts = new Uint32Array(frames.length).fill(sw.portsByName.get("p1")!.dpPort);
    dp.processBatch(buf, offsets, lengths, inPorts, frames.length, 1_700_000_000_000, (port, b, off, len) => {
      const name = sw.dpPortName(port)!;
      ours.set(name, [...(ours.get(name) ?? []), hexOf(b.subarray(off, off + len))]);
    });

    const ovs = await OvsSandbox.start();
    try {
      await ovs.addBridge("br0", { protocols: ["OpenFlow13"] });
      await ovs.addPorts("br0", ports);
      await ovs.delFlows("br0", undefined, { protocol: "OpenFlow13" });
      for (const m of METERS) await ovs.ofctl(["-O", "OpenFlow13", "add-meter", "br0", m]);
      await ovs.addFlows("br0", FLOWS + "\n", { protocol: "OpenFlow13" });
      await ovs.receive("p1", [...frames.map(hexOf), hexOf(frame(9, 99))]);
      await ovs.waitForTxPackets("p5", 1);
      for (const p of ["p2", "p3", "p4"]) {
        const theirs = pcapFrames(ovs.readTxPcap(p));
        expect(ours.get(p) ?? [], p).toEqual(theirs);
      }
      // meter-stats: flows, packets and bytes in, and what each band dropped (the ages aside).
      const noAge = (t: string): string => t.replace(/duration:[\d.]+s/, "duration:-");
      const theirStats = (await ovs.ofctl(["-O", "OpenFlow13", "meter-stats", "br0"])).split("\n").slice(1).join("\n").split("\n\n");
      expect(meterStats(br).map(noAge)).toEqual(theirStats.map((b) => noAge(b.trim())).filter((b) => b !== "").sort());
    } finally {
      await ovs.stop();
    }
    // What the bucket arithmetic says: 1, 4 and 2 frames of the six sent to each.
    expect([ours.get("p2")?.length, ours.get("p3")?.length, ours.get("p4")?.length]).toEqual([1, 4, 2]);
  });
});

describe.skipIf(!haveOvs)("a meter behind a patch port vs. Open vSwitch", () => {
  it("drops in its datapath clone only: the outputs after the patch port still get every frame", async () => {
    // br0: out through the patch port into br1 (meter 1: one packet), then to p2.
    const spec = validateTopology(
      {
        bridges: [
          { name: "br0", protocols: "OpenFlow13", flows: "br0.flows" },
          { name: "br1", protocols: "OpenFlow13", flows: "br1.flows", meters: "br1.meters" },
        ],
        ports: [
          { name: "p1", bridge: "br0", ofport: 1 },
          { name: "p2", bridge: "br0", ofport: 2 },
          { name: "patch-br1", bridge: "br0", ofport: 9, type: "patch", peer: "patch-br0" },
          { name: "patch-br0", bridge: "br1", ofport: 1, type: "patch", peer: "patch-br1" },
          { name: "q2", bridge: "br1", ofport: 2 },
        ],
      },
      "/t/t.json",
    );
    const files: Record<string, string> = {
      "/t/br0.flows": "in_port=1,ip,actions=mod_nw_tos:16,output:9,output:2\n",
      "/t/br1.flows": "in_port=1,actions=meter:1,output:2\n",
      "/t/br1.meters": "meter=1,pktps,bands=type=drop,rate=1\n",
    };
    const sw = buildSwitch(spec, "/t/t.json", newTable, openflowLoader, (p) => files[p]);
    const frames = Array.from({ length: 5 }, (_, n) => frame(1, n));
    const ours = new Map<string, string[]>();
    const dp = new Datapath(sw);
    for (const f of frames) {
      dp.processBatch(f, Uint32Array.of(0), Uint32Array.of(f.length), Uint32Array.of(sw.portsByName.get("p1")!.dpPort), 1, 1_700_000_000_000, (port, b, off, len) => {
        const name = sw.dpPortName(port)!;
        ours.set(name, [...(ours.get(name) ?? []), hexOf(b.subarray(off, off + len))]);
      });
    }
    const ovs = await OvsSandbox.start();
    try {
      await ovs.addBridge("br0", { protocols: ["OpenFlow13"], ports: [{ name: "p1", ofport: 1 }, { name: "p2", ofport: 2 }, { name: "patch-br1", ofport: 9, type: "patch", options: { peer: "patch-br0" } }] });
      await ovs.addBridge("br1", { protocols: ["OpenFlow13"], ports: [{ name: "patch-br0", ofport: 1, type: "patch", options: { peer: "patch-br1" } }, { name: "q2", ofport: 2 }] });
      await ovs.ofctl(["-O", "OpenFlow13", "add-meter", "br1", files["/t/br1.meters"].trim()]);
      await ovs.replaceFlows("br0", files["/t/br0.flows"], { protocol: "OpenFlow13" });
      await ovs.replaceFlows("br1", files["/t/br1.flows"], { protocol: "OpenFlow13" });
      await ovs.receive("p1", frames.map(hexOf));
      await ovs.waitForTxPackets("p2", frames.length);
      for (const p of ["p2", "q2"]) expect(ours.get(p) ?? [], p).toEqual(pcapFrames(ovs.readTxPcap(p)));
    } finally {
      await ovs.stop();
    }
    expect([ours.get("p2")?.length, ours.get("q2")?.length]).toEqual([5, 1]);
  });
});
