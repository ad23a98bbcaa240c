//! Spawning, in three steps that each run on their own: [`prepare`] builds the child's plan
//! (compiles the policy, finds the program, opens the pipes), [`start`] clones the child and,
//! for a root caller, writes its id maps, and [`finish`] awaits the child's exec report and
//! returns the [`Child`] or the error the report names. [`spawn`] runs the first two on a setup
//! thread (`crate::setup_threads`) and awaits the last on the reactor; [`spawn_blocking`] runs all
//! three on the calling thread, waiting for the report as a blocking read.

pub(crate) mod clone;
mod exec_report;
pub(crate) mod fds;
pub(crate) mod netns_pool;
pub(crate) mod pool;
pub(crate) mod program;
mod resources;
pub(crate) mod running;
pub(crate) mod shared;
pub(crate) mod target;
#[cfg(feature = "tracing")]
mod trace;

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::PathBuf;

use tokio::io::unix::AsyncFd;

use crate::cgroup::SandboxCgroup;
use crate::child::plan::{CStrArray, ChildPlan, Console, SelfMaps};
use crate::child_handle::pidfd::{reap, reap_blocking, reap_in_background};
use crate::child_handle::{Child, ChildParts};
use crate::enforcement::{property_report, Enforcement, Ids};
use crate::error::{os_err, PolicyError, SpawnError, Stage};
use crate::plan::identity::Identity;
use crate::plan::walk::cstring;
use crate::plan::CompiledPolicy;
use crate::policy::{Limits, Network, Policy};
use crate::report::report_error;
use crate::spawn::clone::{clone_child, InFlight, Namespaces};
use crate::spawn::fds::{fd_at_least, pipe, program_fds, ParentEnds, ProgramFds};
use crate::spawn::program::{exec_strings, resolve_program, working_directory, EnvDefaults, EnvOp};
use crate::spawn::shared::{
    caller_nofile, compiled_policy, init_memfd, lifeline_reader, setup_slots,
};
use crate::stdio::Stdio;

use exec_report::REPORT_LIMIT;
pub(crate) use exec_report::{read_report_blocking, read_to_eof};
pub(crate) use resources::supplementary_groups;
use resources::{check_groups, console, file_max, machine_id, sandbox_cgroup};
#[cfg(feature = "tracing")]
use trace::{span, trace_result};

/// What a spawn needs, owned, so the synchronous part can run off the runtime's threads.
pub(crate) struct Request {
    /// Why user namespaces are not used, when they are not (`policy` is then the Landlock-only
    /// form of the caller's).
    pub fallback: Option<String>,
    /// The network the caller's policy asks for.
    pub requested_network: Network,
    pub policy: Policy,
    pub program: OsString,
    pub arg0: Option<OsString>,
    pub args: Vec<OsString>,
    pub env_ops: Vec<EnvOp>,
    pub cwd: Option<PathBuf>,
    pub stdio: [Stdio; 3],
    pub extra_fds: Vec<(RawFd, OwnedFd)>,
    pub kill_on_drop: bool,
    pub timeout: Option<std::time::Duration>,
}

/// What the parent keeps of a spawn, for the [`Child`] or for the error a report names.
struct Kept {
    compiled: CompiledPolicy,
    /// The program's path inside the sandbox.
    program: PathBuf,
    /// The program's working directory inside the sandbox.
    cwd: PathBuf,
    parent_ends: ParentEnds,
    /// Read end of the pipe on which init reports the program's wait status (in serve mode:
    /// the library's end of the control socket).
    status_rd: OwnedFd,
    cgroup: Option<SandboxCgroup>,
    kill_on_drop: bool,
    timeout: Option<std::time::Duration>,
    fallback: Option<String>,
    requested_network: Network,
    /// The limits in force: the policy's, with the derived open-files limit.
    limits: Limits,
}

