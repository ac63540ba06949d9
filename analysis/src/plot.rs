//! Plots (`kpath plot`): the figures of a [`Results`], built with the gnuplot crate and
//! written by [`kpath_plot::FigureFile`]. For each figure `NAME`:
//!
//! - `NAME.gp`, the gnuplot script, which reads
//! - `NAME.data/`, the figure's data (the crate's binary files, paths relative), and draws
//! - `NAME.png` (or `NAME.svg`), by running `gnuplot NAME.gp` in the output directory;
//! - `NAME.dat`, the same numbers as whitespace-separated text columns with a `#` header, for
//!   people and other tools (the HTML report links it); the script does not read it.
//!
//! A user can restyle the `.gp` and rerun `gnuplot NAME.gp` there, or in a copy of the
//! directory, without re-recording.
//!
//! Figures: the time per call by percentile, log-log, one line per function and one for the
//! stage (`percentiles_<stage>`, as HdrHistogram plots latency); probability density per
//! function (`density_<stage>_<function>`) and per stage (`stage_<stage>`), the method's
//! histograms, only for those with [`MIN_PLOT_SAMPLES`] kept samples or more; nesting depth against call number for both stages (`depth`); sojourn
//! time W against ρ (`sojourn`) and number in system N against ρ (`in_system`), M/M/1 solid,
//! M/G/1 dashed, M/G/1 with setup dotted. When the results hold a validation, these two show
//! the curves of every service-time choice in its own colour, with its measured points
//! (filled markers, 95 % error bars) at the achieved load. [`figure_names`] lists the figures
//! without drawing them.
//!
//! Names, units and labels come from traces and results files, which anyone can write: every
//! one goes through [`kpath_plot::text`] before the crate sees it, and into the `.dat` files
//! with its control characters replaced the same way.
//!
//! The file is over 500 lines because it is the one place that defines every figure of a
//! results document (the distributions, the depth, and W(ρ), N(ρ) with every service-time
//! choice's curves and measured points); the drawing itself is `kpath-plot`'s.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use kpath_plot::gnuplot::{
    AlignLeft, AlignTop, AutoOption, Axes2D, AxesCommon, Black, Caption, Color, Coordinate::Graph,
    DashType, FillAlpha, LegendOption, LineStyle, LineWidth, MajorScale, MinorScale, PlotOption,
    PointSize, PointSymbol, RGBString, Tick, TickOption,
};
use kpath_plot::{text, FigureFile};

use crate::error::Result;
use crate::queueing::ModelOutput;
use crate::report::unit::{human, TimeUnit};
use crate::results::Results;
use crate::stage::Stage;
use crate::stats::{Density, PERCENTILE_LADDER};
use crate::util::slug;

pub use kpath_plot::{gnuplot_available, gnuplot_program, run_gnuplot, ImageFormat};

/// One figure written by [`plot_results`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Figure {
    /// The image.
    pub image: PathBuf,
    /// Its gnuplot script.
    pub script: PathBuf,
    /// Its data as text (`NAME.dat`, `#` header), for people.
    pub data: PathBuf,
    /// The data the script reads (`NAME.data/`).
    pub data_dir: PathBuf,
}

/// Image size, pixels.
const WIDTH: u32 = 900;
const HEIGHT: u32 = 560;

struct Writer<'a> {
    dir: &'a Path,
    format: ImageFormat,
    out: &'a kpath_cli::Output,
    figures: Vec<Figure>,
}

