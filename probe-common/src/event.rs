//! The enter/exit record: what a probe emits for each call boundary, and one record of a trace.

/// Size in bytes of one [`Event`], in memory and in a trace file.
pub const EVENT_SIZE: usize = 64;

/// Deepest nesting the kernel side tracks per context; deeper calls are flagged
/// [`flags::DEPTH_OVERFLOW`] and not timed.
pub const MAX_DEPTH: usize = 32;

/// Bits of [`Event::flags`].
pub mod flags {
    /// The task ran on another CPU at exit than at entry; per-CPU interrupt counts are void.
    pub const MIGRATED: u32 = 1 << 0;
    /// An exit with no matching entry on the stack of its context (a missed entry probe).
    pub const UNMATCHED_EXIT: u32 = 1 << 1;
    /// Entries above the matched one were popped: their exits were never seen.
    pub const UNWOUND: u32 = 1 << 2;
    /// The call was deeper than [`super::MAX_DEPTH`]: not pushed, not timed.
    pub const DEPTH_OVERFLOW: u32 = 1 << 3;
    /// The same function is already on the stack below this call (recursion).
    pub const RECURSIVE: u32 = 1 << 4;
    /// The task was off the CPU for longer than [`super::Event::off_cpu_ns`] can hold
    /// (`u32::MAX` ns, 4.29 s): its on-CPU time is unknown. Trace format version 2.
    pub const OFF_CPU_SATURATED: u32 = 1 << 5;
    /// All flag bits this version defines; readers reject records with other bits set.
    pub const KNOWN: u32 =
        MIGRATED | UNMATCHED_EXIT | UNWOUND | DEPTH_OVERFLOW | RECURSIVE | OFF_CPU_SATURATED;
}

/// Whether a record marks a function's entry or its return.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// The function (or tracepoint stage) was entered.
    Enter = 0,
    /// The function returned; duration and interrupt counts are filled.
    Exit = 1,
}

impl TryFrom<u8> for EventKind {
    type Error = u8;
    fn try_from(v: u8) -> Result<Self, u8> {
        match v {
            0 => Ok(Self::Enter),
            1 => Ok(Self::Exit),
            other => Err(other),
        }
    }
}

/// The execution context a call ran in. Depth is tracked per task in process context and per
/// CPU in softirq and hardirq context (softirqs on idle CPUs all run as pid 0).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ExecContext {
    /// Task (system call) context.
    Process = 0,
    /// Softirq context (including softirqs run by ksoftirqd).
    SoftIrq = 1,
    /// Hard interrupt handler context.
    HardIrq = 2,
}

impl TryFrom<u8> for ExecContext {
    type Error = u8;
    fn try_from(v: u8) -> Result<Self, u8> {
        match v {
            0 => Ok(Self::Process),
            1 => Ok(Self::SoftIrq),
            2 => Ok(Self::HardIrq),
            other => Err(other),
        }
    }
}

impl ExecContext {
    /// Short lower-case name used in reports and JSON.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Process => "process",
            Self::SoftIrq => "softirq",
            Self::HardIrq => "hardirq",
        }
    }
}

/// One enter or exit record.
///
/// Fields are ordered so that the struct has no implicit padding; `kind` and `context` are
/// plain integers ([`EventKind`], [`ExecContext`]) converted with `TryFrom` on the user side.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Event {
    /// `bpf_ktime_get_ns()` (CLOCK_MONOTONIC) at the probe.
    pub ts_ns: u64,
    /// Exit: exit time minus the matched entry time. 0 on entries and unmatched exits.
    pub dur_ns: u64,
    /// Exit: time this CPU spent in hardirq and softirq handlers during the interval, while
    /// the call's task was on it (format version 2; version 1 also counted the time the task
    /// was switched out).
    pub irq_ns: u64,
    /// Index into the trace's function table.
    pub func_id: u32,
    /// CPU that ran the probe.
    pub cpu: u32,
    /// Thread group id (user-space "pid"); 0 for the idle task.
    pub pid: u32,
    /// Thread id (kernel pid).
    pub tid: u32,
    /// Exit: hard interrupts handled on this CPU during the interval, while the call's task
    /// was on it (see `irq_ns`).
    pub hardirqs: u32,
    /// Exit: softirqs run on this CPU during the interval, while the call's task was on it.
    pub softirqs: u32,
    /// Exit: in process context, the times the task was switched out during the interval
    /// (format version 2; version 1 counted every context switch of the CPU); in softirq
    /// and hardirq context, context switches of the CPU.
    pub switches: u32,
    /// Nesting depth of this call in its context's call stack; the outermost probed call is 0.
    pub depth: u16,
    /// [`EventKind`] as `u8`.
    pub kind: u8,
    /// [`ExecContext`] as `u8`.
    pub context: u8,
    /// Bit set of [`flags`].
    pub flags: u32,
    /// Exit: time the call's task spent switched out during the interval, in ns, saturated
    /// at `u32::MAX` (then [`flags::OFF_CPU_SATURATED`] is set). Always 0 in softirq and
    /// hardirq context, which do not sleep. Format version 2; version 1 wrote 0 here.
    pub off_cpu_ns: u32,
}

