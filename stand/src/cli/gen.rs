//! `kpath-stand gen`: the load generator (ping-pong, closed loop, open-loop Poisson).

use std::{
    io::{self, Write},
    net::SocketAddr,
    path::PathBuf,
    time::Duration,
};

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use kpath_stand::{
    arrival::Arrivals,
    gen::{self, report::write_histogram_csv, Expect, GenConfig, Pattern},
};

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum PatternArg {
    Pingpong,
    Closed,
    Open,
}

#[derive(Args)]
pub(crate) struct GenArgs {
    /// Server address. Only loopback unless --allow-remote.
    #[arg(long, default_value = "127.0.0.1:9000")]
    target: SocketAddr,
    /// Payload bytes per datagram.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Measured datagrams (default 10000, or unbounded by count when --duration is given).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
    /// Time bound of the whole run, warm-up included (default 300s).
    #[arg(long, value_parser = kpath_cli::value::positive_duration)]
    duration: Option<Duration>,
    /// Datagrams sent first and not measured.
    #[arg(long, default_value_t = 0)]
    warmup: u64,
    /// Seed of the open-loop schedule.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Replies later than this are late and their datagram counted lost.
    #[arg(long, value_parser = kpath_cli::value::positive_duration, default_value = "1s")]
    timeout: Duration,
    /// pingpong: one at a time; closed: --clients ping-pong clients; open: --rate on a schedule.
    #[arg(long, value_enum, default_value = "pingpong")]
    pattern: PatternArg,
    /// Concurrent clients for --pattern closed (1 to 10 000, a socket each).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    clients: u32,
    /// Datagrams per second for --pattern open (above 0, at most 10⁸).
    #[arg(long, value_parser = kpath_cli::value::rate)]
    rate: Option<f64>,
    /// Inter-arrival distribution for --pattern open.
    #[arg(long, value_enum, default_value = "poisson")]
    arrivals: Arrivals,
    /// What the server sends back: echo (echo and forward modes) or reverse.
    #[arg(long, value_enum, default_value = "echo")]
    expect: Expect,
    /// Write the report as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write the full RTT histogram as CSV: value_ns,count,cumulative_fraction.
    #[arg(long, value_name = "FILE")]
    histogram: Option<PathBuf>,
    /// Replace output files that exist (never through a link).
    #[arg(long)]
    force: bool,
    /// Allow targets outside loopback (a real two-host stand, or the namespaces).
    #[arg(long)]
    allow_remote: bool,
    /// Do not print the human summary.
    #[arg(long, short)]
    quiet: bool,
    /// No reply is expected: a send-rate test against a sink (`echo --drop-every 1`). Without
    /// it, a run in which nothing came back fails.
    #[arg(long)]
    no_replies: bool,
}
pub(crate) fn run_gen(a: GenArgs) -> Result<()> {
    let pattern = match a.pattern {
        PatternArg::Pingpong => Pattern::PingPong,
        PatternArg::Closed => Pattern::Closed { clients: a.clients },
        PatternArg::Open => Pattern::Open {
            rate: a
                .rate
                .context("--pattern open needs --rate R (datagrams per second)")?,
            arrivals: a.arrivals,
        },
    };
    let count = match (a.count, a.duration) {
        (Some(c), _) => c,
        (None, Some(_)) => u64::MAX / 2,
        (None, None) => 10_000,
    };
    let cfg = GenConfig {
        target: a.target,
        size: a.size,
        count,
        duration: a.duration.unwrap_or(Duration::from_secs(300)),
        warmup: a.warmup,
        seed: a.seed,
        timeout: a.timeout,
        pattern,
        expect: a.expect,
        allow_remote: a.allow_remote,
    };
    let out = kpath_cli::Output::new(a.force);
    for (flag, path) in [("--json", &a.json), ("--histogram", &a.histogram)] {
        if let Some(path) = path {
            out.check(path).with_context(|| format!("bad {flag}"))?;
        }
    }
    let outcome = gen::run(&cfg)
        .with_context(|| format!("failed to run the generator against {}", a.target))?;
    if let Some(path) = &a.json {
        outcome
            .report
            .write_json(path, &out)
            .context("failed to write the report (--json)")?;
    }
    if let Some(path) = &a.histogram {
        write_histogram_csv(&outcome.histogram, path, &out)
            .context("failed to write the histogram (--histogram)")?;
    }
    if !a.quiet {
        let mut out = io::stdout().lock();
        writeln!(out, "{}", outcome.report.human()).and_then(|_| out.flush())?;
    }
    // A run in which nothing came back measured nothing: a failure, not a result.
    let c = &outcome.report.counts;
    if c.received == 0 && !a.no_replies {
        anyhow::bail!(
            "no reply from {}: {} sent, {} lost ({} late, {} send/receive errors); is the server running there?",
            a.target,
            c.sent,
            c.lost,
            c.late,
            c.errors
        );
    }
    Ok(())
}
