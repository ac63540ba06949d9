//! `kpath-stand sweep`: factorial experiments over clients × sizes × busy-us on loopback,
//! ending with a table of the results averaged over repeats.

use std::{path::PathBuf, time::Duration};

use anyhow::{Context, Result};
use clap::builder::TypedValueParser as _;
use clap::Args;
use kpath_stand::{signal, sweep, units::parse_list};

#[derive(Args)]
pub(crate) struct SweepArgs {
    /// Client counts, comma separated.
    #[arg(long, default_value = "10,100,1000")]
    clients: String,
    /// Payload sizes in bytes, comma separated.
    #[arg(long, default_value = "1,512,1024")]
    sizes: String,
    /// Server busy-wait per datagram in µs, comma separated.
    #[arg(long, default_value = "0")]
    busy_us: String,
    /// Repetitions of each cell (1 to 1000).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    repeat: u32,
    /// Measured datagrams per cell.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..))]
    count: u64,
    /// Time bound per cell.
    #[arg(long, value_parser = kpath_cli::value::positive_duration, default_value = "10s")]
    duration: Duration,
    /// Warm-up datagrams per cell.
    #[arg(long, default_value_t = 1000)]
    warmup: u64,
    /// Server workers (1 to 256).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256).map(usize::from))]
    workers: usize,
    /// Deprecated and ignored: the server's CPU is no longer sampled but measured exactly over
    /// each cell's generator run.
    #[arg(long, hide = true, value_parser = kpath_cli::value::positive_duration)]
    sample_interval: Option<Duration>,
    /// Reply timeout.
    #[arg(long, value_parser = kpath_cli::value::positive_duration, default_value = "1s")]
    timeout: Duration,
    /// Output directory: sweep.csv and sweep.json (per cell), summary.csv (averaged over
    /// repeats, as printed), one PNG per busy-us value with its gnuplot script and data.
    #[arg(long, default_value = "sweep-out")]
    out: PathBuf,
    /// Skip drawing the plots.
    #[arg(long)]
    no_plots: bool,
    /// Replace files in the output directory that exist (never through a link).
    #[arg(long)]
    force: bool,
}

/// `--busy-us` of `sweep`: a list, each value bounded as `echo --busy-us` is.
fn parse_busy_list(list: &str) -> Result<Vec<f64>> {
    list.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| kpath_cli::value::busy_us(p).map_err(|e| anyhow::anyhow!("--busy-us: {e}")))
        .collect()
}

pub(crate) fn run_sweep(a: SweepArgs) -> Result<()> {
    let out = kpath_cli::Output::new(a.force);
    if a.sample_interval.is_some() {
        kpath_cli::say!(
            "warning: --sample-interval is deprecated and ignored: the server's CPU is measured \
             exactly over each cell's generator run (/proc/PID/task/*/schedstat), not sampled"
        );
    }
    // Before any cell runs: the results must have somewhere to go.
    for name in sweep::OUTPUT_FILES {
        if a.out.is_dir() {
            out.check(&a.out.join(name)).context("bad --out")?;
        }
    }
    let plan = sweep::SweepPlan {
        clients: parse_list("--clients", &a.clients)?,
        sizes: parse_list("--sizes", &a.sizes)?,
        busy_us: parse_busy_list(&a.busy_us)?,
        repeat: a.repeat,
        count: a.count,
        duration: a.duration,
        warmup: a.warmup,
        workers: a.workers,
        timeout: a.timeout,
        server_exe: std::env::current_exe()
            .context("failed to find this executable for the server")?,
    };
    signal::install().context("failed to install signal handlers")?;
    let results = sweep::run(&plan, signal::requested).context("failed to run the sweep")?;
    // The table first: on screen even if the files cannot be written.
    kpath_cli::out_part!(
        "{}",
        sweep::summary::table(&sweep::summary::summarise(&results))
    );
    sweep::write_outputs(&results, &a.out, !a.no_plots, &out)
        .with_context(|| format!("failed to write the sweep results to {}", a.out.display()))?;
    kpath_cli::out!(
        "sweep: {} cells written to {}",
        results.len(),
        a.out.display()
    );
    Ok(())
}
