//! The analysis pass (methodology steps 3–6, 8): one streaming pass over a trace that feeds
//! the call-tree builder and per-function, per-level and per-stage statistics, then
//! [`Analyzer::finish`] assembles [`Results`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;
use std::path::Path;

use kpath_trace::{flags, Event, Mechanism, Metadata, TraceReader};

use crate::calltree::{Call, CallVisitor, Frame, Shape, TreeBuilder};
use crate::chain;
use crate::error::{Error, Result};
use crate::queueing;
use crate::results::*;
use crate::shapes::{ShapeTable, TreeCounts};
use crate::stage::{Stage, StageClassifier};
use crate::stats::{Moments, RunningMean, SampleStats};
use crate::util::ratio;

/// Options of an analysis.
#[derive(Clone, Debug, PartialEq)]
pub struct AnalysisOptions {
    /// Sample filter.
    pub filter: Filter,
    /// Subtract the calibrated probe cost: `mean_ns·(1 + probed calls inside)` per sample.
    pub subtract_probe_cost: bool,
    /// Root → stage classification.
    pub classifier: StageClassifier,
    /// Distinct tree shapes kept per stage.
    pub max_shapes: usize,
}

impl Default for AnalysisOptions {
    fn default() -> Self {
        Self {
            filter: Filter::Interrupted,
            subtract_probe_cost: false,
            classifier: StageClassifier::default(),
            max_shapes: 4096,
        }
    }
}

#[derive(Clone, Debug)]
struct FuncAcc {
    /// Samples kept by the filter (`calls()` = kept + dropped).
    kept: SampleStats,
    /// Net times (duration minus interrupt time) of calls without a switch or migration;
    /// only their mean is reported.
    net: RunningMean,
    interrupted: Interruptions,
    dropped: u64,
    /// Samples clamped to zero by the probe-cost subtraction.
    clamped: u64,
    /// Smallest depth seen (`u16::MAX` before the first call).
    min_depth: u16,
    max_height: u16,
}

impl Default for FuncAcc {
    fn default() -> Self {
        Self {
            kept: SampleStats::new(),
            net: RunningMean::new(),
            interrupted: Interruptions::default(),
            dropped: 0,
            clamped: 0,
            min_depth: u16::MAX,
            max_height: 0,
        }
    }
}

impl FuncAcc {
    fn calls(&self) -> u64 {
        self.kept.count() + self.dropped
    }
}

struct Accumulators {
    nfuncs: usize,
    filter: Filter,
    /// Whether any function has a probe cost to subtract (`probe_cost_ns` not all zero).
    subtract: bool,
    probe_cost_ns: Vec<f64>,
    /// Per (stage, function): the index of its accumulator in `funcs`, or [`NO_SLOT`] until
    /// its first call. Memory grows with the functions that occur, not with the function
    /// table (a table of 200 000 entries costs 12 bytes each; an accumulator is ~150).
    slots: Vec<u32>,
    funcs: Vec<FuncAcc>,
    by_depth: [Vec<Moments>; 3],
    by_height: [Vec<Moments>; 3],
    /// Root calls kept by the filter, and dropped (root calls = kept + dropped).
    roots: [SampleStats; 3],
    root_dropped: [u64; 3],
    shapes: [ShapeTable; 3],
}

/// A sample, with its whole nanoseconds when it has them (see [`SampleStats::push_ns`]).
#[derive(Clone, Copy)]
struct Sample {
    value: f64,
    ns: Option<u64>,
}

impl Sample {
    #[inline(always)]
    fn ns(ns: u64) -> Self {
        Self {
            value: ns_to_f64(ns),
            ns: Some(ns),
        }
    }

    #[inline(always)]
    fn any(value: f64) -> Self {
        Self { value, ns: None }
    }

    #[inline(always)]
    fn push_to(self, stats: &mut SampleStats) {
        match self.ns {
            Some(ns) => stats.push_ns(ns, self.value),
            None => stats.push(self.value),
        }
    }

    #[inline(always)]
    fn push_to_moments(self, moments: &mut Moments) {
        match self.ns {
            Some(ns) => moments.push_ns(ns),
            None => moments.push(self.value),
        }
    }
}

