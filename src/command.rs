//! The sandboxed `Command` builder, mirroring [`tokio::process::Command`].

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Output};

use crate::child_handle::Child;
use crate::error::SpawnError;
use crate::plan::CompiledPolicy;
use crate::policy::{Network, Policy};
use crate::spawn::program::EnvOp;
use crate::spawn::Request;
use crate::stdio::Stdio;

/// A program to run in a sandbox, built like [`tokio::process::Command`].
///
/// The program sees only what its [`Policy`] allows; by default that is a read-only system
/// runtime, private `/tmp` and home, no network and no capability. Its environment starts from
/// `PATH`, `HOME`, `TMPDIR`, `USER`, `LOGNAME`, `SHELL` and `LANG` with sandbox values (and the
/// caller's `TERM` and `COLORTERM` when a stdio fd is a terminal); nothing else of the caller's
/// environment is passed unless asked for with [`Command::env_inherit`].
///
/// # Examples
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use tokio_sandbox::Command;
/// let out = Command::new("python3")
///     .args(["-c", "import os; print(sorted(os.listdir('/')))"])
///     .output()
///     .await?;
/// println!("{}", String::from_utf8_lossy(&out.stdout));
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Command {
    pub(crate) program: OsString,
    pub(crate) arg0: Option<OsString>,
    pub(crate) args: Vec<OsString>,
    pub(crate) env_ops: Vec<EnvOp>,
    pub(crate) cwd: Option<PathBuf>,
    pub(crate) stdin: Option<Stdio>,
    pub(crate) stdout: Option<Stdio>,
    pub(crate) stderr: Option<Stdio>,
    pub(crate) extra_fds: Vec<(RawFd, OwnedFd)>,
    pub(crate) kill_on_drop: bool,
    pub(crate) timeout: Option<std::time::Duration>,
    pub(crate) policy: Policy,
    /// `policy` compiled by the last spawn (or given compiled), reused until the policy changes.
    pub(crate) compiled: Option<CompiledPolicy>,
}

