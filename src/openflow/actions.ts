/**
 * OpenFlow actions and instructions as Open vSwitch models them (its
 * "ofpacts", include/openvswitch/ofp-actions.h): one discriminated union,
 * `Action`, that the ovs-ofctl syntax parses into and prints from and that
 * translation executes.
 *
 * Invariants:
 * - A flow's instructions are ONE list, the way OVS keeps them, in OVS's
 *   fixed instruction order (ovs_instruction_type), at most one of each:
 *       meter, <apply-actions...>, clear_actions, write_actions,
 *       write_metadata, goto_table
 *   (meter comes before the apply-actions, as OVS prints it).
 *   `splitInstructions` returns the same list as an `Instructions` record for
 *   code that wants them apart. An empty list is "drop".
 * - Every value is already checked: ports are OpenFlow 1.0-style 16-bit
 *   numbers (reserved ports are text.ts's OFPP_* constants, 0xfff8..0xffff),
 *   table ids are 0..254 with TABLE_NONE (255) meaning "not given", and a
 *   SubField lies inside its field.
 * - Values of fields are bigints in the field's own width and byte order as
 *   OVS prints them (a MAC is a 48-bit number, an IPv4 address a 32-bit one,
 *   vlan_vid includes OFPVID_PRESENT 0x1000 when set_field wrote it).
 * - A few actions carry how they were written (`viaLoad`, `pushIfNeeded`,
 *   `withIds`, `wide`), because OVS prints them differently by origin
 *   (its `ofpact.raw`); execution ignores those members.
 *
 * Control plane: these are plain objects; translation compiles them once per
 * rule, never per packet.
 */
import type { FieldDef } from "../flow/fields.js";

/** "Not given" for a table id (OVS's 255 in resubmit, ct(table=...), learn...). */
export const TABLE_NONE = 255;
/** Largest table id a flow may live in or jump to. */
export const TABLE_MAX = 254;
/** controller(meter_id=...) absent: OVS's NX_CTLR_NO_METER. */
export const CONTROLLER_NO_METER = 0;
/** controller's max_len when not given: all of the packet. */
export const CONTROLLER_MAX_LEN_DEFAULT = 65535;

/** Bits `ofs`..`ofs + nBits - 1` of a field, written `FIELD[ofs..end]` (OVS's mf_subfield). */
export interface SubField {
  readonly field: FieldDef;
  readonly ofs: number;
  readonly nBits: number;
}

/** Packet-in reasons for controller(reason=...), OVS's ofp_packet_in_reason names. */
export type PacketInReason =
  | "no_match"
  | "action"
  | "invalid_ttl"
  | "action_set"
  | "group"
  | "packet_out";

/** output:PORT (including the reserved IN_PORT, TABLE, NORMAL, FLOOD, ALL, LOCAL; CONTROLLER with maxLen). */
export interface OutputAction {
  readonly type: "output";
  readonly port: number;
  /** Bytes sent to the controller when port is CONTROLLER; 0 otherwise. */
  readonly maxLen: number;
}

/** output:SUBFIELD — the port number is read from a register (NXAST_OUTPUT_REG). */
export interface OutputRegAction {
  readonly type: "output_reg";
  readonly src: SubField;
  readonly maxLen: number;
}

/** output(port=P,max_len=N): output truncated to maxLen bytes. */
export interface OutputTruncAction {
  readonly type: "output_trunc";
  readonly port: number;
  readonly maxLen: number;
}

/** controller(...) or CONTROLLER:maxLen: a packet-in. */
export interface ControllerAction {
  readonly type: "controller";
  readonly maxLen: number;
  readonly controllerId: number;
  readonly reason: PacketInReason;
  readonly pause: boolean;
  /** userdata=xx.xx..., empty when absent. */
  readonly userdata: Uint8Array;
  /** CONTROLLER_NO_METER when absent. */
  readonly meterId: number;
}

/** enqueue:PORT:QUEUE (OpenFlow 1.0's enqueue; set_queue + output elsewhere). */
export interface EnqueueAction {
  readonly type: "enqueue";
  readonly port: number;
  readonly queue: number;
}

/** group:N */
export interface GroupAction {
  readonly type: "group";
  readonly groupId: number;
}

/**
 * set_field:VALUE[/MASK]->FIELD, and load:VALUE->FIELD[ofs..end] (OVS turns
 * a load into a masked set_field and remembers it came from load).
 * `value` and `mask` are in OVS's encoding of the field (mask all ones for a
 * whole-field write). As in OVS: a write to nw_tos or ip_dscp changes only the
 * DSCP bits; vlan_vid values carry OFPVID_PRESENT (0x1000); in_port_oxm and
 * actset_output values are OpenFlow 1.1 port numbers (0xfffffffe for LOCAL).
 */
