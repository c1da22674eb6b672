/**
 * Errors of the ovs-ofctl syntax: a flow, action or group text that cannot
 * be parsed. The message names the place first, then the reason in Open
 * vSwitch's own words where it has them, e.g.
 *   flows.txt:12:18: unknown keyword nw_srcx
 * so a person can go straight to the token (style.md "Bad input").
 */
import { FlowplaneError } from "../errors.js";

/** Where a text came from; both parts optional. */
export interface SourcePlace {
  fileName?: string;
  lineNumber?: number;
}

export class FlowSyntaxError extends FlowplaneError {
  /** File name, or "" when the text did not come from a file. */
  readonly file: string;
  /** 1-based line number. */
  readonly line: number;
  /** 1-based column of the offending token within the line. */
  readonly column: number;
  /** The offending token (may be "" when the problem is a missing part). */
  readonly token: string;
  /** The reason alone, without the place. */
  readonly reason: string;
  constructor(file: string, line: number, column: number, token: string, reason: string) {
    super("FP_ERR_FLOW_SYNTAX", `${file === "" ? "<input>" : file}:${line}:${column}: ${reason}`);
    this.name = "FlowSyntaxError";
    this.file = file;
    this.line = line;
    this.column = column;
    this.token = token;
    this.reason = reason;
  }
}

/**
 * A syntax problem found while parsing one piece of text, before the place
 * is known: `at` is the offset of the token in the text being parsed.
 * parseFlow turns it into a FlowSyntaxError with file, line and column.
 */
export class TextError extends Error {
  readonly at: number;
  readonly token: string;
  constructor(at: number, token: string, reason: string) {
    super(reason);
    this.name = "TextError";
    this.at = at;
    this.token = token;
  }
}
