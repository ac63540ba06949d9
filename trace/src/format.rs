//! Constants of the on-disk layout (see `docs/trace-format.md`).

/// The first eight bytes of every trace file.
pub const MAGIC: [u8; 8] = *b"KPATHTRC";

/// The format version this crate writes and the newest it reads. Bump it on any change to the
/// preamble, the record layout or the meaning of a metadata field. Version 2 gave records
/// their off-CPU time (`off_cpu_ns`, the old `reserved`) and counted interrupts only while the
/// call's task was on its CPU; readers of version 2 read version 1 too. Version 3 lets a
/// trace hold exit records only (metadata `entry_records: false`), whose readers rebuild the
/// entries (`crate::rebuild`); it changes nothing else, and readers of 3 read 1 and 2.
pub const VERSION: u32 = 3;

/// The first version whose traces may leave out entry records ([`VERSION`]'s note).
pub const FIRST_EXITS_ONLY_VERSION: u32 = 3;

/// The first version whose records carry off-CPU time ([`VERSION`]'s note).
pub const FIRST_OFF_CPU_VERSION: u32 = 2;

/// Size of the fixed preamble that precedes the metadata.
pub const PREAMBLE_SIZE: usize = 32;

/// `record_count` value while the trace is still being written (or if the writer died): read
/// records up to the end of the file.
pub const COUNT_UNKNOWN: u64 = u64::MAX;

/// Bit of the preamble's `flags`: the writer finished and patched the count and metadata.
pub const FLAG_FINALISED: u32 = 1;

/// Byte offsets of the preamble's fields.
pub mod offset {
    /// `[u8; 8]` magic.
    pub const MAGIC: usize = 0;
    /// `u32` format version.
    pub const VERSION: usize = 8;
    /// `u32` size of one record.
    pub const RECORD_SIZE: usize = 12;
    /// `u32` length of the metadata region (JSON plus trailing spaces).
    pub const METADATA_LEN: usize = 16;
    /// `u32` flags ([`super::FLAG_FINALISED`]).
    pub const FLAGS: usize = 20;
    /// `u64` number of records, or [`super::COUNT_UNKNOWN`].
    pub const RECORD_COUNT: usize = 24;
}

/// Upper bound on the metadata region a reader accepts (64 MiB): a guard against reading a
/// corrupt length as a huge allocation.
pub const MAX_METADATA_LEN: u32 = 64 << 20;
