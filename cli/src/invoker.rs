//! The user on whose behalf the tool runs.
//!
//! `sudo kpath-probe record -o run.trace` runs as root, but the trace is the invoking user's
//! work: they must be able to move, analyse and delete it without `sudo`. `sudo` records that
//! user in `SUDO_UID` and `SUDO_GID`; files and directories the tools create are handed to
//! them (see [`crate::output`]).

/// Whether the process runs with an effective user id of 0.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A user and group id to give created files to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Invoker {
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

impl Invoker {
    /// The user who ran `sudo`, when this process runs as root under `sudo`; `None` when it
    /// does not (files then keep the process's own owner, as any program's do).
    ///
    /// `SUDO_UID` and `SUDO_GID` are trusted only when the process is root: only root can hand
    /// a file to another user, and a root process's environment is root's own to set.
    pub fn from_sudo() -> Option<Self> {
        if !is_root() {
            return None;
        }
        Self::from_vars(
            std::env::var("SUDO_UID").ok().as_deref(),
            std::env::var("SUDO_GID").ok().as_deref(),
        )
    }

    /// Both ids parsed as decimal numbers, or `None` if either is missing or malformed.
    pub fn from_vars(uid: Option<&str>, gid: Option<&str>) -> Option<Self> {
        Some(Self {
            uid: uid?.trim().parse().ok()?,
            gid: gid?.trim().parse().ok()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sudo_variables_are_parsed_or_ignored() {
        assert_eq!(
            Invoker::from_vars(Some("1000"), Some("100")),
            Some(Invoker {
                uid: 1000,
                gid: 100
            })
        );
        assert_eq!(Invoker::from_vars(Some("1000"), None), None);
        assert_eq!(Invoker::from_vars(Some("-1"), Some("100")), None);
        assert_eq!(Invoker::from_vars(Some("1000; rm"), Some("100")), None);
        assert_eq!(Invoker::from_vars(Some("99999999999"), Some("1")), None);
    }
}
