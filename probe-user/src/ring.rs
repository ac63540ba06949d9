//! The event rings' consumer: reads every `EVENTS_n` ring in batches, merged by time
//! ([`EventRings`]), and gives each ring's space back in steps of [`PUBLISH_BYTES`] (or a
//! sixteenth of a smaller ring), not record by record.
//!
//! Why not aya's `RingBuf`: each of its items publishes the consumer position when dropped,
//! one store per record into the page that every producer reads at every reservation
//! (`__bpf_ringbuf_reserve` checks the free space against it). Reading in batches took the
//! recorder's CPU per record from a median of 32.5 to 23 ns on the two-thread `sendto(-1)`
//! loop (`docs/performance-history.md`, "Reading in place, and the ring's consumer").
//!
//! The layout and protocol are the kernel's (`kernel/bpf/ringbuf.c`) and libbpf's
//! (`ringbuf_process_ring`): a read-write page holding the consumer position, then a read-only
//! page holding the producer position followed by the data pages mapped twice, so that a
//! record that wraps around the end reads as one slice. Each record starts with an 8-byte
//! header whose first word is its length with a busy bit (reserved, not yet committed) and a
//! discard bit; records are 8-byte aligned.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use aya::maps::MapData;

use crate::ProbeError;

/// Bytes read between two publications of the consumer position, at most: the space records
/// held goes back to the producers at most this late (about 900 records). A ring smaller than
/// 16 times this publishes every sixteenth of itself, so that a small ring is not held full
/// while it is drained.
pub const PUBLISH_BYTES: u64 = 64 << 10;

const BUSY_BIT: u32 = 1 << 31;
const DISCARD_BIT: u32 = 1 << 30;
const HEADER_BYTES: u64 = 8;

/// One BPF ring buffer mapped for reading; [`EventRings`] reads them.
pub struct EventRing {
    /// The map: owns the fd the mappings were made from, and that epoll waits on.
    map: MapData,
    /// The consumer page (read-write): the consumer position at its start.
    consumer: memmap2::MmapMut,
    /// The producer page (read-only), then the data pages twice.
    producer: memmap2::Mmap,
    page: usize,
    mask: u64,
    /// Bytes read between two publications (see [`PUBLISH_BYTES`]).
    publish_bytes: u64,
    /// The consumer position as read so far; published every `publish_bytes` and at the end
    /// of each [`EventRings::read`].
    pos: u64,
    /// The consumer position last published.
    published: u64,
    /// The producer position taken at the start of the current [`EventRings::read`]: the
    /// read goes no further (but see `fence_and_look_again`).
    limit: u64,
    /// Whether the 0.1 reading already looked again after a fence since the last record.
    fenced: bool,
}

impl EventRing {
    /// Maps the ring buffer `map` (of `BPF_MAP_TYPE_RINGBUF`) for reading.
    pub fn new(map: MapData) -> Result<Self, ProbeError> {
        let map_err = |what: &str, source: std::io::Error| ProbeError::Kernel {
            what: format!("the event ring's {what}"),
            source,
        };
        let bytes = map
            .info()
            .map_err(|e| ProbeError::Map {
                what: "read the event ring's size".into(),
                source: Box::new(e),
            })?
            .max_entries();
        if !bytes.is_power_of_two() {
            return Err(ProbeError::NoMap("EVENTS_n (not a ring buffer)"));
        }
        // SAFETY: `sysconf` has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) })
            .map_err(|_| map_err("page size", std::io::Error::last_os_error()))?;
        let fd = map.fd().as_fd();
        // SAFETY: the kernel maps the ring's pages; the consumer page is ours to write (only
        // the position at its start, below), and nothing else in this process maps them.
        let consumer = unsafe { memmap2::MmapOptions::new().len(page).map_mut(&fd) }
            .map_err(|e| map_err("consumer page", e))?;
        // SAFETY: read-only; the producers write these pages concurrently, which is why every
        // read of a position or header below is atomic, with the kernel's orderings.
        let producer = unsafe {
            memmap2::MmapOptions::new()
                .offset(page as u64)
                .len(page + 2 * bytes as usize)
                .map(&fd)
        }
        .map_err(|e| map_err("producer pages", e))?;
        let mut ring = Self {
            map,
            consumer,
            producer,
            page,
            mask: u64::from(bytes) - 1,
            publish_bytes: PUBLISH_BYTES.min(u64::from(bytes) / 16),
            pos: 0,
            published: 0,
            limit: 0,
            fenced: false,
        };
        // A pinned ring may have been read before.
        ring.pos = ring.consumer_pos().load(Ordering::Acquire);
        ring.published = ring.pos;
        Ok(ring)
    }

