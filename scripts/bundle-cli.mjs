#!/usr/bin/env node
/**
 * Bundles the command line (src/cli/main.ts and everything it imports from
 * src/) into dist/cli/main.js, replacing the file tsc wrote there, and a few
 * shared chunks beside it (dist/cli/chunk-*.js); run after
 * `tsc -p tsconfig.json` (`npm run build` does both).
 * Why: a timed `flowplane replay` is node start-up plus its own work, and
 * loading ~75 modules one by one (ESM resolution reads a package.json per
 * module, then each is compiled and linked) cost it ~55 ms of CPU.
 * Invariants: the bundle lives where tsc's main.js was (dist/cli/), chunks
 * included, so import.meta.url paths (version.ts's package root,
 * native.ts's addon, lab.ts's self command) resolve as before; commands
 * still load only what they use: main.ts's dynamic imports become chunks
 * (a single file made a replay load every command's modules and the node
 * built-ins they import, http, child_process, worker_threads: ~8 ms more).
 * Packages under node_modules stay imports. The rest of dist/ (the library
 * API, with its .d.ts) is tsc's, untouched.
 * Usage: node scripts/bundle-cli.mjs
 */
import { build } from "esbuild";
import { readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outdir = join(root, "dist/cli");

// Chunks of an earlier build (their names are hashes of their content).
for (const f of readdirSync(outdir)) if (f.startsWith("chunk-")) rmSync(join(outdir, f));

await build({
  entryPoints: [join(root, "src/cli/main.ts")],
  outdir,
  entryNames: "[name]",
  chunkNames: "chunk-[hash]",
  allowOverwrite: true,
  bundle: true,
  splitting: true,
  platform: "node",
  format: "esm",
  // tsconfig.json's target: the code runs as tsc would have emitted it.
  target: "es2022",
  packages: "external",
  sourcemap: true,
  logLevel: "warning",
});
