//! The analysis pass (methodology steps 3–6, 8): one streaming pass over a trace that feeds
//! the call-tree builder and per-function, per-level and per-stage statistics, then
//! [`Analyzer::finish`] assembles [`Results`].
//!
//! Every command that reads calls goes through here ([`analyze_file`], [`visit_selected`]),
//! and so does its [`Selection`]: resolved against the trace once
//! (`InvocationFilter::new`), applied by the call-tree builder as each invocation begins. A
//! selection with `--function` first finds the invocations that call those functions, in a
//! pass that also checks the records' order ([`FunctionScan`]).
//!
//! The file is near 600 lines because it drives every pass (analysis, visit, sorted re-reads,
//! the selection's first pass in `select.rs`), and a fifth of it is their tests.

use std::io::Read;
use std::path::Path;

use kpath_trace::{Event, Metadata, TraceReader};

mod accumulate;
mod assemble;
mod select;

use accumulate::{
    Accumulators, Fixed, StageAcc, INTERRUPTED_FILTER, NET_FILTER, NO_FILTER, NO_SLOT,
};
pub use assemble::missed_probe_runs;
use assemble::probe_cost_of;

use crate::calltree::{CallVisitor, TreeBuilder};
use crate::error::{Error, Result};
use crate::reorder::{TimeSorter, REORDER_WINDOW};
use crate::results::*;
use crate::selection::{AppliedSelection, InvocationFilter, InvocationSet, Selection};
use crate::stage::StageClassifier;
pub use select::FunctionScan;
use select::{filter_for, scan_fed};

/// Options of an analysis.
#[derive(Clone, Debug, PartialEq)]
pub struct AnalysisOptions {
    /// Sample filter.
    pub filter: Filter,
    /// The time a sample is; on-CPU falls back to wall for traces without off-CPU time.
    pub clock: Clock,
    /// Subtract the calibrated probe cost: `mean_ns·(1 + probed calls inside)` per sample.
    pub subtract_probe_cost: bool,
    /// Root → stage classification.
    pub classifier: StageClassifier,
    /// Distinct tree shapes kept per stage.
    pub max_shapes: usize,
    /// Kept samples each of the receive and send stages needs for a service time
    /// (`crate::results::MIN_STAGE_SAMPLES` by default).
    pub min_stage_samples: u64,
    /// Which invocations to analyse (empty: all). [`analyze_file`] and [`analyze_reader`]
    /// apply it; [`Analyzer::new`] does not (see [`Analyzer::with_filter`]).
    pub selection: Selection,
}

impl AnalysisOptions {
    /// These options as they apply to a trace that does (format 2) or does not record
    /// off-CPU time: without it the on-CPU clock falls back to the wall clock.
    pub fn for_trace(&self, off_cpu_recorded: bool) -> Self {
        Self {
            clock: effective_clock(self.clock, off_cpu_recorded),
            ..self.clone()
        }
    }
}

/// The clock a trace can give: the on-CPU clock needs off-CPU time in the records.
pub fn effective_clock(asked: Clock, off_cpu_recorded: bool) -> Clock {
    if off_cpu_recorded {
        asked
    } else {
        Clock::Wall
    }
}

impl Default for AnalysisOptions {
    fn default() -> Self {
        Self {
            filter: Filter::Interrupted,
            clock: Clock::OnCpu,
            subtract_probe_cost: false,
            classifier: StageClassifier::default(),
            max_shapes: 4096,
            min_stage_samples: MIN_STAGE_SAMPLES,
            selection: Selection::default(),
        }
    }
}

/// Streams records and accumulates everything [`Results`] needs.
pub struct Analyzer {
    meta: Metadata,
    options: AnalysisOptions,
    tree: TreeBuilder,
    acc: Accumulators,
    records: u64,
}

impl Analyzer {
    /// An analyzer of every invocation of a trace with metadata `meta` (`options.selection`
    /// is not applied: [`Analyzer::with_filter`] does).
    pub fn new(meta: &Metadata, options: &AnalysisOptions) -> Self {
        Self::with_filter(meta, options, None)
    }

