/**
 * Meters in ovs-ofctl syntax (ovs-ofctl(8) "Meter Syntax"): the argument of
 * `add-meter`, `mod-meter`, `del-meters` and `dump-meters`, and the text
 * `dump-meters` prints, following Open vSwitch's parse_ofp_meter_mod_str
 * and ofputil_format_meter_config (lib/ofp-meter.c):
 *
 *   meter=1,kbps,burst,stats,bands=type=drop,rate=100,burst_size=20
 *   meter=1 kbps burst stats bands=
 *   type=drop rate=100 burst_size=20
 *
 * Parsing works as OVS's strtok_r loop does, so the same texts are accepted
 * and refused with the same messages: the first "band" splits the text, a
 * keyword is followed by its value (`=`, `,` or blanks between), and a band
 * starts with `type=`.
 * Invariants: see src/openflow/meter.ts; a parsed add/modify meter satisfies
 * them except that kbps and pktps may both be set (the switch refuses that
 * with OFPMMFC_BAD_FLAGS, as OVS decodes the message).
 */
import {
  OFPMF13_KBPS,
  OFPMF13_PKTPS,
  OFPMF13_BURST,
  OFPMF13_STATS,
  OFPMBT13_DROP,
  OFPMBT13_DSCP_REMARK,
  OFPM13_MAX,
  OFPM13_SLOWPATH,
  OFPM13_CONTROLLER,
  OFPM13_ALL,
  type Meter,
  type MeterBand,
} from "../openflow/meter.js";
import { TextError, withPlace, contentLines } from "./errors.js";
import { strToU32, strToU8 } from "./lex.js";

/** What the text is for: the fields it may carry follow (parse_ofp_meter_mod_str's command). */
export type MeterCommand = "add" | "modify" | "delete" | "dump";

export interface ParseMeterOptions {
  fileName?: string;
  lineNumber?: number;
}

const NAME_DELIMS = "=, \t\r\n";
const VALUE_DELIMS = ", \t\r\n";

/** strtok_r over a string, keeping each token's offset for error places. */
class Tokens {
  private at: number;
  constructor(
    private readonly text: string,
    start: number,
    private readonly end: number,
  ) {
    this.at = start;
  }
  /** The next token ending at one of `delims` (which it consumes), or null at the end. */
  next(delims: string): { value: string; at: number } | null {
    let i = this.at;
    while (i < this.end && delims.includes(this.text[i])) i++;
    if (i >= this.end) {
      this.at = i;
      return null;
    }
    const from = i;
    while (i < this.end && !delims.includes(this.text[i])) i++;
    this.at = i < this.end ? i + 1 : i;
    return { value: this.text.slice(from, i), at: from };
  }
}

/** Parses one meter text for `command`. Throws FlowSyntaxError with OVS's message. */
export function parseMeter(text: string, command: MeterCommand, opts: ParseMeterOptions = {}): Meter {
  return withPlace(opts.fileName ?? "", opts.lineNumber ?? 1, () => parseMeterText(text, command));
}

/** Parses a meters file (one add-meter text per line, `#` comments); the first bad line throws. */
export function parseMeters(fileText: string, fileName = ""): Meter[] {
  return contentLines(fileText).map(({ line, number }) => parseMeter(line, "add", { fileName, lineNumber: number }));
}

/**
 * The meter a del-meters or dump-meters argument selects: OFPM13_ALL when
 * absent (ovs-ofctl sends OFPM13_ALL then) or `meter=all`.
 */
export function parseMeterSelection(text: string, command: "delete" | "dump", opts: ParseMeterOptions = {}): number {
  if (text.trim() === "") return OFPM13_ALL;
  return parseMeter(text, command, opts).meterId;
}

function parseMeterText(text: string, command: MeterCommand): Meter {
  const withBands = command === "add" || command === "modify";
  const withFlags = withBands;
  let headEnd = text.length;
  let bandsAt = -1;
  if (withBands) {
    const band = text.indexOf("band");
    if (band < 0) throw new TextError(0, text, "must specify bands");
    headEnd = band;
    const eq = text.indexOf("=", band + 1);
    if (eq < 0) throw new TextError(band, "band", "must specify bands");
    bandsAt = eq + 1;
  }
  let meterId = 0;
  let flags = 0;
  const head = new Tokens(text, 0, headEnd);
  for (let name = head.next(NAME_DELIMS); name !== null; name = head.next(NAME_DELIMS)) {
    const n = name.value;
    if (withFlags && n === "kbps") flags |= OFPMF13_KBPS;
    else if (withFlags && n === "pktps") flags |= OFPMF13_PKTPS;
    else if (withFlags && n === "burst") flags |= OFPMF13_BURST;
    else if (withFlags && n === "stats") flags |= OFPMF13_STATS;
    else {
      const value = head.next(VALUE_DELIMS);
      if (value === null) throw new TextError(name.at, n, `field ${n} missing value`);
      if (n !== "meter") throw new TextError(name.at, n, `unknown keyword ${n}`);
      meterId = parseMeterId(value.value, value.at);
    }
  }
  if (meterId === 0) throw new TextError(0, text, "must specify 'meter'");
  if (withFlags && flags === 0) throw new TextError(0, text, "meter must specify either 'kbps' or 'pktps'");
  const bands = withBands ? parseBands(text, bandsAt, flags) : [];
  return { meterId, flags, bands };
}

