/**
 * The Neutron compilers on their own: Neutron's port-range masking (exact
 * cover, and the worked examples in neutron/common/utils.py and the firewall
 * document), the driver's flows for the document's example ports, the
 * router's flows, that every printed line parses back to itself, and that
 * bad descriptions are refused with the item named.
 */
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { portRuleMasking } from "../../src/neutron/port-range.js";
import { parseSgInput } from "../../src/neutron/sg-model.js";
import { compileSecurityGroups } from "../../src/neutron/sg-flows.js";
import { parseRouterInput } from "../../src/neutron/router-model.js";
import { compileRouter } from "../../src/neutron/router-flows.js";
import { loadRouterInput, loadSgInput } from "../../src/neutron/load.js";
import { canonicalFlow } from "../../src/neutron/flow-text.js";
import { WIDE_SG } from "./fixtures.js";

const ROOT = join(import.meta.dirname, "../..");

/** The ports a list of "value/mask" matches accepts. */
function covered(matches: string[]): Set<number> {
  const out = new Set<number>();
  for (const m of matches) {
    const [v, mask] = m.split("/").map((x) => parseInt(x, 16));
    const mk = mask ?? 0xffff;
    for (let p = 0; p <= 0xffff; p++) if ((p & mk) === (v & mk)) out.add(p);
  }
  return out;
}

describe("port_rule_masking", () => {
  it("gives Neutron's worked examples", () => {
    expect(portRuleMasking(64, 105)).toEqual(["0x0040/0xffe0", "0x0060/0xfff8", "0x0068/0xfffe"]);
    expect(portRuleMasking(40, 105)).toEqual(["0x0030/0xfff0", "0x0028/0xfff8", "0x0040/0xffe0", "0x0060/0xfff8", "0x0068/0xfffe"]);
    expect(portRuleMasking(16, 23)).toEqual(["0x0010/0xfff8"]);
    expect(portRuleMasking(22, 22)).toEqual(["0x0016"]);
  });

  it("covers exactly the range, with disjoint matches", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 0, max: 3000 }), (min, span) => {
        const max = Math.min(65535, min + span);
        const matches = portRuleMasking(min, max);
        const got = covered(matches);
        expect(got.size).toBe(max - min + 1);
        expect(Math.min(...got)).toBe(min);
        expect(Math.max(...got)).toBe(max);
        let total = 0;
        for (const m of matches) total += covered([m]).size;
        expect(total).toBe(got.size);
      }),
      { numRuns: 60, seed: 7 },
    );
  });

  it("refuses a reversed range", () => {
    expect(() => portRuleMasking(80, 22)).toThrow(/'port_max' is smaller than 'port_min'/);
  });
});

