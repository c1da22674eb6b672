import { describe, it, expect } from "vitest";
import { parseTunnelConfig, vportName, TunnelConfigError } from "../../src/tunnel/config.js";
import { Underlay, UnderlayError } from "../../src/tunnel/underlay.js";
import { validateTopology, buildSwitch, TopologyError } from "../../src/ofproto/topology.js";
import { newTable, openflowLoader } from "../../src/ofproto/load.js";
import { topologyOf } from "./fixture.js";

describe("tunnel port options (ovs-vswitchd.conf.db(5))", () => {
  it("applies OVS's defaults: dst_port 4789, ttl 64, tos 0, DF set, no checksum, key 0 absent", () => {
    const c = parseTunnelConfig("t", "vxlan", { remote_ip: "1.1.2.92" });
    expect(c).toMatchObject({ remoteIp: 0x0101025c, localIp: 0, dstPort: 4789, ttl: 64, tos: 0, dontFragment: true, csum: false, inKey: 0, outKey: 0, outKeyPresent: false });
    expect(vportName(c)).toBe("vxlan_sys_4789");
    expect(vportName(parseTunnelConfig("g", "gre", { remote_ip: "1.1.2.92" }))).toBe("gre_sys");
  });

  it("reads key, in_key/out_key overrides, flow values, inherit and a custom UDP port", () => {
    const c = parseTunnelConfig("t", "vxlan", { remote_ip: "flow", local_ip: "flow", key: "0x10", out_key: "flow", ttl: "inherit", tos: "inherit", dst_port: "8472", csum: "true", df_default: "false" });
    expect(c).toMatchObject({ remoteIpFlow: true, localIpFlow: true, inKey: 16, inKeyFlow: false, outKeyFlow: true, outKeyPresent: true, ttlInherit: true, tosInherit: true, dstPort: 8472, csum: true, dontFragment: false });
    expect(vportName(c)).toBe("vxlan_sys_8472");
    expect(parseTunnelConfig("g", "gre", { remote_ip: "10.0.0.1", in_key: "5" })).toMatchObject({ inKey: 5, outKey: 0, outKeyPresent: false });
  });

  it.each([
    [{}, /needs options:remote_ip/],
    [{ remote_ip: "1.1.2" }, /remote_ip must be "flow" or an IPv4 address/],
    [{ remote_ip: "1.1.2.300" }, /remote_ip must be/],
    [{ remote_ip: "1.1.2.9", local_ip: "x" }, /local_ip must be/],
    [{ remote_ip: "1.1.2.9", key: "-1" }, /key must be "flow" or a number/],
    [{ remote_ip: "1.1.2.9", key: "0x1000000" }, /VXLAN key \(VNI\) is at most 24 bits/],
    [{ remote_ip: "1.1.2.9", csum: "yes" }, /csum must be "true" or "false"/],
    [{ remote_ip: "1.1.2.9", ttl: "0" }, /ttl must be/],
    [{ remote_ip: "1.1.2.9", tos: "5" }, /tos must be/],
    [{ remote_ip: "1.1.2.9", dst_port: "70000" }, /dst_port must be a UDP port/],
    [{ remote_ip: "1.1.2.9", remote_cert: "x" }, /unknown tunnel option "remote_cert"/],
  ])("rejects %j", (options, message) => {
    expect(() => parseTunnelConfig("vx1", "vxlan", options as Record<string, string>)).toThrow(message);
    expect(() => parseTunnelConfig("vx1", "vxlan", options as Record<string, string>)).toThrow(TunnelConfigError);
  });

  it("rejects dst_port on GRE and accepts a 32-bit GRE key", () => {
    expect(() => parseTunnelConfig("g", "gre", { remote_ip: "1.1.2.9", dst_port: "4789" })).toThrow(/only for UDP tunnels/);
    expect(parseTunnelConfig("g", "gre", { remote_ip: "1.1.2.9", key: "4294967295" }).outKey).toBe(0xffffffff);
  });
});

