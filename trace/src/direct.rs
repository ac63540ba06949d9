//! Appending records with `O_DIRECT`: the recorder's writes skip the page cache.
//!
//! A buffered `write(2)` copies every record into a page-cache page, which the kernel first
//! allocates and zeroes. On this project's host (a VM whose freed memory goes back to the
//! hypervisor, `page_reporting`) a page that was free costs the guest a fault into the host
//! at its first touch: `dd` of 384 MB into a new file took 1.25–1.40 s of system CPU
//! buffered, and 0.04–0.07 s with `oflag=direct` (`docs/recorder.md`, "Writing the trace").
//! That is 200 ns per 64-byte record of the recorder's CPU, taken from the two cores the
//! measured service shares. With `O_DIRECT` the device reads the records from the
//! recorder's buffer and the page cache is not touched.
//!
//! Only batches of [`DIRECT_MIN_BYTES`] or more are written directly: below, a direct write
//! costs more than the page cache saves (measured; see the constant).
//!
//! `O_DIRECT` needs the buffer's address, the file offset and the length aligned to the
//! device's block ([`BLOCK`]). The writer starts the records at a multiple of [`BLOCK`]
//! (`TraceWriter::with_reserve` pads the metadata region), records are 64 bytes, so every
//! whole block of records is written directly. The last, partial block of a batch (fewer
//! than 64 records) stays in memory, and the next batch writes it directly, completed.
//!
//! While records keep coming, that partial block is held back ([`DirectAppender::write_tail`]
//! with `hold`): written through the page cache at once, as it was until 2026-12-03, its
//! cached page cost the next direct write a writeback and an invalidation (in saturation,
//! a third of the recorder's samples under `perf`, `docs/recorder.md`). A held block reaches
//! the file with the next batch, or at the next `write_tail` if that batch wrote no whole
//! block. When it does go through the page cache (a slow batch, the end), the kernel writes
//! back and drops the cached page before a direct write over it, so readers of the growing
//! file always see the records in order, and between the two writes the file ends on a block
//! boundary, which is a record boundary.
//!
//! Where `O_DIRECT` is refused (a file system without it, an odd alignment, a short direct
//! write) the appender goes on with buffered positional writes of the same bytes at the same
//! offsets: nothing is lost and the caller is told ([`DirectAppender::is_direct`]).

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};

/// Alignment of direct writes: the page size, a multiple of every block device's logical
/// block size that Linux supports.
pub const BLOCK: usize = 4096;

/// Capacity of the staging buffer: a 10 ms drain at 3 M records/s fits in one write.
const STAGE_BYTES: usize = 4 << 20;

/// The least a batch's whole blocks must add up to for a direct write: smaller batches go
/// through the page cache. A direct write, and the writeback of the partial block it
/// rewrites, cost a drain about 70 µs more than a buffered write into pages the kernel
/// recycles at a low pace. Measured on this project's host (`docs/recorder.md`), recorder CPU
/// per record direct against buffered: 143–163 against 99–126 ns at 2 000 records (128 KiB)
/// per drain, 47–57 against 177–199 ns at 7 000 (450 KiB). 256 KiB lies between.
pub const DIRECT_MIN_BYTES: usize = 256 << 10;

/// Appends bytes at a block-aligned offset of a file, directly where it can.
pub(crate) struct DirectAppender {
    /// The file's ordinary descriptor (a duplicate): the partial blocks, and everything once
    /// direct writes were given up, as positional writes.
    buffered: File,
    /// The same file opened again with `O_DIRECT` (its own open file description); `None`
    /// once direct writes were given up.
    direct: Option<File>,
    /// Backing store of the staging buffer, over-allocated by one block so that a
    /// block-aligned window of [`STAGE_BYTES`] fits in it.
    store: Vec<u8>,
    /// Where the aligned window starts in `store`.
    base: usize,
    /// Bytes staged in the window: at most one partial block between calls.
    len: usize,
    /// Bytes written directly so far.
    direct_bytes: u64,
    /// File offset of the window's first byte (a multiple of [`BLOCK`] while direct).
    at: u64,
    /// The staged partial block holds bytes that are not in the file yet.
    tail_unwritten: bool,
    /// The last [`DirectAppender::append`] wrote whole blocks: records are flowing, and the
    /// next batch will most likely complete the partial block.
    flowing: bool,
}

