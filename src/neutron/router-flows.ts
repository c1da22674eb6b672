/**
 * A Neutron router as flows on a router bridge. The L3 agent builds a router
 * as a namespace (qr- interfaces, a qg- gateway, Linux routing and iptables
 * NAT: reference 000 and 004); here the same behaviour is OpenFlow on one
 * bridge with a port per subnet (patched to br-int), one external port, and
 * the bridge's LOCAL port standing for the namespace's own stack (the
 * metadata proxy, gratuitous ARPs the agent sends).
 *
 *   0  CLASSIFY     ARP responder for each gateway IP (on its subnet port)
 *                   and for the gateway and floating IPs (on the external
 *                   port), with br-tun's move/load idiom; the stack's own
 *                   ARPs out of the port that owns the address; IPv4 to a
 *                   router MAC -> ct(table=10, zone, nat): un-NAT of replies
 *                   (and of later packets of NATed connections)
 *   10 PREROUTING   +inv dropped; metadata 169.254.169.254:80 from a subnet
 *                   -> DNAT to gateway:9697 (iptables REDIRECT) -> LOCAL;
 *                   addressed to a gateway IP -> LOCAL; new from outside to a
 *                   floating IP -> DNAT to the fixed IP, re-enter at 20;
 *                   other new connections from outside dropped
 *   20 ROUTING      longest prefix: a connected subnet -> dec_ttl, source
 *                   MAC = its gateway MAC -> 30 (new connections committed
 *                   first, as the namespace's conntrack tracks all it
 *                   forwards); anything else via the next hop -> 40
 *   30 NEIGHBOURS   destination MAC of each known host, out of its subnet port
 *   40 POSTROUTING  leaving by the gateway: new connections from a fixed IP
 *                   with a floating IP SNAT to it, others from a subnet SNAT
 *                   to the gateway IP (enable_snat); established out
 *
 * This follows the nat table in the references: PREROUTING DNAT for
 * floating IPs and the metadata REDIRECT, POSTROUTING float-snat before the
 * subnet SNAT, and no SNAT between internal subnets (the ACCEPT for
 * "! -o qg"). Limits: IPv4 only; hosts on the external network other than
 * the next hop are reached through it; floating IPs are reached from the
 * external port only (no hairpin through the router).
 */
import type { RouterInput } from "./router-model.js";
import { arpResponderActions } from "./arp-responder.js";
import { FlowSet } from "./flow-text.js";

export const ROUTER_TABLE = { CLASSIFY: 0, PREROUTING: 10, ROUTING: 20, NEIGHBOURS: 30, POSTROUTING: 40 } as const;
export const METADATA_IP = "169.254.169.254";

