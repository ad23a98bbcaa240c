//! A Landlock domain of its own for each command (landlock(7),
//! `Documentation/userspace-api/landlock.rst`).
//!
//! The commands of a running sandbox run as one uid in one pid namespace. In one Landlock
//! domain, a process left behind by one command could trace a later command (`ptrace(2)`),
//! read its `/proc/PID/environ` and memory, copy its descriptors (`pidfd_getfd(2)`) and, with
//! `kill(-1, SIGSTOP)`, stop init's new process before it execs, which holds init in its vfork
//! wait. So each command's process enters a domain nested in the sandbox's (and in init's)
//! before it execs: the commands become sibling domains. Landlock lets a process trace, read the
//! memory and environment of, and take descriptors from only processes of its own domain or of
//! domains nested in it; with the scopes of ABI 6 it also lets it signal, and connect to the
//! abstract unix sockets of, only those. A command's own processes stay in its domain (or
//! below), so it still traces, signals and talks to them as before.
//!
//! The ruleset changes no access: with ABI 6 it has the two scopes and handles no access right;
//! below, it handles only `LANDLOCK_ACCESS_FS_MAKE_BLOCK`, which no process of a sandbox holds
//! anyway (making a block device needs `CAP_MKNOD` in the host's user namespace; such a
//! `mknod(2)` now fails with `EACCES` before the capability check's `EPERM`).
//!
//! Init makes the ruleset once, when it starts serving; the command's process makes one
//! system call on it, `landlock_restrict_self(2)` (`no_new_privs` is set for the whole
//! sandbox). Without Landlock in the kernel there is no ruleset, and the commands of a sandbox
//! share one domain.

use core::sync::atomic::{AtomicIsize, Ordering};

use crate::syscall;

const SYS_LANDLOCK_CREATE_RULESET: usize = 444;
const SYS_LANDLOCK_RESTRICT_SELF: usize = 446;
const LANDLOCK_CREATE_RULESET_VERSION: usize = 1;
const LANDLOCK_ACCESS_FS_MAKE_BLOCK: u64 = 1 << 11;
const LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET: u64 = 1 << 0;
const LANDLOCK_SCOPE_SIGNAL: u64 = 1 << 1;
/// The first ABI with scopes.
const ABI_SCOPES: isize = 6;

/// The ruleset each command's process enforces (close-on-exec, as every Landlock ruleset fd
/// is), or -1 without Landlock.
static RULESET: AtomicIsize = AtomicIsize::new(-1);

/// `struct landlock_ruleset_attr` (ABI 6 size; older kernels accept it with the later fields
/// zero).
#[repr(C)]
struct RulesetAttr {
    handled_access_fs: u64,
    handled_access_net: u64,
    scoped: u64,
}

/// Makes the commands' ruleset. Returns its fd, none (`Ok(None)`) when the kernel has no
/// Landlock, or the negative errno of `landlock_create_ruleset(2)` when it has Landlock but
/// the ruleset cannot be made.
pub(super) fn prepare() -> Result<Option<usize>, isize> {
    // SAFETY: the version query takes no pointer.
    let abi = unsafe {
        syscall(
            SYS_LANDLOCK_CREATE_RULESET,
            0,
            0,
            LANDLOCK_CREATE_RULESET_VERSION,
            0,
        )
    };
    if abi < 1 {
        // ENOSYS, EOPNOTSUPP (built but disabled), or refused by a filter around the host.
        return Ok(None);
    }
    let attr = if abi >= ABI_SCOPES {
        RulesetAttr {
            handled_access_fs: 0,
            handled_access_net: 0,
            scoped: LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | LANDLOCK_SCOPE_SIGNAL,
        }
    } else {
        RulesetAttr {
            handled_access_fs: LANDLOCK_ACCESS_FS_MAKE_BLOCK,
            handled_access_net: 0,
            scoped: 0,
        }
    };
    // SAFETY: a pointer to a local of the size passed.
    let fd = unsafe {
        syscall(
            SYS_LANDLOCK_CREATE_RULESET,
            &attr as *const RulesetAttr as usize,
            core::mem::size_of::<RulesetAttr>(),
            0,
            0,
        )
    };
    if fd < 0 {
        return Err(fd);
    }
    RULESET.store(fd, Ordering::Relaxed);
    Ok(Some(fd as usize))
}

/// In a command's process before it execs: enters its own domain. 0, or the negative errno of
/// `landlock_restrict_self(2)` (`E2BIG`: the sandbox is nested 16 domains deep already).
pub(super) fn enter() -> isize {
    let fd = RULESET.load(Ordering::Relaxed);
    if fd < 0 {
        return 0;
    }
    // SAFETY: integer arguments.
    unsafe { syscall(SYS_LANDLOCK_RESTRICT_SELF, fd as usize, 0, 0, 0) }
}
