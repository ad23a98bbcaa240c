//! The behaviours `tokio::process` documents for `Command` and `Child`, each checked against
//! `tokio::process::Command` and `tokio_sandbox::Command` in the same test: the body of a
//! [`both!`] block runs once with each, with `Command` and `Stdio` naming that flavour's types.
//! Where the sandbox differs by design (the environment, the working directory, what `id()`
//! names, a process group outside the sandbox, stdin of `output()`, spawning outside a
//! runtime), the test asserts the documented difference.

mod common;

use std::future::Future;
use std::io::ErrorKind;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Which `Command` a [`both!`] body runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavor {
    Tokio,
    Sandbox,
}

/// Runs `$body` twice: with `tokio::process::Command` and `std::process::Stdio`, then with
/// `tokio_sandbox::{Command, Stdio}`; `$flavor` names the one running.
macro_rules! both {
    (|$flavor:ident| $body:block) => {{
        {
            #[allow(unused_imports)]
            use std::process::Stdio;
            #[allow(unused_imports)]
            use tokio::process::Command;
            #[allow(unused_variables)]
            let $flavor = Flavor::Tokio;
            $body
        }
        {
            #[allow(unused_imports)]
            use tokio_sandbox::{Command, Stdio};
            #[allow(unused_variables)]
            let $flavor = Flavor::Sandbox;
            $body
        }
    }};
}

/// A host path the program uses: the sandbox must be given it (the same path inside), a
/// `tokio::process` child sees it anyway.
trait Shows {
    fn shows_writable(&mut self, path: &Path) -> &mut Self;
    fn shows(&mut self, path: &Path) -> &mut Self;
}

impl Shows for tokio::process::Command {
    fn shows_writable(&mut self, _: &Path) -> &mut Self {
        self
    }
    fn shows(&mut self, _: &Path) -> &mut Self {
        self
    }
}

impl Shows for tokio_sandbox::Command {
    fn shows_writable(&mut self, path: &Path) -> &mut Self {
        self.read_write(path)
    }
    fn shows(&mut self, path: &Path) -> &mut Self {
        self.read_only(path)
    }
}

/// A future that owns everything it needs: compiles only for `Send + 'static` futures.
fn owned<F: Future + Send + 'static>(f: F) -> F {
    f
}

/// `pipe2(O_CLOEXEC)`: (read end, write end).
fn pipe() -> (OwnedFd, OwnedFd) {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).expect("pipe2")
}

/// A pidfd for `pid` (pidfd_open(2)).
fn pidfd_open(pid: u32) -> OwnedFd {
    // SAFETY: pidfd_open(2) with no flags returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::c_int, 0) };
    assert!(fd >= 0, "pidfd_open: {}", std::io::Error::last_os_error());
    // SAFETY: a new fd this function owns.
    unsafe { OwnedFd::from_raw_fd(fd as i32) }
}