export interface SetFieldAction {
  readonly type: "set_field";
  readonly field: FieldDef;
  readonly value: bigint;
  readonly mask: bigint;
  /** Written as load:...; OVS then prints it as load: again. */
  readonly viaLoad: boolean;
}

/** mod_vlan_vid:VID / set_vlan_vid:VID. */
export interface SetVlanVidAction {
  readonly type: "set_vlan_vid";
  readonly vid: number;
  /** mod_vlan_vid pushes a tag when the packet has none (OVS semantics); set_vlan_vid (OF1.1) does not. */
  readonly pushIfNeeded: boolean;
}

/** mod_vlan_pcp:PCP / set_vlan_pcp:PCP. */
export interface SetVlanPcpAction {
  readonly type: "set_vlan_pcp";
  readonly pcp: number;
  readonly pushIfNeeded: boolean;
}

/** strip_vlan / pop_vlan: removes the outermost tag. */
export interface StripVlanAction {
  readonly type: "strip_vlan";
}

/** push_vlan:ETHERTYPE (0x8100 or 0x88a8). */
export interface PushVlanAction {
  readonly type: "push_vlan";
  readonly ethertype: number;
}

/** mod_dl_src:MAC / mod_dl_dst:MAC (48-bit value). */
export interface SetEthAction {
  readonly type: "set_eth_src" | "set_eth_dst";
  readonly mac: bigint;
}

/** mod_nw_src:IP / mod_nw_dst:IP (IPv4 as an unsigned 32-bit number). */
export interface SetIpv4Action {
  readonly type: "set_ipv4_src" | "set_ipv4_dst";
  readonly ipv4: number;
}

/** mod_nw_tos:TOS — the DSCP bits in place (a multiple of 4, 0..252). */
export interface SetIpDscpAction {
  readonly type: "set_ip_dscp";
  readonly dscp: number;
}

/** mod_nw_ecn:ECN (0..3). */
export interface SetIpEcnAction {
  readonly type: "set_ip_ecn";
  readonly ecn: number;
}

/** mod_nw_ttl:TTL. */
export interface SetIpTtlAction {
  readonly type: "set_ip_ttl";
  readonly ttl: number;
}

/** mod_tp_src:PORT / mod_tp_dst:PORT. */
export interface SetL4PortAction {
  readonly type: "set_l4_src_port" | "set_l4_dst_port";
  readonly port: number;
}

/** move:SRC[]->DST[] (equal widths). */
export interface RegMoveAction {
  readonly type: "reg_move";
  readonly src: SubField;
  readonly dst: SubField;
}

/** push:SRC[] / pop:DST[] on the translation's register stack. */
export interface StackAction {
  readonly type: "stack_push" | "stack_pop";
  readonly subfield: SubField;
}

/** dec_ttl, or dec_ttl(id,...) naming the controllers to notify when TTL runs out. */
export interface DecTtlAction {
  readonly type: "dec_ttl";
  /** [0] for plain dec_ttl. */
  readonly controllerIds: readonly number[];
  /** Written with the parenthesised list (OVS prints it back the same way). */
  readonly withIds: boolean;
}

export interface SetMplsLabelAction {
  readonly type: "set_mpls_label";
  readonly label: number;
}
export interface SetMplsTcAction {
  readonly type: "set_mpls_tc";
  readonly tc: number;
}
export interface SetMplsTtlAction {
  readonly type: "set_mpls_ttl";
  readonly ttl: number;
}
export interface DecMplsTtlAction {
  readonly type: "dec_mpls_ttl";
}
/** push_mpls:ETHERTYPE / pop_mpls:ETHERTYPE. */
export interface MplsEthertypeAction {
  readonly type: "push_mpls" | "pop_mpls";
  readonly ethertype: number;
}

/** set_tunnel:ID / set_tunnel64:ID. */
export interface SetTunnelAction {
  readonly type: "set_tunnel";
  readonly tunId: bigint;
  /** Written as set_tunnel64. */
  readonly wide: boolean;
}

/** set_queue:N. */
export interface SetQueueAction {
  readonly type: "set_queue";
  readonly queueId: number;
}

export interface PopQueueAction {
  readonly type: "pop_queue";
}

