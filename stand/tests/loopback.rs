//! Every pattern and mode on loopback.

use std::{net::UdpSocket, time::Duration};

use crate::util::{f, field, gen, gen_output, gen_without_replies, u, Server, BIN};

#[test]
fn pingpong_never_has_more_than_one_datagram_in_flight() {
    let server = Server::start(&["--count-backlog", "--max-datagrams", "600"]);
    let r = gen(
        server.addr,
        &["--count", "500", "--warmup", "100", "--size", "100"],
    );
    assert_eq!(u(&r, "sent"), 500);
    assert_eq!(u(&r, "received"), 500);
    assert_eq!(u(&r, "lost") + u(&r, "corrupt") + u(&r, "duplicate"), 0);
    assert_eq!(u(&r, "max_in_flight"), 1);
    assert_eq!(r["pattern"], "pingpong");
    assert!(f(&r, &["rtt_ns", "p50"]) > 0.0);
    let summary = server.finish();
    assert_eq!(field(&summary, "datagrams"), 600);
    // The server never found a second datagram queued behind the one it had just read.
    assert_eq!(field(&summary, "backlogged"), 0, "{summary}");
}

#[test]
fn closed_loop_keeps_at_most_clients_in_flight() {
    let server = Server::start(&["--max-datagrams", "1500", "--workers", "2"]);
    let r = gen(
        server.addr,
        &[
            "--pattern",
            "closed",
            "--clients",
            "8",
            "--count",
            "1500",
            "--size",
            "1",
        ],
    );
    assert_eq!(u(&r, "received"), 1500);
    assert_eq!(u(&r, "clients"), 8);
    let inflight = u(&r, "max_in_flight");
    assert!((1..=8).contains(&inflight), "max in flight {inflight}");
    assert_eq!(field(&server.finish(), "datagrams"), 1500);
}

/// The schedule itself must follow the distribution tightly (it is seeded and exact); the actual
/// send times must follow it within what a loaded 2-core machine allows.
///
/// n = 3000 intervals. Schedule: the mean's standard error is μ·CV/√n (1.8 % for Poisson), the
/// CV's about CV·√((κ−1)/4n) with κ = 9 (Poisson: 0.026) or 1.8 (uniform: 0.0094); we allow
/// 5 SE. Actual sends add scheduling jitter, and one 20 ms stall of the sender (other builds share
/// the two cores) alone turns a sample CV of 0.58 into 1.5. So the actual sends are judged on
/// the intervals between two on-time sends (both < 50 µs late, `on_time_send_interval_ns`):
/// each deviates from its scheduled interval by < 50 µs, a CV error of at most 0.25 at
/// 200 µs, and we allow ±0.2 on the CV, ±10 % on the mean, with ≥ 50 % of sends on time (at
/// least ~750 on-time intervals to judge by). The on-time share depends on what else the two
/// cores run: 0.51–0.57 was seen with a QEMU guest beside the tests, ~0.9 on an idle machine;
/// the distribution of the on-time intervals held either way. A run disturbed beyond that is
/// retried (at most three attempts); the schedule check never is. Below half the sends on time
/// the on-time intervals are no longer a fair sample: on the shared Xeon VM of 2026-12-03
/// night, whose timer wake-ups often took over 50 µs, the sends after a long (slept) interval
/// were the late ones, and the on-time intervals' mean came out 15 % short (170 µs for 200,
/// with 31–38 % on time). When no attempt keeps half its sends on time, the test says so and
/// checks only the schedule. An attempt judged and missed fails.
#[test]
fn open_loop_send_times_follow_the_distribution() {
    let n = 3000.0f64;
    for (arrivals, cv, kurtosis) in [
        ("poisson", 1.0f64, 9.0f64),
        ("uniform", 1.0 / 3f64.sqrt(), 1.8),
        ("constant", 0.0, 1.0),
    ] {
        let (mut failures, mut disturbed, mut passed) = (Vec::new(), Vec::new(), false);
        for attempt in 0..3 {
            let server = Server::start(&["--max-datagrams", "3001"]);
            let r = gen(
                server.addr,
                &[
                    "--pattern",
                    "open",
                    "--rate",
                    "5000",
                    "--arrivals",
                    arrivals,
                    "--count",
                    "3001",
                    "--seed",
                    "3",
                ],
            );
            server.finish();
            assert_eq!(u(&r, "received"), 3001, "{arrivals}");
            let mean = 200_000.0;
            let sched_mean = f(&r, &["schedule_interval_ns", "mean"]);
            let sched_cv = f(&r, &["schedule_interval_ns", "cv"]);
            let se_mean = mean * cv / n.sqrt() + 1.0;
            let se_cv = cv * ((kurtosis - 1.0) / (4.0 * n)).sqrt() + 1e-6;
            assert!(
                (sched_mean - mean).abs() < 5.0 * se_mean,
                "{arrivals}: schedule mean {sched_mean}"
            );
            assert!(
                (sched_cv - cv).abs() < 5.0 * se_cv,
                "{arrivals}: schedule cv {sched_cv}"
            );
            let act_mean = f(&r, &["on_time_send_interval_ns", "mean"]);
            let act_cv = f(&r, &["on_time_send_interval_ns", "cv"]);
            let on_time = f(&r, &["on_time_fraction"]);
            let what = format!(
                "attempt {attempt}: on-time mean {act_mean:.0} ns, cv {act_cv:.3}, on time {on_time:.3}"
            );
            if on_time < 0.5 {
                disturbed.push(what);
                continue;
            }
            if (act_mean - mean).abs() < 0.1 * mean && (act_cv - cv).abs() < 0.2 {
                passed = true;
                break;
            }
            failures.push(what);
        }
        if passed {
            continue;
        }
        assert!(
            failures.is_empty(),
            "{arrivals}: the on-time sends miss the distribution: {failures:?} {disturbed:?}"
        );
        // Every attempt was too disturbed to judge (the schedule was checked in each).
        eprintln!(
            "{arrivals}: SKIPPED the check of the actual send times: this machine kept fewer \
             than half the sends within 50 µs of their schedule in all 3 attempts \
             ({disturbed:?}); the schedule itself was checked"
        );
    }
}

