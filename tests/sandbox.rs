//! Running sandboxes and pools: commands of one sandbox share its filesystem and namespaces,
//! each with its own stdio, status, resource usage and kill; sandboxes and pool entries are
//! isolated from each other; ending a sandbox ends every process in it.

mod common;

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use tokio_sandbox::{
    CompiledPolicy, EndReason, Policy, PolicyError, Pool, Sandbox, SpawnError, Stage, Stdio,
};

fn policy() -> CompiledPolicy {
    Policy::new().compile().expect("compile the default policy")
}

async fn sandbox() -> Sandbox {
    Sandbox::start(&policy()).await.expect("start a sandbox")
}

/// Runs `sh -c script` in `sandbox` and returns its output.
async fn sh(sandbox: &Sandbox, script: &str) -> std::process::Output {
    sandbox
        .command("/bin/sh")
        .args(["-c", script])
        .output()
        .await
        .expect("spawn")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The words of `b`, one space apart.
fn words(b: &[u8]) -> String {
    text(b).split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The first line the child writes to its piped stdout (which it takes from the child).
async fn first_line(child: &mut tokio_sandbox::Child) -> String {
    let mut line = String::new();
    let mut out = tokio::io::BufReader::new(child.stdout.take().expect("stdout piped"));
    tokio::io::AsyncBufReadExt::read_line(&mut out, &mut line)
        .await
        .expect("read a line");
    line
}

/// The kernel's release (uname -r).
fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .expect("read the kernel release")
        .trim()
        .to_owned()
}

/// Whether `pidfd_send_signal(2)` takes `PIDFD_SIGNAL_PROCESS_GROUP` (Linux 6.9 and later).
fn group_signals() -> bool {
    let release = kernel_release();
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let minor: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (major, minor) >= (6, 9)
}

fn pidfd_open(pid: u32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open(2) with no flags returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::c_int, 0) };
    // SAFETY: a new fd we own.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Whether the process behind `fd` ends within `limit`.
fn exits_within(fd: &OwnedFd, limit: Duration) -> bool {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one live pollfd.
    unsafe { libc::poll(&mut pfd, 1, limit.as_millis() as i32) == 1 }
}

/// What one command writes to `/tmp`, the home and a read-write path, the next one sees; the
/// host sees what was written to the read-write path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_share_the_sandboxs_filesystem() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let dir = common::rw_dir();
    let mut p = Policy::new();
    p.read_write(dir.path());
    let sandbox = Sandbox::start(&p.compile().unwrap()).await.unwrap();
    let d = dir.path().display();
    let first = sh(
        &sandbox,
        &format!("echo tmp > /tmp/t && echo home > $HOME/h && echo rw > {d}/r"),
    )
    .await;
    assert!(first.status.success(), "{}", text(&first.stderr));
    let second = sh(&sandbox, &format!("cat /tmp/t $HOME/h {d}/r")).await;
    assert_eq!(
        text(&second.stdout),
        "tmp\nhome\nrw\n",
        "{}",
        text(&second.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("r")).unwrap(),
        "rw\n"
    );
    // The host's /tmp is not the sandbox's.
    assert!(
        !std::path::Path::new("/tmp/t").exists() || {
            std::fs::read_to_string("/tmp/t").unwrap_or_default() != "tmp\n"
        }
    );
}

/// Commands run at once, each with its own stdio and exit status, and the resource usage of
/// its own processes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_command_has_its_own_stdio_status_and_usage() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let sandbox = sandbox().await;
    let burn = "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; echo burnt; exit 3";
    let mut a = sandbox
        .command("/bin/sh")
        .args(["-c", burn])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let b = sandbox
        .command("/bin/sh")
        .args(["-c", "echo quick >&2; exit 5"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert_ne!(a.id(), b.id());
    let b_out = b.wait_with_output().await.unwrap();
    assert_eq!(b_out.status.code(), Some(5));
    assert_eq!(text(&b_out.stderr), "quick\n");
    assert!(b_out.stdout.is_empty());
    let mut stdout = a.stdout.take().unwrap();
    let mut got = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut stdout, &mut got)
        .await
        .unwrap();
    assert_eq!(got, "burnt\n");
    assert_eq!(a.wait().await.unwrap().code(), Some(3));
    let usage = a.resource_usage().expect("the command's usage");
    assert!(
        usage.user_time + usage.system_time >= Duration::from_millis(50),
        "{usage:?}"
    );
    let status = a.run_status().unwrap();
    assert_eq!(status.exit_code, Some(3));
    assert_eq!(status.ended_by, EndReason::Exited);
    assert!(status.enforcement.namespaces.contains(&"pid"));
    // A quick command used next to nothing.
    let mut t = sandbox.command("/bin/true").spawn().unwrap();
    t.wait().await.unwrap();
    let quick = t.resource_usage().unwrap();
    assert!(quick.user_time + quick.system_time < usage.user_time + usage.system_time);
}

/// A command leads a process group of its own, in the sandbox's pid namespace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_leads_its_own_process_group() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let sandbox = sandbox().await;
    let o = sh(
        &sandbox,
        "echo $$ $(ps -o pgid= -p $$) $(ps -o ppid= -p $$)",
    )
    .await;
    let words: Vec<String> = text(&o.stdout)
        .split_whitespace()
        .map(String::from)
        .collect();
    assert_eq!(words.len(), 3, "{}", text(&o.stdout));
    assert_eq!(words[0], words[1], "pid = pgid");
    assert_eq!(words[2], "1", "its parent is the sandbox's init");
}

