/**
 * Shared benchmark plumbing. Every suite (bench/NAME.bench.ts) default-exports
 * `run(): Promise<Figure[]>`; bench/run.mjs prints each figure as
 * `SUITE/NAME: VALUE UNIT` (or JSON). Units are base units: pps, lookups/s,
 * conn/s, s, B, ratio.
 */
import { Bench } from "tinybench";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

export interface Figure {
  name: string;
  value: number;
  unit: "pps" | "lookups/s" | "conn/s" | "s" | "B" | "ratio";
}

/**
 * Times `fn` with tinybench and returns items per second, where one call of
 * `fn` handles `itemsPerCall` items (packets, lookups, connections).
 */
export async function ratePerSecond(fn: () => void, itemsPerCall: number, timeMs = 1000): Promise<number> {
  const bench = new Bench({ time: timeMs, warmupTime: 200 });
  bench.add("task", fn);
  await bench.run();
  const result = bench.tasks[0].result as unknown as { period?: number; latency?: { mean: number }; error?: unknown };
  if (result.error) throw result.error;
  const msPerCall = result.period ?? result.latency?.mean;
  if (!msPerCall) throw new Error("benchmark produced no timing");
  return (itemsPerCall * 1000) / msPerCall;
}

/** When a suite file is run directly (npx tsx bench/X.bench.ts), print its figures. */
export async function runIfMain(suite: string, url: string, run: () => Promise<Figure[]>): Promise<void> {
  const { pathToFileURL } = await import("node:url");
  if (process.argv[1] && pathToFileURL(process.argv[1]).href === url) {
    for (const f of await run()) console.log(`${suite}/${f.name}: ${formatValue(f.value)} ${f.unit}`);
  }
}

export function formatValue(v: number): string {
  return Number.isInteger(v) || Math.abs(v) >= 1000 ? v.toFixed(0) : v.toPrecision(4);
}

/**
 * A full garbage collection on demand, whether or not node ran with
 * --expose-gc: memory figures must compare heaps with no garbage left in them.
 */
export function gcFunction(): () => void {
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
}