    /// An analyzer of the invocations `filter` keeps (all with `None`), a selection
    /// resolved against `meta` (`InvocationFilter::new`); `Results::settings.selection`
    /// says what it kept.
    pub fn with_filter(
        meta: &Metadata,
        options: &AnalysisOptions,
        filter: Option<InvocationFilter>,
    ) -> Self {
        let nfuncs = meta.functions.len();
        let tree = TreeBuilder::new(
            meta.functions.iter().map(|f| f.name.as_str()),
            &options.classifier,
        )
        .with_clock(options.clock)
        .with_filter(filter);
        let (switch_mask, void_flags) = options.clock.void_masks();
        let probe_cost_ns = meta
            .functions
            .iter()
            .map(|f| {
                if options.subtract_probe_cost {
                    probe_cost_of(meta, f.mechanism)
                } else {
                    0.0
                }
            })
            .collect::<Vec<f64>>();
        Self {
            meta: meta.clone(),
            options: options.clone(),
            tree,
            acc: Accumulators {
                nfuncs,
                filter: options.filter,
                subtract: probe_cost_ns.iter().any(|&c| c != 0.0),
                probe_cost_ns,
                switch_mask,
                void_flags,
                slots: vec![NO_SLOT; nfuncs * 3],
                funcs: Vec::new(),
                stages: std::array::from_fn(|_| StageAcc::new(options.max_shapes)),
            },
            records: 0,
        }
    }

    /// Feeds one record.
    #[inline]
    pub fn push(&mut self, e: &Event) {
        self.records += 1;
        self.tree.push(e, &mut self.acc);
    }

    /// Sets what a selection's window counts from: `ts_ns` of the first record of the file
    /// (else the first invocation's first record).
    pub fn set_origin(&mut self, ts_ns: u64) {
        self.tree.set_origin(ts_ns);
    }

    /// Feeds records in order (a block from `TraceReader::next_block`).
    pub fn push_all(&mut self, events: &[Event]) {
        self.records += events.len() as u64;
        match (self.acc.filter, self.acc.subtract) {
            (Filter::None, false) => self.push_fixed::<NO_FILTER, false>(events),
            (Filter::None, true) => self.push_fixed::<NO_FILTER, true>(events),
            (Filter::Interrupted, false) => self.push_fixed::<INTERRUPTED_FILTER, false>(events),
            (Filter::Interrupted, true) => self.push_fixed::<INTERRUPTED_FILTER, true>(events),
            (Filter::Net, false) => self.push_fixed::<NET_FILTER, false>(events),
            (Filter::Net, true) => self.push_fixed::<NET_FILTER, true>(events),
        }
    }

    fn push_fixed<const FILTER: u8, const SUBTRACT: bool>(&mut self, events: &[Event]) {
        let mut acc = Fixed::<FILTER, SUBTRACT>(&mut self.acc);
        self.tree.push_block(events, &mut acc);
    }
}

/// How records reach the call-tree builder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Feed {
    /// In file order.
    AsStored,
    /// Sorted by time within [`REORDER_WINDOW`] records (`crate::reorder`).
    TimeSorted,
}

/// Feeds every block of records of `reader` to `f`, as `feed` says, with `ts_ns` of the
/// first record of the file (what a selection's window counts from, whatever the feed);
/// errors name `path`.
fn for_each_block<R: Read>(
    reader: &mut TraceReader<R>,
    path: &Path,
    feed: Feed,
    mut f: impl FnMut(&[Event], u64),
) -> Result<()> {
    let mut sorter = (feed == Feed::TimeSorted).then(|| TimeSorter::new(REORDER_WINDOW));
    let mut origin = None;
    loop {
        let block = reader.next_block().map_err(|source| Error::Trace {
            path: path.into(),
            source,
        })?;
        let first = *origin.get_or_insert_with(|| block.first().map_or(0, |e| e.ts_ns));
        match (&mut sorter, block.is_empty()) {
            (None, true) => return Ok(()),
            (None, false) => f(block, first),
            (Some(s), true) => {
                f(s.finish(), first);
                return Ok(());
            }
            (Some(s), false) => f(s.push(block), first),
        }
    }
}

