//! Process escapes: host pids, signals, ptrace and process_vm_readv, `/proc/1`, nested
//! namespaces, `setns`, a fork bomb, and leaving the sandbox by a new session and a double fork.

use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::time::Duration;

use libc::{EACCES, EAGAIN, EINVAL, ENOSYS, EPERM, ESRCH};

use crate::common::{self, rw_dir};
use crate::{errno, s, Attempt, Control};

/// A `sleep 30` on the host running as the sandbox's host uid (so that, without the pid
/// namespace, the sandbox could signal it).
fn victim() -> std::process::Child {
    let (uid, gid) = common::sandbox_host_ids();
    let mut cmd = std::process::Command::new("sleep");
    cmd.arg("30");
    if common::is_root() {
        cmd.uid(uid).gid(gid);
    }
    cmd.spawn().expect("spawn the victim")
}

fn alive(victim: &mut std::process::Child) -> bool {
    victim.try_wait().unwrap().is_none()
}

/// The sandbox sees its own two processes only: init and the program.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proc_host_pids_are_invisible() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let a = Attempt::new("pids");
    let host = a.on_host(false);
    assert!(
        host.split(' ').count() > 10,
        "the control sees the host's processes: {host}"
    );
    assert_eq!(a.in_sandbox(|_| {}).await, "pids 1 2");
}

/// A host process of the same uid cannot be signalled (its pid does not exist inside).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proc_signal_a_host_process() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let mut v = victim();
    let pid = v.id();
    // The control asks with signal 0 whether the victim could be signalled.
    Attempt::new("signal")
        .arg(pid)
        .arg2(libc::SIGKILL)
        .control_args(pid, 0)
        .check(&errno(ESRCH), Control::Ok, |_| {})
        .await;
    assert!(alive(&mut v), "the victim survives");
    v.kill().unwrap();
    v.wait().unwrap();
}

/// `kill(-1, SIGKILL)` reaches nothing outside the sandbox (and nothing inside but the program
/// itself is left to signal: ESRCH).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proc_kill_minus_one_harms_nothing_outside() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let mut v = victim();
    Attempt::new("signal")
        .arg(-1)
        .arg2(libc::SIGKILL)
        .check(
            &errno(ESRCH),
            Control::None("it would signal every process of the user on the host"),
            |_| {},
        )
        .await;
    assert!(alive(&mut v), "the victim survives");
    v.kill().unwrap();
    v.wait().unwrap();
}

/// ptrace of its own child: allowed by default (the pid namespace shows nothing else, and
/// Landlock lets a domain trace only its own), refused by the seccomp filter with
/// `Policy::ptrace(false)` (C46).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proc_ptrace_own_child() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let a = Attempt::new("ptrace_own_child");
    a.check(&errno(EPERM), Control::Ok, |c| {
        c.policy_mut().ptrace(false);
    })
    .await;
    assert_eq!(a.in_sandbox(|_| {}).await, "ok");
}

/// ptrace of pid 1 (the sandbox's init): refused by the kernel, tracing allowed or not (init is
/// not dumpable, and the program holds no capability).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proc_ptrace_pid_1() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let a = Attempt::new("ptrace_attach").arg(1);
    a.check(
        &errno(EPERM),
        Control::None("it would stop the host's init"),
        |_| {},
    )
    .await;
    let denied = a
        .in_sandbox(|c| {
            c.policy_mut().ptrace(false);
        })
        .await;
    assert_eq!(denied, errno(EPERM));
}

/// process_vm_readv on its own child: allowed by default, refused with `Policy::ptrace(false)`;
/// on pid 1: refused by the kernel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proc_process_vm_readv() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let own = Attempt::new("process_vm_readv_own_child");
    own.check(&errno(EPERM), Control::Ok, |c| {
        c.policy_mut().ptrace(false);
    })
    .await;
    assert_eq!(own.in_sandbox(|_| {}).await, "ok");
    Attempt::new("process_vm_readv")
        .arg(1)
        .check(
            &errno(EPERM),
            Control::None("the own-child control above shows the call is allowed on the host"),
            |_| {},
        )
        .await;
}