impl Writer<'_> {
    fn figure(&self, name: &str) -> Result<FigureFile> {
        Ok(FigureFile::new(name, self.format, WIDTH, HEIGHT)?)
    }

    /// Writes `f` with `data` as its `.dat` and draws it.
    fn finish(&mut self, mut f: FigureFile, data: String) -> Result<()> {
        let dat = self.dir.join(format!("{}.dat", f.name()));
        f.set_text_data(data);
        let drawn = f.write(self.dir, self.out)?;
        self.figures.push(Figure {
            data: drawn.text_data.unwrap_or(dat),
            image: drawn.image,
            script: drawn.script,
            data_dir: drawn.data_dir,
        });
        Ok(())
    }

    /// A density plot of times whose median is `median_ns`: the axis is in the unit that
    /// suits the median (ns, µs or ms), and the density is per that unit.
    fn density(&mut self, name: &str, title: &str, median_ns: f64, d: &Density) -> Result<()> {
        let suiting = TimeUnit::suiting(median_ns);
        let (unit, per) = (suiting.name(), suiting.ns_per_unit());
        let unit_slug = slug(suiting.ascii_name());
        let mut data =
            format!("# bin_start_{unit_slug} bin_center_{unit_slug} density_per_{unit_slug}\n");
        let (first, width) = (d.start / per, d.width / per);
        let mut centres = Vec::with_capacity(d.density.len());
        let mut values = Vec::with_capacity(d.density.len());
        for (i, v) in d.density.iter().enumerate() {
            let start = first + i as f64 * width;
            let v = v * per;
            let _ = writeln!(data, "{start} {} {v}", start + width / 2.0);
            centres.push(start + width / 2.0);
            values.push(v);
        }
        if d.density.is_empty() {
            let _ = writeln!(data, "0 0 0");
            centres.push(0.0);
            values.push(0.0);
        }
        let mut f = self.figure(name)?;
        axes(&mut f, title)
            .set_x_label(&text(&format!("time ({unit})")), &[])
            .set_y_label("probability density", &[])
            .set_box_width(width.max(f64::MIN_POSITIVE), false)
            .boxes(
                centres,
                values,
                &[
                    Caption(&text(&format!(
                        "clipped above p99.5: {:.2}%",
                        100.0 * d.clipped_fraction
                    ))),
                    FillAlpha(0.5),
                ],
            );
        self.finish(f, data)
    }
}

/// Fewest kept samples for which a function or stage gets a distribution plot: below it a
/// density of 40 bins holds fewer than 2.5 samples per bin, and the tail percentiles are a
/// handful of calls (documented in docs/model.md, "Outputs").
pub const MIN_PLOT_SAMPLES: u64 = 100;

/// Most functions drawn in one percentile plot (those with the most time per invocation):
/// more lines cannot be told apart.
const MAX_PERCENTILE_LINES: usize = 8;

/// One line of a percentile plot: a caption and the values at [`PERCENTILE_LADDER`].
struct LadderLine {
    caption: String,
    values: Vec<f64>,
}

/// The lines of `stage`'s percentile plot: the stage's time per invocation, then its
/// functions with at least [`MIN_PLOT_SAMPLES`] kept samples and a ladder, most time per
/// invocation first; `None` when the stage itself has too few.
fn percentile_lines(results: &Results, stage: Stage) -> Option<Vec<LadderLine>> {
    let s = results.stage(stage)?;
    if s.stats.samples < MIN_PLOT_SAMPLES || s.stats.ladder.len() != PERCENTILE_LADDER.len() {
        return None;
    }
    let mut lines = vec![LadderLine {
        caption: format!("stage {stage} (per invocation)"),
        values: s.stats.ladder.clone(),
    }];
    let mut fs: Vec<_> = results
        .functions
        .iter()
        .filter(|f| {
            f.stage == stage
                && f.stats.samples >= MIN_PLOT_SAMPLES
                && f.stats.ladder.len() == PERCENTILE_LADDER.len()
        })
        .collect();
    fs.sort_by(|a, b| (b.k * b.stats.mean).total_cmp(&(a.k * a.stats.mean)));
    lines.extend(
        fs.into_iter()
            .take(MAX_PERCENTILE_LINES)
            .map(|f| LadderLine {
                caption: f.function.clone(),
                values: f.stats.ladder.clone(),
            }),
    );
    Some(lines)
}

/// The x of quantile `q` on a percentile plot: `1/(1 − q)`, drawn on a log scale, so that
/// 90 %, 99 %, 99.9 % are evenly spaced (HdrHistogram's plots).
fn ladder_x(q: f64) -> f64 {
    1.0 / (1.0 - q)
}

