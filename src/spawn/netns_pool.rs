//! Network namespaces prepared ahead of time for callers that may join them (root); each is
//! used by one sandbox only.
//!
//! Creating a network namespace is the largest single cost of a spawn (~0.35 ms here, inside
//! `clone3`, on the spawning thread). A root caller can instead create empty namespaces, with
//! `lo` up, on a background thread, and have the spawning thread join one with `setns(2)` just
//! for the `clone3`, so the child starts in it.
//!
//! A namespace is handed to one sandbox and never to another: the library keeps no descriptor
//! of it once the sandbox is cloned, and the kernel tears it down after the sandbox's last
//! process (and last socket) is gone. A namespace keeps per-namespace state that outlives every
//! socket of it and cannot all be listed or cleared from outside (IPv6 flow labels, which
//! linger after their socket is closed; the TCP metrics cache; route exceptions), so a
//! namespace some sandbox has used could carry data to the next one. The namespaces kept ready
//! are only ones nobody has used.
//!
//! An unprivileged caller cannot join a namespace that the sandbox's own user namespace does not
//! own (`setns(2)` needs `CAP_SYS_ADMIN` in the owner, and each sandbox's user namespace is
//! new), so it keeps `CLONE_NEWNET`.

use std::fs::File;
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::{Mutex, OnceLock};

/// How many unused namespaces are kept ready.
const READY: usize = 4;

struct Pool {
    ready: Mutex<Vec<OwnedFd>>,
    /// An eventfd the refill thread reads: a namespace was taken.
    wake: OwnedFd,
    /// The process's own network namespace, to return to after a `setns`.
    home: OwnedFd,
}

fn pool() -> Option<&'static Pool> {
    static POOL: OnceLock<Option<Pool>> = OnceLock::new();
    POOL.get_or_init(|| {
        let home: OwnedFd = File::open("/proc/thread-self/ns/net").ok()?.into();
        // Probe once that this caller may create and join network namespaces.
        let probe = create(home.as_fd()).ok()?;
        let wake = rustix::event::eventfd(0, rustix::event::EventfdFlags::CLOEXEC).ok()?;
        Some(Pool {
            ready: Mutex::new(vec![probe]),
            wake,
            home,
        })
    })
    .as_ref()
}

/// `setns(fd, CLONE_NEWNET)` for the calling thread.
fn setns(fd: BorrowedFd<'_>) -> std::io::Result<()> {
    // SAFETY: setns(2) on an fd we hold; affects only the calling thread's network namespace.
    if unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Creates an empty network namespace with `lo` up, on the calling thread, and returns the
/// thread to `home`.
fn create(home: BorrowedFd<'_>) -> std::io::Result<OwnedFd> {
    // SAFETY: unshare(2) of the network namespace affects only the calling thread.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let result = (|| {
        let fd: OwnedFd = File::open("/proc/thread-self/ns/net")?.into();
        crate::child::loopback_up().map_err(|(_, e)| std::io::Error::from_raw_os_error(e))?;
        Ok(fd)
    })();
    return_home(home);
    result
}

/// Returns the calling thread to the process's own network namespace, or aborts the process:
/// a thread left in a sandbox's namespace would run the caller's later work there (tokio reuses
/// its blocking-pool threads).
fn return_home(home: BorrowedFd<'_>) {
    if let Err(e) = setns(home) {
        eprintln!("tokio-sandbox: cannot return to the process's network namespace: {e}");
        std::process::abort();
    }
}

/// The refill thread: keeps [`READY`] unused namespaces ready, creating new ones as they are
/// taken.
fn refill(pool: &'static Pool) {
    loop {
        let want = READY.saturating_sub(pool.ready.lock().unwrap_or_else(|e| e.into_inner()).len());
        for _ in 0..want {
            match create(pool.home.as_fd()) {
                Ok(fd) => pool
                    .ready
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(fd),
                Err(_) => return,
            }
        }
        let mut buf = [0u8; 8];
        match rustix::io::read(&pool.wake, &mut buf) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(_) => return,
        }
    }
}

/// Takes a prepared namespace, if this caller can use them (root) and one is ready.
pub(crate) fn take() -> Option<OwnedFd> {
    if !rustix::process::geteuid().is_root() {
        return None;
    }
    let pool = pool()?;
    static REFILL: OnceLock<()> = OnceLock::new();
    REFILL.get_or_init(|| {
        std::thread::Builder::new()
            .name("tokio-sandbox-netns".into())
            .spawn(move || refill(pool))
            .map(|_| ())
            .unwrap_or(())
    });
    let fd = pool.ready.lock().unwrap_or_else(|e| e.into_inner()).pop();
    let _ = rustix::io::write(&pool.wake, &1u64.to_ne_bytes());
    fd
}

/// Moves the calling thread into the prepared namespace `fd` until the guard is dropped (on the
/// same thread: the guard is not `Send`).
pub(crate) fn join(fd: BorrowedFd<'_>) -> std::io::Result<Joined> {
    // A namespace is only handed out once the pool exists.
    let home = pool()
        .map(|p| p.home.as_fd())
        .ok_or_else(|| std::io::Error::other("no prepared network namespaces in this process"))?;
    setns(fd)?;
    Ok(Joined {
        home,
        _not_send: PhantomData,
    })
}

/// The calling thread is in a prepared namespace until this is dropped.
pub(crate) struct Joined {
    home: BorrowedFd<'static>,
    _not_send: PhantomData<*const ()>,
}

impl Drop for Joined {
    fn drop(&mut self) {
        return_home(self.home);
    }
}