impl DirectAppender {
    /// An appender of `file` from offset `at`, which must be a multiple of [`BLOCK`], with the
    /// file reopened for direct writes through `/proc/self/fd` (the same inode whatever its
    /// path has become). `Err` when the kernel or the file system refuses `O_DIRECT`.
    pub(crate) fn open(file: &File, at: u64) -> io::Result<Self> {
        if !at.is_multiple_of(BLOCK as u64) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("records start at byte {at}, not a multiple of {BLOCK}"),
            ));
        }
        let direct = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_DIRECT)
            .open(format!("/proc/self/fd/{}", file.as_raw_fd()))?;
        let store = vec![0u8; STAGE_BYTES + BLOCK];
        let base = store.as_ptr().align_offset(BLOCK);
        Ok(Self {
            buffered: file.try_clone()?,
            direct: Some(direct),
            store,
            base,
            len: 0,
            direct_bytes: 0,
            at,
            tail_unwritten: false,
            flowing: false,
        })
    }

    /// Whether batches of [`DIRECT_MIN_BYTES`] or more still go around the page cache.
    pub(crate) fn is_direct(&self) -> bool {
        self.direct.is_some()
    }

    /// Bytes written around the page cache so far.
    pub(crate) fn direct_bytes(&self) -> u64 {
        self.direct_bytes
    }

    /// Appends `bytes` after what was appended before: whole blocks directly, and the last,
    /// partial block staged in memory until [`DirectAppender::write_tail`] or the next call.
    pub(crate) fn append(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        let at = self.at;
        self.tail_unwritten |= !bytes.is_empty();
        while !bytes.is_empty() {
            let take = bytes.len().min(STAGE_BYTES - self.len);
            let window = self.base..self.base + STAGE_BYTES;
            self.store[window][self.len..self.len + take].copy_from_slice(&bytes[..take]);
            self.len += take;
            bytes = &bytes[take..];
            self.write_whole_blocks()?;
        }
        self.flowing = self.at > at;
        self.tail_unwritten &= self.len > 0;
        Ok(())
    }

    /// Writes the staged partial block through the ordinary descriptor, so that every byte
    /// appended is in the file; with `hold`, not if the last [`DirectAppender::append`] wrote
    /// whole blocks (records are flowing, and the next batch writes it directly). A held
    /// block is written by the next `write_tail` if no batch came in between.
    pub(crate) fn write_tail(&mut self, hold: bool) -> io::Result<()> {
        if hold && std::mem::take(&mut self.flowing) {
            return Ok(());
        }
        if self.tail_unwritten {
            self.buffered
                .write_all_at(&self.store[self.base..self.base + self.len], self.at)?;
            self.tail_unwritten = false;
        }
        Ok(())
    }

    /// Writes the staged whole blocks (directly from [`DIRECT_MIN_BYTES`] on) and keeps the
    /// partial one at the window's start.
    fn write_whole_blocks(&mut self) -> io::Result<()> {
        let whole = self.len / BLOCK * BLOCK;
        if whole == 0 {
            return Ok(());
        }
        let window = self.base..self.base + whole;
        let written = match &self.direct {
            Some(direct) if whole >= DIRECT_MIN_BYTES => {
                let n = write_direct(direct, &self.store[window.clone()], self.at)?;
                if n < whole {
                    // Refused, or cut short off a block boundary: buffered from here on.
                    self.direct = None;
                }
                n
            }
            _ => 0,
        };
        self.direct_bytes += written as u64;
        if written < whole {
            // A small batch, or what a refused direct write left: through the page cache,
            // from the first byte not yet written.
            self.buffered.write_all_at(
                &self.store[self.base + written..window.end],
                self.at + written as u64,
            )?;
        }
        self.at += whole as u64;
        self.store
            .copy_within(self.base + whole..self.base + self.len, self.base);
        self.len -= whole;
        Ok(())
    }
}

