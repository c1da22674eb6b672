/**
 * The topology file: bridges, their ports and the flows, groups and meters
 * each starts with, as JSON (documented in README.md, "Topology files").
 *
 *   { "bridges": [ {"name": "br-int", "protocols": "OpenFlow13",
 *                   "flows": "br-int.flows", "groups": "br-int.groups",
 *                   "meters": "br-int.meters"} ],
 *     "ports":   [ {"name": "tap-vm1", "bridge": "br-int", "ofport": 5, "tag": 1},
 *                  {"name": "patch-tun", "bridge": "br-int", "ofport": 1,
 *                   "type": "patch", "peer": "patch-int"} ] }
 *
 * Paths are relative to the file. A bridge's tables hold exactly the flows of
 * its flows file (as after `ovs-ofctl replace-flows`); a bridge without one
 * gets OVS's default `priority=0 actions=NORMAL`. Every mistake (unknown
 * key, missing file, duplicate name or ofport, a patch without its peer, a
 * bad flow line) is one TopologyError naming the file and the item.
 */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { FlowplaneError } from "../errors.js";
import type { PortConfig, PortType, VlanMode, Bridge } from "./bridge.js";
import { Switch } from "./bridge.js";
import { TunnelConfigError } from "../tunnel/config.js";
import type { OfTable } from "./table.js";

export class TopologyError extends FlowplaneError {
  constructor(file: string, item: string, reason: string) {
    super("FP_ERR_TOPOLOGY", `${file}: ${item}: ${reason}`);
    this.name = "TopologyError";
  }
}

export interface BridgeSpec {
  name: string;
  protocols?: string;
  flows?: string;
  groups?: string;
  /** A file of add-meter texts, one meter per line (meter=1,pktps,bands=type=drop,rate=10). */
  meters?: string;
}

export interface PortSpec {
  name: string;
  bridge: string;
  ofport: number;
  type?: PortType;
  peer?: string;
  tag?: number;
  trunks?: number[];
  vlan_mode?: VlanMode;
  mtu?: number;
  options?: Record<string, string>;
}

/**
 * What native tunnels need of the underlay, in the terms of the OVS
 * commands it replaces: `netdev-dummy/ip4addr` plus the bridge hwaddr
 * (addresses), `ovs/route/add` (routes), `tnl/arp/set` (neighbours).
 *
 *   "underlay": { "addresses":  [{"bridge": "br-phy", "ip": "1.1.2.88/24", "mac": "aa:55:aa:55:00:00"}],
 *                 "routes":     [{"prefix": "1.1.2.0/24", "bridge": "br-phy"}],
 *                 "neighbours": [{"bridge": "br-phy", "ip": "1.1.2.92", "mac": "f8:bc:12:44:34:b6"}] }
 */
export interface UnderlaySpec {
  addresses?: { bridge: string; ip: string; mac: string }[];
  routes?: { prefix: string; bridge: string; src?: string }[];
  neighbours?: { bridge: string; ip: string; mac: string }[];
}

export interface TopologySpec {
  bridges: BridgeSpec[];
  ports: PortSpec[];
  underlay?: UnderlaySpec;
}

/** Loads bridge flows, groups and meters into a switch; supplied by the syntax layer so this file stays small. */
export interface FlowLoader {
  loadGroups(bridge: Bridge, text: string, file: string): void;
  loadMeters(bridge: Bridge, text: string, file: string): void;
  loadFlows(bridge: Bridge, text: string, file: string): void;
  defaultFlows(bridge: Bridge): void;
}

