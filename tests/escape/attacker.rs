//! The attacker program. This test binary becomes it when started with `TSB_ATTACK=NAME` (plus
//! `TSB_ARG` / `TSB_ARG2` where the attempt takes arguments): a constructor makes that one
//! attempt before the test harness starts, prints the outcome on stdout (`ok`, `errno N`, or a
//! short text the attempt defines) and exits. With `TSB_CONTROL_USERNS=1` it first enters a
//! fresh user and mount namespace of its own: the host controls use that to show that an
//! unprivileged process may normally make the call.
//!
//! Raw system calls are made through `libc::syscall` so that the outcome is the kernel's (or the
//! seccomp filter's) answer, not a library's interpretation of it.

use std::ffi::CString;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

use libc::c_long;

pub const ATTACK: &str = "TSB_ATTACK";
pub const ARG: &str = "TSB_ARG";
pub const ARG2: &str = "TSB_ARG2";
pub const CONTROL_USERNS: &str = "TSB_CONTROL_USERNS";

/// Runs the attempt named by `TSB_ATTACK`, if set, and exits; otherwise returns and the test
/// harness starts as usual.
///
/// # Safety
/// Runs before `main`, single-threaded; it uses only the environment, allocation and system
/// calls, and ends the process with `_exit`.
#[ctor::ctor]
unsafe fn attacker_entry() {
    let Some(name) = std::env::var_os(ATTACK) else {
        return;
    };
    let out = format!("{}\n", run(&name.to_string_lossy()));
    // SAFETY: writes a live buffer to stdout, then ends the process without running the
    // harness.
    unsafe {
        libc::write(1, out.as_ptr().cast(), out.len());
        libc::_exit(0);
    }
}

fn arg() -> String {
    std::env::var(ARG).unwrap_or_default()
}

fn arg2() -> String {
    std::env::var(ARG2).unwrap_or_default()
}

fn c(s: &str) -> CString {
    CString::new(s).expect("no NUL in attacker arguments")
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(-1)
}

/// `ok` for a non-negative return value, `errno N` otherwise.
fn ret(r: c_long) -> String {
    if r >= 0 {
        "ok".into()
    } else {
        format!("errno {}", errno())
    }
}

fn io<T>(r: std::io::Result<T>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => format!("errno {}", e.raw_os_error().unwrap_or(-1)),
    }
}

fn sc(nr: c_long, args: &[c_long]) -> String {
    let mut a = [0 as c_long; 6];
    a[..args.len()].copy_from_slice(args);
    // SAFETY: every attempt passes arguments that are valid for its call (pointers into live
    // buffers, or numbers); the call's outcome is what is reported.
    ret(unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]) })
}

fn ptr<T>(p: &T) -> c_long {
    p as *const T as c_long
}

/// Runs `f` in a forked child (single-threaded here, before `main`) and returns what it printed.
fn in_child(f: impl FnOnce() -> String) -> String {
    let mut fds = [0; 2];
    // SAFETY: pipe fills the two-element array.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return format!("pipe errno {}", errno());
    }
    // SAFETY: the process is single-threaded (a constructor before main), so the child may do
    // anything; it ends with _exit.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let out = f();
        // SAFETY: writes a live buffer to the pipe and ends the child.
        unsafe {
            libc::write(fds[1], out.as_ptr().cast(), out.len());
            libc::_exit(0);
        }
    }
    // SAFETY: closes the write end this process owns; reads into a live buffer; reaps the child.
    unsafe {
        libc::close(fds[1]);
        let mut buf = [0u8; 256];
        let n = libc::read(fds[0], buf.as_mut_ptr().cast(), buf.len());
        libc::waitpid(pid, std::ptr::null_mut(), 0);
        String::from_utf8_lossy(&buf[..n.max(0) as usize]).into_owned()
    }
}

/// A child that sleeps until killed; returns its pid.
fn sleeper() -> libc::pid_t {
    // SAFETY: single-threaded; the child only sleeps and exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: sleeps, then ends the child.
        unsafe {
            libc::sleep(30);
            libc::_exit(0);
        }
    }
    pid
}

fn end(pid: libc::pid_t) {
    // SAFETY: kills and reaps this process's own child.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
}

