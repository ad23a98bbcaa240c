//! What this kernel and process offer a sandbox: [`probe`].

use std::path::Path;
use std::sync::OnceLock;

use crate::stdio::Stdio;

/// Whether a mechanism can be used, and why not.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", content = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Availability {
    /// It works here.
    Available,
    /// It does not, for the reason given.
    Unavailable(String),
}

impl Availability {
    /// Whether it works here.
    pub fn is_available(&self) -> bool {
        matches!(self, Availability::Available)
    }
}

impl std::fmt::Display for Availability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Availability::Available => f.write_str("yes"),
            Availability::Unavailable(why) => write!(f, "no ({why})"),
        }
    }
}

/// What this kernel and process offer, probed once per process (cheap after the first call).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Probe {
    /// The kernel release (uname -r).
    pub kernel: String,
    /// `clone3(2)` (else `clone(2)` is used).
    pub clone3: Availability,
    /// A user namespace with a working uid map and a mount, tested with a real sandbox (one
    /// that allows the caller's supplementary groups: see
    /// [`retained_groups`](Probe::retained_groups)).
    pub user_namespace: Availability,
    /// The supplementary groups of an unprivileged caller other than its primary gid, which
    /// would stay in force inside its sandboxes (setgroups(2) is denied in its user namespace):
    /// while there are any, spawning is refused with
    /// [`PolicyError::RetainedGroups`](crate::PolicyError::RetainedGroups) unless the policy
    /// allows them ([`Policy::allow_retained_groups`](crate::Policy::allow_retained_groups)).
    /// Empty for root, who drops them.
    pub retained_groups: Vec<u32>,
    /// A fresh procfs in the sandbox's pid namespace, tested with a real sandbox where user
    /// namespaces work. The kernel refuses it where the host's `/proc` has covered entries (a
    /// container's masked paths); a best-effort filesystem then runs without `/proc`.
    pub proc_mount: Availability,
    /// Setting the sandbox's host name (sethostname(2) in its own UTS namespace), tested with a
    /// real sandbox where user namespaces work. A seccomp filter of the caller's refuses it in
    /// some containers (podman's default profile without `CAP_SYS_ADMIN`: `EPERM`); a policy
    /// with an empty host name ([`Policy::hostname`](crate::Policy::hostname)) then keeps the
    /// caller's name in the sandbox's UTS namespace.
    pub hostname: Availability,
    /// Landlock, or why it is missing.
    pub landlock: Availability,
    /// The Landlock ABI version the library uses, when Landlock is there.
    pub landlock_abi: Option<u32>,
    /// seccomp filters (`SECCOMP_SET_MODE_FILTER`).
    pub seccomp: Availability,
    /// `mount_setattr(2)` (read-only binds that keep locked flags).
    pub mount_setattr: Availability,
    /// cgroup v2 (memory, pids and CPU limits for a whole sandbox need all three controllers).
    pub cgroup_v2: crate::cgroup::CgroupV2,
    /// Whether sandboxes get cgroup v2 limits here: a cgroup with the memory, pids and cpu
    /// controllers enabled for its children is delegated to this process (see
    /// [`cgroup_parent`](Probe::cgroup_parent)), or why not.
    pub cgroup_limits: Availability,
    /// Where sandbox cgroups are created: this process's own cgroup, which it may have left
    /// for a leaf of it ([`CALLER_LEAF`](crate::CALLER_LEAF)) because the kernel enables
    /// controllers only in a cgroup without processes; the real root cgroup; or the parent of
    /// the leaf this process was started in. `None` without cgroup limits.
    pub cgroup_parent: Option<std::path::PathBuf>,
    /// The leaf cgroup this process moved itself into (its first spawn or probe does), if it
    /// did.
    pub cgroup_moved_into: Option<std::path::PathBuf>,
}

