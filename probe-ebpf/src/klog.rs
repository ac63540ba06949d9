//! `klog!`: aya-log messages that never wake the reader.
//!
//! aya-log-ebpf 0.2's macros submit each message with flags 0, an adaptive notification that
//! wakes the reader (an irq_work self-IPI) whenever it had caught up: one wake-up per message
//! inside the interval being timed (see `wakeup.rs`). This macro writes the very same record
//! into the same `AYA_LOGS` ring (so `aya_log::EbpfLogger` reads it unchanged) but submits it
//! with `BPF_RB_NO_WAKEUP`; the recorder drains the log ring on its timer. The body follows
//! `aya-log-ebpf-macros-0.2.0/src/expand.rs`: a header, then one field per literal fragment
//! and, per `{value}`, a display hint and the value.
//!
//! Usage: `klog!(Level::Debug, "kpath: function ", {func_id}, " deeper than ", {max})`.

/// Logs at `$level` (an `aya_log_ebpf::macro_support::Level`) when the loader's
/// `AYA_LOG_LEVEL` allows it: 0 (the default without `-v`) compiles every message to one
/// load and a branch.
///
/// A labelled block rather than aya's `(|| { ... })()`: LLVM did not inline those closures
/// here, and a non-inlined function is emitted as a global subprogram with a pointer argument,
/// which kernels before ~6.6 refuse ("reg type unsupported for arg#0 function", seen on 6.1).
macro_rules! klog {
    ($level:expr, $($part:tt),+ $(,)?) => {{
        let level = $level;
        if ::aya_log_ebpf::macro_support::level_enabled(level) {
            'klog: {
                use ::aya_log_ebpf::macro_support::{Argument, Field, Header, LogValueLength, AYA_LOGS};
                let num_args: u32 = 0 $(+ klog!(@count $part))+;
                let Some(header) = Header::new(
                    module_path!(),
                    level,
                    module_path!(),
                    file!(),
                    line!(),
                    num_args,
                ) else {
                    break 'klog;
                };
                let mut size = size_of::<LogValueLength>();
                {
                    let mut op = |slice: &[u8]| {
                        size += slice.len();
                        Some(())
                    };
                    if header.with_bytes(&mut op).is_none() {
                        break 'klog;
                    }
                    $( if !klog!(@field op, $part) { break 'klog; } )+
                }
                let Ok(size) = LogValueLength::try_from(size) else {
                    break 'klog;
                };
                let size = core::hint::black_box(size);
                let mut capacity = 64;
                while capacity < size {
                    capacity <<= 1;
                    if capacity > 8192 {
                        break 'klog;
                    }
                }
                // `black_box` as in aya's macro, which keeps LLVM from folding the
                // reservation's size into forms the verifier cannot follow.
                let Some(mut buf) = core::hint::black_box(AYA_LOGS.reserve_bytes(capacity.into(), 0))
                else {
                    break 'klog;
                };
                let mut written = true;
                {
                    let mut pos = 0;
                    let mut op = |slice: &[u8]| {
                        let b = buf.get_mut(pos..)?;
                        let b = b.get_mut(..slice.len())?;
                        b.copy_from_slice(slice);
                        pos += slice.len();
                        Some(())
                    };
                    written &= op(size.to_ne_bytes().as_ref()).is_some();
                    written &= header.with_bytes(&mut op).is_some();
                    $( written &= klog!(@field op, $part); )+
                }
                if written {
                    buf.submit($crate::wakeup::LOG_SUBMIT_FLAGS);
                } else {
                    buf.discard($crate::wakeup::LOG_SUBMIT_FLAGS);
                }
            }
        }
    }};
    // A `{value}` is two fields (hint, value); a literal is one.
    (@count {$v:expr}) => { 2 };
    (@count $lit:literal) => { 1 };
    // Whether the field(s) went through `$op`.
    (@field $op:ident, {$v:expr}) => {{
        let (hint_kind, hint) = ::aya_log_ebpf::macro_support::DisplayHint::Default.as_argument();
        let v = $v;
        let _: &dyn ::aya_log_ebpf::macro_support::DefaultFormatter = &v;
        let (kind, value) = v.as_argument();
        matches!(Field::new(hint_kind, hint).map(|f| f.with_bytes(&mut $op)), Some(Some(())))
            && matches!(Field::new(kind, value).map(|f| f.with_bytes(&mut $op)), Some(Some(())))
    }};
    (@field $op:ident, $lit:literal) => {{
        let (kind, value) = $lit.as_argument();
        matches!(Field::new(kind, value).map(|f| f.with_bytes(&mut $op)), Some(Some(())))
    }};
}
