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
    // Three invocations per stage are fewer than the default minimum: no T, and it says why.
    assert!(
        out.contains("!!! no service time T = T_rx + T_tx, so no projection")
            && out.contains("--min-stage-samples"),
        "{out}"
    );
    assert!(!out.contains("saturation rate"), "{out}");
    let (ok, out, _) = kpath(&["report", t, "--csv"]);
    assert!(ok);
    assert_eq!(out.lines().count(), 1 + 6);
    // Units are the renderers': the text report in ticks, the JSON in ns whatever is asked.
    let (ok, out, err) = kpath(&[
        "report",
        t,
        "--unit",
        "ticks",
        "--cpu-mhz",
        "2000",
        "--min-stage-samples",
        "1",
    ]);
    assert!(ok, "{err}");
    // T = 95 + 50 ns on the CPU (the send that blocked ran 30 of its 50 ns), 2 ticks per ns.
    assert!(
        out.contains("times in ticks (0.5000 ns per tick)")
            && out.contains("T = T_rx + T_tx = 290 ticks"),
        "{out}"
    );
    let (ok, out, _) = kpath(&["report", t, "--min-stage-samples", "1", "--format", "json"]);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["unit"], "ns");
    assert_eq!(v["service"]["mean"], 145.0);
    let (ok, _, err) = kpath(&["report", t, "--json", "--unit", "us"]);
    assert!(
        !ok && err.contains("--unit us does not apply to JSON"),
        "{err}"
    );
    // The CSV in µs: one row per function, the unit named in its column.
    let (ok, out, _) = kpath(&["report", t, "--csv", "--unit", "us"]);
    assert!(ok);
    let head: Vec<&str> = out.lines().next().expect("header").split(',').collect();
    let unit_col = head.iter().position(|c| *c == "unit").expect("unit column");
    for row in out.lines().skip(1) {
        assert_eq!(row.split(',').nth(unit_col), Some("us"), "{row}");
    }
    // Without enough samples the JSON has null and the reason, and `model` refuses it.
    let results = dir.path().join("results.json");
    let (ok, _, err) = kpath(&["analyze", t, "-o", results.to_str().expect("utf8")]);
    assert!(ok, "{err}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&results).expect("read")).expect("json");
    assert!(v["service"].is_null() && v["model"].is_null(), "{v}");
    assert!(
        v["service_unknown"]
            .as_str()
            .is_some_and(|s| s.contains("stage rx kept")),
        "{v}"
    );
    let (ok, _, err) = kpath(&["model", results.to_str().expect("utf8")]);
    assert!(!ok && err.contains("has no service time"), "{err}");
    let (ok, _, err) = kpath(&[
        "analyze",
        t,
        "--min-stage-samples",
        "1",
        "--force",
        "-o",
        results.to_str().expect("utf8"),
    ]);
    assert!(ok, "{err}");
    let (ok, out, _) = kpath(&["model", results.to_str().expect("utf8"), "--json"]);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["mean"], 145.0);
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
    // udp_sendmsg's self time on the CPU: (50 − 20 away − 14) + (70 − 16); on the wall clock
    // its 20 ns away count too.
    assert!(out.lines().any(|l| l == "tx;udp_sendmsg 70"), "{out}");
    let (ok, out, _) = kpath(&["fold", t, "--clock", "wall"]);
    assert!(ok);
    assert!(out.lines().any(|l| l == "tx;udp_sendmsg 90"), "{out}");
    // One stage; and without the calls an interrupt hit (the second invocation's udp_rcv,
    // ip_rcv and net_rx_action): ip_rcv keeps (60−30) + (60−40).
    let (ok, out, _) = kpath(&["fold", t, "--stage", "rx", "--filter", "interrupted"]);
    assert!(ok);
    assert!(out.lines().all(|l| l.starts_with("rx;")), "{out}");
    assert!(
        out.lines().any(|l| l == "rx;net_rx_action;ip_rcv 50"),
        "{out}"
    );
    let (ok, _, err) = kpath(&["fold", t, "--filter", "net"]);
    assert!(!ok && err.contains("net"), "{err}");
    let svg = dir.path().join("flame.svg");
    let (ok, _, err) = kpath(&["flame", t, "-o", svg.to_str().expect("utf8")]);
    assert!(ok, "{err}");
    let s = std::fs::read_to_string(&svg).expect("svg");
    assert!(s.contains("<svg") && s.contains("udp_rcv"));
    let (ok, out, _) = kpath(&["export", t, "--format", "csv"]);
    assert!(ok);
    assert_eq!(out.lines().count(), 1 + 15);
    assert!(out.starts_with("entry_ts_ns,exit_ts_ns,stage,function"));
    // The send that blocked: wall time as recorded, and its time away to take off; it is the
    // root (call 0, no parent) of the fourth invocation.
    assert!(
        out.lines()
            .any(|l| l.contains(",udp_sendmsg,") && l.ends_with(",50,36,0,0,0,1,0,true,20,3,0,")),
        "{out}"
    );
    let (ok, out, _) = kpath(&["export", t, "--format", "jsonl"]);
    assert!(ok);
    let first: serde_json::Value =
        serde_json::from_str(out.lines().next().expect("row")).expect("json");
    assert_eq!(first["function"], "udp_rcv");
    assert_eq!(first["depth"], 2);
}

