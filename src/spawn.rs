//! Spawning: prepare the child plan, `clone3` a `CLONE_VM` child on its own stack, write a root
//! caller's id maps, and await the child's exec report without blocking the runtime.

use std::collections::BTreeMap;
use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::io::unix::AsyncFd;

use crate::child::{
    self, CStrArray, ChildOp, ChildPlan, LandlockPlan, LandlockRule, SelfMaps, REPORT_LEN,
};
use crate::child_handle::{
    async_fd, pidfd_send_signal, reap_blocking, Child, ChildParts, Enforcement, PropertyReport,
};
use crate::command::{Command, EnvOp};
use crate::error::{PolicyError, SpawnError, Stage};
use crate::landlock::Masks;
use crate::plan::cstring;
use crate::plan::identity::Identity;
use crate::plan::mount::{FsOp, MountPlan, NodeKind};
use crate::plan::walk::normalize;
use crate::policy::{Network, Policy};
use crate::stdio::{Stdio, StdioKind};
use crate::sys;

/// The sandbox's default `PATH`.
pub const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";

/// The init program built by `build.rs` from `src/init/main.rs`.
static INIT_BINARY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/init"));

/// A sealed memfd holding the init program, created once per process (memfd_create(2),
/// `F_ADD_SEALS` in fcntl(2)): it cannot be written, grown or shrunk, so a sandboxed program
/// cannot change what pid 1 of another sandbox runs.
fn init_memfd() -> Result<std::os::fd::BorrowedFd<'static>, SpawnError> {
    use rustix::fs::{MemfdFlags, SealFlags};
    static INIT: std::sync::OnceLock<OwnedFd> = std::sync::OnceLock::new();
    if let Some(fd) = INIT.get() {
        return Ok(fd.as_fd());
    }
    let fd = rustix::fs::memfd_create(
        "tokio-sandbox-init",
        MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
    )
    .map_err(|e| os_err("memfd_create")(e.into()))?;
    let mut written = 0;
    while written < INIT_BINARY.len() {
        written += rustix::io::write(&fd, &INIT_BINARY[written..])
            .map_err(|e| os_err("writing the init memfd")(e.into()))?;
    }
    rustix::fs::fcntl_add_seals(
        &fd,
        SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE | SealFlags::SEAL,
    )
    .map_err(|e| os_err("sealing the init memfd")(e.into()))?;
    Ok(INIT.get_or_init(|| fd).as_fd())
}

/// The read end of this process's lifeline pipe, created once. The write end is never closed
/// and never leaves this process (close-on-exec): when the process exits or is killed, every
/// sandbox's init sees EOF and ends its sandbox (see `src/init/main.rs`).
fn lifeline_reader() -> Result<std::os::fd::BorrowedFd<'static>, SpawnError> {
    static LIFELINE: std::sync::OnceLock<(OwnedFd, OwnedFd)> = std::sync::OnceLock::new();
    if let Some((r, _)) = LIFELINE.get() {
        return Ok(r.as_fd());
    }
    let ends = pipe()?;
    Ok(LIFELINE.get_or_init(|| ends).0.as_fd())
}

/// Size of the child's stack. The setup code uses a few KiB.
const STACK_SIZE: usize = 128 * 1024;
const GUARD_SIZE: usize = 4096;

fn os_err(what: &'static str) -> impl FnOnce(io::Error) -> SpawnError {
    move |source| SpawnError::Os { what, source }
}

fn last_os(what: &'static str) -> SpawnError {
    SpawnError::Os {
        what,
        source: io::Error::last_os_error(),
    }
}

/// An mmap'd stack with a guard page below it (mmap(2)).
struct Stack {
    base: *mut libc::c_void,
    len: usize,
}

// SAFETY: the mapping is plain memory owned by this value.
unsafe impl Send for Stack {}
// SAFETY: the parent never reads or writes the mapping; only the child uses it.
unsafe impl Sync for Stack {}

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
struct InFlight {
    plan: Option<Box<ChildPlan>>,
    stack: Option<Stack>,
    pidfd: Option<OwnedFd>,
    report: Option<AsyncFd<OwnedFd>>,
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

/// `pipe2(O_CLOEXEC)`: (read end, write end).
fn pipe() -> Result<(OwnedFd, OwnedFd), SpawnError> {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(|e| os_err("pipe2")(e.into()))
}

/// Moves `fd` to a number at or above `min` (close-on-exec).
fn fd_at_least(fd: OwnedFd, min: RawFd) -> Result<OwnedFd, SpawnError> {
    if fd.as_raw_fd() >= min {
        return Ok(fd);
    }
    // SAFETY: F_DUPFD_CLOEXEC on an fd we own.
    let n = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, min) };
    if n < 0 {
        return Err(last_os("fcntl(F_DUPFD_CLOEXEC)"));
    }
    // SAFETY: n is a new fd we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(n) })
}

/// The parent's ends of piped stdio.
type ParentEnds = (
    Option<tokio::process::ChildStdin>,
    Option<tokio::process::ChildStdout>,
    Option<tokio::process::ChildStderr>,
);

/// Turns the three stdio settings into (child-side fd, target) pairs and the caller's ends.
fn stdio_fds(
    stdio: [Stdio; 3],
    keep: &mut Vec<OwnedFd>,
    fds: &mut Vec<(RawFd, RawFd)>,
) -> Result<ParentEnds, SpawnError> {
    let mut ends: ParentEnds = (None, None, None);
    for (target, s) in stdio.into_iter().enumerate() {
        let target = target as RawFd;
        match s.0 {
            StdioKind::Inherit => fds.push((target, target)),
            StdioKind::Null => {
                let f = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open("/dev/null")
                    .map_err(os_err("open /dev/null"))?;
                let fd: OwnedFd = f.into();
                fds.push((fd.as_raw_fd(), target));
                keep.push(fd);
            }
            StdioKind::Fd(fd) => {
                fds.push((fd.as_raw_fd(), target));
                keep.push(fd);
            }
            StdioKind::Piped => {
                let (r, w) = pipe()?;
                let (child_end, parent_end) = if target == 0 { (r, w) } else { (w, r) };
                fds.push((child_end.as_raw_fd(), target));
                keep.push(child_end);
                match target {
                    0 => {
                        ends.0 = Some(
                            tokio::process::ChildStdin::from_std(parent_end.into())
                                .map_err(os_err("registering stdin"))?,
                        )
                    }
                    1 => {
                        ends.1 = Some(
                            tokio::process::ChildStdout::from_std(parent_end.into())
                                .map_err(os_err("registering stdout"))?,
                        )
                    }
                    _ => {
                        ends.2 = Some(
                            tokio::process::ChildStderr::from_std(parent_end.into())
                                .map_err(os_err("registering stderr"))?,
                        )
                    }
                }
            }
        }
    }
    Ok(ends)
}

