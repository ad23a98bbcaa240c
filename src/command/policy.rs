//! The `Command` methods that set its policy: the whole policy, a compiled one, in place, and
//! the shortcuts for the policy's paths, network, limits and ids.

use std::path::Path;

use super::Command;
use crate::plan::CompiledPolicy;
use crate::policy::{Network, Policy};

impl Command {
    /// Replaces the whole policy.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use tokio_sandbox::{Command, Policy};
    /// let mut cmd = Command::new("job");
    /// cmd.policy(Policy::from_file("sandbox.toml")?);
    /// # Ok(()) }
    /// ```
    pub fn policy(&mut self, policy: Policy) -> &mut Command {
        self.policy = policy;
        self.compiled = None;
        self
    }

    /// Uses a policy compiled once with [`CompiledPolicy::new`], so that spawns of many commands
    /// share the resolved paths, mount plan and Landlock rules. Changing the policy afterwards
    /// (with [`Command::policy_mut`] or a shortcut such as [`Command::read_only`]) drops the
    /// compiled form, and the next spawn compiles the changed policy.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use tokio_sandbox::{Command, Policy};
    /// let mut policy = Policy::new();
    /// policy.read_only("/srv/scripts");
    /// let compiled = policy.compile()?;
    /// for script in ["a.sh", "b.sh", "c.sh"] {
    ///     let out = Command::new("sh")
    ///         .arg(format!("/srv/scripts/{script}"))
    ///         .compiled_policy(&compiled)
    ///         .output()
    ///         .await?;
    ///     println!("{script}: {}", out.status);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn compiled_policy(&mut self, policy: &CompiledPolicy) -> &mut Command {
        self.policy = policy.policy().clone();
        self.compiled = Some(policy.clone());
        self
    }

    /// The policy, to change it in place.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_sandbox::Command;
    /// let mut cmd = Command::new("job");
    /// cmd.policy_mut().hostname("build").tmpfs_size(64 * 1024 * 1024);
    /// ```
    pub fn policy_mut(&mut self) -> &mut Policy {
        self.compiled = None;
        &mut self.policy
    }

    /// See [`Policy::read_only`].
    pub fn read_only(&mut self, path: impl AsRef<Path>) -> &mut Command {
        self.policy_mut().read_only(path);
        self
    }

    /// See [`Policy::read_write`].
    pub fn read_write(&mut self, path: impl AsRef<Path>) -> &mut Command {
        self.policy_mut().read_write(path);
        self
    }

    /// See [`Policy::bind`].
    pub fn bind(
        &mut self,
        src: impl AsRef<Path>,
        dst: impl AsRef<Path>,
        writable: bool,
    ) -> &mut Command {
        self.policy_mut().bind(src, dst, writable);
        self
    }

    /// See [`Policy::tmpfs`].
    pub fn tmpfs(&mut self, dst: impl AsRef<Path>) -> &mut Command {
        self.policy_mut().tmpfs(dst);
        self
    }

    /// See [`Policy::network`].
    pub fn network(&mut self, network: Network) -> &mut Command {
        self.policy_mut().network(network);
        self
    }

    /// See [`Policy::limits`].
    pub fn limits(&mut self, limits: crate::policy::Limits) -> &mut Command {
        self.policy_mut().limits(limits);
        self
    }

    /// The uid the program runs as: see [`Policy::uid`].
    ///
    /// Unlike [`CommandExt::uid`](std::os::unix::process::CommandExt::uid), which needs
    /// privilege and calls setuid(2) on the host, this is the id the program sees inside the
    /// sandbox's user namespace; for an unprivileged caller it maps to the caller's own uid on
    /// the host (files it creates in a read-write path belong to the caller), for a root caller
    /// it is the host uid the sandbox runs as (default 65534).
    pub fn uid(&mut self, uid: u32) -> &mut Command {
        self.policy_mut().uid(uid);
        self
    }

    /// The gid the program runs as: see [`Policy::gid`], and [`Command::uid`] for how it
    /// differs from [`CommandExt::gid`](std::os::unix::process::CommandExt::gid).
    pub fn gid(&mut self, gid: u32) -> &mut Command {
        self.policy_mut().gid(gid);
        self
    }
}
