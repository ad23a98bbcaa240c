//! Running sandboxes that commands run in ([`Sandbox`]), and pools of sandboxes prepared ahead
//! of time ([`Pool`]).

use std::ffi::OsStr;
use std::io;
use std::sync::Arc;

use crate::command::Command;
use crate::enforcement::Enforcement;
use crate::error::SpawnError;
use crate::plan::CompiledPolicy;
use crate::spawn::pool::PoolShared;
use crate::spawn::running::{self, Serving};
use crate::spawn::target::Target;

/// A running sandbox whose pid 1 waits for commands: what `docker exec` is to a container,
/// without a daemon.
///
/// [`Sandbox::start`] sets up one sandbox of a [`CompiledPolicy`] (its namespaces, root,
/// Landlock ruleset and seccomp filter, as for [`Command::spawn`]) whose init, instead of
/// starting one program, serves requests. [`Sandbox::command`] returns a [`Command`] (the same
/// builder: arguments, environment, working directory, stdio, passed fds, timeout,
/// `kill_on_drop`) whose `spawn`, `status` and `output` run the program in this sandbox: in the
/// same namespaces and filesystem as every other command of it, so what one command writes to
/// `/tmp`, the home or a read-write path, the next one sees. Each command has its own stdio,
/// exit status, resource usage ([`Child::resource_usage`](crate::Child::resource_usage)) and
/// process group; [`Child::kill`](crate::Child::kill) and the timeout kill that process group
/// (`pidfd_send_signal(2)` with `PIDFD_SIGNAL_PROCESS_GROUP`, Linux 6.9; on older kernels
/// the command's process alone, its group's other processes running on until the sandbox
/// ends) and the command's process itself, not the sandbox. A process of the command that has moved to another process
/// group (`setpgid(2)`, `setsid(2)`) keeps running until the sandbox ends, as a daemon a
/// command starts does; should it trace the command and never wait, init never sees the
/// command's exit, and a kill or timeout that init has not answered a second later ends the
/// wait with the command counted as killed. While it holds the command's stdout or stderr,
/// [`Child::wait_with_output`](crate::Child::wait_with_output) (and so `output`) reads them
/// until they close, as `tokio::process` does; with a [`Command::timeout`], until at most
/// 250 ms after the deadline (what was read by then is the output).
///
/// # What commands of one sandbox share
///
/// The commands of a sandbox run as one uid in one pid namespace, and share its filesystem
/// (`/tmp`, the home, every read-write path), its network namespace (its loopback, ports and
/// abstract unix socket names) and its limits. A process a command leaves behind (a background
/// process, a daemon) keeps running until it exits or the sandbox ends, and sees every later
/// command's processes in `/proc` (their command lines among them). What they do not share:
/// each command's process enters a Landlock domain of its own, nested in the sandbox's, before
/// it execs, so no process of one command can trace another command's processes, read their
/// memory or `/proc/PID/environ`, or copy their descriptors (`pidfd_getfd(2)`); with Landlock
/// ABI 6 it also cannot signal them or connect to their abstract unix sockets (landlock(7),
/// scopes). Where the kernel has no Landlock (the report's `landlock_abi` is `None`), the
/// commands of a sandbox are one trust domain: each can do all of that to the others. A
/// command that gets a secret (a token in its environment, a password on its stdin) is safest
/// in a fresh sandbox ([`Sandbox::start`], or a [`Pool`] entry) that ran nothing untrusted
/// before it.
///
/// Ending the `Sandbox` kills every process in it: [`Sandbox::shutdown`] asks its init to kill
/// and reap them all (each command's [`Child`](crate::Child) then reports `SIGKILL` with its
/// figures) and waits until they are gone; dropping it sends `SIGKILL` to its init, which ends
/// its pid namespace at once (a command's `Child` then reports `SIGKILL` without figures), and
/// reaps it in the background. So does the end of the owning process (the lifeline pipe, as
/// for every sandbox). A [`Command`] of the sandbox spawned afterwards fails with
/// [`SpawnError::SandboxEnded`].
///
/// # How a command starts
///
/// The library and the sandbox's init share an `AF_UNIX` `SOCK_SEQPACKET` socket pair: init's
/// end is close-on-exec (no command inherits it), init is not dumpable (`/proc/1/fd` is closed
/// to the sandbox's processes) and the pair has no name, so no program in the sandbox can
/// reach it. A spawn resolves the program in the sandbox's view (as [`Command::spawn`] does),
/// then sends one message: the program's path, argv, envp and working directory, with the
/// stdio and passed fds and the command's own channel attached (`SCM_RIGHTS`). init
/// (`clone(CLONE_VM | CLONE_VFORK)`) starts a process that enters its own Landlock domain, takes
/// its own process group, places
/// the fds, changes directory, clears its signal mask and execs the program; init answers on
/// the channel with the command's pidfd, or the step that failed, and later with its wait
/// status and `wait4(2)` resource usage. A request is at most 256 KiB with at most 64 fds
/// (more is [`PolicyError::CommandTooLarge`](crate::PolicyError::CommandTooLarge)), and at most
/// 1024 commands run at once in one sandbox; fewer when the policy's open-files limit
/// ([`Limits::open_files`](crate::Limits::open_files), derived from the host by default) is lower, since
/// init, which runs under it too, holds one descriptor per running command (a spawn past that
/// fails at the file-descriptor step with `EMFILE`).
///
/// # The caller's terminal
///
/// A command given the caller's terminal as stdio has it as that stdio (`isatty(3)` is true,
/// terminal ioctls work as in a sandbox started for the program), but no `/dev/console`: the
/// sandbox's `/dev` and its Landlock ruleset were made at its start, before any command, and
/// nothing is mounted in a running sandbox afterwards. So `ttyname(3)` fails (`ENODEV`: the
/// terminal's devpts node is not in the sandbox's own `/dev/pts`) and `tty` prints `not a tty`,
/// where a [`Command`] of its own binds the terminal at `/dev/console` during its setup. The
/// same holds for a [`Pool`]'s commands. Run a program that needs its terminal's name (an
/// editor reopening it, `tty`) with a `Command` of its own.
///
/// # Blocking, cancel safety and errors of a command
///
/// [`Command::spawn`] (and so `status` and `output`) sends the request and blocks the calling
/// thread until init answers: init's `vfork` and `execve` of the program, about as long as
/// `tokio::process` blocks for its fork and exec (a few hundred microseconds). It also blocks
/// while init's queue of requests is full (`net.unix.max_dgram_qlen` requests waiting, see
/// unix(7)). The wait for init's answer is bounded by 5 s, for `spawn` and `spawn_async` alike:
/// init waits in its vfork for the new process's exec and serves nothing meanwhile, and where
/// Landlock has no signal scope (ABI below 6) a process of an earlier command can stop the new
/// process before its exec (`SIGSTOP`), which would hold init there for good. On overrun the
/// library kills the sandbox (`SIGKILL` to init by pidfd), so that it cannot outlive its owner,
/// and the spawn fails with [`SpawnError::SandboxStalled`]. [`Command::spawn_async`] sends and awaits the answer on the reactor instead; dropped
/// at any point, it leaves nothing running: a command init has started by then is killed
/// (its process group, with `SIGKILL`) once its answer arrives, on a thread of its own, and
/// init reaps it. A `Child` of a command dropped while it runs is killed with
/// [`Command::kill_on_drop`]; else it runs on and init reaps it.
///
/// A command fails with the errors of a spawn ([`SpawnError::NotFound`],
/// [`SpawnError::NotExecutable`], [`SpawnError::Setup`] naming the step, ...),
/// [`SpawnError::SandboxEnded`] once the sandbox has ended, [`SpawnError::SandboxStalled`]
/// when init did not answer in time (the sandbox is killed then),
/// [`PolicyError::RunningSandboxPolicy`](crate::PolicyError::RunningSandboxPolicy) when its
/// policy was changed, or [`PolicyError::CommandTooLarge`](crate::PolicyError::CommandTooLarge).
///
/// # Cost
///
/// A command starts in about the time `tokio::process` takes for an ordinary child (a fork and
/// an exec in the sandbox, plus one message each way); the sandbox's setup is paid once, by
/// [`Sandbox::start`]. `cargo bench --bench spawn -- running` measures it (times in
/// microseconds per spawn→exit of `/bin/true`; the README has the figures).
///
/// # Examples
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use tokio_sandbox::{Policy, Sandbox};
/// let sandbox = Sandbox::start(&Policy::new().compile()?).await?;
/// sandbox.command("sh").args(["-c", "echo 42 > /tmp/answer"]).status().await?;
/// let out = sandbox.command("cat").arg("/tmp/answer").output().await?;
/// assert_eq!(out.stdout, b"42\n");
/// sandbox.shutdown().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Sandbox {
    serving: Arc<Serving>,
}