/// A trace where results are read, and results where a trace is read: each error says what
/// the file is and what to run.
#[test]
fn the_wrong_kind_of_file_says_what_to_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = small_trace(dir.path());
    let t = trace.to_str().expect("utf8");
    let results = dir.path().join("results.json");
    let r = results.to_str().expect("utf8");
    let (ok, _, err) = kpath(&["analyze", t, "-o", r]);
    assert!(ok, "{err}");
    for cmd in ["plot", "model"] {
        let (ok, _, err) = kpath(&[cmd, t]);
        assert!(!ok && err.contains("run `kpath analyze"), "{cmd}: {err}");
    }
    for cmd in ["report", "export", "fold"] {
        let (ok, _, err) = kpath(&[cmd, r]);
        assert!(!ok && err.contains("not a kpath trace"), "{cmd}: {err}");
    }
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

/// Outputs never replace an input, a file, or write through a link (`docs/security.md`).
#[test]
fn outputs_never_replace_inputs_existing_files_or_links() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = small_trace(dir.path());
    let t = trace.to_str().expect("utf8");
    let original = std::fs::read(&trace).expect("read");

    // An output equal to the input is refused, with --force too, and the trace is intact.
    for args in [
        vec!["analyze", t, "-o", t],
        vec!["flame", t, "-o", t],
        vec!["export", t, "-o", t],
        vec!["analyze", t, "-o", t, "--force"],
        vec!["export", t, "-o", t, "--force"],
    ] {
        let (ok, _, err) = kpath(&args);
        assert!(!ok, "{args:?} succeeded");
        assert!(err.contains("is also the input"), "{args:?}: {err}");
        assert_eq!(std::fs::read(&trace).expect("read"), original, "{args:?}");
    }
    // The same through a link to the input.
    let alias = dir.path().join("alias.trace");
    std::os::unix::fs::symlink(&trace, &alias).expect("symlink");
    let (ok, _, err) = kpath(&["export", t, "-o", alias.to_str().expect("utf8"), "--force"]);
    assert!(!ok && err.contains("is also the input"), "{err}");
    assert_eq!(std::fs::read(&trace).expect("read"), original);

    // An existing file is kept unless --force.
    let results = dir.path().join("results.json");
    let r = results.to_str().expect("utf8");
    std::fs::write(&results, "mine").expect("write");
    let (ok, _, err) = kpath(&["analyze", t, "-o", r]);
    assert!(!ok && err.contains("already exists; pass --force"), "{err}");
    assert_eq!(std::fs::read_to_string(&results).expect("read"), "mine");
    let (ok, _, err) = kpath(&["analyze", t, "-o", r, "--force"]);
    assert!(ok, "{err}");
    assert!(std::fs::read_to_string(&results)
        .expect("read")
        .contains("\"service\""));

    // A planted link is not written through, and a dangling one does not create its target.
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious").expect("write");
    let link = dir.path().join("flame.svg");
    std::os::unix::fs::symlink(&victim, &link).expect("symlink");
    let (ok, _, err) = kpath(&["flame", t, "-o", link.to_str().expect("utf8")]);
    assert!(!ok && err.contains("symbolic link"), "{err}");
    assert_eq!(std::fs::read_to_string(&victim).expect("read"), "precious");
    let target = dir.path().join("not-created");
    let dangling = dir.path().join("dangling.csv");
    std::os::unix::fs::symlink(&target, &dangling).expect("symlink");
    let (ok, _, _) = kpath(&["export", t, "-o", dangling.to_str().expect("utf8")]);
    assert!(!ok);
    assert!(!target.exists());

    // An output directory that is a link is refused.
    let real = dir.path().join("real-plots");
    std::fs::create_dir(&real).expect("mkdir");
    let plots = dir.path().join("plots");
    std::os::unix::fs::symlink(&real, &plots).expect("symlink");
    let (ok, _, err) = kpath(&["plot", r, "-o", plots.to_str().expect("utf8")]);
    assert!(
        !ok && err.contains("output directory is a symbolic link"),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(&real).expect("list").count(), 0);
}

