//! The verdict on a validation (issue "A projection that predicts"): for each service-time
//! choice and model, how far its predicted mean sojourn W is from the measured one, whether
//! that is close enough to plan with, and the most likely reason when it is not; then the one
//! choice and model to plan with.
//!
//! * A choice and model **fits** when every reached point with a target load up to
//!   [`FIT_RHO`] has `|error of W| ≤` [`FIT_TOLERANCE_PCT`] %, and there is at least one
//!   such point. The largest |error| is also given up to [`HIGH_RHO`], where the queue is
//!   long and small errors of T weigh most.
//! * The **reason** of a misfit is read off the signs of the errors over the reached points
//!   (up to [`HIGH_RHO`]), in load order: all below the measurement (the model misses time:
//!   work outside T, or a wake-up that plain M/G/1 lacks), all above (T overstates the
//!   demand), or a sign that changes with load (the demand itself changes with load).
//! * The **recommended** pair is the fitting one with the smallest largest error up to
//!   [`FIT_RHO`]; without a fitting one, the closest, marked as not fitting.
//! * The **repeatability** is the measurement's own noise: the spread of W between reached
//!   points of one choice measured at the same target load, up to [`FIT_RHO`]. When it is
//!   wider than ±[`FIT_TOLERANCE_PCT`] %, no model can be shown to fit or not on that host,
//!   and the recommendation says so.

use crate::results::validation_table::{
    ModelVerdict, Prediction, Recommendation, Repeatability, Validation, ValidationChoice,
    ValidationRow,
};

/// Largest |error of W|, %, at which a model fits.
pub const FIT_TOLERANCE_PCT: f64 = 20.0;
/// Loads up to which a fit is judged.
pub const FIT_RHO: f64 = 0.7;
/// Loads up to which the largest error is also reported.
pub const HIGH_RHO: f64 = 0.9;

/// A model's prediction in a row.
type PickPrediction = fn(&ValidationRow) -> Option<Prediction>;

/// The verdicts of the models of one choice: M/G/1 and M/M/1, and M/G/1 with setup when the
/// choice has a setup time.
pub fn verdicts(c: &ValidationChoice) -> Vec<ModelVerdict> {
    let mut models: Vec<(&str, PickPrediction)> = vec![("M/G/1", |r| r.mg1), ("M/M/1", |r| r.mm1)];
    if c.setup.is_some() {
        models.push(("M/G/1+setup", |r| r.mg1_setup));
    }
    models
        .into_iter()
        .map(|(model, pick)| verdict(model, c, pick))
        .collect()
}

fn verdict(
    model: &str,
    c: &ValidationChoice,
    pick: fn(&ValidationRow) -> Option<Prediction>,
) -> ModelVerdict {
    // (load, error %) of the reached points, in load order.
    let mut errors: Vec<(f64, f64)> = c
        .points
        .iter()
        .filter(|r| r.reached)
        // Judged at the target load: a reached point's achieved load lies within the rate
        // tolerance of it, often just above (a 0.7 point achieved at 0.709 is one of the
        // points up to 0.7); the models themselves were evaluated at the achieved load.
        .filter_map(|r| Some((r.rho, pick(r)?.sojourn_error_pct?)))
        .filter(|(_, e)| e.is_finite())
        .collect();
    errors.sort_by(|a, b| a.0.total_cmp(&b.0));
    let max_abs = |limit: f64| {
        errors
            .iter()
            .filter(|(rho, _)| *rho <= limit)
            .map(|(_, e)| e.abs())
            .reduce(f64::max)
    };
    let points_to_fit_rho = errors.iter().filter(|(rho, _)| *rho <= FIT_RHO).count();
    let to_fit = max_abs(FIT_RHO);
    let to_high = max_abs(HIGH_RHO);
    let fits = to_fit.is_some_and(|e| e <= FIT_TOLERANCE_PCT);
    let reason = (to_fit.is_some() && !fits).then(|| reason(&errors).to_string());
    let verdict = match (to_fit, &reason) {
        (None, _) => format!("not judged: no reached point up to ρ = {FIT_RHO}"),
        (Some(e), Some(why)) => {
            format!("does not fit (|error| up to {e:.0} % by ρ = {FIT_RHO}): {why}")
        }
        (Some(_), None) => format!("fits (within ±{FIT_TOLERANCE_PCT} % up to ρ = {FIT_RHO})"),
    };
    ModelVerdict {
        model: model.into(),
        points_to_fit_rho,
        max_abs_error_pct_to_fit_rho: to_fit,
        max_abs_error_pct_to_high_rho: to_high,
        fits,
        verdict,
        reason,
    }
}

