//! The code that runs in the sandbox's first process, between `clone3` and `execve`.
//!
//! # Rules for this module
//!
//! The child is created with `CLONE_VM`: it runs on its own small stack but shares the parent's
//! memory, including the thread-local storage of the thread that called `clone3`, while other
//! threads of the parent keep running. So everything here is **async-signal-safe**:
//!
//! - no allocation or deallocation, no locks, no panics (the lints below deny indexing,
//!   arithmetic that can overflow, `unwrap`, `expect` and `panic!` here, in [`plan`] and in
//!   [`sys`]), no formatting, logging or tracing;
//! - only raw system calls from [`sys`], which never write `errno`;
//! - only memory prepared by the parent in a [`ChildPlan`], which the parent keeps alive and does
//!   not touch until the child has exec'd or exited (the report pipe reaches EOF).
//!
//! [`child_main`] is one linear function; a failing step writes a [`Failure`] record (stage,
//! call, index, errno; see `crate::wire`) to the close-on-exec report pipe and exits.

#![deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

pub(crate) mod plan;
pub(crate) mod sys;

use core::convert::Infallible;
use core::ffi::{c_int, CStr};

use crate::child::plan::{ChildOp, ChildPlan, LandlockPlan};
use crate::child::sys::Errno;
use crate::wire::{Call, Failure, Stage};

type Step = Result<(), Failure>;

/// A failure of `call` in `stage`, on item `index` of the stage's list.
#[inline(always)]
fn at(stage: Stage, call: Call, index: usize) -> impl Fn(Errno) -> Failure {
    move |errno| Failure {
        stage,
        call,
        index: index as u32,
        arg: 0,
        errno,
    }
}

/// For a helper that says which of its calls failed: a failure in `stage`, on item `index`.
#[inline(always)]
fn within(stage: Stage, index: usize) -> impl Fn((Call, Errno)) -> Failure {
    move |(call, errno)| at(stage, call, index)(errno)
}

#[inline(always)]
fn ok_if_exists(r: sys::SysResult) -> sys::SysResult {
    match r {
        Err(libc::EEXIST) => Ok(0),
        other => other,
    }
}

/// Writes `data` to the file at `path` (the id maps, generated files); a short write is `EIO`.
fn write_file(path: &CStr, data: &[u8], flags: c_int) -> Result<(), (Call, Errno)> {
    let fd = sys::openat(libc::AT_FDCWD, path, flags | libc::O_CLOEXEC, 0o644)
        .map_err(|e| (Call::Openat, e))?;
    match sys::write(fd.raw(), data) {
        Ok(n) if n == data.len() => Ok(()),
        Ok(_) => Err((Call::Write, libc::EIO)),
        Err(e) => Err((Call::Write, e)),
    }
}

/// The child's entry point, called on the child's own stack by the `clone3` trampoline.
///
/// # Safety
/// `plan` must point to a [`ChildPlan`] that stays alive and unmodified until this process
/// execs or exits.
pub(crate) unsafe extern "C" fn child_main(plan: *const ChildPlan) -> ! {
    // SAFETY: guaranteed by the caller.
    let plan = unsafe { &*plan };
    let Err(failure) = run(plan);
    let _ = sys::write(plan.report_fd, &failure.to_bytes());
    sys::exit_group(127)
}

