//! Output files and directories, created so that neither a planted link nor a slip of the
//! keyboard can make a kpath tool, possibly running as root, write where it should not.
//!
//! The rules, the same in all three tools (`docs/security.md`):
//!
//! - **A new file is created exclusively and without following a symbolic link**
//!   (`O_CREAT | O_EXCL | O_NOFOLLOW`). With `O_EXCL` the kernel refuses any existing name,
//!   a symbolic link included, dangling or not, so a link planted at the output path can
//!   neither redirect the write nor create its target.
//! - **Nothing is replaced without `--force`.** With it, the existing *name* is removed and a
//!   new file created in its place the same exclusive way: a link is replaced, never written
//!   through, and a reader still holding the old file keeps its data.
//! - **An output is never one of the inputs** ([`ensure_not_input`]): `kpath analyze X -o X`
//!   would otherwise replace the trace it is reading, `--force` or not.
//! - **Under `sudo`, what is created belongs to the invoking user** ([`Invoker`]), with
//!   `fchown` on the open descriptor, not on a path that could be swapped.
//! - **An output directory's last component is not followed** when it is a link.
//!
//! Files written by another program (the images gnuplot draws) are first created here, empty
//! ([`Output::reserve`]): the program then opens an existing regular file of ours. Files a
//! library writes by path (the gnuplot crate's plot data) go into a directory made fresh
//! for it ([`Output::create_fresh_dir`]), which is handed to the sudo user, entries and all,
//! once filled ([`Output::hand_over_tree`]).

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::invoker::Invoker;

/// Why an output could not be created.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The path exists and `--force` was not given.
    #[error("{}: already exists; pass --force to replace it", .0.display())]
    Exists(PathBuf),
    /// The path is a symbolic link and `--force` was not given.
    #[error("{}: is a symbolic link, which kpath never writes through; pass --force to replace the link itself", .0.display())]
    Symlink(PathBuf),
    /// A file was asked for where a directory is.
    #[error("{}: is a directory", .0.display())]
    IsDirectory(PathBuf),
    /// A directory was asked for where something else is.
    #[error("{}: exists and is not a directory", .0.display())]
    NotDirectory(PathBuf),
    /// The output directory is a symbolic link.
    #[error("{}: output directory is a symbolic link; give the directory it points to", .0.display())]
    SymlinkDirectory(PathBuf),
    /// The file's directory does not exist.
    #[error("{}: directory {} does not exist", .path.display(), .dir.display())]
    MissingDirectory {
        /// The output file.
        path: PathBuf,
        /// Its directory.
        dir: PathBuf,
    },
    /// The output is one of the inputs.
    #[error("{}: is also the input {}; choose another output path", .output.display(), .input.display())]
    SameAsInput {
        /// The output path.
        output: PathBuf,
        /// The input it names.
        input: PathBuf,
    },
    /// Another process created the path between our removal and our creation.
    #[error("{}: was created again by another process while being replaced", .0.display())]
    Raced(PathBuf),
    /// An operating-system error.
    #[error("cannot {what} {}: {source}", .path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// On what.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

fn io_error<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> OutputError + 'a {
    move |source| OutputError::Io {
        what,
        path: path.into(),
        source,
    }
}

/// How outputs are created: whether to replace existing files, and whom they belong to.
#[derive(Clone, Copy, Debug)]
pub struct Output {
    force: bool,
    owner: Option<Invoker>,
}

impl Output {
    /// Outputs replacing existing files only if `force`, owned by the user who ran `sudo` if
    /// any ([`Invoker::from_sudo`]).
    pub fn new(force: bool) -> Self {
        Self::with_owner(force, Invoker::from_sudo())
    }

    /// Outputs owned by `owner` (`None`: the process's own ids).
    pub fn with_owner(force: bool, owner: Option<Invoker>) -> Self {
        Self { force, owner }
    }

    /// Whether existing files are replaced.
    pub fn force(&self) -> bool {
        self.force
    }

