//! The request of a command to a serving init: the message, its sending, and the wait for the
//! answer.

use super::*;

/// A request ready to send.
pub(super) struct Built {
    pub(super) msg: Vec<u8>,
    /// The descriptors attached first: init's ends of the channels.
    pub(super) channels: Vec<OwnedFd>,
    /// Then the program's: each source fd in the order of the message's targets.
    pub(super) sources: Vec<RawFd>,
    /// The library's fds behind `sources` (inherited stdio is the caller's own).
    pub(super) keep: Vec<OwnedFd>,
    pub(super) parent_ends: ParentEnds,
    pub(super) program: PathBuf,
    pub(super) cwd: PathBuf,
}

impl Built {
    /// The descriptors the request carries: the channels, then the program's.
    pub(super) fn fds(&self) -> Vec<BorrowedFd<'_>> {
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

/// The message of a request (see `src/control.rs`).
pub(super) fn encode(
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
pub(super) fn send_request(
    control: BorrowedFd<'_>,
    msg: &[u8],
    fds: &[BorrowedFd<'_>],
) -> io::Result<()> {
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

/// How long the library waits for init's answer to a command's request before it takes init
/// for held (a process of the sandbox stopped the command's process before its exec, which
/// holds init in its vfork wait) and kills the sandbox. init answers once the program was
/// executed, normally within a millisecond.
pub(super) const START_BOUND: std::time::Duration = std::time::Duration::from_secs(5);

/// A command whose request was sent and whose answer is awaited. Dropped before the answer was
/// read (the spawn was cancelled), it hands the channel to a thread that waits for the answer
/// and kills the command's process group if init started it.
pub(super) struct Pending(pub(super) Option<OwnedFd>);

impl Pending {
    /// Awaits init's first answer on the channel.
    pub(super) async fn reply(&self) -> Result<(Reply, Option<OwnedFd>), SpawnError> {
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

    /// [`Pending::reply`] on the calling thread, blocking in poll(2) for at most `bound`
    /// ([`SpawnError::SandboxStalled`] after that).
    pub(super) fn reply_blocking(
        &self,
        bound: std::time::Duration,
    ) -> Result<(Reply, Option<OwnedFd>), SpawnError> {
        use rustix::event::{poll, PollFd, PollFlags, Timespec};
        let channel = self.0.as_ref().ok_or_else(|| malformed("no channel"))?;
        let deadline = std::time::Instant::now() + bound;
        loop {
            match recv_reply(channel.as_fd()) {
                Ok(Some(answer)) => return Ok(answer),
                Ok(None) => return Err(SpawnError::SandboxEnded),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return Err(SpawnError::SandboxStalled { waited: bound });
                    }
                    let timeout = Timespec {
                        tv_sec: left.as_secs() as _,
                        tv_nsec: left.subsec_nanos() as _,
                    };
                    match poll(&mut [PollFd::new(channel, PollFlags::IN)], Some(&timeout)) {
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
    pub(super) fn take(mut self) -> OwnedFd {
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
                            let _ = kill_group_and_leader(pidfd.as_fd());
                        }
                    }
                }
                return;
            }
        });
    }
}
