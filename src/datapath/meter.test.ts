/**
 * Datapath meters (meter.ts) against dp_netdev_run_meter's arithmetic,
 * worked out by hand in each case, and the id pool ofproto-dpif uses.
 */
import { describe, it, expect } from "vitest";
import { DpMeters } from "./meter.js";
import { parseMeter } from "../ofctl/parse-meter.js";

const meter = (text: string) => parseMeter(text, "add");
/** Runs `count` packets of `size` bytes at nowMs; returns how many passed. */
function pass(m: DpMeters, id: number, count: number, size: number, nowMs: number): number {
  let n = 0;
  for (let i = 0; i < count; i++) if (m.run(id, size, nowMs)) n++;
  return n;
}

describe("datapath meters", () => {
  it("hands out the lowest free id, and an id given back goes to the next meter", () => {
    const m = new DpMeters();
    expect([m.allocId(), m.allocId(), m.allocId()]).toEqual([0, 1, 2]);
    m.freeId(1);
    expect(m.allocId()).toBe(1);
    // Past the first arrays' size: they grow, and earlier meters keep their state.
    expect(m.set(1, meter("meter=1,pktps,bands=type=drop,rate=2"))).toBeNull();
    expect(pass(m, 1, 1, 64, 0)).toBe(1);
    for (let i = 3; i < 40; i++) expect(m.allocId()).toBe(i);
    expect(m.set(39, meter("meter=9,pktps,bands=type=drop,rate=1"))).toBeNull();
    expect(pass(m, 1, 2, 64, 0)).toBe(1);
    expect(pass(m, 39, 2, 64, 0)).toBe(1);
  });

  it("refuses bands the userspace datapath cannot run", () => {
    const m = new DpMeters();
    expect(m.set(0, meter("meter=1,kbps,bands=type=dscp_remark,rate=5,prec_level=1"))).toBe("OFPMMFC_BAD_BAND");
    expect(m.has(0)).toBe(false);
    // A meter the datapath lacks passes everything.
    expect(pass(m, 0, 10, 64, 0)).toBe(10);
    expect(pass(m, 12345, 10, 64, 0)).toBe(10);
  });

  it("fires the exceeded band with the highest rate, the first of equal rates", () => {
    const m = new DpMeters();
    m.set(0, meter("meter=1,pktps,bands=type=drop,rate=5 type=drop,rate=20"));
    // 25 packets at once: 1-5 pass, 6-20 exceed only the rate-5 band, 21-25 both: the rate-20 band fires.
    expect(pass(m, 0, 25, 100, 0)).toBe(5);
    expect(m.stats(0)).toEqual({ packets: 25, bytes: 2500, bands: [{ packets: 15, bytes: 1500 }, { packets: 5, bytes: 500 }] });
    m.set(1, meter("meter=2,pktps,bands=type=drop,rate=3 type=drop,rate=3"));
    expect(pass(m, 1, 4, 100, 0)).toBe(3);
    expect(m.stats(1)!.bands).toEqual([{ packets: 1, bytes: 100 }, { packets: 0, bytes: 0 }]);
  });

  it("counts time in whole ms and refills for at most floor(burst * 1000 / rate) ms", () => {
    const m = new DpMeters();
    // pktps rate 3 burst 10: bucket 10000, refill cap floor(10000 / 3) = 3333 ms -> 9999 from empty.
    m.set(0, meter("meter=1,pktps,burst,bands=type=drop,rate=3,burst_size=10"));
    expect(pass(m, 0, 12, 64, 1000.9)).toBe(10);
    // An hour later: 0 + 3333 * 3 = 9999, one short of 10 packets.
    expect(pass(m, 0, 12, 64, 3_601_000.9)).toBe(9);
    // The 999 left over: 0.2 ms later is 1 whole ms by the clock (floor 3601001 - floor 3601000): 1002, one packet.
    expect(pass(m, 0, 2, 64, 3_601_001.1)).toBe(1);
    // Time going backwards refills nothing.
    expect(pass(m, 0, 1, 64, 5)).toBe(0);
  });

  it("measures kbps in bits of the whole frame and starts over full when set again", () => {
    const m = new DpMeters();
    // kbps rate 8, no burst flag: burst 8 kbit = 8000 bits = 1000 bytes.
    m.set(0, meter("meter=1,kbps,bands=type=drop,rate=8"));
    expect(pass(m, 0, 3, 400, 0)).toBe(2);
    // 8000 - 2 * 3200 = 1600 bits left (the third frame left it so): a 201-byte frame does not fit, a 200-byte one does.
    expect(m.run(0, 201, 0)).toBe(false);
    expect(m.run(0, 200, 0)).toBe(true);
    // 10 ms at 8 kbit/s is 80 bits: 10 bytes.
    expect(m.run(0, 11, 10)).toBe(false);
    expect(m.run(0, 10, 10)).toBe(true);
    m.set(0, meter("meter=1,kbps,bands=type=drop,rate=8"));
    expect(pass(m, 0, 3, 400, 10)).toBe(2);
  });
});
