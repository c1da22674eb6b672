import { describe, expect, it } from "vitest";
import { parseIPv6, parseIntString, plainDecimal, plainNumberRange, splitItems, strToInt, strToU16, strToU32, strToU64, strToUintDecimal } from "./lex.js";
import { TextError } from "./errors.js";

describe("splitItems", () => {
  it("splits key=value, key:value, key(value) and bare keys with their offsets", () => {
    expect(splitItems("a=1, b:2,c(d,e(f)),g", 10)).toEqual([
      { key: "a", value: "1", keyAt: 10, valueAt: 12, delim: "=" },
      { key: "b", value: "2", keyAt: 15, valueAt: 17, delim: ":" },
      { key: "c", value: "d,e(f)", keyAt: 19, valueAt: 21, delim: "(" },
      { key: "g", value: "", keyAt: 29, valueAt: 30, delim: "" },
    ]);
  });

  it("keeps a parenthesised value running into ->dst (learn's load)", () => {
    expect(splitItems("load(x)->y,z").map((i) => [i.key, i.value])).toEqual([
      ["load", "x)->y"],
      ["z", ""],
    ]);
  });
});

describe("numbers as OVS reads them", () => {
  it("accepts hex and octal in str_to_u16 and names the value in errors", () => {
    expect(strToU16("0x10", "priority", 0)).toBe(16);
    expect(strToU16("010", "priority", 0)).toBe(8);
    expect(() => strToU16("65536", "priority", 0)).toThrow(new TextError(0, "65536", 'invalid priority "65536"'));
  });

  it("reads plain decimals (the fast path) as strtoull does, and leaves other forms to it", () => {
    expect(strToInt("0")).toBe(0);
    expect(strToInt("123456789")).toBe(123456789);
    expect(strToInt("2147483647")).toBe(2147483647);
    expect(strToInt("2147483648")).toBe(null);
    expect(strToInt("0010")).toBe(8);
    expect(strToInt("08")).toBe(null);
    expect(strToInt("+7")).toBe(7);
    expect(strToInt("-7")).toBe(-7);
    expect(strToInt("7 ")).toBe(null);
    expect(strToUintDecimal("0010")).toBe(10);
    expect(strToUintDecimal("4294967295")).toBe(4294967295);
    expect(strToUintDecimal("0x10")).toBe(null);
    expect(plainDecimal("12a")).toBe(-1);
    expect(plainNumberRange("x0x1fy", 1, 5)).toBe(31);
    expect(plainNumberRange("0x123456789", 0, 11)).toBe(-1);
  });

  it("truncates str_to_u32 like the C code does", () => {
    expect(strToU32("4294967296", 0)).toBe(0);
    expect(() => strToU32("", 0)).toThrow("missing required numeric argument");
  });

  it("reads long hex for wide fields and reports range errors", () => {
    expect(parseIntString("0x0000000000000000000001", 4)).toEqual({ value: 1n, tail: 24 });
    expect(parseIntString("0x100000000", 4)).toBe("range");
    expect(parseIntString("abc", 4)).toBe("syntax");
  });

  // Short numbers are read in doubles and long ones in bigints: both sides of the switch.
  it("reads numbers of every length exactly, up to 64 bits", () => {
    expect(strToU64("18446744073709551615", 0)).toBe(0xffffffffffffffffn);
    expect(strToU64("0xfedcba9876543210", 0)).toBe(0xfedcba9876543210n);
    expect(strToU64("01777777777777777777777", 0)).toBe(0xffffffffffffffffn);
    expect(strToU64("9007199254740993", 0)).toBe(9007199254740993n);
    expect(strToU64("-1", 0)).toBe(0xffffffffffffffffn);
    expect(() => strToU64("18446744073709551616", 0)).toThrow("invalid numeric format 18446744073709551616");
    expect(() => strToU64("12z", 0)).toThrow("invalid numeric format 12z");
    expect(parseIntString("0x1fffffffffffff1", 8)).toEqual({ value: 0x1fffffffffffff1n, tail: 17 });
    expect(parseIntString("0x00abcdef0123456789", 8)).toEqual({ value: 0xabcdef0123456789n, tail: 20 });
    expect(parseIntString("0x0123456789abcdef01", 8)).toBe("range");
    expect(parseIntString("0x12 34", 2)).toEqual({ value: 0x1234n, tail: 7 });
  });
});

describe("parseIPv6", () => {
  it.each([
    ["::", 0n],
    ["::1", 1n],
    ["fe80::1", (0xfe80n << 112n) | 1n],
    ["::ffff:1.2.3.4", (0xffffn << 32n) | 0x01020304n],
    ["1:2:3:4:5:6:7:8", 0x00010002000300040005000600070008n],
  ])("reads %s", (text, value) => {
    expect(parseIPv6(text)).toBe(value);
  });

  it.each(["1::2::3", "1:2:3:4:5:6:7:8:9", "12345::", "zz::", ":1"])("rejects %s", (text) => {
    expect(parseIPv6(text)).toBeNull();
  });
});
