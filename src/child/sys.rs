//! Thin raw-syscall layer used between `clone3` and `execve`.
//!
//! Every function here is one system call made with inline assembly: it does not touch `errno`
//! (which lives in the thread-local storage that a `CLONE_VM` child shares with the thread that
//! spawned it), takes no lock and never allocates, so it is async-signal-safe and may run in the
//! sandbox's first process before it execs. Errors come back as the raw errno value.
//!
//! The doc line of each wrapper names the C call; see the man page of that call for the details.
//!
//! The child's lints (`child/mod.rs`: no indexing, arithmetic, `unwrap`, `expect` or `panic!`)
//! apply here too.

use core::ffi::{c_int, CStr};

/// An errno value returned by a failed raw system call.
pub type Errno = i32;

/// Result of a raw system call: the non-negative return value, or the errno.
pub type SysResult = Result<usize, Errno>;

/// Converts the kernel's return convention (`-4095..=-1` is `-errno`) into a `Result`.
#[inline(always)]
fn check(ret: isize) -> SysResult {
    if (-4095..0).contains(&ret) {
        Err(ret.unsigned_abs() as Errno)
    } else {
        Ok(ret as usize)
    }
}

#[cfg(target_arch = "x86_64")]
mod arch {
    /// Issues system call `nr` with six arguments.
    ///
    /// # Safety
    /// The caller must pass arguments valid for that system call.
    #[inline(always)]
    pub unsafe fn syscall6(nr: usize, a: [usize; 6]) -> isize {
        let ret: isize;
        // SAFETY: the `syscall` instruction clobbers only rax (result), rcx and r11; the caller
        // guarantees the arguments are valid for `nr`.
        unsafe {
            core::arch::asm!(
                "syscall",
                inlateout("rax") nr as isize => ret,
                in("rdi") a[0], in("rsi") a[1], in("rdx") a[2],
                in("r10") a[3], in("r8") a[4], in("r9") a[5],
                lateout("rcx") _, lateout("r11") _,
                options(nostack)
            );
        }
        ret
    }
}

#[cfg(target_arch = "aarch64")]
mod arch {
    /// Issues system call `nr` with six arguments.
    ///
    /// # Safety
    /// The caller must pass arguments valid for that system call.
    #[inline(always)]
    pub unsafe fn syscall6(nr: usize, a: [usize; 6]) -> isize {
        let ret: isize;
        // SAFETY: `svc 0` returns in x0 and clobbers nothing else; the caller guarantees the
        // arguments are valid for `nr`.
        unsafe {
            core::arch::asm!(
                "svc 0",
                in("x8") nr,
                inlateout("x0") a[0] as isize => ret,
                in("x1") a[1], in("x2") a[2], in("x3") a[3], in("x4") a[4], in("x5") a[5],
                options(nostack)
            );
        }
        ret
    }
}

/// Issues a raw system call with up to six arguments; unused ones are zero.
///
/// # Safety
/// The arguments must be valid for system call `nr` (pointers to live memory of the right type).
#[inline(always)]
unsafe fn syscall<const N: usize>(nr: libc::c_long, args: [usize; N]) -> SysResult {
    // SAFETY: forwarded from the caller.
    check(unsafe { raw_syscall(nr, args) })
}

/// As [`syscall`], with the kernel's return value as it is.
///
/// # Safety
/// As [`syscall`].
#[inline(always)]
unsafe fn raw_syscall<const N: usize>(nr: libc::c_long, args: [usize; N]) -> isize {
    const { assert!(N <= 6, "a system call takes at most six arguments") };
    let mut a = [0usize; 6];
    for (slot, arg) in a.iter_mut().zip(args) {
        *slot = arg;
    }
    // SAFETY: forwarded from the caller.
    unsafe { arch::syscall6(nr as usize, a) }
}

/// A file descriptor the child opened, closed when dropped (close(2)): the child's way to close
/// what it opens on every path, without allocating.
#[derive(Debug)]
pub struct Fd(c_int);

impl Fd {
    /// The descriptor number.
    pub fn raw(&self) -> c_int {
        self.0
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        let _ = close(self.0);
    }
}

/// An fd returned by a system call, owned from now on.
#[inline(always)]
fn fd(r: SysResult) -> Result<Fd, Errno> {
    r.map(|n| Fd(n as c_int))
}