/// Killing a command kills its process group (a background process of it too), not the
/// sandbox: another command runs on, and later commands start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_ends_the_commands_process_group_only() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let sandbox = sandbox().await;
    let mut other = sandbox.command("sleep").arg("100").spawn().unwrap();
    let mut cmd = sandbox
        .command("/bin/sh")
        .args(["-c", "sleep 100 & echo $!; wait"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let line = first_line(&mut cmd).await;
    let background: u32 = line.trim().parse().unwrap();
    cmd.kill().await.unwrap();
    assert_eq!(cmd.run_status().unwrap().ended_by, EndReason::Killed);
    assert_eq!(
        cmd.try_wait().unwrap().unwrap().signal(),
        Some(libc::SIGKILL)
    );
    // The background process of the killed group is gone (init reaped it), within 1 s, where
    // the kernel signals a process group through a pidfd (Linux 6.9); before, the kill reaches
    // the command's process alone, and the rest of its group runs on until the sandbox ends.
    if !group_signals() {
        eprintln!(
            "kernel {} has no PIDFD_SIGNAL_PROCESS_GROUP (Linux 6.9): the kill reached the \
             command's process only",
            kernel_release()
        );
        let o = sh(
            &sandbox,
            &format!("kill -0 {background} 2>/dev/null; echo $?"),
        )
        .await;
        assert_eq!(text(&o.stdout), "0\n", "the group's other process runs on");
        assert_eq!(
            other.try_wait().unwrap(),
            None,
            "another command was killed"
        );
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let o = sh(
            &sandbox,
            &format!("kill -0 {background} 2>/dev/null; echo $?"),
        )
        .await;
        if text(&o.stdout) == "1\n" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "background process {background} survived"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        other.try_wait().unwrap(),
        None,
        "another command was killed"
    );
    other.kill().await.unwrap();
}

/// A command's timeout kills it and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commands_timeout_kills_it() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let sandbox = sandbox().await;
    let start = Instant::now();
    let mut child = sandbox
        .command("sleep")
        .arg("100")
        .timeout(Duration::from_millis(200))
        .spawn()
        .unwrap();
    let status = child.wait().await.unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    assert!(child.timed_out());
    assert_eq!(child.run_status().unwrap().ended_by, EndReason::Timeout);
    assert!(start.elapsed() < Duration::from_secs(5));
    // The sandbox runs on.
    assert!(sh(&sandbox, "true").await.status.success());
}

/// A command that leaves its process group (into init's, or into one its child leads) is still
/// killed by its timeout and by `Child::kill`: the group signal finds no one there, the signal
/// to the command's own process does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_that_leaves_its_process_group_is_still_killed() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let sandbox = sandbox().await;
    let into_inits =
        "import os, sys, time\nos.setpgid(0, 1)\nprint(os.getpgrp(), flush=True)\ntime.sleep(100)";
    let into_childs = "import os, sys, time\npid = os.fork()\nif pid == 0:\n    os.setpgid(0, 0)\n    time.sleep(100)\n    os._exit(0)\ntime.sleep(0.2)\nos.setpgid(0, pid)\nprint(os.getpgrp() == pid, flush=True)\ntime.sleep(100)";
    for (script, moved) in [(into_inits, "1"), (into_childs, "True")] {
        let start = Instant::now();
        let mut child = sandbox
            .command("python3")
            .args(["-c", script])
            .stdout(Stdio::piped())
            .timeout(Duration::from_secs(2))
            .spawn()
            .unwrap();
        let line = first_line(&mut child).await;
        assert_eq!(line.trim(), moved, "the command moved");
        let status = child.wait().await.unwrap();
        assert_eq!(status.signal(), Some(libc::SIGKILL), "{script}");
        assert_eq!(child.run_status().unwrap().ended_by, EndReason::Timeout);
        assert!(
            start.elapsed() < Duration::from_secs(2) + common::slack(Duration::from_secs(3)),
            "killed at its timeout, not at its end: {:?}",
            start.elapsed()
        );
        // And Child::kill.
        let mut child = sandbox
            .command("python3")
            .args(["-c", script])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let line = first_line(&mut child).await;
        assert_eq!(line.trim(), moved);
        let start = Instant::now();
        child.kill().await.unwrap();
        assert_eq!(child.wait().await.unwrap().signal(), Some(libc::SIGKILL));
        assert_eq!(child.run_status().unwrap().ended_by, EndReason::Killed);
        assert!(start.elapsed() < common::slack(Duration::from_secs(3)));
    }
}

/// A process a command leaves running holds its stdout open: `output` reads until it closes,
/// and with a timeout ends shortly after the deadline with what was read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_with_a_timeout_ends_although_a_leftover_holds_the_pipe() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let sandbox = sandbox().await;
    let start = Instant::now();
    let out = sandbox
        .command("/bin/sh")
        .args(["-c", "sleep 100 & echo started; exit 3"])
        .timeout(Duration::from_secs(1))
        .output()
        .await
        .unwrap();
    let took = start.elapsed();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(text(&out.stdout), "started\n");
    assert!(
        took >= Duration::from_secs(1),
        "read until the deadline: {took:?}"
    );
    assert!(
        took < Duration::from_millis(1250) + common::slack(Duration::from_secs(2)),
        "ended after the deadline: {took:?}"
    );
    // Without a timeout, as with tokio::process, the read lasts as long as the pipe is open:
    // here until the leftover ends, 3 s later.
    let reader = tokio::spawn({
        let mut cmd = sandbox.command("/bin/sh");
        cmd.args(["-c", "sleep 3 & echo started; exit 0"]);
        async move { cmd.output().await }
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!reader.is_finished(), "output waits for the pipe's end");
    let out = tokio::time::timeout(common::slack(Duration::from_secs(10)), reader)
        .await
        .expect("output ends once the pipe closes")
        .unwrap()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "started\n");
}

