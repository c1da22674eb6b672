/**
 * Which of the pipeline features the Neutron scenarios rely on flowplane
 * executes today, found by trying each on a one-bridge switch (a frame in on
 * p1 must come out on p2, changed as the feature says):
 *   ct           ct(table=N) runs the packet through conntrack and resumes at N
 *   nat          ct(commit,nat(src=...)) rewrites the source address
 *   conjunction  conjunction(id,k/n) clauses together match conj_id=id
 * `npm start` and the differential tests use this to say why a scenario
 * cannot pass yet instead of failing without explanation.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseCapture, readCapture, writeCapture } from "../io/pcap.js";
import { loadTopology } from "../ofproto/load.js";
import { replay } from "../cli/replay.js";
import { eth, ipv4, udp } from "../packet/build.js";
import type { Capability } from "./scenario.js";

const PROBES: Record<Capability, { flows: string; check: (out: Uint8Array) => boolean }> = {
  ct: {
    flows: "table=0,ip actions=ct(table=1,zone=1)\ntable=1,ct_state=+trk+new,ip actions=output:2\n",
    check: () => true,
  },
  nat: {
    flows: "table=0,ip actions=ct(commit,zone=1,nat(src=10.9.9.9)),output:2\n",
    // IPv4 source address at 14 + 12.
    check: (out) => out[26] === 10 && out[27] === 9 && out[28] === 9 && out[29] === 9,
  },
  conjunction: {
    // Without conjunctive matching the clause flows match and do nothing: no frame reaches p2.
    flows: "table=0,priority=10,ip,nw_src=10.0.0.1 actions=conjunction(5,1/2)\ntable=0,priority=10,udp actions=conjunction(5,2/2)\ntable=0,priority=10,conj_id=5,ip actions=output:2\n",
    check: () => true,
  },
};

function probe(c: Capability): boolean {
  const dir = mkdtempSync(join(tmpdir(), "fp-probe-"));
  try {
    writeFileSync(join(dir, "br0.flows"), PROBES[c].flows);
    writeFileSync(
      join(dir, "topology.json"),
      JSON.stringify({ bridges: [{ name: "br0", flows: "br0.flows" }], ports: [{ name: "p1", bridge: "br0", ofport: 1 }, { name: "p2", bridge: "br0", ofport: 2 }] }),
    );
    const sw = loadTopology(join(dir, "topology.json"));
    const frame = eth({ src: "fa:16:3e:00:00:01", dst: "fa:16:3e:00:00:02" }, ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }, udp({ src: 1000, dst: 2000 })));
    const inPath = join(dir, "in.pcap");
    writeCapture(inPath, [{ data: frame, tsSec: 1700000000 }]);
    replay(sw, [{ port: sw.portsByName.get("p1")!, capture: parseCapture(readFileSync(inPath), inPath) }], { outDir: join(dir, "out") });
    const outPath = join(dir, "out", "p2.pcap");
    if (!existsSync(outPath)) return false;
    const out = readCapture(outPath);
    if (out.count !== 1) return false;
    return PROBES[c].check(out.buffer.subarray(out.offsets[0], out.offsets[0] + out.lengths[0]));
  } catch {
    // A feature that throws when tried is a feature flowplane does not have.
    return false;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The capabilities flowplane lacks, of those given (each probed once per process). */
const known = new Map<Capability, boolean>();
export function missingCapabilities(needs: readonly Capability[]): Capability[] {
  return needs.filter((c) => {
    if (!known.has(c)) known.set(c, probe(c));
    return !known.get(c);
  });
}

/** Why a missing capability is missing: the piece of work that brings it. */
export const CAPABILITY_SOURCE: Record<Capability, string> = {
  ct: "ct() is translated but not executed by replay yet (conntrack engine wired into the datapath: ct-engine, ct-xlate)",
  nat: "ct(nat) does not rewrite packets yet (conntrack NAT in the datapath: ct-engine, ct-xlate)",
  conjunction: "conjunctive matches (conjunction(), conj_id) do not work: see the classifier's lookup (src/classifier/classifier.ts)",
};