#[inline(always)]
fn p<T>(ptr: *const T) -> usize {
    ptr as usize
}

#[inline(always)]
fn s(c: &CStr) -> usize {
    c.as_ptr() as usize
}

/// Opaque pointer for an optional C string argument (`NULL` when `None`).
#[inline(always)]
fn os(c: Option<&CStr>) -> usize {
    match c {
        Some(c) => s(c),
        None => 0,
    }
}

// ---- constants the libc crate lacks or declares with the wrong type -------------------------

/// `CLONE_CLEAR_SIGHAND` (Linux 5.5), a 64-bit clone3 flag: libc declares it as an overflowing
/// `c_int`.
pub const CLONE_CLEAR_SIGHAND: u64 = 0x1_0000_0000;
/// `CLONE_INTO_CGROUP` (Linux 5.7), as above.
pub const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// `LANDLOCK_CREATE_RULESET_VERSION` from `<linux/landlock.h>`.
pub const LANDLOCK_CREATE_RULESET_VERSION: u32 = 1;
/// `LANDLOCK_RULE_PATH_BENEATH` from `<linux/landlock.h>`.
pub const LANDLOCK_RULE_PATH_BENEATH: u32 = 1;
/// `LANDLOCK_RULE_NET_PORT` from `<linux/landlock.h>`.
pub const LANDLOCK_RULE_NET_PORT: u32 = 2;

/// `struct clone_args` from `<linux/sched.h>` (clone3(2)).
#[repr(C)]
#[derive(Default, Debug, Clone, Copy)]
pub struct CloneArgs {
    pub flags: u64,
    pub pidfd: u64,
    pub child_tid: u64,
    pub parent_tid: u64,
    pub exit_signal: u64,
    pub stack: u64,
    pub stack_size: u64,
    pub tls: u64,
    pub set_tid: u64,
    pub set_tid_size: u64,
    pub cgroup: u64,
}

/// `struct mount_attr` from `<linux/mount.h>` (mount_setattr(2)).
#[repr(C)]
#[derive(Default, Debug, Clone, Copy)]
pub struct MountAttr {
    pub attr_set: u64,
    pub attr_clr: u64,
    pub propagation: u64,
    pub userns_fd: u64,
}

/// `struct open_how` from `<linux/openat2.h>` (openat2(2)).
#[repr(C)]
#[derive(Default, Debug, Clone, Copy)]
pub struct OpenHow {
    pub flags: u64,
    pub mode: u64,
    pub resolve: u64,
}

/// `struct landlock_ruleset_attr` from `<linux/landlock.h>` (landlock_create_ruleset(2)).
#[repr(C)]
#[derive(Default, Debug, Clone, Copy)]
pub struct LandlockRulesetAttr {
    pub handled_access_fs: u64,
    pub handled_access_net: u64,
    pub scoped: u64,
}

/// `struct landlock_path_beneath_attr` (packed) from `<linux/landlock.h>` (landlock_add_rule(2)).
#[repr(C, packed)]
#[derive(Default, Debug, Clone, Copy)]
pub struct LandlockPathBeneathAttr {
    pub allowed_access: u64,
    pub parent_fd: i32,
}

/// `struct landlock_net_port_attr` from `<linux/landlock.h>` (landlock_add_rule(2)).
#[repr(C)]
#[derive(Default, Debug, Clone, Copy)]
pub struct LandlockNetPortAttr {
    pub allowed_access: u64,
    pub port: u64,
}

/// `struct sock_fprog` from `<linux/filter.h>` (seccomp(2)).
#[repr(C)]
pub struct SockFprog {
    pub len: u16,
    pub filter: *const seccompiler::sock_filter,
}

/// `struct ifreq` reduced to the name and flags members used for `SIOCSIFFLAGS` (netdevice(7)).
#[repr(C)]
pub struct IfreqFlags {
    pub name: [u8; 16],
    pub flags: i16,
    pub _pad: [u8; 22],
}

// ---- wrappers, one per system call -----------------------------------------------------------

/// `write(fd, buf, len)`
pub fn write(fd: c_int, buf: &[u8]) -> SysResult {
    // SAFETY: buf is a live slice of len bytes.
    unsafe { syscall(libc::SYS_write, [fd as usize, p(buf.as_ptr()), buf.len()]) }
}

