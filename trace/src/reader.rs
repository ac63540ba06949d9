//! Streaming, validating reader. Memory use is one buffer, whatever the trace's length.
//!
//! The file is long because a quarter of it is tests of every refusal and of salvage.

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::path::Path;

use probe_common::event::flags;
use probe_common::{Event, EVENT_SIZE};

use crate::format::{self, offset};
use crate::mapped::MappedRecords;
use crate::rebuild::EntryRebuilder;
use crate::{Metadata, TraceError};

/// Records read from the source at a time (256 KiB): few system calls, and the buffer stays in
/// a core's L2 cache until the records are used.
const BUF_RECORDS: usize = 4 * 1024;

/// Records validated at a time, then handed out by [`TraceReader::next_block`] or one by one
/// by [`TraceReader::next_event`]: small enough to be still in the L1 cache when used.
const BLOCK_RECORDS: usize = 256;

/// Reads a trace: the header at construction, then blocks of records
/// ([`TraceReader::next_block`]) or one record at a time ([`TraceReader::next_event`]).
/// Every record is validated (kind, context, flags, function id, CPU); errors name the record
/// index and byte offset.
pub struct TraceReader<R: Read> {
    src: R,
    metadata: Metadata,
    finalised: bool,
    expected: Option<u64>,
    /// Records returned so far.
    index: u64,
    /// Byte offset of the next record to return.
    offset: u64,
    /// Records read from `src`, in place: the file's bytes are the records' memory (see
    /// [`as_bytes_mut`]). Byte offsets into it: `start..end` are not returned yet, and of
    /// those `start..checked` are validated. `start` and `checked` are whole records from the
    /// buffer's start; `end` may cut a record, whose bytes are moved to the front to be
    /// completed by the next read.
    buf: Box<[Event]>,
    /// The records of a finalised trace mapped in place of `buf` (`crate::mapped`): the
    /// offsets then count from the first record, `end` is the region's length, and `src` is
    /// no longer read.
    mapped: Option<MappedRecords>,
    start: usize,
    checked: usize,
    end: usize,
    /// The file's format version.
    version: u32,
    /// Bits of `off_cpu_ns` that must be zero: all of them before version 2, where the field
    /// was `reserved`.
    off_cpu_must_be_zero: u32,
    /// `metadata.functions.len()` and `metadata.cpu_count`, hoisted for validation.
    functions: u64,
    cpu_count: u32,
    /// The partial record an unfinished trace ended with, once the end was reached.
    cut_tail: Option<CutTail>,
    /// The lowest `kind` a record may have: 1 (exit) in a trace without entry records.
    min_kind: u8,
    /// In a trace without entry records, what rebuilds them (`crate::rebuild`): its output
    /// is what the reader returns, from `rebuilt_pos` on.
    rebuild: Option<EntryRebuilder>,
    rebuilt_pos: usize,
}

/// The partial last record of an unfinished trace (the recorder was killed, or its disk
/// filled, in the middle of a write). The reader stops before it: the records up to it are
/// good and are returned; this one is lost and must be reported (`kpath` warns on every
/// command). A finalised trace promises its record count, so a cut record there is an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CutTail {
    /// Index the record would have had (= the number of whole records before it).
    pub index: u64,
    /// Its byte offset.
    pub offset: u64,
    /// Bytes of it present in the file (less than a record).
    pub bytes: usize,
}

impl std::fmt::Display for CutTail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the trace is unfinished and its last record ({} at offset {}) is cut short, {} of {} bytes; read up to the last whole record ({} records)",
            self.index, self.offset, self.bytes, EVENT_SIZE, self.index
        )
    }
}

