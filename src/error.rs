//! Typed errors: policy errors found in the parent and setup failures reported by the child.

use std::fmt;
use std::io;
use std::path::PathBuf;

pub use crate::wire::Stage;

impl Stage {
    /// A short lowercase name of the step, as used in error messages.
    pub fn name(self) -> &'static str {
        match self {
            Stage::IdMap => "uid/gid map",
            Stage::RootTmpfs => "tmpfs root",
            Stage::PivotRoot => "pivot_root",
            Stage::Mkdir => "mkdir",
            Stage::Symlink => "symlink",
            Stage::Bind => "bind mount",
            Stage::Tmpfs => "tmpfs mount",
            Stage::Proc => "proc mount",
            Stage::Devpts => "devpts mount",
            Stage::File => "generated file",
            Stage::RootReadOnly => "read-only root",
            Stage::Hostname => "hostname",
            Stage::Loopback => "loopback",
            Stage::Chdir => "working directory",
            Stage::Rlimit => "rlimit",
            Stage::Session => "setsid",
            Stage::Fds => "file descriptors",
            Stage::Identity => "uid/gid switch",
            Stage::Capabilities => "capability drop",
            Stage::NoNewPrivs => "no_new_privs",
            Stage::Landlock => "Landlock ruleset",
            Stage::Seccomp => "seccomp filter",
            Stage::Signals => "signal reset",
            Stage::Exec => "execve",
            Stage::ReadOnlyPath => "read-only path",
            Stage::MaskedPath => "masked path",
            Stage::Terminal => "terminal",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A problem with the policy or the command, found in the parent before anything is spawned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// A path contains a NUL byte and cannot be passed to the kernel.
    #[error("path {0:?} contains a NUL byte")]
    NulByte(PathBuf),
    /// An argument or environment entry contains a NUL byte.
    #[error("{what} contains a NUL byte: {value:?}")]
    NulInString {
        /// What the string is (argument, environment variable, program).
        what: &'static str,
        /// The offending string, lossily converted.
        value: String,
    },
    /// An environment variable name is empty or contains `=`.
    #[error("invalid environment variable name {0:?}: it must be non-empty and contain no '='")]
    InvalidEnvName(String),
    /// A policy path does not exist on the host (or a symlink on it dangles).
    #[error("policy path {path:?} cannot be resolved: {source}")]
    MissingPath {
        /// The path as given (made absolute against the working directory).
        path: PathBuf,
        /// The error from lstat(2) or readlink(2).
        #[source]
        source: io::Error,
    },
    /// A relative sandbox path (a bind's destination, a tmpfs, `TMPDIR`), which resolves
    /// against the caller's working directory, while the working directory cannot be read.
    #[error(
        "sandbox path {0:?} is relative and the working directory it resolves against cannot \
         be read; give an absolute path"
    )]
    RelativeDestination(PathBuf),
    /// A bind (of this host path) or a tmpfs (`"tmpfs"`) onto the sandbox's root `/` (e.g.
    /// `read_only("/")`), which would hide the sandbox's own `/proc`, `/dev` and `/tmp`; bind
    /// the directories the program needs instead.
    #[error(
        "mounting {0:?} onto the sandbox's root is not supported; bind the directories the \
         program needs, each on its own (Policy::read_only(\"/opt\"))"
    )]
    RootBind(PathBuf),
    /// A tmpfs size or inode count of 0 ([`Policy::tmpfs_size`](crate::Policy::tmpfs_size),
    /// [`Policy::tmpfs_inodes`](crate::Policy::tmpfs_inodes),
    /// [`Policy::tmpfs_limits`](crate::Policy::tmpfs_limits)), which tmpfs(5) would read as
    /// "no limit".
    #[error(
        "a tmpfs size or inode count of 0 is not a limit to tmpfs (it means unlimited); give a \
         size"
    )]
    ZeroTmpfsSize,
    /// [`Policy::tmpfs_limits`](crate::Policy::tmpfs_limits) for a path where the sandbox has no
    /// tmpfs of its own (`/tmp` or the home bound from the host, `/dev` bound, a typo).
    #[error(
        "tmpfs limits are set for {0:?}, where the sandbox has no tmpfs: use /tmp, /dev/shm, ~ \
         (the home) or the path of a tmpfs of the policy"
    )]
    NoSuchTmpfs(PathBuf),
    /// [`Policy::tmpdir`](crate::Policy::tmpdir) outside every read-write path, or not a
    /// directory.
    #[error(
        "TMPDIR {path:?} must be an existing directory inside a read-write path of the policy, \
         so that files made there can be renamed into that path: {reason}"
    )]
    TmpdirNotInReadWritePath {
        /// The directory, as a sandbox path.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// [`Limits::processes`](crate::Limits::processes) of 0: not even the sandbox's first
    /// process could start (`RLIMIT_NPROC` would refuse its exec, a cgroup's `pids.max` its
    /// clone).
    #[error(
        "a process limit of 0 leaves no process to run the program; give at least 2 (the \
         sandbox's init and the program), or leave it unset for the default"
    )]
    ZeroProcessLimit,
    /// A device bound read-only beneath a writable path: Landlock rights are inherited from
    /// parent directories, so the device would be writable there.
    #[error(
        "read-only device {device:?} cannot be placed beneath the writable {parent:?}; bind it \
         at a path outside writable mounts"
    )]
    ReadOnlyDeviceUnderWritable {
        /// The device's path in the sandbox.
        device: PathBuf,
        /// The writable mount above it.
        parent: PathBuf,
    },
    /// A policy path no longer leads to the file or directory it led to when it was given to
    /// the policy (its device and inode differ): it, or a directory or symlink on its way, was
    /// replaced in between. Found when the policy is compiled, or by the sandbox's first
    /// process right before it binds the path. Nothing is bound; build the policy again to bind
    /// what is there now.
    #[error(
        "policy path {path:?} no longer leads to the file or directory it led to when it was          given to the policy (it or a directory or symlink on its way was replaced); nothing          was bound: build the policy again to bind what is there now"
    )]
    PathReplaced {
        /// The path (made absolute against the working directory, or the host path it
        /// resolved to when the sandbox found the change).
        path: PathBuf,
    },
    /// Resolving a path took more than 40 symlinks.
    #[error("too many levels of symbolic links resolving {0:?}")]
    SymlinkLoop(PathBuf),
    /// A read-write path is not writable by the sandbox's host uid/gid.
    #[error(
        "read-write path {path:?} is not writable by the sandbox's host uid {uid}/gid {gid}; {}",
        not_writable_advice(path, *uid, *gid, *chosen_id, Vocabulary::Api)
    )]
    NotWritable {
        /// The canonical host path.
        path: PathBuf,
        /// The host uid the sandbox runs as.
        uid: u32,
        /// The host gid the sandbox runs as.
        gid: u32,
        /// Whether the caller could run the sandbox as another host id (root: `Policy::uid`);
        /// an unprivileged caller's sandbox always runs as the caller on the host.
        chosen_id: bool,
    },
    /// The caller holds supplementary groups that an unprivileged user namespace cannot drop
    /// (setgroups(2) is denied there, user_namespaces(7)). Refused unless
    /// [`Policy::allow_retained_groups`](crate::Policy::allow_retained_groups) allows them; only
    /// root can start the caller without them.
    #[error(
        "allow the caller's supplementary groups ({}) with \
         Policy::allow_retained_groups(true) to run with them: an unprivileged caller cannot \
         drop them (setgroups(2) is denied in its user namespace), so they would stay in force \
         inside the sandbox and grant access to files of those groups; starting the caller \
         without them (e.g. setpriv --clear-groups) needs root",
        group_list(groups)
    )]
    RetainedGroups {
        /// The supplementary group ids other than the primary gid.
        groups: Vec<u32>,
    },
    /// A seccomp filter (see [`Policy::seccomp_filter`](crate::Policy::seccomp_filter)) longer
    /// than the kernel takes: `BPF_MAXINSNS`, 4096 instructions (seccomp(2)).
    #[error(
        "a seccomp filter of {len} instructions is longer than the kernel takes (BPF_MAXINSNS, \
         4096); split it into filters of at most 4096 instructions"
    )]
    SeccompFilterTooLong {
        /// Its number of instructions.
        len: usize,
    },
    /// A process group other than 0 was asked for with
    /// [`Command::process_group`](crate::Command::process_group): the sandbox's processes
    /// cannot join a process group outside the sandbox.
    #[error(
        "process group {0} is outside the sandbox, whose processes cannot join it; \
         process_group(0) gives the program a process group of its own in a new session"
    )]
    ProcessGroup(i32),
    /// A command for a running [`Sandbox`](crate::Sandbox) or a [`Pool`](crate::Pool) takes more
    /// room than the sandbox's init accepts in one request (see `src/control.rs`): the
    /// arguments, environment and paths together, their number, or the descriptors passed.
    #[error(
        "a command in a running sandbox takes {size} {what}, more than its init accepts \
         ({limit}); pass large data in a file or through stdin"
    )]
    CommandTooLarge {
        /// What is counted.
        what: &'static str,
        /// How much the command has.
        size: usize,
        /// The most a request holds.
        limit: usize,
    },
    /// The policy of a [`Command`](crate::Command) of a running [`Sandbox`](crate::Sandbox)
    /// was changed: its commands run under the sandbox's policy, which is set up once.
    #[error(
        "a command of a running sandbox runs under the sandbox's policy, which cannot change; \
         start a sandbox with the changed policy (Sandbox::start) or use a Command of its own"
    )]
    RunningSandboxPolicy,
    /// The program was not found in the sandbox's `PATH` or at the given path.
    #[error(
        "program {program:?} not found in the sandbox; searched {searched}{}",
        on_host_suffix(program)
    )]
    ProgramNotFound {
        /// The program as given.
        program: String,
        /// The directories or the path that were searched.
        searched: String,
    },
}

