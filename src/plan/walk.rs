//! Paths: making them absolute, normalizing them, and resolving host paths like the kernel.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use crate::error::PolicyError;

/// Makes `p` absolute against the caller's working directory (no symlink resolution).
/// `.` components are dropped; `..` is kept for the resolver, which follows symlinks first.
pub(crate) fn absolute(p: &Path) -> io::Result<PathBuf> {
    if p.is_absolute() {
        Ok(without_cur_dirs(p))
    } else {
        Ok(without_cur_dirs(&std::env::current_dir()?.join(p)))
    }
}

/// `p` without its `.` components; `..` stays, for a walk to resolve after the symlinks before
/// it.
pub(crate) fn without_cur_dirs(p: &Path) -> PathBuf {
    p.components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
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

/// What a walk finds at a path: a symlink, with its text, or anything else.
pub(crate) enum Node {
    Link(PathBuf),
    Other,
}

/// Where a walk reads what is at each path: the host's filesystem ([`Host`]), or the sandbox's
/// view of it (a mount plan).
pub(crate) trait View {
    /// What is at `path`, whose parent the walk has already resolved; an error when there is
    /// nothing there.
    fn lookup(&self, path: &Path) -> io::Result<Node>;
}

/// The host's filesystem, as the caller sees it (lstat(2), readlink(2)).
pub(crate) struct Host;

impl View for Host {
    fn lookup(&self, path: &Path) -> io::Result<Node> {
        if std::fs::symlink_metadata(path)?.file_type().is_symlink() {
            Ok(Node::Link(std::fs::read_link(path)?))
        } else {
            Ok(Node::Other)
        }
    }
}

/// A path walked component by component.
#[derive(Debug, Clone)]
pub(crate) struct Walked {
    /// Where the walk ended: no symlink, `.` or `..` left.
    pub path: PathBuf,
    /// Every symlink met on the way, as (link path, link text), so they can be recreated.
    pub links: Vec<(PathBuf, OsString)>,
    /// Directories the walk left through `..` (after a symlink they are not ancestors of the
    /// result, but the kernel passes through them too).
    pub passed: Vec<PathBuf>,
}

/// Why a walk stopped.
#[derive(Debug)]
pub(crate) enum WalkError {
    /// A component is not there: the path looked up, and the view's error.
    Lookup(PathBuf, io::Error),
    /// More than [`MAX_SYMLINKS`] symlinks.
    Loop,
}

/// How many symlinks a walk follows, as the kernel does (path_resolution(7): `ELOOP` past 40).
pub(crate) const MAX_SYMLINKS: usize = 40;

/// Walks an absolute path in `view` as the kernel resolves one (path_resolution(7)): from `/`,
/// `.` skipped, `..` to the parent of what the walk has reached (so after the symlinks before
/// it), each symlink replaced by its text, walked from the link's directory (or from `/` when
/// absolute), at most [`MAX_SYMLINKS`] of them. Every component, the last included, must be
/// there.
pub(crate) fn walk(path: &Path, view: &impl View) -> Result<Walked, WalkError> {
    fn push(todo: &mut Vec<OsString>, p: &Path) {
        for c in p.components().rev() {
            match c {
                Component::Normal(n) => todo.push(n.to_os_string()),
                Component::ParentDir => todo.push(OsString::from("..")),
                _ => {}
            }
        }
    }
    // Components still to walk, the next one on top.
    let mut todo = Vec::new();
    push(&mut todo, path);
    let mut walked = Walked {
        path: PathBuf::from("/"),
        links: Vec::new(),
        passed: Vec::new(),
    };
    while let Some(c) = todo.pop() {
        if c == ".." {
            if walked.path != Path::new("/") {
                walked.passed.push(walked.path.clone());
            }
            walked.path.pop();
            continue;
        }
        let candidate = walked.path.join(&c);
        let node = view
            .lookup(&candidate)
            .map_err(|e| WalkError::Lookup(candidate.clone(), e))?;
        match node {
            Node::Link(target) => {
                if walked.links.len() >= MAX_SYMLINKS {
                    return Err(WalkError::Loop);
                }
                if target.is_absolute() {
                    walked.path = PathBuf::from("/");
                }
                push(&mut todo, &target);
                walked.links.push((candidate, target.into_os_string()));
            }
            Node::Other => walked.path = candidate,
        }
    }
    Ok(walked)
}

/// Resolves an absolute host path like the kernel would, recording each symlink met.
///
/// Errors: [`PolicyError::MissingPath`] when a component does not exist,
/// [`PolicyError::SymlinkLoop`] after 40 symlinks.
pub(crate) fn resolve(path: &Path) -> Result<Walked, PolicyError> {
    walk(path, &Host).map_err(|e| match e {
        WalkError::Lookup(_, source) => PolicyError::MissingPath {
            path: path.to_path_buf(),
            source,
        },
        WalkError::Loop => PolicyError::SymlinkLoop(path.to_path_buf()),
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
        assert_eq!(r.path, canonical_bin);
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

    /// A view from a table: a path maps to a link text, or to `None` for anything else;
    /// a path not in the table is not there.
    struct Table(std::collections::HashMap<PathBuf, Option<PathBuf>>);

    impl Table {
        fn new(entries: &[(&str, Option<&str>)]) -> Table {
            Table(
                entries
                    .iter()
                    .map(|(p, t)| (PathBuf::from(p), t.map(PathBuf::from)))
                    .collect(),
            )
        }
    }

    impl View for Table {
        fn lookup(&self, path: &Path) -> io::Result<Node> {
            match self.0.get(path) {
                Some(Some(t)) => Ok(Node::Link(t.clone())),
                Some(None) => Ok(Node::Other),
                None => Err(io::Error::from_raw_os_error(libc::ENOENT)),
            }
        }
    }

    fn end(path: &str, view: &Table) -> Option<PathBuf> {
        walk(Path::new(path), view).ok().map(|w| w.path)
    }

    #[test]
    fn walk_follows_links_like_the_kernel() {
        let view = Table::new(&[
            ("/a", None),
            ("/a/b", None),
            ("/a/b/f", None),
            ("/rel", Some("a/b")),
            ("/abs", Some("/a/b")),
            ("/a/up", Some("../a/b")),
            ("/a/b/self", Some(".")),
            ("/x", None),
        ]);
        assert_eq!(end("/a/b/f", &view), Some(PathBuf::from("/a/b/f")));
        // A relative link is walked from its directory, an absolute one from the root.
        assert_eq!(end("/rel/f", &view), Some(PathBuf::from("/a/b/f")));
        assert_eq!(end("/abs/f", &view), Some(PathBuf::from("/a/b/f")));
        assert_eq!(end("/a/up/f", &view), Some(PathBuf::from("/a/b/f")));
        assert_eq!(end("/a/b/self/f", &view), Some(PathBuf::from("/a/b/f")));
        // `..` goes to the parent of where the link led, not of the link.
        assert_eq!(end("/abs/../b/f", &view), Some(PathBuf::from("/a/b/f")));
        assert_eq!(end("/rel/../../x", &view), Some(PathBuf::from("/x")));
        // `.` is skipped, `..` at the root stays there.
        assert_eq!(end("/./a/./b/f", &view), Some(PathBuf::from("/a/b/f")));
        assert_eq!(end("/../../x", &view), Some(PathBuf::from("/x")));
        // Every component must be there, the last one too.
        assert_eq!(end("/a/missing", &view), None);
        assert_eq!(end("/missing/..", &view), None);
    }

    #[test]
    fn walk_records_links_and_passed_directories() {
        let view = Table::new(&[
            ("/a", None),
            ("/a/b", None),
            ("/l", Some("/a/b")),
            ("/x", None),
        ]);
        let w = walk(Path::new("/l/../../x"), &view).unwrap();
        assert_eq!(w.path, PathBuf::from("/x"));
        assert_eq!(w.links, vec![(PathBuf::from("/l"), OsString::from("/a/b"))]);
        // Left through `..`: /a/b and /a, not ancestors of /x.
        assert_eq!(w.passed, vec![PathBuf::from("/a/b"), PathBuf::from("/a")]);
    }

    #[test]
    fn walk_follows_at_most_40_links() {
        // /l0 -> /l1 -> ... -> /lN -> /end: N + 1 links.
        let chain = |n: usize| {
            let mut entries: Vec<(String, Option<String>)> = (0..=n)
                .map(|i| (format!("/l{i}"), Some(format!("/l{}", i + 1))))
                .collect();
            entries.push((format!("/l{}", n + 1), None));
            let refs: Vec<(&str, Option<&str>)> = entries
                .iter()
                .map(|(p, t)| (p.as_str(), t.as_deref()))
                .collect();
            Table::new(&refs)
        };
        let w = walk(Path::new("/l0"), &chain(MAX_SYMLINKS - 1)).unwrap();
        assert_eq!(w.links.len(), MAX_SYMLINKS);
        assert!(matches!(
            walk(Path::new("/l0"), &chain(MAX_SYMLINKS)),
            Err(WalkError::Loop)
        ));
        // A cycle ends there too.
        let cycle = Table::new(&[("/p", Some("q")), ("/q", Some("/p"))]);
        assert!(matches!(
            walk(Path::new("/p"), &cycle),
            Err(WalkError::Loop)
        ));
    }

    #[test]
    fn resolve_walks_the_host() {
        let d = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(d.path()).unwrap();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join("a/b/f"), "").unwrap();
        std::os::unix::fs::symlink("a/b", root.join("rel")).unwrap();
        std::os::unix::fs::symlink(root.join("a"), root.join("abs")).unwrap();
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        let r = resolve(&root.join("rel/../b/f")).unwrap();
        assert_eq!(r.path, root.join("a/b/f"));
        assert_eq!(r.links, vec![(root.join("rel"), OsString::from("a/b"))]);
        assert_eq!(
            resolve(&root.join("abs/b/f")).unwrap().path,
            root.join("a/b/f")
        );
        match resolve(&root.join("a/missing")) {
            Err(PolicyError::MissingPath { path, source }) => {
                assert_eq!(path, root.join("a/missing"));
                assert_eq!(source.raw_os_error(), Some(libc::ENOENT));
            }
            other => panic!("expected MissingPath, got {other:?}"),
        }
        assert!(matches!(
            resolve(&root.join("loop")),
            Err(PolicyError::SymlinkLoop(p)) if p == root.join("loop")
        ));
    }

    #[test]
    fn without_cur_dirs_keeps_parent_dirs() {
        assert_eq!(
            without_cur_dirs(Path::new("/a/./b/../c/.")),
            PathBuf::from("/a/b/../c")
        );
    }
}
