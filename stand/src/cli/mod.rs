//! The subcommands of `kpath-stand`, one file each: their flags and the glue over the
//! `kpath_stand` library.

pub(crate) mod echo;
pub(crate) mod gen;
pub(crate) mod netns;
pub(crate) mod sweep;
