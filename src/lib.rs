//! Run untrusted programs in a Linux sandbox from async code.
//!
//! `tokio_sandbox::Command` mirrors [`tokio::process::Command`] and adds a [`Policy`]: spawning
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
//! # Threat model
//!
//! The program is hostile. It sees only the paths of its policy (read-only unless asked), a
//! private `/tmp`, `/dev/shm` and home, a fresh `/proc` of its own pid namespace, and a minimal
//! `/dev`; with [`Network::None`] only its own loopback. It holds no capability (bounding set
//! empty, securebits locked, `no_new_privs`), so setuid programs do not raise privilege. Landlock
//! restricts the filesystem a second time, from the same policy; the seccomp filter denies
//! nested user namespaces, the mount API, keyrings, BPF, perf, ptrace, io_uring and other kernel
//! surface (see [`seccomp`]). Kernel bugs reachable through the allowed system calls are out of
//! scope.
//!
//! # Kernel requirements
//!
//! Linux 5.13 or later (clone3 5.3, `CLONE_CLEAR_SIGHAND` 5.5, `openat2` 5.6, `mount_setattr`
//! 5.12, Landlock 5.13, `P_PIDFD` 5.4), with unprivileged user namespaces enabled (or a root
//! caller). Landlock is required: without it spawning fails with
//! [`SpawnError::Unsupported`].
//!
//! # Setup failures
//!
//! The child reports a failing step over a close-on-exec pipe as `(stage, errno)`;
//! [`Command::spawn`] turns it into [`SpawnError::Setup`] naming the [`Stage`] and the path.

#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
compile_error!("tokio-sandbox supports Linux on x86_64");

mod child;
mod child_handle;
mod command;
mod error;
pub mod landlock;
mod policy;
pub mod seccomp;
mod spawn;
mod stdio;
mod sys;

pub use child_handle::{Child, Enforcement};
pub use command::Command;
pub use error::{PolicyError, SpawnError, Stage};
pub use policy::{Layers, Network, Policy, DEFAULT_TMPFS_SIZE};
pub use spawn::{CompiledPolicy, DEFAULT_PATH};
pub use stdio::Stdio;
