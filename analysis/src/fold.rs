//! Folded stacks (`kpath fold`) and flame graphs (`kpath flame`, with `inferno`).
//!
//! Each returned call adds its **self time** (its duration minus its direct probed callees'
//! durations, ns) to the line `stage;root;…;function`. Durations are on the clock the calls
//! were built with (on-CPU by default: a sleeping `recvfrom` weighs what it ran, not what it
//! waited); [`FoldSelection`] drops interrupted calls. Stages, pids, CPUs and times are
//! selected as whole invocations (`crate::selection`, applied by the call-tree builder before
//! the calls reach the folder). [`fold_file`] is the one fold of a trace file, for `kpath
//! fold`/`flame` and the HTML report's flame graph.
//! Memory grows with the number of distinct call paths, not with the number of records.

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::analyze::{self, Visit};
use crate::calltree::{Call, CallVisitor, Frame};
use crate::error::{Error, Result};
use crate::results::Clock;
use crate::selection::Selection;
use crate::stage::{Stage, StageClassifier};

/// Which calls a fold keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FoldSelection {
    /// Drop calls that an interrupt hit while they ran, or that migrated (`--filter
    /// interrupted`); on the wall clock a context switch counts too.
    pub drop_interrupted: bool,
    /// The clock the calls are timed on (decides whether a switch interrupts).
    pub clock: Clock,
}

impl FoldSelection {
    #[inline]
    fn keeps(&self, call: &Call<'_>) -> bool {
        !(self.drop_interrupted && self.clock.interrupted(call.exit))
    }
}

/// Accumulates self time per call path.
#[derive(Debug, Default)]
pub struct Folder {
    paths: HashMap<Vec<u32>, u64, ahash::RandomState>,
    key: Vec<u32>,
    selection: FoldSelection,
}

impl Folder {
    /// A folder that keeps the calls `selection` keeps.
    pub fn new(selection: FoldSelection) -> Self {
        Self {
            selection,
            ..Self::default()
        }
    }
}

impl CallVisitor for Folder {
    fn call(&mut self, call: &Call<'_>, ancestors: &[Frame]) {
        if !self.selection.keeps(call) {
            return;
        }
        self.key.clear();
        self.key.push(call.stage.index() as u32);
        self.key.extend(ancestors.iter().map(|f| f.func_id));
        self.key.push(call.func_id);
        let self_ns = call.dur_ns.saturating_sub(call.child_time_ns);
        if let Some(v) = self.paths.get_mut(self.key.as_slice()) {
            // Saturating: weights from a hostile trace must not wrap around to small ones.
            *v = v.saturating_add(self_ns);
        } else {
            self.paths.insert(self.key.clone(), self_ns);
        }
    }
}

impl Folder {
    /// The folded lines (`a;b;c value`), sorted, with names from `names`.
    pub fn lines(&self, names: &[String]) -> Vec<String> {
        let name = |id: u32| names.get(id as usize).map_or("?", |s| s.as_str());
        let mut v: Vec<String> = self
            .paths
            .iter()
            .filter(|(_, &t)| t > 0)
            .map(|(k, t)| {
                let stage = Stage::ALL.get(k[0] as usize).map_or("?", |s| s.name());
                let mut s = stage.to_string();
                for &f in &k[1..] {
                    s.push(';');
                    s.push_str(name(f));
                }
                format!("{s} {t}")
            })
            .collect();
        v.sort();
        v
    }
}

/// Folds the calls of `trace` that `selection` keeps, timed on `clock` (wall when on-CPU is
/// asked of a trace that does not record off-CPU time), without the interrupted ones when
/// `drop_interrupted`: the folded lines, sorted, and what the visit read.
pub fn fold_file(
    trace: &Path,
    classifier: &StageClassifier,
    clock: Clock,
    drop_interrupted: bool,
    selection: &Selection,
) -> Result<(Vec<String>, Visit)> {
    let off_cpu_recorded = kpath_trace::TraceReader::open(trace)
        .map(|r| r.has_off_cpu())
        .unwrap_or(true);
    let mut folder = Folder::new(FoldSelection {
        drop_interrupted,
        clock: analyze::effective_clock(clock, off_cpu_recorded),
    });
    let visit = analyze::visit_selected(trace, classifier, clock, selection, &mut folder)?;
    let lines = folder.lines(&visit.metadata.function_names());
    Ok((lines, visit))
}

/// Draws a flame graph of folded `lines` into `path` (SVG), created as `out` says.
pub fn flame(lines: &[String], title: &str, path: &Path, out: &kpath_cli::Output) -> Result<()> {
    let file = out.create(path)?;
    let mut w = BufWriter::new(file);
    draw(lines, title, &mut w)
        .and_then(|()| w.flush())
        .map_err(|source| Error::Flame {
            path: path.into(),
            source,
        })
}

/// The flame graph of folded `lines` as SVG bytes (for the HTML report).
pub fn flame_svg(lines: &[String], title: &str) -> Result<Vec<u8>> {
    let mut svg = Vec::new();
    draw(lines, title, &mut svg).map_err(|source| Error::Flame {
        path: "(in memory)".into(),
        source,
    })?;
    Ok(svg)
}

fn draw(lines: &[String], title: &str, w: &mut dyn Write) -> std::io::Result<()> {
    let mut opts = inferno::flamegraph::Options::default();
    opts.title = title.to_string();
    opts.count_name = "ns".into();
    inferno::flamegraph::from_lines(&mut opts, lines.iter().map(|s| s.as_str()), w)
}
