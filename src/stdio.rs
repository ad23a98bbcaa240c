//! What the program's stdin, stdout and stderr are connected to.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// Where one of the program's standard streams goes: this crate's counterpart of
/// [`std::process::Stdio`], with the same constructors and conversions.
///
/// A `std::process::Stdio` cannot be used: it is opaque (nothing tells whether it is a pipe,
/// `/dev/null` or which fd it holds), and the sandbox must know its fd to place it. Where code
/// written for `tokio::process` passes `std::process::Stdio::piped()`, `null()` or `inherit()`,
/// write `tokio_sandbox::Stdio::piped()`, `null()` or `inherit()`; a `File`, an [`OwnedFd`], a
/// pipe end of another child (tokio's or std's, with `.try_into()?` or `.into()`) or
/// [`std::io::stdout()`] / [`std::io::stderr()`] convert as they do into std's type.
///
/// A `Stdio` holding an fd stays with its [`Command`](crate::Command): each spawn passes a
/// duplicate (dup(2)), so the fd stays open until the `Command` is dropped, as with
/// `std::process::Command`. A reader waiting for EOF on a pipe whose write end was given as
/// stdout sees it once every sandbox that got it has ended and the `Command` is gone.
///
/// # Examples
///
/// One sandbox's output piped into another's input, as with `tokio::process`:
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use tokio_sandbox::{Command, Stdio};
/// let mut ls = Command::new("ls").arg("/").stdout(Stdio::piped()).spawn()?;
/// let ls_out: Stdio = ls.stdout.take().expect("piped").try_into()?;
/// let out = Command::new("wc").arg("-l").stdin(ls_out).output().await?;
/// ls.wait().await?;
/// println!("{} entries", String::from_utf8_lossy(&out.stdout).trim());
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Stdio(pub(crate) StdioKind);

#[derive(Debug)]
pub(crate) enum StdioKind {
    Inherit,
    Null,
    Piped,
    Fd(OwnedFd),
    /// One of the caller's own standard streams (1 or 2) for another stream of the program.
    Caller(RawFd),
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

    /// The same setting for another spawn: a held fd is duplicated (`F_DUPFD_CLOEXEC`,
    /// fcntl(2)).
    pub(crate) fn try_clone(&self) -> io::Result<Stdio> {
        Ok(Stdio(match &self.0 {
            StdioKind::Inherit => StdioKind::Inherit,
            StdioKind::Null => StdioKind::Null,
            StdioKind::Piped => StdioKind::Piped,
            StdioKind::Fd(fd) => StdioKind::Fd(fd.try_clone()?),
            StdioKind::Caller(fd) => StdioKind::Caller(*fd),
        }))
    }
}

impl From<OwnedFd> for Stdio {
    /// The stream is this fd (a file, socket or pipe end), passed into the sandbox.
    fn from(fd: OwnedFd) -> Stdio {
        Stdio(StdioKind::Fd(fd))
    }
}

impl From<File> for Stdio {
    /// The stream is this open file, passed into the sandbox (whether or not the sandbox
    /// shows its path).
    fn from(f: File) -> Stdio {
        Stdio(StdioKind::Fd(f.into()))
    }
}

impl From<std::process::ChildStdout> for Stdio {
    /// The read end of a `std::process` child's stdout, as the program's stream.
    fn from(s: std::process::ChildStdout) -> Stdio {
        Stdio(StdioKind::Fd(s.into()))
    }
}

impl From<std::process::ChildStderr> for Stdio {
    /// The read end of a `std::process` child's stderr, as the program's stream.
    fn from(s: std::process::ChildStderr) -> Stdio {
        Stdio(StdioKind::Fd(s.into()))
    }
}

impl From<std::process::ChildStdin> for Stdio {
    /// The write end of a `std::process` child's stdin, as the program's stream.
    fn from(s: std::process::ChildStdin) -> Stdio {
        Stdio(StdioKind::Fd(s.into()))
    }
}

impl From<io::Stdout> for Stdio {
    /// The caller's stdout (fd 1), e.g. as the program's stderr.
    fn from(s: io::Stdout) -> Stdio {
        Stdio(StdioKind::Caller(s.as_raw_fd()))
    }
}

impl From<io::Stderr> for Stdio {
    /// The caller's stderr (fd 2), e.g. as the program's stdout.
    fn from(s: io::Stderr) -> Stdio {
        Stdio(StdioKind::Caller(s.as_raw_fd()))
    }
}

/// Tokio's child pipes, e.g. another sandbox's [`Child::stdout`](crate::Child::stdout) or a
/// `tokio::process::Child`'s: the pipe end leaves tokio's reactor and is set back to blocking
/// mode (what programs expect of their stdio) before it is passed into the sandbox.
macro_rules! from_tokio_pipe {
    ($($ty:ident),*) => {$(
        impl TryFrom<tokio::process::$ty> for Stdio {
            type Error = io::Error;

            /// The pipe end as the program's stream, no longer registered with tokio's
            /// reactor and in blocking mode.
            ///
            /// # Errors
            /// The error of deregistering it or of clearing `O_NONBLOCK` (fcntl(2)).
            fn try_from(pipe: tokio::process::$ty) -> io::Result<Stdio> {
                Ok(Stdio(StdioKind::Fd(pipe.into_owned_fd()?)))
            }
        }
    )*};
}

from_tokio_pipe!(ChildStdin, ChildStdout, ChildStderr);
