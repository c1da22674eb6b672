/**
 * Recirculation ids and the frozen translation states they stand for (OVS's
 * ofproto/ofproto-dpif-rid.c). When ct(table=N) sends a packet back into the
 * datapath, translation freezes what it needs to resume at table N (the
 * bridge, the table, the pipeline metadata: registers, OpenFlow metadata,
 * in_port and tunnel; the stack, the action set and whether the packet was
 * conntracked) and tags the packet with the state's id; the recirculated
 * packet's upcall thaws that state.
 *
 * Invariants:
 * - Equal frozen states share one id while the id is referenced
 *   (recirc_alloc_id_ctx finds an equal state first), so every packet of a
 *   connection recirculates with the same id and hits the same megaflows.
 * - Ids count up from 1 and are not reused (OVS's next_id): an id whose last
 *   reference went away is forgotten at once, and an equal state allocated
 *   later gets a new id, as in OVS (a translation that only traces takes and
 *   drops its references, so the next packet sees a new id, exactly as after
 *   ofproto/trace in OVS).
 * - References belong to whoever keeps the datapath actions that name the id:
 *   the datapath's cached results, or a trace while it follows the packet.
 *
 * Limits: RECIRC_IDS_MAX live ids; allocation beyond fails, and translation
 * reports OVS's "Failed to allocate recirculation id".
 *
 * Control plane only: allocation happens during translation (upcalls).
 */
import * as L from "../flow/layout.js";
import type { Action } from "../openflow/actions.js";
import type { Bridge, Switch } from "../ofproto/bridge.js";
import { RECIRC_IDS_MAX } from "../limits.js";

/** What translation saved to resume at `tableId` (OVS's struct frozen_state). */
export interface FrozenState {
  bridge: Bridge;
  tableId: number;
  /** frozen_metadata: the flow's in_port (OpenFlow port), tunnel words, registers and metadata. */
  inPort: number;
  tunnel: Uint32Array;
  regs: Uint32Array;
  metadata: Uint32Array;
  stack: bigint[];
  actionSet: Action[];
  conntracked: boolean;
}

interface Node {
  id: number;
  state: FrozenState;
  key: string;
  refs: number;
}

export class RecircIds {
  private readonly byId = new Map<number, Node>();
  private readonly byKey = new Map<string, Node>();
  private nextId = 1;

  /** Live ids (for tests and the memory figures). */
  get count(): number {
    return this.byId.size;
  }

  /**
   * The id of an equal live state with one more reference, or a new id with
   * one reference; 0 when RECIRC_IDS_MAX ids are live.
   */
  alloc(state: FrozenState): number {
    const key = stateKey(state);
    const found = this.byKey.get(key);
    if (found) {
      found.refs++;
      return found.id;
    }
    if (this.byId.size >= RECIRC_IDS_MAX) return 0;
    let id = this.nextId++;
    // Wrap-around skips 0 and ids still in use (recirc_id_alloc).
    while (id === 0 || this.byId.has(id)) {
      if (this.nextId > 0xffffffff) this.nextId = 1;
      id = this.nextId++;
    }
    const node: Node = { id, state, key, refs: 1 };
    this.byId.set(id, node);
    this.byKey.set(key, node);
    return id;
  }

  /** The frozen state of a live id, or null (recirc_id_node_find). */
  find(id: number): FrozenState | null {
    return this.byId.get(id)?.state ?? null;
  }

  /** One more reference to a live id; false when it is gone. */
  ref(id: number): boolean {
    const node = this.byId.get(id);
    if (!node) return false;
    node.refs++;
    return true;
  }

  /** Drops one reference; the id is forgotten with its last one (recirc_free_id). */
  unref(id: number): void {
    const node = this.byId.get(id);
    if (!node) return;
    if (--node.refs > 0) return;
    this.byId.delete(id);
    this.byKey.delete(node.key);
  }

  /** The live ids, in order (for dumps and tests). */
  ids(): number[] {
    return [...this.byId.keys()].sort((a, b) => a - b);
  }
}

const tables = new WeakMap<Switch, RecircIds>();

/**
 * The switch's recirculation ids. One table per switch, shared by its
 * bridges, its datapath and trace, as OVS keeps one pool per process.
 */
export function recircIdsOf(sw: Switch): RecircIds {
  let t = tables.get(sw);
  if (!t) {
    t = new RecircIds();
    tables.set(sw, t);
  }
  return t;
}

/** Freezes the pipeline metadata of `flow` (frozen_metadata_from_flow). */
export function freezeMetadata(flow: Uint32Array): Pick<FrozenState, "inPort" | "tunnel" | "regs" | "metadata"> {
  return {
    inPort: flow[L.W_IN_PORT],
    tunnel: flow.slice(L.W_TUN_ID, L.W_TUN_TP + 1),
    regs: flow.slice(L.W_REGS, L.W_REGS + L.REGS_COUNT),
    metadata: flow.slice(L.W_METADATA, L.W_METADATA + 2),
  };
}

/** Writes frozen metadata back into a flow (frozen_metadata_to_flow). */
export function thawMetadata(state: FrozenState, flow: Uint32Array): void {
  flow[L.W_IN_PORT] = state.inPort;
  flow.set(state.tunnel, L.W_TUN_ID);
  flow.set(state.regs, L.W_REGS);
  flow.set(state.metadata, L.W_METADATA);
}

const actionIds = new WeakMap<object, number>();
let nextActionId = 1;
/** Actions compare by identity: the same rule's write_actions freeze to the same key. */
function actionId(a: object): number {
  let id = actionIds.get(a);
  if (id === undefined) {
    id = nextActionId++;
    actionIds.set(a, id);
  }
  return id;
}

const bridgeIds = new WeakMap<object, number>();
let nextBridgeId = 1;
function bridgeId(b: object): number {
  let id = bridgeIds.get(b);
  if (id === undefined) {
    id = nextBridgeId++;
    bridgeIds.set(b, id);
  }
  return id;
}

/** The equality key of a frozen state (recirc_metadata_equal / frozen_state_equal). */
function stateKey(s: FrozenState): string {
  const words = (a: Uint32Array): string => Array.from(a, (w) => w.toString(16)).join(".");
  return [
    bridgeId(s.bridge),
    s.tableId,
    s.inPort,
    words(s.tunnel),
    words(s.regs),
    words(s.metadata),
    s.stack.map((v) => v.toString(16)).join("."),
    s.actionSet.map(actionId).join("."),
    s.conntracked ? 1 : 0,
  ].join("|");
}
