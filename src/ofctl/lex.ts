/**
 * The lexical layer of the ovs-ofctl syntax: splitting `key=value`,
 * `key:value` and `key(value)` items with their offsets, and reading numbers
 * the way Open vSwitch's C library calls do (strtoull with base 0 accepts
 * 0x.. hex, 0.. octal and a sign; str_to_u16 and friends then check the
 * range). Every item keeps the offset of its key and value in the original
 * line so errors can point at the column.
 *
 * Limits: MAC and IPv4 octets are read strictly (1-2 hex digits, 0-255),
 * where OVS's scanf would let an out-of-range octet wrap.
 */
import { TextError } from "./errors.js";

/** One item of a comma-separated list. */
export interface KeyValue {
  key: string;
  /** "" when the item is a bare key. */
  value: string;
  /** Offsets in the original text. */
  keyAt: number;
  valueAt: number;
  /** The character that ended the key: ":", "=", "(" or "" (bare key). */
  delim: string;
}

const ITEM_SKIP = ", \t\r\n";
const KEY_END = ":=(, \t\r\n";

/** Length of a value up to one of `delims` (or the end), skipping balanced parentheses. */
function valueLength(s: string, from: number, delims: string): number {
  let n = 0;
  while (from + n < s.length && !delims.includes(s[from + n])) {
    if (s[from + n] === "(") {
      let level = 0;
      do {
        if (from + n >= s.length) return n;
        const c = s[from + n];
        if (c === "(") level++;
        else if (c === ")") level--;
        n++;
      } while (level > 0);
    } else {
      n++;
    }
  }
  return n;
}

/**
 * Splits `s` (a part of a line that starts at offset `base`) into items,
 * as ovs-ofctl's ofputil_parse_key_value does.
 */
export function splitItems(s: string, base = 0): KeyValue[] {
  const out: KeyValue[] = [];
  let pos = 0;
  for (;;) {
    while (pos < s.length && ITEM_SKIP.includes(s[pos])) pos++;
    if (pos >= s.length) return out;
    const keyStart = pos;
    let keyLen = 0;
    while (keyStart + keyLen < s.length && !KEY_END.includes(s[keyStart + keyLen])) keyLen++;
    const delim = keyStart + keyLen < s.length ? s[keyStart + keyLen] : "";
    const key = s.slice(keyStart, keyStart + keyLen);
    pos = keyStart + keyLen + (delim !== "" ? 1 : 0);
    let valueDelims: string;
    if (delim === ":" || delim === "=") valueDelims = ITEM_SKIP;
    else if (delim === "(") valueDelims = ")";
    else {
      out.push({ key, value: "", keyAt: base + keyStart, valueAt: base + keyStart + keyLen, delim: "" });
      continue;
    }
    const valueStart = pos;
    let len = valueLength(s, valueStart, valueDelims);
    // "key(x)->y": the value runs on to the next comma (OVS's special case for load/move in learn).
    if (delim === "(" && s[valueStart + len] === ")" && s[valueStart + len + 1] === "-" && s[valueStart + len + 2] === ">") {
      len += valueLength(s, valueStart + len, ITEM_SKIP);
    }
    const value = s.slice(valueStart, valueStart + len);
    pos = valueStart + len + (valueStart + len < s.length ? 1 : 0);
    out.push({ key, value, keyAt: base + keyStart, valueAt: base + valueStart, delim });
  }
}

/** Result of a C-style strtoull/strtoll: value (wrapped to 64 bits as strtoull does), end offset, and range error. */
interface StrtoResult {
  value: bigint;
  /** Signed value before wrapping (for strtoll range checks). */
  signed: bigint;
  end: number;
  overflow: boolean;
}

const isDigitIn = (c: string | undefined, base: number): boolean => {
  if (c === undefined) return false;
  const d = parseInt(c, 36);
  return !Number.isNaN(d) && d < base && /[0-9a-zA-Z]/.test(c);
};

