//! Running the binary: a server that reports readiness, generator runs with JSON reports.

use std::{
    io::{BufRead, BufReader, Read},
    net::SocketAddr,
    process::{Child, ChildStdout, Command, Output, Stdio},
};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_kpath-stand");

/// A `kpath-stand echo` child. Always bounded by `--duration`; killed when dropped.
pub struct Server {
    child: Child,
    stdout: BufReader<ChildStdout>,
    pub addr: SocketAddr,
}

impl Server {
    /// Starts `kpath-stand echo ARGS --duration 20s` (optionally through `prefix`, e.g.
    /// `ip netns exec NS`) and waits for its `listening on ADDR` line.
    pub fn start_with(prefix: &[&str], args: &[&str]) -> Server {
        let mut cmd = match prefix.split_first() {
            Some((p, rest)) => {
                let mut c = Command::new(p);
                c.args(rest).arg(BIN);
                c
            }
            None => Command::new(BIN),
        };
        let mut child = cmd
            .arg("echo")
            .args(if args.contains(&"--listen") {
                &[][..]
            } else {
                &["--listen", "127.0.0.1:0"][..]
            })
            .args(args)
            .args(["--duration", "20s"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn kpath-stand echo");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .expect("read the readiness line");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("no readiness line, got {line:?}"))
            .parse()
            .expect("address");
        Server {
            child,
            stdout,
            addr,
        }
    }

    pub fn start(args: &[&str]) -> Server {
        Server::start_with(&[], args)
    }

    /// Waits for the server to stop by itself and returns its summary line.
    pub fn finish(mut self) -> String {
        let status = self.child.wait().expect("wait for the server");
        assert!(status.success(), "server failed: {status}");
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).expect("read summary");
        rest.lines()
            .find(|l| l.starts_with("kpath-stand echo:"))
            .unwrap_or_else(|| panic!("no summary in {rest:?}"))
            .to_string()
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        // SAFETY: signalling our own child.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `key=value` field of a summary line.
pub fn field(summary: &str, key: &str) -> u64 {
    summary
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {summary:?}"))
}

/// Runs `kpath-stand gen ARGS --json FILE` (optionally through `prefix`) and returns the
/// report; panics if the generator fails.
pub fn gen_with(prefix: &[&str], target: SocketAddr, args: &[&str]) -> Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("report.json");
    let out = gen_output(
        prefix,
        target,
        args,
        Some(json.to_str().expect("utf-8 path")),
    );
    assert!(
        out.status.success(),
        "gen failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&json).expect("read report");
    serde_json::from_str(&text).expect("parse report")
}

pub fn gen(target: SocketAddr, args: &[&str]) -> Value {
    gen_with(&[], target, args)
}

/// Runs `kpath-stand gen ARGS --json FILE` where no reply can come back: asserts that it
/// fails (exit 2, saying so) and returns the report it still wrote.
pub fn gen_without_replies(target: SocketAddr, args: &[&str]) -> Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("report.json");
    let out = gen_output(&[], target, args, Some(json.to_str().expect("utf-8 path")));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("no reply from"), "{err}");
    let text = std::fs::read_to_string(&json).expect("read report");
    serde_json::from_str(&text).expect("parse report")
}

pub fn gen_output(
    prefix: &[&str],
    target: SocketAddr,
    args: &[&str],
    json: Option<&str>,
) -> Output {
    let mut cmd = match prefix.split_first() {
        Some((p, rest)) => {
            let mut c = Command::new(p);
            c.args(rest).arg(BIN);
            c
        }
        None => Command::new(BIN),
    };
    cmd.args([
        "gen",
        "--quiet",
        "--target",
        &target.to_string(),
        "--duration",
        "20s",
    ])
    .args(args);
    if let Some(j) = json {
        cmd.args(["--json", j]);
    }
    cmd.output().expect("run kpath-stand gen")
}

pub fn u(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("no integer {key} in {v}"))
}

pub fn f(v: &Value, path: &[&str]) -> f64 {
    let mut x = v;
    for k in path {
        x = &x[*k];
    }
    x.as_f64()
        .unwrap_or_else(|| panic!("no number {path:?} in {v}"))
}

/// A stand of namespaces of its own for one test, taken down when dropped; `None` (and why)
/// without root.
pub fn stand_or_skip(test: &str) -> Option<kpath_stand::netns::StandGuard> {
    if !kpath_stand::netns::is_root() {
        eprintln!("skipping {test}: creating network namespaces needs root");
        return None;
    }
    // One stand per test: tests run at once, and one's teardown must not take another's
    // namespaces.
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let stand = kpath_stand::netns::Stand::with_suffix(&format!("t{}-{n}", std::process::id()));
    let guard = stand.up_guarded().expect("bring the stand up");
    // `up` is idempotent.
    guard.0.up().expect("second up");
    Some(guard)
}
