//! The async handle to a running sandbox.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Output};

use tokio::io::unix::AsyncFd;
use tokio::io::AsyncReadExt;
use tokio::process::{ChildStderr, ChildStdin, ChildStdout};

use crate::enforcement::Enforcement;

/// Why a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
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
    /// The caller killed it ([`Child::kill`], [`Child::start_kill`], `terminate` past grace).
    Killed,
}

/// One limit that was in force, and what enforced it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
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
pub struct RunStatus {
    /// The exit code, when the program exited.
    pub exit_code: Option<i32>,
    /// The terminating signal, when a signal ended it.
    pub signal: Option<i32>,
    /// Why it ended.
    pub ended_by: EndReason,
    /// From the spawn's return to when the end was observed (by [`Child::wait`] or
    /// [`Child::try_wait`]), in milliseconds: await the child promptly to measure a run.
    pub wall_time_ms: u64,
    /// User CPU time, in milliseconds, of the sandbox's init and the processes it reaped
    /// (rusage): processes still running when the program exits are killed with the sandbox
    /// and not counted.
    pub user_time_ms: u64,
    /// System CPU time, in milliseconds, counted like `user_time_ms` (it includes init's own
    /// setup of the program, about a millisecond).
    pub system_time_ms: u64,
    /// Peak resident memory in bytes (see `peak_memory_scope`).
    pub peak_memory_bytes: Option<u64>,
    /// What `peak_memory_bytes` covers: `sandbox` (the cgroup's `memory.peak`) or
    /// `largest_process` (from rusage, without a cgroup, where the total is not observable).
    pub peak_memory_scope: &'static str,
    /// The limits in force.
    pub limits: Vec<LimitReport>,
    /// The isolation layers.
    pub enforcement: Enforcement,
}

/// What a finished sandbox used: its init and every process it reaped (getrusage(2) of a
/// waited-for child).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResourceUsage {
    /// CPU time in user mode.
    pub user_time: std::time::Duration,
    /// CPU time in kernel mode.
    pub system_time: std::time::Duration,
    /// The largest resident set size of any one process, in bytes.
    pub max_rss_bytes: u64,
}

/// A running (or finished) sandboxed program, like [`tokio::process::Child`].
///
/// Waiting uses the pidfd from `clone3(CLONE_PIDFD)` on tokio's reactor: no `SIGCHLD` handler
/// is involved. The program's exact status comes from the sandbox's init over a pipe, so a
/// caller that ignores `SIGCHLD` or reaps with `waitpid(-1)` elsewhere does not lose it.
///
/// A `Child` dropped before the program ended does not leave a zombie: the program keeps
/// running (or is killed, with [`Command::kill_on_drop`](crate::Command::kill_on_drop)) and is
/// reaped in the background when it ends.
#[derive(Debug)]
pub struct Child {
    pid: u32,
    pidfd: Option<AsyncFd<OwnedFd>>,
    status: Option<ExitStatus>,
    kill_on_drop: bool,
    enforcement: Enforcement,
    /// Read end of the pipe on which the sandbox's init reports the program's wait status.
    status_pipe: OwnedFd,
    /// Whether this handle sent SIGKILL (which ends init before it can report).
    killed: bool,
    /// When the run's time is up ([`Command::timeout`](crate::Command::timeout)).
    deadline: Option<tokio::time::Instant>,
    timed_out: bool,
    usage: Option<ResourceUsage>,
    limits: crate::policy::Limits,
    started: std::time::Instant,
    ended: Option<std::time::Instant>,
    /// The sandbox's own cgroup (removed once the sandbox has been reaped).
    cgroup: Option<crate::cgroup::SandboxCgroup>,
    cgroup_events: Option<crate::cgroup::CgroupEvents>,
    /// The caller's end of the program's stdin, if it was [`Stdio::piped`](crate::Stdio::piped).
    pub stdin: Option<ChildStdin>,
    /// The caller's end of the program's stdout, if piped.
    pub stdout: Option<ChildStdout>,
    /// The caller's end of the program's stderr, if piped.
    pub stderr: Option<ChildStderr>,
}

