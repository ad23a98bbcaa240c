//! Sandboxes whose init serves commands (`src/init/serve.rs`): starting one, asking its init to
//! start a command over the control socket (`src/control.rs`), and the command's answer.

use std::ffi::CString;
use std::io;
use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::PathBuf;

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};
use tokio::io::unix::AsyncFd;

use crate::cgroup::SandboxCgroup;
use crate::child_handle::command::{kill_group_and_leader, recv_reply};
use crate::child_handle::pidfd::{pidfd_send_signal, reap, reap_blocking, reap_in_background};
use crate::child_handle::{Child, ChildParts};
use crate::control::{
    Header, Reply, HEADER_LEN, KIND_LAST, KIND_RUN, MAX_FDS, MAX_REQUEST, MAX_STRINGS, MAX_TARGET,
    NO_TARGET, REPLY_FAILED, REPLY_LEN, REPLY_STARTED,
};
use crate::enforcement::Enforcement;
use crate::enforcement::{property_report, Ids};
use crate::error::{os_err, PolicyError, SpawnError};
use crate::plan::walk::cstring;
use crate::plan::CompiledPolicy;
use crate::policy::Limits;
use crate::policy::Network;
use crate::report::command_error;
use crate::report::report_error;
use crate::spawn::fds::{program_fds, ParentEnds};
use crate::spawn::program::{
    environment, has_utf8_locale, program_strings, resolve_program, working_directory, EnvDefaults,
};
use crate::spawn::shared::setup_slots;
use crate::spawn::{
    build, check_groups, program_fds_none, read_to_eof, watched_tmpfs, Kept, Payload, Prepared,
    Request, Started,
};
use crate::wire::Failure;

mod request;

use request::{encode, send_request, Built, Pending, START_BOUND};

/// An `AF_UNIX` `SOCK_SEQPACKET` socket pair, close-on-exec: (the library's end, non-blocking;
/// the other end, blocking).
pub(crate) fn seqpacket_pair() -> Result<(OwnedFd, OwnedFd), SpawnError> {
    use rustix::net::{socketpair, AddressFamily, SocketFlags, SocketType};
    let (ours, theirs) = socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| os_err("socketpair(AF_UNIX, SOCK_SEQPACKET)")(e.into()))?;
    rustix::io::ioctl_fionbio(&ours, true)
        .map_err(|e| os_err("making a socket non-blocking")(e.into()))?;
    Ok((ours, theirs))
}

/// The control socket pair of a sandbox whose init serves commands. The library's end may send
/// a request of [`MAX_REQUEST`] bytes: its send buffer is raised above that where the default
/// (`net.core.wmem_default`, 208 KiB) is lower, up to `net.core.wmem_max` (socket(7)); a larger
/// request than the buffer takes fails with `EMSGSIZE`.
pub(crate) fn control_pair() -> Result<(OwnedFd, OwnedFd), SpawnError> {
    let (ours, theirs) = seqpacket_pair()?;
    if rustix::net::sockopt::socket_send_buffer_size(&ours).is_ok_and(|n| n < 2 * MAX_REQUEST) {
        let _ = rustix::net::sockopt::set_socket_send_buffer_size(&ours, 2 * MAX_REQUEST);
    }
    Ok((ours, theirs))
}

/// A sandbox whose init waits for commands: its init (our child), the control socket and what
/// every command of it shares. Dropped, it kills the sandbox (`SIGKILL` to init, which ends
/// every process in its pid namespace) and reaps it in the background.
#[derive(Debug)]
pub(crate) struct Serving {
    pid: u32,
    /// init's pidfd; taken when the sandbox's one command takes over init (a pool's).
    pidfd: Option<OwnedFd>,
    /// The library's end of the control socket (non-blocking).
    control: OwnedFd,
    compiled: CompiledPolicy,
    cgroup: Option<SandboxCgroup>,
    limits: Limits,
    enforcement: Enforcement,
}

