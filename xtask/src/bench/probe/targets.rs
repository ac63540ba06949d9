//! The probe-effect issue's targets, judged on the medians of the calibration, the
//! saturation ratios and the recorder's runs (recorded, not asserted).

use kpath_trace::ProbeCost;

use serde::Serialize;

use super::{Condition, ConditionFigures, RecorderRun, Target};

fn ratio_of(figs: &[ConditionFigures], c: Condition) -> f64 {
    figs.iter()
        .find(|f| f.condition == c)
        .and_then(|f| f.ratio)
        .map_or(f64::NAN, |r| r.median)
}

/// The probe-effect issue's targets, on the medians.
pub(super) fn targets(
    calibration: &[ProbeCost],
    saturation: &[ConditionFigures],
    recorder: &[RecorderRun],
) -> Vec<Target> {
    let mut t = Vec::new();
    let mut push =
        |target: &str, measured: f64, met: bool| t.push(Target::judged(target, measured, met));
    if let Some(c) = calibration.first() {
        push(
            "calibrated tracepoint pair ≤ 400 ns (mean)",
            c.mean_ns,
            c.mean_ns <= 400.0,
        );
        let share = c.own_share_ns().unwrap_or(f64::NAN);
        push(
            "within 150 ns of the bare pair (kpath's share, ns)",
            share,
            share <= 150.0,
        );
    }
    let trace = ratio_of(saturation, Condition::KpathTrace);
    let stats = ratio_of(saturation, Condition::KpathStats);
    let floor = ratio_of(saturation, Condition::KpathFilteredOut);
    let bpftrace = ratio_of(saturation, Condition::Bpftrace);
    push(
        "saturation: trace ≥ bpftrace (trace ratio − bpftrace ratio)",
        trace - bpftrace,
        trace >= bpftrace,
    );
    push(
        "saturation: trace ≥ 0.85 × stats (trace / stats)",
        trace / stats,
        trace >= 0.85 * stats,
    );
    push(
        "saturation: stats ≥ 0.95 × filtered floor (stats / floor)",
        stats / floor,
        stats >= 0.95 * floor,
    );
    // The recorder as it ships: the run through the page cache is a "before".
    let best_lossless = recorder
        .iter()
        .filter(|r| r.lost == 0 && r.direct_writes)
        .map(|r| r.events_per_s)
        .fold(0.0, f64::max);
    push(
        "recorder ≥ 3 M events/s with zero loss (events/s)",
        best_lossless,
        best_lossless >= 3e6,
    );
    let worst_cpu = recorder
        .iter()
        .filter(|r| r.ring_bytes == u64::from(probe_common::ring::DEFAULT_RING_BYTES))
        .filter(|r| r.direct_writes)
        .filter_map(|r| r.recorder_cpu_ns_per_record)
        .fold(0.0, f64::max);
    push(
        "recorder CPU ≤ 100 ns per record (default ring, worst run)",
        worst_cpu,
        worst_cpu <= 100.0,
    );
    t
}

/// Where stats mode's cost over the floor goes in saturation, as ratios of section (a)'s
/// medians: what two timestamps per pair cost any timer here, and what kpath's bookkeeping
/// (filters, the task's stack, the frame, the aggregate) costs on top.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct StatsSplit {
    /// "Two timestamps only" over "kpath filtered out" (whose exit reads the clock too).
    pub timestamps_over_floor: f64,
    /// "kpath stats" over "two timestamps only".
    pub stats_over_timestamps: f64,
}

/// [`StatsSplit`] from section (a).
pub(super) fn stats_split(saturation: &[ConditionFigures]) -> StatsSplit {
    let timestamps = ratio_of(saturation, Condition::BareTiming);
    StatsSplit {
        timestamps_over_floor: timestamps / ratio_of(saturation, Condition::KpathFilteredOut),
        stats_over_timestamps: ratio_of(saturation, Condition::KpathStats) / timestamps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::Spread;

    fn spread1(v: f64) -> Spread {
        Spread {
            min: v,
            median: v,
            max: v,
        }
    }

    #[test]
    fn targets_judge_the_medians() {
        let fig = |condition, ratio: f64| ConditionFigures {
            condition,
            value: spread1(1.0),
            ratio: Some(spread1(ratio)),
            lost_events: 0,
        };
        let sat = vec![
            fig(Condition::KpathTrace, 0.5),
            fig(Condition::KpathStats, 0.55),
            fig(Condition::KpathFilteredOut, 0.56),
            fig(Condition::Bpftrace, 0.45),
        ];
        let rec = vec![RecorderRun {
            threads: 2,
            ring_bytes: 16 << 20,
            events_per_s: 3.2e6,
            records: 1,
            lost: 0,
            recorder_cpu_ns_per_record: Some(80.0),
            batches: 1,
            direct_writes: true,
        }];
        let t = targets(&[], &sat, &rec);
        assert!(t.iter().all(|t| t.met), "{t:?}");
        // A run through the page cache (the "before") is not the recorder the targets judge.
        let buffered = vec![
            rec[0].clone(),
            RecorderRun {
                recorder_cpu_ns_per_record: Some(210.0),
                events_per_s: 4e6,
                direct_writes: false,
                ..rec[0].clone()
            },
        ];
        let t = targets(&[], &sat, &buffered);
        assert!(t.iter().all(|t| t.met), "{t:?}");
        let cpu = t.iter().find(|t| t.target.starts_with("recorder CPU"));
        assert_eq!(cpu.map(|t| t.measured), Some(80.0));
        let rate = t.iter().find(|t| t.target.starts_with("recorder ≥"));
        assert_eq!(rate.map(|t| t.measured), Some(3.2e6));
        let sat_bad = vec![
            fig(Condition::KpathTrace, 0.3),
            fig(Condition::KpathStats, 0.55),
            fig(Condition::KpathFilteredOut, 0.56),
            fig(Condition::Bpftrace, 0.45),
        ];
        let t = targets(&[], &sat_bad, &rec);
        assert_eq!(t.iter().filter(|t| !t.met).count(), 2, "{t:?}");
    }
}
