import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { parseActions } from "./index.js";
import { parseFlow } from "./parse-flow.js";
import { formatActions } from "./format-actions.js";
import { formatFlow } from "./format-flow.js";
import { FlowSyntaxError } from "./errors.js";
import { findField } from "../flow/fields.js";
import { OFPP_CONTROLLER, OFPP_IN_PORT, OFPP_LOCAL, OFPP_NORMAL } from "../flow/text.js";
import { TABLE_NONE, splitInstructions, joinInstructions, type Action } from "../openflow/actions.js";

const f = (name: string) => findField(name)!;
const sub = (name: string, ofs: number, nBits: number) => ({ field: f(name), ofs, nBits });
/** Actions of a flow with `match` (the checks need one for some actions). */
const acts = (text: string, match = ""): Action[] => parseFlow(`${match}${match ? "," : ""}actions=${text}`).actions;
/** Printed without an OpenFlow trip: OVS's text of the parsed actions. */
const raw = (text: string, match = ""): string => formatActions(acts(text, match));

describe("parseActions: the AST", () => {
  it("reads output to ports, reserved ports and registers", () => {
    expect(parseActions("output:1,NORMAL,in_port,LOCAL,CONTROLLER,controller:100,output:NXM_NX_REG0[0..15]")).toEqual([
      { type: "output", port: 1, maxLen: 0 },
      { type: "output", port: OFPP_NORMAL, maxLen: 0 },
      { type: "output", port: OFPP_IN_PORT, maxLen: 0 },
      { type: "output", port: OFPP_LOCAL, maxLen: 0 },
      { type: "output", port: OFPP_CONTROLLER, maxLen: 65535 },
      { type: "output", port: OFPP_CONTROLLER, maxLen: 100 },
      { type: "output_reg", src: sub("reg0", 0, 16), maxLen: 65535 },
    ]);
  });

  it("reads controller(...) with its options", () => {
    expect(parseActions("controller(reason=no_match,max_len=128,id=3,userdata=01.02,pause,meter_id=5)")).toEqual([
      {
        type: "controller",
        maxLen: 128,
        controllerId: 3,
        reason: "no_match",
        pause: true,
        userdata: Uint8Array.from([1, 2]),
        meterId: 5,
      },
    ]);
  });

  it("reads resubmit in all its forms", () => {
    expect(parseActions("resubmit:3,resubmit(,4),resubmit(2,5),resubmit(,6,ct)")).toEqual([
      { type: "resubmit", inPort: 3, tableId: TABLE_NONE, withCt: false },
      { type: "resubmit", inPort: OFPP_IN_PORT, tableId: 4, withCt: false },
      { type: "resubmit", inPort: 2, tableId: 5, withCt: false },
      { type: "resubmit", inPort: OFPP_IN_PORT, tableId: 6, withCt: true },
    ]);
  });

  it("tells mod_vlan_vid (pushes a tag) from set_vlan_vid", () => {
    expect(parseActions("mod_vlan_vid:5,set_vlan_vid:6,mod_vlan_pcp:3,strip_vlan,pop_vlan,push_vlan:0x88a8")).toEqual([
      { type: "set_vlan_vid", vid: 5, pushIfNeeded: true },
      { type: "set_vlan_vid", vid: 6, pushIfNeeded: false },
      { type: "set_vlan_pcp", pcp: 3, pushIfNeeded: true },
      { type: "strip_vlan" },
      { type: "strip_vlan" },
      { type: "push_vlan", ethertype: 0x88a8 },
    ]);
  });

  it("turns load into a masked set_field that remembers it was a load", () => {
    expect(parseActions("load:0x5->NXM_NX_REG0[4..7],set_field:0x10/0xf0->reg1,set_field:1.2.3.4->ip_src")).toEqual([
      { type: "set_field", field: f("reg0"), value: 0x50n, mask: 0xf0n, viaLoad: true },
      { type: "set_field", field: f("reg1"), value: 0x10n, mask: 0xf0n, viaLoad: false },
      { type: "set_field", field: f("ip_src"), value: 0x01020304n, mask: 0xffffffffn, viaLoad: false },
    ]);
  });

  it("reads move, push and pop with subfields", () => {
    expect(parseActions("move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],push:NXM_NX_REG0[],pop:reg1[0..15]")).toEqual([
      { type: "reg_move", src: sub("eth_src", 0, 48), dst: sub("eth_dst", 0, 48) },
      { type: "stack_push", subfield: sub("reg0", 0, 32) },
      { type: "stack_pop", subfield: sub("reg1", 0, 16) },
    ]);
  });

  it("reads the header-rewriting actions", () => {
    expect(acts("mod_dl_src:fa:16:3e:00:00:01,mod_nw_dst:10.0.0.1,mod_nw_tos:8,mod_nw_ecn:1,mod_nw_ttl:9,mod_tp_dst:80,dec_ttl,dec_ttl(1,2)", "tcp")).toEqual([
      { type: "set_eth_src", mac: 0xfa163e000001n },
      { type: "set_ipv4_dst", ipv4: 0x0a000001 },
      { type: "set_ip_dscp", dscp: 8 },
      { type: "set_ip_ecn", ecn: 1 },
      { type: "set_ip_ttl", ttl: 9 },
      { type: "set_l4_dst_port", port: 80 },
      { type: "dec_ttl", controllerIds: [0], withIds: false },
      { type: "dec_ttl", controllerIds: [1, 2], withIds: true },
    ]);
  });

  it("reads ct with zone, table, nat and exec", () => {
    const [ct] = acts("ct(commit,zone=NXM_NX_REG6[0..15],table=3,nat(src=10.0.0.1-10.0.0.5:100-200,persistent),exec(set_field:1->ct_mark))", "ip");
    expect(ct).toEqual({
      type: "ct",
      commit: true,
      force: false,
      zone: 0,
      zoneSrc: sub("reg6", 0, 16),
      recircTable: 3,
      alg: 0,
      actions: [
        { type: "nat", kind: "src", family: 4, addrMin: 0x0a000001n, addrMax: 0x0a000005n, portMin: 100, portMax: 200, persistent: true, hash: false, random: false },
        { type: "set_field", field: f("ct_mark"), value: 1n, mask: 0xffffffffn, viaLoad: false },
      ],
    });
  });

  it("reads learn with all its specs", () => {
    const [learn] = parseActions(
      "learn(table=20,hard_timeout=300,priority=1,cookie=0x5,NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],eth_type=0x800,load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:OXM_OF_IN_PORT[],limit=3,result_dst=reg0[1],delete_learned,send_flow_rem,fin_idle_timeout=2)",
    );
    expect(learn).toMatchObject({
      type: "learn",
      tableId: 20,
      priority: 1,
      hardTimeout: 300,
      idleTimeout: 0,
      finIdleTimeout: 2,
      cookie: 5n,
      limit: 3,
      resultDst: sub("reg0", 1, 1),
      deleteLearned: true,
      sendFlowRem: true,
      specs: [
        { kind: "match", src: { kind: "field", subfield: sub("vlan_tci", 0, 12) }, dst: sub("vlan_tci", 0, 12), nBits: 12 },
        { kind: "match", src: { kind: "field", subfield: sub("eth_src", 0, 48) }, dst: sub("eth_dst", 0, 48), nBits: 48 },
        { kind: "match", src: { kind: "immediate", value: 0x800n }, dst: sub("eth_type", 0, 16), nBits: 16 },
        { kind: "load", src: { kind: "immediate", value: 0n }, dst: sub("vlan_tci", 0, 16), nBits: 16 },
        { kind: "load", src: { kind: "field", subfield: sub("tun_id", 0, 64) }, dst: sub("tun_id", 0, 64), nBits: 64 },
        { kind: "output", src: { kind: "field", subfield: sub("in_port_oxm", 0, 32) }, dst: null, nBits: 32 },
      ],
    });
  });

  it("keeps instructions in one list in OVS's order, and splits them on demand", () => {
    const list = parseActions("meter:1,output:1,clear_actions,write_actions(output:2),write_metadata:0x1/0x3,goto_table:5");
    expect(list.map((a) => a.type)).toEqual(["meter", "output", "clear_actions", "write_actions", "write_metadata", "goto_table"]);
    const ins = splitInstructions(list);
    expect(ins).toEqual({
      apply: [{ type: "output", port: 1, maxLen: 0 }],
      meterId: 1,
      clearActions: true,
      writeActions: [{ type: "output", port: 2, maxLen: 0 }],
      writeMetadata: { metadata: 1n, mask: 3n },
      gotoTable: 5,
    });
    expect(joinInstructions(ins)).toEqual(list);
  });
});

