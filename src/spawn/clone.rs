//! The clone machinery: the child's stack, the `clone3`/`clone` trampoline, and the guard that
//! keeps the child's memory alive until it has exec'd.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::OnceLock;

use crate::child::{self, plan::ChildPlan, sys};
use crate::child_handle::pidfd::{pidfd_send_signal, reap_blocking};
use crate::error::{last_os, SpawnError};
use crate::policy::{Layers, Network};

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
const STACK_SIZE: usize = 128 * 1024;
const GUARD_SIZE: usize = 4096;

/// An mmap'd stack with a guard page below it (mmap(2)).
struct Stack {
    base: *mut libc::c_void,
    len: usize,
}

// SAFETY: the mapping is plain memory owned by this value.
unsafe impl Send for Stack {}

impl Stack {
    fn new() -> Result<Stack, SpawnError> {
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
unsafe fn clone_vm(
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
struct SignalsBlocked(libc::sigset_t);

impl SignalsBlocked {
    fn new() -> SignalsBlocked {
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
pub(crate) struct InFlight(Option<Parts>);

struct Parts {
    plan: Box<ChildPlan>,
    stack: Stack,
    pidfd: OwnedFd,
    /// Read end of the report pipe (non-blocking).
    report: OwnedFd,
}

impl InFlight {
    /// The read end of the child's report pipe (non-blocking): the child's failure report, then
    /// EOF once it has exec'd or exited.
    pub(crate) fn report(&self) -> BorrowedFd<'_> {
        let parts = self.0.as_ref();
        parts
            .map(|p| p.report.as_fd())
            .expect("an InFlight holds its parts until released or dropped")
    }

    /// Once the report pipe is at EOF (the child has exec'd or exited, so it no longer runs on
    /// its stack): frees the stack and returns the plan and the pidfd.
    pub(crate) fn release(mut self) -> (Box<ChildPlan>, OwnedFd) {
        let parts = self.0.take();
        let Parts { plan, pidfd, .. } =
            parts.expect("an InFlight holds its parts until released or dropped");
        (plan, pidfd)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let Some(Parts {
            plan,
            stack,
            pidfd,
            report,
        }) = self.0.take()
        else {
            return;
        };
        let _ = pidfd_send_signal(pidfd.as_fd(), libc::SIGKILL);
        std::thread::spawn(move || {
            // EOF on the report pipe: the child has exec'd or exited, so it no longer runs on
            // the stack or reads the plan.
            let _ = rustix::io::ioctl_fionbio(&report, false);
            let mut buf = [0u8; 64];
            loop {
                match rustix::io::read(&report, &mut buf) {
                    Ok(0) => break,
                    Ok(_) | Err(rustix::io::Errno::INTR) => {}
                    Err(_) => break,
                }
            }
            reap_blocking(pidfd.as_fd());
            drop(plan);
            drop(stack);
        });
    }
}

/// The namespaces a sandbox gets: the clone flags, and their names for the enforcement report.
pub(crate) struct Namespaces {
    flags: libc::c_int,
    pub names: Vec<&'static str>,
}

impl Namespaces {
    /// The namespaces of `layers` and `network`; `joined_netns` when the clone happens in a
    /// network namespace prepared ahead of time instead of a new one.
    pub(crate) fn new(layers: Layers, network: Network, joined_netns: bool) -> Namespaces {
        let (mut flags, mut names) = if layers.user_namespace {
            (
                libc::CLONE_NEWUSER
                    | libc::CLONE_NEWIPC
                    | libc::CLONE_NEWUTS
                    | libc::CLONE_NEWCGROUP,
                vec!["user", "ipc", "uts", "cgroup"],
            )
        } else {
            (0, Vec::new())
        };
        if layers.mount {
            flags |= libc::CLONE_NEWNS;
            names.push("mount");
        }
        if layers.pid {
            flags |= libc::CLONE_NEWPID;
            names.push("pid");
        }
        if network == Network::None {
            if !joined_netns {
                flags |= libc::CLONE_NEWNET;
            }
            names.push("network");
        }
        Namespaces { flags, names }
    }
}

/// Clones a `CLONE_VM` child that runs `child_main(plan)` on a stack of its own, in
/// `namespaces` and, when given, in the cgroup `cgroup` (`CLONE_INTO_CGROUP`). `report` is the
/// read end of the child's report pipe. Returns the child's pid and the guard that keeps its
/// stack and plan alive until it has exec'd.
///
/// Uses `clone3(2)`, or `clone(2)` where `clone3` is `ENOSYS` (Docker's default seccomp
/// profile), with every signal blocked around it.
pub(crate) fn clone_child(
    plan: Box<ChildPlan>,
    namespaces: &Namespaces,
    cgroup: Option<&OwnedFd>,
    report: OwnedFd,
) -> Result<(u32, InFlight), SpawnError> {
    let stack = Stack::new()?;
    let mut pidfd_raw: libc::c_int = -1;
    let args = sys::CloneArgs {
        flags: (libc::CLONE_VM | libc::CLONE_PIDFD | namespaces.flags) as u64
            | sys::CLONE_CLEAR_SIGHAND
            | if cgroup.is_some() {
                sys::CLONE_INTO_CGROUP
            } else {
                0
            },
        pidfd: &mut pidfd_raw as *mut libc::c_int as u64,
        exit_signal: 0,
        stack: stack.base as u64,
        stack_size: stack.len as u64,
        cgroup: cgroup.map_or(0, |fd| fd.as_raw_fd() as u64),
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
        let userns = namespaces.flags & libc::CLONE_NEWUSER != 0;
        if userns && matches!(-ret as i32, libc::EPERM | libc::ENOSPC | libc::EUSERS) {
            return Err(SpawnError::Unsupported {
                mechanism: "a user namespace",
                reason: format!(
                    "{clone_call} with CLONE_NEWUSER: {err}; allow them on this host, or make \
                     Processes best effort to run on Landlock and seccomp alone"
                ),
            });
        }
        return Err(SpawnError::Os {
            what: clone_call,
            source: err,
        });
    }
    // SAFETY: clone3 stored a new pidfd that we now own.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd_raw) };
    let inflight = InFlight(Some(Parts {
        plan,
        stack,
        pidfd,
        report,
    }));
    rustix::io::ioctl_fionbio(inflight.report(), true)
        .map_err(|e| crate::error::os_err("making the report pipe non-blocking")(e.into()))?;
    Ok((ret as u32, inflight))
}
