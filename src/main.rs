//! `tokio-sandbox`: run a program in a sandbox from the command line.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use tokio_sandbox::{Command, Network, SpawnError};

mod cli;

/// Run PROGRAM in a sandbox: new user, mount, pid, ipc, uts, cgroup and network namespaces,
/// a read-only system runtime, no capabilities, Landlock and a seccomp filter.
///
/// SIGTERM, SIGINT and SIGHUP are forwarded to the program (then SIGCONT, so that a stopped
/// program ends too), except one the caller left ignored (nohup, trap '' INT), which stays
/// ignored as in a shell; one that arrives before the program has started ends the CLI.
///
/// Exit status: the program's own; 128+N when it was killed by signal N, or when signal N
/// ended the CLI before the program started (137, SIGKILL, when --timeout ended the run,
/// unlike timeout(1)'s 124; 152, SIGXCPU, or 137 for --cpu-time; 153, SIGXFSZ, for --fsize;
/// the CLI then says which limit ended it); 125 when the sandbox could not be set up, 126
/// when the program is not executable, 127 when it was not found; 2 for a usage error.
#[derive(Parser, Debug)]
#[command(
    name = "tokio-sandbox",
    version,
    override_usage = "tokio-sandbox [OPTIONS] [--] PROGRAM [ARGS]...",
    after_help = "Examples:\n  \
        tokio-sandbox -- python3 -c 'import os; print(sorted(os.listdir(\"/\")))'\n  \
        tokio-sandbox --rw ./out -- sh -c 'echo hi > out/f'\n  \
        tokio-sandbox --network host --env TERM -- curl https://example.org\n  \
        tokio-sandbox --ro . --timeout 5m --memory 512M --pids 64 --status-json status.json -- python3 job.py"
)]
struct Cli {
    /// Bind PATH read-only at the same place (repeatable; like every path given to the CLI, a
    /// relative one resolves against the working directory).
    #[arg(long = "ro", value_name = "PATH", help_heading = "Filesystem")]
    ro: Vec<PathBuf>,
    /// Bind PATH read-write at the same place (repeatable).
    #[arg(long = "rw", value_name = "PATH", help_heading = "Filesystem")]
    rw: Vec<PathBuf>,
    /// Bind host SRC read-only at sandbox path DST (a relative SRC or DST resolves against
    /// the working directory, as with --ro).
    #[arg(long = "bind-ro", num_args = 2, value_names = ["SRC", "DST"], action = clap::ArgAction::Append, help_heading = "Filesystem")]
    bind_ro: Vec<PathBuf>,
    /// Bind host SRC read-write at sandbox path DST (relative: as --bind-ro).
    #[arg(long = "bind-rw", num_args = 2, value_names = ["SRC", "DST"], action = clap::ArgAction::Append, help_heading = "Filesystem")]
    bind_rw: Vec<PathBuf>,
    /// Mount an empty tmpfs at PATH (a relative PATH resolves against the working directory).
    #[arg(long = "tmpfs", value_name = "PATH", help_heading = "Filesystem")]
    tmpfs: Vec<PathBuf>,
    /// Start from an empty root instead of the read-only system runtime.
    #[arg(long = "no-system", help_heading = "Filesystem")]
    no_system: bool,

    /// none (default): own network namespace with loopback only; host: the host's network.
    #[arg(long, value_name = "MODE", value_parser = ["none", "host"], help_heading = "Network")]
    network: Option<String>,

    /// Start from the policy in this TOML file (see the crate docs of `Policy::from_toml`; its
    /// relative paths resolve against the working directory, not the file's); the other
    /// options apply on top of it.
    #[arg(long, value_name = "FILE", help_heading = "Filesystem")]
    policy: Option<PathBuf>,

