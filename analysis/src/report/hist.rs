//! `kpath report --hist`: a log2 histogram per function and stage, as bcc's `funclatency`
//! prints it.

use std::fmt::Write as _;

use super::fmt_time;
use super::tables;
use crate::results::Results;

/// The log2 histogram of every function with kept samples, then of each stage, as bcc's
/// `funclatency` prints them (`kpath report --hist`): one row per power-of-two bucket of ns,
/// 40 stars for the fullest; empty buckets below the first sample are left out. Always in
/// ns: log2 buckets of ns do not convert to another unit.
pub fn histograms(r: &Results) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "log2 histograms of the time per call (ns, {}, filter {})",
        tables::clock_words(r.settings.clock),
        r.settings.filter.name()
    );
    let mut any = false;
    for f in r.functions.iter().filter(|f| f.stats.samples > 0) {
        let _ = writeln!(o, "\nFunction = {} [{}]", f.function, f.stage);
        log2_histogram(&mut o, &f.stats);
        any = true;
    }
    for s in r.stages.iter().filter(|s| s.stats.samples > 0) {
        let _ = writeln!(o, "\nStage = {} (time per invocation)", s.stage);
        log2_histogram(&mut o, &s.stats);
        any = true;
    }
    if !any {
        let _ = writeln!(o, "\nno kept samples: nothing to draw");
    }
    o
}

/// One histogram in bcc's layout (`print_log2_hist`), then the mean and count.
fn log2_histogram(o: &mut String, s: &crate::stats::Summary) {
    const STARS: usize = 40;
    let Some(first) = s.log2.iter().position(|&n| n > 0) else {
        let _ = writeln!(
            o,
            "(no histogram: results written before kpath 0.2; analyze the trace again)"
        );
        return;
    };
    let max = s.log2.iter().copied().max().unwrap_or(1).max(1);
    let _ = writeln!(o, "     {:<19} : count     distribution", "nsecs");
    for (i, &n) in s.log2.iter().enumerate().skip(first) {
        // bcc's labels: bucket i ≥ 1 holds [2^(i−1), 2^i − 1], shown from 0 when that is one
        // value; bucket 0 holds the zeros.
        let (low, high) = match i {
            0 => (0u64, 0u64),
            1 => (0, 1),
            _ => (1u64 << (i - 1), (1u64 << i) - 1),
        };
        let stars = (STARS as u128 * u128::from(n) / u128::from(max)) as usize;
        let _ = writeln!(
            o,
            "{low:>10} -> {high:<10} : {n:<8} |{:<STARS$}|",
            "*".repeat(stars)
        );
    }
    let _ = writeln!(o, "avg = {} nsecs, count: {}", fmt_time(s.mean), s.samples);
}
