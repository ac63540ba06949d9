//! Round trips, a trace written by hand from `docs/trace-format.md`, and every rejection the
//! reader promises, each checked for the offset it names.

use std::io::Cursor;

use kpath_trace::{
    flags, format, Event, EventKind, ExecContext, Mechanism, Metadata, TraceError, TraceReader,
    TraceWriter,
};

fn sample_metadata() -> Metadata {
    let mut m = Metadata::new("kpath-test 0", "6.1.0-test", 2);
    m.add_function(
        "udp_sendmsg",
        Some(0xffff_ffff_81a0_b1c0),
        None,
        Mechanism::Kprobe,
    );
    m.add_function(
        "veth_xmit",
        Some(0xffff_ffff_c000_1000),
        Some("veth".into()),
        Mechanism::Kprobe,
    );
    m.add_function("tp:net_dev_xmit", None, None, Mechanism::Tracepoint);
    m
}

fn sample_events() -> Vec<Event> {
    let enter = |f, ts, d| Event {
        ts_ns: ts,
        func_id: f,
        cpu: 1,
        pid: 100,
        tid: 101,
        depth: d,
        kind: EventKind::Enter as u8,
        ..Event::default()
    };
    let exit = |f, ts, d, dur| Event {
        ts_ns: ts,
        dur_ns: dur,
        func_id: f,
        cpu: 1,
        pid: 100,
        tid: 101,
        depth: d,
        kind: EventKind::Exit as u8,
        ..Event::default()
    };
    vec![
        enter(0, 1000, 0),
        enter(1, 1100, 1),
        Event {
            hardirqs: 1,
            irq_ns: 30,
            context: ExecContext::Process as u8,
            ..exit(1, 1250, 1, 150)
        },
        Event {
            flags: flags::RECURSIVE,
            ..exit(0, 1400, 0, 400)
        },
    ]
}

fn write_trace(events: &[Event]) -> Vec<u8> {
    let mut w = TraceWriter::new(Cursor::new(Vec::new()), sample_metadata()).expect("writer");
    for e in events {
        w.write_event(e).expect("write");
    }
    w.finish(|m| {
        m.stop_time_unix_ns = Some(42);
        m.lost_events_per_cpu = vec![0, 7];
    })
    .expect("finish")
    .into_inner()
}

fn read_all(bytes: &[u8]) -> Result<(Metadata, Vec<Event>), TraceError> {
    let mut r = TraceReader::new(bytes)?;
    let events = r.events().collect::<Result<Vec<_>, _>>()?;
    Ok((r.metadata().clone(), events))
}

#[test]
fn round_trip_keeps_metadata_and_records() {
    let events = sample_events();
    let bytes = write_trace(&events);
    let (meta, got) = read_all(&bytes).expect("read");
    assert_eq!(got, events);
    assert_eq!(meta.functions, sample_metadata().functions);
    assert_eq!(meta.stop_time_unix_ns, Some(42));
    assert_eq!(meta.lost_events(), 7);
    let r = TraceReader::new(&bytes[..]).expect("reader");
    assert!(r.is_finalised());
    assert_eq!(r.expected_records(), Some(4));
}

#[test]
fn round_trip_through_a_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.trace");
    let mut w = TraceWriter::create(&path, sample_metadata()).expect("create");
    for e in sample_events() {
        w.write_event(&e).expect("write");
    }
    w.finish(|_| {}).expect("finish");
    let mut r = TraceReader::open(&path).expect("open");
    assert_eq!(r.events().count(), 4);
}

#[test]
fn unfinished_trace_reads_to_end_of_file() {
    let mut out = Cursor::new(Vec::new());
    {
        // A recorder that dies: records flushed, `finish` never called.
        let mut w = TraceWriter::new(&mut out, sample_metadata()).expect("writer");
        for e in sample_events() {
            w.write_event(&e).expect("write");
        }
        w.flush().expect("flush");
    }
    let bytes = out.into_inner();
    assert_eq!(&bytes[24..32], &format::COUNT_UNKNOWN.to_le_bytes());
    let mut r = TraceReader::new(&bytes[..]).expect("reader");
    assert!(!r.is_finalised());
    assert_eq!(r.metadata().stop_time_unix_ns, None);
    let got = r.events().collect::<Result<Vec<_>, _>>().expect("events");
    assert_eq!(got, sample_events());
    assert_eq!(r.cut_tail(), None);

    // Salvage: the writer died inside the last record (a full disk, kill -9 mid-write). The
    // records before it are read, and the cut one is reported with its index and offset.
    for cut in [1, 32, 63] {
        let end = bytes.len() - 64 + cut;
        let mut r = TraceReader::new(&bytes[..end]).expect("reader");
        let got = r.events().collect::<Result<Vec<_>, _>>().expect("salvaged");
        assert_eq!(got, sample_events()[..3]);
        let tail = r.cut_tail().expect("the cut record is reported");
        assert_eq!((tail.index, tail.bytes), (3, cut));
        assert_eq!(tail.offset, (bytes.len() - 64) as u64);
        assert!(tail
            .to_string()
            .contains("read up to the last whole record (3 records)"));
    }
}

