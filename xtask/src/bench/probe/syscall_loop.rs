//! Sections (c) and (d), both driven by a `sendto(-1)` loop: the wall time per call under
//! each condition, and the recorder's capacity at the highest rates the loop produces.

use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};

use super::attach::detach;
use super::figures::{round_by_round, spread};
use super::program_time::ProgramClock;
use super::{in_round, Condition, Ctx, RecorderFigures, RecorderRun, Sizes, SyscallFigures};

impl Ctx {
    pub(super) fn syscall_section(
        &self,
        sizes: &Sizes,
        rounds: usize,
    ) -> Result<Vec<SyscallFigures>> {
        let mut per_call: Vec<Vec<f64>> = vec![Vec::new(); Condition::ALL.len()];
        let mut per_run: Vec<Vec<f64>> = vec![Vec::new(); Condition::ALL.len()];
        // The kernel's statistics, if it keeps them; else the section goes on without.
        let mut statistics = true;
        for round in 0..rounds {
            for (i, c) in Condition::in_round(round) {
                let attached = self.attach(c, &[])?;
                let (elapsed, calls) = sendto_loop(1, sizes.syscall_calls);
                per_call[i].push(elapsed.as_nanos() as f64 / calls as f64);
                // Then the time inside the programs, on a shorter loop with the kernel's
                // statistics on (`program_time.rs`); the timed loop above ran without them.
                if statistics {
                    match time_inside_programs(sizes.syscall_calls / 4) {
                        Ok(ns) => per_run[i].extend(ns),
                        Err(e) => {
                            eprintln!("bench: (c) no time inside the programs: {e:#}");
                            statistics = false;
                        }
                    }
                }
                detach(attached)?;
            }
        }
        Condition::ALL
            .iter()
            .enumerate()
            .map(|(i, &condition)| {
                // 2 events (the entry's and the exit's probe runs) per call.
                let ns_per_event = (i > 0)
                    .then(|| round_by_round(&per_call[i], &per_call[0], |c, none| (c - none) / 2.0))
                    .transpose()?;
                // Every round, or none: a spread of some rounds would not be one of the run.
                let ns_per_program_run = (per_run[i].len() == rounds)
                    .then(|| spread(&per_run[i]))
                    .transpose()?;
                Ok(SyscallFigures {
                    condition,
                    ns_per_call: spread(&per_call[i])?,
                    ns_per_event,
                    ns_per_program_run,
                })
            })
            .collect()
    }

    /// Section (d): each of [`RECORDER_SETUPS`] in turn, round after round, in the order of
    /// sections (a)–(c) (reversed every other round).
    pub(super) fn recorder_section(
        &self,
        sizes: &Sizes,
        rounds: usize,
    ) -> Result<Vec<RecorderFigures>> {
        let mut runs: Vec<Vec<(RecorderRun, SetupAsRun)>> = vec![Vec::new(); RECORDER_SETUPS.len()];
        for round in 0..rounds {
            for (i, setup) in in_round(&RECORDER_SETUPS, round) {
                runs[i].push(self.recorder_run(&setup, sizes.recorder_calls)?);
            }
        }
        RECORDER_SETUPS
            .iter()
            .zip(runs)
            .map(|(setup, runs)| {
                // As the recorder reported it (the same in every round).
                let as_run = runs
                    .first()
                    .map(|&(_, as_run)| as_run)
                    .ok_or_else(|| anyhow!("section (d) ran no round"))?;
                let runs: Vec<RecorderRun> = runs.into_iter().map(|(run, _)| run).collect();
                let rates: Vec<f64> = runs.iter().map(|r| r.events_per_s).collect();
                let cpu: Option<Vec<f64>> =
                    runs.iter().map(|r| r.recorder_cpu_ns_per_record).collect();
                Ok(RecorderFigures {
                    threads: setup.threads,
                    ring_bytes: as_run.ring_bytes,
                    direct_writes: as_run.direct_writes,
                    events_per_s: spread(&rates)?,
                    recorder_cpu_ns_per_record: cpu.map(|c| spread(&c)).transpose()?,
                    runs,
                })
            })
            .collect()
    }

