//! The selection's part of the passes (`crate::selection`): resolving it against the trace,
//! and the first pass that finds the invocations `--function` keeps (and checks the
//! records' order before a visit, whose output cannot be taken back).

use std::io::Read;
use std::path::Path;

use kpath_trace::{Metadata, TraceReader};

use super::{for_each_block, Feed};
use crate::calltree::{CallVisitor, TreeAnomalies, TreeBuilder};
use crate::error::Result;
use crate::selection::{InvocationFilter, InvocationSet, Selection};
use crate::stage::StageClassifier;

/// The first pass of a selection with `--function` (and the order check before a visit): the
/// invocations that return a call of one of `functions` (by function id), numbered as the
/// builder numbers them.
pub struct FunctionScan {
    functions: Vec<bool>,
    matched: InvocationSet,
}

impl FunctionScan {
    /// A scan for the functions whose id is `true` in `functions` (none: a pass that reports
    /// nothing).
    pub fn new(functions: &[bool]) -> Self {
        Self {
            functions: functions.to_vec(),
            matched: InvocationSet::default(),
        }
    }

    /// The invocations found.
    pub fn matched(self) -> InvocationSet {
        self.matched
    }
}

impl CallVisitor for FunctionScan {
    #[inline]
    fn call(&mut self, call: &crate::calltree::Call<'_>, _ancestors: &[crate::calltree::Frame]) {
        if self
            .functions
            .get(call.func_id as usize)
            .copied()
            .unwrap_or(false)
        {
            self.matched.insert(call.invocation);
        }
    }
}

/// `selection` resolved against `meta`, with the first pass's answer if it needs one.
pub(super) fn filter_for(
    selection: &Selection,
    meta: &Metadata,
    matched: Option<InvocationSet>,
) -> Result<Option<InvocationFilter>> {
    let mut filter = InvocationFilter::new(selection, meta)?;
    if let (Some(f), Some(m)) = (&mut filter, matched) {
        f.set_matched(m);
    }
    Ok(filter)
}

/// The first pass of a selection: the invocations that call its `--function` functions (none
/// without), and whether records were out of order.
pub(super) fn scan_fed<R: Read>(
    mut reader: TraceReader<R>,
    path: &Path,
    selection: &Selection,
    feed: Feed,
) -> Result<(InvocationSet, TreeAnomalies)> {
    let functions = InvocationFilter::new(selection, reader.metadata())?
        .map(|f| f.functions().to_vec())
        .unwrap_or_default();
    let mut scan = FunctionScan::new(&functions);
    let mut tree = TreeBuilder::new(
        reader.metadata().functions.iter().map(|f| f.name.as_str()),
        &StageClassifier::default(),
    );
    for_each_block(&mut reader, path, feed, |block, _| {
        tree.push_block(block, &mut scan);
    })?;
    Ok((scan.matched(), tree.finish()))
}
