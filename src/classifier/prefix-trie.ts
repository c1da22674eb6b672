/**
 * Prefix tracking for the classifier: binary tries over address fields.
 *
 * A PrefixTrie counts rules by (prefix value, prefix length) for one field of
 * 32 or 128 bits, most significant bit first. Looking a packet's field up
 * answers two questions at once:
 * - for every length L, whether some rule with an L-bit prefix matches the
 *   packet (the `plens` bitmap, bit L-1, most significant bit first);
 * - how many leading bits of the field that answer depends on (`maskbits`):
 *   every key that agrees on those bits gets the same answer for every length
 *   up to the point where the walk left the trie.
 * A subtable whose rules all have an L-bit prefix on the field cannot match
 * when bit L-1 of `plens` is clear, so the classifier skips it and
 * un-wildcards only `maskbits` bits instead of all L.
 *
 * PrefixTracker holds one trie per configured field and the per-lookup state:
 * each trie is walked at most once per classifier lookup, and only when a
 * subtable that has a prefix on its field reaches the stage holding it.
 *
 * Invariant: a node's rule count is the number of rules inserted with
 * exactly the prefix that ends at that node. Every node but the root holds
 * 1..chunkBits prefix bits and has rules or two children or a child it could
 * not be merged with (longer than chunkBits together); a child on edge b
 * starts with bit b.
 * Design: a path-compressed binary trie (OVS's trie_node: up to 32 prefix
 * bits per node), nodes packed in one Int32Array as [prefix, child0,
 * child1, bits | rules << 6] with a free list, so a walk takes about log2(rules) steps
 * and touches one cache line per node; nothing is allocated by a lookup.
 * Limits: the node array doubles when full (control plane only); a walk
 * visits one node per branching point on its path, plus one per chunkBits
 * bits of unbranched path.
 *
 * Jump table (32-bit tries that opt in: the classifier's address tries): the
 * top of a big trie is a dense binary tree that every walk descends one
 * dependent load at a time (about half the ~15 nodes of a 10k-prefix walk).
 * Once the trie has JUMP_NODES_MIN nodes and has gone jumpAfterLookups
 * lookups unchanged, a table indexed by the key's first JUMP_BITS bits holds
 * where each walk stands after the last node that ends before bit JUMP_BITS
 * (node, bits consumed, lengths found), or its answer when it ended there; a
 * lookup resumes from that node. It holds exactly the state the walk from
 * the root would reach, so answers are unchanged. Any insert or remove
 * invalidates it; it is rebuilt (2^JUMP_BITS short walks, about what
 * jumpAfterLookups lookups cost) only after jumpAfterLookups more lookups,
 * so a table under constant change keeps walking from the root. It costs
 * 2^JUMP_BITS * 8 bytes (512 KiB) per trie that builds it.
 */
import { assert } from "../errors.js";
import { W_DL_TYPE, ETH_TYPE_IP, ETH_TYPE_IPV6 } from "../flow/layout.js";
import { PREFIX_JUMP_AFTER_LOOKUPS, PREFIX_JUMP_BITS, PREFIX_JUMP_NODES_MIN } from "../limits.js";

const NODES_INITIAL = 64;
/** Words of a `plens` bitmap: enough for a 128-bit field. */
export const PLENS_WORDS = 4;
/** Most prefix bits one node holds. */
export const CHUNK_BITS_MAX = 32;

// Node layout: NODE_STRIDE words per node, four nodes to a cache line.
const NODE_STRIDE = 4;
const N_PREFIX = 0; // prefix bits, most significant first, the rest zero
const N_CHILD0 = 1;
const N_CHILD1 = 2;
const N_META = 3; // bits (low 6 bits) | rules << 6
const META_BITS = 63;
const META_RULE = 64;
/** Most rules one prefix can count (the rule count's share of N_META). */
const RULES_PER_PREFIX_MAX = 2 ** 25;

