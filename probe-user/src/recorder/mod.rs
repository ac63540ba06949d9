//! `kpath-probe record`: attach, drain the ring buffer into a trace, stop, finalise.
//!
//! Nothing read is lost: every stop path (duration, count, Ctrl-C/SIGTERM, the traced command
//! exiting, a write error) drains what the kernel already delivered and finishes the trace
//! with the lost-event counts per CPU. A trace whose writer died is still readable.

//!
//! One job per file: `plan.rs` decides and attaches what to probe (the attach policy),
//! `drain.rs` moves records from the ring into the trace, `tasks.rs` keeps the thread groups
//! the records name (the trace's `tasks` table), `usage.rs` measures the recorder's own CPU,
//! `stats_summary.rs` writes the stats-mode summary. This file runs a recording.
//!
//! It is a little over 500 lines because the run loop and every stop path (duration, count,
//! signals, the traced command, a write error) share the drain and the finalisation.

mod affinity;
mod drain;
mod plan;
mod policy;
mod stats_summary;
mod tasks;
mod usage;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kpath_trace::recording::RecordMode;
use kpath_trace::{Mechanism, TraceWriter};
use probe_common::{counters::Stat, ring::DRAIN_PERIOD_MS, stage::TpStage};
use tokio::io::unix::AsyncFd;

use crate::functions::{Request, Skipped};
use crate::ring::EventRings;
use crate::{ProbeError, Probes, Settings};
use drain::Drainer;
pub use plan::attach;
use stats_summary::{kernel_stats, stats_reserve};
use usage::CpuTime;

/// How functions are probed: one [`Mechanism`], or `auto` to pick the best the kernel allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MechanismChoice {
    /// fentry where the kernel allows it, else kprobes, else tracepoint stages only.
    Auto,
    /// kprobe + kretprobe.
    Kprobe,
    /// fentry + fexit (module functions fall back to kprobes).
    Fentry,
    /// Tracepoint stages only; no function probes.
    Tracepoint,
}

/// Everything `record` needs.
#[derive(Clone, Debug)]
pub struct RecordOptions {
    /// Probe mechanism.
    pub mechanism: MechanismChoice,
    /// Functions to probe.
    pub request: Request,
    /// Also record the tracepoint stages (always on with `MechanismChoice::Tracepoint`).
    pub stages: bool,
    /// Only these tracepoint stages (empty: all of them). Naming one implies `stages`.
    pub stage_filter: Vec<TpStage>,
    /// Filters and ring buffer size.
    pub settings: Settings,
    /// Trace file to write.
    pub output: PathBuf,
    /// How it is created (never through a link; replaced only with `--force`; owned by the
    /// user who ran `sudo`).
    pub output_policy: kpath_cli::Output,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Stop after this many root (depth-0) calls returned.
    pub count: Option<u64>,
    /// A missing or unprobeable function is an error instead of a warning.
    pub strict: bool,
    /// Run this command and stop when it exits.
    pub command: Vec<String>,
    /// The recorder's own command line, for the metadata.
    pub command_line: Vec<String>,
    /// Show a live status line (only when stderr is a terminal).
    pub progress: bool,
    /// A free-text note stored in the trace metadata (e.g. "timings under emulation").
    pub note: Option<String>,
    /// Calibrated probe cost per mechanism (`kpath-probe calibrate`), stored in the metadata.
    pub probe_cost: Vec<kpath_trace::ProbeCost>,
    /// Write records through the page cache even where `O_DIRECT` works: only to measure
    /// what the direct writes save (`cargo xtask bench`).
    pub buffered_writes: bool,
    /// Keep the recorder under `SCHED_OTHER`, whose wake-ups preempt the measured tasks:
    /// only to measure what `SCHED_BATCH` saves (`recorder/policy.rs`).
    pub normal_policy: bool,
}

impl RecordOptions {
    /// Defaults: `--mechanism auto`, no functions or stages yet, no filters, no stop condition
    /// but Ctrl-C/SIGTERM, no live line.
    pub fn new(output: impl Into<PathBuf>) -> Self {
        Self {
            mechanism: MechanismChoice::Auto,
            request: Request::default(),
            stages: false,
            stage_filter: Vec::new(),
            settings: Settings::default(),
            output: output.into(),
            output_policy: kpath_cli::Output::new(false),
            duration: None,
            count: None,
            strict: false,
            command: Vec::new(),
            command_line: Vec::new(),
            progress: false,
            note: None,
            probe_cost: Vec::new(),
            buffered_writes: false,
            normal_policy: false,
        }
    }
}

