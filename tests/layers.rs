//! The same policy gives the same access with namespaces only, Landlock only and both; only
//! the errno of an unlisted path differs (ENOENT behind a mount namespace, EACCES under
//! Landlock alone).

mod common;

use std::path::Path;

use tokio_sandbox::{Command, Layers, Network};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    NamespacesOnly,
    LandlockOnly,
    Both,
}

const MODES: [Mode; 3] = [Mode::NamespacesOnly, Mode::LandlockOnly, Mode::Both];

/// The modes this host can run. A mode whose mechanism the host lacks is checked to be refused
/// with an error naming it and left out, which is printed; when no mode is left the test is
/// skipped (printed too).
fn modes() -> Vec<Mode> {
    let mut runnable = Vec::new();
    for mode in MODES {
        let missing = match mode {
            Mode::NamespacesOnly => common::host::namespaces().err(),
            Mode::LandlockOnly => common::host::landlock_abi()
                .and_then(|_| common::host::retained_groups())
                .err(),
            Mode::Both => common::host::default_sandbox().err(),
        };
        let Some(why) = missing else {
            runnable.push(mode);
            continue;
        };
        let err = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async { command(mode, "true").status().await })
                .expect_err("refused on this host")
                .to_string()
        })
        .join()
        .unwrap();
        let named = if why.contains("supplementary groups") {
            err.contains("Policy::allow_retained_groups(true)")
        } else if why.contains("Landlock") {
            err.contains("Landlock")
        } else {
            ["user namespace", "CLONE_NEWUSER", "/proc", "sethostname"]
                .iter()
                .any(|w| err.contains(w))
        };
        assert!(named, "{mode:?} is refused without naming {why}: {err}");
        eprintln!("{mode:?} not run here (refused as documented): {why}");
    }
    if runnable.is_empty() {
        common::skip("no mode can run here: see above");
    }
    runnable
}

fn command(mode: Mode, script: &str) -> Command {
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", script]);
    match mode {
        Mode::NamespacesOnly => {
            cmd.policy_mut().layers(Layers {
                landlock: false,
                ..Layers::default()
            });
        }
        Mode::LandlockOnly => {
            cmd.network(Network::Host).policy_mut().layers(Layers {
                user_namespace: false,
                mount: false,
                pid: false,
                ..Layers::default()
            });
        }
        Mode::Both => {}
    }
    cmd
}

/// `R` if `path` reads, `W` if appending works, `-` otherwise, e.g. `R-`.
const ACCESS: &str = "a() { if [ -d \"$1\" ]; then ls \"$1\" >/dev/null 2>&1 && r=R || r=-; \
                      touch \"$1/.w\" 2>/dev/null && w=W || w=-; \
                      else cat \"$1\" >/dev/null 2>&1 && r=R || r=-; \
                      (echo >> \"$1\") 2>/dev/null && w=W || w=-; fi; echo \"$1 $r$w\"; }";