/// Dropping the sandbox kills every process in it: the commands' waits report `SIGKILL`, their
/// processes are gone, and a command spawned afterwards fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_sandbox_ends_every_process() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let sandbox = sandbox().await;
    let init = pidfd_open(sandbox.id()).expect("init runs");
    let mut a = sandbox.command("sleep").arg("100").spawn().unwrap();
    let mut b = sandbox
        .command("/bin/sh")
        .args(["-c", "setsid sleep 100 & wait"])
        .spawn()
        .unwrap();
    let a_pidfd = pidfd_open(a.id().unwrap()).expect("a runs");
    let mut later = sandbox.command("true");
    drop(sandbox);
    assert!(exits_within(&init, Duration::from_secs(2)), "init survived");
    assert!(
        exits_within(&a_pidfd, Duration::from_secs(2)),
        "a command survived"
    );
    assert_eq!(a.wait().await.unwrap().signal(), Some(libc::SIGKILL));
    assert_eq!(b.wait().await.unwrap().signal(), Some(libc::SIGKILL));
    match later.spawn_async().await {
        Err(SpawnError::SandboxEnded) => {}
        other => panic!("expected SandboxEnded, got {other:?}"),
    }
}

/// `shutdown` returns once every process of the sandbox is gone; a running command's `Child`
/// reports `SIGKILL` with the figures init counted when it reaped it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_waits_until_everything_is_gone() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let sandbox = sandbox().await;
    let init = pidfd_open(sandbox.id()).expect("init runs");
    let mut child = sandbox
        .command("/bin/sh")
        .args([
            "-c",
            "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 100",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let cmd = pidfd_open(child.id().unwrap()).expect("the command runs");
    tokio::time::sleep(Duration::from_millis(300)).await;
    sandbox.shutdown().await.unwrap();
    assert!(
        exits_within(&init, Duration::ZERO),
        "init runs after shutdown"
    );
    assert!(
        exits_within(&cmd, Duration::ZERO),
        "a command runs after shutdown"
    );
    assert_eq!(child.wait().await.unwrap().signal(), Some(libc::SIGKILL));
    let usage = child
        .resource_usage()
        .expect("init reported the command's figures");
    assert!(usage.max_rss_bytes.is_some_and(|b| b > 0), "{usage:?}");
}

/// Arguments, environment, working directory and passed fds reach the command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_get_their_arguments_environment_directory_and_fds() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let sandbox = sandbox().await;
    let (r, w) = std::io::pipe().unwrap();
    let o = sandbox
        .command("/bin/sh")
        .args([
            "-c",
            "echo \"$0 $1 $GREETING $(pwd)\"; echo passed >&5",
            "zero",
            "one",
        ])
        .env("GREETING", "hello")
        .current_dir("/tmp")
        .pass_fd(5, OwnedFd::from(w))
        .output()
        .await
        .unwrap();
    assert_eq!(
        text(&o.stdout),
        "zero one hello /tmp\n",
        "{}",
        text(&o.stderr)
    );
    let mut passed = String::new();
    std::io::Read::read_to_string(&mut std::fs::File::from(OwnedFd::from(r)), &mut passed).unwrap();
    assert_eq!(passed, "passed\n");
    // Only what was given: 0, 1, 2 (and the directory ls reads).
    let o = sh(&sandbox, "ls /proc/self/fd | tr '\\n' ' '").await;
    assert_eq!(text(&o.stdout), "0 1 2 3 ");
}

/// A command that cannot start is a typed error naming what failed; the sandbox runs on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_failures_are_typed() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let sandbox = sandbox().await;
    match sandbox.command("/nonexistent").spawn_async().await {
        Err(SpawnError::NotFound { path }) => assert_eq!(path.to_str(), Some("/nonexistent")),
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert!(sh(&sandbox, "echo x > /tmp/data").await.status.success());
    match sandbox.command("/tmp/data").spawn_async().await {
        Err(SpawnError::NotExecutable { source, .. }) => {
            assert_eq!(source.raw_os_error(), Some(libc::EACCES))
        }
        other => panic!("expected NotExecutable, got {other:?}"),
    }
    match sandbox
        .command("true")
        .current_dir("/nowhere")
        .spawn_async()
        .await
    {
        Err(SpawnError::Setup {
            stage: Stage::Chdir,
            path,
            source,
            ..
        }) => {
            assert_eq!(path.unwrap().to_str(), Some("/nowhere"));
            assert_eq!(source.raw_os_error(), Some(libc::ENOENT));
        }
        other => panic!("expected a chdir failure, got {other:?}"),
    }
    match sandbox
        .command("true")
        .read_only("/etc")
        .spawn_async()
        .await
    {
        Err(SpawnError::Policy(PolicyError::RunningSandboxPolicy)) => {}
        other => panic!("expected RunningSandboxPolicy, got {other:?}"),
    }
    assert!(sh(&sandbox, "true").await.status.success());
}