    /// NAME passes the caller's variable; NAME=VALUE sets one (repeatable).
    #[arg(long = "env", value_name = "NAME[=VALUE]", help_heading = "Process")]
    env: Vec<OsString>,
    /// Working directory inside (default: the current one when the sandbox shows it, else /
    /// with a note: bind it with --ro . or --rw .).
    #[arg(long, value_name = "DIR", help_heading = "Process")]
    cwd: Option<PathBuf>,
    /// uid inside (unprivileged caller) or host uid (root caller; default 65534).
    #[arg(long, value_name = "ID", help_heading = "Process")]
    uid: Option<u32>,
    /// gid, like --uid.
    #[arg(long, value_name = "ID", help_heading = "Process")]
    gid: Option<u32>,
    /// Run although your supplementary groups stay in force inside (an unprivileged user
    /// cannot drop them; without this option the sandbox refuses to run with them).
    #[arg(long = "keep-groups", help_heading = "Process")]
    keep_groups: bool,
    /// Let the sandbox run without PROPERTY where the host lacks every layer for it
    /// (comma-separated: filesystem, network, processes, syscalls); the status says what was
    /// left out. E.g. `--best-effort processes` runs on Landlock and seccomp alone where user
    /// namespaces are refused, `--best-effort filesystem` without /proc where the kernel
    /// refuses a fresh one. Same as the policy file's [require] table.
    #[arg(
        long = "best-effort",
        value_name = "PROPERTY",
        value_delimiter = ',',
        value_parser = parse_property,
        help_heading = "Process"
    )]
    best_effort: Vec<tokio_sandbox::Property>,
    /// Stay in the caller's session and process group (for interactive programs: job control,
    /// the terminal's signals). The caller's terminal stays reachable only as stdin: when stdin
    /// is not the caller's terminal, /dev/tty does not reach it either.
    #[arg(long = "no-new-session", help_heading = "Process")]
    no_new_session: bool,
    /// Deny ptrace(2), process_vm_readv(2) and pidfd_getfd(2) inside (by default the program
    /// may trace and debug its own processes: strace, gdb, AddressSanitizer's leak checker; the
    /// sandbox's init and everything outside stay out of reach).
    #[arg(long = "no-ptrace", help_heading = "Process")]
    no_ptrace: bool,
    /// The program's TMPDIR: a directory inside a --rw path, so that files made there can be
    /// renamed into that path (across mounts rename(2) fails with EXDEV; /tmp is a mount of its
    /// own). Relative: against the working directory.
    #[arg(long, value_name = "DIR", help_heading = "Filesystem")]
    tmpdir: Option<PathBuf>,
    /// Size of the sandbox's tmpfs mounts (default 256M each), or of one: MOUNT is /tmp,
    /// /dev/shm, ~ (or home: the home directory) or a --tmpfs path. BYTES takes K, M, G or T
    /// (repeatable: --tmpfs-size 1G --tmpfs-size /dev/shm=2G).
    #[arg(
        long = "tmpfs-size",
        value_name = "[MOUNT=]BYTES",
        help_heading = "Filesystem"
    )]
    tmpfs_size: Vec<String>,
    /// Inode limit (most files) of the tmpfs mounts, or of one, as --tmpfs-size (default: one
    /// per KiB of the size, 262,144 for 256M); N takes K, M or G.
    #[arg(
        long = "tmpfs-inodes",
        value_name = "[MOUNT=]N",
        help_heading = "Filesystem"
    )]
    tmpfs_inodes: Vec<String>,
    /// Most pseudo-terminals open at once in the sandbox (default 64; more opens of /dev/ptmx
    /// fail with ENOSPC): the ptys of every sandbox and container come from one pool of the
    /// host (kernel.pty.max minus kernel.pty.reserve).
    #[arg(long = "max-ptys", value_name = "N", help_heading = "Filesystem")]
    max_ptys: Option<u32>,

    /// Kill the sandbox after DURATION, written as for timeout(1): a number with an optional
    /// fraction and unit ms, s (the default), m, h or d (90, 1.5m, 250ms); the CLI says so and
    /// exits 137 (SIGKILL), and the status says "timeout".
    #[arg(
        long,
        value_name = "DURATION",
        help_heading = "Limits",
        value_parser = parse_duration,
        allow_hyphen_values = true
    )]
    timeout: Option<std::time::Duration>,
    /// Memory limit in bytes, or with a K, M, G or T suffix (powers of 1024): the sandbox's
    /// memory.max with a delegated cgroup v2; elsewhere RLIMIT_AS, address space per process,
    /// under which the JVM, Node and Go may fail at start (a warning says so).
    #[arg(long, value_name = "BYTES", help_heading = "Limits", value_parser = parse_bytes)]
    memory: Option<u64>,
    /// Most processes and threads (default 1024; the sandbox's init counts as one).
    #[arg(long, value_name = "N", help_heading = "Limits")]
    pids: Option<u64>,
    /// CPU seconds per process (SIGXCPU, then SIGKILL a second later).
    #[arg(long = "cpu-time", value_name = "SECONDS", help_heading = "Limits")]
    cpu_time: Option<u64>,
    /// CPU bandwidth in thousandths of a CPU (500: half a CPU); needs a delegated cgroup v2.
    #[arg(long = "cpu-millis", value_name = "N", help_heading = "Limits")]
    cpu_millis: Option<u32>,
    /// Most open files per process.
    #[arg(long, value_name = "N", help_heading = "Limits")]
    nofile: Option<u64>,
    /// Largest file a process may write, in bytes or with a K, M, G or T suffix (SIGXFSZ).
    #[arg(long, value_name = "BYTES", help_heading = "Limits", value_parser = parse_bytes)]
    fsize: Option<u64>,
    /// Write the final status (exit, end reason, times, peak memory, limits, layers) as JSON
    /// to FILE when the program has ended. FILE must be a regular file or not exist (a
    /// symlink, FIFO or device there is refused); its directory, opened before the program
    /// starts, must be writable: the status is a new file renamed over FILE, so what a
    /// program with write access there leaves at FILE is replaced, never written through.
    #[arg(long = "status-json", value_name = "FILE", help_heading = "Output")]
    status_json: Option<PathBuf>,

    /// Print what this kernel and process offer (clone3, user namespaces, Landlock ABI,
    /// seccomp, mount_setattr, cgroup v2 controllers) and exit.
    #[arg(long, help_heading = "Output")]
    probe: bool,
    /// With --probe: print JSON instead of text.
    #[arg(long, requires = "probe", help_heading = "Output")]
    json: bool,
    /// Print the AppArmor profile that lets the program at PATH (the binary that uses
    /// tokio-sandbox, this CLI included) create user namespaces where
    /// kernel.apparmor_restrict_unprivileged_userns = 1 (Ubuntu 23.10 and later), and exit.
    #[arg(
        long = "apparmor-profile",
        value_name = "PATH",
        help_heading = "Output"
    )]
    apparmor_profile: Option<PathBuf>,

    /// The program to run (a path, or a name looked up in the sandbox's PATH) and its
    /// arguments.
    #[arg(
        value_names = ["PROGRAM", "ARGS"],
        required_unless_present_any = ["probe", "apparmor_profile"],
        trailing_var_arg = true,
        num_args = 1..
    )]
    command: Vec<OsString>,
}