impl Writer<'_> {
    /// `percentiles_<stage>`: time against percentile, log-log, one line per function.
    fn percentiles(&mut self, stage: Stage, lines: &[LadderLine]) -> Result<()> {
        let median = lines[0].values.get(2).copied().unwrap_or(1.0);
        let suiting = TimeUnit::suiting(median);
        let (unit, per) = (suiting.name(), suiting.ns_per_unit());
        let mut data = String::from("# quantile x=1/(1-q)");
        for l in lines {
            let _ = write!(data, " {}_{}", slug(&l.caption), slug(unit));
        }
        data.push('\n');
        for (i, &q) in PERCENTILE_LADDER.iter().enumerate() {
            let _ = write!(data, "{q} {}", ladder_x(q));
            for l in lines {
                let _ = write!(data, " {}", l.values[i] / per);
            }
            data.push('\n');
        }
        // gnuplot reads a custom tick label as a format (`%` starts a conversion): `%%` is a
        // percent sign. The labels are constants, never text from a file.
        let ticks: Vec<Tick<f64, String>> = [
            (0.0, "0%%"),
            (0.5, "50%%"),
            (0.9, "90%%"),
            (0.99, "99%%"),
            (0.999, "99.9%%"),
            (0.9999, "99.99%%"),
            (0.99999, "99.999%%"),
        ]
        .into_iter()
        .map(|(q, label)| Tick::Major(ladder_x(q), AutoOption::Fix(label.to_string())))
        .collect();
        let mut f = self.figure(&format!("percentiles_{stage}"))?;
        let ax = axes(
            &mut f,
            &format!("stage {stage}: time per call by percentile (kept samples)"),
        )
        .set_x_label("percentile", &[])
        .set_y_label(&text(&format!("time per call ({unit})")), &[])
        .set_x_log(Some(10.0))
        .set_y_log(Some(10.0))
        .set_x_ticks_custom(ticks, &[], &[])
        .set_legend(
            Graph(0.02),
            Graph(0.98),
            &[LegendOption::Placement(AlignLeft, AlignTop)],
            &[],
        );
        for (i, l) in lines.iter().enumerate() {
            // Log axes: a zero (a minimum of 0 ns) has no place; it is left out.
            let (xs, ys): (Vec<f64>, Vec<f64>) = PERCENTILE_LADDER
                .iter()
                .zip(&l.values)
                .filter(|(_, &v)| v > 0.0)
                .map(|(&q, &v)| (ladder_x(q), v / per))
                .unzip();
            let caption = text(&l.caption);
            let width = if i == 0 { 3.0 } else { 1.5 };
            ax.lines_points(
                xs,
                ys,
                &[
                    Caption(&caption),
                    LineWidth(width),
                    PointSymbol('O'),
                    PointSize(0.6),
                ],
            );
        }
        self.finish(f, data)
    }
}

/// The figure's one set of axes, titled, with a grid and gnuplot's usual tick sizes.
fn axes<'f>(f: &'f mut FigureFile, title: &str) -> &'f mut Axes2D {
    style(f.axes2d()).set_title(&text(title), &[])
}

/// A grid, and gnuplot's default tick sizes (major 1, minor 0.5; the crate's are 0.5, 0.5).
fn style(ax: &mut Axes2D) -> &mut Axes2D {
    ax.set_x_grid(true)
        .set_y_grid(true)
        .set_x_ticks(Some((AutoOption::Auto, 0)), TICKS, &[])
        .set_y_ticks(Some((AutoOption::Auto, 0)), TICKS, &[])
}

