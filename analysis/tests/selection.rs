//! Report-time selection (`--pid`, `--comm`, `--cpu`, `--stage`, `--function`, `--from`,
//! `--to`) on a hand-built trace: each keeps exactly the invocations worked out by hand, with
//! their calls and means, in the library and through every command.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use kpath_analysis::analyze::visit_selected;
use kpath_analysis::calltree::{Call, CallVisitor, Frame};
use kpath_analysis::results::{FunctionResult, Results};
use kpath_analysis::{analyze_file, AnalysisOptions, Clock, Selection, Stage, StageClassifier};
use kpath_trace::recording::Task;

use crate::cli::kpath;
use crate::util::{Ctx, TraceBuilder};

/// Six invocations, numbered as they begin (the first record, at 1000 ns, is the window's
/// origin):
///
/// | # | offset | stage | where | pid | calls (wall ns) |
/// |---|---:|---|---|---|---|
/// | 0 | 0 | rx | softirq CPU 0 over task 77 | 77 | net_rx_action 100 { ip_rcv 60 { udp_rcv 30 } kfree_skb 10 } |
/// | 1 | 1000 | rx | softirq CPU 0, idle | 0 | net_rx_action 120 { ip_rcv 80 { udp_rcv 50 } kfree_skb 12 } |
/// | 2 | 2000 | rx | softirq CPU 1, idle | 0 | net_rx_action 90 { ip_rcv 60 } |
/// | 3 | 3000 | tx | CPU 2, thread 78 of 77 | 77 | udp_sendmsg 50 { kfree_skb 14 } |
/// | 4 | 4000 | tx | CPU 3, task 88 | 88 | udp_sendmsg 70 { kfree_skb 16 } |
/// | 5 | 4005 | tx | CPU 2, thread 79 of 77 | 77 | udp_sendmsg 40 |
///
/// 4 and 5 interleave record by record; an exit of task 90 without its entry ends the trace
/// (an anomaly of no invocation), and CPU 0 lost 2 events. Tasks: 0 swapper, 77 echo, 88 gen.
/// CPU 0 was busy 1 µs.
fn trace(dir: &Path) -> PathBuf {
    builder().write(&dir.join("select.trace"))
}

fn builder() -> TraceBuilder {
    let mut b = TraceBuilder::new(&[
        "net_rx_action",
        "ip_rcv",
        "udp_rcv",
        "kfree_skb",
        "udp_sendmsg",
    ]);
    let s = Ctx::SoftOver(0, 77);
    b.enter(s, "net_rx_action", 0, 1000)
        .enter(s, "ip_rcv", 1, 1010)
        .enter(s, "udp_rcv", 2, 1020)
        .exit(s, "udp_rcv", 2, 1050, 30, 0)
        .exit(s, "ip_rcv", 1, 1070, 60, 0)
        .enter(s, "kfree_skb", 1, 1080)
        .exit(s, "kfree_skb", 1, 1090, 10, 0)
        .exit(s, "net_rx_action", 0, 1100, 100, 0);
    let s = Ctx::Soft(0);
    b.enter(s, "net_rx_action", 0, 2000)
        .enter(s, "ip_rcv", 1, 2010)
        .enter(s, "udp_rcv", 2, 2020)
        .exit(s, "udp_rcv", 2, 2070, 50, 0)
        .exit(s, "ip_rcv", 1, 2090, 80, 0)
        .enter(s, "kfree_skb", 1, 2100)
        .exit(s, "kfree_skb", 1, 2112, 12, 0)
        .exit(s, "net_rx_action", 0, 2120, 120, 0);
    let s = Ctx::Soft(1);
    b.enter(s, "net_rx_action", 0, 3000)
        .enter(s, "ip_rcv", 1, 3010)
        .exit(s, "ip_rcv", 1, 3070, 60, 0)
        .exit(s, "net_rx_action", 0, 3090, 90, 0);
    let t = Ctx::Thread(2, 77, 78);
    b.enter(t, "udp_sendmsg", 0, 4000)
        .enter(t, "kfree_skb", 1, 4010)
        .exit(t, "kfree_skb", 1, 4024, 14, 0)
        .exit(t, "udp_sendmsg", 0, 4050, 50, 0);
    let (g, t) = (Ctx::Proc(3, 88), Ctx::Thread(2, 77, 79));
    b.enter(g, "udp_sendmsg", 0, 5000)
        .enter(t, "udp_sendmsg", 0, 5005)
        .enter(g, "kfree_skb", 1, 5010)
        .exit(g, "kfree_skb", 1, 5026, 16, 0)
        .exit(t, "udp_sendmsg", 0, 5045, 40, 0)
        .exit(g, "udp_sendmsg", 0, 5070, 70, 0);
    b.exit(Ctx::Proc(1, 90), "kfree_skb", 0, 7000, 5, 0);
    b.meta.lost_events_per_cpu = vec![2, 0, 0, 0];
    b.meta.cpu_busy = Some(vec![kpath_trace::CpuBusyInfo {
        cpu: 0,
        window_ns: 10_000,
        busy_ns: 1_000,
        idle_irq_ns: 0,
        cycles: 0,
        long_cycles: 0,
        long_cycles_ns: 0,
        cycle_mean_ns: None,
        cycle_variance_ns2: None,
        cycle_min_ns: None,
        cycle_max_ns: None,
    }]);
    b.meta.tasks = Some(vec![
        Task::named(0, b"swapper"),
        Task::named(77, b"echo\n"),
        Task::named(88, b"gen\n"),
    ]);
    b
}

