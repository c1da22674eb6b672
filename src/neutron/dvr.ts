/**
 * Neutron's distributed virtual router (DVR) as flows: what the Open vSwitch
 * agent adds to br-int and br-tun on a compute host whose L3 agent runs in
 * `dvr` mode (neutron/plugins/ml2/drivers/openvswitch/agent/
 * ovs_dvr_neutron_agent.py: setup_dvr_flows_on_integ_br,
 * setup_dvr_flows_on_tun_br, _bind_distributed_router_interface_port,
 * _bind_port_on_dvr_subnet; ../shared/reference/003 shows them live).
 *
 * Every host's router has the same gateway IP and MAC on each subnet. So
 * that those MACs never cross the tunnels (where every host would claim
 * them), a frame the local router sends into a tunnel leaves with this
 * host's DVR MAC (fa:16:3f:…) as source, and the receiving host puts the
 * gateway MAC back before delivering it to the instance:
 *
 *   br-tun 0   in_port=patch-int -> 1 (instead of 2)
 *   br-tun 1   arp for a gateway IP -> drop; to a gateway MAC -> drop;
 *              from a gateway MAC -> mod_dl_src:<this host's DVR MAC>, 2; else 2
 *   br-tun 4   tun_id -> local VLAN, 9 (instead of 10)
 *   br-tun 9   from another host's DVR MAC -> output patch-int (not learned); else 10
 *   br-int 0   in_port=patch-tun, dl_src=<another host's DVR MAC> -> 1; else NORMAL
 *   br-int 1   local VLAN + a local instance's MAC -> strip_vlan,
 *              mod_dl_src:<its subnet's gateway MAC>, output its port; else drop
 *
 * The DVR flows replace tun-flows' table 0 patch-int flow and its table 3/4
 * flows, which have the same match and priority, as a later add-flow would.
 *
 * Limits: tunnelled networks only (VLAN networks' br-int table 2 and
 * br-vlan flows are not built); IPv4 (no ICMPv6 router advertisement
 * flows); no SNAT-port handling (table 1's dvr_snat extras). Control plane only.
 */
import { FlowplaneError } from "../errors.js";
import { TUN_TABLE, compileTunFlows, type TunInput } from "./tun-flows.js";

export const DVR_TABLE = { TUN_DVR_PROCESS: 1, TUN_DVR_NOT_LEARN: 9, INT_DVR_TO_SRC_MAC: 1 } as const;

export class DvrInputError extends FlowplaneError {
  constructor(message: string) {
    super("FP_ERR_NEUTRON_INPUT", message);
    this.name = "DvrInputError";
  }
}

