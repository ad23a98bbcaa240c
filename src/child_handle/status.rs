//! How a run ended and what it used: the [`RunStatus`] of a finished [`Child`](crate::Child).

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;

use crate::cgroup::CgroupEvents;
use crate::enforcement::Enforcement;
use crate::policy::Limits;

/// Why a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EndReason {
    /// The program exited by itself.
    Exited,
    /// A signal the sandbox did not cause ended it.
    Signaled,
    /// [`Command::timeout`](crate::Command::timeout) passed and the sandbox was killed.
    Timeout,
    /// The CPU-time limit (`SIGXCPU`, or `SIGKILL` at the hard limit).
    CpuLimit,
    /// The file-size limit (`SIGXFSZ`).
    FileSizeLimit,
    /// The cgroup's memory limit: the kernel's OOM killer ended a process of it.
    MemoryLimit,
    /// The caller killed it ([`Child::kill`](crate::Child::kill),
    /// [`Child::start_kill`](crate::Child::start_kill), `terminate` past grace).
    Killed,
}

/// One limit that was in force, and what enforced it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct LimitReport {
    /// `cpu_time_seconds`, `memory_bytes`, `address_space_bytes`, `file_size_bytes`,
    /// `open_files` or `processes`.
    pub name: &'static str,
    /// The limit.
    pub value: u64,
    /// The mechanism: an rlimit, named as in getrlimit(2).
    pub mechanism: &'static str,
    /// Whether the kernel enforces it for this sandbox.
    pub enforced: bool,
    /// What to know about this mechanism, if anything.
    pub note: Option<&'static str>,
}

/// The final status of a run: how it ended, what it used, which limits and layers applied.
/// Serialized by the CLI's `--status-json` (the field names are stable).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct RunStatus {
    /// The exit code, when the program exited.
    pub exit_code: Option<i32>,
    /// The terminating signal, when a signal ended it.
    pub signal: Option<i32>,
    /// Why it ended.
    pub ended_by: EndReason,
    /// From the spawn's return to when the end was observed (by [`Child::wait`](crate::Child::wait)
    /// or [`Child::try_wait`](crate::Child::try_wait)), in milliseconds: await the child promptly
    /// to measure a run.
    pub wall_time_ms: u64,
    /// `wall_time_ms` in microseconds.
    pub wall_time_us: u64,
    /// User CPU time, in milliseconds, of every process of the sandbox but its init: when the
    /// program ends (by itself, by a limit, a timeout or a kill), init kills what is left and
    /// reaps it all before reporting (rusage of the reaped processes). A process whose parent
    /// ignores `SIGCHLD` is reaped by the kernel and counted nowhere. 0 when the figures are
    /// unknown (see `ResourceUsage`).
    pub user_time_ms: u64,
    /// `user_time_ms` in microseconds.
    pub user_time_us: u64,
    /// System CPU time, in milliseconds, counted like `user_time_ms`.
    pub system_time_ms: u64,
    /// `system_time_ms` in microseconds.
    pub system_time_us: u64,
    /// Peak resident memory in bytes (see `peak_memory_scope`); never the memory of the process
    /// that spawned the sandbox. `None` when unknown.
    pub peak_memory_bytes: Option<u64>,
    /// What `peak_memory_bytes` covers: `sandbox` (the cgroup's `memory.peak`) or
    /// `largest_process` (from rusage, without a cgroup, where the total is not observable).
    pub peak_memory_scope: &'static str,
    /// The sandbox's own tmpfs mounts (`/tmp`, `/dev/shm`, the home, those of
    /// [`Policy::tmpfs`](crate::Policy::tmpfs)) that were full when the program ended, as its
    /// init saw them on learning that: a program that dies of `SIGBUS` (a full `/dev/shm`
    /// under shared memory) or fails with `ENOSPC` likely ran out there. Empty when none was,
    /// or when another process freed the space first (Python's resource tracker removes a
    /// leaked shared memory segment as soon as the program is gone).
    pub full_tmpfs: Vec<FullTmpfs>,
    /// The limits in force.
    pub limits: Vec<LimitReport>,
    /// The isolation layers.
    pub enforcement: Enforcement,
}

/// A tmpfs of the sandbox that had no free space or no free inode when the program ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct FullTmpfs {
    /// Its path in the sandbox.
    pub path: std::path::PathBuf,
    /// Its size limit in bytes.
    pub size_bytes: u64,
    /// Its inode limit.
    pub inodes: u64,
    /// No block was free: the size was used up.
    pub no_space: bool,
    /// No inode was free: the file count was used up (empty files take no space).
    pub no_inodes: bool,
}

impl std::fmt::Display for FullTmpfs {
    /// "/dev/shm (a 256 MiB tmpfs) was full", naming the limit that ran out.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mib = self.size_bytes >> 20;
        match (self.no_space, self.no_inodes) {
            (_, true) => write!(
                f,
                "{} (a {mib} MiB tmpfs) had no free inode ({} files)",
                self.path.display(),
                self.inodes
            ),
            _ => write!(f, "{} (a {mib} MiB tmpfs) was full", self.path.display()),
        }
    }
}

/// What a finished sandbox used: every process its init reaped, with what those had reaped in
/// turn (getrusage(2) `RUSAGE_CHILDREN` in init, reported with the program's status). That is
/// every process of the sandbox but those whose parent ignored `SIGCHLD` (or set
/// `SA_NOCLDWAIT`): the kernel reaps them itself and adds their usage to no one.
///
/// Where init could not report (it was killed with `SIGKILL` after not ending the sandbox when
/// asked, or without a pid namespace), the CPU times are those of the processes init had reaped
/// and the peak is unknown: init's own figure would hold the memory of the process that
/// spawned the sandbox, which shared its memory until init was exec'd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResourceUsage {
    /// CPU time in user mode.
    pub user_time: std::time::Duration,
    /// CPU time in kernel mode.
    pub system_time: std::time::Duration,
    /// The largest resident set size of any one process, in bytes; `None` when unknown.
    pub max_rss_bytes: Option<u64>,
}

