//! The caller's terminal: a program that stays in the caller's session (`--no-new-session`,
//! `Policy::new_session(false)`) reaches the caller's controlling terminal only as stdin, when
//! stdin is that terminal: with stdin elsewhere, `/dev/tty` leads nowhere. The control opens
//! `/dev/tty` from the same session on the host.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command as StdCommand, Stdio};

use crate::common;

/// Runs `cmd` as the leader of a new session whose controlling terminal is a new pty, with stdin
/// `/dev/null` (or the terminal when `stdin_tty`); returns its exit code, its stderr and what
/// reached the terminal.
fn in_a_terminal_session(mut cmd: StdCommand, stdin_tty: bool) -> (Option<i32>, String, String) {
    let (master, slave) = common::openpty().expect("openpty");
    let fd = slave.as_raw_fd();
    // SAFETY: setsid and ioctl(TIOCSCTTY) are async-signal-safe; `fd` stays open in the child
    // (the parent holds `slave` until the child has exited).
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 || libc::ioctl(fd, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let stdin = if stdin_tty {
        Stdio::from(slave.try_clone().unwrap())
    } else {
        Stdio::null()
    };
    let out = cmd
        // Shown by a default sandbox: no note about a working directory it lacks.
        .current_dir("/")
        .stdin(stdin)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run");
    drop(slave);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        read_all(&master),
    )
}

/// What the pty's master side has to read now.
fn read_all(master: &OwnedFd) -> String {
    // SAFETY: fcntl and read on an fd this test owns, into a local buffer.
    unsafe {
        let flags = libc::fcntl(master.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(master.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
        let mut buf = [0u8; 4096];
        let n = libc::read(master.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len());
        String::from_utf8_lossy(&buf[..n.max(0) as usize]).into_owned()
    }
}

/// The CLI binary, if built.
fn cli() -> Option<std::path::PathBuf> {
    if let Some(exe) = std::env::var_os("TOKIO_SANDBOX_CLI") {
        return Some(exe.into());
    }
    match option_env!("CARGO_BIN_EXE_tokio-sandbox") {
        Some(exe) => Some(exe.into()),
        None => {
            common::skip("the CLI is built only with --features cli");
            None
        }
    }
}

const WRITE_TTY: &str = "echo hi > /dev/tty";

/// In the caller's session with stdin not its terminal, `/dev/tty` does not reach the
/// terminal (ENXIO: no controlling terminal), for a root caller's sandbox (uid 65534) as for
/// an unprivileged one; the control writes to it from the same session on the host.
#[test]
fn tty_not_reached_through_dev_tty_without_it_on_stdin() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let Some(exe) = cli() else {
        return;
    };
    let mut control = StdCommand::new("sh");
    control.args(["-c", WRITE_TTY]);
    let (code, err, tty) = in_a_terminal_session(control, false);
    assert_eq!((code, err.as_str(), tty.as_str()), (Some(0), "", "hi\r\n"));

    let mut cmd = StdCommand::new(&exe);
    cmd.args(["--no-new-session", "--", "sh", "-c", WRITE_TTY]);
    let (code, err, tty) = in_a_terminal_session(cmd, false);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("cannot create /dev/tty: No such device or address"),
        "{err}"
    );
    assert_eq!(tty, "");
}

/// With the terminal as stdin, the program reaches it through `/dev/tty` too: it is the same
/// terminal, which it has already.
#[test]
fn tty_reached_through_dev_tty_when_it_is_stdin() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let Some(exe) = cli() else {
        return;
    };
    let mut cmd = StdCommand::new(&exe);
    cmd.args(["--no-new-session", "--", "sh", "-c", WRITE_TTY]);
    let (code, err, tty) = in_a_terminal_session(cmd, true);
    assert_eq!((code, err.as_str(), tty.as_str()), (Some(0), "", "hi\r\n"));
}
