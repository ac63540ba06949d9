//! The JSON metadata that follows the preamble: what was recorded, where, how, and what was lost.
//!
//! The file is a little over 500 lines because it is the whole metadata document (one type per
//! document, as hyperfine keeps its results) with the records it holds: functions, probe cost,
//! recorder usage and busy time; the recording's own fields are in `recording.rs`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::recording::{Filters, KernelCounters, KernelStats, RecordMode, SkippedFunction, Task};

/// How a function (or tracepoint stage) was probed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Mechanism {
    /// kprobe at entry, kretprobe at return.
    Kprobe,
    /// fentry at entry, fexit at return (BPF trampolines).
    Fentry,
    /// A pair of kernel tracepoints bracketing a stage.
    Tracepoint,
}

impl Mechanism {
    /// Every mechanism, in report order.
    pub const ALL: [Mechanism; 3] = [Self::Kprobe, Self::Fentry, Self::Tracepoint];

    /// The name used in JSON and on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Kprobe => "kprobe",
            Self::Fentry => "fentry",
            Self::Tracepoint => "tracepoint",
        }
    }
}

impl std::fmt::Display for Mechanism {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The sum of `counts`, saturating at `u64::MAX`: a hostile or corrupt count must not wrap
/// around to "nothing lost". Every total of lost events is taken with it.
pub fn saturating_sum(counts: &[u64]) -> u64 {
    counts.iter().fold(0u64, |sum, &n| sum.saturating_add(n))
}

/// One entry of the function table; records refer to it by `id`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionInfo {
    /// Index of this entry in the table (entries are stored in id order, from 0).
    pub id: u32,
    /// Kernel symbol name, or `tp:<stage>` for a tracepoint stage.
    pub name: String,
    /// Kernel address from kallsyms, written as a hex string ("0xffffffff81a0b1c0") because
    /// JSON numbers lose precision above 2^53. Absent for tracepoint stages.
    #[serde(default, with = "hex_address", skip_serializing_if = "Option::is_none")]
    pub address: Option<u64>,
    /// Kernel module that holds the function; absent for the core kernel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// How it was probed.
    pub mechanism: Mechanism,
}

/// The probe's own cost for one mechanism (`kpath-probe calibrate`): a near-empty interval
/// timed many times by kpath's probe pair, and the same interval timed by a bare pair that
/// only takes the two timestamps, so that kpath's own share can be told from the mechanism's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeCost {
    /// Mechanism measured.
    pub mechanism: Mechanism,
    /// Mean of the near-empty interval timed by kpath's pair, in ns. This is what
    /// `kpath report --subtract-probe-cost` removes once per probe pair inside a call.
    pub mean_ns: f64,
    /// Its variance, in ns².
    pub variance_ns2: f64,
    /// Number of intervals timed.
    pub samples: u64,
    /// Median of the same intervals, in ns (absent in calibrations made before kpath 0.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub median_ns: Option<f64>,
    /// The same interval timed by the bare pair on the same hook (absent before kpath 0.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bare: Option<PairTiming>,
    /// Wall time per call seen by the calling process (absent before kpath 0.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller: Option<CallerCost>,
}

impl ProbeCost {
    /// kpath's own share of the pair, in ns: its mean minus the bare pair's.
    pub fn own_share_ns(&self) -> Option<f64> {
        self.bare.as_ref().map(|b| self.mean_ns - b.mean_ns)
    }
}

/// The recorder's drain policy and its own CPU use over a recording (`docs/recorder.md`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecorderUsage {
    /// The ring was drained at least this often, in ms.
    pub drain_period_ms: u64,
    /// Unread ring bytes at which a record forced a reader wake-up.
    pub wakeup_fill_bytes: u64,
    /// Size of each event ring, in bytes.
    pub ring_bytes: u64,
    /// Event rings read: one per CPU, up to eight (CPU `c` writes to ring `c % 8`); absent
    /// (1) before kpath 0.2's per-CPU rings, when all CPUs shared one.
    #[serde(default = "one_ring")]
    pub rings: u64,
    /// Drains (timer ticks and forced wake-ups) that found records.
    pub batches: u64,
    /// Records written.
    pub records: u64,
    /// The recorder's user-mode CPU time while recording, in ns.
    pub user_ns: u64,
    /// The recorder's kernel-mode CPU time while recording, in ns.
    pub system_ns: u64,
    /// Whether direct writes (`O_DIRECT`) were in use to the end: drains of 256 KiB or more
    /// went around the page cache (`docs/recorder.md`, "Writing the trace"); absent (false)
    /// before kpath 0.2's direct writes.
    #[serde(default)]
    pub direct_writes: bool,
    /// Whether the recorder ran under `SCHED_BATCH`, so that its drains did not preempt the
    /// measured tasks on wake-up (`docs/recorder.md`), until the end or until the first
    /// fill-level wake-up (`fill_wakeups` > 0); absent (false) before kpath 0.2's batch
    /// policy, or when the recorder was started under another policy.
    #[serde(default)]
    pub sched_batch: bool,
    /// Drains started by a fill-level wake-up (a ring held `wakeup_fill_bytes` unread) rather
    /// than the timer: the rings came under pressure; absent (0) before they were counted.
    #[serde(default)]
    pub fill_wakeups: u64,
}

