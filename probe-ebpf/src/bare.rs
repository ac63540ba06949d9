//! The bare timing pair (`kpath-probe calibrate`): a timestamp at entry, one at exit, the
//! difference kept. It is what any tool that times an interval on a hook must do at least
//! (bpftrace's `@start[tid] = nsecs` … `nsecs - @start[tid]`), so kpath's calibrated pair
//! minus this one is kpath's own share. Only the calibrating process is timed (`FILTER_PID`),
//! and calibration pins itself to one CPU, so the per-CPU start slot is its own.

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

/// The last `BARE_SAMPLE_SLOTS` bare intervals, in ns.
#[map]
pub static BARE_SAMPLES: Array<u64> = Array::with_max_entries(BARE_SAMPLE_SLOTS, 0);

#[inline(always)]
fn calibrating() -> bool {
    (bpf_get_current_pid_tgid() >> 32) as u32 == settings::FILTER_PID.load()
}

/// Entry: the filter, then the timestamp, last.
#[inline(always)]
pub fn enter() {
    if !calibrating() {
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
    if !calibrating() {
        return;
    }
    let (Some(start), Some(count)) = (BARE_START.get_ptr_mut(0), BARE_COUNT.get_ptr_mut(0)) else {
        return;
    };
    // SAFETY: per-CPU slots; programs on one CPU run one at a time.
    let (begun, n) = unsafe { (*start, *count) };
    if begun == 0 || ts < begun {
        return;
    }
    let slot = (n as u32) & (BARE_SAMPLE_SLOTS - 1);
    if let Some(p) = BARE_SAMPLES.get_ptr_mut(slot) {
        // SAFETY: an array slot; only the calibrating CPU writes (see the module comment).
        unsafe { *p = ts - begun };
    }
    // SAFETY: as above.
    unsafe {
        *start = 0;
        *count = n + 1;
    }
}