/// `ns as f64`, with one signed conversion instruction when `ns < 2⁶³` (always, in practice)
/// instead of the longer unsigned sequence; the same value either way.
#[inline(always)]
fn ns_to_f64(ns: u64) -> f64 {
    match i64::try_from(ns) {
        Ok(i) => i as f64,
        Err(_) => huge_ns_to_f64(ns),
    }
}

/// The other case of [`ns_to_f64`], out of line: inlined, the compiler would merge the two
/// back into the unsigned conversion.
#[cold]
#[inline(never)]
fn huge_ns_to_f64(ns: u64) -> f64 {
    ns as f64
}

/// [`Filter`] as a constant parameter of the per-call code (see [`Fixed`]).
const NO_FILTER: u8 = 0;
const INTERRUPTED_FILTER: u8 = 1;
const NET_FILTER: u8 = 2;

/// The accumulators with the filter and the probe-cost choice fixed at compile time: the code
/// run for every call then tests neither (one instance of the loop per combination).
struct Fixed<'a, const FILTER: u8, const SUBTRACT: bool>(&'a mut Accumulators);

impl<const FILTER: u8, const SUBTRACT: bool> CallVisitor for Fixed<'_, FILTER, SUBTRACT> {
    #[inline(always)]
    fn call(&mut self, call: &Call<'_>, _ancestors: &[Frame]) {
        self.0.call_fixed::<FILTER, SUBTRACT>(call);
    }

    fn invocation(&mut self, stage: Stage, shape: &Shape, broken: bool) {
        self.0.invocation(stage, shape, broken);
    }
}

impl CallVisitor for Accumulators {
    fn call(&mut self, call: &Call<'_>, _ancestors: &[Frame]) {
        match (self.filter, self.subtract) {
            (Filter::None, false) => self.call_fixed::<NO_FILTER, false>(call),
            (Filter::None, true) => self.call_fixed::<NO_FILTER, true>(call),
            (Filter::Interrupted, false) => self.call_fixed::<INTERRUPTED_FILTER, false>(call),
            (Filter::Interrupted, true) => self.call_fixed::<INTERRUPTED_FILTER, true>(call),
            (Filter::Net, false) => self.call_fixed::<NET_FILTER, false>(call),
            (Filter::Net, true) => self.call_fixed::<NET_FILTER, true>(call),
        }
    }

    fn invocation(&mut self, stage: Stage, shape: &Shape, broken: bool) {
        if !broken {
            self.shapes[stage.index()].add(shape);
        }
    }
}

/// A (stage, function) without calls yet.
const NO_SLOT: u32 = u32::MAX;

impl Accumulators {
    /// The accumulator of slot index `idx`, created at its first call; `None` for an index
    /// outside the table.
    #[inline(always)]
    fn func_mut(&mut self, idx: usize) -> Option<&mut FuncAcc> {
        let slot = *self.slots.get(idx)?;
        let slot = if slot == NO_SLOT {
            self.new_slot(idx)
        } else {
            slot as usize
        };
        self.funcs.get_mut(slot)
    }

    #[cold]
    #[inline(never)]
    fn new_slot(&mut self, idx: usize) -> usize {
        let slot = self.funcs.len();
        self.funcs.push(FuncAcc::default());
        // At most 3 × u32::MAX − 1 functions: the function table's ids are u32.
        self.slots[idx] = u32::try_from(slot).unwrap_or(NO_SLOT - 1);
        slot
    }

    /// The accumulator of (stage, function id), if it had calls.
    fn func(&self, stage: Stage, id: usize) -> Option<&FuncAcc> {
        match *self.slots.get(stage.index() * self.nfuncs + id)? {
            NO_SLOT => None,
            slot => self.funcs.get(slot as usize),
        }
    }

