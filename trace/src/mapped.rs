//! The records of a finalised trace read in place from a memory mapping, for the reader.
//!
//! Why: reading a trace with `read(2)` copies every byte from the page cache into the
//! reader's buffer. On the bench's 40 M-record trace that copy was 37 % of `kpath report`'s
//! time (`perf`, `_copy_to_iter`); a mapping lets the analysis read the page cache itself.
//!
//! The hazard of any mapping (ripgrep documents the same for its `--mmap`): if another
//! program truncates the file while it is mapped, touching a page past the new end raises
//! `SIGBUS`, which would kill the process. A mapping made here is registered in [`GUARDS`],
//! and a `SIGBUS` handler installed with the first one turns such a fault into zeros: it maps
//! an anonymous zero page over the faulting page and marks the mapping as cut. The reader
//! checks the mark after validating each block (validation touches every page of the block)
//! and at the end, and fails with [`crate::TraceError::Shrank`]; so zeros can reach the
//! analysis only on its way to that error. A fault outside every registered mapping is
//! passed on to the handler that was there before (the default one kills the process, as it
//! would have without kpath).
//!
//! Only finalised traces are mapped: the recorder has stopped writing them. An unfinished
//! trace, which may still grow, is read with `read(2)`.
//!
//! A program that rewrites a mapped trace in place while it is read can change a record
//! between its validation and its use, which a copy would have prevented. Copying each
//! validated block into a cache-resident buffer was measured side by side and cost 21 % more
//! CPU (1.39 against 1.15 s for 40 M records), most of what the mapping saves, so it is not
//! done. The analysis looks up what a record's fields index with checks (`get`, `get_mut`),
//! so such a record makes figures wrong, as a rewrite before the read would, rather than
//! crashing it.

use std::fs::File;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Once;

use probe_common::Event;

/// Smallest record region worth a mapping: below it, the copy costs less than setting the
/// mapping up and tearing it down.
const MIN_MAPPED_BYTES: u64 = 1 << 20;

/// Bytes of the region read between two releases of the pages behind the reader, and
/// mapped at a time ahead of it (see [`MappedRecords::follow_reader`]).
const RELEASE_EVERY: usize = 4 << 20;

/// Bytes a page fault in a file mapping maps at once: the kernel's `fault_around_bytes`,
/// 64 KiB unless changed in debugfs. Reading one byte per this many maps a range (see
/// [`MappedRecords::follow_reader`]); a smaller setting only leaves pages for the reader's
/// own faults to map.
const FAULT_AROUND: usize = 64 << 10;

/// A mapped region that the `SIGBUS` handler knows: `start..end` (0..0 when the slot is
/// free), and whether a fault in it was turned into zeros.
struct Guard {
    start: AtomicUsize,
    end: AtomicUsize,
    cut: AtomicBool,
}

/// How many traces may be mapped at once; more are read with `read(2)`. `kpath compare`
/// opens two at a time.
const MAX_MAPPINGS: usize = 8;

#[allow(clippy::declare_interior_mutable_const)] // only ever used to initialise `GUARDS`
const FREE: Guard = Guard {
    start: AtomicUsize::new(0),
    end: AtomicUsize::new(0),
    cut: AtomicBool::new(false),
};

/// The registered mappings. Plain atomics: the signal handler may only read memory that
/// needs no lock.
static GUARDS: [Guard; MAX_MAPPINGS] = [FREE; MAX_MAPPINGS];

/// The `SIGBUS` action found when the handler was installed, handed faults outside
/// `GUARDS`. Written once, before the handler is installed, and only read after.
static mut PREVIOUS: std::mem::MaybeUninit<libc::sigaction> = std::mem::MaybeUninit::zeroed();

static INSTALL: Once = Once::new();
static INSTALLED: AtomicBool = AtomicBool::new(false);
/// The page size, read before the handler is installed: `sysconf` is not async-signal-safe.
static PAGE_SIZE: AtomicUsize = AtomicUsize::new(0);

/// The record region of a finalised trace, mapped read-only.
pub(crate) struct MappedRecords {
    map: memmap2::Mmap,
    slot: usize,
    /// Bytes from the region's start whose pages were released.
    released: usize,
    /// Bytes from the region's start whose pages were mapped ahead of the reader.
    populated: usize,
}

