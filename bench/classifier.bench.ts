/**
 * Classifier lookup throughput, the way translation uses it: one lookup per
 * key with a wildcard mask (cleared before each lookup), single thread.
 * Rules are spread evenly over 1, 8 or 32 masks of realistic shapes (in_port,
 * dl_type, IPv4 prefixes of varied lengths, nw_proto, ports, registers,
 * metadata) with random values. Priorities follow the mask, as they do in
 * OpenFlow pipelines (OVN derives a route's priority from its prefix length,
 * Neutron's agent gives each kind of flow its own priority): each mask has
 * its own band of 64 priorities, the bands in shuffled order, and rules take
 * random priorities within their band (priorities drawn at random across
 * all masks defeat most of the priority-ordered early exit, and lookups are
 * slower). Of the keys, about half are built to hit a random rule and the
 * rest are random (mostly misses). The tables do not change while they are
 * measured, so after their first 65,536 lookups (warm-up) the big IPv4
 * prefix tries have built their jump tables (prefix-trie.ts), as a
 * long-lived OpenFlow table's would.
 * Figures:
 *   classifier/lookup-{1k,10k,100k}-rules-{1,8,32}-masks   lookups/s
 *     (target: >= 1,000,000 at 10k rules / 8 masks)
 *   classifier/load-100k-flows   s: parse a generated 100,000-line flows
 *     file (src/ofctl/parse-flow.ts) and add every flow to the FlowTable of
 *     its table; the median of three runs.
 */
import { findField } from "../src/flow/fields.js";
import { KEY_WORDS } from "../src/flow/layout.js";
import { Match } from "../src/flow/match.js";
import { Classifier, type ClsRule } from "../src/classifier/classifier.js";
import { FF_CHECK_OVERLAP, FF_NO_BYT_COUNTS, FF_NO_PKT_COUNTS, FF_RESET_COUNTS, FF_SEND_FLOW_REM, FlowTable } from "../src/classifier/flow-table.js";
import type { Action } from "../src/openflow/actions.js";
import type { FlowFlags } from "../src/openflow/flow-spec.js";
import { parseFlows } from "../src/ofctl/parse-flow.js";
import { ratePerSecond, runIfMain, type Figure } from "./lib.js";
import { mulberry32 } from "../src/util/prng.js";

const KEYS_COUNT = 4096;
const LOOKUPS_PER_CALL = 1024;


const field = (name: string) => {
  const f = findField(name);
  if (!f) throw new Error(`no field ${name}`);
  return f;
};
const prefix = (n: number): bigint => (n === 0 ? 0n : 0xffffffffn ^ ((1n << BigInt(32 - n)) - 1n));

/** Mask shape i (0..31), all distinct: four families with varied prefix lengths. */
function shape(i: number): Match {
  const m = new Match();
  const len = 32 - ((i * 7) % 17); // 16..32
  m.setField(field("eth_type"), 0n, 0xffffn);
  switch (i % 4) {
    case 0: // routing: nw_dst prefixes, per ingress port
      m.setField(field("in_port"), 0n, 0xffffn);
      m.setField(field("ip_dst"), 0n, prefix(len));
      break;
    case 1: // ACL: source and destination prefixes
      m.setField(field("ip_src"), 0n, prefix(len));
      m.setField(field("ip_dst"), 0n, prefix(32 - ((i * 3) % 16)));
      break;
    case 2: // security group: protocol, destination prefix and port
      m.setField(field("nw_proto"), 0n, 0xffn);
      m.setField(field("ip_dst"), 0n, prefix(len));
      m.setField(field("tcp_dst"), 0n, i & 8 ? 0xff00n : 0xffffn);
      break;
    default: // pipeline stage: registers and metadata
      m.setField(field("reg0"), 0n, 0xffffffffn);
      m.setField(field("metadata"), 0n, 0xffffn);
      m.setField(field("ip_dst"), 0n, prefix(len));
      break;
  }
  return m;
}

