//! Run untrusted programs in a Linux sandbox from async code.
//!
//! `tokio_sandbox::Command` mirrors [`tokio::process::Command`](https://docs.rs/tokio/1/tokio/process/struct.Command.html) and adds a [`Policy`]: spawning
//! performs `clone3` with new user, mount, pid, ipc, uts, cgroup and (unless the host network is
//! asked for) network namespaces, and in the child, before `execve`: writes the uid/gid maps,
//! builds a tmpfs root with the allowed paths bind-mounted, mounts `/proc` and a minimal `/dev`,
//! `pivot_root`s, drops every capability, and applies Landlock and a seccomp filter. The returned
//! [`Child`] waits on a pidfd on tokio's reactor and exposes tokio's async stdio types.
//!
//! # Quick start
//!
//! ```no_run
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use tokio_sandbox::{Command, Network};
//!
//! let out = Command::new("sh")
//!     .args(["-c", "ls /; cat /etc/shadow"])
//!     .network(Network::None)
//!     .output()
//!     .await?;
//! assert!(!out.status.success()); // /etc/shadow is not there
//! # Ok(()) }
//! ```
//!
//! # Running sandboxes and pools
//!
//! To keep a sandbox's setup (a millisecond or two of namespaces, mounts and filters) off a
//! command's path: [`Sandbox::start`] starts one sandbox that runs many commands, which share
//! its filesystem (as `docker exec` does in a container); a [`Pool`] keeps sandboxes of one
//! policy prepared ahead of time and runs each command in a fresh one. Both hand out the
//! crate's [`Command`], with its builder and [`Child`].
//!
//! ```no_run
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use tokio_sandbox::{Policy, Pool, Sandbox};
//!
//! let policy = Policy::new().compile()?;
//! let sandbox = Sandbox::start(&policy).await?;
//! sandbox.command("sh").args(["-c", "echo 42 > /tmp/answer"]).status().await?;
//! assert_eq!(sandbox.command("cat").arg("/tmp/answer").output().await?.stdout, b"42\n");
//!
//! let pool = Pool::new(&policy, 4)?; // up to 4 sandboxes kept ready
//! assert!(pool.command("true").status().await?.success());
//! # Ok(()) }
//! ```
//!
//! # Differences from `tokio::process`
//!
//! Code written for `tokio::process` compiles with `tokio::process::Command` replaced by
//! `tokio_sandbox::Command` (and `std::process::Stdio` by [`tokio_sandbox::Stdio`](Stdio)) and
//! behaves the same, within the sandbox: [`Command::spawn`] is synchronous and returns
//! `io::Result<Child>`, [`Command::status`] and [`Command::output`] start the program when
//! called and return `'static` futures, `output()` pipes stdout and stderr, settings survive a
//! spawn, `start_kill` and `kill` after a wait are `Ok`, a [`Child`] can be waited for on any
//! runtime, [`Child::stdin`], [`Child::stdout`] and [`Child::stderr`] are tokio's own types,
//! and the error kinds are tokio's (`tests/tokio_compat.rs` checks each against both). What
//! differs, and why:
//!
//! - **The environment is not inherited.** The program starts with `PATH`, `HOME`, `TMPDIR`,
//!   `USER`, `LOGNAME` and `SHELL` (`/bin/sh`) set for the sandbox, `LANG=C.UTF-8` where the
//!   system runtime has that locale, and the caller's `TERM` and `COLORTERM` when a stdio fd of
//!   the program is a terminal; the caller's other variables (which often hold tokens and
//!   keys) reach it only through [`Command::env`] or [`Command::env_inherit`].
//!   [`Command::get_envs`] lists what was set or removed, as std's does.
//! - **The working directory is the caller's only if the sandbox shows it** at the same path,
//!   else `/`; [`Command::current_dir`] naming a directory the sandbox does not show fails the
//!   spawn ([`SpawnError::Setup`] at [`Stage::Chdir`]). A program name is looked up in the
//!   sandbox's `PATH` among what the sandbox shows, never in the caller's `PATH`.
//! - **[`Child::id`] is the sandbox's init**, pid 1 of the sandbox's pid namespace (its host
//!   pid), not the program, which is init's child. Signals sent through [`Child::signal`] or to
//!   that pid are forwarded to the program, except `SIGKILL` and `SIGSTOP`, which act on init,
//!   `SIGIO` (init's lifeline) and `SIGRTMAX` (the library's request to end the sandbox, which
//!   [`Child::signal`] refuses). [`Child::kill`], [`Child::start_kill`] and
//!   [`Command::kill_on_drop`] end every process of the sandbox, not only the program:
//!   `start_kill` asks init to kill and reap them all (so that their CPU time and memory are
//!   counted) and kills init with `SIGKILL` if the sandbox has not ended a second later.
//! - **The whole sandbox ends with its owner.** When the program exits, its background
//!   processes end with the sandbox; when the process that spawned the sandbox exits or is
//!   killed, the sandbox is killed too (a `tokio::process` child outlives its parent). Nothing
//!   the program started can stay behind.
//! - **Ownership is that of a user namespace.** The program runs as one uid and gid of its own
//!   with no capability: an unprivileged caller's own ids, shown as themselves; a root
//!   caller's program runs as 65534 on the host and 1000 (`sandbox`) inside, as does an
//!   unprivileged caller's running as 65534. Every other host id shows as the overflow id
//!   65534 (`nobody`), never as the program's own, so host files owned by root appear owned by
//!   `nobody`, and `chown` to another id fails. [`Command::uid`] and [`Command::gid`] choose the
//!   id inside the sandbox, not a host id to switch to with setuid(2) as std's
//!   `CommandExt::uid` does.
//! - **Each bind is a mount of its own**, so `rename(2)` from one read-write path to another,
//!   or between the sandbox's `/tmp`, its home and a read-write path, fails with `EXDEV` where
//!   on the host both may be one filesystem. `mv` copies instead; a program that writes a
//!   temporary file and renames it into place needs its temporary directory inside the same
//!   read-write path ([`Policy::tmpdir`] puts `TMPDIR` there).
//! - **The first spawn raises this process's soft `RLIMIT_NOFILE` to its hard limit** (each
//!   running sandbox holds descriptors in it), as Go's runtime does; programs get the original
//!   soft limit back (or the default open-files limit of [`Limits::default_open_files`] where
//!   that is lower).
//! - **`std::process::Stdio` is opaque** (nothing tells whether it is a pipe or which fd it
//!   holds) and cannot be placed in a sandbox: use [`Stdio`], which has the same constructors
//!   (`inherit`, `null`, `piped`) and conversions (`File`, `OwnedFd`, std's and tokio's child
//!   pipes with `into()` or `try_into()`, `io::stdout()`, `io::stderr()`).
//! - **No `pre_exec`, `as_std`, `as_std_mut`, `into_std` or `From<std::process::Command>`.**
//!   A `pre_exec` closure would run the caller's code in the child before the policy is in
//!   force (and the child may not allocate, lock or run arbitrary code; see below), and a std
//!   `Command` can neither hold a policy nor be read back whole, so converting to or from one
//!   would run the program unsandboxed or lose settings. The settings read back with
//!   [`Command::get_program`], [`Command::get_args`], [`Command::get_envs`] and
//!   [`Command::get_current_dir`], where tokio code writes `cmd.as_std().get_args()`.
//! - **[`Command::process_group`]**: `0` gives the sandbox a process group of its own, led by
//!   its init, in a new session (the default, [`Policy::new_session`]; the program then has no
//!   controlling terminal, which stops `TIOCSTI` injection); any other group is outside the
//!   sandbox and refused ([`PolicyError::ProcessGroup`]).
//! - **`output()` reads stdin from `/dev/null` unless set** (tokio's inherits the caller's, std's
//!   does not): a program whose output is being collected does not read the caller's input or
//!   terminal unless given it.
//! - **A spawn takes longer** (a few milliseconds for the namespaces, mounts and filters) and
//!   [`Command::spawn`] blocks the calling thread meanwhile, as tokio's does for its shorter
//!   fork and exec. [`Command::spawn_async`] sets the sandbox up on threads of the library's
//!   own (not tokio's blocking pool) and awaits it on the reactor, a bounded number at once,
//!   with the typed [`SpawnError`]: use it on a current-thread runtime that starts many
//!   sandboxes, or where the runtime thread must stay free.
//! - **Errors carry the sandbox's reasons.** A spawn's `io::Error` has tokio's kind for the same
//!   failure and holds a [`SpawnError`] (the step, the call, the path), so its `raw_os_error()`
//!   is `None`: [`SpawnError::from_io_error`] gives the `SpawnError` and
//!   [`SpawnError::raw_os_error`] its errno. Problems with the policy are found before anything
//!   is started (kind `InvalidInput` or the errno's).
//! - **Outside a Tokio runtime** [`Command::spawn`] returns an error and starts nothing, where
//!   tokio's panics (both need a runtime for the child's pipes).
//! - **Limits by default**: the sandbox has a process limit ([`DEFAULT_PROCESS_LIMIT`]), its
//!   tmpfs mounts a size ([`DEFAULT_TMPFS_SIZE`]), and no network but its own loopback
//!   ([`Network::None`]).
//! - **Additions**: [`Command::env_inherit`], [`Command::pass_fd`], [`Command::timeout`], the
//!   policy methods, [`Child::signal`], [`Child::terminate`], [`Child::pidfd`],
//!   [`Child::enforcement`], [`Child::run_status`] and [`Child::resource_usage`].
//!
//! # Threat model
//!
//! The program is hostile. It sees only the paths of its policy (read-only unless asked), the
//! system runtime ([`Policy::system`]: `/usr` and the static, non-secret configuration of `/etc`),
//! a private `/tmp`, `/dev/shm` and home, a fresh `/proc` of its own pid namespace, and a minimal
//! `/dev`; with [`Network::None`] only its own loopback. It holds no capability (bounding set
//! empty, securebits locked, `no_new_privs`), so setuid programs do not raise privilege. Landlock
//! restricts the filesystem a second time, from the same policy; the seccomp filter denies
//! nested user namespaces, the mount API, keyrings, BPF, perf, io_uring, Linux AIO, leases,
//! retuning the sandbox's init and other kernel surface (see [`seccomp`]). It may trace its own
//! processes ([`Policy::ptrace`]), which its pid namespace and Landlock confine to the sandbox;
//! its init is not dumpable. Kernel bugs reachable through the allowed system calls are out of
//! scope.
//!
//! # Kernel requirements
//!
//! Linux 5.14 or later (clone3 5.3, `CLONE_CLEAR_SIGHAND` 5.5, `openat2` 5.6,
//! `mount_setattr` 5.12, Landlock 5.13, `P_PIDFD` 5.4, `RLIMIT_NPROC` per user namespace
//! 5.14), with unprivileged user namespaces enabled (or a root caller). Landlock is part of
//! the default layering: without it spawning fails with [`SpawnError::Unsupported`], unless
//! the filesystem is best effort ([`Policy::require`]). Without user namespaces, a policy
//! whose network and processes are best effort runs on Landlock, seccomp and `no_new_privs`
//! alone; [`probe()`] says what a host offers.
//!
//! # Cancel safety
//!
//! [`Command::spawn_async`] is cancel-safe: a dropped future kills a half-built sandbox and
//! frees its memory and fds. [`Child::wait`], [`Child::kill`] and [`Child::terminate`] are
//! cancel-safe (signals sent stay sent; a later [`Child::wait`] returns the status).
//! [`Child::wait_with_output`] is not: the output read so far is lost. [`Command::status`] and
//! [`Command::output`] start the program when called, as tokio's do; dropping their futures
//! drops the [`Child`] (see [`Command::kill_on_drop`]).
//!
//! # Setup failures
//!
//! The child (or the sandbox's init) reports a failing step over a close-on-exec pipe as one
//! record: the stage, the system call that failed, the item the stage was working on and the
//! errno. A spawn turns it into [`SpawnError::Setup`] naming the [`Stage`], the call and the
//! path ([`Command::spawn_async`] returns it as such, [`Command::spawn`] as an `io::Error` that
//! holds it: see [`SpawnError::from_io_error`]).
//!
//! # How a spawn works
//!
//! 1. **In the parent** (on the calling thread for [`Command::spawn`], `status` and `output`;
//!    on the library's setup threads, at most one per CPU at once, for
//!    [`Command::spawn_async`]): the [`Policy`] is compiled once into a [`CompiledPolicy`]
//!    (canonical paths, the mount plan, Landlock rules, all as C strings) and reused by later
//!    spawns of the same policy; the
//!    seccomp programs, the Landlock ABI and the init memfd are prepared once per process. Per
//!    spawn only argv, envp, the fds and a 128 KiB stack are prepared.
//! 2. **`clone3(CLONE_VM | CLONE_PIDFD | CLONE_CLEAR_SIGHAND | CLONE_NEW*)`** starts the child on
//!    its own stack, sharing the parent's memory until it execs, so the cost does not grow with
//!    the parent's resident size (a fork-style clone copies its page tables: 16 ms for 1 GiB).
//!    `CLONE_VFORK` is not used: it would freeze the calling thread for the whole child setup
//!    and a frozen parent cannot write a root caller's uid/gid maps. Instead the parent keeps
//!    the stack and plan alive, untouched, until the report pipe reaches EOF (the child exec'd
//!    or exited), also when the spawn future is dropped. The child shares the calling thread's
//!    TLS, so it makes only raw system calls that never write `errno`, never allocates, locks
//!    or panics (a test traps any allocation in another pid). Where `clone3` is `ENOSYS`
//!    (Docker's default seccomp profile), `clone(2)` is used with signals blocked around it.
//! 3. **In the child**: id maps (written by the child itself for an unprivileged caller; by
//!    the parent for root, which the child waits for), the tmpfs root, binds (re-resolved with
//!    `openat2(RESOLVE_NO_SYMLINKS)` so a path swapped for a symlink fails rather than redirects;
//!    read-only with `mount_setattr`, which keeps locked flags), `/proc`, `/dev`, `pivot_root`,
//!    hostname, loopback, cwd, fds, capabilities, `no_new_privs`, Landlock, seccomp.
//! 4. **pid 1** is a 2 KB static `no_std` program built by `build.rs` from `src/init/main.rs`,
//!    exec'd from a sealed memfd: it holds nothing of the parent, is not dumpable, forks and
//!    execs the program, forwards signals to it, reaps orphans, and ends the sandbox when the
//!    program exits, when the library asks it to ([`Child::start_kill`], a timeout) or when
//!    the spawning process is gone (a lifeline pipe whose write end only that process holds):
//!    it kills and reaps every process, then reports the program's exact wait status, the CPU
//!    time and peak memory of all it reaped and the tmpfs mounts that were full, on a pipe the
//!    program cannot reach. `SIGIO` sent to the sandbox is not forwarded (init uses it for the
//!    lifeline), nor is `SIGRTMAX` (the library's request to end the sandbox); `SIGKILL` and
//!    `SIGSTOP` act on init itself, and `SIGKILL` ends the whole sandbox.
//! 5. **The parent** reads the report pipe (blocking in poll(2) for [`Command::spawn`], as
//!    tokio's spawn waits for the exec; on the reactor for [`Command::spawn_async`]): EOF alone
//!    means the program was exec'd; otherwise the record becomes a typed error.
//!
//! # Known limits
//!
//! - Landlock rules belong to inodes: a device node that the sandbox's `/dev` shows writable
//!   (e.g. `/dev/null`) stays writable when also bound read-only elsewhere.
//! - An unprivileged caller's supplementary groups cannot be dropped in its user namespace
//!   (`setgroups` must be denied there); spawning refuses unless allowed
//!   ([`Policy::allow_retained_groups`]), and only root can start a process without them
//!   ([`Probe::retained_groups`] lists them). Programs that call `setgroups` (`apt`, `su`)
//!   fail with `EPERM`.
//! - A bind onto `/` itself is refused ([`PolicyError::RootBind`]).
//! - Setuid programs run without privilege (`no_new_privs`), and no file can get the set-user-ID
//!   or set-group-ID bit (the seccomp filter refuses such modes), since such a file written to a
//!   read-write path would keep the bit on the host.
//! - Policy paths are resolved on the host as the caller, following symlinks (which are
//!   recreated inside), and pinned when named: a spawn where one leads to another object by
//!   then is refused ([`PolicyError::PathReplaced`]). Do not name paths inside a directory an
//!   untrusted program could write to: a symlink planted there by an earlier run, before the
//!   path was named, decides what a later policy binds.
//! - Landlock on this kernel (ABI < 9) cannot restrict connecting to a pathname unix socket:
//!   a socket inside a bound directory is reachable (bind `/run` and the program can talk to
//!   every daemon listening there).
//! - With [`Network::Host`] the program can reach everything the caller can.

