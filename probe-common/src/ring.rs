//! The event ring buffer's sizing and wake-up policy, shared by the kernel side (which
//! decides when a record wakes the reader) and the recorder (which drains on a timer).
//! `docs/recorder.md` derives the bounds.

/// Default size of the `EVENTS` ring buffer in bytes (`--ring-buffer-size` changes it).
pub const DEFAULT_RING_BYTES: u32 = 16 << 20;

/// A record submitted while the ring holds at least `ring bytes / WAKEUP_FILL_DIVISOR` unread
/// bytes forces a reader wake-up; below that, records wait for the recorder's timer.
pub const WAKEUP_FILL_DIVISOR: u64 = 4;

/// A CPU looks at the ring's fill (`bpf_ringbuf_query`) once per this many records it
/// submits, not at every record: the query reads the producer and consumer positions, which
/// the other CPUs and the recorder keep writing, and at every record it was 2–3 % of the
/// machine's CPU in saturation. Between two looks a CPU submits at most
/// `FILL_CHECK_EVERY - 1` records unchecked, so the fill can pass the level by at most
/// `(FILL_CHECK_EVERY - 1) × 72` bytes per CPU (4.4 KiB) before a wake-up is forced.
pub const FILL_CHECK_EVERY: u32 = 64;

/// The recorder drains the ring at least this often, in milliseconds.
pub const DRAIN_PERIOD_MS: u64 = 10;

/// The fill level, in unread bytes, at which a submit forces a wake-up for a ring of
/// `ring_bytes`.
pub const fn wakeup_fill_bytes(ring_bytes: u32) -> u64 {
    ring_bytes as u64 / WAKEUP_FILL_DIVISOR
}