fn build(cli: &Cli) -> Result<Command, String> {
    let mut cmd = Command::new(&cli.command[0]);
    cmd.args(&cli.command[1..]);
    if let Some(file) = &cli.policy {
        // Its errors name the file.
        let policy = tokio_sandbox::Policy::from_file(file).map_err(|e| e.to_string())?;
        cmd.policy(policy);
    }
    // Sandbox paths given relative resolve against the working directory, as the host paths
    // of --ro and --rw do (there the library resolves them).
    let cwd = std::env::current_dir();
    let here = |p: &PathBuf| -> Result<PathBuf, String> {
        if p.is_absolute() {
            return Ok(p.clone());
        }
        match &cwd {
            Ok(dir) => Ok(dir.join(p)),
            Err(e) => Err(format!("{}: the working directory: {e}", p.display())),
        }
    };
    let policy = cmd.policy_mut();
    if cli.no_system {
        policy.system(false);
    }
    for p in &cli.ro {
        policy.read_only(p);
    }
    for p in &cli.rw {
        policy.read_write(p);
    }
    for pair in cli.bind_ro.chunks(2) {
        policy.bind(&pair[0], here(&pair[1])?, false);
    }
    for pair in cli.bind_rw.chunks(2) {
        policy.bind(&pair[0], here(&pair[1])?, true);
    }
    for p in &cli.tmpfs {
        policy.tmpfs(here(p)?);
    }
    match cli.network.as_deref() {
        Some("host") => {
            policy.network(Network::Host);
        }
        Some(_) => {
            policy.network(Network::None);
        }
        None => {}
    }
    if let Some(u) = cli.uid {
        policy.uid(u);
    }
    if let Some(g) = cli.gid {
        policy.gid(g);
    }
    if cli.keep_groups {
        policy.allow_retained_groups(true);
    }
    for p in &cli.best_effort {
        policy.require(*p, tokio_sandbox::Requirement::BestEffort);
    }
    if cli.no_new_session {
        // The library binds an inherited terminal at /dev/console, where the program finds it
        // by device number (ttyname(3)) and may re-open it if its mode lets the sandbox's uid
        // (not root's terminal for a root caller's sandbox: reachable on stdin only).
        policy.new_session(false);
    }
    if cli.no_ptrace {
        policy.ptrace(false);
    }
    if let Some(d) = &cli.tmpdir {
        policy.tmpdir(here(d)?);
    }
    if let Some(n) = cli.max_ptys {
        policy.max_ptys(n);
    }
    for (option, values, inodes) in [
        ("--tmpfs-size", &cli.tmpfs_size, false),
        ("--tmpfs-inodes", &cli.tmpfs_inodes, true),
    ] {
        for v in values {
            let (mount, count) = match v.rsplit_once('=') {
                Some((m, c)) => (Some(m), c),
                None => (None, v.as_str()),
            };
            let n = parse_bytes(count).map_err(|e| format!("{option} {v}: {e}"))?;
            let mount = match mount {
                None => None,
                Some("~" | "home") => Some(PathBuf::from("~")),
                Some(m) => Some(here(&PathBuf::from(m))?),
            };
            match (mount, inodes) {
                (None, false) => {
                    policy.tmpfs_size(n);
                }
                (None, true) => {
                    policy.tmpfs_inodes(n);
                }
                (Some(m), _) => {
                    let mut limits = policy.current_tmpfs_limits(&m);
                    if inodes {
                        limits.inodes = Some(n);
                    } else {
                        limits.size = Some(n);
                    }
                    policy.tmpfs_limits(m, limits);
                }
            }
        }
    }
    let mut limits = policy.current_limits();
    let set = |field: &mut Option<u64>, value: Option<u64>| {
        if value.is_some() {
            *field = value;
        }
    };
    set(&mut limits.cpu_seconds, cli.cpu_time);
    set(&mut limits.memory, cli.memory);
    set(&mut limits.processes, cli.pids);
    set(&mut limits.open_files, cli.nofile);
    set(&mut limits.file_size, cli.fsize);
    if cli.cpu_millis.is_some() {
        limits.cpu_millis = cli.cpu_millis;
    }
    policy.limits(limits);
    for e in &cli.env {
        use std::os::unix::ffi::OsStrExt;
        let bytes = e.as_bytes();
        match bytes.iter().position(|b| *b == b'=') {
            Some(i) => {
                cmd.env(
                    std::ffi::OsStr::from_bytes(&bytes[..i]),
                    std::ffi::OsStr::from_bytes(&bytes[i + 1..]),
                );
            }
            None => {
                if std::env::var_os(e).is_none() {
                    eprintln!(
                        "tokio-sandbox: warning: --env {}: not set here, so the program does not \
                         get it (NAME=VALUE sets a value)",
                        e.to_string_lossy()
                    );
                }
                cmd.env_inherit(e);
            }
        }
    }
    if let Some(d) = &cli.cwd {
        cmd.current_dir(d);
    }
    if let Some(t) = cli.timeout {
        cmd.timeout(t);
    }
    Ok(cmd)
}

