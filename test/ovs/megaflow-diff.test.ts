/**
 * Differential for the megaflow cache: for each input frame, the megaflows
 * flowplane installs (`replay --megaflows`, both caches empty before each
 * frame) against those Open vSwitch installs for the same frame when its
 * datapath flows are purged first (`revalidator/purge`, then
 * `dpctl/dump-flows --names`): match fields, masks and datapath actions,
 * statistics aside.
 */
import { describe, it, expect } from "vitest";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OvsSandbox } from "./harness.js";
import { type Scenario, setupOvs, buildScenarioSwitch } from "./scenario.js";
import { replay } from "../../src/cli/replay.js";
import { writeCapture, readCapture } from "../../src/io/pcap.js";
import { eth, ipv4, tcp, udp, arp, icmpEcho } from "../../src/packet/build.js";

const haveOvs = OvsSandbox.available();
if (!haveOvs && process.env.CI === "true") throw new Error("Open vSwitch is not installed (scripts/install-test-deps.sh installs it)");

const M = (n: number): string => `fa:16:3e:00:00:${n.toString(16).padStart(2, "0")}`;
/**
 * A megaflow line without its statistics, with runs of plain outputs sorted
 * (OVS's NORMAL flood order varies from run to run).
 */
const strip = (line: string): string => {
  const [key, actions] = line.replace(/, packets:\d+, bytes:\d+, used:[^,]+, actions:/, "\u0000").split("\u0000");
  const parts = actions.split(/,(?![^()]*\))/);
  const out: string[] = [];
  let run: string[] = [];
  for (const p of [...parts, "\u0000"]) {
    if (/^[A-Za-z0-9_.\-"]+$/.test(p) && p !== "drop" && p !== "pop_vlan") run.push(p);
    else {
      out.push(...run.sort());
      run = [];
      if (p !== "\u0000") out.push(p);
    }
  }
  return `${key} actions:${out.join(",")}`;
};

async function ovsMegaflows(s: Scenario, ovs: OvsSandbox): Promise<string[][]> {
  const out: string[][] = [];
  for (const inp of s.inputs) {
    await ovs.revalidatorPurge();
    await ovs.receive(inp.port, Buffer.from(inp.frame).toString("hex"));
    let lines: string[] = [];
    for (let i = 0; i < 40 && lines.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 25));
      lines = await ovs.dpctlDumpFlows({ names: true });
    }
    out.push(lines.map(strip).sort());
  }
  return out;
}

function ourMegaflows(s: Scenario): string[][] {
  const dir = mkdtempSync(join(tmpdir(), "fp-mf-"));
  const sw = buildScenarioSwitch(s, dir);
  // One input port per frame sequence keeps the arrival order.
  const frames = s.inputs.map((inp, i) => ({ data: inp.frame, tsSec: 1_700_000_000, tsNsec: i * 1000 }));
  const ports = [...new Set(s.inputs.map((i) => i.port))];
  const inputs = ports.map((port) => {
    const path = join(dir, `${port}.pcap`);
    writeCapture(path, frames.filter((_, i) => s.inputs[i].port === port));
    return { port: sw.portsByName.get(port)!, capture: readCapture(path) };
  });
  replay(sw, inputs, { outDir: join(dir, "out"), megaflowsFile: join(dir, "mf.txt") });
  const blocks = readFileSync(join(dir, "mf.txt"), "utf8").split(/^## packet .*$/m).slice(1);
  return blocks.map((b) => b.trim().split("\n").filter((l) => l).map(strip).sort());
}

async function check(s: Scenario): Promise<void> {
  const ovs = await OvsSandbox.start();
  try {
    await setupOvs(s, ovs);
    const theirs = await ovsMegaflows(s, ovs);
    const ours = ourMegaflows(s);
    expect(theirs.every((l) => l.length > 0), "OVS installed a megaflow for every frame").toBe(true);
    expect(ours).toEqual(theirs);
  } finally {
    await ovs.stop();
  }
}

describe.skipIf(!haveOvs)("megaflows vs. Open vSwitch", () => {
  it("un-wildcards what the classifier consulted: prefixes, stages, misses", async () => {
    const pkt = (dst: string, dport: number, proto: "tcp" | "udp" = "tcp"): Uint8Array =>
      eth({ src: M(1), dst: M(2) }, ipv4({ src: "10.0.0.1", dst }, proto === "tcp" ? tcp({ src: 1234, dst: dport, flags: "A" }) : udp({ src: 1234, dst: dport })));
    await check({
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
      ports: [
        { name: "p1", bridge: "br0", ofport: 1 },
        { name: "p2", bridge: "br0", ofport: 2 },
        { name: "p3", bridge: "br0", ofport: 3 },
      ],
      inputs: [
        { port: "p1", frame: pkt("10.0.0.7", 22) },
        { port: "p1", frame: pkt("192.168.1.5", 80) },
        { port: "p1", frame: pkt("192.168.1.5", 81) },
        { port: "p1", frame: pkt("172.16.0.1", 80) },
        { port: "p1", frame: pkt("172.16.0.1", 53, "udp") },
        { port: "p1", frame: pkt("8.8.8.8", 54, "udp") },
      ],
    });
  });

  it("installs the same megaflows per frame for header rewrites, resubmits and NORMAL", async () => {
    const s: Scenario = {
      name: "megaflows",
      bridges: [
        {
          name: "br0",
          flows: [
            "table=0,priority=10,in_port=1,tcp,actions=mod_vlan_vid:7,mod_nw_dst:10.0.0.9,mod_tp_dst:99,output:2",
            "table=0,priority=10,in_port=1,udp,actions=mod_dl_src:fa:16:3e:00:00:99,dec_ttl,resubmit(,1)",
            "table=1,udp,actions=mod_tp_src:5353,output:3",
            "table=0,priority=5,actions=NORMAL",
          ].join("\n"),
        },
      ],
      ports: [
        { name: "p1", bridge: "br0", ofport: 1 },
        { name: "p2", bridge: "br0", ofport: 2 },
        { name: "p3", bridge: "br0", ofport: 3 },
      ],
      inputs: [
        { port: "p1", frame: eth({ src: M(1), dst: M(2) }, ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }, tcp({ src: 1234, dst: 80, flags: "S" }))) },
        { port: "p1", frame: eth({ src: M(1), dst: M(2) }, ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }, udp({ src: 1000, dst: 53 }, new Uint8Array(20)))) },
        { port: "p2", frame: eth({ src: M(2), dst: "ff:ff:ff:ff:ff:ff" }, arp({ op: "request", sha: M(2), spa: "10.0.0.2", tpa: "10.0.0.1" })) },
        { port: "p3", frame: eth({ src: M(3), dst: M(2) }, ipv4({ src: "10.0.0.3", dst: "10.0.0.2" }, icmpEcho({ id: 1, seq: 1 }))) },
      ],
    };
    await check(s);
  });
});
