//! The `tokio-sandbox` CLI (built with the `cli` feature): exit statuses and argument handling.

mod common;

use std::os::unix::ffi::OsStrExt;
use std::process::{Command, Output};

/// The CLI's path: `TOKIO_SANDBOX_CLI` when set (CI runs a copy as another user), else the one
/// cargo built for this test run.
fn cli_path() -> Option<std::ffi::OsString> {
    if let Some(exe) = std::env::var_os("TOKIO_SANDBOX_CLI") {
        return Some(exe);
    }
    match option_env!("CARGO_BIN_EXE_tokio-sandbox") {
        Some(exe) => Some(exe.into()),
        None => {
            common::skip("the CLI is built only with --features cli");
            None
        }
    }
}

/// The CLI, ready to take arguments, started in `/` (which a default sandbox shows, so that
/// no note about a working directory the sandbox lacks is printed; a test may choose another).
fn cli() -> Option<Command> {
    cli_path().map(|exe| {
        let mut c = Command::new(exe);
        c.current_dir("/");
        c
    })
}

fn run(args: &[&std::ffi::OsStr]) -> Option<Output> {
    let mut c = cli()?;
    Some(c.args(args).output().expect("run the CLI"))
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

#[test]
fn exit_statuses() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let Some(o) = run(&[os("--"), os("/nonexistent")]) else {
        return;
    };
    assert_eq!(o.status.code(), Some(127));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "tokio-sandbox: program \"/nonexistent\" not found in the sandbox\n"
    );
    let o = run(&[os("--"), os("/usr")]).unwrap();
    assert_eq!(o.status.code(), Some(126));
    let o = run(&[
        os("--ro"),
        os("/nonexistent-policy-path"),
        os("--"),
        os("true"),
    ])
    .unwrap();
    assert_eq!(o.status.code(), Some(125));
    let o = run(&[os("--"), os("sh"), os("-c"), os("exit 42")]).unwrap();
    assert_eq!(o.status.code(), Some(42));
    let o = run(&[os("--"), os("sh"), os("-c"), os("kill -TERM $$")]).unwrap();
    assert_eq!(o.status.code(), Some(128 + libc::SIGTERM));
    let o = run(&[os("--network"), os("bogus"), os("--"), os("true")]).unwrap();
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn env_names_and_values_are_bytes() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let name = std::ffi::OsStr::from_bytes(b"X\xff=v\xfe");
    let Some(o) = run(&[os("--env"), name, os("--"), os("env")]) else {
        return;
    };
    assert_eq!(o.status.code(), Some(0));
    let lines: Vec<&[u8]> = o.stdout.split(|b| *b == b'\n').collect();
    assert!(
        lines.contains(&&b"X\xff=v\xfe"[..]),
        "{:?}",
        String::from_utf8_lossy(&o.stdout)
    );
    let o = run(&[os("--env"), os("=x"), os("--"), os("true")]).unwrap();
    assert_eq!(o.status.code(), Some(125));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "tokio-sandbox: invalid environment variable name \"\": it must be non-empty and \
         contain no '='\n"
    );
}

#[test]
fn readme_rw_example() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let Some(mut c) = cli() else {
        return;
    };
    let d = common::rw_dir();
    let out = d.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let (uid, gid) = common::sandbox_host_ids();
    std::os::unix::fs::chown(&out, Some(uid), Some(gid)).unwrap();
    let o = c
        .current_dir(d.path())
        .args(["--rw", "out", "--", "sh", "-c", "echo hi > out/f"])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(std::fs::read_to_string(out.join("f")).unwrap(), "hi\n");
    let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(out.join("f")).unwrap());
    assert_eq!(owner, uid);
    assert_ne!(owner, 0);
}

#[test]
fn status_json_describes_the_run() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let Some(mut c) = cli() else {
        return;
    };
    let d = common::rw_dir();
    let file = d.path().join("status.json");
    let o = c
        .args(["--timeout", "0.2", "--pids", "64", "--status-json"])
        .arg(&file)
        .args(["--", "sleep", "30"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(128 + libc::SIGKILL));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(v["ended_by"], "timeout");
    assert_eq!(v["signal"], libc::SIGKILL);
    let processes = v["limits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "processes")
        .unwrap();
    assert_eq!(processes["value"], 64);
    assert_eq!(v["enforcement"]["seccomp"], true);
}

#[test]
fn probe_prints_text_and_json() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let Some(o) = run(&[os("--probe")]) else {
        return;
    };
    assert_eq!(o.status.code(), Some(0));
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(text.starts_with("kernel:"), "{text}");
    assert!(text.contains("\nuser namespace:  "), "{text}");
    let o = run(&[os("--probe"), os("--json")]).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let p = tokio_sandbox::probe();
    assert_eq!(v["landlock_abi"].as_u64(), p.landlock_abi.map(u64::from));
    assert_eq!(v["clone3"]["state"], "available");
}

#[test]
fn policy_file_from_the_cli() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let Some(mut c) = cli() else {
        return;
    };
    let d = common::rw_dir();
    std::fs::write(d.path().join("data.txt"), "via the policy file\n").unwrap();
    let file = d.path().join("policy.toml");
    std::fs::write(
        &file,
        format!("[[mount]]\nread_only = \"{}\"\n", d.path().display()),
    )
    .unwrap();
    let o = c
        .arg("--policy")
        .arg(&file)
        .args(["--", "cat"])
        .arg(d.path().join("data.txt"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), "via the policy file\n");
    std::fs::write(&file, "netwrok = \"host\"\n").unwrap();
    let o = cli()
        .unwrap()
        .arg("--policy")
        .arg(&file)
        .args(["--", "true"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(125));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with(&format!(
            "tokio-sandbox: policy file {file:?}: TOML parse error at line 1"
        )),
        "{err}"
    );
    assert!(err.contains("netwrok"), "{err}");
    std::fs::write(&file, "[[mount]]\nread_only = \"/a\"\ntmpfs = \"/b\"\n").unwrap();
    let missing = d.path().join("missing.toml");
    for (f, expected) in [
        (
            &file,
            "mount entry 0: expected exactly one of read_only, read_write, bind (with to and \
             optionally writable), tmpfs (with size and inodes optionally)",
        ),
        (&missing, "No such file or directory (os error 2)"),
    ] {
        let o = cli()
            .unwrap()
            .arg("--policy")
            .arg(f)
            .args(["--", "true"])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(125));
        assert_eq!(
            String::from_utf8_lossy(&o.stderr),
            format!("tokio-sandbox: policy file {f:?}: {expected}\n")
        );
    }
}