/** fin_timeout(idle_timeout=N,hard_timeout=M): 0 means unchanged. */
export interface FinTimeoutAction {
  readonly type: "fin_timeout";
  readonly idleTimeout: number;
  readonly hardTimeout: number;
}

/** resubmit:PORT, resubmit(PORT,TABLE) or resubmit(PORT,TABLE,ct). */
export interface ResubmitAction {
  readonly type: "resubmit";
  /** OFPP_IN_PORT when the port is left empty. */
  readonly inPort: number;
  /** TABLE_NONE for "this table". */
  readonly tableId: number;
  /** Look up with the conntrack original-direction 5-tuple. */
  readonly withCt: boolean;
}

/** Where a learn() spec takes its bits from. */
export type LearnSource =
  | { readonly kind: "field"; readonly subfield: SubField }
  | { readonly kind: "immediate"; readonly value: bigint };

/**
 * One spec of learn():
 * - match: the learned flow matches dst = src (FIELD[] is shorthand for FIELD[]=FIELD[]);
 * - load: the learned flow's actions get load:src->dst;
 * - output: the learned flow's actions get output:src (dst is null).
 */
export interface LearnSpec {
  readonly kind: "match" | "load" | "output";
  readonly src: LearnSource;
  readonly dst: SubField | null;
  readonly nBits: number;
}

/** learn(...): adds or modifies a flow in `tableId` from the packet. */
export interface LearnAction {
  readonly type: "learn";
  readonly tableId: number;
  readonly priority: number;
  readonly idleTimeout: number;
  readonly hardTimeout: number;
  readonly finIdleTimeout: number;
  readonly finHardTimeout: number;
  readonly cookie: bigint;
  readonly sendFlowRem: boolean;
  readonly deleteLearned: boolean;
  /** 0 means unlimited. */
  readonly limit: number;
  /** Where to write 1 (learned) or 0 (limit hit); null when absent. */
  readonly resultDst: SubField | null;
  readonly specs: readonly LearnSpec[];
}

/** conjunction(ID,K/N). */
export interface ConjunctionAction {
  readonly type: "conjunction";
  readonly id: number;
  readonly clause: number;
  readonly nClauses: number;
}

/** note:HEX.HEX... — carries bytes, does nothing. */
export interface NoteAction {
  readonly type: "note";
  readonly data: Uint8Array;
}

export interface ExitAction {
  readonly type: "exit";
}

/** nat(...) inside ct(...): OVS's ofpact_nat. Address fields are bigints (32 or 128 bits). */
export interface NatAction {
  readonly type: "nat";
  /** null: "nat" alone (un-NAT replies and established connections). */
  readonly kind: "src" | "dst" | null;
  /** 0 when no address range was given. */
  readonly family: 0 | 4 | 6;
  readonly addrMin: bigint;
  readonly addrMax: bigint;
  /** 0 when no port range was given. */
  readonly portMin: number;
  readonly portMax: number;
  readonly persistent: boolean;
  readonly hash: boolean;
  readonly random: boolean;
}

/** ct(...): send through conntrack; recirculate to recircTable when set. */
export interface CtAction {
  readonly type: "ct";
  readonly commit: boolean;
  readonly force: boolean;
  /** zone=N; ignored when zoneSrc is set. */
  readonly zone: number;
  /** zone=SUBFIELD (16 bits read from the packet), or null. */
  readonly zoneSrc: SubField | null;
  /** TABLE_NONE: no recirculation. */
  readonly recircTable: number;
  /** 0, 21 (ftp) or 69 (tftp). */
  readonly alg: number;
  /** exec(...) actions and nat: set_field to ct_mark/ct_label, and NatAction. */
  readonly actions: readonly Action[];
}

export interface CtClearAction {
  readonly type: "ct_clear";
}

/** clone(...): runs the nested actions on a copy of the packet. */
export interface CloneAction {
  readonly type: "clone";
  readonly actions: readonly Action[];
}

/** sample(probability=N,collector_set_id=...,obs_domain_id=...,obs_point_id=...[,sampling_port=P][,ingress|egress]). */
export interface SampleAction {
  readonly type: "sample";
  readonly probability: number;
  readonly collectorSetId: number;
  readonly obsDomainId: number;
  readonly obsPointId: number;
  /** OFPP_NONE when absent. */
  readonly samplingPort: number;
  readonly direction: "default" | "ingress" | "egress";
}

// ---- Instructions (OpenFlow 1.1+), kept at the end of the list in this order.

/** meter:N instruction. */
export interface MeterInstruction {
  readonly type: "meter";
  readonly meterId: number;
}

