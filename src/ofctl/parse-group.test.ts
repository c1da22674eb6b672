import { describe, expect, it } from "vitest";
import { formatGroup, parseGroup, parseGroups } from "./parse-group.js";
import { FlowSyntaxError } from "./errors.js";
import { OFPG_ANY, WATCH_PORT_NONE } from "../openflow/group.js";

describe("parseGroup", () => {
  it("reads a select group with weights and watch ports", () => {
    const g = parseGroup("group_id=1,type=select,bucket=weight:100,watch_port:1,actions=output:1,bucket=weight:50,actions=output:2");
    expect(g).toEqual({
      groupId: 1,
      type: "select",
      selection: { method: "", param: 0n, fields: [] },
      buckets: [
        { bucketId: 0, weight: 100, watchPort: 1, watchGroup: OFPG_ANY, actions: [{ type: "output", port: 1, maxLen: 0 }] },
        { bucketId: 1, weight: 50, watchPort: WATCH_PORT_NONE, watchGroup: OFPG_ANY, actions: [{ type: "output", port: 2, maxLen: 0 }] },
      ],
    });
  });

  it("gives select buckets weight 1 and other buckets weight 0 by default", () => {
    expect(parseGroup("group_id=2,type=select,bucket=output:1").buckets[0].weight).toBe(1);
    expect(parseGroup("group_id=2,type=all,bucket=output:1").buckets[0].weight).toBe(0);
  });

  it("takes bare actions in a bucket, and bucket_id", () => {
    const g = parseGroup("group_id=3,type=ff,bucket=bucket_id:7,watch_port:2,mod_dl_src:00:00:00:00:00:01,output:2");
    expect(g.buckets[0].bucketId).toBe(7);
    expect(g.buckets[0].actions.map((a) => a.type)).toEqual(["set_eth_src", "output"]);
  });

  it("prints groups like dump-groups -O OpenFlow13", () => {
    const text = [
      "group_id=1,type=select,bucket=weight:100,watch_port:1,actions=output:1,bucket=weight:50,actions=output:2",
      "group_id=2,type=all,bucket=output:1,bucket=actions=mod_dl_src:00:00:00:00:00:01,output:2",
      "group_id=3,type=ff,bucket=watch_port:1,output:1,bucket=watch_group:2,output:2",
      "group_id=4,type=indirect,bucket=actions=set_field:5->reg0,resubmit(,3)",
    ].join("\n");
    expect(parseGroups(text, "groups.txt").map((g) => formatGroup(g, { protocol: "OpenFlow13" }))).toEqual([
      "group_id=1,type=select,bucket=weight:100,watch_port:1,actions=output:1,bucket=weight:50,actions=output:2",
      "group_id=2,type=all,bucket=actions=output:1,bucket=actions=set_field:00:00:00:00:00:01->eth_src,output:2",
      "group_id=3,type=ff,bucket=watch_port:1,actions=output:1,bucket=watch_group:2,actions=output:2",
      "group_id=4,type=indirect,bucket=actions=set_field:0x5->reg0,resubmit(,3)",
    ]);
  });

  it("prints bucket ids in OpenFlow 1.5", () => {
    expect(formatGroup(parseGroup("group_id=5,type=all,bucket=output:1"), { protocol: "OpenFlow15" })).toBe(
      "group_id=5,type=all,bucket=bucket_id:0,actions=output:1",
    );
  });

  it.each([
    ["type=all,bucket=output:1", "must specify a group_id"],
    ["group_id=1,bucket=output:1", "must specify a type"],
    ["group_id=1,type=bogus,bucket=output:1", "invalid group type bogus"],
    ["group_id=4294967295,type=all", "invalid group id 4294967295"],
    ["group_id=1,type=all,bucket=weight:5,output:1", "Only select groups can have bucket weights."],
    ["group_id=1,type=indirect,bucket=output:1,bucket=output:2", "Indirect groups can have at most one bucket."],
    ["group_id=1,type=ff,bucket=output:1", "fast failover bucket requires watch_port or watch_group"],
    ["group_id=1,type=all,bucket=weight:5", "bucket must specify actions"],
    ["group_id=1,type=all,bogus=1", "unknown keyword bogus"],
    ["group_id=1,type=all,bucket=actions=bogus", "unknown action bogus"],
  ])("rejects %s: %s", (text, reason) => {
    let err: unknown;
    try {
      parseGroups(`\n${text}\n`, "groups.txt");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FlowSyntaxError);
    const e = err as FlowSyntaxError;
    expect(e.reason).toBe(reason);
    expect(e.line).toBe(2);
    expect(e.message.startsWith(`groups.txt:2:${e.column}: `)).toBe(true);
  });
});
