/**
 * Security-group descriptions shared by the Neutron tests: WIDE_SG uses
 * every rule shape the compiler knows, and mirrors the example of Neutron's
 * "Open vSwitch Firewall Driver" document (two ports, ICMP from group 1 to
 * group 2, TCP from group 1, TCP 80 from group 2, IP from group 3).
 */
export const WIDE_SG = {
  ports: [
    {
      name: "port1", ofport: 1, mac: "fa:16:3e:a4:22:10", fixed_ips: ["192.168.0.1"], vlan_tag: 0x284, security_groups: ["sg1"],
      allowed_address_pairs: [{ ip_address: "10.0.0.1/32", mac_address: "fa:16:3e:8c:84:13" }],
    },
    {
      name: "port2", ofport: 2, mac: "fa:16:3e:24:57:c7", fixed_ips: ["192.168.0.2", "fd00::2"], vlan_tag: 0x284, security_groups: ["sg2"],
      allowed_address_pairs: [{ ip_address: "10.1.0.0/24", mac_address: "fa:16:3e:8c:84:14" }],
    },
    { name: "remote3", mac: "fa:16:3e:00:33:33", fixed_ips: ["192.168.0.33"], security_groups: ["sg3"] },
    { name: "port4", ofport: 4, mac: "fa:16:3e:00:00:44", fixed_ips: ["172.16.0.4", "fd00:1::4"], vlan_tag: 7 },
  ],
  security_groups: [
    { id: "sg1", rules: [{ direction: "egress", ethertype: "IPv4", protocol: "icmp" }] },
    {
      id: "sg2",
      rules: [
        { direction: "ingress", ethertype: "IPv4", protocol: "icmp", remote_group_id: "sg1" },
        { direction: "ingress", ethertype: "IPv4", protocol: "tcp", remote_group_id: "sg1" },
        { direction: "ingress", ethertype: "IPv4", protocol: "tcp", port_range_min: 80, port_range_max: 80, remote_group_id: "sg2" },
        { direction: "ingress", ethertype: "IPv4", remote_group_id: "sg3" },
        { direction: "ingress", ethertype: "IPv4", protocol: "udp", port_range_min: 1000, port_range_max: 1999, remote_ip_prefix: "10.20.0.0/16" },
        { direction: "ingress", ethertype: "IPv4", protocol: "icmp", port_range_min: 8, port_range_max: 0 },
        { direction: "ingress", ethertype: "IPv4", protocol: "icmp", port_range_min: 3 },
        { direction: "ingress", ethertype: "IPv6", protocol: "icmp", port_range_min: 128 },
        { direction: "ingress", ethertype: "IPv6", protocol: "tcp", port_range_min: 64, port_range_max: 105, remote_ip_prefix: "fd00:99::/64" },
        { direction: "egress", ethertype: "IPv4", protocol: "sctp", port_range_min: 5000, port_range_max: 5001, remote_ip_prefix: "10.9.9.0/24" },
        { direction: "egress", ethertype: "IPv6", protocol: 47 },
        { direction: "ingress", ethertype: "IPv6", protocol: "udp", remote_group_id: "sg2" },
      ],
    },
    { id: "sg3", rules: [] },
  ],
};
