//! The generator's result: one serialisable struct, a human summary, histogram export.

use std::{
    io::{BufWriter, Write},
    path::Path,
};

use hdrhistogram::Histogram;
use serde::Serialize;

use super::{Counts, Expect, GenConfig, Pattern};
use crate::{
    error::{Error, Result},
    stats::{IntervalSummary, LatencySummary},
};

/// Everything a run measured; this is the `--json` output.
#[derive(Debug, Clone, Serialize)]
pub struct GenReport {
    /// The pattern and its parameters: `{"pattern": "pingpong"}`,
    /// `{"pattern": "closed", "clients": C}` or
    /// `{"pattern": "open", "rate": R, "arrivals": "poisson"}`, flattened into the report.
    #[serde(flatten)]
    pub pattern: Pattern,
    /// Server address.
    pub target: String,
    /// Payload bytes per datagram.
    pub size: usize,
    /// What replies were expected to contain.
    pub expect: Expect,
    /// Concurrent clients (1 except for the closed pattern).
    pub clients: u32,
    /// Count bound (measured datagrams).
    pub count_limit: u64,
    /// Time bound of the whole run, s.
    pub duration_limit_s: f64,
    /// Warm-up datagrams, not measured.
    pub warmup: u64,
    /// Seed of the arrival schedule.
    pub seed: u64,
    /// Timeout, s.
    pub timeout_s: f64,
    /// Counters.
    #[serde(flatten)]
    pub counts: Counts,
    /// Most datagrams outstanding at once (for the open loop: seen when replies arrived).
    pub max_in_flight: u64,
    /// Seconds from the first measured send to the end of the run.
    pub send_elapsed_s: f64,
    /// Measured sends per second.
    pub send_rate_per_s: f64,
    /// Good replies per second over the measured part of the run.
    pub recv_rate_per_s: f64,
    /// Round-trip times of good replies, ns (open loop: from the intended send time).
    pub rtt_ns: LatencySummary,
    /// Open loop: intervals between actual sends, ns.
    pub send_interval_ns: Option<IntervalSummary>,
    /// Open loop: intervals between consecutive sends that both left less than 50 µs after
    /// their due time, ns: the sender's accuracy with scheduler stalls filtered out.
    pub on_time_send_interval_ns: Option<IntervalSummary>,
    /// Open loop: fraction of measured sends that left less than 50 µs after their due time.
    pub on_time_fraction: Option<f64>,
    /// Open loop: intended intervals (the schedule itself), ns.
    pub schedule_interval_ns: Option<IntervalSummary>,
    /// Open loop: actual minus intended send time, ns.
    pub send_lag_ns: Option<LatencySummary>,
}

impl GenReport {
    /// A report skeleton carrying the settings of `cfg`.
    pub fn new(cfg: &GenConfig, clients: u32) -> Self {
        GenReport {
            pattern: cfg.pattern,
            target: cfg.target.to_string(),
            size: cfg.size,
            expect: cfg.expect,
            clients,
            count_limit: cfg.count,
            duration_limit_s: cfg.duration.as_secs_f64(),
            warmup: cfg.warmup,
            seed: cfg.seed,
            timeout_s: cfg.timeout.as_secs_f64(),
            counts: Counts::default(),
            max_in_flight: 0,
            send_elapsed_s: 0.0,
            send_rate_per_s: 0.0,
            recv_rate_per_s: 0.0,
            rtt_ns: LatencySummary::from_histogram(&crate::stats::new_histogram()),
            send_interval_ns: None,
            on_time_send_interval_ns: None,
            on_time_fraction: None,
            schedule_interval_ns: None,
            send_lag_ns: None,
        }
    }

    /// Fills in the rates from the counts and the measured span.
    pub fn set_rates(&mut self, span_s: f64) {
        self.send_elapsed_s = span_s;
        if span_s > 0.0 {
            self.send_rate_per_s = self.counts.sent as f64 / span_s;
            self.recv_rate_per_s = self.counts.received as f64 / span_s;
        }
    }

    /// A few lines for people.
    pub fn human(&self) -> String {
        let pattern = match self.pattern {
            Pattern::PingPong => "pingpong".to_string(),
            Pattern::Closed { clients } => format!("closed loop, {clients} clients"),
            Pattern::Open { rate, arrivals } => {
                format!("open loop, {rate} /s {}", serde_plain(&arrivals))
            }
        };
        let c = &self.counts;
        let r = &self.rtt_ns;
        let us = |ns: f64| ns / 1000.0;
        let mut s = format!(
            "kpath-stand gen: {pattern} to {}, {} B, {:.3} s\n\
             \x20 sent {} ({:.0}/s)  received {} ({:.0}/s)  lost {}  late {}  duplicate {}  corrupt {}  errors {}  max in flight {}\n\
             \x20 RTT µs: min {:.1}  p50 {:.1}  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}  mean {:.2}  stddev {:.2}",
            self.target,
            self.size,
            self.send_elapsed_s,
            c.sent,
            self.send_rate_per_s,
            c.received,
            self.recv_rate_per_s,
            c.lost,
            c.late,
            c.duplicate,
            c.corrupt,
            c.errors,
            self.max_in_flight,
            us(r.min),
            us(r.p50),
            us(r.p90),
            us(r.p99),
            us(r.p999),
            us(r.max),
            us(r.mean),
            us(r.stddev),
        );
        if let (Some(i), Some(want)) = (&self.send_interval_ns, &self.schedule_interval_ns) {
            s.push_str(&format!(
                "\n  send interval µs: mean {:.2} (schedule {:.2})  CV {:.3} (schedule {:.3})",
                us(i.mean),
                us(want.mean),
                i.cv,
                want.cv
            ));
        }
        if let Some(l) = &self.send_lag_ns {
            s.push_str(&format!(
                "\n  send lag behind schedule µs: p50 {:.1}  p99 {:.1}  max {:.1}  on time (<50 µs) {:.1} %",
                us(l.p50),
                us(l.p99),
                us(l.max),
                self.on_time_fraction.unwrap_or(0.0) * 100.0
            ));
        }
        s
    }

    /// Writes the report as pretty JSON to `path`, created as `out` says.
    pub fn write_json(&self, path: &Path, out: &kpath_cli::Output) -> Result<()> {
        let file = out.create(path)?;
        let mut w = BufWriter::new(file);
        serde_json::to_writer_pretty(&mut w, self)
            .map_err(|e| Error::file("write", path, e.into()))?;
        writeln!(w)
            .and_then(|_| w.flush())
            .map_err(|e| Error::file("write", path, e))
    }
}

fn serde_plain<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v)
        .unwrap_or_default()
        .trim_matches('"')
        .to_string()
}

/// Writes every recorded histogram bucket as CSV: `value_ns,count,cumulative_fraction`.
pub fn write_histogram_csv(h: &Histogram<u64>, path: &Path, out: &kpath_cli::Output) -> Result<()> {
    let file = out.create(path)?;
    let mut w = BufWriter::new(file);
    let total = h.len().max(1) as f64;
    let mut run = || -> std::io::Result<()> {
        writeln!(w, "value_ns,count,cumulative_fraction")?;
        let mut cum = 0u64;
        for v in h.iter_recorded() {
            cum += v.count_at_value();
            writeln!(
                w,
                "{},{},{:.6}",
                h.highest_equivalent(v.value_iterated_to()),
                v.count_at_value(),
                cum as f64 / total
            )?;
        }
        w.flush()
    };
    run().map_err(|e| Error::file("write", path, e))
}
