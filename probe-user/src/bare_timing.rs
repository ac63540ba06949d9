//! The bare timing pair on every tracepoint stage, for every task (`kpath-probe bare-timing`,
//! hidden): the least any tool that times those intervals does there, a timestamp at each
//! end and a sum, and nothing of kpath's (no filters, stacks, frames or records).
//!
//! Why: the bench's "timestamps only" condition. Between the floor (kpath's programs
//! attached but filtered out, one clock read per pair) and stats mode, it shows how much of
//! stats mode's cost any timer would pay on this host, and how much is kpath's bookkeeping.
//! The pair's per-CPU start slot loses an interval that has another nested in it
//! (`probe-ebpf/src/bare.rs`): what it counts is a cost reference, not a measurement.

use probe_common::stage::TpStage;

use crate::{kernel, ProbeError, Probes, Settings};

/// The bare pair attached to every tracepoint stage; detached when dropped.
pub struct BareTiming {
    probes: Probes,
}

/// What the pairs timed while attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BareTotals {
    /// Intervals completed.
    pub intervals: u64,
    /// Their sum, ns.
    pub total_ns: u64,
}

impl BareTotals {
    /// Mean interval, ns; `None` before any.
    pub fn mean_ns(&self) -> Option<f64> {
        (self.intervals > 0).then(|| self.total_ns as f64 / self.intervals as f64)
    }
}

impl BareTiming {
    /// Loads the programs with every task timed and attaches the pair to each stage of
    /// [`TpStage::ALL`].
    pub fn attach() -> Result<Self, ProbeError> {
        if !kernel::is_root() {
            return Err(ProbeError::NotRoot);
        }
        // `filter_pid: None` leaves FILTER_PID at 0, which the bare pair reads as every task.
        let mut probes = Probes::load(Settings::default())?;
        for stage in TpStage::ALL {
            probes.attach_bare_stage(stage)?;
        }
        Ok(Self { probes })
    }

    /// Tracepoint pairs attached.
    pub fn pairs(&self) -> usize {
        TpStage::ALL.len()
    }

    /// What the pairs timed so far.
    pub fn totals(&self) -> Result<BareTotals, ProbeError> {
        let (intervals, total_ns) = self.probes.bare_totals()?;
        Ok(BareTotals {
            intervals,
            total_ns,
        })
    }
}