/// Relative paths of `--tmpfs`, `--bind-ro` and `--bind-rw` (sources and destinations) resolve
/// against the working directory, as those of `--ro` and `--rw` do.
/// The README's policy file example works as pasted: the test takes the first `toml` block of
/// README.md and runs the CLI's command shown with it, in a directory with the `out` it names.
#[test]
fn readme_policy_file_example_runs() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let readme = include_str!("../README.md");
    let start = readme.find("```toml\n").expect("a toml block in README.md") + 8;
    let toml = &readme[start..start + readme[start..].find("```").unwrap()];
    let policy = tokio_sandbox::Policy::from_toml(toml).expect("the README's example parses");
    let d = common::rw_dir();
    let out = d.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let (uid, gid) = common::sandbox_host_ids();
    if common::is_root() {
        std::os::unix::fs::chown(&out, Some(uid), Some(gid)).unwrap();
    }
    std::fs::write(d.path().join("sandbox.toml"), toml).unwrap();
    // The command the README gives with it.
    let line = readme[start..]
        .lines()
        .find(|l| l.starts_with("$ tokio-sandbox --policy sandbox.toml"))
        .expect("the README's command for the example");
    let script = line
        .split_once(" -- sh -c '")
        .map(|(_, s)| s.trim_end_matches('\''))
        .expect("sh -c '...'");
    let Some(mut c) = cli() else {
        return;
    };
    let o = c
        .current_dir(d.path())
        .args(["--policy", "sandbox.toml", "--", "sh", "-c", script])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.read_dir().unwrap().next().is_some(),
        "nothing written to out"
    );
    let _ = policy;
}

#[test]
fn relative_paths_resolve_against_the_working_directory() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let Some(mut c) = cli() else {
        return;
    };
    let d = common::rw_dir();
    std::fs::write(d.path().join("c"), "data\n").unwrap();
    let out = d.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let (uid, gid) = common::sandbox_host_ids();
    std::os::unix::fs::chown(&out, Some(uid), Some(gid)).unwrap();
    let dir = d.path().display();
    let script = format!(
        "grep -q ' {dir}/scratch ' /proc/self/mountinfo && echo tmpfs; touch {dir}/scratch/x; \
         cat {dir}/data; touch {dir}/w/f"
    );
    let o = c
        .current_dir(d.path())
        .args(["--tmpfs", "scratch", "--bind-ro", "c", "data"])
        .args(["--bind-rw", "out", "./sub/../w", "--", "sh", "-c", &script])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), "tmpfs\ndata\n", "{o:?}");
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(out.join("f").exists());
    assert!(!d.path().join("scratch").join("x").exists());
}

const REOPEN_TTY: &str = r#"
import os, termios
termios.tcsetattr(0, termios.TCSANOW, termios.tcgetattr(0))
try:
    name = os.ttyname(0)
    fd = os.open(name, os.O_RDWR | os.O_NOCTTY)
    termios.tcsetattr(fd, termios.TCSANOW, termios.tcgetattr(fd))
    print("raw ok", name)
except OSError as e:
    print("errno", e.errno)
"#;

/// C40: with a pty on stdin, the program re-opens its terminal by name and sets its modes, in
/// both session modes (the terminal is bound at `/dev/console`, with terminal ioctls allowed on
/// it), where the terminal's mode lets the sandbox's host uid open it: not for a root caller's
/// sandbox (uid 65534, which may not open root's terminal: EACCES, it is reachable as stdin
/// only). The terminal on stdin takes `tcsetattr` in every case.
#[test]
fn c40_terminal_reopened_by_name_in_interactive_mode() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    if !common::python3_or_skip() {
        return;
    }
    for interactive in [true, false] {
        let Some(mut c) = cli() else {
            return;
        };
        let (master, slave) = common::openpty().expect("openpty");
        if interactive {
            c.arg("--no-new-session");
        }
        let o = c
            .args(["--", "python3", "-c", REOPEN_TTY])
            .stdin(std::process::Stdio::from(slave))
            .output()
            .expect("run the CLI");
        drop(master);
        let out = String::from_utf8_lossy(&o.stdout);
        let expected = if common::is_root() {
            format!("errno {}\n", libc::EACCES)
        } else {
            "raw ok /dev/console\n".to_string()
        };
        assert_eq!(out, expected, "interactive {interactive}: {o:?}");
    }
}

/// C47: the name of an inherited terminal. A pty made by the test is the program's stdin,
/// stdout and stderr: `ttyname(3)` and `tty` name `/dev/console` (the terminal's node in the
/// sandbox's own `/dev`, where its devpts name does not exist), in the default mode and in the
/// caller's session, for a root and an unprivileged caller. `TIOCSTI` stays refused.
#[test]
fn c47_ttyname_of_inherited_terminal() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    if !common::python3_or_skip() {
        return;
    }
    let script = "import os, fcntl, termios\n\
                  print(os.isatty(0), os.ttyname(0), os.ttyname(1))\n\
                  try:\n    fcntl.ioctl(0, termios.TIOCSTI, b'x')\n\
                  except OSError as e:\n    print('TIOCSTI errno', e.errno)\n";
    for interactive in [false, true] {
        let Some(mut c) = cli() else {
            return;
        };
        let (master, slave) = common::openpty().expect("openpty");
        if interactive {
            c.arg("--no-new-session");
        }
        let status = c
            .args(["--", "sh", "-c", "tty; python3 -c \"$0\"", script])
            .stdin(std::process::Stdio::from(slave.try_clone().unwrap()))
            .stdout(std::process::Stdio::from(slave.try_clone().unwrap()))
            .stderr(std::process::Stdio::from(slave))
            .status()
            .expect("run the CLI");
        assert_eq!(status.code(), Some(0), "interactive {interactive}");
        // What the program wrote to the terminal, read from the master side.
        let text = read_pty(&master);
        assert_eq!(
            text.replace("\r\n", "\n"),
            format!(
                "/dev/console\nTrue /dev/console /dev/console\nTIOCSTI errno {}\n",
                libc::EPERM
            ),
            "interactive {interactive}"
        );
    }
}

