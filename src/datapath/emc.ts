/**
 * Exact-match cache (EMC): the first lookup for every packet (OVS's
 * dpif-netdev EMC, dpif-netdev-private-dfc.h).
 *
 * Invariant: an entry answers exactly what its megaflow answers; it stores
 * the megaflow's id and generation, so when that megaflow is removed (and
 * its id perhaps reused) the entry is dead.
 * Design: EMC_ENTRIES slots; a key may live in two candidate slots taken from
 * its 32-bit hash (OVS's EM_FLOW_HASH_SEGS = 2); keys live as words in one
 * Uint32Array; nothing is allocated after construction.
 * Limits: EMC_ENTRIES entries. Insertion happens for 1 in `insertInvProb`
 * packets (OVS's other_config:emc-insert-inv-prob, default 100), so a flood
 * of new flows cannot thrash it; 0 disables the EMC.
 */
import * as L from "../flow/layout.js";
import { DP_WORDS } from "../flow/layout.js";
import { assert } from "../errors.js";
import { REGION_IPV6, REGION_ARP_ND, REGION_MPLS, REGION_META, REGION_TUNNEL, REGION_TUNNEL_IPV6 } from "../packet/parse.js";

/**
 * Words every key may have non-zero (in_port, L2, IPv4 addresses, the nw
 * word, L4); the rest belong to regions a key declares (parse.ts REGION_*).
 * Words outside a key's regions are zero by construction, so comparing the
 * always-words plus the declared regions' words, and the region bits
 * themselves, compares the whole key: 14 words for an IPv4 frame instead of 69.
 */
const ALWAYS: readonly number[] = [L.W_IN_PORT, 36, 37, 38, 39, 40, 41, 42, L.W_NW_SRC, L.W_NW_DST, L.W_NW, L.W_TP, L.W_TCP_FLAGS, L.W_IGMP_GROUP];
const range = (a: number, n: number): number[] => Array.from({ length: n }, (_, i) => a + i);
const REGION_WORDS: [number, number[]][] = [
  [REGION_IPV6, range(L.W_IPV6_SRC, 9)],
  [REGION_ARP_ND, range(L.W_ARP_SHA, 8)],
  [REGION_MPLS, range(L.W_MPLS0, 3)],
  [REGION_META, [...range(L.W_RECIRC_ID, L.W_CT_NW_DST - L.W_RECIRC_ID + 1), L.W_CT_TP]],
  // ct_ipv6_src/dst: only an IPv6 packet's conntrack sets them, so they are
  // compared when the key has both regions (a key whose ct_ipv6 words are
  // non-zero declares REGION_IPV6: dpif.ts recirculate sees to it).
  [REGION_META | REGION_IPV6, range(L.W_CT_IPV6_SRC, 8)],
  [REGION_TUNNEL, [...range(L.W_TUN_ID, L.W_TUN_DST - L.W_TUN_ID + 1), L.W_TUN_FLAGS, L.W_TUN_TP]],
  [REGION_TUNNEL_IPV6, range(L.W_TUN_IPV6_SRC, 8)],
];
/** The first and last REGION_META words compared for every key with the region (recirc_id through ct_nw_dst: layout.ts), then ct_tp. */
const META_FIRST = L.W_RECIRC_ID;
const META_LAST = L.W_CT_NW_DST;
/** The ct_ipv6 words, compared for keys with REGION_IPV6 too. */
const CT_IPV6_FIRST = L.W_CT_IPV6_SRC;
const CT_IPV6_LAST = L.W_CT_IPV6_DST + 3;
/** The first and last REGION_TUNNEL words before the IPv6 addresses (tun_id, tun_src, tun_dst), then tun_flags and tun_tp. */
const TUNNEL_FIRST = L.W_TUN_ID;
const TUNNEL_LAST = L.W_TUN_DST;
/** Combinations of region bits. */
const REGION_COMBINATIONS = 64;
/** Words to compare for each combination of region bits. */
export const COMPARE_WORDS: Int32Array[] = Array.from({ length: REGION_COMBINATIONS }, (_, regions) =>
  Int32Array.from([...ALWAYS, ...REGION_WORDS.filter(([bits]) => (regions & bits) === bits).flatMap(([, w]) => w)].sort((a, b) => a - b)),
);
/** The words beyond ALWAYS for each combination of region bits (sameKey compares ALWAYS written out). */
const REGION_EXTRA_WORDS: Int32Array[] = Array.from({ length: REGION_COMBINATIONS }, (_, regions) =>
  Int32Array.from(REGION_WORDS.filter(([bits]) => (regions & bits) === bits).flatMap(([, w]) => w)),
);

