/// Asserts two strings are equal, printing both in full (and the first differing line) if not.
#[macro_export]
macro_rules! eqnice {
    ($expected:expr, $got:expr) => {{
        let expected: &str = &$expected;
        let got: &str = &$got;
        if expected != got {
            let line = expected
                .lines()
                .zip(got.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(expected.lines().count().min(got.lines().count()));
            panic!(
                "\n\nfirst difference at line {}\n\nexpected:\n{}\n==========\ngot:\n{}\n==========\n",
                line + 1,
                expected,
                got
            );
        }
    }};
}

/// Asserts `|got − expected| ≤ tol·max(1, |expected|)`.
#[macro_export]
macro_rules! close {
    ($expected:expr, $got:expr, $tol:expr) => {{
        let (e, g, t): (f64, f64, f64) = ($expected as f64, $got as f64, $tol as f64);
        assert!(
            (g - e).abs() <= t * e.abs().max(1.0),
            "expected {e}, got {g} (tolerance {t}) in `{}`",
            stringify!($got)
        );
    }};
}
