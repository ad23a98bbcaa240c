//! Programs people run, and what they expect of the sandbox (cases C45–C54): the system JDK's
//! configuration in `/etc`, debuggers and sanitizers, who owns a file, the signals a program
//! starts with, renames across mounts, tmpfs limits, the figures of a killed run, many sandboxes
//! under an ordinary descriptor limit, and the environment terminal programs need.
//!
//! Every test spawns real sandboxed processes; it runs as root and as uid 65534 in `.ci/run`.
//! What a test needs of the host (a JDK, gcc with AddressSanitizer, strace, gdb) it checks
//! first: missing on CI is a failure, elsewhere a printed skip.

mod common;

use std::process::Output;
use std::time::Duration;

use common::{sh, stderr, stdout};
use tokio_sandbox::{Command, Stdio};

/// Asserts exit code 0, the exact stdout and an empty stderr.
#[track_caller]
fn assert_ok(o: &Output, out: &str) {
    assert_eq!(
        (o.status.code(), stdout(o).as_str(), stderr(o).as_str()),
        (Some(0), out, ""),
        "unexpected result: {o:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// The environment terminal programs expect

/// A terminal on stdio brings the caller's `TERM` and `COLORTERM` (terminal programs need them
/// to draw); with pipes they stay out. `LANG` is `C.UTF-8` and `SHELL` `/bin/sh` either way.
#[test]
fn terminal_environment_when_a_stdio_fd_is_a_terminal() {
    common::run_helper("helper_terminal_env", Duration::from_secs(60), |cmd| {
        cmd.env("TERM", "xterm-256color")
            .env("COLORTERM", "truecolor");
    });
}

#[tokio::test]
async fn helper_terminal_env() {
    if !common::is_helper("helper_terminal_env") {
        return;
    }
    let (master, slave) = common::openpty().unwrap();
    let mut child = Command::new("/bin/sh")
        .args(["-c", "echo \"$TERM $COLORTERM $SHELL\" >&2"])
        .stdin(Stdio::from(slave))
        .stderr(Stdio::piped())
        .spawn()
        .await
        .unwrap();
    let mut err = String::new();
    use tokio::io::AsyncReadExt;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .await
        .unwrap();
    child.wait().await.unwrap();
    drop(master);
    assert_eq!(err, "xterm-256color truecolor /bin/sh\n");
    let o = sh("echo \"[$TERM] [$COLORTERM]\"", |_| {}).await;
    assert_ok(&o, "[] []\n");
}
