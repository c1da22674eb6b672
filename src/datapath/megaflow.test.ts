import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { MegaflowCache } from "./megaflow.js";
import { Emc } from "./emc.js";
import { emcHash } from "./hash.js";
import { DP_WORDS, KEY_WORDS } from "../flow/layout.js";
import { COMPARE_WORDS } from "./emc.js";
import { Parser, HDR_WORDS, HDR_REGIONS } from "../packet/parse.js";

/** A brute-force model: the first (mask, key) pair that matches. */
function matches(key: Uint32Array, mask: Uint32Array, mkey: Uint32Array): boolean {
  for (let w = 0; w < DP_WORDS; w++) if (((key[w] & mask[w]) >>> 0) !== mkey[w]) return false;
  return true;
}

const MASK_WORDS = [0, 36, 37, 40, 46, 47, 57, 66];

describe("MegaflowCache", () => {
  it("finds a megaflow for every key it covers and none for others", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            words: fc.subarray(MASK_WORDS, { minLength: 1 }),
            maskBits: fc.constantFrom(0xffffffff, 0xffff0000, 0xff),
            values: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 8, maxLength: 8 }),
          }),
          { minLength: 1, maxLength: 30 },
        ),
        fc.array(fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 8, maxLength: 8 }), { minLength: 1, maxLength: 30 }),
        (flows, probes) => {
          const cache = new MegaflowCache(1000);
          const installed: { id: number; mask: Uint32Array; mkey: Uint32Array }[] = [];
          for (const f of flows) {
            const mask = new Uint32Array(KEY_WORDS);
            const key = new Uint32Array(KEY_WORDS);
            f.words.forEach((w) => (mask[w] = f.maskBits));
            MASK_WORDS.forEach((w, i) => (key[w] = f.values[i] * 0x01010101));
            const mkey = key.map((x, i) => x & mask[i]);
            // Like translation, never install a megaflow that an earlier one already covers.
            if (installed.some((m) => matches(key, m.mask, m.mkey))) continue;
            const id = cache.insert(key, 0, mask, 0);
            expect(id).toBeGreaterThanOrEqual(0);
            installed.push({ id, mask, mkey });
          }
          for (const p of probes) {
            const key = new Uint32Array(KEY_WORDS);
            MASK_WORDS.forEach((w, i) => (key[w] = p[i] * 0x01010101));
            const got = cache.lookup(key, 0);
            const want = installed.filter((m) => matches(key, m.mask, m.mkey)).map((m) => m.id);
            if (want.length === 0) expect(got).toBe(-1);
            else expect(want).toContain(got);
          }
        },
      ),
      { seed: 42, numRuns: 200 },
    );
  });

  it("answers a batch as the brute-force model does, with megaflows removed and re-added between batches", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            words: fc.subarray(MASK_WORDS, { minLength: 1 }),
            maskBits: fc.constantFrom(0xffffffff, 0xffffffff, 0xffff0000, 0xff),
            values: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 8, maxLength: 8 }),
            removeAfter: fc.integer({ min: 0, max: 4 }),
          }),
          { minLength: 1, maxLength: 30 },
        ),
        fc.array(fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 8, maxLength: 8 }), { minLength: 1, maxLength: 32 }),
        (flows, probes) => {
          const cache = new MegaflowCache(1000);
          let installed: { id: number; mask: Uint32Array; mkey: Uint32Array; removeAfter: number }[] = [];
          const keys = new Uint32Array(probes.length * KEY_WORDS);
          probes.forEach((p, i) => MASK_WORDS.forEach((w, j) => (keys[i * KEY_WORDS + w] = p[j] * 0x01010101)));
          const flowsOut = new Int32Array(32);
          for (let round = 0; round < 5; round++) {
            for (const f of flows) {
              const mask = new Uint32Array(KEY_WORDS);
              const key = new Uint32Array(KEY_WORDS);
              f.words.forEach((w) => (mask[w] = f.maskBits));
              MASK_WORDS.forEach((w, i) => (key[w] = ((f.values[i] + round) & 3) * 0x01010101));
              const mkey = key.map((x, i) => x & mask[i]);
              if (installed.some((m) => matches(key, m.mask, m.mkey))) continue;
              installed.push({ id: cache.insert(key, 0, mask, 0), mask, mkey, removeAfter: f.removeAfter });
            }
            flowsOut.fill(-1);
            cache.lookupBatch(keys, KEY_WORDS, flowsOut, probes.length);
            for (let i = 0; i < probes.length; i++) {
              const key = keys.subarray(i * KEY_WORDS, (i + 1) * KEY_WORDS);
              const want = installed.filter((m) => matches(key, m.mask, m.mkey)).map((m) => m.id);
              if (want.length === 0) expect(flowsOut[i]).toBe(-1);
              else expect(want).toContain(flowsOut[i]);
            }
            for (const m of installed) if (m.removeAfter === round) cache.remove(m.id);
            installed = installed.filter((m) => m.removeAfter !== round);
          }
        },
      ),
      { seed: 43, numRuns: 200 },
    );
  });

  it("finds the megaflows of a port that first appears in a subtable already in use, and forgets them when removed", () => {
    const cache = new MegaflowCache(100);
    const mask = new Uint32Array(KEY_WORDS);
    mask[0] = 0xffffffff;
    mask[46] = 0xffffffff;
    const key = new Uint32Array(KEY_WORDS);
    key[46] = 0x0a000001;
    const ids: number[] = [];
    for (let port = 1; port <= 40; port++) {
      key[0] = port;
      ids.push(cache.insert(key, 0, mask, 0));
      for (let p = 1; p <= port; p++) {
        key[0] = p;
        expect(cache.lookup(key, 0)).toBe(ids[p - 1]);
      }
    }
    const batch = new Uint32Array(2 * KEY_WORDS);
    batch[0] = 7;
    batch[46] = 0x0a000001;
    batch[KEY_WORDS] = 41;
    batch[KEY_WORDS + 46] = 0x0a000001;
    const found = new Int32Array([-1, -1]);
    expect(cache.lookupBatch(batch, KEY_WORDS, found, 2)).toBe(1);
    expect(Array.from(found)).toEqual([ids[6], -1]);
    cache.remove(ids[6]);
    found.fill(-1);
    expect(cache.lookupBatch(batch, KEY_WORDS, found, 2)).toBe(0);
  });

  it("reuses ids with a new generation after removal, and forgets removed flows", () => {
    const cache = new MegaflowCache(4);
    const mask = new Uint32Array(KEY_WORDS);
    mask[0] = 0xffffffff;
    const key = new Uint32Array(KEY_WORDS);
    key[0] = 7;
    const id = cache.insert(key, 0, mask, 0);
    const gen = cache.gens[id];
    expect(cache.lookup(key, 0)).toBe(id);
    cache.remove(id);
    expect(cache.lookup(key, 0)).toBe(-1);
    expect(cache.isAlive(id, gen)).toBe(false);
    key[0] = 8;
    const id2 = cache.insert(key, 0, mask, 0);
    expect(id2).toBe(id);
    expect(cache.isAlive(id2, gen)).toBe(false);
    expect(cache.isAlive(id2, cache.gens[id2])).toBe(true);
  });

  it("refuses inserts beyond its limit", () => {
    const cache = new MegaflowCache(2);
    const mask = new Uint32Array(KEY_WORDS);
    mask[0] = 0xffffffff;
    const key = new Uint32Array(KEY_WORDS);
    for (let i = 0; i < 2; i++) {
      key[0] = i;
      expect(cache.insert(key, 0, mask, 0)).toBeGreaterThanOrEqual(0);
    }
    key[0] = 9;
    expect(cache.insert(key, 0, mask, 0)).toBe(-1);
  });

  it("survives many inserts and removals in one subtable (tombstones, rehash)", () => {
    const cache = new MegaflowCache(10000);
    const mask = new Uint32Array(KEY_WORDS);
    mask[46] = 0xffffffff;
    const key = new Uint32Array(KEY_WORDS);
    const ids = new Map<number, number>();
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 2000; i++) {
        key[46] = round * 100000 + i;
        ids.set(key[46], cache.insert(key, 0, mask, 0));
      }
      for (let i = 0; i < 2000; i += 2) {
        const k = round * 100000 + i;
        cache.remove(ids.get(k)!);
        ids.delete(k);
      }
    }
    for (const [k, id] of ids) {
      key[46] = k;
      expect(cache.lookup(key, 0)).toBe(id);
    }
    key[46] = 2; // removed
    expect(cache.lookup(key, 0)).toBe(-1);
    expect(cache.count).toBe(ids.size);
  });
});