/// Writes `buf` at `at` with `O_DIRECT`, retrying short writes that end on a block boundary;
/// returns the bytes written, fewer than `buf.len()` when the kernel refused the rest
/// (`EINVAL`: no direct I/O here) or stopped off a block boundary. Other errors (a full disk)
/// are returned.
fn write_direct(direct: &File, buf: &[u8], at: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match direct.write_at(&buf[done..], at + done as u64) {
            Ok(0) => return Ok(done),
            Ok(n) => {
                done += n;
                if !done.is_multiple_of(BLOCK) {
                    return Ok(done);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => return Ok(done),
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// Appends `batches` of bytes (a counter, so that any misplaced byte shows) to a file
    /// whose first [`BLOCK`] bytes are a header, and returns the file's bytes.
    fn append_all(appender: impl FnOnce(&File) -> DirectAppender, batches: &[usize]) -> Vec<u8> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        let mut file = File::create_new(&path).expect("create");
        file.write_all(&[b'h'; BLOCK]).expect("header");
        let mut a = appender(&file);
        let mut next = 0u32;
        for &n in batches {
            let bytes: Vec<u8> = (0..n)
                .map(|_| {
                    next = next.wrapping_add(1);
                    next as u8
                })
                .collect();
            a.append(&bytes).expect("append");
            a.write_tail(false).expect("tail");
            assert_eq!(
                std::fs::metadata(&path).expect("stat").len(),
                BLOCK as u64 + u64::from(next),
                "the file ends after the last byte appended"
            );
        }
        std::fs::read(&path).expect("read")
    }

    fn expected(batches: &[usize]) -> Vec<u8> {
        let total: usize = batches.iter().sum();
        let mut v = vec![b'h'; BLOCK];
        v.extend((1..=total as u32).map(|i| i as u8));
        v
    }

    const BATCHES: [usize; 7] = [64, 4032, 1, 8191, 4096, STAGE_BYTES + 100, 5];

    #[test]
    fn buffered_fallback_writes_the_same_bytes() {
        let got = append_all(
            |f| {
                let mut a = DirectAppender::open(f, BLOCK as u64).expect("open");
                // As after a refused direct write.
                a.direct = None;
                a
            },
            &BATCHES,
        );
        assert!(got == expected(&BATCHES), "the bytes differ");
    }

    #[test]
    fn direct_appends_write_the_same_bytes() {
        let probe = tempfile::tempfile().expect("tempfile");
        if let Err(e) = DirectAppender::open(&probe, 0) {
            eprintln!("SKIP direct_appends_write_the_same_bytes: no O_DIRECT in /tmp here: {e}");
            return;
        }
        let got = append_all(
            |f| DirectAppender::open(f, BLOCK as u64).expect("open"),
            &BATCHES,
        );
        assert!(got == expected(&BATCHES), "the bytes differ");
    }

    /// Batches below [`DIRECT_MIN_BYTES`] go through the page cache; a large one directly.
    #[test]
    fn only_large_batches_are_written_directly() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut file = File::create_new(dir.path().join("f")).expect("create");
        file.write_all(&[b'h'; BLOCK]).expect("header");
        let Ok(mut a) = DirectAppender::open(&file, BLOCK as u64) else {
            eprintln!("SKIP only_large_batches_are_written_directly: no O_DIRECT in /tmp here");
            return;
        };
        for _ in 0..10 {
            a.append(&vec![1u8; DIRECT_MIN_BYTES - BLOCK])
                .expect("append");
        }
        assert_eq!(
            a.direct_bytes(),
            0,
            "small batches went around the page cache"
        );
        a.append(&vec![2u8; DIRECT_MIN_BYTES + 100])
            .expect("append");
        assert_eq!(a.direct_bytes(), DIRECT_MIN_BYTES as u64);
        assert!(a.is_direct());
    }

    /// While batches write whole blocks, their partial block is held back for one more
    /// `write_tail`; a batch that completes no block, or a quiet period, writes it.
    #[test]
    fn a_flowing_partial_block_waits_for_one_more_batch() {
        for direct in [true, false] {
            partial_block_scenario(direct);
        }
    }

    fn partial_block_scenario(direct: bool) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        let mut file = File::create_new(&path).expect("create");
        file.write_all(&[b'h'; BLOCK]).expect("header");
        let Ok(mut a) = DirectAppender::open(&file, BLOCK as u64) else {
            eprintln!("SKIP a_flowing_partial_block_waits_for_one_more_batch: no O_DIRECT here");
            return;
        };
        if !direct {
            a.direct = None;
        }
        let len = || std::fs::metadata(&path).expect("stat").len() - BLOCK as u64;
        // Flowing: two blocks and 100 bytes; the 100 bytes wait.
        a.append(&[1u8; 2 * BLOCK + 100]).expect("append");
        a.write_tail(true).expect("tail");
        assert_eq!(len(), 2 * BLOCK as u64, "the partial block is held back");
        // The next batch completes it and writes it with the blocks.
        a.append(&[2u8; BLOCK]).expect("append");
        a.write_tail(true).expect("tail");
        assert_eq!(
            len(),
            3 * BLOCK as u64,
            "the held bytes went out with the next block"
        );
        // No batch in between: the next `write_tail` writes what was held.
        a.write_tail(true).expect("tail");
        assert_eq!(len(), 3 * BLOCK as u64 + 100);
        // A batch that completes no block is written at once.
        a.append(&[3u8; 10]).expect("append");
        a.write_tail(true).expect("tail");
        assert_eq!(len(), 3 * BLOCK as u64 + 110);
        // Flowing again, but without `hold` the partial block goes too (`flush`, `finish`).
        a.append(&[4u8; BLOCK + 1]).expect("append");
        a.write_tail(false).expect("tail");
        assert_eq!(len(), 4 * BLOCK as u64 + 111);
        let bytes = std::fs::read(&path).expect("read");
        let mut want = vec![b'h'; BLOCK];
        for (v, n) in [(1u8, 2 * BLOCK + 100), (2, BLOCK), (3, 10), (4, BLOCK + 1)] {
            want.extend(std::iter::repeat_n(v, n));
        }
        assert!(bytes == want, "the bytes differ");
    }

    #[test]
    fn an_unaligned_start_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = File::create_new(dir.path().join("f")).expect("create");
        let err = DirectAppender::open(&file, 100).err().expect("refused");
        assert!(err.to_string().contains("not a multiple of 4096"), "{err}");
    }
}
