//! The terminal table of sections (a)–(d) and their targets.

use super::{ProbeBench, Spread};

/// The terminal table of sections (a)–(d).
pub fn table(b: &ProbeBench) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let s = |x: &Spread, digits: usize| {
        format!(
            "{:>9.d$} {:>9.d$} {:>9.d$}",
            x.min,
            x.median,
            x.max,
            d = digits
        )
    };
    let _ = writeln!(o, "calibration (tracepoint, interval timed in the kernel):");
    for c in &b.calibration {
        let bare = c.bare.as_ref().map_or(f64::NAN, |b| b.mean_ns);
        let _ = writeln!(
            o,
            "  kpath pair {:.0} ns (median {:.0}), bare pair {:.0} ns, kpath's share {:.0} ns",
            c.mean_ns,
            c.median_ns.unwrap_or(f64::NAN),
            bare,
            c.own_share_ns().unwrap_or(f64::NAN)
        );
    }
    let _ = writeln!(
        o,
        "(a) saturation, replies/s as a ratio to no probes      min    median       max"
    );
    for f in &b.saturation {
        match &f.ratio {
            Some(r) => {
                let _ = writeln!(o, "  {:<44} {}", f.condition.name(), s(r, 3));
            }
            None => {
                let _ = writeln!(o, "  {:<44} {}", "no probes (replies/s)", s(&f.value, 0));
            }
        }
    }
    let _ = writeln!(
        o,
        "(a) head to head, replies/s over replies/s in each round     min    median       max"
    );
    for h in &b.head_to_head {
        let what = format!("{} / {}", h.condition.name(), h.over.name());
        let _ = writeln!(o, "  {what:<50} {}", s(&h.ratio, 3));
    }
    let _ = writeln!(
        o,
        "(b) ping-pong RTT, µs: p50 median (min–max), p99 median (min–max)"
    );
    for f in &b.pingpong {
        let _ = writeln!(
            o,
            "  {:<30} {:>7.1} ({:.1}–{:.1})   {:>7.1} ({:.1}–{:.1})",
            f.condition.name(),
            f.rtt_p50_us.median,
            f.rtt_p50_us.min,
            f.rtt_p50_us.max,
            f.rtt_p99_us.median,
            f.rtt_p99_us.min,
            f.rtt_p99_us.max
        );
    }
    let join = |v: &[u64]| v.iter().map(u64::to_string).collect::<Vec<_>>().join(" ");
    let attach_s = b
        .started_under_load
        .attach_s
        .iter()
        .map(|s| format!("{s:.1}"))
        .collect::<Vec<_>>()
        .join(" ");
    let _ = writeln!(
        o,
        "    kpath trace started under the closed loop: attached in {attach_s} s; lost {} \
         (records kept {})",
        join(&b.started_under_load.lost),
        join(&b.started_under_load.records)
    );
    let _ = writeln!(
        o,
        "(c) sendto(-1) loop: ns per call (median), ns per event above none (min median max), \
         ns per program run inside the programs (min median max)"
    );
    let or_dash = |x: Option<&Spread>| x.map_or_else(|| "-".to_owned(), |e| s(e, 0));
    for f in &b.syscall {
        let per_event = or_dash(f.ns_per_event.as_ref());
        let per_run = or_dash(f.ns_per_program_run.as_ref());
        let _ = writeln!(
            o,
            "  {:<30} {:>7.0}   {per_event:<30} {per_run}",
            f.condition.name(),
            f.ns_per_call.median
        );
    }
    let rounds = b.recorder.first().map_or(0, |r| r.runs.len());
    let _ = writeln!(
        o,
        "(d) recorder, {rounds} round(s): threads, ring, events/s median (min–max), lost in each \
         round, CPU ns/record median (max), share of a CPU the recorder took (median)"
    );
    for r in &b.recorder {
        let lost: Vec<String> = r.runs.iter().map(|run| run.lost.to_string()).collect();
        let cpu = r.recorder_cpu_ns_per_record.map_or_else(
            || "-".to_string(),
            |c| format!("{:.0} ({:.0})", c.median, c.max),
        );
        let busy = r
            .busy_share()
            .map_or_else(|| "-".to_string(), |b| format!("{:.0} %", 100.0 * b.median));
        let _ = writeln!(
            o,
            "  {} thread(s)  {:>8} KiB  {:>8.0} ({:.0}–{:.0})/s  lost {}  {cpu} ns  busy {busy}{}",
            r.threads,
            r.ring_bytes >> 10,
            r.events_per_s.median,
            r.events_per_s.min,
            r.events_per_s.max,
            lost.join(" "),
            if r.direct_writes {
                ""
            } else {
                "  (through the page cache)"
            }
        );
    }
    let _ = writeln!(o, "targets:");
    for t in &b.targets {
        let _ = writeln!(
            o,
            "  {:<62} {:>10.3}  {}",
            t.target,
            t.measured,
            if t.met { "met" } else { "NOT met" }
        );
    }
    o
}