fn one_ring() -> u64 {
    1
}

impl RecorderUsage {
    /// The recorder's CPU time (user + system) per record written, in ns.
    pub fn cpu_ns_per_record(&self) -> Option<f64> {
        (self.records > 0)
            .then(|| (self.user_ns.saturating_add(self.system_ns)) as f64 / self.records as f64)
    }

    /// How the recorder was scheduled and whether its rings came under pressure, as a clause
    /// to append to a sentence: e.g. ", under SCHED_BATCH until the first of 3 fill-level
    /// wake-ups"; empty when neither applies.
    pub fn scheduling_clause(&self) -> String {
        match (self.sched_batch, self.fill_wakeups) {
            (true, 0) => ", under SCHED_BATCH".to_owned(),
            (true, n) => format!(", under SCHED_BATCH until the first of {n} fill-level wake-ups"),
            (false, 0) => String::new(),
            (false, n) => format!(", {n} fill-level wake-ups"),
        }
    }
}

/// One CPU's busy time over a recording, from the switches to and from its idle task
/// (`probe_common::busy`; `docs/recorder.md`, "Busy time"): the CPU's whole service demand,
/// of which the probed calls are a part.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CpuBusyInfo {
    /// The CPU.
    pub cpu: u32,
    /// The accounted window, from the first to the last context switch seen on the CPU, ns.
    pub window_ns: u64,
    /// Busy time in the window (tasks, and interrupts over the idle task too), ns.
    pub busy_ns: u64,
    /// The part of `busy_ns` spent in interrupts over the idle task, ns.
    pub idle_irq_ns: u64,
    /// Busy cycles (a wake-up's work: out of the idle task and back, with the interrupt time
    /// over the idle task just before) up to 1 ms (`probe_common::busy::LONG_CYCLE_NS`) that
    /// ended in the window. The moments below are theirs.
    pub cycles: u64,
    /// Longer cycles, counted apart (many datagrams at load, or other work).
    #[serde(default)]
    pub long_cycles: u64,
    /// Their total time, ns.
    #[serde(default)]
    pub long_cycles_ns: u64,
    /// Their mean, ns (absent without cycles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cycle_mean_ns: Option<f64>,
    /// Their sample variance, ns² (absent below two cycles, or when the sum of squares
    /// saturated in the kernel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cycle_variance_ns2: Option<f64>,
    /// The shortest and longest cycles, ns (absent without cycles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cycle_min_ns: Option<u64>,
    /// See `cycle_min_ns`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cycle_max_ns: Option<u64>,
}

