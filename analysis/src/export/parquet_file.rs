//! `kpath export --format parquet`: the rows of [`super::COLUMNS`] as an Apache Parquet file,
//! through the `parquet` crate's column writer (no Arrow).
//!
//! Rows are buffered [`ROW_GROUP_ROWS`] at a time and written as one row group, so memory
//! stays flat however long the trace. Unsigned values keep their width with unsigned integer
//! annotations (`INTEGER(64,false)`…), names are dictionary-encoded strings, pages are
//! Snappy-compressed, and `parent` is the one optional column (null for roots).

use std::io::{self, Write};
use std::sync::Arc;

use parquet::basic::Compression;
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DataType, Int32Type, Int64Type};
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::{SerializedFileWriter, SerializedRowGroupWriter};
use parquet::schema::parser::parse_message_type;
use parquet::schema::types::Type;

use super::{stage_index, Row, COLUMNS};
use crate::stage::Stage;

/// Rows per row group (about 100 bytes each while buffered).
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

/// Parquet type of each of [`COLUMNS`]: repetition and physical type, then annotation.
const TYPES: [(&str, &str); COLUMNS.len()] = [
    ("required int64", "(INTEGER(64,false))"), // entry_ts_ns
    ("required int64", "(INTEGER(64,false))"), // exit_ts_ns
    ("required binary", "(STRING)"),           // stage
    ("required binary", "(STRING)"),           // function
    ("required binary", "(STRING)"),           // context
    ("required int32", "(INTEGER(32,false))"), // cpu
    ("required int32", "(INTEGER(32,false))"), // pid
    ("required int32", "(INTEGER(32,false))"), // tid
    ("required int32", "(INTEGER(16,false))"), // depth
    ("required int32", "(INTEGER(16,false))"), // height
    ("required int64", "(INTEGER(64,false))"), // dur_ns
    ("required int64", "(INTEGER(64,false))"), // self_ns
    ("required int64", "(INTEGER(64,false))"), // irq_ns
    ("required int32", "(INTEGER(32,false))"), // hardirqs
    ("required int32", "(INTEGER(32,false))"), // softirqs
    ("required int32", "(INTEGER(32,false))"), // switches
    ("required int32", "(INTEGER(32,false))"), // flags
    ("required boolean", ""),                  // interrupted
    ("required int32", "(INTEGER(32,false))"), // off_cpu_ns
    ("required int64", "(INTEGER(64,false))"), // invocation
    ("required int32", "(INTEGER(32,false))"), // call
    ("optional int32", "(INTEGER(32,false))"), // parent
];

/// The file's schema, message `kpath_call`.
pub(super) fn schema() -> parquet::errors::Result<Type> {
    let fields: String = COLUMNS
        .iter()
        .zip(TYPES)
        .map(|(name, (ty, note))| format!("  {ty} {name} {note};\n"))
        .collect();
    parse_message_type(&format!("message kpath_call {{\n{fields}}}"))
}

/// A buffered row: [`Row`] with its strings as indexes.
#[derive(Clone, Copy)]
struct Rec {
    entry_ts_ns: u64,
    exit_ts_ns: u64,
    stage: u8,
    func_id: u32,
    context: u8,
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

/// Writes rows into a Parquet file, a row group at a time.
pub(super) struct ParquetRows<W: Write + Send> {
    writer: SerializedFileWriter<W>,
    /// Function names by id; then `?` for ids past the table.
    functions: Vec<ByteArray>,
    /// Stage names by [`stage_index`].
    stages: Vec<ByteArray>,
    /// Context names by `ExecContext` value; then `?`.
    contexts: Vec<ByteArray>,
    rows: Vec<Rec>,
    group_rows: usize,
}

fn io_error(e: ParquetError) -> io::Error {
    match e {
        ParquetError::External(e) => match e.downcast::<io::Error>() {
            Ok(e) => *e,
            Err(e) => io::Error::other(e),
        },
        e => io::Error::other(e),
    }
}

/// Writes `values` (with definition levels `def` for the optional column) as the next column.
fn column<T: DataType, W: Write + Send>(
    group: &mut SerializedRowGroupWriter<'_, W>,
    values: &[T::T],
    def: Option<&[i16]>,
) -> parquet::errors::Result<()> {
    let mut col = group
        .next_column()?
        .ok_or_else(|| ParquetError::General("more columns written than the schema has".into()))?;
    col.typed::<T>().write_batch(values, def, None)?;
    col.close()
}

/// Unsigned values stored in signed physical types, bit for bit (the annotation says
/// unsigned).
fn int64(rows: &[Rec], f: impl Fn(&Rec) -> u64) -> Vec<i64> {
    rows.iter().map(|r| f(r) as i64).collect()
}

fn int32(rows: &[Rec], f: impl Fn(&Rec) -> u32) -> Vec<i32> {
    rows.iter().map(|r| f(r) as i32).collect()
}

fn strings(rows: &[Rec], table: &[ByteArray], f: impl Fn(&Rec) -> usize) -> Vec<ByteArray> {
    let unknown = table.len() - 1;
    rows.iter()
        .map(|r| table[f(r).min(unknown)].clone())
        .collect()
}

impl<W: Write + Send> ParquetRows<W> {
    /// Starts the file (its magic bytes) for a trace whose function table is `names`.
    pub(super) fn new(out: W, names: &[String], group_rows: usize) -> io::Result<Self> {
        let schema = Arc::new(schema().map_err(io_error)?);
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build();
        let writer = SerializedFileWriter::new(out, schema, Arc::new(props)).map_err(io_error)?;
        let functions = names
            .iter()
            .map(|n| ByteArray::from(n.as_str()))
            .chain([ByteArray::from("?")])
            .collect();
        let stages = Stage::ALL
            .iter()
            .map(|s| ByteArray::from(s.name()))
            .collect();
        let contexts = [
            kpath_trace::ExecContext::Process,
            kpath_trace::ExecContext::SoftIrq,
            kpath_trace::ExecContext::HardIrq,
        ]
        .iter()
        .map(|c| ByteArray::from(c.name()))
        .chain([ByteArray::from("?")])
        .collect();
        let group_rows = group_rows.max(1);
        Ok(Self {
            writer,
            functions,
            stages,
            contexts,
            rows: Vec::with_capacity(group_rows.min(ROW_GROUP_ROWS)),
            group_rows,
        })
    }

