//! Report-time selection (`--stage`, `--pid`, `--comm`, `--cpu`, `--function`, `--from`,
//! `--to`): which root invocations of a trace a command looks at, so that a trace can be
//! narrowed without recording it again.
//!
//! A selection keeps or drops **whole root invocations**, never single calls: an invocation
//! is one stream of records (a task's system call in process context, one CPU's softirq or
//! hardirq work), so keeping or dropping it whole never breaks a call tree, and every
//! command (`report`, `tree`, `fold`, `flame`, `analyze`, `export`) sees the same calls.
//! The call-tree builder decides when an invocation begins (`crate::calltree::TreeBuilder`,
//! through [`InvocationFilter::keeps`]), from its first record; the builder still reads every
//! record, so the anomaly counts are those of the whole trace.
//!
//! The rules (also in `kpath report --help` and `docs/model.md`, "Selection"):
//!
//! * `--pid N`: the thread group id the invocation's first record carries (`Event::pid`).
//!   A process-context invocation is its task's; a softirq or hardirq invocation carries
//!   the task it interrupted (0 when the CPU was idle), so softirq work appears under
//!   whatever task it interrupted. `--cpu` selects softirq work by where it ran.
//! * `--comm NAME`: the pids the trace's `tasks` table names `NAME` (a trace recorded
//!   without the table is an error).
//! * `--cpu N`: the CPU the invocation's first record ran on.
//! * `--stage rx|tx|other`: the invocation's stage.
//! * `--function NAME`: invocations with a returned call of `NAME` at any depth, like grep
//!   on call trees; the other calls of those invocations stay, so trees and stages keep
//!   their shape. This needs one more pass over the trace, to find them first.
//! * `--from D` / `--to D`: invocations whose first record lies in `[from, to)`, offsets
//!   from the first record of the file: an invocation is never cut in half.
//!
//! Values of one flag add up (`--pid 1 --pid 2`: either); different flags intersect.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::stage::Stage;

mod filter;

pub use filter::InvocationFilter;

/// The highest pid Linux hands out (`PID_MAX_LIMIT`, 2²²).
pub const MAX_PID: u32 = 4_194_304;

/// The highest CPU number a selection may name (`NR_CPUS` is at most 8192).
pub const MAX_CPU: u32 = 8191;

/// What to select, as the command line gave it (empty: everything).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selection {
    /// Only invocations of this stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<Stage>,
    /// Only invocations whose first record carries one of these thread group ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pids: Vec<u32>,
    /// Only invocations of thread groups with one of these command names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub comms: Vec<String>,
    /// Only invocations that began on one of these CPUs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cpus: Vec<u32>,
    /// Only invocations that call one of these functions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub functions: Vec<String>,
    /// Only invocations that began at least this long after the first record (ns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_ns: Option<u64>,
    /// Only invocations that began less than this long after the first record (ns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_ns: Option<u64>,
}

/// A selection that cannot apply; each names its flag.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SelectionError {
    /// `--to` is not after `--from`.
    #[error("--to {to} is not after --from {from}: the window [from, to) would be empty")]
    EmptyWindow {
        /// `--from`, as a duration.
        from: String,
        /// `--to`, as a duration.
        to: String,
    },
    /// A pid or CPU above what the kernel has.
    #[error("{flag} {value} is out of range (allowed: 0 to {max})")]
    OutOfRange {
        /// The flag.
        flag: &'static str,
        /// Its value.
        value: u32,
        /// The highest allowed.
        max: u32,
    },
    /// A CPU the trace's machine does not have.
    #[error("--cpu {cpu}: the trace's CPUs are 0 to {last}")]
    NoSuchCpu {
        /// The CPU asked for.
        cpu: u32,
        /// The trace's highest CPU.
        last: u32,
    },
    /// `--comm` on a trace without a table of tasks.
    #[error(
        "--comm needs the trace's table of tasks (pid and command name), which this trace \
         lacks (written by an older kpath-probe, or in stats mode): select by --pid instead"
    )]
    NoTasks,
    /// `--function` names no function of the trace's function table.
    #[error("--function {name}: the trace probed no function of that name (it probed {known})")]
    NoSuchFunction {
        /// The name asked for.
        name: String,
        /// Some of the names it has.
        known: String,
    },
    /// `--function` on a trace that can be read once only.
    #[error(
        "--function reads the trace twice (first to find the invocations that call it): give \
         the trace file, not a stream"
    )]
    NeedsTwoPasses,
}

impl Selection {
    /// Whether it selects everything.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Whether it needs a first pass over the trace (`--function`).
    pub fn needs_scan(&self) -> bool {
        !self.functions.is_empty()
    }

    /// Whether it keeps every invocation of every CPU it keeps (at most `--cpu` and
    /// `--stage`): figures over a CPU's whole recording, its busy time per datagram
    /// received, still hold.
    pub fn keeps_whole_cpus(&self) -> bool {
        Selection {
            cpus: Vec::new(),
            stage: None,
            ..self.clone()
        }
        .is_empty()
    }

