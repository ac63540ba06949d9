//! The results document: everything `kpath analyze` computes, serialisable as one JSON file
//! (`results.json`), the input of `kpath plot` and `kpath model`.
//!
//! Every time is in ns, every variance in ns²: renderers apply the unit a user asks for
//! (`crate::report::unit`), so a results file means one thing.
//!
//! The file is long because it holds the whole results document (hyperfine's one
//! serialisable type per document), with its schema checks; the validation table is in
//! `validation_table.rs`.

use std::path::Path;

use kpath_trace::flags;
use serde::{Deserialize, Serialize};

use crate::calltree::TreeAnomalies;
use crate::error::{Error, Result};
use crate::kernel_stats::KernelStatsResult;
use crate::queueing::ModelOutput;
use crate::selection::AppliedSelection;
use crate::stage::{Stage, StageClassifier};
use crate::stats::Summary;
use validation_table::Validation;

pub mod validation_table;

/// Version of the results document; bumped on incompatible changes.
///
/// 2: `validation` became an object with one table per service-time choice (issue 6);
/// `analyzer` and the trace's times, command line, clock and notes were added. The optional
/// `kernel_stats` section (stats-mode traces) was added later without a bump: readers of
/// schema 2 that do not know it ignore it, and files without it read as `None`.
pub const RESULTS_SCHEMA: u32 = 2;

/// How samples during which the CPU did something else are treated (methodology step 4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Filter {
    /// Keep every sample as measured.
    None,
    /// Drop samples with a hard IRQ, softirq, context switch or migration inside (the method).
    #[default]
    Interrupted,
    /// Subtract the measured interrupt time (`irq_ns`); drop samples with a context switch or
    /// a migration, whose off-CPU time is not measured.
    Net,
}

impl Filter {
    /// Name as on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            Filter::None => "none",
            Filter::Interrupted => "interrupted",
            Filter::Net => "net",
        }
    }
}

/// Which time a sample is (`docs/model.md`, "On-CPU time").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Clock {
    /// The call's time on the CPU: its duration minus the time its task was switched out
    /// inside it (trace format 2). A switch is then not an interruption: its time is gone
    /// from the sample. The service figures use this.
    #[default]
    OnCpu,
    /// Exit minus entry, sleeping included (kpath 0.1, and traces of format 1).
    Wall,
}

impl Clock {
    /// Name as on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            Clock::OnCpu => "on-cpu",
            Clock::Wall => "wall",
        }
    }

    /// `(switch_mask, void_flags)`: a sample is void (its time holds something unknown) when
    /// `switches & switch_mask` or `flags & void_flags` is not 0. On the wall clock a switch
    /// or a migration voids it (its off-CPU time is inside); on the on-CPU clock only a
    /// migration does (the interrupt counts of two CPUs cannot be compared), or an off-CPU
    /// time too long for the record.
    pub const fn void_masks(self) -> (u32, u32) {
        match self {
            Clock::Wall => (u32::MAX, flags::MIGRATED),
            Clock::OnCpu => (0, flags::MIGRATED | flags::OFF_CPU_SATURATED),
        }
    }

    /// Whether something else than the call ran on its CPU while it ran, or its time cannot
    /// be trusted: what `--filter interrupted` drops. On the wall clock this is
    /// `Event::interrupted`.
    #[inline]
    pub fn interrupted(self, e: &kpath_trace::Event) -> bool {
        let (switch_mask, void_flags) = self.void_masks();
        (e.hardirqs | e.softirqs | (e.switches & switch_mask) | (e.flags & void_flags)) != 0
    }

    /// What results files written before the clock existed were computed with.
    fn before_kpath_0_2() -> Self {
        Clock::Wall
    }
}

