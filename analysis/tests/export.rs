//! `kpath export`: CSV through a CSV reader, Perfetto's trace-event JSON against the format's
//! rules, and Parquet read back and compared with the CSV, on hand-built traces.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};

use kpath_analysis::analyze::visit_file;
use kpath_analysis::export::{ExportFormat, Exporter, COLUMNS};
use kpath_analysis::{Clock, StageClassifier};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;

use crate::calltree::small_trace;
use crate::cli::kpath;
use crate::util::{Ctx, TraceBuilder};

/// Calls in [`small_trace`].
const SMALL_CALLS: usize = 15;

/// A function name that breaks naive CSV: delimiter, quotes, line breaks.
const HOSTILE: &str = "evil,\"quoted\" name\nsecond line\r\n,=1+1";

/// Calls in [`hostile_trace`].
const HOSTILE_CALLS: usize = 6;

/// An invocation on CPU 1's softirq and one of a task, calling [`HOSTILE`] 3 times.
/// [`HOSTILE_CALLS`] calls.
fn hostile_trace(dir: &Path) -> PathBuf {
    let mut b = TraceBuilder::new(&["net_rx_action", "ip_rcv", HOSTILE, "udp_sendmsg"]);
    let s = Ctx::Soft(1);
    b.enter(s, "net_rx_action", 0, 1000)
        .enter(s, "ip_rcv", 1, 1010)
        .enter(s, HOSTILE, 2, 1020)
        .exit(s, HOSTILE, 2, 1030, 10, 0)
        .enter(s, HOSTILE, 2, 1040)
        .exit(s, HOSTILE, 2, 1050, 10, 0)
        .exit(s, "ip_rcv", 1, 1060, 50, 0)
        .exit(s, "net_rx_action", 0, 1100, 100, 0);
    let p = Ctx::Proc(0, 91);
    b.enter(p, "udp_sendmsg", 0, 1005)
        .enter(p, HOSTILE, 1, 1015)
        .exit(p, HOSTILE, 1, 1025, 10, 0)
        .exit(p, "udp_sendmsg", 0, 1035, 30, 0);
    b.write(&dir.join("hostile.trace"))
}

/// The CSV export of `trace` (through the binary), as records of strings.
fn csv_rows(trace: &Path) -> Vec<Vec<String>> {
    let (ok, out, err) = kpath(&["export", trace.to_str().expect("utf8"), "--format", "csv"]);
    assert!(ok, "{err}");
    let mut r = csv::Reader::from_reader(out.as_bytes());
    let head: Vec<String> = r
        .headers()
        .expect("header")
        .iter()
        .map(String::from)
        .collect();
    assert_eq!(head, COLUMNS);
    r.records()
        .map(|rec| {
            let rec = rec.expect("record");
            assert_eq!(rec.len(), COLUMNS.len(), "{rec:?}");
            rec.iter().map(String::from).collect()
        })
        .collect()
}

fn col(name: &str) -> usize {
    COLUMNS
        .iter()
        .position(|c| *c == name)
        .unwrap_or_else(|| panic!("no column {name}"))
}

#[test]
fn csv_names_with_commas_quotes_and_newlines_stay_one_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rows = csv_rows(&hostile_trace(dir.path()));
    assert_eq!(rows.len(), HOSTILE_CALLS);
    let f = col("function");
    assert_eq!(rows.iter().filter(|r| r[f] == HOSTILE).count(), 3);
    // Every other field is what it should be: the calls after the hostile name are intact.
    let ip = rows.iter().find(|r| r[f] == "ip_rcv").expect("ip_rcv");
    assert_eq!(
        (ip[col("dur_ns")].as_str(), ip[col("depth")].as_str()),
        ("50", "1")
    );
}

/// The X events of a track, checked for nesting by a stack: each event lies within the
/// enclosing one, which is its caller (`args.parent`) at depth − 1.
fn check_nesting(track: &(u64, u64), events: &mut [&serde_json::Value]) {
    let ns = |v: &serde_json::Value| (v.as_f64().expect("number") * 1000.0).round() as u64;
    events.sort_by_key(|e| (ns(&e["ts"]), std::cmp::Reverse(ns(&e["dur"]))));
    let mut open: Vec<(u64, u64, u64)> = Vec::new(); // (end, call, invocation)
    for e in events.iter() {
        let (ts, end) = (ns(&e["ts"]), ns(&e["ts"]) + ns(&e["dur"]));
        while open.last().is_some_and(|&(top_end, _, _)| top_end <= ts) {
            open.pop();
        }
        let args = &e["args"];
        let depth = args["depth"].as_u64().expect("depth");
        assert_eq!(depth as usize, open.len(), "{track:?}: {e}");
        match open.last() {
            Some(&(top_end, call, invocation)) => {
                assert!(end <= top_end, "{track:?}: {e} overruns its caller");
                assert_eq!(args["parent"].as_u64(), Some(call), "{track:?}: {e}");
                assert_eq!(args["invocation"].as_u64(), Some(invocation), "{e}");
            }
            None => assert!(args.get("parent").is_none(), "{track:?}: {e}"),
        }
        open.push((
            end,
            args["call"].as_u64().expect("call"),
            args["invocation"].as_u64().expect("invocation"),
        ));
    }
}

