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
