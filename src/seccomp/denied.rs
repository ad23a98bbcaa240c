//! The system calls the default filter refuses with `EPERM`, how each is matched and why.

/// How a denied call is matched.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Match {
    /// Every call.
    Always,
    /// `CLONE_NEWUSER` set in the flags argument at this index (nested user namespaces are the
    /// way back to capabilities).
    NewUserFlag(u8),
    /// The `ioctl` request (32-bit compare, as the kernel truncates it) is `TIOCSTI` or
    /// `TIOCLINUX`, which inject input into a terminal.
    TerminalInjection,
    /// The `ioctl` request (32-bit compare) is one of [`TERMINAL_STATE_REQUESTS`], whose effect
    /// on a terminal outlasts the run: on the caller's terminal given as stdio, it would stay
    /// after the sandbox has ended.
    TerminalState,
    /// A `personality` other than the safe set Docker also allows
    /// (`PER_LINUX`, `PER_LINUX32`, `UNAME26`, `UNAME26|PER_LINUX32`, the query `0xffffffff`).
    UnsafePersonality,
    /// A mode argument (at this index) with the set-user-ID or set-group-ID bit: a file with
    /// either bit written into a read-write path would stay setuid on the host, where
    /// `nosuid` does not apply.
    SetIdMode(u8),
    /// As [`Match::SetIdMode`], only when the flags at the first index include `O_CREAT` or
    /// `O_TMPFILE` (the kernel ignores the mode otherwise).
    SetIdModeOnCreate(u8, u8),
    /// `socket(AF_VSOCK, ...)`: vsock is not isolated by network namespaces and reaches the
    /// hypervisor and host services.
    VsockSocket,
    /// As [`Match::SetIdMode`], and also a character or block device type in that mode.
    /// Without capabilities the kernel refuses devices already, except the 0:0 character
    /// device, an overlayfs whiteout, which would hide files if the directory became an overlay
    /// layer.
    SetIdOrDeviceMode(u8),
    /// `socket(AF_NETLINK, _, NETLINK_KOBJECT_UEVENT)`: the kernel broadcasts device events to
    /// every network namespace owned by the initial user namespace, which includes the
    /// prepared network namespaces a root caller's sandboxes join.
    UeventSocket,
    /// The pid argument at this index is 1: the sandbox's init, which runs as the program's uid
    /// and must keep its share of the CPU, for the timeout and the lifeline.
    Pid1(u8),
    /// A `which, who` call (setpriority(2), ioprio_set(2)) that reaches the sandbox's init: the
    /// process form (`which` is the first value) naming pid 1, and the process-group and user
    /// forms (the second and third values) whatever they name, as init shares the program's
    /// process group and uid.
    PriorityReachingPid1([u32; 3]),
    /// `prlimit64(1, resource, new, old)` with a new limit: changing the limits of the sandbox's
    /// init (reading them is allowed).
    SetLimitOfPid1,
    /// `fcntl(fd, F_SETLEASE, _)`: a lease on a file bound from the host makes every host
    /// process that opens it for writing (or truncates it) wait up to
    /// `fs.lease-break-time` (45 s by default), root's included.
    Lease,
    /// Every call, unless the policy lets the program trace its own processes
    /// ([`Policy::ptrace`](crate::Policy::ptrace), the default where a pid namespace or
    /// Landlock confines tracing to the sandbox).
    Tracing,
}

/// setpriority(2)'s `which` values (`sys/resource.h`; libc's type differs between C
/// libraries).
pub(super) const PRIO_PROCESS: u32 = 0;
pub(super) const PRIO_PGRP: u32 = 1;
pub(super) const PRIO_USER: u32 = 2;

/// ioprio_set(2)'s `which` values (`linux/ioprio.h`; libc has no constants).
pub(super) const IOPRIO_WHO_PROCESS: u32 = 1;
pub(super) const IOPRIO_WHO_PGRP: u32 = 2;
pub(super) const IOPRIO_WHO_USER: u32 = 3;

/// `ioctl` requests refused because they change a terminal beyond the run (tty_ioctl(4)):
/// `TIOCSETD` sets the line discipline (and, with `dev.tty.ldisc_autoload`, loads the kernel
/// module of one not loaded yet), `TIOCEXCL` puts the terminal in exclusive mode (every later
/// open of it by an unprivileged process fails with `EBUSY`, also after the run), `TIOCNXCL`
/// takes that mode away from a terminal its owner put in it, `TCXONC` stops (or restarts) its
/// output (tcflow(3): stopped output stays stopped after the run) and `TIOCSSERIAL` changes a
/// serial port's settings. Modes (`tcsetattr`) and the window size stay allowed: SECURITY.md
/// says so.
// The request type is libc's `Ioctl`, `c_ulong` or `c_int` after the C library.
#[allow(clippy::unnecessary_cast)]
pub const TERMINAL_STATE_REQUESTS: &[(&str, u64)] = &[
    ("TIOCSETD", libc::TIOCSETD as u64),
    ("TIOCEXCL", libc::TIOCEXCL as u64),
    ("TIOCNXCL", libc::TIOCNXCL as u64),
    ("TCXONC", libc::TCXONC as u64),
    ("TIOCSSERIAL", libc::TIOCSSERIAL as u64),
];

