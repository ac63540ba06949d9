//! `cargo bench -p kpath-stand`: `kpath-stand gen --pattern pingpong` against `kpath-stand echo`
//! side by side with `sockperf ping-pong` against `sockperf server`, on loopback and (as root)
//! across two network namespaces; plus the open-loop maximum send rate of both.
//!
//! sockperf's ping-pong is bounded by time only (`-t`), so it runs first and ours then sends the
//! same number of datagrams it measured, with the same payload size. For the maximum rate,
//! sockperf's `throughput` mode (one way, the server does not reply) is compared with our open
//! loop at an unreachable rate against a server that drops everything (`--drop-every 1`), so
//! neither side handles replies. Results go to `$KPATH_BENCH_OUT` or `<target>/bench/stand.json`.
//!
//! Environment: `KPATH_BENCH_SIZE` (payload bytes, default 64), `KPATH_BENCH_SECONDS` (sockperf
//! ping-pong and throughput duration, default 2).

use std::{
    io::{BufRead, BufReader},
    net::{SocketAddr, UdpSocket},
    path::PathBuf,
    process::{Child, Command, ExitCode, Stdio},
    sync::mpsc,
    thread,
    time::Duration,
};

use kpath_stand::netns::{self, Stand};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_kpath-stand");

/// Where commands run: on the host, or inside the namespace stand.
struct Place {
    name: &'static str,
    server_ns: Option<String>,
    client_ns: Option<String>,
    server_ip: String,
}

fn command(ns: &Option<String>, program: &str) -> Command {
    match ns {
        Some(ns) => netns::command_in(ns, program),
        None => Command::new(program),
    }
}

/// A child killed when dropped.
struct Guarded(Child);

impl Drop for Guarded {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Spawns `cmd` with stdout+stderr merged and waits (at most 10 s) for a line containing
/// `ready`; returns the child and that line.
fn spawn_ready(mut cmd: Command, ready: &'static str) -> Result<(Guarded, String), String> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("spawn {cmd:?}: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let guard = Guarded(child);
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains(ready) {
                let _ = tx.send(line);
            }
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| format!("{cmd:?} did not print {ready:?} within 10 s"))?;
    Ok((guard, line))
}

