//! Building the mount plan of a policy, step by step: the binds it asks for (resolved on the
//! host, symlinks recreated), checks, the sandbox's own mounts, then parents before children.

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::PolicyError;
use crate::plan::bind::{checked_pin, node_kind, writable_by, Bind, Named};
use crate::plan::identity::Identity;
use crate::plan::mount::{sort_ops, FsOp, MountPlan, NodeKind, TmpfsMount};
use crate::plan::tables::{
    proc_top_level_entries, system_etc, DEV_NODES, HOST_NETWORK_PATHS, PROC_MASKED,
    PROC_MASKED_ALWAYS, PROC_READ_ONLY, SYSTEM_ETC_MASKED, SYSTEM_PATHS,
};
use crate::plan::walk::{absolute, check_nul, normalize, resolve};
use crate::policy::{Network, Pin, Policy, TmpfsLimits, TMPFS_BYTES_PER_INODE};

/// Builds the [`MountPlan`] of a policy for an identity, in the steps of [`PlanBuilder::build`].
pub(crate) struct PlanBuilder<'a> {
    policy: &'a Policy,
    id: &'a Identity,
    /// Binds by sandbox path.
    binds: BTreeMap<PathBuf, Bind>,
    /// Symlinks to recreate (sandbox path -> link text).
    links: BTreeMap<PathBuf, OsString>,
    /// The policy's tmpfs mounts.
    tmpfs: Vec<PathBuf>,
    /// Every host symlink met while resolving, with its text.
    met: Vec<(PathBuf, OsString)>,
    /// Directories the resolution passed through by `..`.
    passed: Vec<PathBuf>,
    /// Files inside the system runtime's binds covered with the host's `/dev/null`.
    masked: Vec<PathBuf>,
    /// Directories inside the system runtime's binds covered with an empty tmpfs.
    masked_dirs: Vec<PathBuf>,
    /// The policy's limits of single tmpfs mounts, by sandbox path (`~` made the home).
    limits: BTreeMap<PathBuf, TmpfsLimits>,
    /// The program's `TMPDIR`, checked to lie in a read-write bind.
    tmpdir: Option<PathBuf>,
    ops: Vec<FsOp>,
}

impl<'a> PlanBuilder<'a> {
    /// Resolves `policy` against the host into the operations the child runs.
    pub(crate) fn build(policy: &'a Policy, id: &'a Identity) -> Result<MountPlan, PolicyError> {
        let mut b = PlanBuilder {
            policy,
            id,
            binds: BTreeMap::new(),
            links: BTreeMap::new(),
            tmpfs: Vec::new(),
            met: Vec::new(),
            passed: Vec::new(),
            masked: Vec::new(),
            masked_dirs: Vec::new(),
            limits: BTreeMap::new(),
            tmpdir: None,
            ops: Vec::new(),
        };
        for (dst, limits) in &policy.tmpfs_limits {
            let dst = if dst == Path::new("~") {
                PathBuf::from(id.home())
            } else {
                sandbox_path(dst)?
            };
            b.limits.insert(dst, *limits);
        }
        b.system_runtime()?;
        b.policy_rules()?;
        b.check()?;
        b.check_tmpdir()?;
        b.drop_redundant_binds();
        b.pin_directories_under_writable_binds();
        b.binds_links_and_tmpfs();
        b.private_tmp_and_home();
        b.proc()?;
        b.dev();
        b.etc_files();
        b.root_links();
        b.check_tmpfs_limits()?;
        b.mount_points();
        Ok(b.finish())
    }

