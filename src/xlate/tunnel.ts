/**
 * Translation for native tunnels (ofproto-dpif-xlate.c native_tunnel_output
 * and terminate_native_tunnel, ofproto/tunnel.c tnl_port_send and
 * tnl_port_receive, lib/tnl-ports.c tnl_port_map_lookup).
 *
 * Output to a vxlan/gre port: the port's settings fill the tunnel fields
 * (tnl_port_send: remote/local IP, key, TTL, TOS with ECN always inherited),
 * the underlay's route gives the bridge to leave by and the source address,
 * its neighbour table the next hop's MAC; the result is an outer header
 * template and the outer packet's key, with which translation continues in
 * the underlay bridge as if the packet came from that bridge's LOCAL port.
 *
 * Output to a bridge's LOCAL port that owns an underlay address: a packet
 * for that address, untagged, unfragmented, UDP to a VXLAN vport's port or
 * GRE, is a tunnel packet to terminate: `tnl_pop(vport)` instead of the
 * output. The popped packet comes back with in_port = the vport and the
 * tunnel fields set; receivePort() picks the OpenFlow tunnel port.
 *
 * Control plane: allocates freely.
 */
import * as L from "../flow/layout.js";
import { formatIPv4, formatMac } from "../flow/text.js";
import type { Bridge, Port, Switch } from "../ofproto/bridge.js";
import { buildTunnelHeader, type TunnelHeader } from "../tunnel/header.js";
import { findReceivePort } from "../tunnel/ports.js";
import type { OdpAction } from "../datapath/actions.js";

/** What an output to a tunnel port becomes. */
export interface TunnelPlan {
  header: TunnelHeader;
  /** The shared datapath port of the tunnel's kind. */
  vport: number;
  /** The underlay bridge, and the key of the outer packet entering it from LOCAL. */
  bridge: Bridge;
  outerKey: Uint32Array;
}

type Report = (kind: "detail" | "warn", text: string) => void;

const IP_ECN_MASK = 0x03;
const IP_DSCP_MASK = 0xfc;
const IP_ECN_ECT_0 = 0x02;
const IP_ECN_CE = 0x03;

const isIp = (f: Uint32Array): boolean => {
  const t = f[L.W_DL_TYPE] & 0xffff;
  return t === L.ETH_TYPE_IP || t === L.ETH_TYPE_IPV6;
};

/**
 * tnl_port_send + native_tunnel_output up to the header: null (with a
 * report) when the packet cannot be tunnelled (no route, no address on the
 * route's bridge, no neighbour), as OVS drops it then.
 */
