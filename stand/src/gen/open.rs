//! Open loop: send on a seeded schedule ([`crate::arrival`]) regardless of replies.
//!
//! A sender thread waits for each due time with [`crate::pace::wait_until`] (sleep, then spin
//! the last 100 µs) and, when it falls behind, sends at once rather than skipping, so the
//! offered load is kept. A receiver thread matches replies. The RTT is measured from the
//! **intended** send time, so delay caused by the sender falling behind is counted as
//! latency and coordinated omission cannot hide queueing.

use std::{
    net::UdpSocket,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    thread,
    time::{Duration, Instant},
};

use super::{any_addr_for, Counts, Expect, GenConfig, GenOutcome, GenReport, Status};
use crate::{
    arrival::{Arrivals, Schedule},
    error::{Error, Result},
    pace,
    payload::{self, Header},
    stats::{self, LatencySummary, Moments},
};

/// A send is on time when it leaves less than this after its due time.
pub const ON_TIME_NS: u64 = 50_000;

/// Most datagrams one open-loop run may plan (8 bytes of schedule each).
pub const MAX_PLANNED: u64 = 50_000_000;

struct Shared {
    /// Intended send time of each datagram, ns since the start.
    intended: Vec<AtomicU64>,
    /// Datagrams handed to `send` so far.
    sent: AtomicU64,
    /// The sender has finished; `sent` is final.
    done: AtomicBool,
}

struct SenderResult {
    sent: u64,
    errors: u64,
    first_measured: Option<Instant>,
    intervals: Moments,
    on_time_intervals: Moments,
    on_time: u64,
    schedule: Moments,
    lag: hdrhistogram::Histogram<u64>,
}

/// Runs the open-loop pattern at `rate` datagrams/s with `arrivals` intervals.
pub fn run(cfg: &GenConfig, rate: f64, arrivals: Arrivals) -> Result<GenOutcome> {
    let schedule = Schedule::new(arrivals, rate, cfg.seed)?;
    let by_time = (rate * cfg.duration.as_secs_f64()).ceil() as u64 + 1;
    let planned = cfg.warmup.saturating_add(cfg.count).min(by_time);
    if planned > MAX_PLANNED {
        return Err(Error::InvalidArgument {
            flag: "--count",
            reason: format!(
                "an open-loop run plans at most {MAX_PLANNED} datagrams (asked for {planned}); \
                 lower --count, --duration or --rate"
            ),
        });
    }
    let err = |op| {
        let addr = cfg.target;
        move |source| Error::Socket { op, addr, source }
    };
    let sock = UdpSocket::bind(any_addr_for(cfg.target)).map_err(err("bind"))?;
    sock.connect(cfg.target).map_err(err("connect"))?;
    // Replies may arrive in bursts: give them room.
    let sock2 = socket2::SockRef::from(&sock);
    let _ = sock2.set_recv_buffer_size(4 << 20);
    sock.set_read_timeout(Some(Duration::from_millis(10)))
        .map_err(err("set SO_RCVTIMEO"))?;
    let rx_sock = sock.try_clone().map_err(err("clone"))?;

    let shared = Arc::new(Shared {
        intended: (0..planned).map(|_| AtomicU64::new(0)).collect(),
        sent: AtomicU64::new(0),
        done: AtomicBool::new(false),
    });
    let start = Instant::now();
    let rx_shared = Arc::clone(&shared);
    let rx_cfg = cfg.clone();
    let receiver = thread::Builder::new()
        .name("gen-rx".into())
        .spawn(move || receive(rx_sock, &rx_cfg, &rx_shared, start))
        .map_err(|e| Error::io("spawn the receiver thread", e))?;
    let tx = send(&sock, cfg, &shared, schedule, start);
    shared.done.store(true, Ordering::SeqCst);
    let (mut counts, hist, max_in_flight, last_reply) = receiver
        .join()
        .map_err(|_| Error::io("join the receiver", std::io::Error::other("panicked")))?;

    counts.sent = tx.sent.saturating_sub(cfg.warmup);
    counts.errors += tx.errors;
    counts.lost = counts.sent.saturating_sub(counts.received);
    let span = tx
        .first_measured
        .map(|f| last_reply.max(f).duration_since(f).as_secs_f64())
        .unwrap_or(0.0);
    let mut report = GenReport::new(cfg, 1);
    report.counts = counts;
    report.max_in_flight = max_in_flight;
    report.rtt_ns = LatencySummary::from_histogram(&hist);
    report.send_interval_ns = Some(tx.intervals.summary());
    report.schedule_interval_ns = Some(tx.schedule.summary());
    report.on_time_send_interval_ns = Some(tx.on_time_intervals.summary());
    report.on_time_fraction = Some(if counts.sent > 0 {
        tx.on_time as f64 / counts.sent as f64
    } else {
        0.0
    });
    report.send_lag_ns = Some(LatencySummary::from_histogram(&tx.lag));
    // The send rate is over the sending span; the receive rate over the span to the last reply.
    report.set_rates(span);
    if tx.intervals.count() > 0 {
        report.send_rate_per_s = 1e9 / tx.intervals.mean();
    }
    Ok(GenOutcome {
        report,
        histogram: hist,
    })
}