    /// Reads as aya's `RingBuf` does (and kpath 0.1 did), for the measurements of the adaptive
    /// notification (`record --wakeup-fill-bytes 0`): space given back after every record,
    /// and a full fence before looking again once caught up (`fence_and_look_again`).
    fn publish_every_record(&mut self) {
        self.publish_bytes = 0;
    }

    /// Once caught up (or at a record still being written), in the reading of
    /// [`EventRings::publish_every_record`] only: publishes the position, then a full fence
    /// before the producer position is read again, so that a record committed meanwhile is
    /// either seen by the next look or woken for by its producer, which compares the consumer
    /// position with its record's. Once per catch-up (`fenced`). kpath's own reading needs no
    /// such care: its records never ask for the adaptive notification, and its timer drains
    /// anything a wake-up would have announced.
    fn fence_and_look_again(&mut self) -> bool {
        if self.publish_bytes != 0 || self.fenced {
            return false;
        }
        self.consumer_pos().store(self.pos, Ordering::Release);
        std::sync::atomic::fence(Ordering::SeqCst);
        self.fenced = true;
        self.limit = self.producer_pos().load(Ordering::Acquire);
        true
    }

    fn consumer_pos(&self) -> &AtomicU64 {
        // SAFETY: the consumer page is page-aligned and at least 8 bytes; the kernel keeps
        // the position there as an `unsigned long` (64-bit here, see the assertion below).
        unsafe { &*self.consumer.as_ptr().cast::<AtomicU64>() }
    }

    fn producer_pos(&self) -> &AtomicU64 {
        // SAFETY: as for `consumer_pos`, at the start of the producer page.
        unsafe { &*self.producer.as_ptr().cast::<AtomicU64>() }
    }

    /// Starts a read: records committed from now on wait for the next one.
    fn start_read(&mut self) {
        self.limit = self.producer_pos().load(Ordering::Acquire);
        self.fenced = false;
    }

    /// The next committed record below `limit`, as a range of the mapping, skipping
    /// discarded ones; `None` at a record still being written, once caught up, or at a header
    /// that is not the kernel's. In the 0.1 reading, a catch-up or a busy record first gets
    /// one more look after a fence (`fence_and_look_again`).
    fn next_record(&mut self) -> Option<Pending> {
        loop {
            if self.pos >= self.limit {
                if self.fence_and_look_again() {
                    continue;
                }
                return None;
            }
            let at = self.page + (self.pos & self.mask) as usize;
            // SAFETY: `at` is within the first copy of the data pages and 8-aligned (records
            // are); the header's length word is written by the producer with a release store
            // at commit, paired with this acquire load.
            let header = unsafe { &*self.producer.as_ptr().add(at).cast::<AtomicU32>() };
            let len = header.load(Ordering::Acquire);
            if len & BUSY_BIT != 0 {
                if self.fence_and_look_again() {
                    continue;
                }
                return None;
            }
            self.fenced = false;
            let body = (len & !(BUSY_BIT | DISCARD_BIT)) as usize;
            let start = at + HEADER_BYTES as usize;
            // A record is at most the ring's size, and the data pages are mapped twice, so a
            // record that wraps is still one slice; a length past that is not the kernel's,
            // and ends the read rather than the recorder.
            let Some(record) = self.producer.get(start..start + body) else {
                log::error!("event ring: a record header claims {body} bytes; read stopped");
                return None;
            };
            let step = (HEADER_BYTES + body as u64).next_multiple_of(8);
            if len & DISCARD_BIT != 0 {
                self.advance(step);
                continue;
            }
            // The record's timestamp, its first field (`probe_common::Event`), orders the merge.
            let ts_ns = record
                .first_chunk::<8>()
                .map_or(0, |b| u64::from_le_bytes(*b));
            return Some(Pending {
                ts_ns,
                start,
                len: body,
                step,
            });
        }
    }

    /// Moves the read position past `step` bytes, and gives the space read back to the
    /// producers every `publish_bytes`.
    fn advance(&mut self, step: u64) {
        self.pos += step;
        if self.pos - self.published >= self.publish_bytes {
            self.publish();
        }
    }

    /// Gives every byte read so far back to the producers. After the records were copied: the
    /// kernel pairs this release with an acquire load before it reuses their space.
    fn publish(&mut self) {
        self.consumer_pos().store(self.pos, Ordering::Release);
        self.published = self.pos;
    }
}

/// The next record of one ring, found but not yet handed over.
#[derive(Clone, Copy)]
struct Pending {
    ts_ns: u64,
    /// Its bytes: `start..start + len` of the ring's producer mapping.
    start: usize,
    len: usize,
    /// Header and body, 8-aligned: how far the read position moves past it.
    step: u64,
}