/// The most likely reason of a misfit, from the signs of the errors in load order.
fn reason(errors: &[(f64, f64)]) -> &'static str {
    let signs: Vec<f64> = errors
        .iter()
        .filter(|(rho, _)| *rho <= HIGH_RHO)
        .map(|(_, e)| *e)
        .collect();
    let (first, last) = (signs.first().copied(), signs.last().copied());
    if signs.iter().all(|e| *e < 0.0) {
        "it predicts less delay than measured at every load: the proxy spends time per \
         datagram that T leaves out (work outside the probed path, or the wake-up of an idle \
         CPU, which plain M/G/1 does not have)"
    } else if signs.iter().all(|e| *e > 0.0) {
        "it predicts more delay than measured at every load: T overstates the service demand \
         (a wake-up counted as service, or batching at load)"
    } else if first.is_some_and(|f| f < 0.0) && last.is_some_and(|l| l > 0.0) {
        "the error turns from below to above the measurement as load rises: the service \
         demand falls with load (wake-ups and batching amortised)"
    } else {
        "the error turns from above to below the measurement as load rises: the service \
         demand grows with load, or arrivals are burstier than Poisson"
    }
}

/// The pair to plan with, over every choice's verdicts (`None` without a judged one).
pub fn recommend(v: &Validation) -> Option<Recommendation> {
    let mut best: Option<(&ValidationChoice, &ModelVerdict, f64)> = None;
    for c in &v.choices {
        for m in &c.verdicts {
            let Some(e) = m.max_abs_error_pct_to_fit_rho else {
                continue;
            };
            let better = match best {
                None => true,
                Some((_, b, be)) => (m.fits, -e) > (b.fits, -be),
            };
            if better {
                best = Some((c, m, e));
            }
        }
    }
    let (c, m, e) = best?;
    let noisy = v.repeatability.as_ref().filter(|r| r.wider_than_tolerance);
    let why = if let Some(r) = noisy {
        format!(
            "inconclusive on this host: the measurement repeats only within ±{:.0} % (the \
             same load measured twice), wider than the ±{FIT_TOLERANCE_PCT} % a fit needs; \
             the closest, {} with T from {}, is off by up to {e:.0} %{}",
            r.max_spread_pct,
            m.model,
            c.name,
            if m.fits {
                ""
            } else {
                ": measure on a quieter machine (a CPU of its own, no other guests) to judge"
            }
        )
    } else if m.fits {
        format!(
            "{} with T from {} (λ_max = {:.0}/s) predicts the measured mean delay within \
             {e:.0} % up to ρ = {FIT_RHO}: plan with it up to that load",
            m.model, c.name, c.lambda_max_per_s
        )
    } else {
        format!(
            "no choice fits within ±{FIT_TOLERANCE_PCT} % up to ρ = {FIT_RHO}; the closest, \
             {} with T from {}, is off by up to {e:.0} %: {}",
            m.model,
            c.name,
            m.reason.as_deref().unwrap_or(m.verdict.as_str())
        )
    };
    Some(Recommendation {
        choice: c.name.clone(),
        model: m.model.clone(),
        fits: m.fits && noisy.is_none(),
        max_abs_error_pct: e,
        lambda_max_per_s: c.lambda_max_per_s,
        why,
    })
}

