//! Validation of the queueing projection against measurement (issue 6): measured mean sojourn
//! times at several open-loop Poisson loads, beside the M/G/1 and M/M/1 predictions.
//!
//! For each *service-time choice* (the method's `T = T_rx + T_tx` from the probes, `"probes"`;
//! the whole relay measured at low load, `"relay"`; any other the caller names) and each load
//! point:
//!
//! * the target rate `λ = ρ/T` and the rate the generator achieved, `λ_a`;
//! * the **achieved load** `ρ_a = λ_a·T`, at which the models are evaluated: at ρ = 0.9 a 2 %
//!   shortfall of the rate already moves the predicted W by 15 %, so comparing against the
//!   target load would blame the model for the generator;
//! * the measured mean sojourn `W` and the half-width of its 95 % confidence interval. From raw
//!   values in arrival order the interval comes from **batch means** (20 batches; Law and
//!   Kelton, *Simulation Modeling and Analysis*, 3rd ed., 2000, §9.5.3), because successive
//!   sojourns in a queue are correlated and the i.i.d. interval `t·s/√n` would be far too
//!   narrow at high load. With fewer than 200 values, or from a summary (n, mean, variance),
//!   it is the i.i.d. Student-t interval `t(0.975, n−1)·s/√n`;
//! * the measured number in system by **Little's law**, `N = λ_a·W` (Little, *Operations
//!   Research* 9(3), 1961), with the interval `λ_a·ci95(W)` (λ_a taken as exact);
//! * the predictions of W and N of both models at `ρ_a` (`queueing.rs`) and the relative error
//!   of each against the measurement, `100·(predicted − measured)/measured` %. Both predicted
//!   N use the same `λ_a` as the measured N, so the error of N equals the error of W.
//!
//! A point is **reached** when the generator's rate is within the tolerance (default ±10 %) of
//! the target, the achieved load is below 1 and sojourns were measured. Otherwise it carries the
//! reason ("generator achieved only 81234/s of 150000/s requested (54.2 %)"); the numbers that
//! could be computed are still kept.
//!
//! [`build`] makes a [`Validation`] from in-memory inputs (what `cargo xtask demo` calls);
//! [`load_points`] reads the same inputs from a points file (`kpath analyze --validation`),
//! whose format `docs/model.md` documents.
//!
//! The file is long because two fifths of it are tests of the rows, the batch-means interval,
//! the achieved-load rule and the setup-time model on hand-made points.

mod points;
mod sojourn;
pub mod verdict;

use points::scale_sojourns;
pub use points::*;
pub use sojourn::*;

use crate::error::{Error, Result};
use crate::queueing::{mg1_setup_sojourn, mg1_sojourn, mm1_sojourn, Setup};
pub use crate::results::validation_table::{
    Measured, ModelVerdict, Prediction, Recommendation, SojournStats, Validation, ValidationChoice,
    ValidationRow,
};
use crate::results::{Results, Service};

/// Default relative tolerance of the achieved rate against the target rate.
pub const DEFAULT_RATE_TOLERANCE: f64 = 0.10;

/// Name of the service-time choice taken from the probes (`T = T_rx + T_tx`).
pub const PROBES: &str = "probes";
/// Name of the service-time choice measured as the whole relay at low load.
pub const RELAY: &str = "relay";

/// Options of [`build`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ValidationOptions {
    /// A point is unreachable when `|λ_a − λ|/λ` exceeds this.
    pub rate_tolerance: f64,
}

impl Default for ValidationOptions {
    fn default() -> Self {
        Self {
            rate_tolerance: DEFAULT_RATE_TOLERANCE,
        }
    }
}

/// Number in system by Little's law: `N = λ·W`, with λ per second and W in a unit of
/// `unit_ns` ns.
pub fn little_in_system(lambda_per_s: f64, sojourn: f64, unit_ns: f64) -> f64 {
    lambda_per_s * sojourn * unit_ns * 1e-9
}

/// `100·(predicted − measured)/measured` %, or `None` when `measured` is 0 or not finite.
pub fn relative_error_pct(predicted: f64, measured: f64) -> Option<f64> {
    (measured != 0.0 && measured.is_finite() && predicted.is_finite())
        .then(|| 100.0 * (predicted - measured) / measured)
}

fn default_description(name: &str) -> String {
    match name {
        PROBES => "the method's service time T = T_rx + T_tx from the probes".into(),
        RELAY => "the whole relay (kernel receive to kernel transmit, including the echo program \
                  and its system calls) measured at low load, ρ → 0"
            .into(),
        _ => String::new(),
    }
}

