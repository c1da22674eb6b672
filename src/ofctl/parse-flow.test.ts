import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseFlow, parseFlows } from "./parse-flow.js";
import { formatFlow } from "./format-flow.js";
import { FlowSyntaxError } from "./errors.js";
import { findField } from "../flow/fields.js";
import * as L from "../flow/layout.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const fixtures = path.join(here, "../../test/fixtures/ofctl");

const NAMES = new Map<string, number>([
  ...Array.from({ length: 10 }, (_, i): [string, number] => [`p${i + 1}`, i + 1]),
  ["qvoebeae637-5c", 11],
  ["qvoa95f52ba-a2", 12],
  ["int-br-provider", 13],
  ["int-br-ext", 14],
]);
const NUMBERS = new Map([...NAMES].map(([n, p]): [number, string] => [p, n]));

/** The OpenFlow 1.3 dump text of one line. */
const of13 = (line: string): string => formatFlow(parseFlow(line, { portNames: NAMES }), { protocol: "OpenFlow13" });
const match = (line: string): string => parseFlow(`${line},actions=drop`).match.format();

/** Expects `fn` to throw a FlowSyntaxError and returns it. */
function syntaxError(fn: () => unknown): FlowSyntaxError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(FlowSyntaxError);
    return e as FlowSyntaxError;
  }
  throw new Error("expected a FlowSyntaxError");
}

describe("parseFlow: the flow's attributes", () => {
  it("reads table, priority, cookie, timeouts, importance and flags", () => {
    const f = parseFlow(
      "table=3,priority=100,cookie=0x1234,idle_timeout=10,hard_timeout=20,importance=5,send_flow_rem,check_overlap,reset_counts,no_packet_counts,no_byte_counts,actions=drop",
    );
    expect(f.table).toBe(3);
    expect(f.priority).toBe(100);
    expect(f.cookie).toBe(0x1234n);
    expect(f.idleTimeout).toBe(10);
    expect(f.hardTimeout).toBe(20);
    expect(f.importance).toBe(5);
    expect(f.flags).toEqual({ sendFlowRem: true, checkOverlap: true, resetCounts: true, noPacketCounts: true, noByteCounts: true });
    expect(f.actions).toEqual([]);
    expect(f.stats).toBeNull();
  });

  it("defaults to table 0 (or defaultTable), priority 32768 and drop", () => {
    const f = parseFlow("actions=");
    expect(f.table).toBe(0);
    expect(f.priority).toBe(32768);
    expect(f.match.isCatchall()).toBe(true);
    expect(parseFlow("actions=drop", { defaultTable: 7 }).table).toBe(7);
  });

  it("reads numbers the way C's strtol does (hex and octal)", () => {
    expect(parseFlow("priority=0x10,actions=drop").priority).toBe(16);
    expect(parseFlow("priority=010,actions=drop").priority).toBe(8);
  });

  it("keeps the statistics of a dump-flows line", () => {
    const f = parseFlow(
      " cookie=0x0, duration=871.283s, table=0, n_packets=4, n_bytes=300, idle_age=862, hard_age=5, priority=1 actions=drop",
    );
    expect(f.stats).toEqual({ durationSec: 871.283, nPackets: 4n, nBytes: 300n, idleAgeSec: 862, hardAgeSec: 5 });
    expect(formatFlow(f, { protocol: "OpenFlow10", stats: true })).toBe(
      "cookie=0x0, duration=871.283s, table=0, n_packets=4, n_bytes=300, idle_age=862, hard_age=5, priority=1 actions=drop",
    );
  });

  it("accepts a dump line whose match wraps after commas and spaces", () => {
    expect(of13("priority=77, ct_state=+est-rel-rpl,tcp,reg5=0x2b, tp_dst=22 actions=output:43")).toBe(
      "priority=77,ct_state=+est-rel-rpl,tcp,reg5=0x2b,tp_dst=22 actions=output:43",
    );
  });
});

