/**
 * Meters in a replay: captures with known timestamps through a pktps meter
 * and a kbps meter drop exactly the packets dp_netdev_run_meter's token
 * bucket arithmetic says (worked out in each test's comment), on the
 * capture's clock, so a replay's result never depends on when it runs.
 *
 * A replay meters each packet at its own capture time (a batch may span up
 * to a second of capture time, where a live OVS would have seen the
 * packets spread out over several rx batches).
 */
import { describe, it, expect } from "vitest";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { singleBridge } from "../src/ofproto/load.js";
import { replay } from "../src/cli/replay.js";
import { addMeterText } from "../src/daemon/metermod.js";
import { addFlowsText } from "../src/daemon/flowmod.js";
import { writeCapture, readCapture } from "../src/io/pcap.js";
import { eth, ipv4, udp } from "../src/packet/build.js";
import { Datapath } from "../src/datapath/dpif.js";

/** A UDP frame of exactly `size` bytes whose destination port numbers it. */
function frame(id: number, size: number): Uint8Array {
  const f = eth({ src: "fa:16:3e:00:00:01", dst: "fa:16:3e:00:00:02" }, ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }, udp({ src: 1000, dst: id }, new Uint8Array(size - 42))));
  expect(f.length).toBe(size);
  return f;
}

/** The ids (UDP destination ports) of the frames a replay wrote to a port. */
function idsOut(path: string): number[] {
  const cap = readCapture(path);
  return Array.from({ length: cap.count }, (_, i) => (cap.buffer[cap.offsets[i] + 36] << 8) | cap.buffer[cap.offsets[i] + 37]);
}

const T0 = 1_700_000_000;

/** Replays `packets` (id, size, time in ms after T0) into p1 of a bridge whose p1 flows meter:1 then output:2. */
function run(meter: string, packets: { id: number; size: number; ms: number }[]): number[] {
  const dir = mkdtempSync(join(tmpdir(), "fp-meter-"));
  const sw = singleBridge("t.flows", [1, 2].map((n) => ({ name: `p${n}`, ofport: n })), "br0", () => "");
  const br = sw.byName.get("br0")!;
  br.protocol = "OpenFlow13";
  addMeterText(br, meter);
  addFlowsText(br, "in_port=1,actions=meter:1,output:2", "flows", 0);
  writeCapture(
    join(dir, "in.pcap"),
    packets.map((p) => ({ data: frame(p.id, p.size), tsSec: T0 + Math.floor(p.ms / 1000), tsNsec: (p.ms % 1000) * 1_000_000 })),
  );
  replay(sw, [{ port: sw.portsByName.get("p1")!, capture: readCapture(join(dir, "in.pcap")) }], { outDir: join(dir, "out") });
  return idsOut(join(dir, "out", "p2.pcap"));
}

const burst = (firstId: number, count: number, size: number, ms: number): { id: number; size: number; ms: number }[] =>
  Array.from({ length: count }, (_, i) => ({ id: firstId + i, size, ms }));
const range = (from: number, count: number): number[] => Array.from({ length: count }, (_, i) => from + i);

