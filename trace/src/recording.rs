//! What the recorder says about a run besides the core metadata: how it chose its probes,
//! what it skipped, what the kernel side counted and, in stats mode, the kernel's aggregates.
//! These are typed fields of [`crate::Metadata`]; each is absent from traces whose writer did
//! not know it, so old traces still read. `docs/trace-format.md` gives their JSON layout.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::FunctionInfo;

/// Buckets of the stats-mode log2 histogram (the kernel side's constant).
pub use probe_common::stats::HIST_BUCKETS;

/// How the recorder delivered what it measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordMode {
    /// Records of the calls (the default; the field is then usually absent): one at each
    /// exit, and at each entry too when `entry_records` is absent or true.
    Trace,
    /// Aggregates kept in the kernel, written to [`crate::Metadata::kernel_stats`] at the end.
    Stats,
}

/// The recorder's filters (`--pid`, `--cpu`, `--comm`); `null` where none was given.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filters {
    /// Command name of the process context recorded.
    pub comm: Option<String>,
    /// CPUs recorded, ascending. kpath 0.1 wrote one CPU as `"cpu": N`; it reads as `[N]`.
    #[serde(default, alias = "cpu", deserialize_with = "cpu_or_cpus")]
    pub cpus: Option<Vec<u32>>,
    /// Process (thread group) recorded.
    pub pid: Option<u32>,
}

/// `cpus` as a list, or kpath 0.1's single `cpu` number.
fn cpu_or_cpus<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<u32>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(u32),
        Many(Vec<u32>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => None,
        Some(OneOrMany::One(c)) => Some(vec![c]),
        Some(OneOrMany::Many(v)) => Some(v),
    })
}

/// A requested function or stage that was not probed, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedFunction {
    /// Function or stage name.
    pub name: String,
    /// Why it was skipped.
    pub reason: String,
}

/// Sums of one class of samples, exactly as the kernel kept them (ns).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelMoments {
    /// Samples.
    pub count: u64,
    /// Σ d; saturates at `u64::MAX`.
    pub sum_ns: u64,
    /// Σ d²; saturates at `u64::MAX` (then the variance is unknown).
    pub sum_sq_ns: u64,
    /// Smallest d (meaningless when `count` is 0).
    pub min_ns: u64,
    /// Largest d (meaningless when `count` is 0).
    pub max_ns: u64,
}

impl KernelMoments {
    /// Whether `sum_sq_ns` hit `u64::MAX`.
    pub fn sum_sq_saturated(&self) -> bool {
        self.sum_sq_ns == u64::MAX
    }

    /// Whether `sum_ns` hit `u64::MAX`.
    pub fn sum_saturated(&self) -> bool {
        self.sum_ns == u64::MAX
    }

    /// `n·Σd² − (Σd)²`, exact (both products are below 2¹²⁸); `None` if negative, which no
    /// set of samples gives (Cauchy–Schwarz).
    pub fn variance_numerator(&self) -> Option<u128> {
        let n = u128::from(self.count);
        let s = u128::from(self.sum_ns);
        (n * u128::from(self.sum_sq_ns)).checked_sub(s * s)
    }

    /// Checks that the sums could come from samples; `Err((field, reason))`.
    fn check(&self) -> Result<(), (&'static str, String)> {
        if self.count == 0 {
            return Ok(());
        }
        if self.min_ns > self.max_ns {
            return Err((
                "min_ns",
                format!("{} is above max_ns {}", self.min_ns, self.max_ns),
            ));
        }
        let n = u128::from(self.count);
        if !self.sum_saturated() {
            let (lo, hi) = (n * u128::from(self.min_ns), n * u128::from(self.max_ns));
            let s = u128::from(self.sum_ns);
            if s < lo || s > hi {
                return Err((
                    "sum_ns",
                    format!(
                        "{} is outside count·[min_ns, max_ns] = [{lo}, {hi}]",
                        self.sum_ns
                    ),
                ));
            }
        }
        if !self.sum_sq_saturated() && self.variance_numerator().is_none() {
            return Err((
                "sum_sq_ns",
                format!(
                    "{} is below sum_ns²/count, which no set of samples gives",
                    self.sum_sq_ns
                ),
            ));
        }
        Ok(())
    }
}