describe("parseFlow: match fields", () => {
  it.each([
    ["in_port=1", "in_port=1"],
    ["in_port=LOCAL", "in_port=LOCAL"],
    ["in_port=65534", "in_port=LOCAL"],
    ["in_port_oxm=5", "in_port=5"],
    ["dl_src=01:02:03:04:05:06/ff:ff:ff:00:00:00", "dl_src=01:02:03:00:00:00/ff:ff:ff:00:00:00"],
    ["dl_dst=01:00:00:00:00:00/01:00:00:00:00:00", "dl_dst=01:00:00:00:00:00/01:00:00:00:00:00"],
    ["dl_type=0x0800", "ip"],
    ["dl_type=0x88cc", "dl_type=0x88cc"],
    ["dl_vlan=5", "dl_vlan=5"],
    ["dl_vlan=4096", "dl_vlan=0"],
    ["dl_vlan=0xffff", "vlan_tci=0x0000"],
    ["dl_vlan=5,dl_vlan_pcp=3", "dl_vlan=5,dl_vlan_pcp=3"],
    ["vlan_pcp=3", "dl_vlan_pcp=3"],
    ["vlan_tci=0x0fff/0x1fff", "vlan_tci=0x0fff/0x1fff"],
    ["vlan_tci=0x1000/0x1000", "vlan_tci=0x1000/0x1000"],
    ["vlan_vid=0x1001", "dl_vlan=1"],
    ["arp", "arp"],
    ["rarp", "rarp"],
    ["ip,nw_src=10.0.0.0/8,nw_dst=10.0.0.1", "ip,nw_src=10.0.0.0/8,nw_dst=10.0.0.1"],
    ["tcp,nw_src=1.2.3.4/0.255.0.255", "tcp,nw_src=0.2.0.4/0.255.0.255"],
    ["ipv6,ipv6_src=2001:db8::/32,ipv6_dst=::1", "ipv6,ipv6_src=2001:db8::/32,ipv6_dst=::1"],
    ["ipv6,ipv6_label=0x12345", "ipv6,ipv6_label=0x12345"],
    ["ip,nw_proto=47", "ip,nw_proto=47"],
    ["ip,nw_proto=6", "tcp"],
    ["ip,udp", "udp"],
    ["ip,nw_tos=3", "ip,nw_tos=0"],
    ["ip,ip_dscp=63", "ip,nw_tos=252"],
    ["ip,nw_ecn=3,nw_tos=4", "ip,nw_tos=4,nw_ecn=3"],
    ["ip,nw_ttl=64", "ip,nw_ttl=64"],
    ["ip,nw_frag=first", "ip,nw_frag=first"],
    ["ip,nw_frag=yes", "ip,nw_frag=yes"],
    ["ip,nw_frag=not_later", "ip,nw_frag=not_later"],
    ["arp,arp_op=1,arp_spa=10.0.0.1,arp_tpa=10.0.0.2", "arp,arp_spa=10.0.0.1,arp_tpa=10.0.0.2,arp_op=1"],
    ["arp,arp_sha=fa:16:3e:00:00:01,arp_tha=00:00:00:00:00:00", "arp,arp_sha=fa:16:3e:00:00:01,arp_tha=00:00:00:00:00:00"],
    ["arp,nw_src=1.2.3.4", "arp,arp_spa=1.2.3.4"],
    ["tcp,tp_src=80,tp_dst=0x50/0xfff0", "tcp,tp_src=80,tp_dst=0x50/0xfff0"],
    ["udp,udp_dst=53", "udp,tp_dst=53"],
    ["sctp6,sctp_src=9", "sctp6,tp_src=9"],
    ["tcp,tcp_flags=+syn-ack", "tcp,tcp_flags=+syn-ack"],
    ["tcp,tcp_flags=syn|ack", "tcp,tcp_flags=syn|ack"],
    ["tcp,tcp_flags=0x012/0xfff", "tcp,tcp_flags=syn|ack"],
    ["icmp,icmp_type=8,icmp_code=0", "icmp,icmp_type=8,icmp_code=0"],
    ["icmp6,icmpv6_type=136", "icmp6,icmp_type=136"],
    ["icmp6,icmp_type=135,nd_target=fe80::1,nd_sll=00:00:00:00:00:01", "icmp6,icmp_type=135,nd_target=fe80::1,nd_sll=00:00:00:00:00:01"],
    ["icmp6,icmp_type=136,nd_tll=00:00:00:00:00:02", "icmp6,icmp_type=136,nd_tll=00:00:00:00:00:02"],
    ["tun_id=0x5/0xff,tun_src=1.1.1.1,tun_dst=2.2.2.0/24", "tun_id=0x5/0xff,tun_src=1.1.1.1,tun_dst=2.2.2.0/24"],
    ["reg0=5,reg15=0x10/0xf0", "reg0=0x5,reg15=0x10/0xf0"],
    ["xreg1=0x100000002", "reg2=0x1,reg3=0x2"],
    ["metadata=0x1/0x1", "metadata=0x1/0x1"],
    ["pkt_mark=42", "pkt_mark=0x2a"],
    ["ct_state=+trk-new", "ct_state=-new+trk"],
    ["ct_state=trk|est", "ct_state=est|trk"],
    ["ct_state=0x22/0x22", "ct_state=+est+trk"],
    ["ct_zone=5,ct_mark=0x1/0x1", "ct_zone=5,ct_mark=0x1/0x1"],
    ["ct_label=0x1/0x1", "ct_label=0x1/0x1"],
    ["ct_state=+trk+est,ip,ct_nw_src=10.0.0.1,ct_tp_dst=80,ct_nw_proto=6", "ct_state=+est+trk,ct_nw_src=10.0.0.1,ct_nw_proto=6,ct_tp_dst=80,ip"],
    ["recirc_id=5", "recirc_id=0x5"],
    ["conj_id=7", "conj_id=7"],
    ["tun_flags=+oam", "tun_flags=+oam"],
    ["reg0=*", ""],
    ["tun_id=5/0", ""],
  ])("matches %s as %s", (text, printed) => {
    expect(match(text)).toBe(printed);
  });

  it("writes dl_vlan as VID with the CFI bit set", () => {
    const m = parseFlow("dl_vlan=5,actions=drop").match;
    expect(m.getField(findField("vlan_tci")!)).toEqual({ value: 0x1005n, mask: 0x1fffn });
  });

  it("keeps only the DSCP bits of nw_tos and the ECN bits of nw_ecn", () => {
    const m = parseFlow("ip,nw_tos=7,nw_ecn=2,actions=drop").match;
    expect((m.value[L.W_NW] >>> L.NW_TOS_SHIFT) & 0xff).toBe(6);
    expect((m.mask[L.W_NW] >>> L.NW_TOS_SHIFT) & 0xff).toBe(0xff);
  });

  it("stores ICMP type and code in the transport port slots, exact", () => {
    const m = parseFlow("icmp,icmp_type=3,actions=drop").match;
    expect(m.getField(findField("tp_src")!)).toEqual({ value: 3n, mask: 0xffffn });
  });

  it("takes port names, quoted or not, from portNames", () => {
    expect(of13('in_port="qvoebeae637-5c",actions=output:p2')).toBe("in_port=11 actions=output:2");
    expect(of13("in_port=p3,actions=drop")).toBe("in_port=3 actions=drop");
    const named = formatFlow(parseFlow('in_port="int-br-ext",actions=output:p1', { portNames: NAMES }), {
      protocol: "OpenFlow13",
      portName: (p) => NUMBERS.get(p),
    });
    expect(named).toBe('in_port="int-br-ext" actions=output:p1');
  });
});