fn check_service(what: &str, s: ServiceTime) -> Result<ServiceTime> {
    if !(s.mean.is_finite() && s.mean > 0.0 && s.variance.is_finite() && s.variance >= 0.0) {
        return Err(Error::ValidationInput {
            what: what.into(),
            reason: format!(
                "service time mean {} must be positive and variance {} non-negative",
                s.mean, s.variance
            ),
        });
    }
    Ok(s)
}

/// The service time of `choice`: its own, or `probes` for a choice named [`PROBES`] without one.
fn resolve_service(
    choice: &ChoiceInput,
    probes: Option<ServiceTime>,
    unit_ns: f64,
) -> Result<ServiceTime> {
    let what = format!("choice `{}`", choice.name);
    let s = match &choice.service {
        Some(ServiceSpec::Moments(s)) => *s,
        Some(ServiceSpec::Sojourns { sojourns }) => {
            let st = sojourn_stats(sojourns, unit_ns)?;
            ServiceTime {
                mean: st.mean,
                variance: st.variance,
            }
        }
        None if choice.name == PROBES => probes.ok_or_else(|| Error::ValidationInput {
            what: what.clone(),
            reason: "the results have no service time (T = 0); give `service`".into(),
        })?,
        None => {
            return Err(Error::ValidationInput {
                what,
                reason: "no service time: give `service` ({mean, variance} or {sojourns})".into(),
            })
        }
    };
    check_service(&what, s)
}

/// The setup time of `choice`, checked (a mean of 0 is allowed: no setup).
fn resolve_setup(choice: &ChoiceInput) -> Result<Option<Setup>> {
    let Some(s) = choice.setup else {
        return Ok(None);
    };
    if !(s.mean.is_finite() && s.mean >= 0.0 && s.variance.is_finite() && s.variance >= 0.0) {
        return Err(Error::ValidationInput {
            what: format!("choice `{}`", choice.name),
            reason: format!(
                "setup time mean {} and variance {} must be non-negative numbers",
                s.mean, s.variance
            ),
        });
    }
    Ok(Some(Setup {
        mean: s.mean,
        variance: s.variance,
    }))
}

fn row(
    p: &MeasuredPoint,
    s: ServiceTime,
    setup: Option<Setup>,
    unit_ns: f64,
    opts: &ValidationOptions,
    choice: &str,
) -> Result<ValidationRow> {
    let what = || format!("choice `{choice}`, point ρ = {}", p.rho);
    if !(p.rho > 0.0 && p.rho < 1.0) {
        return Err(Error::ValidationInput {
            what: what(),
            reason: "ρ must be in (0, 1)".into(),
        });
    }
    let t_s = s.mean * unit_ns * 1e-9;
    let target = p.lambda_target_per_s.unwrap_or(p.rho / t_s);
    let achieved = p.lambda_achieved_per_s;
    if !(target.is_finite() && target > 0.0)
        || achieved.is_some_and(|a| !(a.is_finite() && a >= 0.0))
    {
        return Err(Error::ValidationInput {
            what: what(),
            reason: format!(
                "rates must be positive numbers (target {target}, achieved {achieved:?})"
            ),
        });
    }
    let stats = p
        .sojourns
        .as_ref()
        .map(|x| sojourn_stats(x, unit_ns))
        .transpose()?
        .filter(|st| st.samples > 0);

    let mut reasons: Vec<String> = Vec::new();
    match achieved {
        None => reasons.push("no achieved rate reported".into()),
        Some(a) if a < target * (1.0 - opts.rate_tolerance) => reasons.push(format!(
            "generator achieved only {a:.0}/s of {target:.0}/s requested ({:.1} %)",
            100.0 * a / target
        )),
        Some(a) if a > target * (1.0 + opts.rate_tolerance) => reasons.push(format!(
            "generator sent {a:.0}/s, more than the {target:.0}/s requested ({:.1} %)",
            100.0 * a / target
        )),
        Some(_) => {}
    }
    let rho_achieved = achieved.map(|a| a * t_s);
    let rho_eval = rho_achieved.unwrap_or(p.rho);
    if rho_eval >= 1.0 {
        reasons.push(format!(
            "achieved load ρ = {rho_eval:.3} ≥ 1: the queue has no steady state"
        ));
    }
    if stats.is_none() {
        reasons.push("no sojourn measured".into());
    }
    let reason = match &p.unreachable {
        Some(r) => Some(r.clone()),
        None if reasons.is_empty() => None,
        None => Some(reasons.join("; ")),
    };

    let measured = stats.map(|st| {
        let in_system = achieved.map(|a| little_in_system(a, st.mean, unit_ns));
        let in_system_ci95 = achieved
            .zip(st.ci95)
            .map(|(a, c)| little_in_system(a, c, unit_ns));
        Measured {
            sojourn: st,
            in_system,
            in_system_ci95,
        }
    });
    let predict = |w: f64, n: f64| Prediction {
        sojourn: w,
        in_system: n,
        sojourn_error_pct: measured
            .as_ref()
            .and_then(|m| relative_error_pct(w, m.sojourn.mean)),
        in_system_error_pct: measured
            .as_ref()
            .and_then(|m| m.in_system)
            .and_then(|mn| relative_error_pct(n, mn)),
    };
    let (mg1, mm1, mg1_setup) = if rho_eval < 1.0 {
        let cv2 = s.variance / (s.mean * s.mean);
        let w_mg1 = mg1_sojourn(s.mean, cv2, rho_eval);
        let w_mm1 = mm1_sojourn(s.mean, rho_eval);
        // N = λ·W with λ = ρ/T, as for M/G/1.
        let with_setup = setup.map(|st| {
            let w = mg1_setup_sojourn(s.mean, cv2, rho_eval, st);
            predict(w, rho_eval * w / s.mean)
        });
        (
            Some(predict(w_mg1, rho_eval * w_mg1 / s.mean)),
            Some(predict(w_mm1, rho_eval / (1.0 - rho_eval))),
            with_setup,
        )
    } else {
        (None, None, None)
    };
    Ok(ValidationRow {
        rho: p.rho,
        lambda_target_per_s: target,
        lambda_achieved_per_s: achieved,
        rho_achieved,
        reached: reason.is_none(),
        reason,
        measured,
        mg1,
        mm1,
        mg1_setup,
        busy_per_datagram: p.busy_per_datagram,
    })
}