/// Whether the process behind `pidfd` ends within `limit`.
fn ends_within(pidfd: &OwnedFd, limit: Duration) -> bool {
    let mut pfd = libc::pollfd {
        fd: pidfd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: poll(2) on one live pollfd.
    unsafe { libc::poll(&mut pfd, 1, limit.as_millis() as i32) == 1 }
}

/// Waits (boundedly) until `path` exists.
async fn appears(path: &Path) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if path.exists() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

/// Whether the command name of `pid` is `comm` within 5 s: the kernel sets it during
/// execve(2), after the point where a spawn learns that the exec succeeded.
fn comm_becomes(pid: u32, comm: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if now == comm {
            return true;
        }
        if Instant::now() > deadline {
            eprintln!("/proc/{pid}/comm is {now:?}");
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// ---------------------------------------------------------------------------------------------
// spawn, status, output
// ---------------------------------------------------------------------------------------------

/// `spawn()` is synchronous and returns `io::Result<Child>` (so `?` works in a function returning
/// `io::Result`); `wait` gives the exact exit code, and waiting again gives it again.
#[tokio::test]
async fn spawn_is_synchronous_and_wait_gives_the_exit_code() -> std::io::Result<()> {
    if !common::host::sandbox_or_skip() {
        return Ok(());
    }
    both!(|flavor| {
        let mut child = Command::new("sh").args(["-c", "exit 7"]).spawn()?;
        assert!(child.id().is_some(), "{flavor:?}");
        let status = child.wait().await?;
        assert_eq!(status.code(), Some(7), "{flavor:?}");
        assert_eq!(child.wait().await?.code(), Some(7), "{flavor:?}");
        assert_eq!(child.try_wait()?, Some(status), "{flavor:?}");
        assert_eq!(child.id(), None, "{flavor:?}: no id once reaped");
    });
    Ok(())
}

/// `status()` and `output()` start the program when called, not when first polled: a program
/// that writes a file runs while the future lies unpolled, and a dropped `output()` future has
/// still started it.
#[tokio::test]
async fn status_and_output_start_the_program_when_called() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    both!(|flavor| {
        let dir = common::rw_dir();
        for (i, use_output) in [false, true].into_iter().enumerate() {
            let mark = dir.path().join(format!("started-{i}"));
            let mut cmd = Command::new("touch");
            cmd.arg(&mark);
            cmd.shows_writable(dir.path());
            if use_output {
                let fut = cmd.output();
                assert!(
                    appears(&mark).await,
                    "{flavor:?}: output() did not start it"
                );
                drop(fut);
            } else {
                let fut = cmd.status();
                assert!(
                    appears(&mark).await,
                    "{flavor:?}: status() did not start it"
                );
                assert!(fut.await.unwrap().success(), "{flavor:?}");
            }
        }
    });
}

/// A program that writes into a pipe the caller reads before awaiting `status()` (the caller
/// would wait forever if the program started only when polled).
#[tokio::test]
async fn status_program_writes_a_pipe_read_before_the_await() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    both!(|flavor| {
        let (tx, rx) = tokio::net::unix::pipe::pipe().unwrap();
        let mut rx = rx;
        let status = Command::new("printf")
            .arg("through the pipe")
            .stdout(tx.into_blocking_fd().unwrap())
            .status();
        let mut buf = [0u8; 16];
        tokio::time::timeout(Duration::from_secs(20), rx.read_exact(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("{flavor:?}: nothing written before the await"))
            .unwrap();
        assert_eq!(&buf, b"through the pipe", "{flavor:?}");
        assert!(status.await.unwrap().success(), "{flavor:?}");
        // The program (and the temporary Command) held the only other write ends.
        let mut rest = Vec::new();
        rx.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty(), "{flavor:?}");
    });
}

/// The futures of `status()` and `output()` are `Send + 'static`: they do not borrow the
/// `Command`, which may be a temporary, and can be given to `tokio::spawn`.
#[tokio::test]
async fn status_and_output_futures_are_static() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    both!(|flavor| {
        let status = owned(Command::new("sh").args(["-c", "exit 4"]).status());
        let output = owned(Command::new("echo").arg("static").output());
        let status = tokio::spawn(status).await.unwrap().unwrap();
        let output = tokio::spawn(output).await.unwrap().unwrap();
        assert_eq!(status.code(), Some(4), "{flavor:?}");
        assert_eq!(output.stdout, b"static\n", "{flavor:?}");
    });
}

/// `output()` pipes stdout and stderr whatever they were set to before, and a later spawn of the
/// same command pipes them too.
#[tokio::test]
async fn output_pipes_stdout_and_stderr_regardless_of_earlier_settings() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    both!(|flavor| {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo out; echo err >&2"])
            .stdin(Stdio::null())
            .stdout(Stdio::inherit())
            .stderr(Stdio::null());
        let out = cmd.output().await.unwrap();
        assert_eq!(
            (text(&out.stdout), text(&out.stderr)),
            ("out\n".into(), "err\n".into()),
            "{flavor:?}"
        );
        let child = cmd.spawn().unwrap();
        assert!(
            child.stdout.is_some() && child.stderr.is_some(),
            "{flavor:?}: output() left stdout and stderr piped"
        );
        let out = child.wait_with_output().await.unwrap();
        assert_eq!(text(&out.stdout), "out\n", "{flavor:?}");
    });
}

