//! Plots with gnuplot (`kpath plot`): for each figure a `.dat` file (whitespace-separated
//! columns, `#` header), a `.gp` script that reads it, and the image the script draws. The
//! image is produced by running gnuplot on that very script in the output directory, so a
//! user can restyle the `.gp` and rerun `gnuplot NAME.gp` there without re-recording.
//!
//! Figures: probability density per function (`density_<stage>_<function>`) and per stage
//! (`stage_<stage>`); nesting depth against call number for both stages (`depth`); sojourn
//! time W against ρ (`sojourn`) and number in system N against ρ (`in_system`), M/M/1 solid,
//! M/G/1 dashed. When the results hold a validation, these two show the curves of every
//! service-time choice in its own colour, with its measured points (filled markers, 95 % error
//! bars) at the achieved load. [`figure_names`] lists the figures without drawing them.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};
use crate::queueing::ModelOutput;
use crate::results::Results;
use crate::stage::Stage;
use crate::stats::Density;

/// Image format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ImageFormat {
    /// PNG via gnuplot's `pngcairo` terminal.
    #[default]
    Png,
    /// SVG via gnuplot's `svg` terminal.
    Svg,
}

impl ImageFormat {
    /// File extension.
    pub const fn ext(self) -> &'static str {
        match self {
            ImageFormat::Png => "png",
            ImageFormat::Svg => "svg",
        }
    }

    fn terminal(self) -> &'static str {
        match self {
            ImageFormat::Png => "pngcairo size 900,560 noenhanced font 'sans,10'",
            ImageFormat::Svg => "svg size 900,560 noenhanced font 'sans,10'",
        }
    }
}

/// One figure written by [`plot_results`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Figure {
    /// The image.
    pub image: PathBuf,
    /// Its gnuplot script.
    pub script: PathBuf,
    /// Its data.
    pub data: PathBuf,
}

/// The gnuplot executable: `$KPATH_GNUPLOT` or `gnuplot`.
pub fn gnuplot_program() -> String {
    std::env::var("KPATH_GNUPLOT").unwrap_or_else(|_| "gnuplot".into())
}