describe("meters in a replay", () => {
  it("passes what a pktps bucket holds at each packet's time and drops the rest", () => {
    // pktps, rate 10/s, burst 30: the bucket holds 30000 (1/1000 packets),
    // gains 10 per ms, and refills for at most 30000 / 10 = 3000 ms.
    // t=0:      35 packets, bucket 30000: ids 1-30 pass, 31-35 drop; bucket 0.
    // t=1200:   20 packets, +1200*10 = 12000: ids 101-112 pass, 113-120 drop; bucket 0.
    // t=2500:    5 packets, +1300*10 = 13000: ids 201-205 pass; bucket 8000.
    // t=10000:  40 packets, +min(7500, 3000)*10 = 30000 -> 38000, capped at 30000:
    //           ids 301-330 pass, 331-340 drop.
    const out = run("meter=1,pktps,burst,bands=type=drop,rate=10,burst_size=30", [
      ...burst(1, 35, 64, 0),
      ...burst(101, 20, 64, 1200),
      ...burst(201, 5, 64, 2500),
      ...burst(301, 40, 64, 10_000),
    ]);
    expect(out).toEqual([...range(1, 30), ...range(101, 12), ...range(201, 5), ...range(301, 30)]);
  });

  it("passes what a kbps bucket holds, packet by packet by size, and drops the rest", () => {
    // kbps, rate 4 kbit/s, burst 8 kbit: the bucket holds 8000 bits, gains 4
    // per ms, refills for at most 8000 / 4 = 2000 ms. A 300-byte frame takes
    // 2400 bits, a 100-byte one 800; a frame the bucket cannot pay for
    // leaves it as it was, so a smaller one after it may still pass.
    // t=0:     300 x4, 100: 8000 -> 5600 -> 3200 -> 800, id 4 drops (800 < 2400), id 5 passes -> 0.
    // t=1500:  300 x3: +1500*4 = 6000 -> 3600 -> 1200, id 13 drops.
    // t=5000:  100 x11: +min(3500, 2000)*4 = 8000 -> 9200, capped at 8000: ids 21-30 pass, 31 drops.
    const out = run("meter=1,kbps,burst,bands=type=drop,rate=4,burst_size=8", [
      ...burst(1, 4, 300, 0),
      { id: 5, size: 100, ms: 0 },
      ...burst(11, 3, 300, 1500),
      ...burst(21, 11, 100, 5000),
    ]);
    expect(out).toEqual([1, 2, 3, 5, 11, 12, ...range(21, 10)]);
  });

  it("drops a packet any band's bucket cannot pay for; without the burst flag a band's burst is its rate", () => {
    // pktps bands rate 5 and rate 20, no burst flag: buckets of 5 and 20 packets.
    // t=0: 25 packets: ids 1-5 pass both bands; 6-20 exceed the rate-5 band
    // and 21-25 both (src/datapath/meter.test.ts checks which band fires).
    // Both buckets are then empty (the rate-20 one paid for ids 1-20).
    // t=1400: the refill is capped at max(5000 / 5, 20000 / 20) = 1000 ms:
    // 5000 and 20000, full again: ids 101-105 pass, 106-110 exceed the rate-5 band.
    const out = run("meter=1,pktps,bands=type=drop,rate=5 type=drop,rate=20", [...burst(1, 25, 64, 0), ...burst(101, 10, 64, 1400)]);
    expect(out).toEqual([...range(1, 5), ...range(101, 5)]);
  });

  it("meters every packet of a replay at its own capture time, though they share a batch", () => {
    // pktps, rate 10/s, burst 1: a bucket of 1 packet (1000), +10 per ms.
    // Eight packets 100 ms apart (one replay batch: all within a second): at
    // each packet's time the bucket has refilled to 1000, so all 8 pass. At the
    // batch's time only the first would.
    const out = run("meter=1,pktps,burst,bands=type=drop,rate=10,burst_size=1", Array.from({ length: 8 }, (_, i) => ({ id: i + 1, size: 64, ms: i * 100 })));
    expect(out).toEqual(range(1, 8));
  });

  it("meters each frame of a batch at its own time when the datapath is given the frames' times", () => {
    // pktps, rate 10/s, burst 1: a bucket of 1 packet, refilled in 100 ms.
    // Five frames 100 ms apart in one batch: each finds a full bucket when metered at
    // its own time; at the batch's time only the first does.
    const sw = singleBridge("t.flows", [1, 2].map((n) => ({ name: `p${n}`, ofport: n })), "br0", () => "");
    const br = sw.byName.get("br0")!;
    br.protocol = "OpenFlow13";
    addMeterText(br, "meter=1,pktps,burst,bands=type=drop,rate=10,burst_size=1");
    addFlowsText(br, "in_port=1,actions=meter:1,output:2", "flows", 0);
    const frames = Array.from({ length: 5 }, (_, i) => frame(i + 1, 64));
    const buf = new Uint8Array(64 * 5);
    frames.forEach((f, i) => buf.set(f, i * 64));
    const offsets = Uint32Array.from(frames.map((_, i) => i * 64));
    const lengths = new Uint32Array(5).fill(64);
    const inPorts = new Uint32Array(5).fill(sw.portsByName.get("p1")!.dpPort);
    const dp = new Datapath(sw);
    let sent = 0;
    const t0 = T0 * 1000;
    dp.processBatch(buf, offsets, lengths, inPorts, 5, t0, () => sent++, Float64Array.from(frames.map((_, i) => t0 + 100 * i)));
    expect(sent).toBe(5);
    // The same five again, 10 s later, all at the batch's time: one passes.
    sent = 0;
    dp.processBatch(buf, offsets, lengths, inPorts, 5, t0 + 10_000, () => sent++);
    expect(sent).toBe(1);
  });
});