impl CpuBusyInfo {
    /// The figures of `cpu`'s kernel accounting between two reads of it: `start`, when the
    /// recording began (after every probe was attached: the attaching itself is not the
    /// traced work), and `end`. Without `start` (or if the CPU had not switched yet then),
    /// from its first switch. `None` if it saw no context switch by `end`.
    ///
    /// Between reads, the window runs from the last switch before `start` to the last one
    /// before `end`, and every idle period and cycle that ended in it counts, whole.
    pub fn from_kernel(
        cpu: u32,
        start: Option<&probe_common::busy::CpuBusy>,
        end: &probe_common::busy::CpuBusy,
    ) -> Option<Self> {
        if end.first_ns == 0 {
            return None;
        }
        let empty = probe_common::busy::CpuBusy::default();
        let a = start.filter(|a| a.first_ns != 0).unwrap_or(&empty);
        let from = if a.first_ns == 0 {
            end.first_ns
        } else {
            a.last_ns
        };
        let window_ns = end.last_ns.saturating_sub(from);
        let idle_ns = end.idle_ns.saturating_sub(a.idle_ns);
        let (ca, cb) = (&a.cycles, &end.cycles);
        let count = cb.count.saturating_sub(ca.count);
        let saturated =
            |m: &probe_common::stats::Moments| m.sum_ns == u64::MAX || m.sum_sq_ns == u64::MAX;
        let exact = !saturated(ca) && !saturated(cb);
        let sum = cb.sum_ns.saturating_sub(ca.sum_ns);
        let sum_sq = cb.sum_sq_ns.saturating_sub(ca.sum_sq_ns);
        let n = u128::from(count);
        // n·Σd² − (Σd)² is exact in 128 bits; a saturated Σd or Σd² gives no moments.
        let variance = (count >= 2 && exact)
            .then(|| {
                let num =
                    (n * u128::from(sum_sq)).checked_sub(u128::from(sum) * u128::from(sum))?;
                Some(num as f64 / (n * (n - 1)) as f64)
            })
            .flatten();
        // The extremes are kept since the first switch: they are the window's only when no
        // cycle had ended before it.
        let extremes = count > 0 && ca.count == 0;
        Some(Self {
            cpu,
            window_ns,
            busy_ns: window_ns.saturating_sub(idle_ns),
            idle_irq_ns: end.idle_irq_ns.saturating_sub(a.idle_irq_ns),
            cycles: count,
            long_cycles: end.long_cycles.saturating_sub(a.long_cycles),
            long_cycles_ns: end.long_cycles_ns.saturating_sub(a.long_cycles_ns),
            cycle_mean_ns: (count > 0 && exact).then(|| sum as f64 / count as f64),
            cycle_variance_ns2: variance,
            cycle_min_ns: extremes.then_some(cb.min_ns),
            cycle_max_ns: extremes.then_some(cb.max_ns),
        })
    }

    /// Busy time as a share of the window (the CPU's utilisation), or `None` for an empty
    /// window.
    pub fn utilisation(&self) -> Option<f64> {
        (self.window_ns > 0).then(|| self.busy_ns as f64 / self.window_ns as f64)
    }
}

/// Intervals timed by one kind of probe pair.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairTiming {
    /// Mean, in ns.
    pub mean_ns: f64,
    /// Variance, in ns².
    pub variance_ns2: f64,
    /// Median, in ns.
    pub median_ns: f64,
    /// Intervals timed.
    pub samples: u64,
}

/// Wall time of one call of the calibration's system call as its caller sees it, median of
/// the rounds: nothing attached, the bare pair, kpath's pair. The differences are what each
/// pair costs the traced program per call, inside the interval and out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallerCost {
    /// Nothing attached, in ns per call.
    pub none_ns: f64,
    /// The bare pair attached, in ns per call.
    pub bare_ns: f64,
    /// kpath's pair attached, in ns per call.
    pub kpath_ns: f64,
}

