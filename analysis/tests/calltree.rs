//! Exact answers on a hand-built trace: trees, depths, durations, interrupted samples, chains.

use std::path::{Path, PathBuf};

use kpath_analysis::results::{FunctionResult, LevelOrigin, Results};
use kpath_analysis::{analyze_file, AnalysisOptions, Clock, Filter, Stage};

use crate::util::{Ctx, TraceBuilder};

/// Three receive invocations (two shapes, one hit by an IRQ) and two send invocations (one
/// hit by a context switch, its task switched out for 20 of its 50 ns). Expected values are
/// worked out in the comments of each test, on the wall clock unless a test says otherwise.
pub fn small_trace(dir: &Path) -> PathBuf {
    let mut b = TraceBuilder::new(&[
        "net_rx_action",
        "ip_rcv",
        "udp_rcv",
        "kfree_skb",
        "udp_sendmsg",
    ]);
    let s0 = Ctx::Soft(0);
    b.enter(s0, "net_rx_action", 0, 1000)
        .enter(s0, "ip_rcv", 1, 1010)
        .enter(s0, "udp_rcv", 2, 1020)
        .exit(s0, "udp_rcv", 2, 1050, 30, 0)
        .exit(s0, "ip_rcv", 1, 1070, 60, 0)
        .enter(s0, "kfree_skb", 1, 1080)
        .exit(s0, "kfree_skb", 1, 1090, 10, 0)
        .exit(s0, "net_rx_action", 0, 1100, 100, 0);
    b.enter(s0, "net_rx_action", 0, 2000)
        .enter(s0, "ip_rcv", 1, 2010)
        .enter(s0, "udp_rcv", 2, 2020)
        .exit(s0, "udp_rcv", 2, 2070, 50, 20)
        .exit(s0, "ip_rcv", 1, 2090, 80, 20)
        .enter(s0, "kfree_skb", 1, 2100)
        .exit(s0, "kfree_skb", 1, 2112, 12, 0)
        .exit(s0, "net_rx_action", 0, 2120, 120, 20);
    let s1 = Ctx::Soft(1);
    b.enter(s1, "net_rx_action", 0, 3000)
        .enter(s1, "ip_rcv", 1, 3010)
        .enter(s1, "udp_rcv", 2, 3020)
        .exit(s1, "udp_rcv", 2, 3060, 40, 0)
        .exit(s1, "ip_rcv", 1, 3070, 60, 0)
        .exit(s1, "net_rx_action", 0, 3090, 90, 0);
    let p = Ctx::Proc(2, 77);
    b.enter(p, "udp_sendmsg", 0, 4000)
        .enter(p, "kfree_skb", 1, 4010)
        .exit(p, "kfree_skb", 1, 4024, 14, 0)
        .exit_switched(p, "udp_sendmsg", 0, 4050, 50, 20);
    let p = Ctx::Proc(3, 77);
    b.enter(p, "udp_sendmsg", 0, 5000)
        .enter(p, "kfree_skb", 1, 5010)
        .exit(p, "kfree_skb", 1, 5026, 16, 0)
        .exit(p, "udp_sendmsg", 0, 5070, 70, 0);
    b.write(&dir.join("small.trace"))
}

fn analyze(filter: Filter) -> Results {
    analyze_on(filter, Clock::Wall)
}

fn analyze_on(filter: Filter, clock: Clock) -> Results {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = small_trace(dir.path());
    analyze_file(
        &path,
        &AnalysisOptions {
            filter,
            clock,
            // A hand-built trace of three invocations: its T is exact, however small.
            min_stage_samples: 1,
            ..AnalysisOptions::default()
        },
    )
    .expect("analyze")
}

fn func<'a>(r: &'a Results, stage: Stage, name: &str) -> &'a FunctionResult {
    r.functions
        .iter()
        .find(|f| f.stage == stage && f.function == name)
        .unwrap_or_else(|| panic!("no {stage} {name}"))
}