describe("sg-flows", () => {
  const lines = compileSecurityGroups(parseSgInput(WIDE_SG));

  it("prints the flows of Neutron's firewall document for its example ports", () => {
    // Lines of doc/source/contributor/internals/openvswitch_firewall.rst (current driver: egress ARP to 94).
    for (const l of [
      "table=60, priority=100,in_port=1 actions=load:0x1->NXM_NX_REG5[],load:0x284->NXM_NX_REG6[],resubmit(,71)",
      "table=71, priority=95,arp,reg5=0x2,in_port=2,dl_src=fa:16:3e:8c:84:14,arp_spa=10.1.0.0/24 actions=resubmit(,94)",
      "table=71, priority=65,ip,reg5=0x2,in_port=2,dl_src=fa:16:3e:8c:84:14,nw_src=10.1.0.0/24 actions=ct(table=72,zone=NXM_NX_REG6[0..15])",
      "table=71, priority=65,ipv6,reg5=0x1,in_port=1,dl_src=fa:16:3e:a4:22:10,ipv6_src=fe80::f816:3eff:fea4:2210 actions=ct(table=72,zone=NXM_NX_REG6[0..15])",
      "table=71, priority=70,udp,reg5=0x1,in_port=1,tp_src=67,tp_dst=68 actions=resubmit(,93)",
      "table=72, priority=75,ct_state=+est-rel-rpl,icmp,reg5=0x1 actions=resubmit(,73)",
      "table=72, priority=50,ct_state=+inv+trk actions=resubmit(,93)",
      "table=72, priority=50,ct_state=+est-rel+rpl,ct_zone=644,ct_mark=0,reg5=0x1 actions=resubmit(,94)",
      "table=73, priority=100,reg6=0x284,dl_dst=fa:16:3e:8c:84:14 actions=load:0x2->NXM_NX_REG5[],resubmit(,81)",
      "table=73, priority=90,ct_state=+new-est,ip,reg5=0x1 actions=ct(commit,zone=NXM_NX_REG6[0..15]),resubmit(,91)",
      "table=81, priority=90,ct_state=-trk,ipv6,reg5=0x2 actions=ct(table=82,zone=NXM_NX_REG6[0..15])",
      "table=82, priority=71,ct_state=+est-rel-rpl,ip,reg6=0x284,nw_src=192.168.0.1 actions=conjunction(18,1/2)",
      "table=82, priority=71,ct_state=+new-est,ip,reg6=0x284,nw_src=10.0.0.1 actions=conjunction(19,1/2)",
      "table=82, priority=71,ct_state=+est-rel-rpl,icmp,reg5=0x2 actions=conjunction(18,2/2)",
      "table=82, priority=73,ct_state=+est-rel-rpl,tcp,reg5=0x2,tp_dst=0x60/0xffe0 actions=conjunction(22,2/2)",
      "table=82, priority=73,ct_state=+new-est,tcp,reg5=0x2,tp_dst=0x40/0xfff0 actions=conjunction(23,2/2)",
      "table=82, priority=73,ct_state=+est-rel-rpl,tcp,reg5=0x2,tp_dst=81 actions=conjunction(22,2/2)",
      "table=82, priority=50,ct_state=-new-est+rel-inv,ct_zone=644,ct_mark=0,reg5=0x2 actions=output:2",
      "table=82, priority=40,ct_state=+est,ip,reg5=0x2 actions=ct(commit,zone=NXM_NX_REG6[0..15],exec(load:0x1->NXM_NX_CT_MARK[]))",
    ]) {
      expect(lines, l).toContain(l);
    }
    // merge_port_ranges: TCP from sg1 (any port) and TCP 80 from sg2 share one flow for port 80 with both conjunctions.
    expect(lines.filter((l) => /tcp,reg5=0x2,tp_dst=80 /.test(l))).toEqual([
      "table=82, priority=73,ct_state=+est-rel-rpl,tcp,reg5=0x2,tp_dst=80 actions=conjunction(22,2/2),conjunction(30,2/2)",
      "table=82, priority=73,ct_state=+new-est,tcp,reg5=0x2,tp_dst=80 actions=conjunction(23,2/2),conjunction(31,2/2)",
    ]);
    // The conj_id accept flows load the id into reg7.
    expect(lines).toContain("table=82, priority=71,conj_id=19,ct_state=+new-est,ip,reg5=0x2 actions=load:0x13->NXM_NX_REG7[],ct(commit,zone=NXM_NX_REG6[0..15]),output:2,resubmit(,92)");
  });

  it("gives a port on another host no flows, but its addresses to its group", () => {
    expect(lines.some((l) => l.includes("fa:16:3e:00:33:33"))).toBe(false);
    expect(lines).toContain("table=82, priority=70,ct_state=+new-est,ip,reg6=0x284,nw_src=192.168.0.33 actions=conjunction(33,1/2)");
  });

  it("puts a port without groups in Neutron's default group", () => {
    // port4 (VLAN 7) is in "default": egress anything, ingress from default members (itself).
    expect(lines).toContain("table=72, priority=74,ct_state=+new-est,ip,reg5=0x4 actions=resubmit(,73)");
    expect(lines).toContain("table=82, priority=70,ct_state=+new-est,ip,reg6=0x7,nw_src=172.16.0.4 actions=conjunction(49,1/2)");
  });

  it("leaves a port without port security unfiltered", () => {
    const sg = compileSecurityGroups(loadSgInput(join(ROOT, "pcaps/neutron/sg.json")));
    expect(sg).toContain("table=60, priority=100,in_port=10 actions=load:0xa->NXM_NX_REG5[],load:0x1->NXM_NX_REG6[],resubmit(,73)");
    expect(sg).toContain("table=73, priority=80,reg5=0xa actions=resubmit(,94)");
    expect(sg.filter((l) => /reg5=0xa\b/.test(l) && !l.startsWith("table=73, priority=80"))).toEqual([]);
    // The scenario's web group: TCP 22 and 80 and ICMP in, nothing for 23.
    expect(sg).toContain("table=82, priority=77,ct_state=+new-est,tcp,reg5=0x1,tp_dst=22 actions=ct(commit,zone=NXM_NX_REG6[0..15]),output:1,resubmit(,92)");
    expect(sg).toContain("table=82, priority=75,ct_state=+new-est,icmp,reg5=0x1 actions=ct(commit,zone=NXM_NX_REG6[0..15]),output:1,resubmit(,92)");
    expect(sg.some((l) => /tp_dst=(23|0x17)\b/.test(l))).toBe(false);
  });

  it("prints lines that parse back to themselves", () => {
    for (const l of lines) expect(canonicalFlow(l)).toBe(l);
  });

  it("refuses bad descriptions, naming the item", () => {
    const bad = (patch: (d: any) => void): (() => unknown) => () => {
      const d = structuredClone(WIDE_SG) as any;
      patch(d);
      return parseSgInput(d);
    };
    expect(bad((d) => (d.ports[0].mac = "fa:16:3e:zz:00:00"))).toThrow(/ports\[0\] \(port1\): mac: .* is not a MAC address/);
    expect(bad((d) => (d.ports[1].security_groups = ["nope"]))).toThrow(/security group "nope" is not described/);
    expect(bad((d) => (d.security_groups[1].rules[4].port_range_min = 3000))).toThrow(/port_range_min 3000 is above port_range_max 1999/);
    expect(bad((d) => (d.security_groups[1].rules[0].remote_ip_prefix = "10.0.0.0/8"))).toThrow(/mutually exclusive/);
    expect(bad((d) => (d.security_groups[1].rules[0].protocol = "bogus"))).toThrow(/unknown protocol "bogus"/);
    expect(bad((d) => (d.security_groups[1].rules[8].remote_ip_prefix = "10.0.0.0/8"))).toThrow(/is not IPv6/);
    expect(bad((d) => (d.ports[3].ofport = 1))).toThrow(/ofport 1 is used twice/);
    expect(bad((d) => (d.ports[0].colour = "red"))).toThrow(/unknown key "colour"/);
  });
});

