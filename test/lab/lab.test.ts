/**
 * `flowplane run` and `flowplane lab` on real taps, with traffic between
 * network namespaces. Needs root, /dev/net/tun, iproute2 and the native
 * addon: without them the tests are skipped with the reason, except under
 * CI=true, where a missing prerequisite fails.
 * Every namespace, tap and socket is named after this process (lab name
 * t<pid>, taps fpt<pid>..., namespaces fplab-t<pid>-...) and removed in
 * afterAll/finally; traffic is only sent between namespaces created here.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CLI, IN_CI, ROOT, SINK, SOURCE, cli, missingPrerequisites, namespacesOf, nodeIn, ping, stdoutOf, transfer, waitText } from "./helpers.js";

/** Short: lab names are at most 8 characters. */
const ID = `t${process.pid % 100000}`;
const NS1 = `fplab-${ID}-vm1`;
const NS2 = `fplab-${ID}-vm2`;
const TMP = mkdtempSync(join(tmpdir(), "fplab-test-"));
// Readable by nobody, for the permission test.
chmodSync(TMP, 0o755);

const MISSING = missingPrerequisites();
if (MISSING !== "" && !IN_CI) console.warn(`flowplane: skipping the lab tests: ${MISSING}`);

function linkExists(name: string, netns = ""): boolean {
  const args = netns === "" ? ["link", "show", "dev", name] : ["-n", netns, "link", "show", "dev", name];
  return spawnSync("ip", args, { stdio: "ignore" }).status === 0;
}

function labUp(flows?: string): void {
  const args = ["lab", "up", "--name", ID];
  if (flows !== undefined) {
    const file = join(TMP, `flows-${Math.random().toString(36).slice(2)}.txt`);
    writeFileSync(file, flows);
    args.push("--flows", file);
  }
  const r = cli(args);
  if (r.status !== 0) throw new Error(`lab up failed: ${r.stderr}`);
}

function labDown(): void {
  cli(["lab", "down", "--name", ID]);
}

const FORWARD = "in_port=1,actions=output:2\nin_port=2,actions=output:1\n";

afterAll(() => {
  rmSync(TMP, { recursive: true, force: true });
});