/// The path options as given and as the library reports them (absolute).
fn path_options(cli: &Cli) -> Vec<cli::messages::PathOption> {
    let cwd = std::env::current_dir().unwrap_or_default();
    let mut paths = Vec::new();
    let mut add = |option, given: &PathBuf| {
        paths.push(cli::messages::PathOption {
            option,
            given: given.clone(),
            absolute: cwd.join(given),
        })
    };
    cli.ro.iter().for_each(|p| add("--ro", p));
    cli.rw.iter().for_each(|p| add("--rw", p));
    cli.bind_ro
        .iter()
        .step_by(2)
        .for_each(|p| add("--bind-ro", p));
    cli.bind_rw
        .iter()
        .step_by(2)
        .for_each(|p| add("--bind-rw", p));
    paths
}

/// The signals the CLI passes on to the program.
const FORWARDED: [libc::c_int; 3] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP];

fn main() -> ExitCode {
    // First, before anything that takes time: of the signals to forward, those the caller left
    // ignored stay ignored and are not forwarded (as a shell does: `nohup`, `trap '' INT`), and
    // the others are unblocked (a blocked mask survives exec; the runtime's threads inherit
    // this thread's).
    let caught = caught_signals();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tokio-sandbox: starting the runtime: {e}");
            return ExitCode::from(125);
        }
    };
    runtime.block_on(run(&caught))
}

