/**
 * An OpenFlow group as `ovs-ofctl add-group(s)` writes it and `dump-groups`
 * prints it (OVS's ofputil_group_mod / ofputil_bucket).
 *
 * Invariants: groupId is 0..0xffffff00 (OFPG_MAX); a bucket's weight is
 * meaningful for select groups only and is 0 elsewhere unless given;
 * watchPort/watchGroup are OFPP_ANY (0xffff) / OFPG_ANY (0xffffffff) when
 * absent; bucketId is assigned in order from 0 when the text gives none.
 */
import type { Action } from "./actions.js";

export type GroupType = "all" | "select" | "indirect" | "ff";

/** Largest group id a group may have (OFPG_MAX). */
export const GROUP_ID_MAX = 0xffffff00;
/** "Any group": watch_group absent (OFPG_ANY). */
export const OFPG_ANY = 0xffffffff;
/** "Any port" in 16-bit form: watch_port absent. */
export const WATCH_PORT_NONE = 0xffff;

export interface Bucket {
  bucketId: number;
  weight: number;
  watchPort: number;
  watchGroup: number;
  actions: Action[];
}

/** select_group's selection_method property (OpenFlow 1.5 / OVS extension). */
export interface GroupSelection {
  /** "" when absent; "hash" or "dp_hash". */
  method: string;
  param: bigint;
  /** Fields hashed by selection_method=hash: names, possibly with masks as written. */
  fields: string[];
}

export interface Group {
  groupId: number;
  type: GroupType;
  buckets: Bucket[];
  selection: GroupSelection;
}