const BRIDGE_KEYS = new Set(["name", "protocols", "flows", "groups", "meters"]);
const PORT_KEYS = new Set(["name", "bridge", "ofport", "type", "peer", "tag", "trunks", "vlan_mode", "mtu", "options"]);
const PORT_TYPES: ReadonlySet<string> = new Set(["plain", "internal", "patch", "tap", "afpacket", "pcap-in", "pcap-out", "vxlan", "gre"]);
const VLAN_MODES: ReadonlySet<string> = new Set(["access", "trunk", "native-tagged", "native-untagged"]);
const PROTOCOLS: ReadonlySet<string> = new Set(["OpenFlow10", "OpenFlow11", "OpenFlow12", "OpenFlow13", "OpenFlow14", "OpenFlow15"]);
/** OpenFlow's largest ordinary port number (OFPP_MAX). */
const OFPORT_MAX = 0xff00;

/** Checks the shape of a parsed topology file; returns it typed or throws a TopologyError. */
export function validateTopology(raw: unknown, file: string): TopologySpec {
  const isObj = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);
  if (!isObj(raw)) throw new TopologyError(file, "top level", "must be a JSON object with \"bridges\" and \"ports\"");
  for (const k of Object.keys(raw)) if (k !== "bridges" && k !== "ports" && k !== "underlay") throw new TopologyError(file, "top level", `unknown key "${k}"`);
  if (!Array.isArray(raw.bridges) || raw.bridges.length === 0) throw new TopologyError(file, "bridges", "must be a non-empty array");
  const ports = raw.ports ?? [];
  if (!Array.isArray(ports)) throw new TopologyError(file, "ports", "must be an array");

  const bridgeNames = new Set<string>();
  const bridges: BridgeSpec[] = raw.bridges.map((b: unknown, i: number) => {
    const item = `bridges[${i}]`;
    if (!isObj(b)) throw new TopologyError(file, item, "must be an object");
    for (const k of Object.keys(b)) if (!BRIDGE_KEYS.has(k)) throw new TopologyError(file, item, `unknown key "${k}"`);
    if (typeof b.name !== "string" || !/^[A-Za-z0-9_.\-]{1,15}$/.test(b.name)) {
      throw new TopologyError(file, item, "\"name\" must be 1-15 letters, digits, '.', '-' or '_'");
    }
    if (bridgeNames.has(b.name)) throw new TopologyError(file, `bridge ${b.name}`, "duplicate bridge name");
    bridgeNames.add(b.name);
    for (const k of ["flows", "groups", "meters"] as const) {
      if (b[k] !== undefined && typeof b[k] !== "string") throw new TopologyError(file, `bridge ${b.name}`, `"${k}" must be a file path`);
    }
    if (b.protocols !== undefined && (typeof b.protocols !== "string" || !b.protocols.split(",").every((p) => PROTOCOLS.has(p.trim())))) {
      throw new TopologyError(file, `bridge ${b.name}`, `"protocols" must be OpenFlow10..OpenFlow15 (comma-separated)`);
    }
    return b as unknown as BridgeSpec;
  });

  const portNames = new Set<string>(bridgeNames);
  const ofports = new Set<string>();
  const out: PortSpec[] = ports.map((p: unknown, i: number) => {
    const item = `ports[${i}]`;
    if (!isObj(p)) throw new TopologyError(file, item, "must be an object");
    for (const k of Object.keys(p)) if (!PORT_KEYS.has(k)) throw new TopologyError(file, typeof p.name === "string" ? `port ${p.name}` : item, `unknown key "${k}"`);
    if (typeof p.name !== "string" || !/^[A-Za-z0-9_.\-]{1,15}$/.test(p.name)) {
      throw new TopologyError(file, item, "\"name\" must be 1-15 letters, digits, '.', '-' or '_' (an interface name)");
    }
    const at = `port ${p.name}`;
    if (portNames.has(p.name)) throw new TopologyError(file, at, "duplicate name (port names and bridge names share one namespace)");
    portNames.add(p.name);
    if (typeof p.bridge !== "string" || !bridgeNames.has(p.bridge)) throw new TopologyError(file, at, `"bridge" must name a bridge of this file`);
    if (!Number.isInteger(p.ofport) || (p.ofport as number) < 1 || (p.ofport as number) >= OFPORT_MAX) {
      throw new TopologyError(file, at, `"ofport" must be a whole number from 1 to ${OFPORT_MAX - 1}`);
    }
    const key = `${p.bridge}/${p.ofport}`;
    if (ofports.has(key)) throw new TopologyError(file, at, `ofport ${p.ofport} is already used on bridge ${p.bridge}`);
    ofports.add(key);
    if (p.type !== undefined && (typeof p.type !== "string" || !PORT_TYPES.has(p.type))) {
      throw new TopologyError(file, at, `"type" must be one of ${[...PORT_TYPES].join(", ")}`);
    }
    if (p.type === "patch" && typeof p.peer !== "string") throw new TopologyError(file, at, "a patch port needs \"peer\"");
    if (p.type !== "patch" && p.peer !== undefined) throw new TopologyError(file, at, "\"peer\" is only for patch ports");
    const vlanOk = (v: unknown): boolean => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 4095;
    if (p.tag !== undefined && !vlanOk(p.tag)) throw new TopologyError(file, at, "\"tag\" must be a VLAN id 0-4095");
    if (p.trunks !== undefined && (!Array.isArray(p.trunks) || !p.trunks.every(vlanOk))) {
      throw new TopologyError(file, at, "\"trunks\" must be an array of VLAN ids 0-4095");
    }
    if (p.vlan_mode !== undefined && (typeof p.vlan_mode !== "string" || !VLAN_MODES.has(p.vlan_mode))) {
      throw new TopologyError(file, at, `"vlan_mode" must be one of ${[...VLAN_MODES].join(", ")}`);
    }
    if (p.mtu !== undefined && (!Number.isInteger(p.mtu) || (p.mtu as number) < 68 || (p.mtu as number) > 65535)) {
      throw new TopologyError(file, at, "\"mtu\" must be a whole number from 68 to 65535");
    }
    if (p.options !== undefined && (!isObj(p.options) || !Object.values(p.options).every((v) => typeof v === "string"))) {
      throw new TopologyError(file, at, "\"options\" must be an object of strings");
    }
    return p as unknown as PortSpec;
  });
  // Patch peers must exist and point back.
  const byName = new Map(out.map((p) => [p.name, p]));
  for (const p of out) {
    if (p.type !== "patch") continue;
    const peer = byName.get(p.peer!);
    if (!peer) throw new TopologyError(file, `port ${p.name}`, `patch peer "${p.peer}" is not a port of this file`);
    if (peer.type !== "patch" || peer.peer !== p.name) throw new TopologyError(file, `port ${p.name}`, `patch peer "${p.peer}" must be a patch port whose peer is "${p.name}"`);
  }
  const underlay = raw.underlay === undefined ? undefined : validateUnderlay(raw.underlay, file, bridgeNames);
  return underlay ? { bridges, ports: out, underlay } : { bridges, ports: out };
}

