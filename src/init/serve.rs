//! Serve mode: init of a running sandbox, which starts the commands the library asks for.
//!
//! Usage (set up by the library): `init serve REPORT_FD CONTROL_FD LIFELINE_FD NTMPFS
//! [TMPFS...]`, the NTMPFS paths being the sandbox's own tmpfs mounts (checked for space when a
//! command ends).
//!
//! Init makes itself non-dumpable, blocks every signal, asks for `SIGIO` on the control socket
//! and on the lifeline (`O_ASYNC`), and closes every other descriptor: REPORT_FD reaches EOF,
//! which tells the library that the sandbox is ready. Then it waits for signals with
//! `rt_sigtimedwait`:
//!
//! - `SIGIO`: each request queued on the control socket (`src/control.rs`) is read into a
//!   static buffer, checked, and started: init clones a process with `CLONE_VM | CLONE_VFORK`
//!   on a stack of its own, which enters a Landlock domain of its own (`serve/domain.rs`, made
//!   once when serving starts), takes its own process group (a command of a running sandbox),
//!   puts the descriptors at their numbers, changes to the working directory, clears the signal
//!   mask and execs the program. `CLONE_VFORK` suspends init until the exec succeeded or the
//!   process failed (it leaves the failure in memory it shares with init), so init answers at
//!   once: the command's pidfd, or the failure. EOF on the control socket (the library dropped
//!   the sandbox) ends the sandbox as the stop request does (below); EOF on the lifeline (the
//!   owning process is gone) ends it at once: init exits, which kills every process in its pid
//!   namespace.
//! - `SIGCHLD`: every exited process is reaped (one that stopped under init's tracing, having
//!   called `PTRACE_TRACEME`, is detached and runs on); a command's wait status, the tmpfs
//!   mounts that were full and its resource usage go to its channel, which init then closes.
//! - `STOP_SIGNAL` (`src/wire.rs`) from the library, outside the pid namespace: every process
//!   is killed and reaped, each command's status and figures go to its channel, and init exits.
//! - any other signal is dropped: there is no one program to forward it to (the library signals
//!   a command's process group itself, with the pidfd).
//!
//! The one command of a prepared sandbox ([`KIND_LAST`]) is started and answered as a command
//! (its pidfd, later its status on its channel) but stays in init's process group, as the
//! program of a sandbox started for it does. Init then closes the control socket and takes no
//! more requests; it forwards the signals a process sends it to that command, as in its
//! one-shot mode; and once the command's status has gone to its channel, it ends the sandbox as
//! the stop request does: processes the command left behind are killed then, after its status
//! was sent.
//!
//! Nothing a command does reaches the control socket: it is close-on-exec in init (as are the
//! lifeline, the channels and every received descriptor), init is not dumpable (`/proc/1/fd`
//! is closed to the sandbox's processes, which hold no capability), and the socket pair has no
//! name. Init trusts no request: every count, length and string is checked against the message
//! it came in, within fixed bounds, before it is used.

use core::arch::asm;
use core::ptr::{addr_of, addr_of_mut};

use crate::control::{
    self, refusal, Header, Reply, KIND_LAST, KIND_RUN, MAX_COMMANDS, MAX_FDS, MAX_REQUEST,
    MAX_STRINGS, MAX_TARGET, NO_TARGET, REPLY_EXITED, REPLY_FAILED, REPLY_STARTED,
};
use crate::wire::{Call, Failure, Stage, STOP_SIGNAL};
use crate::{
    detach, exit, full_tmpfs, owner_gone, syscall, Sandbox, EAGAIN, EINTR,
    FD_CLOEXEC, F_SETFD, F_SETFL, F_SETOWN, O_ASYNC, O_NONBLOCK, PR_SET_DUMPABLE, SIGCHLD, SIGIO,
    SIGKILL, SYS_CLONE, SYS_CLOSE_RANGE, SYS_EXECVE, SYS_FCNTL, SYS_GETPID, SYS_KILL, SYS_PRCTL,
    SYS_RT_SIGPROCMASK, SYS_RT_SIGTIMEDWAIT, SYS_WAIT4, SYS_WRITE, WALL, WNOHANG,
};

mod domain;
mod vfork;

use vfork::vfork_command;

const SYS_CLOSE: usize = 3;
const SYS_POLL: usize = 7;
const SYS_SENDMSG: usize = 46;
const SYS_RECVMSG: usize = 47;
const SYS_EXIT: usize = 60;
const SYS_CHDIR: usize = 80;
const SYS_SETPGID: usize = 109;
const SYS_DUP3: usize = 292;

