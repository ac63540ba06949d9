//! Building the eBPF object (its own toolchain) and the user-space binaries that embed it.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result};

use crate::util::{run, workspace_root};

/// Debian's compiler with library source; the rustup toolchains here lack `rust-src`.
const EBPF_RUSTC: &str = "/usr/bin/rustc";
const EBPF_CARGO: &str = "/usr/bin/cargo";

/// Where `build_ebpf` leaves the object (also `probe-user/build.rs`'s default).
pub fn ebpf_object() -> PathBuf {
    workspace_root().join("target/ebpf/bpfel-unknown-none/release/probe-ebpf")
}

fn ebpf_cargo(subcommand: &str) -> Command {
    let mut cmd = Command::new(EBPF_CARGO);
    cmd.current_dir(workspace_root())
        // Debian's cargo finds Debian's cargo-clippy first.
        .env(
            "PATH",
            format!("/usr/bin:{}", std::env::var("PATH").unwrap_or_default()),
        )
        .env("RUSTC", EBPF_RUSTC)
        .env_remove("RUSTC_WRAPPER")
        .env_remove("RUSTUP_TOOLCHAIN")
        .env("RUSTC_BOOTSTRAP", "1")
        .env(
            "RUSTFLAGS",
            "-C debuginfo=2 -C link-arg=--btf -C link-arg=--disable-expand-memcpy-in-order",
        )
        .args([
            subcommand,
            "-p",
            "probe-ebpf",
            "--release",
            "--target",
            "bpfel-unknown-none",
        ])
        .args(["-Z", "build-std=core", "--target-dir", "target/ebpf"]);
    if subcommand == "clippy" {
        cmd.env("CLIPPY_DRIVER", "/usr/bin/clippy-driver");
    }
    cmd
}

/// Builds `probe-ebpf` for the BPF target with BTF.
pub fn build_ebpf() -> Result<PathBuf> {
    run(&mut ebpf_cargo("build")).context("failed to build the eBPF object")?;
    Ok(ebpf_object())
}

/// Clippy on the eBPF crate, with warnings as errors.
pub fn clippy_ebpf() -> Result<()> {
    run(ebpf_cargo("clippy").args(["--", "-D", "warnings"]))
        .context("clippy found problems in probe-ebpf")
}

/// Builds the eBPF object, then the user-space binaries (release) that embed it.
pub fn build() -> Result<()> {
    // probe-user/build.rs embeds the object from its default path, where build_ebpf put it.
    build_ebpf()?;
    run(Command::new("cargo")
        .current_dir(workspace_root())
        .args(["build", "--release", "--bins"]))
    .context("failed to build the binaries")
}
