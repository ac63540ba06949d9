//! `kpath-probe calibrate`: the probes' own cost per mechanism, against a bare pair.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use kpath_probe::kernel;
use kpath_trace::Mechanism;

#[derive(clap::Args)]
pub(crate) struct CalibrateArgs {
    /// Intervals timed per pair and mechanism, over 4 alternated rounds (at most 262144).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(4..=262_144))]
    pub(crate) count: u32,
    /// Mechanisms to calibrate (default: all; unavailable ones are reported and skipped).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub(crate) mechanism: Vec<Mechanism>,
    /// Write the results as JSON, for `record --calibration`.
    #[arg(short, long, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
    /// Replace the output file if it exists.
    #[arg(long)]
    pub(crate) force: bool,
}

pub(crate) fn run_calibrate(args: CalibrateArgs) -> Result<ExitCode> {
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
    kpath_cli::out!(
        "kernel {}: {} near-empty intervals per pair and mechanism, {} alternated rounds",
        kernel::release(),
        args.count,
        kpath_probe::calibrate::ROUNDS
    );
    kpath_cli::out!(
        "interval timed in the kernel (mean ± std dev, median), and the caller's ns per call"
    );
    kpath_cli::out!(
        "{:<11} {:>19} {:>19} {:>8} {:>19}",
        "mechanism",
        "kpath pair ns",
        "bare pair ns",
        "kpath's",
        "caller none/bare/kp"
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
                kpath_cli::out!(
                    "{:<11} {:>19} {:>19} {:>8} {:>19}",
                    m.name(),
                    pair(c.mean_ns, c.variance_ns2, c.median_ns.unwrap_or(f64::NAN)),
                    bare,
                    share,
                    caller
                );
                costs.push(c);
            }
            Err(reason) => kpath_cli::out!("{:<11} unavailable: {reason}", m.name()),
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
