/**
 * `flowplane replay` as a process: the command line parsed without
 * commander (main.ts FAST) gives what the in-process replay gives, usage
 * problems still get commander's messages, a second replay into the same
 * directory replaces the old captures, and a damaged input stops the replay
 * with readCapture's error after writing what came before the damage.
 * Spawns dist/cli/main.js: run `npm run build` first.
 */
import { describe, it, expect } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { singleBridge } from "../src/ofproto/load.js";
import { replay } from "../src/cli/replay.js";
import { readCapture, writeCapture } from "../src/io/pcap.js";
import { eth, ipv4, udp } from "../src/packet/build.js";

const MAIN = resolve(__dirname, "../dist/cli/main.js");
const FLOWS = "priority=10,udp,tp_dst=7,actions=output:2\npriority=5,udp,actions=output:2,output:3\npriority=0,actions=drop\n";
const PORTS = ["--port", "in:1", "--port", "out:2", "--port", "other:3"];

const frame = (i: number): Uint8Array =>
  eth({ src: "fa:16:3e:00:00:01", dst: "fa:16:3e:00:00:02" }, ipv4({ src: `10.0.${i % 3}.1`, dst: "10.0.0.2" }, udp({ src: 1000, dst: 5 + (i % 4) }, new Uint8Array(10 + (i % 5)))));

function setup(count: number): { dir: string; input: string; flows: string } {
  const dir = mkdtempSync(join(tmpdir(), "fp-replay-cli-"));
  const input = join(dir, "in.pcap");
  writeCapture(input, Array.from({ length: count }, (_, i) => ({ data: frame(i), tsSec: 1_700_000_000 + Math.floor(i / 500), tsNsec: (i % 500) * 1000 })));
  const flows = join(dir, "t.flows");
  writeFileSync(flows, FLOWS);
  return { dir, input, flows };
}

const cli = (...args: string[]) => spawnSync(process.execPath, [MAIN, "replay", ...args], { encoding: "utf8" });

describe("flowplane replay (command line)", () => {
  it("writes what the in-process replay writes, and replaces an earlier replay's captures", () => {
    const { dir, input, flows } = setup(3000);
    const sw = singleBridge(flows, [{ name: "in", ofport: 1 }, { name: "out", ofport: 2 }, { name: "other", ofport: 3 }]);
    const want = replay(sw, [{ port: sw.portsByName.get("in")!, capture: readCapture(input) }], { outDir: join(dir, "want") });
    const out = join(dir, "out");
    // A first run with other flows leaves bigger captures that the second must replace, not extend.
    const bigger = join(dir, "all.flows");
    writeFileSync(bigger, "actions=output:2,output:3\n");
    expect(cli("--flows", bigger, ...PORTS, "--in", `in=${input}`, "--out", out).status).toBe(0);
    const r = cli("--flows", flows, ...PORTS, `--in=in=${input}`, "--out", out, "--json");
    expect(r.status, r.stderr).toBe(0);
    const got = JSON.parse(r.stdout);
    expect(got.ports).toEqual(want.ports);
    expect(got.packetsIn).toBe(3000);
    for (const p of ["out", "other"]) expect(readFileSync(join(out, `${p}.pcap`)).equals(readFileSync(join(dir, "want", `${p}.pcap`))), p).toBe(true);
    expect(readFileSync(join(out, "stats.json"), "utf8")).toBe(readFileSync(join(dir, "want", "stats.json"), "utf8"));
  });

  it("leaves help and usage errors to commander", () => {
    const help = cli("--help");
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^Usage: flowplane replay \[options\]/);
    const unknown = cli("--out", "x", "--bogus");
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/unknown option '--bogus'/);
    const missing = cli("--out");
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/option '--out <dir>' argument missing/);
    const noOut = cli("--in", "a=b");
    expect(noOut.status).toBe(2);
    expect(noOut.stderr).toBe("flowplane: --out DIR is required\n");
  });

  it("stops at a damaged record with readCapture's error, keeping the packets before it", () => {
    const { dir, input, flows } = setup(3000);
    const bytes = readFileSync(input);
    const damaged = join(dir, "damaged.pcap");
    writeFileSync(damaged, bytes.subarray(0, bytes.length - 3));
    let want = "";
    try {
      readCapture(damaged);
    } catch (err) {
      want = (err as Error).message;
    }
    expect(want).toMatch(/truncated record/);
    const out = join(dir, "out");
    const r = cli("--flows", flows, ...PORTS, "--in", `in=${damaged}`, "--out", out);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`flowplane: ${want}\n`);
    // The first 2999 packets, as a replay of the file without its last record writes them.
    const whole = readCapture(input);
    const shorter = join(dir, "shorter.pcap");
    writeFileSync(shorter, bytes.subarray(0, whole.offsets[2999] - 16));
    const ok = cli("--flows", flows, ...PORTS, "--in", `in=${shorter}`, "--out", join(dir, "shorter"));
    expect(ok.status, ok.stderr).toBe(0);
    for (const p of ["out", "other"]) expect(readFileSync(join(out, `${p}.pcap`)).equals(readFileSync(join(dir, "shorter", `${p}.pcap`))), p).toBe(true);
  });
});