/// The environment the program gets: sandbox defaults, then the command's operations in order.
fn environment(ops: &[EnvOp], id: &Identity) -> BTreeMap<OsString, OsString> {
    let mut env: BTreeMap<OsString, OsString> = BTreeMap::new();
    env.insert("PATH".into(), DEFAULT_PATH.into());
    env.insert("HOME".into(), id.home().into());
    env.insert("TMPDIR".into(), "/tmp".into());
    env.insert("USER".into(), id.user_name().into());
    env.insert("LOGNAME".into(), id.user_name().into());
    for op in ops {
        match op {
            EnvOp::Set(k, v) => {
                env.insert(k.clone(), v.clone());
            }
            EnvOp::Remove(k) => {
                env.remove(k);
            }
            EnvOp::Clear => env.clear(),
            EnvOp::Inherit(k) => {
                if let Some(v) = std::env::var_os(k) {
                    env.insert(k.clone(), v);
                }
            }
        }
    }
    env
}

/// The host file a sandbox path shows, following symlinks the way the sandbox sees them (a link
/// to a path the sandbox cannot see leads nowhere).
///
/// Every component is resolved in the sandbox's view (recreated symlinks, then the bind that
/// shows it), so a symlink planted in a read-write path cannot lead the parent to a host file
/// the sandbox cannot see. Only a regular file counts.
fn visible_file(plan: &MountPlan, inside: &Path) -> Option<PathBuf> {
    fn push_components(todo: &mut Vec<std::ffi::OsString>, p: &Path) {
        for c in p.components().rev() {
            match c {
                std::path::Component::Normal(n) => todo.push(n.to_os_string()),
                std::path::Component::ParentDir => todo.push("..".into()),
                _ => {}
            }
        }
    }
    let mut todo = Vec::new();
    push_components(&mut todo, inside);
    let mut current = PathBuf::from("/");
    let mut followed = 0;
    while let Some(c) = todo.pop() {
        if c == ".." {
            current.pop();
            continue;
        }
        let candidate = current.join(&c);
        let target = match plan.links.get(&candidate) {
            Some(t) => Some(PathBuf::from(t)),
            // Outside every bind: a directory of the sandbox's own (tmpfs root, /tmp, ...).
            None => match plan.bound_host_path(&candidate) {
                None => None,
                Some(host) => {
                    let meta = std::fs::symlink_metadata(&host).ok()?;
                    if meta.file_type().is_symlink() {
                        Some(std::fs::read_link(&host).ok()?)
                    } else {
                        None
                    }
                }
            },
        };
        match target {
            Some(t) => {
                followed += 1;
                if followed > 40 {
                    return None;
                }
                if t.is_absolute() {
                    current = PathBuf::from("/");
                }
                push_components(&mut todo, &t);
            }
            None => current = candidate,
        }
    }
    let host = plan.bound_host_path(&current)?;
    std::fs::symlink_metadata(&host)
        .ok()
        .filter(|m| m.is_file())
        .map(|_| host)
}

fn is_executable_file(p: &Path) -> bool {
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Finds the program inside the sandbox: a name without `/` is searched in the sandbox's `PATH`
/// against what the sandbox will see; a path is taken relative to the sandbox's cwd.
fn resolve_program(
    program: &OsStr,
    path_var: Option<&OsStr>,
    cwd: &Path,
    plan: &MountPlan,
) -> Result<PathBuf, PolicyError> {
    let bytes = program.as_bytes();
    if bytes.contains(&b'/') {
        let inside = normalize(&cwd.join(program));
        // A relative path that leads to nothing visible: say where it was looked for.
        if !Path::new(program).is_absolute() && visible_file(plan, &inside).is_none() {
            return Err(PolicyError::ProgramNotFound {
                program: program.to_string_lossy().into_owned(),
                searched: format!(
                    "{} (the working directory inside is {})",
                    inside.display(),
                    cwd.display()
                ),
            });
        }
        // execve reports a missing or non-executable path itself, with the exact errno.
        return Ok(inside);
    }
    let path_var = path_var.unwrap_or(OsStr::new(DEFAULT_PATH));
    for dir in std::env::split_paths(path_var) {
        if !dir.is_absolute() {
            continue;
        }
        let inside = dir.join(program);
        if let Some(host) = visible_file(plan, &inside) {
            if is_executable_file(&host) {
                return Ok(inside);
            }
        }
    }
    Err(PolicyError::ProgramNotFound {
        program: program.to_string_lossy().into_owned(),
        searched: path_var.to_string_lossy().into_owned(),
    })
}

/// The interpreter a program names (`#!` line or ELF `PT_INTERP`), read from the host file.
fn interpreter_of(host: &Path) -> Option<PathBuf> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    // Non-blocking and bounded: the file may have been swapped for a FIFO or a huge file.
    let mut data = Vec::new();
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(host)
        .ok()
        .filter(|f| f.metadata().map(|m| m.is_file()).unwrap_or(false))?
        .take(64 * 1024)
        .read_to_end(&mut data)
        .ok()?;
    if let Some(rest) = data.strip_prefix(b"#!") {
        let line = rest.split(|b| *b == b'\n').next()?;
        let line = std::str::from_utf8(line).ok()?.trim();
        let interp = line.split_whitespace().next()?;
        return Some(PathBuf::from(interp));
    }
    // ELF64 little-endian: find PT_INTERP (type 3) in the program headers.
    if data.len() < 64 || &data[..4] != b"\x7fELF" || data[4] != 2 {
        return None;
    }
    let u64_at = |o: usize| -> Option<u64> {
        Some(u64::from_le_bytes(data.get(o..o + 8)?.try_into().ok()?))
    };
    let u16_at = |o: usize| -> Option<u16> {
        Some(u16::from_le_bytes(data.get(o..o + 2)?.try_into().ok()?))
    };
    let phoff = u64_at(32)? as usize;
    let phentsize = u16_at(54)? as usize;
    let phnum = u16_at(56)? as usize;
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        let ty = u32::from_le_bytes(data.get(ph..ph + 4)?.try_into().ok()?);
        if ty == 3 {
            let off = u64_at(ph + 8)? as usize;
            let size = u64_at(ph + 32)? as usize;
            let s = data.get(off..off + size)?;
            let s = s.split(|b| *b == 0).next()?;
            return Some(PathBuf::from(OsStr::from_bytes(s)));
        }
    }
    None
}

fn old_root_path(p: &Path) -> Result<CString, PolicyError> {
    let mut v = child::OLD_ROOT.as_bytes().to_vec();
    v.extend_from_slice(p.as_os_str().as_bytes());
    CString::new(v).map_err(|_| PolicyError::NulByte(p.to_path_buf()))
}

/// The Landlock rights of a path bound from host path `src`.
fn bind_access(masks: &Masks, kind: NodeKind, writable: bool, src: &Path) -> u64 {
    match (kind, writable) {
        (NodeKind::Dir, false) => masks.read_dir,
        (NodeKind::Dir, true) => masks.write_dir,
        // A read-only mount does not stop writes to a device: Landlock does.
        (NodeKind::File | NodeKind::Device, false) => masks.read_file,
        (NodeKind::File, true) => masks.write_file,
        // ioctl (tcgetattr, tcsetattr) only on terminals, never on data.
        (NodeKind::Device, true) if is_terminal(src) => masks.write_file | masks.ioctl_dev,
        (NodeKind::Device, true) => masks.write_file,
    }
}

