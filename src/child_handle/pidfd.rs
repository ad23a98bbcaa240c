//! The pidfd of a sandbox's init: waiting for it, reaping it, signalling it
//! (pidfd_open(2), waitid(2) with `P_PIDFD`, pidfd_send_signal(2)).

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
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
pub(crate) fn reap_in_background(pidfd: AsyncFd<OwnedFd>, cgroup: Option<SandboxCgroup>) {
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
