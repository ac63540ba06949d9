//! The event rings' number, sizing and wake-up policy, shared by the kernel side (which
//! chooses a CPU's ring and decides when a record wakes the reader) and the recorder (which
//! drains every ring on a timer and merges them). `docs/recorder.md` derives the bounds.

/// Default size of each event ring in bytes (`--ring-buffer-size` changes it).
pub const DEFAULT_RING_BYTES: u32 = 16 << 20;

/// Event rings in the object: `EVENTS_0` … `EVENTS_7`. CPU `c` writes to ring
/// `c % EVENT_RINGS` ([`ring_of_cpu`]), so that on up to eight CPUs no two CPUs share a ring's
/// lock and producer position (one ring for all CPUs put `__bpf_ringbuf_reserve` at 13–26 %
/// of the machine's CPU in a two-thread syscall loop). Static maps, not a map of per-CPU rings:
/// aya-ebpf's map-in-map is BTF-only, and each ring's reservation is its own branch
/// (`probe-ebpf/src/maps.rs`, `on_event_ring!`).
pub const EVENT_RINGS: u32 = 8;

/// The rings' map names, by index.
pub const EVENT_RING_NAMES: [&str; EVENT_RINGS as usize] = [
    "EVENTS_0", "EVENTS_1", "EVENTS_2", "EVENTS_3", "EVENTS_4", "EVENTS_5", "EVENTS_6", "EVENTS_7",
];

/// The ring CPU `cpu` writes to.
pub const fn ring_of_cpu(cpu: u32) -> u32 {
    cpu % EVENT_RINGS
}

const _: () = assert!(EVENT_RINGS.is_power_of_two());

/// A record submitted while its ring holds at least `ring bytes / WAKEUP_FILL_DIVISOR` unread
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
