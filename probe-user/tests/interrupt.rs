//! Ctrl-C finalises the trace: nothing already recorded is lost (root only; skipped with a
//! reason otherwise).

use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use kpath_trace::{EventKind, TraceReader};

/// Starts `kpath-probe record --mechanism tracepoint` (plus `extra`) until a long command
/// ends, and returns once it records: its trace file appears only after every probe is
/// attached.
fn start_recording(extra: &[&str], trace: &std::path::Path) -> std::process::Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kpath-probe"))
        .args(["record", "--mechanism", "tracepoint", "-q"])
        .args(extra)
        .arg("-o")
        .arg(trace)
        .args(["--", "sleep", "60"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kpath-probe");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !trace.exists() {
        assert!(
            Instant::now() < deadline,
            "kpath-probe did not start recording within 30 s"
        );
        assert!(
            child.try_wait().expect("poll").is_none(),
            "kpath-probe exited early"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

#[test]
fn sigint_finalises_the_trace_with_what_was_recorded() {
    if !common::can_run(module_path!()) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = dir.path().join("interrupted.trace");
    let mut child = start_recording(&[], &trace);
    let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let tx = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let to = rx.local_addr().expect("addr");
    let mut buf = [0u8; 8];
    for i in 0u32..200 {
        tx.send_to(&i.to_le_bytes(), to).expect("send");
        rx.recv_from(&mut buf).expect("recv");
    }
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().expect("wait");
    assert!(status.success(), "kpath-probe after SIGINT: {status}");

    let mut reader = TraceReader::open(&trace).expect("open");
    assert!(reader.is_finalised(), "SIGINT must finalise the trace");
    let meta = reader.metadata().clone();
    assert_eq!(
        meta.extra.get("stop_reason").and_then(|v| v.as_str()),
        Some("Ctrl-C")
    );
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
        "the 200 sends made before SIGINT must be in the trace: {sends}"
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
    let mut child = start_recording(&["-v", "--pid", &pid], &trace);
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
    let unmatched = reader.metadata().extra["kernel_counters"]["unmatched_exits"]
        .as_u64()
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