impl TraceReader<File> {
    /// Opens the trace at `path` and reads its header. A finalised trace's records are then
    /// read in place from a memory mapping when that is possible (`crate::mapped`), else,
    /// like an unfinished trace's, with `read(2)`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, TraceError> {
        let path = path.as_ref();
        let file = File::open(path)
            .map_err(|e| TraceError::io(format!("opening trace {}", path.display()), e))?;
        let file_len = file
            .metadata()
            .map_err(|e| TraceError::io(format!("reading the size of {}", path.display()), e))?
            .len();
        let mut reader = Self::new(file)?;
        if reader.finalised {
            let len = file_len.saturating_sub(reader.offset);
            if let Some(mapped) = MappedRecords::new(&reader.src, reader.offset, len) {
                reader.end = mapped.len();
                reader.mapped = Some(mapped);
            }
        }
        Ok(reader)
    }

    /// Whether the records are read in place from a memory mapping rather than copied.
    pub fn is_mapped(&self) -> bool {
        self.mapped.is_some()
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

        // Read as it arrives rather than allocated up front: a 40-byte file declaring 64 MiB
        // of metadata costs 40 bytes, not 64 MiB.
        let mut region = Vec::new();
        let got = (&mut src)
            .take(u64::from(metadata_len))
            .read_to_end(&mut region)
            .map_err(|e| TraceError::io("reading the metadata", e))?;
        if got < metadata_len as usize {
            return Err(TraceError::TruncatedHeader {
                file_len: (format::PREAMBLE_SIZE + got) as u64,
                needed: format::PREAMBLE_SIZE as u64 + u64::from(metadata_len),
            });
        }
        let meta_offset = format::PREAMBLE_SIZE as u64;
        // Through `serde_path_to_error`, so that an error names the field, e.g.
        // `kernel_stats.functions[1].clean.count`.
        let mut de = serde_json::Deserializer::from_slice(&region);
        let metadata: Metadata =
            serde_path_to_error::deserialize(&mut de).map_err(|e| TraceError::BadMetadata {
                offset: meta_offset,
                field: e.path().to_string(),
                source: e.into_inner(),
            })?;
        // Only the padding (spaces) may follow the document.
        de.end().map_err(|source| TraceError::BadMetadata {
            offset: meta_offset,
            field: ".".into(),
            source,
        })?;
        metadata
            .check()
            .map_err(|detail| TraceError::InconsistentMetadata {
                offset: meta_offset,
                detail,
            })?;
        let exits_only = metadata.entry_records == Some(false);
        if exits_only && version < format::FIRST_EXITS_ONLY_VERSION {
            return Err(TraceError::InconsistentMetadata {
                offset: meta_offset,
                detail: format!(
                    "entry_records is false, which format version {version} does not allow (from {})",
                    format::FIRST_EXITS_ONLY_VERSION
                ),
            });
        }

        Ok(Self {
            src,
            version,
            off_cpu_must_be_zero: if version < format::FIRST_OFF_CPU_VERSION {
                u32::MAX
            } else {
                0
            },
            functions: metadata.functions.len() as u64,
            cpu_count: metadata.cpu_count,
            metadata,
            finalised,
            expected: finalised.then_some(count),
            index: 0,
            offset: meta_offset + u64::from(metadata_len),
            buf: vec![Event::default(); BUF_RECORDS].into_boxed_slice(),
            mapped: None,
            start: 0,
            checked: 0,
            end: 0,
            cut_tail: None,
            min_kind: u8::from(exits_only),
            rebuild: exits_only.then(EntryRebuilder::default),
            rebuilt_pos: 0,
        })
    }

    /// The cut-short last record of an unfinished trace, once reading reached it (see
    /// [`CutTail`]); `None` while reading, and for complete traces.
    pub fn cut_tail(&self) -> Option<CutTail> {
        self.cut_tail
    }

    /// The file's format version (`1..=format::VERSION`).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Whether the records carry their off-CPU time (format version 2 and later). Before,
    /// `off_cpu_ns` is always 0 and interrupt counts include the task's switched-out time.
    pub fn has_off_cpu(&self) -> bool {
        self.version >= format::FIRST_OFF_CPU_VERSION
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

    /// Records read from the file so far. A trace without entry records returns more: the
    /// entries rebuilt ([`TraceReader::rebuilds_entries`]).
    pub fn records_read(&self) -> u64 {
        self.index
    }

    /// Whether the trace has no entry records and the reader returns rebuilt ones
    /// (`crate::rebuild`): each before its callees' records, as a trace with entry records
    /// has them.
    pub fn rebuilds_entries(&self) -> bool {
        self.rebuild.is_some()
    }

    /// In a trace without entry records, the exits left out because a call around them was
    /// still open when the trace ended (their place in a tree is unknown); final once the
    /// end was reached. Always 0 in a trace with entry records, which has the open calls'
    /// entries instead.
    pub fn unplaced_exits(&self) -> u64 {
        self.rebuild.as_ref().map_or(0, EntryRebuilder::unplaced)
    }

    /// The next record, `None` at the end, or an error naming the offset of the bad record.
    pub fn next_event(&mut self) -> Result<Option<Event>, TraceError> {
        if let Some(rebuild) = &self.rebuild {
            if self.rebuilt_pos == rebuild.output().len() {
                self.rebuild_more()?;
            }
            let next = self
                .rebuild
                .as_ref()
                .and_then(|r| r.output().get(self.rebuilt_pos).copied());
            self.rebuilt_pos += usize::from(next.is_some());
            return Ok(next);
        }
        if self.start == self.checked {
            self.fill()?;
            if self.start == self.checked {
                return Ok(None);
            }
        }
        let event = self.records()[self.start / EVENT_SIZE];
        self.start += EVENT_SIZE;
        self.index += 1;
        self.offset += EVENT_SIZE as u64;
        Ok(Some(event))
    }

    /// The next records, a few hundred at a time, all validated; an empty slice at the end of
    /// the trace. Errors are those of [`TraceReader::next_event`], and come after the records
    /// before the bad one were returned. This is the fast way through a trace: no copy and no
    /// call per record.
    pub fn next_block(&mut self) -> Result<&[Event], TraceError> {
        if let Some(rebuild) = &self.rebuild {
            if self.rebuilt_pos == rebuild.output().len() {
                self.rebuild_more()?;
            }
            let block = self.rebuild.as_ref().map_or(&[][..], |r| r.output());
            let start = self.rebuilt_pos.min(block.len());
            self.rebuilt_pos = block.len();
            return Ok(&block[start..]);
        }
        self.next_file_block()
    }

    /// Feeds the rebuilder the file's next blocks until it has records to return, or the
    /// trace ends (then it has none, and the exits it still held are counted).
    fn rebuild_more(&mut self) -> Result<(), TraceError> {
        let Some(mut rebuild) = self.rebuild.take() else {
            return Ok(());
        };
        rebuild.clear_output();
        self.rebuilt_pos = 0;
        let result = loop {
            match self.next_file_block() {
                Err(e) => break Err(e),
                Ok([]) => {
                    rebuild.finish();
                    break Ok(());
                }
                Ok(block) => {
                    for e in block {
                        rebuild.push(e);
                    }
                    if !rebuild.output().is_empty() {
                        break Ok(());
                    }
                }
            }
        };
        self.rebuild = Some(rebuild);
        result
    }

    /// The file's next records, validated, as [`TraceReader::next_block`] returns them from
    /// a trace with entry records.
    fn next_file_block(&mut self) -> Result<&[Event], TraceError> {
        if self.start == self.checked {
            self.fill()?;
        }
        let (start, checked) = (self.start, self.checked);
        let n = (checked - start) / EVENT_SIZE;
        self.start = checked;
        self.index += n as u64;
        self.offset += (n * EVENT_SIZE) as u64;
        let block = &self.records()[start / EVENT_SIZE..checked / EVENT_SIZE];
        Ok(block)
    }

    /// An iterator over the remaining records.
    pub fn events(&mut self) -> Events<'_, R> {
        Events { reader: self }
    }

    /// Validates the next block of records (reading more first if needed), once all read ones
    /// were returned. Leaves no record to return at the end of the trace; fails (naming the
    /// record) if the first record is bad or cut. A bad record after the first ends the block
    /// before it, so that it fails the next call, once the records before it were returned.
    fn fill(&mut self) -> Result<(), TraceError> {
        let mut limit = BLOCK_RECORDS;
        if let Some(expected) = self.expected {
            let left = expected - self.index;
            if left == 0 {
                return self.check_end();
            }
            limit = limit.min(usize::try_from(left).unwrap_or(usize::MAX));
        }
        if let Some(m) = &mut self.mapped {
            m.follow_reader(self.start);
        }
        if self.end - self.start < EVENT_SIZE && !self.refill()? {
            let have = self.end - self.start;
            if have > 0 && self.expected.is_none() {
                // Salvage: an unfinished trace ends where the writer stopped, possibly inside
                // a record. Keep everything before it; note the loss.
                self.cut_tail = Some(CutTail {
                    index: self.index,
                    offset: self.offset,
                    bytes: have,
                });
                self.start = self.end;
                self.checked = self.end;
                return Ok(());
            }
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
            return Ok(());
        }
        let first = self.start / EVENT_SIZE;
        let n = ((self.end - self.start) / EVENT_SIZE).min(limit);
        let block = &self.records()[first..first + n];
        // Fold the checks of the whole block into a few maxima and ORs: no branch per record
        // and field. Only a block with a bad record is checked again, record by record and
        // field by field, to find and name it. `kind` ≤ 1 and `context` ≤ 2 for all records
        // when no kind has a bit above bit 0 and the largest (context, kind) pair is (2, 1).
        let (mut kinds, mut pair, mut func, mut cpu, mut bits) = (0u8, 0u16, 0u32, 0u32, 0u32);
        let mut lowest_kind = 1u8;
        for e in block {
            kinds |= e.kind;
            lowest_kind = lowest_kind.min(e.kind);
            pair = pair.max(u16::from(e.context) << 8 | u16::from(e.kind));
            func = func.max(e.func_id);
            cpu = cpu.max(e.cpu);
            bits |= (e.flags & !flags::KNOWN) | (e.off_cpu_ns & self.off_cpu_must_be_zero);
        }
        let bad = kinds > 1
            || lowest_kind < self.min_kind
            || pair > 0x0201
            || u64::from(func) >= self.functions
            || cpu >= self.cpu_count
            || bits != 0;
        let mut valid = n;
        if bad {
            let first_bad = block.iter().enumerate().find_map(|(i, e)| {
                let index = self.index + i as u64;
                let offset = self.offset + (i * EVENT_SIZE) as u64;
                self.validate(e, index, offset).err().map(|err| (i, err))
            });
            if let Some((i, err)) = first_bad {
                if i == 0 {
                    return Err(err);
                }
                valid = i;
            }
        }
        // After the validation, which touched every page of the block; before the block is
        // handed out, so that a block with records read as zeros never is.
        self.check_mapping()?;
        self.checked = self.start + valid * EVENT_SIZE;
        Ok(())
    }

    fn validate(&self, e: &Event, index: u64, offset: u64) -> Result<(), TraceError> {
        let bad = |field, detail: String| TraceError::BadRecord {
            index,
            offset,
            field,
            detail,
        };
        if e.kind > 1 {
            return Err(bad("kind", format!("{} (0 = enter, 1 = exit)", e.kind)));
        }
        if e.kind < self.min_kind {
            return Err(bad(
                "kind",
                format!(
                    "{} (an entry) in a trace without entry records (metadata entry_records: false)",
                    e.kind
                ),
            ));
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
        if e.off_cpu_ns & self.off_cpu_must_be_zero != 0 {
            return Err(bad(
                "off_cpu_ns",
                format!(
                    "{} (must be 0 before format version {})",
                    e.off_cpu_ns,
                    format::FIRST_OFF_CPU_VERSION
                ),
            ));
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

    /// The records `start`, `checked` and `end` count in: the mapping, or the buffer.
    fn records(&self) -> &[Event] {
        match &self.mapped {
            Some(m) => m.events(),
            None => &self.buf,
        }
    }

    /// Fails if a page of the mapping was gone when touched: the file was truncated while
    /// being read, and the records read from that page are zeros.
    fn check_mapping(&self) -> Result<(), TraceError> {
        match &self.mapped {
            Some(m) if m.was_cut() => Err(TraceError::Shrank {
                offset: self.offset,
            }),
            _ => Ok(()),
        }
    }

    /// Moves leftover bytes to the front and reads more; false when no whole record is left.
    /// A mapping has nothing more to read.
    fn refill(&mut self) -> Result<bool, TraceError> {
        if self.mapped.is_some() {
            return Ok(self.end - self.start >= EVENT_SIZE);
        }
        let bytes = as_bytes_mut(&mut self.buf);
        bytes.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        self.checked = 0;
        let got = read_full(&mut self.src, &mut bytes[self.end..]).map_err(|e| {
            TraceError::io(
                format!("reading record {} at offset {}", self.index, self.offset),
                e,
            )
        })?;
        self.end += got;
        // The bytes moved to the front were less than a record, so every whole record is new.
        from_le_in_place(&mut self.buf[..self.end / EVENT_SIZE]);
        Ok(self.end >= EVENT_SIZE)
    }

    fn check_end(&mut self) -> Result<(), TraceError> {
        self.check_mapping()?;
        let mut extra = (self.end - self.start) as u64;
        if extra == 0 && self.mapped.is_none() {
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
        Ok(())
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

// The trace's record layout (`docs/trace-format.md`, `Event::to_le_bytes`) is `Event`'s memory
// layout on a little-endian machine: every field at its offset, nothing in between. The reader
// relies on it to read records in place; these fail the build if `Event` ever changes.
const _: () = {
    use std::mem::{offset_of, size_of};
    assert!(size_of::<Event>() == EVENT_SIZE);
    assert!(offset_of!(Event, ts_ns) == 0);
    assert!(offset_of!(Event, dur_ns) == 8);
    assert!(offset_of!(Event, irq_ns) == 16);
    assert!(offset_of!(Event, func_id) == 24);
    assert!(offset_of!(Event, cpu) == 28);
    assert!(offset_of!(Event, pid) == 32);
    assert!(offset_of!(Event, tid) == 36);
    assert!(offset_of!(Event, hardirqs) == 40);
    assert!(offset_of!(Event, softirqs) == 44);
    assert!(offset_of!(Event, switches) == 48);
    assert!(offset_of!(Event, depth) == 52);
    assert!(offset_of!(Event, kind) == 54);
    assert!(offset_of!(Event, context) == 55);
    assert!(offset_of!(Event, flags) == 56);
    assert!(offset_of!(Event, off_cpu_ns) == 60);
};

/// The memory of `events` as bytes, to read records into in place: no decoding pass and no
/// copy, which were half of the reader's instructions per record.
fn as_bytes_mut(events: &mut [Event]) -> &mut [u8] {
    // SAFETY: `Event` is `#[repr(C)]` and made of integers only, with no padding (the layout
    // assertions above), so every byte of it is initialised and any bytes make a valid
    // `Event`. `u8` needs no alignment, and the slice covers exactly the memory of `events`,
    // which it borrows mutably for as long as it lives.
    unsafe {
        std::slice::from_raw_parts_mut(
            events.as_mut_ptr().cast::<u8>(),
            std::mem::size_of_val(events),
        )
    }
}

/// Turns records read in place from their little-endian file layout into native values.
/// Nothing to do on little-endian machines, where this compiles to nothing.
fn from_le_in_place(events: &mut [Event]) {
    if cfg!(target_endian = "little") {
        return;
    }
    for e in events {
        e.ts_ns = u64::from_le(e.ts_ns);
        e.dur_ns = u64::from_le(e.dur_ns);
        e.irq_ns = u64::from_le(e.irq_ns);
        e.func_id = u32::from_le(e.func_id);
        e.cpu = u32::from_le(e.cpu);
        e.pid = u32::from_le(e.pid);
        e.tid = u32::from_le(e.tid);
        e.hardirqs = u32::from_le(e.hardirqs);
        e.softirqs = u32::from_le(e.softirqs);
        e.switches = u32::from_le(e.switches);
        e.depth = u16::from_le(e.depth);
        e.flags = u32::from_le(e.flags);
        e.off_cpu_ns = u32::from_le(e.off_cpu_ns);
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

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use probe_common::event::{EventKind, ExecContext};

    use super::*;
    use crate::{Mechanism, TraceWriter};

    /// `n` valid records over 3 functions and 2 CPUs, all fields distinct from one record to
    /// the next, so that a record read from the wrong place shows.
    fn events(n: usize) -> Vec<Event> {
        (0..n as u64)
            .map(|i| Event {
                ts_ns: 1_000_000 + i,
                dur_ns: i * 3,
                irq_ns: i % 5,
                func_id: (i % 3) as u32,
                cpu: (i % 2) as u32,
                pid: 7,
                tid: 100 + (i % 4) as u32,
                hardirqs: (i % 7) as u32,
                softirqs: (i % 11) as u32,
                switches: (i % 13) as u32,
                depth: (i % 9) as u16,
                kind: (i % 2) as u8,
                context: (i % 3) as u8,
                flags: if i % 17 == 0 { flags::MIGRATED } else { 0 },
                off_cpu_ns: 0,
            })
            .collect()
    }

    fn trace(events: &[Event], finalise: bool) -> Vec<u8> {
        let mut m = Metadata::new("kpath-test 0", "6.1.0-test", 2);
        for name in ["a", "b", "c"] {
            m.add_function(name, None, None, Mechanism::Kprobe);
        }
        let mut w = TraceWriter::new(Cursor::new(Vec::new()), m).expect("writer");
        for e in events {
            w.write_event(e).expect("write");
        }
        let mut bytes = w.finish(|_| {}).expect("finish").into_inner();
        if !finalise {
            // As the recorder leaves a trace when it dies: records up to the end of the file.
            bytes[offset::FLAGS..offset::FLAGS + 4].copy_from_slice(&0u32.to_le_bytes());
            bytes[offset::RECORD_COUNT..offset::RECORD_COUNT + 8]
                .copy_from_slice(&format::COUNT_UNKNOWN.to_le_bytes());
        }
        bytes
    }

    /// A source that returns at most `step` bytes per read, to cut records across reads.
    struct Trickle<'a> {
        bytes: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.step).min(self.bytes.len());
            buf[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Ok(n)
        }
    }

    fn blocks<R: Read>(mut r: TraceReader<R>) -> Result<Vec<Event>, TraceError> {
        let mut all = Vec::new();
        loop {
            let block = r.next_block()?;
            if block.is_empty() {
                return Ok(all);
            }
            assert!(block.len() <= BLOCK_RECORDS);
            all.extend_from_slice(block);
        }
    }

    #[test]
    fn blocks_and_single_records_agree_across_buffer_refills() {
        let n = BUF_RECORDS * 2 + BLOCK_RECORDS / 2 + 3;
        let want = events(n);
        for finalise in [true, false] {
            let bytes = trace(&want, finalise);
            for step in [usize::MAX, 4096 + 7, 61] {
                let src = || Trickle {
                    bytes: &bytes,
                    step,
                };
                let got = blocks(TraceReader::new(src()).expect("reader")).expect("blocks");
                assert_eq!(got, want, "finalised {finalise}, reads of {step}");
                let mut r = TraceReader::new(src()).expect("reader");
                let one: Vec<Event> = r.events().collect::<Result<_, _>>().expect("events");
                assert_eq!(one, want, "finalised {finalise}, reads of {step}");
                assert_eq!(r.records_read(), n as u64);
            }
        }
    }

    #[test]
    fn bad_record_ends_the_block_before_it_and_is_named() {
        let want = events(BLOCK_RECORDS * 3);
        let bad_at = BLOCK_RECORDS + 10;
        // (byte, value, field, format version); `off_cpu_ns` was `reserved`, always 0, in 1.
        let cases: [(usize, u8, &str, u32); 6] = [
            (54, 2, "kind", 2),
            (55, 3, "context", 2),
            (56, 0x80, "flags", 2),
            (61, 1, "off_cpu_ns", 1),
            (24, 3, "func_id", 2),
            (28, 2, "cpu", 2),
        ];
        for (at, value, field, version) in cases {
            let mut bytes = trace(&want, true);
            bytes[8..12].copy_from_slice(&version.to_le_bytes());
            let first = bytes.len() - want.len() * EVENT_SIZE;
            bytes[first + bad_at * EVENT_SIZE + at] = value;
            let mut r = TraceReader::new(Cursor::new(&bytes)).expect("reader");
            let mut got = Vec::new();
            let err = loop {
                match r.next_block() {
                    Ok([]) => panic!("{field}: no error"),
                    Ok(b) => got.extend_from_slice(b),
                    Err(e) => break e,
                }
            };
            assert_eq!(got, want[..bad_at], "{field}");
            let msg = err.to_string();
            let offset = first + bad_at * EVENT_SIZE;
            assert!(
                msg.contains(&format!("record {bad_at} at offset {offset}")),
                "{field}: {msg}"
            );
            assert!(msg.contains(&format!("`{field}`")), "{field}: {msg}");
            // The error stays: the bad record is never returned.
            assert!(r.next_event().is_err(), "{field}");
        }
    }

    #[test]
    fn off_cpu_time_is_read_from_version_2_and_refused_in_version_1() {
        let mut want = events(8);
        want[3].off_cpu_ns = 100_000;
        let bytes = trace(&want, true);
        let r = TraceReader::new(Cursor::new(&bytes)).expect("reader");
        assert!(r.has_off_cpu());
        assert_eq!(blocks(r).expect("version 2"), want);
        let mut old = bytes.clone();
        old[8..12].copy_from_slice(&1u32.to_le_bytes());
        let r = TraceReader::new(Cursor::new(&old)).expect("reader");
        assert_eq!(r.version(), 1);
        assert!(!r.has_off_cpu());
        let err = blocks(r).expect_err("version 1 with off-CPU time");
        assert!(err.to_string().contains("`off_cpu_ns`"), "{err}");
    }

    #[test]
    fn kinds_and_contexts_are_checked_together_and_apart() {
        // Bad pairs that one of the block's two bounds alone would let through: (context 1,
        // kind 5) is below the largest valid (context, kind) pair, (context 3, kind 0) has
        // valid kind bits. The block also holds that largest valid pair, (2, 1).
        for (context, kind, field) in [(1u8, 5u8, "kind"), (3, 0, "context"), (2, 2, "kind")] {
            let mut want = events(8);
            want[5].context = ExecContext::HardIrq as u8;
            want[5].kind = EventKind::Exit as u8;
            let mut bytes = trace(&want, true);
            let first = bytes.len() - want.len() * EVENT_SIZE;
            bytes[first + 3 * EVENT_SIZE + 54] = kind;
            bytes[first + 3 * EVENT_SIZE + 55] = context;
            let r = TraceReader::new(Cursor::new(&bytes)).expect("reader");
            let err = blocks(r).expect_err(field);
            assert!(err.to_string().contains(&format!("`{field}`")), "{err}");
        }
    }

    #[test]
    fn finalised_count_bounds_the_blocks() {
        let want = events(BLOCK_RECORDS + 5);
        let mut bytes = trace(&want, true);
        bytes.extend_from_slice(&[0u8; EVENT_SIZE + 5]);
        let mut r = TraceReader::new(Cursor::new(&bytes)).expect("reader");
        let mut got = Vec::new();
        let err = loop {
            match r.next_block() {
                Ok([]) => panic!("trailing bytes not reported"),
                Ok(b) => got.extend_from_slice(b),
                Err(e) => break e,
            }
        };
        assert_eq!(got, want);
        assert!(
            matches!(err, TraceError::TrailingBytes { extra, .. } if extra == EVENT_SIZE as u64 + 5),
            "{err:?}"
        );
    }
}
