/**
 * The report a translation writes when traced, and its text in the layout of
 * `ovs-appctl ofproto/trace` (ofproto/ofproto-dpif-trace.c): a tree of nodes,
 * each bridge, table, action and detail indented under what caused it.
 */

export type TraceKind = "bridge" | "table" | "action" | "detail" | "warn" | "error" | "bucket" | "thaw";

export interface TraceNode {
  kind: TraceKind;
  text: string;
  subs: TraceNode[];
}

const isTerminal = (k: TraceKind): boolean => k === "action" || k === "detail" || k === "warn" || k === "error" || k === "bucket";

/** Text of a list of nodes at an indentation level, as OVS's oftrace_node_print_details. */
export function formatTraceNodes(nodes: readonly TraceNode[], level = 0): string {
  let out = "";
  for (let i = 0; i < nodes.length; i++) {
    const n = nodes[i];
    if (n.kind === "bridge") out += "\n";
    const more = i < nodes.length - 1 || isTerminal(n.kind) ? 1 : 0;
    const pad = " ".repeat((level + more) * 4);
    switch (n.kind) {
      case "detail":
        out += `${pad} -> ${n.text}\n`;
        break;
      case "warn":
        out += `${pad} >> ${n.text}\n`;
        break;
      case "error":
        out += `${pad} >>>> ${n.text} <<<<\n`;
        break;
      case "bridge":
        out += `${pad}${n.text}\n${pad}${"-".repeat(n.text.length)}\n`;
        break;
      default:
        out += `${pad}${n.text}\n`;
    }
    out += formatTraceNodes(n.subs, level + 2 * more);
  }
  return out;
}

/**
 * xlate_strerror's name for a translation error, as the trace's "Translation
 * failed (...)" line prints it; `error` is the detail translation reports
 * in the walk (">>>> over max translation depth 64 <<<<").
 */
export function xlateErrorName(error: string): string {
  if (error.startsWith("over max translation depth")) return "Recursion too deep";
  if (error.endsWith("resubmit actions")) return "Too many resubmits";
  if (error === "Failed to allocate recirculation id") return "No recirculation context";
  return error;
}
