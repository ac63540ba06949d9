//! `cargo xtask bench`: kpath against its peers, side by side, in alternated rounds.
//!
//! Every comparison is a ratio measured in one run: the conditions of a section take turns
//! round after round (A B C, A B C, ...; the probe sections reverse every other round, A B C,
//! C B A, ...) so that the machine's drift touches all of them alike, and each figure is
//! given as min / median / max over the rounds. The results go to
//! `target/bench/results.json` (one [`BenchResults`] document) and a table on stdout;
//! `docs/performance.md` explains each number. `--section` runs some sections only; their
//! document goes to `target/bench/partial.json`, so that the full results are not replaced
//! by a partial run.

mod analysis;
mod probe;
mod stand;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::util::{output, workspace_root};

/// Options shared by every section.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Rounds per condition (each condition runs once per round, in turn).
    pub rounds: usize,
    /// Smaller workloads, for a smoke run (the figures are then not the documented ones).
    pub quick: bool,
    /// Where scratch files and the results go (`target/bench`).
    pub dir: PathBuf,
    /// The release binaries (`target/release`).
    pub bin_dir: PathBuf,
    /// The sections to run (all when empty).
    pub sections: Vec<SectionName>,
}

/// A section of the benchmark, as `--section` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SectionName {
    /// (a)–(d) and the calibration: the probe effect (needs root).
    Probe,
    /// (e): analysis speed against awk.
    Analysis,
    /// (f): the stand against sockperf.
    Stand,
}

impl BenchOptions {
    fn runs(&self, s: SectionName) -> bool {
        self.sections.is_empty() || self.sections.contains(&s)
    }
}

/// Min, median and max of a figure over the rounds.
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct Spread {
    /// Smallest round.
    pub min: f64,
    /// Median round (the mean of the two middle ones for an even count).
    pub median: f64,
    /// Largest round.
    pub max: f64,
}

impl Spread {
    /// The spread of `values`; `None` when there are none or one is not finite.
    pub fn of(values: &[f64]) -> Option<Self> {
        if values.is_empty() || values.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Self {
            min: v[0],
            median,
            max: v[n - 1],
        })
    }
}

/// A section's figures, or why it could not be measured.
#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Section<T> {
    /// Measured.
    Measured(T),
    /// Not measured: the error.
    Failed(String),
    /// Not run (`--section` chose others).
    Skipped,
}

/// A target of `docs/performance.md`, judged on a measured figure (recorded, not asserted).
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// What the target says.
    pub target: String,
    /// The measured figure it is judged on (median over the rounds), in the target's unit.
    pub measured: f64,
    /// Whether the measured figure meets the target.
    pub met: bool,
}

impl Target {
    /// Met when `measured ≥ bound`.
    fn at_least(target: &str, measured: f64, bound: f64) -> Self {
        Self::judged(target, measured, measured >= bound)
    }

    /// Met when `measured < bound`.
    fn below(target: &str, measured: f64, bound: f64) -> Self {
        Self::judged(target, measured, measured < bound)
    }

    /// Met as `met` says.
    fn judged(target: &str, measured: f64, met: bool) -> Self {
        Self {
            target: target.into(),
            measured,
            met,
        }
    }
}

/// Where and when the benchmark ran.
#[derive(Debug, Serialize)]
pub struct Machine {
    /// `uname -r`.
    pub kernel: String,
    /// CPUs available to the benchmark.
    pub cpus: usize,
    /// The first `model name` of /proc/cpuinfo.
    pub cpu_model: String,
    /// UTC date and time of the start, `date -u +%FT%TZ`.
    pub date: String,
}

/// `target/bench/results.json`: everything `cargo xtask bench` measured.
#[derive(Debug, Serialize)]
pub struct BenchResults {
    /// Where and when.
    pub machine: Machine,
    /// Rounds per condition.
    pub rounds: usize,
    /// Smaller workloads (a smoke run).
    pub quick: bool,
    /// Sections (a)–(d) and the calibration: the probe effect.
    pub probe: Section<probe::ProbeBench>,
    /// Section (e): analysis speed against awk.
    pub analysis: Section<analysis::AnalysisBench>,
    /// Section (f): the stand against sockperf.
    pub stand: Section<stand::StandBench>,
    /// Wall time of the whole benchmark, s.
    pub took_s: f64,
}

