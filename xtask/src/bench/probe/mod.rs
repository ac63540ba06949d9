//! Sections (a)–(d): the probe effect. The same work is measured under each [`Condition`] in
//! turn, round after round: nothing attached, kpath in its modes, kpath attached but filtered
//! out (the mechanism's own floor), kpath with the kernel's adaptive ring notification (the
//! 0.1 recorder's behaviour, to show what the change bought), and bpftrace timing the same 9
//! tracepoint pairs (`pairs.bt`).
//!
//! - (a) saturation: `kpath-stand gen --pattern closed --clients 16` against `kpath-stand
//!   echo` across the two namespaces, replies/s as a ratio to no probes in the same round;
//! - (b) ping-pong round-trip time p50/p99 on the same stand;
//! - (c) a system-call loop (`sendto(-1)`, which fails right after the descriptor look-up):
//!   wall time per call, and the cost per event (2 probe runs per call, entry and exit,
//!   whatever records they write) above no probes;
//! - (d) the recorder's capacity: the same loop from 1 and 2 threads with only the `sendto`
//!   stage and entry records (`--entries`: 2 records per call, the most records the loop
//!   makes), events/s, events lost and the recorder's CPU per record, and with a 64 KiB ring
//!   to show where loss begins; its set-ups take turns over up to [`RECORDER_ROUNDS`] rounds.
//!
//! The calibration (`kpath-probe calibrate`) goes with them: kpath's pair against the bare
//! pair on the same tracepoints.
//!
//! Sections (a)–(d) share one stand, one set of conditions and one alternation of rounds:
//! this module holds the conditions, the results and the order of the run; each submodule
//! does one job of it:
//!
//! - `calibration`: `kpath-probe calibrate`;
//! - `attach`: attaching and detaching a condition's peer (kpath's recorder, bpftrace);
//! - `namespace_stand`: (a) saturation and (b) ping-pong on the namespace stand;
//! - `syscall_loop`: (c) the system-call loop and (d) the recorder's capacity;
//! - `figures`: per-round measurements into spreads, ratios to no probes, and conditions head
//!   to head;
//! - `targets`: the targets judged on the medians;
//! - `table`: the terminal table.

mod attach;
mod calibration;
mod figures;
mod namespace_stand;
mod program_time;
mod syscall_loop;
mod table;
mod targets;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use kpath_stand::netns;
use kpath_trace::ProbeCost;
use serde::Serialize;

use super::{BenchOptions, Spread, Target};
use namespace_stand::StandSections;
pub use table::table;
use targets::targets;

/// What is attached while the work runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Condition {
    /// Nothing attached.
    None,
    /// `kpath-probe record --mechanism tracepoint` (trace mode, the 9 stage pairs; a record at
    /// each exit, none at entries).
    KpathTrace,
    /// The same with `--entries`: a record at each entry too, as kpath wrote traces before
    /// its exits carried the entries (`docs/recorder.md`, "No entry records").
    KpathTraceEntries,
    /// The same with `--wakeup-fill-bytes 0`: the kernel's adaptive notification, a reader
    /// wake-up whenever it had caught up (kpath 0.1's recorder).
    KpathTraceAdaptiveWakeup,
    /// The same with `--buffered-writes`: records through the page cache, as kpath wrote them
    /// before its direct writes (`docs/recorder.md`, "Writing the trace").
    KpathTraceBuffered,
    /// The same with `--normal-policy`: the recorder under `SCHED_OTHER`, whose drains preempt
    /// the measured tasks when it wakes, as before it ran under `SCHED_BATCH`
    /// (`probe-user/src/recorder/policy.rs`).
    KpathTraceNormalPolicy,
    /// `--mode stats`: timed and aggregated in the kernel, no records.
    KpathStats,
    /// Trace mode with `--cpu` naming a CPU that does not exist: every program runs and
    /// returns at its filter. The floor of the mechanism with kpath's programs attached.
    KpathFilteredOut,
    /// The bare timing pair on the same 9 stages for every task (`kpath-probe bare-timing`):
    /// a timestamp at each end and a per-CPU sum, the least any timer does there. Between
    /// the floor and stats mode: what any timer pays here, and what is kpath's bookkeeping.
    BareTiming,
    /// bpftrace timing the same 9 pairs into hist() maps (`pairs.bt`).
    Bpftrace,
}