describe("formatActions without a protocol: OVS's text of the parsed actions", () => {
  it.each([
    ["output:1,NORMAL,IN_PORT,CONTROLLER,controller:100", "", "output:1,NORMAL,IN_PORT,CONTROLLER:65535,CONTROLLER:100"],
    ["controller(reason=no_match,max_len=10,id=3)", "", "controller(reason=no_match,max_len=10,id=3)"],
    ["controller(userdata=01.02,pause)", "", "controller(userdata=01.02,pause)"],
    ["enqueue(1,2)", "", "enqueue:1:2"],
    ["mod_vlan_vid:5,set_vlan_vid:6,mod_vlan_pcp:1", "", "mod_vlan_vid:5,set_vlan_vid:6,mod_vlan_pcp:1"],
    ["load:0x1->NXM_NX_REG0[0..3],set_field:0x10/0xf0->reg1", "", "load:0x1->NXM_NX_REG0[0..3],set_field:0x10/0xf0->reg1"],
    ["set_field:5->in_port,set_field:0x5->tun_id", "", "set_field:5->in_port,set_field:0x5->tun_id"],
    ["move:reg0[0..7]->reg1[8..15],push:reg2[],pop:reg3[5]", "", "move:NXM_NX_REG0[0..7]->NXM_NX_REG1[8..15],push:NXM_NX_REG2[],pop:NXM_NX_REG3[5]"],
    ["resubmit:3,resubmit(,4),resubmit(2,5)", "", "resubmit:3,resubmit(,4),resubmit(2,5)"],
    ["set_tunnel:0x1,set_tunnel64:0x2,set_tunnel:0x100000000", "", "set_tunnel:0x1,set_tunnel64:0x2,set_tunnel64:0x100000000"],
    ["note:01.02.03", "", "note:01.02.03"],
    ["note:0102,output:3", "", "note:01.02,output:3"],
    ["dec_ttl,dec_ttl(0),dec_ttl(1,2)", "ip", "dec_ttl,dec_ttl(0),dec_ttl(1,2)"],
    ["ct(commit,zone=5,alg=ftp)", "tcp", "ct(commit,zone=5,alg=ftp)"],
    ["ct(table=3,zone=NXM_NX_REG6[0..15])", "ip", "ct(table=3,zone=NXM_NX_REG6[0..15])"],
    ["ct(commit,nat(dst=[fe80::1]-[fe80::5]:80))", "ipv6", "ct(commit,nat(dst=[fe80::1]-[fe80::5]:80))"],
    ["ct(commit,nat(dst=fe80::1))", "ipv6", "ct(commit,nat(dst=fe80::1))"],
    ["ct(nat),ct_clear", "ip", "ct(nat),ct_clear"],
    ["learn(table=1,NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],in_port=5,NXM_NX_REG0[0..3]=0x5,load:0x1->NXM_NX_REG1[],output:NXM_OF_IN_PORT[])", "", "learn(table=1,NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],in_port=5,NXM_NX_REG0[0..3]=0x5,load:0x1->NXM_NX_REG1[],output:NXM_OF_IN_PORT[])"],
    ["conjunction(5,1/2)", "", "conjunction(5,1/2)"],
    ["clone(output:1,clone(output:2))", "", "clone(output:1,clone(output:2))"],
    ["fin_timeout(idle_timeout=5,hard_timeout=10)", "tcp", "fin_timeout(idle_timeout=5,hard_timeout=10)"],
    ["output(port=1,max_len=100)", "", "output(port=1,max_len=100)"],
    ["sample(probability=100,collector_set_id=1,obs_domain_id=2,obs_point_id=3,sampling_port=4,ingress)", "", "sample(probability=100,collector_set_id=1,obs_domain_id=2,obs_point_id=3,sampling_port=4,ingress)"],
    ["write_metadata:0x1/0x3,goto_table:5", "", "write_metadata:0x1/0x3,goto_table:5"],
    ["", "", "drop"],
  ])("%s (match %s) prints %s", (text, match, printed) => {
    expect(raw(text, match)).toBe(printed);
  });
});