/// A spawn ready to clone: the child's plan and the parent's side of it.
pub(crate) struct Prepared {
    plan: Box<ChildPlan>,
    /// The parent's copies of the fds the child gets (closed once it has its own).
    child_ends: Vec<OwnedFd>,
    /// Read end of the close-on-exec report pipe.
    report_rd: OwnedFd,
    /// For a root caller: the write end of the pipe on which the child waits for its id maps,
    /// and the identity they map.
    id_maps: Option<(OwnedFd, Identity)>,
    namespaces: Namespaces,
    /// A network namespace prepared ahead of time, joined for the clone.
    netns: Option<OwnedFd>,
    /// The sandbox's cgroup for `CLONE_INTO_CGROUP`.
    cgroup_fd: Option<OwnedFd>,
    kept: Kept,
}

/// A child that has been cloned and is setting itself up.
pub(crate) struct Started {
    pub(crate) inflight: InFlight,
    pid: u32,
    namespaces: Vec<&'static str>,
    kept: Kept,
}

impl Started {
    /// The policy this spawn was compiled from.
    pub(crate) fn compiled(&self) -> &CompiledPolicy {
        &self.kept.compiled
    }

    /// Whether the sandbox runs without user namespaces (the host has none usable).
    pub(crate) fn fell_back(&self) -> bool {
        self.kept.fallback.is_some()
    }
}

/// Spawns `req`. `compiled` is the compiled form of the policy from an earlier spawn, if any:
/// it is used while still valid and replaced by the one this spawn used. Never probes the host.
///
/// Preparing the plan and `clone3` (which creates the namespaces synchronously, ~0.3 ms for a
/// network namespace) run on a setup thread (`crate::setup_threads`), so a runtime thread is never
/// held for the duration of a clone; the wait for the exec report is async.
pub(crate) async fn spawn(
    req: Request,
    compiled: &mut Option<CompiledPolicy>,
) -> Result<Child, SpawnError> {
    caller_nofile();
    spawn_counted(req, compiled)
        .await
        .map_err(naming_the_descriptor_limit)
}

/// An error whose errno is `EMFILE` or `ENFILE`, from whichever step, as
/// [`SpawnError::TooManyOpenFiles`]; any other unchanged.
pub(crate) fn naming_the_descriptor_limit(e: SpawnError) -> SpawnError {
    let (soft, hard) = caller_nofile();
    // The sandbox's first process copies its descriptors above every number the spawning
    // process had in use; when that is already the limit, fcntl(2) answers EINVAL, not
    // EMFILE: the same limit reached.
    if let SpawnError::Setup {
        stage: Stage::Fds,
        call: "fcntl(F_DUPFD_CLOEXEC)",
        source,
        ..
    } = &e
    {
        if source.raw_os_error() == Some(libc::EINVAL) {
            return SpawnError::TooManyOpenFiles {
                what: "sandbox setup at file descriptors: fcntl(F_DUPFD_CLOEXEC) above every \
                       descriptor in use, which reached the limit (EINVAL)"
                    .to_string(),
                soft,
                hard,
                source: io::Error::from_raw_os_error(libc::EMFILE),
            };
        }
    }
    if !matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) {
        return e;
    }
    match e {
        SpawnError::Os { what, source } => SpawnError::TooManyOpenFiles {
            what: what.to_string(),
            soft,
            hard,
            source,
        },
        SpawnError::Setup {
            stage,
            call,
            source,
            ..
        } => SpawnError::TooManyOpenFiles {
            what: format!("sandbox setup at {stage}: {call}"),
            soft,
            hard,
            source,
        },
        SpawnError::Policy(crate::error::PolicyError::MissingPath { path, source }) => {
            SpawnError::TooManyOpenFiles {
                what: format!("reading {}", path.display()),
                soft,
                hard,
                source,
            }
        }
        other => other,
    }
}

