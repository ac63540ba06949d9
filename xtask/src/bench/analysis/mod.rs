//! Section (e), analysis speed: `kpath report` and `kpath tree` on a large synthetic trace, in
//! records per second and peak memory, against the original method's tool, an awk program.
//!
//! The traces come from the release binary's hidden `kpath synth` (the veth-like proxy of
//! `analysis/src/synth.rs`: 34 records per datagram, 1 % of leaf calls hit by an IRQ), written
//! once under `BenchOptions::dir` and deleted at the end. Three sizes: the large one (40 M
//! records, 2.5 GB; quick 2 M) for `report` and `tree`, one a quarter of it to show that peak
//! memory does not grow with the trace length, and a small one (4 M records; quick 500 k) that
//! `kpath export --format csv` turns into the CSV awk reads. They are read from the page cache
//! after the first round (the machine has the memory), so the figures are the analysis's cost,
//! not the disk's.
//!
//! Every command runs as a child process measured with `wait4` (wall time, CPU time: user +
//! system) and its peak RSS, the largest `VmHWM` of `/proc/PID/status` read every millisecond
//! while it runs. Not `ru_maxrss`: on exec the kernel carries the parent's peak into the
//! child's (`exec_mmap` → `setmax_mm_hiwater_rss`), so every child reported at least the xtask's
//! own 12 MiB. `kpath report` is one single-threaded streaming pass
//! (`analysis/src/analyze.rs`), so its per-core rate is records per CPU-second; the table
//! also shows the cores it actually used (CPU time / wall time).
//!
//! The awk peer (`mean_var.awk`) computes per function exactly what `kpath report` computes
//! per function with its default filter (calls; samples, mean and sample variance of the
//! duration without the interrupted calls). The two are compared in calls per second on the
//! same trace: for kpath, the calls (= exit records) of the trace over the wall time of
//! `report`, which does everything else too. awk cannot read the binary trace, so the
//! original method's pipeline is `kpath export --format csv TRACE | awk -f mean_var.awk`:
//! two processes joined by a pipe, run by `bash` (for `pipefail`), whose wall time gives the pipeline's calls per
//! second, the figure the issue's target names. awk alone on a CSV written beforehand is
//! measured too, the stricter comparison (it leaves the export out), and reported beside it.
//! Both outputs are checked against kpath's figures, relative difference ≤ 1e-6; a
//! disagreement is recorded and warned about, not fatal.
//!
//! The awk trace's calls are also written as `kpath-probe record` writes them by default,
//! without entry records (exits only: half the records, the entries rebuilt by the reader),
//! and `report` on it is measured in calls per second beside `report` on the awk trace.
//!
//! Each round runs every command once, in turn (report, tree, report on the quarter trace,
//! report on the awk trace and on its exits-only twin, awk, the pipeline), so that drift
//! touches all of them alike.
//!
//! The section's workload, awk peer, measurement (`wait4`, VmHWM) and table each have a
//! submodule; this one holds the results and runs the rounds:
//!
//! - `workload`: the synthetic traces, sized to the free disk;
//! - `measure`: one child process's wall time, CPU time and peak RSS;
//! - `awk`: the awk peer's figures and kpath's, read and compared;
//! - `table`: the plain-text table.

mod awk;
mod measure;
mod table;
mod workload;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::{BenchOptions, Spread, Target};
use crate::util::have;
use awk::{compare, read_awk_functions, read_kpath_functions, MEAN_VAR_AWK};
pub(super) use measure::measure;
use measure::Usage;
pub use table::table;
use workload::{create, file_len, synth, trace_sizes, TraceSizes, RECORDS_PER_DATAGRAM};

/// Longest a measured command may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(600);

