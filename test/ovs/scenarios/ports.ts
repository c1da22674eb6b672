/** Plain ports for scenarios: what most of them attach to one bridge. */
import type { Scenario } from "../scenario.js";

/** The named ports on `bridge`, with OpenFlow port numbers 1, 2, ... in the order given. */
export const portsOn = (bridge: string, names: string[]): Scenario["ports"] => names.map((name, i) => ({ name, bridge, ofport: i + 1 }));
