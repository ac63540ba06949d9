//! The load generator: sends numbered, timestamped datagrams, matches the replies, and
//! reports round-trip times and losses.
//!
//! Three patterns ([`Pattern`]): ping-pong ([`pingpong`]), a closed loop of several ping-pong
//! clients ([`closed`]) and an open loop on a schedule ([`open`]). Every run is bounded both by
//! a count and by a duration ([`GenConfig::count`], [`GenConfig::duration`]).
//!
//! Accounting, the same in every pattern, for measured (non-warm-up) datagrams:
//! `sent` = `received` + `lost`; `late` replies arrived after `timeout` and are part of `lost`;
//! `duplicate` are extra replies to an already answered datagram; `corrupt` are replies whose
//! bytes differ from what was sent (or that match no datagram sent); `errors` are failed
//! sends/receives (e.g. `ECONNREFUSED` when nothing listens).

pub mod closed;
pub mod open;
pub mod pingpong;
pub mod report;

use std::{
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::{
    arrival::Arrivals,
    error::{Error, Result},
    payload::{self, Header},
};
pub use report::GenReport;

/// How datagrams are sent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "pattern", rename_all = "lowercase")]
pub enum Pattern {
    /// One datagram at a time: send, wait for its reply (or the timeout), repeat.
    PingPong,
    /// `clients` concurrent ping-pong clients, each with its own socket.
    Closed {
        /// Number of clients (reported as the report's `clients`).
        #[serde(skip)]
        clients: u32,
    },
    /// Send on a schedule regardless of replies.
    Open {
        /// Mean datagrams per second.
        rate: f64,
        /// Inter-arrival distribution.
        arrivals: Arrivals,
    },
}

/// What the server is expected to send back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    /// The same bytes (echo and forward modes).
    #[default]
    Echo,
    /// The bytes reversed (reverse mode).
    Reverse,
}

/// Generator settings.
#[derive(Debug, Clone)]
pub struct GenConfig {
    /// Server address.
    pub target: SocketAddr,
    /// Payload bytes per datagram (1..=65507).
    pub size: usize,
    /// Measured datagrams to send (after the warm-up).
    pub count: u64,
    /// Upper bound on the whole run, warm-up included.
    pub duration: Duration,
    /// Datagrams sent first and not measured.
    pub warmup: u64,
    /// Seed for the arrival schedule.
    pub seed: u64,
    /// A reply later than this after its (intended) send time is late, and the datagram lost.
    pub timeout: Duration,
    /// Sending pattern.
    pub pattern: Pattern,
    /// What replies should contain.
    pub expect: Expect,
    /// Allow targets outside loopback.
    pub allow_remote: bool,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            target: SocketAddr::from(([127, 0, 0, 1], 9000)),
            size: 64,
            count: 10_000,
            duration: Duration::from_secs(60),
            warmup: 0,
            seed: 1,
            timeout: Duration::from_secs(1),
            pattern: Pattern::PingPong,
            expect: Expect::Echo,
            allow_remote: false,
        }
    }
}

/// Counters of one run (measured datagrams only, except `corrupt` and `errors`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Datagrams sent.
    pub sent: u64,
    /// Datagrams answered in time with the right bytes.
    pub received: u64,
    /// Datagrams without a good reply within the timeout (`sent − received`).
    pub lost: u64,
    /// Replies that came after the timeout (included in `lost`).
    pub late: u64,
    /// Extra replies to datagrams already answered.
    pub duplicate: u64,
    /// Replies with wrong bytes, or matching nothing sent.
    pub corrupt: u64,
    /// Failed sends and receives.
    pub errors: u64,
}

impl Counts {
    /// Adds another client's counts.
    pub fn add(&mut self, o: &Counts) {
        self.sent += o.sent;
        self.received += o.received;
        self.lost += o.lost;
        self.late += o.late;
        self.duplicate += o.duplicate;
        self.corrupt += o.corrupt;
        self.errors += o.errors;
    }
}

/// A finished run: the report and the full RTT histogram (ns).
pub struct GenOutcome {
    /// What is printed and written with `--json`.
    pub report: GenReport,
    /// Every measured RTT, for `--histogram`.
    pub histogram: Histogram<u64>,
}

/// Refuses targets outside loopback unless `allow_remote`.
pub fn check_target(addr: SocketAddr, allow_remote: bool) -> Result<()> {
    let loopback = match addr.ip() {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v| v.is_loopback()),
    };
    if loopback || allow_remote {
        Ok(())
    } else {
        Err(Error::RemoteTarget { addr })
    }
}