    /// Checks, before any work, that `path` could be created: its directory exists, and it
    /// does not exist (or `--force` was given and it is not a directory).
    pub fn check(&self, path: &Path) -> Result<(), OutputError> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if !dir.is_dir() {
            return Err(OutputError::MissingDirectory {
                path: path.into(),
                dir: dir.into(),
            });
        }
        match fs::symlink_metadata(path) {
            Ok(meta) => self.replaceable(path, &meta),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("inspect", path)(e)),
        }
    }

    /// Whether an existing `path` with `meta` may be replaced.
    fn replaceable(&self, path: &Path, meta: &fs::Metadata) -> Result<(), OutputError> {
        if meta.is_dir() {
            Err(OutputError::IsDirectory(path.into()))
        } else if self.force {
            Ok(())
        } else if meta.file_type().is_symlink() {
            Err(OutputError::Symlink(path.into()))
        } else {
            Err(OutputError::Exists(path.into()))
        }
    }

    /// Creates `path` as a new regular file open for writing (see the module's rules).
    pub fn create(&self, path: &Path) -> Result<File, OutputError> {
        let file = match open_new(path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                let meta = fs::symlink_metadata(path).map_err(io_error("inspect", path))?;
                self.replaceable(path, &meta)?;
                // `--force`: remove the name (a link itself, not its target), then create
                // exclusively again; if someone recreated it meanwhile, say so.
                fs::remove_file(path).map_err(io_error("remove", path))?;
                match open_new(path) {
                    Ok(f) => f,
                    Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                        return Err(OutputError::Raced(path.into()))
                    }
                    Err(e) => return Err(io_error("create", path)(e)),
                }
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
                return Err(OutputError::MissingDirectory {
                    path: path.into(),
                    dir,
                });
            }
            Err(e) => return Err(io_error("create", path)(e)),
        };
        if let Some(owner) = self.owner {
            std::os::unix::fs::fchown(&file, Some(owner.uid), Some(owner.gid))
                .map_err(io_error("hand to the sudo user", path))?;
        }
        Ok(file)
    }

    /// Creates `path` and writes `bytes` to it.
    pub fn write(&self, path: &Path, bytes: impl AsRef<[u8]>) -> Result<(), OutputError> {
        let mut file = self.create(path)?;
        file.write_all(bytes.as_ref())
            .and_then(|()| file.flush())
            .map_err(io_error("write", path))
    }

    /// Creates `path` empty, for another program to fill (an image gnuplot draws).
    pub fn reserve(&self, path: &Path) -> Result<(), OutputError> {
        self.create(path).map(drop)
    }

    /// Makes sure `dir` is a directory, creating it and its missing parents (owned by the
    /// invoking user). An existing `dir` is used as it is (files in it are still created by
    /// the rules above); a link as its last component is refused.
    pub fn create_dir(&self, dir: &Path) -> Result<(), OutputError> {
        match fs::symlink_metadata(dir) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(OutputError::SymlinkDirectory(dir.into()))
            }
            Ok(meta) if meta.is_dir() => return Ok(()),
            Ok(_) => return Err(OutputError::NotDirectory(dir.into())),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(io_error("inspect", dir)(e)),
        }
        // Missing: create the missing ancestors first (links among them are followed, as the
        // user may keep their work under one), then `dir` itself.
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            if !parent.is_dir() {
                self.create_dir(parent)?;
            }
        }
        match DirBuilder::new().mode(0o755).create(dir) {
            Ok(()) => {}
            // Created by someone else meanwhile: accept it only if it is a real directory.
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                let meta = fs::symlink_metadata(dir).map_err(io_error("inspect", dir))?;
                return if meta.is_dir() {
                    Ok(())
                } else {
                    Err(OutputError::NotDirectory(dir.into()))
                };
            }
            Err(e) => return Err(io_error("create directory", dir)(e)),
        }
        if let Some(owner) = self.owner {
            // Not followed: `dir` was just made by us, and lchown cannot be sent through a
            // link swapped in since.
            std::os::unix::fs::lchown(dir, Some(owner.uid), Some(owner.gid))
                .map_err(io_error("hand to the sudo user", dir))?;
        }
        Ok(())
    }

    /// Creates `dir` as a new, empty directory, for a library that writes files into it by
    /// path (the gnuplot crate's plot data): rules 1 and 2 for a directory.
    ///
    /// - `dir` is made with one exclusive `mkdir`: any existing name there, a symbolic link
    ///   (dangling or not), a file or a directory, makes it fail.
    /// - Without `--force` an existing name is refused. With it, the name is removed first
    ///   (a directory with everything in it; `remove_dir_all` removes links, it never follows
    ///   them) and `dir` made exclusively again; if someone recreated it meanwhile, say so.
    ///
    /// `dir` is *not* handed to the sudo user yet: while it is the process's own, nobody else
    /// can plant a link inside it. Fill it, then call [`Output::hand_over_tree`].
    pub fn create_fresh_dir(&self, dir: &Path) -> Result<(), OutputError> {
        let make = || DirBuilder::new().mode(0o755).create(dir);
        match make() {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(OutputError::MissingDirectory {
                    path: dir.into(),
                    dir: dir.parent().unwrap_or(Path::new(".")).to_path_buf(),
                })
            }
            Err(e) => return Err(io_error("create directory", dir)(e)),
        }
        let meta = fs::symlink_metadata(dir).map_err(io_error("inspect", dir))?;
        if !self.force {
            return Err(if meta.file_type().is_symlink() {
                OutputError::Symlink(dir.into())
            } else {
                OutputError::Exists(dir.into())
            });
        }
        if meta.is_dir() {
            fs::remove_dir_all(dir).map_err(io_error("remove", dir))?;
        } else {
            fs::remove_file(dir).map_err(io_error("remove", dir))?;
        }
        match make() {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Err(OutputError::Raced(dir.into())),
            Err(e) => Err(io_error("create directory", dir)(e)),
        }
    }

    /// Hands `dir` and everything under it to the sudo user ([`Invoker`]), as rule 5 hands
    /// what [`Output::create`] makes; nothing to do without one. `lchown` is used throughout:
    /// a link is handed over itself, never followed. Meant for a directory made by
    /// [`Output::create_fresh_dir`] and filled by this process; the entries go first and
    /// `dir` last, so nobody but this process can write in it until the walk is done.
    pub fn hand_over_tree(&self, dir: &Path) -> Result<(), OutputError> {
        match self.owner {
            Some(owner) => lchown_tree(dir, owner),
            None => Ok(()),
        }
    }
}