impl Serving {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        pid: u32,
        pidfd: OwnedFd,
        control: OwnedFd,
        compiled: CompiledPolicy,
        cgroup: Option<SandboxCgroup>,
        limits: Limits,
        enforcement: Enforcement,
    ) -> Serving {
        Serving {
            pid,
            pidfd: Some(pidfd),
            control,
            compiled,
            cgroup,
            limits,
            enforcement,
        }
    }

    /// The host pid of the sandbox's init.
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// init's pidfd, while the sandbox runs.
    pub(crate) fn pidfd(&self) -> Option<BorrowedFd<'_>> {
        self.pidfd.as_ref().map(|fd| fd.as_fd())
    }

    /// The policy every command of this sandbox runs under.
    pub(crate) fn compiled(&self) -> &CompiledPolicy {
        &self.compiled
    }

    /// The tmpfs mounts init checks for space when a command ends, in its order.
    fn tmpfs(&self) -> Vec<crate::plan::mount::TmpfsMount> {
        let c = &self.compiled.0;
        if c.policy.layers.mount {
            c.mount_plan.tmpfs.clone()
        } else {
            Vec::new()
        }
    }

    /// The layers every command of this sandbox runs under.
    pub(crate) fn enforcement(&self) -> &Enforcement {
        &self.enforcement
    }

    /// Kills the sandbox: `SIGKILL` to init (every process in its pid namespace ends with it)
    /// and to its cgroup. The reaping is left to `drop` or [`Serving::reap_blocking`].
    pub(crate) fn kill(&self) {
        if let Some(fd) = &self.pidfd {
            let _ = pidfd_send_signal(fd.as_fd(), libc::SIGKILL);
        }
        if let Some(cg) = &self.cgroup {
            let _ = cg.kill();
        }
    }

    /// Asks init to end the sandbox (`STOP_SIGNAL` from outside its pid namespace): it kills
    /// and reaps every process, each command's status and figures going to its channel, and
    /// exits.
    pub(crate) fn stop(&self) -> io::Result<()> {
        match &self.pidfd {
            Some(fd) => pidfd_send_signal(fd.as_fd(), crate::wire::STOP_SIGNAL),
            None => Ok(()),
        }
    }

    /// Awaits the end of init (once killed: every process of the sandbox gone) on the reactor
    /// and reaps it.
    pub(crate) async fn reap(&self) -> io::Result<()> {
        let Some(fd) = &self.pidfd else {
            return Ok(());
        };
        reap(&fd.try_clone()?).await
    }

    /// Reaps init in the background once it ends (on the current runtime, else on a thread).
    pub(crate) fn reap_soon(&self) {
        if let Some(fd) = self.pidfd.as_ref().and_then(|fd| fd.try_clone().ok()) {
            reap_in_background(fd, None);
        }
    }

    /// Kills the sandbox and waits, blocking the calling thread, until it has ended and is
    /// reaped.
    pub(crate) fn kill_and_reap_blocking(mut self) {
        self.kill();
        if let Some(fd) = self.pidfd.take() {
            reap_blocking(fd.as_fd());
        }
        drop(self.cgroup.take());
    }

    /// Starts `req` as a command of this sandbox ([`KIND_RUN`]): it runs in the sandbox's
    /// namespaces and filesystem, in a process group of its own, next to the other commands.
    /// Returns once it has been executed.
    ///
    /// Cancel-safe: dropped after the request was sent, the command (if init started it) is
    /// killed once its answer arrives, on a thread of its own.
    pub(crate) async fn run(&self, req: Request) -> Result<Child, SpawnError> {
        let (mut built, pending, settings) = self.begin(req, KIND_RUN)?;
        self.send(&mut built).await?;
        let answer = match tokio::time::timeout(START_BOUND, pending.reply()).await {
            Ok(answer) => answer?,
            Err(_) => return Err(self.stalled()),
        };
        self.started(built, pending.take(), answer, settings)
            .map(Child::command)
    }

    /// [`Serving::run`] on the calling thread, blocking in poll(2) while init's queue is full
    /// and until init answers (once the program was executed, or failed).
    pub(crate) fn run_blocking(&self, req: Request) -> Result<Child, SpawnError> {
        let (mut built, pending, settings) = self.begin(req, KIND_RUN)?;
        self.send_blocking(&mut built)?;
        let answer = match pending.reply_blocking(START_BOUND) {
            Err(SpawnError::SandboxStalled { .. }) => return Err(self.stalled()),
            answer => answer?,
        };
        self.started(built, pending.take(), answer, settings)
            .map(Child::command)
    }

    /// init gave no answer within [`START_BOUND`]: it is taken for held in the wait for a
    /// command's exec, and the sandbox is killed (init cannot serve its lifeline meanwhile, so
    /// it would outlive its owner).
    fn stalled(&self) -> SpawnError {
        self.kill();
        SpawnError::SandboxStalled {
            waited: START_BOUND,
        }
    }

    /// The request of a command (`kind`: [`KIND_RUN`] or [`KIND_LAST`]) with its channel, and
    /// the settings its `Child` takes.
    fn begin(&self, req: Request, kind: u32) -> Result<(Built, Pending, Settings), SpawnError> {
        let settings = Settings {
            kill_on_drop: req.kill_on_drop,
            timeout: req.timeout,
        };
        let (channel, init_end) = seqpacket_pair()?;
        let built = self.request(req, kind, vec![init_end])?;
        Ok((built, Pending(Some(channel)), settings))
    }

    /// What the command's `Child` takes, from init's first answer on its channel, or the error
    /// the answer names.
    fn started(
        &self,
        built: Built,
        channel: OwnedFd,
        (reply, fd): (Reply, Option<OwnedFd>),
        settings: Settings,
    ) -> Result<ChildParts, SpawnError> {
        match reply.kind {
            REPLY_STARTED => {
                let pidfd = fd.ok_or_else(|| malformed("a start answer without a pidfd"))?;
                let pid = host_pid(pidfd.as_fd()).unwrap_or(0);
                Ok(ChildParts {
                    pid,
                    pidfd,
                    status_pipe: channel,
                    kill_on_drop: settings.kill_on_drop,
                    enforcement: self.enforcement.clone(),
                    working_directory: built.cwd.clone(),
                    stdio: built.parent_ends,
                    timeout: settings.timeout,
                    limits: self.limits,
                    cgroup: None,
                    tmpfs: self.tmpfs(),
                    init: None,
                })
            }
            REPLY_FAILED => Err(self.failure(&reply, &built)),
            _ => Err(malformed("an answer that is not a start or a failure")),
        }
    }

    /// Starts `req` as the one command of this sandbox ([`KIND_LAST`]), which then ends with
    /// it: the returned [`Child`] is a command's (its status comes on its channel as soon as
    /// the program has ended), holding the sandbox's init, which ends the sandbox then and is
    /// reaped in the background. Returns once the program has been executed.
    ///
    /// Cancel-safe: dropped at any point before it returns, the sandbox is killed and reaped.
    pub(crate) async fn run_last(self, req: Request) -> Result<Child, SpawnError> {
        let (mut built, pending, settings) = self.begin(req, KIND_LAST)?;
        self.send(&mut built).await?;
        let answer = match tokio::time::timeout(START_BOUND, pending.reply()).await {
            Ok(answer) => answer?,
            Err(_) => return Err(self.stalled()),
        };
        let parts = self.started(built, pending.take(), answer, settings)?;
        Ok(self.last_started(parts))
    }

    /// [`Serving::run_last`] on the calling thread, blocking in poll(2) until the program was
    /// executed (or failed).
    pub(crate) fn run_last_blocking(self, req: Request) -> Result<Child, SpawnError> {
        let (mut built, pending, settings) = self.begin(req, KIND_LAST)?;
        self.send_blocking(&mut built)?;
        let answer = match pending.reply_blocking(START_BOUND) {
            Err(SpawnError::SandboxStalled { .. }) => return Err(self.stalled()),
            answer => answer?,
        };
        let parts = self.started(built, pending.take(), answer, settings)?;
        Ok(self.last_started(parts))
    }

    /// The `Child` of this sandbox's one command, which takes over the sandbox's init and
    /// cgroup.
    fn last_started(mut self, parts: ChildParts) -> Child {
        Child::command(ChildParts {
            init: self.pidfd.take(),
            cgroup: self.cgroup.take(),
            ..parts
        })
    }

    /// The error a failure record of init names.
    fn failure(&self, reply: &Reply, built: &Built) -> SpawnError {
        let record: Vec<u8> = reply.words.iter().flat_map(|w| w.to_ne_bytes()).collect();
        match Failure::decode(&record) {
            Ok(f) => command_error(&f, &built.program, &built.cwd, &self.compiled),
            Err(_) => malformed("an unreadable failure record"),
        }
    }

    /// The request for `req`: its message and the descriptors that go with it (`channels`
    /// first, then the program's), the program and working directory it names.
    fn request(
        &self,
        req: Request,
        kind: u32,
        channels: Vec<OwnedFd>,
    ) -> Result<Built, SpawnError> {
        let c = &self.compiled.0;
        let cwd = working_directory(req.cwd.as_deref(), &c.mount_plan)?;
        // The program's fds first: whether one is a terminal decides part of the environment.
        let fds = program_fds(req.stdio, req.extra_fds)?;
        let env_defaults = EnvDefaults {
            tmpdir: c.mount_plan.tmpdir.clone(),
            terminal: fds.stdio_terminal().is_some(),
            utf8_locale: c.policy.system && has_utf8_locale(),
        };
        let env = environment(&req.env_ops, &c.id, &env_defaults);
        let program = resolve_program(
            &req.program,
            env.get(std::ffi::OsStr::new("PATH")).map(|v| v.as_os_str()),
            &cwd,
            &c.mount_plan,
        )?;
        let arg0 = req.arg0.as_deref().unwrap_or(req.program.as_os_str());
        let (program_c, argv, envp) = program_strings(&program, arg0, &req.args, &env)?;
        let targets: Vec<RawFd> = fds.pairs.iter().map(|(_, t)| *t).collect();
        let msg = encode(
            kind,
            channels.len(),
            &targets,
            &program_c,
            &cstring(&cwd)?,
            &argv,
            &envp,
        )?;
        Ok(Built {
            msg,
            channels,
            sources: fds.pairs.iter().map(|(s, _)| *s).collect(),
            keep: fds.keep,
            parent_ends: fds.parent_ends,
            program,
            cwd,
        })
    }

    /// Sends the request `built`, waiting on the reactor while init's queue is full; then
    /// closes the library's copies of the descriptors it carried.
    async fn send(&self, built: &mut Built) -> Result<(), SpawnError> {
        loop {
            match send_request(self.control.as_fd(), &built.msg, &built.fds()) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // A registration of its own (a dup), as other senders may wait too.
                    let dup = self
                        .control
                        .try_clone()
                        .map_err(os_err("dup of the control socket"))?;
                    // SAFETY: the AsyncFd owns the dup from now on.
                    let ready = unsafe {
                        AsyncFd::register_with_interest(dup, tokio::io::Interest::WRITABLE)
                    }
                    .map_err(|e| os_err("registering the control socket")(e.into()))?;
                    let _ = ready.writable().await.map_err(os_err("waiting for init"))?;
                }
                Err(e) => return Err(ended_or(e)),
            }
        }
        built.channels.clear();
        built.keep.clear();
        built.sources.clear();
        Ok(())
    }

    /// [`Serving::send`] on the calling thread, blocking in poll(2) while init's queue is full.
    fn send_blocking(&self, built: &mut Built) -> Result<(), SpawnError> {
        use rustix::event::{poll, PollFd, PollFlags};
        loop {
            match send_request(self.control.as_fd(), &built.msg, &built.fds()) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    match poll(&mut [PollFd::new(&self.control, PollFlags::OUT)], None) {
                        Ok(_) | Err(rustix::io::Errno::INTR) => {}
                        Err(e) => return Err(os_err("waiting for init (poll)")(e.into())),
                    }
                }
                Err(e) => return Err(ended_or(e)),
            }
        }
        built.channels.clear();
        built.keep.clear();
        built.sources.clear();
        Ok(())
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.kill();
        if let Some(fd) = self.pidfd.take() {
            reap_in_background(fd, self.cgroup.take());
        }
    }
}

