//! Offline analysis of kpath traces (methodology steps 3–8).
#![deny(missing_docs)]
