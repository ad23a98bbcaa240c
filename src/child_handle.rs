//! The async handle to a running sandbox.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Output};

use tokio::io::unix::AsyncFd;
use tokio::io::AsyncReadExt;
use tokio::process::{ChildStderr, ChildStdin, ChildStdout};

/// Which isolation layers were applied to a sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Enforcement {
    /// The namespaces the sandbox runs in (`"user"`, `"mount"`, `"pid"`, `"ipc"`, `"uts"`,
    /// `"cgroup"`, `"network"`).
    pub namespaces: Vec<&'static str>,
    /// The Landlock ABI version whose rules were enforced, or `None` if Landlock was not applied.
    pub landlock_abi: Option<u32>,
    /// Whether the default seccomp filter was installed.
    pub seccomp: bool,
    /// Whether `PR_SET_NO_NEW_PRIVS` was set.
    pub no_new_privs: bool,
    /// Whether every capability was dropped (bounding, ambient, permitted, effective, inheritable).
    pub capabilities_dropped: bool,
    /// The process limit in force (`RLIMIT_NPROC` in the sandbox's user namespace), or `None`
    /// when none is (not asked for, or the sandbox runs as host uid 0, which is exempt).
    pub process_limit: Option<u64>,
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

/// Reaps the process behind `pidfd` once it ends, without blocking the caller.
fn reap_in_background(pidfd: AsyncFd<OwnedFd>) {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            handle.spawn(async move {
                loop {
                    let Ok(mut guard) = pidfd.readable().await else {
                        return;
                    };
                    match waitid_nohang(pidfd.as_fd()) {
                        Ok(None) => guard.clear_ready(),
                        _ => return,
                    }
                }
            });
        }
        Err(_) => {
            let fd = pidfd.into_inner();
            std::thread::spawn(move || {
                // SAFETY: siginfo_t is plain data; waitid writes into it.
                let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
                // SAFETY: blocking waitid on a pidfd we own.
                unsafe {
                    libc::waitid(
                        libc::P_PIDFD,
                        fd.as_raw_fd() as libc::id_t,
                        &mut info,
                        libc::WEXITED | libc::__WALL,
                    )
                };
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

impl Child {
    pub(crate) fn new(
        pid: u32,
        pidfd: OwnedFd,
        kill_on_drop: bool,
        enforcement: Enforcement,
        stdio: (Option<ChildStdin>, Option<ChildStdout>, Option<ChildStderr>),
        status_pipe: OwnedFd,
        timeout: Option<std::time::Duration>,
    ) -> io::Result<Child> {
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
    pub fn enforcement(&self) -> &Enforcement {
        &self.enforcement
    }

    /// Sends signal `sig` (e.g. `libc::SIGTERM`) to the program (pidfd_send_signal(2)).
    ///
    /// Errors: `InvalidInput` once the program has been reaped; the errno of
    /// pidfd_send_signal(2) otherwise (EINVAL for an invalid signal).
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
    /// Errors: as [`Child::signal`].
    pub fn start_kill(&mut self) -> io::Result<()> {
        self.signal(libc::SIGKILL)
    }

    /// Sends `SIGKILL` and waits for the program to end.
    ///
    /// Cancel-safe: if the future is dropped, the signal has been sent and [`Child::wait`] can
    /// be called again.
    pub async fn kill(&mut self) -> io::Result<()> {
        self.start_kill()?;
        self.wait().await?;
        Ok(())
    }

    /// Returns the exit status if the program has ended, without waiting. Does not close stdin.
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
    /// first, so a program reading stdin sees EOF.
    ///
    /// Idempotent: later calls return the same status. Cancel-safe.
    ///
    /// Do not wait on a program whose piped stdout or stderr nobody reads: once the pipe is full
    /// (64 KiB by default) the program blocks writing and never ends. Use
    /// [`Child::wait_with_output`] to read and wait at once.
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

    /// Asks the program to stop with `SIGTERM`, waits up to `grace`, then kills the whole
    /// sandbox; returns the final status.
    ///
    /// Cancel-safe: if dropped, the signals sent stay sent and [`Child::wait`] can be called.
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
    /// and returns everything. Not cancel-safe: output read so far is lost if the future is
    /// dropped.
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
        reap_in_background(pidfd);
    }
}