const _: () = assert!(core::mem::size_of::<Event>() == EVENT_SIZE);

/// The call stack a call belongs to: its task in process context, its CPU in softirq and
/// hardirq context (softirqs on idle CPUs all run as pid 0). The kernel side keys its stack
/// map with it; readers group records by it to rebuild call trees (`docs/trace-format.md`).
#[inline(always)]
pub const fn stack_key(context: u8, cpu: u32, tid: u32) -> u64 {
    if context == ExecContext::Process as u8 {
        tid as u64
    } else {
        ((context as u64) << 62) | cpu as u64
    }
}

/// Whether an interval was hit by an interrupt, a softirq, a context switch or a migration,
/// from what its counters gained between entry and exit (and whether it ran on more than one
/// CPU): the wall-clock definition (`docs/trace-format.md`). Records answer it with
/// [`Event::interrupted`], and stats mode's exit in the kernel from the open frame, without a
/// record; the analysis's `Clock::interrupted` leaves switches out on the on-CPU clock.
#[inline(always)]
pub const fn interrupted(hardirqs: u32, softirqs: u32, switches: u32, migrated: bool) -> bool {
    hardirqs != 0 || softirqs != 0 || switches != 0 || migrated
}

impl Event {
    /// The call stack this record belongs to; see [`stack_key`].
    #[inline(always)]
    pub const fn stack_key(&self) -> u64 {
        stack_key(self.context, self.cpu, self.tid)
    }

    /// The interval's time on the CPU: `dur_ns` minus the time the task was switched out,
    /// or `None` when that time did not fit the record ([`flags::OFF_CPU_SATURATED`]).
    pub const fn on_cpu_ns(&self) -> Option<u64> {
        if self.flags & flags::OFF_CPU_SATURATED != 0 {
            None
        } else {
            Some(self.dur_ns.saturating_sub(self.off_cpu_ns as u64))
        }
    }

    /// Whether an interrupt, softirq, context switch or migration hit the interval.
    pub const fn interrupted(&self) -> bool {
        interrupted(
            self.hardirqs,
            self.softirqs,
            self.switches,
            self.flags & flags::MIGRATED != 0,
        )
    }

    /// Little-endian encoding, the trace file's record layout.
    pub fn to_le_bytes(&self) -> [u8; EVENT_SIZE] {
        let mut b = [0u8; EVENT_SIZE];
        b[0..8].copy_from_slice(&self.ts_ns.to_le_bytes());
        b[8..16].copy_from_slice(&self.dur_ns.to_le_bytes());
        b[16..24].copy_from_slice(&self.irq_ns.to_le_bytes());
        b[24..28].copy_from_slice(&self.func_id.to_le_bytes());
        b[28..32].copy_from_slice(&self.cpu.to_le_bytes());
        b[32..36].copy_from_slice(&self.pid.to_le_bytes());
        b[36..40].copy_from_slice(&self.tid.to_le_bytes());
        b[40..44].copy_from_slice(&self.hardirqs.to_le_bytes());
        b[44..48].copy_from_slice(&self.softirqs.to_le_bytes());
        b[48..52].copy_from_slice(&self.switches.to_le_bytes());
        b[52..54].copy_from_slice(&self.depth.to_le_bytes());
        b[54] = self.kind;
        b[55] = self.context;
        b[56..60].copy_from_slice(&self.flags.to_le_bytes());
        b[60..64].copy_from_slice(&self.off_cpu_ns.to_le_bytes());
        b
    }

