//! A command's process: the `clone(CLONE_VM | CLONE_VFORK)` on a stack of init's, and what the
//! process does in init's memory until it execs (its own Landlock domain, its process group, its
//! descriptors, its working directory, the exec), leaving a failure where init reads it.

use super::*;

/// `clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD)` of a process that runs
/// `command_main(spawn)` on the stack ending at `top`; the pidfd goes to `pidfd`.
///
/// # Safety
/// `top` is the 16-byte aligned end of a stack nobody else uses until the process execs or
/// exits; `spawn` lives until then.
pub(super) unsafe fn vfork_command(spawn: *mut Spawn, top: *mut u8, pidfd: *mut i32) -> isize {
    let ret: isize;
    let entry: unsafe extern "C" fn(*mut Spawn) -> ! = command_main;
    // SAFETY: in init, `syscall` returns the pid (or -errno) in rax once the process has
    // exec'd or exited, and clobbers rcx and r11. In the process, rax is 0 and rsp is `top`;
    // it clears the frame pointer and calls `command_main(spawn)` (r12, r13 hold the argument
    // and the entry point, preserved across the system call), which never returns.
    unsafe {
        asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "xor ebp, ebp",
            "mov rdi, r12",
            "call r13",
            "ud2",
            "2:",
            inlateout("rax") SYS_CLONE as isize => ret,
            in("rdi") CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD,
            in("rsi") top,
            in("rdx") pidfd,
            in("r10") 0usize,
            in("r8") 0usize,
            in("r12") spawn,
            in("r13") entry,
            lateout("rcx") _,
            lateout("r11") _,
        );
    }
    ret
}

/// The command's process, until it execs: shares init's memory while init waits.
///
/// # Safety
/// Called only by `vfork_command` with a live `Spawn`.
unsafe extern "C" fn command_main(spawn: *mut Spawn) -> ! {
    // SAFETY: guaranteed by the caller; init does not touch it until this process is gone.
    let s = unsafe { &mut *spawn };
    let fail = |s: &mut Spawn, stage, call, index: usize, ret: isize| -> ! {
        let failure = Failure {
            stage,
            call,
            index: index as u32,
            arg: 0,
            errno: (-ret) as i32,
        };
        // SAFETY: `s` is the live Spawn; the writes are read by init after this process exits.
        unsafe {
            core::ptr::write_volatile(&mut s.failure, failure);
            core::ptr::write_volatile(&mut s.failed, true);
            syscall(SYS_EXIT, 127, 0, 0, 0);
        }
        loop {}
    };
    // A Landlock domain of its own, first: no other command can trace or (ABI 6) signal
    // it from here on.
    let r = domain::enter();
    if r < 0 {
        fail(s, Stage::Landlock, Call::LandlockRestrictSelf, 0, r);
    }
    // SAFETY: integer-argument system calls, and pointers the parse checked.
    unsafe {
        if s.new_group {
            let r = syscall(SYS_SETPGID, 0, 0, 0, 0);
            if r < 0 {
                fail(s, Stage::Session, Call::Setpgid, 0, r);
            }
        }
        // Each source above every target first, so that placing one cannot clobber another.
        let mut i = 0;
        while i < s.nfds {
            let r = syscall(SYS_FCNTL, *s.fds.add(i) as usize, F_DUPFD_CLOEXEC, s.floor, 0);
            if r < 0 {
                fail(s, Stage::Fds, Call::DupAbove, i, r);
            }
            *s.scratch.add(i) = r as i32;
            i += 1;
        }
        i = 0;
        while i < s.nfds {
            let tmp = *s.scratch.add(i) as usize;
            let r = syscall(SYS_DUP3, tmp, *s.targets.add(i) as usize, 0, 0);
            if r < 0 {
                fail(s, Stage::Fds, Call::Dup3, i, r);
            }
            close(tmp);
            i += 1;
        }
        let r = syscall(SYS_CHDIR, s.cwd as usize, 0, 0, 0);
        if r < 0 {
            fail(s, Stage::Chdir, Call::Chdir, 0, r);
        }
        let none: u64 = 0;
        syscall(SYS_RT_SIGPROCMASK, 2, &none as *const u64 as usize, 0, 8);
        let r = syscall(
            SYS_EXECVE,
            s.program as usize,
            s.argv as usize,
            s.envp as usize,
            0,
        );
        fail(s, Stage::Exec, Call::ExecProgram, 0, r)
    }
}
