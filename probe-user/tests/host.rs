//! eBPF on this host's real kernel, as root: tracepoint programs attach and record exactly
//! what was sent; kprobe programs pass the verifier even where kprobes cannot attach. Skipped
//! with a printed reason when not root (the VM tests cover kprobe/fentry attachment).

use kpath_probe::check::{self, CheckMechanism};
use kpath_probe::{kernel, Probes, Settings};

/// Returns false (and says why) when this host cannot run the test.
fn can_run(test: &str) -> bool {
    if !kernel::is_root() {
        eprintln!("SKIP {test}: needs root to load BPF programs");
        return false;
    }
    if let Err(e) = kpath_probe::object::ebpf_object() {
        if std::env::var_os("KPATH_REQUIRE_EBPF").is_some() {
            panic!("{test}: {e}");
        }
        eprintln!("SKIP {test}: {e}");
        return false;
    }
    true
}

#[test]
fn tracepoint_stage_records_exactly_what_was_sent() {
    if !can_run("tracepoint_stage_records_exactly_what_was_sent") {
        return;
    }
    let n = 500;
    let results = check::run("udp_sendmsg", n, &[CheckMechanism::Tracepoint]).expect("check");
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
    let results = check::run("udp_sendmsg", 10, &[CheckMechanism::Kprobe]).expect("check");
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
    let cost = kpath_probe::calibrate::calibrate(kpath_trace::Mechanism::Tracepoint, 2000)
        .expect("calibrate")
        .expect("tracepoints work on this host");
    // Interrupted intervals are left out, so at most one sample per call.
    assert!(cost.samples >= 1000 && cost.samples <= 2000, "{cost:?}");
    assert!(cost.mean_ns > 0.0 && cost.variance_ns2 >= 0.0, "{cost:?}");
}
