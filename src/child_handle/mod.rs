//! The async handle to a running sandbox.

pub(crate) mod command;
pub(crate) mod pidfd;
pub(crate) mod status;

use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Output};
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::process::{ChildStderr, ChildStdin, ChildStdout};

use crate::cgroup::SandboxCgroup;
use crate::child_handle::pidfd::{
    pidfd_exited, pidfd_send_signal, reap_in_background, register, waitid_nohang,
};
use crate::child_handle::status::{Causes, EndReason, Ended, FullTmpfs, ResourceUsage, RunStatus};
use crate::enforcement::Enforcement;
use crate::plan::mount::TmpfsMount;
use crate::policy::Limits;
use crate::wire::{StatusRecord, STOP_SIGNAL};

/// A running (or finished) sandboxed program, like [`tokio::process::Child`](https://docs.rs/tokio/1/tokio/process/struct.Child.html).
///
/// Waiting uses the pidfd from `clone3(CLONE_PIDFD)` on tokio's reactor: no `SIGCHLD` handler
/// is involved. The program's exact status comes from the sandbox's init over a pipe, so a
/// caller that ignores `SIGCHLD` or reaps with `waitpid(-1)` elsewhere does not lose it.
///
/// Each [`Child::wait`] registers the pidfd with the runtime it runs in, so a `Child` can be
/// waited for from another runtime than the one it was spawned on, also after that one has
/// shut down. Its piped stdio is tokio's [`ChildStdin`](https://docs.rs/tokio/1/tokio/process/struct.ChildStdin.html), [`ChildStdout`](https://docs.rs/tokio/1/tokio/process/struct.ChildStdout.html) and [`ChildStderr`](https://docs.rs/tokio/1/tokio/process/struct.ChildStderr.html),
/// registered with the runtime of the spawn, as tokio's are.
///
/// A `Child` dropped before the program ended does not leave a zombie: the program keeps
/// running (or is killed, with [`Command::kill_on_drop`](crate::Command::kill_on_drop)) and is
/// reaped in the background when it ends.
#[derive(Debug)]
pub struct Child {
    pid: u32,
    /// The pidfd of the sandbox's init, for the `Child`'s whole life (taken only by `drop`).
    pidfd: ManuallyDrop<OwnedFd>,
    state: State,
    /// Whose pidfd `pidfd` is: the sandbox's init, or a command of a running sandbox.
    of: Of,
    kill_on_drop: bool,
    enforcement: Enforcement,
    /// The program's working directory inside the sandbox.
    working_directory: std::path::PathBuf,
    limits: Limits,
    /// When the spawn returned.
    started: Instant,
    /// The caller's end of the program's stdin, if it was [`Stdio::piped`](crate::Stdio::piped).
    pub stdin: Option<ChildStdin>,
    /// The caller's end of the program's stdout, if piped.
    pub stdout: Option<ChildStdout>,
    /// The caller's end of the program's stderr, if piped.
    pub stderr: Option<ChildStderr>,
}

/// What a [`Child`] stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Of {
    /// A sandbox started for the program: `pidfd` is its init's (our child), the status pipe
    /// gives the program's wait status, and a kill ends the whole sandbox.
    Sandbox,
    /// A command of a running sandbox: `pidfd` is the command's (the sandbox's init's child),
    /// the status pipe is the command's channel (`src/control.rs`), and a kill ends the
    /// command's process group.
    Command,
}

/// Whether the sandbox still runs, and what is known of it.
#[derive(Debug)]
enum State {
    Running(Running),
    Done(Ended),
}

/// A sandbox that has not been reaped yet.
#[derive(Debug)]
struct Running {
    /// Read end of the pipe on which the sandbox's init reports the program's wait status.
    status_pipe: OwnedFd,
    /// When the run's time is up ([`Command::timeout`](crate::Command::timeout)).
    deadline: Option<tokio::time::Instant>,
    /// Whether the deadline passed and the sandbox was killed for it.
    timed_out: bool,
    /// Whether this handle ended the sandbox ([`Child::start_kill`], `SIGKILL`).
    killed: bool,
    /// When a stop asked of init ([`Child::start_kill`]) turns into `SIGKILL` of init, if init
    /// has not ended the sandbox by then.
    stop_deadline: Option<tokio::time::Instant>,
    /// The sandbox's own cgroup, read and removed once the sandbox has been reaped.
    cgroup: Option<SandboxCgroup>,
    /// The tmpfs mounts init checks for space, in the order of its report.
    tmpfs: Vec<TmpfsMount>,
    /// The pidfd of the init of a prepared sandbox whose one command this is: init ends the
    /// sandbox once the command has ended and is reaped in the background then.
    init: Option<OwnedFd>,
    /// A running sandbox's command whose kill went unanswered: it counts as killed.
    given_up: bool,
}