// Module-local copies of the jump table's bounds (src/limits.ts says why
// each is what it is): an imported binding read in a loop is a getter call
// when tsx loads this file as CommonJS.
/** Leading key bits the jump table resolves: one entry per value of them. */
const JUMP_BITS = PREFIX_JUMP_BITS;
/** Smaller tries walk from the root: their top levels are few and stay in cache. */
const JUMP_NODES_MIN = PREFIX_JUMP_NODES_MIN;
/** Lookups after a change before the classifier's address tries build their jump table. */
const JUMP_AFTER_LOOKUPS = PREFIX_JUMP_AFTER_LOOKUPS;
// A jump table state: bit 0 set when the walk ended (bits 1..6 then hold its
// answer), else bits 1..6 are the bits consumed; the top JUMP_BITS bits are
// the `found` bits of the lengths passed so far (all at most JUMP_BITS - 1).
const J_ENDED = 1;
const J_FOUND = ~0 << (32 - JUMP_BITS);

/** The first n bits of a 32-bit word set: a prefix mask (n in 0..32). */
const topMask = (n: number): number => (n === 0 ? 0 : ~0 << (32 - n));

export class PrefixTrie {
  /** Width of the field: 32 or 128. */
  readonly bits: number;
  private readonly words: number;
  private readonly chunkBits: number;
  private nodes: Int32Array;
  private root: number;
  /** Nodes handed out so far (free ones included). */
  private nodesUsed: number;
  /** Head of the free list, chained through N_CHILD0; -1 when empty. */
  private freeHead: number;
  private nodesLive: number;
  /** remove()'s walk: each node, its parent (-1 for the root) and the edge taken. */
  private readonly pathNode: Int32Array;
  private readonly pathParent: Int32Array;
  private readonly pathSide: Int32Array;
  /** Lookups unchanged before the jump table is built (Infinity: never; 32-bit fields only). */
  private readonly jumpAfter: number;
  /** Jump table, by the key's first JUMP_BITS bits: the node to resume at, and the state (J_*). Empty until built. */
  private jumpNode: Int32Array;
  private jumpState: Int32Array;
  private jumpValid: boolean;
  private lookupsSinceChange: number;

  /** chunkBits below 32 exist to stress splitting and merging in tests; see the file comment for jumpAfterLookups. */
  constructor(bits: number, chunkBits = CHUNK_BITS_MAX, jumpAfterLookups = Infinity) {
    assert(bits === 32 || bits === 128, "a prefix trie covers a 32- or 128-bit field");
    assert(chunkBits >= 1 && chunkBits <= CHUNK_BITS_MAX, "1..32 bits per node");
    this.bits = bits;
    this.words = bits >>> 5;
    this.chunkBits = chunkBits;
    this.nodes = new Int32Array(NODES_INITIAL * NODE_STRIDE);
    this.root = -1;
    this.nodesUsed = 0;
    this.freeHead = -1;
    this.nodesLive = 0;
    this.pathNode = new Int32Array(bits + 2);
    this.pathParent = new Int32Array(bits + 2);
    this.pathSide = new Int32Array(bits + 2);
    this.jumpAfter = bits === 32 ? jumpAfterLookups : Infinity;
    this.jumpNode = new Int32Array(0);
    this.jumpState = new Int32Array(0);
    this.jumpValid = false;
    this.lookupsSinceChange = 0;
  }

  /** Whether lookups use the jump table now (tests). */
  get jumping(): boolean {
    return this.jumpValid;
  }

  /** Nodes in the trie (tests check pruning and merging with it). */
  get nodeCount(): number {
    return this.nodesLive;
  }