// Module-local copies of the key words sameKey compares: V8 folds these into
// the comparison, where each read through the imported namespace cost a load.
const K_IN_PORT = L.W_IN_PORT;
const K_NW_SRC = L.W_NW_SRC;
const K_NW_DST = L.W_NW_DST;
const K_NW = L.W_NW;
const K_TP = L.W_TP;
const K_TCP_FLAGS = L.W_TCP_FLAGS;
const K_IGMP_GROUP = L.W_IGMP_GROUP;
const K_CT_TP = L.W_CT_TP;
const K_TUN_FLAGS = L.W_TUN_FLAGS;
const K_TUN_TP = L.W_TUN_TP;
const K_DP_WORDS = DP_WORDS;
const R_META = REGION_META;
const R_TUNNEL = REGION_TUNNEL;
const R_IPV6 = REGION_IPV6;

/** OVS's EM_FLOW_HASH_ENTRIES. */
export const EMC_ENTRIES = 8192;
const EMC_MASK = EMC_ENTRIES - 1;
/** OVS's default emc-insert-inv-prob. */
export const EMC_INSERT_INV_PROB_DEFAULT = 100;

/**
 * A slot's record: the ALWAYS words (in ALWAYS order), then the key's hash,
 * then its region bits. 16 words, one 64-byte cache line: a lookup of a
 * key without regions reads that line and the slot's flow and generation.
 *
 *   word  0    1..7            8      9      10  11  12         13          14    15
 *       +----+---------------+------+------+---+---+----------+-----------+-----+-------+
 *       |port| dl_dst..vlan1 |nw_src|nw_dst|nw |tp |tcp_flags |igmp_group | hash|regions|
 *       +----+---------------+------+------+---+---+----------+-----------+-----+-------+
 */
const RECORD_WORDS = 16;
const R_HASH = 14;
const R_REGIONS = 15;
assert(ALWAYS.length === R_HASH, "the ALWAYS words fill a record up to its hash");

export class Emc {
  readonly records = new Uint32Array(EMC_ENTRIES * RECORD_WORDS);
  /** The whole key of a slot whose key has regions (their words are compared from here), DP_WORDS per slot. */
  readonly keys = new Uint32Array(EMC_ENTRIES * DP_WORDS);
  /** Megaflow id, or -1 for an empty slot. */
  readonly flows = new Int32Array(EMC_ENTRIES).fill(-1);
  readonly gens = new Uint32Array(EMC_ENTRIES);
  /** 1 in insertInvProb misses inserts; 1 always; 0 disables the EMC. */
  insertInvProb: number;
  private rng = 0x2545f491;

  constructor(insertInvProb = EMC_INSERT_INV_PROB_DEFAULT) {
    this.insertInvProb = insertInvProb;
  }

  get enabled(): boolean {
    return this.insertInvProb > 0;
  }

  /** Bytes of typed-array storage (for the memory figures). */
  storageBytes(): number {
    return this.records.byteLength + this.keys.byteLength + this.flows.byteLength + this.gens.byteLength;
  }

  /** The slot holding the key keys[base..] (with its region bits and `hash`), or -1. Callers check the megaflow generation. */
  lookup(keys: Uint32Array, base: number, hash: number, regions: number): number {
    const records = this.records;
    let slot = hash & EMC_MASK;
    for (let seg = 0; seg < 2; seg++) {
      const r = slot * RECORD_WORDS;
      if (records[r + R_HASH] === hash && records[r + R_REGIONS] === regions && this.flows[slot] >= 0 && this.sameKey(slot, keys, base, regions)) return slot;
      slot = (hash >>> 16) & EMC_MASK;
    }
    return -1;
  }