/// Enters a new user and mount namespace mapping the caller's ids to root.
fn enter_userns() -> std::io::Result<()> {
    // SAFETY: plain id queries and unshare of this single-threaded process.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    // SAFETY: as above.
    if unsafe { libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    std::fs::write("/proc/self/setgroups", "deny")?;
    std::fs::write("/proc/self/uid_map", format!("0 {uid} 1"))?;
    std::fs::write("/proc/self/gid_map", format!("0 {gid} 1"))?;
    Ok(())
}

fn mount_tmpfs(dst: &str) -> c_long {
    let (src, ty, dst) = (c("tsb"), c("tmpfs"), c(dst));
    // SAFETY: NUL-terminated strings that outlive the call.
    unsafe { libc::mount(src.as_ptr(), dst.as_ptr(), ty.as_ptr(), 0, std::ptr::null()) as c_long }
}

/// What `TSB_CONTROL_USERNS` controls need before the call itself (a mount to remove or move).
fn control_prepare(name: &str, a: &str) -> Result<(), String> {
    let check = |r: c_long, what: &str| {
        if r == 0 {
            Ok(())
        } else {
            Err(format!("control {what} errno {}", errno()))
        }
    };
    match name {
        "umount" | "move_mount" => check(mount_tmpfs(a), "mount"),
        // A devpts instance of its own, without `max=`, as the sandbox's would be without one.
        "ptys" => {
            let (src, ty, dst, data) = (
                c("devpts"),
                c("devpts"),
                c(a),
                c("newinstance,ptmxmode=0666"),
            );
            // SAFETY: NUL-terminated strings that outlive the call.
            let r = unsafe {
                libc::mount(
                    src.as_ptr(),
                    dst.as_ptr(),
                    ty.as_ptr(),
                    0,
                    data.as_ptr().cast(),
                )
            };
            check(r as c_long, "devpts")
        }
        "pivot_root" => {
            let root = c("/");
            // SAFETY: NUL-terminated strings; null data is allowed for a propagation change.
            let r = unsafe {
                libc::mount(
                    std::ptr::null(),
                    root.as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                )
            };
            check(r as c_long, "make-private")?;
            check(mount_tmpfs(a), "mount")?;
            std::fs::create_dir(format!("{a}/old")).map_err(|e| format!("control mkdir {e}"))
        }
        _ => Ok(()),
    }
}

fn run(name: &str) -> String {
    let (a, a2) = (arg(), arg2());
    if std::env::var_os(CONTROL_USERNS).is_some() {
        if let Err(e) = enter_userns() {
            return format!("control userns {e}");
        }
        if let Err(e) = control_prepare(name, &a) {
            return e;
        }
    }
    match name {
        // --- filesystem ---
        "open" => io(std::fs::File::open(&a)),
        "read" => io(std::fs::read(&a)),
        "write" => io(std::fs::OpenOptions::new().write(true).open(&a)),
        "create" => io(std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&a)),
        "list" => match std::fs::read_dir(&a) {
            Ok(rd) => {
                let mut names: Vec<String> = rd
                    .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
                    .collect::<Result<_, _>>()
                    .unwrap_or_default();
                names.sort();
                format!("entries {}", names.join(" "))
            }
            Err(e) => io::<()>(Err(e)),
        },
        "size" => match std::fs::read(&a) {
            Ok(bytes) => format!("bytes {}", bytes.len()),
            Err(e) => io::<()>(Err(e)),
        },
        "readlink" => match std::fs::read_link(&a) {
            Ok(t) => format!("target {}", t.display()),
            Err(e) => io::<()>(Err(e)),
        },
        // Creates the symlink `a` pointing at the directory `a2`, then reads `a/secret`.
        "symlink_out" => match std::os::unix::fs::symlink(&a2, &a) {
            Ok(()) => io(std::fs::read(format!("{a}/secret"))),
            Err(e) => format!("symlink {}", io::<()>(Err(e))),
        },
        "hardlink" => io(std::fs::hard_link(&a, &a2)),
        "rename" => io(std::fs::rename(&a, &a2)),
        // Leaves a symlink to `a2` at `a`, in place of whatever is there (a file that a later
        // run of the CLI writes).
        "plant_symlink" => {
            let _ = std::fs::remove_file(&a);
            io(std::os::unix::fs::symlink(&a2, &a))
        }
        // Leaves a FIFO at `a`, in place of whatever is there.
        "plant_fifo" => {
            let _ = std::fs::remove_file(&a);
            let p = c(&a);
            // SAFETY: a NUL-terminated path that outlives the call.
            ret(unsafe { libc::mkfifo(p.as_ptr(), 0o666) } as c_long)
        }
        // Puts a file of its own holding `a2` at `a` (written beside it, then renamed over it).
        "plant_file" => {
            let tmp = format!("{a}.planted");
            io(std::fs::write(&tmp, &a2).and_then(|()| std::fs::rename(&tmp, &a)))
        }
        // Moves the directory `a` aside (to `a.moved`) and leaves a symlink to `a2` in its
        // place.
        "swap_dir" => io(std::fs::rename(&a, format!("{a}.moved"))
            .and_then(|()| std::os::unix::fs::symlink(&a2, &a))),
        // chmod(2) of `a` to the mode it has (a change of nothing, which still needs the
        // right to change it).
        "chmod_same" => match std::fs::metadata(&a) {
            Ok(m) => {
                use std::os::unix::fs::MetadataExt;
                let p = c(&a);
                sc(
                    libc::SYS_fchmodat,
                    &[
                        libc::AT_FDCWD as c_long,
                        p.as_ptr() as c_long,
                        (m.mode() & 0o7777) as c_long,
                    ],
                )
            }
            Err(e) => format!("stat {}", io::<()>(Err(e))),
        },
        // utimensat(2) of `a` to the access and modification times it has.
        "utime_same" => match std::fs::metadata(&a) {
            Ok(m) => {
                use std::os::unix::fs::MetadataExt;
                let p = c(&a);
                let times = [
                    libc::timespec {
                        tv_sec: m.atime(),
                        tv_nsec: m.atime_nsec(),
                    },
                    libc::timespec {
                        tv_sec: m.mtime(),
                        tv_nsec: m.mtime_nsec(),
                    },
                ];
                sc(
                    libc::SYS_utimensat,
                    &[
                        libc::AT_FDCWD as c_long,
                        p.as_ptr() as c_long,
                        times.as_ptr() as c_long,
                        0,
                    ],
                )
            }
            Err(e) => format!("stat {}", io::<()>(Err(e))),
        },
        // chmod of every entry of /proc's top level that is not a process's (nor a symlink)
        // to the mode it has: `chmod ok: NAMES` lists those where it succeeded (`none`), then
        // `; other: NAME=errno N ...` those refused otherwise than with EROFS or EPERM.
        "proc_chmod_all" => {
            use std::os::unix::fs::MetadataExt;
            let mut names: Vec<String> = std::fs::read_dir("/proc")
                .map(|rd| {
                    rd.flatten()
                        .filter(|e| e.file_type().is_ok_and(|t| !t.is_symlink()))
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .filter(|n| !n.bytes().all(|b| b.is_ascii_digit()))
                        .collect()
                })
                .unwrap_or_default();
            names.sort();
            let (mut changed, mut other) = (Vec::new(), Vec::new());
            for n in &names {
                let path = format!("/proc/{n}");
                let mode = match std::fs::metadata(&path) {
                    Ok(m) => m.mode() & 0o7777,
                    Err(e) => {
                        other.push(format!("{n}=stat {}", io::<()>(Err(e))));
                        continue;
                    }
                };
                let p = c(&path);
                let out = sc(
                    libc::SYS_fchmodat,
                    &[
                        libc::AT_FDCWD as c_long,
                        p.as_ptr() as c_long,
                        mode as c_long,
                    ],
                );
                if out == "ok" {
                    changed.push(n.clone());
                } else if out != format!("errno {}", libc::EROFS)
                    && out != format!("errno {}", libc::EPERM)
                {
                    other.push(format!("{n}={out}"));
                }
            }
            let list = |v: &[String]| {
                if v.is_empty() {
                    "none".to_string()
                } else {
                    v.join(" ")
                }
            };
            format!("chmod ok: {}; other: {}", list(&changed), list(&other))
        }
        "open_by_handle_at" => open_by_handle_at(&a),
        "chroot" => {
            let p = c(&a);
            sc(libc::SYS_chroot, &[p.as_ptr() as c_long])
        }
        "pivot_root" => {
            let (new, old) = (c(&a), c(&format!("{a}/old")));
            sc(
                libc::SYS_pivot_root,
                &[new.as_ptr() as c_long, old.as_ptr() as c_long],
            )
        }
        "mount_tmpfs" => ret(mount_tmpfs(&a)),
        "umount" => {
            let p = c(&a);
            sc(libc::SYS_umount2, &[p.as_ptr() as c_long, 0])
        }
        "open_tree" => {
            let p = c(&a);
            const OPEN_TREE_CLONE: c_long = 1;
            sc(
                libc::SYS_open_tree,
                &[
                    libc::AT_FDCWD as c_long,
                    p.as_ptr() as c_long,
                    OPEN_TREE_CLONE | libc::AT_RECURSIVE as c_long,
                ],
            )
        }
        "move_mount" => {
            let (from, to) = (c(&a), c(&a2));
            sc(
                libc::SYS_move_mount,
                &[
                    libc::AT_FDCWD as c_long,
                    from.as_ptr() as c_long,
                    libc::AT_FDCWD as c_long,
                    to.as_ptr() as c_long,
                    0,
                ],
            )
        }
        "fsopen" => {
            let fs = c("tmpfs");
            sc(libc::SYS_fsopen, &[fs.as_ptr() as c_long, 0])
        }
        "mknod_char" | "mknod_whiteout" => {
            let p = c(&a);
            let dev = if name == "mknod_char" {
                libc::makedev(1, 3) as c_long
            } else {
                0
            };
            sc(
                libc::SYS_mknodat,
                &[
                    libc::AT_FDCWD as c_long,
                    p.as_ptr() as c_long,
                    (libc::S_IFCHR | 0o600) as c_long,
                    dev,
                ],
            )
        }
        // Creates `a`, then asks for the set-user-ID bit on it.
        "chmod_setuid" => match std::fs::write(&a, "x") {
            Ok(()) => {
                let p = c(&a);
                sc(
                    libc::SYS_fchmodat,
                    &[libc::AT_FDCWD as c_long, p.as_ptr() as c_long, 0o4755],
                )
            }
            Err(e) => format!("create {}", io::<()>(Err(e))),
        },
        "o_tmpfile_setgid" => {
            let p = c(&a);
            sc(
                libc::SYS_openat,
                &[
                    libc::AT_FDCWD as c_long,
                    p.as_ptr() as c_long,
                    (libc::O_TMPFILE | libc::O_RDWR) as c_long,
                    0o2644,
                ],
            )
        }
        // Writes 1 MiB blocks to the new file `a` until a write fails.
        "fill" => {
            let mut f = match std::fs::File::create(&a) {
                Ok(f) => f,
                Err(e) => return format!("create {}", io::<()>(Err(e))),
            };
            let block = vec![0x5a_u8; 1 << 20];
            loop {
                if let Err(e) = f.write_all(&block) {
                    return io::<()>(Err(e));
                }
            }
        }

        // --- processes ---
        "pids" => {
            let mut pids: Vec<u32> = std::fs::read_dir("/proc")
                .map(|rd| {
                    rd.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                        .collect()
                })
                .unwrap_or_default();
            pids.sort();
            let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
            format!("pids {}", pids.join(" "))
        }
        "signal" => {
            let (pid, sig): (c_long, c_long) = (a.parse().unwrap(), a2.parse().unwrap());
            sc(libc::SYS_kill, &[pid, sig])
        }
        "ptrace_attach" => {
            let pid = a.parse().unwrap();
            sc(
                libc::SYS_ptrace,
                &[libc::PTRACE_ATTACH as c_long, pid, 0, 0],
            )
        }
        "ptrace_own_child" => {
            let pid = sleeper();
            let out = sc(
                libc::SYS_ptrace,
                &[libc::PTRACE_ATTACH as c_long, pid as c_long, 0, 0],
            );
            end(pid);
            out
        }
        "process_vm_readv" => process_vm_readv(a.parse().unwrap()),
        "process_vm_readv_own_child" => {
            let pid = sleeper();
            let out = process_vm_readv(pid as c_long);
            end(pid);
            out
        }
        "pidfd_getfd" => {
            let pid: c_long = if a == "child" {
                sleeper() as c_long
            } else {
                a.parse().unwrap()
            };
            // SAFETY: pidfd_open takes a pid and flags.
            let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
            let out = if pidfd < 0 {
                format!("pidfd_open errno {}", errno())
            } else {
                sc(libc::SYS_pidfd_getfd, &[pidfd, 0, 0])
            };
            if a == "child" {
                end(pid as libc::pid_t);
            }
            out
        }
        "unshare" => {
            let flags = c_long::from_str_radix(a.trim_start_matches("0x"), 16).unwrap();
            in_child(|| sc(libc::SYS_unshare, &[flags]))
        }
        // Raw clone(2) with `a` (hex) added to SIGCHLD; the child exits at once.
        "clone" => {
            let flags = c_long::from_str_radix(a.trim_start_matches("0x"), 16).unwrap();
            // SAFETY: clone without CLONE_VM is fork-like: the child has its own copy of this
            // single-threaded process and only calls _exit.
            let pid = unsafe {
                libc::syscall(libc::SYS_clone, flags | libc::SIGCHLD as c_long, 0, 0, 0, 0)
            };
            if pid == 0 {
                // SAFETY: ends the child.
                unsafe { libc::_exit(0) };
            }
            if pid > 0 {
                // SAFETY: reaps the child.
                unsafe { libc::waitpid(pid as libc::pid_t, std::ptr::null_mut(), 0) };
            }
            ret(pid)
        }
        "clone3" => sc(libc::SYS_clone3, &[0, 0]),
        // setns into descriptor `a`, or into the namespace file `a` opened first.
        "setns" => {
            let fd: c_long = match a.parse() {
                Ok(fd) => fd,
                Err(_) => {
                    use std::os::fd::IntoRawFd;
                    match std::fs::File::open(&a) {
                        Ok(f) => f.into_raw_fd() as c_long,
                        Err(e) => return format!("open {}", io::<()>(Err(e))),
                    }
                }
            };
            sc(libc::SYS_setns, &[fd, 0])
        }
        // Forks sleeping children until a fork fails.
        "fork_bomb" => loop {
            // SAFETY: single-threaded; children only sleep.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                // SAFETY: sleeps, then ends the child.
                unsafe {
                    libc::sleep(30);
                    libc::_exit(0);
                }
            }
            if pid < 0 {
                return format!("errno {}", errno());
            }
        },
        // A new session and a double fork: the grandchild creates `a` after 1 s.
        "double_fork" => {
            // SAFETY: single-threaded; the children only sleep, create a file and exit.
            unsafe {
                let pid = libc::fork();
                if pid == 0 {
                    libc::setsid();
                    if libc::fork() == 0 {
                        libc::sleep(1);
                        let _ = std::fs::write(&a, "escaped");
                        libc::_exit(0);
                    }
                    libc::_exit(0);
                }
                libc::waitpid(pid, std::ptr::null_mut(), 0);
            }
            "ok".into()
        }

        // --- the sandbox's init ---
        // The calls that would lower pid 1's share of the CPU (or its I/O priority or limits),
        // each made on pid 1: `a` is `1` (the sandbox's init) or `own-pidns` (pid 1 of a fresh
        // user and pid namespace of the attacker's own, a host process of the same user, which
        // leads its own session as the sandbox's init does).
        "retune_pid1" => {
            if a == "own-pidns" {
                in_own_pid_namespace(retune_pid1)
            } else {
                retune_pid1()
            }
        }
        // The starvation attack: makes pid 1 SCHED_IDLE and pins it to one CPU, then keeps
        // that CPU busy with `a2` (default 100) spinning children, each for at most 60 s (in
        // init's session, hence its autogroup, where it competes with them directly; at their
        // default nice value, which the nice calls of `retune_pid1` would raise).
        // Prints `spinning` once they are started, then waits for them.
        "starve_pid1" => {
            let cpu = first_cpu();
            let set = cpu_set(cpu);
            let param = libc::sched_param { sched_priority: 0 };
            let size = std::mem::size_of_val(&set) as c_long;
            let _ = sc(
                libc::SYS_sched_setscheduler,
                &[1, libc::SCHED_IDLE as c_long, ptr(&param)],
            );
            let _ = sc(libc::SYS_sched_setaffinity, &[1, size, ptr(&set)]);
            starve(cpu, a2.parse().unwrap_or(100))
        }
        // Its own limits and what it can do with them: the real-time and nice limits (soft and
        // hard), then SCHED_FIFO and a nice value one below its own.
        "raise_priority" => {
            let lim = |res: libc::__rlimit_resource_t| {
                let mut l = [0u64; 2];
                // SAFETY: prlimit64 writes the old limit into the two-word buffer.
                unsafe { libc::syscall(libc::SYS_prlimit64, 0, res, 0, l.as_mut_ptr()) };
                format!("{}/{}", l[0] as i64, l[1] as i64)
            };
            let param = libc::sched_param { sched_priority: 1 };
            let (rtprio, nice) = (lim(libc::RLIMIT_RTPRIO), lim(libc::RLIMIT_NICE));
            // SAFETY: getpriority takes numbers; errno is cleared first as its -1 is a value.
            let own = unsafe {
                *libc::__errno_location() = 0;
                libc::getpriority(libc::PRIO_PROCESS, 0)
            };
            let lower = sc(
                libc::SYS_setpriority,
                &[libc::PRIO_PROCESS as c_long, 0, own as c_long - 1],
            );
            let fifo = in_child(|| {
                sc(
                    libc::SYS_sched_setscheduler,
                    &[0, libc::SCHED_FIFO as c_long, ptr(&param)],
                )
            });
            format!("rtprio {rtprio} nice {nice}, fifo {fifo}, nice-1 {lower}")
        }

        // --- host-wide kernel resources ---
        // Opens `a`/ptmx until an open fails or `a2` ptys are open: `ptys N`, then the errno
        // of the failed open if one failed.
        "ptys" => {
            let most: usize = a2.parse().unwrap_or(100);
            let mut held = Vec::new();
            let ptmx = format!("{a}/ptmx");
            while held.len() < most {
                match std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&ptmx)
                {
                    Ok(f) => held.push(f),
                    Err(e) => return format!("ptys {} {}", held.len(), io::<()>(Err(e))),
                }
            }
            format!("ptys {}", held.len())
        }
        // A Linux AIO context for `a` (default 1) events, destroyed at once.
        "io_setup" => {
            let n: c_long = a.parse().unwrap_or(1);
            let mut ctx: libc::c_ulong = 0;
            let out = sc(
                libc::SYS_io_setup,
                &[n, &mut ctx as *mut libc::c_ulong as c_long],
            );
            if out == "ok" {
                let _ = sc(libc::SYS_io_destroy, &[ctx as c_long]);
            }
            out
        }
        // A read lease on the file `a`, opened read-only: prints the outcome at once, then
        // holds the lease for up to 30 s (a lease break's SIGIO ends it sooner).
        "lease" => {
            use std::os::fd::AsRawFd;
            let f = match std::fs::File::open(&a) {
                Ok(f) => f,
                Err(e) => return format!("open {}", io::<()>(Err(e))),
            };
            let out = sc(
                libc::SYS_fcntl,
                &[
                    f.as_raw_fd() as c_long,
                    libc::F_SETLEASE as c_long,
                    libc::F_RDLCK as c_long,
                ],
            );
            let line = format!("{out}\n");
            // SAFETY: writes a live buffer to stdout, then sleeps.
            unsafe {
                libc::write(1, line.as_ptr().cast(), line.len());
                libc::sleep(30);
            }
            "held".into()
        }
        // An inotify watch on the directory `a` for opens and creations: prints `watching` (or
        // the error), then the first event with a name within 20 s: `IN_OPEN name` or
        // `IN_CREATE name`, or `none`.
        "inotify" => inotify_first_event(&a),
        // Its own open-files and process limits: `nofile SOFT/HARD nproc SOFT/HARD`.
        "limits" => {
            let lim = |res: libc::__rlimit_resource_t| {
                let mut l = [0u64; 2];
                // SAFETY: prlimit64 writes the old limit into the two-word buffer.
                unsafe { libc::syscall(libc::SYS_prlimit64, 0, res, 0, l.as_mut_ptr()) };
                format!("{}/{}", l[0], l[1])
            };
            format!(
                "nofile {} nproc {}",
                lim(libc::RLIMIT_NOFILE),
                lim(libc::RLIMIT_NPROC)
            )
        }

        // --- kernel surface ---
        // KEYCTL_GET_KEYRING_ID of the thread keyring, created if need be: a process started
        // without a session keyring (after a login session ended, pam_keyinit revoked it) has
        // one too.
        "keyctl" => sc(libc::SYS_keyctl, &[0, -1, 1]),
        "add_key" => {
            let (ty, desc) = (c("user"), c("tsb"));
            sc(
                libc::SYS_add_key,
                &[
                    ty.as_ptr() as c_long,
                    desc.as_ptr() as c_long,
                    b"v".as_ptr() as c_long,
                    1,
                    -2, // KEY_SPEC_PROCESS_KEYRING
                ],
            )
        }
        "request_key" => {
            let (ty, desc) = (c("user"), c("tsb-none"));
            // A fresh session keyring first (KEYCTL_JOIN_SESSION_KEYRING): the search then
            // finds nothing (ENOKEY) whatever session keyring the process started with, even a
            // revoked one. In the sandbox keyctl is refused too.
            sc(libc::SYS_keyctl, &[1, 0]);
            sc(
                libc::SYS_request_key,
                &[ty.as_ptr() as c_long, desc.as_ptr() as c_long, 0, 0],
            )
        }
        "bpf_map_create" => {
            // union bpf_attr for BPF_MAP_CREATE: map_type (BPF_MAP_TYPE_ARRAY), key_size,
            // value_size, max_entries.
            let mut attr = [0u32; 32];
            attr[..4].copy_from_slice(&[2, 4, 4, 1]);
            sc(
                libc::SYS_bpf,
                &[0, ptr(&attr), std::mem::size_of_val(&attr) as c_long],
            )
        }
        "perf_event_open" => {
            // struct perf_event_attr: type PERF_TYPE_SOFTWARE, size, config
            // PERF_COUNT_SW_CPU_CLOCK, flags disabled | exclude_kernel | exclude_hv.
            let mut attr = [0u8; 128];
            attr[0..4].copy_from_slice(&1u32.to_ne_bytes());
            attr[4..8].copy_from_slice(&128u32.to_ne_bytes());
            attr[40..48].copy_from_slice(&(1u64 | 1 << 5 | 1 << 6).to_ne_bytes());
            sc(libc::SYS_perf_event_open, &[ptr(&attr), 0, -1, -1, 0])
        }
        "userfaultfd" => sc(libc::SYS_userfaultfd, &[1]), // UFFD_USER_MODE_ONLY
        "io_uring_setup" => {
            let params = [0u8; 120];
            sc(libc::SYS_io_uring_setup, &[1, ptr(&params)])
        }
        // An unknown flag bit (0x8 is KEXEC_CRASH_HOTPLUG_SUPPORT since 6.6): EINVAL once the
        // capability check has passed.
        "kexec_load" => sc(libc::SYS_kexec_load, &[0, 0, 0, 0x8000]),
        "init_module" => {
            let params = c("");
            sc(libc::SYS_init_module, &[0, 0, params.as_ptr() as c_long])
        }
        "finit_module" => {
            let params = c("");
            sc(libc::SYS_finit_module, &[-1, params.as_ptr() as c_long, 0])
        }
        "acct" => {
            let p = c("/nonexistent/tsb-acct");
            sc(libc::SYS_acct, &[p.as_ptr() as c_long])
        }
        "swapon" => {
            let p = c("/nonexistent/tsb-swap");
            sc(libc::SYS_swapon, &[p.as_ptr() as c_long, 0])
        }
        // Wrong magic numbers: EINVAL once the capability check has passed.
        "reboot" => sc(libc::SYS_reboot, &[0, 0, 0, 0]),
        "syslog" => sc(libc::SYS_syslog, &[10, 0, 0]), // SYSLOG_ACTION_SIZE_BUFFER
        "fanotify_init" => sc(libc::SYS_fanotify_init, &[0, 0]),
        "personality_read_implies_exec" => in_child(|| sc(libc::SYS_personality, &[0x0040_0000])),
        "tiocsti" => terminal_ioctl(libc::TIOCSTI as c_long),
        "tiocsti_upper_bits" => terminal_ioctl(0x1_0000_0000 | libc::TIOCSTI as c_long),
        "tioclinux" => terminal_ioctl(libc::TIOCLINUX as c_long),
        // Requests whose effect on a terminal outlasts the run, on a pty of its own: the line
        // discipline set to N_TTY (0, the one it has), exclusive mode on and off, output stopped
        // (tcflow TCOOFF, then started again by the control), serial settings.
        "tiocsetd" => terminal_ioctl_with(libc::TIOCSETD as c_long, 0),
        "tiocexcl" => terminal_ioctl_with(libc::TIOCEXCL as c_long, 0),
        "tiocnxcl" => terminal_ioctl_with(libc::TIOCNXCL as c_long, 0),
        "tcxonc" => terminal_ioctl_with(libc::TCXONC as c_long, -1),
        "tiocsserial" => terminal_ioctl_with(libc::TIOCSSERIAL as c_long, 0),
        // quotactl_fd(2) with Q_GETFMT for user quotas on the filesystem of `a`.
        "quotactl_fd" => {
            use std::os::fd::AsRawFd;
            let f = match std::fs::File::open(&a) {
                Ok(f) => f,
                Err(e) => return format!("open {}", io::<()>(Err(e))),
            };
            // QCMD(Q_GETFMT, USRQUOTA): (0x800004 << 8) | 0.
            const Q_GETFMT_USRQUOTA: c_long = 0x8000_0400;
            let mut fmt = 0u32;
            sc(
                libc::SYS_quotactl_fd,
                &[
                    f.as_raw_fd() as c_long,
                    Q_GETFMT_USRQUOTA,
                    0,
                    &mut fmt as *mut u32 as c_long,
                ],
            )
        }
        "x32_getpid" => sc(0x4000_0000 | libc::SYS_getpid, &[]),
        "int80_getpid" => {
            let r: c_long;
            // SAFETY: the i386 entry with eax = 20 (getpid in the i386 table), no arguments.
            unsafe {
                std::arch::asm!("int 0x80", inlateout("rax") 20 as c_long => r, options(nostack));
            }
            if r > 0 {
                "ok".into()
            } else {
                format!("errno {}", -r)
            }
        }

        // --- network ---
        "tcp" => io(std::net::TcpStream::connect_timeout(
            &a.parse().unwrap(),
            std::time::Duration::from_secs(2),
        )),
        "udp" => {
            let bind = if a.starts_with('[') {
                "[::]:0"
            } else {
                "0.0.0.0:0"
            };
            match std::net::UdpSocket::bind(bind) {
                Ok(s) => io(s.send_to(b"tsb-escape", &a)),
                Err(e) => format!("bind {}", io::<()>(Err(e))),
            }
        }
        "unix_abstract" => {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(a.as_bytes()).unwrap();
            io(UnixStream::connect_addr(&addr))
        }
        "unix_path" => io(UnixStream::connect(&a)),
        // An MPTCP socket (falls back to plain TCP with a TCP peer), connected to `a`.
        "mptcp" => {
            let addr: std::net::SocketAddrV4 = a.parse().unwrap();
            // SAFETY: socket takes three numbers.
            let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, libc::IPPROTO_MPTCP) };
            if fd < 0 {
                return format!("socket errno {}", errno());
            }
            let sin = sockaddr_in(&addr);
            sc(
                libc::SYS_connect,
                &[
                    fd as c_long,
                    ptr(&sin),
                    std::mem::size_of_val(&sin) as c_long,
                ],
            )
        }
        // A TCP Fast Open connect to `a`: sendto with MSG_FASTOPEN instead of connect.
        "tcp_fast_open" => {
            let addr: std::net::SocketAddrV4 = a.parse().unwrap();
            // SAFETY: socket takes three numbers.
            let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
            let sin = sockaddr_in(&addr);
            sc(
                libc::SYS_sendto,
                &[
                    fd as c_long,
                    b"x".as_ptr() as c_long,
                    1,
                    libc::MSG_FASTOPEN as c_long,
                    ptr(&sin),
                    std::mem::size_of_val(&sin) as c_long,
                ],
            )
        }
        // A process left behind: forks, and the child (in a session of its own, without the
        // caller's stdio) waits up to 20 s for a process whose command line holds `a`, then
        // tries to read its environment, copy its stdin, signal it and trace it, and writes
        // the outcomes to the file `a2`.
        "cross_spy" => background(|| cross_spy(&a, &a2)),
        // A process left behind that stops every process it may signal, `kill(-1, SIGSTOP)`
        // in a loop, for `a` seconds.
        "stopper" => background(|| {
            // Not before the command's own process has exited: the loop would stop it too (it
            // is in this process's Landlock domain), and its output would never end.
            // SAFETY: getppid takes no arguments.
            let parent = unsafe { libc::getppid() };
            // SAFETY: as above.
            while unsafe { libc::getppid() } == parent {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            let end =
                std::time::Instant::now() + std::time::Duration::from_secs(a.parse().unwrap());
            while std::time::Instant::now() < end {
                // SAFETY: kill takes two numbers.
                unsafe { libc::kill(-1, libc::SIGSTOP) };
            }
        }),
        // Creates the IPv6 flow label `a` (hex) with CREATE|EXCL on a fresh socket, which is
        // then closed: `ok`, or `errno 17` (EEXIST) when the namespace already holds the label.
        "flow_label" => flow_label(u32::from_str_radix(&a, 16).unwrap()),
        // The control: in a new network namespace (root), the label created through one
        // socket is still there for the next socket, after the first was closed.
        "flow_label_twice" => {
            // SAFETY: unshare of this single-threaded process's network namespace.
            if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                return format!("unshare errno {}", errno());
            }
            let label = u32::from_str_radix(&a, 16).unwrap();
            format!("first {}, second {}", flow_label(label), flow_label(label))
        }
        "uevent_socket" => sc(
            libc::SYS_socket,
            &[
                libc::AF_NETLINK as c_long,
                libc::SOCK_DGRAM as c_long,
                libc::NETLINK_KOBJECT_UEVENT as c_long,
            ],
        ),
        "packet_socket" => sc(
            libc::SYS_socket,
            &[libc::AF_PACKET as c_long, libc::SOCK_RAW as c_long, 0],
        ),
        "vsock_socket" => sc(
            libc::SYS_socket,
            &[libc::AF_VSOCK as c_long, libc::SOCK_STREAM as c_long, 0],
        ),

        // --- fds and channels ---
        // The open descriptors, probed with F_GETFD (which opens none itself).
        "fds" => {
            let open: Vec<String> = (0..4096)
                // SAFETY: F_GETFD only queries the descriptor table.
                .filter(|fd| unsafe { libc::fcntl(*fd, libc::F_GETFD) } >= 0)
                .map(|fd: i32| fd.to_string())
                .collect();
            format!("fds {}", open.join(" "))
        }
        // The descriptors that are sockets, with their type: what a command could use to talk
        // to the sandbox's init or the library.
        "socket_fds" => {
            let found: Vec<String> = (0..4096)
                .filter_map(|fd: i32| {
                    // SAFETY: fstat writes into a local stat buffer; EBADF for a closed fd.
                    let mut st: libc::stat = unsafe { std::mem::zeroed() };
                    if unsafe { libc::fstat(fd, &mut st) } != 0
                        || st.st_mode & libc::S_IFMT != libc::S_IFSOCK
                    {
                        return None;
                    }
                    let mut ty: libc::c_int = 0;
                    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
                    // SAFETY: SO_TYPE writes an int into a local of the given length.
                    unsafe {
                        libc::getsockopt(
                            fd,
                            libc::SOL_SOCKET,
                            libc::SO_TYPE,
                            (&mut ty as *mut libc::c_int).cast(),
                            &mut len,
                        )
                    };
                    let kind = match ty {
                        libc::SOCK_SEQPACKET => "seqpacket",
                        libc::SOCK_STREAM => "stream",
                        libc::SOCK_DGRAM => "dgram",
                        _ => "other",
                    };
                    Some(format!("{fd} {kind}"))
                })
                .collect();
            if found.is_empty() {
                "sockets none".into()
            } else {
                format!("sockets {}", found.join(", "))
            }
        }
        // Whether the directory `a` (such as /proc/PID/fd) can be listed.
        "list_dir" => match std::fs::read_dir(&a) {
            Ok(_) => "listed".into(),
            Err(e) => io::<()>(Err(e)),
        },
        // The unix sockets of this network namespace (/proc/net/unix, past its header).
        "unix_sockets" => match std::fs::read_to_string("/proc/net/unix") {
            Ok(t) => format!("unix {}", t.lines().count().saturating_sub(1)),
            Err(e) => io::<()>(Err(e)),
        },
        // Reads what is on fd `a` and writes a forged status line to it.
        "write_fd" => {
            let fd: i32 = a.parse().unwrap();
            // SAFETY: writes a live buffer to a descriptor number (EBADF when not open).
            let r = unsafe { libc::write(fd, b"exit 0\n".as_ptr().cast(), 7) };
            ret(r as c_long)
        }
        "read_stdin" => {
            let mut s = String::new();
            io(std::io::stdin().read_to_string(&mut s)).replace("ok", &format!("read {s}"))
        }
        other => format!("unknown attempt {other}"),
    }
}

