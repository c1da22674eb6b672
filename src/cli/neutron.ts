/**
 * `flowplane neutron ...`: the Neutron compilers. `sg-flows FILE` prints the
 * br-int flows of Neutron's openvswitch firewall driver for the ports and
 * security groups FILE describes; `router-flows FILE` prints the flows of a
 * router bridge; `tun-flows FILE` prints the flows of the tunnel bridge
 * (br-tun). All print ovs-ofctl syntax, as `ovs-ofctl dump-flows`
 * shows it, so the output loads with `ovs-ofctl add-flows BRIDGE -` or as a
 * topology's flows file.
 */
import type { Command } from "commander";
import { loadSgInput, loadRouterInput, loadTunInput } from "../neutron/load.js";
import { compileSecurityGroups } from "../neutron/sg-flows.js";
import { compileRouter } from "../neutron/router-flows.js";
import { compileTunFlows } from "../neutron/tun-flows.js";
import { OutputBuffer } from "./output.js";

const SG_HELP = `
The file is JSON with the ports of one host's br-int and their security groups:

  { "ports": [
      { "name": "tap-vm1", "ofport": 1, "mac": "fa:16:3e:00:00:11",
        "fixed_ips": ["10.0.0.11", "fd00::11"], "vlan_tag": 1,
        "security_groups": ["web"], "port_security_enabled": true,
        "allowed_address_pairs": [ { "ip_address": "10.0.0.0/24", "mac_address": "fa:16:3e:00:00:99" } ] },
      { "name": "qr-a", "ofport": 10, "mac": "fa:16:3e:00:00:01", "fixed_ips": ["10.0.0.1"],
        "vlan_tag": 1, "port_security_enabled": false } ],
    "security_groups": [
      { "id": "web", "rules": [
          { "direction": "ingress", "ethertype": "IPv4", "protocol": "tcp",
            "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "0.0.0.0/0" },
          { "direction": "ingress", "ethertype": "IPv4", "protocol": "icmp" },
          { "direction": "ingress", "ethertype": "IPv6", "remote_group_id": "web" },
          { "direction": "egress", "ethertype": "IPv4" } ] } ] }

ports: vlan_tag is the network's local VLAN on br-int (reg6, the conntrack zone);
  ofport is the port's OpenFlow number (reg5); a port without ofport is on another
  host and only adds its addresses to its groups; without security_groups a port
  with port security is in "default"; port_security_enabled false: no filtering.
rules: direction ingress|egress; ethertype IPv4|IPv6; protocol tcp|udp|sctp|icmp|
  icmpv6|any or a number; port_range_min/max (for ICMP: type and code);
  remote_ip_prefix or remote_group_id (members' fixed IPs and address pairs, as
  conjunctive flows). A "default" group that is used but not described gets
  Neutron's default rules (egress anything, ingress from "default").
Tables: 0, 60 (TRANSIENT), 71-73 (egress), 81-82 (ingress), 91-94, as in Neutron's
"Open vSwitch Firewall Driver" documentation.
`;

const ROUTER_HELP = `
The file is JSON describing one Neutron router and the ports of its bridge:

  { "name": "router1", "ct_zone": 1000,
    "internal": [ { "port": "rq-a", "ofport": 1, "cidr": "10.0.0.0/24",
                    "gateway_ip": "10.0.0.1", "gateway_mac": "fa:16:3e:00:00:01",
                    "hosts": [ { "ip": "10.0.0.11", "mac": "fa:16:3e:00:00:11" } ] } ],
    "external": { "port": "qg", "ofport": 3, "cidr": "172.24.4.0/24", "ip": "172.24.4.2",
                  "mac": "fa:16:3e:00:04:02", "next_hop_ip": "172.24.4.1",
                  "next_hop_mac": "fa:16:3e:00:04:01", "enable_snat": true },
    "floating_ips": [ { "floating_ip": "172.24.4.11", "fixed_ip": "10.0.0.11" } ],
    "metadata": { "port": 9697 } }

internal: one bridge port per subnet (patch it to the network's port on br-int);
  hosts are the subnet's ports the router may send to. external: the gateway port,
  its address, and the next hop every non-internal destination goes through.
  ct_zone: the conntrack zone of the router's NAT (default 1000).
The flows answer ARP for the gateway and floating IPs, route between subnets
(dec_ttl, gateway MAC as source), SNAT subnets to the gateway IP and fixed IPs to
their floating IPs, DNAT floating IPs, and redirect 169.254.169.254:80 to the
metadata proxy (gateway IP, port 9697) behind the bridge's LOCAL port.
Tables: 0 classify and ARP, 10 PREROUTING, 20 routing, 30 neighbours, 40 POSTROUTING.
`;

const TUN_HELP = `
The file is JSON describing one host's tunnel bridge (br-tun):

  { "patch_int_ofport": 1, "arp_responder": true, "l2_population": true,
    "cookie": "0x1234",
    "tunnels":  [ { "ofport": 2, "type": "vxlan", "remote_ip": "192.168.1.12" } ],
    "networks": [ { "network_type": "vxlan", "segmentation_id": 66, "local_vlan": 1 } ],
    "fdb":      [ { "segmentation_id": 66, "mac": "fa:16:3e:76:47:75", "ip": "10.0.0.8",
                    "remote_ip": "192.168.1.12" } ] }

patch_int_ofport: the patch port to br-int. tunnels: the tunnel ports (vxlan or gre)
  and their remote hosts. networks: each tunnelled network's segmentation_id (the
  tunnel id) and its local VLAN on br-int. fdb: l2population's entries, a port's MAC
  (and IP, for the ARP responder) behind a remote host; a network's flooding goes to
  the tunnels of hosts with its ports when l2_population is true, else to every
  tunnel of its type. arp_responder, l2_population (default false) and cookie are optional.
Tables: 0 by input port, 2 from br-int, 3 (GRE) / 4 (VXLAN) tunnel id to local VLAN,
10 learn and deliver to br-int, 20 known unicast, 21 ARP responder, 22 flood, as the
Neutron Open vSwitch agent's br-tun.
`;

export function registerNeutron(program: Command): void {
  const neutron = program.command("neutron").description("compile Neutron security groups, routers and tunnel bridges to OpenFlow flows");
  neutron
    .command("sg-flows")
    .description("print br-int flows for ports and security groups (Neutron's openvswitch firewall driver layout)")
    .argument("<file>", "JSON description of ports and security groups (see --help)")
    .addHelpText("after", SG_HELP)
    .action((file: string) => {
      print(compileSecurityGroups(loadSgInput(file)));
    });
  neutron
    .command("router-flows")
    .description("print the flows of a router bridge: routing, ARP responder, SNAT, floating IPs, metadata")
    .argument("<file>", "JSON description of a router (see --help)")
    .addHelpText("after", ROUTER_HELP)
    .action((file: string) => {
      print(compileRouter(loadRouterInput(file)));
    });
  neutron
    .command("tun-flows")
    .description("print the flows of the tunnel bridge br-tun: tunnel id to local VLAN, learning, unicast, flooding, ARP responder")
    .argument("<file>", "JSON description of br-tun's tunnels, networks and l2population entries (see --help)")
    .addHelpText("after", TUN_HELP)
    .action((file: string) => {
      print(compileTunFlows(loadTunInput(file)));
    });
}

function print(lines: string[]): void {
  const out = new OutputBuffer(process.stdout.fd);
  for (const l of lines) out.line(l);
  out.flush();
}