/// The setup sequence, ending in the exec of init: it returns only with the step that failed.
/// Each step's comment says why it is where it is.
fn run(plan: &ChildPlan) -> Result<Infallible, Failure> {
    // 0. Inherited fds this process does not use are closed at once: it holds its copies
    //    through the whole setup, and a copy of a file another thread of the caller has open
    //    for writing would make that file's execve(2) fail with ETXTBSY meanwhile.
    for (i, (first, last)) in plan.close_ranges.iter().enumerate() {
        sys::close_range(*first, *last, 0).map_err(at(Stage::Fds, Call::CloseRange, i))?;
    }

    // 1. Signals: CLONE_CLEAR_SIGHAND reset every handler; ignored signals stay ignored across
    //    exec, so put those back to the default too (the mask is cleared right before exec).
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        match sys::signal_default(sig) {
            Ok(_) | Err(libc::EINVAL) => {}
            Err(errno) => {
                return Err(Failure {
                    arg: sig as u32,
                    ..Failure::new(Stage::Signals, Call::RtSigaction, errno)
                })
            }
        }
    }

    // 2. Identity. An unprivileged caller's child maps its own ids (a process may map its own
    //    euid once setgroups is denied). A root caller's parent writes the maps; we wait for it,
    //    then switch to the sandbox ids before creating any file (an unmapped fsuid cannot
    //    create files: EOVERFLOW).
    if let Some(maps) = &plan.self_maps {
        let files: [(&CStr, &[u8]); 3] = [
            (c"/proc/self/setgroups", b"deny"),
            (c"/proc/self/gid_map", &maps.gid_map),
            (c"/proc/self/uid_map", &maps.uid_map),
        ];
        for (i, (path, data)) in files.into_iter().enumerate() {
            write_file(path, data, libc::O_WRONLY).map_err(within(Stage::IdMap, i))?;
        }
    }
    if plan.sync_fd >= 0 {
        let mut b = [0u8; 1];
        let read = match sys::read(plan.sync_fd, &mut b) {
            Ok(1) => Ok(()),
            Ok(_) => Err(libc::EPIPE),
            Err(e) => Err(e),
        };
        read.map_err(at(Stage::IdMap, Call::ReadSync, 0))?;
        let _ = sys::close(plan.sync_fd);
    }
    if let Some((uid, gid)) = plan.switch_ids {
        sys::setgroups_empty().map_err(at(Stage::Identity, Call::Setgroups, 0))?;
        sys::setresgid(gid).map_err(at(Stage::Identity, Call::Setresgid, 0))?;
        sys::setresuid(uid).map_err(at(Stage::Identity, Call::Setresuid, 0))?;
    }

    // In the caller's session without the caller's terminal on stdin: give up the controlling
    // terminal, so that `/dev/tty` does not reach it (while the host's /dev/tty is at hand).
    // An open that fails means there is none this process, or the program, could reach.
    if plan.drop_ctty {
        let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
        if let Ok(tty) = sys::openat(libc::AT_FDCWD, c"/dev/tty", flags, 0) {
            sys::give_up_controlling_terminal(tty.raw()).map_err(at(
                Stage::Terminal,
                Call::IoctlNotty,
                0,
            ))?;
        }
    }

    // 3. The new root (see `new_root`).
    if plan.mount_ns {
        new_root(plan)?;
    }

    // 4. Host name, loopback, working directory, limits, session: all need this process's
    //    capabilities in its namespaces or must happen before the program starts.
    if !plan.hostname.is_empty() {
        sys::sethostname(&plan.hostname).map_err(at(Stage::Hostname, Call::Sethostname, 0))?;
    }
    if plan.loopback {
        loopback_up().map_err(within(Stage::Loopback, 0))?;
    }
    sys::chdir(&plan.cwd).map_err(at(Stage::Chdir, Call::Chdir, 0))?;
    // No core dump: this process shares the caller's memory.
    sys::setrlimit(libc::RLIMIT_CORE, 0, 0).map_err(at(Stage::Rlimit, Call::PrlimitCore, 0))?;
    if plan.new_session {
        sys::setsid().map_err(at(Stage::Session, Call::Setsid, 0))?;
    }

    // 5. File descriptors: stdio and passed fds at their numbers, every other fd close-on-exec.
    place_fds(plan)?;

    // 6. Capabilities: lock securebits (no root privilege regained by a uid change or exec),
    //    empty the bounding and ambient sets, then drop what this process holds.
    let securebits = libc::SECBIT_NOROOT
        | libc::SECBIT_NOROOT_LOCKED
        | libc::SECBIT_NO_SETUID_FIXUP
        | libc::SECBIT_NO_SETUID_FIXUP_LOCKED
        | libc::SECBIT_KEEP_CAPS_LOCKED
        | libc::SECBIT_NO_CAP_AMBIENT_RAISE
        | libc::SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
    // Without a user namespace an unprivileged caller holds no capability: EPERM here means
    // there is nothing to drop (and no_new_privs keeps file capabilities from being gained).
    let no_caps = |e: Errno| !plan.in_user_namespace && e == libc::EPERM;
    match sys::set_securebits(securebits as u32) {
        Ok(_) => {}
        Err(e) if no_caps(e) => {}
        Err(e) => return Err(Failure::new(Stage::Capabilities, Call::SetSecurebits, e)),
    }
    for cap in 0..64 {
        match sys::capbset_drop(cap) {
            Ok(_) | Err(libc::EINVAL) => {}
            Err(e) if no_caps(e) => {}
            Err(errno) => {
                return Err(Failure {
                    arg: cap,
                    ..Failure::new(Stage::Capabilities, Call::CapbsetDrop, errno)
                })
            }
        }
    }
    sys::cap_ambient_clear_all().map_err(at(Stage::Capabilities, Call::CapAmbientClearAll, 0))?;
    sys::capset_empty().map_err(at(Stage::Capabilities, Call::Capset, 0))?;

    // 7. no_new_privs, needed for Landlock and seccomp without privilege.
    sys::set_no_new_privs().map_err(at(Stage::NoNewPrivs, Call::SetNoNewPrivs, 0))?;

    // 8. Landlock, after the last mount (a Landlock-restricted process cannot mount).
    if let Some(ll) = &plan.setup.landlock {
        landlock(ll, plan.console.as_ref())?;
    }

    // Resource limits, now that the setup opens no more files.
    for (i, (res, cur, max)) in plan.rlimits.iter().enumerate() {
        sys::setrlimit(*res, *cur, *max).map_err(|errno| Failure {
            index: i as u32,
            arg: *res,
            ..Failure::new(Stage::Rlimit, Call::Prlimit, errno)
        })?;
    }

    // 9. seccomp last, so the filter need not allow the setup calls.
    for (i, prog) in plan.setup.seccomp.iter().enumerate() {
        sys::seccomp_set_filter(&prog.fprog()).map_err(at(Stage::Seccomp, Call::Seccomp, i))?;
    }

    // 10. Exec the init from its memfd. The report and status pipes stay open across this
    //     exec: init execs the program and keeps the status pipe; the report pipe reaches EOF
    //     once the program itself has been exec'd. Init unblocks signals in the program.
    let kept = [plan.report_fd, plan.status_fd, plan.lifeline_fd];
    for (i, fd) in kept.into_iter().enumerate() {
        sys::clear_cloexec(fd).map_err(at(Stage::Exec, Call::ClearCloexec, i))?;
    }
    // SAFETY: argv/envp are NULL-terminated arrays into CStrings owned by the plan.
    let errno = unsafe { sys::execveat_fd(plan.init_fd, plan.argv.as_ptr(), plan.envp.as_ptr()) };
    Err(Failure::new(Stage::Exec, Call::ExecInit, errno))
}

