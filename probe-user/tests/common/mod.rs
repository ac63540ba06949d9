//! What every eBPF integration test checks first.

use kpath_probe::kernel;

/// Returns false (and says why) when this host cannot run the test.
pub fn can_run(test: &str) -> bool {
    if !kernel::is_root() {
        eprintln!("SKIP {test}: needs root to load BPF programs");
        return false;
    }
    if let Err(e) = kpath_probe::object::ebpf_object() {
        if std::env::var_os("KPATH_REQUIRE_EBPF").is_some() {
            panic!("{test}: {e}");
        }
        eprintln!("SKIP {test}: {e}");
        return false;
    }
    true
}