fn lchown_tree(path: &Path, owner: Invoker) -> Result<(), OutputError> {
    let meta = fs::symlink_metadata(path).map_err(io_error("inspect", path))?;
    if meta.is_dir() {
        for entry in fs::read_dir(path).map_err(io_error("list", path))? {
            let entry = entry.map_err(io_error("list", path))?;
            lchown_tree(&entry.path(), owner)?;
        }
    }
    std::os::unix::fs::lchown(path, Some(owner.uid), Some(owner.gid))
        .map_err(io_error("hand to the sudo user", path))
}

fn open_new(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .mode(0o644)
        .open(path)
}

/// Refuses an `output` that is one of `inputs`: the same file (device and inode), reached by
/// any name, a link or a hard link included.
pub fn ensure_not_input(output: &Path, inputs: &[&Path]) -> Result<(), OutputError> {
    let Ok(out) = fs::metadata(output) else {
        return Ok(()); // no such file yet: it cannot be an input
    };
    for input in inputs {
        if let Ok(inp) = fs::metadata(input) {
            if inp.dev() == out.dev() && inp.ino() == out.ino() {
                return Err(OutputError::SameAsInput {
                    output: output.into(),
                    input: input.into(),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn read(p: &Path) -> String {
        fs::read_to_string(p).unwrap_or_default()
    }

    #[test]
    fn new_file_is_created_and_existing_one_kept_without_force() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("out.json");
        Output::with_owner(false, None)
            .write(&p, "first")
            .expect("create");
        let err = Output::with_owner(false, None)
            .write(&p, "second")
            .expect_err("must refuse");
        assert!(matches!(err, OutputError::Exists(_)), "{err}");
        assert!(err.to_string().contains("--force"), "{err}");
        assert_eq!(read(&p), "first");
        Output::with_owner(true, None)
            .write(&p, "second")
            .expect("force");
        assert_eq!(read(&p), "second");
    }

    #[test]
    fn links_are_never_written_through() {
        let d = tempfile::tempdir().expect("tempdir");
        let target = d.path().join("victim");
        fs::write(&target, "precious").expect("write");
        let link = d.path().join("link.trace");
        symlink(&target, &link).expect("symlink");
        let err = Output::with_owner(false, None)
            .write(&link, "x")
            .expect_err("must refuse");
        assert!(matches!(err, OutputError::Symlink(_)), "{err}");
        // --force replaces the link itself; the target is untouched.
        Output::with_owner(true, None)
            .write(&link, "new")
            .expect("force");
        assert_eq!(read(&target), "precious");
        assert!(!fs::symlink_metadata(&link)
            .expect("stat")
            .file_type()
            .is_symlink());
        assert_eq!(read(&link), "new");

        // A dangling link does not create its target.
        let absent = d.path().join("absent");
        let dangling = d.path().join("dangling");
        symlink(&absent, &dangling).expect("symlink");
        assert!(Output::with_owner(false, None)
            .write(&dangling, "x")
            .is_err());
        assert!(!absent.exists());
    }

    #[test]
    fn directories_missing_parents_and_inputs_are_reported() {
        let d = tempfile::tempdir().expect("tempdir");
        let o = Output::with_owner(true, None);
        let err = o.write(d.path(), "x").expect_err("directory");
        assert!(matches!(err, OutputError::IsDirectory(_)), "{err}");
        let missing = d.path().join("no/such/dir/x.json");
        assert!(matches!(
            o.check(&missing),
            Err(OutputError::MissingDirectory { .. })
        ));
        assert!(matches!(
            o.create(&missing),
            Err(OutputError::MissingDirectory { .. })
        ));

        let input = d.path().join("in.trace");
        fs::write(&input, "trace").expect("write");
        let alias = d.path().join("alias.trace");
        symlink(&input, &alias).expect("symlink");
        for out in [&input, &alias] {
            let err = ensure_not_input(out, &[&input]).expect_err("same file");
            assert!(matches!(err, OutputError::SameAsInput { .. }), "{err}");
        }
        ensure_not_input(&d.path().join("other"), &[&input]).expect("distinct");
    }

    #[test]
    fn fresh_directories_replace_links_and_trees_only_with_force() {
        let d = tempfile::tempdir().expect("tempdir");
        let target = d.path().join("precious");
        fs::create_dir(&target).expect("mkdir");
        fs::write(target.join("keep"), "kept").expect("write");
        let data = d.path().join("fig.data");
        let keep = Output::with_owner(false, None);
        let force = Output::with_owner(true, None);

        keep.create_fresh_dir(&data).expect("new directory");
        fs::write(data.join("old"), "old").expect("write");
        let err = keep
            .create_fresh_dir(&data)
            .expect_err("existing directory");
        assert!(matches!(err, OutputError::Exists(_)), "{err}");
        assert!(data.join("old").is_file());
        force.create_fresh_dir(&data).expect("force");
        assert_eq!(fs::read_dir(&data).expect("ls").count(), 0, "not fresh");

        fs::remove_dir(&data).expect("rmdir");
        symlink(&target, &data).expect("symlink");
        let err = keep.create_fresh_dir(&data).expect_err("link");
        assert!(matches!(err, OutputError::Symlink(_)), "{err}");
        force.create_fresh_dir(&data).expect("force over a link");
        let meta = fs::symlink_metadata(&data).expect("stat");
        assert!(meta.is_dir() && !meta.file_type().is_symlink());
        assert_eq!(read(&target.join("keep")), "kept", "the link was followed");

        let file = d.path().join("file.data");
        fs::write(&file, "x").expect("write");
        assert!(matches!(
            keep.create_fresh_dir(&file),
            Err(OutputError::Exists(_))
        ));
        force.create_fresh_dir(&file).expect("force over a file");
        assert!(file.is_dir());
        assert!(matches!(
            keep.create_fresh_dir(&d.path().join("no/such/x.data")),
            Err(OutputError::MissingDirectory { .. })
        ));
    }

    #[test]
    fn trees_are_handed_over_without_following_links() {
        let d = tempfile::tempdir().expect("tempdir");
        let tree = d.path().join("t.data");
        let me = Invoker {
            // SAFETY: getuid and getgid cannot fail.
            uid: unsafe { libc::getuid() },
            gid: unsafe { libc::getgid() },
        };
        let o = Output::with_owner(false, Some(me));
        o.create_fresh_dir(&tree).expect("mkdir");
        fs::create_dir(tree.join("0")).expect("mkdir");
        fs::write(tree.join("0/0.bin"), "x").expect("write");
        // A dangling link: chown would fail on it (ENOENT), lchown hands the link itself.
        symlink(d.path().join("absent"), tree.join("0/dangling")).expect("symlink");
        o.hand_over_tree(&tree).expect("hand over");
        assert!(!d.path().join("absent").exists());
        Output::with_owner(false, None)
            .hand_over_tree(&d.path().join("missing"))
            .expect("no sudo user: nothing to do, nothing inspected");
        assert!(o.hand_over_tree(&d.path().join("missing")).is_err());
    }

    #[test]
    fn output_directories_are_created_and_links_refused() {
        let d = tempfile::tempdir().expect("tempdir");
        let o = Output::with_owner(false, None);
        let deep = d.path().join("a/b/c");
        o.create_dir(&deep).expect("create");
        assert!(deep.is_dir());
        o.create_dir(&deep).expect("existing directory is used");
        let link = d.path().join("plots");
        symlink(&deep, &link).expect("symlink");
        assert!(matches!(
            o.create_dir(&link),
            Err(OutputError::SymlinkDirectory(_))
        ));
        let file = d.path().join("file");
        fs::write(&file, "").expect("write");
        assert!(matches!(
            o.create_dir(&file),
            Err(OutputError::NotDirectory(_))
        ));
    }
}
