//! Writing a trace while recording: preamble and metadata first, records as they come, then
//! `finish` patches the record count and rewrites the metadata (stop time, lost events) in the
//! space reserved for it.

use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::Path;

use probe_common::Event;

use crate::direct::{DirectAppender, BLOCK};
use crate::format::{self, offset};
use crate::{Metadata, TraceError};

/// Metadata slack reserved at creation for what `finish` adds: the stop time, lost-event
/// counts per CPU and small notes. Generous, because running out fails the finish.
fn reserve_for(meta: &Metadata) -> usize {
    8192 + 24 * meta.cpu_count as usize
}

/// What [`TraceWriter::write_directly`] achieved.
#[derive(Debug)]
pub enum DirectWrites {
    /// Batches of 256 KiB or more go around the page cache.
    On,
    /// Records go through the page cache; the reason direct writes were not taken (for
    /// example `EINVAL` from a file system without `O_DIRECT`, such as ramfs).
    Refused(io::Error),
}

impl DirectWrites {
    /// Whether direct writes are on.
    pub fn is_on(&self) -> bool {
        matches!(self, Self::On)
    }
}

/// Streams records into a trace file. Call [`TraceWriter::finish`] at the end; a trace that
/// was not finished is still readable up to its last whole record.
pub struct TraceWriter<W: Write + Seek> {
    out: BufWriter<W>,
    metadata: Metadata,
    metadata_len: usize,
    records: u64,
    /// Set by [`TraceWriter::write_directly`]: records go around the page cache.
    direct: Option<DirectAppender>,
}

impl TraceWriter<File> {
    /// Creates a new trace file at `path`: it must not exist, and a symbolic link there is not
    /// followed (`O_CREAT | O_EXCL` refuses any existing name, links included). The tools create their outputs with `kpath_cli::Output`
    /// (`--force`, the sudo user) and hand the file to [`TraceWriter::with_reserve`].
    pub fn create(path: impl AsRef<Path>, metadata: Metadata) -> Result<Self, TraceError> {
        Self::create_with_reserve(path, metadata, 0)
    }

    /// Like [`TraceWriter::create`], reserving `extra` more bytes for what `finish` will add
    /// to the metadata (e.g. in-kernel statistics).
    pub fn create_with_reserve(
        path: impl AsRef<Path>,
        metadata: Metadata,
        extra: usize,
    ) -> Result<Self, TraceError> {
        let path = path.as_ref();
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| TraceError::io(format!("creating trace {}", path.display()), e))?;
        Self::with_reserve(file, metadata, extra)
    }

    /// Writes the records with `O_DIRECT` from here on, around the page cache, in the batches
    /// of 256 KiB or more where that pays (see `direct.rs`: on a host whose free memory costs a
    /// fault to touch, the page cache was most of the recorder's CPU). Call it before the
    /// first record. [`DirectWrites::Refused`] says why direct I/O cannot be used (the file
    /// system or the kernel refuses it, or records were already written): records are then
    /// written as before.
    pub fn write_directly(&mut self) -> Result<DirectWrites, TraceError> {
        if let Some(d) = &self.direct {
            return Ok(if d.is_direct() {
                DirectWrites::On
            } else {
                DirectWrites::Refused(io::Error::other("a direct write was refused earlier"))
            });
        }
        if self.records > 0 {
            return Ok(DirectWrites::Refused(io::Error::other(
                "records were already written through the page cache",
            )));
        }
        self.flush()?;
        let start = (format::PREAMBLE_SIZE + self.metadata_len) as u64;
        match DirectAppender::open(self.out.get_ref(), start) {
            Ok(d) => {
                self.direct = Some(d);
                Ok(DirectWrites::On)
            }
            Err(e) => Ok(DirectWrites::Refused(e)),
        }
    }

    /// Whether direct writes are still in use (for batches of 256 KiB or more):
    /// [`TraceWriter::write_directly`] succeeded and no direct write was refused since.
    pub fn writes_directly(&self) -> bool {
        self.direct.as_ref().is_some_and(DirectAppender::is_direct)
    }

    /// Bytes of records written around the page cache so far.
    pub fn direct_bytes(&self) -> u64 {
        self.direct.as_ref().map_or(0, DirectAppender::direct_bytes)
    }
}

impl<W: Write + Seek> TraceWriter<W> {
    /// Starts a trace on `out` (positioned at its start).
    pub fn new(out: W, metadata: Metadata) -> Result<Self, TraceError> {
        Self::with_reserve(out, metadata, 0)
    }

    /// Like [`TraceWriter::new`], reserving `extra` more metadata bytes for `finish`.
    pub fn with_reserve(out: W, metadata: Metadata, extra: usize) -> Result<Self, TraceError> {
        metadata
            .check()
            .map_err(|detail| TraceError::InconsistentMetadata {
                offset: format::PREAMBLE_SIZE as u64,
                detail,
            })?;
        let json = to_json(&metadata)?;
        // Round up so that records start at a multiple of the block size: whole blocks of
        // records can then be written with `O_DIRECT` (`direct.rs`), and readers that map
        // the file find them aligned.
        let metadata_len = (format::PREAMBLE_SIZE + json.len() + reserve_for(&metadata) + extra)
            .next_multiple_of(BLOCK)
            - format::PREAMBLE_SIZE;
        let mut w = Self {
            out: BufWriter::with_capacity(1 << 20, out),
            metadata,
            metadata_len,
            records: 0,
            direct: None,
        };
        w.write_header(&json, format::COUNT_UNKNOWN, 0)?;
        // On disk at once: a recorder killed before its first records still leaves a trace
        // that reads (an unfinished one, with no records) rather than an empty file.
        w.flush()?;
        Ok(w)
    }

