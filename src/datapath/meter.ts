/**
 * Datapath meters: the token buckets the `meter(ID)` datapath action runs a
 * packet through, after Open vSwitch's dpif-netdev (dp_netdev_run_meter,
 * dpif_netdev_meter_set) and the datapath meter ids ofproto-dpif hands out
 * (the backer's id pool). One table serves every bridge of the switch, as
 * one dpif serves every bridge of a backer, so ids are switch-wide.
 *
 * How a packet is metered (dp_netdev_run_meter for a batch of one):
 * - Time: the packet time the datapath is given, in ms (replay: the
 *   capture's, so results are deterministic; daemon: wall time). The time
 *   since the meter's last packet is counted in whole ms as OVS counts it,
 *   floor(now) - floor(used), never below 0 and never above maxDeltaMs (the
 *   longest refill any band needs, floor(burst * 1000 / rate)).
 * - Each band's bucket gains delta_ms * rate, capped at burst * 1000, in
 *   1/1000 packet for pktps meters (ms * packets/s) or in bits for kbps
 *   meters (ms * kbit/s); the packet then takes 1000 (pktps) or 8 * size
 *   bits (kbps) out of each band whose bucket holds that much. A band whose
 *   bucket does not is exceeded; it keeps its bucket.
 * - Of the exceeded bands the one with the highest rate (the first of equal
 *   ones) fires: a drop band drops the packet. No band exceeded: it passes.
 * - A band's burst size is its rate when none is given; buckets start full,
 *   and a meter that is set again (mod-meter) starts over full.
 * OVS meters a batch of packets at once with one time; metering them one at
 * a time with that time takes the same packets (the bucket drains in order,
 * and a pktps remainder stays in the bucket either way).
 *
 * Invariant: nothing is allocated in run(); per meter and per band state
 * lives in typed arrays indexed by meter id (band b of meter m at
 * m * METER_BANDS_MAX + b), grown only when set() is given a higher id.
 * Limits: METERS_MAX meters, METER_BANDS_MAX bands, drop bands only (OVS's
 * DP_SUPPORTED_METER_BAND_TYPES: dscp_remark is refused, OFPMMFC_BAD_BAND).
 */
import { METERS_MAX, METER_BANDS_MAX } from "../limits.js";
import { OFPMF13_PKTPS, OFPMF13_KBPS, OFPMF13_BURST, OFPMF13_STATS, OFPMBT13_DROP, type Meter } from "../openflow/meter.js";

/** Flags dpif-netdev supports (DP_SUPPORTED_METER_FLAGS_MASK). */
const FLAGS_SUPPORTED = OFPMF13_KBPS | OFPMF13_PKTPS | OFPMF13_BURST | OFPMF13_STATS;
const CAPACITY_MIN = 16;
const BANDS = METER_BANDS_MAX;

/** Why set() refused a meter, as ofproto-dpif's meter_set reports it. */
export type MeterSetError = "OFPMMFC_BAD_FLAGS" | "OFPMMFC_OUT_OF_BANDS" | "OFPMMFC_BAD_BAND" | "OFPMMFC_OUT_OF_METERS";

export class DpMeters {
  /** Ids handed out (the backer's id pool): 1 per id in use. */
  private allocated = new Uint8Array(CAPACITY_MIN);
  /** 1 where the datapath has a meter. */
  private present = new Uint8Array(CAPACITY_MIN);
  private pktps = new Uint8Array(CAPACITY_MIN);
  private bandCount = new Uint8Array(CAPACITY_MIN);
  private maxDeltaMs = new Float64Array(CAPACITY_MIN);
  private usedMs = new Float64Array(CAPACITY_MIN);
  private packetCount = new Float64Array(CAPACITY_MIN);
  private byteCount = new Float64Array(CAPACITY_MIN);
  private rate = new Float64Array(CAPACITY_MIN * BANDS);
  private burst = new Float64Array(CAPACITY_MIN * BANDS);
  private bucket = new Float64Array(CAPACITY_MIN * BANDS);
  private bandPackets = new Float64Array(CAPACITY_MIN * BANDS);
  private bandBytes = new Float64Array(CAPACITY_MIN * BANDS);

  /** Packets a meter band dropped (OVS's datapath_drop_meter coverage counter). */
  dropCount = 0;

  /** The lowest free datapath meter id (id_pool_alloc_id), or -1 when all METERS_MAX are in use. */
  allocId(): number {
    for (let id = 0; id < METERS_MAX; id++) {
      if (id >= this.allocated.length) this.grow(id);
      if (this.allocated[id] === 0) {
        this.allocated[id] = 1;
        return id;
      }
    }
    return -1;
  }

  /** Gives an id back to the pool and removes its meter. */
  freeId(id: number): void {
    if (id < 0 || id >= this.allocated.length) return;
    this.allocated[id] = 0;
    this.present[id] = 0;
  }

