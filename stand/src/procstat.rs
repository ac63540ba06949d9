//! Sampling a process's CPU use and resident memory from `/proc/PID/stat` and
//! `/proc/PID/status` at a fixed interval.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use serde::Serialize;

use crate::error::{Error, Result};

/// One reading of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcReading {
    /// User + system CPU time, clock ticks.
    pub cpu_ticks: u64,
    /// Resident set size, kB (`VmRSS`).
    pub rss_kb: u64,
    /// Peak resident set size, kB (`VmHWM`).
    pub hwm_kb: u64,
}

/// Summary of the readings over a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ProcSummary {
    /// Readings taken.
    pub samples: u64,
    /// CPU use over the whole sampled span, % of one CPU.
    pub cpu_mean_pct: f64,
    /// Highest CPU use over one interval, % of one CPU.
    pub cpu_max_pct: f64,
    /// Peak resident memory, kB (`VmHWM` at the last reading).
    pub peak_rss_kb: u64,
}

/// Parses utime + stime (fields 14 and 15) from `/proc/PID/stat`.
pub fn parse_stat(text: &str) -> Result<u64> {
    let bad = |d: &str| Error::Parse {
        what: "/proc/PID/stat".into(),
        detail: d.into(),
    };
    let after = text
        .rfind(')')
        .ok_or_else(|| bad("no ')' after the command name"))?;
    let fields: Vec<&str> = text[after + 1..].split_whitespace().collect();
    // fields[0] is field 3 (state), so utime (14) is fields[11], stime (15) fields[12].
    let get = |i: usize| -> Result<u64> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| bad("too few fields"))
    };
    Ok(get(11)? + get(12)?)
}

/// Parses `VmRSS` and `VmHWM` (kB) from `/proc/PID/status`; 0 when absent.
pub fn parse_status(text: &str) -> (u64, u64) {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Reads `pid` once.
pub fn read(pid: u32) -> Result<ProcReading> {
    let stat_path = format!("/proc/{pid}/stat");
    let stat =
        std::fs::read_to_string(&stat_path).map_err(|e| Error::file("read", stat_path, e))?;
    let status_path = format!("/proc/{pid}/status");
    let status =
        std::fs::read_to_string(&status_path).map_err(|e| Error::file("read", status_path, e))?;
    let (rss_kb, hwm_kb) = parse_status(&status);
    Ok(ProcReading {
        cpu_ticks: parse_stat(&stat)?,
        rss_kb,
        hwm_kb,
    })
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`, normally 100).
pub fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// A background thread reading a process every `interval`.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<ProcSummary>,
}

impl Sampler {
    /// Starts sampling `pid`.
    pub fn start(pid: u32, interval: Duration) -> Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = thread::Builder::new()
            .name("procstat".into())
            .spawn(move || sample_loop(pid, interval, &flag))
            .map_err(|e| Error::io("spawn the sampler thread", e))?;
        Ok(Sampler { stop, handle })
    }

    /// Stops sampling and summarises.
    pub fn finish(self) -> ProcSummary {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.join().unwrap_or_default()
    }
}

fn sample_loop(pid: u32, interval: Duration, stop: &AtomicBool) -> ProcSummary {
    let hz = ticks_per_second();
    let mut sum = ProcSummary::default();
    let Ok(first) = read(pid) else {
        return sum;
    };
    let t_first = Instant::now();
    let (mut prev, mut t_prev) = (first, t_first);
    sum.samples = 1;
    sum.peak_rss_kb = first.hwm_kb.max(first.rss_kb);
    while !stop.load(Ordering::SeqCst) {
        thread::sleep(interval);
        let Ok(r) = read(pid) else { break };
        let now = Instant::now();
        let dt = now.duration_since(t_prev).as_secs_f64();
        if dt > 0.0 {
            let pct = (r.cpu_ticks.saturating_sub(prev.cpu_ticks)) as f64 / hz / dt * 100.0;
            sum.cpu_max_pct = sum.cpu_max_pct.max(pct);
        }
        let total = now.duration_since(t_first).as_secs_f64();
        if total > 0.0 {
            sum.cpu_mean_pct =
                (r.cpu_ticks.saturating_sub(first.cpu_ticks)) as f64 / hz / total * 100.0;
        }
        sum.samples += 1;
        sum.peak_rss_kb = sum.peak_rss_kb.max(r.hwm_kb).max(r.rss_kb);
        prev = r;
        t_prev = now;
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_spaces_in_the_name() {
        let stat =
            "1234 (kpath stand) S 1 1234 1234 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 3 0 1 1 1";
        assert_eq!(parse_stat(stat).expect("parse"), 300);
        assert!(parse_stat("garbage").is_err());
    }

    #[test]
    fn parses_status() {
        let status = "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n";
        assert_eq!(parse_status(status), (1024, 2048));
    }

    #[test]
    fn reads_itself() {
        let r = read(std::process::id()).expect("read /proc/self");
        assert!(r.rss_kb > 0);
    }
}
