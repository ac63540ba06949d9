//! The static report (`kpath html`, issue 6): `DIR/index.html`, one page readable offline
//! (inline CSS, no script, no network), and `DIR/summary.md` with the key tables.
//!
//! Sections, each with a stable id: `metadata` (kernel, mechanisms, counts, lost events,
//! tools, times), `stages`, `chains`, `top-functions`, `trees` (text form, as `kpath tree`),
//! `plots` (every PNG, with its `.gp` script and `.dat` data), `validation` (both
//! service-time choices) and `links` (`results.json`, the trace, `summary.md`, every `.gp`).
//! All text is HTML-escaped and every link target percent-encoded; links are relative, so the
//! directory can be moved or archived as a whole.

use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};
use crate::plot::{self, ImageFormat};
use crate::report::tables::{self, Table};
use crate::report::{markdown, text};
use crate::results::Results;

/// Options of [`write_report`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HtmlOptions {
    /// Directory with already drawn plots (`kpath plot`); default: the report directory.
    /// When a promised PNG is missing there, every plot is drawn into the report directory.
    pub plots: Option<PathBuf>,
    /// Draw the plots into the report directory even if they exist.
    pub replot: bool,
    /// The results file the report is made from. Unless it is `DIR/results.json` itself, the
    /// results are written there, so the report links a copy it owns.
    pub results_file: Option<PathBuf>,
    /// Rows of the top-functions table (default 20 when 0).
    pub top: usize,
}

/// What [`write_report`] wrote or linked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReportFiles {
    /// `DIR/index.html`.
    pub index: PathBuf,
    /// `DIR/summary.md`.
    pub summary: PathBuf,
    /// `DIR/results.json`.
    pub results: PathBuf,
    /// The images shown.
    pub images: Vec<PathBuf>,
    /// The gnuplot scripts linked.
    pub scripts: Vec<PathBuf>,
    /// The trace, when it was found in or next to the report directory and linked.
    pub trace: Option<PathBuf>,
    /// What could not be done (no gnuplot, trace not found, ...), also shown in the page.
    pub warnings: Vec<String>,
}

/// Escapes `&`, `<`, `>`, `"` and `'`.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(c),
        }
    }
    o
}

/// Percent-encodes a relative path for a URL (keeps `/` and unreserved characters).
pub fn url_path(rel: &str) -> String {
    let mut o = String::new();
    for b in rel.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            o.push(char::from(b));
        } else {
            let _ = write!(o, "%{b:02X}");
        }
    }
    o
}

