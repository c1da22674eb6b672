/**
 * Executes datapath actions on one frame: header rewrites with incremental
 * checksum updates (RFC 1624), VLAN push/pop, and outputs.
 *
 * Invariant: the frame an output emits is exactly the input frame with every
 * action before it applied, as dpif-netdev's odp_execute_actions() produces.
 * The input frame is never written: the first action that changes bytes
 * copies it once into a scratch buffer (copy on write), and outputs of an
 * unchanged frame hand out the original bytes.
 *
 * Limits: frames up to SCRATCH_SIZE bytes plus VLAN_HEADERS_MAX pushes;
 * ct/recirc are handled by the caller (the datapath), not here.
 */
import * as L from "../flow/layout.js";
import type { OdpAction } from "./actions.js";
import { csumReplace16, csumReplace32, csumUpdate16, csumUpdate32, crc32c } from "../packet/checksum.js";
import { HDR_L3, HDR_L4, HDR_NONE } from "../packet/parse.js";

const HEADROOM = 64;
const SCRATCH_SIZE = 65536 + HEADROOM;

/** Receives each output: the datapath port and the frame's bytes. */
export type EmitFn = (dpPort: number, buf: Uint8Array, offset: number, length: number) => void;

export class Executor {
  private readonly scratch = new Uint8Array(SCRATCH_SIZE);
  /** Frames dropped because they were too large to rewrite. */
  tooLargeCount = 0;

  /**
   * Runs `actions` on frame buf[offset, offset + length) whose parsed key is
   * key[kb..] and header offsets hdrs[hb..] (parse.ts), calling emit per output.
   */
  run(
    buf: Uint8Array,
    offset: number,
    length: number,
    key: Uint32Array,
    kb: number,
    hdrs: Uint16Array,
    hb: number,
    actions: readonly OdpAction[],
    emit: EmitFn,
  ): void {
    let b = buf;
    let start = offset;
    let len = length;
    let copied = false;
    let l3 = hdrs[hb + HDR_L3];
    let l4 = hdrs[hb + HDR_L4];
    const dlType = key[kb + L.W_DL_TYPE] & 0xffff;
    const nw = key[kb + L.W_NW];
    const proto = nw & 0xff;
    const laterFrag = ((nw >>> L.NW_FRAG_SHIFT) & L.FRAG_LATER) !== 0;

    const own = (): boolean => {
      if (copied) return true;
      if (len + HEADROOM > SCRATCH_SIZE) {
        this.tooLargeCount++;
        return false;
      }
      this.scratch.set(buf.subarray(offset, offset + length), HEADROOM);
      b = this.scratch;
      start = HEADROOM;
      copied = true;
      return true;
    };

    for (const a of actions) {
      switch (a.t) {
        case "output":
          emit(a.port, b, start, len);
          break;
        case "push_vlan": {
          if (!own() || start < 4) return;
          b.copyWithin(start - 4, start, start + 12);
          start -= 4;
          len += 4;
          b[start + 12] = a.tpid >>> 8;
          b[start + 13] = a.tpid & 0xff;
          // The CFI bit in the key means "present"; on the wire it is DEI, which OVS clears.
          const tci = a.tci & ~L.VLAN_CFI;
          b[start + 14] = tci >>> 8;
          b[start + 15] = tci & 0xff;
          if (l3 !== HDR_NONE) l3 += 4;
          if (l4 !== HDR_NONE) l4 += 4;
          break;
        }
        case "pop_vlan": {
          const t = (b[start + 12] << 8) | b[start + 13];
          if (len < 18 || (t !== L.ETH_TYPE_VLAN_8021Q && t !== L.ETH_TYPE_VLAN_8021AD)) break;
          if (!own()) return;
          b.copyWithin(start + 4, start, start + 12);
          start += 4;
          len -= 4;
          if (l3 !== HDR_NONE) l3 -= 4;
          if (l4 !== HDR_NONE) l4 -= 4;
          break;
        }
        case "set": {
          if (!own()) return;
          const v = a.value;
          const m = a.mask;
          const masked = a.masked;
          const mk = (w: number): number => (masked ? m[w] : 0xffffffff);
          switch (a.attr) {
            case "eth":
              writeMac(b, start, v[L.W_DL_DST], v[L.W_DL_DST + 1], mk(L.W_DL_DST), mk(L.W_DL_DST + 1));
              writeMac(b, start + 6, v[L.W_DL_SRC], v[L.W_DL_SRC + 1], mk(L.W_DL_SRC), mk(L.W_DL_SRC + 1));
              break;
            case "ipv4":
              if (l3 === HDR_NONE || dlType !== L.ETH_TYPE_IP) break;
              setIpv4(b, start + l3, l4 === HDR_NONE || laterFrag ? -1 : start + l4, proto, start + len, v, masked ? m : null);
              break;
            case "ipv6":
              if (l3 === HDR_NONE || dlType !== L.ETH_TYPE_IPV6) break;
              setIpv6(b, start + l3, l4 === HDR_NONE || laterFrag ? -1 : start + l4, proto, start + len, v, masked ? m : null);
              break;
            case "tcp":
            case "udp":
            case "sctp":
              if (l4 === HDR_NONE || laterFrag) break;
              setPorts(b, start + l4, start + len, a.attr, v[L.W_TP], mk(L.W_TP));
              break;
            case "icmp":
            case "icmpv6":
              if (l4 === HDR_NONE || laterFrag || start + l4 + 4 > start + len) break;
              {
                const p = start + l4;
                const old = (b[p] << 8) | b[p + 1];
                const want = (((v[L.W_TP] >>> 16) & 0xff) << 8) | (v[L.W_TP] & 0xff);
                const wm = (((mk(L.W_TP) >>> 16) & 0xff) << 8) | (mk(L.W_TP) & 0xff);
                csumReplace16(b, p + 2, p, (old & ~wm) | (want & wm));
              }
              break;
            default:
              break; // skb_priority, skb_mark: metadata, no bytes
          }
          break;
        }
        default:
          break;
      }
    }
  }
}