/** Checks the "underlay" object's shape; the values are parsed when the switch is built. */
function validateUnderlay(raw: unknown, file: string, bridgeNames: ReadonlySet<string>): UnderlaySpec {
  const isObj = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);
  if (!isObj(raw)) throw new TopologyError(file, "underlay", "must be an object with \"addresses\", \"routes\" and \"neighbours\"");
  const shapes: Record<string, [string[], string[]]> = {
    addresses: [["bridge", "ip", "mac"], []],
    routes: [["prefix", "bridge"], ["src"]],
    neighbours: [["bridge", "ip", "mac"], []],
  };
  for (const k of Object.keys(raw)) {
    const shape = shapes[k];
    if (!shape) throw new TopologyError(file, "underlay", `unknown key "${k}"`);
    const list = raw[k];
    if (!Array.isArray(list)) throw new TopologyError(file, `underlay.${k}`, "must be an array");
    list.forEach((e: unknown, i: number) => {
      const item = `underlay.${k}[${i}]`;
      if (!isObj(e)) throw new TopologyError(file, item, "must be an object");
      for (const f of Object.keys(e)) if (!shape[0].includes(f) && !shape[1].includes(f)) throw new TopologyError(file, item, `unknown key "${f}"`);
      for (const f of shape[0]) if (typeof e[f] !== "string") throw new TopologyError(file, item, `"${f}" must be a string`);
      for (const f of shape[1]) if (e[f] !== undefined && typeof e[f] !== "string") throw new TopologyError(file, item, `"${f}" must be a string`);
      if (!bridgeNames.has(e.bridge as string)) throw new TopologyError(file, item, `"bridge" must name a bridge of this file`);
    });
  }
  return raw as UnderlaySpec;
}

