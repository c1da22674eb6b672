/**
 * Differential: tunnels and connection tracking together, through Open
 * vSwitch 3.1 and flowplane. br-int sends every IPv4 packet through
 * ct(table=1,zone=5,nat): a VM's new connection is committed with SNAT to
 * 10.9.9.9 and leaves VXLAN-encapsulated (tnl_push after the recirculated
 * pass); decapsulated replies (tnl_pop, then ct and recirculation on the
 * inner packet) are un-NATed and reach the VM tagged; an unsolicited packet
 * from the tunnel is dropped.
 *
 * flowplane runs the inputs one batch per phase (VM's first packets, the
 * tunnel's replies, the VM's next packets), with the caches and without,
 * so the batch fast path, the tunnel's pop queue and ct's recirculation
 * meet in one batch.
 */
import { describe, it, expect } from "vitest";
import { haveOvs } from "./check.js";
import { Datapath } from "../../src/datapath/dpif.js";
import { addLearnedFlow } from "../../src/ofproto/load.js";
import type { Switch } from "../../src/ofproto/bridge.js";
import { eth, ipv4, udp, tcp, vxlan } from "../../src/packet/build.js";
import { buildTunnelSwitch, setupOvsTunnels, LOCAL_IP, LOCAL_MAC, REMOTE_A, REMOTE_A_MAC, type TunnelSetup } from "../tunnel/fixture.js";
import { tunnelSandbox, ovsReceiveAll } from "../tunnel/ovs-side.js";

const VM_MAC = "fa:16:3e:00:00:01";
const PEER_MAC = "fa:16:3e:00:00:02";
const SNAT_IP = "10.9.9.9";

const setup: TunnelSetup = {
  tunnels: [{ name: "tvx", ofport: 2, type: "vxlan", options: { remote_ip: REMOTE_A, key: "123" } }],
  intFlows: [
    "table=0,priority=10,in_port=1,ip actions=ct(table=1,zone=5,nat)",
    "table=0,priority=10,in_port=2,ip actions=ct(table=1,zone=5,nat)",
    "table=0,priority=0 actions=drop",
    `table=1,priority=10,in_port=1,ct_state=+trk+new,ip actions=ct(commit,zone=5,nat(src=${SNAT_IP})),output:2`,
    "table=1,priority=10,in_port=1,ct_state=+trk+est,ip actions=output:2",
    "table=1,priority=10,in_port=2,ct_state=+trk+est,ip actions=mod_vlan_vid:2,output:1",
    "table=1,priority=0 actions=drop",
  ].join("\n"),
};

const fromVm = (l4: Parameters<typeof ipv4>[1], n: number) => ({ port: "vm1", frame: eth({ src: VM_MAC, dst: PEER_MAC }, ipv4({ src: `10.0.0.${n}`, dst: "10.0.0.200" }, l4)) });
const fromTunnel = (l4: Parameters<typeof ipv4>[1], dst: string, sport: number) => ({
  port: "p0",
  frame: eth(
    { src: REMOTE_A_MAC, dst: LOCAL_MAC },
    ipv4({ src: REMOTE_A, dst: LOCAL_IP, df: true }, udp({ src: sport, dst: 4789 }, vxlan({ vni: 123 }, eth({ src: PEER_MAC, dst: VM_MAC }, ipv4({ src: "10.0.0.200", dst }, l4))))),
  ),
});

/** The phases, each one flowplane batch; OVS receives them in the same order. */
const phases = [
  [fromVm(udp({ src: 1001, dst: 53 }), 1), fromVm(tcp({ src: 5555, dst: 80, seq: 100, flags: "S" }), 2), fromVm(udp({ src: 1002, dst: 53 }), 1)],
  [
    fromTunnel(udp({ src: 53, dst: 1001 }), SNAT_IP, 50000),
    fromTunnel(udp({ src: 53, dst: 777 }), "10.0.0.3", 50001),
    fromTunnel(tcp({ src: 80, dst: 5555, seq: 900, ack: 101, flags: "SA" }), SNAT_IP, 50002),
    fromTunnel(udp({ src: 53, dst: 1002 }), SNAT_IP, 50003),
  ],
  [fromVm(tcp({ src: 5555, dst: 80, seq: 101, ack: 901, flags: "A" }), 2), fromVm(udp({ src: 1001, dst: 53 }), 1)],
];

/** Each phase as one batch through a fresh datapath; tx per port, hex. */
function runBatches(sw: Switch, noCache: boolean): Record<string, string[]> {
  const dp = new Datapath(sw, { onLearn: addLearnedFlow, noCache });
  const tx: Record<string, string[]> = {};
  const emit = (port: number, buf: Uint8Array, off: number, len: number): void => {
    (tx[sw.dpPortName(port)!] ??= []).push(Buffer.from(buf.subarray(off, off + len)).toString("hex"));
  };
  phases.forEach((phase, p) => {
    const buf = Buffer.concat(phase.map((i) => i.frame));
    const offsets = new Uint32Array(phase.length);
    const lengths = Uint32Array.from(phase, (i) => i.frame.length);
    for (let i = 1; i < phase.length; i++) offsets[i] = offsets[i - 1] + lengths[i - 1];
    const inPorts = Uint32Array.from(phase, (i) => sw.portsByName.get(i.port)!.dpPort);
    dp.processBatch(buf, offsets, lengths, inPorts, phase.length, 1000 + p, emit);
  });
  return tx;
}

describe.skipIf(!haveOvs)("tunnels with connection tracking vs. Open vSwitch", () => {
  const sandbox = tunnelSandbox((ovs) => setupOvsTunnels(ovs, setup));

  it("SNATs and encapsulates the VM's connections, decapsulates and un-NATs the replies, drops the unsolicited", async () => {
    const ovs = sandbox();
    const theirs = await ovsReceiveAll(ovs, phases.flat(), ["p0", "vm1"]);
    // OVS: every VM packet leaves encapsulated; the three replies arrive, the unsolicited packet does not.
    expect(theirs.p0).toHaveLength(5);
    expect(theirs.vm1).toHaveLength(3);
    for (const noCache of [false, true]) {
      const ours = runBatches(buildTunnelSwitch(setup), noCache);
      expect(ours.p0 ?? [], `p0, noCache=${noCache}`).toEqual(theirs.p0);
      expect(ours.vm1 ?? [], `vm1, noCache=${noCache}`).toEqual(theirs.vm1);
    }
  }, 60_000);
});