#[test]
fn losses_are_counted_exactly_when_the_server_drops() {
    let server = Server::start(&["--drop-every", "10", "--max-datagrams", "200"]);
    let r = gen(server.addr, &["--count", "200", "--timeout", "100ms"]);
    assert_eq!(u(&r, "sent"), 200);
    assert_eq!(u(&r, "lost"), 20);
    assert_eq!(u(&r, "received"), 180);
    assert_eq!(u(&r, "late") + u(&r, "duplicate") + u(&r, "corrupt"), 0);
    assert_eq!(field(&server.finish(), "dropped"), 20);

    let server = Server::start(&["--drop-every", "7", "--max-datagrams", "700"]);
    let r = gen(
        server.addr,
        &[
            "--pattern",
            "open",
            "--rate",
            "4000",
            "--count",
            "700",
            "--timeout",
            "300ms",
        ],
    );
    assert_eq!(u(&r, "lost"), 100);
    assert_eq!(u(&r, "received"), 600);
    server.finish();
}

fn roundtrip(addr: std::net::SocketAddr, data: &[u8]) -> Vec<u8> {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.send_to(data, addr).expect("send");
    let mut buf = [0u8; 2048];
    let (n, _) = s.recv_from(&mut buf).expect("reply");
    buf[..n].to_vec()
}

#[test]
fn reverse_mode_returns_the_bytes_reversed() {
    let server = Server::start(&["--mode", "reverse", "--max-datagrams", "301"]);
    assert_eq!(roundtrip(server.addr, b"abcdef"), b"fedcba");
    let ok = gen(
        server.addr,
        &["--expect", "reverse", "--count", "200", "--size", "333"],
    );
    assert_eq!(u(&ok, "received"), 200);
    assert_eq!(u(&ok, "corrupt"), 0);
    // Expecting an echo from a reversing server: every reply is corrupt.
    let bad = gen_without_replies(
        server.addr,
        &["--count", "100", "--size", "64", "--timeout", "20ms"],
    );
    assert_eq!(u(&bad, "received"), 0);
    assert_eq!(u(&bad, "corrupt"), 100);
    server.finish();
}