/** Compiles the router to flow lines for its bridge. */
export function compileRouter(r: RouterInput): string[] {
  const flows = new FlowSet();
  const add = (table: number, priority: number, match: string[], actions: string): void => flows.add({ table, priority, match, actions });
  const T = ROUTER_TABLE;
  const zone = `zone=${r.ctZone}`;
  const g = r.external;

  // 0: ARP, and IPv4 for the router into conntrack.
  for (const s of r.internal) {
    add(T.CLASSIFY, 100, ["arp", `in_port=${s.ofport}`, "arp_op=1", `arp_tpa=${s.gatewayIp}`], arpResponderActions(s.gatewayMac, s.gatewayIp));
    add(T.CLASSIFY, 90, ["arp", "in_port=LOCAL", `arp_spa=${s.gatewayIp}`], `output:${s.ofport}`);
    add(T.CLASSIFY, 50, ["ip", `in_port=${s.ofport}`, `dl_dst=${s.gatewayMac}`], `ct(table=${T.PREROUTING},${zone},nat)`);
  }
  if (g !== null) {
    for (const ip of [g.ip, ...r.floatingIps.map((f) => f.floatingIp)]) {
      add(T.CLASSIFY, 100, ["arp", `in_port=${g.ofport}`, "arp_op=1", `arp_tpa=${ip}`], arpResponderActions(g.mac, ip));
      add(T.CLASSIFY, 90, ["arp", "in_port=LOCAL", `arp_spa=${ip}`], `output:${g.ofport}`);
    }
    add(T.CLASSIFY, 50, ["ip", `in_port=${g.ofport}`, `dl_dst=${g.mac}`], `ct(table=${T.PREROUTING},${zone},nat)`);
  }
  add(T.CLASSIFY, 50, ["ip", "in_port=LOCAL"], `ct(table=${T.PREROUTING},${zone},nat)`);
  add(T.CLASSIFY, 0, [], "drop");

  // 10: what the nat table's PREROUTING and the namespace's INPUT decide.
  add(T.PREROUTING, 100, ["ct_state=+inv+trk"], "drop");
  for (const s of r.internal) {
    if (r.metadataPort > 0) {
      add(T.PREROUTING, 90, ["ct_state=+new+trk", "tcp", `in_port=${s.ofport}`, `nw_dst=${METADATA_IP}`, "tp_dst=80"], `ct(commit,${zone},nat(dst=${s.gatewayIp}:${r.metadataPort})),output:LOCAL`);
    }
    add(T.PREROUTING, 80, ["ip", `nw_dst=${s.gatewayIp}`], "output:LOCAL");
  }
  if (g !== null) {
    for (const f of r.floatingIps) {
      add(T.PREROUTING, 70, ["ct_state=+new+trk", "ip", `in_port=${g.ofport}`, `nw_dst=${f.floatingIp}`], `ct(commit,${zone},nat(dst=${f.fixedIp}),table=${T.ROUTING})`);
    }
    add(T.PREROUTING, 60, ["ct_state=+new+trk", `in_port=${g.ofport}`], "drop");
  }
  add(T.PREROUTING, 0, [], `resubmit(,${T.ROUTING})`);

  // 20: connected subnets by longest prefix; the default route via the next hop. The
  // namespace's conntrack follows every connection it forwards, so a new one towards a
  // subnet is committed: its replies are then +est, not +inv (an echo reply or SYN-ACK
  // nobody asked for is invalid to conntrack, and table 10 drops those).
  for (const s of r.internal) {
    const route = `dec_ttl,mod_dl_src:${s.gatewayMac},resubmit(,${T.NEIGHBOURS})`;
    add(T.ROUTING, 200 + s.cidr.length, ["ct_state=+new+trk", "ip", `nw_dst=${s.cidr.network}/${s.cidr.length}`], `ct(commit,${zone}),${route}`);
    add(T.ROUTING, 100 + s.cidr.length, ["ip", `nw_dst=${s.cidr.network}/${s.cidr.length}`], route);
  }
  if (g !== null) add(T.ROUTING, 100, ["ip"], `dec_ttl,mod_dl_src:${g.mac},mod_dl_dst:${g.nextHopMac},resubmit(,${T.POSTROUTING})`);
  add(T.ROUTING, 0, [], "drop");

  // 30: the hosts Neutron knows on each subnet (the agent's static neighbours).
  for (const s of r.internal) for (const h of s.hosts) add(T.NEIGHBOURS, 100, ["ip", `nw_dst=${h.ip}`], `mod_dl_dst:${h.mac},output:${s.ofport}`);
  add(T.NEIGHBOURS, 0, [], "drop");

  // 40: POSTROUTING on the gateway: float-snat, then the subnet SNAT; established connections out.
  if (g !== null) {
    for (const f of r.floatingIps) add(T.POSTROUTING, 100, ["ct_state=+new+trk", "ip", `nw_src=${f.fixedIp}`], `ct(commit,${zone},nat(src=${f.floatingIp})),output:${g.ofport}`);
    if (g.enableSnat) {
      for (const s of r.internal) add(T.POSTROUTING, 90, ["ct_state=+new+trk", "ip", `nw_src=${s.cidr.network}/${s.cidr.length}`], `ct(commit,${zone},nat(src=${g.ip})),output:${g.ofport}`);
    }
    add(T.POSTROUTING, 50, ["ct_state=+est+trk", "ip"], `output:${g.ofport}`);
    add(T.POSTROUTING, 49, ["ct_state=+rel+trk", "ip"], `output:${g.ofport}`);
  }
  add(T.POSTROUTING, 0, [], "drop");
  return flows.lines();
}
