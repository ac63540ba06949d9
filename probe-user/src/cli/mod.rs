//! The subcommands of `kpath-probe`, one per file: their arguments and what they print. The
//! work is in the `kpath_probe` library.

pub mod calibrate;
pub mod check;
pub mod discover;
pub mod list;
pub mod record;
pub mod select;

pub(crate) use calibrate::{run_calibrate, CalibrateArgs};
pub(crate) use check::{run_check, CheckArgs};
pub(crate) use discover::{run_discover, DiscoverArgs};
pub(crate) use list::run_list;
pub(crate) use record::{run_record, RecordArgs};
pub(crate) use select::SelectArgs;