/// Settings the results were computed with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Sample filter.
    pub filter: Filter,
    /// The time a sample is. `wall` when on-CPU time was asked for but the trace does not
    /// carry it (format 1); `TraceInfo::off_cpu_recorded` then says so.
    #[serde(default = "Clock::before_kpath_0_2")]
    pub clock: Clock,
    /// Whether the calibrated probe cost was subtracted.
    pub subtract_probe_cost: bool,
    /// Stage classification of root functions.
    pub classifier: StageClassifier,
    /// The report-time selection (`--pid`, `--cpu`, `--from`, …: `crate::selection`) and
    /// what it kept; absent when every invocation was analysed (and in results before it
    /// existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection: Option<AppliedSelection>,
}

/// Where the trace came from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TraceInfo {
    /// Path as given.
    pub path: String,
    /// Recording tool.
    pub tool: String,
    /// Traced kernel.
    pub kernel_release: String,
    /// Host name.
    pub hostname: String,
    /// CPUs.
    pub cpu_count: u32,
    /// Records read from the file. A trace without entry records (`notes.entry_records`
    /// false) holds its exits only; the entries its reader rebuilt are not counted.
    pub records: u64,
    /// Whether the recorder finished the file.
    pub finalised: bool,
    /// Events lost in the kernel, total.
    pub lost_events: u64,
    /// Events lost per CPU.
    pub lost_events_per_cpu: Vec<u64>,
    /// Runs of the probes the kernel skipped because another BPF program was running on
    /// that CPU (its recursion guard): calls missing from the trace that are not lost
    /// events (kernel counter `recursion_misses`; 0 in traces before kpath 0.2).
    #[serde(default)]
    pub missed_probe_runs: u64,
    /// Wall-clock start of the recording, ns since the Unix epoch (0: unknown).
    #[serde(default)]
    pub start_time_unix_ns: u64,
    /// Wall-clock end of the recording, if the recorder finished.
    #[serde(default)]
    pub stop_time_unix_ns: Option<u64>,
    /// The recorder's command line.
    #[serde(default)]
    pub command_line: Vec<String>,
    /// What the record timestamps are.
    #[serde(default)]
    pub clock_source: String,
    /// Whether the records carry their task's off-CPU time (trace format 2).
    #[serde(default)]
    pub off_cpu_recorded: bool,
    /// The recorder's drain policy and its own CPU use (traces since kpath 0.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorder: Option<kpath_trace::RecorderUsage>,
    /// The cut-short last record of an unfinished trace: read up to the record before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cut_tail: Option<kpath_trace::CutTail>,
    /// Records were out of time order within their streams, and the analysis sorted them
    /// (`crate::reorder`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reordered: Option<Reordered>,
    /// The trace's table of tasks (pid and command name of the thread groups its records
    /// name, `kpath_trace::Metadata::tasks`), to name the pids of `stages[].sources` and of
    /// a selection; empty for traces without it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<kpath_trace::recording::Task>,
    /// Other fields of the trace metadata (driver, fallback, skipped functions, stop reason,
    /// kernel counters, ...), as the recorder wrote them.
    #[serde(default)]
    pub notes: serde_json::Map<String, serde_json::Value>,
}

/// How the analysis put a trace's records back in time order (`crate::reorder`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reordered {
    /// Records older than the record before them in their stream, as stored.
    pub out_of_order: u64,
    /// The sorting window, in records.
    pub window_records: u64,
}

impl std::fmt::Display for Reordered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} records were out of time order within their call stacks (drained per CPU?); \
             the analysis sorted them by time within a window of {} records",
            self.out_of_order, self.window_records
        )
    }
}

/// Calibrated probe cost of one mechanism (ns).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeCostInfo {
    /// Mechanism.
    pub mechanism: String,
    /// Mean of a near-empty interval timed by kpath's probe pair: what
    /// `--subtract-probe-cost` removes per pair.
    pub mean: f64,
    /// Its variance.
    pub variance: f64,
    /// Intervals timed.
    pub samples: u64,
    /// Median of the same intervals (calibrations since kpath 0.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub median: Option<f64>,
    /// Mean of the same interval timed by a bare timestamp pair on the same hook: the
    /// mechanism's own share (calibrations since kpath 0.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bare_mean: Option<f64>,
    /// kpath's own share: `mean − bare_mean`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub own_share: Option<f64>,
}

