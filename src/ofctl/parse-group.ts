/**
 * Groups in ovs-ofctl syntax (`ovs-ofctl add-group(s)` lines and
 * `dump-groups` output), following Open vSwitch's parse_ofp_group_mod_str
 * and ofp_print_group (lib/ofp-group.c):
 *
 *   group_id=1,type=select,bucket=weight:100,watch_port:1,actions=output:1,bucket=...
 *
 * Invariants: a parsed group has a type and an id <= OFPG_MAX; only select
 * groups carry bucket weights; an indirect group has at most one bucket; a
 * fast-failover bucket watches a port or a group.
 * Limits: only the "add" form (mod-group takes the same text) and a
 * del-groups selection (parseGroupDelete); `fields=` of
 * selection_method=hash is kept as text.
 */
import type { Bucket, Group, GroupType } from "../openflow/group.js";
import { GROUP_ID_MAX, OFPG_ANY, WATCH_PORT_NONE } from "../openflow/group.js";
import { OFPP_CONTROLLER } from "../flow/text.js";
import { TextError, withPlace, contentLines } from "./errors.js";
import { splitItems, strToU16, strToU32, strToU64 } from "./lex.js";
import { OFPP_MAX, portFromString } from "./mf.js";
import { parseActionList } from "./parse-actions.js";
import { formatActions, protocolVersion, type OfProtocol } from "./format-actions.js";
import { formatPortName } from "../flow/format.js";

export interface ParseGroupOptions {
  lineNumber?: number;
  fileName?: string;
  portNames?: ReadonlyMap<string, number>;
}

/** OFPG15_BUCKET_MAX: the largest bucket id. */
const BUCKET_ID_MAX = 0xffffff00;

/** Parses one add-group line. Throws FlowSyntaxError. */
export function parseGroup(text: string, opts: ParseGroupOptions = {}): Group {
  return withPlace(opts.fileName ?? "", opts.lineNumber ?? 1, () => parseGroupText(text, opts));
}

/** Parses an add-groups file (`#` comments, blank lines skipped); the first bad line throws. */
export function parseGroups(fileText: string, fileName = "", opts: ParseGroupOptions = {}): Group[] {
  return contentLines(fileText).map(({ line, number }) => parseGroup(line, { ...opts, fileName, lineNumber: number }));
}

/** What a del-groups selection names: every group (OFPG_ALL). */
export const GROUPS_ALL = "all";

/**
 * Parses a del-groups argument (OVS's parse_ofp_group_mod_str for
 * OFPGC11_DELETE): empty or `group_id=all` selects every group, `group_id=N`
 * one; a type or buckets are refused as not needed. Throws FlowSyntaxError.
 */
export function parseGroupDelete(text: string, opts: ParseGroupOptions = {}): number | typeof GROUPS_ALL {
  return withPlace(opts.fileName ?? "", opts.lineNumber ?? 1, () => {
    if (text.trim() === "") return GROUPS_ALL;
    const bkt = text.indexOf("bucket=");
    if (bkt >= 0) throw new TextError(bkt, "bucket", "bucket is not needed");
    let groupId: number | typeof GROUPS_ALL = GROUPS_ALL;
    for (const kv of splitItems(text, 0)) {
      if (kv.key === "group_id") {
        if (kv.value === "all") groupId = GROUPS_ALL;
        else {
          const id = strToU32(kv.value, kv.valueAt);
          if (id > GROUP_ID_MAX) throw new TextError(kv.valueAt, kv.value, `invalid group id ${id}`);
          groupId = id;
        }
      } else if (kv.key === "type") {
        throw new TextError(kv.keyAt, kv.key, "type is not needed");
      } else {
        throw new TextError(kv.keyAt, kv.key, `unknown keyword ${kv.key}`);
      }
    }
    return groupId;
  });
}

function parseGroupText(text: string, opts: ParseGroupOptions): Group {
  // An optional leading "add" (ovs-ofctl's command prefix for group files).
  let start = 0;
  while (start < text.length && " \t\r\n".includes(text[start])) start++;
  let tokLen = 0;
  while (start + tokLen < text.length && !", \t\r\n".includes(text[start + tokLen])) tokLen++;
  const tok = text.slice(start, start + tokLen);
  if (tokLen > 0 && "add".startsWith(tok)) start += tokLen;
  else if (tokLen > 0 && ["delete", "modify", "add_or_mod", "insert_bucket", "remove_bucket"].some((c) => c.startsWith(tok))) {
    throw new TextError(start, tok, `${tok}: only adding groups is supported`);
  } else start = 0;

  const bktIdx = text.indexOf("bucket=", start);
  const head = text.slice(start, bktIdx < 0 ? text.length : bktIdx);
  let groupId = -1;
  let type: GroupType | null = null;
  let method = "";
  let param = 0n;
  const fields: string[] = [];
  for (const kv of splitItems(head, start)) {
    if (kv.key === "group_id") {
      if (kv.value === "all") throw new TextError(kv.valueAt, kv.value, "invalid group id 4294967292");
      const id = strToU32(kv.value, kv.valueAt);
      if (id > GROUP_ID_MAX) throw new TextError(kv.valueAt, kv.value, `invalid group id ${id}`);
      groupId = id;
    } else if (kv.key === "type") {
      if (kv.value === "all" || kv.value === "select" || kv.value === "indirect") type = kv.value;
      else if (kv.value === "ff" || kv.value === "fast_failover") type = "ff";
      else throw new TextError(kv.valueAt, kv.value, `invalid group type ${kv.value}`);
    } else if (kv.key === "selection_method") {
      if (kv.value.length >= 16) throw new TextError(kv.valueAt, kv.value, "selection method is longer than 15 bytes long");
      method = kv.value;
    } else if (kv.key === "selection_method_param") {
      param = strToU64(kv.value, kv.valueAt);
    } else if (kv.key === "fields") {
      fields.push(...kv.value.split(",").filter((x) => x !== ""));
    } else if (kv.key === "command_bucket_id") {
      throw new TextError(kv.keyAt, kv.key, "command bucket id is not needed");
    } else {
      throw new TextError(kv.keyAt, kv.key, `unknown keyword ${kv.key}`);
    }
  }
  if (groupId < 0) throw new TextError(start, text, "must specify a group_id");
  if (type === null) throw new TextError(start, text, "must specify a type");
  if (method !== "hash" && fields.length > 0) {
    throw new TextError(start, text, 'fields may only be specified with "selection_method=hash"');
  }
  if (method === "" && param !== 0n) {
    throw new TextError(start, text, 'selection_method_param is only allowed with "selection_method"');
  }

  const buckets: Bucket[] = [];
  let at = bktIdx;
  while (at >= 0) {
    const contentAt = at + "bucket=".length;
    const next = text.indexOf("bucket=", contentAt);
    const content = text.slice(contentAt, next < 0 ? text.length : next);
    const b = parseBucket(content, contentAt, type, opts);
    if (b.bucketId < 0) b.bucketId = buckets.length;
    buckets.push(b);
    if (type !== "select" && b.weight !== 0) throw new TextError(at, "bucket", "Only select groups can have bucket weights.");
    at = next;
  }
  if (type === "indirect" && buckets.length > 1) throw new TextError(start, text, "Indirect groups can have at most one bucket.");
  return { groupId, type, buckets, selection: { method, param, fields } };
}