/// Runs every section, writes `target/bench/results.json` and prints the tables. A section
/// that fails is recorded as failed and the others still run; the command then fails.
pub fn bench(opts: &BenchOptions) -> Result<()> {
    let start = Instant::now();
    std::fs::create_dir_all(&opts.dir)
        .with_context(|| format!("failed to create {}", opts.dir.display()))?;
    let machine = Machine {
        kernel: output(std::process::Command::new("uname").arg("-r"))?
            .trim()
            .to_owned(),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        cpu_model: std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|c| {
                c.lines()
                    .find_map(|l| l.strip_prefix("model name"))
                    .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
            })
            .unwrap_or_default(),
        date: output(std::process::Command::new("date").args(["-u", "+%FT%TZ"]))?
            .trim()
            .to_owned(),
    };
    fn section<T>(name: &str, r: Result<T>) -> Section<T> {
        match r {
            Ok(t) => Section::Measured(t),
            Err(e) => {
                eprintln!("bench: section {name} FAILED: {e:#}");
                Section::Failed(format!("{e:#}"))
            }
        }
    }
    let probe = if opts.runs(SectionName::Probe) {
        section("(a)-(d)", probe::run(opts))
    } else {
        Section::Skipped
    };
    let analysis = if opts.runs(SectionName::Analysis) {
        eprintln!("bench: (e) analysis speed");
        section("(e)", analysis::run(opts))
    } else {
        Section::Skipped
    };
    let stand = if opts.runs(SectionName::Stand) {
        eprintln!("bench: (f) the stand against sockperf");
        section("(f)", stand::run(opts))
    } else {
        Section::Skipped
    };
    let results = BenchResults {
        machine,
        rounds: opts.rounds,
        quick: opts.quick,
        probe,
        analysis,
        stand,
        took_s: start.elapsed().as_secs_f64(),
    };
    let path = opts.dir.join(if opts.sections.is_empty() {
        "results.json"
    } else {
        "partial.json"
    });
    let text = serde_json::to_string_pretty(&results).context("failed to encode the results")?;
    std::fs::write(&path, text + "\n")
        .with_context(|| format!("failed to write {}", path.display()))?;
    print_tables(&results);
    println!("results: {} ({:.0} s)", path.display(), results.took_s);
    let failed: Vec<&str> = [
        ("(a)-(d)", matches!(results.probe, Section::Failed(_))),
        ("(e)", matches!(results.analysis, Section::Failed(_))),
        ("(f)", matches!(results.stand, Section::Failed(_))),
    ]
    .into_iter()
    .filter(|(_, f)| *f)
    .map(|(n, _)| n)
    .collect();
    if !failed.is_empty() {
        bail!("sections {} failed (see above)", failed.join(", "));
    }
    Ok(())
}

fn print_tables(r: &BenchResults) {
    println!(
        "kpath bench, {}: kernel {}, {} CPUs ({}), {} rounds{}",
        r.machine.date,
        r.machine.kernel,
        r.machine.cpus,
        r.machine.cpu_model,
        r.rounds,
        if r.quick { ", quick" } else { "" }
    );
    match &r.probe {
        Section::Measured(p) => print!("{}", probe::table(p)),
        Section::Failed(e) => println!("(a)-(d) failed: {e}"),
        Section::Skipped => {}
    }
    match &r.analysis {
        Section::Measured(a) => print!("{}", analysis::table(a)),
        Section::Failed(e) => println!("(e) failed: {e}"),
        Section::Skipped => {}
    }
    match &r.stand {
        Section::Measured(s) => print!("{}", stand::table(s)),
        Section::Failed(e) => println!("(f) failed: {e}"),
        Section::Skipped => {}
    }
}

/// Options for `rounds` rounds (`cargo xtask bench` defaults to 5), results in `target/bench`.
pub fn options(quick: bool, rounds: usize, sections: Vec<SectionName>) -> BenchOptions {
    let root = workspace_root();
    BenchOptions {
        rounds,
        quick,
        dir: root.join("target/bench"),
        bin_dir: root.join("target/release"),
        sections,
    }
}

#[cfg(test)]
mod tests {
    use super::Spread;

    #[test]
    fn spread_of_odd_and_even_counts() {
        let s = Spread::of(&[3.0, 1.0, 2.0]).expect("spread");
        assert_eq!((s.min, s.median, s.max), (1.0, 2.0, 3.0));
        let s = Spread::of(&[4.0, 1.0, 2.0, 3.0]).expect("spread");
        assert_eq!(s.median, 2.5);
        assert!(Spread::of(&[]).is_none());
        assert!(Spread::of(&[1.0, f64::NAN]).is_none());
    }
}
