/**
 * The tunnel suite's decap and encap workloads (bench/tunnel.bench.ts: 64-byte
 * inner frames, 32 flows, batches of 32, every packet an EMC hit) timed in
 * CPU time (process.cpuUsage) rather than wall time, for checkouts compared
 * on a shared machine: each checkout runs in its own process, the processes
 * alternate, and each figure is its best round.
 *
 *   node --import tsx bench/tunnel-cpu.ts [ROUNDS] DIR...
 *     e.g. git archive main | tar -x -C /tmp/main && ln -s $PWD/node_modules /tmp/main/
 *          node --import tsx bench/tunnel-cpu.ts 3 /tmp/main .
 * Prints one JSON line per checkout and round: packets per CPU second.
 * TUNNEL_CASES=vxlan-decap,gre-decap runs only those cases (e.g. under --cpu-prof).
 * The workload is built from each checkout's own src/ and test/tunnel/fixture.ts.
 */
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

const BATCH = 32;
const SLOT = 192;
const CASES: [string, "vxlan" | "gre" | "plain", "encap" | "decap"][] = [
  ["vxlan-decap", "vxlan", "decap"],
  ["gre-decap", "gre", "decap"],
  ["vxlan-encap", "vxlan", "encap"],
  ["plain-forward", "plain", "encap"],
];
/** CPU time per measured round, and rounds per case within one process. */
const ROUND_CPU_US = 400_000;
const ROUNDS_IN_PROCESS = 5;

/** Packets per CPU second of each case, with the modules of the checkout at `root` (loaded by path: typed any). */
async function measure(root: string): Promise<Record<string, number>> {
  const load = (p: string): Promise<any> => import(pathToFileURL(resolve(root, p)).href);
  const { Datapath } = await load("src/datapath/dpif.ts");
  const { eth, ipv4, udp, vxlan, gre } = await load("src/packet/build.ts");
  const fx = await load("test/tunnel/fixture.ts");
  const inner = (i: number, toVm: boolean): Uint8Array =>
    toVm
      ? eth({ src: "fa:16:3e:00:00:02", dst: "fa:16:3e:00:00:01", padTo: 64 }, ipv4({ src: "10.0.0.2", dst: "10.0.0.1" }, udp({ src: 2000, dst: 1000 + i }, new Uint8Array(18))))
      : eth({ src: "fa:16:3e:00:00:01", dst: "fa:16:3e:00:00:02", padTo: 64 }, ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }, udp({ src: 1000 + i, dst: 2000 }, new Uint8Array(18))));
  const outer = (kind: string, i: number): Uint8Array => {
    const l4 = kind === "vxlan" ? udp({ src: 50000 + i, dst: 4789, checksum: 0 }, vxlan({ vni: 123 }, inner(i, true))) : gre({ key: 456 }, inner(i, true));
    return eth({ src: fx.REMOTE_A_MAC, dst: fx.LOCAL_MAC }, ipv4({ src: fx.REMOTE_A, dst: fx.LOCAL_IP, df: true }, l4));
  };
  const out: Record<string, number> = {};
  const only = process.env.TUNNEL_CASES?.split(",");
  for (const [name, kind, dir] of CASES) {
    if (only !== undefined && !only.includes(name)) continue;
    const sw = fx.buildTunnelSwitch({
      tunnels: [
        { name: "tvx", ofport: 2, type: "vxlan", options: { remote_ip: fx.REMOTE_A, key: "123" } },
        { name: "tgre", ofport: 3, type: "gre", options: { remote_ip: fx.REMOTE_A, key: "456" } },
      ],
      intFlows: `in_port=1 actions=output:${kind === "vxlan" ? 2 : kind === "gre" ? 3 : "LOCAL"}\nin_port=2 actions=output:1\nin_port=3 actions=output:1\n`,
      phyFlows: "in_port=LOCAL actions=output:1\nin_port=1 actions=LOCAL\n",
    });
    const dp = new Datapath(sw, { emcInsertInvProb: 1 });
    const buf = new Uint8Array(SLOT * BATCH);
    const offsets = new Uint32Array(BATCH);
    const lengths = new Uint32Array(BATCH);
    const inPorts = new Uint32Array(BATCH).fill(sw.portsByName.get(dir === "encap" ? "vm1" : "p0").dpPort);
    for (let i = 0; i < BATCH; i++) {
      const f = dir === "encap" ? inner(i, false) : outer(kind, i);
      buf.set(f, i * SLOT);
      offsets[i] = i * SLOT;
      lengths[i] = f.length;
    }
    let outputs = 0;
    const count = (): void => {
      outputs++;
    };
    const run = (n: number): void => {
      for (let i = 0; i < n; i++) dp.processBatch(buf, offsets, lengths, inPorts, BATCH, 0, count);
    };
    run(2000);
    if (outputs !== 2000 * BATCH) throw new Error(`${name}: ${outputs} outputs for ${2000 * BATCH} packets`);
    let best = 0;
    for (let r = 0; r < ROUNDS_IN_PROCESS; r++) {
      let batches = 0;
      const c0 = process.cpuUsage();
      let us = 0;
      while (us < ROUND_CPU_US) {
        run(1000);
        batches += 1000;
        const c1 = process.cpuUsage(c0);
        us = c1.user + c1.system;
      }
      best = Math.max(best, (batches * BATCH * 1e6) / us);
    }
    out[name] = Math.round(best);
  }
  return out;
}

const args = process.argv.slice(2);
if (args[0] === "--child") {
  console.log(JSON.stringify(await measure(args[1])));
} else {
  const rounds = args.length > 0 && /^\d+$/.test(args[0]) ? Number(args.shift()) : 3;
  const dirs = args.length > 0 ? args : ["."];
  for (let r = 0; r < rounds; r++) {
    for (const dir of dirs) {
      const child = spawnSync(process.execPath, [...process.execArgv, process.argv[1], "--child", resolve(dir)], { encoding: "utf8" });
      if (child.status !== 0) throw new Error(`${dir}: ${child.stderr}`);
      console.log(`${dir} ${child.stdout.trim()}`);
    }
  }
}
