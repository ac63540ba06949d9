//! `kpath`: offline analysis of kpath traces. CLI and glue only; the work is in the library.
//!
//! The file is long because it declares every subcommand's flags (clap); each command body
//! is a few calls into the library.
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use kpath_analysis::export::{ExportFormat, Exporter};
use kpath_analysis::plot::{plot_results, ImageFormat};
use kpath_analysis::report::{csv::Csv, json::Json, text, unit::TimeUnit, Report};
use kpath_analysis::selection::{AppliedSelection, MAX_CPU, MAX_PID};
use kpath_analysis::{
    analyze, html, queueing, validation, AnalysisOptions, Clock, Filter, Results, Selection, Stage,
    StageClassifier,
};

/// Offline analysis of kpath traces: call trees, statistics, queueing model, plots.
#[derive(Parser)]
#[command(name = "kpath", version, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
    /// Replace output files that exist (never an input, never through a link).
    #[arg(long, global = true)]
    force: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Tables per function, level, chain and stage.
    Report {
        /// Trace file.
        trace: PathBuf,
        #[command(flatten)]
        opts: Opts,
        /// Output: text tables, the results document as JSON (times always in ns), or the
        /// per-function table as CSV.
        #[arg(long, value_enum, default_value = "text")]
        format: ReportFormat,
        /// Same as `--format json`.
        #[arg(long, conflicts_with_all = ["csv", "format"])]
        json: bool,
        /// Same as `--format csv`.
        #[arg(long, conflicts_with = "format")]
        csv: bool,
        /// Print a log2 histogram (ns) per function and stage instead of the tables, as bcc's
        /// funclatency does.
        #[arg(long, conflicts_with_all = ["json", "csv", "format"])]
        hist: bool,
        #[command(flatten)]
        unit: UnitOpts,
    },
    /// The call tree of each stage (of the `--stage` given) in text form.
    Tree {
        /// Trace file.
        trace: PathBuf,
        #[command(flatten)]
        opts: Opts,
    },
    /// Folded stacks weighted by self time (ns, on-CPU by default).
    Fold {
        /// Trace file.
        trace: PathBuf,
        #[command(flatten)]
        opts: FoldOpts,
    },
    /// A flame graph (SVG) of the folded stacks.
    Flame {
        /// Trace file.
        trace: PathBuf,
        /// Output SVG.
        #[arg(short, long, default_value = "flame.svg")]
        output: PathBuf,
        #[command(flatten)]
        opts: FoldOpts,
    },
    /// Everything as one JSON document (the input of `plot` and `model`).
    Analyze {
        /// Trace file.
        trace: PathBuf,
        /// Output file.
        #[arg(short, long, default_value = "results.json")]
        output: PathBuf,
        #[command(flatten)]
        opts: Opts,
        /// Measured validation points to store (JSON, format in docs/model.md, "Validation").
        #[arg(long)]
        validation: Option<PathBuf>,
    },
    /// The queueing projection, from a results file or from numbers.
    Model {
        /// A results file written by `kpath analyze`.
        results: Option<PathBuf>,
        /// Mean service time T, any unit.
        #[arg(long, required_unless_present = "results", conflicts_with = "results")]
        mean: Option<f64>,
        /// Variance D of the service time, unit squared.
        #[arg(long, required_unless_present = "results", conflicts_with = "results")]
        variance: Option<f64>,
        /// Nanoseconds per unit of T.
        #[arg(long, default_value_t = 1.0, value_parser = kpath_cli::value::positive_number)]
        tick_ns: f64,
        /// Loads to evaluate (repeatable); default 0.05…0.99.
        #[arg(long)]
        rho: Vec<f64>,
        /// Mean setup time S paid by the first arrival of each busy period (the wake-up of
        /// an idle CPU), in the unit of T: adds M/G/1 with setup times.
        #[arg(long, value_parser = kpath_cli::value::non_negative_number)]
        setup_mean: Option<f64>,
        /// Variance of the setup time, unit squared (default 0: a constant setup).
        #[arg(long, requires = "setup_mean", value_parser = kpath_cli::value::non_negative_number)]
        setup_variance: Option<f64>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Plots (PNG or SVG) with their gnuplot scripts and data.
    Plot {
        /// A results file written by `kpath analyze`.
        results: PathBuf,
        /// Output directory.
        #[arg(short, long, default_value = "plots")]
        output: PathBuf,
        /// Draw SVG instead of PNG.
        #[arg(long)]
        svg: bool,
    },
    /// A static report: DIR/index.html (readable offline) and DIR/summary.md.
    Html {
        /// A results file written by `kpath analyze`.
        results: PathBuf,
        /// Output directory.
        #[arg(short, long, default_value = "kpath-report")]
        output: PathBuf,
        /// Directory with plots already drawn by `kpath plot` (default: draw them into the
        /// output directory unless they are there).
        #[arg(long)]
        plots: Option<PathBuf>,
        /// Draw the plots again even if they exist.
        #[arg(long)]
        replot: bool,
        /// Rows of the top-functions table.
        #[arg(long, default_value_t = 20)]
        top: usize,
    },
    /// Write a synthetic veth-like trace with known distributions (for demos and tests).
    #[command(hide = true)]
    Synth {
        /// Output trace.
        output: PathBuf,
        /// Datagrams to generate.
        #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000_000))]
        datagrams: u64,
        /// Probability that a leaf call is hit by an IRQ.
        #[arg(long, default_value_t = 0.01, value_parser = kpath_cli::value::probability)]
        irq_probability: f64,
        /// Write exit records only, as `kpath-probe record` does by default (without it,
        /// entry records too, as `record --entries` does).
        #[arg(long)]
        exits_only: bool,
    },
    /// One row per call, for pandas or DuckDB; or a timeline for Perfetto UI.
    Export {
        /// Trace file.
        trace: PathBuf,
        /// Row format: CSV, JSON lines, Chrome trace-event JSON for Perfetto UI, or Parquet
        /// (needs -o).
        #[arg(long, value_enum, default_value = "csv")]
        format: FormatArg,
        /// Output file (default: standard output).
        #[arg(short, long)]
        output: Option<PathBuf>,
        #[command(flatten)]
        roots: Roots,
        #[command(flatten)]
        select: SelectionArgs,
    },
}

