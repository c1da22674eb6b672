/**
 * The recirculated pass sees the packet's headers as they are when it
 * recirculates: copied from the key when nothing changed them, from the
 * key NAT updated, or parsed again after a header action. Each case sends
 * a first packet (upcalls) and then the same packet through the caches,
 * and checks where it went and its bytes (built with the expected headers).
 */
import { describe, it, expect } from "vitest";
import { Datapath } from "./dpif.js";
import { singleBridge } from "../ofproto/load.js";
import { eth, ipv4, udp } from "../packet/build.js";

const PORTS = [
  { name: "p1", ofport: 1 },
  { name: "p2", ofport: 2 },
  { name: "p3", ofport: 3 },
];
const MACS = { src: "fa:16:3e:00:00:01", dst: "fa:16:3e:00:00:02", padTo: 64 };

function frame(src: string, dst: string, sport: number, dport: number): Uint8Array {
  return eth(MACS, ipv4({ src, dst }, udp({ src: sport, dst: dport }, new Uint8Array(18))));
}

/** Sends `f` in on p1 `times` times; returns the outputs as [ofport, bytes]. */
function send(flows: string[], f: Uint8Array, times: number): [number, number[]][] {
  const sw = singleBridge("recirc.flows", PORTS, "br0", () => flows.join("\n"));
  const dp = new Datapath(sw, { emcInsertInvProb: 1 });
  const ofportOf = new Map<number, number>();
  for (const p of PORTS) ofportOf.set(sw.portsByName.get(p.name)!.dpPort, p.ofport);
  const out: [number, number[]][] = [];
  const emit = (port: number, buf: Uint8Array, off: number, len: number): void => {
    out.push([ofportOf.get(port)!, Array.from(buf.subarray(off, off + len))]);
  };
  for (let i = 0; i < times; i++) {
    dp.processBatch(f, Uint32Array.of(0), Uint32Array.of(f.length), Uint32Array.of(sw.portsByName.get("p1")!.dpPort), 1, i, emit);
  }
  expect(dp.stats.recirculations).toBe(times);
  return out;
}

describe("recirculated pass headers", () => {
  it("matches on the headers a packet arrived with when no action changed them", () => {
    const flows = [
      "table=0,priority=10,ip,ct_state=-trk,actions=ct(commit,zone=1,table=1)",
      "table=1,priority=10,udp,ct_state=+trk,nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_src=1000,tp_dst=2000,actions=output:2",
      "table=1,priority=1,actions=output:3",
    ];
    const f = frame("10.0.0.1", "10.0.0.2", 1000, 2000);
    const out = send(flows, f, 3);
    expect(out).toEqual([
      [2, Array.from(f)],
      [2, Array.from(f)],
      [2, Array.from(f)],
    ]);
  });

  it("matches on the translated address and port after ct(nat) rewrote them", () => {
    const flows = [
      "table=0,priority=10,ip,ct_state=-trk,actions=ct(commit,zone=1,nat(dst=10.9.9.9:8080),table=1)",
      "table=1,priority=10,udp,nw_dst=10.9.9.9,tp_dst=8080,actions=output:2",
      "table=1,priority=1,actions=output:3",
    ];
    const out = send(flows, frame("10.0.0.1", "10.0.0.2", 1000, 2000), 3);
    const natted = Array.from(frame("10.0.0.1", "10.9.9.9", 1000, 8080));
    expect(out).toEqual([
      [2, natted],
      [2, natted],
      [2, natted],
    ]);
  });

  it("matches on a header an action rewrote before ct", () => {
    const flows = [
      "table=0,priority=10,ip,ct_state=-trk,actions=mod_nw_dst:10.7.7.7,ct(zone=1,table=1)",
      "table=1,priority=10,ip,nw_dst=10.7.7.7,actions=output:2",
      "table=1,priority=1,actions=output:3",
    ];
    const out = send(flows, frame("10.0.0.1", "10.0.0.2", 1000, 2000), 2);
    const rewritten = Array.from(frame("10.0.0.1", "10.7.7.7", 1000, 2000));
    expect(out).toEqual([
      [2, rewritten],
      [2, rewritten],
    ]);
  });
});
