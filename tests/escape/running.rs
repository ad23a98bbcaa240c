//! Running sandboxes and pools: the control channel between the library and a sandbox's init
//! is out of every command's reach. A command has no descriptor of it (init's end is
//! close-on-exec), cannot take it from init (`/proc/1/fd` is closed: init is not dumpable;
//! `pidfd_getfd` is refused), and cannot find it among the sockets of its network namespace
//! (the pair was made outside, and has no name to connect to).
//!
//! The controls make each attempt on the host, where it finds what it looks for: an inherited
//! socket of the same kind, a same-user process's descriptors.

use std::os::fd::{AsRawFd, OwnedFd};

use libc::{EACCES, EPERM};
use tokio_sandbox::{Pool, Sandbox};

use crate::{attacker_policy, errno, Attempt, Control};

/// A `SOCK_SEQPACKET` socket pair whose first end is inheritable (not close-on-exec), as init's
/// end of a control channel would be if it leaked.
fn inheritable_seqpacket() -> (OwnedFd, OwnedFd) {
    use rustix::net::{socketpair, AddressFamily, SocketFlags, SocketType};
    let (a, b) = socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .unwrap();
    rustix::io::fcntl_setfd(&a, rustix::io::FdFlags::empty()).unwrap();
    (a, b)
}

/// A command of a running sandbox, and the one command of a pooled sandbox, hold no socket:
/// not the control channel, not their own channel. The control: a process that inherits such a
/// socket on the host finds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_control_channel_is_not_among_a_commands_descriptors() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let (leaked, _other) = inheritable_seqpacket();
    let attempt = Attempt::new("socket_fds");
    // Tests running at the same time may leak theirs too: this one's must be among them.
    let host = attempt.on_host(false);
    let want = format!("{} seqpacket", leaked.as_raw_fd());
    assert!(
        host.strip_prefix("sockets ")
            .is_some_and(|l| l.split(", ").any(|s| s == want)),
        "the control on the host finds the inherited socket: {host}"
    );
    drop(leaked);
    let sandbox = Sandbox::start(&attacker_policy()).await.unwrap();
    assert_eq!(attempt.in_running(&sandbox).await, "sockets none");
    // Also while other commands run.
    let mut other = sandbox.command("sleep").arg("100").spawn().unwrap();
    assert_eq!(attempt.in_running(&sandbox).await, "sockets none");
    other.kill().await.unwrap();
    let pool = Pool::new(&attacker_policy(), 1).unwrap();
    assert_eq!(attempt.in_pool(&pool).await, "sockets none");
}

/// The descriptors of the sandbox's init (its end of the control channel among them) cannot be
/// listed: init is not dumpable. The control lists those of a same-user process on the host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_inits_descriptors_cannot_be_listed() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let attempt = Attempt::new("list_dir")
        .arg("/proc/1/fd")
        .control_args(format!("/proc/{}/fd", std::process::id()), "");
    attempt.check_control(&errno(EACCES), &Control::Host("listed".into()));
    let sandbox = Sandbox::start(&attacker_policy()).await.unwrap();
    assert_eq!(attempt.in_running(&sandbox).await, errno(EACCES));
    let fdinfo = Attempt::new("list_dir").arg("/proc/1/fdinfo");
    assert_eq!(fdinfo.in_running(&sandbox).await, errno(EACCES));
    let pool = Pool::new(&attacker_policy(), 1).unwrap();
    assert_eq!(attempt.in_pool(&pool).await, errno(EACCES));
}

/// `pidfd_getfd` on the sandbox's init, which would copy its end of the control channel, is
/// refused (the seccomp filter; without it, init's non-dumpable state would refuse it too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_inits_descriptors_cannot_be_taken() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let sandbox = Sandbox::start(&attacker_policy()).await.unwrap();
    let attempt = Attempt::new("pidfd_getfd").arg(1);
    assert_eq!(attempt.in_running(&sandbox).await, errno(EPERM));
}