impl Sandbox {
    /// Starts a sandbox of `policy` whose init waits for commands, and returns once it does.
    ///
    /// Prepares and clones the sandbox on the library's setup threads (within the same limit on
    /// concurrent setups as [`Command::spawn_async`]) and awaits its init's report on the
    /// reactor.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropped at any point, a half-built sandbox is killed and reaped.
    ///
    /// # Errors
    /// [`SpawnError::Unsupported`] when the policy leaves out the user or pid namespace (a
    /// running sandbox needs its pid namespace, whose end ends every command in it); otherwise
    /// as [`Command::spawn_async`] for the sandbox's setup ([`SpawnError::Setup`] naming the
    /// step, [`SpawnError::Os`], ...).
    pub async fn start(policy: &CompiledPolicy) -> Result<Sandbox, SpawnError> {
        needs_namespaces(policy)?;
        let serving = running::start(policy.clone()).await?;
        Ok(Sandbox {
            serving: Arc::new(serving),
        })
    }

    /// A [`Command`] that runs `program` in this sandbox: looked up in the sandbox's `PATH` (or
    /// a path inside it), with the sandbox's policy. The policy cannot be changed for it: a
    /// spawn after [`Command::policy_mut`], [`Command::read_only`] and the like fails with
    /// [`PolicyError::RunningSandboxPolicy`](crate::PolicyError::RunningSandboxPolicy).
    ///
    /// The `Command` holds the sandbox's control channel, not the sandbox: dropping the
    /// `Sandbox` ends the sandbox even while commands of it exist.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.compiled_policy(self.serving.compiled());
        cmd.target = Target::Running(self.serving.clone());
        cmd
    }

    /// The host pid of the sandbox's init.
    pub fn id(&self) -> u32 {
        self.serving.pid()
    }

    /// The policy the sandbox runs under.
    pub fn policy(&self) -> &CompiledPolicy {
        self.serving.compiled()
    }

    /// Which isolation layers the sandbox runs under (every command of it has the same).
    pub fn enforcement(&self) -> &Enforcement {
        self.serving.enforcement()
    }

    /// Ends the sandbox and waits until every process in it is gone and its init is reaped.
    ///
    /// Asks the sandbox's init to end it (`SIGRTMAX` from outside its pid namespace, as
    /// [`Child::start_kill`](crate::Child::start_kill) does for a sandbox of its own): init kills
    /// every process with `SIGKILL` and reaps them, so that each running command's
    /// [`Child`](crate::Child) gets its `SIGKILL` status with its CPU time and peak memory. If
    /// the sandbox has not ended a second later, its init is killed with `SIGKILL` (which ends
    /// its pid namespace; the figures of the commands still running are then lost).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropped, the sandbox is killed as by dropping it.
    ///
    /// # Errors
    /// The errno of pidfd_send_signal(2) or of waiting for init (waitid(2)), or an error
    /// registering its pidfd with the reactor.
    pub async fn shutdown(self) -> io::Result<()> {
        self.serving.stop()?;
        match tokio::time::timeout(STOP_GRACE, self.serving.reap()).await {
            Ok(reaped) => reaped,
            Err(_) => {
                self.serving.kill();
                self.serving.reap().await
            }
        }
    }
}