/// [`spawn`], with an error of any step as it comes.
async fn spawn_counted(
    req: Request,
    compiled: &mut Option<CompiledPolicy>,
) -> Result<Child, SpawnError> {
    let _permit = setup_slots()
        .acquire()
        .await
        .map_err(|e| os_err("the setup limit")(io::Error::other(e)))?;
    #[cfg(feature = "tracing")]
    let (span, t0) = (span(&req), std::time::Instant::now());
    let own = compiled.clone();
    // Dropped with this future: a spawn cancelled while its blocking part runs stops before
    // the clone instead of cloning a child only to kill it.
    let cancelled = Cancelled::default();
    let seen = cancelled.flag.clone();
    let started = crate::setup_threads::run("the spawning task", move || {
        let prepared = prepare(req, own.as_ref())?;
        if seen.load(std::sync::atomic::Ordering::Acquire) {
            return Err(os_err("the spawn")(io::Error::from(
                io::ErrorKind::Interrupted,
            )));
        }
        start(prepared)
    })
    .await??;
    cancelled.disarm();
    if !started.fell_back() {
        *compiled = Some(started.compiled().clone());
    }
    #[cfg(feature = "tracing")]
    let (prepared_and_cloned, t1) = (t0.elapsed(), std::time::Instant::now());
    #[cfg(feature = "tracing")]
    if let Some(why) = &started.compiled().0.landlock_missing {
        span.in_scope(|| tracing::warn!(reason = %why, "Landlock not applied (best effort)"));
    }
    let result = finish(started).await;
    #[cfg(feature = "tracing")]
    trace_result(&span, &result, prepared_and_cloned, t1);
    result
}

/// Sets its flag when dropped before [`Cancelled::disarm`]: the spawn future holding it was
/// dropped (cancelled).
#[derive(Default)]
struct Cancelled {
    flag: std::sync::Arc<std::sync::atomic::AtomicBool>,
    disarmed: bool,
}

impl Cancelled {
    /// The spawn got past the point where cancelling it changes what its blocking part does.
    fn disarm(mut self) {
        self.disarmed = true;
    }
}

impl Drop for Cancelled {
    fn drop(&mut self) {
        if !self.disarmed {
            self.flag.store(true, std::sync::atomic::Ordering::Release);
        }
    }
}

/// Spawns `req` on the calling thread, as [`spawn`] does on a setup thread and the reactor:
/// prepares the plan, clones, and blocks reading the report pipe until the child has exec'd (or
/// reported a failure and exited). Takes no setup slot: the calling thread is the bound.
pub(crate) fn spawn_blocking(
    req: Request,
    compiled: &mut Option<CompiledPolicy>,
) -> Result<Child, SpawnError> {
    #[cfg(feature = "tracing")]
    let (span, t0) = (span(&req), std::time::Instant::now());
    let started = prepare(req, compiled.as_ref()).and_then(start)?;
    if !started.fell_back() {
        *compiled = Some(started.compiled().clone());
    }
    #[cfg(feature = "tracing")]
    let (prepared_and_cloned, t1) = (t0.elapsed(), std::time::Instant::now());
    #[cfg(feature = "tracing")]
    if let Some(why) = &started.compiled().0.landlock_missing {
        span.in_scope(|| tracing::warn!(reason = %why, "Landlock not applied (best effort)"));
    }
    let Started {
        inflight,
        pid,
        namespaces,
        kept,
        ..
    } = started;
    let result = read_report_blocking(inflight.report()).and_then(|report| {
        match conclude(inflight, pid, namespaces, kept, report) {
            Ok(child) => Ok(child),
            Err((pidfd, error)) => {
                // The child exits right after writing its report.
                reap_blocking(pidfd.as_fd());
                Err(error)
            }
        }
    });
    #[cfg(feature = "tracing")]
    trace_result(&span, &result, prepared_and_cloned, t1);
    result
}

/// Runs `f` on tokio's blocking pool; a panic in it goes on in the caller.
pub(crate) async fn blocking<T: Send + 'static>(
    what: &'static str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, SpawnError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => Ok(v),
        Err(e) => match e.try_into_panic() {
            Ok(payload) => std::panic::resume_unwind(payload),
            Err(e) => Err(os_err(what)(io::Error::other(e))),
        },
    }
}

