//! File descriptors of a spawn: pipes, fd numbers, and the program's stdio.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::error::{last_os, os_err, SpawnError};
use crate::stdio::{Stdio, StdioKind};

/// `pipe2(O_CLOEXEC)`: (read end, write end).
pub(crate) fn pipe() -> Result<(OwnedFd, OwnedFd), SpawnError> {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(|e| os_err("pipe2")(e.into()))
}

/// Moves `fd` to a number at or above `min` (close-on-exec).
pub(crate) fn fd_at_least(fd: OwnedFd, min: RawFd) -> Result<OwnedFd, SpawnError> {
    if fd.as_raw_fd() >= min {
        return Ok(fd);
    }
    // SAFETY: F_DUPFD_CLOEXEC on an fd we own.
    let n = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, min) };
    if n < 0 {
        return Err(last_os("fcntl(F_DUPFD_CLOEXEC)"));
    }
    // SAFETY: n is a new fd we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(n) })
}

/// The parent's ends of piped stdio.
pub(crate) type ParentEnds = (
    Option<tokio::process::ChildStdin>,
    Option<tokio::process::ChildStdout>,
    Option<tokio::process::ChildStderr>,
);

/// The fds the program gets.
pub(crate) struct ProgramFds {
    /// (fd in the parent, fd number in the program) pairs: stdio, then the passed fds.
    pub pairs: Vec<(RawFd, RawFd)>,
    /// The parent's fds behind the pairs, closed once the child has its own copies.
    pub keep: Vec<OwnedFd>,
    /// The caller's ends of piped stdio.
    pub parent_ends: ParentEnds,
}

impl ProgramFds {
    /// The highest fd number the program gets (at least 2).
    pub(crate) fn max_target(&self) -> RawFd {
        self.pairs.iter().map(|(_, d)| *d).max().unwrap_or(2).max(2)
    }

    /// The highest fd number in the pairs, on either side (at least 2).
    pub(crate) fn max_fd(&self) -> RawFd {
        self.pairs
            .iter()
            .map(|(s, d)| (*s).max(*d))
            .max()
            .unwrap_or(2)
    }

    /// The first of the program's stdio fds (0, 1, 2) that is a terminal, as the parent's fd.
    pub(crate) fn stdio_terminal(&self) -> Option<RawFd> {
        self.pairs
            .iter()
            .filter(|(_, target)| *target <= 2)
            // SAFETY: isatty only inspects the descriptor, which is open (in `keep`, or one of
            // the caller's stdio fds).
            .find(|(src, _)| unsafe { libc::isatty(*src) } == 1)
            .map(|(src, _)| *src)
    }

    /// Whether the program's stdin is the caller's controlling terminal (proc(5): `tty_nr` of
    /// `/proc/self/stat`).
    pub(crate) fn stdin_is_controlling_terminal(&self) -> bool {
        let Some((src, _)) = self.pairs.iter().find(|(_, target)| *target == 0) else {
            return false;
        };
        let Some(ctty) = controlling_terminal() else {
            return false;
        };
        // SAFETY: fstat fills the local stat buffer; isatty only inspects the open fd.
        unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            libc::isatty(*src) == 1 && libc::fstat(*src, &mut st) == 0 && st.st_rdev == ctty
        }
    }

    /// The ranges of fds the child marks close-on-exec: everything from 3 up but the targets.
    pub(crate) fn cloexec_ranges(&self) -> Vec<(u32, u32)> {
        cloexec_ranges(self.pairs.iter().map(|(_, d)| *d))
    }
}

/// The device number of this process's controlling terminal, if it has one (`tty_nr`, the
/// 7th field of `/proc/self/stat`, in the kernel's encoding of a `dev_t`).
fn controlling_terminal() -> Option<libc::dev_t> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // After the command name, which may hold spaces and parentheses: state, ppid, pgrp,
    // session, tty_nr.
    let rest = &stat[stat.rfind(')')? + 1..];
    let tty_nr: u32 = rest.split_whitespace().nth(4)?.parse().ok()?;
    let (major, minor) = (
        (tty_nr >> 8) & 0xfff,
        (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00),
    );
    (tty_nr != 0).then(|| libc::makedev(major, minor))
}

