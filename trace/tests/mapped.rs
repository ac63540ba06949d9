//! A large finalised trace is read in place from a memory mapping (`trace/src/mapped.rs`):
//! the same records and the same refusals, at the same offsets, as when it is read as a
//! stream; and a file truncated by another program while mapped is an error, not a `SIGBUS`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use kpath_trace::{Event, EventKind, Mechanism, Metadata, TraceError, TraceReader, TraceWriter};

/// Records of the test trace: 2.5 MiB, above the 1 MiB below which traces are not mapped.
const RECORDS: u64 = 40_000;

fn write_trace(dir: &Path, records: u64, finalise: bool) -> PathBuf {
    let path = dir.join("t.trace");
    let mut m = Metadata::new("kpath-test 0", "6.1.0-test", 2);
    m.add_function("udp_sendmsg", None, None, Mechanism::Kprobe);
    m.add_function("veth_xmit", None, None, Mechanism::Kprobe);
    let mut w = TraceWriter::create(&path, m).expect("create");
    for i in 0..records {
        let exit = i % 2 == 1;
        w.write_event(&Event {
            ts_ns: 1_000 + i * 10,
            dur_ns: if exit { 10 } else { 0 },
            func_id: (i / 2 % 2) as u32,
            cpu: (i / 4 % 2) as u32,
            pid: 7,
            tid: 7,
            kind: if exit {
                EventKind::Exit as u8
            } else {
                EventKind::Enter as u8
            },
            ..Event::default()
        })
        .expect("write");
    }
    if finalise {
        w.finish(|_| {}).expect("finish");
    } else {
        w.flush().expect("flush");
    }
    path
}

/// Every record, by blocks, or the first error.
fn read(mut r: TraceReader<File>) -> Result<Vec<Event>, TraceError> {
    let mut all = Vec::new();
    loop {
        let block = r.next_block()?;
        if block.is_empty() {
            return Ok(all);
        }
        all.extend_from_slice(block);
    }
}

fn mapped(path: &Path) -> TraceReader<File> {
    let r = TraceReader::open(path).expect("open");
    assert!(r.is_mapped(), "a large finalised trace should be mapped");
    r
}

fn streamed(path: &Path) -> TraceReader<File> {
    let r = TraceReader::new(File::open(path).expect("open")).expect("header");
    assert!(!r.is_mapped());
    r
}

#[test]
fn a_large_finalised_trace_is_mapped_and_reads_as_a_stream_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_trace(dir.path(), RECORDS, true);
    let from_map = read(mapped(&path)).expect("mapped");
    let from_stream = read(streamed(&path)).expect("streamed");
    assert_eq!(from_map.len() as u64, RECORDS);
    assert_eq!(from_map, from_stream);
    // One by one too.
    let mut r = mapped(&path);
    let one_by_one = r.events().collect::<Result<Vec<_>, _>>().expect("events");
    assert_eq!(one_by_one, from_stream);
    assert_eq!(r.records_read(), RECORDS);
}

#[test]
fn small_and_unfinished_traces_are_read_as_streams() {
    let dir = tempfile::tempdir().expect("tempdir");
    let small = write_trace(dir.path(), 1_000, true);
    assert!(!TraceReader::open(&small).expect("open").is_mapped());
    let dir = tempfile::tempdir().expect("tempdir");
    let unfinished = write_trace(dir.path(), RECORDS, false);
    let r = TraceReader::open(&unfinished).expect("open");
    assert!(!r.is_mapped(), "an unfinished trace may still grow");
    assert_eq!(read(r).expect("read").len() as u64, RECORDS);
}

/// The error of reading `path` mapped and as a stream, which must say the same.
fn both_errors(path: &Path) -> String {
    let m = read(mapped(path)).expect_err("mapped read should fail");
    let s = read(streamed(path)).expect_err("streamed read should fail");
    assert_eq!(m.to_string(), s.to_string());
    m.to_string()
}

#[test]
fn a_mapped_trace_is_refused_for_what_a_streamed_one_is_at_the_same_offsets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_trace(dir.path(), RECORDS, true);
    let len = std::fs::metadata(&path).expect("stat").len();
    let first = len - RECORDS * 64;

    // A bad field deep in the trace, past the first blocks.
    let bad = 30_001u64;
    let mut bytes = std::fs::read(&path).expect("read");
    bytes[(first + bad * 64 + 24) as usize] = 99; // func_id
    std::fs::write(&path, &bytes).expect("write");
    let msg = both_errors(&path);
    assert!(
        msg.contains(&format!("record {bad} at offset {}", first + bad * 64)),
        "{msg}"
    );
    assert!(msg.contains("`func_id`"), "{msg}");
    bytes[(first + bad * 64 + 24) as usize] = 0;

    // Bytes after the last record.
    let mut longer = bytes.clone();
    longer.extend_from_slice(&[0u8; 5]);
    std::fs::write(&path, &longer).expect("write");
    let msg = both_errors(&path);
    assert!(msg.contains(&format!("at offset {len}")), "{msg}");

    // A last record cut in half, then a missing one.
    std::fs::write(&path, &bytes[..bytes.len() - 32]).expect("write");
    let msg = both_errors(&path);
    assert!(msg.contains("32 of 64 bytes"), "{msg}");
    std::fs::write(&path, &bytes[..bytes.len() - 64]).expect("write");
    let msg = both_errors(&path);
    assert!(
        msg.contains(&format!("promises {RECORDS} records")),
        "{msg}"
    );
}

#[test]
fn a_trace_truncated_while_mapped_is_an_error_not_a_crash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_trace(dir.path(), RECORDS, true);
    let len = std::fs::metadata(&path).expect("stat").len();
    let mut r = mapped(&path);
    let first = r.next_block().expect("first block").len();
    assert!(first > 0);
    // Another program cuts the file to half its length, then appends nothing: the mapped
    // pages past the new end are gone, and touching them raises SIGBUS.
    let f = OpenOptions::new().write(true).open(&path).expect("open");
    f.set_len(len / 2).expect("truncate");
    (&f).flush().expect("flush");
    let err = read(r).expect_err("reading past the cut should fail");
    assert!(matches!(err, TraceError::Shrank { .. }), "{err:?}");
    assert!(
        err.to_string().contains("truncated by another program"),
        "{err}"
    );
    // The handler is still there for the next mapping, and a healthy trace reads whole.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_trace(dir.path(), RECORDS, true);
    assert_eq!(read(mapped(&path)).expect("read").len() as u64, RECORDS);
}
