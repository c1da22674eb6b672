/**
 * Tunnels through flowplane's datapath where no OVS comparison applies or
 * where the caches are the subject: local_ip (OVS's sandbox has no local
 * routes, see the README), drops without route or neighbour, the caches
 * telling tunnel packets apart by their metadata, underlay changes
 * revalidating cached headers, and refused outer headers being counted.
 */
import { describe, it, expect } from "vitest";
import { eth, ipv4, udp, vxlan, gre, icmpEcho } from "../../src/packet/build.js";
import { Datapath } from "../../src/datapath/dpif.js";
import { Parser, HDR_WORDS } from "../../src/packet/parse.js";
import { xlate } from "../../src/xlate/xlate.js";
import { formatTraceNodes } from "../../src/xlate/trace.js";
import * as L from "../../src/flow/layout.js";
import type { Switch } from "../../src/ofproto/bridge.js";
import { buildTunnelSwitch, runFlowplane, LOCAL_IP, LOCAL_MAC, REMOTE_A, REMOTE_A_MAC, REMOTE_B, type TunnelSetup } from "./fixture.js";

const VM = "fa:16:3e:00:00:01";
const PEER = "fa:16:3e:00:00:02";
const innerTo = (dst: string, sport = 1000): Uint8Array => eth({ src: VM, dst: PEER }, ipv4({ src: "10.0.0.1", dst }, udp({ src: sport, dst: 53 })));
const fromPeer = (n: number): Uint8Array => eth({ src: PEER, dst: VM }, ipv4({ src: "10.0.0.200", dst: `10.0.0.${n}` }, icmpEcho({ id: n, seq: 1 })));
const outerVx = (vni: number, payload: Uint8Array, src = REMOTE_A, sport = 50000): Uint8Array =>
  eth({ src: REMOTE_A_MAC, dst: LOCAL_MAC }, ipv4({ src, dst: LOCAL_IP, df: true }, udp({ src: sport, dst: 4789 }, vxlan({ vni }, payload))));

function traceOf(sw: Switch, port: string, frame: Uint8Array): string {
  const key = new Uint32Array(L.KEY_WORDS);
  new Parser().parseFrame(frame, 0, frame.length, sw.portsByName.get(port)!.dpPort, key, 0, new Uint16Array(HDR_WORDS), 0);
  return formatTraceNodes(xlate({ sw, key, keyBase: 0, nowMs: 0, sideEffects: false, packetSize: frame.length, trace: true }).trace);
}

