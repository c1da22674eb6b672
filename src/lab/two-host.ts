/**
 * The two-host lab (`flowplane lab up --hosts 2`): two compute hosts, each a
 * network namespace running its own `flowplane run`, joined by VXLAN over
 * an underlay, with instances and a copy of the distributed router on each
 * (the network node is drawn further down):
 *
 *   vm1 10.0.0.8   router1 (10.0.0.1,     vm2 10.0.0.4  vm3 10.1.0.10  router2 (same
 *     │ tap        10.1.0.1) │ qr taps        │ tap       │ tap         IPs, MACs)
 *   ┌─┴── ns fplab-N-host1 ──┴───────┐   ┌────┴──── ns fplab-N-host2 ─┴──────────┐
 *   │ br-int (NORMAL + DVR table 1)  │   │ br-int (NORMAL + DVR table 1)         │
 *   │   patch-tun ── patch-int       │   │   patch-tun ── patch-int              │
 *   │ br-tun (tun-flows + DVR) vxlan─┼───┼─ vxlan (VNI 0x42 private, 0x5 private2)│
 *   │ br-phy (NORMAL, 192.168.1.12)  │   │ br-phy (NORMAL, 192.168.1.13)         │
 *   │   afpacket fpN-u1 ═════════════╪═══╪═ afpacket fpN-u2                      │
 *   └────────────────────────────────┘   └───────────────────────────────────────┘
 *
 * The wiring is what the Neutron Open vSwitch agent and a dvr-mode L3 agent
 * build on a compute node, with reference 003's values (../shared/reference:
 * node2 192.168.1.12, node3 192.168.1.13; private 0x42 and private2 0x5;
 * test02 10.0.0.8, test05 10.0.0.4, test04 10.1.0.10 and their MACs; the
 * gateways' MACs; DVR MACs fa:16:3f:73:c3:04 and fa:16:3f:59:35:b1; the
 * local VLANs each node gave each network). br-tun's flows come from the
 * tun-flows compiler (l2population, ARP responder) with the DVR compiler's
 * flows over them; br-int runs NORMAL plus the DVR rewrite back to the
 * gateway MAC. Each router is a namespace that forwards, with permanent ARP
 * entries for every instance, as the L3 agent writes them.
 *
 * A third host, "net" (reference 003's node1, dvr_snat, 192.168.1.11),
 * runs the same bridges plus router1's SNAT side as flows: its sg- ports
 * (10.0.0.3, 10.1.0.6) are patch ports from br-int (on each network's local
 * VLAN) to br-router, whose flows are `neutron router-flows` of router1
 * (router.json, written next to them), and br-router's qg- port
 * (172.24.4.3) is patched to br-ex, where namespace "ext" stands for the
 * public network's gateway 172.24.4.1:
 *
 *   ┌──────────────────────── ns fplab-N-net ─────────────────────────┐
 *   │ br-int           br-router                    br-ex (NORMAL)    │
 *   │   sga (tag 1) ── sga-r   ARP responder,        ext ── tap ──────┼─ ns ext
 *   │   sgb (tag 2) ── sgb-r   ct(nat) zone 1000     ex-qg            │  172.24.4.1
 *   │                          qg ───────────────────┘                │
 *   └─────────────────────────────────────────────────────────────────┘
 *
 * The compute routers send what is not east-west to the sg- port of the
 * source's subnet (policy routing, as the L3 agent sets it up), so it
 * crosses the tunnel with the DVR MAC and reaches br-router with the
 * gateway MAC back. br-router answers ARP for the sg- and qg- addresses and
 * the floating IP, SNATs both subnets to 172.24.4.3 on the way out and
 * DNATs vm1's floating IP 172.24.4.20 to 10.0.0.8 (and SNATs vm1 out from
 * it), all with flowplane's conntrack (centralised on the network node,
 * where DVR would put the floating IP in a fip namespace on vm1's host).
 * Its neighbours are static: the instances of each subnet and the public
 * gateway's MAC, as router.json lists them.
 *
 * The underlay is a Linux bridge in namespace "wire" with a veth to each
 * host. The underlay bridge br-phy plays the part of the host's kernel address in
 * OVS's userspace tunnelling: VXLAN leaves through its LOCAL port and is
 * decapsulated when it arrives there. Neighbours are static (the peer's
 * underlay MAC), as `tnl/arp/set` would make them. Instance and router
 * interfaces get Neutron's VXLAN MTU, 1450, so the outer frame fits the
 * underlay's 1500.
 *
 * Everything lives under /run/flowplane/lab-N/<host>/. Down (lab.ts) stops
 * the daemons and deletes the namespaces, which takes the veths and taps
 * with them.
 */