    /// Adds the row of a call of function `func_id` in `stage` and `context`.
    pub(super) fn push(
        &mut self,
        row: &Row<'_>,
        func_id: u32,
        stage: Stage,
        context: u8,
    ) -> io::Result<()> {
        self.rows.push(Rec {
            entry_ts_ns: row.entry_ts_ns,
            exit_ts_ns: row.exit_ts_ns,
            stage: stage_index(stage) as u8,
            func_id,
            context,
            cpu: row.cpu,
            pid: row.pid,
            tid: row.tid,
            depth: row.depth,
            height: row.height,
            dur_ns: row.dur_ns,
            self_ns: row.self_ns,
            irq_ns: row.irq_ns,
            hardirqs: row.hardirqs,
            softirqs: row.softirqs,
            switches: row.switches,
            flags: row.flags,
            interrupted: row.interrupted,
            off_cpu_ns: row.off_cpu_ns,
            invocation: row.invocation,
            call: row.call,
            parent: row.parent,
        });
        if self.rows.len() >= self.group_rows {
            self.write_group().map_err(io_error)?;
        }
        Ok(())
    }

    /// Writes the buffered rows as one row group, in [`COLUMNS`] order.
    fn write_group(&mut self) -> parquet::errors::Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let r = &self.rows[..];
        let mut g = self.writer.next_row_group()?;
        column::<Int64Type, _>(&mut g, &int64(r, |r| r.entry_ts_ns), None)?;
        column::<Int64Type, _>(&mut g, &int64(r, |r| r.exit_ts_ns), None)?;
        let stages = strings(r, &self.stages, |r| usize::from(r.stage));
        column::<ByteArrayType, _>(&mut g, &stages, None)?;
        let functions = strings(r, &self.functions, |r| r.func_id as usize);
        column::<ByteArrayType, _>(&mut g, &functions, None)?;
        let contexts = strings(r, &self.contexts, |r| usize::from(r.context));
        column::<ByteArrayType, _>(&mut g, &contexts, None)?;
        column::<Int32Type, _>(&mut g, &int32(r, |r| r.cpu), None)?;
        column::<Int32Type, _>(&mut g, &int32(r, |r| r.pid), None)?;
        column::<Int32Type, _>(&mut g, &int32(r, |r| r.tid), None)?;
        column::<Int32Type, _>(&mut g, &int32(r, |r| u32::from(r.depth)), None)?;
        column::<Int32Type, _>(&mut g, &int32(r, |r| u32::from(r.height)), None)?;
        column::<Int64Type, _>(&mut g, &int64(r, |r| r.dur_ns), None)?;
        column::<Int64Type, _>(&mut g, &int64(r, |r| r.self_ns), None)?;
        column::<Int64Type, _>(&mut g, &int64(r, |r| r.irq_ns), None)?;
        column::<Int32Type, _>(&mut g, &int32(r, |r| r.hardirqs), None)?;
        column::<Int32Type, _>(&mut g, &int32(r, |r| r.softirqs), None)?;
        column::<Int32Type, _>(&mut g, &int32(r, |r| r.switches), None)?;
        column::<Int32Type, _>(&mut g, &int32(r, |r| r.flags), None)?;
        let interrupted: Vec<bool> = r.iter().map(|r| r.interrupted).collect();
        column::<BoolType, _>(&mut g, &interrupted, None)?;
        column::<Int32Type, _>(&mut g, &int32(r, |r| r.off_cpu_ns), None)?;
        column::<Int64Type, _>(&mut g, &int64(r, |r| r.invocation), None)?;
        column::<Int32Type, _>(&mut g, &int32(r, |r| r.call), None)?;
        let parents: Vec<i32> = r
            .iter()
            .filter_map(|r| r.parent)
            .map(|p| p as i32)
            .collect();
        let defined: Vec<i16> = r.iter().map(|r| i16::from(r.parent.is_some())).collect();
        column::<Int32Type, _>(&mut g, &parents, Some(&defined))?;
        g.close()?;
        self.rows.clear();
        Ok(())
    }

    /// Writes the last row group and the footer, and flushes.
    pub(super) fn finish(mut self) -> io::Result<()> {
        self.write_group().map_err(io_error)?;
        let mut out = self.writer.into_inner().map_err(io_error)?;
        out.flush()
    }
}