const TICKS: &[TickOption<&str>] = &[MajorScale(1.0), MinorScale(0.5)];

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
    for stage in [Stage::Rx, Stage::Tx] {
        if let Some(lines) = percentile_lines(results, stage) {
            w.percentiles(stage, &lines)?;
        }
    }
    for f in results
        .functions
        .iter()
        .filter(|f| f.stats.samples >= MIN_PLOT_SAMPLES)
    {
        let name = format!("density_{}_{}", f.stage, slug(&f.function));
        let title = format!(
            "{} ({}): density of the time per call, n = {}",
            f.function, f.stage, f.stats.samples
        );
        w.density(&name, &title, f.stats.p50, &f.stats.density)?;
    }
    for s in results
        .stages
        .iter()
        .filter(|s| s.stats.samples >= MIN_PLOT_SAMPLES)
    {
        let title = format!(
            "stage {}: density of the stage time, n = {}",
            s.stage, s.stats.samples
        );
        w.density(
            &format!("stage_{}", s.stage),
            &title,
            s.stats.p50,
            &s.stats.density,
        )?;
    }

    // Depth against call number, both stages.
    // No tree (a stats-mode trace, or no complete invocation): nothing to draw, and gnuplot
    // refuses a plot without points.
    if has_depth(results) {
        let depth = |s| {
            results
                .tree(s)
                .map(|t| t.depth_by_call.clone())
                .unwrap_or_default()
        };
        let (rx, tx) = (depth(Stage::Rx), depth(Stage::Tx));
        let mut data =
            String::from("# call_number depth_rx depth_tx (NaN = stage has fewer calls)\n");
        for i in 0..rx.len().max(tx.len()) {
            let cell = |v: &Vec<u16>| v.get(i).map_or("NaN".to_string(), |d| d.to_string());
            let _ = writeln!(data, "{} {} {}", i + 1, cell(&rx), cell(&tx));
        }
        // One panel per stage with a tree, as the method draws it: each call of the most
        // frequent tree in order, at its depth, so the descents and returns read left to right.
        let panels: Vec<(&str, &Vec<u16>)> = [("receive", &rx), ("send", &tx)]
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .collect();
        let mut f = w.figure("depth")?;
        f.figure()
            .set_multiplot_layout(panels.len(), 1)
            .set_title("nesting depth against call number (most frequent tree of each stage)");
        for (i, (stage, depths)) in panels.iter().enumerate() {
            let max = depths.iter().copied().max().unwrap_or(0);
            let n = depths.len();
            let title = format!("{stage}: {n} calls, max depth {max}");
            let ax = style(f.axes2d());
            ax.set_title(&text(&title), &[])
                .set_x_label("call number", &[])
                .set_y_label("depth from the root", &[])
                .set_x_range(AutoOption::Fix(0.5), AutoOption::Fix(n as f64 + 0.5))
                .set_y_range(AutoOption::Fix(-0.5), AutoOption::Fix(f64::from(max) + 0.5))
                .set_y_ticks(Some((AutoOption::Fix(1.0), 0)), TICKS, &[])
                .lines_points(
                    1..=n,
                    depths.iter().copied(),
                    &[
                        PointSymbol('O'),
                        PointSize(0.8),
                        LineWidth(1.5),
                        Color(RGBString(COLOURS[i])),
                    ],
                );
            if n <= 30 {
                ax.set_x_ticks(Some((AutoOption::Fix(1.0), 0)), TICKS, &[]);
            }
        }
        w.finish(f, data)?;
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
    let mut v: Vec<String> = [Stage::Rx, Stage::Tx]
        .into_iter()
        .filter(|&s| percentile_lines(results, s).is_some())
        .map(|s| format!("percentiles_{s}"))
        .collect();
    v.extend(
        results
            .functions
            .iter()
            .filter(|f| f.stats.samples >= MIN_PLOT_SAMPLES)
            .map(|f| format!("density_{}_{}", f.stage, slug(&f.function))),
    );
    v.extend(
        results
            .stages
            .iter()
            .filter(|s| s.stats.samples >= MIN_PLOT_SAMPLES)
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

/// One colour per service-time choice.
const COLOURS: [&str; 4] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];
/// One filled marker per choice: circle, square, triangle, upside-down triangle (gnuplot
/// point types 7, 5, 9, 11).
const POINTS: [char; 4] = ['O', 'S', 'T', 'D'];

/// The model's points as a block of `NAME.dat`, sojourn times in `axis`.
fn model_block(data: &mut String, m: &ModelOutput, axis: TimeUnit, label: &str) {
    let (label, unit, per) = (text(label), slug(axis.ascii_name()), axis.ns_per_unit());
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
            p.rho,
            p.lambda_per_s,
            p.mg1.sojourn / per,
            p.mg1.in_system,
            p.mm1.sojourn / per,
            p.mm1.in_system
        );
        if let (true, Some(s)) = (setup, p.mg1_setup) {
            let _ = write!(data, " {} {}", s.sojourn / per, s.in_system);
        }
        data.push('\n');
    }
    data.push_str("\n\n");
}