import { spawn, spawnSync } from "node:child_process";
import { closeSync, mkdirSync, openSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FlowplaneError } from "../errors.js";
import type { TunInput } from "../neutron/tun-flows.js";
import { compileDvrIntFlows, compileDvrTunFlows, type DvrInput } from "../neutron/dvr.js";
import { compileRouter } from "../neutron/router-flows.js";
import { parseRouterInput } from "../neutron/router-model.js";
import { ip, labPaths, netnsOf, selfCommand, tapOf, waitReady, type LabPaths } from "../cli/lab.js";

/** Neutron's MTU for instances on VXLAN networks over a 1500-byte underlay. */
export const LAB_VXLAN_MTU = 1450;
export const LAB_UNDERLAY_PREFIX = "192.168.1.0/24";

/** A tenant network and its router interface (reference 003: private and private2 behind router1). */
export interface LabNetwork {
  name: string;
  segmentationId: number;
  cidr: string;
  gatewayIp: string;
  gatewayMac: string;
}

export const LAB_NETWORKS: LabNetwork[] = [
  { name: "private", segmentationId: 0x42, cidr: "10.0.0.0/24", gatewayIp: "10.0.0.1", gatewayMac: "fa:16:3e:9c:cf:de" },
  { name: "private2", segmentationId: 0x5, cidr: "10.1.0.0/24", gatewayIp: "10.1.0.1", gatewayMac: "fa:16:3e:5c:3d:f9" },
];

export interface LabVm {
  name: string;
  /** "vm": an instance namespace; "snat": router1's sg- port on the network node (a patch from br-int to br-router). */
  kind: "vm" | "snat";
  network: string;
  ofport: number;
  address: string;
  mac: string;
}

export interface LabHost {
  name: string;
  underlayIp: string;
  underlayMac: string;
  /** The host's DVR MAC, as the Neutron server hands them out from fa:16:3f:00:00:00. */
  dvrMac: string;
  /** Local VLAN of each network on this host, by network name (the agent numbers them per host). */
  localVlans: Record<string, number>;
  vms: LabVm[];
}

export const TWO_HOSTS: LabHost[] = [
  {
    name: "host1",
    underlayIp: "192.168.1.12",
    underlayMac: "52:54:00:01:01:0c",
    dvrMac: "fa:16:3f:73:c3:04",
    localVlans: { private: 1, private2: 2 },
    vms: [{ name: "vm1", kind: "vm", network: "private", ofport: 5, address: "10.0.0.8/24", mac: "fa:16:3e:76:47:75" }],
  },
  {
    name: "host2",
    underlayIp: "192.168.1.13",
    underlayMac: "52:54:00:01:01:0d",
    dvrMac: "fa:16:3f:59:35:b1",
    localVlans: { private: 2, private2: 1 },
    vms: [
      { name: "vm2", kind: "vm", network: "private", ofport: 5, address: "10.0.0.4/24", mac: "fa:16:3e:96:e2:a4" },
      { name: "vm3", kind: "vm", network: "private2", ofport: 6, address: "10.1.0.10/24", mac: "fa:16:3e:23:c5:28" },
    ],
  },
  {
    // Reference 003's node1 (dvr_snat): router1's sg- ports (the snat namespace's there). Its DVR MAC is not shown there.
    name: "net",
    underlayIp: "192.168.1.11",
    underlayMac: "52:54:00:01:01:0b",
    dvrMac: "fa:16:3f:2d:a1:0b",
    localVlans: { private: 1, private2: 2 },
    vms: [
      { name: "sga", kind: "snat", network: "private", ofport: 20, address: "10.0.0.3/24", mac: "fa:16:3e:47:34:80" },
      { name: "sgb", kind: "snat", network: "private2", ofport: 21, address: "10.1.0.6/24", mac: "fa:16:3e:a9:a2:19" },
    ],
  },
];

