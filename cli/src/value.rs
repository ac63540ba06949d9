//! Command-line values parsed with their bounds, for `clap`'s `value_parser`.
//!
//! Every duration, rate and busy time is checked here, at parse time, so that an absurd value
//! is a one-line usage error before anything is attached or sent, never a panic converting it
//! later (`Duration::from_secs_f64(1e300)`) nor a loop that cannot end.

use std::time::Duration;

/// The longest duration any kpath tool accepts: 366 days. A longer run is a typo.
pub const MAX_DURATION: Duration = Duration::from_secs(366 * 24 * 3600);

/// The longest emulated processing per datagram (`--busy-us`): one second.
pub const MAX_BUSY_US: f64 = 1e6;

/// The highest rate (`--rate`, per second) a generator accepts: 10⁸, far above what one
/// host can send.
pub const MAX_RATE: f64 = 1e8;

/// The highest CPU number a list may name (`--cpu`): the kernel-side filter's bit set holds
/// 256 CPUs (`probe_common::cpus`).
pub const MAX_LIST_CPU: u32 = 255;

/// A finite number ≥ 0.
pub fn non_negative_number(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number"))?;
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(format!("{s} is not a finite number ≥ 0"))
    }
}

/// A CPU list as the kernel writes them (`cpuset`, `isolcpus`): CPU numbers and ranges
/// `a-b`, comma-separated, e.g. `0`, `1,3` or `0-2,5`. Returned ascending, without repeats;
/// each at most [`MAX_LIST_CPU`].
pub fn cpu_list(s: &str) -> Result<CpuList, String> {
    let number = |p: &str| -> Result<u32, String> {
        let n: u32 = p
            .trim()
            .parse()
            .map_err(|_| format!("{p:?} in {s:?} is not a CPU number"))?;
        if n > MAX_LIST_CPU {
            return Err(format!(
                "CPU {n} is above {MAX_LIST_CPU}, the highest kpath can filter"
            ));
        }
        Ok(n)
    };
    let mut cpus = Vec::new();
    for part in s.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (number(a)?, number(b)?);
                if a > b {
                    return Err(format!("range {part:?} in {s:?} runs backwards"));
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(number(part)?),
        }
    }
    cpus.sort_unstable();
    cpus.dedup();
    Ok(CpuList(cpus))
}

/// A parsed [`cpu_list`]: one value to clap (an `Option<Vec<_>>` field would be read as a
/// flag given several times).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuList(pub Vec<u32>);

/// A duration: a number (fractions allowed) with an optional unit `ns`, `us` (`µs`), `ms`,
/// `s` (the default), `m` (`min`) or `h`, or several such terms in a row, as humantime and
/// systemd write them (`1m30s`, `1h 30min`, `2s500ms`); zero up to [`MAX_DURATION`].
pub fn duration(s: &str) -> Result<Duration, String> {
    let mut rest = s.trim();
    let mut secs = 0.0;
    let mut terms = 0;
    while !rest.is_empty() {
        let (term, tail) = next_term(rest);
        // A unit-less number is seconds, and only alone: `1m30` is a typo.
        if terms > 0 && term.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return Err(format!(
                "`{s}`: `{term}` has no unit (allowed: ns, us, ms, s, m, h)"
            ));
        }
        secs += term_secs(s, term)?;
        terms += 1;
        rest = tail.trim_start();
    }
    if terms == 0 {
        return Err(format!(
            "`{s}` is not a duration (e.g. 10s, 500ms, 2m, 1m30s)"
        ));
    }
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("`{s}` is not a duration of zero or more"));
    }
    if secs > MAX_DURATION.as_secs_f64() {
        return Err(format!(
            "`{s}` is longer than the allowed maximum of 366 days"
        ));
    }
    Duration::try_from_secs_f64(secs).map_err(|e| format!("`{s}`: {e}"))
}

