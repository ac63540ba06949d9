//! Every promised figure exists, is a valid PNG of the promised size, and its `.gp` script
//! reproduces it, byte for byte, in a copy of the output directory. Skipped (with a reason)
//! when gnuplot is not installed.

use std::path::Path;

use kpath_analysis::plot::{
    figure_names, gnuplot_available, plot_results, run_gnuplot, ImageFormat,
};
use kpath_analysis::synth::{write_trace, SynthConfig};
use kpath_analysis::util::slug;
use kpath_analysis::validation::{
    build, ChoiceInput, MeasuredPoint, ServiceSpec, ServiceTime, Sojourns, ValidationOptions,
};
use kpath_analysis::{analyze_file, AnalysisOptions};

/// Width and height from the IHDR chunk, after checking the signature.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(bytes.len() > 33, "too short for a PNG");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "bad PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR", "first chunk is not IHDR");
    let be = |o: usize| u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]);
    (be(16), be(20))
}

#[test]
fn every_figure_is_a_png_and_its_script_reproduces_it() {
    if !gnuplot_available() {
        eprintln!("SKIPPED: gnuplot is not installed (`cargo xtask setup` installs it)");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = dir.path().join("t.trace");
    write_trace(
        &SynthConfig::veth(300),
        &trace,
        &kpath_cli::Output::new(false),
    )
    .expect("trace");
    let mut r = analyze_file(&trace, &AnalysisOptions::default()).expect("analyze");
    let point = |rho: f64, t: f64| MeasuredPoint {
        rho,
        lambda_target_per_s: None,
        lambda_achieved_per_s: Some(rho / (t * 1e-9)),
        sojourns: Some(Sojourns::Summary {
            samples: 1000,
            mean: 1.3 * t / (1.0 - rho),
            variance: t * t,
        }),
        unreachable: None,
        busy_per_datagram: None,
    };
    let probes = ChoiceInput {
        name: "probes".into(),
        description: None,
        service: None,
        setup: None,
        points: vec![point(0.5, r.service.as_ref().expect("service").mean)],
    };
    let relay = ChoiceInput {
        name: "relay".into(),
        description: None,
        service: Some(ServiceSpec::Moments(ServiceTime {
            mean: 3000.0,
            variance: 4e6,
        })),
        setup: None,
        points: vec![point(0.3, 3000.0), point(0.8, 3000.0)],
    };
    let service = ServiceTime {
        mean: r.service.as_ref().expect("service").mean,
        variance: r.service.as_ref().expect("service").variance,
    };
    r.validation = Some(
        build(
            &[probes, relay],
            Some(service),
            1.0,
            &ValidationOptions::default(),
        )
        .expect("validation"),
    );
    let out = dir.path().join("plots");
    let figs =
        plot_results(&r, &out, ImageFormat::Png, &kpath_cli::Output::new(false)).expect("plot");

    // The synthetic trace's functions all have more than MIN_PLOT_SAMPLES kept samples.
    assert!(r
        .functions
        .iter()
        .all(|f| f.stats.samples >= kpath_analysis::plot::MIN_PLOT_SAMPLES));
    let mut promised: Vec<String> = vec!["percentiles_rx".into(), "percentiles_tx".into()];
    promised.extend(
        r.functions
            .iter()
            .map(|f| format!("density_{}_{}", f.stage, slug(&f.function))),
    );
    promised.extend(["stage_rx", "stage_tx", "depth", "sojourn", "in_system"].map(String::from));
    assert_eq!(figure_names(&r), promised);
    assert_eq!(figs.len(), promised.len());
    for name in &promised {
        for ext in ["png", "gp", "dat"] {
            assert!(
                out.join(format!("{name}.{ext}")).is_file(),
                "missing {name}.{ext}"
            );
        }
        assert!(
            out.join(format!("{name}.data/0/0.bin")).is_file(),
            "missing {name}.data/"
        );
        let png = std::fs::read(out.join(format!("{name}.png"))).expect("read png");
        assert_eq!(png_size(&png), (900, 560), "{name}");
        assert!(
            png.len() > 5000,
            "{name}.png is suspiciously small: {} bytes",
            png.len()
        );
    }
    for f in &figs {
        assert_eq!(f.data_dir, f.script.with_extension("data"));
        assert_eq!(f.data, f.script.with_extension("dat"));
    }
    let sojourn = std::fs::read_to_string(out.join("sojourn.gp")).expect("gp");
    for choice in ["probes", "relay"] {
        assert!(
            sojourn.contains(" dt 1 linecolor rgb \"")
                && sojourn.contains(&format!("t \"M/M/1 ({choice})\"")),
            "{sojourn}"
        );
        assert!(
            sojourn.contains(&format!("t \"measured ({choice})\"")),
            "{sojourn}"
        );
    }
    assert!(sojourn.contains(" dt 2 linecolor rgb") && sojourn.contains("with yerrorbars"));
    assert!(sojourn.contains("set logscale y") && sojourn.contains("\"sojourn.data/0/"));
    let in_system = std::fs::read_to_string(out.join("in_system.gp")).expect("gp");
    assert!(in_system.contains("\"measured (relay)\"") && in_system.contains("M/M/1 (any T)"));
    let depth = std::fs::read_to_string(out.join("depth.gp")).expect("gp");
    // One panel per stage, each titled with its calls and depth.
    assert!(depth.contains("set multiplot layout 2,1"), "{depth}");
    assert!(depth.contains("with linespoints") && depth.contains("set title \"send: "));

    // Copy the directory elsewhere, move the original out of the way (nothing may point into
    // it), delete the images and rerun every script by hand: every image comes back, the same
    // bytes.
    let copy = dir.path().join("elsewhere/rerun");
    copy_tree(&out, &copy);
    let original = dir.path().join("original");
    std::fs::rename(&out, &original).expect("move the original");
    let mut rerun = 0;
    for entry in std::fs::read_dir(&copy).expect("ls") {
        let gp = entry.expect("entry").path();
        if gp.extension().is_none_or(|x| x != "gp") {
            continue;
        }
        let png = gp.with_extension("png");
        std::fs::remove_file(&png).expect("rm image");
        run_gnuplot(&copy, &gp).expect("rerun gnuplot");
        let b = std::fs::read(&png).expect("rerun");
        assert!(!b.is_empty(), "{} not redrawn", png.display());
        let name = png.file_name().expect("name");
        let a = std::fs::read(original.join(name)).expect("original");
        assert!(a == b, "{name:?} differs after rerunning its script");
        rerun += 1;
    }
    assert_eq!(rerun, promised.len());
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("ls") {
        let e = e.expect("entry");
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if e.file_type().expect("type").is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).expect("copy");
        }
    }
}

