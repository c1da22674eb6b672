/**
 * Bridges and ports: the OpenFlow switch model (OVS's ofproto + the Port and
 * Interface tables of ovs-vswitchd.conf.db(5)).
 *
 * A Switch holds every bridge and numbers every port once more as a
 * datapath port (all bridges share one datapath, as in OVS); datapath
 * actions name datapath ports. A bridge has OpenFlow tables 0-254, groups, a
 * MAC learning table for NORMAL, and its LOCAL port (OpenFlow port 65534,
 * named after the bridge).
 *
 * Invariants: port names are unique across the switch, ofports unique within
 * a bridge, a patch port's peer is a patch port whose peer is it.
 */
import { MacTable } from "./mac-learning.js";
import { OFPP_LOCAL } from "../flow/text.js";
import type { Group } from "../openflow/group.js";
import type { OfTable } from "./table.js";
import { parseTunnelConfig, vportName, type TunnelConfig } from "../tunnel/config.js";
import { Underlay } from "../tunnel/underlay.js";
import { DpMeters } from "../datapath/meter.js";
import type { BridgeMeter } from "./meter-table.js";

export type VlanMode = "access" | "trunk" | "native-tagged" | "native-untagged";
export type PortType = "plain" | "internal" | "patch" | "tap" | "afpacket" | "pcap-in" | "pcap-out" | "vxlan" | "gre" | "vport";

export interface PortConfig {
  name: string;
  ofport: number;
  type?: PortType;
  peer?: string;
  tag?: number;
  trunks?: number[];
  vlanMode?: VlanMode;
  mtu?: number;
  /** Type-specific options (tap device name, pcap path, tunnel remote_ip, ...). */
  options?: Record<string, string>;
}

/** Interface MTU when none is configured (OVS's default for dummy and tap ports). */
export const MTU_DEFAULT = 1500;

export class Port {
  readonly name: string;
  readonly ofport: number;
  readonly type: PortType;
  readonly bridge: Bridge;
  /** Datapath port number, assigned by the Switch. */
  dpPort = -1;
  peer: Port | null = null;
  readonly peerName: string | null;
  /** NORMAL's VLAN settings (OVS Port table: tag, trunks, vlan_mode). */
  readonly vlanMode: VlanMode;
  /** The access / native VLAN (0 when the port names none), or -1 for a trunk. */
  readonly tag: number;
  /** Trunked VLANs; null means all. */
  readonly trunks: ReadonlySet<number> | null;
  mtu: number;
  readonly options: Readonly<Record<string, string>>;
  /** A vxlan or gre port's tunnel settings (options parsed), else null. */
  readonly tunnel: TunnelConfig | null;

  constructor(bridge: Bridge, cfg: PortConfig) {
    this.bridge = bridge;
    this.name = cfg.name;
    this.ofport = cfg.ofport;
    this.type = cfg.type ?? "plain";
    this.peerName = cfg.peer ?? null;
    this.trunks = cfg.trunks && cfg.trunks.length ? new Set(cfg.trunks) : null;
    // OVS's default vlan_mode: access when a tag is set (trunks are then ignored,
    // vswitchd/bridge.c port_configure), else trunk.
    this.vlanMode = cfg.vlanMode ?? (cfg.tag !== undefined ? "access" : "trunk");
    // A trunk has no VLAN of its own; an access or native port without a tag
    // has VLAN 0 (ofproto-dpif.c bundle_set: "s->vlan >= 0 ... ? s->vlan : 0").
    this.tag = this.vlanMode === "trunk" ? -1 : (cfg.tag ?? 0);
    this.mtu = cfg.mtu ?? MTU_DEFAULT;
    this.options = cfg.options ?? {};
    this.tunnel = this.type === "vxlan" || this.type === "gre" ? parseTunnelConfig(this.name, this.type, this.options) : null;
  }

  /**
   * Whether a frame fits the port's MTU on transmit: at most MTU bytes plus
   * the Ethernet header, plus one 802.1Q (0x8100) tag (OVS's netdev_dummy_send,
   * as the kernel does); longer frames are dropped.
   */
  fitsMtu(buf: Uint8Array, offset: number, length: number): boolean {
    const tagged = length >= 14 && buf[offset + 12] === 0x81 && buf[offset + 13] === 0x00;
    return length <= this.mtu + (tagged ? 18 : 14);
  }

  /** Whether NORMAL may carry VLAN `vid` (0 = untagged) on this port (xbundle_trunks_vlan). */
  trunksVlan(vid: number): boolean {
    return this.trunks === null || this.trunks.has(vid);
  }
}

export class Bridge {
  readonly name: string;
  readonly ports: Port[] = [];
  readonly byOfport = new Map<number, Port>();
  readonly tables: OfTable[] = [];
  readonly groups = new Map<number, Group>();
  /** OpenFlow meters by meter id (meter-table.ts). */
  readonly meters = new Map<number, BridgeMeter>();
  /** The datapath's meters, shared by every bridge of the switch (set by Switch.addBridge). */
  dpMeters = new DpMeters();
  readonly macs = new MacTable();
  /** Live (table, cookie) pairs of learn(delete_learned) actions (learned-cookies.ts). */
  learnedCookies = new Map<string, { table: number; cookie: bigint }>();
  /** The OpenFlow version whose syntax dump-flows prints. */
  protocol = "OpenFlow10";
  /**
   * Only OpenFlow 1.0 is enabled (protocols: OpenFlow10): flows arrive as
   * ovs-ofctl must send them then, in OpenFlow 1.0 (goto_table becomes
   * resubmit, write_actions and clear_actions are not sent).
   */
  of10Only = false;
  readonly local: Port;
  /** Bumped on every flow-table, group or port change (megaflow revalidation). */
  version = 0;
  /** Called on every change; the Switch counts them for the datapath. */
  onChange: () => void = () => {};