/// Whether host path `path` is a terminal device: `/dev/tty` (5:0), a tty or serial line
/// (major 4), or a pty slave (majors 136 to 143), per the kernel's devices.txt.
fn is_terminal(path: &Path) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    let rdev = meta.rdev();
    let (major, minor) = (libc::major(rdev), libc::minor(rdev));
    meta.file_type().is_char_device()
        && ((major, minor) == (5, 0) || major == 4 || (136..=143).contains(&major))
}

/// The nearest writable mount (tmpfs, read-write bind) that `dst` lies beneath, if any.
fn writable_ancestor(plan: &MountPlan, dst: &Path) -> Option<PathBuf> {
    plan.ops.iter().find_map(|op| {
        let (path, writable) = match op {
            FsOp::Tmpfs { dst, .. } => (dst, dst != Path::new("/dev")),
            FsOp::Bind { dst, writable, .. } => (dst, *writable),
            _ => return None,
        };
        (writable && path.as_path() != dst && crate::plan::walk::is_under(dst, path))
            .then(|| path.clone())
    })
}

/// Converts the mount plan into child operations and the Landlock rules that go with them.
fn child_ops(
    plan: &mut MountPlan,
    masks: &Masks,
) -> Result<(Vec<ChildOp>, Vec<LandlockRule>), PolicyError> {
    let mut ops = Vec::with_capacity(plan.ops.len());
    let mut rules = vec![LandlockRule {
        path: c"/".to_owned(),
        access: masks.read_dir | masks.read_file,
    }];
    let rule = |path: &Path, access: u64| -> Result<LandlockRule, PolicyError> {
        Ok(LandlockRule {
            path: cstring(path)?,
            access,
        })
    };
    // A path strictly inside a bind is the host's: nothing may be created there. Those
    // directories leave the plan, so that each child op has the plan op of the same index
    // (a setup error names its path by that index).
    let bind_dsts: std::collections::HashSet<PathBuf> =
        plan.visible.iter().map(|(d, _)| d.clone()).collect();
    let on_host = |p: &Path| p.ancestors().skip(1).any(|a| bind_dsts.contains(a));
    plan.ops
        .retain(|op| !matches!(op, FsOp::Mkdir { path, .. } if on_host(path)));
    for op in &plan.ops {
        match op {
            FsOp::Mkdir { path, mode } => ops.push(ChildOp::Mkdir {
                path: cstring(path)?,
                mode: *mode,
            }),
            FsOp::Symlink { target, path } => ops.push(ChildOp::Symlink {
                target: cstring(target)?,
                path: cstring(path)?,
            }),
            FsOp::Bind {
                src,
                dst,
                kind,
                writable,
            } => {
                let mut attr = sys::MOUNT_ATTR_NOSUID;
                // Device nodes (and a bound /dev) must stay usable: C08.
                if *kind != NodeKind::Device && !src.starts_with("/dev") {
                    attr |= sys::MOUNT_ATTR_NODEV;
                }
                // A device node's mount is read-only even when the device is writable: writes
                // to a device pass a read-only mount (Landlock decides those), while chmod and
                // utimes on the host's node do not.
                if !*writable || *kind == NodeKind::Device {
                    attr |= sys::MOUNT_ATTR_RDONLY;
                }
                // Landlock rights are inherited from parent directories: a read-only device
                // beneath a writable path would be writable.
                if *kind == NodeKind::Device && !*writable {
                    if let Some(parent) = writable_ancestor(plan, dst) {
                        return Err(PolicyError::ReadOnlyDeviceUnderWritable {
                            device: dst.clone(),
                            parent,
                        });
                    }
                }
                ops.push(ChildOp::Bind {
                    src: old_root_path(src)?,
                    dst: cstring(dst)?,
                    dir: *kind == NodeKind::Dir,
                    create: !on_host(dst),
                    attr_set: attr,
                });
                let access = bind_access(masks, *kind, *writable, src);
                rules.push(rule(dst, access)?);
            }
            FsOp::Tmpfs { dst, mode, size } => {
                // Inodes are capped too: empty files cost kernel memory but no size.
                let inodes = (size / 4096).max(1024);
                let data = format!("mode={mode:o},size={size},nr_inodes={inodes}");
                let mut flags = libc::MS_NOSUID | libc::MS_NODEV;
                if dst == Path::new("/dev") {
                    flags |= libc::MS_NOEXEC;
                    rules.push(rule(dst, masks.read_dir)?);
                } else {
                    rules.push(rule(dst, masks.write_dir)?);
                }
                ops.push(ChildOp::Tmpfs {
                    dst: cstring(dst)?,
                    create: !on_host(dst),
                    flags,
                    data: CString::new(data).expect("no NUL in tmpfs options"),
                });
            }
            FsOp::Proc { dst } => {
                ops.push(ChildOp::Proc { dst: cstring(dst)? });
                rules.push(rule(
                    dst,
                    masks.read_dir
                        | masks.read_file
                        | (masks.write_file & masks.file & !masks.ioctl_dev),
                )?);
            }
            FsOp::Devpts { dst } => {
                ops.push(ChildOp::Devpts {
                    dst: cstring(dst)?,
                    data: c"newinstance,ptmxmode=0666,mode=0620".to_owned(),
                });
                // Terminals: ioctl (tcsetattr, TIOCGPTN on ptmx) is what they are for.
                rules.push(rule(
                    dst,
                    masks.read_dir | masks.write_file | masks.ioctl_dev,
                )?);
            }
            FsOp::ReadOnly { path } => ops.push(ChildOp::ReadOnly {
                path: cstring(path)?,
            }),
            FsOp::Mask { path } => ops.push(ChildOp::Mask {
                src: old_root_path(Path::new("/dev/null"))?,
                path: cstring(path)?,
            }),
            FsOp::File { path, contents } => ops.push(ChildOp::File {
                path: cstring(path)?,
                contents: contents.clone(),
            }),
        }
    }
    debug_assert_eq!(ops.len(), plan.ops.len(), "one child op per plan op");
    Ok((ops, rules))
}

/// A [`Policy`] resolved against this host once and reused by every spawn that uses it:
/// canonical paths, the mount plan, the Landlock rules and the ABI masks, as C strings ready for
/// the child. Cheap to clone (an `Arc`).
///
/// The paths are re-resolved by the child without following symlinks, so a path swapped for a
/// symlink after compiling fails the spawn instead of redirecting a bind.
#[derive(Debug, Clone)]
pub struct CompiledPolicy(pub(crate) Arc<Compiled>);

#[derive(Debug)]
pub(crate) struct Compiled {
    pub policy: Policy,
    pub id: Identity,
    pub euid: u32,
    pub abi: Option<u32>,
    pub mount_plan: MountPlan,
    pub ops: Vec<ChildOp>,
    pub landlock: Option<LandlockPlan>,
    /// Why Landlock is not applied although the layer was asked for (best effort).
    pub landlock_missing: Option<String>,
}

