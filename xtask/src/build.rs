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
        // bpf-linker runs the final (LTO) optimisation, so inlining is tuned there: with its
        // default threshold it left aya-log's `Header::with_bytes` out of line, and a BPF
        // subprogram with a pointer argument is refused by kernels before ~6.6 ("reg type
        // unsupported for arg#0 function", seen on 6.1). `check_no_subprograms` guards it.
        .env(
            "RUSTFLAGS",
            "-C debuginfo=2 -C link-arg=--btf -C link-arg=--disable-expand-memcpy-in-order \
             -C link-arg=--llvm-args=-inline-threshold=10000",
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
    let object = ebpf_object();
    check_no_subprograms(&object)?;
    Ok(object)
}

/// Functions bpf-linker exports whether or not anything calls them.
const MEMORY_BUILTINS: [&str; 5] = ["memcpy", "memmove", "memset", "memcmp", "bcmp"];

/// Fails if the object's `.text` holds a function other than the unused memory builtins:
/// every helper must be inlined into its program, since kernels before ~6.6 refuse global
/// subprograms with pointer arguments (see `probe-ebpf/src/main.rs`). Checked here, on every
/// build, rather than only in the 6.1 VM of the kernel matrix.
fn check_no_subprograms(object: &std::path::Path) -> Result<()> {
    let symbols = crate::util::output(
        Command::new("/usr/lib/llvm-22/bin/llvm-objdump")
            .arg("-t")
            .arg(object),
    )
    .context("failed to list the eBPF object's symbols")?;
    let subprograms: Vec<&str> = symbols
        .lines()
        .filter(|l| l.contains(" F .text"))
        .filter_map(|l| l.split_whitespace().last())
        .filter(|name| !MEMORY_BUILTINS.contains(name))
        .collect();
    if !subprograms.is_empty() {
        anyhow::bail!(
            "the eBPF object has out-of-line functions that kernels before 6.6 refuse: {}",
            subprograms.join(", ")
        );
    }
    Ok(())
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