function writeMac(b: Uint8Array, at: number, hi: number, lo: number, mhi: number, mlo: number): void {
  const bytes = [hi >>> 8, hi, lo >>> 24, lo >>> 16, lo >>> 8, lo];
  const masks = [mhi >>> 8, mhi, mlo >>> 24, mlo >>> 16, mlo >>> 8, mlo];
  for (let i = 0; i < 6; i++) {
    const mm = masks[i] & 0xff;
    b[at + i] = (b[at + i] & ~mm) | (bytes[i] & mm);
  }
}

const read32 = (b: Uint8Array, at: number): number => ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;

/** Offset of the L4 checksum covering the pseudo-header, or -1 (none, absent or UDP "no checksum"). */
function l4CsumAt(b: Uint8Array, l4: number, end: number, proto: number): number {
  if (l4 < 0) return -1;
  if (proto === L.IPPROTO_TCP && l4 + 18 <= end) return l4 + 16;
  if (proto === L.IPPROTO_UDP && l4 + 8 <= end) return b[l4 + 6] | b[l4 + 7] ? l4 + 6 : -1;
  if (proto === L.IPPROTO_ICMPV6 && l4 + 4 <= end) return l4 + 2;
  return -1;
}

/** Patches an L4 checksum for a changed 32-bit pseudo-header word; UDP never writes 0. */
function patchL4(b: Uint8Array, at: number, proto: number, oldV: number, newV: number): void {
  if (at < 0) return;
  let c = csumUpdate32((b[at] << 8) | b[at + 1], oldV, newV);
  if (proto === L.IPPROTO_UDP && c === 0) c = 0xffff;
  b[at] = c >>> 8;
  b[at + 1] = c & 0xff;
}

function setIpv4(b: Uint8Array, p: number, l4: number, proto: number, end: number, v: Uint32Array, m: Uint32Array | null): void {
  if (p + 20 > end) return;
  const l4c = l4CsumAt(b, l4, end, proto);
  const fields: [number, number][] = [
    [L.W_NW_SRC, p + 12],
    [L.W_NW_DST, p + 16],
  ];
  for (const [w, at] of fields) {
    const mm = m ? m[w] : 0xffffffff;
    if (!mm) continue;
    const old = read32(b, at);
    const nv = ((old & ~mm) | (v[w] & mm)) >>> 0;
    if (nv === old) continue;
    csumReplace32(b, p + 10, at, nv);
    patchL4(b, l4c, proto, old, nv);
  }
  const nwMask = m ? m[L.W_NW] : 0xffffffff;
  const tosMask = (nwMask >>> L.NW_TOS_SHIFT) & 0xff;
  if (tosMask) {
    const old = (b[p] << 8) | b[p + 1];
    const tos = (b[p + 1] & ~tosMask) | ((v[L.W_NW] >>> L.NW_TOS_SHIFT) & tosMask);
    csumReplace16(b, p + 10, p, (old & 0xff00) | (tos & 0xff));
  }
  const ttlMask = (nwMask >>> L.NW_TTL_SHIFT) & 0xff;
  if (ttlMask) {
    const old = (b[p + 8] << 8) | b[p + 9];
    const ttl = (b[p + 8] & ~ttlMask) | ((v[L.W_NW] >>> L.NW_TTL_SHIFT) & ttlMask);
    csumReplace16(b, p + 10, p + 8, ((ttl & 0xff) << 8) | (old & 0xff));
  }
}

