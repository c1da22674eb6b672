/** Looking ports up by what a user typed: a name or an OpenFlow port number. */
import { UsageError } from "../errors.js";
import type { Bridge, Port, Switch } from "../ofproto/bridge.js";

export function portFromName(bridge: Bridge, text: string): Port {
  const byName = bridge.ports.find((p) => p.name === text);
  if (byName) return byName;
  if (/^\d+$/.test(text)) {
    const p = bridge.port(Number(text));
    if (p) return p;
  }
  throw new UsageError(`${bridge.name} has no port "${text}"`);
}

export function portOfSwitch(sw: Switch, name: string): Port {
  const p = sw.portsByName.get(name);
  if (!p) throw new UsageError(`no port named "${name}" (ports: ${[...sw.portsByName.keys()].join(", ")})`);
  return p;
}