const CLONE_VM: usize = 0x100;
const CLONE_PIDFD: usize = 0x1000;
const CLONE_VFORK: usize = 0x4000;
const F_DUPFD_CLOEXEC: usize = 1030;
const MSG_CTRUNC: i32 = 0x8;
const MSG_TRUNC: i32 = 0x20;
const MSG_DONTWAIT: usize = 0x40;
const MSG_NOSIGNAL: usize = 0x4000;
const MSG_CMSG_CLOEXEC: usize = 0x4000_0000;
const SOL_SOCKET: i32 = 1;
const SCM_RIGHTS: i32 = 1;

/// Size of the stack the command's process runs on until it execs.
const STACK_SIZE: usize = 32 * 1024;
/// `CMSG_SPACE(MAX_FDS * 4)`, in 8-byte words.
const CMSG_WORDS: usize = (16 + MAX_FDS * 4) / 8;

/// `struct iovec`.
#[repr(C)]
struct IoVec {
    base: *mut u8,
    len: usize,
}

/// `struct msghdr`.
#[repr(C)]
struct MsgHdr {
    name: *mut u8,
    namelen: u32,
    iov: *mut IoVec,
    iovlen: usize,
    control: *mut u8,
    controllen: usize,
    flags: i32,
}

#[repr(C, align(16))]
struct Stack([u8; STACK_SIZE]);

/// A running command: its pid (0: a free slot) and the channel its end goes to.
#[derive(Clone, Copy)]
struct Slot {
    pid: isize,
    channel: usize,
}

/// What the command's process needs until it execs; it shares init's memory, and init waits
/// (`CLONE_VFORK`) while it runs.
struct Spawn {
    program: *const u8,
    cwd: *const u8,
    argv: *const *const u8,
    envp: *const *const u8,
    /// The program's descriptors and their target numbers.
    fds: *const i32,
    targets: *const u32,
    nfds: usize,
    /// Above every target: where the sources are copied first.
    floor: usize,
    /// Scratch space for those copies, `nfds` entries.
    scratch: *mut i32,
    new_group: bool,
    /// Written by the process when a step fails, before it exits.
    failed: bool,
    failure: Failure,
}

/// init's memory for requests: one request at a time, in static buffers (no allocator).
struct State {
    msg: [u8; MAX_REQUEST],
    cmsg: [u64; CMSG_WORDS],
    /// The received descriptors, in order.
    fds: [i32; MAX_FDS],
    targets: [u32; MAX_FDS],
    scratch: [i32; MAX_FDS],
    /// argv, NULL, envp, NULL.
    ptrs: [*const u8; MAX_STRINGS + 2],
    commands: [Slot; MAX_COMMANDS],
    /// The pid of the one command of a prepared sandbox, once started ([`KIND_LAST`]): 0 while
    /// init serves requests.
    last: isize,
    stack: Stack,
}

// All zeros, so that it takes no room in the binary (.bss).
static mut STATE: State = State {
    msg: [0; MAX_REQUEST],
    cmsg: [0; CMSG_WORDS],
    fds: [0; MAX_FDS],
    targets: [0; MAX_FDS],
    scratch: [0; MAX_FDS],
    ptrs: [core::ptr::null(); MAX_STRINGS + 2],
    commands: [Slot { pid: 0, channel: 0 }; MAX_COMMANDS],
    last: 0,
    stack: Stack([0; STACK_SIZE]),
};

/// The state; init is single-threaded and the command's process uses it only while init waits.
fn state() -> *mut State {
    addr_of_mut!(STATE)
}

/// The pid of the one command of a prepared sandbox, 0 while init serves requests.
fn last() -> isize {
    // SAFETY: init's static state, read by init's one thread.
    unsafe { (*state()).last }
}

