//! Stats-mode traces (`kpath-probe record --mode stats`): 0 records, per-function sums in the
//! metadata field `kernel_stats`, with hand-computed answers.

use std::path::{Path, PathBuf};

use kpath_analysis::kernel_stats::{approx_quantile, VarianceStatus, HIST_BUCKETS};
use kpath_analysis::{analyze_file, AnalysisOptions, Error, Results};
use serde_json::{json, Value};

use crate::cli::kpath;
use crate::util::TraceBuilder;

fn hist(buckets: &[(usize, u64)]) -> Vec<u64> {
    let mut h = vec![0u64; HIST_BUCKETS];
    for &(b, c) in buckets {
        h[b] = c;
    }
    h
}

fn moments(count: u64, sum: u64, sum_sq: u64, min: u64, max: u64) -> Value {
    json!({"count": count, "sum_ns": sum, "sum_sq_ns": sum_sq, "min_ns": min, "max_ns": max})
}

const NAMES: [&str; 5] = [
    "udp_sendmsg",
    "ip_output",
    "ip_finish_output",
    "dev_queue_xmit",
    "kfree_skb",
];

/// The `kernel_stats` value of the stats-mode trace used below.
fn kernel_stats_value() -> Value {
    json!({
        "mode": "stats",
        "histogram": "log2 of ns: bucket b (0..63) counts durations d with 2^(b-1) <= d < 2^b; bucket 0 counts d = 0",
        "functions": [
            // The example of the brief: mean 5000, variance (2.6e10 − 2.5e10)/999.
            {"id": 0, "name": "udp_sendmsg",
             "clean": moments(1000, 5_000_000, 26_000_000_000, 3000, 9000),
             "interrupted": moments(12, 90_000, 700_000_000, 4000, 20_000),
             "hist_clean": hist(&[(12, 400), (13, 500), (14, 100)])},
            // Percentiles at exact powers: p50 = 1024·√2, p90 = 2048·2^0.75, p99 clamped.
            {"id": 1, "name": "ip_output",
             "clean": moments(100, 180_000, 400_000_000, 600, 4000),
             "interrupted": moments(0, 0, 0, 0, 0),
             "hist_clean": hist(&[(10, 40), (11, 20), (12, 40)])},
            // Three ~5 s samples: Σd² > 2^64 − 1, so the kernel saturated it.
            {"id": 2, "name": "ip_finish_output",
             "clean": moments(3, 16_000_000_000, u64::MAX, 5_000_000_000, 6_000_000_000),
             "interrupted": moments(0, 0, 0, 0, 0),
             "hist_clean": hist(&[(33, 3)])},
            // Every sample interrupted: min/max of the clean class are garbage and ignored.
            {"id": 3, "name": "dev_queue_xmit",
             "clean": moments(0, 0, 0, u64::MAX, 0),
             "interrupted": moments(2, 3000, 5_000_000, 1000, 2000),
             "hist_clean": hist(&[])},
            // One sample: no variance.
            {"id": 4, "name": "kfree_skb",
             "clean": moments(1, 700, 490_000, 700, 700),
             "interrupted": moments(0, 0, 0, 0, 0),
             "hist_clean": hist(&[(10, 1)])}
        ]
    })
}

fn stats_trace_with(dir: &Path, ks: Value) -> PathBuf {
    let mut b = TraceBuilder::new(&NAMES);
    b.meta.extra.insert("kernel_stats".into(), ks);
    b.meta
        .extra
        .insert("mode".into(), Value::String("stats".into()));
    b.write(&dir.join("stats.trace"))
}

fn stats_trace(dir: &Path) -> PathBuf {
    stats_trace_with(dir, kernel_stats_value())
}

fn analyze(path: &Path) -> Results {
    analyze_file(path, &AnalysisOptions::default()).expect("analyze")
}