/// The invocations whose calls a visit reports, and how many calls.
#[derive(Default)]
struct Kept(BTreeSet<u64>, u64);

impl CallVisitor for Kept {
    fn call(&mut self, c: &Call<'_>, _ancestors: &[Frame]) {
        self.0.insert(c.invocation);
        self.1 += 1;
    }
}

fn visit(path: &Path, s: &Selection) -> (Vec<u64>, u64) {
    let mut k = Kept::default();
    let v =
        visit_selected(path, &StageClassifier::default(), Clock::Wall, s, &mut k).expect("visit");
    let applied = v.selection.expect("applied");
    assert_eq!(applied.counts.kept_calls, k.1);
    (k.0.into_iter().collect(), k.1)
}

fn analyze(path: &Path, s: &Selection) -> Results {
    let options = AnalysisOptions {
        min_stage_samples: 1,
        selection: s.clone(),
        ..AnalysisOptions::default()
    };
    analyze_file(path, &options).expect("analyze")
}

fn func<'a>(r: &'a Results, stage: Stage, name: &str) -> &'a FunctionResult {
    r.functions
        .iter()
        .find(|f| f.stage == stage && f.function == name)
        .unwrap_or_else(|| panic!("no {stage} {name}"))
}

fn sel(f: impl FnOnce(&mut Selection)) -> Selection {
    let mut s = Selection::default();
    f(&mut s);
    s
}