/// Every event ring the CPUs of this machine write to (`probe_common::ring::EVENT_RINGS`),
/// read as one stream merged by time, and one file descriptor that is readable when any of
/// them was woken (an epoll set of the rings, for the recorder's `AsyncFd`).
pub struct EventRings {
    rings: Vec<EventRing>,
    epoll: OwnedFd,
}

impl EventRings {
    /// Reads `rings` (at least one) together.
    pub fn new(rings: Vec<EventRing>) -> Result<Self, ProbeError> {
        let kernel_err = |source| ProbeError::Kernel {
            what: "an epoll set for the event rings".into(),
            source,
        };
        if rings.is_empty() {
            return Err(ProbeError::NoMap("EVENTS_0 (no event ring to read)"));
        }
        // SAFETY: no pointer arguments; the returned fd is checked, then owned.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(kernel_err(std::io::Error::last_os_error()));
        }
        // SAFETY: `fd` is a new, valid descriptor that nothing else owns.
        let epoll = unsafe { OwnedFd::from_raw_fd(fd) };
        for ring in &rings {
            let mut ev = libc::epoll_event {
                events: libc::EPOLLIN as u32,
                u64: 0,
            };
            // SAFETY: both fds are valid for the call; `ev` is a valid epoll_event.
            let rc = unsafe {
                libc::epoll_ctl(
                    epoll.as_raw_fd(),
                    libc::EPOLL_CTL_ADD,
                    ring.map.fd().as_fd().as_raw_fd(),
                    &mut ev,
                )
            };
            if rc != 0 {
                return Err(kernel_err(std::io::Error::last_os_error()));
            }
        }
        Ok(Self { rings, epoll })
    }

    /// The unread bytes of the fullest ring: what tells a fill-level wake-up (the ring held
    /// at least the level) from the readiness that epoll reports at registration for records
    /// written meanwhile.
    pub fn most_unread_bytes(&self) -> u64 {
        self.rings
            .iter()
            .map(|r| {
                r.producer_pos()
                    .load(Ordering::Acquire)
                    .saturating_sub(r.pos)
            })
            .max()
            .unwrap_or(0)
    }

    /// Reads as aya's `RingBuf` does (and kpath 0.1 did), for the measurements of the adaptive
    /// notification (`record --wakeup-fill-bytes 0`): space given back after every record,
    /// and a full fence before looking again once caught up.
    pub fn publish_every_record(&mut self) {
        for ring in &mut self.rings {
            ring.publish_every_record();
        }
    }

    /// Hands each committed record to `f`, which returns whether to go on (the record it stops
    /// at counts as read). Returns the records handed over. Discarded records are skipped.
    ///
    /// The producer position of every ring is taken first, and each ring is read up to its
    /// own, so that a task that moved to another CPU in mid-call, and left its entry in one
    /// ring and its exit in another, has both in the same read. Among the rings, the record
    /// with the oldest timestamp goes next; within a ring, records go in reservation order,
    /// which is each call stack's time order. A ring stops at a record still being written
    /// (the others go on; it is read by the next call).
    pub fn read(&mut self, mut f: impl FnMut(&[u8]) -> bool) -> u64 {
        for ring in &mut self.rings {
            ring.start_read();
        }
        let mut heads: Vec<Option<Pending>> =
            self.rings.iter_mut().map(EventRing::next_record).collect();
        let mut handed = 0u64;
        loop {
            // The oldest head; with one or two rings (as on most hosts here) a short scan.
            let mut next: Option<(usize, Pending)> = None;
            for (i, head) in heads.iter().enumerate() {
                if let Some(h) = *head {
                    if next.is_none_or(|(_, n)| h.ts_ns < n.ts_ns) {
                        next = Some((i, h));
                    }
                }
            }
            let Some((i, head)) = next else { break };
            let ring = &mut self.rings[i];
            handed += 1;
            let go_on = f(&ring.producer[head.start..head.start + head.len]);
            ring.advance(head.step);
            if !go_on {
                break;
            }
            heads[i] = ring.next_record();
        }
        for ring in &mut self.rings {
            ring.publish();
        }
        handed
    }
}

impl AsFd for EventRings {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.epoll.as_fd()
    }
}

impl AsRawFd for EventRings {
    fn as_raw_fd(&self) -> RawFd {
        self.epoll.as_raw_fd()
    }
}

const _: () = assert!(
    std::mem::size_of::<libc::c_ulong>() == 8,
    "the ring's positions are read as 64-bit words"
);
