/**
 * Match masks shared among the flows of one file: a flows file has
 * thousands of lines but few distinct masks (one per shape of match), and a
 * mask is KEY_WORDS words. Every flow of parseFlows whose mask equals
 * another's gets the same Uint32Array, which is why parsed matches must be
 * treated as read-only (the classifier already requires it of its rules).
 *
 * Invariant: a mask handed out is never written again.
 * Limits: MASKS_SHARED_MAX distinct masks, then it starts over (later
 * flows simply share among themselves).
 */
import { KEY_WORDS } from "../flow/layout.js";

const MASKS_SHARED_MAX = 4096;

export class SharedMasks {
  private readonly byHash = new Map<number, Uint32Array[]>();
  private count = 0;
  /** The mask intern returned last: lines of one shape often come together. */
  private last: Uint32Array | null = null;

  /** The shared copy of `mask` (words 0..KEY_WORDS-1), made on first sight. */
  intern(mask: Uint32Array): Uint32Array {
    const last = this.last;
    if (last !== null) {
      let w = 0;
      while (w < KEY_WORDS && last[w] === mask[w]) w++;
      if (w === KEY_WORDS) return last;
    }
    const found = this.find(mask);
    this.last = found;
    return found;
  }

  private find(mask: Uint32Array): Uint32Array {
    let h = 0;
    for (let w = 0; w < KEY_WORDS; w++) h = (Math.imul(h, 31) + mask[w]) | 0;
    const list = this.byHash.get(h);
    if (list !== undefined) {
      for (const m of list) {
        let w = 0;
        while (w < KEY_WORDS && m[w] === mask[w]) w++;
        if (w === KEY_WORDS) return m;
      }
    }
    if (this.count === MASKS_SHARED_MAX) {
      this.byHash.clear();
      this.count = 0;
    }
    const copy = mask.slice(0, KEY_WORDS);
    if (list !== undefined && this.byHash.has(h)) list.push(copy);
    else this.byHash.set(h, [copy]);
    this.count++;
    return copy;
  }
}