describe("native tunnels in flowplane's datapath", () => {
  it("uses local_ip as the outer source when it is one of the underlay's addresses", () => {
    const sw = buildTunnelSwitch({
      tunnels: [{ name: "t", ofport: 2, type: "gre", options: { remote_ip: REMOTE_A, local_ip: "1.1.2.77", key: "9" } }],
      intFlows: "in_port=1 actions=output:2\n",
    });
    sw.underlay.addAddress("br-phy", "1.1.2.77/24", LOCAL_MAC);
    const tx = runFlowplane(sw, [{ port: "vm1", frame: innerTo("10.0.0.2") }]);
    expect(tx.p0).toHaveLength(1);
    const out = Buffer.from(tx.p0[0], "hex");
    expect([...out.subarray(26, 30)]).toEqual([1, 1, 2, 77]);
    expect([...out.subarray(30, 34)]).toEqual([1, 1, 2, 92]);
  });

  it("drops with a report when there is no route, or no neighbour for the remote", () => {
    const setup: TunnelSetup = {
      tunnels: [
        { name: "tfar", ofport: 2, type: "vxlan", options: { remote_ip: "9.9.9.9" } },
        { name: "tnoarp", ofport: 3, type: "vxlan", options: { remote_ip: "1.1.2.50" } },
      ],
      intFlows: "in_port=1,udp,tp_src=1 actions=output:2\nin_port=1,udp,tp_src=2 actions=output:3\n",
    };
    const sw = buildTunnelSwitch(setup);
    expect(runFlowplane(sw, [1, 2].map((s) => ({ port: "vm1", frame: innerTo("10.0.0.2", s) })))).toEqual({});
    expect(traceOf(sw, "vm1", innerTo("10.0.0.2", 1))).toContain("native tunnel routing failed");
    expect(traceOf(sw, "vm1", innerTo("10.0.0.2", 2))).toContain("neighbor cache miss for 1.1.2.50 on bridge br-phy");
  });

  it("tells decapsulated packets apart by VNI and source in the caches, as without them", () => {
    const setup: TunnelSetup = {
      tunnels: [
        { name: "ta", ofport: 2, type: "vxlan", options: { remote_ip: REMOTE_A, key: "flow" } },
        { name: "tb", ofport: 3, type: "vxlan", options: { remote_ip: REMOTE_B, key: "flow" } },
        { name: "tg", ofport: 4, type: "gre", options: { remote_ip: "flow", key: "flow" } },
      ],
      intFlows: [
        "in_port=2,tun_id=1 actions=mod_vlan_vid:1,output:1",
        "in_port=2,tun_id=2 actions=mod_vlan_vid:2,output:1",
        "in_port=3 actions=mod_vlan_vid:3,output:1",
        "in_port=4,tun_src=1.1.2.92 actions=mod_vlan_vid:4,output:1",
        "priority=1,in_port=4 actions=mod_vlan_vid:5,output:1",
      ].join("\n"),
    };
    const frames: { port: string; frame: Uint8Array }[] = [];
    // The same inner frame under different tunnel metadata, repeated so the EMC and megaflows serve most.
    for (let round = 0; round < 4; round++) {
      for (const vni of [1, 2, 3]) frames.push({ port: "p0", frame: outerVx(vni, fromPeer(7)) });
      frames.push({ port: "p0", frame: outerVx(1, fromPeer(7), REMOTE_B) });
      frames.push({ port: "p0", frame: eth({ src: REMOTE_A_MAC, dst: LOCAL_MAC }, ipv4({ src: REMOTE_A, dst: LOCAL_IP }, gre({ key: 1 }, fromPeer(7)))) });
      frames.push({ port: "p0", frame: eth({ src: REMOTE_A_MAC, dst: LOCAL_MAC }, ipv4({ src: REMOTE_B, dst: LOCAL_IP }, gre({ key: 1 }, fromPeer(7)))) });
    }
    const vlanOf = (hex: string): number => parseInt(hex.slice(28, 32), 16) & 0xfff;
    const cached = new Datapath(buildTunnelSwitch(setup), { emcInsertInvProb: 1 });
    const uncached = new Datapath(buildTunnelSwitch(setup), { noCache: true });
    const seen: [number[], number[]] = [[], []];
    [cached, uncached].forEach((dp, side) => {
      frames.forEach((f, i) => {
        dp.processBatch(f.frame, Uint32Array.of(0), Uint32Array.of(f.frame.length), Uint32Array.of(dp.sw.portsByName.get(f.port)!.dpPort), 1, i, (_p, b, o, n) => {
          seen[side].push(vlanOf(Buffer.from(b.subarray(o, o + n)).toString("hex")));
        });
      });
    });
    // VNI 3 from A has no flow: dropped. Per round: 1, 2, (3 dropped), tb -> 3, GRE from A -> 4, GRE from B -> 5.
    expect(seen[1]).toEqual(Array(4).fill([1, 2, 3, 4, 5]).flat());
    expect(seen[0]).toEqual(seen[1]);
    expect(cached.stats.emcHits).toBeGreaterThan(0);
  });

  it("rebuilds a cached header when the neighbour's MAC changes", () => {
    const sw = buildTunnelSwitch({ tunnels: [{ name: "t", ofport: 2, type: "vxlan", options: { remote_ip: REMOTE_A, key: "1" } }], intFlows: "in_port=1 actions=output:2\n" });
    const dp = new Datapath(sw, { emcInsertInvProb: 1 });
    const dsts: string[] = [];
    const send = (i: number): void => {
      const f = innerTo("10.0.0.2");
      dp.processBatch(f, Uint32Array.of(0), Uint32Array.of(f.length), Uint32Array.of(sw.portsByName.get("vm1")!.dpPort), 1, i, (_p, b, o) => {
        dsts.push(Buffer.from(b.subarray(o, o + 6)).toString("hex"));
      });
    };
    send(0);
    send(1);
    sw.underlay.setNeighbour("br-phy", REMOTE_A, "02:00:00:00:00:99");
    send(2);
    expect(dsts).toEqual(["f8bc124434b6", "f8bc124434b6", "020000000099"]);
  });

  it("counts outer headers it refuses and delivers nothing for them", () => {
    const sw = buildTunnelSwitch({ tunnels: [{ name: "t", ofport: 2, type: "vxlan", options: { remote_ip: REMOTE_A, key: "1" } }], intFlows: "in_port=2 actions=output:1\n" });
    const dp = new Datapath(sw);
    const good = outerVx(1, fromPeer(1));
    const bad = outerVx(1, fromPeer(1));
    bad[14 + 10] ^= 0xff; // IP header checksum
    const out: number[] = [];
    for (const f of [good, bad, good]) dp.processBatch(f, Uint32Array.of(0), Uint32Array.of(f.length), Uint32Array.of(sw.portsByName.get("p0")!.dpPort), 1, 0, (p) => out.push(p));
    expect(out).toEqual([sw.portsByName.get("vm1")!.dpPort, sw.portsByName.get("vm1")!.dpPort]);
    expect(dp.executor.tunnelPops!.invalid).toBe(1);
  });

  it("decapsulates a whole batch and recirculates the inner packets after it", () => {
    const sw = buildTunnelSwitch({ tunnels: [{ name: "t", ofport: 2, type: "vxlan", options: { remote_ip: REMOTE_A, key: "flow" } }], intFlows: "in_port=2 actions=output:1\n" });
    const dp = new Datapath(sw);
    const frames = Array.from({ length: 32 }, (_, i) => outerVx(i + 1, fromPeer(i + 1), REMOTE_A, 40000 + i));
    const buf = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
    const offsets = new Uint32Array(32);
    const lengths = new Uint32Array(32);
    let at = 0;
    frames.forEach((f, i) => {
      buf.set(f, at);
      offsets[i] = at;
      lengths[i] = f.length;
      at += f.length;
    });
    const got: string[] = [];
    dp.processBatch(buf, offsets, lengths, new Uint32Array(32).fill(sw.portsByName.get("p0")!.dpPort), 32, 0, (_p, b, o, n) => got.push(Buffer.from(b.subarray(o, o + n)).toString("hex")));
    expect(got).toEqual(frames.map((_, i) => Buffer.from(fromPeer(i + 1)).toString("hex")));
  });
});

describe("trace of a packet received on a tunnel", () => {
  it("names the tunnel port the tunnel fields select and shows its actions", async () => {
    const { traceKey, traceText } = await import("../../src/cli/trace.js");
    const sw = buildTunnelSwitch({
      tunnels: [
        { name: "ta", ofport: 2, type: "vxlan", options: { remote_ip: REMOTE_A, key: "5" } },
        { name: "tb", ofport: 3, type: "vxlan", options: { remote_ip: REMOTE_B, key: "5" } },
      ],
      intFlows: "in_port=3 actions=output:1\n",
    });
    const key = traceKey(sw, sw.byName.get("br-int")!, `in_port=tb,tun_id=5,tun_src=${REMOTE_B},tun_dst=${LOCAL_IP},udp`, undefined);
    if (!(key instanceof Uint32Array)) throw new Error(key.error);
    const t = traceText(sw, key, 0, true);
    expect(t.text).toMatch(/^Flow: .*in_port=tb/);
    expect(t.text).toContain(`Datapath actions: ${sw.portsByName.get("vm1")!.name}`);
  });
});