describe("router-flows", () => {
  const lines = compileRouter(loadRouterInput(join(ROOT, "pcaps/neutron/router.json")));

  it("answers ARP for gateways and floating IPs with br-tun's move/load responder", () => {
    expect(lines).toContain(
      "priority=100,arp,in_port=3,arp_tpa=172.24.4.11,arp_op=1 actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],mod_dl_src:fa:16:3e:00:04:02,load:0x2->NXM_OF_ARP_OP[],move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],load:0xfa163e000402->NXM_NX_ARP_SHA[],load:0xac18040b->NXM_OF_ARP_SPA[],IN_PORT",
    );
    expect(lines.filter((l) => l.includes("arp_op=1"))).toHaveLength(4);
  });

  it("follows the references' nat table: float-snat before the subnet SNAT, DNAT of floating IPs, metadata redirect", () => {
    const snat = lines.filter((l) => l.startsWith("table=40"));
    expect(snat[0]).toBe("table=40, priority=100,ct_state=+new+trk,ip,nw_src=10.0.0.11 actions=ct(commit,zone=1000,nat(src=172.24.4.11)),output:3");
    expect(snat).toContain("table=40, priority=90,ct_state=+new+trk,ip,nw_src=10.0.0.0/24 actions=ct(commit,zone=1000,nat(src=172.24.4.2)),output:3");
    expect(lines).toContain("table=10, priority=70,ct_state=+new+trk,ip,in_port=3,nw_dst=172.24.4.11 actions=ct(commit,table=20,zone=1000,nat(dst=10.0.0.11))");
    expect(lines).toContain("table=10, priority=90,ct_state=+new+trk,tcp,in_port=1,nw_dst=169.254.169.254,tp_dst=80 actions=ct(commit,zone=1000,nat(dst=10.0.0.1:9697)),LOCAL");
    // Between internal subnets: routed, never NATed.
    expect(lines).toContain("table=20, priority=124,ip,nw_dst=10.0.1.0/24 actions=dec_ttl,mod_dl_src:fa:16:3e:00:01:01,resubmit(,30)");
  });

  it("without SNAT, only floating IPs leave", () => {
    const noSnat = compileRouter(parseRouterInput({ ...routerJson(), external: { ...routerJson().external, enable_snat: false } }));
    expect(noSnat.some((l) => l.includes("nat(src=172.24.4.2)"))).toBe(false);
    expect(noSnat.some((l) => l.includes("nat(src=172.24.4.11)"))).toBe(true);
  });

  it("prints lines that parse back to themselves", () => {
    for (const l of lines) expect(canonicalFlow(l)).toBe(l);
  });

  it("refuses bad descriptions, naming the item", () => {
    const bad = (patch: (d: any) => void): (() => unknown) => () => {
      const d = routerJson();
      patch(d);
      return parseRouterInput(d);
    };
    expect(bad((d) => (d.internal[0].gateway_ip = "10.9.9.1"))).toThrow(/internal\[0\] \(rq-a\): gateway_ip: 10.9.9.1 is not in 10.0.0.0\/24/);
    expect(bad((d) => (d.internal[1].cidr = "10.0.0.0/16"))).toThrow(/overlaps/);
    expect(bad((d) => (d.floating_ips[0].fixed_ip = "10.0.0.99"))).toThrow(/not a host on an internal subnet/);
    expect(bad((d) => (d.external.ofport = 1))).toThrow(/ofport 1 is already rq-a/);
    expect(bad((d) => (d.ct_zone = 70000))).toThrow(/ct_zone/);
  });
});

function routerJson(): any {
  return JSON.parse(readFileSync(join(ROOT, "pcaps/neutron/router.json"), "utf8"));
}