/** The network node's external side (reference 003: qg- 172.24.4.3 and the public network's gateway 172.24.4.1). */
export const LAB_EXTERNAL = { cidr: "172.24.4.0/24", gatewayIp: "172.24.4.3", gatewayMac: "fa:16:3e:af:c7:ce", upstreamIp: "172.24.4.1", upstreamMac: "52:54:00:ac:18:01" };

/** vm1's floating IP on the public network (as reference 003's floating IPs: an address of 172.24.4.0/24 mapped to a fixed IP). */
export const LAB_FLOATING_IP = { floatingIp: "172.24.4.20", fixedIp: "10.0.0.8" };

/** The underlay veth end that lives in host `index` (0-based), and its peer on the wire namespace's bridge. */
export const underlayOf = (lab: string, index: number): string => `fp${lab}-u${index + 1}`;
const wireEndOf = (lab: string, index: number): string => `fp${lab}-w${index + 1}`;
const isCompute = (h: LabHost): boolean => h.vms.some((v) => v.kind === "vm");
/** The distributed router's namespace on host `index` and its interface on network `net`. */
export const routerOf = (index: number): string => `router${index + 1}`;
export const routerPortOf = (index: number, net: number): { name: string; ofport: number } => ({ name: `qr${index + 1}${String.fromCharCode(97 + net)}`, ofport: 10 + net });

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
/** br-router: a patch port per sg- port from 1 up, then qg-; br-ex: the patch to qg- and the public gateway's tap. */
const BR_ROUTER_FIRST_SG = 1;
const BR_ROUTER_QG = 10;
const BR_EX_QG = 1;
const BR_EX_EXT = 2;
/** The conntrack zone of router1's NAT on br-router. */
export const LAB_ROUTER_CT_ZONE = 1000;

/** br-router's end of the patch from br-int's sg- port. */
const routerSidePortOf = (sg: string): string => `${sg}-r`;

/** The Neutron agent's name for a tunnel port: type and the remote address in hex. */
const tunnelPortName = (remoteIp: string): string => `vxlan-${remoteIp.split(".").map((o) => Number(o).toString(16).padStart(2, "0")).join("")}`;

const segmentOf = (net: string): number => LAB_NETWORKS.find((n) => n.name === net)!.segmentationId;

/** What the agents of host `me` know: br-tun's description (l2population, ARP responder) and the router's. */
export function dvrInput(hosts: LabHost[], me: number): DvrInput {
  const host = hosts[me];
  const peers = hosts.filter((_, i) => i !== me);
  const tun: TunInput = {
    patchIntOfport: BR_TUN_PATCH_INT,
    arpResponder: true,
    l2Population: true,
    cookie: null,
    tunnels: peers.map((p, i) => ({ ofport: BR_TUN_VXLAN + i, type: "vxlan", remoteIp: p.underlayIp })),
    networks: LAB_NETWORKS.map((n) => ({ type: "vxlan", segmentationId: n.segmentationId, localVlan: host.localVlans[n.name] })),
    fdb: peers.flatMap((p) => p.vms.map((v) => ({ segmentationId: segmentOf(v.network), mac: v.mac, ip: v.address.split("/")[0], remoteIp: p.underlayIp }))),
  };
  return {
    tun,
    patchTunOfport: BR_INT_PATCH_TUN,
    dvrMac: host.dvrMac,
    remoteDvrMacs: peers.map((p) => p.dvrMac),
    subnets: LAB_NETWORKS.map((n) => ({ segmentationId: n.segmentationId, gatewayIp: n.gatewayIp, gatewayMac: n.gatewayMac })),
    localPorts: host.vms.map((v) => ({ segmentationId: segmentOf(v.network), mac: v.mac, ofport: v.ofport })),
  };
}

