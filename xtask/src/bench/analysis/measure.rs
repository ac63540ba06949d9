//! Measuring one child process to its end: wall time and CPU time from `wait4`, and the
//! peak resident set from `VmHWM`, polled every millisecond (not `ru_maxrss`: see the
//! section's header).

use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::util::show;

/// What a finished child cost.
#[derive(Clone, Copy, Debug)]
pub(in crate::bench) struct Usage {
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
pub(in crate::bench) fn measure(
    cmd: &mut Command,
    group: bool,
    timeout: Duration,
) -> Result<Usage> {
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