/// Why a spawn failed: the error of [`Command::spawn_async`](crate::Command::spawn_async),
/// and the error inside the [`io::Error`] of [`Command::spawn`](crate::Command::spawn),
/// [`Command::status`](crate::Command::status) and [`Command::output`](crate::Command::output).
///
/// # As an `io::Error`
///
/// `From<SpawnError> for io::Error` gives an error of kind [`SpawnError::kind`] whose inner
/// error is the `SpawnError`, so its message (the step, call and path) and its fields stay
/// reachable: [`SpawnError::from_io_error`] (or [`io::Error::get_ref`] and
/// `downcast_ref`) gives it back. Such an `io::Error` has no
/// [`raw_os_error`](io::Error::raw_os_error) (an `io::Error` holds either an errno or an inner
/// error); the errno is [`SpawnError::raw_os_error`] of the inner error. Where
/// `tokio::process` reports a missing program as `from_raw_os_error(ENOENT)`, write
/// `SpawnError::from_io_error(&e).and_then(SpawnError::raw_os_error)` instead of
/// `e.raw_os_error()`; [`io::Error::kind`] is the same for both.
///
/// # Examples
///
/// ```no_run
/// # async fn demo() {
/// use tokio_sandbox::{Command, SpawnError, Stage};
/// match Command::new("/opt/tool/run").read_only("/opt/tool").spawn_async().await {
///     Ok(_child) => { /* ... */ }
///     Err(SpawnError::Setup { stage: Stage::Bind, call, path, source, .. }) => {
///         eprintln!("cannot bind {path:?}: {call}: {source}");
///     }
///     Err(e) => {
///         eprintln!("{e}");
///         std::process::exit(e.exit_code());
///     }
/// }
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpawnError {
    /// The policy or command is invalid; nothing was spawned.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// A kernel feature the policy requires is missing.
    #[error("{mechanism} is required by the policy but unavailable: {reason}")]
    Unsupported {
        /// The missing mechanism (e.g. "Landlock").
        mechanism: &'static str,
        /// Why it is unavailable (e.g. "not built into the kernel (ENOSYS)").
        reason: String,
    },
    /// A parent-side system call failed (pipe2, mmap, clone3, writing id maps, ...).
    #[error("{what}: {source}")]
    Os {
        /// The call that failed.
        what: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A setup step in the sandbox failed before the program could be executed.
    #[error(
        "sandbox setup failed at {stage}{}: {call}: {source}{}",
        path_suffix(path),
        hint(*stage, source, path.as_deref())
    )]
    #[non_exhaustive]
    Setup {
        /// The step that failed.
        stage: Stage,
        /// The system call that failed, as its man page names it, with the argument that
        /// tells it apart where the step makes that call more than once (e.g. `open_tree`,
        /// `prctl(PR_CAPBSET_DROP)`, `chdir("/")`).
        call: &'static str,
        /// The path that step worked on (inside the sandbox, or the host source of a bind).
        path: Option<PathBuf>,
        /// The errno of the failing system call.
        #[source]
        source: io::Error,
    },
    /// The program exists but could not be executed: no execute permission, or not an
    /// executable format (`execve` gave EACCES or ENOEXEC).
    #[error("cannot execute {path:?}: {source}")]
    NotExecutable {
        /// The program path inside the sandbox.
        path: PathBuf,
        /// The errno from execve(2).
        #[source]
        source: io::Error,
    },
    /// The program exists but its interpreter (`#!` line or ELF `PT_INTERP`) is missing in the
    /// sandbox.
    #[error(
        "cannot execute {path:?}: its interpreter {interpreter:?} is not visible in the \
         sandbox{}",
        missing_suffix(missing)
    )]
    InterpreterNotFound {
        /// The program path inside the sandbox.
        path: PathBuf,
        /// The interpreter it names.
        interpreter: PathBuf,
        /// The first path on the way to the interpreter, symlinks followed, that the sandbox
        /// lacks: the interpreter itself, a directory, or a symlink of the host such as `/lib`
        /// that a link inside a bound path leads through.
        missing: Option<PathBuf>,
    },
    /// The program path exists on the host, but no bind of the policy shows it in the sandbox.
    #[error(
        "program {path:?} exists on the host but not in the sandbox; bind it or its directory \
         (Policy::read_only)"
    )]
    NotBound {
        /// The program path (the same on the host and inside).
        path: PathBuf,
    },
    /// The sandbox's first process or its init sent a failure report that does not decode
    /// (cut short, another format version, or an unknown stage or call): the library and its
    /// init program do not match. Nothing was started.
    #[error("unreadable setup report from the sandbox: {reason}")]
    MalformedReport {
        /// What is wrong with it.
        reason: String,
    },
    /// The program was not found when the sandbox tried to execute it.
    #[error("program {path:?} not found in the sandbox")]
    NotFound {
        /// The program path inside the sandbox.
        path: PathBuf,
    },
    /// The running [`Sandbox`](crate::Sandbox) the command was for has ended (shut down,
    /// dropped, killed, or its owning process is gone): nothing was started.
    #[error("the running sandbox has ended; start a new one (Sandbox::start)")]
    SandboxEnded,
    /// The running [`Sandbox`](crate::Sandbox)'s init gave no answer for a command within
    /// `waited` (see [`Sandbox`](crate::Sandbox): it answers once the program was executed,
    /// normally within a millisecond). A process of the sandbox can hold init this way by
    /// stopping the command's process before its exec (`kill(-1, SIGSTOP)`), where Landlock has
    /// no signal scope (ABI below 6): the library then killed the sandbox, which does not
    /// outlive this error.
    #[error(
        "the running sandbox's init did not start the command within {waited:?} (a process of \
         the sandbox may have stopped it before its exec); the sandbox was killed: start a new \
         one (Sandbox::start)"
    )]
    SandboxStalled {
        /// How long the library waited for init's answer.
        waited: std::time::Duration,
    },
    /// The spawning process ran out of file descriptors (`EMFILE`: its `RLIMIT_NOFILE`, which
    /// the first spawn raised to the hard limit) or the host did (`ENFILE`: `fs.file-max`),
    /// at whatever step needed one. Each running sandbox holds two descriptors in the spawning
    /// process (its pidfd and status pipe) and one per piped stream.
    #[error(
        "{}: {what}: {source}",
        match source.raw_os_error() {
            Some(libc::ENFILE) => "the host's file table is full (fs.file-max)".to_string(),
            _ => format!(
                "RLIMIT_NOFILE of the spawning process reached ({}): each running sandbox \
                 holds 2 descriptors here and 1 per piped stream; raise the hard limit \
                 (ulimit -Hn, LimitNOFILE=) or run fewer sandboxes at once",
                if soft < hard {
                    format!(
                        "the soft limit, raised from {} to the hard limit {}",
                        limit_text(*soft),
                        limit_text(*hard)
                    )
                } else {
                    format!("soft and hard limit {}", limit_text(*hard))
                }
            ),
        }
    )]
    TooManyOpenFiles {
        /// The step that needed a descriptor (a system call, or a stage of the setup).
        what: String,
        /// The soft `RLIMIT_NOFILE` the process had before its first spawn.
        soft: u64,
        /// The hard `RLIMIT_NOFILE` (`u64::MAX`: unlimited).
        hard: u64,
        /// `EMFILE` or `ENFILE`.
        #[source]
        source: io::Error,
    },
}