/// An unfinished trace cut inside a record (a full disk, `kill -9` mid-write) is read up to
/// its last whole record by every command, each of which says what was cut.
#[test]
fn a_cut_trace_is_salvaged_with_a_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = small_trace(dir.path());
    let bytes = std::fs::read(&trace).expect("read");
    let reader = kpath_trace::TraceReader::open(&trace).expect("open");
    let records = reader.expected_records().expect("finalised");
    let header = bytes.len() - records as usize * kpath_trace::EVENT_SIZE;
    // Unfinished: no finalised flag, unknown count; then cut 20 bytes into the last record.
    let mut cut = bytes.clone();
    cut[20..24].copy_from_slice(&0u32.to_le_bytes());
    cut[24..32].copy_from_slice(&u64::MAX.to_le_bytes());
    cut.truncate(bytes.len() - kpath_trace::EVENT_SIZE + 20);
    let cut_path = dir.path().join("cut.trace");
    std::fs::write(&cut_path, &cut).expect("write");
    let c = cut_path.to_str().expect("utf8");
    for args in [
        vec!["report", c],
        vec!["tree", c],
        vec!["fold", c],
        vec!["export", c],
    ] {
        let (ok, _, err) = kpath(&args);
        assert!(ok, "{args:?}: {err}");
        let offset = header + (records as usize - 1) * kpath_trace::EVENT_SIZE;
        assert!(
            err.contains(&format!(
                "last record ({} at offset {offset}) is cut short, 20 of 64 bytes",
                records - 1
            )),
            "{args:?}: {err}"
        );
    }
    let (ok, out, _) = kpath(&["report", c, "--json"]);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["trace"]["records"], records - 1);
    assert_eq!(v["trace"]["cut_tail"]["bytes"], 20);

    // A finalised trace promises its records: cut there, it is an error.
    let mut finalised_cut = bytes;
    finalised_cut.truncate(cut.len());
    std::fs::write(&cut_path, &finalised_cut).expect("write");
    let (ok, _, err) = kpath(&["report", c]);
    assert!(!ok && err.contains("cut short"), "{err}");
}

/// Numbers out of range are usage errors at parse time, naming the flag.
#[test]
fn numbers_out_of_range_are_refused_when_parsed() {
    for args in [
        &["model", "--mean", "1", "--variance", "0", "--tick-ns", "0"][..],
        &[
            "model",
            "--mean",
            "1",
            "--variance",
            "0",
            "--tick-ns",
            "NaN",
        ],
        &["report", "x.trace", "--unit", "ticks", "--cpu-mhz=-5"],
        &["synth", "x.trace", "--irq-probability", "2"],
        &["synth", "x.trace", "--datagrams", "0"],
    ] {
        let (ok, _, err) = kpath(args);
        assert!(!ok, "{args:?}");
        assert!(err.starts_with("error: invalid value"), "{args:?}: {err}");
    }
}

/// `plot` and `html` refuse the values `model` refuses, naming the field.
#[test]
fn results_out_of_their_domain_are_refused_by_every_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = small_trace(dir.path());
    let results = dir.path().join("results.json");
    let r = results.to_str().expect("utf8");
    let (ok, _, err) = kpath(&[
        "analyze",
        trace.to_str().expect("utf8"),
        "--min-stage-samples",
        "1",
        "-o",
        r,
    ]);
    assert!(ok, "{err}");
    let good: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&results).expect("read")).expect("json");
    for (pointer, value, field) in [
        ("/service/mean", serde_json::json!(-5.0), "service.mean"),
        ("/unit_ns", serde_json::json!(0.0), "unit_ns"),
        (
            "/model/points/0/rho",
            serde_json::json!(1.5),
            "model.points[0].rho",
        ),
    ] {
        let mut bad = good.clone();
        *bad.pointer_mut(pointer).expect("field present") = value;
        let path = dir.path().join("bad.json");
        std::fs::write(&path, serde_json::to_vec(&bad).expect("json")).expect("write");
        let b = path.to_str().expect("utf8");
        let out = dir.path().join("out");
        let o = out.to_str().expect("utf8");
        for args in [
            vec!["model", b],
            vec!["plot", b, "-o", o],
            vec!["html", b, "-o", o],
        ] {
            let (ok, _, err) = kpath(&args);
            assert!(!ok, "{args:?} accepted {field}");
            assert!(err.contains(&format!("`{field}`")), "{args:?}: {err}");
        }
        assert!(!out.exists(), "nothing written for {field}");
    }
}

