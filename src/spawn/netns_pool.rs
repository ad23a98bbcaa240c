//! Network namespaces prepared ahead of time, for callers that may join them (root).
//!
//! Creating a network namespace is the largest single cost of a spawn (~0.35 ms here, inside
//! `clone3`, on the spawning thread). A root caller can instead create empty namespaces, with
//! `lo` up, on a background thread between spawns, and have the spawning thread join one with
//! `setns(2)` just for the `clone3`, so the child starts in it. Each namespace is used by exactly
//! one sandbox. An unprivileged caller cannot join a namespace it did not create in its own
//! user namespace, so it keeps `CLONE_NEWNET`.

use std::fs::File;
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::{Condvar, Mutex, OnceLock};

/// How many namespaces are kept ready.
const READY: usize = 4;

struct Pool {
    ready: Mutex<Vec<OwnedFd>>,
    wanted: Condvar,
    /// The process's own network namespace, to return to after a `setns`.
    home: OwnedFd,
}

fn pool() -> Option<&'static Pool> {
    static POOL: OnceLock<Option<Pool>> = OnceLock::new();
    POOL.get_or_init(|| {
        let home: OwnedFd = File::open("/proc/thread-self/ns/net").ok()?.into();
        // Probe once that this caller may create and join network namespaces.
        let probe = create(home.as_fd()).ok()?;
        let pool = Pool {
            ready: Mutex::new(vec![probe]),
            wanted: Condvar::new(),
            home,
        };
        Some(pool)
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

fn refill(pool: &'static Pool) {
    loop {
        {
            let mut ready = pool.ready.lock().unwrap_or_else(|e| e.into_inner());
            while ready.len() >= READY {
                ready = pool.wanted.wait(ready).unwrap_or_else(|e| e.into_inner());
            }
        }
        match create(pool.home.as_fd()) {
            Ok(fd) => pool
                .ready
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(fd),
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
    pool.wanted.notify_one();
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
