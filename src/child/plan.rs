//! The plan the child reads: everything it needs, prepared by the parent before `clone3`.
//!
//! The child's lints (`child/mod.rs`: no indexing, arithmetic, `unwrap`, `expect` or `panic!`)
//! apply here too.

use core::ffi::{c_char, c_int};
use std::ffi::CString;

use crate::child::sys;

/// A filesystem operation with every path already a C string (see `crate::plan::mount::FsOp`).
#[derive(Debug)]
pub(crate) enum ChildOp {
    Mkdir {
        path: CString,
        mode: u32,
    },
    Symlink {
        target: CString,
        path: CString,
    },
    Bind {
        /// Host path below the old root (`/.oldroot/...`), canonical: resolved with
        /// `RESOLVE_NO_SYMLINKS` so a path swapped for a symlink fails instead of redirecting.
        src: CString,
        dst: CString,
        dir: bool,
        /// Create the mount point (false when it lies inside another bind: the host's own
        /// directory or file must already be there; nothing is created on the host).
        create: bool,
        /// `MOUNT_ATTR_*` bits to set on the whole bound tree (never cleared: locked flags stay).
        attr_set: u64,
        /// For a policy path: the object the opened source must be (what the path led to when
        /// it was given to the policy).
        pin: Option<crate::policy::Pin>,
    },
    Tmpfs {
        dst: CString,
        create: bool,
        flags: u64,
        data: CString,
    },
    Proc {
        dst: CString,
    },
    Devpts {
        dst: CString,
        data: CString,
    },
    File {
        path: CString,
        contents: Vec<u8>,
    },
    /// A file with this sandbox's machine id ([`ChildPlan::machine_id`]).
    MachineId {
        path: CString,
    },
    /// A read-only bind of a path of the new root onto itself.
    ReadOnly {
        path: CString,
    },
    /// The host's `/dev/null` bound read-only over a file of the new root.
    Mask {
        /// The host's `/dev/null` under the old root (a policy may bind its own `/dev`).
        src: CString,
        path: CString,
    },
    /// An empty read-only tmpfs over a directory of the new root.
    MaskDir {
        path: CString,
    },
}

/// One Landlock path-beneath rule, added in the child on a path of the new root.
#[derive(Debug)]
pub(crate) struct LandlockRule {
    pub path: CString,
    pub access: u64,
    /// For a policy path on the host (a sandbox without a mount namespace): the object the
    /// opened path must be.
    pub pin: Option<crate::policy::Pin>,
}

/// The Landlock part of the plan.
#[derive(Debug)]
pub(crate) struct LandlockPlan {
    pub attr: sys::LandlockRulesetAttr,
    pub rules: Vec<LandlockRule>,
    /// TCP port rules (ABI 4): `landlock_net_port_attr`s.
    pub net_rules: Vec<sys::LandlockNetPortAttr>,
    pub restrict_flags: u32,
}

/// What the child runs of a compiled policy, shared by every spawn of it.
#[derive(Debug)]
pub(crate) struct PolicySetup {
    /// The filesystem operations, in order.
    pub ops: Vec<ChildOp>,
    /// The seccomp BPF programs, installed in order.
    pub seccomp: Vec<Bpf>,
    /// The Landlock ruleset, when Landlock is applied.
    pub landlock: Option<LandlockPlan>,
}

/// The caller's terminal, inherited as a stdio fd, bound at `/dev/console` of this sandbox so
/// that the program finds its name (ttyname(3) looks for a node with its device number).
#[derive(Debug)]
pub(crate) struct Console {
    /// The terminal's host path below the old root (`/.oldroot/dev/pts/3`).
    pub src: CString,
    /// The Landlock rights on `/dev/console` (opening it again is still up to its mode).
    pub access: u64,
}

/// Where the sandbox's own terminal node goes.
pub(crate) const CONSOLE: &core::ffi::CStr = c"/dev/console";

/// The id maps an unprivileged child writes for itself (user_namespaces(7)).
#[derive(Debug)]
pub(crate) struct SelfMaps {
    pub uid_map: Vec<u8>,
    pub gid_map: Vec<u8>,
}