/// Everything a trace says about itself. Unknown fields are kept in `extra` by readers of
/// this version, so newer writers can add fields without a version bump.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// Program and version that wrote the trace, e.g. "kpath-probe 0.1.0".
    pub tool: String,
    /// The recorder's command line, one element per argument.
    #[serde(default)]
    pub command_line: Vec<String>,
    /// `uname -r` of the traced kernel.
    pub kernel_release: String,
    /// Host name of the traced machine.
    #[serde(default)]
    pub hostname: String,
    /// What the record timestamps are: "bpf_ktime_get_ns (CLOCK_MONOTONIC)".
    pub clock_source: String,
    /// Number of possible CPUs; CPU numbers in records are below it.
    pub cpu_count: u32,
    /// Wall-clock start of the recording, ns since the Unix epoch.
    pub start_time_unix_ns: u64,
    /// Wall-clock end of the recording; absent while recording or if the writer died.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_time_unix_ns: Option<u64>,
    /// CLOCK_MONOTONIC at `start_time_unix_ns`, to place record timestamps on the wall clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_monotonic_ns: Option<u64>,
    /// The function table.
    pub functions: Vec<FunctionInfo>,
    /// Events the kernel side could not deliver (ring buffer full), per CPU. Filled when the
    /// recording ends; a non-zero total means the trace has gaps.
    #[serde(default)]
    pub lost_events_per_cpu: Vec<u64>,
    /// Calibrated probe cost per mechanism, if `kpath-probe calibrate` ran.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub probe_cost: Vec<ProbeCost>,
    /// How the recorder drained the ring and what that cost it; filled when the recording
    /// ends (absent in traces made before kpath 0.2 and in traces whose writer died).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorder: Option<RecorderUsage>,
    /// Busy time per CPU over the recording, for the CPUs that switched tasks (trace and
    /// stats modes; absent before kpath 0.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_busy: Option<Vec<CpuBusyInfo>>,
    // What the recorder says about the run (`crate::recording`). Declared in alphabetical
    // order, as the untyped `extra` map used to write them, so that the bytes stay the same.
    /// The network driver behind `--interface`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Whether the trace has a record at each entry as well as at each exit. Absent: it has
    /// (every trace before format version 3). `false`: exits only, each carrying its entry's
    /// time and depth; readers rebuild the entries (`docs/trace-format.md`, "Traces without
    /// entry records").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_records: Option<bool>,
    /// Why the recorder fell back to tracepoint stages, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
    /// The recorder's filters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Filters>,
    /// The interrupt tracepoints attached to count interrupts inside intervals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub irq_tracepoints: Option<Vec<String>>,
    /// The kernel side's anomaly counters, by name; filled when the recording ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_counters: Option<KernelCounters>,
    /// The kernel's aggregates of a stats-mode trace; filled when the recording ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_stats: Option<KernelStats>,
    /// The network-stack layer of each probed function that has one, by function name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<BTreeMap<String, String>>,
    /// How the recorder delivered its measurements; absent means [`RecordMode::Trace`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<RecordMode>,
    /// The user's note (`--note`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Requested functions or stages that were not probed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<Vec<SkippedFunction>>,
    /// Why the recording stopped, as the recorder printed it; filled when it ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<String>,
    /// The thread groups the records name (`Event::pid`), with their command names, in the
    /// order the recorder first saw them; filled when the recording ends (trace mode, since
    /// this field exists). `kpath --comm` needs it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks: Option<Vec<Task>>,
    /// Thread groups seen beyond the [`crate::recording::MAX_TASKS`] entries of `tasks`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks_left_out: Option<u64>,
    /// Any other fields, kept so that newer writers can add fields without a version bump.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Metadata {
    /// The probed functions' names, indexed by function id (what analyses name calls by).
    pub fn function_names(&self) -> Vec<String> {
        self.functions.iter().map(|f| f.name.clone()).collect()
    }

    /// A metadata skeleton with the required fields and empty tables.
    pub fn new(tool: impl Into<String>, kernel_release: impl Into<String>, cpu_count: u32) -> Self {
        Self {
            tool: tool.into(),
            command_line: Vec::new(),
            kernel_release: kernel_release.into(),
            hostname: String::new(),
            clock_source: "bpf_ktime_get_ns (CLOCK_MONOTONIC)".into(),
            cpu_count,
            start_time_unix_ns: 0,
            stop_time_unix_ns: None,
            start_monotonic_ns: None,
            functions: Vec::new(),
            lost_events_per_cpu: Vec::new(),
            probe_cost: Vec::new(),
            recorder: None,
            cpu_busy: None,
            driver: None,
            entry_records: None,
            fallback: None,
            filters: None,
            irq_tracepoints: None,
            kernel_counters: None,
            kernel_stats: None,
            layers: None,
            mode: None,
            note: None,
            skipped: None,
            stop_reason: None,
            tasks: None,
            tasks_left_out: None,
            extra: serde_json::Map::new(),
        }
    }

    /// Total events lost over all CPUs.
    pub fn lost_events(&self) -> u64 {
        saturating_sum(&self.lost_events_per_cpu)
    }

    /// Adds a function to the table and returns its id.
    pub fn add_function(
        &mut self,
        name: impl Into<String>,
        address: Option<u64>,
        module: Option<String>,
        mechanism: Mechanism,
    ) -> u32 {
        let id = u32::try_from(self.functions.len()).unwrap_or(u32::MAX);
        self.functions.push(FunctionInfo {
            id,
            name: name.into(),
            address,
            module,
            mechanism,
        });
        id
    }

    /// The command name of thread group `pid`, if the tasks table has it.
    pub fn comm_of(&self, pid: u32) -> Option<&str> {
        self.tasks
            .iter()
            .flatten()
            .find(|t| t.pid == pid)
            .and_then(|t| t.comm.as_deref())
    }

    /// Looks a function up by name.
    pub fn function_by_name(&self, name: &str) -> Option<&FunctionInfo> {
        self.functions.iter().find(|f| f.name == name)
    }

    /// Checks the invariants a reader relies on; `Err` says which.
    pub(crate) fn check(&self) -> Result<(), String> {
        for (i, f) in self.functions.iter().enumerate() {
            if f.id as usize != i {
                return Err(format!(
                    "function table entry {i} (`{}`) has id {}; ids must be 0, 1, 2, ... in order",
                    f.name, f.id
                ));
            }
        }
        if self.cpu_count == 0 {
            return Err("cpu_count is 0".into());
        }
        if let Some(k) = &self.kernel_stats {
            k.check(&self.functions)?;
        }
        for (i, b) in self.cpu_busy.iter().flatten().enumerate() {
            if b.cpu >= self.cpu_count {
                return Err(format!(
                    "cpu_busy[{i}].cpu is {} but cpu_count is {}",
                    b.cpu, self.cpu_count
                ));
            }
            if b.busy_ns > b.window_ns {
                return Err(format!(
                    "cpu_busy[{i}].busy_ns {} exceeds its window_ns {}",
                    b.busy_ns, b.window_ns
                ));
            }
        }
        Ok(())
    }

    /// Whether the trace was recorded in stats mode (aggregates in the kernel, no records).
    pub fn is_stats_mode(&self) -> bool {
        self.mode == Some(RecordMode::Stats) || self.kernel_stats.is_some()
    }

    /// Everything the metadata holds besides its core (tool, times, function table, losses,
    /// probe cost, recorder usage): the recording fields and `extra`, by name, in name
    /// order, as reports list them. `kernel_stats` and `cpu_busy`, which reports show on their
    /// own, are left out, and so is the `tasks` table (a list that can be long).
    pub fn notes(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut notes = match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        for core in Self::CORE_FIELDS
            .iter()
            .chain(&["kernel_stats", "cpu_busy", "tasks"])
        {
            notes.remove(*core);
        }
        notes
    }

    /// The JSON names of the core fields, which [`Metadata::notes`] leaves out.
    const CORE_FIELDS: [&'static str; 13] = [
        "tool",
        "command_line",
        "kernel_release",
        "hostname",
        "clock_source",
        "cpu_count",
        "start_time_unix_ns",
        "stop_time_unix_ns",
        "start_monotonic_ns",
        "functions",
        "lost_events_per_cpu",
        "probe_cost",
        "recorder",
    ];
}