/// What a command's `Child` takes from its request.
struct Settings {
    kill_on_drop: bool,
    timeout: Option<std::time::Duration>,
}

/// The error for an answer of init that is not what the protocol says.
fn malformed(what: &str) -> SpawnError {
    SpawnError::MalformedReport {
        reason: format!("{what} from the sandbox's init"),
    }
}

/// `ESRCH`, `EPIPE`, `ECONNREFUSED` and `ECONNRESET` from the control socket mean that the
/// sandbox has ended.
fn ended_or(e: io::Error) -> SpawnError {
    match e.raw_os_error() {
        Some(libc::EPIPE | libc::ECONNREFUSED | libc::ECONNRESET | libc::ESRCH) => {
            SpawnError::SandboxEnded
        }
        _ => os_err("sendmsg on the control socket")(e),
    }
}

/// The host pid of the process behind `pidfd`, from `/proc/self/fdinfo` (proc(5): `Pid:`).
pub(crate) fn host_pid(pidfd: BorrowedFd<'_>) -> Option<u32> {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", pidfd.as_raw_fd())).ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .and_then(|v| v.trim().parse::<i64>().ok())
        .and_then(|p| u32::try_from(p).ok())
}

/// Starts a sandbox of `compiled` whose init waits for commands: prepares and clones it on
/// a setup thread (within the limit on concurrent setups), then awaits its report.
///
/// Cancel-safe: dropped at any point, a half-built sandbox is killed and reaped.
pub(crate) async fn start(compiled: CompiledPolicy) -> Result<Serving, SpawnError> {
    let _permit = setup_slots()
        .acquire()
        .await
        .map_err(|e| os_err("the setup limit")(io::Error::other(e)))?;
    let started = crate::setup_threads::run("the spawning task", move || {
        prepare_serve(compiled).and_then(crate::spawn::start)
    })
    .await??;
    finish_serve(started).await
}

