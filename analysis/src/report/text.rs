//! Terminal tables, readable at 100 columns (`kpath report`), and the text call tree
//! (`kpath tree`).

use std::fmt::Write as _;
use std::io::{self, Write};

use super::{fmt_time, Report};
use crate::results::{LevelOrigin, Results, TreeResult};
use crate::stage::Stage;

/// The human-readable report.
pub struct Text;

/// A table with a header row; the first `left` columns are left-aligned, the rest right.
struct Table {
    head: Vec<String>,
    rows: Vec<Vec<String>>,
    left: usize,
    left_last: bool,
}

impl Table {
    fn new(head: &[&str], left: usize) -> Self {
        Self {
            head: head.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
            left,
            left_last: false,
        }
    }

    fn row(&mut self, r: Vec<String>) {
        self.rows.push(r);
    }

    fn render(&self, out: &mut String) {
        let n = self.head.len();
        let mut w = vec![0; n];
        for r in std::iter::once(&self.head).chain(&self.rows) {
            for (i, c) in r.iter().enumerate().take(n) {
                w[i] = w[i].max(c.chars().count());
            }
        }
        for r in std::iter::once(&self.head).chain(&self.rows) {
            let mut line = String::new();
            for (i, c) in r.iter().enumerate().take(n) {
                if i > 0 {
                    line.push_str("  ");
                }
                if i < self.left || (self.left_last && i + 1 == n) {
                    let _ = write!(line, "{c:<width$}", width = w[i]);
                } else {
                    let _ = write!(line, "{c:>width$}", width = w[i]);
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
}

fn short(name: &str, max: usize) -> String {
    if name.chars().count() <= max {
        name.to_string()
    } else {
        let s: String = name.chars().take(max - 1).collect();
        format!("{s}…")
    }
}

fn pct(x: f64) -> String {
    format!("{x:.1}%")
}

impl Report for Text {
    fn write(&self, r: &Results, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(render(r).as_bytes())
    }
}

/// The whole text report.
pub fn render(r: &Results) -> String {
    let mut o = String::new();
    let u = &r.unit;
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
    let _ = writeln!(
        o,
        "filter: {}{}; times in {u}{}",
        r.settings.filter.name(),
        if r.settings.subtract_probe_cost {
            ", probe cost subtracted"
        } else {
            ""
        },
        if u == "ticks" {
            format!(" ({:.4} ns per tick)", r.unit_ns)
        } else {
            String::new()
        }
    );
    if r.trace.lost_events > 0 {
        let _ = writeln!(
            o,
            "!!! WARNING: {} EVENTS LOST in the kernel (per CPU: {:?}); trees and counts have gaps !!!",
            r.trace.lost_events, r.trace.lost_events_per_cpu
        );
    } else {
        let _ = writeln!(o, "lost events: 0");
    }
    if let Some(cut) = &r.trace.cut_tail {
        let _ = writeln!(o, "!!! WARNING: {cut} !!!");
    }
    let a = &r.anomalies;
    if a.unmatched_exits + a.unwound_calls + a.depth_gaps + a.depth_overflows + a.open_at_end > 0 {
        let _ = writeln!(
            o,
            "nesting anomalies: {} unmatched exits, {} unwound calls, {} depth gaps, {} depth overflows, {} broken invocations, {} open at end",
            a.unmatched_exits, a.unwound_calls, a.depth_gaps, a.depth_overflows, a.broken_invocations, a.open_at_end
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
        kernel_section(&mut o, r);
        return o;
    }

    let _ = writeln!(o, "\n== per function: time per call t ({u}) ==");
    let mut t = Table::new(
        &[
            "stage", "function", "calls", "k", "kept", "dropped", "mean", "±ci95", "std", "C²",
            "net mean",
        ],
        2,
    );
    for f in &r.functions {
        let s = &f.stats;
        t.row(vec![
            f.stage.to_string(),
            short(&f.function, 28),
            f.calls.to_string(),
            format!("{:.2}", f.k),
            s.samples.to_string(),
            f.dropped.to_string(),
            fmt_time(s.mean),
            fmt_time(s.ci95),
            fmt_time(s.std_dev),
            format!("{:.3}", s.cv2),
            fmt_time(f.net_mean),
        ]);
    }
    t.render(&mut o);

    let _ = writeln!(
        o,
        "\n== per function: distribution ({u}) and interrupted samples by cause =="
    );
    let mut t = Table::new(
        &[
            "stage", "function", "min", "p50", "p90", "p99", "max", "irq", "sirq", "sw", "mig",
            "±1%",
        ],
        2,
    );
    for f in &r.functions {
        let s = &f.stats;
        let i = &f.interrupted;
        t.row(vec![
            f.stage.to_string(),
            short(&f.function, 28),
            fmt_time(s.min),
            fmt_time(s.p50),
            fmt_time(s.p90),
            fmt_time(s.p99),
            fmt_time(s.max),
            i.hardirq.to_string(),
            i.softirq.to_string(),
            i.switch.to_string(),
            i.migration.to_string(),
            if s.precision_1pct_reached {
                "yes".into()
            } else {
                s.samples_needed_1pct
                    .map(|n| format!("n≥{n:.0}"))
                    .unwrap_or_else(|| "-".into())
            },
        ]);
    }
    t.render(&mut o);

    for from in [LevelOrigin::Leaves, LevelOrigin::Root] {
        let label = match from {
            LevelOrigin::Leaves => "from the leaves (0 = no probed callees)",
            LevelOrigin::Root => "from the root (0 = root)",
        };
        let _ = writeln!(o, "\n== per nesting level, {label} ({u}) ==");
        let mut t = Table::new(
            &[
                "stage",
                "level",
                "functions",
                "calls/inv",
                "Σk·t",
                "Σk·D",
                "mean",
                "variance",
            ],
            1,
        );
        for l in r.levels.iter().filter(|l| l.from == from) {
            t.row(vec![
                l.stage.to_string(),
                l.level.to_string(),
                l.functions.len().to_string(),
                format!("{:.2}", l.calls_per_invocation),
                fmt_time(l.sum_kt),
                fmt_time(l.sum_kd),
                fmt_time(l.mean),
                fmt_time(l.variance),
            ]);
        }
        t.render(&mut o);
    }

    let _ = writeln!(
        o,
        "\n== per chain: experimental vs calculated (Σ k·t, Σ k·D over direct callees) ({u}) =="
    );
    let mut t = Table::new(
        &[
            "stage",
            "chain root",
            "elems",
            "exp t",
            "calc t",
            "ratio",
            "exp D",
            "calc D",
            "ratio",
        ],
        2,
    );
    for c in &r.chains {
        t.row(vec![
            c.stage.to_string(),
            short(&c.root, 28),
            c.elements.len().to_string(),
            fmt_time(c.experimental_mean),
            fmt_time(c.calculated_mean),
            format!("{:.3}", c.ratio_mean),
            fmt_time(c.experimental_variance),
            fmt_time(c.calculated_variance),
            format!("{:.3}", c.ratio_variance),
        ]);
    }
    t.render(&mut o);
    let _ = writeln!(
        o,
        "\n== per chain: subtotal Σ k·t per level below the root (level:Σk·t) =="
    );
    for c in &r.chains {
        let mut line = format!("{} {}:", c.stage, short(&c.root, 28));
        for s in &c.level_subtotals {
            let item = format!(" {}:{}", s.level, fmt_time(s.mean));
            if line.chars().count() + item.chars().count() > 98 {
                let _ = writeln!(o, "{line}");
                line = "   ".to_string();
            }
            line.push_str(&item);
        }
        let _ = writeln!(o, "{line}");
    }

    let _ = writeln!(o, "\n== per stage ({u}) ==");
    let mut t = Table::new(
        &[
            "stage",
            "invocations",
            "kept",
            "mean T",
            "±ci95",
            "variance D",
            "C²",
            "p50",
            "p99",
            "calls/inv",
            "±1%",
        ],
        1,
    );
    for s in &r.stages {
        let st = &s.stats;
        t.row(vec![
            s.stage.to_string(),
            s.invocations.to_string(),
            st.samples.to_string(),
            fmt_time(st.mean),
            fmt_time(st.ci95),
            fmt_time(st.variance),
            format!("{:.3}", st.cv2),
            fmt_time(st.p50),
            fmt_time(st.p99),
            format!("{:.2}", s.calls_per_invocation),
            if st.precision_1pct_reached {
                "yes".into()
            } else {
                st.samples_needed_1pct
                    .map(|n| format!("n≥{n:.0}"))
                    .unwrap_or_else(|| "-".into())
            },
        ]);
    }
    t.render(&mut o);
    let _ = writeln!(
        o,
        "\n== plain average per function vs normative time per call ({u}) =="
    );
    let mut t = Table::new(
        &["stage", "functions", "plain avg", "normative", "error"],
        1,
    );
    for s in r.stages.iter().filter(|s| s.stage != Stage::Other) {
        t.row(vec![
            s.stage.to_string(),
            s.distinct_functions.to_string(),
            fmt_time(s.plain_average),
            fmt_time(s.normative_per_call),
            pct(s.normative_error_pct),
        ]);
    }
    t.render(&mut o);
    let sv = &r.service;
    let _ = writeln!(
        o,
        "\nservice time of one datagram: T = T_rx + T_tx = {} {u}, D = D_rx + D_tx = {} {u}², C² = {:.3}",
        fmt_time(sv.mean),
        fmt_time(sv.variance),
        sv.cv2
    );
    if let Some(m) = &r.model {
        let _ = writeln!(o, "saturation rate λ_max = 1/T = {:.0} datagrams/s; recommended model: {} (see `kpath model`)", m.lambda_max_per_s, m.recommended);
    }
    if r.kernel_stats.is_some() {
        kernel_section(&mut o, r);
    }
    o
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
fn kernel_section(o: &mut String, r: &Results) {
    use crate::kernel_stats::VarianceStatus;
    let Some(k) = &r.kernel_stats else {
        return;
    };
    let u = &r.unit;
    let opt = |x: Option<f64>| x.map_or_else(|| "-".to_string(), fmt_time);
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
    let mut t = Table::new(
        &[
            "function", "calls", "kept", "dropped", "mean", "±ci95", "std", "C²", "±1%",
        ],
        1,
    );
    let mut saturated = false;
    for f in &k.functions {
        let unknown = f.variance_status == VarianceStatus::Saturated;
        saturated |= unknown;
        let var_cell = |x: Option<f64>, fmt: &dyn Fn(f64) -> String| match x {
            Some(v) => fmt(v),
            None if unknown => "?".to_string(),
            None => "-".to_string(),
        };
        t.row(vec![
            short(&f.function, 28),
            f.calls.to_string(),
            f.samples.to_string(),
            f.dropped.to_string(),
            if f.mean.is_none() && f.samples > 0 {
                "?".into()
            } else {
                opt(f.mean)
            },
            var_cell(f.ci95, &fmt_time),
            var_cell(f.std_dev, &fmt_time),
            var_cell(f.cv2, &|c| format!("{c:.3}")),
            if f.precision_1pct_reached {
                "yes".into()
            } else {
                f.samples_needed_1pct
                    .map(|n| format!("n≥{n:.0}"))
                    .unwrap_or_else(|| "-".into())
            },
        ]);
    }
    t.render(o);
    let _ = writeln!(
        o,
        "\n-- distribution of the clean samples ({u}); p50~ p90~ p99~ are approximations --"
    );
    let mut t = Table::new(
        &[
            "function",
            "min",
            "p50~",
            "p90~",
            "p99~",
            "max",
            "interrupted mean",
        ],
        1,
    );
    for f in &k.functions {
        t.row(vec![
            short(&f.function, 28),
            opt(f.min),
            opt(f.p50.map(|p| p.value)),
            opt(f.p90.map(|p| p.value)),
            opt(f.p99.map(|p| p.value)),
            opt(f.max),
            opt(f.interrupted_mean),
        ]);
    }
    t.render(o);
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

/// Trees of both stages plus the functions common to both (`kpath tree` without `--stage`).
pub fn trees(r: &Results) -> String {
    let mut o = String::new();
    for stage in [Stage::Rx, Stage::Tx] {
        o.push_str(&tree(r, stage));
        o.push('\n');
    }
    let _ = writeln!(
        o,
        "functions common to both stages: {}",
        if r.common_functions.is_empty() {
            "none".into()
        } else {
            r.common_functions.join(", ")
        }
    );
    o
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
    let mut t = Table::new(
        &[
            "rho",
            "λ /s",
            "W M/G/1",
            "N M/G/1",
            "W M/M/1",
            "N M/M/1",
            "M/M/1 error",
        ],
        0,
    );
    for p in &m.points {
        t.row(vec![
            format!("{:.2}", p.rho),
            format!("{:.1}", p.lambda_per_s),
            fmt_time(p.mg1.sojourn),
            format!("{:.3}", p.mg1.in_system),
            fmt_time(p.mm1.sojourn),
            format!("{:.3}", p.mm1.in_system),
            pct(p.mm1_error_pct),
        ]);
    }
    t.render(&mut o);
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
