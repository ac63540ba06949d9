//! The queueing projection (methodology step 7): M/G/1 and M/M/1 from the measured service
//! time.
//!
//! Inputs: the mean service time `T` and its variance `D` of one relayed datagram
//! (`T = T_rx + T_tx`, `D = D_rx + D_tx`), in any unit; `unit_ns` nanoseconds per unit.
//!
//! * Squared coefficient of variation `C² = D/T²`.
//! * Saturation rate `λ_max = 1/T` (per second: `10⁹/(T·unit_ns)`).
//! * Load `ρ = λ·T`, `0 < ρ < 1`.
//! * **M/G/1**, Pollaczek–Khinchine mean value formula (Kleinrock, *Queueing Systems* vol. 1,
//!   1975, eq. 5.86): `W = T + ρ·T·(1 + C²) / (2·(1 − ρ))`; number in system (Little's law)
//!   `N = λ·W = ρ·W/T`.
//! * **M/M/1** (exponential service, `C² = 1`): `W = T/(1 − ρ)`, `N = ρ/(1 − ρ)`.
//! * Relative error of M/M/1 against M/G/1: `100·(W_MM1 − W_MG1)/W_MG1` %, which works out
//!   to `100·ρ·(1 − C²) / (2 − ρ·(1 − C²))`: positive when `C² < 1` (M/M/1 overstates the
//!   delay), zero when `C² = 1`.
//!
//! * **M/G/1 with setup times** (exceptional first service: the first arrival of each busy
//!   period, which finds the server idle, first waits a setup time `S`; here the wake-up of
//!   an idle CPU). Welch, "On a generalized M/G/1 queuing process in which the first customer
//!   of each busy period receives exceptional service", *Operations Research* 12(5), 1964;
//!   in the decomposition form of Fuhrmann and Cooper (*Operations Research* 33(5), 1985):
//!   `W = W_MG1 + (2·E[S] + λ·E[S²]) / (2·(1 + λ·E[S]))`, with `E[S²] = Var S + E[S]²`. It
//!   is P-K when `S = 0`; with exponential service and setup it is `1/(μ − λ) + E[S]`, the
//!   M/M/1-with-setup result of Gandhi and Harchol-Balter (2010). `ρ = λ·T` as before: the
//!   setup is not service (the server is idle then), so it does not move λ_max.
//!
//! The method recommends M/G/1 whenever `C² ≠ 1`; [`project`] says `"M/M/1"` only when `C²`
//! is within 5 % of 1, where the two agree to within a few per cent.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Sojourn time and number in system at one load.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueueMetrics {
    /// Mean sojourn time W (waiting + service), in the input unit.
    pub sojourn: f64,
    /// Mean number in system N.
    pub in_system: f64,
}

/// Both models at one load.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelPoint {
    /// Load ρ = λ·T.
    pub rho: f64,
    /// Arrival rate λ, per second.
    pub lambda_per_s: f64,
    /// M/G/1 (Pollaczek–Khinchine).
    pub mg1: QueueMetrics,
    /// M/M/1.
    pub mm1: QueueMetrics,
    /// `100·(W_MM1 − W_MG1)/W_MG1`.
    pub mm1_error_pct: f64,
    /// M/G/1 with setup times, when a setup was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mg1_setup: Option<QueueMetrics>,
}

/// The setup (wake-up) time paid by the first arrival of each busy period, input unit.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Setup {
    /// Mean E[S].
    pub mean: f64,
    /// Variance Var S, input unit squared.
    pub variance: f64,
}

/// The projection: the JSON of `kpath model --json`, field for field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelOutput {
    /// Mean service time T, input unit.
    pub mean: f64,
    /// Service-time variance D, input unit squared.
    pub variance: f64,
    /// C² = D/T².
    pub cv2: f64,
    /// Nanoseconds per input unit.
    pub unit_ns: f64,
    /// Saturation rate 1/T, per second.
    pub lambda_max_per_s: f64,
    /// `"M/G/1"` or `"M/M/1"`.
    pub recommended: String,
    /// The setup time of the M/G/1-with-setup model, when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup: Option<Setup>,
    /// One entry per requested load.
    pub points: Vec<ModelPoint>,
}

