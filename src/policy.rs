//! What the sandbox may see and do, and how that becomes a mount plan.
//!
//! A [`Policy`] is a set of rules: paths bound read-only or read-write, tmpfs mounts, the network
//! mode and the identity. [`Policy::mount_plan`] resolves it against the host (canonical paths,
//! symlinks recreated, parents before children, duplicates merged) into the list of operations the
//! sandbox's first process runs. All of this happens in the parent; nothing here runs after
//! `clone3`.

use std::collections::BTreeMap;
use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

use crate::error::PolicyError;

/// The sandbox's network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Network {
    /// A new, empty network namespace (network_namespaces(7)) with only the loopback interface,
    /// brought up with `127.0.0.1` and `::1`. Nothing outside the sandbox is reachable.
    #[default]
    None,
    /// The host's network namespace: the program can reach whatever the caller can.
    Host,
}

/// Default size limit of each tmpfs the sandbox gets (`/tmp`, `/dev/shm`, `$HOME`, and the
/// ones added with [`Policy::tmpfs`]): 256 MiB.
pub const DEFAULT_TMPFS_SIZE: u64 = 256 * 1024 * 1024;

/// One rule of the filesystem view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rule {
    /// Bind `src` at `dst` (`None`: the same place).
    Bind {
        src: PathBuf,
        dst: Option<PathBuf>,
        writable: bool,
    },
    /// A fresh tmpfs at `dst`.
    Tmpfs { dst: PathBuf },
}

/// A sandbox policy: what the program can see and do.
///
/// The default policy is the secure default: a read-only system runtime (see [`Policy::system`]),
/// a private `/tmp`, `/dev/shm` and home directory, a fresh `/proc`, a minimal `/dev`, no network,
/// nothing of the caller's environment and no capability.
///
/// The builder methods only record rules: paths are resolved and checked when the policy is
/// compiled ([`Policy::compile`], or the spawn that uses it).
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use tokio_sandbox::{Command, Limits, Policy};
/// let mut policy = Policy::new();
/// policy
///     .read_only("/opt/tool")
///     .read_write("/srv/out")
///     .limits(Limits { cpu_seconds: Some(10), ..Limits::default() });
/// let status = Command::new("/opt/tool/run").policy(policy).status().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub(crate) system: bool,
    pub(crate) rules: Vec<Rule>,
    pub(crate) network: Network,
    pub(crate) uid: Option<u32>,
    pub(crate) gid: Option<u32>,
    pub(crate) tmpfs_size: u64,
    pub(crate) allow_retained_groups: bool,
    pub(crate) new_session: bool,
    pub(crate) hostname: String,
    pub(crate) layers: Layers,
    pub(crate) limits: Limits,
    pub(crate) requirements: Requirements,
    pub(crate) extra_seccomp: Vec<std::sync::Arc<seccompiler::BpfProgram>>,
    /// TCP ports the sandbox may bind / connect to (`None`: not restricted).
    pub(crate) tcp_bind: Option<Vec<u16>>,
    pub(crate) tcp_connect: Option<Vec<u16>>,
}

/// A property of the sandbox that one or more layers enforce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Property {
    /// Only the policy's paths are visible/accessible: the mount namespace, Landlock, or both.
    Filesystem,
    /// No network ([`Network::None`]): a network namespace only (Landlock's TCP rules do not
    /// cover UDP).
    Network,
    /// The sandbox sees only its own processes and dies as a whole: a pid namespace.
    Processes,
    /// The seccomp filter.
    Syscalls,
}

/// Whether a property must be enforced for a spawn to go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Requirement {
    /// Spawning fails with [`SpawnError::Unsupported`](crate::SpawnError::Unsupported) when no
    /// layer can enforce it (the default).
    #[default]
    Required,
    /// Spawning goes ahead without it, and the enforcement report says so.
    BestEffort,
}

/// The requirement for each property.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Requirements {
    pub filesystem: Requirement,
    pub network: Requirement,
    pub processes: Requirement,
    pub syscalls: Requirement,
}