/// Runs the generator.
pub fn run(cfg: &GenConfig) -> Result<GenOutcome> {
    check_target(cfg.target, cfg.allow_remote)?;
    if cfg.size == 0 || cfg.size > payload::MAX_SIZE {
        return Err(Error::InvalidArgument {
            flag: "--size",
            reason: format!("{} is not in 1..={}", cfg.size, payload::MAX_SIZE),
        });
    }
    if cfg.timeout.is_zero() {
        return Err(Error::InvalidArgument {
            flag: "--timeout",
            reason: "must be positive".into(),
        });
    }
    match cfg.pattern {
        Pattern::PingPong => pingpong::run(cfg),
        Pattern::Closed { clients } => closed::run(cfg, clients),
        Pattern::Open { rate, arrivals } => open::run(cfg, rate, arrivals),
    }
}

/// The local address to bind for talking to `target`.
pub(crate) fn any_addr_for(target: SocketAddr) -> SocketAddr {
    if target.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    }
}

/// Per-datagram state a ping-pong client keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Pending,
    Answered,
    TimedOut,
    Late,
}

/// What a reply turned out to be for a client waiting on `current`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The reply to `current`, intact.
    Match,
    /// A reply to an earlier datagram that had timed out.
    Late,
    /// A second reply to an earlier datagram.
    Duplicate,
    /// Anything else.
    Corrupt,
}

/// Classifies `reply` for a ping-pong client whose datagram `current` (sent with `header`)
/// is outstanding; updates `statuses` for late and duplicate replies.
pub(crate) fn classify(
    reply: &[u8],
    header: &Header,
    cfg: &GenConfig,
    statuses: &mut [Status],
    scratch: &mut Vec<u8>,
) -> Verdict {
    let reversed = cfg.expect == Expect::Reverse;
    let current = header.seq;
    if reply.len() != cfg.size {
        return Verdict::Corrupt;
    }
    let (low, bits) = payload::seq_bits(reply, reversed);
    let seq = payload::unwrap_seq(low, bits, current);
    if seq == current {
        if payload::matches(reply, header, cfg.size, reversed, scratch) {
            Verdict::Match
        } else {
            Verdict::Corrupt
        }
    } else if seq < current {
        match statuses.get_mut(seq as usize) {
            Some(s @ Status::TimedOut) => {
                *s = Status::Late;
                Verdict::Late
            }
            Some(Status::Answered | Status::Late) => Verdict::Duplicate,
            _ => Verdict::Corrupt,
        }
    } else {
        Verdict::Corrupt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_without_allow_remote() {
        let lo: SocketAddr = "127.0.0.1:9".parse().expect("addr");
        let lo6: SocketAddr = "[::1]:9".parse().expect("addr");
        let remote: SocketAddr = "198.18.0.2:9".parse().expect("addr");
        assert!(check_target(lo, false).is_ok());
        assert!(check_target(lo6, false).is_ok());
        let err = check_target(remote, false).expect_err("must refuse");
        assert!(err.to_string().contains("--allow-remote"));
        assert!(check_target(remote, true).is_ok());
    }

    #[test]
    fn classify_replies() {
        let cfg = GenConfig {
            size: 32,
            ..GenConfig::default()
        };
        let mut scratch = Vec::new();
        let mut statuses = vec![Status::Answered, Status::TimedOut, Status::Pending];
        let h = |seq| Header {
            seq,
            send_ns: seq * 10,
            client: 0,
        };
        let pkt = |seq| {
            let mut b = vec![0; 32];
            payload::encode(&mut b, &h(seq));
            b
        };
        let cur = h(2);
        let v = |p: &[u8], st: &mut Vec<Status>, s: &mut Vec<u8>| classify(p, &cur, &cfg, st, s);
        assert_eq!(v(&pkt(2), &mut statuses, &mut scratch), Verdict::Match);
        assert_eq!(v(&pkt(0), &mut statuses, &mut scratch), Verdict::Duplicate);
        assert_eq!(v(&pkt(1), &mut statuses, &mut scratch), Verdict::Late);
        assert_eq!(v(&pkt(1), &mut statuses, &mut scratch), Verdict::Duplicate);
        assert_eq!(v(&pkt(3), &mut statuses, &mut scratch), Verdict::Corrupt);
        let mut bad = pkt(2);
        bad[30] ^= 0xff;
        assert_eq!(v(&bad, &mut statuses, &mut scratch), Verdict::Corrupt);
        assert_eq!(v(&bad[..10], &mut statuses, &mut scratch), Verdict::Corrupt);
    }
}
