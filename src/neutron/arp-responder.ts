/**
 * The ARP responder's actions, shared by br-tun (l2population's proxy ARP)
 * and the router bridge (answering for its own addresses): the request is
 * turned into the reply in place and sent back out of the port it came in on.
 * They are ARP_RESPONDER_ACTIONS of Neutron's Open vSwitch agent
 * (ovs_neutron_agent / br_tun), whose `%#x` writes the MAC and the IP as
 * 0x-integers without leading zeros.
 */
import { ipv4Hex, macHex } from "./addr.js";

/** Actions answering an ARP request for `ip` with `mac`. */
export function arpResponderActions(mac: string, ip: string): string {
  return [
    "move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[]",
    `mod_dl_src:${mac}`,
    "load:0x2->NXM_OF_ARP_OP[]",
    "move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[]",
    "move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[]",
    `load:${macHex(mac)}->NXM_NX_ARP_SHA[]`,
    `load:${ipv4Hex(ip)}->NXM_OF_ARP_SPA[]`,
    "IN_PORT",
  ].join(",");
}