/// A model curve: `lw 2`, dash type `dash`, colour `colour`, titled `caption`.
fn curve<'a>(
    caption: &'a str,
    dash: DashType,
    colour: kpath_plot::gnuplot::ColorType<&'a str>,
) -> [PlotOption<&'a str>; 4] {
    [
        Caption(caption),
        LineWidth(2.0),
        LineStyle(dash),
        Color(colour),
    ]
}

/// W(ρ) and N(ρ): the projection of the results' service time, or, when the results hold a
/// validation, the projection of every service-time choice with its measured points (at the
/// achieved load, with 95 % error bars). M/M/1 solid, M/G/1 dashed, M/G/1 with setup dotted;
/// one colour per choice.
fn queue_figures(w: &mut Writer<'_>, results: &Results) -> Result<()> {
    let choices = results
        .validation
        .as_ref()
        .map(|v| v.choices.as_slice())
        .unwrap_or_default();
    // The sojourn axis in the unit that suits the service time (W starts at T).
    let axis = TimeUnit::suiting(
        choices
            .first()
            .map(|c| c.service.mean)
            .or(results.model.as_ref().map(|m| m.mean))
            .unwrap_or(0.0),
    );
    let (unit, per) = (axis.name(), axis.ns_per_unit());
    let mut data = String::new();
    let mut fig_w = w.figure("sojourn")?;
    let mut fig_n = w.figure("in_system")?;
    let (ax_w, ax_n) = (fig_w.axes2d(), fig_n.axes2d());
    let mut any = false;
    let mut title_w = String::from("sojourn time against load");
    let mut title_n = String::from("number in system against load");
    let col = |m: &ModelOutput, f: &dyn Fn(&crate::queueing::ModelPoint) -> f64| {
        (
            m.points.iter().map(|p| p.rho).collect::<Vec<f64>>(),
            m.points.iter().map(f).collect::<Vec<f64>>(),
        )
    };
    if choices.is_empty() {
        if let Some(m) = &results.model {
            model_block(&mut data, m, axis, "service time from the probes");
            let colour = || RGBString(COLOURS[0]);
            let (x, y) = col(m, &|p| p.mm1.sojourn / per);
            ax_w.lines(x, y, &curve("M/M/1", DashType::Solid, colour()));
            let (x, y) = col(m, &|p| p.mg1.sojourn / per);
            ax_w.lines(x, y, &curve("M/G/1", DashType::Dash, colour()));
            let (x, y) = col(m, &|p| p.mm1.in_system);
            ax_n.lines(x, y, &curve("M/M/1", DashType::Solid, colour()));
            let (x, y) = col(m, &|p| p.mg1.in_system);
            ax_n.lines(x, y, &curve("M/G/1", DashType::Dash, colour()));
            any = true;
            let _ = write!(title_w, " (T = {}, C² = {:.3})", human(m.mean), m.cv2);
            let _ = write!(title_n, " (C² = {:.3})", m.cv2);
        }
    } else {
        title_w.push_str(": models and measurement per service-time choice");
        title_n.push_str(": models and measurement per service-time choice");
        let fine_rhos: Vec<f64> = (1..=98).map(|i| f64::from(i) / 100.0).collect();
        let mut any_n_model = false;
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
            any = true;
            let colour = || RGBString(COLOURS[i % COLOURS.len()]);
            let pt = POINTS[i % POINTS.len()];
            let label = format!(
                "{}, T = {}, C² = {:.3}",
                c.name,
                human(c.service.mean),
                c.service.cv2
            );
            model_block(&mut data, &m, axis, &label);
            let mg1_title = text(&format!("M/G/1 ({}, C² = {:.3})", c.name, c.service.cv2));
            let (x, y) = col(&m, &|p| p.mm1.sojourn / per);
            let mm1_title = text(&format!("M/M/1 ({})", c.name));
            ax_w.lines(x, y, &curve(&mm1_title, DashType::Solid, colour()));
            let (x, y) = col(&m, &|p| p.mg1.sojourn / per);
            ax_w.lines(x, y, &curve(&mg1_title, DashType::Dash, colour()));
            if setup.is_some() {
                let (x, y): (Vec<f64>, Vec<f64>) = m
                    .points
                    .iter()
                    .filter_map(|p| p.mg1_setup.map(|s| (p.rho, s.sojourn / per)))
                    .unzip();
                let t = text(&format!("M/G/1 with setup ({})", c.name));
                ax_w.lines(x, y, &curve(&t, DashType::Dot, colour()));
            }
            if !any_n_model {
                let (x, y) = col(&m, &|p| p.mm1.in_system);
                ax_n.lines(x, y, &curve("M/M/1 (any T)", DashType::Solid, Black));
                any_n_model = true;
            }
            let (x, y) = col(&m, &|p| p.mg1.in_system);
            ax_n.lines(x, y, &curve(&mg1_title, DashType::Dash, colour()));

            let _ = writeln!(
                data,
                "# measured, {} (reached points, at the achieved load): rho_achieved W_{} W_ci95 N N_ci95 rho_target",
                text(&label),
                slug(axis.ascii_name())
            );
            let mut measured_w: [Vec<f64>; 3] = Default::default();
            let mut measured_n: [Vec<f64>; 3] = Default::default();
            for r in c.points.iter().filter(|r| r.reached) {
                let (Some(rho), Some(m)) = (r.rho_achieved, &r.measured) else {
                    continue;
                };
                let _ = writeln!(
                    data,
                    "{rho} {} {} {} {} {}",
                    m.sojourn.mean / per,
                    m.sojourn.ci95.unwrap_or(0.0) / per,
                    m.in_system.unwrap_or(f64::NAN),
                    m.in_system_ci95.unwrap_or(0.0),
                    r.rho
                );
                for (v, x) in measured_w.iter_mut().zip([
                    rho,
                    m.sojourn.mean / per,
                    m.sojourn.ci95.unwrap_or(0.0) / per,
                ]) {
                    v.push(x);
                }
                if let Some(n) = m.in_system {
                    for (v, x) in
                        measured_n
                            .iter_mut()
                            .zip([rho, n, m.in_system_ci95.unwrap_or(0.0)])
                    {
                        v.push(x);
                    }
                }
            }
            if measured_w[0].is_empty() {
                let _ = writeln!(data, "NaN NaN NaN NaN NaN NaN");
            }
            data.push_str("\n\n");
            let t = text(&format!("measured ({})", c.name));
            let marker = |colour| {
                [
                    Caption(t.as_str()),
                    PointSymbol(pt),
                    PointSize(1.3),
                    Color(colour),
                ]
            };
            // An element without rows is left out of the plot command by the crate.
            let [x, y, e] = measured_w;
            ax_w.y_error_bars(x, y, e, &marker(colour()));
            let [x, y, e] = measured_n;
            ax_n.y_error_bars(x, y, e, &marker(colour()));
        }
    }
    if !any {
        return Ok(());
    }
    let sojourn_label = text(&format!("sojourn time W ({unit})"));
    for (ax, title, ylabel) in [
        (ax_w, &title_w, sojourn_label.as_str()),
        (ax_n, &title_n, "number in system N"),
    ] {
        style(ax)
            .set_title(&text(title), &[])
            .set_legend(
                Graph(0.02),
                Graph(0.98),
                &[LegendOption::Placement(AlignLeft, AlignTop)],
                &[],
            )
            .set_x_label("load ρ", &[])
            .set_y_label(ylabel, &[])
            .set_y_log(Some(10.0))
            .set_x_range(AutoOption::Fix(0.0), AutoOption::Fix(1.0));
    }
    w.finish(fig_w, data.clone())?;
    w.finish(fig_n, data)
}
