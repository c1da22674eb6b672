#!/usr/bin/env node
// Runs benchmark suites: `npm run bench` (all) or `npm run bench -- SUITE [SUITE...] [--json]`.
// Each bench/SUITE.bench.ts default-exports run(): Promise<{name, value, unit}[]>.
// Prints `SUITE/NAME: VALUE UNIT` per figure, or with --json only a JSON array on stdout.
import { readdirSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { dirname, join } from "node:path";

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const json = args.includes("--json");
const wanted = args.filter((a) => !a.startsWith("--"));
if (args.includes("--help") || args.includes("-h")) {
  console.log("usage: npm run bench -- [SUITE ...] [--json]\nsuites: " + suites().join(", "));
  process.exit(0);
}

// A suite is SUITE.bench.ts plus any SUITE.PART.bench.ts (parts written separately, printed as SUITE/NAME).
function suites() {
  return [...new Set(benchFiles().map((f) => f.split(".")[0]))].sort();
}

function benchFiles() {
  return readdirSync(here).filter((f) => f.endsWith(".bench.ts")).sort();
}

const available = suites();
for (const w of wanted) {
  if (!available.includes(w)) {
    console.error(`bench: no suite "${w}" (have: ${available.join(", ")})`);
    process.exit(2);
  }
}
const chosen = wanted.length ? wanted : available;
const figures = [];
for (const suite of chosen) {
  const results = [];
  for (const file of benchFiles().filter((f) => f.split(".")[0] === suite)) {
    const mod = await import(pathToFileURL(join(here, file)).href);
    results.push(...(await mod.default()));
  }
  for (const r of results) {
    const figure = { suite, name: r.name, value: r.value, unit: r.unit };
    figures.push(figure);
    if (!json) console.log(`${suite}/${r.name}: ${Number.isInteger(r.value) || Math.abs(r.value) >= 1000 ? r.value.toFixed(0) : r.value.toPrecision(4)} ${r.unit}`);
  }
}
if (json) process.stdout.write(JSON.stringify(figures) + "\n");