/// The control channel is not a socket of the sandbox's network namespace: no unix socket is
/// listed there, while the host lists the pair this test holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_control_channel_is_not_in_the_sandboxs_network_namespace() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let _pair = rustix::net::socketpair(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::SEQPACKET,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )
    .unwrap();
    let attempt = Attempt::new("unix_sockets");
    let host = attempt.on_host(false);
    let listed: usize = host.strip_prefix("unix ").unwrap().parse().unwrap();
    assert!(
        listed >= 2,
        "the host lists this test's socket pair: {host}"
    );
    let sandbox = Sandbox::start(&attacker_policy()).await.unwrap();
    assert_eq!(attempt.in_running(&sandbox).await, "unix 0");
}

/// The kernel's Landlock ABI (0 without Landlock), as init sees it when it makes each command's
/// domain.
fn kernel_landlock_abi() -> i64 {
    // SAFETY: landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION) reads no memory.
    let abi = unsafe { libc::syscall(444, std::ptr::null::<u8>(), 0usize, 1u32) };
    abi.max(0)
}

/// Waits up to 30 s for `read` to give the spy's outcome line.
async fn spy_outcome(mut read: impl AsyncFnMut() -> Option<String>) -> String {
    for _ in 0..300 {
        if let Some(line) = read().await {
            return line;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the spy wrote no outcome within 30 s");
}

/// Each command of a running sandbox is a Landlock domain of its own: a process command 1 left
/// behind cannot read command 2's environment (`/proc/PID/environ`: EACCES), copy its stdin
/// (`pidfd_getfd`: EPERM), trace it (`PTRACE_SEIZE`: EPERM) or, with Landlock ABI 6, signal it
/// (EPERM). The control: the same spy and target as two ordinary processes of one user on the
/// host, where every attempt succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_commands_cannot_reach_each_other() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let abi = kernel_landlock_abi();
    if abi == 0 {
        crate::common::skip("no Landlock: the commands of a sandbox share one domain here");
        return;
    }
    let marker = format!("99.{}", std::process::id());
    let target = |cmd: &mut tokio_sandbox::Command| {
        cmd.arg(&marker)
            .env("TSB_CROSS_TOKEN", "tok-4242")
            .stdin(tokio_sandbox::Stdio::piped())
            .kill_on_drop(true);
    };

    // The control on the host.
    let dir = crate::common::rw_dir();
    let out = dir.path().join("spy");
    let mut host_target = std::process::Command::new("sleep")
        .arg(&marker)
        .env("TSB_CROSS_TOKEN", "tok-4242")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let spy = Attempt::new("cross_spy").arg(&marker).arg2(crate::s(&out));
    assert_eq!(spy.on_host(false), "started");
    let host = spy_outcome(async || std::fs::read_to_string(&out).ok()).await;
    let _ = host_target.kill();
    let _ = host_target.wait();
    assert_eq!(
        host, "environ ok, getfd ok, kill ok, seize ok",
        "the control: one user's processes on the host"
    );

    let sandbox = Sandbox::start(&attacker_policy()).await.unwrap();
    let spy = Attempt::new("cross_spy").arg(&marker).arg2("/tmp/spy");
    assert_eq!(spy.in_running(&sandbox).await, "started", "command 1");
    let mut cmd = sandbox.command("sleep");
    target(&mut cmd);
    let mut second = cmd.spawn().unwrap();
    let got = spy_outcome(async || {
        let out = sandbox
            .command("cat")
            .arg("/tmp/spy")
            .output()
            .await
            .unwrap();
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    })
    .await;
    second.kill().await.unwrap();
    let kill = if abi >= 6 { errno(EPERM) } else { "ok".into() };
    assert_eq!(
        got,
        format!(
            "environ {}, getfd {}, kill {kill}, seize {}",
            errno(EACCES),
            errno(EPERM),
            errno(EPERM)
        ),
        "a process of command 1 against command 2 (Landlock ABI {abi})"
    );
}

/// A process left behind that sends `SIGSTOP` to every process it may signal, in a loop, no
/// longer reaches the process init starts for a later command before it execs (Landlock ABI 6
/// scopes signals to each command's domain): 200 commands start and end, and the sandbox
/// ends when dropped. Below ABI 6 it still stops later commands (before their exec too, which
/// `running_unanswered_start_is_bounded_and_kills_the_sandbox` covers), so the test is skipped
/// there. The control that such a signal reaches another process of the same user is
/// `running_commands_cannot_reach_each_other`'s (`kill ok` on the host); a stopping loop cannot
/// be run on the host without stopping its other processes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_stopping_loop_does_not_hold_later_commands() {
    use std::time::{Duration, Instant};
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let abi = kernel_landlock_abi();
    if abi < 6 {
        crate::common::skip(&format!(
            "Landlock ABI {abi} has no signal scope: a process one command left behind can \
             stop later commands (a start it holds fails after the library's bound, and the \
             sandbox is killed)"
        ));
        return;
    }
    let sandbox = Sandbox::start(&attacker_policy()).await.unwrap();
    let init = sandbox.id();
    let stopper = Attempt::new("stopper").arg(60);
    assert_eq!(stopper.in_running(&sandbox).await, "started", "command 1");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    for i in 0..200 {
        let status =
            tokio::time::timeout(Duration::from_secs(30), sandbox.command("true").status())
                .await
                .unwrap_or_else(|_| panic!("command {i} did not end within 30 s"))
                .unwrap();
        assert!(status.success(), "command {i}: {status}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(180),
        "200 commands took {:?}",
        started.elapsed()
    );
    drop(sandbox);
    for _ in 0..300 {
        if !std::path::Path::new(&format!("/proc/{init}")).exists() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the sandbox's init is not gone 30 s after the drop");
}

/// A sandbox whose init does not answer a command's request (here stopped from outside, as a
/// command's process stopped before its exec holds it in its vfork wait where Landlock has no
/// signal scope) does not hold the spawn: the blocking and the async spawn fail with
/// `SandboxStalled` after the library's 5 s bound, and the sandbox is killed then. The
/// control: the same sandbox, before init is stopped, starts a command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_unanswered_start_is_bounded_and_kills_the_sandbox() {
    use std::time::{Duration, Instant};
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    for blocking in [true, false] {
        let sandbox = std::sync::Arc::new(Sandbox::start(&attacker_policy()).await.unwrap());
        let init = sandbox.id();
        let status = sandbox.command("true").status().await.unwrap();
        assert!(status.success(), "the control: {status}");
        // SAFETY: kill takes two numbers; the pid is this test's sandbox's init, alive.
        assert_eq!(unsafe { libc::kill(init as i32, libc::SIGSTOP) }, 0);
        let begun = Instant::now();
        let error = if blocking {
            let sb = sandbox.clone();
            let spawn = tokio::task::spawn_blocking(move || sb.command("true").spawn().map(|_| ()));
            tokio::time::timeout(Duration::from_secs(60), spawn)
                .await
                .expect("the blocking spawn ends within 60 s")
                .unwrap()
                .unwrap_err()
        } else {
            let child = tokio::time::timeout(
                Duration::from_secs(60),
                sandbox.command("true").spawn_async(),
            )
            .await
            .expect("the spawn ends within 60 s");
            std::io::Error::from(child.map(|_| ()).unwrap_err())
        };
        let waited = begun.elapsed();
        assert!(
            matches!(
                tokio_sandbox::SpawnError::from_io_error(&error),
                Some(tokio_sandbox::SpawnError::SandboxStalled { .. })
            ),
            "blocking {blocking}: {error}"
        );
        assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
        assert!(
            waited >= Duration::from_secs(5) && waited < Duration::from_secs(30),
            "blocking {blocking}: waited {waited:?}"
        );
        let mut ended = false;
        for _ in 0..300 {
            ended = std::fs::read_to_string(format!("/proc/{init}/stat")).map_or(true, |stat| {
                stat.rsplit(") ").next().is_some_and(|s| s.starts_with('Z'))
            });
            if ended {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(ended, "blocking {blocking}: the sandbox's init was killed");
    }
}