/// The help heading of [`SelectionArgs`].
const SELECTION: &str = "Selection (whole invocations; values of a flag add up, flags intersect)";

/// Which root invocations a command looks at (`kpath_analysis::selection`): whole
/// invocations, so call trees stay whole. Values of one flag add up; flags intersect.
#[derive(Args)]
struct SelectionArgs {
    /// Only invocations of this stage.
    #[arg(long, help_heading = SELECTION, value_enum)]
    stage: Option<StageArg>,
    /// Only invocations whose first record carries this thread group id (repeatable).
    /// Softirq work carries the task it interrupted (0: an idle CPU): select it by --cpu.
    #[arg(long, help_heading = SELECTION, value_name = "PID", allow_negative_numbers = true,
          value_parser = clap::value_parser!(u32).range(0..=i64::from(MAX_PID)))]
    pid: Vec<u32>,
    /// Only invocations of thread groups with this command name (repeatable; needs the
    /// trace's table of tasks).
    #[arg(long, help_heading = SELECTION, value_name = "NAME")]
    comm: Vec<String>,
    /// Only invocations that began on this CPU (repeatable).
    #[arg(long, help_heading = SELECTION, value_name = "CPU", allow_negative_numbers = true,
          value_parser = clap::value_parser!(u32).range(0..=i64::from(MAX_CPU)))]
    cpu: Vec<u32>,
    /// Only invocations with a call of this function at any depth, like grep on call trees
    /// (repeatable; their other calls stay).
    #[arg(long, help_heading = SELECTION, value_name = "NAME")]
    function: Vec<String>,
    /// Only invocations that began this long or longer after the trace's first record
    /// (e.g. 1.5s, 200ms, 1m30s).
    #[arg(long, help_heading = SELECTION, value_name = "DURATION", allow_hyphen_values = true,
          value_parser = kpath_cli::value::duration)]
    from: Option<std::time::Duration>,
    /// Only invocations that began less than this long after the trace's first record.
    #[arg(long, help_heading = SELECTION, value_name = "DURATION", allow_hyphen_values = true,
          value_parser = kpath_cli::value::duration)]
    to: Option<std::time::Duration>,
}