/// The first `number unit` term of `t`, and what follows it.
fn next_term(t: &str) -> (&str, &str) {
    // The number: digits, a point, an exponent (`1e3ms`).
    let num_end = t
        .find(|c: char| {
            !(c.is_ascii_digit() || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-')
        })
        .unwrap_or(t.len());
    // The unit: letters (and `µ`), after optional spaces.
    let after = &t[num_end..];
    let spaces = after.len() - after.trim_start().len();
    let unit_start = num_end + spaces;
    let unit_len = t[unit_start..]
        .find(|c: char| !(c.is_alphabetic()))
        .unwrap_or(t.len() - unit_start);
    let end = if unit_len == 0 {
        num_end
    } else {
        unit_start + unit_len
    };
    if end == 0 {
        // Not a number: the whole rest is one (bad) term.
        return (t, "");
    }
    (&t[..end], &t[end..])
}

/// Seconds of one `number unit` term of the duration `s`.
fn term_secs(s: &str, term: &str) -> Result<f64, String> {
    let split = term
        .find(|c: char| {
            !(c.is_ascii_digit() || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-')
        })
        .unwrap_or(term.len());
    // An exponent's `e` may also start no unit we know; `5e15h` is 5×10¹⁵ hours.
    let (num, unit) = term.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (e.g. 10s, 500ms, 2m, 1m30s)"))?;
    let scale = match unit.trim() {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "" | "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => {
            return Err(format!(
                "`{s}`: unknown unit `{other}` (allowed: ns, us, ms, s, m, h)"
            ))
        }
    };
    if value.is_nan() || value < 0.0 {
        return Err(format!("`{s}` is not a duration of zero or more"));
    }
    Ok(value * scale)
}

/// A [`duration`] greater than zero.
pub fn positive_duration(s: &str) -> Result<Duration, String> {
    let d = duration(s)?;
    if d.is_zero() {
        return Err(format!("`{s}` must be longer than zero"));
    }
    Ok(d)
}

/// `s` as a number for which `ok` holds; else an error saying it is not `noun`, or that it
/// `must` be something else.
fn number(s: &str, noun: &str, ok: impl Fn(f64) -> bool, must: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not {noun}"))?;
    if ok(v) {
        Ok(v)
    } else {
        Err(format!("`{s}` {must}"))
    }
}

/// A busy time per datagram in microseconds: 0 to [`MAX_BUSY_US`].
pub fn busy_us(s: &str) -> Result<f64, String> {
    number(
        s,
        "a number of microseconds",
        |v| (0.0..=MAX_BUSY_US).contains(&v),
        &format!("is outside the allowed range 0 to {MAX_BUSY_US} µs"),
    )
}

/// A rate per second: above 0, at most [`MAX_RATE`].
pub fn rate(s: &str) -> Result<f64, String> {
    number(
        s,
        "a rate per second",
        |v| v > 0.0 && v <= MAX_RATE,
        &format!("is outside the allowed range: above 0, at most {MAX_RATE:e} per second"),
    )
}

/// A positive finite number (a frequency, a unit's size): `0`, negatives, `inf` and `NaN`
/// are refused.
pub fn positive_number(s: &str) -> Result<f64, String> {
    number(
        s,
        "a number",
        |v| v.is_finite() && v > 0.0,
        "must be a positive finite number",
    )
}

/// A probability: a number from 0 to 1.
pub fn probability(s: &str) -> Result<f64, String> {
    number(
        s,
        "a number",
        |v| (0.0..=1.0).contains(&v),
        "is not a probability (0 to 1)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_and_ranges() {
        assert_eq!(cpu_list("1"), Ok(CpuList(vec![1])));
        assert_eq!(cpu_list("3,0-2,2"), Ok(CpuList(vec![0, 1, 2, 3])));
        assert_eq!(cpu_list("255"), Ok(CpuList(vec![255])));
        for bad in ["", "x", "1,", "3-1", "256", "0-300", "-1"] {
            assert!(cpu_list(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn durations_in_range() {
        assert_eq!(duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(duration("0"), Ok(Duration::ZERO));
        assert!(duration("366d").is_err());
        // Compound, as humantime and systemd write them.
        assert_eq!(duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(duration("1h 30min"), Ok(Duration::from_secs(5400)));
        assert_eq!(duration("2s500ms"), Ok(Duration::from_millis(2500)));
        assert_eq!(duration("1500us"), Ok(Duration::from_micros(1500)));
        assert!(duration("1m30").is_err(), "a unit-less second term");
        assert!(duration("1m 30x").is_err());
        assert!(duration("1m-30s").is_err(), "a negative term");
    }

    #[test]
    fn durations_out_of_range_are_errors_not_panics() {
        for bad in [
            "99999999999999999999",
            "1e300",
            "5e15h",
            "367h0",
            "-1",
            "NaN",
            "inf",
            "1e-400x",
            "",
            "fast",
            "3 parsecs",
        ] {
            let e = duration(bad).expect_err(bad);
            assert!(e.contains('`'), "{bad}: {e}");
        }
        assert!(duration(&format!("{}", 366 * 24 * 3600 + 1)).is_err());
        assert!(positive_duration("0s").is_err());
        assert!(positive_duration("1ns").is_ok());
    }

    #[test]
    fn busy_times_and_rates() {
        assert_eq!(busy_us("2.5"), Ok(2.5));
        assert!(busy_us("18446744073709551615").is_err());
        assert!(busy_us("-1").is_err());
        assert!(busy_us("NaN").is_err());
        assert_eq!(rate("1000"), Ok(1000.0));
        assert_eq!(positive_number("2400"), Ok(2400.0));
        assert_eq!(probability("0.25"), Ok(0.25));
        for bad in ["0", "-1", "inf", "NaN", "x"] {
            assert!(positive_number(bad).is_err(), "{bad}");
        }
        for bad in ["-0.1", "1.5", "NaN", "x"] {
            assert!(probability(bad).is_err(), "{bad}");
        }
        for bad in ["0", "-5", "inf", "NaN", "1e9", "x"] {
            assert!(rate(bad).is_err(), "{bad}");
        }
    }
}