impl Condition {
    /// The order of a round (reversed every other round: [`Condition::in_round`]). The
    /// conditions the targets compare head to head come first and side by side, so that
    /// little time passes between the two sides of a comparison; the "before" variants of
    /// trace mode follow.
    const ALL: [Condition; 10] = [
        Condition::None,
        Condition::KpathTrace,
        Condition::KpathStats,
        Condition::KpathFilteredOut,
        Condition::BareTiming,
        Condition::Bpftrace,
        Condition::KpathTraceEntries,
        Condition::KpathTraceAdaptiveWakeup,
        Condition::KpathTraceBuffered,
        Condition::KpathTraceNormalPolicy,
    ];

    /// The conditions of round `round` (from 0), each with its index in [`Condition::ALL`]:
    /// in [`Condition::ALL`]'s order in even rounds, reversed in odd ones (A B C, C B A, …).
    /// Whatever drifts within a round (the host's other load, caches, the stand's sockets)
    /// then falls on both sides of each head-to-head pair in turn, instead of always on the
    /// one that runs second.
    fn in_round(round: usize) -> Vec<(usize, Condition)> {
        in_round(&Condition::ALL, round)
    }

    fn name(self) -> &'static str {
        match self {
            Condition::None => "no probes",
            Condition::KpathTrace => "kpath trace",
            Condition::KpathTraceEntries => "kpath trace, entry records",
            Condition::KpathTraceAdaptiveWakeup => "kpath trace, 0.1 wake-up",
            Condition::KpathTraceBuffered => "kpath trace, page cache",
            Condition::KpathTraceNormalPolicy => "kpath trace, SCHED_OTHER",
            Condition::KpathStats => "kpath stats",
            Condition::KpathFilteredOut => "kpath filtered out",
            Condition::BareTiming => "two timestamps only",
            Condition::Bpftrace => "bpftrace",
        }
    }
}

/// One condition's figures over the rounds.
#[derive(Clone, Debug, Serialize)]
pub struct ConditionFigures {
    /// The condition.
    pub condition: Condition,
    /// The raw figure (see the section for its unit).
    pub value: Spread,
    /// The figure as a ratio to "no probes" of the same round (absent for "no probes").
    pub ratio: Option<Spread>,
    /// Events lost by kpath's recorder, summed over the rounds.
    pub lost_events: u64,
}

/// Section (a): one condition's replies/s over another's, round by round.
#[derive(Clone, Debug, Serialize)]
pub struct HeadToHead {
    /// The condition measured.
    pub condition: Condition,
    /// The condition it is compared with.
    pub over: Condition,
    /// `condition`'s replies/s over `over`'s in the same round, over the rounds.
    pub ratio: Spread,
}

/// Section (b): ping-pong round-trip time per condition.
#[derive(Clone, Debug, Serialize)]
pub struct PingPongFigures {
    /// The condition.
    pub condition: Condition,
    /// Median round-trip time, µs.
    pub rtt_p50_us: Spread,
    /// 99th percentile, µs.
    pub rtt_p99_us: Spread,
}

/// Section (c): the system-call loop per condition.
#[derive(Clone, Debug, Serialize)]
pub struct SyscallFigures {
    /// The condition.
    pub condition: Condition,
    /// Wall time per `sendto(-1)` call, ns.
    pub ns_per_call: Spread,
    /// Cost per event above no probes in the same round, ns (2 events per call).
    pub ns_per_event: Option<Spread>,
    /// Mean time per run inside the programs on the loop's hook, ns, by the kernel's BPF
    /// run-time statistics, on a second, shorter loop of the same round
    /// (`program_time.rs`); absent with no probes, or where the kernel keeps no statistics.
    pub ns_per_program_run: Option<Spread>,
}

