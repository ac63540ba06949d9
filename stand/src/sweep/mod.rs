//! Factorial sweeps: clients × sizes × busy-us × repeat. For each cell a fresh server process
//! (`kpath-stand echo`) is started on loopback and the closed-loop generator runs against it;
//! the server's CPU time over the generator's run and its peak memory are read from /proc
//! ([`crate::procstat`]). The cells are written as `sweep.csv` and `sweep.json`, their
//! averages over repeats as a table ([`summary`]) and `summary.csv`, and drawn ([`plot`]).

pub mod plot;
pub mod summary;

use std::{
    io::{BufRead, BufReader, BufWriter, Write},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::{
    error::{Error, Result},
    gen::{self, Expect, GenConfig, Pattern},
    procstat::{self, CpuMark},
};

/// What to sweep.
#[derive(Debug, Clone)]
pub struct SweepPlan {
    /// Concurrent clients per cell.
    pub clients: Vec<u32>,
    /// Payload sizes, bytes.
    pub sizes: Vec<usize>,
    /// Server busy-wait per datagram, µs.
    pub busy_us: Vec<f64>,
    /// Repetitions of each cell.
    pub repeat: u32,
    /// Measured datagrams per cell.
    pub count: u64,
    /// Time bound per cell.
    pub duration: Duration,
    /// Warm-up datagrams per cell.
    pub warmup: u64,
    /// Server workers.
    pub workers: usize,
    /// Reply timeout.
    pub timeout: Duration,
    /// The `kpath-stand` executable that serves.
    pub server_exe: PathBuf,
}

/// One cell's result: a row of the CSV.
#[derive(Debug, Clone, Serialize)]
pub struct CellResult {
    /// Server busy-wait, µs.
    pub busy_us: f64,
    /// Payload bytes.
    pub size: usize,
    /// Concurrent clients.
    pub clients: u32,
    /// Repetition index, from 0.
    pub repeat: u32,
    /// Measured datagrams sent.
    pub sent: u64,
    /// Good replies.
    pub received: u64,
    /// Lost datagrams.
    pub lost: u64,
    /// Throughput: good replies per second.
    pub throughput_per_s: f64,
    /// RTT mean, µs.
    pub rtt_mean_us: f64,
    /// RTT median, µs.
    pub rtt_p50_us: f64,
    /// RTT 90th percentile, µs.
    pub rtt_p90_us: f64,
    /// RTT 99th percentile, µs.
    pub rtt_p99_us: f64,
    /// RTT 99.9th percentile, µs.
    pub rtt_p999_us: f64,
    /// RTT maximum, µs.
    pub rtt_max_us: f64,
    /// Server CPU over the generator's run (warm-up included), % of one CPU: `cpu_s / load_s`.
    /// `None` (empty in the CSV, `null` in the JSON) when it could not be read.
    pub cpu_pct: Option<f64>,
    /// Server CPU time over the generator's run, s, all its threads together.
    pub cpu_s: Option<f64>,
    /// Wall time of the generator's run (the interval `cpu_s` is measured over), s.
    pub load_s: f64,
    /// Server peak resident memory (`VmHWM`) at the end of the cell, kB: a fresh server per
    /// cell, so the peak of this cell alone.
    pub peak_rss_kb: u64,
    /// Wall time of the cell, server start to stop, s.
    pub elapsed_s: f64,
}

/// One cell of the plan.
#[derive(Debug, Clone, Copy)]
struct Cell {
    busy_us: f64,
    size: usize,
    clients: u32,
    repeat: u32,
}

fn cells(plan: &SweepPlan) -> Vec<Cell> {
    let mut v = Vec::new();
    for &busy_us in &plan.busy_us {
        for &size in &plan.sizes {
            for &clients in &plan.clients {
                for repeat in 0..plan.repeat {
                    v.push(Cell {
                        busy_us,
                        size,
                        clients,
                        repeat,
                    });
                }
            }
        }
    }
    v
}

/// A server child process, stopped with SIGTERM (then killed) when dropped.
struct ServerProcess {
    child: Child,
    addr: SocketAddr,
}

impl ServerProcess {
    fn start(plan: &SweepPlan, busy_us: f64) -> Result<Self> {
        let command = format!("{} echo", plan.server_exe.display());
        let mut child = Command::new(&plan.server_exe)
            .args(["echo", "--listen", "127.0.0.1:0"])
            .args(["--workers", &plan.workers.to_string()])
            .args(["--busy-us", &busy_us.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| Error::Command {
                command: command.clone(),
                detail: e.to_string(),
            })?;
        let addr = read_listening_line(&mut child).map_err(|detail| {
            let _ = child.kill();
            let _ = child.wait();
            Error::Command { command, detail }
        })?;
        Ok(ServerProcess { child, addr })
    }
}

/// Reads the server's `listening on ADDR` line (the readiness signal).
fn read_listening_line(child: &mut Child) -> std::result::Result<SocketAddr, String> {
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    line.trim()
        .strip_prefix("listening on ")
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| format!("the server did not report its address (got {line:?})"))
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // SAFETY: kill with a pid we spawned and still own (not yet waited for).
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

/// Runs every cell; stops early (returning what was done) when `stop_requested()`.
pub fn run(plan: &SweepPlan, stop_requested: impl Fn() -> bool) -> Result<Vec<CellResult>> {
    let all = cells(plan);
    if all.is_empty() {
        return Err(Error::InvalidArgument {
            flag: "--clients/--sizes/--busy-us/--repeat",
            reason: "the plan has no cells".into(),
        });
    }
    let bar = ProgressBar::with_draw_target(Some(all.len() as u64), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} cells, {eta} left: {msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    let mut results = Vec::new();
    let mut warned = false;
    for cell in all {
        if stop_requested() {
            break;
        }
        bar.set_message(format!(
            "clients={} size={} busy={}µs repeat={}",
            cell.clients, cell.size, cell.busy_us, cell.repeat
        ));
        let (result, cpu_error) = run_cell(plan, cell)?;
        if let (Some(e), false) = (cpu_error, warned) {
            bar.println(format!(
                "warning: the server's CPU is not measured: {}",
                error_chain(&e)
            ));
            warned = true;
        }
        results.push(result);
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(results)
}

/// `e` and its sources, `: `-separated.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

/// Runs one cell; with the result, why the server's CPU could not be measured, if it could not.
fn run_cell(plan: &SweepPlan, cell: Cell) -> Result<(CellResult, Option<Error>)> {
    let started = Instant::now();
    let server = ServerProcess::start(plan, cell.busy_us)?;
    let pid = server.child.id();
    let cfg = GenConfig {
        target: server.addr,
        size: cell.size,
        count: plan.count,
        duration: plan.duration,
        warmup: plan.warmup,
        seed: u64::from(cell.repeat) + 1,
        timeout: plan.timeout,
        pattern: Pattern::Closed {
            clients: cell.clients,
        },
        expect: Expect::Echo,
        allow_remote: false,
    };
    // The server's CPU over exactly the generator's run: the sum of its threads' on-CPU ns
    // (/proc/PID/task/TID/schedstat) read just before and just after `gen::run`, over the wall
    // time between the two readings. Not the child's `wait4` rusage, which can only be had
    // once the server has exited and so covers its whole life, start-up (runtime, sockets,
    // threads) and shutdown included, not the cell's load. schedstat's caveats do not bite
    // here: the echo server's threads live as long as it does (none exits between the
    // readings, taking its time with it), and at both readings the server is idle, blocked
    // in recv (before the first datagram; after the last reply or timeout), so no thread is
    // owed the time of a slice still running.
    let before = CpuMark::take(pid);
    let gen_started = Instant::now();
    let outcome = gen::run(&cfg);
    let gen_wall = gen_started.elapsed();
    let after = CpuMark::take(pid);
    let peak_rss_kb = procstat::peak_rss_kb(pid);
    drop(server);
    let report = outcome?.report;
    let peak_rss_kb = peak_rss_kb?;
    let (cpu, cpu_error) = match (before, after) {
        (Ok(b), Ok(a)) => (Some(b.until(&a)), None),
        (Err(e), _) | (_, Err(e)) => (None, Some(e)),
    };
    let load = cpu.map_or(gen_wall, |d| d.wall);
    let us = |ns: f64| ns / 1000.0;
    let result = CellResult {
        busy_us: cell.busy_us,
        size: cell.size,
        clients: cell.clients,
        repeat: cell.repeat,
        sent: report.counts.sent,
        received: report.counts.received,
        lost: report.counts.lost,
        throughput_per_s: report.recv_rate_per_s,
        rtt_mean_us: us(report.rtt_ns.mean),
        rtt_p50_us: us(report.rtt_ns.p50),
        rtt_p90_us: us(report.rtt_ns.p90),
        rtt_p99_us: us(report.rtt_ns.p99),
        rtt_p999_us: us(report.rtt_ns.p999),
        rtt_max_us: us(report.rtt_ns.max),
        cpu_pct: cpu.and_then(|d| d.percent()),
        cpu_s: cpu.map(|d| d.cpu_ns as f64 / 1e9),
        load_s: load.as_secs_f64(),
        peak_rss_kb,
        elapsed_s: started.elapsed().as_secs_f64(),
    };
    Ok((result, cpu_error))
}

/// The CSV header, matching [`CellResult`]'s fields.
pub const CSV_HEADER: &str = "busy_us,size,clients,repeat,sent,received,lost,throughput_per_s,\
rtt_mean_us,rtt_p50_us,rtt_p90_us,rtt_p99_us,rtt_p999_us,rtt_max_us,cpu_pct,cpu_s,load_s,\
peak_rss_kb,elapsed_s";

fn csv_row(r: &CellResult) -> String {
    let opt =
        |v: Option<f64>, decimals: usize| v.map(|v| format!("{v:.decimals$}")).unwrap_or_default();
    format!(
        "{},{},{},{},{},{},{},{:.1},{:.2},{:.2},{:.2},{:.2},{:.2},{:.2},{},{},{:.6},{},{:.3}",
        r.busy_us,
        r.size,
        r.clients,
        r.repeat,
        r.sent,
        r.received,
        r.lost,
        r.throughput_per_s,
        r.rtt_mean_us,
        r.rtt_p50_us,
        r.rtt_p90_us,
        r.rtt_p99_us,
        r.rtt_p999_us,
        r.rtt_max_us,
        opt(r.cpu_pct, 1),
        opt(r.cpu_s, 6),
        r.load_s,
        r.peak_rss_kb,
        r.elapsed_s
    )
}

/// The files [`write_outputs`] writes into its directory (besides the figures).
pub const OUTPUT_FILES: [&str; 3] = ["sweep.csv", "sweep.json", "summary.csv"];

/// Writes `sweep.csv` and `sweep.json` (one row per cell), `summary.csv` (the cells averaged
/// over repeats, [`summary::summarise`]) and, with `plots`, one figure per busy-us value
/// ([`plot::draw`]) into `dir`, files created as `out` says.
pub fn write_outputs(
    results: &[CellResult],
    dir: &Path,
    plots: bool,
    out: &kpath_cli::Output,
) -> Result<()> {
    out.create_dir(dir)?;
    let csv = dir.join("sweep.csv");
    let file = out.create(&csv)?;
    let mut w = BufWriter::new(file);
    let mut write_rows = || -> std::io::Result<()> {
        writeln!(w, "{CSV_HEADER}")?;
        for r in results {
            writeln!(w, "{}", csv_row(r))?;
        }
        w.flush()
    };
    write_rows().map_err(|e| Error::file("write", &csv, e))?;
    let json = dir.join("sweep.json");
    let text =
        serde_json::to_string_pretty(results).map_err(|e| Error::file("write", &json, e.into()))?;
    out.write(&json, text + "\n")?;
    let rows = summary::summarise(results);
    summary::write_csv(&rows, &dir.join("summary.csv"), out)?;
    if plots {
        plot::draw(&rows, dir, out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_matches_fields() {
        let r = CellResult {
            busy_us: 0.0,
            size: 1,
            clients: 10,
            repeat: 0,
            sent: 1,
            received: 1,
            lost: 0,
            throughput_per_s: 1.0,
            rtt_mean_us: 1.0,
            rtt_p50_us: 1.0,
            rtt_p90_us: 1.0,
            rtt_p99_us: 1.0,
            rtt_p999_us: 1.0,
            rtt_max_us: 1.0,
            cpu_pct: Some(1.0),
            cpu_s: Some(1.0),
            load_s: 1.0,
            peak_rss_kb: 1,
            elapsed_s: 1.0,
        };
        let json = serde_json::to_value(&r).expect("json");
        let names: Vec<&str> = CSV_HEADER.split(',').collect();
        assert_eq!(names.len(), json.as_object().map(|o| o.len()).unwrap_or(0));
        for n in names {
            assert!(json.get(n).is_some(), "{n} missing");
        }
        assert_eq!(
            csv_row(&r).split(',').count(),
            CSV_HEADER.split(',').count()
        );
        let unmeasured = CellResult {
            cpu_pct: None,
            cpu_s: None,
            ..r
        };
        assert_eq!(
            csv_row(&unmeasured).split(',').count(),
            CSV_HEADER.split(',').count()
        );
        assert!(csv_row(&unmeasured).contains(",1.00,,,1.000000,1,"));
    }
}