fn open(path: &Path) -> Result<TraceReader<std::fs::File>> {
    open_trace(path)
}

/// Opens the trace at `path`, saying so when it is a results file (JSON) instead.
pub fn open_trace(path: &Path) -> Result<TraceReader<std::fs::File>> {
    TraceReader::open(path).map_err(|source| match source {
        kpath_trace::TraceError::BadMagic { ref found } if found.first() == Some(&b'{') => {
            Error::NotATrace { path: path.into() }
        }
        source => Error::Trace {
            path: path.into(),
            source,
        },
    })
}

/// Analyzes a trace from any reader, read once: a selection with `--function`, which needs
/// two passes, is refused.
pub fn analyze_reader<R: Read>(
    reader: TraceReader<R>,
    path: &Path,
    options: &AnalysisOptions,
) -> Result<Results> {
    if options.selection.needs_scan() {
        return Err(crate::selection::SelectionError::NeedsTwoPasses.into());
    }
    analyze_fed(reader, path, options, Feed::AsStored, None)
}

fn analyze_fed<R: Read>(
    mut reader: TraceReader<R>,
    path: &Path,
    options: &AnalysisOptions,
    feed: Feed,
    matched: Option<InvocationSet>,
) -> Result<Results> {
    let kernel = reader
        .metadata()
        .kernel_stats
        .as_ref()
        .map(|ks| kernel_stats_result(ks, reader.metadata(), options));
    let filter = filter_for(&options.selection, reader.metadata(), matched)?;
    let options = options.for_trace(reader.has_off_cpu());
    let mut a = Analyzer::with_filter(reader.metadata(), &options, filter);
    for_each_block(&mut reader, path, feed, |block, origin| {
        a.set_origin(origin);
        a.push_all(block)
    })?;
    let mut r = a.finish(&path.display().to_string(), reader.is_finalised());
    r.trace.off_cpu_recorded = reader.has_off_cpu();
    r.anomalies.open_at_end += reader.unplaced_exits();
    // The file's records, not the entries rebuilt (`notes.entry_records` says which).
    r.trace.records = reader.records_read();
    r.kernel_stats = kernel;
    r.trace.cut_tail = reader.cut_tail();
    Ok(r)
}

/// The kernel aggregates of a stats-mode trace, with notes on the options they ignore.
fn kernel_stats_result(
    ks: &crate::kernel_stats::KernelStats,
    meta: &Metadata,
    options: &AnalysisOptions,
) -> crate::kernel_stats::KernelStatsResult {
    let mut k = crate::kernel_stats::summarize(ks, meta);
    if options.filter != Filter::Interrupted {
        k.notes.insert(
            0,
            format!(
                "--filter {} does not apply: the kernel kept clean samples apart and the \
                 figures are those of the clean ones (as --filter interrupted)",
                options.filter.name()
            ),
        );
    }
    if options.subtract_probe_cost {
        k.notes.insert(
            0,
            "--subtract-probe-cost does not apply to kernel aggregates: they are as measured"
                .into(),
        );
    }
    if !options.selection.is_empty() {
        k.notes.insert(
            0,
            format!(
                "the selection ({}) does not apply to kernel aggregates: they are of every \
                 call the kernel aggregated",
                options.selection.flags()
            ),
        );
    }
    k
}

/// Analyzes the trace file at `path` (`kpath analyze`, `kpath report`), the invocations
/// `options.selection` keeps.
///
/// A trace whose records are out of time order within their streams is read a second time,
/// sorted (`crate::reorder`); `Results::trace.reordered` then says so. A trace in order is
/// read once, or twice with `--function` (the first pass finds the invocations that call
/// them, and checks the order).
pub fn analyze_file(path: &Path, options: &AnalysisOptions) -> Result<Results> {
    let scan = options.selection.needs_scan();
    let mut out_of_order = 0;
    let mut matched = None;
    if scan {
        let (m, anomalies) = scan_fed(open(path)?, path, &options.selection, Feed::AsStored)?;
        out_of_order = anomalies.out_of_order;
        matched = Some(m);
    }
    if out_of_order == 0 {
        let r = analyze_fed(open(path)?, path, options, Feed::AsStored, matched)?;
        if r.anomalies.out_of_order == 0 {
            return Ok(r);
        }
        out_of_order = r.anomalies.out_of_order;
    }
    let matched = if scan {
        Some(scan_fed(open(path)?, path, &options.selection, Feed::TimeSorted)?.0)
    } else {
        None
    };
    let mut sorted = analyze_fed(open(path)?, path, options, Feed::TimeSorted, matched)?;
    sorted.trace.reordered = Some(Reordered {
        out_of_order,
        window_records: REORDER_WINDOW as u64,
    });
    Ok(sorted)
}

