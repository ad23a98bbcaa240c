//! Sandboxes whose init serves commands (`src/init/serve.rs`): starting one, asking its init to
//! start a command over the control socket (`src/control.rs`), and the command's answer.

use std::ffi::CString;
use std::io;
use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};
use tokio::io::unix::AsyncFd;

use crate::cgroup::SandboxCgroup;
use crate::child_handle::command::{recv_reply, signal_group, CommandParts};
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
use crate::spawn::fds::{pipe, program_fds, ParentEnds};
use crate::spawn::program::{
    environment, has_utf8_locale, program_strings, resolve_program, working_directory, EnvDefaults,
};
use crate::spawn::shared::setup_slots;
use crate::spawn::{
    blocking, build, check_groups, program_fds_none, read_to_eof, watched_tmpfs, Kept, Payload,
    Prepared, Request, Started,
};
use crate::wire::Failure;

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
    /// Cleared when a command gets a socket: the sandbox's network namespace is then not used
    /// again (see `netns_pool`).
    netns_reuse: Option<Arc<AtomicBool>>,
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
        netns_reuse: Option<Arc<AtomicBool>>,
    ) -> Serving {
        Serving {
            pid,
            pidfd: Some(pidfd),
            control,
            compiled,
            cgroup,
            limits,
            enforcement,
            netns_reuse,
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
        let (mut built, pending, settings) = self.begin_run(req)?;
        self.send(&mut built).await?;
        let answer = pending.reply().await?;
        self.started(built, pending.take(), answer, settings)
    }

    /// [`Serving::run`] on the calling thread, blocking in poll(2) while init's queue is full
    /// and until init answers (once the program was executed, or failed).
    pub(crate) fn run_blocking(&self, req: Request) -> Result<Child, SpawnError> {
        let (mut built, pending, settings) = self.begin_run(req)?;
        self.send_blocking(&mut built)?;
        let answer = pending.reply_blocking()?;
        self.started(built, pending.take(), answer, settings)
    }

    /// The request of a command ([`KIND_RUN`]) with its channel, and the settings its `Child`
    /// takes.
    fn begin_run(&self, req: Request) -> Result<(Built, Pending, Settings), SpawnError> {
        let settings = Settings {
            kill_on_drop: req.kill_on_drop,
            timeout: req.timeout,
        };
        let (channel, init_end) = seqpacket_pair()?;
        let built = self.request(req, KIND_RUN, vec![init_end])?;
        Ok((built, Pending(Some(channel)), settings))
    }

    /// The command's `Child` from init's first answer on its channel, or the error it names.
    fn started(
        &self,
        built: Built,
        channel: OwnedFd,
        (reply, fd): (Reply, Option<OwnedFd>),
        settings: Settings,
    ) -> Result<Child, SpawnError> {
        match reply.kind {
            REPLY_STARTED => {
                let pidfd = fd.ok_or_else(|| malformed("a start answer without a pidfd"))?;
                let pid = host_pid(pidfd.as_fd()).unwrap_or(0);
                Ok(Child::command(CommandParts {
                    pid,
                    pidfd,
                    channel,
                    kill_on_drop: settings.kill_on_drop,
                    enforcement: self.enforcement.clone(),
                    working_directory: built.cwd.clone(),
                    stdio: built.parent_ends,
                    timeout: settings.timeout,
                    limits: self.limits,
                    tmpfs: self.tmpfs(),
                }))
            }
            REPLY_FAILED => Err(self.failure(&reply, &built)),
            _ => Err(malformed("an answer that is not a start or a failure")),
        }
    }

    /// Starts `req` as the one command of this sandbox ([`KIND_LAST`]), which then ends with
    /// it, as a sandbox started for one program does: the returned [`Child`] is the sandbox's
    /// (its init's pidfd and status pipe). Returns once the program has been executed.
    ///
    /// Cancel-safe: dropped at any point before it returns, the sandbox is killed and reaped.
    pub(crate) async fn run_last(self, req: Request) -> Result<Child, SpawnError> {
        let (mut built, report_rd, status_rd, settings) = self.begin_last(req)?;
        self.send(&mut built).await?;
        let report = read_to_eof(report_rd.as_fd()).await?;
        self.last_started(built, &report, status_rd, settings)
    }

    /// [`Serving::run_last`] on the calling thread, blocking in poll(2) until the program was
    /// executed (or failed).
    pub(crate) fn run_last_blocking(self, req: Request) -> Result<Child, SpawnError> {
        let (mut built, report_rd, status_rd, settings) = self.begin_last(req)?;
        self.send_blocking(&mut built)?;
        let report = crate::spawn::read_report_blocking(report_rd.as_fd())?;
        self.last_started(built, &report, status_rd, settings)
    }

    /// The request of the one command of this sandbox ([`KIND_LAST`]) with the write ends of
    /// its report and status pipes; the read ends (the report's non-blocking).
    fn begin_last(&self, req: Request) -> Result<(Built, OwnedFd, OwnedFd, Settings), SpawnError> {
        let settings = Settings {
            kill_on_drop: req.kill_on_drop,
            timeout: req.timeout,
        };
        let (report_rd, report_wr) = pipe()?;
        let (status_rd, status_wr) = pipe()?;
        let built = self.request(req, KIND_LAST, vec![report_wr, status_wr])?;
        rustix::io::ioctl_fionbio(&report_rd, true)
            .map_err(|e| os_err("making the report pipe non-blocking")(e.into()))?;
        Ok((built, report_rd, status_rd, settings))
    }

    /// The sandbox's `Child` once the report pipe of its one command reached EOF, or the error
    /// a report names.
    fn last_started(
        mut self,
        built: Built,
        report: &[u8],
        status_rd: OwnedFd,
        settings: Settings,
    ) -> Result<Child, SpawnError> {
        if !report.is_empty() {
            return Err(match Failure::decode(report) {
                Ok(f) => command_error(&f, &built.program, &built.cwd, &self.compiled),
                Err(_) => malformed("an unreadable failure record"),
            });
        }
        let pidfd = self
            .pidfd
            .take()
            .ok_or_else(|| malformed("a prepared sandbox without its init"))?;
        Ok(Child::new(ChildParts {
            pid: self.pid,
            pidfd,
            kill_on_drop: settings.kill_on_drop,
            enforcement: self.enforcement.clone(),
            working_directory: built.cwd.clone(),
            stdio: built.parent_ends,
            status_pipe: status_rd,
            timeout: settings.timeout,
            limits: self.limits,
            cgroup: self.cgroup.take(),
            tmpfs: self.tmpfs(),
        }))
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
        if let Some(flag) = self.netns_reuse.as_ref().filter(|_| fds.has_socket()) {
            flag.store(false, Ordering::Release);
        }
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

/// A request ready to send.
struct Built {
    msg: Vec<u8>,
    /// The descriptors attached first: init's ends of the channels.
    channels: Vec<OwnedFd>,
    /// Then the program's: each source fd in the order of the message's targets.
    sources: Vec<RawFd>,
    /// The library's fds behind `sources` (inherited stdio is the caller's own).
    keep: Vec<OwnedFd>,
    parent_ends: ParentEnds,
    program: PathBuf,
    cwd: PathBuf,
}

impl Built {
    /// The descriptors the request carries: the channels, then the program's.
    fn fds(&self) -> Vec<BorrowedFd<'_>> {
        // SAFETY: each source is an fd of `keep` or the caller's own stdio (an inherited
        // stream), open while `self` is.
        let sources = self
            .sources
            .iter()
            .map(|fd| unsafe { BorrowedFd::borrow_raw(*fd) });
        self.channels
            .iter()
            .map(|f| f.as_fd())
            .chain(sources)
            .collect()
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

/// The message of a request (see `src/control.rs`).
fn encode(
    kind: u32,
    channels: usize,
    targets: &[RawFd],
    program: &CString,
    cwd: &CString,
    argv: &[CString],
    envp: &[CString],
) -> Result<Vec<u8>, PolicyError> {
    let nfds = channels + targets.len();
    let too_large = |what, size, limit| PolicyError::CommandTooLarge { what, size, limit };
    if nfds > MAX_FDS {
        return Err(too_large("file descriptors", nfds, MAX_FDS));
    }
    if let Some(t) = targets.iter().find(|t| **t < 0 || **t as u32 > MAX_TARGET) {
        return Err(too_large(
            "as the number of a passed fd",
            *t as usize,
            MAX_TARGET as usize,
        ));
    }
    let strings = argv.len() + envp.len();
    if strings > MAX_STRINGS {
        return Err(too_large(
            "arguments and environment entries",
            strings,
            MAX_STRINGS,
        ));
    }
    let all = [program, cwd].into_iter().chain(argv).chain(envp);
    let strings_len: usize = all.clone().map(|s| s.as_bytes_with_nul().len()).sum();
    let header = Header {
        kind,
        nfds: nfds as u32,
        argc: argv.len() as u32,
        envc: envp.len() as u32,
        strings_len: strings_len as u32,
    };
    let total = header.strings_offset() + strings_len;
    if total > MAX_REQUEST {
        return Err(too_large(
            "bytes of program path, working directory, arguments and environment",
            total,
            MAX_REQUEST,
        ));
    }
    let mut msg = Vec::with_capacity(total);
    for w in header.to_words() {
        msg.extend_from_slice(&w.to_ne_bytes());
    }
    debug_assert_eq!(msg.len(), HEADER_LEN);
    for _ in 0..channels {
        msg.extend_from_slice(&NO_TARGET.to_ne_bytes());
    }
    for t in targets {
        msg.extend_from_slice(&(*t as u32).to_ne_bytes());
    }
    for s in all {
        msg.extend_from_slice(s.as_bytes_with_nul());
    }
    Ok(msg)
}

/// `sendmsg(2)` of a request with `fds` attached (`SCM_RIGHTS`), without waiting.
fn send_request(control: BorrowedFd<'_>, msg: &[u8], fds: &[BorrowedFd<'_>]) -> io::Result<()> {
    let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(fds.len().max(1)))];
    let mut anc = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() && !anc.push(SendAncillaryMessage::ScmRights(fds)) {
        return Err(io::Error::from_raw_os_error(libc::EMSGSIZE));
    }
    let n = rustix::net::sendmsg(
        control,
        &[IoSlice::new(msg)],
        &mut anc,
        SendFlags::DONTWAIT | SendFlags::NOSIGNAL,
    )?;
    if n != msg.len() {
        return Err(io::Error::from_raw_os_error(libc::EMSGSIZE));
    }
    Ok(())
}