/// Of [`FORWARDED`], those the caller did not leave ignored; unblocks them in this thread.
fn caught_signals() -> Vec<libc::c_int> {
    let mut caught = Vec::new();
    // SAFETY: sigset_t is plain data; sigemptyset initializes it.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a live sigset_t.
    unsafe { libc::sigemptyset(&mut set) };
    for sig in FORWARDED {
        // SAFETY: sigaction is plain data, filled by the call below.
        let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: a null new action only reads the current one into the live `old`.
        let read = unsafe { libc::sigaction(sig, std::ptr::null(), &mut old) } == 0;
        if !(read && old.sa_sigaction == libc::SIG_IGN) {
            caught.push(sig);
            // SAFETY: `set` is a live, initialized sigset_t and `sig` a valid signal.
            unsafe { libc::sigaddset(&mut set, sig) };
        }
    }
    // SAFETY: unblocks the signals in the live `set` for this thread (still the only one).
    unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut()) };
    caught
}

/// The CLI's handlers for the signals it forwards. Installed before anything slow, so that such
/// a signal at any later point is either forwarded or, before the program has started, ends the
/// CLI with 128+N.
struct Signals(Vec<(libc::c_int, tokio::signal::unix::Signal)>);

impl Signals {
    fn install(signals: &[libc::c_int]) -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        signals
            .iter()
            .map(|&sig| Ok((sig, signal(SignalKind::from_raw(sig))?)))
            .collect::<std::io::Result<_>>()
            .map(Signals)
    }

    fn poll(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<libc::c_int> {
        for (sig, stream) in &mut self.0 {
            if let std::task::Poll::Ready(Some(())) = stream.poll_recv(cx) {
                return std::task::Poll::Ready(*sig);
            }
        }
        std::task::Poll::Pending
    }

    /// A signal that has already arrived, if any.
    async fn arrived(&mut self) -> Option<libc::c_int> {
        // Signals reach the streams when the runtime's driver turns, which a yield lets it do.
        tokio::task::yield_now().await;
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match self.poll(&mut cx) {
            std::task::Poll::Ready(sig) => Some(sig),
            std::task::Poll::Pending => None,
        }
    }

    /// The next signal.
    async fn recv(&mut self) -> libc::c_int {
        std::future::poll_fn(|cx| self.poll(cx)).await
    }
}

