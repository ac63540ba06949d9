//! What the sweep measures of its server process from /proc: the CPU time its threads have
//! spent on a CPU, in ns (`/proc/PID/task/TID/schedstat`), read at two instants to bracket an
//! interval ([`CpuMark`]), and its peak resident memory (`VmHWM` in `/proc/PID/status`).
//!
//! Why not `/proc/PID/stat`'s utime + stime: those are clock ticks (10 ms at `USER_HZ` = 100),
//! so a 0.1 s cell could only read as 0, 10, 20 ... % off by up to a tick at each end, and a
//! sampling thread adds nothing but its interval's own rounding. The first field of
//! `schedstat` is the scheduler's own count (`se.sum_exec_runtime`) in ns.

use std::{
    fs, io,
    path::Path,
    time::{Duration, Instant},
};

use crate::error::{Error, Result};

/// Parses the on-CPU time, ns, from one task's `/proc/PID/task/TID/schedstat`: the first of
/// its three fields (time on CPU ns, time waiting on a run queue ns, timeslices run).
pub fn parse_schedstat(text: &str) -> Result<u64> {
    let bad = |d: &str| Error::Parse {
        what: "/proc/PID/task/TID/schedstat".into(),
        detail: d.into(),
    };
    let mut fields = text.split_whitespace();
    let on_cpu = fields.next().ok_or_else(|| bad("empty"))?;
    if fields.count() != 2 {
        return Err(bad(&format!(
            "expected 3 fields (on-CPU ns, wait ns, timeslices), got {:?}",
            text.trim()
        )));
    }
    on_cpu.parse().map_err(|_| {
        bad(&format!(
            "on-CPU time {on_cpu:?} is not a whole number of ns"
        ))
    })
}

/// The CPU time `pid` has used, ns: the sum over its live threads of their `schedstat` on-CPU
/// time.
///
/// Caveats, which the sweep's use avoids (see `sweep::run_cell`): a thread that has exited
/// takes its time with it (the sum only covers threads alive now); a thread on a CPU at this
/// moment has not yet been credited with its time since the scheduler last accounted it (at
/// most a scheduler tick). Kernels without `CONFIG_SCHED_INFO` write `0 0 0`: refused.
pub fn cpu_ns(pid: u32) -> Result<u64> {
    let dir = format!("/proc/{pid}/task");
    let entries = fs::read_dir(&dir).map_err(|e| Error::file("list", &dir, e))?;
    let (mut total, mut tasks) = (0u64, 0u32);
    for entry in entries {
        let entry = entry.map_err(|e| Error::file("list", &dir, e))?;
        let path = entry.path().join("schedstat");
        match fs::read_to_string(&path) {
            Ok(text) => {
                total = total.saturating_add(parse_schedstat(&text)?);
                tasks += 1;
            }
            // The thread exited between the listing and the read.
            Err(e) if gone(&e) => {}
            Err(e) => return Err(Error::file("read", path, e)),
        }
    }
    if tasks == 0 {
        return Err(Error::file(
            "read",
            dir,
            io::Error::new(io::ErrorKind::NotFound, "the process has no threads left"),
        ));
    }
    if total == 0 {
        return Err(Error::Parse {
            what: format!("{dir}/*/schedstat"),
            detail: "every thread reads 0 ns on CPU: this kernel keeps no scheduler statistics \
                     (CONFIG_SCHED_INFO)"
                .into(),
        });
    }
    Ok(total)
}

fn gone(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ESRCH)
}

/// A process's CPU time ([`cpu_ns`]) and the instant it was read: two marks bracket an
/// interval ([`CpuMark::until`]).
#[derive(Debug, Clone, Copy)]
pub struct CpuMark {
    /// The process's CPU time, ns.
    pub cpu_ns: u64,
    /// When it was read (just after).
    pub at: Instant,
}

impl CpuMark {
    /// Reads `pid`'s CPU time now.
    pub fn take(pid: u32) -> Result<Self> {
        let cpu_ns = cpu_ns(pid)?;
        Ok(CpuMark {
            cpu_ns,
            at: Instant::now(),
        })
    }

    /// The CPU time used and the wall time passed from `self` to `later`.
    pub fn until(&self, later: &CpuMark) -> CpuDelta {
        CpuDelta {
            cpu_ns: later.cpu_ns.saturating_sub(self.cpu_ns),
            wall: later.at.saturating_duration_since(self.at),
        }
    }
}

/// CPU time used over an interval of wall time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuDelta {
    /// CPU time, ns (all threads together: it can exceed `wall`).
    pub cpu_ns: u64,
    /// Wall time.
    pub wall: Duration,
}