/// Section (e): analysis speed and memory, and kpath against awk.
#[derive(Debug, Clone, Serialize)]
pub struct AnalysisBench {
    /// Rounds run (each command once per round, in turn).
    pub rounds: usize,
    /// Whether the smaller quick-mode workloads were used.
    pub quick: bool,
    /// Why the traces are smaller than planned (too little free disk), if they are.
    pub scaled_down: Option<String>,
    /// Records of the large trace (`report` and `tree`).
    pub trace_records: u64,
    /// Size of the large trace file, bytes.
    pub trace_bytes: u64,
    /// Records of the quarter-size trace (peak memory against trace length).
    pub quarter_trace_records: u64,
    /// Records of the trace exported to CSV for the awk comparison.
    pub awk_trace_records: u64,
    /// Calls in that trace: its exit records, the CSV's rows.
    pub awk_trace_calls: u64,
    /// Size of the CSV file awk reads, bytes.
    pub csv_bytes: u64,
    /// Wall time of `kpath export --format csv` writing that CSV (once; not compared), s.
    pub export_s: f64,
    /// `kpath report` on the large trace: records per second of wall time.
    pub report_records_per_s: Spread,
    /// `kpath report` on the large trace: records per CPU-second (user + system) of the
    /// process, the per-core rate.
    pub report_records_per_cpu_s: Spread,
    /// `kpath report` on the large trace: CPU time over wall time, the cores it used.
    pub report_cores_used: Spread,
    /// `kpath report` on the large trace: peak resident set size, KiB.
    pub report_peak_rss_kib: Spread,
    /// `kpath tree` (call trees, text) on the large trace: records per second of wall time.
    pub tree_records_per_s: Spread,
    /// `kpath tree` on the large trace: peak resident set size, KiB.
    pub tree_peak_rss_kib: Spread,
    /// `kpath report` on the quarter-size trace: peak resident set size, KiB.
    pub quarter_report_peak_rss_kib: Spread,
    /// Peak RSS of `report` on the large trace over that on the quarter-size one (4× the
    /// records), per round: 1 when memory is flat in trace length.
    pub rss_ratio_4x_records: Spread,
    /// The awk program run: `mawk` if installed, else `awk`.
    pub awk: String,
    /// awk on the CSV: calls (CSV rows) per second of wall time.
    pub awk_calls_per_s: Spread,
    /// awk on the CSV: peak resident set size, KiB.
    pub awk_peak_rss_kib: Spread,
    /// `kpath report` on the awk trace: calls (exit records) per second of wall time.
    pub report_calls_per_s: Spread,
    /// Records of the trace of the same calls without entry records (exits only, what
    /// `kpath-probe record` writes by default).
    pub exits_trace_records: u64,
    /// `kpath report` on that trace: calls per second of wall time (the reader rebuilds
    /// the entries, `trace/src/rebuild.rs`).
    pub report_exits_calls_per_s: Spread,
    /// `report_exits_calls_per_s / report_calls_per_s`, per round: what reading half the
    /// records and rebuilding the other half costs against reading them all.
    pub exits_over_entries: Spread,
    /// `report_calls_per_s / awk_calls_per_s`, per round: against awk alone on a CSV
    /// written beforehand (the export left out).
    pub speedup_over_awk: Spread,
    /// The pipeline `kpath export --format csv | awk` (two processes, one pipe): calls per
    /// second of its wall time.
    pub pipeline_calls_per_s: Spread,
    /// `report_calls_per_s / pipeline_calls_per_s`, per round.
    pub speedup_over_pipeline: Spread,
    /// Stage-and-function pairs whose figures were compared.
    pub functions_compared: usize,
    /// Largest relative difference of a per-function mean, awk against kpath.
    pub max_mean_rel_diff: f64,
    /// Largest relative difference of a per-function variance, awk against kpath.
    pub max_variance_rel_diff: f64,
    /// Whether awk and kpath agree: same functions, calls and samples, means and variances
    /// within 1e-6 relative.
    pub agrees: bool,
    /// What disagreed (at most 10 lines), empty when they agree.
    pub disagreements: Vec<String>,
    /// Per-core speed of `report`.
    pub target_report_per_core: Target,
    /// `report` against the awk pipeline.
    pub target_vs_awk: Target,
    /// Peak memory against trace length.
    pub target_memory_flat: Target,
}

