//! The per-function table as CSV (`kpath report --csv`): one row per function and stage,
//! with a header row. Times in the results' unit.
//!
//! A stats-mode trace (no records, kernel aggregates) gives one row per function with
//! [`KERNEL_COLUMNS`] instead; empty cells are figures that cannot be computed (no samples, a
//! saturated sum of squares). `p50`, `p90`, `p99` are approximated from the kernel's log2
//! histogram, and `*_lo`, `*_hi` bound the true value (`kernel_stats.rs`).

use std::io::{self, Write};

use super::Report;
use crate::kernel_stats::KernelStatsResult;
use crate::results::Results;

/// CSV of the per-function table.
pub struct Csv;

/// Column names, in order.
pub const COLUMNS: &[&str] = &[
    "stage",
    "function",
    "mechanism",
    "calls",
    "k",
    "depth_from_root",
    "level_from_leaves",
    "samples",
    "dropped",
    "int_hardirq",
    "int_softirq",
    "int_switch",
    "int_migration",
    "mean",
    "variance",
    "std_dev",
    "cv2",
    "min",
    "p50",
    "p90",
    "p99",
    "max",
    "ci95",
    "net_mean",
    "unit",
    "blocked",
    "off_cpu_mean",
];

/// Column names of the stats-mode table, in order.
pub const KERNEL_COLUMNS: &[&str] = &[
    "function",
    "mechanism",
    "calls",
    "samples",
    "dropped",
    "mean",
    "variance",
    "variance_status",
    "std_dev",
    "cv2",
    "min",
    "p50",
    "p50_lo",
    "p50_hi",
    "p90",
    "p90_lo",
    "p90_hi",
    "p99",
    "p99_lo",
    "p99_hi",
    "max",
    "ci95",
    "interrupted_mean",
    "unit",
];

use crate::util::csv_field as field;

fn opt(x: Option<f64>) -> String {
    x.map_or_else(String::new, |v| v.to_string())
}

fn kernel(r: &Results, k: &KernelStatsResult, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "{}", KERNEL_COLUMNS.join(","))?;
    for f in &k.functions {
        let mut cells = vec![
            field(&f.function),
            f.mechanism.clone(),
            f.calls.to_string(),
            f.samples.to_string(),
            f.dropped.to_string(),
            opt(f.mean),
            opt(f.variance),
            serde_json::to_value(f.variance_status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            opt(f.std_dev),
            opt(f.cv2),
            opt(f.min),
        ];
        for p in [f.p50, f.p90, f.p99] {
            cells.push(opt(p.map(|p| p.value)));
            cells.push(opt(p.map(|p| p.lo)));
            cells.push(opt(p.map(|p| p.hi)));
        }
        cells.extend([
            opt(f.max),
            opt(f.ci95),
            opt(f.interrupted_mean),
            r.unit.clone(),
        ]);
        writeln!(out, "{}", cells.join(","))?;
    }
    Ok(())
}

impl Report for Csv {
    fn write(&self, r: &Results, out: &mut dyn Write) -> io::Result<()> {
        if let (true, Some(k)) = (r.is_stats_mode(), &r.kernel_stats) {
            return kernel(r, k, out);
        }
        writeln!(out, "{}", COLUMNS.join(","))?;
        for f in &r.functions {
            let s = &f.stats;
            writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                f.stage,
                field(&f.function),
                f.mechanism,
                f.calls,
                f.k,
                f.depth_from_root,
                f.level_from_leaves,
                s.samples,
                f.dropped,
                f.interrupted.hardirq,
                f.interrupted.softirq,
                f.interrupted.switch,
                f.interrupted.migration,
                s.mean,
                s.variance,
                s.std_dev,
                s.cv2,
                s.min,
                s.p50,
                s.p90,
                s.p99,
                s.max,
                s.ci95,
                f.net_mean,
                r.unit,
                f.blocked,
                f.off_cpu_mean
            )?;
        }
        Ok(())
    }
}
