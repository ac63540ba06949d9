//! Traces without entry records (format version 3, metadata `entry_records: false`): the
//! reader returns the records a trace with entry records holds, per call stack, whichever way
//! it is read; and refuses what such a trace cannot hold, naming where.

use std::collections::BTreeMap;
use std::io::Cursor;

use kpath_trace::{
    format, Event, EventKind, ExecContext, Mechanism, Metadata, TraceError, TraceReader,
    TraceWriter,
};

fn metadata(entry_records: bool) -> Metadata {
    let mut m = Metadata::new("kpath-test 0", "6.1.0-test", 2);
    for name in ["udp_sendmsg", "ip_output", "veth_xmit", "tp:net_rx_softirq"] {
        m.add_function(name, None, None, Mechanism::Kprobe);
    }
    m.entry_records = (!entry_records).then_some(false);
    m
}

/// What the kernel writes with entry records for `n` calls of `udp_sendmsg` (each calling
/// `ip_output`, which calls `veth_xmit` twice) by two tasks taking turns, and a softirq call
/// on CPU 0 between each: every record of each stack in time order.
fn with_entries(n: u64) -> Vec<Event> {
    let mut out = Vec::new();
    let mut push = |kind: EventKind, func_id, depth, ts_ns, entry_ts: u64, tid, context| {
        let softirq = context == ExecContext::SoftIrq as u8;
        out.push(Event {
            ts_ns,
            dur_ns: if kind == EventKind::Exit {
                ts_ns - entry_ts
            } else {
                0
            },
            func_id,
            cpu: u32::from(!softirq),
            pid: if softirq { 0 } else { 100 },
            tid,
            depth,
            kind: kind as u8,
            context,
            ..Event::default()
        });
    };
    for i in 0..n {
        let t = 1_000 * i;
        let (tid, p) = (101 + (i % 2) as u32, ExecContext::Process as u8);
        push(EventKind::Enter, 0, 0, t, 0, tid, p);
        push(EventKind::Enter, 1, 1, t + 10, 0, tid, p);
        push(EventKind::Enter, 2, 2, t + 20, 0, tid, p);
        push(EventKind::Exit, 2, 2, t + 30, t + 20, tid, p);
        push(EventKind::Enter, 2, 2, t + 40, 0, tid, p);
        push(EventKind::Exit, 2, 2, t + 50, t + 40, tid, p);
        push(EventKind::Exit, 1, 1, t + 60, t + 10, tid, p);
        push(EventKind::Exit, 0, 0, t + 70, t, tid, p);
        let s = ExecContext::SoftIrq as u8;
        push(EventKind::Enter, 3, 0, t + 80, 0, 0, s);
        push(EventKind::Exit, 3, 0, t + 90, t + 80, 0, s);
    }
    out
}

fn exits(events: &[Event]) -> Vec<Event> {
    events
        .iter()
        .filter(|e| e.kind == EventKind::Exit as u8)
        .copied()
        .collect()
}

fn write(events: &[Event], entry_records: bool) -> Vec<u8> {
    let mut w = TraceWriter::new(Cursor::new(Vec::new()), metadata(entry_records)).expect("writer");
    for e in events {
        w.write_event(e).expect("write");
    }
    w.finish(|_| {}).expect("finish").into_inner()
}

/// Records per call stack, in order.
fn per_stack(events: &[Event]) -> BTreeMap<u64, Vec<Event>> {
    let mut m: BTreeMap<u64, Vec<Event>> = BTreeMap::new();
    for e in events {
        m.entry(e.stack_key()).or_default().push(*e);
    }
    m
}

#[test]
fn every_way_of_reading_returns_the_records_with_entries() {
    // Over a thousand records: several blocks, and trees across their edges.
    let full = with_entries(400);
    let bytes = write(&exits(&full), false);
    let want = per_stack(&full);

    let mut r = TraceReader::new(&bytes[..]).expect("reader");
    assert!(r.rebuilds_entries());
    let one_by_one = r.events().collect::<Result<Vec<_>, _>>().expect("events");
    assert_eq!(per_stack(&one_by_one), want);
    assert_eq!(r.records_read(), 400 * 5, "the file's records");
    assert_eq!(r.unplaced_exits(), 0);

    let mut r = TraceReader::new(&bytes[..]).expect("reader");
    let mut by_block = Vec::new();
    loop {
        let block = r.next_block().expect("block");
        if block.is_empty() {
            break;
        }
        by_block.extend_from_slice(block);
    }
    assert_eq!(by_block, one_by_one, "blocks and single records agree");

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("exits.trace");
    std::fs::write(&path, &bytes).expect("write");
    let mut r = TraceReader::open(&path).expect("open");
    // Mixed: a record, then blocks.
    let mut mixed = vec![r.next_event().expect("first").expect("a record")];
    loop {
        let block = r.next_block().expect("block");
        if block.is_empty() {
            break;
        }
        mixed.extend_from_slice(block);
    }
    assert_eq!(
        mixed, one_by_one,
        "a mapped file, read one record and then in blocks"
    );
}

#[test]
fn a_trace_with_entry_records_is_returned_as_it_is() {
    let full = with_entries(10);
    let bytes = write(&full, true);
    let mut r = TraceReader::new(&bytes[..]).expect("reader");
    assert!(!r.rebuilds_entries());
    let got = r.events().collect::<Result<Vec<_>, _>>().expect("events");
    assert_eq!(got, full);
}

#[test]
fn an_entry_record_is_refused_naming_its_index_and_offset() {
    let full = with_entries(3);
    let mut records = exits(&full);
    records.insert(4, full[0]);
    let bytes = write(&records, false);
    let mut r = TraceReader::new(&bytes[..]).expect("reader");
    let err = r
        .events()
        .collect::<Result<Vec<_>, _>>()
        .expect_err("an entry in a trace without entries");
    let offset = bytes.len() as u64 - (records.len() as u64 - 4) * 64;
    match &err {
        TraceError::BadRecord {
            index,
            offset: at,
            field,
            ..
        } => {
            assert_eq!((*index, *at, *field), (4, offset, "kind"), "{err}");
        }
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains("entry_records"), "{err}");
}

#[test]
fn an_older_version_cannot_leave_entries_out() {
    let mut bytes = write(&exits(&with_entries(2)), false);
    bytes[8..12].copy_from_slice(&(format::FIRST_EXITS_ONLY_VERSION - 1).to_le_bytes());
    let err = TraceReader::new(&bytes[..])
        .err()
        .expect("entry_records: false in version 2");
    assert!(
        err.to_string().contains("entry_records") && err.to_string().contains("version 2"),
        "{err}"
    );
}

#[test]
fn calls_still_open_when_an_unfinished_trace_ends_are_counted() {
    // The writer died after the inner calls of the last `udp_sendmsg` returned, before it did.
    let full = with_entries(5);
    let mut records = exits(&full);
    let last_root = records
        .iter()
        .rposition(|e| e.func_id == 0)
        .expect("a root");
    records.truncate(last_root);
    let mut out = Cursor::new(Vec::new());
    {
        let mut w = TraceWriter::new(&mut out, metadata(false)).expect("writer");
        for e in &records {
            w.write_event(e).expect("write");
        }
        w.flush().expect("flush");
    }
    let bytes = out.into_inner();
    let mut r = TraceReader::new(&bytes[..]).expect("reader");
    assert!(!r.is_finalised());
    let got = r.events().collect::<Result<Vec<_>, _>>().expect("events");
    assert_eq!(r.unplaced_exits(), 3, "veth_xmit twice and ip_output");
    assert_eq!(got.len(), 2 * (records.len() - 3));
}