impl Requirements {
    pub(crate) fn get(&self, p: Property) -> Requirement {
        match p {
            Property::Filesystem => self.filesystem,
            Property::Network => self.network,
            Property::Processes => self.processes,
            Property::Syscalls => self.syscalls,
        }
    }
}

/// Resource limits of the sandbox, set with prlimit(2) in its first process, inside its own
/// user namespace, so they bound the sandbox alone. `None` leaves the caller's limit.
///
/// Without a cgroup these rlimits are what bounds a sandbox; each has its semantics:
/// - `cpu_seconds` (`RLIMIT_CPU`): CPU time per process; `SIGXCPU` at the limit, `SIGKILL` one
///   second later.
/// - `address_space` (`RLIMIT_AS`): virtual memory per process in bytes. It is not a memory
///   limit: runtimes that reserve large address ranges (the JVM, Node, Go) fail at start under
///   a few hundred MiB even when little is used (case C42).
/// - `file_size` (`RLIMIT_FSIZE`): largest file a process may write, in bytes (`SIGXFSZ`).
/// - `open_files` (`RLIMIT_NOFILE`): file descriptors per process.
/// - `processes` (`RLIMIT_NPROC`, default 1024): processes and threads of the sandbox's uid.
///   Since Linux 5.14 it is counted per user namespace, so it bounds this sandbox's processes
///   alone (a fork bomb stops there). Host uid 0 is exempt: a root caller's sandbox asked to
///   run as host uid 0 is not bounded by it, and the enforcement report says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// CPU seconds per process.
    pub cpu_seconds: Option<u64>,
    /// Virtual address space per process, in bytes.
    pub address_space: Option<u64>,
    /// Largest file written, in bytes.
    pub file_size: Option<u64>,
    /// Open file descriptors per process.
    pub open_files: Option<u64>,
    /// Processes and threads of the sandbox.
    pub processes: Option<u64>,
    /// Memory in bytes. With a delegated cgroup v2 memory controller this is the sandbox's
    /// `memory.max` (everything it uses, shared memory and its tmpfs files included).
    /// Elsewhere it is backed by `RLIMIT_AS`, which bounds each process's address space only:
    /// memory in tmpfs files or memfds is not counted, and runtimes that reserve large ranges
    /// break (see `address_space`); the status says which applied. Ignored when
    /// `address_space` is set too.
    pub memory: Option<u64>,
    /// CPU bandwidth for the whole sandbox in thousandths of a CPU (`500`: half a CPU): the
    /// cgroup's `cpu.max`. It needs a delegated cgroup v2 cpu controller; without one,
    /// spawning fails with [`SpawnError::Unsupported`](crate::SpawnError::Unsupported) (no
    /// rlimit bounds CPU bandwidth).
    pub cpu_millis: Option<u32>,
}

/// The default process limit of a sandbox.
pub const DEFAULT_PROCESS_LIMIT: u64 = 1024;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            cpu_seconds: None,
            address_space: None,
            file_size: None,
            open_files: None,
            processes: Some(DEFAULT_PROCESS_LIMIT),
            memory: None,
            cpu_millis: None,
        }
    }
}

impl Limits {
    /// `(resource, soft, hard)` for prlimit(2).
    pub(crate) fn rlimits(&self) -> Vec<(u32, u64, u64)> {
        let mut v = Vec::new();
        if let Some(s) = self.cpu_seconds {
            // SIGKILL one second past SIGXCPU; RLIM_INFINITY (u64::MAX) stays unlimited.
            v.push((libc::RLIMIT_CPU, s, s.saturating_add(1)));
        }
        for (res, val) in [
            (libc::RLIMIT_AS, self.address_space.or(self.memory)),
            (libc::RLIMIT_FSIZE, self.file_size),
            (libc::RLIMIT_NOFILE, self.open_files),
            (libc::RLIMIT_NPROC, self.processes),
        ] {
            if let Some(x) = val {
                v.push((res, x, x));
            }
        }
        v
    }
}

