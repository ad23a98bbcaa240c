//! Process-wide resources every spawn shares: the init program's memfd, the lifeline pipe, the
//! limit on concurrent setups and the last compiled policy.

use std::os::fd::{AsFd, OwnedFd};

use crate::error::{os_err, SpawnError};
use crate::plan::CompiledPolicy;
use crate::policy::Policy;
use crate::spawn::fds::pipe;

/// The init program built by `build.rs` from `src/init/main.rs`.
static INIT_BINARY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/init"));

/// A sealed memfd holding the init program, created once per process (memfd_create(2),
/// `F_ADD_SEALS` in fcntl(2)): it cannot be written, grown or shrunk, so a sandboxed program
/// cannot change what pid 1 of another sandbox runs.
pub(crate) fn init_memfd() -> Result<std::os::fd::BorrowedFd<'static>, SpawnError> {
    use rustix::fs::{MemfdFlags, SealFlags};
    static INIT: std::sync::OnceLock<OwnedFd> = std::sync::OnceLock::new();
    if let Some(fd) = INIT.get() {
        return Ok(fd.as_fd());
    }
    let fd = rustix::fs::memfd_create(
        "tokio-sandbox-init",
        MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
    )
    .map_err(|e| os_err("memfd_create")(e.into()))?;
    let mut written = 0;
    while written < INIT_BINARY.len() {
        written += rustix::io::write(&fd, &INIT_BINARY[written..])
            .map_err(|e| os_err("writing the init memfd")(e.into()))?;
    }
    rustix::fs::fcntl_add_seals(
        &fd,
        SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE | SealFlags::SEAL,
    )
    .map_err(|e| os_err("sealing the init memfd")(e.into()))?;
    Ok(INIT.get_or_init(|| fd).as_fd())
}

/// The read end of this process's lifeline pipe, created once. The write end is never closed
/// and never leaves this process (close-on-exec): when the process exits or is killed, every
/// sandbox's init sees EOF and ends its sandbox (see `src/init/main.rs`).
pub(crate) fn lifeline_reader() -> Result<std::os::fd::BorrowedFd<'static>, SpawnError> {
    static LIFELINE: std::sync::OnceLock<(OwnedFd, OwnedFd)> = std::sync::OnceLock::new();
    if let Some((r, _)) = LIFELINE.get() {
        return Ok(r.as_fd());
    }
    let ends = pipe()?;
    Ok(LIFELINE.get_or_init(|| ends).0.as_fd())
}

/// The compiled form of `policy`: the command's own when still valid, else the last one
/// compiled in this process when the policy is the same (and depends on no working directory),
/// else a new one.
pub(crate) fn compiled_policy(
    policy: &Policy,
    own: Option<&CompiledPolicy>,
) -> Result<CompiledPolicy, SpawnError> {
    static LAST: std::sync::Mutex<Option<CompiledPolicy>> = std::sync::Mutex::new(None);
    let euid = rustix::process::geteuid().as_raw();
    let valid = |c: &CompiledPolicy| c.0.euid == euid && c.0.policy == *policy;
    if let Some(c) = own.filter(|c| valid(c)) {
        return Ok(c.clone());
    }
    let shareable = policy.all_absolute();
    if shareable {
        let last = LAST.lock().unwrap_or_else(|e| e.into_inner());
        // A fresh command resolves its paths anew: the last plan serves only while every
        // symlink it met still points where it did.
        // Nor when a policy path no longer leads where it did when named: compiling again
        // says which.
        if let Some(c) = last
            .as_ref()
            .filter(|c| valid(c) && c.0.mount_plan.host_links_unchanged() && c.0.policy.pins_hold())
        {
            return Ok(c.clone());
        }
    }
    let c = CompiledPolicy::new(policy)?;
    if shareable {
        *LAST.lock().unwrap_or_else(|e| e.into_inner()) = Some(c.clone());
    }
    Ok(c)
}

/// Limits how many sandboxes are set up at once (cloned but not yet exec'd) to twice the
/// number of CPUs. Setup is CPU-bound in the kernel (namespaces, mounts, the seccomp filter);
/// past that, more at once only slow each other and starve the caller's runtime threads.
pub(crate) fn setup_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| tokio::sync::Semaphore::new(crate::setup_threads::limit()))
}

/// This process's `RLIMIT_NOFILE` as it was before its first spawn, `(soft, hard)`
/// (`u64::MAX` for unlimited). The first spawn raises the soft limit to the hard one, as Go's
/// runtime does when it starts: every running sandbox holds descriptors in this process (its
/// pidfd, its status pipe and each piped stream), so the customary soft limit of 1024 would
/// stop a few hundred sandboxes short of what the hard limit allows. The sandbox's programs get
/// the soft limit back (unless the policy sets one), for `select(2)` users.
pub(crate) fn caller_nofile() -> (u64, u64) {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    static NOFILE: std::sync::OnceLock<(u64, u64)> = std::sync::OnceLock::new();
    *NOFILE.get_or_init(|| {
        let limit = getrlimit(Resource::Nofile);
        let (soft, hard) = (
            limit.current.unwrap_or(u64::MAX),
            limit.maximum.unwrap_or(u64::MAX),
        );
        if soft < hard {
            let raised = Rlimit {
                current: limit.maximum,
                maximum: limit.maximum,
            };
            // Unchanged if refused: spawning then works up to the soft limit.
            let _ = setrlimit(Resource::Nofile, raised);
        }
        (soft, hard)
    })
}