/// Serves requests until the library or the owning process is gone, or the library asks for the
/// end; `tmpfs` points to `ntmpfs` NUL-terminated paths (in argv).
pub(crate) fn serve(
    report: usize,
    control: usize,
    lifeline: usize,
    tmpfs: *const *const u8,
    ntmpfs: usize,
) -> ! {
    let all: u64 = !0;
    // SAFETY: integer-argument system calls and pointers to locals.
    unsafe {
        syscall(SYS_PRCTL, PR_SET_DUMPABLE, 0, 0, 0);
        syscall(SYS_RT_SIGPROCMASK, 2, &all as *const u64 as usize, 0, 8);
        let me = syscall(SYS_GETPID, 0, 0, 0, 0);
        if me != 1 {
            // Serve mode needs the pid namespace: ending it must end every command.
            exit(125);
        }
        for fd in [control, lifeline] {
            syscall(SYS_FCNTL, fd, F_SETFD, FD_CLOEXEC, 0);
            syscall(SYS_FCNTL, fd, F_SETOWN, me as usize, 0);
            syscall(SYS_FCNTL, fd, F_SETFL, O_ASYNC | O_NONBLOCK, 0);
        }
        if owner_gone(lifeline) {
            exit(128 + SIGKILL as i32);
        }
        // The ruleset of each command's own Landlock domain.
        let ruleset = match domain::prepare() {
            Ok(fd) => fd.unwrap_or(control),
            Err(ret) => {
                let failure =
                    Failure::new(Stage::Landlock, Call::LandlockCreateRuleset, (-ret) as i32);
                write_failure(report, failure);
                exit(125);
            }
        };
        // Everything else goes, the report pipe too: its EOF says the sandbox is ready.
        close_all_but([control, lifeline, ruleset]);

        // What the commands share: the tmpfs mounts to check when one ends. The library, the
        // only process that can send init a signal from outside its pid namespace, is pid 0
        // here.
        let sandbox = Sandbox {
            pid: 0,
            owner: 0,
            status: usize::MAX,
            pid_ns: true,
            pid1: true,
            tmpfs,
            ntmpfs,
        };
        let mut info = [0u64; 16];
        loop {
            if last() == 0 {
                take_requests(control, &sandbox);
            }
            if owner_gone(lifeline) {
                exit(128 + SIGKILL as i32);
            }
            let sig = syscall(
                SYS_RT_SIGTIMEDWAIT,
                &all as *const u64 as usize,
                info.as_mut_ptr() as usize,
                0,
                8,
            );
            // si_code, then the sender's pid in this pid namespace (0: from outside).
            let si_code = (info[1] & 0xffff_ffff) as u32 as i32;
            let si_pid = (info[2] & 0xffff_ffff) as u32 as i32;
            if sig == STOP_SIGNAL as isize && si_code == 0 && si_pid as isize == sandbox.owner {
                end_all(&sandbox);
            }
            if sig as usize == SIGCHLD {
                reap(&sandbox, false);
            } else if sig > 0 && sig as usize != SIGIO && si_code <= 0 && last() != 0 {
                // As in the one-shot mode: a signal a process sent init goes to the program.
                syscall(SYS_KILL, last() as usize, sig as usize, 0, 0);
            }
        }
    }
}

/// Closes every descriptor but those of `keep` (close_range(2)).
fn close_all_but(keep: [usize; 3]) {
    let [a, b, c] = keep;
    let (a, b) = if a < b { (a, b) } else { (b, a) };
    let (b, c) = if b < c { (b, c) } else { (c, b) };
    let (a, b) = if a < b { (a, b) } else { (b, a) };
    let mut next = 0;
    for fd in [a, b, c] {
        if fd < next {
            continue;
        }
        if fd > next {
            // SAFETY: integer arguments.
            unsafe { syscall(SYS_CLOSE_RANGE, next, fd - 1, 0, 0) };
        }
        next = fd + 1;
    }
    // SAFETY: integer arguments.
    unsafe { syscall(SYS_CLOSE_RANGE, next, !0u32 as usize, 0, 0) };
}

fn close(fd: usize) {
    // SAFETY: an integer argument.
    unsafe { syscall(SYS_CLOSE, fd, 0, 0, 0) };
}