/// Writes a trace with plain byte operations, following only `docs/trace-format.md`.
#[test]
fn hand_written_trace_from_the_documented_layout() {
    let json = br#"{"tool":"by-hand","kernel_release":"6.1.0","clock_source":"bpf_ktime_get_ns (CLOCK_MONOTONIC)","cpu_count":4,"start_time_unix_ns":1,"functions":[{"id":0,"name":"ip_rcv","address":"0xffffffff81000010","mechanism":"kprobe"}],"lost_events_per_cpu":[0,0,0,0]}"#;
    let mut f = Vec::new();
    f.extend_from_slice(b"KPATHTRC"); // magic
    f.extend_from_slice(&1u32.to_le_bytes()); // version
    f.extend_from_slice(&64u32.to_le_bytes()); // record_size
    f.extend_from_slice(&((json.len() + 3) as u32).to_le_bytes()); // metadata_len (3 spaces pad)
    f.extend_from_slice(&1u32.to_le_bytes()); // flags: finalised
    f.extend_from_slice(&2u64.to_le_bytes()); // record_count
    f.extend_from_slice(json);
    f.extend_from_slice(b"   ");
    // Record 0: enter ip_rcv on CPU 3, softirq, depth 0, at t = 5000 ns.
    let mut rec = |ts: u64, dur: u64, kind: u8, hardirqs: u32| {
        let mut r = [0u8; 64];
        r[0..8].copy_from_slice(&ts.to_le_bytes());
        r[8..16].copy_from_slice(&dur.to_le_bytes());
        r[16..24].copy_from_slice(&11u64.to_le_bytes()); // irq_ns
        r[24..28].copy_from_slice(&0u32.to_le_bytes()); // func_id
        r[28..32].copy_from_slice(&3u32.to_le_bytes()); // cpu
        r[32..36].copy_from_slice(&0u32.to_le_bytes()); // pid
        r[36..40].copy_from_slice(&0u32.to_le_bytes()); // tid
        r[40..44].copy_from_slice(&hardirqs.to_le_bytes());
        r[44..48].copy_from_slice(&0u32.to_le_bytes()); // softirqs
        r[48..52].copy_from_slice(&0u32.to_le_bytes()); // switches
        r[52..54].copy_from_slice(&0u16.to_le_bytes()); // depth
        r[54] = kind;
        r[55] = 1; // context: softirq
        r[56..60].copy_from_slice(&0u32.to_le_bytes()); // flags
        r[60..64].copy_from_slice(&0u32.to_le_bytes()); // off_cpu_ns
        f.extend_from_slice(&r);
    };
    rec(5000, 0, 0, 0);
    rec(5750, 750, 1, 2);
    let (meta, events) = read_all(&f).expect("hand-written trace must read");
    assert_eq!(meta.functions[0].name, "ip_rcv");
    assert_eq!(meta.functions[0].address, Some(0xffff_ffff_8100_0010));
    assert_eq!(meta.cpu_count, 4);
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].dur_ns, 750);
    assert_eq!(events[1].hardirqs, 2);
    assert_eq!(events[1].irq_ns, 11);
    assert_eq!(events[1].context, ExecContext::SoftIrq as u8);
    assert!(events[1].interrupted());
}

#[test]
fn rejects_wrong_magic() {
    let mut bytes = write_trace(&sample_events());
    bytes[0] = b'X';
    match read_all(&bytes) {
        Err(e @ TraceError::BadMagic { .. }) => assert!(e.to_string().contains("offset 0"), "{e}"),
        other => panic!("expected BadMagic, got {other:?}"),
    }
}

