//! Records written around the page cache (`TraceWriter::write_directly`): the same bytes as a
//! buffered writer, readable while the trace grows, in batches of every size around a block.

use kpath_trace::{
    format, DirectWrites, Event, EventKind, Mechanism, Metadata, TraceReader, TraceWriter,
};

fn metadata() -> Metadata {
    let mut m = Metadata::new("kpath-test 0", "6.1.0-test", 2);
    m.add_function("udp_sendmsg", None, None, Mechanism::Kprobe);
    m.add_function("tp:net_dev_xmit", None, None, Mechanism::Tracepoint);
    m
}

/// `n` records numbered from `first` (in `ts_ns`), alternating enter and exit.
fn records(first: u64, n: usize) -> Vec<Event> {
    (0..n as u64)
        .map(|i| {
            let k = first + i;
            Event {
                ts_ns: 1_000 + k,
                func_id: (k % 2) as u32,
                cpu: (k % 2) as u32,
                pid: 7,
                tid: 7,
                kind: if k.is_multiple_of(2) {
                    EventKind::Enter as u8
                } else {
                    EventKind::Exit as u8
                },
                ..Event::default()
            }
        })
        .collect()
}

fn bytes_of(events: &[Event]) -> Vec<u8> {
    events.iter().flat_map(|e| e.to_le_bytes()).collect()
}

/// Batch sizes around the 64-record block and across the 4 MiB staging buffer.
const BATCHES: [usize; 9] = [1, 63, 1, 64, 65, 127, 1000, 70_000, 3];

fn read_all(path: &std::path::Path) -> Vec<Event> {
    let mut r = TraceReader::open(path).expect("open");
    r.events().collect::<Result<Vec<_>, _>>().expect("records")
}

#[test]
fn direct_writes_give_the_same_trace_and_show_every_batch_at_once() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let direct_path = dir.path().join("direct.trace");
    let buffered_path = dir.path().join("buffered.trace");
    let mut direct = TraceWriter::create(&direct_path, metadata()).expect("create");
    let mut buffered = TraceWriter::create(&buffered_path, metadata()).expect("create");
    if !direct.write_directly().expect("write_directly").is_on() {
        eprintln!(
            "SKIP {}: the file system of {} refuses O_DIRECT (ramfs is tested below)",
            module_path!(),
            dir.path().display()
        );
        return;
    }
    let mut written = Vec::new();
    for n in BATCHES {
        let batch = records(written.len() as u64, n);
        direct.write_records(&bytes_of(&batch)).expect("direct");
        direct.flush().expect("flush");
        buffered.write_records(&bytes_of(&batch)).expect("buffered");
        written.extend(batch);
        // A reader of the unfinished trace sees every record so far, and nothing more.
        assert_eq!(read_all(&direct_path), written, "after a batch of {n}");
    }
    assert!(direct.writes_directly(), "a direct write fell back");
    // The 70 000-record batch (4.5 MB) went around the page cache, the small ones did not.
    assert!(
        direct.direct_bytes() >= 4 << 20,
        "{}",
        direct.direct_bytes()
    );
    direct.finish(|_| {}).expect("finish direct");
    buffered.finish(|_| {}).expect("finish buffered");
    let (d, b) = (
        std::fs::read(&direct_path).expect("read"),
        std::fs::read(&buffered_path).expect("read"),
    );
    assert_eq!(d.len(), b.len());
    assert!(d == b, "the two files differ");
    let mut r = TraceReader::open(&direct_path).expect("open");
    assert_eq!(r.expected_records(), Some(written.len() as u64));
    assert_eq!(r.events().count(), written.len());
}