/// Everything the pty's master side has to read now (non-blocking, until EAGAIN or EIO).
fn read_pty(master: &std::os::fd::OwnedFd) -> String {
    use std::os::fd::AsRawFd;
    // SAFETY: fcntl on an fd this test owns.
    unsafe {
        let flags = libc::fcntl(master.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(master.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
    let mut text = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: reads into a local buffer from an fd this test owns.
        let n = unsafe { libc::read(master.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
        text.extend_from_slice(&buf[..n as usize]);
    }
    String::from_utf8_lossy(&text).into_owned()
}

/// The processes below `pid` (from the parent pids in `/proc/*/stat`).
fn descendants(pid: u32) -> Vec<u32> {
    let mut parents = std::collections::HashMap::<u32, Vec<u32>>::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(p) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(ppid) = proc_stat(p).map(|(_, ppid)| ppid) {
            parents.entry(ppid).or_default().push(p);
        }
    }
    let mut found = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        for &c in parents.get(&p).into_iter().flatten() {
            found.push(c);
            todo.push(c);
        }
    }
    found
}

/// A process's state letter and parent pid (proc_pid_stat(5)).
fn proc_stat(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut rest = stat[stat.rfind(')')? + 2..].split(' ');
    let state = rest.next()?.chars().next()?;
    Some((state, rest.next()?.parse().ok()?))
}

/// Whether process `pid` has a handler for `sig` (`SigCgt` in its status).
fn catches(pid: u32, sig: i32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (sig - 1)) != 0)
}

/// Polls `cond` every 10 ms for up to `secs` seconds; whether it became true.
fn wait_for(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_secs(secs) {
        if cond() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    false
}

/// Waits up to `secs` seconds for a process this test started to end; kills it and fails after.
fn wait_bounded(child: &mut std::process::Child, secs: u64) -> std::process::ExitStatus {
    let mut status = None;
    if !wait_for(secs, || {
        status = child.try_wait().unwrap();
        status.is_some()
    }) {
        let _ = child.kill();
        panic!("the CLI still runs after {secs} s");
    }
    status.unwrap()
}

/// A program that stopped itself still ends on SIGTERM to the CLI, which continues it after
/// forwarding the signal (as timeout(1) does).
#[test]
fn sigterm_ends_a_stopped_program() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let Some(mut c) = cli() else {
        return;
    };
    let mut child = c
        .args(["--", "sh", "-c", "kill -STOP $$; echo continued"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run the CLI");
    // Until the program has stopped itself, a SIGTERM would end it anyway.
    let pid = child.id();
    assert!(
        wait_for(60, || descendants(pid)
            .into_iter()
            .any(|p| proc_stat(p).is_some_and(|(state, _)| state == 'T'))),
        "the program did not stop itself within 60 s"
    );
    // SAFETY: signals the CLI process this test started.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let status = wait_bounded(&mut child, 10);
    assert_eq!(status.code(), Some(128 + libc::SIGTERM));
}

/// A SIGTERM that reaches the CLI while it is still setting up (here: reading its policy from
/// a FIFO) ends it with 128+15 without starting the program: the handler is in place before
/// anything that takes time.
#[test]
fn sigterm_during_setup_ends_the_cli_before_the_program() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let Some(mut c) = cli() else {
        return;
    };
    let d = common::rw_dir();
    let policy = d.path().join("policy.toml");
    let p = std::ffi::CString::new(policy.as_os_str().as_bytes()).unwrap();
    // SAFETY: a NUL-terminated path that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(p.as_ptr(), 0o600) }, 0);
    let started = d.path().join("started");
    let mut child = c
        .arg("--policy")
        .arg(&policy)
        .arg("--rw")
        .arg(d.path())
        .args(["--", "touch"])
        .arg(&started)
        .spawn()
        .expect("run the CLI");
    let pid = child.id();
    if !wait_for(60, || catches(pid, libc::SIGTERM)) {
        let _ = child.kill();
        panic!("the CLI does not catch SIGTERM while it reads its policy");
    }
    // SAFETY: signals the CLI process this test started.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    // The policy (an empty one) lets the CLI go on.
    std::fs::write(&policy, "").unwrap();
    let status = wait_bounded(&mut child, 30);
    assert_eq!(status.code(), Some(128 + libc::SIGTERM));
    assert!(!started.exists(), "the program ran");
}

/// The program's view of its signals, then a readiness line, a pause and a last line.
const SIGNALS_THEN_WAIT: &str =
    "grep -E '^Sig(Blk|Ign)' /proc/self/status; echo ready; sleep 1; echo done";

/// Starts `c` (the CLI, or a wrapper that execs it, running [`SIGNALS_THEN_WAIT`]), sends `sig`
/// to it once the program is ready and the CLI catches `caught`, and returns its exit status
/// and output.
fn signal_when_ready(mut c: Command, sig: i32, caught: i32) -> (std::process::ExitStatus, String) {
    use std::io::{BufRead, Read};
    let mut child = c
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run the CLI");
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut text = String::new();
    while !text.ends_with("ready\n") {
        assert_ne!(
            out.read_line(&mut text).unwrap(),
            0,
            "no ready line: {text:?}"
        );
    }
    let pid = child.id();
    if !wait_for(60, || catches(pid, caught)) {
        let _ = child.kill();
        panic!("the CLI does not catch signal {caught}");
    }
    // SAFETY: signals the CLI process this test started (the wrapper exec'd it).
    unsafe { libc::kill(pid as i32, sig) };
    out.read_to_string(&mut text).unwrap();
    (wait_bounded(&mut child, 30), text)
}

const NO_IGNORED_NO_BLOCKED: &str = "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n";

/// C49: under `nohup` (SIGHUP ignored) the CLI leaves SIGHUP ignored, as a shell does: a
/// SIGHUP neither ends it nor reaches the program, which runs to its end. The control: without
/// nohup the same SIGHUP is forwarded and ends the run with 128+1. The program starts with no
/// signal ignored or blocked either way.
#[test]
fn c49_nohup_leaves_sighup_ignored() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let Some(exe) = cli_path() else {
        return;
    };
    // The control does not depend on how the suite runs (under nohup, SIGHUP is ignored).
    let mut plain = Command::new("env");
    plain.arg("--default-signal=HUP").arg(&exe);
    plain.args(["--", "sh", "-c", SIGNALS_THEN_WAIT]);
    let (status, out) = signal_when_ready(plain, libc::SIGHUP, libc::SIGHUP);
    assert_eq!(
        status.code(),
        Some(128 + libc::SIGHUP),
        "the control: {out}"
    );
    assert_eq!(out, format!("{NO_IGNORED_NO_BLOCKED}ready\n"));

    let mut nohup = Command::new("nohup");
    nohup.arg(&exe).args(["--", "sh", "-c", SIGNALS_THEN_WAIT]);
    let (status, out) = signal_when_ready(nohup, libc::SIGHUP, libc::SIGTERM);
    assert_eq!(out, format!("{NO_IGNORED_NO_BLOCKED}ready\ndone\n"));
    assert_eq!(status.code(), Some(0));
}

