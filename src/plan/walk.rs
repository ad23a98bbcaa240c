//! Paths: making them absolute, normalizing them, and resolving host paths like the kernel.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use crate::error::PolicyError;

/// Makes `p` absolute against the caller's working directory (no symlink resolution).
/// `.` components are dropped; `..` is kept for the resolver, which follows symlinks first.
pub(crate) fn absolute(p: &Path) -> io::Result<PathBuf> {
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()?.join(p)
    };
    Ok(joined
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect())
}

/// Removes `.` and resolves `..` lexically in an absolute path (for sandbox destinations, which
/// are built from scratch and have no symlinks of their own).
pub(crate) fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// A host path resolved component by component.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    /// The canonical path: no symlink, `.` or `..` left.
    pub canonical: PathBuf,
    /// Every symlink met on the way, as (link path, link text), so they can be recreated.
    pub links: Vec<(PathBuf, OsString)>,
    /// Directories the walk left through `..` (after a symlink they are not ancestors of the
    /// result, but the kernel passes through them too).
    pub passed: Vec<PathBuf>,
}

/// Resolves an absolute host path like the kernel would, recording each symlink met.
///
/// Errors: [`PolicyError::MissingPath`] when a component does not exist,
/// [`PolicyError::SymlinkLoop`] after 40 symlinks.
pub(crate) fn resolve(path: &Path) -> Result<Resolved, PolicyError> {
    let mut links = Vec::new();
    let mut current = PathBuf::from("/");
    // Components still to walk, last one on top.
    let mut todo: Vec<OsString> = path
        .components()
        .rev()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect();
    let mut followed = 0;
    let mut passed = Vec::new();
    while let Some(c) = todo.pop() {
        if c == ".." {
            if current != Path::new("/") {
                passed.push(current.clone());
            }
            current.pop();
            continue;
        }
        if c == "." {
            continue;
        }
        let candidate = current.join(&c);
        let meta = std::fs::symlink_metadata(&candidate).map_err(|e| PolicyError::MissingPath {
            path: path.to_path_buf(),
            source: e,
        })?;
        if meta.file_type().is_symlink() {
            followed += 1;
            if followed > 40 {
                return Err(PolicyError::SymlinkLoop(path.to_path_buf()));
            }
            let target = std::fs::read_link(&candidate).map_err(|e| PolicyError::MissingPath {
                path: path.to_path_buf(),
                source: e,
            })?;
            links.push((candidate, target.clone().into_os_string()));
            if target.is_absolute() {
                current = PathBuf::from("/");
            }
            for tc in target.components().rev() {
                match tc {
                    Component::Normal(n) => todo.push(n.to_os_string()),
                    Component::ParentDir => todo.push(OsString::from("..")),
                    _ => {}
                }
            }
        } else {
            current = candidate;
        }
    }
    Ok(Resolved {
        canonical: current,
        links,
        passed,
    })
}

/// Checks that `path` exists without a NUL byte; every policy path goes through this.
pub(crate) fn check_nul(path: &Path) -> Result<(), PolicyError> {
    if path.as_os_str().as_bytes().contains(&0) {
        Err(PolicyError::NulByte(path.to_path_buf()))
    } else {
        Ok(())
    }
}

/// `p` is `base` or lies below it.
pub(crate) fn is_under(p: &Path, base: &Path) -> bool {
    p.starts_with(base)
}

/// Converts a path into a `CString` for the child.
pub(crate) fn cstring(p: impl AsRef<OsStr>) -> Result<CString, PolicyError> {
    CString::new(p.as_ref().as_bytes()).map_err(|_| PolicyError::NulByte(PathBuf::from(p.as_ref())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_records_merged_usr_links() {
        // /bin is a symlink to usr/bin on merged-/usr hosts, a directory elsewhere.
        let r = resolve(Path::new("/bin/sh")).unwrap();
        let canonical_bin = std::fs::canonicalize("/bin/sh").unwrap();
        assert_eq!(r.canonical, canonical_bin);
        if std::fs::symlink_metadata("/bin")
            .unwrap()
            .file_type()
            .is_symlink()
        {
            assert!(r.links.iter().any(|(l, _)| l == Path::new("/bin")));
        }
    }

    #[test]
    fn normalize_is_lexical() {
        assert_eq!(normalize(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
        assert_eq!(normalize(Path::new("/../x")), PathBuf::from("/x"));
    }
}
