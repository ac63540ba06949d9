//! The `kpath` binary end to end.

use std::process::Command;

use crate::calltree::small_trace;

pub(crate) fn kpath(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kpath"))
        .args(args)
        .output()
        .expect("run kpath");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn model_json_has_exactly_the_promised_fields() {
    let (ok, out, err) = kpath(&[
        "model",
        "--mean",
        "10",
        "--variance",
        "100",
        "--rho",
        "0.5",
        "--json",
    ]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let mut keys: Vec<&str> = v
        .as_object()
        .expect("object")
        .keys()
        .map(|k| k.as_str())
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "cv2",
            "lambda_max_per_s",
            "mean",
            "points",
            "recommended",
            "unit_ns",
            "variance"
        ]
    );
    let p = &v["points"][0];
    let mut pk: Vec<&str> = p
        .as_object()
        .expect("point")
        .keys()
        .map(|k| k.as_str())
        .collect();
    pk.sort_unstable();
    assert_eq!(pk, ["lambda_per_s", "mg1", "mm1", "mm1_error_pct", "rho"]);
    assert_eq!(p["mg1"]["sojourn"], 20.0);
    assert_eq!(p["mm1"]["in_system"], 1.0);
    assert_eq!(v["recommended"], "M/M/1");
}

#[test]
fn model_default_grid_and_bad_input() {
    let (ok, out, _) = kpath(&["model", "--mean", "1000", "--variance", "0", "--json"]);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["points"].as_array().map(|a| a.len()), Some(20));
    let (ok, _, err) = kpath(&["model", "--mean", "10", "--variance", "1", "--rho", "1.2"]);
    assert!(!ok);
    assert!(err.contains("rho"), "{err}");
}

#[test]
fn report_analyze_model_from_results() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = small_trace(dir.path());
    let t = trace.to_str().expect("utf8");
    let (ok, out, err) = kpath(&["report", t]);
    assert!(ok, "{err}");
    assert!(out.contains("== per chain"), "{out}");
    assert!(
        out.lines().all(|l| l.chars().count() <= 100),
        "line over 100 columns:\n{out}"
    );
    let (ok, out, _) = kpath(&["report", t, "--csv"]);
    assert!(ok);
    assert_eq!(out.lines().count(), 1 + 6);
    let (ok, out, _) = kpath(&[
        "report",
        t,
        "--unit",
        "ticks",
        "--cpu-mhz",
        "2000",
        "--json",
    ]);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["unit"], "ticks");
    assert_eq!(v["service"]["mean"], 330.0);
    let results = dir.path().join("results.json");
    let (ok, _, err) = kpath(&["analyze", t, "-o", results.to_str().expect("utf8")]);
    assert!(ok, "{err}");
    let (ok, out, _) = kpath(&["model", results.to_str().expect("utf8"), "--json"]);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["mean"], 165.0);
    let (ok, out, _) = kpath(&["model", results.to_str().expect("utf8")]);
    assert!(ok);
    assert!(out.contains("times the service time"), "{out}");
}

#[test]
fn fold_flame_export() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = small_trace(dir.path());
    let t = trace.to_str().expect("utf8");
    let (ok, out, _) = kpath(&["fold", t]);
    assert!(ok);
    // Self time of ip_rcv: (60−30) + (80−50) + (60−40).
    assert!(
        out.lines().any(|l| l == "rx;net_rx_action;ip_rcv 80"),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l == "tx;udp_sendmsg;kfree_skb 30"),
        "{out}"
    );
    let svg = dir.path().join("flame.svg");
    let (ok, _, err) = kpath(&["flame", t, "-o", svg.to_str().expect("utf8")]);
    assert!(ok, "{err}");
    let s = std::fs::read_to_string(&svg).expect("svg");
    assert!(s.contains("<svg") && s.contains("udp_rcv"));
    let (ok, out, _) = kpath(&["export", t, "--format", "csv"]);
    assert!(ok);
    assert_eq!(out.lines().count(), 1 + 15);
    assert!(out.starts_with("entry_ts_ns,exit_ts_ns,stage,function"));
    let (ok, out, _) = kpath(&["export", t, "--format", "jsonl"]);
    assert!(ok);
    let first: serde_json::Value =
        serde_json::from_str(out.lines().next().expect("row")).expect("json");
    assert_eq!(first["function"], "udp_rcv");
    assert_eq!(first["depth"], 2);
}

#[test]
fn missing_trace_names_the_file() {
    let (ok, _, err) = kpath(&["report", "/nonexistent/x.trace"]);
    assert!(!ok);
    assert!(
        err.contains("failed to") && err.contains("/nonexistent/x.trace"),
        "{err}"
    );
}
