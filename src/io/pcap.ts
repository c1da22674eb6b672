/**
 * Capture files: the classic pcap writer and the zero-copy pcap/pcapng reader.
 * Import from here; the two halves live in pcap-write.ts and pcap-read.ts.
 */
export * from "./pcap-write.js";
export * from "./pcap-read.js";
