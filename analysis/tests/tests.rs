//! Integration tests of `kpath-analysis`: hand-built traces with exact answers, golden text,
//! model formulas, numerics, plots, the HTML report and the CLI.

#[macro_use]
mod macros;
mod util;

pub mod calltree;
mod cli;
mod export;
mod html;
mod kernel_stats;
mod model;
mod numerics;
mod order;
mod plot;
mod selection;
mod synthetic;
