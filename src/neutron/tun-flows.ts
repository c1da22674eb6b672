/**
 * Neutron's br-tun as flows: what the Open vSwitch agent installs on the
 * tunnel bridge (neutron/plugins/ml2/drivers/openvswitch/agent/openflow/
 * ovs_ofctl/br_tun.py: setup_default_table, setup_tunnel_port,
 * provision_local_vlan, install_flood_to_tun, install_unicast_to_tun,
 * install_arp_responder), from a description of the bridge's ports, the
 * networks with their local VLANs, and the l2population FDB.
 *
 *   0   in_port=patch-int -> 2; in_port=<tunnel> -> 3 (GRE) / 4 (VXLAN); else drop
 *   2   from br-int: ARP broadcast -> 21 (arp_responder); unicast -> 20; multicast -> 22
 *   3/4 tun_id=<segment> -> mod_vlan_vid:<local VLAN>, 10; else drop
 *   10  learn(table 20: VLAN + dst MAC -> strip_vlan, tun_id, the input tunnel), output patch-int
 *   20  l2pop unicast: dl_vlan + dl_dst -> strip_vlan, set_tunnel, output <tunnel>; else 22
 *   21  ARP responder per known IP (arp_responder); else 22
 *   22  dl_vlan=<local VLAN> -> strip_vlan, set_tunnel, output every tunnel of the network; else drop
 *
 * Flooding: with l2_population only to the tunnels whose remote hosts have
 * ports of the network (the FDB's flooding entries), else to every tunnel of
 * the network's type, as the agent does without l2pop.
 *
 * Input (JSON):
 *   { "patch_int_ofport": 1, "arp_responder": true, "l2_population": true,
 *     "cookie": "0x1234",
 *     "tunnels":  [{"ofport": 2, "type": "vxlan", "remote_ip": "192.168.1.12"}],
 *     "networks": [{"network_type": "vxlan", "segmentation_id": 66, "local_vlan": 1}],
 *     "fdb":      [{"segmentation_id": 66, "mac": "fa:16:3e:76:47:75", "ip": "10.0.0.8", "remote_ip": "192.168.1.12"}] }
 *
 * Limits: GRE and VXLAN (Geneve's table 6, DVR's tables 1 and 9 are not
 * built); IPv4 ARP responder only. Control plane only.
 */
import { NeutronInputError } from "./errors.js";
import { arpResponderActions } from "./arp-responder.js";

export const TUN_TABLE = { PATCH_LV_TO_TUN: 2, GRE_TUN_TO_LV: 3, VXLAN_TUN_TO_LV: 4, LEARN_FROM_TUN: 10, UCAST_TO_TUN: 20, ARP_RESPONDER: 21, FLOOD_TO_TUN: 22 } as const;

export type TunnelType = "vxlan" | "gre";

export interface TunInput {
  patchIntOfport: number;
  arpResponder: boolean;
  l2Population: boolean;
  /** The agent's cookie, "0x..." text, or null for none. */
  cookie: string | null;
  tunnels: { ofport: number; type: TunnelType; remoteIp: string }[];
  networks: { type: TunnelType; segmentationId: number; localVlan: number }[];
  fdb: { segmentationId: number; mac: string; ip: string | null; remoteIp: string }[];
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);
const IPV4_RE = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

function int(v: unknown, min: number, max: number, where: string): number {
  if (!Number.isInteger(v) || (v as number) < min || (v as number) > max) throw new NeutronInputError(`${where}: must be a whole number from ${min} to ${max}`);
  return v as number;
}
function ip(v: unknown, where: string): string {
  if (typeof v !== "string" || !IPV4_RE.test(v)) throw new NeutronInputError(`${where}: "${String(v)}" is not an IPv4 address`);
  return v;
}
function keysOk(o: Record<string, unknown>, allowed: string[], where: string): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) throw new NeutronInputError(`${where}: unknown key "${k}"`);
}
function list(v: unknown, where: string): Record<string, unknown>[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every(isObj)) throw new NeutronInputError(`${where}: must be an array of objects`);
  return v;
}
function tunnelType(v: unknown, where: string): TunnelType {
  if (v !== "vxlan" && v !== "gre") throw new NeutronInputError(`${where}: must be "vxlan" or "gre"`);
  return v;
}