    /// The read-only system runtime, where the policy asks for it (paths the host lacks, and
    /// `/etc` entries that are not world-readable, are left out).
    fn system_runtime(&mut self) -> Result<(), PolicyError> {
        if !self.policy.system {
            return Ok(());
        }
        let host_network = HOST_NETWORK_PATHS
            .iter()
            .filter(|_| self.policy.network == Network::Host);
        for p in SYSTEM_PATHS.iter().chain(host_network) {
            self.bind_same_place(Path::new(p), false, true, Named::No)?;
        }
        for p in system_etc() {
            // A file or directory its owner made private is not meant for everyone, nor is
            // an entry inside an exposed directory (a key among the certificates): those are
            // covered, or the directory is left out when it holds too many of them.
            if std::fs::metadata(&p).is_ok_and(|m| m.mode() & 0o004 != 0) {
                let private = match std::fs::canonicalize(&p) {
                    Ok(real) if real.is_dir() => match crate::plan::etc::private_entries(&real) {
                        Ok(Some(private)) => private,
                        Ok(None) => continue,
                        Err(source) => {
                            return Err(PolicyError::MissingPath { path: real, source });
                        }
                    },
                    _ => Default::default(),
                };
                self.bind_same_place(&p, false, true, Named::No)?;
                self.masked.extend(private.files);
                self.masked_dirs.extend(private.dirs);
                for m in SYSTEM_ETC_MASKED {
                    let secret = p.join(m);
                    if std::fs::symlink_metadata(&secret).is_ok_and(|m| m.is_file()) {
                        self.masked.push(secret);
                    }
                }
            }
        }
        Ok(())
    }

    /// The policy's binds and tmpfs mounts, in the order it added them.
    fn policy_rules(&mut self) -> Result<(), PolicyError> {
        let policy = self.policy;
        for (src, dst, writable, pin) in policy.user_rules() {
            match (src, dst) {
                (Some(src), None) => self.bind_same_place(src, writable, false, Named::Yes(pin))?,
                (Some(src), Some(dst)) => {
                    check_nul(src)?;
                    let dst = sandbox_path(dst)?;
                    let abs = absolute(src).map_err(|e| PolicyError::MissingPath {
                        path: src.to_path_buf(),
                        source: e,
                    })?;
                    let r = resolve(&abs)?;
                    self.met.extend(r.links);
                    let kind = node_kind(&r.path)?;
                    let pin = checked_pin(&abs, &r.path, Named::Yes(pin))?;
                    self.put_bind(dst, r.path, kind, writable, pin);
                }
                (None, Some(dst)) => {
                    let dst = sandbox_path(dst)?;
                    self.tmpfs.push(dst);
                }
                (None, None) => {}
            }
        }
        Ok(())
    }

    /// Binds host path `p` at the same place, with the symlinks on its way recreated. An
    /// `optional` path the host lacks is left out. A policy path (`named`) must still lead to
    /// what it led to when it was named.
    fn bind_same_place(
        &mut self,
        p: &Path,
        writable: bool,
        optional: bool,
        named: Named,
    ) -> Result<(), PolicyError> {
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
        let kind = node_kind(&r.path)?;
        let pin = checked_pin(&abs, &r.path, named)?;
        self.passed.extend(r.passed);
        for (l, t) in r.links {
            self.met.push((l.clone(), t.clone()));
            self.links.insert(l, t);
        }
        self.put_bind(r.path.clone(), r.path, kind, writable, pin);
        Ok(())
    }

    /// Records a bind of `src` at `dst`. A policy is a set: the same bind twice is read-write if
    /// either asks for it; a bind of another source at the same destination replaces the earlier
    /// one, with its own mode.
    fn put_bind(
        &mut self,
        dst: PathBuf,
        src: PathBuf,
        kind: NodeKind,
        writable: bool,
        pin: Option<Pin>,
    ) {
        let bind = Bind {
            src,
            kind,
            writable,
            pin,
        };
        match self.binds.get_mut(&dst) {
            Some(entry) if entry.src == bind.src => {
                entry.writable |= writable;
                entry.pin = entry.pin.or(pin);
            }
            Some(entry) => *entry = bind,
            None => {
                self.binds.insert(dst, bind);
            }
        }
    }

    /// Refuses what cannot work: a bind or tmpfs on `/`, a tmpfs size of 0, a writable bind
    /// the sandbox's host id cannot write.
    fn check(&self) -> Result<(), PolicyError> {
        if let Some(b) = self.binds.get(Path::new("/")) {
            return Err(PolicyError::RootBind(b.src.clone()));
        }
        let zero = self.policy.tmpfs_size == 0
            || self.policy.tmpfs_inodes == Some(0)
            || self
                .limits
                .values()
                .any(|l| l.size == Some(0) || l.inodes == Some(0));
        if zero {
            return Err(PolicyError::ZeroTmpfsSize);
        }
        if self.tmpfs.iter().any(|t| t == Path::new("/")) {
            return Err(PolicyError::RootBind(PathBuf::from("tmpfs")));
        }
        let id = self.id;
        for b in self.binds.values().filter(|b| b.writable) {
            let meta = std::fs::metadata(&b.src).map_err(|e| PolicyError::MissingPath {
                path: b.src.clone(),
                source: e,
            })?;
            let ok = if id.privileged {
                id.host_uid == 0 || writable_by(&meta, id.host_uid, id.host_gid)
            } else {
                rustix::fs::access(&b.src, rustix::fs::Access::WRITE_OK).is_ok()
            };
            if !ok {
                return Err(PolicyError::NotWritable {
                    path: b.src.clone(),
                    uid: id.host_uid,
                    gid: id.host_gid,
                    chosen_id: id.privileged,
                });
            }
        }
        Ok(())
    }

