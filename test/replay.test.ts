/**
 * replay as a user runs it: merged inputs in timestamp order, outputs with
 * their inputs' timestamps, rule timeouts on the capture's clock, stats for
 * dump-flows, and --megaflows output.
 */
import { describe, it, expect } from "vitest";
import { mkdtempSync, readFileSync, existsSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { singleBridge } from "../src/ofproto/load.js";
import { replay } from "../src/cli/replay.js";
import { dumpBridgeFlows } from "../src/cli/dump-flows.js";
import { writeCapture, readCapture } from "../src/io/pcap.js";
import { eth, ipv4, udp } from "../src/packet/build.js";
import { CaptureStream, WINDOW_SIZE } from "../src/io/pcap-stream.js";

const frame = (dport: number, src = "10.0.0.1"): Uint8Array =>
  eth({ src: "fa:16:3e:00:00:01", dst: "fa:16:3e:00:00:02" }, ipv4({ src, dst: "10.0.0.2" }, udp({ src: 1000, dst: dport }, new Uint8Array(8))));

function setup(flows: string) {
  const dir = mkdtempSync(join(tmpdir(), "fp-replay-"));
  const sw = singleBridge("t.flows", [
    { name: "p1", ofport: 1 },
    { name: "p2", ofport: 2 },
    { name: "p3", ofport: 3 },
    { name: "p4", ofport: 4 },
  ], "br0", () => flows);
  return { dir, sw };
}

describe("replay", () => {
  it("expires an idle rule on the capture's clock", () => {
    const { dir, sw } = setup("priority=10,udp,actions=output:2\npriority=20,idle_timeout=2,udp,tp_dst=2000,actions=output:3\n");
    const t0 = 1_700_000_000;
    writeCapture(join(dir, "in.pcap"), [
      { data: frame(2000), tsSec: t0 },
      { data: frame(2000), tsSec: t0 + 1 },
      { data: frame(2000), tsSec: t0 + 5 },
    ]);
    const summary = replay(sw, [{ port: sw.portsByName.get("p1")!, capture: readCapture(join(dir, "in.pcap")) }], { outDir: join(dir, "out") });
    expect(summary.ports.p3.packets).toBe(2);
    expect(summary.ports.p2.packets).toBe(1);
    const out = readCapture(join(dir, "out", "p2.pcap"));
    expect(out.tsSec[0]).toBe(t0 + 5);
  });

  it("merges inputs by timestamp, ties by port order, and keeps each output's input timestamp", () => {
    const { dir, sw } = setup("in_port=1,actions=output:4\nin_port=2,actions=output:4\n");
    const t0 = 1_700_000_000;
    writeCapture(join(dir, "a.pcap"), [
      { data: frame(1, "10.0.0.1"), tsSec: t0, tsNsec: 0 },
      { data: frame(3, "10.0.0.1"), tsSec: t0, tsNsec: 2_000 },
    ]);
    writeCapture(join(dir, "b.pcap"), [
      { data: frame(2, "10.0.0.7"), tsSec: t0, tsNsec: 1_000 },
      { data: frame(4, "10.0.0.7"), tsSec: t0, tsNsec: 2_000 },
    ]);
    replay(
      sw,
      [
        { port: sw.portsByName.get("p2")!, capture: readCapture(join(dir, "b.pcap")) },
        { port: sw.portsByName.get("p1")!, capture: readCapture(join(dir, "a.pcap")) },
      ],
      { outDir: join(dir, "out") },
    );
    const out = readCapture(join(dir, "out", "p4.pcap"));
    const dports = Array.from({ length: out.count }, (_, i) => (out.buffer[out.offsets[i] + 36] << 8) | out.buffer[out.offsets[i] + 37]);
    // 1 (t=0), 2 (t=1us), then the tie at 2us: p1 before p2 in the switch's port order.
    expect(dports).toEqual([1, 2, 3, 4]);
    expect(Array.from(out.tsNsec)).toEqual([0, 1000, 2000, 2000]);
  });

  it("writes each packet's megaflows with --megaflows and leaves stats for dump-flows", () => {
    const { dir, sw } = setup("priority=10,udp,tp_dst=53,actions=output:2\npriority=5,actions=NORMAL\n");
    writeCapture(join(dir, "in.pcap"), [{ data: frame(53) }, { data: frame(80) }]);
    replay(sw, [{ port: sw.portsByName.get("p1")!, capture: readCapture(join(dir, "in.pcap")) }], {
      outDir: join(dir, "out"),
      megaflowsFile: join(dir, "mf.txt"),
    });
    const text = readFileSync(join(dir, "mf.txt"), "utf8").trimEnd().split("\n");
    expect(text[0]).toMatch(/^## packet 1 in_port=p1 len=\d+$/);
    expect(text[1]).toMatch(/^recirc_id\(0\),in_port\(p1\),packet_type\(ns=0,id=0\),.*udp\(dst=53\).*actions:p2$/);
    const second = text.indexOf(text.find((l) => l.startsWith("## packet 2"))!);
    expect(text[second + 1]).toMatch(/eth\(src=fa:16:3e:00:00:01,dst=fa:16:3e:00:00:02\)/);
    expect(existsSync(join(dir, "out", "stats.json"))).toBe(true);
    const stats = JSON.parse(readFileSync(join(dir, "out", "stats.json"), "utf8"));
    expect(stats.dumps.br0.numbers.join("\n")).toMatch(/n_packets=1, n_bytes=\d+, .*priority=10,udp,tp_dst=53 actions=output:2/);
  });

  it("leaves in stats.json the dump-flows lines with port names and with numbers, as dumpBridgeFlows prints them", () => {
    const dir = mkdtempSync(join(tmpdir(), "fp-replay-"));
    const flows = [
      "priority=10,in_port=1,udp,actions=output:2,output:3,resubmit(,1)",
      "priority=5,in_port=tap-2,actions=NORMAL",
      "table=1,priority=1,in_port=1,actions=set_field:3->reg0,output:9,LOCAL",
    ].join("\n");
    const sw = singleBridge("t.flows", [{ name: "p1", ofport: 1 }, { name: "tap-2", ofport: 2 }, { name: "p3", ofport: 3 }], "br0", () => flows);
    const t0 = 1_700_000_000;
    writeCapture(join(dir, "in.pcap"), [{ data: frame(53), tsSec: t0 }, { data: frame(54), tsSec: t0 }]);
    replay(sw, [{ port: sw.portsByName.get("p1")!, capture: readCapture(join(dir, "in.pcap")) }], { outDir: join(dir, "out") });
    const dumps = JSON.parse(readFileSync(join(dir, "out", "stats.json"), "utf8")).dumps.br0;
    const br = sw.byName.get("br0")!;
    expect(dumps.names).toEqual(dumpBridgeFlows(br, { stats: true, names: true, nowMs: t0 * 1000 }));
    expect(dumps.numbers).toEqual(dumpBridgeFlows(br, { stats: true, nowMs: t0 * 1000 }));
    expect(dumps.names[0]).toMatch(/n_packets=2, .*in_port=p1 actions=output:"tap-2",output:p3,resubmit\(,1\)$/);
    expect(dumps.numbers[0]).toMatch(/in_port=1 actions=output:2,output:3,resubmit\(,1\)$/);
  });

  it("replays streamed records the writer would encode otherwise as the capture read whole (nanosecond file, original length above captured, fraction out of range)", () => {
    const flows = "priority=10,udp,actions=output:2,output:3\n";
    const frames = Array.from({ length: 3000 }, (_, i) => ({ data: frame(7 + (i % 5), `10.0.${i % 9}.1`), tsSec: 1_700_000_000 + (i >> 10), tsNsec: i * 1001, origLength: i % 10 === 0 ? 1500 : undefined }));
    const variants: [string, (path: string) => void][] = [
      ["nanosecond", (path) => writeCapture(path, frames, { nanosecond: true })],
      ["original lengths", (path) => writeCapture(path, frames)],
      [
        "fraction out of range",
        (path) => {
          writeCapture(path, frames.map((f) => ({ ...f, origLength: undefined })));
          const bytes = readFileSync(path);
          const c = readCapture(path);
          bytes.writeUInt32LE(1_250_000, c.offsets[1234] - 12);
          writeFileSync(path, bytes);
        },
      ],
    ];
    for (const [name, write] of variants) {
      const outs = ["whole", "stream"].map((mode) => {
        const { dir, sw } = setup(flows);
        const path = join(dir, "in.pcap");
        write(path);
        const capture = mode === "whole" ? readCapture(path) : CaptureStream.open(path)!;
        const summary = replay(sw, [{ port: sw.portsByName.get("p1")!, capture }], { outDir: join(dir, "out") });
        expect(summary.ports.p3.packets, name).toBe(3000);
        return ["p2", "p3"].map((p) => readFileSync(join(dir, "out", `${p}.pcap`)).toString("hex"));
      });
      expect(outs[1], name).toEqual(outs[0]);
    }
  });

  it("replays a streamed capture (many windows, NORMAL learning, rule timeouts) exactly as the capture read whole", () => {
    const flows = "priority=20,idle_timeout=3,udp,tp_dst=7,actions=output:3\npriority=10,udp,tp_dst=9,actions=output:4\npriority=5,actions=NORMAL\n";
    const frames: { data: Uint8Array; tsSec: number; tsNsec: number }[] = [];
    const t0 = 1_700_000_000;
    // ~40000 packets over 20 s of capture time: several maintenance ticks, the idle rule expiring and
    // MACs moving between ports, spread over more than one WINDOW_SIZE of file.
    for (let i = 0; i < 40000; i++) {
      const f = eth(
        { src: `fa:16:3e:00:00:0${1 + (i % 4)}`, dst: `fa:16:3e:00:00:0${1 + ((i >> 3) % 4)}`, padTo: 64 },
        ipv4({ src: `10.0.${i % 7}.1`, dst: "10.0.0.2" }, udp({ src: 1000 + (i % 13), dst: i < 20000 ? 7 + (i % 3) : 8 }, new Uint8Array(18))),
      );
      frames.push({ data: f, tsSec: t0 + Math.floor(i / 2000), tsNsec: (i % 2000) * 1000 });
    }
    const results = ["whole", "stream"].map((mode) => {
      const { dir, sw } = setup(flows);
      const path = join(dir, "in.pcap");
      writeCapture(path, frames);
      const capture = mode === "whole" ? readCapture(path) : CaptureStream.open(path)!;
      expect(capture).not.toBeNull();
      const summary = replay(sw, [{ port: sw.portsByName.get("p1")!, capture }], { outDir: join(dir, "out") });
      const outs = ["p2", "p3", "p4"].map((p) => (existsSync(join(dir, "out", `${p}.pcap`)) ? readFileSync(join(dir, "out", `${p}.pcap`)).toString("hex") : ""));
      const stats = JSON.parse(readFileSync(join(dir, "out", "stats.json"), "utf8"));
      return { packets: summary.packetsIn, ports: summary.ports, outs, dumps: stats.dumps, size: readFileSync(path).length };
    });
    expect(results[1].size).toBeGreaterThan(2 * WINDOW_SIZE);
    expect(results[1].packets).toBe(40000);
    expect(results[1].ports.p3.packets).toBeGreaterThan(0);
    expect(results[1].outs).toEqual(results[0].outs);
    expect(results[1].ports).toEqual(results[0].ports);
    expect(results[1].dumps).toEqual(results[0].dumps);
  });
});
