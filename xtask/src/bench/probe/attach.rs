//! Attaching a [`Condition`]'s peer while the work runs, and detaching it the way a user
//! would: kpath's recorder (`kpath-probe record` in its modes), the bare timing pairs
//! (`kpath-probe bare-timing`) or bpftrace (`pairs.bt`).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use kpath_trace::TraceReader;

use super::{Condition, Ctx};

impl Ctx {
    /// Attaches `condition` (nothing for [`Condition::None`]); `extra` goes to `record`.
    pub(super) fn attach(&self, condition: Condition, extra: &[&str]) -> Result<Option<Attached>> {
        let kpath = |args: &[&str]| -> Result<Option<Attached>> {
            let trace = self.dir.join("bench.trace");
            let _ = std::fs::remove_file(&trace);
            let child = Command::new(&self.kpath_probe)
                .args([
                    "record",
                    "--force",
                    "--mechanism",
                    "tracepoint",
                    "-q",
                    "--duration",
                    "600s",
                ])
                .args(args)
                .args(extra)
                .arg("-o")
                .arg(&trace)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("failed to start kpath-probe record")?;
            let mut attached = Attached {
                child,
                trace: Some(trace.clone()),
                output: None,
            };
            // The trace file appears once every probe is attached.
            wait_for(Duration::from_secs(30), || {
                if let Some(status) = attached.child.try_wait()? {
                    bail!("kpath-probe record exited early ({status})");
                }
                Ok(trace.exists())
            })
            .context("kpath-probe record did not start recording")?;
            Ok(Some(attached))
        };
        match condition {
            Condition::None => Ok(None),
            Condition::KpathTrace => kpath(&[]),
            Condition::KpathTraceEntries => kpath(&["--entries"]),
            Condition::KpathTraceAdaptiveWakeup => kpath(&["--wakeup-fill-bytes", "0"]),
            Condition::KpathTraceBuffered => kpath(&["--buffered-writes"]),
            Condition::KpathTraceNormalPolicy => kpath(&["--normal-policy"]),
            Condition::KpathStats => kpath(&["--mode", "stats"]),
            Condition::KpathFilteredOut => {
                let no_such_cpu = self.cpus.to_string();
                kpath(&["--cpu", &no_such_cpu])
            }
            Condition::BareTiming => {
                let mut cmd = Command::new(&self.kpath_probe);
                cmd.args(["bare-timing", "--duration", "600s"]);
                // It prints its line once every pair is attached.
                spawn_until_line(cmd, "attached", "kpath-probe bare-timing").map(Some)
            }
            Condition::Bpftrace => self.attach_bpftrace().map(Some),
        }
    }

    fn attach_bpftrace(&self) -> Result<Attached> {
        let mut cmd = Command::new("bpftrace");
        cmd.arg(&self.bpftrace_script);
        let mut attached = spawn_until_line(cmd, "Attaching", "bpftrace")?;
        // bpftrace prints "Attaching N probes..." before attaching; the BEGIN-less script has
        // no other signal, so wait until every probe shows up as a link.
        wait_for(Duration::from_secs(30), || {
            if let Some(status) = attached.child.try_wait()? {
                bail!("bpftrace exited early ({status})");
            }
            Ok(bpf_links_of(attached.child.id()) >= 18)
        })
        .context("bpftrace did not attach its 18 probes")?;
        Ok(attached)
    }
}

/// Starts `cmd` and returns once it prints a line starting with `ready` (60 s at most). A
/// thread reads its output to the end, so that what it prints at exit never blocks on a full
/// pipe.
fn spawn_until_line(mut cmd: Command, ready: &'static str, what: &str) -> Result<Attached> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("failed to start {what}"))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow!("{what} has no stdout"))?;
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with(ready) {
                let _ = tx.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let mut attached = Attached {
        child,
        trace: None,
        output: Some(reader),
    };
    if rx.recv_timeout(Duration::from_secs(60)).is_err() {
        let _ = attached.child.kill();
        bail!("{what} did not attach within 60 s");
    }
    Ok(attached)
}

/// A running probe condition; killed if dropped without [`detach`].
pub(super) struct Attached {
    child: Child,
    trace: Option<PathBuf>,
    output: Option<std::thread::JoinHandle<String>>,
}

impl Drop for Attached {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub(super) struct Detached {
    pub(super) lost: u64,
    pub(super) usage: Option<kpath_trace::RecorderUsage>,
}

/// Stops a condition the way a user would (SIGINT), and reads what kpath recorded.
pub(super) fn detach(attached: Option<Attached>) -> Result<Detached> {
    let Some(mut a) = attached else {
        return Ok(Detached {
            lost: 0,
            usage: None,
        });
    };
    // SAFETY: signalling our own child.
    unsafe { libc::kill(a.child.id() as i32, libc::SIGINT) };
    let pid = a.child.id();
    wait_for(Duration::from_secs(60), || {
        Ok(a.child.try_wait()?.is_some())
    })
    .with_context(|| format!("process {pid} did not stop after SIGINT"))?;
    if let Some(reader) = a.output.take() {
        let _ = reader.join();
    }
    let Some(trace) = a.trace.take() else {
        return Ok(Detached {
            lost: 0,
            usage: None,
        });
    };
    let reader =
        TraceReader::open(&trace).with_context(|| format!("failed to read {}", trace.display()))?;
    let meta = reader.metadata();
    let d = Detached {
        lost: meta.lost_events(),
        usage: meta.recorder.clone(),
    };
    let _ = std::fs::remove_file(&trace);
    Ok(d)
}

/// Attachments held by process `pid`: BPF links and perf events (bpftrace 0.17 attaches
/// tracepoints through perf events), counted from `/proc/PID/fd`.
fn bpf_links_of(pid: u32) -> usize {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter(|target| {
            let t = target.to_string_lossy();
            t == "anon_inode:[perf_event]" || t == "anon_inode:bpf_link"
        })
        .count()
}

/// Polls `ready` every 20 ms until it says yes, fails, or `limit` passes.
pub(super) fn wait_for(limit: Duration, mut ready: impl FnMut() -> Result<bool>) -> Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        if ready()? {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("not ready within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
