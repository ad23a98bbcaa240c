//! The sandbox's pid 1: a tiny static program with no standard library, built by `build.rs`
//! and executed from a sealed memfd, so nothing of the spawning process is mapped in it and no
//! host file backs it.
//!
//! Usage (set up by the spawning code):
//! `init REPORT_FD STATUS_FD LIFELINE_FD NTMPFS [TMPFS...] PROGRAM ARGV0 [ARGS...]`, where the
//! NTMPFS paths are the sandbox's own tmpfs mounts (checked for space when the program ends);
//! or `init serve REPORT_FD CONTROL_FD LIFELINE_FD NTMPFS [TMPFS...]` for a sandbox whose init
//! starts the commands the library asks for (`serve.rs`).
//!
//! It makes itself non-dumpable (its `/proc/1/{mem,fd,environ}` are closed to the payload),
//! blocks every signal, forks the payload and execs PROGRAM in it (a failure of the fork or the
//! exec goes to REPORT_FD as a record of `src/wire.rs`, like every other setup failure), then
//! waits for signals with `rt_sigtimedwait`:
//! - `SIGCHLD` reaps every exited process (orphans included). A process in a ptrace-stop
//!   (the program called `PTRACE_TRACEME`, which makes its parent, init, the tracer) is
//!   detached with the signal it stopped for, so it runs on as if untraced.
//! - `STOP_SIGNAL` (`src/wire.rs`) from outside the pid namespace ends the sandbox: every
//!   process is killed and reaped, and the figures are reported as below.
//! - any other signal a process sent is forwarded to the payload (kernel-generated ones, such
//!   as a terminal's `SIGINT` to its foreground process group, are not: the payload has them).
//!
//! When the payload ends, init kills and reaps every process left in the pid namespace, then
//! writes a `StatusRecord` (`src/wire.rs`) to STATUS_FD: the payload's exact wait status, the
//! tmpfs mounts that were full, and the CPU time and peak memory of everything it reaped. Then
//! it exits.
//!
//! LIFELINE_FD is the read end of a pipe whose write end only the spawning process holds. Init
//! asks for `SIGIO` on it (`O_ASYNC`); when the spawning process exits or is killed, the pipe
//! reaches EOF and init kills the program and exits, so no sandbox outlives its owner. (A
//! thread of the owner exiting changes nothing, unlike `PR_SET_PDEATHSIG`.)

#![no_std]
#![no_main]

use core::arch::{asm, global_asm};

/// The failure report's format, shared with the library.
#[path = "../wire.rs"]
#[allow(dead_code)]
mod wire;

use wire::{Call, Failure, Stage, StatusRecord, STOP_SIGNAL};

/// The control channel's format, shared with the library.
#[path = "../control.rs"]
#[allow(dead_code)]
mod control;

/// The serve mode of a running sandbox.
mod serve;

global_asm!(
    ".globl _start",
    "_start:",
    "xor ebp, ebp",
    "mov rdi, rsp",
    "and rsp, -16",
    "call {entry}",
    "ud2",
    entry = sym entry,
);

const SYS_READ: usize = 0;
const SYS_WRITE: usize = 1;
const SYS_RT_SIGPROCMASK: usize = 14;
const SYS_CLONE: usize = 56;
const SYS_EXECVE: usize = 59;
const SYS_WAIT4: usize = 61;
const SYS_KILL: usize = 62;
const SYS_FCNTL: usize = 72;
const SYS_GETPID: usize = 39;
const SYS_GETPGID: usize = 121;
const SYS_GETPPID: usize = 110;
const PR_SET_CHILD_SUBREAPER: usize = 36;
const SYS_PRCTL: usize = 157;
const SYS_RT_SIGTIMEDWAIT: usize = 128;
const SYS_EXIT_GROUP: usize = 231;
const SYS_CLOSE_RANGE: usize = 436;
const SYS_PTRACE: usize = 101;
const SYS_GETRUSAGE: usize = 98;
const SYS_STATFS: usize = 137;

