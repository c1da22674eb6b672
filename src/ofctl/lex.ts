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

/** Characters that separate items: ',' and white space. */
const isItemSkip = (c: number): boolean => c === 44 || c === 32 || c === 9 || c === 13 || c === 10;
/** Characters that end a key: ':', '=', '(' and the item separators. */
const isKeyEnd = (c: number): boolean => c === 58 || c === 61 || c === 40 || isItemSkip(c);

/**
 * Length of a value up to its end (or `len`, the end of the text), skipping balanced
 * parentheses: a value after ':' or '=' ends at an item separator, one
 * after '(' at ')'.
 */
function valueLength(s: string, from: number, len: number, inParens: boolean): number {
  let n = 0;
  while (from + n < len) {
    const c = s.charCodeAt(from + n);
    if (inParens ? c === 41 : isItemSkip(c)) break;
    if (c === 40) {
      let level = 0;
      do {
        if (from + n >= len) return n;
        const d = s.charCodeAt(from + n);
        if (d === 40) level++;
        else if (d === 41) level--;
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
  const items = new ItemCursor(s, base, s.length);
  while (items.next()) {
    out.push({ key: items.key, value: items.value, keyAt: items.keyAt, valueAt: items.valueAt, delim: items.delim });
  }
  return out;
}

/**
 * splitItems one item at a time, over s[0..end), with no object per item:
 * after next() returns true, the fields describe the item (as KeyValue's do).
 */
export class ItemCursor {
  key: string;
  value: string;
  keyAt: number;
  valueAt: number;
  delim: string;
  private readonly s: string;
  private readonly base: number;
  private readonly end: number;
  private pos: number;

  /** Items of s[0..end), s starting at offset `base` of its line. */
  constructor(s: string, base: number, end: number) {
    this.key = "";
    this.value = "";
    this.keyAt = 0;
    this.valueAt = 0;
    this.delim = "";
    this.s = s;
    this.base = base;
    this.end = end;
    this.pos = 0;
  }

  next(): boolean {
    const s = this.s;
    const len = this.end;
    let pos = this.pos;
    while (pos < len && isItemSkip(s.charCodeAt(pos))) pos++;
    if (pos >= len) {
      this.pos = pos;
      return false;
    }
    const keyStart = pos;
    let keyEnd = pos;
    while (keyEnd < len && !isKeyEnd(s.charCodeAt(keyEnd))) keyEnd++;
    const delim = keyEnd < len ? s[keyEnd] : "";
    this.key = s.slice(keyStart, keyEnd);
    this.keyAt = this.base + keyStart;
    pos = keyEnd + (delim !== "" ? 1 : 0);
    if (delim !== ":" && delim !== "=" && delim !== "(") {
      this.value = "";
      this.valueAt = this.base + keyEnd;
      this.delim = "";
      this.pos = pos;
      return true;
    }
    const valueStart = pos;
    let vlen = valueLength(s, valueStart, len, delim === "(");
    // "key(x)->y": the value runs on to the next comma (OVS's special case for load/move in learn).
    if (delim === "(" && s[valueStart + vlen] === ")" && s[valueStart + vlen + 1] === "-" && s[valueStart + vlen + 2] === ">") {
      vlen += valueLength(s, valueStart + vlen, len, false);
    }
    this.value = s.slice(valueStart, valueStart + vlen);
    this.valueAt = this.base + valueStart;
    this.delim = delim;
    this.pos = valueStart + vlen + (valueStart + vlen < len ? 1 : 0);
    return true;
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

/** The value of an ASCII digit or letter as a digit (a..z = 10..35), or 99 for anything else. */
function digitValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  c |= 0x20; // lower case
  if (c >= 97 && c <= 122) return c - 87;
  return 99;
}

const isCSpace = (c: number): boolean => c === 32 || (c >= 9 && c <= 13);

/** Digits that always fit a double exactly: up to 2^53 for base 16 and below. */
const EXACT_DIGITS_MAX = 13;

/** glibc strtoull/strtoll with `base` (0 = auto). Returns null when no digits were read. */
function strto(s: string, base: number): StrtoResult | null {
  let i = 0;
  while (i < s.length && isCSpace(s.charCodeAt(i))) i++;
  let neg = false;
  if (s[i] === "+" || s[i] === "-") {
    neg = s[i] === "-";
    i++;
  }
  if ((base === 0 || base === 16) && s[i] === "0" && (s[i + 1] === "x" || s[i + 1] === "X") && digitValue(s.charCodeAt(i + 2)) < 16) {
    base = 16;
    i += 2;
  } else if (base === 0) {
    base = s[i] === "0" ? 8 : 10;
  }
  const start = i;
  // Digits accumulate in a double while it stays exact (the usual case: short numbers), then in a bigint.
  let small = 0;
  while (i - start < EXACT_DIGITS_MAX) {
    const d = digitValue(s.charCodeAt(i));
    if (d >= base) break;
    small = small * base + d;
    i++;
  }
  if (i === start) return null;
  let v = BigInt(small);
  if (i - start === EXACT_DIGITS_MAX) {
    const b = BigInt(base);
    for (let d = digitValue(s.charCodeAt(i)); d < base; d = digitValue(s.charCodeAt(++i))) v = v * b + BigInt(d);
  }
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

/**
 * A plain decimal number: "0" or a nonzero digit and at most 8 more digits,
 * nothing else; -1 for any other text. strtoull reads such text as that
 * number whatever the base (0 or 10), so it is a fast path for the common
 * case, with no bigint.
 */
export function plainDecimal(s: string): number {
  const n = s.length;
  if (n === 0 || n > 9) return -1;
  let v = 0;
  for (let i = 0; i < n; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9 || (d === 0 && i === 0 && n > 1)) return -1;
    v = v * 10 + d;
  }
  return v;
}

/** OVS str_to_int(s, 0): a C int, or null. */
export function strToInt(s: string): number | null {
  const plain = plainDecimal(s);
  if (plain >= 0) return plain;
  const v = strToLlong(s, 0);
  if (v === null || v < -0x80000000n || v > 0x7fffffffn) return null;
  return Number(v);
}

/** OVS str_to_uint(s, 10): an unsigned int, or null. */
export function strToUintDecimal(s: string): number | null {
  const plain = plainDecimal(s);
  if (plain >= 0) return plain;
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
    // Significant digits gather in a double while they fit exactly, then in a bigint.
    let small = 0;
    let v = 0n;
    let digits = 0;
    for (;;) {
      let c = s.charCodeAt(i);
      while (c === 32 || c === 9 || c === 13 || c === 10) c = s.charCodeAt(++i);
      const d = digitValue(c);
      if (d >= 16) break;
      if (d !== 0 || digits > 0) {
        if (Math.ceil((digits + 1) / 2) > nBytes) return "range";
        digits++;
      }
      if (digits <= EXACT_DIGITS_MAX) small = small * 16 + d;
      else v = (v << 4n) | BigInt(d);
      if (digits === EXACT_DIGITS_MAX) {
        v = BigInt(small);
      }
      i++;
    }
    return { value: digits <= EXACT_DIGITS_MAX ? BigInt(small) : v, tail: i };
  }
  const r = strto(s, 0);
  if (r === null) return "syntax";
  if (r.overflow) return "range";
  if (nBytes < 8 && r.value >> BigInt(nBytes * 8) !== 0n) return "range";
  return { value: r.value, tail: r.end };
}

/** "a.b.c.d" with each part 0..255, or null. */
export function parseIPv4(s: string): number | null {
  const v = parseIPv4Range(s, 0, s.length);
  return v < 0 ? null : v;
}

/** parseIPv4 of s[from..end), without slicing: the address, or -1. */
export function parseIPv4Range(s: string, from: number, end: number): number {
  let v = 0;
  let i = from;
  for (let part = 0; part < 4; part++) {
    if (part > 0 && (i >= end || s.charCodeAt(i++) !== 46)) return -1; // '.'
    let octet = 0;
    const start = i;
    for (let d = s.charCodeAt(i) - 48; i < end && d >= 0 && d <= 9 && i - start < 3; d = s.charCodeAt(++i) - 48) octet = octet * 10 + d;
    if (i === start || octet > 255) return -1;
    v = v * 256 + octet;
  }
  return i === end ? v >>> 0 : -1;
}

/**
 * s[from..end) as a number of at most 32 bits when it is written plainly:
 * "0", decimal digits without a leading zero, or "0x" and 1 to 8 hex
 * digits; -1 for anything else (signs, spaces, octal, longer numbers), which
 * the general parsers handle. Where it answers, it agrees with
 * parseIntString and strtoull.
 */
export function plainNumberRange(s: string, from: number, end: number): number {
  const n = end - from;
  if (n <= 0) return -1;
  if (n > 2 && s.charCodeAt(from) === 48 && (s.charCodeAt(from + 1) | 0x20) === 120) {
    if (n > 10) return -1;
    let v = 0;
    for (let i = from + 2; i < end; i++) {
      const d = digitValue(s.charCodeAt(i));
      if (d >= 16) return -1;
      v = v * 16 + d;
    }
    return v;
  }
  if (n > 9 || (n > 1 && s.charCodeAt(from) === 48)) return -1;
  let v = 0;
  for (let i = from; i < end; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

/** parseMac of s[from..end), as a number (48 bits are exact in a double), or -1. */
export function parseMacRange(s: string, from: number, end: number): number {
  let v = 0;
  let i = from;
  for (let part = 0; part < 6; part++) {
    if (part > 0 && (i >= end || s.charCodeAt(i++) !== 58)) return -1; // ':'
    let octet = 0;
    const start = i;
    for (let d = digitValue(s.charCodeAt(i)); i < end && d < 16 && i - start < 2; d = digitValue(s.charCodeAt(++i))) octet = octet * 16 + d;
    if (i === start) return -1;
    v = v * 256 + octet;
  }
  return i === end ? v : -1;
}

/**
 * plainNumberRange for up to 64 bits, as two 32-bit halves: "0x" and 1 to
 * 16 hex digits, or a plain decimal of at most 9 digits. Sets wideHi and
 * wideLo and returns true, or returns false for any other text.
 */
export function plainWideRange(s: string, from: number, end: number): boolean {
  const n = end - from;
  if (n > 2 && s.charCodeAt(from) === 48 && (s.charCodeAt(from + 1) | 0x20) === 120) {
    if (n > 18) return false;
    let hi = 0;
    let lo = 0;
    for (let i = from + 2; i < end; i++) {
      const d = digitValue(s.charCodeAt(i));
      if (d >= 16) return false;
      hi = hi * 16 + (lo >>> 28);
      lo = ((lo << 4) | d) >>> 0;
    }
    wide.hi = hi;
    wide.lo = lo;
    return true;
  }
  const v = plainNumberRange(s, from, end);
  if (v < 0) return false;
  wide.hi = 0;
  wide.lo = v;
  return true;
}

/** What plainWideRange read last. */
export const wide = { hi: 0, lo: 0 };

/** "xx:xx:xx:xx:xx:xx" (1-2 hex digits each), as a 48-bit bigint, or null. */
export function parseMac(s: string): bigint | null {
  // 48 bits fit a double exactly: one BigInt at the end.
  let v = 0;
  let i = 0;
  for (let part = 0; part < 6; part++) {
    if (part > 0 && s.charCodeAt(i++) !== 58) return null; // ':'
    let octet = 0;
    const start = i;
    for (let d = digitValue(s.charCodeAt(i)); d < 16 && i - start < 2; d = digitValue(s.charCodeAt(++i))) octet = octet * 16 + d;
    if (i === start) return null;
    v = v * 256 + octet;
  }
  return i === s.length ? BigInt(v) : null;
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