async fn run(caught: &[libc::c_int]) -> ExitCode {
    let mut signals = match Signals::install(caught) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tokio-sandbox: installing signal handlers: {e}");
            return ExitCode::from(125);
        }
    };
    let cli = Cli::parse();
    if let Some(program) = &cli.apparmor_profile {
        // AppArmor attaches a profile to the path the kernel executes, symlinks resolved.
        return match std::fs::canonicalize(program) {
            Ok(path) if path.is_file() => {
                print!("{}", tokio_sandbox::apparmor_profile(&path));
                ExitCode::SUCCESS
            }
            Ok(path) => {
                eprintln!("tokio-sandbox: {} is not a file", path.display());
                ExitCode::from(2)
            }
            Err(e) => {
                eprintln!("tokio-sandbox: {}: {e}", program.display());
                ExitCode::from(2)
            }
        };
    }
    if cli.probe {
        let probe = tokio_sandbox::probe();
        if cli.json {
            println!(
                "{}",
                serde_json::to_string_pretty(probe).expect("the probe serializes")
            );
        } else {
            print!("{}", cli::messages::in_cli_words(&probe.to_string()));
        }
        return ExitCode::SUCCESS;
    }
    let mut cmd = match build(&cli) {
        Ok(cmd) => cmd,
        Err(e) => {
            eprintln!("tokio-sandbox: {e}");
            return ExitCode::from(125);
        }
    };
    // Prepared now: a directory the caller cannot write fails before the program runs, and
    // whatever the program does to the path later cannot redirect the write (see StatusFile).
    let status_file = match &cli.status_json {
        Some(path) => match cli::status::StatusFile::prepare(path) {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!("tokio-sandbox: {e}");
                return ExitCode::from(125);
            }
        },
        None => None,
    };
    // Asked to end while setting up: the program is not started.
    if let Some(sig) = signals.arrived().await {
        if let Some(f) = &status_file {
            f.discard();
        }
        return ExitCode::from(128 + sig as u8);
    }
    let mut child = match cmd.spawn_async().await {
        Ok(c) => c,
        Err(e) => {
            if let Some(f) = &status_file {
                f.discard();
            }
            eprintln!(
                "tokio-sandbox: {}",
                cli::messages::spawn_error(&e, &path_options(&cli), cli.policy.as_deref())
            );
            return ExitCode::from(SpawnError::exit_code(&e) as u8);
        }
    };
    if cli.cwd.is_none() && child.working_directory() == Path::new("/") {
        if let Some(dir) = std::env::current_dir().ok().filter(|d| d != Path::new("/")) {
            eprintln!(
                "tokio-sandbox: note: working directory {} is not in the sandbox; running in / \
                 (--ro . or --rw . binds it)",
                dir.display()
            );
        }
    }
    // Without a cgroup for the sandbox a memory limit can only be RLIMIT_AS (case C42): say so
    // where it is used, with what breaks under it. The report says what was applied, also
    // when the cgroup could not be made.
    let limits = cmd.policy_mut().current_limits();
    let rlimit_as = child.enforcement().memory_limit == Some("RLIMIT_AS")
        && limits.memory.is_some()
        && limits.address_space.is_none();
    let memory_option = if cli.memory.is_some() {
        "--memory"
    } else {
        "the policy's memory limit"
    };
    if rlimit_as {
        eprintln!(
            "tokio-sandbox: warning: {} is an address-space limit per process here (RLIMIT_AS, \
             as the sandbox has no cgroup v2 of its own; --probe says what is delegated), not a \
             limit on memory used: the JVM, Node and Go reserve large ranges and may fail at \
             start under it (Node 20 needs about 768M, OpenJDK 17 about 4G with its default \
             heap); with a delegated cgroup v2 it is the whole sandbox's memory.max",
            memory_option
        );
    }
    // In the caller's session the program shares the CLI's process group: a terminal's SIGINT
    // and SIGHUP reach it directly, and forwarding them too would deliver them twice. They are
    // still caught, so that they do not end the CLI before the program. In its own session the
    // program is not in the terminal's foreground group: a resize (SIGWINCH) is passed on.
    let interactive = cli.no_new_session;
    let mut winch = if interactive {
        None
    } else {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change()).ok()
    };
    let status = loop {
        let sig = tokio::select! {
            s = child.wait() => break s,
            sig = signals.recv() => sig,
            Some(()) = async {
                match winch.as_mut() {
                    Some(w) => w.recv().await,
                    None => std::future::pending().await,
                }
            } => {
                let _ = child.signal(libc::SIGWINCH);
                continue;
            }
        };
        if interactive && sig != libc::SIGTERM {
            continue;
        }
        let _ = child.signal(sig);
        // A stopped program would hold the signal pending until continued (as timeout(1)
        // does, continue it).
        let _ = child.signal(libc::SIGCONT);
    };
    // A program that failed while a tmpfs was full most likely failed of that (SIGBUS on
    // shared memory, ENOSPC): say which, and how to make it larger. SIGBUS is the usual sign
    // of a full /dev/shm even where another process freed it before init looked (Python's
    // resource tracker removes a leaked segment as soon as the program is gone).
    if let Some(run) = child.run_status() {
        if let Some(why) = cli::messages::end_reason(&run, cli.timeout, &limits) {
            eprintln!("tokio-sandbox: {why}");
        }
        if rlimit_as {
            if let Some(hint) = cli::messages::address_space_hint(&run, &limits, memory_option) {
                eprintln!("tokio-sandbox: {hint}");
            }
        }
        if run.signal == Some(libc::SIGBUS) && run.full_tmpfs.is_empty() {
            let shm = cmd
                .policy_mut()
                .current_tmpfs_limits("/dev/shm")
                .size
                .unwrap_or(cmd.policy_mut().current_tmpfs_size());
            eprintln!(
                "tokio-sandbox: the program died of SIGBUS, which a full tmpfs causes on memory \
                 mapped from it (shared memory in /dev/shm, {} MiB here); raise it with \
                 --tmpfs-size /dev/shm=SIZE",
                shm >> 20
            );
        }
        if run.exit_code != Some(0) {
            for full in &run.full_tmpfs {
                let (option, what) = if full.no_inodes {
                    ("--tmpfs-inodes", "N")
                } else {
                    ("--tmpfs-size", "SIZE")
                };
                eprintln!(
                    "tokio-sandbox: {full} when the program ended{}; raise it with {option} {}={what}",
                    match run.signal {
                        Some(libc::SIGBUS) => " (it died of SIGBUS)",
                        _ => "",
                    },
                    full.path.display()
                );
            }
        }
    }
    if let (Some(file), Some(run)) = (&status_file, child.run_status()) {
        let json = serde_json::to_string_pretty(&run).expect("the status serializes") + "\n";
        match file.write(json.as_bytes()) {
            Ok(true) => {}
            Ok(false) => eprintln!(
                "tokio-sandbox: warning: --status-json {}: its directory was moved or replaced \
                 during the run; the status was written in the directory that was there at the \
                 start",
                file.path.display()
            ),
            Err(e) => eprintln!("tokio-sandbox: {e}"),
        }
    }
    match status {
        Ok(s) => {
            use std::os::unix::process::ExitStatusExt;
            match (s.code(), s.signal()) {
                (Some(c), _) => ExitCode::from(c as u8),
                (None, Some(sig)) => ExitCode::from((128 + sig) as u8),
                _ => ExitCode::from(125),
            }
        }
        Err(e) => {
            eprintln!("tokio-sandbox: waiting for the program: {e}");
            ExitCode::from(125)
        }
    }
}