/// Section (d): one recorder set-up (threads, ring, writes) over the rounds.
#[derive(Clone, Debug, Serialize)]
pub struct RecorderFigures {
    /// Threads calling `sendto(-1)` at full speed.
    pub threads: u32,
    /// Ring buffer size, bytes, as the recorder reported it.
    pub ring_bytes: u64,
    /// Whether the records went around the page cache (`O_DIRECT`), the recorder's default;
    /// false for the set-up that measures the buffered writes it replaced.
    pub direct_writes: bool,
    /// Records written per second of the loop, over the rounds.
    pub events_per_s: Spread,
    /// The recorder's CPU (user + system) per record, ns, over the rounds; absent if a run's
    /// trace did not say.
    pub recorder_cpu_ns_per_record: Option<Spread>,
    /// Each round's run, in round order.
    pub runs: Vec<RecorderRun>,
}

impl RecorderFigures {
    /// Events lost in all the rounds.
    pub fn lost(&self) -> u64 {
        self.runs.iter().map(|r| r.lost).sum()
    }

    /// The spread of [`RecorderRun::busy_share`] over the rounds; `None` when a round has no
    /// CPU figure.
    pub fn busy_share(&self) -> Option<Spread> {
        let shares: Option<Vec<f64>> = self.runs.iter().map(RecorderRun::busy_share).collect();
        Spread::of(&shares?)
    }
}

/// Section (d): one run of a recorder set-up.
#[derive(Clone, Debug, Serialize)]
pub struct RecorderRun {
    /// Records written per second of the loop.
    pub events_per_s: f64,
    /// Records written.
    pub records: u64,
    /// Events lost (ring full).
    pub lost: u64,
    /// The recorder's CPU (user + system) per record, ns.
    pub recorder_cpu_ns_per_record: Option<f64>,
    /// Drains that found records.
    pub batches: u64,
}

impl RecorderRun {
    /// The share of one CPU that the recorder took while the loop ran: its CPU per record
    /// times the records per second. Well below 1 with nothing lost, the recorder kept up and
    /// the loop set the run's rate; the rate is then a floor of the recorder's, not its
    /// ceiling. The CPU is the recorder's over its whole recording, which also spans the
    /// moments before and after the loop, so the share errs high, never low.
    pub fn busy_share(&self) -> Option<f64> {
        self.recorder_cpu_ns_per_record
            .map(|ns| ns * self.events_per_s / 1e9)
    }
}

/// kpath's recorder (trace mode) started while the closed loop already runs, once per round:
/// the events it lost while its probes went live (`docs/recorder.md`, "Starting under load").
#[derive(Clone, Debug, Default, Serialize)]
pub struct StartedUnderLoad {
    /// Seconds from the recorder's start to its probes attached, under the load, in round
    /// order.
    pub attach_s: Vec<f64>,
    /// Events lost at each start, in round order.
    pub lost: Vec<u64>,
    /// Records kept at each start, in round order.
    pub records: Vec<u64>,
}

/// Sections (a)–(d) and the calibration.
#[derive(Clone, Debug, Serialize)]
pub struct ProbeBench {
    /// `kpath-probe calibrate --mechanism tracepoint` on this host.
    pub calibration: Vec<ProbeCost>,
    /// (a) Closed-loop replies/s on the namespace stand.
    pub saturation: Vec<ConditionFigures>,
    /// (a) The comparisons the targets judge, and where stats mode's cost over the floor
    /// goes, head to head in each round.
    pub head_to_head: Vec<HeadToHead>,
    /// (b) Ping-pong round-trip times on the same stand.
    pub pingpong: Vec<PingPongFigures>,
    /// The recorder started under the closed loop (with (a), once per round).
    pub started_under_load: StartedUnderLoad,
    /// (c) The system-call loop.
    pub syscall: Vec<SyscallFigures>,
    /// (d) The recorder at the highest rates this machine produces.
    pub recorder: Vec<RecorderFigures>,
    /// The targets, judged on the medians.
    pub targets: Vec<Target>,
}

