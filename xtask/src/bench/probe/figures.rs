//! Per-round measurements into figures: the spread over the rounds of each condition, and
//! its ratio to "no probes" taken round by round.

use anyhow::{anyhow, Result};

use super::{Condition, ConditionFigures, Spread};

pub(super) fn spread(v: &[f64]) -> Result<Spread> {
    Spread::of(v).ok_or_else(|| anyhow!("no finite measurement: {v:?}"))
}

/// `compare(value, none)` round by round (each condition's round `r` against "no probes" of
/// round `r`), and the spread of the results.
pub(super) fn against_none(
    values: &[f64],
    none: &[f64],
    compare: impl Fn(f64, f64) -> f64,
) -> Result<Spread> {
    let r: Vec<f64> = values
        .iter()
        .zip(none)
        .map(|(&v, &n)| compare(v, n))
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
                .then(|| against_none(&values[i], &values[0], |v, none| v / none))
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
}
