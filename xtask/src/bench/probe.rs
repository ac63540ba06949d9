//! Sections (a)–(d): the probe effect. The same work is measured under each [`Condition`] in
//! turn, round after round: nothing attached, kpath in its modes, kpath attached but filtered
//! out (the mechanism's own floor), kpath with the kernel's adaptive ring notification (the
//! 0.1 recorder's behaviour, to show what the change bought), and bpftrace timing the same 9
//! tracepoint pairs (`pairs.bt`).
//!
//! - (a) saturation: `kpath-stand gen --pattern closed --clients 16` against `kpath-stand
//!   echo` across the two namespaces, replies/s as a ratio to no probes in the same round;
//! - (b) ping-pong round-trip time p50/p99 on the same stand;
//! - (c) a system-call loop (`sendto(-1)`, which fails right after the descriptor look-up):
//!   wall time per call, and the cost per event (2 events per call) above no probes;
//! - (d) the recorder's capacity: the same loop from 1 and 2 threads with only the `sendto`
//!   stage, events/s, events lost and the recorder's CPU per record, and with a 64 KiB ring to
//!   show where loss begins.
//!
//! The calibration (`kpath-probe calibrate`) goes with them: kpath's pair against the bare
//! pair on the same tracepoints.
//!
//! The file is long because sections (a)–(d) share one stand, one set of conditions and
//! one alternation of rounds.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use kpath_stand::netns::{self, Stand};
use kpath_trace::{ProbeCost, TraceReader};
use serde::{Deserialize, Serialize};

use super::{BenchOptions, Spread, Target};

/// What is attached while the work runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Condition {
    /// Nothing attached.
    None,
    /// `kpath-probe record --mechanism tracepoint` (trace mode, the 9 stage pairs).
    KpathTrace,
    /// The same with `--wakeup-fill-bytes 0`: the kernel's adaptive notification, a reader
    /// wake-up whenever it had caught up (kpath 0.1's recorder).
    KpathTraceAdaptiveWakeup,
    /// `--mode stats`: timed and aggregated in the kernel, no records.
    KpathStats,
    /// Trace mode with `--cpu` naming a CPU that does not exist: every program runs and
    /// returns at its filter. The floor of the mechanism with kpath's programs attached.
    KpathFilteredOut,
    /// bpftrace timing the same 9 pairs into hist() maps (`pairs.bt`).
    Bpftrace,
}

impl Condition {
    const ALL: [Condition; 6] = [
        Condition::None,
        Condition::KpathTrace,
        Condition::KpathTraceAdaptiveWakeup,
        Condition::KpathStats,
        Condition::KpathFilteredOut,
        Condition::Bpftrace,
    ];

    fn name(self) -> &'static str {
        match self {
            Condition::None => "no probes",
            Condition::KpathTrace => "kpath trace",
            Condition::KpathTraceAdaptiveWakeup => "kpath trace, 0.1 wake-up",
            Condition::KpathStats => "kpath stats",
            Condition::KpathFilteredOut => "kpath filtered out",
            Condition::Bpftrace => "bpftrace",
        }
    }
}

/// One condition's figures over the rounds.
#[derive(Clone, Debug, Serialize)]
pub struct ConditionFigures {
    /// The condition.
    pub condition: Condition,
    /// The raw figure (see the section for its unit).
    pub value: Spread,
    /// The figure as a ratio to "no probes" of the same round (absent for "no probes").
    pub ratio: Option<Spread>,
    /// Events lost by kpath's recorder, summed over the rounds.
    pub lost_events: u64,
}

/// Section (b): ping-pong round-trip time per condition.
#[derive(Clone, Debug, Serialize)]
pub struct PingPongFigures {
    /// The condition.
    pub condition: Condition,
    /// Median round-trip time, µs.
    pub rtt_p50_us: Spread,
    /// 99th percentile, µs.
    pub rtt_p99_us: Spread,
}

