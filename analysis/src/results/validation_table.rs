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
    /// M/G/1-with-setup prediction, for a choice with a setup time (`queueing.rs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mg1_setup: Option<Prediction>,
    /// The proxy CPU's busy time per datagram measured at this point (the utilisation law,
    /// S = U/λ at this load), when the points file gives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub busy_per_datagram: Option<f64>,
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
    /// The setup time an arrival to an empty system waits before its service (the wake-up of
    /// an idle CPU): mean, variance and C², for choices that model it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup: Option<Service>,
    /// One row per load point, in the order given.
    pub points: Vec<ValidationRow>,
    /// Whether each model fits with this choice (`crate::validation::verdict`; absent in
    /// results before kpath 0.2).
    #[serde(default)]
    pub verdicts: Vec<ModelVerdict>,
}

/// Whether one model, with one choice of service time, predicts the measured delay.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelVerdict {
    /// `"M/G/1"`, `"M/M/1"` or `"M/G/1+setup"`.
    pub model: String,
    /// Reached points with a target load up to `FIT_RHO` (0.7).
    pub points_to_fit_rho: usize,
    /// Largest |error of W| over them, % (absent without such points).
    pub max_abs_error_pct_to_fit_rho: Option<f64>,
    /// Largest |error of W| over the reached points up to `HIGH_RHO` (0.9), %.
    pub max_abs_error_pct_to_high_rho: Option<f64>,
    /// Within `FIT_TOLERANCE_PCT` (20) at every point up to `FIT_RHO` (0.7).
    pub fits: bool,
    /// One sentence: "fits (within ±20 % up to ρ = 0.7)", or "does not fit: REASON", or why
    /// it could not be judged.
    pub verdict: String,
    /// When it does not fit, the most likely reason, read off the errors (the REASON of
    /// `verdict`; absent in results of kpath before it was given apart).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The choice and model to plan with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    /// Service-time choice.
    pub choice: String,
    /// Model.
    pub model: String,
    /// Whether it fits; when not, it is only the closest.
    pub fits: bool,
    /// Its largest |error of W| up to `FIT_RHO` (0.7), %.
    pub max_abs_error_pct: f64,
    /// Its saturation rate 1/T, per second.
    pub lambda_max_per_s: f64,
    /// One sentence saying which and how far to trust it.
    pub why: String,
}

/// How far the measured mean sojourn W of one load point repeats: points of one choice with
/// the same target load, each reached, up to `FIT_RHO` (0.7) of target load. A model cannot be judged closer
/// than the measurement repeats.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Repeatability {
    /// Load points measured more than once.
    pub points: usize,
    /// Over them, the largest spread of W: `(max − min)/2` as % of their mean, the ± within
    /// which the measurement repeats.
    pub max_spread_pct: f64,
    /// The median of those spreads, %.
    pub median_spread_pct: f64,
    /// Whether the largest spread exceeds the fit tolerance (`FIT_TOLERANCE_PCT`, ±20 %):
    /// then a fit cannot be told from a misfit on this host.
    pub wider_than_tolerance: bool,
    /// One sentence.
    pub verdict: String,
}

/// The validation part of `results.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Validation {
    /// Relative tolerance of the achieved rate that was applied.
    pub rate_tolerance: f64,
    /// The service-time choices, side by side.
    pub choices: Vec<ValidationChoice>,
    /// The choice and model to plan with (absent without a judged point, and in results
    /// before kpath 0.2).
    #[serde(default)]
    pub recommended: Option<Recommendation>,
    /// How well the measurement repeats itself: the same load point measured twice
    /// (`crate::validation::verdict::repeatability`; absent without a point measured twice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeatability: Option<Repeatability>,
}