/// Each flag alone and in combination keeps exactly the invocations of the table, with all
/// their calls; `analyze` and a visit (what `fold`, `flame`, `tree` and `export` run) agree.
#[test]
fn each_flag_and_each_combination_keeps_the_invocations_worked_out_by_hand() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = trace(dir.path());
    let cases: Vec<(Selection, &[u64], u64)> = vec![
        (sel(|s| s.pids = vec![77]), &[0, 3, 5], 7),
        (sel(|s| s.pids = vec![0, 88]), &[1, 2, 4], 8),
        (sel(|s| s.comms = vec!["echo".into()]), &[0, 3, 5], 7),
        (sel(|s| s.comms = vec!["gen".into()]), &[4], 2),
        (sel(|s| s.cpus = vec![0]), &[0, 1], 8),
        (sel(|s| s.cpus = vec![0, 2]), &[0, 1, 3, 5], 11),
        (sel(|s| s.stage = Some(Stage::Tx)), &[3, 4, 5], 5),
        (sel(|s| s.stage = Some(Stage::Rx)), &[0, 1, 2], 10),
        (sel(|s| s.functions = vec!["udp_rcv".into()]), &[0, 1], 8),
        (
            sel(|s| s.functions = vec!["kfree_skb".into()]),
            &[0, 1, 3, 4],
            12,
        ),
        (
            sel(|s| s.functions = vec!["udp_rcv".into(), "udp_sendmsg".into()]),
            &[0, 1, 3, 4, 5],
            13,
        ),
        (
            sel(|s| (s.from_ns, s.to_ns) = (Some(1000), Some(3000))),
            &[1, 2],
            6,
        ),
        (sel(|s| s.from_ns = Some(1000)), &[1, 2, 3, 4, 5], 11),
        // Kept whole: invocation 0 began at 0 and ended at 100, past the window's end.
        (sel(|s| s.to_ns = Some(50)), &[0], 4),
        // Invocation 5 interleaves with 4 but began 5 ns later.
        (
            sel(|s| (s.from_ns, s.to_ns) = (Some(4000), Some(4005))),
            &[4],
            2,
        ),
        (sel(|s| s.from_ns = Some(4001)), &[5], 1),
        // Combinations intersect.
        (
            sel(|s| (s.pids, s.stage) = (vec![77], Some(Stage::Tx))),
            &[3, 5],
            3,
        ),
        (sel(|s| (s.pids, s.cpus) = (vec![77], vec![0])), &[0], 4),
        (sel(|s| (s.pids, s.cpus) = (vec![0], vec![1])), &[2], 2),
        (
            sel(|s| (s.stage, s.functions) = (Some(Stage::Rx), vec!["kfree_skb".into()])),
            &[0, 1],
            8,
        ),
        (
            sel(|s| (s.pids, s.functions) = (vec![77], vec!["kfree_skb".into()])),
            &[0, 3],
            6,
        ),
        (
            sel(|s| (s.comms, s.cpus) = (vec!["echo".into()], vec![2])),
            &[3, 5],
            3,
        ),
        (
            sel(|s| (s.cpus, s.from_ns) = (vec![2], Some(3001))),
            &[5],
            1,
        ),
        (
            sel(|s| (s.pids, s.stage) = (vec![88], Some(Stage::Rx))),
            &[],
            0,
        ),
    ];
    for (s, want, calls) in cases {
        let flags = s.flags();
        assert_eq!(visit(&path, &s), (want.to_vec(), calls), "{flags}");
        let r = analyze(&path, &s);
        let a = r.settings.selection.as_ref().expect("recorded");
        assert_eq!(a.selection, s, "{flags}");
        assert_eq!(
            (
                a.counts.invocations,
                a.counts.kept_invocations,
                a.counts.calls,
                a.counts.kept_calls
            ),
            (6, want.len() as u64, 15, calls),
            "{flags}"
        );
        assert_eq!(a.origin_ns, Some(1000), "{flags}");
        let analysed: u64 = r.functions.iter().map(|f| f.calls).sum();
        assert_eq!(analysed, calls, "{flags}");
        let roots: u64 = r.stages.iter().map(|st| st.invocations).sum();
        assert_eq!(roots, want.len() as u64, "{flags}");
        assert_eq!(a.warning.is_some(), want.is_empty(), "{flags}: {a:?}");
        // The anomaly is the whole trace's, whatever the selection.
        assert_eq!(r.anomalies.unmatched_exits, 1, "{flags}");
    }
}