#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
compile_error!("tokio-sandbox supports Linux on x86_64");

mod adapt;
mod apparmor;
mod cgroup;
mod child;
mod child_handle;
mod command;
// Parts of it are the init's only (`src/init/serve.rs`).
#[allow(dead_code)]
mod control;
mod enforcement;
mod error;
pub mod landlock;
mod plan;
mod policy;
mod probe;
mod report;
mod sandbox;
pub mod seccomp;
mod setup_threads;
mod size;
mod spawn;
mod stdio;
mod teardown;
mod wire;

pub use apparmor::profile as apparmor_profile;
pub use cgroup::{CgroupV2, CALLER_LEAF, CGROUP_ENV};
pub use child_handle::status::{EndReason, FullTmpfs, LimitReport, ResourceUsage, RunStatus};
pub use child_handle::Child;
pub use command::Command;
pub use enforcement::{Enforcement, Ids, PropertyReport};
pub use error::{PolicyError, SpawnError, Stage};
// The advice of `PolicyError::NotWritable` in the CLI's words (`--uid`), for the CLI.
#[doc(hidden)]
pub use error::{not_writable_advice, Vocabulary};
pub use plan::CompiledPolicy;
pub use policy::file::PolicyFileError;
pub use policy::{
    Layers, Limits, Network, Policy, Property, Requirement, TmpfsLimits, DEFAULT_MAX_PTYS,
    DEFAULT_PROCESS_LIMIT, DEFAULT_TMPFS_SIZE, MIN_DEFAULT_OPEN_FILES, TMPFS_BYTES_PER_INODE,
};
pub use probe::{probe, Availability, Probe};
pub use sandbox::{Pool, Sandbox};
pub use spawn::program::DEFAULT_PATH;
pub use stdio::Stdio;
