/**
 * MAC learning table of one bridge, for the NORMAL action (OVS's
 * lib/mac-learning.c): (VLAN, MAC) -> port, with aging.
 *
 * Invariants: an entry is live while `nowMs - usedMs < agingMs`; multicast
 * MACs are never learned or looked up (NORMAL floods them); at most
 * `entriesMax` entries, the least recently used evicted first.
 * `version` changes whenever a lookup could answer differently, so the
 * megaflow cache knows to revalidate.
 * Time is passed in, never read here, so tests are deterministic.
 */

/** OVS's MAC_ENTRY_DEFAULT_IDLE_TIME: 300 s. */
export const MAC_AGING_MS_DEFAULT = 300_000;
/** OVS's MAC_DEFAULT_MAX: 8192 entries per bridge. */
export const MAC_ENTRIES_MAX_DEFAULT = 8192;
/** OVS's MAC_GRAT_ARP_LOCK_TIME: a MAC learned from a gratuitous ARP is locked for 5 s. */
const GRAT_ARP_LOCK_MS = 5_000;

export interface MacEntry {
  vlan: number;
  mac: bigint;
  port: number;
  usedMs: number;
  /** Until when a gratuitous ARP pins the entry (later non-gratuitous moves are ignored). */
  grantArpLockUntilMs: number;
}

const keyOf = (mac: bigint, vlan: number): bigint => (BigInt(vlan) << 48n) | mac;
export const isMulticastMac = (mac: bigint): boolean => ((mac >> 40n) & 1n) === 1n;

export class MacTable {
  private readonly entries = new Map<bigint, MacEntry>();
  version = 0;
  /** Called on every version change (the Switch counts them for the datapath). */
  onChange: () => void = () => {};

  constructor(
    public agingMs = MAC_AGING_MS_DEFAULT,
    public entriesMax = MAC_ENTRIES_MAX_DEFAULT,
  ) {}

  /** The port `mac` was learned on in `vlan`, or -1. Multicast MACs are never learned. */
  lookup(mac: bigint, vlan: number, nowMs: number): number {
    if (isMulticastMac(mac)) return -1;
    const e = this.entries.get(keyOf(mac, vlan));
    if (!e || nowMs - e.usedMs >= this.agingMs) return -1;
    return e.port;
  }

  /**
   * Learns that `mac` is on `port` in `vlan`. Returns true when the table
   * changed (a new entry or a move), which OVS reports as "learned that ...".
   */
  learn(mac: bigint, vlan: number, port: number, nowMs: number, isGratArp: boolean): boolean {
    if (isMulticastMac(mac)) return false;
    const k = keyOf(mac, vlan);
    const e = this.entries.get(k);
    if (e && nowMs - e.usedMs < this.agingMs) {
      if (e.port === port) {
        e.usedMs = nowMs;
        // Keep recency order for LRU eviction.
        this.entries.delete(k);
        this.entries.set(k, e);
        return false;
      }
      // A MAC pinned by a recent gratuitous ARP only moves on another gratuitous ARP.
      if (!isGratArp && nowMs < e.grantArpLockUntilMs) return false;
      this.entries.delete(k);
    } else if (e) {
      this.entries.delete(k);
    }
    if (this.entries.size >= this.entriesMax) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(k, { vlan, mac, port, usedMs: nowMs, grantArpLockUntilMs: isGratArp ? nowMs + GRAT_ARP_LOCK_MS : 0 });
    this.bump();
    return true;
  }

  private bump(): void {
    this.version++;
    this.onChange();
  }

  /** Marks an entry used at `usedMs` if it still says `port` (no version change: the answer is the same). */
  refresh(mac: bigint, vlan: number, port: number, usedMs: number): void {
    const e = this.entries.get(keyOf(mac, vlan));
    if (e && e.port === port && usedMs > e.usedMs) e.usedMs = usedMs;
  }

  /** Removes entries idle for agingMs; returns how many. */
  expire(nowMs: number): number {
    let n = 0;
    for (const [k, e] of this.entries) {
      if (nowMs - e.usedMs >= this.agingMs) {
        this.entries.delete(k);
        n++;
      }
    }
    if (n) this.bump();
    return n;
  }

  /** Forgets every MAC learned on `port` (port deleted or reconfigured). */
  flushPort(port: number): void {
    for (const [k, e] of this.entries) if (e.port === port) this.entries.delete(k);
    this.bump();
  }

  /** Live entries, oldest use first (for `fdb/show`-like dumps and tests). */
  list(nowMs: number): MacEntry[] {
    return [...this.entries.values()].filter((e) => nowMs - e.usedMs < this.agingMs);
  }

  get count(): number {
    return this.entries.size;
  }
}
