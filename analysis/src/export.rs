//! One row per call (`kpath export --format csv|jsonl|perfetto|parquet`), for pandas, DuckDB,
//! Perfetto UI and friends.
//!
//! Columns: `entry_ts_ns, exit_ts_ns, stage, function, context, cpu, pid, tid, depth, height,
//! dur_ns, self_ns, irq_ns, hardirqs, softirqs, switches, flags, interrupted, off_cpu_ns,
//! invocation, call, parent`. Times are wall-clock (exit − entry) as recorded; a call's on-CPU
//! time is `dur_ns − off_cpu_ns` (0 in traces of format 1, which do not record it).
//! `invocation` numbers the root invocations of the trace in the order they began, `call`
//! numbers the calls of one invocation in entry order (the root is 0), and `parent` is the
//! caller's `call` (empty, `null`, for roots). Rows come in the order calls returned: a
//! caller's row follows its callees'.
//!
//! CSV goes through the `csv` crate and JSONL through `serde_json`, so a function name (text
//! from the trace, untrusted) stays one field whatever it holds. Perfetto
//! (`export/perfetto.rs`) writes Chrome trace-event JSON, a timeline track per task and per
//! CPU's interrupt context; Parquet (`export/parquet_file.rs`) writes the rows in row groups
//! of bounded size. Every format streams: memory does not grow with the trace.

mod parquet_file;
mod perfetto;

use std::io::{self, Write};

use serde::Serialize;

use crate::calltree::{Call, CallVisitor, Frame};
use crate::stage::Stage;

pub use parquet_file::ROW_GROUP_ROWS;

/// Export format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON object per line.
    Jsonl,
    /// Chrome trace-event JSON (the JSON object format), for Perfetto UI and
    /// `chrome://tracing`: one complete event per call.
    Perfetto,
    /// Apache Parquet, one row per call (needs a file: see [`ExportFormat::needs_file`]).
    Parquet,
}

impl ExportFormat {
    /// True for formats written to a file only, never to standard output (Parquet: a binary
    /// file whose index is written last).
    pub fn needs_file(self) -> bool {
        matches!(self, ExportFormat::Parquet)
    }
}

/// Column names (CSV header, JSONL keys, Parquet columns), in order.
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
    "invocation",
    "call",
    "parent",
];

/// One exported call; the field order is [`COLUMNS`].
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
    invocation: u64,
    call: u32,
    parent: Option<u32>,
}

enum Sink<W: Write + Send> {
    Csv(Box<csv::Writer<W>>),
    Jsonl(W),
    Perfetto(perfetto::Perfetto<W>),
    Parquet(Box<parquet_file::ParquetRows<W>>),
    /// The output could not be started (the error is kept).
    Failed,
}

/// Writes one row per returned call; the first write error is kept and stops output.
pub struct Exporter<W: Write + Send> {
    sink: Sink<W>,
    names: Vec<String>,
    error: Option<io::Error>,
    rows: u64,
}

/// The I/O error inside a `csv` error (so a closed pipe stays a closed pipe).
fn csv_io(e: csv::Error) -> io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => io::Error::other(format!("CSV: {other:?}")),
    }
}

impl<W: Write + Send> Exporter<W> {
    /// An exporter writing to `out` (the CSV header, the Perfetto preamble and the Parquet
    /// magic are written at once). `names` is the trace's function table.
    pub fn new(out: W, format: ExportFormat, names: Vec<String>) -> Self {
        Self::with_row_group_rows(out, format, names, ROW_GROUP_ROWS)
    }

    /// [`Exporter::new`] with Parquet row groups of at most `rows` rows (at least 1; other
    /// formats ignore it).
    pub fn with_row_group_rows(
        out: W,
        format: ExportFormat,
        names: Vec<String>,
        rows: usize,
    ) -> Self {
        let started = match format {
            ExportFormat::Csv => {
                let mut w = csv::WriterBuilder::new()
                    .has_headers(false)
                    .from_writer(out);
                w.write_record(COLUMNS)
                    .map(|()| Sink::Csv(Box::new(w)))
                    .map_err(csv_io)
            }
            ExportFormat::Jsonl => Ok(Sink::Jsonl(out)),
            ExportFormat::Perfetto => perfetto::Perfetto::new(out).map(Sink::Perfetto),
            ExportFormat::Parquet => parquet_file::ParquetRows::new(out, &names, rows)
                .map(|p| Sink::Parquet(Box::new(p))),
        };
        let (sink, error) = match started {
            Ok(s) => (s, None),
            Err(e) => (Sink::Failed, Some(e)),
        };
        Self {
            sink,
            names,
            error,
            rows: 0,
        }
    }

    /// Rows written; ends the output (JSON's closing bracket, Parquet's footer), flushes, and
    /// returns the first error, if any.
    pub fn finish(mut self) -> io::Result<u64> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        match self.sink {
            Sink::Csv(mut w) => w.flush()?,
            Sink::Jsonl(mut w) => w.flush()?,
            Sink::Perfetto(p) => p.finish()?,
            Sink::Parquet(p) => p.finish()?,
            Sink::Failed => {}
        }
        Ok(self.rows)
    }
}

impl<W: Write + Send> CallVisitor for Exporter<W> {
    fn call(&mut self, call: &Call<'_>, ancestors: &[Frame]) {
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
            invocation: call.invocation,
            call: call.call_id,
            parent: ancestors.last().map(|f| f.call_id),
        };
        let res = match &mut self.sink {
            Sink::Jsonl(out) => serde_json::to_writer(&mut *out, &row)
                .map_err(crate::util::json_io)
                .and_then(|()| writeln!(out)),
            Sink::Csv(w) => w.serialize(&row).map_err(csv_io),
            Sink::Perfetto(p) => p.call(&row, e),
            Sink::Parquet(p) => p.push(&row, call.func_id, call.stage, e.context),
            Sink::Failed => Ok(()),
        };
        match res {
            Ok(()) => self.rows += 1,
            Err(e) => self.error = Some(e),
        }
    }
}

/// Index of `stage` in [`Stage::ALL`].
fn stage_index(stage: Stage) -> usize {
    Stage::ALL.iter().position(|&s| s == stage).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parquet_schema_has_the_columns() {
        let schema = parquet_file::schema().expect("schema");
        let names: Vec<&str> = schema.get_fields().iter().map(|f| f.name()).collect();
        assert_eq!(names, COLUMNS);
    }

    #[test]
    fn only_parquet_needs_a_file() {
        assert!(ExportFormat::Parquet.needs_file());
        for f in [
            ExportFormat::Csv,
            ExportFormat::Jsonl,
            ExportFormat::Perfetto,
        ] {
            assert!(!f.needs_file());
        }
    }

    #[test]
    fn stage_index_follows_all() {
        for (i, s) in Stage::ALL.iter().enumerate() {
            assert_eq!(stage_index(*s), i);
        }
    }
}