/// A duration as timeout(1) takes it: digits with an optional fraction (`1`, `1.5`, `.5`) and
/// an optional unit `ms`, `s` (the default), `m`, `h` or `d`; more than zero, and a deadline a
/// clock can hold.
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    const FORMS: &str = "use a number with an optional fraction and unit ms, s (the default), \
                         m, h or d, e.g. 90, 1.5m or 250ms";
    if s.starts_with('-') {
        return Err(format!("must be more than zero; {FORMS}"));
    }
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let nanos_per_unit: u128 = match unit {
        "ms" => 1_000_000,
        "" | "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "d" => 86_400_000_000_000,
        _ => return Err(FORMS.into()),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !digits(whole) || !digits(fraction) {
        return Err(FORMS.into());
    }
    let too_large = || "too large for a deadline".to_string();
    // Exact in nanoseconds: whole × unit + fraction × unit / 10^len (past 18 digits of the
    // fraction nothing changes).
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| too_large())?
    };
    let fraction = &fraction[..fraction.len().min(18)];
    let fraction_nanos = if fraction.is_empty() {
        0
    } else {
        fraction.parse::<u128>().unwrap() * nanos_per_unit / 10u128.pow(fraction.len() as u32)
    };
    let nanos = whole
        .checked_mul(nanos_per_unit)
        .and_then(|n| n.checked_add(fraction_nanos))
        .ok_or_else(too_large)?;
    if nanos == 0 {
        return Err(format!("must be more than zero; {FORMS}"));
    }
    let secs = u64::try_from(nanos / 1_000_000_000).map_err(|_| too_large())?;
    let d = std::time::Duration::new(secs, (nanos % 1_000_000_000) as u32);
    std::time::Instant::now()
        .checked_add(d)
        .map(|_| d)
        .ok_or_else(too_large)
}

/// A property name of `--best-effort`.
fn parse_property(s: &str) -> Result<tokio_sandbox::Property, String> {
    use tokio_sandbox::Property;
    match s {
        "filesystem" => Ok(Property::Filesystem),
        "network" => Ok(Property::Network),
        "processes" => Ok(Property::Processes),
        "syscalls" => Ok(Property::Syscalls),
        _ => Err("one of filesystem, network, processes, syscalls".into()),
    }
}

/// A byte count: digits, optionally followed by K, M, G or T (powers of 1024, `KiB` etc.
/// accepted too).
fn parse_bytes(s: &str) -> Result<u64, String> {
    let digits = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &s[digits.len()..];
    let shift = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        _ => return Err(format!("unknown unit {unit:?} (use K, M, G or T)")),
    };
    let n: u64 = digits.parse().map_err(|e| format!("{e}"))?;
    n.checked_mul(1 << shift)
        .ok_or_else(|| "too large".to_string())
}
