/**
 * Control-plane errors. Every error a user can cause (bad flow text, a bad
 * capture, a missing interface) is a FlowplaneError with a stable `code`, so
 * scripts can tell them apart and the CLI can print one clear line instead of
 * a stack trace (undici's UND_ERR_* convention). Errors that are our bugs stay
 * plain Errors (assertion failures).
 */
export class FlowplaneError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = "FlowplaneError";
    this.code = code;
  }
}

/** A capture file that cannot be read: names the file and the byte offset. */
export class PcapFormatError extends FlowplaneError {
  readonly file: string;
  readonly offset: number;
  constructor(file: string, offset: number, reason: string) {
    super("FP_ERR_PCAP_FORMAT", `${file}: offset ${offset}: ${reason}`);
    this.name = "PcapFormatError";
    this.file = file;
    this.offset = offset;
  }
}

/** Bad command-line usage: the CLI prints the message and exits with 2. */
export class UsageError extends FlowplaneError {
  constructor(message: string) {
    super("FP_ERR_USAGE", message);
    this.name = "UsageError";
  }
}

/** Fails loudly on a broken invariant: our bug, never bad input. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}
