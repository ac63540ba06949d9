//! Starting a recording while the probed path is busy, on the real kernel as root (skipped with
//! a reason otherwise). Probes write into the event rings from the moment each is attached,
//! and nothing reads the rings until the recorder's loop starts. The stages' programs are
//! verified first and attached together (`Probes::load_stage`). Attached between
//! verifications, as before, the first stages wrote for about a second before the rings were
//! read, and a busy host filled them: 0.5–0.6 M events lost at each start on the namespace
//! stand.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

use kpath_probe::recorder::{MechanismChoice, RecordOptions, Recording};
use kpath_probe::Settings;

/// `sendto(-1)` calls per pacing step, and the step: 800 000 calls/s, about 51 MB/s of records
/// for the `sys_sendto` stage (one per call). A 16 MiB ring fills in about 0.3 s at that rate: ten times the
/// time the attaching now takes, and a third of the time the stages verified after
/// `sys_sendto` took when each was attached right after its verification.
const CALLS_PER_STEP: u64 = 8_000;
const STEP: Duration = Duration::from_millis(10);
/// Event ring bytes per ring, fixed so that the margin above does not depend on the host.
const RING_BYTES: u32 = 16 << 20;
/// Steps the load goes on for once the recording has started.
const STEPS_AFTER_START: u32 = 50;
/// The load stops by itself after this long, whatever happens.
const LOAD_LIMIT: Duration = Duration::from_secs(60);

#[test]
fn a_recording_started_under_load_loses_nothing() {
    if !common::can_run("a_recording_started_under_load_loses_nothing") {
        return;
    }
    // The pid filter counts this process's calls: other tests' exact counts would see ours.
    let _serial = common::PID_COUNTED_SENDS
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = dir.path().join("startup.trace");
    let started = Arc::new(AtomicBool::new(false));
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<u64>();
    let load = {
        let started = Arc::clone(&started);
        std::thread::spawn(move || {
            let begin = Instant::now();
            let mut next = begin;
            let mut after_start = 0u32;
            let mut calls = 0u64;
            while after_start < STEPS_AFTER_START && begin.elapsed() < LOAD_LIMIT {
                // Read before the step: a step counted only if it began after the probes were
                // attached, so every one of its calls must be recorded. (Read after it, the
                // step that straddled the attach counted too, and its calls made before the
                // attach were rightly missing: 398 935 of 400 000 in one CI run.)
                let recorded_in_full = started.load(Ordering::Acquire);
                common::sendto_calls(CALLS_PER_STEP);
                calls += CALLS_PER_STEP;
                if recorded_in_full {
                    after_start += 1;
                }
                // Paced, not synchronised: the step only sets the rate.
                next += STEP;
                if let Some(wait) = next.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
            let _ = done_tx.send(calls);
        })
    };
    let runtime = common::runtime();
    let opts = RecordOptions {
        mechanism: MechanismChoice::Tracepoint,
        stages: true,
        settings: Settings {
            filter_pid: Some(std::process::id()),
            ring_buffer_bytes: Some(RING_BYTES),
            ..Settings::default()
        },
        ..RecordOptions::new(&trace)
    };
    let recording = runtime
        .block_on(async { Recording::start(opts) })
        .expect("attach");
    started.store(true, Ordering::Release);
    let summary = runtime
        .block_on(recording.run(async {
            match done_rx.await {
                Ok(calls) => format!("the load made {calls} calls"),
                Err(_) => "the load thread ended without a count".to_string(),
            }
        }))
        .expect("record");
    load.join().expect("load thread");
    assert!(
        // One record per call, at its exit.
        summary.records >= u64::from(STEPS_AFTER_START) * CALLS_PER_STEP,
        "the load's calls were recorded: {} records",
        summary.records
    );
    assert_eq!(
        summary.lost, 0,
        "events lost while the recording started ({} records kept)",
        summary.records
    );
}
