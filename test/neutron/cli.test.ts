/**
 * `flowplane neutron sg-flows` and `router-flows` as a user runs them: the
 * built CLI as a child process, printing what the compilers give, explaining
 * the JSON with --help, and refusing bad files with one line naming the
 * file and the item.
 */
import { describe, it, expect, beforeAll } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadSgInput, loadRouterInput } from "../../src/neutron/load.js";
import { compileSecurityGroups } from "../../src/neutron/sg-flows.js";
import { compileRouter } from "../../src/neutron/router-flows.js";

const ROOT = join(import.meta.dirname, "../..");
const CLI = join(ROOT, "dist/cli/main.js");
const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: "utf8" });

describe("flowplane neutron", () => {
  beforeAll(() => {
    if (!existsSync(CLI)) {
      const b = spawnSync("npx", ["tsc", "-p", "tsconfig.json"], { cwd: ROOT, encoding: "utf8" });
      if (b.status !== 0) throw new Error(`build failed: ${b.stdout}${b.stderr}`);
    }
  });

  it("sg-flows prints the compiled br-int flows, one per line", () => {
    const r = run("neutron", "sg-flows", "pcaps/neutron/sg.json");
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(compileSecurityGroups(loadSgInput(join(ROOT, "pcaps/neutron/sg.json"))).join("\n") + "\n");
    expect(r.stdout).toMatch(/^table=82, priority=77,ct_state=\+new-est,tcp,reg5=0x1,tp_dst=22 actions=ct\(commit/m);
  });

  it("router-flows prints the router bridge's flows", () => {
    const r = run("neutron", "router-flows", "pcaps/neutron/router.json");
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(compileRouter(loadRouterInput(join(ROOT, "pcaps/neutron/router.json"))).join("\n") + "\n");
  });

  it("explains the JSON with --help", () => {
    const sg = run("neutron", "sg-flows", "--help");
    expect(sg.status).toBe(0);
    for (const k of ["fixed_ips", "vlan_tag", "port_security_enabled", "remote_group_id", "port_range_min", "allowed_address_pairs"]) expect(sg.stdout).toContain(k);
    const rt = run("neutron", "router-flows", "--help");
    for (const k of ["gateway_ip", "floating_ips", "next_hop_mac", "enable_snat", "metadata"]) expect(rt.stdout).toContain(k);
  });

  it("refuses a bad file in one line naming the file and the item", () => {
    const dir = mkdtempSync(join(tmpdir(), "fp-neutron-cli-"));
    const bad = join(dir, "sg.json");
    writeFileSync(bad, JSON.stringify({ ports: [{ name: "tap-x", ofport: 1, mac: "fa:16:3e:00:00:01", fixed_ips: ["10.0.0.300"], vlan_tag: 1 }] }));
    const r = run("neutron", "sg-flows", bad);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`flowplane: ${bad}: ports[0] (tap-x): fixed_ips[0]: "10.0.0.300" is not an IPv4 or IPv6 address\n`);
    writeFileSync(bad, "{ not json");
    expect(run("neutron", "router-flows", bad).stderr).toMatch(/not valid JSON/);
    expect(run("neutron", "sg-flows", join(dir, "missing.json")).stderr).toMatch(/missing.json: no such file or directory/);
  });
});