function parseMeterId(value: string, at: number): number {
  if (value === "all") return OFPM13_ALL;
  if (value === "controller") return OFPM13_CONTROLLER;
  if (value === "slowpath") return OFPM13_SLOWPATH;
  const id = strToU32(value, at);
  if (id > OFPM13_MAX || id === 0) throw new TextError(at, value, "invalid value for meter");
  return id;
}

function parseBands(text: string, from: number, flags: number): MeterBand[] {
  const bands: MeterBand[] = [];
  let band: MeterBand | null = null;
  const toks = new Tokens(text, from, text.length);
  for (let name = toks.next(NAME_DELIMS); name !== null; name = toks.next(NAME_DELIMS)) {
    const n = name.value;
    const value = toks.next(VALUE_DELIMS);
    if (value === null) throw new TextError(name.at, n, `field ${n} missing value`);
    const v = value.value;
    if (n === "type") {
      // A new band.
      if (v === "drop") band = { type: OFPMBT13_DROP, rate: 0, burstSize: 0, precLevel: 0 };
      else if (v === "dscp_remark") band = { type: OFPMBT13_DSCP_REMARK, rate: 0, burstSize: 0, precLevel: 0 };
      else throw new TextError(value.at, v, `field ${n} unknown value ${v}`);
      bands.push(band);
    } else if (band === null) {
      throw new TextError(name.at, n, "band must start with the 'type' keyword");
    } else if (n === "rate") {
      band.rate = strToU32(v, value.at);
    } else if (n === "burst_size") {
      band.burstSize = strToU32(v, value.at);
    } else if (n === "prec_level") {
      band.precLevel = strToU8(v, n, value.at);
    } else {
      throw new TextError(name.at, n, `unknown keyword ${n}`);
    }
  }
  if (bands.length === 0) throw new TextError(from, text.slice(from), "meter must have bands");
  for (const b of bands) {
    if (b.type === OFPMBT13_DSCP_REMARK && b.precLevel === 0) throw new TextError(from, text.slice(from), "'dscp_remark' band must have 'prec_level'");
    if (b.type !== OFPMBT13_DSCP_REMARK && b.precLevel !== 0) throw new TextError(from, text.slice(from), "Only 'dscp_remark' band may have 'prec_level'");
    if (b.rate === 0) throw new TextError(from, text.slice(from), "band must have 'rate'");
    if (flags & OFPMF13_BURST) {
      if (b.burstSize === 0) throw new TextError(from, text.slice(from), "band must have 'burst_size' when 'burst' flag is set");
    } else if (b.burstSize !== 0) {
      throw new TextError(from, text.slice(from), "band may have 'burst_size' only when 'burst' flag is set");
    }
  }
  return bands;
}

/** A meter id as OVS prints it (ofputil_format_meter_id): "meter=5", "meter=slowpath"; `sep` is "=" or ":". */
export function formatMeterId(meterId: number, sep: "=" | ":"): string {
  if (meterId <= OFPM13_MAX) return `meter${sep}${meterId}`;
  const name = meterId === OFPM13_SLOWPATH ? "slowpath" : meterId === OFPM13_CONTROLLER ? "controller" : meterId === OFPM13_ALL ? "all" : "unknown";
  return `meter${sep}${name}`;
}

/**
 * A meter as dump-meters prints it (ofputil_format_meter_config), without
 * the final newline: the head line, then one line per band.
 */
export function formatMeter(m: Meter): string {
  let s = formatMeterId(m.meterId, "=") + " ";
  if (m.flags & OFPMF13_KBPS) s += "kbps ";
  if (m.flags & OFPMF13_PKTPS) s += "pktps ";
  if (m.flags & OFPMF13_BURST) s += "burst ";
  if (m.flags & OFPMF13_STATS) s += "stats ";
  const other = m.flags & ~(OFPMF13_KBPS | OFPMF13_PKTPS | OFPMF13_BURST | OFPMF13_STATS);
  if (other) s += `flags:0x${other.toString(16)} `;
  s += "bands=";
  for (const b of m.bands) {
    s += "\ntype=" + (b.type === OFPMBT13_DROP ? "drop" : b.type === OFPMBT13_DSCP_REMARK ? "dscp_remark" : String(b.type));
    s += ` rate=${b.rate}`;
    if (m.flags & OFPMF13_BURST) s += ` burst_size=${b.burstSize}`;
    if (b.type === OFPMBT13_DSCP_REMARK) s += ` prec_level=${b.precLevel}`;
  }
  return s;
}