/// A limit for a message: the number, or "unlimited".
fn limit_text(n: u64) -> String {
    if n == u64::MAX {
        "unlimited".to_string()
    } else {
        n.to_string()
    }
}

/// The names advice uses for what to change: the library's API, or the CLI's options.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vocabulary {
    /// `Policy::uid`, `Policy::read_only`, ...
    Api,
    /// `--uid`, `--ro`, ...
    Cli,
}

/// Group ids as a comma-separated list.
pub(crate) fn group_list(groups: &[u32]) -> String {
    groups
        .iter()
        .map(|g| g.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// What to do about a read-write path the sandbox's host id cannot write. Never advises
/// making it writable for everyone, and advises a change of owner or mode only for a path
/// of the caller's own.
#[doc(hidden)]
pub fn not_writable_advice(
    path: &std::path::Path,
    uid: u32,
    gid: u32,
    chosen_id: bool,
    words: Vocabulary,
) -> String {
    use std::os::unix::fs::MetadataExt;
    let caller = rustix::process::geteuid().as_raw();
    let owner = std::fs::metadata(path).ok().map(|m| m.uid());
    let own = owner == Some(caller);
    let pick = |n: &str| match words {
        Vocabulary::Api => format!("Policy::uid({n})"),
        Vocabulary::Cli => format!("--uid {n}"),
    };
    if chosen_id {
        match owner {
            Some(o) if own && o != 0 => format!(
                "change its owner to that id (chown {uid}:{gid}) or run the sandbox as your own \
                 host id ({})",
                pick(&o.to_string())
            ),
            Some(o) => format!(
                "it belongs to uid {o}{}: leave it read-only, or run the sandbox as its owner's \
                 host id ({}) if the program is to write it",
                if o == 0 { " (a system file)" } else { "" },
                pick(&o.to_string())
            ),
            None => format!(
                "make it writable for that id, or pick the host id ({})",
                pick("N")
            ),
        }
    } else if own {
        format!(
            "the sandbox writes as your own uid and gid on the host: give yourself write \
             permission (chmod u+w); {} only changes the id inside",
            pick("N")
        )
    } else {
        format!(
            "the sandbox writes as your own uid and gid on the host, and the path is not yours: \
             its owner must grant you write access, or bind it read-only; {} only changes the \
             id inside",
            pick("N")
        )
    }
}

/// "; the host has it at ...", for a program name the caller's `PATH` finds on the host.
fn on_host_suffix(program: &str) -> String {
    if program.contains('/') {
        return String::new();
    }
    let Some(path) = std::env::var_os("PATH") else {
        return String::new();
    };
    std::env::split_paths(&path)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .map(|p| {
            let dir = p.parent().unwrap_or(std::path::Path::new("/"));
            format!(
                "; the host has it at {p:?}: bind its directory (Policy::read_only({:?}))",
                dir
            )
        })
        .unwrap_or_default()
}

/// ": PATH is missing there", with what the host has at PATH.
fn missing_suffix(missing: &Option<PathBuf>) -> String {
    let Some(m) = missing else {
        return String::new();
    };
    let host = match std::fs::read_link(m) {
        Ok(target) => format!(
            " (on the host a symlink to {target:?}: bind what it leads to, and it is recreated)"
        ),
        Err(_) if m.exists() => " (it exists on the host: bind it)".to_string(),
        Err(_) => String::new(),
    };
    format!(": {m:?} is missing there{host}")
}

fn path_suffix(path: &Option<PathBuf>) -> String {
    match path {
        Some(p) => format!(" ({})", p.display()),
        None => String::new(),
    }
}

/// What AppArmor's user namespace restriction looks like: the new user namespace exists, and
/// the first step that needs a capability in it (writing its id maps, the first mount) is
/// refused.
fn apparmor_pattern(stage: Stage, errno: Option<i32>) -> bool {
    matches!(errno, Some(libc::EPERM | libc::EACCES))
        && matches!(
            stage,
            Stage::IdMap | Stage::RootTmpfs | Stage::Mkdir | Stage::Bind | Stage::Tmpfs
        )
}

/// The hint for the setup failure of an unprivileged caller whose user namespaces AppArmor
/// restricts.
pub(crate) const APPARMOR_HINT: &str =
    " (AppArmor refuses capabilities in new user namespaces to programs without a profile \
     that allows them here, kernel.apparmor_restrict_unprivileged_userns = 1: install one for \
     this program, printed by `tokio-sandbox --apparmor-profile /path/to/program`, or, as \
     root, set that sysctl to 0)";

/// The likely cause of a setup failure where it is known.
fn hint(stage: Stage, source: &io::Error, path: Option<&std::path::Path>) -> &'static str {
    if apparmor_pattern(stage, source.raw_os_error()) && crate::apparmor::restricts_userns() {
        return APPARMOR_HINT;
    }
    match (stage, source.raw_os_error()) {
        // A working directory the host lacks too: binding it would not help.
        (Stage::Chdir, Some(libc::ENOENT)) if !path.is_some_and(|p| p.exists()) => {
            " (it does not exist on the host either: create it, or choose another working \
             directory)"
        }
        (Stage::Proc, Some(libc::EPERM)) => {
            " (the host's /proc has covered entries, as in containers, and the kernel refuses a \
             new procfs in a user namespace then; the host /proc is never bound instead: make \
             the filesystem best effort to run without /proc)"
        }
        (Stage::Hostname, Some(libc::EPERM)) => {
            " (a seccomp filter of this process refuses sethostname(2), as a container's \
             default profile does without CAP_SYS_ADMIN (podman's); an empty host name \
             (Policy::hostname(\"\"), hostname = \"\" in a policy file) keeps this host's name \
             in the sandbox's own UTS namespace)"
        }
        (Stage::Bind, Some(libc::ENOENT)) => {
            " (the source is gone, or the mount point is inside another bind, where it must \
             already exist: nothing is created on the host)"
        }
        (Stage::Tmpfs, Some(libc::ENOENT)) => {
            " (the mount point is inside a bind, where it must already exist: nothing is \
             created on the host)"
        }
        (Stage::Bind, Some(libc::EACCES)) => {
            " (the sandbox's host id cannot reach the source: a directory above it is not \
             searchable for that id, e.g. a 0700 home; a root caller's sandbox runs as uid \
             65534 unless Policy::uid(0) is chosen)"
        }
        (Stage::Chdir, Some(libc::ENOENT)) => {
            " (the working directory must be visible in the sandbox: bind it, with \
             Policy::read_only)"
        }
        (Stage::IdMap, Some(libc::EPERM)) => {
            " (user namespaces are restricted on this host, e.g. by AppArmor or a sysctl)"
        }
        (Stage::Exec, Some(libc::E2BIG)) => {
            " (the program's arguments and environment exceed execve(2)'s limits: 128 KiB per \
             string, a quarter of the stack rlimit in all)"
        }
        (Stage::Exec, Some(libc::EAGAIN)) => {
            " (the process limit is reached: Limits::processes counts the caller's uid's \
             processes in the sandbox's user namespace)"
        }
        _ => "",
    }
}

impl SpawnError {
    /// The kind of [`io::Error`] this error becomes, the one `tokio::process` gives for the same
    /// failure: [`io::ErrorKind::NotFound`] for a program that is not there (or not visible, or
    /// whose interpreter is not), the kind of execve(2)'s errno for one that cannot be executed
    /// ([`io::ErrorKind::PermissionDenied`] for `EACCES`), [`io::ErrorKind::InvalidInput`] for
    /// another problem with the policy or command (a missing policy path has the kind of its
    /// errno), [`io::ErrorKind::Unsupported`] for a missing kernel mechanism,
    /// [`io::ErrorKind::InvalidData`] for an unreadable report, and the kind of the errno for a
    /// failed system call.
    pub fn kind(&self) -> io::ErrorKind {
        match self {
            SpawnError::Policy(PolicyError::ProgramNotFound { .. })
            | SpawnError::NotFound { .. }
            | SpawnError::NotBound { .. }
            | SpawnError::InterpreterNotFound { .. } => io::ErrorKind::NotFound,
            SpawnError::Policy(PolicyError::MissingPath { source, .. }) => source.kind(),
            SpawnError::Policy(_) => io::ErrorKind::InvalidInput,
            SpawnError::MalformedReport { .. } => io::ErrorKind::InvalidData,
            SpawnError::Unsupported { .. } => io::ErrorKind::Unsupported,
            SpawnError::SandboxEnded => io::ErrorKind::BrokenPipe,
            SpawnError::SandboxStalled { .. } => io::ErrorKind::TimedOut,
            SpawnError::Os { source, .. }
            | SpawnError::Setup { source, .. }
            | SpawnError::TooManyOpenFiles { source, .. }
            | SpawnError::NotExecutable { source, .. } => source.kind(),
        }
    }

    /// The `SpawnError` inside an [`io::Error`] made from one (by `?` or `into()`, or returned
    /// by [`Command::spawn`](crate::Command::spawn), [`Command::status`](crate::Command::status)
    /// or [`Command::output`](crate::Command::output)); `None` for any other `io::Error`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn demo() {
    /// use tokio_sandbox::{Command, SpawnError};
    /// if let Err(e) = Command::new("/no/such/program").spawn() {
    ///     assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    ///     let spawn_error = SpawnError::from_io_error(&e).expect("a spawn error");
    ///     assert_eq!(spawn_error.raw_os_error(), Some(libc::ENOENT));
    ///     assert_eq!(spawn_error.exit_code(), 127);
    /// }
    /// # }
    /// ```
    pub fn from_io_error(e: &io::Error) -> Option<&SpawnError> {
        e.get_ref()?.downcast_ref::<SpawnError>()
    }

    /// The errno behind this error, if there is one (`ENOENT` for a program that is not
    /// there, whether found missing before the spawn or by execve(2)).
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            SpawnError::Os { source, .. }
            | SpawnError::Setup { source, .. }
            | SpawnError::TooManyOpenFiles { source, .. }
            | SpawnError::NotExecutable { source, .. } => source.raw_os_error(),
            SpawnError::NotFound { .. }
            | SpawnError::NotBound { .. }
            | SpawnError::InterpreterNotFound { .. } => Some(libc::ENOENT),
            SpawnError::Policy(PolicyError::ProgramNotFound { .. }) => Some(libc::ENOENT),
            SpawnError::Policy(PolicyError::MissingPath { source, .. }) => source.raw_os_error(),
            _ => None,
        }
    }

    /// The exit code the CLI uses for this error: 127 not found, 126 not executable, 125 for
    /// any other setup failure (the convention of env(1), chroot(1) and container runtimes).
    pub fn exit_code(&self) -> i32 {
        match self {
            SpawnError::NotFound { .. }
            | SpawnError::NotBound { .. }
            | SpawnError::InterpreterNotFound { .. }
            | SpawnError::Policy(PolicyError::ProgramNotFound { .. }) => 127,
            SpawnError::NotExecutable { .. } => 126,
            _ => 125,
        }
    }
}

/// A [`SpawnError::Os`] for the parent-side call `what`.
pub(crate) fn os_err(what: &'static str) -> impl FnOnce(io::Error) -> SpawnError {
    move |source| SpawnError::Os { what, source }
}

/// A [`SpawnError::Os`] for the parent-side call `what`, with `errno`.
pub(crate) fn last_os(what: &'static str) -> SpawnError {
    SpawnError::Os {
        what,
        source: io::Error::last_os_error(),
    }
}

impl From<SpawnError> for io::Error {
    /// An error of kind [`SpawnError::kind`] holding the `SpawnError` (see
    /// [`SpawnError::from_io_error`]).
    fn from(e: SpawnError) -> io::Error {
        io::Error::new(e.kind(), e)
    }
}