/** glibc strtoull/strtoll with `base` (0 = auto). Returns null when no digits were read. */
function strto(s: string, base: number): StrtoResult | null {
  let i = 0;
  while (i < s.length && " \t\n\r\f\v".includes(s[i])) i++;
  let neg = false;
  if (s[i] === "+" || s[i] === "-") {
    neg = s[i] === "-";
    i++;
  }
  if ((base === 0 || base === 16) && s[i] === "0" && (s[i + 1] === "x" || s[i + 1] === "X") && isDigitIn(s[i + 2], 16)) {
    base = 16;
    i += 2;
  } else if (base === 0) {
    base = s[i] === "0" ? 8 : 10;
  }
  const start = i;
  let v = 0n;
  const b = BigInt(base);
  while (isDigitIn(s[i], base)) {
    v = v * b + BigInt(parseInt(s[i], base));
    i++;
  }
  if (i === start) return null;
  const overflow = v > 0xffffffffffffffffn;
  const signed = neg ? -v : v;
  let value = overflow ? 0xffffffffffffffffn : v;
  if (neg && !overflow) value = (-v) & 0xffffffffffffffffn;
  return { value, signed, end: i, overflow };
}

/** str_to_llong with base and no trailing characters; null on failure. */
function strToLlong(s: string, base: number): bigint | null {
  const r = strto(s, base);
  if (r === null || r.end !== s.length) return null;
  if (r.signed > 0x7fffffffffffffffn || r.signed < -0x8000000000000000n) return null;
  return r.signed;
}

/** OVS str_to_int(s, 0): a C int, or null. */
export function strToInt(s: string): number | null {
  const v = strToLlong(s, 0);
  if (v === null || v < -0x80000000n || v > 0x7fffffffn) return null;
  return Number(v);
}

/** OVS str_to_uint(s, 10): an unsigned int, or null. */
export function strToUintDecimal(s: string): number | null {
  const v = strToLlong(s, 10);
  if (v === null || v < 0n || v > 0xffffffffn) return null;
  return Number(v);
}

/** C atoi: leading number, 0 when none (OVS uses it for learn's numbers). */
export function atoi(s: string): number {
  const m = /^[ \t\n\r\f\v]*([+-]?\d+)/.exec(s);
  if (m === null) return 0;
  return Number(BigInt.asIntN(32, BigInt(m[1])));
}

/** C strtoull(s, NULL, 0) ignoring what follows the number; 0 when none. */
export function strtoullLoose(s: string): bigint {
  return strto(s, 0)?.value ?? 0n;
}

/** OVS str_to_u8: "invalid NAME \"S\"" unless 0..255. */
export function strToU8(s: string, name: string, at: number): number {
  const v = strToInt(s);
  if (v === null || v < 0 || v > 255) throw new TextError(at, s, `invalid ${name} "${s}"`);
  return v;
}

/** OVS str_to_u16: "invalid NAME \"S\"" unless 0..65535. */
export function strToU16(s: string, name: string, at: number): number {
  const v = strToInt(s);
  if (v === null || v < 0 || v > 65535) throw new TextError(at, s, `invalid ${name} "${s}"`);
  return v;
}

/** OVS str_to_u64 (strtoull base 0, whole string). */
export function strToU64(s: string, at: number): bigint {
  if (s === "") throw new TextError(at, s, "missing required numeric argument");
  const r = strto(s, 0);
  if (r === null || r.overflow || r.end !== s.length) throw new TextError(at, s, `invalid numeric format ${s}`);
  return r.value;
}

/** OVS str_to_u32: strtoul then truncation to 32 bits, as the C code does on LP64. */
export function strToU32(s: string, at: number): number {
  return Number(strToU64(s, at) & 0xffffffffn);
}

/**
 * OVS parse_int_string: a number for a field of `nBytes` bytes. "0x..." may
 * be any number of hex digits (leading zeros free); other forms go through
 * strtoull. Returns the value and where parsing stopped, or "range"/"syntax".
 */
