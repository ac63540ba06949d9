//! kpath's recorder: load the embedded eBPF object, attach probes, drain events to a trace.
