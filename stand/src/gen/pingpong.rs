//! Ping-pong: one datagram, wait for its reply or the timeout, repeat ("one after another").
//!
//! At most one datagram is ever outstanding: the next is sent only after the previous one was
//! answered or given up on.

use std::{
    io,
    net::UdpSocket,
    time::{Duration, Instant},
};

use super::{any_addr_for, classify, Counts, GenConfig, GenOutcome, GenReport, Status, Verdict};
use crate::{
    error::{Error, Result},
    payload::{self, Header},
    stats::{self, LatencySummary},
};

/// Runs the ping-pong pattern on one blocking socket.
pub fn run(cfg: &GenConfig) -> Result<GenOutcome> {
    let sock_err = |op| {
        let addr = cfg.target;
        move |source| Error::Socket { op, addr, source }
    };
    let sock = UdpSocket::bind(any_addr_for(cfg.target)).map_err(sock_err("bind"))?;
    sock.connect(cfg.target).map_err(sock_err("connect"))?;
    sock.set_read_timeout(Some(cfg.timeout))
        .map_err(sock_err("set SO_RCVTIMEO"))?;

    let total = cfg.warmup.saturating_add(cfg.count);
    let mut hist = stats::new_histogram();
    let mut counts = Counts::default();
    let mut statuses: Vec<Status> = Vec::new();
    let mut out = vec![0u8; cfg.size];
    let mut inbuf = vec![0u8; payload::MAX_SIZE + 1];
    let mut scratch = Vec::new();
    let start = Instant::now();
    let deadline = start + cfg.duration;
    let mut measured_start: Option<Instant> = None;
    let mut max_in_flight = 0u64;

    for seq in 0..total {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        let measured = seq >= cfg.warmup;
        if measured && measured_start.is_none() {
            measured_start = Some(now);
        }
        let header = Header {
            seq,
            send_ns: now.duration_since(start).as_nanos() as u64,
            client: 0,
        };
        payload::encode(&mut out, &header);
        statuses.push(Status::Pending);
        let t0 = Instant::now();
        if measured {
            counts.sent += 1;
        }
        if sock.send(&out).is_err() {
            counts.errors += 1;
            statuses[seq as usize] = Status::TimedOut;
            if measured {
                counts.lost += 1;
            }
            continue;
        }
        max_in_flight = max_in_flight.max(1);
        let give_up = t0 + cfg.timeout;
        let mut timeout_changed = false;
        let status = loop {
            match sock.recv(&mut inbuf) {
                Ok(n) => {
                    let t1 = Instant::now();
                    match classify(&inbuf[..n], &header, cfg, &mut statuses, &mut scratch) {
                        // The socket's timeout is rounded up to the kernel's tick: a reply it
                        // let through after --timeout is late, like any other.
                        Verdict::Match if t1.duration_since(t0) > cfg.timeout => {
                            counts.late += u64::from(measured);
                            break Status::TimedOut;
                        }
                        Verdict::Match => {
                            if measured {
                                stats::record(&mut hist, t1.duration_since(t0).as_nanos() as u64);
                            }
                            break Status::Answered;
                        }
                        Verdict::Late => counts.late += u64::from(measured),
                        Verdict::Duplicate => counts.duplicate += u64::from(measured),
                        Verdict::Corrupt => counts.corrupt += 1,
                    }
                    // Keep waiting for ours, but only until its own timeout.
                    let left = give_up.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break Status::TimedOut;
                    }
                    timeout_changed = true;
                    sock.set_read_timeout(Some(left.max(Duration::from_micros(1))))
                        .map_err(sock_err("set SO_RCVTIMEO"))?;
                }
                Err(e) if matches!(e.kind(), io::ErrorKind::Interrupted) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    break Status::TimedOut
                }
                Err(_) => {
                    counts.errors += 1;
                    break Status::TimedOut;
                }
            }
        };
        if timeout_changed {
            sock.set_read_timeout(Some(cfg.timeout))
                .map_err(sock_err("set SO_RCVTIMEO"))?;
        }
        statuses[seq as usize] = status;
        if measured {
            match status {
                Status::Answered => counts.received += 1,
                _ => counts.lost += 1,
            }
        }
    }
    let end = Instant::now();
    let span = measured_start
        .map(|m| end.duration_since(m).as_secs_f64())
        .unwrap_or(0.0);
    let mut report = GenReport::new(cfg, 1);
    report.counts = counts;
    report.max_in_flight = max_in_flight;
    report.rtt_ns = LatencySummary::from_histogram(&hist);
    report.set_rates(span);
    Ok(GenOutcome {
        report,
        histogram: hist,
    })
}
