//! The `--status-json` file: prepared before the program starts, written when it has ended.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The `--status-json` file, written when the run has ended.
///
/// Its directory is opened once, before the program starts, and every later step names the file
/// relative to that descriptor; nothing is ever opened at the file's name. At the start the
/// name must hold nothing or a regular file (a stale status, removed); a symlink, FIFO, device
/// or directory there is refused, since the CLI cannot tell a caller's choice from what an
/// earlier run's program left in a read-write bind. At the end the status goes into a new file
/// beside it that is renamed over the name: whatever the program left there during the run (a
/// symlink to a file of the caller's, a FIFO, a forged status) is replaced, never followed or
/// opened, and a program that moves the directory and leaves a symlink in its place cannot send
/// the write elsewhere. Holding the file itself open from the start would survive a symlink,
/// but not a program that renames the file away and puts a forged status at its name.
pub struct StatusFile {
    /// The path as given.
    pub path: PathBuf,
    /// Its directory, opened before the program starts (`O_PATH`).
    dir: std::os::fd::OwnedFd,
    /// The file's name in `dir`.
    name: OsString,
    /// The empty file created at the start, as (device, inode).
    placeholder: (u64, u64),
}

impl StatusFile {
    pub fn prepare(path: &Path) -> Result<Self, String> {
        use rustix::fs::{AtFlags, FileType, Mode, OFlags};
        use std::os::unix::ffi::OsStrExt;
        let fail = |what: String| format!("--status-json {}: {what}", path.display());
        let os_err =
            |what: &str, e: rustix::io::Errno| fail(format!("{what}: {}", std::io::Error::from(e)));
        let name = match path.file_name() {
            Some(name) if !path.as_os_str().as_bytes().ends_with(b"/") => name.to_os_string(),
            _ => return Err(fail("names a directory, not a file".into())),
        };
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let dir = rustix::fs::open(
            parent,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| os_err("opening its directory", e))?;
        match rustix::fs::statat(&dir, &name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => match FileType::from_raw_mode(st.st_mode) {
                // A stale status: removed, so that a run that ends without one leaves none.
                FileType::RegularFile => rustix::fs::unlinkat(&dir, &name, AtFlags::empty())
                    .map_err(|e| os_err("removing the previous status", e))?,
                other => {
                    return Err(fail(format!(
                        "refusing to write through {}; the status file must be a regular file \
                         or not exist (remove it or name another file)",
                        file_kind(other)
                    )))
                }
            },
            Err(rustix::io::Errno::NOENT) => {}
            Err(e) => return Err(os_err("looking it up", e)),
        }
        let placeholder = rustix::fs::openat(
            &dir,
            &name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o666),
        )
        .map_err(|e| os_err("creating it", e))?;
        let st = rustix::fs::fstat(&placeholder).map_err(|e| os_err("creating it", e))?;
        Ok(StatusFile {
            path: path.to_path_buf(),
            dir,
            name,
            placeholder: (st.st_dev, st.st_ino),
        })
    }

    /// Removes the empty file of the start (the program did not run).
    pub fn discard(&self) {
        use rustix::fs::AtFlags;
        if let Ok(st) = rustix::fs::statat(&self.dir, &self.name, AtFlags::SYMLINK_NOFOLLOW) {
            if (st.st_dev, st.st_ino) == self.placeholder {
                let _ = rustix::fs::unlinkat(&self.dir, &self.name, AtFlags::empty());
            }
        }
    }

    /// Writes `contents` to a new file in the directory and renames it over the name. Returns
    /// whether the path still leads to that directory (false: the program moved or replaced
    /// it, and the status is where the directory went).
    pub fn write(&self, contents: &[u8]) -> Result<bool, String> {
        use rustix::fs::{AtFlags, Mode, OFlags};
        use std::hash::{BuildHasher, Hasher};
        use std::io::Write;
        let fail = |what: &str, e: std::io::Error| {
            format!("--status-json {}: {what}: {e}", self.path.display())
        };
        // An unpredictable name, created exclusively: whatever the program left in the
        // directory is never opened.
        let mut attempt = 0;
        let (tmp, fd) = loop {
            let random = std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish();
            let tmp = format!(".tokio-sandbox-status.{random:016x}");
            match rustix::fs::openat(
                &self.dir,
                &tmp,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o666),
            ) {
                Ok(fd) => break (tmp, fd),
                Err(rustix::io::Errno::EXIST) if attempt < 16 => attempt += 1,
                Err(e) => return Err(fail("creating a new file beside it", e.into())),
            }
        };
        let written = std::fs::File::from(fd)
            .write_all(contents)
            .map_err(|e| fail("writing", e))
            .and_then(|()| {
                rustix::fs::renameat(&self.dir, &tmp, &self.dir, &self.name)
                    .map_err(|e| fail("renaming the new file over it", e.into()))
            });
        if let Err(e) = written {
            let _ = rustix::fs::unlinkat(&self.dir, &tmp, AtFlags::empty());
            return Err(e);
        }
        let parent = match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let same = |a: &rustix::fs::Stat, b: &rustix::fs::Stat| {
            (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
        };
        Ok(
            match (rustix::fs::fstat(&self.dir), rustix::fs::stat(parent)) {
                (Ok(then), Ok(now)) => same(&then, &now),
                _ => false,
            },
        )
    }
}

/// "a FIFO", "a symbolic link", ... for an error message.
fn file_kind(t: rustix::fs::FileType) -> &'static str {
    use rustix::fs::FileType;
    match t {
        FileType::RegularFile => "a regular file",
        FileType::Directory => "a directory",
        FileType::Symlink => "a symbolic link",
        FileType::Fifo => "a FIFO",
        FileType::Socket => "a socket",
        FileType::CharacterDevice => "a character device",
        FileType::BlockDevice => "a block device",
        FileType::Unknown => "a file of unknown type",
    }
}
