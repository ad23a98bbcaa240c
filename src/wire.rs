//! The failure report the sandbox's first process, or its init, writes on the close-on-exec
//! report pipe, and the parent reads: one record, then EOF.
//!
//! Shared by the library and the init program (`src/init/main.rs` includes this file with
//! `#[path]`), so it holds only `core` items: no allocation, no panic, no formatting.
//!
//! A record is [`LEN`] bytes: six native-endian `u32` words, in this order:
//!
//! | word | meaning |
//! |---|---|
//! | 0 | [`MAGIC`]: the format and its version |
//! | 1 | the [`Stage`] that failed |
//! | 2 | the [`Call`] that failed |
//! | 3 | the index of the item the stage was working on, 0 when it goes through no list |
//! | 4 | the call's integer argument (signal, capability, rlimit resource), else 0 |
//! | 5 | the errno |
//!
//! The items a stage goes through: the mount operations, the id map files, the fds, the
//! Landlock rules, the seccomp programs, the rlimits.
//!
//! Exactly one record or nothing is written. EOF with nothing read means the program was
//! exec'd; anything but a whole record with a known magic, stage and call is refused by
//! [`Failure::decode`].

#![deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

/// The first word of a record: `tsr` (tokio-sandbox report) and the format version `1`.
pub const MAGIC: u32 = u32::from_le_bytes(*b"tsr1");

/// The length of a record in bytes.
pub const LEN: usize = 24;