/// Section (c): the system-call loop per condition.
#[derive(Clone, Debug, Serialize)]
pub struct SyscallFigures {
    /// The condition.
    pub condition: Condition,
    /// Wall time per `sendto(-1)` call, ns.
    pub ns_per_call: Spread,
    /// Cost per event above no probes in the same round, ns (2 events per call).
    pub ns_per_event: Option<Spread>,
}

/// Section (d): one recorder capacity run.
#[derive(Clone, Debug, Serialize)]
pub struct RecorderRun {
    /// Threads calling `sendto(-1)` at full speed.
    pub threads: u32,
    /// Ring buffer size, bytes.
    pub ring_bytes: u64,
    /// Records written per second of the loop.
    pub events_per_s: f64,
    /// Records written.
    pub records: u64,
    /// Events lost (ring full).
    pub lost: u64,
    /// The recorder's CPU (user + system) per record, ns.
    pub recorder_cpu_ns_per_record: Option<f64>,
    /// Drains that found records.
    pub batches: u64,
}

/// Sections (a)–(d) and the calibration.
#[derive(Clone, Debug, Serialize)]
pub struct ProbeBench {
    /// `kpath-probe calibrate --mechanism tracepoint` on this host.
    pub calibration: Vec<ProbeCost>,
    /// (a) Closed-loop replies/s on the namespace stand.
    pub saturation: Vec<ConditionFigures>,
    /// (b) Ping-pong round-trip times on the same stand.
    pub pingpong: Vec<PingPongFigures>,
    /// (c) The system-call loop.
    pub syscall: Vec<SyscallFigures>,
    /// (d) The recorder at the highest rates this machine produces.
    pub recorder: Vec<RecorderRun>,
    /// The targets, judged on the medians.
    pub targets: Vec<Target>,
}

/// The workload sizes of one run.
struct Sizes {
    saturation: Duration,
    pingpong_count: u64,
    syscall_calls: u64,
    recorder_calls: u64,
    calibrate_count: u32,
}

impl Sizes {
    fn of(quick: bool) -> Self {
        if quick {
            Sizes {
                saturation: Duration::from_secs(1),
                pingpong_count: 1_000,
                syscall_calls: 200_000,
                recorder_calls: 500_000,
                calibrate_count: 8_000,
            }
        } else {
            Sizes {
                saturation: Duration::from_secs(3),
                pingpong_count: 5_000,
                syscall_calls: 2_000_000,
                recorder_calls: 3_000_000,
                calibrate_count: 40_000,
            }
        }
    }
}

/// Runs sections (a)–(d); needs root and the release binaries.
pub fn run(opts: &BenchOptions) -> Result<ProbeBench> {
    if !netns::is_root() {
        bail!("the probe sections load BPF programs and make namespaces: run as root");
    }
    let sizes = Sizes::of(opts.quick);
    let ctx = Ctx::new(opts)?;
    eprintln!("bench: calibration");
    let calibration = ctx.calibrate(sizes.calibrate_count)?;
    eprintln!("bench: (a) saturation and (b) ping-pong on the namespace stand");
    let (saturation, pingpong) = ctx.stand_sections(&sizes, opts.rounds)?;
    eprintln!("bench: (c) the system-call loop");
    let syscall = ctx.syscall_section(&sizes, opts.rounds)?;
    eprintln!("bench: (d) the recorder's capacity");
    let recorder = ctx.recorder_section(&sizes)?;
    let targets = targets(&calibration, &saturation, &recorder);
    Ok(ProbeBench {
        calibration,
        saturation,
        pingpong,
        syscall,
        recorder,
        targets,
    })
}

/// Binaries, scratch space and the bpftrace script.
struct Ctx {
    kpath_probe: PathBuf,
    kpath_stand: PathBuf,
    dir: PathBuf,
    bpftrace_script: PathBuf,
    cpus: usize,
}