#[test]
fn forward_mode_relays_through_the_upstream() {
    let upstream = Server::start(&["--mode", "reverse", "--max-datagrams", "201"]);
    let up = upstream.addr.to_string();
    let proxy = Server::start(&[
        "--mode",
        "forward",
        "--upstream",
        &up,
        "--max-datagrams",
        "201",
    ]);
    assert_eq!(roundtrip(proxy.addr, b"kpath"), b"htapk");
    let r = gen(
        proxy.addr,
        &["--expect", "reverse", "--count", "200", "--size", "512"],
    );
    assert_eq!(u(&r, "received"), 200);
    assert_eq!(u(&r, "corrupt"), 0);
    assert_eq!(field(&proxy.finish(), "replies"), 201);
    assert_eq!(field(&upstream.finish(), "replies"), 201);
}

#[test]
fn timestamps_give_sojourn_times_within_the_rtt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ts = dir.path().join("ts.csv");
    let server = Server::start(&[
        "--timestamps",
        ts.to_str().expect("utf-8"),
        "--max-datagrams",
        "300",
    ]);
    let r = gen(server.addr, &["--count", "300", "--size", "64"]);
    assert_eq!(u(&r, "received"), 300);
    server.finish();
    let recs = kpath_stand::timestamps::read_csv(&ts).expect("read timestamps");
    assert_eq!(recs.len(), 300);
    let rtt_max = f(&r, &["rtt_ns", "max"]);
    let rtt_p50 = f(&r, &["rtt_ns", "p50"]);
    let mut sojourns: Vec<i64> = recs.iter().map(|r| r.sojourn_ns()).collect();
    for (i, rec) in recs.iter().enumerate() {
        assert_eq!(rec.seq, Some(i as u64));
        assert!(rec.sojourn_ns() >= 0, "{rec:?}");
        assert!(
            (rec.sojourn_ns() as f64) < rtt_max,
            "{rec:?} vs RTT max {rtt_max}"
        );
    }
    sojourns.sort_unstable();
    assert!(
        (sojourns[150] as f64) < rtt_p50,
        "median sojourn {} vs RTT p50 {rtt_p50}",
        sojourns[150]
    );
}

#[test]
fn echo_stops_cleanly_on_sigterm() {
    let server = Server::start(&[]);
    assert_eq!(roundtrip(server.addr, b"x"), b"x");
    server.terminate();
    let summary = server.finish();
    assert_eq!(field(&summary, "datagrams"), 1);
    assert_eq!(field(&summary, "errors"), 0);
}

#[test]
fn gen_refuses_remote_targets_and_says_why() {
    let target = "198.18.0.2:9".parse().expect("addr");
    let out = gen_output(&[], target, &["--count", "1"], None);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--allow-remote") && err.contains("loopback"),
        "{err}"
    );
}

