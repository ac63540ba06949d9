//! `EventRings`, kpath's consumer of the event rings (`probe-user/src/ring.rs`), on real rings
//! filled by the `sys_sendto` tracepoint pair: records in order, also across the rings of two
//! CPUs; a read that stops keeps the rest for the next one; the space read is given back to
//! the producers.

mod common;

use kpath_probe::loader::Mode;
use kpath_probe::ring::EventRings;
use kpath_probe::{Probes, Settings};
use probe_common::{stage::TpStage, Event, EventKind, EVENT_SIZE};

/// Bytes of the ring: 64 KiB, about 900 records; each burst below is 200.
const RING_BYTES: u32 = 64 << 10;

fn event(item: &[u8]) -> Event {
    let raw = <&[u8; EVENT_SIZE]>::try_from(item).expect("a record of EVENT_SIZE bytes");
    Event::from_le_bytes(raw)
}

/// This process's `sys_sendto` calls recorded into rings of `ring_bytes` each (default:
/// kpath's), and the rings to read them from.
fn sendto_rings(ring_bytes: Option<u32>) -> (Probes, EventRings) {
    let mut probes = Probes::load(Settings {
        // Entry records too: the tests check that each call's two records stay together.
        mode: Mode::TraceWithEntries,
        filter_pid: Some(std::process::id()),
        ring_buffer_bytes: ring_bytes,
        ..Settings::default()
    })
    .expect("load");
    probes
        .attach_stage(TpStage::SysSendto, 0)
        .expect("attach sys_sendto");
    let rings = probes.take_events().expect("rings");
    (probes, rings)
}

#[test]
fn the_ring_is_read_in_order_a_stopped_read_keeps_the_rest_and_space_comes_back() {
    if !common::can_run("ring") {
        return;
    }
    let _only_sender = common::PID_COUNTED_SENDS
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let (probes, mut ring) = sendto_rings(Some(RING_BYTES));
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() } as u32;

    // A read that stops after 30 records leaves the other 170 for the next read.
    common::sendto_calls(100);
    let mut first = Vec::new();
    let handed = ring.read(|item| {
        first.push(event(item));
        first.len() < 30
    });
    assert_eq!(handed, 30);
    let mut all = first;
    let handed = ring.read(|item| {
        all.push(event(item));
        true
    });
    assert_eq!(handed, 170);
    assert_eq!(ring.read(|_| true), 0, "nothing is left");
    let ours: Vec<&Event> = all.iter().filter(|e| e.tid == tid).collect();
    assert_eq!(ours.len(), 200);
    for (i, pair) in ours.chunks(2).enumerate() {
        assert_eq!(pair[0].kind, EventKind::Enter as u8, "call {i}");
        assert_eq!(pair[1].kind, EventKind::Exit as u8, "call {i}");
        assert!(pair[0].ts_ns <= pair[1].ts_ns, "call {i}");
    }
    assert!(
        all.windows(2).all(|w| w[0].ts_ns <= w[1].ts_ns),
        "one thread's records come in time order"
    );

    // Ten bursts of 200 records (14 KiB each), 144 KiB in all through a 64 KiB ring: without
    // the consumer position given back, the later bursts would find the ring full.
    let mut read = 0;
    for _ in 0..10 {
        common::sendto_calls(100);
        read += ring.read(|_| true);
    }
    assert_eq!(read, 2_000);
    let lost = kpath_trace::saturating_sum(&probes.lost_per_cpu().expect("lost"));
    assert_eq!(lost, 0, "no record was lost");
}

#[test]
fn a_thread_that_moves_between_cpus_gets_its_records_in_time_order_across_the_rings() {
    if !common::can_run("ring") {
        return;
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus < 2 {
        eprintln!("skipped: one CPU, so one event ring; the merge of two needs two CPUs");
        return;
    }
    let _only_sender = common::PID_COUNTED_SENDS
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let (probes, mut ring) = sendto_rings(None);
    assert!(probes.event_ring_count() >= 2, "a ring per CPU");
    // 200 calls from one thread, each on the other CPU than the one before: CPU 0's records go
    // to ring 0 and CPU 1's to ring 1, so read ring by ring they would come out of order.
    let mover = std::thread::spawn(|| {
        for i in 0..200 {
            common::pin_to(i % 2);
            common::sendto_calls(1);
        }
        // SAFETY: gettid has no preconditions.
        unsafe { libc::gettid() as u32 }
    })
    .join()
    .expect("the moving thread");
    let mut theirs = Vec::new();
    ring.read(|item| {
        let e = event(item);
        if e.tid == mover {
            theirs.push(e);
        }
        true
    });
    assert_eq!(theirs.len(), 400, "200 calls of the moving thread");
    for cpu in [0, 1] {
        assert_eq!(
            theirs.iter().filter(|e| e.cpu == cpu).count(),
            200,
            "100 calls on CPU {cpu}"
        );
    }
    for (i, pair) in theirs.chunks(2).enumerate() {
        assert_eq!(pair[0].kind, EventKind::Enter as u8, "call {i}");
        assert_eq!(pair[1].kind, EventKind::Exit as u8, "call {i}");
        assert_eq!(pair[0].cpu, pair[1].cpu, "call {i}");
    }
    assert!(
        theirs.windows(2).all(|w| w[0].ts_ns <= w[1].ts_ns),
        "the merged read gives the thread's records in time order"
    );
    let lost = kpath_trace::saturating_sum(&probes.lost_per_cpu().expect("lost"));
    assert_eq!(lost, 0, "no record was lost");
}
