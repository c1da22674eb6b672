/** Type shim for pcap-parser 0.2.1 (CommonJS, no bundled types): only what bench/pcap.bench.ts uses. */
declare module "pcap-parser" {
  import type { EventEmitter } from "node:events";
  import type { Readable } from "node:stream";

  export interface PacketHeader {
    timestampSeconds: number;
    timestampMicroseconds: number;
    capturedLength: number;
    originalLength: number;
  }

  export interface Packet {
    header: PacketHeader;
    data: Buffer;
  }

  /** Streams the file; emits 'globalHeader', 'packetHeader', 'packetData', 'packet', 'error', 'end'. */
  export function parse(input: string | Readable): EventEmitter;

  const pcapParser: { parse: typeof parse };
  export default pcapParser;
}
