//! Offline analysis of kpath traces (methodology steps 3–8): call trees, per-function,
//! per-level, per-chain and per-stage statistics, the queueing projection, reports, plots,
//! folded stacks and exports.
//!
//! The usual entry points:
//!
//! * [`analyze_file`] → [`Results`] (what `kpath analyze` writes as `results.json`);
//! * [`queueing::project`] → [`ModelOutput`] (`kpath model`);
//! * `plot::plot_results` → PNG/SVG files plus their gnuplot scripts and data (`kpath plot`);
//! * [`html::write_report`] → `index.html` and `summary.md`, the readable report (`kpath html`);
//! * `report` renders results as text, JSON or CSV; `fold` and `export` stream calls;
//! * [`Selection`] narrows any of them to some invocations (`--pid`, `--cpu`, `--from`, …);
//! * [`validation::build`] / [`validation::load_points`] → the measured validation of the
//!   projection (`Results::validation`);
//! * [`kernel_stats`] reads stats-mode traces (`kpath-probe record --mode stats`: per-function
//!   sums aggregated in the kernel, no records) into `Results::kernel_stats`;
//! * `synth` writes synthetic traces with known distributions, for tests and benchmarks.
//!
//! ```no_run
//! use kpath_analysis::{analyze_file, AnalysisOptions};
//! let results = analyze_file("kpath.trace".as_ref(), &AnalysisOptions::default())?;
//! if let Some(service) = &results.service {
//!     println!("T = {} ns", service.mean);
//! }
//! # Ok::<(), kpath_analysis::Error>(())
//! ```
#![deny(missing_docs)]

pub mod analyze;
pub mod calltree;
pub mod chain;
pub mod demand;
mod error;
pub mod export;
pub mod fold;
pub mod html;
pub mod kernel_stats;
pub mod pathtimes;
pub mod plot;
pub mod queueing;
pub mod reorder;
pub mod report;
pub mod results;
pub mod selection;
pub mod shapes;
pub mod stage;
pub mod stats;
pub mod synth;
pub mod util;
pub mod validation;

pub use analyze::{analyze_file, analyze_reader, AnalysisOptions, Analyzer};
pub use error::{Error, Result};
pub use queueing::ModelOutput;
pub use results::{Clock, Filter, Results};
pub use selection::Selection;
pub use stage::{Stage, StageClassifier};
