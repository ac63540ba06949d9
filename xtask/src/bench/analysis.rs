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
//! `report`, which does everything else too; for awk, CSV rows (one per call) over its wall
//! time, not counting the export that wrote the CSV. Their figures are checked against each
//! other, relative difference ≤ 1e-6; a disagreement is recorded and warned about, not fatal.
//!
//! Each round runs every command once, in turn (report, tree, report on the quarter trace,
//! report on the awk trace, awk), so that drift touches all of them alike.
//!
//! The file is long because the workload, the awk peer, the measurement (`wait4`, VmHWM) and
//! the table of one section go together.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::{BenchOptions, Spread, Target};
use crate::util::{have, show};

/// The awk program, kept beside this file.
const MEAN_VAR_AWK: &str = include_str!("mean_var.awk");

/// Records per synthetic datagram (8 receive and 9 send calls, an entry and an exit each).
const RECORDS_PER_DATAGRAM: u64 = 34;
/// Bytes per trace record (`kpath_trace::EVENT_SIZE`).
const RECORD_BYTES: u64 = 64;
/// Bytes per CSV row of `kpath export`, generously (about 90 measured).
const CSV_ROW_BYTES: u64 = 160;
/// Relative difference within which awk and kpath agree.
const AGREEMENT: f64 = 1e-6;
/// Longest a measured command may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(600);
/// Longest writing a synthetic trace may take.
const SYNTH_TIMEOUT: Duration = Duration::from_secs(1800);

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
    /// `report_calls_per_s / awk_calls_per_s`, per round.
    pub speedup_over_awk: Spread,
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
    /// `report` against awk.
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
    let (mut big, mut small) = if opts.quick {
        (2_000_000u64, 500_000u64)
    } else {
        (40_000_000u64, 4_000_000u64)
    };
    let need =
        |big: u64, small: u64| (big + big / 4 + small) * RECORD_BYTES + small / 2 * CSV_ROW_BYTES;
    let free = free_bytes(&opts.dir)?;
    let mut scaled_down = None;
    if free < 3 * need(big, small) {
        let f = free as f64 / (3 * need(big, small)) as f64;
        let reason = format!(
            "only {:.1} GB free in {}, less than 3 × the {:.1} GB of traces and CSV: traces \
             scaled down to {:.0} %",
            free as f64 / 1e9,
            opts.dir.display(),
            need(big, small) as f64 / 1e9,
            100.0 * f
        );
        eprintln!("bench analysis: {reason}");
        big = (big as f64 * f) as u64;
        small = (small as f64 * f) as u64;
        if big < 100 * RECORDS_PER_DATAGRAM {
            bail!(
                "too little free disk in {} for the analysis bench: {reason}",
                opts.dir.display()
            );
        }
        scaled_down = Some(reason);
    }

    let big_path = dir.join("big.trace");
    let quarter_path = dir.join("quarter.trace");
    let small_path = dir.join("awk.trace");
    let csv_path = dir.join("awk.csv");
    let big_records = synth(&kpath, &big_path, big, dir)?;
    let quarter_records = synth(&kpath, &quarter_path, big / 4, dir)?;
    let small_records = synth(&kpath, &small_path, small, dir)?;
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
        r.report_cps.push(kcps);
        r.awk_cps.push(acps);
        r.awk_rss.push(a.peak_rss_kib as f64);
        r.speedup.push(kcps / acps.max(1e-9));
        eprintln!(
            "bench analysis: round {}/{}: report {:.1} M records/s ({:.1} MiB), tree {:.1} M \
             records/s, {awk} {:.2} M calls/s against report {:.2} M calls/s",
            round + 1,
            opts.rounds,
            r.report_rps[round] / 1e6,
            rep.peak_rss_kib as f64 / 1024.0,
            r.tree_rps[round] / 1e6,
            acps / 1e6,
            kcps / 1e6
        );
    }
    let awk_out = awk_out.context("the analysis bench needs at least one round")?;
    let awk_funcs = read_awk_functions(&awk_out)?;
    let cmp = compare(&awk_funcs, &kpath_funcs);
    if !cmp.agrees {
        eprintln!(
            "bench analysis: warning: {awk} and kpath disagree: {}",
            cmp.disagreements.join("; ")
        );
    }

    let report_records_per_cpu_s = spread("report records per CPU-second", &r.report_rpcpu)?;
    let speedup_over_awk = spread("speedup over awk", &r.speedup)?;
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
        speedup_over_awk,
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
            "kpath report ≥ 20× awk's calls/s",
            speedup_over_awk.median,
            20.0,
        ),
        target_memory_flat: Target::below(
            "memory flat: peak RSS for 4× the records < 1.5×",
            rss_ratio_4x_records.median,
            1.5,
        ),
    })
}