/// The host pid of the process behind `pidfd`, from `/proc/self/fdinfo` (proc(5): `Pid:`).
pub(crate) fn host_pid(pidfd: BorrowedFd<'_>) -> Option<u32> {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", pidfd.as_raw_fd())).ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .and_then(|v| v.trim().parse::<i64>().ok())
        .and_then(|p| u32::try_from(p).ok())
}

/// A command whose request was sent and whose answer is awaited. Dropped before the answer was
/// read (the spawn was cancelled), it hands the channel to a thread that waits for the answer
/// and kills the command's process group if init started it.
struct Pending(Option<OwnedFd>);

impl Pending {
    /// Awaits init's first answer on the channel.
    async fn reply(&self) -> Result<(Reply, Option<OwnedFd>), SpawnError> {
        let channel = self.0.as_ref().ok_or_else(|| malformed("no channel"))?;
        // SAFETY: the channel is borrowed for this whole function, longer than the
        // registration.
        let ready = unsafe {
            AsyncFd::register_with_interest(channel.as_raw_fd(), tokio::io::Interest::READABLE)
        }
        .map_err(|e| os_err("registering a command's channel")(e.into()))?;
        loop {
            let mut guard = ready
                .readable()
                .await
                .map_err(os_err("waiting for init's answer"))?;
            match recv_reply(channel.as_fd()) {
                Ok(Some(answer)) => return Ok(answer),
                Ok(None) => return Err(SpawnError::SandboxEnded),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => guard.clear_ready(),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.raw_os_error() == Some(libc::EBADMSG) => {
                    return Err(malformed("an unreadable answer"))
                }
                Err(e) => return Err(os_err("recvmsg on a command's channel")(e)),
            }
        }
    }