/// Reads and handles every request queued on the control socket; ends the sandbox at EOF.
fn take_requests(control: usize, sandbox: &Sandbox) {
    let st = state();
    loop {
        // SAFETY: the buffers are init's static state, used by nothing else now.
        let (len, nfds, flags) = unsafe {
            let mut iov = IoVec {
                base: addr_of_mut!((*st).msg) as *mut u8,
                len: MAX_REQUEST,
            };
            let mut hdr = MsgHdr {
                name: core::ptr::null_mut(),
                namelen: 0,
                iov: &mut iov,
                iovlen: 1,
                control: addr_of_mut!((*st).cmsg) as *mut u8,
                controllen: CMSG_WORDS * 8,
                flags: 0,
            };
            let r = syscall(
                SYS_RECVMSG,
                control,
                &mut hdr as *mut MsgHdr as usize,
                MSG_DONTWAIT | MSG_CMSG_CLOEXEC,
                0,
            );
            if r == -EAGAIN {
                return;
            }
            if r <= 0 {
                // EOF: the library dropped the sandbox (or the socket failed).
                end_all(sandbox);
            }
            let nfds = received_fds(&hdr);
            (r as usize, nfds, hdr.flags)
        };
        let refused = if flags & MSG_CTRUNC != 0 {
            Some(refusal::TOO_MANY_FDS)
        } else if flags & MSG_TRUNC != 0 {
            Some(refusal::TOO_LONG)
        } else {
            None
        };
        handle(len, nfds, refused, control, sandbox);
        if last() != 0 {
            // The prepared sandbox's one command: the control socket is closed.
            return;
        }
    }
}

/// Copies the descriptors of an `SCM_RIGHTS` message (if any) to the state's list; returns how
/// many there are.
///
/// # Safety
/// `hdr` is the header `recvmsg` filled, its control buffer the state's.
unsafe fn received_fds(hdr: &MsgHdr) -> usize {
    let st = state();
    let mut n = 0;
    if hdr.controllen >= 16 {
        // SAFETY: the control buffer holds at least one cmsghdr (16 bytes), 8-byte aligned.
        let (len, level, ty) = unsafe {
            let c = addr_of!((*st).cmsg) as *const u8;
            (
                *(c as *const usize),
                *(c.add(8) as *const i32),
                *(c.add(12) as *const i32),
            )
        };
        if level == SOL_SOCKET && ty == SCM_RIGHTS && len >= 16 && len <= 16 + MAX_FDS * 4 {
            n = (len - 16) / 4;
            let mut i = 0;
            while i < n {
                // SAFETY: within the cmsg's data, which `len` bounds within the buffer.
                let fd = unsafe { *((addr_of!((*st).cmsg) as *const u8).add(16 + 4 * i) as *const i32) };
                // SAFETY: init's static state.
                if let Some(slot) = unsafe { (*st).fds.get_mut(i) } {
                    *slot = fd;
                }
                i += 1;
            }
        }
    }
    n
}

/// Handles one request of `len` bytes with `nfds` descriptors, already refused with an errno
/// when `refused`.
fn handle(
    len: usize,
    nfds: usize,
    refused: Option<i32>,
    control: usize,
    sandbox: &Sandbox,
) {
    let st = state();
    // SAFETY: init's static state, which nothing else uses now.
    let (msg, fds) = unsafe {
        (
            core::slice::from_raw_parts(addr_of!((*st).msg) as *const u8, len.min(MAX_REQUEST)),
            core::slice::from_raw_parts(addr_of!((*st).fds) as *const i32, nfds.min(MAX_FDS)),
        )
    };
    // The kind, as far as it can be read, says where a refusal goes.
    let kind = match (control::word(msg, 0), control::word(msg, 1)) {
        (Some(control::REQUEST_MAGIC), Some(k)) => k,
        _ => 0,
    };
    let checked = match refused {
        Some(errno) => Err(errno),
        None => parse(msg, fds),
    };
    let (header, program, cwd) = match checked {
        Ok(parsed) => parsed,
        Err(errno) => {
            let failure = Failure::new(Stage::Exec, Call::ReceiveRequest, errno);
            if let (KIND_RUN | KIND_LAST, Some(&channel)) = (kind, fds.first()) {
                send_failure(channel as usize, failure);
            }
            for fd in fds {
                close(*fd as usize);
            }
            return;
        }
    };
    let channels = 1;
    let slot = free_slot();
    let started = if slot.is_none() {
        // As many commands as init keeps track of: as fork(2) says at the process limit.
        Err(Failure::new(Stage::Exec, Call::ForkProgram, EAGAIN as i32))
    } else {
        // SAFETY: the descriptors and strings were checked by `parse`.
        unsafe { start(&header, program, cwd, channels) }
    };
    // The program has its own copies now (or failed): init's go.
    for fd in fds.iter().skip(channels) {
        close(*fd as usize);
    }
    let Some(&first) = fds.first() else {
        return;
    };
    let first = first as usize;
    match (header.kind, started) {
        (kind, Ok((pid, pidfd))) => {
            let reply = Reply {
                kind: REPLY_STARTED,
                words: [pid as u32, 0, 0, 0, 0, 0],
                values: [0; 4],
            };
            if send(first, &reply, Some(pidfd)) {
                if let Some(i) = slot {
                    // SAFETY: init's static state.
                    if let Some(s) = unsafe { (*st).commands.get_mut(i) } {
                        *s = Slot {
                            pid,
                            channel: first,
                        };
                    }
                }
            } else if kind == KIND_RUN {
                // Nobody holds the channel: nobody could wait for or stop the command.
                // SAFETY: integer arguments; the process group is the command's own.
                unsafe { syscall(crate::SYS_KILL, (-pid) as usize, SIGKILL, 0, 0) };
                close(first);
            } else {
                // Nobody waits for the sandbox's one command: the sandbox ends.
                end_all(sandbox);
            }
            close(pidfd as usize);
            if kind == KIND_LAST {
                // This sandbox takes no more requests and ends with its program.
                // SAFETY: init's static state.
                unsafe { (*st).last = pid };
                close(control);
            }
        }
        (KIND_RUN, Err(failure)) => {
            send_failure(first, failure);
            close(first);
        }
        (_, Err(failure)) => {
            send_failure(first, failure);
            exit(125);
        }
    }
}