/// What a recording produced.
#[derive(Clone, Debug)]
pub struct RecordSummary {
    /// Records written.
    pub records: u64,
    /// Root calls that returned.
    pub roots: u64,
    /// Events lost in the kernel (ring buffer full), all CPUs.
    pub lost: u64,
    /// Functions and stages recorded, with their mechanism.
    pub functions: Vec<(String, Mechanism)>,
    /// What was asked for but not probed.
    pub skipped: Vec<Skipped>,
    /// Why the recording stopped.
    pub stop_reason: StopReason,
    /// Wall time recorded.
    pub elapsed: Duration,
    /// Exit status of the traced command, if any.
    pub command_status: Option<i32>,
    /// The drain policy and the recorder's own CPU use.
    pub usage: kpath_trace::RecorderUsage,
}

fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid pointer to a timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Why a recording stopped. Stored in the trace's metadata as text (`stop_reason`, the
/// [`Display`](std::fmt::Display) form).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// `--count N`: the N-th root call was recorded.
    Count(u64),
    /// `--duration` elapsed.
    Duration(Duration),
    /// Ctrl-C, SIGTERM or SIGHUP.
    Signal(&'static str),
    /// The traced command exited (its exit status, as text).
    CommandExited(String),
    /// Writing the trace failed (the error is returned too).
    WriteError,
    /// The caller's stop future completed with this reason ([`Recording::run`]).
    Requested(String),
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Count(n) => write!(f, "{n} root calls recorded"),
            Self::Duration(d) => write!(f, "--duration {d:?} elapsed"),
            Self::Signal(name) => f.write_str(name),
            Self::CommandExited(status) => write!(f, "the command exited ({status})"),
            Self::WriteError => f.write_str("a write error"),
            Self::Requested(reason) => f.write_str(reason),
        }
    }
}

/// A recording whose probes are attached and whose trace file is open. Traffic started after
/// [`Recording::start`] returns is recorded.
pub struct Recording {
    opts: RecordOptions,
    probes: Probes,
    writer: TraceWriter<std::fs::File>,
    ring: AsyncFd<EventRings>,
    functions: Vec<(String, Mechanism)>,
    skipped: Vec<Skipped>,
    start: Instant,
    sigint: tokio::signal::unix::Signal,
    sigterm: tokio::signal::unix::Signal,
    sighup: tokio::signal::unix::Signal,
    /// The recorder moved off the recorded CPUs (`--cpu`): the command gets them back.
    moved: Option<affinity::Moved>,
    /// The recorder became `SCHED_BATCH`: the command gets the policy back.
    batched: Option<policy::Batched>,
}

