//! A tiny sweep end to end: cells, CSV, JSON and plots.

use std::time::Duration;

use kpath_stand::sweep::{self, SweepPlan};

use crate::util::BIN;

#[test]
fn small_sweep_writes_csv_json_and_plots() {
    let plan = SweepPlan {
        clients: vec![1, 4],
        sizes: vec![1, 256],
        busy_us: vec![0.0],
        repeat: 1,
        count: 300,
        duration: Duration::from_secs(10),
        warmup: 20,
        workers: 1,
        sample_interval: Duration::from_millis(20),
        timeout: Duration::from_secs(1),
        server_exe: BIN.into(),
    };
    let results = sweep::run(&plan, || false).expect("sweep");
    assert_eq!(results.len(), 4);
    for r in &results {
        assert_eq!(r.received, 300, "{r:?}");
        assert!(r.throughput_per_s > 0.0);
        assert!(r.peak_rss_kb > 0, "{r:?}");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let plots = std::process::Command::new("gnuplot")
        .arg("--version")
        .output()
        .is_ok();
    if !plots {
        eprintln!("gnuplot not installed: checking CSV and JSON only");
    }
    sweep::write_outputs(&results, dir.path(), plots, &kpath_cli::Output::new(false))
        .expect("write outputs");
    let csv = std::fs::read_to_string(dir.path().join("sweep.csv")).expect("csv");
    assert_eq!(csv.lines().count(), 5);
    assert!(dir.path().join("sweep.json").exists());
    if plots {
        for ext in ["png", "gp", "dat"] {
            let p = dir.path().join(format!("sweep-busy0us.{ext}"));
            assert!(
                p.metadata().map(|m| m.len() > 0).unwrap_or(false),
                "{}",
                p.display()
            );
        }
    }
}
