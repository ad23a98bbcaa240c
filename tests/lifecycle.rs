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
            let first = Command::new("sleep").arg("30").spawn().await.unwrap();
            let second = Command::new("sleep").arg("30").spawn().await.unwrap();
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
    owner.kill().unwrap();
    owner.wait().unwrap();
    assert!(
        exits_within(&sandbox, Duration::from_secs(1)),
        "the sandbox outlived its owner"
    );
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
            tokio::task::spawn_blocking(|| {
                tokio::runtime::Handle::current().block_on(Command::new("sleep").arg("2").spawn())
            })
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
        .await
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
        .await
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
