//! The sandbox's init against a program that tries to take its CPU time away: init runs as the
//! program's uid, so without a filter the program could make it `SCHED_IDLE`, pin it to one CPU
//! and keep that CPU busy, and the timeout and the lifeline, which both need init (or the
//! kernel acting on it) to run, would wait for minutes.
//!
//! The control makes the same calls on the host against pid 1 of a fresh pid namespace of the
//! attacker's own, a process of the same user that leads its own session, as the sandbox's init
//! does: there every call succeeds.

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use libc::{EACCES, EPERM};

use crate::cli::{attempt_args, cli_exe};
use crate::{common, errno, Attempt, Control};

/// The calls `retune_pid1` makes, in its order.
const RETUNE_CALLS: [&str; 11] = [
    "sched_setparam",
    "sched_setscheduler",
    "sched_setattr",
    "sched_setaffinity",
    "setpriority",
    "setpriority(PRIO_PGRP)",
    "setpriority(PRIO_USER)",
    "ioprio_set",
    "ioprio_set(IOPRIO_WHO_PGRP)",
    "ioprio_set(IOPRIO_WHO_USER)",
    "prlimit64",
];

/// How long past the deadline a timed-out run may take to end, and how long a sandbox may
/// outlive its killed owner, with 100 spinners on the CPU init was pinned to. Without the
/// filter both took over a minute (the spinners give up after 60 s); the kill itself takes
/// milliseconds, the rest is room for a loaded machine or an emulated one.
const PROMPTLY: Duration = Duration::from_secs(10);

/// The starved program's timeout: long enough for its spinners to start before it.
const TIMEOUT: Duration = Duration::from_secs(5);

fn each(outcome: &str) -> String {
    RETUNE_CALLS
        .iter()
        .map(|c| format!("{c} {outcome}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Scheduling policy, parameters and attributes, affinity, nice value (also through the
/// process-group and user forms, which reach init), I/O priority (the same three forms) and
/// limits of pid 1: each call is refused in the sandbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_scheduling_priority_and_limits_are_not_the_programs() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    Attempt::new("retune_pid1")
        .arg(1)
        .control_args("own-pidns", "")
        .check(&each(&errno(EPERM)), Control::Host(each("ok")), |_| {})
        .await;
}

/// The sandbox's own real-time and nice limits are 0, whatever the caller's are: no process
/// in it can take a real-time policy or a nice value below the one it started with, so none
/// can rise above init. The control raises its limits (a desktop's limits.conf often grants
/// real-time priority; raising a hard limit needs `CAP_SYS_RESOURCE`) and shows what they
/// allow; the sandbox is started by the CLI with the same raised limits.
#[test]
fn init_sandbox_cannot_rise_above_init() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let Some(exe) = cli_exe() else {
        return;
    };
    let a = Attempt::new("raise_priority");
    let raise = |cmd: &mut StdCommand| {
        // SAFETY: setrlimit only, between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                for (res, v) in [(libc::RLIMIT_RTPRIO, 10), (libc::RLIMIT_NICE, 30)] {
                    let l = libc::rlimit {
                        rlim_cur: v,
                        rlim_max: v,
                    };
                    if libc::setrlimit(res, &l) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
    };
    let mut host = StdCommand::new(crate::attacker());
    host.env(crate::attacker::ATTACK, a.name);
    raise(&mut host);
    let raised = match host.output() {
        Ok(out) => {
            assert_eq!(
                String::from_utf8_lossy(&out.stdout).trim(),
                "rtprio 10/10 nice 30/30, fifo ok, nice-1 ok",
                "the control on the host"
            );
            true
        }
        Err(e) if e.raw_os_error() == Some(EPERM) => {
            eprintln!(
                "raise_priority: control not made: raising the hard limits needs \
                 CAP_SYS_RESOURCE; the sandbox runs with the caller's limits"
            );
            false
        }
        Err(e) => panic!("run the control: {e}"),
    };
    let mut cli = StdCommand::new(exe);
    cli.args(attempt_args(a.name, "", "", &[]));
    if raised {
        raise(&mut cli);
    }
    let out = cli.output().expect("run the CLI");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!(
            "rtprio 0/0 nice 0/0, fifo {}, nice-1 {}",
            errno(EPERM),
            errno(EACCES)
        ),
        "{out:?}"
    );
}

/// `--timeout`'s library side: a program that tries to starve its init (`SCHED_IDLE` and one
/// CPU for init, 100 spinners pinned to that CPU, in init's session and autogroup) is still
/// ended promptly when its time is up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_starved_timeout_ends_the_run_promptly() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    // 100 spinners, or a tenth under emulation's CI selection (TSB_TEST_SCALE), where forking
    // 100 copies of this binary takes longer than the timeout; a few already keep init's CPU
    // busy.
    let spinners = crate::common::scaled(100);
    let exe = crate::attacker();
    let mut cmd = tokio_sandbox::Command::new(&exe);
    cmd.env(crate::attacker::ATTACK, "starve_pid1")
        .env(crate::attacker::ARG2, spinners.to_string())
        .read_only(exe.parent().unwrap())
        .timeout(TIMEOUT);
    let start = Instant::now();
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("the run ends within 120 s")
        .expect("spawn the attacker");
    let late = start.elapsed().saturating_sub(TIMEOUT);
    eprintln!("starved init: the timed-out run ended {late:?} after its deadline");
    assert_eq!(common::stdout(&out), "spinning\n");
    assert_eq!(out.status.code(), None, "killed at the deadline");
    assert!(
        late < PROMPTLY,
        "the timed-out run ended {late:?} after its deadline"
    );
}

/// The lifeline: the CLI running such a program is killed with SIGKILL; the sandbox, whose
/// spinners hold the CLI's stdout, is gone promptly (the pipe reaches EOF).
#[test]
fn init_starved_lifeline_ends_the_sandbox_promptly() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let Some(exe) = cli_exe() else {
        return;
    };
    let args: Vec<OsString> = attempt_args("starve_pid1", "", "", &[]);
    let mut cli = StdCommand::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run the CLI");
    let mut stdout = cli.stdout.take().unwrap();
    let mut line = [0u8; 9];
    stdout.read_exact(&mut line).expect("the program starts");
    assert_eq!(&line, b"spinning\n");
    // Give the spinners and the calls on init time to take effect.
    std::thread::sleep(Duration::from_secs(1));
    cli.kill().unwrap();
    let killed = Instant::now();
    cli.wait().unwrap();
    let mut rest = Vec::new();
    stdout.read_to_end(&mut rest).unwrap();
    let lived = killed.elapsed();
    eprintln!("starved init: the sandbox outlived its killed owner by {lived:?}");
    assert!(
        lived < PROMPTLY,
        "the sandbox outlived its killed owner by {lived:?}"
    );
}