/// The first CPU this process may run on.
fn first_cpu() -> usize {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity fills it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: a live cpu_set_t of the size given.
    unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
    // SAFETY: CPU_ISSET reads the live set.
    (0..libc::CPU_SETSIZE as usize)
        .find(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .unwrap_or(0)
}

fn cpu_set(cpu: usize) -> libc::cpu_set_t {
    // SAFETY: cpu_set_t is plain data; CPU_SET writes into the live set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        set
    }
}

/// Each call that could lower pid 1's priority, share of the CPU, I/O priority or limits,
/// with its outcome: `name ok` or `name errno N`, comma-separated.
fn retune_pid1() -> String {
    const IOPRIO_WHO_PROCESS: c_long = 1;
    const IOPRIO_WHO_PGRP: c_long = 2;
    const IOPRIO_WHO_USER: c_long = 3;
    const IOPRIO_IDLE: c_long = 3 << 13; // IOPRIO_PRIO_VALUE(IOPRIO_CLASS_IDLE, 0)
    let param = libc::sched_param { sched_priority: 0 };
    // struct sched_attr, SCHED_ATTR_SIZE_VER0 (48 bytes): size, policy, flags, nice, ...
    let mut attr = [0u32; 12];
    attr[0] = 48;
    attr[1] = libc::SCHED_IDLE as u32;
    attr[4] = 19;
    let set = cpu_set(first_cpu());
    let core = [0u64; 2];
    let calls: [(&str, c_long, [c_long; 4]); 11] = [
        (
            "sched_setparam",
            libc::SYS_sched_setparam,
            [1, ptr(&param), 0, 0],
        ),
        (
            "sched_setscheduler",
            libc::SYS_sched_setscheduler,
            [1, libc::SCHED_IDLE as c_long, ptr(&param), 0],
        ),
        (
            "sched_setattr",
            libc::SYS_sched_setattr,
            [1, ptr(&attr), 0, 0],
        ),
        (
            "sched_setaffinity",
            libc::SYS_sched_setaffinity,
            [1, std::mem::size_of_val(&set) as c_long, ptr(&set), 0],
        ),
        (
            "setpriority",
            libc::SYS_setpriority,
            [libc::PRIO_PROCESS as c_long, 1, 19, 0],
        ),
        (
            "setpriority(PRIO_PGRP)",
            libc::SYS_setpriority,
            [libc::PRIO_PGRP as c_long, 1, 19, 0],
        ),
        (
            "setpriority(PRIO_USER)",
            libc::SYS_setpriority,
            [libc::PRIO_USER as c_long, 0, 19, 0],
        ),
        (
            "ioprio_set",
            libc::SYS_ioprio_set,
            [IOPRIO_WHO_PROCESS, 1, IOPRIO_IDLE, 0],
        ),
        (
            "ioprio_set(IOPRIO_WHO_PGRP)",
            libc::SYS_ioprio_set,
            [IOPRIO_WHO_PGRP, 1, IOPRIO_IDLE, 0],
        ),
        (
            "ioprio_set(IOPRIO_WHO_USER)",
            libc::SYS_ioprio_set,
            // SAFETY: getuid has no arguments.
            [
                IOPRIO_WHO_USER,
                unsafe { libc::getuid() } as c_long,
                IOPRIO_IDLE,
                0,
            ],
        ),
        (
            "prlimit64",
            libc::SYS_prlimit64,
            [1, libc::RLIMIT_CORE as c_long, ptr(&core), 0],
        ),
    ];
    let out: Vec<String> = calls
        .iter()
        .map(|(name, nr, args)| format!("{name} {}", sc(*nr, args)))
        .collect();
    out.join(", ")
}