/// Which isolation layers a sandbox uses. All are on by default; switching one off weakens the
/// sandbox and exists to measure each layer's cost (see `benches/`) and for hosts that lack a
/// mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Layers {
    /// A user namespace, which every other namespace here needs. Without it (hosts that
    /// forbid user namespaces) the sandbox is Landlock, seccomp and `no_new_privs` alone: the
    /// policy's paths become Landlock rules on the host paths, and what only namespaces give
    /// (private `/tmp` and home, a fresh `/proc`, hidden host pids, no network, killing the
    /// whole tree) is not enforced; the enforcement report lists each.
    pub user_namespace: bool,
    /// A mount namespace with the tmpfs root, binds, `/proc`, `/dev` and `pivot_root`. When off
    /// the program sees the host's filesystem (and Landlock, which is added to the new root's
    /// paths, must be off too).
    pub mount: bool,
    /// A pid namespace: the sandbox's processes see only each other and die with its init.
    pub pid: bool,
    /// The Landlock ruleset built from the policy.
    pub landlock: bool,
    /// The default seccomp filter.
    pub seccomp: bool,
}

impl Default for Layers {
    fn default() -> Self {
        Layers {
            user_namespace: true,
            mount: true,
            pid: true,
            landlock: true,
            seccomp: true,
        }
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            system: true,
            rules: Vec::new(),
            network: Network::None,
            uid: None,
            gid: None,
            tmpfs_size: DEFAULT_TMPFS_SIZE,
            allow_retained_groups: false,
            new_session: true,
            hostname: "sandbox".into(),
            layers: Layers::default(),
            limits: Limits::default(),
            requirements: Requirements::default(),
            extra_seccomp: Vec::new(),
            tcp_bind: None,
            tcp_connect: None,
        }
    }
}

impl Policy {
    /// The default policy (see the type's docs).
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the read-only system runtime is visible (default `true`): `/usr`, the host's
    /// `/bin`, `/sbin`, `/lib*` (recreated as symlinks on merged-/usr hosts), and from `/etc`
    /// `ld.so.cache`, `ld.so.conf[.d]`, `alternatives`, `localtime` and `nsswitch.conf`; with
    /// [`Network::Host`] also `resolv.conf`, `hosts`, `ssl` and `ca-certificates`.
    /// `false` starts from an empty root (only `/proc`, `/dev`, `/tmp`, home and generated
    /// `/etc` files).
    ///
    /// ```
    /// use tokio_sandbox::Policy;
    /// // A static binary needs nothing of the host.
    /// let mut policy = Policy::new();
    /// policy.system(false).read_only("/opt/static-tool");
    /// ```
    pub fn system(&mut self, enabled: bool) -> &mut Self {
        self.system = enabled;
        self
    }

    /// Makes `path` visible read-only at the same place. A relative path resolves against the
    /// caller's working directory; symlinks on the way are recreated inside. A path that does
    /// not exist fails the spawn with [`PolicyError::MissingPath`].
    ///
    /// ```
    /// use tokio_sandbox::Policy;
    /// let mut policy = Policy::new();
    /// policy.read_only("/opt/data").read_only("config.toml");
    /// ```
    pub fn read_only(&mut self, path: impl AsRef<Path>) -> &mut Self {
        self.rules.push(Rule::Bind {
            src: path.as_ref().to_path_buf(),
            dst: None,
            writable: false,
        });
        self
    }

    /// Makes `path` visible read-write at the same place; writes reach the host. Resolved as in
    /// [`Policy::read_only`]; a path the sandbox's host uid/gid cannot write fails the spawn
    /// with [`PolicyError::NotWritable`].
    ///
    /// ```
    /// use tokio_sandbox::Policy;
    /// let mut policy = Policy::new();
    /// policy.read_write("/srv/jobs/42/out");
    /// ```
    pub fn read_write(&mut self, path: impl AsRef<Path>) -> &mut Self {
        self.rules.push(Rule::Bind {
            src: path.as_ref().to_path_buf(),
            dst: None,
            writable: true,
        });
        self
    }

