/**
 * dump-conntrack and flush-conntrack end to end: against `flowplane run`
 * (--target) and after `flowplane replay` (--from DIR), through the CLI.
 * The expected lines are written by hand in OVS's dpctl/dump-conntrack text.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { request } from "../../src/daemon/protocol.js";
import { writeCapture } from "../../src/io/pcap.js";
import { eth, ipv4, tcp, udp } from "../../src/packet/build.js";
import { cli, killDaemon, startDaemon, type RunningDaemon } from "./run-daemon.js";

const TMP = mkdtempSync(join(tmpdir(), "fp-ct-control-"));
const SOCK = join(TMP, "c.sock");

const UDP_7 = "udp,orig=(src=10.0.0.1,dst=10.0.0.2,sport=5000,dport=53),reply=(src=10.0.0.2,dst=10.0.0.1,sport=53,dport=5000),zone=7";
const TCP_0 = "tcp,orig=(src=10.0.0.1,dst=10.0.0.2,sport=40000,dport=80),reply=(src=10.0.0.2,dst=10.0.0.1,sport=80,dport=40000),protoinfo=(state=SYN_SENT)";

describe("conntrack dumps through the CLI", () => {
  let daemon: RunningDaemon | undefined;

  beforeAll(async () => {
    const a = { src: "fa:16:3e:00:00:01", dst: "fa:16:3e:00:00:02" };
    writeCapture(join(TMP, "in.pcap"), [
      { data: eth(a, ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }, udp({ src: 5000, dst: 53 }, new Uint8Array(8)))), tsSec: 1000, tsNsec: 0 },
      { data: eth(a, ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }, tcp({ src: 40000, dst: 80, flags: "S", seq: 1 }))), tsSec: 1000, tsNsec: 1000 },
    ]);
    // UDP is committed in zone 7, TCP in zone 0.
    writeFileSync(join(TMP, "flows.txt"), "priority=10,udp,actions=ct(commit,zone=7),output:2\npriority=10,tcp,actions=ct(commit),output:2\n");
    const ports = [
      { name: "in", bridge: "br0", ofport: 1, type: "pcap-in", options: { file: join(TMP, "in.pcap") } },
      { name: "out", bridge: "br0", ofport: 2, type: "pcap-out", options: { file: join(TMP, "out.pcap") } },
    ];
    writeFileSync(join(TMP, "t.json"), JSON.stringify({ bridges: [{ name: "br0", flows: "flows.txt" }], ports }));
    writeFileSync(join(TMP, "r.json"), JSON.stringify({ bridges: [{ name: "br0", flows: "flows.txt" }], ports: ports.map(({ name, bridge, ofport }) => ({ name, bridge, ofport })) }));
    daemon = await startDaemon(["--topology", join(TMP, "t.json"), "--control", SOCK]);
    for (let i = 0; i < 100; i++) {
      const s = (await request(SOCK, { cmd: "stats" })) as { packets: number };
      if (s.packets >= 2) break;
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  afterAll(async () => {
    await killDaemon(daemon);
    rmSync(TMP, { recursive: true, force: true });
  });

  it("dumps a running switch's connections, by zone, and flushes one zone", () => {
    expect(cli("dpctl", "dump-conntrack", "--target", SOCK).stdout.split("\n").filter((l) => l).sort()).toEqual([TCP_0, UDP_7].sort());
    expect(cli("dpctl", "dump-conntrack", "--target", SOCK, "zone=7").stdout).toBe(`${UDP_7}\n`);
    expect(cli("dpctl", "flush-conntrack", "--target", SOCK, "7").status).toBe(0);
    expect(cli("dpctl", "dump-conntrack", "--target", SOCK).stdout).toBe(`${TCP_0}\n`);
    expect(cli("dpctl", "flush-conntrack", "--target", SOCK).status).toBe(0);
    expect(cli("dpctl", "dump-conntrack", "--target", SOCK).stdout).toBe("");
  });

  it("dumps and flushes the table a replay left", () => {
    const out = join(TMP, "replay-out");
    const r = cli("replay", "--topology", join(TMP, "r.json"), "--in", `in=${join(TMP, "in.pcap")}`, "--out", out);
    expect(r.status, r.stderr).toBe(0);
    expect(cli("dpctl", "dump-conntrack", "--from", out, "--zone", "7").stdout).toBe(`${UDP_7}\n`);
    expect(cli("dpctl", "dump-conntrack", "--from", out, "-m").stdout).toContain("state_orig=SYN_SENT");
    expect(cli("dpctl", "flush-conntrack", "--from", out, "zone=7").status).toBe(0);
    expect(cli("dpctl", "dump-conntrack", "--from", out).stdout).toBe(`${TCP_0}\n`);
    const bad = cli("dpctl", "dump-conntrack");
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain("--target SOCKET or --from DIR");
  });
});
