//! A [`Child`] that is a command of a running or prepared sandbox: its pidfd is the command's (a
//! child of the sandbox's init, not of this process), its end comes from init on the command's
//! channel (`src/control.rs`), and a kill ends its process group (a prepared sandbox's one
//! command alone, whose end ends its sandbox).

use std::io;
use std::io::IoSliceMut;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;

use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
use tokio::io::unix::AsyncFd;

use crate::child_handle::pidfd::{pidfd_exited, pidfd_send_signal, reap_in_background};
use crate::child_handle::status::{Causes, Ended, ResourceUsage};
use crate::child_handle::{Child, State, STOP_GRACE};
use crate::control::{Reply, REPLY_EXITED, REPLY_LEN};
use crate::wire::STOP_SIGNAL;

impl Child {
    /// [`Child::try_wait`] of a command: its end as init reported it on the channel.
    pub(super) fn try_wait_command(&mut self) -> io::Result<Option<ExitStatus>> {
        let running = match &mut self.state {
            State::Done(ended) => return Ok(Some(ended.status)),
            State::Running(running) => running,
        };
        let (status, usage, full) = match recv_reply(running.status_pipe.as_fd()) {
            Ok(Some((reply, _))) if reply.kind == REPLY_EXITED => {
                let [user_us, system_us, max_rss_kib, _] = reply.values;
                (
                    ExitStatus::from_raw(reply.words[0] as i32),
                    Some(ResourceUsage {
                        user_time: Duration::from_micros(user_us),
                        system_time: Duration::from_micros(system_us),
                        max_rss_bytes: Some(max_rss_kib.saturating_mul(1024)),
                    }),
                    reply.words[1],
                )
            }
            // Another answer: not the protocol's.
            Ok(Some(_)) => return Err(io::Error::from_raw_os_error(libc::EBADMSG)),
            // init closed the channel without an answer: the sandbox ended, killing the
            // command with it.
            Ok(None) => (ExitStatus::from_raw(libc::SIGKILL), None, 0),
            // A kill went unanswered: the command is given up as killed.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && running.given_up => {
                (ExitStatus::from_raw(libc::SIGKILL), None, 0)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) => return Err(e),
        };
        // A prepared sandbox's: its cgroup as the command left it, then its init (ending the
        // sandbox now) is reaped in the background and the cgroup removed after it.
        let cgroup_events = running.cgroup.as_ref().map(|cg| cg.events());
        if let Some(init) = running.init.take() {
            reap_in_background(init, running.cgroup.take());
        }
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
            full_tmpfs: running.full_tmpfs(full),
        });
        Ok(Some(status))
    }

    /// [`Child::wait`] of a command: awaits its channel on the reactor, killing its process
    /// group at the deadline.
    ///
    /// Two ends do not depend on init's answer. A command whose exit another process hides
    /// from init (a tracer that never waits: a traced zombie shows only to its tracer, and
    /// init's wait4 never returns it) is seen through its pidfd: a prepared sandbox's one
    /// command then ends its sandbox ([`HIDDEN_EXIT_GRACE`] after the exit), init's kill of
    /// every process frees the zombie, and init reports the command's own status. And once a
    /// kill ([`Child::kill`], the timeout) has gone unanswered for [`STOP_GRACE`], a prepared
    /// sandbox's init is killed (the channel's end then reads as `SIGKILL`), and a running
    /// sandbox's command is given up as killed (its zombie stays with its tracer).
    pub(super) async fn wait_command(&mut self) -> io::Result<ExitStatus> {
        // When the command was seen to have exited without an answer from init yet.
        let mut exit_seen: Option<tokio::time::Instant> = None;
        loop {
            if let Some(s) = self.try_wait_command()? {
                return Ok(s);
            }
            if exit_seen.is_none() && pidfd_exited(self.pidfd.as_fd()) {
                exit_seen = Some(tokio::time::Instant::now());
            }
            let (fd, next) = match &self.state {
                State::Running(r) => {
                    let hidden = exit_seen
                        .filter(|_| r.init.is_some() && r.stop_deadline.is_none())
                        .map(|t| (t + HIDDEN_EXIT_GRACE, Deadline::HiddenExit));
                    let next = [
                        r.deadline
                            .filter(|_| !r.timed_out)
                            .map(|d| (d, Deadline::Timeout)),
                        r.stop_deadline.map(|d| (d, Deadline::Stop)),
                        hidden,
                    ]
                    .into_iter()
                    .flatten()
                    .min_by_key(|(at, _)| *at);
                    (r.status_pipe.as_raw_fd(), next)
                }
                State::Done(ended) => return Ok(ended.status),
            };
            // SAFETY: the channel and the pidfd stay open while the state is Running, which
            // only this `&mut self` future changes, after the registrations are dropped.
            let channel =
                unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
                    .map_err(io::Error::from)?;
            let exit = match exit_seen {
                None => Some(
                    // SAFETY: as above.
                    unsafe {
                        AsyncFd::register_with_interest(
                            self.pidfd.as_raw_fd(),
                            tokio::io::Interest::READABLE,
                        )
                    }
                    .map_err(io::Error::from)?,
                ),
                Some(_) => None,
            };
            let woken = async {
                tokio::select! {
                    guard = channel.readable() => guard.map(|mut g| g.clear_ready()),
                    guard = async {
                        match &exit {
                            Some(exit) => exit.readable().await.map(|_| ()),
                            None => std::future::pending().await,
                        }
                    } => guard,
                }
            };
            match next {
                None => woken.await?,
                Some((at, what)) => match tokio::time::timeout_at(at, woken).await {
                    Ok(r) => r?,
                    Err(_elapsed) => self.deadline_passed(what)?,
                },
            }
        }
    }

    /// What [`Child::wait_command`] does when deadline `what` has passed with no answer.
    fn deadline_passed(&mut self, what: Deadline) -> io::Result<()> {
        let State::Running(r) = &mut self.state else {
            return Ok(());
        };
        match what {
            Deadline::Timeout => {
                r.timed_out = true;
                self.kill_command()
            }
            Deadline::HiddenExit => {
                // A prepared sandbox's command has exited, and init has not seen it: end the
                // sandbox, whose init then reaps it and reports its status.
                if let Some(init) = &r.init {
                    stop_sandbox(init.as_fd())?;
                }
                r.stop_deadline
                    .get_or_insert_with(|| tokio::time::Instant::now() + STOP_GRACE);
                Ok(())
            }
            Deadline::Stop => {
                r.stop_deadline = None;
                match &r.init {
                    Some(init) => match pidfd_send_signal(init.as_fd(), libc::SIGKILL) {
                        Err(e) if e.raw_os_error() != Some(libc::ESRCH) => return Err(e),
                        _ => {}
                    },
                    // A running sandbox's command that a kill did not end for its init: given
                    // up as killed.
                    None => r.given_up = true,
                }
                Ok(())
            }
        }
    }

    /// `SIGKILL` to the command's process group and the command itself ([`kill_group_and_leader`]);
    /// for a prepared sandbox's one command, `SIGKILL` to the command and the request to end
    /// the sandbox to its init (`STOP_SIGNAL`), as the sandbox ends with its command anyway.
    /// Either way, [`STOP_GRACE`] later [`Child::wait`] stops waiting for init's answer.
    pub(super) fn kill_command(&mut self) -> io::Result<()> {
        let State::Running(running) = &mut self.state else {
            return Ok(());
        };
        let signalled = match &running.init {
            Some(init) => {
                let command = match pidfd_send_signal(self.pidfd.as_fd(), libc::SIGKILL) {
                    Ok(()) => true,
                    // It has ended (its status is on its way).
                    Err(e) if e.raw_os_error() == Some(libc::ESRCH) => false,
                    Err(e) => return Err(e),
                };
                stop_sandbox(init.as_fd())?;
                command
            }
            None => kill_group_and_leader(self.pidfd.as_fd())?,
        };
        running.killed |= signalled;
        running
            .stop_deadline
            .get_or_insert_with(|| tokio::time::Instant::now() + STOP_GRACE);
        Ok(())
    }
}

