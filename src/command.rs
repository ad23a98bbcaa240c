//! The sandboxed `Command` builder, mirroring [`tokio::process::Command`](https://docs.rs/tokio/1/tokio/process/struct.Command.html).

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::future::Future;
use std::io;
use std::os::fd::{OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Output};

use crate::child_handle::Child;
use crate::error::{PolicyError, SpawnError};
use crate::plan::CompiledPolicy;
use crate::policy::Policy;
use crate::spawn::program::EnvOp;
use crate::spawn::Request;
use crate::stdio::Stdio;

mod policy;

/// A program to run in a sandbox, built like [`tokio::process::Command`](https://docs.rs/tokio/1/tokio/process/struct.Command.html).
///
/// The program sees only what its [`Policy`] allows; by default that is a read-only system
/// runtime, private `/tmp` and home, no network and no capability. Its environment starts from
/// `PATH`, `HOME`, `TMPDIR`, `USER`, `LOGNAME`, `SHELL` and `LANG` with sandbox values (and the
/// caller's `TERM` and `COLORTERM` when a stdio fd is a terminal); nothing else of the caller's
/// environment is passed unless asked for with [`Command::env_inherit`].
///
/// Code written for `tokio::process::Command` works with the import changed; the
/// [differences](crate#differences-from-tokioprocess) all come from the sandbox.
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
    /// A process group other than 0 asked for, which a spawn refuses.
    pub(crate) process_group: Option<i32>,
    pub(crate) policy: Policy,
    /// `policy` compiled by the last spawn (or given compiled), reused until the policy changes.
    pub(crate) compiled: Option<CompiledPolicy>,
    /// Where the program runs: a new sandbox, a running one, or one of a pool.
    pub(crate) target: crate::spawn::target::Target,
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
            process_group: None,
            policy: Policy::default(),
            compiled: None,
            target: crate::spawn::target::Target::New,
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

    /// Sets `argv[0]` (default: the program as given), as
    /// [`CommandExt::arg0`](std::os::unix::process::CommandExt::arg0) does.
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
    /// the same path, else `/` ([`Child::working_directory`](crate::Child::working_directory)
    /// says which). A directory the sandbox does not show fails the spawn with
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
    /// let mut child = Command::new("wc").arg("-l").stdin(Stdio::piped()).spawn()?;
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
    /// way reach the program. The `Command` keeps `fd` until it is dropped, and each spawn
    /// passes a duplicate, as for a [`Stdio`] holding an fd.
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
    /// let child = Command::new("sleep").arg("1000").kill_on_drop(true).spawn()?;
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
    /// kills the sandbox while no wait is in progress, and [`Child::try_wait`] ignores it. A
    /// timeout too long to be represented as a point in time (such as [`Duration::MAX`]) is no
    /// limit.
    ///
    /// [`Duration::MAX`]: std::time::Duration::MAX
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
    ///     .spawn()?;
    /// child.wait().await?; // returns after about 2 s, the sandbox killed
    /// assert!(child.timed_out());
    /// assert_eq!(child.run_status().unwrap().ended_by, EndReason::Timeout);
    /// # Ok(()) }
    /// ```
    ///
    /// [`Child::wait_with_output`] (and so [`Command::output`]) consumes the `Child` and
    /// returns a plain exit status, `SIGKILL` after a timeout as after any kill. To keep the
    /// output and learn whether the timeout ended the run, read the pipes while waiting:
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use tokio::io::AsyncReadExt;
    /// use tokio_sandbox::{Command, Stdio};
    /// let mut child = Command::new("make")
    ///     .stdout(Stdio::piped())
    ///     .timeout(Duration::from_secs(60))
    ///     .spawn()?;
    /// let mut stdout = child.stdout.take().expect("piped");
    /// let mut output = Vec::new();
    /// let (read, status) = tokio::join!(stdout.read_to_end(&mut output), child.wait());
    /// read?;
    /// let status = status?;
    /// if child.timed_out() {
    ///     eprintln!("killed after 60 s ({status}); {} bytes of output", output.len());
    /// }
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

    /// The program as given to [`Command::new`] (before it is looked up in the sandbox's
    /// `PATH`), as [`std::process::Command::get_program`].
    pub fn get_program(&self) -> &OsStr {
        &self.program
    }

    /// The arguments, without the program or `argv[0]`, as
    /// [`std::process::Command::get_args`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::ffi::OsStr;
    /// use tokio_sandbox::Command;
    /// let mut cmd = Command::new("ls");
    /// cmd.arg("-l").arg("/");
    /// assert_eq!(cmd.get_program(), "ls");
    /// assert_eq!(cmd.get_args().collect::<Vec<_>>(), [OsStr::new("-l"), OsStr::new("/")]);
    /// ```
    pub fn get_args(&self) -> impl ExactSizeIterator<Item = &OsStr> + DoubleEndedIterator {
        self.args.iter().map(OsString::as_os_str)
    }

    /// The variables set (`Some(value)`) or removed (`None`) with [`Command::env`],
    /// [`Command::envs`] and [`Command::env_remove`], sorted by name, as
    /// [`std::process::Command::get_envs`]: since the last [`Command::env_clear`], the last
    /// change of each name. The sandbox's defaults (`PATH`, `HOME`, ...) are not listed, nor
    /// are variables named with [`Command::env_inherit`], whose values are read at spawn.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::ffi::OsStr;
    /// use tokio_sandbox::Command;
    /// let mut cmd = Command::new("env");
    /// cmd.env("TZ", "UTC").env_remove("TMPDIR");
    /// assert_eq!(
    ///     cmd.get_envs().collect::<Vec<_>>(),
    ///     [(OsStr::new("TMPDIR"), None), (OsStr::new("TZ"), Some(OsStr::new("UTC")))]
    /// );
    /// ```
    pub fn get_envs(&self) -> impl ExactSizeIterator<Item = (&OsStr, Option<&OsStr>)> {
        let mut vars = BTreeMap::new();
        for op in &self.env_ops {
            match op {
                EnvOp::Set(k, v) => {
                    vars.insert(k.as_os_str(), Some(v.as_os_str()));
                }
                EnvOp::Remove(k) => {
                    vars.insert(k.as_os_str(), None);
                }
                EnvOp::Inherit(k) => {
                    vars.remove(k.as_os_str());
                }
                EnvOp::Clear => vars.clear(),
            }
        }
        vars.into_iter()
    }

    /// The working directory set with [`Command::current_dir`], as given; `None` when unset (the
    /// sandbox then starts in the caller's working directory if it shows it, else in `/`).
    pub fn get_current_dir(&self) -> Option<&Path> {
        self.cwd.as_deref()
    }

    /// The process group of the program, as
    /// [`CommandExt::process_group`](std::os::unix::process::CommandExt::process_group) sets it
    /// for an ordinary child.
    ///
    /// `0` gives the sandbox's processes a process group of their own, which is what keeps a
    /// terminal's `SIGINT` and `SIGHUP` from reaching them: a sandbox does this by default,
    /// starting a new session ([`Policy::new_session`], which `0` turns back on if it was turned
    /// off; unlike tokio's, the program then has no controlling terminal). Any other value
    /// names a process group outside the sandbox, which its processes cannot join: the spawn
    /// fails with [`PolicyError::ProcessGroup`].
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_sandbox::Command;
    /// let mut cmd = Command::new("make");
    /// cmd.process_group(0); // the default: Ctrl-C on the caller's terminal does not reach it
    /// ```
    pub fn process_group(&mut self, pgroup: i32) -> &mut Command {
        if pgroup == 0 {
            self.process_group = None;
            if !self.policy.new_session {
                self.policy_mut().new_session(true);
            }
        } else {
            self.process_group = Some(pgroup);
        }
        self
    }

    /// Starts the program in a new sandbox and returns once it has been exec'd, like
    /// [`tokio::process::Command::spawn`](https://docs.rs/tokio/1/tokio/process/struct.Command.html#method.spawn): synchronous, blocking the calling thread until the
    /// sandbox reports the exec.
    ///
    /// Streams left unset are inherited. The settings stay with the `Command`: a second spawn
    /// gets the same stdio (a new pipe for each piped stream, a duplicate of each fd given).
    ///
    /// # Blocking
    ///
    /// The calling thread prepares the sandbox (resolving the policy's paths on the first spawn
    /// of a policy, then reusing them), clones it and waits while it sets itself up and execs
    /// the program: a few milliseconds, where `tokio::process` waits for a fork and an exec
    /// (spawn to exit of `/bin/true` takes about twice as long as with `tokio::process`: see
    /// `cargo bench --bench spawn`). Called on a runtime thread, nothing else runs on that
    /// thread meanwhile. A current-thread runtime that starts many sandboxes at once (or a
    /// server that must stay responsive while it does) should use [`Command::spawn_async`],
    /// which prepares on the library's setup threads, awaits the report on the reactor and
    /// bounds how many sandboxes are set up at once.
    ///
    /// Must be called from within a Tokio runtime (the [`Child`]'s pipes are registered with
    /// its reactor), as tokio's: outside one it returns an error (tokio's panics) and starts
    /// nothing.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use tokio::io::{AsyncBufReadExt, BufReader};
    /// use tokio_sandbox::{Command, Stdio};
    /// let mut child = Command::new("ls").arg("/").stdout(Stdio::piped()).spawn()?;
    /// let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    /// while let Some(line) = lines.next_line().await? {
    ///     println!("{line}");
    /// }
    /// child.wait().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Outside a Tokio runtime, an error of kind [`io::ErrorKind::Other`]. Otherwise the
    /// [`SpawnError`] of [`Command::spawn_async`], as an `io::Error` of kind
    /// [`SpawnError::kind`] (`NotFound` for a missing program, `PermissionDenied` for one that
    /// cannot be executed, as tokio's) that holds it: [`SpawnError::from_io_error`] gives it
    /// back, with the step, the call, the path and the errno.
    pub fn spawn(&mut self) -> io::Result<Child> {
        self.spawn_with([Stdio::inherit(), Stdio::inherit(), Stdio::inherit()])
    }

    /// Starts the program in a new sandbox, asynchronously, and returns once it has been
    /// exec'd, with the typed error. Behaves as [`Command::spawn`] otherwise.
    ///
    /// The plan is prepared and the sandbox cloned on the library's setup threads (not tokio's
    /// blocking pool, whose threads the caller's blocking tasks keep for themselves), and the
    /// exec report is awaited on the reactor, so the calling task's thread runs other tasks
    /// meanwhile; at most as many sandboxes as CPUs are set up at once (more at once only slow
    /// each other down and keep the runtime from the CPU), the others wait their turn. Use it
    /// on a current-thread runtime that starts many sandboxes at once, or where the typed error
    /// is wanted. In a function that returns `std::io::Result`, `?` converts it as
    /// [`Command::spawn`]'s is converted (`io::Error: From<SpawnError>`, with the same kind), so
    /// it mixes with the [`Child`]'s `io::Error`s; [`SpawnError::from_io_error`] gives it back.
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
    /// use tokio_sandbox::{Command, SpawnError};
    /// match Command::new("cc").arg("main.c").spawn_async().await {
    ///     Ok(mut child) => println!("exit: {}", child.wait().await?),
    ///     Err(SpawnError::NotBound { path }) => eprintln!("{path:?}: bind its directory"),
    ///     Err(e) => return Err(e.into()),
    /// }
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
    /// parent-side call (pipe2, dup, mmap, clone3, ...) fails.
    pub async fn spawn_async(&mut self) -> Result<Child, SpawnError> {
        let probe = if self.needs_probe() {
            Some(crate::spawn::blocking("probing the host", crate::probe::probe).await?)
        } else {
            None
        };
        let req = self.request(
            [Stdio::inherit(), Stdio::inherit(), Stdio::inherit()],
            probe,
        )?;
        crate::spawn::target::spawn_at(&self.target, req, &mut self.compiled).await
    }

    /// Starts the program at once, with inherited stdio unless set, and returns a future of
    /// its exit status, like [`tokio::process::Command::status`](https://docs.rs/tokio/1/tokio/process/struct.Command.html#method.status): [`Command::spawn`], then
    /// [`Child::wait`]. The future does not borrow the `Command`.
    ///
    /// Pipes set with [`Stdio::piped`] are closed right after the spawn (as tokio's are), so
    /// the program sees EOF on stdin and `EPIPE` writing stdout or stderr.
    ///
    /// # Cancel safety
    ///
    /// The program has been started when this method returns. Dropping the future drops the
    /// [`Child`]: the program runs on and is reaped in the background, or is killed with
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
    /// As [`Command::spawn`] (the future returns the error), or as [`Child::wait`].
    pub fn status(&mut self) -> impl Future<Output = io::Result<ExitStatus>> + Send + 'static {
        let child = self.spawn();
        async move {
            let mut child = child?;
            // Nobody reads or writes these: the program must not block on them.
            drop((child.stdin.take(), child.stdout.take(), child.stderr.take()));
            child.wait().await
        }
    }

    /// Starts the program at once, with stdout and stderr piped and stdin from `/dev/null`
    /// unless set, and returns a future of everything it writes once it exits, like
    /// [`tokio::process::Command::output`](https://docs.rs/tokio/1/tokio/process/struct.Command.html#method.output): [`Command::spawn`], then
    /// [`Child::wait_with_output`]. The future does not borrow the `Command`.
    ///
    /// As tokio's, this sets the command's stdout and stderr to [`Stdio::piped`], replacing
    /// earlier settings, and a later spawn of the same `Command` pipes them too. Unlike tokio's
    /// (and like std's), an unset stdin is `/dev/null`, not the caller's: a program whose output
    /// is being collected does not read the caller's input or terminal unless given it.
    ///
    /// All output is kept in the caller's memory, which no limit of the sandbox bounds: for an
    /// untrusted program, pipe stdout and stderr and read at most what you want to keep
    /// (`examples/untrusted_server.rs` keeps 1 MiB per stream and discards the rest).
    ///
    /// # Cancel safety
    ///
    /// The program has been started when this method returns. Dropping the future drops the
    /// [`Child`] (as for [`Command::status`]) and loses the output read so far.
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
    pub fn output(&mut self) -> impl Future<Output = io::Result<Output>> + Send + 'static {
        self.stdout = Some(Stdio::piped());
        self.stderr = Some(Stdio::piped());
        let child = self.spawn_with([Stdio::null(), Stdio::piped(), Stdio::piped()]);
        async move { child?.wait_with_output().await }
    }

    /// [`Command::spawn`] with `defaults` for the streams the command leaves unset.
    fn spawn_with(&mut self, defaults: [Stdio; 3]) -> io::Result<Child> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(io::Error::other(
                "a sandbox must be spawned from within a Tokio runtime (the child's pipes are \
                 registered with its reactor); spawn it in a task or in Runtime::block_on",
            ));
        }
        let probe = self.needs_probe().then(crate::probe::probe);
        let req = self.request(defaults, probe)?;
        Ok(crate::spawn::target::spawn_blocking_at(
            &self.target,
            req,
            &mut self.compiled,
        )?)
    }

    /// Whether a spawn must know what the host offers: the policy may run without a layer the
    /// host lacks (user namespaces, a fresh procfs); see [`crate::adapt`].
    fn needs_probe(&self) -> bool {
        crate::adapt::needs_probe(&self.policy)
    }

    /// What one spawn needs, with `defaults` for the streams the command leaves unset. Given
    /// the host's `probe` and a host without usable user namespaces, a policy that may run
    /// without them does so. The command keeps its settings: fds are duplicated.
    fn request(
        &self,
        defaults: [Stdio; 3],
        probe: Option<&crate::probe::Probe>,
    ) -> Result<Request, SpawnError> {
        if let Some(pgroup) = self.process_group.filter(|g| *g != 0) {
            return Err(PolicyError::ProcessGroup(pgroup).into());
        }
        let (policy, fallback) = crate::adapt::for_host(&self.policy, probe);
        let dup = |source| SpawnError::Os {
            what: "duplicating a given fd (fcntl(F_DUPFD_CLOEXEC))",
            source,
        };
        let [d0, d1, d2] = defaults;
        let pick = |set: &Option<Stdio>, default: Stdio| match set {
            Some(s) => s.try_clone().map_err(dup),
            None => Ok(default),
        };
        let stdio = [
            pick(&self.stdin, d0)?,
            pick(&self.stdout, d1)?,
            pick(&self.stderr, d2)?,
        ];
        let extra_fds = self
            .extra_fds
            .iter()
            .map(|(target, fd)| Ok((*target, fd.try_clone().map_err(dup)?)))
            .collect::<Result<_, SpawnError>>()?;
        Ok(Request {
            fallback,
            requested_network: self.policy.network,
            policy,
            program: self.program.clone(),
            arg0: self.arg0.clone(),
            args: self.args.clone(),
            env_ops: self.env_ops.clone(),
            cwd: self.cwd.clone(),
            stdio,
            extra_fds,
            kill_on_drop: self.kill_on_drop,
            timeout: self.timeout,
        })
    }
}
