//! Rendering [`Results`] for people (text tables) and machines (JSON, CSV). Producing results
//! is decoupled from printing them: every format is a [`Report`].

use std::io::{self, Write};

use crate::results::Results;

pub mod csv;
pub mod first_screen;
pub mod hist;
pub mod json;
pub mod markdown;
pub mod tables;
pub mod text;
pub mod tree;
pub mod unit;

/// An output format for results.
pub trait Report {
    /// Writes `results` to `out`.
    fn write(&self, results: &Results, out: &mut dyn Write) -> io::Result<()>;
}

/// One mechanism's calibration, worded the same in every renderer.
pub(crate) fn probe_cost_text(p: &crate::results::ProbeCostInfo) -> String {
    let mut s = format!(
        "kpath pair mean {} ns, variance {} ns², {} samples",
        fmt_time(p.mean),
        fmt_time(p.variance),
        p.samples
    );
    if let Some(m) = p.median {
        s.push_str(&format!(", median {} ns", fmt_time(m)));
    }
    if let (Some(bare), Some(share)) = (p.bare_mean, p.own_share) {
        s.push_str(&format!(
            "; bare timestamp pair {} ns, kpath's own share {} ns",
            fmt_time(bare),
            fmt_time(share)
        ));
    }
    s
}

/// The warning that `--subtract-probe-cost` clamped samples to zero, if it did.
pub(crate) fn clamped_text(r: &Results) -> Option<String> {
    let clamped: u64 = r.functions.iter().map(|f| f.probe_cost_clamped).sum();
    if clamped == 0 {
        return None;
    }
    let kept: u64 = r.functions.iter().map(|f| f.stats.samples).sum();
    let worst = r
        .functions
        .iter()
        .filter(|f| f.probe_cost_clamped > 0)
        .max_by_key(|f| f.probe_cost_clamped)
        .map(|f| format!("{} ({})", f.function, f.probe_cost_clamped))
        .unwrap_or_default();
    Some(format!(
        "--subtract-probe-cost clamped {clamped} of {kept} kept samples to 0 (most in {worst}): \
         the calibrated cost exceeds those calls' time, so their means are biased upward"
    ))
}

/// The recorder's own cost, when the trace says.
pub(crate) fn recorder_text(r: &Results) -> Option<String> {
    let u = r.trace.recorder.as_ref()?;
    Some(format!(
        "{} records in {} drains of {} ring{} (every {} ms, or at {} unread bytes of a ring){}{}; \
         recorder CPU {} ns per record",
        u.records,
        u.batches,
        u.rings,
        if u.rings == 1 { "" } else { "s" },
        u.drain_period_ms,
        u.wakeup_fill_bytes,
        if u.direct_writes {
            ", drains of 256 KiB or more written around the page cache"
        } else {
            ""
        },
        u.scheduling_clause(),
        u.cpu_ns_per_record()
            .map_or_else(|| "-".to_owned(), |ns| format!("{ns:.0}"))
    ))
}

/// Where each stage's invocations ran, one line per stage: its CPUs and the contexts and
/// thread groups they came from (at most 4, most first), e.g. `rx: CPU 1: 3100; softirq on
/// an idle CPU: 3100`. Empty for results before kpath 0.2, which did not keep it.
pub(crate) fn stage_sources_text(r: &Results) -> Vec<String> {
    let mut lines = Vec::new();
    for s in &r.stages {
        if s.cpus.is_empty() {
            continue;
        }
        let cpus: Vec<String> = s
            .cpus
            .iter()
            .map(|c| format!("CPU {}: {}", c.cpu, c.invocations))
            .collect();
        let mut sources: Vec<String> = s
            .sources
            .iter()
            .take(4)
            .map(|t| match (t.context.as_str(), t.pid) {
                ("process", pid) => format!("pid {pid}: {}", t.invocations),
                (context, 0) => format!("{context} on an idle CPU: {}", t.invocations),
                (context, pid) => format!("{context} over pid {pid}: {}", t.invocations),
            })
            .collect();
        if s.sources.len() > 4 {
            sources.push(format!("{} more", s.sources.len() - 4));
        }
        lines.push(format!(
            "{}: {}; {}",
            s.stage,
            cpus.join(", "),
            sources.join(", ")
        ));
    }
    lines
}

/// The service time of one relayed datagram from the probes, and the saturation rate and
/// model when there are some, as one sentence of plain text (HTML and Markdown escape it).
pub(crate) fn service_text(r: &Results, unit: unit::TimeUnit) -> String {
    let Some(sv) = &r.service else {
        return r
            .service_unknown
            .clone()
            .unwrap_or_else(|| "No service time.".into());
    };
    format!(
        "Service time of one datagram (probes): T = T_rx + T_tx = {}, D = {}, C² = {:.3}{}.",
        unit.time_with_unit(sv.mean),
        unit.variance_with_unit(sv.variance),
        sv.cv2,
        r.model.as_ref().map_or(String::new(), |m| format!(
            "; saturation rate λ_max = {:.0}/s; recommended model {}",
            m.lambda_max_per_s, m.recommended
        ))
    )
}

/// Each receiving CPU's whole service demand, one line each (`crate::demand`), e.g. `CPU 1:
/// busy 31.2 % of 1.52 s, 21.6 µs per datagram received (2 201); the probed path T = 14.2 µs
/// is 66 % of it. Busy cycles (wake-up to idle): 2 190, mean 21.3 µs, sd 3.0 µs`. Empty for
/// traces without busy time.
pub(crate) fn demand_text(r: &Results) -> Vec<String> {
    let us = |ns: f64| format!("{:.1} µs", ns / 1e3);
    r.demand
        .iter()
        .map(|d| {
            let b = &d.busy;
            let mut line = format!(
                "CPU {}: busy {} of {:.2} s, {} per datagram received ({})",
                d.cpu,
                b.utilisation()
                    .map_or("?".into(), |u| format!("{:.1} %", 100.0 * u)),
                b.window_ns as f64 / 1e9,
                us(d.busy_per_receive_ns),
                d.receive_invocations
            );
            if let (Some(share), Some(sv)) = (d.probed_share, &r.service) {
                line.push_str(&format!(
                    "; the probed path T = {} is {:.0} % of it",
                    us(sv.mean),
                    100.0 * share
                ));
            }
            if let Some(mean) = b.cycle_mean_ns {
                line.push_str(&format!(
                    ". Busy cycles (wake-up to idle): {}, mean {}{}",
                    b.cycles,
                    us(mean),
                    b.cycle_variance_ns2
                        .map_or(String::new(), |v| format!(", sd {}", us(v.sqrt())))
                ));
            }
            if b.long_cycles > 0 {
                line.push_str(&format!(
                    "; {} longer than 1 ms ({:.1} ms in all)",
                    b.long_cycles,
                    b.long_cycles_ns as f64 / 1e6
                ));
            }
            line
        })
        .collect()
}

/// Formats a time with a precision that suits its size.
pub(crate) fn fmt_time(x: f64) -> String {
    let a = x.abs();
    if a == 0.0 {
        "0".into()
    } else if a >= 1e6 {
        format!("{x:.3e}")
    } else if a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 1.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.3}")
    }
}
