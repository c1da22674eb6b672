/**
 * The exact-match cache compares a key's metadata by region: recirc_id and
 * conntrack words (REGION_META) apart from the tunnel words
 * (REGION_TUNNEL), the ct_ipv6 words only for IPv6 keys (REGION_IPV6 too,
 * which any key with them declares). A key hits only the entry of the same words and the same
 * region bits; a difference in any word of a declared region misses.
 */
import { describe, it, expect } from "vitest";
import { Emc } from "./emc.js";
import { emcHash } from "./hash.js";
import { Parser, HDR_WORDS, HDR_REGIONS, REGION_IPV6, REGION_META, REGION_TUNNEL, REGION_TUNNEL_IPV6 } from "../packet/parse.js";
import { eth, ipv4, ipv6, udp } from "../packet/build.js";
import * as L from "../flow/layout.js";

function parsedKey(v6 = false): { key: Uint32Array; regions: number } {
  const l3 = v6 ? ipv6({ src: "fd00::1", dst: "fd00::2" }, udp({ src: 1000, dst: 53 })) : ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }, udp({ src: 1000, dst: 53 }));
  const f = eth({ src: "fa:16:3e:00:00:01", dst: "fa:16:3e:00:00:02" }, l3);
  const key = new Uint32Array(L.KEY_WORDS);
  const hdrs = new Uint16Array(HDR_WORDS);
  new Parser().parseFrame(f, 0, f.length, 3, key, 0, hdrs, 0);
  return { key, regions: hdrs[HDR_REGIONS] };
}

const alive = (): boolean => true;

function inserted(key: Uint32Array, regions: number): Emc {
  const emc = new Emc(1);
  emc.maybeInsert(key, 0, emcHash(key, 0, regions), regions, 7, 1, alive);
  return emc;
}

const found = (emc: Emc, key: Uint32Array, regions: number): boolean => emc.lookup(key, 0, emcHash(key, 0, regions), regions) >= 0;

describe("the exact-match cache's metadata regions", () => {
  it("finds a recirculated key after ct by its recirc_id and ct words, and misses on any of them changed", () => {
    const { key, regions } = parsedKey();
    key[L.W_RECIRC_ID] = 1;
    key[L.W_CT] = (1 << 16) | (17 << 8) | 0x22;
    key[L.W_CT_NW_SRC] = 0x0a000001;
    key[L.W_CT_TP] = (1000 << 16) | 53;
    const r = regions | REGION_META;
    const emc = inserted(key, r);
    expect(found(emc, key, r)).toBe(true);
    for (const w of [L.W_RECIRC_ID, L.W_SKB_PRIORITY, L.W_PKT_MARK, L.W_CT, L.W_CT_MARK, L.W_CT_LABEL + 3, L.W_CT_NW_DST, L.W_CT_TP]) {
      const other = key.slice();
      other[w] ^= 0x100;
      expect(found(emc, other, r)).toBe(false);
    }
    // The same words without the region bit are another key.
    expect(found(emc, key, regions)).toBe(false);
  });

  it("compares an IPv6 key's ct_ipv6 words", () => {
    const { key, regions } = parsedKey(true);
    expect(regions & REGION_IPV6).toBe(REGION_IPV6);
    key[L.W_RECIRC_ID] = 1;
    key[L.W_CT] = (1 << 16) | (17 << 8) | 0x22;
    key[L.W_CT_IPV6_SRC + 3] = 1;
    key[L.W_CT_IPV6_DST + 3] = 2;
    const r = regions | REGION_META;
    const emc = inserted(key, r);
    expect(found(emc, key, r)).toBe(true);
    for (let w = L.W_CT_IPV6_SRC; w < L.W_CT_IPV6_DST + 4; w++) {
      const other = key.slice();
      other[w] ^= 0x100;
      expect(found(emc, other, r), `word ${w}`).toBe(false);
    }
  });

  it("finds a decapsulated key by its tunnel words, and misses on any of them changed", () => {
    const { key, regions } = parsedKey();
    key[L.W_TUN_ID + 1] = 123;
    key[L.W_TUN_SRC] = 0x01010259;
    key[L.W_TUN_DST] = 0x01010258;
    key[L.W_TUN_FLAGS] = (8 << 16) | 64;
    const r = regions | REGION_TUNNEL;
    const emc = inserted(key, r);
    expect(found(emc, key, r)).toBe(true);
    for (const w of [L.W_TUN_ID, L.W_TUN_ID + 1, L.W_TUN_SRC, L.W_TUN_DST, L.W_TUN_FLAGS, L.W_TUN_TP]) {
      const other = key.slice();
      other[w] ^= 0x100;
      expect(found(emc, other, r)).toBe(false);
    }
    expect(found(emc, key, r | REGION_META)).toBe(false);
  });

  it("compares the tunnel's IPv6 addresses of a key that declares them", () => {
    const { key, regions } = parsedKey();
    key[L.W_TUN_ID + 1] = 123;
    key[L.W_TUN_IPV6_SRC] = 0xfd000000;
    key[L.W_TUN_IPV6_DST + 3] = 2;
    const r = regions | REGION_TUNNEL | REGION_TUNNEL_IPV6;
    const emc = inserted(key, r);
    expect(found(emc, key, r)).toBe(true);
    for (let w = L.W_TUN_IPV6_SRC; w < L.W_TUN_IPV6_DST + 4; w++) {
      const other = key.slice();
      other[w] ^= 0x100;
      expect(found(emc, other, r), `word ${w}`).toBe(false);
    }
    expect(found(emc, key, regions | REGION_TUNNEL)).toBe(false);
  });

  it("compares both metadata regions of a recirculated decapsulated key", () => {
    const { key, regions } = parsedKey();
    key[L.W_RECIRC_ID] = 2;
    key[L.W_TUN_ID + 1] = 9;
    const r = regions | REGION_META | REGION_TUNNEL;
    const emc = inserted(key, r);
    expect(found(emc, key, r)).toBe(true);
    for (const w of [L.W_RECIRC_ID, L.W_TUN_ID + 1]) {
      const other = key.slice();
      other[w] = 0;
      expect(found(emc, other, r)).toBe(false);
    }
  });
});