/// Builds the validation table of one service-time choice. `probes` is the service time used
/// when the choice is named [`PROBES`] and gives none; times are in a unit of `unit_ns` ns.
pub fn build_choice(
    choice: &ChoiceInput,
    probes: Option<ServiceTime>,
    unit_ns: f64,
    opts: &ValidationOptions,
) -> Result<ValidationChoice> {
    if !(unit_ns.is_finite() && unit_ns > 0.0) {
        return Err(Error::ValidationInput {
            what: format!("choice `{}`", choice.name),
            reason: format!("unit_ns {unit_ns} must be positive"),
        });
    }
    let s = resolve_service(choice, probes, unit_ns)?;
    let setup = resolve_setup(choice)?;
    let points = choice
        .points
        .iter()
        .map(|p| row(p, s, setup, unit_ns, opts, &choice.name))
        .collect::<Result<Vec<_>>>()?;
    Ok(ValidationChoice {
        name: choice.name.clone(),
        description: choice
            .description
            .clone()
            .unwrap_or_else(|| default_description(&choice.name)),
        service: Service {
            mean: s.mean,
            variance: s.variance,
            cv2: s.variance / (s.mean * s.mean),
        },
        lambda_max_per_s: 1.0 / (s.mean * unit_ns * 1e-9),
        setup: setup.map(|st| Service {
            mean: st.mean,
            variance: st.variance,
            cv2: if st.mean > 0.0 {
                st.variance / (st.mean * st.mean)
            } else {
                0.0
            },
        }),
        verdicts: Vec::new(),
        points,
    })
}