/// C49: after `trap '' INT` in the calling shell (SIGINT ignored), a SIGINT neither ends the
/// CLI nor reaches the program. The control: without the trap it is forwarded (128+2).
#[test]
fn c49_trap_int_leaves_sigint_ignored() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let Some(exe) = cli_path() else {
        return;
    };
    // The control does not depend on how the suite runs (a background job of a shell without
    // job control has SIGINT ignored).
    let mut plain = Command::new("env");
    plain.arg("--default-signal=INT").arg(&exe);
    plain.args(["--", "sh", "-c", SIGNALS_THEN_WAIT]);
    let (status, out) = signal_when_ready(plain, libc::SIGINT, libc::SIGINT);
    assert_eq!(
        status.code(),
        Some(128 + libc::SIGINT),
        "the control: {out}"
    );

    let mut trapped = Command::new("sh");
    trapped
        .args(["-c", "trap '' INT; exec \"$0\" \"$@\""])
        .arg(&exe)
        .args(["--", "sh", "-c", SIGNALS_THEN_WAIT]);
    let (status, out) = signal_when_ready(trapped, libc::SIGINT, libc::SIGTERM);
    assert_eq!(out, format!("{NO_IGNORED_NO_BLOCKED}ready\ndone\n"));
    assert_eq!(status.code(), Some(0));
}

/// C49: a caller that blocks SIGTERM before exec'ing the CLI: the CLI unblocks it and forwards
/// it (128+15), and the program starts with nothing blocked.
#[test]
fn c49_blocked_sigterm_is_unblocked_and_forwarded() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    use std::os::unix::process::CommandExt;
    let Some(mut c) = cli() else {
        return;
    };
    c.args(["--", "sh", "-c", SIGNALS_THEN_WAIT]);
    // SAFETY: between fork and exec, only sigprocmask on a set built on the stack.
    unsafe {
        c.pre_exec(|| {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGTERM);
            if libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let (status, out) = signal_when_ready(c, libc::SIGTERM, libc::SIGTERM);
    assert_eq!(out, format!("{NO_IGNORED_NO_BLOCKED}ready\n"));
    assert_eq!(status.code(), Some(128 + libc::SIGTERM));
}

const COUNT_SIGINT: &str = r#"
import signal, time
n = [0]
def count(sig, frame):
    n[0] += 1
signal.signal(signal.SIGINT, count)
print("ready", flush=True)
while n[0] == 0:
    time.sleep(0.01)
time.sleep(1)
print("count", n[0], flush=True)
"#;

/// In interactive mode (`--no-new-session`) a Ctrl-C on the terminal reaches the program once:
/// the terminal signals its foreground process group, which the program is in, and neither the
/// CLI nor the sandbox's init forwards that signal again.
#[test]
fn ctrl_c_reaches_an_interactive_program_once() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    use std::io::{BufRead, Write};
    use std::os::unix::process::CommandExt;
    if !common::python3_or_skip() {
        return;
    }
    let Some(mut c) = cli() else {
        return;
    };
    let (master, slave) = common::openpty().expect("openpty");
    let master = std::fs::File::from(master);
    c.args(["--no-new-session", "--", "python3", "-c", COUNT_SIGINT])
        .stdin(std::process::Stdio::from(slave))
        .stdout(std::process::Stdio::piped());
    // SAFETY: between fork and exec: a new session whose controlling terminal is the pty on
    // stdin (its foreground process group is then the CLI's).
    unsafe {
        c.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = c.spawn().expect("run the CLI");
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    (&master).write_all(b"\x03").unwrap();
    line.clear();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "count 1\n");
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

/// `--status-json` in a read-write bind: the program replaces the file with a symlink to a
/// file of the caller's; the status replaces the link and the caller's file is untouched (more
/// in `tests/escape/cli.rs`).
#[test]
fn status_json_is_not_redirected_by_a_planted_symlink() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let Some(mut c) = cli() else {
        return;
    };
    let (d, victim_dir) = (common::rw_dir(), common::rw_dir());
    let victim = victim_dir.path().join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    let file = d.path().join("status.json");
    let plant = format!(
        "ln -sf {} {} && echo planted",
        victim.display(),
        file.display()
    );
    let o = c
        .arg("--rw")
        .arg(d.path())
        .arg("--status-json")
        .arg(&file)
        .args(["--", "sh", "-c", &plant])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), "planted\n", "{o:?}");
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert!(std::fs::symlink_metadata(&file).unwrap().is_file());
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(v["exit_code"], 0);
}

