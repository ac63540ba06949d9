//! The recorder runs under `SCHED_BATCH`: its wake-ups (the drain timer, a forced wake-up at
//! the fill level) then never preempt the task running on the CPU where it wakes. Under
//! `SCHED_OTHER`, each 10 ms drain took the CPU from whatever ran there, often the proxy
//! being measured: the preempted service stalled, its clients waited, and the other CPU went
//! idle; in saturation on the namespace stand the machine idled 15 % of the time in trace mode
//! against 6 % in stats mode. A batch task still gets its fair share of the CPU (it is not
//! `SCHED_IDLE`), so the drain keeps up; it runs in the gaps, or at the next tick, within a
//! few milliseconds of its wake-up, far inside the ring's slack (`docs/recorder.md`).
//!
//! A ring that passes its fill level (a forced wake-up, `probe-ebpf/src/wakeup.rs`) is under
//! pressure: there the wake-up must not wait for the tick, or a small ring overflows. At the
//! first drain a fill-level wake-up starts, the recorder goes back to its policy before, for
//! the rest of the recording ([`stop_yielding`]). With the default 16 MiB rings the bench's
//! highest rates never get there; with 64 KiB rings, every drain does.
//!
//! A recorder started under another policy (`chrt`) keeps it: that was the user's choice.

use std::io;

/// The recorder's policy before it became `SCHED_BATCH`, for the traced command.
#[derive(Clone, Copy)]
pub struct Batched {
    original: libc::c_int,
}

/// Makes the calling thread (and the threads it starts later) `SCHED_BATCH` if it is
/// `SCHED_OTHER`; `None` when it runs under another policy, which is left alone.
pub fn batch() -> io::Result<Option<Batched>> {
    // SAFETY: pid 0 is the calling thread.
    let original = unsafe { libc::sched_getscheduler(0) };
    if original < 0 {
        return Err(io::Error::last_os_error());
    }
    if original != libc::SCHED_OTHER {
        return Ok(None);
    }
    set(libc::SCHED_BATCH)?;
    Ok(Some(Batched { original }))
}

impl Batched {
    /// Gives the calling thread the policy the recorder had: run in the command's child
    /// between fork and exec, where only async-signal-safe calls are allowed (a system call
    /// is), so that the command runs as if started without kpath.
    pub fn restore(&self) -> io::Result<()> {
        set(self.original)
    }
}

/// Goes back to the policy before `SCHED_BATCH`, for the rest of the recording: a ring passed
/// its fill level, and the drain must now run as soon as it wakes.
pub fn stop_yielding(batched: Batched) {
    match batched.restore() {
        Ok(()) => log::info!(
            "an event ring passed its fill level: the recorder leaves SCHED_BATCH, and its \
             wake-ups may now preempt"
        ),
        Err(e) => log::warn!("the recorder could not leave SCHED_BATCH ({e})"),
    }
}

fn set(policy: libc::c_int) -> io::Result<()> {
    // Static priority 0: the only one SCHED_OTHER and SCHED_BATCH have.
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: pid 0 is the calling thread; `param` is a valid sched_param.
    match unsafe { libc::sched_setscheduler(0, policy, &param) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}
