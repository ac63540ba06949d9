//! The sojourn CSV of `kpath-stand echo --timestamps` (`validation::parse_sojourn_csv`, what
//! `read_sojourn_csv` reads) on arbitrary text, with several warm-up skips, then the
//! statistics of the values it returns.
//!
//! Skipping one more data row of a file that parses must give one value fewer (or none).

#![no_main]

use std::path::Path;

use kpath_analysis::validation::{self, Sojourns};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // `read_sojourn_csv` reads the file with `read_to_string`: the parser only sees UTF-8.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz/sojourns.csv");
    let Ok(all) = validation::parse_sojourn_csv(text, 0, path) else {
        return;
    };
    let Ok(fewer) = validation::parse_sojourn_csv(text, 1, path) else {
        panic!("parses with skip 0 but not with skip 1");
    };
    assert_eq!(fewer.len(), all.len().saturating_sub(1));
    assert_eq!(
        validation::parse_sojourn_csv(text, u64::MAX, path)
            .map(|v| v.len())
            .ok(),
        Some(0)
    );
    let _ = validation::sojourn_stats(&Sojourns::Raw(all), 1.0);
});
