//! Embeds the eBPF object built by `cargo xtask build-ebpf` into `kpath-probe`.
//!
//! The eBPF build needs its own toolchain (BPF target, Debian's rustc, bpf-linker), so it is
//! not run from here: this script only copies the object if it exists. Without it, the binary
//! still builds and says how to get a working one when run.

use std::{env, fs, path::PathBuf};

fn main() {
    println!("cargo:rerun-if-env-changed=KPATH_EBPF_OBJECT");
    let object = env::var_os("KPATH_EBPF_OBJECT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
            manifest.join("../target/ebpf/bpfel-unknown-none/release/probe-ebpf")
        });
    println!("cargo:rerun-if-changed={}", object.display());
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default()).join("probe-ebpf.o");
    let bytes = fs::read(&object).unwrap_or_default();
    if let Err(e) = fs::write(&out, bytes) {
        println!("cargo:warning=cannot write {}: {e}", out.display());
    }
}
