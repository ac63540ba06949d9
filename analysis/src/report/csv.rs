//! The per-function table as CSV (`kpath report --csv`): one row per function and stage,
//! with a header row. Times in the unit asked (`--unit`, ns by default), named in the `unit`
//! column; variances in its square.
//!
//! A stats-mode trace (no records, kernel aggregates) gives one row per function with
//! [`KERNEL_COLUMNS`] instead; empty cells are figures that cannot be computed (no samples, a
//! saturated sum of squares). `p50`, `p90`, `p99` are approximated from the kernel's log2
//! histogram, and `*_lo`, `*_hi` bound the true value (`kernel_stats.rs`).

use std::io::{self, Write};

use super::unit::TimeUnit;
use super::Report;
use crate::kernel_stats::KernelStatsResult;
use crate::results::Results;

/// CSV of the per-function table, its times in `unit`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Csv {
    /// The unit times are written in.
    pub unit: TimeUnit,
}

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

fn kernel(k: &KernelStatsResult, u: TimeUnit, out: &mut dyn Write) -> io::Result<()> {
    let t = |x: Option<f64>| opt(x.map(|x| u.of(x)));
    writeln!(out, "{}", KERNEL_COLUMNS.join(","))?;
    for f in &k.functions {
        let mut cells = vec![
            field(&f.function),
            f.mechanism.clone(),
            f.calls.to_string(),
            f.samples.to_string(),
            f.dropped.to_string(),
            t(f.mean),
            opt(f.variance.map(|v| u.of_variance(v))),
            serde_json::to_value(f.variance_status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            t(f.std_dev),
            opt(f.cv2),
            t(f.min),
        ];
        for p in [f.p50, f.p90, f.p99] {
            cells.push(t(p.map(|p| p.value)));
            cells.push(t(p.map(|p| p.lo)));
            cells.push(t(p.map(|p| p.hi)));
        }
        cells.extend([
            t(f.max),
            t(f.ci95),
            t(f.interrupted_mean),
            u.ascii_name().to_string(),
        ]);
        writeln!(out, "{}", cells.join(","))?;
    }
    Ok(())
}

impl Report for Csv {
    fn write(&self, r: &Results, out: &mut dyn Write) -> io::Result<()> {
        if let (true, Some(k)) = (r.is_stats_mode(), &r.kernel_stats) {
            return kernel(k, self.unit, out);
        }
        let u = self.unit;
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
                u.of(s.mean),
                u.of_variance(s.variance),
                u.of(s.std_dev),
                s.cv2,
                u.of(s.min),
                u.of(s.p50),
                u.of(s.p90),
                u.of(s.p99),
                u.of(s.max),
                u.of(s.ci95),
                u.of(f.net_mean),
                u.ascii_name(),
                f.blocked,
                u.of(f.off_cpu_mean)
            )?;
        }
        Ok(())
    }
}