/// Builds the sandbox's root in its mount namespace and `pivot_root`s into it.
fn new_root(plan: &ChildPlan) -> Step {
    // The new root: stop propagation to the host, mount a tmpfs on the staging directory,
    // pivot into it and keep the host's tree at /.oldroot until the binds are done.
    sys::mount(None, c"/", None, libc::MS_REC | libc::MS_PRIVATE, None).map_err(at(
        Stage::RootTmpfs,
        Call::MountPrivate,
        0,
    ))?;
    sys::mount(
        Some(c"tmpfs"),
        &plan.staging,
        Some(c"tmpfs"),
        libc::MS_NOSUID | libc::MS_NODEV,
        Some(&plan.root_data),
    )
    .map_err(at(Stage::RootTmpfs, Call::Mount, 0))?;
    let pivot = |call| at(Stage::PivotRoot, call, 0);
    sys::chdir(&plan.staging).map_err(pivot(Call::Chdir))?;
    sys::mkdirat(libc::AT_FDCWD, c".oldroot", 0o700).map_err(pivot(Call::Mkdirat))?;
    sys::pivot_root(c".", c".oldroot").map_err(pivot(Call::PivotRoot))?;
    sys::chdir(c"/").map_err(pivot(Call::ChdirNewRoot))?;

    // The filesystem operations, parents before children. /proc is mounted while the host's
    // procfs is still in this mount namespace (the kernel refuses a new procfs in a user
    // namespace unless an uncovered one is visible).
    for (i, op) in plan.setup.ops.iter().enumerate() {
        run_op(i, op, plan)?;
    }
    if let Some(console) = &plan.console {
        bind_console(console)?;
    }

    // Detach the host's tree and make the root itself read-only.
    sys::umount2(c"/.oldroot", libc::MNT_DETACH).map_err(pivot(Call::Umount2))?;
    sys::unlinkat(libc::AT_FDCWD, c"/.oldroot", libc::AT_REMOVEDIR)
        .map_err(pivot(Call::Unlinkat))?;
    let ro = sys::MountAttr {
        attr_set: libc::MOUNT_ATTR_RDONLY,
        ..Default::default()
    };
    sys::mount_setattr(libc::AT_FDCWD, c"/", 0, &ro).map_err(at(
        Stage::RootReadOnly,
        Call::MountSetattr,
        0,
    ))?;
    Ok(())
}