    /// Decodes the little-endian layout written by [`Event::to_le_bytes`]. Field values are
    /// not validated here; the trace reader does that.
    pub fn from_le_bytes(b: &[u8; EVENT_SIZE]) -> Self {
        let u64_at = |o: usize| {
            u64::from_le_bytes([
                b[o],
                b[o + 1],
                b[o + 2],
                b[o + 3],
                b[o + 4],
                b[o + 5],
                b[o + 6],
                b[o + 7],
            ])
        };
        let u32_at = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        Self {
            ts_ns: u64_at(0),
            dur_ns: u64_at(8),
            irq_ns: u64_at(16),
            func_id: u32_at(24),
            cpu: u32_at(28),
            pid: u32_at(32),
            tid: u32_at(36),
            hardirqs: u32_at(40),
            softirqs: u32_at(44),
            switches: u32_at(48),
            depth: u16::from_le_bytes([b[52], b[53]]),
            kind: b[54],
            context: b[55],
            flags: u32_at(56),
            off_cpu_ns: u32_at(60),
        }
    }
}

#[cfg(feature = "user")]
// SAFETY: `Event` is `#[repr(C)]`, `Copy`, has no padding (asserted by its size) and every
// bit pattern is a valid value.
unsafe impl aya::Pod for Event {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn le_round_trip_keeps_every_field() {
        let e = Event {
            ts_ns: 0x0102_0304_0506_0708,
            dur_ns: 11,
            irq_ns: 12,
            func_id: 13,
            cpu: 14,
            pid: 15,
            tid: 16,
            hardirqs: 17,
            softirqs: 18,
            switches: 19,
            depth: 20,
            kind: EventKind::Exit as u8,
            context: ExecContext::SoftIrq as u8,
            flags: flags::MIGRATED | flags::RECURSIVE,
            off_cpu_ns: 21,
        };
        let b = e.to_le_bytes();
        assert_eq!(&b[0..8], &[8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(b[54], 1);
        assert_eq!(b[55], 1);
        assert_eq!(Event::from_le_bytes(&b), e);
    }

    #[test]
    fn stacks_are_per_task_in_process_context_and_per_cpu_otherwise() {
        let e = |context: ExecContext, cpu, tid| Event {
            context: context as u8,
            cpu,
            tid,
            ..Event::default()
        };
        assert_eq!(
            e(ExecContext::Process, 0, 7).stack_key(),
            e(ExecContext::Process, 1, 7).stack_key()
        );
        assert_ne!(
            e(ExecContext::Process, 0, 7).stack_key(),
            e(ExecContext::Process, 0, 8).stack_key()
        );
        assert_eq!(
            e(ExecContext::SoftIrq, 1, 0).stack_key(),
            e(ExecContext::SoftIrq, 1, 99).stack_key()
        );
        assert_ne!(
            e(ExecContext::SoftIrq, 1, 0).stack_key(),
            e(ExecContext::HardIrq, 1, 0).stack_key()
        );
        assert_ne!(
            e(ExecContext::SoftIrq, 1, 0).stack_key(),
            e(ExecContext::Process, 0, 1).stack_key()
        );
    }

    #[test]
    fn on_cpu_time_takes_the_switched_out_time_off() {
        let e = Event {
            dur_ns: 102_000,
            off_cpu_ns: 100_000,
            ..Event::default()
        };
        assert_eq!(e.on_cpu_ns(), Some(2_000));
        let saturated = Event {
            flags: flags::OFF_CPU_SATURATED,
            off_cpu_ns: u32::MAX,
            dur_ns: 5_000_000_000,
            ..e
        };
        assert_eq!(saturated.on_cpu_ns(), None);
    }

    #[test]
    fn interrupted_sees_each_cause() {
        let clean = Event::default();
        assert!(!clean.interrupted());
        for e in [
            Event {
                hardirqs: 1,
                ..clean
            },
            Event {
                softirqs: 1,
                ..clean
            },
            Event {
                switches: 1,
                ..clean
            },
            Event {
                flags: flags::MIGRATED,
                ..clean
            },
        ] {
            assert!(e.interrupted(), "{e:?}");
        }
    }
}