/// Per-function figures of a selection are those of its invocations' calls.
#[test]
fn per_function_means_are_those_of_the_kept_invocations() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = trace(dir.path());
    // Without a selection: nothing recorded in the settings, every call.
    let all = analyze(&path, &Selection::default());
    assert_eq!(all.settings.selection, None);
    close!(
        310.0 / 3.0,
        func(&all, Stage::Rx, "net_rx_action").stats.mean,
        1e-12
    );
    close!(
        160.0 / 3.0,
        func(&all, Stage::Tx, "udp_sendmsg").stats.mean,
        1e-12
    );

    // --pid 77: the softirq that interrupted it (100), and its two threads' sends (50, 40).
    let r = analyze(&path, &sel(|s| s.pids = vec![77]));
    let f = func(&r, Stage::Rx, "net_rx_action");
    assert_eq!(f.calls, 1);
    close!(100.0, f.stats.mean, 1e-12);
    let f = func(&r, Stage::Tx, "udp_sendmsg");
    assert_eq!(f.calls, 2);
    close!(45.0, f.stats.mean, 1e-12);
    close!(14.0, func(&r, Stage::Tx, "kfree_skb").stats.mean, 1e-12);
    assert_eq!(r.stage(Stage::Tx).expect("tx").invocations, 2);
    // T = 100 + 45.
    close!(145.0, r.service.as_ref().expect("T").mean, 1e-12);

    // --cpu 0: the two softirqs of CPU 0.
    let r = analyze(&path, &sel(|s| s.cpus = vec![0]));
    close!(
        110.0,
        func(&r, Stage::Rx, "net_rx_action").stats.mean,
        1e-12
    );
    close!(70.0, func(&r, Stage::Rx, "ip_rcv").stats.mean, 1e-12);
    close!(40.0, func(&r, Stage::Rx, "udp_rcv").stats.mean, 1e-12);
    close!(11.0, func(&r, Stage::Rx, "kfree_skb").stats.mean, 1e-12);
    assert!(r.stage(Stage::Tx).is_none());
    let why = r.service_unknown.as_deref().expect("no T");
    assert!(
        why.contains("no tx invocation is in the selection (--cpu 0)"),
        "{why}"
    );

    // --stage tx: (50 + 70 + 40)/3 and (14 + 16)/2.
    let r = analyze(&path, &sel(|s| s.stage = Some(Stage::Tx)));
    close!(
        160.0 / 3.0,
        func(&r, Stage::Tx, "udp_sendmsg").stats.mean,
        1e-12
    );
    close!(15.0, func(&r, Stage::Tx, "kfree_skb").stats.mean, 1e-12);
    assert!(r.stage(Stage::Rx).is_none());

    // --function kfree_skb: the other calls of those invocations stay (udp_sendmsg 50, 70;
    // ip_rcv 60, 80), and the send without kfree_skb goes.
    let r = analyze(&path, &sel(|s| s.functions = vec!["kfree_skb".into()]));
    close!(60.0, func(&r, Stage::Tx, "udp_sendmsg").stats.mean, 1e-12);
    close!(70.0, func(&r, Stage::Rx, "ip_rcv").stats.mean, 1e-12);
    assert_eq!(r.tree(Stage::Rx).expect("tree").distinct_shapes, 1);

    // --from 1us --to 3us: CPU 0's second softirq and CPU 1's, (120 + 90)/2.
    let r = analyze(
        &path,
        &sel(|s| (s.from_ns, s.to_ns) = (Some(1000), Some(3000))),
    );
    close!(
        105.0,
        func(&r, Stage::Rx, "net_rx_action").stats.mean,
        1e-12
    );
    assert_eq!(func(&r, Stage::Rx, "udp_rcv").calls, 1);

    // A selection of whole CPUs keeps the busy time per datagram received (1 µs over CPU
    // 0's two); any other drops it, its datagrams being only some of the CPU's.
    for s in [Selection::default(), sel(|s| s.cpus = vec![0])] {
        let d = analyze(&path, &s).demand;
        assert_eq!(d.len(), 1, "{}", s.flags());
        assert_eq!(
            (d[0].receive_invocations, d[0].busy_per_receive_ns),
            (2, 500.0)
        );
    }
    assert!(analyze(&path, &sel(|s| s.pids = vec![77]))
        .demand
        .is_empty());
}

/// Records out of order are sorted first, and the selection (with its first pass for
/// `--function`) keeps the same invocations as in a trace in order.
#[test]
fn out_of_order_records_are_selected_as_in_order_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ordered = trace(dir.path());
    let mut b = builder();
    // Invocation 0's kfree_skb exit (1090) written after invocation 1's first record (2000).
    let late = b.events.remove(6);
    assert_eq!((late.ts_ns, late.kind), (1090, 1));
    b.events.insert(8, late);
    let shuffled = b.write(&dir.path().join("shuffled.trace"));
    for s in [
        sel(|s| s.functions = vec!["udp_rcv".into()]),
        sel(|s| s.functions = vec!["kfree_skb".into()]),
        sel(|s| (s.pids, s.to_ns) = (vec![77], Some(3500))),
    ] {
        let flags = s.flags();
        let want = visit(&ordered, &s);
        assert_eq!(visit(&shuffled, &s), want, "{flags}");
        let (a, b) = (analyze(&ordered, &s), analyze(&shuffled, &s));
        assert_eq!(a.trace.reordered, None);
        assert!(b.trace.reordered.is_some(), "{flags}");
        assert_eq!(a.functions, b.functions, "{flags}");
        assert_eq!(a.settings.selection, b.settings.selection, "{flags}");
    }
}

fn stderr_line<'a>(err: &'a str, start: &str) -> &'a str {
    err.lines()
        .find(|l| l.starts_with(start))
        .unwrap_or_else(|| panic!("no line starting {start:?} in:\n{err}"))
}

