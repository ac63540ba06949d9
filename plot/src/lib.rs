//! kpath's one plotting module. Every figure of `kpath plot`, `kpath html` and
//! `kpath-stand sweep` is built with the [`gnuplot`] crate (re-exported here, so both use the
//! same version) and written by [`FigureFile`]:
//!
//! - `NAME.gp`, the script the crate echoes, with its data paths made relative;
//! - `NAME.data/`, the crate's binary data files, which that script reads;
//! - `NAME.dat`, optionally, the same numbers as text for people;
//! - `NAME.png` or `NAME.svg`, drawn by running `gnuplot NAME.gp` in the output directory.
//!
//! So a figure can be restyled and redrawn by hand, in place or in a copy of the directory.
//! Where the crate falls short (paths relative to the process, `unwrap` on file creation,
//! text it does not neutralise, files owned by root under `sudo`), [`FigureFile`] wraps it;
//! [`text`] is the sanitiser every title, label and caption goes through first.
//!
//! ```no_run
//! use kpath_plot::gnuplot::{AxesCommon, Caption};
//! use kpath_plot::{text, FigureFile, ImageFormat};
//! let mut f = FigureFile::new("example", ImageFormat::Png, 900, 560)?;
//! f.axes2d()
//!     .set_title(&text("a title from a file"), &[])
//!     .lines([1.0, 2.0], [3.0, 4.0], &[Caption(&text("a caption"))]);
//! let drawn = f.write("plots".as_ref(), &kpath_cli::Output::new(false))?;
//! println!("{}", drawn.image.display());
//! # Ok::<(), kpath_plot::Error>(())
//! ```
#![deny(missing_docs)]

mod error;
mod figure;
mod run;
mod text;

pub use error::{Error, Result};
pub use figure::{Drawn, FigureFile, ImageFormat};
pub use gnuplot;
pub use run::{gnuplot_available, gnuplot_program, run_gnuplot};
pub use text::text;