impl Ctx {
    fn new(opts: &BenchOptions) -> Result<Self> {
        let dir = opts.dir.join("probe");
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("failed to create {}", dir.display()))?;
        let bpftrace_script = dir.join("pairs.bt");
        std::fs::write(&bpftrace_script, include_str!("pairs.bt"))
            .with_context(|| format!("failed to write {}", bpftrace_script.display()))?;
        if !crate::util::have("bpftrace") {
            bail!("bpftrace is missing: `cargo xtask setup` installs it");
        }
        Ok(Ctx {
            kpath_probe: opts.bin_dir.join("kpath-probe"),
            kpath_stand: opts.bin_dir.join("kpath-stand"),
            dir,
            bpftrace_script,
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        })
    }

    fn calibrate(&self, count: u32) -> Result<Vec<ProbeCost>> {
        let out = self.dir.join("calibration.json");
        let _ = std::fs::remove_file(&out);
        let status = Command::new(&self.kpath_probe)
            .args([
                "calibrate",
                "--force",
                "--mechanism",
                "tracepoint",
                "--count",
            ])
            .arg(count.to_string())
            .arg("-o")
            .arg(&out)
            .stdout(Stdio::inherit())
            .status()
            .context("failed to run kpath-probe calibrate")?;
        if !status.success() {
            bail!("kpath-probe calibrate failed with {status}");
        }
        let text = std::fs::read_to_string(&out)
            .with_context(|| format!("failed to read {}", out.display()))?;
        serde_json::from_str(&text).with_context(|| format!("failed to parse {}", out.display()))
    }

    /// Attaches `condition` (nothing for [`Condition::None`]); `extra` goes to `record`.
    fn attach(&self, condition: Condition, extra: &[&str]) -> Result<Option<Attached>> {
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
            Condition::KpathTraceAdaptiveWakeup => kpath(&["--wakeup-fill-bytes", "0"]),
            Condition::KpathStats => kpath(&["--mode", "stats"]),
            Condition::KpathFilteredOut => {
                let no_such_cpu = self.cpus.to_string();
                kpath(&["--cpu", &no_such_cpu])
            }
            Condition::Bpftrace => self.attach_bpftrace().map(Some),
        }
    }

    fn attach_bpftrace(&self) -> Result<Attached> {
        let mut child = Command::new("bpftrace")
            .arg(&self.bpftrace_script)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("failed to start bpftrace")?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("bpftrace has no stdout"))?;
        // A thread reads bpftrace's output to the end (its maps at exit must not block on a
        // full pipe) and says when the probes are attached.
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut all = String::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("Attaching") {
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
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(()) => {
                // bpftrace prints "Attaching N probes..." before attaching; the BEGIN-less
                // script has no other signal, so wait until every probe shows up as a link.
                wait_for(Duration::from_secs(30), || {
                    if let Some(status) = attached.child.try_wait()? {
                        bail!("bpftrace exited early ({status})");
                    }
                    Ok(bpf_links_of(attached.child.id()) >= 18)
                })
                .context("bpftrace did not attach its 18 probes")?;
                Ok(attached)
            }
            Err(_) => {
                let _ = attached.child.kill();
                bail!("bpftrace did not attach within 60 s")
            }
        }
    }

    fn stand_sections(
        &self,
        sizes: &Sizes,
        rounds: usize,
    ) -> Result<(Vec<ConditionFigures>, Vec<PingPongFigures>)> {
        let stand = Stand::with_suffix("bench");
        let _guard = stand
            .clone()
            .up_guarded()
            .context("failed to set up the stand")?;
        let target = format!("{}:9000", stand.proxy_addr);
        let mut echo = Killed(
            netns::command_in(&stand.proxy_ns, &self.kpath_stand)
                .args(["echo", "--listen", &target, "--duration", "1800s"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("failed to start kpath-stand echo")?,
        );
        // Ready when a ping-pong gets its answers.
        wait_for(Duration::from_secs(20), || {
            if let Some(status) = echo.0.try_wait()? {
                bail!("kpath-stand echo exited ({status})");
            }
            Ok(self
                .gen(&stand, &target, &["--pattern", "pingpong", "--count", "10"])
                .is_ok())
        })
        .context("the echo server did not answer")?;
        let secs = format!("{}s", sizes.saturation.as_secs());
        let count = sizes.pingpong_count.to_string();
        let mut replies: Vec<Vec<f64>> = vec![Vec::new(); Condition::ALL.len()];
        let mut p50: Vec<Vec<f64>> = vec![Vec::new(); Condition::ALL.len()];
        let mut p99: Vec<Vec<f64>> = vec![Vec::new(); Condition::ALL.len()];
        let mut lost = vec![0u64; Condition::ALL.len()];
        for round in 0..rounds {
            for (i, &c) in Condition::ALL.iter().enumerate() {
                eprintln!("  round {}/{rounds}: {}", round + 1, c.name());
                let attached = self.attach(c, &[])?;
                let sat = self.gen(
                    &stand,
                    &target,
                    &[
                        "--pattern",
                        "closed",
                        "--clients",
                        "16",
                        "--duration",
                        &secs,
                    ],
                );
                let pp = self.gen(
                    &stand,
                    &target,
                    &["--pattern", "pingpong", "--count", &count],
                );
                let detached = detach(attached)?;
                lost[i] += detached.lost;
                let sat = sat?;
                let pp = pp?;
                replies[i].push(sat.recv_rate_per_s);
                p50[i].push(pp.rtt_ns.p50 / 1e3);
                p99[i].push(pp.rtt_ns.p99 / 1e3);
            }
        }
        let saturation = figures(&replies, &lost)?;
        let pingpong = Condition::ALL
            .iter()
            .enumerate()
            .map(|(i, &condition)| {
                Ok(PingPongFigures {
                    condition,
                    rtt_p50_us: spread(&p50[i])?,
                    rtt_p99_us: spread(&p99[i])?,
                })
            })
            .collect::<Result<_>>()?;
        Ok((saturation, pingpong))
    }

    fn gen(&self, stand: &Stand, target: &str, args: &[&str]) -> Result<GenSummary> {
        let json = self.dir.join("gen.json");
        let _ = std::fs::remove_file(&json);
        let status = netns::command_in(&stand.gen_ns, &self.kpath_stand)
            .args([
                "gen",
                "--force",
                "--target",
                target,
                "--allow-remote",
                "-q",
                "--size",
                "64",
            ])
            .args(["--timeout", "100ms"])
            .args(args)
            .arg("--json")
            .arg(&json)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .context("failed to run kpath-stand gen")?;
        if !status.success() {
            bail!("kpath-stand gen {} failed with {status}", args.join(" "));
        }
        let text = std::fs::read_to_string(&json)
            .with_context(|| format!("failed to read {}", json.display()))?;
        let summary: GenSummary = serde_json::from_str(&text)
            .with_context(|| format!("failed to parse {}", json.display()))?;
        if summary.received == 0 {
            bail!("kpath-stand gen {}: no reply received", args.join(" "));
        }
        Ok(summary)
    }

    fn syscall_section(&self, sizes: &Sizes, rounds: usize) -> Result<Vec<SyscallFigures>> {
        let mut per_call: Vec<Vec<f64>> = vec![Vec::new(); Condition::ALL.len()];
        for _ in 0..rounds {
            for (i, &c) in Condition::ALL.iter().enumerate() {
                let attached = self.attach(c, &[])?;
                let (elapsed, calls) = sendto_loop(1, sizes.syscall_calls);
                detach(attached)?;
                per_call[i].push(elapsed.as_nanos() as f64 / calls as f64);
            }
        }
        Condition::ALL
            .iter()
            .enumerate()
            .map(|(i, &condition)| {
                // 2 events (entry and exit) per call.
                let ns_per_event = (i > 0)
                    .then(|| against_none(&per_call[i], &per_call[0], |c, none| (c - none) / 2.0))
                    .transpose()?;
                Ok(SyscallFigures {
                    condition,
                    ns_per_call: spread(&per_call[i])?,
                    ns_per_event,
                })
            })
            .collect()
    }

    fn recorder_section(&self, sizes: &Sizes) -> Result<Vec<RecorderRun>> {
        let mut runs = Vec::new();
        for (threads, ring) in [(1u32, None), (2, None), (2, Some(64u64 << 10))] {
            let ring_arg = ring.map(|r| r.to_string());
            let mut extra = vec!["--stage", "sys_sendto"];
            if let Some(r) = &ring_arg {
                extra.extend(["--ring-buffer-size", r.as_str()]);
            }
            let attached = self.attach(Condition::KpathTrace, &extra)?;
            let (elapsed, _) = sendto_loop(threads, sizes.recorder_calls);
            let d = detach(attached)?;
            let usage = d
                .usage
                .ok_or_else(|| anyhow!("the trace has no recorder usage"))?;
            runs.push(RecorderRun {
                threads,
                ring_bytes: usage.ring_bytes,
                events_per_s: usage.records as f64 / elapsed.as_secs_f64(),
                records: usage.records,
                lost: d.lost,
                recorder_cpu_ns_per_record: usage.cpu_ns_per_record(),
                batches: usage.batches,
            });
        }
        Ok(runs)
    }
}

/// What the benchmark reads of `kpath-stand gen --json` (its `GenReport`, whose counts are
/// flattened into the top level).
#[derive(Deserialize)]
struct GenSummary {
    received: u64,
    recv_rate_per_s: f64,
    rtt_ns: GenLatency,
}

#[derive(Deserialize)]
struct GenLatency {
    p50: f64,
    p99: f64,
}

/// A running probe condition; killed if dropped without [`detach`].
struct Attached {
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

struct Detached {
    lost: u64,
    usage: Option<kpath_trace::RecorderUsage>,
}

/// Stops a condition the way a user would (SIGINT), and reads what kpath recorded.
fn detach(attached: Option<Attached>) -> Result<Detached> {
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
fn wait_for(limit: Duration, mut ready: impl FnMut() -> Result<bool>) -> Result<()> {
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

/// A child process killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `threads` threads each call `sendto(-1)` `calls / threads` times; the wall time and the
/// calls made.
fn sendto_loop(threads: u32, calls: u64) -> (Duration, u64) {
    let per_thread = calls / u64::from(threads);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let buf = [0u8; 1];
                for _ in 0..per_thread {
                    // SAFETY: sendto on fd -1 fails with EBADF without reading the buffer
                    // beyond its length.
                    unsafe { libc::sendto(-1, buf.as_ptr().cast(), 1, 0, std::ptr::null(), 0) };
                }
            });
        }
    });
    (start.elapsed(), per_thread * u64::from(threads))
}

