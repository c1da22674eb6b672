/**
 * IP fragment reassembly for conntrack, as OVS 3.1's lib/ipf.c does it (on
 * by default for IPv4 and IPv6 in the userspace datapath).
 *
 * A fragment that passes ipf's checks is held (copied in; the caller drops
 * its own copy). When a list holds a first and a last fragment and the data
 * is contiguous, the reassembled packet goes through conntrack in place of
 * the fragment that completed it; then every held fragment is released with
 * the reassembled packet's ct fields, its addresses (and, in the first
 * fragment, the L4 bytes conntrack's NAT rewrote), in offset order. A list
 * that does not complete within 15 s is released on a later ct() as +inv
 * (ct_state exactly CS_INVALID, as ipf_send_expired_frags leaves it), at most
 * one list per call, or dropped 10 s after that.
 *
 * What ipf refuses goes on to conntrack, which marks fragments +inv:
 * fragments other than the last smaller than 1200 bytes (IPv4) or 1280
 * (IPv6) of L3 data, a bad IPv4 header checksum, a length that disagrees with
 * the frame, overlapping or duplicate fragments, more than 1000 fragments
 * held, a list already completed or failed.
 *
 * Limits: control path. Held fragments are copies (allocated per fragment);
 * fragments are rare, and OVS clones them too.
 */
import { read16, read32 } from "../packet/bytes.js";
import { csumAdd, csumFold, csumUpdate16, csumUpdate32 } from "../packet/checksum.js";
import * as L from "../flow/layout.js";

export const IPF_V4_FRAG_SIZE_MIN = 1200;
export const IPF_V6_FRAG_SIZE_MIN = 1280;
export const IPF_MAX_FRAGS = 1000;
/** A list's lifetime before its fragments are released as invalid (IPF_FRAG_LIST_TIMEOUT). */
export const IPF_LIST_TIMEOUT_MS = 15_000;
/** After expiry, how long before unsent fragments are purged (IPF_FRAG_LIST_PURGE_TIME_ADJ). */
export const IPF_PURGE_ADJ_MS = 10_000;
const IPV4_PACKET_MAX_HDR_SIZE = 60;
const IPV4_PACKET_MAX_SIZE = 65535;
const IPV6_PACKET_MAX_DATA = 65535;
const MAX_V4_LIST = Math.ceil((IPV4_PACKET_MAX_SIZE - IPV4_PACKET_MAX_HDR_SIZE) / (IPF_V4_FRAG_SIZE_MIN - IPV4_PACKET_MAX_HDR_SIZE));
const MAX_V6_LIST = 65535;

/** handle() results. */
export const IPF_NOT_HANDLED = 0;
/** Refused: the packet is +inv (ipf sets md.ct_state = CS_INVALID). */
export const IPF_INVALID = 1;
export const IPF_HELD = 2;
/** Held, and its list is complete: `reassembled` is ready for conntrack. */
export const IPF_COMPLETE = 3;

/** A held fragment. */
export interface Fragment {
  frame: Uint8Array;
  l3: number;
  l4: number;
  /** The fragment's key as the datapath gave it (metadata included). */
  key: Uint32Array;
  start: number;
  end: number;
}

export interface FragList {
  id: string;
  v6: boolean;
  frags: Fragment[];
  firstSeen: boolean;
  lastSeen: boolean;
  state: "open" | "completed" | "failed";
  expiresMs: number;
}

/** A packet rebuilt from a complete list. */
export interface Reassembled {
  list: FragList;
  frame: Uint8Array;
  l3: number;
  l4: number;
}

export class FragmentReassembler {
  readonly lists = new Map<string, FragList>();
  /** Fragments held (OVS's nfrag). */
  held = 0;
  reassembled: Reassembled | null = null;
  readonly counts = { accepted: 0, tooSmall: 0, overlap: 0, completedSent: 0, expiredSent: 0, purged: 0 };

