//! What the program's stdin, stdout and stderr are connected to.

use std::fs::File;
use std::os::fd::OwnedFd;

/// Where one of the program's standard streams goes, like [`std::process::Stdio`] but one that
/// can be taken apart (its fd is needed to place it in the sandbox).
#[derive(Debug)]
pub struct Stdio(pub(crate) StdioKind);

#[derive(Debug)]
pub(crate) enum StdioKind {
    Inherit,
    Null,
    Piped,
    Fd(OwnedFd),
}

impl Stdio {
    /// The caller's own stream (fd 0, 1 or 2) is passed on.
    pub fn inherit() -> Stdio {
        Stdio(StdioKind::Inherit)
    }

    /// The stream is connected to `/dev/null`.
    pub fn null() -> Stdio {
        Stdio(StdioKind::Null)
    }

    /// A new pipe; the caller's end appears as [`Child::stdin`](crate::Child::stdin),
    /// [`Child::stdout`](crate::Child::stdout) or [`Child::stderr`](crate::Child::stderr).
    pub fn piped() -> Stdio {
        Stdio(StdioKind::Piped)
    }
}

impl From<OwnedFd> for Stdio {
    /// The stream is this fd (a file, socket or pipe end), passed into the sandbox.
    fn from(fd: OwnedFd) -> Stdio {
        Stdio(StdioKind::Fd(fd))
    }
}

impl From<File> for Stdio {
    fn from(f: File) -> Stdio {
        Stdio(StdioKind::Fd(f.into()))
    }
}

impl From<std::process::ChildStdout> for Stdio {
    fn from(s: std::process::ChildStdout) -> Stdio {
        Stdio(StdioKind::Fd(s.into()))
    }
}

impl From<std::process::ChildStderr> for Stdio {
    fn from(s: std::process::ChildStderr) -> Stdio {
        Stdio(StdioKind::Fd(s.into()))
    }
}

impl From<std::process::ChildStdin> for Stdio {
    fn from(s: std::process::ChildStdin) -> Stdio {
        Stdio(StdioKind::Fd(s.into()))
    }
}