    /// Bind-mounts host path `src` at the absolute sandbox path `dst`, read-write when
    /// `writable`. `src` is resolved as in [`Policy::read_only`]; a relative `dst` fails the
    /// spawn with [`PolicyError::RelativeDestination`], and `dst` `/` with
    /// [`PolicyError::RootBind`].
    ///
    /// ```
    /// use tokio_sandbox::Policy;
    /// let mut policy = Policy::new();
    /// policy
    ///     .bind("/srv/jobs/42/in", "/input", false)
    ///     .bind("/srv/jobs/42/out", "/output", true);
    /// ```
    pub fn bind(
        &mut self,
        src: impl AsRef<Path>,
        dst: impl AsRef<Path>,
        writable: bool,
    ) -> &mut Self {
        self.rules.push(Rule::Bind {
            src: src.as_ref().to_path_buf(),
            dst: Some(dst.as_ref().to_path_buf()),
            writable,
        });
        self
    }

    /// Mounts a fresh, empty tmpfs (tmpfs(5)) at the absolute sandbox path `dst`, limited to
    /// [`Policy::tmpfs_size`] bytes; its contents are gone when the sandbox ends. A relative
    /// `dst` fails the spawn with [`PolicyError::RelativeDestination`], and `dst` `/` with
    /// [`PolicyError::RootBind`].
    ///
    /// ```
    /// use tokio_sandbox::Policy;
    /// let mut policy = Policy::new();
    /// policy.tmpfs("/scratch").tmpfs_size(1024 * 1024 * 1024); // 1 GiB each
    /// ```
    pub fn tmpfs(&mut self, dst: impl AsRef<Path>) -> &mut Self {
        self.rules.push(Rule::Tmpfs {
            dst: dst.as_ref().to_path_buf(),
        });
        self
    }

    /// The network mode (default [`Network::None`]).
    pub fn network(&mut self, network: Network) -> &mut Self {
        self.network = network;
        self
    }

    /// The uid the program runs as. For an unprivileged caller this is the id *inside* the
    /// sandbox (mapped to the caller's own uid on the host, default: the caller's uid). For a
    /// root caller it is the host uid the sandbox runs as, shown unchanged inside (default
    /// 65534, `nobody`; 0 runs as host root and must be asked for explicitly).
    pub fn uid(&mut self, uid: u32) -> &mut Self {
        self.uid = Some(uid);
        self
    }

    /// The gid, with the same meaning as [`Policy::uid`] (default: the uid chosen with
    /// [`Policy::uid`], else the caller's gid, or 65534 for a root caller).
    pub fn gid(&mut self, gid: u32) -> &mut Self {
        self.gid = Some(gid);
        self
    }

    /// Size limit in bytes of each tmpfs (default [`DEFAULT_TMPFS_SIZE`]). 0 fails the spawn
    /// with [`PolicyError::ZeroTmpfsSize`] (tmpfs(5) would take it as no limit).
    pub fn tmpfs_size(&mut self, bytes: u64) -> &mut Self {
        self.tmpfs_size = bytes;
        self
    }

    /// Allows spawning although the (unprivileged) caller has supplementary groups, which stay
    /// in force inside the sandbox because an unprivileged user namespace must deny
    /// `setgroups(2)` (user_namespaces(7)). Default `false`: spawning fails with
    /// [`PolicyError::RetainedGroups`].
    pub fn allow_retained_groups(&mut self, allow: bool) -> &mut Self {
        self.allow_retained_groups = allow;
        self
    }

    /// Whether the program runs in a new session (setsid(2)), detached from the caller's
    /// controlling terminal (default `true`; this stops `TIOCSTI` on an inherited terminal).
    /// `false` is for interactive use.
    pub fn new_session(&mut self, enabled: bool) -> &mut Self {
        self.new_session = enabled;
        self
    }

    /// The hostname inside (default `sandbox`).
    pub fn hostname(&mut self, name: impl Into<String>) -> &mut Self {
        self.hostname = name.into();
        self
    }

