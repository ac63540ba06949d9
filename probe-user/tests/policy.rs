//! The recorder runs under `SCHED_BATCH`, so that its drains do not preempt the measured
//! tasks when it wakes, and the command it runs (`-- CMD`) gets the policy it had back
//! (`probe-user/src/recorder/policy.rs`). On the real binary, as root (skipped otherwise).

use std::path::Path;
use std::process::Command;

mod common;

use kpath_trace::TraceReader;

/// `SCHED_OTHER` and `SCHED_BATCH`, as `/proc/PID/stat` gives a task's policy (field 41).
const SCHED_OTHER: &str = "0";
const SCHED_BATCH: &str = "3";

/// Records `sys_sendto` around a shell that prints its parent's policy (the recorder's), then
/// its own; returns both and whether the trace says the recorder ran under `SCHED_BATCH`.
fn policies(trace: &Path, extra: &[&str]) -> (String, String, bool) {
    let out = Command::new(env!("CARGO_BIN_EXE_kpath-probe"))
        .args([
            "record",
            "--mechanism",
            "tracepoint",
            "--stage",
            "sys_sendto",
            "-q",
        ])
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
    let batch = meta.recorder.expect("recorder usage").sched_batch;
    (lines[0].to_owned(), lines[1].to_owned(), batch)
}

#[test]
fn the_recorder_yields_on_wakeup_and_its_command_runs_as_without_it() {
    if !common::can_run(module_path!()) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = dir.path().join("t.trace");

    let (recorder, command, batch) = policies(&trace, &[]);
    assert_eq!(recorder, SCHED_BATCH, "the recorder is SCHED_BATCH");
    assert_eq!(command, SCHED_OTHER, "its command is SCHED_OTHER again");
    assert!(batch, "the trace says so");

    let (recorder, command, batch) = policies(&trace, &["--normal-policy"]);
    assert_eq!(recorder, SCHED_OTHER, "--normal-policy keeps SCHED_OTHER");
    assert_eq!(command, SCHED_OTHER);
    assert!(!batch, "the trace says so");
}