    /// Checks what can be checked without the trace: the bounds and the window.
    pub fn check(&self) -> Result<(), SelectionError> {
        for &(flag, values, max) in &[
            ("--pid", &self.pids, MAX_PID),
            ("--cpu", &self.cpus, MAX_CPU),
        ] {
            if let Some(&value) = values.iter().find(|&&v| v > max) {
                return Err(SelectionError::OutOfRange { flag, value, max });
            }
        }
        if let (Some(from), Some(to)) = (self.from_ns, self.to_ns) {
            if to <= from {
                return Err(SelectionError::EmptyWindow {
                    from: exact_duration(from),
                    to: exact_duration(to),
                });
            }
        }
        Ok(())
    }

    /// The selection as command-line flags, e.g. `--pid 77 --from 1s` (empty: nothing).
    pub fn flags(&self) -> String {
        let mut f: Vec<String> = Vec::new();
        if let Some(s) = self.stage {
            f.push(format!("--stage {s}"));
        }
        f.extend(self.pids.iter().map(|p| format!("--pid {p}")));
        f.extend(self.comms.iter().map(|c| format!("--comm {c}")));
        f.extend(self.cpus.iter().map(|c| format!("--cpu {c}")));
        f.extend(self.functions.iter().map(|n| format!("--function {n}")));
        if let Some(ns) = self.from_ns {
            f.push(format!("--from {}", exact_duration(ns)));
        }
        if let Some(ns) = self.to_ns {
            f.push(format!("--to {}", exact_duration(ns)));
        }
        f.join(" ")
    }
}

/// `ns` in the largest unit that divides it (`1500ms`, `2s`, `7ns`): what
/// `kpath_cli::value::duration` reads back to the same value.
pub fn exact_duration(ns: u64) -> String {
    for (unit, scale) in [("s", 1_000_000_000), ("ms", 1_000_000), ("us", 1_000)] {
        if ns != 0 && ns.is_multiple_of(scale) {
            return format!("{}{unit}", ns / scale);
        }
    }
    format!("{ns}ns")
}

/// Invocation numbers (`crate::calltree::Call::invocation`), as a bit set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InvocationSet(Vec<u64>);

impl InvocationSet {
    /// Adds invocation `n`.
    pub fn insert(&mut self, n: u64) {
        let word = (n / 64) as usize;
        if word >= self.0.len() {
            self.0.resize(word + 1, 0);
        }
        self.0[word] |= 1 << (n % 64);
    }

    /// Whether invocation `n` is in the set.
    #[inline]
    pub fn contains(&self, n: u64) -> bool {
        self.0
            .get((n / 64) as usize)
            .is_some_and(|w| w & (1 << (n % 64)) != 0)
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|&w| w == 0)
    }
}

/// Invocations and calls a selection saw and kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectionCounts {
    /// Root invocations that ended in the trace.
    pub invocations: u64,
    /// Of them, the ones kept.
    pub kept_invocations: u64,
    /// Calls that returned in the trace.
    pub calls: u64,
    /// Of them, the calls of kept invocations.
    pub kept_calls: u64,
}

/// What a command applied, and what it kept: `Results::settings.selection`, and the line
/// every command prints on standard error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedSelection {
    /// The selection asked for.
    #[serde(flatten)]
    pub selection: Selection,
    /// The pids the `comms` stood for in the trace's table of tasks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub comm_pids: Vec<u32>,
    /// `ts_ns` of the first record of the file, which `from_ns` and `to_ns` count from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin_ns: Option<u64>,
    /// What it saw and kept.
    #[serde(flatten)]
    pub counts: SelectionCounts,
    /// Why it kept nothing, when it did not (what the trace holds instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

impl fmt::Display for AppliedSelection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.counts;
        write!(
            f,
            "selection {}: kept {} of {} invocations ({} of {} calls)",
            self.selection.flags(),
            c.kept_invocations,
            c.invocations,
            c.kept_calls,
            c.calls
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_exactly_in_the_largest_unit() {
        assert_eq!(exact_duration(1_500_000_000), "1500ms");
        assert_eq!(exact_duration(2_000_000_000), "2s");
        assert_eq!(exact_duration(7), "7ns");
        assert_eq!(exact_duration(0), "0ns");
        assert_eq!(exact_duration(3_000), "3us");
        for ns in [1_500_000_000, 7, 3_000, 90_000_000_000] {
            let d = kpath_cli::value::duration(&exact_duration(ns)).expect("parses");
            assert_eq!(d.as_nanos(), u128::from(ns));
        }
    }

    #[test]
    fn only_cpu_and_stage_keep_whole_cpus() {
        let mut s = Selection {
            cpus: vec![1],
            stage: Some(Stage::Rx),
            ..Selection::default()
        };
        assert!(s.keeps_whole_cpus() && !s.is_empty());
        s.pids = vec![3];
        assert!(!s.keeps_whole_cpus());
        assert!(Selection::default().is_empty());
    }
}