    /// The program's `TMPDIR` must lie in a read-write bind (so that what it makes there can be
    /// renamed into that bind) and be a directory on the host.
    fn check_tmpdir(&mut self) -> Result<(), PolicyError> {
        let Some(dir) = &self.policy.tmpdir else {
            return Ok(());
        };
        let dir = sandbox_path(dir)?;
        let refuse = |reason: &'static str| PolicyError::TmpdirNotInReadWritePath {
            path: dir.clone(),
            reason,
        };
        let (dst, bind) = dir
            .ancestors()
            .find_map(|a| self.binds.get_key_value(a))
            .ok_or_else(|| refuse("no bind of the policy shows it"))?;
        if !bind.writable {
            return Err(refuse("the bind that shows it is read-only"));
        }
        let rest = dir.strip_prefix(dst).expect("an ancestor");
        let host = if rest.as_os_str().is_empty() {
            bind.src.clone()
        } else {
            bind.src.join(rest)
        };
        if !std::fs::symlink_metadata(&host).is_ok_and(|m| m.is_dir()) {
            return Err(refuse(
                "it is not a directory on the host (create it first)",
            ));
        }
        self.tmpdir = Some(dir);
        Ok(())
    }

    /// Limits set for a tmpfs the sandbox does not have are refused.
    fn check_tmpfs_limits(&self) -> Result<(), PolicyError> {
        for dst in self.limits.keys() {
            let mounted = self
                .ops
                .iter()
                .any(|op| matches!(op, FsOp::Tmpfs { dst: d, .. } if d == dst));
            if !mounted {
                return Err(PolicyError::NoSuchTmpfs(dst.clone()));
            }
        }
        Ok(())
    }

    /// Drops a same-place bind whose nearest enclosing bind is a same-place bind of the same
    /// mode: that one already shows it, with the same rights. (Ancestor lookups in the map keep
    /// this linear in the number of binds.)
    fn drop_redundant_binds(&mut self) {
        // A tmpfs of the policy hides what is bound at or below its destination (mounting it
        // over a bound file would fail with ENOTDIR).
        let tmpfs = &self.tmpfs;
        self.binds
            .retain(|dst, _| !tmpfs.iter().any(|t| dst.starts_with(t)));
        let all = self.binds.clone();
        self.binds.retain(|dst, b| {
            if *dst != b.src {
                return true;
            }
            let nearest = dst
                .ancestors()
                .skip(1)
                .find_map(|a| all.get(a).map(|n| (a, n)));
            !matches!(nearest, Some((d, n)) if d == n.src && n.writable == b.writable)
        });
    }

    /// A mount nested in a writable bind guards its host path only while no directory between
    /// the two can be renamed: rename(2) of such a directory moves the mount with it and lets
    /// the program build a new tree at the old host path. The kernel refuses to rename a mount
    /// point (EBUSY), so each directory between a writable bind and a mount nested in it is
    /// bound onto itself, writable like its parent.
    fn pin_directories_under_writable_binds(&mut self) {
        let mut pins: Vec<(PathBuf, PathBuf)> = Vec::new();
        for dst in self.binds.keys().chain(self.tmpfs.iter()) {
            let outer = dst
                .ancestors()
                .skip(1)
                .find_map(|a| self.binds.get_key_value(a));
            let Some((outer_dst, outer)) = outer.filter(|(_, b)| b.writable) else {
                continue;
            };
            for d in dst.ancestors().skip(1).take_while(|a| a != outer_dst) {
                let rest = d
                    .strip_prefix(outer_dst)
                    .expect("an ancestor below the bind");
                let src = outer.src.join(rest);
                // A missing directory fails the nested mount itself, which names it.
                let is_dir = std::fs::symlink_metadata(&src).is_ok_and(|m| m.is_dir());
                if !self.binds.contains_key(d) && is_dir {
                    pins.push((d.to_path_buf(), src));
                }
            }
        }
        for (dst, src) in pins {
            self.binds.entry(dst).or_insert(Bind {
                src,
                kind: NodeKind::Dir,
                writable: true,
                pin: None,
            });
        }
        // Symlinks that lie inside a bind are already there.
        let binds = &self.binds;
        self.links
            .retain(|l, _| !l.ancestors().any(|a| binds.contains_key(a)));
    }

    /// Whether a bind shows `p` (it is a bind or lies inside one).
    fn covered(&self, p: &Path) -> bool {
        p.ancestors().any(|a| self.binds.contains_key(a))
    }

    /// The binds, the recreated symlinks and the policy's tmpfs mounts.
    fn binds_links_and_tmpfs(&mut self) {
        for (dst, b) in &self.binds {
            self.ops.push(FsOp::Bind {
                src: b.src.clone(),
                dst: dst.clone(),
                kind: b.kind,
                writable: b.writable,
                pin: b.pin,
            });
        }
        for (l, t) in &self.links {
            self.ops.push(FsOp::Symlink {
                target: t.clone(),
                path: l.clone(),
            });
        }
        // A cover goes where the host's own file is shown (not where a bind of the policy put
        // something else), once.
        let host_shown = |p: &PathBuf| {
            p.ancestors()
                .find_map(|a| self.binds.get(a).map(|b| (a, b)))
                .is_some_and(|(dst, b)| dst == b.src)
        };
        let mut files: Vec<PathBuf> = self
            .masked
            .iter()
            .filter(|p| host_shown(p))
            .cloned()
            .collect();
        files.sort();
        files.dedup();
        for path in files {
            self.ops.push(FsOp::Mask { path });
        }
        for path in self.masked_dirs.iter().filter(|p| host_shown(p)) {
            self.ops.push(FsOp::MaskDir { path: path.clone() });
        }
        for t in self.tmpfs.clone() {
            let op = self.tmpfs_op(t, 0o755);
            self.ops.push(op);
        }
    }

    /// A tmpfs of the sandbox's own at `dst`, with its limits: those set for it, else the
    /// policy's defaults (`size / TMPFS_BYTES_PER_INODE` inodes).
    fn tmpfs_op(&self, dst: PathBuf, mode: u32) -> FsOp {
        let set = self.limits.get(&dst).copied().unwrap_or_default();
        let size = set.size.unwrap_or(self.policy.tmpfs_size);
        let inodes = set
            .inodes
            .or(self.policy.tmpfs_inodes)
            .unwrap_or((size / TMPFS_BYTES_PER_INODE).max(1024));
        FsOp::Tmpfs {
            dst,
            mode,
            size,
            inodes,
        }
    }

    /// Private, writable /tmp and home, unless the policy binds something there.
    fn private_tmp_and_home(&mut self) {
        let home = PathBuf::from(self.id.home());
        for (p, mode) in [(PathBuf::from("/tmp"), 0o1777), (home, 0o700)] {
            if !self.covered(&p) && !self.tmpfs.contains(&p) {
                let op = self.tmpfs_op(p, mode);
                self.ops.push(op);
            }
        }
    }

    /// A fresh /proc of the sandbox's pid namespace. Without a pid namespace the kernel refuses
    /// a new procfs (it would belong to the host's pid namespace): the host's is bound
    /// read-only, showing every host process.
    fn proc(&mut self) -> Result<(), PolicyError> {
        // Where the kernel refuses a fresh procfs and the filesystem is best effort: none.
        if self.policy.no_proc.is_some() {
            return Ok(());
        }
        if !self.policy.layers.pid {
            self.ops.push(FsOp::Bind {
                src: PathBuf::from("/proc"),
                dst: PathBuf::from("/proc"),
                kind: NodeKind::Dir,
                writable: false,
                pin: None,
            });
            return Ok(());
        }
        self.ops.push(FsOp::Proc {
            dst: PathBuf::from("/proc"),
        });
        // Host-wide knobs in /proc are plain files owned by host root, and some files only
        // host root may read (kernel memory, keys, timers). A sandbox running as any other
        // uid is refused them by their mode; one running as host uid 0 (asked for
        // explicitly) gets the knobs read-only and the files covered.
        let host_root = self.id.privileged && self.id.host_uid == 0;
        for p in PROC_READ_ONLY.iter().filter(|_| host_root) {
            self.ops.push(FsOp::ReadOnly {
                path: PathBuf::from(p),
            });
        }
        // The other entries of /proc's top level that are not a process's: their mode and
        // owner belong to the kernel's one entry shared by every procfs of the host, which
        // host uid 0 (their owner) could chmod or chown for the whole host.
        // Not listed (no descriptor left): the spawn fails rather than leave them writable.
        if host_root {
            let entries = proc_top_level_entries().map_err(|source| PolicyError::MissingPath {
                path: PathBuf::from("/proc"),
                source,
            })?;
            for p in entries {
                self.ops.push(FsOp::ReadOnly { path: p });
            }
        }
        // Covered (read-only) with the host's /dev/null, whatever the policy binds at /dev.
        let masked = PROC_MASKED.iter().filter(|_| host_root);
        for p in PROC_MASKED_ALWAYS.iter().chain(masked) {
            self.ops.push(FsOp::Mask {
                path: PathBuf::from(p),
            });
        }
        Ok(())
    }

    /// A minimal /dev, unless the policy binds one.
    fn dev(&mut self) {
        if self.covered(Path::new("/dev")) {
            return;
        }
        self.ops.push(FsOp::Tmpfs {
            dst: PathBuf::from("/dev"),
            mode: 0o755,
            size: 64 * 1024,
            inodes: 1024,
        });
        for n in DEV_NODES {
            let host = Path::new("/dev").join(n);
            if std::fs::metadata(&host).is_ok() {
                self.ops.push(FsOp::Bind {
                    src: host.clone(),
                    dst: host,
                    kind: NodeKind::Device,
                    writable: true,
                    pin: None,
                });
            }
        }
        self.ops.push(FsOp::Devpts {
            dst: PathBuf::from("/dev/pts"),
            max: self.policy.max_ptys,
        });
        let shm = self.tmpfs_op(PathBuf::from("/dev/shm"), 0o1777);
        self.ops.push(shm);
        for (l, t) in [
            ("/dev/ptmx", "pts/ptmx"),
            ("/dev/fd", "/proc/self/fd"),
            ("/dev/stdin", "/proc/self/fd/0"),
            ("/dev/stdout", "/proc/self/fd/1"),
            ("/dev/stderr", "/proc/self/fd/2"),
        ] {
            self.ops.push(FsOp::Symlink {
                target: OsString::from(t),
                path: PathBuf::from(l),
            });
        }
    }

    /// Generated /etc files (users, groups, host name), unless bound.
    fn etc_files(&mut self) {
        let id = self.id;
        // An empty name keeps the caller's: the generated files name that.
        let hostname = match self.policy.hostname.as_str() {
            "" => rustix::system::uname()
                .nodename()
                .to_string_lossy()
                .into_owned(),
            name => name.to_string(),
        };
        // The sandbox's own user gets a login shell (tmux, vim's `:!` and `script` run it);
        // nobody keeps nologin unless it is the sandbox's user.
        let user = format!(
            "{}:x:{}:{}:{}:{}:/bin/sh\n",
            id.user_name(),
            id.inside_uid,
            id.inside_gid,
            id.user_name(),
            id.home()
        );
        let mut passwd = String::from("root:x:0:0:root:/root:/bin/sh\n");
        if id.inside_uid != 0 {
            passwd.push_str(&user);
        }
        if id.inside_uid != 65534 {
            passwd.push_str("nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
        }
        let generated: [(&str, String); 4] = [
            ("/etc/passwd", passwd),
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
                    h = hostname
                ),
            ),
            ("/etc/hostname", format!("{hostname}\n")),
        ];
        for (p, contents) in generated {
            let p = PathBuf::from(p);
            if !self.covered(&p) && !self.links.contains_key(&p) {
                self.ops.push(FsOp::File {
                    path: p,
                    contents: contents.into_bytes(),
                });
            }
        }
        // A machine id of the sandbox's own, new for each (D-Bus and systemd's libraries need
        // one; the host's identifies the host).
        let machine_id = PathBuf::from("/etc/machine-id");
        if !self.covered(&machine_id) && !self.links.contains_key(&machine_id) {
            self.ops.push(FsOp::MachineId { path: machine_id });
        }
    }

    /// The host root's symlinks (`/bin`, `/lib64` and the like on a merged-/usr host) whose
    /// target the sandbox shows, with or without the system runtime: a mount namespace does not
    /// follow symlinks, so with `/usr` bound alone the ELF interpreter
    /// `/lib64/ld-linux-x86-64.so.2` (and the `/lib` it links to) would be missing. A link is
    /// recreated when its target is bound (or lies in a bind, or holds one) and nothing of the
    /// plan is at its name.
    fn root_links(&mut self) {
        let Ok(entries) = std::fs::read_dir("/") else {
            return;
        };
        let used: Vec<PathBuf> = self.ops.iter().map(|o| o.path().to_path_buf()).collect();
        let mut found = Vec::new();
        for e in entries.flatten() {
            let path = Path::new("/").join(e.file_name());
            if !e.file_type().is_ok_and(|t| t.is_symlink())
                || self.links.contains_key(&path)
                || self.covered(&path)
                || used.iter().any(|u| u.starts_with(&path))
            {
                continue;
            }
            let Ok(text) = std::fs::read_link(&path) else {
                continue;
            };
            let Ok(target) = resolve(&path) else {
                continue;
            };
            let shown = self.covered(&target.path)
                || self.binds.keys().any(|dst| dst.starts_with(&target.path));
            if shown && target.path != Path::new("/") {
                found.push((path, text.into_os_string()));
            }
        }
        for (path, text) in found {
            self.met.push((path.clone(), text.clone()));
            self.ops.push(FsOp::Symlink {
                target: text.clone(),
                path: path.clone(),
            });
            self.links.insert(path, text);
        }
    }

    /// Mount points' missing ancestors become mkdir operations. A policy path with `..` after
    /// a symlink passes through the link's target: it must exist inside for the program to
    /// open the policy path as given.
    fn mount_points(&mut self) {
        let mut dirs: BTreeMap<PathBuf, ()> = BTreeMap::new();
        let starts = self
            .ops
            .iter()
            .filter_map(|op| op.path().parent())
            .chain(self.passed.iter().map(PathBuf::as_path));
        for start in starts {
            for d in start.ancestors().take_while(|d| *d != Path::new("/")) {
                dirs.insert(d.to_path_buf(), ());
            }
        }
        let op_paths: HashSet<PathBuf> = self.ops.iter().map(|o| o.path().to_path_buf()).collect();
        for d in dirs.keys() {
            if !op_paths.contains(d) && !self.links.contains_key(d) {
                self.ops.push(FsOp::Mkdir {
                    path: d.clone(),
                    mode: 0o755,
                });
            }
        }
    }

    /// The operations in execution order, and what spawning needs to know of the binds.
    fn finish(self) -> MountPlan {
        let mut ops = self.ops;
        sort_ops(&mut ops);
        let mut visible: Vec<(PathBuf, PathBuf)> = self
            .binds
            .iter()
            .map(|(d, b)| (d.clone(), b.src.clone()))
            .collect();
        visible.sort();
        // The sandbox's own tmpfs mounts a program can fill (not /dev).
        let tmpfs = ops
            .iter()
            .filter_map(|op| match op {
                FsOp::Tmpfs {
                    dst, size, inodes, ..
                } if dst != Path::new("/dev") => Some(TmpfsMount {
                    path: dst.clone(),
                    size: *size,
                    inodes: *inodes,
                }),
                _ => None,
            })
            .collect();
        MountPlan {
            ops,
            visible,
            links: self.links,
            host_links: self.met,
            tmpfs,
            tmpdir: self.tmpdir,
        }
    }
}

/// A sandbox path of the policy, normalized: a relative one resolves against the caller's
/// working directory (as the host paths do, and as the CLI resolves its own).
pub(crate) fn sandbox_path(p: &Path) -> Result<PathBuf, PolicyError> {
    check_nul(p)?;
    if p.is_absolute() {
        return Ok(normalize(p));
    }
    match std::env::current_dir() {
        Ok(cwd) => Ok(normalize(&cwd.join(p))),
        Err(_) => Err(PolicyError::RelativeDestination(p.to_path_buf())),
    }
}
