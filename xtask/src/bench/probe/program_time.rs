//! The kernel's own account of the time spent inside the probe programs, for section (c).
//!
//! Why: the wall time of the `sendto(-1)` loop says what a mode costs the caller, with the
//! machine's noise in it (rounds of one condition spread by ±30 % here). With run-time
//! statistics on (`BPF_ENABLE_STATS`, Linux 5.8), the kernel adds each program run's duration
//! to the program's `run_time_ns` and counts it in `run_cnt`: the time inside kpath's programs
//! (or bpftrace's, or the floor's), without the tracepoint's dispatch and without the loop.
//! The statistics cost two clock reads per run themselves, the same for every condition, so
//! they are turned on only around a second, shorter loop, never around the timed one.

use std::collections::HashMap;
use std::os::fd::OwnedFd;

use anyhow::{Context, Result};
use aya::programs::loaded_programs;
use aya::sys::{enable_stats, Stats};

/// Every loaded program's run time and run count, by program id. A program whose
/// information cannot be read (unloaded between the listing and the read) is left out: it
/// cannot be one of the attached pair, which stays loaded until the condition is detached.
type Totals = HashMap<u32, (u64, u64)>;

fn totals() -> Totals {
    loaded_programs()
        .filter_map(Result::ok)
        .map(|p| {
            let ns = u64::try_from(p.run_time().as_nanos()).unwrap_or(u64::MAX);
            (p.id(), (ns, p.run_count()))
        })
        .collect()
}

/// Run-time statistics turned on, and every program's totals at that moment.
pub(super) struct ProgramClock {
    /// Statistics stay on while this is open.
    stats: OwnedFd,
    before: Totals,
}

impl ProgramClock {
    /// Turns the statistics on; `Err` when the kernel refuses (before 5.8, or without
    /// `CAP_SYS_ADMIN`).
    pub(super) fn start() -> Result<Self> {
        let stats = enable_stats(Stats::RunTime).context(
            "the kernel's BPF run-time statistics (BPF_ENABLE_STATS) could not be turned on",
        )?;
        Ok(Self {
            stats,
            before: totals(),
        })
    }

    /// Mean ns per run, since [`ProgramClock::start`], of the programs that ran at least
    /// `runs` times meanwhile: the pair on the loop's hook, each of which runs once per call
    /// (nothing else on the machine runs that often in the loop's time). `None` when no
    /// program did (no probes). Turns the statistics off.
    pub(super) fn ns_per_run(self, runs: u64) -> Option<f64> {
        let after = totals();
        drop(self.stats);
        mean_per_run(&self.before, &after, runs)
    }
}

/// Mean ns per run between two readings of the totals, over the programs that ran at least
/// `runs` times between them (a program loaded in between counts from zero).
fn mean_per_run(before: &Totals, after: &Totals, runs: u64) -> Option<f64> {
    let (mut ns, mut n) = (0u64, 0u64);
    for (id, &(t1, c1)) in after {
        let (t0, c0) = before.get(id).copied().unwrap_or((0, 0));
        let ran = c1.saturating_sub(c0);
        if ran >= runs {
            ns = ns.saturating_add(t1.saturating_sub(t0));
            n += ran;
        }
    }
    (n > 0).then(|| ns as f64 / n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_programs_that_ran_once_per_call_count() {
        // Programs 1 and 2: the pair, 1 000 runs each in the loop (100 and 60 ns per run);
        // 3: a switch program that ran 40 times; 4: loaded during the loop, 1 000 runs.
        let before = Totals::from([(1, (5_000, 50)), (2, (0, 0)), (3, (700, 7))]);
        let after = Totals::from([
            (1, (105_000, 1_050)),
            (2, (60_000, 1_000)),
            (3, (10_000, 47)),
            (4, (20_000, 1_000)),
        ]);
        let mean = mean_per_run(&before, &after, 1_000).expect("the pair ran");
        assert!((mean - 180_000.0 / 3_000.0).abs() < 1e-9, "{mean}");
        assert_eq!(mean_per_run(&before, &before, 1_000), None, "nothing ran");
    }
}