#[test]
fn per_function_durations_and_interrupted_drops() {
    let r = analyze(Filter::Interrupted);
    // net_rx_action: 100, 120 (IRQ: dropped), 90 → mean 95, variance ((5²+5²)/1) = 50.
    let f = func(&r, Stage::Rx, "net_rx_action");
    assert_eq!((f.calls, f.stats.samples, f.dropped), (3, 2, 1));
    assert_eq!(
        (
            f.interrupted.total,
            f.interrupted.hardirq,
            f.interrupted.switch
        ),
        (1, 1, 0)
    );
    close!(95.0, f.stats.mean, 1e-12);
    close!(50.0, f.stats.variance, 1e-12);
    close!(50.0 / 95.0 / 95.0, f.stats.cv2, 1e-12);
    assert_eq!((f.stats.min, f.stats.max), (90.0, 100.0));
    // udp_rcv: 30, 50 (IRQ of 20), 40 → kept 30, 40; net 30, 30, 40.
    let f = func(&r, Stage::Rx, "udp_rcv");
    close!(35.0, f.stats.mean, 1e-12);
    close!(100.0 / 3.0, f.net_mean, 1e-12);
    assert_eq!((f.depth_from_root, f.level_from_leaves), (2, 0));
    // kfree_skb in rx: 2 calls over 3 invocations.
    let f = func(&r, Stage::Rx, "kfree_skb");
    close!(2.0 / 3.0, f.k, 1e-12);
    close!(11.0, f.stats.mean, 1e-12);
    close!(2.0, f.stats.variance, 1e-12);
    // udp_sendmsg: 50 (context switch: dropped), 70.
    let f = func(&r, Stage::Tx, "udp_sendmsg");
    assert_eq!(
        (f.stats.samples, f.interrupted.switch, f.dropped),
        (1, 1, 1)
    );
    close!(70.0, f.stats.mean, 1e-12);
    close!(15.0, func(&r, Stage::Tx, "kfree_skb").stats.mean, 1e-12);
}

#[test]
fn filter_none_keeps_and_net_subtracts() {
    let r = analyze(Filter::None);
    close!(
        310.0 / 3.0,
        func(&r, Stage::Rx, "net_rx_action").stats.mean,
        1e-12
    );
    close!(40.0, func(&r, Stage::Rx, "udp_rcv").stats.mean, 1e-12);
    assert_eq!(func(&r, Stage::Rx, "udp_rcv").dropped, 0);
    let r = analyze(Filter::Net);
    // 30, 50 − 20, 40.
    close!(
        100.0 / 3.0,
        func(&r, Stage::Rx, "udp_rcv").stats.mean,
        1e-12
    );
    // The switched sample is still dropped: its off-CPU time is not measured.
    assert_eq!(func(&r, Stage::Tx, "udp_sendmsg").stats.samples, 1);
}

#[test]
fn on_cpu_clock_keeps_a_switched_call_without_its_time_away() {
    let r = analyze_on(Filter::Interrupted, Clock::OnCpu);
    assert_eq!(r.settings.clock, Clock::OnCpu);
    assert!(r.trace.off_cpu_recorded);
    // udp_sendmsg: 50 − 20 off the CPU = 30, and 70: both kept, a switch is no interruption.
    let f = func(&r, Stage::Tx, "udp_sendmsg");
    assert_eq!((f.stats.samples, f.dropped, f.interrupted.total), (2, 0, 0));
    close!(50.0, f.stats.mean, 1e-12);
    // One of its two calls blocked, 20 ns away: 10 ns per call.
    assert_eq!(f.blocked, 1);
    close!(10.0, f.off_cpu_mean, 1e-12);
    // T = T_rx + T_tx = 95 + 50.
    close!(145.0, r.service.as_ref().expect("service").mean, 1e-12);
    // The wall clock drops the switched call instead, and keeps its waiting statistics.
    let wall = analyze(Filter::Interrupted);
    let f = func(&wall, Stage::Tx, "udp_sendmsg");
    assert_eq!((f.stats.samples, f.dropped, f.blocked), (1, 1, 1));
    close!(10.0, f.off_cpu_mean, 1e-12);
}

#[test]
fn stages_service_time_and_normative() {
    let r = analyze(Filter::Interrupted);
    let rx = r.stage(Stage::Rx).expect("rx");
    assert_eq!(
        (rx.invocations, rx.complete_invocations, rx.stats.samples),
        (3, 3, 2)
    );
    close!(95.0, rx.stats.mean, 1e-12);
    close!(11.0 / 3.0, rx.calls_per_invocation, 1e-12);
    // plain average of t_j: (95 + 60 + 35 + 11)/4; normative = 95/(11/3).
    close!((95.0 + 60.0 + 35.0 + 11.0) / 4.0, rx.plain_average, 1e-12);
    close!(95.0 * 3.0 / 11.0, rx.normative_per_call, 1e-12);
    let tx = r.stage(Stage::Tx).expect("tx");
    close!(70.0, tx.stats.mean, 1e-12);
    close!(2.0, tx.calls_per_invocation, 1e-12);
    let service = r.service.as_ref().expect("service time");
    close!(165.0, service.mean, 1e-12);
    close!(50.0, service.variance, 1e-12);
    assert!(r.stage(Stage::Other).is_none());
    assert_eq!(r.common_functions, vec!["kfree_skb".to_string()]);
}

