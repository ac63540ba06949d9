//! When a record wakes the reader.
//!
//! A ring-buffer submit with flags 0 asks for an *adaptive* notification: the kernel queues an
//! irq_work (a self-IPI) and wakes the reader whenever the reader had caught up, which in a
//! ping-pong session is every record. That costs about 5–6 µs on the host and lands between
//! an entry's timestamp and its exit's, where the interrupt counters cannot see it
//! (`kernel/bpf/ringbuf.c`, `bpf_ringbuf_commit`). So records are submitted with
//! `BPF_RB_NO_WAKEUP`, and user space drains the ring on a timer (`docs/recorder.md`). Only
//! when the unread bytes pass `WAKEUP_FILL_BYTES` does a submit force a wake-up, so that a
//! burst cannot fill the ring before the next timer tick: no loss at high rates, no
//! notification at low ones. Each CPU looks at the fill once per
//! `probe_common::ring::FILL_CHECK_EVERY` records (`FILL_CHECKS`), not at every record.

use aya_ebpf::{
    bindings::{BPF_RB_AVAIL_DATA, BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP},
    maps::RingBuf,
};

use probe_common::ring::FILL_CHECK_EVERY;

use crate::{maps::FILL_CHECKS, settings};

/// The submit flags for the next record of `ring`: no wake-up below the fill level, a forced
/// one at or above it, looked at once per `FILL_CHECK_EVERY` records of this CPU.
/// `bpf_ringbuf_query` takes no lock, but it reads two positions that other CPUs write.
#[inline(always)]
pub fn submit_flags(ring: &RingBuf) -> u64 {
    let fill = settings::WAKEUP_FILL_BYTES.load();
    if fill == 0 {
        // The kernel's adaptive default, kept only to measure what it costs (`cargo xtask
        // bench`, `record --wakeup-fill-bytes 0`).
        return 0;
    }
    if let Some(p) = FILL_CHECKS.get_ptr_mut(0) {
        // SAFETY: per-CPU value; programs on one CPU run one at a time. (Where another
        // mechanism's program could nest, an update lost to it only moves the next look.)
        let since = unsafe { &mut *p };
        if *since + 1 < FILL_CHECK_EVERY {
            *since += 1;
            return u64::from(BPF_RB_NO_WAKEUP);
        }
        *since = 0;
    }
    let unread = ring.query(u64::from(BPF_RB_AVAIL_DATA));
    if unread >= fill {
        u64::from(BPF_RB_FORCE_WAKEUP)
    } else {
        u64::from(BPF_RB_NO_WAKEUP)
    }
}

/// Submit flags for the kernel log ring: never a wake-up; the recorder drains it on its timer.
pub const LOG_SUBMIT_FLAGS: u64 = BPF_RB_NO_WAKEUP as u64;
