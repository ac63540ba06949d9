//! `cargo xtask setup`: install what the project needs, only what is missing, and say so.

use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::util::{have, is_root, output, run};

/// Debian packages and why each is needed.
const PACKAGES: &[(&str, &str)] = &[
    ("rustc-web", "rustc 1.96 that builds the eBPF crate"),
    ("cargo-web", "its cargo"),
    ("rust-web-src", "library source for -Z build-std=core"),
    ("rust-web-clippy", "clippy for the eBPF crate"),
    ("llvm-22-dev", "LLVM for bpf-linker"),
    ("qemu-system-x86", "the VM for kprobe/fentry tests"),
    ("busybox-static", "the VM's userland"),
    ("cpio", "packing the initramfs"),
    ("xz-utils", "unpacking kernel modules"),
    ("gnuplot-nox", "plots"),
    (
        "chromium",
        "the browser test of the HTML report's first screen (headless screenshot)",
    ),
    ("iproute2", "network namespaces and veth"),
    (
        "ethtool",
        "the isolated stand: the generator's veth end receives in a NAPI thread",
    ),
    ("sockperf", "the reference UDP latency tool in benchmarks"),
    (
        "bpftrace",
        "the reference probe tool in benchmarks (`cargo xtask bench`)",
    ),
    (
        "mawk",
        "the original method's analysis tool, the peer in `cargo xtask bench`",
    ),
];

fn installed(pkg: &str) -> bool {
    output(Command::new("dpkg-query").args(["-W", "-f=${Status}", pkg]))
        .map(|s| s.contains("install ok installed"))
        .unwrap_or(false)
}

/// Installs missing packages, bpf-linker and the fuzzing tools. Idempotent; prints what it
/// did.
pub fn setup() -> Result<()> {
    let missing: Vec<&str> = PACKAGES
        .iter()
        .filter(|(p, _)| !installed(p))
        .map(|(p, _)| *p)
        .collect();
    if missing.is_empty() {
        eprintln!("setup: all {} Debian packages present", PACKAGES.len());
    } else {
        for (p, why) in PACKAGES.iter().filter(|(p, _)| missing.contains(p)) {
            eprintln!("setup: installing {p} ({why})");
        }
        if !is_root() {
            bail!(
                "setup needs root to install Debian packages: run `sudo apt-get install {}`",
                missing.join(" ")
            );
        }
        run(Command::new("apt-get").args(["update", "-qq"]))?;
        run(Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing))?;
    }
    if bpf_linker_ok() {
        eprintln!("setup: bpf-linker present");
    } else {
        eprintln!("setup: installing bpf-linker (LLVM 22; about a minute)");
        run(Command::new("cargo")
            .env("LLVM_PREFIX", "/usr/lib/llvm-22")
            .args([
                "install",
                "bpf-linker",
                "--no-default-features",
                "--features",
                "llvm-22",
            ]))
        .context("failed to install bpf-linker")?;
    }
    fuzz_tools()
}

/// The rustup toolchain `cargo xtask fuzz` builds with: cargo-fuzz needs `-Z sanitizer`,
/// which only nightly compilers accept. The rest of the workspace stays on stable.
pub const FUZZ_TOOLCHAIN: &str = "nightly";

/// Installs what `cargo xtask fuzz` needs and only that: the nightly toolchain (rustup) and
/// cargo-fuzz (into ~/.cargo/bin, where later runs find it). Idempotent.
pub fn fuzz_tools() -> Result<()> {
    let nightly_ok = || {
        output(Command::new("rustup").args(["run", FUZZ_TOOLCHAIN, "rustc", "--version"])).is_ok()
    };
    if nightly_ok() {
        eprintln!("setup: {FUZZ_TOOLCHAIN} toolchain present");
    } else {
        eprintln!("setup: installing the {FUZZ_TOOLCHAIN} toolchain (cargo-fuzz needs it)");
        run(Command::new("rustup").args([
            "toolchain",
            "install",
            FUZZ_TOOLCHAIN,
            "--profile",
            "minimal",
        ]))
        .with_context(|| format!("failed to install the {FUZZ_TOOLCHAIN} toolchain"))?;
    }
    if output(Command::new("cargo").args(["fuzz", "--version"])).is_ok() {
        eprintln!("setup: cargo-fuzz present");
    } else {
        eprintln!("setup: installing cargo-fuzz (about two minutes)");
        run(Command::new("cargo").args(["install", "cargo-fuzz", "--locked"]))
            .context("failed to install cargo-fuzz")?;
    }
    Ok(())
}

fn bpf_linker_ok() -> bool {
    have("bpf-linker") && output(Command::new("bpf-linker").arg("--version")).is_ok()
}
