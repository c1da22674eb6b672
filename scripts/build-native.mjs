#!/usr/bin/env node
/**
 * Builds the native addon (native/src, Rust) into native/flowplane.node.
 * Invariant: without --strict this never fails the command that runs it
 * (npm install): a missing cargo or a failed build prints one clear line and
 * exits 0, because only tap and afpacket ports need the addon.
 * Design: plain `cargo build --release --offline` and a copy of the shared
 * object, rather than `napi build`, so that it works without
 * devDependencies (an install from the registry) and without the network
 * (the crate has no dependencies). `npx napi build --release` inside
 * native/ produces the same file. The copy goes through a temporary file
 * and a rename, so a process that has the old addon loaded keeps a valid
 * mapping.
 * Usage: node scripts/build-native.mjs [--strict]
 *   --strict  show cargo's output and exit 1 when the addon was not built
 *             (for `npm run build:native`, where failing is the point).
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, renameSync, rmSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const nativeDir = join(root, "native");
const targetDir = join(nativeDir, "target");
const built = join(targetDir, "release", "libflowplane_native.so");
const output = join(nativeDir, "flowplane.node");
const strict = process.argv.includes("--strict");
/** Lines of cargo's output shown when a quiet build fails. */
const ERROR_LINES_MAX = 20;

function notBuilt(reason) {
  console.log(`flowplane: ${reason}; the native addon (tap/afpacket ports) was not built; everything else works`);
  process.exit(strict ? 1 : 0);
}

if (process.platform !== "linux") notBuilt(`the native addon is Linux-only (this is ${process.platform})`);
if (!existsSync(join(nativeDir, "Cargo.toml"))) notBuilt("native/Cargo.toml is missing");

const probe = spawnSync("cargo", ["--version"], { stdio: "ignore" });
if (probe.error !== undefined || probe.status !== 0) {
  if (strict) console.log("flowplane: install the Rust toolchain (https://rustup.rs) to build the native addon");
  notBuilt("cargo not found");
}

const build = spawnSync(
  "cargo",
  ["build", "--release", "--offline", "--manifest-path", join(nativeDir, "Cargo.toml"), "--target-dir", targetDir],
  { cwd: nativeDir, stdio: strict ? "inherit" : "pipe", encoding: "utf8" },
);
if (build.error !== undefined || build.status !== 0 || !existsSync(built)) {
  if (!strict) {
    const text = `${build.stderr ?? ""}${build.stdout ?? ""}`.trim();
    const errors = text.split("\n").filter((line) => /^error/.test(line));
    const lines = (errors.length > 0 ? errors : text.split("\n")).slice(-ERROR_LINES_MAX);
    if (build.error !== undefined) lines.push(String(build.error));
    for (const line of lines) if (line !== "") console.log(`  ${line}`);
  }
  notBuilt(`cargo build failed${strict ? "" : " (run `npm run build:native` for the full output)"}`);
}

const temporary = `${output}.${process.pid}.tmp`;
try {
  copyFileSync(built, temporary);
  renameSync(temporary, output);
} catch (error) {
  rmSync(temporary, { force: true });
  notBuilt(`copying ${built} to ${output} failed (${error.message})`);
}
console.log(`flowplane: native addon built: ${relative(process.cwd(), output) || output}`);
