//! Task call stacks in their direct-mapped slots (`probe-ebpf/src/stacks.rs`), on the real
//! kernel as root (skipped with a reason otherwise). With one slot, every task but one shares
//! it: their calls go to the shared map, and must come out exactly as the slot holder's do.
//! A task that exits gives its slot back, so that the next task gets it.

use std::path::Path;
use std::time::{Duration, Instant};

mod common;

use kpath_probe::recorder::{MechanismChoice, RecordOptions, Recording};
use kpath_probe::Settings;
use kpath_trace::{EventKind, TraceReader};
use probe_common::{event::flags, stage::TpStage};

/// Records this process's `sendto` calls with `slots` task-stack slots while `work` runs, and
/// returns the trace's `sendto` exits and its `shared_stack_slot` counter. Holds
/// `PID_COUNTED_SENDS` throughout: the pid filter would count other tests' sends too.
fn record_sendto_with_slots(slots: u32, work: impl FnOnce()) -> (Vec<kpath_trace::Event>, u64) {
    let _serial = common::PID_COUNTED_SENDS
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = dir.path().join("sendto.trace");
    let runtime = common::runtime();
    let opts = RecordOptions {
        mechanism: MechanismChoice::Tracepoint,
        stages: true,
        stage_filter: vec![TpStage::SysSendto],
        settings: Settings {
            filter_pid: Some(std::process::id()),
            task_slots: Some(slots),
            ..Settings::default()
        },
        ..RecordOptions::new(&trace)
    };
    let recording = runtime
        .block_on(async { Recording::start(opts) })
        .expect("attach");
    work();
    runtime
        .block_on(recording.run(async { "done".to_string() }))
        .expect("record");
    let mut reader = TraceReader::open(&trace).expect("open");
    let shared = reader
        .metadata()
        .kernel_counters
        .as_ref()
        .and_then(|c| c.get("shared_stack_slot").copied())
        .expect("the recorder writes the shared_stack_slot counter");
    let sendto = reader
        .metadata()
        .function_by_name("tp:sys_sendto")
        .expect("sendto stage")
        .id;
    let exits = reader
        .events()
        .map(|e| e.expect("record"))
        .filter(|e| e.func_id == sendto && e.kind == EventKind::Exit as u8)
        .collect();
    (exits, shared)
}

/// Every exit matched its entry at depth 0, and each thread of `tids` made `per_thread`.
fn assert_exact(exits: &[kpath_trace::Event], tids: &[u32], per_thread: u64) {
    for e in exits {
        assert_eq!(
            e.flags & (flags::UNMATCHED_EXIT | flags::UNWOUND | flags::DEPTH_OVERFLOW),
            0,
            "{e:?}"
        );
        assert_eq!(e.depth, 0, "{e:?}");
    }
    for &tid in tids {
        let n = exits.iter().filter(|e| e.tid == tid).count() as u64;
        assert_eq!(n, per_thread, "exits of thread {tid}");
    }
    assert_eq!(exits.len() as u64, per_thread * tids.len() as u64);
}

#[test]
fn tasks_that_share_a_slot_keep_exact_stacks() {
    if !common::can_run(module_path!()) {
        return;
    }
    let (threads, per_thread) = (4usize, 2_000u64);
    let mut tids = Vec::new();
    let (exits, shared) = record_sendto_with_slots(1, || {
        // Every thread makes its first call before any goes on (and so before any exits and
        // gives a slot back): all of them ask for the one slot while all are alive.
        let first_calls = std::sync::Barrier::new(threads);
        tids = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        common::sendto_calls(1);
                        first_calls.wait();
                        common::sendto_calls(per_thread - 1);
                        common::tid()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("thread"))
                .collect()
        });
    });
    assert_exact(&exits, &tids, per_thread);
    // One thread holds the slot; the others (or all, if two claimed it at once and both
    // stood back) keep their calls in the shared map.
    assert!(
        (threads as u64 - 1..=threads as u64).contains(&shared),
        "shared_stack_slot {shared} for {threads} threads and one slot"
    );
}

#[test]
fn an_exiting_task_gives_its_slot_back() {
    if !common::can_run(module_path!()) {
        return;
    }
    let (threads, per_thread) = (3, 200u64);
    let mut tids = Vec::new();
    let (exits, shared) = record_sendto_with_slots(1, || {
        for _ in 0..threads {
            let tid = std::thread::spawn(move || {
                common::sendto_calls(per_thread);
                common::tid()
            })
            .join()
            .expect("thread");
            // `join` returns once the kernel clears the thread's id word, which comes before
            // `sched_process_exit` in `do_exit`; the task leaves /proc after it.
            let gone = Path::new("/proc/self/task").join(tid.to_string());
            let deadline = Instant::now() + Duration::from_secs(10);
            while gone.exists() {
                assert!(
                    Instant::now() < deadline,
                    "thread {tid} never finished exiting"
                );
                std::thread::yield_now();
            }
            tids.push(tid);
        }
    });
    assert_exact(&exits, &tids, per_thread);
    assert_eq!(
        shared, 0,
        "each thread found the slot its predecessor gave back at exit"
    );
}
