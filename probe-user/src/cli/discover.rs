//! `kpath-probe discover`: count calls of every network function during a session.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use kpath_probe::kernel;

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
pub(crate) enum GlobSet {
    /// The network code: net/ and drivers/net/ by naming convention (see `kpath_probe::discover`).
    Net,
}

#[derive(clap::Args)]
pub(crate) struct DiscoverArgs {
    /// A predefined candidate set.
    #[arg(long, value_enum)]
    pub(crate) glob_set: Option<GlobSet>,
    /// Extra candidates matching this glob (repeatable).
    #[arg(long = "glob", value_name = "PATTERN")]
    pub(crate) globs: Vec<String>,
    /// The function whose calls count as root invocations (per-root figures divide by it).
    #[arg(long, default_value = "ip_rcv")]
    pub(crate) root: String,
    /// Stop after this long (else when COMMAND exits, or on Ctrl-C).
    #[arg(long, value_parser = kpath_cli::value::positive_duration)]
    pub(crate) duration: Option<Duration>,
    /// Write the full result as JSON.
    #[arg(long, value_name = "FILE")]
    pub(crate) json: Option<PathBuf>,
    /// Write the called functions, one per line, for `record --functions-file`.
    #[arg(short, long, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
    /// Replace output files that exist.
    #[arg(long)]
    pub(crate) force: bool,
    /// How many functions to print.
    #[arg(long, default_value_t = 40)]
    pub(crate) top: usize,
    /// No progress bar (it is shown only on a terminal anyway).
    #[arg(short, long)]
    pub(crate) quiet: bool,
    /// The session to run while counting; counting stops when it exits.
    #[arg(last = true, value_name = "COMMAND")]
    pub(crate) command: Vec<String>,
}

pub(crate) fn run_discover(args: DiscoverArgs) -> Result<ExitCode> {
    use kpath_probe::discover;
    if args.glob_set.is_none() && args.globs.is_empty() {
        bail!("say what to discover: --glob-set net and/or --glob PATTERN");
    }
    if args.command.is_empty() && args.duration.is_none() {
        bail!("give a session to run after `--`, or a --duration");
    }
    let out = kpath_cli::Output::new(args.force);
    for path in [&args.json, &args.output].into_iter().flatten() {
        out.check(path)?;
    }
    let kallsyms = kernel::Kallsyms::load()?;
    let candidates =
        discover::candidates(&kallsyms, &args.globs, args.glob_set == Some(GlobSet::Net));
    if candidates.is_empty() {
        bail!("no traceable kernel function matches the requested set");
    }
    let bar = if !args.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        indicatif::ProgressBar::new(candidates.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "attaching {bar:40} {pos}/{len} functions ({eta} left)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let counting = discover::attach(&candidates, &kallsyms, |done, _| {
        bar.set_position(done as u64)
    })
    .context("failed to attach the counting probes")?;
    bar.finish_and_clear();
    kpath_cli::say!(
        "kpath-probe: counting calls of {} of {} candidate functions",
        counting.attached(),
        candidates.len()
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    let status = runtime.block_on(async {
        let mut child = match args.command.split_first() {
            Some((p, rest)) => Some(
                tokio::process::Command::new(p)
                    .args(rest)
                    .spawn()
                    .with_context(|| format!("failed to start `{p}`"))?,
            ),
            None => None,
        };
        let deadline = async {
            match args.duration {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        let exited = async {
            match child.as_mut() {
                Some(c) => c.wait().await.ok(),
                None => std::future::pending().await,
            }
        };
        let status = tokio::select! {
            s = exited => s,
            _ = deadline => None,
            _ = tokio::signal::ctrl_c() => None,
        };
        if let (Some(c), None) = (child.as_mut(), status) {
            let _ = c.start_kill();
            let _ = c.wait().await;
        }
        anyhow::Ok(status)
    })?;
    let found = counting.finish(&args.root)?;
    kpath_cli::out!(
        "kernel {}: {} of {} attached functions were called; {} calls of `{}` (root invocations); {} refused by the kernel",
        found.kernel_release,
        found.called.len(),
        found.attached,
        found.root_calls,
        found.root,
        found.refused_count
    );
    kpath_cli::out!("{:<40} {:>10} {:>10}", "function", "calls", "per root");
    for c in found.called.iter().take(args.top) {
        let per = c
            .per_root
            .map(|k| format!("{k:.2}"))
            .unwrap_or_else(|| "-".into());
        let module = c
            .module
            .as_deref()
            .map(|m| format!(" [{m}]"))
            .unwrap_or_default();
        kpath_cli::out!(
            "{:<40} {:>10} {:>10}",
            format!("{}{module}", c.name),
            c.calls,
            per
        );
    }
    if found.called.len() > args.top {
        kpath_cli::out!(
            "... {} more (see --json / -o)",
            found.called.len() - args.top
        );
    }
    if let Some(path) = &args.json {
        let text =
            serde_json::to_string_pretty(&found).context("failed to encode the discovery")?;
        out.write(path, text)?;
    }
    if let Some(path) = &args.output {
        let mut text = format!(
            "# kpath-probe discover on {}: calls during the session\n",
            found.kernel_release
        );
        for c in &found.called {
            text.push_str(&format!("{}  # calls={}\n", c.name, c.calls));
        }
        out.write(path, text)?;
    }
    Ok(match status.and_then(|s| s.code()) {
        Some(code) if code != 0 => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        _ => ExitCode::SUCCESS,
    })
}
