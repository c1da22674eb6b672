/**
 * A Neutron compute host's three bridges, built both ways (flowplane topology
 * and OVS sandbox), as the Open vSwitch agent wires them:
 *
 *   br-int: VM ports (tagged), patch-tun ── patch-int (1) :br-tun: tunnel ports
 *                                                   tnl_push ... out_port(br-phy)
 *   br-phy: p0 (1), LOCAL = 1.1.2.88, static neighbours for the remotes
 */
import type { TopologySpec } from "../../src/ofproto/topology.js";
import type { Switch } from "../../src/ofproto/bridge.js";
import type { OvsSandbox } from "../ovs/harness.js";
import { buildSwitchOf, setupOvsUnderlay, underlayOf, LOCAL_MAC, type Remote, type TunnelPortSpec } from "./fixture.js";

export interface BrTunHost {
  /** br-int's VM (or router) ports, each with its local VLAN. */
  intPorts: { name: string; ofport: number; tag: number }[];
  /** br-int's end of the patch; br-tun's end, patch-int, is always 1. */
  patchTunOfport: number;
  /** br-tun's tunnel ports. */
  tunnels: TunnelPortSpec[];
  /** The hosts the underlay has neighbour entries for. */
  remotes: Remote[];
  /** Flows per bridge (ovs-ofctl syntax); br-phy is NORMAL. */
  intFlows: string;
  tunFlows: string;
}

const PHY_FLOWS = "priority=0 actions=NORMAL\n";

export function brTunTopologyOf(h: BrTunHost): TopologySpec {
  return {
    bridges: [
      { name: "br-int", protocols: "OpenFlow13", flows: "br-int.flows" },
      { name: "br-tun", protocols: "OpenFlow13", flows: "br-tun.flows" },
      { name: "br-phy", protocols: "OpenFlow13", flows: "br-phy.flows" },
    ],
    ports: [
      ...h.intPorts.map((p) => ({ ...p, bridge: "br-int" })),
      { name: "patch-tun", bridge: "br-int", ofport: h.patchTunOfport, type: "patch", peer: "patch-int" },
      { name: "patch-int", bridge: "br-tun", ofport: 1, type: "patch", peer: "patch-tun" },
      ...h.tunnels.map((t) => ({ name: t.name, bridge: "br-tun", ofport: t.ofport, type: t.type, options: t.options })),
      { name: "p0", bridge: "br-phy", ofport: 1 },
    ],
    underlay: underlayOf(h.remotes),
  };
}

export function buildBrTunSwitch(h: BrTunHost): Switch {
  return buildSwitchOf(brTunTopologyOf(h), { "br-int.flows": h.intFlows, "br-tun.flows": h.tunFlows, "br-phy.flows": PHY_FLOWS });
}

/** The same host in an OVS sandbox. */
export async function setupOvsBrTun(ovs: OvsSandbox, h: BrTunHost): Promise<void> {
  await ovs.addBridge("br-phy", { ports: [{ name: "p0", ofport: 1 }], columns: { "other_config:hwaddr": `"${LOCAL_MAC}"` } });
  await ovs.addBridge("br-int", { ports: [...h.intPorts, { name: "patch-tun", ofport: h.patchTunOfport, type: "patch", options: { peer: "patch-int" } }] });
  await ovs.addBridge("br-tun", {
    ports: [
      { name: "patch-int", ofport: 1, type: "patch", options: { peer: "patch-tun" } },
      ...h.tunnels.map((t) => ({ name: t.name, ofport: t.ofport, type: t.type, options: t.options })),
    ],
  });
  await setupOvsUnderlay(ovs, h.remotes);
  await ovs.replaceFlows("br-int", h.intFlows);
  await ovs.replaceFlows("br-tun", h.tunFlows);
  await ovs.replaceFlows("br-phy", PHY_FLOWS);
}
