//! `summary.md`: the key tables of a report in GitHub-flavoured Markdown, for terminals and
//! pull requests.

use std::fmt::Write as _;

use super::tables::{self, Table};
use super::unit::TimeUnit;
use crate::results::Results;

/// Escapes text for a Markdown table cell: backslash-escapes the characters that format
/// inline (`\ ` * [ ] < > | ~`; `_` only formats at word boundaries, which kernel names and
/// our texts avoid) and turns line breaks into spaces.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '[' | ']' | '<' | '>' | '|' | '~' => {
                o.push('\\');
                o.push(c);
            }
            '\n' | '\r' => o.push(' '),
            _ => o.push(c),
        }
    }
    o
}

/// A code span holding `s` verbatim, safe inside a table cell.
pub fn code(s: &str) -> String {
    let s = s.replace(['\n', '\r'], " ").replace('|', "\\|");
    if s.contains('`') {
        // CommonMark strips one space on each side, which lets the span start or end with `.
        format!("`` {s} ``")
    } else {
        format!("`{s}`")
    }
}

/// Renders `t` as a Markdown table under a bold caption.
pub fn table(t: &Table) -> String {
    let mut o = format!("**{}**\n\n", escape(&t.caption));
    if t.rows.is_empty() {
        o.push_str("(none)\n");
        return o;
    }
    let cell = |i: usize, c: &str| {
        if t.code_cols.contains(&i) {
            code(c)
        } else {
            escape(c)
        }
    };
    let _ = writeln!(
        o,
        "| {} |",
        t.head
            .iter()
            .map(|h| escape(h))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(o, "|{}", "---|".repeat(t.head.len()));
    for r in &t.rows {
        let cells: Vec<String> = r
            .cells
            .iter()
            .enumerate()
            .map(|(i, c)| cell(i, c))
            .collect();
        let _ = writeln!(o, "| {} |", cells.join(" | "));
    }
    o
}

/// The whole `summary.md`; `links` are (label, relative target) pairs.
pub fn summary(r: &Results, top: usize, links: &[(String, String)]) -> String {
    // Each time in the unit that suits it, as in the HTML report beside it.
    let u = TimeUnit::Auto;
    let mut o = String::from("# kpath report\n\n");
    for (title, items) in super::first_screen::of(r).parts() {
        let _ = writeln!(o, "**{title}**\n");
        for i in items {
            if i.alarm {
                let _ = writeln!(o, "- **{}: {}** ⚠", escape(i.label), escape(&i.text));
            } else {
                let _ = writeln!(o, "- {}: {}", escape(i.label), escape(&i.text));
            }
        }
        o.push('\n');
    }
    o.push_str("## Run\n\n");
    for m in tables::metadata(r, u) {
        let v = escape(&m.value);
        if m.alarm {
            let _ = writeln!(o, "- **{}: {v}** ⚠", escape(&m.key));
        } else {
            let _ = writeln!(o, "- {}: {v}", escape(&m.key));
        }
    }
    let _ = writeln!(o, "\n{}\n", escape(&super::service_text(r, u)));
    o.push_str("## Per stage\n\n");
    o.push_str(&table(&tables::stages(r, u)));
    let sources = super::stage_sources_text(r);
    if !sources.is_empty() {
        o.push_str("\nWhere the invocations ran:\n\n");
        for line in sources {
            o.push_str(&format!("- {}\n", escape(&line)));
        }
    }
    let demand = super::demand_text(r);
    if !demand.is_empty() {
        o.push_str("\nThe CPUs' whole service demand (busy time, utilisation law):\n\n");
        for line in demand {
            o.push_str(&format!("- {}\n", escape(&line)));
        }
    }
    o.push('\n');
    o.push_str(&table(&tables::plain_vs_normative(r, u)));
    o.push_str("\n## Per chain\n\n");
    o.push_str(&table(&tables::chains(r, u)));
    o.push_str("\n## Top functions\n\n");
    o.push_str(&table(&tables::top_functions(r, top, u)));
    let waiting = tables::waiting(r, u);
    if !waiting.rows.is_empty() {
        o.push_str("\n## Waiting off the CPU\n\n");
        o.push_str(&table(&waiting));
    }
    o.push_str("\n## Validation of the queueing projection\n\n");
    if r.validation.as_ref().is_some_and(|v| !v.choices.is_empty()) {
        o.push_str(&table(&tables::validation_choices(r, u)));
        o.push('\n');
        o.push_str(&table(&tables::verdicts(r)));
        o.push('\n');
        o.push_str(&table(&tables::validation(r, u)));
    } else {
        o.push_str("Not run: these results hold no measured validation points.\n");
    }
    o.push_str("\n## Files\n\n");
    for (label, target) in links {
        let _ = writeln!(o, "- [{}](<{}>)", escape(label), target.replace('>', "%3E"));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_cells_and_code() {
        assert_eq!(escape("a|b_c*"), "a\\|b_c\\*");
        assert_eq!(code("__dev_queue_xmit"), "`__dev_queue_xmit`");
        assert_eq!(code("a|b"), "`a\\|b`");
        assert_eq!(code("a`b"), "`` a`b ``");
    }
}
