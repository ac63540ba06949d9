//! Closed loop: `clients` concurrent ping-pong clients, each with its own socket (so its own
//! source port), on a tokio runtime with two worker threads.
//!
//! Clients draw datagrams from one shared budget of `warmup + count` tickets, so the whole run
//! sends exactly that many; the first `warmup` tickets are not measured. At most `clients`
//! datagrams are outstanding at once.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Instant,
};

use hdrhistogram::Histogram;
use tokio::net::UdpSocket;

use super::{any_addr_for, classify, Counts, GenConfig, GenOutcome, GenReport, Status, Verdict};
use crate::{
    error::{Error, Result},
    payload::{self, Header},
    stats::{self, LatencySummary},
};

struct Shared {
    tickets: AtomicU64,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
    first_measured_ns: AtomicU64,
}

struct ClientResult {
    counts: Counts,
    hist: Histogram<u64>,
}

/// Runs `clients` ping-pong clients concurrently.
pub fn run(cfg: &GenConfig, clients: u32) -> Result<GenOutcome> {
    if clients == 0 {
        return Err(Error::InvalidArgument {
            flag: "--clients",
            reason: "need at least one client".into(),
        });
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::io("start the tokio runtime", e))?;
    rt.block_on(run_async(cfg, clients))
}

async fn run_async(cfg: &GenConfig, clients: u32) -> Result<GenOutcome> {
    let mut sockets = Vec::with_capacity(clients as usize);
    for _ in 0..clients {
        let err = |op| {
            let addr = cfg.target;
            move |source| Error::Socket { op, addr, source }
        };
        let s = UdpSocket::bind(any_addr_for(cfg.target))
            .await
            .map_err(err("bind"))?;
        s.connect(cfg.target).await.map_err(err("connect"))?;
        sockets.push(s);
    }
    let shared = Arc::new(Shared {
        tickets: AtomicU64::new(0),
        in_flight: AtomicU64::new(0),
        max_in_flight: AtomicU64::new(0),
        first_measured_ns: AtomicU64::new(u64::MAX),
    });
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (id, sock) in sockets.into_iter().enumerate() {
        let cfg = cfg.clone();
        let shared = Arc::clone(&shared);
        tasks.spawn(async move { client(id as u32, sock, cfg, shared, start).await });
    }
    let mut counts = Counts::default();
    let mut hist = stats::new_histogram();
    while let Some(res) = tasks.join_next().await {
        let r = res.map_err(|e| Error::io("join a client task", std::io::Error::other(e)))?;
        counts.add(&r.counts);
        hist.add(&r.hist).map_err(|e| Error::Parse {
            what: "client histograms".into(),
            detail: e.to_string(),
        })?;
    }
    let end_ns = start.elapsed().as_nanos() as u64;
    let first = shared.first_measured_ns.load(Ordering::SeqCst);
    let span = if first == u64::MAX {
        0.0
    } else {
        end_ns.saturating_sub(first) as f64 / 1e9
    };
    let mut report = GenReport::new(cfg, clients);
    report.counts = counts;
    report.max_in_flight = shared.max_in_flight.load(Ordering::SeqCst);
    report.rtt_ns = LatencySummary::from_histogram(&hist);
    report.set_rates(span);
    Ok(GenOutcome {
        report,
        histogram: hist,
    })
}

async fn client(
    id: u32,
    sock: UdpSocket,
    cfg: GenConfig,
    shared: Arc<Shared>,
    start: Instant,
) -> ClientResult {
    let total = cfg.warmup.saturating_add(cfg.count);
    let deadline = start + cfg.duration;
    let mut counts = Counts::default();
    let mut hist = stats::new_histogram();
    let mut statuses: Vec<Status> = Vec::new();
    let mut out = vec![0u8; cfg.size];
    let mut inbuf = vec![0u8; payload::MAX_SIZE + 1];
    let mut scratch = Vec::new();
    loop {
        if Instant::now() >= deadline {
            break;
        }
        let ticket = shared.tickets.fetch_add(1, Ordering::SeqCst);
        if ticket >= total {
            break;
        }
        let measured = ticket >= cfg.warmup;
        let seq = statuses.len() as u64;
        let t0 = Instant::now();
        if measured {
            shared
                .first_measured_ns
                .fetch_min(t0.duration_since(start).as_nanos() as u64, Ordering::SeqCst);
            counts.sent += 1;
        }
        let header = Header {
            seq,
            send_ns: t0.duration_since(start).as_nanos() as u64,
            client: id,
        };
        payload::encode(&mut out, &header);
        statuses.push(Status::Pending);
        let now_in = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        shared.max_in_flight.fetch_max(now_in, Ordering::SeqCst);
        let give_up = tokio::time::Instant::from_std(t0 + cfg.timeout);
        let status = if sock.send(&out).await.is_err() {
            counts.errors += 1;
            Status::TimedOut
        } else {
            loop {
                match tokio::time::timeout_at(give_up, sock.recv(&mut inbuf)).await {
                    Err(_) => break Status::TimedOut,
                    Ok(Err(_)) => {
                        counts.errors += 1;
                        break Status::TimedOut;
                    }
                    Ok(Ok(n)) => {
                        let t1 = Instant::now();
                        match classify(&inbuf[..n], &header, &cfg, &mut statuses, &mut scratch) {
                            // The timer fires on a millisecond grid: a reply that beat it
                            // but not --timeout is late, like any other.
                            Verdict::Match if t1.duration_since(t0) > cfg.timeout => {
                                counts.late += u64::from(measured);
                                break Status::TimedOut;
                            }
                            Verdict::Match => {
                                if measured {
                                    stats::record(
                                        &mut hist,
                                        t1.duration_since(t0).as_nanos() as u64,
                                    );
                                }
                                break Status::Answered;
                            }
                            Verdict::Late => counts.late += u64::from(measured),
                            Verdict::Duplicate => counts.duplicate += u64::from(measured),
                            Verdict::Corrupt => counts.corrupt += 1,
                        }
                    }
                }
            }
        };
        shared.in_flight.fetch_sub(1, Ordering::SeqCst);
        statuses[seq as usize] = status;
        if measured {
            match status {
                Status::Answered => counts.received += 1,
                _ => counts.lost += 1,
            }
        }
    }
    ClientResult { counts, hist }
}
