//! A real UDP echo session between two network namespaces joined by veth, recorded with the
//! tracepoint stages on this host's kernel (root only; skipped with a reason otherwise).
//! Checks that the trace is well formed, that depths and contexts are consistent, and that
//! each datagram shows up exactly once in the stages of the thread that handled it.

use std::collections::HashMap;
use std::fs::File;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::Duration;

mod common;

use kpath_probe::recorder::{MechanismChoice, RecordOptions, Recording};
use kpath_trace::{EventKind, ExecContext, TraceReader};

const N: u32 = 300;

fn ip(args: &[&str]) {
    let status = Command::new("ip").args(args).status().expect("run ip");
    assert!(status.success(), "ip {args:?} failed");
}

/// Two namespaces and a veth pair, removed on drop.
struct Stand {
    gen: String,
    proxy: String,
}

impl Stand {
    fn up() -> Self {
        let id = std::process::id();
        let s = Stand {
            gen: format!("kpt-gen-{id}"),
            proxy: format!("kpt-proxy-{id}"),
        };
        let (vg, vp) = (format!("kg{id}"), format!("kp{id}"));
        ip(&["netns", "add", &s.gen]);
        ip(&["netns", "add", &s.proxy]);
        ip(&["link", "add", &vg, "type", "veth", "peer", "name", &vp]);
        ip(&["link", "set", &vg, "netns", &s.gen]);
        ip(&["link", "set", &vp, "netns", &s.proxy]);
        ip(&["-n", &s.gen, "addr", "add", "198.18.0.1/30", "dev", &vg]);
        ip(&["-n", &s.proxy, "addr", "add", "198.18.0.2/30", "dev", &vp]);
        for (ns, dev) in [(&s.gen, &vg), (&s.proxy, &vp)] {
            ip(&["-n", ns, "link", "set", dev, "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        s
    }
}

impl Drop for Stand {
    fn drop(&mut self) {
        for ns in [&self.gen, &self.proxy] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// Moves the calling thread into a network namespace.
fn enter(ns: &str) {
    let f = File::open(format!("/run/netns/{ns}")).expect("open netns");
    // SAFETY: a valid namespace fd; affects only this thread.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns {ns}: {}", std::io::Error::last_os_error());
}

#[test]
fn tracepoint_stages_record_an_echo_session_between_namespaces() {
    if !common::can_run(module_path!()) {
        return;
    }
    let stand = Stand::up();
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = dir.path().join("echo.trace");
    let runtime = common::runtime();
    let opts = RecordOptions {
        mechanism: MechanismChoice::Tracepoint,
        stages: true,
        ..RecordOptions::new(&trace)
    };
    let recording = runtime
        .block_on(async { Recording::start(opts) })
        .expect("attach");

    // The echo session: the proxy echoes N datagrams, the generator sends one at a time.
    let proxy_ns = stand.proxy.clone();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let proxy = std::thread::spawn(move || {
        enter(&proxy_ns);
        let sock = UdpSocket::bind("198.18.0.2:7007").expect("bind proxy");
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        ready_tx.send(()).expect("ready");
        let mut buf = [0u8; 256];
        for _ in 0..N {
            let (n, from) = sock.recv_from(&mut buf).expect("proxy recv");
            sock.send_to(&buf[..n], from).expect("proxy send");
        }
        common::tid()
    });
    ready_rx.recv().expect("proxy ready");
    let gen_ns = stand.gen.clone();
    let gen = std::thread::spawn(move || {
        enter(&gen_ns);
        let sock = UdpSocket::bind("198.18.0.1:0").expect("bind gen");
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut buf = [0u8; 256];
        for i in 0..N {
            sock.send_to(&i.to_le_bytes(), "198.18.0.2:7007")
                .expect("gen send");
            let (n, _) = sock.recv_from(&mut buf).expect("gen recv");
            assert_eq!(&buf[..n], &i.to_le_bytes());
        }
        common::tid()
    });
    let gen_tid = gen.join().expect("gen thread");
    let proxy_tid = proxy.join().expect("proxy thread");
    let summary = runtime
        .block_on(recording.run(async { "session over".to_string() }))
        .expect("record");
    assert_eq!(summary.stop_reason.to_string(), "session over");

    let mut reader = TraceReader::open(&trace).expect("open trace");
    assert!(reader.is_finalised());
    let meta = reader.metadata().clone();
    assert_eq!(
        meta.lost_events_per_cpu.len(),
        meta.cpu_count as usize,
        "lost counts per CPU"
    );
    assert_eq!(meta.lost_events(), summary.lost);
    let name = |id: u32| meta.functions[id as usize].name.clone();

    // Replay every context's stack: each exit must close the innermost open entry.
    let mut stacks: HashMap<u64, Vec<(u32, u16)>> = HashMap::new();
    let mut exits: HashMap<(String, u32), u32> = HashMap::new();
    let mut nested_xmit = 0;
    let mut bad = Vec::new();
    for e in reader.events() {
        let e = e.expect("record");
        let ctx = ExecContext::try_from(e.context).expect("context");
        let key = e.stack_key();
        let stack = stacks.entry(key).or_default();
        let f = name(e.func_id);
        match EventKind::try_from(e.kind).expect("kind") {
            EventKind::Enter => {
                assert_eq!(
                    e.depth as usize,
                    stack.len(),
                    "{f}: entry depth must equal the open calls"
                );
                stack.push((e.func_id, e.depth));
            }
            EventKind::Exit => {
                if stack.last() == Some(&(e.func_id, e.depth)) {
                    stack.pop();
                    *exits.entry((f.clone(), e.tid)).or_default() += 1;
                    if f == "tp:net_dev_xmit" && e.depth == 1 && ctx == ExecContext::Process {
                        nested_xmit += 1;
                    }
                } else if e.flags == 0 {
                    bad.push(format!(
                        "{f} exit at depth {} does not close {:?}",
                        e.depth,
                        stack.last()
                    ));
                }
                match f.as_str() {
                    "tp:net_rx_softirq" => {
                        assert_eq!(ctx, ExecContext::SoftIrq, "NET_RX runs in softirq context")
                    }
                    "tp:sys_sendto" | "tp:sys_recvfrom" => assert_eq!(ctx, ExecContext::Process),
                    _ => {}
                }
            }
        }
    }
    // Calls open when recording started may close without their entry; nothing else may.
    assert!(bad.len() <= 4, "inconsistent nesting: {bad:?}");
    for (stage, t) in [
        ("tp:sys_sendto", gen_tid),
        ("tp:sys_recvfrom", gen_tid),
        ("tp:sys_sendto", proxy_tid),
        ("tp:sys_recvfrom", proxy_tid),
    ] {
        let got = exits.get(&(stage.to_string(), t)).copied().unwrap_or(0);
        assert_eq!(got, N, "{stage} exits of thread {t}");
    }
    // Each sendto transmits through the veth device inside the system call.
    assert!(
        nested_xmit >= 2 * N,
        "net_dev_xmit nested in sendto: {nested_xmit}"
    );
}
