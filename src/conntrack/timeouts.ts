/**
 * Connection timeouts: OVS 3.1's default timeout policy for the userspace
 * datapath (lib/conntrack-tp.c ct_dpif_netdev_tp_def), in seconds, under the
 * attribute names of `ovs-appctl dpctl/ct-set-timeout-policy` and
 * ovs-vswitchd.conf.db(5) CT_Timeout_Policy.
 *
 * The engine's internal timeout classes (conntrack-private.h CT_TIMEOUTS)
 * map onto these attributes as tm_to_ct_dpif_tp() maps them: e.g. a UDP
 * connection seen in both directions uses `udp_multiple`, one seen twice in
 * one direction `udp_single`.
 */
export interface TimeoutPolicy {
  tcp_syn_sent: number;
  tcp_syn_recv: number;
  tcp_established: number;
  tcp_fin_wait: number;
  tcp_time_wait: number;
  tcp_close: number;
  udp_first: number;
  udp_single: number;
  udp_multiple: number;
  icmp_first: number;
  icmp_reply: number;
}

export const DEFAULT_TIMEOUTS: Readonly<TimeoutPolicy> = {
  tcp_syn_sent: 30,
  tcp_syn_recv: 30,
  tcp_established: 24 * 60 * 60,
  tcp_fin_wait: 15 * 60,
  tcp_time_wait: 45,
  tcp_close: 30,
  udp_first: 60,
  udp_single: 60,
  udp_multiple: 30,
  icmp_first: 60,
  icmp_reply: 30,
};

/** Timeout classes (CT_TM_*), indexes into the engine's millisecond table. */
export const TM_TCP_FIRST_PACKET = 0;
export const TM_TCP_OPENING = 1;
export const TM_TCP_ESTABLISHED = 2;
export const TM_TCP_CLOSING = 3;
export const TM_TCP_FIN_WAIT = 4;
export const TM_TCP_CLOSED = 5;
export const TM_OTHER_FIRST = 6;
export const TM_OTHER_MULTIPLE = 7;
export const TM_OTHER_BIDIR = 8;
export const TM_ICMP_FIRST = 9;
export const TM_ICMP_REPLY = 10;
export const TM_COUNT = 11;

/** Milliseconds per timeout class for a policy (tm_to_ct_dpif_tp). */
export function timeoutTableMs(overrides: Partial<TimeoutPolicy> = {}): Float64Array {
  const p: TimeoutPolicy = { ...DEFAULT_TIMEOUTS, ...overrides };
  for (const [name, v] of Object.entries(p)) {
    if (!(name in DEFAULT_TIMEOUTS)) throw new RangeError(`unknown conntrack timeout ${name}`);
    if (!Number.isInteger(v) || v < 0) throw new RangeError(`conntrack timeout ${name} must be a whole number of seconds, got ${v}`);
  }
  const ms = new Float64Array(TM_COUNT);
  ms[TM_TCP_FIRST_PACKET] = p.tcp_syn_sent * 1000;
  ms[TM_TCP_OPENING] = p.tcp_syn_recv * 1000;
  ms[TM_TCP_ESTABLISHED] = p.tcp_established * 1000;
  ms[TM_TCP_CLOSING] = p.tcp_fin_wait * 1000;
  ms[TM_TCP_FIN_WAIT] = p.tcp_time_wait * 1000;
  ms[TM_TCP_CLOSED] = p.tcp_close * 1000;
  ms[TM_OTHER_FIRST] = p.udp_first * 1000;
  ms[TM_OTHER_MULTIPLE] = p.udp_single * 1000;
  ms[TM_OTHER_BIDIR] = p.udp_multiple * 1000;
  ms[TM_ICMP_FIRST] = p.icmp_first * 1000;
  ms[TM_ICMP_REPLY] = p.icmp_reply * 1000;
  return ms;
}
