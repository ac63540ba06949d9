//! Pinning the calling thread to the CPU it runs on, for the measurements that compare
//! per-CPU state across a call: `calibrate`'s pairs and `check`'s rounds. A task that moves
//! between an entry and its exit gets a record flagged `MIGRATED` (the counters of two CPUs
//! would be compared), which neither may take for the mechanism's own doing.

use crate::ProbeError;

/// Pins the calling thread to the CPU it runs on, and restores its affinity when dropped.
pub struct PinnedToThisCpu {
    old: libc::cpu_set_t,
}

impl PinnedToThisCpu {
    /// Pins the calling thread; `whose` names it in errors ("the calibrating thread").
    pub fn new(whose: &str) -> Result<Self, ProbeError> {
        // The system call's error is read before the message is formatted: the allocation
        // could overwrite errno.
        let err = |what: fn(&str) -> String| {
            let source = std::io::Error::last_os_error();
            ProbeError::Kernel {
                what: what(whose),
                source,
            }
        };
        // SAFETY: cpu_set_t is plain data; the calls get valid pointers and sizes.
        unsafe {
            let mut old: libc::cpu_set_t = std::mem::zeroed();
            if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut old) != 0 {
                return Err(err(|w| format!("{w}'s CPU affinity")));
            }
            let cpu = libc::sched_getcpu();
            if cpu < 0 {
                return Err(err(|w| format!("{w}'s CPU")));
            }
            let mut one: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu as usize, &mut one);
            if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &one) != 0 {
                return Err(err(|w| format!("pinning {w} to its CPU")));
            }
            Ok(Self { old })
        }
    }
}

impl Drop for PinnedToThisCpu {
    fn drop(&mut self) {
        // SAFETY: restores the mask read in `new`.
        unsafe {
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &self.old);
        }
    }
}