/// System calls denied with `EPERM`, with the reason.
pub const DENIED: &[(&str, i64, Match, &str)] = &[
    (
        "socket",
        libc::SYS_socket,
        Match::VsockSocket,
        "vsock is not namespaced",
    ),
    (
        "socket",
        libc::SYS_socket,
        Match::UeventSocket,
        "the host's device events",
    ),
    (
        "chmod",
        libc::SYS_chmod,
        Match::SetIdMode(1),
        "setuid files on the host",
    ),
    (
        "fchmod",
        libc::SYS_fchmod,
        Match::SetIdMode(1),
        "setuid files on the host",
    ),
    (
        "fchmodat",
        libc::SYS_fchmodat,
        Match::SetIdMode(2),
        "setuid files on the host",
    ),
    (
        "fchmodat2",
        452,
        Match::SetIdMode(2),
        "setuid files on the host",
    ),
    (
        "mknod",
        libc::SYS_mknod,
        Match::SetIdOrDeviceMode(1),
        "setuid files and device nodes (overlayfs whiteouts, 0:0) on the host",
    ),
    (
        "mknodat",
        libc::SYS_mknodat,
        Match::SetIdOrDeviceMode(2),
        "setuid files and device nodes (overlayfs whiteouts, 0:0) on the host",
    ),
    (
        "open",
        libc::SYS_open,
        Match::SetIdModeOnCreate(1, 2),
        "setuid files on the host",
    ),
    (
        "openat",
        libc::SYS_openat,
        Match::SetIdModeOnCreate(2, 3),
        "setuid files on the host",
    ),
    (
        "creat",
        libc::SYS_creat,
        Match::SetIdMode(1),
        "setuid files on the host",
    ),
    (
        "unshare",
        libc::SYS_unshare,
        Match::NewUserFlag(0),
        "a nested user namespace regains capabilities",
    ),
    (
        "clone",
        libc::SYS_clone,
        Match::NewUserFlag(0),
        "a nested user namespace regains capabilities",
    ),
    (
        "setns",
        libc::SYS_setns,
        Match::Always,
        "joining another namespace",
    ),
    (
        "mount",
        libc::SYS_mount,
        Match::Always,
        "changing the filesystem view",
    ),
    (
        "umount2",
        libc::SYS_umount2,
        Match::Always,
        "uncovering what a mount hides",
    ),
    (
        "pivot_root",
        libc::SYS_pivot_root,
        Match::Always,
        "changing the root",
    ),
    (
        "chroot",
        libc::SYS_chroot,
        Match::Always,
        "changing the root",
    ),
    (
        "open_tree",
        libc::SYS_open_tree,
        Match::Always,
        "new mount API",
    ),
    (
        "move_mount",
        libc::SYS_move_mount,
        Match::Always,
        "new mount API",
    ),
    ("fsopen", libc::SYS_fsopen, Match::Always, "new mount API"),
    (
        "fsconfig",
        libc::SYS_fsconfig,
        Match::Always,
        "new mount API",
    ),
    ("fsmount", libc::SYS_fsmount, Match::Always, "new mount API"),
    ("fspick", libc::SYS_fspick, Match::Always, "new mount API"),
    (
        "mount_setattr",
        libc::SYS_mount_setattr,
        Match::Always,
        "changing mount flags",
    ),
    ("open_tree_attr", 467, Match::Always, "new mount API"),
    (
        "keyctl",
        libc::SYS_keyctl,
        Match::Always,
        "kernel keyrings are not namespaced",
    ),
    (
        "add_key",
        libc::SYS_add_key,
        Match::Always,
        "kernel keyrings are not namespaced",
    ),
    (
        "request_key",
        libc::SYS_request_key,
        Match::Always,
        "kernel keyrings are not namespaced",
    ),
    (
        "bpf",
        libc::SYS_bpf,
        Match::Always,
        "large kernel attack surface",
    ),
    (
        "perf_event_open",
        libc::SYS_perf_event_open,
        Match::Always,
        "side channels and kernel attack surface",
    ),
    (
        "userfaultfd",
        libc::SYS_userfaultfd,
        Match::Always,
        "used to widen kernel race windows",
    ),
    (
        "ptrace",
        libc::SYS_ptrace,
        Match::Tracing,
        "tracing other processes; denied with \
         Policy::ptrace(false), or where no pid namespace or Landlock confines it",
    ),
    (
        "process_vm_readv",
        libc::SYS_process_vm_readv,
        Match::Tracing,
        "reading other processes' memory; denied with \
         Policy::ptrace(false), or where no pid namespace or Landlock confines it",
    ),
    (
        "process_vm_writev",
        libc::SYS_process_vm_writev,
        Match::Tracing,
        "writing other processes' memory; denied with \
         Policy::ptrace(false), or where no pid namespace or Landlock confines it",
    ),
    (
        "pidfd_getfd",
        libc::SYS_pidfd_getfd,
        Match::Tracing,
        "taking other processes' fds; denied with \
         Policy::ptrace(false), or where no pid namespace or Landlock confines it",
    ),
    (
        "kexec_load",
        libc::SYS_kexec_load,
        Match::Always,
        "loading a new kernel",
    ),
    (
        "kexec_file_load",
        libc::SYS_kexec_file_load,
        Match::Always,
        "loading a new kernel",
    ),
    (
        "init_module",
        libc::SYS_init_module,
        Match::Always,
        "loading kernel modules",
    ),
    (
        "finit_module",
        libc::SYS_finit_module,
        Match::Always,
        "loading kernel modules",
    ),
    (
        "delete_module",
        libc::SYS_delete_module,
        Match::Always,
        "unloading kernel modules",
    ),
    (
        "acct",
        libc::SYS_acct,
        Match::Always,
        "process accounting is host-wide",
    ),
    ("swapon", libc::SYS_swapon, Match::Always, "host-wide swap"),
    (
        "swapoff",
        libc::SYS_swapoff,
        Match::Always,
        "host-wide swap",
    ),
    ("reboot", libc::SYS_reboot, Match::Always, "host-wide"),
    (
        "syslog",
        libc::SYS_syslog,
        Match::Always,
        "the kernel log is host-wide",
    ),
    (
        "quotactl",
        libc::SYS_quotactl,
        Match::Always,
        "host-wide quotas",
    ),
    (
        "quotactl_fd",
        libc::SYS_quotactl_fd,
        Match::Always,
        "host-wide quotas",
    ),
    (
        "open_by_handle_at",
        libc::SYS_open_by_handle_at,
        Match::Always,
        "opens files by handle, past the mount view",
    ),
    (
        "fanotify_init",
        libc::SYS_fanotify_init,
        Match::Always,
        "watching host filesystems",
    ),
    (
        "ioctl",
        libc::SYS_ioctl,
        Match::TerminalInjection,
        "injecting input into the caller's terminal",
    ),
    (
        "ioctl",
        libc::SYS_ioctl,
        Match::TerminalState,
        "changing the caller's terminal beyond the run (line discipline, exclusive mode, stopped \
         output, serial settings)",
    ),
    (
        "fcntl",
        libc::SYS_fcntl,
        Match::Lease,
        "a lease blocks the host's writers of a bound file",
    ),
    (
        "sched_setscheduler",
        libc::SYS_sched_setscheduler,
        Match::Pid1(0),
        "starving init (SCHED_IDLE) delays the timeout and the lifeline",
    ),
    (
        "sched_setparam",
        libc::SYS_sched_setparam,
        Match::Pid1(0),
        "starving init delays the timeout and the lifeline",
    ),
    (
        "sched_setattr",
        libc::SYS_sched_setattr,
        Match::Pid1(0),
        "starving init delays the timeout and the lifeline",
    ),
    (
        "sched_setaffinity",
        libc::SYS_sched_setaffinity,
        Match::Pid1(0),
        "pinning init to a CPU the program keeps busy",
    ),
    (
        "setpriority",
        libc::SYS_setpriority,
        Match::PriorityReachingPid1([PRIO_PROCESS, PRIO_PGRP, PRIO_USER]),
        "lowering init's priority (the group and user forms reach it too)",
    ),
    (
        "ioprio_set",
        libc::SYS_ioprio_set,
        Match::PriorityReachingPid1([IOPRIO_WHO_PROCESS, IOPRIO_WHO_PGRP, IOPRIO_WHO_USER]),
        "lowering init's I/O priority (the group and user forms reach it too)",
    ),
    (
        "prlimit64",
        libc::SYS_prlimit64,
        Match::SetLimitOfPid1,
        "changing init's resource limits",
    ),
    (
        "personality",
        libc::SYS_personality,
        Match::UnsafePersonality,
        "flags that weaken ASLR or enable legacy behaviour",
    ),
];
