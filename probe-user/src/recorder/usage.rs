//! The recorder's own CPU time, reported in the trace (`RecorderUsage`).

/// This process's CPU time (`getrusage(RUSAGE_SELF)`): the recorder's own cost. The traced
/// command is a child and is not included.
pub(super) struct CpuTime {
    pub(super) user_ns: u64,
    pub(super) system_ns: u64,
}

impl CpuTime {
    pub(super) fn of_this_process() -> Self {
        // SAFETY: rusage is plain data; getrusage fills it.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: valid pointer.
        let ok = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } == 0;
        let ns = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1_000;
        if ok {
            Self {
                user_ns: ns(ru.ru_utime),
                system_ns: ns(ru.ru_stime),
            }
        } else {
            Self {
                user_ns: 0,
                system_ns: 0,
            }
        }
    }

    pub(super) fn since(&self, start: &Self) -> Self {
        Self {
            user_ns: self.user_ns.saturating_sub(start.user_ns),
            system_ns: self.system_ns.saturating_sub(start.system_ns),
        }
    }
}
