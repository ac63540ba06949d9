//! `kpath-probe record`: attach probes and write every call to a trace.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use kpath_probe::recorder::{self, RecordOptions};
use kpath_probe::Settings;

use super::select::SelectArgs;

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
pub(crate) enum ModeArg {
    /// Every call to the trace file, as one record at its exit (which carries the entry's
    /// time and depth; readers rebuild the entries). `--entries` adds a record per entry.
    Trace,
    /// Aggregate in the kernel (count, sum, sum of squares, min, max, log2 histogram; clean
    /// and interrupted apart): for long runs; the trace holds the summary, no records.
    Stats,
}

#[derive(clap::Args)]
pub(crate) struct RecordArgs {
    #[command(flatten)]
    pub(crate) select: SelectArgs,
    /// What to record.
    #[arg(long, value_enum, default_value = "trace")]
    pub(crate) mode: ModeArg,
    /// Trace mode: write a record at every entry too, as kpath 0.1 did. Only calls that never
    /// return (unwound after lost events, or open when the recording stops) need it; it
    /// doubles the records, and costs throughput on a saturated host (docs/recorder.md).
    #[arg(long)]
    pub(crate) entries: bool,
    /// Trace file to write (created new; never through a symbolic link).
    #[arg(short, long, default_value = "kpath.trace")]
    pub(crate) output: PathBuf,
    /// Replace the output file if it exists.
    #[arg(long)]
    pub(crate) force: bool,
    /// Record process-context calls of this pid only.
    #[arg(long)]
    pub(crate) pid: Option<u32>,
    /// Record process-context calls of tasks with this name only.
    #[arg(long)]
    pub(crate) comm: Option<String>,
    /// Record calls on these CPUs only, in every context: a list such as 1, 0,2 or 2-3.
    #[arg(long, value_parser = kpath_cli::value::cpu_list)]
    pub(crate) cpu: Option<kpath_cli::value::CpuList>,
    /// Stop after this long: 10s, 500ms, 2m, or plain seconds.
    #[arg(long, value_parser = kpath_cli::value::positive_duration)]
    pub(crate) duration: Option<Duration>,
    /// Stop after N root (depth-0) calls have returned.
    #[arg(long)]
    pub(crate) count: Option<u64>,
    /// Size of each CPU's event ring in bytes (power of two; raise it when events are lost).
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u32).range(4096..=1 << 30))]
    pub(crate) ring_buffer_size: Option<u32>,
    /// Unread ring bytes at which a record wakes the recorder early (default: a quarter of the
    /// ring; records otherwise wait for its 10 ms drain). 0 restores the kernel's adaptive
    /// notification, a wake-up inside the measured interval whenever the recorder had caught
    /// up: only to measure what that costs.
    #[arg(long, value_name = "BYTES", hide = true)]
    pub(crate) wakeup_fill_bytes: Option<u64>,
    /// Write records through the page cache even where O_DIRECT works, as kpath did before
    /// its direct writes: only to measure what they save.
    #[arg(long, hide = true)]
    pub(crate) buffered_writes: bool,
    /// Keep the recorder under SCHED_OTHER, whose drains preempt the measured tasks when they
    /// wake, as kpath did before it ran under SCHED_BATCH: only to measure what that saves.
    #[arg(long, hide = true)]
    pub(crate) normal_policy: bool,
    /// Fail instead of skipping functions that cannot be probed.
    #[arg(long)]
    pub(crate) strict: bool,
    /// No live status line.
    #[arg(short, long)]
    pub(crate) quiet: bool,
    /// Show the kernel side's log messages (unmatched exits, depth overflows, a full call-stack
    /// map) as they happen.
    #[arg(short, long)]
    pub(crate) verbose: bool,
    /// A note stored in the trace metadata and shown in reports.
    #[arg(long)]
    pub(crate) note: Option<String>,
    /// Probe cost from `kpath-probe calibrate -o FILE`, stored in the trace metadata so that
    /// `kpath report --subtract-probe-cost` can remove it.
    #[arg(long, value_name = "FILE")]
    pub(crate) calibration: Option<PathBuf>,
    /// Run this command, and stop recording when it exits.
    #[arg(last = true, value_name = "COMMAND")]
    pub(crate) command: Vec<String>,
}