const SIGCHLD: usize = 17;
const SIGIO: usize = 29;
const SIGKILL: usize = 9;
const F_SETFL: usize = 4;
const F_SETOWN: usize = 8;
const O_NONBLOCK: usize = 0o4000;
const O_ASYNC: usize = 0o20000;
const F_SETFD: usize = 2;
const FD_CLOEXEC: usize = 1;
const PR_SET_DUMPABLE: usize = 4;
const WNOHANG: usize = 1;
const WALL: usize = 0x4000_0000;
const PTRACE_DETACH: usize = 17;
const PTRACE_GETSIGINFO: usize = 0x4202;
const SIGTRAP: i32 = 5;
const RUSAGE_CHILDREN: isize = -1;
/// At most this many tmpfs mounts are watched (two bits each in the status record).
const MAX_TMPFS: usize = 16;
const EINTR: isize = 4;
const EAGAIN: isize = 11;

#[inline(always)]
unsafe fn syscall(nr: usize, a: usize, b: usize, c: usize, d: usize) -> isize {
    let ret: isize;
    // SAFETY: the caller passes arguments valid for `nr`; `syscall` clobbers rcx and r11.
    unsafe {
        asm!("syscall", inlateout("rax") nr as isize => ret, in("rdi") a, in("rsi") b,
             in("rdx") c, in("r10") d, lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

fn exit(code: i32) -> ! {
    loop {
        // SAFETY: exit_group takes an integer.
        unsafe { syscall(SYS_EXIT_GROUP, code as usize, 0, 0, 0) };
    }
}

/// Parses a decimal fd number.
fn parse_fd(s: *const u8) -> Option<usize> {
    if s.is_null() {
        return None;
    }
    let mut n = 0usize;
    let mut i = 0;
    loop {
        // SAFETY: argv strings are NUL-terminated.
        let c = unsafe { *s.add(i) };
        if c == 0 {
            return if i > 0 { Some(n) } else { None };
        }
        if !c.is_ascii_digit() || i > 9 {
            return None;
        }
        n = n * 10 + (c - b'0') as usize;
        i += 1;
    }
}

/// What init needs to end the sandbox: where to report, what to watch.
struct Sandbox {
    /// The payload's pid.
    pid: isize,
    /// The spawning process as this pid namespace sees it: 0 when it is outside (in a pid
    /// namespace), its pid otherwise (Landlock-only mode).
    owner: isize,
    status: usize,
    /// In a pid namespace (init is pid 1): everything but init is the sandbox's.
    pid_ns: bool,
    /// `pid_ns`, or init does not lead its own process group (see `end_group`).
    pid1: bool,
    tmpfs: *const *const u8,
    ntmpfs: usize,
}

/// Whether the NUL-terminated `arg` is `serve`.
///
/// # Safety
/// `arg` is null or points to a NUL-terminated string.
unsafe fn is_serve(arg: *const u8) -> bool {
    if arg.is_null() {
        return false;
    }
    let want = b"serve\0";
    let mut i = 0;
    while i < want.len() {
        // SAFETY: the string is NUL-terminated and every byte before the mismatch or the
        // NUL matched a byte of `want`, so index i is within it.
        if unsafe { *arg.add(i) } != want[i] {
            return false;
        }
        i += 1;
    }
    true
}

unsafe extern "C" fn entry(sp: *const usize) -> ! {
    // SAFETY: the kernel lays out argc, argv[], NULL, envp[], NULL at the initial stack pointer.
    let (argc, argv) = unsafe { (*sp, sp.add(1) as *const *const u8) };
    // `init serve REPORT_FD CONTROL_FD LIFELINE_FD NTMPFS [TMPFS...]`: a running sandbox (see
    // `serve.rs`).
    // SAFETY: argc >= 6, so these argv entries exist.
    if argc >= 6 && unsafe { is_serve(*argv.add(1)) } {
        // SAFETY: as above.
        let fds = unsafe {
            (
                parse_fd(*argv.add(2)),
                parse_fd(*argv.add(3)),
                parse_fd(*argv.add(4)),
                parse_fd(*argv.add(5)),
            )
        };
        let (Some(report), Some(control), Some(lifeline), Some(ntmpfs)) = fds else {
            exit(125);
        };
        if argc != 6 + ntmpfs {
            exit(125);
        }
        // SAFETY: the NTMPFS paths follow, within argv.
        let tmpfs = unsafe { argv.add(6) };
        serve::serve(report, control, lifeline, tmpfs, ntmpfs);
    }
    if argc < 7 {
        exit(125);
    }
    // SAFETY: argc >= 7, so these argv entries exist.
    let (report, status, lifeline, ntmpfs) = unsafe {
        (
            parse_fd(*argv.add(1)),
            parse_fd(*argv.add(2)),
            parse_fd(*argv.add(3)),
            parse_fd(*argv.add(4)),
        )
    };
    let (Some(report), Some(status), Some(lifeline), Some(ntmpfs)) =
        (report, status, lifeline, ntmpfs)
    else {
        exit(125);
    };
    if argc < 7 + ntmpfs {
        exit(125);
    }
    // SAFETY: argc >= 7 + ntmpfs, so PROGRAM and ARGV0 exist; envp follows argv's NULL.
    let (tmpfs, program, payload_argv, envp) = unsafe {
        (
            argv.add(5),
            *argv.add(5 + ntmpfs),
            argv.add(6 + ntmpfs),
            argv.add(argc + 1),
        )
    };
    // SAFETY: plain integer-argument system calls from here on, pointers into argv/envp and
    // locals.
    unsafe {
        syscall(SYS_PRCTL, PR_SET_DUMPABLE, 0, 0, 0);
        syscall(SYS_FCNTL, report, F_SETFD, FD_CLOEXEC, 0);
        syscall(SYS_FCNTL, status, F_SETFD, FD_CLOEXEC, 0);
        syscall(SYS_FCNTL, lifeline, F_SETFD, FD_CLOEXEC, 0);
        let all: u64 = !0;
        syscall(
            SYS_RT_SIGPROCMASK,
            2, /* SIG_SETMASK */
            &all as *const u64 as usize,
            0,
            8,
        );
        // SIGIO when the owner's end of the lifeline closes; if it already has, stop here.
        let me = syscall(SYS_GETPID, 0, 0, 0, 0);
        // Without a pid namespace (Landlock-only mode) orphans are still ours to reap, and on
        // exit the sandbox's process group is killed (a process that left it with setsid is
        // out of reach: the enforcement report says so).
        // Only when init leads its own process group (the sandbox started a new session):
        // never the caller's group.
        let pid1 = me == 1 || syscall(SYS_GETPGID, 0, 0, 0, 0) != me;
        if !pid1 {
            syscall(SYS_PRCTL, PR_SET_CHILD_SUBREAPER, 1, 0, 0);
        }
        syscall(SYS_FCNTL, lifeline, F_SETOWN, me as usize, 0);
        syscall(SYS_FCNTL, lifeline, F_SETFL, O_ASYNC | O_NONBLOCK, 0);
        if owner_gone(lifeline) {
            exit(128 + SIGKILL as i32);
        }

        let pid = syscall(SYS_CLONE, SIGCHLD, 0, 0, 0);
        if pid == 0 {
            let none: u64 = 0;
            syscall(SYS_RT_SIGPROCMASK, 2, &none as *const u64 as usize, 0, 8);
            let err = syscall(
                SYS_EXECVE,
                program as usize,
                payload_argv as usize,
                envp as usize,
                0,
            );
            report_failure(report, Call::ExecProgram, err);
            exit(127);
        }
        if pid < 0 {
            report_failure(report, Call::ForkProgram, pid);
            exit(125);
        }
        // Keep only the status pipe and the lifeline: the payload's stdio and passed fds are
        // not init's.
        let (lo, hi) = if status < lifeline {
            (status, lifeline)
        } else {
            (lifeline, status)
        };
        if lo > 0 {
            syscall(SYS_CLOSE_RANGE, 0, lo - 1, 0, 0);
        }
        if hi > lo + 1 {
            syscall(SYS_CLOSE_RANGE, lo + 1, hi - 1, 0, 0);
        }
        syscall(SYS_CLOSE_RANGE, hi + 1, !0u32 as usize, 0, 0);

        let sandbox = Sandbox {
            pid,
            status,
            owner: syscall(SYS_GETPPID, 0, 0, 0, 0),
            pid_ns: me == 1,
            pid1,
            tmpfs,
            ntmpfs,
        };
        supervise(&sandbox, lifeline)
    }
}

/// Waits for signals until the program ends (see the module docs): `SIGCHLD` reaps every exited
/// process (detaching one that stopped under init's tracing), `SIGIO` checks the lifeline,
/// `STOP_SIGNAL` from the owner ends the sandbox, any other signal a process sent is forwarded
/// to the program. When the program ends, [`finish`] reports and init exits.
fn supervise(sandbox: &Sandbox, lifeline: usize) -> ! {
    let all: u64 = !0;
    let (pid, pid1) = (sandbox.pid, sandbox.pid1);
    // SAFETY: integer-argument system calls and pointers to locals.
    unsafe {
        let mut info = [0u64; 16];
        loop {
            let sig = syscall(
                SYS_RT_SIGTIMEDWAIT,
                &all as *const u64 as usize,
                info.as_mut_ptr() as usize,
                0,
                8,
            );
            if sig == -EINTR || sig == -EAGAIN || sig < 0 {
                continue;
            }
            if sig as usize == SIGIO {
                if owner_gone(lifeline) {
                    syscall(SYS_KILL, pid as usize, SIGKILL, 0, 0);
                    end_group(pid1);
                    exit(128 + SIGKILL as i32);
                }
                continue;
            }
            // si_code, then the sender's pid in this pid namespace.
            let si_code = (info[1] & 0xffff_ffff) as u32 as i32;
            let si_pid = (info[2] & 0xffff_ffff) as u32 as i32;
            if sig == STOP_SIGNAL as isize && si_code == 0 && si_pid as isize == sandbox.owner {
                // SI_USER from the spawning process (from outside the pid namespace, where
                // there is one): the library ends the sandbox.
                syscall(SYS_KILL, pid as usize, SIGKILL, 0, 0);
                finish(sandbox, None, 0);
            }
            if sig as usize != SIGCHLD {
                // Only signals a process sent (si_code <= 0: kill, sigqueue, tgkill, the
                // library's pidfd_send_signal) are forwarded. A kernel-generated one (SI_KERNEL
                // and the like) is init's own, or a terminal's signal to its foreground process
                // group, which the program, in that group too, has received already.
                if si_code <= 0 {
                    syscall(SYS_KILL, pid as usize, sig as usize, 0, 0);
                }
                continue;
            }
            // The tmpfs mounts as the program may have left them: another process (Python's
            // resource tracker) may free what it filled as soon as it is gone.
            let full = full_tmpfs(sandbox);
            loop {
                let mut wstatus: i32 = 0;
                let r = syscall(
                    SYS_WAIT4,
                    usize::MAX,
                    &mut wstatus as *mut i32 as usize,
                    WNOHANG | WALL,
                    0,
                );
                if r <= 0 {
                    break;
                }
                if wstatus & 0xff == 0x7f {
                    detach(r, (wstatus >> 8) & 0xff);
                    continue;
                }
                if r == pid {
                    finish(sandbox, Some(wstatus), full);
                }
            }
        }
    }
}

/// Lets a process that stopped because init traces it (it called `PTRACE_TRACEME` as init's
/// child) run on untraced, with the signal it stopped for, except the `SIGTRAP` the kernel
/// sends a traced process after `execve`, which only tracing causes.
fn detach(pid: isize, sig: i32) {
    let mut deliver = sig;
    if sig == SIGTRAP {
        let mut info = [0u64; 16];
        // SAFETY: PTRACE_GETSIGINFO writes a siginfo_t (128 bytes) into the local buffer.
        let r = unsafe {
            syscall(
                SYS_PTRACE,
                PTRACE_GETSIGINFO,
                pid as usize,
                0,
                info.as_mut_ptr() as usize,
            )
        };
        let si_code = (info[1] & 0xffff_ffff) as u32 as i32;
        let si_pid = (info[2] & 0xffff_ffff) as u32 as i32;
        if r == 0 && si_code == 0 && si_pid as isize == pid {
            deliver = 0;
        }
    }
    // SAFETY: integer arguments; the process is in a ptrace-stop of ours.
    unsafe { syscall(SYS_PTRACE, PTRACE_DETACH, pid as usize, 0, deliver as usize) };
}

/// Ends the sandbox: kills what is left (in a pid namespace: every process but init; else the
/// payload, which the caller killed), reaps it all, reports the payload's wait status (`None`:
/// taken while reaping) with the figures and the tmpfs mounts full now or in `full` (when the
/// payload was found gone), and exits.
fn finish(sb: &Sandbox, mut program: Option<i32>, full: u32) -> ! {
    // SAFETY: integer-argument system calls and pointers to locals.
    unsafe {
        if sb.pid_ns {
            // kill(-1) in a pid namespace: every process but init itself.
            syscall(SYS_KILL, usize::MAX, SIGKILL, 0, 0);
        }
        let target = if sb.pid_ns { usize::MAX } else { sb.pid as usize };
        if !sb.pid_ns && program.is_some() {
            // The payload is reaped; the rest of the group goes with end_group.
        } else {
            loop {
                let mut wstatus: i32 = 0;
                let r = syscall(SYS_WAIT4, target, &mut wstatus as *mut i32 as usize, WALL, 0);
                if r == -EINTR {
                    continue;
                }
                if r <= 0 {
                    break;
                }
                if wstatus & 0xff == 0x7f {
                    // Stopped under init's tracing: SIGKILL is on its way.
                    continue;
                }
                if r == sb.pid {
                    program = Some(wstatus);
                    if !sb.pid_ns {
                        break;
                    }
                }
            }
        }
        let wstatus = program.unwrap_or(SIGKILL as i32);
        let mut ru = [0i64; 18];
        syscall(
            SYS_GETRUSAGE,
            RUSAGE_CHILDREN as usize,
            ru.as_mut_ptr() as usize,
            0,
            0,
        );
        let us = |sec: i64, usec: i64| (sec as u64) * 1_000_000 + usec as u64;
        let record = StatusRecord {
            wait_status: wstatus,
            full_tmpfs: full | full_tmpfs(sb),
            user_us: us(ru[0], ru[1]),
            system_us: us(ru[2], ru[3]),
            max_rss_kib: ru[4] as u64,
        }
        .to_bytes();
        syscall(
            SYS_WRITE,
            sb.status,
            record.as_ptr() as usize,
            record.len(),
            0,
        );
        end_group(sb.pid1);
        let code = if wstatus & 0x7f == 0 {
            (wstatus >> 8) & 0xff
        } else {
            128 + (wstatus & 0x7f)
        };
        exit(code)
    }
}

/// Two bits per watched tmpfs: no free block, no free inode (statfs(2)).
fn full_tmpfs(sb: &Sandbox) -> u32 {
    let mut bits = 0u32;
    let mut i = 0;
    while i < sb.ntmpfs && i < MAX_TMPFS {
        // f_type, f_bsize, f_blocks, f_bfree, f_bavail, f_files, f_ffree, ... (120 bytes).
        let mut st = [0u64; 15];
        // SAFETY: the path is a NUL-terminated argv string; statfs fills the local buffer.
        let r = unsafe {
            syscall(
                SYS_STATFS,
                *sb.tmpfs.add(i) as usize,
                st.as_mut_ptr() as usize,
                0,
                0,
            )
        };
        if r == 0 {
            if st[4] == 0 {
                bits |= 1 << (2 * i);
            }
            if st[5] != 0 && st[6] == 0 {
                bits |= 1 << (2 * i + 1);
            }
        }
        i += 1;
    }
    bits
}

/// Writes the failure of `call` (its return value `ret`, a negative errno) to the report pipe.
fn report_failure(report: usize, call: Call, ret: isize) {
    let record = Failure::new(Stage::Exec, call, (-ret) as i32).to_bytes();
    // SAFETY: writes the record, a local buffer of wire::LEN bytes.
    unsafe { syscall(SYS_WRITE, report, record.as_ptr() as usize, wire::LEN, 0) };
}

/// `pid1` is true in a pid namespace, and also when init does not lead its own process group
/// (then there is no group of the sandbox's own to kill).
///
/// Outside a pid namespace: kills the sandbox's process group, init included (its status is
/// reported already). In a pid namespace init's exit ends everything anyway.
fn end_group(pid1: bool) {
    if !pid1 {
        // SAFETY: kill(0, SIGKILL) signals this process group.
        unsafe { syscall(SYS_KILL, 0, SIGKILL, 0, 0) };
    }
}

/// Whether the lifeline pipe is at EOF: the spawning process is gone.
fn owner_gone(lifeline: usize) -> bool {
    let mut b = [0u8; 1];
    // SAFETY: reads at most one byte into a local buffer; the fd is non-blocking.
    unsafe { syscall(SYS_READ, lifeline, b.as_mut_ptr() as usize, 1, 0) == 0 }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    exit(125)
}

// The compiler may emit calls to these; there is no libc to provide them.

/// # Safety
/// Standard `memcpy` contract.
#[no_mangle]
pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: `rep movsb` copies n bytes from rsi to rdi; the caller guarantees both ranges.
    unsafe {
        asm!("rep movsb", inout("rcx") n => _, inout("rdi") dst => _, inout("rsi") src => _,
             options(nostack, preserves_flags));
    }
    dst
}

/// # Safety
/// Standard `memmove` contract.
#[no_mangle]
pub unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dst as usize) <= (src as usize) || (dst as usize) >= (src as usize).wrapping_add(n) {
        // SAFETY: copying forwards never overwrites a source byte before it is read.
        return unsafe { memcpy(dst, src, n) };
    }
    let mut i = n;
    while i > 0 {
        i -= 1;
        // SAFETY: the caller guarantees both ranges; backwards, as the ranges overlap with
        // dst above src.
        unsafe { core::ptr::write_volatile(dst.add(i), core::ptr::read_volatile(src.add(i))) };
    }
    dst
}

/// # Safety
/// Standard `memset` contract.
#[no_mangle]
pub unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
    // SAFETY: `rep stosb` stores al n times at rdi; the caller guarantees the range.
    unsafe {
        asm!("rep stosb", inout("rcx") n => _, inout("rdi") dst => _, in("al") c as u8,
             options(nostack, preserves_flags));
    }
    dst
}

/// # Safety
/// Standard `memcmp` contract.
#[no_mangle]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    let mut i = 0;
    while i < n {
        // SAFETY: the caller guarantees n readable bytes at a and b.
        let (x, y) = unsafe {
            (
                core::ptr::read_volatile(a.add(i)),
                core::ptr::read_volatile(b.add(i)),
            )
        };
        if x != y {
            return x as i32 - y as i32;
        }
        i += 1;
    }
    0
}

/// # Safety
/// Standard `bcmp` contract.
#[no_mangle]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: forwarded.
    unsafe { memcmp(a, b, n) }
}