#[test]
fn trees_shapes_and_depths() {
    let r = analyze(Filter::Interrupted);
    let t = r.tree(Stage::Rx).expect("rx tree");
    assert_eq!(
        (
            t.invocations,
            t.max_depth,
            t.distinct_functions,
            t.distinct_shapes
        ),
        (3, 2, 4, 2)
    );
    assert_eq!(t.shapes[0].count, 2);
    assert_eq!(t.shapes[1].count, 1);
    assert_eq!(t.depth_by_call, vec![0, 1, 2, 1]);
    assert_eq!(
        t.chain_roots,
        vec!["net_rx_action".to_string(), "ip_rcv".to_string()]
    );
}

#[test]
fn chain_sums_experimental_vs_calculated() {
    let r = analyze(Filter::Interrupted);
    let c = r
        .chains
        .iter()
        .find(|c| c.root == "net_rx_action")
        .expect("chain");
    // Elements: ip_rcv (k 1, t 60, D 0) and kfree_skb (k 2/3, t 11, D 2).
    close!(60.0 + 2.0 / 3.0 * 11.0, c.calculated_mean, 1e-12);
    close!(2.0 / 3.0 * 2.0, c.calculated_variance, 1e-12);
    close!(95.0, c.experimental_mean, 1e-12);
    close!((60.0 + 22.0 / 3.0) / 95.0, c.ratio_mean, 1e-12);
    // Level 2 below the root: udp_rcv, k 1, t 35.
    assert_eq!(c.level_subtotals.len(), 2);
    close!(35.0, c.level_subtotals[1].mean, 1e-12);
    let c = r
        .chains
        .iter()
        .find(|c| c.root == "udp_sendmsg")
        .expect("tx chain");
    close!(15.0, c.calculated_mean, 1e-12);
    close!(2.0, c.calculated_variance, 1e-12);
}

#[test]
fn levels_from_leaves_and_root() {
    let r = analyze(Filter::Interrupted);
    let leaves0 = r
        .levels
        .iter()
        .find(|l| l.stage == Stage::Rx && l.from == LevelOrigin::Leaves && l.level == 0)
        .expect("level 0");
    assert_eq!(
        leaves0.functions,
        vec!["udp_rcv".to_string(), "kfree_skb".to_string()]
    );
    close!(5.0 / 3.0, leaves0.calls_per_invocation, 1e-12);
    close!(35.0 + 2.0 / 3.0 * 11.0, leaves0.sum_kt, 1e-12);
    let root1 = r
        .levels
        .iter()
        .find(|l| l.stage == Stage::Rx && l.from == LevelOrigin::Root && l.level == 1)
        .expect("root level 1");
    assert_eq!(
        root1.functions,
        vec!["ip_rcv".to_string(), "kfree_skb".to_string()]
    );
    // Kept samples at depth 1: ip_rcv 60, 60 (the 80 had an IRQ) and kfree_skb 10, 12.
    assert_eq!(root1.samples, 4);
    close!((60.0 + 60.0 + 10.0 + 12.0) / 4.0, root1.mean, 1e-12);
}

#[test]
fn golden_tree_text() {
    let r = analyze(Filter::Interrupted);
    let got = kpath_analysis::report::tree::trees(&r);
    let expected = include_str!("fixtures/tree_small.txt");
    eqnice!(expected, got);
}

#[test]
fn missing_exit_and_orphan_exit_are_counted_not_fatal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut b = TraceBuilder::new(&["net_rx_action", "ip_rcv"]);
    let s = Ctx::Soft(0);
    b.exit(s, "ip_rcv", 0, 10, 5, 0) // orphan: the trace began inside a call
        .enter(s, "net_rx_action", 0, 100)
        .enter(s, "ip_rcv", 1, 110) // its exit is lost
        .exit(s, "net_rx_action", 0, 200, 100, 0)
        .enter(s, "net_rx_action", 0, 300)
        .exit(s, "net_rx_action", 0, 350, 50, 0);
    let path = b.write(&dir.path().join("gaps.trace"));
    let r = analyze_file(&path, &AnalysisOptions::default()).expect("analyze");
    assert_eq!(r.anomalies.unmatched_exits, 1);
    assert_eq!(r.anomalies.unwound_calls, 1);
    assert_eq!(r.anomalies.broken_invocations, 1);
    let rx = r.stage(Stage::Rx).expect("rx");
    assert_eq!((rx.invocations, rx.complete_invocations), (2, 1));
    close!(75.0, rx.stats.mean, 1e-12);
    assert_eq!(r.tree(Stage::Rx).expect("tree").distinct_shapes, 1);
}

