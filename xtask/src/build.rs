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
    check_read_only_helpers(&object)?;
    check_program_names(&object)?;
    Ok(object)
}

/// The kernel helpers kpath's eBPF programs may call, by number (`include/uapi/linux/bpf.h`).
/// None writes to kernel or user memory, changes a return value or signals a task: the
/// programs read clocks, ids and kernel memory, and write only into kpath's own maps and
/// ring buffers. `docs/security.md` quotes this list.
pub const READ_ONLY_HELPERS: [(u32, &str); 15] = [
    (1, "map_lookup_elem"),
    (2, "map_update_elem"),
    (3, "map_delete_elem"),
    (5, "ktime_get_ns"),
    (8, "get_smp_processor_id"),
    (14, "get_current_pid_tgid"),
    (16, "get_current_comm"),
    (113, "probe_read_kernel"),
    (130, "ringbuf_output"),
    (131, "ringbuf_reserve"),
    (132, "ringbuf_submit"),
    (133, "ringbuf_discard"),
    (134, "ringbuf_query"),
    (173, "get_func_ip"),
    (125, "ktime_get_boot_ns"),
];

/// Fails if any program calls a helper outside [`READ_ONLY_HELPERS`] (`bpf_probe_write_user`,
/// `bpf_override_return`, `bpf_send_signal`, ...): the programs only read, and this keeps
/// them so on every build. Helper calls are the only way a BPF program affects anything
/// outside its own stack and maps, so the disassembly's `call N` instructions are the whole
/// list (the object has no BPF-to-BPF calls: [`check_no_subprograms`]).
fn check_read_only_helpers(object: &std::path::Path) -> Result<()> {
    let listing = crate::util::output(
        Command::new("/usr/lib/llvm-22/bin/llvm-objdump")
            .arg("-d")
            .arg(object),
    )
    .context("failed to disassemble the eBPF object")?;
    let refused = helpers_outside_the_list(&listing)?;
    if !refused.is_empty() {
        anyhow::bail!(
            "the eBPF programs call helpers outside the read-only list (xtask/src/build.rs): call {}",
            refused.join(", call ")
        );
    }
    Ok(())
}

/// The `call` operands of an `llvm-objdump -d` listing that are not in
/// [`READ_ONLY_HELPERS`]; an error if the listing has no call at all (an unexpected format
/// must not pass as "nothing refused").
fn helpers_outside_the_list(listing: &str) -> Result<Vec<String>> {
    let mut refused = std::collections::BTreeSet::new();
    let mut calls = 0usize;
    for operand in listing
        .lines()
        .filter_map(|l| l.split_once("\tcall ").map(|(_, op)| op.trim()))
    {
        calls += 1;
        let id = match operand.strip_prefix("0x") {
            Some(hex) => u32::from_str_radix(hex, 16).ok(),
            None => operand.parse().ok(),
        };
        if !id.is_some_and(|id| READ_ONLY_HELPERS.iter().any(|&(h, _)| h == id)) {
            refused.insert(operand.to_string());
        }
    }
    if calls == 0 {
        anyhow::bail!(
            "found no helper call in the eBPF object's disassembly: is llvm-objdump's format unexpected?"
        );
    }
    Ok(refused.into_iter().collect())
}

/// The symbol table of the eBPF object, as `llvm-objdump -t` prints it.
fn object_symbols(object: &std::path::Path) -> Result<String> {
    crate::util::output(
        Command::new("/usr/lib/llvm-22/bin/llvm-objdump")
            .arg("-t")
            .arg(object),
    )
    .context("failed to list the eBPF object's symbols")
}

/// Functions bpf-linker exports whether or not anything calls them.
const MEMORY_BUILTINS: [&str; 5] = ["memcpy", "memmove", "memset", "memcmp", "bcmp"];

/// Fails if the object's `.text` holds a function other than the unused memory builtins:
/// every helper must be inlined into its program, since kernels before ~6.6 refuse global
/// subprograms with pointer arguments (see `probe-ebpf/src/main.rs`). Checked here, on every
/// build, rather than only in the 6.1 VM of the kernel matrix.
fn check_no_subprograms(object: &std::path::Path) -> Result<()> {
    let symbols = object_symbols(object)?;
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

/// Fails unless the object holds every program user space attaches by name
/// (`probe_common::program`): a renamed program fails the build, not the first attach.
fn check_program_names(object: &std::path::Path) -> Result<()> {
    let symbols = object_symbols(object)?;
    let missing = missing_programs(&symbols);
    if !missing.is_empty() {
        anyhow::bail!(
            "the eBPF object lacks programs that probe-common names: {}",
            missing.join(", ")
        );
    }
    Ok(())
}

/// The names of `probe_common::program` that no function symbol of `llvm-objdump -t` has.
fn missing_programs(symbols: &str) -> Vec<&'static str> {
    use probe_common::program;
    let have: std::collections::BTreeSet<&str> = symbols
        .lines()
        .filter(|l| l.contains(" F "))
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    let stages = probe_common::stage::TpStage::ALL.into_iter().flat_map(|s| {
        let (enter, exit) = program::stage_programs(s);
        [enter, exit]
    });
    program::ALL
        .into_iter()
        .chain(stages)
        .filter(|name| !have.contains(name))
        .collect()
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

#[cfg(test)]
mod tests {
    use super::{helpers_outside_the_list, missing_programs};

    /// A listing that lacks one program is caught, and one with all of them passes.
    #[test]
    fn renamed_programs_are_caught() {
        let line =
            |name: &str| format!("0000000000000000 g     F kprobe\t0000000000000010 {name}\n");
        let stages = probe_common::stage::TpStage::ALL.into_iter().flat_map(|s| {
            let (a, b) = probe_common::program::stage_programs(s);
            [a, b]
        });
        let all: Vec<&str> = probe_common::program::ALL
            .into_iter()
            .chain(stages)
            .collect();
        let full: String = all.iter().map(|n| line(n)).collect();
        assert!(missing_programs(&full).is_empty());
        let without: String = all
            .iter()
            .filter(|n| **n != probe_common::program::FEXIT)
            .map(|n| line(n))
            .collect();
        assert_eq!(missing_programs(&without), [probe_common::program::FEXIT]);
    }

    #[test]
    fn write_helpers_are_refused() {
        let ok =
            "   0:\t85 00 00 00 0e 00 00 00\tcall 0xe\n  12:\t85 00 00 00 83 00 00 00\tcall 0x83\n";
        assert!(helpers_outside_the_list(ok).expect("listing").is_empty());
        // bpf_probe_write_user (36 = 0x24) and bpf_override_return (58 = 0x3a).
        let bad = format!("{ok}  20:\t85 00 00 00 24 00 00 00\tcall 0x24\n  21:\t85 00 00 00 3a 00 00 00\tcall 0x3a\n");
        assert_eq!(
            helpers_outside_the_list(&bad).expect("listing"),
            vec!["0x24".to_string(), "0x3a".to_string()]
        );
        assert!(helpers_outside_the_list("no instructions here").is_err());
    }
}
