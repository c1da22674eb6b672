/**
 * Reading a Neutron description file: JSON in, a validated description out,
 * every error one line naming the file (`sg.json: ports[1] (tap-vm2): mac: ...`).
 */
import { readFileSync } from "node:fs";
import { NeutronInputError } from "./errors.js";
import { parseSgInput, type SgInput } from "./sg-model.js";
import { parseRouterInput, type RouterInput } from "./router-model.js";
import { parseTunInput, type TunInput } from "./tun-flows.js";

function readDescription<T>(file: string, parse: (raw: unknown) => T): T {
  const text = readFileSync(file, "utf8");
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new NeutronInputError(`${file}: not valid JSON: ${(e as Error).message}`);
  }
  try {
    return parse(raw);
  } catch (e) {
    if (e instanceof NeutronInputError) throw new NeutronInputError(`${file}: ${e.message}`);
    throw e;
  }
}

export const loadSgInput = (file: string): SgInput => readDescription(file, parseSgInput);
export const loadRouterInput = (file: string): RouterInput => readDescription(file, parseRouterInput);
export const loadTunInput = (file: string): TunInput => readDescription(file, parseTunInput);
