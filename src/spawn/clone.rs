//! The clone machinery: the child's stack, the `clone3`/`clone` trampoline, and the guard that
//! keeps the child's memory alive until it has exec'd.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::OnceLock;

use tokio::io::unix::AsyncFd;

use crate::child::{self, plan::ChildPlan};
use crate::child_handle::{pidfd_send_signal, reap_blocking};
use crate::error::{last_os, SpawnError};

/// Whether `clone3(2)` exists (cached).
pub(crate) fn clone3_exists() -> bool {
    static CLONE3: OnceLock<bool> = OnceLock::new();
    *CLONE3.get_or_init(|| {
        // SAFETY: clone3 with a NULL argument and size 0 is rejected (EINVAL) without touching
        // memory; ENOSYS means the kernel or a seccomp profile lacks it.
        let r = unsafe { libc::syscall(libc::SYS_clone3, 0usize, 0usize) };
        !(r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS))
    })
}

/// Size of the child's stack. The setup code uses a few KiB.
pub(crate) const STACK_SIZE: usize = 128 * 1024;
pub(crate) const GUARD_SIZE: usize = 4096;

/// An mmap'd stack with a guard page below it (mmap(2)).
pub(crate) struct Stack {
    pub(crate) base: *mut libc::c_void,
    pub(crate) len: usize,
}

// SAFETY: the mapping is plain memory owned by this value.
unsafe impl Send for Stack {}
// SAFETY: the parent never reads or writes the mapping; only the child uses it.
unsafe impl Sync for Stack {}

impl Stack {
    pub(crate) fn new() -> Result<Stack, SpawnError> {
        let len = STACK_SIZE + GUARD_SIZE;
        // SAFETY: a fresh anonymous private mapping; no existing memory is affected.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(last_os("mmap of the child stack"));
        }
        // SAFETY: the first page of our own mapping becomes the guard page.
        if unsafe { libc::mprotect(base, GUARD_SIZE, libc::PROT_NONE) } != 0 {
            let e = last_os("mprotect of the stack guard page");
            // SAFETY: unmapping what we just mapped.
            unsafe { libc::munmap(base, len) };
            return Err(e);
        }
        Ok(Stack { base, len })
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: our own mapping, no longer used by any child (see InFlight).
        unsafe { libc::munmap(self.base, self.len) };
    }
}

/// Issues `clone3(2)` (`nr` = `SYS_clone3`, `a0` = `&clone_args`, `a1` = its size) or `clone(2)`
/// (`SYS_clone`, `a0` = flags, `a1` = stack top, `a2` = where the pidfd goes) for a `CLONE_VM`
/// child that starts in `child::child_main(plan)` on its own stack.
///
/// # Safety
/// The flags must include `CLONE_VM` with a live, 16-byte aligned stack; `plan` must stay alive
/// and untouched until the child has exec'd or exited.
#[cfg(target_arch = "x86_64")]
pub(crate) unsafe fn clone_vm(
    nr: libc::c_long,
    a0: usize,
    a1: usize,
    a2: usize,
    plan: *const ChildPlan,
) -> isize {
    let ret: isize;
    let entry: unsafe extern "C" fn(*const ChildPlan) -> ! = child::child_main;
    // SAFETY: in the parent, `syscall` returns the pid (or -errno) in rax and clobbers rcx and
    // r11. In the child, rax is 0 and rsp is the top of the new stack (16-byte aligned); it
    // clears the frame pointer and calls `child_main(plan)` (r12, r13 hold the argument and the
    // entry point, preserved across the system call), which never returns.
    unsafe {
        core::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "xor ebp, ebp",
            "mov rdi, r12",
            "call r13",
            "ud2",
            "2:",
            inlateout("rax") nr as isize => ret,
            in("rdi") a0,
            in("rsi") a1,
            in("rdx") a2,
            in("r10") 0usize,
            in("r8") 0usize,
            in("r12") plan,
            in("r13") entry,
            lateout("rcx") _,
            lateout("r11") _,
        );
    }
    ret
}

/// Blocks every signal in the calling thread until dropped (pthread_sigmask(3)).
pub(crate) struct SignalsBlocked(libc::sigset_t);

impl SignalsBlocked {
    pub(crate) fn new() -> SignalsBlocked {
        // SAFETY: sigset_t is plain data; sigfillset and pthread_sigmask write into locals.
        unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
            SignalsBlocked(old)
        }
    }
}

impl Drop for SignalsBlocked {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved in `new`.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.0, std::ptr::null_mut()) };
    }
}

/// Keeps the child's stack and plan alive until the child has exec'd or exited.
///
/// Dropped before that (the spawn future was cancelled), it kills the child and hands the memory
/// to a thread that frees it once the report pipe reaches EOF (the child no longer runs on it),
/// then reaps the child.
pub(crate) struct InFlight {
    pub(crate) plan: Option<Box<ChildPlan>>,
    pub(crate) stack: Option<Stack>,
    pub(crate) pidfd: Option<OwnedFd>,
    pub(crate) report: Option<AsyncFd<OwnedFd>>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let (Some(plan), Some(stack)) = (self.plan.take(), self.stack.take()) else {
            return;
        };
        let pidfd = self.pidfd.take();
        let report = self.report.take().map(|r| r.into_inner());
        if let Some(p) = &pidfd {
            let _ = pidfd_send_signal(p.as_fd(), libc::SIGKILL);
        }
        std::thread::spawn(move || {
            // EOF on the report pipe: the child has exec'd or exited, so it no longer runs on
            // the stack or reads the plan.
            if let Some(r) = &report {
                let _ = rustix::io::ioctl_fionbio(r, false);
                let mut buf = [0u8; 64];
                loop {
                    match rustix::io::read(r, &mut buf) {
                        Ok(0) => break,
                        Ok(_) | Err(rustix::io::Errno::INTR) => {}
                        Err(_) => break,
                    }
                }
            }
            if let Some(p) = &pidfd {
                reap_blocking(p.as_fd());
            }
            drop(plan);
            drop(stack);
        });
    }
}
