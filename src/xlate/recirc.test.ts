import { describe, it, expect } from "vitest";
import * as L from "../flow/layout.js";
import { RecircIds, freezeMetadata, thawMetadata, type FrozenState } from "./recirc.js";
import type { Bridge } from "../ofproto/bridge.js";

const bridge = { name: "br0" } as unknown as Bridge;

function state(reg0: number, tableId = 1): FrozenState {
  const flow = new Uint32Array(L.KEY_WORDS);
  flow[L.W_IN_PORT] = 3;
  flow[L.W_REGS] = reg0;
  return { bridge, tableId, ...freezeMetadata(flow), stack: [], actionSet: [], conntracked: true };
}

describe("recirculation ids", () => {
  it("gives equal frozen states one id while it is referenced, counting from 1", () => {
    const ids = new RecircIds();
    expect(ids.alloc(state(5))).toBe(1);
    expect(ids.alloc(state(5))).toBe(1);
    expect(ids.alloc(state(6))).toBe(2);
    expect(ids.alloc(state(5, 2))).toBe(3);
    expect(ids.find(2)?.regs[0]).toBe(6);
  });

  it("forgets an id with its last reference and never reuses it", () => {
    const ids = new RecircIds();
    const a = ids.alloc(state(5));
    ids.alloc(state(5));
    ids.unref(a);
    expect(ids.find(a)).not.toBeNull();
    ids.unref(a);
    expect(ids.find(a)).toBeNull();
    expect(ids.ref(a)).toBe(false);
    expect(ids.alloc(state(5))).toBe(a + 1);
    expect(ids.count).toBe(1);
  });

  it("thaws the metadata it froze", () => {
    const s = state(0x1234);
    const flow = new Uint32Array(L.KEY_WORDS);
    thawMetadata(s, flow);
    expect(flow[L.W_IN_PORT]).toBe(3);
    expect(flow[L.W_REGS]).toBe(0x1234);
  });
});
