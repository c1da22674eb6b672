/**
 * Byte reads on a Uint8Array at an offset, big-endian (network order), with
 * the unsigned fix-up. Small and monomorphic so V8 inlines them on the fast
 * path; bench/parse.bench.ts compares them with DataView.
 */
export const read16 = (b: Uint8Array, at: number): number => (b[at] << 8) | b[at + 1];

export const read32 = (b: Uint8Array, at: number): number =>
  ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;

export const write16 = (b: Uint8Array, at: number, v: number): void => {
  b[at] = v >>> 8;
  b[at + 1] = v;
};

export const write32 = (b: Uint8Array, at: number, v: number): void => {
  b[at] = v >>> 24;
  b[at + 1] = v >>> 16;
  b[at + 2] = v >>> 8;
  b[at + 3] = v;
};