/// How long [`Sandbox::shutdown`] gives init to end the sandbox before it kills init.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.serving.kill();
        self.serving.reap_soon();
    }
}

/// The policy of a running or pooled sandbox must create the user and pid namespaces.
fn needs_namespaces(policy: &CompiledPolicy) -> Result<(), SpawnError> {
    let l = policy.policy().layers;
    if l.user_namespace && l.pid && l.mount {
        Ok(())
    } else {
        Err(SpawnError::Unsupported {
            mechanism: "a running sandbox",
            reason: "it needs the user, mount and pid namespace layers (its pid namespace is \
                     what ends every command in it); use Command for a sandbox without them"
                .into(),
        })
    }
}

/// Sandboxes of one policy prepared ahead of time: a spawn takes one, runs exactly one program
/// in it and discards it afterwards, so every command still gets a fresh sandbox, without its
/// setup on the spawn's path.
///
/// [`Pool::new`] starts a thread that keeps up to `ready` sandboxes set up (namespaces, root,
/// Landlock ruleset, seccomp filter, and an init waiting for its one command), at most twice as
/// many at once as there are CPUs, and sets up another for each one taken: 3 ms after the last
/// take while at least a quarter of `ready` are left (so that setups do not compete for the
/// CPU with the command that took a sandbox, and a burst of spawns uses what is ready first),
/// at once when fewer are left.
/// [`Pool::command`] returns a [`Command`] whose spawn takes a ready sandbox and asks its init
/// to execute the program (one message on the sandbox's control channel, as for a
/// [`Sandbox`]), and the sandbox ends with it. The [`Child`](crate::Child) is the program's, as
/// a [`Sandbox`] command's is: its [`id`](crate::Child::id) and
/// [`pidfd`](crate::Child::pidfd) are the program's, and its status and
/// [`resource usage`](crate::Child::resource_usage) (of the program and the descendants it
/// waited for) come as soon as the program ends, as `tokio::process`'s do, once the sandbox's
/// init has killed and reaped whatever the program left running (so nothing of it runs once
/// the caller has the status). Its sandbox ends right after, off the caller's path: init exits
/// (the kernel then tears down the sandbox's mounts and namespaces) once the library has read
/// the status or the `Child` was dropped; the library reaps init (and removes the sandbox's
/// cgroup) in the background.
/// [`Child::kill`](crate::Child::kill) and the timeout kill the program, and with it the
/// sandbox (init kills every process and reports; if it has not a second later, it is killed
/// too). A program whose exit a tracer hides from init (a child that traces it and never
/// waits) is seen through its pidfd: its sandbox is ended 0.1 s after the exit, which frees
/// it, and its own status comes. A `Child` dropped with
/// [`kill_on_drop`](crate::Command::kill_on_drop) kills the sandbox, one dropped without it
/// lets the program run on and its sandbox end with it. A signal a process of the sandbox
/// sends its init goes to the program, as in a sandbox started for it. When no sandbox is
/// ready, the spawn sets one up itself, as [`Command::spawn`] does (its `Child` is then that
/// sandbox's, whose status comes once the sandbox has ended). A pool never hands a sandbox to
/// a second command.
///
/// Dropping the `Pool` kills the sandboxes it holds ready (on its thread, which then exits);
/// running ones are their `Child`'s. A [`Command`] of a dropped pool sets up its own
/// sandboxes.
///
/// # Blocking and cancel safety
///
/// [`Command::spawn`] of a pool's command takes a ready sandbox (a lock held for a pop, never
/// for a setup) and blocks the calling thread until its init has executed the program, as for
/// a [`Sandbox`]; with none ready it sets one up on the calling thread, as
/// [`Command::spawn`] of a `Command` of its own does (a few milliseconds). Its
/// [`Command::spawn_async`] awaits both on the reactor (the setup on the library's setup
/// threads) and is cancel-safe: dropped at any point, the taken sandbox is killed and reaped,
/// with whatever had started in it. The pool's thread sets up at most `2 × CPUs` sandboxes at
/// once and runs no task of the caller's runtime, so a refill does not hold up the caller's
/// tasks beyond the CPU time it takes.
///
/// # Errors of a command
///
/// As a [`Command`] of its own: [`SpawnError::NotFound`], [`SpawnError::Setup`] naming the
/// step, ...; a pool's setup failure shows at a spawn that finds none ready, which sets up its
/// own sandbox and fails likewise.
///
/// # Examples
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use tokio_sandbox::{Policy, Pool};
/// let pool = Pool::new(&Policy::new().compile()?, 4)?;
/// for i in 0..10 {
///     let out = pool.command("echo").arg(i.to_string()).output().await?;
///     print!("{}", String::from_utf8_lossy(&out.stdout));
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Pool {
    shared: Arc<PoolShared>,
}