/// Samples hit by something other than the function itself. A sample may have several causes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interruptions {
    /// Samples with any cause.
    pub total: u64,
    /// With a hard IRQ.
    pub hardirq: u64,
    /// With a softirq.
    pub softirq: u64,
    /// With a context switch.
    pub switch: u64,
    /// With a migration to another CPU.
    pub migration: u64,
}

/// One function in one stage (methodology step 4).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FunctionResult {
    /// Stage.
    pub stage: Stage,
    /// Function name.
    pub function: String,
    /// Function id in the trace.
    pub func_id: u32,
    /// Probe mechanism.
    pub mechanism: String,
    /// Calls that returned (samples before filtering).
    pub calls: u64,
    /// Calls per root invocation of the stage, k (complete invocations only).
    pub k: f64,
    /// Smallest depth from the root it was seen at.
    pub depth_from_root: u16,
    /// Largest height from the leaves it was seen at (0: never had probed callees).
    pub level_from_leaves: u16,
    /// Interrupted samples, by cause.
    pub interrupted: Interruptions,
    /// Samples dropped by the filter.
    pub dropped: u64,
    /// Statistics of the kept samples: the time per call t and its variance D.
    pub stats: Summary,
    /// Mean of `dur − irq_ns` over samples without a switch or migration (the net time).
    pub net_mean: f64,
    /// Calls whose task was switched out inside them (blocked or preempted): process
    /// context only.
    #[serde(default)]
    pub blocked: u64,
    /// Mean time per call that the task spent switched out, over all calls (0 when the trace
    /// does not record it): the waiting that on-CPU samples leave out.
    #[serde(default)]
    pub off_cpu_mean: f64,
    /// Kept samples that `--subtract-probe-cost` would have driven below zero and that were
    /// clamped to zero instead (absent when none were).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub probe_cost_clamped: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Which end nesting levels are counted from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LevelOrigin {
    /// Level 0 is the root.
    Root,
    /// Level 0 is the leaves (calls without probed callees), as in the method's tables.
    Leaves,
}

/// One nesting level of one stage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LevelResult {
    /// Stage.
    pub stage: Stage,
    /// Counted from.
    pub from: LevelOrigin,
    /// Level number.
    pub level: u16,
    /// Functions called at this level.
    pub functions: Vec<String>,
    /// Calls at this level per root invocation.
    pub calls_per_invocation: f64,
    /// Σ k·t over the functions at this level.
    pub sum_kt: f64,
    /// Σ k·D over the functions at this level.
    pub sum_kd: f64,
    /// Kept samples at this level.
    pub samples: u64,
    /// Mean of the kept samples at this level.
    pub mean: f64,
    /// Their variance.
    pub variance: f64,
}

/// One element of a chain: a probed callee of the chain root.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChainElement {
    /// Function name.
    pub function: String,
    /// Calls per call of the chain root, k_j.
    pub k: f64,
    /// Time per call t_j.
    pub mean: f64,
    /// Variance D_j.
    pub variance: f64,
}

/// Σ k·t and Σ k·D of the descendants `level` levels below a chain root.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LevelSubtotal {
    /// 1 = direct callees.
    pub level: u16,
    /// Σ k_j·t_j.
    pub mean: f64,
    /// Σ k_j·D_j.
    pub variance: f64,
}