export interface DvrInput {
  /** br-tun's description; its networks' local VLANs are this host's. */
  tun: TunInput;
  /** br-int's port toward br-tun. */
  patchTunOfport: number;
  /** This host's DVR MAC (the server gives each host one from dvr_base_mac, fa:16:3f:00:00:00). */
  dvrMac: string;
  /** The other hosts' DVR MACs. */
  remoteDvrMacs: string[];
  /** The router's interfaces: one per routed network, the same on every host. */
  subnets: { segmentationId: number; gatewayIp: string; gatewayMac: string }[];
  /** Instances on this host on routed networks: where br-int delivers routed frames. */
  localPorts: { segmentationId: number; mac: string; ofport: number }[];
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const IPV4_RE = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

function checkInput(input: DvrInput): void {
  const mac = (m: string, where: string): void => {
    if (!MAC_RE.test(m)) throw new DvrInputError(`${where}: "${m}" is not a lower-case MAC address`);
  };
  mac(input.dvrMac, "dvr_mac");
  input.remoteDvrMacs.forEach((m, i) => mac(m, `remote_dvr_macs[${i}]`));
  if (input.remoteDvrMacs.includes(input.dvrMac)) throw new DvrInputError(`remote_dvr_macs: ${input.dvrMac} is this host's own DVR MAC`);
  const netOf = (seg: number, where: string) => {
    const n = input.tun.networks.find((x) => x.segmentationId === seg);
    if (!n) throw new DvrInputError(`${where}: no network with segmentation_id ${seg}`);
    return n;
  };
  input.subnets.forEach((s, i) => {
    netOf(s.segmentationId, `subnets[${i}]`);
    mac(s.gatewayMac, `subnets[${i}].gateway_mac`);
    if (!IPV4_RE.test(s.gatewayIp)) throw new DvrInputError(`subnets[${i}].gateway_ip: "${s.gatewayIp}" is not an IPv4 address`);
  });
  input.localPorts.forEach((p, i) => {
    netOf(p.segmentationId, `local_ports[${i}]`);
    mac(p.mac, `local_ports[${i}].mac`);
    if (!input.subnets.some((s) => s.segmentationId === p.segmentationId)) throw new DvrInputError(`local_ports[${i}]: network ${p.segmentationId} has no router interface`);
  });
}

/** The part of a flow line that identifies it in its table: table, priority and match (as add-flow replaces). */
function flowIdentity(line: string): string {
  const withoutCookie = line.replace(/^cookie=[^,]+,/, "");
  return withoutCookie.slice(0, withoutCookie.indexOf(" actions="));
}

/** br-tun's flows with DVR: tun-flows' flows, the DVR flows replacing those with the same identity. */
export function compileDvrTunFlows(input: DvrInput): string[] {
  checkInput(input);
  const tun = input.tun;
  const cookie = tun.cookie ? `cookie=${tun.cookie},` : "";
  const dvr: string[] = [];
  const flow = (table: number, priority: number, match: string, actions: string): void => {
    dvr.push(`${cookie}table=${table},priority=${priority}${match ? `,${match}` : ""} actions=${actions}`);
  };
  const T = DVR_TABLE;
  flow(0, 1, `in_port=${tun.patchIntOfport}`, `resubmit(,${T.TUN_DVR_PROCESS})`);
  for (const s of input.subnets) {
    const vlan = tun.networks.find((n) => n.segmentationId === s.segmentationId)!.localVlan;
    // The gateway answers ARP on every host: a request for it must not leave this one.
    flow(T.TUN_DVR_PROCESS, 3, `arp,dl_vlan=${vlan},arp_tpa=${s.gatewayIp}`, "drop");
    flow(T.TUN_DVR_PROCESS, 2, `dl_vlan=${vlan},dl_dst=${s.gatewayMac}`, "drop");
    flow(T.TUN_DVR_PROCESS, 1, `dl_vlan=${vlan},dl_src=${s.gatewayMac}`, `mod_dl_src:${input.dvrMac},resubmit(,${TUN_TABLE.PATCH_LV_TO_TUN})`);
  }
  flow(T.TUN_DVR_PROCESS, 0, "", `resubmit(,${TUN_TABLE.PATCH_LV_TO_TUN})`);
  for (const n of tun.networks) {
    flow(n.type === "gre" ? TUN_TABLE.GRE_TUN_TO_LV : TUN_TABLE.VXLAN_TUN_TO_LV, 1, `tun_id=0x${n.segmentationId.toString(16)}`, `mod_vlan_vid:${n.localVlan},resubmit(,${T.TUN_DVR_NOT_LEARN})`);
  }
  // Routed frames come from a DVR MAC that many destinations share: learning it would misdirect them.
  for (const m of input.remoteDvrMacs) flow(T.TUN_DVR_NOT_LEARN, 1, `dl_src=${m}`, `output:${tun.patchIntOfport}`);
  flow(T.TUN_DVR_NOT_LEARN, 0, "", `resubmit(,${TUN_TABLE.LEARN_FROM_TUN})`);

  const replaced = new Set(dvr.map(flowIdentity));
  return [...compileTunFlows(tun).filter((l) => !replaced.has(flowIdentity(l))), ...dvr];
}

/** br-int's flows with DVR: NORMAL, except routed frames from other hosts, which get their gateway MAC back. */
export function compileDvrIntFlows(input: DvrInput): string[] {
  checkInput(input);
  const cookie = input.tun.cookie ? `cookie=${input.tun.cookie},` : "";
  const out: string[] = [];
  const flow = (table: number, priority: number, match: string, actions: string): void => {
    out.push(`${cookie}table=${table},priority=${priority}${match ? `,${match}` : ""} actions=${actions}`);
  };
  const T = DVR_TABLE;
  for (const m of input.remoteDvrMacs) flow(0, 2, `in_port=${input.patchTunOfport},dl_src=${m}`, `resubmit(,${T.INT_DVR_TO_SRC_MAC})`);
  flow(0, 1, "", "NORMAL");
  for (const p of input.localPorts) {
    const vlan = input.tun.networks.find((n) => n.segmentationId === p.segmentationId)!.localVlan;
    const gw = input.subnets.find((s) => s.segmentationId === p.segmentationId)!;
    flow(T.INT_DVR_TO_SRC_MAC, 4, `dl_vlan=${vlan},dl_dst=${p.mac}`, `strip_vlan,mod_dl_src:${gw.gatewayMac},output:${p.ofport}`);
  }
  flow(T.INT_DVR_TO_SRC_MAC, 1, "", "drop");
  return out;
}