/// How well the measured W repeats: over each choice's reached points up to [`FIT_RHO`]
/// (target load) grouped by target load, the groups of two or more (`None` without one).
pub fn repeatability(v: &Validation) -> Option<Repeatability> {
    let mut spreads: Vec<f64> = Vec::new();
    for c in &v.choices {
        let mut rows: Vec<(f64, f64)> = c
            .points
            .iter()
            .filter(|r| r.reached && r.rho <= FIT_RHO)
            .filter_map(|r| Some((r.rho, r.measured.as_ref()?.sojourn.mean)))
            .filter(|(_, w)| w.is_finite() && *w > 0.0)
            .collect();
        rows.sort_by(|a, b| a.0.total_cmp(&b.0));
        for group in rows.chunk_by(|a, b| a.0 == b.0).filter(|g| g.len() >= 2) {
            let (lo, hi, sum) = group.iter().fold(
                (f64::INFINITY, f64::NEG_INFINITY, 0.0),
                |(lo, hi, sum), &(_, w)| (lo.min(w), hi.max(w), sum + w),
            );
            let mean = sum / group.len() as f64;
            spreads.push(100.0 * (hi - lo) / 2.0 / mean);
        }
    }
    if spreads.is_empty() {
        return None;
    }
    spreads.sort_by(f64::total_cmp);
    let max = spreads[spreads.len() - 1];
    let n = spreads.len();
    let median = if n % 2 == 1 {
        spreads[n / 2]
    } else {
        (spreads[n / 2 - 1] + spreads[n / 2]) / 2.0
    };
    let wider = max > FIT_TOLERANCE_PCT;
    let verdict = format!(
        "the same load measured twice gives W within ±{max:.0} % (median ±{median:.0} %, {n} \
         point{} up to ρ = {FIT_RHO}): {}",
        if n == 1 { "" } else { "s" },
        if wider {
            format!(
                "wider than the ±{FIT_TOLERANCE_PCT} % a fit needs, so this host cannot tell \
                 a fit from a misfit"
            )
        } else {
            format!("within the ±{FIT_TOLERANCE_PCT} % a fit needs")
        }
    );
    Some(Repeatability {
        points: n,
        max_spread_pct: max,
        median_spread_pct: median,
        wider_than_tolerance: wider,
        verdict,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::Service;

    fn pred(error_pct: f64) -> Option<Prediction> {
        Some(Prediction {
            sojourn: 1.0,
            in_system: 1.0,
            sojourn_error_pct: Some(error_pct),
            in_system_error_pct: Some(error_pct),
        })
    }

    /// A choice whose rows have these (achieved load, reached, M/G/1 error, M/M/1 error).
    fn choice(name: &str, rows: &[(f64, bool, f64, f64)]) -> ValidationChoice {
        let mut c = ValidationChoice {
            name: name.into(),
            description: String::new(),
            service: Service {
                mean: 10_000.0,
                variance: 1e6,
                cv2: 0.01,
            },
            lambda_max_per_s: 100_000.0,
            setup: None,
            points: rows
                .iter()
                .map(|&(rho, reached, mg1, mm1)| ValidationRow {
                    rho,
                    lambda_target_per_s: rho * 1e5,
                    lambda_achieved_per_s: Some(rho * 1e5),
                    rho_achieved: Some(rho),
                    reached,
                    reason: None,
                    measured: None,
                    mg1: pred(mg1),
                    mm1: pred(mm1),
                    mg1_setup: None,
                    busy_per_datagram: None,
                })
                .collect(),
            verdicts: Vec::new(),
        };
        c.verdicts = verdicts(&c);
        c
    }

    #[test]
    fn fits_within_the_tolerance_up_to_0_7_and_reports_0_9_apart() {
        let c = choice(
            "probes",
            &[
                (0.1, true, 5.0, -30.0),
                (0.3, true, -10.0, -35.0),
                (0.5, true, 15.0, -40.0),
                (0.7, true, -18.0, -45.0),
                (0.9, true, 40.0, -60.0),
                // Not reached: never judged, however far off.
                (0.6, false, 500.0, 500.0),
            ],
        );
        let mg1 = &c.verdicts[0];
        assert_eq!(mg1.model, "M/G/1");
        assert!(mg1.fits, "{mg1:?}");
        assert_eq!(mg1.points_to_fit_rho, 4);
        assert_eq!(mg1.max_abs_error_pct_to_fit_rho, Some(18.0));
        assert_eq!(mg1.max_abs_error_pct_to_high_rho, Some(40.0));
        assert!(mg1.verdict.starts_with("fits"), "{}", mg1.verdict);
        assert_eq!(mg1.reason, None);
        let mm1 = &c.verdicts[1];
        assert!(!mm1.fits);
        assert_eq!(mm1.max_abs_error_pct_to_fit_rho, Some(45.0));
        assert!(
            mm1.verdict.contains("less delay than measured"),
            "{}",
            mm1.verdict
        );
        // The reason, apart, is the verdict's sentence after the error.
        let reason = mm1.reason.as_deref().expect("a misfit has a reason");
        assert!(reason.starts_with("it predicts less delay"), "{reason}");
        assert!(
            mm1.verdict.ends_with(&format!(": {reason}")),
            "{}",
            mm1.verdict
        );
    }

    #[test]
    fn the_reason_follows_the_signs_in_load_order() {
        // Given out of load order: the rows are sorted by load first.
        let c = choice(
            "relay",
            &[
                (0.7, true, 25.0, 60.0),
                (0.1, true, -30.0, 50.0),
                (0.4, true, -10.0, 55.0),
            ],
        );
        assert!(
            c.verdicts[0].verdict.contains("falls with load"),
            "{}",
            c.verdicts[0].verdict
        );
        assert!(
            c.verdicts[1].verdict.contains("more delay than measured"),
            "{}",
            c.verdicts[1].verdict
        );
        let c = choice("x", &[(0.2, true, 30.0, 0.0), (0.6, true, -25.0, 0.0)]);
        assert!(c.verdicts[0].verdict.contains("grows with load"));
        let c = choice("y", &[(0.8, true, 1.0, 1.0), (0.2, false, 1.0, 1.0)]);
        assert!(!c.verdicts[0].fits);
        assert!(c.verdicts[0].verdict.starts_with("not judged"));
        assert_eq!(c.verdicts[0].reason, None, "not judged is no misfit");
    }

    #[test]
    fn recommends_the_closest_fitting_pair_or_says_none_fits() {
        let v = Validation {
            rate_tolerance: 0.1,
            choices: vec![
                choice(
                    "probes",
                    &[(0.1, true, -60.0, -50.0), (0.5, true, -70.0, -55.0)],
                ),
                choice("busy", &[(0.1, true, 12.0, 30.0), (0.5, true, -8.0, 25.0)]),
                choice("setup", &[(0.1, true, 5.0, 19.0), (0.5, true, 6.0, -19.5)]),
            ],
            recommended: None,
            repeatability: None,
        };
        let r = recommend(&v).expect("a judged pair");
        assert_eq!(
            (r.choice.as_str(), r.model.as_str(), r.fits),
            ("setup", "M/G/1", true)
        );
        assert_eq!(r.max_abs_error_pct, 6.0);
        assert!(r.why.contains("plan with it"), "{}", r.why);
        let none = Validation {
            rate_tolerance: 0.1,
            choices: vec![choice(
                "probes",
                &[(0.1, true, -60.0, -50.0), (0.5, true, -70.0, -45.0)],
            )],
            recommended: None,
            repeatability: None,
        };
        let r = recommend(&none).expect("the closest");
        assert_eq!((r.model.as_str(), r.fits), ("M/M/1", false));
        assert!(r.why.starts_with("no choice fits"), "{}", r.why);
        assert!(
            r.why.ends_with(
                "off by up to 50 %: it predicts less delay than measured at every \
                             load: the proxy spends time per datagram that T leaves out (work \
                             outside the probed path, or the wake-up of an idle CPU, which \
                             plain M/G/1 does not have)"
            ),
            "{}",
            r.why
        );
        let empty = Validation {
            rate_tolerance: 0.1,
            choices: vec![choice("probes", &[(0.9, true, 1.0, 1.0)])],
            recommended: None,
            repeatability: None,
        };
        assert_eq!(recommend(&empty), None);
    }

    /// `c` with each row's measured mean sojourn W set to `ws` in order.
    fn with_w(mut c: ValidationChoice, ws: &[f64]) -> ValidationChoice {
        use crate::results::validation_table::{Measured, SojournStats};
        for (row, &w) in c.points.iter_mut().zip(ws) {
            row.measured = Some(Measured {
                sojourn: SojournStats {
                    samples: 100,
                    discarded: 0,
                    mean: w,
                    variance: 1.0,
                    ci95: None,
                    ci_method: "iid".into(),
                },
                in_system: None,
                in_system_ci95: None,
            });
        }
        c
    }

    /// By hand: probes at ρ 0.1 measured at W 90 and 110: spread (110 − 90)/2 = 10 of the
    /// mean 100, ±10 %; at 0.5, 100 and 200: 50 of 150, ±33.3 %; busy at 0.3 three times, 100,
    /// 100 and 104: 2 of 101.33, ±1.97 %. The 0.9 pair is above ρ = 0.7 and the 0.6 pair not
    /// reached: neither counts. Median of 1.97, 10 and 33.3: 10.
    #[test]
    fn repeatability_is_the_spread_of_w_at_one_load_and_can_void_a_fit() {
        let probes = with_w(
            choice(
                "probes",
                &[
                    (0.1, true, 5.0, 5.0),
                    (0.5, true, 5.0, 5.0),
                    (0.9, true, 5.0, 5.0),
                    (0.1, true, 5.0, 5.0),
                    (0.5, true, 5.0, 5.0),
                    (0.9, true, 5.0, 5.0),
                    (0.6, false, 5.0, 5.0),
                    (0.6, false, 5.0, 5.0),
                ],
            ),
            &[90.0, 100.0, 50.0, 110.0, 200.0, 500.0, 10.0, 1000.0],
        );
        let busy = with_w(
            choice(
                "busy",
                &[
                    (0.3, true, 50.0, 50.0),
                    (0.3, true, 50.0, 50.0),
                    (0.3, true, 50.0, 50.0),
                ],
            ),
            &[100.0, 100.0, 104.0],
        );
        let mut v = Validation {
            rate_tolerance: 0.1,
            choices: vec![probes, busy],
            recommended: None,
            repeatability: None,
        };
        let r = repeatability(&v).expect("points measured twice");
        assert_eq!(r.points, 3);
        assert!((r.max_spread_pct - 100.0 / 3.0).abs() < 1e-9, "{r:?}");
        assert!((r.median_spread_pct - 10.0).abs() < 1e-9, "{r:?}");
        assert!(r.wider_than_tolerance);
        assert!(
            r.verdict.contains("±33 %") && r.verdict.contains("cannot tell"),
            "{}",
            r.verdict
        );
        // M/G/1 with probes fits (5 %), but not beyond the measurement's own noise.
        v.repeatability = Some(r);
        let rec = recommend(&v).expect("a judged pair");
        assert_eq!((rec.choice.as_str(), rec.fits), ("probes", false));
        assert!(
            rec.why.starts_with("inconclusive on this host"),
            "{}",
            rec.why
        );
        // Without repeats there is nothing to say.
        let once = with_w(choice("relay", &[(0.1, true, 1.0, 1.0)]), &[10.0]);
        let single = Validation {
            rate_tolerance: 0.1,
            choices: vec![once],
            recommended: None,
            repeatability: None,
        };
        assert_eq!(repeatability(&single), None);
    }

    /// A ρ = 0.7 point that the generator overshot a little (achieved 0.709) is still judged
    /// among the points up to 0.7.
    #[test]
    fn a_point_is_judged_at_its_target_load() {
        let mut c = choice("relay", &[(0.7, true, 30.0, 30.0)]);
        c.points[0].rho_achieved = Some(0.709);
        let v = verdicts(&c);
        assert_eq!(v[0].points_to_fit_rho, 1);
        assert_eq!(v[0].max_abs_error_pct_to_fit_rho, Some(30.0));
        assert!(!v[0].fits);
    }
}