/// `--status-json` replaces a stale status (a relative name resolves against the working
/// directory) and leaves no other file; a device, a directory or a missing directory is refused
/// with exit 125 before the program runs.
#[test]
fn status_json_takes_a_regular_file_or_a_new_name() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let Some(mut c) = cli() else {
        return;
    };
    let d = common::rw_dir();
    std::fs::write(d.path().join("status.json"), "stale").unwrap();
    let o = c
        .current_dir(d.path())
        .args(["--status-json", "status.json", "--", "sh", "-c", "exit 3"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("status.json")).unwrap())
            .unwrap();
    assert_eq!(v["exit_code"], 3);
    let names: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["status.json"]);

    let refusal = |kind: &str, path: &str| {
        format!(
            "tokio-sandbox: --status-json {path}: refusing to write through {kind}; the status \
             file must be a regular file or not exist (remove it or name another file)\n"
        )
    };
    let dir = d.path().to_str().unwrap();
    for (path, err) in [
        ("/dev/null", refusal("a character device", "/dev/null")),
        (dir, refusal("a directory", dir)),
        (
            "/nonexistent-dir/status.json",
            "tokio-sandbox: --status-json /nonexistent-dir/status.json: opening its directory: \
             No such file or directory (os error 2)\n"
                .to_string(),
        ),
    ] {
        let o = run(&[
            os("--status-json"),
            os(path),
            os("--"),
            os("sh"),
            os("-c"),
            os("echo ran"),
        ])
        .unwrap();
        assert_eq!(String::from_utf8_lossy(&o.stderr), err);
        assert_eq!(o.status.code(), Some(125), "{path}");
        assert_eq!(o.stdout, b"", "{path}: the program ran");
    }
}

/// `--timeout` takes what timeout(1) takes: a number with an optional fraction and unit `ms`,
/// `s` (the default), `m`, `h` or `d`. 0.005m and 300ms both end `sleep 5` after 300 ms.
#[test]
fn timeout_takes_units() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    for t in ["300ms", "0.005m", "0.3", ".3s"] {
        let Some(mut c) = cli() else {
            return;
        };
        let d = common::rw_dir();
        let file = d.path().join("status.json");
        let o = c
            .args(["--timeout", t, "--status-json"])
            .arg(&file)
            .args(["--", "sleep", "5"])
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(128 + libc::SIGKILL),
            "--timeout {t}: {o:?}"
        );
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        assert_eq!(v["ended_by"], "timeout", "--timeout {t}");
        let wall = v["wall_time_ms"].as_u64().unwrap();
        assert!((300..4000).contains(&wall), "--timeout {t}: {wall} ms");
    }
    for t in ["1h", "1.5d", "2m", "10"] {
        let o = run(&[os("--timeout"), os(t), os("--"), os("true")]).unwrap();
        assert_eq!(o.status.code(), Some(0), "--timeout {t}: {o:?}");
    }
}

/// Durations that are not a positive time a deadline can hold are usage errors (exit 2, not a
/// panic) whose message gives the accepted forms.
#[test]
fn hostile_timeouts_are_usage_errors() {
    for t in [
        "inf", "1e30", "NaN", "-1", "-1.5m", "0", "0.0ms", "1.2.3", ".", "5x", "1 s", "5sec", "",
    ] {
        let Some(o) = run(&[os("--timeout"), os(t), os("--"), os("true")]) else {
            return;
        };
        assert_eq!(o.status.code(), Some(2), "--timeout {t}: {o:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(&format!("invalid value '{t}' for '--timeout <DURATION>': "))
                && err.contains(
                    "use a number with an optional fraction and unit ms, s (the default), m, h \
                     or d, e.g. 90, 1.5m or 250ms"
                ),
            "--timeout {t}: {err}"
        );
    }
    let o = run(&[
        os("--timeout"),
        os("99999999999999999999d"),
        os("--"),
        os("true"),
    ])
    .unwrap();
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains(": too large for a deadline"));
}

/// Without a program the usage error names PROGRAM as the usage line does.
#[test]
fn a_missing_program_is_named_as_in_the_usage_line() {
    let Some(o) = run(&[os("--rw"), os("/tmp")]) else {
        return;
    };
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "error: the following required arguments were not provided:\n  <PROGRAM> [ARGS]...\n\n\
         Usage: tokio-sandbox [OPTIONS] [--] PROGRAM [ARGS]...\n\n\
         For more information, try '--help'.\n"
    );
    // Everything after PROGRAM is the program's, options of the CLI's included.
    if !common::host::sandbox_or_skip() {
        return;
    }
    let o = run(&[os("echo"), os("--probe"), os("-x")]).unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), "--probe -x\n");
}

/// Byte counts take K, M, G and T suffixes (powers of 1024); other units are usage errors.
/// Without a cgroup `--memory` is `RLIMIT_AS` (seen by `ulimit -v` in KiB); with cgroup limits
/// it is the sandbox cgroup's `memory.max` and the address space stays unlimited.
#[test]
fn byte_counts_take_binary_suffixes() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let cgroup = common::host::cgroup_limits();
    let kib = |k: &'static str| if cgroup { "unlimited\n" } else { k };
    for (flag, value, script, expected) in [
        ("--memory", "1G", "ulimit -v", kib("1048576\n")),
        ("--memory", "512MiB", "ulimit -v", kib("524288\n")),
        ("--fsize", "2k", "ulimit -f", "4\n"),
    ] {
        let Some(o) = run(&[
            os(flag),
            os(value),
            os("--"),
            os("sh"),
            os("-c"),
            os(script),
        ]) else {
            return;
        };
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            expected,
            "{flag} {value}: {o:?}"
        );
    }
    for bad in ["1X", "G", "99999999999T"] {
        let o = run(&[os("--memory"), os(bad), os("--"), os("true")]).unwrap();
        assert_eq!(o.status.code(), Some(2), "--memory {bad}: {o:?}");
    }
}