/// Two sandboxes of one policy share nothing: not `/tmp`, not processes, not the loopback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandboxes_are_isolated_from_each_other() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let (a, b) = (sandbox().await, sandbox().await);
    assert!(sh(&a, "echo a > /tmp/mine").await.status.success());
    let mut sleeper = a.command("sleep").arg("100").spawn().unwrap();
    // A listener on a's loopback.
    let mut listener = a
        .command("/bin/sh")
        .args(["-c", "exec python3 -c 'import socket,sys; s=socket.socket(); s.bind((\"127.0.0.1\", 4711)); s.listen(); print(\"up\", flush=True); s.accept()'"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let has_python = common::has("/usr/bin/python3");
    if has_python {
        let line = first_line(&mut listener).await;
        assert_eq!(line, "up\n");
    }
    let o = sh(
        &b,
        "cat /tmp/mine 2>&1; ps -e -o pid=,comm= > /tmp/ps; cat /tmp/ps",
    )
    .await;
    assert_eq!(
        words(&o.stdout),
        "cat: /tmp/mine: No such file or directory 1 memfd:tokio-san 2 sh 4 ps"
    );
    if has_python {
        let o = b
            .command("python3")
            .args(["-c", "import socket\ntry:\n socket.create_connection(('127.0.0.1', 4711), 1)\n print('reached')\nexcept OSError as e:\n print(e.errno)"])
            .output()
            .await
            .unwrap();
        assert_eq!(text(&o.stdout), format!("{}\n", libc::ECONNREFUSED));
        // The control: from a, the listener is there.
        let o = a
            .command("python3")
            .args([
                "-c",
                "import socket; socket.create_connection(('127.0.0.1', 4711), 1); print('reached')",
            ])
            .output()
            .await
            .unwrap();
        assert_eq!(text(&o.stdout), "reached\n", "{}", text(&o.stderr));
    } else {
        common::missing("python3");
    }
    sleeper.kill().await.unwrap();
    listener.kill().await.unwrap();
}

/// Each command of a pool runs in a fresh sandbox: what one leaves (files in `/tmp`, a process
/// that left its process group and session) is gone for the next, and its sandbox ends with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_entries_are_isolated() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let pool = Pool::new(&policy(), 2).unwrap();
    let first = pool
        .command("/bin/sh")
        .args(["-c", "echo one > /tmp/marker; setsid sleep 100 & echo $!"])
        .output()
        .await
        .unwrap();
    assert!(first.status.success(), "{}", text(&first.stderr));
    let second = pool
        .command("/bin/sh")
        .args([
            "-c",
            "cat /tmp/marker 2>&1; ps -e -o pid=,comm= > /tmp/ps; cat /tmp/ps",
        ])
        .output()
        .await
        .unwrap();
    assert_eq!(
        words(&second.stdout),
        "cat: /tmp/marker: No such file or directory 1 memfd:tokio-san 2 sh 4 ps"
    );
}

/// The parent of the host process `pid`, from `/proc/PID/stat`.
fn parent_of(pid: u32) -> u32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // pid (comm) state ppid ...: comm may contain spaces, so split after the last ')'.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    rest.split(' ').nth(1).unwrap().parse().unwrap()
}

/// The pidfd of the init of the pooled sandbox that the program `child` runs in (its parent).
fn pooled_init(child: &tokio_sandbox::Child) -> OwnedFd {
    let init = parent_of(child.id().unwrap());
    assert_ne!(init, std::process::id(), "a pooled sandbox's command");
    pidfd_open(init).expect("the sandbox runs")
}