/** Checks a parsed JSON description; every mistake names its item. */
export function parseTunInput(raw: unknown): TunInput {
  if (!isObj(raw)) throw new NeutronInputError("br-tun description: must be a JSON object");
  keysOk(raw, ["patch_int_ofport", "arp_responder", "l2_population", "cookie", "tunnels", "networks", "fdb"], "br-tun description");
  const bool = (k: string): boolean => {
    if (raw[k] !== undefined && typeof raw[k] !== "boolean") throw new NeutronInputError(`${k}: must be true or false`);
    return raw[k] === true;
  };
  if (raw.cookie !== undefined && (typeof raw.cookie !== "string" || !/^0x[0-9a-fA-F]{1,16}$/.test(raw.cookie))) throw new NeutronInputError("cookie: must be 0x and up to 16 hex digits");
  const input: TunInput = {
    patchIntOfport: int(raw.patch_int_ofport, 1, 0xfeff, "patch_int_ofport"),
    arpResponder: bool("arp_responder"),
    l2Population: bool("l2_population"),
    cookie: (raw.cookie as string | undefined) ?? null,
    tunnels: list(raw.tunnels, "tunnels").map((t, i) => {
      const at = `tunnels[${i}]`;
      keysOk(t, ["ofport", "type", "remote_ip"], at);
      return { ofport: int(t.ofport, 1, 0xfeff, `${at}.ofport`), type: tunnelType(t.type, `${at}.type`), remoteIp: ip(t.remote_ip, `${at}.remote_ip`) };
    }),
    networks: list(raw.networks, "networks").map((n, i) => {
      const at = `networks[${i}]`;
      keysOk(n, ["network_type", "segmentation_id", "local_vlan"], at);
      const type = tunnelType(n.network_type, `${at}.network_type`);
      return { type, segmentationId: int(n.segmentation_id, 1, type === "vxlan" ? 0xffffff : 0xffffffff, `${at}.segmentation_id`), localVlan: int(n.local_vlan, 1, 4094, `${at}.local_vlan`) };
    }),
    fdb: list(raw.fdb, "fdb").map((e, i) => {
      const at = `fdb[${i}]`;
      keysOk(e, ["segmentation_id", "mac", "ip", "remote_ip"], at);
      if (typeof e.mac !== "string" || !MAC_RE.test(e.mac.toLowerCase())) throw new NeutronInputError(`${at}.mac: "${String(e.mac)}" is not a MAC address`);
      return { segmentationId: int(e.segmentation_id, 1, 0xffffffff, `${at}.segmentation_id`), mac: e.mac.toLowerCase(), ip: e.ip === undefined ? null : ip(e.ip, `${at}.ip`), remoteIp: ip(e.remote_ip, `${at}.remote_ip`) };
    }),
  };
  const ofports = new Set([input.patchIntOfport]);
  for (const t of input.tunnels) {
    if (ofports.has(t.ofport)) throw new NeutronInputError(`tunnels: ofport ${t.ofport} is used twice`);
    ofports.add(t.ofport);
  }
  const segs = new Set<number>();
  const vlans = new Set<number>();
  for (const n of input.networks) {
    if (segs.has(n.segmentationId)) throw new NeutronInputError(`networks: segmentation_id ${n.segmentationId} is listed twice`);
    if (vlans.has(n.localVlan)) throw new NeutronInputError(`networks: local_vlan ${n.localVlan} is given to two networks`);
    segs.add(n.segmentationId);
    vlans.add(n.localVlan);
  }
  input.fdb.forEach((e, i) => {
    const net = input.networks.find((n) => n.segmentationId === e.segmentationId);
    if (!net) throw new NeutronInputError(`fdb[${i}]: no network with segmentation_id ${e.segmentationId}`);
    if (!input.tunnels.some((t) => t.remoteIp === e.remoteIp && t.type === net.type)) throw new NeutronInputError(`fdb[${i}]: no ${net.type} tunnel to ${e.remoteIp}`);
  });
  return input;
}