impl MappedRecords {
    /// Maps `len` bytes of `file` from `offset`, where the records start. `None` when the
    /// mapping is not worth it or not possible (too small, an offset that is not a page
    /// multiple, all guard slots taken, the handler could not be installed, `mmap` refused):
    /// the reader then reads the file as a stream, which always works.
    pub(crate) fn new(file: &File, offset: u64, len: u64) -> Option<Self> {
        if cfg!(target_endian = "big") || len < MIN_MAPPED_BYTES {
            // Big-endian machines convert the records as they are read, so they need a copy.
            return None;
        }
        if !install_handler() {
            return None;
        }
        let page = PAGE_SIZE.load(Ordering::Acquire);
        if !offset.is_multiple_of(page as u64) {
            return None;
        }
        let len = usize::try_from(len).ok()?;
        // SAFETY: the mapping is read-only (shared: `map`); a change to the file by another
        // program while it is mapped changes the bytes the records are read from, and any
        // bytes make a valid `Event` (see the module for what that means for validation); a
        // truncation is turned into zeros and an error.
        let map = unsafe {
            memmap2::MmapOptions::new()
                .offset(offset)
                .len(len)
                .map(file)
                .ok()?
        };
        let start = map.as_ptr() as usize;
        if !start.is_multiple_of(std::mem::align_of::<Event>()) {
            return None;
        }
        let slot = GUARDS.iter().position(|g| {
            g.end
                .compare_exchange(0, start + len, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        })?;
        GUARDS[slot].cut.store(false, Ordering::Relaxed);
        GUARDS[slot].start.store(start, Ordering::Release);
        // Sequential reading: the kernel may read ahead further and drop pages behind.
        let _ = map.advise(memmap2::Advice::Sequential);
        Some(Self {
            map,
            slot,
            released: 0,
            populated: 0,
        })
    }

    /// The whole records of the region; a cut last record's bytes are left out, and counted
    /// by [`MappedRecords::len`].
    pub(crate) fn events(&self) -> &[Event] {
        let n = self.map.len() / std::mem::size_of::<Event>();
        // SAFETY: the mapping is aligned for `Event` (checked in `new`) and covers `n` whole
        // records; `Event` is `#[repr(C)]` integers without padding, so any bytes are a valid
        // `Event` (the layout assertions in `reader.rs`). The slice borrows `self`, which
        // keeps the mapping alive.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr().cast::<Event>(), n) }
    }

    /// Bytes of the record region, a cut last record included.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Keeps the pages mapped into the process to a window around the reader, now at byte
    /// `offset` of the region.
    ///
    /// Behind it, the pages before `offset` are dropped from the process every
    /// [`RELEASE_EVERY`] bytes: without that, every page read stays counted in the reader's
    /// resident memory (2.5 GB for the bench's trace), though it is only page cache. The
    /// pages stay in the page cache; touched again, they would be mapped again.
    ///
    /// Ahead of it, the next [`RELEASE_EVERY`] bytes are mapped before the reader gets there,
    /// by reading one byte every [`FAULT_AROUND`] bytes: each read faults, and the kernel maps
    /// the 16 pages around it. Otherwise the analysis's prefetches
    /// ([`crate::prefetch_following`]) find nothing in a page not mapped yet: up to a quarter
    /// of them, one 16 KiB block ahead in 64 KiB windows.
    ///
    /// Faults, not `MADV_POPULATE_READ`: populating walks the range a page at a time (a
    /// reference taken and dropped per page), where a fault maps its 16 pages in one batch.
    /// Side by side on the bench's 40 M-record trace, populating cost 0.87 s of CPU and the
    /// reads 0.79 s, medians of 12 rounds (`docs/performance-history.md`, "Mapping ahead by
    /// faults"). A read past a truncated end raises `SIGBUS`, which the handler turns into
    /// zeros and the cut mark: the reader fails with [`crate::TraceError::Shrank`] at its
    /// next check, as it would have on reaching the page.
    pub(crate) fn follow_reader(&mut self, offset: usize) {
        let len = self.map.len();
        if offset + RELEASE_EVERY > self.populated && self.populated < len {
            let end = (self.populated + RELEASE_EVERY).min(len);
            let base = self.map.as_ptr();
            for at in (self.populated..end).step_by(FAULT_AROUND) {
                // SAFETY: `at < end <= len`, inside the mapping; a volatile read, so that it
                // is not optimised away though its value is unused.
                let _ = unsafe { std::ptr::read_volatile(base.add(at)) };
            }
            self.populated = end;
        }
        let upto = offset - offset % RELEASE_EVERY;
        if upto > self.released {
            // SAFETY: the pages are read-only file pages of a shared mapping, never written:
            // dropping them loses nothing, and a later access maps the file page again.
            let _ = unsafe {
                self.map.unchecked_advise_range(
                    memmap2::UncheckedAdvice::DontNeed,
                    self.released,
                    upto - self.released,
                )
            };
            self.released = upto;
        }
    }

    /// Whether a page of the region was gone when touched (the file was truncated by
    /// another program), and so read as zeros.
    pub(crate) fn was_cut(&self) -> bool {
        GUARDS[self.slot].cut.load(Ordering::Acquire)
    }
}

impl Drop for MappedRecords {
    fn drop(&mut self) {
        // The slot is freed before `map` unmaps the region (fields drop after this body), so
        // the handler never takes a fault in a region reused by another mapping for ours.
        let g = &GUARDS[self.slot];
        g.start.store(0, Ordering::Release);
        g.end.store(0, Ordering::Release);
    }
}

/// Installs the `SIGBUS` handler once per process; false if `sigaction` refused.
fn install_handler() -> bool {
    INSTALL.call_once(|| {
        // SAFETY: `sysconf` has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        let Ok(page) = usize::try_from(page) else {
            return;
        };
        if !page.is_power_of_two() {
            return;
        }
        PAGE_SIZE.store(page, Ordering::Release);
        // SAFETY: `sigaction` with a zeroed, then filled, action; `PREVIOUS` is written here,
        // before the handler that reads it exists, and never again (`Once`).
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_sigbus as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO;
            libc::sigemptyset(&mut action.sa_mask);
            let previous = std::ptr::addr_of_mut!(PREVIOUS).cast::<libc::sigaction>();
            if libc::sigaction(libc::SIGBUS, &action, previous) == 0 {
                INSTALLED.store(true, Ordering::Release);
            }
        }
    });
    INSTALLED.load(Ordering::Acquire)
}

