//! Spawning: prepare the child plan, `clone3` a `CLONE_VM` child on its own stack, write a root
//! caller's id maps, and await the child's exec report without blocking the runtime.

pub(crate) mod clone;
pub(crate) mod fds;
pub(crate) mod netns_pool;
pub(crate) mod program;
pub(crate) mod shared;

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::child::plan::{Bpf, CStrArray, ChildPlan, SelfMaps, REPORT_LEN};
use crate::child::sys;
use crate::child_handle::{async_fd, reap_blocking, Child, ChildParts};
use crate::enforcement::{property_report, Enforcement};
use crate::error::{os_err, PolicyError, SpawnError, Stage};
use crate::plan::walk::cstring;
use crate::plan::walk::normalize;
use crate::plan::CompiledPolicy;
use crate::policy::{Network, Policy};
use crate::report::setup_error;
use crate::spawn::clone::{clone_vm, InFlight, SignalsBlocked, Stack};
use crate::spawn::fds::{fd_at_least, pipe, stdio_fds, ParentEnds};
use crate::spawn::program::{environment, resolve_program, EnvOp};
use crate::spawn::shared::{compiled_policy, init_memfd, lifeline_reader, setup_slots};
use crate::stdio::Stdio;

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

/// A child that has been cloned and is setting itself up.
struct Started {
    inflight: InFlight,
    pid: u32,
    parent_ends: ParentEnds,
    status_rd: OwnedFd,
    namespaces: Vec<&'static str>,
    kill_on_drop: bool,
    timeout: Option<std::time::Duration>,
    fallback: Option<String>,
    requested_network: Network,
    compiled: CompiledPolicy,
    program_inside: PathBuf,
    sandbox_cgroup: Option<crate::cgroup::SandboxCgroup>,
}
/// Spawns `req`. `compiled` is the compiled form of the policy from an earlier spawn, if any:
/// it is used while still valid and replaced by the one this spawn used. Never probes the host.
///
/// Preparing the plan and `clone3` (which creates the namespaces synchronously, ~0.3 ms for a
/// network namespace) run on tokio's blocking pool, so a runtime thread is never held for the
/// duration of a clone; the wait for the exec report is async.
pub(crate) async fn spawn(
    req: Request,
    compiled: &mut Option<CompiledPolicy>,
) -> Result<Child, SpawnError> {
    let _permit = setup_slots()
        .acquire()
        .await
        .map_err(|e| os_err("the setup limit")(io::Error::other(e)))?;
    #[cfg(feature = "tracing")]
    let (span, t0) = {
        let l = req.policy.layers;
        let span = tracing::debug_span!(
            "tokio_sandbox::spawn",
            program = %req.program.to_string_lossy(),
            network = ?req.policy.network,
            layers = %format!(
                "userns={} mount={} pid={} landlock={} seccomp={}",
                l.user_namespace, l.mount, l.pid, l.landlock, l.seccomp
            ),
        );
        if let Some(why) = &req.fallback {
            span.in_scope(
                || tracing::warn!(reason = %why, "user namespaces unusable: Landlock-only sandbox"),
            );
        }
        (span, std::time::Instant::now())
    };
    let own = compiled.clone();
    let started = blocking("the spawning task", move || start(req, own.as_ref())).await??;
    if started.fallback.is_none() {
        *compiled = Some(started.compiled.clone());
    }
    #[cfg(feature = "tracing")]
    let (prepared_and_cloned, t1) = (t0.elapsed(), std::time::Instant::now());
    #[cfg(feature = "tracing")]
    if let Some(why) = &started.compiled.0.landlock_missing {
        span.in_scope(|| tracing::warn!(reason = %why, "Landlock not applied (best effort)"));
    }
    let result = finish(started).await;
    #[cfg(feature = "tracing")]
    span.in_scope(|| match &result {
        Ok(child) => tracing::debug!(
            pid = child.id(),
            prepare_and_clone_us = prepared_and_cloned.as_micros() as u64,
            setup_and_exec_us = t1.elapsed().as_micros() as u64,
            "sandbox started"
        ),
        Err(e) => tracing::debug!(error = %e, "spawn failed"),
    });
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

/// Prepares the child plan, clones the child and, for a root caller, writes its id maps.
fn start(req: Request, own: Option<&CompiledPolicy>) -> Result<Started, SpawnError> {
    let compiled = compiled_policy(&req.policy, own)?;
    let c = &compiled.0;
    let (policy, id, layers, mount_plan) = (&c.policy, c.id, c.policy.layers, &c.mount_plan);

    if !id.privileged && !policy.allow_retained_groups {
        let egid = rustix::process::getegid().as_raw();
        let groups: Vec<u32> = rustix::process::getgroups()
            .map_err(|e| os_err("getgroups")(e.into()))?
            .into_iter()
            .map(|g| g.as_raw())
            .filter(|g| *g != egid)
            .collect();
        if !groups.is_empty() {
            return Err(PolicyError::RetainedGroups { groups }.into());
        }
    }

    // Working directory: as asked, else the caller's when the sandbox has it at the same
    // place (bound there, or created there as the parent of a bound path, so that relative
    // paths to bound children work), else /.
    let caller_cwd = std::env::current_dir().ok();
    let cwd = match &req.cwd {
        Some(d) => normalize(&crate::plan::walk::absolute(d).map_err(os_err("current_dir"))?),
        None => caller_cwd
            .as_ref()
            .filter(|c| {
                mount_plan.host_path(c).as_deref() == Some(c.as_path())
                    || mount_plan
                        .visible
                        .iter()
                        .any(|(dst, src)| dst == src && dst.starts_with(c))
            })
            .cloned()
            .unwrap_or_else(|| PathBuf::from("/")),
    };

    let env = environment(&req.env_ops, &id);
    let program_inside = resolve_program(
        &req.program,
        env.get(OsStr::new("PATH")).map(|v| v.as_os_str()),
        &cwd,
        mount_plan,
    )?;

    let cstr = |what: &'static str, s: &OsStr| {
        CString::new(s.as_bytes()).map_err(|_| PolicyError::NulInString {
            what,
            value: s.to_string_lossy().into_owned(),
        })
    };
    let mut argv_c = Vec::with_capacity(req.args.len() + 6);
    argv_c.push(c"tokio-sandbox-init".to_owned());
    argv_c.push(c"0".to_owned()); // report fd, set below
    argv_c.push(c"0".to_owned()); // status fd, set below
    argv_c.push(c"0".to_owned()); // lifeline fd, set below
    argv_c.push(cstring(&program_inside)?);
    argv_c.push(cstr(
        "program",
        req.arg0.as_deref().unwrap_or(req.program.as_os_str()),
    )?);
    for a in &req.args {
        argv_c.push(cstr("argument", a)?);
    }
    let mut envp_c = Vec::with_capacity(env.len());
    for (k, v) in &env {
        if k.as_bytes().contains(&b'=') || k.is_empty() {
            return Err(PolicyError::InvalidEnvName(k.to_string_lossy().into_owned()).into());
        }
        let mut kv = k.clone();
        kv.push("=");
        kv.push(v);
        envp_c.push(cstr("environment variable", &kv)?);
    }

    // File descriptors.
    let mut keep: Vec<OwnedFd> = Vec::new();
    let mut fds: Vec<(RawFd, RawFd)> = Vec::new();
    let parent_ends = stdio_fds(req.stdio, &mut keep, &mut fds)?;
    for (target, fd) in req.extra_fds {
        fds.push((fd.as_raw_fd(), target));
        keep.push(fd);
    }
    let max_fd = fds.iter().map(|(s, d)| (*s).max(*d)).max().unwrap_or(2);
    let mut targets: Vec<RawFd> = fds.iter().map(|(_, d)| *d).filter(|d| *d >= 3).collect();
    targets.sort_unstable();
    targets.dedup();
    let mut cloexec_ranges = Vec::new();
    let mut next = 3u32;
    for t in &targets {
        if (*t as u32) > next {
            cloexec_ranges.push((next, *t as u32 - 1));
        }
        next = *t as u32 + 1;
    }
    cloexec_ranges.push((next, u32::MAX));

    let max_target = targets.last().copied().unwrap_or(2);
    let (report_rd, report_wr) = pipe()?;
    let report_wr = fd_at_least(report_wr, max_target + 1)?;
    let (status_rd, status_wr) = pipe()?;
    let status_wr = fd_at_least(status_wr, max_target + 1)?;
    argv_c[1] = CString::new(report_wr.as_raw_fd().to_string()).expect("digits");
    argv_c[2] = CString::new(status_wr.as_raw_fd().to_string()).expect("digits");
    // Each sandbox gets its own open file description of the lifeline (a reopen, not a dup):
    // init asks for SIGIO with F_SETOWN, which belongs to the description.
    let lifeline: OwnedFd =
        std::fs::File::open(format!("/proc/self/fd/{}", lifeline_reader()?.as_raw_fd()))
            .map_err(os_err("reopening the lifeline"))?
            .into();
    let lifeline = fd_at_least(lifeline, max_target + 1)?;
    argv_c[3] = CString::new(lifeline.as_raw_fd().to_string()).expect("digits");
    let init_fd = init_memfd()?;
    let (sync_rd, sync_wr) = if id.privileged && layers.user_namespace {
        let (r, w) = pipe()?;
        (Some(fd_at_least(r, max_target + 1)?), Some(w))
    } else {
        (None, None)
    };

    let fd_floor = max_fd
        .max(report_wr.as_raw_fd())
        .max(status_wr.as_raw_fd())
        .max(lifeline.as_raw_fd())
        .max(init_fd.as_raw_fd())
        .max(sync_rd.as_ref().map(|f| f.as_raw_fd()).unwrap_or(0))
        + 1;

    // A root caller's sandbox joins a network namespace prepared ahead of time (with lo up)
    // instead of creating one inside clone3; the guard keeps this thread in it until the clone.
    let joined_netns = if policy.network == Network::None && layers.user_namespace {
        netns_pool::take()
    } else {
        None
    };
    // cgroup v2 limits for the whole sandbox, where a hierarchy is delegated to this process
    // (and clone3 can place the child in it); the rlimits they replace are then left out.
    let limits = policy.limits;
    let sandbox_cgroup = match crate::cgroup::delegated() {
        Ok(parent)
            if (limits.memory.is_some()
                || limits.processes.is_some()
                || limits.cpu_millis.is_some())
                && clone::clone3_exists() =>
        {
            crate::cgroup::SandboxCgroup::create(parent, &limits).ok()
        }
        _ => None,
    };
    if limits.cpu_millis.is_some() && sandbox_cgroup.is_none() {
        return Err(SpawnError::Unsupported {
            mechanism: "a cgroup v2 cpu controller",
            reason: match crate::cgroup::delegated() {
                Err(why) => why.to_string(),
                Ok(_) => "the sandbox's cgroup could not be created".to_string(),
            },
        });
    }
    let cgroup_fd = match &sandbox_cgroup {
        Some(cg) => Some(cg.fd().map_err(os_err("opening the sandbox's cgroup"))?),
        None => None,
    };
    let rlimits = if sandbox_cgroup.is_some() {
        crate::policy::Limits {
            memory: None,
            processes: None,
            ..limits
        }
        .rlimits()
    } else {
        limits.rlimits()
    };
    let plan = Box::new(ChildPlan {
        report_fd: report_wr.as_raw_fd(),
        sync_fd: sync_rd.as_ref().map(|f| f.as_raw_fd()).unwrap_or(-1),
        self_maps: (!id.privileged && layers.user_namespace).then(|| SelfMaps {
            uid_map: format!("{} {} 1\n", id.inside_uid, id.host_uid).into_bytes(),
            gid_map: format!("{} {} 1\n", id.inside_gid, id.host_gid).into_bytes(),
        }),
        switch_ids: id.privileged.then_some((id.host_uid, id.host_gid)),
        staging: c"/tmp".to_owned(),
        root_data: c"mode=0755,size=1048576".to_owned(),
        setup: compiled.0.setup.clone(),
        // The host name is the UTS namespace's; without one it stays the host's.
        hostname: if layers.user_namespace {
            policy.hostname.as_bytes().to_vec()
        } else {
            Vec::new()
        },
        in_user_namespace: layers.user_namespace,
        loopback: policy.network == Network::None && joined_netns.is_none(),
        cwd: cstring(&cwd)?,
        new_session: policy.new_session,
        fd_scratch: std::cell::UnsafeCell::new(vec![-1; fds.len()]),
        fds,
        fd_floor,
        cloexec_ranges,
        mount_ns: layers.mount,
        rlimits,
        seccomp: {
            let mut progs: Vec<Bpf> = Vec::new();
            if layers.seccomp {
                progs.extend(crate::seccomp::default_programs().map(Bpf::Static));
            }
            if policy.tcp_bind.is_some() || policy.tcp_connect.is_some() {
                progs.push(Bpf::Static(crate::seccomp::tcp_rules_program()));
            }
            progs.extend(policy.extra_seccomp.iter().cloned().map(Bpf::Shared));
            progs
        },
        init_fd: init_fd.as_raw_fd(),
        status_fd: status_wr.as_raw_fd(),
        lifeline_fd: lifeline.as_raw_fd(),
        argv: CStrArray::new(argv_c),
        envp: CStrArray::new(envp_c),
    });

    let userns = layers.user_namespace;
    let (mut ns_flags, mut namespaces) = if userns {
        (
            libc::CLONE_NEWUSER | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS | libc::CLONE_NEWCGROUP,
            vec!["user", "ipc", "uts", "cgroup"],
        )
    } else {
        (0, Vec::new())
    };
    if layers.mount {
        ns_flags |= libc::CLONE_NEWNS;
        namespaces.push("mount");
    }
    if layers.pid {
        ns_flags |= libc::CLONE_NEWPID;
        namespaces.push("pid");
    }
    if policy.network == Network::None {
        if joined_netns.is_none() {
            ns_flags |= libc::CLONE_NEWNET;
        }
        namespaces.push("network");
    }

    let stack = Stack::new()?;
    let mut pidfd_raw: libc::c_int = -1;
    let args = sys::CloneArgs {
        flags: (libc::CLONE_VM | libc::CLONE_PIDFD | ns_flags) as u64
            | sys::CLONE_CLEAR_SIGHAND
            | if cgroup_fd.is_some() {
                sys::CLONE_INTO_CGROUP
            } else {
                0
            },
        pidfd: &mut pidfd_raw as *mut libc::c_int as u64,
        exit_signal: 0,
        stack: stack.base as u64,
        stack_size: stack.len as u64,
        cgroup: cgroup_fd.as_ref().map_or(0, |fd| fd.as_raw_fd() as u64),
        ..Default::default()
    };
    let plan_ptr = &*plan as *const ChildPlan;
    // SAFETY: CLONE_VM with a live stack; the plan and stack are kept alive by `InFlight` until
    // the report pipe reaches EOF, i.e. until the child has exec'd or exited.
    let mut ret = unsafe {
        clone_vm(
            libc::SYS_clone3,
            &args as *const sys::CloneArgs as usize,
            std::mem::size_of::<sys::CloneArgs>(),
            0,
            plan_ptr,
        )
    };
    let mut clone_call = "clone3";
    if ret == -(libc::ENOSYS as isize) {
        clone_call = "clone";
        // clone(2) has no CLONE_CLEAR_SIGHAND: block signals around it so no handler of the
        // caller runs in the child before it resets every disposition (its first step).
        let _blocked = SignalsBlocked::new();
        // SAFETY: as for clone3 above; clone(2) stores the pidfd through its third argument.
        ret = unsafe {
            clone_vm(
                libc::SYS_clone,
                (args.flags & !sys::CLONE_CLEAR_SIGHAND) as usize,
                stack.base as usize + stack.len,
                &mut pidfd_raw as *mut libc::c_int as usize,
                plan_ptr,
            )
        };
    }
    if ret < 0 {
        let err = io::Error::from_raw_os_error(-ret as i32);
        if userns && matches!(-ret as i32, libc::EPERM | libc::ENOSPC | libc::EUSERS) {
            return Err(SpawnError::Unsupported {
                mechanism: "a user namespace",
                reason: format!(
                    "{clone_call} with CLONE_NEWUSER: {err}; allow them on this host, or make \
                     Network and Processes best effort to run on Landlock alone"
                ),
            });
        }
        return Err(SpawnError::Os {
            what: clone_call,
            source: err,
        });
    }
    // Back to this thread's own network namespace.
    drop(joined_netns);
    let pid = ret as u32;
    // SAFETY: clone3 stored a new pidfd that we now own.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd_raw) };

    // The child has its own copy of the fd table: drop the parent's copies of its ends.
    drop(report_wr);
    drop(status_wr);
    drop(lifeline);
    drop(sync_rd);
    drop(keep);

    // SAFETY: F_SETFL O_NONBLOCK on our own pipe end.
    unsafe {
        let fl = libc::fcntl(report_rd.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(report_rd.as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
    let mut inflight = InFlight {
        plan: Some(plan),
        stack: Some(stack),
        pidfd: Some(pidfd),
        report: None,
    };
    inflight.report = Some(async_fd(report_rd).map_err(os_err("registering the report pipe"))?);

    if let Some(w) = sync_wr {
        let maps = [
            ("uid_map", format!("{} {} 1\n", id.inside_uid, id.host_uid)),
            ("gid_map", format!("{} {} 1\n", id.inside_gid, id.host_gid)),
        ];
        for (file, line) in maps {
            std::fs::write(format!("/proc/{pid}/{file}"), line).map_err(|e| SpawnError::Setup {
                stage: Stage::IdMap,
                path: Some(PathBuf::from(format!("/proc/{pid}/{file}"))),
                source: e,
            })?;
        }
        rustix::io::write(&w, b"1").map_err(|e| os_err("writing the sync pipe")(e.into()))?;
    }
    Ok(Started {
        inflight,
        pid,
        parent_ends,
        status_rd,
        namespaces,
        kill_on_drop: req.kill_on_drop,
        timeout: req.timeout,
        fallback: req.fallback,
        requested_network: req.requested_network,
        compiled,
        program_inside,
        sandbox_cgroup,
    })
}

/// Awaits the child's exec report: EOF alone means the program was exec'd.
async fn finish(started: Started) -> Result<Child, SpawnError> {
    let Started {
        mut inflight,
        pid,
        parent_ends,
        status_rd,
        namespaces,
        kill_on_drop,
        timeout,
        fallback,
        requested_network,
        compiled,
        program_inside,
        sandbox_cgroup,
    } = started;
    let (abi, layers, mount_plan) = (
        compiled.0.abi,
        compiled.0.policy.layers,
        &compiled.0.mount_plan,
    );
    let mut report = [0u8; REPORT_LEN];
    let mut got = 0usize;
    loop {
        let r = inflight.report.as_ref().expect("set above");
        let mut guard = r.readable().await.map_err(os_err("waiting for exec"))?;
        match rustix::io::read(r.get_ref(), &mut report[got..]) {
            Ok(0) => break,
            Ok(n) => {
                got += n;
                if got == REPORT_LEN {
                    // The child exits right after; EOF follows.
                    continue;
                }
            }
            Err(rustix::io::Errno::AGAIN) => guard.clear_ready(),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(os_err("reading the exec report")(e.into())),
        }
    }

    // The child has exec'd or exited: its stack and plan are no longer in use.
    let plan = inflight.plan.take().expect("plan present");
    drop(inflight.stack.take());
    let pidfd = inflight.pidfd.take().expect("pidfd present");
    drop(inflight);

    if got == 0 {
        return Child::new(ChildParts {
            pid,
            pidfd,
            kill_on_drop,
            enforcement: Enforcement {
                namespaces,
                landlock_abi: abi,
                seccomp: layers.seccomp,
                no_new_privs: true,
                capabilities_dropped: true,
                properties: property_report(&compiled.0, requested_network, fallback.as_deref()),
                // Host uid 0 is exempt from RLIMIT_NPROC, not from pids.max.
                process_limit: compiled.0.policy.limits.processes.filter(|_| {
                    sandbox_cgroup.is_some()
                        || !(compiled.0.id.privileged && compiled.0.id.host_uid == 0)
                }),
            },
            stdio: parent_ends,
            status_pipe: status_rd,
            timeout,
            limits: compiled.0.policy.limits,
            cgroup: sandbox_cgroup,
        })
        .map_err(os_err("registering the pidfd"));
    }

    // Reap the failed child (it exits right after writing the report).
    let pidfd = async_fd(pidfd).map_err(os_err("registering the pidfd"))?;
    // Readable once it has exited, so the wait does not block.
    let _ = pidfd.readable().await;
    reap_blocking(pidfd.get_ref().as_fd());

    if got != REPORT_LEN {
        return Err(SpawnError::Os {
            what: "reading the exec report",
            source: io::Error::new(io::ErrorKind::UnexpectedEof, "short report"),
        });
    }
    let word = |i: usize| u32::from_ne_bytes(report[i * 4..i * 4 + 4].try_into().expect("4 bytes"));
    let stage = Stage::from_code(word(0)).unwrap_or(Stage::Exec);
    let index = word(1) as usize;
    let errno = word(2) as i32;
    Err(setup_error(
        stage,
        index,
        errno,
        &plan,
        mount_plan,
        &program_inside,
    ))
}