/// Unset, stdin of `output()` is `/dev/null` in the sandbox (as std's `output()` has it), where
/// tokio's inherits the caller's: documented, so that a program whose output is collected does
/// not read the caller's input. Set, it is the same for both.
#[tokio::test]
async fn output_stdin_is_null_in_the_sandbox_unless_set() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let out = tokio_sandbox::Command::new("readlink")
        .arg("/proc/self/fd/0")
        .output()
        .await
        .unwrap();
    assert_eq!(text(&out.stdout), "/dev/null\n");
    both!(|flavor| {
        let out = Command::new("cat")
            .stdin(Stdio::null())
            .output()
            .await
            .unwrap();
        assert!(out.status.success() && out.stdout.is_empty(), "{flavor:?}");
    });
}

/// `status()` closes piped streams right after the spawn: a program writing to a piped stdout
/// gets `SIGPIPE`.
#[tokio::test]
async fn status_closes_piped_streams() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    both!(|flavor| {
        let status = Command::new("sh")
            .args(["-c", "sleep 0.2; echo lost"])
            .stdout(Stdio::piped())
            .status()
            .await
            .unwrap();
        assert_eq!(status.signal(), Some(libc::SIGPIPE), "{flavor:?}");
    });
}

/// The stdio settings survive a spawn: a second spawn of the same `Command` gets a new pipe,
/// and a file given as stdout is written by both.
#[tokio::test]
async fn a_second_spawn_gets_the_same_stdio() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    both!(|flavor| {
        let mut cmd = Command::new("echo");
        cmd.arg("again").stdout(Stdio::piped());
        for round in 0..2 {
            let child = cmd.spawn().unwrap();
            assert!(child.stdout.is_some(), "{flavor:?}: round {round}");
            let out = child.wait_with_output().await.unwrap();
            assert_eq!(out.stdout, b"again\n", "{flavor:?}: round {round}");
        }
        let file = tempfile::NamedTempFile::new().unwrap();
        let mut cmd = Command::new("echo");
        cmd.arg("line").stdout(file.reopen().unwrap());
        for _ in 0..2 {
            assert!(cmd.status().await.unwrap().success(), "{flavor:?}");
        }
        drop(cmd);
        let written = std::fs::read_to_string(file.path()).unwrap();
        assert_eq!(written, "line\nline\n", "{flavor:?}");
    });
}