/// Every command says what it kept, keeps the warnings of the whole trace, and honours the
/// same selection: `report` (JSON records it), `analyze`, `tree`, `fold`, `flame`, `export`.
#[test]
fn every_command_applies_the_selection_and_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = trace(dir.path());
    let t = path.to_str().expect("utf8");
    let said = "kpath: selection --pid 77: kept 3 of 6 invocations (7 of 15 calls)";

    let (ok, out, err) = kpath(&["report", t, "--pid", "77", "--format", "json"]);
    assert!(ok, "{err}");
    assert_eq!(stderr_line(&err, "kpath: selection"), said);
    assert!(err.contains("2 events were lost while recording"), "{err}");
    assert!(err.contains("1 unmatched exits"), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let s = &v["settings"]["selection"];
    assert_eq!(s["pids"], serde_json::json!([77]));
    assert_eq!(s["kept_invocations"], 3);
    assert_eq!(s["invocations"], 6);
    assert_eq!(s["origin_ns"], 1000);
    // The trace's tasks come along, to name the pids.
    assert_eq!(
        v["trace"]["tasks"][1],
        serde_json::json!({"pid": 77, "comm": "echo"})
    );

    let results = dir.path().join("results.json");
    let r = results.to_str().expect("utf8");
    let (ok, _, err) = kpath(&["analyze", t, "--comm", "echo", "-o", r]);
    assert!(ok, "{err}");
    assert_eq!(
        stderr_line(&err, "kpath: selection"),
        "kpath: selection --comm echo: kept 3 of 6 invocations (7 of 15 calls)"
    );
    let loaded = Results::load(&results).expect("results read back");
    let a = loaded.settings.selection.expect("selection");
    assert_eq!((a.comm_pids, a.counts.kept_invocations), (vec![77], 3));

    let (ok, out, err) = kpath(&[
        "tree", t, "--pid", "77", "--stage", "tx", "--clock", "wall", "--filter", "none",
    ]);
    assert!(ok, "{err}");
    assert_eq!(
        stderr_line(&err, "kpath: selection"),
        "kpath: selection --stage tx --pid 77: kept 2 of 6 invocations (3 of 15 calls)"
    );
    assert!(
        out.starts_with("stage tx: 2 complete invocations\n"),
        "{out}"
    );
    assert!(
        out.contains("    45.0 ns             udp_sendmsg()"),
        "{out}"
    );

    // Self times: udp_sendmsg (50 − 14) + 40; net_rx_action 100 − 60 − 10.
    let (ok, out, err) = kpath(&["fold", t, "--pid", "77"]);
    assert!(ok, "{err}");
    assert_eq!(stderr_line(&err, "kpath: selection"), said);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "rx;net_rx_action 30",
            "rx;net_rx_action;ip_rcv 30",
            "rx;net_rx_action;ip_rcv;udp_rcv 30",
            "rx;net_rx_action;kfree_skb 10",
            "tx;udp_sendmsg 76",
            "tx;udp_sendmsg;kfree_skb 14",
        ]
    );
    // The old `fold --stage` is the selection's stage now: the same lines as before.
    let (ok, out, _) = kpath(&["fold", t, "--stage", "tx", "--pid", "77"]);
    assert!(ok);
    assert_eq!(out, "tx;udp_sendmsg 76\ntx;udp_sendmsg;kfree_skb 14\n");

    let svg = dir.path().join("flame.svg");
    let (ok, _, err) = kpath(&["flame", t, "--cpu", "1", "-o", svg.to_str().expect("utf8")]);
    assert!(ok, "{err}");
    let s = std::fs::read_to_string(&svg).expect("svg");
    assert!(s.contains("ip_rcv") && !s.contains("udp_sendmsg"), "{s}");

    let (ok, out, err) = kpath(&["export", t, "--pid", "77", "--format", "csv"]);
    assert!(ok, "{err}");
    assert_eq!(stderr_line(&err, "kpath: selection"), said);
    let mut rows = out.lines();
    let head: Vec<&str> = rows.next().expect("header").split(',').collect();
    let col = head
        .iter()
        .position(|c| *c == "invocation")
        .expect("column");
    let invocations: BTreeSet<&str> = rows
        .clone()
        .map(|l| l.split(',').nth(col).expect("field"))
        .collect();
    assert_eq!(rows.count(), 7);
    assert_eq!(invocations, BTreeSet::from(["0", "3", "5"]));
}