/// Runs filesystem operation `i` of the plan.
fn run_op(i: usize, op: &ChildOp, plan: &ChildPlan) -> Step {
    match op {
        ChildOp::Mkdir { path, mode } => {
            ok_if_exists(sys::mkdirat(libc::AT_FDCWD, path, *mode)).map_err(at(
                Stage::Mkdir,
                Call::Mkdirat,
                i,
            ))?;
        }
        ChildOp::Symlink { target, path } => {
            ok_if_exists(sys::symlinkat(target, libc::AT_FDCWD, path)).map_err(at(
                Stage::Symlink,
                Call::Symlinkat,
                i,
            ))?;
        }
        ChildOp::Bind {
            src,
            dst,
            dir,
            create,
            attr_set,
            pin,
        } => {
            if *create && *dir {
                ok_if_exists(sys::mkdirat(libc::AT_FDCWD, dst, 0o755)).map_err(at(
                    Stage::Bind,
                    Call::Mkdirat,
                    i,
                ))?;
            } else if *create {
                let flags = libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW;
                match sys::openat(libc::AT_FDCWD, dst, flags, 0o644) {
                    // The mount point is there; the fd closes at once.
                    Ok(_) | Err(libc::EEXIST) => {}
                    Err(e) => return Err(at(Stage::Bind, Call::Openat, i)(e)),
                }
            }
            let how = sys::OpenHow {
                flags: (libc::O_PATH | libc::O_CLOEXEC) as u64,
                mode: 0,
                resolve: libc::RESOLVE_NO_SYMLINKS,
            };
            let src = sys::openat2(libc::AT_FDCWD, src, &how).map_err(at(
                Stage::Bind,
                Call::Openat2,
                i,
            ))?;
            check_pin(src.raw(), *pin).map_err(at(Stage::Bind, Call::SourceIdentity, i))?;
            let flags = libc::AT_RECURSIVE as u32 | libc::AT_EMPTY_PATH as u32;
            clone_mount(src.raw(), c"", flags, *attr_set, dst).map_err(within(Stage::Bind, i))?;
        }
        ChildOp::Tmpfs {
            dst,
            create,
            flags,
            data,
        } => {
            if *create {
                ok_if_exists(sys::mkdirat(libc::AT_FDCWD, dst, 0o755)).map_err(at(
                    Stage::Tmpfs,
                    Call::Mkdirat,
                    i,
                ))?;
            }
            sys::mount(Some(c"tmpfs"), dst, Some(c"tmpfs"), *flags, Some(data)).map_err(at(
                Stage::Tmpfs,
                Call::Mount,
                i,
            ))?;
        }
        ChildOp::Proc { dst } => {
            ok_if_exists(sys::mkdirat(libc::AT_FDCWD, dst, 0o555)).map_err(at(
                Stage::Proc,
                Call::Mkdirat,
                i,
            ))?;
            sys::mount(
                Some(c"proc"),
                dst,
                Some(c"proc"),
                libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                None,
            )
            .map_err(at(Stage::Proc, Call::Mount, i))?;
        }
        ChildOp::Devpts { dst, data } => {
            ok_if_exists(sys::mkdirat(libc::AT_FDCWD, dst, 0o755)).map_err(at(
                Stage::Devpts,
                Call::Mkdirat,
                i,
            ))?;
            sys::mount(
                Some(c"devpts"),
                dst,
                Some(c"devpts"),
                libc::MS_NOSUID | libc::MS_NOEXEC,
                Some(data),
            )
            .map_err(at(Stage::Devpts, Call::Mount, i))?;
        }
        ChildOp::ReadOnly { path } => {
            let ro = libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV;
            match clone_mount(libc::AT_FDCWD, path, 0, ro, path) {
                // Not on this kernel (e.g. no magic SysRq): nothing to protect.
                Ok(()) | Err((_, libc::ENOENT)) => {}
                Err(e) => return Err(within(Stage::ReadOnlyPath, i)(e)),
            }
        }
        // Read-only, so that the cover's owner (the host's /dev/null, owned by host root)
        // keeps its mode and times whatever the sandbox's uid: chmod and utimes give EROFS.
        ChildOp::Mask { src, path } => match clone_mount(libc::AT_FDCWD, src, 0, COVER, path) {
            // Not on this kernel: nothing to cover.
            Ok(()) | Err((_, libc::ENOENT)) => {}
            Err(e) => return Err(within(Stage::MaskedPath, i)(e)),
        },
        // Empty, read-only and of mode 0555: nothing of the directory shows.
        ChildOp::MaskDir { path } => {
            let flags = libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
            let data = c"mode=555,size=4k,nr_inodes=2";
            match sys::mount(Some(c"tmpfs"), path, Some(c"tmpfs"), flags, Some(data)) {
                // Gone from the host since the policy was compiled: nothing to cover.
                Ok(_) | Err(libc::ENOENT) => {}
                Err(e) => return Err(at(Stage::MaskedPath, Call::Mount, i)(e)),
            }
        }
        ChildOp::MachineId { path } => {
            write_file(
                path,
                &plan.machine_id,
                libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
            )
            .map_err(within(Stage::File, i))?;
        }
        ChildOp::File { path, contents } => {
            write_file(
                path,
                contents,
                libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
            )
            .map_err(within(Stage::File, i))?;
        }
    }
    Ok(())
}

