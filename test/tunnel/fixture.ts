/**
 * One tunnel setup, described once and built both ways: as a flowplane
 * topology (with its "underlay" section) and as the OVS commands
 * tests/tunnel-push-pop.at uses (an address on the underlay bridge's LOCAL
 * port, a route, static ARP entries, tunnel ports with options).
 *
 *   br-int: vm1 (1), tunnel ports (2..)          br-phy: p0 (1), LOCAL = 1.1.2.88
 *             \__ tnl_push ... out_port(br-phy) __/       aa:55:aa:55:00:00
 */
import { basename } from "node:path";
import { buildSwitch, validateTopology, type TopologySpec, type UnderlaySpec } from "../../src/ofproto/topology.js";
import { newTable, openflowLoader, addLearnedFlow } from "../../src/ofproto/load.js";
import { Datapath } from "../../src/datapath/dpif.js";
import type { Switch } from "../../src/ofproto/bridge.js";
import type { OvsSandbox } from "../ovs/harness.js";

export const LOCAL_IP = "1.1.2.88";
export const LOCAL_MAC = "aa:55:aa:55:00:00";
export const REMOTE_A = "1.1.2.92";
export const REMOTE_A_MAC = "f8:bc:12:44:34:b6";
export const REMOTE_B = "1.1.2.93";
export const REMOTE_B_MAC = "f8:bc:12:44:34:b7";

/** A host on the underlay's 1.1.2.0/24, known by a static neighbour entry. */
export interface Remote {
  ip: string;
  mac: string;
}
export const REMOTE_A_HOST: Remote = { ip: REMOTE_A, mac: REMOTE_A_MAC };
export const REMOTE_B_HOST: Remote = { ip: REMOTE_B, mac: REMOTE_B_MAC };

/** A frame and the port it arrives on. */
export interface PortFrame {
  port: string;
  frame: Uint8Array;
}

export interface TunnelPortSpec {
  name: string;
  ofport: number;
  type: "vxlan" | "gre";
  options: Record<string, string>;
}

export interface TunnelSetup {
  tunnels: TunnelPortSpec[];
  /** br-int's flows (ovs-ofctl syntax; ports by number). */
  intFlows: string;
  /** br-phy's flows; NORMAL by default. */
  phyFlows?: string;
}

export function topologyOf(s: TunnelSetup): TopologySpec {
  return {
    bridges: [
      { name: "br-int", protocols: "OpenFlow13", flows: "br-int.flows" },
      { name: "br-phy", protocols: "OpenFlow13", flows: "br-phy.flows" },
    ],
    ports: [
      { name: "vm1", bridge: "br-int", ofport: 1 },
      ...s.tunnels.map((t) => ({ name: t.name, bridge: "br-int", ofport: t.ofport, type: t.type, options: t.options })),
      { name: "p0", bridge: "br-phy", ofport: 1 },
    ],
    underlay: underlayOf([REMOTE_A_HOST, REMOTE_B_HOST]),
  };
}

/** br-phy's LOCAL address, the route to the underlay subnet, and a neighbour entry per remote. */
export function underlayOf(remotes: Remote[]): UnderlaySpec {
  return {
    addresses: [{ bridge: "br-phy", ip: `${LOCAL_IP}/24`, mac: LOCAL_MAC }],
    routes: [{ prefix: "1.1.2.0/24", bridge: "br-phy" }],
    neighbours: remotes.map((r) => ({ bridge: "br-phy", ip: r.ip, mac: r.mac })),
  };
}

/** Builds a flowplane switch from a topology and its flow files' texts, keyed by file name. */
export function buildSwitchOf(topology: TopologySpec, flows: Record<string, string>): Switch {
  const file = "/virtual/topology.json";
  const spec = validateTopology(JSON.parse(JSON.stringify(topology)), file);
  return buildSwitch(spec, file, newTable, openflowLoader, (p) => flows[basename(p)]);
}

export function buildTunnelSwitch(s: TunnelSetup): Switch {
  return buildSwitchOf(topologyOf(s), { "br-int.flows": s.intFlows, "br-phy.flows": s.phyFlows ?? "priority=0 actions=NORMAL\n" });
}

/** Runs frames (port name, bytes) through a fresh flowplane datapath one at a time; returns tx per port, hex. */
export function runFlowplane(sw: Switch, inputs: PortFrame[]): Record<string, string[]> {
  const dp = new Datapath(sw, { onLearn: addLearnedFlow });
  const tx: Record<string, string[]> = {};
  const emit = (port: number, buf: Uint8Array, off: number, len: number): void => {
    // Ports drop what exceeds their MTU on transmit, as OVS's dummy ports (and replay) do.
    if (!sw.dpPorts[port].fitsMtu(buf, off, len)) return;
    const name = sw.dpPortName(port)!;
    (tx[name] ??= []).push(Buffer.from(buf.subarray(off, off + len)).toString("hex"));
  };
  inputs.forEach((inp, i) => {
    const port = sw.portsByName.get(inp.port)!;
    dp.processBatch(inp.frame, Uint32Array.of(0), Uint32Array.of(inp.frame.length), Uint32Array.of(port.dpPort), 1, 1000 + i, emit);
  });
  return tx;
}

/** The same setup in an OVS sandbox, the way tests/tunnel-push-pop.at builds it. */
export async function setupOvsTunnels(ovs: OvsSandbox, s: TunnelSetup): Promise<void> {
  await ovs.addBridge("br-phy", { ports: [{ name: "p0", ofport: 1 }], columns: { "other_config:hwaddr": `"${LOCAL_MAC}"` } });
  await ovs.addBridge("br-int", {
    ports: [{ name: "vm1", ofport: 1 }, ...s.tunnels.map((t) => ({ name: t.name, ofport: t.ofport, type: t.type, options: t.options }))],
  });
  await setupOvsUnderlay(ovs, [REMOTE_A_HOST, REMOTE_B_HOST]);
  await ovs.replaceFlows("br-phy", s.phyFlows ?? "priority=0 actions=NORMAL\n");
  await ovs.replaceFlows("br-int", s.intFlows);
}

/** underlayOf() in an OVS sandbox whose bridge br-phy exists: LOCAL's address, the route, static ARP entries. */
export async function setupOvsUnderlay(ovs: OvsSandbox, remotes: Remote[]): Promise<void> {
  await ovs.appctl(["netdev-dummy/ip4addr", "br-phy", `${LOCAL_IP}/24`]);
  await ovs.appctl(["ovs/route/add", `${REMOTE_A}/24`, "br-phy"]);
  for (const r of remotes) await ovs.appctl(["tnl/arp/set", "br-phy", r.ip, r.mac]);
}
