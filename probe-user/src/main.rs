//! `kpath-probe`: record kernel network-path timings with eBPF. CLI and glue only; the work
//! is in the `kpath_probe` library.

use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use kpath_probe::check::{self, CheckMechanism};

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
    /// Prove which probe mechanisms work on this kernel: attach each to FUNCTION, send
    /// datagrams on loopback, and count the records they produce.
    Check(CheckArgs),
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Mech {
    Kprobe,
    Fentry,
    Tracepoint,
}

impl From<Mech> for CheckMechanism {
    fn from(m: Mech) -> Self {
        match m {
            Mech::Kprobe => CheckMechanism::Kprobe,
            Mech::Fentry => CheckMechanism::Fentry,
            Mech::Tracepoint => CheckMechanism::Tracepoint,
        }
    }
}

#[derive(clap::Args)]
struct CheckArgs {
    /// Kernel function to probe (on the UDP send path, called once per datagram).
    #[arg(long, default_value = "udp_sendmsg")]
    function: String,
    /// Datagrams to send per mechanism.
    #[arg(long, default_value_t = 1000)]
    count: u32,
    /// Mechanisms to try (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    mechanism: Vec<Mech>,
    /// Fail unless these mechanisms each give exactly COUNT entries and exits.
    #[arg(long, value_enum, value_delimiter = ',')]
    require: Vec<Mech>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

fn run_check(args: CheckArgs) -> Result<ExitCode> {
    let mechanisms: Vec<CheckMechanism> = if args.mechanism.is_empty() {
        CheckMechanism::ALL.to_vec()
    } else {
        args.mechanism.iter().map(|&m| m.into()).collect()
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
            let (enter, exit) = r.mechanism.names();
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
        let m = CheckMechanism::from(*need);
        match results.iter().find(|r| r.mechanism == m) {
            Some(r) if r.works(u64::from(args.count)) => {}
            Some(_) => failed.push(m.names().0),
            None => bail!("--require {} needs it in --mechanism too", m.names().0),
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
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(args) => run_check(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kpath-probe: {e:#}");
            ExitCode::from(2)
        }
    }
}