#[test]
fn moments_and_counts_are_exact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = analyze(&stats_trace(dir.path()));
    assert_eq!(r.trace.records, 0);
    assert!(r.trace.finalised);
    assert!(r.is_stats_mode());
    assert!(r.functions.is_empty() && r.trees.is_empty() && r.stages.is_empty());
    // The aggregates have their own section, not a note.
    assert!(!r.trace.notes.contains_key("kernel_stats"));
    assert_eq!(r.trace.notes.get("mode"), Some(&json!("stats")));
    let k = r.kernel_stats.as_ref().expect("kernel_stats");
    assert_eq!(k.mode, "stats");
    assert!(k.histogram.starts_with("log2 of ns"));
    assert_eq!(k.functions.len(), 5);

    let f = &k.functions[0];
    assert_eq!(f.function, "udp_sendmsg");
    assert_eq!(f.mechanism, "kprobe");
    assert_eq!((f.calls, f.samples, f.dropped), (1012, 1000, 12));
    assert_eq!(f.mean, Some(5000.0));
    assert_eq!(f.variance_status, VarianceStatus::Known);
    // (Σd² − (Σd)²/n)/(n − 1) = (2.6e10 − 2.5e10)/999.
    let var = 1e9 / 999.0;
    assert_eq!(f.variance, Some(var));
    close!(var.sqrt(), f.std_dev.expect("std"), 1e-15);
    close!(var / 25e6, f.cv2.expect("cv2"), 1e-15);
    assert_eq!((f.min, f.max), (Some(3000.0), Some(9000.0)));
    let ci = kpath_analysis::stats::t_975(999) * var.sqrt() / 1000f64.sqrt();
    close!(ci, f.ci95.expect("ci95"), 1e-15);
    assert_eq!(f.interrupted_mean, Some(7500.0));
    assert!(!f.histogram_mismatch);
    // Histogram 12:400, 13:500, 14:100. p50: rank 500, 100/500 into [4096, 8192).
    let p50 = f.p50.expect("p50");
    close!(4096.0 * 0.2f64.exp2(), p50.value, 1e-15);
    assert_eq!((p50.lo, p50.hi), (4096.0, 8191.0));
    // p90: rank 900 is the last sample of bucket 13: its largest integer.
    assert_eq!(f.p90.expect("p90").value, 8191.0);
    // p99: 90/100 into bucket 14 is 8192·2^0.9 ≈ 15245, clamped to max 9000.
    let p99 = f.p99.expect("p99");
    assert_eq!((p99.value, p99.lo, p99.hi), (9000.0, 8192.0, 9000.0));

    let g = &k.functions[1];
    assert_eq!(g.mean, Some(1800.0));
    assert_eq!(g.variance, Some(76e6 / 99.0));
    assert_eq!((g.calls, g.dropped), (100, 0));
    assert_eq!(g.interrupted_mean, None);

    let z = &k.functions[3];
    assert_eq!((z.calls, z.samples, z.dropped), (2, 0, 2));
    assert_eq!((z.mean, z.min, z.max, z.p50), (None, None, None, None));
    assert_eq!(z.variance_status, VarianceStatus::TooFewSamples);
    assert_eq!(z.interrupted_mean, Some(1500.0));

    let one = &k.functions[4];
    assert_eq!(one.mean, Some(700.0));
    assert_eq!(one.variance, None);
    assert_eq!(one.variance_status, VarianceStatus::TooFewSamples);
    // One sample in [512, 1024), clamped to [min, max] = 700: exact.
    assert_eq!(one.p50.expect("p50").value, 700.0);
}

#[test]
fn percentiles_from_a_hand_made_histogram() {
    let h = hist(&[(10, 40), (11, 20), (12, 40)]);
    // Unclamped: p50 is rank 50, 10 of the 20 samples of [1024, 2048): 1024·2^0.5.
    let p = approx_quantile(&h, 0.5, None, None).expect("p50");
    close!(1024.0 * std::f64::consts::SQRT_2, p.value, 1e-15);
    assert_eq!((p.lo, p.hi), (1024.0, 2047.0));
    // p90: rank 90, 30 of 40 into [2048, 4096): 2048·2^0.75.
    let p = approx_quantile(&h, 0.9, None, None).expect("p90");
    close!(2048.0 * 0.75f64.exp2(), p.value, 1e-15);
    // Rank 40 is the last sample of bucket 10: its upper bound.
    assert_eq!(
        approx_quantile(&h, 0.4, None, None).map(|p| p.value),
        Some(1023.0)
    );
    // q = 0 is the first sample: 2^(1/40) into bucket 10.
    close!(
        512.0 * (1.0f64 / 40.0).exp2(),
        approx_quantile(&h, 0.0, None, None).expect("p0").value,
        1e-15
    );
    // Clamped to [min, max] = [600, 4000], as in the trace above.
    let dir = tempfile::tempdir().expect("tempdir");
    let r = analyze(&stats_trace(dir.path()));
    let g = &r.kernel_stats.as_ref().expect("ks").functions[1];
    close!(
        1024.0 * std::f64::consts::SQRT_2,
        g.p50.expect("p").value,
        1e-15
    );
    close!(2048.0 * 0.75f64.exp2(), g.p90.expect("p").value, 1e-15);
    let p99 = g.p99.expect("p99");
    assert_eq!((p99.value, p99.lo, p99.hi), (4000.0, 2048.0, 4000.0));
    // An empty histogram has no percentiles.
    assert!(approx_quantile(&hist(&[]), 0.5, None, None).is_none());
}

