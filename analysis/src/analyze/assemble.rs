//! Assembles [`Results`] from what the analysis pass accumulated: per-function figures, levels
//! (methodology step 5), chains and stages (step 6), trees, the common functions, the service
//! time and the queueing model (step 8).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use kpath_trace::{Mechanism, Metadata};

use super::{AnalysisOptions, Analyzer};
use crate::chain;
use crate::queueing;
use crate::results::*;
use crate::shapes::{ShapeTable, TreeCounts};
use crate::stage::Stage;
use crate::util::ratio;

/// The probe runs the kernel skipped (`kpath_trace::recording::RECURSION_MISSES`).
pub fn missed_probe_runs(meta: &Metadata) -> u64 {
    meta.kernel_counters
        .as_ref()
        .and_then(|c| c.get(kpath_trace::recording::RECURSION_MISSES))
        .copied()
        .unwrap_or(0)
}

/// The sources of a stage's invocations, most first (then by context and pid).
fn sources_of(counts: &[((u8, u32), u64)]) -> Vec<SourceCount> {
    let mut sorted = counts.to_vec();
    sorted.sort_unstable_by_key(|&(source, _)| source);
    let mut v: Vec<SourceCount> = sorted
        .iter()
        .map(|&((context, pid), invocations)| SourceCount {
            context: kpath_trace::ExecContext::try_from(context)
                .map_or("?", |c| c.name())
                .into(),
            pid,
            invocations,
        })
        .collect();
    v.sort_by_key(|s| std::cmp::Reverse(s.invocations));
    v
}

impl Analyzer {
    /// Assembles the results. `path` and `finalised` describe the source for the report.
    /// `Results::kernel_stats` stays `None` here: [`analyze_reader`](super::analyze_reader)
    /// fills it from the metadata of stats-mode traces (`crate::kernel_stats`), because that
    /// can fail.
    pub fn finish(mut self, path: &str, finalised: bool) -> Results {
        let anomalies = self.tree.finish();
        let selection = self.tree.applied_selection();
        let meta = &self.meta;
        let name = |id: u32| {
            meta.functions
                .get(id as usize)
                .map_or_else(|| format!("#{id}"), |f| f.name.clone())
        };
        let acc = &self.acc;
        let counts: Vec<TreeCounts> = acc.stages.iter().map(|s| s.shapes.counts()).collect();

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
                    blocked: a.blocked,
                    off_cpu_mean: ratio(a.off_cpu_ns as f64, a.calls() as f64),
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
                (
                    LevelOrigin::Root,
                    &c.by_depth,
                    &acc.stages[stage.index()].by_depth,
                ),
                (
                    LevelOrigin::Leaves,
                    &c.by_height,
                    &acc.stages[stage.index()].by_height,
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
            let root_calls = acc.stages[si].roots.count() + acc.stages[si].root_dropped;
            if root_calls == 0 && stage_fns.is_empty() {
                continue;
            }
            let summary = acc.stages[si].roots.summary();
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
                dropped: acc.stages[si].root_dropped,
                stats: summary,
                calls_per_invocation: calls_per_inv,
                distinct_functions: stage_fns.len(),
                plain_average: plain,
                normative_per_call: normative,
                normative_error_pct: 100.0 * ratio(plain - normative, normative),
                cpus: acc.stages[si]
                    .cpus
                    .iter()
                    .enumerate()
                    .filter(|&(_, &n)| n > 0)
                    .map(|(cpu, &invocations)| CpuCount {
                        cpu: cpu as u32,
                        invocations,
                    })
                    .collect(),
                sources: sources_of(&acc.stages[si].sources),
            });
            trees.push(tree_result(
                stage,
                &acc.stages[si].shapes,
                c,
                &stage_chains,
                &name,
            ));
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

        let (service, service_unknown) = match service_time(&stages, &self.options, &selection) {
            Ok(s) => (Some(s), None),
            Err(why) => (None, Some(why)),
        };
        let model = service.as_ref().and_then(|s| {
            queueing::project(s.mean, s.variance, 1.0, &queueing::default_rhos()).ok()
        });
        // A CPU's busy time is of its whole recording: per datagram it means something only
        // if the selection kept every receive invocation of the CPU.
        let demand = if selection
            .as_ref()
            .is_none_or(|s| s.selection.keeps_whole_cpus())
        {
            crate::demand::of(meta, &stages, service.as_ref())
        } else {
            Vec::new()
        };

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
                missed_probe_runs: missed_probe_runs(meta),
                start_time_unix_ns: meta.start_time_unix_ns,
                stop_time_unix_ns: meta.stop_time_unix_ns,
                command_line: meta.command_line.clone(),
                clock_source: meta.clock_source.clone(),
                off_cpu_recorded: false, // a property of the file: analyze_fed sets it
                recorder: meta.recorder.clone(),
                tasks: meta.tasks.clone().unwrap_or_default(),
                cut_tail: None,  // known only at the end: analyze_reader sets it
                reordered: None, // known only after the pass: analyze_file sets it
                // `kernel_stats` gets its own section (`Results::kernel_stats`).
                notes: meta.notes(),
            },
            settings: Settings {
                filter: self.options.filter,
                clock: self.options.clock,
                subtract_probe_cost: self.options.subtract_probe_cost,
                classifier: self.options.classifier.clone(),
                selection,
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
            service_unknown,
            model,
            validation: None,
            kernel_stats: None,
            demand,
        }
    }
}

/// The calibrated mean probe cost of mechanism `m`, 0 without a calibration.
pub(super) fn probe_cost_of(meta: &Metadata, m: Mechanism) -> f64 {
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

/// `T = T_rx + T_tx` and `D = D_rx + D_tx` (methodology step 8), or why there is none: each
/// of the receive and send stages needs `options.min_stage_samples` kept samples, since a stage
/// without them has no mean, and a zero in its place would shrink T and inflate λ_max.
fn service_time(
    stages: &[StageResult],
    options: &AnalysisOptions,
    selection: &Option<crate::selection::AppliedSelection>,
) -> Result<Service, String> {
    let min = options.min_stage_samples;
    let mut service = Service::default();
    let mut missing = Vec::new();
    for stage in [Stage::Rx, Stage::Tx] {
        let Some(s) = stages.iter().find(|s| s.stage == stage) else {
            missing.push(match selection {
                Some(sel) => format!(
                    "no {stage} invocation is in the selection ({})",
                    sel.selection.flags()
                ),
                None => format!("no {stage} invocation was recorded"),
            });
            continue;
        };
        let kept = s.stats.samples;
        if kept < min {
            let dropped = s.invocations.saturating_sub(kept);
            let hint = if dropped > 0 && options.filter == Filter::Interrupted {
                " (the others were interrupted; on a one-kernel stand every send carries the \
                 peer's softirq: use --filter net, or give the proxy its own CPU)"
            } else {
                ""
            };
            missing.push(format!(
                "stage {stage} kept {kept} of {} invocations, fewer than {min} \
                 (--min-stage-samples){hint}",
                s.invocations
            ));
            continue;
        }
        service.mean += s.stats.mean;
        service.variance += s.stats.variance;
    }
    if !missing.is_empty() {
        return Err(format!(
            "no service time T = T_rx + T_tx, so no projection: {}",
            missing.join("; ")
        ));
    }
    service.cv2 = ratio(service.variance, service.mean * service.mean);
    Ok(service)
}
