//! The two-host stand in network namespaces (root only; skipped with a reason otherwise).

use kpath_stand::netns::{self, Stand};

use crate::util::{field, gen_with, stand_or_skip, u, Server};

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