/// Refuses an unprivileged caller's supplementary groups, which a sandbox of `compiled` could
/// not drop, unless its policy allows them ([`PolicyError::RetainedGroups`]).
///
/// [`PolicyError::RetainedGroups`]: crate::PolicyError::RetainedGroups
pub(crate) fn caller_groups_allowed(compiled: &CompiledPolicy) -> Result<(), SpawnError> {
    let c = &compiled.0;
    if !c.id.privileged && !c.policy.allow_retained_groups {
        check_groups()?;
    }
    Ok(())
}

/// Builds the child's plan: compiles the policy (or reuses `own`, see [`compiled_policy`]),
/// finds the working directory and the program in the sandbox's view, builds argv and envp,
/// opens the pipes and places the fds, and creates the sandbox's cgroup. Blocks on the
/// filesystem (path resolution), so it runs off the runtime's threads.
pub(crate) fn prepare(req: Request, own: Option<&CompiledPolicy>) -> Result<Prepared, SpawnError> {
    let compiled = compiled_policy(&req.policy, own)?;
    let c = &compiled.0;
    let (policy, id, mount_plan) = (&c.policy, c.id, &c.mount_plan);
    caller_groups_allowed(&compiled)?;

    let cwd = working_directory(req.cwd.as_deref(), mount_plan)?;
    // The program's fds first: whether one is a terminal decides part of the environment.
    let fds = program_fds(req.stdio, req.extra_fds)?;
    let env_defaults = EnvDefaults {
        tmpdir: mount_plan.tmpdir.clone(),
        terminal: fds.stdio_terminal().is_some(),
        utf8_locale: policy.system && program::has_utf8_locale(),
    };
    let env = program::environment(&req.env_ops, &id, &env_defaults);
    let program = resolve_program(
        &req.program,
        env.get(std::ffi::OsStr::new("PATH")).map(|v| v.as_os_str()),
        &cwd,
        mount_plan,
    )?;
    let arg0 = req.arg0.as_deref().unwrap_or(req.program.as_os_str());
    let tmpfs = watched_tmpfs(c);
    let (argv, envp) = exec_strings(&program, arg0, &req.args, &env, &tmpfs)?;
    let (status_rd, status_wr) = pipe()?;
    build(
        compiled,
        Payload {
            cwd,
            argv,
            fd_slot: 1,
            envp,
            fds,
            kept: status_wr,
            init_end: status_rd,
            program,
            kill_on_drop: req.kill_on_drop,
            timeout: req.timeout,
            fallback: req.fallback,
            requested_network: req.requested_network,
        },
    )
}

/// The tmpfs mounts init checks for space when a program ends: the sandbox's own (without a
/// mount namespace there are none).
fn watched_tmpfs(c: &crate::plan::Compiled) -> Vec<&std::path::Path> {
    if c.policy.layers.mount {
        c.mount_plan
            .tmpfs
            .iter()
            .map(|t| t.path.as_path())
            .collect()
    } else {
        Vec::new()
    }
}

/// What a sandbox's init runs, and what the parent keeps of it.
struct Payload {
    /// The working directory inside.
    cwd: PathBuf,
    /// init's argv, with three placeholders from `fd_slot` on for its report, second and
    /// lifeline fds.
    argv: Vec<std::ffi::CString>,
    fd_slot: usize,
    envp: Vec<std::ffi::CString>,
    /// The fds the sandbox's first process places for the program.
    fds: crate::spawn::fds::ProgramFds,
    /// The second fd init keeps: the status pipe's write end, or its end of the control socket.
    kept: OwnedFd,
    /// The parent's end of it.
    init_end: OwnedFd,
    program: PathBuf,
    kill_on_drop: bool,
    timeout: Option<std::time::Duration>,
    fallback: Option<String>,
    requested_network: Network,
}

/// The fds of a sandbox whose first process places none (its init closes 0, 1 and 2).
fn program_fds_none() -> crate::spawn::fds::ProgramFds {
    crate::spawn::fds::ProgramFds {
        pairs: Vec::new(),
        keep: Vec::new(),
        parent_ends: (None, None, None),
    }
}