  /** Counts one rule whose field has prefix `plen` bits of words[base..]. */
  insert(words: ArrayLike<number>, base: number, plen: number): void {
    assert(plen > 0 && plen <= this.bits, "prefix length within the field");
    this.changed();
    let parent = -1;
    let side = 0;
    let ofs = 0;
    for (;;) {
      const node = this.edge(parent, side);
      if (node < 0) {
        this.setEdge(parent, side, this.branch(words, base, ofs, plen - ofs));
        return;
      }
      const o = node * NODE_STRIDE;
      const nb = this.nodes[o + N_META] & META_BITS;
      const prefix = this.nodes[o + N_PREFIX];
      const eq = this.equalBits(prefix, Math.min(nb, plen - ofs), words, base, ofs);
      if (eq < nb) {
        // The new prefix leaves (or ends inside) this node: the node's first
        // eq bits become a new node above it.
        const up = this.allocate();
        const u = up * NODE_STRIDE;
        const nodes = this.nodes;
        const oldSide = (prefix >>> (31 - eq)) & 1;
        nodes[u + N_PREFIX] = prefix & topMask(eq);
        nodes[u + N_META] = eq + (ofs + eq === plen ? META_RULE : 0);
        nodes[o + N_PREFIX] = prefix << eq;
        nodes[o + N_META] -= eq;
        nodes[u + N_CHILD0 + oldSide] = node;
        if (ofs + eq < plen) {
          const branch = this.branch(words, base, ofs + eq, plen - ofs - eq);
          this.nodes[u + N_CHILD0 + (oldSide ^ 1)] = branch;
        }
        this.setEdge(parent, side, up);
        return;
      }
      ofs += nb;
      if (ofs === plen) {
        assert(this.nodes[o + N_META] >>> 6 < RULES_PER_PREFIX_MAX, "rules per prefix within RULES_PER_PREFIX_MAX");
        this.nodes[o + N_META] += META_RULE;
        return;
      }
      parent = node;
      side = this.bitAt(words, base, ofs);
    }
  }

  /** Forgets one rule inserted with the same prefix; prunes and merges nodes. */
  remove(words: ArrayLike<number>, base: number, plen: number): void {
    assert(plen > 0 && plen <= this.bits, "prefix length within the field");
    this.changed();
    let parent = -1;
    let side = 0;
    let ofs = 0;
    let depth = 0;
    for (;;) {
      const node = this.edge(parent, side);
      assert(node >= 0, "removed prefix is in the trie");
      const o = node * NODE_STRIDE;
      const nb = this.nodes[o + N_META] & META_BITS;
      const eq = this.equalBits(this.nodes[o + N_PREFIX], Math.min(nb, plen - ofs), words, base, ofs);
      assert(eq === nb, "removed prefix is in the trie");
      this.pathNode[depth] = node;
      this.pathParent[depth] = parent;
      this.pathSide[depth] = side;
      depth++;
      ofs += nb;
      if (ofs === plen) break;
      parent = node;
      side = this.bitAt(words, base, ofs);
    }
    let d = depth - 1;
    let node = this.pathNode[d];
    assert(this.nodes[node * NODE_STRIDE + N_META] >= META_RULE, "removed prefix has a rule");
    this.nodes[node * NODE_STRIDE + N_META] -= META_RULE;
    const nodes = this.nodes;
    for (;;) {
      const o = node * NODE_STRIDE;
      if (nodes[o + N_META] >= META_RULE) break;
      const c0 = nodes[o + N_CHILD0];
      const c1 = nodes[o + N_CHILD1];
      if (c0 >= 0 && c1 >= 0) break;
      const next = c0 >= 0 ? c0 : c1;
      if (next >= 0) {
        // A node with no rules and one child is folded into the child.
        const x = next * NODE_STRIDE;
        const nb = nodes[o + N_META] & META_BITS;
        if (nb + (nodes[x + N_META] & META_BITS) > this.chunkBits) break;
        nodes[x + N_PREFIX] = nodes[o + N_PREFIX] | (nb === 0 ? nodes[x + N_PREFIX] : nodes[x + N_PREFIX] >>> nb);
        nodes[x + N_META] += nb;
      }
      this.setEdge(this.pathParent[d], this.pathSide[d], next);
      this.release(node);
      if (next >= 0 || d === 0) break;
      node = this.pathNode[--d];
    }
  }

  /**
   * Walks the field at keys[base..]: sets bit L-1 of plens[plensBase..] for
   * every length L at which some rule's prefix equals the key's first L bits
   * (plens must be cleared by the caller), and returns how many leading bits
   * that answer depends on.
   */
  lookup(keys: ArrayLike<number>, base: number, plens: Uint32Array, plensBase: number): number {
    return this.words === 1 ? this.lookup32(keys[base] | 0, plens, plensBase) : this.lookupWide(keys, base, plens, plensBase);
  }