#[test]
fn custom_roots_reclassify() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = small_trace(dir.path());
    let mut opts = AnalysisOptions::default();
    opts.classifier.tx_roots = vec!["net_rx_action".into()];
    opts.classifier.rx_roots = vec![];
    let r = analyze_file(&path, &opts).expect("analyze");
    assert_eq!(r.stage(Stage::Tx).expect("tx").invocations, 3);
    assert_eq!(r.stage(Stage::Other).expect("other").invocations, 2);
}

#[test]
fn migration_is_an_interruption_cause() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut b = TraceBuilder::new(&["udp_sendmsg"]);
    let p = Ctx::Proc(0, 9);
    b.enter(p, "udp_sendmsg", 0, 100)
        .exit_migrated(p, "udp_sendmsg", 0, 200, 100)
        .enter(p, "udp_sendmsg", 0, 300)
        .exit(p, "udp_sendmsg", 0, 340, 40, 0);
    let path = b.write(&dir.path().join("mig.trace"));
    for filter in [Filter::Interrupted, Filter::Net] {
        let r = analyze_file(
            &path,
            &AnalysisOptions {
                filter,
                ..AnalysisOptions::default()
            },
        )
        .expect("analyze");
        let f = func(&r, Stage::Tx, "udp_sendmsg");
        assert_eq!(
            (f.interrupted.migration, f.dropped, f.stats.samples),
            (1, 1, 1)
        );
        close!(40.0, f.stats.mean, 1e-12);
    }
}

/// `--subtract-probe-cost` never drives a sample below zero silently: with a calibrated pair
/// of 16 ns, the `kfree_skb` calls of 10 and 12 ns (receive) and 14 ns (send), which have no
/// probed callees, would go negative and are clamped and counted; the 16 ns one becomes
/// exactly 0 and is not clamped; every other call, minus 16 ns per probe pair inside it,
/// stays positive.
#[test]
fn subtracting_the_probe_cost_counts_clamped_samples() {
    use kpath_analysis::report::{text::Text, Report};
    use kpath_trace::{Mechanism, ProbeCost, TraceReader};

    let dir = tempfile::tempdir().expect("tempdir");
    let plain = small_trace(dir.path());
    let mut meta = TraceReader::open(&plain).expect("open").metadata().clone();
    meta.probe_cost = vec![ProbeCost {
        mechanism: Mechanism::Kprobe,
        mean_ns: 16.0,
        variance_ns2: 1.0,
        samples: 100,
        median_ns: Some(16.0),
        bare: None,
        caller: None,
    }];
    let events: Vec<_> = TraceReader::open(&plain)
        .expect("open")
        .events()
        .map(|e| e.expect("record"))
        .collect();
    let path = dir.path().join("calibrated.trace");
    let mut w = kpath_trace::TraceWriter::create(&path, meta).expect("create");
    for e in &events {
        w.write_event(e).expect("write");
    }
    w.finish(|_| {}).expect("finish");

    let r = analyze_file(
        &path,
        &AnalysisOptions {
            filter: Filter::None,
            clock: Clock::Wall,
            subtract_probe_cost: true,
            ..AnalysisOptions::default()
        },
    )
    .expect("analyze");
    let clamped: Vec<(Stage, &str, u64)> = r
        .functions
        .iter()
        .filter(|f| f.probe_cost_clamped > 0)
        .map(|f| (f.stage, f.function.as_str(), f.probe_cost_clamped))
        .collect();
    assert_eq!(
        clamped,
        [(Stage::Rx, "kfree_skb", 2), (Stage::Tx, "kfree_skb", 1)]
    );
    assert_eq!(func(&r, Stage::Rx, "udp_rcv").stats.min, 14.0, "30 − 16");
    let mut text = Vec::new();
    Text::default().write(&r, &mut text).expect("render");
    let text = String::from_utf8(text).expect("utf-8");
    assert!(
        text.contains("--subtract-probe-cost clamped 3 of"),
        "the report must say so:\n{text}"
    );
    // Without the subtraction nothing is clamped and nothing is said.
    let r = analyze_file(&path, &AnalysisOptions::default()).expect("analyze");
    assert!(r.functions.iter().all(|f| f.probe_cost_clamped == 0));
}