/// A chain (methodology step 5): a function with probed callees, measured directly
/// ("experimental") and computed from its direct callees ("calculated").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChainResult {
    /// Stage.
    pub stage: Stage,
    /// Chain root.
    pub root: String,
    /// Calls of the root (complete invocations).
    pub calls: u64,
    /// Experimental mean of the root.
    pub experimental_mean: f64,
    /// Experimental variance of the root.
    pub experimental_variance: f64,
    /// Σ k_j·t_j over the direct callees.
    pub calculated_mean: f64,
    /// Σ k_j·D_j over the direct callees.
    pub calculated_variance: f64,
    /// calculated / experimental mean.
    pub ratio_mean: f64,
    /// calculated / experimental variance.
    pub ratio_variance: f64,
    /// Direct callees.
    pub elements: Vec<ChainElement>,
    /// Subtotals per level below the root.
    pub level_subtotals: Vec<LevelSubtotal>,
}

/// One stage (methodology step 6).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageResult {
    /// Stage.
    pub stage: Stage,
    /// Root invocations.
    pub invocations: u64,
    /// Root invocations without missing records.
    pub complete_invocations: u64,
    /// Root samples dropped by the filter.
    pub dropped: u64,
    /// Stage time per invocation: mean T, variance D, histogram.
    pub stats: Summary,
    /// Probed calls per invocation (the root included).
    pub calls_per_invocation: f64,
    /// Distinct functions.
    pub distinct_functions: usize,
    /// Plain average of the functions' mean times.
    pub plain_average: f64,
    /// Normative time per call: T / calls per invocation.
    pub normative_per_call: f64,
    /// `100·(plain − normative)/normative`.
    pub normative_error_pct: f64,
    /// Root invocations per CPU, by CPU (absent in results before kpath 0.2).
    #[serde(default)]
    pub cpus: Vec<CpuCount>,
    /// Root invocations per context and thread group, most first (absent before kpath 0.2).
    #[serde(default)]
    pub sources: Vec<SourceCount>,
}

/// Invocations of a stage on one CPU.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuCount {
    /// CPU.
    pub cpu: u32,
    /// Root invocations that ran on it.
    pub invocations: u64,
}

/// Invocations of a stage in one context of one thread group: a task's system calls, or
/// the softirqs that interrupted it (pid 0: the idle task, i.e. an idle CPU).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceCount {
    /// `process`, `softirq` or `hardirq`.
    pub context: String,
    /// Thread group id.
    pub pid: u32,
    /// Root invocations.
    pub invocations: u64,
}

/// One distinct tree shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShapeResult {
    /// Invocations with this shape.
    pub count: u64,
    /// Fraction of the stage's complete invocations.
    pub fraction: f64,
    /// Root function.
    pub root: String,
    /// Calls in the shape.
    pub calls: usize,
    /// Depth of the deepest call.
    pub max_depth: u16,
}

/// One line of a text tree: a call or its return.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeLine {
    /// Depth from the root.
    pub depth: u16,
    /// Function.
    pub function: String,
    /// Whether this is the return (`RET`) line.
    pub ret: bool,
}

/// The call tree of one stage (methodology step 3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TreeResult {
    /// Stage.
    pub stage: Stage,
    /// Complete invocations.
    pub invocations: u64,
    /// Deepest call (from the root).
    pub max_depth: u16,
    /// Distinct functions.
    pub distinct_functions: usize,
    /// Calls per invocation.
    pub calls_per_invocation: f64,
    /// Distinct shapes seen.
    pub distinct_shapes: u64,
    /// The most frequent shapes, most frequent first (at most 10).
    pub shapes: Vec<ShapeResult>,
    /// The most frequent shape as a text tree.
    pub top_shape: Vec<TreeLine>,
    /// Depth of each call of the most frequent shape, in call order (call number i → depth).
    pub depth_by_call: Vec<u16>,
    /// Functions with probed callees.
    pub chain_roots: Vec<String>,
}

/// Service time of one relayed datagram: `T = T_rx + T_tx`, `D = D_rx + D_tx`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Service {
    /// T.
    pub mean: f64,
    /// D.
    pub variance: f64,
    /// C² = D/T².
    pub cv2: f64,
}

