//! Streaming, validating reader. Memory use is one buffer, whatever the trace's length.

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::path::Path;

use probe_common::event::flags;
use probe_common::{Event, EVENT_SIZE};

use crate::format::{self, offset};
use crate::{Metadata, TraceError};

const BUF_RECORDS: usize = 16 * 1024;

/// Reads a trace: the header at construction, then one record per [`TraceReader::next_event`].
/// Every record is validated (kind, context, flags, function id, CPU); errors name the record
/// index and byte offset.
pub struct TraceReader<R: Read> {
    src: R,
    metadata: Metadata,
    finalised: bool,
    expected: Option<u64>,
    index: u64,
    offset: u64,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
}

impl TraceReader<File> {
    /// Opens the trace at `path` and reads its header.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, TraceError> {
        let path = path.as_ref();
        let file = File::open(path)
            .map_err(|e| TraceError::io(format!("opening trace {}", path.display()), e))?;
        Self::new(file)
    }
}

impl<R: Read> TraceReader<R> {
    /// Reads and checks the preamble and metadata from `src`.
    pub fn new(mut src: R) -> Result<Self, TraceError> {
        let mut pre = [0u8; format::PREAMBLE_SIZE];
        let got =
            read_full(&mut src, &mut pre).map_err(|e| TraceError::io("reading the preamble", e))?;
        if got >= 8 && pre[..8] != format::MAGIC || got < 8 && pre[..got] != format::MAGIC[..got] {
            return Err(TraceError::BadMagic {
                found: pre[..got.min(8)].to_vec(),
            });
        }
        if got < format::PREAMBLE_SIZE {
            return Err(TraceError::TruncatedHeader {
                file_len: got as u64,
                needed: format::PREAMBLE_SIZE as u64,
            });
        }
        let version = get_u32(&pre, offset::VERSION);
        if version == 0 || version > format::VERSION {
            return Err(TraceError::UnsupportedVersion {
                found: version,
                supported: format::VERSION,
            });
        }
        let record_size = get_u32(&pre, offset::RECORD_SIZE);
        if record_size as usize != EVENT_SIZE {
            return Err(TraceError::BadPreamble {
                field: "record_size",
                offset: offset::RECORD_SIZE as u64,
                detail: format!("{record_size}, version {version} records are {EVENT_SIZE} bytes"),
            });
        }
        let metadata_len = get_u32(&pre, offset::METADATA_LEN);
        if metadata_len > format::MAX_METADATA_LEN {
            return Err(TraceError::BadPreamble {
                field: "metadata_len",
                offset: offset::METADATA_LEN as u64,
                detail: format!(
                    "{metadata_len} exceeds the {} byte limit",
                    format::MAX_METADATA_LEN
                ),
            });
        }
        let file_flags = get_u32(&pre, offset::FLAGS);
        if file_flags & !format::FLAG_FINALISED != 0 {
            return Err(TraceError::BadPreamble {
                field: "flags",
                offset: offset::FLAGS as u64,
                detail: format!("unknown bits {file_flags:#x}"),
            });
        }
        let count = u64::from_le_bytes(
            pre[offset::RECORD_COUNT..offset::RECORD_COUNT + 8]
                .try_into()
                .unwrap_or([0; 8]),
        );
        let finalised = file_flags & format::FLAG_FINALISED != 0;
        if finalised == (count == format::COUNT_UNKNOWN) {
            return Err(TraceError::BadPreamble {
                field: "record_count",
                offset: offset::RECORD_COUNT as u64,
                detail: if finalised {
                    "finalised trace with an unknown record count".into()
                } else {
                    format!(
                        "{count} in a trace that is not finalised (must be {:#x})",
                        format::COUNT_UNKNOWN
                    )
                },
            });
        }

        let mut region = vec![0u8; metadata_len as usize];
        let got = read_full(&mut src, &mut region)
            .map_err(|e| TraceError::io("reading the metadata", e))?;
        if got < region.len() {
            return Err(TraceError::TruncatedHeader {
                file_len: (format::PREAMBLE_SIZE + got) as u64,
                needed: (format::PREAMBLE_SIZE + region.len()) as u64,
            });
        }
        let meta_offset = format::PREAMBLE_SIZE as u64;
        let metadata: Metadata =
            serde_json::from_slice(&region).map_err(|source| TraceError::BadMetadata {
                offset: meta_offset,
                source,
            })?;
        metadata
            .check()
            .map_err(|detail| TraceError::InconsistentMetadata {
                offset: meta_offset,
                detail,
            })?;

        Ok(Self {
            src,
            metadata,
            finalised,
            expected: finalised.then_some(count),
            index: 0,
            offset: meta_offset + u64::from(metadata_len),
            buf: vec![0u8; BUF_RECORDS * EVENT_SIZE].into_boxed_slice(),
            start: 0,
            end: 0,
        })
    }