  constructor(
    readonly v4Enabled = true,
    readonly v6Enabled = true,
    readonly minV4 = IPF_V4_FRAG_SIZE_MIN,
    readonly minV6 = IPF_V6_FRAG_SIZE_MIN,
    readonly fragsMax = IPF_MAX_FRAGS,
  ) {}

  /**
   * ipf_is_valid_*_frag() and ipf_handle_frag() for the packet at
   * frame[off, off + len) with its L3 header at off + l3 (HDR_NONE when the
   * parser found none) and key key[kb..].
   */
  handle(frame: Uint8Array, off: number, len: number, l3: number, key: Uint32Array, kb: number, zone: number, nowMs: number): number {
    this.reassembled = null;
    const dlType = key[kb + L.W_DL_TYPE] & 0xffff;
    if (l3 === 0xffff) return IPF_NOT_HANDLED;
    const p = off + l3;
    const l3Size = len - l3;
    let start: number, end: number, first: boolean, last: boolean, l4: number, id: string;
    const v6 = dlType === L.ETH_TYPE_IPV6;
    if (!v6) {
      if (!this.v4Enabled || l3Size < 20) return l3Size < 20 ? IPF_INVALID : IPF_NOT_HANDLED;
      const fragOff = read16(frame, p + 6);
      if ((fragOff & 0x3fff) === 0) return IPF_NOT_HANDLED;
      const totLen = read16(frame, p + 2);
      const ihl = (frame[p] & 0x0f) * 4;
      // The parser excludes Ethernet padding; a length that disagrees with the frame is invalid.
      if (totLen > l3Size || ihl < 20 || totLen < ihl) return IPF_INVALID;
      if (csumFold(csumAdd(frame, p, ihl, 0)) !== 0xffff) return IPF_INVALID;
      last = (fragOff & 0x1fff) !== 0 && (fragOff & 0x2000) === 0;
      first = (fragOff & 0x1fff) === 0 && (fragOff & 0x2000) !== 0;
      if (!last && totLen < this.minV4) {
        this.counts.tooSmall++;
        return IPF_INVALID;
      }
      start = (fragOff & 0x1fff) * 8;
      end = start + totLen - ihl - 1;
      l4 = l3 + ihl;
      id = `4|${read32(frame, p + 12)}|${read32(frame, p + 16)}|${key[kb + L.W_RECIRC_ID]}|${read16(frame, p + 4)}|${zone}|${frame[p + 9]}`;
    } else {
      if (!this.v6Enabled) return IPF_NOT_HANDLED;
      if (l3Size < 40) return IPF_INVALID;
      const plen = read16(frame, p + 4);
      if (plen + 40 > l3Size) return IPF_INVALID;
      // parse_ipv6_ext_hdrs(): find the fragment header.
      let q = p + 40;
      const stop = p + 40 + plen;
      let proto = frame[p + 6];
      let fh = -1;
      for (;;) {
        if (proto !== L.IPPROTO_HOPOPTS && proto !== L.IPPROTO_ROUTING && proto !== L.IPPROTO_DSTOPTS && proto !== L.IPPROTO_AH && proto !== L.IPPROTO_FRAGMENT) break;
        if (stop - q < 8) return IPF_NOT_HANDLED;
        if (proto === L.IPPROTO_FRAGMENT) {
          fh = q;
          proto = frame[q];
          q += 8;
          if ((read16(frame, fh + 2) & 0xfff8) !== 0) break; // A later fragment: no more headers to read.
        } else {
          const extLen = proto === L.IPPROTO_AH ? (frame[q + 1] + 2) * 4 : (frame[q + 1] + 1) * 8;
          if (stop - q < extLen) return IPF_NOT_HANDLED;
          proto = frame[q];
          q += extLen;
        }
      }
      if (fh < 0) return IPF_NOT_HANDLED;
      const offlg = read16(frame, fh + 2);
      if ((offlg & 0xfff9) === 0) return IPF_NOT_HANDLED; // Neither an offset nor "more fragments".
      last = (offlg & 0xfff8) !== 0 && (offlg & 1) === 0;
      first = (offlg & 0xfff8) === 0 && (offlg & 1) !== 0;
      if (!last && plen + 40 < this.minV6) {
        this.counts.tooSmall++;
        return IPF_INVALID;
      }
      // OVS counts a v6 fragment's data from after its fragment header, plus 8.
      start = (offlg & 0xfff8) + 8;
      end = start + (stop - q) - 1;
      l4 = q - off;
      const ident = read32(frame, fh + 4);
      let addrs = "";
      for (let i = 0; i < 8; i++) addrs += `${read32(frame, p + 8 + 4 * i)}.`;
      id = `6|${addrs}|${key[kb + L.W_RECIRC_ID]}|${ident}|${zone}`;
    }

    if (this.held >= this.fragsMax) return IPF_NOT_HANDLED;
    let list = this.lists.get(id);
    if (list === undefined) {
      list = { id, v6, frags: [], firstSeen: false, lastSeen: false, state: "open", expiresMs: nowMs + IPF_LIST_TIMEOUT_MS };
      this.lists.set(id, list);
    } else if (list.state !== "open") {
      return IPF_NOT_HANDLED;
    } else if (list.frags.length >= (v6 ? MAX_V6_LIST : MAX_V4_LIST)) {
      return IPF_NOT_HANDLED;
    }
    // ipf_is_frag_duped(): either end inside a held fragment.
    for (const f of list.frags) {
      if ((start >= f.start && start <= f.end) || (end >= f.start && end <= f.end)) {
        this.counts.overlap++;
        return IPF_INVALID;
      }
    }
    list.frags.push({ frame: frame.slice(off, off + len), l3, l4, key: key.slice(kb, kb + L.KEY_WORDS), start, end });
    this.held++;
    this.counts.accepted++;
    if (first) list.firstSeen = true;
    if (last) list.lastSeen = true;
    if (!(list.firstSeen && list.lastSeen)) return IPF_HELD;
    list.frags.sort((a, b) => a.start - b.start);
    for (let i = 1; i < list.frags.length; i++) if (list.frags[i - 1].end + 1 !== list.frags[i].start) return IPF_HELD;
    const r = v6 ? this.reassembleV6(list) : this.reassembleV4(list);
    if (r === null) {
      list.state = "failed";
      return IPF_HELD;
    }
    list.state = "completed";
    this.reassembled = r;
    return IPF_COMPLETE;
  }

