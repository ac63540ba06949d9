//! [`FigureFile`]: a `gnuplot::Figure` written as `NAME.gp` + `NAME.data/` and drawn into
//! `NAME.png` (or `.svg`) by running gnuplot on that very script.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use gnuplot::{Axes2D, Figure};
use kpath_cli::Output;

use crate::error::{Error, Result};
use crate::run::run_gnuplot;
use crate::text::{crate_escape, unsafe_script};

/// Image format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ImageFormat {
    /// PNG via gnuplot's `pngcairo` terminal.
    #[default]
    Png,
    /// SVG via gnuplot's `svg` terminal.
    Svg,
}

impl ImageFormat {
    /// File extension.
    pub const fn ext(self) -> &'static str {
        match self {
            ImageFormat::Png => "png",
            ImageFormat::Svg => "svg",
        }
    }

    /// The `set terminal` arguments for an image of `width` × `height` pixels.
    fn terminal(self, width: u32, height: u32) -> String {
        let t = match self {
            ImageFormat::Png => "pngcairo",
            ImageFormat::Svg => "svg",
        };
        format!("{t} size {width},{height} font 'sans,10'")
    }
}

/// The files of one drawn figure, all in the directory given to [`FigureFile::write`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Drawn {
    /// The image, `NAME.png` or `NAME.svg`.
    pub image: PathBuf,
    /// The gnuplot script that drew it, `NAME.gp`.
    pub script: PathBuf,
    /// The data the script reads, `NAME.data/` (the gnuplot crate's binary files).
    pub data_dir: PathBuf,
    /// The same data as text for people, `NAME.dat`, when one was given
    /// ([`FigureFile::set_text_data`]).
    pub text_data: Option<PathBuf>,
}

/// A figure built with the gnuplot crate and written so that it can be re-run by hand:
/// `gnuplot NAME.gp` in the output directory, or in a copy of it, redraws the image.
///
/// What it adds to the crate (which it wraps rather than replaces):
///
/// - **Re-runnable scripts.** The crate writes its data files into a directory given by path
///   and names them in the script by that same path, relative to the process's working
///   directory. Here the crate gets the absolute path of `NAME.data`, made fresh for this
///   figure ([`Output::create_fresh_dir`]: refused if it exists, replaced without following
///   links with `--force`); the figure is echoed into memory, and the absolute prefix is
///   rewritten to `NAME.data/` before `NAME.gp` is written through [`Output`]. gnuplot then
///   runs with the output directory as its working directory.
/// - **No panics.** The crate unwraps the creation of its data files; a panic there is
///   caught and returned as [`Error::CratePanic`]. `echo_to_file` and `show*` (which follow
///   links, unwrap, or run gnuplot through a pipe) are not used.
/// - **Text.** Enhanced text is off (`set termoption noenhanced`), so `__udp4_lib_rcv` prints
///   as it is; every title, label and caption must come through [`crate::text`]. A script
///   with a raw backquote or control character is refused before gnuplot runs
///   ([`Error::Script`]).
/// - **Ownership.** The crate's data files get the owner [`Output`]'s files get (the sudo
///   user, [`Output::hand_over_tree`]).
pub struct FigureFile {
    name: String,
    format: ImageFormat,
    width: u32,
    height: u32,
    figure: Figure,
    text_data: Option<String>,
}

impl FigureFile {
    /// A figure to be written as `name.gp`, `name.data/` and `name.EXT`, drawn `width` ×
    /// `height` pixels. `name` is a file-name stem: ASCII letters, digits, `_`, `-` and `.`
    /// (not first).
    pub fn new(name: &str, format: ImageFormat, width: u32, height: u32) -> Result<Self> {
        let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
        if name.is_empty() || name.len() > 200 || name.starts_with('.') || !name.chars().all(plain)
        {
            return Err(Error::Name(name.into()));
        }
        let mut figure = Figure::new();
        figure.set_enhanced_text(false);
        Ok(Self {
            name: name.into(),
            format,
            width,
            height,
            figure,
            text_data: None,
        })
    }

    /// The figure's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The crate's figure: multiplot layout and title, enhanced text, ... Its terminal, output
    /// file, data directory and pre-commands are set by [`FigureFile::write`].
    pub fn figure(&mut self) -> &mut Figure {
        &mut self.figure
    }

    /// A new set of 2D axes (the crate's `Figure::axes2d`).
    pub fn axes2d(&mut self) -> &mut Axes2D {
        self.figure.axes2d()
    }

    /// Text written as `NAME.dat` beside the script: the figure's numbers as whitespace-
    /// separated columns with a `#` header, for people and other tools (the script does not
    /// read it). Its content is the caller's: lines from files must be sanitised ([`crate::text`]).
    pub fn set_text_data(&mut self, text: impl Into<String>) -> &mut Self {
        self.text_data = Some(text.into());
        self
    }

