//! Terminal tables, readable at 100 columns (`kpath report`), and the text call tree
//! (`kpath tree`).

use std::fmt::Write as _;
use std::io::{self, Write};

use super::tables::{self, Table};
use super::unit::{human, TimeUnit};
use super::{fmt_time, Report};
use crate::pathtimes::PathTable;
use crate::results::{LevelOrigin, Results, TreeResult};
use crate::stage::Stage;

/// The human-readable report, its times in `unit`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Text {
    /// The unit times are shown in.
    pub unit: TimeUnit,
}

/// Writes `t` as a terminal table: column 0 and the identifier columns left-aligned (names
/// cut to [`NAME_WIDTH`] characters), the numbers right-aligned, two spaces between columns.
fn render_table(t: &Table, out: &mut String) {
    let n = t.head.len();
    let is_left = |i: usize| t.text_cols.contains(&i);
    let rows: Vec<Vec<String>> = t
        .rows
        .iter()
        .map(|r| {
            r.cells
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    if t.code_cols.contains(&i) {
                        short(c, NAME_WIDTH)
                    } else {
                        c.clone()
                    }
                })
                .collect()
        })
        .collect();
    let mut w = vec![0; n];
    for r in std::iter::once(&t.head).chain(&rows) {
        for (i, c) in r.iter().enumerate().take(n) {
            w[i] = w[i].max(c.chars().count());
        }
    }
    for r in std::iter::once(&t.head).chain(&rows) {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate().take(n) {
            if i > 0 {
                line.push_str("  ");
            }
            if is_left(i) {
                let _ = write!(line, "{c:<width$}", width = w[i]);
            } else {
                let _ = write!(line, "{c:>width$}", width = w[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

/// Longest function name shown in a terminal table (longer ones end in `…`).
const NAME_WIDTH: usize = 28;

fn short(name: &str, max: usize) -> String {
    if name.chars().count() <= max {
        name.to_string()
    } else {
        let s: String = name.chars().take(max - 1).collect();
        format!("{s}…")
    }
}

impl Report for Text {
    fn write(&self, r: &Results, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(render(r, self.unit).as_bytes())
    }
}

/// The whole text report, its times in `unit`.
pub fn render(r: &Results, unit: TimeUnit) -> String {
    let mut o = String::new();
    let u = unit.name();
    let _ = writeln!(
        o,
        "trace {} ({} records, kernel {}, {} CPUs){}",
        r.trace.path,
        r.trace.records,
        r.trace.kernel_release,
        r.trace.cpu_count,
        if r.trace.finalised {
            ""
        } else {
            ", NOT FINALISED: recorder did not finish"
        }
    );
    first_screen(&mut o, &super::first_screen::of(r));
    if r.trace.missed_probe_runs > 0 {
        let _ = writeln!(
            o,
            "!!! WARNING: the kernel skipped {} probe runs (recursion guard); those calls are \
             missing !!!",
            r.trace.missed_probe_runs
        );
    }
    let _ = writeln!(
        o,
        "filter: {}, clock: {}{}; times in {}",
        r.settings.filter.name(),
        r.settings.clock.name(),
        if r.settings.subtract_probe_cost {
            ", probe cost subtracted"
        } else {
            ""
        },
        unit.describe()
    );
    if r.trace.lost_events > 0 {
        let _ = writeln!(
            o,
            "!!! WARNING: {} EVENTS LOST in the kernel (per CPU: {:?}); trees and counts have gaps !!!",
            r.trace.lost_events, r.trace.lost_events_per_cpu
        );
    }
    if let Some(cut) = &r.trace.cut_tail {
        let _ = writeln!(o, "!!! WARNING: {cut} !!!");
    }
    if let Some(reordered) = &r.trace.reordered {
        let _ = writeln!(o, "note: {reordered}");
    }
    let a = &r.anomalies;
    if a.unmatched_exits
        + a.unwound_calls
        + a.depth_gaps
        + a.depth_overflows
        + a.open_at_end
        + a.out_of_order
        > 0
    {
        let _ = writeln!(
            o,
            "nesting anomalies: {} unmatched exits, {} unwound calls, {} depth gaps, {} depth overflows, {} broken invocations, {} open at end{}",
            a.unmatched_exits, a.unwound_calls, a.depth_gaps, a.depth_overflows, a.broken_invocations, a.open_at_end,
            if a.out_of_order > 0 { format!(", {} records out of time order", a.out_of_order) } else { String::new() }
        );
    }
    for p in &r.probe_cost {
        let _ = writeln!(
            o,
            "probe cost ({}): {}",
            p.mechanism,
            super::probe_cost_text(p)
        );
    }
    if let Some(w) = super::clamped_text(r) {
        let _ = writeln!(o, "!!! WARNING: {w} !!!");
    }
    if let Some(t) = super::recorder_text(r) {
        let _ = writeln!(o, "recorder: {t}");
    }

    if r.is_stats_mode() {
        kernel_section(&mut o, r, unit);
        return o;
    }

    let _ = writeln!(
        o,
        "\n== per function: time per call t ({u}, {}) ==",
        tables::clock_words(r.settings.clock)
    );
    render_table(&tables::function_times(r, unit), &mut o);
    let waiting = tables::waiting(r, unit);
    if !waiting.rows.is_empty() {
        let _ = writeln!(
            o,
            "\n== per function: waiting off the CPU ({u}), left out of on-CPU times =="
        );
        render_table(&waiting, &mut o);
    }

    let _ = writeln!(
        o,
        "\n== per function: distribution ({u}) and interrupted samples by cause =="
    );
    render_table(&tables::function_distribution(r, unit), &mut o);

    for from in [LevelOrigin::Leaves, LevelOrigin::Root] {
        let label = match from {
            LevelOrigin::Leaves => "from the leaves (0 = no probed callees)",
            LevelOrigin::Root => "from the root (0 = root)",
        };
        let _ = writeln!(o, "\n== per nesting level, {label} ({u}) ==");
        render_table(&tables::levels(r, from, unit), &mut o);
    }

    let _ = writeln!(
        o,
        "\n== per chain: experimental vs calculated (Σ k·t, Σ k·D over direct callees) ({u}) =="
    );
    render_table(&tables::chains(r, unit), &mut o);
    let _ = writeln!(
        o,
        "\n== per chain: subtotal Σ k·t per level below the root (level:Σk·t) =="
    );
    for c in &r.chains {
        let mut line = format!("{} {}:", c.stage, short(&c.root, 28));
        for s in &c.level_subtotals {
            let item = format!(" {}:{}", s.level, unit.time(s.mean));
            if line.chars().count() + item.chars().count() > 98 {
                let _ = writeln!(o, "{line}");
                line = "   ".to_string();
            }
            line.push_str(&item);
        }
        let _ = writeln!(o, "{line}");
    }

    let _ = writeln!(o, "\n== per stage ({u}) ==");
    render_table(&tables::stages(r, unit), &mut o);
    let sources = super::stage_sources_text(r);
    if !sources.is_empty() {
        let _ = writeln!(o, "where the invocations ran:");
        for line in sources {
            let _ = writeln!(o, "  {line}");
        }
    }
    let demand = super::demand_text(r);
    if !demand.is_empty() {
        let _ = writeln!(
            o,
            "the CPUs' whole service demand (busy time, utilisation law):"
        );
        for line in demand {
            let _ = writeln!(o, "  {line}");
        }
    }
    let _ = writeln!(
        o,
        "\n== plain average per function vs normative time per call ({u}) =="
    );
    render_table(&tables::plain_vs_normative(r, unit), &mut o);
    match (&r.service, &r.service_unknown) {
        (Some(sv), _) => {
            let _ = writeln!(
                o,
                "\nservice time of one datagram: T = T_rx + T_tx = {} {u}, D = D_rx + D_tx = {} {u}², C² = {:.3}",
                unit.time(sv.mean),
                unit.variance(sv.variance),
                sv.cv2
            );
        }
        (None, why) => {
            o.push('\n');
            wrapped(&mut o, "!!! ", why.as_deref().unwrap_or("no service time"));
        }
    }
    if let Some(m) = &r.model {
        let _ = writeln!(o, "saturation rate λ_max = 1/T = {:.0} datagrams/s; recommended model: {} (see `kpath model`)", m.lambda_max_per_s, m.recommended);
    }
    if r.kernel_stats.is_some() {
        kernel_section(&mut o, r, unit);
    }
    o
}

/// The log2 histogram of every function with kept samples, then of each stage, as bcc's
/// `funclatency` prints them (`kpath report --hist`): one row per power-of-two bucket of ns,
/// 40 stars for the fullest; empty buckets below the first sample are left out. Always in
/// ns: log2 buckets of ns do not convert to another unit.
pub fn histograms(r: &Results) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "log2 histograms of the time per call (ns, {}, filter {})",
        tables::clock_words(r.settings.clock),
        r.settings.filter.name()
    );
    let mut any = false;
    for f in r.functions.iter().filter(|f| f.stats.samples > 0) {
        let _ = writeln!(o, "\nFunction = {} [{}]", f.function, f.stage);
        log2_histogram(&mut o, &f.stats);
        any = true;
    }
    for s in r.stages.iter().filter(|s| s.stats.samples > 0) {
        let _ = writeln!(o, "\nStage = {} (time per invocation)", s.stage);
        log2_histogram(&mut o, &s.stats);
        any = true;
    }
    if !any {
        let _ = writeln!(o, "\nno kept samples: nothing to draw");
    }
    o
}

/// One histogram in bcc's layout (`print_log2_hist`), then the mean and count.
fn log2_histogram(o: &mut String, s: &crate::stats::Summary) {
    const STARS: usize = 40;
    let Some(first) = s.log2.iter().position(|&n| n > 0) else {
        let _ = writeln!(
            o,
            "(no histogram: results written before kpath 0.2; analyze the trace again)"
        );
        return;
    };
    let max = s.log2.iter().copied().max().unwrap_or(1).max(1);
    let _ = writeln!(o, "     {:<19} : count     distribution", "nsecs");
    for (i, &n) in s.log2.iter().enumerate().skip(first) {
        // bcc's labels: bucket i ≥ 1 holds [2^(i−1), 2^i − 1], shown from 0 when that is one
        // value; bucket 0 holds the zeros.
        let (low, high) = match i {
            0 => (0u64, 0u64),
            1 => (0, 1),
            _ => (1u64 << (i - 1), (1u64 << i) - 1),
        };
        let stars = (STARS as u128 * u128::from(n) / u128::from(max)) as usize;
        let _ = writeln!(
            o,
            "{low:>10} -> {high:<10} : {n:<8} |{:<STARS$}|",
            "*".repeat(stars)
        );
    }
    let _ = writeln!(o, "avg = {} nsecs, count: {}", fmt_time(s.mean), s.samples);
}

/// The first screen as a short header: one wrapped line per item under its part's title,
/// alarms marked `!!!`.
fn first_screen(o: &mut String, s: &super::first_screen::FirstScreen) {
    for (title, items) in s.parts() {
        if items.is_empty() {
            continue;
        }
        let _ = writeln!(o, "{}:", title.to_lowercase());
        for i in items {
            let prefix = if i.alarm {
                format!("  !!! {}: ", i.label)
            } else {
                format!("  {}: ", i.label)
            };
            wrapped(o, &prefix, &i.text);
        }
    }
}

/// Writes `text` wrapped at 98 columns, each line starting with `prefix` (continuations with
/// as many spaces).
fn wrapped(o: &mut String, prefix: &str, text: &str) {
    let indent = " ".repeat(prefix.chars().count());
    let mut line = prefix.to_string();
    let mut empty = true;
    for word in text.split_whitespace() {
        if !empty && line.chars().count() + 1 + word.chars().count() > 98 {
            let _ = writeln!(o, "{line}");
            line = indent.clone();
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    let _ = writeln!(o, "{line}");
}

/// The per-function tables of a stats-mode trace (`Results::kernel_stats`).
fn kernel_section(o: &mut String, r: &Results, unit: TimeUnit) {
    use crate::kernel_stats::VarianceStatus;
    let Some(k) = &r.kernel_stats else {
        return;
    };
    let u = unit.name();
    let _ = writeln!(
        o,
        "\n== per function (aggregated in the kernel, --mode stats: no call trees or stages) =="
    );
    if r.trace.records > 0 {
        let _ = writeln!(
            o,
            "(the trace also has {} records, analysed above)",
            r.trace.records
        );
    }
    let _ = writeln!(
        o,
        "\n-- time per call t of the clean samples ({u}); dropped = interrupted --"
    );
    render_table(&tables::kernel_times(k, unit), o);
    let saturated = k
        .functions
        .iter()
        .any(|f| f.variance_status == VarianceStatus::Saturated);
    let _ = writeln!(
        o,
        "\n-- distribution of the clean samples ({u}); p50~ p90~ p99~ are approximations --"
    );
    render_table(&tables::kernel_distribution(k, unit), o);
    wrapped(o, "~: ", &k.percentile_method);
    if saturated {
        wrapped(
            o,
            "?: ",
            "unknown: the kernel's sum of squares (or sum) saturated at 2^64−1.",
        );
    }
    wrapped(
        o,
        "note: ",
        "stats mode keeps per-function sums only: no call trees, depths, levels, chains or \
         stages, hence no service time T; record without --mode stats for those.",
    );
    for n in &k.notes {
        wrapped(o, "note: ", n);
    }
}

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

/// The terminal form of the queueing projection (`kpath model`), with `unit` naming the
/// input unit.
pub fn model(m: &crate::queueing::ModelOutput, unit: &str) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "service time T = {} {unit}, variance D = {} {unit}², C² = {:.4} ({} ns per {unit})",
        fmt_time(m.mean),
        fmt_time(m.variance),
        m.cv2,
        m.unit_ns
    );
    let _ = writeln!(
        o,
        "saturation rate λ_max = 1/T = {:.1} per second",
        m.lambda_max_per_s
    );
    let _ = writeln!(
        o,
        "recommended: {} ({})",
        m.recommended,
        if m.cv2 < 1.0 {
            "C² < 1: M/M/1 overstates the delay"
        } else if m.cv2 > 1.0 {
            "C² > 1: M/M/1 understates the delay"
        } else {
            "C² = 1"
        }
    );
    if let Some(st) = m.setup {
        let _ = writeln!(
            o,
            "setup (wake-up of an idle server) S = {} {unit}, variance {} {unit}²: paid by the \
             first arrival of each busy period",
            fmt_time(st.mean),
            fmt_time(st.variance)
        );
    }
    render_table(&tables::model_points(m, unit), &mut o);
    if let Some(p) = m.points.iter().max_by(|a, b| a.rho.total_cmp(&b.rho)) {
        let wait = p.mg1.sojourn - m.mean;
        let _ = writeln!(
            o,
            "at ρ = {:.2} the waiting time (M/G/1) is {:.1} times the service time",
            p.rho,
            wait / m.mean
        );
    }
    o
}