/// Declares a `#[repr(u32)]` enum of the codes a record's word holds, and `from_u32`, which
/// reads a word back, from one list.
macro_rules! codes {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $($(#[$vmeta:meta])* $variant:ident = $code:literal,)*
        }
    ) => {
        $(#[$meta])*
        #[repr(u32)]
        $vis enum $name {
            $($(#[$vmeta])* $variant = $code,)*
        }

        impl $name {
            /// The value a record's word names, if it names one.
            pub(crate) fn from_u32(word: u32) -> Option<$name> {
                match word {
                    $($code => Some($name::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

codes! {
    /// The setup step in the sandbox's first process that failed.
    ///
    /// The child reports the stage, the call and the errno over a close-on-exec pipe;
    /// [`SpawnError::Setup`](crate::SpawnError::Setup) carries the stage together with the call
    /// and the path the failing step worked on.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    #[non_exhaustive]
    pub enum Stage {
        /// Writing `setgroups`, `gid_map` or `uid_map` of the new user namespace
        /// (user_namespaces(7)), or waiting for the parent to write them.
        IdMap = 1,
        /// Making the inherited mounts private and mounting the tmpfs root (mount(2)).
        RootTmpfs = 2,
        /// `pivot_root(2)` into the new root or detaching the old one (umount2(2)).
        PivotRoot = 3,
        /// Creating a directory or mount point in the new root (mkdirat(2)).
        Mkdir = 4,
        /// Recreating a symlink in the new root (symlinkat(2)).
        Symlink = 5,
        /// Bind-mounting a policy path (openat2(2), open_tree(2), mount_setattr(2), move_mount(2)).
        Bind = 6,
        /// Mounting a tmpfs (mount(2), tmpfs(5)).
        Tmpfs = 7,
        /// Mounting a fresh procfs (proc(5)).
        Proc = 8,
        /// Mounting devpts for `/dev/pts` (mount(2)).
        Devpts = 9,
        /// Writing a generated file such as `/etc/passwd`.
        File = 10,
        /// Making the root read-only (mount_setattr(2)).
        RootReadOnly = 11,
        /// Setting the hostname (sethostname(2)).
        Hostname = 12,
        /// Bringing the loopback interface up (netdevice(7), `SIOCSIFFLAGS`).
        Loopback = 13,
        /// Changing to the working directory (chdir(2)).
        Chdir = 14,
        /// Setting a resource limit (prlimit(2)).
        Rlimit = 15,
        /// Starting a new session (setsid(2)).
        Session = 16,
        /// Placing stdio and passed file descriptors (dup3(2), close_range(2)).
        Fds = 17,
        /// Switching to the sandbox's uid/gid and dropping supplementary groups (setresuid(2)).
        Identity = 18,
        /// Dropping capabilities and locking securebits (capabilities(7), prctl(2)).
        Capabilities = 19,
        /// Setting `PR_SET_NO_NEW_PRIVS` (prctl(2)).
        NoNewPrivs = 20,
        /// Creating or enforcing the Landlock ruleset (landlock(7)).
        Landlock = 21,
        /// Installing the seccomp filter (seccomp(2)).
        Seccomp = 22,
        /// Resetting signal dispositions and the mask (sigaction(2)).
        Signals = 23,
        /// `execve(2)` of the sandbox's init or of the program, and what init does to start it.
        Exec = 24,
        /// Making a path of the new root read-only, such as the host-wide knobs in `/proc/sys`
        /// (a read-only bind onto itself: open_tree(2), mount_setattr(2), move_mount(2)).
        ReadOnlyPath = 25,
        /// Covering a file of the new root, such as `/proc/kcore`, with the host's `/dev/null`
        /// (open_tree(2), move_mount(2)).
        MaskedPath = 26,
        /// The caller's terminal: binding an inherited one at `/dev/console` (open_tree(2),
        /// move_mount(2)), or leaving the caller's controlling terminal when the program stays
        /// in the caller's session without it on stdin (`TIOCNOTTY`).
        Terminal = 27,
    }
}

codes! {
    /// The system call that failed, with the argument that tells it apart where one stage makes
    /// the same call twice. Together with the stage it names one call site of the child or init.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Call {
        /// `rt_sigaction(sig, SIG_DFL)`; the record's argument is the signal.
        RtSigaction = 1,
        /// `openat(2)`.
        Openat = 2,
        /// `write(2)` (a short write is reported as `EIO`).
        Write = 3,
        /// `read(2)` of the pipe on which a root caller's parent says the id maps are written
        /// (`EPIPE`: the parent closed it first).
        ReadSync = 4,
        /// `setgroups(0, NULL)`.
        Setgroups = 5,
        /// `setresgid(2)`.
        Setresgid = 6,
        /// `setresuid(2)`.
        Setresuid = 7,
        /// `mount(NULL, "/", NULL, MS_REC | MS_PRIVATE)`: stop propagation to the host.
        MountPrivate = 8,
        /// `mount(2)` of a new filesystem (tmpfs, proc, devpts).
        Mount = 9,
        /// `chdir(2)`.
        Chdir = 10,
        /// `mkdirat(2)`.
        Mkdirat = 11,
        /// `pivot_root(".", ".oldroot")`.
        PivotRoot = 12,
        /// `chdir("/")` after `pivot_root`.
        ChdirNewRoot = 13,
        /// `umount2("/.oldroot", MNT_DETACH)`.
        Umount2 = 14,
        /// `unlinkat(AT_FDCWD, "/.oldroot", AT_REMOVEDIR)`.
        Unlinkat = 15,
        /// `mount_setattr(2)`.
        MountSetattr = 16,
        /// `symlinkat(2)`.
        Symlinkat = 17,
        /// `openat2(RESOLVE_NO_SYMLINKS)` of a bind's source.
        Openat2 = 18,
        /// `open_tree(OPEN_TREE_CLONE)`.
        OpenTree = 19,
        /// `move_mount(2)`.
        MoveMount = 20,
        /// `sethostname(2)`.
        Sethostname = 21,
        /// `socket(AF_INET, SOCK_DGRAM)` for the loopback ioctl.
        Socket = 22,
        /// `ioctl(SIOCSIFFLAGS)` bringing `lo` up.
        IoctlSetFlags = 23,
        /// `prlimit64(2)`; the record's argument is the resource.
        Prlimit = 24,
        /// `setsid(2)`.
        Setsid = 25,
        /// `fcntl(F_DUPFD_CLOEXEC)` of a source fd above every fd number in use.
        DupAbove = 26,
        /// `dup3(2)` onto the fd number the program gets.
        Dup3 = 27,
        /// `close_range(CLOSE_RANGE_CLOEXEC)`.
        CloseRange = 28,
        /// `prctl(PR_SET_SECUREBITS)`.
        SetSecurebits = 29,
        /// `prctl(PR_CAPBSET_DROP)`; the record's argument is the capability.
        CapbsetDrop = 30,
        /// `prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)`.
        CapAmbientClearAll = 31,
        /// `capset(2)` with every set empty.
        Capset = 32,
        /// `prctl(PR_SET_NO_NEW_PRIVS)`.
        SetNoNewPrivs = 33,
        /// `landlock_create_ruleset(2)`.
        LandlockCreateRuleset = 34,
        /// `landlock_add_rule(LANDLOCK_RULE_PATH_BENEATH)`.
        LandlockAddPathRule = 35,
        /// `landlock_add_rule(LANDLOCK_RULE_NET_PORT)`.
        LandlockAddNetRule = 36,
        /// `landlock_restrict_self(2)`.
        LandlockRestrictSelf = 37,
        /// `seccomp(SECCOMP_SET_MODE_FILTER)`.
        Seccomp = 38,
        /// `fcntl(F_SETFD, 0)` of an fd init keeps (report, status, lifeline pipe).
        ClearCloexec = 39,
        /// `execveat(AT_EMPTY_PATH)` of the init program's memfd.
        ExecInit = 40,
        /// init's `clone(SIGCHLD)` of the process that execs the program.
        ForkProgram = 41,
        /// init's `execve(2)` of the program.
        ExecProgram = 42,
        /// `prlimit64(RLIMIT_CORE, 0)`: no core dump of a process that shares the caller's memory.
        PrlimitCore = 43,
        /// `fstat(2)` of a policy path opened for a bind or a Landlock rule, whose device and
        /// inode must be those it had when it was given to the policy (`ESTALE`: they are not).
        SourceIdentity = 44,
        /// `ioctl(TIOCNOTTY)`: giving up the caller's controlling terminal.
        IoctlNotty = 45,
        /// init's `recvmsg(2)` of a command request from the library (`EMSGSIZE`: too long,
        /// `EMFILE`: too many descriptors, `EBADMSG`: not a request; see `src/control.rs`).
        ReceiveRequest = 46,
        /// `setpgid(0, 0)`: a command of a running sandbox leads its own process group.
        Setpgid = 47,
    }
}

impl Call {
    /// The call as error messages name it: the system call, with the argument that tells it
    /// apart where that matters.
    pub fn name(self) -> &'static str {
        match self {
            Call::RtSigaction => "rt_sigaction",
            Call::Openat => "openat",
            Call::Write => "write",
            Call::ReadSync => "read of the id map sync pipe",
            Call::Setgroups => "setgroups",
            Call::Setresgid => "setresgid",
            Call::Setresuid => "setresuid",
            Call::MountPrivate => "mount(MS_REC | MS_PRIVATE)",
            Call::Mount => "mount",
            Call::Chdir => "chdir",
            Call::Mkdirat => "mkdirat",
            Call::PivotRoot => "pivot_root",
            Call::ChdirNewRoot => "chdir(\"/\")",
            Call::Umount2 => "umount2",
            Call::Unlinkat => "unlinkat",
            Call::MountSetattr => "mount_setattr",
            Call::Symlinkat => "symlinkat",
            Call::Openat2 => "openat2",
            Call::OpenTree => "open_tree",
            Call::MoveMount => "move_mount",
            Call::Sethostname => "sethostname",
            Call::Socket => "socket",
            Call::IoctlSetFlags => "ioctl(SIOCSIFFLAGS)",
            Call::Prlimit => "prlimit64",
            Call::Setsid => "setsid",
            Call::DupAbove => "fcntl(F_DUPFD_CLOEXEC)",
            Call::Dup3 => "dup3",
            Call::CloseRange => "close_range",
            Call::SetSecurebits => "prctl(PR_SET_SECUREBITS)",
            Call::CapbsetDrop => "prctl(PR_CAPBSET_DROP)",
            Call::CapAmbientClearAll => "prctl(PR_CAP_AMBIENT_CLEAR_ALL)",
            Call::Capset => "capset",
            Call::SetNoNewPrivs => "prctl(PR_SET_NO_NEW_PRIVS)",
            Call::LandlockCreateRuleset => "landlock_create_ruleset",
            Call::LandlockAddPathRule => "landlock_add_rule(LANDLOCK_RULE_PATH_BENEATH)",
            Call::LandlockAddNetRule => "landlock_add_rule(LANDLOCK_RULE_NET_PORT)",
            Call::LandlockRestrictSelf => "landlock_restrict_self",
            Call::Seccomp => "seccomp(SECCOMP_SET_MODE_FILTER)",
            Call::ClearCloexec => "fcntl(F_SETFD)",
            Call::ExecInit => "execveat of the init",
            Call::ForkProgram => "init's fork of the program",
            Call::ExecProgram => "execve",
            Call::PrlimitCore => "prlimit64(RLIMIT_CORE)",
            Call::SourceIdentity => "fstat of a policy path",
            Call::IoctlNotty => "ioctl(TIOCNOTTY)",
            Call::ReceiveRequest => "init's recvmsg of the command request",
            Call::Setpgid => "setpgid",
        }
    }
}

/// One failure, as the child or init reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    pub stage: Stage,
    pub call: Call,
    /// The index of the item the stage was working on; 0 when it has no list.
    pub index: u32,
    /// The integer argument that tells the call apart (signal, capability, resource), else 0.
    pub arg: u32,
    /// The errno.
    pub errno: i32,
}

/// Why bytes read from the report pipe are not a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// Not [`LEN`] bytes (this many were read).
    Length(usize),
    /// Another format or version.
    Magic(u32),
    /// A stage this library does not know.
    Stage(u32),
    /// A call this library does not know.
    Call(u32),
}

impl Failure {
    /// A failure of `call` at `stage` with `errno`, without an index or argument.
    pub const fn new(stage: Stage, call: Call, errno: i32) -> Failure {
        Failure {
            stage,
            call,
            index: 0,
            arg: 0,
            errno,
        }
    }

    /// The record's bytes.
    pub fn to_bytes(self) -> [u8; LEN] {
        let words = [
            MAGIC,
            self.stage as u32,
            self.call as u32,
            self.index,
            self.arg,
            self.errno as u32,
        ];
        let mut out = [0u8; LEN];
        for (chunk, word) in out.chunks_exact_mut(4).zip(words) {
            for (byte, b) in chunk.iter_mut().zip(word.to_ne_bytes()) {
                *byte = b;
            }
        }
        out
    }

    /// Decodes a record: exactly [`LEN`] bytes with [`MAGIC`], a known stage and a known call.
    pub fn decode(bytes: &[u8]) -> Result<Failure, DecodeError> {
        if bytes.len() != LEN {
            return Err(DecodeError::Length(bytes.len()));
        }
        let mut words = [0u32; 6];
        for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(4)) {
            let mut b = [0u8; 4];
            for (d, s) in b.iter_mut().zip(chunk) {
                *d = *s;
            }
            *word = u32::from_ne_bytes(b);
        }
        let [magic, stage, call, index, arg, errno] = words;
        if magic != MAGIC {
            return Err(DecodeError::Magic(magic));
        }
        Ok(Failure {
            stage: Stage::from_u32(stage).ok_or(DecodeError::Stage(stage))?,
            call: Call::from_u32(call).ok_or(DecodeError::Call(call))?,
            index,
            arg,
            errno: errno as i32,
        })
    }
}

/// The signal the library sends the sandbox's init to end the sandbox with its figures
/// counted (`SIGRTMAX`): init kills every process of the sandbox, reaps them all, writes a
/// [`StatusRecord`] and exits. It takes the signal only from the spawning process, its parent:
/// `SI_USER` with the sender's pid 0 where there is a pid namespace (the sender is outside it),
/// the parent's pid where there is none; a process of the sandbox has a pid of its own, and
/// `sigqueue` cannot forge `SI_USER`. From anyone else it is forwarded like any other signal.
pub const STOP_SIGNAL: i32 = 64;

/// The first word of a [`StatusRecord`]: `tss` (tokio-sandbox status) and version `1`.
pub const STATUS_MAGIC: u32 = u32::from_le_bytes(*b"tss1");

/// The length of a [`StatusRecord`] in bytes (below `PIPE_BUF`: one atomic write).
pub const STATUS_LEN: usize = 40;

/// What init writes on the status pipe when the program has ended and every process of the
/// sandbox has been reaped: four native-endian `u32` words (magic, the program's wait status,
/// the full tmpfs mounts, 0) and three `u64` words (user and system CPU time in microseconds and
/// the largest resident set in KiB of the processes init reaped: `getrusage(RUSAGE_CHILDREN)`,
/// which leaves out init itself and so the memory of the process that spawned the sandbox).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusRecord {
    /// The program's wait status, as wait4(2) gives it.
    pub wait_status: i32,
    /// Bit `2i` set: tmpfs `i` of init's list had no free block when the program ended; bit
    /// `2i + 1`: no free inode.
    pub full_tmpfs: u32,
    /// User CPU time, microseconds.
    pub user_us: u64,
    /// System CPU time, microseconds.
    pub system_us: u64,
    /// The largest resident set of one reaped process, KiB.
    pub max_rss_kib: u64,
}

impl StatusRecord {
    /// The record's bytes (init writes them; the library only reads).
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn to_bytes(self) -> [u8; STATUS_LEN] {
        let mut out = [0u8; STATUS_LEN];
        let words = [STATUS_MAGIC, self.wait_status as u32, self.full_tmpfs, 0];
        let (head, tail) = out.split_at_mut(16);
        for (chunk, word) in head.chunks_exact_mut(4).zip(words) {
            for (byte, b) in chunk.iter_mut().zip(word.to_ne_bytes()) {
                *byte = b;
            }
        }
        let longs = [self.user_us, self.system_us, self.max_rss_kib];
        for (chunk, long) in tail.chunks_exact_mut(8).zip(longs) {
            for (byte, b) in chunk.iter_mut().zip(long.to_ne_bytes()) {
                *byte = b;
            }
        }
        out
    }

    /// Decodes a record: exactly [`STATUS_LEN`] bytes with [`STATUS_MAGIC`].
    pub fn decode(bytes: &[u8]) -> Option<StatusRecord> {
        if bytes.len() != STATUS_LEN {
            return None;
        }
        let (head, tail) = bytes.split_at(16);
        let mut words = [0u32; 4];
        for (word, chunk) in words.iter_mut().zip(head.chunks_exact(4)) {
            let mut b = [0u8; 4];
            for (d, s) in b.iter_mut().zip(chunk) {
                *d = *s;
            }
            *word = u32::from_ne_bytes(b);
        }
        let mut longs = [0u64; 3];
        for (long, chunk) in longs.iter_mut().zip(tail.chunks_exact(8)) {
            let mut b = [0u8; 8];
            for (d, s) in b.iter_mut().zip(chunk) {
                *d = *s;
            }
            *long = u64::from_ne_bytes(b);
        }
        let [magic, wait_status, full_tmpfs, _] = words;
        let [user_us, system_us, max_rss_kib] = longs;
        (magic == STATUS_MAGIC).then_some(StatusRecord {
            wait_status: wait_status as i32,
            full_tmpfs,
            user_us,
            system_us,
            max_rss_kib,
        })
    }
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::panic
)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_pinned() {
        let f = Failure {
            stage: Stage::Bind,
            call: Call::OpenTree,
            index: 7,
            arg: 9,
            errno: 2,
        };
        let b = f.to_bytes();
        assert_eq!(LEN, 24);
        assert_eq!(&b[0..4], b"tsr1");
        let word = |i: usize| u32::from_ne_bytes(b[i * 4..i * 4 + 4].try_into().unwrap());
        assert_eq!(
            [word(1), word(2), word(3), word(4), word(5)],
            [6, 19, 7, 9, 2]
        );
        assert_eq!(Failure::decode(&b), Ok(f));
    }

    #[test]
    fn discriminants_are_pinned() {
        // Changing one is a new format: bump MAGIC's version with it.
        let stages = [
            (Stage::IdMap, 1),
            (Stage::PivotRoot, 3),
            (Stage::Bind, 6),
            (Stage::Proc, 8),
            (Stage::Exec, 24),
            (Stage::ReadOnlyPath, 25),
            (Stage::MaskedPath, 26),
        ];
        for (s, code) in stages {
            assert_eq!(s as u32, code);
        }
        for code in 0..64 {
            match Stage::from_u32(code) {
                Some(s) => assert_eq!(s as u32, code),
                None => assert!(code == 0 || code > 27, "{code}"),
            }
            match Call::from_u32(code) {
                Some(c) => assert_eq!(c as u32, code),
                None => assert!(code == 0 || code > 47, "{code}"),
            }
        }
        assert_eq!(Call::SourceIdentity as u32, 44);
        assert_eq!((Stage::Terminal as u32, Call::IoctlNotty as u32), (27, 45));
        assert_eq!(
            (Call::ReceiveRequest as u32, Call::Setpgid as u32),
            (46, 47)
        );
    }

    #[test]
    fn the_status_record_is_pinned() {
        let r = StatusRecord {
            wait_status: 9,
            full_tmpfs: 0b10,
            user_us: 1_500_000,
            system_us: 7,
            max_rss_kib: 204_800,
        };
        let b = r.to_bytes();
        assert_eq!(STATUS_LEN, 40);
        assert_eq!(&b[0..4], b"tss1");
        let word = |i: usize| u32::from_ne_bytes(b[i * 4..i * 4 + 4].try_into().unwrap());
        let long = |i: usize| u64::from_ne_bytes(b[i..i + 8].try_into().unwrap());
        assert_eq!([word(1), word(2), word(3)], [9, 0b10, 0]);
        assert_eq!([long(16), long(24), long(32)], [1_500_000, 7, 204_800]);
        assert_eq!(StatusRecord::decode(&b), Some(r));
        assert_eq!(StatusRecord::decode(&b[..4]), None);
        let mut bad = b;
        bad[0] = b'T';
        assert_eq!(StatusRecord::decode(&bad), None);
    }

    #[test]
    fn decoding_is_strict() {
        let good = Failure::new(Stage::Exec, Call::ExecProgram, 2).to_bytes();
        assert_eq!(Failure::decode(&good[..12]), Err(DecodeError::Length(12)));
        assert_eq!(Failure::decode(&[]), Err(DecodeError::Length(0)));
        let mut long = good.to_vec();
        long.push(0);
        assert_eq!(Failure::decode(&long), Err(DecodeError::Length(25)));
        let mut b = good;
        b[0] = b'T';
        assert!(matches!(Failure::decode(&b), Err(DecodeError::Magic(_))));
        let mut b = good;
        b[4..8].copy_from_slice(&99u32.to_ne_bytes());
        assert_eq!(Failure::decode(&b), Err(DecodeError::Stage(99)));
        let mut b = good;
        b[8..12].copy_from_slice(&0u32.to_ne_bytes());
        assert_eq!(Failure::decode(&b), Err(DecodeError::Call(0)));
    }
}
