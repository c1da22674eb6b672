/**
 * Tests of the native addon and LivePort. The live-port tests need root,
 * /dev/net/tun, iproute2 and the built addon; without them they are skipped
 * with the reason, except under CI=true, where a missing prerequisite fails.
 * Every interface and namespace they create is named after this process
 * (fpt<pid>…, fp-test-<pid>-…) and removed in finally/afterAll; traffic is
 * only sent inside namespaces created here (a tap is moved into one before
 * it carries any).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { FlowplaneError } from "../errors.js";
import {
  LivePort,
  PORT_KIND_AFPACKET,
  SlotBatch,
  afpacketOpen,
  closeFd,
  loadNative,
  nativeAddonPath,
  setNativeAddonPath,
  tapDelete,
  tapOpen,
} from "./native.js";

const IN_CI = process.env.CI === "true";
const PACKAGE_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const NATIVE_MODULE_URL = new URL("./native.ts", import.meta.url).href;
/** Short enough that `fpt<ID>x` stays within IFNAMSIZ - 1 = 15 bytes. */
const ID = process.pid % 100000;
const NETNS_PREFIX = `fp-test-${process.pid}`;

/** An fd number no process has: far above any RLIMIT_NOFILE. */
const FD_NEVER_OPEN = 1 << 30;

function addonMissing(): string {
  try {
    loadNative();
    return "";
  } catch (error) {
    return (error as Error).message;
  }
}

function liveMissing(): string {
  if (process.platform !== "linux") return `not Linux (${process.platform})`;
  if (process.getuid?.() !== 0) return "not running as root";
  if (!existsSync("/dev/net/tun")) return "/dev/net/tun is missing";
  const probe = spawnSync("ip", ["-V"]);
  if (probe.error !== undefined || probe.status !== 0) return "iproute2's `ip` command is missing";
  return addonMissing();
}

/** Registers the block's tests only when `missing` is empty; otherwise a
 * skipped test naming the reason, or under CI=true a failing one. */
function prerequisitesMet(title: string, missing: string): boolean {
  if (missing === "") return true;
  if (IN_CI) {
    it(`${title}: has its prerequisites (CI=true turns a skip into a failure)`, () => {
      throw new Error(`${title} cannot run: ${missing}`);
    });
  } else {
    console.warn(`flowplane: skipping ${title}: ${missing}`);
    it.skip(`${title} (skipped: ${missing})`, () => {});
  }
  return false;
}

function ip(...args: string[]): string {
  const run = spawnSync("ip", args, { encoding: "utf8" });
  if (run.error !== undefined) throw run.error;
  if (run.status !== 0) throw new Error(`ip ${args.join(" ")}: ${run.stderr.trim()}`);
  return run.stdout;
}

function linkExists(name: string, netns = ""): boolean {
  const args = netns === "" ? ["link", "show", "dev", name] : ["-n", netns, "link", "show", "dev", name];
  return spawnSync("ip", args, { stdio: "ignore" }).status === 0;
}

function netnsAdd(suffix: string): string {
  const name = `${NETNS_PREFIX}-${suffix}`;
  ip("netns", "add", name);
  // No IPv6 chatter (router solicitations, MLD, DAD) among the test frames.
  const sysctl = spawnSync("ip", [
    "netns", "exec", name, "sysctl", "-qw",
    "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1",
  ]);
  if (sysctl.status !== 0) console.warn(`flowplane: could not disable IPv6 in ${name}`);
  return name;
}

function netnsDelete(name: string): void {
  spawnSync("ip", ["netns", "del", name], { stdio: "ignore" });
}