/// Runs `f` in a process of a fresh user and pid namespace whose pid 1 is a sleeping process of
/// the same user, which leads its own session (as the sandbox's init does).
fn in_own_pid_namespace(f: fn() -> String) -> String {
    if let Err(e) = enter_userns() {
        return format!("control userns {e}");
    }
    // SAFETY: single-threaded; unshare takes flags.
    if unsafe { libc::unshare(libc::CLONE_NEWPID) } != 0 {
        return format!("control unshare errno {}", errno());
    }
    let mut ready = [0; 2];
    // SAFETY: pipe fills the two-element array.
    unsafe { libc::pipe(ready.as_mut_ptr()) };
    // SAFETY: single-threaded; the child (pid 1 of the new namespace) starts a session, says
    // so and sleeps until killed.
    let pid1 = unsafe { libc::fork() };
    if pid1 == 0 {
        // SAFETY: as above.
        unsafe {
            libc::setsid();
            libc::write(ready[1], b"r".as_ptr().cast(), 1);
            libc::sleep(60);
            libc::_exit(0);
        }
    }
    let mut b = [0u8; 1];
    // SAFETY: reads one byte into a live buffer.
    unsafe { libc::read(ready[0], b.as_mut_ptr().cast(), 1) };
    let out = in_child(f);
    end(pid1);
    out
}

