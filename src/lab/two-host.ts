/**
 * The two-host lab (`flowplane lab up --hosts 2`): two compute hosts, each a
 * network namespace running its own `flowplane run`, joined by a veth pair
 * that stands for the underlay network, with one VM namespace on each:
 *
 *   ns fplab-N-vm1 10.0.0.8            ns fplab-N-vm2 10.0.0.4
 *        │ tap fpN-vm1                      │ tap fpN-vm2
 *   ┌────┴──── ns fplab-N-host1 ───┐   ┌────┴──── ns fplab-N-host2 ───┐
 *   │ br-int (NORMAL, tag 1)       │   │ br-int (NORMAL, tag 1)       │
 *   │   patch-tun ── patch-int     │   │   patch-tun ── patch-int     │
 *   │ br-tun (tun-flows) vxlan ────┼───┼─ vxlan (VNI 0x42)            │
 *   │ br-phy (NORMAL, 192.168.1.12)│   │ br-phy (NORMAL, 192.168.1.13)│
 *   │   afpacket fpN-u1 ═══════════╪═══╪═ afpacket fpN-u2             │
 *   └──────────────────────────────┘   └──────────────────────────────┘
 *
 * The wiring is what the Neutron Open vSwitch agent builds on a compute node
 * (../shared/reference/003: node2 192.168.1.12 and node3 192.168.1.13, the
 * network's segment 0x42 on local VLAN 1, test02 10.0.0.8 fa:16:3e:76:47:75
 * and test05 10.0.0.4 fa:16:3e:96:e2:a4); br-tun's flows come from the
 * tun-flows compiler with l2population and the ARP responder on, as that
 * devstack runs. The underlay bridge br-phy plays the part of the host's
 * kernel address in OVS's userspace tunnelling: VXLAN leaves through its
 * LOCAL port and is decapsulated when it arrives there. Neighbours are
 * static (the peer's underlay MAC), as `tnl/arp/set` would make them.
 * VM interfaces get Neutron's VXLAN MTU, 1450, so the outer frame fits the
 * underlay's 1500.
 *
 * Everything lives under /run/flowplane/lab-N/hostK/. Down (lab.ts) stops
 * both daemons and deletes the namespaces, which takes the veths and taps
 * with them.
 */
import { spawn, spawnSync } from "node:child_process";
import { closeSync, mkdirSync, openSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FlowplaneError } from "../errors.js";
import { compileTunFlows, type TunInput } from "../neutron/tun-flows.js";
import { ip, labPaths, netnsOf, selfCommand, tapOf, waitReady, type LabPaths } from "../cli/lab.js";

/** Neutron's MTU for instances on VXLAN networks over a 1500-byte underlay. */
export const LAB_VXLAN_MTU = 1450;
/** The network's VXLAN segment and its local VLAN on both hosts (reference 003). */
export const LAB_SEGMENT_ID = 0x42;
export const LAB_LOCAL_VLAN = 1;
export const LAB_UNDERLAY_PREFIX = "192.168.1.0/24";

export interface LabVm {
  name: string;
  ofport: number;
  address: string;
  mac: string;
}

export interface LabHost {
  name: string;
  underlayIp: string;
  underlayMac: string;
  vms: LabVm[];
}

export const TWO_HOSTS: LabHost[] = [
  { name: "host1", underlayIp: "192.168.1.12", underlayMac: "52:54:00:01:01:0c", vms: [{ name: "vm1", ofport: 5, address: "10.0.0.8/24", mac: "fa:16:3e:76:47:75" }] },
  { name: "host2", underlayIp: "192.168.1.13", underlayMac: "52:54:00:01:01:0d", vms: [{ name: "vm2", ofport: 5, address: "10.0.0.4/24", mac: "fa:16:3e:96:e2:a4" }] },
];

/** The underlay veth end that lives in host `index` (0-based). */
export const underlayOf = (lab: string, index: number): string => `fp${lab}-u${index + 1}`;

/** The daemon files of one host: under the lab's directory, in a folder named after the host. */
export function hostFiles(lab: string, host: string): LabPaths {
  const dir = join(labPaths(lab).dir, host);
  return {
    dir,
    topology: join(dir, "topology.json"),
    flows: join(dir, "br-tun.flows"),
    pidFile: join(dir, "flowplane.pid"),
    log: join(dir, "flowplane.log"),
    control: join(dir, "control.sock"),
  };
}

const BR_TUN_PATCH_INT = 1;
const BR_TUN_VXLAN = 2;
const BR_INT_PATCH_TUN = 1;
const BR_PHY_UPLINK = 1;

/** The Neutron agent's name for a tunnel port: type and the remote address in hex. */
const tunnelPortName = (remoteIp: string): string => `vxlan-${remoteIp.split(".").map((o) => Number(o).toString(16).padStart(2, "0")).join("")}`;

/** br-tun's flows on `me`: l2population entries for every VM of the other hosts. */
export function brTunFlows(hosts: LabHost[], me: number): string[] {
  const peers = hosts.filter((_, i) => i !== me);
  const input: TunInput = {
    patchIntOfport: BR_TUN_PATCH_INT,
    arpResponder: true,
    l2Population: true,
    cookie: null,
    tunnels: peers.map((p, i) => ({ ofport: BR_TUN_VXLAN + i, type: "vxlan", remoteIp: p.underlayIp })),
    networks: [{ type: "vxlan", segmentationId: LAB_SEGMENT_ID, localVlan: LAB_LOCAL_VLAN }],
    fdb: peers.flatMap((p) => p.vms.map((v) => ({ segmentationId: LAB_SEGMENT_ID, mac: v.mac, ip: v.address.split("/")[0], remoteIp: p.underlayIp }))),
  };
  return compileTunFlows(input);
}

