/**
 * The command line as a user meets it: the built CLI (dist/, made by
 * `npm test`'s build step) run as a child process.
 */
import { describe, it, expect, beforeAll } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = join(import.meta.dirname, "..");
const CLI = join(ROOT, "dist/cli/main.js");

function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: "utf8" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("flowplane CLI", () => {
  beforeAll(() => {
    if (!existsSync(CLI)) {
      const b = spawnSync("npx", ["tsc", "-p", "tsconfig.json"], { cwd: ROOT, encoding: "utf8" });
      if (b.status !== 0) throw new Error(`build failed: ${b.stdout}${b.stderr}`);
    }
  });

  it("explains itself with --help", () => {
    const r = run("--help");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/flows/);
    expect(r.stdout).toMatch(/version/);
    // The command list shows each command's first description line, not its examples.
    expect(r.stdout).toMatch(/^  replay \[options\] +push captures through the switch and write what every port transmitted\n/m);
    expect(r.stdout).not.toMatch(/^ +flowplane replay --/m);
    const f = run("flows", "--help");
    expect(f.status).toBe(0);
    expect(f.stdout).toMatch(/--in-port/);
    expect(f.stdout).toMatch(/--json/);
  });

  it("prints its version", () => {
    const r = run("version", "--json");
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).flowplane).toMatch(/^\d+\.\d+\.\d+/);
  });

  it("prints one OVS Flow: line per packet, on the chosen in_port", () => {
    const r = run("flows", "pcaps/arp.pcap", "--in-port", "7");
    expect(r.status).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines.length).toBeGreaterThan(1);
    for (const l of lines) expect(l).toMatch(/^arp,in_port=7,vlan_tci=0x0000,dl_src=/);
  });

  it("prints JSON Lines with --json", () => {
    const r = run("flows", "pcaps/tcp-handshake.pcap", "--json");
    expect(r.status).toBe(0);
    const first = JSON.parse(r.stdout.split("\n")[0]);
    expect(first.packet).toBe(1);
    expect(first.flow.tcp).toBe(true);
    expect(first.flow.in_port).toBe(1);
    expect(typeof first.flow.tp_dst).toBe("number");
  });

  it("reports a runt frame the way OVS does", () => {
    const r = run("flows", "pcaps/malformed.pcap");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^ERROR: Packet data too short for Ethernet$/m);
  });

  it("gives one clear error for bad input, without a stack trace", () => {
    const dir = mkdtempSync(join(tmpdir(), "fp-cli-"));
    const bad = join(dir, "bad.pcap");
    writeFileSync(bad, Buffer.from("this is not a capture file at all"));
    const cases: [string[], RegExp, number][] = [
      [["flows", bad], /bad\.pcap: offset 0: not a pcap or pcapng file/, 1],
      [["flows", join(dir, "missing.pcap")], /missing\.pcap/, 1],
      [["flows", "pcaps/arp.pcap", "--in-port", "x"], /--in-port must be a whole number/, 2],
      [["flows", "pcaps/arp.pcap", "--in-port", "70000"], /--in-port must be between 0 and 65535/, 2],
      [["flows"], /missing required argument/, 2],
      [["nosuchcommand"], /unknown command/, 2],
    ];
    for (const [args, message, status] of cases) {
      const r = run(...args);
      expect(r.status, args.join(" ")).toBe(status);
      expect(r.stderr, args.join(" ")).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    }
  });

  it("dumps a topology's groups offline, all or one, and refuses a duplicated group id", () => {
    const dir = mkdtempSync(join(tmpdir(), "fp-cli-groups-"));
    writeFileSync(join(dir, "g.groups"), "group_id=2,type=indirect,bucket=output:p2\ngroup_id=1,type=all,bucket=output:1,bucket=output:2\n");
    writeFileSync(join(dir, "g.flows"), "in_port=1,actions=group:1\n");
    const topology = (groups: string): string => {
      const file = join(dir, `${groups}.json`);
      writeFileSync(file, JSON.stringify({ bridges: [{ name: "br0", protocols: "OpenFlow13", flows: "g.flows", groups }], ports: [1, 2].map((n) => ({ name: `p${n}`, bridge: "br0", ofport: n })) }));
      return file;
    };
    const t = topology("g.groups");
    expect(run("dump-groups", "--topology", t, "br0").stdout).toBe(" group_id=1,type=all,bucket=actions=output:1,bucket=actions=output:2\n group_id=2,type=indirect,bucket=actions=output:2\n");
    expect(run("dump-groups", "--topology", t, "br0", "2", "--names").stdout).toBe(" group_id=2,type=indirect,bucket=actions=output:p2\n");
    const bad = run("dump-groups", "--topology", t, "br0", "two");
    expect(bad.status).toBe(2);
    expect(bad.stderr).toBe("flowplane: two: not a group id (0..4294967040, or ALL)\n");
    writeFileSync(join(dir, "dup.groups"), "group_id=1,type=all,bucket=output:1\ngroup_id=1,type=all,bucket=output:2\n");
    const dup = run("dump-groups", "--topology", topology("dup.groups"), "br0");
    expect(dup.status).toBe(1);
    expect(dup.stderr).toMatch(/OFPGMFC_GROUP_EXISTS: group 1 exists already/);
  });

  it("dumps a topology's meters offline, all or one", () => {
    const dir = mkdtempSync(join(tmpdir(), "fp-cli-meters-"));
    writeFileSync(join(dir, "m.meters"), "meter=2,pktps,bands=type=drop,rate=10\nmeter=1,kbps,burst,bands=type=drop,rate=100,burst_size=20\n");
    writeFileSync(join(dir, "m.flows"), "in_port=1,actions=meter:1,output:2\n");
    const t = join(dir, "t.json");
    writeFileSync(t, JSON.stringify({ bridges: [{ name: "br0", protocols: "OpenFlow13", flows: "m.flows", meters: "m.meters" }], ports: [1, 2].map((n) => ({ name: `p${n}`, bridge: "br0", ofport: n })) }));
    expect(run("dump-meters", "--topology", t, "br0").stdout).toBe("meter=1 kbps burst bands=\ntype=drop rate=100 burst_size=20\n\nmeter=2 pktps bands=\ntype=drop rate=10\n\n");
    expect(run("dump-meters", "--topology", t, "br0", "meter=2").stdout).toBe("meter=2 pktps bands=\ntype=drop rate=10\n\n");
    const unknown = run("dump-meters", "--topology", t, "br0", "meter=9");
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toBe("flowplane: OFPMMFC_UNKNOWN_METER: meter 9 does not exist\n");
  });

  it("runs the bundled default (npm start): the Neutron scenarios, judged step by step", () => {
    const r = run("start");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^summary: 6 scenarios, \d+ steps, \d+ as expected/m);
    const j = run("start", "--json");
    const summary = JSON.parse(j.stdout);
    expect(summary.scenarios.map((s: { name: string }) => s.name)).toEqual(["same-subnet", "invalid", "cross-subnet", "snat", "floating-ip", "metadata"]);
    // Steps that need no connection tracking go as expected now: the router's ARP responder answers across the patch ports.
    const arp = summary.scenarios[2].steps[3];
    expect(arp.note).toMatch(/asks for its gateway 10.0.1.1/);
    expect(arp).toMatchObject({ ok: true, got: ["br-int", "tap-vm3"] });
    // A scenario whose needs flowplane meets must go entirely as expected.
    for (const s of summary.scenarios) if (s.missing.length === 0) expect(s.steps.filter((x: { ok: boolean }) => !x.ok)).toEqual([]);
  });
});