/** Frame bytes from hex pieces ("ff:ff:…" or "88b5") and a size to pad to. */
function frame(size: number, ...pieces: string[]): Uint8Array {
  const head = Buffer.from(pieces.join("").replace(/[^0-9a-f]/gi, ""), "hex");
  const bytes = new Uint8Array(Math.max(size, head.length));
  bytes.set(head, 0);
  return bytes;
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");
const read16 = (b: Uint8Array, at: number): number => (b[at] << 8) | b[at + 1];

/** Copies every frame a port receives (through onReadable) and hands them
 * to whoever waits for one that matches. */
class FrameCollector {
  private readonly frames: Uint8Array[] = [];
  private readonly waiters: Array<{ match: (f: Uint8Array) => boolean; resolve: (f: Uint8Array) => void }> = [];

  constructor(port: LivePort, batch: SlotBatch) {
    port.onReadable(() => {
      while (port.recv(batch) > 0) {
        for (let i = 0; i < batch.count; i++) {
          this.frames.push(batch.buffer.slice(batch.offsets[i], batch.offsets[i] + batch.lengths[i]));
        }
      }
      this.settle();
    });
  }

  next(what: string, match: (f: Uint8Array) => boolean, timeoutMs = 5000): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${what} within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({
        match,
        resolve: (f) => {
          clearTimeout(timer);
          resolve(f);
        },
      });
      this.settle();
    });
  }

  private settle(): void {
    for (let w = 0; w < this.waiters.length; w++) {
      const index = this.frames.findIndex(this.waiters[w].match);
      if (index === -1) continue;
      const [found] = this.frames.splice(index, 1);
      const [waiter] = this.waiters.splice(w--, 1);
      waiter.resolve(found);
    }
  }
}