  /** lookup() for a 32-bit field: from the jump table when it is built, else from the root. */
  private lookup32(key: number, plens: Uint32Array, plensBase: number): number {
    if (!this.jumpValid) {
      if (++this.lookupsSinceChange < this.jumpAfter || this.nodesLive < JUMP_NODES_MIN) {
        return this.walk32(key, this.root, 0, 0, plens, plensBase);
      }
      this.buildJump();
    }
    const v = key >>> (32 - JUMP_BITS);
    const state = this.jumpState[v];
    if ((state & J_ENDED) !== 0) {
      plens[plensBase] |= state & J_FOUND;
      return (state >>> 1) & 63;
    }
    return this.walk32(key, this.jumpNode[v], (state >>> 1) & 63, state & J_FOUND, plens, plensBase);
  }

  /**
   * The 32-bit walk from `node` (never -1 unless it is the root), `len` bits
   * consumed and `found` lengths seen: the walk's lengths gather in a local,
   * with no branch on them.
   */
  private walk32(key: number, node: number, len: number, found: number, plens: Uint32Array, plensBase: number): number {
    const nodes = this.nodes;
    let prev = -1;
    while (node >= 0) {
      const o = node * NODE_STRIDE;
      const meta = nodes[o + N_META];
      const nb = meta & META_BITS;
      const end = len + nb;
      // The child is fetched before the prefix is compared, so the two loads overlap.
      const next = end < 32 ? nodes[o + N_CHILD0 + ((key >>> (31 - end)) & 1)] : -1;
      const eq = Math.clz32(nodes[o + N_PREFIX] ^ (key << len));
      if (eq < nb) {
        plens[plensBase] |= found;
        return len + eq + 1;
      }
      len = end;
      // Bit len-1 of found when the node counts rules: (r | -r) >> 31 is all ones exactly when r != 0.
      const r = meta >>> 6;
      found |= ((r | -r) >> 31) & (1 << (32 - len));
      if (len === 32) {
        plens[plensBase] |= found;
        return 32;
      }
      prev = node;
      node = next;
    }
    plens[plensBase] |= found;
    return this.leftAt(prev, len);
  }

  /** Fills the jump table: for every value of the first JUMP_BITS bits, walk32 up to the last node that ends before bit JUMP_BITS. */
  private buildJump(): void {
    const size = 1 << JUMP_BITS;
    if (this.jumpNode.length !== size) {
      this.jumpNode = new Int32Array(size);
      this.jumpState = new Int32Array(size);
    }
    const nodes = this.nodes;
    for (let v = 0; v < size; v++) {
      const key = v << (32 - JUMP_BITS);
      let node = this.root;
      let prev = -1;
      let len = 0;
      let found = 0;
      let state: number;
      for (;;) {
        if (node < 0) {
          state = J_ENDED | (this.leftAt(prev, len) << 1) | found;
          break;
        }
        const o = node * NODE_STRIDE;
        const meta = nodes[o + N_META];
        const nb = meta & META_BITS;
        const end = len + nb;
        // This node reads key bits from JUMP_BITS on (its child's edge bit at least): resume here.
        if (end >= JUMP_BITS) {
          state = (len << 1) | found;
          break;
        }
        const eq = Math.clz32(nodes[o + N_PREFIX] ^ (key << len));
        if (eq < nb) {
          state = J_ENDED | ((len + eq + 1) << 1) | found;
          break;
        }
        len = end;
        if (meta >= META_RULE) found |= 1 << (32 - len);
        prev = node;
        node = nodes[o + N_CHILD0 + ((key >>> (31 - end)) & 1)];
      }
      this.jumpNode[v] = node;
      this.jumpState[v] = state;
    }
    this.jumpValid = true;
  }

  /** After an insert or remove: the jump table is stale until rebuilt. */
  private changed(): void {
    this.jumpValid = false;
    this.lookupsSinceChange = 0;
  }

  private lookupWide(keys: ArrayLike<number>, base: number, plens: Uint32Array, plensBase: number): number {
    const nodes = this.nodes;
    const bits = this.bits;
    let node = this.root;
    let prev = -1;
    let len = 0;
    while (node >= 0) {
      const o = node * NODE_STRIDE;
      const meta = nodes[o + N_META];
      const nb = meta & META_BITS;
      const eq = this.equalBits(nodes[o + N_PREFIX], nb, keys, base, len);
      len += eq;
      // The key leaves the trie inside this node: the bit where it differs decides.
      if (eq < nb) return len + 1;
      if (meta >= META_RULE) {
        const l = len - 1;
        plens[plensBase + (l >>> 5)] |= 1 << (31 - (l & 31));
      }
      if (len >= bits) return bits;
      prev = node;
      node = nodes[o + N_CHILD0 + ((keys[base + (len >>> 5)] >>> (31 - (len & 31))) & 1)];
    }
    return this.leftAt(prev, len);
  }