/// The mount attributes of a cover (`/dev/null` bound over a file): read-only, and neither
/// set-user-ID programs nor execution (the device itself stays usable: reads give EOF).
const COVER: u64 = libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NOEXEC;

/// Whether `fd` is the object `pin` names, when there is a pin: `ESTALE` when it is another
/// (the policy path was replaced after it was named).
fn check_pin(fd: c_int, pin: Option<crate::policy::Pin>) -> Result<(), Errno> {
    match pin {
        Some(pin) if !pin.same_object(&sys::statx_pin(fd)?) => Err(libc::ESTALE),
        _ => Ok(()),
    }
}

/// Binds the caller's terminal at `/dev/console` (a file created on the sandbox's own `/dev`),
/// read-only as a mount (writes to a device pass it; its mode and Landlock decide) and
/// `nosuid`.
fn bind_console(console: &crate::child::plan::Console) -> Step {
    use crate::child::plan::CONSOLE;
    let fail = |call| at(Stage::Terminal, call, 0);
    let flags = libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW;
    match sys::openat(libc::AT_FDCWD, CONSOLE, flags, 0o600) {
        Ok(_) | Err(libc::EEXIST) => {}
        Err(e) => return Err(fail(Call::Openat)(e)),
    }
    let how = sys::OpenHow {
        flags: (libc::O_PATH | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: libc::RESOLVE_NO_SYMLINKS,
    };
    let src = sys::openat2(libc::AT_FDCWD, &console.src, &how).map_err(fail(Call::Openat2))?;
    let attr = libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID;
    clone_mount(src.raw(), c"", libc::AT_EMPTY_PATH as u32, attr, CONSOLE)
        .map_err(within(Stage::Terminal, 0))
}

/// Clones the mount at `dirfd`/`path` (open_tree(2) with `OPEN_TREE_CLONE` and `flags`), sets
/// `attr_set` on it (mount_setattr(2), recursively when `flags` has `AT_RECURSIVE`) and
/// attaches it at `dst` (move_mount(2)).
fn clone_mount(
    dirfd: c_int,
    path: &CStr,
    flags: u32,
    attr_set: u64,
    dst: &CStr,
) -> Result<(), (Call, Errno)> {
    let tree = sys::open_tree(
        dirfd,
        path,
        libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC | flags,
    )
    .map_err(|e| (Call::OpenTree, e))?;
    if attr_set != 0 {
        let attr = sys::MountAttr {
            attr_set,
            ..Default::default()
        };
        let flags = libc::AT_EMPTY_PATH as u32 | (flags & libc::AT_RECURSIVE as u32);
        sys::mount_setattr(tree.raw(), c"", flags, &attr).map_err(|e| (Call::MountSetattr, e))?;
    }
    sys::move_mount(
        tree.raw(),
        c"",
        libc::AT_FDCWD,
        dst,
        libc::MOVE_MOUNT_F_EMPTY_PATH,
    )
    .map_err(|e| (Call::MoveMount, e))?;
    Ok(())
}

/// Brings `lo` up in the new network namespace; the kernel then adds 127.0.0.1 and ::1.
pub(crate) fn loopback_up() -> Result<(), (Call, Errno)> {
    let fd = sys::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0)
        .map_err(|e| (Call::Socket, e))?;
    let mut ifr = sys::IfreqFlags {
        name: [0; 16],
        flags: (libc::IFF_UP | libc::IFF_RUNNING) as i16,
        _pad: [0; 22],
    };
    ifr.name[0] = b'l';
    ifr.name[1] = b'o';
    sys::set_interface_flags(fd.raw(), &ifr).map_err(|e| (Call::IoctlSetFlags, e))?;
    Ok(())
}