  /**
   * Installs (or replaces, with full buckets) the datapath meter `id` for
   * `m` (dpif_netdev_meter_set); returns why it cannot, or null.
   */
  set(id: number, m: Meter): MeterSetError | null {
    if (id < 0 || id >= METERS_MAX) return "OFPMMFC_OUT_OF_METERS";
    if (m.flags & ~FLAGS_SUPPORTED) return "OFPMMFC_BAD_FLAGS";
    if (m.bands.length > BANDS) return "OFPMMFC_OUT_OF_BANDS";
    for (const b of m.bands) if (b.type !== OFPMBT13_DROP) return "OFPMMFC_BAD_BAND";
    if (id >= this.present.length) this.grow(id);
    this.present[id] = 1;
    this.pktps[id] = m.flags & OFPMF13_PKTPS ? 1 : 0;
    this.bandCount[id] = m.bands.length;
    this.usedMs[id] = 0;
    this.packetCount[id] = 0;
    this.byteCount[id] = 0;
    let maxDelta = 0;
    for (let i = 0; i < m.bands.length; i++) {
      const b = id * BANDS + i;
      const rate = m.bands[i].rate;
      // "Set burst size to a workable value if none specified."
      const burst = m.bands[i].burstSize === 0 ? rate : m.bands[i].burstSize;
      this.rate[b] = rate;
      this.burst[b] = burst;
      this.bucket[b] = burst * 1000;
      this.bandPackets[b] = 0;
      this.bandBytes[b] = 0;
      const delta = Math.floor((burst * 1000) / rate);
      if (delta > maxDelta) maxDelta = delta;
    }
    this.maxDeltaMs[id] = maxDelta;
    return null;
  }

  /** Whether the datapath has meter `id`. */
  has(id: number): boolean {
    return id >= 0 && id < this.present.length && this.present[id] === 1;
  }

  /**
   * Runs a packet of `size` bytes at time nowMs through meter `id`; false
   * when a band drops it. A meter the datapath lacks passes everything, as
   * dp_netdev_run_meter returns when its lookup fails.
   */
  run(id: number, size: number, nowMs: number): boolean {
    if (id >= this.present.length || this.present[id] === 0) return true;
    let deltaMs = Math.floor(nowMs) - Math.floor(this.usedMs[id]);
    if (deltaMs < 0) deltaMs = 0;
    const maxDelta = this.maxDeltaMs[id];
    if (deltaMs > maxDelta) deltaMs = maxDelta;
    this.usedMs[id] = nowMs;
    this.packetCount[id]++;
    this.byteCount[id] += size;
    const volume = this.pktps[id] === 1 ? 1000 : size * 8;
    let firedBand = -1;
    let firedRate = 0;
    const n = this.bandCount[id];
    const rate = this.rate;
    const bucket = this.bucket;
    for (let i = 0, b = id * BANDS; i < n; i++, b++) {
      const full = this.burst[b] * 1000;
      let level = bucket[b] + deltaMs * rate[b];
      if (level > full) level = full;
      if (level >= volume) {
        bucket[b] = level - volume;
      } else {
        bucket[b] = level;
        if (rate[b] > firedRate) {
          firedRate = rate[b];
          firedBand = b;
        }
      }
    }
    if (firedBand < 0) return true;
    this.bandPackets[firedBand]++;
    this.bandBytes[firedBand] += size;
    this.dropCount++;
    return false;
  }

  /** Packets and bytes the meter saw, and per band the packets and bytes it dropped (dpif_netdev_meter_get). */
  stats(id: number): { packets: number; bytes: number; bands: { packets: number; bytes: number }[] } | null {
    if (!this.has(id)) return null;
    const bands: { packets: number; bytes: number }[] = [];
    for (let i = 0; i < this.bandCount[id]; i++) bands.push({ packets: this.bandPackets[id * BANDS + i], bytes: this.bandBytes[id * BANDS + i] });
    return { packets: this.packetCount[id], bytes: this.byteCount[id], bands };
  }

  /** Makes room for id (control plane only): every array at least doubles. */
  private grow(id: number): void {
    let cap = this.present.length;
    while (cap <= id) cap *= 2;
    if (cap > METERS_MAX) cap = METERS_MAX;
    const u8 = (a: Uint8Array<ArrayBuffer>): Uint8Array<ArrayBuffer> => {
      const x = new Uint8Array(cap);
      x.set(a);
      return x;
    };
    const f64 = (a: Float64Array<ArrayBuffer>, per: number): Float64Array<ArrayBuffer> => {
      const x = new Float64Array(cap * per);
      x.set(a);
      return x;
    };
    this.allocated = u8(this.allocated);
    this.present = u8(this.present);
    this.pktps = u8(this.pktps);
    this.bandCount = u8(this.bandCount);
    this.maxDeltaMs = f64(this.maxDeltaMs, 1);
    this.usedMs = f64(this.usedMs, 1);
    this.packetCount = f64(this.packetCount, 1);
    this.byteCount = f64(this.byteCount, 1);
    this.rate = f64(this.rate, BANDS);
    this.burst = f64(this.burst, BANDS);
    this.bucket = f64(this.bucket, BANDS);
    this.bandPackets = f64(this.bandPackets, BANDS);
    this.bandBytes = f64(this.bandBytes, BANDS);
  }
}