describe("parseFlow: errors name the place and use OVS's words", () => {
  it.each([
    ["nw_srcx=1.2.3.4,actions=drop", 1, "unknown keyword nw_srcx"],
    ["priority=1", 1, "must specify an action"],
    ["priority=70000,actions=drop", 10, 'invalid priority "70000"'],
    ["table=256,actions=drop", 7, 'unknown table "256"'],
    ["cookie=0x1/0x1,actions=drop", 8, "flow additions cannot use a cookie mask"],
    ["in_port=nosuch,actions=drop", 9, "nosuch: invalid or unknown port for in_port"],
    ["dl_src=01:02:03,actions=drop", 8, "01:02:03: invalid Ethernet address"],
    ["ip,nw_src=1.2.3.4/33,actions=drop", 11, "1.2.3.4/33: IPv4 network prefix bits not between 0 and 32, inclusive"],
    ["in_port=1/1,actions=drop", 9, "1/1: invalid or unknown port for in_port"],
    ["recirc_id=1/1,actions=drop", 11, "1/1: invalid mask for field recirc_id"],
    ["reg0=0x100000000,actions=drop", 6, "0x100000000: value too large for 4-byte field reg0"],
    ["tcp,tcp_flags=+syn+bogus,actions=drop", 15, "+syn+bogus: unknown TCP flag(s)"],
    ["ip,nw_frag=maybe,actions=drop", 12, 'maybe: unknown fragment type (valid types are "no", "yes", "first", "later", "not_later"'],
    ["tp_dst=80,actions=drop", 1, "prerequisites not met for matching tp_dst (needs tcp, udp, sctp, icmp or icmp6)"],
    ["nw_src=1.2.3.4,actions=drop", 1, "prerequisites not met for matching nw_src (needs ip or arp)"],
    ["ipv6_src=::1,actions=drop", 1, "prerequisites not met for matching ipv6_src (needs ipv6)"],
    ["ct_nw_src=1.2.3.4,actions=drop", 1, "prerequisites not met for matching ct_nw_src"],
    ["udp,nw_frag=later,tp_dst=53,actions=drop", 19, "prerequisites not met for matching tp_dst"],
    ["actions=output:1,drop", 9, '"drop" must not be accompanied by any other action or instruction'],
    ["actions=bogus", 9, "unknown action bogus"],
    ["actions=resubmit(", 18, 'at least one "in_port" or "table" must be specified on resubmit'],
  ])("%s -> column %i", (line, column, reason) => {
    const e = syntaxError(() => parseFlow(line, { fileName: "flows.txt", lineNumber: 12 }));
    expect(e.file).toBe("flows.txt");
    expect(e.line).toBe(12);
    expect(e.column).toBe(column);
    expect(e.code).toBe("FP_ERR_FLOW_SYNTAX");
    expect(e.message.startsWith(`flows.txt:12:${column}: ${reason}`)).toBe(true);
  });

  it("puts the token it blames in the error", () => {
    const e = syntaxError(() => parseFlow("priority=1,nw_srcx=1,actions=drop"));
    expect(e.token).toBe("nw_srcx");
    expect(e.column).toBe(12);
    expect(e.message).toBe("<input>:1:12: unknown keyword nw_srcx");
  });
});