/// Builds the validation part of the results from every choice (see [`build_choice`]).
///
/// ```
/// use kpath_analysis::validation::*;
/// let relay = ChoiceInput {
///     name: RELAY.into(),
///     description: None,
///     service: Some(ServiceSpec::Moments(ServiceTime { mean: 1000.0, variance: 250_000.0 })),
///     setup: None,
///     points: vec![MeasuredPoint {
///         rho: 0.5,
///         lambda_target_per_s: None,
///         lambda_achieved_per_s: Some(500_000.0),
///         sojourns: Some(Sojourns::Summary { samples: 100, mean: 1500.0, variance: 10_000.0 }),
///         unreachable: None,
///         busy_per_datagram: None,
///     }],
/// };
/// let v = build(&[relay], None, 1.0, &ValidationOptions::default())?;
/// let row = &v.choices[0].points[0];
/// let w_mg1 = row.mg1.map_or(0.0, |p| p.sojourn);
/// assert!((w_mg1 - 1625.0).abs() < 1e-6); // 1000 + 0.5·1000·1.25/(2·0.5)
/// # Ok::<(), kpath_analysis::Error>(())
/// ```
pub fn build(
    choices: &[ChoiceInput],
    probes: Option<ServiceTime>,
    unit_ns: f64,
    opts: &ValidationOptions,
) -> Result<Validation> {
    if !(opts.rate_tolerance.is_finite() && opts.rate_tolerance >= 0.0) {
        return Err(Error::Option {
            option: "rate_tolerance",
            reason: format!("{} is not a non-negative number", opts.rate_tolerance),
        });
    }
    let mut v = Validation {
        rate_tolerance: opts.rate_tolerance,
        choices: choices
            .iter()
            .map(|c| build_choice(c, probes, unit_ns, opts))
            .collect::<Result<_>>()?,
        recommended: None,
        repeatability: None,
    };
    for c in &mut v.choices {
        c.verdicts = verdict::verdicts(c);
    }
    v.repeatability = verdict::repeatability(&v);
    v.recommended = verdict::recommend(&v);
    Ok(v)
}

impl PointsFile {
    /// Builds the validation for `results`: converts the file's times to the results' unit and
    /// uses the results' service time for a `"probes"` choice that gives none.
    pub fn build(&self, results: &Results) -> Result<Validation> {
        if !(self.unit_ns.is_finite() && self.unit_ns > 0.0) {
            return Err(Error::Option {
                option: "unit_ns",
                reason: format!("{} is not a positive number", self.unit_ns),
            });
        }
        let f = self.unit_ns / results.unit_ns;
        let mut choices = self.choices.clone();
        for c in &mut choices {
            match &mut c.service {
                Some(ServiceSpec::Moments(s)) => {
                    s.mean *= f;
                    s.variance *= f * f;
                }
                Some(ServiceSpec::Sojourns { sojourns }) => scale_sojourns(sojourns, f),
                None => {}
            }
            if let Some(s) = &mut c.setup {
                s.mean *= f;
                s.variance *= f * f;
            }
            for s in c.points.iter_mut().filter_map(|p| p.sojourns.as_mut()) {
                scale_sojourns(s, f);
            }
            for b in c
                .points
                .iter_mut()
                .filter_map(|p| p.busy_per_datagram.as_mut())
            {
                *b *= f;
            }
        }
        let probes = results
            .service
            .as_ref()
            .filter(|s| s.mean > 0.0)
            .map(|s| ServiceTime {
                mean: s.mean,
                variance: s.variance,
            });
        let opts = ValidationOptions {
            rate_tolerance: self.rate_tolerance.unwrap_or(DEFAULT_RATE_TOLERANCE),
        };
        build(&choices, probes, results.unit_ns, &opts)
    }
}

#[cfg(test)]
mod tests {
    use super::sojourn::raw_stats;
    use super::*;
    use crate::stats::t_975;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn littles_law_and_relative_error() {
        // 500 000/s × 1500 ns = 0.75 datagrams in the system.
        assert!(close(little_in_system(500_000.0, 1500.0, 1.0), 0.75));
        // In ticks of 0.5 ns: 3000 ticks are the same 1500 ns.
        assert!(close(little_in_system(500_000.0, 3000.0, 0.5), 0.75));
        assert!(close(
            relative_error_pct(1625.0, 1500.0).unwrap_or(0.0),
            100.0 / 12.0
        ));
        assert!(close(
            relative_error_pct(2000.0, 1500.0).unwrap_or(0.0),
            100.0 / 3.0
        ));
        assert_eq!(relative_error_pct(1.0, 0.0), None);
    }

    #[test]
    fn iid_ci_at_hand_values() {
        // n = 10, D = 90: t(0.975, 9) = 2.262, √(90/10) = 3.
        assert!(close(iid_ci95(10, 90.0).unwrap_or(0.0), 2.262 * 3.0));
        assert_eq!(iid_ci95(1, 90.0), None);
    }

