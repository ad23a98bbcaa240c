//! The adversarial suite: escape attempts by a small attacker program (this test binary, see
//! `attacker.rs`), one test per attempt, grouped by family, plus hostile input to the library
//! and random policies.
//!
//! Each attempt is made twice where that is meaningful: once on the host (the control, which
//! must succeed, or the denial would prove nothing) and once in a sandbox, where it must give the
//! asserted errno or output. Calls an unprivileged process may not make even on the host are
//! controlled in a fresh user namespace of the attacker's own ([`Control::Userns`]) or, where
//! only root may make them, as root ([`Control::Root`]; an unprivileged run prints that the
//! control was not made). Attempts that cannot be made safely on the host (filling its `/tmp`, a
//! fork bomb) say why they have no control.

mod attacker;
mod cli;
#[path = "../common/mod.rs"]
mod common;
mod fds;
mod filesystem;
mod host_wide;
mod hostile_input;
mod init;
mod kernel;
mod network;
mod processes;
mod random_policies;
mod running;
mod terminal;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::sync::OnceLock;

use tokio_sandbox::Command;

/// `errno N`, the attacker's output for a failed call.
pub fn errno(n: i32) -> String {
    format!("errno {n}")
}

/// The directory holding a world-readable copy of this binary, which any uid (the sandbox's
/// host id, or the unprivileged CI user) can run, wherever the build tree lives.
static ATTACKER_DIR: OnceLock<PathBuf> = OnceLock::new();