/// The section as a plain-text table.
pub fn table(b: &AnalysisBench) -> String {
    let mib = |s: &Spread| Spread {
        min: s.min / 1024.0,
        median: s.median / 1024.0,
        max: s.max / 1024.0,
    };
    let m = |s: &Spread| Spread {
        min: s.min / 1e6,
        median: s.median / 1e6,
        max: s.max / 1e6,
    };
    let mrec = |n: u64| format!("{:.1} M records", n as f64 / 1e6);
    let mut out = format!(
        "(e) analysis speed: {} rounds, trace {} ({:.2} GB){}\n",
        b.rounds,
        mrec(b.trace_records),
        b.trace_bytes as f64 / 1e9,
        if b.quick { ", quick" } else { "" }
    );
    if let Some(why) = &b.scaled_down {
        out += &wrap(&format!("scaled down: {why}"), 96, "  ");
    }
    out += &format!("  {:<48}{:>12}{:>12}{:>12}\n", "", "min", "median", "max");
    let mut row = |label: String, s: &Spread, digits: usize| {
        out += &format!(
            "  {label:<48}{:>12.digits$}{:>12.digits$}{:>12.digits$}\n",
            s.min, s.median, s.max
        );
    };
    row(
        "kpath report, M records/s".into(),
        &m(&b.report_records_per_s),
        1,
    );
    row(
        "kpath report, M records/CPU-s (per core)".into(),
        &m(&b.report_records_per_cpu_s),
        1,
    );
    row("kpath report, cores used".into(), &b.report_cores_used, 2);
    row(
        "kpath tree, M records/s".into(),
        &m(&b.tree_records_per_s),
        1,
    );
    row(
        format!("report peak RSS, MiB ({})", mrec(b.trace_records)),
        &mib(&b.report_peak_rss_kib),
        1,
    );
    row(
        format!("report peak RSS, MiB ({})", mrec(b.quarter_trace_records)),
        &mib(&b.quarter_report_peak_rss_kib),
        1,
    );
    row(
        "  ratio (4× the records)".into(),
        &b.rss_ratio_4x_records,
        3,
    );
    row("tree peak RSS, MiB".into(), &mib(&b.tree_peak_rss_kib), 1);
    row(
        format!("kpath report, M calls/s ({})", mrec(b.awk_trace_records)),
        &m(&b.report_calls_per_s),
        2,
    );
    row(
        format!("{}, M calls/s (CSV rows, same trace)", b.awk),
        &m(&b.awk_calls_per_s),
        2,
    );
    row(format!("kpath report / {}", b.awk), &b.speedup_over_awk, 1);
    row(
        format!("{} peak RSS, MiB", b.awk),
        &mib(&b.awk_peak_rss_kib),
        1,
    );
    out += &format!(
        "  {} against kpath, {} functions: {} (max rel. diff mean {:.1e}, variance {:.1e})\n",
        b.awk,
        b.functions_compared,
        if b.agrees { "agree" } else { "DISAGREE" },
        b.max_mean_rel_diff,
        b.max_variance_rel_diff
    );
    for t in [
        &b.target_report_per_core,
        &b.target_vs_awk,
        &b.target_memory_flat,
    ] {
        out += &format!(
            "  target {:<50} {:>9.2}  {}\n",
            t.target,
            t.measured,
            if t.met { "met" } else { "NOT met" }
        );
    }
    out
}

/// `text` broken at spaces into lines of at most `width` characters after `indent`.
fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            out += &format!("{indent}{line}\n");
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out += &format!("{indent}{line}\n");
    }
    out
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
    awk_cps: Vec<f64>,
    awk_rss: Vec<f64>,
    speedup: Vec<f64>,
}

fn spread(what: &str, values: &[f64]) -> Result<Spread> {
    Spread::of(values).with_context(|| format!("no finite figures for {what}: {values:?}"))
}

/// Writes a synthetic trace of about `records` records with `kpath synth`; returns its count.
fn synth(kpath: &Path, path: &Path, records: u64, dir: &Path) -> Result<u64> {
    let datagrams = (records / RECORDS_PER_DATAGRAM).max(1);
    eprintln!(
        "bench analysis: writing {} ({} records)",
        path.display(),
        datagrams * RECORDS_PER_DATAGRAM
    );
    let log = dir.join("synth.log");
    let mut cmd = Command::new(kpath);
    cmd.arg("synth")
        .arg(path)
        .args(["--datagrams", &datagrams.to_string()])
        .stdout(Stdio::null())
        .stderr(create(&log)?);
    let shown = show(&cmd);
    measure(&mut cmd, false, SYNTH_TIMEOUT)?;
    let text = std::fs::read_to_string(&log)
        .with_context(|| format!("failed to read {}", log.display()))?;
    // "wrote N records to PATH"
    text.lines()
        .find_map(|l| {
            l.strip_prefix("wrote ")?
                .split_once(" records")?
                .0
                .parse()
                .ok()
        })
        .with_context(|| format!("{shown:?} did not say how many records it wrote: {text:?}"))
}