  /** ipf_reassemble_v4_frags(): the first fragment's headers, every fragment's data, MF cleared. */
  private reassembleV4(list: FragList): Reassembled | null {
    const f0 = list.frags[0];
    const p0 = f0.l3;
    const len0 = read16(f0.frame, p0 + 2);
    const rest = list.frags[list.frags.length - 1].end - list.frags[1].start + 1;
    if (len0 + rest > IPV4_PACKET_MAX_SIZE) return null;
    const frame = new Uint8Array(p0 + len0 + rest);
    frame.set(f0.frame.subarray(0, p0 + len0));
    let at = p0 + len0;
    for (let i = 1; i < list.frags.length; i++) {
      const f = list.frags[i];
      const n = f.end - f.start + 1;
      frame.set(f.frame.subarray(f.l4, f.l4 + n), at);
      at += n;
    }
    const oldOff = read16(frame, p0 + 6);
    const newOff = oldOff & ~0x2000;
    let csum = csumUpdate16(read16(frame, p0 + 10), oldOff, newOff);
    csum = csumUpdate16(csum, len0, len0 + rest);
    frame[p0 + 10] = csum >>> 8;
    frame[p0 + 11] = csum & 0xff;
    frame[p0 + 2] = (len0 + rest) >>> 8;
    frame[p0 + 3] = (len0 + rest) & 0xff;
    frame[p0 + 6] = newOff >>> 8;
    frame[p0 + 7] = newOff & 0xff;
    return { list, frame, l3: p0, l4: f0.l4 };
  }

