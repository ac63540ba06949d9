//! What the entry and exit programs do, as the `MODE` global that user space sets at load time
//! (`EbpfLoader::override_global`): one set of numbers for both sides.

/// Every exit becomes a record in the `EVENTS` rings; entries only open their frame. An exit
/// carries its entry's time (`ts_ns - dur_ns`) and depth, so readers rebuild the entries
/// (`docs/trace-format.md`, "Traces without entry records"). Half the records of
/// [`TRACE_ENTRIES`], for the same information about every call that returns.
pub const TRACE: u32 = 0;
/// Only `CALL_COUNTS` is updated (discovery): the cheapest.
pub const COUNT: u32 = 1;
/// Calls are timed as in trace mode but aggregated in `FUNC_STATS`; no records.
pub const STATS: u32 = 2;
/// As [`TRACE`], and every entry becomes a record too (kpath 0.1's trace mode): what calls
/// that never returned (unwound, or open when the recording stopped) looked like at entry.
pub const TRACE_ENTRIES: u32 = 3;
