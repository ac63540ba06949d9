//! `kpath-probe bare-timing` (hidden): holds the bare timing pair on every tracepoint stage
//! for every task until SIGINT, SIGTERM or `--duration`, then prints what it timed. The
//! bench's "timestamps only" condition (`kpath_probe::bare_timing` says why).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use kpath_probe::bare_timing::BareTiming;

#[derive(clap::Args)]
pub(crate) struct BareTimingArgs {
    /// Detach after this long at the latest: 10s, 500ms, 2m, or plain seconds.
    #[arg(long, value_parser = kpath_cli::value::positive_duration)]
    pub(crate) duration: Duration,
}

pub(crate) fn run_bare_timing(args: BareTimingArgs) -> Result<ExitCode> {
    let timing = BareTiming::attach().context("failed to attach the bare timing pairs")?;
    // The bench waits for this line: every pair is attached once it is printed.
    kpath_cli::out!(
        "attached the bare timing pair to {} tracepoint stages",
        timing.pairs()
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("failed to start the signal runtime")?;
    let why = runtime.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        let mut int = signal(SignalKind::interrupt()).context("failed to catch SIGINT")?;
        let mut term = signal(SignalKind::terminate()).context("failed to catch SIGTERM")?;
        anyhow::Ok(tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
            _ = tokio::time::sleep(args.duration) => "the duration",
        })
    })?;
    let totals = timing
        .totals()
        .context("failed to read the bare pair's totals")?;
    let mean = totals
        .mean_ns()
        .map_or_else(|| "-".to_string(), |m| format!("{m:.0}"));
    kpath_cli::out!(
        "stopped by {why}: {} intervals timed, mean {mean} ns (a cost reference: an interval with another nested in it is not counted)",
        totals.intervals
    );
    Ok(ExitCode::SUCCESS)
}
