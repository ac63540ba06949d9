//! The event ring buffer's sizing and wake-up policy, shared by the kernel side (which
//! decides when a record wakes the reader) and the recorder (which drains on a timer).
//! `docs/recorder.md` derives the bounds.

/// Default size of the `EVENTS` ring buffer in bytes (`--ring-buffer-size` changes it).
pub const DEFAULT_RING_BYTES: u32 = 16 << 20;

/// A record submitted while the ring holds at least `ring bytes / WAKEUP_FILL_DIVISOR` unread
/// bytes forces a reader wake-up; below that, records wait for the recorder's timer.
pub const WAKEUP_FILL_DIVISOR: u64 = 4;

/// The recorder drains the ring at least this often, in milliseconds.
pub const DRAIN_PERIOD_MS: u64 = 10;

/// The fill level, in unread bytes, at which a submit forces a wake-up for a ring of
/// `ring_bytes`.
pub const fn wakeup_fill_bytes(ring_bytes: u32) -> u64 {
    ring_bytes as u64 / WAKEUP_FILL_DIVISOR
}
