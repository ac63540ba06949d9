//! Busy time per CPU, on the real kernel (root only; skipped with a reason otherwise): a
//! thread pinned to one CPU that wakes up, spins and sleeps again leaves its spinning in the
//! CPU's busy time, its wake-ups as busy cycles, and its sleep as idle time. In its own test
//! binary, so that no other test's threads run on the CPU meanwhile.

use std::time::{Duration, Instant};

mod common;

use kpath_trace::TraceReader;

/// Wake-ups of the pinned thread.
const WAKE_UPS: u32 = 100;
/// Its work per wake-up: a spin of this long, under `probe_common::busy::LONG_CYCLE_NS` (1 ms)
/// with the wake-up's own work, so that each makes an ordinary busy cycle.
const SPIN: Duration = Duration::from_micros(400);
/// Its sleep between wake-ups.
const SLEEP: Duration = Duration::from_millis(2);

#[test]
fn busy_time_holds_a_pinned_threads_work_and_leaves_its_sleep_idle() {
    if !common::can_run(module_path!()) {
        return;
    }
    // SAFETY: no arguments.
    let online = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    let cpu = usize::try_from(online - 1).expect("a CPU");
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = dir.path().join("busy.trace");
    let pid = std::process::id().to_string();
    let mut child = common::start_recording(&["--stage", "sys_recvfrom", "--pid", &pid], &trace);
    let worker = std::thread::spawn(move || {
        common::pin_to(cpu);
        let mut spun = Duration::ZERO;
        for _ in 0..WAKE_UPS {
            std::thread::sleep(SLEEP);
            let t = Instant::now();
            while t.elapsed() < SPIN {
                std::hint::spin_loop();
            }
            spun += t.elapsed();
        }
        spun
    });
    let spun = worker.join().expect("worker");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert!(child.wait().expect("wait").success());

    let reader = TraceReader::open(&trace).expect("open");
    let busy = reader
        .metadata()
        .cpu_busy
        .as_ref()
        .expect("the recorder writes cpu_busy")
        .iter()
        .find(|b| b.cpu as usize == cpu)
        .unwrap_or_else(|| {
            panic!(
                "no busy time for CPU {cpu}: {:?}",
                reader.metadata().cpu_busy
            )
        })
        .clone();
    eprintln!("CPU {cpu}: {busy:?}; the thread spun {spun:?}");
    let slept = SLEEP * WAKE_UPS;
    assert!(
        busy.window_ns as u128 >= (spun + slept).as_nanos() * 9 / 10,
        "the window covers the thread's run: {busy:?}"
    );
    // The spin is wall time on a CPU the thread is pinned to: whoever ran there meanwhile,
    // the CPU was busy all of it.
    assert!(
        busy.busy_ns as u128 >= spun.as_nanos() * 99 / 100,
        "busy {} ns, less than the {spun:?} spun",
        busy.busy_ns
    );
    // The sleeps leave the CPU idle, unless something else ran there in nearly all of them.
    let idle = busy.window_ns - busy.busy_ns;
    assert!(
        idle as u128 >= slept.as_nanos() / 8,
        "idle {idle} ns, under an eighth of the {slept:?} slept: {busy:?}"
    );
    // Each wake-up is a busy cycle (others may add their own, shorter ones), under 1 ms unless
    // something else ran on the CPU meanwhile.
    assert!(
        busy.cycles >= u64::from(WAKE_UPS) / 2,
        "{} busy cycles under 1 ms for {WAKE_UPS} wake-ups: {busy:?}",
        busy.cycles
    );
    // The cycles hold the spins: their mean is at least a quarter of one, however many
    // short cycles of others are among them. (Their extremes are given only when no cycle
    // ended between the attaching and the recording's start, which is seldom.)
    let mean = busy.cycle_mean_ns.expect("cycles have a mean");
    assert!(
        mean >= SPIN.as_nanos() as f64 / 4.0,
        "the cycles' mean {mean} ns is under a quarter of one spin: {busy:?}"
    );
    if let Some(max) = busy.cycle_max_ns {
        assert!(
            max as u128 >= SPIN.as_nanos(),
            "no cycle as long as one spin: {busy:?}"
        );
    }
    assert!(busy.cycle_mean_ns.is_some() && busy.cycle_variance_ns2.is_some());
}
