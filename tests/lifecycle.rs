//! Nothing outlives its owner: sandboxes die with the spawning process, not with the spawning
//! thread; killing or dropping a `Child` takes the whole tree.

mod common;

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use tokio_sandbox::{Command, Stdio};

const ROLE: &str = "TOKIO_SANDBOX_TEST_ROLE";

fn pidfd_open(pid: u32) -> OwnedFd {
    // SAFETY: pidfd_open(2) with no flags returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::c_int, 0) };
    assert!(
        fd >= 0,
        "pidfd_open({pid}): {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: a new fd we own.
    unsafe { OwnedFd::from_raw_fd(fd as i32) }
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

/// C23: when the spawning process is killed, its sandboxes (every one of them) die within 1 s.
#[test]
fn c23_sandbox_dies_with_the_spawning_process() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    if std::env::var(ROLE).as_deref() == Ok("owner") {
        tokio::runtime::Runtime::new().unwrap().block_on(async {
            let first = Command::new("sleep").arg("30").spawn().unwrap();
            let second = Command::new("sleep").arg("30").spawn().unwrap();
            println!("PID:{}", first.id().unwrap());
            println!("PID:{}", second.id().unwrap());
            std::future::pending::<()>().await;
        });
        return;
    }
    let mut owner = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "c23_sandbox_dies_with_the_spawning_process",
            "--nocapture",
        ])
        .env(ROLE, "owner")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(owner.stdout.take().unwrap());
    let pid = loop {
        let mut line = String::new();
        assert_ne!(std::io::BufRead::read_line(&mut out, &mut line).unwrap(), 0);
        if let Some(p) = line.trim().strip_prefix("PID:") {
            break p.parse::<u32>().unwrap();
        }
    };
    let sandbox = pidfd_open(pid);
    assert!(
        !exits_within(&sandbox, Duration::from_millis(200)),
        "runs while its owner does"
    );
    let cgroup = common::host::cgroup_limits().then(|| {
        let cgroup = common::host::cgroup_of(pid);
        let name = format!("tokio-sandbox-{}-", owner.id());
        assert!(
            cgroup
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&name),
            "the sandbox's own cgroup: {cgroup:?}"
        );
        cgroup
    });
    owner.kill().unwrap();
    owner.wait().unwrap();
    assert!(
        exits_within(&sandbox, Duration::from_secs(1)),
        "the sandbox outlived its owner"
    );
    // With cgroup limits, the owner could not remove its sandboxes' cgroups: this process's
    // next spawn a second later (each process looks at most once a second) does.
    if let Some(cgroup) = cgroup {
        std::thread::sleep(Duration::from_millis(1100));
        let status = tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(async { Command::new("true").status().await })
            .unwrap();
        assert!(status.success());
        assert!(!cgroup.exists(), "{cgroup:?} of the killed owner is left");
    }
}

/// C23: a sandbox spawned from a blocking-pool thread that then exits keeps running.
#[test]
fn c23_sandbox_survives_the_spawning_thread() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_keep_alive(Duration::from_millis(10))
        .enable_all()
        .build()
        .unwrap();
    let mut child = rt
        .block_on(async {
            tokio::task::spawn_blocking(|| Command::new("sleep").arg("2").spawn())
                .await
                .unwrap()
        })
        .unwrap();
    // The blocking thread is gone after its keep-alive.
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    let status = rt.block_on(child.wait()).unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(
        start.elapsed() > Duration::from_millis(1000),
        "it ran to its end"
    );
}