impl Pool {
    /// A pool that keeps up to `ready` sandboxes of `policy` set up, filled by a thread of its
    /// own from now on. Returns at once.
    ///
    /// # Errors
    /// [`SpawnError::Unsupported`] when the policy leaves out the user, mount or pid namespace;
    /// [`PolicyError::RetainedGroups`](crate::PolicyError::RetainedGroups) when an unprivileged
    /// caller has supplementary groups that the policy does not allow (every spawn would be
    /// refused); [`SpawnError::Os`] when the pool's thread or its eventfd cannot be created.
    /// Another setup failure of the pool's sandboxes shows at the first spawn that finds none
    /// ready (it sets one up itself and fails likewise) and in [`Pool::last_error`].
    pub fn new(policy: &CompiledPolicy, ready: usize) -> Result<Pool, SpawnError> {
        needs_namespaces(policy)?;
        crate::spawn::caller_groups_allowed(policy)?;
        Ok(Pool {
            shared: PoolShared::new(policy.clone(), ready)?,
        })
    }

    /// A [`Command`] that runs `program` in a sandbox of the pool (or, when none is ready, in
    /// one it sets up itself). Changing its policy ([`Command::policy_mut`],
    /// [`Command::read_only`], ...) makes it set up its own sandboxes, with the changed
    /// policy, as a `Command` of its own would.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.compiled_policy(self.shared.compiled());
        cmd.target = Target::Pool(self.shared.clone());
        cmd
    }

    /// How many sandboxes are ready now.
    pub fn ready(&self) -> usize {
        self.shared.ready()
    }

    /// Why the pool's last attempt to set up a sandbox failed, while setups fail (the pool's
    /// thread retries less and less often, up to every 5 s); `None` once one succeeds.
    pub fn last_error(&self) -> Option<String> {
        self.shared.last_error()
    }

    /// The policy of the pool's sandboxes.
    pub fn policy(&self) -> &CompiledPolicy {
        self.shared.compiled()
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.close();
    }
}