const hex = (n: number): string => `0x${n.toString(16)}`;
/** br-tun's flows for the description, in ovs-ofctl add-flows syntax, one per line. */
export function compileTunFlows(input: TunInput): string[] {
  const T = TUN_TABLE;
  const cookie = input.cookie ? `cookie=${input.cookie},` : "";
  const out: string[] = [];
  const flow = (table: number, priority: number, match: string, actions: string): void => {
    out.push(`${cookie}table=${table},priority=${priority}${match ? `,${match}` : ""} actions=${actions}`);
  };
  const tunTable = (t: TunnelType): number => (t === "gre" ? T.GRE_TUN_TO_LV : T.VXLAN_TUN_TO_LV);

  // Table 0: sort by input port.
  flow(0, 1, `in_port=${input.patchIntOfport}`, `resubmit(,${T.PATCH_LV_TO_TUN})`);
  for (const t of input.tunnels) flow(0, 1, `in_port=${t.ofport}`, `resubmit(,${tunTable(t.type)})`);
  flow(0, 0, "", "drop");

  // Table 2: from br-int, by destination kind.
  if (input.arpResponder) flow(T.PATCH_LV_TO_TUN, 1, "arp,dl_dst=ff:ff:ff:ff:ff:ff", `resubmit(,${T.ARP_RESPONDER})`);
  flow(T.PATCH_LV_TO_TUN, 0, "dl_dst=00:00:00:00:00:00/01:00:00:00:00:00", `resubmit(,${T.UCAST_TO_TUN})`);
  flow(T.PATCH_LV_TO_TUN, 0, "dl_dst=01:00:00:00:00:00/01:00:00:00:00:00", `resubmit(,${T.FLOOD_TO_TUN})`);

  // Tables 3 and 4: tunnel id -> local VLAN.
  for (const n of input.networks) flow(tunTable(n.type), 1, `tun_id=${hex(n.segmentationId)}`, `mod_vlan_vid:${n.localVlan},resubmit(,${T.LEARN_FROM_TUN})`);
  flow(T.GRE_TUN_TO_LV, 0, "", "drop");
  flow(T.VXLAN_TUN_TO_LV, 0, "", "drop");

  // Table 10: learn the way back to the sender, then deliver to br-int.
  const learned = `${input.cookie ? `cookie=${input.cookie},` : ""}table=${T.UCAST_TO_TUN},priority=1,hard_timeout=300,NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:OXM_OF_IN_PORT[]`;
  flow(T.LEARN_FROM_TUN, 1, "", `learn(${learned}),output:${input.patchIntOfport}`);

  // Table 20: known unicast (l2population), else flood.
  const netOf = (seg: number) => input.networks.find((n) => n.segmentationId === seg)!;
  const portTo = (remoteIp: string, type: TunnelType) => input.tunnels.find((t) => t.remoteIp === remoteIp && t.type === type)!.ofport;
  if (input.l2Population) {
    for (const e of input.fdb) {
      const n = netOf(e.segmentationId);
      flow(T.UCAST_TO_TUN, 2, `dl_vlan=${n.localVlan},dl_dst=${e.mac}`, `strip_vlan,set_tunnel:${hex(n.segmentationId)},output:${portTo(e.remoteIp, n.type)}`);
    }
  }
  flow(T.UCAST_TO_TUN, 0, "", `resubmit(,${T.FLOOD_TO_TUN})`);

  // Table 21: answer ARP for known addresses.
  if (input.arpResponder) {
    for (const e of input.fdb) {
      if (e.ip === null) continue;
      flow(T.ARP_RESPONDER, 1, `arp,dl_vlan=${netOf(e.segmentationId).localVlan},arp_op=1,arp_tpa=${e.ip}`, arpResponderActions(e.mac, e.ip));
    }
    flow(T.ARP_RESPONDER, 0, "", `resubmit(,${T.FLOOD_TO_TUN})`);
  }

  // Table 22: flood a network to its tunnels.
  for (const n of input.networks) {
    const ports = input.tunnels
      .filter((t) => t.type === n.type && (!input.l2Population || input.fdb.some((e) => e.segmentationId === n.segmentationId && e.remoteIp === t.remoteIp)))
      .map((t) => `output:${t.ofport}`);
    if (ports.length) flow(T.FLOOD_TO_TUN, 1, `dl_vlan=${n.localVlan}`, `strip_vlan,set_tunnel:${hex(n.segmentationId)},${ports.join(",")}`);
  }
  flow(T.FLOOD_TO_TUN, 0, "", "drop");
  return out;
}
