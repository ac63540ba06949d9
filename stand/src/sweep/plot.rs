//! Sweep plots, drawn as load-testing studies draw them: for each busy-us value one figure of
//! two panels side by side, throughput against concurrency (clients, log scale) with one line
//! per payload size, and the RTT median (solid) and 99th percentile (dashed) against clients,
//! one colour per size.
//!
//! The figures are built with the gnuplot crate and written by [`kpath_plot::FigureFile`], as
//! every kpath plot is: beside each `NAME.png` are `NAME.gp` (the gnuplot script that drew it),
//! `NAME.data/` (the data that script reads: `0/S.bin` the throughput line of the S-th size,
//! `1/2S.bin` and `1/2S+1.bin` its p50 and p99 lines) and `NAME.dat` (the same points as
//! text, whitespace separated, one block per size). `gnuplot NAME.gp` in the directory, or in
//! a copy of it, redraws the PNG. This module depends only on [`SummaryRow`].

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt::Write as _,
    path::Path,
};

use kpath_plot::gnuplot::{
    AlignLeft, AlignTop, AutoOption, Axes2D, AxesCommon, Caption, Color, ColorType::RGBString,
    Coordinate, DashType, LegendOption, LineStyle, LineWidth, PlotOption, PointSymbol, Tick,
};
use kpath_plot::{text, FigureFile, ImageFormat};

use super::summary::SummaryRow;
use crate::error::Result;

/// One colour and marker per size, in size order (cycled beyond four).
const COLOURS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
];
const POINTS: [char; 6] = ['O', 'S', 'T', 'D', 'R', 'o'];

/// The rows of each busy-us value (in order), by size.
fn by_busy(rows: &[SummaryRow]) -> Vec<(f64, BTreeMap<usize, Vec<&SummaryRow>>)> {
    let mut out: Vec<(f64, BTreeMap<usize, Vec<&SummaryRow>>)> = Vec::new();
    for r in rows {
        match out.last_mut() {
            Some((busy, sizes)) if *busy == r.busy_us => {
                sizes.entry(r.size).or_default().push(r);
            }
            _ => out.push((r.busy_us, BTreeMap::from([(r.size, vec![r])]))),
        }
    }
    for (_, sizes) in &mut out {
        for points in sizes.values_mut() {
            points.sort_by_key(|r| r.clients);
        }
    }
    out
}

/// The figure's name for a busy-us value: `sweep-busy0us`, `sweep-busy2.5us`.
pub fn figure_name(busy_us: f64) -> String {
    format!("sweep-busy{busy_us}us")
}

/// The clients axis of a panel: log scale, a tick at each client count of the sweep, the range
/// just beyond them (gnuplot's own would reach the next power of 10), a dotted grid.
fn clients_axis(ax: &mut Axes2D, clients: &BTreeSet<u32>) {
    let (lo, hi) = match (clients.first(), clients.last()) {
        (Some(&lo), Some(&hi)) => (f64::from(lo.max(1)), f64::from(hi.max(1))),
        _ => (1.0, 10.0),
    };
    let ticks: Vec<Tick<f64, String>> = clients
        .iter()
        .map(|&c| Tick::Major(f64::from(c), AutoOption::Fix(c.to_string())))
        .collect();
    ax.set_x_label("concurrent clients", &[])
        .set_x_log(Some(10.0))
        .set_x_range(AutoOption::Fix(lo / 1.3), AutoOption::Fix(hi * 1.3))
        .set_x_ticks_custom(ticks, &[], &[])
        .set_grid_options(false, &[LineStyle(DashType::Dot)])
        .set_x_grid(true)
        .set_y_grid(true)
        .set_legend(
            Coordinate::Graph(0.02),
            Coordinate::Graph(0.98),
            &[LegendOption::Placement(AlignLeft, AlignTop)],
            &[],
        );
}

/// The fraction of a 500-pixel-high panel the legend's `entries` lines take from the top
/// (at most 60 %): the y range is stretched by it, so the legend stands clear of the data.
fn legend_room(entries: usize) -> f64 {
    (0.05 + 0.037 * entries as f64).min(0.6)
}

