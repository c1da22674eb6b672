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

/** Runs `parse` with a TextError turned into a FlowSyntaxError naming the file, line and column. */
export function withPlace<T>(fileName: string, lineNumber: number, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    if (e instanceof TextError) throw new FlowSyntaxError(fileName, lineNumber, e.at + 1, e.token, e.message);
    throw e;
  }
}

/**
 * The lines of an ovs-ofctl file that hold something: `#` starts a comment,
 * blank lines are skipped; each comes with its 1-based line number.
 */
export function contentLines(fileText: string): { line: string; number: number }[] {
  const out: { line: string; number: number }[] = [];
  const lines = fileText.split("\n");
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i];
    const hash = line.indexOf("#");
    if (hash >= 0) line = line.slice(0, hash);
    if (line.replace(/[ \t\r\n]/g, "") !== "") out.push({ line, number: i + 1 });
  }
  return out;
}

/**
 * Walks the lines of an ovs-ofctl file that hold something, as contentLines
 * does, without an array of lines: next() moves to the next such line and
 * returns it (the text before any `#`), or null at the end; `number` is its
 * 1-based line number.
 */
export class ContentLineCursor {
  number: number;
  private readonly text: string;
  private start: number;
  /** The next '#' at or after `start`, or -1 when there is none. */
  private hashAt: number;

  constructor(text: string) {
    this.text = text;
    this.number = 0;
    this.start = 0;
    this.hashAt = text.indexOf("#");
  }

  next(): string | null {
    const text = this.text;
    while (this.start <= text.length) {
      const start = this.start;
      let end = text.indexOf("\n", start);
      if (end < 0) end = text.length;
      this.start = end + 1;
      this.number++;
      if (this.hashAt >= 0 && this.hashAt < start) this.hashAt = text.indexOf("#", start);
      if (this.hashAt >= 0 && this.hashAt < end) end = this.hashAt;
      for (let i = start; i < end; i++) {
        const c = text.charCodeAt(i);
        if (c !== 32 && c !== 9 && c !== 13 && c !== 10) return text.slice(start, end);
      }
    }
    return null;
  }
}
