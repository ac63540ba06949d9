//! `cargo xtask test`: every check CI runs, in order, with one summary at the end.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::util::{run, workspace_root};
use crate::{build, vm};

/// Options of a test run.
pub struct TestOptions {
    /// Skip the VM stage (for quick local runs; CI never sets it).
    pub skip_vm: bool,
    /// Kernel series for the VM (default: newest cloud kernel).
    pub kernel: Option<String>,
    /// Also run the kernel matrix (every kernel the package index offers).
    pub full: bool,
}

struct Stage {
    name: &'static str,
    outcome: Result<(), String>,
    took: Duration,
}

fn cargo() -> Command {
    let mut c = Command::new("cargo");
    c.current_dir(workspace_root());
    c
}

/// Runs all stages; a failed stage does not stop independent later ones.
pub fn test(opts: &TestOptions) -> Result<()> {
    let mut stages: Vec<Stage> = Vec::new();
    let mut stage = |name: &'static str, f: &mut dyn FnMut() -> Result<()>| -> bool {
        eprintln!("\n=== {name}");
        let start = Instant::now();
        let outcome = f().map_err(|e| format!("{e:#}"));
        let ok = outcome.is_ok();
        stages.push(Stage {
            name,
            outcome,
            took: start.elapsed(),
        });
        ok
    };

    stage("setup", &mut crate::setup::setup);
    stage(
        "fmt",
        &mut || run(cargo().args(["fmt", "--all", "--check"])),
    );
    stage("clippy (user space)", &mut || {
        run(cargo().args(["clippy", "--all-targets", "--", "-D", "warnings"]))
    });
    let built = stage("build eBPF", &mut || build::build_ebpf().map(|_| ()));
    if built {
        stage("clippy (eBPF)", &mut build::clippy_ebpf);
    }
    let bins = built && stage("build binaries", &mut build::build);
    stage("unit and host tests", &mut || {
        // Host eBPF tests fail (rather than skip) when the object was not embedded.
        // Tools `setup` installs (Chromium for the browser test) must be there too.
        run(cargo()
            .env("KPATH_REQUIRE_EBPF", "1")
            .env("KPATH_REQUIRE_TOOLS", "1")
            .args(["test", "--no-fail-fast"]))
    });
    if bins {
        stage("demo (small)", &mut || {
            crate::demo::demo(&crate::demo::DemoOptions {
                count: 2_000,
                size: 64,
                warmup: 200,
                validation_count: 1_000,
                functions: Vec::new(),
                out: workspace_root().join("target/demo-test"),
                vm: false,
            })
        });
    }
    if bins {
        // Every section of `cargo xtask bench` runs, small: the command works from a clean
        // checkout. Its figures are not the documented ones and its targets are not judged.
        stage("bench (quick)", &mut || {
            crate::bench::bench(&crate::bench::BenchOptions {
                dir: workspace_root().join("target/bench-quick"),
                ..crate::bench::options(true, 1, Vec::new())
            })
        });
    }
    // The readers on hostile input; needs neither the eBPF object nor the binaries. 4 × 60 s
    // plus the nightly build: about 2.5 min from scratch on 2 CPUs, seconds when
    // `target/fuzz/build` is current.
    stage("fuzz (60 s per target)", &mut || {
        crate::fuzz::fuzz(&crate::fuzz::FuzzOptions::all(60))
    });
    if opts.skip_vm {
        eprintln!("\n=== VM tests skipped (--skip-vm)");
    } else if bins {
        stage("VM tests", &mut || {
            vm::vm_test(vm::Flavour::Cloud, opts.kernel.as_deref())
        });
        stage("VM stand (rtl8139)", &mut || {
            crate::vmstand::vm_stand_check(
                crate::vmstand::Nic::Rtl8139,
                None,
                crate::vmstand::CI_COUNT,
            )
        });
        if opts.full {
            stage("kernel matrix", &mut || {
                crate::vmstand::matrix(crate::vmstand::Nic::Rtl8139, crate::vmstand::CI_COUNT)
            });
        }
    }

    eprintln!("\n=== summary");
    let mut failed = 0;
    for s in &stages {
        let (mark, detail) = match &s.outcome {
            Ok(()) => ("ok  ", String::new()),
            Err(e) => {
                failed += 1;
                (
                    "FAIL",
                    format!("  {}", e.lines().next().unwrap_or_default()),
                )
            }
        };
        eprintln!(
            "{mark} {:<22} {:>7.1} s{detail}",
            s.name,
            s.took.as_secs_f64()
        );
    }
    let total: Duration = stages.iter().map(|s| s.took).sum();
    eprintln!(
        "{} stages, {failed} failed, {:.1} s",
        stages.len(),
        total.as_secs_f64()
    );
    println!("xtask: {} passed, {failed} failed", stages.len() - failed);
    if failed > 0 {
        bail!("{failed} test stage(s) failed");
    }
    Ok(())
}