    #[test]
    fn batch_means_ci_at_hand_values() {
        // 200 values, 20 batches of 10: batch i holds the value i (i = 0..19) ten times.
        // Batch means 0..19: variance (20² − 1)/12 = 35, so t(0.975, 19)·√(35/20).
        let v: Vec<f64> = (0..200).map(|k| f64::from(k / 10)).collect();
        let ci = batch_means_ci95(&v).unwrap_or(0.0);
        assert!(close(ci, 2.093 * (35.0_f64 / 20.0).sqrt()), "{ci}");
        assert_eq!(batch_means_ci95(&v[..199]), None);
        let st = raw_stats(&v);
        assert_eq!(st.samples, 200);
        assert!(st.ci_method.starts_with("batch means"));
        let st = raw_stats(&[1.0, 3.0, -5.0, f64::NAN]);
        assert_eq!((st.samples, st.discarded), (2, 2));
        assert!(close(st.mean, 2.0) && close(st.variance, 2.0));
        assert!(close(st.ci95.unwrap_or(0.0), 12.706 * 1.0));
    }

    fn relay(points: Vec<MeasuredPoint>) -> ChoiceInput {
        ChoiceInput {
            name: RELAY.into(),
            description: None,
            service: Some(ServiceSpec::Moments(ServiceTime {
                mean: 1000.0,
                variance: 250_000.0,
            })),
            setup: None,
            points,
        }
    }

    fn point(rho: f64, achieved: Option<f64>) -> MeasuredPoint {
        MeasuredPoint {
            rho,
            lambda_target_per_s: None,
            lambda_achieved_per_s: achieved,
            sojourns: Some(Sojourns::Summary {
                samples: 100,
                mean: 1500.0,
                variance: 10_000.0,
            }),
            unreachable: None,
            busy_per_datagram: None,
        }
    }

    #[test]
    fn row_at_hand_values() {
        // T = 1000 ns, C² = 0.25, ρ = 0.5 → λ = 500 000/s.
        // M/G/1: W = 1000 + 0.5·1000·1.25/(2·0.5) = 1625, N = 0.8125.
        // M/M/1: W = 2000, N = 1. Measured W = 1500, N = 0.75.
        let c = build_choice(
            &relay(vec![point(0.5, Some(500_000.0))]),
            None,
            1.0,
            &ValidationOptions::default(),
        )
        .expect("build");
        assert!(close(c.lambda_max_per_s, 1e6));
        let r = &c.points[0];
        assert!(r.reached, "{:?}", r.reason);
        assert!(close(r.lambda_target_per_s, 500_000.0));
        assert!(close(r.rho_achieved.unwrap_or(0.0), 0.5));
        let m = r.measured.as_ref().expect("measured");
        assert!(close(m.in_system.unwrap_or(0.0), 0.75));
        assert!(close(
            m.sojourn.ci95.unwrap_or(0.0),
            t_975(99) * (10_000.0_f64 / 100.0).sqrt()
        ));
        let mg1 = r.mg1.expect("mg1");
        let mm1 = r.mm1.expect("mm1");
        assert!(close(mg1.sojourn, 1625.0) && close(mg1.in_system, 0.8125));
        assert!(close(mm1.sojourn, 2000.0) && close(mm1.in_system, 1.0));
        assert!(close(mg1.sojourn_error_pct.unwrap_or(0.0), 100.0 / 12.0));
        assert!(close(mm1.in_system_error_pct.unwrap_or(0.0), 100.0 / 3.0));
    }

    #[test]
    fn a_setup_time_adds_the_m_g_1_with_setup_row_and_verdict() {
        // As above, with a setup of mean 400 ns and variance 90 000 ns² (E[S²] = 250 000):
        // W = 1625 + (2·400 + λ·250 000)/(2·(1 + λ·400)) with λ = 0.0005/ns
        //   = 1625 + 925/2.4 = 2010.41666…, N = λ·W = 1.0052083…
        let mut choice = relay(vec![point(0.5, Some(500_000.0))]);
        choice.name = "busy+setup".into();
        choice.setup = Some(ServiceTime {
            mean: 400.0,
            variance: 90_000.0,
        });
        let c = build_choice(&choice, None, 1.0, &ValidationOptions::default()).expect("build");
        let setup = c.setup.as_ref().expect("the choice keeps its setup");
        assert!(close(setup.mean, 400.0) && close(setup.cv2, 90_000.0 / 160_000.0));
        let r = &c.points[0];
        let s = r.mg1_setup.expect("a setup prediction");
        assert!(close(s.sojourn, 1625.0 + 925.0 / 2.4), "{}", s.sojourn);
        assert!(close(s.in_system, 0.0005 * (1625.0 + 925.0 / 2.4)));
        assert!(close(
            s.sojourn_error_pct.unwrap_or(0.0),
            100.0 * (1625.0 + 925.0 / 2.4 - 1500.0) / 1500.0
        ));
        // M/G/1 itself is unchanged, and the verdicts name the third model.
        assert!(close(r.mg1.expect("mg1").sojourn, 1625.0));
        let v = build(&[choice], None, 1.0, &ValidationOptions::default()).expect("build");
        let models: Vec<&str> = v.choices[0]
            .verdicts
            .iter()
            .map(|m| m.model.as_str())
            .collect();
        assert_eq!(models, ["M/G/1", "M/M/1", "M/G/1+setup"]);
        // Without a setup there is neither the row nor the verdict.
        let plain = build(
            &[relay(vec![point(0.5, Some(500_000.0))])],
            None,
            1.0,
            &ValidationOptions::default(),
        )
        .expect("build");
        assert_eq!(plain.choices[0].points[0].mg1_setup, None);
        assert_eq!(plain.choices[0].verdicts.len(), 2);
        // A negative setup is refused, naming the choice.
        let mut bad = relay(vec![]);
        bad.setup = Some(ServiceTime {
            mean: -1.0,
            variance: 0.0,
        });
        let e = build_choice(&bad, None, 1.0, &ValidationOptions::default())
            .expect_err("a negative setup");
        assert!(e.to_string().contains("setup time mean -1"), "{e}");
    }

