//! The queueing formulas at hand-computed points.

use kpath_analysis::queueing::project;

#[test]
fn cv2_one_makes_both_models_agree() {
    // T = 10, D = 100: C² = 1. At ρ = 0.5: W = 10 + 0.5·10·2/(2·0.5) = 20 = 10/(1 − 0.5).
    let m = project(10.0, 100.0, 1.0, &[0.5, 0.9]).expect("model");
    assert_eq!(m.cv2, 1.0);
    assert_eq!(m.recommended, "M/M/1");
    let p = &m.points[0];
    close!(20.0, p.mg1.sojourn, 1e-12);
    close!(20.0, p.mm1.sojourn, 1e-12);
    close!(1.0, p.mg1.in_system, 1e-12);
    close!(1.0, p.mm1.in_system, 1e-12);
    close!(0.0, p.mm1_error_pct, 1e-12);
    close!(100.0, m.points[1].mg1.sojourn, 1e-12);
    close!(0.0, m.points[1].mm1_error_pct, 1e-12);
}

#[test]
fn deterministic_service_halves_the_wait() {
    // D = 0 (M/D/1): W = 10 + 0.5·10/(2·0.5) = 15; M/M/1 20; error 100·5/15 %.
    let m = project(10.0, 0.0, 1.0, &[0.5]).expect("model");
    assert_eq!(m.recommended, "M/G/1");
    let p = &m.points[0];
    close!(15.0, p.mg1.sojourn, 1e-12);
    close!(0.75, p.mg1.in_system, 1e-12);
    close!(100.0 * 5.0 / 15.0, p.mm1_error_pct, 1e-12);
    // λ_max = 1/(10 ns) = 10⁸/s; λ at ρ = 0.5 is half.
    close!(1e8, m.lambda_max_per_s, 1e-12);
    close!(5e7, p.lambda_per_s, 1e-12);
}

#[test]
fn ticks_convert_rates_not_sojourns() {
    // T = 3000 ticks at 0.5 ns/tick = 1.5 µs; C² = 0.25.
    let m = project(3000.0, 2_250_000.0, 0.5, &[0.8]).expect("model");
    close!(0.25, m.cv2, 1e-12);
    close!(1.0 / 1.5e-6, m.lambda_max_per_s, 1e-12);
    // W = 3000 + 0.8·3000·1.25/(2·0.2) = 3000 + 7500.
    close!(10_500.0, m.points[0].mg1.sojourn, 1e-12);
    // error = 100·ρ(1 − C²)/(2 − ρ(1 − C²)) = 100·0.6/1.4.
    close!(100.0 * 0.6 / 1.4, m.points[0].mm1_error_pct, 1e-12);
}