/// Spawning outside a runtime: tokio's panics (its reactor is missing); the sandbox's returns an
/// error and starts nothing. Both need a runtime for the `Child`'s pipes.
#[test]
fn spawn_outside_a_runtime() {
    let tokio = std::panic::catch_unwind(|| {
        let _ = tokio::process::Command::new("true")
            .stdin(std::process::Stdio::piped())
            .spawn();
    });
    assert!(tokio.is_err(), "tokio's spawn panics outside a runtime");
    let err = tokio_sandbox::Command::new("true")
        .stdin(tokio_sandbox::Stdio::piped())
        .spawn()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Other);
    assert!(err.to_string().contains("Tokio runtime"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Pipes
// ---------------------------------------------------------------------------------------------

/// Writing the child's stdin and reading its stdout, while it runs.
#[tokio::test]
async fn write_stdin_read_stdout() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    both!(|flavor| {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        stdin.write_all(b"first\n").await.unwrap();
        let mut line = [0u8; 6];
        stdout.read_exact(&mut line).await.unwrap();
        assert_eq!(&line, b"first\n", "{flavor:?}: echoed while running");
        stdin.write_all(b"second\n").await.unwrap();
        drop(stdin);
        let mut rest = String::new();
        stdout.read_to_string(&mut rest).await.unwrap();
        assert_eq!(rest, "second\n", "{flavor:?}");
        assert!(child.wait().await.unwrap().success(), "{flavor:?}");
    });
}

/// `wait_with_output` closes stdin, reads both streams and gives the status.
#[tokio::test]
async fn wait_with_output_reads_both_streams() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    both!(|flavor| {
        let child = Command::new("sh")
            .args(["-c", "cat; echo err >&2; exit 3"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.wait_with_output().await.unwrap();
        assert_eq!(out.status.code(), Some(3), "{flavor:?}");
        assert_eq!(
            (text(&out.stdout), text(&out.stderr)),
            (String::new(), "err\n".into()),
            "{flavor:?}"
        );
    });
}

/// One child's stdout as another's stdin, in every combination of the two: tokio into tokio,
/// sandbox into sandbox, tokio into a sandbox and a sandbox into tokio; all give the same.
#[tokio::test]
async fn stdout_of_one_child_is_stdin_of_another() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    const SCRIPT: &str = "printf 'b\\na\\nc\\n'";
    async fn tokio_source() -> tokio::process::ChildStdout {
        let mut c = tokio::process::Command::new("sh")
            .args(["-c", SCRIPT])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let out = c.stdout.take().unwrap();
        tokio::spawn(async move { c.wait().await });
        out
    }
    async fn sandbox_source() -> tokio::process::ChildStdout {
        let mut c = tokio_sandbox::Command::new("sh")
            .args(["-c", SCRIPT])
            .stdout(tokio_sandbox::Stdio::piped())
            .spawn()
            .unwrap();
        let out = c.stdout.take().unwrap();
        tokio::spawn(async move { c.wait().await });
        out
    }
    async fn into_tokio(src: tokio::process::ChildStdout) -> Vec<u8> {
        let stdin: std::process::Stdio = src.try_into().unwrap();
        let out = tokio::process::Command::new("sort")
            .stdin(stdin)
            .output()
            .await
            .unwrap();
        out.stdout
    }
    async fn into_sandbox(src: tokio::process::ChildStdout) -> Vec<u8> {
        let stdin: tokio_sandbox::Stdio = src.try_into().unwrap();
        let out = tokio_sandbox::Command::new("sort")
            .stdin(stdin)
            .output()
            .await
            .unwrap();
        out.stdout
    }
    let want = b"a\nb\nc\n";
    assert_eq!(
        into_tokio(tokio_source().await).await,
        want,
        "tokio into tokio"
    );
    assert_eq!(
        into_sandbox(sandbox_source().await).await,
        want,
        "sandbox into sandbox"
    );
    assert_eq!(
        into_sandbox(tokio_source().await).await,
        want,
        "tokio into sandbox"
    );
    assert_eq!(
        into_tokio(sandbox_source().await).await,
        want,
        "sandbox into tokio"
    );
    // A std child's stdout converts with `into()` into both.
    both!(|flavor| {
        let src = std::process::Command::new("sh")
            .args(["-c", SCRIPT])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap()
            .stdout
            .unwrap();
        let out = Command::new("sort").stdin(src).output().await.unwrap();
        assert_eq!(out.stdout, want, "{flavor:?}: std child into {flavor:?}");
    });
}

// ---------------------------------------------------------------------------------------------
// Killing and dropping
// ---------------------------------------------------------------------------------------------

/// With `kill_on_drop(true)` a dropped `Child` is killed; without, it runs on.
#[tokio::test]
async fn kill_on_drop() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    both!(|flavor| {
        for kill in [true, false] {
            let mut cmd = Command::new("sleep");
            cmd.arg("30").kill_on_drop(kill);
            assert_eq!(cmd.get_kill_on_drop(), kill, "{flavor:?}");
            let child = cmd.spawn().unwrap();
            let pidfd = pidfd_open(child.id().unwrap());
            drop(child);
            assert_eq!(
                ends_within(&pidfd, Duration::from_millis(if kill { 5000 } else { 300 })),
                kill,
                "{flavor:?}: kill_on_drop({kill})"
            );
            if !kill {
                rustix::process::pidfd_send_signal(&pidfd, rustix::process::Signal::KILL).unwrap();
            }
        }
    });
}