/// The top of a linear axis from 0 whose data reach `max`, with `room` left above.
fn linear_top(max: f64, room: f64) -> AutoOption<f64> {
    if max > 0.0 && max.is_finite() {
        AutoOption::Fix(max / (1.0 - room))
    } else {
        AutoOption::Auto
    }
}

/// The range of a log axis whose data span `min`..`max` (both positive), with `room` left
/// above in log space.
fn log_range(min: f64, max: f64, room: f64) -> (AutoOption<f64>, AutoOption<f64>) {
    if !(min > 0.0 && max >= min && max.is_finite()) {
        return (AutoOption::Auto, AutoOption::Auto);
    }
    let lo = min / 1.5;
    let span = (max * 1.2).ln() - lo.ln();
    (
        AutoOption::Fix(lo),
        AutoOption::Fix((lo.ln() + span / (1.0 - room)).exp()),
    )
}

fn style(i: usize, caption: &str, dash: DashType) -> [PlotOption<&str>; 5] {
    [
        Caption(caption),
        Color(RGBString(COLOURS[i % COLOURS.len()])),
        PointSymbol(POINTS[i % POINTS.len()]),
        LineWidth(2.0),
        LineStyle(dash),
    ]
}

/// Draws one PNG (+ `.gp`, `.data/`, `.dat`) per busy-us value of `rows`
/// ([`super::summary::summarise`]) into `dir`, files created as `out` says.
pub fn draw(rows: &[SummaryRow], dir: &Path, out: &kpath_cli::Output) -> Result<()> {
    for (busy, by_size) in by_busy(rows) {
        let mut dat =
            String::from("# size clients runs throughput_per_s rtt_p50_us rtt_p99_us (- none)\n");
        for (size, points) in &by_size {
            for p in points {
                let us = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.2}"));
                let _ = writeln!(
                    dat,
                    "{size} {} {} {:.1} {} {}",
                    p.clients,
                    p.runs,
                    p.throughput_per_s,
                    us(p.rtt_p50_us),
                    us(p.rtt_p99_us)
                );
            }
            dat.push_str("\n\n");
        }
        // Points with an RTT to draw on a log scale (none: no reply in any run).
        let rtt = |p: &SummaryRow| match (p.rtt_p50_us, p.rtt_p99_us) {
            (Some(a), Some(b)) if a > 0.0 && b > 0.0 => Some((p.clients, a, b)),
            _ => None,
        };
        let any_rtt = by_size.values().flatten().any(|p| rtt(p).is_some());
        let panels = if any_rtt { 2 } else { 1 };
        let mut fig = FigureFile::new(&figure_name(busy), ImageFormat::Png, 600 * panels, 500)?;
        fig.figure()
            .set_multiplot_layout(1, panels as usize)
            .set_title(&text(&format!(
                "kpath-stand sweep on loopback, server busy {busy} µs per datagram"
            )));
        let captions: Vec<String> = by_size.keys().map(|s| text(&format!("{s} B"))).collect();
        let clients: BTreeSet<u32> = by_size.values().flatten().map(|p| p.clients).collect();
        let ax = fig.axes2d();
        clients_axis(ax, &clients);
        let top = by_size
            .values()
            .flatten()
            .map(|p| p.throughput_per_s)
            .fold(0.0, f64::max);
        ax.set_title("throughput", &[])
            .set_y_label("replies/s", &[])
            .set_y_range(
                AutoOption::Fix(0.0),
                linear_top(top, legend_room(by_size.len())),
            );
        for (i, (points, caption)) in by_size.values().zip(&captions).enumerate() {
            let x: Vec<u32> = points.iter().map(|p| p.clients).collect();
            let y: Vec<f64> = points.iter().map(|p| p.throughput_per_s).collect();
            ax.lines_points(&x, &y, &style(i, caption, DashType::Solid));
        }
        if any_rtt {
            let ax = fig.axes2d();
            clients_axis(ax, &clients);
            let drawn = || by_size.values().flatten().filter_map(|p| rtt(p));
            let low = drawn().map(|d| d.1.min(d.2)).fold(f64::INFINITY, f64::min);
            let high = drawn().map(|d| d.1.max(d.2)).fold(0.0, f64::max);
            let (y_lo, y_hi) = log_range(low, high, legend_room(2 * by_size.len()));
            ax.set_title("round-trip time: p50 solid, p99 dashed", &[])
                .set_y_label("RTT µs (log scale)", &[])
                .set_y_log(Some(10.0))
                .set_y_range(y_lo, y_hi);
            for (i, (points, caption)) in by_size.values().zip(&captions).enumerate() {
                let drawn: Vec<(u32, f64, f64)> = points.iter().filter_map(|p| rtt(p)).collect();
                let x: Vec<u32> = drawn.iter().map(|d| d.0).collect();
                let p50: Vec<f64> = drawn.iter().map(|d| d.1).collect();
                let p99: Vec<f64> = drawn.iter().map(|d| d.2).collect();
                let (c50, c99) = (format!("{caption} p50"), format!("{caption} p99"));
                // An element without points is left out of the plot command by the crate (its
                // numbering, and so the data file names, stay the same).
                ax.lines_points(&x, &p50, &style(i, &c50, DashType::Solid));
                ax.lines_points(&x, &p99, &style(i, &c99, DashType::Dash));
            }
        }
        fig.set_text_data(dat);
        // `sweep-busyXus.gp` reads `sweep-busyXus.data/`; `gnuplot sweep-busyXus.gp` in `dir`
        // (or a copy of it) redraws the PNG.
        fig.write(dir, out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(busy_us: f64, size: usize, clients: u32) -> SummaryRow {
        SummaryRow {
            busy_us,
            size,
            clients,
            runs: 1,
            throughput_per_s: 1.0,
            throughput_min_per_s: 1.0,
            throughput_max_per_s: 1.0,
            rtt_p50_us: Some(1.0),
            rtt_p99_us: Some(2.0),
            cpu_pct: None,
            peak_rss_kb: 1,
            sent: 1.0,
            received: 1.0,
            lost: 0.0,
        }
    }

    #[test]
    fn ranges_leave_room_for_the_legend() {
        let room = legend_room(4);
        assert!(room > 0.15 && room < 0.25, "{room}");
        assert_eq!(legend_room(100), 0.6);
        let AutoOption::Fix(top) = linear_top(800.0, 0.2) else {
            panic!("auto")
        };
        assert!((top - 1000.0).abs() < 1e-9);
        assert!(matches!(linear_top(0.0, 0.2), AutoOption::Auto));
        let (AutoOption::Fix(lo), AutoOption::Fix(hi)) = log_range(10.0, 1000.0, 0.25) else {
            panic!("auto")
        };
        // The data's share of the axis in log space is 1 - room.
        let share = ((1000.0f64 * 1.2).ln() - lo.ln()) / (hi.ln() - lo.ln());
        assert!(
            lo < 10.0 && (share - 0.75).abs() < 1e-9,
            "{lo} {hi} {share}"
        );
        assert!(matches!(log_range(0.0, 5.0, 0.2), (AutoOption::Auto, _)));
    }

    #[test]
    fn grouped_by_busy_then_size_with_clients_in_order() {
        let rows = [
            row(0.0, 512, 4),
            row(0.0, 64, 1),
            row(0.0, 512, 1),
            row(2.5, 64, 1),
        ];
        let g = by_busy(&rows);
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].0, 0.0);
        assert_eq!(g[0].1.keys().copied().collect::<Vec<_>>(), [64, 512]);
        let clients: Vec<u32> = g[0].1[&512].iter().map(|r| r.clients).collect();
        assert_eq!(clients, [1, 4]);
        assert_eq!(figure_name(g[1].0), "sweep-busy2.5us");
    }
}
