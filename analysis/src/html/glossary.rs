//! Every term the report uses, defined once: the glossary section at the end of the page and
//! the hover titles of the table headers that use a term.

/// (term, definition), in reading order.
pub const TERMS: &[(&str, &str)] = &[
    (
        "T",
        "Service time of one datagram: mean time per invocation of the receive stage plus the \
         send stage (T = T_rx + T_tx), on the CPU unless the clock is wall.",
    ),
    (
        "D",
        "Variance of the service time (D = D_rx + D_tx), in the time unit squared.",
    ),
    (
        "C²",
        "Squared coefficient of variation D/T²: 0 for a constant service, 1 for an exponential \
         one (where M/M/1 is exact).",
    ),
    (
        "k",
        "Calls of a function per invocation of its stage (calls / invocations).",
    ),
    (
        "t",
        "Mean time per call of a function, including its probed callees.",
    ),
    (
        "self time",
        "A function's time per call less the time of its probed direct callees.",
    ),
    (
        "kept",
        "Samples left after the interrupt filter (interrupted calls are dropped by default).",
    ),
    (
        "dropped",
        "Samples an interrupt, a context switch or a migration hit, left out by the filter.",
    ),
    (
        "±ci95",
        "Half-width of the 95 % confidence interval of the mean (Student's t).",
    ),
    (
        "±1%",
        "Whether the mean is known within ±1 % at 95 % confidence; otherwise the samples it \
         needs (n≥…).",
    ),
    (
        "net mean",
        "Mean time per call with the interrupts' time subtracted from the samples they hit.",
    ),
    (
        "normative",
        "Stage time per invocation divided by the calls per invocation: the time a call costs \
         on average, weighted as the stage really calls.",
    ),
    (
        "Σk·t",
        "Sum over a level's functions of calls per invocation times mean time per call.",
    ),
    (
        "ρ",
        "Load: arrival rate times service time, λ·T (1 = saturation).",
    ),
    (
        "λ",
        "Arrival rate, datagrams per second; λ_max = 1/T is the saturation rate.",
    ),
    (
        "W",
        "Mean sojourn time: from the kernel receiving a datagram to the kernel sending it on, \
         waiting included.",
    ),
    (
        "N",
        "Mean number of datagrams in the proxy, N = λ·W (Little's law).",
    ),
    (
        "M/G/1",
        "One server, Poisson arrivals, general service times: the Pollaczek–Khinchine mean.",
    ),
    (
        "M/M/1",
        "One server, Poisson arrivals, exponential service times.",
    ),
    (
        "M/G/1+setup",
        "M/G/1 in which the first datagram of each busy period first waits a setup time: the \
         wake-up of an idle CPU.",
    ),
    (
        "S busy",
        "The proxy CPU's busy time per datagram at that load (utilisation law, from the \
         scheduler's idle transitions).",
    ),
    (
        "probe cost",
        "Time kpath's own probe pair adds to every interval it measures, from `kpath-probe \
         calibrate`.",
    ),
];

/// The definition of the term a table header names, if the glossary has it: the header
/// itself, or its first word (`mean T` → `T` is not matched; `T`, `C²`, `±1%` are).
pub fn define(header: &str) -> Option<&'static str> {
    let h = header.trim();
    TERMS
        .iter()
        .find(|(term, _)| {
            *term == h
                || h.split_whitespace()
                    .any(|w| w == *term && term.chars().count() > 1)
        })
        .map(|(_, d)| *d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_find_their_terms() {
        assert!(define("C²").is_some_and(|d| d.contains("D/T²")));
        assert!(define("±1%").is_some());
        assert!(define("W M/G/1").is_some_and(|d| d.contains("Pollaczek")));
        assert!(define("function").is_none());
        // One-letter terms match only a whole header: "mean t" is not "t".
        assert!(define("mean t").is_none());
        assert!(define("k").is_some());
    }
}