/// Builds the plan of a sandbox whose init serves commands (`init serve REPORT_FD CONTROL_FD
/// LIFELINE_FD NTMPFS [TMPFS...]`, see `src/init/serve.rs`) from a compiled policy that needs no fallback. The
/// [`Prepared`] keeps the library's end of the control socket.
pub(crate) fn prepare_serve(compiled: CompiledPolicy) -> Result<Prepared, SpawnError> {
    let c = &compiled.0;
    if !c.id.privileged && !c.policy.allow_retained_groups {
        check_groups()?;
    }
    let requested_network = c.policy.network;
    let (ours, theirs) = control_pair()?;
    let mut argv = vec![
        c"tokio-sandbox-init".to_owned(),
        c"serve".to_owned(),
        c"0".to_owned(), // report fd
        c"0".to_owned(), // control fd
        c"0".to_owned(), // lifeline fd
    ];
    let tmpfs = watched_tmpfs(c);
    argv.push(cstring(tmpfs.len().to_string())?);
    for t in tmpfs {
        argv.push(cstring(t)?);
    }
    build(
        compiled,
        Payload {
            cwd: PathBuf::from("/"),
            argv,
            fd_slot: 2,
            envp: Vec::new(),
            fds: program_fds_none(),
            kept: theirs,
            init_end: ours,
            program: PathBuf::new(),
            kill_on_drop: true,
            timeout: None,
            fallback: None,
            requested_network,
        },
    )
}

