/**
 * Connection entries as text, in the format of `ovs-appctl
 * dpctl/dump-conntrack [-m] [-s]` (lib/ct-dpif.c ct_dpif_format_entry, with
 * what lib/conntrack.c conn_to_ct_dpif_entry fills for userspace entries:
 * no counters, no timestamps, id 0, status 0).
 *
 *   tcp,orig=(src=10.0.0.1,dst=10.0.0.2,sport=1234,dport=80),reply=(src=10.0.0.2,dst=10.0.0.1,sport=80,dport=1234),zone=1,mark=5,protoinfo=(state=ESTABLISHED)
 *
 * Control plane only: allocates freely.
 */
import { formatIPv4, formatIPv6 } from "../flow/text.js";
import { CONN_TUPLE_WORDS, type ConnTable } from "./table.js";
import { TCPS_FIN_WAIT_2, TCPS_ESTABLISHED, TCPS_SYN_RECV, TCPS_TIME_WAIT, TCP_STATE_NAMES, WSCALE_FLAG, WSCALE_MASK, WSCALE_UNKNOWN } from "./tcp.js";
import { T_DPORT, T_DST, T_META, T_SPORT, T_SRC, TUPLE_WORDS } from "./tuple.js";

export interface DumpFormat {
  /** -m: id, status and both TCP peers' states, window scales and flags. */
  verbose?: boolean;
  /** -s: the seconds left before expiry (`timeout=`); needs nowMs. */
  stats?: boolean;
}

const PROTO_NAMES: Record<number, string> = { 1: "icmp", 58: "icmpv6", 6: "tcp", 17: "udp", 132: "sctp", 136: "udplite", 33: "dccp", 2: "igmp" };

function formatTuple(t: Uint32Array, at: number): string {
  const v6 = (t[at + T_META] & 0xff) === 6;
  const proto = (t[at + T_META] >>> 8) & 0xff;
  let s = v6
    ? `src=${formatIPv6(t, at + T_SRC)},dst=${formatIPv6(t, at + T_DST)}`
    : `src=${formatIPv4(t[at + T_SRC])},dst=${formatIPv4(t[at + T_DST])}`;
  if (proto === 1 || proto === 58) {
    const ep = t[at + T_SPORT];
    s += `,id=${ep >>> 16},type=${(ep >>> 8) & 0xff},code=${ep & 0xff}`;
  } else {
    s += `,sport=${t[at + T_SPORT] >>> 16},dport=${t[at + T_DPORT] >>> 16}`;
  }
  return s;
}

/** ct_dpif_format_protoinfo_tcp: the larger peer state, FIN_WAIT_2 shown as TIME_WAIT and SYN_RECV as ESTABLISHED. */
function coalesceTcpState(state: number): number {
  if (state === TCPS_FIN_WAIT_2) return TCPS_TIME_WAIT;
  if (state === TCPS_SYN_RECV) return TCPS_ESTABLISHED;
  return state;
}

function tcpPeerFlags(wscale: number): string {
  const flags: string[] = [];
  if (wscale & WSCALE_FLAG) flags.push("WINDOW_SCALE");
  if (wscale & WSCALE_UNKNOWN) flags.push("BE_LIBERAL");
  return flags.length === 0 ? "0" : flags.join("|");
}

/** One connection, as one line of dpctl/dump-conntrack. */
export function formatConn(t: ConnTable, c: number, nowMs?: number, fmt: DumpFormat = {}): string {
  const base = c * CONN_TUPLE_WORDS;
  const meta = t.tuples[base + T_META];
  const proto = (meta >>> 8) & 0xff;
  const zone = meta >>> 16;
  let s = PROTO_NAMES[proto] ?? String(proto);
  s += `,orig=(${formatTuple(t.tuples, base)}),reply=(${formatTuple(t.tuples, base + TUPLE_WORDS)})`;
  if (fmt.verbose) s += ",id=0";
  if (zone !== 0) s += `,zone=${zone}`;
  if (fmt.verbose) s += ",status=0";
  if (fmt.stats) {
    const left = nowMs === undefined ? 0 : t.expiresMs[c] - nowMs;
    s += `,timeout=${left > 0 ? Math.floor(left / 1000) : 0}`;
  }
  if (t.mark[c] !== 0) s += `,mark=${t.mark[c]}`;
  const l = t.label;
  if (l[c * 4] | l[c * 4 + 1] | l[c * 4 + 2] | l[c * 4 + 3]) {
    const v = (BigInt(l[c * 4]) << 96n) | (BigInt(l[c * 4 + 1]) << 64n) | (BigInt(l[c * 4 + 2]) << 32n) | BigInt(l[c * 4 + 3]);
    s += `,labels=0x${v.toString(16)}`;
  }
  if (proto === 6) {
    const so = t.tcpState[2 * c];
    const sr = t.tcpState[2 * c + 1];
    if (fmt.verbose) {
      const wo = t.wscale[2 * c];
      const wr = t.wscale[2 * c + 1];
      s += `,protoinfo=(state_orig=${TCP_STATE_NAMES[so]},state_reply=${TCP_STATE_NAMES[sr]}`;
      if (wo & WSCALE_MASK || wr & WSCALE_MASK) s += `,wscale_orig=${wo & WSCALE_MASK},wscale_reply=${wr & WSCALE_MASK}`;
      s += `,flags_orig=${tcpPeerFlags(wo)},flags_reply=${tcpPeerFlags(wr)})`;
    } else {
      s += `,protoinfo=(state=${TCP_STATE_NAMES[coalesceTcpState(Math.max(so, sr))]})`;
    }
  }
  if (t.alg[c] !== 0) s += t.alg[c] === 21 ? ",helper=ftp" : ",helper=tftp";
  return s;
}