mod hex_address {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(a) => s.serialize_str(&format!("{a:#x}")),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        match s {
            None => Ok(None),
            Some(s) => {
                let digits = s.strip_prefix("0x").unwrap_or(&s);
                u64::from_str_radix(digits, 16)
                    .map(Some)
                    .map_err(|e| serde::de::Error::custom(format!("bad address {s:?}: {e}")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use probe_common::busy::CpuBusy;

    use super::CpuBusyInfo;

    #[test]
    fn busy_time_between_two_reads_counts_only_what_ended_between_them() {
        let mut b = CpuBusy::default();
        // Before the recording: the attaching keeps the CPU busy 0..9 000, one cycle.
        b.switched(1_000, 5, 0, 0);
        b.switched(2_000, 0, 5, 0);
        b.switched(9_000, 5, 0, 0);
        let start = b;
        // Recording: idle 9 000..10 000, a 3 000 ns cycle, idle 13 000..20 000, a 1 000 ns
        // cycle, and the CPU goes idle at 21 000.
        b.switched(10_000, 0, 7, 0);
        b.switched(13_000, 7, 0, 0);
        b.switched(20_000, 0, 7, 0);
        b.switched(21_000, 7, 0, 0);
        let i = CpuBusyInfo::from_kernel(3, Some(&start), &b).expect("switches");
        assert_eq!(i.window_ns, 21_000 - 9_000);
        assert_eq!(i.busy_ns, 3_000 + 1_000);
        assert_eq!(i.cycles, 2);
        assert_eq!(i.cycle_mean_ns, Some(2_000.0));
        assert_eq!(i.cycle_variance_ns2, Some(2_000_000.0));
        assert_eq!(
            (i.cycle_min_ns, i.cycle_max_ns),
            (None, None),
            "a cycle ended before"
        );
        // From the first switch instead, the attaching counts.
        let all = CpuBusyInfo::from_kernel(3, None, &b).expect("switches");
        assert_eq!(all.window_ns, 20_000);
        assert_eq!(all.busy_ns, 20_000 - 1_000 - 1_000 - 7_000);
        assert_eq!(all.cycles, 3);
        assert_eq!(
            (all.cycle_min_ns, all.cycle_max_ns),
            (Some(1_000), Some(7_000))
        );
        assert_eq!(CpuBusyInfo::from_kernel(3, None, &CpuBusy::default()), None);
    }
}