/** Builds a switch from a validated topology; flows and groups come through `loader`. */
export function buildSwitch(spec: TopologySpec, file: string, newTable: () => OfTable, loader: FlowLoader, readText = (p: string) => readFileSync(p, "utf8")): Switch {
  const sw = new Switch(newTable);
  const dir = dirname(resolve(file));
  for (const b of spec.bridges) {
    const br = sw.addBridge(b.name);
    if (b.protocols) {
      const list = b.protocols.split(",").map((s) => s.trim());
      br.protocol = [...list].sort().at(-1)!;
      br.of10Only = list.every((p) => p === "OpenFlow10");
    }
  }
  for (const p of spec.ports) {
    const cfg: PortConfig = {
      name: p.name,
      ofport: p.ofport,
      type: p.type,
      peer: p.peer,
      tag: p.tag,
      trunks: p.trunks,
      vlanMode: p.vlan_mode,
      mtu: p.mtu,
      options: p.options,
    };
    try {
      sw.addPort(sw.byName.get(p.bridge)!, cfg);
    } catch (e) {
      if (e instanceof TunnelConfigError) throw new TopologyError(file, `port ${p.name}`, e.reason);
      throw e;
    }
  }
  try {
    for (const a of spec.underlay?.addresses ?? []) sw.underlay.addAddress(a.bridge, a.ip, a.mac);
    for (const r of spec.underlay?.routes ?? []) sw.underlay.addRoute(r.prefix, r.bridge, r.src);
    for (const n of spec.underlay?.neighbours ?? []) sw.underlay.setNeighbour(n.bridge, n.ip, n.mac);
  } catch (e) {
    if (e instanceof FlowplaneError) throw new TopologyError(file, "underlay", e.message);
    throw e;
  }
  const missing = sw.linkPatches();
  if (missing.length) throw new TopologyError(file, `port ${missing[0]}`, "patch port without a peer");
  for (const b of spec.bridges) {
    const br = sw.byName.get(b.name)!;
    // Meters before flows: a flow naming a meter the bridge lacks is refused.
    if (b.meters) {
      const path = resolve(dir, b.meters);
      loader.loadMeters(br, readFile(path, file, `bridge ${b.name}`, readText), path);
    }
    if (b.groups) {
      const path = resolve(dir, b.groups);
      loader.loadGroups(br, readFile(path, file, `bridge ${b.name}`, readText), path);
    }
    if (b.flows) {
      const path = resolve(dir, b.flows);
      loader.loadFlows(br, readFile(path, file, `bridge ${b.name}`, readText), path);
    } else {
      loader.defaultFlows(br);
    }
  }
  return sw;
}

function readFile(path: string, file: string, item: string, readText: (p: string) => string): string {
  try {
    return readText(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new TopologyError(file, item, `cannot read ${path}${code === "ENOENT" ? ": no such file" : code ? `: ${code}` : ""}`);
  }
}

/** Reads and validates a topology file. */
export function readTopology(file: string): TopologySpec {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new TopologyError(file, "file", code === "ENOENT" ? "no such file" : `cannot read (${code})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new TopologyError(file, "file", `not valid JSON: ${(e as Error).message}`);
  }
  return validateTopology(raw, file);
}