export function planTunnelOutput(sw: Switch, port: Port, flow: Uint32Array, wc: Uint32Array, report: Report): TunnelPlan | null {
  const cfg = port.tunnel!;
  const dst = cfg.remoteIpFlow ? flow[L.W_TUN_DST] >>> 0 : cfg.remoteIp;
  let src = cfg.localIpFlow ? flow[L.W_TUN_SRC] >>> 0 : cfg.localIp;
  const key = cfg.outKeyFlow ? flow[L.W_TUN_ID + 1] >>> 0 : cfg.outKey;
  const nwTtl = (flow[L.W_NW] >>> L.NW_TTL_SHIFT) & 0xff;
  const nwTos = (flow[L.W_NW] >>> L.NW_TOS_SHIFT) & 0xff;
  let ttl = cfg.ttl;
  let tos = cfg.tos;
  if (cfg.ttlInherit && isIp(flow)) {
    wc[L.W_NW] |= 0xff << L.NW_TTL_SHIFT;
    ttl = nwTtl;
  }
  if (cfg.tosInherit && isIp(flow)) {
    wc[L.W_NW] |= IP_DSCP_MASK << L.NW_TOS_SHIFT;
    tos = nwTos & IP_DSCP_MASK;
  }
  // ECN is always inherited; CE becomes ECT(0) outside (RFC 6040 "compatibility mode").
  if (isIp(flow)) {
    wc[L.W_NW] |= IP_ECN_MASK << L.NW_TOS_SHIFT;
    tos |= (nwTos & IP_ECN_MASK) === IP_ECN_CE ? IP_ECN_ECT_0 : nwTos & IP_ECN_MASK;
  }
  wc[L.W_NW] >>>= 0;
  report("detail", "output to native tunnel");

  const route = dst === 0 ? null : sw.underlay.route(dst);
  const bridge = route ? sw.byName.get(route.bridge) : undefined;
  if (!route || !bridge) {
    report("warn", "native tunnel routing failed");
    return null;
  }
  report("detail", `tunneling to ${formatIPv4(dst)} via ${bridge.name}`);
  const own = sw.underlay.addressOf(bridge.name, dst);
  if (!own) {
    report("warn", "tunnel output device lacks Ethernet address");
    return null;
  }
  if (src === 0) src = route.src;
  const dmac = sw.underlay.neighbour(bridge.name, dst);
  if (!dmac) {
    // OVS sends an ARP request here; flowplane's neighbours are static.
    report("detail", `neighbor cache miss for ${formatIPv4(dst)} on bridge ${bridge.name}, sending ARP request`);
    return null;
  }
  report("detail", `tunneling from ${formatMac(own.macHi, own.macLo)} ${formatIPv4(src)} to ${formatMac(dmac[0], dmac[1])} ${formatIPv4(dst)}`);
  const header = buildTunnelHeader({
    kind: cfg.kind,
    dmacHi: dmac[0],
    dmacLo: dmac[1],
    smacHi: own.macHi,
    smacLo: own.macLo,
    src,
    dst,
    tos,
    ttl,
    dontFragment: cfg.dontFragment,
    dstPort: cfg.dstPort,
    csum: cfg.csum,
    key,
    keyPresent: cfg.outKeyPresent,
  });
  // propagate_tunnel_data_to_flow: the outer packet as the underlay bridge sees it.
  const outer = new Uint32Array(L.KEY_WORDS);
  outer[L.W_IN_PORT] = bridge.local.dpPort;
  outer[L.W_DL_DST] = dmac[0];
  outer[L.W_DL_DST + 1] = dmac[1];
  outer[L.W_DL_SRC] = own.macHi;
  outer[L.W_DL_SRC + 1] = own.macLo;
  outer[L.W_DL_TYPE] = L.ETH_TYPE_IP;
  outer[L.W_NW_SRC] = src;
  outer[L.W_NW_DST] = dst;
  outer[L.W_NW] = ((tos << L.NW_TOS_SHIFT) | (ttl << L.NW_TTL_SHIFT) | (cfg.kind === "vxlan" ? L.IPPROTO_UDP : L.IPPROTO_GRE)) >>> 0;
  // The source port is chosen per packet; translation sees 0 (flow->tunnel.tp_src).
  outer[L.W_TP] = cfg.kind === "vxlan" ? cfg.dstPort : 0;
  return { header, vport: port.dpPort, bridge, outerKey: outer };
}

/**
 * terminate_native_tunnel: when `port` (an output) is a LOCAL port owning
 * an underlay address and the packet is a tunnel packet for that address,
 * the vport to pop it into; else -1. Marks the fields consulted in `wc`.
 */