/// The attacker's path (a copy of this test binary, made once per test process).
pub fn attacker() -> PathBuf {
    ATTACKER_DIR
        .get_or_init(|| {
            let dir = PathBuf::from(format!("/tmp/tsb-attacker-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir(&dir).expect("attacker dir");
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
            let exe = dir.join("attacker");
            std::fs::copy(std::env::current_exe().unwrap(), &exe).expect("copy attacker");
            std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
            dir
        })
        .join("attacker")
}

/// Removes the attacker copy when the test process ends.
///
/// # Safety
/// Runs after `main`; it only removes a directory.
#[ctor::dtor]
unsafe fn remove_attacker_copy() {
    if let Some(dir) = ATTACKER_DIR.get() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// How an attempt's control on the host is made and what it must give.
#[derive(Clone, Debug)]
pub enum Control {
    /// On the host as the test user: `ok`.
    Ok,
    /// On the host, in a fresh user and mount namespace of the attacker's own: `ok`.
    Userns,
    /// On the host as root: this output (the call passes the capability check there). Not made
    /// when the tests run unprivileged, which is printed.
    Root(String),
    /// On the host as the test user: this output (a different answer from the sandbox's).
    Host(String),
    /// No control, for the reason given.
    None(&'static str),
}

/// One attempt: the attacker's attempt name and arguments, for the sandbox and the control.
#[derive(Clone, Debug)]
pub struct Attempt {
    pub name: &'static str,
    pub args: [String; 2],
    pub control_args: Option<[String; 2]>,
}

impl Attempt {
    pub fn new(name: &'static str) -> Self {
        Attempt {
            name,
            args: Default::default(),
            control_args: None,
        }
    }

    pub fn arg(mut self, a: impl ToString) -> Self {
        self.args[0] = a.to_string();
        self
    }

    pub fn arg2(mut self, a: impl ToString) -> Self {
        self.args[1] = a.to_string();
        self
    }

    /// Different arguments for the control (e.g. its own file names).
    pub fn control_args(mut self, a: impl ToString, a2: impl ToString) -> Self {
        self.control_args = Some([a.to_string(), a2.to_string()]);
        self
    }

    /// Runs the attempt on the host; `userns` first enters a fresh user namespace.
    pub fn on_host(&self, userns: bool) -> String {
        let args = self.control_args.as_ref().unwrap_or(&self.args);
        let mut cmd = StdCommand::new(attacker());
        cmd.env(attacker::ATTACK, self.name)
            .env(attacker::ARG, &args[0])
            .env(attacker::ARG2, &args[1]);
        if userns {
            cmd.env(attacker::CONTROL_USERNS, "1");
        }
        let out = cmd.output().expect("run the control");
        outcome(&out)
    }

    /// Runs the attempt in a default sandbox changed by `cfg`.
    pub async fn in_sandbox(&self, cfg: impl FnOnce(&mut Command)) -> String {
        let exe = attacker();
        let mut cmd = Command::new(&exe);
        cmd.env(attacker::ATTACK, self.name)
            .env(attacker::ARG, &self.args[0])
            .env(attacker::ARG2, &self.args[1])
            .read_only(exe.parent().unwrap());
        cfg(&mut cmd);
        let out = tokio::time::timeout(std::time::Duration::from_secs(60), cmd.output())
            .await
            .expect("the attempt ends within 60 s")
            .expect("spawn the attacker");
        outcome(&out)
    }

    /// Runs the attempt as a command of `sandbox`, whose policy must show the attacker's
    /// directory ([`attacker_policy`]).
    pub async fn in_running(&self, sandbox: &tokio_sandbox::Sandbox) -> String {
        let mut cmd = sandbox.command(attacker());
        self.run_attacker(&mut cmd).await
    }

    /// Runs the attempt in a sandbox of `pool`, whose policy must show the attacker's directory
    /// ([`attacker_policy`]).
    pub async fn in_pool(&self, pool: &tokio_sandbox::Pool) -> String {
        let mut cmd = pool.command(attacker());
        self.run_attacker(&mut cmd).await
    }

    async fn run_attacker(&self, cmd: &mut Command) -> String {
        cmd.env(attacker::ATTACK, self.name)
            .env(attacker::ARG, &self.args[0])
            .env(attacker::ARG2, &self.args[1]);
        let out = tokio::time::timeout(std::time::Duration::from_secs(60), cmd.output())
            .await
            .expect("the attempt ends within 60 s")
            .expect("spawn the attacker");
        outcome(&out)
    }

    /// Makes the control (which must give what `control` says), then the attempt in a sandbox
    /// changed by `cfg`, which must give `expected`.
    pub async fn check(&self, expected: &str, control: Control, cfg: impl FnOnce(&mut Command)) {
        self.check_control(expected, &control);
        let got = self.in_sandbox(cfg).await;
        assert_eq!(
            got, expected,
            "{}: in the sandbox (control: {control:?})",
            self.name
        );
    }

    /// Makes the control alone.
    pub fn check_control(&self, expected: &str, control: &Control) {
        let want = match control {
            Control::Ok | Control::Userns => "ok".to_string(),
            Control::Root(want) | Control::Host(want) => want.clone(),
            Control::None(why) => {
                eprintln!("{}: no control on the host: {why}", self.name);
                return;
            }
        };
        if matches!(control, Control::Root(_)) && !common::is_root() {
            eprintln!(
                "{}: control not made: it needs root on the host (running as uid {})",
                self.name,
                rustix::process::geteuid().as_raw()
            );
            return;
        }
        let got = self.on_host(matches!(control, Control::Userns));
        assert_eq!(got, want, "{}: the control on the host", self.name);
        assert_ne!(
            got, expected,
            "{}: the control gives what the sandbox should: the denial would prove nothing",
            self.name
        );
    }
}

/// The attacker's one line of output, or `signal N` when it was killed before printing.
fn outcome(out: &std::process::Output) -> String {
    use std::os::unix::process::ExitStatusExt;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    match (text.is_empty(), out.status.signal()) {
        (true, Some(sig)) => format!("signal {sig}"),
        _ => text,
    }
}

/// The default policy, with the attacker's directory bound read-only, compiled: for running
/// sandboxes and pools, whose commands cannot change the policy.
pub fn attacker_policy() -> tokio_sandbox::CompiledPolicy {
    let mut p = tokio_sandbox::Policy::new();
    p.read_only(attacker().parent().unwrap());
    p.compile().expect("compile the attacker's policy")
}

/// A directory with a file `secret` (contents `s`) that no sandbox is given.
pub fn secret_dir() -> tempfile::TempDir {
    let d = common::rw_dir();
    std::fs::write(d.path().join("secret"), "s").unwrap();
    d
}

/// The path as a `String`.
pub fn s(p: &Path) -> String {
    p.to_str().expect("UTF-8 test path").to_string()
}