impl SelectionArgs {
    /// The selection, checked (a window that ends before it starts is an error).
    fn selection(&self) -> Result<Selection> {
        let ns = |d: std::time::Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let s = Selection {
            stage: self.stage.map(StageArg::stage),
            pids: self.pid.clone(),
            comms: self.comm.clone(),
            cpus: self.cpu.clone(),
            functions: self.function.clone(),
            from_ns: self.from.map(ns),
            to_ns: self.to.map(ns),
        };
        s.check()?;
        Ok(s)
    }
}

#[derive(Args)]
struct Roots {
    /// Root function of the receive stage (repeatable; replaces the default list).
    #[arg(long = "rx-root")]
    rx_root: Vec<String>,
    /// Root function of the send stage (repeatable; replaces the default list).
    #[arg(long = "tx-root")]
    tx_root: Vec<String>,
}

impl Roots {
    fn classifier(&self) -> StageClassifier {
        let mut c = StageClassifier::default();
        if !self.rx_root.is_empty() {
            c.rx_roots = self.rx_root.clone();
        }
        if !self.tx_root.is_empty() {
            c.tx_roots = self.tx_root.clone();
        }
        c
    }
}

/// Which time a call's sample is.
#[derive(Clone, Copy, ValueEnum)]
enum ClockArg {
    /// Its time on the CPU: the time its task was switched out (blocked, preempted) is left
    /// out, and reported apart. Traces of format 1 do not record it: wall then.
    OnCpu,
    /// Exit − entry, sleeping included.
    Wall,
}

impl ClockArg {
    fn clock(self) -> Clock {
        match self {
            ClockArg::OnCpu => Clock::OnCpu,
            ClockArg::Wall => Clock::Wall,
        }
    }
}

#[derive(Args)]
struct FoldOpts {
    /// Calls hit by interrupts: keep them (none) or leave them out (interrupted).
    #[arg(long, value_enum, default_value = "none")]
    filter: FoldFilterArg,
    /// Which time a call weighs.
    #[arg(long, value_enum, default_value = "on-cpu")]
    clock: ClockArg,
    #[command(flatten)]
    roots: Roots,
    #[command(flatten)]
    select: SelectionArgs,
}

/// `--filter net` is not offered to folds: a call's interrupt time cannot be split between
/// its own self time and its callees'.
#[derive(Clone, Copy, ValueEnum)]
enum FoldFilterArg {
    None,
    Interrupted,
}

#[derive(Args)]
struct Opts {
    /// Samples hit by interrupts: keep (none), drop (interrupted) or subtract their time (net).
    #[arg(long, value_enum, default_value = "interrupted")]
    filter: FilterArg,
    /// Which time a sample is.
    #[arg(long, value_enum, default_value = "on-cpu")]
    clock: ClockArg,
    /// Subtract the calibrated probe cost from every sample.
    #[arg(long)]
    subtract_probe_cost: bool,
    /// Kept samples each of the receive and send stages needs for a service time T (and a
    /// projection): below it T is left unknown rather than computed from too little.
    #[arg(long, default_value_t = kpath_analysis::results::MIN_STAGE_SAMPLES,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000_000))]
    min_stage_samples: u64,
    #[command(flatten)]
    roots: Roots,
    #[command(flatten)]
    select: SelectionArgs,
}

