/**
 * The datapath `ct(...)` action as OVS prints it (lib/odp-util.c,
 * format_odp_conntrack_action and format_odp_ct_nat), from the compiled
 * request translation hands the engine, and with only the attributes
 * translation would put in the netlink action (put_ct_nat: a range maximum
 * only when above its minimum, the port range only with an address range,
 * `hash` winning over `random`):
 *
 *   ct(commit,zone=5,mark=0x1/0xff,label=0x3,nat(src=10.0.0.9-10.0.0.12:1000-2000,random))
 *
 * The userspace datapath has no event mask and no timeout policy here, so
 * neither appears (OVS 3.1's dummy and netdev datapaths print none).
 */
import type { CtRequest, NatRequest } from "../conntrack/api.js";
import { formatIPv4, formatIPv6 } from "../flow/text.js";

export function formatCtAction(req: CtRequest): string {
  const parts: string[] = [];
  if (req.force) parts.push("force_commit");
  else if (req.commit) parts.push("commit");
  if (req.zone) parts.push(`zone=${req.zone}`);
  if (req.mark) parts.push(`mark=${hexC(req.mark.value)}/${hexC(req.mark.mask)}`);
  if (req.label) parts.push(`label=${formatLabel(req.label.value, req.label.mask)}`);
  if (req.alg === 21) parts.push("helper=ftp");
  else if (req.alg === 69) parts.push("helper=tftp");
  if (req.nat) parts.push(formatNat(req.nat));
  return parts.length ? `ct(${parts.join(",")})` : "ct";
}

/** format_u128 in verbose form: the value, then "/mask" unless the mask is all ones. */
function formatLabel(value: bigint, mask: bigint): string {
  const all = (1n << 128n) - 1n;
  return `0x${value.toString(16)}${mask === all ? "" : `/0x${mask.toString(16)}`}`;
}

/** C's "%#x". */
const hexC = (n: number): string => (n === 0 ? "0" : `0x${(n >>> 0).toString(16)}`);

function formatAddr(family: 4 | 6, a: bigint, bracket: boolean): string {
  if (family === 4) return formatIPv4(Number(a & 0xffffffffn));
  const w = [Number((a >> 96n) & 0xffffffffn), Number((a >> 64n) & 0xffffffffn), Number((a >> 32n) & 0xffffffffn), Number(a & 0xffffffffn)];
  const s = formatIPv6(w, 0);
  return bracket ? `[${s}]` : s;
}

/** nat(...) as put_ct_nat emits it and format_odp_ct_nat prints it. */
export function formatNat(n: NatRequest): string {
  if (n.kind === null) return "nat";
  let s = `nat(${n.kind}`;
  if (n.family !== 0) {
    const bracket = n.portMin !== 0;
    s += `=${formatAddr(n.family, n.addrMin, bracket)}`;
    if (n.addrMax > n.addrMin) s += `-${formatAddr(n.family, n.addrMax, bracket)}`;
    if (n.portMin) {
      s += `:${n.portMin}`;
      if (n.portMax > n.portMin) s += `-${n.portMax}`;
    }
  }
  if (n.persistent) s += ",persistent";
  if (n.hash) s += ",hash";
  else if (n.random) s += ",random";
  return `${s})`;
}
