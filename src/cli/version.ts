/** `flowplane version`: the package version, Node's, and whether the native addon is present. */
import { readFileSync, existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";

/** The package root: two levels above this file in both src/cli and dist/cli. */
export const packageRoot = fileURLToPath(new URL("../../", import.meta.url));

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(`${packageRoot}package.json`, "utf8")) as { version: string };
  return pkg.version;
}

export function registerVersion(program: Command): void {
  program
    .command("version")
    .description("print flowplane's version, Node's version and whether the native addon is built")
    .option("--json", "print as JSON")
    .action((opts: { json?: boolean }) => {
      const info = {
        flowplane: packageVersion(),
        node: process.versions.node,
        nativeAddon: existsSync(`${packageRoot}native/flowplane.node`),
      };
      if (opts.json) process.stdout.write(JSON.stringify(info) + "\n");
      else
        process.stdout.write(
          `flowplane ${info.flowplane} (node ${info.node}; native addon ${info.nativeAddon ? "built" : "not built: live tap/afpacket ports unavailable"})\n`,
        );
    });
}
