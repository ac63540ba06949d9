//! The trace reader on arbitrary bytes, then the analysis over whatever it accepts: no panic,
//! no hang, no allocation beyond the reader's one buffer and the metadata's declared length.
//!
//! Besides "does not crash", it checks what the reader promises (`trace/src/reader.rs`): the
//! block and record-by-record paths return the same records and stop at the same error, a
//! finalised trace read to its end has exactly its record count and no cut tail, and a cut
//! tail is less than a record. The analysis then runs the call-tree builder and the statistics
//! on the hostile records that passed validation (with every filter and with the probe-cost
//! subtraction), and the text report renders its results.

#![no_main]

use std::io::{self, Cursor};
use std::path::Path;

use kpath_analysis::report::{text::Text, Report};
use kpath_analysis::{analyze_reader, AnalysisOptions, Filter};
use kpath_trace::{EventKind, TraceReader, EVENT_SIZE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut blocks) = TraceReader::new(Cursor::new(data)) else {
        return;
    };
    let (mut by_block, mut exits) = (0u64, 0u64);
    let block_end = loop {
        match blocks.next_block() {
            Ok([]) => break Ok(()),
            Ok(b) => {
                by_block += b.len() as u64;
                exits += b.iter().filter(|e| e.kind == EventKind::Exit as u8).count() as u64;
            }
            Err(e) => break Err(e),
        }
    };
    let file_records = blocks.records_read();
    if !blocks.rebuilds_entries() {
        assert_eq!(by_block, file_records);
    } else if block_end.is_ok() {
        // Every exit of the file is returned, or counted as left out at the end.
        assert_eq!(exits + blocks.unplaced_exits(), file_records);
    } else {
        assert!(exits <= file_records);
    }
    if let Some(tail) = blocks.cut_tail() {
        assert!(!blocks.is_finalised(), "cut tail in a finalised trace");
        assert!(tail.bytes > 0 && tail.bytes < EVENT_SIZE, "{tail:?}");
        assert_eq!(tail.index, file_records);
    }
    if block_end.is_ok() {
        if let Some(expected) = blocks.expected_records() {
            assert_eq!(
                file_records, expected,
                "finalised trace read with another count"
            );
        }
    }

    let Ok(mut events) = TraceReader::new(Cursor::new(data)) else {
        panic!("the header parsed once but not twice");
    };
    let mut by_event = 0u64;
    let event_end = loop {
        match events.next_event() {
            Ok(Some(_)) => by_event += 1,
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    assert_eq!(by_event, by_block, "next_event and next_block disagree");
    assert_eq!(
        event_end.map_err(|e| e.to_string()),
        block_end.map_err(|e| e.to_string())
    );
    assert_eq!(events.cut_tail(), blocks.cut_tail());

    let Ok(reader) = TraceReader::new(Cursor::new(data)) else {
        return;
    };
    // Every filter, with and without the probe-cost subtraction, chosen by the input's length
    // so that the bytes keep their meaning.
    let options = AnalysisOptions {
        filter: [Filter::Interrupted, Filter::None, Filter::Net][data.len() % 3],
        subtract_probe_cost: data.len() / 3 % 2 == 1,
        ..AnalysisOptions::default()
    };
    let path = Path::new("fuzz.trace");
    if let Ok(results) = analyze_reader(reader, path, &options) {
        let _ = Text::default().write(&results, &mut io::sink());
    }
});
