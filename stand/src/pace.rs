//! Waiting until an instant with microsecond accuracy: sleep, then spin the last stretch.
//!
//! `thread::sleep` wakes late by the timer slack (50 µs by default) plus scheduling delay, so
//! the sender sets its slack to 1 ns ([`tighten_timer_slack`]) and sleeps only until
//! [`SPIN`] before the deadline, then spins on the clock.

use std::{
    thread,
    time::{Duration, Instant},
};

/// How long before a deadline to stop sleeping and start spinning.
pub const SPIN: Duration = Duration::from_micros(100);

/// Sets this thread's timer slack to 1 ns (`PR_SET_TIMERSLACK`); best effort.
pub fn tighten_timer_slack() {
    // SAFETY: prctl with PR_SET_TIMERSLACK takes a plain integer.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
    }
}

/// Returns at `deadline` or as soon after it as the clock allows.
pub fn wait_until(deadline: Instant) {
    loop {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        let left = deadline - now;
        if left > SPIN {
            thread::sleep(left - SPIN);
        } else {
            std::hint::spin_loop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_returns_early() {
        tighten_timer_slack();
        for us in [0u64, 10, 150, 400] {
            let deadline = Instant::now() + Duration::from_micros(us);
            wait_until(deadline);
            assert!(Instant::now() >= deadline);
        }
    }
}
