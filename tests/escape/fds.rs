//! Descriptors and channels: what the host leaves open does not reach the program, the
//! library's own pipes are out of its reach, and the status cannot be forged through them.

use std::os::fd::{AsRawFd, OwnedFd};

use libc::EBADF;

use crate::{errno, secret_dir, Attempt, Control};

/// An inheritable (non-CLOEXEC) descriptor of the caller (C30): a plain child gets it, the
/// sandbox gets stdin, stdout and stderr only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fd_inherited_descriptor_is_not_passed() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let d = secret_dir();
    let f = std::fs::File::open(d.path().join("secret")).unwrap();
    // Make it inheritable, as a careless caller might.
    rustix::io::fcntl_setfd(&f, rustix::io::FdFlags::empty()).unwrap();
    let fd = f.as_raw_fd();
    let a = Attempt::new("fds");
    let host = a.on_host(false);
    assert!(
        host.split(' ').any(|n| n == fd.to_string()),
        "the control inherits fd {fd}: {host}"
    );
    assert_eq!(a.in_sandbox(|_| {}).await, "fds 0 1 2");
    drop(f);
}

/// A passed descriptor is the only one added.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fd_passed_descriptor_is_the_only_one() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let d = secret_dir();
    let f = std::fs::File::open(d.path().join("secret")).unwrap();
    let out = Attempt::new("fds")
        .in_sandbox(|c| {
            c.pass_fd(5, OwnedFd::from(f));
        })
        .await;
    assert_eq!(out, "fds 0 1 2 5");
}

/// The library's report and lifeline pipes are not open in the program: writing a forged
/// status to the descriptors right after stdio fails with EBADF, and the exit status is the
/// program's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fd_library_pipes_are_out_of_reach() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    for fd in 3..8 {
        Attempt::new("write_fd")
            .arg(fd)
            .check(
                &errno(EBADF),
                Control::None("the host's descriptors are not the sandbox's"),
                |_| {},
            )
            .await;
    }
}
