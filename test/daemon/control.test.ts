/**
 * `flowplane run` without live ports (pcap-in, pcap-out): the control
 * protocol end to end, client commands, metrics and the exit on SIGTERM.
 * Needs no root: the socket lives in a temporary directory.
 */
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readCapture } from "../../src/io/pcap.js";
import { request } from "../../src/daemon/protocol.js";
import { ROOT, cli, killDaemon, startDaemon, type RunningDaemon } from "./run-daemon.js";

const TMP = mkdtempSync(join(tmpdir(), "fp-daemon-test-"));
const SOCK = join(TMP, "c.sock");
const OUT = join(TMP, "out.pcap");
const METRICS_PORT = 20000 + (process.pid % 20000);

describe("flowplane run with capture ports", () => {
  let daemon: RunningDaemon;

  beforeAll(async () => {
    writeFileSync(join(TMP, "flows.txt"), "in_port=1,actions=output:2\n");
    writeFileSync(
      join(TMP, "t.json"),
      JSON.stringify({
        bridges: [{ name: "br0", flows: "flows.txt" }],
        ports: [
          { name: "in", bridge: "br0", ofport: 1, type: "pcap-in", options: { file: join(ROOT, "pcaps/icmp-echo.pcap") } },
          { name: "out", bridge: "br0", ofport: 2, type: "pcap-out", options: { file: OUT } },
        ],
      }),
    );
    daemon = await startDaemon(["--topology", join(TMP, "t.json"), "--control", SOCK, "--metrics-port", String(METRICS_PORT), "--max-idle", "600000"]);
  });

  afterAll(async () => {
    await killDaemon(daemon);
    rmSync(TMP, { recursive: true, force: true });
  });

  it("creates its socket with mode 0600", () => {
    expect(statSync(SOCK).mode & 0o777).toBe(0o600);
  });

  it("replays the pcap-in capture at start and counts it", async () => {
    const count = readCapture(join(ROOT, "pcaps/icmp-echo.pcap")).count;
    const r = cli("stats", "--target", SOCK, "--json");
    expect(r.status).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.packets).toBe(count);
    expect(s.ports.find((p: { name: string }) => p.name === "out").txPackets).toBe(count);
    const text = cli("stats", "--target", SOCK).stdout;
    expect(text).toMatch(/packets received: \d+/);
    expect(text).toMatch(/avg\. subtable lookups per megaflow hit: \d+\.\d\d/);
  });

  it("changes and dumps flows through the socket", () => {
    expect(cli("add-flow", "--target", SOCK, "br0", "priority=100,icmp,actions=drop").status).toBe(0);
    expect(cli("mod-flows", "--target", SOCK, "br0", "in_port=1,actions=output:out").status).toBe(0);
    const d = cli("dump-flows", "--target", SOCK, "br0", "--names");
    expect(d.status).toBe(0);
    expect(d.stdout).toMatch(/priority=100,icmp actions=drop/);
    expect(d.stdout).toMatch(/n_packets=[1-9]\d*, .*in_port=in actions=output:out/);
    expect(cli("del-flows", "--target", SOCK, "br0", "icmp").status).toBe(0);
    expect(cli("dump-flows", "--target", SOCK, "br0").stdout).not.toMatch(/icmp/);
    const mf = cli("dpctl", "dump-flows", "--target", SOCK, "--names");
    expect(mf.status).toBe(0);
    expect(mf.stdout).toMatch(/in_port\(in\).*actions:out/);
    const tr = cli("trace", "--target", SOCK, "br0", "in_port=1,icmp,nw_src=10.0.0.8,nw_dst=10.0.0.4");
    // Datapath ports: br0 0, in 1, out 2.
    expect(tr.stdout).toMatch(/Datapath actions: 2/);
  });

  it("reports a bad flow in one line and changes nothing", async () => {
    const before = cli("dump-flows", "--target", SOCK, "br0").stdout;
    const r = cli("add-flow", "--target", SOCK, "br0", "in_port=1,nw_srcx=1,actions=drop");
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/unknown keyword nw_srcx/);
    expect(cli("dump-flows", "--target", SOCK, "br0", "nobridge").status).not.toBe(0);
    await expect(request(SOCK, { cmd: "dump-flows", bridge: "nope" })).rejects.toThrow(/nope: unknown bridge/);
    await expect(request(SOCK, { cmd: "frobnicate" })).rejects.toThrow(/unknown request/);
    expect(cli("dump-flows", "--target", SOCK, "br0").stdout.replace(/duration=[\d.]+s|idle_age=\d+/g, "")).toBe(before.replace(/duration=[\d.]+s|idle_age=\d+/g, ""));
  });

  it("changes and dumps groups through the socket, deleting the flows of a deleted group", () => {
    expect(cli("add-group", "--target", SOCK, "br0", "group_id=1,type=all,bucket=output:out").status).toBe(0);
    const exists = cli("add-group", "--target", SOCK, "br0", "group_id=1,type=all,bucket=output:2");
    expect(exists.status).toBe(1);
    expect(exists.stderr).toMatch(/^flowplane: OFPGMFC_GROUP_EXISTS: group 1 exists already\n$/);
    const unknown = cli("mod-group", "--target", SOCK, "br0", "group_id=2,type=all,bucket=output:2");
    expect(unknown.stderr).toMatch(/OFPGMFC_UNKNOWN_GROUP/);
    expect(cli("mod-group", "--target", SOCK, "--may-create", "br0", "group_id=2,type=indirect,bucket=output:2").status).toBe(0);
    expect(cli("add-flow", "--target", SOCK, "br0", "priority=200,udp,actions=group:1").status).toBe(0);
    expect(cli("dump-groups", "--target", SOCK, "br0", "--names").stdout).toBe(" group_id=1,type=all,bucket=bucket_id:0,actions=output:out\n group_id=2,type=indirect,bucket=bucket_id:0,actions=output:out\n");
    expect(cli("dump-groups", "--target", SOCK, "br0", "2").stdout).toBe(" group_id=2,type=indirect,bucket=bucket_id:0,actions=output:2\n");
    expect(cli("dump-groups", "--target", SOCK, "br0", "x").stderr).toMatch(/x: not a group id/);
    expect(cli("del-groups", "--target", SOCK, "br0", "group_id=1").status).toBe(0);
    expect(cli("dump-flows", "--target", SOCK, "br0").stdout).not.toMatch(/group:1/);
    expect(cli("del-groups", "--target", SOCK, "br0").status).toBe(0);
    expect(cli("dump-groups", "--target", SOCK, "br0").stdout).toBe("");
  });

  it("changes and dumps meters through the socket, deleting the flows of a deleted meter", () => {
    expect(cli("add-meter", "--target", SOCK, "br0", "meter=2,kbps,burst,bands=type=drop,rate=100,burst_size=20").status).toBe(0);
    expect(cli("add-meter", "--target", SOCK, "br0", "meter=1,pktps,bands=type=drop,rate=10").status).toBe(0);
    const exists = cli("add-meter", "--target", SOCK, "br0", "meter=1,pktps,bands=type=drop,rate=5");
    expect(exists.status).toBe(1);
    expect(exists.stderr).toBe("flowplane: OFPMMFC_METER_EXISTS: meter 1 exists already\n");
    const bad = cli("add-meter", "--target", SOCK, "br0", "meter=3,pktps,bands=type=drop");
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/band must have 'rate'/);
    expect(cli("mod-meter", "--target", SOCK, "br0", "meter=9,pktps,bands=type=drop,rate=5").stderr).toMatch(/OFPMMFC_UNKNOWN_METER/);
    expect(cli("mod-meter", "--target", SOCK, "br0", "meter=1,kbps,bands=type=drop,rate=50").status).toBe(0);
    expect(cli("add-flow", "--target", SOCK, "br0", "priority=40000,udp,actions=meter:1,output:2").status).toBe(0);
    expect(cli("add-flow", "--target", SOCK, "br0", "priority=40000,tcp,actions=meter:8,output:2").stderr).toMatch(/OFPMMFC_INVALID_METER/);
    // dump-meters prints as ovs-ofctl does after its header line: by meter id here.
    expect(cli("dump-meters", "--target", SOCK, "br0").stdout).toBe("meter=1 kbps bands=\ntype=drop rate=50\n\nmeter=2 kbps burst bands=\ntype=drop rate=100 burst_size=20\n\n");
    expect(cli("dump-meters", "--target", SOCK, "br0", "meter=2").stdout).toBe("meter=2 kbps burst bands=\ntype=drop rate=100 burst_size=20\n\n");
    expect(cli("dump-meters", "--target", SOCK, "br0", "meter=7").stderr).toMatch(/OFPMMFC_UNKNOWN_METER/);
    const tr = cli("trace", "--target", SOCK, "br0", "in_port=1,udp");
    expect(tr.stdout).toMatch(/Datapath actions: meter\(1\),2/);
    expect(cli("meter-stats", "--target", SOCK, "br0", "meter=1").stdout).toMatch(
      /^meter:1 flow_count:1 packet_in_count:0 byte_in_count:0 duration:\d+(\.\d{3})?s bands:\n0: packet_count:0 byte_count:0\n\n$/,
    );
    expect(cli("del-meters", "--target", SOCK, "br0", "meter=1").status).toBe(0);
    expect(cli("dump-flows", "--target", SOCK, "br0").stdout).not.toMatch(/meter:1/);
    expect(cli("del-meters", "--target", SOCK, "br0").status).toBe(0);
    expect(cli("dump-meters", "--target", SOCK, "br0").stdout).toBe("");
  });

  it("serves Prometheus metrics on loopback", async () => {
    const res = await fetch(`http://127.0.0.1:${METRICS_PORT}/metrics`);
    const text = await res.text();
    expect(res.status).toBe(200);
    expect(text).toMatch(/^flowplane_port_tx_packets_total\{port="out",type="pcap-out"\} [1-9]/m);
    expect(text).toMatch(/^flowplane_datapath_misses_total \d+/m);
  });

  it("keeps the offline dump-flows working", () => {
    const r = cli("dump-flows", "--topology", join(TMP, "t.json"), "br0");
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(" in_port=1 actions=output:2\n");
  });

  it("flushes the capture, removes its socket and exits 0 on SIGTERM", async () => {
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
    expect(existsSync(SOCK)).toBe(false);
    const out = readCapture(OUT);
    expect(out.count).toBe(readCapture(join(ROOT, "pcaps/icmp-echo.pcap")).count);
    const r = cli("stats", "--target", SOCK);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/cannot connect to .*: is flowplane run running\?/);
  });
});
