/**
 * An OpenFlow 1.3 meter as `ovs-ofctl add-meter` writes it and `dump-meters`
 * prints it (OVS's ofputil_meter_config / ofputil_meter_band,
 * include/openvswitch/ofp-meter.h).
 *
 * Invariants: meterId is 1..OFPM13_MAX or one of the virtual meters
 * OFPM13_SLOWPATH / OFPM13_CONTROLLER; flags hold exactly one of KBPS and
 * PKTPS; every band has a type, a non-zero rate, a burst size exactly when
 * the BURST flag is set, and a precedence level exactly when it is a
 * dscp_remark band.
 */

/** Meter flags (enum ofp13_meter_flags). */
export const OFPMF13_KBPS = 1 << 0;
export const OFPMF13_PKTPS = 1 << 1;
export const OFPMF13_BURST = 1 << 2;
export const OFPMF13_STATS = 1 << 3;

/** Band types (enum ofp13_meter_band_type). */
export const OFPMBT13_DROP = 1;
export const OFPMBT13_DSCP_REMARK = 2;

/** The largest ordinary meter id (OFPM13_MAX). */
export const OFPM13_MAX = 0xffff0000;
/** Virtual meters: upcalls to the slow path, and packets to the controller. */
export const OFPM13_SLOWPATH = 0xfffffffd;
export const OFPM13_CONTROLLER = 0xfffffffe;
/** Every meter (a del-meters or dump-meters selection). */
export const OFPM13_ALL = 0xffffffff;

export interface MeterBand {
  /** OFPMBT13_DROP or OFPMBT13_DSCP_REMARK. */
  type: number;
  /** kbps or packets per second, as the meter's flags say. */
  rate: number;
  /** kilobits or packets; 0 unless the meter has the BURST flag. */
  burstSize: number;
  /** dscp_remark's drop precedence increase; 0 for other bands. */
  precLevel: number;
}

export interface Meter {
  meterId: number;
  flags: number;
  bands: MeterBand[];
}