/// Kept samples a stage needs for its mean to count in the service time T: below it the
/// stage has no T, so there is no service time and no projection (`docs/model.md`). 30 is
/// where the Student-t interval of the mean is close to the normal one.
pub const MIN_STAGE_SAMPLES: u64 = 30;

/// Everything `kpath analyze` computes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// [`RESULTS_SCHEMA`].
    pub schema: u32,
    /// The analysing program and its version, e.g. "kpath-analysis 0.1.0".
    #[serde(default)]
    pub analyzer: String,
    /// Time unit of every time field: always `"ns"` (renderers convert). Files of kpath 0.1
    /// could hold `"ticks"`; [`Results::load`] refuses them.
    pub unit: String,
    /// Nanoseconds per unit: always 1.
    pub unit_ns: f64,
    /// Source trace.
    pub trace: TraceInfo,
    /// Settings.
    pub settings: Settings,
    /// Calibrated probe cost per mechanism, ns.
    pub probe_cost: Vec<ProbeCostInfo>,
    /// Nesting anomalies (usually lost events).
    pub anomalies: TreeAnomalies,
    /// Per function and stage.
    pub functions: Vec<FunctionResult>,
    /// Per nesting level.
    pub levels: Vec<LevelResult>,
    /// Per chain.
    pub chains: Vec<ChainResult>,
    /// Per stage.
    pub stages: Vec<StageResult>,
    /// Call trees per stage.
    pub trees: Vec<TreeResult>,
    /// Functions called in both the receive and the send stage.
    pub common_functions: Vec<String>,
    /// Service time of one datagram, `T = T_rx + T_tx`; `null` when a stage has fewer than
    /// [`MIN_STAGE_SAMPLES`] kept samples (then `service_unknown` says why).
    pub service: Option<Service>,
    /// Why there is no service time (and so no projection), and what to do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_unknown: Option<String>,
    /// Queueing projection on the default load grid (absent without a service time).
    pub model: Option<ModelOutput>,
    /// The measured validation of the projection, if any (`validation.rs`). Schema-1 files
    /// hold a list here: an empty one reads as `None`, a non-empty one is refused.
    #[serde(default, deserialize_with = "validation_or_legacy")]
    pub validation: Option<Validation>,
    /// Per-function figures aggregated in the kernel (`kpath-probe record --mode stats`), if
    /// the trace carries them (`kernel_stats.rs`). Absent from the JSON otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_stats: Option<KernelStatsResult>,
    /// Per CPU that received datagrams, its whole service demand (busy time per received
    /// datagram) against the probed path (`crate::demand`); empty for traces without busy
    /// time (before kpath 0.2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub demand: Vec<CpuDemand>,
}

/// One CPU's busy time per datagram it received (the utilisation law, `S = U/λ`), and the
/// share of it the probed path explains. Times in ns whatever the results' unit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CpuDemand {
    /// The CPU.
    pub cpu: u32,
    /// Its busy time over the recording (`kpath_trace::CpuBusyInfo`).
    pub busy: kpath_trace::CpuBusyInfo,
    /// Receive-stage invocations that ran on it: the datagrams it received.
    pub receive_invocations: u64,
    /// `busy_ns / receive_invocations`: the CPU time each received datagram cost, ns.
    pub busy_per_receive_ns: f64,
    /// The probes' service time T as a share of `busy_per_receive_ns` (absent without T).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probed_share: Option<f64>,
}

fn validation_or_legacy<'de, D>(d: D) -> std::result::Result<Option<Validation>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        New(Option<Validation>),
        Legacy(Vec<serde_json::Value>),
    }
    match Either::deserialize(d)? {
        Either::New(v) => Ok(v),
        Either::Legacy(l) if l.is_empty() => Ok(None),
        Either::Legacy(_) => Err(serde::de::Error::custom(
            "`validation` is a schema-1 list of points; rebuild it with `kpath analyze --validation`",
        )),
    }
}