/// Checks a request against its message and descriptors: the header, the targets, the
/// strings. Fills the state's targets and argv/envp pointers; returns the header and the
/// program and working directory strings.
fn parse(msg: &[u8], fds: &[i32]) -> Result<(Header, *const u8, *const u8), i32> {
    let st = state();
    let header = Header::decode(msg, fds.len())?;
    let channels = 1;
    for i in 0..fds.len() {
        let target = control::word(msg, 8 + i).ok_or(refusal::MALFORMED)?;
        let ok = if i < channels {
            target == NO_TARGET
        } else {
            target <= MAX_TARGET
        };
        if !ok {
            return Err(refusal::MALFORMED);
        }
        // SAFETY: init's static state.
        if let Some(slot) = unsafe { (*st).targets.get_mut(i) } {
            *slot = target;
        }
    }
    let strings = msg
        .get(header.strings_offset()..)
        .ok_or(refusal::MALFORMED)?;
    // Every string ends with a NUL inside the area, and there are exactly 2 + argc + envc.
    let (argc, envc) = (header.argc as usize, header.envc as usize);
    let want = 2 + argc + envc;
    if strings.last() != Some(&0) {
        return Err(refusal::MALFORMED);
    }
    let mut count = 0;
    let mut start = 0;
    let (mut program, mut cwd) = (core::ptr::null(), core::ptr::null());
    for (i, b) in strings.iter().enumerate() {
        if *b != 0 {
            continue;
        }
        if count >= want {
            return Err(refusal::MALFORMED);
        }
        let p = strings.get(start..).ok_or(refusal::MALFORMED)?.as_ptr();
        match count {
            0 => program = p,
            1 => cwd = p,
            n => {
                // argv[0..argc] at 0.., then NULL, then envp at argc + 1.., then NULL.
                let at = if n - 2 < argc { n - 2 } else { n - 1 };
                // SAFETY: init's static state.
                if let Some(slot) = unsafe { (*st).ptrs.get_mut(at) } {
                    *slot = p;
                }
            }
        }
        count += 1;
        start = i + 1;
    }
    if count != want {
        return Err(refusal::MALFORMED);
    }
    // argc + envc <= MAX_STRINGS (checked by the header): both ends are within the array.
    for at in [argc, argc + envc + 1] {
        // SAFETY: init's static state.
        if let Some(slot) = unsafe { (*st).ptrs.get_mut(at) } {
            *slot = core::ptr::null();
        }
    }
    Ok((header, program, cwd))
}

/// A free slot of the command table.
fn free_slot() -> Option<usize> {
    let st = state();
    // SAFETY: init's static state.
    let commands = unsafe { &*addr_of!((*st).commands) };
    commands.iter().position(|s| s.pid == 0)
}

