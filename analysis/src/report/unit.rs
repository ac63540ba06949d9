//! The time unit a renderer shows. [`crate::Results`] hold every time in ns; only renderers
//! (text, CSV, Markdown, HTML) convert, each value as it is drawn, so a results file has one
//! meaning whatever `--unit` was asked.

use super::fmt_time;

/// A unit to show times in.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum TimeUnit {
    /// Nanoseconds (results' own unit).
    #[default]
    Ns,
    /// Microseconds.
    Us,
    /// Milliseconds.
    Ms,
    /// CPU cycles at a fixed frequency: ticks = ns · MHz / 1000.
    Ticks {
        /// The CPU frequency, MHz (positive: checked where it is parsed).
        cpu_mhz: f64,
    },
    /// Each value in the unit that suits its own size (ns, µs, ms, s), written after it:
    /// `850 ns`, `14.2 µs`. For people reading tables, not for columns a program reads:
    /// [`TimeUnit::of`] leaves values in ns.
    Auto,
}

impl TimeUnit {
    /// The unit that suits times around `ns`: ms from 1 ms, µs from 1 µs, else ns (for axes
    /// and sentences whose values are of one size).
    pub fn suiting(ns: f64) -> Self {
        let a = ns.abs();
        if a >= 1e6 {
            TimeUnit::Ms
        } else if a >= 1e3 {
            TimeUnit::Us
        } else {
            TimeUnit::Ns
        }
    }

    /// Its name for people: `ns`, `µs`, `ms`, `ticks`.
    pub const fn name(self) -> &'static str {
        match self {
            TimeUnit::Ns => "ns",
            TimeUnit::Us => "µs",
            TimeUnit::Ms => "ms",
            TimeUnit::Ticks { .. } => "ticks",
            TimeUnit::Auto => "auto-scaled",
        }
    }

    /// Its name in ASCII, for CSV files: `ns`, `us`, `ms`, `ticks`.
    pub const fn ascii_name(self) -> &'static str {
        match self {
            TimeUnit::Us => "us",
            TimeUnit::Auto => "ns",
            other => other.name(),
        }
    }

    /// Nanoseconds per unit ([`TimeUnit::Auto`] converts nothing: 1).
    pub fn ns_per_unit(self) -> f64 {
        match self {
            TimeUnit::Ns | TimeUnit::Auto => 1.0,
            TimeUnit::Us => 1e3,
            TimeUnit::Ms => 1e6,
            TimeUnit::Ticks { cpu_mhz } => 1000.0 / cpu_mhz,
        }
    }

    /// A time of `ns` nanoseconds in this unit.
    pub fn of(self, ns: f64) -> f64 {
        if matches!(self, TimeUnit::Ns | TimeUnit::Auto) {
            ns
        } else {
            ns / self.ns_per_unit()
        }
    }

    /// A variance of `ns2` ns² in this unit squared.
    pub fn of_variance(self, ns2: f64) -> f64 {
        if matches!(self, TimeUnit::Ns | TimeUnit::Auto) {
            ns2
        } else {
            ns2 / (self.ns_per_unit() * self.ns_per_unit())
        }
    }

    /// A time of `ns` nanoseconds as a table cell in this unit (no unit name: the caption or
    /// header says it), or auto-scaled with its unit.
    pub fn time(self, ns: f64) -> String {
        match self {
            TimeUnit::Auto => human(ns),
            fixed => fmt_time(fixed.of(ns)),
        }
    }

    /// A variance of `ns2` ns² as a table cell in this unit squared, or auto-scaled (in the
    /// unit that suits its square root, the standard deviation) with its unit.
    pub fn variance(self, ns2: f64) -> String {
        match self {
            TimeUnit::Auto => {
                let u = TimeUnit::suiting(ns2.abs().sqrt());
                format!("{} {}²", fmt_time(u.of_variance(ns2)), u.name())
            }
            fixed => fmt_time(fixed.of_variance(ns2)),
        }
    }

    /// A time with its unit, for sentences: `14200 ns` in ns, `14.2 µs` auto-scaled.
    pub fn time_with_unit(self, ns: f64) -> String {
        match self {
            TimeUnit::Auto => human(ns),
            fixed => format!("{} {}", fixed.time(ns), fixed.name()),
        }
    }

    /// A variance with its unit squared, for sentences.
    pub fn variance_with_unit(self, ns2: f64) -> String {
        match self {
            TimeUnit::Auto => self.variance(ns2),
            fixed => format!("{} {}²", fixed.variance(ns2), fixed.name()),
        }
    }

    /// The words after "times in": the unit, and for ticks the ns each one is.
    pub fn describe(self) -> String {
        match self {
            TimeUnit::Ticks { .. } => format!("ticks ({:.4} ns per tick)", self.ns_per_unit()),
            TimeUnit::Auto => "the unit that suits each value (ns, µs, ms, s)".to_string(),
            other => other.name().to_string(),
        }
    }
}

/// A time of `ns` nanoseconds with the unit that suits its size: `850 ns`, `14.2 µs`,
/// `1.25 ms`, `3.40 s`, `19.8 ns` (three significant figures), for sentences and auto-scaled
/// cells.
pub fn human(ns: f64) -> String {
    let (v, unit) = if ns.abs() >= 1e9 {
        (ns / 1e9, "s")
    } else {
        let u = TimeUnit::suiting(ns);
        (u.of(ns), u.name())
    };
    let va = v.abs();
    if va >= 100.0 || va == 0.0 {
        format!("{v:.0} {unit}")
    } else if va >= 10.0 {
        format!("{v:.1} {unit}")
    } else {
        format!("{v:.2} {unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_times_and_variances() {
        let ticks = TimeUnit::Ticks { cpu_mhz: 2000.0 };
        assert_eq!(ticks.of(145.0), 290.0);
        assert_eq!(ticks.of_variance(100.0), 400.0);
        assert_eq!(TimeUnit::Us.of(2500.0), 2.5);
        assert_eq!(TimeUnit::Ms.of_variance(4e12), 4.0);
        assert_eq!(TimeUnit::Us.time(14_200.0), "14.2");
        assert_eq!(TimeUnit::Ns.time(14_200.0), "14200");
        assert_eq!(TimeUnit::Us.ascii_name(), "us");
        assert_eq!(ticks.describe(), "ticks (0.5000 ns per tick)");
        assert_eq!(human(850.4), "850 ns");
        assert_eq!(human(14_200.0), "14.2 µs");
        assert_eq!(human(1_250_000.0), "1.25 ms");
        assert_eq!(human(3.4e9), "3.40 s");
        assert_eq!(human(999.6), "1000 ns");
        assert_eq!(human(19.84), "19.8 ns");
        assert_eq!(human(0.0), "0 ns");
        assert_eq!(TimeUnit::Auto.time(14_200.0), "14.2 µs");
        assert_eq!(TimeUnit::Auto.variance(4e8), "400 µs²");
        assert_eq!(TimeUnit::Auto.variance(250.0), "250 ns²");
        assert_eq!(TimeUnit::Auto.time_with_unit(2.5e6), "2.50 ms");
        assert_eq!(TimeUnit::Us.time_with_unit(14_200.0), "14.2 µs");
        assert_eq!(TimeUnit::Ns.variance_with_unit(250.0), "250 ns²");
        assert_eq!(TimeUnit::Auto.of(14_200.0), 14_200.0);
    }
}