/// How long after a prepared sandbox's command was seen to exit, with no answer from init,
/// [`Child::wait`] ends the sandbox (init answers within microseconds of an exit it sees).
const HIDDEN_EXIT_GRACE: Duration = Duration::from_millis(100);

/// The deadlines of [`Child::wait_command`].
#[derive(Debug, Clone, Copy)]
enum Deadline {
    /// The run's timeout.
    Timeout,
    /// The command exited and init has not answered.
    HiddenExit,
    /// A kill has gone unanswered.
    Stop,
}

/// Asks a prepared sandbox's init to end its sandbox (`STOP_SIGNAL`: it kills every process,
/// reaps them, reports the command's status and exits); `Ok` when it has ended already.
fn stop_sandbox(init: BorrowedFd<'_>) -> io::Result<()> {
    match pidfd_send_signal(init, STOP_SIGNAL) {
        Err(e) if e.raw_os_error() != Some(libc::ESRCH) => Err(e),
        _ => Ok(()),
    }
}

/// `SIGKILL` to the process group that the command behind `pidfd` leads and to the command's
/// process itself, which may have left that group (setpgid(2) into another group of the
/// sandbox leaves its own empty, and the group signal then finds no one). `Ok(false)` when
/// neither was there any more (the command has ended; its status is on its way).
pub(crate) fn kill_group_and_leader(pidfd: BorrowedFd<'_>) -> io::Result<bool> {
    let gone = |r: io::Result<()>| match r {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(false),
        Err(e) => Err(e),
    };
    let group = gone(signal_group(pidfd, libc::SIGKILL))?;
    let leader = gone(pidfd_send_signal(pidfd, libc::SIGKILL))?;
    Ok(group || leader)
}