/// `waitid(P_PIDFD, fd, WEXITED | WNOHANG | __WALL, &rusage)` (the system call, waitid(2),
/// whose fifth argument returns the resource usage); `None` while running.
fn waitid_nohang(fd: BorrowedFd<'_>) -> io::Result<Option<(ExitStatus, ResourceUsage)>> {
    // SAFETY: siginfo_t and rusage are plain data; zeroed is a valid value.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: waitid writes into `info` and `ru`, which are live.
        let r = unsafe {
            libc::syscall(
                libc::SYS_waitid,
                libc::P_PIDFD,
                fd.as_raw_fd(),
                &mut info as *mut libc::siginfo_t,
                libc::WEXITED | libc::WNOHANG | libc::__WALL,
                &mut ru as *mut libc::rusage,
            )
        };
        if r == 0 {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    // SAFETY: waitid filled `info` for a CLD_* event, or left it zeroed (si_pid 0).
    let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
    if pid == 0 {
        return Ok(None);
    }
    let raw = match info.si_code {
        libc::CLD_EXITED => (status & 0xff) << 8,
        libc::CLD_KILLED => status & 0x7f,
        libc::CLD_DUMPED => (status & 0x7f) | 0x80,
        _ => return Ok(None),
    };
    let time = |t: libc::timeval| {
        std::time::Duration::from_secs(t.tv_sec as u64)
            + std::time::Duration::from_micros(t.tv_usec as u64)
    };
    let usage = ResourceUsage {
        user_time: time(ru.ru_utime),
        system_time: time(ru.ru_stime),
        max_rss_bytes: ru.ru_maxrss as u64 * 1024,
    };
    Ok(Some((ExitStatus::from_raw(raw), usage)))
}

/// Whether the process behind `pidfd` has ended (poll(2) reports it readable).
fn pidfd_exited(fd: BorrowedFd<'_>) -> bool {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one live pollfd, zero timeout.
    unsafe { libc::poll(&mut pfd, 1, 0) == 1 }
}

/// Reaps the process behind `pidfd`, blocking until it ends
/// (`waitid(P_PIDFD, fd, WEXITED | __WALL)`); the status is dropped.
pub(crate) fn reap_blocking(pidfd: BorrowedFd<'_>) {
    // SAFETY: siginfo_t is plain data; zeroed is a valid value.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: waitid writes into `info`, a live siginfo_t; the pidfd is borrowed, so open.
        let r = unsafe {
            libc::waitid(
                libc::P_PIDFD,
                pidfd.as_raw_fd() as libc::id_t,
                &mut info,
                libc::WEXITED | libc::__WALL,
            )
        };
        if r == 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return;
        }
    }
}