    #[test]
    fn short_rate_is_unreachable_and_models_use_achieved_load() {
        let c = build_choice(
            &relay(vec![point(0.9, Some(450_000.0)), point(0.8, None)]),
            None,
            1.0,
            &ValidationOptions::default(),
        )
        .expect("build");
        let r = &c.points[0];
        assert!(!r.reached);
        assert_eq!(
            r.reason.as_deref(),
            Some("generator achieved only 450000/s of 900000/s requested (50.0 %)")
        );
        // Evaluated at ρ_a = 0.45: M/M/1 W = 1000/0.55.
        assert!(close(r.mm1.expect("mm1").sojourn, 1000.0 / 0.55));
        assert_eq!(
            c.points[1].reason.as_deref(),
            Some("no achieved rate reported")
        );
    }

    #[test]
    fn probes_choice_falls_back_and_others_need_a_service() {
        let probes = ChoiceInput {
            name: PROBES.into(),
            description: None,
            service: None,
            setup: None,
            points: vec![],
        };
        let s = ServiceTime {
            mean: 10.0,
            variance: 1.0,
        };
        let c = build_choice(&probes, Some(s), 1.0, &ValidationOptions::default()).expect("ok");
        assert!(close(c.service.cv2, 0.01));
        let mut other = relay(vec![]);
        other.service = None;
        assert!(build_choice(&other, Some(s), 1.0, &ValidationOptions::default()).is_err());
        let bad = relay(vec![point(1.5, Some(1.0))]);
        assert!(build_choice(&bad, None, 1.0, &ValidationOptions::default()).is_err());
    }

    #[test]
    fn the_documented_example_parses() {
        let doc = include_str!("../../../docs/model.md");
        let from = doc.find("### Points file").expect("section");
        let start = from + doc[from..].find("```json\n").expect("json block") + 8;
        let end = start + doc[start..].find("```").expect("end of block");
        let f: PointsFile = serde_json::from_str(&doc[start..end]).expect("documented example");
        assert_eq!(f.choices.len(), 2);
        assert_eq!(f.choices[0].points.len(), 3);
    }

    #[test]
    fn points_json_forms_parse() {
        let f: PointsFile = serde_json::from_str(
            r#"{"choices":[{"name":"relay","service":{"sojourns":[1,2,3]},"points":[
                {"rho":0.1,"lambda_achieved_per_s":5,"sojourns":[1,2]},
                {"rho":0.3,"sojourns":{"samples":3,"mean":2,"variance":1}},
                {"rho":0.5,"sojourns":{"csv":"a.csv","skip":5}},
                {"rho":0.9,"unreachable":"generator crashed"}]}]}"#,
        )
        .expect("parse");
        assert_eq!(f.unit_ns, 1.0);
        let c = &f.choices[0];
        assert!(matches!(c.service, Some(ServiceSpec::Sojourns { .. })));
        assert!(matches!(c.points[0].sojourns, Some(Sojourns::Raw(_))));
        assert!(matches!(
            c.points[1].sojourns,
            Some(Sojourns::Summary { .. })
        ));
        assert!(matches!(
            c.points[2].sojourns,
            Some(Sojourns::Csv { skip: 5, .. })
        ));
    }
}
