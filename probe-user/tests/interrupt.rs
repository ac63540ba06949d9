//! The recorder as a process (root only; skipped with a reason otherwise): Ctrl-C finalises
//! the trace, records reach the file while recording without a wake-up per record, and only
//! the stages asked for are attached.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

mod common;

use kpath_trace::{EventKind, TraceReader};

#[test]
fn sigint_finalises_the_trace_with_what_was_recorded() {
    signal_finalises_the_trace(libc::SIGINT, "Ctrl-C");
}

/// A closed terminal ends a recording like SIGTERM: the trace is finished, nothing is lost.
#[test]
fn sighup_finalises_the_trace_with_what_was_recorded() {
    signal_finalises_the_trace(libc::SIGHUP, "SIGHUP");
}

fn signal_finalises_the_trace(signal: i32, reason: &str) {
    if !common::can_run(module_path!()) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = dir.path().join("interrupted.trace");
    let mut child = common::start_recording(&[], &trace);
    let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let tx = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let to = rx.local_addr().expect("addr");
    let mut buf = [0u8; 8];
    for i in 0u32..200 {
        tx.send_to(&i.to_le_bytes(), to).expect("send");
        rx.recv_from(&mut buf).expect("recv");
    }
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, signal) };
    let status = child.wait().expect("wait");
    assert!(status.success(), "kpath-probe after {reason}: {status}");

    let mut reader = TraceReader::open(&trace).expect("open");
    assert!(reader.is_finalised(), "{reason} must finalise the trace");
    let meta = reader.metadata().clone();
    assert_eq!(meta.stop_reason.as_deref(), Some(reason));
    assert!(meta.stop_time_unix_ns.is_some());
    let sendto = meta
        .function_by_name("tp:sys_sendto")
        .expect("sendto stage")
        .id;
    let sends = reader
        .events()
        .map(|e| e.expect("record"))
        .filter(|e| e.func_id == sendto && e.kind == EventKind::Exit as u8)
        .count();
    assert!(
        sends >= 200,
        "the 200 sends made before {reason} must be in the trace: {sends}"
    );
}

/// `-v` shows the kernel side's messages: a receive that was already waiting when recording
/// started returns with no open entry, and the kernel says so through aya-log.
#[test]
fn verbose_shows_kernel_log_messages() {
    use std::io::Read;
    if !common::can_run(module_path!()) {
        return;
    }
    // A receiver blocked in recvfrom before the probes exist.
    let waiting = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = waiting.local_addr().expect("addr");
    waiting
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let (blocked_tx, blocked_rx) = std::sync::mpsc::channel();
    let receiver = std::thread::spawn(move || {
        blocked_tx.send(()).expect("signal");
        let mut buf = [0u8; 8];
        waiting.recv_from(&mut buf).expect("recv")
    });
    blocked_rx.recv().expect("receiver started");
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = dir.path().join("verbose.trace");
    let pid = std::process::id().to_string();
    let mut child = common::start_recording(&["-v", "--pid", &pid], &trace);
    // The receiver may not have entered recvfrom yet when its thread signalled: its exit then
    // matches an entry. Wake it; if it was matched, a later unmatched exit cannot be forced,
    // so only the counter in the trace decides whether a message was due.
    UdpSocket::bind("127.0.0.1:0")
        .expect("bind")
        .send_to(b"wake", addr)
        .expect("send");
    receiver.join().expect("receiver");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    assert!(child.wait().expect("wait").success());
    let reader = TraceReader::open(&trace).expect("open");
    let unmatched = reader
        .metadata()
        .kernel_counters
        .as_ref()
        .and_then(|c| c.get("unmatched_exits").copied())
        .unwrap_or(0);
    if unmatched > 0 {
        assert!(
            stderr.contains("with no open entry"),
            "{unmatched} unmatched exits but no kernel message:\n{stderr}"
        );
    } else {
        eprintln!(
            "note: the receiver entered recvfrom after the probes; no unmatched exit to report"
        );
    }
}

/// Voluntary context switches of every thread of process `pid` so far: each time the
/// recorder sleeps and is woken (by its timer or by a ring-buffer notification) counts one.
fn voluntary_switches(pid: u32) -> u64 {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("the recorder's threads");
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
        .filter_map(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
        })
        .sum()
}

