//! The mount plan: a [`Policy`] resolved against the host (canonical paths, symlinks recreated,
//! parents before children, duplicates merged) into the filesystem operations the sandbox's
//! first process runs. All of this happens in the parent; nothing here runs after `clone3`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::error::PolicyError;
use crate::plan::identity::Identity;
use crate::plan::walk::{absolute, check_nul, is_under, normalize, resolve};
use crate::policy::{Network, Policy};

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

fn node_kind(path: &Path) -> Result<NodeKind, PolicyError> {
    let meta = std::fs::metadata(path).map_err(|e| PolicyError::MissingPath {
        path: path.to_path_buf(),
        source: e,
    })?;
    let ft = meta.file_type();
    Ok(if ft.is_dir() {
        NodeKind::Dir
    } else if ft.is_char_device() || ft.is_block_device() {
        NodeKind::Device
    } else {
        NodeKind::File
    })
}

/// Checks that the sandbox's host id could write `path` (mode bits, as the kernel does for an
/// unprivileged process without capabilities).
fn writable_by(meta: &std::fs::Metadata, uid: u32, gid: u32) -> bool {
    let mode = meta.mode();
    if meta.uid() == uid {
        mode & 0o200 != 0
    } else if meta.gid() == gid {
        mode & 0o020 != 0
    } else {
        mode & 0o002 != 0
    }
}

/// The system runtime paths bound read-only by default.
const SYSTEM_PATHS: &[&str] = &[
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
    "/etc/localtime",
    "/etc/nsswitch.conf",
];

/// Extra system paths with the host network.
const HOST_NETWORK_PATHS: &[&str] = &[
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/pki",
];

/// Paths of a fresh /proc that are made read-only: they configure the whole host.
const PROC_READ_ONLY: &[&str] = &[
    "/proc/sys",
    "/proc/sysrq-trigger",
    "/proc/irq",
    "/proc/bus",
    "/proc/fs",
];

/// Files of a fresh /proc covered with /dev/null in every sandbox: the host's kernel command
/// line, whose boot parameters can carry addresses and credentials.
const PROC_MASKED_ALWAYS: &[&str] = &["/proc/cmdline"];

/// Files of a fresh /proc covered with /dev/null for a sandbox running as host uid 0 (as
/// container runtimes do; any other uid is refused them by their mode).
const PROC_MASKED: &[&str] = &[
    "/proc/kcore",
    "/proc/keys",
    "/proc/key-users",
    "/proc/timer_list",
    "/proc/sched_debug",
    "/proc/kpageflags",
    "/proc/kpagecount",
    "/proc/kpagecgroup",
    "/proc/slabinfo",
    "/proc/vmallocinfo",
    "/proc/pagetypeinfo",
    "/proc/latency_stats",
];

/// Device nodes bound from the host into the sandbox's `/dev`.
const DEV_NODES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

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

/// Records a bind of `src` at `dst`. A policy is a set: the same bind twice is read-write if
/// either asks for it; a bind of another source at the same destination replaces the earlier
/// one, with its own mode.
fn put_bind(
    binds: &mut BTreeMap<PathBuf, (PathBuf, NodeKind, bool)>,
    dst: PathBuf,
    src: PathBuf,
    kind: NodeKind,
    writable: bool,
) {
    match binds.get_mut(&dst) {
        Some(entry) if entry.0 == src => entry.2 |= writable,
        Some(entry) => *entry = (src, kind, writable),
        None => {
            binds.insert(dst, (src, kind, writable));
        }
    }
}

