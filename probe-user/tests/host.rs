//! eBPF on this host's real kernel, as root: tracepoint programs attach and record exactly
//! what was sent; kprobe programs pass the verifier even where kprobes cannot attach. Skipped
//! with a printed reason when not root (the VM tests cover kprobe/fentry attachment).

use kpath_probe::check;
use kpath_trace::Mechanism;
mod common;

use common::can_run;
use kpath_probe::{kernel, Probes, Settings};

#[test]
fn tracepoint_stage_records_exactly_what_was_sent() {
    if !can_run("tracepoint_stage_records_exactly_what_was_sent") {
        return;
    }
    let _serial = common::PID_COUNTED_SENDS
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let n = 500;
    let results = check::run("udp_sendmsg", n, &[Mechanism::Tracepoint]).expect("check");
    let r = &results[0];
    assert_eq!(r.attached, Ok(()), "tracepoints must attach on this host");
    assert_eq!(r.entries, u64::from(n), "one sendto entry per datagram");
    assert_eq!(
        r.timed_exits,
        u64::from(n),
        "one timed, depth-0 exit per datagram"
    );
    assert_eq!(r.lost, 0);
}

#[test]
fn kprobe_programs_pass_the_verifier() {
    if !can_run("kprobe_programs_pass_the_verifier") {
        return;
    }
    let mut probes = Probes::load(Settings::default()).expect("load object");
    probes
        .load_kprobe_programs()
        .expect("the kernel verifier must accept the kprobe and kretprobe programs");
}

#[test]
fn kprobe_attach_fails_with_a_reason_when_the_kernel_lacks_kprobes() {
    if !can_run("kprobe_attach_fails_with_a_reason_when_the_kernel_lacks_kprobes") {
        return;
    }
    let _serial = common::PID_COUNTED_SENDS
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let results = check::run("udp_sendmsg", 10, &[Mechanism::Kprobe]).expect("check");
    let r = &results[0];
    assert!(r.verified);
    if kernel::has_kprobes() {
        assert!(r.works(10), "kprobes exist here, so they must work: {r:?}");
    } else {
        let err = r
            .attached
            .as_ref()
            .expect_err("no kprobes on this kernel: attach must fail");
        assert!(
            err.contains("CONFIG_KPROBES"),
            "the error must say why: {err}"
        );
    }
}

#[test]
fn interrupt_accounting_attaches() {
    if !can_run("interrupt_accounting_attaches") {
        return;
    }
    let mut probes = Probes::load(Settings::default()).expect("load object");
    let used = probes.attach_irq_accounting().expect("irq accounting");
    assert!(used.iter().any(|t| t == "irq:softirq"), "{used:?}");
    assert!(used.iter().any(|t| t == "sched:sched_switch"), "{used:?}");
    // A context switch is bound to happen on a 2-CPU machine running tests; wait for one by
    // yielding, bounded.
    let mut switched = false;
    for _ in 0..10_000 {
        std::thread::yield_now();
        let hits = probes.hits().expect("hits");
        if hits[probe_common::counters::Hit::Irq as usize] > 0 {
            switched = true;
            break;
        }
    }
    assert!(switched, "no interrupt or context switch was counted");
}

#[test]
fn calibration_times_near_empty_intervals() {
    if !can_run("calibration_times_near_empty_intervals") {
        return;
    }
    let _serial = common::PID_COUNTED_SENDS
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let cost = kpath_probe::calibrate::calibrate(kpath_trace::Mechanism::Tracepoint, 2000)
        .expect("calibrate")
        .expect("tracepoints work on this host");
    // Flagged intervals are left out, so at most one sample per call.
    assert!(cost.samples >= 1000 && cost.samples <= 2000, "{cost:?}");
    assert!(cost.mean_ns > 0.0 && cost.variance_ns2 >= 0.0, "{cost:?}");
    // The bare pair timed the same calls on the same hook, at most one interval per call.
    let bare = cost.bare.as_ref().expect("the bare pair is measured");
    assert!(bare.samples >= 1000 && bare.samples <= 2000, "{cost:?}");
    assert!(bare.mean_ns > 0.0 && bare.median_ns > 0.0, "{cost:?}");
    assert!(cost.own_share_ns().is_some_and(f64::is_finite), "{cost:?}");
    let caller = cost.caller.as_ref().expect("the caller's cost is measured");
    assert!(
        caller.none_ns > 0.0 && caller.bare_ns > 0.0 && caller.kpath_ns > 0.0,
        "{cost:?}"
    );
}

#[test]
fn bare_timing_times_every_task_on_every_stage() {
    if !can_run("bare_timing_times_every_task_on_every_stage") {
        return;
    }
    let timing = kpath_probe::bare_timing::BareTiming::attach().expect("attach the bare pairs");
    assert_eq!(timing.pairs(), probe_common::stage::TpStage::ALL.len());
    let before = timing.totals().expect("totals");
    // From another thread: the pairs time every task, not only the one that loaded them
    // (calibration's filter) and not only this process.
    let n = 3000;
    std::thread::spawn(move || common::sendto_calls(n))
        .join()
        .expect("sending thread");
    let after = timing.totals().expect("totals");
    // Each `sendto` is a `sys_sendto` interval with nothing nested in it: all are counted
    // (other tasks' calls can only add).
    assert!(
        after.intervals - before.intervals >= n,
        "{before:?} → {after:?}"
    );
    assert!(after.total_ns > before.total_ns, "{before:?} → {after:?}");
    assert!(after.mean_ns().is_some_and(|m| m > 0.0), "{after:?}");
}

#[test]
fn stats_mode_aggregates_every_call_in_the_kernel() {
    use kpath_probe::recorder::{MechanismChoice, RecordOptions, Recording};
    if !can_run("stats_mode_aggregates_every_call_in_the_kernel") {
        return;
    }
    let _serial = common::PID_COUNTED_SENDS
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = dir.path().join("stats.trace");
    let runtime = common::runtime();
    let opts = RecordOptions {
        mechanism: MechanismChoice::Tracepoint,
        stages: true,
        settings: Settings {
            mode: kpath_probe::loader::Mode::Stats,
            filter_pid: Some(std::process::id()),
            ..Settings::default()
        },
        ..RecordOptions::new(&trace)
    };
    let recording = runtime
        .block_on(async { Recording::start(opts) })
        .expect("attach");
    let n = 300u64;
    let rx = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let tx = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let mut buf = [0u8; 8];
    for i in 0..n {
        tx.send_to(&i.to_le_bytes(), rx.local_addr().expect("addr"))
            .expect("send");
        rx.recv_from(&mut buf).expect("recv");
    }
    let summary = runtime
        .block_on(recording.run(async { "done".to_string() }))
        .expect("record");
    assert_eq!(summary.records, 0, "stats mode writes no records");
    let reader = kpath_trace::TraceReader::open(&trace).expect("open");
    let ks = reader
        .metadata()
        .kernel_stats
        .as_ref()
        .expect("kernel_stats");
    let sendto = ks
        .functions
        .iter()
        .find(|f| f.name == "tp:sys_sendto")
        .expect("sendto stage");
    let (clean, interrupted) = (sendto.clean.count, sendto.interrupted.count);
    // Process-context stages obey the pid filter: exactly our sends, clean or not.
    assert_eq!(clean + interrupted, n, "{sendto:?}");
    let hist = kpath_trace::saturating_sum(&sendto.hist_clean);
    assert_eq!(hist, clean, "the histogram holds every clean sample");
}
