/**
 * Attaching a topology's ports to the world for `flowplane run`: a tap
 * flowplane creates (or an idle persistent one it attaches to), an AF_PACKET
 * socket on an existing interface, a capture replayed once, a capture
 * written. Plain, internal and patch ports attach to nothing.
 *
 * Invariant: a port that fails to open leaves nothing behind: the caller
 * closes the ports opened before it, and every failure is one
 * FlowplaneError naming the port, the device and what to do.
 * Limits: frames longer than the port's slot (the MTU plus Ethernet and two
 * VLAN headers, at least SLOT_SIZE_DEFAULT) are dropped on receive.
 */
import { existsSync } from "node:fs";
import { FlowplaneError } from "../errors.js";
import { LivePort, SlotBatch, SLOT_SIZE_DEFAULT, isNativeSystemError, tapDelete } from "../io/native.js";
import { PcapWriter, readCapture, type Capture } from "../io/pcap.js";
import type { Port } from "../ofproto/bridge.js";

/** Ethernet header plus two VLAN tags: what a frame carries beyond the MTU. */
export const FRAME_OVERHEAD_SIZE = 14 + 8;

/** The slot size for frames of a port with this MTU: a power of two. */
export function slotSizeFor(mtu: number): number {
  let size = SLOT_SIZE_DEFAULT;
  while (size < mtu + FRAME_OVERHEAD_SIZE) size *= 2;
  return size;
}

/** A port of the topology and what it is attached to. */
export interface Attachment {
  port: Port;
  /** The interface name (tap, afpacket), capture path (pcap-*), or "". */
  device: string;
  live: LivePort | null;
  /** True when flowplane created the tap (and must remove it on exit). */
  createdTap: boolean;
  capture: Capture | null;
  writer: PcapWriter | null;
}

const WHY: Record<string, string> = {
  EPERM: "operation not permitted (flowplane run needs root or CAP_NET_ADMIN)",
  EACCES: "permission denied (flowplane run needs root or CAP_NET_ADMIN)",
  EBUSY: "the name is in use by another process",
  ENODEV: "no such network interface",
  ENXIO: "no such network interface",
  EINVAL: "the name is taken by an interface that is not a tap",
  ENOENT: "no such file or directory (is /dev/net/tun there?)",
};

function explain(error: unknown): string {
  if (isNativeSystemError(error)) return `${WHY[error.code] ?? error.message} (${error.code})`;
  if (error instanceof FlowplaneError) throw error;
  const e = error as NodeJS.ErrnoException;
  if (e && typeof e.code === "string") return `${WHY[e.code] ?? e.message} (${e.code})`;
  throw error;
}

/** Opens what port `port` stands for; throws a FlowplaneError naming it. */
export function attachPort(port: Port): Attachment {
  const a: Attachment = { port, device: "", live: null, createdTap: false, capture: null, writer: null };
  switch (port.type) {
    case "tap": {
      const device = port.options.device ?? port.name;
      a.device = device;
      const existed = existsSync(`/sys/class/net/${device}`);
      try {
        a.live = LivePort.openTap(device, { mtu: port.mtu });
      } catch (error) {
        throw new FlowplaneError("FP_ERR_PORT_OPEN", `port ${port.name}: cannot open tap "${device}": ${explain(error)}`);
      }
      a.createdTap = !existed;
      return a;
    }
    case "afpacket": {
      const device = port.options.device;
      if (device === undefined) {
        throw new FlowplaneError("FP_ERR_PORT_OPEN", `port ${port.name}: an afpacket port needs options.device, the interface to attach to`);
      }
      a.device = device;
      if (!existsSync(`/sys/class/net/${device}`)) {
        throw new FlowplaneError("FP_ERR_PORT_OPEN", `port ${port.name}: no network interface "${device}" (options.device of an afpacket port must name an existing interface)`);
      }
      try {
        a.live = LivePort.openAfPacket(device);
      } catch (error) {
        throw new FlowplaneError("FP_ERR_PORT_OPEN", `port ${port.name}: cannot open AF_PACKET socket on "${device}": ${explain(error)}`);
      }
      return a;
    }
    case "pcap-in":
    case "pcap-out": {
      const file = port.options.file;
      if (file === undefined) throw new FlowplaneError("FP_ERR_PORT_OPEN", `port ${port.name}: a ${port.type} port needs options.file`);
      a.device = file;
      try {
        if (port.type === "pcap-in") a.capture = readCapture(file);
        else a.writer = new PcapWriter(file);
      } catch (error) {
        if (error instanceof FlowplaneError) throw new FlowplaneError(error.code, `port ${port.name}: ${error.message}`);
        throw new FlowplaneError("FP_ERR_PORT_OPEN", `port ${port.name}: ${file}: ${explain(error)}`);
      }
      return a;
    }
    default:
      return a;
  }
}

/** Closes what attachPort opened; removes a tap flowplane created that survived its fd. */
export async function detachPort(a: Attachment): Promise<void> {
  if (a.live !== null) {
    await a.live.close();
    a.live = null;
    if (a.createdTap && existsSync(`/sys/class/net/${a.device}`)) {
      try {
        tapDelete(a.device);
      } catch {
        // Gone already, or someone else holds it now: nothing of ours is left to remove.
      }
    }
  }
  if (a.writer !== null) {
    a.writer.close();
    a.writer = null;
  }
}

/** A receive batch sized for the port's MTU. */
export function rxBatchFor(port: Port): SlotBatch {
  return new SlotBatch(slotSizeFor(port.mtu));
}