/// Puts each `(source, target)` fd in place. Sources are first copied above every source and
/// target (close-on-exec), so one move cannot clobber another source; `dup3` then clears
/// close-on-exec on the target. Every other fd from 3 up is marked close-on-exec.
fn place_fds(plan: &ChildPlan) -> Step {
    // SAFETY: only the child touches the scratch vector, and the parent sized it to `fds`.
    let scratch = unsafe { &mut *plan.fd_scratch.get() };
    for (i, ((src, _), slot)) in plan.fds.iter().zip(scratch.iter_mut()).enumerate() {
        let copy = sys::dup_cloexec_at_least(*src, plan.fd_floor);
        *slot = copy.map_err(at(Stage::Fds, Call::DupAbove, i))? as c_int;
    }
    for (i, ((_, dst), tmp)) in plan.fds.iter().zip(scratch.iter()).enumerate() {
        sys::dup3(*tmp, *dst, 0).map_err(at(Stage::Fds, Call::Dup3, i))?;
        let _ = sys::close(*tmp);
    }
    for (i, (first, last)) in plan.cloexec_ranges.iter().enumerate() {
        sys::close_range(*first, *last, libc::CLOSE_RANGE_CLOEXEC).map_err(at(
            Stage::Fds,
            Call::CloseRange,
            i,
        ))?;
    }
    Ok(())
}

/// Creates the Landlock ruleset, adds the plan's rules (and the one of this sandbox's
/// `/dev/console`) and enforces it.
fn landlock(ll: &LandlockPlan, console: Option<&crate::child::plan::Console>) -> Step {
    let rs = sys::landlock_create_ruleset(&ll.attr).map_err(at(
        Stage::Landlock,
        Call::LandlockCreateRuleset,
        0,
    ))?;
    for (i, rule) in ll.rules.iter().enumerate() {
        let fd = sys::openat(
            libc::AT_FDCWD,
            &rule.path,
            libc::O_PATH | libc::O_CLOEXEC,
            0,
        )
        .map_err(at(Stage::Landlock, Call::Openat, i))?;
        check_pin(fd.raw(), rule.pin).map_err(at(Stage::Landlock, Call::SourceIdentity, i))?;
        let attr = sys::LandlockPathBeneathAttr {
            allowed_access: rule.access,
            parent_fd: fd.raw(),
        };
        sys::landlock_add_path_rule(rs.raw(), &attr).map_err(at(
            Stage::Landlock,
            Call::LandlockAddPathRule,
            i,
        ))?;
    }
    if let Some(console) = console {
        let i = ll.rules.len();
        let fd = sys::openat(
            libc::AT_FDCWD,
            crate::child::plan::CONSOLE,
            libc::O_PATH | libc::O_CLOEXEC,
            0,
        )
        .map_err(at(Stage::Landlock, Call::Openat, i))?;
        let attr = sys::LandlockPathBeneathAttr {
            allowed_access: console.access,
            parent_fd: fd.raw(),
        };
        sys::landlock_add_path_rule(rs.raw(), &attr).map_err(at(
            Stage::Landlock,
            Call::LandlockAddPathRule,
            i,
        ))?;
    }
    for (i, rule) in ll.net_rules.iter().enumerate() {
        sys::landlock_add_net_rule(rs.raw(), rule).map_err(at(
            Stage::Landlock,
            Call::LandlockAddNetRule,
            i,
        ))?;
    }
    sys::landlock_restrict_self(rs.raw(), ll.restrict_flags).map_err(at(
        Stage::Landlock,
        Call::LandlockRestrictSelf,
        0,
    ))?;
    Ok(())
}
