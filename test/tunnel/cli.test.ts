/**
 * Tunnels from the command line: two hosts described by topology files
 * (with their "underlay" sections), `flowplane replay` on each. Host 1's VM
 * frame leaves its p0 VXLAN-encapsulated; that capture, replayed into host
 * 2's p0, comes out of host 2's VM port as the original frame.
 * Also `flowplane neutron tun-flows`: the br-tun compiler from the command line.
 * Spawns dist/cli/main.js: run `npm run build` first.
 */
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { eth, ipv4, udp } from "../../src/packet/build.js";
import { writeCapture, parseCapture } from "../../src/io/pcap.js";
import { compileTunFlows, parseTunInput } from "../../src/neutron/tun-flows.js";

const MAIN = resolve(__dirname, "../../dist/cli/main.js");
const HOST_MAC = ["aa:55:aa:55:00:01", "aa:55:aa:55:00:02"];
const HOST_IP = ["192.168.7.1", "192.168.7.2"];

function host(dir: string, me: 0 | 1): string {
  const peer = 1 - me;
  const topo = {
    bridges: [
      { name: "br-int", flows: "br-int.flows" },
      { name: "br-phy", flows: "br-phy.flows" },
    ],
    ports: [
      { name: "vm", bridge: "br-int", ofport: 1 },
      { name: "vx", bridge: "br-int", ofport: 2, type: "vxlan", options: { remote_ip: HOST_IP[peer], key: "1000" } },
      { name: "p0", bridge: "br-phy", ofport: 1 },
    ],
    underlay: {
      addresses: [{ bridge: "br-phy", ip: `${HOST_IP[me]}/24`, mac: HOST_MAC[me] }],
      routes: [{ prefix: "192.168.7.0/24", bridge: "br-phy" }],
      neighbours: [{ bridge: "br-phy", ip: HOST_IP[peer], mac: HOST_MAC[peer] }],
    },
  };
  const d = join(dir, `host${me + 1}`);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, "br-int.flows"), "in_port=1 actions=output:2\nin_port=2 actions=output:1\n");
  writeFileSync(join(d, "br-phy.flows"), "priority=0 actions=NORMAL\n");
  writeFileSync(join(d, "topology.json"), JSON.stringify(topo));
  return join(d, "topology.json");
}

function frames(file: string): Buffer[] {
  const buf = readFileSync(file);
  const cap = parseCapture(buf, file);
  return Array.from({ length: cap.count }, (_, i) => buf.subarray(cap.offsets[i], cap.offsets[i] + cap.lengths[i]));
}

describe.skipIf(!existsSync(MAIN))("flowplane replay with VXLAN tunnel ports", () => {
  let dir = "";
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "fp-tnl-cli-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("encapsulates on one host and delivers the same frame on the other", () => {
    const vmFrames = [0, 1, 2].map((i) => eth({ src: "fa:16:3e:00:00:01", dst: "fa:16:3e:00:00:02" }, ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }, udp({ src: 1000 + i, dst: 53 }))));
    writeCapture(join(dir, "vm.pcap"), vmFrames.map((data, i) => ({ data, tsSec: 1_700_000_000, tsNsec: i * 1000 })));
    const run = (topo: string, input: string, out: string): void => {
      const r = spawnSync(process.execPath, [MAIN, "replay", "--topology", topo, "--in", input, "--out", out], { encoding: "utf8" });
      expect(r.stderr).toBe("");
      expect(r.status).toBe(0);
    };
    run(host(dir, 0), `vm=${join(dir, "vm.pcap")}`, join(dir, "out1"));
    const wire = frames(join(dir, "out1", "p0.pcap"));
    expect(wire).toHaveLength(3);
    // Outer Ethernet and IPv4 addresses of host 1 -> host 2, UDP to 4789, VNI 1000.
    expect(wire[0].subarray(0, 12).toString("hex")).toBe("aa55aa550002aa55aa550001");
    expect([...wire[0].subarray(26, 34)]).toEqual([192, 168, 7, 1, 192, 168, 7, 2]);
    expect(wire[0].readUInt16BE(36)).toBe(4789);
    expect(wire[0].readUInt32BE(46) >>> 8).toBe(1000);
    run(host(dir, 1), `p0=${join(dir, "out1", "p0.pcap")}`, join(dir, "out2"));
    expect(frames(join(dir, "out2", "vm.pcap")).map((f) => f.toString("hex"))).toEqual(vmFrames.map((f) => Buffer.from(f).toString("hex")));
  });
});

describe.skipIf(!existsSync(MAIN))("flowplane neutron tun-flows", () => {
  let dir = "";
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "fp-tun-flows-cli-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const cli = (...args: string[]) => spawnSync(process.execPath, [MAIN, "neutron", "tun-flows", ...args], { encoding: "utf8" });
  const desc = {
    patch_int_ofport: 1,
    l2_population: true,
    arp_responder: true,
    tunnels: [
      { ofport: 2, type: "vxlan", remote_ip: "192.168.1.12" },
      { ofport: 3, type: "gre", remote_ip: "192.168.1.13" },
    ],
    networks: [
      { network_type: "vxlan", segmentation_id: 66, local_vlan: 1 },
      { network_type: "gre", segmentation_id: 7, local_vlan: 2 },
    ],
    fdb: [{ segmentation_id: 66, mac: "fa:16:3e:76:47:75", ip: "10.0.0.8", remote_ip: "192.168.1.12" }],
  };

  it("prints the compiler's flows for the file, one a line", () => {
    const file = join(dir, "br-tun.json");
    writeFileSync(file, JSON.stringify(desc));
    const r = cli(file);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(compileTunFlows(parseTunInput(desc)).map((l) => `${l}\n`).join(""));
    // The VXLAN network's ARP responder and l2pop unicast flow are there.
    expect(r.stdout).toMatch(/^table=21,priority=1,arp,dl_vlan=1,arp_op=1,arp_tpa=10\.0\.0\.8 /m);
    expect(r.stdout).toMatch(/^table=20,priority=2,dl_vlan=1,dl_dst=fa:16:3e:76:47:75 actions=strip_vlan,set_tunnel:0x42,output:2$/m);
  });

  it("refuses a bad file in one line naming the file and the item", () => {
    const file = join(dir, "bad.json");
    writeFileSync(file, JSON.stringify({ ...desc, tunnels: [{ ofport: 2, type: "geneve", remote_ip: "192.168.1.12" }] }));
    const r = cli(file);
    expect(r.status).not.toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain(`${file}: tunnels[0].type: must be "vxlan" or "gre"`);
    const notJson = join(dir, "not.json");
    writeFileSync(notJson, "{ patch_int_ofport: 1 }");
    expect(cli(notJson).stderr).toContain(`${notJson}: not valid JSON`);
  });

  it("explains the input with --help", () => {
    const r = cli("--help");
    expect(r.status).toBe(0);
    for (const word of ["patch_int_ofport", "segmentation_id", "local_vlan", "l2_population", "remote_ip", "fdb"]) expect(r.stdout).toContain(word);
  });
});