fn spread(v: &[f64]) -> Result<Spread> {
    Spread::of(v).ok_or_else(|| anyhow!("no finite measurement: {v:?}"))
}

/// `compare(value, none)` round by round (each condition's round `r` against "no probes" of
/// round `r`), and the spread of the results.
fn against_none(values: &[f64], none: &[f64], compare: impl Fn(f64, f64) -> f64) -> Result<Spread> {
    let r: Vec<f64> = values
        .iter()
        .zip(none)
        .map(|(&v, &n)| compare(v, n))
        .collect();
    spread(&r)
}

/// Per condition: the raw figure and its ratio to "no probes" of the same round.
fn figures(values: &[Vec<f64>], lost: &[u64]) -> Result<Vec<ConditionFigures>> {
    Condition::ALL
        .iter()
        .enumerate()
        .map(|(i, &condition)| {
            let ratio = (i > 0)
                .then(|| against_none(&values[i], &values[0], |v, none| v / none))
                .transpose()?;
            Ok(ConditionFigures {
                condition,
                value: spread(&values[i])?,
                ratio,
                lost_events: lost[i],
            })
        })
        .collect()
}

fn ratio_of(figs: &[ConditionFigures], c: Condition) -> f64 {
    figs.iter()
        .find(|f| f.condition == c)
        .and_then(|f| f.ratio)
        .map_or(f64::NAN, |r| r.median)
}