describe("formatActions after an OpenFlow trip", () => {
  const trip = (text: string, match: string, protocol: "OpenFlow10" | "OpenFlow13"): string => {
    const spec = parseFlow(`${match}${match ? "," : ""}actions=${text}`);
    return formatActions(spec.actions, { protocol, match: spec.match });
  };

  it("pushes a tag for mod_vlan_vid in OpenFlow 1.3 only when the match has none", () => {
    expect(trip("mod_vlan_vid:1", "in_port=1", "OpenFlow13")).toBe("push_vlan:0x8100,set_field:4097->vlan_vid");
    expect(trip("mod_vlan_vid:1", "dl_vlan=5", "OpenFlow13")).toBe("set_field:4097->vlan_vid");
    expect(trip("mod_vlan_vid:1", "in_port=1", "OpenFlow10")).toBe("mod_vlan_vid:1");
  });

  it("prints set_field as load or OpenFlow 1.0 actions in OpenFlow 1.0", () => {
    expect(trip("set_field:5->reg1,set_field:fa:16:3e:00:00:01->eth_src,set_field:0x1005->vlan_tci", "", "OpenFlow10")).toBe(
      "load:0x5->NXM_NX_REG1[],mod_dl_src:fa:16:3e:00:00:01,mod_vlan_vid:5,mod_vlan_pcp:0",
    );
    expect(trip("set_field:1.2.3.0/24->ip_dst", "ip", "OpenFlow13")).toBe("load:0x10203->NXM_OF_IP_DST[8..31]");
  });

  it("splits a load wider than 64 bits into 64-bit pieces", () => {
    expect(trip("ct(commit,exec(set_field:0x0102030405060708090a0b0c0d0e0f10->ct_label))", "ip", "OpenFlow10")).toBe(
      "ct(commit,exec(load:0x90a0b0c0d0e0f10->NXM_NX_CT_LABEL[0..63],load:0x102030405060708->NXM_NX_CT_LABEL[64..127]))",
    );
  });

  it("turns goto_table into resubmit and enqueue into set_queue/output/pop_queue where the version lacks them", () => {
    expect(trip("goto_table:3", "", "OpenFlow10")).toBe("resubmit(,3)");
    expect(trip("enqueue:1:2", "", "OpenFlow13")).toBe("set_queue:2,output:1,pop_queue");
  });

  it("pads notes as the NXAST_NOTE encoding does", () => {
    expect(trip("note:01", "", "OpenFlow13")).toBe("note:01.00.00.00.00.00");
    expect(trip("note:01.02.03.04.05.06.07", "", "OpenFlow13")).toBe("note:01.02.03.04.05.06.07.00.00.00.00.00.00.00");
  });
});