  /**
   * The answer when the key takes an edge that does not exist after `len`
   * bits, below node prev: when the other edge does exist, the bit that
   * chose between them is part of the answer too.
   */
  private leftAt(prev: number, len: number): number {
    if (prev < 0) return len;
    const p = prev * NODE_STRIDE;
    return this.nodes[p + N_CHILD0] < 0 && this.nodes[p + N_CHILD1] < 0 ? len : len + 1;
  }

  /** How many of the first n bits of prefix equal the field's bits from offset ofs. */
  private equalBits(prefix: number, n: number, words: ArrayLike<number>, base: number, ofs: number): number {
    const w = ofs >>> 5;
    const sh = ofs & 31;
    let x = words[base + w] << sh;
    if (sh !== 0 && w + 1 < this.words) x |= words[base + w + 1] >>> (32 - sh);
    const eq = Math.clz32(prefix ^ x);
    return eq < n ? eq : n;
  }

  private bitAt(words: ArrayLike<number>, base: number, ofs: number): number {
    return (words[base + (ofs >>> 5)] >>> (31 - (ofs & 31))) & 1;
  }

  /** A chain of new nodes holding `len` bits of the field from offset ofs, with one rule at its end. */
  private branch(words: ArrayLike<number>, base: number, ofs: number, len: number): number {
    const n = this.allocate();
    const take = Math.min(len, this.chunkBits);
    const w = ofs >>> 5;
    const sh = ofs & 31;
    let x = words[base + w] << sh;
    if (sh !== 0 && w + 1 < this.words) x |= words[base + w + 1] >>> (32 - sh);
    const o = n * NODE_STRIDE;
    this.nodes[o + N_PREFIX] = x & topMask(take);
    this.nodes[o + N_META] = take;
    if (len > take) {
      const side = this.bitAt(words, base, ofs + take);
      const rest = this.branch(words, base, ofs + take, len - take);
      this.nodes[o + N_CHILD0 + side] = rest;
    } else {
      this.nodes[o + N_META] += META_RULE;
    }
    return n;
  }

  private edge(parent: number, side: number): number {
    return parent < 0 ? this.root : this.nodes[parent * NODE_STRIDE + N_CHILD0 + side];
  }

  private setEdge(parent: number, side: number, node: number): void {
    if (parent < 0) this.root = node;
    else this.nodes[parent * NODE_STRIDE + N_CHILD0 + side] = node;
  }

  private allocate(): number {
    let n = this.freeHead;
    if (n >= 0) {
      this.freeHead = this.nodes[n * NODE_STRIDE + N_CHILD0];
    } else {
      if ((this.nodesUsed + 1) * NODE_STRIDE > this.nodes.length) {
        const grown = new Int32Array(this.nodes.length * 2);
        grown.set(this.nodes);
        this.nodes = grown;
      }
      n = this.nodesUsed++;
    }
    const o = n * NODE_STRIDE;
    this.nodes[o + N_PREFIX] = 0;
    this.nodes[o + N_CHILD0] = -1;
    this.nodes[o + N_CHILD1] = -1;
    this.nodes[o + N_META] = 0;
    this.nodesLive++;
    return n;
  }

  private release(n: number): void {
    this.nodes[n * NODE_STRIDE + N_CHILD0] = this.freeHead;
    this.freeHead = n;
    this.nodesLive--;
  }
}

/**
 * Length of the CIDR prefix `mask` has on the field at mask[word..] of `bits`
 * bits: 0 when the field is wildcarded or its mask is not a prefix (such a
 * subtable cannot use the trie).
 */