/// The Perfetto export of `trace`, validated; returns the X events.
fn perfetto_events(trace: &Path) -> (Vec<serde_json::Value>, HashMap<(u64, u64), String>) {
    let (ok, out, err) = kpath(&[
        "export",
        trace.to_str().expect("utf8"),
        "--format",
        "perfetto",
    ]);
    assert!(ok, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
    assert_eq!(doc["displayTimeUnit"], "ns");
    let events = doc["traceEvents"].as_array().expect("traceEvents");
    let mut threads = HashMap::new();
    let mut processes = HashSet::new();
    let mut calls = Vec::new();
    for e in events {
        for key in ["ph", "name"] {
            assert!(e[key].is_string(), "{key} in {e}");
        }
        for key in ["pid", "tid"] {
            assert!(e[key].is_u64(), "{key} in {e}");
        }
        assert!(e["ts"].is_number(), "ts in {e}");
        let track = (
            e["pid"].as_u64().expect("pid"),
            e["tid"].as_u64().expect("tid"),
        );
        match e["ph"].as_str().expect("ph") {
            "X" => {
                assert!(e["dur"].as_f64().is_some_and(|d| d >= 0.0), "dur in {e}");
                assert!(e["cat"].is_string(), "cat in {e}");
                calls.push(e.clone());
            }
            "M" => {
                let name = e["args"]["name"].as_str().expect("args.name").to_string();
                match e["name"].as_str().expect("name") {
                    "thread_name" => assert!(threads.insert(track, name).is_none(), "{e}"),
                    "process_name" => assert!(processes.insert(track.0), "{e}"),
                    other => panic!("metadata {other}"),
                }
            }
            other => panic!("phase {other} in {e}"),
        }
    }
    let mut by_track: HashMap<(u64, u64), Vec<&serde_json::Value>> = HashMap::new();
    for e in &calls {
        let track = (
            e["pid"].as_u64().expect("pid"),
            e["tid"].as_u64().expect("tid"),
        );
        assert!(threads.contains_key(&track), "no thread_name for {track:?}");
        assert!(
            processes.contains(&track.0),
            "no process_name for {track:?}"
        );
        by_track.entry(track).or_default().push(e);
    }
    for (track, events) in &mut by_track {
        check_nesting(track, events);
    }
    (calls, threads)
}

#[test]
fn perfetto_is_valid_trace_event_json_that_nests_per_track() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (calls, threads) = perfetto_events(&small_trace(dir.path()));
    assert_eq!(calls.len(), SMALL_CALLS);
    // One track per CPU's softirq context, one per task.
    let mut names: Vec<&str> = threads.values().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["CPU 0 softirq", "CPU 1 softirq", "tid 77"]);
    // The blocked send: its wall time on the timeline, its time away in the arguments.
    let send = calls
        .iter()
        .find(|e| e["name"] == "udp_sendmsg" && e["ts"].as_f64() == Some(4.0))
        .expect("udp_sendmsg at 4000 ns");
    assert_eq!(send["cat"], "tx");
    assert_eq!(send["dur"].as_f64(), Some(0.05));
    assert_eq!(send["args"]["off_cpu_ns"], 20);
    assert_eq!(send["args"]["on_cpu_ns"], 30);
    assert_eq!(send["args"]["interrupted"], true);
}

#[test]
fn perfetto_keeps_hostile_names_as_strings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (calls, threads) = perfetto_events(&hostile_trace(dir.path()));
    assert_eq!(calls.len(), HOSTILE_CALLS);
    assert_eq!(calls.iter().filter(|e| e["name"] == HOSTILE).count(), 3);
    assert!(threads.values().any(|n| n == "CPU 1 softirq"));
}

/// A Parquet value as the CSV writes it.
fn as_csv(f: &Field) -> String {
    match f {
        Field::Null => String::new(),
        Field::Bool(b) => b.to_string(),
        Field::UShort(v) => v.to_string(),
        Field::UInt(v) => v.to_string(),
        Field::ULong(v) => v.to_string(),
        Field::Str(s) => s.clone(),
        other => panic!("unexpected Parquet value {other:?}"),
    }
}