#[test]
fn a_selection_that_keeps_nothing_says_what_the_trace_has() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = trace(dir.path());
    let t = path.to_str().expect("utf8");
    let (ok, _, err) = kpath(&["report", t, "--pid", "5"]);
    assert!(ok, "{err}");
    assert_eq!(
        stderr_line(&err, "kpath: warning: nothing matched"),
        "kpath: warning: nothing matched --pid 5: wrong --pid? the invocations' pids are \
         0 (swapper), 77 (echo), 88 (gen)"
    );
    let (ok, _, err) = kpath(&["fold", t, "--cpu", "3", "--from", "1us", "--to", "3us"]);
    assert!(ok, "{err}");
    assert_eq!(
        stderr_line(&err, "kpath: warning: nothing matched"),
        "kpath: warning: nothing matched --cpu 3 --from 1us --to 3us: wrong --cpu? invocations \
         began on CPUs 0, 1, 2, 3; wrong --from/--to? invocations began 0ns to 4.005us after \
         the first record"
    );
    let (ok, _, err) = kpath(&["export", t, "--stage", "other"]);
    assert!(ok, "{err}");
    assert!(
        err.contains("nothing matched --stage other: no other invocation; the trace's are rx, tx"),
        "{err}"
    );
}

/// Bad values are one-line errors naming the flag (and its range, when it has one); a
/// selection the trace cannot answer is refused before any output is written.
#[test]
fn bad_selections_are_one_line_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = trace(dir.path());
    let t = path.to_str().expect("utf8");
    // Parse errors (clap): the error line names the flag and the range.
    for (args, want) in [
        (
            &["report", t, "--cpu", "-1"][..],
            "'--cpu <CPU>': -1 is not in 0..=8191",
        ),
        (
            &["fold", t, "--pid", "-1"][..],
            "'--pid <PID>': -1 is not in 0..=4194304",
        ),
        (
            &["tree", t, "--pid", "4194305"][..],
            "4194305 is not in 0..=4194304",
        ),
        (
            &["export", t, "--from", "5x"][..],
            "'--from <DURATION>': `5x`: unknown unit `x`",
        ),
        (&["flame", t, "--to", "-1s"][..], "'--to <DURATION>'"),
        (
            &["analyze", t, "--stage", "up"][..],
            "'up' for '--stage <STAGE>'",
        ),
    ] {
        let (ok, _, err) = kpath(args);
        assert!(!ok, "{args:?}");
        let first = err.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("error: invalid value") && first.contains(want),
            "{args:?}: {err}"
        );
    }
    // Checks of the selection and of the trace: exactly one line.
    let out = dir.path().join("rows.csv");
    let o = out.to_str().expect("utf8");
    let small = crate::calltree::small_trace(dir.path());
    let small = small.to_str().expect("utf8");
    for (args, want) in [
        (
            &["report", t, "--from", "2s", "--to", "1s"][..],
            "kpath: --to 1s is not after --from 2s: the window [from, to) would be empty",
        ),
        (
            &["export", t, "--from", "1s", "--to", "1s", "-o", o][..],
            "kpath: --to 1s is not after --from 1s: the window [from, to) would be empty",
        ),
        (
            &["fold", t, "--cpu", "9"][..],
            "kpath: --cpu 9: the trace's CPUs are 0 to 3",
        ),
        (
            &["export", t, "--cpu", "4", "-o", o][..],
            "kpath: --cpu 4: the trace's CPUs are 0 to 3",
        ),
        (
            &["export", t, "--function", "tcp_sendmsg", "-o", o][..],
            "kpath: --function tcp_sendmsg: the trace probed no function of that name (it \
             probed net_rx_action, ip_rcv, udp_rcv, kfree_skb, udp_sendmsg)",
        ),
        (
            &["report", small, "--comm", "echo"][..],
            "kpath: failed to analyze",
        ),
    ] {
        let (ok, _, err) = kpath(args);
        assert!(!ok, "{args:?}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with(want), "{args:?}: {err}");
    }
    let (_, _, err) = kpath(&["report", small, "--comm", "echo"]);
    assert!(
        err.contains("--comm needs the trace's table of tasks") && err.contains("--pid"),
        "{err}"
    );
    assert!(!out.exists(), "no output for a refused selection");
}
