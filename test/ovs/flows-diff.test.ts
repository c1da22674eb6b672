/**
 * Differential: every packet of the bundled captures (pcaps/) and of the
 * shared real-world captures (../shared/pcaps) is traced by a private Open
 * vSwitch 3.1 (dummy datapath) with `ofproto/trace br0 in_port=1 <hex>`; the
 * text after "Flow: " must equal `flowplane flows` byte for byte, and a packet
 * OVS refuses must be one flowplane prints as "ERROR: <the same message>".
 * Needs OVS: skipped without it, except in CI (CI=true), where it fails.
 */
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { OvsSandbox } from "./harness.js";
import { readCapture, type Capture } from "../../src/io/pcap.js";
import { flowLines } from "../../src/cli/flows.js";

const ROOT = join(import.meta.dirname, "../..");
const SHARED = join(ROOT, "../shared/pcaps");
const haveOvs = OvsSandbox.available();
if (!haveOvs && process.env.CI === "true") throw new Error("Open vSwitch is not installed (scripts/install-test-deps.sh installs it)");

function captures(): string[] {
  const dirs = [join(ROOT, "pcaps")];
  if (existsSync(SHARED)) dirs.push(SHARED);
  const files: string[] = [];
  for (const d of dirs) for (const f of readdirSync(d).sort()) if (/\.pcap(ng)?$/.test(f)) files.push(join(d, f));
  return files;
}

function tryRead(path: string): Capture | null {
  try {
    return readCapture(path);
  } catch {
    return null; // a file the reader refuses as a whole (non-Ethernet link type) has no packets to trace
  }
}

describe.skipIf(!haveOvs)("flows vs. Open vSwitch ofproto/trace", () => {
  let ovs: OvsSandbox;
  beforeAll(async () => {
    ovs = await OvsSandbox.start();
    await ovs.addBridge("br0", { ports: [{ name: "p1", ofport: 1 }] });
  });
  afterAll(async () => {
    await ovs?.stop();
  });

  for (const path of captures()) {
    it(path.slice(path.lastIndexOf("/") + 1), async () => {
      const capture = tryRead(path);
      if (!capture) return;
      const ours = [...flowLines(capture, { inPort: 1, vlanLimit: 1, json: false })];
      const inputs = [];
      for (let i = 0; i < capture.count; i++) {
        const hex = Buffer.from(capture.buffer.subarray(capture.offsets[i], capture.offsets[i] + capture.lengths[i])).toString("hex");
        inputs.push({ inPort: 1, packetHex: hex });
      }
      const traces = await ovs.traceMany("br0", inputs, { concurrency: 6 });
      const theirs = traces.map((t) => (t.flowLine !== null ? t.flowLine : `ERROR: ${t.error}`));
      expect(ours).toEqual(theirs);
    });
  }
});
