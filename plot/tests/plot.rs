//! `FigureFile` end to end with the installed gnuplot: re-runnable copies, fresh data
//! directories, hostile text; and the gnuplot 5.4 quoting behaviour `src/text.rs` relies on.
//! Skipped (with a reason) when gnuplot is not installed.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use kpath_cli::{Output, OutputError};
use kpath_plot::gnuplot::{
    AlignLeft, AlignTop, AutoOption, AxesCommon, Caption, Color, Coordinate::Graph, DashType,
    FillAlpha, LabelOption, LegendOption, LineStyle, LineWidth, PointSize, PointSymbol, RGBString,
};
use kpath_plot::{
    gnuplot_available, gnuplot_program, run_gnuplot, text, Drawn, Error, FigureFile, ImageFormat,
};

fn skip() -> bool {
    if gnuplot_available() {
        return false;
    }
    eprintln!("SKIPPED: gnuplot is not installed (`cargo xtask setup` installs it)");
    true
}

/// A figure with every element kind kpath draws: boxes, lines with dash types, linespoints,
/// y error bars, log scale, a legend placement.
fn full_figure(name: &str, format: ImageFormat, title: &str) -> FigureFile {
    let mut f = FigureFile::new(name, format, 640, 400).expect("name");
    let t = text(title);
    let ax = f.axes2d();
    ax.set_title(&t, &[])
        .set_x_label(&t, &[])
        .set_y_label("y", &[])
        .set_y_log(Some(10.0))
        .set_x_range(AutoOption::Fix(0.0), AutoOption::Fix(1.0))
        .set_x_grid(true)
        .set_y_grid(true)
        .set_legend(
            Graph(0.02),
            Graph(0.98),
            &[LegendOption::Placement(AlignLeft, AlignTop)],
            &[],
        )
        .set_box_width(0.1, false)
        .boxes(
            [0.1, 0.2, 0.3],
            [1.0, 2.0, 3.0],
            &[Caption(&t), FillAlpha(0.5), Color(RGBString("#1f77b4"))],
        )
        .lines(
            [0.1, 0.5, 0.9],
            [1.0, 2.0, 10.0],
            &[Caption("solid"), LineStyle(DashType::Solid), LineWidth(2.0)],
        )
        .lines(
            [0.1, 0.5, 0.9],
            [2.0, 3.0, 20.0],
            &[Caption("dashed"), LineStyle(DashType::Dash), LineWidth(2.0)],
        )
        .lines_points([0.2, 0.4], [5.0, 6.0], &[Caption(&t), PointSymbol('O')])
        .y_error_bars(
            [0.3, 0.6],
            [4.0, 8.0],
            [0.5, 1.0],
            &[
                Caption(&t),
                PointSymbol('S'),
                PointSize(1.3),
                Color(RGBString("#d62728")),
            ],
        );
    f.set_text_data("# x y\n0.1 1\n");
    f
}

/// A two-by-two multiplot, as the sweep draws.
fn multiplot(name: &str) -> FigureFile {
    let mut f = FigureFile::new(name, ImageFormat::Svg, 700, 500).expect("name");
    f.figure()
        .set_multiplot_layout(2, 2)
        .set_title(&text("multi \"plot\""));
    for i in 0..4 {
        f.axes2d()
            .set_title(&format!("panel {i}"), &[])
            .set_x_log(Some(10.0))
            .lines_points([1u32, 4, 16], [1.0, 2.0, 3.0 + f64::from(i)], &[]);
    }
    f
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for e in fs::read_dir(from).expect("ls") {
        let e = e.expect("entry");
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if e.file_type().expect("type").is_dir() {
            copy_tree(&src, &dst);
        } else {
            fs::copy(&src, &dst).expect("copy");
        }
    }
}

fn non_empty(p: &Path) -> bool {
    fs::metadata(p).is_ok_and(|m| m.is_file() && m.len() > 0)
}