/** Mask i's priority band: 0..996, distinct for every mask (997 is prime), in no particular order. */
const priorityBand = (i: number): number => (i * 7919) % 997;

class Rule implements ClsRule {
  constructor(
    readonly match: Match,
    readonly priority: number,
  ) {}
}

/** A random key as the shapes see it: one of 64 ingress ports, IPv4 to 10/8, TCP or UDP, 16 register and metadata values. */
function randomKey(rnd: () => number, key: Uint32Array, at: number): void {
  for (let w = 0; w < KEY_WORDS; w++) key[at + w] = 0;
  key[at + field("in_port").word] = 1 + (rnd() % 64);
  key[at + field("eth_type").word] = 0x0800;
  key[at + field("ip_src").word] = rnd();
  key[at + field("ip_dst").word] = (10 << 24) | (rnd() & 0xffffff);
  key[at + field("nw_proto").word] = rnd() & 1 ? 6 : 17;
  key[at + field("tcp_dst").word] = ((1024 + (rnd() % 60000)) << 16) | (rnd() % 65536);
  key[at + field("reg0").word] = rnd() % 16;
  key[at + field("metadata").word + 1] = rnd() % 16;
}

interface Table {
  cls: Classifier<Rule>;
  keys: Uint32Array;
}

function buildTable(rulesCount: number, masksCount: number): Table {
  const rnd = mulberry32(rulesCount * 131 + masksCount);
  const shapes = Array.from({ length: masksCount }, (_, i) => shape(i));
  const cls = new Classifier<Rule>();
  const rules: Rule[] = [];
  const scratch = new Uint32Array(KEY_WORDS);
  for (let attempts = 0; rules.length < rulesCount; attempts++) {
    if (attempts > 10 * rulesCount) throw new Error("mask shapes too narrow for the rule count");
    const s = shapes[rules.length % masksCount];
    randomKey(rnd, scratch, 0);
    const value = new Uint32Array(KEY_WORDS);
    for (let w = 0; w < KEY_WORDS; w++) value[w] = (scratch[w] & s.mask[w]) >>> 0;
    const r = new Rule(new Match(value, s.mask.slice()), priorityBand(rules.length % masksCount) * 64 + (rnd() % 64));
    const displaced = cls.replace(r);
    if (displaced === null) rules.push(r);
    else rules[rules.indexOf(displaced)] = r;
  }
  const keys = new Uint32Array(KEYS_COUNT * KEY_WORDS);
  for (let i = 0; i < KEYS_COUNT; i++) {
    const at = i * KEY_WORDS;
    randomKey(rnd, keys, at);
    if (i % 2 === 0) {
      const r = rules[rnd() % rules.length];
      for (let w = 0; w < KEY_WORDS; w++) keys[at + w] = ((keys[at + w] & ~r.match.mask[w]) | r.match.value[w]) >>> 0;
    }
  }
  return { cls, keys };
}

async function measure(rulesCount: number, masksCount: number): Promise<number> {
  const { cls, keys } = buildTable(rulesCount, masksCount);
  const wc = new Uint32Array(KEY_WORDS);
  let next = 0;
  let hits = 0;
  const fn = (): void => {
    for (let i = 0; i < LOOKUPS_PER_CALL; i++) {
      wc.fill(0);
      if (cls.lookup(keys, next * KEY_WORDS, wc, 0) !== null) hits++;
      next = (next + 1) & (KEYS_COUNT - 1);
    }
  };
  const rate = await ratePerSecond(fn, LOOKUPS_PER_CALL);
  if (hits === 0) throw new Error("benchmark keys never hit");
  return rate;
}

const FLOWS_FILE_LINES = 100_000;

/**
 * A flows file in the shapes of a Neutron-style pipeline, one flow per line,
 * every (table, match, priority) distinct: port classification, security
 * group rules, routes, and connection-tracking and service flows.
 */