#[test]
fn gen_counts_losses_when_nothing_listens() {
    // Bind and drop a socket to get a port nobody listens on.
    let port = UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("port");
    // A run with no reply at all measured nothing: exit 2, and the report says why.
    let report = gen_without_replies(port, &["--count", "5", "--timeout", "50ms"]);
    assert_eq!(u(&report, "sent"), 5);
    assert_eq!(u(&report, "lost"), 5);
    assert_eq!(u(&report, "received"), 0);
    // A send-rate test against a sink says so, and succeeds.
    let out = gen_output(
        &[],
        port,
        &["--count", "5", "--timeout", "50ms", "--no-replies"],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // --count 0 is refused at parse time.
    let out = gen_output(&[], port, &["--count", "0"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--count"));
}

/// A reply the upstream sends after the proxy gave up on it (1 s) belongs to the client that
/// asked, not to whoever asks next: client A's late secret must never reach client B.
#[test]
fn forward_mode_never_delivers_a_late_reply_to_another_client() {
    // A slow upstream: it answers its first request after 1.5 s, the next ones at once.
    let upstream = UdpSocket::bind("127.0.0.1:0").expect("bind upstream");
    let up = upstream.local_addr().expect("addr").to_string();
    upstream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let slow = std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        for i in 0..2 {
            let Ok((n, from)) = upstream.recv_from(&mut buf) else {
                return;
            };
            if i == 0 {
                std::thread::sleep(Duration::from_millis(1500));
            }
            let _ = upstream.send_to(&buf[..n], from);
        }
    });
    let proxy = Server::start(&["--mode", "forward", "--upstream", &up]);
    let a = UdpSocket::bind("127.0.0.1:0").expect("bind a");
    let b = UdpSocket::bind("127.0.0.1:0").expect("bind b");
    for c in [&a, &b] {
        c.set_read_timeout(Some(Duration::from_secs(3)))
            .expect("timeout");
    }
    a.send_to(b"secret-of-client-A", proxy.addr)
        .expect("send a");
    // The proxy times out on A after 1 s; B asks while A's reply is still on its way.
    std::thread::sleep(Duration::from_millis(1200));
    b.send_to(b"hello-from-B", proxy.addr).expect("send b");
    let mut buf = [0u8; 64];
    let (n, _) = b.recv_from(&mut buf).expect("B gets an answer");
    assert_eq!(&buf[..n], b"hello-from-B", "B got another client's reply");
    slow.join().expect("upstream thread");
    // Nothing else arrives for B, and A (whose request timed out) gets nothing either.
    b.set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    a.set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    assert!(b.recv_from(&mut buf).is_err(), "a second reply reached B");
    assert!(
        a.recv_from(&mut buf).is_err(),
        "a timed-out reply reached A"
    );
}

/// An output path whose directory does not exist is refused before any traffic is sent,
/// naming the flag and the directory.
#[test]
fn output_paths_are_checked_before_the_run() {
    use std::process::Command;
    let gen = Command::new(BIN)
        .args(["gen", "--target", "127.0.0.1:9", "--count", "100000"])
        .args(["--json", "/nonexistent-kpath-dir/x.json"])
        .output()
        .expect("run gen");
    let echo = Command::new(BIN)
        .args(["echo", "--listen", "127.0.0.1:0", "--duration", "20s"])
        .args(["--timestamps", "/nonexistent-kpath-dir/x.csv"])
        .output()
        .expect("run echo");
    for (out, flag) in [(&gen, "--json"), (&echo, "--timestamps")] {
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(flag) && err.contains("/nonexistent-kpath-dir"),
            "{err}"
        );
        // A run prints its summary (gen) or readiness line (echo) on stdout: none did.
        assert!(out.stdout.is_empty(), "something ran: {:?}", out.stdout);
    }
}