/// What [`visit_file`] read besides the calls it reported.
#[derive(Debug)]
pub struct Visit {
    /// The trace's metadata.
    pub metadata: Metadata,
    /// The clock the calls were timed on (wall when on-CPU was asked of a format-1 trace).
    pub clock: Clock,
    /// What the call-tree builder could not match.
    pub anomalies: crate::calltree::TreeAnomalies,
    /// The cut-short last record of an unfinished trace, if any (to be reported).
    pub cut_tail: Option<kpath_trace::CutTail>,
    /// Whether the records were sorted by time first, and why (to be reported).
    pub reordered: Option<Reordered>,
    /// What the selection applied and kept (`None` without one).
    pub selection: Option<AppliedSelection>,
}

/// Runs only the call-tree builder over a trace, reporting every call to `visitor` (used by
/// `fold`, `export`, the HTML report's flame graph and the benchmark).
pub fn visit_file<V: CallVisitor>(
    path: &Path,
    classifier: &StageClassifier,
    clock: Clock,
    visitor: &mut V,
) -> Result<Visit> {
    visit_selected(path, classifier, clock, &Selection::default(), visitor)
}

/// [`visit_file`] reporting only the calls of the invocations `selection` keeps
/// (`Visit::selection` says how many).
pub fn visit_selected<V: CallVisitor>(
    path: &Path,
    classifier: &StageClassifier,
    clock: Clock,
    selection: &Selection,
    visitor: &mut V,
) -> Result<Visit> {
    // The visitor's output cannot be taken back: the order is checked first, by a pass
    // that reports nothing (and finds the invocations `--function` keeps), and the visit
    // sorts the records if it has to.
    let (matched, check) = scan_fed(open(path)?, path, selection, Feed::AsStored)?;
    let scan = selection.needs_scan();
    if check.out_of_order == 0 {
        return visit_fed(
            open(path)?,
            path,
            (classifier, clock),
            visitor,
            Feed::AsStored,
            (selection, scan.then_some(matched)),
        );
    }
    let matched = if scan {
        Some(scan_fed(open(path)?, path, selection, Feed::TimeSorted)?.0)
    } else {
        None
    };
    let mut v = visit_fed(
        open(path)?,
        path,
        (classifier, clock),
        visitor,
        Feed::TimeSorted,
        (selection, matched),
    )?;
    v.reordered = Some(Reordered {
        out_of_order: check.out_of_order,
        window_records: REORDER_WINDOW as u64,
    });
    Ok(v)
}

/// [`visit_selected`] for a caller that has already read the trace once and knows whether
/// its records needed sorting (`results.trace.reordered`, after [`analyze_file`] of the same
/// trace): it skips the order-checking pass, so `kpath tree`'s second look costs one pass,
/// not two. A selection with `--function` still needs its scan, and gets it.
pub fn visit_known_order<V: CallVisitor>(
    path: &Path,
    classifier: &StageClassifier,
    clock: Clock,
    selection: &Selection,
    visitor: &mut V,
    reordered: Option<Reordered>,
) -> Result<Visit> {
    if selection.needs_scan() {
        return visit_selected(path, classifier, clock, selection, visitor);
    }
    let feed = if reordered.is_some() {
        Feed::TimeSorted
    } else {
        Feed::AsStored
    };
    let mut v = visit_fed(
        open(path)?,
        path,
        (classifier, clock),
        visitor,
        feed,
        (selection, None),
    )?;
    v.reordered = reordered;
    Ok(v)
}

