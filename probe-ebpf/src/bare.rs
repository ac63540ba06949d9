//! The bare timing pair (`kpath-probe calibrate`): a timestamp at entry, one at exit, the
//! difference kept. It is what any tool that times an interval on a hook must do at least
//! (bpftrace's `@start[tid] = nsecs` … `nsecs - @start[tid]`), so kpath's calibrated pair
//! minus this one is kpath's own share.
//!
//! Two users:
//! - calibration times only its own process (`FILTER_PID`) and pins itself to one CPU, so the
//!   per-CPU start slot is its own, and keeps each interval in `BARE_SAMPLES`;
//! - `kpath-probe bare-timing` (the bench's "timestamps only" condition) times every task on
//!   every tracepoint stage (`FILTER_PID` 0), for what the pair costs there, and keeps only a
//!   per-CPU count and sum. With one start slot per CPU, an interval with another nested in
//!   it finds the slot emptied by the inner one's exit and is not counted; the inner one is.
//!   Its figures are a cost reference, not a measurement.

use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, generated::bpf_ktime_get_ns},
    macros::map,
    maps::{Array, PerCpuArray},
};
use probe_common::calibration::BARE_SAMPLE_SLOTS;

use crate::settings;

/// Entry timestamp of the open bare interval on this CPU (0: none open).
#[map]
static BARE_START: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// Bare intervals completed on this CPU.
#[map]
static BARE_COUNT: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// Their sum, in ns.
#[map]
static BARE_TOTAL_NS: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// The last `BARE_SAMPLE_SLOTS` bare intervals, in ns.
#[map]
pub static BARE_SAMPLES: Array<u64> = Array::with_max_entries(BARE_SAMPLE_SLOTS, 0);

/// Whether this task is timed: the calibrating process, or every task when `FILTER_PID` is 0.
#[inline(always)]
fn timed() -> bool {
    let want = settings::FILTER_PID.load();
    want == 0 || (bpf_get_current_pid_tgid() >> 32) as u32 == want
}

/// Entry: the filter, then the timestamp, last.
#[inline(always)]
pub fn enter() {
    if !timed() {
        return;
    }
    let Some(start) = BARE_START.get_ptr_mut(0) else {
        return;
    };
    // SAFETY: helper without arguments.
    let ts = unsafe { bpf_ktime_get_ns() };
    // SAFETY: per-CPU slot; programs on one CPU run one at a time.
    unsafe { *start = ts };
}

/// Exit: the timestamp, first, then the filter and the bookkeeping.
#[inline(always)]
pub fn exit() {
    // SAFETY: helper without arguments.
    let ts = unsafe { bpf_ktime_get_ns() };
    if !timed() {
        return;
    }
    let (Some(start), Some(count), Some(total)) = (
        BARE_START.get_ptr_mut(0),
        BARE_COUNT.get_ptr_mut(0),
        BARE_TOTAL_NS.get_ptr_mut(0),
    ) else {
        return;
    };
    // SAFETY: per-CPU slots; programs on one CPU run one at a time.
    let (begun, n) = unsafe { (*start, *count) };
    if begun == 0 || ts < begun {
        return;
    }
    let interval = ts - begun;
    if settings::FILTER_PID.load() != 0 {
        let slot = (n as u32) & (BARE_SAMPLE_SLOTS - 1);
        if let Some(p) = BARE_SAMPLES.get_ptr_mut(slot) {
            // SAFETY: an array slot; only the calibrating CPU writes (see the module
            // comment). Every task's intervals are not kept: both CPUs would write the same
            // slots, and the cache line's trips between them would be cost no timer must pay.
            unsafe { *p = interval };
        }
    }
    // SAFETY: per-CPU slots, as above.
    unsafe {
        *start = 0;
        *count = n + 1;
        *total += interval;
    }
}
