//! The static report (`kpath html`, issue 6): `DIR/index.html`, one page readable offline
//! and by itself (inline CSS, images embedded, no script, no network), and `DIR/summary.md`
//! with the key tables. This module finds and draws what the page shows (plots, the flame
//! graph, the trace's link); `page.rs` lays it out: the summary box first
//! (`report::first_screen`), then `stages`, `chains`, `top-functions`, `flame`, `trees`,
//! `plots` (a grid), `validation`, the folded run details (`metadata`), `glossary.rs`'s
//! terms and `links`. All text is HTML-escaped and every link target percent-encoded; links
//! are relative, so the directory can be moved or archived as a whole.

use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};
use crate::plot::{self, ImageFormat};
use crate::report::markdown;
use crate::results::Results;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

mod glossary;
mod page;

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
                // Embedded, so that index.html alone can be mailed; the files stay linked.
                let inline = std::fs::read(&img)
                    .ok()
                    .map(|png| format!("data:image/png;base64,{}", BASE64.encode(png)));
                figures.push(page::Shown {
                    name: n.clone(),
                    src,
                    inline,
                    script: rel(&gp),
                    data: rel(&dat),
                });
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

    let flame = files
        .trace
        .clone()
        .and_then(|t| match flame_uri(results, &t) {
            Ok(uri) => uri,
            Err(e) => {
                files
                    .warnings
                    .push(format!("flame graph not drawn from {}: {e}", t.display()));
                None
            }
        });
    let html = page::render(&page::Page {
        results,
        top,
        figures: &figures,
        flame: flame.as_deref(),
        links: &links,
        trace_note: &trace_note,
        warnings: &files.warnings,
    });
    out.write(&files.index, html)?;
    let md = markdown::summary(results, top.min(15), &links);
    out.write(&files.summary, md)?;
    Ok(files)
}

/// The on-CPU flame graph of `trace` (every stage, no filter, the results' stage roots and
/// selection) as a
/// `data:` URI of its SVG; `None` when the trace has no completed call.
fn flame_uri(results: &Results, trace: &Path) -> Result<Option<String>> {
    // The report's own selection, so that the graph shows what the tables show.
    let selection = results
        .settings
        .selection
        .as_ref()
        .map(|s| s.selection.clone())
        .unwrap_or_default();
    let (lines, _) = crate::fold::fold_file(
        trace,
        &results.settings.classifier,
        crate::results::Clock::OnCpu,
        false,
        &selection,
    )?;
    if lines.is_empty() {
        return Ok(None);
    }
    let svg = crate::fold::flame_svg(&lines, "kpath: self time on the CPU (ns)")?;
    Ok(Some(format!(
        "data:image/svg+xml;base64,{}",
        BASE64.encode(svg)
    )))
}

/// The media type and bytes of a `data:TYPE;base64,…` URI the page embeds (images), for
/// checks that read the page back; `None` for anything else.
pub fn decode_data_uri(uri: &str) -> Option<(&str, Vec<u8>)> {
    let rest = uri.strip_prefix("data:")?;
    let (media, payload) = rest.split_once(";base64,")?;
    Some((media, BASE64.decode(payload).ok()?))
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