export function terminateTunnel(sw: Switch, port: Port, flow: Uint32Array, wc: Uint32Array): number {
  if (sw.tunnelPorts.size === 0 || port !== port.bridge.local || !sw.underlay.hasAddress(port.bridge.name)) return -1;
  // tnl_port_map_lookup's classifier: dl_dst, VLAN TCI, dl_type, nw_dst, nw_proto, nw_frag, tp_dst (UDP).
  wc[L.W_DL_TYPE] |= 0xffff;
  if ((flow[L.W_DL_TYPE] & 0xffff) !== L.ETH_TYPE_IP) return -1;
  wc[L.W_NW_DST] = 0xffffffff;
  const own = sw.underlay.localAddress(port.bridge.name, flow[L.W_NW_DST]);
  if (!own) return -1;
  wc[L.W_DL_DST] |= 0xffff;
  wc[L.W_DL_DST + 1] = 0xffffffff;
  wc[L.W_VLAN0] |= 0xffff;
  wc[L.W_NW] = (wc[L.W_NW] | 0xff | (0xff << L.NW_FRAG_SHIFT)) >>> 0;
  if (flow[L.W_DL_DST] !== own.macHi || flow[L.W_DL_DST + 1] >>> 0 !== own.macLo) return -1;
  if ((flow[L.W_VLAN0] & 0xffff) !== 0) return -1;
  if ((flow[L.W_NW] >>> L.NW_FRAG_SHIFT) & 0xff) return -1;
  const proto = flow[L.W_NW] & 0xff;
  if (proto === L.IPPROTO_UDP) wc[L.W_TP] = (wc[L.W_TP] | 0xffff) >>> 0;
  for (const vp of sw.tunnelPorts.keys()) {
    const cfg = sw.tunnelPorts.get(vp)![0].tunnel!;
    if (cfg.kind === "gre" && proto === L.IPPROTO_GRE) return vp;
    if (cfg.kind === "vxlan" && proto === L.IPPROTO_UDP && (flow[L.W_TP] & 0xffff) === cfg.dstPort) return vp;
  }
  return -1;
}

/**
 * The OpenFlow port a packet entering on datapath port `dp` arrived on: the
 * port itself, or for a tunnel vport the tunnel port its metadata names
 * (tnl_port_receive); undefined when there is none.
 */
export function receivePort(sw: Switch, dp: number, keys: Uint32Array, kb: number): Port | undefined {
  const p = sw.dpPorts[dp];
  if (!p || p.type !== "vport") return p;
  return findReceivePort(sw.tunnelPorts.get(dp) ?? [], keys, kb) ?? undefined;
}

/** Tunnel-in-tunnel bound for the nested translation of an encapsulated packet. */
export const TUNNEL_NESTING_MAX = 4;

/**
 * OVS puts tnl_push in a clone unless its output is the translation's last
 * action (native_tunnel_output's is_last_action). flowplane decides after
 * the fact: a push that ends the datapath actions needs no clone. (OVS
 * looks at the OpenFlow actions instead; the two differ only when actions
 * after the output produce nothing, and only in the text, not the bytes.)
 */
export function unclonedLastPush(actions: OdpAction[]): void {
  const last = actions[actions.length - 1];
  if (last !== undefined && last.t === "tnl_push" && last.clone) actions[actions.length - 1] = { ...last, clone: false };
}

/** tnl_wc_init's mask of word W_TUN_FLAGS: flags df, csum and key, and tun_tos; not tun_ttl. */
export const TUN_FLAGS_WC = (((0x2 | 0x4 | 0x8) << 16) | (0xff << 8)) >>> 0;

/**
 * tnl_process_ecn: a packet that arrived through a tunnel whose outer
 * header says Congestion Experienced passes CE on to an ECN-capable inner
 * IP packet (RFC 6040), and is dropped when the inner packet is not
 * ECN-capable; false means drop. Only then does the inner ECN field count
 * in the megaflow (tnl_wc_init).
 */
export function tunnelEcn(flow: Uint32Array, wc: Uint32Array): boolean {
  if (flow[L.W_TUN_DST] === 0 || !isIp(flow)) return true;
  const outerTos = (flow[L.W_TUN_FLAGS] >>> 8) & 0xff;
  if ((outerTos & IP_ECN_MASK) !== IP_ECN_CE) return true;
  wc[L.W_NW] = (wc[L.W_NW] | (IP_ECN_MASK << L.NW_TOS_SHIFT)) >>> 0;
  const nwTos = (flow[L.W_NW] >>> L.NW_TOS_SHIFT) & 0xff;
  if ((nwTos & IP_ECN_MASK) === 0) return false;
  flow[L.W_NW] = (flow[L.W_NW] | (IP_ECN_CE << L.NW_TOS_SHIFT)) >>> 0;
  return true;
}
