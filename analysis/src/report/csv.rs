//! The per-function table as CSV (`kpath report --csv`): one row per function and stage,
//! with a header row. Times in the results' unit.

use std::io::{self, Write};

use super::Report;
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
];

/// Quotes a CSV field if it needs it (RFC 4180).
pub fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

impl Report for Csv {
    fn write(&self, r: &Results, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "{}", COLUMNS.join(","))?;
        for f in &r.functions {
            let s = &f.stats;
            writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
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
                r.unit
            )?;
        }
        Ok(())
    }
}