/// The layers a sandbox of `c` runs under.
fn serving_enforcement(
    c: &crate::plan::Compiled,
    namespaces: Vec<&'static str>,
    requested_network: Network,
    fallback: Option<&str>,
    cgroup: bool,
) -> Enforcement {
    Enforcement {
        namespaces,
        landlock_abi: c.abi,
        seccomp: c.policy.layers.seccomp,
        no_new_privs: true,
        capabilities_dropped: true,
        properties: property_report(c, requested_network, fallback),
        // Host uid 0 is exempt from RLIMIT_NPROC, not from pids.max.
        process_limit: c
            .policy
            .limits
            .processes
            .filter(|_| cgroup || !(c.id.privileged && c.id.host_uid == 0)),
        memory_limit: c.policy.limits.memory.map(|_| {
            match (c.policy.limits.address_space, cgroup) {
                (None, true) => "cgroup memory.max",
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
    }
}

/// Awaits the report of a sandbox whose init serves commands: EOF alone means init runs and
/// waits for requests.
pub(crate) async fn finish_serve(started: Started) -> Result<Serving, SpawnError> {
    let report = read_to_eof(started.inflight.report()).await?;
    match serving(started, &report) {
        Ok(serving) => Ok(serving),
        Err((error, pidfd)) => {
            // Reap the failed child (it exits right after writing the report).
            if let Err(e) = reap(&pidfd).await {
                reap_in_background(pidfd, None);
                return Err(os_err("waiting for the failed sandbox to exit")(e));
            }
            Err(error)
        }
    }
}

/// A sandbox whose init serves commands, once `report` was read to EOF from its report pipe;
/// or the error the report names, with the pidfd of the failed child to reap.
pub(crate) fn serving(started: Started, report: &[u8]) -> Result<Serving, (SpawnError, OwnedFd)> {
    let Started {
        inflight,
        pid,
        namespaces,
        kept,
    } = started;
    let (plan, pidfd) = inflight.release();
    let Kept {
        compiled,
        status_rd: control,
        cgroup,
        fallback,
        requested_network,
        limits,
        ..
    } = kept;
    let c = &compiled.0;
    if !report.is_empty() {
        let error = report_error(report, &plan, &c.mount_plan, std::path::Path::new(""));
        return Err((error, pidfd));
    }
    let enforcement = serving_enforcement(
        c,
        namespaces,
        requested_network,
        fallback.as_deref(),
        cgroup.is_some(),
    );
    Ok(Serving::new(
        pid,
        pidfd,
        control,
        compiled,
        cgroup,
        limits,
        enforcement,
    ))
}

#[cfg(test)]
mod tests;