/// `syscall(nr, ...)` with arguments that are invalid for it: `Available` unless ENOSYS.
fn syscall_exists(nr: libc::c_long, args: [usize; 5]) -> Availability {
    // SAFETY: the arguments are invalid on purpose (NULL pointers or bad flags); the kernel
    // rejects them without touching memory.
    let r = unsafe { libc::syscall(nr, args[0], args[1], args[2], args[3], args[4]) };
    if r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
        Availability::Unavailable("ENOSYS".into())
    } else {
        Availability::Available
    }
}

/// A real sandbox with only the namespace layers (no Landlock, no seccomp) whose program does
/// not exist: reaching the exec proves the uid map and mounts work, with `proc` a fresh procfs
/// too, and with `hostname` sethostname(2) in its UTS namespace.
fn test_sandbox(proc: bool, hostname: bool) -> Result<(), crate::error::SpawnError> {
    let run = move || -> Result<(), crate::error::SpawnError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| crate::error::SpawnError::Os {
                what: "a runtime for the probe",
                source,
            })?;
        let mut policy = crate::policy::Policy::new();
        policy
            .system(false)
            // What is tested is the kernel's user namespace, not the groups rule.
            .allow_retained_groups(true)
            .network(crate::policy::Network::Host)
            .layers(crate::policy::Layers {
                landlock: false,
                seccomp: false,
                ..crate::policy::Layers::default()
            });
        if !proc {
            policy.no_proc = Some("the probe of user namespaces mounts none".into());
        }
        if !hostname {
            // The caller's name stays: what is tested is the user namespace, not whether a
            // seccomp filter of the caller's refuses sethostname(2).
            policy.hostname("");
        }
        // The spawn entry that never probes (this is the probe).
        let req = crate::spawn::Request {
            fallback: None,
            requested_network: policy.network,
            policy,
            program: "/nonexistent/tokio-sandbox-probe".into(),
            arg0: None,
            args: Vec::new(),
            env_ops: Vec::new(),
            cwd: None,
            stdio: [Stdio::inherit(), Stdio::inherit(), Stdio::inherit()],
            extra_fds: Vec::new(),
            kill_on_drop: false,
            timeout: None,
        };
        match rt.block_on(crate::spawn::spawn(req, &mut None)) {
            Err(crate::error::SpawnError::NotFound { .. }) => Ok(()),
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        }
    };
    // On a thread of its own: the caller may be inside a runtime.
    match std::thread::spawn(run).join() {
        Ok(r) => r,
        Err(payload) => std::panic::resume_unwind(payload),
    }
}

fn availability(r: Result<(), crate::error::SpawnError>) -> Availability {
    match r {
        Ok(()) => Availability::Available,
        Err(e) => Availability::Unavailable(e.to_string()),
    }
}

/// A fresh procfs and the host name where user namespaces work: one sandbox tests both (the
/// host name is set after `/proc` is mounted); where `/proc` is refused, a second one tests
/// the host name alone.
fn proc_and_hostname() -> (Availability, Availability) {
    use crate::error::{SpawnError, Stage};
    match test_sandbox(true, true) {
        Ok(()) => (Availability::Available, Availability::Available),
        Err(
            e @ SpawnError::Setup {
                stage: Stage::Hostname,
                ..
            },
        ) => (
            Availability::Available,
            Availability::Unavailable(e.to_string()),
        ),
        Err(e) => (
            Availability::Unavailable(e.to_string()),
            availability(test_sandbox(false, true)),
        ),
    }
}

/// Probes what this kernel and process offer. The first call spawns one minimal sandbox to
/// test user namespaces for real (a uid map write and a mount, which AppArmor on Ubuntu 24.04
/// refuses although `clone` with `CLONE_NEWUSER` succeeds); later calls return the cached
/// result.
///
/// The first call blocks the calling thread until that sandbox has ended; the sandbox runs on
/// a thread of its own, so calling from inside a tokio runtime works.
///
/// # Examples
///
/// ```no_run
/// let probe = tokio_sandbox::probe();
/// if !probe.user_namespace.is_available() {
///     eprintln!("user namespaces: {}", probe.user_namespace);
/// }
/// print!("{probe}");
/// ```
pub fn probe() -> &'static Probe {
    static PROBE: OnceLock<Probe> = OnceLock::new();
    PROBE.get_or_init(probe_now)
}