/// Whether gnuplot can be run.
pub fn gnuplot_available() -> bool {
    Command::new(gnuplot_program())
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs gnuplot on `script` with `dir` as working directory.
pub fn run_gnuplot(dir: &Path, script: &Path) -> Result<()> {
    let out = Command::new(gnuplot_program())
        .arg(script.file_name().unwrap_or(script.as_os_str()))
        .current_dir(dir)
        .output()
        .map_err(|source| Error::GnuplotSpawn {
            script: script.into(),
            source,
        })?;
    if !out.status.success() {
        return Err(Error::GnuplotFailed {
            script: script.into(),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

use crate::util::slug;

/// `s` with every control character (newline, carriage return, tab, escape, ...) replaced by
/// U+FFFD. Names and units come from traces and results files, which anyone can write: a
/// newline would end a `#` comment or a string in a `.gp` script and start a command of the
/// attacker's (`system '…'`), or start a line of its own in a `.dat` file.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}

/// `s` as a gnuplot single-quoted string literal. Inside single quotes gnuplot performs no
/// backslash escapes, no backquote command substitution and no `@` macro expansion; the only
/// special character is `'`, written `''`. Such a literal cannot span lines, so control
/// characters are replaced (see [`printable`]): nothing in `s` can leave the string.
fn quote(s: &str) -> String {
    format!("'{}'", printable(s).replace('\'', "''"))
}

struct Writer<'a> {
    dir: &'a Path,
    format: ImageFormat,
    out: &'a kpath_cli::Output,
    figures: Vec<Figure>,
}

impl Writer<'_> {
    fn write(&self, path: &Path, text: &str) -> Result<()> {
        Ok(self.out.write(path, text)?)
    }

    /// Writes `name.dat`, `name.gp` (`body` follows the common preamble) and runs it.
    fn figure(&mut self, name: &str, title: &str, data: &str, body: &str) -> Result<()> {
        let dat = self.dir.join(format!("{name}.dat"));
        let gp = self.dir.join(format!("{name}.gp"));
        let image = self.dir.join(format!("{name}.{}", self.format.ext()));
        self.write(&dat, data)?;
        let script = format!(
            "# kpath plot: {}\n# data: {name}.dat; rerun with `gnuplot {name}.gp` in this directory\n\
             set encoding utf8\nset terminal {}\nset output {}\nset title {}\nset grid\nset key top right\n{body}",
            printable(title),
            self.format.terminal(),
            quote(&format!("{name}.{}", self.format.ext())),
            quote(title),
        );
        self.write(&gp, &script)?;
        // gnuplot opens `set output` itself, following links: it gets a file of ours.
        self.out.reserve(&image)?;
        run_gnuplot(self.dir, &gp)?;
        self.figures.push(Figure {
            image,
            script: gp,
            data: dat,
        });
        Ok(())
    }

    fn density(&mut self, name: &str, title: &str, unit: &str, d: &Density) -> Result<()> {
        let unit_slug = slug(unit);
        let mut data =
            format!("# bin_start_{unit_slug} bin_center_{unit_slug} density_per_{unit_slug}\n");
        for (i, v) in d.density.iter().enumerate() {
            let start = d.start + i as f64 * d.width;
            let _ = writeln!(data, "{start} {} {v}", start + d.width / 2.0);
        }
        if d.density.is_empty() {
            let _ = writeln!(data, "0 0 0");
        }
        let body = format!(
            "set xlabel {}\nset ylabel 'probability density'\nset style fill solid 0.5 border\nset boxwidth {} absolute\n\
             plot '{name}.dat' using 2:3 with boxes title {}\n",
            quote(&format!("time ({unit})")),
            d.width.max(f64::MIN_POSITIVE),
            quote(&format!("clipped above p99.5: {:.2}%", 100.0 * d.clipped_fraction)),
        );
        self.figure(name, title, &data, &body)
    }
}

/// Draws every figure of `results` into `dir` (created if needed), files created as `out`
/// says (an existing figure is replaced only with `--force`).
pub fn plot_results(
    results: &Results,
    dir: &Path,
    format: ImageFormat,
    out: &kpath_cli::Output,
) -> Result<Vec<Figure>> {
    out.create_dir(dir)?;
    let mut w = Writer {
        dir,
        format,
        out,
        figures: Vec::new(),
    };
    let unit = results.unit.as_str();
    for f in results.functions.iter().filter(|f| f.stats.samples > 0) {
        let name = format!("density_{}_{}", f.stage, slug(&f.function));
        let title = format!(
            "{} ({}): density of the time per call, n = {}",
            f.function, f.stage, f.stats.samples
        );
        w.density(&name, &title, unit, &f.stats.density)?;
    }
    for s in results.stages.iter().filter(|s| s.stats.samples > 0) {
        let title = format!(
            "stage {}: density of the stage time, n = {}",
            s.stage, s.stats.samples
        );
        w.density(
            &format!("stage_{}", s.stage),
            &title,
            unit,
            &s.stats.density,
        )?;
    }

    // Depth against call number, both stages.
    let mut data =
        String::from("# call_number depth_rx depth_tx (blank = stage has fewer calls)\n");
    let rx = results
        .tree(Stage::Rx)
        .map(|t| t.depth_by_call.clone())
        .unwrap_or_default();
    let tx = results
        .tree(Stage::Tx)
        .map(|t| t.depth_by_call.clone())
        .unwrap_or_default();
    // No tree (a stats-mode trace, or no complete invocation): nothing to draw, and gnuplot
    // refuses a plot whose points are all undefined.
    if has_depth(results) {
        for i in 0..rx.len().max(tx.len()) {
            let cell = |v: &Vec<u16>| v.get(i).map_or("NaN".to_string(), |d| d.to_string());
            let _ = writeln!(data, "{} {} {}", i + 1, cell(&rx), cell(&tx));
        }
        w.figure(
            "depth",
            "nesting depth against call number (most frequent tree of each stage)",
            &data,
            "set xlabel 'call number'\nset ylabel 'depth from the root'\nset ytics 1\n\
             plot 'depth.dat' using 1:2 with linespoints title 'receive', '' using 1:3 with linespoints title 'send'\n",
        )?;
    }

    if results.model.is_some() || has_choices(results) {
        queue_figures(&mut w, results)?;
    }
    Ok(w.figures)
}

/// Whether either stage has a most frequent tree to draw the depth of.
fn has_depth(results: &Results) -> bool {
    [Stage::Rx, Stage::Tx]
        .iter()
        .any(|&s| results.tree(s).is_some_and(|t| !t.depth_by_call.is_empty()))
}

fn has_choices(results: &Results) -> bool {
    results
        .validation
        .as_ref()
        .is_some_and(|v| !v.choices.is_empty())
}

/// The names (without extension) of every figure [`plot_results`] draws for `results`, in
/// drawing order.
pub fn figure_names(results: &Results) -> Vec<String> {
    let mut v: Vec<String> = results
        .functions
        .iter()
        .filter(|f| f.stats.samples > 0)
        .map(|f| format!("density_{}_{}", f.stage, slug(&f.function)))
        .collect();
    v.extend(
        results
            .stages
            .iter()
            .filter(|s| s.stats.samples > 0)
            .map(|s| format!("stage_{}", s.stage)),
    );
    if has_depth(results) {
        v.push("depth".into());
    }
    if results.model.is_some() || has_choices(results) {
        v.push("sojourn".into());
        v.push("in_system".into());
    }
    v
}

const COLOURS: [&str; 4] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];
const POINTS: [u8; 4] = [7, 5, 9, 11];

fn model_block(data: &mut String, m: &ModelOutput, unit: &str, label: &str) {
    let (label, unit) = (printable(label), slug(unit));
    let setup = m.points.iter().all(|p| p.mg1_setup.is_some()) && !m.points.is_empty();
    let _ = writeln!(
        data,
        "# model, {label}: rho lambda_per_s W_mg1_{unit} N_mg1 W_mm1_{unit} N_mm1{}",
        if setup {
            format!(" W_mg1_setup_{unit} N_mg1_setup")
        } else {
            String::new()
        }
    );
    for p in &m.points {
        let _ = write!(
            data,
            "{} {} {} {} {} {}",
            p.rho, p.lambda_per_s, p.mg1.sojourn, p.mg1.in_system, p.mm1.sojourn, p.mm1.in_system
        );
        if let (true, Some(s)) = (setup, p.mg1_setup) {
            let _ = write!(data, " {} {}", s.sojourn, s.in_system);
        }
        data.push('\n');
    }
    data.push_str("\n\n");
}

/// W(ρ) and N(ρ): the projection of the results' service time, or, when the results hold a
/// validation, the projection of every service-time choice with its measured points (at the
/// achieved load, with 95 % error bars). M/M/1 solid, M/G/1 dashed; one colour per choice.
fn queue_figures(w: &mut Writer<'_>, results: &Results) -> Result<()> {
    let unit = results.unit.as_str();
    let mut data = String::new();
    let mut index = 0usize;
    let mut w_plots: Vec<String> = Vec::new();
    let mut n_plots: Vec<String> = Vec::new();
    let mut title_w = String::from("sojourn time against load");
    let mut title_n = String::from("number in system against load");
    let choices = results
        .validation
        .as_ref()
        .map(|v| v.choices.as_slice())
        .unwrap_or_default();
    if choices.is_empty() {
        if let Some(m) = &results.model {
            model_block(&mut data, m, unit, "service time from the probes");
            w_plots.push(format!(
                "'sojourn.dat' index 0 using 1:5 with lines lw 2 dt 1 lc rgb '{c}' title 'M/M/1', '' index 0 using 1:3 with lines lw 2 dt 2 lc rgb '{c}' title 'M/G/1'",
                c = COLOURS[0]
            ));
            n_plots.push(format!(
                "'in_system.dat' index 0 using 1:6 with lines lw 2 dt 1 lc rgb '{c}' title 'M/M/1', '' index 0 using 1:4 with lines lw 2 dt 2 lc rgb '{c}' title 'M/G/1'",
                c = COLOURS[0]
            ));
            let _ = write!(title_w, " (T = {:.1} {unit}, C² = {:.3})", m.mean, m.cv2);
            let _ = write!(title_n, " (C² = {:.3})", m.cv2);
        }
    } else {
        title_w.push_str(": models and measurement per service-time choice");
        title_n.push_str(": models and measurement per service-time choice");
        let fine_rhos: Vec<f64> = (1..=98).map(|i| f64::from(i) / 100.0).collect();
        for (i, c) in choices.iter().enumerate() {
            let setup = c.setup.as_ref().map(|s| crate::queueing::Setup {
                mean: s.mean,
                variance: s.variance,
            });
            let Ok(m) = crate::queueing::project_with_setup(
                c.service.mean,
                c.service.variance,
                results.unit_ns,
                &fine_rhos,
                setup,
            ) else {
                continue;
            };
            let colour = COLOURS[i % COLOURS.len()];
            let pt = POINTS[i % POINTS.len()];
            let label = format!(
                "{}, T = {:.1} {unit}, C² = {:.3}",
                c.name, c.service.mean, c.service.cv2
            );
            model_block(&mut data, &m, unit, &label);
            let mg1_title = quote(&format!("M/G/1 ({}, C² = {:.3})", c.name, c.service.cv2));
            w_plots.push(format!(
                "'sojourn.dat' index {index} using 1:5 with lines lw 2 dt 1 lc rgb '{colour}' title {}, '' index {index} using 1:3 with lines lw 2 dt 2 lc rgb '{colour}' title {mg1_title}",
                quote(&format!("M/M/1 ({})", c.name))
            ));
            if setup.is_some() {
                w_plots.push(format!(
                    "'sojourn.dat' index {index} using 1:7 with lines lw 2 dt 3 lc rgb '{colour}' title {}",
                    quote(&format!("M/G/1 with setup ({})", c.name))
                ));
            }
            if n_plots.is_empty() {
                n_plots.push(format!(
                    "'in_system.dat' index {index} using 1:6 with lines lw 2 dt 1 lc rgb 'black' title 'M/M/1 (any T)'"
                ));
            }
            n_plots.push(format!(
                "'in_system.dat' index {index} using 1:4 with lines lw 2 dt 2 lc rgb '{colour}' title {mg1_title}"
            ));
            index += 1;
            let _ = writeln!(
                data,
                "# measured, {} (reached points, at the achieved load): rho_achieved W_{} W_ci95 N N_ci95 rho_target",
                printable(&label),
                slug(unit)
            );
            let mut any = false;
            for r in c.points.iter().filter(|r| r.reached) {
                let (Some(rho), Some(m)) = (r.rho_achieved, &r.measured) else {
                    continue;
                };
                let _ = writeln!(
                    data,
                    "{rho} {} {} {} {} {}",
                    m.sojourn.mean,
                    m.sojourn.ci95.unwrap_or(0.0),
                    m.in_system.unwrap_or(f64::NAN),
                    m.in_system_ci95.unwrap_or(0.0),
                    r.rho
                );
                any = true;
            }
            if !any {
                let _ = writeln!(data, "NaN NaN NaN NaN NaN NaN");
            }
            data.push_str("\n\n");
            if any {
                let t = quote(&format!("measured ({})", c.name));
                w_plots.push(format!(
                    "'sojourn.dat' index {index} using 1:2:3 with yerrorbars pt {pt} ps 1.3 lc rgb '{colour}' title {t}"
                ));
                n_plots.push(format!(
                    "'in_system.dat' index {index} using 1:4:5 with yerrorbars pt {pt} ps 1.3 lc rgb '{colour}' title {t}"
                ));
            }
            index += 1;
        }
    }
    if w_plots.is_empty() {
        return Ok(());
    }
    let wlabel = quote(&format!("sojourn time W ({unit})"));
    let w_cmd = w_plots.join(", ");
    w.figure(
        "sojourn",
        &title_w,
        &data,
        &format!(
            "set key top left\nset xlabel 'load ρ'\nset ylabel {wlabel}\nset logscale y\nset xrange [0:1]\nplot {w_cmd}\n"
        ),
    )?;
    let n_cmd = n_plots.join(", ");
    w.figure(
        "in_system",
        &title_n,
        &data,
        &format!(
            "set key top left\nset xlabel 'load ρ'\nset ylabel 'number in system N'\nset logscale y\nset xrange [0:1]\nplot {n_cmd}\n"
        ),
    )
}