/// Exports `trace` as Parquet with row groups of `group_rows` rows (the library) and reads it
/// back: column names, then rows of values as the CSV writes them; and the row groups.
fn parquet_rows(trace: &Path, out: &Path, group_rows: usize) -> (Vec<Vec<String>>, usize) {
    let names: Vec<String> = kpath_analysis::analyze::open_trace(trace)
        .expect("open")
        .metadata()
        .functions
        .iter()
        .map(|f| f.name.clone())
        .collect();
    let file = File::create(out).expect("create");
    let mut ex = Exporter::with_row_group_rows(file, ExportFormat::Parquet, names, group_rows);
    visit_file(trace, &StageClassifier::default(), Clock::Wall, &mut ex).expect("visit");
    ex.finish().expect("finish");
    read_parquet(out)
}

fn read_parquet(path: &Path) -> (Vec<Vec<String>>, usize) {
    let reader = SerializedFileReader::new(File::open(path).expect("open")).expect("parquet");
    let groups = reader.metadata().num_row_groups();
    let rows = reader
        .get_row_iter(None)
        .expect("rows")
        .map(|row| {
            let row = row.expect("row");
            let names: Vec<&str> = row.get_column_iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names, COLUMNS);
            row.get_column_iter().map(|(_, v)| as_csv(v)).collect()
        })
        .collect();
    (rows, groups)
}

/// Ids: `(invocation, call)` is unique, and a parent is a row of the same invocation one
/// level up whose interval holds the call's.
fn check_ids(rows: &[Vec<String>]) {
    let (inv, call, parent, depth) = (col("invocation"), col("call"), col("parent"), col("depth"));
    let (entry, exit) = (col("entry_ts_ns"), col("exit_ts_ns"));
    let n = |s: &str| s.parse::<u64>().expect("number");
    let by_id: HashMap<(&str, &str), &Vec<String>> = rows
        .iter()
        .map(|r| ((r[inv].as_str(), r[call].as_str()), r))
        .collect();
    assert_eq!(by_id.len(), rows.len(), "(invocation, call) repeats");
    for r in rows {
        if r[parent].is_empty() {
            assert_eq!(r[depth], "0", "{r:?}");
            assert_eq!(r[call], "0", "{r:?}");
            continue;
        }
        let p = by_id
            .get(&(r[inv].as_str(), r[parent].as_str()))
            .unwrap_or_else(|| panic!("no parent row for {r:?}"));
        assert_eq!(n(&p[depth]) + 1, n(&r[depth]), "{r:?} in {p:?}");
        assert!(n(&p[entry]) <= n(&r[entry]) && n(&r[exit]) <= n(&p[exit]));
        assert!(n(&p[call]) < n(&r[call]), "a caller enters first");
    }
}

#[test]
fn parquet_reads_back_as_the_csv() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (trace, calls) in [
        (small_trace(dir.path()), SMALL_CALLS),
        (hostile_trace(dir.path()), HOSTILE_CALLS),
    ] {
        let csv = csv_rows(&trace);
        assert_eq!(csv.len(), calls);
        check_ids(&csv);
        // Row groups of 4 rows, so the last one is partial.
        let (rows, groups) = parquet_rows(&trace, &dir.path().join("calls.parquet"), 4);
        assert_eq!(groups, calls.div_ceil(4));
        assert_eq!(rows, csv, "{}", trace.display());
        // The binary, with its default row groups.
        let out = dir.path().join("cli.parquet");
        let (ok, _, err) = kpath(&[
            "export",
            trace.to_str().expect("utf8"),
            "--format",
            "parquet",
            "-o",
            out.to_str().expect("utf8"),
        ]);
        assert!(ok, "{err}");
        let (rows, groups) = read_parquet(&out);
        assert_eq!((rows, groups), (csv, 1));
        std::fs::remove_file(&out).expect("rm");
    }
    // The hostile name survives as a string value.
    let (rows, _) = read_parquet(&dir.path().join("calls.parquet"));
    assert_eq!(
        rows.iter()
            .filter(|r| r[col("function")] == HOSTILE)
            .count(),
        3
    );
}

#[test]
fn parquet_needs_a_file_and_keeps_existing_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = small_trace(dir.path());
    let t = trace.to_str().expect("utf8");
    let (ok, out, err) = kpath(&["export", t, "--format", "parquet"]);
    assert!(!ok && out.is_empty());
    assert!(err.contains("-o FILE") && err.lines().count() == 1, "{err}");
    let existing = dir.path().join("calls.parquet");
    std::fs::write(&existing, "mine").expect("write");
    let e = existing.to_str().expect("utf8");
    let (ok, _, err) = kpath(&["export", t, "--format", "parquet", "-o", e]);
    assert!(!ok && err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read_to_string(&existing).expect("read"), "mine");
    let (ok, _, err) = kpath(&["export", t, "--format", "parquet", "-o", e, "--force"]);
    assert!(ok, "{err}");
    assert_eq!(read_parquet(&existing).0.len(), SMALL_CALLS);
}
