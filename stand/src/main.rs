//! `kpath-stand`: command line and glue over the `kpath_stand` library.
//!
//! Subcommands: `echo` (the proxy), `gen` (the load generator), `netns up|down|status` and
//! `run-in` (two hosts as network namespaces), `sweep` (factorial experiments).

use std::{
    fs,
    io::{self, Write},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::ExitCode,
    time::Duration,
};

use anyhow::{Context, Result};
use clap::builder::TypedValueParser as _;
use clap::{Args, Parser, Subcommand, ValueEnum};
use kpath_stand::{
    arrival::Arrivals,
    echo::{self, EchoConfig, EchoServer},
    gen::{self, report::write_histogram_csv, Expect, GenConfig, Pattern},
    netns, signal, sweep, timestamps,
    units::parse_list,
};

#[derive(Parser)]
#[command(
    name = "kpath-stand",
    version,
    about = "UDP echo/proxy server, load generator and two-host stand for kpath"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the UDP echo/reverse/forward server (the proxy).
    Echo(EchoArgs),
    /// Run the load generator against a server.
    Gen(GenArgs),
    /// Manage the two network namespaces `kpath-gen` and `kpath-proxy` (root).
    Netns {
        #[command(subcommand)]
        action: NetnsAction,
    },
    /// Run a command inside one of the stand's namespaces (root).
    RunIn {
        /// Which side.
        side: Side,
        /// The command and its arguments (after `--`).
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Run a factorial sweep over clients × sizes [× busy-us] × repeat on loopback.
    Sweep(SweepArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum Side {
    /// The generator's namespace, `kpath-gen` (198.18.0.1).
    Gen,
    /// The proxy's namespace, `kpath-proxy` (198.18.0.2).
    Proxy,
}

#[derive(Subcommand)]
enum NetnsAction {
    /// Create the namespaces, veth pair and addresses (idempotent).
    Up(NetnsUpArgs),
    /// Remove everything `up` made.
    Down,
    /// Show what exists.
    Status,
}

#[derive(Args)]
struct NetnsUpArgs {
    /// Give each side CPUs of its own (RPS on each veth end): the generator CPU 0, the proxy
    /// the last CPU. Pin the programs too: `echo --pin-cpu`, and `taskset` for `gen`.
    #[arg(long, conflicts_with_all = ["gen_cpus", "proxy_cpus"])]
    isolate: bool,
    /// The generator's CPUs, e.g. 0, 0,1 or 0-2 (with --proxy-cpus).
    #[arg(long, requires = "proxy_cpus", value_parser = kpath_cli::value::cpu_list)]
    gen_cpus: Option<kpath_cli::value::CpuList>,
    /// The proxy's CPUs, e.g. 1 (with --gen-cpus).
    #[arg(long, requires = "gen_cpus", value_parser = kpath_cli::value::cpu_list)]
    proxy_cpus: Option<kpath_cli::value::CpuList>,
}

#[derive(Clone, Copy, ValueEnum)]
enum ModeArg {
    Echo,
    Reverse,
    Forward,
}

#[derive(Args)]
struct EchoArgs {
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

#[derive(Clone, Copy, ValueEnum)]
enum PatternArg {
    Pingpong,
    Closed,
    Open,
}

#[derive(Args)]
struct GenArgs {
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

#[derive(Args)]
struct SweepArgs {
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
    /// Interval of the server CPU/RSS sampling.
    #[arg(long, value_parser = kpath_cli::value::positive_duration, default_value = "100ms")]
    sample_interval: Duration,
    /// Reply timeout.
    #[arg(long, value_parser = kpath_cli::value::positive_duration, default_value = "1s")]
    timeout: Duration,
    /// Output directory (CSV, JSON, plots).
    #[arg(long, default_value = "sweep-out")]
    out: PathBuf,
    /// Skip drawing the plots.
    #[arg(long)]
    no_plots: bool,
    /// Replace files in the output directory that exist (never through a link).
    #[arg(long)]
    force: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            if err
                .downcast_ref::<io::Error>()
                .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            eprintln!("kpath-stand: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Echo(a) => run_echo(a).map(|_| ExitCode::SUCCESS),
        Command::Gen(a) => run_gen(a).map(|_| ExitCode::SUCCESS),
        Command::Netns { action } => run_netns(action).map(|_| ExitCode::SUCCESS),
        Command::RunIn { side, command } => run_in(side, &command),
        Command::Sweep(a) => run_sweep(a).map(|_| ExitCode::SUCCESS),
    }
}

fn run_echo(a: EchoArgs) -> Result<()> {
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

fn run_gen(a: GenArgs) -> Result<()> {
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

fn run_netns(action: NetnsAction) -> Result<()> {
    let stand = netns::Stand::default();
    match action {
        NetnsAction::Up(a) => {
            let split = match (&a.gen_cpus, &a.proxy_cpus, a.isolate) {
                (Some(g), Some(p), _) => {
                    let cpus = |l: &kpath_cli::value::CpuList| {
                        l.0.iter().map(|&c| c as usize).collect::<Vec<_>>()
                    };
                    Some(netns::CpuSplit {
                        gen: cpus(g),
                        proxy: cpus(p),
                    })
                }
                (_, _, true) => {
                    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
                    Some(netns::CpuSplit::auto(cpus).with_context(|| {
                        format!("--isolate needs at least 2 CPUs; this machine has {cpus}")
                    })?)
                }
                _ => None,
            };
            stand
                .up()
                .context("failed to bring the namespace stand up")?;
            println!(
                "up: {} ({}) <-> {} ({})",
                stand.gen_ns, stand.gen_addr, stand.proxy_ns, stand.proxy_addr
            );
            if let Some(split) = split {
                let threads = stand
                    .isolate(&split)
                    .context("failed to give each side its own CPUs")?;
                println!(
                    "isolated: {} receives on CPUs {:?} (RPS, NAPI threads {threads:?}), {} on \
                     CPUs {:?} (RPS); pin the programs there too",
                    stand.gen_ns, split.gen, stand.proxy_ns, split.proxy
                );
            }
        }
        NetnsAction::Down => {
            stand
                .down()
                .context("failed to take the namespace stand down")?;
            println!("down: removed {} and {}", stand.gen_ns, stand.proxy_ns);
        }
        NetnsAction::Status => {
            print!(
                "{}",
                stand
                    .status()
                    .context("failed to read the stand's status")?
            );
        }
    }
    Ok(())
}

fn run_in(side: Side, command: &[String]) -> Result<ExitCode> {
    let stand = netns::Stand::default();
    let ns = match side {
        Side::Gen => &stand.gen_ns,
        Side::Proxy => &stand.proxy_ns,
    };
    let status =
        netns::run_in(ns, command).with_context(|| format!("failed to run {command:?} in {ns}"))?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(c) => ExitCode::from(c.clamp(1, 255) as u8),
        None => ExitCode::from(1),
    })
}

/// `--busy-us` of `sweep`: a list, each value bounded as `echo --busy-us` is.
fn parse_busy_list(list: &str) -> Result<Vec<f64>> {
    list.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| kpath_cli::value::busy_us(p).map_err(|e| anyhow::anyhow!("--busy-us: {e}")))
        .collect()
}

fn run_sweep(a: SweepArgs) -> Result<()> {
    let out = kpath_cli::Output::new(a.force);
    // Before any cell runs: the results must have somewhere to go.
    for name in ["sweep.csv", "sweep.json"] {
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
        sample_interval: a.sample_interval,
        timeout: a.timeout,
        server_exe: std::env::current_exe()
            .context("failed to find this executable for the server")?,
    };
    signal::install().context("failed to install signal handlers")?;
    let results = sweep::run(&plan, signal::requested).context("failed to run the sweep")?;
    sweep::write_outputs(&results, &a.out, !a.no_plots, &out)
        .with_context(|| format!("failed to write the sweep results to {}", a.out.display()))?;
    println!(
        "sweep: {} cells written to {}",
        results.len(),
        a.out.display()
    );
    Ok(())
}
