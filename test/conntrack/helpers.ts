/**
 * Test helpers: frames from the packet builders, parsed with the real parser,
 * run through the engine; state bits as OVS prints them.
 */
import { Parser, HDR_L3, HDR_L4, HDR_WORDS } from "../../src/packet/parse.js";
import * as L from "../../src/flow/layout.js";
import { build, type Layer } from "../../src/packet/build.js";
import type { Conntrack } from "../../src/conntrack/conntrack.js";
import type { CtRequest, NatRequest } from "../../src/conntrack/api.js";

export const MAC_A = "fa:16:3e:00:00:01";
export const MAC_B = "fa:16:3e:00:00:02";

const parser = new Parser();

/** A frame parsed into a fresh key, with its L3/L4 offsets. */
export class Pkt {
  readonly key = new Uint32Array(L.KEY_WORDS);
  readonly hdrs = new Uint16Array(HDR_WORDS);
  constructor(readonly frame: Uint8Array) {
    parser.parseFrame(frame, 0, frame.length, 1, this.key, 0, this.hdrs, 0);
  }
  get l3(): number {
    return this.hdrs[HDR_L3];
  }
  get l4(): number {
    return this.hdrs[HDR_L4];
  }
  /** Parses the (possibly rewritten) frame again into a new key, dropping ct state. */
  reparse(): Pkt {
    return new Pkt(this.frame);
  }
  get ctState(): number {
    return this.key[L.W_CT] & 0xff;
  }
  get ctZone(): number {
    return this.key[L.W_CT] >>> 16;
  }
  get ctNwProto(): number {
    return (this.key[L.W_CT] >>> 8) & 0xff;
  }
  get ctMark(): number {
    return this.key[L.W_CT_MARK];
  }
  get ctLabel(): bigint {
    let v = 0n;
    for (let i = 0; i < 4; i++) v = (v << 32n) | BigInt(this.key[L.W_CT_LABEL + i]);
    return v;
  }
  /** The original-direction tuple the key carries, as text. */
  get ctTuple(): string {
    const k = this.key;
    const ip = (w: number): string => `${w >>> 24}.${(w >>> 16) & 0xff}.${(w >>> 8) & 0xff}.${w & 0xff}`;
    return `${ip(k[L.W_CT_NW_SRC])}:${k[L.W_CT_TP] >>> 16}>${ip(k[L.W_CT_NW_DST])}:${k[L.W_CT_TP] & 0xffff}/${this.ctNwProto}`;
  }
  get states(): string {
    return stateText(this.ctState);
  }
}

const STATE_NAMES: [number, string][] = [
  [0x01, "new"], [0x02, "est"], [0x04, "rel"], [0x08, "rpl"], [0x10, "inv"], [0x20, "trk"], [0x40, "snat"], [0x80, "dnat"],
];

/** ct_state as OVS writes it in a flow: "+new+trk" (bits in OVS's order). */
export function stateText(state: number): string {
  let s = "";
  for (const [bit, name] of STATE_NAMES) if (state & bit) s += `+${name}`;
  return s === "" ? "0" : s;
}

export function ct(opts: Partial<CtRequest> & { nat?: NatRequest | null } = {}): CtRequest {
  return { zone: 0, commit: false, force: false, mark: null, label: null, nat: null, alg: 0, ...opts };
}

/** Runs `p` through `engine` with request `req` at time `now`; returns p. */
export function run(engine: Conntrack, p: Pkt, req: CtRequest, now = 0): Pkt {
  engine.execute(p.frame, 0, p.frame.length, p.l3, p.l4, p.key, 0, req, now);
  return p;
}

export const v4 = (src: string, dst: string, l4: Layer): Pkt =>
  new Pkt(build.eth({ src: MAC_A, dst: MAC_B }, build.ipv4({ src, dst }, l4)));
export const v6 = (src: string, dst: string, l4: Layer): Pkt =>
  new Pkt(build.eth({ src: MAC_A, dst: MAC_B }, build.ipv6({ src, dst }, l4)));

/** A TCP segment between two IPv4 endpoints "a.b.c.d:port". */
export function tcp4(from: string, to: string, flags: string, seq: number, ack = 0, opts: { window?: number; payload?: Uint8Array; options?: Uint8Array } = {}): Pkt {
  const [sa, sp] = from.split(":");
  const [da, dp] = to.split(":");
  return v4(sa, da, build.tcp({ src: Number(sp), dst: Number(dp), flags, seq, ack, window: opts.window ?? 65535, payload: opts.payload, options: opts.options }));
}

export function udp4(from: string, to: string, payload = new Uint8Array(4)): Pkt {
  const [sa, sp] = from.split(":");
  const [da, dp] = to.split(":");
  return v4(sa, da, build.udp({ src: Number(sp), dst: Number(dp) }, payload));
}
