//! One row per call (`kpath export --format csv|jsonl`), for pandas, DuckDB and friends.
//!
//! Columns: `entry_ts_ns, exit_ts_ns, stage, function, context, cpu, pid, tid, depth, height,
//! dur_ns, self_ns, irq_ns, hardirqs, softirqs, switches, flags, interrupted, off_cpu_ns`.
//! Times are wall-clock (exit − entry) as recorded; a call's on-CPU time is `dur_ns −
//! off_cpu_ns` (0 in traces of format 1, which do not record it).

use std::io::Write;

use serde::Serialize;

use crate::calltree::{Call, CallVisitor, Frame};
use crate::util::csv_field as field;

/// Export format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

/// Column names.
pub const COLUMNS: &[&str] = &[
    "entry_ts_ns",
    "exit_ts_ns",
    "stage",
    "function",
    "context",
    "cpu",
    "pid",
    "tid",
    "depth",
    "height",
    "dur_ns",
    "self_ns",
    "irq_ns",
    "hardirqs",
    "softirqs",
    "switches",
    "flags",
    "interrupted",
    "off_cpu_ns",
];

#[derive(Serialize)]
struct Row<'a> {
    entry_ts_ns: u64,
    exit_ts_ns: u64,
    stage: &'a str,
    function: &'a str,
    context: &'a str,
    cpu: u32,
    pid: u32,
    tid: u32,
    depth: u16,
    height: u16,
    dur_ns: u64,
    self_ns: u64,
    irq_ns: u64,
    hardirqs: u32,
    softirqs: u32,
    switches: u32,
    flags: u32,
    interrupted: bool,
    off_cpu_ns: u32,
}

/// Writes one row per returned call; the first write error is kept and stops output.
pub struct Exporter<W: Write> {
    out: W,
    format: ExportFormat,
    names: Vec<String>,
    error: Option<std::io::Error>,
    rows: u64,
}

impl<W: Write> Exporter<W> {
    /// An exporter writing to `out` (the CSV header is written at once).
    pub fn new(mut out: W, format: ExportFormat, names: Vec<String>) -> Self {
        let error = match format {
            ExportFormat::Csv => writeln!(out, "{}", COLUMNS.join(",")).err(),
            ExportFormat::Jsonl => None,
        };
        Self {
            out,
            format,
            names,
            error,
            rows: 0,
        }
    }

    /// Rows written; flushes and returns the first error, if any.
    pub fn finish(mut self) -> std::io::Result<u64> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush()?;
        Ok(self.rows)
    }
}

impl<W: Write> CallVisitor for Exporter<W> {
    fn call(&mut self, call: &Call<'_>, _ancestors: &[Frame]) {
        if self.error.is_some() {
            return;
        }
        let e = call.exit;
        let context = kpath_trace::ExecContext::try_from(e.context).map_or("?", |c| c.name());
        let row = Row {
            entry_ts_ns: call.entry_ts_ns,
            exit_ts_ns: e.ts_ns,
            stage: call.stage.name(),
            function: self
                .names
                .get(call.func_id as usize)
                .map_or("?", |s| s.as_str()),
            context,
            cpu: e.cpu,
            pid: e.pid,
            tid: e.tid,
            depth: call.depth,
            height: call.height,
            dur_ns: call.dur_ns,
            self_ns: call.dur_ns.saturating_sub(call.child_time_ns),
            irq_ns: e.irq_ns,
            hardirqs: e.hardirqs,
            softirqs: e.softirqs,
            switches: e.switches,
            flags: e.flags,
            interrupted: e.interrupted(),
            off_cpu_ns: e.off_cpu_ns,
        };
        let res = match self.format {
            ExportFormat::Jsonl => serde_json::to_writer(&mut self.out, &row)
                .map_err(std::io::Error::other)
                .and_then(|()| writeln!(self.out)),
            ExportFormat::Csv => writeln!(
                self.out,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                row.entry_ts_ns,
                row.exit_ts_ns,
                row.stage,
                field(row.function),
                row.context,
                row.cpu,
                row.pid,
                row.tid,
                row.depth,
                row.height,
                row.dur_ns,
                row.self_ns,
                row.irq_ns,
                row.hardirqs,
                row.softirqs,
                row.switches,
                row.flags,
                row.interrupted,
                row.off_cpu_ns
            ),
        };
        match res {
            Ok(()) => self.rows += 1,
            Err(e) => self.error = Some(e),
        }
    }
}