/// Starts `n` children, each pinned to `cpu` and spinning for at most 60 s, prints `spinning`
/// and waits for them.
fn starve(cpu: usize, n: usize) -> String {
    let set = cpu_set(cpu);
    for _ in 0..n {
        // SAFETY: single-threaded; the spinners only pin themselves, read the clock and exit.
        unsafe {
            if libc::fork() == 0 {
                libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set);
                let start = std::time::Instant::now();
                while start.elapsed() < std::time::Duration::from_secs(60) {}
                libc::_exit(0);
            }
        }
    }
    // SAFETY: writes a live buffer to stdout, then reaps the spinners.
    unsafe {
        libc::write(1, b"spinning\n".as_ptr().cast(), 9);
        while libc::wait(std::ptr::null_mut()) > 0 {}
    }
    "done".into()
}

fn inotify_first_event(dir: &str) -> String {
    let say = |line: &str| {
        let line = format!("{line}\n");
        // SAFETY: writes a live buffer to stdout.
        unsafe { libc::write(1, line.as_ptr().cast(), line.len()) };
    };
    // SAFETY: inotify_init1 takes flags.
    let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
    if fd < 0 {
        return format!("inotify_init1 errno {}", errno());
    }
    let p = c(dir);
    // SAFETY: a NUL-terminated path that outlives the call.
    let wd = unsafe { libc::inotify_add_watch(fd, p.as_ptr(), libc::IN_OPEN | libc::IN_CREATE) };
    if wd < 0 {
        return format!("inotify_add_watch errno {}", errno());
    }
    say("watching");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut buf = [0u8; 4096];
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one live pollfd.
        if unsafe { libc::poll(&mut pfd, 1, left.as_millis() as i32) } <= 0 {
            continue;
        }
        // SAFETY: reads into a live buffer.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        let mut at = 0usize;
        while n > 0 && at + 16 <= n as usize {
            // struct inotify_event: wd, mask, cookie, len, then the name.
            let word = |i: usize| u32::from_ne_bytes(buf[at + i..at + i + 4].try_into().unwrap());
            let (mask, len) = (word(4), word(12) as usize);
            let name = &buf[at + 16..at + 16 + len];
            let name = String::from_utf8_lossy(name)
                .trim_end_matches('\0')
                .to_string();
            at += 16 + len;
            if name.is_empty() {
                continue;
            }
            let what = if mask & libc::IN_CREATE != 0 {
                "IN_CREATE"
            } else {
                "IN_OPEN"
            };
            return format!("{what} {name}");
        }
    }
    "none".into()
}

