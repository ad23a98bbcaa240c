//! The mount plan: a policy resolved against the host (canonical paths, symlinks recreated,
//! parents before children, duplicates merged) into the filesystem operations the sandbox's
//! first process runs, and the sandbox's view of the host that follows from it. All of this
//! happens in the parent; nothing here runs after `clone3`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

use crate::plan::walk::{is_under, walk, Host, Node, View};

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
        /// For a policy path: the object the source must still be when the bind is made.
        pin: Option<crate::policy::Pin>,
    },
    Tmpfs {
        dst: PathBuf,
        mode: u32,
        size: u64,
        inodes: u64,
    },
    Proc {
        dst: PathBuf,
    },
    /// A devpts instance of the sandbox's own, with at most `max` ptys.
    Devpts {
        dst: PathBuf,
        max: u32,
    },
    /// Makes a path of the new root read-only (a read-only bind onto itself).
    ReadOnly {
        path: PathBuf,
    },
    /// Covers a file of the new root with `/dev/null`, read-only.
    Mask {
        path: PathBuf,
    },
    /// Covers a directory of the new root with an empty read-only tmpfs.
    MaskDir {
        path: PathBuf,
    },
    File {
        path: PathBuf,
        contents: Vec<u8>,
    },
    /// A file holding a machine id made for each sandbox (machine-id(5)).
    MachineId {
        path: PathBuf,
    },
}

impl FsOp {
    pub(crate) fn path(&self) -> &Path {
        match self {
            FsOp::Mkdir { path, .. }
            | FsOp::Symlink { path, .. }
            | FsOp::File { path, .. }
            | FsOp::MachineId { path } => path,
            FsOp::Bind { dst, .. }
            | FsOp::Tmpfs { dst, .. }
            | FsOp::Proc { dst }
            | FsOp::Devpts { dst, .. }
            | FsOp::ReadOnly { path: dst }
            | FsOp::Mask { path: dst }
            | FsOp::MaskDir { path: dst } => dst,
        }
    }
}

/// The sandbox's view of the host, for walking sandbox paths: a recreated symlink, else what
/// the innermost bind shows (a symlink there is one in the sandbox too), else a directory of
/// the sandbox's own.
impl View for MountPlan {
    fn lookup(&self, path: &Path) -> io::Result<Node> {
        if let Some(target) = self.links.get(path) {
            return Ok(Node::Link(PathBuf::from(target)));
        }
        match self.bound_host_path(path) {
            Some(host) => Host.lookup(&host),
            None => Ok(Node::Other),
        }
    }
}

/// The sandbox's view with only what the plan creates: unlike [`MountPlan`]'s own view, a path
/// that is neither a recreated symlink, nor shown by a bind, nor made by an operation (or on the
/// way to one) is not there.
struct Strict<'a>(&'a MountPlan);

impl View for Strict<'_> {
    fn lookup(&self, path: &Path) -> io::Result<Node> {
        let plan = self.0;
        if plan.links.contains_key(path) || plan.bound_host_path(path).is_some() {
            return plan.lookup(path);
        }
        if plan.ops.iter().any(|op| op.path().starts_with(path)) {
            Ok(Node::Other)
        } else {
            Err(io::Error::from_raw_os_error(libc::ENOENT))
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
    /// The sandbox's own tmpfs mounts a program can fill, in plan order.
    pub tmpfs: Vec<TmpfsMount>,
    /// The program's `TMPDIR`, when the policy puts it in a read-write bind.
    pub tmpdir: Option<PathBuf>,
}

/// A tmpfs of the sandbox's own, with its limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TmpfsMount {
    pub path: PathBuf,
    pub size: u64,
    pub inodes: u64,
}

impl MountPlan {
    /// Without a mount namespace the sandbox sees the host's filesystem as it is.
    pub(crate) fn host() -> MountPlan {
        MountPlan {
            ops: Vec::new(),
            visible: vec![(PathBuf::from("/"), PathBuf::from("/"))],
            links: BTreeMap::new(),
            host_links: Vec::new(),
            tmpfs: Vec::new(),
            tmpdir: None,
        }
    }

    /// Whether every host symlink met while resolving still reads the same (readlink(2)).
    pub(crate) fn host_links_unchanged(&self) -> bool {
        self.host_links
            .iter()
            .all(|(link, text)| std::fs::read_link(link).is_ok_and(|t| t.as_os_str() == text))
    }

    /// The host path a sandbox path shows, walked in the sandbox's view (see
    /// [`MountPlan::lookup`]); `None` when some component is not there or the path is a
    /// directory of the sandbox's own (its tmpfs root, `/tmp`, ...).
    pub(crate) fn host_path(&self, inside: &Path) -> Option<PathBuf> {
        let end = walk(inside, self).ok()?.path;
        self.bound_host_path(&end)
    }

    /// The first path that a walk of sandbox path `inside` (symlinks followed as the kernel
    /// does) does not find in the sandbox, e.g. `/lib` for an ELF interpreter
    /// `/lib64/ld-linux-x86-64.so.2` whose link chain ends in a `/lib` the plan lacks; `None`
    /// when the walk reaches the end (or loops).
    pub(crate) fn first_missing(&self, inside: &Path) -> Option<PathBuf> {
        match walk(inside, &Strict(self)) {
            Err(crate::plan::walk::WalkError::Lookup(at, _)) => Some(at),
            _ => None,
        }
    }