/// Flame-graph weights and lost-event sums saturate instead of wrapping around: two calls of
/// 2⁶³ ns each fold to 2⁶⁴ − 1, not to 0.
#[test]
fn weights_and_losses_saturate() {
    use crate::util::{Ctx, TraceBuilder};
    let dir = tempfile::tempdir().expect("tempdir");
    let half = 1u64 << 63;
    let mut b = TraceBuilder::new(&["udp_sendmsg"]);
    let p = Ctx::Proc(2, 77);
    b.enter(p, "udp_sendmsg", 0, 1000)
        .exit(p, "udp_sendmsg", 0, 2000, half, 0)
        .enter(p, "udp_sendmsg", 0, 3000)
        .exit(p, "udp_sendmsg", 0, 4000, half, 0);
    let trace = b.write(&dir.path().join("huge.trace"));
    let (ok, out, err) = kpath(&["fold", trace.to_str().expect("utf8")]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), format!("tx;udp_sendmsg {}", u64::MAX));

    let mut meta = kpath_trace::Metadata::new("t", "k", 2);
    meta.lost_events_per_cpu = vec![u64::MAX, 5];
    assert_eq!(meta.lost_events(), u64::MAX);
}

/// A points file naming a device as its sojourn CSV is refused, not read without end.
#[test]
fn a_points_file_cannot_make_analyze_read_a_device() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = small_trace(dir.path());
    let points = dir.path().join("points.json");
    std::fs::write(
        &points,
        r#"{"unit_ns": 1, "choices": [{"name": "relay",
            "service": {"sojourns": {"csv": "/dev/zero", "skip": 0}},
            "points": [{"rho": 0.5}]}]}"#,
    )
    .expect("write");
    let out = dir.path().join("results.json");
    let (ok, _, err) = kpath(&[
        "analyze",
        trace.to_str().expect("utf8"),
        "-o",
        out.to_str().expect("utf8"),
        "--validation",
        points.to_str().expect("utf8"),
    ]);
    assert!(!ok);
    assert!(err.contains("must be a regular file"), "{err}");
}

/// A function name carrying a terminal escape sequence reaches the terminal as U+FFFD, in
/// every text output (a hostile trace must not restyle or retitle the user's terminal).
#[test]
fn names_reach_the_terminal_without_control_characters() {
    use crate::util::{Ctx, TraceBuilder};
    let dir = tempfile::tempdir().expect("tempdir");
    let evil = "evil\u{1b}]0;pwned\u{7}\rX";
    let mut b = TraceBuilder::new(&["udp_sendmsg", evil]);
    let p = Ctx::Proc(2, 77);
    b.enter(p, "udp_sendmsg", 0, 1000)
        .enter(p, evil, 1, 1010)
        .exit(p, evil, 1, 1020, 10, 0)
        .exit(p, "udp_sendmsg", 0, 1100, 100, 0);
    let trace = b.write(&dir.path().join("evil.trace"));
    let t = trace.to_str().expect("utf8");
    for args in [vec!["report", t], vec!["tree", t], vec!["fold", t]] {
        let (ok, out, err) = kpath(&args);
        assert!(ok, "{args:?}: {err}");
        assert!(out.contains("evil\u{FFFD}"), "{args:?}: {out}");
        assert!(
            !out.contains(['\u{1b}', '\u{7}', '\r']),
            "{args:?} let a control character through"
        );
    }
}

