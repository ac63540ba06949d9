//! The page itself: the summary box (the first screen), the sections, the plots in a grid,
//! the flame graph, the run details folded away, and the glossary. Everything it shows comes
//! in through [`Page`]; it reads no file.

use std::fmt::Write as _;

use super::{escape, glossary};
use crate::report::first_screen::{self, FirstScreen};
use crate::report::tables::{self, Table};
use crate::report::unit::TimeUnit;
use crate::results::Results;

/// One figure as the page shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Shown {
    /// The figure's name (its file stem).
    pub name: String,
    /// The image, relative to the page.
    pub src: String,
    /// The image inline (`data:` URI), so the page stands alone; `None` links `src`.
    pub inline: Option<String>,
    /// The gnuplot script, relative to the page.
    pub script: Option<String>,
    /// The data, relative to the page.
    pub data: Option<String>,
}

/// What the page shows.
pub(super) struct Page<'a> {
    pub results: &'a Results,
    /// Rows of the top-functions table.
    pub top: usize,
    pub figures: &'a [Shown],
    /// The on-CPU flame graph as a `data:` URI of its SVG (shown as an image, so its script
    /// does not run), when the trace was found.
    pub flame: Option<&'a str>,
    /// (label, relative target).
    pub links: &'a [(String, String)],
    /// Why the trace is not linked, if it is not.
    pub trace_note: &'a str,
    /// What could not be done.
    pub warnings: &'a [String],
}

const CSS: &str = "body{font-family:sans-serif;margin:1.5em auto;max-width:1400px;padding:0 1em;color:#222}\
h1{margin-bottom:.2em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}\
nav a{margin-right:1em}table{border-collapse:collapse;margin:.8em 0;font-size:.88em}\
caption{text-align:left;font-weight:bold;padding:.3em 0}\
th,td{border:1px solid #ccc;padding:.2em .5em;text-align:right;vertical-align:top}\
th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}th[title]{cursor:help;text-decoration:underline dotted}\
tr.alarm td{background:#fde2e2}dl.meta{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}\
dl.meta dt{font-weight:bold}dl.meta dd{margin:0;word-break:break-word}\
.alarm-box{background:#c62828;color:#fff;font-weight:bold;padding:.6em 1em;margin:.6em 0}\
.warn{background:#fff3cd;padding:.4em .8em}dd.alarm{color:#c62828;font-weight:bold}\
#summary{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:.4em 1.6em;\
border:2px solid #1f77b4;border-radius:6px;padding:.4em 1em;margin:.8em 0;background:#f7fbff}\
#summary h2{font-size:1.05em;margin:.5em 0 .2em;border:none}#summary ul{margin:0;padding-left:1.1em}\
#summary li{margin:.25em 0;font-size:.93em}#summary li.alarm{color:#c62828;font-weight:bold}\
#summary .label{font-weight:bold}details summary{cursor:pointer;font-weight:bold;margin:.6em 0}\
pre{background:#f6f6f6;padding:.8em;overflow-x:auto;font-size:.85em}\
.plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(430px,1fr));gap:.6em}\
figure{margin:0}figure img{width:100%;height:auto;border:1px solid #ddd}figcaption{font-size:.85em}\
#flame img{width:100%;height:auto;border:1px solid #ddd}dl.glossary dt{font-weight:bold;margin-top:.4em}\
dl.glossary dd{margin-left:1.5em}code{font-size:.95em}";

/// A table; a header the glossary defines gets the definition as its hover title.
fn render_table(o: &mut String, t: &Table) {
    let head: String = t
        .head
        .iter()
        .map(|h| match glossary::define(h) {
            Some(d) => format!("<th title=\"{}\">{}</th>", escape(d), escape(h)),
            None => format!("<th>{}</th>", escape(h)),
        })
        .collect();
    let _ = writeln!(
        o,
        "<table id=\"{}\"><caption>{}</caption>\n<thead><tr>{head}</tr></thead>\n<tbody>",
        escape(&t.id),
        escape(&t.caption),
    );
    for r in &t.rows {
        let id =
            r.id.as_ref()
                .map_or(String::new(), |i| format!(" id=\"{}\"", escape(i)));
        let class = if r.alarm { " class=\"alarm\"" } else { "" };
        let _ = write!(o, "<tr{id}{class}>");
        for (i, c) in r.cells.iter().enumerate() {
            if t.code_cols.contains(&i) {
                let _ = write!(o, "<td><code>{}</code></td>", escape(c));
            } else {
                let _ = write!(o, "<td>{}</td>", escape(c));
            }
        }
        o.push_str("</tr>\n");
    }
    if t.rows.is_empty() {
        let _ = writeln!(
            o,
            "<tr><td colspan=\"{}\">(none)</td></tr>",
            t.head.len().max(1)
        );
    }
    o.push_str("</tbody></table>\n");
}