/// Reaps the process behind `pidfd` once it ends, awaiting that on tokio's reactor; the status
/// is dropped. Done too when another waiter took it (`ECHILD`).
pub(crate) async fn reap(pidfd: &AsyncFd<OwnedFd>) -> io::Result<()> {
    loop {
        let mut guard = pidfd.readable().await?;
        match waitid_nohang(pidfd.as_fd()) {
            Ok(Some(_)) => return Ok(()),
            Ok(None) => guard.clear_ready(),
            Err(e) if e.raw_os_error() == Some(libc::ECHILD) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

/// Reaps the process behind `pidfd` once it ends, without blocking the caller.
pub(crate) fn reap_in_background(
    pidfd: AsyncFd<OwnedFd>,
    cgroup: Option<crate::cgroup::SandboxCgroup>,
) {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            handle.spawn(async move {
                loop {
                    let Ok(mut guard) = pidfd.readable().await else {
                        return;
                    };
                    match waitid_nohang(pidfd.as_fd()) {
                        Ok(None) => guard.clear_ready(),
                        _ => {
                            drop(cgroup);
                            return;
                        }
                    }
                }
            });
        }
        Err(_) => {
            let fd = pidfd.into_inner();
            std::thread::spawn(move || {
                reap_blocking(fd.as_fd());
                drop(cgroup);
            });
        }
    }
}

/// Registers an owned fd (pidfd or pipe end) with tokio's reactor for readability.
pub(crate) fn async_fd(fd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: the OwnedFd is a valid descriptor that the AsyncFd owns from now on; nothing else
    // closes or replaces it while registered.
    unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
        .map_err(io::Error::from)
}

/// `pidfd_send_signal(pidfd, sig, NULL, 0)` (pidfd_send_signal(2)).
pub(crate) fn pidfd_send_signal(fd: BorrowedFd<'_>, sig: i32) -> io::Result<()> {
    // SAFETY: no pointer arguments besides the NULL siginfo.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// What the spawning code hands over to a new [`Child`].
pub(crate) struct ChildParts {
    pub pid: u32,
    pub pidfd: OwnedFd,
    pub kill_on_drop: bool,
    pub enforcement: Enforcement,
    pub stdio: (Option<ChildStdin>, Option<ChildStdout>, Option<ChildStderr>),
    pub status_pipe: OwnedFd,
    pub timeout: Option<std::time::Duration>,
    pub limits: crate::policy::Limits,
    pub cgroup: Option<crate::cgroup::SandboxCgroup>,
}

impl Child {
    pub(crate) fn new(parts: ChildParts) -> io::Result<Child> {
        let ChildParts {
            pid,
            pidfd,
            kill_on_drop,
            enforcement,
            stdio,
            status_pipe,
            timeout,
            limits,
            cgroup,
        } = parts;
        Ok(Child {
            pid,
            pidfd: Some(async_fd(pidfd)?),
            status: None,
            kill_on_drop,
            enforcement,
            stdin: stdio.0,
            stdout: stdio.1,
            stderr: stdio.2,
            status_pipe,
            killed: false,
            deadline: timeout.map(|t| tokio::time::Instant::now() + t),
            timed_out: false,
            usage: None,
            limits,
            started: std::time::Instant::now(),
            ended: None,
            cgroup,
            cgroup_events: None,
        })
    }

    /// The host pid of the sandbox's first process, or `None` once it has been reaped.
    pub fn id(&self) -> Option<u32> {
        self.status.is_none().then_some(self.pid)
    }

    /// The pidfd of the sandbox's first process (pidfd_open(2) semantics), usable with
    /// `pidfd_send_signal(2)`, `waitid(P_PIDFD)` or `poll(2)`.
    pub fn pidfd(&self) -> BorrowedFd<'_> {
        self.pidfd
            .as_ref()
            .expect("the pidfd is only taken on drop")
            .as_fd()
    }

    /// Which isolation layers this sandbox runs under.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use tokio_sandbox::Command;
    /// let child = Command::new("true").spawn().await?;
    /// let e = child.enforcement();
    /// println!("Landlock ABI {:?}, seccomp {}", e.landlock_abi, e.seccomp);
    /// for p in &e.properties {
    ///     if let Some(why) = &p.not_enforced {
    ///         eprintln!("{:?} not enforced: {why}", p.property);
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn enforcement(&self) -> &Enforcement {
        &self.enforcement
    }

    /// Sends signal `sig` (e.g. `libc::SIGTERM`) to the program (pidfd_send_signal(2)).
    ///
    /// The sandbox's init receives it and forwards it to the program, except `SIGKILL` and
    /// `SIGSTOP`, which act on init itself (`SIGKILL` ends the whole sandbox), and `SIGIO`,
    /// which is not forwarded.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use tokio_sandbox::Command;
    /// let mut child = Command::new("sleep").arg("1000").spawn().await?;
    /// child.signal(libc::SIGINT)?;
    /// child.wait().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`io::ErrorKind::InvalidInput`] once the program has been reaped (its status
    /// collected); otherwise the errno of pidfd_send_signal(2) (`EINVAL` for an invalid
    /// signal).
    pub fn signal(&mut self, sig: i32) -> io::Result<()> {
        if self.status.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "invalid argument: can't signal an exited process",
            ));
        }
        pidfd_send_signal(self.pidfd(), sig)?;
        if sig == libc::SIGKILL {
            self.killed = true;
        }
        Ok(())
    }

    /// Sends `SIGKILL` without waiting. Killing the sandbox's first process ends every process
    /// in the sandbox (it is pid 1 of its pid namespace).
    ///
    /// # Errors
    /// As [`Child::signal`].
    pub fn start_kill(&mut self) -> io::Result<()> {
        self.signal(libc::SIGKILL)
    }

    /// Sends `SIGKILL` to the sandbox and waits for it to end, with every process in it.
    ///
    /// Cancel-safe: if the future is dropped, the signal has been sent and [`Child::wait`] can
    /// be called again.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use tokio_sandbox::{Command, EndReason};
    /// let mut child = Command::new("sleep").arg("1000").spawn().await?;
    /// child.kill().await?;
    /// assert_eq!(child.run_status().unwrap().ended_by, EndReason::Killed);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Child::start_kill`] (so [`io::ErrorKind::InvalidInput`] when the status has already
    /// been collected), then as [`Child::wait`].
    pub async fn kill(&mut self) -> io::Result<()> {
        self.start_kill()?;
        self.wait().await?;
        Ok(())
    }

    /// Returns the exit status if the program has ended, `Ok(None)` while it runs. Never
    /// blocks; does not close stdin and does not apply
    /// [`Command::timeout`](crate::Command::timeout). Once it has returned a status, later
    /// calls (and [`Child::wait`]) return the same one.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use tokio_sandbox::Command;
    /// let mut child = Command::new("sleep").arg("1").spawn().await?;
    /// let status = loop {
    ///     if let Some(status) = child.try_wait()? {
    ///         break status;
    ///     }
    ///     tokio::time::sleep(Duration::from_millis(100)).await;
    /// };
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The errno of waitid(2), other than `ECHILD`; an error of kind
    /// [`io::ErrorKind::Other`] when another waiter (`waitpid(-1)`, or `SIGCHLD` set to
    /// `SIG_IGN`) collected the sandbox's exit status and the sandbox's init ended without
    /// reporting the program's status.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if let Some(s) = self.status {
            return Ok(Some(s));
        }
        let status = match waitid_nohang(self.pidfd()) {
            Ok(Some((init, usage))) => {
                self.usage = Some(usage);
                Some(self.program_status(Some(init))?)
            }
            Ok(None) => None,
            // The sandbox's init has exec'd, which made it an ordinary SIGCHLD child: a caller
            // that ignores SIGCHLD (auto-reap) or reaps with waitpid(-1) takes its status. The
            // pidfd still tells that it ended, and init reported the program's status on the
            // status pipe before exiting.
            Err(e) if e.raw_os_error() == Some(libc::ECHILD) => {
                if pidfd_exited(self.pidfd()) {
                    Some(self.program_status(None)?)
                } else {
                    None
                }
            }
            Err(e) => return Err(e),
        };
        if status.is_some() {
            self.ended = Some(std::time::Instant::now());
            if let Some(cg) = self.cgroup.take() {
                self.cgroup_events = Some(cg.events());
            }
        }
        self.status = status;
        Ok(status)
    }

    /// The program's exact wait status as init reported it. When init ended before it could
    /// report (it was killed, e.g. by [`Child::start_kill`]), its own status (`init`), or
    /// `SIGKILL` if this handle sent it and the status was taken by another waiter.
    fn program_status(&self, init: Option<ExitStatus>) -> io::Result<ExitStatus> {
        let mut buf = [0u8; 4];
        match rustix::io::read(&self.status_pipe, &mut buf) {
            Ok(4) => Ok(ExitStatus::from_raw(i32::from_ne_bytes(buf))),
            _ => match init {
                Some(s) => Ok(s),
                None if self.killed => Ok(ExitStatus::from_raw(libc::SIGKILL)),
                None => Err(io::Error::other(
                    "the sandbox ended without reporting a status and its exit status was \
                     collected by another waiter (waitpid(-1) or SIGCHLD set to SIG_IGN)",
                )),
            },
        }
    }

    /// Waits for the program to end and returns its status. Closes the caller's end of stdin
    /// first, so a program reading stdin sees EOF. With
    /// [`Command::timeout`](crate::Command::timeout), kills the sandbox once the time is up and
    /// returns the status of the killed run.
    ///
    /// Idempotent: later calls return the same status. Cancel-safe: if the future is dropped,
    /// no status is lost, and a later `wait` or [`Child::try_wait`] returns it.
    ///
    /// Do not wait on a program whose piped stdout or stderr nobody reads: once the pipe is full
    /// (64 KiB by default) the program blocks writing and never ends. Use
    /// [`Child::wait_with_output`] to read and wait at once.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use tokio_sandbox::Command;
    /// let mut child = Command::new("sh").args(["-c", "exit 3"]).spawn().await?;
    /// assert_eq!(child.wait().await?.code(), Some(3));
    /// assert_eq!(child.wait().await?.code(), Some(3)); // the same status again
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Child::try_wait`]; an error polling the pidfd on tokio's reactor; the errno of
    /// pidfd_send_signal(2) when the kill at the timeout fails.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        loop {
            if let Some(s) = self.try_wait()? {
                return Ok(s);
            }
            let pidfd = self.pidfd.as_ref().expect("present until drop");
            match self.deadline.filter(|_| !self.timed_out) {
                Some(deadline) => match tokio::time::timeout_at(deadline, pidfd.readable()).await {
                    Ok(guard) => guard?.clear_ready(),
                    Err(_) => {
                        self.timed_out = true;
                        self.start_kill()?;
                    }
                },
                None => pidfd.readable().await?.clear_ready(),
            }
        }
    }

    /// Whether [`Command::timeout`](crate::Command::timeout) ended the run (the sandbox was
    /// killed when its time was up).
    pub fn timed_out(&self) -> bool {
        self.timed_out
    }

    /// What the sandbox used, once it has been waited for: CPU time and peak memory of its
    /// processes. `None` before, or when another waiter took the exit status.
    pub fn resource_usage(&self) -> Option<ResourceUsage> {
        self.usage
    }

    /// The final status once the sandbox has been waited for: how it ended, wall and CPU time,
    /// peak memory, the limits in force and the isolation layers. `None` before.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use tokio_sandbox::Command;
    /// let mut child = Command::new("true").spawn().await?;
    /// child.wait().await?;
    /// let status = child.run_status().expect("waited for");
    /// println!("{:?} after {} ms", status.ended_by, status.wall_time_ms);
    /// println!("{}", serde_json::to_string_pretty(&status)?);
    /// # Ok(()) }
    /// ```
    pub fn run_status(&self) -> Option<RunStatus> {
        let status = self.status?;
        let usage = self.usage;
        let cpu = usage
            .map(|u| u.user_time + u.system_time)
            .unwrap_or_default();
        let signal = status.signal();
        let oom = self.cgroup_events.is_some_and(|e| e.oom_kills > 0);
        let ended_by = if self.timed_out {
            EndReason::Timeout
        } else if oom {
            EndReason::MemoryLimit
        } else if self.limits.cpu_seconds.is_some_and(|s| {
            // The program can send itself SIGXCPU: only a limit that is set counts, and
            // SIGKILL only once the CPU time reached it.
            signal == Some(libc::SIGXCPU)
                || (signal == Some(libc::SIGKILL) && cpu >= std::time::Duration::from_secs(s))
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
        };
        let l = self.limits;
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
        let cgroup = self.cgroup_events.is_some();
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
                self.enforcement.process_limit.is_some(),
                Some("counted in the sandbox's own user namespace; host uid 0 is exempt"),
            );
        }
        let ms = |d: std::time::Duration| d.as_millis() as u64;
        Some(RunStatus {
            exit_code: status.code(),
            signal,
            ended_by,
            wall_time_ms: ms(self.ended.unwrap_or(self.started) - self.started),
            user_time_ms: usage.map(|u| ms(u.user_time)).unwrap_or(0),
            system_time_ms: usage.map(|u| ms(u.system_time)).unwrap_or(0),
            peak_memory_bytes: self
                .cgroup_events
                .and_then(|e| e.memory_peak)
                .or(usage.map(|u| u.max_rss_bytes)),
            peak_memory_scope: if self.cgroup_events.is_some_and(|e| e.memory_peak.is_some()) {
                "sandbox"
            } else {
                "largest_process"
            },
            limits,
            enforcement: self.enforcement.clone(),
        })
    }

    /// Asks the program to stop with `SIGTERM`, waits up to `grace` for the sandbox to end,
    /// then kills the whole sandbox with `SIGKILL` and waits; returns the final status. When the
    /// program has already ended, returns its status without sending anything.
    ///
    /// Cancel-safe: if dropped, the signals sent stay sent and [`Child::wait`] can be called.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use tokio_sandbox::Command;
    /// let mut child = Command::new("server").spawn().await?;
    /// // ...
    /// let status = child.terminate(Duration::from_secs(5)).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Child::try_wait`], [`Child::signal`] and [`Child::wait`].
    pub async fn terminate(&mut self, grace: std::time::Duration) -> io::Result<ExitStatus> {
        if let Some(s) = self.try_wait()? {
            return Ok(s);
        }
        self.signal(libc::SIGTERM)?;
        match tokio::time::timeout(grace, self.wait()).await {
            Ok(status) => status,
            Err(_) => {
                self.start_kill()?;
                self.wait().await
            }
        }
    }

    /// Closes stdin, reads stdout and stderr to the end (those that are piped) while waiting,
    /// and returns everything; a stream that is not piped (or was taken from the `Child`)
    /// gives an empty `Vec`.
    ///
    /// Not cancel-safe: if the future is dropped, the output read so far is lost and the
    /// `Child` is dropped (see [`Command::kill_on_drop`](crate::Command::kill_on_drop)).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use tokio_sandbox::{Command, Stdio};
    /// let child = Command::new("uname").arg("-n").stdout(Stdio::piped()).spawn().await?;
    /// let out = child.wait_with_output().await?;
    /// assert_eq!(out.stdout, b"sandbox\n"); // the default hostname
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Child::wait`], or an error reading stdout or stderr.
    pub async fn wait_with_output(mut self) -> io::Result<Output> {
        drop(self.stdin.take());
        let mut out_pipe = self.stdout.take();
        let mut err_pipe = self.stderr.take();
        let read_out = async {
            let mut v = Vec::new();
            if let Some(p) = out_pipe.as_mut() {
                p.read_to_end(&mut v).await?;
            }
            Ok::<_, io::Error>(v)
        };
        let read_err = async {
            let mut v = Vec::new();
            if let Some(p) = err_pipe.as_mut() {
                p.read_to_end(&mut v).await?;
            }
            Ok::<_, io::Error>(v)
        };
        let (status, stdout, stderr) = tokio::try_join!(self.wait(), read_out, read_err)?;
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.status.is_some() {
            return;
        }
        let Some(pidfd) = self.pidfd.take() else {
            return;
        };
        if self.kill_on_drop {
            let _ = pidfd_send_signal(pidfd.as_fd(), libc::SIGKILL);
        }
        if let Ok(Some(_)) = waitid_nohang(pidfd.as_fd()) {
            return;
        }
        reap_in_background(pidfd, self.cgroup.take());
    }
}