/// Starts the program of a checked request: returns its pid and pidfd once it has been
/// executed, or the step that failed.
///
/// # Safety
/// The state holds the request `parse` checked.
unsafe fn start(
    header: &Header,
    program: *const u8,
    cwd: *const u8,
    channels: usize,
) -> Result<(isize, i32), Failure> {
    let st = state();
    let nfds = header.nfds as usize;
    // SAFETY: init's static state, checked by `parse`.
    let (fds, targets, ptrs) = unsafe {
        (
            (addr_of!((*st).fds) as *const i32).add(channels),
            (addr_of!((*st).targets) as *const u32).add(channels),
            addr_of!((*st).ptrs) as *const *const u8,
        )
    };
    let program_fds = nfds.saturating_sub(channels);
    let mut floor = 3usize;
    for i in 0..program_fds {
        // SAFETY: i < program_fds, within the targets parse filled.
        let t = unsafe { *targets.add(i) } as usize;
        floor = floor.max(t + 1);
    }
    let mut spawn = Spawn {
        program,
        cwd,
        argv: ptrs,
        // SAFETY: argc + 1 < MAX_STRINGS + 2.
        envp: unsafe { ptrs.add(header.argc as usize + 1) },
        fds,
        targets,
        nfds: program_fds,
        floor,
        scratch: addr_of_mut!((*st).scratch) as *mut i32,
        new_group: header.kind == KIND_RUN,
        failed: false,
        failure: Failure::new(Stage::Exec, Call::ExecProgram, 0),
    };
    let mut pidfd: i32 = -1;
    // SAFETY: the stack is init's static one, unused while init waits for the process.
    let top = unsafe { (addr_of_mut!((*st).stack) as *mut u8).add(STACK_SIZE) };
    // SAFETY: CLONE_VM | CLONE_VFORK: init is suspended until the process execs or exits; it
    // runs `command_main` on its own stack, reading `spawn`, which outlives it.
    let pid = unsafe { vfork_command(&mut spawn, top, &mut pidfd) };
    if pid < 0 {
        return Err(Failure::new(Stage::Exec, Call::ForkProgram, (-pid) as i32));
    }
    // SAFETY: the process wrote `failed` before it exited, and the kernel resumed init after.
    if unsafe { core::ptr::read_volatile(&spawn.failed) } {
        // It has exited: reap it (it becomes a zombie right after the vfork release).
        let mut ws: i32 = 0;
        // SAFETY: pointer to a local.
        unsafe { syscall(SYS_WAIT4, pid as usize, &mut ws as *mut i32 as usize, WALL, 0) };
        close(pidfd as usize);
        // SAFETY: as above.
        return Err(unsafe { core::ptr::read_volatile(&spawn.failure) });
    }
    Ok((pid, pidfd))
}

/// Sends `reply` on a command's channel, with `fd` attached; whether it was sent.
fn send(channel: usize, reply: &Reply, fd: Option<i32>) -> bool {
    let mut bytes = reply.to_bytes();
    let mut iov = IoVec {
        base: bytes.as_mut_ptr(),
        len: bytes.len(),
    };
    // cmsghdr { len = 20, SOL_SOCKET, SCM_RIGHTS } + one fd, padded to CMSG_SPACE(4) = 24.
    let mut cmsg = [0u64; 3];
    let mut hdr = MsgHdr {
        name: core::ptr::null_mut(),
        namelen: 0,
        iov: &mut iov,
        iovlen: 1,
        control: core::ptr::null_mut(),
        controllen: 0,
        flags: 0,
    };
    if let Some(fd) = fd {
        cmsg[0] = 20;
        cmsg[1] = (SOL_SOCKET as u32 as u64) | ((SCM_RIGHTS as u32 as u64) << 32);
        cmsg[2] = fd as u32 as u64;
        hdr.control = cmsg.as_mut_ptr() as *mut u8;
        hdr.controllen = 24;
    }
    // SAFETY: the header points to live locals.
    let r = unsafe {
        syscall(
            SYS_SENDMSG,
            channel,
            &hdr as *const MsgHdr as usize,
            MSG_DONTWAIT | MSG_NOSIGNAL,
            0,
        )
    };
    r == bytes.len() as isize
}

/// The words of a failure record (`src/wire.rs`).
fn record_words(f: Failure) -> [u32; 6] {
    [
        crate::wire::MAGIC,
        f.stage as u32,
        f.call as u32,
        f.index,
        f.arg,
        f.errno as u32,
    ]
}

/// Writes a failure record to a report pipe.
fn write_failure(report: usize, failure: Failure) {
    let mut record = [0u8; crate::wire::LEN];
    let bytes = record_words(failure).into_iter().flat_map(u32::to_ne_bytes);
    for (d, b) in record.iter_mut().zip(bytes) {
        *d = b;
    }
    // SAFETY: writes a local buffer.
    unsafe { syscall(SYS_WRITE, report, record.as_ptr() as usize, record.len(), 0) };
}