describe("Emc", () => {
  it("answers only for the exact key, and only while the megaflow lives", () => {
    const emc = new Emc(1);
    const key = new Uint32Array(KEY_WORDS);
    key[0] = 1;
    key[46] = 0x0a000001;
    const h = emcHash(key, 0, 0);
    let alive = true;
    emc.maybeInsert(key, 0, h, 0, 5, 3, () => alive);
    const slot = emc.lookup(key, 0, h, 0);
    expect(slot).toBeGreaterThanOrEqual(0);
    expect(emc.flows[slot]).toBe(5);
    expect(emc.gens[slot]).toBe(3);
    const other = key.slice();
    other[46] = 0x0a000002;
    expect(emc.lookup(other, 0, emcHash(other, 0, 0), 0)).toBe(-1);
    alive = false;
    expect(emc.lookup(key, 0, h, 0)).toBe(slot); // the caller checks liveness with the generation
  });

  it("inserts about 1 in insertInvProb", () => {
    const emc = new Emc(100);
    const key = new Uint32Array(KEY_WORDS);
    let inserted = 0;
    for (let i = 0; i < 20000; i++) {
      key[46] = i;
      const h = emcHash(key, 0, 0);
      emc.maybeInsert(key, 0, h, 0, 1, 1, () => true);
      if (emc.lookup(key, 0, h, 0) >= 0) inserted++;
    }
    expect(inserted).toBeGreaterThan(100);
    expect(inserted).toBeLessThan(400);
  });

  it("is off with insertInvProb 0", () => {
    const emc = new Emc(0);
    expect(emc.enabled).toBe(false);
    expect(emc.sampleInsert()).toBe(false);
  });

  it("samples every hit for insertion with insertInvProb 1, and 1 in N with N", () => {
    const always = new Emc(1);
    for (let i = 0; i < 100; i++) expect(always.sampleInsert()).toBe(true);
    const some = new Emc(10);
    let n = 0;
    for (let i = 0; i < 10000; i++) if (some.sampleInsert()) n++;
    expect(n).toBeGreaterThan(800);
    expect(n).toBeLessThan(1200);
  });
});