fn create(path: &Path) -> Result<File> {
    File::create(path).with_context(|| format!("failed to create {}", path.display()))
}

fn file_len(path: &Path) -> Result<u64> {
    Ok(std::fs::metadata(path)
        .with_context(|| format!("failed to stat {}", path.display()))?
        .len())
}

/// Bytes available to an unprivileged user on the file system of `dir`.
fn free_bytes(dir: &Path) -> Result<u64> {
    let c = CString::new(dir.as_os_str().as_bytes())
        .with_context(|| format!("{} contains a NUL byte", dir.display()))?;
    // SAFETY: `statvfs` is plain old data; an all-zero value is valid and the call fills it.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated path and `s` a valid out-pointer.
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("statvfs {}", dir.display()));
    }
    #[allow(clippy::unnecessary_cast)] // the field types differ between targets
    Ok((s.f_bavail as u64).saturating_mul(s.f_frsize as u64))
}

/// What a finished child cost.
#[derive(Clone, Copy, Debug)]
pub(super) struct Usage {
    /// Wall time from spawn to exit (polled every millisecond), s.
    pub wall_s: f64,
    /// User + system CPU time, s.
    pub cpu_s: f64,
    /// Peak resident set size (largest `VmHWM` seen, polled every millisecond), KiB.
    pub peak_rss_kib: u64,
}

/// A spawned process, killed (with its process group if it leads one) and reaped when
/// dropped before it was reaped.
struct Reaper {
    pid: libc::pid_t,
    group: bool,
    live: bool,
}

impl Drop for Reaper {
    fn drop(&mut self) {
        if self.live {
            let target = if self.group { -self.pid } else { self.pid };
            // SAFETY: plain system calls on a child of ours that has not been reaped, so the
            // pid (and its process group) cannot have been reused.
            unsafe {
                libc::kill(target, libc::SIGKILL);
                let mut status = 0;
                libc::waitpid(self.pid, &mut status, 0);
            }
        }
    }
}