/// pidfd_getfd (taking a descriptor from another process) on its own child: allowed by
/// default, refused with `Policy::ptrace(false)`; on pid 1 (whose pipes lead to the library):
/// refused by the kernel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proc_pidfd_getfd() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let own = Attempt::new("pidfd_getfd").arg("child");
    own.check(&errno(EPERM), Control::Ok, |c| {
        c.policy_mut().ptrace(false);
    })
    .await;
    assert_eq!(own.in_sandbox(|_| {}).await, "ok");
    Attempt::new("pidfd_getfd")
        .arg(1)
        .check(
            &errno(EPERM),
            Control::None("the own-child control above shows the call is allowed on the host"),
            |_| {},
        )
        .await;
}

/// `/proc/1/environ`, `/proc/1/mem`, `/proc/1/maps` and `/proc/1/fd` of the sandbox's init (and
/// through them its pipes to the library) are closed to the program, although init runs as the
/// same user. The control opens the same files of a host process of its own user (its parent,
/// the test process).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proc_init_is_closed() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let pid = std::process::id();
    for (name, file, control) in [
        ("read", "environ", Control::Ok),
        ("open", "mem", Control::Ok),
        ("read", "maps", Control::Ok),
        ("list", "fd", Control::None("checked as the listing below")),
    ] {
        Attempt::new(name)
            .arg(format!("/proc/1/{file}"))
            .control_args(format!("/proc/{pid}/{file}"), "")
            .check(&errno(EACCES), control, |_| {})
            .await;
    }
    let fds = Attempt::new("list")
        .arg(format!("/proc/{pid}/fd"))
        .on_host(false);
    assert!(
        fds.starts_with("entries ") && fds.split(' ').any(|n| n == "0"),
        "control: {fds}"
    );
}

/// Nested user namespaces (unshare, and clone with CLONE_NEWUSER): refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proc_nested_user_namespace() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    Attempt::new("unshare")
        .arg(format!("{:x}", libc::CLONE_NEWUSER))
        .check(&errno(EPERM), Control::Ok, |_| {})
        .await;
    Attempt::new("clone")
        .arg(format!("{:x}", libc::CLONE_NEWUSER))
        .check(&errno(EPERM), Control::Ok, |_| {})
        .await;
}

/// A new mount namespace: refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proc_unshare_mount_namespace() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    Attempt::new("unshare")
        .arg(format!("{:x}", libc::CLONE_NEWNS))
        .check(&errno(EPERM), Control::Userns, |_| {})
        .await;
}

/// clone3 (whose flags a seccomp filter cannot read) answers ENOSYS, so that libraries fall
/// back to clone; on the host, clone3 with no arguments is EINVAL (the call exists).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proc_clone3() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    Attempt::new("clone3")
        .check(&errno(ENOSYS), Control::Host(errno(EINVAL)), |_| {})
        .await;
}

/// setns into the host's network namespace through a descriptor passed in: refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proc_setns_inherited_namespace() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let ns = std::fs::File::open("/proc/self/ns/net").unwrap();
    Attempt::new("setns")
        .arg(3)
        .control_args("/proc/self/ns/net", "")
        .check(&errno(EPERM), Control::Root("ok".into()), |c| {
            c.pass_fd(3, OwnedFd::from(ns));
        })
        .await;
}

/// A fork bomb stops at the process limit with EAGAIN.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proc_fork_bomb() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    Attempt::new("fork_bomb")
        .check(
            &errno(EAGAIN),
            Control::None("a fork bomb on the host"),
            |c| {
                let mut limits = c.policy_mut().current_limits();
                limits.processes = Some(64);
                c.limits(limits);
            },
        )
        .await;
}

/// A new session and a double fork do not outlive the sandbox: the grandchild, which would
/// create a file 1 s later, is gone with the program (on the host it creates the file).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proc_setsid_double_fork() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let w = rw_dir();
    let (inside, outside) = (w.path().join("escaped"), w.path().join("control"));
    let a = Attempt::new("double_fork")
        .arg(s(&inside))
        .control_args(s(&outside), "");
    a.check("ok", Control::None("checked below"), |c| {
        c.read_write(w.path());
    })
    .await;
    assert_eq!(a.on_host(false), "ok");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(
        outside.exists(),
        "the control's grandchild outlives its parent"
    );
    assert!(!inside.exists(), "the sandbox's grandchild is gone");
}
