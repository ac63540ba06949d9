//! The probe-effect issue's targets, judged on the medians of the calibration, of section (a)'s
//! conditions head to head, and of the recorder's runs (recorded, not asserted).

use kpath_trace::ProbeCost;

use super::{Condition, HeadToHead, RecorderFigures, Target};

/// The median of `condition` over `over`, round by round (NaN when not measured, which no
/// target meets).
fn head_to_head_median(pairs: &[HeadToHead], condition: Condition, over: Condition) -> f64 {
    pairs
        .iter()
        .find(|h| h.condition == condition && h.over == over)
        .map_or(f64::NAN, |h| h.ratio.median)
}

/// The probe-effect issue's targets, on the medians. The saturation targets compare two
/// conditions of the same round (`figures::HEAD_TO_HEAD`): "trace mode ≥ bpftrace's ratio to
/// no probes" is trace over bpftrace ≥ 1, since both ratios share the round's "no probes".
pub(super) fn targets(
    calibration: &[ProbeCost],
    head_to_head: &[HeadToHead],
    recorder: &[RecorderFigures],
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
    let ratio = |c, over| head_to_head_median(head_to_head, c, over);
    let over_bpftrace = ratio(Condition::KpathTrace, Condition::Bpftrace);
    push(
        "saturation: trace ≥ bpftrace (trace / bpftrace)",
        over_bpftrace,
        over_bpftrace >= 1.0,
    );
    let over_stats = ratio(Condition::KpathTrace, Condition::KpathStats);
    push(
        "saturation: trace ≥ 0.85 × stats (trace / stats)",
        over_stats,
        over_stats >= 0.85,
    );
    let over_floor = ratio(Condition::KpathStats, Condition::KpathFilteredOut);
    push(
        "saturation: stats ≥ 0.95 × filtered floor (stats / floor)",
        over_floor,
        over_floor >= 0.95,
    );
    // The recorder as it ships: the set-up through the page cache is a "before". A set-up
    // counts at its median rate, and only if no round of it lost an event.
    let best_lossless = recorder
        .iter()
        .filter(|r| r.lost() == 0 && r.direct_writes)
        .map(|r| r.events_per_s.median)
        .fold(0.0, f64::max);
    push(
        "recorder ≥ 3 M events/s with zero loss (events/s, median)",
        best_lossless,
        best_lossless >= 3e6,
    );
    let worst_cpu = recorder
        .iter()
        .filter(|r| r.ring_bytes == u64::from(probe_common::ring::DEFAULT_RING_BYTES))
        .filter(|r| r.direct_writes)
        .filter_map(|r| r.recorder_cpu_ns_per_record.map(|c| c.max))
        .fold(0.0, f64::max);
    push(
        "recorder CPU ≤ 100 ns per record (default ring, worst run)",
        worst_cpu,
        worst_cpu <= 100.0,
    );
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::probe::figures::head_to_head;
    use crate::bench::probe::RecorderRun;
    use crate::bench::Spread;

    /// Section (a)'s head-to-head figures of one round where kpath trace, stats, the floor and
    /// bpftrace made these replies/s (every other condition 100).
    fn one_round(trace: f64, stats: f64, floor: f64, bpftrace: f64) -> Vec<HeadToHead> {
        let values: Vec<Vec<f64>> = Condition::ALL
            .iter()
            .map(|&c| {
                vec![match c {
                    Condition::KpathTrace => trace,
                    Condition::KpathStats => stats,
                    Condition::KpathFilteredOut => floor,
                    Condition::Bpftrace => bpftrace,
                    _ => 100.0,
                }]
            })
            .collect();
        head_to_head(&values).expect("head to head")
    }

    /// Section (d)'s figures of one set-up with the default ring, from its rounds' rates,
    /// losses and CPU per record.
    fn setup(rates: &[f64], lost: &[u64], cpu: &[f64], direct_writes: bool) -> RecorderFigures {
        let runs: Vec<RecorderRun> = rates
            .iter()
            .zip(lost)
            .zip(cpu)
            .map(|((&events_per_s, &lost), &cpu)| RecorderRun {
                events_per_s,
                records: 1,
                lost,
                recorder_cpu_ns_per_record: Some(cpu),
                batches: 1,
            })
            .collect();
        RecorderFigures {
            threads: 2,
            ring_bytes: u64::from(probe_common::ring::DEFAULT_RING_BYTES),
            direct_writes,
            events_per_s: Spread::of(rates).expect("rates"),
            recorder_cpu_ns_per_record: Spread::of(cpu),
            runs,
        }
    }

    #[test]
    fn targets_judge_the_medians() {
        let sat = one_round(50.0, 55.0, 56.0, 45.0);
        // The median round's rate, and the worst round's CPU.
        let rec = vec![setup(
            &[2.0e6, 3.2e6, 3.5e6],
            &[0, 0, 0],
            &[60.0, 80.0, 70.0],
            true,
        )];
        let t = targets(&[], &sat, &rec);
        assert!(t.iter().all(|t| t.met), "{t:?}");
        // A set-up through the page cache (the "before") is not the recorder the targets judge.
        let buffered = vec![
            rec[0].clone(),
            setup(&[4e6; 3], &[0; 3], &[210.0; 3], false),
        ];
        let t = targets(&[], &sat, &buffered);
        assert!(t.iter().all(|t| t.met), "{t:?}");
        let cpu = t.iter().find(|t| t.target.starts_with("recorder CPU"));
        assert_eq!(cpu.map(|t| t.measured), Some(80.0));
        let rate = t.iter().find(|t| t.target.starts_with("recorder ≥"));
        assert_eq!(rate.map(|t| t.measured), Some(3.2e6));
        // A set-up that lost events in one round is not lossless, whatever its rate.
        let lossy = vec![setup(&[4e6; 3], &[0, 5, 0], &[60.0; 3], true)];
        let t = targets(&[], &sat, &lossy);
        let rate = t.iter().find(|t| t.target.starts_with("recorder ≥"));
        assert_eq!(rate.map(|t| (t.measured, t.met)), Some((0.0, false)));
        // Trace below bpftrace and below 0.85 × stats: two targets missed.
        let t = targets(&[], &one_round(30.0, 55.0, 56.0, 45.0), &rec);
        assert_eq!(t.iter().filter(|t| !t.met).count(), 2, "{t:?}");
        // Stats below 0.95 × the floor: that one alone.
        let t = targets(&[], &one_round(50.0, 52.0, 56.0, 45.0), &rec);
        let missed: Vec<_> = t.iter().filter(|t| !t.met).map(|t| &t.target).collect();
        assert_eq!(missed.len(), 1, "{t:?}");
        assert!(missed[0].contains("filtered floor"), "{missed:?}");
        // Nothing measured head to head: the saturation targets are not met.
        let t = targets(&[], &[], &rec);
        assert_eq!(t.iter().filter(|t| !t.met).count(), 3, "{t:?}");
    }

    #[test]
    fn busy_share_is_cpu_per_record_times_rate() {
        // 2 M records/s at 50, 75 and 100 ns each: a tenth, 15 % and a fifth of a CPU.
        let r = setup(&[2e6; 3], &[0; 3], &[50.0, 100.0, 75.0], true);
        let busy = r.busy_share().expect("every round has its CPU");
        assert!((busy.min - 0.10).abs() < 1e-12, "{busy:?}");
        assert!((busy.median - 0.15).abs() < 1e-12, "{busy:?}");
        assert!((busy.max - 0.20).abs() < 1e-12, "{busy:?}");
        // A round without its CPU figure: no share.
        let mut missing = r;
        missing.runs[1].recorder_cpu_ns_per_record = None;
        assert_eq!(missing.busy_share(), None);
    }
}
