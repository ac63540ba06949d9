//! The recorder keeps off the CPUs it records (`--cpu LIST`): its own drain work would
//! otherwise run there, inside the intervals it measures (seen as 53 of 2 201 receive
//! softirqs interrupting the recorder on the proxy's CPU in the demo). The command it runs
//! (`-- CMD`) gets the CPUs the recorder had, as if started without kpath.

use std::io;

/// The recorder's CPU affinity before it moved off the recorded CPUs.
#[derive(Clone, Copy)]
pub struct Moved {
    original: libc::cpu_set_t,
}

/// Bits of a `cpu_set_t`.
const SET_SIZE: usize = 8 * std::mem::size_of::<libc::cpu_set_t>();

/// Moves the calling thread (and the threads it starts later) off `recorded`, if it has a
/// CPU left elsewhere; `None` when it has not (then it stays, and the caller says so).
pub fn keep_off(recorded: &[u32]) -> io::Result<Option<Moved>> {
    // SAFETY: a zeroed cpu_set_t is a valid (empty) set, filled by the kernel.
    let mut original: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: pid 0 is the calling thread; the size is the set's.
    if unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&original), &mut original) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut elsewhere = original;
    for &c in recorded {
        let c = c as usize;
        if c < SET_SIZE {
            // SAFETY: c is inside the set.
            unsafe { libc::CPU_CLR(c, &mut elsewhere) };
        }
    }
    // SAFETY: reads the set.
    if unsafe { libc::CPU_COUNT(&elsewhere) } == 0 {
        return Ok(None);
    }
    // SAFETY: as above.
    if unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&elsewhere), &elsewhere) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Some(Moved { original }))
}

impl Moved {
    /// Gives the calling thread the CPUs the recorder had: run in the command's child
    /// between fork and exec, where only async-signal-safe calls are allowed (a system call
    /// is).
    pub fn restore(&self) -> io::Result<()> {
        // SAFETY: pid 0 is the calling thread; the size is the set's.
        match unsafe {
            libc::sched_setaffinity(0, std::mem::size_of_val(&self.original), &self.original)
        } {
            0 => Ok(()),
            _ => Err(io::Error::last_os_error()),
        }
    }
}