describe("parseFlows", () => {
  it("skips comments and blank lines and numbers lines from 1", () => {
    const flows = parseFlows("# a comment\n\npriority=1,actions=drop # trailing\n  \npriority=2,actions=NORMAL\n", "f.txt");
    expect(flows.map((f) => f.priority)).toEqual([1, 2]);
  });

  it("throws for the first bad line and returns nothing", () => {
    const e = syntaxError(() => parseFlows("priority=1,actions=drop\n\npriority=2,nw_srcx=1,actions=drop\n", "flows.txt"));
    expect(e.message).toBe("flows.txt:3:12: unknown keyword nw_srcx");
  });

  it("counts comment-only, blank and CRLF lines when naming a bad line", () => {
    const text = "# one\r\n#two # three\r\n\r\npriority=1,actions=drop # four\r\n \t\r\npriority=2, actions=drop#\r\nip,tp_dst=80,actions=drop";
    const e = syntaxError(() => parseFlows(text, "f.txt"));
    expect(e.message).toBe("f.txt:7:4: prerequisites not met for matching tp_dst (needs tcp, udp, sctp, icmp or icmp6)");
    expect(parseFlows(text.slice(0, text.lastIndexOf("\n")), "f.txt").map((f) => f.priority)).toEqual([1, 2]);
  });
});