/// |C² − 1| below which M/M/1 is recommended.
pub const MM1_TOLERANCE: f64 = 0.05;

/// The default load grid: 0.05, 0.10, …, 0.95, then 0.99.
pub fn default_rhos() -> Vec<f64> {
    let mut v: Vec<f64> = (1..=19).map(|i| f64::from(i) * 0.05).collect();
    v.push(0.99);
    v
}

/// M/G/1 sojourn time (Pollaczek–Khinchine).
pub fn mg1_sojourn(mean: f64, cv2: f64, rho: f64) -> f64 {
    mean + rho * mean * (1.0 + cv2) / (2.0 * (1.0 - rho))
}

/// M/G/1-with-setup sojourn time (see the module docs): P-K plus
/// `(2·E[S] + λ·E[S²]) / (2·(1 + λ·E[S]))`, with `λ = ρ/mean`.
pub fn mg1_setup_sojourn(mean: f64, cv2: f64, rho: f64, setup: Setup) -> f64 {
    let lambda = rho / mean;
    let s2 = setup.variance + setup.mean * setup.mean;
    mg1_sojourn(mean, cv2, rho)
        + (2.0 * setup.mean + lambda * s2) / (2.0 * (1.0 + lambda * setup.mean))
}

/// M/M/1 sojourn time.
pub fn mm1_sojourn(mean: f64, rho: f64) -> f64 {
    mean / (1.0 - rho)
}

