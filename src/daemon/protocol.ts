/**
 * The control protocol of `flowplane run`: newline-delimited JSON over a
 * unix socket. Each line a client writes is one request; the daemon answers
 * each with one line, in order:
 *
 *   -> {"id":1,"cmd":"add-flows","bridge":"br0","text":"in_port=1,actions=2","file":"flow"}
 *   <- {"id":1,"ok":true,"result":{"count":1}}
 *   <- {"id":2,"ok":false,"error":{"code":"FP_ERR_FLOW_SYNTAX","message":"flow:1:9: ..."}}
 *
 * Requests (fields beside id and cmd):
 *   ping                                        -> {pid, topology, uptimeSec}
 *   add-flows   bridge, text, file?             -> {count}
 *   mod-flows   bridge, flow, strict?           -> {count}
 *   del-flows   bridge, match?, strict?         -> {count}
 *   dump-flows  bridge, names?, protocol?       -> {lines: string[]}
 *   add-groups  bridge, text, file?             -> {count}
 *   mod-group   bridge, group, mayCreate?       -> {}
 *   del-groups  bridge, group?                  -> {groups, flows}
 *   dump-groups bridge, groupId?, names?, protocol?  -> {lines: string[]}
 *   add-meter   bridge, meter                   -> {}
 *   mod-meter   bridge, meter                   -> {}
 *   del-meters  bridge, meter?                  -> {meters, flows}
 *   dump-meters bridge, meter?                  -> {meters: string[]} (one text per meter, its bands on lines of their own)
 *   meter-stats bridge, meter?                  -> {meters: string[]} (likewise)
 *   dpctl/dump-flows  names?                    -> {lines: string[]}
 *   dpctl/dump-conntrack  zone?, verbose?, stats?  -> {lines: string[]}
 *   dpctl/flush-conntrack zone?                 -> {}
 *   stats                                       -> StatsResult
 *   trace       bridge, flow, packet?, names?   -> {text}
 * Invariant: a request that fails changes nothing and answers ok:false with
 * the error's stable code and its one-line message.
 * Limits: REQUEST_SIZE_MAX bytes per request line.
 */
import { connect } from "node:net";
import { FlowplaneError } from "../errors.js";

/** Longest request line the daemon reads: a large add-flows file fits. */
export const REQUEST_SIZE_MAX = 64 << 20;
/** How long a client waits for an answer. */
export const REPLY_TIMEOUT_MS = 30_000;

export interface Request {
  id?: number;
  cmd: string;
  [field: string]: unknown;
}

export interface Reply {
  id: number | null;
  ok: boolean;
  result?: unknown;
  error?: { code: string; message: string };
}

export interface PortStats {
  name: string;
  type: string;
  device: string;
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  txDrops: number;
}

export interface StatsResult {
  packets: number;
  emcHits: number;
  megaflowHits: number;
  /** megaflows.probedOnHits / megaflows.hitCount. */
  avgSubtableLookupsPerHit: number;
  misses: number;
  lost: number;
  runts: number;
  dropped: number;
  revalidations: number;
  megaflows: number;
  avgPacketsPerOutputBatch: number;
  ports: PortStats[];
}

/**
 * Sends one request and returns its result; a refused or failed request
 * throws a FlowplaneError with one clear line.
 */
export function request(socketPath: string, req: Request): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const sock = connect(socketPath);
    let buffered = "";
    let settled = false;
    const finish = (error: Error | null, result?: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      if (error) reject(error);
      else resolve(result);
    };
    const timer = setTimeout(
      () => finish(new FlowplaneError("FP_ERR_CONTROL", `${socketPath}: no answer within ${REPLY_TIMEOUT_MS / 1000} s`)),
      REPLY_TIMEOUT_MS,
    );
    sock.on("connect", () => sock.write(JSON.stringify({ id: 1, ...req }) + "\n"));
    sock.on("error", (e: NodeJS.ErrnoException) => {
      const why = e.code === "ENOENT" || e.code === "ECONNREFUSED" ? "is flowplane run running?" : e.code === "EACCES" ? "permission denied" : e.message;
      finish(new FlowplaneError("FP_ERR_CONTROL_CONNECT", `cannot connect to ${socketPath}: ${why}`));
    });
    sock.setEncoding("utf8");
    sock.on("data", (chunk: string) => {
      buffered += chunk;
      const nl = buffered.indexOf("\n");
      if (nl < 0) return;
      let reply: Reply;
      try {
        reply = JSON.parse(buffered.slice(0, nl)) as Reply;
      } catch {
        finish(new FlowplaneError("FP_ERR_CONTROL", `${socketPath}: the daemon's answer is not JSON`));
        return;
      }
      if (reply.ok) finish(null, reply.result);
      else finish(new FlowplaneError(reply.error?.code ?? "FP_ERR_CONTROL", reply.error?.message ?? "request failed"));
    });
    sock.on("end", () => finish(new FlowplaneError("FP_ERR_CONTROL", `${socketPath}: the daemon closed the connection without answering`)));
  });
}