impl CompiledPolicy {
    /// Resolves `policy` for the calling process (its effective uid decides the sandbox's
    /// identity; a spawn from another effective uid compiles the policy again). Relative paths
    /// resolve against the current working directory. Blocks the calling thread while it
    /// resolves the paths (lstat(2) and readlink(2) per component).
    ///
    /// ```no_run
    /// use tokio_sandbox::{CompiledPolicy, Policy, PolicyError, SpawnError};
    /// let mut policy = Policy::new();
    /// policy.read_only("/opt/data");
    /// match CompiledPolicy::new(&policy) {
    ///     Ok(compiled) => { /* Command::compiled_policy(&compiled) for each spawn */ }
    ///     Err(SpawnError::Policy(PolicyError::MissingPath { path, source })) => {
    ///         eprintln!("{}: {source}", path.display())
    ///     }
    ///     Err(e) => eprintln!("{e}"),
    /// }
    /// ```
    ///
    /// # Errors
    /// [`SpawnError::Policy`] with [`PolicyError::MissingPath`] (a path or a symlink on it
    /// does not resolve), [`PolicyError::NulByte`], [`PolicyError::RelativeDestination`],
    /// [`PolicyError::RootBind`], [`PolicyError::SymlinkLoop`], [`PolicyError::NotWritable`]
    /// or [`PolicyError::ReadOnlyDeviceUnderWritable`]; [`SpawnError::Unsupported`] when
    /// Landlock is missing and the filesystem is required (or the mount layer is off), when TCP
    /// port rules need Landlock ABI 4 and the network is required, or for
    /// [`Layers`](crate::Layers) that cannot work together (mount or pid namespace without the
    /// user namespace, Landlock in a user namespace without the mount layer, a bind to another
    /// place without a mount namespace).
    pub fn new(policy: &Policy) -> Result<CompiledPolicy, SpawnError> {
        let id = Identity::for_caller(policy);
        let layers = policy.layers;
        if !layers.user_namespace && (layers.mount || layers.pid) {
            return Err(SpawnError::Unsupported {
                mechanism: "mount and pid namespaces",
                reason: "they need the user namespace layer".into(),
            });
        }
        if layers.landlock && !layers.mount && layers.user_namespace {
            return Err(SpawnError::Unsupported {
                mechanism: "Landlock",
                reason: "its rules are added to the sandbox's own root, which needs the mount \
                         layer"
                    .into(),
            });
        }
        // Landlock missing: an error, unless the filesystem is best effort and a mount
        // namespace still holds it (C16).
        let mut landlock_missing = None;
        let abi = if layers.landlock {
            match crate::landlock::abi_version() {
                Ok(v) => Some(v),
                Err(why)
                    if policy.requirements.filesystem == crate::policy::Requirement::BestEffort
                        && layers.mount =>
                {
                    landlock_missing = Some(why.to_string());
                    None
                }
                Err(why) => {
                    return Err(SpawnError::Unsupported {
                        mechanism: "Landlock",
                        reason: why.to_string(),
                    })
                }
            }
        } else {
            None
        };
        let masks = Masks::for_abi(abi.unwrap_or(1));
        let (mount_plan, ops, rules) = if layers.mount {
            let mut plan = policy.mount_plan(&id)?;
            let (ops, rules) = child_ops(&mut plan, &masks)?;
            (plan, ops, rules)
        } else if !layers.user_namespace && layers.landlock {
            // Landlock alone: the policy's paths become rules on the host paths.
            let plan = policy.mount_plan(&id)?;
            let rules = host_rules(&plan, &masks)?;
            let mut visible = MountPlan::host();
            visible.visible = plan.visible.clone();
            visible.links = plan.links.clone();
            visible.host_links = plan.host_links.clone();
            (visible, Vec::new(), rules)
        } else {
            let mut plan = MountPlan::host();
            let (ops, rules) = child_ops(&mut plan, &masks)?;
            (plan, ops, rules)
        };
        // TCP port allow-lists (Landlock ABI 4).
        let (mut handled_net, mut net_rules) = (0u64, Vec::new());
        let restricted = [
            (policy.tcp_bind.as_ref(), 1u64),
            (policy.tcp_connect.as_ref(), 2u64),
        ];
        if restricted.iter().any(|(r, _)| r.is_some()) {
            match abi {
                Some(v) if v >= 4 => {
                    for (ports, access) in restricted {
                        if let Some(ports) = ports {
                            handled_net |= access;
                            for port in ports {
                                net_rules.push(sys::LandlockNetPortAttr {
                                    allowed_access: access,
                                    port: *port as u64,
                                });
                            }
                        }
                    }
                }
                _ if policy.requirements.network == crate::policy::Requirement::BestEffort => {}
                _ => {
                    return Err(SpawnError::Unsupported {
                        mechanism: "Landlock TCP rules",
                        reason: format!(
                            "TCP port allow-lists need Landlock ABI 4 (this process uses {})",
                            abi.map_or("no Landlock".to_string(), |v| format!("ABI {v}"))
                        ),
                    })
                }
            }
        }
        let landlock = abi.map(|_| LandlockPlan {
            attr: sys::LandlockRulesetAttr {
                handled_access_fs: masks.handled,
                handled_access_net: handled_net,
                scoped: masks.scoped,
            },
            rules,
            net_rules,
            restrict_flags: masks.restrict_flags,
        });
        Ok(CompiledPolicy(Arc::new(Compiled {
            policy: policy.clone(),
            id,
            euid: rustix::process::geteuid().as_raw(),
            abi,
            mount_plan,
            ops,
            landlock,
            landlock_missing,
        })))
    }

    /// The policy this was compiled from.
    pub fn policy(&self) -> &Policy {
        &self.0.policy
    }
}

/// What a spawn needs from the [`Command`], owned, so the synchronous part can run off the
/// runtime's threads.
struct Request {
    /// Why user namespaces are not used, when they are not.
    fallback: Option<String>,
    requested_network: Network,
    policy: Policy,
    compiled: Option<CompiledPolicy>,
    program: OsString,
    arg0: Option<OsString>,
    args: Vec<OsString>,
    env_ops: Vec<EnvOp>,
    cwd: Option<PathBuf>,
    stdio: [Stdio; 3],
    extra_fds: Vec<(RawFd, OwnedFd)>,
    kill_on_drop: bool,
    timeout: Option<std::time::Duration>,
}

/// A child that has been cloned and is setting itself up.
struct Started {
    inflight: InFlight,
    pid: u32,
    parent_ends: ParentEnds,
    status_rd: OwnedFd,
    namespaces: Vec<&'static str>,
    kill_on_drop: bool,
    timeout: Option<std::time::Duration>,
    fallback: Option<String>,
    requested_network: Network,
    compiled: CompiledPolicy,
    program_inside: PathBuf,
    sandbox_cgroup: Option<crate::cgroup::SandboxCgroup>,
}