/// Runs the section.
pub fn run(opts: &BenchOptions) -> Result<AnalysisBench> {
    let kpath = opts.bin_dir.join("kpath");
    if !kpath.is_file() {
        bail!(
            "{} is missing: build it with `cargo build --release -p kpath-analysis`",
            kpath.display()
        );
    }
    let awk = if have("mawk") {
        "mawk"
    } else if have("awk") {
        "awk"
    } else {
        bail!("neither mawk nor awk is installed (Debian package mawk)");
    };
    std::fs::create_dir_all(&opts.dir)
        .with_context(|| format!("failed to create {}", opts.dir.display()))?;
    let scratch = tempfile::Builder::new()
        .prefix("analysis-")
        .tempdir_in(&opts.dir)
        .with_context(|| {
            format!(
                "failed to create a scratch directory in {}",
                opts.dir.display()
            )
        })?;
    let dir = scratch.path();

    // Sizes, scaled down when the disk is short.
    let TraceSizes {
        big,
        small,
        scaled_down,
    } = trace_sizes(opts)?;

    let big_path = dir.join("big.trace");
    let quarter_path = dir.join("quarter.trace");
    let small_path = dir.join("awk.trace");
    let csv_path = dir.join("awk.csv");
    let exits_path = dir.join("awk-exits.trace");
    let datagrams = |records: u64| records / RECORDS_PER_DATAGRAM;
    let big_records = synth(&kpath, &big_path, datagrams(big), false, dir)?;
    let quarter_records = synth(&kpath, &quarter_path, datagrams(big / 4), false, dir)?;
    let small_records = synth(&kpath, &small_path, datagrams(small), false, dir)?;
    // The same calls as the awk trace, as the recorder writes them by default: exits only.
    let exits_records = synth(&kpath, &exits_path, datagrams(small), true, dir)?;
    let trace_bytes = file_len(&big_path)?;

    eprintln!("bench analysis: kpath export --format csv of {small_records} records");
    let export = measure(
        Command::new(&kpath)
            .args(["export", "--force"])
            .arg(&small_path)
            .args(["--format", "csv", "-o"])
            .arg(&csv_path)
            .stdout(Stdio::null()),
        false,
        COMMAND_TIMEOUT,
    )?;
    let csv_bytes = file_len(&csv_path)?;
    let json_path = dir.join("awk-trace-report.json");
    measure(
        Command::new(&kpath)
            .arg("report")
            .arg(&small_path)
            .arg("--json")
            .stdout(create(&json_path)?),
        false,
        COMMAND_TIMEOUT,
    )?;
    let kpath_funcs = read_kpath_functions(&json_path)?;
    let calls: u64 = kpath_funcs.values().map(|f| f.calls).sum();
    let awk_file = dir.join("mean_var.awk");
    std::fs::write(&awk_file, MEAN_VAR_AWK)
        .with_context(|| format!("failed to write {}", awk_file.display()))?;

    let report = |trace: &Path| -> Result<Usage> {
        measure(
            Command::new(&kpath)
                .arg("report")
                .arg(trace)
                .stdout(Stdio::null()),
            false,
            COMMAND_TIMEOUT,
        )
    };
    let mut r = Rounds::default();
    let mut piped_outs = Vec::new();
    let mut awk_out = None;
    for round in 0..opts.rounds {
        let rep = report(&big_path)?;
        let tree = measure(
            Command::new(&kpath)
                .arg("tree")
                .arg(&big_path)
                .stdout(Stdio::null()),
            false,
            COMMAND_TIMEOUT,
        )?;
        let quarter = report(&quarter_path)?;
        let rep_small = report(&small_path)?;
        let rep_exits = report(&exits_path)?;
        let out_path = dir.join(format!("awk-{round}.out"));
        let a = measure(
            Command::new(awk)
                .arg("-f")
                .arg(&awk_file)
                .arg(&csv_path)
                .stdout(create(&out_path)?),
            false,
            COMMAND_TIMEOUT,
        )?;
        awk_out.get_or_insert(out_path);
        let piped_out = dir.join(format!("pipeline-{round}.out"));
        let p = measure(
            &mut pipeline(
                &kpath,
                &small_path,
                awk,
                &awk_file,
                create(&piped_out)?.into(),
            ),
            false,
            COMMAND_TIMEOUT,
        )?;
        piped_outs.push(piped_out);

        let per = |n: u64, s: f64| n as f64 / s.max(1e-9);
        r.report_rps.push(per(big_records, rep.wall_s));
        r.report_rpcpu.push(per(big_records, rep.cpu_s));
        r.report_cores.push(rep.cpu_s / rep.wall_s.max(1e-9));
        r.report_rss.push(rep.peak_rss_kib as f64);
        r.tree_rps.push(per(big_records, tree.wall_s));
        r.tree_rss.push(tree.peak_rss_kib as f64);
        r.quarter_rss.push(quarter.peak_rss_kib as f64);
        r.rss_ratio
            .push(rep.peak_rss_kib as f64 / (quarter.peak_rss_kib as f64).max(1.0));
        let kcps = per(calls, rep_small.wall_s);
        let acps = per(calls, a.wall_s);
        let pcps = per(calls, p.wall_s);
        r.report_cps.push(kcps);
        let ecps = per(calls, rep_exits.wall_s);
        r.report_exits_cps.push(ecps);
        r.exits_over_entries.push(ecps / kcps.max(1e-9));
        r.awk_cps.push(acps);
        r.awk_rss.push(a.peak_rss_kib as f64);
        r.speedup.push(kcps / acps.max(1e-9));
        r.pipeline_cps.push(pcps);
        r.pipeline_speedup.push(kcps / pcps.max(1e-9));
        eprintln!(
            "bench analysis: round {}/{}: report {:.1} M records/s ({:.1} MiB), tree {:.1} M \
             records/s, report {:.2} M calls/s against {awk} {:.2} M and export | {awk} {:.2} M",
            round + 1,
            opts.rounds,
            r.report_rps[round] / 1e6,
            rep.peak_rss_kib as f64 / 1024.0,
            r.tree_rps[round] / 1e6,
            kcps / 1e6,
            acps / 1e6,
            pcps / 1e6
        );
    }
    let awk_out = awk_out.context("the analysis bench needs at least one round")?;
    let awk_funcs = read_awk_functions(&awk_out)?;
    let mut cmp = compare(&awk_funcs, &kpath_funcs);
    // The pipeline's awk read the export through a pipe instead of a file: the same figures.
    for out in &piped_outs {
        let piped = compare(&read_awk_functions(out)?, &kpath_funcs);
        if !piped.agrees {
            cmp.agrees = false;
            cmp.disagreements.extend(
                piped
                    .disagreements
                    .into_iter()
                    .map(|d| format!("pipeline: {d}")),
            );
        }
    }
    if !cmp.agrees {
        eprintln!(
            "bench analysis: warning: {awk} and kpath disagree: {}",
            cmp.disagreements.join("; ")
        );
    }

    let report_records_per_cpu_s = spread("report records per CPU-second", &r.report_rpcpu)?;
    let speedup_over_awk = spread("speedup over awk", &r.speedup)?;
    let speedup_over_pipeline = spread("speedup over the awk pipeline", &r.pipeline_speedup)?;
    let rss_ratio_4x_records = spread("RSS ratio", &r.rss_ratio)?;
    Ok(AnalysisBench {
        rounds: opts.rounds,
        quick: opts.quick,
        scaled_down,
        trace_records: big_records,
        trace_bytes,
        quarter_trace_records: quarter_records,
        awk_trace_records: small_records,
        awk_trace_calls: calls,
        csv_bytes,
        export_s: export.wall_s,
        report_records_per_s: spread("report records/s", &r.report_rps)?,
        report_records_per_cpu_s,
        report_cores_used: spread("report cores used", &r.report_cores)?,
        report_peak_rss_kib: spread("report peak RSS", &r.report_rss)?,
        tree_records_per_s: spread("tree records/s", &r.tree_rps)?,
        tree_peak_rss_kib: spread("tree peak RSS", &r.tree_rss)?,
        quarter_report_peak_rss_kib: spread("quarter report peak RSS", &r.quarter_rss)?,
        rss_ratio_4x_records,
        awk: awk.into(),
        awk_calls_per_s: spread("awk calls/s", &r.awk_cps)?,
        awk_peak_rss_kib: spread("awk peak RSS", &r.awk_rss)?,
        report_calls_per_s: spread("report calls/s", &r.report_cps)?,
        exits_trace_records: exits_records,
        report_exits_calls_per_s: spread("report calls/s, exits only", &r.report_exits_cps)?,
        exits_over_entries: spread("exits only over entries", &r.exits_over_entries)?,
        speedup_over_awk,
        pipeline_calls_per_s: spread("pipeline calls/s", &r.pipeline_cps)?,
        speedup_over_pipeline,
        functions_compared: cmp.compared,
        max_mean_rel_diff: cmp.max_mean,
        max_variance_rel_diff: cmp.max_variance,
        agrees: cmp.agrees,
        disagreements: cmp.disagreements,
        target_report_per_core: Target::at_least(
            "kpath report ≥ 50 M records/s per core",
            report_records_per_cpu_s.median / 1e6,
            50.0,
        ),
        target_vs_awk: Target::at_least(
            "kpath report ≥ 20× the awk pipeline's calls/s",
            speedup_over_pipeline.median,
            20.0,
        ),
        target_memory_flat: Target::below(
            "memory flat: peak RSS for 4× the records < 1.5×",
            rss_ratio_4x_records.median,
            1.5,
        ),
    })
}