describe("native addon loader", () => {
  it("throws FP_ERR_NATIVE_MISSING naming the build command when the addon is absent", () => {
    setNativeAddonPath("/nonexistent/flowplane/native/flowplane.node");
    try {
      let caught: unknown;
      try {
        loadNative();
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(FlowplaneError);
      expect((caught as FlowplaneError).code).toBe("FP_ERR_NATIVE_MISSING");
      expect((caught as Error).message).toContain("/nonexistent/flowplane/native/flowplane.node");
      expect((caught as Error).message).toContain("npm run build:native");
      expect(() => LivePort.openTap("fpunused0")).toThrow(expect.objectContaining({ code: "FP_ERR_NATIVE_MISSING" }));
    } finally {
      setNativeAddonPath(undefined);
    }
  });

  it("resolves the addon to native/flowplane.node at the package root", () => {
    expect(nativeAddonPath()).toBe(`${PACKAGE_ROOT}native/flowplane.node`);
  });
});

describe("native addon arguments", () => {
  if (!prerequisitesMet("native addon argument tests", addonMissing())) return;
  const native = loadNative();

  it("rejects a batch whose slots do not fit the buffer with ERR_OUT_OF_RANGE", () => {
    const call = () => native.recvBatch(0, PORT_KIND_AFPACKET, new Uint8Array(4096), 2048, 3, new Uint32Array(3));
    expect(call).toThrow(RangeError);
    expect(call).toThrow(expect.objectContaining({ code: "ERR_OUT_OF_RANGE" }));
    const lengthsShort = () => native.recvBatch(0, PORT_KIND_AFPACKET, new Uint8Array(8192), 2048, 4, new Uint32Array(3));
    expect(lengthsShort).toThrow(/framesMax 4 exceeds lengths.length 3/);
  });

  it("rejects a frame outside the buffer and a wrongly typed array", () => {
    const buffer = new Uint8Array(100);
    const outside = () => native.sendBatch(0, 1, buffer, new Uint32Array([90]), new Uint32Array([20]), 1);
    expect(outside).toThrow(/frame 0: offset 90 \+ length 20 exceeds the buffer's 100 bytes/);
    const wrongType = () =>
      native.sendBatch(0, 1, buffer, new Int32Array([0]) as unknown as Uint32Array, new Uint32Array([10]), 1);
    expect(wrongType).toThrow(expect.objectContaining({ code: "ERR_INVALID_ARG_TYPE" }));
    const badKind = () => native.recvBatch(0, 7, buffer, 10, 1, new Uint32Array(1));
    expect(badKind).toThrow(/kind must be an integer in \[0, 1\]/);
  });

  it("rejects malformed interface names and MAC addresses before any system call", () => {
    expect(() => tapOpen("fp/bad")).toThrow(expect.objectContaining({ code: "ERR_INVALID_ARG_VALUE" }));
    expect(() => tapOpen("a-name-far-too-long")).toThrow(/interface name must be 1 to 15 bytes/);
    expect(() => tapOpen("fpunused0", { mac: "02:00:00:00:00" })).toThrow(/options.mac must look like/);
    expect(() => tapOpen("fpunused0", { mtu: 20 })).toThrow(RangeError);
  });

  it("reports EBADF with the errno name, number and failing step", () => {
    let caught: unknown;
    try {
      closeFd(FD_NEVER_OPEN);
    } catch (error) {
      caught = error;
    }
    expect(caught).toMatchObject({ code: "EBADF", errno: 9, syscall: "close" });
    expect((caught as Error).message).toBe(`close(fd ${FD_NEVER_OPEN}): close: EBADF (Bad file descriptor)`);
    expect(() => native.waitReadable(new Int32Array([FD_NEVER_OPEN]), 0)).toThrow(
      expect.objectContaining({ code: "EBADF" }),
    );
  });

  it("waitReadable returns 0 at the timeout and watches at most 32 fds", () => {
    expect(native.waitReadable(new Int32Array([-1]), 10)).toBe(0);
    expect(() => native.waitReadable(new Int32Array(33), 0)).toThrow(RangeError);
  });
});

describe("live ports", () => {
  if (!prerequisitesMet("live port tests (root, /dev/net/tun, iproute2, built addon)", liveMissing())) return;

  const netnsCreated: string[] = [];
  const tapsCreated: string[] = [];
  afterAll(() => {
    for (const name of netnsCreated) netnsDelete(name);
    for (const name of tapsCreated) if (linkExists(name)) spawnSync("ip", ["link", "del", name], { stdio: "ignore" });
  });

  it("creates a tap with the MTU and MAC asked for, up, and removes it on close", async () => {
    const name = `fpt${ID}a`;
    tapsCreated.push(name);
    const port = LivePort.openTap(name, { mtu: 1400, mac: "02:f1:0e:00:00:0a" });
    try {
      const [link] = JSON.parse(ip("-j", "link", "show", "dev", name)) as Array<{
        mtu: number;
        address: string;
        flags: string[];
      }>;
      expect(link.mtu).toBe(1400);
      expect(link.address).toBe("02:f1:0e:00:00:0a");
      expect(link.flags).toContain("UP");
    } finally {
      await port.close();
    }
    expect(linkExists(name)).toBe(false);
  });

  it("refuses a tap that is already open with EBUSY", () => {
    const name = `fpt${ID}b`;
    tapsCreated.push(name);
    const fd = tapOpen(name);
    try {
      let caught: unknown;
      try {
        tapOpen(name);
      } catch (error) {
        caught = error;
      }
      expect(caught).toMatchObject({ code: "EBUSY", errno: 16, syscall: "TUNSETIFF" });
      expect((caught as Error).message).toMatch(
        new RegExp(`^tapOpen\\(${name}\\): TUNSETIFF: EBUSY \\(Device or resource busy\\)`),
      );
    } finally {
      closeFd(fd);
    }
  });

  it("refuses to turn a non-tap interface into a tap with EINVAL", () => {
    expect(() => tapOpen("lo")).toThrow(expect.objectContaining({ code: "EINVAL" }));
    expect(() => tapOpen("lo")).toThrow(/is not a tap/);
  });

  it("keeps a persistent tap after close, and tapDelete removes it", () => {
    const name = `fpt${ID}c`;
    tapsCreated.push(name);
    closeFd(tapOpen(name, { persist: true }));
    expect(linkExists(name)).toBe(true);
    tapDelete(name);
    expect(linkExists(name)).toBe(false);
    expect(() => tapDelete(name)).toThrow(expect.objectContaining({ code: "ENODEV" }));
  });

  it("reports ENODEV for an AF_PACKET socket on a missing interface", () => {
    let caught: unknown;
    try {
      afpacketOpen("doesnotexist0");
    } catch (error) {
      caught = error;
    }
    expect(caught).toMatchObject({ code: "ENODEV", syscall: "if_nametoindex" });
    expect((caught as Error).message).toBe("afpacketOpen(doesnotexist0): if_nametoindex: ENODEV (No such device)");
  });

  it("carries ARP and UDP between a tap and the kernel of a namespace", async () => {
    const name = `fpt${ID}d`;
    const tapMac = "02f10e00000d";
    const peerMac = "02f10e0000fe"; // the host this test plays, behind the tap
    tapsCreated.push(name);
    const netns = netnsAdd("tap");
    netnsCreated.push(netns);
    const port = LivePort.openTap(name, { mac: "02:f1:0e:00:00:0d" });
    let sender: ChildProcess | null = null;
    try {
      ip("link", "set", "dev", name, "netns", netns);
      ip("-n", netns, "addr", "add", "10.211.0.1/24", "dev", name);
      ip("-n", netns, "link", "set", "dev", name, "up");
      const collector = new FrameCollector(port, new SlotBatch());

      // The namespace sends a datagram to 10.211.0.2: its kernel first asks
      // for 10.211.0.2's MAC, out through the tap to us.
      sender = spawn(
        "ip",
        ["netns", "exec", netns, process.execPath, "-e",
          "const s = require('node:dgram').createSocket('udp4');" +
          "s.send('flowplane-udp', 9999, '10.211.0.2', () => setTimeout(() => s.close(), 4000));"],
        { stdio: "ignore" },
      );
      const request = await collector.next("ARP request for 10.211.0.2", (f) =>
        read16(f, 12) === 0x0806 && read16(f, 20) === 1 && hex(f.subarray(38, 42)) === "0ad30002");
      expect(hex(request.subarray(0, 12))).toBe(`ffffffffffff${tapMac}`);
      expect(hex(request.subarray(22, 32))).toBe(`${tapMac}0ad30001`); // sender MAC and IP

      // Our ARP reply, written into the tap, lets the kernel release the datagram.
      const reply = frame(60, tapMac, peerMac, "0806", "0001 0800 06 04 0002", peerMac, "0ad30002", tapMac, "0ad30001");
      const tx = new SlotBatch();
      tx.buffer.set(reply, 0);
      tx.lengths[0] = reply.length;
      tx.count = 1;
      expect(port.send(tx)).toBe(1);
      expect(port.txCount).toBe(1);

      const udp = await collector.next("UDP datagram to 10.211.0.2:9999", (f) =>
        read16(f, 12) === 0x0800 && f[23] === 17 && read16(f, 36) === 9999);
      expect(hex(udp.subarray(0, 12))).toBe(`${peerMac}${tapMac}`);
      expect(Buffer.from(udp.subarray(42, 42 + 13)).toString()).toBe("flowplane-udp");
      const neighbours = JSON.parse(ip("-n", netns, "-j", "neigh", "show", "dev", name)) as Array<{
        dst: string;
        lladdr?: string;
      }>;
      expect(neighbours).toContainEqual(expect.objectContaining({ dst: "10.211.0.2", lladdr: "02:f1:0e:00:00:fe" }));
      expect(port.rxErrorCount + port.txErrorCount + port.txDropCount).toBe(0);
    } finally {
      sender?.kill();
      await port.close();
      netnsDelete(netns);
    }
    expect(linkExists(name)).toBe(false);
  });

  it("moves crafted frames, VLAN tags included, byte for byte across a veth pair", () => {
    const netns = netnsAdd("veth");
    netnsCreated.push(netns);
    try {
      ip("-n", netns, "link", "add", "fpa", "type", "veth", "peer", "name", "fpb");
      ip("-n", netns, "link", "set", "dev", "fpa", "up");
      ip("-n", netns, "link", "set", "dev", "fpb", "up");

      // 40 frames: more than one receive batch; small, full-size, tagged.
      const frames: Uint8Array[] = [];
      for (let i = 0; i < 40; i++) {
        const source = `02f10e0000${i.toString(16).padStart(2, "0")}`;
        let f: Uint8Array;
        if (i === 1) f = frame(64, "ffffffffffff", source, "8100 2005", "88b5", "01");
        else if (i === 2) f = frame(68, "02f10e0000ff", source, "88a8 0064 8100 00c8", "88b5", "02");
        else if (i % 8 === 3) f = frame(1514, "02f10e0000ff", source, "88b5");
        else f = frame(60 + i * 7, "ffffffffffff", source, "88b5");
        for (let at = 24; at < f.length; at++) f[at] = (i * 31 + at) & 0xff; // past every header
        frames.push(f);
      }
      // The receiving end runs inside the namespace: a child process there
      // drives LivePort (through tsx) and reports what it saw as JSON.
      const run = spawnSync(
        "ip",
        ["netns", "exec", netns, process.execPath, "--import", "tsx", "--input-type=module", "-e", VETH_CHILD],
        {
          cwd: PACKAGE_ROOT,
          encoding: "utf8",
          timeout: 30_000,
          env: { ...process.env, FP_FRAMES: JSON.stringify(frames.map(hex)), FP_NATIVE_URL: NATIVE_MODULE_URL },
        },
      );
      expect(run.status, `child failed: ${run.stderr}`).toBe(0);
      const result = JSON.parse(run.stdout.trim().split("\n").pop() ?? "{}") as VethResult;

      expect(result.emptyTaken).toBe(0);
      expect(result.sent).toBe(frames.length);
      expect(result.received).toEqual(frames.map(hex));
      expect(result.echoTaken).toBe(0);
      const fitting = frames.filter((f) => f.length <= 256).map((f) => f.length);
      expect(result.smallLengths).toEqual(fitting);
      expect(result.smallTooLong).toBe(frames.length - fitting.length);
      expect(result.smallRingLengths).toEqual(fitting);
      expect(result.smallRingTooLong).toBe(frames.length - fitting.length);
      expect(result.rxErrorCount + result.txDropCount + result.txErrorCount).toBe(0);
      // The watcher Worker sleeps in poll(2): an idle port costs next to no CPU.
      expect(result.idleCpuMs).toBeLessThan(150);
    } finally {
      netnsDelete(netns);
    }
    expect(spawnSync("ip", ["netns", "pids", netns], { stdio: "ignore" }).status).not.toBe(0);
  });

  it.each([true, false])("queues 1000 full-size frames for an AF_PACKET port that is not reading (ring %s)", (ring) => {
    // The default receive queue (net.core.rmem_default, 208 KiB) holds about
    // 80 such frames; the receive ring holds 2048, and without it
    // afpacketOpen deepens the queue, so a switch kept off the CPU for a
    // while finds them all when it comes back.
    const netns = netnsAdd(`queue${ring ? 1 : 0}`);
    netnsCreated.push(netns);
    try {
      ip("-n", netns, "link", "add", "fpa", "type", "veth", "peer", "name", "fpb");
      ip("-n", netns, "link", "set", "dev", "fpa", "up");
      ip("-n", netns, "link", "set", "dev", "fpb", "up");
      const run = spawnSync(
        "ip",
        ["netns", "exec", netns, process.execPath, "--import", "tsx", "--input-type=module", "-e", QUEUE_CHILD],
        { cwd: PACKAGE_ROOT, encoding: "utf8", timeout: 30_000, env: { ...process.env, FP_NATIVE_URL: NATIVE_MODULE_URL, FP_RING: String(ring) } },
      );
      expect(run.status, `child failed: ${run.stderr}`).toBe(0);
      const result = JSON.parse(run.stdout.trim().split("\n").pop() ?? "{}") as { sent: number; received: number };
      expect(result.sent).toBe(QUEUE_FRAMES);
      expect(result.received).toBe(QUEUE_FRAMES);
    } finally {
      netnsDelete(netns);
    }
  });
});

const QUEUE_FRAMES = 1000;

/** Runs inside its namespace: sends QUEUE_FRAMES 1514-byte frames from fpb
 * while nobody reads fpa, then counts what fpa's socket kept. */
const QUEUE_CHILD = `
const { LivePort, SlotBatch } = await import(process.env.FP_NATIVE_URL);
const rxPort = LivePort.openAfPacket("fpa", { ring: process.env.FP_RING === "true" });
const txPort = LivePort.openAfPacket("fpb");
const tx = new SlotBatch(2048, 50);
for (let i = 0; i < tx.length; i++) {
  const at = tx.offsets[i];
  tx.buffer.set([0x02, 0xf1, 0x0e, 0, 0, 0xff, 0x02, 0xf1, 0x0e, 0, 0, 0x01, 0x88, 0xb5], at);
  tx.lengths[i] = 1514;
}
tx.count = tx.length;
let sent = 0;
for (let round = 0; round < ${QUEUE_FRAMES} / tx.length; round++) sent += txPort.send(tx);
const rx = new SlotBatch(2048, 32);
let received = 0;
while (rxPort.recv(rx) > 0) {
  for (let i = 0; i < rx.count; i++) if (rx.buffer[rx.offsets[i] + 6] === 0x02 && rx.buffer[rx.offsets[i] + 7] === 0xf1) received++;
}
await Promise.all([rxPort.close(), txPort.close()]);
console.log(JSON.stringify({ sent, received }));
`;

interface VethResult {
  emptyTaken: number;
  sent: number;
  received: string[];
  echoTaken: number;
  smallLengths: number[];
  smallTooLong: number;
  smallRingLengths: number[];
  smallRingTooLong: number;
  rxErrorCount: number;
  txDropCount: number;
  txErrorCount: number;
  idleCpuMs: number;
}

/** Runs inside the veth namespace: sends FP_FRAMES from fpb, receives them
 * on fpa through onReadable, and again on a second fpa socket whose slots
 * (256 bytes) are too small for some; a second fpb socket must see none of
 * them (they are outgoing there). Our frames' source MACs start 02f10e. */
const VETH_CHILD = `
const { LivePort, SlotBatch } = await import(process.env.FP_NATIVE_URL);
const frames = JSON.parse(process.env.FP_FRAMES).map((h) => Uint8Array.from(Buffer.from(h, "hex")));
const ours = (b, at) => b[at + 6] === 0x02 && b[at + 7] === 0xf1 && b[at + 8] === 0x0e;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const rxPort = LivePort.openAfPacket("fpa");
const txPort = LivePort.openAfPacket("fpb");
// Without a receive ring: the recvmmsg path gets the same frames.
const smallPort = LivePort.openAfPacket("fpa", { ring: false });
const smallRingPort = LivePort.openAfPacket("fpa");
// Sees what leaves through fpb (txPort's frames) only if outgoing frames
// were not ignored: a socket never sees its own, so this takes a second one.
const echoPort = LivePort.openAfPacket("fpb");
const rx = new SlotBatch(2048, 32);
const result = { emptyTaken: rxPort.recv(rx), received: [], smallLengths: [] };
let done;
const allReceived = new Promise((resolve) => (done = resolve));
rxPort.onReadable(() => {
  while (rxPort.recv(rx) > 0) {
    for (let i = 0; i < rx.count; i++) {
      if (ours(rx.buffer, rx.offsets[i])) {
        result.received.push(Buffer.from(rx.buffer.subarray(rx.offsets[i], rx.offsets[i] + rx.lengths[i])).toString("hex"));
      }
    }
  }
  if (result.received.length >= frames.length) done();
});
const cpuBefore = process.cpuUsage();
await sleep(500);
const cpu = process.cpuUsage(cpuBefore);
result.idleCpuMs = (cpu.user + cpu.system) / 1000;
const tx = new SlotBatch(2048, 64);
frames.forEach((f, i) => { tx.buffer.set(f, tx.offsets[i]); tx.lengths[i] = f.length; });
tx.count = frames.length;
result.sent = txPort.send(tx);
// An unref'd timeout, so that it does not hold the process open afterwards.
await Promise.race([allReceived, new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
const small = new SlotBatch(256, 32);
while (smallPort.recv(small) > 0) {
  for (let i = 0; i < small.count; i++) if (ours(small.buffer, small.offsets[i])) result.smallLengths.push(small.lengths[i]);
}
result.smallTooLong = smallPort.rxTooLongCount;
result.smallRingLengths = [];
while (smallRingPort.recv(small) > 0) {
  for (let i = 0; i < small.count; i++) if (ours(small.buffer, small.offsets[i])) result.smallRingLengths.push(small.lengths[i]);
}
result.smallRingTooLong = smallRingPort.rxTooLongCount;
result.echoTaken = echoPort.recv(rx) + txPort.recv(rx);
result.rxErrorCount = rxPort.rxErrorCount + smallPort.rxErrorCount + txPort.rxErrorCount + echoPort.rxErrorCount;
result.txDropCount = txPort.txDropCount;
result.txErrorCount = txPort.txErrorCount;
await Promise.all([rxPort.close(), txPort.close(), smallPort.close(), smallRingPort.close(), echoPort.close()]);
console.log(JSON.stringify(result));
`;