/// Builds the child's plan for `payload`: the report and lifeline pipes, a prepared network
/// namespace where there is one, the limits and the cgroup.
fn build(compiled: CompiledPolicy, payload: Payload) -> Result<Prepared, SpawnError> {
    let Payload {
        cwd,
        mut argv,
        fd_slot,
        envp,
        fds,
        kept,
        init_end,
        program,
        kill_on_drop,
        timeout,
        fallback,
        requested_network,
    } = payload;
    let c = &compiled.0;
    let (policy, id, layers) = (&c.policy, c.id, c.policy.layers);

    // The pipes go above every fd number the program gets.
    let above = fds.max_target() + 1;
    let (report_rd, report_wr) = pipe()?;
    let report_wr = fd_at_least(report_wr, above)?;
    let kept = fd_at_least(kept, above)?;
    // Each sandbox gets its own open file description of the lifeline (a reopen, not a dup):
    // init asks for SIGIO with F_SETOWN, which belongs to the description.
    let lifeline: OwnedFd =
        std::fs::File::open(format!("/proc/self/fd/{}", lifeline_reader()?.as_raw_fd()))
            .map_err(os_err("reopening the lifeline"))?
            .into();
    let lifeline = fd_at_least(lifeline, above)?;
    let init_fd = init_memfd()?;
    let (sync_rd, sync_wr) = if id.privileged && layers.user_namespace {
        let (r, w) = pipe()?;
        (Some(fd_at_least(r, above)?), Some(w))
    } else {
        (None, None)
    };
    // init's own arguments: REPORT_FD, then the status pipe or control socket, LIFELINE_FD
    // (see `src/init/main.rs`).
    for (slot, fd) in argv
        .iter_mut()
        .skip(fd_slot)
        .zip([&report_wr, &kept, &lifeline])
    {
        *slot = cstring(fd.as_raw_fd().to_string())?;
    }
    let fd_floor = fds
        .max_fd()
        .max(report_wr.as_raw_fd())
        .max(kept.as_raw_fd())
        .max(lifeline.as_raw_fd())
        .max(init_fd.as_raw_fd())
        .max(sync_rd.as_ref().map(|f| f.as_raw_fd()).unwrap_or(0))
        + 1;

    // A root caller's sandbox joins a network namespace prepared ahead of time (with lo up)
    // instead of creating one inside clone3.
    let netns = if policy.network == Network::None && layers.user_namespace {
        netns_pool::take()
    } else {
        None
    };
    let namespaces = Namespaces::new(layers, policy.network, netns.is_some());
    let mut limits = policy.limits;
    let cgroup = sandbox_cgroup(&limits)?;
    let cgroup_fd = match &cgroup {
        Some(cg) => Some(cg.fd().map_err(os_err("opening the sandbox's cgroup"))?),
        None => None,
    };
    // The rlimits a cgroup replaces are left out.
    let rlimits = if cgroup.is_some() {
        Limits {
            memory: None,
            processes: None,
            ..limits
        }
        .rlimits()
    } else {
        limits.rlimits()
    };
    // The open-files limit, unless the policy sets one: derived from fs.file-max, with the
    // caller's own soft limit (as it was before the first spawn raised it in this process).
    let mut rlimits = rlimits;
    let caller = caller_nofile();
    if let Some((soft, hard)) = limits.default_open_files(file_max(), caller) {
        rlimits.push((libc::RLIMIT_NOFILE, soft, hard));
        limits.open_files = Some(hard);
    } else if limits.open_files.is_none() && caller.0 < caller.1 {
        rlimits.push((libc::RLIMIT_NOFILE, caller.0, caller.1));
    }

    let console = console(&fds, c);
    let drop_ctty = !policy.new_session && !fds.stdin_is_controlling_terminal();

    let plan = Box::new(ChildPlan {
        report_fd: report_wr.as_raw_fd(),
        sync_fd: sync_rd.as_ref().map(|f| f.as_raw_fd()).unwrap_or(-1),
        self_maps: (!id.privileged && layers.user_namespace).then(|| SelfMaps {
            uid_map: id.uid_map().into_bytes(),
            gid_map: id.gid_map().into_bytes(),
        }),
        switch_ids: id.privileged.then_some((id.inside_uid, id.inside_gid)),
        staging: c"/tmp".to_owned(),
        root_data: c"mode=0755,size=1048576".to_owned(),
        setup: c.setup.clone(),
        // The host name is the UTS namespace's; without one it stays the host's.
        hostname: if layers.user_namespace {
            policy.hostname.as_bytes().to_vec()
        } else {
            Vec::new()
        },
        in_user_namespace: layers.user_namespace,
        loopback: policy.network == Network::None && netns.is_none(),
        cwd: cstring(&cwd)?,
        new_session: policy.new_session,
        drop_ctty,
        console,
        machine_id: machine_id()?,
        fd_scratch: std::cell::UnsafeCell::new(vec![-1; fds.pairs.len()]),
        cloexec_ranges: fds.cloexec_ranges(),
        close_ranges: crate::spawn::fds::cloexec_ranges(
            fds.pairs
                .iter()
                .map(|(s, _)| *s)
                .chain([report_wr.as_raw_fd(), init_fd.as_raw_fd()])
                .chain([kept.as_raw_fd(), lifeline.as_raw_fd()])
                .chain(sync_rd.as_ref().map(|f| f.as_raw_fd())),
        ),
        fds: fds.pairs,
        fd_floor,
        mount_ns: layers.mount,
        rlimits,
        init_fd: init_fd.as_raw_fd(),
        status_fd: kept.as_raw_fd(),
        lifeline_fd: lifeline.as_raw_fd(),
        argv: CStrArray::new(argv),
        envp: CStrArray::new(envp),
    });

    let mut child_ends = fds.keep;
    child_ends.extend([report_wr, kept, lifeline]);
    child_ends.extend(sync_rd);
    Ok(Prepared {
        plan,
        child_ends,
        report_rd,
        id_maps: sync_wr.map(|w| (w, id)),
        namespaces,
        netns,
        cgroup_fd,
        kept: Kept {
            program,
            cwd,
            parent_ends: fds.parent_ends,
            status_rd: init_end,
            cgroup,
            kill_on_drop,
            timeout,
            fallback,
            requested_network,
            limits,
            compiled,
        },
    })
}

