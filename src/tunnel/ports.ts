/**
 * Which tunnel port a decapsulated packet arrived on (ofproto/tunnel.c
 * tnl_find): all VXLAN ports with one UDP port share a datapath port
 * (`vxlan_sys_4789`), all GRE ports share `gre_sys`, and translation picks
 * the OpenFlow port from the packet's tunnel metadata.
 *
 * Order of preference, as tnl_find tries it: an exact in_key before
 * in_key=flow; then a configured remote_ip before remote_ip=flow; then a
 * local_ip equal to the packet's destination, before no local_ip, before
 * local_ip=flow. The first port matching wins.
 *
 * Control plane (translation): a linear scan over the vport's ports.
 */
import * as L from "../flow/layout.js";
import type { TunnelConfig } from "./config.js";

export interface TunnelPortLike {
  readonly tunnel: TunnelConfig | null;
}

/** The port of `ports` that receives the packet whose key is keys[kb..], or null. */
export function findReceivePort<P extends TunnelPortLike>(ports: readonly P[], keys: Uint32Array, kb: number): P | null {
  const tunId = keys[kb + L.W_TUN_ID + 1] >>> 0;
  const tunIdHi = keys[kb + L.W_TUN_ID] >>> 0;
  const src = keys[kb + L.W_TUN_SRC] >>> 0;
  const dst = keys[kb + L.W_TUN_DST] >>> 0;
  for (let keyFlow = 0; keyFlow < 2; keyFlow++) {
    for (let remoteFlow = 0; remoteFlow < 2; remoteFlow++) {
      // 0: local_ip configured and equal; 1: no local_ip; 2: local_ip=flow.
      for (let local = 0; local < 3; local++) {
        for (const p of ports) {
          const c = p.tunnel!;
          if (c.inKeyFlow !== (keyFlow === 1)) continue;
          if (!c.inKeyFlow && (c.inKey !== tunId || tunIdHi !== 0)) continue;
          if (c.remoteIpFlow !== (remoteFlow === 1)) continue;
          if (!c.remoteIpFlow && c.remoteIp !== src) continue;
          if (local === 0 && (c.localIpFlow || c.localIp === 0 || c.localIp !== dst)) continue;
          if (local === 1 && (c.localIpFlow || c.localIp !== 0)) continue;
          if (local === 2 && !c.localIpFlow) continue;
          return p;
        }
      }
    }
  }
  return null;
}
