//! The CLI's own files: the `--status-json` file named inside a read-write bind, where the
//! program can leave a symlink, a FIFO or a file of its own at that name, or move the directory,
//! during its run or for the next run with the same command line (a harness reusing its output
//! directory).
//!
//! The attacker runs under the built CLI (`TOKIO_SANDBOX_CLI` when set, as in the unprivileged
//! pass of `.ci/run`). Each control shows on the host what the planted entry does to a plain
//! path-based create-and-truncate, which is how a status file would otherwise be opened.

use std::ffi::OsString;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Output, Stdio};
use std::time::Duration;

use crate::common::{self, rw_dir};
use crate::{attacker, s, Attempt};

/// The CLI binary, or `None` (with the skip printed) when it was not built.
pub(crate) fn cli_exe() -> Option<PathBuf> {
    if let Some(exe) = std::env::var_os("TOKIO_SANDBOX_CLI") {
        return Some(exe.into());
    }
    match option_env!("CARGO_BIN_EXE_tokio-sandbox") {
        Some(exe) => Some(exe.into()),
        None => {
            common::skip("the CLI is built only with --features cli");
            None
        }
    }
}

/// Runs the CLI with `args` and waits at most `limit` for it: a CLI still running then is
/// killed and the test fails (a hang is the failure these tests look for).
fn run_bounded(exe: &Path, args: &[OsString], limit: Duration) -> Output {
    let child = StdCommand::new(exe)
        .args(args)
        // Shown by a default sandbox: no note about a working directory it lacks.
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the CLI");
    let pid = child.id() as libc::pid_t;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    match rx.recv_timeout(limit) {
        Ok(out) => out.expect("wait for the CLI"),
        Err(_) => {
            // SAFETY: kills the CLI this test started (not reaped yet: its waiter is blocked).
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("the CLI still runs after {limit:?}: {args:?}");
        }
    }
}

/// The CLI's arguments to run the attacker's attempt `name` (`a`, `a2`) after `options`.
pub(crate) fn attempt_args(name: &str, a: &str, a2: &str, options: &[OsString]) -> Vec<OsString> {
    let exe = attacker();
    let mut args: Vec<OsString> = vec!["--ro".into(), exe.parent().unwrap().into()];
    for (k, v) in [
        (crate::attacker::ATTACK, name),
        (crate::attacker::ARG, a),
        (crate::attacker::ARG2, a2),
    ] {
        args.push("--env".into());
        args.push(format!("{k}={v}").into());
    }
    args.extend(options.iter().cloned());
    args.push("--".into());
    args.push(exe.into());
    args
}

/// A directory of the caller's (not the sandbox's host id) with a file `victim` (mode 0600,
/// `precious`), which no sandbox is given.
fn victim_dir() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::Builder::new()
        .prefix("tsb-victim-")
        .tempdir_in("/tmp")
        .expect("tempdir");
    let victim = d.path().join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
    (d, victim)
}

fn assert_untouched(victim: &Path) {
    assert_eq!(std::fs::read_to_string(victim).unwrap(), "precious\n");
    let mode = std::fs::metadata(victim).unwrap().permissions().mode();
    assert_eq!(mode & 0o7777, 0o600, "{}", victim.display());
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The control for a symlink left at a file's name: the attacker leaves it on the host, and a
/// plain create-and-truncate through it empties the file it points to.
fn control_symlink_reaches_its_target(dir: &Path) {
    let (_victims, target) = victim_dir();
    let link = dir.join("control-status.json");
    let planted = Attempt::new("plant_symlink")
        .arg(s(&link))
        .arg2(s(&target))
        .on_host(false);
    assert_eq!(planted, "ok", "the control: planting the link on the host");
    std::fs::File::create(&link).expect("the control: create through the link");
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "",
        "the control: a create-and-truncate through the planted link empties its target"
    );
    std::fs::remove_file(&link).unwrap();
}

