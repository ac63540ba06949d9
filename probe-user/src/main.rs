//! `kpath-probe`: record kernel network-path timings with eBPF. CLI and glue only (one file
//! per subcommand under `cli/`); the work is in the `kpath_probe` library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cli;

use cli::{
    run_bare_timing, run_calibrate, run_check, run_discover, run_list, run_record, BareTimingArgs,
    CalibrateArgs, CheckArgs, DiscoverArgs, RecordArgs, SelectArgs,
};

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
    /// Attach probes and record every call (a record at its exit) to a trace file.
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
    /// The bare timing pair on every tracepoint stage for every task, held until SIGINT,
    /// SIGTERM or the duration: the bench's "timestamps only" condition.
    #[command(hide = true)]
    BareTiming(BareTimingArgs),
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
        Command::BareTiming(args) => run_bare_timing(args),
    };
    match result {
        Ok(_) if kpath_cli::console::stdout_failed() => ExitCode::from(2),
        Ok(code) => code,
        Err(e) => {
            kpath_cli::say!("kpath-probe: {e:#}");
            ExitCode::from(2)
        }
    }
}
