//! `kpath-stand echo`: the UDP echo/reverse/forward server (the proxy).

use std::{
    fs,
    io::{self, Write},
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context, Result};
use clap::builder::TypedValueParser as _;
use clap::{Args, ValueEnum};
use kpath_stand::{
    echo::{self, EchoConfig, EchoServer},
    signal, timestamps,
    units::parse_list,
};

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum ModeArg {
    Echo,
    Reverse,
    Forward,
}

#[derive(Args)]
pub(crate) struct EchoArgs {
    /// Address to listen on (port 0 picks a free one; the chosen address is printed).
    #[arg(long, default_value = "127.0.0.1:9000")]
    listen: SocketAddr,
    /// Worker threads, each with its own SO_REUSEPORT socket (see --shared-socket; 1 to 256).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256).map(usize::from))]
    workers: usize,
    /// All workers share one socket instead of one SO_REUSEPORT socket each.
    #[arg(long)]
    shared_socket: bool,
    /// Echo back, reverse the payload, or forward to --upstream and relay the reply back.
    #[arg(long, value_enum, default_value = "echo")]
    mode: ModeArg,
    /// Upstream server for --mode forward.
    #[arg(long)]
    upstream: Option<SocketAddr>,
    /// Emulated processing per datagram: busy-wait this many microseconds (at most 10⁶).
    #[arg(long, default_value_t = 0.0, value_parser = kpath_cli::value::busy_us)]
    busy_us: f64,
    /// Pin worker i to CPU list[i % len], e.g. --pin-cpu 1 or --pin-cpu 0,1.
    #[arg(long, value_name = "CPUS")]
    pin_cpu: Option<String>,
    /// Record kernel rx (SO_TIMESTAMPNS) and tx (SO_TIMESTAMPING) timestamps per datagram and
    /// write them as CSV: worker,index,seq,len,rx_ns,tx_ns,sojourn_ns.
    #[arg(long, value_name = "FILE")]
    timestamps: Option<PathBuf>,
    /// Record the timestamps and print the sojourn summary without writing a file.
    #[arg(long)]
    sojourn: bool,
    /// Stop after this many received datagrams.
    #[arg(long)]
    max_datagrams: Option<u64>,
    /// Stop after this long (e.g. 10s, 500ms).
    #[arg(long, value_parser = kpath_cli::value::positive_duration)]
    duration: Option<Duration>,
    /// Write the bound address to this file once the server is ready.
    #[arg(long, value_name = "FILE")]
    ready_file: Option<PathBuf>,
    /// Write the shutdown summary as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Replace output files that exist (never through a link).
    #[arg(long)]
    force: bool,
    /// SO_RCVBUF in bytes (at most 1 GiB; the kernel caps it at net.core.rmem_max).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1 << 30).map(|v| v as usize))]
    recv_buffer: Option<usize>,
    /// Test mode: drop every N-th received datagram.
    #[arg(long, hide = true)]
    drop_every: Option<u64>,
    /// Test mode: count receives after which another datagram was already queued.
    #[arg(long, hide = true)]
    count_backlog: bool,
}

pub(crate) fn run_echo(a: EchoArgs) -> Result<()> {
    let pin_cpus = match &a.pin_cpu {
        Some(list) => parse_list("--pin-cpu", list)?,
        None => Vec::new(),
    };
    let cfg = EchoConfig {
        listen: a.listen,
        workers: a.workers,
        shared_socket: a.shared_socket,
        mode: match a.mode {
            ModeArg::Echo => echo::Mode::Echo,
            ModeArg::Reverse => echo::Mode::Reverse,
            ModeArg::Forward => echo::Mode::Forward,
        },
        upstream: a.upstream,
        busy: Duration::from_secs_f64(a.busy_us / 1e6),
        pin_cpus,
        timestamps: a.timestamps.is_some() || a.sojourn,
        max_datagrams: a.max_datagrams,
        duration: a.duration,
        drop_every: a.drop_every,
        count_backlog: a.count_backlog,
        recv_buffer: a.recv_buffer,
    };
    let out = kpath_cli::Output::new(a.force);
    for (flag, path) in [("--timestamps", &a.timestamps), ("--json", &a.json)] {
        if let Some(path) = path {
            out.check(path).with_context(|| format!("bad {flag}"))?;
        }
    }
    signal::install().context("failed to install signal handlers")?;
    let server = EchoServer::start(cfg)
        .with_context(|| format!("failed to start the server on {}", a.listen))?;
    let addr = server.local_addr();
    {
        let mut out = io::stdout().lock();
        writeln!(out, "listening on {addr}").and_then(|_| out.flush())?;
    }
    if let Some(path) = &a.ready_file {
        write_atomically(path, &format!("{addr}\n"))
            .with_context(|| format!("failed to write the ready file {}", path.display()))?;
    }
    let summary = server.wait(signal::requested);
    if let Some(path) = &a.timestamps {
        timestamps::write_csv(path, &summary.timestamps, &out)
            .context("failed to write the timestamps (--timestamps)")?;
    }
    if let Some(path) = &a.json {
        let text =
            serde_json::to_string_pretty(&summary).context("failed to serialise the summary")?;
        out.write(path, text + "\n")
            .context("failed to write --json")?;
    }
    let mut out = io::stdout().lock();
    writeln!(out, "{}", summary.line()).and_then(|_| out.flush())?;
    Ok(())
}

/// Writes the ready file whole or not at all: a waiting script never reads half an address.
/// Written to `PATH.tmp` (created new, a stale one replaced, never through a link) and renamed
/// over `path`, which replaces a link rather than following it. The ready file is a
/// rendezvous, not a result: it is always replaced.
fn write_atomically(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    kpath_cli::Output::new(true).write(&tmp, text)?;
    fs::rename(&tmp, path).with_context(|| format!("failed to rename {}", tmp.display()))
}