/// A symlink to a file of the caller's, left at the status file's name by an earlier run whose
/// program could write there: the next run with the same command line refuses the name (125)
/// and leaves the caller's file as it was.
#[test]
fn cli_status_file_symlink_left_by_an_earlier_run() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let Some(exe) = cli_exe() else {
        return;
    };
    let out = rw_dir();
    let (_victims, victim) = victim_dir();
    control_symlink_reaches_its_target(out.path());
    let status = out.path().join("status.json");
    let rw: Vec<OsString> = vec!["--rw".into(), out.path().into()];
    let planted = run_bounded(
        &exe,
        &attempt_args("plant_symlink", &s(&status), &s(&victim), &rw),
        Duration::from_secs(60),
    );
    assert_eq!(text(&planted.stdout), "ok\n", "{planted:?}");
    assert_eq!(std::fs::read_link(&status).unwrap(), victim);

    let mut next = rw.clone();
    next.extend(["--status-json".into(), status.clone().into()]);
    next.extend(["--".into(), "true".into()]);
    let o = run_bounded(&exe, &next, Duration::from_secs(60));
    assert_untouched(&victim);
    assert_eq!(
        text(&o.stderr),
        format!(
            "tokio-sandbox: --status-json {}: refusing to write through a symbolic link; the \
             status file must be a regular file or not exist (remove it or name another file)\n",
            status.display()
        )
    );
    assert_eq!(o.status.code(), Some(125));
    assert_eq!(std::fs::read_link(&status).unwrap(), victim);
}

/// A FIFO left at the status file's name by an earlier run: the next run does not block
/// opening it (the control shows that a plain open would, until a reader comes), it refuses
/// the name with exit 125 at once.
#[test]
fn cli_status_file_fifo_left_by_an_earlier_run() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let Some(exe) = cli_exe() else {
        return;
    };
    let out = rw_dir();
    let control = out.path().join("control-status.json");
    let planted = Attempt::new("plant_fifo").arg(s(&control)).on_host(false);
    assert_eq!(planted, "ok", "the control: planting the FIFO on the host");
    let writer = {
        let control = control.clone();
        std::thread::spawn(move || std::fs::File::create(control).map(drop))
    };
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !writer.is_finished(),
        "the control: a plain create-and-truncate of the FIFO blocks while there is no reader"
    );
    // A reader lets the blocked open return.
    let reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&control)
        .unwrap();
    writer.join().unwrap().unwrap();
    drop(reader);

    let status = out.path().join("status.json");
    let rw: Vec<OsString> = vec!["--rw".into(), out.path().into()];
    let planted = run_bounded(
        &exe,
        &attempt_args("plant_fifo", &s(&status), "", &rw),
        Duration::from_secs(60),
    );
    assert_eq!(text(&planted.stdout), "ok\n", "{planted:?}");
    assert!(std::fs::symlink_metadata(&status)
        .unwrap()
        .file_type()
        .is_fifo());

    let mut next = rw.clone();
    next.extend(["--status-json".into(), status.clone().into()]);
    next.extend(["--".into(), "true".into()]);
    let o = run_bounded(&exe, &next, Duration::from_secs(60));
    assert_eq!(
        text(&o.stderr),
        format!(
            "tokio-sandbox: --status-json {}: refusing to write through a FIFO; the status \
             file must be a regular file or not exist (remove it or name another file)\n",
            status.display()
        )
    );
    assert_eq!(o.status.code(), Some(125));
}

/// The program replaces the status file with a symlink to a file of the caller's during its
/// run: the status still ends up at the name (the link is replaced, never followed), and the
/// caller's file is untouched.
#[test]
fn cli_status_file_symlink_planted_during_the_run() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let Some(exe) = cli_exe() else {
        return;
    };
    let out = rw_dir();
    let (_victims, victim) = victim_dir();
    control_symlink_reaches_its_target(out.path());
    let status = out.path().join("status.json");
    let options: Vec<OsString> = vec![
        "--rw".into(),
        out.path().into(),
        "--status-json".into(),
        status.clone().into(),
    ];
    let o = run_bounded(
        &exe,
        &attempt_args("plant_symlink", &s(&status), &s(&victim), &options),
        Duration::from_secs(60),
    );
    assert_eq!(text(&o.stdout), "ok\n", "{o:?}");
    assert_eq!(o.status.code(), Some(0));
    assert_untouched(&victim);
    assert!(std::fs::symlink_metadata(&status)
        .unwrap()
        .file_type()
        .is_file());
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&status).unwrap()).unwrap();
    assert_eq!(v["ended_by"], "exited");
    assert_eq!(v["exit_code"], 0);
}

