//! The mount plan: a policy resolved against the host (canonical paths, symlinks recreated,
//! parents before children, duplicates merged) into the filesystem operations the sandbox's
//! first process runs, and the sandbox's view of the host that follows from it. All of this
//! happens in the parent; nothing here runs after `clone3`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::plan::walk::{is_under, normalize};

/// The kind of host object a bind mounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NodeKind {
    Dir,
    File,
    Device,
}

/// One filesystem operation of the plan, on paths inside the new root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FsOp {
    Mkdir {
        path: PathBuf,
        mode: u32,
    },
    Symlink {
        target: OsString,
        path: PathBuf,
    },
    Bind {
        src: PathBuf,
        dst: PathBuf,
        kind: NodeKind,
        writable: bool,
    },
    Tmpfs {
        dst: PathBuf,
        mode: u32,
        size: u64,
    },
    Proc {
        dst: PathBuf,
    },
    Devpts {
        dst: PathBuf,
    },
    /// Makes a path of the new root read-only (a read-only bind onto itself).
    ReadOnly {
        path: PathBuf,
    },
    /// Covers a file of the new root with `/dev/null`.
    Mask {
        path: PathBuf,
    },
    File {
        path: PathBuf,
        contents: Vec<u8>,
    },
}

impl FsOp {
    pub(crate) fn path(&self) -> &Path {
        match self {
            FsOp::Mkdir { path, .. } | FsOp::Symlink { path, .. } | FsOp::File { path, .. } => path,
            FsOp::Bind { dst, .. }
            | FsOp::Tmpfs { dst, .. }
            | FsOp::Proc { dst }
            | FsOp::Devpts { dst }
            | FsOp::ReadOnly { path: dst }
            | FsOp::Mask { path: dst } => dst,
        }
    }
}

/// The mount plan: filesystem operations in execution order, plus what spawning needs to know.
#[derive(Debug, Clone)]
pub(crate) struct MountPlan {
    pub ops: Vec<FsOp>,
    /// Same-place and relocated binds as (sandbox path, host path), for program lookup and the
    /// working directory.
    pub visible: Vec<(PathBuf, PathBuf)>,
    /// Recreated symlinks (sandbox path -> link text).
    pub links: BTreeMap<PathBuf, OsString>,
    /// Every host symlink met while resolving the policy's paths, with its text then: a plan
    /// is only reused for a new command while they all still read the same.
    pub host_links: Vec<(PathBuf, OsString)>,
}

impl MountPlan {
    /// Without a mount namespace the sandbox sees the host's filesystem as it is.
    pub(crate) fn host() -> MountPlan {
        MountPlan {
            ops: Vec::new(),
            visible: vec![(PathBuf::from("/"), PathBuf::from("/"))],
            links: BTreeMap::new(),
            host_links: Vec::new(),
        }
    }

    /// Whether every host symlink met while resolving still reads the same (readlink(2)).
    pub(crate) fn host_links_unchanged(&self) -> bool {
        self.host_links
            .iter()
            .all(|(link, text)| std::fs::read_link(link).is_ok_and(|t| t.as_os_str() == text))
    }

    /// Maps a sandbox path to the host path it shows, if it is visible through a bind
    /// (following the recreated symlinks).
    pub(crate) fn host_path(&self, inside: &Path) -> Option<PathBuf> {
        let mut path = normalize(inside);
        for _ in 0..40 {
            // A recreated symlink on the way?
            let mut redirected = None;
            for (link, target) in self.links.range(..=path.clone()).rev() {
                if is_under(&path, link) {
                    let rest = path.strip_prefix(link).ok()?;
                    let base = if Path::new(target).is_absolute() {
                        PathBuf::from(target)
                    } else {
                        link.parent().unwrap_or(Path::new("/")).join(target)
                    };
                    redirected = Some(normalize(&base.join(rest)));
                    break;
                }
            }
            match redirected {
                Some(p) => path = p,
                None => break,
            }
        }
        self.bound_host_path(&path)
    }

    /// The host file a sandbox path shows, following symlinks the way the sandbox sees them (a link
    /// to a path the sandbox cannot see leads nowhere).
    ///
    /// Every component is resolved in the sandbox's view (recreated symlinks, then the bind that
    /// shows it), so a symlink planted in a read-write path cannot lead the parent to a host file
    /// the sandbox cannot see. Only a regular file counts.
    pub(crate) fn visible_file(&self, inside: &Path) -> Option<PathBuf> {
        fn push_components(todo: &mut Vec<std::ffi::OsString>, p: &Path) {
            for c in p.components().rev() {
                match c {
                    std::path::Component::Normal(n) => todo.push(n.to_os_string()),
                    std::path::Component::ParentDir => todo.push("..".into()),
                    _ => {}
                }
            }
        }
        let mut todo = Vec::new();
        push_components(&mut todo, inside);
        let mut current = PathBuf::from("/");
        let mut followed = 0;
        while let Some(c) = todo.pop() {
            if c == ".." {
                current.pop();
                continue;
            }
            let candidate = current.join(&c);
            let target = match self.links.get(&candidate) {
                Some(t) => Some(PathBuf::from(t)),
                // Outside every bind: a directory of the sandbox's own (tmpfs root, /tmp, ...).
                None => match self.bound_host_path(&candidate) {
                    None => None,
                    Some(host) => {
                        let meta = std::fs::symlink_metadata(&host).ok()?;
                        if meta.file_type().is_symlink() {
                            Some(std::fs::read_link(&host).ok()?)
                        } else {
                            None
                        }
                    }
                },
            };
            match target {
                Some(t) => {
                    followed += 1;
                    if followed > 40 {
                        return None;
                    }
                    if t.is_absolute() {
                        current = PathBuf::from("/");
                    }
                    push_components(&mut todo, &t);
                }
                None => current = candidate,
            }
        }
        let host = self.bound_host_path(&current)?;
        std::fs::symlink_metadata(&host)
            .ok()
            .filter(|m| m.is_file())
            .map(|_| host)
    }

    /// The host path behind a sandbox path through the innermost bind containing it, without
    /// following any symlink.
    pub(crate) fn bound_host_path(&self, path: &Path) -> Option<PathBuf> {
        self.visible
            .iter()
            .filter(|(dst, _)| is_under(path, dst))
            .max_by_key(|(dst, _)| dst.components().count())
            .map(|(dst, src)| match path.strip_prefix(dst) {
                // The bind itself (a file bind must not get a trailing slash).
                Ok(rest) if rest.as_os_str().is_empty() => src.clone(),
                Ok(rest) => src.join(rest),
                Err(_) => src.clone(),
            })
    }
}

/// Puts `ops` in execution order: parents before children, and at one path the mount before
/// anything that refers to it.
pub(crate) fn sort_ops(ops: &mut [FsOp]) {
    ops.sort_by(|a, b| {
        a.path()
            .components()
            .cmp(b.path().components())
            .then(op_rank(a).cmp(&op_rank(b)))
    });
}

/// At one path, the mount goes before anything that refers to it.
fn op_rank(op: &FsOp) -> u8 {
    match op {
        FsOp::Mkdir { .. } => 0,
        FsOp::Bind { .. }
        | FsOp::Tmpfs { .. }
        | FsOp::Proc { .. }
        | FsOp::Devpts { .. }
        | FsOp::ReadOnly { .. }
        | FsOp::Mask { .. } => 1,
        FsOp::Symlink { .. } | FsOp::File { .. } => 2,
    }
}
