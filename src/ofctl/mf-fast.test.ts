/**
 * setMatchFieldFast must make exactly the match that the general path
 * (parseFieldValue then setMatchField) makes, for every text it accepts,
 * and must accept only texts the general path accepts. Checked over every
 * field, starting from matches that already pin other bits of the same word
 * (vlan, nw, tp words are shared), with texts of every form: plain, leading
 * zeros, signs, octal, long hex, masks, prefixes, names, garbage.
 */
import { describe, expect, it } from "vitest";
import { Match } from "../flow/match.js";
import { KEY_WORDS } from "../flow/layout.js";
import { fieldWords } from "../flow/fields.js";
import { mulberry32 } from "../util/prng.js";
import { OVS_FIELDS, parseFieldValue, setMatchField, setMatchFieldFast, type OvsField } from "./mf.js";

const PORT_NAMES = new Map([
  ["br0", 0xfffe],
  ["tap1", 7],
]);

const hex2 = (n: number): string => (n & 0xff).toString(16).padStart(2, "0");

function texts(f: OvsField, rnd: () => number): string[] {
  const bits = Math.min(32, f.nBytes * 8);
  const num = (): number => (bits === 32 ? rnd() : rnd() & ((1 << bits) - 1)) >>> 0;
  const big = (): number => rnd() >>> 0;
  const out: string[] = [];
  for (let i = 0; i < 6; i++) {
    const v = num();
    const m = num();
    out.push(
      `${v}`,
      `0x${v.toString(16)}`,
      `0X${v.toString(16).toUpperCase()}`,
      `${v}/${m}`,
      `0x${v.toString(16)}/0x${m.toString(16)}`,
      `0${v}`,
      `+${v}`,
      `-${v}`,
      `0x${big().toString(16)}${big().toString(16)}`,
      `${big()}${rnd() % 10}`,
      `0x00000000${v.toString(16)}`,
      `${v}/0`,
      `${v}/`,
      `/${v}`,
      `${(rnd() >>> 24) & 255}.${rnd() & 255}.${rnd() & 511}.${rnd() & 255}`,
      `10.${rnd() & 255}.${rnd() & 255}.0/${rnd() % 40}`,
      `10.${rnd() & 255}.0.0/0${rnd() % 10}`,
      `10.${rnd() & 255}.0.0/255.255.${rnd() & 255}.0`,
      `10.0.0.1/0x18`,
      `1.2.3`,
      `1.2.3.4.5`,
      `fa:16:3e:${hex2(rnd())}:${hex2(rnd())}:${hex2(rnd())}`,
      `${hex2(rnd())}:${hex2(rnd())}:${hex2(rnd())}:${hex2(rnd())}:${hex2(rnd())}:${hex2(rnd())}/ff:ff:ff:00:00:${hex2(rnd())}`,
      `1:2:3:4:5:6`,
      `1:2:3:4:5`,
      `1:2:3:4:5:6:7`,
      `01:00:00:00:00:00/01:00:00:00:00:00`,
      `0x${big().toString(16)}${big().toString(16).padStart(8, "0")}`,
      `0x${big().toString(16)}${big().toString(16).padStart(8, "0")}/0x${big().toString(16)}${big().toString(16).padStart(8, "0")}`,
      `0x${(big() & 0xffff).toString(16)}${big().toString(16).padStart(8, "0")}`,
      `0x1${big().toString(16).padStart(8, "0")}${big().toString(16).padStart(8, "0")}`,
    );
  }
  out.push("0", "00", "0x", "0x0", "*", "", "br0", "tap1", "LOCAL", "65535", "65279", "65280", "4294967295", "4294967296", "1 ", " 1", "1/-1");
  return out;
}

/** A match with every bit of the field's word set to random values first, so a write that spills over shows. */
function seeded(f: OvsField, rnd: () => number): Match {
  const m = new Match();
  for (let w = f.def.word; w < f.def.word + fieldWords(f.def); w++) {
    const mask = rnd() >>> 0;
    m.mask[w] = mask;
    m.value[w] = (rnd() & mask) >>> 0;
  }
  return m;
}

function words(m: Match): number[] {
  return [...m.value.slice(0, KEY_WORDS), ...m.mask.slice(0, KEY_WORDS)];
}

describe("setMatchFieldFast", () => {
  it("agrees with parseFieldValue + setMatchField on every text it accepts, and changes nothing otherwise", () => {
    const rnd = mulberry32(5);
    let accepted = 0;
    for (const f of OVS_FIELDS) {
      for (const text of texts(f, rnd)) {
        const fast = seeded(f, rnd);
        const slow = fast.clone();
        const before = words(fast);
        const took = setMatchFieldFast(fast, f, text, PORT_NAMES);
        if (!took) {
          expect(words(fast), `${f.name}=${text} left unchanged`).toEqual(before);
          continue;
        }
        accepted++;
        const fv = parseFieldValue(f, text, 0, PORT_NAMES);
        setMatchField(slow, f, fv.value, fv.mask);
        expect(words(fast), `${f.name}=${text}`).toEqual(words(slow));
      }
    }
    // The fast path must actually take the common forms.
    expect(accepted).toBeGreaterThan(1000);
  });

  it("takes the forms of a Neutron flows file", () => {
    const cases: [string, string][] = [
      ["in_port", "5"],
      ["in_port", "tap1"],
      ["reg5", "0x1f"],
      ["nw_src", "10.1.2.0/24"],
      ["nw_dst", "172.16.0.0/255.240.0.0"],
      ["tp_dst", "443"],
      ["tcp_dst", "0x1000/0xf000"],
      ["nw_proto", "6"],
      ["dl_src", "fa:16:3e:00:01:02"],
      ["metadata", "0x1f"],
      ["tun_id", "0x123456789abcdef0/0xffffffff00000000"],
    ];
    for (const [name, text] of cases) {
      const f = OVS_FIELDS.find((x) => x.name === name || x.names.includes(name))!;
      expect(setMatchFieldFast(new Match(), f, text, PORT_NAMES), `${name}=${text}`).toBe(true);
    }
  });
});