    /// One run of `setup` over a loop of `calls` calls, and the set-up as the recorder
    /// reported it.
    fn recorder_run(&self, setup: &RecorderSetup, calls: u64) -> Result<(RecorderRun, SetupAsRun)> {
        let ring_arg = setup.ring_bytes.map(|r| r.to_string());
        // Entry records too: the recorder's capacity, on the most records the loop makes
        // (two per call; without them a call makes one, and the loop's rate caps it).
        let mut extra = vec!["--stage", "sys_sendto", "--entries"];
        if let Some(r) = &ring_arg {
            extra.extend(["--ring-buffer-size", r.as_str()]);
        }
        if setup.buffered {
            extra.push("--buffered-writes");
        }
        let attached = self.attach(Condition::KpathTrace, &extra)?;
        let (elapsed, _) = sendto_loop(setup.threads, calls);
        let d = detach(attached)?;
        let usage = d
            .usage
            .ok_or_else(|| anyhow!("the trace has no recorder usage"))?;
        let run = RecorderRun {
            events_per_s: usage.records as f64 / elapsed.as_secs_f64(),
            records: usage.records,
            lost: d.lost,
            recorder_cpu_ns_per_record: usage.cpu_ns_per_record(),
            batches: usage.batches,
        };
        let as_run = SetupAsRun {
            ring_bytes: usage.ring_bytes,
            direct_writes: usage.direct_writes,
        };
        Ok((run, as_run))
    }
}

/// A set-up of section (d): the loop's threads, the ring's size (`None`: the default) and
/// whether the recorder writes through the page cache.
#[derive(Clone, Copy)]
struct RecorderSetup {
    threads: u32,
    ring_bytes: Option<u64>,
    buffered: bool,
}

/// A set-up as the recorder reported it in its trace: the ring's size it used (the default
/// resolved) and whether its writes went around the page cache.
#[derive(Clone, Copy)]
struct SetupAsRun {
    ring_bytes: u64,
    direct_writes: bool,
}

/// Section (d)'s set-ups: one and two threads; two with rings of 64 KiB, where loss begins;
/// and two through the page cache as kpath wrote before its direct writes (what they save,
/// on the same loop).
const RECORDER_SETUPS: [RecorderSetup; 4] = [
    RecorderSetup {
        threads: 1,
        ring_bytes: None,
        buffered: false,
    },
    RecorderSetup {
        threads: 2,
        ring_bytes: None,
        buffered: false,
    },
    RecorderSetup {
        threads: 2,
        ring_bytes: Some(64 << 10),
        buffered: false,
    },
    RecorderSetup {
        threads: 2,
        ring_bytes: None,
        buffered: true,
    },
];

/// Mean ns per run inside the programs on the `sendto` hook over a loop of `calls` calls,
/// with the kernel's statistics on for that loop only; `None` with no programs attached.
fn time_inside_programs(calls: u64) -> Result<Option<f64>> {
    let clock = ProgramClock::start()?;
    let (_, counted) = sendto_loop(1, calls);
    Ok(clock.ns_per_run(counted))
}

/// `threads` threads each call `sendto(-1)` `calls / threads` times; the wall time and the
/// calls made.
fn sendto_loop(threads: u32, calls: u64) -> (Duration, u64) {
    let per_thread = calls / u64::from(threads);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let buf = [0u8; 1];
                for _ in 0..per_thread {
                    // SAFETY: sendto on fd -1 fails with EBADF without reading the buffer
                    // beyond its length.
                    unsafe { libc::sendto(-1, buf.as_ptr().cast(), 1, 0, std::ptr::null(), 0) };
                }
            });
        }
    });
    (start.elapsed(), per_thread * u64::from(threads))
}
