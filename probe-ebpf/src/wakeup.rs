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
//! notification at low ones.

use aya_ebpf::{
    bindings::{BPF_RB_AVAIL_DATA, BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP},
    maps::RingBuf,
};

use crate::settings;

/// The submit flags for the next record of `ring`: no wake-up below the fill level, a forced
/// one at or above it. `bpf_ringbuf_query` reads two positions; it takes no lock.
#[inline(always)]
pub fn submit_flags(ring: &RingBuf) -> u64 {
    let fill = settings::WAKEUP_FILL_BYTES.load();
    if fill == 0 {
        // The kernel's adaptive default, kept only to measure what it costs (`cargo xtask
        // bench`, `record --wakeup-fill-bytes 0`).
        return 0;
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
