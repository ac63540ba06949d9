//! Streaming statistics against a two-pass reference on awkward data.

use kpath_analysis::stats::{SampleStats, Welford};

/// Two-pass reference; the first pass sums deviations from the first sample, which are exact
/// on this data, so the reference mean is correctly rounded.
fn two_pass(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let x0 = xs[0];
    let mean = x0 + xs.iter().map(|x| x - x0).sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0);
    (mean, var)
}

fn check(xs: &[f64], tol: f64) {
    let mut w = Welford::new();
    xs.iter().for_each(|&x| w.push(x));
    let (mean, var) = two_pass(xs);
    assert!(
        (w.mean() - mean).abs() <= 1e-12 * mean.abs().max(1.0),
        "mean {} vs {mean}",
        w.mean()
    );
    assert!(
        (w.variance() - var).abs() <= tol * var,
        "variance {} vs {var}",
        w.variance()
    );
}

#[test]
fn large_offset_small_spread() {
    // 10¹² + {0, 1, 2}: variance exactly (n/3·2)/(n − 1) around the mean 10¹² + 1.
    let xs: Vec<f64> = (0..30_000).map(|i| 1e12 + f64::from(i % 3)).collect();
    check(&xs, 1e-12);
    // The textbook one-pass formula loses everything here; Welford must not.
    let n = xs.len() as f64;
    let (s, s2) = xs.iter().fold((0.0, 0.0), |(s, s2), x| (s + x, s2 + x * x));
    let naive = (s2 - s * s / n) / (n - 1.0);
    let (_, var) = two_pass(&xs);
    assert!(
        (naive - var).abs() > 0.1 * var,
        "the naive formula should fail on this data"
    );
}

#[test]
fn tiny_variance() {
    let xs: Vec<f64> = (0..10_000).map(|i| 1.0 + 1e-9 * f64::from(i % 7)).collect();
    check(&xs, 1e-6);
}

#[test]
fn merged_histograms_and_moments() {
    let mut a = SampleStats::new();
    let mut b = SampleStats::new();
    let mut all = SampleStats::new();
    for i in 0..10_000u32 {
        let x = 1000.0 + f64::from(i % 100);
        all.push(x);
        if i % 2 == 0 {
            a.push(x)
        } else {
            b.push(x)
        }
    }
    a.merge(&b);
    let (s, t) = (a.summary(), all.summary());
    assert_eq!(s.samples, 10_000);
    close!(t.mean, s.mean, 1e-12);
    close!(t.variance, s.variance, 1e-9);
    assert_eq!(s.p50, t.p50);
    // Uniform on 1000..1099: median ≈ 1049.5 within HdrHistogram's 0.1 %.
    close!(1049.5, s.p50, 1e-3);
    close!(1098.0, s.p99, 1e-3);
}
