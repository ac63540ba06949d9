//! The validation part of `results.json`: pure data, computed by `crate::validation` (which
//! re-exports these types) and rendered by the reports.

use serde::{Deserialize, Serialize};

use super::Service;

/// Statistics of the measured sojourn times of one point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SojournStats {
    /// Values used.
    pub samples: u64,
    /// Values discarded (negative or not finite).
    #[serde(default)]
    pub discarded: u64,
    /// Mean sojourn time W.
    pub mean: f64,
    /// Sample variance of the sojourn time.
    pub variance: f64,
    /// Half-width of the 95 % confidence interval of W (absent with fewer than 2 values).
    pub ci95: Option<f64>,
    /// `"batch means (20 × m)"` or `"iid"`.
    pub ci_method: String,
}

/// The measurement of one point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    /// The sojourn statistics.
    pub sojourn: SojournStats,
    /// Number in system by Little's law, `λ_a·W` (absent without an achieved rate).
    pub in_system: Option<f64>,
    /// Half-width of its 95 % confidence interval, `λ_a·ci95(W)`.
    pub in_system_ci95: Option<f64>,
}

/// One model's prediction at the achieved load, and its error against the measurement.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// Predicted mean sojourn W.
    pub sojourn: f64,
    /// Predicted number in system N.
    pub in_system: f64,
    /// `100·(W_pred − W_meas)/W_meas` %.
    pub sojourn_error_pct: Option<f64>,
    /// `100·(N_pred − N_meas)/N_meas` % (equal to the error of W).
    pub in_system_error_pct: Option<f64>,
}

/// One row of the validation table: one load point of one service-time choice.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValidationRow {
    /// Target load ρ.
    pub rho: f64,
    /// Target arrival rate λ = ρ/T, per second.
    pub lambda_target_per_s: f64,
    /// Achieved arrival rate, per second.
    pub lambda_achieved_per_s: Option<f64>,
    /// Achieved load `λ_a·T`, at which the models are evaluated.
    pub rho_achieved: Option<f64>,
    /// Whether the point was reached (see the module docs).
    pub reached: bool,
    /// Why not, when not.
    pub reason: Option<String>,
    /// The measurement.
    pub measured: Option<Measured>,
    /// M/G/1 prediction.
    pub mg1: Option<Prediction>,
    /// M/M/1 prediction.
    pub mm1: Option<Prediction>,
}

/// One service-time choice with its table rows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValidationChoice {
    /// Name (`"probes"`, `"relay"`, ...).
    pub name: String,
    /// What the choice is.
    pub description: String,
    /// Its service time T, variance D and C² = D/T².
    pub service: Service,
    /// Saturation rate 1/T, per second.
    pub lambda_max_per_s: f64,
    /// One row per load point, in the order given.
    pub points: Vec<ValidationRow>,
}

/// The validation part of `results.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Validation {
    /// Relative tolerance of the achieved rate that was applied.
    pub rate_tolerance: f64,
    /// The service-time choices, side by side.
    pub choices: Vec<ValidationChoice>,
}

impl Validation {
    /// Multiplies every time by `f` (variances by `f²`); rates and counts stay.
    pub(crate) fn scale_times(&mut self, f: f64) {
        for c in &mut self.choices {
            c.service.mean *= f;
            c.service.variance *= f * f;
            for r in &mut c.points {
                if let Some(m) = &mut r.measured {
                    m.sojourn.mean *= f;
                    m.sojourn.variance *= f * f;
                    m.sojourn.ci95 = m.sojourn.ci95.map(|x| x * f);
                }
                for p in [&mut r.mg1, &mut r.mm1].into_iter().flatten() {
                    p.sojourn *= f;
                }
            }
        }
    }
}
