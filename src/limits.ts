/**
 * Every bound the engine keeps, in one place, each with the reason for its
 * value (TigerBeetle's constants.zig). Tables, queues and loops never grow
 * past these on the fast path: when full they count and drop, or evict.
 */

/** Frames per batch: OVS's NETDEV_MAX_BURST. Large enough to amortise the
 * per-batch work, small enough that a batch's keys stay in L1 cache. */
export const BATCH_MAX = 32;

/** VLAN headers parsed into the flow key. OVS's FLOW_MAX_VLAN_HEADERS. */
export const VLAN_HEADERS_MAX = 2;

/** VLAN headers the parser actually decodes by default: OVS's `vlan-limit`
 * (other_config), whose default 1 means a second (inner) tag is left as
 * payload and dl_type stays 0x8100. */
export const VLAN_LIMIT_DEFAULT = 1;

/** MPLS label stack entries kept in the flow key: OVS's FLOW_MAX_MPLS_LABELS. */
export const MPLS_LABELS_MAX = 3;

/** Largest frame a port accepts (jumbo frames plus two VLAN tags; GSO frames
 * in captures may be larger and are carried whole up to the capture's snaplen). */
export const FRAME_SIZE_MAX = 65535;

/** Live recirculation ids (frozen translation states). OVS's pool is 32-bit;
 * one id lives per distinct frozen state a cached megaflow names, so a bound
 * well above the megaflow limit never refuses a real pipeline. */
export const RECIRC_IDS_MAX = 1 << 20;

/** How often one packet may re-enter the datapath: OVS's MAX_RECIRC_DEPTH
 * (lib/dpif-netdev.c); a deeper recirculation drops the packet. */
export const RECIRC_DEPTH_MAX = 6;

/** Ports one Neutron description may hold (security groups and routers): a
 * compute host carries a few hundred VM ports; the compilers refuse more so a
 * bad file cannot make them print millions of flows. */
export const NEUTRON_PORTS_MAX = 4096;

/** Security groups, and rules per group, one description may hold (Neutron's
 * default quota is 10 groups and 100 rules per project; this is far above). */
export const NEUTRON_GROUPS_MAX = 1024;
export const NEUTRON_RULES_MAX = 4096;

/** Leading address bits a prefix trie's jump table resolves (one 8-byte entry
 * per value: 2^16 entries, 512 KiB per trie that builds one). 16 bits skip
 * the dense top of a large IPv4 trie, about half of a 10k-prefix walk; more
 * bits would cost megabytes per trie for a level or two. */
export const PREFIX_JUMP_BITS = 16;

/** Tries smaller than this many nodes walk from the root: their top levels are
 * few and stay in cache, so a 512 KiB table would cost more than it saves. */
export const PREFIX_JUMP_NODES_MIN = 256;

/** Unchanged lookups before the classifier's address tries build their jump
 * table: rebuilding costs 2^PREFIX_JUMP_BITS short walks, about this many
 * lookups, so a table under constant change never spends more than half its
 * time rebuilding. */
export const PREFIX_JUMP_AFTER_LOOKUPS = 1 << 16;

/** Datapath meters the switch holds across its bridges: dpif-netdev's
 * MAX_METERS, what OVS reports as max_meter; add-meter beyond it fails with
 * OFPMMFC_OUT_OF_METERS. Their token buckets grow with the highest id in
 * use (ids are handed out lowest first), never on the fast path. */
export const METERS_MAX = 1 << 18;

/** Bands per meter: dpif-netdev's MAX_BANDS (max_bands in meter features);
 * more is refused with OFPMMFC_OUT_OF_BANDS. */
export const METER_BANDS_MAX = 8;