/** One host's topology file: br-int, br-tun and br-phy with the underlay section. */
export function hostTopology(lab: string, hosts: LabHost[], me: number): object {
  const host = hosts[me];
  const peers = hosts.filter((_, i) => i !== me);
  return {
    bridges: [{ name: "br-int" }, { name: "br-tun", flows: "br-tun.flows" }, { name: "br-phy" }],
    ports: [
      { name: "patch-tun", bridge: "br-int", ofport: BR_INT_PATCH_TUN, type: "patch", peer: "patch-int" },
      ...host.vms.map((v) => ({ name: v.name, bridge: "br-int", ofport: v.ofport, tag: LAB_LOCAL_VLAN, type: "tap", options: { device: tapOf(lab, v.name) } })),
      { name: "patch-int", bridge: "br-tun", ofport: BR_TUN_PATCH_INT, type: "patch", peer: "patch-tun" },
      ...peers.map((p, i) => ({
        name: tunnelPortName(p.underlayIp),
        bridge: "br-tun",
        ofport: BR_TUN_VXLAN + i,
        type: "vxlan",
        options: { remote_ip: p.underlayIp, local_ip: host.underlayIp, key: "flow" },
      })),
      { name: "uplink", bridge: "br-phy", ofport: BR_PHY_UPLINK, type: "afpacket", options: { device: underlayOf(lab, me) } },
    ],
    underlay: {
      addresses: [{ bridge: "br-phy", ip: `${host.underlayIp}/24`, mac: host.underlayMac }],
      routes: [{ prefix: LAB_UNDERLAY_PREFIX, bridge: "br-phy" }],
      neighbours: peers.map((p) => ({ bridge: "br-phy", ip: p.underlayIp, mac: p.underlayMac })),
    },
  };
}

function quiet(ns: string): void {
  // No IPv6 in the lab: router solicitations and MLD would only add noise to counters and captures.
  spawnSync("ip", ["netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
  spawnSync("ip", ["netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"]);
  ip(["-n", ns, "link", "set", "lo", "up"]);
}

/** Brings the two-host lab up (the caller has checked the name and root, and cleaned up); returns what it did. */
export async function twoHostUp(lab: string, hosts: LabHost[] = TWO_HOSTS): Promise<string[]> {
  if (hosts.length !== 2) throw new FlowplaneError("FP_ERR_LAB", "the two-host lab has exactly two hosts");
  const done: string[] = [];
  mkdirSync(labPaths(lab).dir, { recursive: true, mode: 0o755 });
  for (const h of hosts) {
    const ns = netnsOf(lab, h.name);
    ip(["netns", "add", ns]);
    quiet(ns);
  }
  // The underlay: one veth pair, one end in each host, with the MACs br-phy uses.
  const [ns1, ns2] = hosts.map((h) => netnsOf(lab, h.name));
  ip(["link", "add", underlayOf(lab, 0), "netns", ns1, "address", hosts[0].underlayMac, "type", "veth", "peer", "name", underlayOf(lab, 1), "netns", ns2, "address", hosts[1].underlayMac]);
  for (let i = 0; i < 2; i++) ip(["-n", netnsOf(lab, hosts[i].name), "link", "set", underlayOf(lab, i), "up"]);
  done.push(`underlay ${underlayOf(lab, 0)} (${hosts[0].underlayIp}) <-> ${underlayOf(lab, 1)} (${hosts[1].underlayIp})`);

  for (let i = 0; i < hosts.length; i++) {
    const h = hosts[i];
    const ns = netnsOf(lab, h.name);
    const files = hostFiles(lab, h.name);
    mkdirSync(files.dir, { recursive: true, mode: 0o755 });
    writeFileSync(files.topology, JSON.stringify(hostTopology(lab, hosts, i), null, 2) + "\n");
    writeFileSync(files.flows, brTunFlows(hosts, i).join("\n") + "\n");
    const logFd = openSync(files.log, "a");
    // `ip netns exec` execs the command, so the pid is flowplane's own.
    const child = spawn("ip", ["netns", "exec", ns, process.execPath, ...selfCommand(), "run", "--topology", files.topology, "--control", files.control], {
      detached: true,
      stdio: ["ignore", logFd, logFd],
    });
    closeSync(logFd);
    child.unref();
    if (child.pid === undefined) throw new FlowplaneError("FP_ERR_LAB", `cannot start flowplane run in ${ns}`);
    writeFileSync(files.pidFile, `${child.pid}\n`);
    await waitReady(files, child.pid);
    done.push(`${h.name}: namespace ${ns}, flowplane run (pid ${child.pid}, log ${files.log}, control ${files.control})`);
    for (const vm of h.vms) {
      const vmNs = netnsOf(lab, vm.name);
      const dev = tapOf(lab, vm.name);
      ip(["netns", "add", vmNs]);
      quiet(vmNs);
      ip(["-n", ns, "link", "set", dev, "netns", vmNs]);
      ip(["-n", vmNs, "link", "set", dev, "address", vm.mac, "mtu", String(LAB_VXLAN_MTU)]);
      ip(["-n", vmNs, "addr", "add", vm.address, "dev", dev]);
      ip(["-n", vmNs, "link", "set", dev, "up"]);
      done.push(`${h.name}: namespace ${vmNs}: ${dev} ${vm.address} ${vm.mac} mtu ${LAB_VXLAN_MTU} (br-int ofport ${vm.ofport}, tag ${LAB_LOCAL_VLAN})`);
    }
  }
  return done;
}