    /// The resource limits in force.
    pub fn current_limits(&self) -> Limits {
        self.limits
    }

    /// Resource limits (default: at most [`DEFAULT_PROCESS_LIMIT`] processes). See [`Limits`].
    /// Replaces every limit: start from [`Limits::default`] to keep the default process limit.
    ///
    /// ```
    /// use tokio_sandbox::{Limits, Policy};
    /// let mut policy = Policy::new();
    /// policy.limits(Limits {
    ///     cpu_seconds: Some(10),
    ///     memory: Some(512 * 1024 * 1024),
    ///     processes: Some(64),
    ///     ..Limits::default()
    /// });
    /// assert_eq!(policy.current_limits().processes, Some(64));
    /// ```
    pub fn limits(&mut self, limits: Limits) -> &mut Self {
        self.limits = limits;
        self
    }

    /// Whether `property` must be enforced ([`Requirement::Required`], the default) or may be
    /// left out on a host that lacks every layer for it ([`Requirement::BestEffort`]). A host
    /// without usable user namespaces (Docker's default profile, AppArmor on Ubuntu 24.04)
    /// runs a sandbox on Landlock alone only when `Network` and `Processes` are best effort.
    /// [`Child::enforcement`](crate::Child::enforcement) reports what was left out.
    ///
    /// ```
    /// use tokio_sandbox::{Policy, Property, Requirement};
    /// let mut policy = Policy::new();
    /// policy
    ///     .require(Property::Network, Requirement::BestEffort)
    ///     .require(Property::Processes, Requirement::BestEffort);
    /// ```
    pub fn require(&mut self, property: Property, requirement: Requirement) -> &mut Self {
        match property {
            Property::Filesystem => self.requirements.filesystem = requirement,
            Property::Network => self.requirements.network = requirement,
            Property::Processes => self.requirements.processes = requirement,
            Property::Syscalls => self.requirements.syscalls = requirement,
        }
        self
    }

    /// With [`Network::Host`]: the sandbox may `bind(2)` TCP sockets only to the ports
    /// allowed this way (Landlock ABI 4; each call adds a port). UDP and other protocols stay
    /// unrestricted: "no network" is [`Network::None`]. A `listen(2)` on a socket never bound
    /// gets an ephemeral port from the kernel without a bind check. With any allow-list, MPTCP
    /// sockets and TCP Fast Open (`MSG_FASTOPEN`), which Landlock does not check, fail with
    /// `EPERM` (a seccomp filter). Without Landlock ABI 4, spawning fails
    /// with [`SpawnError::Unsupported`](crate::SpawnError::Unsupported) unless
    /// [`Property::Network`] is best effort.
    pub fn allow_tcp_bind(&mut self, port: u16) -> &mut Self {
        self.tcp_bind.get_or_insert_with(Vec::new).push(port);
        self
    }

    /// With [`Network::Host`]: the sandbox may `connect(2)` TCP sockets only to the ports
    /// allowed this way (Landlock ABI 4; each call adds a port). Without Landlock ABI 4, as
    /// for [`Policy::allow_tcp_bind`].
    ///
    /// ```
    /// use tokio_sandbox::{Network, Policy};
    /// let mut policy = Policy::new();
    /// policy.network(Network::Host).allow_tcp_connect(443);
    /// ```
    pub fn allow_tcp_connect(&mut self, port: u16) -> &mut Self {
        self.tcp_connect.get_or_insert_with(Vec::new).push(port);
        self
    }