fn open_by_handle_at(path: &str) -> String {
    // struct file_handle with room for the handle bytes.
    #[repr(C)]
    struct FileHandle {
        handle_bytes: u32,
        handle_type: i32,
        f_handle: [u8; 128],
    }
    let mut h = FileHandle {
        handle_bytes: 128,
        handle_type: 0,
        f_handle: [0; 128],
    };
    let mut mount_id: i32 = 0;
    let p = c(path);
    // SAFETY: the path is NUL-terminated; the handle and mount id are live, writable buffers.
    let r = unsafe {
        libc::syscall(
            libc::SYS_name_to_handle_at,
            libc::AT_FDCWD,
            p.as_ptr(),
            &mut h as *mut FileHandle,
            &mut mount_id as *mut i32,
            0,
        )
    };
    if r != 0 {
        return format!("name_to_handle_at errno {}", errno());
    }
    let dir = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => return format!("open {}", io::<()>(Err(e))),
    };
    use std::os::fd::AsRawFd;
    sc(
        libc::SYS_open_by_handle_at,
        &[dir.as_raw_fd() as c_long, ptr(&h), libc::O_RDONLY as c_long],
    )
}

fn sockaddr_in(addr: &std::net::SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: addr.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*addr.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

fn process_vm_readv(pid: c_long) -> String {
    let mut buf = [0u8; 8];
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: 8,
    };
    let remote = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: 8,
    };
    sc(
        libc::SYS_process_vm_readv,
        &[pid, ptr(&local), 1, ptr(&remote), 1, 0],
    )
}

