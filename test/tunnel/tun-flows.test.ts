/**
 * The br-tun compiler's input checks and the choices it makes (what the
 * OVS differential in test/ovs/tunnel-neutron.test.ts runs end to end):
 * flooding with and without l2population, and the flows loading into
 * flowplane's syntax layer.
 */
import { describe, it, expect } from "vitest";
import { compileTunFlows, parseTunInput } from "../../src/neutron/tun-flows.js";
import { NeutronInputError } from "../../src/neutron/errors.js";
import { parseFlow } from "../../src/ofctl/index.js";

const base = {
  patch_int_ofport: 1,
  tunnels: [
    { ofport: 2, type: "vxlan", remote_ip: "192.168.1.12" },
    { ofport: 3, type: "vxlan", remote_ip: "192.168.1.13" },
    { ofport: 4, type: "gre", remote_ip: "192.168.1.12" },
  ],
  networks: [{ network_type: "vxlan", segmentation_id: 66, local_vlan: 1 }],
  fdb: [{ segmentation_id: 66, mac: "fa:16:3e:76:47:75", ip: "10.0.0.8", remote_ip: "192.168.1.12" }],
};

describe("neutron br-tun compiler", () => {
  it("floods to every tunnel of the network's type without l2population, to the FDB's hosts with it", () => {
    const flood = (l2: boolean): string | undefined => compileTunFlows(parseTunInput({ ...base, l2_population: l2 })).find((l) => l.includes("table=22,priority=1"));
    expect(flood(false)).toBe("table=22,priority=1,dl_vlan=1 actions=strip_vlan,set_tunnel:0x42,output:2,output:3");
    expect(flood(true)).toBe("table=22,priority=1,dl_vlan=1 actions=strip_vlan,set_tunnel:0x42,output:2");
  });

  it("adds l2pop unicast and ARP responder flows only when enabled, and the agent's cookie everywhere", () => {
    const plain = compileTunFlows(parseTunInput(base));
    expect(plain.some((l) => l.includes("table=20,priority=2"))).toBe(false);
    expect(plain.some((l) => l.includes("table=21"))).toBe(false);
    const full = compileTunFlows(parseTunInput({ ...base, l2_population: true, arp_responder: true, cookie: "0xabc" }));
    expect(full.every((l) => l.startsWith("cookie=0xabc,"))).toBe(true);
    expect(full).toContain("cookie=0xabc,table=20,priority=2,dl_vlan=1,dl_dst=fa:16:3e:76:47:75 actions=strip_vlan,set_tunnel:0x42,output:2");
    expect(full).toContain("cookie=0xabc,table=2,priority=1,arp,dl_dst=ff:ff:ff:ff:ff:ff actions=resubmit(,21)");
    expect(full.find((l) => l.includes("table=21,priority=1"))).toContain("load:0xfa163e764775->NXM_NX_ARP_SHA[],load:0xa000008->NXM_OF_ARP_SPA[],IN_PORT");
    // VXLAN networks map in table 4, GRE ones in table 3; both default to drop.
    expect(full).toContain("cookie=0xabc,table=4,priority=1,tun_id=0x42 actions=mod_vlan_vid:1,resubmit(,10)");
    expect(full).toContain("cookie=0xabc,table=3,priority=0 actions=drop");
  });

  it("produces flows the ovs-ofctl syntax layer accepts", () => {
    const lines = compileTunFlows(parseTunInput({ ...base, l2_population: true, arp_responder: true, cookie: "0x1" }));
    for (const l of lines) expect(() => parseFlow(l, { fileName: "br-tun" })).not.toThrow();
  });

  it.each([
    [{ ...base, patch_int_ofport: 0 }, /patch_int_ofport: must be a whole number from 1/],
    [{ ...base, tunnels: [{ ofport: 1, type: "vxlan", remote_ip: "1.1.1.1" }] }, /ofport 1 is used twice/],
    [{ ...base, tunnels: [{ ofport: 2, type: "geneve", remote_ip: "1.1.1.1" }] }, /tunnels\[0\]\.type: must be "vxlan" or "gre"/],
    [{ ...base, tunnels: [{ ofport: 2, type: "vxlan", remote_ip: "1.1.1" }] }, /tunnels\[0\]\.remote_ip: "1\.1\.1" is not an IPv4 address/],
    [{ ...base, networks: [{ network_type: "vxlan", segmentation_id: 0x1000000, local_vlan: 1 }], fdb: [] }, /segmentation_id: must be a whole number from 1 to 16777215/],
    [{ ...base, networks: [...base.networks, { network_type: "gre", segmentation_id: 7, local_vlan: 1 }] }, /local_vlan 1 is given to two networks/],
    [{ ...base, fdb: [{ segmentation_id: 5, mac: "fa:16:3e:00:00:01", remote_ip: "192.168.1.12" }] }, /fdb\[0\]: no network with segmentation_id 5/],
    [{ ...base, fdb: [{ segmentation_id: 66, mac: "fa:16:3e:00:00:01", remote_ip: "192.168.1.99" }] }, /fdb\[0\]: no vxlan tunnel to 192\.168\.1\.99/],
    [{ ...base, fdb: [{ segmentation_id: 66, mac: "fa:16:3e:00:01", remote_ip: "192.168.1.12" }] }, /fdb\[0\]\.mac: "fa:16:3e:00:01" is not a MAC address/],
    [{ ...base, cookie: "42" }, /cookie: must be 0x/],
    [{ ...base, l2pop: true }, /unknown key "l2pop"/],
  ])("rejects %j", (raw, message) => {
    expect(() => parseTunInput(raw)).toThrow(message);
    expect(() => parseTunInput(raw)).toThrow(NeutronInputError);
  });
});