/// How long init gets to end the sandbox when asked (killing and reaping every process, so
/// that their figures are counted) before it is killed with `SIGKILL`.
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(1);

impl Running {
    /// The program's exact wait status and init's figures, as init reported them. When init
    /// ended before it could report (it was killed with `SIGKILL`), its own status (`init`),
    /// or `SIGKILL` if this handle sent it and the status was taken by another waiter.
    fn program_status(
        &self,
        init: Option<ExitStatus>,
    ) -> io::Result<(ExitStatus, Option<StatusRecord>)> {
        let mut buf = [0u8; crate::wire::STATUS_LEN];
        let record = match rustix::io::read(&self.status_pipe, &mut buf) {
            Ok(n) => StatusRecord::decode(&buf[..n]),
            Err(_) => None,
        };
        if let Some(r) = record {
            return Ok((ExitStatus::from_raw(r.wait_status), Some(r)));
        }
        match init {
            Some(s) => Ok((s, None)),
            None if self.killed => Ok((ExitStatus::from_raw(libc::SIGKILL), None)),
            None => Err(io::Error::other(
                "the sandbox ended without reporting a status and its exit status was \
                 collected by another waiter (waitpid(-1) or SIGCHLD set to SIG_IGN)",
            )),
        }
    }

    /// The tmpfs mounts that init's bits (two per mount: no space, no inodes) say were full.
    fn full_tmpfs(&self, full: u32) -> Vec<FullTmpfs> {
        self.tmpfs
            .iter()
            .take(16)
            .enumerate()
            .filter_map(|(i, t)| {
                let bits = full >> (2 * i);
                (bits & 0b11 != 0).then(|| FullTmpfs {
                    path: t.path.clone(),
                    size_bytes: t.size,
                    inodes: t.inodes,
                    no_space: bits & 0b01 != 0,
                    no_inodes: bits & 0b10 != 0,
                })
            })
            .collect()
    }
}

/// What the spawning code hands over to a new [`Child`]: of a sandbox started for its program
/// ([`Child::new`]) or of a command of a running or prepared sandbox ([`Child::command`]).
pub(crate) struct ChildParts {
    /// The host pid of the sandbox's init, or of the command (0 when it could not be read).
    pub pid: u32,
    /// The pidfd of the sandbox's init, or of the command.
    pub pidfd: OwnedFd,
    pub kill_on_drop: bool,
    pub enforcement: Enforcement,
    pub working_directory: std::path::PathBuf,
    pub stdio: (Option<ChildStdin>, Option<ChildStdout>, Option<ChildStderr>),
    /// The read end of the sandbox's status pipe, or the library's end of the command's
    /// channel (non-blocking).
    pub status_pipe: OwnedFd,
    pub timeout: Option<Duration>,
    pub limits: Limits,
    pub cgroup: Option<SandboxCgroup>,
    /// The tmpfs mounts init checks for space, in the order of its report.
    pub tmpfs: Vec<TmpfsMount>,
    /// A prepared sandbox's one command: the pidfd of the sandbox's init.
    pub init: Option<OwnedFd>,
}

impl Child {
    /// The `Child` of a sandbox started for its program.
    pub(crate) fn new(parts: ChildParts) -> Child {
        Child::running(Of::Sandbox, parts)
    }

    /// The `Child` of a command that a running or prepared sandbox's init has executed.
    pub(crate) fn command(parts: ChildParts) -> Child {
        Child::running(Of::Command, parts)
    }