#[test]
fn a_copied_directory_redraws_every_figure() {
    if skip() {
        return;
    }
    let d = tempfile::tempdir().expect("tempdir");
    let out = d.path().join("a dir with \"quotes\" and `ticks`");
    fs::create_dir(&out).expect("mkdir");
    let o = Output::new(false);
    let drawn: Vec<Drawn> = vec![
        full_figure("full", ImageFormat::Png, "__udp4_lib_rcv")
            .write(&out, &o)
            .expect("png"),
        multiplot("multi").write(&out, &o).expect("svg"),
    ];
    for f in &drawn {
        assert!(non_empty(&f.image), "{}", f.image.display());
        assert!(f.data_dir.join("0/0.bin").is_file());
        let script = fs::read_to_string(&f.script).expect("gp");
        assert!(
            !script.contains(d.path().to_str().expect("utf-8")),
            "{script}"
        );
        assert!(script.contains("set termoption noenhanced"), "{script}");
    }
    let full = fs::read_to_string(&drawn[0].script).expect("gp");
    for want in [
        "\"full.data/0/0.bin\" binary",
        " with boxes fill transparent solid",
        " dt 1 ",
        " dt 2 ",
        " with yerrorbars",
        " pt 5 ps 1.3",
        "set logscale y",
        "set output \"full.png\"",
        "t \"__udp4_lib_rcv\"",
    ] {
        assert!(full.contains(want), "no {want:?} in\n{full}");
    }
    assert_eq!(drawn[0].text_data.as_deref(), Some(&*out.join("full.dat")));
    assert!(drawn[1].text_data.is_none() && !out.join("multi.dat").exists());

    // Copy, remove the original (nothing may point into it), delete the images, rerun.
    let copy = d.path().join("elsewhere/copy");
    copy_tree(&out, &copy);
    fs::remove_dir_all(&out).expect("rm original");
    let mut scripts = 0;
    for e in fs::read_dir(&copy).expect("ls") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "gp") {
            let stem = p.file_stem().expect("stem").to_string_lossy().into_owned();
            let image = ["png", "svg"]
                .iter()
                .map(|x| copy.join(format!("{stem}.{x}")))
                .find(|i| i.exists())
                .expect("image");
            fs::remove_file(&image).expect("rm image");
            run_gnuplot(&copy, &p).expect("rerun");
            assert!(non_empty(&image), "{} not redrawn", image.display());
            scripts += 1;
        }
    }
    assert_eq!(scripts, 2);
}

#[test]
fn an_existing_data_directory_is_refused_without_force_and_replaced_not_followed_with_it() {
    if skip() {
        return;
    }
    let d = tempfile::tempdir().expect("tempdir");
    let victim = d.path().join("victim");
    fs::create_dir(&victim).expect("mkdir");
    fs::write(victim.join("keep"), "kept").expect("write");
    let out = d.path().join("plots");
    fs::create_dir(&out).expect("mkdir");
    let data = out.join("fig.data");
    std::os::unix::fs::symlink(&victim, &data).expect("symlink");

    let err = full_figure("fig", ImageFormat::Png, "t")
        .write(&out, &Output::new(false))
        .expect_err("a link at NAME.data");
    assert!(
        matches!(err, Error::Output(OutputError::Symlink(ref p)) if *p == data),
        "{err}"
    );
    assert!(!out.join("fig.gp").exists() && !out.join("fig.png").exists());
    // --force: the name is replaced by a directory of ours; the link's target is untouched.
    let drawn = full_figure("fig", ImageFormat::Png, "t")
        .write(&out, &Output::new(true))
        .expect("force");
    let meta = fs::symlink_metadata(&drawn.data_dir).expect("stat");
    assert!(meta.is_dir() && !meta.file_type().is_symlink());
    let victim_entries: Vec<PathBuf> = fs::read_dir(&victim)
        .expect("ls")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(
        victim_entries,
        [victim.join("keep")],
        "written through the link"
    );
    assert!(non_empty(&drawn.image));

    // A real directory is kept without --force, and replaced whole with it.
    let stale = drawn.data_dir.join("stale");
    fs::write(&stale, "old").expect("write");
    for name in ["fig.gp", "fig.png", "fig.dat"] {
        fs::remove_file(out.join(name)).expect("rm");
    }
    let err = full_figure("fig", ImageFormat::Png, "t")
        .write(&out, &Output::new(false))
        .expect_err("an existing NAME.data");
    assert!(
        matches!(err, Error::Output(OutputError::Exists(_))),
        "{err}"
    );
    assert!(stale.exists());
    full_figure("fig", ImageFormat::Png, "t")
        .write(&out, &Output::new(true))
        .expect("force");
    assert!(!stale.exists() && data.join("0/0.bin").is_file());
}

const HOSTILE: [&str; 6] = [
    "evil\nsystem 'touch PWNED_NL'\n#",
    "quote ' system('touch PWNED_Q') \" system(\"touch PWNED_DQ\") \"",
    "bt `touch PWNED_BT` \\`touch PWNED_BS` $(touch PWNED_D)",
    // Macros are not expanded inside strings (`gnuplot_quoting_is_as_documented`).
    "macro @m @@m @GPVAL_TERM \\ \\\" end",
    "cr\r\nsystem \"touch PWNED_CR\"\0 nul \u{1b}[1m",
    "trailing backslash \\",
];