#[test]
fn rejects_newer_version() {
    let mut bytes = write_trace(&sample_events());
    bytes[8..12].copy_from_slice(&(format::VERSION + 1).to_le_bytes());
    match read_all(&bytes) {
        Err(e @ TraceError::UnsupportedVersion { .. }) => {
            let want = format!("version {} at offset 8", format::VERSION + 1);
            assert!(e.to_string().contains(&want), "{e}")
        }
        other => panic!("expected UnsupportedVersion, got {other:?}"),
    }
}

#[test]
fn rejects_truncated_header() {
    let bytes = write_trace(&sample_events());
    for cut in [4, 20, format::PREAMBLE_SIZE + 10] {
        match read_all(&bytes[..cut]) {
            Err(TraceError::TruncatedHeader { file_len, .. }) => assert_eq!(file_len, cut as u64),
            Err(TraceError::BadMagic { .. }) if cut < 8 => {}
            other => panic!("cut at {cut}: expected TruncatedHeader, got {other:?}"),
        }
    }
}

#[test]
fn rejects_record_cut_in_half_naming_its_offset() {
    let bytes = write_trace(&sample_events());
    let cut = bytes.len() - 32;
    let record_start = (bytes.len() - 64) as u64;
    match read_all(&bytes[..cut]) {
        Err(e @ TraceError::TruncatedRecord { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains(&format!("record 3 at offset {record_start}")),
                "{msg}"
            );
            assert!(msg.contains("32 of 64 bytes"), "{msg}");
        }
        other => panic!("expected TruncatedRecord, got {other:?}"),
    }
}

#[test]
fn rejects_missing_and_trailing_records() {
    let bytes = write_trace(&sample_events());
    match read_all(&bytes[..bytes.len() - 64]) {
        Err(TraceError::MissingRecords {
            expected: 4,
            found: 3,
            ..
        }) => {}
        other => panic!("expected MissingRecords, got {other:?}"),
    }
    let mut longer = bytes.clone();
    longer.extend_from_slice(&[0u8; 5]);
    match read_all(&longer) {
        Err(TraceError::TrailingBytes { offset, .. }) => assert_eq!(offset, bytes.len() as u64),
        other => panic!("expected TrailingBytes, got {other:?}"),
    }
}

#[test]
fn rejects_bad_record_fields_naming_field_and_offset() {
    let bytes = write_trace(&sample_events());
    let first = bytes.len() - 4 * 64;
    let cases: [(usize, u8, &str); 4] = [
        (54, 7, "kind"),
        (55, 9, "context"),
        (24, 99, "func_id"),
        (28, 200, "cpu"),
    ];
    for (at, value, field) in cases {
        let mut b = bytes.clone();
        b[first + 64 + at] = value;
        match read_all(&b) {
            Err(e @ TraceError::BadRecord { .. }) => {
                let msg = e.to_string();
                assert!(
                    msg.contains(&format!("record 1 at offset {}", first + 64)),
                    "{msg}"
                );
                assert!(msg.contains(&format!("`{field}`")), "{msg}");
            }
            other => panic!("{field}: expected BadRecord, got {other:?}"),
        }
    }
}

#[test]
fn rejects_bad_metadata_json() {
    let mut bytes = write_trace(&sample_events());
    bytes[format::PREAMBLE_SIZE] = b'[';
    match read_all(&bytes) {
        Err(e @ TraceError::BadMetadata { .. }) => {
            assert!(e.to_string().contains("offset 32"), "{e}")
        }
        other => panic!("expected BadMetadata, got {other:?}"),
    }
}

#[test]
fn metadata_keeps_unknown_fields() {
    let mut m = sample_metadata();
    m.extra
        .insert("from_a_newer_writer".into(), serde_json::json!({"x": 1}));
    m.mode = Some(kpath_trace::recording::RecordMode::Trace);
    let mut w = TraceWriter::new(Cursor::new(Vec::new()), m).expect("writer");
    w.write_event(&sample_events()[0]).expect("write");
    let bytes = w.finish(|_| {}).expect("finish").into_inner();
    let (meta, _) = read_all(&bytes).expect("read");
    assert_eq!(
        meta.extra.get("from_a_newer_writer"),
        Some(&serde_json::json!({"x": 1}))
    );
    assert_eq!(meta.mode, Some(kpath_trace::recording::RecordMode::Trace));
    // The notes hold the recording fields and the unknown ones, and nothing of the core.
    let notes = meta.notes();
    assert_eq!(
        notes.keys().collect::<Vec<_>>(),
        ["from_a_newer_writer", "mode"]
    );
}