    fn running(of: Of, parts: ChildParts) -> Child {
        let ChildParts {
            pid,
            pidfd,
            kill_on_drop,
            enforcement,
            working_directory,
            stdio,
            status_pipe,
            timeout,
            limits,
            cgroup,
            tmpfs,
            init,
        } = parts;
        Child {
            pid,
            of,
            pidfd: ManuallyDrop::new(pidfd),
            state: State::Running(Running {
                status_pipe,
                // A timeout too long to be a point in time is no deadline.
                deadline: timeout.and_then(|t| tokio::time::Instant::now().checked_add(t)),
                timed_out: false,
                killed: false,
                stop_deadline: None,
                cgroup,
                tmpfs,
                init,
                given_up: false,
            }),
            kill_on_drop,
            enforcement,
            working_directory,
            limits,
            started: Instant::now(),
            stdin: stdio.0,
            stdout: stdio.1,
            stderr: stdio.2,
        }
    }

    /// The host pid of the sandbox's first process (of the program, for a command of a
    /// [`Sandbox`](crate::Sandbox) or [`Pool`](crate::Pool)), or `None` once it has been
    /// reaped.
    pub fn id(&self) -> Option<u32> {
        match self.state {
            State::Running(_) => Some(self.pid),
            State::Done(_) => None,
        }
    }

