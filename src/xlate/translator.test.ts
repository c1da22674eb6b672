/**
 * The reused translation context (Translator): each run translates as a
 * fresh xlate() does, whatever ran before it on the same context, and the
 * lists a run hands out stay as they were after later runs (the datapath
 * keeps them in its interned results).
 */
import { describe, it, expect } from "vitest";
import { Translator, xlate, type XlateInput, type XlateOutput } from "./xlate.js";
import { formatOdpActions } from "../datapath/actions.js";
import { singleBridge } from "../ofproto/load.js";
import { Parser, HDR_WORDS } from "../packet/parse.js";
import { eth, ipv4, udp, tcp } from "../packet/build.js";
import * as L from "../flow/layout.js";
import type { Switch } from "../ofproto/bridge.js";

const PORTS = [
  { name: "p1", ofport: 1 },
  { name: "p2", ofport: 2 },
  { name: "p3", ofport: 3 },
];

// Rules that rewrite headers, consult different fields, write and clear the action set, and NORMAL.
const FLOWS = [
  "table=0,priority=30,udp,nw_src=10.0.0.1,actions=mod_nw_dst:10.9.9.9,mod_tp_dst:53,output:2",
  "table=0,priority=20,tcp,tp_dst=80,actions=write_actions(output:3),goto_table:1",
  "table=0,priority=10,ip,actions=mod_vlan_vid:7,output:3,strip_vlan,output:2",
  "table=0,priority=0,actions=NORMAL",
  "table=1,priority=5,tcp,nw_dst=10.0.0.2,actions=output:2,clear_actions",
  "table=1,priority=1,actions=mod_dl_src:fa:16:3e:aa:bb:cc",
].join("\n");

const MACS = { src: "fa:16:3e:00:00:01", dst: "fa:16:3e:00:00:02" };
const FRAMES = [
  eth(MACS, ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }, udp({ src: 1000, dst: 2000 }, new Uint8Array(8)))),
  eth(MACS, ipv4({ src: "10.0.0.5", dst: "10.0.0.2" }, tcp({ src: 1000, dst: 80 }))),
  eth(MACS, ipv4({ src: "10.0.0.5", dst: "10.0.0.3" }, tcp({ src: 1000, dst: 80 }))),
  eth(MACS, ipv4({ src: "10.0.0.7", dst: "10.0.0.2" }, udp({ src: 5, dst: 6 }, new Uint8Array(8)))),
  eth({ src: "fa:16:3e:00:00:09", dst: "ff:ff:ff:ff:ff:ff", type: 0x88b5 }, new Uint8Array(46)),
];

function keyOf(sw: Switch, frame: Uint8Array): Uint32Array {
  const key = new Uint32Array(L.KEY_WORDS);
  new Parser().parseFrame(frame, 0, frame.length, sw.portsByName.get("p1")!.dpPort, key, 0, new Uint16Array(HDR_WORDS), 0);
  return key;
}

function inputOf(sw: Switch, key: Uint32Array): XlateInput {
  return { sw, key, keyBase: 0, nowMs: 0, sideEffects: false, packetSize: 64, trace: false };
}

/** What a translation decided, as plain values (a copy: the translator's wc and finalFlow are reused). */
function summary(out: XlateOutput): { actions: string; wc: number[]; finalFlow: number[]; rules: unknown[]; usesMacs: boolean; error: string | null } {
  return {
    actions: formatOdpActions(out.actions),
    wc: Array.from(out.wc),
    finalFlow: Array.from(out.finalFlow),
    rules: out.rules.map((r) => [r.bridge.name, r.table, r.rule.priority]),
    usesMacs: out.usesMacs,
    error: out.error,
  };
}

describe("Translator", () => {
  it("translates each packet as a fresh xlate() does, in any order after any other", () => {
    const sw = singleBridge("t.flows", PORTS, "br0", () => FLOWS);
    const keys = FRAMES.map((f) => keyOf(sw, f));
    const fresh = keys.map((k) => summary(xlate(inputOf(sw, k))));
    // The cases differ from each other, or the test would not show a context leaking state.
    expect(new Set(fresh.map((f) => f.actions)).size).toBe(FRAMES.length);
    const t = new Translator();
    for (const order of [[0, 1, 2, 3, 4], [4, 3, 2, 1, 0], [2, 0, 4, 1, 3, 2, 2, 0]]) {
      for (const i of order) expect(summary(t.run(inputOf(sw, keys[i])))).toEqual(fresh[i]);
    }
  });

  it("leaves the lists an earlier run handed out unchanged", () => {
    const sw = singleBridge("t.flows", PORTS, "br0", () => FLOWS);
    const keys = FRAMES.map((f) => keyOf(sw, f));
    const t = new Translator();
    const first = t.run(inputOf(sw, keys[0]));
    const kept = { actions: first.actions, rules: first.rules, text: formatOdpActions(first.actions), count: first.rules.length };
    for (let i = 1; i < keys.length; i++) t.run(inputOf(sw, keys[i]));
    expect(formatOdpActions(kept.actions)).toBe(kept.text);
    expect(kept.text).toBe("set(ipv4(dst=10.9.9.9)),set(udp(dst=53)),2");
    expect(kept.rules.length).toBe(kept.count);
    expect(kept.rules[0].rule.priority).toBe(30);
  });
});
