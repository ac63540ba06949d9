//! The text call trees: `kpath tree` (with each path's mean time, [`timed_tree`]) and the
//! HTML report's plain form ([`trees`]): the most frequent shape of a stage, then its
//! statistics.

use std::fmt::Write as _;

use super::tables;
use super::unit::human;
use crate::pathtimes::PathTable;
use crate::results::{Results, TreeResult};
use crate::stage::Stage;

/// The text call tree of one stage (`kpath tree`): the most frequent shape, one line per call
/// and per return (`RET`), indented by depth, with a depth column; then the shape statistics.
pub fn tree(r: &Results, stage: Stage) -> String {
    let mut o = String::new();
    let Some(t) = r.tree(stage) else {
        let _ = writeln!(o, "stage {stage}: no root invocations");
        return o;
    };
    tree_into(&mut o, t);
    o
}

fn tree_into(o: &mut String, t: &TreeResult) {
    let _ = writeln!(
        o,
        "stage {}: {} complete invocations",
        t.stage, t.invocations
    );
    if let Some(top) = t.shapes.first() {
        let _ = writeln!(
            o,
            "most frequent tree ({} of {} invocations, {:.1}%):",
            top.count,
            t.invocations,
            100.0 * top.fraction
        );
    }
    let _ = writeln!(o, "depth  call");
    for l in &t.top_shape {
        let indent = "  ".repeat(usize::from(l.depth));
        let ret = if l.ret { "RET " } else { "" };
        let _ = writeln!(o, "{:>5}  {indent}{ret}{}", l.depth, l.function);
    }
    tree_stats(o, t);
}

/// The shape statistics under a tree: depth, functions, calls, the shapes and chain roots.
fn tree_stats(o: &mut String, t: &TreeResult) {
    let _ = writeln!(
        o,
        "max depth {}, {} distinct functions, {:.2} calls per invocation, {} distinct shapes",
        t.max_depth, t.distinct_functions, t.calls_per_invocation, t.distinct_shapes
    );
    for (i, s) in t.shapes.iter().enumerate() {
        let _ = writeln!(
            o,
            "  shape {}: {} invocations ({:.1}%), root {}, {} calls, max depth {}",
            i + 1,
            s.count,
            100.0 * s.fraction,
            s.root,
            s.calls,
            s.max_depth
        );
    }
    let _ = writeln!(o, "chain roots: {}", t.chain_roots.join(", "));
}

/// `kpath tree` with times: the most frequent tree of `stage` drawn as ftrace's
/// function_graph draws calls (`f() {` … `}`, a leaf as `f();`), each line with the mean time
/// per call of its path from the root and that path's share of its parent's time, from
/// `times` ([`crate::pathtimes`]); then the shape statistics as [`tree`] gives them.
pub fn timed_tree(r: &Results, stage: Stage, times: &PathTable) -> String {
    let mut o = String::new();
    let Some(t) = r.tree(stage) else {
        let _ = writeln!(o, "stage {stage}: no root invocations");
        return o;
    };
    let _ = writeln!(
        o,
        "stage {}: {} complete invocations",
        t.stage, t.invocations
    );
    if let Some(top) = t.shapes.first() {
        let _ = writeln!(
            o,
            "most frequent tree ({} of {} invocations, {:.1}%);\nmean time per call of each \
             path ({}, filter {}) and its share of the caller's:",
            top.count,
            t.invocations,
            100.0 * top.fraction,
            tables::clock_words(r.settings.clock),
            r.settings.filter.name()
        );
    }
    let _ = writeln!(o, "depth       mean  of caller  call");
    let mut path: Vec<String> = Vec::new();
    let mut lines = t.top_shape.iter().peekable();
    while let Some(l) = lines.next() {
        let indent = "  ".repeat(usize::from(l.depth));
        if l.ret {
            path.pop();
            let _ = writeln!(o, "{:>5}  {:>9}  {:>9}  {indent}}}", l.depth, "", "");
            continue;
        }
        let parent = times.get(stage, &path);
        path.push(l.function.clone());
        let this = times.get(stage, &path);
        let mean = this
            .and_then(|p| p.mean_ns())
            .map_or_else(|| "-".to_string(), human);
        let share = match (this, parent) {
            (Some(c), Some(p)) if p.sum_ns > 0 => {
                format!("{:.1}%", 100.0 * c.sum_ns as f64 / p.sum_ns as f64)
            }
            _ => String::new(),
        };
        // A call whose return follows at once has no probed callee: one line, as ftrace.
        let leaf = lines
            .peek()
            .is_some_and(|n| n.ret && n.depth == l.depth && n.function == l.function);
        if leaf {
            lines.next();
            path.pop();
        }
        let _ = writeln!(
            o,
            "{:>5}  {mean:>9}  {share:>9}  {indent}{}{}",
            l.depth,
            l.function,
            if leaf { "();" } else { "() {" }
        );
    }
    tree_stats(&mut o, t);
    o
}

/// Trees of both stages plus the functions common to both (the HTML report's text form).
pub fn trees(r: &Results) -> String {
    let mut o = String::new();
    for stage in [Stage::Rx, Stage::Tx] {
        o.push_str(&tree(r, stage));
        o.push('\n');
    }
    common_functions(&mut o, r);
    o
}

/// [`timed_tree`] of both stages plus the functions common to both (`kpath tree` without
/// `--stage`).
pub fn timed_trees(r: &Results, times: &PathTable) -> String {
    let mut o = String::new();
    for stage in [Stage::Rx, Stage::Tx] {
        o.push_str(&timed_tree(r, stage, times));
        o.push('\n');
    }
    common_functions(&mut o, r);
    o
}

fn common_functions(o: &mut String, r: &Results) {
    let _ = writeln!(
        o,
        "functions common to both stages: {}",
        if r.common_functions.is_empty() {
            "none".into()
        } else {
            r.common_functions.join(", ")
        }
    );
}