    /// The host file a sandbox path shows, walked in the sandbox's view (a link to a path the
    /// sandbox cannot see leads nowhere), so a symlink planted in a read-write path cannot lead
    /// the parent to a host file the sandbox cannot see. Only a regular file counts.
    pub(crate) fn visible_file(&self, inside: &Path) -> Option<PathBuf> {
        let host = self.host_path(inside)?;
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
        | FsOp::Mask { .. }
        | FsOp::MaskDir { .. } => 1,
        FsOp::Symlink { .. } | FsOp::File { .. } | FsOp::MachineId { .. } => 2,
    }
}

#[cfg(test)]
impl MountPlan {
    /// A plan without operations that shows `host` at `dst` and recreates the symlinks `links`
    /// (path, text): the sandbox's view, for tests.
    pub(crate) fn showing(dst: &str, host: &Path, links: &[(&str, &str)]) -> MountPlan {
        MountPlan {
            ops: Vec::new(),
            visible: vec![(PathBuf::from(dst), host.to_path_buf())],
            links: links
                .iter()
                .map(|(l, t)| (PathBuf::from(l), OsString::from(t)))
                .collect(),
            host_links: Vec::new(),
            tmpfs: Vec::new(),
            tmpdir: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_run_parents_first_and_the_mount_before_what_refers_to_it() {
        let mkdir = |p: &str| FsOp::Mkdir {
            path: PathBuf::from(p),
            mode: 0o755,
        };
        let bind = |p: &str| FsOp::Bind {
            pin: None,
            src: PathBuf::from("/host"),
            dst: PathBuf::from(p),
            kind: NodeKind::Dir,
            writable: false,
        };
        let link = |p: &str| FsOp::Symlink {
            target: OsString::from("x"),
            path: PathBuf::from(p),
        };
        let file = |p: &str| FsOp::File {
            path: PathBuf::from(p),
            contents: Vec::new(),
        };
        let mut ops = vec![
            file("/etc/passwd"),
            link("/a"),
            bind("/a/b/c"),
            bind("/a"),
            mkdir("/a/b"),
            mkdir("/a"),
            FsOp::Proc {
                dst: PathBuf::from("/proc"),
            },
            FsOp::Mask {
                path: PathBuf::from("/proc/kcore"),
            },
            mkdir("/etc"),
            mkdir("/a-b"),
        ];
        sort_ops(&mut ops);
        let order: Vec<(&Path, u8)> = ops.iter().map(|o| (o.path(), op_rank(o))).collect();
        assert_eq!(
            order,
            [
                (Path::new("/a"), 0),
                (Path::new("/a"), 1),
                (Path::new("/a"), 2),
                (Path::new("/a/b"), 0),
                (Path::new("/a/b/c"), 1),
                // By components: /a/b/c before /a-b, which a byte order would not give.
                (Path::new("/a-b"), 0),
                (Path::new("/etc"), 0),
                (Path::new("/etc/passwd"), 2),
                (Path::new("/proc"), 1),
                (Path::new("/proc/kcore"), 1),
            ]
        );
    }

    /// A plan that binds `host` (with `file`, a link `inner` -> `file` and a link `out` ->
    /// `/etc/hostname`) at `/opt/tools`, and recreates `/tools` -> `opt/tools`.
    fn plan(host: &Path) -> MountPlan {
        std::fs::write(host.join("file"), "x").unwrap();
        std::os::unix::fs::symlink("file", host.join("inner")).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", host.join("out")).unwrap();
        std::fs::create_dir(host.join("dir")).unwrap();
        MountPlan::showing("/opt/tools", host, &[("/tools", "opt/tools")])
    }

    #[test]
    fn sandbox_paths_are_walked_in_the_sandbox_view() {
        let d = tempfile::tempdir().unwrap();
        let host = d.path();
        let p = plan(host);
        let file = Some(host.join("file"));
        assert_eq!(p.visible_file(Path::new("/opt/tools/file")), file);
        // Through the recreated link, through a link inside the bind, and back through `..`.
        assert_eq!(p.visible_file(Path::new("/tools/file")), file);
        assert_eq!(p.visible_file(Path::new("/opt/tools/inner")), file);
        assert_eq!(p.visible_file(Path::new("/tools/dir/../inner")), file);
        // A link inside the bind to a path the sandbox does not show leads nowhere, although
        // the host has a file there.
        assert_eq!(p.visible_file(Path::new("/opt/tools/out")), None);
        assert_eq!(p.host_path(Path::new("/opt/tools/out")), None);
        // A directory is a host path but not a file.
        assert_eq!(p.host_path(Path::new("/tools/dir")), Some(host.join("dir")));
        assert_eq!(p.visible_file(Path::new("/tools/dir")), None);
        // The sandbox's own directories show no host path.
        assert_eq!(p.host_path(Path::new("/opt")), None);
        assert_eq!(p.host_path(Path::new("/opt/tools/missing")), None);
    }
}