/// Waits (at most 30 s) until `pool` holds `n` sandboxes ready.
async fn filled(pool: &Pool, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while pool.ready() < n {
        assert!(Instant::now() < deadline, "{:?}", pool.last_error());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A pooled command is its program, as a command of a running sandbox: its status and resource
/// usage come when the program ends, and its sandbox ends right after, in the background: a
/// process the program left running in a session of its own is killed then, and the sandbox's
/// init is gone. Timeout and errors are those of a sandbox started for the program.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pooled_sandbox_ends_with_its_program() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let pool = Pool::new(&policy(), 1).unwrap();
    filled(&pool, 1).await;
    // It ends once its stdin is closed (by the wait), so that it runs while its parent is read.
    let mut child = pool
        .command("/bin/sh")
        .args(["-c", "setsid sleep 100 & read x; exit 7"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let init = pooled_init(&child);
    assert_eq!(child.wait().await.unwrap().code(), Some(7));
    assert!(child.resource_usage().is_some());
    assert_eq!(child.run_status().unwrap().ended_by, EndReason::Exited);
    assert!(
        exits_within(&init, Duration::from_secs(10)),
        "the sandbox ends after its program"
    );
    filled(&pool, 1).await;
    let mut child = pool
        .command("sleep")
        .arg("100")
        .timeout(Duration::from_millis(100))
        .spawn()
        .unwrap();
    let init = pooled_init(&child);
    child.wait().await.unwrap();
    assert_eq!(child.run_status().unwrap().ended_by, EndReason::Timeout);
    assert!(exits_within(&init, Duration::from_secs(10)));
    match pool.command("/nonexistent").spawn_async().await {
        Err(SpawnError::NotFound { .. }) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
}

/// When a pooled command's program ends, its sandbox's init kills what the program left running
/// at once, before the status is read (the leftover holding stdout open: EOF comes); init
/// itself exits, tearing down the sandbox's mounts and namespaces, once the library has the
/// status (or the `Child` was dropped), so that the teardown does not compete with the caller
/// for the status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pooled_sandbox_ends_once_its_status_is_read_its_leftovers_at_once() {
    use tokio::io::AsyncReadExt;
    if !common::host::sandbox_or_skip() {
        return;
    }
    let pool = Pool::new(&policy(), 2).unwrap();
    filled(&pool, 2).await;
    // It ends once its stdin is closed, so that it runs while its parent is read.
    let mut child = pool
        .command("/bin/sh")
        .args(["-c", "sleep 100 & echo started; read x; exit 0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let init = pooled_init(&child);
    drop(child.stdin.take());
    let mut out = String::new();
    let mut stdout = child.stdout.take().unwrap();
    tokio::time::timeout(Duration::from_secs(10), stdout.read_to_string(&mut out))
        .await
        .expect("the leftover holding stdout is killed when the program ends")
        .unwrap();
    assert_eq!(out, "started\n");
    assert!(
        !exits_within(&init, Duration::from_millis(300)),
        "init waits until the status is read"
    );
    assert_eq!(child.wait().await.unwrap().code(), Some(0));
    assert!(
        exits_within(&init, Duration::from_secs(10)),
        "the sandbox ends once its status is read"
    );
    // A Child dropped unread (without kill_on_drop): the sandbox ends with its program.
    filled(&pool, 1).await;
    let child = pool.command("sleep").arg("0.5").spawn().unwrap();
    let init = pooled_init(&child);
    drop(child);
    assert!(exits_within(&init, Duration::from_secs(10)));
}

/// The processes a pooled command left running are killed and reaped before its status comes:
/// none of them runs, or is still being torn down, once the caller has the status. The
/// leftover holds 300 MiB, whose freeing at its exit takes long enough to be seen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pooled_commands_leftovers_are_gone_when_its_status_comes() {
    use tokio::io::AsyncBufReadExt;
    if !common::host::sandbox_or_skip() {
        return;
    }
    let pool = Pool::new(&policy(), 1).unwrap();
    filled(&pool, 1).await;
    let leftover = "import time; b = b'x' * (300 << 20); print('big', flush=True); time.sleep(100)";
    let mut child = pool
        .command("/bin/sh")
        .args(["-c", &format!("python3 -c \"{leftover}\" & read x; exit 0")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let init = parent_of(child.id().unwrap());
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("big"));
    let status = child.wait().await.unwrap();
    // The leftover, running or a zombie, would be a child of init.
    let left = children_of(init);
    assert_eq!(
        left,
        Vec::<String>::new(),
        "left running or unreaped at the status"
    );
    assert_eq!(status.code(), Some(0));
}

/// A pooled command's kill ends its program and then its sandbox; dropped with
/// `kill_on_drop`, its sandbox is killed; dropped without, its program runs on to its end
/// (its output still comes) and the sandbox ends after it. Nothing is left either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pooled_commands_kill_and_drop_end_its_sandbox() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let pool = Pool::new(&policy(), 2).unwrap();
    filled(&pool, 2).await;
    let mut child = pool.command("sleep").arg("100").spawn().unwrap();
    let init = pooled_init(&child);
    child.kill().await.unwrap();
    assert_eq!(child.wait().await.unwrap().signal(), Some(libc::SIGKILL));
    assert_eq!(child.run_status().unwrap().ended_by, EndReason::Killed);
    assert!(exits_within(&init, Duration::from_secs(10)));

    filled(&pool, 2).await;
    let child = pool
        .command("sleep")
        .arg("100")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let init = pooled_init(&child);
    drop(child);
    assert!(exits_within(&init, Duration::from_secs(10)));

    filled(&pool, 2).await;
    let mut child = pool
        .command("/bin/sh")
        .args(["-c", "read x; echo done"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let init = pooled_init(&child);
    let stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    drop(child);
    assert!(
        !exits_within(&init, Duration::from_millis(100)),
        "a dropped command runs on"
    );
    // Its end: EOF on its stdin.
    drop(stdin);
    let mut out = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut stdout, &mut out)
        .await
        .unwrap();
    assert_eq!(out, "done\n");
    assert!(exits_within(&init, Duration::from_secs(10)));
}

/// A Python program whose child traces it (`PTRACE_SEIZE`) and never waits, so that its exit
/// shows to that tracer only (a traced zombie), not to the sandbox's init; the program exits 7
/// once traced, or 3 when the host refuses the trace (Yama's `ptrace_scope`). With the
/// argument `newgrp` the tracer leaves the program's process group first.
const HIDDEN_EXIT: &str = "import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
r, w = os.pipe()
if os.fork() == 0:
    os.close(r)
    if sys.argv[1] == 'newgrp':
        os.setpgid(0, 0)
    if libc.ptrace(0x4206, os.getppid(), 0, 0) != 0:
        os._exit(1)
    os.write(w, b'x')
    time.sleep(100)
    os._exit(0)
os.close(w)
sys.exit(7 if os.read(r, 1) == b'x' else 3)
";

/// A pooled command whose exit a tracer hides from init still ends, with its own status (its
/// sandbox ends: init kills the tracer, which frees the zombie, and reports it), and so does
/// its sandbox; a dropped `Child` of such a command ends its sandbox too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pooled_command_whose_exit_a_tracer_hides_still_ends() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let pool = Pool::new(&policy(), 2).unwrap();
    filled(&pool, 2).await;
    let mut child = pool
        .command("python3")
        .args(["-c", HIDDEN_EXIT, "same"])
        .spawn()
        .unwrap();
    let init = pooled_init(&child);
    let started = Instant::now();
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("the wait ends")
        .unwrap();
    if status.code() == Some(3) {
        common::skip("this host refuses a process's trace of its parent (Yama ptrace_scope)");
        return;
    }
    assert_eq!(status.code(), Some(7), "the program's own status");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        exits_within(&init, Duration::from_secs(10)),
        "the sandbox ends, and its tracer with it"
    );

    filled(&pool, 1).await;
    let child = pool
        .command("python3")
        .args(["-c", HIDDEN_EXIT, "same"])
        .spawn()
        .unwrap();
    let init = pooled_init(&child);
    let program = pidfd_open(child.id().unwrap()).expect("the program runs");
    assert!(
        exits_within(&program, Duration::from_secs(10)),
        "the program exits"
    );
    drop(child);
    assert!(
        exits_within(&init, Duration::from_secs(10)),
        "dropped after its program exited, it ends its sandbox"
    );
}

/// A command of a running sandbox whose exit a tracer outside its process group hides from
/// init still ends at its timeout: unanswered a second after the kill, it counts as killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_sandboxs_command_whose_exit_a_tracer_hides_ends_at_its_timeout() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let sandbox = sandbox().await;
    let mut child = sandbox
        .command("python3")
        .args(["-c", HIDDEN_EXIT, "newgrp"])
        .timeout(Duration::from_millis(500))
        .spawn()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("the wait ends")
        .unwrap();
    if status.code() == Some(3) {
        common::skip("this host refuses a process's trace of its parent (Yama ptrace_scope)");
        return;
    }
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    assert!(child.timed_out());
    assert_eq!(child.run_status().unwrap().ended_by, EndReason::Timeout);
    sandbox.shutdown().await.unwrap();
}

/// A signal a process of a pooled sandbox sends to its init goes to the program, as in a
/// sandbox started for the program.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pooled_sandboxs_init_forwards_signals_to_the_program() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let pool = Pool::new(&policy(), 1).unwrap();
    let o = pool
        .command("/bin/sh")
        .args([
            "-c",
            "trap 'echo forwarded; exit 3' USR1; /bin/kill -USR1 1 2>&1 || kill -USR1 1; \
             sleep 10 & wait",
        ])
        .output()
        .await
        .unwrap();
    assert_eq!(text(&o.stdout), "forwarded\n", "{}", text(&o.stderr));
    assert_eq!(o.status.code(), Some(3));
}

/// With no sandbox ready, or with a changed policy, a pool's command sets up its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_falls_back_to_a_new_sandbox() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let pool = Pool::new(&policy(), 0).unwrap();
    let o = pool.command("echo").arg("cold").output().await.unwrap();
    assert_eq!(text(&o.stdout), "cold\n");
    let dir = common::rw_dir();
    std::fs::write(dir.path().join("f"), "bound\n").unwrap();
    let o = pool
        .command("cat")
        .arg(dir.path().join("f"))
        .read_only(dir.path())
        .output()
        .await
        .unwrap();
    assert_eq!(text(&o.stdout), "bound\n", "{}", text(&o.stderr));
    assert_eq!(pool.ready(), 0);
    assert!(pool.last_error().is_none());
}

