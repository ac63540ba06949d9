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
use crate::stats::{SampleStats, Welford};

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

#[derive(Clone, Debug, Default)]
struct FuncAcc {
    calls: u64,
    kept: SampleStats,
    net: Welford,
    interrupted: Interruptions,
    dropped: u64,
    /// Samples clamped to zero by the probe-cost subtraction.
    clamped: u64,
    min_depth: Option<u16>,
    max_height: u16,
}

struct Accumulators {
    nfuncs: usize,
    filter: Filter,
    probe_cost_ns: Vec<f64>,
    funcs: Vec<FuncAcc>,
    by_depth: [Vec<Welford>; 3],
    by_height: [Vec<Welford>; 3],
    roots: [SampleStats; 3],
    root_calls: [u64; 3],
    root_dropped: [u64; 3],
    shapes: [ShapeTable; 3],
}

impl Accumulators {
    /// The sample value of a call under the filter, or `None` if dropped; whether it was
    /// interrupted; whether the probe-cost subtraction had to clamp it to zero.
    #[inline]
    fn sample(&self, call: &Call<'_>) -> (Option<f64>, bool, bool) {
        let e = call.exit;
        let interrupted = e.interrupted();
        let v = match self.filter {
            Filter::None => Some(call.dur_ns as f64),
            Filter::Interrupted => (!interrupted).then_some(call.dur_ns as f64),
            Filter::Net => (e.switches == 0 && e.flags & flags::MIGRATED == 0)
                .then(|| call.dur_ns.saturating_sub(e.irq_ns) as f64),
        };
        let cost = self
            .probe_cost_ns
            .get(call.func_id as usize)
            .copied()
            .unwrap_or(0.0);
        let v = v.map(|x| x - cost * (1.0 + f64::from(call.descendants)));
        // A negative time means the calibration overstates this call's probe cost: keep the
        // sample at zero, and count it so that the report can say so.
        let clamped = v.is_some_and(|x| x < 0.0);
        (v.map(|x| x.max(0.0)), interrupted, clamped)
    }
}

impl CallVisitor for Accumulators {
    #[inline]
    fn call(&mut self, call: &Call<'_>, _ancestors: &[Frame]) {
        let si = call.stage.index();
        let (value, interrupted, clamped) = self.sample(call);
        let e = call.exit;
        let idx = si * self.nfuncs + call.func_id as usize;
        let Some(acc) = self.funcs.get_mut(idx) else {
            return;
        };
        acc.calls += 1;
        acc.clamped += u64::from(clamped);
        acc.min_depth = Some(acc.min_depth.map_or(call.depth, |d| d.min(call.depth)));
        acc.max_height = acc.max_height.max(call.height);
        if interrupted {
            let i = &mut acc.interrupted;
            i.total += 1;
            i.hardirq += u64::from(e.hardirqs != 0);
            i.softirq += u64::from(e.softirqs != 0);
            i.switch += u64::from(e.switches != 0);
            i.migration += u64::from(e.flags & flags::MIGRATED != 0);
        }
        if e.switches == 0 && e.flags & flags::MIGRATED == 0 {
            acc.net.push(call.dur_ns.saturating_sub(e.irq_ns) as f64);
        }
        match value {
            Some(v) => {
                acc.kept.push(v);
                push_level(&mut self.by_depth[si], call.depth, v);
                push_level(&mut self.by_height[si], call.height, v);
            }
            None => acc.dropped += 1,
        }
        if call.depth == 0 {
            self.root_calls[si] += 1;
            match value {
                Some(v) => self.roots[si].push(v),
                None => self.root_dropped[si] += 1,
            }
        }
    }

    fn invocation(&mut self, stage: Stage, shape: &Shape, broken: bool) {
        if !broken {
            self.shapes[stage.index()].add(shape);
        }
    }
}

fn push_level(levels: &mut Vec<Welford>, level: u16, v: f64) {
    let l = usize::from(level);
    if levels.len() <= l {
        levels.resize(l + 1, Welford::new());
    }
    levels[l].push(v);
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
            .collect();
        Self {
            meta: meta.clone(),
            options: options.clone(),
            tree,
            acc: Accumulators {
                nfuncs,
                filter: options.filter,
                probe_cost_ns,
                funcs: vec![FuncAcc::default(); nfuncs * 3],
                by_depth: Default::default(),
                by_height: Default::default(),
                roots: Default::default(),
                root_calls: [0; 3],
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
                let a = &acc.funcs[stage.index() * acc.nfuncs + id];
                if a.calls == 0 {
                    continue;
                }
                let in_tree = c.calls.get(&(id as u32)).copied().unwrap_or(0);
                functions.push(FunctionResult {
                    stage,
                    function: f.name.clone(),
                    func_id: id as u32,
                    mechanism: f.mechanism.name().into(),
                    calls: a.calls,
                    k: ratio(in_tree as f64, c.invocations as f64),
                    depth_from_root: a.min_depth.unwrap_or(0),
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
            if acc.root_calls[si] == 0 && stage_fns.is_empty() {
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
                invocations: acc.root_calls[si],
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
                // `kernel_stats` gets its own section (`Results::kernel_stats`).
                notes: meta
                    .extra
                    .iter()
                    .filter(|(k, _)| k.as_str() != crate::kernel_stats::FIELD)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
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

/// `a/b`, or 0 when `b` is 0.
pub(crate) fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        0.0
    } else {
        a / b
    }
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
    let kernel = crate::kernel_stats::parse(reader.metadata())
        .map_err(|source| Error::KernelStats {
            path: path.into(),
            source,
        })?
        .map(|ks| kernel_stats_result(&ks, reader.metadata(), options));
    let mut a = Analyzer::new(reader.metadata(), options);
    loop {
        match reader.next_event() {
            Ok(Some(e)) => a.push(&e),
            Ok(None) => break,
            Err(source) => {
                return Err(Error::Trace {
                    path: path.into(),
                    source,
                })
            }
        }
    }
    let mut r = a.finish(&path.display().to_string(), reader.is_finalised());
    r.kernel_stats = kernel;
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

/// Runs only the call-tree builder over a trace, reporting calls to `visitor` (used by
/// `fold`, `export` and the benchmark). Returns the tree anomalies.
pub fn visit_file<V: CallVisitor>(
    path: &Path,
    classifier: &StageClassifier,
    visitor: &mut V,
) -> Result<(Metadata, crate::calltree::TreeAnomalies)> {
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
) -> Result<(Metadata, crate::calltree::TreeAnomalies)> {
    let meta = reader.metadata().clone();
    let mut tree = TreeBuilder::new(meta.functions.iter().map(|f| f.name.as_str()), classifier);
    loop {
        match reader.next_event() {
            Ok(Some(e)) => tree.push(&e, visitor),
            Ok(None) => break,
            Err(source) => {
                return Err(Error::Trace {
                    path: path.into(),
                    source,
                })
            }
        }
    }
    let anomalies = tree.finish();
    Ok((meta, anomalies))
}