/// A dropped `output()` future drops its `Child`: with `kill_on_drop(true)` the program, started
/// when `output()` was called, is killed (here: the last reader of a pipe goes away).
#[tokio::test]
async fn dropped_output_future_kills_with_kill_on_drop() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    both!(|flavor| {
        let dir = common::rw_dir();
        let mark = dir.path().join("started");
        let (rx, tx) = pipe();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "touch \"$1\"; exec sleep 30", "sh"])
            .arg(&mark)
            .stdin(rx)
            .kill_on_drop(true);
        cmd.shows_writable(dir.path());
        let fut = cmd.output();
        drop(cmd);
        assert!(appears(&mark).await, "{flavor:?}: not started");
        drop(fut);
        // Once `sleep` is gone nobody reads the pipe: a write fails with EPIPE.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match rustix::io::write(&tx, b"x") {
                Err(rustix::io::Errno::PIPE) => break,
                _ => assert!(Instant::now() < deadline, "{flavor:?}: still running"),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
}

/// `start_kill` and `kill` after the child was reaped are not errors; the status stays.
#[tokio::test]
async fn kill_after_wait() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    both!(|flavor| {
        let mut child = Command::new("sh").args(["-c", "exit 2"]).spawn().unwrap();
        let status = child.wait().await.unwrap();
        assert_eq!(status.code(), Some(2), "{flavor:?}");
        child.start_kill().unwrap();
        child.kill().await.unwrap();
        assert_eq!(child.wait().await.unwrap(), status, "{flavor:?}");
    });
}

/// `kill` ends a running child with `SIGKILL`; `try_wait` is `None` while it runs.
#[tokio::test]
async fn kill_and_try_wait() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    both!(|flavor| {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        assert_eq!(child.try_wait().unwrap(), None, "{flavor:?}");
        child.kill().await.unwrap();
        let status = child.wait().await.unwrap();
        assert_eq!(status.signal(), Some(libc::SIGKILL), "{flavor:?}");
        assert_eq!(child.try_wait().unwrap(), Some(status), "{flavor:?}");
        // start_kill, then wait.
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        child.start_kill().unwrap();
        let status = child.wait().await.unwrap();
        assert_eq!(status.signal(), Some(libc::SIGKILL), "{flavor:?}");
    });
}

// ---------------------------------------------------------------------------------------------
// Runtimes
// ---------------------------------------------------------------------------------------------

/// A child spawned on one runtime is waited for on another, after the first has shut down;
/// repeated so that a race would show.
#[test]
fn wait_on_another_runtime_after_the_first_shut_down() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    for _ in 0..20 {
        both!(|flavor| {
            let first = runtime();
            let mut child = first
                .block_on(async {
                    Command::new("sh")
                        .args(["-c", "sleep 0.05; exit 5"])
                        .stdin(Stdio::piped())
                        .stdout(Stdio::null())
                        .spawn()
                })
                .unwrap();
            drop(first);
            let status = runtime().block_on(child.wait()).unwrap();
            assert_eq!(status.code(), Some(5), "{flavor:?}");
        });
    }
}

// ---------------------------------------------------------------------------------------------
// What the program gets
// ---------------------------------------------------------------------------------------------

/// `arg0` is the program's `argv[0]`; the program is still the one named.
#[tokio::test]
async fn arg0() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    both!(|flavor| {
        let out = Command::new("sh")
            .arg0("renamed")
            .args([
                "-c",
                "echo \"$0\"; tr '\\0' '\\n' < /proc/$$/cmdline | head -n 2",
            ])
            .output()
            .await
            .unwrap();
        assert_eq!(text(&out.stdout), "renamed\nrenamed\n-c\n", "{flavor:?}");
    });
}

/// `env`, `envs`, `env_remove` and `env_clear` shape the environment alike. Not set, a variable
/// of the caller's reaches tokio's program and not the sandbox's, whose `PATH` is its own
/// (documented); `env_inherit` passes the caller's value.
#[tokio::test]
async fn environment() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    both!(|flavor| {
        let out = Command::new("env")
            .env_clear()
            .env("A", "1")
            .envs([("B", "2"), ("C", "3")])
            .env_remove("B")
            .output()
            .await
            .unwrap();
        assert_eq!(text(&out.stdout), "A=1\nC=3\n", "{flavor:?}");
        let out = Command::new("sh")
            .args(["-c", "echo \"$PATH\""])
            .output()
            .await
            .unwrap();
        let caller = std::env::var("PATH").unwrap();
        match flavor {
            Flavor::Tokio => assert_eq!(text(&out.stdout), format!("{caller}\n")),
            Flavor::Sandbox => {
                assert_eq!(
                    text(&out.stdout),
                    format!("{}\n", tokio_sandbox::DEFAULT_PATH)
                )
            }
        }
    });
    let out = tokio_sandbox::Command::new("sh")
        .args(["-c", "echo \"$PATH\""])
        .env_inherit("PATH")
        .output()
        .await
        .unwrap();
    assert_eq!(
        text(&out.stdout),
        format!("{}\n", std::env::var("PATH").unwrap())
    );
}