/// The probe-effect issue's targets, on the medians.
fn targets(
    calibration: &[ProbeCost],
    saturation: &[ConditionFigures],
    recorder: &[RecorderRun],
) -> Vec<Target> {
    let mut t = Vec::new();
    let mut push =
        |target: &str, measured: f64, met: bool| t.push(Target::judged(target, measured, met));
    if let Some(c) = calibration.first() {
        push(
            "calibrated tracepoint pair ≤ 400 ns (mean)",
            c.mean_ns,
            c.mean_ns <= 400.0,
        );
        let share = c.own_share_ns().unwrap_or(f64::NAN);
        push(
            "within 150 ns of the bare pair (kpath's share, ns)",
            share,
            share <= 150.0,
        );
    }
    let trace = ratio_of(saturation, Condition::KpathTrace);
    let stats = ratio_of(saturation, Condition::KpathStats);
    let floor = ratio_of(saturation, Condition::KpathFilteredOut);
    let bpftrace = ratio_of(saturation, Condition::Bpftrace);
    push(
        "saturation: trace ≥ bpftrace (trace ratio − bpftrace ratio)",
        trace - bpftrace,
        trace >= bpftrace,
    );
    push(
        "saturation: trace ≥ 0.85 × stats (trace / stats)",
        trace / stats,
        trace >= 0.85 * stats,
    );
    push(
        "saturation: stats ≥ 0.95 × filtered floor (stats / floor)",
        stats / floor,
        stats >= 0.95 * floor,
    );
    let best_lossless = recorder
        .iter()
        .filter(|r| r.lost == 0)
        .map(|r| r.events_per_s)
        .fold(0.0, f64::max);
    push(
        "recorder ≥ 3 M events/s with zero loss (events/s)",
        best_lossless,
        best_lossless >= 3e6,
    );
    let worst_cpu = recorder
        .iter()
        .filter(|r| r.ring_bytes == u64::from(probe_common::ring::DEFAULT_RING_BYTES))
        .filter_map(|r| r.recorder_cpu_ns_per_record)
        .fold(0.0, f64::max);
    push(
        "recorder CPU ≤ 100 ns per record (default ring, worst run)",
        worst_cpu,
        worst_cpu <= 100.0,
    );
    t
}