impl Policy {
    /// Resolves the policy against the host into the operations the child runs.
    pub(crate) fn mount_plan(&self, id: &Identity) -> Result<MountPlan, PolicyError> {
        // dst -> (src, kind, writable)
        let mut binds: BTreeMap<PathBuf, (PathBuf, NodeKind, bool)> = BTreeMap::new();
        let mut links: BTreeMap<PathBuf, OsString> = BTreeMap::new();
        let mut tmpfs: Vec<PathBuf> = Vec::new();

        // Host symlinks met, and directories passed through by `..`, while resolving.
        let mut met: Vec<(PathBuf, OsString)> = Vec::new();
        let mut passed: Vec<PathBuf> = Vec::new();
        let add_same_place = |p: &Path,
                              writable: bool,
                              optional: bool,
                              binds: &mut BTreeMap<PathBuf, (PathBuf, NodeKind, bool)>,
                              links: &mut BTreeMap<PathBuf, OsString>,
                              met: &mut Vec<(PathBuf, OsString)>,
                              passed: &mut Vec<PathBuf>|
         -> Result<(), PolicyError> {
            check_nul(p)?;
            let abs = absolute(p).map_err(|e| PolicyError::MissingPath {
                path: p.to_path_buf(),
                source: e,
            })?;
            let r = match resolve(&abs) {
                Ok(r) => r,
                Err(PolicyError::MissingPath { .. }) if optional => return Ok(()),
                Err(e) => return Err(e),
            };
            let kind = node_kind(&r.canonical)?;
            passed.extend(r.passed);
            for (l, t) in r.links {
                met.push((l.clone(), t.clone()));
                links.insert(l, t);
            }
            put_bind(binds, r.canonical.clone(), r.canonical, kind, writable);
            Ok(())
        };

        if self.system {
            let host_network = HOST_NETWORK_PATHS
                .iter()
                .filter(|_| self.network == Network::Host);
            for p in SYSTEM_PATHS.iter().chain(host_network) {
                add_same_place(
                    Path::new(p),
                    false,
                    true,
                    &mut binds,
                    &mut links,
                    &mut met,
                    &mut passed,
                )?;
            }
        }
        for (src, dst, writable) in self.user_rules() {
            match (src, dst) {
                (Some(src), None) => {
                    add_same_place(
                        src,
                        writable,
                        false,
                        &mut binds,
                        &mut links,
                        &mut met,
                        &mut passed,
                    )?;
                }
                (Some(src), Some(dst)) => {
                    check_nul(src)?;
                    check_nul(dst)?;
                    if !dst.is_absolute() {
                        return Err(PolicyError::RelativeDestination(dst.to_path_buf()));
                    }
                    let abs = absolute(src).map_err(|e| PolicyError::MissingPath {
                        path: src.to_path_buf(),
                        source: e,
                    })?;
                    let r = resolve(&abs)?;
                    met.extend(r.links);
                    let kind = node_kind(&r.canonical)?;
                    put_bind(&mut binds, normalize(dst), r.canonical, kind, writable);
                }
                (None, Some(dst)) => {
                    check_nul(dst)?;
                    if !dst.is_absolute() {
                        return Err(PolicyError::RelativeDestination(dst.to_path_buf()));
                    }
                    tmpfs.push(normalize(dst));
                }
                (None, None) => {}
            }
        }

        if let Some((src, _, _)) = binds.get(Path::new("/")) {
            return Err(PolicyError::RootBind(src.clone()));
        }
        if self.tmpfs_size == 0 {
            return Err(PolicyError::ZeroTmpfsSize);
        }
        if tmpfs.iter().any(|t| t == Path::new("/")) {
            return Err(PolicyError::RootBind(PathBuf::from("tmpfs")));
        }

        // Writable binds must be writable by the sandbox's host id.
        for (src, _, writable) in binds.values() {
            if *writable {
                let meta = std::fs::metadata(src).map_err(|e| PolicyError::MissingPath {
                    path: src.clone(),
                    source: e,
                })?;
                let ok = if id.privileged {
                    id.host_uid == 0 || writable_by(&meta, id.host_uid, id.host_gid)
                } else {
                    rustix::fs::access(src, rustix::fs::Access::WRITE_OK).is_ok()
                };
                if !ok {
                    return Err(PolicyError::NotWritable {
                        path: src.clone(),
                        uid: id.host_uid,
                        gid: id.host_gid,
                    });
                }
            }
        }

        // Drop a same-place bind whose nearest enclosing bind is a same-place bind of the same
        // mode: that one already shows it, with the same rights.
        // (Ancestor lookups in the map keep this linear in the number of binds.)
        let all = binds.clone();
        binds.retain(|dst, (src, _, writable)| {
            if dst != src {
                return true;
            }
            let nearest = dst
                .ancestors()
                .skip(1)
                .find_map(|a| all.get(a).map(|b| (a, b)));
            !matches!(nearest, Some((d, (s, _, w))) if d == s && *w == *writable)
        });
        // A mount nested in a writable bind guards its host path only while no directory
        // between the two can be renamed: rename(2) of such a directory moves the mount with it
        // and lets the program build a new tree at the old host path. The kernel refuses to
        // rename a mount point (EBUSY), so each directory between a writable bind and a mount
        // nested in it is bound onto itself, writable like its parent.
        let mut pins: Vec<(PathBuf, PathBuf)> = Vec::new();
        for dst in binds.keys().chain(tmpfs.iter()) {
            let outer = dst.ancestors().skip(1).find_map(|a| binds.get_key_value(a));
            let Some((outer_dst, (outer_src, _, true))) = outer else {
                continue;
            };
            for d in dst.ancestors().skip(1).take_while(|a| a != outer_dst) {
                let rest = d
                    .strip_prefix(outer_dst)
                    .expect("an ancestor below the bind");
                let src = outer_src.join(rest);
                // A missing directory fails the nested mount itself, which names it.
                let is_dir = std::fs::symlink_metadata(&src).is_ok_and(|m| m.is_dir());
                if !binds.contains_key(d) && is_dir {
                    pins.push((d.to_path_buf(), src));
                }
            }
        }
        for (dst, src) in pins {
            binds.entry(dst).or_insert((src, NodeKind::Dir, true));
        }
        let covered = |p: &Path| p.ancestors().any(|a| binds.contains_key(a));
        // Symlinks that lie inside a bind are already there.
        links.retain(|l, _| !covered(l));

        let mut ops: Vec<FsOp> = Vec::new();
        for (dst, (src, kind, writable)) in &binds {
            ops.push(FsOp::Bind {
                src: src.clone(),
                dst: dst.clone(),
                kind: *kind,
                writable: *writable,
            });
        }
        for (l, t) in &links {
            ops.push(FsOp::Symlink {
                target: t.clone(),
                path: l.clone(),
            });
        }
        for t in &tmpfs {
            ops.push(FsOp::Tmpfs {
                dst: t.clone(),
                mode: 0o755,
                size: self.tmpfs_size,
            });
        }
        // Private, writable /tmp and home, unless the policy binds something there.
        let home = PathBuf::from(id.home());
        for (p, mode) in [(PathBuf::from("/tmp"), 0o1777), (home.clone(), 0o700)] {
            if !covered(&p) && !tmpfs.contains(&p) {
                ops.push(FsOp::Tmpfs {
                    dst: p,
                    mode,
                    size: self.tmpfs_size,
                });
            }
        }
        // A fresh /proc of the sandbox's pid namespace. Without a pid namespace the kernel
        // refuses a new procfs (it would belong to the host's pid namespace): the host's is
        // bound read-only, showing every host process.
        if self.layers.pid {
            ops.push(FsOp::Proc {
                dst: PathBuf::from("/proc"),
            });
            // Host-wide knobs in /proc are plain files owned by host root, and some files only
            // host root may read (kernel memory, keys, timers). A sandbox running as any other
            // uid is refused them by their mode; one running as host uid 0 (asked for
            // explicitly) gets the knobs read-only and the files covered.
            let host_root = id.privileged && id.host_uid == 0;
            for p in PROC_READ_ONLY.iter().filter(|_| host_root) {
                ops.push(FsOp::ReadOnly {
                    path: PathBuf::from(p),
                });
            }
            // Covered with the host's /dev/null, whatever the policy binds at /dev.
            let masked = PROC_MASKED.iter().filter(|_| host_root);
            for p in PROC_MASKED_ALWAYS.iter().chain(masked) {
                ops.push(FsOp::Mask {
                    path: PathBuf::from(p),
                });
            }
        } else {
            ops.push(FsOp::Bind {
                src: PathBuf::from("/proc"),
                dst: PathBuf::from("/proc"),
                kind: NodeKind::Dir,
                writable: false,
            });
        }
        // A minimal /dev.
        if !covered(Path::new("/dev")) {
            ops.push(FsOp::Tmpfs {
                dst: PathBuf::from("/dev"),
                mode: 0o755,
                size: 64 * 1024,
            });
            for n in DEV_NODES {
                let host = Path::new("/dev").join(n);
                if std::fs::metadata(&host).is_ok() {
                    ops.push(FsOp::Bind {
                        src: host.clone(),
                        dst: host,
                        kind: NodeKind::Device,
                        writable: true,
                    });
                }
            }
            ops.push(FsOp::Devpts {
                dst: PathBuf::from("/dev/pts"),
            });
            ops.push(FsOp::Tmpfs {
                dst: PathBuf::from("/dev/shm"),
                mode: 0o1777,
                size: self.tmpfs_size,
            });
            for (l, t) in [
                ("/dev/ptmx", "pts/ptmx"),
                ("/dev/fd", "/proc/self/fd"),
                ("/dev/stdin", "/proc/self/fd/0"),
                ("/dev/stdout", "/proc/self/fd/1"),
                ("/dev/stderr", "/proc/self/fd/2"),
            ] {
                ops.push(FsOp::Symlink {
                    target: OsString::from(t),
                    path: PathBuf::from(l),
                });
            }
        }
        // Generated /etc files, unless bound.
        let generated: [(&str, String); 4] = [
            (
                "/etc/passwd",
                format!(
                    "root:x:0:0:root:/root:/bin/sh\n{}\
                     nobody:x:65534:65534:nobody:{}:/usr/sbin/nologin\n",
                    if id.inside_uid != 0 && id.inside_uid != 65534 {
                        format!(
                            "{}:x:{}:{}:{}:{}:/bin/sh\n",
                            id.user_name(),
                            id.inside_uid,
                            id.inside_gid,
                            id.user_name(),
                            id.home()
                        )
                    } else {
                        String::new()
                    },
                    if id.inside_uid == 65534 {
                        "/home/nobody"
                    } else {
                        "/nonexistent"
                    }
                ),
            ),
            (
                "/etc/group",
                format!(
                    "root:x:0:\n{}nogroup:x:65534:\n",
                    if id.inside_gid != 0 && id.inside_gid != 65534 {
                        format!("sandbox:x:{}:\n", id.inside_gid)
                    } else {
                        String::new()
                    }
                ),
            ),
            (
                "/etc/hosts",
                format!(
                    "127.0.0.1\tlocalhost {h}\n::1\tlocalhost ip6-localhost ip6-loopback {h}\n",
                    h = self.hostname
                ),
            ),
            ("/etc/hostname", format!("{}\n", self.hostname)),
        ];
        for (p, contents) in generated {
            let p = PathBuf::from(p);
            if !covered(&p) && !links.contains_key(&p) {
                ops.push(FsOp::File {
                    path: p,
                    contents: contents.into_bytes(),
                });
            }
        }

        // Parents before children; mount points' missing ancestors become mkdir operations.
        let mut dirs: BTreeMap<PathBuf, ()> = BTreeMap::new();
        // A policy path with `..` after a symlink passes through the link's target: it must
        // exist inside for the program to open the policy path as given.
        let starts = ops
            .iter()
            .filter_map(|op| op.path().parent())
            .chain(passed.iter().map(PathBuf::as_path));
        for start in starts {
            for d in start.ancestors().take_while(|d| *d != Path::new("/")) {
                dirs.insert(d.to_path_buf(), ());
            }
        }
        let op_paths: std::collections::HashSet<PathBuf> =
            ops.iter().map(|o| o.path().to_path_buf()).collect();
        for d in dirs.keys() {
            let exists_as_op = op_paths.contains(d);
            if !exists_as_op && !links.contains_key(d) {
                ops.push(FsOp::Mkdir {
                    path: d.clone(),
                    mode: 0o755,
                });
            }
        }
        ops.sort_by(|a, b| {
            a.path()
                .components()
                .cmp(b.path().components())
                .then(op_rank(a).cmp(&op_rank(b)))
        });

        let mut visible: Vec<(PathBuf, PathBuf)> = binds
            .iter()
            .map(|(d, (s, _, _))| (d.clone(), s.clone()))
            .collect();
        visible.sort();
        Ok(MountPlan {
            ops,
            visible,
            links,
            host_links: met,
        })
    }
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