/// Per-round figures.
#[derive(Default)]
struct Rounds {
    report_rps: Vec<f64>,
    report_rpcpu: Vec<f64>,
    report_cores: Vec<f64>,
    report_rss: Vec<f64>,
    tree_rps: Vec<f64>,
    tree_rss: Vec<f64>,
    quarter_rss: Vec<f64>,
    rss_ratio: Vec<f64>,
    report_cps: Vec<f64>,
    report_exits_cps: Vec<f64>,
    exits_over_entries: Vec<f64>,
    awk_cps: Vec<f64>,
    awk_rss: Vec<f64>,
    speedup: Vec<f64>,
    pipeline_cps: Vec<f64>,
    pipeline_speedup: Vec<f64>,
}

/// The original method's pipeline on `trace`: `kpath export --format csv | awk -f program`,
/// awk's output to `out`. The paths reach `bash` as positional parameters, never inside the
/// script's text; with `pipefail`, a failure of either side fails the command.
fn pipeline(kpath: &Path, trace: &Path, awk: &str, program: &Path, out: Stdio) -> Command {
    let mut cmd = Command::new("bash");
    cmd.args([
        "-c",
        r#"set -o pipefail; "$0" export --format csv "$1" | "$2" -f "$3""#,
    ])
    .arg(kpath)
    .arg(trace)
    .arg(awk)
    .arg(program)
    .stdout(out);
    cmd
}

fn spread(what: &str, values: &[f64]) -> Result<Spread> {
    Spread::of(values).with_context(|| format!("no finite figures for {what}: {values:?}"))
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    /// Section (e) in quick mode: `cargo test -p xtask -- --ignored --nocapture bench`.
    #[test]
    #[ignore = "runs the release binaries for about a minute"]
    fn bench_analysis_quick() {
        let root = crate::util::workspace_root();
        let opts = BenchOptions {
            rounds: 1,
            quick: true,
            dir: root.join("target/bench"),
            bin_dir: root.join("target/release"),
            sections: Vec::new(),
        };
        let t = Instant::now();
        let b = run(&opts).expect("analysis bench");
        println!("{}", table(&b));
        println!("section (e) took {:.1} s", t.elapsed().as_secs_f64());
        println!("{}", serde_json::to_string_pretty(&b).expect("json"));
    }
}