/// The program puts a forged status of its own at the status file's name during its run: the
/// caller reads the CLI's status, not the forgery.
#[test]
fn cli_status_file_forged_during_the_run() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let Some(exe) = cli_exe() else {
        return;
    };
    let out = rw_dir();
    let forged = r#"{"ended_by": "exited", "exit_code": 0, "forged": true}"#;
    let control = out.path().join("control-status.json");
    std::fs::write(&control, "{}").unwrap();
    let planted = Attempt::new("plant_file")
        .arg(s(&control))
        .arg2(forged)
        .on_host(false);
    assert_eq!(planted, "ok", "the control: replacing the file on the host");
    assert_eq!(std::fs::read_to_string(&control).unwrap(), forged);

    let status = out.path().join("status.json");
    let options: Vec<OsString> = vec![
        "--rw".into(),
        out.path().into(),
        "--status-json".into(),
        status.clone().into(),
        "--cpu-time".into(),
        "7".into(),
    ];
    let o = run_bounded(
        &exe,
        &attempt_args("plant_file", &s(&status), forged, &options),
        Duration::from_secs(60),
    );
    assert_eq!(text(&o.stdout), "ok\n", "{o:?}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&status).unwrap()).unwrap();
    assert_eq!(v.get("forged"), None, "{v}");
    assert_eq!(v["limits"][0]["name"], "cpu_time_seconds");
    assert_eq!(v["limits"][0]["value"], 7);
}

/// The program moves the status file's directory aside during its run and leaves a symlink to
/// a directory of the caller's in its place: the status is written in the directory that was
/// there when the program started (now moved), nothing reaches the caller's directory, and the
/// CLI says where the status went.
#[test]
fn cli_status_file_directory_swapped_during_the_run() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let Some(exe) = cli_exe() else {
        return;
    };
    let out = rw_dir();
    let (victims, _) = victim_dir();
    // The control: after the swap on the host, a path-based create of the status file lands
    // in the caller's directory.
    let control = out.path().join("control");
    std::fs::create_dir(&control).unwrap();
    let swapped = Attempt::new("swap_dir")
        .arg(s(&control))
        .arg2(s(victims.path()))
        .on_host(false);
    assert_eq!(
        swapped, "ok",
        "the control: swapping the directory on the host"
    );
    std::fs::File::create(control.join("status.json")).unwrap();
    let landed = victims.path().join("status.json");
    assert!(
        landed.exists(),
        "the control: the create lands in the link's target"
    );
    std::fs::remove_file(&landed).unwrap();

    let sub = out.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let (uid, gid) = common::sandbox_host_ids();
    std::os::unix::fs::chown(&sub, Some(uid), Some(gid)).unwrap();
    let status = sub.join("status.json");
    let options: Vec<OsString> = vec![
        "--rw".into(),
        out.path().into(),
        "--status-json".into(),
        status.clone().into(),
    ];
    let o = run_bounded(
        &exe,
        &attempt_args("swap_dir", &s(&sub), &s(victims.path()), &options),
        Duration::from_secs(60),
    );
    assert_eq!(text(&o.stdout), "ok\n", "{o:?}");
    assert_eq!(o.status.code(), Some(0));
    assert!(
        !landed.exists(),
        "the status reached the caller's directory"
    );
    assert_eq!(
        text(&o.stderr),
        format!(
            "tokio-sandbox: warning: --status-json {}: its directory was moved or replaced \
             during the run; the status was written in the directory that was there at the \
             start\n",
            status.display()
        )
    );
    let moved = out.path().join("sub.moved").join("status.json");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(moved).unwrap()).unwrap();
    assert_eq!(v["ended_by"], "exited");
}
