//! The validation points file (`validation::parse_points`, what `kpath analyze --validation`
//! reads) on arbitrary bytes, then the validation built from it: every number of the file
//! reaches the queueing models and the confidence intervals.
//!
//! CSV sojourns name other files: the target drops them before building (the `sojourn_csv`
//! target covers their parser), so that a fuzzed path such as /dev/zero or /dev/stdin cannot
//! make the run read forever.

#![no_main]

use std::path::Path;

use kpath_analysis::validation::{
    self, ServiceSpec, ServiceTime, Sojourns, ValidationOptions, DEFAULT_RATE_TOLERANCE,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut f) = validation::parse_points(data, Path::new("fuzz/points.json")) else {
        return;
    };
    for c in &mut f.choices {
        if matches!(
            c.service,
            Some(ServiceSpec::Sojourns {
                sojourns: Sojourns::Csv { .. }
            })
        ) {
            c.service = None;
        }
        for p in &mut c.points {
            if matches!(p.sojourns, Some(Sojourns::Csv { .. })) {
                p.sojourns = None;
            }
        }
    }
    // The service time a `"probes"` choice without its own takes from the results.
    let probes = ServiceTime {
        mean: 1500.0,
        variance: 250_000.0,
    };
    let opts = ValidationOptions {
        rate_tolerance: f.rate_tolerance.unwrap_or(DEFAULT_RATE_TOLERANCE),
    };
    let _ = validation::build(&f.choices, Some(probes), f.unit_ns, &opts);
});
