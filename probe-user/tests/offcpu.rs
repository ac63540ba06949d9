//! Off-CPU time, on the real kernel (root only; skipped with a reason otherwise): a receive
//! that sleeps waiting for its datagram carries the time its task was switched out, so that
//! its on-CPU time is what it ran.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

mod common;

use kpath_trace::{EventKind, ExecContext, TraceReader};

/// How long the receiver is left asleep once it is seen asleep: the stimulus whose length
/// the off-CPU time must cover (not a synchronisation; that is the task state below).
const ASLEEP: Duration = Duration::from_millis(30);

/// The scheduler state letter of thread `tid` of this process (`R`, `S`, `D`, ...).
fn thread_state(tid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    // The state follows the command name, which is in parentheses and may hold spaces.
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

#[test]
fn a_receive_that_sleeps_counts_its_sleep_off_the_cpu() {
    if !common::can_run(module_path!()) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = dir.path().join("offcpu.trace");
    let pid = std::process::id().to_string();
    let mut child = common::start_recording(&["--stage", "sys_recvfrom", "--pid", &pid], &trace);
    let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let to = rx.local_addr().expect("addr");
    let tx = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let receiver = std::thread::spawn(move || {
        // SAFETY: no arguments.
        let tid = unsafe { libc::gettid() };
        tid_tx.send(tid).expect("send tid");
        let mut buf = [0u8; 8];
        rx.recv_from(&mut buf).expect("blocking receive");
        // A second receive finds its datagram waiting: it need not sleep.
        rx.recv_from(&mut buf).expect("receive");
        tid
    });
    let tid = tid_rx.recv().expect("tid");
    // Asleep: after sending its tid, the thread's only blocking call is the receive.
    let deadline = Instant::now() + Duration::from_secs(10);
    while thread_state(tid) != Some('S') {
        assert!(Instant::now() < deadline, "the receiver never slept");
        std::thread::yield_now();
    }
    std::thread::sleep(ASLEEP);
    tx.send_to(b"wake", to).expect("send");
    tx.send_to(b"queued", to).expect("send");
    assert_eq!(receiver.join().expect("receiver"), tid);

    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert!(child.wait().expect("wait").success());

    // The trace's table of tasks names the thread groups of its records, this process by
    // its command name (what `kpath --comm` selects by).
    let pids: std::collections::BTreeSet<u32> = TraceReader::open(&trace)
        .expect("open")
        .events()
        .map(|e| e.expect("record").pid)
        .collect();
    let meta = TraceReader::open(&trace).expect("open").metadata().clone();
    let tasks = meta.tasks.as_ref().expect("the recorder writes its tasks");
    assert_eq!(
        tasks
            .iter()
            .map(|t| t.pid)
            .collect::<std::collections::BTreeSet<_>>(),
        pids,
        "{tasks:?}"
    );
    let own = std::fs::read_to_string("/proc/self/comm").expect("own comm");
    assert_eq!(
        meta.comm_of(std::process::id()),
        Some(own.trim_end()),
        "{tasks:?}"
    );
    assert_eq!(meta.tasks_left_out, None);

    let mut reader = TraceReader::open(&trace).expect("open");
    assert!(reader.has_off_cpu(), "this recorder writes format 2");
    let recvfrom = reader
        .metadata()
        .function_by_name("tp:sys_recvfrom")
        .expect("recvfrom stage")
        .id;
    let exits: Vec<_> = reader
        .events()
        .map(|e| e.expect("record"))
        .filter(|e| {
            e.func_id == recvfrom
                && e.kind == EventKind::Exit as u8
                && e.tid == tid as u32
                && e.context == ExecContext::Process as u8
        })
        .collect();
    assert_eq!(exits.len(), 2, "two receives of thread {tid}: {exits:?}");
    let (slept, queued) = (&exits[0], &exits[1]);
    eprintln!("slept: {slept:?}\nqueued: {queued:?}");
    // It slept at least as long as it was left asleep, all of it off the CPU.
    assert!(slept.switches >= 1, "{slept:?}");
    assert!(
        u128::from(slept.off_cpu_ns) >= ASLEEP.as_nanos(),
        "off-CPU {} ns < {ASLEEP:?} asleep: {slept:?}",
        slept.off_cpu_ns
    );
    let on_cpu = slept.on_cpu_ns().expect("on-CPU time");
    assert!(on_cpu > 0 && on_cpu < slept.dur_ns, "{slept:?}");
    // What it ran is a receive's work, far below the time asleep (generous for a noisy VM).
    assert!(on_cpu < 5_000_000, "on-CPU {on_cpu} ns: {slept:?}");
    // The datagram that was waiting: no sleep, unless the scheduler preempted it.
    assert!(
        queued.switches > 0 || queued.off_cpu_ns == 0,
        "no switch but off-CPU time: {queued:?}"
    );
}