describe("canonical text (recorded from Open vSwitch 3.1: test/fixtures/ofctl/canonical.txt)", () => {
  const text = readFileSync(path.join(fixtures, "canonical.txt"), "utf8").split("\n");
  const cases: { line: string; expected: Record<string, string> }[] = [];
  for (const l of text) {
    if (l === "" || l.startsWith("#")) continue;
    const m = /^(13|13n|10) (.*)$/.exec(l);
    if (m === null) cases.push({ line: l, expected: {} });
    else cases[cases.length - 1].expected[m[1]] = m[2];
  }

  it("holds every reference and hand-corpus line", () => {
    expect(cases.length).toBeGreaterThanOrEqual(200);
  });

  it.each(cases.map((c) => [c.line, c.expected] as const))("%s", (line, expected) => {
    const spec = parseFlow(line, { portNames: NAMES });
    expect(formatFlow(spec, { protocol: "OpenFlow13" })).toBe(expected["13"]);
    expect(formatFlow(spec, { protocol: "OpenFlow13", portName: (p) => NUMBERS.get(p) })).toBe(expected["13n"]);
    if (expected["10"] !== undefined) {
      expect(formatFlow(spec, { protocol: "OpenFlow10", addProtocol: "OpenFlow13" })).toBe(expected["10"]);
    }
  });
});

describe("what the switch refuses (ParseFlowOptions protocol and groupExists)", () => {
  const of13 = { protocol: "OpenFlow13", fileName: "f.flows", lineNumber: 4 };

  it("refuses, for OpenFlow 1.3, actions OVS can send only as OpenFlow 1.0, at the action", () => {
    const e = syntaxError(() => parseFlow("tcp,ip_frag=later actions=mod_tp_src:1", of13));
    expect(e.file).toBe("f.flows");
    expect(e.line).toBe(4);
    expect(e.column).toBe(27);
    expect(e.reason).toBe(
      "mod_tp_src needs tcp, udp or sctp, and not ip_frag=later in the match for OpenFlow13: OVS sends this flow only as OpenFlow 1.0 " +
        "(none of the usable flow formats is among the allowed flow formats)",
    );
  });

  it("accepts the same flows for OpenFlow 1.0 and without a protocol", () => {
    for (const line of ["tcp,ip_frag=later actions=mod_tp_src:1", "actions=dec_ttl", "actions=strip_vlan", "actions=fin_timeout(idle_timeout=5)"]) {
      expect(() => parseFlow(line, { protocol: "OpenFlow10" })).not.toThrow();
      expect(() => parseFlow(line)).not.toThrow();
    }
  });

  it("follows the flow through earlier actions and into clone, but not into write_actions", () => {
    expect(() => parseFlow("actions=push_vlan:0x8100,strip_vlan", of13)).not.toThrow();
    expect(() => parseFlow("actions=push_mpls:0x8847,set_mpls_ttl:3", of13)).not.toThrow();
    expect(syntaxError(() => parseFlow("dl_vlan=5 actions=strip_vlan,strip_vlan", of13)).column).toBe(30);
    expect(syntaxError(() => parseFlow("arp actions=output:1,clone(dec_ttl)", of13)).column).toBe(28);
    expect(() => parseFlow("arp actions=write_actions(dec_ttl)", of13)).not.toThrow();
  });

  it("refuses, for OpenFlow 1.0, mod_nw_ttl and mod_nw_ecn without ip (sent as loads, whose prerequisites the switch checks)", () => {
    expect(syntaxError(() => parseFlow("arp actions=clone(mod_nw_ecn:2)", { protocol: "OpenFlow10" })).reason).toBe(
      "actions are invalid with specified match (OFPBAC_MATCH_INCONSISTENT)",
    );
    expect(() => parseFlow("ipv6 actions=mod_nw_ttl:3", { protocol: "OpenFlow10" })).not.toThrow();
    expect(() => parseFlow("arp actions=mod_nw_ttl:3")).not.toThrow();
  });

  it("reports a hard inconsistency before an OpenFlow 1.0-only one", () => {
    expect(syntaxError(() => parseFlow("actions=dec_ttl,set_field:1->tcp_src", of13)).reason).toBe(
      "actions are invalid with specified match (OFPBAC_MATCH_INCONSISTENT)",
    );
  });

  it("refuses a group action naming a group the switch lacks, nested or not", () => {
    const opts = { groupExists: (id: number) => id === 1, fileName: "f.flows", lineNumber: 2 };
    expect(() => parseFlow("actions=group:1", opts)).not.toThrow();
    const e = syntaxError(() => parseFlow("ip actions=output:1,clone(group:7)", opts));
    expect(e.message).toBe("f.flows:2:27: group 7 does not exist (OFPBAC_BAD_OUT_GROUP)");
    expect(syntaxError(() => parseFlow("actions=write_actions(group:3)", opts)).reason).toBe("group 3 does not exist (OFPBAC_BAD_OUT_GROUP)");
    expect(() => parseFlow("actions=group:7")).not.toThrow();
  });
});