    #[inline(always)]
    fn call_fixed<const FILTER: u8, const SUBTRACT: bool>(&mut self, call: &Call<'_>) {
        let si = call.stage.index();
        let e = call.exit;
        // `Event::interrupted`, and its part that `Filter::Net` cannot correct, as two tests.
        let off_cpu = e.switches | (e.flags & flags::MIGRATED);
        let clean = off_cpu == 0;
        let interrupted = (e.hardirqs | e.softirqs | off_cpu) != 0;
        let net_ns = call.dur_ns.saturating_sub(e.irq_ns);
        let (value, clamped) = self.sample::<FILTER, SUBTRACT>(call, interrupted, clean, net_ns);
        let idx = si * self.nfuncs + call.func_id as usize;
        let Some(acc) = self.func_mut(idx) else {
            return;
        };
        acc.clamped += u64::from(clamped);
        // Branches, not `min`/`max`: a function's depth and height hardly ever change, and a
        // store skipped is cheaper than a store of the same value.
        if call.depth < acc.min_depth {
            acc.min_depth = call.depth;
        }
        if call.height > acc.max_height {
            acc.max_height = call.height;
        }
        if interrupted {
            let i = &mut acc.interrupted;
            i.total += 1;
            i.hardirq += u64::from(e.hardirqs != 0);
            i.softirq += u64::from(e.softirqs != 0);
            i.switch += u64::from(e.switches != 0);
            i.migration += u64::from(e.flags & flags::MIGRATED != 0);
        }
        if clean {
            acc.net.push_ns(net_ns);
        }
        match value {
            Some(v) => {
                v.push_to(&mut acc.kept);
                push_level(&mut self.by_depth[si], call.depth, v);
                push_level(&mut self.by_height[si], call.height, v);
            }
            None => acc.dropped += 1,
        }
        if call.depth == 0 {
            match value {
                Some(v) => v.push_to(&mut self.roots[si]),
                None => self.root_dropped[si] += 1,
            }
        }
    }

    /// The sample of a call under the filter, or `None` if dropped; whether the probe-cost
    /// subtraction had to clamp it to zero. `clean` is true when no context switch or
    /// migration hit the call, `net_ns` is its duration minus the interrupt time.
    #[inline(always)]
    fn sample<const FILTER: u8, const SUBTRACT: bool>(
        &self,
        call: &Call<'_>,
        interrupted: bool,
        clean: bool,
        net_ns: u64,
    ) -> (Option<Sample>, bool) {
        let ns = match FILTER {
            NO_FILTER => Some(call.dur_ns),
            NET_FILTER => clean.then_some(net_ns),
            // INTERRUPTED_FILTER
            _ => (!interrupted).then_some(call.dur_ns),
        };
        let cost = if SUBTRACT {
            self.probe_cost_ns
                .get(call.func_id as usize)
                .copied()
                .unwrap_or(0.0)
        } else {
            0.0
        };
        // Without a probe cost (the default) the sample is the measured time as it is: `x −
        // 0·(…)` is `x`, and a time from integer nanoseconds is never negative.
        if cost == 0.0 {
            return (ns.map(Sample::ns), false);
        }
        let v = ns.map(|ns| ns as f64 - cost * (1.0 + f64::from(call.descendants)));
        // A negative time means the calibration overstates this call's probe cost: keep the
        // sample at zero, and count it so that the report can say so.
        let clamped = v.is_some_and(|x| x < 0.0);
        (v.map(|x| Sample::any(x.max(0.0))), clamped)
    }
}

#[inline(always)]
fn push_level(levels: &mut Vec<Moments>, level: u16, v: Sample) {
    match levels.get_mut(usize::from(level)) {
        Some(m) => v.push_to_moments(m),
        None => push_new_level(levels, level, v),
    }
}

