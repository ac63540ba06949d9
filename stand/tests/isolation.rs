//! Isolation of the stand's two sides (root only; skipped with a reason otherwise). Its own
//! test binary: it counts every NET_RX softirq of a CPU, and cargo runs test binaries one
//! after another, so no other test's traffic lands in its count.

use kpath_stand::netns;

#[allow(dead_code)] // the helpers this binary does not use serve the `tests` binary
mod util;

use util::{gen_with, stand_or_skip, u, Server};

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
/// datagram's receive softirq runs on the receiver's CPU, and the proxy's CPU runs one NET_RX
/// softirq per datagram, its own receive (RPS moved it there from CPU 0, where the generator
/// sent it). Without the generator's NAPI thread the reply raised a second one there, to send
/// the RPS IPI to CPU 0.
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
    let threads = s.isolate(&split).expect("isolate");
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
    assert!(!threads.is_empty(), "no NAPI thread for {}", s.gen_if);
    for pid in threads {
        assert_eq!(
            netns::thread_cpus(pid).as_deref(),
            Some("0"),
            "thread {pid}"
        );
    }
}