/// One table model: the terminal, Markdown and HTML renderers draw the same columns for the
/// tables they share (the text chains table once lacked `calls`, the HTML stages table `±1%`).
#[test]
fn renderers_draw_the_same_columns() {
    use kpath_analysis::report::{markdown, tables, text};
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = small_trace(dir.path());
    let r = kpath_analysis::analyze_file(&trace, &kpath_analysis::AnalysisOptions::default())
        .expect("analyze");
    let ns = kpath_analysis::report::unit::TimeUnit::Ns;
    let text = text::render(&r, ns);
    let md = markdown::summary(&r, 10, &[]);
    let waiting = tables::waiting(&r, ns);
    // The small trace has a send that blocked: the waiting table has its row.
    assert_eq!(waiting.rows.len(), 1, "{:?}", waiting.rows);
    for t in [
        tables::stages(&r, ns),
        tables::chains(&r, ns),
        tables::plain_vs_normative(&r, ns),
        waiting,
    ] {
        // The header's words, in order, make one line of the terminal table.
        let want: Vec<&str> = t.head.iter().flat_map(|h| h.split_whitespace()).collect();
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>() == want),
            "{}: no header {want:?} in the text report:\n{text}",
            t.id
        );
        assert!(
            md.contains(&format!("| {} |", t.head.join(" | "))),
            "{}:\n{md}",
            t.id
        );
    }
}

/// Busy time in the trace's metadata becomes each receiving CPU's demand per datagram, in the
/// JSON and in the report, and the probes' share of it.
#[test]
fn busy_time_gives_the_cpu_time_per_datagram_received() {
    use crate::util::{Ctx, TraceBuilder};
    let dir = tempfile::tempdir().expect("tempdir");
    let mut b = TraceBuilder::new(&["net_rx_action"]);
    let soft = Ctx::Soft(1);
    for i in 0..4u64 {
        b.enter(soft, "net_rx_action", 0, 10_000 * (i + 1)).exit(
            soft,
            "net_rx_action",
            0,
            10_000 * (i + 1) + 1_000,
            1_000,
            0,
        );
    }
    b.meta.cpu_busy = Some(vec![kpath_trace::CpuBusyInfo {
        cpu: 1,
        window_ns: 100_000,
        busy_ns: 20_000,
        idle_irq_ns: 4_000,
        cycles: 4,
        long_cycles: 1,
        long_cycles_ns: 2_000_000,
        cycle_mean_ns: Some(5_000.0),
        cycle_variance_ns2: Some(250_000.0),
        cycle_min_ns: Some(4_000),
        cycle_max_ns: Some(6_000),
    }]);
    let trace = b.write(&dir.path().join("busy.trace"));
    let trace = trace.to_str().expect("utf8");
    let (ok, out, err) = kpath(&["report", trace, "--filter", "none", "--json"]);
    assert!(ok, "{err}");
    let r: serde_json::Value = serde_json::from_str(&out).expect("json");
    let d = &r["demand"][0];
    assert_eq!(d["cpu"], 1);
    assert_eq!(d["receive_invocations"], 4);
    assert_eq!(d["busy_per_receive_ns"], 5_000.0);
    let (ok, out, err) = kpath(&["report", trace, "--filter", "none"]);
    assert!(ok, "{err}");
    assert!(
        out.contains(
            "CPU 1: busy 20.0 % of 0.00 s, 5.0 µs per datagram received (4). Busy cycles \
             (wake-up to idle): 4, mean 5.0 µs, sd 0.5 µs; 1 longer than 1 ms (2.0 ms in all)"
        ),
        "{out}"
    );
}

/// `report --hist` on the hand-built trace, against the histograms worked out by hand: bcc's
/// log2 layout, one bucket per power of two, 40 stars for the fullest bucket.
#[test]
fn report_hist_prints_funclatency_histograms() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = small_trace(dir.path());
    let t = trace.to_str().expect("utf8");
    let (ok, out, err) = kpath(&["report", t, "--hist", "--clock", "wall", "--filter", "none"]);
    assert!(ok, "{err}");
    // udp_rcv took 30, 50 and 40 ns: one sample in [16, 31], two in [32, 63].
    let udp_rcv = "\nFunction = udp_rcv [rx]\n     nsecs               : count     distribution\n\
        \x20       16 -> 31         : 1        |********************                    |\n\
        \x20       32 -> 63         : 2        |****************************************|\n\
        avg = 40.0 nsecs, count: 3\n";
    assert!(out.contains(udp_rcv), "{out}");
    // kfree_skb: 10 and 12 ns on receive ([8, 15]), 14 and 16 on send ([8, 15] and [16, 31]).
    let kfree_tx =
        "\nFunction = kfree_skb [tx]\n     nsecs               : count     distribution\n\
        \x20        8 -> 15         : 1        |****************************************|\n\
        \x20       16 -> 31         : 1        |****************************************|\n\
        avg = 15.0 nsecs, count: 2\n";
    assert!(out.contains(kfree_tx), "{out}");
    assert!(
        out.starts_with("log2 histograms of the time per call (ns, wall-clock"),
        "{out}"
    );
    // Not with another format: the histograms are text.
    let (ok, _, err) = kpath(&["report", t, "--hist", "--json"]);
    assert!(!ok && err.contains("cannot be used with"), "{err}");
}

