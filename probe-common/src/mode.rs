//! What the entry and exit programs do, as the `MODE` global that user space sets at load time
//! (`EbpfLoader::override_global`): one set of numbers for both sides.

/// Every entry and exit becomes a record in the `EVENTS` ring.
pub const TRACE: u32 = 0;
/// Only `CALL_COUNTS` is updated (discovery): the cheapest.
pub const COUNT: u32 = 1;
/// Calls are timed as in trace mode but aggregated in `FUNC_STATS`; no records.
pub const STATS: u32 = 2;
