//! Sweep plots: for each busy-us value, a grid with one column per payload size and two rows,
//! throughput against clients and RTT (p50, p99) against clients, drawn with gnuplot.
//!
//! The figures are built with the gnuplot crate and written by [`kpath_plot::FigureFile`], as
//! every kpath plot is: beside each `NAME.png` are `NAME.gp` (the gnuplot script that drew it),
//! `NAME.data/` (the data that script reads) and `NAME.dat` (the averaged points as text,
//! whitespace separated, one block per size). `gnuplot NAME.gp` in the directory, or in a copy
//! of it, redraws the PNG. This module depends only on [`CellResult`].

use std::{collections::BTreeMap, fmt::Write as _, path::Path};

use kpath_plot::gnuplot::{AutoOption, AxesCommon, Caption, PointSymbol};
use kpath_plot::{text, FigureFile, ImageFormat};

use super::CellResult;
use crate::error::Result;

/// One averaged point: clients → (throughput /s, p50 µs, p99 µs).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Point {
    /// Concurrent clients.
    pub clients: u32,
    /// Mean throughput over repeats, replies/s.
    pub throughput: f64,
    /// Mean RTT median over repeats, µs.
    pub p50_us: f64,
    /// Mean RTT 99th percentile over repeats, µs.
    pub p99_us: f64,
}

/// Averages repeats: busy-us → size → points sorted by clients.
pub fn series(results: &[CellResult]) -> BTreeMap<String, BTreeMap<usize, Vec<Point>>> {
    let mut acc: BTreeMap<(String, usize, u32), (Point, u32)> = BTreeMap::new();
    for r in results {
        let e = acc
            .entry((format!("{}", r.busy_us), r.size, r.clients))
            .or_default();
        e.0.clients = r.clients;
        e.0.throughput += r.throughput_per_s;
        e.0.p50_us += r.rtt_p50_us;
        e.0.p99_us += r.rtt_p99_us;
        e.1 += 1;
    }
    let mut out: BTreeMap<String, BTreeMap<usize, Vec<Point>>> = BTreeMap::new();
    for ((busy, size, _), (mut p, n)) in acc {
        let n = f64::from(n.max(1));
        p.throughput /= n;
        p.p50_us /= n;
        p.p99_us /= n;
        out.entry(busy)
            .or_default()
            .entry(size)
            .or_default()
            .push(p);
    }
    out
}

/// Draws one PNG (+ `.gp`, `.data/`, `.dat`) per busy-us value into `dir`, files created as
/// `out` says.
pub fn draw(results: &[CellResult], dir: &Path, out: &kpath_cli::Output) -> Result<()> {
    for (busy, by_size) in series(results) {
        let mut dat = String::from("# size clients throughput_per_s rtt_p50_us rtt_p99_us\n");
        for (size, points) in &by_size {
            for p in points {
                let _ = writeln!(
                    dat,
                    "{size} {} {:.1} {:.2} {:.2}",
                    p.clients, p.throughput, p.p50_us, p.p99_us
                );
            }
            dat.push_str("\n\n");
        }
        let columns = by_size.len().max(1);
        let width = u32::try_from(320 * columns + 80).unwrap_or(u32::MAX);
        let mut fig =
            FigureFile::new(&format!("sweep-busy{busy}us"), ImageFormat::Png, width, 600)?;
        fig.figure()
            .set_multiplot_layout(2, columns)
            .set_title(&text(&format!("kpath-stand sweep, server busy {busy} µs")));
        for (size, points) in &by_size {
            let x: Vec<u32> = points.iter().map(|p| p.clients).collect();
            let y: Vec<f64> = points.iter().map(|p| p.throughput).collect();
            fig.axes2d()
                .set_title(&format!("{size} B"), &[])
                .set_x_label("clients", &[])
                .set_y_label("replies/s", &[])
                .set_x_log(Some(10.0))
                .set_y_range(AutoOption::Fix(0.0), AutoOption::Auto)
                .lines_points(&x, &y, &[Caption("throughput"), PointSymbol('O')]);
        }
        for (size, points) in &by_size {
            let x: Vec<u32> = points.iter().map(|p| p.clients).collect();
            let p50: Vec<f64> = points.iter().map(|p| p.p50_us).collect();
            let p99: Vec<f64> = points.iter().map(|p| p.p99_us).collect();
            fig.axes2d()
                .set_title(&format!("{size} B"), &[])
                .set_x_label("clients", &[])
                .set_y_label("RTT µs", &[])
                .set_x_log(Some(10.0))
                .set_y_range(AutoOption::Fix(0.0), AutoOption::Auto)
                .lines_points(&x, &p50, &[Caption("p50"), PointSymbol('O')])
                .lines_points(&x, &p99, &[Caption("p99"), PointSymbol('S')]);
        }
        fig.set_text_data(dat);
        // `sweep-busyXus.gp` reads `sweep-busyXus.data/`; `gnuplot sweep-busyXus.gp` in `dir`
        // (or a copy of it) redraws the PNG.
        fig.write(dir, out)?;
    }
    Ok(())
}