#[cold]
fn push_new_level(levels: &mut Vec<Moments>, level: u16, v: Sample) {
    let l = usize::from(level);
    levels.resize(l + 1, Moments::new());
    v.push_to_moments(&mut levels[l]);
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
    /// An analyzer for a trace with metadata `meta`.
    pub fn new(meta: &Metadata, options: &AnalysisOptions) -> Self {
        let nfuncs = meta.functions.len();
        let tree = TreeBuilder::new(
            meta.functions.iter().map(|f| f.name.as_str()),
            &options.classifier,
        );
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
                slots: vec![NO_SLOT; nfuncs * 3],
                funcs: Vec::new(),
                by_depth: Default::default(),
                by_height: Default::default(),
                roots: Default::default(),
                root_dropped: [0; 3],
                shapes: std::array::from_fn(|_| ShapeTable::new(options.max_shapes)),
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
        for e in events {
            self.tree.push(e, &mut acc);
        }
    }

    /// Assembles the results. `path` and `finalised` describe the source for the report.
    /// `Results::kernel_stats` stays `None` here: [`analyze_reader`] fills it from the
    /// metadata of stats-mode traces (`crate::kernel_stats`), because that can fail.
    pub fn finish(mut self, path: &str, finalised: bool) -> Results {
        let anomalies = self.tree.finish();
        let meta = &self.meta;
        let name = |id: u32| {
            meta.functions
                .get(id as usize)
                .map_or_else(|| format!("#{id}"), |f| f.name.clone())
        };
        let acc = &self.acc;
        let counts: Vec<TreeCounts> = acc.shapes.iter().map(|s| s.counts()).collect();

        let mut functions = Vec::new();
        for stage in Stage::ALL {
            let c = &counts[stage.index()];
            for (id, f) in meta.functions.iter().enumerate() {
                let Some(a) = acc.func(stage, id) else {
                    continue;
                };
                if a.calls() == 0 {
                    continue;
                }
                let in_tree = c.calls.get(&(id as u32)).copied().unwrap_or(0);
                functions.push(FunctionResult {
                    stage,
                    function: f.name.clone(),
                    func_id: id as u32,
                    mechanism: f.mechanism.name().into(),
                    calls: a.calls(),
                    k: ratio(in_tree as f64, c.invocations as f64),
                    depth_from_root: a.min_depth,
                    level_from_leaves: a.max_height,
                    interrupted: a.interrupted,
                    dropped: a.dropped,
                    stats: a.kept.summary(),
                    net_mean: a.net.mean(),
                    probe_cost_clamped: a.clamped,
                });
            }
        }
        let stat_of: HashMap<(Stage, u32), (f64, f64)> = functions
            .iter()
            .map(|f| ((f.stage, f.func_id), (f.stats.mean, f.stats.variance)))
            .collect();
        let t_of = |stage: Stage, id: u32| stat_of.get(&(stage, id)).copied().unwrap_or((0.0, 0.0));

        let mut levels = Vec::new();
        for stage in Stage::ALL {
            let c = &counts[stage.index()];
            for (from, map, samples) in [
                (LevelOrigin::Root, &c.by_depth, &acc.by_depth[stage.index()]),
                (
                    LevelOrigin::Leaves,
                    &c.by_height,
                    &acc.by_height[stage.index()],
                ),
            ] {
                let mut per_level: BTreeMap<u16, Vec<(u32, u64)>> = BTreeMap::new();
                for (&(f, l), &n) in map {
                    per_level.entry(l).or_default().push((f, n));
                }
                for (level, mut fs) in per_level {
                    fs.sort_unstable();
                    let inv = c.invocations as f64;
                    let (mut kt, mut kd, mut calls) = (0.0, 0.0, 0u64);
                    for &(f, n) in &fs {
                        let (t, d) = t_of(stage, f);
                        kt += ratio(n as f64, inv) * t;
                        kd += ratio(n as f64, inv) * d;
                        calls += n;
                    }
                    let w = samples.get(usize::from(level)).copied().unwrap_or_default();
                    levels.push(LevelResult {
                        stage,
                        from,
                        level,
                        functions: fs.iter().map(|&(f, _)| name(f)).collect(),
                        calls_per_invocation: ratio(calls as f64, inv),
                        sum_kt: kt,
                        sum_kd: kd,
                        samples: w.count(),
                        mean: w.mean(),
                        variance: w.variance(),
                    });
                }
            }
        }

        let mut chains = Vec::new();
        let mut trees = Vec::new();
        let mut stages = Vec::new();
        for stage in Stage::ALL {
            let si = stage.index();
            let c = &counts[si];
            let stage_chains = chain::chains(stage, c, &|id| t_of(stage, id), &name);
            let stage_fns: Vec<&FunctionResult> =
                functions.iter().filter(|f| f.stage == stage).collect();
            let root_calls = acc.roots[si].count() + acc.root_dropped[si];
            if root_calls == 0 && stage_fns.is_empty() {
                continue;
            }
            let summary = acc.roots[si].summary();
            let calls_per_inv = ratio(c.total_calls() as f64, c.invocations as f64);
            let with_samples: Vec<f64> = stage_fns
                .iter()
                .filter(|f| f.stats.samples > 0)
                .map(|f| f.stats.mean)
                .collect();
            let plain = ratio(with_samples.iter().sum(), with_samples.len() as f64);
            let normative = ratio(summary.mean, calls_per_inv);
            stages.push(StageResult {
                stage,
                invocations: root_calls,
                complete_invocations: c.invocations,
                dropped: acc.root_dropped[si],
                stats: summary,
                calls_per_invocation: calls_per_inv,
                distinct_functions: stage_fns.len(),
                plain_average: plain,
                normative_per_call: normative,
                normative_error_pct: 100.0 * ratio(plain - normative, normative),
            });
            trees.push(tree_result(stage, &acc.shapes[si], c, &stage_chains, &name));
            chains.extend(stage_chains);
        }

        let rx: BTreeSet<&str> = functions
            .iter()
            .filter(|f| f.stage == Stage::Rx)
            .map(|f| f.function.as_str())
            .collect();
        let common_functions = functions
            .iter()
            .filter(|f| f.stage == Stage::Tx && rx.contains(f.function.as_str()))
            .map(|f| f.function.clone())
            .collect();

        let mut service = Service::default();
        for s in stages.iter().filter(|s| s.stage != Stage::Other) {
            service.mean += s.stats.mean;
            service.variance += s.stats.variance;
        }
        service.cv2 = ratio(service.variance, service.mean * service.mean);
        let model = queueing::project(
            service.mean,
            service.variance,
            1.0,
            &queueing::default_rhos(),
        )
        .ok();

        Results {
            schema: RESULTS_SCHEMA,
            analyzer: concat!("kpath-analysis ", env!("CARGO_PKG_VERSION")).into(),
            unit: "ns".into(),
            unit_ns: 1.0,
            trace: TraceInfo {
                path: path.into(),
                tool: meta.tool.clone(),
                kernel_release: meta.kernel_release.clone(),
                hostname: meta.hostname.clone(),
                cpu_count: meta.cpu_count,
                records: self.records,
                finalised,
                lost_events: meta.lost_events(),
                lost_events_per_cpu: meta.lost_events_per_cpu.clone(),
                start_time_unix_ns: meta.start_time_unix_ns,
                stop_time_unix_ns: meta.stop_time_unix_ns,
                command_line: meta.command_line.clone(),
                clock_source: meta.clock_source.clone(),
                recorder: meta.recorder.clone(),
                cut_tail: None, // known only at the end: analyze_reader sets it
                // `kernel_stats` gets its own section (`Results::kernel_stats`).
                notes: meta.notes(),
            },
            settings: Settings {
                filter: self.options.filter,
                subtract_probe_cost: self.options.subtract_probe_cost,
                classifier: self.options.classifier.clone(),
            },
            probe_cost: meta
                .probe_cost
                .iter()
                .map(|p| ProbeCostInfo {
                    mechanism: p.mechanism.name().into(),
                    mean: p.mean_ns,
                    variance: p.variance_ns2,
                    samples: p.samples,
                    median: p.median_ns,
                    bare_mean: p.bare.as_ref().map(|b| b.mean_ns),
                    own_share: p.own_share_ns(),
                })
                .collect(),
            anomalies,
            functions,
            levels,
            chains,
            stages,
            trees,
            common_functions,
            service,
            model,
            validation: None,
            kernel_stats: None,
        }
    }
}

