//! Folded stacks (`kpath fold`) and flame graphs (`kpath flame`, with `inferno`).
//!
//! Each returned call adds its **self time** (its duration minus its direct probed callees'
//! durations, ns, unfiltered) to the line `stage;root;…;function`. Memory grows with the
//! number of distinct call paths, not with the number of records.

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::calltree::{Call, CallVisitor, Frame};
use crate::error::{Error, Result};
use crate::stage::Stage;

/// Accumulates self time per call path.
#[derive(Debug, Default)]
pub struct Folder {
    paths: HashMap<Vec<u32>, u64>,
    key: Vec<u32>,
}

impl CallVisitor for Folder {
    fn call(&mut self, call: &Call<'_>, ancestors: &[Frame]) {
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

/// Draws a flame graph of folded `lines` into `path` (SVG), created as `out` says.
pub fn flame(lines: &[String], title: &str, path: &Path, out: &kpath_cli::Output) -> Result<()> {
    let file = out.create(path)?;
    let mut opts = inferno::flamegraph::Options::default();
    opts.title = title.to_string();
    opts.count_name = "ns".into();
    let mut w = BufWriter::new(file);
    inferno::flamegraph::from_lines(&mut opts, lines.iter().map(|s| s.as_str()), &mut w)
        .and_then(|()| w.flush())
        .map_err(|source| Error::Flame {
            path: path.into(),
            source,
        })
}