    /// Writes `NAME.dat` (if set), `NAME.data/`, `NAME.gp` into `dir` (which must exist),
    /// files created as `out` says, then draws `NAME.EXT` by running gnuplot on `NAME.gp` with
    /// `dir` as its working directory.
    pub fn write(mut self, dir: &Path, out: &Output) -> Result<Drawn> {
        let name = self.name.clone();
        let image_name = format!("{name}.{}", self.format.ext());
        let image = dir.join(&image_name);
        let script = dir.join(format!("{name}.gp"));
        let data_rel = format!("{name}.data");
        let data_dir = dir.join(&data_rel);

        let text_data = match self.text_data.take() {
            Some(text) => {
                let path = dir.join(format!("{name}.dat"));
                out.write(&path, text)?;
                Some(path)
            }
            None => None,
        };

        out.create_fresh_dir(&data_dir)?;
        let absolute = std::path::absolute(&data_dir).map_err(|source| Error::Absolute {
            path: data_dir.clone(),
            source,
        })?;
        let absolute = absolute
            .to_str()
            .ok_or_else(|| Error::NotUtf8(absolute.clone()))?
            .to_owned();
        self.figure
            .set_data_directory(Some(absolute.clone()))
            .set_terminal(&self.format.terminal(self.width, self.height), &image_name)
            .set_pre_commands(&header(&name, &image_name, text_data.is_some()));

        let mut bytes: Vec<u8> = Vec::new();
        let echoed = catch_unwind(AssertUnwindSafe(|| {
            self.figure.echo(&mut bytes);
        }));
        // What the crate wrote belongs to the sudo user, even when it stopped half-way.
        let handed = out.hand_over_tree(&data_dir);
        if let Err(payload) = echoed {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".into());
            return Err(Error::CratePanic {
                name,
                dir: data_dir,
                message,
            });
        }
        handed?;

        let text = String::from_utf8(bytes).map_err(|_| Error::Script {
            script: script.clone(),
            reason: "not UTF-8".into(),
        })?;
        let text = relativise(&text, &absolute, &data_rel).map_err(|reason| Error::Script {
            script: script.clone(),
            reason,
        })?;
        if let Some(reason) = unsafe_script(&text) {
            return Err(Error::Script { script, reason });
        }
        if !text
            .lines()
            .any(|l| l.starts_with("plot ") && l.trim_end() != "plot")
            || text.lines().any(|l| l.trim_end() == "plot")
        {
            return Err(Error::Empty { script });
        }
        out.write(&script, text)?;
        // gnuplot opens `set output` itself, following links: it gets a file of ours.
        out.reserve(&image)?;
        run_gnuplot(dir, &script)?;
        Ok(Drawn {
            image,
            script,
            data_dir,
            text_data,
        })
    }
}

/// The script's opening comment: what reads what. Only the (plain) name goes in; text from
/// files never does (a comment line ending in `\` would swallow the next line).
fn header(name: &str, image: &str, text_data: bool) -> String {
    let dat = if text_data {
        format!(
            "\n# {name}.dat holds the same numbers as text, for people and other tools; this script\n\
             # does not read it."
        )
    } else {
        String::new()
    };
    format!(
        "# kpath figure {name}: gnuplot {name}.gp, run in this directory, draws {image}.\n\
         # It reads its data from {name}.data/ (written by kpath with the gnuplot crate: A/E.bin\n\
         # holds the columns of plot element E of axes A, little-endian float64, row by row).\n\
         # Paths are relative: a copy of this directory redraws the same figure.{dat}"
    )
}

/// `script` with every data path under `absolute` (as the crate escapes it, quoted) made
/// relative (`relative/…`), or why not.
fn relativise(script: &str, absolute: &str, relative: &str) -> Result<String, String> {
    let escaped = crate_escape(absolute);
    let needle = format!("\"{escaped}/");
    let text = script.replace(&needle, &format!("\"{relative}/"));
    if text.contains(&escaped) {
        return Err(format!(
            "the data directory's absolute path {absolute} is still in it after the data paths were made relative"
        ));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_plain_stems() {
        for ok in ["depth", "density_rx_udp_rcv", "sweep-busy2.5us"] {
            assert!(
                FigureFile::new(ok, ImageFormat::Png, 10, 10).is_ok(),
                "{ok}"
            );
        }
        for bad in ["", ".hidden", "a/b", "../x", "a b", "a\nb", "é"] {
            assert!(
                matches!(
                    FigureFile::new(bad, ImageFormat::Png, 10, 10),
                    Err(Error::Name(_))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn data_paths_become_relative_and_leftovers_are_refused() {
        let abs = "/tmp/we \"ird\"/x.data";
        let script = format!(
            "plot \"{e}/0/0.bin\" binary endian=little record=3 format=\"%float64\" using 1:2 with lines t \"a\",\"{e}/0/1.bin\" binary",
            e = crate_escape(abs)
        );
        let rel = relativise(&script, abs, "x.data").expect("relative");
        assert!(rel.contains("plot \"x.data/0/0.bin\" binary"), "{rel}");
        assert!(rel.contains(",\"x.data/0/1.bin\" binary"), "{rel}");
        assert!(!rel.contains("/tmp/"), "{rel}");
        let titled = format!("set title \"{}\"\n{script}", crate_escape(abs));
        assert!(relativise(&titled, abs, "x.data").is_err());
    }
}
