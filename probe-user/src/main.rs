//! `kpath-probe`: record kernel network-path timings with eBPF. CLI and glue only; the work
//! is in the `kpath_probe` library.

use std::process::ExitCode;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use kpath_probe::check::{self, program_names};
use kpath_probe::functions::{self, Request};
use kpath_probe::recorder::{self, MechanismChoice, RecordOptions};
use kpath_probe::{kernel, Settings};
use kpath_trace::Mechanism;
use probe_common::stage::TpStage;

#[derive(Parser)]
#[command(
    name = "kpath-probe",
    version,
    about = "Record kernel network-path timings with eBPF"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Attach probes and record every entry and exit to a trace file.
    Record(RecordArgs),
    /// Show which functions a selection resolves to on this kernel, without attaching.
    List(SelectArgs),
    /// Count calls of every network function during a session; keep those that were called.
    Discover(DiscoverArgs),
    /// Measure the probes' own cost per mechanism (an almost empty interval, many times).
    Calibrate(CalibrateArgs),
    /// Prove which probe mechanisms work on this kernel: attach each to FUNCTION, send
    /// datagrams on loopback, and count the records they produce.
    Check(CheckArgs),
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
enum Preset {
    /// Driver (from --interface), core, IP, UDP and socket functions of a UDP echo.
    UdpEcho,
}

#[derive(clap::Args)]
struct SelectArgs {
    /// Probe mechanism: auto picks fentry where allowed, else kprobes, else tracepoint stages.
    #[arg(long, value_enum, default_value = "auto")]
    mechanism: MechanismChoice,
    /// A kernel function to probe (repeatable).
    #[arg(long = "function", value_name = "NAME")]
    functions: Vec<String>,
    /// A file of function names, one per line (# comments).
    #[arg(long, value_name = "FILE")]
    functions_file: Option<PathBuf>,
    /// Probe every kernel function matching this glob, e.g. 'udp_*' (repeatable).
    #[arg(long = "glob", value_name = "PATTERN")]
    globs: Vec<String>,
    /// A curated function set.
    #[arg(long, value_enum)]
    preset: Option<Preset>,
    /// The interface whose driver functions the preset adds (driver read via ethtool/sysfs).
    #[arg(long, value_name = "IF")]
    interface: Option<String>,
    /// Also record the tracepoint stages (receive, send, receive syscall).
    #[arg(long)]
    stages: bool,
    /// Record only this tracepoint stage (repeatable; names as `list --stages` prints them,
    /// with or without `tp:`). Implies --stages.
    #[arg(long = "stage", value_name = "NAME", value_parser = parse_stage)]
    stage_filter: Vec<TpStage>,
}

