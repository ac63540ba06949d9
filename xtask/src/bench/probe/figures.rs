//! Per-round measurements into figures: the spread over the rounds of each condition, its
//! ratio to "no probes" taken round by round, and two conditions head to head, round by round.

use anyhow::{anyhow, ensure, Result};

use super::{Condition, ConditionFigures, HeadToHead, Spread};

pub(super) fn spread(v: &[f64]) -> Result<Spread> {
    Spread::of(v).ok_or_else(|| anyhow!("no finite measurement: {v:?}"))
}

/// `compare(value, base)` round by round (a condition's round `r` against round `r` of its
/// base: "no probes", or the other side of a head-to-head pair), and the spread of the results.
/// Fails when the two sides have a different number of rounds: a pairing of whatever rounds
/// there are would compare rounds that did not run side by side.
pub(super) fn round_by_round(
    values: &[f64],
    base: &[f64],
    compare: impl Fn(f64, f64) -> f64,
) -> Result<Spread> {
    ensure!(
        values.len() == base.len(),
        "{} rounds against {} of the base: rounds can only be compared in pairs",
        values.len(),
        base.len()
    );
    let r: Vec<f64> = values
        .iter()
        .zip(base)
        .map(|(&v, &b)| compare(v, b))
        .collect();
    spread(&r)
}

/// Per condition: the raw figure and its ratio to "no probes" of the same round.
pub(super) fn figures(values: &[Vec<f64>], lost: &[u64]) -> Result<Vec<ConditionFigures>> {
    Condition::ALL
        .iter()
        .enumerate()
        .map(|(i, &condition)| {
            let ratio = (i > 0)
                .then(|| round_by_round(&values[i], &values[0], |v, none| v / none))
                .transpose()?;
            Ok(ConditionFigures {
                condition,
                value: spread(&values[i])?,
                ratio,
                lost_events: lost[i],
            })
        })
        .collect()
}

/// The comparisons of section (a) that the targets judge, and the split of stats mode's cost
/// over the floor: `(condition, over)`.
pub(super) const HEAD_TO_HEAD: [(Condition, Condition); 5] = [
    (Condition::KpathTrace, Condition::Bpftrace),
    (Condition::KpathTrace, Condition::KpathStats),
    (Condition::KpathStats, Condition::KpathFilteredOut),
    (Condition::BareTiming, Condition::KpathFilteredOut),
    (Condition::KpathStats, Condition::BareTiming),
];

/// Each pair of [`HEAD_TO_HEAD`] as the ratio of the two conditions' figures (`values`, in
/// `Condition::ALL`'s order) in the same round, and the spread of those ratios. Paired by
/// round, a drift of the machine between rounds touches both sides of each ratio; "no probes"
/// of the round drops out.
pub(super) fn head_to_head(values: &[Vec<f64>]) -> Result<Vec<HeadToHead>> {
    let at = |c: Condition| {
        Condition::ALL
            .iter()
            .position(|&x| x == c)
            .and_then(|i| values.get(i))
            .ok_or_else(|| anyhow!("no figures for {}", c.name()))
    };
    HEAD_TO_HEAD
        .iter()
        .map(|&(condition, over)| {
            Ok(HeadToHead {
                condition,
                over,
                ratio: round_by_round(at(condition)?, at(over)?, |v, o| v / o)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_are_taken_against_the_same_round() {
        let values = vec![vec![100.0, 200.0], vec![50.0, 150.0]];
        let lost = vec![0, 3];
        // Only two conditions here: `figures` walks Condition::ALL, so pad the rest.
        let mut v = values.clone();
        let mut l = lost.clone();
        for _ in 2..Condition::ALL.len() {
            v.push(vec![100.0, 200.0]);
            l.push(0);
        }
        let f = figures(&v, &l).expect("figures");
        assert!(f[0].ratio.is_none());
        let r = f[1].ratio.expect("ratio");
        assert_eq!((r.min, r.max), (0.5, 0.75));
        assert_eq!(f[1].lost_events, 3);
    }

    #[test]
    fn rounds_are_compared_only_in_pairs() {
        let err = round_by_round(&[1.0, 2.0, 3.0], &[1.0, 2.0], |v, b| v / b)
            .expect_err("3 rounds against 2");
        assert!(err.to_string().contains("3 rounds against 2"), "{err}");
        let r = round_by_round(&[1.0, 3.0], &[2.0, 3.0], |v, b| v / b).expect("paired");
        assert_eq!((r.min, r.max), (0.5, 1.0));
    }

    #[test]
    fn head_to_head_pairs_the_rounds() {
        // Round 2 runs at half the speed for everyone: paired by round, stats over the floor
        // is 0.9 in both.
        let mut v = vec![vec![100.0, 50.0]; Condition::ALL.len()];
        let idx = |c| {
            Condition::ALL
                .iter()
                .position(|&x| x == c)
                .expect("condition")
        };
        v[idx(Condition::KpathStats)] = vec![90.0, 45.0];
        v[idx(Condition::KpathFilteredOut)] = vec![100.0, 50.0];
        let h = head_to_head(&v).expect("head to head");
        assert_eq!(h.len(), HEAD_TO_HEAD.len());
        let s = h
            .iter()
            .find(|h| h.condition == Condition::KpathStats && h.over == Condition::KpathFilteredOut)
            .expect("stats over the floor");
        assert_eq!((s.ratio.min, s.ratio.max), (0.9, 0.9));
        // A round that did not run leaves no ratio to judge.
        let short = vec![vec![1.0]; 3];
        assert!(head_to_head(&short).is_err());
    }

    #[test]
    fn rounds_alternate_the_order_of_the_conditions() {
        let forward: Vec<_> = Condition::ALL.iter().copied().enumerate().collect();
        let mut backward = forward.clone();
        backward.reverse();
        assert_eq!(Condition::in_round(0), forward);
        assert_eq!(Condition::in_round(1), backward);
        assert_eq!(Condition::in_round(4), forward);
        // Each head-to-head pair runs in both orders over two rounds.
        let position = |round, c| {
            Condition::in_round(round)
                .iter()
                .position(|&(_, x)| x == c)
                .expect("condition")
        };
        for (a, b) in HEAD_TO_HEAD {
            let first = position(0, a) < position(0, b);
            assert_ne!(
                first,
                position(1, a) < position(1, b),
                "{a:?} against {b:?}"
            );
        }
    }
}
