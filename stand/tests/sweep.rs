//! A tiny sweep end to end: cells, CSV, JSON, the summary and plots.

use std::path::Path;
use std::time::Duration;

use kpath_stand::sweep::{self, CellResult, SweepPlan};

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
        timeout: Duration::from_secs(1),
        server_exe: BIN.into(),
    };
    let results = sweep::run(&plan, || false).expect("sweep");
    assert_eq!(results.len(), 4);
    for r in &results {
        assert_eq!(r.received, 300, "{r:?}");
        assert!(r.throughput_per_s > 0.0);
        assert!(r.peak_rss_kb > 0, "{r:?}");
        // One worker thread serves; the server's other threads wait.
        let cpu = r.cpu_pct.expect("server CPU measured");
        assert!(cpu > 0.0 && cpu < 150.0, "{r:?}");
        let cpu_s = r.cpu_s.expect("server CPU measured");
        assert!(
            cpu_s > 0.0 && r.load_s > 0.0 && r.load_s <= r.elapsed_s,
            "{r:?}"
        );
        assert!((cpu_s / r.load_s * 100.0 - cpu).abs() < 1e-6, "{r:?}");
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
    let summary = std::fs::read_to_string(dir.path().join("summary.csv")).expect("summary");
    assert_eq!(summary.lines().count(), 5, "{summary}");
    assert!(
        summary.starts_with("busy_us,size,clients,runs,"),
        "{summary}"
    );
    if plots {
        for ext in ["png", "gp", "dat", "data/0/0.bin"] {
            let p = dir.path().join(format!("sweep-busy0us.{ext}"));
            assert!(
                p.metadata().map(|m| m.len() > 0).unwrap_or(false),
                "{}",
                p.display()
            );
        }
    }
}

fn cell(busy_us: f64, size: usize, clients: u32, repeat: u32) -> CellResult {
    let c = f64::from(clients);
    CellResult {
        busy_us,
        size,
        clients,
        repeat,
        sent: 1000,
        received: 1000,
        lost: 0,
        throughput_per_s: 10_000.0 * c.sqrt() + f64::from(repeat),
        rtt_mean_us: 20.0 * c,
        rtt_p50_us: 18.0 * c,
        rtt_p90_us: 30.0 * c,
        rtt_p99_us: 45.0 * c,
        rtt_p999_us: 60.0 * c,
        rtt_max_us: 90.0 * c,
        cpu_pct: Some(50.0),
        cpu_s: Some(0.05),
        load_s: 0.1,
        peak_rss_kb: 4096,
        elapsed_s: 0.1,
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("ls") {
        let e = e.expect("entry");
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if e.file_type().expect("type").is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).expect("copy");
        }
    }
}

/// The sweep's figures, from synthetic cells: every `.gp` redraws its PNG by hand in a copy of
/// the output directory, the original gone.
#[test]
fn sweep_plots_rerun_from_a_copy_of_the_directory() {
    if !kpath_plot::gnuplot_available() {
        eprintln!("SKIPPED: gnuplot is not installed (`cargo xtask setup` installs it)");
        return;
    }
    let mut results = Vec::new();
    for busy in [0.0, 2.5] {
        for size in [1, 256, 1400] {
            for clients in [1, 4, 16] {
                for repeat in 0..2 {
                    results.push(cell(busy, size, clients, repeat));
                }
            }
        }
    }
    let d = tempfile::tempdir().expect("tempdir");
    let out = d.path().join("sweep");
    sweep::write_outputs(&results, &out, true, &kpath_cli::Output::new(false))
        .expect("write outputs");
    let names = ["sweep-busy0us", "sweep-busy2.5us"];
    for name in names {
        let gp = std::fs::read_to_string(out.join(format!("{name}.gp"))).expect("gp");
        assert!(
            gp.contains(&format!("\"{name}.data/0/0.bin\"")) && gp.contains("set multiplot"),
            "{gp}"
        );
        // Two panels: throughput, one line per size on one axis; RTT p50 and p99 per size.
        let plots: Vec<&str> = gp.lines().filter(|l| l.starts_with("plot ")).collect();
        assert_eq!(plots.len(), 2, "{gp}");
        assert_eq!(plots[0].matches(" binary ").count(), 3, "{gp}");
        assert_eq!(plots[1].matches(" binary ").count(), 6, "{gp}");
        for size in [1, 256, 1400] {
            assert!(plots[0].contains(&format!("t \"{size} B\"")), "{gp}");
            assert!(plots[1].contains(&format!("t \"{size} B p99\"")), "{gp}");
        }
        // Clients on a log scale in both panels, RTT on a log scale.
        let set = |axis: &str| {
            gp.lines()
                .filter(|l| l.starts_with(&format!("set logscale {axis} ")))
                .count()
        };
        assert_eq!((set("x"), set("y")), (2, 1), "{gp}");
        assert!(!gp.contains(d.path().to_str().expect("utf-8")), "{gp}");
        let dat = std::fs::read_to_string(out.join(format!("{name}.dat"))).expect("dat");
        // Repeats averaged: 3 sizes × 3 client counts.
        assert_eq!(
            dat.lines()
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .count(),
            9
        );
    }
    let copy = d.path().join("elsewhere/copy");
    copy_tree(&out, &copy);
    std::fs::remove_dir_all(&out).expect("rm original");
    let mut rerun = 0;
    for e in std::fs::read_dir(&copy).expect("ls") {
        let gp = e.expect("entry").path();
        if gp.extension().is_none_or(|x| x != "gp") {
            continue;
        }
        let png = gp.with_extension("png");
        std::fs::remove_file(&png).expect("rm image");
        kpath_plot::run_gnuplot(&copy, &gp).expect("rerun");
        assert!(
            png.metadata().is_ok_and(|m| m.len() > 1000),
            "{} not redrawn",
            png.display()
        );
        rerun += 1;
    }
    assert_eq!(rerun, names.len());
}