    /// [`Pending::reply`] on the calling thread, blocking in poll(2).
    fn reply_blocking(&self) -> Result<(Reply, Option<OwnedFd>), SpawnError> {
        use rustix::event::{poll, PollFd, PollFlags};
        let channel = self.0.as_ref().ok_or_else(|| malformed("no channel"))?;
        loop {
            match recv_reply(channel.as_fd()) {
                Ok(Some(answer)) => return Ok(answer),
                Ok(None) => return Err(SpawnError::SandboxEnded),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    match poll(&mut [PollFd::new(channel, PollFlags::IN)], None) {
                        Ok(_) | Err(rustix::io::Errno::INTR) => {}
                        Err(e) => return Err(os_err("waiting for init's answer (poll)")(e.into())),
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.raw_os_error() == Some(libc::EBADMSG) => {
                    return Err(malformed("an unreadable answer"))
                }
                Err(e) => return Err(os_err("recvmsg on a command's channel")(e)),
            }
        }
    }

    /// The channel, no longer pending.
    fn take(mut self) -> OwnedFd {
        self.0
            .take()
            .expect("a pending command holds its channel until taken")
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let Some(channel) = self.0.take() else {
            return;
        };
        std::thread::spawn(move || {
            // init answers once the exec succeeded or failed, or closes the channel when the
            // sandbox ends.
            let _ = rustix::io::ioctl_fionbio(&channel, false);
            loop {
                let mut buf = [0u8; REPLY_LEN + 1];
                let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
                let mut anc = RecvAncillaryBuffer::new(&mut space);
                match rustix::net::recvmsg(
                    &channel,
                    &mut [IoSliceMut::new(&mut buf)],
                    &mut anc,
                    RecvFlags::CMSG_CLOEXEC,
                ) {
                    Err(rustix::io::Errno::INTR) => continue,
                    Err(_) => return,
                    Ok(_) => {}
                }
                for m in anc.drain() {
                    if let RecvAncillaryMessage::ScmRights(fds) = m {
                        for pidfd in fds {
                            let _ = signal_group(pidfd.as_fd(), libc::SIGKILL);
                        }
                    }
                }
                return;
            }
        });
    }
}

/// Starts a sandbox of `compiled` whose init waits for commands: prepares and clones it on
/// tokio's blocking pool (within the limit on concurrent setups), then awaits its report.
///
/// Cancel-safe: dropped at any point, a half-built sandbox is killed and reaped.
pub(crate) async fn start(compiled: CompiledPolicy) -> Result<Serving, SpawnError> {
    let _permit = setup_slots()
        .acquire()
        .await
        .map_err(|e| os_err("the setup limit")(io::Error::other(e)))?;
    let started = blocking("the spawning task", move || {
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
        netns_reuse,
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
        netns_reuse,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::{refusal, REQUEST_MAGIC};
    use crate::wire::{Call, Stage};

    /// Sends `msg` with `fds` on the control socket as it is, and reads init's answer on the
    /// channel `ours` (a failure record's errno), or `None` when init closed it unanswered.
    async fn answer(serving: &Serving, msg: &[u8], nfds: usize) -> Option<i32> {
        let (ours, theirs) = seqpacket_pair().unwrap();
        let null = std::fs::File::open("/dev/null").unwrap();
        let mut fds = vec![theirs.as_fd()];
        fds.extend(std::iter::repeat_n(null.as_fd(), nfds - 1));
        send_request(serving.control.as_fd(), msg, &fds).expect("send");
        // Only init holds the channel's other end now: its EOF is init's close.
        drop(fds);
        drop((theirs, null));
        let pending = Pending(Some(ours));
        let answer = pending.reply().await;
        drop(pending.take());
        match answer {
            Ok((reply, _)) => {
                assert_eq!(reply.kind, REPLY_FAILED, "{reply:?}");
                let record: Vec<u8> = reply.words.iter().flat_map(|w| w.to_ne_bytes()).collect();
                let f = Failure::decode(&record).unwrap();
                assert_eq!((f.stage, f.call), (Stage::Exec, Call::ReceiveRequest));
                Some(f.errno)
            }
            Err(SpawnError::SandboxEnded) => None,
            Err(e) => panic!("{e}"),
        }
    }

    /// A well-formed request for `/bin/true`, with its channel as the only descriptor.
    fn good(kind: u32) -> Vec<u8> {
        encode(
            kind,
            1,
            &[],
            &c"/bin/true".to_owned(),
            &c"/".to_owned(),
            &[c"true".to_owned()],
            &[],
        )
        .unwrap()
    }

    /// init refuses whatever is not a request, answers with the reason where it can tell where
    /// to, closes the descriptors, and serves the next request.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn init_refuses_malformed_requests_and_serves_on() {
        let serving = start(crate::Policy::new().compile().unwrap())
            .await
            .unwrap();
        let patch = |msg: &mut Vec<u8>, word: usize, v: u32| {
            msg[word * 4..word * 4 + 4].copy_from_slice(&v.to_ne_bytes())
        };
        let mut cases: Vec<(Vec<u8>, usize, Option<i32>)> = Vec::new();
        // Not even a header: nowhere to answer.
        cases.push((b"short".to_vec(), 1, None));
        let mut m = good(KIND_RUN);
        patch(&mut m, 0, 0x1234_5678);
        cases.push((m, 1, None));
        // The header's counts do not match the message.
        let mut m = good(KIND_RUN);
        patch(&mut m, 2, 2);
        cases.push((m, 1, Some(refusal::MALFORMED)));
        let mut m = good(KIND_RUN);
        patch(&mut m, 3, 0);
        cases.push((m, 1, Some(refusal::MALFORMED)));
        let mut m = good(KIND_RUN);
        patch(&mut m, 5, 3);
        cases.push((m, 1, Some(refusal::MALFORMED)));
        // The strings lack their NUL, or there are fewer than the header says.
        let mut m = good(KIND_RUN);
        *m.last_mut().unwrap() = b'x';
        cases.push((m, 1, Some(refusal::MALFORMED)));
        let mut m = good(KIND_RUN);
        patch(&mut m, 4, 3);
        cases.push((m, 1, Some(refusal::MALFORMED)));
        // An unknown kind, the channel given a target, a target out of range.
        let mut m = good(KIND_RUN);
        patch(&mut m, 1, 7);
        cases.push((m, 1, None));
        let mut m = good(KIND_RUN);
        patch(&mut m, 8, 0);
        cases.push((m, 1, Some(refusal::MALFORMED)));
        let mut m = encode(
            KIND_RUN,
            1,
            &[3],
            &c"/bin/true".to_owned(),
            &c"/".to_owned(),
            &[c"true".to_owned()],
            &[],
        )
        .unwrap();
        patch(&mut m, 9, MAX_TARGET + 1);
        cases.push((m, 2, Some(refusal::MALFORMED)));
        // More descriptors than a request takes: the kernel cuts the list (MSG_CTRUNC).
        cases.push((good(KIND_RUN), MAX_FDS + 5, Some(refusal::TOO_MANY_FDS)));
        for (msg, nfds, want) in cases {
            assert!(word_of(&msg, 0) == Some(REQUEST_MAGIC) || want.is_none());
            assert_eq!(answer(&serving, &msg, nfds).await, want, "{msg:?}");
        }
        // Longer than init takes (the control socket's send buffer lets it through, where
        // net.core.wmem_max allows).
        if rustix::net::sockopt::socket_send_buffer_size(&serving.control).unwrap()
            > MAX_REQUEST + 64
        {
            let mut m = good(KIND_RUN);
            m.resize(MAX_REQUEST + 16, 0);
            assert_eq!(answer(&serving, &m, 1).await, Some(refusal::TOO_LONG));
        }
        // init still serves.
        let req = Request {
            fallback: None,
            requested_network: crate::Network::None,
            policy: serving.compiled().policy().clone(),
            program: "/bin/true".into(),
            arg0: None,
            args: Vec::new(),
            env_ops: Vec::new(),
            cwd: None,
            stdio: [
                crate::Stdio::null(),
                crate::Stdio::null(),
                crate::Stdio::null(),
            ],
            extra_fds: Vec::new(),
            kill_on_drop: false,
            timeout: None,
        };
        let mut child = serving.run(req).await.unwrap();
        assert!(child.wait().await.unwrap().success());
    }

    fn word_of(msg: &[u8], i: usize) -> Option<u32> {
        crate::control::word(msg, i)
    }
}
