//! Rendering [`Results`] for people (text tables) and machines (JSON, CSV). Producing results
//! is decoupled from printing them: every format is a [`Report`].

use std::io::{self, Write};

use crate::results::Results;

pub mod csv;
pub mod json;
pub mod markdown;
pub mod tables;
pub mod text;

/// An output format for results.
pub trait Report {
    /// Writes `results` to `out`.
    fn write(&self, results: &Results, out: &mut dyn Write) -> io::Result<()>;
}

/// Formats a time with a precision that suits its size.
pub(crate) fn fmt_time(x: f64) -> String {
    let a = x.abs();
    if a == 0.0 {
        "0".into()
    } else if a >= 1e6 {
        format!("{x:.3e}")
    } else if a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 1.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.3}")
    }
}