/// Records wait in the ring without a notification each (the kernel side submits them with
/// `BPF_RB_NO_WAKEUP`), yet reach the trace file while the recorder runs: its timer drains
/// and flushes them. A ping-pong keeps the reader caught up, which is exactly when a default
/// submit would notify: once per record, i.e. thousands of recorder wake-ups here, where the
/// timer gives one per drain period.
#[test]
fn records_reach_the_file_without_a_wakeup_per_record() {
    if !common::can_run(module_path!()) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = dir.path().join("timed-drain.trace");
    let mut child = common::start_recording(
        &["--stage", "sys_sendto", "--stage", "tp:sys_recvfrom"],
        &trace,
    );
    // A real ping-pong: an echo thread answers each datagram, and the client waits for the
    // answer before sending the next, so the reader has time to catch up between records.
    let echo = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let client = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let to = echo.local_addr().expect("addr");
    let n = 5000u32;
    let echo_thread = std::thread::spawn(move || {
        let mut buf = [0u8; 8];
        for _ in 0..n {
            let (len, from) = echo.recv_from(&mut buf).expect("echo recv");
            echo.send_to(&buf[..len], from).expect("echo send");
        }
    });
    let mut buf = [0u8; 8];
    let before = voluntary_switches(child.id());
    let start = Instant::now();
    for i in 0..n {
        client.send_to(&i.to_le_bytes(), to).expect("send");
        client.recv_from(&mut buf).expect("recv");
    }
    let took = start.elapsed();
    echo_thread.join().expect("echo thread");
    let wakeups = voluntary_switches(child.id()).saturating_sub(before);
    eprintln!("recorder wake-ups: {wakeups} in {took:?} for {n} datagrams");
    // Each datagram made at least 4 records (two sendto and two recvfrom, one record at each
    // exit: trace mode writes no entry records).
    let records = 4 * u64::from(n);
    // The timer's share: per drain period (10 ms) its tick and up to two waits for the disk
    // (the direct write of the records, and the writeback of the partial block it rewrites:
    // `docs/recorder.md`, "Writing the trace"), one per second for the status tick, with
    // slack for scheduling. A wake-up per record would be thousands.
    let timer = 2 * (3 * (took.as_millis() as u64 / 10) + took.as_secs() + 2);
    assert!(
        wakeups <= timer,
        "the recorder woke {wakeups} times for {records} records in {took:?}: records wake the reader"
    );
    // The recorder is still running; the file must fill within a few drain periods.
    let deadline = Instant::now() + Duration::from_secs(10);
    let sends = loop {
        assert!(
            child.try_wait().expect("poll").is_none(),
            "kpath-probe exited early"
        );
        let mut reader = TraceReader::open(&trace).expect("open the trace being written");
        let sendto = reader
            .metadata()
            .function_by_name("tp:sys_sendto")
            .expect("sendto stage")
            .id;
        let sends = reader
            .events()
            .map_while(Result::ok)
            .filter(|e| e.func_id == sendto && e.kind == EventKind::Exit as u8)
            .count();
        if sends >= n as usize || Instant::now() > deadline {
            break sends;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        sends >= n as usize,
        "only {sends} of {n} sends reached the file within 10 s while recording"
    );
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().expect("wait").success());
    let reader = TraceReader::open(&trace).expect("open");
    let names: Vec<&str> = reader
        .metadata()
        .functions
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["tp:sys_sendto", "tp:sys_recvfrom"],
        "--stage attaches just the stages named"
    );
    let usage = reader.metadata().recorder.clone().expect("recorder usage");
    assert!(usage.records >= records && usage.batches >= 1, "{usage:?}");
}

/// Past its fill level the ring wakes the recorder at once (a forced wake-up), not at the
/// next tick of its 10 ms timer. A 256 KiB ring has a 64 KiB level (about 900 records); a
/// `sendto(-1)` loop passes it many times per drain period. The recorder counts the drains
/// that a ring at its fill level started (`fill_wakeups`): records go in without a wake-up
/// (`probe-ebpf/src/wakeup.rs`), so only the kernel side's forced wake-up can start one. Each
/// CPU looks at the fill once per `FILL_CHECK_EVERY` records, so this also checks that the
/// amortised look still sees the level. (Counting drains against the loop's wall time instead
/// failed once in four CI runs on a noisy 2-vCPU machine, where the recorder gets the CPU
/// late and drains more per wake-up.)
#[test]
fn a_ring_past_its_fill_level_wakes_the_recorder() {
    if !common::can_run(module_path!()) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = dir.path().join("forced-wakeup.trace");
    let mut child = common::start_recording(
        &["--stage", "sys_sendto", "--ring-buffer-size", "262144"],
        &trace,
    );
    let calls = 400_000u32;
    let start = Instant::now();
    common::sendto_calls(u64::from(calls));
    let took = start.elapsed();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().expect("wait").success());
    let reader = TraceReader::open(&trace).expect("open");
    let meta = reader.metadata();
    let usage = meta.recorder.clone().expect("recorder usage");
    let lost = kpath_trace::saturating_sum(&meta.lost_events_per_cpu);
    eprintln!(
        "{} records, {lost} lost, {} drains ({} forced by the fill level) in {took:?}",
        usage.records, usage.batches, usage.fill_wakeups
    );
    // One record per call (at its exit), each written or counted lost.
    assert!(
        usage.records + lost >= u64::from(calls),
        "{} records and {lost} lost for {calls} calls",
        usage.records
    );
    assert_eq!(usage.wakeup_fill_bytes, 64 << 10, "a quarter of the ring");
    // 28.8 MB of records through 64 KiB levels: even a recorder that drains whole rings
    // late is woken by the level many times over.
    assert!(
        usage.fill_wakeups >= 10,
        "{} of {} drains started by the fill level: {} records passed the 64 KiB level about \
         {} times without waking the recorder",
        usage.fill_wakeups,
        usage.batches,
        usage.records,
        usage.records * 72 / (64 << 10)
    );
    assert!(usage.fill_wakeups <= usage.batches, "{usage:?}");
}