/// Clones the child (joining a prepared network namespace for the clone) and, for a root
/// caller, writes its id maps.
pub(crate) fn start(prepared: Prepared) -> Result<Started, SpawnError> {
    let Prepared {
        plan,
        child_ends,
        report_rd,
        id_maps,
        namespaces,
        netns,
        cgroup_fd,
        kept,
    } = prepared;
    let joined = match &netns {
        Some(fd) => Some(
            netns_pool::join(fd.as_fd())
                .map_err(os_err("setns into a prepared network namespace"))?,
        ),
        None => None,
    };
    let cloned = clone_child(plan, &namespaces, cgroup_fd.as_ref(), report_rd);
    // Back to this thread's own network namespace.
    drop(joined);
    let (pid, inflight) = cloned?;
    // The child has its own copy of the fd table: drop the parent's copies of its ends.
    drop(child_ends);
    // The child holds the prepared network namespace now; no other sandbox gets it.
    drop(netns);

    if let Some((sync_wr, id)) = id_maps {
        for (file, line) in [("uid_map", id.uid_map()), ("gid_map", id.gid_map())] {
            let path = PathBuf::from(format!("/proc/{pid}/{file}"));
            std::fs::write(&path, line).map_err(|e| SpawnError::Setup {
                stage: Stage::IdMap,
                call: crate::wire::Call::Write.name(),
                path: Some(path),
                source: e,
            })?;
        }
        rustix::io::write(&sync_wr, b"1").map_err(|e| os_err("writing the sync pipe")(e.into()))?;
    }
    Ok(Started {
        inflight,
        pid,
        namespaces: namespaces.names,
        kept,
    })
}

