//! Kernel resources of the whole host that a sandbox shares with every other process: the
//! Linux AIO budget (`fs.aio-max-nr`), leases on bound files, inotify on bound paths, and the
//! table of open files (`fs.file-max`).

use std::io::{BufRead, BufReader};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::{Command as StdCommand, Stdio};

use libc::{ENOSYS, EPERM};
use tokio::io::AsyncBufReadExt;

use crate::common::{self, rw_dir};
use crate::{attacker, errno, s, Attempt, Control};

/// Linux AIO: `io_setup` takes events from a budget of the whole host (`fs.aio-max-nr`), which
/// sixteen calls can exhaust; a sandbox gets ENOSYS (as from a kernel without AIO, so libaio's
/// users fall back) unless its policy allows Linux AIO.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_linux_aio_is_refused_unless_allowed() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let a = Attempt::new("io_setup");
    if a.on_host(false) == errno(ENOSYS) {
        common::skip("this kernel has no Linux AIO (io_setup is ENOSYS on the host)");
        return;
    }
    a.check(&errno(ENOSYS), Control::Ok, |_| {}).await;
    let allowed = a
        .in_sandbox(|cmd| {
            cmd.policy_mut().allow_linux_aio(true);
        })
        .await;
    assert_eq!(allowed, "ok", "with Policy::allow_linux_aio(true)");
}

/// Pseudo-terminals: every devpts instance but the host's own takes its ptys from one pool of
/// the whole host (`kernel.pty.max` − `kernel.pty.reserve`), shared with every other sandbox
/// and container. The sandbox's instance is bounded: 64 ptys by default, then `ENOSPC`, and
/// the policy's bound when it sets one. The control opens one more than the default in a
/// devpts instance of its own (a fresh user and mount namespace) without a bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_pty_pool_is_bounded() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let n = tokio_sandbox::DEFAULT_MAX_PTYS;
    let a = Attempt::new("ptys")
        .arg("/dev/pts")
        .arg2(n + 1)
        .control_args("/tmp", n + 1);
    assert_eq!(a.on_host(true), format!("ptys {}", n + 1), "the control");
    assert_eq!(
        a.in_sandbox(|_| {}).await,
        format!("ptys {n} {}", errno(libc::ENOSPC)),
        "the default bound"
    );
    let got = a
        .in_sandbox(|c| {
            c.policy_mut().max_ptys(3);
        })
        .await;
    assert_eq!(
        got,
        format!("ptys 3 {}", errno(libc::ENOSPC)),
        "max_ptys(3)"
    );
}

/// Opens `file` for writing without blocking: `ok`, or the errno (EWOULDBLOCK while a lease
/// is held: a plain open would wait for the holder up to `fs.lease-break-time`).
fn open_for_writing(file: &Path) -> String {
    match std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(file)
    {
        Ok(_) => "ok".into(),
        Err(e) => errno(e.raw_os_error().unwrap()),
    }
}