describe("parseActions errors", () => {
  it.each([
    ["bogus", "unknown action bogus"],
    ["output:1,drop", '"drop" must not be accompanied by any other action or instruction'],
    ["mod_vlan_vid:4096", "4096: not a valid VLAN VID"],
    ["load:0x10->NXM_NX_REG0[0..3]", "0x10->NXM_NX_REG0[0..3]: value 0x10 does not fit into 4 bits"],
    ["move:reg0[0..15]->reg1[0..7]", "reg0[0..15]->reg1[0..7]: source field is 16 bits wide but destination is 8 bits wide"],
    ["set_field:1->eth_type", "eth_type is read-only"],
    ["set_field:1->ct_mark", "cannot set CT fields outside of ct action"],
    ["goto_table:1,output:1", "invalid instruction ordering: apply_actions must appear before goto_table, for OpenFlow 1.1+ compatibility"],
    ["conjunction(1,1/2),output:1", '"conjunction" actions may be used along with "note" but not any other kind of action (such as the "output" action used here)'],
    ["bundle(eth_src,0,hrw,ofport,members:1)", "bundle: action not supported by flowplane"],
  ])("%s: %s", (text, reason) => {
    let err: unknown;
    try {
      parseActions(text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FlowSyntaxError);
    expect((err as FlowSyntaxError).reason).toBe(reason);
  });
});

describe("property: printing without a protocol and parsing again is stable", () => {
  const actionTexts = [
    "output:3",
    "NORMAL",
    "CONTROLLER:100",
    "resubmit(,7)",
    "resubmit:2",
    "mod_vlan_vid:9",
    "load:0x3->NXM_NX_REG4[2..3]",
    "set_field:0x7/0xf->reg5",
    "move:NXM_NX_REG1[0..7]->NXM_NX_REG2[8..15]",
    "set_tunnel:0x42",
    "note:aa.bb",
    "learn(table=9,NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],output:NXM_OF_IN_PORT[])",
    "clone(output:4)",
    "ct_clear",
  ];
  const matchTexts = ["", "ip", "tcp,tp_dst=80", "arp,arp_tpa=10.0.0.1", "dl_vlan=7", "reg3=0x5/0xff", "ipv6,ipv6_src=2001:db8::/48"];

  it("format(parse(format(parse(x)))) == format(parse(x))", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...matchTexts),
        fc.array(fc.constantFrom(...actionTexts), { maxLength: 5 }),
        fc.integer({ min: 0, max: 65535 }),
        fc.integer({ min: 0, max: 200 }),
        (match, actions, priority, table) => {
          const line = `table=${table},priority=${priority}${match ? "," + match : ""},actions=${actions.join(",")}`;
          const once = formatFlow(parseFlow(line));
          expect(formatFlow(parseFlow(once))).toBe(once);
        },
      ),
      { numRuns: 300 },
    );
  });
});
