//! The whole results document as pretty JSON (`kpath report --json`, `kpath analyze`).

use std::io::{self, Write};

use super::Report;
use crate::results::Results;

/// Pretty-printed JSON of [`Results`].
pub struct Json;

impl Report for Json {
    fn write(&self, results: &Results, out: &mut dyn Write) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut *out, results).map_err(crate::util::json_io)?;
        writeln!(out)
    }
}