/// [`visit_file`] over any reader, in file order (a reader cannot be read twice: records out
/// of order are only counted, in `Visit::anomalies`).
pub fn visit_reader<R: Read, V: CallVisitor>(
    reader: TraceReader<R>,
    path: &Path,
    classifier: &StageClassifier,
    clock: Clock,
    visitor: &mut V,
) -> Result<Visit> {
    visit_fed(
        reader,
        path,
        (classifier, clock),
        visitor,
        Feed::AsStored,
        (&Selection::default(), None),
    )
}

/// One visit: calls built with `(classifier, clock)`, of the invocations `(selection, the
/// first pass's answer)` keeps.
fn visit_fed<R: Read, V: CallVisitor>(
    mut reader: TraceReader<R>,
    path: &Path,
    (classifier, clock): (&StageClassifier, Clock),
    visitor: &mut V,
    feed: Feed,
    (selection, matched): (&Selection, Option<InvocationSet>),
) -> Result<Visit> {
    let filter = filter_for(selection, reader.metadata(), matched)?;
    let meta = reader.metadata().clone();
    let clock = effective_clock(clock, reader.has_off_cpu());
    let mut tree = TreeBuilder::new(meta.functions.iter().map(|f| f.name.as_str()), classifier)
        .with_clock(clock)
        .with_filter(filter);
    for_each_block(&mut reader, path, feed, |block, origin| {
        tree.set_origin(origin);
        tree.push_block(block, visitor);
    })?;
    let mut anomalies = tree.finish();
    anomalies.open_at_end += reader.unplaced_exits();
    Ok(Visit {
        metadata: meta,
        clock,
        anomalies,
        cut_tail: reader.cut_tail(),
        reordered: None,
        selection: tree.applied_selection(),
    })
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use kpath_trace::{EventKind, ExecContext, Mechanism, ProbeCost, TraceWriter};

    use super::*;
    use crate::synth::{SynthConfig, SynthGenerator};

    /// A synthetic trace with interrupted calls, records lost here and there (anomalies and
    /// broken invocations), more tasks than the builder's stream cache has slots, and a probe
    /// cost large enough to clamp samples.
    fn trace_bytes() -> Vec<u8> {
        let mut cfg = SynthConfig::veth(3000);
        cfg.irq_probability = 0.2;
        let mut meta = cfg.metadata();
        meta.probe_cost = vec![ProbeCost {
            mechanism: Mechanism::Fentry,
            mean_ns: 45.0,
            variance_ns2: 4.0,
            samples: 1000,
            median_ns: None,
            bare: None,
            caller: None,
        }];
        let mut g = SynthGenerator::new(cfg);
        let mut events = Vec::new();
        while g.next_datagram(&mut events) {}
        for (n, e) in events.iter_mut().enumerate() {
            if e.context == ExecContext::Process as u8 {
                // 100 tasks, one per datagram in turn.
                e.tid = 1000 + (n as u32 / 34) % 100;
            }
        }
        let mut w = TraceWriter::new(Cursor::new(Vec::new()), meta).expect("writer");
        for (n, e) in events.iter().enumerate() {
            if n % 997 != 5 {
                w.write_event(e).expect("write");
            }
        }
        w.finish(|_| {}).expect("finish").into_inner()
    }

    /// The block path of `analyze_reader` gives exactly what feeding records one at a time
    /// gives, under every filter and with the probe-cost subtraction.
    #[test]
    fn blocks_and_single_records_give_the_same_results() {
        let bytes = trace_bytes();
        let path = Path::new("t.trace");
        for filter in [Filter::None, Filter::Interrupted, Filter::Net] {
            for subtract_probe_cost in [false, true] {
                let options = AnalysisOptions {
                    filter,
                    subtract_probe_cost,
                    ..AnalysisOptions::default()
                };
                let reader = TraceReader::new(Cursor::new(&bytes)).expect("reader");
                let blocks = analyze_reader(reader, path, &options).expect("analyze");

                let mut reader = TraceReader::new(Cursor::new(&bytes)).expect("reader");
                let mut a = Analyzer::new(reader.metadata(), &options.for_trace(true));
                while let Some(e) = reader.next_event().expect("event") {
                    a.push(&e);
                }
                let mut single = a.finish(&path.display().to_string(), reader.is_finalised());
                single.trace.off_cpu_recorded = reader.has_off_cpu();

                let json = |r: &Results| serde_json::to_string(r).expect("json");
                assert_eq!(
                    json(&blocks),
                    json(&single),
                    "{filter:?} {subtract_probe_cost}"
                );
                assert!(blocks.anomalies.broken_invocations > 0);
                let clamped: u64 = blocks.functions.iter().map(|f| f.probe_cost_clamped).sum();
                assert_eq!(clamped > 0, subtract_probe_cost);
            }
        }
    }

    /// A trace of exit records only (format version 3) gives the results of the same calls
    /// recorded with entry records, under every filter: its reader rebuilds the entries.
    #[test]
    fn a_trace_without_entry_records_gives_the_same_results() {
        let mut cfg = SynthConfig::veth(2000);
        cfg.irq_probability = 0.2;
        let mut g = SynthGenerator::new(cfg.clone());
        let mut events = Vec::new();
        while g.next_datagram(&mut events) {}
        let write = |entries: bool| {
            let mut meta = cfg.metadata();
            meta.entry_records = (!entries).then_some(false);
            let mut w = TraceWriter::new(Cursor::new(Vec::new()), meta).expect("writer");
            for e in events
                .iter()
                .filter(|e| entries || e.kind == EventKind::Exit as u8)
            {
                w.write_event(e).expect("write");
            }
            w.finish(|_| {}).expect("finish").into_inner()
        };
        let (full, exits) = (write(true), write(false));
        assert!(exits.len() < full.len() * 6 / 10, "half the records");
        let path = Path::new("t.trace");
        for filter in [Filter::None, Filter::Interrupted, Filter::Net] {
            let options = AnalysisOptions {
                filter,
                ..AnalysisOptions::default()
            };
            let results = |bytes: &[u8]| {
                let reader = TraceReader::new(Cursor::new(bytes)).expect("reader");
                let r = analyze_reader(reader, path, &options).expect("analyze");
                serde_json::to_value(&r).expect("json")
            };
            let (a, mut b) = (results(&full), results(&exits));
            assert!(a["functions"].as_array().is_some_and(|f| !f.is_empty()));
            // The one difference: the trace's notes say it has no entry records.
            // The differences: the trace's notes say it has no entry records, and it has
            // half the records.
            let note = b["trace"]["notes"]
                .as_object_mut()
                .and_then(|n| n.remove("entry_records"));
            assert_eq!(note, Some(serde_json::Value::Bool(false)));
            assert_eq!(
                b["trace"]["records"].as_u64().map(|n| 2 * n),
                a["trace"]["records"].as_u64()
            );
            b["trace"]["records"] = a["trace"]["records"].clone();
            for (key, value) in a.as_object().expect("an object") {
                assert_eq!(
                    Some(value),
                    b.get(key),
                    "{filter:?}: {key}: {value} against {}",
                    b[key]
                );
            }
            assert_eq!(a, b, "{filter:?}");
        }
    }

    /// Accumulators exist for the functions that occur, not for the whole table: a table of
    /// 100 000 entries with calls to a handful of them keeps a handful.
    #[test]
    fn memory_follows_the_functions_that_occur() {
        let cfg = SynthConfig::veth(50);
        let mut meta = cfg.metadata();
        let used = meta.functions.len();
        for i in 0..100_000 {
            meta.add_function(format!("unused_{i}"), None, None, Mechanism::Kprobe);
        }
        let mut a = Analyzer::new(&meta, &AnalysisOptions::default());
        let mut g = SynthGenerator::new(cfg);
        let mut events = Vec::new();
        while g.next_datagram(&mut events) {}
        for e in &events {
            a.push(e);
        }
        let occurring = a.acc.funcs.len();
        assert!(
            occurring > 0 && occurring <= 3 * used,
            "{occurring} accumulators"
        );
        let r = a.finish("t.trace", true);
        assert_eq!(r.functions.len(), occurring);
    }
}
