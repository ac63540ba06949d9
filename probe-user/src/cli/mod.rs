//! The subcommands of `kpath-probe`, one per file: their arguments and what they print. The
//! work is in the `kpath_probe` library.

pub mod bare_timing;
pub mod calibrate;
pub mod check;
pub mod discover;
pub mod list;
pub mod record;
pub mod select;

pub(crate) use bare_timing::{run_bare_timing, BareTimingArgs};
pub(crate) use calibrate::{run_calibrate, CalibrateArgs};
pub(crate) use check::{run_check, CheckArgs};
pub(crate) use discover::{run_discover, DiscoverArgs};
pub(crate) use list::run_list;
pub(crate) use record::{run_record, RecordArgs};
pub(crate) use select::SelectArgs;

/// `text` in lines of at most `width` characters, broken at spaces (a longer word stays
/// whole on its own line).
pub(crate) fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn wraps_at_spaces_within_the_width() {
        let text = "failed to load program `kpath_fentry_entry` for udp_rcv: the verifier said no";
        let lines = wrap(text, 30);
        assert!(lines.iter().all(|l| l.chars().count() <= 30), "{lines:?}");
        assert_eq!(lines.join(" "), text);
        assert_eq!(wrap("", 10), Vec::<String>::new());
    }
}
