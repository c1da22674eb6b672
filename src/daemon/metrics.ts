/**
 * Prometheus text exposition (format 0.0.4) of a running daemon's counters
 * on 127.0.0.1:PORT/metrics. Only loopback: the figures describe the host's
 * traffic and need no wider audience.
 */
import { createServer, type Server } from "node:http";
import { FlowplaneError } from "../errors.js";
import type { Daemon } from "./daemon.js";
import { statsOf } from "./control-server.js";

const esc = (v: string): string => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");

export function metricsText(daemon: Daemon): string {
  const s = statsOf(daemon);
  const out: string[] = [];
  const family = (name: string, type: "counter" | "gauge", help: string, rows: [string, number][]): void => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of rows) out.push(`${name}${labels} ${v}`);
  };
  const perPort = (pick: (p: (typeof s.ports)[number]) => number): [string, number][] =>
    s.ports.map((p) => [`{port="${esc(p.name)}",type="${p.type}"}`, pick(p)]);
  family("flowplane_port_rx_packets_total", "counter", "Frames received on the port.", perPort((p) => p.rxPackets));
  family("flowplane_port_rx_bytes_total", "counter", "Bytes received on the port.", perPort((p) => p.rxBytes));
  family("flowplane_port_tx_packets_total", "counter", "Frames transmitted on the port.", perPort((p) => p.txPackets));
  family("flowplane_port_tx_bytes_total", "counter", "Bytes transmitted on the port.", perPort((p) => p.txBytes));
  family("flowplane_port_tx_drops_total", "counter", "Frames for the port not transmitted (over MTU, queue full, nothing attached).", perPort((p) => p.txDrops));
  family("flowplane_datapath_packets_total", "counter", "Packets the datapath processed.", [["", s.packets]]);
  family("flowplane_datapath_emc_hits_total", "counter", "Exact-match cache hits.", [["", s.emcHits]]);
  family("flowplane_datapath_megaflow_hits_total", "counter", "Megaflow cache hits.", [["", s.megaflowHits]]);
  family("flowplane_datapath_misses_total", "counter", "Cache misses (upcalls).", [["", s.misses]]);
  family("flowplane_datapath_lost_total", "counter", "Upcalls whose megaflow could not be installed.", [["", s.lost]]);
  family("flowplane_datapath_megaflows", "gauge", "Megaflows installed.", [["", s.megaflows]]);
  return out.join("\n") + "\n";
}

export async function startMetrics(daemon: Daemon, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method === "GET" && (req.url === "/metrics" || req.url?.startsWith("/metrics?"))) {
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
      res.end(metricsText(daemon));
      return;
    }
    res.writeHead(404, { "content-type": "text/plain" });
    res.end("only /metrics is here\n");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) =>
      reject(new FlowplaneError("FP_ERR_METRICS", `cannot serve metrics on 127.0.0.1:${port}: ${e.code === "EADDRINUSE" ? "the port is in use" : (e.code ?? e.message)}`)),
    );
    server.listen(port, "127.0.0.1", () => resolve());
  });
  return server;
}
