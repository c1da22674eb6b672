/**
 * A port range as masked port matches, exactly as Neutron's OVS firewall
 * writes it (neutron/common/utils.py, port_rule_masking and its helpers
 * _gen_rules_port_min / _gen_rules_port_max): the range [min, max] is split
 * at the highest bit where min and max differ; the lower half is covered
 * greedily upwards from min, the upper half downwards from max. The matches
 * come out in that order (lower half, then upper half), and a single port is
 * written without a mask. Text is Neutron's: "0x0040/0xffe0", "0x0016".
 *
 *   [64, 105] -> 0x0040/0xffe0, 0x0060/0xfff8, 0x0068/0xfffe
 */
import { NeutronInputError } from "./errors.js";

/** Neutron's _hex_format: a 16-bit value, and the mask written as the bits that must match. */
function hexFormat(port: number, wildcard = 0): string {
  const hex = (n: number): string => `0x${n.toString(16).padStart(4, "0")}`;
  return wildcard > 0 ? `${hex(port)}/${hex(0xffff & ~wildcard)}` : hex(port);
}

/** Covers [portMin, portMin | (topBit - 1)] greedily from below. */
function rulesFromMin(portMin: number, topBit: number): string[] {
  const rules: string[] = [];
  let mask = topBit - 1;
  for (;;) {
    if ((portMin & mask) === 0) {
      rules.push(hexFormat(portMin, mask));
      return rules;
    }
    topBit >>= 1;
    mask >>= 1;
    if ((portMin & topBit) === 0) rules.push(hexFormat((portMin & ~mask) | topBit, mask));
  }
}

/** Covers [portMax & ~(topBit - 1), portMax] greedily from above. */
function rulesFromMax(portMax: number, topBit: number): string[] {
  const rules: string[] = [];
  let mask = topBit - 1;
  for (;;) {
    if ((portMax & mask) === mask) {
      rules.push(hexFormat(portMax & ~mask, mask));
      return rules;
    }
    topBit >>= 1;
    mask >>= 1;
    if ((portMax & topBit) === topBit) rules.push(hexFormat(portMax & ~mask & ~topBit, mask));
  }
}

/** The masked matches covering exactly [portMin, portMax] (1 <= min <= max <= 65535). */
export function portRuleMasking(portMin: number, portMax: number): string[] {
  if (!Number.isInteger(portMin) || !Number.isInteger(portMax) || portMin < 0 || portMax > 0xffff) {
    throw new NeutronInputError(`port range ${portMin}-${portMax}: ports are integers from 0 to 65535`);
  }
  if (portMax < portMin) throw new NeutronInputError(`port range ${portMin}-${portMax}: 'port_max' is smaller than 'port_min'`);
  const bitDiff = portMin ^ portMax;
  if (bitDiff === 0) return [hexFormat(portMin)];
  let topBit = 1;
  while (topBit <= bitDiff) topBit <<= 1;
  // A range of 2^k ports aligned on 2^k is one match.
  if ((portMin & (topBit - 1)) === 0 && (portMax & (topBit - 1)) === topBit - 1) return [hexFormat(portMin, topBit - 1)];
  topBit >>= 1;
  return [...rulesFromMin(portMin, topBit), ...rulesFromMax(portMax, topBit)];
}