#[test]
fn saturated_sum_of_squares_means_unknown_variance() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = analyze(&stats_trace(dir.path()));
    let k = r.kernel_stats.as_ref().expect("ks");
    let f = &k.functions[2];
    assert_eq!(f.function, "ip_finish_output");
    assert_eq!(f.variance_status, VarianceStatus::Saturated);
    assert_eq!(
        (f.variance, f.std_dev, f.cv2, f.ci95),
        (None, None, None, None)
    );
    close!(16e9 / 3.0, f.mean.expect("mean"), 1e-15);
    assert_eq!((f.min, f.max), (Some(5e9), Some(6e9)));
    assert!(
        k.notes
            .iter()
            .any(|n| n.contains("ip_finish_output") && n.contains("saturated")),
        "{:?}",
        k.notes
    );
    // A saturated sum too: the mean is unknown as well.
    let mut v = kernel_stats_value();
    v["functions"][2]["clean"]["sum_ns"] = json!(u64::MAX);
    let d2 = tempfile::tempdir().expect("tempdir");
    let r = analyze(&stats_trace_with(d2.path(), v));
    let f = &r.kernel_stats.as_ref().expect("ks").functions[2];
    assert_eq!((f.mean, f.variance), (None, None));
    assert_eq!(f.variance_status, VarianceStatus::Saturated);
}

/// Breaks one field of a `kernel_stats` value.
type Breaker = Box<dyn Fn(&mut Value)>;

#[test]
fn malformed_kernel_stats_names_the_field() {
    let cases: Vec<(Breaker, &str)> = vec![
        (
            Box::new(|v| v["functions"][1]["clean"]["count"] = json!("many")),
            "kernel_stats.functions[1].clean.count",
        ),
        (
            Box::new(|v| {
                v["functions"][0]["interrupted"]
                    .as_object_mut()
                    .expect("obj")
                    .remove("sum_sq_ns");
            }),
            // serde names the object that lacks the field, and the field in its message.
            "kernel_stats.functions[0].interrupted | missing field `sum_sq_ns`",
        ),
        (
            Box::new(|v| v["functions"][0]["hist_clean"] = json!([1, 2, 3])),
            "kernel_stats.functions[0].hist_clean",
        ),
        (
            Box::new(|v| v["functions"][0]["hist_clean"][7] = json!(-1)),
            "kernel_stats.functions[0].hist_clean[7]",
        ),
        (
            Box::new(|v| v["functions"][1]["name"] = json!("ip_rcv")),
            "kernel_stats.functions[1].name",
        ),
        (
            Box::new(|v| v["functions"][1]["id"] = json!(99)),
            "kernel_stats.functions[1].id",
        ),
        (
            // Σd² below (Σd)²/n: no samples give that.
            Box::new(|v| v["functions"][0]["clean"]["sum_sq_ns"] = json!(1_000_000)),
            "kernel_stats.functions[0].clean.sum_sq_ns",
        ),
        (
            Box::new(|v| v["functions"][0]["clean"]["min_ns"] = json!(10_000)),
            "kernel_stats.functions[0].clean.min_ns",
        ),
        (
            Box::new(|v| v["mode"] = json!("records")),
            "kernel_stats.mode",
        ),
        (
            Box::new(|v| v["functions"] = json!({})),
            "kernel_stats.functions",
        ),
        // serde reads a struct from an array too: the error names its first element.
        (Box::new(|v| *v = json!([1])), "kernel_stats[0]"),
    ];
    for (i, (break_it, field)) in cases.iter().enumerate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut v = kernel_stats_value();
        break_it(&mut v);
        let path = stats_trace_with(dir.path(), v);
        let err = analyze_file(&path, &AnalysisOptions::default()).expect_err("malformed");
        // The trace reader refuses the metadata, naming the field.
        let Error::Trace { source, .. } = &err else {
            panic!("case {i}: unexpected error {err:?}");
        };
        let text = format!(
            "{source}: {}",
            std::error::Error::source(source).map_or(String::new(), |s| s.to_string())
        );
        // The field's path in backquotes, then any other words the message must hold.
        let mut parts = field.split(" | ");
        let path = parts.next().unwrap_or_default();
        assert!(
            text.contains(&format!("`{path}`")),
            "case {i}: {path}: {text}"
        );
        for part in parts {
            assert!(text.contains(part), "case {i}: {part}: {text}");
        }
    }
    // The CLI prints the field too, and fails.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut v = kernel_stats_value();
    v["functions"][1]["clean"]["count"] = json!("many");
    let path = stats_trace_with(dir.path(), v);
    let (ok, _, err) = kpath(&["report", path.to_str().expect("utf8")]);
    assert!(!ok);
    assert!(
        err.contains("kernel_stats.functions[1].clean.count") && err.contains("stats.trace"),
        "{err}"
    );
}

