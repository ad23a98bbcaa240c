//! The mount namespaces of sandboxes started for their program, held until each sandbox's init
//! has exited and then closed on a thread of their own.
//!
//! The last reference to a mount namespace takes down every mount in it: the tmpfs root,
//! `/proc`, every bind, then an RCU grace period, and every file of the sandbox's tmpfs
//! mounts freed. In init's exit that took about 0.3 ms that a spawn→exit of `/bin/true`
//! waited for (its status comes once init has been reaped). The library therefore opens the
//! namespace (`/proc/PID/ns/mnt`, an nsfs descriptor, namespaces(7)) when the program has
//! started and hands it here with a pidfd of init: this thread closes it once that pidfd says
//! init has exited, beside the caller reading the status. It is the sandbox's program that
//! decides how long this takes (a sandbox that filled its tmpfs inode limits, 786,429 files
//! by default, takes about a second), so it is a thread of its own: never one that sets
//! sandboxes up, whose spawns would otherwise wait behind it. The mounts go when init exits,
//! whether or not the `Child` has been waited for.
//!
//! With [`MAX_HELD`] namespaces held (sandboxes running, or ended and waiting for this thread),
//! spawns keep no more: their init takes its namespace down in its exit, as before.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use rustix::event::{poll, PollFd, PollFlags};

use crate::child_handle::pidfd::pidfd_exited;

/// At most this many namespaces are held at once.
const MAX_HELD: usize = 256;

/// How long the thread waits, holding nothing, before it ends.
const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// A namespace and the pidfd of the init whose exit releases it.
struct Held {
    init: OwnedFd,
    _namespace: OwnedFd,
}

struct Shared {
    state: Mutex<State>,
    /// An eventfd the thread waits on with the pidfds: something was handed over.
    wake: OwnedFd,
}

struct State {
    /// Handed over, not yet taken by the thread.
    new: Vec<Held>,
    /// How many are held in all (new and the thread's).
    held: usize,
    /// Whether the thread runs.
    running: bool,
}

fn shared() -> Option<&'static Shared> {
    static SHARED: OnceLock<Option<Shared>> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            let flags =
                rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::NONBLOCK;
            let wake = rustix::event::eventfd(0, flags).ok()?;
            Some(Shared {
                state: Mutex::new(State {
                    new: Vec::new(),
                    held: 0,
                    running: false,
                }),
                wake,
            })
        })
        .as_ref()
}

/// Holds the mount namespace of `pid`, the sandbox's init (this process's child, behind
/// `init`), until init has exited; then the thread closes it. Does nothing (init's exit then
/// takes the mounts down) when [`MAX_HELD`] are held, when the namespace or the thread cannot
/// be had, or when init has exited already (its pid may then name another process).
pub(crate) fn hold_until_exit(pid: u32, init: BorrowedFd<'_>) {
    let Some(shared) = shared() else {
        return;
    };
    let Ok(namespace) = std::fs::File::open(format!("/proc/{pid}/ns/mnt")) else {
        return;
    };
    // Opened while init ran: the pid was still init's.
    if pidfd_exited(init) {
        return;
    }
    let Ok(init) = init.try_clone_to_owned() else {
        return;
    };
    let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
    if state.held >= MAX_HELD {
        return;
    }
    state.new.push(Held {
        init,
        _namespace: namespace.into(),
    });
    state.held += 1;
    if !state.running {
        let started = std::thread::Builder::new()
            .name("tokio-sandbox-teardown".into())
            .spawn(move || serve(shared));
        match started {
            Ok(_) => state.running = true,
            Err(_) => {
                // Closed here: init has not exited, so its exit takes the mounts down.
                state.held -= state.new.len();
                state.new.clear();
                return;
            }
        }
    }
    drop(state);
    let _ = rustix::io::write(&shared.wake, &1u64.to_ne_bytes());
}

/// The thread: waits for the held namespaces' inits to exit and closes each namespace then;
/// ends after [`KEEP_ALIVE`] holding nothing.
fn serve(shared: &'static Shared) {
    let mut held: Vec<Held> = Vec::new();
    loop {
        {
            let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
            held.append(&mut state.new);
        }
        let timeout = rustix::event::Timespec {
            tv_sec: KEEP_ALIVE.as_secs() as i64,
            tv_nsec: 0,
        };
        let mut fds = vec![PollFd::new(&shared.wake, PollFlags::IN)];
        fds.extend(
            held.iter()
                .map(|h| PollFd::from_borrowed_fd(h.init.as_fd(), PollFlags::IN)),
        );
        let woken = poll(&mut fds, held.is_empty().then_some(&timeout));
        drop(fds);
        if let Ok(0) = woken {
            let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
            if state.new.is_empty() {
                state.running = false;
                return;
            }
            continue;
        }
        let mut buf = [0u8; 8];
        let _ = rustix::io::read(&shared.wake, &mut buf);
        // Dropping an ended one closes its namespace, here.
        let before = held.len();
        held.retain(|h| !pidfd_exited(h.init.as_fd()));
        let released = before - held.len();
        if released > 0 {
            let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
            state.held -= released;
        }
    }
}