    /// The pidfd of the sandbox's first process (of the program, for a command of a
    /// [`Sandbox`](crate::Sandbox) or [`Pool`](crate::Pool)), pidfd_open(2) semantics, usable
    /// with `pidfd_send_signal(2)`, `waitid(P_PIDFD)` or `poll(2)`.
    pub fn pidfd(&self) -> BorrowedFd<'_> {
        self.pidfd.as_fd()
    }

    /// Which isolation layers this sandbox runs under.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use tokio_sandbox::Command;
    /// let child = Command::new("true").spawn()?;
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

    /// The program's working directory inside the sandbox, where it started: the one given to
    /// [`Command::current_dir`](crate::Command::current_dir), else the caller's own when the
    /// sandbox shows it, else `/`.
    pub fn working_directory(&self) -> &std::path::Path {
        &self.working_directory
    }

    /// Sends signal `sig` (e.g. `libc::SIGTERM`) to the program (pidfd_send_signal(2)).
    ///
    /// The sandbox's init receives it and forwards it to the program, except `SIGKILL` and
    /// `SIGSTOP`, which act on init itself (`SIGKILL` ends the whole sandbox, without the
    /// figures of the processes still running: [`Child::start_kill`] counts them), and `SIGIO`,
    /// which is not forwarded. `SIGRTMAX` (64) is init's request to end the sandbox, which
    /// [`Child::start_kill`] sends: it is refused here.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use tokio_sandbox::Command;
    /// let mut child = Command::new("sleep").arg("1000").spawn()?;
    /// child.signal(libc::SIGINT)?;
    /// child.wait().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`io::ErrorKind::InvalidInput`] once the program has been reaped (its status
    /// collected), or for `SIGRTMAX`; otherwise the errno of pidfd_send_signal(2) (`EINVAL` for
    /// an invalid signal).
    pub fn signal(&mut self, sig: i32) -> io::Result<()> {
        if sig == STOP_SIGNAL {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "signal 64 (SIGRTMAX) is the sandbox's own request to end it; use start_kill",
            ));
        }
        let State::Running(running) = &mut self.state else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "invalid argument: can't signal an exited process",
            ));
        };
        pidfd_send_signal(self.pidfd.as_fd(), sig)?;
        if sig == libc::SIGKILL {
            running.killed = true;
            // The kernel ends init, and with it the pid namespace; with a cgroup every process
            // is killed at once as well. (The pidfd's signal has been sent either way.) A
            // command's sandbox ends after its status was sent.
            if let Some(cg) = running.cgroup.as_ref().filter(|_| self.of == Of::Sandbox) {
                let _ = cg.kill();
            }
        }
        Ok(())
    }

    /// Ends the whole sandbox without waiting: its init kills every process with `SIGKILL`,
    /// reaps them and reports the program's status with the CPU time and peak memory of all of
    /// them. If the sandbox has not ended a second later, the next [`Child::wait`] kills its
    /// init with `SIGKILL` (which ends every process of its pid namespace; with a cgroup,
    /// `cgroup.kill` kills them all at once too; the figures of those still running are then
    /// lost). The program cannot delay that second: it cannot lower its init's scheduling
    /// priority, and the kernel carries out the kill. Once the sandbox has ended, does nothing
    /// and returns `Ok(())`, as tokio's does.
    ///
    /// # Errors
    /// The errno of pidfd_send_signal(2), other than `ESRCH` (the sandbox has ended).
    pub fn start_kill(&mut self) -> io::Result<()> {
        if self.of == Of::Command {
            return self.kill_command();
        }
        let State::Running(running) = &mut self.state else {
            return Ok(());
        };
        match pidfd_send_signal(self.pidfd.as_fd(), STOP_SIGNAL) {
            // Reaped already, by another waiter: nothing left to end.
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return Ok(()),
            result => result?,
        }
        running.killed = true;
        running
            .stop_deadline
            .get_or_insert_with(|| tokio::time::Instant::now() + STOP_GRACE);
        Ok(())
    }

    /// Ends the sandbox as [`Child::start_kill`] does and waits for it to end, with every
    /// process in it. Once the sandbox has been waited for, returns `Ok(())` at once, as
    /// tokio's does.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: if the future is dropped, the signal has been sent and [`Child::wait`] can be
    /// called again.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use tokio_sandbox::{Command, EndReason};
    /// let mut child = Command::new("sleep").arg("1000").spawn()?;
    /// child.kill().await?;
    /// assert_eq!(child.run_status().unwrap().ended_by, EndReason::Killed);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Child::start_kill`], then as [`Child::wait`].
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
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use tokio_sandbox::Command;
    /// let mut child = Command::new("sleep").arg("1").spawn()?;
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
        if self.of == Of::Command {
            return self.try_wait_command();
        }
        let running = match &mut self.state {
            State::Done(ended) => return Ok(Some(ended.status)),
            State::Running(running) => running,
        };
        let (init, init_usage) = match waitid_nohang(self.pidfd.as_fd()) {
            Ok(Some((init, usage))) => (Some(init), Some(usage)),
            Ok(None) => return Ok(None),
            // The sandbox's init has exec'd, which made it an ordinary SIGCHLD child: a caller
            // that ignores SIGCHLD (auto-reap) or reaps with waitpid(-1) takes its status. The
            // pidfd still tells that it ended, and init reported the program's status on the
            // status pipe before exiting.
            Err(e) if e.raw_os_error() == Some(libc::ECHILD) => {
                if !pidfd_exited(self.pidfd.as_fd()) {
                    return Ok(None);
                }
                (None, None)
            }
            Err(e) => return Err(e),
        };
        let (status, record) = running.program_status(init)?;
        // Init's figures: every process it reaped, without init itself.
        let usage = match &record {
            Some(r) => Some(ResourceUsage {
                user_time: Duration::from_micros(r.user_us),
                system_time: Duration::from_micros(r.system_us),
                max_rss_bytes: Some(r.max_rss_kib.saturating_mul(1024)),
            }),
            None => init_usage,
        };
        let full_tmpfs = record
            .as_ref()
            .map(|r| running.full_tmpfs(r.full_tmpfs))
            .unwrap_or_default();
        // Read before the cgroup goes (dropping it removes it).
        let cgroup_events = running.cgroup.take().map(|cg| cg.events());
        let end = Causes {
            status,
            usage,
            cgroup_events,
            timed_out: running.timed_out,
            killed: running.killed,
            limits: &self.limits,
        }
        .end_reason();
        self.state = State::Done(Ended {
            status,
            usage,
            end,
            wall_time: self.started.elapsed(),
            cgroup_events,
            full_tmpfs,
        });
        Ok(Some(status))
    }

    /// Waits for the program to end and returns its status. Closes the caller's end of stdin
    /// first, so a program reading stdin sees EOF. With
    /// [`Command::timeout`](crate::Command::timeout), kills the sandbox once the time is up and
    /// returns the status of the killed run.
    ///
    /// Idempotent: later calls return the same status.
    ///
    /// For a sandbox started for the program, the status comes once every process of the
    /// sandbox has ended and its init has been reaped. The sandbox's mounts (its tmpfs root,
    /// `/proc`, the binds) are taken down once init has exited, on a thread of the library's,
    /// rather than in init's exit before the status: a filesystem of the host bound into the
    /// sandbox stays referenced by it for about a millisecond longer.
    ///
    /// Do not wait on a program whose piped stdout or stderr nobody reads: once the pipe is full
    /// (64 KiB by default) the program blocks writing and never ends. Use
    /// [`Child::wait_with_output`] to read and wait at once.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: if the future is dropped, no status is lost, and a later `wait` or
    /// [`Child::try_wait`] returns it.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use tokio_sandbox::Command;
    /// let mut child = Command::new("sh").args(["-c", "exit 3"]).spawn()?;
    /// assert_eq!(child.wait().await?.code(), Some(3));
    /// assert_eq!(child.wait().await?.code(), Some(3)); // the same status again
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Child::try_wait`]; an error of kind [`io::ErrorKind::Other`] when not called from
    /// within a Tokio runtime (or the runtime is shutting down); an error polling the pidfd on
    /// tokio's reactor; the errno of pidfd_send_signal(2) when the kill at the timeout fails.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        if self.of == Of::Command {
            return self.wait_command().await;
        }
        // The pidfd's registration with the reactor of the runtime this wait runs in.
        let mut registration = None;
        // Whether the last registration failed once already (a second failure is final).
        let mut renewed = false;
        loop {
            if let Some(s) = self.try_wait()? {
                return Ok(s);
            }
            let ready = match &registration {
                Some(r) => r,
                None => {
                    // SAFETY: the pidfd is closed only when the Child is dropped, and this
                    // future borrows the Child mutably for as long as the registration lives.
                    registration.insert(unsafe { register(self.pidfd.as_raw_fd()) }?)
                }
            };
            // The next deadline: the stop asked of init turning into SIGKILL, else the run's
            // timeout.
            let next = match &self.state {
                State::Running(r) => r
                    .stop_deadline
                    .map(|d| (d, true))
                    .or(r.deadline.filter(|_| !r.timed_out).map(|d| (d, false))),
                State::Done(_) => None,
            };
            let readable = match next {
                Some((deadline, _)) => tokio::time::timeout_at(deadline, ready.readable()).await,
                None => Ok(ready.readable().await),
            };
            match readable {
                Ok(Ok(mut guard)) => {
                    guard.clear_ready();
                    renewed = false;
                }
                // The registration's runtime has shut down (this future moved on to another
                // runtime): register again, with the runtime polling it now.
                Ok(Err(_)) if !renewed => {
                    registration = None;
                    renewed = true;
                }
                Ok(Err(e)) => return Err(e),
                Err(_elapsed) if next.is_some_and(|(_, escalate)| escalate) => {
                    if let State::Running(r) = &mut self.state {
                        r.stop_deadline = None;
                        if let Some(cg) = &r.cgroup {
                            let _ = cg.kill();
                        }
                    }
                    pidfd_send_signal(self.pidfd.as_fd(), libc::SIGKILL)?;
                }
                Err(_elapsed) => {
                    if let State::Running(r) = &mut self.state {
                        r.timed_out = true;
                    }
                    self.start_kill()?;
                }
            }
        }
    }

    /// Whether [`Command::timeout`](crate::Command::timeout) ended the run (the sandbox was
    /// killed when its time was up).
    pub fn timed_out(&self) -> bool {
        match &self.state {
            State::Running(r) => r.timed_out,
            State::Done(ended) => ended.end == EndReason::Timeout,
        }
    }

    /// What the sandbox used, once it has been waited for: CPU time and peak memory of its
    /// processes. `None` before, or when another waiter took the exit status.
    pub fn resource_usage(&self) -> Option<ResourceUsage> {
        match &self.state {
            State::Running(_) => None,
            State::Done(ended) => ended.usage,
        }
    }

    /// The final status once the sandbox has been waited for: how it ended, wall and CPU time,
    /// peak memory, the limits in force and the isolation layers. `None` before.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use tokio_sandbox::Command;
    /// let mut child = Command::new("true").spawn()?;
    /// child.wait().await?;
    /// let status = child.run_status().expect("waited for");
    /// println!("{:?} after {} ms", status.ended_by, status.wall_time_ms);
    /// println!("{}", serde_json::to_string_pretty(&status)?);
    /// # Ok(()) }
    /// ```
    pub fn run_status(&self) -> Option<RunStatus> {
        match &self.state {
            State::Running(_) => None,
            State::Done(ended) => Some(ended.run_status(&self.limits, &self.enforcement)),
        }
    }

    /// Asks the program to stop with `SIGTERM`, waits up to `grace` for the sandbox to end,
    /// then kills the whole sandbox with `SIGKILL` and waits; returns the final status. When the
    /// program has already ended, returns its status without sending anything.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: if dropped, the signals sent stay sent and [`Child::wait`] can be called.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use tokio_sandbox::Command;
    /// let mut child = Command::new("server").spawn()?;
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
    /// gives an empty `Vec`. A process that outlives the program and holds a pipe open (one
    /// that left a running sandbox's command's process group) keeps the read going until it
    /// closes it, as with `tokio::process`; with a [`Command::timeout`](crate::Command::timeout)
    /// the reads end at most 250 ms after the deadline, with what was read by then.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: if the future is dropped, the output read so far is lost and the `Child` is
    /// dropped (see [`Command::kill_on_drop`](crate::Command::kill_on_drop)).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use tokio_sandbox::{Command, Stdio};
    /// let child = Command::new("uname").arg("-n").stdout(Stdio::piped()).spawn()?;
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
        // A process that outlives the run may hold the pipes open: a sandbox's end kills every
        // process, a running sandbox's command leaves those that left its process group
        // running. With a timeout, reading ends shortly after it.
        let until = match &self.state {
            State::Running(r) => r.deadline.and_then(|d| d.checked_add(OUTPUT_GRACE)),
            State::Done(_) => None,
        };
        let read_out = read_until(out_pipe.as_mut(), until);
        let read_err = read_until(err_pipe.as_mut(), until);
        let (status, stdout, stderr) = tokio::try_join!(self.wait(), read_out, read_err)?;
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }
}