describe("key regions", () => {
  it("a parsed key is zero outside the words its regions declare (the EMC compares only those)", () => {
    const parser = new Parser(2);
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 160 }),
        fc.constantFrom(0x0800, 0x86dd, 0x0806, 0x8847, 0x8100, 0x88a8, 0x0000),
        fc.constantFrom(0, 1, 6, 17, 58, 0, 43, 44, 60),
        (bytes, ethType, proto) => {
          const f = new Uint8Array(Math.max(bytes.length, 14));
          f.set(bytes);
          f[12] = ethType >> 8;
          f[13] = ethType & 0xff;
          if (f.length > 23 && ethType === 0x0800) {
            f[14] = 0x45;
            f[23] = proto;
          }
          if (f.length > 20 && ethType === 0x86dd) f[20] = proto;
          const keys = new Uint32Array(KEY_WORDS);
          const hdrs = new Uint16Array(HDR_WORDS);
          parser.parseFrame(f, 0, bytes.length, 3, keys, 0, hdrs, 0);
          const allowed = new Set(COMPARE_WORDS[hdrs[HDR_REGIONS]]);
          for (let w = 0; w < DP_WORDS; w++) if (!allowed.has(w)) expect(keys[w], `word ${w}`).toBe(0);
        },
      ),
      { seed: 7, numRuns: 5000 },
    );
  });
});