/// `items` in the order of round `round` (from 0), each with its index: as given in even
/// rounds, reversed in odd ones (A B C, C B A, …). Every section that alternates its
/// conditions or set-ups takes its order from here ([`Condition::in_round`]).
fn in_round<T: Copy>(items: &[T], round: usize) -> Vec<(usize, T)> {
    let mut order: Vec<_> = items.iter().copied().enumerate().collect();
    if round % 2 == 1 {
        order.reverse();
    }
    order
}

/// Rounds of section (d), at most: each run attaches and detaches the recorder (about 4 s
/// here), and its four set-ups over 5 rounds would take the bench past its 15 minutes.
const RECORDER_ROUNDS: usize = 3;

/// The workload sizes of one run.
struct Sizes {
    saturation: Duration,
    pingpong_count: u64,
    syscall_calls: u64,
    recorder_calls: u64,
    calibrate_count: u32,
}

impl Sizes {
    fn of(quick: bool) -> Self {
        if quick {
            Sizes {
                saturation: Duration::from_secs(1),
                pingpong_count: 1_000,
                syscall_calls: 200_000,
                recorder_calls: 500_000,
                calibrate_count: 8_000,
            }
        } else {
            Sizes {
                saturation: Duration::from_secs(3),
                pingpong_count: 5_000,
                syscall_calls: 1_500_000,
                recorder_calls: 2_000_000,
                calibrate_count: 40_000,
            }
        }
    }
}

/// Runs sections (a)–(d); needs root and the release binaries.
pub fn run(opts: &BenchOptions) -> Result<ProbeBench> {
    if !netns::is_root() {
        bail!("the probe sections load BPF programs and make namespaces: run as root");
    }
    let sizes = Sizes::of(opts.quick);
    let ctx = Ctx::new(opts)?;
    eprintln!("bench: calibration");
    let calibration = ctx.calibrate(sizes.calibrate_count)?;
    eprintln!("bench: (a) saturation and (b) ping-pong on the namespace stand");
    let StandSections {
        saturation,
        head_to_head,
        pingpong,
        started_under_load,
    } = ctx.stand_sections(&sizes, opts.rounds)?;
    eprintln!("bench: (c) the system-call loop");
    let syscall = ctx.syscall_section(&sizes, opts.rounds)?;
    eprintln!("bench: (d) the recorder's capacity");
    let recorder = ctx.recorder_section(&sizes, opts.rounds.min(RECORDER_ROUNDS))?;
    let targets = targets(&calibration, &head_to_head, &recorder);
    Ok(ProbeBench {
        calibration,
        saturation,
        head_to_head,
        pingpong,
        started_under_load,
        syscall,
        recorder,
        targets,
    })
}

/// Binaries, scratch space and the bpftrace script.
struct Ctx {
    kpath_probe: PathBuf,
    kpath_stand: PathBuf,
    dir: PathBuf,
    bpftrace_script: PathBuf,
    cpus: usize,
}

impl Ctx {
    fn new(opts: &BenchOptions) -> Result<Self> {
        let dir = opts.dir.join("probe");
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("failed to create {}", dir.display()))?;
        let bpftrace_script = dir.join("pairs.bt");
        std::fs::write(&bpftrace_script, include_str!("../pairs.bt"))
            .with_context(|| format!("failed to write {}", bpftrace_script.display()))?;
        if !crate::util::have("bpftrace") {
            bail!("bpftrace is missing: `cargo xtask setup` installs it");
        }
        Ok(Ctx {
            kpath_probe: opts.bin_dir.join("kpath-probe"),
            kpath_stand: opts.bin_dir.join("kpath-stand"),
            dir,
            bpftrace_script,
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        })
    }
}
