//! The ring buffer to the trace file, in batches.

use kpath_trace::TraceWriter;
use probe_common::{Event, EventKind, EVENT_SIZE};

use super::tasks::{proc_comm, Tasks};
use crate::ring::EventRings;
use crate::ProbeError;

/// Moves records from the ring into the trace in batches: each drain copies what is there
/// into one reused buffer (no allocation per record) and writes it with one call. A record
/// reaches the file within two drain periods of being read: under direct writes the last
/// partial block of a drain waits for the next one ([`TraceWriter::flush_blocks`]). It notes
/// each record's thread group on the way ([`Tasks`]) and reads the names of new ones after
/// the write.
pub(super) struct Drainer {
    batch: Vec<u8>,
    limit: Option<u64>,
    pub(super) records: u64,
    pub(super) roots: u64,
    pub(super) batches: u64,
    pub(super) tasks: Tasks,
}

/// The batch buffer's capacity: one drain period at 3 M records/s fits without growing.
const BATCH_BYTES: usize = 4 << 20;

impl Drainer {
    pub(super) fn new(limit: Option<u64>) -> Self {
        Self {
            batch: Vec::with_capacity(BATCH_BYTES),
            limit,
            records: 0,
            roots: 0,
            batches: 0,
            tasks: Tasks::new(),
        }
    }

    pub(super) fn reached_count(&self) -> bool {
        self.limit.is_some_and(|n| self.roots >= n)
    }

    /// Moves every available record into the trace. With a `count` limit, stops at the record
    /// that completes it (the rest stays unread and is not recorded).
    pub(super) fn drain(
        &mut self,
        ring: &mut EventRings,
        writer: &mut TraceWriter<std::fs::File>,
    ) -> Result<(), ProbeError> {
        self.batch.clear();
        if self.reached_count() {
            return Ok(writer.flush()?);
        }
        ring.read(|item| {
            let Ok(raw) = <&[u8; EVENT_SIZE]>::try_from(item) else {
                log::warn!(
                    "ignoring a ring-buffer item of {} bytes (expected {EVENT_SIZE})",
                    item.len()
                );
                return true;
            };
            // The ring holds records in the trace's byte layout (little-endian host).
            self.batch.extend_from_slice(raw);
            self.records += 1;
            let e = Event::from_le_bytes(raw);
            if e.kind == EventKind::Exit as u8 && e.depth == 0 {
                self.roots += 1;
            }
            self.tasks.saw(e.pid);
            !self.reached_count()
        });
        if self.batch.is_empty() {
            // A partial block held back by the last drain goes out now: nothing came to
            // complete it.
            return Ok(writer.flush_blocks()?);
        }
        self.batches += 1;
        writer.write_records(&self.batch)?;
        writer.flush_blocks()?;
        // After the records are on their way: a new thread group costs a read of /proc.
        self.tasks.name_new(proc_comm);
        Ok(())
    }
}

const _: () = assert!(
    cfg!(target_endian = "little"),
    "the drain copies ring records as they are: the trace format is little-endian"
);