fn parse_stage(s: &str) -> Result<TpStage, String> {
    TpStage::from_name(s).ok_or_else(|| {
        format!(
            "`{s}` is not a tracepoint stage; the stages are: {}",
            TpStage::ALL
                .iter()
                .map(|t| t.name())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

impl SelectArgs {
    fn request(&self) -> Result<Request> {
        let mut functions = self.functions.clone();
        if let Some(f) = &self.functions_file {
            functions.extend(functions::read_functions_file(f)?);
        }
        Ok(Request {
            functions,
            globs: self.globs.clone(),
            udp_echo: self.preset == Some(Preset::UdpEcho),
            interface: self.interface.clone(),
        })
    }

    fn mechanism(&self) -> MechanismChoice {
        self.mechanism
    }
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
enum ModeArg {
    /// Every entry and exit to the trace file.
    Trace,
    /// Aggregate in the kernel (count, sum, sum of squares, min, max, log2 histogram; clean
    /// and interrupted apart): for long runs; the trace holds the summary, no records.
    Stats,
}

#[derive(clap::Args)]
struct RecordArgs {
    #[command(flatten)]
    select: SelectArgs,
    /// What to record.
    #[arg(long, value_enum, default_value = "trace")]
    mode: ModeArg,
    /// Trace file to write (created new; never through a symbolic link).
    #[arg(short, long, default_value = "kpath.trace")]
    output: PathBuf,
    /// Replace the output file if it exists.
    #[arg(long)]
    force: bool,
    /// Record process-context calls of this pid only.
    #[arg(long)]
    pid: Option<u32>,
    /// Record process-context calls of tasks with this name only.
    #[arg(long)]
    comm: Option<String>,
    /// Record calls on this CPU only.
    #[arg(long)]
    cpu: Option<u32>,
    /// Stop after this long: 10s, 500ms, 2m, or plain seconds.
    #[arg(long, value_parser = kpath_cli::value::positive_duration)]
    duration: Option<Duration>,
    /// Stop after N root (depth-0) calls have returned.
    #[arg(long)]
    count: Option<u64>,
    /// Ring buffer size in bytes (power of two; raise it when events are lost).
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u32).range(4096..=1 << 30))]
    ring_buffer_size: Option<u32>,
    /// Unread ring bytes at which a record wakes the recorder early (default: a quarter of the
    /// ring; records otherwise wait for its 10 ms drain). 0 restores the kernel's adaptive
    /// notification, a wake-up inside the measured interval whenever the recorder had caught
    /// up: only to measure what that costs.
    #[arg(long, value_name = "BYTES", hide = true)]
    wakeup_fill_bytes: Option<u64>,
    /// Fail instead of skipping functions that cannot be probed.
    #[arg(long)]
    strict: bool,
    /// No live status line.
    #[arg(short, long)]
    quiet: bool,
    /// Show the kernel side's log messages (unmatched exits, depth overflows, a full call-stack
    /// map) as they happen.
    #[arg(short, long)]
    verbose: bool,
    /// A note stored in the trace metadata and shown in reports.
    #[arg(long)]
    note: Option<String>,
    /// Probe cost from `kpath-probe calibrate -o FILE`, stored in the trace metadata so that
    /// `kpath report --subtract-probe-cost` can remove it.
    #[arg(long, value_name = "FILE")]
    calibration: Option<PathBuf>,
    /// Run this command, and stop recording when it exits.
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<String>,
}

fn run_record(args: RecordArgs) -> Result<ExitCode> {
    if args.verbose {
        // Kernel-side records carry the eBPF crate's module path as their target.
        log::set_max_level(log::LevelFilter::Debug);
    }
    if let Some(size) = args.ring_buffer_size {
        if !size.is_power_of_two() || size < 4096 {
            bail!("--ring-buffer-size {size}: must be a power of two of at least 4096 bytes");
        }
    }
    let opts = RecordOptions {
        mechanism: args.select.mechanism(),
        request: args.select.request()?,
        stages: args.select.stages,
        stage_filter: args.select.stage_filter.clone(),
        settings: Settings {
            filter_pid: args.pid,
            filter_cpu: args.cpu,
            filter_comm: args.comm.clone(),
            ring_buffer_bytes: args.ring_buffer_size,
            wakeup_fill_bytes: args.wakeup_fill_bytes,
            kernel_log: args.verbose.then_some(aya_log::Level::Debug),
            mode: match args.mode {
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
    for s in &summary.skipped {
        eprintln!("kpath-probe: skipped {}: {}", s.name, s.reason);
    }
    let mut by_mech = std::collections::BTreeMap::new();
    for (_, m) in &summary.functions {
        *by_mech.entry(m.name()).or_insert(0) += 1;
    }
    eprintln!(
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
        eprintln!(
            "kpath-probe: recorder CPU {:.0} ns per record ({:.1} ms user, {:.1} ms system, {} drains)",
            ns,
            summary.usage.user_ns as f64 / 1e6,
            summary.usage.system_ns as f64 / 1e6,
            summary.usage.batches
        );
    }
    if summary.lost > 0 {
        eprintln!(
            "kpath-probe: WARNING: {} events were LOST (ring buffer full): the trace has gaps. \
             Raise --ring-buffer-size (now {} bytes) or record fewer functions.",
            summary.lost, summary.usage.ring_bytes
        );
    }
    Ok(match summary.command_status {
        Some(code) if code != 0 => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        _ => ExitCode::SUCCESS,
    })
}

fn run_list(args: SelectArgs) -> Result<ExitCode> {
    let request = args.request()?;
    let kallsyms = kernel::Kallsyms::load()?;
    let driver = match &request.interface {
        Some(i) => Some(
            functions::interface_driver(i)
                .with_context(|| format!("failed to find the driver of {i}"))?,
        ),
        None => None,
    };
    let (targets, skipped) = functions::resolve(&request, &kallsyms, driver.as_deref());
    if let Some(d) = &driver {
        println!(
            "interface {}: driver {d}",
            request.interface.as_deref().unwrap_or_default()
        );
    }
    let fentry_ok = kernel::has_btf() && args.mechanism != MechanismChoice::Kprobe;
    for t in &targets {
        let mech = match (args.mechanism, t.module.is_some()) {
            (MechanismChoice::Tracepoint, _) => "not probed (--mechanism tracepoint)",
            (_, true) if kernel::has_kprobes() => "kprobe (module function)",
            (_, false) if fentry_ok && kernel::has_kprobes() => {
                "fentry, or kprobe if the kernel refuses fentry"
            }
            (_, false) if fentry_ok => "fentry, if the kernel allows trampolines",
            (_, _) if kernel::has_kprobes() => "kprobe",
            _ => "none available (no kprobes, no fentry on this kernel)",
        };
        let layer = t.layer.map(|l| l.name()).unwrap_or("-");
        let module = t
            .module
            .as_deref()
            .map(|m| format!(" [{m}]"))
            .unwrap_or_default();
        println!("{:<28} {:<7} {mech}{module}", t.name, layer);
    }
    for s in &skipped {
        println!("{:<28} {:<7} skipped: {}", s.name, "-", s.reason);
    }
    if args.stages || !args.stage_filter.is_empty() || args.mechanism == MechanismChoice::Tracepoint
    {
        let selected = TpStage::ALL
            .into_iter()
            .filter(|s| args.stage_filter.is_empty() || args.stage_filter.contains(s));
        for stage in selected {
            let (c, e, x) = stage.tracepoints();
            let ok = kernel::has_tracepoint(c, e) && kernel::has_tracepoint(c, x);
            println!(
                "{:<28} {:<7} tracepoint {c}:{e} -> {x}{}",
                stage.name(),
                "stage",
                if ok { "" } else { " (absent)" }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
enum GlobSet {
    /// The network code: net/ and drivers/net/ by naming convention (see `kpath_probe::discover`).
    Net,
}

#[derive(clap::Args)]
struct DiscoverArgs {
    /// A predefined candidate set.
    #[arg(long, value_enum)]
    glob_set: Option<GlobSet>,
    /// Extra candidates matching this glob (repeatable).
    #[arg(long = "glob", value_name = "PATTERN")]
    globs: Vec<String>,
    /// The function whose calls count as root invocations (per-root figures divide by it).
    #[arg(long, default_value = "ip_rcv")]
    root: String,
    /// Stop after this long (else when COMMAND exits, or on Ctrl-C).
    #[arg(long, value_parser = kpath_cli::value::positive_duration)]
    duration: Option<Duration>,
    /// Write the full result as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write the called functions, one per line, for `record --functions-file`.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Replace output files that exist.
    #[arg(long)]
    force: bool,
    /// How many functions to print.
    #[arg(long, default_value_t = 40)]
    top: usize,
    /// No progress bar (it is shown only on a terminal anyway).
    #[arg(short, long)]
    quiet: bool,
    /// The session to run while counting; counting stops when it exits.
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<String>,
}

fn run_discover(args: DiscoverArgs) -> Result<ExitCode> {
    use kpath_probe::discover;
    if args.glob_set.is_none() && args.globs.is_empty() {
        bail!("say what to discover: --glob-set net and/or --glob PATTERN");
    }
    if args.command.is_empty() && args.duration.is_none() {
        bail!("give a session to run after `--`, or a --duration");
    }
    let out = kpath_cli::Output::new(args.force);
    for path in [&args.json, &args.output].into_iter().flatten() {
        out.check(path)?;
    }
    let kallsyms = kernel::Kallsyms::load()?;
    let candidates =
        discover::candidates(&kallsyms, &args.globs, args.glob_set == Some(GlobSet::Net));
    if candidates.is_empty() {
        bail!("no traceable kernel function matches the requested set");
    }
    let bar = if !args.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        indicatif::ProgressBar::new(candidates.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "attaching {bar:40} {pos}/{len} functions ({eta} left)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let counting = discover::attach(&candidates, &kallsyms, |done, _| {
        bar.set_position(done as u64)
    })
    .context("failed to attach the counting probes")?;
    bar.finish_and_clear();
    eprintln!(
        "kpath-probe: counting calls of {} of {} candidate functions",
        counting.attached(),
        candidates.len()
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    let status = runtime.block_on(async {
        let mut child = match args.command.split_first() {
            Some((p, rest)) => Some(
                tokio::process::Command::new(p)
                    .args(rest)
                    .spawn()
                    .with_context(|| format!("failed to start `{p}`"))?,
            ),
            None => None,
        };
        let deadline = async {
            match args.duration {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        let exited = async {
            match child.as_mut() {
                Some(c) => c.wait().await.ok(),
                None => std::future::pending().await,
            }
        };
        let status = tokio::select! {
            s = exited => s,
            _ = deadline => None,
            _ = tokio::signal::ctrl_c() => None,
        };
        if let (Some(c), None) = (child.as_mut(), status) {
            let _ = c.start_kill();
            let _ = c.wait().await;
        }
        anyhow::Ok(status)
    })?;
    let found = counting.finish(&args.root)?;
    println!(
        "kernel {}: {} of {} attached functions were called; {} calls of `{}` (root invocations); {} refused by the kernel",
        found.kernel_release,
        found.called.len(),
        found.attached,
        found.root_calls,
        found.root,
        found.refused_count
    );
    println!("{:<40} {:>10} {:>10}", "function", "calls", "per root");
    for c in found.called.iter().take(args.top) {
        let per = c
            .per_root
            .map(|k| format!("{k:.2}"))
            .unwrap_or_else(|| "-".into());
        let module = c
            .module
            .as_deref()
            .map(|m| format!(" [{m}]"))
            .unwrap_or_default();
        println!(
            "{:<40} {:>10} {:>10}",
            format!("{}{module}", c.name),
            c.calls,
            per
        );
    }
    if found.called.len() > args.top {
        println!(
            "... {} more (see --json / -o)",
            found.called.len() - args.top
        );
    }
    if let Some(path) = &args.json {
        let text =
            serde_json::to_string_pretty(&found).context("failed to encode the discovery")?;
        out.write(path, text)?;
    }
    if let Some(path) = &args.output {
        let mut text = format!(
            "# kpath-probe discover on {}: calls during the session\n",
            found.kernel_release
        );
        for c in &found.called {
            text.push_str(&format!("{}  # calls={}\n", c.name, c.calls));
        }
        out.write(path, text)?;
    }
    Ok(match status.and_then(|s| s.code()) {
        Some(code) if code != 0 => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        _ => ExitCode::SUCCESS,
    })
}

#[derive(clap::Args)]
struct CalibrateArgs {
    /// Intervals timed per pair and mechanism, over 4 alternated rounds (at most 262144).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(4..=262_144))]
    count: u32,
    /// Mechanisms to calibrate (default: all; unavailable ones are reported and skipped).
    #[arg(long, value_enum, value_delimiter = ',')]
    mechanism: Vec<Mechanism>,
    /// Write the results as JSON, for `record --calibration`.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Replace the output file if it exists.
    #[arg(long)]
    force: bool,
}

fn run_calibrate(args: CalibrateArgs) -> Result<ExitCode> {
    let out = kpath_cli::Output::new(args.force);
    if let Some(path) = &args.output {
        out.check(path)?;
    }
    let wanted: Vec<Mechanism> = if args.mechanism.is_empty() {
        Mechanism::ALL.to_vec()
    } else {
        args.mechanism.clone()
    };
    let mut costs = Vec::new();
    println!(
        "kernel {}: {} near-empty intervals per pair and mechanism, {} alternated rounds",
        kernel::release(),
        args.count,
        kpath_probe::calibrate::ROUNDS
    );
    println!("interval timed in the kernel (mean ± std dev, median), and the caller's ns per call");
    println!(
        "{:<11} {:>19} {:>19} {:>8} {:>19}",
        "mechanism", "kpath pair ns", "bare pair ns", "kpath's", "caller none/bare/kp"
    );
    for m in wanted {
        match kpath_probe::calibrate::calibrate(m, args.count)
            .with_context(|| format!("failed to calibrate {m}"))?
        {
            Ok(c) => {
                let pair = |mean: f64, var: f64, median: f64| {
                    format!("{mean:.0}±{:.0} ({median:.0})", var.sqrt())
                };
                let bare = c
                    .bare
                    .as_ref()
                    .map(|b| pair(b.mean_ns, b.variance_ns2, b.median_ns))
                    .unwrap_or_else(|| "-".into());
                let share = c
                    .own_share_ns()
                    .map(|s| format!("{s:.0}"))
                    .unwrap_or_else(|| "-".into());
                let caller = c
                    .caller
                    .as_ref()
                    .map(|k| format!("{:.0}/{:.0}/{:.0}", k.none_ns, k.bare_ns, k.kpath_ns))
                    .unwrap_or_else(|| "-".into());
                println!(
                    "{:<11} {:>19} {:>19} {:>8} {:>19}",
                    m.name(),
                    pair(c.mean_ns, c.variance_ns2, c.median_ns.unwrap_or(f64::NAN)),
                    bare,
                    share,
                    caller
                );
                costs.push(c);
            }
            Err(reason) => println!("{:<11} unavailable: {reason}", m.name()),
        }
    }
    if costs.is_empty() {
        bail!("no mechanism could be calibrated on this kernel");
    }
    if let Some(path) = &args.output {
        let text =
            serde_json::to_string_pretty(&costs).context("failed to encode the calibration")?;
        out.write(path, text)?;
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
struct CheckArgs {
    /// Kernel function to probe (on the UDP send path, called once per datagram).
    #[arg(long, default_value = "udp_sendmsg")]
    function: String,
    /// Datagrams to send per mechanism.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    count: u32,
    /// Mechanisms to try (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    mechanism: Vec<Mechanism>,
    /// Fail unless these mechanisms each give exactly COUNT entries and exits.
    #[arg(long, value_enum, value_delimiter = ',')]
    require: Vec<Mechanism>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

fn run_check(args: CheckArgs) -> Result<ExitCode> {
    let mechanisms: Vec<Mechanism> = if args.mechanism.is_empty() {
        Mechanism::ALL.to_vec()
    } else {
        args.mechanism.clone()
    };
    let results = check::run(&args.function, args.count, &mechanisms)
        .with_context(|| format!("failed to check probe mechanisms on `{}`", args.function))?;
    if args.json {
        println!("{:#}", check::to_json(&args.function, args.count, &results));
    } else {
        println!(
            "kernel {}: {} datagrams through `{}`",
            kpath_probe::kernel::release(),
            args.count,
            args.function
        );
        println!(
            "{:<18} {:<9} {:>9} {:>11} {:>6}  status",
            "mechanism", "verifier", "entries", "timed exits", "lost"
        );
        for r in &results {
            let (enter, exit) = program_names(r.mechanism);
            let status = match &r.attached {
                Ok(()) if r.works(u64::from(args.count)) => "works".to_owned(),
                Ok(()) => "attached, but counts differ".to_owned(),
                Err(e) => format!("unavailable: {e}"),
            };
            println!(
                "{:<18} {:<9} {:>9} {:>11} {:>6}  {status}",
                format!("{enter}/{exit}"),
                if r.verified { "accepted" } else { "-" },
                r.entries,
                r.timed_exits,
                r.lost
            );
        }
    }
    let mut failed = Vec::new();
    for need in &args.require {
        let m = *need;
        match results.iter().find(|r| r.mechanism == m) {
            Some(r) if r.works(u64::from(args.count)) => {}
            Some(_) => failed.push(program_names(m).0),
            None => bail!(
                "--require {} needs it in --mechanism too",
                program_names(m).0
            ),
        }
    }
    if failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "kpath-probe: required mechanisms did not work: {}",
            failed.join(", ")
        );
        Ok(ExitCode::FAILURE)
    }
}

fn main() -> ExitCode {
    let verbose = std::env::args().any(|a| a == "-v" || a == "--verbose");
    let default_filter = if verbose {
        "warn,probe_ebpf=debug"
    } else {
        "warn"
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_filter))
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(args) => run_check(args),
        Command::Record(args) => run_record(args),
        Command::List(args) => run_list(args),
        Command::Discover(args) => run_discover(args),
        Command::Calibrate(args) => run_calibrate(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kpath-probe: {e:#}");
            ExitCode::from(2)
        }
    }
}
