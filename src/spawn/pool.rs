//! Sandboxes prepared ahead of time: a thread per pool keeps up to `ready` sandboxes of one
//! policy set up (namespaces, root, Landlock, seccomp, init waiting for its one command), and a
//! spawn takes one.

use std::collections::VecDeque;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags};

use crate::child_handle::pidfd::pidfd_exited;
use crate::error::{os_err, SpawnError};
use crate::plan::CompiledPolicy;
use crate::spawn::running::Serving;
use crate::spawn::running::{prepare_serve, serving};
use crate::spawn::{start, Started};

/// At most this many sandboxes of one pool are set up at once (cloned, not yet waiting), twice
/// the number of CPUs as for spawns: more at once only slow each other down.
fn setup_limit() -> usize {
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    (2 * cpus).max(2)
}

/// How long after a sandbox was taken the pool's thread waits before it sets up replacements,
/// while at least a quarter of `ready` are left: the setups (about as much CPU time as the
/// spawn itself, on a core the taking spawn shares) then do not compete with the start of the
/// command that took it, nor with a short program's run, and a burst of spawns uses what is
/// ready before the refills begin. Each take starts the wait again; the thread refills at once
/// when fewer than a quarter are left.
const REFILL_HOLD_OFF: Duration = Duration::from_millis(3);

/// What a pool's handle, its commands and its thread share.
#[derive(Debug)]
pub(crate) struct PoolShared {
    compiled: CompiledPolicy,
    state: Mutex<State>,
    /// The eventfd that wakes the pool's thread: a sandbox was taken, or the pool was dropped.
    wake: OwnedFd,
}

#[derive(Debug)]
struct State {
    ready: VecDeque<Serving>,
    /// How many sandboxes the pool keeps ready.
    target: usize,
    /// The pool was dropped: its thread ends every sandbox and exits.
    closed: bool,
    /// Why the last setup failed, while setups fail one after another (the thread retries less
    /// and less often).
    last_error: Option<String>,
    /// When a sandbox was last taken.
    last_take: Option<Instant>,
}

impl PoolShared {
    /// A pool of `target` sandboxes of `compiled`, filled by a thread of its own.
    pub(crate) fn new(
        compiled: CompiledPolicy,
        target: usize,
    ) -> Result<Arc<PoolShared>, SpawnError> {
        let wake = rustix::event::eventfd(
            0,
            rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::NONBLOCK,
        )
        .map_err(|e| os_err("eventfd")(e.into()))?;
        let shared = Arc::new(PoolShared {
            compiled,
            state: Mutex::new(State {
                ready: VecDeque::new(),
                target,
                closed: false,
                last_error: None,
                last_take: None,
            }),
            wake,
        });
        let for_thread = shared.clone();
        std::thread::Builder::new()
            .name("tokio-sandbox-pool".into())
            .spawn(move || fill(&for_thread))
            .map_err(os_err("starting the pool's thread"))?;
        Ok(shared)
    }