/// The first screen names what a stage lacks: a send stage whose every invocation an
/// interrupt hit was dropped by the filter (and `--filter net` is the advice), a stage with
/// no invocation at all was not recorded; both are alarms, the service time unknown.
#[test]
fn first_screen_says_why_a_stage_is_empty() {
    use crate::util::{Ctx, TraceBuilder};
    use kpath_analysis::report::first_screen::{self, Item};
    use kpath_analysis::{analyze_file, AnalysisOptions, Filter};
    let dir = tempfile::tempdir().expect("tempdir");
    let screen = |trace: &std::path::Path, filter: Filter| {
        let opts = AnalysisOptions {
            filter,
            min_stage_samples: 1,
            ..AnalysisOptions::default()
        };
        first_screen::of(&analyze_file(trace, &opts).expect("analyze"))
    };
    let find = |items: &[Item], label: &str| -> Option<Item> {
        items.iter().find(|i| i.label == label).cloned()
    };
    let mut b = TraceBuilder::new(&["net_rx_action", "udp_sendmsg"]);
    let (s0, p) = (Ctx::Soft(0), Ctx::Proc(1, 77));
    for i in 0..3u64 {
        let t = 1000 * (i + 1);
        b.enter(s0, "net_rx_action", 0, t)
            .exit(s0, "net_rx_action", 0, t + 100, 100, 0);
        b.enter(p, "udp_sendmsg", 0, t + 200)
            .exit(p, "udp_sendmsg", 0, t + 300, 100, 30);
    }
    let both = b.write(&dir.path().join("both.trace"));
    let s = screen(&both, Filter::Interrupted);
    let empty = find(&s.trust, "empty stage").expect("empty stage");
    assert!(
        empty.alarm
            && empty.text.starts_with(
                "stage tx kept none of its 3 invocations: the filter (interrupted) dropped them all"
            )
            && empty.text.contains("try --filter net"),
        "{empty:?}"
    );
    assert!(find(&s.time, "service time").is_some_and(|i| i.alarm));
    assert!(find(&s.trust, "interrupted").is_some_and(|i| i.alarm));
    // With --filter net the samples are corrected: the stage is kept, the interrupted share
    // is said but is no alarm, and the capacity follows from T = 100 + (100 − 30) ns.
    let s = screen(&both, Filter::Net);
    assert!(find(&s.trust, "empty stage").is_none(), "{s:?}");
    let interrupted = find(&s.trust, "interrupted").expect("interrupted");
    assert!(!interrupted.alarm && interrupted.text.starts_with("3 of 6 calls"));
    let saturation = find(&s.capacity, "saturation").expect("saturation");
    assert!(
        saturation
            .text
            .starts_with("λ_max = 1/T = 5882353 datagrams/s"),
        "{saturation:?}"
    );
    // A selection says what it kept, and is the first suspect of an empty stage.
    let (ok, out, err) = kpath(&[
        "report",
        both.to_str().expect("utf8"),
        "--min-stage-samples",
        "1",
        "--pid",
        "77",
    ]);
    assert!(ok, "{err}");
    assert!(
        out.contains("  selection: selection --pid 77: kept 3 of 6 invocations"),
        "{out}"
    );
    assert!(
        out.contains("  !!! empty stage: stage rx has no invocation in the selection --pid 77"),
        "{out}"
    );
    // The terminal marks the alarms.
    let (ok, out, err) = kpath(&[
        "report",
        both.to_str().expect("utf8"),
        "--min-stage-samples",
        "1",
    ]);
    assert!(ok, "{err}");
    assert!(
        out.contains("  !!! empty stage: stage tx kept none"),
        "{out}"
    );

    let mut b = TraceBuilder::new(&["net_rx_action"]);
    b.enter(s0, "net_rx_action", 0, 1000)
        .exit(s0, "net_rx_action", 0, 1100, 100, 0);
    let rx_only = b.write(&dir.path().join("rx.trace"));
    let empty = find(&screen(&rx_only, Filter::Interrupted).trust, "empty stage").expect("empty");
    assert!(
        empty.alarm
            && empty
                .text
                .starts_with("stage tx recorded no invocation: wrong --pid or --cpu?"),
        "{empty:?}"
    );
}

