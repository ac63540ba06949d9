//! Records out of time order within their call stacks (a writer that drains per CPU): a task
//! that migrates mid-call leaves its entry in one CPU's buffer and its exit in another's. The
//! analysis must give the same answer as for the records in time order.

use std::path::Path;

use kpath_analysis::{analyze_file, AnalysisOptions, Results};

use crate::util::{Ctx, TraceBuilder};

const NAMES: [&str; 3] = ["tp:sys_sendto", "udp_sendmsg", "tp:net_rx_softirq"];

/// `n` sends by task 7, each entered on CPU 0 and, after a migration, left on CPU 1, and a
/// softirq on each CPU between them. `per_cpu` writes CPU 1's records first, then CPU 0's,
/// as a writer that drains one buffer per CPU would.
fn trace(dir: &Path, name: &str, n: u64, per_cpu: bool) -> std::path::PathBuf {
    let mut b = TraceBuilder::new(&NAMES);
    let task = Ctx::Proc(0, 7);
    let moved = Ctx::Proc(1, 7);
    for i in 0..n {
        let t = 10_000 * i;
        b.enter(task, "tp:sys_sendto", 0, t + 100);
        b.enter(task, "udp_sendmsg", 1, t + 200);
        b.enter(Ctx::Soft(0), "tp:net_rx_softirq", 0, t + 300);
        b.exit(Ctx::Soft(0), "tp:net_rx_softirq", 0, t + 700, 400, 0);
        b.exit_migrated(moved, "udp_sendmsg", 1, t + 1_200 + i, 1_000 + i);
        b.exit_migrated(moved, "tp:sys_sendto", 0, t + 1_500 + i, 1_400 + i);
        b.enter(Ctx::Soft(1), "tp:net_rx_softirq", 0, t + 2_000);
        b.exit(Ctx::Soft(1), "tp:net_rx_softirq", 0, t + 2_500, 500, 0);
    }
    if per_cpu {
        let (cpu1, cpu0): (Vec<_>, Vec<_>) = b.events.iter().partition(|e| e.cpu == 1);
        b.events = cpu1.into_iter().chain(cpu0).collect();
    }
    b.write(&dir.join(name))
}

fn analyze(path: &Path) -> Results {
    let options = AnalysisOptions {
        filter: kpath_analysis::Filter::None,
        ..AnalysisOptions::default()
    };
    analyze_file(path, &options).expect("analyze")
}

#[test]
fn a_migration_drained_out_of_order_gives_the_in_order_answer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = 50;
    let in_order = analyze(&trace(dir.path(), "ordered.trace", n, false));
    let drained = analyze(&trace(dir.path(), "per-cpu.trace", n, true));

    assert_eq!(in_order.trace.reordered, None);
    assert_eq!(in_order.anomalies, Default::default());
    let reordered = drained
        .trace
        .reordered
        .expect("the analysis says it sorted");
    assert!(reordered.out_of_order > 0, "{reordered:?}");
    // After sorting: no anomaly, and every figure as in time order.
    assert_eq!(drained.anomalies, Default::default());
    assert_eq!(
        serde_json::to_value(&drained.functions).expect("json"),
        serde_json::to_value(&in_order.functions).expect("json")
    );
    assert_eq!(
        serde_json::to_value(&drained.stages).expect("json"),
        serde_json::to_value(&in_order.stages).expect("json")
    );
    let send = in_order
        .functions
        .iter()
        .find(|f| f.function == "udp_sendmsg")
        .expect("udp_sendmsg");
    assert_eq!((send.calls, send.depth_from_root), (n, 1));
}

/// Read as stored, the same records break the trees: what the sorting repairs.
#[test]
fn as_stored_the_per_cpu_order_breaks_the_trees() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = trace(dir.path(), "per-cpu.trace", 20, true);
    let reader = kpath_trace::TraceReader::open(&path).expect("open");
    let r = kpath_analysis::analyze_reader(reader, &path, &AnalysisOptions::default())
        .expect("analyze");
    assert!(r.anomalies.out_of_order > 0);
    assert!(r.anomalies.unmatched_exits > 0, "{:?}", r.anomalies);
    assert_eq!(r.trace.reordered, None);
}

/// `fold` (a visit) sorts too, and says so.
#[test]
fn fold_of_a_per_cpu_trace_sorts_and_warns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ordered = trace(dir.path(), "ordered.trace", 10, false);
    let drained = trace(dir.path(), "per-cpu.trace", 10, true);
    let fold = |p: &Path| crate::cli::kpath(&["fold", p.to_str().expect("utf8")]);
    let (ok, want, err) = fold(&ordered);
    assert!(ok, "{err}");
    assert!(!err.contains("out of time order"), "{err}");
    let (ok, got, err) = fold(&drained);
    assert!(ok, "{err}");
    assert_eq!(got, want);
    assert!(
        err.contains("out of time order") && err.contains("sorted"),
        "{err}"
    );
}

/// Every command that reads records says when some did not nest, not only `report`.
#[test]
fn every_command_warns_of_records_that_do_not_nest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut b = TraceBuilder::new(&NAMES);
    let task = Ctx::Proc(0, 7);
    b.enter(task, "tp:sys_sendto", 0, 100);
    b.exit(task, "tp:sys_sendto", 0, 200, 100, 0);
    // An exit whose entry was lost.
    b.exit(task, "udp_sendmsg", 1, 300, 50, 0);
    let path = b.write(&dir.path().join("unnested.trace"));
    let p = path.to_str().expect("utf8");
    let out = dir.path().join("out.svg");
    for args in [
        vec!["report", p],
        vec!["tree", p],
        vec!["fold", p],
        vec!["export", p, "--format", "csv"],
        vec!["flame", p, "-o", out.to_str().expect("utf8")],
    ] {
        let (ok, _, err) = crate::cli::kpath(&args);
        assert!(ok, "{args:?}: {err}");
        assert!(
            err.contains("did not nest") && err.contains("1 unmatched exits"),
            "{args:?}: {err}"
        );
    }
}