/// `ioctl(tty, request, "x")` on a pty of its own, made the controlling terminal of a new
/// session (which TIOCSTI needs without privilege).
fn terminal_ioctl(request: c_long) -> String {
    terminal_ioctl_with(request, c_long::from(b'x'))
}

/// `ioctl(tty, request, arg)` on a pty of its own, as [`terminal_ioctl`]; `arg` is passed by
/// pointer (an `int` at the start of a zeroed 128-byte buffer, room for the structures of the
/// serial requests), or by value when negative (its absolute value less one: -1 is 0).
fn terminal_ioctl_with(request: c_long, arg: c_long) -> String {
    in_child(|| {
        use std::os::fd::AsRawFd;
        let (master, slave) = match crate::common::openpty() {
            Ok(pair) => pair,
            Err(e) => return format!("openpty {}", io::<()>(Err(e))),
        };
        // SAFETY: setsid of this child, then TIOCSCTTY on the slave descriptor.
        unsafe {
            libc::setsid();
            libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0);
        }
        let mut buf = [0u8; 128];
        let by_value = arg < 0;
        if !by_value {
            buf[..4].copy_from_slice(&(arg as i32).to_ne_bytes());
        }
        let a = if by_value { -arg - 1 } else { ptr(&buf) };
        let out = sc(libc::SYS_ioctl, &[slave.as_raw_fd() as c_long, request, a]);
        if request == libc::TCXONC as c_long && out == "ok" {
            // Output was stopped: start it again (TCOON) before the terminal is closed.
            // SAFETY: an ioctl with a number argument on the descriptor this child holds.
            unsafe { libc::ioctl(slave.as_raw_fd(), libc::TCXONC, libc::TCOON) };
        }
        // Closing the master would hang the terminal up and end this session leader with
        // SIGHUP before it reports; both stay open until the child exits.
        std::mem::forget((master, slave));
        out
    })
}