    /// The policy of the pool's sandboxes.
    pub(crate) fn compiled(&self) -> &CompiledPolicy {
        &self.compiled
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wake(&self) {
        let _ = rustix::io::write(&self.wake, &1u64.to_ne_bytes());
    }

    /// Takes a ready sandbox, if there is one (whose init still runs); the thread sets up
    /// another.
    pub(crate) fn take(&self) -> Option<Serving> {
        let taken = {
            let mut state = self.state();
            state.last_take = Some(Instant::now());
            loop {
                match state.ready.pop_front() {
                    // Its init was killed meanwhile (an OOM kill, a signal from the host).
                    Some(s) if s.pidfd().is_none_or(pidfd_exited) => continue,
                    other => break other,
                }
            }
        };
        if taken.is_some() {
            self.wake();
        }
        taken
    }

    /// How many sandboxes are ready now.
    pub(crate) fn ready(&self) -> usize {
        self.state().ready.len()
    }

    /// Why setting up the pool's sandboxes fails, while it does.
    pub(crate) fn last_error(&self) -> Option<String> {
        self.state().last_error.clone()
    }

    /// Ends the pool: its thread kills and reaps every sandbox it holds and exits.
    pub(crate) fn close(&self) {
        self.state().closed = true;
        self.wake();
    }
}

/// The pool's thread: keeps `target` sandboxes ready, setting up at most [`setup_limit`] at
/// once, until the pool is closed.
fn fill(shared: &PoolShared) {
    let limit = setup_limit();
    // Each sandbox being set up, with what its report pipe gave so far.
    let mut setting_up: Vec<(Started, Vec<u8>)> = Vec::new();
    let mut backoff = Duration::ZERO;
    loop {
        let (closed, missing, hold_off) = {
            let state = shared.state();
            let have = state.ready.len() + setting_up.len();
            (
                state.closed,
                state.target.saturating_sub(have),
                hold_off(&state),
            )
        };
        if closed {
            break;
        }
        let starting = if hold_off.is_some() { 0 } else { missing };
        for _ in 0..starting.min(limit.saturating_sub(setting_up.len())) {
            match prepare_serve(shared.compiled.clone()).and_then(start) {
                Ok(started) => setting_up.push((started, Vec::new())),
                Err(e) => {
                    fail(shared, &e, &mut backoff);
                    break;
                }
            }
        }
        // Wait for a report to reach EOF (or a record), or for the pool to want more.
        let mut fds: Vec<PollFd<'_>> = vec![PollFd::new(&shared.wake, PollFlags::IN)];
        fds.extend(
            setting_up
                .iter()
                .map(|(s, _)| PollFd::from_borrowed_fd(s.inflight.report(), PollFlags::IN)),
        );
        // Whichever comes first: the end of a backoff after failures, of a refill's hold-off.
        let wait = [
            (!backoff.is_zero()).then_some(backoff),
            hold_off.filter(|_| missing > 0),
        ]
        .into_iter()
        .flatten()
        .min();
        let timeout = wait.map(|w| rustix::event::Timespec {
            tv_sec: w.as_secs() as i64,
            tv_nsec: w.subsec_nanos() as i64,
        });
        match poll(&mut fds, timeout.as_ref()) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
        let ready: Vec<bool> = fds.iter().map(|f| !f.revents().is_empty()).collect();
        drop(fds);
        if ready.first() == Some(&true) {
            let mut buf = [0u8; 8];
            let _ = rustix::io::read(&shared.wake, &mut buf);
        }
        // The sandboxes whose report pipe is readable, newest first so indices stay valid.
        for i in (0..setting_up.len()).rev() {
            if !ready.get(i + 1).copied().unwrap_or(false) {
                continue;
            }
            let (started, report) = &mut setting_up[i];
            if !read_to_eof(started, report) {
                continue;
            }
            let (started, report) = setting_up.swap_remove(i);
            match serving(started, &report) {
                Ok(s) => {
                    backoff = Duration::ZERO;
                    let mut state = shared.state();
                    state.last_error = None;
                    state.ready.push_back(s);
                }
                Err((e, pidfd)) => {
                    // The failed child exits right after its report.
                    crate::child_handle::pidfd::reap_blocking(pidfd.as_fd());
                    fail(shared, &e, &mut backoff);
                }
            }
        }
    }
    // Closed: end every sandbox, set up or not.
    drop(setting_up);
    let ready: Vec<Serving> = shared.state().ready.drain(..).collect();
    for s in ready {
        s.kill_and_reap_blocking();
    }
}

/// How much longer the refill waits after the last take ([`REFILL_HOLD_OFF`]); `None` when it
/// need not (no take that recent, or fewer than a quarter of the target left).
fn hold_off(state: &State) -> Option<Duration> {
    if state.ready.len() * 4 < state.target {
        return None;
    }
    let since = state.last_take?.elapsed();
    REFILL_HOLD_OFF
        .checked_sub(since)
        .filter(|left| !left.is_zero())
}

/// Records a failed setup and backs off: the next attempt waits twice as long, up to 5 s.
fn fail(shared: &PoolShared, e: &SpawnError, backoff: &mut Duration) {
    shared.state().last_error = Some(e.to_string());
    *backoff = (*backoff * 2)
        .max(Duration::from_millis(20))
        .min(Duration::from_secs(5));
}

/// Reads what the report pipe of a sandbox being set up holds into `report`; whether it reached
/// EOF (the sandbox's init waits for its command, or, after a failure record, the sandbox's
/// first process has exited and no longer runs on its stack).
fn read_to_eof(started: &Started, report: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; 64];
    loop {
        match rustix::io::read(started.inflight.report(), &mut buf) {
            Ok(0) => return true,
            Ok(n) => {
                if report.len() < 4096 {
                    report.extend_from_slice(&buf[..n]);
                }
            }
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => return false,
        }
    }
}