impl Command {
    /// A command for `program`: a path inside the sandbox, or a name looked up in the
    /// sandbox's `PATH` against what the sandbox can see (never in the caller's `PATH`).
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command {
            program: program.as_ref().to_os_string(),
            arg0: None,
            args: Vec::new(),
            env_ops: Vec::new(),
            cwd: None,
            stdin: None,
            stdout: None,
            stderr: None,
            extra_fds: Vec::new(),
            kill_on_drop: false,
            timeout: None,
            policy: Policy::default(),
            compiled: None,
        }
    }

    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.args.push(arg.as_ref().to_os_string());
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    /// Sets `argv[0]` (default: the program as given).
    pub fn arg0(&mut self, arg0: impl AsRef<OsStr>) -> &mut Command {
        self.arg0 = Some(arg0.as_ref().to_os_string());
        self
    }

    /// Sets an environment variable for the program.
    pub fn env(&mut self, key: impl AsRef<OsStr>, val: impl AsRef<OsStr>) -> &mut Command {
        self.env_ops.push(EnvOp::Set(
            key.as_ref().to_os_string(),
            val.as_ref().to_os_string(),
        ));
        self
    }

    /// Sets several environment variables.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        for (k, v) in vars {
            self.env(k, v);
        }
        self
    }

    /// Removes a variable (also one of the sandbox defaults).
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.env_ops
            .push(EnvOp::Remove(key.as_ref().to_os_string()));
        self
    }

    /// Clears the environment, including the sandbox defaults (`PATH`, `HOME`, ...).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_sandbox::Command;
    /// let mut cmd = Command::new("/usr/bin/env");
    /// cmd.env_clear().env("PATH", "/usr/bin"); // env(1) prints PATH=/usr/bin only
    /// ```
    pub fn env_clear(&mut self) -> &mut Command {
        self.env_ops.push(EnvOp::Clear);
        self
    }

    /// Passes the caller's value of `key`, read at spawn time, if it has one.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_sandbox::Command;
    /// let mut cmd = Command::new("make");
    /// cmd.env_inherit("LANG") // the caller's locale
    ///     .env("CFLAGS", "-O2")
    ///     .env_remove("TMPDIR"); // a sandbox default
    /// ```
    pub fn env_inherit(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.env_ops
            .push(EnvOp::Inherit(key.as_ref().to_os_string()));
        self
    }

    /// The working directory inside the sandbox (relative paths resolve against the caller's
    /// working directory). Default: the caller's working directory when the sandbox sees it at
    /// the same path, else `/`. A directory the sandbox does not show fails the spawn with
    /// [`SpawnError::Setup`] at [`Stage::Chdir`](crate::Stage::Chdir).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use tokio_sandbox::Command;
    /// let status = Command::new("make")
    ///     .read_write("/srv/build")
    ///     .current_dir("/srv/build")
    ///     .status()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.cwd = Some(dir.as_ref().to_path_buf());
        self
    }

    /// The program's stdin (default: inherited for `spawn`/`status`, null for `output`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use tokio::io::AsyncWriteExt;
    /// use tokio_sandbox::{Command, Stdio};
    /// let mut child = Command::new("wc").arg("-l").stdin(Stdio::piped()).spawn().await?;
    /// let mut stdin = child.stdin.take().expect("piped");
    /// stdin.write_all(b"one\ntwo\n").await?;
    /// drop(stdin); // EOF for wc
    /// child.wait().await?;
    /// # Ok(()) }
    /// ```
    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.stdin = Some(cfg.into());
        self
    }

    /// The program's stdout (default: inherited for `spawn`/`status`, piped for `output`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use tokio_sandbox::Command;
    /// let log = std::fs::File::create("listing.txt")?;
    /// Command::new("ls").arg("/").stdout(log).status().await?;
    /// # Ok(()) }
    /// ```
    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.stdout = Some(cfg.into());
        self
    }

    /// The program's stderr (default: inherited for `spawn`/`status`, piped for `output`).
    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.stderr = Some(cfg.into());
        self
    }

    /// Passes `fd` to the program as fd number `target` (>= 3). Only 0, 1, 2 and fds passed this
    /// way reach the program. The fd is consumed by the next spawn.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use tokio_sandbox::Command;
    /// let audit = std::fs::File::create("audit.log")?;
    /// Command::new("sh")
    ///     .args(["-c", "echo started >&3"])
    ///     .pass_fd(3, audit.into())
    ///     .status()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn pass_fd(&mut self, target: RawFd, fd: OwnedFd) -> &mut Command {
        self.extra_fds.push((target, fd));
        self
    }

    /// Kill the whole sandbox when the [`Child`] is dropped before it ended (default `false`).
    /// Either way a dropped `Child` is reaped in the background.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use tokio_sandbox::Command;
    /// let child = Command::new("sleep").arg("1000").kill_on_drop(true).spawn().await?;
    /// drop(child); // SIGKILL to the sandbox's init: every process in it ends
    /// # Ok(()) }
    /// ```
    pub fn kill_on_drop(&mut self, kill: bool) -> &mut Command {
        self.kill_on_drop = kill;
        self
    }

    /// Bounds the run: once `timeout` (wall-clock time, counted from the spawn) has passed,
    /// waiting kills the sandbox and [`Child::timed_out`] says so. Applies to [`Child::wait`]
    /// (and so to `status`, `output`, `wait_with_output` and `terminate`); nothing
    /// kills the sandbox while no wait is in progress, and [`Child::try_wait`] ignores it.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use tokio_sandbox::{Command, EndReason};
    /// let mut child = Command::new("sh")
    ///     .args(["-c", "while :; do :; done"])
    ///     .timeout(Duration::from_secs(2))
    ///     .spawn()
    ///     .await?;
    /// child.wait().await?; // returns after about 2 s, the sandbox killed
    /// assert!(child.timed_out());
    /// assert_eq!(child.run_status().unwrap().ended_by, EndReason::Timeout);
    /// # Ok(()) }
    /// ```
    pub fn timeout(&mut self, timeout: std::time::Duration) -> &mut Command {
        self.timeout = Some(timeout);
        self
    }

    /// Whether [`Command::kill_on_drop`] is set.
    pub fn get_kill_on_drop(&self) -> bool {
        self.kill_on_drop
    }

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

    /// See [`Policy::uid`].
    pub fn uid(&mut self, uid: u32) -> &mut Command {
        self.policy_mut().uid(uid);
        self
    }

    /// See [`Policy::gid`].
    pub fn gid(&mut self, gid: u32) -> &mut Command {
        self.policy_mut().gid(gid);
        self
    }

    /// Starts the program in a new sandbox and returns once it has been exec'd.
    ///
    /// Stdio settings and passed fds are consumed. Streams left unset are inherited.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping the future at any point kills a half-built sandbox and releases its
    /// memory and fds.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use tokio::io::{AsyncBufReadExt, BufReader};
    /// use tokio_sandbox::{Command, Stdio};
    /// let mut child = Command::new("ls").arg("/").stdout(Stdio::piped()).spawn().await?;
    /// let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    /// while let Some(line) = lines.next_line().await? {
    ///     println!("{line}");
    /// }
    /// child.wait().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`SpawnError::Policy`] for an invalid policy or command, found before anything is spawned
    /// (missing path, NUL byte, invalid environment variable name, program not found, read-write
    /// path the sandbox cannot write, retained groups; see [`PolicyError`](crate::PolicyError));
    /// [`SpawnError::Unsupported`] when a mechanism the policy requires is missing (Landlock, user
    /// namespaces, Landlock ABI 4 for TCP port rules, a cgroup v2 cpu controller for
    /// [`Limits::cpu_millis`](crate::Limits::cpu_millis)); [`SpawnError::Setup`] naming the step,
    /// the call, the path and the errno when the sandbox could not be built;
    /// [`SpawnError::NotFound`], [`SpawnError::NotExecutable`] and
    /// [`SpawnError::InterpreterNotFound`] when execve(2) fails; [`SpawnError::Os`] when a
    /// parent-side call (pipe2, mmap, clone3, ...) fails.
    pub async fn spawn(&mut self) -> Result<Child, SpawnError> {
        self.spawn_with([Stdio::inherit(), Stdio::inherit(), Stdio::inherit()])
            .await
    }

    /// Runs the program with inherited stdio (unless set) and waits for its exit status:
    /// [`Command::spawn`], then [`Child::wait`].
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe until the program runs; dropping the future afterwards drops the [`Child`]: the
    /// program runs on and is reaped in the background, or is killed with
    /// [`Command::kill_on_drop`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use tokio_sandbox::Command;
    /// let status = Command::new("sh").args(["-c", "exit 3"]).status().await?;
    /// assert_eq!(status.code(), Some(3));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Command::spawn`], converted to `io::Error` (keeping the errno where there is one,
    /// see [`SpawnError`]), or as [`Child::wait`].
    pub async fn status(&mut self) -> io::Result<ExitStatus> {
        let mut child = self
            .spawn_with([Stdio::inherit(), Stdio::inherit(), Stdio::inherit()])
            .await?;
        child.wait().await
    }

    /// Runs the program with stdin from `/dev/null` and stdout/stderr captured (unless set) and
    /// returns everything once it exits: [`Command::spawn`], then [`Child::wait_with_output`].
    ///
    /// All output is kept in the caller's memory, which no limit of the sandbox bounds: for an
    /// untrusted program, pipe stdout and stderr and read at most what you want to keep
    /// (`examples/untrusted_server.rs` keeps 1 MiB per stream and discards the rest).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe until the program runs; dropping the future afterwards drops the [`Child`] (as
    /// for [`Command::status`]) and loses the output read so far.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use tokio_sandbox::Command;
    /// let out = Command::new("sh").args(["-c", "echo out; echo err >&2"]).output().await?;
    /// assert_eq!(out.stdout, b"out\n");
    /// assert_eq!(out.stderr, b"err\n");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Command::status`], or an error reading stdout or stderr.
    pub async fn output(&mut self) -> io::Result<Output> {
        let child = self
            .spawn_with([Stdio::null(), Stdio::piped(), Stdio::piped()])
            .await?;
        child.wait_with_output().await
    }

    /// Spawns with `defaults` for the streams the command leaves unset. A policy that may run
    /// without namespaces does so where the host has no usable user namespaces (the first
    /// such spawn probes the host, on the blocking pool).
    async fn spawn_with(&mut self, defaults: [Stdio; 3]) -> Result<Child, SpawnError> {
        let mut policy = self.policy.clone();
        let mut fallback = None;
        if let Some(landlock_only) = policy
            .landlock_only()
            .filter(|_| policy.layers.user_namespace)
        {
            let probe = crate::spawn::blocking("probing the host", crate::probe::probe).await?;
            if let crate::probe::Availability::Unavailable(why) = &probe.user_namespace {
                fallback = Some(why.clone());
                policy = landlock_only;
            }
        }
        let [d0, d1, d2] = defaults;
        let req = Request {
            fallback,
            requested_network: self.policy.network,
            policy,
            program: self.program.clone(),
            arg0: self.arg0.clone(),
            args: self.args.clone(),
            env_ops: self.env_ops.clone(),
            cwd: self.cwd.clone(),
            stdio: [
                self.stdin.take().unwrap_or(d0),
                self.stdout.take().unwrap_or(d1),
                self.stderr.take().unwrap_or(d2),
            ],
            extra_fds: std::mem::take(&mut self.extra_fds),
            kill_on_drop: self.kill_on_drop,
            timeout: self.timeout,
        };
        crate::spawn::spawn(req, &mut self.compiled).await
    }
}
