//! Text that reaches a gnuplot script: titles, axis labels, captions.
//!
//! Names come from traces, results and points files, which anyone can write, and gnuplot runs
//! every script kpath writes. The gnuplot crate writes each title, label and caption as a
//! double-quoted string after its own `escape`, which turns `\` into `\\`, `"` into `\"`,
//! `` ` `` into `` \` ``, newline into `\n` and tab into `\t`. What that leaves, checked by
//! experiment with gnuplot 5.4 patchlevel 4 (scripts run with `gnuplot FILE.gp`):
//!
//! - **Backquotes.** Inside a double-quoted string an unescaped `` `cmd` `` *is* replaced by
//!   the output of `cmd`: `print "a `echo X` b"` prints `a X b`. The crate's `` \` `` is not
//!   substituted, whatever precedes it (`\\\``, a `'` or a `\"` earlier on the line), and a
//!   backquote inside a `#` comment is not substituted either. Safe, as long as the text goes
//!   through the crate's `escape` (see the positions below).
//! - **`@` macros.** Not expanded inside double- or single-quoted strings, and the expander
//!   knows `\"` does not end a string and `'` does not start one inside `"…"`:
//!   `print "a \" b ' c", "@x"` prints `@x`. Nor expanded in comments. Safe.
//! - **Backslash escapes** (`\101`, `\n`, ...) are interpreted in double-quoted strings, but
//!   the crate doubles every backslash first. Safe.
//! - **Control characters other than newline and tab** are *not* escaped by the crate. A NUL
//!   ends the line for gnuplot (the rest of the line, the closing quote and any later plot
//!   element on it, is lost); carriage return and escape sequences pass into the image.
//!   [`text`] replaces them (and newline and tab, so a title stays one line) by U+FFFD.
//! - **Enhanced text** (`_ ^ { } @ & ~`) would typeset `__udp4_lib_rcv` with subscripts:
//!   [`crate::FigureFile`] turns it off (`set termoption noenhanced`).
//! - **Positions the crate does not escape at all:** font names (`Font`), tick formats
//!   (`Format`), custom tick labels, colour strings (`RGBString`), the terminal and the pre-
//!   and post-commands. Text from files must never go there; only constants do. As a last
//!   line of defence [`crate::FigureFile`] refuses a script with an unescaped backquote or a
//!   control character before gnuplot sees it.
//! - **Comments.** A `#` comment whose line ends with `\` continues onto the next line, which
//!   gnuplot then skips: file text is never written into a comment.
//!
//! `plot/tests/text.rs` repeats these checks with the installed gnuplot.

/// `s` ready to be handed to the gnuplot crate as a title, axis label, caption or legend
/// title: every control character (newline, carriage return, tab, NUL, escape, ...) replaced
/// by U+FFFD. Everything else is left to the crate's `escape` (see the module documentation
/// for why that suffices, and for the positions where it does not).
pub fn text(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}

/// The crate's (private) `util::escape`, as it writes strings into scripts: used to find the
/// data directory's path in an echoed script.
pub(crate) fn crate_escape(s: &str) -> String {
    let mut res = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => res.push_str(r"\\"),
            '\n' => res.push_str(r"\n"),
            '\t' => res.push_str(r"\t"),
            '"' => res.push_str(r#"\""#),
            '`' => res.push_str(r"\`"),
            c => res.push(c),
        }
    }
    res
}

/// Why `script` must not be run, if it must not: a control character other than a newline,
/// or a backquote not escaped by a backslash (gnuplot would run the command it encloses).
pub(crate) fn unsafe_script(script: &str) -> Option<String> {
    let mut chars = script.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                // Whatever follows is escaped (inside a string; the crate writes no
                // backslash outside one).
                if let Some(next) = chars.next() {
                    if next.is_control() && next != '\n' {
                        return Some(format!("control character U+{:04X}", u32::from(next)));
                    }
                }
            }
            '`' => return Some("an unescaped backquote (command substitution)".into()),
            c if c.is_control() && c != '\n' => {
                return Some(format!("control character U+{:04X}", u32::from(c)));
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_replaced_and_the_rest_kept() {
        assert_eq!(
            text("a\nb\rc\td\0e\u{1b}[1mf"),
            "a\u{FFFD}b\u{FFFD}c\u{FFFD}d\u{FFFD}e\u{FFFD}[1mf"
        );
        let kept = "__udp4_lib_rcv `x` @m \"q\" 'q' \\ ρ {}^&";
        assert_eq!(text(kept), kept);
    }

    #[test]
    fn scripts_with_raw_backquotes_or_control_characters_are_refused() {
        assert_eq!(unsafe_script("set title \"a \\` b\"\nplot x\n"), None);
        assert_eq!(unsafe_script("set title \"a \\\\\\` b\"\n"), None);
        assert!(unsafe_script("set title \"a ` b\"\n").is_some());
        assert!(unsafe_script("set title \"a \\\\` b\"\n").is_some());
        assert!(unsafe_script("set title \"a\rb\"\n").is_some());
        assert!(unsafe_script("set title \"a\\\0b\"\n").is_some());
        assert_eq!(crate_escape("a\\b\"c`d\ne\tf"), "a\\\\b\\\"c\\`d\\ne\\tf");
    }
}