/// The summary box: where the time goes, capacity, trust; alarms in red.
fn summary_box(o: &mut String, s: &FirstScreen) {
    o.push_str("<section id=\"summary\">\n");
    for (title, items) in s.parts() {
        let _ = writeln!(o, "<div><h2>{}</h2>\n<ul>", escape(title));
        for i in items {
            let class = if i.alarm { " class=\"alarm\"" } else { "" };
            let _ = writeln!(
                o,
                "<li{class}><span class=\"label\">{}:</span> {}</li>",
                escape(i.label),
                escape(&i.text)
            );
        }
        o.push_str("</ul></div>\n");
    }
    o.push_str("</section>\n");
}

/// The whole page.
pub(super) fn render(p: &Page<'_>) -> String {
    let r = p.results;
    // Each time in the unit that suits it; the plots scale their own axes.
    let u = TimeUnit::Auto;
    let mut o = String::new();
    let title = format!(
        "kpath report: {} ({})",
        r.trace.hostname, r.trace.kernel_release
    );
    let _ = writeln!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<h1>{}</h1>",
        escape(&title),
        escape(&title)
    );
    summary_box(&mut o, &first_screen::of(r));
    if r.trace.lost_events > 0 {
        let _ = writeln!(
            o,
            "<div class=\"alarm-box\" id=\"lost-events\">{} EVENTS WERE LOST while recording: call trees and counts have gaps.</div>",
            r.trace.lost_events
        );
    }
    for w in p.warnings {
        let _ = writeln!(o, "<p class=\"warn\">{}</p>", escape(w));
    }
    o.push_str("<nav><a href=\"#stages\">stages</a><a href=\"#chains\">chains</a><a href=\"#top-functions\">top functions</a><a href=\"#flame\">flame graph</a><a href=\"#trees\">call trees</a><a href=\"#plots\">plots</a><a href=\"#validation\">validation</a><a href=\"#metadata\">run details</a><a href=\"#glossary\">glossary</a><a href=\"#links\">files</a></nav>\n");

    o.push_str("<section id=\"stages\">\n<h2>Per stage</h2>\n");
    render_table(&mut o, &tables::stages(r, u));
    let sources = crate::report::stage_sources_text(r);
    if !sources.is_empty() {
        o.push_str("<p>Where the invocations ran:</p>\n<ul>\n");
        for line in sources {
            let _ = writeln!(o, "<li>{}</li>", escape(&line));
        }
        o.push_str("</ul>\n");
    }
    let demand = crate::report::demand_text(r);
    if !demand.is_empty() {
        o.push_str("<p>The CPUs' whole service demand (busy time, utilisation law):</p>\n<ul>\n");
        for line in demand {
            let _ = writeln!(o, "<li>{}</li>", escape(&line));
        }
        o.push_str("</ul>\n");
    }
    render_table(&mut o, &tables::plain_vs_normative(r, u));
    let _ = writeln!(o, "<p>{}</p>", escape(&crate::report::service_text(r, u)));
    o.push_str("</section>\n");

    o.push_str("<section id=\"chains\">\n<h2>Per chain</h2>\n");
    render_table(&mut o, &tables::chains(r, u));
    o.push_str("</section>\n");

    o.push_str("<section id=\"top-functions\">\n<h2>Top functions</h2>\n");
    render_table(&mut o, &tables::top_functions(r, p.top, u));
    o.push_str("</section>\n");
    let waiting = tables::waiting(r, u);
    if !waiting.rows.is_empty() {
        o.push_str("<section id=\"waiting\">\n<h2>Waiting off the CPU</h2>\n");
        render_table(&mut o, &waiting);
        o.push_str("</section>\n");
    }

    o.push_str("<section id=\"flame\">\n<h2>Flame graph (self time on the CPU, ns)</h2>\n");
    match p.flame {
        Some(uri) => {
            let _ = writeln!(
                o,
                "<img src=\"{}\" alt=\"flame graph of the trace's call stacks, weighted by self time on the CPU\">\n<p>Every call path of the trace, both stages, interrupted calls kept: a box's width is the self time its function spent on the CPU at that path, its callees above it. <code>kpath flame TRACE</code> draws the same graph as an interactive SVG (search, zoom).</p>",
                escape(uri)
            );
        }
        None => o.push_str(
            "<p>Not drawn: the trace was not found beside the results (<code>kpath flame TRACE</code> draws it).</p>\n",
        ),
    }
    o.push_str("</section>\n");

    o.push_str("<section id=\"trees\">\n<h2>Call trees</h2>\n<pre>");
    o.push_str(&escape(&crate::report::tree::trees(r)));
    o.push_str("</pre>\n</section>\n");

    o.push_str("<section id=\"plots\">\n<h2>Plots</h2>\n");
    if p.figures.is_empty() {
        o.push_str("<p class=\"warn\">No plots: see the warning above.</p>\n");
    }
    o.push_str("<div class=\"plots\">\n");
    for f in p.figures {
        let _ = write!(
            o,
            "<figure id=\"fig-{}\"><img src=\"{}\" alt=\"{}\" width=\"900\" height=\"560\"><figcaption><a href=\"{}\">{}</a>",
            escape(&f.name),
            escape(f.inline.as_deref().unwrap_or(&f.src)),
            escape(&f.name),
            escape(&f.src),
            escape(&f.name)
        );
        if let Some(gp) = &f.script {
            let _ = write!(o, " · <a href=\"{}\">script</a>", escape(gp));
        }
        if let Some(dat) = &f.data {
            let _ = write!(o, " · <a href=\"{}\">data</a>", escape(dat));
        }
        o.push_str("</figcaption></figure>\n");
    }
    o.push_str("</div>\n</section>\n");

    o.push_str("<section id=\"validation\">\n<h2>Validation of the queueing projection</h2>\n");
    if r.validation.as_ref().is_some_and(|v| !v.choices.is_empty()) {
        o.push_str("<p>Open-loop Poisson load at λ = ρ/T for each service-time choice; sojourn = kernel receive to kernel transmit in the proxy host. The models are evaluated at the achieved load. Rows in red were not reached; the status says why. The W(ρ) and N(ρ) plots show the same points.</p>\n");
        render_table(&mut o, &tables::validation_choices(r, u));
        render_table(&mut o, &tables::verdicts(r));
        render_table(&mut o, &tables::validation(r, u));
    } else {
        o.push_str("<p>Not run: these results hold no measured validation points (<code>kpath analyze --validation points.json</code>).</p>\n");
    }
    o.push_str("</section>\n");

    // The run's metadata, raw notes included: folded, since the summary box says what matters.
    o.push_str("<details id=\"metadata\">\n<summary>Run details: host, kernel, mechanisms, counts, settings, calibration, recorder notes</summary>\n<dl class=\"meta\">\n");
    for m in tables::metadata(r, u) {
        let class = if m.alarm { " class=\"alarm\"" } else { "" };
        let _ = writeln!(
            o,
            "<dt>{}</dt><dd{class}>{}</dd>",
            escape(&m.key),
            escape(&m.value)
        );
    }
    o.push_str("</dl>\n</details>\n");

    o.push_str("<section id=\"glossary\">\n<h2>Glossary</h2>\n<dl class=\"glossary\">\n");
    for (term, definition) in glossary::TERMS {
        let _ = writeln!(
            o,
            "<dt>{}</dt><dd>{}</dd>",
            escape(term),
            escape(definition)
        );
    }
    o.push_str("</dl>\n</section>\n");

    o.push_str("<section id=\"links\">\n<h2>Files</h2>\n<ul>\n");
    for (label, href) in p.links {
        let _ = writeln!(
            o,
            "<li><a href=\"{}\">{}</a></li>",
            escape(href),
            escape(label)
        );
    }
    if !p.trace_note.is_empty() {
        let _ = writeln!(o, "<li>{}</li>", escape(p.trace_note));
    }
    o.push_str("</ul>\n</section>\n");
    let _ = writeln!(
        o,
        "<footer><p>Written by {} (<code>kpath html</code>).</p></footer>\n</body>\n</html>",
        escape(concat!("kpath-analysis ", env!("CARGO_PKG_VERSION")))
    );
    o
}