fn probe_cost_of(meta: &Metadata, m: Mechanism) -> f64 {
    meta.probe_cost
        .iter()
        .find(|p| p.mechanism == m)
        .map_or(0.0, |p| p.mean_ns)
}

fn tree_result(
    stage: Stage,
    table: &ShapeTable,
    c: &TreeCounts,
    chains: &[ChainResult],
    name: &dyn Fn(u32) -> String,
) -> TreeResult {
    let sorted = table.sorted();
    let mut top_shape = Vec::new();
    let mut depth_by_call = Vec::new();
    if let Some((shape, _)) = sorted.first() {
        let mut depth: u16 = 0;
        for &t in *shape {
            let f = name(t >> 1);
            if t & 1 == 0 {
                top_shape.push(TreeLine {
                    depth,
                    function: f,
                    ret: false,
                });
                depth_by_call.push(depth);
                depth = depth.saturating_add(1);
            } else {
                depth = depth.saturating_sub(1);
                top_shape.push(TreeLine {
                    depth,
                    function: f,
                    ret: true,
                });
            }
        }
    }
    let shapes = sorted
        .iter()
        .take(10)
        .map(|(shape, count)| {
            let mut depth = 0u16;
            let mut max_depth = 0u16;
            for &t in *shape {
                if t & 1 == 0 {
                    max_depth = max_depth.max(depth);
                    depth += 1;
                } else {
                    depth = depth.saturating_sub(1);
                }
            }
            ShapeResult {
                count: *count,
                fraction: ratio(*count as f64, c.invocations as f64),
                root: shape.first().map_or_else(String::new, |&t| name(t >> 1)),
                calls: shape.len() / 2,
                max_depth,
            }
        })
        .collect();
    TreeResult {
        stage,
        invocations: c.invocations,
        max_depth: c.max_depth,
        distinct_functions: c.calls.len(),
        calls_per_invocation: ratio(c.total_calls() as f64, c.invocations as f64),
        distinct_shapes: table.distinct(),
        shapes,
        top_shape,
        depth_by_call,
        chain_roots: chains.iter().map(|ch| ch.root.clone()).collect(),
    }
}