#[test]
fn absent_field_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = crate::calltree::small_trace(dir.path());
    let r = analyze(&path);
    assert!(r.kernel_stats.is_none() && !r.is_stats_mode());
    let text = serde_json::to_string(&r).expect("json");
    assert!(!text.contains("kernel_stats"));
    let meta = kpath_trace::TraceReader::open(&path)
        .expect("open")
        .metadata()
        .clone();
    assert_eq!(meta.kernel_stats, None);
    assert!(!meta.is_stats_mode());
}

#[test]
fn cli_report_analyze_tree_on_a_stats_trace() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = stats_trace(dir.path());
    let t = path.to_str().expect("utf8");

    // In ns, to compare with the sums by hand; the default auto-scales (checked below).
    let (ok, out, err) = kpath(&["report", t, "--unit", "ns"]);
    assert!(ok, "{err}");
    assert!(out.contains("0 records, kernel 6.1.0-test"), "{out}");
    assert!(out.contains("lost events: none"), "{out}");
    assert!(
        out.contains(
            "== per function (aggregated in the kernel, --mode stats: no call trees or stages) =="
        ),
        "{out}"
    );
    assert!(!out.contains("== per chain"), "{out}");
    // udp_sendmsg: calls, kept, dropped, mean, then the distribution with p50~ ≈ 4705.
    let row = out
        .lines()
        .find(|l| l.starts_with("udp_sendmsg") && l.contains("1012"))
        .unwrap_or_else(|| panic!("{out}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        &cells[..5],
        ["udp_sendmsg", "1012", "1000", "12", "5000"],
        "{row}"
    );
    assert!(out.contains("p50~"), "{out}");
    let dist = out
        .lines()
        .filter(|l| l.starts_with("udp_sendmsg"))
        .nth(1)
        .unwrap_or_else(|| panic!("{out}"));
    let cells: Vec<&str> = dist.split_whitespace().collect();
    assert_eq!(
        cells,
        [
            "udp_sendmsg",
            "3000",
            "4705",
            "8191",
            "9000",
            "9000",
            "7500"
        ]
    );
    let sat = out
        .lines()
        .find(|l| l.starts_with("ip_finish_output"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(sat.contains('?'), "{sat}");
    assert!(out.contains("saturated"), "{out}");
    assert!(out.contains("geometric interpolation"), "{out}");
    assert!(
        out.lines().all(|l| l.chars().count() <= 100),
        "line over 100 columns:\n{out}"
    );

    // By default each time is in the unit that suits it: 5000 ns is 5.00 µs.
    let (ok, out, err) = kpath(&["report", t]);
    assert!(ok, "{err}");
    let row = out
        .lines()
        .find(|l| l.starts_with("udp_sendmsg") && l.contains("1012"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(row.contains("5.00 µs"), "{row}");
    assert!(
        out.contains("times in the unit that suits each value"),
        "{out}"
    );
    assert!(
        out.lines().all(|l| l.chars().count() <= 100),
        "line over 100 columns:\n{out}"
    );
    let (ok, _, err) = kpath(&["report", t, "--csv", "--unit", "auto"]);
    assert!(
        !ok && err.contains("--unit auto does not apply to CSV"),
        "{err}"
    );

    let (ok, out, err) = kpath(&["report", t, "--csv"]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1 + 5);
    assert_eq!(
        lines[0],
        kpath_analysis::report::csv::KERNEL_COLUMNS.join(",")
    );
    assert!(
        lines[1].starts_with("udp_sendmsg,kprobe,1012,1000,12,5000,"),
        "{}",
        lines[1]
    );
    assert!(lines[3].contains(",saturated,"), "{}", lines[3]);

    let (ok, out, err) = kpath(&["report", t, "--json"]);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["kernel_stats"]["functions"][0]["mean"], 5000.0);
    assert_eq!(v["kernel_stats"]["functions"][2]["variance"], Value::Null);
    assert_eq!(
        v["kernel_stats"]["functions"][2]["variance_status"],
        "saturated"
    );

    // Ticks at 2000 MHz, in the CSV: times ×2, variance ×4 (the JSON stays in ns).
    let (ok, out, err) = kpath(&["report", t, "--csv", "--unit", "ticks", "--cpu-mhz", "2000"]);
    assert!(ok, "{err}");
    let mut lines = out.lines();
    let head: Vec<&str> = lines.next().expect("header").split(',').collect();
    let row: Vec<&str> = lines.next().expect("row").split(',').collect();
    let cell = |name: &str| -> &str { row[head.iter().position(|c| *c == name).expect("column")] };
    assert_eq!(cell("mean"), "10000");
    assert_eq!(cell("max"), "18000");
    assert_eq!(cell("p99"), "18000");
    assert_eq!(cell("unit"), "ticks");
    close!(
        4e9 / 999.0,
        cell("variance").parse::<f64>().expect("variance"),
        1e-15
    );

    let results = dir.path().join("results.json");
    let (ok, _, err) = kpath(&["analyze", t, "-o", results.to_str().expect("utf8")]);
    assert!(ok, "{err}");
    let r = Results::load(&results).expect("load");
    let k = r.kernel_stats.expect("kernel_stats");
    assert_eq!(k.functions[1].variance, Some(76e6 / 99.0));
    assert_eq!(k.functions[0].hist_clean[13], 500);

    // Options that cannot apply are said so.
    let (ok, out, _) = kpath(&["report", t, "--filter", "none"]);
    assert!(ok);
    assert!(out.contains("--filter none does not apply"), "{out}");

    // No call trees: a clear error.
    let (ok, out, err) = kpath(&["tree", t]);
    assert!(!ok);
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("stats-mode trace") && err.contains("no call trees"),
        "{err}"
    );
    for cmd in ["fold", "export"] {
        let (ok, _, err) = kpath(&[cmd, t]);
        assert!(!ok, "{cmd}");
        assert!(err.contains("stats-mode trace"), "{cmd}: {err}");
    }
}

/// A trace without records (stats mode) has no depth to plot; `kpath html` used to fail on
/// it because gnuplot refuses a plot whose points are all undefined.
#[test]
fn html_report_of_a_stats_trace() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = stats_trace(dir.path());
    let results = dir.path().join("results.json");
    let out = dir.path().join("report");
    let (ok, _, err) = crate::cli::kpath(&[
        "analyze",
        trace.to_str().expect("utf-8"),
        "-o",
        results.to_str().expect("utf-8"),
    ]);
    assert!(ok, "analyze: {err}");
    let (ok, _, err) = crate::cli::kpath(&[
        "html",
        results.to_str().expect("utf-8"),
        "-o",
        out.to_str().expect("utf-8"),
    ]);
    assert!(ok, "html on a stats-mode trace: {err}");
    let index = std::fs::read_to_string(out.join("index.html")).expect("index.html");
    assert!(index.contains("id=\"metadata\""));
    assert!(
        !out.join("depth.png").exists(),
        "no depth figure without trees"
    );
}