/// A lease on a file bound read-only from the caller (owned by the sandbox's host uid, which
/// may take leases on it): on the host a read lease makes a writer's open wait (EWOULDBLOCK
/// with O_NONBLOCK); in the sandbox F_SETLEASE is refused and a host writer opens the file at
/// once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_lease_on_a_bound_file_is_refused() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let d = rw_dir();
    let file = d.path().join("data");
    std::fs::write(&file, "caller's data\n").unwrap();
    let (uid, gid) = common::sandbox_host_ids();
    std::os::unix::fs::chown(&file, Some(uid), Some(gid)).unwrap();

    // The control: the same attempt on the host holds a lease that stops the writer.
    let mut holder = StdCommand::new(attacker())
        .env(crate::attacker::ATTACK, "lease")
        .env(crate::attacker::ARG, s(&file))
        .stdout(Stdio::piped())
        .spawn()
        .expect("run the control");
    let mut line = String::new();
    BufReader::new(holder.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ok", "the control: a read lease on the host");
    assert_eq!(
        open_for_writing(&file),
        errno(libc::EWOULDBLOCK),
        "the control: the lease stops a host writer"
    );
    holder.kill().unwrap();
    holder.wait().unwrap();

    let exe = attacker();
    let mut child = tokio_sandbox::Command::new(&exe)
        .env(crate::attacker::ATTACK, "lease")
        .env(crate::attacker::ARG, s(&file))
        .read_only(exe.parent().unwrap())
        .read_only(d.path())
        .stdout(tokio_sandbox::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the attacker");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next_line().await.unwrap().unwrap_or_default();
    assert_eq!(first, errno(EPERM), "F_SETLEASE in the sandbox");
    assert_eq!(
        open_for_writing(&file),
        "ok",
        "a host writer is not stopped"
    );
    child.kill().await.unwrap();
}

/// Runs the `inotify` attempt on `dir` (on the host when `cfg` is `None`, else in a sandbox
/// changed by it), and once it watches, does `act` on the host; returns the event it saw.
async fn inotify_sees(
    dir: &Path,
    act: impl FnOnce(),
    cfg: Option<&dyn Fn(&mut tokio_sandbox::Command)>,
) -> String {
    let exe = attacker();
    let Some(cfg) = cfg else {
        let mut watcher = StdCommand::new(&exe)
            .env(crate::attacker::ATTACK, "inotify")
            .env(crate::attacker::ARG, s(dir))
            .stdout(Stdio::piped())
            .spawn()
            .expect("run the control");
        let mut out = BufReader::new(watcher.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "watching", "the control");
        act();
        line.clear();
        out.read_line(&mut line).unwrap();
        watcher.wait().unwrap();
        return line.trim().to_string();
    };
    let mut cmd = tokio_sandbox::Command::new(&exe);
    cmd.env(crate::attacker::ATTACK, "inotify")
        .env(crate::attacker::ARG, s(dir))
        .read_only(exe.parent().unwrap())
        .stdout(tokio_sandbox::Stdio::piped())
        .kill_on_drop(true);
    cfg(&mut cmd);
    let mut child = cmd.spawn().expect("spawn the attacker");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next_line().await.unwrap().unwrap_or_default();
    assert_eq!(first, "watching", "in the sandbox");
    act();
    let event = lines.next_line().await.unwrap().unwrap_or_default();
    child.wait().await.unwrap();
    event
}

/// inotify stays (file watchers need it): a watch on a read-write bind sees files the host
/// creates there, and a watch on a read-only bind reports the host's own opens of files there,
/// as on the host (the control), which SECURITY.md documents. Paths the policy does not show
/// cannot be watched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_inotify_reports_what_happens_on_bound_paths() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let d = rw_dir();
    let file = d.path().join("report.txt");
    std::fs::write(&file, "host data\n").unwrap();
    let host_reads = || drop(std::fs::read(&file).unwrap());

    let control = inotify_sees(d.path(), host_reads, None).await;
    assert_eq!(control, "IN_OPEN report.txt", "the control on the host");
    let ro = |cmd: &mut tokio_sandbox::Command| {
        cmd.read_only(d.path());
    };
    assert_eq!(
        inotify_sees(d.path(), host_reads, Some(&ro)).await,
        "IN_OPEN report.txt",
        "a read-only bind: the host's open is reported"
    );
    let rw = |cmd: &mut tokio_sandbox::Command| {
        cmd.read_write(d.path());
    };
    let created = d.path().join("new.txt");
    let host_creates = || std::fs::write(&created, "x").unwrap();
    assert_eq!(
        inotify_sees(d.path(), host_creates, Some(&rw)).await,
        "IN_CREATE new.txt",
        "a read-write bind: file watchers work"
    );
    // A directory the policy does not show.
    let hidden = rw_dir();
    Attempt::new("inotify")
        .arg(s(hidden.path()))
        .check(
            &format!("inotify_add_watch {}", errno(libc::ENOENT)),
            Control::None("the control above watches a directory on the host"),
            |_| {},
        )
        .await;
}

/// The host's table of open files: the sandbox's default limits let its processes together
/// hold at most a quarter of `fs.file-max` through descriptors (open-files limit × process
/// limit). The control shows what the caller's own limits would allow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_file_table_default_limits_leave_most_of_it() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let file_max: u64 = std::fs::read_to_string("/proc/sys/fs/file-max")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let parse = |out: &str| -> (u64, u64) {
        // `nofile SOFT/HARD nproc SOFT/HARD`
        let hard = |i: usize| -> u64 {
            let field = out.split(' ').nth(i).expect(out);
            field.split('/').nth(1).unwrap().parse().unwrap()
        };
        (hard(1), hard(3))
    };
    let a = Attempt::new("limits");
    let (host_files, _) = parse(&a.on_host(false));
    let sandbox = a.in_sandbox(|_| {}).await;
    let (files, nproc) = parse(&sandbox);
    // The process limit is RLIMIT_NPROC, or pids.max where sandboxes get cgroup limits (the
    // rlimit is then the caller's own); the share is computed from it either way.
    if !common::host::cgroup_limits() {
        assert_eq!(nproc, tokio_sandbox::DEFAULT_PROCESS_LIMIT, "{sandbox}");
    }
    let processes = tokio_sandbox::DEFAULT_PROCESS_LIMIT;
    let share = (file_max / 4 / processes).max(tokio_sandbox::MIN_DEFAULT_OPEN_FILES);
    assert_eq!(
        files,
        share.min(host_files),
        "{sandbox}, file-max {file_max}"
    );
    if share > tokio_sandbox::MIN_DEFAULT_OPEN_FILES {
        assert!(
            files.saturating_mul(processes) <= file_max / 4,
            "{sandbox}, file-max {file_max}"
        );
    } else {
        eprintln!(
            "file-max {file_max} is small for {processes} processes: the floor of {} \
             descriptors applies",
            tokio_sandbox::MIN_DEFAULT_OPEN_FILES
        );
    }
    if host_files.saturating_mul(processes) > file_max / 4 {
        eprintln!(
            "the control: with the caller's {host_files} descriptors, {processes} processes \
             could hold {} of {file_max} files",
            host_files.saturating_mul(processes)
        );
    } else {
        eprintln!("the control: the caller's own limit ({host_files}) is below the share");
    }
}