#[test]
fn hostile_text_runs_nothing_and_breaks_nothing() {
    if skip() {
        return;
    }
    let d = tempfile::tempdir().expect("tempdir");
    for (i, h) in HOSTILE.iter().enumerate() {
        let mut f = full_figure(&format!("h{i}"), ImageFormat::Png, h);
        f.figure().set_multiplot_layout(1, 1).set_title(&text(h));
        let drawn = f.write(d.path(), &Output::new(false)).expect("hostile");
        assert!(non_empty(&drawn.image));
        let script = fs::read_to_string(&drawn.script).expect("gp");
        for line in script.lines() {
            let first = line.split_whitespace().next().unwrap_or("#");
            assert!(
                first.starts_with('#') || ["set", "unset", "plot"].contains(&first),
                "a line that is neither a comment nor the crate's: {line:?}"
            );
        }
    }
    // Without the sanitiser, a control character is refused before gnuplot runs.
    let mut f = FigureFile::new("raw", ImageFormat::Png, 100, 100).expect("name");
    f.axes2d()
        .lines([1, 2], [1, 2], &[Caption("cr\rsystem 'touch PWNED_RAW'")]);
    assert!(matches!(
        f.write(d.path(), &Output::new(false)),
        Err(Error::Script { .. })
    ));
    // A backquote in a position the crate does not escape (a font name) is refused too.
    let mut f = FigureFile::new("font", ImageFormat::Png, 100, 100).expect("name");
    f.axes2d()
        .set_title("t", &[LabelOption::Font("`touch PWNED_FONT`", 10.0)])
        .lines([1, 2], [1, 2], &[]);
    assert!(matches!(
        f.write(d.path(), &Output::new(false)),
        Err(Error::Script { .. })
    ));
    assert!(!d.path().join("raw.png").exists() && !d.path().join("font.png").exists());
    for e in fs::read_dir(d.path()).expect("ls") {
        let name = e.expect("entry").file_name();
        assert!(
            !name.to_string_lossy().starts_with("PWNED"),
            "a command ran: {name:?}"
        );
    }
}

#[test]
fn a_figure_without_data_is_an_error_not_a_gnuplot_failure() {
    let d = tempfile::tempdir().expect("tempdir");
    let mut f = FigureFile::new("empty", ImageFormat::Png, 100, 100).expect("name");
    f.axes2d().lines(Vec::<f64>::new(), Vec::<f64>::new(), &[]);
    assert!(matches!(
        f.write(d.path(), &Output::new(false)),
        Err(Error::Empty { .. })
    ));
}

/// Runs gnuplot on `script` in `dir`; returns what it printed (gnuplot prints to stderr).
fn gnuplot(dir: &Path, script: &str) -> String {
    fs::write(dir.join("t.gp"), script).expect("write");
    let o = Command::new(gnuplot_program())
        .arg("t.gp")
        .current_dir(dir)
        .output()
        .expect("gnuplot");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The gnuplot 5.4 behaviour documented in `src/text.rs`, checked with the installed gnuplot.
#[test]
fn gnuplot_quoting_is_as_documented() {
    if skip() {
        return;
    }
    let d = tempfile::tempdir().expect("tempdir");
    let p = d.path();
    // An unescaped backquote in a double-quoted string runs its command: the crate's
    // escaping of it is needed...
    let printed = gnuplot(p, "print \"a `touch RAN_RAW` b\"\n");
    assert!(p.join("RAN_RAW").exists(), "{printed}");
    // ...and sufficient: `\`` runs nothing, after `\\`, `'` or `\"` too; nor does a
    // backquote in a comment.
    let printed = gnuplot(
        p,
        "print \"a \\`touch RAN_1\\` b\"\nprint \"a ' b\", \"\\`touch RAN_2\\`\"\n\
         print \"x \\\\\\`touch RAN_3\\` \\\" y\"\n# `touch RAN_4`\nprint \"end\"\n",
    );
    for m in ["RAN_1", "RAN_2", "RAN_3", "RAN_4"] {
        assert!(!p.join(m).exists(), "{m} ran: {printed}");
    }
    assert!(
        printed.contains("a `touch RAN_1` b") && printed.contains("end"),
        "{printed}"
    );
    // `@` macros are live outside strings, not expanded inside them, whatever `\"` or `'`
    // precede them.
    let printed = gnuplot(p, "m = \"print 'MACRO'\"\n@m\n");
    assert!(printed.contains("MACRO"), "{printed}");
    let printed = gnuplot(
        p,
        "m = \"print 'MACRO'\"\nprint \"1 @m\"\nprint \"2 \\\" @m\"\nprint \"3 ' b\", \"c ' @m\"\n",
    );
    assert!(!printed.contains("MACRO"), "{printed}");
    assert!(
        printed.contains("2 \" @m") && printed.contains("c ' @m"),
        "{printed}"
    );
    // A NUL ends the line; a comment ending in a backslash swallows the next line.
    let printed = gnuplot(
        p,
        "print \"nul a\0b\" ; print \"LOST1\"\n# c \\\nprint \"LOST2\"\nprint \"kept\"\n",
    );
    assert!(
        printed.contains("nul a") && printed.contains("kept"),
        "{printed}"
    );
    assert!(
        !printed.contains("LOST1") && !printed.contains("LOST2"),
        "{printed}"
    );
}