describe.skipIf(MISSING !== "" && !IN_CI)("flowplane run between namespaces", () => {
  afterAll(() => {
    labDown();
  });

  it("has its prerequisites", () => {
    expect(MISSING).toBe("");
  });

  it("forwards pings both ways with an in_port/output table", () => {
    try {
      labUp(FORWARD);
      expect(ping(NS1, "10.0.0.4")).toBe(true);
      expect(ping(NS2, "10.0.0.8")).toBe(true);
      const dump = cli(["dump-flows", "--target", `/run/flowplane/lab-${ID}/control.sock`, "br-lab"]);
      expect(dump.status).toBe(0);
      expect(dump.stdout).toMatch(/n_packets=[1-9]\d*, .*in_port=1 actions=output:2/);
    } finally {
      labDown();
    }
  });

  it("forwards pings both ways with NORMAL", () => {
    try {
      labUp();
      expect(ping(NS1, "10.0.0.4")).toBe(true);
      expect(ping(NS2, "10.0.0.8")).toBe(true);
    } finally {
      labDown();
    }
  });

  it("carries a 10 MB TCP transfer intact", async () => {
    try {
      labUp();
      const size = 10 * 1024 * 1024;
      const { sent, got } = await transfer(NS2, "10.0.0.4", NS1, "10.0.0.4", 5001, size);
      expect(got.size).toBe(size);
      expect(got.sha256).toBe(sent);
    } finally {
      labDown();
    }
  });

  it("lets TCP 22 through and blocks 23", async () => {
    const procs: ChildProcess[] = [];
    try {
      labUp(`priority=100,tcp,tp_dst=23,actions=drop\npriority=10,${FORWARD.trim().split("\n").join("\npriority=10,")}\n`);
      const sink = nodeIn(NS2, SINK, ["10.0.0.4", "22", "23"]);
      procs.push(sink.child);
      await waitText(sink.output, "listening", 5000);
      const [ok, blocked] = await Promise.all(
        ["22", "23"].map((port) => {
          const c = nodeIn(NS1, SOURCE, ["10.0.0.4", port, "1000", "3000"]);
          procs.push(c.child);
          return c.done.then((s) => s.trim());
        }),
      );
      expect(ok).toMatch(/^[0-9a-f]{64}$/);
      expect(blocked).toBe("timeout");
    } finally {
      for (const p of procs) p.kill("SIGKILL");
      labDown();
    }
  });

  // A security group as Neutron's firewall driver builds one (tables 71/72 in
  // miniature): connections from ns1 to TCP 22 are committed, their replies and
  // later segments pass as established, anything new from ns2 and TCP 23 are dropped.
  it("with conntrack flows, lets new TCP 22 from ns1 through, blocks 23, and blocks new connections from ns2", async () => {
    const SG = [
      "table=0,priority=100,ip,ct_state=-trk,actions=ct(table=1,zone=1)",
      "table=0,priority=10,arp,in_port=1,actions=output:2",
      "table=0,priority=10,arp,in_port=2,actions=output:1",
      "table=0,priority=0,actions=drop",
      "table=1,priority=100,ct_state=+trk+inv,actions=drop",
      "table=1,priority=90,ct_state=+trk+est-rel-inv,in_port=1,actions=output:2",
      "table=1,priority=90,ct_state=+trk+est-rel-inv,in_port=2,actions=output:1",
      "table=1,priority=90,ct_state=+trk+rel-inv,in_port=1,actions=output:2",
      "table=1,priority=90,ct_state=+trk+rel-inv,in_port=2,actions=output:1",
      "table=1,priority=80,tcp,ct_state=+trk+new,in_port=1,tp_dst=22,actions=ct(commit,zone=1),output:2",
      "table=1,priority=0,actions=drop",
    ].join("\n");
    const procs: ChildProcess[] = [];
    try {
      labUp(`${SG}\n`);
      const sink2 = nodeIn(NS2, SINK, ["10.0.0.4", "22", "23"]);
      procs.push(sink2.child);
      await waitText(sink2.output, "listening", 5000);
      const sink1 = nodeIn(NS1, SINK, ["10.0.0.8", "22"]);
      procs.push(sink1.child);
      await waitText(sink1.output, "listening", 5000);
      const run = (ns: string, host: string, port: string): Promise<string> => {
        const c = nodeIn(ns, SOURCE, [host, port, "100000", "3000"]);
        procs.push(c.child);
        return c.done.then((out) => out.trim());
      };
      const [ok, blocked, reverse] = await Promise.all([run(NS1, "10.0.0.4", "22"), run(NS1, "10.0.0.4", "23"), run(NS2, "10.0.0.8", "22")]);
      expect(ok).toMatch(/^[0-9a-f]{64}$/);
      expect(blocked).toBe("timeout");
      expect(reverse).toBe("timeout");
      // The bytes arrived whole at ns2's port 22, and nothing reached its 23 or ns1's 22.
      expect(sink2.output()).toContain(`"port":22,"sha256":"${ok}","size":100000`);
      expect(sink2.output()).not.toContain(`"port":23`);
      expect(sink1.output()).not.toContain(`"port":22`);
    } finally {
      for (const p of procs) p.kill("SIGKILL");
      labDown();
    }
  });

  it("leaves no namespaces, taps or sockets behind after SIGTERM, twice", async () => {
    const dev1 = `fp${ID}r1`;
    const dev2 = `fp${ID}r2`;
    const topo = join(TMP, "restart.json");
    const sock = join(TMP, "restart.sock");
    writeFileSync(
      topo,
      JSON.stringify({
        bridges: [{ name: "br0" }],
        ports: [
          { name: "p1", bridge: "br0", ofport: 1, type: "tap", options: { device: dev1 } },
          { name: "p2", bridge: "br0", ofport: 2, type: "tap", options: { device: dev2 } },
        ],
      }),
    );
    const ns = `fplab-${ID}-rs`;
    try {
      spawnSync("ip", ["netns", "add", ns]);
      for (let round = 0; round < 2; round++) {
        const child = spawn(CLI[0], [...CLI.slice(1), "run", "--topology", topo, "--control", sock], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
        let err = "";
        child.stderr!.on("data", (d) => (err += d));
        await waitText(stdoutOf(child), "control ", 10_000);
        expect(linkExists(dev1)).toBe(true);
        expect(existsSync(sock)).toBe(true);
        // A tap moved into a namespace must vanish from it too.
        expect(spawnSync("ip", ["link", "set", dev2, "netns", ns]).status).toBe(0);
        expect(linkExists(dev2, ns)).toBe(true);
        const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
        child.kill("SIGTERM");
        expect(await exited).toBe(0);
        expect(err).toBe("");
        expect(linkExists(dev1)).toBe(false);
        expect(linkExists(dev2, ns)).toBe(false);
        expect(existsSync(sock)).toBe(false);
      }
    } finally {
      spawnSync("ip", ["netns", "del", ns]);
    }
    expect(namespacesOf(ID)).toEqual([]);
  });
});

describe.skipIf(MISSING !== "" && !IN_CI)("flowplane run refuses bad input in one line", () => {
  const topo = (ports: object[]): string => {
    const file = join(TMP, `bad-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(file, JSON.stringify({ bridges: [{ name: "br0" }], ports }));
    return file;
  };
  const oneLine = (r: { status: number | null; stderr: string }, pattern: RegExp): void => {
    expect(r.status).not.toBe(0);
    expect(r.status).not.toBeNull();
    const lines = r.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(pattern);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  };

  it("names a missing afpacket interface", () => {
    const t = topo([{ name: "p1", bridge: "br0", ofport: 1, type: "afpacket", options: { device: `fp${ID}none` } }]);
    oneLine(cli(["run", "--topology", t, "--control", join(TMP, "a.sock")]), /no network interface "fpt\d+none"/);
  });

  it("names a tap that another process holds", async () => {
    const dev = `fp${ID}busy`;
    const t = topo([{ name: "p1", bridge: "br0", ofport: 1, type: "tap", options: { device: dev } }]);
    const first = spawn(CLI[0], [...CLI.slice(1), "run", "--topology", t, "--control", join(TMP, "busy1.sock")], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    try {
      await waitText(stdoutOf(first), "control ", 10_000);
      oneLine(cli(["run", "--topology", t, "--control", join(TMP, "busy2.sock")]), /tap "fpt\d+busy": the name is in use/);
    } finally {
      const exited = new Promise((resolve) => first.on("exit", resolve));
      first.kill("SIGTERM");
      await exited;
    }
    expect(linkExists(dev)).toBe(false);
  });

  it("says it needs root when run as nobody", () => {
    const t = topo([{ name: "p1", bridge: "br0", ofport: 1, type: "tap", options: { device: `fp${ID}nob` } }]);
    const r = spawnSync("setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", ...CLI, "run", "--topology", t, "--control", join(TMP, "nobody.sock")], {
      cwd: ROOT,
      encoding: "utf8",
      env: { ...process.env, HOME: "/tmp" },
    });
    oneLine(r, /operation not permitted \(flowplane run needs root or CAP_NET_ADMIN\)|permission denied/);
    expect(linkExists(`fp${ID}nob`)).toBe(false);
  });

  it("says the native addon is missing", () => {
    const t = topo([{ name: "p1", bridge: "br0", ofport: 1, type: "tap", options: { device: `fp${ID}na` } }]);
    const r = cli(["run", "--topology", t, "--control", join(TMP, "na.sock")], { env: { FLOWPLANE_NATIVE_ADDON: join(TMP, "nowhere.node") } });
    oneLine(r, /native addon is missing/);
  });

  it("says no daemon answers on a socket", () => {
    oneLine(cli(["stats", "--target", join(TMP, "none.sock")]), /cannot connect to .*none\.sock: is flowplane run running\?/);
  });
});