/// `pidfd_send_signal(PIDFD_SIGNAL_PROCESS_GROUP)` (Linux 6.9): `sig` to the process group
/// that the process behind `pidfd` leads, or to that process alone on older kernels (`EINVAL`
/// for the flag).
pub(crate) fn signal_group(pidfd: BorrowedFd<'_>, sig: i32) -> io::Result<()> {
    const PIDFD_SIGNAL_PROCESS_GROUP: libc::c_uint = 1 << 2;
    // SAFETY: no pointer arguments besides the NULL siginfo.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            PIDFD_SIGNAL_PROCESS_GROUP,
        )
    };
    if r == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EINVAL) {
        return pidfd_send_signal(pidfd, sig);
    }
    Err(e)
}

/// Reads one answer of init from a command's channel without waiting: `Ok(None)` at EOF (init
/// closed it: the sandbox ended), an error of kind `WouldBlock` while none is there, `EBADMSG`
/// for bytes that are not an answer. A pidfd attached is returned with it.
pub(crate) fn recv_reply(channel: BorrowedFd<'_>) -> io::Result<Option<(Reply, Option<OwnedFd>)>> {
    let mut buf = [0u8; REPLY_LEN + 1];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut anc = RecvAncillaryBuffer::new(&mut space);
    let msg = loop {
        match rustix::net::recvmsg(
            channel,
            &mut [IoSliceMut::new(&mut buf)],
            &mut anc,
            RecvFlags::DONTWAIT | RecvFlags::CMSG_CLOEXEC,
        ) {
            Err(rustix::io::Errno::INTR) => continue,
            other => break other?,
        }
    };
    // The first descriptor attached, if any; any more are closed.
    let fd = anc
        .drain()
        .filter_map(|m| match m {
            RecvAncillaryMessage::ScmRights(fds) => Some(fds),
            _ => None,
        })
        .flatten()
        .next();
    if msg.bytes == 0 && fd.is_none() {
        return Ok(None);
    }
    let reply = buf
        .get(..msg.bytes)
        .and_then(Reply::decode)
        .ok_or_else(|| io::Error::from_raw_os_error(libc::EBADMSG))?;
    Ok(Some((reply, fd)))
}