/** One host's topology file: br-int, br-tun and br-phy with the underlay section. */
export function hostTopology(lab: string, hosts: LabHost[], me: number): object {
  const host = hosts[me];
  const peers = hosts.filter((_, i) => i !== me);
  return {
    bridges: [
      { name: "br-int", flows: "br-int.flows" },
      { name: "br-tun", flows: "br-tun.flows" },
      { name: "br-phy" },
      ...(isCompute(host) ? [] : [{ name: "br-router", flows: "br-router.flows" }, { name: "br-ex" }]),
    ],
    ports: [
      { name: "patch-tun", bridge: "br-int", ofport: BR_INT_PATCH_TUN, type: "patch", peer: "patch-int" },
      ...host.vms.map((v) =>
        v.kind === "vm"
          ? { name: v.name, bridge: "br-int", ofport: v.ofport, tag: host.localVlans[v.network], type: "tap", options: { device: tapOf(lab, v.name) } }
          : { name: v.name, bridge: "br-int", ofport: v.ofport, tag: host.localVlans[v.network], type: "patch", peer: routerSidePortOf(v.name) },
      ),
      ...(isCompute(host)
        ? LAB_NETWORKS.map((n, i) => {
            const qr = routerPortOf(me, i);
            return { name: qr.name, bridge: "br-int", ofport: qr.ofport, tag: host.localVlans[n.name], type: "tap", options: { device: tapOf(lab, qr.name) } };
          })
        : [
            ...host.vms.map((v, i) => ({ name: routerSidePortOf(v.name), bridge: "br-router", ofport: BR_ROUTER_FIRST_SG + i, type: "patch", peer: v.name })),
            { name: "qg", bridge: "br-router", ofport: BR_ROUTER_QG, type: "patch", peer: "ex-qg" },
            { name: "ex-qg", bridge: "br-ex", ofport: BR_EX_QG, type: "patch", peer: "qg" },
            { name: "ext", bridge: "br-ex", ofport: BR_EX_EXT, type: "tap", options: { device: tapOf(lab, "ext") } },
          ]),
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

/**
 * The host's copy of the distributed router: a namespace that forwards
 * between its interfaces, one per network, each with the gateway's IP and
 * MAC. Like the L3 agent in dvr mode, it gets a permanent ARP entry for
 * every instance of its networks, so it never asks across the tunnels.
 */
function routerUp(lab: string, hosts: LabHost[], me: number): string {
  const ns = netnsOf(lab, routerOf(me));
  ip(["netns", "add", ns]);
  quiet(ns);
  spawnSync("ip", ["netns", "exec", ns, "sysctl", "-qw", "net.ipv4.ip_forward=1"]);
  // As the L3 agent does: the next hop toward SNAT is on the sender's own subnet, and a redirect
  // would teach the instance to bypass its router (and the DVR MAC rewrite) altogether.
  for (const k of ["all", "default"]) spawnSync("ip", ["netns", "exec", ns, "sysctl", "-qw", `net.ipv4.conf.${k}.send_redirects=0`]);
  LAB_NETWORKS.forEach((n, i) => {
    const dev = tapOf(lab, routerPortOf(me, i).name);
    ip(["-n", netnsOf(lab, hosts[me].name), "link", "set", dev, "netns", ns]);
    ip(["-n", ns, "link", "set", dev, "address", n.gatewayMac, "mtu", String(LAB_VXLAN_MTU)]);
    ip(["-n", ns, "addr", "add", `${n.gatewayIp}/${n.cidr.split("/")[1]}`, "dev", dev]);
    ip(["-n", ns, "link", "set", dev, "up"]);
    for (const vm of hosts.flatMap((h) => h.vms).filter((v) => v.network === n.name)) {
      ip(["-n", ns, "neigh", "replace", vm.address.split("/")[0], "lladdr", vm.mac, "dev", dev, "nud", "permanent"]);
    }
    // What is not east-west goes to the network node's sg- port on the source's subnet (the L3 agent's policy
    // routing): the rule comes after main's (32766), so connected subnets are still routed here.
    const sg = hosts.flatMap((h) => h.vms).find((v) => v.kind === "snat" && v.network === n.name);
    if (sg !== undefined) {
      const table = String(100 + i);
      ip(["-n", ns, "rule", "add", "from", n.cidr, "lookup", table, "priority", String(32768 + i)]);
      ip(["-n", ns, "route", "add", "default", "via", sg.address.split("/")[0], "dev", dev, "table", table]);
    }
  });
  return `${hosts[me].name}: namespace ${ns}: router ${LAB_NETWORKS.map((n) => `${n.gatewayIp} ${n.gatewayMac}`).join(", ")}, DVR MAC ${hosts[me].dvrMac}`;
}

/**
 * Router1's SNAT side as `neutron router-flows` reads it (router-model.ts):
 * each sg- port is the router's interface on its subnet (its address and
 * MAC are what the compute routers route to), with every instance of that
 * subnet as a static neighbour; qg- is the gateway, with SNAT on and the
 * public gateway's MAC as a static next hop; vm1's floating IP; no
 * metadata proxy (the lab has none).
 */
export function labRouterJson(hosts: LabHost[]): object {
  const net = hosts.find((h) => !isCompute(h));
  if (net === undefined) throw new FlowplaneError("FP_ERR_LAB", "the lab has no network node (a host without instances)");
  const instances = hosts.flatMap((h) => h.vms).filter((v) => v.kind === "vm");
  return {
    name: "router1",
    ct_zone: LAB_ROUTER_CT_ZONE,
    internal: net.vms.map((sg, i) => ({
      port: routerSidePortOf(sg.name),
      ofport: BR_ROUTER_FIRST_SG + i,
      cidr: LAB_NETWORKS.find((n) => n.name === sg.network)!.cidr,
      gateway_ip: sg.address.split("/")[0],
      gateway_mac: sg.mac,
      hosts: instances.filter((v) => v.network === sg.network).map((v) => ({ name: v.name, ip: v.address.split("/")[0], mac: v.mac })),
    })),
    external: {
      port: "qg",
      ofport: BR_ROUTER_QG,
      cidr: LAB_EXTERNAL.cidr,
      ip: LAB_EXTERNAL.gatewayIp,
      mac: LAB_EXTERNAL.gatewayMac,
      next_hop_ip: LAB_EXTERNAL.upstreamIp,
      next_hop_mac: LAB_EXTERNAL.upstreamMac,
      enable_snat: true,
    },
    floating_ips: [{ floating_ip: LAB_FLOATING_IP.floatingIp, fixed_ip: LAB_FLOATING_IP.fixedIp }],
    metadata: false,
  };
}

/**
 * The network node's external side: namespace "ext", standing for the
 * public network's gateway, on br-ex's tap. It has no route to the tenant
 * subnets: it only ever sees the public addresses br-router's NAT gives them.
 */
function externalUp(lab: string, hosts: LabHost[], me: number): string {
  const host = hosts[me];
  const extNs = netnsOf(lab, "ext");
  const ext = tapOf(lab, "ext");
  ip(["netns", "add", extNs]);
  quiet(extNs);
  ip(["-n", netnsOf(lab, host.name), "link", "set", ext, "netns", extNs]);
  ip(["-n", extNs, "link", "set", ext, "address", LAB_EXTERNAL.upstreamMac]);
  ip(["-n", extNs, "addr", "add", `${LAB_EXTERNAL.upstreamIp}/${LAB_EXTERNAL.cidr.split("/")[1]}`, "dev", ext]);
  ip(["-n", extNs, "link", "set", ext, "up"]);
  return (
    `${host.name}: br-router: router1's sg- ports ${host.vms.map((v) => `${v.address} ${v.mac}`).join(", ")}, qg ${LAB_EXTERNAL.gatewayIp}, ` +
    `ct(nat) zone ${LAB_ROUTER_CT_ZONE}: SNAT of ${LAB_NETWORKS.map((n) => n.cidr).join(", ")}, floating IP ${LAB_FLOATING_IP.floatingIp} -> ${LAB_FLOATING_IP.fixedIp}; ` +
    `namespace ${extNs}: ${LAB_EXTERNAL.upstreamIp} on br-ex`
  );
}

/** Brings the two-host lab up (the caller has checked the name and root, and cleaned up); returns what it did. */
export async function twoHostUp(lab: string, hosts: LabHost[] = TWO_HOSTS): Promise<string[]> {
  if (hosts.length < 2) throw new FlowplaneError("FP_ERR_LAB", "the lab needs at least two hosts");
  const done: string[] = [];
  mkdirSync(labPaths(lab).dir, { recursive: true, mode: 0o755 });
  for (const h of hosts) {
    const ns = netnsOf(lab, h.name);
    ip(["netns", "add", ns]);
    quiet(ns);
  }
  // The underlay: a Linux bridge in namespace "wire" (the physical switch), a veth from each host to it.
  const wire = netnsOf(lab, "wire");
  ip(["netns", "add", wire]);
  quiet(wire);
  ip(["-n", wire, "link", "add", "sw", "type", "bridge"]);
  ip(["-n", wire, "link", "set", "sw", "up"]);
  hosts.forEach((h, i) => {
    ip(["link", "add", underlayOf(lab, i), "netns", netnsOf(lab, h.name), "address", h.underlayMac, "type", "veth", "peer", "name", wireEndOf(lab, i), "netns", wire]);
    ip(["-n", wire, "link", "set", wireEndOf(lab, i), "master", "sw", "up"]);
    ip(["-n", netnsOf(lab, h.name), "link", "set", underlayOf(lab, i), "up"]);
  });
  done.push(`underlay: bridge sw in ${wire}; ${hosts.map((h, i) => `${underlayOf(lab, i)} ${h.underlayIp}`).join(", ")}`);

  for (let i = 0; i < hosts.length; i++) {
    const h = hosts[i];
    const ns = netnsOf(lab, h.name);
    const files = hostFiles(lab, h.name);
    mkdirSync(files.dir, { recursive: true, mode: 0o755 });
    writeFileSync(files.topology, JSON.stringify(hostTopology(lab, hosts, i), null, 2) + "\n");
    const dvr = dvrInput(hosts, i);
    writeFileSync(files.flows, compileDvrTunFlows(dvr).join("\n") + "\n");
    writeFileSync(join(files.dir, "br-int.flows"), compileDvrIntFlows(dvr).join("\n") + "\n");
    if (!isCompute(h)) {
      // The file `flowplane neutron router-flows` reads, and what it prints: br-router's flows.
      const router = labRouterJson(hosts);
      writeFileSync(join(files.dir, "router.json"), JSON.stringify(router, null, 2) + "\n");
      writeFileSync(join(files.dir, "br-router.flows"), compileRouter(parseRouterInput(router)).join("\n") + "\n");
    }
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
    for (const vm of h.vms.filter((v) => v.kind === "vm")) {
      const vmNs = netnsOf(lab, vm.name);
      const dev = tapOf(lab, vm.name);
      ip(["netns", "add", vmNs]);
      quiet(vmNs);
      ip(["-n", ns, "link", "set", dev, "netns", vmNs]);
      ip(["-n", vmNs, "link", "set", dev, "address", vm.mac, "mtu", String(LAB_VXLAN_MTU)]);
      ip(["-n", vmNs, "addr", "add", vm.address, "dev", dev]);
      ip(["-n", vmNs, "link", "set", dev, "up"]);
      const net = LAB_NETWORKS.find((n) => n.name === vm.network)!;
      ip(["-n", vmNs, "route", "add", "default", "via", net.gatewayIp]);
      done.push(`${h.name}: namespace ${vmNs}: ${dev} ${vm.address} ${vm.mac} mtu ${LAB_VXLAN_MTU} via ${net.gatewayIp} (br-int ofport ${vm.ofport}, tag ${h.localVlans[vm.network]})`);
    }
    done.push(isCompute(h) ? routerUp(lab, hosts, i) : externalUp(lab, hosts, i));
  }
  return done;
}