/// Everything the child needs, prepared by the parent before `clone3`.
#[derive(Debug)]
pub(crate) struct ChildPlan {
    /// Write end of the close-on-exec report pipe.
    pub report_fd: c_int,
    /// Read end of the pipe on which a root caller's parent says the maps are written, or -1.
    pub sync_fd: c_int,
    /// For an unprivileged caller: the maps to write.
    pub self_maps: Option<SelfMaps>,
    /// For a root caller: the (uid, gid) to switch to after the parent wrote the maps.
    pub switch_ids: Option<(u32, u32)>,
    /// Host directory the tmpfs root is mounted on before `pivot_root`.
    pub staging: CString,
    pub root_data: CString,
    /// The compiled policy's part: filesystem operations and Landlock rules.
    pub setup: std::sync::Arc<PolicySetup>,
    pub hostname: Vec<u8>,
    pub loopback: bool,
    pub cwd: CString,
    pub new_session: bool,
    /// Leave the caller's controlling terminal (the program stays in the caller's session but
    /// does not have that terminal on stdin): `/dev/tty` then reaches nothing.
    pub drop_ctty: bool,
    /// The caller's terminal to bind at `/dev/console`.
    pub console: Option<Console>,
    /// This sandbox's machine id: 32 random lowercase hexadecimal digits and a newline
    /// (machine-id(5)), for the `MachineId` operation.
    pub machine_id: [u8; 33],
    /// (source fd in the parent's table, target fd in the program).
    pub fds: Vec<(c_int, c_int)>,
    /// Scratch space: one slot per `fds` entry, written only by the child.
    pub fd_scratch: std::cell::UnsafeCell<Vec<c_int>>,
    /// Lowest fd number above every source and target: temporaries go there.
    pub fd_floor: c_int,
    /// Ranges `[first, last]` of fds to mark close-on-exec (everything >= 3 but the targets).
    pub cloexec_ranges: Vec<(u32, u32)>,
    /// Ranges `[first, last]` of inherited fds the child closes first: everything >= 3 it does
    /// not use. The parent's other threads keep opening files while the setup runs; a copy of
    /// a file open for writing held here would make its execve(2) elsewhere fail with
    /// `ETXTBSY` until this process execs.
    pub close_ranges: Vec<(u32, u32)>,
    /// Whether to build the new root (a mount namespace was requested).
    pub mount_ns: bool,
    /// Whether the child runs in a user namespace of its own (else: Landlock-only mode, where
    /// an unprivileged caller has no capability to drop).
    pub in_user_namespace: bool,
    /// `(resource, soft, hard)` limits, set after Landlock (a small `RLIMIT_NOFILE` must not
    /// stop the setup's own opens).
    pub rlimits: Vec<(u32, u64, u64)>,
    /// The sealed memfd of the init program (see `src/init/main.rs`).
    pub init_fd: c_int,
    /// Write end of the pipe on which init reports the program's wait status.
    pub status_fd: c_int,
    /// Read end of the caller's lifeline pipe (EOF when the caller process is gone).
    pub lifeline_fd: c_int,
    /// The init's argv: `init REPORT_FD STATUS_FD LIFELINE_FD PROGRAM ARGV0 [ARGS...]`,
    /// NULL-terminated; points into `_argv`.
    pub argv: CStrArray,
    /// The program's environment, NULL-terminated.
    pub envp: CStrArray,
}

/// A NULL-terminated array of pointers to C strings it owns, as execve(2) takes it.
#[derive(Debug)]
pub(crate) struct CStrArray {
    ptrs: Vec<*const c_char>,
    _strings: Vec<CString>,
}

impl CStrArray {
    pub(crate) fn new(strings: Vec<CString>) -> CStrArray {
        let mut ptrs: Vec<*const c_char> = strings.iter().map(|c| c.as_ptr()).collect();
        ptrs.push(core::ptr::null());
        CStrArray {
            ptrs,
            _strings: strings,
        }
    }

    pub(crate) fn as_ptr(&self) -> *const *const c_char {
        self.ptrs.as_ptr()
    }
}

// SAFETY: the pointers point into the CStrings owned by the same value (their heap buffers do
// not move when the value moves) and are only read.
unsafe impl Send for CStrArray {}

/// A seccomp BPF program ready for seccomp(2): the default filter's (built once per process) or
/// a caller's, with its length checked against `BPF_MAXINSNS` by the parent.
#[derive(Debug)]
pub(crate) struct Bpf {
    insns: Insns,
    len: u16,
}

#[derive(Debug)]
enum Insns {
    Static(&'static [seccompiler::sock_filter]),
    Shared(std::sync::Arc<seccompiler::BpfProgram>),
}

impl Bpf {
    /// One of the library's own programs.
    pub(crate) fn of_static(insns: &'static [seccompiler::sock_filter]) -> Result<Bpf, usize> {
        Bpf::new(Insns::Static(insns))
    }

    /// A caller's program.
    pub(crate) fn of_shared(insns: std::sync::Arc<seccompiler::BpfProgram>) -> Result<Bpf, usize> {
        Bpf::new(Insns::Shared(insns))
    }

    /// The program, or its length when the kernel would refuse it (more than `BPF_MAXINSNS`
    /// instructions, seccomp(2)).
    fn new(insns: Insns) -> Result<Bpf, usize> {
        let n = match &insns {
            Insns::Static(s) => s.len(),
            Insns::Shared(p) => p.len(),
        };
        match u16::try_from(n) {
            Ok(len) if n <= libc::BPF_MAXINSNS as usize => Ok(Bpf { insns, len }),
            _ => Err(n),
        }
    }

    /// The `sock_fprog` seccomp(2) takes (a plain dereference: no allocation or atomic
    /// operation).
    pub(crate) fn fprog(&self) -> sys::SockFprog {
        let filter = match &self.insns {
            Insns::Static(s) => s.as_ptr(),
            Insns::Shared(p) => p.as_ptr(),
        };
        sys::SockFprog {
            len: self.len,
            filter,
        }
    }
}

/// Location of the old root after `pivot_root`.
pub(crate) const OLD_ROOT: &str = "/.oldroot";