/// A policy without a pid namespace cannot make a running sandbox or a pool. Every property is
/// best effort, so that the policy compiles on any host (one without Landlock or user
/// namespaces too) and the refusal is the running sandbox's own.
#[tokio::test]
async fn running_sandboxes_need_the_pid_namespace() {
    use tokio_sandbox::{Property, Requirement};
    let mut p = Policy::new();
    p.layers(tokio_sandbox::Layers {
        pid: false,
        ..Default::default()
    });
    for property in [
        Property::Filesystem,
        Property::Network,
        Property::Processes,
        Property::Syscalls,
    ] {
        p.require(property, Requirement::BestEffort);
    }
    let compiled = p.compile().unwrap();
    let refused = |r: Result<(), SpawnError>| match r {
        Err(SpawnError::Unsupported { mechanism, .. }) => {
            assert_eq!(mechanism, "a running sandbox")
        }
        other => panic!("expected the running sandbox's refusal, got {other:?}"),
    };
    refused(Sandbox::start(&compiled).await.map(drop));
    refused(Pool::new(&compiled, 1).map(drop));
}

/// A command of a running sandbox or a pool given a terminal has it as stdin, but no
/// `/dev/console` (nothing is mounted in a sandbox after its start): `tty` says `not a tty`; a
/// `Command` of its own binds it at `/dev/console`, where `tty` finds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commands_terminal_is_its_stdin_without_dev_console() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    const SCRIPT: &str = "test -t 0 && echo terminal; tty; test -e /dev/console && echo console";
    let (_master, slave) = common::openpty().expect("openpty");
    let run = |mut cmd: tokio_sandbox::Command| {
        let slave = slave.try_clone().unwrap();
        async move {
            let o = cmd
                .args(["-c", SCRIPT])
                .stdin(Stdio::from(slave))
                .output()
                .await
                .unwrap();
            text(&o.stdout)
        }
    };
    assert_eq!(
        run(tokio_sandbox::Command::new("/bin/sh")).await,
        "terminal\n/dev/console\nconsole\n"
    );
    let sandbox = sandbox().await;
    assert_eq!(
        run(sandbox.command("/bin/sh")).await,
        "terminal\nnot a tty\n"
    );
    let pool = Pool::new(&policy(), 1).unwrap();
    filled(&pool, 1).await;
    assert_eq!(run(pool.command("/bin/sh")).await, "terminal\nnot a tty\n");
}

/// Whether `e` is the error of a spawn past an RLIMIT_NOFILE of 64, naming the limit.
fn past_the_limit(e: &SpawnError) -> bool {
    matches!(e, SpawnError::TooManyOpenFiles { .. })
        && e.to_string()
            .contains("RLIMIT_NOFILE of the spawning process reached (soft and hard limit 64)")
        && e.raw_os_error() == Some(libc::EMFILE)
}