    /// The metadata as it will be written by `finish` unless changed there.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// Records written so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Appends one record.
    pub fn write_event(&mut self, event: &Event) -> Result<(), TraceError> {
        if self.direct.is_some() {
            return self.write_records(&event.to_le_bytes());
        }
        self.out
            .write_all(&event.to_le_bytes())
            .map_err(|e| TraceError::io(format!("writing record {}", self.records), e))?;
        self.records += 1;
        Ok(())
    }

    /// Appends whole records already in the trace's byte layout (`docs/trace-format.md`), as
    /// the kernel side writes them into its ring on a little-endian host: a recorder's batch
    /// goes out in one write. `bytes.len()` must be a multiple of the record size.
    pub fn write_records(&mut self, bytes: &[u8]) -> Result<(), TraceError> {
        let size = probe_common::EVENT_SIZE;
        if !bytes.len().is_multiple_of(size) {
            return Err(TraceError::io(
                format!("writing record {}", self.records),
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!(
                        "a batch of {} bytes is not a whole number of {size}-byte records",
                        bytes.len()
                    ),
                ),
            ));
        }
        match &mut self.direct {
            Some(d) => d.append(bytes),
            None => self.out.write_all(bytes),
        }
        .map_err(|e| TraceError::io(format!("writing record {}", self.records), e))?;
        self.records += (bytes.len() / size) as u64;
        Ok(())
    }

    /// Pushes every record written so far to the file, so that a reader (or a crash) sees
    /// them.
    pub fn flush(&mut self) -> Result<(), TraceError> {
        self.push(false)
    }

    /// Like [`TraceWriter::flush`], except that under direct writes the last partial block
    /// (fewer than 64 records) of a batch that wrote whole blocks is held back: the next
    /// batch writes it directly, or the next call here writes it if no batch came in between.
    /// A recorder that calls this after every drain, empty or not, has every record in the
    /// file within two drain periods, and never pays for a partial block written through
    /// the page cache and then overwritten directly (`direct.rs`).
    pub fn flush_blocks(&mut self) -> Result<(), TraceError> {
        self.push(true)
    }

    fn push(&mut self, hold: bool) -> Result<(), TraceError> {
        if let Some(d) = &mut self.direct {
            d.write_tail(hold)
                .map_err(|e| TraceError::io(format!("writing record {}", self.records), e))?;
        }
        self.out
            .flush()
            .map_err(|e| TraceError::io("flushing the trace", e))
    }

    /// Applies `update` to the metadata, rewrites it and the record count in place, and
    /// returns the underlying writer.
    pub fn finish(mut self, update: impl FnOnce(&mut Metadata)) -> Result<W, TraceError> {
        // Every record in the file first: a finish that fails leaves an unfinished trace
        // that reads to its last record.
        self.flush()?;
        update(&mut self.metadata);
        let json = to_json(&self.metadata)?;
        if json.len() > self.metadata_len {
            return Err(TraceError::MetadataTooLarge {
                needed: json.len(),
                reserved: self.metadata_len,
            });
        }
        self.out
            .seek(SeekFrom::Start(0))
            .map_err(|e| TraceError::io("seeking to the preamble", e))?;
        self.write_header(&json, self.records, format::FLAG_FINALISED)?;
        self.flush()?;
        let mut out = self
            .out
            .into_inner()
            .map_err(|e| TraceError::io("flushing the trace", e.into_error()))?;
        out.seek(SeekFrom::End(0))
            .map_err(|e| TraceError::io("seeking to the end", e))?;
        Ok(out)
    }

    fn write_header(&mut self, json: &[u8], count: u64, flags: u32) -> Result<(), TraceError> {
        let mut pre = [0u8; format::PREAMBLE_SIZE];
        pre[offset::MAGIC..offset::MAGIC + 8].copy_from_slice(&format::MAGIC);
        put_u32(&mut pre, offset::VERSION, format::VERSION);
        put_u32(
            &mut pre,
            offset::RECORD_SIZE,
            probe_common::EVENT_SIZE as u32,
        );
        put_u32(&mut pre, offset::METADATA_LEN, self.metadata_len as u32);
        put_u32(&mut pre, offset::FLAGS, flags);
        pre[offset::RECORD_COUNT..offset::RECORD_COUNT + 8].copy_from_slice(&count.to_le_bytes());
        let mut region = json.to_vec();
        region.resize(self.metadata_len, b' ');
        self.out
            .write_all(&pre)
            .and_then(|()| self.out.write_all(&region))
            .map_err(|e| TraceError::io("writing the trace header", e))
    }
}

fn put_u32(buf: &mut [u8], at: usize, v: u32) {
    buf[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn to_json(meta: &Metadata) -> Result<Vec<u8>, TraceError> {
    serde_json::to_vec(meta).map_err(|e| TraceError::BadMetadata {
        offset: format::PREAMBLE_SIZE as u64,
        field: ".".into(),
        source: e,
    })
}