impl Recording {
    /// Attaches the probes and creates the trace file (needs a tokio runtime with I/O).
    pub fn start(opts: RecordOptions) -> Result<Self, ProbeError> {
        use tokio::signal::unix::{signal, SignalKind};
        // Handlers first: a Ctrl-C at any moment once the trace exists must finalise it.
        let handler = |kind, name: &str| {
            signal(kind).map_err(|source| ProbeError::Kernel {
                what: format!("{name} handler"),
                source,
            })
        };
        let sigint = handler(SignalKind::interrupt(), "SIGINT")?;
        let sigterm = handler(SignalKind::terminate(), "SIGTERM")?;
        // A closed terminal (SIGHUP) ends the recording like SIGTERM, with a finished trace.
        let sighup = handler(SignalKind::hangup(), "SIGHUP")?;
        let (mut probes, mut meta, skipped) = attach(&opts)?;
        meta.start_time_unix_ns = unix_ns();
        meta.start_monotonic_ns = Some(monotonic_ns());
        let functions: Vec<(String, Mechanism)> = meta
            .functions
            .iter()
            .map(|f| (f.name.clone(), f.mechanism))
            .collect();
        let stats_mode = opts.settings.mode == crate::loader::Mode::Stats;
        if stats_mode && functions.len() > probe_common::stats::STATS_MAX_FUNCS as usize {
            return Err(ProbeError::NothingToRecord(format!(
                "--mode stats aggregates at most {} functions; {} were attached",
                probe_common::stats::STATS_MAX_FUNCS,
                functions.len()
            )));
        }
        if stats_mode {
            meta.mode = Some(RecordMode::Stats);
        } else if opts.settings.mode == crate::loader::Mode::Trace {
            // Exits only: readers rebuild the entries (`kpath_trace::rebuild`).
            meta.entry_records = Some(false);
        }
        // Stats mode writes its aggregates into the metadata at the end: reserve room (one
        // function's entry, 64 histogram counts included, stays under 1.5 KiB).
        // Trace mode writes its table of tasks at the end: room for the most entries it keeps.
        let reserve = if stats_mode {
            stats_reserve(functions.len())
        } else {
            kpath_trace::recording::MAX_TASKS * kpath_trace::recording::TASK_JSON_MAX
        };
        let moved = match &opts.settings.filter_cpus {
            Some(cpus) => {
                let moved = affinity::keep_off(cpus).map_err(|source| ProbeError::Kernel {
                    what: "the recorder's CPU affinity".into(),
                    source,
                })?;
                if moved.is_none() {
                    log::warn!(
                        "the recorder runs on a recorded CPU (--cpu lists every CPU it may \
                         use): its own work lands in the intervals it measures"
                    );
                }
                moved
            }
            None => None,
        };
        let batched = if opts.normal_policy {
            None
        } else {
            policy::batch().unwrap_or_else(|e| {
                log::warn!(
                    "the recorder stays under SCHED_OTHER ({e}): its drains may preempt the \
                     work it measures"
                );
                None
            })
        };
        let file = opts.output_policy.create(&opts.output)?;
        let mut writer = TraceWriter::with_reserve(file, meta, reserve)?;
        // Records around the page cache: on a host whose free memory costs a fault to touch,
        // filling page-cache pages was most of the recorder's CPU (`docs/recorder.md`).
        if !opts.buffered_writes {
            if let kpath_trace::DirectWrites::Refused(why) = writer.write_directly()? {
                log::info!(
                    "{}: no direct writes ({why}); records go through the page cache",
                    opts.output.display()
                );
            }
        }
        let mut ring = probes.take_events()?;
        if opts.settings.wakeup_fill_bytes() == 0 {
            // The adaptive notification (kpath 0.1's, for measurements only) wakes the reader
            // when a record lands where the consumer position stands: reading as 0.1 did,
            // giving space back at every record, keeps the comparison faithful.
            ring.publish_every_record();
        }
        // SAFETY: the rings own their epoll fd and are owned by the AsyncFd, so the fd stays
        // open for as long as it is registered.
        let ring = unsafe { AsyncFd::register(ring) }.map_err(|e| ProbeError::Kernel {
            what: "the ring buffer's file descriptor".into(),
            source: e.into_parts().1,
        })?;
        Ok(Self {
            opts,
            probes,
            writer,
            ring,
            functions,
            skipped,
            start: Instant::now(),
            sigint,
            sigterm,
            sighup,
            moved,
            batched,
        })
    }

    /// The functions and stages being recorded, with their mechanism.
    pub fn functions(&self) -> &[(String, Mechanism)] {
        &self.functions
    }

