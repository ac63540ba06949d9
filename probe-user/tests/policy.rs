//! The recorder runs under `SCHED_BATCH`, so that its drains do not preempt the measured
//! tasks when it wakes, until a ring passes its fill level; the command it runs (`-- CMD`)
//! gets the policy it had back (`probe-user/src/recorder/policy.rs`). On the real binary, as
//! root (skipped otherwise).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

mod common;

use kpath_trace::TraceReader;

/// `SCHED_OTHER` and `SCHED_BATCH`, as `/proc/PID/stat` gives a task's policy (field 41).
const SCHED_OTHER: &str = "0";
const SCHED_BATCH: &str = "3";

/// One recording at a time: the burst of the second test would otherwise fill the first
/// one's rings, which record every `sendto`.
static ONE_RECORDER: Mutex<()> = Mutex::new(());

/// The scheduling policy of process `pid`, field 41 of `/proc/PID/stat` (its name, field 2,
/// is `kpath-probe`: no space in it).
fn policy_of(pid: u32) -> String {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    stat.split(' ').nth(40).expect("field 41").to_owned()
}

/// Records `sys_sendto` around a shell that prints its parent's policy (the recorder's), then
/// its own; returns both and what the trace says of the recorder.
fn policies(trace: &Path, extra: &[&str]) -> (String, String, kpath_trace::RecorderUsage) {
    let out = common::record_sendto()
        .args(extra)
        .arg("--force")
        .arg("-o")
        .arg(trace)
        .args(["--", "sh", "-c"])
        .arg("cut -d' ' -f41 /proc/$PPID/stat; cut -d' ' -f41 /proc/$$/stat")
        .output()
        .expect("run kpath-probe");
    assert!(out.status.success(), "{}", common::stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "two policies: {text}");
    let meta = TraceReader::open(trace).expect("trace").metadata().clone();
    let usage = meta.recorder.expect("recorder usage");
    (lines[0].to_owned(), lines[1].to_owned(), usage)
}

#[test]
fn the_recorder_yields_on_wakeup_and_its_command_runs_as_without_it() {
    if !common::can_run(module_path!()) {
        return;
    }
    let _one = ONE_RECORDER.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = dir.path().join("t.trace");

    // A `sendto` every 100 µs while the recorder starts and runs, at most 10 s: its rings hold
    // records when it registers them, which epoll reports as readable at once. That is not a
    // ring at its fill level (4 MiB, 58 000 records away at this pace), and must not end the
    // batch policy.
    let done = AtomicBool::new(false);
    let (recorder, command, usage) = std::thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..100_000 {
                if done.load(Ordering::Relaxed) {
                    break;
                }
                common::sendto_calls(1);
                std::thread::sleep(Duration::from_micros(100));
            }
        });
        let seen = policies(&trace, &[]);
        done.store(true, Ordering::Relaxed);
        seen
    });
    assert_eq!(recorder, SCHED_BATCH, "the recorder is SCHED_BATCH");
    assert_eq!(command, SCHED_OTHER, "its command is SCHED_OTHER again");
    assert!(usage.sched_batch, "the trace says so");
    assert_eq!(usage.fill_wakeups, 0, "no ring came near its fill level");
    assert!(usage.records > 0, "the paced sends were recorded");

    let (recorder, command, usage) = policies(&trace, &["--normal-policy"]);
    assert_eq!(recorder, SCHED_OTHER, "--normal-policy keeps SCHED_OTHER");
    assert_eq!(command, SCHED_OTHER);
    assert!(!usage.sched_batch, "the trace says so");
}

#[test]
fn a_ring_past_its_fill_level_makes_the_recorder_preempt_again() {
    if !common::can_run(module_path!()) {
        return;
    }
    let _one = ONE_RECORDER.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = dir.path().join("t.trace");
    let pid = std::process::id().to_string();
    // 64 KiB rings, whose fill level is 16 KiB: about 230 records.
    let mut recorder = common::start_recording(
        &[
            "--stage",
            "sys_sendto",
            "--pid",
            &pid,
            "--ring-buffer-size",
            "65536",
        ],
        &trace,
    );
    assert_eq!(
        policy_of(recorder.id()),
        SCHED_BATCH,
        "yielding at the start"
    );
    // 400 000 records, 28 MB of ring: the rings pass their fill level again and again.
    common::sendto_calls(200_000);
    let deadline = Instant::now() + Duration::from_secs(30);
    while policy_of(recorder.id()) != SCHED_OTHER {
        assert!(
            Instant::now() < deadline,
            "the recorder is still SCHED_BATCH 30 s after the burst"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(recorder.id() as i32, libc::SIGINT) };
    let status = recorder.wait().expect("wait");
    assert!(status.success(), "kpath-probe: {status}");
    let usage = TraceReader::open(&trace)
        .expect("trace")
        .metadata()
        .recorder
        .clone()
        .expect("recorder usage");
    assert!(usage.sched_batch, "it started under SCHED_BATCH");
    assert!(usage.fill_wakeups > 0, "fill-level wake-ups are counted");
}
