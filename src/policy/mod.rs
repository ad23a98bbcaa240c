//! What the sandbox may see and do: the [`Policy`] builder and its file form.
//!
//! A [`Policy`] is a set of rules: paths bound read-only or read-write, tmpfs mounts, the network
//! mode and the identity. The builder only records them; `crate::plan` resolves them against the
//! host.

use std::path::{Path, PathBuf};

pub(crate) mod file;
mod layers;
mod limits;
mod pin;

pub use layers::Layers;
pub use limits::{Limits, DEFAULT_PROCESS_LIMIT, MIN_DEFAULT_OPEN_FILES};
pub(crate) use pin::Pin;

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

/// Most pseudo-terminals a sandbox may have open at once by default ([`Policy::max_ptys`]).
pub const DEFAULT_MAX_PTYS: u32 = 64;

/// The kernel's ceiling on the ptys of one devpts instance (`NR_UNIX98_PTY_MAX`).
const KERNEL_MAX_PTYS: u32 = 1 << 20;

/// Bytes of a tmpfs's size per inode by default: a tmpfs gets `size / 1024` inodes (262,144 for
/// 256 MiB) unless [`Policy::tmpfs_inodes`] or [`Policy::tmpfs_limits`] says otherwise, so that
/// a tree of small files (one page each) fills the blocks before the inodes and 100,000 empty
/// files fit. Each inode in use costs about 1 KiB of kernel memory that the size does not count
/// (a cgroup charges it to the sandbox), and the extended attributes a program sets on a tmpfs's
/// files (`user.*`, up to 64 KiB each) take the same budget of `inodes × 1 KiB`: so each tmpfs
/// can hold its inode limit in KiB of attribute values in unreclaimable kernel memory on top of
/// its size, which costs the kernel about twice that (256 MiB of values and about 512 MiB of
/// memory per tmpfs by default, 1.5 GiB for the `/tmp`, `/dev/shm` and home of a default
/// sandbox); [`Policy::tmpfs_inodes`] bounds it.
pub const TMPFS_BYTES_PER_INODE: u64 = 1024;

/// The size and inode limits of one tmpfs of the sandbox (tmpfs(5) `size=` and `nr_inodes=`);
/// `None` keeps the policy's default ([`Policy::tmpfs_size`], [`Policy::tmpfs_inodes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TmpfsLimits {
    /// Size limit in bytes (a policy file also takes `"1G"`, with K, M, G or T).
    #[serde(
        with = "crate::size::opt_count",
        skip_serializing_if = "Option::is_none"
    )]
    pub size: Option<u64>,
    /// Most files, directories and symlinks (a policy file also takes `"1M"`).
    #[serde(
        with = "crate::size::opt_count",
        skip_serializing_if = "Option::is_none"
    )]
    pub inodes: Option<u64>,
}

/// One rule of the filesystem view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rule {
    /// Bind `src` at `dst` (`None`: the same place).
    Bind {
        src: PathBuf,
        dst: Option<PathBuf>,
        writable: bool,
        /// What `src` led to when it was named (`None`: nothing then).
        pin: Option<Pin>,
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
/// # Examples
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
    pub(crate) tmpfs_inodes: Option<u64>,
    /// Limits of single tmpfs mounts, by sandbox path (`~`: the home).
    pub(crate) tmpfs_limits: std::collections::BTreeMap<PathBuf, TmpfsLimits>,
    pub(crate) tmpdir: Option<PathBuf>,
    pub(crate) ptrace: bool,
    pub(crate) allow_retained_groups: bool,
    pub(crate) allow_linux_aio: bool,
    pub(crate) max_ptys: u32,
    pub(crate) new_session: bool,
    pub(crate) hostname: String,
    pub(crate) layers: Layers,
    pub(crate) limits: Limits,
    pub(crate) requirements: Requirements,
    pub(crate) extra_seccomp: Vec<std::sync::Arc<seccompiler::BpfProgram>>,
    /// TCP ports the sandbox may bind / connect to (`None`: not restricted).
    pub(crate) tcp_bind: Option<Vec<u16>>,
    pub(crate) tcp_connect: Option<Vec<u16>>,
    /// Set on the Landlock-only form of a policy without network: "no network" is held by a
    /// seccomp filter refusing `socket(2)` (socket pairs stay), as there is no network
    /// namespace.
    pub(crate) no_sockets: bool,
    /// Set where the kernel refuses a fresh procfs and the filesystem is best effort: the
    /// sandbox has no `/proc`; why it is left out.
    pub(crate) no_proc: Option<String>,
}