/// The terminal table of sections (a)–(d).
pub fn table(b: &ProbeBench) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let s = |x: &Spread, digits: usize| {
        format!(
            "{:>9.d$} {:>9.d$} {:>9.d$}",
            x.min,
            x.median,
            x.max,
            d = digits
        )
    };
    let _ = writeln!(o, "calibration (tracepoint, interval timed in the kernel):");
    for c in &b.calibration {
        let bare = c.bare.as_ref().map_or(f64::NAN, |b| b.mean_ns);
        let _ = writeln!(
            o,
            "  kpath pair {:.0} ns (median {:.0}), bare pair {:.0} ns, kpath's share {:.0} ns",
            c.mean_ns,
            c.median_ns.unwrap_or(f64::NAN),
            bare,
            c.own_share_ns().unwrap_or(f64::NAN)
        );
    }
    let _ = writeln!(
        o,
        "(a) saturation, replies/s as a ratio to no probes      min    median       max"
    );
    for f in &b.saturation {
        match &f.ratio {
            Some(r) => {
                let _ = writeln!(o, "  {:<44} {}", f.condition.name(), s(r, 3));
            }
            None => {
                let _ = writeln!(o, "  {:<44} {}", "no probes (replies/s)", s(&f.value, 0));
            }
        }
    }
    let _ = writeln!(
        o,
        "(b) ping-pong RTT, µs: p50 median (min–max), p99 median (min–max)"
    );
    for f in &b.pingpong {
        let _ = writeln!(
            o,
            "  {:<30} {:>7.1} ({:.1}–{:.1})   {:>7.1} ({:.1}–{:.1})",
            f.condition.name(),
            f.rtt_p50_us.median,
            f.rtt_p50_us.min,
            f.rtt_p50_us.max,
            f.rtt_p99_us.median,
            f.rtt_p99_us.min,
            f.rtt_p99_us.max
        );
    }
    let _ = writeln!(
        o,
        "(c) sendto(-1) loop: ns per call (median), ns per event above none (min median max)"
    );
    for f in &b.syscall {
        let per_event = f
            .ns_per_event
            .as_ref()
            .map_or_else(|| "-".to_owned(), |e| s(e, 0));
        let _ = writeln!(
            o,
            "  {:<30} {:>7.0}   {per_event}",
            f.condition.name(),
            f.ns_per_call.median
        );
    }
    let _ = writeln!(
        o,
        "(d) recorder: threads, ring, events/s, lost, CPU ns/record"
    );
    for r in &b.recorder {
        let _ = writeln!(
            o,
            "  {} thread(s)  {:>8} KiB  {:>10.0}/s  {:>8} lost  {:>6.0} ns  ({} drains)",
            r.threads,
            r.ring_bytes >> 10,
            r.events_per_s,
            r.lost,
            r.recorder_cpu_ns_per_record.unwrap_or(f64::NAN),
            r.batches
        );
    }
    let _ = writeln!(o, "targets:");
    for t in &b.targets {
        let _ = writeln!(
            o,
            "  {:<62} {:>10.3}  {}",
            t.target,
            t.measured,
            if t.met { "met" } else { "NOT met" }
        );
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spread1(v: f64) -> Spread {
        Spread {
            min: v,
            median: v,
            max: v,
        }
    }

    #[test]
    fn ratios_are_taken_against_the_same_round() {
        let values = vec![vec![100.0, 200.0], vec![50.0, 150.0]];
        let lost = vec![0, 3];
        // Only two conditions here: `figures` walks Condition::ALL, so pad the rest.
        let mut v = values.clone();
        let mut l = lost.clone();
        for _ in 2..Condition::ALL.len() {
            v.push(vec![100.0, 200.0]);
            l.push(0);
        }
        let f = figures(&v, &l).expect("figures");
        assert!(f[0].ratio.is_none());
        let r = f[1].ratio.expect("ratio");
        assert_eq!((r.min, r.max), (0.5, 0.75));
        assert_eq!(f[1].lost_events, 3);
    }

    #[test]
    fn targets_judge_the_medians() {
        let fig = |condition, ratio: f64| ConditionFigures {
            condition,
            value: spread1(1.0),
            ratio: Some(spread1(ratio)),
            lost_events: 0,
        };
        let sat = vec![
            fig(Condition::KpathTrace, 0.5),
            fig(Condition::KpathStats, 0.55),
            fig(Condition::KpathFilteredOut, 0.56),
            fig(Condition::Bpftrace, 0.45),
        ];
        let rec = vec![RecorderRun {
            threads: 2,
            ring_bytes: 16 << 20,
            events_per_s: 3.2e6,
            records: 1,
            lost: 0,
            recorder_cpu_ns_per_record: Some(80.0),
            batches: 1,
        }];
        let t = targets(&[], &sat, &rec);
        assert!(t.iter().all(|t| t.met), "{t:?}");
        let sat_bad = vec![
            fig(Condition::KpathTrace, 0.3),
            fig(Condition::KpathStats, 0.55),
            fig(Condition::KpathFilteredOut, 0.56),
            fig(Condition::Bpftrace, 0.45),
        ];
        let t = targets(&[], &sat_bad, &rec);
        assert_eq!(t.iter().filter(|t| !t.met).count(), 2, "{t:?}");
    }
}