/// `current_dir` is the program's working directory. Unset, tokio's program starts in the
/// caller's; the sandbox's in `/` when the sandbox does not show the caller's (documented).
#[tokio::test]
async fn current_dir() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    both!(|flavor| {
        let out = Command::new("pwd")
            .current_dir("/usr/bin")
            .output()
            .await
            .unwrap();
        assert_eq!(text(&out.stdout), "/usr/bin\n", "{flavor:?}");
        let out = Command::new("pwd").output().await.unwrap();
        let caller = std::env::current_dir().unwrap();
        let shown = ["/usr", "/etc"].iter().any(|p| caller.starts_with(p));
        let want = match flavor {
            Flavor::Sandbox if !shown => "/".into(),
            _ => caller.display().to_string(),
        };
        assert_eq!(text(&out.stdout), format!("{want}\n"), "{flavor:?}");
    });
}

/// `id()` is a host pid while the child runs and `None` once it has been waited for. tokio's
/// names the program; the sandbox's names the sandbox's init, pid 1 of its own pid namespace
/// (documented), whose child the program is.
#[tokio::test]
async fn ids() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    both!(|flavor| {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let id = child.id().expect("an id while running");
        let status = std::fs::read_to_string(format!("/proc/{id}/status")).unwrap();
        let nspid = status
            .lines()
            .find_map(|l| l.strip_prefix("NSpid:"))
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>();
        match flavor {
            Flavor::Tokio => {
                assert_eq!(nspid.last(), Some(&id.to_string().as_str()));
                assert!(comm_becomes(id, "sleep\n"));
            }
            Flavor::Sandbox => {
                assert_eq!(nspid.last(), Some(&"1"), "init is pid 1 inside");
                let children =
                    std::fs::read_to_string(format!("/proc/{id}/task/{id}/children")).unwrap();
                let program = children.split_whitespace().next().expect("the program");
                let program: u32 = program.parse().unwrap();
                assert!(comm_becomes(program, "sleep\n"));
                let comm = std::fs::read_to_string(format!("/proc/{id}/comm")).unwrap();
                assert_ne!(comm, "sleep\n");
            }
        }
        child.kill().await.unwrap();
        assert_eq!(child.id(), None, "{flavor:?}");
    });
}

/// `process_group(0)` puts the program in a process group of its own (for the sandbox, the
/// sandbox's: init leads it); a process group outside the sandbox is refused (documented).
#[tokio::test]
async fn process_group() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    both!(|flavor| {
        let out = Command::new("sh")
            .args(["-c", "echo $$; cut -d' ' -f5 /proc/self/stat"])
            .process_group(0)
            .output()
            .await
            .unwrap();
        let text = text(&out.stdout);
        let (pid, pgrp) = text.trim().split_once('\n').unwrap();
        // `cut` is a child of the shell, in the shell's process group.
        match flavor {
            Flavor::Tokio => assert_eq!(pgrp, pid),
            Flavor::Sandbox => assert_eq!(pgrp, "1", "the sandbox's group, led by its init"),
        }
        let caller = rustix::process::getpgrp().as_raw_nonzero().get();
        let joined = Command::new("true").process_group(caller).status().await;
        match flavor {
            Flavor::Tokio => assert!(joined.unwrap().success()),
            Flavor::Sandbox => {
                let err = joined.unwrap_err();
                assert_eq!(err.kind(), ErrorKind::InvalidInput);
                assert!(matches!(
                    tokio_sandbox::SpawnError::from_io_error(&err),
                    Some(tokio_sandbox::SpawnError::Policy(
                        tokio_sandbox::PolicyError::ProcessGroup(g)
                    )) if *g == caller
                ));
            }
        }
    });
}