/// `[first, last]` ranges covering every fd from 3 up except `targets`.
pub(crate) fn cloexec_ranges(targets: impl Iterator<Item = RawFd>) -> Vec<(u32, u32)> {
    let mut targets: Vec<u32> = targets.filter(|d| *d >= 3).map(|d| d as u32).collect();
    targets.sort_unstable();
    targets.dedup();
    let mut ranges = Vec::new();
    let mut next = 3u32;
    for t in targets {
        if t > next {
            ranges.push((next, t - 1));
        }
        next = t + 1;
    }
    ranges.push((next, u32::MAX));
    ranges
}

/// Places the three stdio settings and the passed fds.
pub(crate) fn program_fds(
    stdio: [Stdio; 3],
    extra: Vec<(RawFd, OwnedFd)>,
) -> Result<ProgramFds, SpawnError> {
    let mut keep = Vec::new();
    let mut pairs = Vec::new();
    let parent_ends = stdio_fds(stdio, &mut keep, &mut pairs)?;
    for (target, fd) in extra {
        pairs.push((fd.as_raw_fd(), target));
        keep.push(fd);
    }
    Ok(ProgramFds {
        pairs,
        keep,
        parent_ends,
    })
}

/// Turns the three stdio settings into (child-side fd, target) pairs and the caller's ends.
fn stdio_fds(
    stdio: [Stdio; 3],
    keep: &mut Vec<OwnedFd>,
    fds: &mut Vec<(RawFd, RawFd)>,
) -> Result<ParentEnds, SpawnError> {
    let mut ends: ParentEnds = (None, None, None);
    for (target, s) in stdio.into_iter().enumerate() {
        let target = target as RawFd;
        match s.0 {
            StdioKind::Inherit => fds.push((target, target)),
            StdioKind::Caller(fd) => fds.push((fd, target)),
            StdioKind::Null => {
                let f = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open("/dev/null")
                    .map_err(os_err("open /dev/null"))?;
                let fd: OwnedFd = f.into();
                fds.push((fd.as_raw_fd(), target));
                keep.push(fd);
            }
            StdioKind::Fd(fd) => {
                fds.push((fd.as_raw_fd(), target));
                keep.push(fd);
            }
            StdioKind::Piped => {
                let (r, w) = pipe()?;
                let (child_end, parent_end) = if target == 0 { (r, w) } else { (w, r) };
                fds.push((child_end.as_raw_fd(), target));
                keep.push(child_end);
                match target {
                    0 => {
                        ends.0 = Some(
                            tokio::process::ChildStdin::from_std(parent_end.into())
                                .map_err(os_err("registering stdin"))?,
                        )
                    }
                    1 => {
                        ends.1 = Some(
                            tokio::process::ChildStdout::from_std(parent_end.into())
                                .map_err(os_err("registering stdout"))?,
                        )
                    }
                    _ => {
                        ends.2 = Some(
                            tokio::process::ChildStderr::from_std(parent_end.into())
                                .map_err(os_err("registering stderr"))?,
                        )
                    }
                }
            }
        }
    }
    Ok(ends)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_from_3_up_but_the_targets_is_close_on_exec() {
        let ranges = |t: &[RawFd]| cloexec_ranges(t.iter().copied());
        assert_eq!(ranges(&[0, 1, 2]), [(3, u32::MAX)]);
        assert_eq!(ranges(&[]), [(3, u32::MAX)]);
        assert_eq!(ranges(&[0, 1, 2, 3]), [(4, u32::MAX)]);
        assert_eq!(
            ranges(&[0, 1, 2, 9, 5, 6, 5]),
            [(3, 4), (7, 8), (10, u32::MAX)]
        );
    }
}
