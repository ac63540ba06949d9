//! Factorial sweeps: clients × sizes × busy-us × repeat. For each cell a fresh server process
//! (`kpath-stand echo`) is started on loopback, the closed-loop generator runs against it, and
//! the server's CPU and memory are sampled from /proc ([`crate::procstat`]).

pub mod plot;

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
    procstat::{ProcSummary, Sampler},
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
    /// CPU/RSS sampling interval.
    pub sample_interval: Duration,
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
    /// Server CPU over the cell, % of one CPU.
    pub cpu_mean_pct: f64,
    /// Server CPU, highest interval, %.
    pub cpu_max_pct: f64,
    /// Server peak resident memory, kB.
    pub peak_rss_kb: u64,
    /// Wall time of the cell, s.
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
    for cell in all {
        if stop_requested() {
            break;
        }
        bar.set_message(format!(
            "clients={} size={} busy={}µs repeat={}",
            cell.clients, cell.size, cell.busy_us, cell.repeat
        ));
        results.push(run_cell(plan, cell)?);
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(results)
}

fn run_cell(plan: &SweepPlan, cell: Cell) -> Result<CellResult> {
    let started = Instant::now();
    let server = ServerProcess::start(plan, cell.busy_us)?;
    let sampler = Sampler::start(server.child.id(), plan.sample_interval)?;
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
    let outcome = gen::run(&cfg);
    let proc_summary: ProcSummary = sampler.finish();
    drop(server);
    let report = outcome?.report;
    let us = |ns: f64| ns / 1000.0;
    Ok(CellResult {
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
        cpu_mean_pct: proc_summary.cpu_mean_pct,
        cpu_max_pct: proc_summary.cpu_max_pct,
        peak_rss_kb: proc_summary.peak_rss_kb,
        elapsed_s: started.elapsed().as_secs_f64(),
    })
}

/// The CSV header, matching [`CellResult`]'s fields.
pub const CSV_HEADER: &str = "busy_us,size,clients,repeat,sent,received,lost,throughput_per_s,\
rtt_mean_us,rtt_p50_us,rtt_p90_us,rtt_p99_us,rtt_p999_us,rtt_max_us,cpu_mean_pct,cpu_max_pct,\
peak_rss_kb,elapsed_s";

fn csv_row(r: &CellResult) -> String {
    format!(
        "{},{},{},{},{},{},{},{:.1},{:.2},{:.2},{:.2},{:.2},{:.2},{:.2},{:.1},{:.1},{},{:.3}",
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
        r.cpu_mean_pct,
        r.cpu_max_pct,
        r.peak_rss_kb,
        r.elapsed_s
    )
}

/// Writes `sweep.csv`, `sweep.json` and (with `plots`) the plot grid into `dir`, files created
/// as `out` says.
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
    if plots {
        plot::draw(results, dir, out)?;
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
            cpu_mean_pct: 1.0,
            cpu_max_pct: 1.0,
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
    }
}