    /// The trace's metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// Whether the writer finished the trace. An unfinished trace (the recorder died) has no
    /// stop time or lost-event counts; its records are read up to the end of the file.
    pub fn is_finalised(&self) -> bool {
        self.finalised
    }

    /// The record count the preamble promises, for finalised traces.
    pub fn expected_records(&self) -> Option<u64> {
        self.expected
    }

    /// Records returned so far.
    pub fn records_read(&self) -> u64 {
        self.index
    }

    /// The next record, `None` at the end, or an error naming the offset of the bad record.
    pub fn next_event(&mut self) -> Result<Option<Event>, TraceError> {
        if self.expected == Some(self.index) {
            return self.check_end();
        }
        if self.end - self.start < EVENT_SIZE && !self.refill()? {
            let have = self.end - self.start;
            if have > 0 {
                return Err(TraceError::TruncatedRecord {
                    index: self.index,
                    offset: self.offset,
                    have,
                    size: EVENT_SIZE,
                });
            }
            if let Some(expected) = self.expected {
                return Err(TraceError::MissingRecords {
                    expected,
                    found: self.index,
                    offset: self.offset,
                });
            }
            return Ok(None);
        }
        let bytes: &[u8; EVENT_SIZE] = self.buf[self.start..self.start + EVENT_SIZE]
            .try_into()
            .map_err(|_| TraceError::io("slicing the read buffer", ErrorKind::Other.into()))?;
        let event = Event::from_le_bytes(bytes);
        self.validate(&event)?;
        self.start += EVENT_SIZE;
        self.offset += EVENT_SIZE as u64;
        self.index += 1;
        Ok(Some(event))
    }

    /// An iterator over the remaining records.
    pub fn events(&mut self) -> Events<'_, R> {
        Events { reader: self }
    }

    fn validate(&self, e: &Event) -> Result<(), TraceError> {
        let bad = |field, detail: String| TraceError::BadRecord {
            index: self.index,
            offset: self.offset,
            field,
            detail,
        };
        if e.kind > 1 {
            return Err(bad("kind", format!("{} (0 = enter, 1 = exit)", e.kind)));
        }
        if e.context > 2 {
            return Err(bad(
                "context",
                format!("{} (0 = process, 1 = softirq, 2 = hardirq)", e.context),
            ));
        }
        if e.flags & !flags::KNOWN != 0 {
            return Err(bad(
                "flags",
                format!("unknown bits {:#x}", e.flags & !flags::KNOWN),
            ));
        }
        if e.reserved != 0 {
            return Err(bad("reserved", format!("{} (must be 0)", e.reserved)));
        }
        if e.func_id as usize >= self.metadata.functions.len() {
            return Err(bad(
                "func_id",
                format!(
                    "{} but the function table has {} entries",
                    e.func_id,
                    self.metadata.functions.len()
                ),
            ));
        }
        if e.cpu >= self.metadata.cpu_count {
            return Err(bad(
                "cpu",
                format!("{} but cpu_count is {}", e.cpu, self.metadata.cpu_count),
            ));
        }
        Ok(())
    }

    /// Moves leftover bytes to the front and reads more; false when no whole record is left.
    fn refill(&mut self) -> Result<bool, TraceError> {
        self.buf.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        let got = read_full(&mut self.src, &mut self.buf[self.end..]).map_err(|e| {
            TraceError::io(
                format!("reading record {} at offset {}", self.index, self.offset),
                e,
            )
        })?;
        self.end += got;
        Ok(self.end >= EVENT_SIZE)
    }

    fn check_end(&mut self) -> Result<Option<Event>, TraceError> {
        let mut extra = (self.end - self.start) as u64;
        if extra == 0 {
            let mut probe = [0u8; 1];
            extra = read_full(&mut self.src, &mut probe)
                .map_err(|e| TraceError::io("reading past the last record", e))?
                as u64;
        }
        if extra > 0 {
            return Err(TraceError::TrailingBytes {
                offset: self.offset,
                extra,
            });
        }
        Ok(None)
    }
}

/// Iterator over a reader's remaining records; see [`TraceReader::events`].
pub struct Events<'a, R: Read> {
    reader: &'a mut TraceReader<R>,
}

impl<R: Read> Iterator for Events<'_, R> {
    type Item = Result<Event, TraceError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.reader.next_event().transpose()
    }
}

fn get_u32(buf: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

/// Reads until `buf` is full or the source ends; returns the bytes read.
fn read_full(src: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match src.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