function parseBucket(content: string, base: number, type: GroupType, opts: ParseGroupOptions): Bucket {
  const bucket: Bucket = {
    bucketId: -1,
    weight: type === "select" ? 1 : 0,
    watchPort: WATCH_PORT_NONE,
    watchGroup: OFPG_ANY,
    actions: [],
  };
  // The bucket's actions, as OVS gathers them: "actions=" values and any other key as key(value).
  const pieces: { text: string; at: number }[] = [];
  for (const kv of splitItems(content, base)) {
    const key = kv.key.toLowerCase();
    if (key === "weight") bucket.weight = strToU16(kv.value, "weight", kv.valueAt);
    else if (key === "watch_port") {
      const p = portFromString(kv.value, opts.portNames);
      if (p === null || (p >= OFPP_MAX && p !== WATCH_PORT_NONE && p !== OFPP_CONTROLLER)) {
        throw new TextError(kv.valueAt, kv.value, `${kv.value}: invalid watch_port`);
      }
      bucket.watchPort = p;
    } else if (key === "watch_group") {
      const g = strToU32(kv.value, kv.valueAt);
      if (g > GROUP_ID_MAX) throw new TextError(kv.valueAt, kv.value, `invalid watch_group id ${g}`);
      bucket.watchGroup = g;
    } else if (key === "bucket_id") {
      const id = strToU32(kv.value, kv.valueAt);
      if (id > BUCKET_ID_MAX) throw new TextError(kv.valueAt, kv.value, `invalid bucket_id id ${id}`);
      bucket.bucketId = id;
    } else if (key === "action" || key === "actions") {
      pieces.push({ text: kv.value, at: kv.valueAt });
    } else {
      pieces.push({ text: kv.value === "" && kv.delim === "" ? kv.key : `${kv.key}(${kv.value})`, at: kv.keyAt });
    }
  }
  if (pieces.length === 0) throw new TextError(base, content, "bucket must specify actions");
  if (type === "ff" && bucket.watchPort === WATCH_PORT_NONE && bucket.watchGroup === OFPG_ANY) {
    throw new TextError(base, content, "fast failover bucket requires watch_port or watch_group");
  }
  for (const p of pieces) {
    bucket.actions.push(...parseActionList(p.text, p.at, { portNames: opts.portNames }, false));
  }
  return bucket;
}

export interface FormatGroupOptions {
  /** The dump protocol (dump-groups -O); bucket ids print only for OpenFlow 1.0 and 1.5. */
  protocol?: OfProtocol;
  portName?: (port: number) => string | undefined;
}

/** One dump-groups line for the group (ofp_print_group), without OVS's leading space. */
export function formatGroup(g: Group, opts: FormatGroupOptions = {}): string {
  const version = opts.protocol === undefined ? 6 : protocolVersion(opts.protocol);
  let s = `group_id=${g.groupId},type=${g.type}`;
  if (g.selection.method !== "" && (version === 1 || version >= 6)) {
    s += `,selection_method=${g.selection.method}`;
    if (g.selection.param !== 0n) s += `,selection_method_param=${g.selection.param}`;
    if (g.selection.fields.length === 1) s += `,fields=${g.selection.fields[0]}`;
    else if (g.selection.fields.length > 1) s += `,fields(${g.selection.fields.join(",")})`;
  }
  if (g.buckets.length === 0) return s;
  s += ",";
  const parts: string[] = [];
  for (const b of g.buckets) {
    let t = "bucket=";
    if (version === 1 || version >= 6) t += `bucket_id:${b.bucketId},`;
    if (b.weight !== (g.type === "select" ? 1 : 0)) t += `weight:${b.weight},`;
    if (b.watchPort !== WATCH_PORT_NONE) t += `watch_port:${formatPortName(b.watchPort, opts.portName)},`;
    if (b.watchGroup !== OFPG_ANY) t += `watch_group:${b.watchGroup},`;
    t += "actions=" + formatActions(b.actions, { protocol: opts.protocol, portName: opts.portName });
    parts.push(t);
  }
  return s + parts.join(",");
}