    /// Records until a stop condition of the options, or until `stop` completes (its output
    /// is the reason recorded); always finalises the trace.
    pub async fn run(
        self,
        stop: impl std::future::Future<Output = String>,
    ) -> Result<RecordSummary, ProbeError> {
        let Self {
            opts,
            mut probes,
            mut writer,
            mut ring,
            functions,
            skipped,
            start,
            mut sigint,
            mut sigterm,
            mut sighup,
            moved,
            batched,
        } = self;
        // Busy time counts from here: the attaching, which ran before on any CPU, is not the
        // recorded work. If the map cannot be read now, busy time counts from each CPU's
        // first switch, attaching included, and the user is told.
        let busy_at_start = probes.cpu_busy().unwrap_or_else(|e| {
            log::warn!("busy time will include the attaching: reading it at the start failed: {e}");
            Vec::new()
        });
        let mut child = match opts.command.split_first() {
            Some((program, args)) => Some(
                {
                    let mut cmd = tokio::process::Command::new(program);
                    cmd.args(args);
                    if moved.is_some() || batched.is_some() {
                        // SAFETY: each `restore` makes one system call and touches no lock or
                        // heap.
                        unsafe {
                            cmd.pre_exec(move || {
                                if let Some(m) = moved {
                                    m.restore()?;
                                }
                                if let Some(b) = batched {
                                    b.restore()?;
                                }
                                Ok(())
                            })
                        };
                    }
                    cmd
                }
                .spawn()
                .map_err(|source| ProbeError::Kernel {
                    what: format!("the command `{program}` (starting it)"),
                    source,
                })?,
            ),
            None => None,
        };
        let deadline = opts.duration.map(|d| tokio::time::Instant::now() + d);
        let status_line = opts.progress && std::io::stderr().is_terminal();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        // Records wait in the ring (no wake-up per record, see `probe-ebpf/src/wakeup.rs`):
        // this timer drains them, and a forced wake-up makes the ring readable early when it
        // passes its fill level.
        let mut drain_tick = tokio::time::interval(Duration::from_millis(DRAIN_PERIOD_MS));
        drain_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut drainer = Drainer::new(opts.count);
        let mut command_status = None;
        let mut write_error = None;
        tokio::pin!(stop);
        // Kernel-side log messages (aya-log) at -v: submitted without a wake-up too, so they
        // are read on the same timer.
        let mut logger = probes.kernel_logger()?;
        let cpu_at_start = CpuTime::of_this_process();

        // Under SCHED_BATCH until a ring first passes its fill level (`policy.rs`).
        let mut yielding = batched;
        let mut fill_wakeups = 0u64;
        let fill_level = opts.settings.wakeup_fill_bytes();
        let stop_reason = loop {
            if drainer.reached_count() {
                break StopReason::Count(opts.count.unwrap_or_default());
            }
            tokio::select! {
                guard = ring.readable_mut() => {
                    let mut guard = guard.map_err(|source| ProbeError::Kernel { what: "the ring buffer".into(), source })?;
                    // A ring at its fill level woke us, or epoll reported records written
                    // before the rings were registered; only the first is pressure.
                    let pressed = guard.get_inner().most_unread_bytes() >= fill_level;
                    if let Err(e) = drainer.drain(guard.get_inner_mut(), &mut writer) {
                        write_error = Some(e);
                        break StopReason::WriteError;
                    }
                    guard.clear_ready();
                    if pressed {
                        fill_wakeups += 1;
                        if let Some(b) = yielding.take() {
                            policy::stop_yielding(b);
                        }
                    }
                }
                _ = drain_tick.tick() => {
                    if let Err(e) = drainer.drain(ring.get_mut(), &mut writer) {
                        write_error = Some(e);
                        break StopReason::WriteError;
                    }
                    if let Some(l) = logger.as_mut() {
                        l.flush();
                    }
                }
                reason = &mut stop => break StopReason::Requested(reason),
                _ = sigint.recv() => break StopReason::Signal("Ctrl-C"),
                _ = sigterm.recv() => break StopReason::Signal("SIGTERM"),
                _ = sighup.recv() => break StopReason::Signal("SIGHUP"),
                _ = sleep_until(deadline) => break StopReason::Duration(opts.duration.unwrap_or_default()),
                status = wait_child(&mut child) => {
                    command_status = status.as_ref().ok().and_then(|s| s.code());
                    break StopReason::CommandExited(status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string()));
                }
                _ = tick.tick() => {
                    if status_line {
                        let lost = probes
                            .lost_per_cpu()
                            .map_or(0, |v| kpath_trace::saturating_sum(&v));
                        let secs = start.elapsed().as_secs_f64().max(1e-9);
                        kpath_cli::say_part!("\r\x1b[K{:>6.1} s  {} records ({:.0}/s)  {} root calls  {} lost", secs, drainer.records, drainer.records as f64 / secs, drainer.roots, lost);
                    }
                }
            }
        };
        if status_line {
            kpath_cli::say!();
        }
        if let Some(c) = child.as_mut() {
            if command_status.is_none() {
                let _ = c.start_kill();
                let _ = c.wait().await;
            }
        }
        // Whatever the kernel already delivered goes into the trace (up to --count).
        if write_error.is_none() {
            if let Err(e) = drainer
                .drain(ring.get_mut(), &mut writer)
                .and_then(|()| Ok(writer.flush()?))
            {
                write_error = Some(e);
            }
        }
        if let Some(l) = logger.as_mut() {
            l.flush();
        }
        let cpu = CpuTime::of_this_process().since(&cpu_at_start);
        let usage = kpath_trace::RecorderUsage {
            drain_period_ms: DRAIN_PERIOD_MS,
            wakeup_fill_bytes: opts.settings.wakeup_fill_bytes(),
            ring_bytes: u64::from(opts.settings.ring_bytes()),
            rings: probes.event_ring_count() as u64,
            sched_batch: batched.is_some(),
            fill_wakeups,
            batches: drainer.batches,
            records: drainer.records,
            user_ns: cpu.user_ns,
            system_ns: cpu.system_ns,
            direct_writes: writer.writes_directly(),
        };
        let lost_per_cpu = probes.lost_per_cpu()?;
        let stats = probes.stats()?;
        // Every CPU that switched tasks while recording, whether recorded (`--cpu`) or not:
        // the busy time of the CPUs around the recorded ones tells where else work went.
        let cpu_busy: Vec<kpath_trace::CpuBusyInfo> = probes
            .cpu_busy()?
            .iter()
            .enumerate()
            .filter_map(|(cpu, b)| {
                kpath_trace::CpuBusyInfo::from_kernel(
                    u32::try_from(cpu).ok()?,
                    busy_at_start.get(cpu),
                    b,
                )
            })
            .collect();
        let kernel_stats = if opts.settings.mode == crate::loader::Mode::Stats {
            Some(kernel_stats(
                &functions,
                &probes.func_stats(functions.len() as u32)?,
            ))
        } else {
            None
        };
        let lost = kpath_trace::saturating_sum(&lost_per_cpu);
        let (records, roots) = (drainer.records, drainer.roots);
        if let Some(e) = write_error {
            let _ = writer.flush();
            return Err(e);
        }
        let stop_ns = unix_ns();
        let recursion_misses = probes.recursion_misses();
        let reason = stop_reason.to_string();
        let recorder_usage = usage.clone();
        let stats_mode = opts.settings.mode == crate::loader::Mode::Stats;
        let (tasks, tasks_left_out) = drainer.tasks.finish(tasks::proc_comm);
        writer.finish(|m| {
            if !stats_mode {
                m.tasks = Some(tasks);
                m.tasks_left_out = tasks_left_out;
            }
            m.stop_time_unix_ns = Some(stop_ns);
            m.recorder = Some(recorder_usage);
            m.lost_events_per_cpu = lost_per_cpu;
            m.stop_reason = Some(reason);
            m.kernel_stats = kernel_stats;
            m.cpu_busy = Some(cpu_busy);
            // Every counter by its name, read from its slot: none written by a magic index.
            // A counter that could not be read is left out rather than written as 0.
            let mut counters: kpath_trace::recording::KernelCounters = Stat::ALL
                .iter()
                .filter_map(|&s| Some((s.name().to_string(), *stats.get(s as usize)?)))
                .collect();
            if let Some(n) = recursion_misses {
                counters.insert(kpath_trace::recording::RECURSION_MISSES.into(), n);
            }
            m.kernel_counters = Some(counters);
        })?;
        Ok(RecordSummary {
            records,
            roots,
            usage,
            lost,
            functions,
            skipped,
            stop_reason,
            elapsed: start.elapsed(),
            command_status,
        })
    }
}

/// Records until a stop condition of the options; always finalises the trace.
pub async fn record(opts: RecordOptions) -> Result<RecordSummary, ProbeError> {
    Recording::start(opts)?.run(std::future::pending()).await
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

async fn wait_child(
    child: &mut Option<tokio::process::Child>,
) -> std::io::Result<std::process::ExitStatus> {
    match child {
        Some(c) => c.wait().await,
        None => std::future::pending().await,
    }
}
