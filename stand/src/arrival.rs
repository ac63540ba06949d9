//! Open-loop arrival schedules: when each datagram is due, relative to the start.
//!
//! For rate λ the mean inter-arrival time is 1/λ for all three kinds; they differ in the
//! coefficient of variation (CV = σ/μ) of the intervals:
//!
//! | kind       | interval distribution | CV      |
//! |------------|-----------------------|---------|
//! | `constant` | exactly 1/λ           | 0       |
//! | `uniform`  | U(0, 2/λ)             | 1/√3 ≈ 0.577 |
//! | `poisson`  | Exp(λ)                | 1       |

use rand::{rngs::StdRng, SeedableRng};
use rand_distr::{Distribution, Exp, Uniform};
use serde::Serialize;

use crate::error::{Error, Result};

/// Inter-arrival time distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Arrivals {
    /// Exponential intervals: a Poisson process.
    Poisson,
    /// Equal intervals.
    Constant,
    /// Intervals uniform on (0, 2/λ).
    Uniform,
}

impl Arrivals {
    /// The coefficient of variation of the intervals this kind promises.
    pub fn expected_cv(self) -> f64 {
        match self {
            Arrivals::Poisson => 1.0,
            Arrivals::Constant => 0.0,
            Arrivals::Uniform => 1.0 / 3f64.sqrt(),
        }
    }
}

enum Sampler {
    Exp(Exp<f64>),
    Constant(f64),
    Uniform(Uniform<f64>),
}

/// An endless, seeded sequence of due times in ns since the start (the first interval too).
pub struct Schedule {
    rng: StdRng,
    sampler: Sampler,
    now_ns: f64,
}

impl Schedule {
    /// A schedule of `rate_per_s` arrivals per second.
    pub fn new(kind: Arrivals, rate_per_s: f64, seed: u64) -> Result<Self> {
        if !(rate_per_s.is_finite() && rate_per_s > 0.0 && rate_per_s <= 1e9) {
            return Err(Error::InvalidArgument {
                flag: "--rate",
                reason: format!("{rate_per_s} is not a rate in (0, 1e9] datagrams/s"),
            });
        }
        let mean_ns = 1e9 / rate_per_s;
        let sampler = match kind {
            Arrivals::Poisson => {
                Sampler::Exp(Exp::new(1.0 / mean_ns).map_err(|e| Error::InvalidArgument {
                    flag: "--rate",
                    reason: e.to_string(),
                })?)
            }
            Arrivals::Constant => Sampler::Constant(mean_ns),
            Arrivals::Uniform => Sampler::Uniform(Uniform::new(0.0, 2.0 * mean_ns)),
        };
        Ok(Schedule {
            rng: StdRng::seed_from_u64(seed),
            sampler,
            now_ns: 0.0,
        })
    }

    /// The next interval, ns.
    pub fn next_interval(&mut self) -> f64 {
        match &self.sampler {
            Sampler::Exp(d) => d.sample(&mut self.rng),
            Sampler::Constant(c) => *c,
            Sampler::Uniform(d) => d.sample(&mut self.rng),
        }
    }
}

impl Iterator for Schedule {
    type Item = u64;

    /// The next due time, ns since the start.
    fn next(&mut self) -> Option<u64> {
        self.now_ns += self.next_interval();
        Some(self.now_ns as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Moments;

    /// Sample mean and CV of `n` intervals must be within 5 standard errors of the promise.
    ///
    /// Standard errors: the mean's is σ/√n; the sample standard deviation's is about
    /// σ·√((κ − 1)/(4n)) with kurtosis κ = 9 (exponential) or 1.8 (uniform), so the CV's is
    /// about CV·√((κ − 1)/(4n)): 0.0071 (Poisson) and 0.0018 (uniform) for n = 20 000.
    #[test]
    fn intervals_follow_the_distribution() {
        let n = 20_000;
        for (kind, kurtosis) in [
            (Arrivals::Poisson, 9.0),
            (Arrivals::Uniform, 1.8),
            (Arrivals::Constant, 1.0),
        ] {
            let mut s = Schedule::new(kind, 10_000.0, 42).expect("schedule");
            let mut m = Moments::default();
            let mut prev = 0u64;
            for t in s.by_ref().take(n) {
                m.push((t - prev) as f64);
                prev = t;
            }
            let mean = 100_000.0;
            let cv = kind.expected_cv();
            let se_mean = mean * cv / (n as f64).sqrt() + 1.0;
            let se_cv = cv * ((kurtosis - 1.0) / (4.0 * n as f64)).sqrt() + 1e-6;
            assert!(
                (m.mean() - mean).abs() < 5.0 * se_mean,
                "{kind:?}: mean {} vs {mean}",
                m.mean()
            );
            assert!(
                (m.cv() - cv).abs() < 5.0 * se_cv,
                "{kind:?}: cv {} vs {cv}",
                m.cv()
            );
        }
    }

    #[test]
    fn seeded_schedules_repeat() {
        let a: Vec<u64> = Schedule::new(Arrivals::Poisson, 1000.0, 7)
            .expect("schedule")
            .take(10)
            .collect();
        let b: Vec<u64> = Schedule::new(Arrivals::Poisson, 1000.0, 7)
            .expect("schedule")
            .take(10)
            .collect();
        assert_eq!(a, b);
        assert!(Schedule::new(Arrivals::Poisson, 0.0, 7).is_err());
    }
}