impl CpuDelta {
    /// CPU time over wall time, % of one CPU (above 100 with several threads busy); `None`
    /// for an empty interval.
    pub fn percent(&self) -> Option<f64> {
        let wall = self.wall.as_secs_f64();
        (wall > 0.0).then(|| self.cpu_ns as f64 / 1e9 / wall * 100.0)
    }
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

/// `pid`'s peak resident memory so far, kB (`VmHWM`, or `VmRSS` if that is higher or the
/// peak is not reported).
pub fn peak_rss_kb(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = fs::read_to_string(Path::new(&path)).map_err(|e| Error::file("read", &path, e))?;
    let (rss_kb, hwm_kb) = parse_status(&status);
    Ok(hwm_kb.max(rss_kb))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::process::{Command, Stdio};

    #[test]
    fn parses_schedstat() {
        assert_eq!(
            parse_schedstat("65066699 32849484 138\n").expect("parse"),
            65_066_699
        );
        // Larger than 2^32 ns (an hour of CPU is 3.6e12 ns).
        assert_eq!(
            parse_schedstat("3600000000000 1 2").expect("parse"),
            3_600_000_000_000
        );
        for bad in [
            "",
            "\n",
            "12 34",
            "12 34 56 78",
            "-5 0 0",
            "1.5 0 0",
            "x 0 0",
        ] {
            assert!(parse_schedstat(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn parses_status() {
        let status = "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n";
        assert_eq!(parse_status(status), (1024, 2048));
    }

    #[test]
    fn reads_itself() {
        let pid = std::process::id();
        assert!(peak_rss_kb(pid).expect("status") > 0);
        let a = CpuMark::take(pid).expect("schedstat");
        let b = CpuMark::take(pid).expect("schedstat");
        assert!(a.cpu_ns > 0 && b.cpu_ns >= a.cpu_ns, "{a:?} {b:?}");
    }

    #[test]
    fn percent_of_an_interval() {
        let d = CpuDelta {
            cpu_ns: 150_000_000,
            wall: Duration::from_millis(100),
        };
        assert!((d.percent().expect("percent") - 150.0).abs() < 1e-9);
        let empty = CpuDelta {
            cpu_ns: 5,
            wall: Duration::ZERO,
        };
        assert_eq!(empty.percent(), None);
    }

    const SPIN_ENV: &str = "KPATH_PROCSTAT_SPIN_NS";

    /// This thread's CPU time, ns (`CLOCK_THREAD_CPUTIME_ID`).
    fn thread_cpu_ns() -> u64 {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes one timespec.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        assert_eq!(rc, 0, "clock_gettime");
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    }

    /// The child of `cpu_delta_of_a_spinning_child_matches_its_spin` (this test binary run
    /// again, with `SPIN_ENV` set): says `ready`, waits for `go`, spins until this thread has
    /// used `SPIN_ENV` ns of CPU (at most 20 s of wall time), says `done NS` with the CPU time
    /// it spun, and waits for its stdin to close. Without `SPIN_ENV` it does nothing.
    #[test]
    #[ignore = "the child process of cpu_delta_of_a_spinning_child_matches_its_spin"]
    fn spin_child() {
        let Some(target) = std::env::var(SPIN_ENV)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
        else {
            return;
        };
        let mut out = io::stdout().lock();
        let mut input = BufReader::new(io::stdin().lock());
        writeln!(out, "kpath-spin-ready").expect("stdout");
        out.flush().expect("stdout");
        let mut line = String::new();
        input.read_line(&mut line).expect("stdin");
        let start = thread_cpu_ns();
        let wall_bound = Instant::now() + Duration::from_secs(20);
        let mut spun = 0;
        while spun < target && Instant::now() < wall_bound {
            std::hint::spin_loop();
            spun = thread_cpu_ns() - start;
        }
        writeln!(out, "kpath-spin-done {spun}").expect("stdout");
        out.flush().expect("stdout");
        let _ = input.read_to_end(&mut Vec::new());
    }

    /// The CPU a process spends in a known spin, measured from outside by [`CpuMark`] as the
    /// sweep measures its server: within 10 % (or 20 ms) of what the spinner counted itself.
    /// The child is ready and blocked before the first mark and has finished spinning before
    /// the second; the pipes are the synchronisation.
    #[test]
    fn cpu_delta_of_a_spinning_child_matches_its_spin() {
        const SPIN_NS: u64 = 200_000_000;
        let exe = std::env::current_exe().expect("test binary");
        let mut child = Command::new(exe)
            .args(["procstat::tests::spin_child", "--exact", "--ignored"])
            .args(["--nocapture", "--test-threads=1"])
            .env(SPIN_ENV, SPIN_NS.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the spinner");
        let pid = child.id();
        let mut stdin = child.stdin.take().expect("stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        // Lines until the one holding `token` (libtest writes its own around the child's).
        let mut wait_for = |token: &str| -> String {
            let mut line = String::new();
            loop {
                line.clear();
                let n = stdout.read_line(&mut line).expect("child stdout");
                assert!(n > 0, "the spinner ended before {token}");
                if let Some(i) = line.find(token) {
                    return line[i + token.len()..].trim().to_owned();
                }
            }
        };
        wait_for("kpath-spin-ready");
        let before = CpuMark::take(pid).expect("first mark");
        writeln!(stdin, "go").expect("go");
        stdin.flush().expect("go");
        let spun: u64 = wait_for("kpath-spin-done ").parse().expect("spun ns");
        let after = CpuMark::take(pid).expect("second mark");
        drop(stdin);
        let status = child.wait().expect("wait");
        assert!(status.success(), "spinner: {status}");

        assert!(
            spun >= SPIN_NS,
            "the spinner hit its wall-time bound: {spun} ns"
        );
        let delta = before.until(&after);
        kpath_cli::say!(
            "measured {} ns of CPU over {:?} for a spin of {spun} ns",
            delta.cpu_ns,
            delta.wall
        );
        let tolerance = (spun / 10).max(20_000_000);
        assert!(
            delta.cpu_ns.abs_diff(spun) <= tolerance,
            "measured {} ns of CPU for a spin of {spun} ns",
            delta.cpu_ns
        );
        assert!(delta.wall >= Duration::from_nanos(spun), "{delta:?}");
    }
}
