//! Per-CPU diagnostic counters the kernel side keeps and user space reads: which programs
//! fired (`HITS`) and what went wrong (`STATS`). Nothing is lost silently.

/// Slots of the `HITS` per-CPU array: how many times each kind of program ran.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hit {
    /// `kpath_kprobe_entry`.
    Kprobe = 0,
    /// `kpath_kprobe_exit`.
    Kretprobe = 1,
    /// `kpath_fentry_entry`.
    Fentry = 2,
    /// `kpath_fexit_exit`.
    Fexit = 3,
    /// A tracepoint stage's entry program.
    TpEnter = 4,
    /// A tracepoint stage's exit program.
    TpExit = 5,
    /// An interrupt or context-switch accounting program.
    Irq = 6,
}

/// Number of `HITS` slots.
pub const HIT_SLOTS: u32 = 8;

/// Slots of the `STATS` per-CPU array.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stat {
    /// Ring-buffer reservations that failed: events lost.
    LostEvents = 0,
    /// Calls not tracked because the stack map was full.
    StackMapFull = 1,
    /// Exits with no matching entry.
    UnmatchedExits = 2,
    /// Entries popped without their exit (a missed return probe).
    Unwound = 3,
    /// Calls deeper than `MAX_DEPTH`.
    DepthOverflow = 4,
    /// Calls skipped by the pid/comm/cpu filters.
    Filtered = 5,
    /// Tasks whose calls are kept in the shared stack map, exact but slower: their stack slot
    /// (`crate::task_slots`) was held by another task at their first call, or they are the
    /// idle tasks (tid 0), which never get one.
    SharedStackSlot = 6,
}

impl Stat {
    /// Every counter, in slot order.
    pub const ALL: [Stat; 7] = [
        Self::LostEvents,
        Self::StackMapFull,
        Self::UnmatchedExits,
        Self::Unwound,
        Self::DepthOverflow,
        Self::Filtered,
        Self::SharedStackSlot,
    ];

    /// The counter's key in the trace metadata's `kernel_counters` (`docs/trace-format.md`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::LostEvents => "lost_events",
            Self::StackMapFull => "stack_map_full",
            Self::UnmatchedExits => "unmatched_exits",
            Self::Unwound => "unwound",
            Self::DepthOverflow => "depth_overflow",
            Self::Filtered => "filtered",
            Self::SharedStackSlot => "shared_stack_slot",
        }
    }
}

const _: () = assert!(Stat::ALL.len() as u32 <= STAT_SLOTS);

/// Number of `STATS` slots.
pub const STAT_SLOTS: u32 = 8;
