//! Errors of reading and writing traces; each names the file offset where it applies.

use std::io;

/// What can go wrong with a trace file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TraceError {
    /// An I/O error, with what was being done.
    #[error("{what}")]
    Io {
        /// What was being done ("reading the preamble", "writing record 12", ...).
        what: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The file does not start with the kpath magic.
    #[error("not a kpath trace: bad magic {found:02x?} at offset 0 (expected \"KPATHTRC\")")]
    BadMagic {
        /// The first bytes found.
        found: Vec<u8>,
    },
    /// The format version is newer than this reader knows (or zero).
    #[error(
        "unsupported trace format version {found} at offset 8 (this reader knows 1..={supported})"
    )]
    UnsupportedVersion {
        /// Version in the file.
        found: u32,
        /// Newest version this reader supports.
        supported: u32,
    },
    /// The file ends inside the preamble or the metadata.
    #[error("truncated header: file ends at offset {file_len}, header needs {needed} bytes")]
    TruncatedHeader {
        /// Bytes present.
        file_len: u64,
        /// Bytes the preamble and metadata need.
        needed: u64,
    },
    /// A preamble field has an impossible value.
    #[error("bad preamble field `{field}` at offset {offset}: {detail}")]
    BadPreamble {
        /// Field name as in the spec.
        field: &'static str,
        /// Byte offset of the field.
        offset: u64,
        /// What is wrong.
        detail: String,
    },
    /// The metadata is not valid JSON of the expected shape.
    #[error("bad metadata JSON at offset {offset}{}", in_field(field))]
    BadMetadata {
        /// Byte offset where the metadata region starts.
        offset: u64,
        /// The field's JSON path (`kernel_stats.functions[1].clean.count`); `.` for the
        /// document itself.
        field: String,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// The metadata is valid JSON but inconsistent (e.g. function ids out of order).
    #[error("inconsistent metadata at offset {offset}: {detail}")]
    InconsistentMetadata {
        /// Byte offset where the metadata region starts.
        offset: u64,
        /// What is wrong.
        detail: String,
    },
    /// The file ends inside a record.
    #[error("record {index} at offset {offset} is cut short: {have} of {size} bytes present")]
    TruncatedRecord {
        /// Record index (0-based).
        index: u64,
        /// Byte offset of the record's start.
        offset: u64,
        /// Bytes present.
        have: usize,
        /// Record size.
        size: usize,
    },
    /// The preamble promised more records than the file holds.
    #[error("trace promises {expected} records but ends after {found} (offset {offset})")]
    MissingRecords {
        /// Count in the preamble.
        expected: u64,
        /// Records present.
        found: u64,
        /// End of file.
        offset: u64,
    },
    /// The file was truncated by another program while its records were read from a memory
    /// mapping; the records from the offset on were not in the file when read.
    #[error(
        "the trace was truncated by another program while being read; records from offset {offset} on were gone"
    )]
    Shrank {
        /// Offset of the first record not yet returned when the loss was noticed.
        offset: u64,
    },
    /// Bytes follow the last record of a finalised trace.
    #[error("{extra} unexpected bytes after the last record at offset {offset}")]
    TrailingBytes {
        /// Offset of the first extra byte.
        offset: u64,
        /// How many (at least).
        extra: u64,
    },
    /// A record has a field value outside its domain.
    #[error("record {index} at offset {offset}: bad field `{field}`: {detail}")]
    BadRecord {
        /// Record index (0-based).
        index: u64,
        /// Byte offset of the record's start.
        offset: u64,
        /// Field name as in the spec.
        field: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// The final metadata no longer fits the space reserved at the start of recording.
    #[error("final metadata needs {needed} bytes but only {reserved} were reserved")]
    MetadataTooLarge {
        /// Bytes needed.
        needed: usize,
        /// Bytes reserved.
        reserved: usize,
    },
}

impl TraceError {
    pub(crate) fn io(what: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            what: what.into(),
            source,
        }
    }
}

/// `", field `PATH`"`, or nothing for the document itself.
fn in_field(field: &str) -> String {
    if field.is_empty() || field == "." {
        String::new()
    } else {
        format!(", field `{field}`")
    }
}