/// The command's settings read back: tokio's through `as_std()`, the sandbox's directly.
#[test]
fn inspection() {
    let mut t = tokio::process::Command::new("prog");
    let mut s = tokio_sandbox::Command::new("prog");
    t.args(["-a", "b"])
        .env("X", "1")
        .env_remove("Y")
        .current_dir("/tmp");
    s.args(["-a", "b"])
        .env("X", "1")
        .env_remove("Y")
        .current_dir("/tmp");
    let t = t.as_std();
    assert_eq!(s.get_program(), t.get_program());
    assert!(s.get_args().eq(t.get_args()));
    assert!(s.get_envs().eq(t.get_envs()));
    assert_eq!(s.get_current_dir(), t.get_current_dir());
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// A missing program is `NotFound`, by path and by name. tokio's error is the bare errno; the
/// sandbox's holds the `SpawnError` (with the errno) instead (documented).
#[tokio::test]
async fn missing_program_is_not_found() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    both!(|flavor| {
        for program in [
            "/nonexistent/tokio-sandbox-compat",
            "tokio-sandbox-compat-missing",
        ] {
            let err = Command::new(program).spawn().unwrap_err();
            assert_eq!(
                err.kind(),
                ErrorKind::NotFound,
                "{flavor:?}: {program}: {err}"
            );
            let errno = match flavor {
                Flavor::Tokio => err.raw_os_error(),
                Flavor::Sandbox => tokio_sandbox::SpawnError::from_io_error(&err)
                    .and_then(tokio_sandbox::SpawnError::raw_os_error),
            };
            assert_eq!(errno, Some(libc::ENOENT), "{flavor:?}: {program}");
            // The same error from status() and output(), through their futures.
            let err = Command::new(program).status().await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::NotFound, "{flavor:?}: {program}");
            let err = Command::new(program).output().await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::NotFound, "{flavor:?}: {program}");
        }
    });
}

/// A file without execute permission is `PermissionDenied` (`EACCES`).
#[tokio::test]
async fn non_executable_is_permission_denied() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    both!(|flavor| {
        let dir = common::rw_dir();
        let prog = dir.path().join("not-executable");
        std::fs::write(&prog, "#!/bin/sh\necho ran\n").unwrap();
        std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut cmd = Command::new(&prog);
        cmd.shows(dir.path());
        let err = cmd.spawn().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{flavor:?}: {err}");
        let errno = match flavor {
            Flavor::Tokio => err.raw_os_error(),
            Flavor::Sandbox => tokio_sandbox::SpawnError::from_io_error(&err)
                .and_then(tokio_sandbox::SpawnError::raw_os_error),
        };
        assert_eq!(errno, Some(libc::EACCES), "{flavor:?}");
    });
}

/// An executable file that is neither ELF nor a `#!` script fails with `ENOEXEC` (no shell is
/// tried, as `execvp(3)` would), of the same kind for both.
#[tokio::test]
async fn neither_elf_nor_script_is_an_exec_format_error() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    both!(|flavor| {
        let dir = common::rw_dir();
        let prog = dir.path().join("no-interpreter-line");
        std::fs::write(&prog, "echo ran\n").unwrap();
        std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut cmd = Command::new(&prog);
        cmd.shows(dir.path());
        let err = cmd.output().await.unwrap_err();
        let enoexec = std::io::Error::from_raw_os_error(libc::ENOEXEC);
        assert_eq!(err.kind(), enoexec.kind(), "{flavor:?}: {err}");
        let errno = match flavor {
            Flavor::Tokio => err.raw_os_error(),
            Flavor::Sandbox => tokio_sandbox::SpawnError::from_io_error(&err)
                .and_then(tokio_sandbox::SpawnError::raw_os_error),
        };
        assert_eq!(errno, Some(libc::ENOEXEC), "{flavor:?}");
    });
}