/// One function's aggregate, as in the `kernel_stats.functions` array.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelFunctionStats {
    /// Function id (index into the trace's function table).
    pub id: u32,
    /// Function name.
    pub name: String,
    /// Samples with no hard IRQ, softirq, context switch or migration inside.
    pub clean: KernelMoments,
    /// The other samples (the method drops them).
    pub interrupted: KernelMoments,
    /// Log2 histogram of the clean samples ([`HIST_BUCKETS`] buckets): bucket `b` counts
    /// durations `d` with `2^(b−1) ≤ d < 2^b` ns, bucket 0 counts `d = 0`.
    pub hist_clean: Vec<u64>,
}

/// The kernel's aggregates of a stats-mode trace (`--mode stats`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelStats {
    /// Always [`RecordMode::Stats`].
    pub mode: RecordMode,
    /// The recorder's description of the histogram buckets (empty if absent).
    #[serde(default)]
    pub histogram: String,
    /// Per function, in the recorder's order.
    pub functions: Vec<KernelFunctionStats>,
}

impl KernelStats {
    /// The description of the histogram that the recorder writes.
    pub const HISTOGRAM: &'static str = "log2 of ns: bucket b (0..63) counts durations d with \
                                         2^(b-1) <= d < 2^b; bucket 0 counts d = 0";

    /// Checks the aggregates against themselves and the function table; the error names the
    /// field by its JSON path (`kernel_stats.functions[2].clean.sum_ns`).
    pub(crate) fn check(&self, table: &[FunctionInfo]) -> Result<(), String> {
        const FIELD: &str = "kernel_stats";
        let bad = |field: String, reason: String| {
            Err(format!(
                "metadata field `{field}` is inconsistent: {reason}"
            ))
        };
        if self.mode != RecordMode::Stats {
            return bad(
                format!("{FIELD}.mode"),
                "\"trace\", aggregates are written by stats mode only".into(),
            );
        }
        let mut seen = BTreeSet::new();
        for (i, f) in self.functions.iter().enumerate() {
            let at = |k: &str| format!("{FIELD}.functions[{i}].{k}");
            match table.get(f.id as usize) {
                Some(entry) if entry.name != f.name => {
                    return bad(
                        at("name"),
                        format!(
                            "`{}` but function {} of the function table is `{}`",
                            f.name, f.id, entry.name
                        ),
                    );
                }
                Some(_) => {}
                None => {
                    return bad(
                        at("id"),
                        format!(
                            "{} but the function table has {} entries",
                            f.id,
                            table.len()
                        ),
                    );
                }
            }
            if !seen.insert(f.id) {
                return bad(at("id"), format!("function {} appears twice", f.id));
            }
            if f.hist_clean.len() != HIST_BUCKETS {
                return bad(
                    at("hist_clean"),
                    format!("{} buckets, expected {HIST_BUCKETS}", f.hist_clean.len()),
                );
            }
            for (class, m) in [("clean", &f.clean), ("interrupted", &f.interrupted)] {
                if let Err((k, reason)) = m.check() {
                    return bad(at(&format!("{class}.{k}")), reason);
                }
            }
        }
        Ok(())
    }
}

/// A thread group the records name (`Event::pid`), with its command name: the table that
/// lets `kpath --comm NAME` select by name. The recorder fills it when it finishes
/// ([`crate::Metadata::tasks`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// Thread group id, as in the records' `pid` (0: the idle tasks).
    pub pid: u32,
    /// Its command name (`/proc/PID/comm` of the thread group leader, read when the recorder
    /// first saw the pid; `swapper` for pid 0), at most [`MAX_COMM_BYTES`] bytes; absent if
    /// it could not be read (the process had already exited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comm: Option<String>,
}

