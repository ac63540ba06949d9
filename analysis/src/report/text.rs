//! Terminal tables, readable at 100 columns (`kpath report`), the first screen as their
//! header, and `kpath model`'s projection. The call trees are in `tree.rs`, the histograms
//! of `--hist` in `hist.rs`.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::tables::{self, Table};
use super::unit::TimeUnit;
use super::{fmt_time, Report};
use crate::results::{LevelOrigin, Results};

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
        "trace {} ({} records{}, kernel {}, {} CPUs){}",
        r.trace.path,
        r.trace.records,
        if r.trace.notes.get("entry_records") == Some(&serde_json::Value::Bool(false)) {
            " at exits, entries rebuilt"
        } else {
            ""
        },
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
                "\nservice time of one datagram: T = T_rx + T_tx = {}, D = D_rx + D_tx = {}, C² = {:.3}",
                unit.time_with_unit(sv.mean),
                unit.variance_with_unit(sv.variance),
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