describe("what flowplane's datapath does not run (ParseFlowOptions forDatapath)", () => {
  it("refuses MPLS actions, nested too, at the action, and accepts matching MPLS packets", () => {
    const opts = { forDatapath: true, fileName: "f.flows", lineNumber: 3 };
    const e = syntaxError(() => parseFlow("ip actions=output:1,clone(push_mpls:0x8847,output:2)", opts));
    expect(e.message).toBe("f.flows:3:27: push_mpls: MPLS actions are not supported by flowplane's datapath");
    expect(syntaxError(() => parseFlow("mpls actions=dec_mpls_ttl,output:1", opts)).reason).toBe("dec_mpls_ttl: MPLS actions are not supported by flowplane's datapath");
    expect(syntaxError(() => parseFlow("mpls actions=write_actions(pop_mpls:0x0800)", opts)).reason).toMatch(/^pop_mpls: /);
    expect(() => parseFlow("mpls,mpls_label=5 actions=output:1", opts)).not.toThrow();
    // The syntax layer alone (ovs-ofctl parse-flow) accepts them.
    expect(() => parseFlow("ip actions=push_mpls:0x8847,set_mpls_ttl:3")).not.toThrow();
  });
});

describe("what parseFlows shares among the lines of a file", () => {
  const lines = [
    "table=1,priority=5,tcp,nw_src=10.0.0.0/8,tp_dst=80,actions=output:p1",
    "table=1,priority=5,tcp,nw_src=11.0.0.0/8,tp_dst=80,actions=output:p1",
    "table=1,priority=6,send_flow_rem,tcp,nw_src=192.168.0.0/16,tp_dst=22,actions=output:p1",
    "table=2,priority=5,ip,nw_dst=10.0.0.1,actions=mod_nw_dst:10.0.0.2,output:p2",
    "table=2,priority=5,arp,nw_dst=10.0.0.1,actions=mod_nw_dst:10.0.0.2,output:p2",
  ];

  it("gives every line what parseFlow gives it alone", () => {
    const all = parseFlows(lines.join("\n"), "f", { portNames: NAMES });
    lines.forEach((line, i) => {
      const alone = parseFlow(line, { portNames: NAMES });
      expect(all[i].match.equals(alone.match), line).toBe(true);
      expect(all[i].actions).toEqual(alone.actions);
      expect(all[i].flags).toEqual(alone.flags);
      expect(formatFlow(all[i])).toBe(formatFlow(alone));
    });
  });

  it("shares equal masks and equal action lists, never values or flags", () => {
    const [a, b, c] = parseFlows(lines.join("\n"), "f", { portNames: NAMES });
    expect(a.match.mask).toBe(b.match.mask);
    expect(a.match.mask).not.toBe(c.match.mask);
    expect(a.match.value).not.toBe(b.match.value);
    expect(a.actions).toBe(b.actions);
    expect(c.flags.sendFlowRem).toBe(true);
    expect(a.flags.sendFlowRem).toBe(false);
    expect(b.flags.sendFlowRem).toBe(false);
  });

  it("checks a shared action list against each line's match, and points at the action in the failing line", () => {
    // set_field to tcp_dst needs tcp: the UDP line reuses the TCP line's list and must still fail, at its own column.
    const tcp = "priority=1,tcp,actions=output:p1,set_field:80->tcp_dst";
    const udp = "  priority=1,udp,actions=output:p1,set_field:80->tcp_dst";
    const e = syntaxError(() => parseFlows(`${tcp}\n${udp}`, "f", { portNames: NAMES }));
    const fresh = syntaxError(() => parseFlows(udp, "f", { portNames: NAMES }));
    expect(fresh.column).toBe(udp.indexOf("set_field") + 1);
    expect(e.line).toBe(2);
    expect(e.message).toBe(fresh.message.replace(":1:", ":2:"));
  });
});