pub(crate) fn run_record(args: RecordArgs) -> Result<ExitCode> {
    if args.verbose {
        // Kernel-side records carry the eBPF crate's module path as their target.
        log::set_max_level(log::LevelFilter::Debug);
    }
    if let Some(size) = args.ring_buffer_size {
        if !size.is_power_of_two() || size < 4096 {
            bail!("--ring-buffer-size {size}: must be a power of two of at least 4096 bytes");
        }
    }
    let stats_mode = matches!(args.mode, ModeArg::Stats);
    if stats_mode && args.entries {
        bail!("--entries: only in trace mode (--mode stats writes no records)");
    }
    let filtered = args.pid.is_some() || args.comm.is_some() || args.cpu.is_some();
    let opts = RecordOptions {
        mechanism: args.select.mechanism(),
        request: args.select.request()?,
        stages: args.select.stages,
        stage_filter: args.select.stage_filter.clone(),
        settings: Settings {
            filter_pid: args.pid,
            filter_cpus: args.cpu.as_ref().map(|l| l.0.clone()),
            filter_comm: args.comm.clone(),
            ring_buffer_bytes: args.ring_buffer_size,
            wakeup_fill_bytes: args.wakeup_fill_bytes,
            task_slots: None,
            kernel_log: args.verbose.then_some(aya_log::Level::Debug),
            mode: match args.mode {
                ModeArg::Trace if args.entries => kpath_probe::loader::Mode::TraceWithEntries,
                ModeArg::Trace => kpath_probe::loader::Mode::Trace,
                ModeArg::Stats => kpath_probe::loader::Mode::Stats,
            },
        },
        output: args.output.clone(),
        output_policy: kpath_cli::Output::new(args.force),
        duration: args.duration,
        count: args.count,
        strict: args.strict,
        command: args.command.clone(),
        command_line: std::env::args().collect(),
        progress: !args.quiet,
        note: args.note.clone(),
        buffered_writes: args.buffered_writes,
        normal_policy: args.normal_policy,
        probe_cost: match &args.calibration {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| {
                    format!("failed to read the calibration {}", path.display())
                })?;
                serde_json::from_str(&text).with_context(|| {
                    format!("failed to parse the calibration {} (expected the JSON of `kpath-probe calibrate -o`)", path.display())
                })?
            }
            None => Vec::new(),
        },
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    let summary = runtime
        .block_on(recorder::record(opts))
        .with_context(|| format!("failed to record to {}", args.output.display()))?;
    for (reason, names) in kpath_probe::functions::group_skipped(&summary.skipped) {
        let shown: Vec<&str> = names.iter().take(6).copied().collect();
        let more = names.len().saturating_sub(shown.len());
        kpath_cli::say!(
            "kpath-probe: skipped {} ({}{}): {reason}",
            if names.len() == 1 {
                "1 function".to_string()
            } else {
                format!("{} functions", names.len())
            },
            shown.join(", "),
            if more > 0 {
                format!(", and {more} more")
            } else {
                String::new()
            }
        );
    }
    let mut by_mech = std::collections::BTreeMap::new();
    for (_, m) in &summary.functions {
        *by_mech.entry(m.name()).or_insert(0) += 1;
    }
    kpath_cli::say!(
        "kpath-probe: {} records, {} root calls in {:.1} s to {} (stopped: {}); probes: {}",
        summary.records,
        summary.roots,
        summary.elapsed.as_secs_f64(),
        args.output.display(),
        summary.stop_reason,
        by_mech
            .iter()
            .map(|(m, n)| format!("{n} {m}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(ns) = summary.usage.cpu_ns_per_record() {
        kpath_cli::say!(
            "kpath-probe: recorder CPU {:.0} ns per record ({:.1} ms user, {:.1} ms system, {} drains \
             of {} rings, {}{})",
            ns,
            summary.usage.user_ns as f64 / 1e6,
            summary.usage.system_ns as f64 / 1e6,
            summary.usage.batches,
            summary.usage.rings,
            if summary.usage.direct_writes {
                "drains of 256 KiB or more written around the page cache"
            } else {
                "written through the page cache"
            },
            summary.usage.scheduling_clause()
        );
    }
    if summary.records == 0 && summary.roots == 0 && !stats_mode {
        kpath_cli::say!(
            "kpath-probe: WARNING: nothing was recorded: no probed call ran{}. Wrong --pid, \
             --comm or --cpu? No traffic during the recording? `kpath-probe list` shows what \
             is probed.",
            if filtered {
                " that passed the filters"
            } else {
                ""
            }
        );
    }
    if summary.lost > 0 {
        kpath_cli::say!(
            "kpath-probe: WARNING: {} events were LOST (ring buffer full): the trace has gaps. \
             Raise --ring-buffer-size (now {} bytes per CPU's ring) or record fewer functions.",
            summary.lost,
            summary.usage.ring_bytes
        );
    }
    Ok(match summary.command_status {
        Some(code) if code != 0 => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        _ => ExitCode::SUCCESS,
    })
}