/// A `Child` is waited for from another runtime than the one that spawned it, while that one
/// runs and after it has shut down (each wait registers the pidfd with its own runtime), with
/// and without a timeout; many times, so that a race would show.
#[test]
fn wait_from_another_runtime_also_after_the_first_shut_down() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let current = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    for round in 0..20 {
        let first = current();
        let mut children: Vec<_> = (0..2)
            .map(|i| {
                let mut cmd = Command::new("sh");
                cmd.args(["-c", "sleep 0.1; exit 3"]);
                if i == 1 {
                    cmd.timeout(Duration::from_secs(60));
                }
                first.block_on(async { cmd.spawn() }).unwrap()
            })
            .collect();
        let second = current();
        if round % 2 == 0 {
            // Waited for from another runtime while the first still exists, not running.
            let status = second.block_on(children[0].wait()).unwrap();
            assert_eq!(status.code(), Some(3));
            drop(first);
        } else {
            drop(first);
            let status = second.block_on(children[0].wait()).unwrap();
            assert_eq!(status.code(), Some(3));
        }
        // After the first has shut down, with a deadline on the second runtime's timer.
        let status = second.block_on(children[1].wait()).unwrap();
        assert_eq!(status.code(), Some(3));
        assert!(!children[1].timed_out());
        // A wait began on one runtime and finished on another.
        let third = current();
        let mut child = third
            .block_on(async { Command::new("sleep").arg("0.2").spawn() })
            .unwrap();
        let mut wait = Box::pin(child.wait());
        let waited = third
            .block_on(async { tokio::time::timeout(Duration::from_millis(20), &mut wait).await });
        assert!(waited.is_err(), "sleep 0.2 ended within 20 ms");
        drop(third);
        assert!(second.block_on(wait).unwrap().success());
    }
}

/// A `Child` dropped on a runtime that shuts down before the sandbox ends leaves no zombie: the
/// reaping moves from the runtime to a thread.
#[test]
fn child_dropped_on_a_runtime_that_shuts_down_is_reaped() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    for _ in 0..5 {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let pid = rt.block_on(async {
            let child = Command::new("sleep").arg("0.2").spawn().unwrap();
            child.id().unwrap()
        });
        drop(rt);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            // SAFETY: siginfo_t is plain data; waitid(2) with WNOWAIT only looks.
            let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
            // SAFETY: `info` is a live siginfo_t.
            let r = unsafe {
                libc::waitid(
                    libc::P_PID,
                    pid,
                    &mut info,
                    libc::WEXITED | libc::WNOHANG | libc::WNOWAIT | libc::__WALL,
                )
            };
            if r == -1 {
                assert_eq!(
                    std::io::Error::last_os_error().raw_os_error(),
                    Some(libc::ECHILD)
                );
                break;
            }
            assert!(Instant::now() < deadline, "sandbox {pid} left unreaped");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// C25: killing takes the whole tree, including a process that left the session with setsid;
/// wait reports SIGKILL and stdout reaches EOF.
#[tokio::test]
async fn c25_kill_takes_the_whole_tree() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let mut child = Command::new("sh")
        .args(["-c", "setsid sleep 300 & echo started; sleep 300"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut buf = [0u8; 8];
    tokio::io::AsyncReadExt::read_exact(&mut stdout, &mut buf)
        .await
        .unwrap();
    assert_eq!(&buf, b"started\n");
    let start = Instant::now();
    child.kill().await.unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(
        Duration::from_secs(1),
        tokio::io::AsyncReadExt::read_to_end(&mut stdout, &mut rest),
    )
    .await
    .expect("stdout reaches EOF within 1 s: no process of the sandbox holds it")
    .unwrap();
    assert!(start.elapsed() < Duration::from_secs(1));
    assert_eq!(child.wait().await.unwrap().signal(), Some(libc::SIGKILL));
}

/// C25: dropping a `Child` with kill_on_drop ends every process of the sandbox.
#[tokio::test]
async fn c25_kill_on_drop_takes_the_whole_tree() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let mut child = Command::new("sh")
        .args(["-c", "setsid sleep 300 & sleep 300"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    drop(child);
    let mut rest = Vec::new();
    tokio::time::timeout(
        Duration::from_secs(1),
        tokio::io::AsyncReadExt::read_to_end(&mut stdout, &mut rest),
    )
    .await
    .expect("stdout reaches EOF within 1 s")
    .unwrap();
}

/// C26: output() returns when the main program exits although a background process still
/// holds the pipes (the rest of the sandbox dies with it).
#[tokio::test]
async fn c26_output_does_not_wait_for_background_processes() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let start = Instant::now();
    let o = Command::new("sh")
        .args(["-c", "sleep 30 & echo main-done"])
        .output()
        .await
        .unwrap();
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(o.stdout, b"main-done\n");
    assert_eq!(o.status.code(), Some(0));
}
