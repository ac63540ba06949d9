//! Cache hints for the analysis of blocks of records.
//!
//! The reader hands out blocks of records that lie one after another in memory (the mapping
//! of a finalised trace, or the reader's buffer). Validating a block is the first touch of
//! its memory, and stalls on it: on the bench's 40 M-record trace that first touch was most
//! of the reader's time, while the analysis of the block before ran with the memory bus
//! idle. A prefetch per record analysed, of the record one block further on, overlaps the
//! two.

use probe_common::Event;

/// Hints the CPU to bring into its caches record `i` of the block of the same length that
/// follows `block` in memory: the next block the reader hands out, when `block` is the last
/// one it handed out. Only a hint: no memory is read, so an address past the end of the
/// mapping or buffer (the last block of a trace, or a block that is a copy) costs a
/// prefetch that finds nothing and nothing else.
#[inline(always)]
pub fn prefetch_following(block: &[Event], i: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        // Never dereferenced: `wrapping_add` keeps the computation defined for any address.
        let p = block.as_ptr().wrapping_add(block.len() + i);
        // SAFETY: SSE is part of x86-64, and a prefetch never faults, whatever the address.
        unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (block, i);
}