/// Runs `cmd` (stdio as the caller set it) to its end, at most `timeout`, and measures it
/// with `wait4`. With `group`, the child leads a new process group, all of which is killed
/// on timeout or error. Fails naming the command if it does not exit with 0.
pub(super) fn measure(cmd: &mut Command, group: bool, timeout: Duration) -> Result<Usage> {
    let shown = show(cmd);
    if group {
        cmd.process_group(0);
    }
    let start = Instant::now();
    let child = cmd
        .spawn()
        .with_context(|| format!("failed to run {shown:?}"))?;
    let pid = libc::pid_t::try_from(child.id()).context("process id out of range")?;
    // `Child` neither kills nor waits when dropped: from here the reaper owns the process.
    drop(child);
    let mut reaper = Reaper {
        pid,
        group,
        live: true,
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    let status_path = format!("/proc/{pid}/status");
    let mut peak_rss_kib = 0;
    loop {
        if let Some(hwm) = vm_hwm_kib(&status_path) {
            peak_rss_kib = peak_rss_kib.max(hwm);
        }
        let mut status = 0;
        // SAFETY: `rusage` is plain old data; an all-zero value is valid.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: valid out-pointers; `pid` is our unreaped child.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut ru) };
        if r == pid {
            let wall_s = start.elapsed().as_secs_f64();
            reaper.live = false;
            if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
                let how = if libc::WIFSIGNALED(status) {
                    format!("signal {}", libc::WTERMSIG(status))
                } else {
                    format!("exit code {}", libc::WEXITSTATUS(status))
                };
                bail!("{shown:?} failed with {how}");
            }
            return Ok(Usage {
                wall_s,
                cpu_s: tv(ru.ru_utime) + tv(ru.ru_stime),
                peak_rss_kib,
            });
        }
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e).with_context(|| format!("failed to wait for {shown:?}"));
            }
        }
        if start.elapsed() > timeout {
            bail!(
                "{shown:?} did not finish within {} s: killed",
                timeout.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The `VmHWM` (peak resident set) of a `/proc/PID/status`, KiB; `None` once the process has
/// no memory left (exited) or the file is gone.
fn vm_hwm_kib(status_path: &str) -> Option<u64> {
    let text = std::fs::read_to_string(status_path).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Per-function figures of one side.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Figures {
    calls: u64,
    samples: u64,
    mean: f64,
    variance: f64,
}

/// The part of `kpath report --json` compared.
#[derive(Deserialize)]
struct KpathResults {
    functions: Vec<KpathFunction>,
}

#[derive(Deserialize)]
struct KpathFunction {
    stage: String,
    function: String,
    calls: u64,
    stats: KpathStats,
}

#[derive(Deserialize)]
struct KpathStats {
    samples: u64,
    mean: f64,
    variance: f64,
}

type ByFunction = BTreeMap<(String, String), Figures>;

fn read_kpath_functions(path: &Path) -> Result<ByFunction> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read {}", path.display()))?;
    let r: KpathResults = serde_json::from_str(&text)
        .with_context(|| format!("failed to parse {} (kpath report --json)", path.display()))?;
    Ok(r.functions
        .into_iter()
        .map(|f| {
            (
                (f.stage, f.function),
                Figures {
                    calls: f.calls,
                    samples: f.stats.samples,
                    mean: f.stats.mean,
                    variance: f.stats.variance,
                },
            )
        })
        .collect())
}

/// Parses `stage,function,calls,samples,mean,variance` lines (the function may hold commas).
fn read_awk_functions(path: &Path) -> Result<ByFunction> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read {}", path.display()))?;
    let mut out = ByFunction::new();
    for (i, line) in text.lines().enumerate() {
        let bad = || {
            format!(
                "{}:{}: not stage,function,calls,samples,mean,variance: {line:?}",
                path.display(),
                i + 1
            )
        };
        let mut f = line.rsplitn(5, ',');
        let (Some(var), Some(mean), Some(samples), Some(calls), Some(key)) =
            (f.next(), f.next(), f.next(), f.next(), f.next())
        else {
            bail!(bad());
        };
        let (stage, function) = key.split_once(',').with_context(bad)?;
        let figures = Figures {
            calls: calls.parse().with_context(bad)?,
            samples: samples.parse().with_context(bad)?,
            mean: mean.parse().with_context(bad)?,
            variance: var.parse().with_context(bad)?,
        };
        out.insert((stage.into(), function.into()), figures);
    }
    Ok(out)
}

/// The outcome of comparing awk's figures with kpath's.
#[derive(Debug, Default)]
struct Comparison {
    compared: usize,
    max_mean: f64,
    max_variance: f64,
    agrees: bool,
    disagreements: Vec<String>,
}

fn rel_diff(a: f64, b: f64) -> f64 {
    let scale = a.abs().max(b.abs());
    if scale == 0.0 {
        0.0
    } else {
        (a - b).abs() / scale
    }
}

fn compare(awk: &ByFunction, kpath: &ByFunction) -> Comparison {
    let mut c = Comparison::default();
    let mut problems = Vec::new();
    for (key, k) in kpath {
        let name = format!("{}/{}", key.0, key.1);
        let Some(a) = awk.get(key) else {
            problems.push(format!("{name}: missing from awk's output"));
            continue;
        };
        c.compared += 1;
        let (dm, dv) = (rel_diff(a.mean, k.mean), rel_diff(a.variance, k.variance));
        c.max_mean = c.max_mean.max(dm);
        c.max_variance = c.max_variance.max(dv);
        if a.calls != k.calls || a.samples != k.samples {
            problems.push(format!(
                "{name}: calls/samples {}/{} (awk) against {}/{} (kpath)",
                a.calls, a.samples, k.calls, k.samples
            ));
        }
        if dm > AGREEMENT || dv > AGREEMENT || dm.is_nan() || dv.is_nan() {
            problems.push(format!(
                "{name}: mean {} against {}, variance {} against {} (awk against kpath)",
                a.mean, k.mean, a.variance, k.variance
            ));
        }
    }
    for key in awk.keys().filter(|k| !kpath.contains_key(*k)) {
        problems.push(format!("{}/{}: missing from kpath's report", key.0, key.1));
    }
    c.agrees = problems.is_empty() && c.compared > 0;
    if c.compared == 0 {
        problems.push("no function to compare".into());
    }
    problems.truncate(10);
    c.disagreements = problems;
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_keeps_lines_short() {
        let w = wrap("aaa bbb ccc ddd", 7, "  ");
        assert_eq!(w, "  aaa bbb\n  ccc ddd\n");
    }

    #[test]
    fn compare_flags_differences() {
        let f = |mean| Figures {
            calls: 10,
            samples: 9,
            mean,
            variance: 4.0,
        };
        let key = ("rx".to_string(), "ip_rcv".to_string());
        let k: ByFunction = [(key.clone(), f(100.0))].into();
        assert!(compare(&[(key.clone(), f(100.0 + 1e-7))].into(), &k).agrees);
        let c = compare(&[(key, f(100.1))].into(), &k);
        assert!(!c.agrees);
        assert_eq!(c.disagreements.len(), 1);
        assert!(!compare(&ByFunction::new(), &k).agrees);
    }

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