/// An existing output is kept unless `--force`, a link there is never written through, and
/// a value out of range is refused at parse time (no panic, no endless busy loop).
#[test]
fn outputs_are_not_overwritten_or_followed_and_values_are_bounded() {
    use std::process::Command;
    let dir = tempfile::tempdir().expect("tempdir");
    let existing = dir.path().join("gen.json");
    std::fs::write(&existing, "mine").expect("write");
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious").expect("write");
    let link = dir.path().join("link.csv");
    std::os::unix::fs::symlink(&victim, &link).expect("symlink");
    let gen = Command::new(BIN)
        .args([
            "gen",
            "--target",
            "127.0.0.1:9",
            "--count",
            "100000",
            "--json",
        ])
        .arg(&existing)
        .output()
        .expect("run gen");
    let echo = Command::new(BIN)
        .args([
            "echo",
            "--listen",
            "127.0.0.1:0",
            "--duration",
            "20s",
            "--timestamps",
        ])
        .arg(&link)
        .output()
        .expect("run echo");
    for (out, what) in [(&gen, "already exists"), (&echo, "symbolic link")] {
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(what), "{err}");
        assert!(out.stdout.is_empty(), "something ran: {:?}", out.stdout);
    }
    assert_eq!(std::fs::read_to_string(&existing).expect("read"), "mine");
    assert_eq!(std::fs::read_to_string(&victim).expect("read"), "precious");

    for args in [
        &["echo", "--busy-us", "18446744073709551615"][..],
        &["echo", "--duration", "1e300"],
        &["gen", "--duration", "5e15h"],
        &["gen", "--pattern", "open", "--rate", "inf"],
        &["sweep", "--busy-us", "0,1e12"],
        &["echo", "--workers", "100000"],
        &["gen", "--pattern", "closed", "--clients", "0"],
        &["gen", "--pattern", "closed", "--clients", "4294967295"],
        &["echo", "--recv-buffer", "99999999999"],
    ] {
        let out = Command::new(BIN).args(args).output().expect("run");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        let first = err.lines().next().unwrap_or_default();
        assert!(
            first.contains("invalid value") || first.contains("--busy-us"),
            "{args:?}: the first line names the problem: {err}"
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

/// Datagrams the kernel drops at a full server socket are reported (`socket_drops`), so
/// that received + dropped accounts for everything sent.
#[test]
fn kernel_drops_at_the_server_socket_are_reported() {
    let server = Server::start(&["--recv-buffer", "4096", "--busy-us", "500"]);
    let tx = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let mut sent = 0u64;
    for i in 0u32..3000 {
        if tx.send_to(&i.to_le_bytes(), server.addr).is_ok() {
            sent += 1;
        }
    }
    server.terminate();
    let summary = server.finish();
    let received = field(&summary, "datagrams");
    let drops = field(&summary, "socket_drops");
    assert!(
        drops > 0,
        "a 4 KiB buffer behind a 0.5 ms server dropped nothing: {summary}"
    );
    assert!(received + drops <= sent, "{summary}");
    // Whatever was neither read nor dropped was still queued when the server stopped: at most
    // what a 4 KiB buffer (doubled by the kernel) holds.
    assert!(sent - received - drops < 64, "sent {sent}: {summary}");
}

/// A reply later than `--timeout` is never counted as received, even when the socket's
/// timeout (rounded up to the kernel's tick) or the timer (a millisecond grid) let it in.
#[test]
fn replies_later_than_the_timeout_are_not_received() {
    let server = Server::start(&["--busy-us", "3000"]);
    for pattern in [
        &["--pattern", "pingpong"][..],
        &["--pattern", "closed", "--clients", "2"],
    ] {
        let mut args = vec!["--count", "20", "--timeout", "1ms"];
        args.extend_from_slice(pattern);
        let report = gen_without_replies(server.addr, &args);
        assert_eq!(u(&report, "received"), 0, "{pattern:?}: {report}");
        assert_eq!(u(&report, "lost"), 20, "{pattern:?}: {report}");
    }
    server.terminate();
}

/// A stop request is not kept waiting behind a long busy time: with 1 s of busy-wait per
/// datagram and three datagrams, SIGTERM used to wait up to 3 s; the wait now ends with it.
#[test]
fn a_busy_wait_ends_when_the_server_is_stopped() {
    let server = Server::start(&["--busy-us", "1000000"]);
    let tx = UdpSocket::bind("127.0.0.1:0").expect("bind");
    tx.send_to(&[0], server.addr).expect("send");
    // The server is busy once it has taken the datagram off its socket's queue.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while rx_queue(server.addr.port()) != Some(0) {
        assert!(
            std::time::Instant::now() < deadline,
            "the server never read"
        );
        std::thread::yield_now();
    }
    for i in 1u8..3 {
        tx.send_to(&[i], server.addr).expect("send");
    }
    let started = std::time::Instant::now();
    server.terminate();
    let summary = server.finish();
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "SIGTERM took {:?}: {summary}",
        started.elapsed()
    );
}

/// Bytes queued on the loopback UDP socket bound to `port` (`/proc/net/udp`), if any.
fn rx_queue(port: u16) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/udp").ok()?;
    let local = format!("0100007F:{port:04X}");
    text.lines().skip(1).find_map(|l| {
        let cols: Vec<&str> = l.split_whitespace().collect();
        if cols.get(1) != Some(&local.as_str()) {
            return None;
        }
        let (_, rx) = cols.get(4)?.split_once(':')?;
        u64::from_str_radix(rx, 16).ok()
    })
}