/// Most entries a recorder writes in [`crate::Metadata::tasks`]; it counts the others in
/// [`crate::Metadata::tasks_left_out`].
pub const MAX_TASKS: usize = 1024;

/// Longest command name kept, in bytes (the kernel's are at most 15, a worker thread's
/// `/proc` name up to 64).
pub const MAX_COMM_BYTES: usize = 32;

/// The longest JSON one [`Task`] entry takes, its separator included: what a writer reserves
/// per entry so that the table always fits the metadata region.
pub const TASK_JSON_MAX: usize = 64;

impl Task {
    /// A task named by the bytes of `/proc/PID/comm` (a trailing newline is dropped): at most
    /// [`MAX_COMM_BYTES`] of them, with control characters, quotes, backslashes and bytes that
    /// are not UTF-8 shown as `?`, so that the entry takes at most [`TASK_JSON_MAX`] bytes of
    /// JSON whatever the name holds.
    pub fn named(pid: u32, comm: &[u8]) -> Self {
        let comm = comm.strip_suffix(b"\n").unwrap_or(comm);
        let comm = &comm[..comm.len().min(MAX_COMM_BYTES)];
        let mut name = String::with_capacity(comm.len());
        for chunk in comm.utf8_chunks() {
            for c in chunk.valid().chars() {
                name.push(if c.is_control() || c == '"' || c == '\\' {
                    '?'
                } else {
                    c
                });
            }
            name.extend(std::iter::repeat_n('?', chunk.invalid().len()));
        }
        Self {
            pid,
            comm: Some(name),
        }
    }
}

/// The kernel side's counters by name (`probe_common::stats::Stat::name`): anomalies it saw
/// and handled (unmatched exits, depth overflows, ...).
pub type KernelCounters = BTreeMap<String, u64>;

/// The [`KernelCounters`] entry for program runs the kernel skipped because another BPF
/// program was running on that CPU (its recursion guard): calls missing from the trace.
pub const RECURSION_MISSES: &str = "recursion_misses";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_read_a_cpu_list_and_kpath_0_1_s_single_cpu() {
        let read = |json: &str| serde_json::from_str::<Filters>(json).expect(json);
        assert_eq!(
            read(r#"{"comm":null,"cpus":[1,3],"pid":null}"#).cpus,
            Some(vec![1, 3])
        );
        assert_eq!(
            read(r#"{"comm":null,"cpu":2,"pid":null}"#).cpus,
            Some(vec![2])
        );
        assert_eq!(read(r#"{"comm":null,"cpu":null,"pid":7}"#).cpus, None);
        assert_eq!(read(r#"{"pid":7}"#).cpus, None);
    }

    /// Whatever `/proc/PID/comm` holds, an entry stays within its reserved JSON size and
    /// keeps a plain name as it is.
    #[test]
    fn task_entries_fit_their_reserved_size() {
        assert_eq!(
            Task::named(77, b"udp-echo\n").comm.as_deref(),
            Some("udp-echo")
        );
        assert_eq!(
            Task::named(5, b"a\"b\\c\x1b\xff\xe2\x82").comm.as_deref(),
            Some("a?b?c????")
        );
        assert_eq!(
            Task::named(5, "köln".as_bytes()).comm.as_deref(),
            Some("köln")
        );
        let worst = [
            vec![b'"'; 100],
            vec![0x1b; 100],
            vec![0xff; 100],
            "é".repeat(50).into_bytes(),
        ];
        for comm in worst {
            let t = Task::named(u32::MAX, &comm);
            let json = serde_json::to_string(&t).expect("json");
            // With the comma that separates it from the next entry.
            assert!(json.len() < TASK_JSON_MAX, "{json} ({} bytes)", json.len());
        }
        let unnamed = Task { pid: 3, comm: None };
        assert_eq!(
            serde_json::to_string(&unnamed).expect("json"),
            r#"{"pid":3}"#
        );
    }
}