impl Results {
    /// The result of `stage`, if present.
    pub fn stage(&self, stage: Stage) -> Option<&StageResult> {
        self.stages.iter().find(|s| s.stage == stage)
    }

    /// The tree of `stage`, if present.
    pub fn tree(&self, stage: Stage) -> Option<&TreeResult> {
        self.trees.iter().find(|s| s.stage == stage)
    }

    /// Whether these are the results of a stats-mode trace: kernel aggregates and no records,
    /// hence no call trees, levels, chains or stages.
    pub fn is_stats_mode(&self) -> bool {
        self.kernel_stats.is_some() && self.trace.records == 0
    }

    /// Reads a results file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read(path).map_err(|source| Error::Io {
            what: "read results",
            path: path.into(),
            source,
        })?;
        Self::from_json_slice(&text, path)
    }

    /// Parses the bytes of a results file; `path` only names it in errors. [`Results::load`]
    /// without the file system, for callers that hold the bytes (and the fuzz target).
    pub fn from_json_slice(bytes: &[u8], path: &Path) -> Result<Self> {
        if bytes.starts_with(&kpath_trace::format::MAGIC) {
            return Err(Error::NotResults { path: path.into() });
        }
        let r: Self = serde_json::from_slice(bytes).map_err(|source| Error::ResultsJson {
            path: path.into(),
            source,
        })?;
        r.check_domains()
            .map_err(|(field, value, reason)| Error::ResultsField {
                path: path.into(),
                field,
                value,
                reason,
            })?;
        Ok(r)
    }

    /// Checks what `plot`, `html` and `model` compute from: the unit, the service time, the
    /// stored model and validation. They refuse what `kpath model` refuses (a negative mean,
    /// `unit_ns` 0, a load ρ ≥ 1), so a hand-edited or hostile file is a one-line error, not
    /// a report of impossible numbers.
    fn check_domains(&self) -> std::result::Result<(), (String, f64, &'static str)> {
        const POSITIVE: &str = "must be a positive finite number";
        const NON_NEGATIVE: &str = "must be a finite number of zero or more";
        const LOAD: &str = "must be a load in (0, 1): the queue is unstable at ρ ≥ 1";
        let positive = |field: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err((field.to_string(), v, POSITIVE))
            }
        };
        let non_negative = |field: String, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err((field, v, NON_NEGATIVE))
            }
        };
        let load = |field: String, v: f64| {
            if v > 0.0 && v < 1.0 {
                Ok(())
            } else {
                Err((field, v, LOAD))
            }
        };
        if self.unit != "ns" || self.unit_ns != 1.0 {
            return Err((
                "unit_ns".into(),
                self.unit_ns,
                "must be 1 (unit \"ns\"): results hold ns, and renderers convert; results in \
                 ticks from kpath 0.1 are refused: analyze the trace again and give `--unit` to \
                 `kpath report`",
            ));
        }
        if let Some(sv) = &self.service {
            non_negative("service.mean".into(), sv.mean)?;
            non_negative("service.variance".into(), sv.variance)?;
        }
        if let Some(m) = &self.model {
            positive("model.mean", m.mean)?;
            non_negative("model.variance".into(), m.variance)?;
            positive("model.unit_ns", m.unit_ns)?;
            for (i, p) in m.points.iter().enumerate() {
                load(format!("model.points[{i}].rho"), p.rho)?;
            }
        }
        if let Some(v) = &self.validation {
            for (c, choice) in v.choices.iter().enumerate() {
                let at = |f: &str| format!("validation.choices[{c}].{f}");
                non_negative(at("service.mean"), choice.service.mean)?;
                non_negative(at("service.variance"), choice.service.variance)?;
                for (i, p) in choice.points.iter().enumerate() {
                    load(at(&format!("points[{i}].rho")), p.rho)?;
                }
            }
        }
        Ok(())
    }
}