/// `flush_blocks`, the recorder's flush after each drain: while batches write whole blocks,
/// the last partial block waits for the next batch, and a flush with no batch in between
/// writes it. `flush` and `finish` write everything.
#[test]
fn flush_blocks_holds_a_flowing_partial_block_for_one_batch() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let path = dir.path().join("direct.trace");
    let mut w = TraceWriter::create(&path, metadata()).expect("create");
    if !w.write_directly().expect("write_directly").is_on() {
        eprintln!(
            "SKIP {}: the file system of {} refuses O_DIRECT",
            module_path!(),
            dir.path().display()
        );
        return;
    }
    let mut written = Vec::new();
    let mut write = |w: &mut TraceWriter<std::fs::File>, n: usize| {
        let batch = records(written.len() as u64, n);
        w.write_records(&bytes_of(&batch)).expect("write");
        written.extend(batch);
        w.flush_blocks().expect("flush_blocks");
        written.clone()
    };
    // 70 000 records: 1 093 whole blocks of 64 and 48 records held back.
    let all = write(&mut w, 70_000);
    assert_eq!(read_all(&path), all[..69_952]);
    // 100 more complete that block and the next: 20 held back.
    let all = write(&mut w, 100);
    assert_eq!(read_all(&path), all[..70_080]);
    // A drain with nothing new: what was held goes out.
    w.flush_blocks().expect("flush_blocks");
    assert_eq!(read_all(&path), all);
    // A batch that completes no block is not held.
    let all = write(&mut w, 10);
    assert_eq!(read_all(&path), all);
    // `finish` writes a held block.
    let all = write(&mut w, 200);
    assert_eq!(read_all(&path).len(), 70_272);
    w.finish(|_| {}).expect("finish");
    assert_eq!(read_all(&path), all);
}

#[test]
fn records_start_on_a_block_boundary() {
    let mut out = std::io::Cursor::new(Vec::new());
    let w = TraceWriter::new(&mut out, metadata()).expect("writer");
    w.finish(|_| {}).expect("finish");
    let bytes = out.into_inner();
    let at = format::offset::METADATA_LEN;
    let metadata_len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    assert_eq!((format::PREAMBLE_SIZE + metadata_len as usize) % 4096, 0);
    assert_eq!(bytes.len(), format::PREAMBLE_SIZE + metadata_len as usize);
}

/// Direct writes asked for on a trace that already has records are not started: the records
/// written buffered stay where they are.
#[test]
fn direct_writes_start_only_before_the_first_record() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let path = dir.path().join("late.trace");
    let mut w = TraceWriter::create(&path, metadata()).expect("create");
    let first = records(0, 5);
    w.write_records(&bytes_of(&first)).expect("write");
    assert!(!w.write_directly().expect("write_directly").is_on());
    assert!(!w.writes_directly());
    let second = records(5, 200);
    w.write_records(&bytes_of(&second)).expect("write");
    w.finish(|_| {}).expect("finish");
    let all: Vec<Event> = first.into_iter().chain(second).collect();
    assert_eq!(read_all(&path), all);
}

/// On a file system without `O_DIRECT` (ramfs) the writer says so and writes the records as
/// before. Mounting needs root: skipped otherwise.
#[test]
fn a_file_system_without_direct_io_gets_buffered_records() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let mnt = dir.path().join("ramfs");
    std::fs::create_dir(&mnt).expect("mkdir");
    let mounted = std::process::Command::new("mount")
        .args(["-t", "ramfs", "kpath-test"])
        .arg(&mnt)
        .stderr(std::process::Stdio::null())
        .status();
    if !mounted.is_ok_and(|s| s.success()) {
        eprintln!(
            "SKIP {}: cannot mount a ramfs here (needs root)",
            module_path!()
        );
        return;
    }
    struct Unmount<'a>(&'a std::path::Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&mnt);
    let path = mnt.join("t.trace");
    let mut w = TraceWriter::create(&path, metadata()).expect("create");
    match w.write_directly().expect("write_directly") {
        DirectWrites::On => panic!("ramfs took O_DIRECT"),
        // The reason is kept for the recorder's message: ramfs refuses the open.
        DirectWrites::Refused(e) => assert_eq!(
            e.raw_os_error(),
            Some(libc::EINVAL),
            "ramfs refuses O_DIRECT with EINVAL: {e}"
        ),
    }
    let mut written = Vec::new();
    for n in [1, 100, 64] {
        let batch = records(written.len() as u64, n);
        w.write_records(&bytes_of(&batch)).expect("write");
        w.flush().expect("flush");
        written.extend(batch);
        assert_eq!(read_all(&path), written);
    }
    w.finish(|_| {}).expect("finish");
    assert_eq!(read_all(&path), written);
}