/// Names from a trace, a results file or a points file reach the `.gp` scripts only inside
/// the gnuplot crate's escaped strings, sanitised by `kpath_plot::text`, whatever they
/// contain: gnuplot runs every script here, and a name that broke out of its string
/// (`evil\nsystem 'touch PWNED'`, a backquote, an `@` macro) would create a file.
#[test]
fn hostile_names_cannot_reach_gnuplot_as_commands() {
    if !gnuplot_available() {
        eprintln!("SKIPPED: gnuplot is not installed (`cargo xtask setup` installs it)");
        return;
    }
    let hostile = [
        "evil\nsystem 'touch PWNED'\n#",
        "quote ' system('touch PWNED_Q') '",
        "dq \" `touch PWNED_BT` \\`touch PWNED_BS` $(touch PWNED_D) \\ \\' \r\nsystem \"touch PWNED_CR\"",
        "macro @x @GPVAL_TERM $data\tsystem 'touch PWNED_T'",
        "nul \0 esc \u{1b}[1m trailing backslash \\",
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = dir.path().join("t.trace");
    write_trace(
        &SynthConfig::veth(300),
        &trace,
        &kpath_cli::Output::new(false),
    )
    .expect("trace");
    let mut r = analyze_file(&trace, &AnalysisOptions::default()).expect("analyze");
    for (i, f) in r.functions.iter_mut().enumerate() {
        f.function = format!("{}{i}", hostile[i % hostile.len()]);
    }
    let point = |rho: f64, t: f64| MeasuredPoint {
        rho,
        lambda_target_per_s: None,
        lambda_achieved_per_s: Some(rho / (t * 1e-9)),
        sojourns: Some(Sojourns::Summary {
            samples: 1000,
            mean: 1.3 * t / (1.0 - rho),
            variance: t * t,
        }),
        unreachable: None,
        busy_per_datagram: None,
    };
    let choices: Vec<ChoiceInput> = hostile
        .iter()
        .map(|name| ChoiceInput {
            name: (*name).into(),
            description: None,
            service: Some(ServiceSpec::Moments(ServiceTime {
                mean: 3000.0,
                variance: 4e6,
            })),
            setup: None,
            points: vec![point(0.3, 3000.0)],
        })
        .collect();
    r.validation =
        Some(build(&choices, None, 1.0, &ValidationOptions::default()).expect("validation"));
    let out = dir.path().join("plots");
    let figs =
        plot_results(&r, &out, ImageFormat::Png, &kpath_cli::Output::new(false)).expect("plot");
    assert!(!figs.is_empty());
    for entry in std::fs::read_dir(&out).expect("list") {
        let name = entry.expect("entry").file_name();
        let name = name.to_string_lossy();
        assert!(!name.starts_with("PWNED"), "a name ran a command: {name}");
        assert!(
            [".gp", ".dat", ".png", ".data"]
                .iter()
                .any(|e| name.ends_with(e)),
            "unexpected file {name}"
        );
    }
    for f in &figs {
        let script = std::fs::read_to_string(&f.script).expect("gp");
        for line in script.lines() {
            let first = line.split_whitespace().next().unwrap_or("#");
            assert!(
                first.starts_with('#') || ["set", "plot", "unset"].contains(&first),
                "{}: a line that is neither a comment nor ours: {line:?}",
                f.script.display()
            );
        }
    }
}

/// Distributions of too few samples are not drawn: a function under `MIN_PLOT_SAMPLES`
/// kept samples has no density and no line in its stage's percentile plot, and a stage under
/// it has no percentile plot at all.
#[test]
fn too_few_samples_get_no_distribution_plot() {
    use kpath_analysis::plot::MIN_PLOT_SAMPLES;
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = crate::calltree::small_trace(dir.path());
    let r = kpath_analysis::analyze_file(
        &trace,
        &kpath_analysis::AnalysisOptions {
            min_stage_samples: 1,
            ..kpath_analysis::AnalysisOptions::default()
        },
    )
    .expect("analyze");
    assert!(r
        .functions
        .iter()
        .all(|f| f.stats.samples < MIN_PLOT_SAMPLES));
    let names = figure_names(&r);
    assert!(
        names.iter().all(|n| !n.starts_with("density_")
            && !n.starts_with("percentiles_")
            && !n.starts_with("stage_")),
        "{names:?}"
    );
}
