/**
 * `flowplane flows` against Open vSwitch 3.1's recorded Flow: lines for the
 * shared real-world captures (../shared/pcaps/expected/<file>.flows, made with
 * `ofproto/trace br0 in_port=1 <packet>`). Read in place; skipped when the
 * shared folder is absent (it is not part of the repository), except in CI.
 */
import { describe, it, expect } from "vitest";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { readCapture } from "../src/io/pcap.js";
import { flowLines } from "../src/cli/flows.js";
import { PcapFormatError } from "../src/errors.js";

const SHARED = join(import.meta.dirname, "../../shared/pcaps");
const present = existsSync(join(SHARED, "expected"));
if (!present && process.env.CI === "true") throw new Error(`shared captures missing at ${SHARED} (CI must have them)`);

describe.skipIf(!present)("flows equal Open vSwitch's Flow: lines for the shared captures", () => {
  const files = present ? readdirSync(SHARED).filter((f) => /\.pcap(ng)?$/.test(f)) : [];
  it("has captures to compare", () => {
    expect(files.length).toBeGreaterThan(40);
  });
  for (const file of files) {
    it(file, () => {
      const expected = readFileSync(join(SHARED, "expected", `${file}.flows`), "utf8").trimEnd().split("\n");
      const fileLevel = expected.length === 1 && /^ERROR: link type/.test(expected[0]);
      if (fileLevel) {
        // OVS's tooling refused the whole file; so does the reader, with the same words.
        expect(() => readCapture(join(SHARED, file))).toThrow(PcapFormatError);
        expect(() => readCapture(join(SHARED, file))).toThrow(expected[0].slice("ERROR: ".length));
        return;
      }
      const capture = readCapture(join(SHARED, file));
      const lines = [...flowLines(capture, { inPort: 1, vlanLimit: 1, json: false })];
      expect(lines).toEqual(expected);
    });
  }
});