    /// Adds a seccomp filter of the caller's on top of the default one, e.g. compiled with
    /// seccompiler (`BpfProgram::try_from(SeccompFilter::new(..))`). It is installed after
    /// the default filter; for each system call the kernel applies the most restrictive
    /// action of all filters (seccomp(2)), so it can deny more but allow nothing the default
    /// filter denies. Its length adds to the install time (about 0.6 µs per instruction).
    ///
    /// ```
    /// # fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, TargetArch};
    /// use tokio_sandbox::Policy;
    /// // socket(2) fails with EPERM; everything else is left to the default filter.
    /// let filter = SeccompFilter::new(
    ///     [(libc::SYS_socket, vec![])].into_iter().collect(),
    ///     SeccompAction::Allow,
    ///     SeccompAction::Errno(libc::EPERM as u32),
    ///     TargetArch::x86_64,
    /// )?;
    /// let mut policy = Policy::new();
    /// policy.seccomp_filter(BpfProgram::try_from(filter)?);
    /// # Ok(()) }
    /// # demo().unwrap();
    /// ```
    pub fn seccomp_filter(&mut self, program: seccompiler::BpfProgram) -> &mut Self {
        self.extra_seccomp.push(std::sync::Arc::new(program));
        self
    }

    /// Which isolation layers are used (default: all). See [`Layers`].
    ///
    /// ```
    /// use tokio_sandbox::{Layers, Policy};
    /// let mut policy = Policy::new();
    /// policy.layers(Layers { seccomp: false, ..Layers::default() });
    /// ```
    pub fn layers(&mut self, layers: Layers) -> &mut Self {
        self.layers = layers;
        self
    }

    /// Resolves the policy once for reuse by many spawns (see [`CompiledPolicy`](crate::CompiledPolicy)
    /// and [`Command::compiled_policy`](crate::Command::compiled_policy)).
    ///
    /// # Errors
    /// As [`CompiledPolicy::new`](crate::CompiledPolicy::new).
    pub fn compile(&self) -> Result<crate::CompiledPolicy, crate::SpawnError> {
        crate::CompiledPolicy::new(self)
    }

    /// Whether every host path of the policy is absolute (its resolution does not depend on
    /// the caller's working directory).
    pub(crate) fn all_absolute(&self) -> bool {
        self.rules.iter().all(|r| match r {
            Rule::Bind { src, .. } => src.is_absolute(),
            Rule::Tmpfs { .. } => true,
        })
    }

    /// All bind and tmpfs rules in order of addition, as `(host source or None for tmpfs,
    /// sandbox destination, writable)`.
    pub(crate) fn user_rules(&self) -> impl Iterator<Item = (Option<&Path>, Option<&Path>, bool)> {
        self.rules.iter().map(|r| match r {
            Rule::Bind { src, dst, writable } => (Some(src.as_path()), dst.as_deref(), *writable),
            Rule::Tmpfs { dst } => (None, Some(dst.as_path()), true),
        })
    }
}

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

/// The identity the sandbox runs as, decided in the parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Identity {
    /// uid inside the user namespace.
    pub inside_uid: u32,
    pub inside_gid: u32,
    /// uid/gid on the host.
    pub host_uid: u32,
    pub host_gid: u32,
    /// The caller is root: the parent writes the maps and the child switches ids.
    pub privileged: bool,
}

impl Identity {
    pub(crate) fn for_caller(policy: &Policy) -> Identity {
        let euid = rustix::process::geteuid().as_raw();
        let egid = rustix::process::getegid().as_raw();
        if euid == 0 {
            let host_uid = policy.uid.unwrap_or(65534);
            // The gid follows a chosen uid unless chosen too.
            let host_gid = policy.gid.unwrap_or(host_uid);
            Identity {
                inside_uid: host_uid,
                inside_gid: host_gid,
                host_uid,
                host_gid,
                privileged: true,
            }
        } else {
            Identity {
                inside_uid: policy.uid.unwrap_or(euid),
                inside_gid: policy.gid.or(policy.uid).unwrap_or(egid),
                host_uid: euid,
                host_gid: egid,
                privileged: false,
            }
        }
    }

    /// The user name of the generated passwd entry.
    pub(crate) fn user_name(&self) -> &'static str {
        match self.inside_uid {
            0 => "root",
            65534 => "nobody",
            _ => "sandbox",
        }
    }

    pub(crate) fn home(&self) -> &'static str {
        match self.inside_uid {
            0 => "/root",
            65534 => "/home/nobody",
            _ => "/home/sandbox",
        }
    }
}

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
