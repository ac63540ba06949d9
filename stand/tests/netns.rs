//! The two-host stand in network namespaces (root only; skipped with a reason otherwise).

use kpath_stand::netns::{self, Stand};

use crate::util::{field, gen_with, u, Server};

fn stand_or_skip(test: &str) -> Option<netns::StandGuard> {
    if !netns::is_root() {
        eprintln!("skipping {test}: creating network namespaces needs root");
        return None;
    }
    let stand = Stand::with_suffix(&format!("t{}", std::process::id()));
    let guard = stand.up_guarded().expect("bring the stand up");
    // `up` is idempotent.
    guard.0.up().expect("second up");
    Some(guard)
}

#[test]
fn pingpong_and_open_loop_across_the_namespaces() {
    let Some(guard) = stand_or_skip("pingpong_and_open_loop_across_the_namespaces") else {
        return;
    };
    let s = &guard.0;
    assert!(netns::ns_exists(&s.gen_ns) && netns::ns_exists(&s.proxy_ns));
    let status = s.status().expect("status");
    assert!(status.contains("198.18.0.2"), "{status}");

    let listen = format!("{}:0", s.proxy_addr);
    let in_proxy = ["ip", "netns", "exec", s.proxy_ns.as_str()];
    let in_gen = ["ip", "netns", "exec", s.gen_ns.as_str()];
    let server = Server::start_with(
        &in_proxy,
        &[
            "--listen",
            &listen,
            "--count-backlog",
            "--max-datagrams",
            "800",
        ],
    );
    let r = gen_with(&in_gen, server.addr, &["--allow-remote", "--count", "300"]);
    assert_eq!(u(&r, "received"), 300);
    assert_eq!(u(&r, "max_in_flight"), 1);
    let r = gen_with(
        &in_gen,
        server.addr,
        &[
            "--allow-remote",
            "--pattern",
            "open",
            "--rate",
            "5000",
            "--count",
            "500",
        ],
    );
    assert_eq!(u(&r, "received"), 500);
    let summary = server.finish();
    assert_eq!(field(&summary, "datagrams"), 800);

    // Without --allow-remote the generator refuses the namespace address.
    let out = crate::util::gen_output(&in_gen, server_addr(s), &["--count", "1"], None);
    assert_eq!(out.status.code(), Some(2));

    let gen_ns = s.gen_ns.clone();
    drop(guard);
    assert!(
        !netns::ns_exists(&gen_ns),
        "the guard removes the namespaces"
    );
}

fn server_addr(s: &Stand) -> std::net::SocketAddr {
    std::net::SocketAddr::from((s.proxy_addr, 9))
}

/// NET_RX softirqs run so far on each CPU (`/proc/softirqs`).
fn net_rx_per_cpu() -> Vec<u64> {
    let text = std::fs::read_to_string("/proc/softirqs").expect("read /proc/softirqs");
    text.lines()
        .find_map(|l| l.trim_start().strip_prefix("NET_RX:"))
        .expect("a NET_RX line")
        .split_whitespace()
        .map(|n| n.parse().expect("a count"))
        .collect()
}

/// With the stand isolated (the generator on CPU 0, the proxy on CPU 1, both pinned), each
/// datagram's receive softirq runs on the receiver's CPU. Counted on the proxy's CPU: one
/// NET_RX that receives the datagram (RPS moved it there from CPU 0, where the generator sent
/// it) and one that the reply raises to send the RPS IPI to CPU 0, so two per datagram.
/// Without isolation there is one: the reply is received on the proxy's CPU, the datagram on
/// the generator's.
#[test]
fn isolation_moves_each_sides_receive_to_its_cpu() {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let Some(split) = netns::CpuSplit::auto(cpus) else {
        eprintln!(
            "skipping isolation_moves_each_sides_receive_to_its_cpu: needs 2 CPUs, found {cpus}"
        );
        return;
    };
    let Some(guard) = stand_or_skip("isolation_moves_each_sides_receive_to_its_cpu") else {
        return;
    };
    let s = &guard.0;
    s.isolate(&split).expect("isolate");
    let proxy_cpu = split.proxy[0];
    let (gen_mask, proxy_mask) = s.rps_masks().expect("masks");
    assert_eq!(gen_mask.trim_start_matches(['0', ',']), "1");
    assert_eq!(
        u64::from_str_radix(proxy_mask.replace(',', "").trim(), 16).expect("hex"),
        1 << proxy_cpu
    );
    assert!(
        s.status()
            .expect("status")
            .contains("receive CPUs (RPS mask)"),
        "status shows the masks"
    );

    let listen = format!("{}:0", s.proxy_addr);
    let pin = proxy_cpu.to_string();
    let in_proxy = ["ip", "netns", "exec", s.proxy_ns.as_str()];
    let server = Server::start_with(&in_proxy, &["--listen", &listen, "--pin-cpu", &pin]);
    let in_gen = [
        "ip",
        "netns",
        "exec",
        s.gen_ns.as_str(),
        "taskset",
        "-c",
        "0",
    ];
    let n = 400;
    let before = net_rx_per_cpu();
    let r = gen_with(
        &in_gen,
        server.addr,
        &["--allow-remote", "--count", &n.to_string()],
    );
    let after = net_rx_per_cpu();
    assert_eq!(u(&r, "received"), n);
    server.finish();
    let on_proxy = after[proxy_cpu] - before[proxy_cpu];
    // One NET_RX softirq per datagram on the proxy's CPU, its own receive: the replies no
    // longer raise one there (before the generator's NAPI thread, each raised a second,
    // 2n in all). 5 % slack below for datagrams received together, 10 % above for
    // unrelated traffic on this CPU.
    assert!(
        on_proxy >= n - n / 20 && on_proxy <= n + n / 10,
        "{on_proxy} NET_RX softirqs on the proxy's CPU {proxy_cpu} for {n} datagrams"
    );
    // The generator receives in its NAPI thread, on its own CPU.
    let threads = netns::napi_threads(&s.gen_if);
    assert!(!threads.is_empty(), "no NAPI thread for {}", s.gen_if);
    for pid in threads {
        assert_eq!(
            netns::thread_cpus(pid).as_deref(),
            Some("0"),
            "thread {pid}"
        );
    }
}
