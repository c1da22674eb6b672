/**
 * Meter syntax (parse-meter.ts): the forms ovs-ofctl(8) documents, the
 * text dump-meters prints, and errors that name the place. OVS's own
 * answers to the same texts are compared in test/ovs/meter-mods.test.ts.
 */
import { describe, it, expect } from "vitest";
import { parseMeter, parseMeters, parseMeterSelection, formatMeter } from "./parse-meter.js";
import { FlowSyntaxError } from "./errors.js";
import { OFPM13_ALL, OFPM13_SLOWPATH, OFPMF13_BURST, OFPMF13_KBPS, OFPMF13_STATS } from "../openflow/meter.js";

function reasonOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof FlowSyntaxError) return e.message;
    throw e;
  }
  throw new Error("expected a FlowSyntaxError");
}

describe("meter syntax", () => {
  it("parses flags and bands and prints them as dump-meters does", () => {
    const m = parseMeter("meter=2,kbps,burst,stats,bands=type=drop,rate=100,burst_size=20 type=drop,rate=0x20,burst_size=1", "add");
    expect(m).toEqual({
      meterId: 2,
      flags: OFPMF13_KBPS | OFPMF13_BURST | OFPMF13_STATS,
      bands: [
        { type: 1, rate: 100, burstSize: 20, precLevel: 0 },
        { type: 1, rate: 32, burstSize: 1, precLevel: 0 },
      ],
    });
    expect(formatMeter(m)).toBe("meter=2 kbps burst stats bands=\ntype=drop rate=100 burst_size=20\ntype=drop rate=32 burst_size=1");
    // What dump-meters prints parses back to the same meter.
    expect(parseMeter(formatMeter(m), "add")).toEqual(m);
    expect(formatMeter(parseMeter("meter=slowpath pktps band=type=dscp_remark rate=5 prec_level=2", "add"))).toBe(
      "meter=slowpath pktps bands=\ntype=dscp_remark rate=5 prec_level=2",
    );
  });

  it("selects one meter or all for del-meters and dump-meters", () => {
    expect(parseMeterSelection("", "delete")).toBe(OFPM13_ALL);
    expect(parseMeterSelection("meter=all", "delete")).toBe(OFPM13_ALL);
    expect(parseMeterSelection("meter=7", "dump")).toBe(7);
    expect(parseMeterSelection("meter=slowpath", "delete")).toBe(OFPM13_SLOWPATH);
    expect(reasonOf(() => parseMeterSelection("meter=7,kbps", "delete"))).toBe("<input>:1:9: field kbps missing value");
    expect(reasonOf(() => parseMeterSelection("meter=7,bands=type=drop", "delete"))).toBe("<input>:1:9: unknown keyword bands");
  });

  it("refuses bad text with OVS's words and the place", () => {
    expect(reasonOf(() => parseMeter("meter=1,pktps,bands=type=drop,rate=1,colour=2", "add", { fileName: "m.txt", lineNumber: 3 }))).toBe("m.txt:3:38: unknown keyword colour");
    expect(reasonOf(() => parseMeter("meter=0xffff0001,pktps,bands=type=drop,rate=1", "add"))).toMatch(/invalid value for meter/);
    expect(reasonOf(() => parseMeter("meter=1,pktps,bands=type=drop,rate=1,prec_level=300", "add"))).toMatch(/invalid prec_level "300"/);
    expect(reasonOf(() => parseMeter("pktps,bands=type=drop,rate=1", "add"))).toMatch(/must specify 'meter'/);
    expect(reasonOf(() => parseMeter("meter=1,pktps,bands=", "add"))).toMatch(/meter must have bands/);
    expect(reasonOf(() => parseMeter("meter=1,pktps,bands=type", "add"))).toMatch(/field type missing value/);
  });

  it("reads a meters file, skipping comments and blank lines, naming the bad line", () => {
    expect(parseMeters("# meters\n\nmeter=1,pktps,bands=type=drop,rate=1\nmeter=2 kbps bands=type=drop rate=9 # slow\n").map((m) => m.meterId)).toEqual([1, 2]);
    expect(reasonOf(() => parseMeters("meter=1,pktps,bands=type=drop,rate=1\nmeter=2,bands=type=drop,rate=1\n", "br.meters"))).toBe(
      "br.meters:2:1: meter must specify either 'kbps' or 'pktps'",
    );
  });
});