/// The load at which the model's mean sojourn time is twice its value at no load, the
/// first-screen "delay doubles at" (`report/first_screen.rs`). `model` is one of the
/// validation's names: `"M/M/1"` gives 1/2, `"M/G/1"` solves P-K in closed form, `2/(3 + C²)`,
/// and `"M/G/1+setup"` (with `setup`) bisects: `W(ρ) − 2·W(0)` is convex in ρ (P-K's term
/// is convex and rising, the setup's term convex and falling), negative at 0 and unbounded
/// as ρ → 1, so it has exactly one root. `None` for another name, or a setup model without
/// a setup or with a zero mean.
pub fn delay_doubling_load(model: &str, mean: f64, cv2: f64, setup: Option<Setup>) -> Option<f64> {
    if !(mean.is_finite() && mean > 0.0 && cv2.is_finite() && cv2 >= 0.0) {
        return None;
    }
    match (model, setup) {
        ("M/M/1", _) => Some(0.5),
        ("M/G/1", _) => Some(2.0 / (3.0 + cv2)),
        ("M/G/1+setup", Some(s)) => {
            let w0 = mean + s.mean;
            let f = |rho: f64| mg1_setup_sojourn(mean, cv2, rho, s) - 2.0 * w0;
            let (mut lo, mut hi) = (0.0f64, 1.0f64 - 1e-12);
            if f(hi) < 0.0 {
                return Some(hi);
            }
            // 60 halvings: far below any load a report prints.
            for _ in 0..60 {
                let mid = 0.5 * (lo + hi);
                if f(mid) < 0.0 {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            Some(0.5 * (lo + hi))
        }
        _ => None,
    }
}

/// Projects both models at each load in `rhos`.
pub fn project(mean: f64, variance: f64, unit_ns: f64, rhos: &[f64]) -> Result<ModelOutput> {
    project_with_setup(mean, variance, unit_ns, rhos, None)
}

/// [`project`], plus M/G/1 with setup times when `setup` is given.
pub fn project_with_setup(
    mean: f64,
    variance: f64,
    unit_ns: f64,
    rhos: &[f64],
    setup: Option<Setup>,
) -> Result<ModelOutput> {
    let bad = |field, value, reason| {
        Err(Error::ModelInput {
            field,
            value,
            reason,
        })
    };
    if !(mean.is_finite() && mean > 0.0) {
        return bad("mean", mean, "must be a positive number");
    }
    if !(variance.is_finite() && variance >= 0.0) {
        return bad("variance", variance, "must be a non-negative number");
    }
    if !(unit_ns.is_finite() && unit_ns > 0.0) {
        return bad("tick-ns", unit_ns, "must be a positive number");
    }
    if let Some(st) = setup {
        if !(st.mean.is_finite() && st.mean >= 0.0) {
            return bad("setup-mean", st.mean, "must be a non-negative number");
        }
        if !(st.variance.is_finite() && st.variance >= 0.0) {
            return bad(
                "setup-variance",
                st.variance,
                "must be a non-negative number",
            );
        }
    }
    for &rho in rhos {
        if !(rho > 0.0 && rho < 1.0) {
            return bad(
                "rho",
                rho,
                "must be in (0, 1): the queue is unstable at ρ ≥ 1",
            );
        }
    }
    // Finite inputs can still give derived figures that are not numbers (a mean so small that
    // T² underflows to 0, so C² = 0/0): refused rather than printed as NaN.
    let cv2 = variance / (mean * mean);
    if !cv2.is_finite() {
        return bad(
            "variance",
            variance,
            "with this mean, C² = D/T² is not a finite number (T too small or D too large)",
        );
    }
    let mean_s = mean * unit_ns * 1e-9;
    if !(mean_s > 0.0 && (1.0 / mean_s).is_finite() && mean_s.is_finite()) {
        return bad(
            "mean",
            mean,
            "in seconds (× tick-ns × 1e-9) it is too small or too large for the service rate 1/T to be a number",
        );
    }
    let points = rhos
        .iter()
        .map(|&rho| {
            let lambda_per_s = rho / mean_s;
            let w_mg1 = mg1_sojourn(mean, cv2, rho);
            let w_mm1 = mm1_sojourn(mean, rho);
            ModelPoint {
                rho,
                lambda_per_s,
                mg1: QueueMetrics {
                    sojourn: w_mg1,
                    in_system: rho * w_mg1 / mean,
                },
                mm1: QueueMetrics {
                    sojourn: w_mm1,
                    in_system: rho / (1.0 - rho),
                },
                mm1_error_pct: 100.0 * (w_mm1 - w_mg1) / w_mg1,
                mg1_setup: setup.map(|st| {
                    let w = mg1_setup_sojourn(mean, cv2, rho, st);
                    QueueMetrics {
                        sojourn: w,
                        in_system: rho * w / mean,
                    }
                }),
            }
        })
        .collect::<Vec<ModelPoint>>();
    if let Some(p) = points.iter().find(|p| {
        !(p.mg1.sojourn.is_finite()
            && p.mm1.sojourn.is_finite()
            && p.mg1_setup.is_none_or(|m| m.sojourn.is_finite()))
    }) {
        return bad(
            "mean",
            mean,
            if p.rho.is_finite() {
                "too large: the projected sojourn times overflow"
            } else {
                "too large"
            },
        );
    }
    Ok(ModelOutput {
        mean,
        variance,
        cv2,
        unit_ns,
        lambda_max_per_s: 1.0 / mean_s,
        recommended: if (cv2 - 1.0).abs() <= MM1_TOLERANCE {
            "M/M/1"
        } else {
            "M/G/1"
        }
        .into(),
        setup,
        points,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-computed doubling loads: M/M/1 at ½; P-K at 2/(3 + C²), ⅔ for constant service;
    /// with a setup, the bisection's answer gives W = 2·W(0) in the formula itself.
    #[test]
    fn delay_doubles_where_the_formulas_say() {
        assert_eq!(delay_doubling_load("M/M/1", 10.0, 0.3, None), Some(0.5));
        let det = delay_doubling_load("M/G/1", 10.0, 0.0, None).expect("M/G/1");
        assert!((det - 2.0 / 3.0).abs() < 1e-12);
        assert!((mg1_sojourn(10.0, 0.0, det) - 20.0).abs() < 1e-9);
        assert_eq!(delay_doubling_load("M/G/1", 10.0, 1.0, None), Some(0.5));
        let s = Setup {
            mean: 5.0,
            variance: 0.0,
        };
        let rho = delay_doubling_load("M/G/1+setup", 10.0, 0.5, Some(s)).expect("setup");
        assert!(
            (mg1_setup_sojourn(10.0, 0.5, rho, s) - 30.0).abs() < 1e-6,
            "{rho}"
        );
        // A setup delays the doubling: W(0) is larger, and the setup's share shrinks with load.
        assert!(rho > delay_doubling_load("M/G/1", 10.0, 0.5, None).expect("pk"));
        assert_eq!(delay_doubling_load("M/G/1+setup", 10.0, 0.5, None), None);
        assert_eq!(delay_doubling_load("G/G/1", 10.0, 0.5, None), None);
        assert_eq!(delay_doubling_load("M/G/1", 0.0, 0.5, None), None);
    }

    #[test]
    fn default_grid_spans_005_to_099() {
        let g = default_rhos();
        assert_eq!(g.len(), 20);
        assert!((g[0] - 0.05).abs() < 1e-12);
        assert_eq!(*g.last().unwrap_or(&0.0), 0.99);
    }

    /// Finite inputs whose derived figures are not numbers are errors, not NaN and a
    /// recommendation drawn from it.
    #[test]
    fn rejects_inputs_whose_figures_are_not_numbers() {
        for (mean, var) in [(1e-308, 0.0), (1e-200, 1e300), (1e307, 0.0)] {
            let e = project(mean, var, 1.0, &[0.5, 0.99]).expect_err("must refuse");
            assert!(e.to_string().contains("invalid model input"), "{e}");
        }
        let ok = project(1e-3, 0.0, 1.0, &[0.5]).expect("small but fine");
        assert!(ok.points.iter().all(|p| p.mg1.sojourn.is_finite()));
    }

    /// M/G/1 with setup times at hand-computed points.
    #[test]
    fn setup_model_at_hand_computed_points() {
        let close = |a: f64, b: f64| assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        // No setup: Pollaczek–Khinchine itself.
        let none = Setup {
            mean: 0.0,
            variance: 0.0,
        };
        close(
            mg1_setup_sojourn(2.0, 0.3, 0.6, none),
            mg1_sojourn(2.0, 0.3, 0.6),
        );
        // Exponential service (T = 1, C² = 1) and exponential setup (mean 2, variance 4) at
        // ρ = 0.5: 1/(μ − λ) + E[S] = 2 + 2 (Gandhi and Harchol-Balter's M/M/1 with setup).
        let exp = Setup {
            mean: 2.0,
            variance: 4.0,
        };
        close(mg1_setup_sojourn(1.0, 1.0, 0.5, exp), 4.0);
        // Constant service T = 1 (C² = 0), constant setup S = 1, ρ = 0.5, λ = 0.5:
        // P-K 1 + 0.5·1·1/(2·0.5) = 1.5; setup (2·1 + 0.5·1)/(2·1.5) = 5/6.
        let one = Setup {
            mean: 1.0,
            variance: 0.0,
        };
        close(mg1_setup_sojourn(1.0, 0.0, 0.5, one), 1.5 + 5.0 / 6.0);
        // At light load every arrival finds the CPU idle: W → T + S.
        let w = mg1_setup_sojourn(1.0, 0.0, 1e-9, one);
        assert!((w - 2.0).abs() < 1e-6, "{w}");
        // In the projection: the setup column, with N = λ·W; λ_max unchanged.
        let m = project_with_setup(1.0, 0.0, 1000.0, &[0.5], Some(one)).expect("project");
        let p = m.points[0];
        let s = p.mg1_setup.expect("setup column");
        close(s.sojourn, 1.5 + 5.0 / 6.0);
        close(s.in_system, 0.5 * s.sojourn);
        assert!(
            (m.lambda_max_per_s - 1e6).abs() < 1e-6,
            "{}",
            m.lambda_max_per_s
        );
        assert!(project_with_setup(
            1.0,
            0.0,
            1.0,
            &[0.5],
            Some(Setup {
                mean: -1.0,
                variance: 0.0
            })
        )
        .is_err());
    }

    #[test]
    fn rejects_unstable_load() {
        assert!(project(1.0, 1.0, 1.0, &[1.0]).is_err());
        assert!(project(0.0, 1.0, 1.0, &[0.5]).is_err());
        assert!(project(1.0, -1.0, 1.0, &[0.5]).is_err());
    }
}