/// The notes of a metadata with every core field set are empty: each core field is in
/// `Metadata::notes`' list of what to leave out.
#[test]
fn notes_leave_out_every_core_field() {
    let mut m = sample_metadata();
    m.command_line = vec!["kpath-probe".into()];
    m.hostname = "h".into();
    m.stop_time_unix_ns = Some(2);
    m.start_monotonic_ns = Some(1);
    m.lost_events_per_cpu = vec![0, 0];
    m.probe_cost = vec![kpath_trace::ProbeCost {
        mechanism: Mechanism::Tracepoint,
        mean_ns: 1.0,
        variance_ns2: 0.0,
        samples: 1,
        median_ns: None,
        bare: None,
        caller: None,
    }];
    m.recorder = Some(kpath_trace::RecorderUsage {
        drain_period_ms: 1,
        wakeup_fill_bytes: 1,
        ring_bytes: 1,
        rings: 1,
        sched_batch: false,
        fill_wakeups: 0,
        batches: 0,
        records: 0,
        user_ns: 0,
        system_ns: 0,
        direct_writes: false,
    });
    assert!(m.notes().is_empty(), "{:?}", m.notes());
}

/// A malformed recording field is refused with its JSON path.
#[test]
fn malformed_recording_field_is_named() {
    let mut m = sample_metadata();
    m.extra.insert(
        "kernel_counters".into(),
        serde_json::json!({"unmatched_exits": -1}),
    );
    let w = TraceWriter::new(Cursor::new(Vec::new()), m).expect("writer");
    let bytes = w.finish(|_| {}).expect("finish").into_inner();
    let e = read_all(&bytes).expect_err("negative counter");
    assert!(
        e.to_string()
            .contains("field `kernel_counters.unmatched_exits`"),
        "{e}"
    );
}

/// The table of tasks the recorder writes when it finishes reads back, stays out of the notes,
/// and is absent (not empty) in traces written without it; a malformed entry is named.
#[test]
fn tasks_table_round_trips_and_old_traces_have_none() {
    use kpath_trace::recording::{Task, MAX_TASKS, TASK_JSON_MAX};
    let (old, _) = read_all(&write_trace(&sample_events())).expect("read");
    assert_eq!((old.tasks, old.tasks_left_out), (None, None));

    // The most entries a recorder writes, each as long as it can be, fit the reserve it
    // takes for them.
    let long = vec![0xffu8; 100];
    let tasks: Vec<Task> = (0..MAX_TASKS as u32)
        .map(|i| Task::named(u32::MAX - i, &long))
        .chain([Task::named(100, b"echo\n"), Task { pid: 7, comm: None }])
        .collect();
    let w = TraceWriter::with_reserve(
        Cursor::new(Vec::new()),
        sample_metadata(),
        (MAX_TASKS + 2) * TASK_JSON_MAX,
    )
    .expect("writer");
    let bytes = w
        .finish(|m| {
            m.tasks = Some(tasks.clone());
            m.tasks_left_out = Some(3);
        })
        .expect("the table fits")
        .into_inner();
    let (meta, _) = read_all(&bytes).expect("read");
    assert_eq!(meta.tasks.as_deref(), Some(&tasks[..]));
    assert_eq!(meta.tasks_left_out, Some(3));
    assert_eq!(meta.comm_of(100), Some("echo"));
    assert_eq!(meta.comm_of(7), None);
    assert!(!meta.notes().contains_key("tasks"));
    assert_eq!(
        meta.notes().get("tasks_left_out"),
        Some(&serde_json::json!(3))
    );

    let mut m = sample_metadata();
    m.extra.insert(
        "tasks".into(),
        serde_json::json!([{"pid": -1, "comm": "x"}]),
    );
    let w = TraceWriter::new(Cursor::new(Vec::new()), m).expect("writer");
    let bytes = w.finish(|_| {}).expect("finish").into_inner();
    let e = read_all(&bytes).expect_err("negative pid");
    assert!(e.to_string().contains("field `tasks[0].pid`"), "{e}");
}