/// C42: `--memory` (or a policy's memory limit) where only `RLIMIT_AS` can back it (no
/// delegated cgroup v2) comes with a one-line warning naming what it is, what breaks under it
/// and the fix; with a delegated cgroup v2 (`memory.max`), and without a memory limit, there is
/// none.
#[test]
fn c42_memory_as_rlimit_as_is_a_warning() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let Some(o) = run(&[os("--memory"), os("1G"), os("--"), os("true")]) else {
        return;
    };
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let warning = |what: &str| {
        format!(
            "tokio-sandbox: warning: {what} is an address-space limit per process here \
             (RLIMIT_AS, as the sandbox has no cgroup v2 of its own; --probe says what is \
             delegated), not a limit on memory used: the JVM, Node and Go reserve large ranges \
             and may fail at start under it (Node 20 needs about 768M, OpenJDK 17 about 4G with \
             its default heap); with a delegated cgroup v2 it is the whole sandbox's \
             memory.max\n"
        )
    };
    let rlimit = !tokio_sandbox::probe().cgroup_limits.is_available();
    let expected = |what: &str| if rlimit { warning(what) } else { String::new() };
    assert_eq!(String::from_utf8_lossy(&o.stderr), expected("--memory"));

    let d = common::rw_dir();
    let file = d.path().join("policy.toml");
    std::fs::write(&file, "[limits]\nmemory = \"1G\"\n").unwrap();
    let o = cli()
        .unwrap()
        .arg("--policy")
        .arg(&file)
        .args(["--", "true"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        expected("the policy's memory limit")
    );
    for args in [&["--", "true"][..], &["--pids", "64", "--", "true"][..]] {
        let o = run(&args.iter().map(|a| os(a)).collect::<Vec<_>>()).unwrap();
        assert_eq!(String::from_utf8_lossy(&o.stderr), "", "{args:?}");
    }
    // A program that fails under RLIMIT_AS gets a hint after it (one that succeeds, above,
    // gets none; nor does one that fails without a memory limit).
    if !common::python3_or_skip() {
        return;
    }
    let alloc = "import sys; b = bytearray(600 << 20); sys.exit(0)";
    let o = run(&[
        os("--memory"),
        os("256M"),
        os("--"),
        os("python3"),
        os("-c"),
        os(alloc),
    ])
    .unwrap();
    let hint = "tokio-sandbox: the program failed under --memory of 256 MiB, address space per \
                process (RLIMIT_AS): if it failed at start or allocating, raise it (the JVM, \
                Node and Go reserve more than they use) or give the JVM a heap below it (-Xmx)\n";
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    if rlimit {
        assert_eq!(o.status.code(), Some(1), "{o:?}");
        assert!(err.starts_with(&warning("--memory")), "{err}");
        assert!(err.contains("MemoryError"), "{err}");
        assert!(err.ends_with(hint), "{err}");
    } else {
        assert!(!err.contains(hint), "{err}");
    }
    let o = run(&[os("--"), os("sh"), os("-c"), os("exit 3")]).unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stderr), "");
}

/// In its own session the program is not in the terminal's foreground process group, so a
/// terminal resize does not reach it: the CLI passes `SIGWINCH` on.
#[test]
fn sigwinch_reaches_the_program_in_its_own_session() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let Some(mut c) = cli() else {
        return;
    };
    c.args([
        "--",
        "sh",
        "-c",
        "trap 'echo winch; exit 0' WINCH; echo ready; while :; do sleep 0.1; done",
    ]);
    let (status, text) = signal_when_ready(c, libc::SIGWINCH, libc::SIGWINCH);
    assert_eq!((status.code(), text.as_str()), (Some(0), "ready\nwinch\n"));
}

/// C51 from the CLI: `--tmpfs-size` and `--tmpfs-inodes` for all tmpfs mounts or one, and a
/// program that dies of SIGBUS filling a full `/dev/shm` is told which tmpfs was full and how
/// to raise it (also in `--status-json`).
#[test]
fn c51_tmpfs_limits_and_a_full_tmpfs_from_the_cli() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let Some(mut c) = cli() else {
        return;
    };
    let o = c
        .args(["--tmpfs-size", "64M", "--tmpfs-size", "/dev/shm=16M"])
        .args(["--tmpfs-inodes", "~=500", "--tmpfs-inodes", "/tmp=1K"])
        .args(["--", "sh", "-c", "stat -f -c '%b %c' /tmp /dev/shm ~"])
        .output()
        .unwrap();
    assert_eq!(
        (o.status.code(), String::from_utf8_lossy(&o.stdout).as_ref()),
        (Some(0), "16384 1024\n4096 16384\n16384 500\n"),
        "{o:?}"
    );
    if !common::python3_or_skip() {
        return;
    }
    let d = common::rw_dir();
    let status = d.path().join("status.json");
    let fill = "import mmap\n\
        f = open('/dev/shm/seg', 'w+b'); f.truncate(32 << 20)\n\
        m = mmap.mmap(f.fileno(), 32 << 20)\n\
        m[:] = b'x' * (32 << 20)\n";
    let o = cli()
        .unwrap()
        .args(["--tmpfs-size", "/dev/shm=16M", "--status-json"])
        .arg(&status)
        .args(["--", "python3", "-c", fill])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(128 + libc::SIGBUS), "{o:?}");
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "tokio-sandbox: /dev/shm (a 16 MiB tmpfs) was full when the program ended (it died of \
         SIGBUS); raise it with --tmpfs-size /dev/shm=SIZE\n"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&status).unwrap()).unwrap();
    assert_eq!(v["full_tmpfs"][0]["path"], "/dev/shm");
    assert_eq!(v["full_tmpfs"][0]["no_space"], true);
    // A size that is not one.
    let o = run(&[os("--tmpfs-size"), os("/tmp=lots"), os("--"), os("true")]).unwrap();
    assert_eq!(o.status.code(), Some(125));
    assert!(
        String::from_utf8_lossy(&o.stderr).starts_with("tokio-sandbox: --tmpfs-size /tmp=lots: "),
        "{o:?}"
    );
}