  /** ipf_reassemble_v6_frags(): the fragment header stays, with offset and M cleared. */
  private reassembleV6(list: FragList): Reassembled | null {
    const f0 = list.frags[0];
    const p0 = f0.l3;
    const plen0 = read16(f0.frame, p0 + 4);
    const rest = list.frags[list.frags.length - 1].end - list.frags[1].start + 1;
    if (plen0 - 8 + rest > IPV6_PACKET_MAX_DATA) return null;
    const frame = new Uint8Array(p0 + 40 + plen0 + rest);
    frame.set(f0.frame.subarray(0, p0 + 40 + plen0));
    let at = p0 + 40 + plen0;
    for (let i = 1; i < list.frags.length; i++) {
      const f = list.frags[i];
      const n = f.end - f.start + 1;
      frame.set(f.frame.subarray(f.l4, f.l4 + n), at);
      at += n;
    }
    const plen = plen0 + rest;
    frame[p0 + 4] = plen >>> 8;
    frame[p0 + 5] = plen & 0xff;
    // Clear the fragment header's offset and M flag (it sits right before the L4 data).
    frame[f0.l4 - 6] = 0;
    frame[f0.l4 - 5] = 0;
    return { list, frame, l3: p0, l4: f0.l4 };
  }

  /**
   * ipf_post_execute_reass_pkts(): the reassembled packet went through
   * conntrack; its L4 bytes go back into the first fragment and its
   * addresses into every fragment (IPv4 header checksums patched).
   */
  postExecute(r: Reassembled): void {
    const rf = r.frame;
    const f0 = r.list.frags[0];
    const l4Size0 = f0.frame.length - f0.l4 - padOf(f0, r.list.v6);
    f0.frame.set(rf.subarray(r.l4, r.l4 + l4Size0), f0.l4);
    for (const f of r.list.frags) {
      const b = f.frame;
      if (r.list.v6) {
        b.set(rf.subarray(r.l3 + 8, r.l3 + 40), f.l3 + 8);
      } else {
        let csum = read16(b, f.l3 + 10);
        csum = csumUpdate32(csum, read32(b, f.l3 + 12), read32(rf, r.l3 + 12));
        csum = csumUpdate32(csum, read32(b, f.l3 + 16), read32(rf, r.l3 + 16));
        b[f.l3 + 10] = csum >>> 8;
        b[f.l3 + 11] = csum & 0xff;
        b.set(rf.subarray(r.l3 + 12, r.l3 + 20), f.l3 + 12);
      }
    }
    this.held -= r.list.frags.length;
    this.counts.completedSent += r.list.frags.length;
    this.lists.delete(r.list.id);
  }

  /**
   * ipf_send_expired_frags(): the oldest list past its expiration, if any,
   * leaves (at most one per call); a list 10 s further past is purged.
   */
  takeExpired(nowMs: number): FragList | null {
    for (const list of this.lists.values()) {
      if (list.state === "completed") continue;
      if (nowMs <= list.expiresMs) return null;
      this.lists.delete(list.id);
      this.held -= list.frags.length;
      if (nowMs >= list.expiresMs + IPF_PURGE_ADJ_MS) {
        this.counts.purged += list.frags.length;
        continue;
      }
      this.counts.expiredSent += list.frags.length;
      return list;
    }
    return null;
  }

  /** The ipf clean thread: purges lists 10 s past their expiration. */
  purge(nowMs: number): void {
    for (const list of this.lists.values()) {
      if (nowMs >= list.expiresMs + IPF_PURGE_ADJ_MS) {
        this.lists.delete(list.id);
        this.held -= list.frags.length;
        this.counts.purged += list.frags.length;
      }
    }
  }

  clear(): void {
    this.lists.clear();
    this.held = 0;
  }
}

/** Ethernet padding after a held fragment's IP data. */
function padOf(f: Fragment, v6: boolean): number {
  const ipEnd = v6 ? f.l3 + 40 + read16(f.frame, f.l3 + 4) : f.l3 + read16(f.frame, f.l3 + 2);
  return f.frame.length - ipEnd;
}