async fn access(mode: Mode, paths: &[&Path], policy: impl Fn(&mut Command)) -> String {
    let mut script = String::from(ACCESS);
    for p in paths {
        script.push_str(&format!("; a '{}'", p.display()));
    }
    let mut cmd = command(mode, &script);
    policy(&mut cmd);
    let o = cmd.output().await.expect("spawn");
    assert!(
        o.status.success(),
        "{mode:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A tree with a directory, a file, and symlinks to each (relative and absolute), plus a
/// dangling one.
fn tree() -> tempfile::TempDir {
    let d = common::rw_dir();
    let p = d.path();
    std::fs::create_dir(p.join("real")).unwrap();
    std::fs::write(p.join("real/f"), "f\n").unwrap();
    std::fs::write(p.join("target.txt"), "t\n").unwrap();
    std::os::unix::fs::symlink("real", p.join("dirlink")).unwrap();
    std::os::unix::fs::symlink(p.join("target.txt"), p.join("filelink")).unwrap();
    std::os::unix::fs::symlink("nowhere", p.join("dangling")).unwrap();
    let (uid, gid) = common::sandbox_host_ids();
    for sub in ["real", "real/f", "target.txt"] {
        std::os::unix::fs::chown(p.join(sub), Some(uid), Some(gid)).unwrap();
    }
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symlinked_directory_read_only_in_every_mode() {
    let t = tree();
    let p = t.path();
    for mode in modes() {
        let out = access(mode, &[&p.join("dirlink"), &p.join("real/f")], |c| {
            c.read_only(p.join("dirlink"));
        })
        .await;
        assert_eq!(
            out,
            format!("{0}/dirlink R-\n{0}/real/f R-\n", p.display()),
            "{mode:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symlinked_file_read_write_in_every_mode() {
    let t = tree();
    let p = t.path();
    for mode in modes() {
        let out = access(mode, &[&p.join("filelink"), &p.join("real/f")], |c| {
            c.read_write(p.join("filelink"));
        })
        .await;
        // The file is writable through its link; the directory next to it is not visible or
        // not allowed.
        assert_eq!(
            out,
            format!("{0}/filelink RW\n{0}/real/f --\n", p.display()),
            "{mode:?}"
        );
    }
}

/// A rule on the alias and another on the target: the same canonical path, read-write wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_on_the_alias_and_on_the_target_in_every_mode() {
    let t = tree();
    let p = t.path();
    for mode in modes() {
        let out = access(mode, &[&p.join("dirlink"), &p.join("real")], |c| {
            c.read_only(p.join("dirlink")).read_write(p.join("real"));
        })
        .await;
        assert_eq!(
            out,
            format!("{0}/dirlink RW\n{0}/real RW\n", p.display()),
            "{mode:?}"
        );
    }
}

/// The system runtime's `/lib` (a symlink to `usr/lib` on merged-/usr hosts) reads the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_lib_symlink_in_every_mode() {
    let libc_path = ["/lib/x86_64-linux-gnu/libc.so.6", "/lib64/libc.so.6"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists())
        .expect("a libc under /lib or /lib64");
    for mode in modes() {
        let out = access(mode, &[libc_path], |_| {}).await;
        assert_eq!(out, format!("{} R-\n", libc_path.display()), "{mode:?}");
    }
}

/// A dangling symlink as a policy path is a clear error in every mode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dangling_symlink_is_an_error_in_every_mode() {
    let t = tree();
    for mode in modes() {
        let mut cmd = command(mode, "true");
        cmd.read_only(t.path().join("dangling"));
        match cmd.spawn_async().await {
            Err(tokio_sandbox::SpawnError::Policy(tokio_sandbox::PolicyError::MissingPath {
                source,
                ..
            })) => assert_eq!(source.raw_os_error(), Some(libc::ENOENT), "{mode:?}"),
            other => panic!("{mode:?}: expected MissingPath, got {other:?}"),
        }
    }
}

/// Unlisted paths: ENOENT behind a mount namespace, EACCES under Landlock alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlisted_paths_are_enoent_or_eacces() {
    let t = tree();
    let f = t.path().join("real/f");
    let runnable = modes();
    for (mode, expected) in [
        (Mode::NamespacesOnly, "No such file or directory"),
        (Mode::Both, "No such file or directory"),
        (Mode::LandlockOnly, "Permission denied"),
    ] {
        if !runnable.contains(&mode) {
            continue;
        }
        let o = command(mode, &format!("cat '{}'", f.display()))
            .output()
            .await
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&o.stderr),
            format!("cat: {}: {expected}\n", f.display()),
            "{mode:?}"
        );
    }
}

/// Landlock-only mode reports what it cannot enforce.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn landlock_only_reports_what_is_not_enforced() {
    if !modes().contains(&Mode::LandlockOnly) {
        common::skip("Landlock-only mode cannot run here: see above");
        return;
    }
    let child = command(Mode::LandlockOnly, "true").spawn().unwrap();
    let report = &child.enforcement().properties;
    let by = |name: &str| {
        report
            .iter()
            .find(|r| format!("{:?}", r.property) == name)
            .unwrap()
    };
    assert!(by("Filesystem").layers[0].starts_with("Landlock ABI "));
    assert!(by("Filesystem")
        .not_enforced
        .as_deref()
        .unwrap()
        .contains("private /tmp"));
    // Without a pid namespace, Landlock ABI 6 still keeps signals inside the sandbox.
    let abi = child.enforcement().landlock_abi.unwrap();
    if abi >= 6 {
        assert_eq!(
            by("Processes").layers,
            [format!("Landlock ABI {abi} (signals scoped)")]
        );
    } else {
        assert!(by("Processes").layers.is_empty());
    }
    assert!(by("Processes").not_enforced.is_some());
    // The host network, as the policy of this mode asks.
    assert!(by("Network").layers.is_empty());
    assert_eq!(by("Syscalls").layers, vec!["seccomp".to_string()]);
    assert!(child.enforcement().namespaces.is_empty());
}