fn probe_now() -> Probe {
    // First: it may move this process into a leaf cgroup, which `cgroup_v2` then shows.
    let delegation = crate::cgroup::delegation();
    let user_namespace = availability(test_sandbox(false, false));
    let (proc_mount, hostname) = if user_namespace.is_available() {
        proc_and_hostname()
    } else {
        let why = Availability::Unavailable("user namespaces are unavailable".into());
        (why.clone(), why)
    };
    Probe {
        kernel: rustix::system::uname()
            .release()
            .to_string_lossy()
            .into_owned(),
        clone3: if crate::spawn::clone::clone3_exists() {
            Availability::Available
        } else {
            Availability::Unavailable("ENOSYS".into())
        },
        proc_mount,
        hostname,
        user_namespace,
        retained_groups: if rustix::process::geteuid().is_root() {
            Vec::new()
        } else {
            crate::spawn::supplementary_groups().unwrap_or_default()
        },
        landlock: match crate::landlock::abi_version() {
            Ok(_) => Availability::Available,
            Err(e) => Availability::Unavailable(e.to_string()),
        },
        landlock_abi: crate::landlock::abi_version().ok(),
        seccomp: {
            // PR_GET_SECCOMP answers EINVAL when seccomp is not built in.
            // SAFETY: prctl(PR_GET_SECCOMP) takes no pointer.
            let r = unsafe { libc::prctl(libc::PR_GET_SECCOMP) };
            if r < 0 {
                Availability::Unavailable(std::io::Error::last_os_error().to_string())
            } else {
                Availability::Available
            }
        },
        mount_setattr: syscall_exists(libc::SYS_mount_setattr, [usize::MAX, 0, 0, 0, 0]),
        cgroup_v2: crate::cgroup::cgroup_v2(),
        cgroup_limits: match delegation {
            Ok(_) => Availability::Available,
            Err(why) => Availability::Unavailable(why.to_string()),
        },
        cgroup_parent: delegation.ok().map(|d| d.parent.clone()),
        cgroup_moved_into: delegation.ok().and_then(|d| d.moved_into.clone()),
    }
}

impl std::fmt::Display for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "kernel:          {}", self.kernel)?;
        writeln!(f, "clone3:          {}", self.clone3)?;
        match (&self.user_namespace, self.retained_groups.as_slice()) {
            (Availability::Available, []) | (Availability::Unavailable(_), _) => {
                writeln!(f, "user namespace:  {}", self.user_namespace)?
            }
            (Availability::Available, groups) => writeln!(
                f,
                "user namespace:  yes, refused by default: the caller's supplementary groups \
                 ({}) would stay in force inside; Policy::allow_retained_groups(true) allows \
                 them, dropping them needs root",
                crate::error::group_list(groups)
            )?,
        }
        if self.user_namespace.is_available() {
            writeln!(f, "fresh /proc:     {}", self.proc_mount)?;
            writeln!(f, "hostname:        {}", self.hostname)?;
        }
        match self.landlock_abi {
            Some(v) => writeln!(f, "landlock:        ABI {v}")?,
            None => writeln!(f, "landlock:        {}", self.landlock)?,
        }
        writeln!(f, "seccomp:         {}", self.seccomp)?;
        writeln!(f, "mount_setattr:   {}", self.mount_setattr)?;
        match &self.cgroup_limits {
            Availability::Available => {
                write!(
                    f,
                    "cgroup v2:       limits in child cgroups of {}",
                    self.cgroup_parent
                        .as_deref()
                        .unwrap_or(Path::new("?"))
                        .display()
                )?;
                match &self.cgroup_moved_into {
                    Some(leaf) => writeln!(
                        f,
                        " (this process moved into {}: controllers are enabled only in a \
                         cgroup without processes)",
                        leaf.display()
                    ),
                    None => writeln!(f),
                }
            }
            Availability::Unavailable(why) => {
                writeln!(f, "cgroup v2:       not used: {why} (limits use rlimits)")
            }
        }
    }
}