/// The `SIGBUS` handler: a fault inside a registered mapping gets a zero page and marks the
/// mapping cut; any other fault goes to the previous action. Only system calls (`mmap`,
/// `sigaction`) and atomics.
extern "C" fn on_sigbus(_signal: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid `siginfo_t` to an `SA_SIGINFO` handler.
    let addr = unsafe { (*info).si_addr() } as usize;
    for g in &GUARDS {
        let start = g.start.load(Ordering::Acquire);
        if start != 0 && (start..g.end.load(Ordering::Acquire)).contains(&addr) {
            // SAFETY: `mmap` is a plain system call (not on POSIX's async-signal-safe list,
            // but it takes no lock in user space); `MAP_FIXED` replaces exactly the faulting
            // page of our own mapping, whose file page no longer exists. `PAGE_SIZE` is a
            // power of two, set before the handler was installed.
            let page = PAGE_SIZE.load(Ordering::Acquire);
            let zeroed = unsafe {
                libc::mmap(
                    (addr & !(page - 1)) as *mut libc::c_void,
                    page,
                    libc::PROT_READ,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                    -1,
                    0,
                )
            };
            if zeroed != libc::MAP_FAILED {
                g.cut.store(true, Ordering::Release);
                return;
            }
        }
    }
    // Not ours: restore the previous action and return, so that the fault happens again and
    // is handled (by default: the process dies of `SIGBUS`, as it would have).
    // SAFETY: `PREVIOUS` was written before this handler was installed.
    unsafe {
        let previous = std::ptr::addr_of!(PREVIOUS).cast::<libc::sigaction>();
        libc::sigaction(libc::SIGBUS, previous, std::ptr::null_mut());
    }
}