/// `read(fd, buf, len)`
pub fn read(fd: c_int, buf: &mut [u8]) -> SysResult {
    // SAFETY: buf is a live, writable slice of len bytes.
    unsafe {
        syscall(
            libc::SYS_read,
            [fd as usize, p(buf.as_mut_ptr()), buf.len()],
        )
    }
}

/// `close(fd)`
pub fn close(fd: c_int) -> SysResult {
    // SAFETY: closing an fd number has no memory-safety requirement in the child.
    unsafe { syscall(libc::SYS_close, [fd as usize]) }
}

/// `openat(dirfd, path, flags, mode)`
pub fn openat(dirfd: c_int, path: &CStr, flags: c_int, mode: u32) -> Result<Fd, Errno> {
    // SAFETY: path is NUL-terminated.
    fd(unsafe {
        syscall(
            libc::SYS_openat,
            [dirfd as usize, s(path), flags as usize, mode as usize],
        )
    })
}

/// `statx(fd, "", AT_EMPTY_PATH, STATX_TYPE | STATX_INO | STATX_BTIME)`: the identity of what
/// `fd` refers to (an `O_PATH` fd too), as [`Pin::of`](crate::policy::Pin) takes it on a path.
pub fn statx_pin(fd: c_int) -> Result<crate::policy::Pin, Errno> {
    // SAFETY: struct statx is plain data; all zeroes is a valid value.
    let mut st: libc::statx = unsafe { core::mem::zeroed() };
    let want = libc::STATX_TYPE | libc::STATX_INO | libc::STATX_BTIME;
    // SAFETY: the path is NUL-terminated; statx writes into `st`, which is live.
    unsafe {
        syscall(
            libc::SYS_statx,
            [
                fd as usize,
                s(c""),
                libc::AT_EMPTY_PATH as usize,
                want as usize,
                p(&mut st as *mut libc::statx),
            ],
        )
    }?;
    let btime = st.stx_mask & libc::STATX_BTIME != 0;
    Ok(crate::policy::Pin {
        dev_major: st.stx_dev_major,
        dev_minor: st.stx_dev_minor,
        ino: st.stx_ino,
        file_type: st.stx_mode & libc::S_IFMT as u16,
        btime: btime.then_some((st.stx_btime.tv_sec, st.stx_btime.tv_nsec)),
    })
}

/// `openat2(dirfd, path, &how, sizeof how)`
pub fn openat2(dirfd: c_int, path: &CStr, how: &OpenHow) -> Result<Fd, Errno> {
    // SAFETY: path is NUL-terminated and how points to a live open_how.
    fd(unsafe {
        syscall(
            libc::SYS_openat2,
            [
                dirfd as usize,
                s(path),
                p(how),
                core::mem::size_of::<OpenHow>(),
            ],
        )
    })
}

/// `mkdirat(dirfd, path, mode)`
pub fn mkdirat(dirfd: c_int, path: &CStr, mode: u32) -> SysResult {
    // SAFETY: path is NUL-terminated.
    unsafe { syscall(libc::SYS_mkdirat, [dirfd as usize, s(path), mode as usize]) }
}

/// `symlinkat(target, newdirfd, linkpath)`
pub fn symlinkat(target: &CStr, dirfd: c_int, path: &CStr) -> SysResult {
    // SAFETY: both strings are NUL-terminated.
    unsafe { syscall(libc::SYS_symlinkat, [s(target), dirfd as usize, s(path)]) }
}

/// `unlinkat(dirfd, path, flags)`
pub fn unlinkat(dirfd: c_int, path: &CStr, flags: c_int) -> SysResult {
    // SAFETY: path is NUL-terminated.
    unsafe {
        syscall(
            libc::SYS_unlinkat,
            [dirfd as usize, s(path), flags as usize],
        )
    }
}

/// `chdir(path)`
pub fn chdir(path: &CStr) -> SysResult {
    // SAFETY: path is NUL-terminated.
    unsafe { syscall(libc::SYS_chdir, [s(path)]) }
}

/// `mount(source, target, fstype, flags, data)`
pub fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: u64,
    data: Option<&CStr>,
) -> SysResult {
    // SAFETY: all strings are NUL-terminated or NULL.
    unsafe {
        syscall(
            libc::SYS_mount,
            [os(source), s(target), os(fstype), flags as usize, os(data)],
        )
    }
}