  /**
   * Compares the slot's key with keys[base..] on the ALWAYS words (written
   * out from the slot's record: no index array to load), then on the words
   * of the key's regions.
   */
  private sameKey(slot: number, keys: Uint32Array, b: number, regions: number): boolean {
    const k = this.records;
    const o = slot * RECORD_WORDS;
    if (
      k[o + 11] !== keys[b + K_TP] ||
      k[o + 8] !== keys[b + K_NW_SRC] ||
      k[o + 9] !== keys[b + K_NW_DST] ||
      k[o] !== keys[b + K_IN_PORT] ||
      k[o + 10] !== keys[b + K_NW] ||
      k[o + 1] !== keys[b + 36] ||
      k[o + 2] !== keys[b + 37] ||
      k[o + 3] !== keys[b + 38] ||
      k[o + 4] !== keys[b + 39] ||
      k[o + 5] !== keys[b + 40] ||
      k[o + 6] !== keys[b + 41] ||
      k[o + 7] !== keys[b + 42] ||
      k[o + 12] !== keys[b + K_TCP_FLAGS] ||
      k[o + 13] !== keys[b + K_IGMP_GROUP]
    ) {
      return false;
    }
    if (regions === 0) return true;
    const full = this.keys;
    const f = slot * K_DP_WORDS;
    // The metadata words are contiguous: plain loops, no index array (every
    // recirculated pass has the first region, every decapsulated packet the
    // second; keeping them apart spares a recirculation after ct the 14
    // tunnel words, a decapsulated packet the 21 conntrack words, an IPv4
    // packet the 8 ct_ipv6 words, and a packet of an IPv4 tunnel the 8
    // tun_ipv6 words, which REGION_TUNNEL_IPV6 compares through REGION_EXTRA_WORDS).
    if ((regions & R_META) !== 0) {
      for (let w = META_FIRST; w <= META_LAST; w++) if (full[f + w] !== keys[b + w]) return false;
      if (full[f + K_CT_TP] !== keys[b + K_CT_TP]) return false;
      if ((regions & R_IPV6) !== 0) for (let w = CT_IPV6_FIRST; w <= CT_IPV6_LAST; w++) if (full[f + w] !== keys[b + w]) return false;
      regions &= ~R_META;
    }
    if ((regions & R_TUNNEL) !== 0) {
      for (let w = TUNNEL_FIRST; w <= TUNNEL_LAST; w++) if (full[f + w] !== keys[b + w]) return false;
      if (full[f + K_TUN_FLAGS] !== keys[b + K_TUN_FLAGS] || full[f + K_TUN_TP] !== keys[b + K_TUN_TP]) return false;
      regions &= ~R_TUNNEL;
    }
    if (regions === 0) return true;
    const words = REGION_EXTRA_WORDS[regions];
    for (let i = 0; i < words.length; i++) {
      const w = words[i];
      if (full[f + w] !== keys[b + w]) return false;
    }
    return true;
  }

  /** Maybe inserts (by the insertion probability): sampleInsert(), then insert() when it says so. */
  maybeInsert(keys: Uint32Array, base: number, hash: number, regions: number, flow: number, gen: number, alive: (flow: number, gen: number) => boolean): void {
    if (this.sampleInsert()) this.insert(keys, base, hash, regions, flow, gen, alive);
  }

  /**
   * Whether this megaflow hit goes into the EMC: 1 in insertInvProb (OVS's
   * emc_probabilistic_insert). Apart from insert() so that the caller's hot
   * loop inlines this test, and the 99 hits in 100 that insert nothing pass
   * no arguments (a hash above 2^30 passed to a call is a heap number).
   */
  sampleInsert(): boolean {
    const inv = this.insertInvProb;
    if (inv <= 1) return inv === 1;
    // xorshift32: cheap and good enough for a sampling decision.
    let x = this.rng;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.rng = x;
    return (x >>> 0) % inv === 0;
  }

  /** Inserts the key; replaces an empty, dead or the second candidate slot. */
  insert(keys: Uint32Array, base: number, hash: number, regions: number, flow: number, gen: number, alive: (flow: number, gen: number) => boolean): void {
    const a = hash & EMC_MASK;
    const b = (hash >>> 16) & EMC_MASK;
    let slot = b;
    if (this.flows[a] < 0 || !alive(this.flows[a], this.gens[a])) slot = a;
    else if (this.flows[b] < 0 || !alive(this.flows[b], this.gens[b])) slot = b;
    const r = slot * RECORD_WORDS;
    for (let i = 0; i < ALWAYS.length; i++) this.records[r + i] = keys[base + ALWAYS[i]];
    this.records[r + R_HASH] = hash;
    this.records[r + R_REGIONS] = regions;
    if (regions !== 0) for (let i = 0; i < DP_WORDS; i++) this.keys[slot * DP_WORDS + i] = keys[base + i];
    this.flows[slot] = flow;
    this.gens[slot] = gen;
  }

  clear(): void {
    this.flows.fill(-1);
  }
}
