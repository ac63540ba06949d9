//! The synthetic generator's known distributions come back out of the analysis.

use kpath_analysis::synth::{write_trace, SynthConfig};
use kpath_analysis::{analyze_file, AnalysisOptions, Filter, Stage};

#[test]
fn known_means_and_variances_are_recovered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("synth.trace");
    let mut cfg = SynthConfig::veth(4000);
    cfg.irq_probability = 0.05;
    write_trace(&cfg, &path, &kpath_cli::Output::new(false)).expect("write");
    let r = analyze_file(&path, &AnalysisOptions::default()).expect("analyze");
    for (stage, node) in [(Stage::Rx, &cfg.rx), (Stage::Tx, &cfg.tx)] {
        let s = r.stage(stage).expect("stage");
        assert_eq!(s.invocations, 4000);
        // Interrupted invocations are dropped, so the rest follow the configured distribution.
        assert!(
            s.stats.samples < 4000 && s.stats.samples > 3000,
            "{}",
            s.stats.samples
        );
        assert!(
            (s.stats.mean - node.mean()).abs() < 4.0 * s.stats.ci95 + 1.0,
            "{stage}: {} vs {}",
            s.stats.mean,
            node.mean()
        );
        close!(node.variance(), s.stats.variance, 0.15);
    }
    // Without the filter, every interrupted sample carries 2000 ns more.
    let all = analyze_file(
        &path,
        &AnalysisOptions {
            filter: Filter::None,
            ..AnalysisOptions::default()
        },
    )
    .expect("analyze");
    let (clean, raw) = (
        r.stage(Stage::Rx).expect("rx"),
        all.stage(Stage::Rx).expect("rx"),
    );
    assert!(raw.stats.mean > clean.stats.mean + 20.0);
    // Net subtraction removes exactly the injected IRQ time.
    let net = analyze_file(
        &path,
        &AnalysisOptions {
            filter: Filter::Net,
            ..AnalysisOptions::default()
        },
    )
    .expect("analyze");
    let n = net.stage(Stage::Rx).expect("rx");
    assert_eq!(n.stats.samples, 4000);
    assert!((n.stats.mean - cfg.rx.mean()).abs() < 4.0 * n.stats.ci95 + 1.0);
}
