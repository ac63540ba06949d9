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
        }
    }

    /// Its name in ASCII, for CSV files: `ns`, `us`, `ms`, `ticks`.
    pub const fn ascii_name(self) -> &'static str {
        match self {
            TimeUnit::Us => "us",
            other => other.name(),
        }
    }

    /// Nanoseconds per unit.
    pub fn ns_per_unit(self) -> f64 {
        match self {
            TimeUnit::Ns => 1.0,
            TimeUnit::Us => 1e3,
            TimeUnit::Ms => 1e6,
            TimeUnit::Ticks { cpu_mhz } => 1000.0 / cpu_mhz,
        }
    }

    /// A time of `ns` nanoseconds in this unit.
    pub fn of(self, ns: f64) -> f64 {
        if self == TimeUnit::Ns {
            ns
        } else {
            ns / self.ns_per_unit()
        }
    }

    /// A variance of `ns2` ns² in this unit squared.
    pub fn of_variance(self, ns2: f64) -> f64 {
        if self == TimeUnit::Ns {
            ns2
        } else {
            ns2 / (self.ns_per_unit() * self.ns_per_unit())
        }
    }

    /// A time of `ns` nanoseconds as a table cell in this unit (no unit name: the caption or
    /// header says it).
    pub fn time(self, ns: f64) -> String {
        fmt_time(self.of(ns))
    }

    /// A variance of `ns2` ns² as a table cell in this unit squared.
    pub fn variance(self, ns2: f64) -> String {
        fmt_time(self.of_variance(ns2))
    }

    /// The words after "times in": the unit, and for ticks the ns each one is.
    pub fn describe(self) -> String {
        match self {
            TimeUnit::Ticks { .. } => format!("ticks ({:.4} ns per tick)", self.ns_per_unit()),
            other => other.name().to_string(),
        }
    }
}

/// A time of `ns` nanoseconds with the unit that suits its size: `850 ns`, `14.2 µs`,
/// `1.25 ms`, `3.40 s` (three significant figures at most), for sentences.
pub fn human(ns: f64) -> String {
    let (v, unit) = if ns.abs() >= 1e9 {
        (ns / 1e9, "s")
    } else {
        let u = TimeUnit::suiting(ns);
        (u.of(ns), u.name())
    };
    let va = v.abs();
    if va >= 100.0 || unit == "ns" {
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
    }
}
