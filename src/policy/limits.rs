//! The sandbox's resource limits (rlimits) and their defaults.

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
/// - `open_files` (`RLIMIT_NOFILE`): file descriptors per process. Left unset, it is derived
///   from the host's `fs.file-max` (the size of the host's table of open files, which every
///   process of the host allocates from: when it is full, unprivileged processes get `ENFILE`)
///   and the process limit, so that the sandbox's processes together can hold at most a quarter
///   of it through descriptors.
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
    #[serde(with = "crate::size::opt_count")]
    pub address_space: Option<u64>,
    /// Largest file written, in bytes.
    #[serde(with = "crate::size::opt_count")]
    pub file_size: Option<u64>,
    /// Open file descriptors per process. `None` (the default) derives the limit from the
    /// host's `fs.file-max` and [`Limits::processes`]: at most a quarter of `file-max` shared
    /// out among the processes (see [`Limits::default_open_files`]), and never above the
    /// caller's own limit.
    pub open_files: Option<u64>,
    /// Processes and threads of the sandbox.
    pub processes: Option<u64>,
    /// Memory in bytes. With a delegated cgroup v2 memory controller this is the sandbox's
    /// `memory.max` (everything it uses, shared memory and its tmpfs files included).
    /// Elsewhere it is backed by `RLIMIT_AS`, which bounds each process's address space only:
    /// memory in tmpfs files or memfds is not counted, and runtimes that reserve large ranges
    /// break (see `address_space`); the status says which applied. Ignored when
    /// `address_space` is set too. A policy file takes it (and the other sizes) as a number of
    /// bytes or with a unit: `memory = "512M"`.
    #[serde(with = "crate::size::opt_count")]
    pub memory: Option<u64>,
    /// CPU bandwidth for the whole sandbox in thousandths of a CPU (`500`: half a CPU): the
    /// cgroup's `cpu.max`. It needs a delegated cgroup v2 cpu controller; without one,
    /// spawning fails with [`SpawnError::Unsupported`](crate::SpawnError::Unsupported) (no
    /// rlimit bounds CPU bandwidth).
    pub cpu_millis: Option<u32>,
}

/// The default process limit of a sandbox.
pub const DEFAULT_PROCESS_LIMIT: u64 = 1024;

/// The smallest open-files limit [`Limits::default_open_files`] derives, on hosts whose
/// `fs.file-max` is small for their process limit (below 256 × the process limit).
pub const MIN_DEFAULT_OPEN_FILES: u64 = 64;

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
    /// The `RLIMIT_NOFILE` `(soft, hard)` a sandbox gets when [`Limits::open_files`] is unset
    /// and [`Limits::processes`] is set: the hard limit is `file_max / 4 / processes` (at
    /// least [`MIN_DEFAULT_OPEN_FILES`]), lowered to the caller's hard limit, and the soft
    /// limit is the caller's, lowered to that. So, with the default 1024 processes, the
    /// sandbox's descriptors reach at most a quarter of `fs.file-max` (2,466,239 on a host
    /// with 24 GiB and no systemd gives 602 descriptors per process; systemd raises
    /// `file-max` to the largest value, which leaves the caller's limits as they are).
    /// `None` when `open_files` is set or there is no process limit.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_sandbox::Limits;
    /// let l = Limits::default(); // 1024 processes
    /// assert_eq!(l.default_open_files(2_466_239, (20_000, 20_000)), Some((602, 602)));
    /// assert_eq!(l.default_open_files(u64::MAX >> 1, (1024, 524_288)), Some((1024, 524_288)));
    /// ```
    pub fn default_open_files(&self, file_max: u64, caller: (u64, u64)) -> Option<(u64, u64)> {
        if self.open_files.is_some() {
            return None;
        }
        let processes = self.processes?.max(1);
        let share = (file_max / 4 / processes).max(MIN_DEFAULT_OPEN_FILES);
        let hard = share.min(caller.1);
        Some((caller.0.min(hard), hard))
    }

    /// `(resource, soft, hard)` for prlimit(2).
    ///
    /// Always `RLIMIT_RTPRIO` and `RLIMIT_NICE` 0, whatever the caller's: no process of the
    /// sandbox takes a real-time policy or lowers its nice value, so none rises above the
    /// sandbox's init, which must keep running for the timeout and the lifeline
    /// (sched_setscheduler(2), setpriority(2)).
    pub(crate) fn rlimits(&self) -> Vec<(u32, u64, u64)> {
        let mut v = vec![(libc::RLIMIT_RTPRIO, 0, 0), (libc::RLIMIT_NICE, 0, 0)];
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
