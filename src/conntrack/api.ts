/**
 * The contract between translation/the datapath and the conntrack engine.
 *
 * Translation compiles each ct(...) action (ovs-actions(7) "The ct action")
 * into one CtRequest, once per megaflow; the datapath hands that request and
 * the packet to `ConntrackEngine.execute`, which fills the packet's
 * connection-tracking metadata in its flow key and, for NAT, rewrites the
 * frame in place. Then the datapath recirculates when the ct action had a
 * table.
 *
 * Invariants:
 * - execute() never allocates for a packet of an existing connection; only
 *   creating a connection (a commit) may.
 * - After execute(), the key's words W_CT (ct_state | ct_zone | ct_nw_proto),
 *   W_CT_MARK, W_CT_LABEL..+3 and the original-direction tuple words
 *   (W_CT_NW_SRC, W_CT_NW_DST, W_CT_IPV6_SRC/DST, W_CT_TP) hold exactly what
 *   OVS's userspace conntrack leaves in the packet's metadata (lib/conntrack.c);
 *   when NAT rewrote headers, the key's header words match the new bytes.
 */
import type { NatAction } from "../openflow/actions.js";

/** ct_state bits (ovs-fields(7) "ct_state"). */
export const CS_NEW = 0x01;
export const CS_ESTABLISHED = 0x02;
export const CS_RELATED = 0x04;
export const CS_REPLY_DIR = 0x08;
export const CS_INVALID = 0x10;
export const CS_TRACKED = 0x20;
export const CS_SRC_NAT = 0x40;
export const CS_DST_NAT = 0x80;

/** A NAT request: nat(...) of a ct action, without its `type`. */
export type NatRequest = Omit<NatAction, "type">;

/** One compiled ct(...) action. */
export interface CtRequest {
  /** The zone, already read from its register when ct(zone=NXM_NX_REGn[..]) named one. */
  zone: number;
  commit: boolean;
  force: boolean;
  /** exec(set_field:V/M->ct_mark), applied when committing; null when absent. */
  mark: { value: number; mask: number } | null;
  /** exec(set_field:V/M->ct_label), applied when committing; null when absent. */
  label: { value: bigint; mask: bigint } | null;
  /** nat or nat(...); null when absent. */
  nat: NatRequest | null;
  /** 0, 21 (ftp) or 69 (tftp): helpers are not run (see the README). */
  alg: number;
}

/** What execute() did with the packet (implementations may return it; `void` means EXEC_DONE). */
export const EXEC_DONE = 0;
/** The engine kept the packet (an IP fragment awaiting reassembly, OVS's ipf):
 * the caller must not process it further. It comes back through takeReleased(). */
export const EXEC_HELD = 1;

/** A packet the engine hands back after holding it: a fragment whose
 * datagram was reassembled and tracked (its ct fields are the datagram's),
 * or one of a list that expired (ct_state exactly CS_INVALID). The caller
 * continues it as if it had just left the ct action that released it. */
export interface ReleasedPacket {
  frame: Uint8Array;
  /** L3/L4 offsets in `frame` as the parser reports them (HDR_NONE = 0xffff when absent). */
  l3: number;
  l4: number;
  /** Its flow key (KEY_WORDS words): metadata as when it was held, ct fields and headers as now. */
  key: Uint32Array;
}

export interface ConntrackEngine {
  /**
   * Runs one packet through conntrack. `frame` holds the packet at
   * [off, off + len) and may be written (NAT); l3/l4 are the offsets of its
   * L3 and L4 headers from `off` (HDR_NONE = 0xffff when absent), as the
   * parser reports them; key[kb..] is the packet's parsed flow key.
   */
  execute(frame: Uint8Array, off: number, len: number, l3: number, l4: number, key: Uint32Array, kb: number, req: CtRequest, nowMs: number): number | void;
  /** Packets released since the last call (see EXEC_HELD), in the order they leave. */
  takeReleased?(): ReleasedPacket[];
  /** How many packets takeReleased() would return now (checked without allocating). */
  releasedCount?(): number;
  /** Removes expired connections; called from the datapath's maintenance tick. */
  sweep(nowMs: number): void;
  /** Removes every connection (of one zone when given): `flush-conntrack`. */
  flush(zone?: number): void;
  /** The connections as `ovs-appctl dpctl/dump-conntrack` prints them, one per line. */
  dump(opts?: { zone?: number; nowMs?: number }): string[];
}