  constructor(name: string, newTable: () => OfTable) {
    this.name = name;
    for (let t = 0; t < 255; t++) this.tables.push(newTable());
    this.local = this.addPort({ name, ofport: OFPP_LOCAL, type: "internal" });
  }

  addPort(cfg: PortConfig): Port {
    const port = new Port(this, cfg);
    this.ports.push(port);
    this.byOfport.set(port.ofport, port);
    this.updateLocalMtu();
    this.touch();
    return port;
  }

  /**
   * OVS gives a bridge's internal (LOCAL) port the smallest MTU of the
   * bridge's other non-internal ports (ofproto.c update_mtu_ofproto).
   */
  private updateLocalMtu(): void {
    if (!this.local) return;
    let min = Infinity;
    for (const p of this.ports) if (p.type !== "internal" && p.type !== "patch" && p.mtu < min) min = p.mtu;
    this.local.mtu = min === Infinity ? MTU_DEFAULT : min;
  }

  /** Records a change to tables, groups or ports. */
  touch(): void {
    this.version++;
    this.onChange();
  }

  private ordered: Port[] | null = null;

  /** Ports by ascending OpenFlow port number (LOCAL last): the order floods use. */
  portsInOrder(): Port[] {
    if (!this.ordered || this.ordered.length !== this.ports.length) this.ordered = [...this.ports].sort((a, b) => a.ofport - b.ofport);
    return this.ordered;
  }

  port(ofport: number): Port | undefined {
    return this.byOfport.get(ofport);
  }
}

/** All bridges of one datapath, and the datapath's port numbering. */
export class Switch {
  readonly bridges: Bridge[] = [];
  readonly byName = new Map<string, Bridge>();
  readonly dpPorts: Port[] = [];
  readonly portsByName = new Map<string, Port>();
  /** Bumped whenever any bridge changes: the datapath's generation for revalidation. */
  version = 0;
  /** Bumped whenever any bridge's MAC table changes an answer. */
  macVersion = 0;
  /** The datapath's meters (every bridge's meters, switch-wide ids, as OVS's backer has them). */
  readonly dpMeters = new DpMeters();
  /** Addresses, routes and neighbours native tunnels use (src/tunnel/underlay.ts). */
  readonly underlay = new Underlay();
  /** Tunnel ports by the datapath port (vport) they share: VXLAN per UDP port, GRE one. */
  readonly tunnelPorts = new Map<number, Port[]>();

  constructor(private readonly newTable: () => OfTable) {
    this.underlay.onChange = () => {
      this.version++;
    };
  }

  addBridge(name: string): Bridge {
    const b = new Bridge(name, this.newTable);
    b.dpMeters = this.dpMeters;
    b.onChange = () => {
      this.version++;
    };
    b.macs.onChange = () => {
      this.macVersion++;
    };
    this.bridges.push(b);
    this.byName.set(name, b);
    this.register(b.local);
    return b;
  }

  addPort(bridge: Bridge, cfg: PortConfig): Port {
    const p = bridge.addPort(cfg);
    this.register(p);
    return p;
  }

  private register(p: Port): void {
    this.portsByName.set(p.name, p);
    if (p.tunnel) {
      this.registerTunnel(p, p.tunnel);
      return;
    }
    // Patch ports never reach the datapath: translation crosses them.
    if (p.type !== "patch") {
      p.dpPort = this.dpPorts.length;
      this.dpPorts.push(p);
    }
  }

  /**
   * A tunnel port has no datapath port of its own: it shares its kind's
   * vport (OVS: `vxlan_sys_4789`, `gre_sys`), created with the first one.
   */
  private registerTunnel(p: Port, cfg: TunnelConfig): void {
    const name = vportName(cfg);
    let vport = this.vports.get(name);
    if (!vport) {
      vport = new Port(p.bridge, { name, ofport: 0, type: "vport" });
      vport.dpPort = this.dpPorts.length;
      this.dpPorts.push(vport);
      this.vports.set(name, vport);
      this.tunnelPorts.set(vport.dpPort, []);
    }
    p.dpPort = vport.dpPort;
    this.tunnelPorts.get(vport.dpPort)!.push(p);
  }

  /** Tunnel vports by name. */
  readonly vports = new Map<string, Port>();

  /** Joins patch ports with their peers; returns the names of patches without one. */
  linkPatches(): string[] {
    const missing: string[] = [];
    for (const b of this.bridges) {
      for (const p of b.ports) {
        if (p.type !== "patch") continue;
        const peer = p.peerName ? this.portsByName.get(p.peerName) : undefined;
        if (!peer || peer.type !== "patch" || peer.peerName !== p.name) missing.push(p.name);
        else p.peer = peer;
      }
    }
    return missing;
  }

  /** Name of a datapath port, for datapath actions printed with names. */
  dpPortName(dpPort: number): string | undefined {
    return this.dpPorts[dpPort]?.name;
  }
}