export function parseIntString(
  s: string,
  nBytes: number,
): { value: bigint; tail: number } | "range" | "syntax" {
  if (s.startsWith("0x") || s.startsWith("0X")) {
    let i = 2;
    let v = 0n;
    let digits = 0;
    for (;;) {
      while (i < s.length && " \t\r\n".includes(s[i])) i++;
      const c = s[i];
      if (c === undefined || !/[0-9a-fA-F]/.test(c)) break;
      const d = BigInt(parseInt(c, 16));
      if (d !== 0n || digits > 0) {
        if (Math.ceil((digits + 1) / 2) > nBytes) return "range";
        digits++;
      }
      v = (v << 4n) | d;
      i++;
    }
    return { value: v, tail: i };
  }
  const r = strto(s, 0);
  if (r === null) return "syntax";
  if (r.overflow) return "range";
  if (nBytes < 8 && r.value >> BigInt(nBytes * 8) !== 0n) return "range";
  return { value: r.value, tail: r.end };
}

/** "a.b.c.d" with each part 0..255, or null. */
export function parseIPv4(s: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (m === null) return null;
  let v = 0;
  for (let i = 1; i <= 4; i++) {
    const o = Number(m[i]);
    if (o > 255) return null;
    v = v * 256 + o;
  }
  return v >>> 0;
}

/** "xx:xx:xx:xx:xx:xx" (1-2 hex digits each), as a 48-bit bigint, or null. */
export function parseMac(s: string): bigint | null {
  const m = /^([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})$/.exec(s);
  if (m === null) return null;
  let v = 0n;
  for (let i = 1; i <= 6; i++) v = (v << 8n) | BigInt(parseInt(m[i], 16));
  return v;
}

/** inet_pton(AF_INET6): a 128-bit bigint, or null. Accepts a trailing dotted quad. */
export function parseIPv6(s: string): bigint | null {
  if (!/^[0-9a-fA-F:.]+$/.test(s) || s.length > 45) return null;
  let tail: number[] = [];
  let text = s;
  const lastColon = s.lastIndexOf(":");
  if (s.includes(".")) {
    const v4 = parseIPv4(s.slice(lastColon + 1));
    if (v4 === null || lastColon < 0) return null;
    tail = [v4 >>> 16, v4 & 0xffff];
    // Keep "::" whole; drop the single ':' that separated the last group from the quad.
    text = s.slice(0, lastColon + 1);
    if (!text.endsWith("::")) text = text.slice(0, -1);
  }
  const dbl = text.indexOf("::");
  if (dbl !== text.lastIndexOf("::")) return null;
  const parseGroups = (part: string): number[] | null => {
    if (part === "") return [];
    const out: number[] = [];
    for (const g of part.split(":")) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  let groups: number[];
  const want = 8 - tail.length;
  if (dbl >= 0) {
    const head = parseGroups(text.slice(0, dbl));
    const rest = parseGroups(text.slice(dbl + 2));
    if (head === null || rest === null) return null;
    if (head.length + rest.length >= want) return null;
    groups = [...head, ...new Array<number>(want - head.length - rest.length).fill(0), ...rest];
  } else {
    const all = parseGroups(text);
    if (all === null || all.length !== want) return null;
    groups = all;
  }
  groups = [...groups, ...tail];
  let v = 0n;
  for (const g of groups) v = (v << 16n) | BigInt(g);
  return v;
}

/** Hex bytes as OVS's ofpbuf_put_hex reads them: pairs of hex digits, '.' and spaces between pairs ignored. Returns null on a bad digit. */
export function parseHexBytes(s: string): Uint8Array | null {
  const out: number[] = [];
  let i = 0;
  for (;;) {
    while (i < s.length && (s[i] === "." || s[i] === " " || s[i] === "\t" || s[i] === "\r" || s[i] === "\n")) i++;
    if (i >= s.length) break;
    const pair = s.slice(i, i + 2);
    if (!/^[0-9a-fA-F]{2}$/.test(pair)) return null;
    out.push(parseInt(pair, 16));
    i += 2;
  }
  return Uint8Array.from(out);
}