/// The unit a renderer shows times in; results themselves always hold ns.
#[derive(Args)]
struct UnitOpts {
    /// Time unit of the tables and CSV [default: auto for text (each value in the unit that
    /// suits it, written after it), ns for CSV; JSON is always in ns].
    #[arg(long, value_enum)]
    unit: Option<UnitArg>,
    /// CPU frequency in MHz, for `--unit ticks`.
    #[arg(long, required_if_eq("unit", "ticks"), value_parser = kpath_cli::value::positive_number)]
    cpu_mhz: Option<f64>,
}

impl UnitOpts {
    /// The unit asked for, or the format's default: auto-scaled for people, ns for programs.
    fn time_unit(&self, format: ReportFormat) -> TimeUnit {
        let default = match format {
            ReportFormat::Text => UnitArg::Auto,
            ReportFormat::Json | ReportFormat::Csv => UnitArg::Ns,
        };
        match (self.unit.unwrap_or(default), self.cpu_mhz) {
            (UnitArg::Auto, _) => TimeUnit::Auto,
            (UnitArg::Ns, _) => TimeUnit::Ns,
            (UnitArg::Us, _) => TimeUnit::Us,
            (UnitArg::Ms, _) => TimeUnit::Ms,
            (UnitArg::Ticks, Some(cpu_mhz)) => TimeUnit::Ticks { cpu_mhz },
            // clap requires --cpu-mhz with ticks.
            (UnitArg::Ticks, None) => TimeUnit::Ns,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum FilterArg {
    None,
    Interrupted,
    Net,
}

#[derive(Clone, Copy, ValueEnum)]
enum UnitArg {
    Auto,
    Ns,
    Us,
    Ms,
    Ticks,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ReportFormat {
    Text,
    Json,
    Csv,
}

#[derive(Clone, Copy, ValueEnum)]
enum StageArg {
    /// Receive.
    Rx,
    /// Send.
    Tx,
    /// Roots in neither list, and calls seen without their root.
    Other,
}

impl StageArg {
    fn stage(self) -> Stage {
        match self {
            StageArg::Rx => Stage::Rx,
            StageArg::Tx => Stage::Tx,
            StageArg::Other => Stage::Other,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    /// Comma-separated values, header first.
    Csv,
    /// One JSON object per line.
    Jsonl,
    /// Chrome trace-event JSON: a timeline in Perfetto UI or chrome://tracing.
    Perfetto,
    /// Apache Parquet (needs -o).
    Parquet,
}

impl Opts {
    fn analyze(&self, trace: &Path) -> Result<Results> {
        let options = AnalysisOptions {
            filter: match self.filter {
                FilterArg::None => Filter::None,
                FilterArg::Interrupted => Filter::Interrupted,
                FilterArg::Net => Filter::Net,
            },
            clock: self.clock.clock(),
            subtract_probe_cost: self.subtract_probe_cost,
            classifier: self.roots.classifier(),
            min_stage_samples: self.min_stage_samples,
            selection: self.select.selection()?,
            ..AnalysisOptions::default()
        };
        let r = analyze::analyze_file(trace, &options)
            .with_context(|| format!("failed to analyze {}", trace.display()))?;
        say_selection(r.settings.selection.as_ref());
        Ok(r)
    }
}

/// Says on standard error what a selection kept, and warns when it kept nothing.
fn say_selection(applied: Option<&AppliedSelection>) {
    let Some(a) = applied else { return };
    kpath_cli::say!("kpath: {}", terminal_safe(&a.to_string()));
    if let Some(w) = &a.warning {
        kpath_cli::say!("kpath: warning: {}", terminal_safe(w));
    }
}

fn stdout_report(report: &dyn Report, r: &Results) -> Result<()> {
    let mut out = io::stdout().lock();
    report
        .write(r, &mut out)
        .context("failed to write to standard output")
}

/// Prints text meant for a terminal. Names in it come from files anyone can write: control
/// characters other than newline and tab (an ESC starting a terminal escape sequence, a
/// carriage return hiding what precedes it) are shown as U+FFFD, never sent to the terminal.
fn print(s: &str) -> Result<()> {
    io::stdout()
        .lock()
        .write_all(terminal_safe(s).as_bytes())
        .context("failed to write to standard output")
}

/// `s` with every control character but `\n` and `\t` replaced by U+FFFD.
fn terminal_safe(s: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && c != '\n' && c != '\t';
    if s.contains(unsafe_char) {
        s.replace(unsafe_char, "\u{FFFD}").into()
    } else {
        s.into()
    }
}

/// The text report, through [`print`].
fn print_text_report(r: &Results, unit: TimeUnit) -> Result<()> {
    let mut buf = Vec::new();
    text::Text { unit }
        .write(r, &mut buf)
        .context("failed to render the report")?;
    print(&String::from_utf8_lossy(&buf))
}

fn run(cli: Cli) -> Result<()> {
    let out = kpath_cli::Output::new(cli.force);
    // Checked before the work: an output that cannot be written, or that is an input, stops
    // the command before it reads anything.
    let check = |output: &Path, inputs: &[&Path]| -> Result<()> {
        kpath_cli::output::ensure_not_input(output, inputs)?;
        out.check(output)?;
        Ok(())
    };
    match cli.cmd {
        Cmd::Report {
            trace,
            opts,
            format,
            json,
            csv,
            hist,
            unit,
        } => {
            let format = match (json, csv) {
                (true, _) => ReportFormat::Json,
                (_, true) => ReportFormat::Csv,
                _ => format,
            };
            let time_unit = unit.time_unit(format);
            match (format, unit.unit) {
                (ReportFormat::Json, Some(asked)) if time_unit != TimeUnit::Ns => bail!(
                    "--unit {} does not apply to JSON: the results document always holds ns \
                     (use --format text or csv)",
                    asked
                        .to_possible_value()
                        .map_or("?".into(), |v| v.get_name().to_string())
                ),
                (ReportFormat::Csv, Some(UnitArg::Auto)) => bail!(
                    "--unit auto does not apply to CSV: a column has one unit (use ns, us, ms \
                     or ticks)"
                ),
                _ => {}
            }
            let unit = time_unit;
            let r = opts.analyze(&trace)?;
            if hist {
                print(&kpath_analysis::report::hist::histograms(&r))?;
                warn_results(&r);
                return Ok(());
            }
            match format {
                ReportFormat::Json => stdout_report(&Json, &r)?,
                ReportFormat::Csv => stdout_report(&Csv { unit }, &r)?,
                ReportFormat::Text => print_text_report(&r, unit)?,
            }
            warn_results(&r);
        }
        Cmd::Tree { trace, opts } => {
            let r = opts.analyze(&trace)?;
            warn_results(&r);
            if r.is_stats_mode() {
                // A clear error (exit 2), not an empty tree: the command cannot do its job.
                return Err(kpath_analysis::Error::StatsModeTrace {
                    path: trace,
                    what: "call trees",
                }
                .into());
            }
            // A second pass: the mean time of every call path, for the tree's durations, on the
            // clock and with the filter the results used.
            let mut times =
                kpath_analysis::pathtimes::PathTimes::new(r.settings.filter, r.settings.clock);
            let visit = analyze::visit_known_order(
                &trace,
                &opts.roots.classifier(),
                r.settings.clock,
                &opts.select.selection()?,
                &mut times,
                r.trace.reordered,
            )?;
            let names = visit.metadata.function_names();
            let times = times.named(&names);
            let s = match opts.select.stage {
                Some(s) => kpath_analysis::report::tree::timed_tree(&r, s.stage(), &times),
                None => kpath_analysis::report::tree::timed_trees(&r, &times),
            };
            print(&s)?;
        }
        Cmd::Fold { trace, opts } => {
            let lines = fold(&trace, &opts)?;
            print(&lines.iter().map(|l| format!("{l}\n")).collect::<String>())?;
        }
        Cmd::Flame {
            trace,
            output,
            opts,
        } => {
            check(&output, &[&trace])?;
            let lines = fold(&trace, &opts)?;
            if lines.is_empty() {
                bail!(
                    "failed to draw a flame graph: {} has no completed calls",
                    trace.display()
                );
            }
            let title = format!("kpath: {}", trace.display());
            kpath_analysis::fold::flame(&lines, &title, &output, &out)?;
            kpath_cli::say!("wrote {}", output.display());
        }
        Cmd::Analyze {
            trace,
            output,
            opts,
            validation,
        } => {
            let mut inputs = vec![trace.as_path()];
            inputs.extend(validation.as_deref());
            check(&output, &inputs)?;
            let mut r = opts.analyze(&trace)?;
            warn_results(&r);
            if let Some(v) = validation {
                let points = validation::load_points(&v)?;
                r.validation = Some(points.build(&r).with_context(|| {
                    format!("failed to build the validation from {}", v.display())
                })?);
            }
            let mut w = BufWriter::new(out.create(&output)?);
            Json.write(&r, &mut w)
                .and_then(|()| w.flush())
                .with_context(|| format!("failed to write {}", output.display()))?;
            kpath_cli::say!("wrote {}", output.display());
        }
        Cmd::Model {
            results,
            mean,
            variance,
            tick_ns,
            rho,
            setup_mean,
            setup_variance,
            json,
        } => {
            let setup = setup_mean.map(|mean| queueing::Setup {
                mean,
                variance: setup_variance.unwrap_or(0.0),
            });
            let rhos = if rho.is_empty() {
                queueing::default_rhos()
            } else {
                rho
            };
            let (m, unit) = match (results, mean, variance) {
                (Some(path), _, _) => {
                    let r = Results::load(&path)?;
                    let Some(sv) = &r.service else {
                        bail!(
                            "{} has no service time: {}",
                            path.display(),
                            r.service_unknown.as_deref().unwrap_or("no reason given")
                        );
                    };
                    let m = queueing::project_with_setup(sv.mean, sv.variance, r.unit_ns, &rhos, setup)
                        .with_context(|| format!("failed to project the service time in {}", path.display()))?;
                    (m, r.unit)
                }
                (None, Some(mean), Some(var)) => (queueing::project_with_setup(mean, var, tick_ns, &rhos, setup)?, "unit".to_string()),
                _ => bail!("failed to read the model input: give a results file or both --mean and --variance"),
            };
            if json {
                let s =
                    serde_json::to_string_pretty(&m).context("failed to serialise the model")?;
                print(&format!("{s}\n"))?;
            } else {
                print(&text::model(&m, &unit))?;
            }
        }
        Cmd::Plot {
            results,
            output,
            svg,
        } => {
            let r = Results::load(&results)?;
            warn_results(&r);
            let format = if svg {
                ImageFormat::Svg
            } else {
                ImageFormat::Png
            };
            let figs = plot_results(&r, &output, format, &out).with_context(|| {
                format!(
                    "failed to plot {} into {}",
                    results.display(),
                    output.display()
                )
            })?;
            kpath_cli::say!(
                "wrote {} figures (image, .gp script, .dat data each) to {}",
                figs.len(),
                output.display()
            );
        }
        Cmd::Html {
            results,
            output,
            plots,
            replot,
            top,
        } => {
            let r = Results::load(&results)?;
            let opts = html::HtmlOptions {
                plots,
                replot,
                results_file: Some(results.clone()),
                top,
            };
            let files = html::write_report(&r, &output, &opts, &out).with_context(|| {
                format!(
                    "failed to write the report of {} into {}",
                    results.display(),
                    output.display()
                )
            })?;
            // The warnings name the trace, a path from the results file: terminal-safe.
            for w in &files.warnings {
                kpath_cli::say!("kpath: warning: {}", terminal_safe(w));
            }
            warn_results(&r);
            kpath_cli::say!(
                "wrote {} and {} ({} plots)",
                files.index.display(),
                files.summary.display(),
                files.images.len()
            );
        }
        Cmd::Synth {
            output,
            datagrams,
            irq_probability,
            exits_only,
        } => {
            let mut cfg = kpath_analysis::synth::SynthConfig::veth(datagrams);
            cfg.irq_probability = irq_probability;
            cfg.entry_records = !exits_only;
            let n = kpath_analysis::synth::write_trace(&cfg, &output, &out)
                .with_context(|| format!("failed to write {}", output.display()))?;
            kpath_cli::say!("wrote {n} records to {}", output.display());
        }
        Cmd::Export {
            trace,
            format,
            output,
            roots,
            select,
        } => {
            let selection = select.selection()?;
            let format = match format {
                FormatArg::Csv => ExportFormat::Csv,
                FormatArg::Jsonl => ExportFormat::Jsonl,
                FormatArg::Perfetto => ExportFormat::Perfetto,
                FormatArg::Parquet => ExportFormat::Parquet,
            };
            if format.needs_file() && output.is_none() {
                bail!("--format parquet writes a file, not standard output: pass -o FILE");
            }
            if let Some(p) = &output {
                check(p, &[&trace])?;
            }
            let meta = analyze::open_trace(&trace)?.metadata().clone();
            refuse_stats_mode(&trace, &meta, "calls to export")?;
            // A selection that cannot apply fails before the output is created.
            kpath_analysis::selection::InvocationFilter::new(&selection, &meta)?;
            let names = meta.function_names();
            // `Send` for the Parquet writer: standard output unlocked, behind the buffer.
            let out: Box<dyn Write + Send> = match &output {
                Some(p) => Box::new(BufWriter::new(out.create(p)?)),
                None => Box::new(BufWriter::new(io::stdout())),
            };
            let mut ex = Exporter::new(out, format, names);
            // Raw times: the rows carry `off_cpu_ns` to take the on-CPU time from.
            let visit = analyze::visit_selected(
                &trace,
                &roots.classifier(),
                Clock::Wall,
                &selection,
                &mut ex,
            )?;
            warn_visit(&trace, &visit);
            say_selection(visit.selection.as_ref());
            let target = output
                .as_ref()
                .map_or("standard output".to_string(), |p| p.display().to_string());
            ex.finish()
                .with_context(|| format!("failed to write {target}"))?;
        }
    }
    Ok(())
}

/// Fails on a stats-mode trace with no records: commands that walk calls have nothing to do.
fn refuse_stats_mode(trace: &Path, meta: &kpath_trace::Metadata, what: &'static str) -> Result<()> {
    if meta.is_stats_mode() {
        let empty = kpath_trace::TraceReader::open(trace)
            .map(|mut r| matches!(r.next_event(), Ok(None)))
            .unwrap_or(false);
        if empty {
            return Err(kpath_analysis::Error::StatsModeTrace {
                path: trace.into(),
                what,
            }
            .into());
        }
    }
    Ok(())
}

/// Says on standard error what a trace is missing: events the kernel lost while recording,
/// and a cut-short last record. Every command that reads a trace or its results calls it.
/// What a command read that the user must know of, whatever it prints: lost events, a cut
/// tail, records out of time order (sorted, or still out of order), records that did not
/// nest.
struct ReadWarnings {
    lost_events: u64,
    missed_probe_runs: u64,
    cut_tail: Option<kpath_trace::CutTail>,
    reordered: Option<kpath_analysis::results::Reordered>,
    anomalies: kpath_analysis::calltree::TreeAnomalies,
}

fn warn_incomplete(trace: &str, w: ReadWarnings) {
    let trace = terminal_safe(trace);
    if w.lost_events > 0 {
        kpath_cli::say!(
            "kpath: warning: {} events were lost while recording {trace}",
            w.lost_events
        );
    }
    if w.missed_probe_runs > 0 {
        kpath_cli::say!(
            "kpath: warning: the kernel skipped {} runs of the probes while recording {trace} \
             (one fired while another BPF program ran on its CPU, e.g. a softirq inside a \
             probe): those calls are missing",
            w.missed_probe_runs
        );
    }
    if let Some(cut) = w.cut_tail {
        kpath_cli::say!("kpath: warning: {trace}: {cut}");
    }
    if let Some(r) = w.reordered {
        kpath_cli::say!("kpath: warning: {trace}: {r}");
    }
    let a = &w.anomalies;
    if a.out_of_order > 0 {
        kpath_cli::say!(
            "kpath: warning: {trace}: {} records are out of time order within their call \
             stacks even after sorting; their trees are counted as anomalies",
            a.out_of_order
        );
    }
    let unnested = a.unmatched_exits + a.unwound_calls + a.depth_gaps + a.depth_overflows;
    if unnested > 0 {
        kpath_cli::say!(
            "kpath: warning: {trace}: {unnested} records did not nest ({} unmatched exits, {} \
             unwound calls, {} depth gaps, {} depth overflows); {} invocations are broken",
            a.unmatched_exits,
            a.unwound_calls,
            a.depth_gaps,
            a.depth_overflows,
            a.broken_invocations
        );
    }
}

fn warn_results(r: &Results) {
    warn_incomplete(
        &r.trace.path,
        ReadWarnings {
            lost_events: r.trace.lost_events,
            missed_probe_runs: r.trace.missed_probe_runs,
            cut_tail: r.trace.cut_tail,
            reordered: r.trace.reordered,
            anomalies: r.anomalies,
        },
    );
    if r.settings.clock == Clock::Wall && !r.trace.off_cpu_recorded && !r.is_stats_mode() {
        kpath_cli::say!(
            "kpath: warning: {}: the trace (format 1) does not record off-CPU time: times are \
             wall-clock, sleeping included",
            terminal_safe(&r.trace.path)
        );
    }
    // A stats-mode trace has no stages: its lack of a service time is no news.
    if let (None, Some(why), false) = (&r.service, &r.service_unknown, r.is_stats_mode()) {
        kpath_cli::say!("kpath: warning: {}: {why}", terminal_safe(&r.trace.path));
    }
}

/// Says so when the on-CPU clock was asked of a trace that does not record off-CPU time.
fn warn_clock(trace: &Path, asked: Clock, used: Clock) {
    if asked != used {
        kpath_cli::say!(
            "kpath: warning: {}: the trace (format 1) does not record off-CPU time: times are \
             wall-clock, sleeping included; record it again with this kpath-probe for on-CPU \
             times",
            terminal_safe(&trace.display().to_string())
        );
    }
}

fn warn_visit(trace: &Path, visit: &analyze::Visit) {
    warn_incomplete(
        &trace.display().to_string(),
        ReadWarnings {
            lost_events: visit.metadata.lost_events(),
            missed_probe_runs: kpath_analysis::analyze::missed_probe_runs(&visit.metadata),
            cut_tail: visit.cut_tail,
            reordered: visit.reordered,
            anomalies: visit.anomalies,
        },
    );
}

fn fold(trace: &Path, opts: &FoldOpts) -> Result<Vec<String>> {
    let clock = opts.clock.clock();
    let (lines, visit) = kpath_analysis::fold::fold_file(
        trace,
        &opts.roots.classifier(),
        clock,
        matches!(opts.filter, FoldFilterArg::Interrupted),
        &opts.select.selection()?,
    )?;
    warn_visit(trace, &visit);
    say_selection(visit.selection.as_ref());
    warn_clock(trace, clock, visit.clock);
    refuse_stats_mode(trace, &visit.metadata, "call stacks to fold")?;
    Ok(lines)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) if kpath_cli::console::stdout_failed() => ExitCode::from(2),
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if kpath_cli::console::is_broken_pipe(e.as_ref()) {
                return ExitCode::SUCCESS;
            }
            kpath_cli::say!("kpath: {e:#}");
            ExitCode::from(2)
        }
    }
}
