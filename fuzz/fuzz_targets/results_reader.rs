//! `results.json` on arbitrary bytes (`Results::from_json_slice`, what `Results::load` reads),
//! then what `kpath model`, `plot` and `html` do with loaded results before touching files:
//! the text, CSV and Markdown renderings (in ns and in ticks), the first screen, the
//! histograms, the queueing projection.
//! A results file may come from another machine or an older kpath, so a hostile one must
//! fail with an error, never a panic, a hang or a runaway allocation.

#![no_main]

use std::io;
use std::path::Path;

use kpath_analysis::report::unit::TimeUnit;
use kpath_analysis::report::{csv::Csv, first_screen, hist, markdown, text::Text, Report};
use kpath_analysis::{queueing, Results};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(r) = Results::from_json_slice(data, Path::new("fuzz/results.json")) else {
        return;
    };
    let ticks = TimeUnit::Ticks { cpu_mhz: 2400.0 };
    for unit in [TimeUnit::Ns, ticks, TimeUnit::Auto] {
        let _ = Text { unit }.write(&r, &mut io::sink());
        let _ = Csv { unit }.write(&r, &mut io::sink());
    }
    let _ = markdown::summary(&r, 10, &[]);
    let _ = first_screen::of(&r);
    let _ = hist::histograms(&r);
    if let Some(s) = &r.service {
        let _ = queueing::project(s.mean, s.variance, r.unit_ns, &queueing::default_rhos());
    }
});
