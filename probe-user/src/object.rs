//! The eBPF object embedded at build time (see `build.rs`).

use crate::ProbeError;

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/probe-ebpf.o"));

/// The embedded eBPF object, or an error saying how to build a binary that has it.
pub fn ebpf_object() -> Result<&'static [u8], ProbeError> {
    if OBJECT.is_empty() {
        Err(ProbeError::NoEbpfObject)
    } else {
        Ok(OBJECT)
    }
}
