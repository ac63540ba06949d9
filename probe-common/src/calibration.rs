//! The bare timing pair of `kpath-probe calibrate`: what the kernel side keeps for it.
//!
//! The bare pair does only what any interval timing must do, on the same hook as kpath's pair:
//! a timestamp at entry stored per CPU, a timestamp at exit, and the difference stored. kpath's
//! calibrated pair minus the bare pair is kpath's own share of the probe cost.

/// Slots of the `BARE_SAMPLES` array: the last this many bare intervals are kept (the exit
/// program writes slot `n % BARE_SAMPLE_SLOTS` of its `n`-th interval).
pub const BARE_SAMPLE_SLOTS: u32 = 1 << 16;

const _: () = assert!(
    BARE_SAMPLE_SLOTS.is_power_of_two(),
    "the exit program masks the index"
);
