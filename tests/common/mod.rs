//! Helpers shared by the integration tests. Every test spawns real sandboxed processes.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use tokio_sandbox::Command;

/// Whether the tests run as root (CI runs them as root and again as uid 65534).
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The host uid/gid a default sandbox runs as: 65534 for a root caller, the caller otherwise.
pub fn sandbox_host_ids() -> (u32, u32) {
    if is_root() {
        (65534, 65534)
    } else {
        (
            rustix::process::geteuid().as_raw(),
            rustix::process::getegid().as_raw(),
        )
    }
}

/// A temporary directory the sandbox's host id can read and write (under /tmp, which every
/// uid can traverse).
pub fn rw_dir() -> tempfile::TempDir {
    let d = tempfile::Builder::new()
        .prefix("tsb-test-")
        .tempdir_in("/tmp")
        .expect("tempdir");
    let (uid, gid) = sandbox_host_ids();
    if is_root() {
        std::os::unix::fs::chown(d.path(), Some(uid), Some(gid)).expect("chown tempdir");
    }
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    d
}

/// Runs `sh -c script` in a default sandbox (plus `extra` policy) and returns its output.
pub async fn sh(script: &str, extra: impl FnOnce(&mut Command)) -> Output {
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", script]);
    extra(&mut cmd);
    cmd.output().await.expect("spawn")
}

/// stdout as a String.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// stderr as a String.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Prints why a test is skipped; the caller returns right after.
pub fn skip(reason: &str) {
    eprintln!("SKIPPED: {reason}");
}

/// Whether `path` exists on the host (for tests that need a program such as python3).
pub fn has(path: &str) -> bool {
    Path::new(path).exists()
}

/// Reports a missing host tool: a failure on CI (whose `.ci/run` installs what the tests need),
/// a printed skip elsewhere. The caller returns right after.
pub fn missing(tool: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{tool} is missing on CI, where .ci/run installs it");
    }
    skip(&format!("{tool} is not installed"));
}

/// User name and `HOME` of a default sandbox: the inside uid is 65534 (`nobody`) for a root
/// caller and the caller's own uid otherwise (`root` for 0, `sandbox` for any other).
pub fn default_user() -> (&'static str, &'static str) {
    let uid = if is_root() {
        65534
    } else {
        rustix::process::geteuid().as_raw()
    };
    match uid {
        0 => ("root", "/root"),
        65534 => ("nobody", "/home/nobody"),
        _ => ("sandbox", "/home/sandbox"),
    }
}

/// Whether python3 is there for a test that runs it; reports the skip (a failure on CI, whose
/// machine has it) when it is not.
pub fn python3_or_skip() -> bool {
    if has("/usr/bin/python3") {
        true
    } else {
        missing("python3");
        false
    }
}

/// A new pseudo-terminal: (master, slave) (openpty(3)).
pub fn openpty() -> std::io::Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    use std::os::fd::FromRawFd;
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty fills the two descriptors; the name and terminal settings may be null.
    let r = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: openpty returned these two open descriptors, owned by the caller from now on.
    Ok(unsafe {
        (
            std::os::fd::OwnedFd::from_raw_fd(master),
            std::os::fd::OwnedFd::from_raw_fd(slave),
        )
    })
}