export function prefixLength(mask: ArrayLike<number>, word: number, bits: number): number {
  let n = 0;
  let ended = false;
  for (let i = 0; i < bits >>> 5; i++) {
    const m = mask[word + i] >>> 0;
    if (ended) {
      if (m !== 0) return 0;
      continue;
    }
    if (m === 0xffffffff) {
      n += 32;
      continue;
    }
    // A prefix mask is ones followed by zeros: its complement plus one is a power of two.
    const inv = ~m >>> 0;
    if ((inv & (inv + 1)) !== 0) return 0;
    n += Math.clz32(inv);
    ended = true;
  }
  return n;
}

/** The prefix fields a classifier tracks, and one lookup's view of them. */
export class PrefixTracker {
  readonly count: number;
  /** First key word of each field. */
  readonly fieldWord: Int32Array;
  readonly fieldBits: Int32Array;
  /** The dl_type a key must have for field t to mean the tracked address (0: any). */
  readonly fieldDlType: Int32Array;
  readonly tries: PrefixTrie[];
  /** Per lookup: whether trie t was walked already (0/1). */
  private readonly done: Uint8Array;
  private readonly maskbits: Int32Array;
  private readonly plens: Uint32Array;

  constructor(fields: readonly { readonly word: number; readonly bits: number; readonly prereq?: string }[]) {
    this.count = fields.length;
    this.fieldWord = new Int32Array(fields.map((f) => f.word));
    this.fieldBits = new Int32Array(fields.map((f) => f.bits));
    this.fieldDlType = new Int32Array(fields.map((f) => (f.prereq === "ipv4" ? ETH_TYPE_IP : f.prereq === "ipv6" ? ETH_TYPE_IPV6 : 0)));
    this.tries = fields.map((f) => new PrefixTrie(f.bits, CHUNK_BITS_MAX, JUMP_AFTER_LOOKUPS));
    this.done = new Uint8Array(fields.length);
    this.maskbits = new Int32Array(fields.length);
    this.plens = new Uint32Array(fields.length * PLENS_WORDS);
  }

  /** Starts a lookup: every trie answer is recomputed on demand. */
  begin(): void {
    for (let t = 0; t < this.count; t++) this.done[t] = 0;
  }

  /**
   * Whether a subtable whose rules all have a `plen`-bit prefix on trie t's
   * field can be skipped for the key at keys[base..]. When it can, the field
   * bits the answer rests on are set in wc (OVS's check_tries): only when
   * that is no more than the subtable itself would have un-wildcarded, or
   * when wc already holds them.
   */
  skip(t: number, plen: number, keys: Uint32Array, base: number, wc: Uint32Array, wcBase: number): boolean {
    // nw_src also holds an ARP packet's sender address: a key without the
    // field's prerequisite never skips on its trie (trie_lookup).
    const dlType = this.fieldDlType[t];
    if (dlType !== 0 && (keys[base + W_DL_TYPE] & 0xffff) !== dlType) return false;
    const word = this.fieldWord[t];
    if (this.done[t] === 0) {
      const pb = t * PLENS_WORDS;
      for (let i = 0; i < PLENS_WORDS; i++) this.plens[pb + i] = 0;
      this.maskbits[t] = this.tries[t].lookup(keys, base + word, this.plens, pb);
      this.done[t] = 1;
    }
    const l = plen - 1;
    if (((this.plens[t * PLENS_WORDS + (l >>> 5)] >>> (31 - (l & 31))) & 1) !== 0) return false;
    const mb = this.maskbits[t];
    if (mb <= plen) {
      setPrefixBits(wc, wcBase + word, mb);
      return true;
    }
    return prefixBitsSet(wc, wcBase + word, mb);
  }
}

/** Sets the first n bits (most significant first) of the field at wc[at..]. */
export function setPrefixBits(wc: Uint32Array, at: number, n: number): void {
  let i = 0;
  for (; n >= 32; n -= 32) wc[at + i++] = 0xffffffff;
  if (n > 0) wc[at + i] |= ~0 << (32 - n);
}

function prefixBitsSet(wc: Uint32Array, at: number, n: number): boolean {
  let i = 0;
  for (; n >= 32; n -= 32) if (wc[at + i++] !== 0xffffffff) return false;
  if (n > 0) {
    const m = (~0 << (32 - n)) >>> 0;
    if (((wc[at + i] & m) >>> 0) !== m) return false;
  }
  return true;
}