/// `kpath tree` with times on the hand-built trace, against the figures worked out by hand
/// (wall clock, no filter): net_rx_action took 100, 120 and 90 ns; ip_rcv under it 60, 80, 60
/// (200 of its caller's 310 ns: 64.5 %); udp_rcv under ip_rcv 30, 50, 40 (120 of 200: 60 %);
/// kfree_skb under net_rx_action 10 and 12 (22 of 310: 7.1 %).
#[test]
fn tree_prints_mean_times_and_shares_like_function_graph() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = small_trace(dir.path());
    let t = trace.to_str().expect("utf8");
    let (ok, out, err) = kpath(&[
        "tree", t, "--stage", "rx", "--clock", "wall", "--filter", "none",
    ]);
    assert!(ok, "{err}");
    let want = "\
stage rx: 3 complete invocations
most frequent tree (2 of 3 invocations, 66.7%);
mean time per call of each path (wall-clock, sleeping included, filter none) and its share of the caller's:
depth       mean  of caller  call
    0     103 ns             net_rx_action() {
    1    66.7 ns      64.5%    ip_rcv() {
    2    40.0 ns      60.0%      udp_rcv();
    1                          }
    1    11.0 ns       7.1%    kfree_skb();
    0                        }
max depth 2, 4 distinct functions, 3.67 calls per invocation, 2 distinct shapes
";
    assert!(out.starts_with(want), "{out}");
    // The send stage's blocked call: on the CPU (the default clock) its 20 ns away are left
    // out, so udp_sendmsg is (50 − 20 + 70)/2 = 50 ns.
    let (ok, out, _) = kpath(&["tree", t, "--stage", "tx", "--filter", "none"]);
    assert!(ok);
    assert!(
        out.contains("    0    50.0 ns             udp_sendmsg() {"),
        "{out}"
    );
}

/// A closed pipe on standard output and standard error (`kpath … 2>&1 | head` once `head` has
/// gone) ends each command quietly: exit 0 after output it could not write, exit 2 for an
/// error it could not say, never a panic (101). The pipe's reading end is closed before the
/// command starts, so every write fails, deterministically.
#[test]
fn a_closed_pipe_ends_every_command_quietly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = small_trace(dir.path());
    let t = trace.to_str().expect("utf8");
    let run = |args: &[&str]| {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let status = Command::new(env!("CARGO_BIN_EXE_kpath"))
            .args(args)
            .stdout(writer.try_clone().expect("clone"))
            .stderr(writer)
            .status()
            .expect("run kpath");
        status.code()
    };
    for args in [
        &["report", t][..],
        &["report", t, "--hist"],
        &["report", t, "--json"],
        &["tree", t],
        &["fold", t],
        &["export", t, "--format", "csv"],
        &["export", t, "--format", "jsonl"],
        &["export", t, "--format", "perfetto"],
        &["model", "--mean", "10", "--variance", "100", "--rho", "0.5"],
    ] {
        assert_eq!(run(args), Some(0), "kpath {args:?}");
    }
    assert_eq!(run(&["report", "/nonexistent.trace"]), Some(2));
}

/// Output lost for another reason than its reader leaving (a full disk: `/dev/full`) is an
/// error that says so, exit 2, not a quiet success.
#[test]
fn a_full_disk_on_standard_output_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = small_trace(dir.path());
    let t = trace.to_str().expect("utf8");
    for args in [
        &["report", t][..],
        &["export", t, "--format", "jsonl"],
        &["model", "--mean", "10", "--variance", "100", "--rho", "0.5"],
    ] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full");
        let out = Command::new(env!("CARGO_BIN_EXE_kpath"))
            .args(args)
            .stdout(full)
            .output()
            .expect("run kpath");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "kpath {args:?}: {err}");
        assert!(
            err.contains("No space left on device"),
            "kpath {args:?}: {err}"
        );
    }
}