/// `umount2(target, flags)`
pub fn umount2(target: &CStr, flags: c_int) -> SysResult {
    // SAFETY: target is NUL-terminated.
    unsafe { syscall(libc::SYS_umount2, [s(target), flags as usize]) }
}

/// `pivot_root(new_root, put_old)`
pub fn pivot_root(new_root: &CStr, put_old: &CStr) -> SysResult {
    // SAFETY: both strings are NUL-terminated.
    unsafe { syscall(libc::SYS_pivot_root, [s(new_root), s(put_old)]) }
}

/// `open_tree(dirfd, path, flags)`
pub fn open_tree(dirfd: c_int, path: &CStr, flags: u32) -> Result<Fd, Errno> {
    // SAFETY: path is NUL-terminated.
    fd(unsafe {
        syscall(
            libc::SYS_open_tree,
            [dirfd as usize, s(path), flags as usize],
        )
    })
}

/// `move_mount(from_dirfd, from_path, to_dirfd, to_path, flags)`
pub fn move_mount(
    from_dirfd: c_int,
    from_path: &CStr,
    to_dirfd: c_int,
    to_path: &CStr,
    flags: u32,
) -> SysResult {
    // SAFETY: both strings are NUL-terminated.
    unsafe {
        syscall(
            libc::SYS_move_mount,
            [
                from_dirfd as usize,
                s(from_path),
                to_dirfd as usize,
                s(to_path),
                flags as usize,
            ],
        )
    }
}

/// `mount_setattr(dirfd, path, flags, &attr, sizeof attr)`
pub fn mount_setattr(dirfd: c_int, path: &CStr, flags: u32, attr: &MountAttr) -> SysResult {
    // SAFETY: path is NUL-terminated; attr points to a live mount_attr.
    unsafe {
        syscall(
            libc::SYS_mount_setattr,
            [
                dirfd as usize,
                s(path),
                flags as usize,
                p(attr),
                core::mem::size_of::<MountAttr>(),
            ],
        )
    }
}

/// `sethostname(name, len)`
pub fn sethostname(name: &[u8]) -> SysResult {
    // SAFETY: name is a live slice.
    unsafe { syscall(libc::SYS_sethostname, [p(name.as_ptr()), name.len()]) }
}

/// `socket(domain, type, protocol)`
pub fn socket(domain: c_int, ty: c_int, protocol: c_int) -> Result<Fd, Errno> {
    // SAFETY: no pointer arguments.
    fd(unsafe {
        syscall(
            libc::SYS_socket,
            [domain as usize, ty as usize, protocol as usize],
        )
    })
}

/// `ioctl(fd, SIOCSIFFLAGS, ifr)`: sets an interface's flags (netdevice(7)).
/// `ioctl(fd, TIOCNOTTY)`: the calling process (not a session leader) gives up its controlling
/// terminal, which `fd` must be (ioctl_tty(2)).
pub fn give_up_controlling_terminal(fd: c_int) -> SysResult {
    // SAFETY: TIOCNOTTY takes no argument.
    unsafe { syscall(libc::SYS_ioctl, [fd as usize, libc::TIOCNOTTY as usize]) }
}

pub fn set_interface_flags(fd: c_int, ifr: &IfreqFlags) -> SysResult {
    // SAFETY: ifr has the layout SIOCSIFFLAGS reads (the name, then the flags member of the
    // union, padded to the size of struct ifreq); the kernel only reads it.
    unsafe {
        syscall(
            libc::SYS_ioctl,
            [fd as usize, libc::SIOCSIFFLAGS as usize, p(ifr)],
        )
    }
}

/// `fcntl(fd, F_DUPFD_CLOEXEC, min)`: a close-on-exec copy of `fd` at the lowest free number
/// at or above `min`.
pub fn dup_cloexec_at_least(fd: c_int, min: c_int) -> SysResult {
    // SAFETY: F_DUPFD_CLOEXEC takes an integer argument.
    unsafe {
        syscall(
            libc::SYS_fcntl,
            [fd as usize, libc::F_DUPFD_CLOEXEC as usize, min as usize],
        )
    }
}

