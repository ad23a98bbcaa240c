//! Network namespaces prepared ahead of time, and used again, for callers that may join them
//! (root).
//!
//! Creating a network namespace is the largest single cost of a spawn (~0.35 ms here, inside
//! `clone3`, on the spawning thread), and tearing it down costs about as much again in a kernel
//! worker after the sandbox ends. A root caller can instead create empty namespaces, with `lo`
//! up, on a background thread, and have the spawning thread join one with `setns(2)` just for
//! the `clone3`, so the child starts in it.
//!
//! Each namespace is lent to one sandbox at a time, and comes back once that sandbox has ended:
//! when the pidfd of its first process (its init, pid 1 of its pid namespace, which ends only
//! after every other process of it) reports the end. It is used again only when nothing of the
//! sandbox is left in it: no socket at all (`sockets: used 0` in its `/proc/net/sockstat`,
//! which counts every socket of the namespace, unbound or held by a process outside) and no TCP
//! connection in `TIME_WAIT`; and only when the sandbox was given no socket (stdio or a passed
//! fd), through which it could have handed one of its own out. A sandbox's processes hold no
//! capability, so they cannot change the namespace's addresses, routes, firewall or sysctls;
//! what a later sandbox can still tell is the namespace's cumulative counters
//! (`/proc/net/snmp`, `netstat`, the statistics of `lo`).
//!
//! An unprivileged caller cannot join a namespace that the sandbox's own user namespace does not
//! own (`setns(2)` needs `CAP_SYS_ADMIN` in the owner, and each sandbox's user namespace is
//! new), so it keeps `CLONE_NEWNET`.

use std::fs::File;
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use rustix::event::epoll;

/// How many namespaces are kept ready.
const READY: usize = 4;

/// At most this many are kept ready when more come back than are taken.
const MAX_READY: usize = 16;

/// A namespace lent to a sandbox, back once the sandbox's init has ended.
struct Lent {
    netns: OwnedFd,
    /// A pidfd of the sandbox's init.
    init: OwnedFd,
    /// Cleared when the sandbox was given a socket.
    reusable: Arc<AtomicBool>,
}

struct Pool {
    ready: Mutex<Vec<OwnedFd>>,
    /// Namespaces lent out, waiting in `epoll` for their sandbox's end.
    lent: Mutex<Vec<Option<Lent>>>,
    /// The refill thread waits here for lent namespaces (their init's pidfd, by index + 1) and
    /// for `wake` (0).
    epoll: OwnedFd,
    /// An eventfd: a namespace was taken.
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
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC).ok()?;
        let wake = rustix::event::eventfd(
            0,
            rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::NONBLOCK,
        )
        .ok()?;
        epoll::add(
            &epoll,
            &wake,
            epoll::EventData::new_u64(0),
            epoll::EventFlags::IN,
        )
        .ok()?;
        Some(Pool {
            ready: Mutex::new(vec![probe]),
            lent: Mutex::new(Vec::new()),
            epoll,
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

/// Whether nothing of its last sandbox is left in the namespace `netns`: no socket, and no TCP
/// connection in `TIME_WAIT` (proc(5): `/proc/net/sockstat`, read from inside it).
fn unused(netns: BorrowedFd<'_>, home: BorrowedFd<'_>) -> bool {
    if setns(netns).is_err() {
        return false;
    }
    let sockstat = std::fs::read_to_string("/proc/thread-self/net/sockstat");
    return_home(home);
    let Ok(sockstat) = sockstat else {
        return false;
    };
    let field = |line: &str, name: &str| -> Option<u64> {
        let mut words = sockstat
            .lines()
            .find(|l| l.starts_with(line))?
            .split_whitespace();
        words.find(|w| *w == name)?;
        words.next()?.parse().ok()
    };
    field("sockets:", "used") == Some(0) && field("TCP:", "tw") == Some(0)
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

/// The refill thread: takes back the namespaces of ended sandboxes, checks them and keeps
/// [`READY`] ready, creating new ones where none came back.
fn refill(pool: &'static Pool) {
    let mut events = [std::mem::MaybeUninit::<epoll::Event>::uninit(); 64];
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
        let events = match epoll::wait(&pool.epoll, &mut events, None) {
            Ok((events, _)) => &*events,
            Err(rustix::io::Errno::INTR) => &[],
            Err(_) => return,
        };
        for event in events {
            let key = event.data.u64();
            if key == 0 {
                let mut buf = [0u8; 8];
                let _ = rustix::io::read(&pool.wake, &mut buf);
                continue;
            }
            let lent = pool
                .lent
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_mut(key as usize - 1)
                .and_then(Option::take);
            let Some(lent) = lent else {
                continue;
            };
            let _ = epoll::delete(&pool.epoll, &lent.init);
            if lent.reusable.load(Ordering::Acquire)
                && unused(lent.netns.as_fd(), pool.home.as_fd())
            {
                let mut ready = pool.ready.lock().unwrap_or_else(|e| e.into_inner());
                if ready.len() < MAX_READY {
                    ready.push(lent.netns);
                }
            }
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

/// Lends `netns` (from [`take`]) to the sandbox whose init `init` is: it is checked and used
/// again once that init has ended, unless the returned flag is cleared first (the sandbox was
/// given a socket). Without a pool, or when the pidfd cannot be watched, the namespace is
/// dropped.
pub(crate) fn lend(netns: OwnedFd, init: BorrowedFd<'_>) -> Option<Arc<AtomicBool>> {
    let pool = pool()?;
    let init = init.try_clone_to_owned().ok()?;
    let reusable = Arc::new(AtomicBool::new(true));
    let mut lent = pool.lent.lock().unwrap_or_else(|e| e.into_inner());
    let slot = match lent.iter().position(Option::is_none) {
        Some(i) => i,
        None => {
            lent.push(None);
            lent.len() - 1
        }
    };
    epoll::add(
        &pool.epoll,
        &init,
        epoll::EventData::new_u64(slot as u64 + 1),
        epoll::EventFlags::IN | epoll::EventFlags::ONESHOT,
    )
    .ok()?;
    lent[slot] = Some(Lent {
        netns,
        init,
        reusable: reusable.clone(),
    });
    Some(reusable)
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