/// `setsockopt(IPPROTO_IPV6, IPV6_FLOWLABEL_MGR)` creating the flow label `label` (any share,
/// exclusive, lingering 150 s after its socket is closed) on a new UDP socket, closed after.
fn flow_label(label: u32) -> String {
    /// `struct in6_flowlabel_req` (linux/in6.h).
    #[repr(C)]
    struct FlowLabelReq {
        dst: [u8; 16],
        label: u32,
        action: u8,
        share: u8,
        flags: u16,
        expires: u16,
        linger: u16,
        pad: u32,
    }
    const IPV6_FLOWLABEL_MGR: c_long = 32;
    const IPV6_FL_A_GET: u8 = 0;
    const IPV6_FL_S_ANY: u8 = 255;
    const IPV6_FL_F_CREATE: u16 = 1;
    const IPV6_FL_F_EXCL: u16 = 2;
    // SAFETY: socket takes three numbers.
    let fd = unsafe { libc::socket(libc::AF_INET6, libc::SOCK_DGRAM, 0) };
    if fd < 0 {
        return format!("socket errno {}", errno());
    }
    let mut dst = [0u8; 16];
    dst[15] = 1;
    let req = FlowLabelReq {
        dst,
        label: (label & 0x000f_ffff).to_be(),
        action: IPV6_FL_A_GET,
        share: IPV6_FL_S_ANY,
        flags: IPV6_FL_F_CREATE | IPV6_FL_F_EXCL,
        expires: 150,
        linger: 150,
        pad: 0,
    };
    let out = sc(
        libc::SYS_setsockopt,
        &[
            fd as c_long,
            libc::IPPROTO_IPV6 as c_long,
            IPV6_FLOWLABEL_MGR,
            ptr(&req),
            std::mem::size_of::<FlowLabelReq>() as c_long,
        ],
    );
    // SAFETY: closes the socket made above.
    unsafe { libc::close(fd) };
    out
}

/// Forks a child that runs `f` in a session of its own with stdio on `/dev/null` (so that the
/// caller's pipes reach EOF) and exits; returns `started` at once.
fn background(f: impl FnOnce()) -> String {
    // SAFETY: the process is single-threaded (a constructor before main); the child ends with
    // _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return format!("fork errno {}", errno());
    }
    if pid == 0 {
        // SAFETY: setsid, then stdio onto /dev/null, in the child.
        unsafe {
            libc::setsid();
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
            for fd in 0..3 {
                libc::dup2(null, fd);
            }
            f();
            libc::_exit(0);
        }
    }
    "started".into()
}

/// The pid of a process (not this one) whose command line holds `marker`.
fn find_process(marker: &str) -> Option<i32> {
    let me = std::process::id() as i32;
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: i32 = e.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
        let found = pid != me
            && cmdline
                .split(|b| *b == 0)
                .any(|arg| arg == marker.as_bytes());
        found.then_some(pid)
    })
}

/// Waits for the process holding `marker` and writes `environ R, getfd R, kill R, seize R` to
/// `out` (through a rename, so that a reader sees all or nothing).
fn cross_spy(marker: &str, out: &str) {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let pid = loop {
        if let Some(pid) = find_process(marker) {
            break pid;
        }
        if std::time::Instant::now() > end {
            let _ = std::fs::write(out, "no target");
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let environ = match std::fs::read(format!("/proc/{pid}/environ")) {
        Ok(env) if env.windows(16).any(|w| w == b"TSB_CROSS_TOKEN=") => "ok".into(),
        Ok(_) => "read without the token".into(),
        Err(e) => io::<()>(Err(e)),
    };
    // SAFETY: pidfd_open takes two numbers.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let getfd = if pidfd < 0 {
        format!("pidfd_open errno {}", errno())
    } else {
        sc(libc::SYS_pidfd_getfd, &[pidfd as c_long, 0, 0])
    };
    let kill = sc(libc::SYS_kill, &[pid as c_long, 0]);
    let seize = sc(
        libc::SYS_ptrace,
        &[libc::PTRACE_SEIZE as c_long, pid as c_long, 0, 0],
    );
    let line = format!("environ {environ}, getfd {getfd}, kill {kill}, seize {seize}");
    let tmp = format!("{out}.tmp");
    let _ = std::fs::write(&tmp, line);
    let _ = std::fs::rename(&tmp, out);
}