/// `fcntl(fd, F_SETFD, 0)`: clears close-on-exec.
pub fn clear_cloexec(fd: c_int) -> SysResult {
    // SAFETY: F_SETFD takes an integer argument.
    unsafe { syscall(libc::SYS_fcntl, [fd as usize, libc::F_SETFD as usize, 0]) }
}

/// `dup3(oldfd, newfd, flags)`
pub fn dup3(oldfd: c_int, newfd: c_int, flags: c_int) -> SysResult {
    // SAFETY: no pointer arguments.
    unsafe {
        syscall(
            libc::SYS_dup3,
            [oldfd as usize, newfd as usize, flags as usize],
        )
    }
}

/// `close_range(first, last, flags)`
pub fn close_range(first: u32, last: u32, flags: u32) -> SysResult {
    // SAFETY: no pointer arguments.
    unsafe {
        syscall(
            libc::SYS_close_range,
            [first as usize, last as usize, flags as usize],
        )
    }
}

/// `prctl(option, arg2, 0, 0, 0)` for an option whose argument is an integer.
///
/// # Safety
/// `option` must take an integer second argument and no pointer.
unsafe fn prctl_int(option: c_int, arg2: usize) -> SysResult {
    // SAFETY: forwarded from the caller.
    unsafe { syscall(libc::SYS_prctl, [option as usize, arg2, 0, 0, 0]) }
}

/// `prctl(PR_SET_SECUREBITS, bits)`
pub fn set_securebits(bits: u32) -> SysResult {
    // SAFETY: PR_SET_SECUREBITS takes the bits as an integer.
    unsafe { prctl_int(libc::PR_SET_SECUREBITS, bits as usize) }
}

/// `prctl(PR_CAPBSET_DROP, cap)`
pub fn capbset_drop(cap: u32) -> SysResult {
    // SAFETY: PR_CAPBSET_DROP takes the capability number as an integer.
    unsafe { prctl_int(libc::PR_CAPBSET_DROP, cap as usize) }
}

/// `prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)`
pub fn cap_ambient_clear_all() -> SysResult {
    // SAFETY: PR_CAP_AMBIENT takes integer arguments.
    unsafe {
        prctl_int(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as usize,
        )
    }
}

/// `prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)`
pub fn set_no_new_privs() -> SysResult {
    // SAFETY: PR_SET_NO_NEW_PRIVS takes integer arguments.
    unsafe { prctl_int(libc::PR_SET_NO_NEW_PRIVS, 1) }
}

/// `setresuid(r, e, s)` (the per-thread system call, not glibc's process-wide broadcast).
pub fn setresuid(uid: u32) -> SysResult {
    // SAFETY: no pointer arguments.
    unsafe {
        syscall(
            libc::SYS_setresuid,
            [uid as usize, uid as usize, uid as usize],
        )
    }
}

/// `setresgid(r, e, s)` (the per-thread system call).
pub fn setresgid(gid: u32) -> SysResult {
    // SAFETY: no pointer arguments.
    unsafe {
        syscall(
            libc::SYS_setresgid,
            [gid as usize, gid as usize, gid as usize],
        )
    }
}

/// `setgroups(0, NULL)`: drops every supplementary group.
pub fn setgroups_empty() -> SysResult {
    // SAFETY: size 0 with a NULL list.
    unsafe { syscall(libc::SYS_setgroups, [0, 0]) }
}

/// `capset(&header, data)` with every set empty.
pub fn capset_empty() -> SysResult {
    // _LINUX_CAPABILITY_VERSION_3, pid 0 (self); two struct __user_cap_data_struct, all zero.
    let header = [0x2008_0522u32, 0];
    let data = [0u32; 6];
    // SAFETY: header and data have the layout capset(2) expects for version 3.
    unsafe { syscall(libc::SYS_capset, [p(header.as_ptr()), p(data.as_ptr())]) }
}

/// `setsid()`
pub fn setsid() -> SysResult {
    // SAFETY: no arguments.
    unsafe { syscall(libc::SYS_setsid, []) }
}

/// `prlimit64(0, resource, &new, NULL)`
pub fn setrlimit(resource: u32, cur: u64, max: u64) -> SysResult {
    let lim = [cur, max];
    // SAFETY: lim has the layout of struct rlimit64.
    unsafe {
        syscall(
            libc::SYS_prlimit64,
            [0, resource as usize, p(lim.as_ptr()), 0],
        )
    }
}

