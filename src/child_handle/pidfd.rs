//! The pidfd of a sandbox's init: waiting for it, reaping it, signalling it
//! (pidfd_open(2), waitid(2) with `P_PIDFD`, pidfd_send_signal(2)).

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use tokio::io::unix::AsyncFd;

use crate::cgroup::SandboxCgroup;
use crate::child_handle::status::ResourceUsage;

/// `waitid(P_PIDFD, fd, WEXITED | WNOHANG | __WALL, &rusage)` (the system call, waitid(2),
/// whose fifth argument returns the resource usage); `None` while running.
pub(crate) fn waitid_nohang(fd: BorrowedFd<'_>) -> io::Result<Option<(ExitStatus, ResourceUsage)>> {
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
        // Init's own peak holds the spawning process's memory (it shared it until init was
        // exec'd): not a figure of the sandbox.
        max_rss_bytes: None,
    };
    Ok(Some((ExitStatus::from_raw(raw), usage)))
}

/// Whether the process behind `pidfd` has ended (poll(2) reports it readable).
pub(crate) fn pidfd_exited(fd: BorrowedFd<'_>) -> bool {
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

/// Registers `pidfd` for readability with the reactor of the runtime the caller runs in (its
/// context): the registration belongs to that runtime, so each wait makes its own, and waiting
/// works from any runtime, also after the one that spawned the sandbox has shut down.
///
/// # Safety
/// `pidfd` must stay open, and be the same pidfd, until the returned `AsyncFd` is dropped.
///
/// # Errors
/// An error of kind [`io::ErrorKind::Other`] outside a Tokio runtime; the error of the
/// registration (epoll_ctl(2)), e.g. when the runtime is shutting down.
pub(crate) unsafe fn register(pidfd: RawFd) -> io::Result<AsyncFd<RawFd>> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(io::Error::other(
            "waiting for a sandbox must be done from within a Tokio runtime",
        ));
    }
    // SAFETY: the caller keeps `pidfd` open and unchanged while the AsyncFd lives; a RawFd
    // gives the same number on every call.
    unsafe { AsyncFd::register_with_interest(pidfd, tokio::io::Interest::READABLE) }
        .map_err(io::Error::from)
}

/// Reaps the process behind `pidfd` once it ends, awaiting that on tokio's reactor; the status
/// is dropped. Done too when another waiter took it (`ECHILD`).
pub(crate) async fn reap(pidfd: &OwnedFd) -> io::Result<()> {
    // SAFETY: `pidfd` is borrowed for this whole function, longer than the registration.
    let registration = unsafe { register(pidfd.as_raw_fd()) }?;
    loop {
        let mut guard = registration.readable().await?;
        match waitid_nohang(pidfd.as_fd()) {
            Ok(Some(_)) => return Ok(()),
            Ok(None) => guard.clear_ready(),
            Err(e) if e.raw_os_error() == Some(libc::ECHILD) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

/// A sandbox left to reap: reaped on tokio's reactor while a runtime runs the task, and by a
/// thread of its own when the task cannot run (no runtime, or the runtime shut down first),
/// so that no zombie is left.
struct Reaper {
    pidfd: Option<OwnedFd>,
    cgroup: Option<SandboxCgroup>,
}

impl Reaper {
    /// Awaits the end of the process on the current runtime's reactor and reaps it; returns
    /// early (leaving the reaping to `drop`) when the reactor cannot be used.
    async fn run(mut self) {
        let Some(fd) = self.pidfd.as_ref().map(|fd| fd.as_raw_fd()) else {
            return;
        };
        {
            // SAFETY: `self.pidfd` holds the fd open until after this block, which ends the
            // registration.
            let Ok(registration) = (unsafe { register(fd) }) else {
                return;
            };
            loop {
                let Ok(mut guard) = registration.readable().await else {
                    return;
                };
                match self.pidfd.as_ref().map(|p| waitid_nohang(p.as_fd())) {
                    Some(Ok(None)) => guard.clear_ready(),
                    _ => break,
                }
            }
        }
        // Reaped (or taken by another waiter): close the pidfd, then remove the cgroup.
        self.pidfd = None;
        self.cgroup = None;
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Some(pidfd) = self.pidfd.take() {
            let cgroup = self.cgroup.take();
            std::thread::spawn(move || {
                reap_blocking(pidfd.as_fd());
                drop(cgroup);
            });
        }
    }
}

/// Reaps the process behind `pidfd` once it ends, without blocking the caller: on the current
/// runtime's reactor, or, outside a runtime or when the runtime shuts down before the process
/// ends, on a thread of its own. The sandbox's cgroup is removed after that.
pub(crate) fn reap_in_background(pidfd: OwnedFd, cgroup: Option<SandboxCgroup>) {
    let reaper = Reaper {
        pidfd: Some(pidfd),
        cgroup,
    };
    match tokio::runtime::Handle::try_current() {
        // A runtime that has shut down drops the task unrun, and with it the reaper, whose
        // `drop` reaps on a thread.
        Ok(handle) => drop(handle.spawn(reaper.run())),
        Err(_) => drop(reaper),
    }
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