/// How long after its [`Command::timeout`](crate::Command::timeout)
/// [`Child::wait_with_output`] still reads a pipe that a process outliving the run holds open.
pub(crate) const OUTPUT_GRACE: std::time::Duration = std::time::Duration::from_millis(250);

/// Everything `pipe` yields until EOF, or what it yielded by `until`.
async fn read_until<R: tokio::io::AsyncRead + Unpin>(
    pipe: Option<&mut R>,
    until: Option<tokio::time::Instant>,
) -> io::Result<Vec<u8>> {
    let mut v = Vec::new();
    if let Some(p) = pipe {
        match until {
            Some(until) => {
                if let Ok(read) = tokio::time::timeout_at(until, p.read_to_end(&mut v)).await {
                    read?;
                }
            }
            None => {
                p.read_to_end(&mut v).await?;
            }
        }
    }
    Ok(v)
}

impl Drop for Child {
    fn drop(&mut self) {
        // SAFETY: `drop` runs once, and nothing uses the pidfd after this.
        let pidfd = unsafe { ManuallyDrop::take(&mut self.pidfd) };
        let State::Running(running) = &mut self.state else {
            return;
        };
        if self.of == Of::Command {
            // The sandbox's init reaps it. As for a sandbox, only a command that has not been
            // waited for is killed: a prepared sandbox's one command with its whole sandbox.
            match running.init.take() {
                Some(init) => {
                    if self.kill_on_drop {
                        let _ = pidfd_send_signal(init.as_fd(), libc::SIGKILL);
                        if let Some(cg) = &running.cgroup {
                            let _ = cg.kill();
                        }
                    } else if pidfd_exited(pidfd.as_fd()) {
                        // The program has ended, which init may not have seen (a tracer that
                        // never waits hides its exit): the sandbox ends with it.
                        let _ = pidfd_send_signal(init.as_fd(), STOP_SIGNAL);
                    }
                    // Reaped once its command has ended and it has ended the sandbox.
                    reap_in_background(init, running.cgroup.take());
                }
                None if self.kill_on_drop => {
                    let _ = command::kill_group_and_leader(pidfd.as_fd());
                }
                None => {}
            }
            return;
        }
        // As tokio's, only a sandbox that has not been waited for is killed.
        if self.kill_on_drop {
            let _ = pidfd_send_signal(pidfd.as_fd(), libc::SIGKILL);
            if let Some(cg) = &running.cgroup {
                let _ = cg.kill();
            }
        }
        if let Ok(Some(_)) = waitid_nohang(pidfd.as_fd()) {
            return;
        }
        reap_in_background(pidfd, running.cgroup.take());
    }
}
