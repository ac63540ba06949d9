//! `kpath-probe check`: which probe mechanisms work on this kernel, proven by use.

use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use kpath_probe::check::{self, program_names};
use kpath_trace::Mechanism;

#[derive(clap::Args)]
pub(crate) struct CheckArgs {
    /// Kernel function to probe (on the UDP send path, called once per datagram).
    #[arg(long, default_value = "udp_sendmsg")]
    pub(crate) function: String,
    /// Datagrams to send per mechanism.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub(crate) count: u32,
    /// Mechanisms to try (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub(crate) mechanism: Vec<Mechanism>,
    /// Fail unless these mechanisms each give exactly COUNT entries and exits.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub(crate) require: Vec<Mechanism>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) fn run_check(args: CheckArgs) -> Result<ExitCode> {
    let mechanisms: Vec<Mechanism> = if args.mechanism.is_empty() {
        Mechanism::ALL.to_vec()
    } else {
        args.mechanism.clone()
    };
    let results = check::run(&args.function, args.count, &mechanisms)
        .with_context(|| format!("failed to check probe mechanisms on `{}`", args.function))?;
    let report = check::CheckReport::new(&args.function, args.count, &results);
    if args.json {
        kpath_cli::out!(
            "{}",
            serde_json::to_string_pretty(&report).context("failed to encode the report")?
        );
    } else {
        kpath_cli::out!(
            "kernel {}: {} datagrams through `{}`",
            report.kernel_release,
            report.datagrams,
            report.function
        );
        kpath_cli::out!(
            "{:<18} {:<9} {:>9} {:>11} {:>6}  status",
            "mechanism",
            "verifier",
            "entries",
            "timed exits",
            "lost"
        );
        for m in &report.mechanisms {
            let row = format!(
                "{:<18} {:<9} {:>9} {:>11} {:>6}  ",
                m.pair(),
                if m.verified { "accepted" } else { "-" },
                m.entries,
                m.timed_exits,
                m.lost,
            );
            // Within 100 columns: a long status (a verifier's reason) goes below its row,
            // wrapped and indented.
            let status = m.status();
            if row.chars().count() + status.chars().count() <= 100 {
                kpath_cli::out!("{row}{status}");
            } else {
                kpath_cli::out!("{}", row.trim_end());
                for line in super::wrap(&status, 96) {
                    kpath_cli::out!("    {line}");
                }
            }
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
        kpath_cli::say!(
            "kpath-probe: required mechanisms did not work: {}",
            failed.join(", ")
        );
        Ok(ExitCode::FAILURE)
    }
}
