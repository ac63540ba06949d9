//! Latency summaries from an HdrHistogram and running moments of a stream of intervals.

use hdrhistogram::Histogram;
use serde::Serialize;

/// Nanoseconds.
pub type Nanos = f64;

/// Highest latency the histograms track: 60 s.
pub const MAX_TRACKED_NS: u64 = 60_000_000_000;

/// A fresh latency histogram: 1 ns to 60 s, 3 significant digits (0.1 % resolution).
pub fn new_histogram() -> Histogram<u64> {
    match Histogram::new_with_bounds(1, MAX_TRACKED_NS, 3) {
        Ok(h) => h,
        // The bounds are constants that HdrHistogram accepts.
        Err(_) => unreachable!("constant histogram bounds are valid"),
    }
}

/// Records `ns`, clamped into the histogram's range.
pub fn record(h: &mut Histogram<u64>, ns: u64) {
    h.saturating_record(ns.clamp(1, MAX_TRACKED_NS));
}

/// Percentiles, mean and variance of a latency histogram, all in ns.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Number of samples.
    pub count: u64,
    /// Smallest sample.
    pub min: Nanos,
    /// Mean.
    pub mean: Nanos,
    /// Variance, ns².
    pub variance: f64,
    /// Standard deviation.
    pub stddev: Nanos,
    /// Median.
    pub p50: Nanos,
    /// 90th percentile.
    pub p90: Nanos,
    /// 99th percentile.
    pub p99: Nanos,
    /// 99.9th percentile.
    pub p999: Nanos,
    /// Largest sample.
    pub max: Nanos,
}

impl LatencySummary {
    /// Summarises `h`; all zeros when it is empty.
    pub fn from_histogram(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return LatencySummary {
                count: 0,
                min: 0.0,
                mean: 0.0,
                variance: 0.0,
                stddev: 0.0,
                p50: 0.0,
                p90: 0.0,
                p99: 0.0,
                p999: 0.0,
                max: 0.0,
            };
        }
        let q = |p: f64| h.value_at_quantile(p) as f64;
        let stddev = h.stdev();
        LatencySummary {
            count: h.len(),
            min: h.min() as f64,
            mean: h.mean(),
            variance: stddev * stddev,
            stddev,
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            p999: q(0.999),
            max: h.max() as f64,
        }
    }
}

/// Running mean and variance (Welford's algorithm, Knuth TAOCP vol. 2, 4.2.2).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Moments {
    n: u64,
    mean: f64,
    m2: f64,
}

impl Moments {
    /// Adds one sample.
    pub fn push(&mut self, x: f64) {
        self.n += 1;
        let d = x - self.mean;
        self.mean += d / self.n as f64;
        self.m2 += d * (x - self.mean);
    }

    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.n
    }

    /// Sample mean.
    pub fn mean(&self) -> f64 {
        self.mean
    }

    /// Unbiased sample variance (0 with fewer than two samples).
    pub fn variance(&self) -> f64 {
        if self.n < 2 {
            0.0
        } else {
            self.m2 / (self.n - 1) as f64
        }
    }

    /// Coefficient of variation σ/μ (0 when the mean is 0).
    pub fn cv(&self) -> f64 {
        if self.mean == 0.0 {
            0.0
        } else {
            self.variance().sqrt() / self.mean
        }
    }

    /// The serialisable summary.
    pub fn summary(&self) -> IntervalSummary {
        IntervalSummary {
            count: self.n,
            mean: self.mean,
            variance: self.variance(),
            cv: self.cv(),
        }
    }
}

/// Mean, variance and coefficient of variation of a series of intervals, ns.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct IntervalSummary {
    /// Number of intervals.
    pub count: u64,
    /// Mean, ns.
    pub mean: Nanos,
    /// Variance, ns².
    pub variance: f64,
    /// Coefficient of variation σ/μ.
    pub cv: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_match_direct_formulas() {
        let xs = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        let mut m = Moments::default();
        xs.iter().for_each(|&x| m.push(x));
        assert_eq!(m.count(), 8);
        assert!((m.mean() - 5.0).abs() < 1e-12);
        assert!((m.variance() - 32.0 / 7.0).abs() < 1e-12);
    }

    #[test]
    fn summary_of_histogram() {
        let mut h = new_histogram();
        for v in 1..=1000u64 {
            record(&mut h, v * 1000);
        }
        let s = LatencySummary::from_histogram(&h);
        assert_eq!(s.count, 1000);
        assert!((s.p50 - 500_000.0).abs() / 500_000.0 < 0.002);
        assert!((s.p99 - 990_000.0).abs() / 990_000.0 < 0.002);
        assert!(s.max >= 999_000.0);
        assert_eq!(LatencySummary::from_histogram(&new_histogram()).count, 0);
    }
}