/// Commands of a running sandbox and of a pool spawned past the caller's RLIMIT_NOFILE fail
/// with `SpawnError::TooManyOpenFiles` naming the limit, from `spawn` as from `spawn_async`, as
/// a `Command` of its own does. Runs in a helper process whose limit is 64.
#[test]
fn commands_past_the_descriptor_limit_name_rlimit_nofile() {
    const NAME: &str = "commands_past_the_descriptor_limit_name_rlimit_nofile";
    if !common::host::sandbox_or_skip() {
        return;
    }
    if !common::is_helper(NAME) {
        common::run_helper(NAME, Duration::from_secs(300), |cmd| {
            use std::os::unix::process::CommandExt;
            // SAFETY: setrlimit is async-signal-safe; the limit is a local.
            unsafe {
                cmd.pre_exec(|| {
                    let l = libc::rlimit {
                        rlim_cur: 64,
                        rlim_max: 64,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &l) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        });
        return;
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let sandbox = sandbox().await;
            let command = || {
                let mut cmd = sandbox.command("sleep");
                cmd.arg("100")
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .kill_on_drop(true);
                cmd
            };
            for sync in [true, false] {
                let mut running = Vec::new();
                let error = loop {
                    assert!(
                        running.len() < 64,
                        "64 commands spawned under a limit of 64"
                    );
                    let spawned = if sync {
                        command()
                            .spawn()
                            .map_err(|e| SpawnError::from_io_error(&e).unwrap().to_string())
                    } else {
                        match command().spawn_async().await {
                            Err(e) => {
                                assert!(past_the_limit(&e), "{e:?}");
                                Err(e.to_string())
                            }
                            Ok(c) => Ok(c),
                        }
                    };
                    match spawned {
                        Ok(child) => running.push(child),
                        Err(e) => break e,
                    }
                };
                assert!(
                    error.contains("RLIMIT_NOFILE of the spawning process reached"),
                    "{error}"
                );
            }
            drop(sandbox);

            // A pool's command finding a sandbox ready, with only a few descriptors free.
            let pool = Pool::new(&policy(), 1).unwrap();
            for sync in [true, false] {
                filled(&pool, 1).await;
                let mut held = Vec::new();
                while let Ok(f) = std::fs::File::open("/dev/null") {
                    held.push(f);
                }
                held.truncate(held.len() - 2);
                let mut cmd = pool.command("true");
                cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
                if sync {
                    let e = cmd.spawn().unwrap_err();
                    let e = SpawnError::from_io_error(&e).unwrap();
                    assert!(past_the_limit(e), "{e:?}");
                } else {
                    let e = cmd.spawn_async().await.unwrap_err();
                    assert!(past_the_limit(&e), "{e:?}");
                }
            }
        });
}

/// Open fds of this process, leaving out network namespaces (a root caller keeps a few
/// prepared ones, refilled and taken back in the background).
fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| !target.to_string_lossy().starts_with("net:["))
        .count()
}

/// What this process's fds are, for a message.
fn fd_list() -> Vec<String> {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .map(|t| t.to_string_lossy().into_owned())
        .collect()
}

/// Children of this process, zombies included.
fn child_processes() -> Vec<String> {
    children_of(std::process::id())
}

/// The `/proc/PID/stat` lines of the children of host process `parent`, zombies included.
fn children_of(parent: u32) -> Vec<String> {
    let me = parent.to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("stat")).ok())
        .filter(|stat| {
            // pid (comm) state ppid ...: comm may contain spaces, so split after the last ')'.
            let rest = &stat[stat.rfind(')').unwrap() + 2..];
            rest.split(' ').nth(1) == Some(me.as_str())
        })
        .collect()
}

/// This process's sandbox cgroups (`tokio-sandbox-PID-N`) where the library places them, on a
/// host with cgroup limits: other processes' cgroups there (other tests', a stale one another
/// spawn removes) do not count.
fn cgroups() -> usize {
    let Some(parent) = common::host::expected_cgroup_parent() else {
        return 0;
    };
    let prefix = format!("tokio-sandbox-{}-", std::process::id());
    std::fs::read_dir(parent).map_or(0, |d| {
        d.filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .count()
    })
}

/// Waits (at most 10 s) until this process has `fds` fds, no child and `groups` cgroups again:
/// a cancelled spawn's cleanup finishes in the background.
async fn settled(fds: usize, groups: usize, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while (fd_count() != fds || !child_processes().is_empty() || cgroups() != groups)
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(fd_count(), fds, "fds leaked by {what}: {:?}", fd_list());
    assert_eq!(
        child_processes(),
        Vec::<String>::new(),
        "processes left by {what}"
    );
    assert_eq!(cgroups(), groups, "cgroups left by {what}");
}

