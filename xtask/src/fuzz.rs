//! `cargo xtask fuzz`: the libFuzzer targets of `fuzz/` (cargo-fuzz), each for a fixed time,
//! one after another. The readers of kpath's inputs (traces, `results.json`, validation points,
//! sojourn CSV files) must fail with an error on any input, never panic, hang or allocate
//! without bound; `docs/reliability.md` says what each target feeds.
//!
//! Runs change nothing in the repository: each target's corpus grows in
//! `target/fuzz/corpus/<target>` (seeded from `fuzz/corpus/<target>`), crashes go to
//! `target/fuzz/artifacts/<target>/`, libFuzzer's output to `target/fuzz/logs/<target>.log`
//! and the figures to `target/fuzz/results.json`. A crash fails the command; its input then
//! becomes a regression test of the crate that crashed.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::setup::{fuzz_tools, FUZZ_TOOLCHAIN};
use crate::util::{output, run, show, workspace_root};

/// The fuzz targets (`fuzz/fuzz_targets/<name>.rs`), in the order they run.
pub const TARGETS: [&str; 4] = [
    "trace_reader",
    "results_reader",
    "points_reader",
    "sojourn_csv",
];

/// Seconds per target when none are given: enough for the structure-aware paths (a trace
/// header that parses, then records) to be reached from the seeds, short enough for CI.
pub const DEFAULT_SECONDS: u64 = 60;

/// libFuzzer's limits: a run above either is a crash. The inputs are at most a few tens of
/// KiB, so 2 GiB of memory or 10 s for one input can only mean a runaway allocation or a hang.
const RSS_LIMIT_MB: u32 = 2048;
const TIMEOUT_S: u32 = 10;

/// Options of a fuzzing run.
#[derive(Clone, Debug)]
pub struct FuzzOptions {
    /// Seconds each target runs.
    pub seconds: u64,
    /// Targets to run (default: all of [`TARGETS`]).
    pub targets: Vec<String>,
}

impl FuzzOptions {
    /// Every target for `seconds` each.
    pub fn all(seconds: u64) -> Self {
        Self {
            seconds,
            targets: TARGETS.iter().map(|t| t.to_string()).collect(),
        }
    }
}

/// One target's figures in `target/fuzz/results.json`.
#[derive(Debug, Serialize)]
pub struct TargetResult {
    /// Target name.
    pub name: String,
    /// Inputs executed (libFuzzer's `stat::number_of_executed_units`).
    pub executions: u64,
    /// Crashing inputs found (panic, timeout, out-of-memory, leak): libFuzzer stops at the
    /// first, so 0 or 1.
    pub crashes: u64,
    /// Files in the corpus after the run.
    pub corpus_files: u64,
}

/// `target/fuzz/results.json`.
#[derive(Debug, Serialize)]
pub struct FuzzResults {
    /// UTC date and time of the start, `date -u +%FT%TZ`.
    pub date: String,
    /// Seconds each target ran.
    pub seconds_per_target: u64,
    /// The targets, in the order they ran.
    pub targets: Vec<TargetResult>,
}

/// Where a run's files go, all under `target/fuzz/`.
struct Dirs {
    fuzz: PathBuf,
    out: PathBuf,
    build: PathBuf,
}

impl Dirs {
    fn new() -> Self {
        let root = workspace_root();
        let out = root.join("target/fuzz");
        Self {
            fuzz: root.join("fuzz"),
            build: out.join("build"),
            out,
        }
    }
    fn seeds(&self, t: &str) -> PathBuf {
        self.fuzz.join("corpus").join(t)
    }
    fn corpus(&self, t: &str) -> PathBuf {
        self.out.join("corpus").join(t)
    }
    fn artifacts(&self, t: &str) -> PathBuf {
        self.out.join("artifacts").join(t)
    }
    fn log(&self, t: &str) -> PathBuf {
        self.out.join("logs").join(format!("{t}.log"))
    }
}

