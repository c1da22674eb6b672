#!/usr/bin/env node
/**
 * Bundles the command line (src/cli/main.ts and everything it imports from
 * src/) into one file, dist/cli/main.js, replacing the file tsc wrote there;
 * run after `tsc -p tsconfig.json` (`npm run build` does both).
 * Why: a timed `flowplane replay` is node start-up plus its own work, and
 * loading ~75 modules one by one (ESM resolution reads a package.json per
 * module, then each is compiled and linked) cost it ~55 ms of CPU.
 * Invariants: the bundle lives where tsc's main.js was (dist/cli/), so
 * import.meta.url paths (version.ts's package root, native.ts's addon,
 * lab.ts's self command) resolve as before; commands still load lazily
 * (esbuild turns the dynamic imports of main.ts into deferred module
 * initialisation), packages under node_modules stay imports. The rest of
 * dist/ (the library API, with its .d.ts) is tsc's, untouched.
 * Usage: node scripts/bundle-cli.mjs
 */
import { build } from "esbuild";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

await build({
  entryPoints: [join(root, "src/cli/main.ts")],
  outfile: join(root, "dist/cli/main.js"),
  allowOverwrite: true,
  bundle: true,
  platform: "node",
  format: "esm",
  // tsconfig.json's target: the code runs as tsc would have emitted it.
  target: "es2022",
  packages: "external",
  sourcemap: true,
  logLevel: "warning",
});