/// Landlock rules on host paths for a sandbox without a mount namespace: every same-place bind
/// of the plan (policy paths, the system runtime, the device nodes), host `/proc` read-only,
/// and the host's user and host-name files read-only (nothing is generated).
fn host_rules(plan: &MountPlan, masks: &Masks) -> Result<Vec<LandlockRule>, SpawnError> {
    let mut rules = Vec::new();
    let mut add = |path: &Path, access: u64| -> Result<(), SpawnError> {
        rules.push(LandlockRule {
            path: cstring(path)?,
            access,
        });
        Ok(())
    };
    for op in &plan.ops {
        match op {
            FsOp::Bind {
                src,
                dst,
                kind,
                writable,
            } => {
                if src != dst {
                    return Err(SpawnError::Unsupported {
                        mechanism: "mount namespace",
                        reason: format!(
                            "binding {} at {} needs one; Landlock alone can only allow paths \
                             where they are",
                            src.display(),
                            dst.display()
                        ),
                    });
                }
                add(src, bind_access(masks, *kind, *writable, src))?;
            }
            FsOp::Proc { dst } => add(dst, masks.read_dir)?,
            _ => {}
        }
    }
    for f in ["/etc/passwd", "/etc/group", "/etc/hosts", "/etc/hostname"] {
        if Path::new(f).exists() {
            add(Path::new(f), masks.read_file)?;
        }
    }
    Ok(rules)
}

/// Which layers enforce each property, and why one is not enforced.
fn property_report(
    compiled: &Compiled,
    requested_network: Network,
    fallback: Option<&str>,
) -> Vec<PropertyReport> {
    use crate::policy::Property;
    let (policy, abi) = (&compiled.policy, compiled.abi);
    let l = policy.layers;
    let why = |what: &str| match fallback {
        Some(reason) => format!("{what}: user namespaces are unusable here ({reason})"),
        None => format!("{what}: the layer was switched off"),
    };
    let mut fs = Vec::new();
    if l.mount {
        fs.push("mount namespace".to_string());
    }
    if let Some(v) = abi {
        fs.push(format!("Landlock ABI {v}"));
    }
    let fs_missing = if let Some(why) = &compiled.landlock_missing {
        Some(format!("Landlock: {why}"))
    } else if fs.is_empty() {
        Some("no mount namespace and no Landlock".to_string())
    } else if !l.mount {
        Some(why(
            "a private /tmp, home and /dev/shm, a fresh /proc and generated /etc files need a \
             mount namespace",
        ))
    } else {
        None
    };
    let tcp_rules =
        (policy.tcp_bind.is_some() || policy.tcp_connect.is_some()) && abi.is_some_and(|v| v >= 4);
    let net = match (requested_network, policy.network) {
        (Network::Host, _) if tcp_rules => (
            vec![format!(
                "Landlock TCP port rules (ABI {})",
                abi.unwrap_or(0)
            )],
            Some("host network: only TCP bind/connect ports are restricted, not UDP".into()),
        ),
        (Network::Host, _) => (
            Vec::new(),
            Some("the policy asks for the host network".into()),
        ),
        (Network::None, Network::None) => (vec!["network namespace".to_string()], None),
        (Network::None, Network::Host) => (
            Vec::new(),
            Some(why(
                "no network needs a network namespace (Landlock does not cover UDP)",
            )),
        ),
    };
    // A property one layer enforces: that layer, or why it is not enforced.
    let single = |on: bool, layer: &str, missing: String| {
        if on {
            (vec![layer.to_string()], None)
        } else {
            (Vec::new(), Some(missing))
        }
    };
    let procs = single(
        l.pid,
        "pid namespace",
        why("hiding host processes and killing the whole tree need a pid namespace"),
    );
    let sys = single(
        l.seccomp,
        "seccomp",
        "the seccomp layer was switched off".to_string(),
    );
    vec![
        PropertyReport {
            property: Property::Filesystem,
            layers: fs,
            not_enforced: fs_missing,
        },
        PropertyReport {
            property: Property::Network,
            layers: net.0,
            not_enforced: net.1,
        },
        PropertyReport {
            property: Property::Processes,
            layers: procs.0,
            not_enforced: procs.1,
        },
        PropertyReport {
            property: Property::Syscalls,
            layers: sys.0,
            not_enforced: sys.1,
        },
    ]
}

/// The policy to use on a host without usable user namespaces: Landlock, seccomp and
/// `no_new_privs` alone, when the caller allows the properties only namespaces give to be
/// left out. `None` when it does not.
fn landlock_only(policy: &Policy) -> Option<Policy> {
    use crate::policy::{Property, Requirement};
    let r = &policy.requirements;
    let best = |p| r.get(p) == Requirement::BestEffort;
    let network_ok = policy.network == Network::Host || best(Property::Network);
    if !network_ok || !best(Property::Processes) {
        return None;
    }
    let mut p = policy.clone();
    p.network(Network::Host);
    p.layers(crate::Layers {
        user_namespace: false,
        mount: false,
        pid: false,
        ..policy.layers
    });
    Some(p)
}

/// Spawns `cmd` with `default_stdio` used for streams the command leaves unset.
///
/// Preparing the plan and `clone3` (which creates the namespaces synchronously, ~0.3 ms for a
/// network namespace) run on tokio's blocking pool, so a runtime thread is never held for the
/// duration of a clone; the wait for the exec report is async.
pub(crate) async fn spawn(
    cmd: &mut Command,
    default_stdio: fn() -> [Stdio; 3],
) -> Result<Child, SpawnError> {
    let mut policy = cmd.policy.clone();
    let mut fallback: Option<String> = None;
    if policy.layers.user_namespace {
        if let Some(lo) = landlock_only(&policy) {
            // The caller allows running without namespaces: find out (once per process) whether
            // this host lets us have them.
            let probe = tokio::task::spawn_blocking(crate::probe::probe)
                .await
                .map_err(|e| os_err("probing the host")(io::Error::other(e)))?;
            if let crate::probe::Availability::Unavailable(why) = &probe.user_namespace {
                fallback = Some(why.clone());
                policy = lo;
            }
        }
    }
    let [d0, d1, d2] = default_stdio();
    let req = Request {
        fallback,
        requested_network: cmd.policy.network,
        policy,
        compiled: cmd.compiled.clone(),
        program: cmd.program.clone(),
        arg0: cmd.arg0.clone(),
        args: cmd.args.clone(),
        env_ops: cmd.env_ops.clone(),
        cwd: cmd.cwd.clone(),
        stdio: [
            cmd.stdin.take().unwrap_or(d0),
            cmd.stdout.take().unwrap_or(d1),
            cmd.stderr.take().unwrap_or(d2),
        ],
        extra_fds: std::mem::take(&mut cmd.extra_fds),
        kill_on_drop: cmd.kill_on_drop,
        timeout: cmd.timeout,
    };
    let _permit = setup_slots()
        .acquire()
        .await
        .map_err(|e| os_err("the setup limit")(io::Error::other(e)))?;
    #[cfg(feature = "tracing")]
    let (span, t0) = {
        let l = req.policy.layers;
        let span = tracing::debug_span!(
            "tokio_sandbox::spawn",
            program = %req.program.to_string_lossy(),
            network = ?req.policy.network,
            layers = %format!(
                "userns={} mount={} pid={} landlock={} seccomp={}",
                l.user_namespace, l.mount, l.pid, l.landlock, l.seccomp
            ),
        );
        if let Some(why) = &req.fallback {
            span.in_scope(
                || tracing::warn!(reason = %why, "user namespaces unusable: Landlock-only sandbox"),
            );
        }
        (span, std::time::Instant::now())
    };
    let started = tokio::task::spawn_blocking(move || start(req))
        .await
        .map_err(|e| os_err("the spawning task")(io::Error::other(e)))??;
    if started.fallback.is_none() {
        cmd.compiled = Some(started.compiled.clone());
    }
    #[cfg(feature = "tracing")]
    let (prepared_and_cloned, t1) = (t0.elapsed(), std::time::Instant::now());
    #[cfg(feature = "tracing")]
    if let Some(why) = &started.compiled.0.landlock_missing {
        span.in_scope(|| tracing::warn!(reason = %why, "Landlock not applied (best effort)"));
    }
    let result = finish(started).await;
    #[cfg(feature = "tracing")]
    span.in_scope(|| match &result {
        Ok(child) => tracing::debug!(
            pid = child.id(),
            prepare_and_clone_us = prepared_and_cloned.as_micros() as u64,
            setup_and_exec_us = t1.elapsed().as_micros() as u64,
            "sandbox started"
        ),
        Err(e) => tracing::debug!(error = %e, "spawn failed"),
    });
    result
}