fn output(mut cmd: Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("run {cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .unwrap_or(11111)
}

/// A number after `key` in sockperf's output, e.g. `percentile 50.000 =   47.020`.
fn after(text: &str, key: &str) -> Option<f64> {
    let line = text.lines().rev().find(|l| l.contains(key))?;
    let rest = &line[line.find(key)? + key.len()..];
    let num: String = rest
        .trim_start_matches(['=', ' ', ':', '<', '>'])
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    num.parse().ok()
}

fn sockperf_pingpong(p: &Place, size: usize, secs: u32) -> Result<Value, String> {
    let port = free_port().to_string();
    let mut srv = command(&p.server_ns, "sockperf");
    srv.args(["server", "-i", &p.server_ip, "-p", &port]);
    let (_server, _) = spawn_ready(srv, "PORT =")?;
    let mut cli = command(&p.client_ns, "sockperf");
    cli.args(["ping-pong", "-i", &p.server_ip, "-p", &port, "--full-rtt"])
        .args(["-m", &size.to_string(), "-t", &secs.to_string()]);
    let text = output(cli)?;
    let valid = text
        .lines()
        .find(|l| l.contains("[Valid Duration]"))
        .ok_or_else(|| format!("no [Valid Duration] line in sockperf output:\n{text}"))?;
    let count = after(valid, "ReceivedMessages").ok_or("no ReceivedMessages")?;
    let runtime = after(valid, "RunTime").ok_or("no RunTime")?;
    Ok(json!({
        "count": count as u64,
        "rtt_p50_us": after(&text, "percentile 50.000").ok_or("no p50")?,
        "rtt_p99_us": after(&text, "percentile 99.000").ok_or("no p99")?,
        "rtt_mean_us": after(&text, "avg-rtt").ok_or("no avg-rtt")?,
        "rate_per_s": count / runtime.max(1e-9),
    }))
}

fn sockperf_max_rate(p: &Place, size: usize, secs: u32) -> Result<f64, String> {
    let port = free_port().to_string();
    let mut srv = command(&p.server_ns, "sockperf");
    srv.args(["server", "-i", &p.server_ip, "-p", &port]);
    let (_server, _) = spawn_ready(srv, "PORT =")?;
    let mut cli = command(&p.client_ns, "sockperf");
    cli.args(["throughput", "-i", &p.server_ip, "-p", &port])
        .args(["-m", &size.to_string(), "-t", &secs.to_string()]);
    let text = output(cli)?;
    after(&text, "Message Rate is").ok_or_else(|| format!("no message rate in:\n{text}"))
}

fn kpath_server(p: &Place, extra: &[&str]) -> Result<(Guarded, SocketAddr), String> {
    let mut srv = command(&p.server_ns, BIN);
    srv.args([
        "echo",
        "--listen",
        &format!("{}:0", p.server_ip),
        "--duration",
        "120s",
    ])
    .args(extra);
    let (guard, line) = spawn_ready(srv, "listening on ")?;
    let addr = line
        .trim()
        .trim_start_matches("listening on ")
        .parse()
        .map_err(|e| format!("bad address in {line:?}: {e}"))?;
    Ok((guard, addr))
}

fn kpath_gen(p: &Place, addr: SocketAddr, args: &[&str]) -> Result<Value, String> {
    let dir = std::env::temp_dir().join(format!("kpath-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let json_path = dir.join(format!("{}.json", p.name));
    let mut cli = command(&p.client_ns, BIN);
    cli.args([
        "gen",
        "--quiet",
        "--allow-remote",
        "--target",
        &addr.to_string(),
    ])
    .args(["--json", &json_path.to_string_lossy()])
    .args(args);
    output(cli)?;
    let text = std::fs::read_to_string(&json_path).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&dir);
    serde_json::from_str(&text).map_err(|e| e.to_string())
}

fn kpath_pingpong(p: &Place, size: usize, count: u64) -> Result<Value, String> {
    let (_server, addr) = kpath_server(p, &[])?;
    let r = kpath_gen(
        p,
        addr,
        &[
            "--pattern",
            "pingpong",
            "--size",
            &size.to_string(),
            "--count",
            &count.to_string(),
            "--warmup",
            "1000",
            "--duration",
            "60s",
        ],
    )?;
    let us = |k: &str| r["rtt_ns"][k].as_f64().unwrap_or(f64::NAN) / 1000.0;
    Ok(json!({
        "count": r["received"],
        "lost": r["lost"],
        "rtt_p50_us": us("p50"),
        "rtt_p99_us": us("p99"),
        "rtt_mean_us": us("mean"),
        "rate_per_s": r["recv_rate_per_s"],
    }))
}

fn kpath_max_rate(p: &Place, size: usize, secs: u32) -> Result<f64, String> {
    let (_server, addr) = kpath_server(p, &["--drop-every", "1"])?;
    // The open loop stops after its planned count, not after --duration of wall time: plan
    // about as many datagrams as the machine sends in `secs` (~160 k/s here), so that the
    // measurement takes about `secs` rather than the ~30 s that 5 M datagrams took.
    let count = (250_000 * secs).to_string();
    let r = kpath_gen(
        p,
        addr,
        &[
            "--pattern",
            "open",
            "--arrivals",
            "constant",
            "--rate",
            "20000000",
            "--size",
            &size.to_string(),
            "--count",
            &count,
            "--duration",
            &format!("{secs}s"),
            "--timeout",
            "50ms",
            "--no-replies",
        ],
    )?;
    r["send_rate_per_s"]
        .as_f64()
        .ok_or_else(|| "no send_rate_per_s".to_string())
}

fn ratio(a: &Value, b: &Value, key: &str) -> Value {
    match (a[key].as_f64(), b[key].as_f64()) {
        (Some(x), Some(y)) if y > 0.0 => json!(x / y),
        _ => Value::Null,
    }
}

fn bench_place(p: &Place, size: usize, secs: u32, have_sockperf: bool) -> Value {
    eprintln!("bench [{}]: ping-pong and open-loop maximum rate", p.name);
    let mut out = json!({});
    let sock_pp = if have_sockperf {
        sockperf_pingpong(p, size, secs)
    } else {
        Err("sockperf not installed".into())
    };
    let count = sock_pp
        .as_ref()
        .ok()
        .and_then(|v| v["count"].as_u64())
        .unwrap_or(20_000)
        .max(1000);
    let ours_pp = kpath_pingpong(p, size, count);
    let ours_rate = kpath_max_rate(p, size, secs);
    let sock_rate = if have_sockperf {
        sockperf_max_rate(p, size, secs)
    } else {
        Err("sockperf not installed".into())
    };
    let val = |r: Result<Value, String>| r.unwrap_or_else(|e| json!({ "error": e }));
    let fval = |r: Result<f64, String>| {
        r.map(|x| json!(x))
            .unwrap_or_else(|e| json!({ "error": e }))
    };
    let ours_pp = val(ours_pp);
    let sock_pp = val(sock_pp);
    out["p50_ratio_kpath_over_sockperf"] = ratio(&ours_pp, &sock_pp, "rtt_p50_us");
    out["pingpong"] = json!({ "kpath": ours_pp, "sockperf": sock_pp });
    let ours_rate = fval(ours_rate);
    let sock_rate = fval(sock_rate);
    out["open_loop_max_rate_per_s"] = json!({ "kpath": ours_rate, "sockperf": sock_rate });
    out
}

fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; `cargo test --benches` would too: run either way.
    let size: usize = std::env::var("KPATH_BENCH_SIZE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64);
    let secs: u32 = std::env::var("KPATH_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let have_sockperf = Command::new("sockperf").arg("--version").output().is_ok();
    if !have_sockperf {
        eprintln!(
            "bench: sockperf is not installed (Debian package `sockperf`): recording kpath only"
        );
    }
    let mut report = json!({
        "size": size,
        "seconds": secs,
        "sockperf": if have_sockperf { json!("sockperf 3.x") } else { json!(null) },
    });
    let loopback = Place {
        name: "loopback",
        server_ns: None,
        client_ns: None,
        server_ip: "127.0.0.1".into(),
    };
    report["loopback"] = bench_place(&loopback, size, secs, have_sockperf);
    if netns::is_root() {
        let stand = Stand::with_suffix(&format!("b{}", std::process::id()));
        match stand.clone().up_guarded() {
            Ok(_guard) => {
                let place = Place {
                    name: "netns",
                    server_ns: Some(stand.proxy_ns.clone()),
                    client_ns: Some(stand.gen_ns.clone()),
                    server_ip: stand.proxy_addr.to_string(),
                };
                report["netns"] = bench_place(&place, size, secs, have_sockperf);
            }
            Err(e) => {
                report["netns"] = json!({ "skipped": format!("could not bring the stand up: {e}") })
            }
        }
    } else {
        eprintln!("bench: not root, skipping the namespace stand");
        report["netns"] = json!({ "skipped": "needs root to create network namespaces" });
    }
    let out = std::env::var_os("KPATH_BENCH_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            // BIN is <target>/<profile>/kpath-stand.
            let target = PathBuf::from(BIN)
                .parent()
                .and_then(|p| p.parent())
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("target"));
            target.join("bench").join("stand.json")
        });
    if let Some(dir) = out.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let text = serde_json::to_string_pretty(&report).unwrap_or_default();
    println!("{text}");
    match std::fs::write(&out, text + "\n") {
        Ok(()) => {
            eprintln!("bench: wrote {}", out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench: failed to write {}: {e}", out.display());
            ExitCode::FAILURE
        }
    }
}