/// Sends a failure record on a command's channel.
fn send_failure(channel: usize, failure: Failure) {
    let reply = Reply {
        kind: REPLY_FAILED,
        words: record_words(failure),
        values: [0; 4],
    };
    send(channel, &reply, None);
}

/// Reaps every exited process (waiting for each while `blocking`, until none is left); a
/// command's status, the tmpfs mounts full when it ended and its resource usage go to its
/// channel.
fn reap(sandbox: &Sandbox, blocking: bool) {
    let st = state();
    // The tmpfs mounts as the command may have left them, before anything else frees space.
    let full = full_tmpfs(sandbox);
    loop {
        let mut ws: i32 = 0;
        // struct rusage: ru_utime, ru_stime (timeval), ru_maxrss, ...
        let mut ru = [0i64; 18];
        let flags = if blocking { WALL } else { WNOHANG | WALL };
        // SAFETY: pointers to locals.
        let pid = unsafe {
            syscall(
                SYS_WAIT4,
                usize::MAX,
                &mut ws as *mut i32 as usize,
                flags,
                ru.as_mut_ptr() as usize,
            )
        };
        if pid == -EINTR {
            continue;
        }
        if pid <= 0 {
            return;
        }
        if ws & 0xff == 0x7f {
            // Stopped under init's tracing (PTRACE_TRACEME): it runs on untraced, or, when
            // everything is being killed, SIGKILL is on its way.
            if !blocking {
                detach(pid, (ws >> 8) & 0xff);
            }
            continue;
        }
        // SAFETY: init's static state.
        let commands = unsafe { &mut *addr_of_mut!((*st).commands) };
        if let Some(slot) = commands.iter_mut().find(|s| s.pid == pid) {
            let [utime_s, utime_us, stime_s, stime_us, maxrss, ..] = ru;
            let us = |sec: i64, usec: i64| (sec.max(0) as u64) * 1_000_000 + usec.max(0) as u64;
            let reply = Reply {
                kind: REPLY_EXITED,
                words: [ws as u32, full, 0, 0, 0, 0],
                values: [us(utime_s, utime_us), us(stime_s, stime_us), maxrss.max(0) as u64, 0],
            };
            let channel = slot.channel;
            *slot = Slot { pid: 0, channel: 0 };
            if pid == last() && !blocking {
                // The prepared sandbox's one command has ended: the sandbox ends with it, and
                // what the command left running is killed and reaped before its status goes,
                // so that nothing of it runs once the caller has the status.
                end_last(sandbox, channel, &reply);
            }
            send(channel, &reply, None);
            close(channel);
        }
    }
}

/// Ends a prepared sandbox whose one command has ended, `reply` being its status: kills and
/// reaps every other process, sends the status on `channel`, then waits for the library to
/// close the channel (it does when it has read the status, or dropped the command's `Child`,
/// or its process ended) before it exits, so that the teardown of the sandbox's mounts and
/// namespaces at init's exit does not compete with the caller for the status.
fn end_last(sandbox: &Sandbox, channel: usize, reply: &Reply) -> ! {
    // SAFETY: integer arguments.
    unsafe { syscall(SYS_KILL, usize::MAX, SIGKILL, 0, 0) };
    reap(sandbox, true);
    send(channel, reply, None);
    // struct pollfd { int fd; short events; short revents; }: no events asked, POLLHUP and
    // POLLERR come anyway.
    let mut pfd: [i32; 2] = [channel as i32, 0];
    loop {
        // SAFETY: a pointer to a local pollfd, one entry, no timeout.
        let r = unsafe { syscall(SYS_POLL, pfd.as_mut_ptr() as usize, 1, usize::MAX, 0) };
        if r != -EINTR {
            break;
        }
        pfd[1] = 0;
    }
    exit(128 + SIGKILL as i32)
}

/// Ends the sandbox: kills every process but init (kill(-1) in a pid namespace), reaps them
/// all, each command's status and figures going to its channel, and exits.
fn end_all(sandbox: &Sandbox) -> ! {
    // SAFETY: integer arguments.
    unsafe { syscall(SYS_KILL, usize::MAX, SIGKILL, 0, 0) };
    reap(sandbox, true);
    exit(128 + SIGKILL as i32)
}