/// `--tmpdir` puts `TMPDIR` in a read-write path (C50); `--no-ptrace` denies tracing (C46).
#[test]
fn tmpdir_and_no_ptrace_from_the_cli() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let Some(mut c) = cli() else {
        return;
    };
    let d = common::rw_dir();
    let tmp = d.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let (uid, gid) = common::sandbox_host_ids();
    std::os::unix::fs::chown(&tmp, Some(uid), Some(gid)).unwrap();
    let o = c
        .current_dir(d.path())
        .args(["--rw", ".", "--tmpdir", "tmp", "--no-ptrace", "--"])
        .args([
            "sh",
            "-c",
            "echo $TMPDIR; mktemp | grep -c \"^$TMPDIR/\"; strace true 2>&1 | tail -c 100",
        ])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some(tmp.to_str().unwrap()), "{o:?}");
    assert_eq!(lines.next(), Some("1"), "{o:?}");
    if common::has("/usr/bin/strace") {
        assert!(out.contains("Operation not permitted"), "{o:?}");
    }
}

/// Runs the CLI with `args` in `dir`; returns (exit code, stdout, stderr).
fn run_in(dir: &std::path::Path, args: &[&str]) -> Option<(Option<i32>, String, String)> {
    let mut c = cli()?;
    let o = c.current_dir(dir).args(args).output().expect("run the CLI");
    Some((
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    ))
}

/// A working directory the sandbox does not show: the program runs in `/` and the CLI says
/// so; `--ro .` binds it, and the example of `--help` runs as written there.
#[test]
fn working_directory_fallback_is_noted() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let d = common::rw_dir();
    let dir = d.path().display().to_string();
    let Some(o) = run_in(d.path(), &["--", "pwd"]) else {
        return;
    };
    assert_eq!(
        o,
        (
            Some(0),
            "/\n".to_string(),
            format!(
                "tokio-sandbox: note: working directory {dir} is not in the sandbox; running in \
                 / (--ro . or --rw . binds it)\n"
            )
        )
    );
    let o = run_in(d.path(), &["--ro", ".", "--", "pwd"]).unwrap();
    assert_eq!(o, (Some(0), format!("{dir}\n"), String::new()));
    let o = run_in(d.path(), &["--cwd", "/", "--", "pwd"]).unwrap();
    assert_eq!(o, (Some(0), "/\n".to_string(), String::new()));

    // The last example of --help.
    let help = run(&[os("--help")]).unwrap();
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    let example = "tokio-sandbox --ro . --timeout 5m --memory 512M --pids 64 --status-json \
                   status.json -- python3 job.py";
    assert!(help.contains(&format!("\n  {example}\n")), "{help}");
    if !common::python3_or_skip() {
        return;
    }
    std::fs::write(d.path().join("job.py"), "print('done')\n").unwrap();
    let args: Vec<&str> = example.split(' ').skip(1).collect();
    let (code, out, err) = run_in(d.path(), &args).unwrap();
    assert_eq!((code, out.as_str()), (Some(0), "done\n"), "{err}");
    assert!(!err.contains("note:"), "{err}");
    let status = std::fs::read_to_string(d.path().join("status.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(v["ended_by"], "exited");
}

/// When --timeout or --cpu-time ends the run, the CLI says which, with the exit status of the
/// signal (137 for the timeout's SIGKILL, as documented, not timeout(1)'s 124).
#[test]
fn the_cli_says_which_limit_ended_the_run() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let Some(o) = run(&[os("--timeout"), os("1"), os("--"), os("sleep"), os("10")]) else {
        return;
    };
    assert_eq!(o.status.code(), Some(128 + libc::SIGKILL), "{o:?}");
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "tokio-sandbox: killed after the 1 s --timeout\n"
    );
    let o = run(&[
        os("--timeout"),
        os("250ms"),
        os("--"),
        os("sleep"),
        os("10"),
    ])
    .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "tokio-sandbox: killed after the 250 ms --timeout\n"
    );
    let o = run(&[
        os("--cpu-time"),
        os("1"),
        os("--"),
        os("sh"),
        os("-c"),
        os("while :; do :; done"),
    ])
    .unwrap();
    assert_eq!(o.status.code(), Some(128 + libc::SIGXCPU), "{o:?}");
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "tokio-sandbox: ended by the --cpu-time limit of 1 s (SIGXCPU): the program used that \
         much CPU time\n"
    );
    // A program that ends of a signal of its own gets no such message.
    let o = run(&[
        os("--timeout"),
        os("10"),
        os("--"),
        os("sh"),
        os("-c"),
        os("kill -KILL $$"),
    ])
    .unwrap();
    assert_eq!(o.status.code(), Some(128 + libc::SIGKILL), "{o:?}");
    assert_eq!(String::from_utf8_lossy(&o.stderr), "");
}

/// The CLI's errors name its options, never the library's API: a missing path names the
/// option that gave it, and a read-write path the sandbox cannot write gets advice that fits
/// the caller (never "make it writable for everyone").
#[test]
fn errors_name_the_cli_options() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let d = common::rw_dir();
    let Some(o) = run_in(d.path(), &["--rw", "does-not-exist", "--", "true"]) else {
        return;
    };
    assert_eq!(
        o,
        (
            Some(125),
            String::new(),
            format!(
                "tokio-sandbox: --rw does-not-exist: {}/does-not-exist cannot be resolved: No \
                 such file or directory (os error 2)\n",
                d.path().display()
            )
        )
    );
    let (uid, gid) = common::sandbox_host_ids();
    let advice = if common::is_root() {
        "it belongs to uid 0 (a system file): leave it read-only, or run the sandbox as its \
         owner's host id (--uid 0) if the program is to write it"
    } else {
        "the sandbox writes as your own uid and gid on the host, and the path is not yours: its \
         owner must grant you write access, or bind it read-only; --uid N only changes the id \
         inside"
    };
    let o = run_in(d.path(), &["--rw", "/usr", "--", "true"]).unwrap();
    assert_eq!(
        o,
        (
            Some(125),
            String::new(),
            format!(
                "tokio-sandbox: --rw path /usr is not writable by the sandbox's host uid \
                 {uid}/gid {gid}; {advice}\n"
            )
        )
    );
    // A working directory the sandbox lacks: the advice names --ro.
    let o = run_in(d.path(), &["--cwd", ".", "--", "true"]).unwrap();
    assert_eq!(o.0, Some(125), "{o:?}");
    assert!(
        o.2.ends_with(
            "(the working directory must be visible in the sandbox: bind it, with --ro)\n"
        ),
        "{o:?}"
    );
    assert!(!o.2.contains("Policy::"), "{o:?}");
}