fn send(
    sock: &UdpSocket,
    cfg: &GenConfig,
    shared: &Shared,
    schedule: Schedule,
    start: Instant,
) -> SenderResult {
    pace::tighten_timer_slack();
    let mut res = SenderResult {
        sent: 0,
        errors: 0,
        first_measured: None,
        intervals: Moments::default(),
        on_time_intervals: Moments::default(),
        on_time: 0,
        schedule: Moments::default(),
        lag: stats::new_histogram(),
    };
    let limit_ns = cfg.duration.as_nanos() as u64;
    let mut out = vec![0u8; cfg.size];
    let mut prev: Option<(Instant, u64, bool)> = None;
    for (seq, due_ns) in (0..shared.intended.len() as u64).zip(schedule) {
        if due_ns > limit_ns {
            break;
        }
        shared.intended[seq as usize].store(due_ns, Ordering::Relaxed);
        payload::encode(
            &mut out,
            &Header {
                seq,
                send_ns: due_ns,
                client: 0,
            },
        );
        pace::wait_until(start + Duration::from_nanos(due_ns));
        shared.sent.store(seq + 1, Ordering::Release);
        let now = Instant::now();
        if sock.send(&out).is_err() {
            res.errors += 1;
        }
        res.sent += 1;
        if seq >= cfg.warmup {
            res.first_measured.get_or_insert(now);
            let actual_ns = now.duration_since(start).as_nanos() as u64;
            let lag = actual_ns.saturating_sub(due_ns);
            stats::record(&mut res.lag, lag);
            let on_time = lag < ON_TIME_NS;
            res.on_time += u64::from(on_time);
            if let Some((p, pdue, p_on_time)) = prev {
                let interval = now.duration_since(p).as_nanos() as f64;
                res.intervals.push(interval);
                if on_time && p_on_time {
                    res.on_time_intervals.push(interval);
                }
                res.schedule.push(due_ns.saturating_sub(pdue) as f64);
            }
            prev = Some((now, due_ns, on_time));
        }
    }
    res
}

type ReceiveResult = (Counts, hdrhistogram::Histogram<u64>, u64, Instant);

fn receive(sock: UdpSocket, cfg: &GenConfig, shared: &Shared, start: Instant) -> ReceiveResult {
    let reversed = cfg.expect == Expect::Reverse;
    let timeout_ns = cfg.timeout.as_nanos() as u64;
    let hard_stop = start + cfg.duration + cfg.timeout + Duration::from_secs(1);
    let mut statuses = vec![Status::Pending; shared.intended.len()];
    let mut counts = Counts::default();
    let mut hist = stats::new_histogram();
    let mut buf = vec![0u8; payload::MAX_SIZE + 1];
    let mut scratch = Vec::new();
    let mut answered = 0u64;
    let mut max_in_flight = 0u64;
    let mut last_reply = start;
    loop {
        let now = Instant::now();
        if now >= hard_stop {
            break;
        }
        if shared.done.load(Ordering::SeqCst) {
            let sent = shared.sent.load(Ordering::Acquire);
            if answered >= sent {
                break;
            }
            let last_due = sent
                .checked_sub(1)
                .map(|s| shared.intended[s as usize].load(Ordering::Relaxed))
                .unwrap_or(0);
            if now >= start + Duration::from_nanos(last_due + timeout_ns) {
                break;
            }
        }
        let n = match sock.recv(&mut buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            Err(_) => {
                counts.errors += 1;
                continue;
            }
        };
        let t = Instant::now();
        let sent = shared.sent.load(Ordering::Acquire);
        let (low, bits) = payload::seq_bits(&buf[..n], reversed);
        let seq = payload::unwrap_seq(low, bits, sent.saturating_sub(1));
        if seq >= sent {
            counts.corrupt += 1;
            continue;
        }
        let due_ns = shared.intended[seq as usize].load(Ordering::Relaxed);
        let header = Header {
            seq,
            send_ns: due_ns,
            client: 0,
        };
        if !payload::matches(&buf[..n], &header, cfg.size, reversed, &mut scratch) {
            counts.corrupt += 1;
            continue;
        }
        let measured = seq >= cfg.warmup;
        let status = &mut statuses[seq as usize];
        match *status {
            Status::Pending => {
                answered += 1;
                let rtt = (t.duration_since(start).as_nanos() as u64).saturating_sub(due_ns);
                if rtt > timeout_ns {
                    *status = Status::Late;
                    counts.late += u64::from(measured);
                } else {
                    *status = Status::Answered;
                    if measured {
                        counts.received += 1;
                        stats::record(&mut hist, rtt);
                        last_reply = t;
                    }
                }
                max_in_flight = max_in_flight.max(sent.saturating_sub(answered) + 1);
            }
            _ => counts.duplicate += u64::from(measured),
        }
    }
    (counts, hist, max_in_flight, last_reply)
}
