//! The private entries inside the `/etc` directories of the system runtime: a key with mode 0600
//! among the CA certificates, a password file beside a JDK's configuration. The directories are
//! bound as a whole, so every entry that others may not read is covered (a file with the host's
//! `/dev/null`, a directory with an empty read-only tmpfs), as the top-level entries that others
//! may not read are left out. The walk is bounded in depth and entries; it runs when the policy
//! is compiled, not per spawn.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Directories deeper than this below an exposed `/etc` directory are covered whole.
pub(crate) const MAX_DEPTH: usize = 8;

/// Most entries walked below one exposed `/etc` directory; a directory with more is left out
/// of the sandbox (Debian's `/etc/ssl/certs` has about 300).
pub(crate) const MAX_ENTRIES: usize = 10_000;

/// Most covers in one exposed `/etc` directory (each is a mount made at every spawn); a
/// directory with more private entries is left out of the sandbox.
pub(crate) const MAX_COVERS: usize = 64;

/// What to cover in one exposed directory.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Private {
    /// Files (and other non-directories) others may not read.
    pub files: Vec<PathBuf>,
    /// Directories others may not list and enter, those the walk could not read, and those
    /// deeper than [`MAX_DEPTH`].
    pub dirs: Vec<PathBuf>,
}

/// The entries below directory `root` (itself already checked) that others may not read, in
/// a stable order; `None` when the walk passes [`MAX_ENTRIES`] or the covers [`MAX_COVERS`]: the
/// directory is then not to be shown at all. Symlinks are not followed: what they lead to is
/// shown, or not, by its own place. A directory the caller may not read is covered; any other
/// failure to read one (no descriptor left) is the error, so that nothing is shown unchecked.
pub(crate) fn private_entries(root: &Path) -> std::io::Result<Option<Private>> {
    let mut private = Private::default();
    let mut stack = vec![(root.to_path_buf(), 0usize)];
    let mut seen = 0usize;
    while let Some((dir, depth)) = stack.pop() {
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                private.dirs.push(dir);
                continue;
            }
            Err(e) => return Err(e),
        };
        for e in rd {
            let e = e?;
            seen += 1;
            if seen > MAX_ENTRIES {
                return Ok(None);
            }
            let path = e.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                // Gone since it was listed: nothing to show.
                continue;
            };
            let ft = meta.file_type();
            if ft.is_symlink() {
                continue;
            }
            if ft.is_dir() {
                if meta.mode() & 0o005 != 0o005 || depth + 1 >= MAX_DEPTH {
                    private.dirs.push(path);
                } else {
                    stack.push((path, depth + 1));
                }
            } else if meta.mode() & 0o004 == 0 {
                private.files.push(path);
            }
        }
        if private.files.len() + private.dirs.len() > MAX_COVERS {
            return Ok(None);
        }
    }
    private.files.sort();
    private.dirs.sort();
    Ok(Some(private))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path, m: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    }

    #[test]
    fn private_entries_are_found_at_any_depth_and_links_are_not_followed() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::write(root.join("ca.pem"), "public").unwrap();
        std::fs::write(root.join("key.pem"), "secret").unwrap();
        mode(&root.join("key.pem"), 0o600);
        std::fs::create_dir_all(root.join("a/b/c")).unwrap();
        std::fs::write(root.join("a/b/c/jmxremote.password.bak"), "pw").unwrap();
        mode(&root.join("a/b/c/jmxremote.password.bak"), 0o640);
        std::fs::create_dir(root.join("private")).unwrap();
        std::fs::write(root.join("private/inside"), "x").unwrap();
        mode(&root.join("private"), 0o700);
        std::fs::create_dir(root.join("listable-only")).unwrap();
        mode(&root.join("listable-only"), 0o751);
        // A link to a private file is not a cover: its target is covered in its own place.
        std::os::unix::fs::symlink("key.pem", root.join("link.pem")).unwrap();
        let got = private_entries(root).unwrap().unwrap();
        assert_eq!(
            got,
            Private {
                files: vec![
                    root.join("a/b/c/jmxremote.password.bak"),
                    root.join("key.pem")
                ],
                dirs: vec![root.join("listable-only"), root.join("private")],
            }
        );
        mode(&root.join("private"), 0o755);
    }

    #[test]
    fn the_walk_is_bounded() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        // Deeper than MAX_DEPTH: the directory at the limit is covered whole.
        let mut deep = root.to_path_buf();
        for i in 0..MAX_DEPTH + 2 {
            deep.push(format!("d{i}"));
        }
        std::fs::create_dir_all(&deep).unwrap();
        let mut limit = root.to_path_buf();
        for i in 0..MAX_DEPTH {
            limit.push(format!("d{i}"));
        }
        assert_eq!(private_entries(root).unwrap().unwrap().dirs, vec![limit]);

        // More covers than MAX_COVERS: left out.
        let many = tempfile::tempdir().unwrap();
        for i in 0..=MAX_COVERS {
            let f = many.path().join(format!("k{i}"));
            std::fs::write(&f, "").unwrap();
            mode(&f, 0o600);
        }
        assert_eq!(private_entries(many.path()).unwrap(), None);
        std::fs::remove_file(many.path().join("k0")).unwrap();
        assert_eq!(
            private_entries(many.path()).unwrap().unwrap().files.len(),
            MAX_COVERS
        );

        // More entries than MAX_ENTRIES: left out.
        let big = tempfile::tempdir().unwrap();
        for i in 0..=MAX_ENTRIES {
            std::fs::write(big.path().join(format!("f{i}")), "").unwrap();
        }
        assert_eq!(private_entries(big.path()).unwrap(), None);
    }
}
