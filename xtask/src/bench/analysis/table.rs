//! The plain-text table of section (e).

use super::{AnalysisBench, Spread};

/// The section as a plain-text table.
pub fn table(b: &AnalysisBench) -> String {
    let mib = |s: &Spread| Spread {
        min: s.min / 1024.0,
        median: s.median / 1024.0,
        max: s.max / 1024.0,
    };
    let m = |s: &Spread| Spread {
        min: s.min / 1e6,
        median: s.median / 1e6,
        max: s.max / 1e6,
    };
    let mrec = |n: u64| format!("{:.1} M records", n as f64 / 1e6);
    let mut out = format!(
        "(e) analysis speed: {} rounds, trace {} ({:.2} GB){}\n",
        b.rounds,
        mrec(b.trace_records),
        b.trace_bytes as f64 / 1e9,
        if b.quick { ", quick" } else { "" }
    );
    if let Some(why) = &b.scaled_down {
        out += &wrap(&format!("scaled down: {why}"), 96, "  ");
    }
    out += &format!("  {:<48}{:>12}{:>12}{:>12}\n", "", "min", "median", "max");
    let mut row = |label: String, s: &Spread, digits: usize| {
        out += &format!(
            "  {label:<48}{:>12.digits$}{:>12.digits$}{:>12.digits$}\n",
            s.min, s.median, s.max
        );
    };
    row(
        "kpath report, M records/s".into(),
        &m(&b.report_records_per_s),
        1,
    );
    row(
        "kpath report, M records/CPU-s (per core)".into(),
        &m(&b.report_records_per_cpu_s),
        1,
    );
    row("kpath report, cores used".into(), &b.report_cores_used, 2);
    row(
        "kpath tree, M records/s".into(),
        &m(&b.tree_records_per_s),
        1,
    );
    row(
        format!("report peak RSS, MiB ({})", mrec(b.trace_records)),
        &mib(&b.report_peak_rss_kib),
        1,
    );
    row(
        format!("report peak RSS, MiB ({})", mrec(b.quarter_trace_records)),
        &mib(&b.quarter_report_peak_rss_kib),
        1,
    );
    row(
        "  ratio (4× the records)".into(),
        &b.rss_ratio_4x_records,
        3,
    );
    row("tree peak RSS, MiB".into(), &mib(&b.tree_peak_rss_kib), 1);
    row(
        format!("kpath report, M calls/s ({})", mrec(b.awk_trace_records)),
        &m(&b.report_calls_per_s),
        2,
    );
    row(
        format!(
            "kpath report, M calls/s, exits only ({})",
            mrec(b.exits_trace_records)
        ),
        &m(&b.report_exits_calls_per_s),
        2,
    );
    row(
        "  ratio to the trace with entry records".into(),
        &b.exits_over_entries,
        3,
    );
    row(
        format!("{} alone, M calls/s (CSV written before)", b.awk),
        &m(&b.awk_calls_per_s),
        2,
    );
    row(
        format!("export | {}, M calls/s (the pipeline)", b.awk),
        &m(&b.pipeline_calls_per_s),
        2,
    );
    row(
        format!("kpath report / export | {}", b.awk),
        &b.speedup_over_pipeline,
        1,
    );
    row(
        format!("kpath report / {} alone", b.awk),
        &b.speedup_over_awk,
        1,
    );
    row(
        format!("{} peak RSS, MiB", b.awk),
        &mib(&b.awk_peak_rss_kib),
        1,
    );
    out += &format!(
        "  {} against kpath, {} functions: {} (max rel. diff mean {:.1e}, variance {:.1e})\n",
        b.awk,
        b.functions_compared,
        if b.agrees { "agree" } else { "DISAGREE" },
        b.max_mean_rel_diff,
        b.max_variance_rel_diff
    );
    for t in [
        &b.target_report_per_core,
        &b.target_vs_awk,
        &b.target_memory_flat,
    ] {
        out += &format!(
            "  target {:<50} {:>9.2}  {}\n",
            t.target,
            t.measured,
            if t.met { "met" } else { "NOT met" }
        );
    }
    out
}

/// `text` broken at spaces into lines of at most `width` characters after `indent`.
fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            out += &format!("{indent}{line}\n");
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out += &format!("{indent}{line}\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_keeps_lines_short() {
        let w = wrap("aaa bbb ccc ddd", 7, "  ");
        assert_eq!(w, "  aaa bbb\n  ccc ddd\n");
    }
}