/// The compiled form of `policy`: the command's own when still valid, else the last one
/// compiled in this process when the policy is the same (and depends on no working directory),
/// else a new one.
fn compiled_policy(
    policy: &Policy,
    own: Option<&CompiledPolicy>,
) -> Result<CompiledPolicy, SpawnError> {
    static LAST: std::sync::Mutex<Option<CompiledPolicy>> = std::sync::Mutex::new(None);
    let euid = rustix::process::geteuid().as_raw();
    let valid = |c: &CompiledPolicy| c.0.euid == euid && c.0.policy == *policy;
    if let Some(c) = own.filter(|c| valid(c)) {
        return Ok(c.clone());
    }
    let shareable = policy.all_absolute();
    if shareable {
        let last = LAST.lock().unwrap_or_else(|e| e.into_inner());
        // A fresh command resolves its paths anew: the last plan serves only while every
        // symlink it met still points where it did.
        if let Some(c) = last
            .as_ref()
            .filter(|c| valid(c) && c.0.mount_plan.host_links_unchanged())
        {
            return Ok(c.clone());
        }
    }
    let c = CompiledPolicy::new(policy)?;
    if shareable {
        *LAST.lock().unwrap_or_else(|e| e.into_inner()) = Some(c.clone());
    }
    Ok(c)
}

/// Limits how many sandboxes are set up at once (cloned but not yet exec'd) to twice the
/// number of CPUs. Setup is CPU-bound in the kernel (namespaces, mounts, the seccomp filter);
/// past that, more at once only slow each other and starve the caller's runtime threads.
fn setup_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| {
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::sync::Semaphore::new((2 * cpus).max(4))
    })
}

