/**
 * Conntrack checks IPv4 header and L4 checksums four bytes at a time
 * (tuple.ts): every payload size (odd, even, not a multiple of four) must
 * give +new for a correct checksum and +inv when any one byte of the
 * checksummed data is changed, as OVS's checksum_valid() decides.
 */
import { describe, expect, it } from "vitest";
import { Conntrack } from "../../src/conntrack/conntrack.js";
import { build } from "../../src/packet/build.js";
import { ct, run, udp4, v4 } from "./helpers.js";

describe("conntrack checksum checks", () => {
  it("accepts correct UDP and ICMP checksums of every size up to 13 bytes of payload and refuses a changed byte", () => {
    for (let size = 0; size <= 13; size++) {
      const payload = Uint8Array.from({ length: size }, (_, i) => (i * 37 + 11) & 0xff);
      expect(run(new Conntrack(), udp4("10.0.0.1:1000", "10.0.0.2:53", payload), ct()).states, `udp ${size}`).toBe("+new+trk");
      const icmp = (): ReturnType<typeof v4> => v4("10.0.0.1", "10.0.0.2", build.icmpEcho({ id: 7, seq: 1, payload }));
      expect(run(new Conntrack(), icmp(), ct()).states, `icmp ${size}`).toBe("+new+trk");
      // Every byte of the ports, the checksum and the payload (the length would be refused for itself).
      for (let at = 0; at < 8 + size; at++) {
        if (at === 4 || at === 5) continue;
        const p = udp4("10.0.0.1:1000", "10.0.0.2:53", payload);
        p.frame[p.l4 + at] ^= 0x40;
        expect(run(new Conntrack(), p, ct()).states, `udp ${size} byte ${at}`).toBe("+inv+trk");
      }
      const i = icmp();
      i.frame[i.frame.length - 1] ^= 0x01;
      expect(run(new Conntrack(), i, ct()).states, `icmp ${size} last byte`).toBe("+inv+trk");
    }
  });

  it("refuses an IPv4 header whose checksum is off by a changed byte, at every header byte the checksum covers", () => {
    // TOS, identification, TTL, checksum, addresses: bytes that change nothing else conntrack checks.
    for (const at of [1, 4, 5, 8, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]) {
      const p = udp4("10.0.0.1:1000", "10.0.0.2:53");
      p.frame[p.l3 + at] ^= 0x01;
      expect(run(new Conntrack(), p, ct()).states, `ip byte ${at}`).toBe("+inv+trk");
    }
  });
});