/// Installs what is missing, builds every target once, runs each for `opts.seconds`, writes
/// `target/fuzz/results.json` and fails if any target crashed, saying how to reproduce it.
pub fn fuzz(opts: &FuzzOptions) -> Result<()> {
    for t in &opts.targets {
        if !TARGETS.contains(&t.as_str()) {
            bail!(
                "no fuzz target `{t}`: the targets are {}",
                TARGETS.join(", ")
            );
        }
    }
    fuzz_tools()?;
    let dirs = Dirs::new();
    let date = output(Command::new("date").args(["-u", "+%FT%TZ"]))?
        .trim()
        .to_owned();
    let bin_dir = build(&dirs)?;

    let mut results = FuzzResults {
        date,
        seconds_per_target: opts.seconds,
        targets: Vec::new(),
    };
    let mut crashed: Vec<(String, Vec<PathBuf>)> = Vec::new();
    for t in &opts.targets {
        let (result, artifacts) = run_target(&dirs, &bin_dir.join(t), t, opts.seconds)?;
        eprintln!(
            "fuzz: {t}: {} executions, {} crashes, {} corpus files",
            result.executions, result.crashes, result.corpus_files
        );
        if !artifacts.is_empty() {
            crashed.push((t.clone(), artifacts));
        }
        results.targets.push(result);
    }

    let path = dirs.out.join("results.json");
    let text = serde_json::to_string_pretty(&results).context("failed to encode the results")?;
    fs::write(&path, text + "\n").with_context(|| format!("failed to write {}", path.display()))?;
    println!(
        "{:<16} {:>12} {:>8} {:>8}",
        "target", "executions", "crashes", "corpus"
    );
    for r in &results.targets {
        println!(
            "{:<16} {:>12} {:>8} {:>8}",
            r.name, r.executions, r.crashes, r.corpus_files
        );
    }
    println!("results: {}", path.display());

    if crashed.is_empty() {
        return Ok(());
    }
    for (t, artifacts) in &crashed {
        for a in artifacts {
            eprintln!("fuzz: {t} crashed on {}", a.display());
            eprintln!(
                "fuzz:   reproduce: (cd fuzz && cargo +{FUZZ_TOOLCHAIN} fuzz run {t} {})",
                a.display()
            );
            eprintln!(
                "fuzz:   or, as built: {} {}",
                bin_dir.join(t).display(),
                a.display()
            );
        }
        eprintln!("fuzz:   libFuzzer's output: {}", dirs.log(t).display());
    }
    bail!(
        "{} fuzz target(s) crashed: {}; fix the bug and add the input as a regression test",
        crashed.len(),
        crashed
            .iter()
            .map(|(t, _)| t.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Builds every target once (ASan, debug assertions, release optimisation: cargo-fuzz's
/// defaults) and returns the directory of the binaries. The build goes to
/// `target/fuzz/build`, not `fuzz/target`, so that a cached `target/` keeps it.
fn build(dirs: &Dirs) -> Result<PathBuf> {
    let host = output(Command::new("rustup").args(["run", FUZZ_TOOLCHAIN, "rustc", "-vV"]))?
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_owned)
        .context("`rustc -vV` names no host")?;
    let start = Instant::now();
    // `rustup run` rather than `cargo +nightly`: under `cargo xtask` the `cargo` first on
    // PATH may be the toolchain's own binary, which does not understand `+nightly`.
    run(Command::new("rustup")
        .current_dir(&dirs.fuzz)
        .env_remove("RUSTUP_TOOLCHAIN")
        .args(["run", FUZZ_TOOLCHAIN, "cargo", "fuzz", "build"])
        .args(["--target", &host, "--target-dir"])
        .arg(&dirs.build))
    .context("failed to build the fuzz targets")?;
    eprintln!(
        "fuzz: built the targets in {:.0} s",
        start.elapsed().as_secs_f64()
    );
    Ok(dirs.build.join(&host).join("release"))
}

/// Runs one target for `seconds`; returns its figures and the crashing inputs it wrote.
fn run_target(
    dirs: &Dirs,
    bin: &Path,
    t: &str,
    seconds: u64,
) -> Result<(TargetResult, Vec<PathBuf>)> {
    let (corpus, artifacts, log) = (dirs.corpus(t), dirs.artifacts(t), dirs.log(t));
    for d in [&corpus, &artifacts] {
        fs::create_dir_all(d).with_context(|| format!("failed to create {}", d.display()))?;
    }
    if let Some(d) = log.parent() {
        fs::create_dir_all(d).with_context(|| format!("failed to create {}", d.display()))?;
    }
    let seeds = dirs.seeds(t);
    for e in fs::read_dir(&seeds).with_context(|| format!("failed to list {}", seeds.display()))? {
        let e = e.with_context(|| format!("failed to list {}", seeds.display()))?;
        let to = corpus.join(e.file_name());
        fs::copy(e.path(), &to).with_context(|| {
            format!("failed to copy {} to {}", e.path().display(), to.display())
        })?;
    }
    let before = crash_files(&artifacts)?;
    let mut prefix = artifacts.clone().into_os_string();
    prefix.push("/");

    let mut cmd = Command::new(bin);
    cmd.arg(&corpus)
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-rss_limit_mb={RSS_LIMIT_MB}"))
        .arg(format!("-timeout={TIMEOUT_S}"))
        .arg("-print_final_stats=1")
        .arg({
            let mut a = std::ffi::OsString::from("-artifact_prefix=");
            a.push(&prefix);
            a
        });
    let shown = show(&cmd);
    eprintln!("+ {shown} 2> {}", log.display());
    let err = File::create(&log).with_context(|| format!("failed to create {}", log.display()))?;
    let status = cmd
        .stdout(Stdio::null())
        .stderr(err)
        .status()
        .with_context(|| format!("failed to run {shown:?}"))?;
    let text = fs::read(&log).with_context(|| format!("failed to read {}", log.display()))?;
    let text = String::from_utf8_lossy(&text);

    let new: Vec<PathBuf> = crash_files(&artifacts)?
        .difference(&before)
        .map(|n| artifacts.join(n))
        .collect();
    if !status.success() {
        for l in crash_excerpt(&text) {
            eprintln!("  | {l}");
        }
        if new.is_empty() {
            bail!("{shown:?} failed with {status} and left no crashing input (see above)");
        }
    }
    let executions = executions(&text)
        .with_context(|| format!("no execution count in libFuzzer's output {}", log.display()))?;
    let corpus_files = fs::read_dir(&corpus)
        .with_context(|| format!("failed to list {}", corpus.display()))?
        .count() as u64;
    Ok((
        TargetResult {
            name: t.to_owned(),
            executions,
            crashes: new.len() as u64,
            corpus_files,
        },
        new,
    ))
}

/// The files libFuzzer writes for a failing input: `crash-`, `timeout-`, `oom-`, `leak-`.
fn crash_files(dir: &Path) -> Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    for e in fs::read_dir(dir).with_context(|| format!("failed to list {}", dir.display()))? {
        let name = e
            .with_context(|| format!("failed to list {}", dir.display()))?
            .file_name()
            .to_string_lossy()
            .into_owned();
        if ["crash-", "timeout-", "oom-", "leak-"]
            .iter()
            .any(|p| name.starts_with(p))
        {
            out.insert(name);
        }
    }
    Ok(out)
}

/// What to show of a failed run's output: the panic (location and message), the sanitizer's
/// or libFuzzer's error and summary lines and where the input went, without the backtraces
/// (`RUST_BACKTRACE` makes them hundreds of lines; the log keeps them). The last lines when
/// none of these is there.
fn crash_excerpt(log: &str) -> Vec<&str> {
    let lines: Vec<&str> = log.lines().collect();
    let mut out: Vec<&str> = Vec::new();
    for (i, &l) in lines.iter().enumerate() {
        if l.contains("panicked at") {
            out.extend(lines.iter().skip(i).take(2));
        } else if ["ERROR:", "SUMMARY:", "Test unit written to"]
            .iter()
            .any(|k| l.contains(k))
        {
            out.push(l);
        }
    }
    if out.is_empty() {
        out.extend(lines.iter().skip(lines.len().saturating_sub(20)));
    }
    out
}

/// Inputs executed, from libFuzzer's final statistics (`stat::number_of_executed_units: N`)
/// or, when it stopped before printing them, its last status line (`#N ...`).
fn executions(log: &str) -> Option<u64> {
    let stat = log.lines().rev().find_map(|l| {
        l.strip_prefix("stat::number_of_executed_units:")
            .and_then(|n| n.trim().parse().ok())
    });
    stat.or_else(|| {
        log.lines().rev().find_map(|l| {
            let n = l.strip_prefix('#')?.split_whitespace().next()?;
            n.parse().ok()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execution_count_from_the_final_stats_or_the_last_status_line() {
        let done = "#2\tINITED cov: 10 ft: 11 corp: 3/120b exec/s: 0 rss: 40Mb\n\
                    #524288\tpulse  cov: 90 ft: 300 corp: 40/2Kb exec/s: 8738 rss: 60Mb\n\
                    #614401\tDONE   cov: 90 ft: 301 corp: 41/2Kb lim: 4096 exec/s: 10071 rss: 61Mb\n\
                    Done 614401 runs in 61 second(s)\n\
                    stat::number_of_executed_units: 614403\n\
                    stat::average_exec_per_sec:     10071\n";
        assert_eq!(executions(done), Some(614_403));
        let crashed = "#1000\tNEW    cov: 50 ft: 60 corp: 5/300b\n\
                       thread '<unnamed>' panicked at src/lib.rs:1:1:\n\
                       ==123== ERROR: libFuzzer: deadly signal\n";
        assert_eq!(executions(crashed), Some(1000));
        assert_eq!(executions("INFO: Seed: 1\n"), None);
    }

    #[test]
    fn crash_excerpt_keeps_the_panic_and_drops_the_backtrace() {
        let log = "INFO: Seed: 1\n\
                   thread '<unnamed>' panicked at analysis/src/x.rs:1:5:\n\
                   index out of bounds\n\
                   stack backtrace:\n   0: rust_begin_unwind\n\
                   ==1== ERROR: libFuzzer: deadly signal\n    #0 0x1 in f\n\
                   SUMMARY: libFuzzer: deadly signal\n\
                   artifact_prefix='a/'; Test unit written to a/crash-1\n\
                   Base64: AA==\n";
        assert_eq!(
            crash_excerpt(log),
            [
                "thread '<unnamed>' panicked at analysis/src/x.rs:1:5:",
                "index out of bounds",
                "==1== ERROR: libFuzzer: deadly signal",
                "SUMMARY: libFuzzer: deadly signal",
                "artifact_prefix='a/'; Test unit written to a/crash-1",
            ]
        );
        assert_eq!(crash_excerpt("a\nb\n"), ["a", "b"]);
    }
}