/// A property of the sandbox that one or more layers enforce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Property {
    /// Only the policy's paths are visible/accessible: the mount namespace, Landlock, or both.
    Filesystem,
    /// No network ([`Network::None`]): a network namespace; where there is none (no usable
    /// user namespaces), a seccomp filter that refuses `socket(2)`, so that no socket reaches
    /// the host's network or its unix sockets (`socketpair(2)` stays). Landlock's TCP rules
    /// alone are not "no network" (they do not cover UDP).
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

/// The requirement for each property (the `[require]` table of a policy file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Requirements {
    pub filesystem: Requirement,
    pub network: Requirement,
    pub processes: Requirement,
    pub syscalls: Requirement,
}

impl Requirements {
    fn set(&mut self, p: Property, requirement: Requirement) {
        match p {
            Property::Filesystem => self.filesystem = requirement,
            Property::Network => self.network = requirement,
            Property::Processes => self.processes = requirement,
            Property::Syscalls => self.syscalls = requirement,
        }
    }

    pub(crate) fn get(&self, p: Property) -> Requirement {
        match p {
            Property::Filesystem => self.filesystem,
            Property::Network => self.network,
            Property::Processes => self.processes,
            Property::Syscalls => self.syscalls,
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
            tmpfs_inodes: None,
            tmpfs_limits: Default::default(),
            tmpdir: None,
            ptrace: true,
            allow_retained_groups: false,
            allow_linux_aio: false,
            max_ptys: DEFAULT_MAX_PTYS,
            new_session: true,
            hostname: "sandbox".into(),
            layers: Layers::default(),
            limits: Limits::default(),
            requirements: Requirements::default(),
            extra_seccomp: Vec::new(),
            tcp_bind: None,
            tcp_connect: None,
            no_sockets: false,
            no_proc: None,
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
    /// what its programs read and holds no secret, where the host has it world-readable:
    /// `ld.so.cache`, `ld.so.conf[.d]`, `alternatives`, `localtime`, `timezone`,
    /// `nsswitch.conf`, `locale.alias`, the netbase tables (`services`, `protocols`, `rpc`,
    /// `ethertypes`), `host.conf`, `gai.conf`, the CA certificates and OpenSSL's configuration
    /// (`ssl/certs`, `ssl/openssl.cnf`, `ca-certificates`, Fedora's `pki/tls/certs`,
    /// `pki/ca-trust/extracted`, `pki/java`, `crypto-policies`; never `ssl/private` or
    /// `pki/*/private`), `mime.types`, `magic`, `manpath.config`, `groff`, `terminfo`,
    /// `inputrc`, `vim`, `gdb`, `fonts`, `X11/rgb.txt`, Maven's `m2.conf`, `logging` and
    /// `toolchains.xml` (not `settings.xml`), the release files, and every `java*` and
    /// `python3*` directory (the JDK reads `conf/security/java.security` through a link into
    /// it); with [`Network::Host`] also `resolv.conf` and `hosts`. Never `shadow`, `ssh`,
    /// `sudoers`, `environment`, `profile`, `gitconfig` or the host's `machine-id`, nor, inside
    /// the directories shown, an entry others may not read: when the policy is compiled each
    /// such file is covered with an empty read-only one and each such directory with an empty
    /// read-only directory (a directory of more than 10,000 entries or 64 private ones is left
    /// out, and directories 8 levels down are covered whole). `false` starts from an empty root (only `/proc`, `/dev`, `/tmp`, home and generated
    /// `/etc` files); the host root's symlinks into what the policy binds (`/lib64` with `/usr`)
    /// are recreated either way.
    ///
    /// # Examples
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
    /// caller's working directory; symlinks on the way are recreated inside. A path that does not
    /// exist fails the spawn with [`PolicyError::MissingPath`](crate::PolicyError::MissingPath).
    ///
    /// The object the path leads to now is pinned (device, inode, type and birth time,
    /// statx(2)): a spawn where it leads to another object (a directory renamed into its place,
    /// a symlink planted on its way) is refused with
    /// [`PolicyError::PathReplaced`](crate::PolicyError::PathReplaced), when the policy is
    /// compiled and again right before the bind is made. A path that does not exist yet is
    /// pinned when the policy is compiled. Naming a path costs one statx(2) call.
    ///
    /// # Examples
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
            pin: Pin::of(path.as_ref()),
        });
        self
    }

    /// Makes `path` visible read-write at the same place; writes reach the host. Resolved and
    /// pinned as in [`Policy::read_only`]; a path the sandbox's host uid/gid cannot write fails the spawn
    /// with [`PolicyError::NotWritable`](crate::PolicyError::NotWritable).
    ///
    /// # Examples
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
            pin: Pin::of(path.as_ref()),
        });
        self
    }

    /// Bind-mounts host path `src` at sandbox path `dst`, read-write when `writable`. `src` is
    /// resolved and pinned as in [`Policy::read_only`]; a relative `dst` resolves against the
    /// caller's working directory too (lexically: the sandbox path is built from scratch). `dst`
    /// `/` fails the spawn with [`PolicyError::RootBind`](crate::PolicyError::RootBind).
    ///
    /// # Examples
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
            pin: Pin::of(src.as_ref()),
        });
        self
    }

    /// Mounts a fresh, empty tmpfs (tmpfs(5)) at sandbox path `dst` (relative: against the
    /// caller's working directory, as for [`Policy::bind`]), limited to [`Policy::tmpfs_size`]
    /// bytes and [`Policy::tmpfs_inodes`] inodes unless [`Policy::tmpfs_limits`] sets its own;
    /// its contents are gone when the sandbox ends. It hides what the policy binds at or below
    /// `dst`, whatever the order of the rules. `dst` `/` fails the spawn with
    /// [`PolicyError::RootBind`](crate::PolicyError::RootBind).
    ///
    /// # Examples
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
    /// root caller it is the host uid the sandbox runs as (default 65534; 0 runs as host root
    /// and must be asked for explicitly), shown unchanged inside.
    ///
    /// One id is never the program's own unless an unprivileged caller asks for it here: the
    /// kernel's overflow uid (`/proc/sys/kernel/overflowuid`, 65534), which is how every owner
    /// the sandbox does not map shows inside. Where the host id would be that id (a root
    /// caller's default, or an unprivileged caller running as 65534), the program runs as 1000
    /// inside (`sandbox`, home `/home/sandbox`), so that host root's files never look like its
    /// own (`test -O`, git's ownership check, `chmod`).
    pub fn uid(&mut self, uid: u32) -> &mut Self {
        self.uid = Some(uid);
        self
    }

    /// The gid, with the same meaning as [`Policy::uid`] (default: the uid chosen with
    /// [`Policy::uid`], else the caller's gid, or 65534 for a root caller; the overflow gid
    /// shows as 1000 inside, as for the uid).
    pub fn gid(&mut self, gid: u32) -> &mut Self {
        self.gid = Some(gid);
        self
    }

    /// Size limit in bytes of each tmpfs (`/tmp`, `/dev/shm`, the home and those of
    /// [`Policy::tmpfs`]; default [`DEFAULT_TMPFS_SIZE`]) that [`Policy::tmpfs_limits`] does not
    /// size on its own. 0 fails the spawn with
    /// [`PolicyError::ZeroTmpfsSize`](crate::PolicyError::ZeroTmpfsSize) (tmpfs(5) would take it as
    /// no limit).
    pub fn tmpfs_size(&mut self, bytes: u64) -> &mut Self {
        self.tmpfs_size = bytes;
        self
    }

    /// Most inodes (files, directories, symlinks) of each tmpfs that [`Policy::tmpfs_limits`]
    /// does not set on its own (default: its size / [`TMPFS_BYTES_PER_INODE`]). 0 fails the
    /// spawn with [`PolicyError::ZeroTmpfsSize`](crate::PolicyError::ZeroTmpfsSize).
    pub fn tmpfs_inodes(&mut self, inodes: u64) -> &mut Self {
        self.tmpfs_inodes = Some(inodes);
        self
    }

    /// The size and inode limits of one tmpfs: `/tmp`, `/dev/shm`, `~` (the home, wherever the
    /// identity puts it) or the `dst` of a [`Policy::tmpfs`] (relative: against the working
    /// directory). A path where the sandbox has no tmpfs fails the spawn with
    /// [`PolicyError::NoSuchTmpfs`](crate::PolicyError::NoSuchTmpfs). When a program dies
    /// because one is full, [`RunStatus::full_tmpfs`](crate::RunStatus::full_tmpfs) names it.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_sandbox::{Policy, TmpfsLimits};
    /// let mut policy = Policy::new();
    /// // 1 GiB of shared memory for multiprocessing.shared_memory; a node_modules-sized /tmp.
    /// policy
    ///     .tmpfs_limits("/dev/shm", TmpfsLimits { size: Some(1 << 30), inodes: None })
    ///     .tmpfs_limits("/tmp", TmpfsLimits { size: None, inodes: Some(1_000_000) });
    /// ```
    pub fn tmpfs_limits(&mut self, dst: impl AsRef<Path>, limits: TmpfsLimits) -> &mut Self {
        self.tmpfs_limits.insert(dst.as_ref().to_path_buf(), limits);
        self
    }

    /// The size of each tmpfs that [`Policy::tmpfs_limits`] does not size
    /// ([`Policy::tmpfs_size`]).
    pub fn current_tmpfs_size(&self) -> u64 {
        self.tmpfs_size
    }

    /// The limits set with [`Policy::tmpfs_limits`] for `dst` (none set: both `None`).
    pub fn current_tmpfs_limits(&self, dst: impl AsRef<Path>) -> TmpfsLimits {
        self.tmpfs_limits
            .get(dst.as_ref())
            .copied()
            .unwrap_or_default()
    }

    /// The program's `TMPDIR`: a directory (a sandbox path; relative: against the working
    /// directory) inside a read-write path of the policy, instead of `/tmp`. `rename(2)` works
    /// only within one mount, and `/tmp`, the home and each read-write path are mounts of their
    /// own, so a file made in `/tmp` and renamed into a read-write path fails with `EXDEV`
    /// (pip, cargo, editors and other write-then-rename writers); a `TMPDIR` in the same
    /// read-write path as the destination avoids it. A directory outside every read-write path,
    /// or missing on the host, fails the spawn with
    /// [`PolicyError::TmpdirNotInReadWritePath`](crate::PolicyError::TmpdirNotInReadWritePath).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_sandbox::Policy;
    /// let mut policy = Policy::new();
    /// policy.read_write("/srv/build").tmpdir("/srv/build/.tmp");
    /// ```
    pub fn tmpdir(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.tmpdir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Whether the program may trace and debug its own processes (default `true`): `ptrace(2)`
    /// (strace, gdb, the leak checker of AddressSanitizer builds), `process_vm_readv(2)`,
    /// `process_vm_writev(2)`, `pidfd_getfd(2)` and `personality(ADDR_NO_RANDOMIZE)`. The kernel
    /// confines them to the sandbox: its pid namespace shows no other process, Landlock lets a
    /// process trace only processes of its own domain, and the sandbox's init is not dumpable,
    /// so no program can trace or read it (or any process outside). `false` makes these calls
    /// fail with `EPERM` (policy file `ptrace = false`, CLI `--no-ptrace`); without a pid
    /// namespace and without Landlock they are always denied. The enforcement report says which
    /// applies ([`Enforcement::ptrace`](crate::Enforcement::ptrace)).
    pub fn ptrace(&mut self, allow: bool) -> &mut Self {
        self.ptrace = allow;
        self
    }

    /// Allows spawning although the (unprivileged) caller has supplementary groups, which stay
    /// in force inside the sandbox because an unprivileged user namespace must deny
    /// `setgroups(2)` (user_namespaces(7)). Default `false`: spawning fails with
    /// [`PolicyError::RetainedGroups`](crate::PolicyError::RetainedGroups).
    pub fn allow_retained_groups(&mut self, allow: bool) -> &mut Self {
        self.allow_retained_groups = allow;
        self
    }

    /// Lets the program use Linux native AIO (io_setup(2); default `false`). Each AIO
    /// context takes its events from `fs.aio-max-nr` (65,536 by default), a budget of the
    /// whole host that no limit charges to anyone: sixteen `io_setup` calls can take all of
    /// it, and every process of the host, root's included, then gets `EAGAIN` from
    /// `io_setup` until the sandbox ends. So by default `io_setup` returns `ENOSYS`, as on a
    /// kernel built without AIO: libaio's users take that as no native AIO (InnoDB falls back
    /// to its own I/O threads; QEMU's `aio=native` and fio's `libaio` engine report it). POSIX
    /// AIO (aio_read(3)) in glibc uses threads and works either way. Allow it only for programs
    /// trusted not to hold the host's budget.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_sandbox::Policy;
    /// let mut policy = Policy::new();
    /// policy.allow_linux_aio(true); // a database that needs io_setup
    /// ```
    pub fn allow_linux_aio(&mut self, allow: bool) -> &mut Self {
        self.allow_linux_aio = allow;
        self
    }

    /// Most pseudo-terminals (openpty(3), `/dev/ptmx`) the sandbox may have open at once
    /// (default [`DEFAULT_MAX_PTYS`], 64: a terminal multiplexer's windows, an `expect` or
    /// pexpect test suite, nested `script` sessions). The sandbox's `/dev/pts` is a devpts
    /// instance of its own (`newinstance`) mounted with `max=` this; one more open of
    /// `/dev/ptmx` fails with `ENOSPC`. Every devpts instance but the host's own draws on one
    /// pool of the whole host (`kernel.pty.max` minus `kernel.pty.reserve`, 4,096 − 1,024 by
    /// default), shared with every other sandbox and container: this bound keeps one sandbox
    /// from taking all of it. Values above the kernel's ceiling (1,048,576) are that; 0 gives
    /// no pty at all. Policy file `max_ptys`, CLI `--max-ptys`.
    pub fn max_ptys(&mut self, n: u32) -> &mut Self {
        self.max_ptys = n.min(KERNEL_MAX_PTYS);
        self
    }

    /// Whether the program runs in a new session (setsid(2)), detached from the caller's
    /// controlling terminal (default `true`; this stops `TIOCSTI` on an inherited terminal).
    /// `false` is for interactive use.
    pub fn new_session(&mut self, enabled: bool) -> &mut Self {
        self.new_session = enabled;
        self
    }

    /// The hostname inside (default `sandbox`), set with sethostname(2) in the sandbox's own
    /// UTS namespace. An empty name keeps the caller's (the namespace is still the sandbox's
    /// own, a copy, and the generated `/etc/hostname` and `/etc/hosts` name it): for a
    /// container whose seccomp profile refuses sethostname(2) without `CAP_SYS_ADMIN`
    /// (podman's default; [`probe`](crate::probe) says so), where the default name fails the
    /// spawn at that step.
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
    /// # Examples
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
    /// runs a sandbox on Landlock and seccomp alone only when `Processes` is best effort (host
    /// processes stay visible without a pid namespace); `Network` holds there through a
    /// seccomp filter that refuses `socket(2)` (socket pairs stay). Where the
    /// kernel refuses a fresh procfs (a container's masked `/proc`), a best-effort
    /// `Filesystem` runs the sandbox with every namespace but without `/proc`.
    /// [`Child::enforcement`](crate::Child::enforcement) reports what was left out.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_sandbox::{Policy, Property, Requirement};
    /// let mut policy = Policy::new();
    /// policy
    ///     .require(Property::Network, Requirement::BestEffort)
    ///     .require(Property::Processes, Requirement::BestEffort);
    /// ```
    pub fn require(&mut self, property: Property, requirement: Requirement) -> &mut Self {
        self.requirements.set(property, requirement);
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
    /// # Examples
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
    /// filter denies. Its length adds to the install time (about 0.6 µs per instruction); the
    /// kernel takes at most 4096 instructions per filter (`BPF_MAXINSNS`), and a longer one
    /// fails the spawn with
    /// [`PolicyError::SeccompFilterTooLong`](crate::PolicyError::SeccompFilterTooLong).
    ///
    /// # Examples
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
    /// # Examples
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

    /// Whether every policy path pinned when it was named still leads to the same object (a
    /// compiled form of an equal policy may be reused only then).
    pub(crate) fn pins_hold(&self) -> bool {
        self.rules.iter().all(|r| match r {
            Rule::Bind {
                src,
                pin: Some(pin),
                ..
            } => Pin::of(src).is_some_and(|now| pin.same_object(&now)),
            _ => true,
        })
    }

    /// Whether every host path of the policy is absolute (its resolution does not depend on
    /// the caller's working directory).
    pub(crate) fn all_absolute(&self) -> bool {
        let dst_absolute = |d: &Option<PathBuf>| d.as_ref().is_none_or(|d| d.is_absolute());
        self.rules.iter().all(|r| match r {
            Rule::Bind { src, dst, .. } => src.is_absolute() && dst_absolute(dst),
            Rule::Tmpfs { dst } => dst.is_absolute(),
        }) && self.tmpdir.as_ref().is_none_or(|d| d.is_absolute())
            && self
                .tmpfs_limits
                .keys()
                .all(|k| k.is_absolute() || k == Path::new("~"))
    }

    /// All bind and tmpfs rules in order of addition, as `(host source or None for tmpfs,
    /// sandbox destination, writable, what the source led to when named)`.
    pub(crate) fn user_rules(
        &self,
    ) -> impl Iterator<Item = (Option<&Path>, Option<&Path>, bool, Option<Pin>)> {
        self.rules.iter().map(|r| match r {
            Rule::Bind {
                src,
                dst,
                writable,
                pin,
            } => (Some(src.as_path()), dst.as_deref(), *writable, *pin),
            Rule::Tmpfs { dst } => (None, Some(dst.as_path()), true, None),
        })
    }

    /// The policy to use on a host without usable user namespaces: Landlock, seccomp and
    /// `no_new_privs` alone, when the caller allows what only namespaces give to be left out:
    /// the processes property (hiding host processes needs a pid namespace) must be best
    /// effort. The network property holds without a network namespace through a seccomp
    /// filter that refuses `socket(2)` (with the seccomp layer off it must be best effort
    /// too). The filesystem property holds through Landlock (a private `/tmp`, home and
    /// `/proc` need a mount namespace, and the report says they are missing). `None` when the
    /// requirements do not allow it.
    pub(crate) fn landlock_only(&self) -> Option<Policy> {
        let r = &self.requirements;
        let best = |p| r.get(p) == Requirement::BestEffort;
        let no_network = self.network == Network::None && self.layers.seccomp;
        let network_ok = self.network == Network::Host || no_network || best(Property::Network);
        if !network_ok || !best(Property::Processes) {
            return None;
        }
        let mut p = self.clone();
        p.no_sockets = no_network;
        p.network(Network::Host);
        p.layers(Layers {
            user_namespace: false,
            mount: false,
            pid: false,
            ..self.layers
        });
        Some(p)
    }
}
