//! `kpath-probe` never reports success for what it did not do (root only; skipped with a
//! reason otherwise): a function named with a mechanism that cannot probe it, an unknown
//! function under `--strict`, a check of a function the kernel lacks.

use std::process::{Command, Output};

mod common;

fn probe(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kpath-probe"))
        .args(args)
        .output()
        .expect("run kpath-probe")
}

use common::stderr;

#[test]
fn a_function_tracepoints_cannot_probe_is_never_silently_ignored() {
    if !common::can_run(module_path!()) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = dir.path().join("t.trace");
    let t = trace.to_str().expect("utf8");
    let base = [
        "record",
        "--mechanism",
        "tracepoint",
        "--function",
        "udp_sendmsg",
    ];
    let strict = probe(&[&base[..], &["--strict", "--duration", "5s", "-q", "-o", t]].concat());
    assert_eq!(strict.status.code(), Some(2), "{}", stderr(&strict));
    assert!(
        stderr(&strict).contains("--strict: cannot probe `udp_sendmsg`")
            && stderr(&strict).contains("tracepoint stages only"),
        "{}",
        stderr(&strict)
    );
    assert!(!trace.exists(), "nothing recorded under --strict");
    // Without --strict the stages are recorded, and the function is reported as skipped.
    let lax = probe(&[&base[..], &["--duration", "200ms", "-q", "-o", t]].concat());
    assert!(lax.status.success(), "{}", stderr(&lax));
    assert!(
        stderr(&lax).contains("skipped 1 function (udp_sendmsg): --mechanism tracepoint"),
        "{}",
        stderr(&lax)
    );
}

#[test]
fn strict_refuses_an_unknown_function_under_auto() {
    if !common::can_run(module_path!()) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = dir.path().join("t.trace");
    let o = probe(&[
        "record",
        "--function",
        "no_such_function_kpath",
        "--strict",
        "--duration",
        "5s",
        "-q",
        "-o",
        trace.to_str().expect("utf8"),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--strict: cannot probe `no_such_function_kpath`"),
        "{}",
        stderr(&o)
    );
    assert!(!trace.exists());
}

#[test]
fn check_of_a_function_the_kernel_lacks_fails_for_every_mechanism() {
    if !common::can_run(module_path!()) {
        return;
    }
    let o = probe(&[
        "check",
        "--function",
        "no_such_function_kpath",
        "--mechanism",
        "tracepoint",
        "--count",
        "10",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no_such_function_kpath"),
        "{}",
        stderr(&o)
    );
    assert!(!String::from_utf8_lossy(&o.stdout).contains("works"));
}
