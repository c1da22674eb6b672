/**
 * A match: a value key and a mask key over the flow-key layout (layout.ts).
 * A packet's key k matches when (k & mask) === value in every word, and
 * value never has bits outside mask (the invariant every setter keeps), so
 * two matches are equal exactly when their words are equal.
 *
 * Used by the ovs-ofctl syntax (building a match from text), the classifier
 * (rules), translation (wildcards: the bits a lookup consulted) and the
 * megaflow cache. Control plane: allocation is fine here; the fast path
 * works on the raw words.
 */
import { KEY_WORDS } from "./layout.js";
import { type FieldDef, fieldWords } from "./fields.js";
import { formatMatch, type FormatOptions } from "./format.js";

/** All-ones masks of 0..128 bits, made once: loading a large flows file asks for them millions of times. */
const ONES: readonly bigint[] = Array.from({ length: 129 }, (_, bits) => (1n << BigInt(bits)) - 1n);

/** All-ones mask of `bits` bits as a bigint. */
export const fieldMax = (bits: number): bigint => ONES[bits] ?? (1n << BigInt(bits)) - 1n;

/**
 * New matches take their words from a slab shared by MATCHES_PER_SLAB
 * matches: a typed array of KEY_WORDS words has its own off-heap buffer,
 * and a 100k-line flows file made 200k of them, whose bookkeeping cost more
 * than parsing. A slab lives while any of its matches does: a table loaded
 * whole and then mostly deleted keeps at most one slab (22 kB) per surviving
 * flow.
 */
const MATCHES_PER_SLAB = 32;
const SLAB_WORDS = MATCHES_PER_SLAB * 2 * KEY_WORDS;
let slab = new Uint32Array(SLAB_WORDS);
let slabUsed = 0;

/** KEY_WORDS zeroed words of the current slab. */
function slabWords(): Uint32Array {
  if (slabUsed === SLAB_WORDS) {
    slab = new Uint32Array(SLAB_WORDS);
    slabUsed = 0;
  }
  // The constructor is cheaper than subarray(), which looks up a species constructor.
  const words = new Uint32Array(slab.buffer, slabUsed * 4, KEY_WORDS);
  slabUsed += KEY_WORDS;
  return words;
}

export class Match {
  readonly value: Uint32Array;
  readonly mask: Uint32Array;

  constructor(value?: Uint32Array, mask?: Uint32Array) {
    this.value = value ?? slabWords();
    this.mask = mask ?? slabWords();
  }

  /** Matches on `field` = value under mask (default: exact). Bits of value outside mask are dropped. */
  setField(field: FieldDef, value: bigint, mask: bigint = fieldMax(field.bits)): this {
    const max = fieldMax(field.bits);
    if (field.bits <= 32) return this.setFieldBits(field, Number(value & max), Number(mask & max));
    mask &= max;
    value &= mask;
    const n = fieldWords(field);
    for (let i = n - 1; i >= 0; i--) {
      this.mask[field.word + i] = Number(mask & 0xffffffffn);
      this.value[field.word + i] = Number(value & 0xffffffffn);
      mask >>= 32n;
      value >>= 32n;
    }
    return this;
  }

  /**
   * setField for a field of at most 32 bits, with numbers: value and mask are
   * the field's bits (taken as unsigned 32-bit; bits above the field are dropped).
   */
  setFieldBits(field: FieldDef, value: number, mask: number): this {
    const max = field.bits === 32 ? 0xffffffff : (1 << field.bits) - 1;
    const fm = (max << field.shift) >>> 0;
    const k = ((mask & max) << field.shift) & fm;
    const w = field.word;
    this.mask[w] = ((this.mask[w] & ~fm) | k) >>> 0;
    this.value[w] = ((this.value[w] & ~fm) | ((value << field.shift) & k)) >>> 0;
    return this;
  }

  /** Stops matching on `field`. */
  clearField(field: FieldDef): this {
    return this.setField(field, 0n, 0n);
  }

  /** The field's value and mask (both 0 when the field is wildcarded). */
  getField(field: FieldDef): { value: bigint; mask: bigint } {
    if (field.bits <= 32) {
      const m = Number(fieldMax(field.bits));
      return {
        value: BigInt((this.value[field.word] >>> field.shift) & m),
        mask: BigInt((this.mask[field.word] >>> field.shift) & m),
      };
    }
    let value = 0n;
    let mask = 0n;
    for (let i = 0; i < fieldWords(field); i++) {
      value = (value << 32n) | BigInt(this.value[field.word + i]);
      mask = (mask << 32n) | BigInt(this.mask[field.word + i]);
    }
    const max = fieldMax(field.bits);
    return { value: value & max, mask: mask & max };
  }

  /** Whether the match pins any bit of `field`. */
  hasField(field: FieldDef): boolean {
    return this.getField(field).mask !== 0n;
  }

  /** Whether the packet key at keys[base..] satisfies this match. */
  matchesKey(keys: Uint32Array, base: number): boolean {
    for (let w = 0; w < KEY_WORDS; w++) {
      if (((keys[base + w] & this.mask[w]) >>> 0) !== this.value[w]) return false;
    }
    return true;
  }

  equals(other: Match): boolean {
    for (let w = 0; w < KEY_WORDS; w++) {
      if (this.value[w] !== other.value[w] || this.mask[w] !== other.mask[w]) return false;
    }
    return true;
  }

  /** Whether every packet this match accepts is also accepted by `other` (other is looser or equal). */
  isSubsetOf(other: Match): boolean {
    for (let w = 0; w < KEY_WORDS; w++) {
      if ((other.mask[w] & ~this.mask[w]) !== 0) return false;
      if (((this.value[w] & other.mask[w]) >>> 0) !== other.value[w]) return false;
    }
    return true;
  }

  isCatchall(): boolean {
    for (let w = 0; w < KEY_WORDS; w++) if (this.mask[w] !== 0) return false;
    return true;
  }

  clone(): Match {
    const m = new Match();
    m.value.set(this.value);
    m.mask.set(this.mask);
    return m;
  }

  /** OVS's text (match_format), e.g. "tcp,in_port=1,tp_dst=80". */
  format(opts: FormatOptions = {}): string {
    return formatMatch(this.value, 0, this.mask, 0, opts);
  }

  toString(): string {
    return this.format();
  }
}