describe("underlay: addresses, routes, neighbours", () => {
  it("picks the longest prefix and the bridge's own address as source", () => {
    const u = new Underlay();
    u.addAddress("br-a", "10.0.0.1/8", "aa:00:00:00:00:01");
    u.addAddress("br-b", "10.1.2.1/24", "aa:00:00:00:00:02");
    u.addRoute("10.0.0.0/8", "br-a");
    u.addRoute("10.1.2.0/24", "br-b");
    u.addRoute("0.0.0.0/0", "br-a", "10.0.0.99");
    expect(u.route(0x0a010205)).toEqual({ bridge: "br-b", src: 0x0a010201 });
    expect(u.route(0x0a050505)).toEqual({ bridge: "br-a", src: 0x0a000001 });
    expect(u.route(0xc0a80001)).toEqual({ bridge: "br-a", src: 0x0a000063 });
  });

  it("answers null without a route or a neighbour, and learns static neighbours per bridge", () => {
    const u = new Underlay();
    expect(u.route(0x01020304)).toBeNull();
    u.setNeighbour("br-a", "1.2.3.4", "f8:bc:12:44:34:b6");
    expect(u.neighbour("br-a", 0x01020304)).toEqual([0xf8bc, 0x124434b6]);
    expect(u.neighbour("br-b", 0x01020304)).toBeNull();
  });

  it("rejects bad addresses, prefixes and MACs", () => {
    const u = new Underlay();
    expect(() => u.addAddress("br", "1.2.3.4/33", "aa:00:00:00:00:01")).toThrow(UnderlayError);
    expect(() => u.addAddress("br", "1.2.3.4/24", "aa:00:00:00:01")).toThrow(/not a MAC address/);
    expect(() => u.addRoute("1.2.3/24", "br")).toThrow(/not an IPv4 address/);
    expect(() => u.setNeighbour("br", "1.2.3.4", "zz:00:00:00:00:01")).toThrow(/not a MAC address/);
  });
});

describe("topology: tunnel ports and the underlay section", () => {
  const base = topologyOf({ tunnels: [{ name: "tvx", ofport: 2, type: "vxlan", options: { remote_ip: "1.1.2.92", key: "5" } }], intFlows: "" });

  it("gives tunnel ports of a kind one shared datapath port named as OVS names it", () => {
    const spec = topologyOf({
      tunnels: [
        { name: "tvx", ofport: 2, type: "vxlan", options: { remote_ip: "1.1.2.92", key: "5" } },
        { name: "tvx2", ofport: 3, type: "vxlan", options: { remote_ip: "1.1.2.93", key: "5" } },
        { name: "tgre", ofport: 4, type: "gre", options: { remote_ip: "1.1.2.92" } },
      ],
      intFlows: "",
    });
    const sw = buildSwitch(validateTopology(JSON.parse(JSON.stringify(spec)), "t.json"), "t.json", newTable, openflowLoader, () => "");
    const [vx, vx2, g] = ["tvx", "tvx2", "tgre"].map((n) => sw.portsByName.get(n)!);
    expect(vx.dpPort).toBe(vx2.dpPort);
    expect(sw.dpPortName(vx.dpPort)).toBe("vxlan_sys_4789");
    expect(sw.dpPortName(g.dpPort)).toBe("gre_sys");
    expect(sw.tunnelPorts.get(vx.dpPort)!.map((p) => p.name)).toEqual(["tvx", "tvx2"]);
  });

  it("names the file and the port when a tunnel option is wrong", () => {
    const spec = JSON.parse(JSON.stringify(base));
    spec.ports[1].options = { remote_ip: "nowhere" };
    expect(() => buildSwitch(validateTopology(spec, "t.json"), "t.json", newTable, openflowLoader, () => "")).toThrow(/^t\.json: port tvx: options:remote_ip must be/);
  });

  it.each([
    [{ underlay: { addresses: [{ bridge: "br-nope", ip: "1.1.1.1/24", mac: "aa:00:00:00:00:01" }] } }, /underlay\.addresses\[0\]: "bridge" must name a bridge/],
    [{ underlay: { routes: [{ prefix: "1.1.1.0/24" }] } }, /underlay\.routes\[0\]: "bridge" must be a string/],
    [{ underlay: { neighbors: [] } }, /underlay: unknown key "neighbors"/],
    [{ underlay: { routes: [{ prefix: "1.1.1.0/24", bridge: "br-phy", via: "x" }] } }, /unknown key "via"/],
  ])("rejects a malformed underlay %j", (patch, message) => {
    const spec = { ...JSON.parse(JSON.stringify(base)), ...patch };
    expect(() => validateTopology(spec, "t.json")).toThrow(message);
    expect(() => validateTopology(spec, "t.json")).toThrow(TopologyError);
  });

  it("reports a bad underlay value when the switch is built", () => {
    const spec = JSON.parse(JSON.stringify(base));
    spec.underlay.routes = [{ prefix: "1.1.1.0/40", bridge: "br-phy" }];
    expect(() => buildSwitch(validateTopology(spec, "t.json"), "t.json", newTable, openflowLoader, () => "")).toThrow(/t\.json: underlay: route 1\.1\.1\.0\/40/);
  });
});