export interface ClearActionsInstruction {
  readonly type: "clear_actions";
}

/** write_actions(...): merges into the action set. */
export interface WriteActionsInstruction {
  readonly type: "write_actions";
  readonly actions: readonly Action[];
}

/** write_metadata:VALUE[/MASK]. */
export interface WriteMetadataInstruction {
  readonly type: "write_metadata";
  readonly metadata: bigint;
  readonly mask: bigint;
}

/** goto_table:N (N greater than the flow's own table). */
export interface GotoTableInstruction {
  readonly type: "goto_table";
  readonly tableId: number;
}

export type Instruction =
  | MeterInstruction
  | ClearActionsInstruction
  | WriteActionsInstruction
  | WriteMetadataInstruction
  | GotoTableInstruction;

export type Action =
  | OutputAction
  | OutputRegAction
  | OutputTruncAction
  | ControllerAction
  | EnqueueAction
  | GroupAction
  | SetFieldAction
  | SetVlanVidAction
  | SetVlanPcpAction
  | StripVlanAction
  | PushVlanAction
  | SetEthAction
  | SetIpv4Action
  | SetIpDscpAction
  | SetIpEcnAction
  | SetIpTtlAction
  | SetL4PortAction
  | RegMoveAction
  | StackAction
  | DecTtlAction
  | SetMplsLabelAction
  | SetMplsTcAction
  | SetMplsTtlAction
  | DecMplsTtlAction
  | MplsEthertypeAction
  | SetTunnelAction
  | SetQueueAction
  | PopQueueAction
  | FinTimeoutAction
  | ResubmitAction
  | LearnAction
  | ConjunctionAction
  | NoteAction
  | ExitAction
  | NatAction
  | CtAction
  | CtClearAction
  | CloneAction
  | SampleAction
  | Instruction;

export type ActionType = Action["type"];

/** The instruction types, in the order OVS keeps (and prints) them. */
export const INSTRUCTION_ORDER: readonly Instruction["type"][] = [
  "meter",
  "clear_actions",
  "write_actions",
  "write_metadata",
  "goto_table",
];

export function isInstruction(a: Action): a is Instruction {
  return (
    a.type === "meter" ||
    a.type === "clear_actions" ||
    a.type === "write_actions" ||
    a.type === "write_metadata" ||
    a.type === "goto_table"
  );
}

/** A flow's instructions taken apart (OpenFlow 1.1+ view of the one list). */
export interface Instructions {
  /** The apply-actions list, in order. */
  readonly apply: readonly Action[];
  /** null when absent. */
  readonly meterId: number | null;
  readonly clearActions: boolean;
  /** null when absent. */
  readonly writeActions: readonly Action[] | null;
  readonly writeMetadata: { readonly metadata: bigint; readonly mask: bigint } | null;
  /** null when absent. */
  readonly gotoTable: number | null;
}

/** Splits a flow's action list into its apply-actions and instructions. */
export function splitInstructions(actions: readonly Action[]): Instructions {
  const apply: Action[] = [];
  let meterId: number | null = null;
  let clearActions = false;
  let writeActions: readonly Action[] | null = null;
  let writeMetadata: { metadata: bigint; mask: bigint } | null = null;
  let gotoTable: number | null = null;
  for (const a of actions) {
    switch (a.type) {
      case "meter":
        meterId = a.meterId;
        break;
      case "clear_actions":
        clearActions = true;
        break;
      case "write_actions":
        writeActions = a.actions;
        break;
      case "write_metadata":
        writeMetadata = { metadata: a.metadata, mask: a.mask };
        break;
      case "goto_table":
        gotoTable = a.tableId;
        break;
      default:
        apply.push(a);
    }
  }
  return { apply, meterId, clearActions, writeActions, writeMetadata, gotoTable };
}

/** Builds the one-list form from an Instructions record (inverse of splitInstructions). */
export function joinInstructions(ins: Instructions): Action[] {
  const out: Action[] = [...ins.apply];
  if (ins.meterId !== null) out.unshift({ type: "meter", meterId: ins.meterId });
  if (ins.clearActions) out.push({ type: "clear_actions" });
  if (ins.writeActions !== null) out.push({ type: "write_actions", actions: ins.writeActions });
  if (ins.writeMetadata !== null) out.push({ type: "write_metadata", ...ins.writeMetadata });
  if (ins.gotoTable !== null) out.push({ type: "goto_table", tableId: ins.gotoTable });
  return out;
}