/// Cancel safety and nothing leaked: 1,000 command spawns of a running sandbox dropped at every
/// point of their life (before the request, waiting for init's answer, after the exec) and
/// 1,000 running commands dropped leave no process, zombie or fd, in the sandbox or here; nor
/// do 300 cancelled spawns of a pool, 1,000 pooled commands waited for, killed or dropped, 100 cancelled starts and 100 sandboxes dropped with
/// commands running. Runs in a helper process so that other tests' fds and children do not
/// count.
#[test]
fn cancelled_and_dropped_commands_and_sandboxes_leak_nothing() {
    const NAME: &str = "cancelled_and_dropped_commands_and_sandboxes_leak_nothing";
    if !common::host::sandbox_or_skip() {
        return;
    }
    if !common::is_helper(NAME) {
        common::run_helper(NAME, Duration::from_secs(600), |_| {});
        return;
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(cancel_and_drop());
}

async fn cancel_and_drop() {
    // The one-time state (init memfd, seccomp programs, lifeline, network namespace pool, the
    // eventfd of the thread that takes ended sandboxes' mounts down).
    let warm = sandbox().await;
    assert!(sh(&warm, "true").await.status.success());
    warm.shutdown().await.unwrap();
    let cold = tokio_sandbox::Command::new("true").status().await.unwrap();
    assert!(cold.success());
    // The background work of their end (the pidfds and the mount namespace held until init
    // has exited) finishes.
    let deadline = Instant::now() + Duration::from_secs(10);
    while fd_list()
        .iter()
        .any(|f| f.contains("pidfd") || f.starts_with("mnt:"))
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (fds, groups) = (fd_count(), cgroups());

    let sandbox = sandbox().await;
    for i in 0..1000u64 {
        let mut cmd = sandbox.command("sleep");
        cmd.arg("5");
        if i % 2 == 0 {
            // Cancelled somewhere between before the request and after the exec.
            let _ =
                tokio::time::timeout(Duration::from_micros(i % 100 * 20), cmd.spawn_async()).await;
        } else {
            // Spawned, then dropped while it runs.
            cmd.kill_on_drop(true);
            drop(cmd.spawn().unwrap());
        }
    }
    // In the sandbox: only init and this ps are left, nothing unreaped.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let o = sh(&sandbox, "exec ps -e -o pid=,stat=,comm=").await;
        let left = words(&o.stdout);
        let w: Vec<&str> = left.split(' ').collect();
        if w.len() == 6 && (w[0], w[2], w[5]) == ("1", "memfd:tokio-san", "ps") {
            break;
        }
        assert!(Instant::now() < deadline, "left in the sandbox: {left}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(sandbox);
    settled(fds, groups, "1,000 cancelled or dropped commands").await;

    let pool = Pool::new(&policy(), 4).unwrap();
    for i in 0..300u64 {
        let mut cmd = pool.command("sleep");
        cmd.arg("5").kill_on_drop(true);
        let _ = tokio::time::timeout(Duration::from_micros(i % 100 * 30), cmd.spawn_async()).await;
    }
    drop(pool);
    settled(fds, groups, "300 cancelled pool spawns").await;

    let pool = Pool::new(&policy(), 4).unwrap();
    for i in 0..1000u64 {
        let mut cmd = pool.command("/bin/sh");
        match i % 4 {
            // Waited for, leaving a process in a session of its own to its sandbox's end.
            0 => {
                let status = cmd
                    .args(["-c", "setsid sleep 5 & exit 3"])
                    .status()
                    .await
                    .unwrap();
                assert_eq!(status.code(), Some(3));
            }
            // Killed.
            1 => {
                let mut child = cmd.args(["-c", "sleep 5"]).spawn().unwrap();
                child.kill().await.unwrap();
            }
            // Dropped while it runs, killed with its sandbox.
            2 => drop(
                cmd.args(["-c", "sleep 5"])
                    .kill_on_drop(true)
                    .spawn()
                    .unwrap(),
            ),
            // Dropped while it runs, ending by itself.
            _ => drop(cmd.args(["-c", "sleep 0.01"]).spawn().unwrap()),
        }
    }
    drop(pool);
    settled(
        fds,
        groups,
        "1,000 pooled commands waited for, killed or dropped",
    )
    .await;

    for i in 0..100u64 {
        let _ =
            tokio::time::timeout(Duration::from_micros(i * 50), Sandbox::start(&policy())).await;
    }
    settled(fds, groups, "100 cancelled starts").await;
    for _ in 0..100 {
        let sandbox = Sandbox::start(&policy()).await.unwrap();
        let _a = sandbox.command("sleep").arg("5").spawn().unwrap();
        let _b = sandbox
            .command("/bin/sh")
            .args(["-c", "setsid sleep 5 & wait"])
            .spawn()
            .unwrap();
        drop(sandbox);
    }
    settled(fds, groups, "100 dropped sandboxes").await;
}

/// The agent's workspace of `examples/agent_workspace.rs`: a first command writes a Python
/// module and commits it with git in the sandbox's home, later commands import it and read the
/// log; the host's home has none of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn later_commands_import_the_module_and_read_the_log_an_earlier_one_committed() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    if !common::has("/usr/bin/python3")
        || !(common::has("/usr/bin/git") || common::has("/usr/local/bin/git"))
    {
        common::missing("python3 and git under /usr");
        return;
    }
    let sandbox = sandbox().await;
    let o = sh(
        &sandbox,
        "set -e; mkdir -p $HOME/work; cd $HOME/work; git init -q -b main .; \
         printf 'def greet(n):\\n    return \"hello, \" + n\\n' > greet.py; git add greet.py; \
         git -c user.name=agent -c user.email=agent@sandbox commit -q -m 'Add greet()'; pwd",
    )
    .await;
    assert!(o.status.success(), "{}", text(&o.stderr));
    let work = text(&o.stdout).trim().to_string();
    let o = sh(
        &sandbox,
        "cd $HOME/work && python3 -c 'import greet; print(greet.greet(\"x\"))'",
    )
    .await;
    assert_eq!(text(&o.stdout), "hello, x\n", "{}", text(&o.stderr));
    let o = sh(&sandbox, "cd $HOME/work && git log --format='%an: %s'").await;
    assert_eq!(
        text(&o.stdout),
        "agent: Add greet()\n",
        "{}",
        text(&o.stderr)
    );
    assert!(
        !std::path::Path::new(&work).join("greet.py").exists(),
        "{work} on the host"
    );
}