function setIpv6(b: Uint8Array, p: number, l4: number, proto: number, end: number, v: Uint32Array, m: Uint32Array | null): void {
  if (p + 40 > end) return;
  const l4c = l4CsumAt(b, l4, end, proto);
  for (const [w0, at0] of [
    [L.W_IPV6_SRC, p + 8],
    [L.W_IPV6_DST, p + 24],
  ]) {
    for (let i = 0; i < 4; i++) {
      const w = w0 + i;
      const at = at0 + 4 * i;
      const mm = m ? m[w] : 0xffffffff;
      if (!mm) continue;
      const old = read32(b, at);
      const nv = ((old & ~mm) | (v[w] & mm)) >>> 0;
      if (nv === old) continue;
      b[at] = nv >>> 24;
      b[at + 1] = nv >>> 16;
      b[at + 2] = nv >>> 8;
      b[at + 3] = nv;
      patchL4(b, l4c, proto, old, nv);
    }
  }
  const first = read32(b, p);
  const labelMask = (m ? m[L.W_IPV6_LABEL] : 0xfffff) & 0xfffff;
  const tcMask = ((m ? m[L.W_NW] : 0xffffffff) >>> L.NW_TOS_SHIFT) & 0xff;
  const want = ((first & ~labelMask & ~(tcMask << 20)) | (v[L.W_IPV6_LABEL] & labelMask) | ((((v[L.W_NW] >>> L.NW_TOS_SHIFT) & tcMask) << 20) >>> 0)) >>> 0;
  b[p] = want >>> 24;
  b[p + 1] = want >>> 16;
  b[p + 2] = want >>> 8;
  b[p + 3] = want;
  const hlMask = ((m ? m[L.W_NW] : 0xffffffff) >>> L.NW_TTL_SHIFT) & 0xff;
  if (hlMask) b[p + 7] = (b[p + 7] & ~hlMask) | ((v[L.W_NW] >>> L.NW_TTL_SHIFT) & hlMask);
}

function setPorts(b: Uint8Array, p: number, end: number, attr: "tcp" | "udp" | "sctp", tp: number, mask: number): void {
  if (p + 4 > end) return;
  const oldSrc = (b[p] << 8) | b[p + 1];
  const oldDst = (b[p + 2] << 8) | b[p + 3];
  const src = (oldSrc & ~(mask >>> 16)) | ((tp >>> 16) & (mask >>> 16));
  const dst = (oldDst & ~(mask & 0xffff)) | (tp & mask & 0xffff);
  if (attr === "sctp") {
    b[p] = src >>> 8;
    b[p + 1] = src;
    b[p + 2] = dst >>> 8;
    b[p + 3] = dst;
    if (p + 12 <= end) {
      // SCTP's CRC32c covers the whole packet: recompute it (stored little-endian).
      b.fill(0, p + 8, p + 12);
      const c = crc32c(b, p, end - p);
      b[p + 8] = c;
      b[p + 9] = c >>> 8;
      b[p + 10] = c >>> 16;
      b[p + 11] = c >>> 24;
    }
    return;
  }
  const csumAt = attr === "tcp" ? p + 16 : p + 6;
  const hasCsum = csumAt + 2 <= end && (attr === "tcp" || b[csumAt] | b[csumAt + 1]);
  for (const [at, nv, ov] of [
    [p, src, oldSrc],
    [p + 2, dst, oldDst],
  ]) {
    if (nv === ov) continue;
    if (hasCsum) {
      let c = csumUpdate16((b[csumAt] << 8) | b[csumAt + 1], ov, nv);
      if (attr === "udp" && c === 0) c = 0xffff;
      b[csumAt] = c >>> 8;
      b[csumAt + 1] = c & 0xff;
    }
    b[at] = nv >>> 8;
    b[at + 1] = nv & 0xff;
  }
}
