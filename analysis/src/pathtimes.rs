//! Mean time per call path, for `kpath tree`'s durations (what ftrace's function_graph prints
//! beside each call, averaged): a [`CallVisitor`] that sums, per stage and path from the root
//! (`net_rx_action → __napi_poll → …`), the calls and the time of the kept ones.
//!
//! A path, not a position in the most frequent tree, is the key: the same path in other
//! shapes counts too, so the mean of a node is that of every call reached the same way. The
//! filter is the report's: interrupted calls are dropped (`interrupted`), kept whole (`none`)
//! or kept less their interrupts' time (`net`); the clock is the report's too.

use std::collections::HashMap;

use crate::calltree::{Call, CallVisitor, Frame};
use crate::results::{Clock, Filter};
use crate::stage::Stage;

#[derive(Clone, Copy, Debug, Default)]
struct Acc {
    calls: u64,
    kept: u64,
    sum_ns: u128,
}

/// Accumulates time per call path.
#[derive(Debug)]
pub struct PathTimes {
    paths: HashMap<Vec<u32>, Acc, ahash::RandomState>,
    key: Vec<u32>,
    filter: Filter,
    clock: Clock,
}

impl PathTimes {
    /// Times on `clock`, interrupted calls treated as `filter` says.
    pub fn new(filter: Filter, clock: Clock) -> Self {
        Self {
            paths: HashMap::default(),
            key: Vec::new(),
            filter,
            clock,
        }
    }

    /// The paths with names from `names` (function ids index it).
    pub fn named(&self, names: &[String]) -> PathTable {
        let name = |id: u32| {
            names
                .get(id as usize)
                .cloned()
                .unwrap_or_else(|| "?".into())
        };
        let paths = self
            .paths
            .iter()
            .map(|(k, a)| {
                let stage = Stage::ALL
                    .get(k[0] as usize)
                    .copied()
                    .unwrap_or(Stage::Other);
                let path: Vec<String> = k[1..].iter().map(|&f| name(f)).collect();
                let stat = PathStat {
                    calls: a.calls,
                    kept: a.kept,
                    sum_ns: a.sum_ns,
                };
                ((stage, path), stat)
            })
            .collect();
        PathTable { paths }
    }
}

impl CallVisitor for PathTimes {
    fn call(&mut self, call: &Call<'_>, ancestors: &[Frame]) {
        self.key.clear();
        self.key.push(call.stage.index() as u32);
        self.key.extend(ancestors.iter().map(|f| f.func_id));
        self.key.push(call.func_id);
        let interrupted = self.clock.interrupted(call.exit);
        let ns = match self.filter {
            Filter::Interrupted if interrupted => None,
            Filter::Net => Some(call.dur_ns.saturating_sub(call.exit.irq_ns)),
            _ => Some(call.dur_ns),
        };
        let acc = match self.paths.get_mut(self.key.as_slice()) {
            Some(a) => a,
            None => self.paths.entry(self.key.clone()).or_default(),
        };
        acc.calls += 1;
        if let Some(ns) = ns {
            acc.kept += 1;
            acc.sum_ns += u128::from(ns);
        }
    }
}

/// One path's figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PathStat {
    /// Calls that took the path.
    pub calls: u64,
    /// Of them, kept by the filter.
    pub kept: u64,
    /// Their total time, ns.
    pub sum_ns: u128,
}

impl PathStat {
    /// Mean time per kept call, ns (`None` without a kept call).
    pub fn mean_ns(&self) -> Option<f64> {
        (self.kept > 0).then(|| self.sum_ns as f64 / self.kept as f64)
    }
}

/// Paths by stage and names from the root.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PathTable {
    paths: HashMap<(Stage, Vec<String>), PathStat>,
}

impl PathTable {
    /// The figures of `path` in `stage`.
    pub fn get(&self, stage: Stage, path: &[String]) -> Option<PathStat> {
        self.paths.get(&(stage, path.to_vec())).copied()
    }
}