/// C38 from the CLI: a user with supplementary groups (here 27 and 100, as a desktop user in
/// sudo and users) is refused with the option that works without root first; --probe says user
/// namespaces work and what refuses; --keep-groups runs, the groups unmapped inside. Run as
/// uid 65534 through setpriv, which needs root.
#[test]
fn c38_supplementary_groups_from_the_cli() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    if !common::is_root() {
        common::skip("needs root to run the CLI under setpriv --groups");
        return;
    }
    if !common::has("/usr/bin/setpriv") {
        common::missing("setpriv");
        return;
    }
    let Some(exe) = cli_path() else {
        return;
    };
    // A copy the unprivileged user can reach.
    let dir = tempfile::Builder::new()
        .prefix("tsb-cli-bin-")
        .tempdir_in("/tmp")
        .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let copy = dir.path().join("tokio-sandbox");
    std::fs::copy(&exe, &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    let as_grouped_user = |args: &[&str]| {
        let o = Command::new("/usr/bin/setpriv")
            .args(["--reuid=65534", "--regid=65534", "--groups=100,27"])
            .arg(&copy)
            .args(args)
            .current_dir("/")
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    assert_eq!(
        as_grouped_user(&["--", "id", "-G"]),
        (
            Some(125),
            String::new(),
            "tokio-sandbox: run with --keep-groups to let your supplementary groups (27, 100) \
             stay in force inside the sandbox, where they grant access to files of those groups: \
             an unprivileged user cannot drop them (setgroups(2) is denied in its user \
             namespace); starting without them (setpriv --clear-groups) needs root\n"
                .to_string()
        )
    );
    let (code, probe, _) = as_grouped_user(&["--probe"]);
    assert_eq!(code, Some(0));
    assert!(
        probe.contains(
            "\nuser namespace:  yes, refused by default: the caller's supplementary groups (27, \
             100) would stay in force inside; --keep-groups allows them, dropping them needs \
             root\n"
        ),
        "{probe}"
    );
    // Both groups are in force inside, unmapped: they show as the overflow gid.
    let (og, _) = (common::overflow_ids().1, ());
    assert_eq!(
        as_grouped_user(&[
            "--keep-groups",
            "--",
            "sh",
            "-c",
            "id -G | tr ' ' '\\n' | sort -u"
        ]),
        (Some(0), format!("1000\n{og}\n"), String::new())
    );
}

/// `--env NAME` for a variable the caller does not have is a warning, and a program name that
/// the caller's PATH finds on the host but the sandbox lacks is named with the `--ro` to add.
#[test]
fn unset_env_and_programs_only_the_host_has_are_named() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let Some(mut c) = cli() else {
        return;
    };
    let d = common::rw_dir();
    let tool = d.path().join("tsb-tool");
    std::fs::write(&tool, "#!/bin/sh\necho tool\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
    let o = c
        .env("PATH", format!("{}:/usr/bin:/bin", d.path().display()))
        .env_remove("TSB_UNSET_VARIABLE")
        .args(["--env", "TSB_UNSET_VARIABLE", "--", "tsb-tool"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(127), "{o:?}");
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        format!(
            "tokio-sandbox: warning: --env TSB_UNSET_VARIABLE: not set here, so the program does \
             not get it (NAME=VALUE sets a value)\n\
             tokio-sandbox: program \"tsb-tool\" not found in the sandbox; searched {}; the host \
             has it at {:?}: bind its directory (--ro {})\n",
            tokio_sandbox::DEFAULT_PATH,
            tool,
            d.path().display()
        )
    );
}

/// `--apparmor-profile PATH` prints the AppArmor profile that lets the program at PATH
/// (symlinks resolved, as AppArmor matches the executed file) create user namespaces under
/// Ubuntu's restriction; it needs no sandbox. A path that is not a file is a usage error.
#[test]
fn apparmor_profile_for_a_program() {
    let Some(exe) = cli_path() else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let link = d.path().join("server link");
    std::os::unix::fs::symlink(&exe, &link).unwrap();
    let o = run(&[os("--apparmor-profile"), link.as_os_str()]).unwrap();
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let real = std::fs::canonicalize(&exe).unwrap();
    let name = real.file_name().unwrap().to_string_lossy().into_owned();
    let expected = format!(
        "# AppArmor profile {name}: lets the program below create user namespaces,\n\
         # which tokio-sandbox needs where kernel.apparmor_restrict_unprivileged_userns = 1\n\
         # (Ubuntu 23.10 and later), and confines nothing else. Save it as\n\
         # /etc/apparmor.d/{name}, then load it: sudo apparmor_parser -r /etc/apparmor.d/{name}\n\
         abi <abi/4.0>,\n\
         include <tunables/global>\n\
         \n\
         profile {name} {} flags=(unconfined) {{\n\
         \x20 userns,\n\
         \n\
         \x20 include if exists <local/{name}>\n\
         }}\n",
        real.display()
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout), expected);
    assert_eq!(String::from_utf8_lossy(&o.stderr), "");

    for bad in [d.path().to_path_buf(), d.path().join("missing")] {
        let o = run(&[os("--apparmor-profile"), bad.as_os_str()]).unwrap();
        assert_eq!(o.status.code(), Some(2), "{o:?}");
        assert!(o.stdout.is_empty());
    }
}