/// Awaits the child's exec report: EOF alone means the program was exec'd, and the [`Child`]
/// is returned; a report becomes the error it names.
pub(crate) async fn finish(started: Started) -> Result<Child, SpawnError> {
    let Started {
        inflight,
        pid,
        namespaces,
        kept,
        ..
    } = started;
    // Everything the child writes until EOF: nothing, or one record (kept up to a bound).
    let mut report: Vec<u8> = Vec::new();
    {
        // SAFETY: the fd is borrowed from `inflight`, which keeps it open until after this
        // registration is dropped (at the end of this block).
        let r = unsafe {
            AsyncFd::register_with_interest(inflight.report(), tokio::io::Interest::READABLE)
        }
        .map_err(|e| os_err("registering the report pipe")(e.into()))?;
        let mut buf = [0u8; 64];
        loop {
            let mut guard = r.readable().await.map_err(os_err("waiting for exec"))?;
            match rustix::io::read(r.get_ref(), &mut buf) {
                Ok(0) => break,
                Ok(n) if report.len() < REPORT_LIMIT => report.extend_from_slice(&buf[..n]),
                Ok(_) => {}
                Err(rustix::io::Errno::AGAIN) => guard.clear_ready(),
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(os_err("reading the exec report")(e.into())),
            }
        }
    }
    match conclude(inflight, pid, namespaces, kept, report) {
        Ok(child) => Ok(child),
        Err((pidfd, error)) => {
            // Reap the failed child (it exits right after writing the report).
            if let Err(e) = reap(&pidfd).await {
                reap_in_background(pidfd, None);
                return Err(os_err("waiting for the failed sandbox to exit")(e));
            }
            Err(error)
        }
    }
}

/// Once the report pipe is at EOF: the [`Child`] when the report is empty (the program was
/// exec'd), else the failed child's pidfd (to reap it) and the error its report names.
fn conclude(
    inflight: InFlight,
    pid: u32,
    namespaces: Vec<&'static str>,
    kept: Kept,
    report: Vec<u8>,
) -> Result<Child, (OwnedFd, SpawnError)> {
    // The child has exec'd or exited: its stack is freed, its plan no longer in use.
    let (plan, pidfd) = inflight.release();
    let Kept {
        compiled,
        program,
        cwd,
        parent_ends,
        status_rd,
        cgroup,
        kill_on_drop,
        timeout,
        fallback,
        requested_network,
        limits,
    } = kept;
    let c = &compiled.0;

    if report.is_empty() {
        if c.policy.layers.mount {
            crate::teardown::hold_until_exit(pid, pidfd.as_fd());
        }
        return Ok(Child::new(ChildParts {
            pid,
            pidfd,
            kill_on_drop,
            enforcement: Enforcement {
                namespaces,
                landlock_abi: c.abi,
                seccomp: c.policy.layers.seccomp,
                no_new_privs: true,
                capabilities_dropped: true,
                properties: property_report(c, requested_network, fallback.as_deref()),
                // Host uid 0 is exempt from RLIMIT_NPROC, not from pids.max.
                process_limit: c
                    .policy
                    .limits
                    .processes
                    .filter(|_| cgroup.is_some() || !(c.id.privileged && c.id.host_uid == 0)),
                memory_limit: c.policy.limits.memory.map(|_| {
                    match (c.policy.limits.address_space, &cgroup) {
                        (None, Some(_)) => "cgroup memory.max",
                        _ => "RLIMIT_AS",
                    }
                }),
                ptrace: c.ptrace,
                ids: Ids {
                    inside_uid: c.id.inside_uid,
                    inside_gid: c.id.inside_gid,
                    host_uid: c.id.host_uid,
                    host_gid: c.id.host_gid,
                },
            },
            working_directory: cwd,
            stdio: parent_ends,
            status_pipe: status_rd,
            timeout,
            limits,
            cgroup,
            tmpfs: if c.policy.layers.mount {
                c.mount_plan.tmpfs.clone()
            } else {
                Vec::new()
            },
            init: None,
        }));
    }
    let error = report_error(&report, &plan, &c.mount_plan, &program);
    Err((pidfd, error))
}