/// `kill -9` cannot be caught, but what was drained before it is on disk: the recorder
/// writes and flushes every drain (at most 10 ms apart), so the unfinished trace reads back
/// with the sends made before the kill.
#[test]
fn sigkill_leaves_what_was_drained_readable() {
    if !common::can_run(module_path!()) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = dir.path().join("killed.trace");
    let mut child = common::start_recording(&["--stage", "sys_sendto"], &trace);
    let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let tx = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let to = rx.local_addr().expect("addr");
    let mut buf = [0u8; 8];
    let n = 500usize;
    for i in 0..n as u32 {
        tx.send_to(&i.to_le_bytes(), to).expect("send");
        rx.recv_from(&mut buf).expect("recv");
    }
    let count_sends = || -> Result<usize, String> {
        let mut reader = TraceReader::open(&trace).map_err(|e| e.to_string())?;
        assert!(!reader.is_finalised());
        let sendto = reader
            .metadata()
            .function_by_name("tp:sys_sendto")
            .expect("sendto stage")
            .id;
        let mut sends = 0;
        for e in reader.events() {
            let e = e.map_err(|e| format!("a record on disk is not whole: {e}"))?;
            sends += usize::from(e.func_id == sendto && e.kind == EventKind::Exit as u8);
        }
        Ok(sends)
    };
    // Wait (bounded) for a drain to have taken the sends, then kill without warning.
    let deadline = Instant::now() + Duration::from_secs(10);
    while count_sends().unwrap_or(0) < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("wait");
    let sends = count_sends().expect("the trace reads after kill -9");
    assert!(
        sends >= n,
        "only {sends} of the {n} sends made before kill -9 are in the trace"
    );
}

/// `--cpu LIST` keeps the calls of those CPUs only: the same sends from a thread pinned to
/// each CPU, and the trace holds exactly those of the listed one.
#[test]
fn cpu_list_records_only_the_listed_cpus() {
    if !common::can_run(module_path!()) {
        return;
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus < 2 {
        eprintln!(
            "SKIP {}: needs 2 CPUs, this machine has {cpus}",
            module_path!()
        );
        return;
    }
    let _sends = common::PID_COUNTED_SENDS
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = dir.path().join("cpu.trace");
    let pid = std::process::id().to_string();
    let mut child = common::start_recording(
        &["--stage", "sys_sendto", "--pid", &pid, "--cpu", "1"],
        &trace,
    );
    // The recorder keeps off the CPU it records; its command (`sleep`) keeps every CPU.
    let allowed = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                    .map(|v| v.trim().to_string())
            })
    };
    let ours = allowed(std::process::id());
    assert_eq!(allowed(child.id()).as_deref(), Some("0"), "the recorder");
    // The trace exists once the probes are attached; the command starts just after, and
    // gets its CPUs back between fork and exec: wait until it runs `sleep`.
    let children = format!("/proc/{0}/task/{0}/children", child.id());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let command: u32 = loop {
        let first = std::fs::read_to_string(&children)
            .ok()
            .and_then(|c| c.split_whitespace().next().and_then(|p| p.parse().ok()));
        if let Some(pid) = first {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if comm.trim_end() == "sleep" {
                break pid;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the recorder's command did not start within 10 s"
        );
        std::thread::yield_now();
    };
    assert_eq!(allowed(command), ours, "the command");
    let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let to = rx.local_addr().expect("addr");
    const SENDS: u32 = 150;
    for cpu in [0, 1] {
        std::thread::spawn(move || {
            common::pin_to(cpu);
            let tx = UdpSocket::bind("127.0.0.1:0").expect("bind");
            for i in 0..SENDS {
                tx.send_to(&i.to_le_bytes(), to).expect("send");
            }
        })
        .join()
        .expect("sender");
    }
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert!(child.wait().expect("wait").success());

    let mut reader = TraceReader::open(&trace).expect("open");
    assert_eq!(
        reader
            .metadata()
            .filters
            .as_ref()
            .and_then(|f| f.cpus.clone()),
        Some(vec![1])
    );
    let sendto = reader
        .metadata()
        .function_by_name("tp:sys_sendto")
        .expect("sendto stage")
        .id;
    let mut exits_per_cpu = std::collections::BTreeMap::new();
    for e in reader.events().map(|e| e.expect("record")) {
        if e.func_id == sendto && e.kind == EventKind::Exit as u8 {
            *exits_per_cpu.entry(e.cpu).or_insert(0u32) += 1;
        }
    }
    // The pinned thread's sends all ran on CPU 1; nothing of CPU 0 was kept.
    assert_eq!(
        exits_per_cpu.keys().copied().collect::<Vec<_>>(),
        vec![1],
        "{exits_per_cpu:?}"
    );
    assert!(exits_per_cpu[&1] >= SENDS, "{exits_per_cpu:?}");
}
