//! The threads that set sandboxes up for async spawns (the plan, then `clone3`), in place of
//! tokio's blocking pool.
//!
//! A spawn's setup blocks for milliseconds of kernel work, so it cannot run on a runtime thread.
//! Tokio's blocking pool guards its queue with a lock that its workers also take; with the
//! machine's CPUs busy with setups (each one's child and the programs starting), a runtime
//! thread handing over a setup found that lock held by a worker that had been preempted, spun
//! on it with `sched_yield(2)` and so went to the back of the run queue: a current-thread
//! runtime's timers then fired up to 12 ms late while sandboxes started. These threads take
//! jobs from a queue whose lock is held only to push or pop one, and never spin: a runtime
//! thread that finds it held sleeps on a futex (std's `Mutex`) and is woken by its release.
//! There are at most as many threads as setups may run at once ([`limit`]), created when
//! needed; one that has had no job for 10 s ends.

use std::collections::VecDeque;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};

use crate::error::{os_err, SpawnError};

type Job = Box<dyn FnOnce() + Send>;

/// How long a setup thread waits for a job before it ends (as tokio's blocking pool's threads).
const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(10);

struct Queue {
    jobs: VecDeque<Job>,
    /// Threads started so far.
    threads: usize,
    /// Threads waiting for a job.
    idle: usize,
}

struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| Shared {
        queue: Mutex::new(Queue {
            jobs: VecDeque::new(),
            threads: 0,
            idle: 0,
        }),
        ready: Condvar::new(),
    })
}

fn lock(shared: &Shared) -> MutexGuard<'_, Queue> {
    shared.queue.lock().unwrap_or_else(|e| e.into_inner())
}

/// How many setups may run at once, and so how many setup threads there are at most: one per
/// CPU, at least 2. Setup is CPU-bound in the kernel (namespaces, mounts, the seccomp filter);
/// more at once only slow each other and keep the caller's runtime threads from the CPU (with
/// twice as many, a 10 ms timer on a current-thread runtime starting 1,000 sandboxes fired up
/// to 4.6–9.2 ms late at the 99th percentile, against 2.7–4.3 ms with one per CPU, for about
/// the same total time).
pub(crate) fn limit() -> usize {
    // Read once: `available_parallelism` reads the process's cgroup files, and this is asked
    // at each spawn, on the caller's thread.
    static LIMIT: OnceLock<usize> = OnceLock::new();
    *LIMIT.get_or_init(|| {
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        cpus.max(2)
    })
}

/// Runs `f` on a setup thread and awaits its result; a panic in `f` goes on in the caller.
/// Dropped before `f` ran or while it runs, `f` still runs to its end and its result is
/// dropped.
///
/// # Errors
/// [`SpawnError::Os`] naming `what` when no thread could be started for it.
pub(crate) async fn run<T: Send + 'static>(
    what: &'static str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, SpawnError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    // The job runs in the caller's runtime context, as on tokio's blocking pool (what it sets
    // up may register with the runtime's reactor).
    let runtime = tokio::runtime::Handle::try_current().ok();
    let job: Job = Box::new(move || {
        let _entered = runtime.as_ref().map(|r| r.enter());
        let _ = tx.send(catch_unwind(AssertUnwindSafe(f)));
    });
    if let Err((job, e)) = queue(job) {
        // No thread will take it: the job (and its sender) goes, and the error comes.
        drop(job);
        return Err(os_err(what)(e));
    }
    match rx.await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(payload)) => resume_unwind(payload),
        Err(_) => Err(os_err(what)(std::io::Error::other(
            "the setup thread ended without an answer",
        ))),
    }
}

/// Queues `job` and starts a thread for it when no idle one will take it (up to [`limit`]);
/// gives the job back when no thread runs to take it. Other jobs queued meanwhile, which no
/// thread would take either, are dropped then (a waiting [`run`] gets its error).
fn queue(job: Job) -> Result<(), (Job, std::io::Error)> {
    let shared = shared();
    // The job's address, to find it again in the queue (its closure holds data: not a
    // zero-sized box).
    let ours = &*job as *const (dyn FnOnce() + Send) as *const () as usize;
    let start_thread = {
        let mut q = lock(shared);
        q.jobs.push_back(job);
        if q.idle >= q.jobs.len() || q.threads >= limit() {
            false
        } else {
            q.threads += 1;
            true
        }
    };
    if !start_thread {
        shared.ready.notify_one();
        return Ok(());
    }
    let started = std::thread::Builder::new()
        .name("tokio-sandbox-setup".into())
        .spawn(move || serve(shared));
    match started {
        Ok(_) => Ok(()),
        Err(e) => {
            let mut q = lock(shared);
            q.threads -= 1;
            if q.threads > 0 {
                // Another thread takes it.
                return Ok(());
            }
            let mut stranded: Vec<Job> = q.jobs.drain(..).collect();
            drop(q);
            let at = stranded
                .iter()
                .position(|j| &**j as *const (dyn FnOnce() + Send) as *const () as usize == ours)
                .expect("the job just queued");
            let job = stranded.swap_remove(at);
            drop(stranded);
            Err((job, e))
        }
    }
}

/// A setup thread: runs jobs as they come, and ends after [`KEEP_ALIVE`] without one.
fn serve(shared: &'static Shared) {
    loop {
        let job = {
            let mut q = lock(shared);
            loop {
                if let Some(job) = q.jobs.pop_front() {
                    break job;
                }
                q.idle += 1;
                let (guard, waited) = shared
                    .ready
                    .wait_timeout(q, KEEP_ALIVE)
                    .unwrap_or_else(|e| e.into_inner());
                q = guard;
                q.idle -= 1;
                if waited.timed_out() && q.jobs.is_empty() {
                    q.threads -= 1;
                    return;
                }
            }
        };
        job();
    }
}
