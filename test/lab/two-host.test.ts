/**
 * The two-host lab (`flowplane lab up --hosts 2`): two flowplane processes as
 * compute hosts in their own namespaces, joined by VXLAN over a veth
 * underlay, with the references' instances 10.0.0.8 (host 1) and 10.0.0.4
 * (host 2) on one network, 10.1.0.10 (host 2) on another, routed by each
 * host's copy of the distributed router. Pings and TCP cross the tunnel; a
 * capture of the underlay, read by tshark as VXLAN, shows the segments' VNIs,
 * the instances' frames and, for routed frames, the sending host's DVR MAC,
 * which the receiving host replaces by the gateway's MAC again. Traffic for
 * the public network goes to the network node's sg- port the same way, where
 * flowplane's br-router (the `neutron router-flows` of router1) SNATs it, and
 * DNATs vm1's floating IP, with flowplane's conntrack.
 *
 * Needs root, /dev/net/tun, iproute2, tcpdump, tshark and the native addon:
 * without them the tests are skipped with the reason, except under CI=true,
 * where a missing prerequisite fails. Everything is named after this process
 * (lab t<pid>) and removed in afterAll and finally blocks.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IN_CI, cli as runCli, has, missingPrerequisites, namespacesOf, ping, transfer, waitText, type CliResult } from "./helpers.js";

const ID = `h${process.pid % 100000}`;
const NS = {
  host1: `fplab-${ID}-host1`,
  host2: `fplab-${ID}-host2`,
  vm1: `fplab-${ID}-vm1`,
  vm2: `fplab-${ID}-vm2`,
  vm3: `fplab-${ID}-vm3`,
  router1: `fplab-${ID}-router1`,
  router2: `fplab-${ID}-router2`,
  net: `fplab-${ID}-net`,
  ext: `fplab-${ID}-ext`,
  wire: `fplab-${ID}-wire`,
};
const UNDERLAY = { host1: `fp${ID}-u1`, host2: `fp${ID}-u2`, net: `fp${ID}-u3` };
const VM1 = { ip: "10.0.0.8", mac: "fa:16:3e:76:47:75" };
const VM2 = { ip: "10.0.0.4", mac: "fa:16:3e:96:e2:a4" };
const VM3 = { ip: "10.1.0.10", mac: "fa:16:3e:23:c5:28" };
/** Reference 003: the router's MAC on private2 and the two compute nodes' DVR MACs. */
const GW2_MAC = "fa:16:3e:5c:3d:f9";
const DVR_MAC_HOST1 = "fa:16:3f:73:c3:04";
const DVR_MAC_HOST2 = "fa:16:3f:59:35:b1";
const VNI2 = 0x5;
const HOST1_IP = "192.168.1.12";
const HOST2_IP = "192.168.1.13";
const NET_IP = "192.168.1.11";
/** Reference 003: router1's snat (sg-) port on private, and the public network's gateway (its MAC is the lab's). */
const SG1 = { ip: "10.0.0.3", mac: "fa:16:3e:47:34:80" };
const PUBLIC_GW = { ip: "172.24.4.1", mac: "52:54:00:ac:18:01" };
/** Router1's qg- address and MAC (reference 003) and the floating IP the lab gives vm1. */
const QG = { ip: "172.24.4.3", mac: "fa:16:3e:af:c7:ce" };
/** The conntrack zone of router1's NAT on the network node's br-router. */
const ROUTER_ZONE = 1000;
const FLOATING_IP = "172.24.4.20";
const VNI = 0x42;
const TMP = mkdtempSync(join(tmpdir(), "fplab-2h-"));

const MISSING = missingPrerequisites(["tcpdump", "tshark"]);
if (MISSING !== "" && !IN_CI) console.warn(`flowplane: skipping the two-host lab tests: ${MISSING}`);

/** The two-host lab starts three flowplane processes: its commands get longer than the default. */
const cli = (args: string[]): CliResult => runCli(args, { timeoutMs: 60_000 });

/**
 * Runs tcpdump -w on interfaces of namespaces around `traffic`; returns the
 * capture files in order. -Z root: the temporary folder is root's only.
 * --immediate-mode: otherwise frames wait in the ring until a block retires,
 * and SIGINT drops them.
 */
