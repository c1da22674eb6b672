/**
 * Address text to bytes and bytes to text, for the packet builder and the
 * control plane: MAC, IPv4 and IPv6 parsing, hex dumps, truncation.
 * Invariant: every parser either returns exactly 6, 4 or 16 bytes or throws an
 * AddressSyntaxError naming the text; nothing is guessed.
 * Limits: control plane only (allocates); IPv6 zone ids ("%eth0") are
 * rejected, since a packet carries none.
 */
import { FlowplaneError } from "../errors.js";

/** An address as text ("fa:16:3e:00:00:01", "10.0.0.1", "fe80::1") or as
 * bytes taken as they are (which lets a test craft a wrong-sized field). */
export type Addr = string | Uint8Array;

/** Address text that does not parse. */
export class AddressSyntaxError extends FlowplaneError {
  readonly text: string;
  constructor(kind: string, text: string) {
    super("FP_ERR_ADDRESS_SYNTAX", `invalid ${kind} address: "${text}"`);
    this.name = "AddressSyntaxError";
    this.text = text;
  }
}

/** "fa:16:3e:8b:7c:11" (or with "-") to 6 bytes. */
export function parseMac(text: string): Uint8Array {
  const parts = text.split(/[:-]/);
  if (parts.length !== 6) throw new AddressSyntaxError("MAC", text);
  const out = new Uint8Array(6);
  for (let i = 0; i < 6; i++) {
    if (!/^[0-9a-fA-F]{1,2}$/.test(parts[i])) throw new AddressSyntaxError("MAC", text);
    out[i] = parseInt(parts[i], 16);
  }
  return out;
}

/** Dotted quad to 4 bytes; each part is a decimal 0..255 without leading zeros. */
export function parseIPv4(text: string): Uint8Array {
  const parts = text.split(".");
  if (parts.length !== 4) throw new AddressSyntaxError("IPv4", text);
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i];
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) throw new AddressSyntaxError("IPv4", text);
    const v = Number(p);
    if (v > 255) throw new AddressSyntaxError("IPv4", text);
    out[i] = v;
  }
  return out;
}

/** RFC 4291 text (with "::" and an optional dotted-quad tail) to 16 bytes. */
export function parseIPv6(text: string): Uint8Array {
  const fail = (): never => {
    throw new AddressSyntaxError("IPv6", text);
  };
  const halves = text.split("::");
  if (halves.length > 2) fail();
  const words: number[][] = [];
  for (let h = 0; h < halves.length; h++) {
    const half = halves[h];
    const groups = half === "" ? [] : half.split(":");
    const ws: number[] = [];
    for (let g = 0; g < groups.length; g++) {
      const group = groups[g];
      const last = h === halves.length - 1 && g === groups.length - 1;
      if (last && group.includes(".")) {
        let v4: Uint8Array;
        try {
          v4 = parseIPv4(group);
        } catch {
          return fail();
        }
        ws.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(group)) fail();
        ws.push(parseInt(group, 16));
      }
    }
    words.push(ws);
  }
  let all: number[];
  if (words.length === 1) {
    if (words[0].length !== 8) fail();
    all = words[0];
  } else {
    const zeros = 8 - words[0].length - words[1].length;
    if (zeros < 1) fail();
    all = [...words[0], ...new Array<number>(zeros).fill(0), ...words[1]];
  }
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = all[i] >>> 8;
    out[2 * i + 1] = all[i] & 0xff;
  }
  return out;
}

/** An IPv4 or IPv6 address by its text (":" means IPv6). */
export function parseIP(text: string): Uint8Array {
  return text.includes(":") ? parseIPv6(text) : parseIPv4(text);
}

export function macBytes(a: Addr): Uint8Array {
  return typeof a === "string" ? parseMac(a) : a.slice();
}

export function ipv4Bytes(a: Addr): Uint8Array {
  return typeof a === "string" ? parseIPv4(a) : a.slice();
}

export function ipv6Bytes(a: Addr): Uint8Array {
  return typeof a === "string" ? parseIPv6(a) : a.slice();
}

/** The modified EUI-64 link-local address of a MAC (RFC 4291 appendix A):
 * fa:16:3e:8b:7c:11 gives fe80::f816:3eff:fe8b:7c11. */
export function linkLocalFromMac(mac: Addr): Uint8Array {
  const m = macBytes(mac);
  const out = new Uint8Array(16);
  out[0] = 0xfe;
  out[1] = 0x80;
  out.set([m[0] ^ 0x02, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]], 8);
  return out;
}

/** The solicited-node multicast address of an IPv6 address (ff02::1:ffXX:XXXX). */
export function solicitedNode(ip: Addr): Uint8Array {
  const a = ipv6Bytes(ip);
  const out = parseIPv6("ff02::1:ff00:0");
  out.set(a.subarray(13, 16), 13);
  return out;
}

/** The Ethernet multicast MAC for an IPv6 multicast address (33:33 + low 32 bits). */
export function ipv6MulticastMac(ip: Addr): Uint8Array {
  const a = ipv6Bytes(ip);
  return Uint8Array.of(0x33, 0x33, a[12], a[13], a[14], a[15]);
}

/** Lower-case hex with no separators, e.g. "ffffffffffff0000...". */
export function toHex(frame: Uint8Array): string {
  let s = "";
  for (let i = 0; i < frame.length; i++) s += frame[i].toString(16).padStart(2, "0");
  return s;
}

/** Hex to bytes; whitespace, ":" and "." are ignored so test vectors can be
 * laid out by field ("ffff ffff ffff 0000"). */
export function fromHex(text: string): Uint8Array {
  const clean = text.replace(/[\s:.]/g, "");
  if (clean.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(clean)) {
    throw new FlowplaneError("FP_ERR_HEX_SYNTAX", `invalid hex: "${text}"`);
  }
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** A copy of the first `size` bytes of a frame (the whole frame if shorter),
 * for crafting runts and cut-off headers. */
export function truncate(frame: Uint8Array, size: number): Uint8Array {
  return frame.slice(0, Math.max(0, size));
}