function flowsText(count: number): string {
  const hex2 = (n: number): string => (n & 0xff).toString(16).padStart(2, "0");
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    const n = i >> 2;
    switch (i % 4) {
      case 0:
        lines.push(
          `table=0,priority=${100 + (n % 50)},in_port=${1 + (n % 512)},dl_src=fa:16:3e:${hex2(n >> 16)}:${hex2(n >> 8)}:${hex2(n)},actions=resubmit(,1)`,
        );
        break;
      case 1:
        lines.push(
          `table=1,priority=${200 + (n % 100)},tcp,reg5=0x${(n % 4096).toString(16)},nw_src=10.${(n >> 4) & 255}.${(n >> 12) & 255}.0/24,tp_dst=${1 + (n % 1000)},actions=output:${1 + (n % 48)}`,
        );
        break;
      case 2: {
        const len = 16 + (n % 17);
        lines.push(
          `table=2,priority=${len},ip,metadata=0x${n.toString(16)},nw_dst=172.${16 + ((n >> 6) & 15)}.${(n >> 10) & 255}.${n & 255}/${len},actions=mod_dl_dst:fa:16:3e:00:${hex2(n >> 8)}:${hex2(n)},dec_ttl,output:${1 + (n % 48)}`,
        );
        break;
      }
      default:
        lines.push(
          n % 2 === 0
            ? `table=3,priority=10,cookie=0x${n.toString(16)},idle_timeout=60,udp,metadata=0x${n.toString(16)},tp_dst=53,actions=drop`
            : `table=3,priority=20,ct_state=+trk+est,ip,reg6=0x${n.toString(16)},actions=ct(commit,zone=5),output:1`,
        );
    }
  }
  return lines.join("\n") + "\n";
}

const flagBits = (f: FlowFlags): number =>
  (f.sendFlowRem ? FF_SEND_FLOW_REM : 0) |
  (f.checkOverlap ? FF_CHECK_OVERLAP : 0) |
  (f.resetCounts ? FF_RESET_COUNTS : 0) |
  (f.noPacketCounts ? FF_NO_PKT_COUNTS : 0) |
  (f.noByteCounts ? FF_NO_BYT_COUNTS : 0);

/** Seconds to parse the file and fill the tables (median of three runs). */
function loadFlows(): number {
  const text = flowsText(FLOWS_FILE_LINES);
  const times: number[] = [];
  for (let run = 0; run < 3; run++) {
    const started = performance.now();
    const tables = new Map<number, FlowTable<Action[]>>();
    for (const f of parseFlows(text, "bench.flows")) {
      let table = tables.get(f.table);
      if (table === undefined) {
        table = new FlowTable<Action[]>();
        tables.set(f.table, table);
      }
      table.add(
        {
          match: f.match,
          priority: f.priority,
          actions: f.actions,
          cookie: f.cookie,
          idleTimeout: f.idleTimeout,
          hardTimeout: f.hardTimeout,
          importance: f.importance,
          flags: flagBits(f.flags),
        },
        0,
      );
    }
    times.push((performance.now() - started) / 1000);
    let rules = 0;
    for (const t of tables.values()) rules += t.count;
    if (rules !== FLOWS_FILE_LINES) throw new Error(`loaded ${rules} flows, expected ${FLOWS_FILE_LINES}`);
  }
  return times.sort((a, b) => a - b)[1];
}

const SIZES: [string, number][] = [
  ["1k", 1_000],
  ["10k", 10_000],
  ["100k", 100_000],
];
const MASKS = [1, 8, 32];

export default async function run(): Promise<Figure[]> {
  const figures: Figure[] = [];
  for (const [label, rulesCount] of SIZES) {
    for (const masksCount of MASKS) {
      figures.push({
        name: `lookup-${label}-rules-${masksCount}-masks`,
        value: Math.round(await measure(rulesCount, masksCount)),
        unit: "lookups/s",
      });
    }
  }
  figures.push({ name: "load-100k-flows", value: loadFlows(), unit: "s" });
  return figures;
}

await runIfMain("classifier", import.meta.url, run);