async function capture(targets: { ns: string; dev: string; file: string }[], traffic: () => void): Promise<string[]> {
  const dumps = targets.map((t) => {
    const child = spawn("ip", ["netns", "exec", t.ns, "tcpdump", "-Z", "root", "--immediate-mode", "-i", t.dev, "-U", "-n", "-w", t.file], { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr!.on("data", (d) => (err += d));
    const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
    return { child, exited, err: () => err };
  });
  try {
    for (const d of dumps) await waitText(d.err, "listening on", 5000);
    traffic();
    // Let the last replies reach the wire before stopping the capture.
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    for (const d of dumps) d.child.kill("SIGINT");
    for (const d of dumps) await d.exited;
  }
  targets.forEach((t, i) => {
    if (!existsSync(t.file)) throw new Error(`tcpdump wrote no ${t.file}: ${dumps[i].err()}`);
  });
  return targets.map((t) => t.file);
}

/** tshark's one-line summary with link-layer addresses of each frame. */
function summary(file: string): string[] {
  const r = spawnSync("tshark", ["-r", file, "-T", "fields", "-E", "separator=;", "-e", "eth.src", "-e", "eth.dst", "-e", "ip.src", "-e", "ip.dst", "-e", "ip.ttl", "-e", "icmp.type"], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`tshark -r ${file}: ${r.stderr}`);
  return r.stdout.trim().split("\n").filter((l) => l !== "");
}

/** tshark's full decode (-V) with UDP 4789 read as VXLAN, one text block per frame. */
function decodeVxlan(file: string): string[] {
  const r = spawnSync("tshark", ["-r", file, "-V", "-d", "udp.port==4789,vxlan"], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`tshark -r ${file}: ${r.stderr}`);
  return r.stdout.split(/^(?=Frame \d+:)/m).filter((b) => b.startsWith("Frame "));
}

afterAll(() => {
  rmSync(TMP, { recursive: true, force: true });
});

describe.skipIf(MISSING !== "" && !IN_CI)("two-host lab over VXLAN", () => {
  beforeAll(() => {
    if (MISSING !== "") return;
    const r = cli(["lab", "up", "--name", ID, "--hosts", "2"]);
    if (r.status !== 0) {
      cli(["lab", "down", "--name", ID]);
      throw new Error(`lab up --hosts 2 failed: ${r.stderr}`);
    }
  }, 60_000);

  afterAll(() => {
    cli(["lab", "down", "--name", ID]);
  });

  it("has its prerequisites", () => {
    expect(MISSING).toBe("");
  });

  it("runs one flowplane per host namespace, and the instances only in their own namespaces", () => {
    expect(namespacesOf(ID).sort()).toEqual(Object.values(NS).sort());
    const addr = (ns: string): string => spawnSync("ip", ["-n", ns, "-4", "-o", "addr"], { encoding: "utf8" }).stdout;
    expect(addr(NS.vm1)).toContain(`${VM1.ip}/24`);
    expect(addr(NS.vm2)).toContain(`${VM2.ip}/24`);
    expect(addr(NS.vm3)).toContain(`${VM3.ip}/24`);
    // Both hosts' routers hold the same gateway addresses.
    for (const r of [NS.router1, NS.router2]) {
      expect(addr(r)).toContain("10.0.0.1/24");
      expect(addr(r)).toContain("10.1.0.1/24");
    }
    // The hosts carry no instance address: only flowplane forwards between them.
    expect(addr(NS.host1)).not.toContain("10.0.0.");
    expect(addr(NS.host2)).not.toContain("10.0.0.");
    expect(addr(NS.net)).not.toContain("10.0.0.");
    // Router1's sg- and qg- addresses and the floating IP belong to no kernel: br-router's flows answer for them.
    for (const ns of Object.values(NS)) {
      for (const a of [SG1.ip, "10.1.0.6", QG.ip, FLOATING_IP]) expect(addr(ns)).not.toContain(`${a}/`);
    }
  });

  it("pings across hosts both ways", () => {
    expect(ping(NS.vm1, VM2.ip)).toBe(true);
    expect(ping(NS.vm2, VM1.ip)).toBe(true);
  });

  it("carries a 4 MB TCP transfer across the tunnel intact", async () => {
    const size = 4 * 1024 * 1024;
    const { sent, got } = await transfer(NS.vm2, VM2.ip, NS.vm1, VM2.ip, 5001, size);
    expect(got.size).toBe(size);
    expect(got.sha256).toBe(sent);
  }, 30_000);

  it("puts VXLAN with VNI 0x42 on the underlay, carrying the instances' frames, as tshark decodes it", async () => {
    // Host 2's end of the underlay sees what host 1 sends and what host 2 answers.
    const [file] = await capture([{ ns: NS.host2, dev: UNDERLAY.host2, file: join(TMP, "underlay.pcap") }], () => {
      expect(ping(NS.vm1, VM2.ip)).toBe(true);
    });
    const frames = decodeVxlan(file);
    const icmp = frames.filter((f) => f.includes("Internet Control Message Protocol"));
    expect(icmp.length).toBeGreaterThanOrEqual(2);
    // Nothing but VXLAN crosses the underlay: ARP is answered by br-tun's responder.
    for (const f of frames) {
      expect(f).toContain("Virtual eXtensible Local Area Network");
      expect(f).toContain(`VXLAN Network Identifier (VNI): ${VNI}`);
      expect(f).toMatch(/User Datagram Protocol, Src Port: \d+, Dst Port: 4789/);
    }
    const outer = (f: string): string => f.slice(0, f.indexOf("Virtual eXtensible"));
    const inner = (f: string): string => f.slice(f.indexOf("Virtual eXtensible"));
    const requests = icmp.filter((f) => /Type: 8 \(Echo \(ping\) request\)/.test(f));
    const replies = icmp.filter((f) => /Type: 0 \(Echo \(ping\) reply\)/.test(f));
    expect(requests.length).toBeGreaterThanOrEqual(1);
    expect(replies.length).toBeGreaterThanOrEqual(1);
    for (const f of requests) {
      expect(outer(f)).toContain(`Internet Protocol Version 4, Src: ${HOST1_IP}, Dst: ${HOST2_IP}`);
      expect(inner(f)).toContain(`Internet Protocol Version 4, Src: ${VM1.ip}, Dst: ${VM2.ip}`);
      expect(inner(f)).toMatch(new RegExp(`Ethernet II, Src: [^\\n]*\\(${VM1.mac}\\), Dst: [^\\n]*\\(${VM2.mac}\\)`));
      // The VLAN br-int uses locally never reaches the wire (br-tun strips it).
      expect(inner(f)).not.toContain("802.1Q Virtual LAN");
    }
    for (const f of replies) {
      expect(outer(f)).toContain(`Internet Protocol Version 4, Src: ${HOST2_IP}, Dst: ${HOST1_IP}`);
      expect(inner(f)).toContain(`Internet Protocol Version 4, Src: ${VM2.ip}, Dst: ${VM1.ip}`);
      expect(inner(f)).toMatch(new RegExp(`Ethernet II, Src: [^\\n]*\\(${VM2.mac}\\), Dst: [^\\n]*\\(${VM1.mac}\\)`));
    }
  }, 30_000);

  it("routes across subnets and hosts through DVR: the DVR MAC on the wire, the gateway MAC restored", async () => {
    expect(ping(NS.vm1, VM3.ip)).toBe(true);
    expect(ping(NS.vm3, VM1.ip)).toBe(true);
    expect(ping(NS.vm2, VM3.ip)).toBe(true);
    const [wireFile, vm3File] = await capture(
      [
        { ns: NS.host2, dev: UNDERLAY.host2, file: join(TMP, "dvr-underlay.pcap") },
        { ns: NS.vm3, dev: `fp${ID}-vm3`, file: join(TMP, "dvr-vm3.pcap") },
      ],
      () => {
        expect(ping(NS.vm1, VM3.ip)).toBe(true);
      },
    );
    const frames = decodeVxlan(wireFile);
    const icmp = frames.filter((f) => f.includes("Internet Control Message Protocol"));
    const requests = icmp.filter((f) => /Type: 8 \(Echo \(ping\) request\)/.test(f));
    const replies = icmp.filter((f) => /Type: 0 \(Echo \(ping\) reply\)/.test(f));
    expect(requests.length).toBeGreaterThanOrEqual(1);
    expect(replies.length).toBeGreaterThanOrEqual(1);
    const inner = (f: string): string => f.slice(f.indexOf("Virtual eXtensible"));
    for (const f of requests) {
      // Routed on host 1 into private2: VNI 5, from host 1's DVR MAC to vm3, TTL lowered once (reference 003's tcpdump on node3).
      expect(f).toContain(`VXLAN Network Identifier (VNI): ${VNI2}`);
      expect(f).toContain(`Internet Protocol Version 4, Src: ${HOST1_IP}, Dst: ${HOST2_IP}`);
      expect(inner(f)).toMatch(new RegExp(`Ethernet II, Src: [^\\n]*\\(${DVR_MAC_HOST1}\\), Dst: [^\\n]*\\(${VM3.mac}\\)`));
      expect(inner(f)).toContain(`Internet Protocol Version 4, Src: ${VM1.ip}, Dst: ${VM3.ip}`);
      expect(inner(f)).toContain("Time to Live: 63");
    }
    for (const f of replies) {
      // Routed back on host 2 into private: VNI 0x42, from host 2's DVR MAC to vm1.
      expect(f).toContain(`VXLAN Network Identifier (VNI): ${VNI}`);
      expect(f).toContain(`Internet Protocol Version 4, Src: ${HOST2_IP}, Dst: ${HOST1_IP}`);
      expect(inner(f)).toMatch(new RegExp(`Ethernet II, Src: [^\\n]*\\(${DVR_MAC_HOST2}\\), Dst: [^\\n]*\\(${VM1.mac}\\)`));
      expect(inner(f)).toContain(`Internet Protocol Version 4, Src: ${VM3.ip}, Dst: ${VM1.ip}`);
    }
    // vm3 sees its gateway's MAC, never a DVR MAC: host 2's br-int table 1 put it back.
    const atVm3 = summary(vm3File).filter((l) => l.endsWith(";8") || l.endsWith(";0"));
    expect(atVm3).toContain(`${GW2_MAC};${VM3.mac};${VM1.ip};${VM3.ip};63;8`);
    expect(atVm3).toContain(`${VM3.mac};${GW2_MAC};${VM3.ip};${VM1.ip};64;0`);
    expect(atVm3.join("\n")).not.toContain("fa:16:3f:");
  }, 30_000);

  it("sends north-south traffic to the network node's sg- port with the DVR MAC on the wire (reference 003's PBR), and br-router routes it out of qg- NATed", async () => {
    expect(ping(NS.vm1, PUBLIC_GW.ip)).toBe(true);
    const [wireFile, extFile] = await capture(
      [
        { ns: NS.net, dev: UNDERLAY.net, file: join(TMP, "snat-underlay.pcap") },
        { ns: NS.ext, dev: `fp${ID}-ext`, file: join(TMP, "snat-ext.pcap") },
      ],
      () => {
        expect(ping(NS.vm1, PUBLIC_GW.ip)).toBe(true);
      },
    );
    const requests = decodeVxlan(wireFile).filter((f) => /Type: 8 \(Echo \(ping\) request\)/.test(f));
    expect(requests.length).toBeGreaterThanOrEqual(1);
    for (const f of requests) {
      // Routed on host 1 toward 10.0.0.3 (policy routing), tunnelled to the network node on private's VNI.
      expect(f).toContain(`VXLAN Network Identifier (VNI): ${VNI}`);
      expect(f).toContain(`Internet Protocol Version 4, Src: ${HOST1_IP}, Dst: ${NET_IP}`);
      const inner = f.slice(f.indexOf("Virtual eXtensible"));
      expect(inner).toMatch(new RegExp(`Ethernet II, Src: [^\\n]*\\(${DVR_MAC_HOST1}\\), Dst: [^\\n]*\\(${SG1.mac}\\)`));
      expect(inner).toContain(`Internet Protocol Version 4, Src: ${VM1.ip}, Dst: ${PUBLIC_GW.ip}`);
      expect(inner).toContain("Time to Live: 63");
    }
    // At the public gateway: routed once more by br-router (TTL 62), from qg-'s MAC to the static next hop's,
    // and from vm1's floating IP (its float-snat comes before the subnet SNAT); the reply goes back to that address.
    const atExt = summary(extFile).filter((l) => l.endsWith(";8") || l.endsWith(";0"));
    expect(atExt).toContain(`${QG.mac};${PUBLIC_GW.mac};${FLOATING_IP};${PUBLIC_GW.ip};62;8`);
    expect(atExt).toContain(`${PUBLIC_GW.mac};${QG.mac};${PUBLIC_GW.ip};${FLOATING_IP};64;0`);
    expect(atExt.join("\n")).not.toContain(VM1.ip);
  }, 30_000);

  it("SNATs an instance's TCP connection out: the public gateway sees it from router1's qg- address 172.24.4.3, bytes intact", async () => {
    // vm3 (private2, host 2) has no floating IP: its connection crosses the tunnel to br-router's sg- port and leaves by qg-.
    const size = 256 * 1024;
    const { sent, got } = await transfer(NS.ext, PUBLIC_GW.ip, NS.vm3, PUBLIC_GW.ip, 5002, size);
    expect(got.from).toBe(QG.ip);
    expect(got.size).toBe(size);
    expect(got.sha256).toBe(sent);
    // vm2 (private, host 2) too: the subnet SNAT applies per network.
    const again = await transfer(NS.ext, PUBLIC_GW.ip, NS.vm2, PUBLIC_GW.ip, 5003, size);
    expect(again.got.from).toBe(QG.ip);
    expect(again.got.sha256).toBe(again.sent);
  }, 30_000);

  it("takes a TCP connection to vm1's floating IP 172.24.4.20 in to 10.0.0.8, and vm1's own connections out from the floating IP", async () => {
    const size = 256 * 1024;
    // In: ext dials the floating IP; vm1 accepts it on its fixed address, from the public gateway's own address.
    const inbound = await transfer(NS.vm1, VM1.ip, NS.ext, FLOATING_IP, 5004, size);
    expect(inbound.got.from).toBe(PUBLIC_GW.ip);
    expect(inbound.got.size).toBe(size);
    expect(inbound.got.sha256).toBe(inbound.sent);
    // Out: vm1 has a floating IP, so the public side sees that rather than the router's qg- address.
    const outbound = await transfer(NS.ext, PUBLIC_GW.ip, NS.vm1, PUBLIC_GW.ip, 5005, size);
    expect(outbound.got.from).toBe(FLOATING_IP);
    expect(outbound.got.sha256).toBe(outbound.sent);
  }, 30_000);

  it("does the NAT in flowplane: the network node's conntrack holds each NATed connection, and the kernel tracks none", async () => {
    const dump = (): string[] => {
      const r = cli(["dpctl", "dump-conntrack", "--target", `/run/flowplane/lab-${ID}/net/control.sock`, `zone=${ROUTER_ZONE}`]);
      expect(r.status, r.stderr).toBe(0);
      return r.stdout.split("\n");
    };
    const size = 64 * 1024;
    // SNAT: ext sees the connection from 172.24.4.3 and a port; flowplane's entry maps vm3's connection to exactly that.
    const out = await transfer(NS.ext, PUBLIC_GW.ip, NS.vm3, PUBLIC_GW.ip, 5006, size);
    expect(out.got.from).toBe(QG.ip);
    expect(out.got.sha256).toBe(out.sent);
    const snat = new RegExp(
      `^tcp,orig=\\(src=${VM3.ip},dst=${PUBLIC_GW.ip},sport=\\d+,dport=5006\\),reply=\\(src=${PUBLIC_GW.ip},dst=${QG.ip},sport=5006,dport=${out.got.fromPort}\\),zone=${ROUTER_ZONE},`.replaceAll(".", "\\."),
    );
    const afterOut = dump();
    expect(afterOut.filter((l) => snat.test(l)), afterOut.join("\n")).toHaveLength(1);
    // DNAT: ext dials the floating IP from a port vm1 sees unchanged; flowplane's entry turns 172.24.4.20 into 10.0.0.8.
    const inbound = await transfer(NS.vm1, VM1.ip, NS.ext, FLOATING_IP, 5007, size);
    expect(inbound.got.sha256).toBe(inbound.sent);
    const dnat = `tcp,orig=(src=${PUBLIC_GW.ip},dst=${FLOATING_IP},sport=${inbound.got.fromPort},dport=5007),reply=(src=${VM1.ip},dst=${PUBLIC_GW.ip},sport=5007,dport=${inbound.got.fromPort}),zone=${ROUTER_ZONE},`;
    const afterIn = dump();
    expect(afterIn.filter((l) => l.startsWith(dnat)), afterIn.join("\n")).toHaveLength(1);
    // No kernel on the way NATs: kernel NAT needs the namespace's conntrack, and none of the lab's has tracked anything.
    const haveNft = has("nft", "--version");
    for (const ns of Object.values(NS)) {
      const count = spawnSync("ip", ["netns", "exec", ns, "cat", "/proc/sys/net/netfilter/nf_conntrack_count"], { encoding: "utf8" });
      if (count.status === 0) expect(count.stdout.trim(), ns).toBe("0");
      if (haveNft) expect(spawnSync("ip", ["netns", "exec", ns, "nft", "list", "ruleset"], { encoding: "utf8" }).stdout.trim(), ns).toBe("");
    }
  }, 30_000);

  it("leaves no namespace, interface or file behind after lab down", () => {
    const r = cli(["lab", "down", "--name", ID]);
    expect(r.status).toBe(0);
    expect(r.stdout.match(/stopped flowplane run \(pid \d+\)/g)).toHaveLength(3);
    expect(namespacesOf(ID)).toEqual([]);
    expect(spawnSync("ip", ["link", "show", "dev", UNDERLAY.host1], { stdio: "ignore" }).status).not.toBe(0);
    expect(existsSync(`/run/flowplane/lab-${ID}`)).toBe(false);
  });
});