/// Prepares the child plan, clones the child and, for a root caller, writes its id maps.
fn start(req: Request) -> Result<Started, SpawnError> {
    let compiled = compiled_policy(&req.policy, req.compiled.as_ref())?;
    let c = &compiled.0;
    let (policy, id, layers, mount_plan) = (&c.policy, c.id, c.policy.layers, &c.mount_plan);

    if !id.privileged && !policy.allow_retained_groups {
        let egid = rustix::process::getegid().as_raw();
        let groups: Vec<u32> = rustix::process::getgroups()
            .map_err(|e| os_err("getgroups")(e.into()))?
            .into_iter()
            .map(|g| g.as_raw())
            .filter(|g| *g != egid)
            .collect();
        if !groups.is_empty() {
            return Err(PolicyError::RetainedGroups { groups }.into());
        }
    }

    // Working directory: as asked, else the caller's when the sandbox has it at the same
    // place (bound there, or created there as the parent of a bound path, so that relative
    // paths to bound children work), else /.
    let caller_cwd = std::env::current_dir().ok();
    let cwd = match &req.cwd {
        Some(d) => normalize(&crate::plan::walk::absolute(d).map_err(os_err("current_dir"))?),
        None => caller_cwd
            .as_ref()
            .filter(|c| {
                mount_plan.host_path(c).as_deref() == Some(c.as_path())
                    || mount_plan
                        .visible
                        .iter()
                        .any(|(dst, src)| dst == src && dst.starts_with(c))
            })
            .cloned()
            .unwrap_or_else(|| PathBuf::from("/")),
    };

    let env = environment(&req.env_ops, &id);
    let program_inside = resolve_program(
        &req.program,
        env.get(OsStr::new("PATH")).map(|v| v.as_os_str()),
        &cwd,
        mount_plan,
    )?;

    let cstr = |what: &'static str, s: &OsStr| {
        CString::new(s.as_bytes()).map_err(|_| PolicyError::NulInString {
            what,
            value: s.to_string_lossy().into_owned(),
        })
    };
    let mut argv_c = Vec::with_capacity(req.args.len() + 6);
    argv_c.push(c"tokio-sandbox-init".to_owned());
    argv_c.push(c"0".to_owned()); // report fd, set below
    argv_c.push(c"0".to_owned()); // status fd, set below
    argv_c.push(c"0".to_owned()); // lifeline fd, set below
    argv_c.push(cstring(&program_inside)?);
    argv_c.push(cstr(
        "program",
        req.arg0.as_deref().unwrap_or(req.program.as_os_str()),
    )?);
    for a in &req.args {
        argv_c.push(cstr("argument", a)?);
    }
    let mut envp_c = Vec::with_capacity(env.len());
    for (k, v) in &env {
        if k.as_bytes().contains(&b'=') || k.is_empty() {
            return Err(PolicyError::InvalidEnvName(k.to_string_lossy().into_owned()).into());
        }
        let mut kv = k.clone();
        kv.push("=");
        kv.push(v);
        envp_c.push(cstr("environment variable", &kv)?);
    }

    // File descriptors.
    let mut keep: Vec<OwnedFd> = Vec::new();
    let mut fds: Vec<(RawFd, RawFd)> = Vec::new();
    let parent_ends = stdio_fds(req.stdio, &mut keep, &mut fds)?;
    for (target, fd) in req.extra_fds {
        fds.push((fd.as_raw_fd(), target));
        keep.push(fd);
    }
    let max_fd = fds.iter().map(|(s, d)| (*s).max(*d)).max().unwrap_or(2);
    let mut targets: Vec<RawFd> = fds.iter().map(|(_, d)| *d).filter(|d| *d >= 3).collect();
    targets.sort_unstable();
    targets.dedup();
    let mut cloexec_ranges = Vec::new();
    let mut next = 3u32;
    for t in &targets {
        if (*t as u32) > next {
            cloexec_ranges.push((next, *t as u32 - 1));
        }
        next = *t as u32 + 1;
    }
    cloexec_ranges.push((next, u32::MAX));

    let max_target = targets.last().copied().unwrap_or(2);
    let (report_rd, report_wr) = pipe()?;
    let report_wr = fd_at_least(report_wr, max_target + 1)?;
    let (status_rd, status_wr) = pipe()?;
    let status_wr = fd_at_least(status_wr, max_target + 1)?;
    argv_c[1] = CString::new(report_wr.as_raw_fd().to_string()).expect("digits");
    argv_c[2] = CString::new(status_wr.as_raw_fd().to_string()).expect("digits");
    // Each sandbox gets its own open file description of the lifeline (a reopen, not a dup):
    // init asks for SIGIO with F_SETOWN, which belongs to the description.
    let lifeline: OwnedFd =
        std::fs::File::open(format!("/proc/self/fd/{}", lifeline_reader()?.as_raw_fd()))
            .map_err(os_err("reopening the lifeline"))?
            .into();
    let lifeline = fd_at_least(lifeline, max_target + 1)?;
    argv_c[3] = CString::new(lifeline.as_raw_fd().to_string()).expect("digits");
    let init_fd = init_memfd()?;
    let (sync_rd, sync_wr) = if id.privileged && layers.user_namespace {
        let (r, w) = pipe()?;
        (Some(fd_at_least(r, max_target + 1)?), Some(w))
    } else {
        (None, None)
    };

    let fd_floor = max_fd
        .max(report_wr.as_raw_fd())
        .max(status_wr.as_raw_fd())
        .max(lifeline.as_raw_fd())
        .max(init_fd.as_raw_fd())
        .max(sync_rd.as_ref().map(|f| f.as_raw_fd()).unwrap_or(0))
        + 1;

    // A root caller's sandbox joins a network namespace prepared ahead of time (with lo up)
    // instead of creating one inside clone3; the guard keeps this thread in it until the clone.
    let joined_netns = if policy.network == Network::None && layers.user_namespace {
        crate::netns_pool::take()
    } else {
        None
    };
    // cgroup v2 limits for the whole sandbox, where a hierarchy is delegated to this process
    // (and clone3 can place the child in it); the rlimits they replace are then left out.
    let limits = policy.limits;
    let sandbox_cgroup = match crate::cgroup::delegated() {
        Ok(parent)
            if (limits.memory.is_some()
                || limits.processes.is_some()
                || limits.cpu_millis.is_some())
                && crate::probe::clone3_exists() =>
        {
            crate::cgroup::SandboxCgroup::create(parent, &limits).ok()
        }
        _ => None,
    };
    if limits.cpu_millis.is_some() && sandbox_cgroup.is_none() {
        return Err(SpawnError::Unsupported {
            mechanism: "a cgroup v2 cpu controller",
            reason: match crate::cgroup::delegated() {
                Err(why) => why.to_string(),
                Ok(_) => "the sandbox's cgroup could not be created".to_string(),
            },
        });
    }
    let cgroup_fd = match &sandbox_cgroup {
        Some(cg) => Some(cg.fd().map_err(os_err("opening the sandbox's cgroup"))?),
        None => None,
    };
    let rlimits = if sandbox_cgroup.is_some() {
        crate::policy::Limits {
            memory: None,
            processes: None,
            ..limits
        }
        .rlimits()
    } else {
        limits.rlimits()
    };
    let plan = Box::new(ChildPlan {
        report_fd: report_wr.as_raw_fd(),
        sync_fd: sync_rd.as_ref().map(|f| f.as_raw_fd()).unwrap_or(-1),
        self_maps: (!id.privileged && layers.user_namespace).then(|| SelfMaps {
            uid_map: format!("{} {} 1\n", id.inside_uid, id.host_uid).into_bytes(),
            gid_map: format!("{} {} 1\n", id.inside_gid, id.host_gid).into_bytes(),
        }),
        switch_ids: id.privileged.then_some((id.host_uid, id.host_gid)),
        staging: c"/tmp".to_owned(),
        root_data: c"mode=0755,size=1048576".to_owned(),
        policy: compiled.0.clone(),
        // The host name is the UTS namespace's; without one it stays the host's.
        hostname: if layers.user_namespace {
            policy.hostname.as_bytes().to_vec()
        } else {
            Vec::new()
        },
        in_user_namespace: layers.user_namespace,
        loopback: policy.network == Network::None && joined_netns.is_none(),
        cwd: cstring(&cwd)?,
        new_session: policy.new_session,
        fd_scratch: std::cell::UnsafeCell::new(vec![-1; fds.len()]),
        fds,
        fd_floor,
        cloexec_ranges,
        mount_ns: layers.mount,
        rlimits,
        seccomp: {
            let mut progs: Vec<child::Bpf> = Vec::new();
            if layers.seccomp {
                progs.extend(crate::seccomp::default_programs().map(child::Bpf::Static));
            }
            if policy.tcp_bind.is_some() || policy.tcp_connect.is_some() {
                progs.push(child::Bpf::Static(crate::seccomp::tcp_rules_program()));
            }
            progs.extend(policy.extra_seccomp.iter().cloned().map(child::Bpf::Shared));
            progs
        },
        init_fd: init_fd.as_raw_fd(),
        status_fd: status_wr.as_raw_fd(),
        lifeline_fd: lifeline.as_raw_fd(),
        argv: CStrArray::new(argv_c),
        envp: CStrArray::new(envp_c),
    });

    let userns = layers.user_namespace;
    let (mut ns_flags, mut namespaces) = if userns {
        (
            libc::CLONE_NEWUSER | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS | libc::CLONE_NEWCGROUP,
            vec!["user", "ipc", "uts", "cgroup"],
        )
    } else {
        (0, Vec::new())
    };
    if layers.mount {
        ns_flags |= libc::CLONE_NEWNS;
        namespaces.push("mount");
    }
    if layers.pid {
        ns_flags |= libc::CLONE_NEWPID;
        namespaces.push("pid");
    }
    if policy.network == Network::None {
        if joined_netns.is_none() {
            ns_flags |= libc::CLONE_NEWNET;
        }
        namespaces.push("network");
    }

    let stack = Stack::new()?;
    let mut pidfd_raw: libc::c_int = -1;
    let args = sys::CloneArgs {
        flags: (libc::CLONE_VM | libc::CLONE_PIDFD | ns_flags) as u64
            | sys::CLONE_CLEAR_SIGHAND
            | if cgroup_fd.is_some() {
                sys::CLONE_INTO_CGROUP
            } else {
                0
            },
        pidfd: &mut pidfd_raw as *mut libc::c_int as u64,
        exit_signal: 0,
        stack: stack.base as u64,
        stack_size: stack.len as u64,
        cgroup: cgroup_fd.as_ref().map_or(0, |fd| fd.as_raw_fd() as u64),
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
        if userns && matches!(-ret as i32, libc::EPERM | libc::ENOSPC | libc::EUSERS) {
            return Err(SpawnError::Unsupported {
                mechanism: "a user namespace",
                reason: format!(
                    "{clone_call} with CLONE_NEWUSER: {err}; allow them on this host, or make \
                     Network and Processes best effort to run on Landlock alone"
                ),
            });
        }
        return Err(SpawnError::Os {
            what: clone_call,
            source: err,
        });
    }
    // Back to this thread's own network namespace.
    drop(joined_netns);
    let pid = ret as u32;
    // SAFETY: clone3 stored a new pidfd that we now own.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd_raw) };

    // The child has its own copy of the fd table: drop the parent's copies of its ends.
    drop(report_wr);
    drop(status_wr);
    drop(lifeline);
    drop(sync_rd);
    drop(keep);

    // SAFETY: F_SETFL O_NONBLOCK on our own pipe end.
    unsafe {
        let fl = libc::fcntl(report_rd.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(report_rd.as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
    let mut inflight = InFlight {
        plan: Some(plan),
        stack: Some(stack),
        pidfd: Some(pidfd),
        report: None,
    };
    inflight.report = Some(async_fd(report_rd).map_err(os_err("registering the report pipe"))?);

    if let Some(w) = sync_wr {
        let maps = [
            ("uid_map", format!("{} {} 1\n", id.inside_uid, id.host_uid)),
            ("gid_map", format!("{} {} 1\n", id.inside_gid, id.host_gid)),
        ];
        for (file, line) in maps {
            std::fs::write(format!("/proc/{pid}/{file}"), line).map_err(|e| SpawnError::Setup {
                stage: Stage::IdMap,
                path: Some(PathBuf::from(format!("/proc/{pid}/{file}"))),
                source: e,
            })?;
        }
        rustix::io::write(&w, b"1").map_err(|e| os_err("writing the sync pipe")(e.into()))?;
    }
    Ok(Started {
        inflight,
        pid,
        parent_ends,
        status_rd,
        namespaces,
        kill_on_drop: req.kill_on_drop,
        timeout: req.timeout,
        fallback: req.fallback,
        requested_network: req.requested_network,
        compiled,
        program_inside,
        sandbox_cgroup,
    })
}

/// Awaits the child's exec report: EOF alone means the program was exec'd.
async fn finish(started: Started) -> Result<Child, SpawnError> {
    let Started {
        mut inflight,
        pid,
        parent_ends,
        status_rd,
        namespaces,
        kill_on_drop,
        timeout,
        fallback,
        requested_network,
        compiled,
        program_inside,
        sandbox_cgroup,
    } = started;
    let (abi, layers, mount_plan) = (
        compiled.0.abi,
        compiled.0.policy.layers,
        &compiled.0.mount_plan,
    );
    let mut report = [0u8; REPORT_LEN];
    let mut got = 0usize;
    loop {
        let r = inflight.report.as_ref().expect("set above");
        let mut guard = r.readable().await.map_err(os_err("waiting for exec"))?;
        match rustix::io::read(r.get_ref(), &mut report[got..]) {
            Ok(0) => break,
            Ok(n) => {
                got += n;
                if got == REPORT_LEN {
                    // The child exits right after; EOF follows.
                    continue;
                }
            }
            Err(rustix::io::Errno::AGAIN) => guard.clear_ready(),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(os_err("reading the exec report")(e.into())),
        }
    }

    // The child has exec'd or exited: its stack and plan are no longer in use.
    let plan = inflight.plan.take().expect("plan present");
    drop(inflight.stack.take());
    let pidfd = inflight.pidfd.take().expect("pidfd present");
    drop(inflight);

    if got == 0 {
        return Child::new(ChildParts {
            pid,
            pidfd,
            kill_on_drop,
            enforcement: Enforcement {
                namespaces,
                landlock_abi: abi,
                seccomp: layers.seccomp,
                no_new_privs: true,
                capabilities_dropped: true,
                properties: property_report(&compiled.0, requested_network, fallback.as_deref()),
                // Host uid 0 is exempt from RLIMIT_NPROC, not from pids.max.
                process_limit: compiled.0.policy.limits.processes.filter(|_| {
                    sandbox_cgroup.is_some()
                        || !(compiled.0.id.privileged && compiled.0.id.host_uid == 0)
                }),
            },
            stdio: parent_ends,
            status_pipe: status_rd,
            timeout,
            limits: compiled.0.policy.limits,
            cgroup: sandbox_cgroup,
        })
        .map_err(os_err("registering the pidfd"));
    }

    // Reap the failed child (it exits right after writing the report).
    let pidfd = async_fd(pidfd).map_err(os_err("registering the pidfd"))?;
    // Readable once it has exited, so the wait does not block.
    let _ = pidfd.readable().await;
    reap_blocking(pidfd.get_ref().as_fd());

    if got != REPORT_LEN {
        return Err(SpawnError::Os {
            what: "reading the exec report",
            source: io::Error::new(io::ErrorKind::UnexpectedEof, "short report"),
        });
    }
    let word = |i: usize| u32::from_ne_bytes(report[i * 4..i * 4 + 4].try_into().expect("4 bytes"));
    let stage = Stage::from_code(word(0)).unwrap_or(Stage::Exec);
    let index = word(1) as usize;
    let errno = word(2) as i32;
    Err(setup_error(
        stage,
        index,
        errno,
        &plan,
        mount_plan,
        &program_inside,
    ))
}

/// Turns a child report into a typed error naming the step and the path.
fn setup_error(
    stage: Stage,
    index: usize,
    errno: i32,
    plan: &ChildPlan,
    mount_plan: &MountPlan,
    program: &Path,
) -> SpawnError {
    let source = io::Error::from_raw_os_error(errno);
    if stage == Stage::Exec && index == 0 {
        let host = visible_file(mount_plan, program);
        return match errno {
            libc::ENOENT => match host.as_deref().and_then(interpreter_of) {
                Some(interpreter) => SpawnError::InterpreterNotFound {
                    path: program.to_path_buf(),
                    interpreter,
                },
                None if host.is_none()
                    && program.is_absolute()
                    && std::fs::metadata(program).is_ok_and(|m| m.is_file()) =>
                {
                    SpawnError::NotBound {
                        path: program.to_path_buf(),
                    }
                }
                None => SpawnError::NotFound {
                    path: program.to_path_buf(),
                },
            },
            libc::EACCES | libc::ENOEXEC | libc::EISDIR => SpawnError::NotExecutable {
                path: program.to_path_buf(),
                source,
            },
            _ => SpawnError::Setup {
                stage,
                path: Some(program.to_path_buf()),
                source,
            },
        };
    }
    let path = match stage {
        Stage::Mkdir
        | Stage::Symlink
        | Stage::Bind
        | Stage::Tmpfs
        | Stage::Proc
        | Stage::Devpts
        | Stage::File => mount_plan.ops.get(index).map(|op| match op {
            FsOp::Bind { src, .. } => src.clone(),
            other => other.path().to_path_buf(),
        }),
        Stage::IdMap => Some(PathBuf::from(match index {
            0 => "/proc/self/setgroups",
            1 => "/proc/self/gid_map",
            _ => "/proc/self/uid_map",
        })),
        Stage::Landlock => index
            .checked_sub(1)
            .and_then(|i| plan.policy.landlock.as_ref()?.rules.get(i))
            .map(|r| PathBuf::from(OsStr::from_bytes(r.path.as_bytes()))),
        Stage::Chdir => Some(PathBuf::from(OsStr::from_bytes(plan.cwd.as_bytes()))),
        // Too long an argument list is the program's, although the init's execve reports it.
        Stage::Exec if errno == libc::E2BIG => Some(program.to_path_buf()),
        Stage::Exec => Some(PathBuf::from("memfd:tokio-sandbox-init")),
        Stage::RootTmpfs | Stage::PivotRoot => {
            Some(PathBuf::from(OsStr::from_bytes(plan.staging.as_bytes())))
        }
        _ => None,
    };
    SpawnError::Setup {
        stage,
        path,
        source,
    }
}