/// `rt_sigaction(sig, &{SIG_DFL}, NULL, 8)`
pub fn signal_default(sig: c_int) -> SysResult {
    // struct kernel_sigaction: handler, flags, restorer, mask (one u64 on x86_64 and aarch64).
    let act = [0usize; 4];
    // SAFETY: act has the kernel sigaction layout with a SIG_DFL handler.
    unsafe {
        syscall(
            libc::SYS_rt_sigaction,
            [sig as usize, p(act.as_ptr()), 0, 8],
        )
    }
}

/// `landlock_create_ruleset(&attr, sizeof attr, 0)`
pub fn landlock_create_ruleset(attr: &LandlockRulesetAttr) -> Result<Fd, Errno> {
    // SAFETY: attr points to a live ruleset attribute.
    fd(unsafe {
        syscall(
            libc::SYS_landlock_create_ruleset,
            [p(attr), core::mem::size_of::<LandlockRulesetAttr>(), 0],
        )
    })
}

/// `landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)`: the ABI version.
pub fn landlock_abi_version() -> SysResult {
    // SAFETY: NULL attribute with the version flag.
    unsafe {
        syscall(
            libc::SYS_landlock_create_ruleset,
            [0, 0, LANDLOCK_CREATE_RULESET_VERSION as usize],
        )
    }
}

/// `landlock_add_rule(ruleset_fd, LANDLOCK_RULE_PATH_BENEATH, &attr, 0)`
pub fn landlock_add_path_rule(ruleset: c_int, attr: &LandlockPathBeneathAttr) -> SysResult {
    // SAFETY: attr points to a live, packed path-beneath attribute.
    unsafe {
        syscall(
            libc::SYS_landlock_add_rule,
            [
                ruleset as usize,
                LANDLOCK_RULE_PATH_BENEATH as usize,
                p(attr),
                0,
            ],
        )
    }
}

/// `landlock_add_rule(ruleset_fd, LANDLOCK_RULE_NET_PORT, &attr, 0)`
pub fn landlock_add_net_rule(ruleset: c_int, attr: &LandlockNetPortAttr) -> SysResult {
    // SAFETY: attr points to a live net-port attribute.
    unsafe {
        syscall(
            libc::SYS_landlock_add_rule,
            [
                ruleset as usize,
                LANDLOCK_RULE_NET_PORT as usize,
                p(attr),
                0,
            ],
        )
    }
}

/// `landlock_restrict_self(ruleset_fd, flags)`
pub fn landlock_restrict_self(ruleset: c_int, flags: u32) -> SysResult {
    // SAFETY: no pointer arguments.
    unsafe {
        syscall(
            libc::SYS_landlock_restrict_self,
            [ruleset as usize, flags as usize],
        )
    }
}

/// `seccomp(SECCOMP_SET_MODE_FILTER, 0, &prog)`
pub fn seccomp_set_filter(prog: &SockFprog) -> SysResult {
    // SAFETY: prog points to a live sock_fprog whose filter array outlives the call.
    unsafe { syscall(libc::SYS_seccomp, [1, 0, p(prog)]) }
}

/// `execveat(dirfd, "", argv, envp, AT_EMPTY_PATH)`: executes the file behind `fd`. Returns
/// only when it fails, with the errno.
///
/// # Safety
/// `argv` and `envp` must be NULL-terminated arrays of pointers to NUL-terminated strings.
pub unsafe fn execveat_fd(
    fd: c_int,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
) -> Errno {
    // SAFETY: forwarded from the caller; the path is the empty string.
    let ret = unsafe {
        raw_syscall(
            libc::SYS_execveat,
            [
                fd as usize,
                s(c""),
                argv as usize,
                envp as usize,
                libc::AT_EMPTY_PATH as usize,
            ],
        )
    };
    ret.unsigned_abs() as Errno
}

/// `exit_group(code)`: never returns.
pub fn exit_group(code: c_int) -> ! {
    loop {
        // SAFETY: exit_group takes an integer and does not return.
        let _ = unsafe { raw_syscall(libc::SYS_exit_group, [code as usize]) };
    }
}