/// The path of `target` relative to the directory `base`, with `/` separators; both must
/// exist. `None` when they share no root.
pub fn relative_path(base: &Path, target: &Path) -> Option<String> {
    let base = base.canonicalize().ok()?;
    let target = target.canonicalize().ok()?;
    let b: Vec<Component> = base.components().collect();
    let t: Vec<Component> = target.components().collect();
    let common = b.iter().zip(&t).take_while(|(x, y)| x == y).count();
    if common == 0 {
        return None;
    }
    let mut parts: Vec<String> = vec!["..".into(); b.len() - common];
    parts.extend(
        t[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    Some(if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    })
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Io {
        what,
        path: path.into(),
        source,
    }
}

fn render_table(o: &mut String, t: &Table) {
    let _ = writeln!(
        o,
        "<table id=\"{}\"><caption>{}</caption>\n<thead><tr>{}</tr></thead>\n<tbody>",
        escape(&t.id),
        escape(&t.caption),
        t.head
            .iter()
            .map(|h| format!("<th>{}</th>", escape(h)))
            .collect::<String>()
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

const CSS: &str = "body{font-family:sans-serif;margin:1.5em auto;max-width:1400px;padding:0 1em;color:#222}\
h1{margin-bottom:.2em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}\
nav a{margin-right:1em}table{border-collapse:collapse;margin:.8em 0;font-size:.88em}\
caption{text-align:left;font-weight:bold;padding:.3em 0}\
th,td{border:1px solid #ccc;padding:.2em .5em;text-align:right;vertical-align:top}\
th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}\
tr.alarm td{background:#fde2e2}dl.meta{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}\
dl.meta dt{font-weight:bold}dl.meta dd{margin:0;word-break:break-word}\
.alarm-box{background:#c62828;color:#fff;font-weight:bold;padding:.6em 1em;margin:.6em 0}\
.warn{background:#fff3cd;padding:.4em .8em}dd.alarm{color:#c62828;font-weight:bold}\
pre{background:#f6f6f6;padding:.8em;overflow-x:auto;font-size:.85em}\
figure{display:inline-block;margin:.5em;vertical-align:top;max-width:920px}\
figure img{max-width:100%;border:1px solid #ddd}figcaption{font-size:.85em}\
code{font-size:.95em}";

/// Writes `dir/index.html` and `dir/summary.md` for `results` (and `dir/results.json`, and the
/// plots when they are missing; see [`HtmlOptions`]). Creates `dir` if needed.
/// Files are created as `out` says: a report already in `dir` is replaced only with `--force`.
pub fn write_report(
    results: &Results,
    dir: &Path,
    opts: &HtmlOptions,
    out: &kpath_cli::Output,
) -> Result<ReportFiles> {
    out.create_dir(dir)?;
    let mut files = ReportFiles {
        index: dir.join("index.html"),
        summary: dir.join("summary.md"),
        results: dir.join("results.json"),
        ..ReportFiles::default()
    };
    let top = if opts.top == 0 { 20 } else { opts.top };

    // results.json: link the given file if it is DIR/results.json, else write a copy there.
    let same = opts.results_file.as_ref().is_some_and(|f| {
        f.canonicalize().ok() == files.results.canonicalize().ok() && files.results.is_file()
    });
    if !same {
        let json = serde_json::to_vec_pretty(results).map_err(|source| Error::Serialise {
            what: "results",
            source,
        })?;
        out.write(&files.results, json)?;
    }

    // Plots.
    let names = plot::figure_names(results);
    let mut plot_dir = opts.plots.clone().unwrap_or_else(|| dir.to_path_buf());
    let complete = |d: &Path| names.iter().all(|n| d.join(format!("{n}.png")).is_file());
    let mut drawn = !opts.replot && complete(&plot_dir);
    if !drawn {
        plot_dir = dir.to_path_buf();
        if plot::gnuplot_available() {
            plot::plot_results(results, dir, ImageFormat::Png, out)?;
            drawn = true;
        } else {
            files.warnings.push(
                "plots not drawn: gnuplot is not installed (`cargo xtask setup` installs it)"
                    .into(),
            );
        }
    }
    let rel = |p: &Path| relative_path(dir, p).map(|r| url_path(&r));
    let mut figures = Vec::new();
    if drawn {
        for n in &names {
            let img = plot_dir.join(format!("{n}.png"));
            let gp = plot_dir.join(format!("{n}.gp"));
            let dat = plot_dir.join(format!("{n}.dat"));
            if let Some(src) = rel(&img) {
                figures.push((n.clone(), src, rel(&gp), rel(&dat)));
                files.images.push(img);
            }
        }
    }
    let mut scripts: Vec<PathBuf> = std::fs::read_dir(&plot_dir)
        .map_err(io_err("list", &plot_dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "gp") && p.is_file())
        .collect();
    scripts.sort();
    files.scripts = scripts;

    // The trace: linked when it is in or next to the report directory.
    let trace_note = locate_trace(results, dir, opts, &mut files);

    // Links shared by the page and the summary.
    let mut links: Vec<(String, String)> = vec![
        ("results.json".into(), "results.json".into()),
        ("summary.md".into(), "summary.md".into()),
    ];
    if let Some(t) = files.trace.as_deref().and_then(&rel) {
        links.push((format!("trace: {}", results.trace.path), t));
    }
    for s in &files.scripts {
        if let Some(r) = rel(s) {
            let name = s
                .file_name()
                .map_or(r.clone(), |f| f.to_string_lossy().into_owned());
            links.push((format!("gnuplot script {name}"), r));
        }
    }

    let html = page(results, top, &figures, &links, &trace_note, &files.warnings);
    out.write(&files.index, html)?;
    let md = markdown::summary(results, top.min(15), &links);
    out.write(&files.summary, md)?;
    Ok(files)
}

/// Finds the trace; sets `files.trace` when it can be linked; returns a note for the page.
fn locate_trace(
    results: &Results,
    dir: &Path,
    opts: &HtmlOptions,
    files: &mut ReportFiles,
) -> String {
    let given = Path::new(&results.trace.path);
    if results.trace.path.is_empty() {
        return "the results name no trace".into();
    }
    let mut candidates = vec![given.to_path_buf()];
    if given.is_relative() {
        if let Some(d) = opts.results_file.as_deref().and_then(Path::parent) {
            candidates.push(d.join(given));
        }
        candidates.push(dir.join(given));
        if let Some(name) = given.file_name() {
            candidates.push(dir.join(name));
            if let Some(p) = dir.parent() {
                candidates.push(p.join(name));
            }
        }
    }
    let Some(found) = candidates.into_iter().find(|c| c.is_file()) else {
        let w = format!("trace {} not found; not linked", results.trace.path);
        files.warnings.push(w.clone());
        return w;
    };
    let (Ok(t), Ok(d)) = (found.canonicalize(), dir.canonicalize()) else {
        return format!(
            "trace {} could not be resolved; not linked",
            found.display()
        );
    };
    let next_to = d.parent().is_some_and(|p| t.parent() == Some(p));
    if t.starts_with(&d) || next_to {
        files.trace = Some(found);
        String::new()
    } else {
        format!(
            "trace {} is neither in nor next to the report directory; not linked",
            t.display()
        )
    }
}

fn page(
    r: &Results,
    top: usize,
    figures: &[(String, String, Option<String>, Option<String>)],
    links: &[(String, String)],
    trace_note: &str,
    warnings: &[String],
) -> String {
    // Times in ns, the unit of the plots beside the page.
    let u = crate::report::unit::TimeUnit::Ns;
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
    o.push_str("<nav><a href=\"#metadata\">run</a><a href=\"#stages\">stages</a><a href=\"#chains\">chains</a><a href=\"#top-functions\">top functions</a><a href=\"#trees\">call trees</a><a href=\"#plots\">plots</a><a href=\"#validation\">validation</a><a href=\"#links\">files</a></nav>\n");
    for w in warnings {
        let _ = writeln!(o, "<p class=\"warn\">{}</p>", escape(w));
    }
    if let Some(rec) = crate::report::recommendation_text(r) {
        let _ = writeln!(
            o,
            "<p id=\"recommendation\"><strong>{}</strong></p>",
            escape(&rec)
        );
    }

    // Metadata.
    o.push_str("<section id=\"metadata\">\n<h2>Run</h2>\n");
    if r.trace.lost_events > 0 {
        let _ = writeln!(
            o,
            "<div class=\"alarm-box\" id=\"lost-events\">{} EVENTS WERE LOST while recording: call trees and counts have gaps.</div>",
            r.trace.lost_events
        );
    }
    o.push_str("<dl class=\"meta\">\n");
    for m in tables::metadata(r, u) {
        let class = if m.alarm { " class=\"alarm\"" } else { "" };
        let _ = writeln!(
            o,
            "<dt>{}</dt><dd{class}>{}</dd>",
            escape(&m.key),
            escape(&m.value)
        );
    }
    o.push_str("</dl>\n</section>\n");

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
    render_table(&mut o, &tables::top_functions(r, top, u));
    o.push_str("</section>\n");
    let waiting = tables::waiting(r, u);
    if !waiting.rows.is_empty() {
        o.push_str("<section id=\"waiting\">\n<h2>Waiting off the CPU</h2>\n");
        render_table(&mut o, &waiting);
        o.push_str("</section>\n");
    }

    o.push_str("<section id=\"trees\">\n<h2>Call trees</h2>\n<pre>");
    o.push_str(&escape(&text::trees(r)));
    o.push_str("</pre>\n</section>\n");

    o.push_str("<section id=\"plots\">\n<h2>Plots</h2>\n");
    if figures.is_empty() {
        o.push_str("<p class=\"warn\">No plots: see the warning above.</p>\n");
    }
    for (name, src, gp, dat) in figures {
        let _ = write!(
            o,
            "<figure id=\"fig-{}\"><img src=\"{}\" alt=\"{}\" width=\"900\" height=\"560\"><figcaption>{}",
            escape(name),
            escape(src),
            escape(name),
            escape(name)
        );
        if let Some(gp) = gp {
            let _ = write!(o, " · <a href=\"{}\">script</a>", escape(gp));
        }
        if let Some(dat) = dat {
            let _ = write!(o, " · <a href=\"{}\">data</a>", escape(dat));
        }
        o.push_str("</figcaption></figure>\n");
    }
    o.push_str("</section>\n");

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

    o.push_str("<section id=\"links\">\n<h2>Files</h2>\n<ul>\n");
    for (label, href) in links {
        let _ = writeln!(
            o,
            "<li><a href=\"{}\">{}</a></li>",
            escape(href),
            escape(label)
        );
    }
    if !trace_note.is_empty() {
        let _ = writeln!(o, "<li>{}</li>", escape(trace_note));
    }
    o.push_str("</ul>\n</section>\n");
    let _ = writeln!(
        o,
        "<footer><p>Written by {} (<code>kpath html</code>).</p></footer>\n</body>\n</html>",
        escape(concat!("kpath-analysis ", env!("CARGO_PKG_VERSION")))
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_text_and_urls() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(url_path("../a b/c#d.trace"), "../a%20b/c%23d.trace");
    }

    #[test]
    fn relative_paths() {
        let d = tempfile::tempdir().expect("tempdir");
        let report = d.path().join("report");
        let plots = report.join("plots");
        std::fs::create_dir_all(&plots).expect("mkdir");
        std::fs::write(d.path().join("t.trace"), b"x").expect("write");
        assert_eq!(
            relative_path(&report, &d.path().join("t.trace")).as_deref(),
            Some("../t.trace")
        );
        assert_eq!(relative_path(&report, &plots).as_deref(), Some("plots"));
        assert_eq!(relative_path(&report, &report).as_deref(), Some("."));
    }
}