/// Analyzes a trace from any reader.
pub fn analyze_reader<R: Read>(
    mut reader: TraceReader<R>,
    path: &Path,
    options: &AnalysisOptions,
) -> Result<Results> {
    let kernel = reader
        .metadata()
        .kernel_stats
        .as_ref()
        .map(|ks| kernel_stats_result(ks, reader.metadata(), options));
    let mut a = Analyzer::new(reader.metadata(), options);
    loop {
        let block = reader.next_block().map_err(|source| Error::Trace {
            path: path.into(),
            source,
        })?;
        if block.is_empty() {
            break;
        }
        a.push_all(block);
    }
    let mut r = a.finish(&path.display().to_string(), reader.is_finalised());
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
    k
}

/// Analyzes the trace file at `path` (`kpath analyze`, `kpath report`).
pub fn analyze_file(path: &Path, options: &AnalysisOptions) -> Result<Results> {
    let reader = TraceReader::open(path).map_err(|source| Error::Trace {
        path: path.into(),
        source,
    })?;
    analyze_reader(reader, path, options)
}

/// What [`visit_file`] read besides the calls it reported.
#[derive(Debug)]
pub struct Visit {
    /// The trace's metadata.
    pub metadata: Metadata,
    /// What the call-tree builder could not match.
    pub anomalies: crate::calltree::TreeAnomalies,
    /// The cut-short last record of an unfinished trace, if any (to be reported).
    pub cut_tail: Option<kpath_trace::CutTail>,
}

/// Runs only the call-tree builder over a trace, reporting calls to `visitor` (used by
/// `fold`, `export` and the benchmark).
pub fn visit_file<V: CallVisitor>(
    path: &Path,
    classifier: &StageClassifier,
    visitor: &mut V,
) -> Result<Visit> {
    let reader = TraceReader::open(path).map_err(|source| Error::Trace {
        path: path.into(),
        source,
    })?;
    visit_reader(reader, path, classifier, visitor)
}

/// [`visit_file`] over any reader.
pub fn visit_reader<R: Read, V: CallVisitor>(
    mut reader: TraceReader<R>,
    path: &Path,
    classifier: &StageClassifier,
    visitor: &mut V,
) -> Result<Visit> {
    let meta = reader.metadata().clone();
    let mut tree = TreeBuilder::new(meta.functions.iter().map(|f| f.name.as_str()), classifier);
    loop {
        let block = reader.next_block().map_err(|source| Error::Trace {
            path: path.into(),
            source,
        })?;
        if block.is_empty() {
            break;
        }
        for e in block {
            tree.push(e, visitor);
        }
    }
    Ok(Visit {
        metadata: meta,
        anomalies: tree.finish(),
        cut_tail: reader.cut_tail(),
    })
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use kpath_trace::{ExecContext, ProbeCost, TraceWriter};

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
                let mut a = Analyzer::new(reader.metadata(), &options);
                while let Some(e) = reader.next_event().expect("event") {
                    a.push(&e);
                }
                let single = a.finish(&path.display().to_string(), reader.is_finalised());

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