/// A finished sandbox: how it ended and what it used, observed once by the [`Child`](crate::Child).
#[derive(Debug, Clone)]
pub(crate) struct Ended {
    pub status: ExitStatus,
    /// `None` when another waiter took the exit status.
    pub usage: Option<ResourceUsage>,
    pub end: EndReason,
    /// From the spawn's return to when the end was observed.
    pub wall_time: Duration,
    /// What the sandbox's cgroup recorded, when it had one.
    pub cgroup_events: Option<CgroupEvents>,
    /// The tmpfs mounts that were full.
    pub full_tmpfs: Vec<FullTmpfs>,
}

/// How a run ended, in the order the causes are told apart.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Causes<'a> {
    pub status: ExitStatus,
    pub usage: Option<ResourceUsage>,
    pub cgroup_events: Option<CgroupEvents>,
    /// The wait's deadline passed and the sandbox was killed for it.
    pub timed_out: bool,
    /// The `Child` sent `SIGKILL`.
    pub killed: bool,
    pub limits: &'a Limits,
}

impl Causes<'_> {
    /// Why the run ended.
    pub(crate) fn end_reason(&self) -> EndReason {
        let signal = self.status.signal();
        let cpu = self
            .usage
            .map(|u| u.user_time + u.system_time)
            .unwrap_or_default();
        let oom = self.cgroup_events.is_some_and(|e| e.oom_kills > 0);
        if self.timed_out {
            EndReason::Timeout
        } else if oom {
            EndReason::MemoryLimit
        } else if self.limits.cpu_seconds.is_some_and(|s| {
            // The program can send itself SIGXCPU: only a limit that is set counts, and
            // SIGKILL only once the CPU time reached it.
            signal == Some(libc::SIGXCPU)
                || (signal == Some(libc::SIGKILL) && cpu >= Duration::from_secs(s))
        }) {
            EndReason::CpuLimit
        } else if signal == Some(libc::SIGXFSZ) && self.limits.file_size.is_some() {
            EndReason::FileSizeLimit
        } else if self.killed && signal == Some(libc::SIGKILL) {
            EndReason::Killed
        } else if signal.is_some() {
            EndReason::Signaled
        } else {
            EndReason::Exited
        }
    }
}

impl Ended {
    /// The run's status, with the limits and layers it ran under.
    pub(crate) fn run_status(&self, limits: &Limits, enforcement: &Enforcement) -> RunStatus {
        let usage = self.usage;
        let ms = |d: Duration| d.as_millis() as u64;
        let us = |d: Duration| d.as_micros() as u64;
        let time = |f: fn(&ResourceUsage) -> Duration| usage.as_ref().map(f).unwrap_or_default();
        let (user, system) = (time(|u| u.user_time), time(|u| u.system_time));
        RunStatus {
            exit_code: self.status.code(),
            signal: self.status.signal(),
            ended_by: self.end,
            wall_time_ms: ms(self.wall_time),
            wall_time_us: us(self.wall_time),
            user_time_ms: ms(user),
            user_time_us: us(user),
            system_time_ms: ms(system),
            system_time_us: us(system),
            peak_memory_bytes: self
                .cgroup_events
                .and_then(|e| e.memory_peak)
                .or(usage.and_then(|u| u.max_rss_bytes)),
            peak_memory_scope: if self.cgroup_events.is_some_and(|e| e.memory_peak.is_some()) {
                "sandbox"
            } else {
                "largest_process"
            },
            full_tmpfs: self.full_tmpfs.clone(),
            limits: limit_reports(
                limits,
                self.cgroup_events.is_some(),
                enforcement.process_limit.is_some(),
            ),
            enforcement: enforcement.clone(),
        }
    }
}

/// The limits in force and what enforces each: the cgroup's files where the sandbox had a
/// cgroup, rlimits elsewhere.
fn limit_reports(l: &Limits, cgroup: bool, process_limit_enforced: bool) -> Vec<LimitReport> {
    let mut limits = Vec::new();
    let mut add = |name, value: Option<u64>, mechanism, enforced, note| {
        if let Some(value) = value {
            limits.push(LimitReport {
                name,
                value,
                mechanism,
                enforced,
                note,
            });
        }
    };
    add("cpu_time_seconds", l.cpu_seconds, "RLIMIT_CPU", true, None);
    let as_note = Some(
        "address space per process, not resident memory: tmpfs files and memfds are not \
         counted, and the JVM, Node and Go reserve large ranges and may fail at start",
    );
    if l.address_space.is_none() && cgroup {
        add("memory_bytes", l.memory, "cgroup memory.max", true, None);
    } else if l.address_space.is_none() {
        add("memory_bytes", l.memory, "RLIMIT_AS", true, as_note);
    }
    add(
        "address_space_bytes",
        l.address_space,
        "RLIMIT_AS",
        true,
        as_note,
    );
    add("file_size_bytes", l.file_size, "RLIMIT_FSIZE", true, None);
    add("open_files", l.open_files, "RLIMIT_NOFILE", true, None);
    add(
        "cpu_millis",
        l.cpu_millis.map(u64::from),
        "cgroup cpu.max",
        true,
        None,
    );
    if cgroup {
        add("processes", l.processes, "cgroup pids.max", true, None);
    } else {
        add(
            "processes",
            l.processes,
            "RLIMIT_NPROC",
            process_limit_enforced,
            Some("counted in the sandbox's own user namespace; host uid 0 is exempt"),
        );
    }
    limits
}
